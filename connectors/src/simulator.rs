//! Plant simulators: real Modbus TCP servers whose registers behave like machines.
//!
//! One [`Plant`] serves a whole plant on several ports, some with several unit ids behind one
//! port (as behind a serial gateway). Everything random derives from the seed: the same seed
//! gives the same trajectory of states, faults and parts (the wall-clock time at which a value is
//! read still depends on polling). Simulated time runs `speed` times faster than the wall clock
//! (default 60: an hour per minute) in steps of 0.1 s wall time.
//!
//! # Plants
//! - `appliance`: `imm-1`, `imm-2` (port 0, units 1 and 2), `imm-3` (port 1, unit 1),
//!   `press-1` (port 2, unit 1).
//! - `garment`: `sew-1` … `sew-4` (port 0, units 1–4), `cutter-1` (port 1, unit 1).
//! - `machinery`: `cnc-1`, `cnc-2`, `cnc-3` (ports 0, 1, 2, unit 1).
//!
//! # Ground truth
//! Every machine has degradation modes, each with a level from 0 (new) to 1 (failed), starting
//! uniform in [0, 0.5). While running, a level grows by `rate × load × U(0.7, 1.3)` per
//! simulated hour (rates in [`machine::MachineKind::modes`]; load from the setpoints, 1 at the
//! defaults). The fault hazard of a mode is `0.0005 + 2 × level⁶` per hour, and a level reaching
//! 1 faults at once; the fault's `alarm_code` is the mode's code. A fault waits 5–15 min for a
//! technician (state 3), then repair takes 20–60 min (state 2), after which that mode's level is 0
//! and the others keep theirs. Running machines idle (state 0) 0.3 times per hour for 2–10 min.
//! A planned changeover is a setup (state 4): a CNC's tool change. A stopped machine's held
//! readings (temperatures, vibration) carry their sensor noise.
//! Parts complete every `cycle` seconds; each is scrap with probability `scrap_p` below
//! (`clamp` to [0, 1], `N(σ)` Gaussian noise):
//!
//! | machine | modes (code) | process values | scrap_p |
//! | --- | --- | --- | --- |
//! | injection moulding | heater_band (101), screw_wear (102), cooling_fouling (103) | zones 1–2 = sp, sp−2; zone 3 = sp − 4 − 30·heater; mould = msp + 15·fouling; pressure = psp − 300·screw; cycle = 30 + 8·screw + 6·fouling s | 0.01 + 0.6·clamp((psp−150−p)/150) + 0.5·clamp((mould−msp−8)/8) + 0.5·clamp((sp−20−zone3)/15) |
//! | press | hydraulic_leak (201), die_wear (202), clutch_wear (203) | spm = sp·(1−0.3·clutch); oil = 45 + 25·leak + 5·sp/30 °C; tonnage = 250 − 60·leak t; die gap = 0.05 + 0.4·die mm | 0.005 + 0.7·clamp((gap−0.25)/0.2) + 0.5·clamp((200−tonnage)/30) |
//! | sewing | needle_wear (301), tension_spring (302), motor_bearing (303) | spm = sp·(1−0.2·bearing); tension = 120 + 80·spring cN; needle = 40 + 0.02·spm·(1+needle) °C; a piece is 1200 stitches | 0.01 + 0.5·clamp((tension−160)/40) + 0.5·clamp((needle−150)/40) |
//! | cutter | blade_wear (401), vacuum_leak (402) | speed = sp·(1−0.25·blade); blade temp = 35 + 40·blade·sp/200; vacuum = 25 − 15·leak kPa; cycle = 90·200/sp s | 0.01 + 0.6·clamp((blade−0.6)/0.4) + 0.5·clamp((17.5−vacuum)/7.5) |
//! | CNC | tool_wear (501), spindle_bearing (502), coolant_pump (503) | load = 40 + 35·tool + 10·bearing %; vibration = 0.8 + 4·bearing² + 1.2·tool mm/s; coolant = 22 + 20·pump + 3·sp/8000 °C; cycle = 240·100/override s; tool changed at 0.9 (a setup, state 4, of 10 min, alarm 0) | 0.01 + 0.6·clamp((tool−0.7)/0.3) + 0.4·clamp((vib−3)/3) + 0.3·clamp((coolant−35)/10) |
//!
//! Each machine logs its failures, repairs and planned changes ([`machine::SimEvent`]); a
//! plant's logs are drained through [`PlantHandle::events`].
//!
//! Each part made is logged too ([`machine::SimPart`], drained with
//! [`PlantEvents::drain_parts`]): scrap or good, and for scrap a defect code drawn in
//! proportion to the terms of `scrap_p` above: injection moulding `short_shot` (pressure),
//! `sink_mark` (mould temperature), `cold_slug` (zone 3); press `burr` (die gap),
//! `incomplete_form` (tonnage); sewing `puckering` (tension), `thread_break` (needle
//! temperature); cutter `frayed_edge` (blade wear), `ply_shift` (vacuum); CNC
//! `dimension_out_of_tolerance` (tool wear), `chatter_marks` (vibration),
//! `thermal_distortion` (coolant); `other` for the base rate. A draw of its own keeps the
//! physics' random trajectory as it was.
//!
//! Text tags: every machine's `machine_id` (its name in capitals); an injection-moulding
//! machine's `recipe` moves to the next of [`machine::MachineKind::jobs`] after each idle
//! spell, a CNC's `program` after each planned tool change.
//!
//! Register maps are in [`layout`]; setpoints are writable holding registers that the physics
//! reads every step. Holding registers 900–999 of every unit are scratch space for tests;
//! addresses from 1000 on answer with the IllegalDataAddress exception.

pub mod bank;
pub mod layout;
pub mod machine;
pub mod opcua;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{net::TcpListener, task::JoinSet};
use tracing::info;

use crate::{
    config::{ConnectorConfig, UplinkConfig},
    modbus::{config::Transport, DeviceConfig, ModbusConfig},
    Result,
};
use bank::{Bank, PortService, SharedBank};
use machine::{Machine, MachineKind, SimEvent, Truth};

/// The kinds of plant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PlantKind {
    /// Injection-moulding machines and a press line.
    Appliance,
    /// Sewing stations and a cutting table.
    Garment,
    /// CNC machining centres.
    Machinery,
}

impl PlantKind {
    /// All kinds.
    pub const ALL: [PlantKind; 3] = [
        PlantKind::Appliance,
        PlantKind::Garment,
        PlantKind::Machinery,
    ];

    /// The name used in configs and tag names.
    pub fn as_str(self) -> &'static str {
        match self {
            PlantKind::Appliance => "appliance",
            PlantKind::Garment => "garment",
            PlantKind::Machinery => "machinery",
        }
    }

    /// (machine name, kind, port index, unit id) of every machine.
    pub fn machines(self) -> Vec<(String, MachineKind, usize, u8)> {
        use MachineKind::*;
        let m = |kind: MachineKind, n: u32, port: usize, unit: u8| {
            (format!("{}-{n}", kind.prefix()), kind, port, unit)
        };
        match self {
            PlantKind::Appliance => vec![
                m(InjectionMoulding, 1, 0, 1),
                m(InjectionMoulding, 2, 0, 2),
                m(InjectionMoulding, 3, 1, 1),
                m(Press, 1, 2, 1),
            ],
            PlantKind::Garment => vec![
                m(Sewing, 1, 0, 1),
                m(Sewing, 2, 0, 2),
                m(Sewing, 3, 0, 3),
                m(Sewing, 4, 0, 4),
                m(Cutter, 1, 1, 1),
            ],
            PlantKind::Machinery => vec![m(Cnc, 1, 0, 1), m(Cnc, 2, 1, 1), m(Cnc, 3, 2, 1)],
        }
    }
}

/// How to start a plant.
#[derive(Debug, Clone)]
pub struct PlantOptions {
    /// Address to bind; loopback by default.
    pub bind: IpAddr,
    /// Ports to bind, one per port index; `None` binds port 0 (any free port) for each.
    pub ports: Option<Vec<u16>>,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// Wall-clock time between two steps.
    pub step: Duration,
}

impl Default for PlantOptions {
    fn default() -> Self {
        PlantOptions {
            bind: IpAddr::from([127, 0, 0, 1]),
            ports: None,
            speed: 60.0,
            step: Duration::from_millis(100),
        }
    }
}

/// A simulated machine as a connector sees it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Machine name, e.g. `imm-1`.
    pub name: String,
    /// Its kind.
    pub kind: MachineKind,
    /// Address it is served on.
    pub addr: SocketAddr,
    /// Unit id.
    pub unit: u8,
}

/// A running plant: its addresses, its register banks, its ground truth. Dropping it stops it.
#[derive(Debug)]
pub struct PlantHandle {
    /// The plant's kind.
    pub kind: PlantKind,
    /// Its seed.
    pub seed: u64,
    /// Bound address of each port index.
    pub addrs: Vec<SocketAddr>,
    /// Every machine.
    pub devices: Vec<DeviceInfo>,
    banks: HashMap<String, SharedBank>,
    machines: Arc<std::sync::Mutex<Vec<(Machine, SharedBank)>>>,
    tasks: JoinSet<()>,
}

/// Entry point to plant simulators.
#[derive(Debug)]
pub struct Plant;

impl Plant {
    /// Starts a plant on loopback, any free ports, default speed. The servers accept
    /// connections when this returns.
    pub async fn start(kind: PlantKind, seed: u64, bind: IpAddr) -> Result<PlantHandle> {
        Self::start_with(
            kind,
            seed,
            PlantOptions {
                bind,
                ..PlantOptions::default()
            },
        )
        .await
    }

    /// Starts a plant with options.
    pub async fn start_with(kind: PlantKind, seed: u64, opts: PlantOptions) -> Result<PlantHandle> {
        let layout = kind.machines();
        let n_ports = layout.iter().map(|m| m.2).max().unwrap_or(0) + 1;
        let mut listeners = Vec::new();
        for p in 0..n_ports {
            let port = opts
                .ports
                .as_ref()
                .and_then(|ps| ps.get(p).copied())
                .unwrap_or(0);
            listeners.push(TcpListener::bind(SocketAddr::new(opts.bind, port)).await?);
        }
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<_>>()?;
        let mut per_port: Vec<HashMap<u8, SharedBank>> = vec![HashMap::new(); n_ports];
        let mut machines = Vec::new();
        let mut devices = Vec::new();
        let mut banks = HashMap::new();
        for (i, (name, mk, port, unit)) in layout.into_iter().enumerate() {
            let machine = Machine::new(
                name.clone(),
                mk,
                seed.wrapping_mul(1000).wrapping_add(i as u64),
            );
            let mut bank = Bank::default();
            machine.init_bank(&mut bank);
            let bank: SharedBank = Arc::new(std::sync::Mutex::new(bank));
            per_port[port].insert(unit, bank.clone());
            banks.insert(name.clone(), bank.clone());
            devices.push(DeviceInfo {
                name,
                kind: mk,
                addr: addrs[port],
                unit,
            });
            machines.push((machine, bank));
        }
        let machines = Arc::new(std::sync::Mutex::new(machines));
        // First step before serving, so the first read sees a running machine.
        step_all(&machines, opts.speed * opts.step.as_secs_f64());
        let mut tasks = JoinSet::new();
        for (listener, units) in listeners.into_iter().zip(per_port) {
            tasks.spawn(serve_tcp(listener, PortService::new(units)));
        }
        let stepper = machines.clone();
        let (dt, every) = (opts.speed * opts.step.as_secs_f64(), opts.step);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                step_all(&stepper, dt);
            }
        });
        info!(plant = kind.as_str(), seed, ports = ?addrs, "Plant simulator serving Modbus TCP.");
        Ok(PlantHandle {
            kind,
            seed,
            addrs,
            devices,
            banks,
            machines,
            tasks,
        })
    }
}

/// The event logs of a plant's machines; see [`PlantHandle::events`].
#[derive(Debug, Clone)]
pub struct PlantEvents {
    machines: Arc<std::sync::Mutex<Vec<(Machine, SharedBank)>>>,
}

impl PlantEvents {
    /// (machine name, event) of every event since the last call, oldest first per machine.
    pub fn drain(&self) -> Vec<(String, SimEvent)> {
        let mut ms = self.machines.lock().expect("machines lock");
        ms.iter_mut()
            .flat_map(|(m, _)| {
                let name = m.name.clone();
                m.take_events().into_iter().map(move |e| (name.clone(), e))
            })
            .collect()
    }

    /// (machine name, part) of every part made since the last call, oldest first per
    /// machine: what an inspection station would record.
    pub fn drain_parts(&self) -> Vec<(String, machine::SimPart)> {
        let mut ms = self.machines.lock().expect("machines lock");
        ms.iter_mut()
            .flat_map(|(m, _)| {
                let name = m.name.clone();
                m.take_parts().into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    }
}

fn step_all(machines: &std::sync::Mutex<Vec<(Machine, SharedBank)>>, dt: f64) {
    let mut ms = machines.lock().expect("machines lock");
    for (m, b) in ms.iter_mut() {
        m.step(dt, &mut b.lock().expect("bank lock"));
    }
}

/// Serves Modbus TCP on `listener` with `service` until the task is aborted.
pub async fn serve_tcp(listener: TcpListener, service: PortService) {
    let server = tokio_modbus::server::tcp::Server::new(listener);
    let on_connected = |stream, _addr| {
        let service = service.clone();
        async move { Ok(Some((service, stream))) }
    };
    if let Err(e) = server.serve(&on_connected, |_e| {}).await {
        tracing::warn!(error = %e, "Simulator stopped accepting connections.");
    }
}

/// Serves RTU framed over TCP on `listener` until the task is aborted.
pub async fn serve_rtu_over_tcp(listener: TcpListener, service: PortService) {
    let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
    let on_connected = |stream, _addr| {
        let service = service.clone();
        async move { Ok(Some((service, stream))) }
    };
    if let Err(e) = server.serve(&on_connected, |_e| {}).await {
        tracing::warn!(error = %e, "Simulator stopped accepting connections.");
    }
}

/// Serves RTU on an open serial line until the task is aborted or the line fails.
pub async fn serve_rtu(serial: tokio_serial::SerialStream, service: PortService) -> Result<()> {
    tokio_modbus::server::rtu::Server::new(serial)
        .serve_forever(service)
        .await?;
    Ok(())
}

impl PlantHandle {
    /// The register bank of a machine (tests set and read raw registers through it).
    pub fn bank(&self, device: &str) -> Option<SharedBank> {
        self.banks.get(device).cloned()
    }

    /// The service of the units served on port index `port` (to serve them over another
    /// transport, e.g. RTU on a serial line).
    pub fn port_service(&self, port: usize) -> PortService {
        PortService::new(
            self.devices
                .iter()
                .filter(|d| d.addr == self.addrs[port])
                .map(|d| (d.unit, self.banks[&d.name].clone()))
                .collect(),
        )
    }

    /// A handle on the plant's event logs that outlives the plant handle being moved (the
    /// demo records failures and repairs as machine events with it).
    pub fn events(&self) -> PlantEvents {
        PlantEvents {
            machines: self.machines.clone(),
        }
    }

    /// Ground truth of a machine now.
    pub fn truth(&self, device: &str) -> Option<Truth> {
        self.machines
            .lock()
            .expect("machines lock")
            .iter()
            .find(|(m, _)| m.name == device)
            .map(|(m, _)| m.truth())
    }

    /// The Modbus section polling every machine of this plant, every tag of its layout, with
    /// platform tags `<plant>.<machine>.<tag>`.
    pub fn modbus_config(&self, poll_interval_ms: u64) -> ModbusConfig {
        let devices = self
            .devices
            .iter()
            .map(|d| {
                let machine = self.machines.lock().expect("machines lock");
                let layout = machine
                    .iter()
                    .find(|(m, _)| m.name == d.name)
                    .map(|(m, _)| m.layout().to_vec())
                    .unwrap_or_default();
                DeviceConfig {
                    name: d.name.clone(),
                    transport: Transport::Tcp,
                    address: Some(d.addr.to_string()),
                    serial: None,
                    unit_id: d.unit,
                    poll_interval_ms,
                    timeout_ms: 500,
                    max_gap: 8,
                    max_registers_per_read: 125,
                    max_bits_per_read: 2000,
                    backoff_initial_ms: 200,
                    backoff_max_ms: 10_000,
                    tags: layout
                        .into_iter()
                        .map(|mut t| {
                            t.platform_tag =
                                Some(format!("{}.{}.{}", self.kind.as_str(), d.name, t.name));
                            t
                        })
                        .collect(),
                }
            })
            .collect();
        ModbusConfig { devices }
    }

    /// A complete connector config for this plant (what the demo runs, one per plant).
    pub fn connector_config(&self, uplink: Option<UplinkConfig>) -> ConnectorConfig {
        ConnectorConfig {
            name: format!("{}-plant", self.kind.as_str()),
            uplink,
            modbus: self.modbus_config(1000),
            opcua: Default::default(),
        }
    }

    /// Stops serving; connections are closed.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}
