//! The demo tenant's plant model: three factories, one of each industry we serve.

/// (site, [(line, [(machine, kind, [(tag suffix, unit, base value, amplitude)])])])
pub(super) type TagSpec = (&'static str, &'static str, f64, f64);
type MachineSpec = (&'static str, &'static str, &'static [TagSpec]);
type LineSpec = (&'static str, &'static [MachineSpec]);
type SiteSpec = (&'static str, &'static [LineSpec]);

const MOULDING: &[TagSpec] = &[
    ("barrel_temp_1", "degC", 225.0, 3.0),
    ("injection_pressure", "bar", 850.0, 40.0),
    ("cycle_time", "s", 32.0, 1.5),
    ("mould_temp", "degC", 45.0, 2.0),
];
const PRESS: &[TagSpec] = &[
    ("stroke_rate", "1/min", 28.0, 2.0),
    ("part_counter", "", 0.0, 0.0),
];
const SEWING: &[TagSpec] = &[
    ("stitches_per_minute", "1/min", 3200.0, 400.0),
    ("thread_tension", "cN", 95.0, 8.0),
    ("needle_temp", "degC", 62.0, 5.0),
];
const CUTTER: &[TagSpec] = &[
    ("blade_speed", "m/s", 12.0, 1.0),
    ("vacuum", "kPa", 18.0, 1.5),
];
const CNC: &[TagSpec] = &[
    ("spindle_speed", "rpm", 12000.0, 500.0),
    ("spindle_load", "%", 55.0, 10.0),
    ("vibration_rms", "mm/s", 1.8, 0.4),
    ("coolant_temp", "degC", 24.0, 1.0),
];

/// The whole demo plant.
pub(super) const PLANT: &[SiteSpec] = &[
    (
        "appliance-plant",
        &[
            (
                "moulding",
                &[
                    ("imm-1", "injection_moulding", MOULDING),
                    ("imm-2", "injection_moulding", MOULDING),
                ],
            ),
            ("assembly", &[("press-1", "press", PRESS)]),
        ],
    ),
    (
        "garment-plant",
        &[(
            "sewing",
            &[
                ("sew-1", "sewing", SEWING),
                ("sew-2", "sewing", SEWING),
                ("cut-1", "cutting_table", CUTTER),
            ],
        )],
    ),
    (
        "machinery-plant",
        &[("machining", &[("cnc-1", "cnc", CNC), ("cnc-2", "cnc", CNC)])],
    ),
];
