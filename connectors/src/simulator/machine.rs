//! The physics of one machine: states, degradation modes, faults with causes, good and scrap
//! parts. The ground truth is written down in the [`crate::simulator`] module docs.

use std::collections::HashMap;

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{bank::Bank, layout::layout};
use crate::{modbus::TagConfig, sample::Value};

/// The kinds of machine simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineKind {
    /// Injection-moulding machine (appliance plant).
    InjectionMoulding,
    /// Press of the press/assembly line (appliance plant).
    Press,
    /// Sewing station (garment plant).
    Sewing,
    /// Cutting table (garment plant).
    Cutter,
    /// CNC machining centre (machinery plant).
    Cnc,
}

/// Machine state as published in the `state` register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 0: waiting for material or operator.
    Idle = 0,
    /// 1: producing.
    Running = 1,
    /// 2: stopped for repair or a planned change.
    Down = 2,
    /// 3: stopped by a fault, waiting for a technician.
    Fault = 3,
    /// 4: a planned setup or changeover (a CNC's tool change).
    Setup = 4,
}

/// A degradation mode: its alarm code, name and wear per running hour at nominal load.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Alarm code published when this mode causes a fault.
    pub code: u16,
    /// Name, for people.
    pub name: &'static str,
    /// Level gained per running hour at nominal load.
    pub rate_per_hour: f64,
}

impl MachineKind {
    /// Degradation modes of this kind.
    pub fn modes(self) -> &'static [Mode] {
        macro_rules! m {
            ($code:expr, $name:expr, $rate:expr) => {
                Mode {
                    code: $code,
                    name: $name,
                    rate_per_hour: $rate,
                }
            };
        }
        match self {
            MachineKind::InjectionMoulding => &[
                m!(101, "heater_band", 0.020),
                m!(102, "screw_wear", 0.012),
                m!(103, "cooling_fouling", 0.015),
            ],
            MachineKind::Press => &[
                m!(201, "hydraulic_leak", 0.015),
                m!(202, "die_wear", 0.025),
                m!(203, "clutch_wear", 0.010),
            ],
            MachineKind::Sewing => &[
                m!(301, "needle_wear", 0.050),
                m!(302, "tension_spring", 0.020),
                m!(303, "motor_bearing", 0.008),
            ],
            MachineKind::Cutter => &[m!(401, "blade_wear", 0.040), m!(402, "vacuum_leak", 0.012)],
            MachineKind::Cnc => &[
                m!(501, "tool_wear", 0.110),
                m!(502, "spindle_bearing", 0.010),
                m!(503, "coolant_pump", 0.015),
            ],
        }
    }

    fn default_setpoints(self) -> &'static [(&'static str, f64)] {
        match self {
            MachineKind::InjectionMoulding => &[
                ("barrel_setpoint", 230.0),
                ("mould_setpoint", 45.0),
                ("pressure_setpoint", 1150.0),
            ],
            MachineKind::Press => &[("stroke_rate_setpoint", 30.0)],
            MachineKind::Sewing => &[("speed_setpoint", 3000.0)],
            MachineKind::Cutter => &[("cut_speed_setpoint", 200.0)],
            MachineKind::Cnc => &[("spindle_setpoint", 8000.0), ("feed_override", 100.0)],
        }
    }

    /// The texts a machine of this kind runs in turn: recipes of an injection-moulding machine,
    /// part programs of a CNC (what its `recipe` or `program` text tag shows).
    pub fn jobs(self) -> &'static [&'static str] {
        match self {
            MachineKind::InjectionMoulding => &["RCP-HOUSING-A", "RCP-HOUSING-B", "RCP-LID-120"],
            MachineKind::Cnc => &["O1001 SHAFT", "O1002 FLANGE", "O2040 BRACKET"],
            _ => &[],
        }
    }

    /// The text tag showing [`Self::jobs`], if this kind has one.
    pub fn job_tag(self) -> Option<&'static str> {
        match self {
            MachineKind::InjectionMoulding => Some("recipe"),
            MachineKind::Cnc => Some("program"),
            _ => None,
        }
    }

    /// Name prefix of machines of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            MachineKind::InjectionMoulding => "imm",
            MachineKind::Press => "press",
            MachineKind::Sewing => "sew",
            MachineKind::Cutter => "cutter",
            MachineKind::Cnc => "cnc",
        }
    }
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// What the process looks like right now, from setpoints and degradation levels.
struct Process {
    values: Vec<(&'static str, f64)>,
    cycle_s: f64,
    scrap_p: f64,
    load: f64,
    power_kw: f64,
    /// Defect code and scrap-probability term of each known cause (the base rate is `other`).
    causes: Vec<(&'static str, f64)>,
}

/// One part made: what an inspection station would record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimPart {
    /// Its number on this machine, from 1 (the part counter after it).
    pub number: u64,
    /// Whether it is scrap.
    pub scrap: bool,
    /// Defect code of a scrap part: the cause drawn in proportion to the scrap-probability
    /// terms of the quality physics (`other` for the base rate); empty for a good part.
    pub defect_code: &'static str,
    /// Simulated seconds since start when it was completed.
    pub sim_seconds: f64,
    /// Its cycle time, simulated seconds.
    pub cycle_s: f64,
}

/// Parts a machine keeps for [`Machine::take_parts`] when nobody takes them.
const MAX_PART_LOG: usize = 10_000;

/// What happened to a machine, as its maintenance log would record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimEventKind {
    /// A degradation mode caused a fault (the machine stops).
    Failure,
    /// The repair of a fault is complete (the machine runs again).
    Repair,
    /// A planned change is complete (a CNC's tool change).
    Maintenance,
}

/// One entry of a machine's event log: the ground truth that labels training data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimEvent {
    /// What happened.
    pub kind: SimEventKind,
    /// Alarm code of the mode concerned (0 for a planned change).
    pub code: u16,
    /// Simulated seconds since start.
    pub sim_seconds: f64,
}

/// Ground truth of one machine, for tests and for labelling.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Current state.
    pub state: State,
    /// Alarm code of the current fault or repair (0 when none).
    pub alarm_code: u16,
    /// Degradation level per mode, 0 (new) to 1 (failed), in [`MachineKind::modes`] order.
    pub levels: Vec<f64>,
    /// Parts made.
    pub parts: u64,
    /// Good parts.
    pub good: u64,
    /// Scrap parts.
    pub scrap: u64,
    /// Faults so far, by alarm code.
    pub faults: HashMap<u16, u32>,
    /// Simulated seconds since start.
    pub sim_seconds: f64,
}

/// One simulated machine.
#[derive(Debug)]
pub struct Machine {
    /// Its name, e.g. `imm-1`.
    pub name: String,
    /// Its kind.
    pub kind: MachineKind,
    layout: Vec<TagConfig>,
    rng: StdRng,
    state: State,
    left_s: f64,
    alarm: u16,
    levels: Vec<f64>,
    cycle_acc: f64,
    parts: u64,
    good: u64,
    scrap: u64,
    stitches: f64,
    op_seconds: f64,
    energy_kwh: f64,
    faults: HashMap<u16, u32>,
    t: f64,
    last: HashMap<&'static str, f64>,
    events: Vec<SimEvent>,
    /// Index into [`MachineKind::jobs`] of the recipe or program running now.
    job: usize,
    /// Parts made since the last [`Machine::take_parts`] (at most the latest 10,000).
    part_log: Vec<SimPart>,
    /// Draws defect codes, apart from `rng` so the physics' trajectory is unchanged.
    cause_rng: StdRng,
    /// Sensor noise on the readings a stopped machine holds, apart from `rng` likewise.
    sensor_rng: StdRng,
}

impl Machine {
    /// A new machine whose randomness derives from `seed` only.
    pub fn new(name: String, kind: MachineKind, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let levels = kind
            .modes()
            .iter()
            .map(|_| rng.gen_range(0.0..0.5))
            .collect();
        Machine {
            name,
            kind,
            layout: layout(kind),
            rng,
            state: State::Running,
            left_s: 0.0,
            alarm: 0,
            levels,
            cycle_acc: 0.0,
            parts: 0,
            good: 0,
            scrap: 0,
            stitches: 0.0,
            op_seconds: 0.0,
            energy_kwh: 0.0,
            faults: HashMap::new(),
            t: 0.0,
            last: HashMap::new(),
            events: Vec::new(),
            job: 0,
            part_log: Vec::new(),
            cause_rng: StdRng::seed_from_u64(seed ^ 0x5155_414c),
            sensor_rng: StdRng::seed_from_u64(seed ^ 0x5345_4e53),
        }
    }

    /// The recipe or part program running now, for kinds that have one.
    pub fn job(&self) -> Option<&'static str> {
        self.kind.jobs().get(self.job).copied()
    }

    /// Moves to the next recipe or program (after an idle spell or a tool change).
    fn next_job(&mut self) {
        let n = self.kind.jobs().len();
        if n > 0 {
            self.job = (self.job + 1) % n;
        }
    }

    /// Its register map.
    pub fn layout(&self) -> &[TagConfig] {
        &self.layout
    }

    /// Resets an active fault, as an operator acknowledging it and restarting the machine would
    /// (the OPC UA `ResetFault` method): the failed mode is renewed and the machine runs again.
    /// Returns false when the machine was not in fault.
    pub fn reset_fault(&mut self) -> bool {
        if self.state != State::Fault {
            return false;
        }
        let modes = self.kind.modes();
        if let Some(i) = modes.iter().position(|m| m.code == self.alarm) {
            self.levels[i] = 0.0;
        }
        self.alarm = 0;
        self.state = State::Running;
        true
    }

    /// Ground truth now.
    pub fn truth(&self) -> Truth {
        Truth {
            state: self.state,
            alarm_code: self.alarm,
            levels: self.levels.clone(),
            parts: self.parts,
            good: self.good,
            scrap: self.scrap,
            faults: self.faults.clone(),
            sim_seconds: self.t,
        }
    }

    /// Parts made since the last call, oldest first.
    pub fn take_parts(&mut self) -> Vec<SimPart> {
        std::mem::take(&mut self.part_log)
    }

    /// The defect code of a scrap part: a cause drawn in proportion to its term.
    fn cause(&mut self, pr: &Process) -> &'static str {
        let mut x = self.cause_rng.gen_range(0.0..pr.scrap_p.max(1e-12));
        for (code, p) in &pr.causes {
            if x < *p {
                return code;
            }
            x -= p;
        }
        "other"
    }

    /// Failures, repairs and planned changes since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<SimEvent> {
        std::mem::take(&mut self.events)
    }

    fn log(&mut self, kind: SimEventKind, code: u16) {
        // Bounded, in case nobody reads the log.
        if self.events.len() >= 10_000 {
            self.events.remove(0);
        }
        self.events.push(SimEvent {
            kind,
            code,
            sim_seconds: self.t,
        });
    }

    fn normal(&mut self, sd: f64) -> f64 {
        // Box-Muller.
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen();
        sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn level(&self, i: usize) -> f64 {
        self.levels[i]
    }

    fn process(&mut self, sp: &HashMap<&'static str, f64>) -> Process {
        let l = |i: usize| self.level(i);
        let (l0, l1, l2) = (l(0), l(1), *self.levels.get(2).unwrap_or(&0.0));
        match self.kind {
            MachineKind::InjectionMoulding => {
                let (bsp, msp, psp) = (
                    sp["barrel_setpoint"],
                    sp["mould_setpoint"],
                    sp["pressure_setpoint"],
                );
                let z1 = bsp + self.normal(0.8);
                let z2 = bsp - 2.0 + self.normal(0.8);
                let z3 = bsp - 4.0 - 30.0 * l0 + self.normal(1.0);
                let tm = msp + 15.0 * l2 + self.normal(0.5);
                let p = psp - 300.0 * l1 + self.normal(10.0);
                let cycle = 30.0 + 8.0 * l1 + 6.0 * l2 + self.normal(0.3);
                let causes = vec![
                    ("short_shot", 0.6 * clamp01((psp - 150.0 - p) / 150.0)),
                    ("sink_mark", 0.5 * clamp01((tm - msp - 8.0) / 8.0)),
                    ("cold_slug", 0.5 * clamp01((bsp - 20.0 - z3) / 15.0)),
                ];
                let scrap_p = 0.01 + causes.iter().map(|c| c.1).sum::<f64>();
                Process {
                    values: vec![
                        ("barrel_temp_1", z1),
                        ("barrel_temp_2", z2),
                        ("barrel_temp_3", z3),
                        ("mould_temp", tm),
                        ("injection_pressure", p),
                        ("cycle_time", cycle),
                    ],
                    cycle_s: cycle,
                    scrap_p,
                    load: (bsp / 230.0).powi(2) * (psp / 1150.0),
                    power_kw: 35.0,
                    causes,
                }
            }
            MachineKind::Press => {
                let ssp = sp["stroke_rate_setpoint"].max(1.0);
                let spm = ssp * (1.0 - 0.3 * l2) + self.normal(0.2);
                let oil = 45.0 + 25.0 * l0 + 5.0 * ssp / 30.0 + self.normal(0.4);
                let tonnage = 250.0 - 60.0 * l0 + self.normal(2.0);
                let gap = 0.05 + 0.4 * l1 + self.normal(0.005);
                let causes = vec![
                    ("burr", 0.7 * clamp01((gap - 0.25) / 0.2)),
                    ("incomplete_form", 0.5 * clamp01((200.0 - tonnage) / 30.0)),
                ];
                let scrap_p = 0.005 + causes.iter().map(|c| c.1).sum::<f64>();
                Process {
                    values: vec![
                        ("stroke_rate", spm),
                        ("tonnage", tonnage),
                        ("oil_temp", oil),
                        ("die_gap", gap),
                    ],
                    cycle_s: 60.0 / spm.max(1.0),
                    scrap_p,
                    load: ssp / 30.0,
                    power_kw: 55.0,
                    causes,
                }
            }
            MachineKind::Sewing => {
                let ssp = sp["speed_setpoint"].max(100.0);
                let spm = ssp * (1.0 - 0.2 * l2) + self.normal(15.0);
                let tension = 120.0 + 80.0 * l1 + self.normal(3.0);
                let needle = 40.0 + 0.02 * spm * (1.0 + l0) + self.normal(1.0);
                let causes = vec![
                    ("puckering", 0.5 * clamp01((tension - 160.0) / 40.0)),
                    ("thread_break", 0.5 * clamp01((needle - 150.0) / 40.0)),
                ];
                let scrap_p = 0.01 + causes.iter().map(|c| c.1).sum::<f64>();
                Process {
                    values: vec![
                        ("stitches_per_minute", spm),
                        ("thread_tension", tension),
                        ("needle_temp", needle),
                    ],
                    cycle_s: 1200.0 * 60.0 / spm.max(1.0),
                    scrap_p,
                    load: ssp / 3000.0,
                    power_kw: 0.55,
                    causes,
                }
            }
            MachineKind::Cutter => {
                let csp = sp["cut_speed_setpoint"].max(10.0);
                let speed = csp * (1.0 - 0.25 * l0) + self.normal(2.0);
                let blade_t = 35.0 + 40.0 * l0 * csp / 200.0 + self.normal(0.5);
                let vacuum = 25.0 - 15.0 * l1 + self.normal(0.3);
                let causes = vec![
                    ("frayed_edge", 0.6 * clamp01((l0 - 0.6) / 0.4)),
                    ("ply_shift", 0.5 * clamp01((17.5 - vacuum) / 7.5)),
                ];
                let scrap_p = 0.01 + causes.iter().map(|c| c.1).sum::<f64>();
                Process {
                    values: vec![
                        ("cut_speed", speed),
                        ("blade_temp", blade_t),
                        ("plies", 40.0),
                        ("blade_wear", 100.0 * l0),
                        ("vacuum", vacuum),
                    ],
                    cycle_s: 90.0 * 200.0 / csp,
                    scrap_p,
                    load: csp / 200.0,
                    power_kw: 7.5,
                    causes,
                }
            }
            MachineKind::Cnc => {
                let ssp = sp["spindle_setpoint"].max(100.0);
                let ov = sp["feed_override"].clamp(10.0, 150.0);
                let speed = ssp + self.normal(5.0);
                let load = 40.0 + 35.0 * l0 + 10.0 * l1 + self.normal(2.0);
                let vib = 0.8 + 4.0 * l1 * l1 + 1.2 * l0 + self.normal(0.1);
                let coolant = 22.0 + 20.0 * l2 + 3.0 * ssp / 8000.0 + self.normal(0.3);
                let causes = vec![
                    (
                        "dimension_out_of_tolerance",
                        0.6 * clamp01((l0 - 0.7) / 0.3),
                    ),
                    ("chatter_marks", 0.4 * clamp01((vib - 3.0) / 3.0)),
                    ("thermal_distortion", 0.3 * clamp01((coolant - 35.0) / 10.0)),
                ];
                let scrap_p = 0.01 + causes.iter().map(|c| c.1).sum::<f64>();
                Process {
                    values: vec![
                        ("spindle_speed", speed),
                        ("spindle_load", load),
                        ("vibration_rms", vib.max(0.0)),
                        ("coolant_temp", coolant),
                        ("tool_wear", 100.0 * l0),
                        ("feed_rate", 1200.0 * ov / 100.0),
                    ],
                    cycle_s: 240.0 * 100.0 / ov,
                    scrap_p,
                    load: (ssp / 8000.0).powi(2) * ov / 100.0,
                    power_kw: 22.0,
                    causes,
                }
            }
        }
    }

    fn setpoints(&self, bank: &Bank) -> HashMap<&'static str, f64> {
        let mut sp = HashMap::new();
        for (name, default) in self.kind.default_setpoints() {
            let v = self
                .layout
                .iter()
                .find(|t| t.name == *name)
                .and_then(|t| bank.get(t))
                .and_then(|v| v.as_f64())
                .filter(|v| *v > 0.0)
                .unwrap_or(*default);
            sp.insert(*name, v);
        }
        sp
    }

    /// Writes the initial setpoints and name into a fresh bank.
    pub fn init_bank(&self, bank: &mut Bank) {
        for (name, v) in self.kind.default_setpoints() {
            if let Some(t) = self.layout.iter().find(|t| t.name == *name) {
                bank.set(t, &Value::Number(*v));
            }
        }
        if let Some(t) = self.layout.iter().find(|t| t.name == "machine_id") {
            bank.set(t, &Value::Text(self.name.to_uppercase()));
        }
        self.publish_job(bank);
    }

    fn publish_job(&self, bank: &mut Bank) {
        let (Some(name), Some(job)) = (self.kind.job_tag(), self.job()) else {
            return;
        };
        if let Some(t) = self.layout.iter().find(|t| t.name == name) {
            bank.set(t, &Value::Text(job.to_string()));
        }
    }

    /// Advances the simulation by `dt` simulated seconds and publishes into `bank`.
    pub fn step(&mut self, dt: f64, bank: &mut Bank) {
        self.t += dt;
        let sp = self.setpoints(bank);
        let pr = self.process(&sp);
        let modes = self.kind.modes();
        match self.state {
            State::Running => {
                self.op_seconds += dt;
                self.energy_kwh += pr.power_kw * dt / 3600.0;
                let mut hazards = Vec::with_capacity(modes.len());
                for (i, m) in modes.iter().enumerate() {
                    let u: f64 = self.rng.gen_range(0.7..1.3);
                    self.levels[i] =
                        (self.levels[i] + m.rate_per_hour * pr.load * u * dt / 3600.0).min(1.0);
                    hazards.push(0.0005 + 2.0 * self.levels[i].powi(6));
                }
                let total: f64 = hazards.iter().sum();
                let forced = self.levels.iter().position(|l| *l >= 1.0);
                if forced.is_some() || self.rng.gen_bool((total * dt / 3600.0).min(1.0)) {
                    let cause = forced.unwrap_or_else(|| {
                        let mut x = self.rng.gen_range(0.0..total);
                        hazards
                            .iter()
                            .position(|h| {
                                x -= h;
                                x <= 0.0
                            })
                            .unwrap_or(0)
                    });
                    self.state = State::Fault;
                    self.alarm = modes[cause].code;
                    *self.faults.entry(self.alarm).or_default() += 1;
                    self.log(SimEventKind::Failure, self.alarm);
                    self.left_s = self.rng.gen_range(300.0..900.0);
                } else if self.rng.gen_bool((0.3 * dt / 3600.0).min(1.0)) {
                    self.state = State::Idle;
                    self.left_s = self.rng.gen_range(120.0..600.0);
                } else {
                    if self.kind == MachineKind::Sewing {
                        self.stitches += pr.values[0].1 * dt / 60.0;
                    }
                    self.cycle_acc += dt / pr.cycle_s.max(0.1);
                    while self.cycle_acc >= 1.0 {
                        self.cycle_acc -= 1.0;
                        self.parts += 1;
                        let scrap = self.rng.gen_bool(pr.scrap_p.clamp(0.0, 1.0));
                        if scrap {
                            self.scrap += 1;
                        } else {
                            self.good += 1;
                        }
                        let defect_code = if scrap { self.cause(&pr) } else { "" };
                        if self.part_log.len() >= MAX_PART_LOG {
                            self.part_log.drain(..MAX_PART_LOG / 10);
                        }
                        self.part_log.push(SimPart {
                            number: self.parts,
                            scrap,
                            defect_code,
                            sim_seconds: self.t,
                            cycle_s: pr.cycle_s,
                        });
                    }
                }
                // A CNC changes its tool as planned once it is 90 % worn: a setup of 10 minutes
                // (state 4), a changeover loss in the MES, not a breakdown.
                if self.kind == MachineKind::Cnc
                    && self.state == State::Running
                    && self.levels[0] >= 0.9
                {
                    self.state = State::Setup;
                    self.alarm = 0;
                    self.left_s = 600.0;
                }
            }
            State::Idle => {
                self.left_s -= dt;
                if self.left_s <= 0.0 {
                    // An idle spell is when a moulding machine gets its next recipe.
                    if self.kind == MachineKind::InjectionMoulding {
                        self.next_job();
                    }
                    self.state = State::Running;
                }
            }
            State::Fault => {
                self.left_s -= dt;
                if self.left_s <= 0.0 {
                    self.state = State::Down;
                    self.left_s = self.rng.gen_range(1200.0..3600.0);
                }
            }
            State::Down | State::Setup => {
                self.left_s -= dt;
                if self.left_s <= 0.0 {
                    // Repair: the failed mode is renewed (a planned tool change renews the tool).
                    let idx = modes.iter().position(|m| m.code == self.alarm).unwrap_or(0);
                    self.levels[idx] = 0.0;
                    let kind = if self.alarm == 0 {
                        SimEventKind::Maintenance
                    } else {
                        SimEventKind::Repair
                    };
                    // A CNC loads its next part program with the new tool.
                    if self.kind == MachineKind::Cnc && self.alarm == 0 {
                        self.next_job();
                    }
                    self.log(kind, self.alarm);
                    self.alarm = 0;
                    self.state = State::Running;
                }
            }
        }
        self.publish(pr, bank);
    }

    fn publish(&mut self, pr: Process, bank: &mut Bank) {
        let running = self.state == State::Running;
        let mut values: HashMap<&'static str, f64> = HashMap::new();
        for (k, v) in pr.values {
            // Stopped machines hold their temperatures but not their speeds.
            let moving = [
                "stroke_rate",
                "stitches_per_minute",
                "cut_speed",
                "spindle_speed",
                "feed_rate",
                "spindle_load",
                "injection_pressure",
            ];
            let v = if !running && moving.contains(&k) {
                0.0
            } else {
                v
            };
            let v = if running {
                v
            } else {
                *self
                    .last
                    .get(k)
                    .filter(|_| !moving.contains(&k))
                    .unwrap_or(&v)
            };
            values.insert(k, v);
        }
        for (k, v) in &values {
            self.last.insert(k, *v);
        }
        if !running {
            // A stopped machine's sensors still read, with their noise (0.2 % and a little):
            // its temperatures and vibration are held, not frozen. Sources that report only
            // changes (OPC UA subscriptions) then keep reporting while the machine stands.
            for v in values.values_mut() {
                let sd = 0.002 * v.abs() + 0.01;
                let u1: f64 = self.sensor_rng.gen_range(f64::EPSILON..1.0);
                let u2: f64 = self.sensor_rng.gen();
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                if *v != 0.0 {
                    *v = (*v + sd * z).max(0.0);
                }
            }
        }
        values.insert("state", self.state as u16 as f64);
        values.insert("alarm_code", f64::from(self.alarm));
        values.insert("part_counter", (self.parts % (1 << 32)) as f64);
        values.insert("shot_counter", (self.parts % (1 << 32)) as f64);
        values.insert("good_parts", (self.good % (1 << 32)) as f64);
        values.insert("scrap_parts", (self.scrap % (1 << 32)) as f64);
        values.insert("operating_seconds", self.op_seconds.floor());
        values.insert("energy_kwh", self.energy_kwh);
        values.insert("stitch_counter", self.stitches.floor());
        values.insert(
            "stoppage_code",
            if running {
                0.0
            } else if self.state == State::Idle {
                1.0
            } else {
                f64::from(self.alarm)
            },
        );
        values.insert("running", if running { 1.0 } else { 0.0 });
        self.publish_job(bank);
        values.insert(
            "alarm_active",
            if self.state == State::Fault { 1.0 } else { 0.0 },
        );
        for t in &self.layout {
            if t.writable || t.data_type == crate::modbus::DataType::String {
                continue;
            }
            if let Some(v) = values.get(t.name.as_str()) {
                bank.set(t, &Value::Number(*v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_log_records_each_failure_and_its_repair() {
        let mut machine = Machine::new("sew-1".into(), MachineKind::Sewing, 7);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        let mut events = Vec::new();
        while machine.truth().sim_seconds < 200.0 * 3600.0 && events.len() < 4 {
            machine.step(10.0, &mut bank);
            events.extend(machine.take_events());
        }
        assert!(events.len() >= 2, "{events:?}");
        let kinds: Vec<SimEventKind> = events.iter().map(|e| e.kind).collect();
        for pair in kinds.chunks(2) {
            assert_eq!(pair[0], SimEventKind::Failure, "{events:?}");
            if let Some(k) = pair.get(1) {
                assert_eq!(*k, SimEventKind::Repair, "{events:?}");
            }
        }
        assert_eq!(
            events[0].code, events[1].code,
            "the repair is of the failed mode"
        );
        assert!(events[1].sim_seconds - events[0].sim_seconds >= 1500.0);
        assert!(machine.take_events().is_empty(), "taken once");
    }

    /// A CNC whose tool is 90 % worn changes it in a setup (state 4, no alarm) of 10 minutes,
    /// then runs again with a new tool and its next program, logged as maintenance.
    #[test]
    fn a_worn_cnc_tool_is_changed_in_a_setup() {
        let mut machine = Machine::new("cnc-1".into(), MachineKind::Cnc, 4);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        machine.levels[0] = 0.899;
        let program = machine.job();
        let mut steps = 0;
        while machine.truth().state == State::Running && steps < 10_000 {
            machine.step(1.0, &mut bank);
            steps += 1;
        }
        let t = machine.truth();
        assert_eq!((t.state, t.alarm_code), (State::Setup, 0), "{t:?}");
        let state_tag = machine
            .layout()
            .iter()
            .find(|t| t.name == "state")
            .unwrap()
            .clone();
        assert_eq!(bank.get(&state_tag), Some(Value::Number(4.0)));
        let started = t.sim_seconds;
        machine.take_events();
        while machine.truth().state == State::Setup {
            machine.step(1.0, &mut bank);
        }
        let t = machine.truth();
        assert_eq!(t.state, State::Running);
        assert!((t.sim_seconds - started - 600.0).abs() <= 1.0, "{t:?}");
        assert!(t.levels[0] < 0.01, "a new tool: {t:?}");
        assert_ne!(machine.job(), program, "the next program");
        let events = machine.take_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].kind, events[0].code),
            (SimEventKind::Maintenance, 0)
        );
    }

    /// Every part is logged once, scrap and good as the counters say, and a scrap part's
    /// defect code names the cause whose physics term is at work: a press with a worn die
    /// (gap 0.35 mm, above the 0.25 mm onset) makes `burr` scrap.
    #[test]
    fn the_part_log_matches_the_counters_and_names_the_cause() {
        let mut machine = Machine::new("press-1".into(), MachineKind::Press, 3);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        machine.levels = vec![0.0, 0.75, 0.0];
        let mut parts = Vec::new();
        for _ in 0..600 {
            machine.step(1.0, &mut bank);
            parts.extend(machine.take_parts());
        }
        let truth = machine.truth();
        assert_eq!(parts.len() as u64, truth.parts);
        assert_eq!(parts.iter().filter(|p| p.scrap).count() as u64, truth.scrap);
        assert!(parts.windows(2).all(|w| w[1].number == w[0].number + 1));
        assert!(parts.iter().all(|p| p.scrap != p.defect_code.is_empty()));
        let burr = parts.iter().filter(|p| p.defect_code == "burr").count();
        assert!(
            truth.scrap > 30 && burr * 10 >= truth.scrap as usize * 8,
            "{burr} of {}",
            truth.scrap
        );
        assert!(machine.take_parts().is_empty(), "taken once");
    }
}
