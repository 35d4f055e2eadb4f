//! Register maps of the simulated machines: a mix of types and word orders, as real PLCs have.

use crate::modbus::config::{DataType, RegisterKind, TagConfig, WordOrder};

use super::machine::MachineKind;

#[allow(clippy::too_many_arguments)]
fn tag(
    name: &str,
    kind: RegisterKind,
    address: u16,
    ty: DataType,
    order: WordOrder,
    scale: f64,
    unit: &str,
    writable: bool,
) -> TagConfig {
    TagConfig {
        name: name.into(),
        platform_tag: None,
        kind,
        address,
        data_type: ty,
        order,
        length: if ty == DataType::String { 4 } else { 0 },
        scale,
        offset: 0.0,
        deadband: 0.0,
        unit: (!unit.is_empty()).then(|| unit.to_string()),
        writable,
    }
}

/// A text tag: a string of `registers` holding registers (two characters each).
fn text(name: &str, address: u16, registers: u16) -> TagConfig {
    TagConfig {
        length: registers,
        ..tag(name, Holding, address, String, Abcd, 1.0, "", false)
    }
}

use DataType::*;
use RegisterKind::*;
use WordOrder::*;

/// The registers every machine has: state, alarm, counters, hours, energy.
fn common() -> Vec<TagConfig> {
    vec![
        tag("state", Input, 0, U16, Abcd, 1.0, "", false),
        tag("alarm_code", Input, 1, U16, Abcd, 1.0, "", false),
        tag("part_counter", Input, 2, U32, Abcd, 1.0, "parts", false),
        tag("good_parts", Input, 4, U32, Cdab, 1.0, "parts", false),
        tag("scrap_parts", Input, 6, U32, Dcba, 1.0, "parts", false),
        tag("operating_seconds", Input, 8, U64, Cdab, 1.0, "s", false),
        tag("energy_kwh", Input, 12, F64, Abcd, 1.0, "kWh", false),
        tag("running", Coil, 0, Bool, Abcd, 1.0, "", false),
        tag("alarm_active", DiscreteInput, 0, Bool, Abcd, 1.0, "", false),
        tag("machine_id", Holding, 100, String, Abcd, 1.0, "", false),
    ]
}

/// The full register map of a machine kind. Text tags: `machine_id` on every machine, the
/// loaded `recipe` of an injection-moulding machine and the running `program` of a CNC (16
/// characters each, holding registers 110–117); every other tag is numeric.
pub fn layout(kind: MachineKind) -> Vec<TagConfig> {
    let mut t = common();
    match kind {
        MachineKind::InjectionMoulding => t.push(text("recipe", 110, 8)),
        MachineKind::Cnc => t.push(text("program", 110, 8)),
        _ => {}
    }
    t.extend(match kind {
        MachineKind::InjectionMoulding => vec![
            tag("barrel_temp_1", Input, 20, F32, Abcd, 1.0, "°C", false),
            tag("barrel_temp_2", Input, 22, F32, Cdab, 1.0, "°C", false),
            tag("barrel_temp_3", Input, 24, F32, Badc, 1.0, "°C", false),
            tag("mould_temp", Input, 26, F32, Dcba, 1.0, "°C", false),
            tag(
                "injection_pressure",
                Input,
                28,
                U16,
                Abcd,
                0.1,
                "bar",
                false,
            ),
            tag("cycle_time", Input, 29, I32, Cdab, 0.001, "s", false),
            tag("shot_counter", Input, 31, U32, Badc, 1.0, "shots", false),
            tag("barrel_setpoint", Holding, 0, F32, Abcd, 1.0, "°C", true),
            tag("mould_setpoint", Holding, 2, I16, Abcd, 0.1, "°C", true),
            tag("pressure_setpoint", Holding, 3, U16, Abcd, 1.0, "bar", true),
        ],
        MachineKind::Press => vec![
            tag("stroke_rate", Input, 20, F32, Cdab, 1.0, "spm", false),
            tag("tonnage", Input, 22, I16, Abcd, 0.1, "t", false),
            tag("oil_temp", Input, 23, F32, Abcd, 1.0, "°C", false),
            tag("die_gap", Input, 25, I32, Dcba, 0.001, "mm", false),
            tag(
                "stroke_rate_setpoint",
                Holding,
                0,
                U16,
                Abcd,
                1.0,
                "spm",
                true,
            ),
        ],
        MachineKind::Sewing => vec![
            tag(
                "stitches_per_minute",
                Input,
                20,
                U16,
                Abcd,
                1.0,
                "spm",
                false,
            ),
            tag("thread_tension", Input, 21, F32, Cdab, 1.0, "cN", false),
            tag("needle_temp", Input, 23, F32, Abcd, 1.0, "°C", false),
            tag(
                "stitch_counter",
                Input,
                25,
                U64,
                Dcba,
                1.0,
                "stitches",
                false,
            ),
            tag("stoppage_code", Input, 29, U16, Abcd, 1.0, "", false),
            tag("speed_setpoint", Holding, 0, U16, Abcd, 1.0, "spm", true),
        ],
        MachineKind::Cutter => vec![
            tag("cut_speed", Input, 20, F32, Abcd, 1.0, "mm/s", false),
            tag("blade_temp", Input, 22, I16, Abcd, 0.1, "°C", false),
            tag("plies", Input, 23, U16, Abcd, 1.0, "", false),
            tag("blade_wear", Input, 24, F32, Cdab, 1.0, "%", false),
            tag("vacuum", Input, 26, F32, Badc, 1.0, "kPa", false),
            tag(
                "cut_speed_setpoint",
                Holding,
                0,
                F32,
                Abcd,
                1.0,
                "mm/s",
                true,
            ),
        ],
        MachineKind::Cnc => vec![
            tag("spindle_speed", Input, 20, F32, Cdab, 1.0, "rpm", false),
            tag("spindle_load", Input, 22, F32, Abcd, 1.0, "%", false),
            tag("vibration_rms", Input, 24, F32, Badc, 1.0, "mm/s", false),
            tag("coolant_temp", Input, 26, I16, Abcd, 0.1, "°C", false),
            tag("tool_wear", Input, 27, F32, Dcba, 1.0, "%", false),
            tag("feed_rate", Input, 29, U32, Abcd, 0.1, "mm/min", false),
            tag("spindle_setpoint", Holding, 0, U16, Abcd, 1.0, "rpm", true),
            tag("feed_override", Holding, 1, U16, Abcd, 1.0, "%", true),
        ],
    });
    t
}
