//! `millwright bench modbus`: one connector polling many simulated devices on loopback, against
//! a bare tokio-modbus read loop over the same registers, in the same run (phases alternate).
//! Both phases poll as fast as they can; CPU time is the whole process's (simulators included,
//! the same for both phases). [`opcua`] is `millwright bench opcua`.

pub mod opcua;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Args;
use tokio::sync::mpsc;

use crate::{
    config::ConnectorConfig,
    modbus::{
        coalesce,
        link::{Endpoint, Link},
        ModbusConfig,
    },
    runtime::Connector,
    simulator::{Plant, PlantKind},
    Result,
};

/// `millwright bench modbus`.
#[derive(Debug, Clone, Args)]
pub struct BenchModbusArgs {
    /// Plants of each kind to start (each kind has 3 to 5 machines).
    #[arg(long, default_value_t = 2)]
    pub plants_per_kind: usize,
    /// Seconds of each phase; each side runs two phases.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

/// Process CPU seconds (user + system) from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Figures of one side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Tag values read.
    pub values: u64,
    /// Wall seconds.
    pub seconds: f64,
    /// Process CPU seconds.
    pub cpu: f64,
}

impl Figures {
    /// Tag values per second.
    pub fn rate(&self) -> f64 {
        self.values as f64 / self.seconds.max(1e-9)
    }
    /// CPU seconds per million values.
    pub fn cpu_per_million(&self) -> f64 {
        self.cpu / (self.values as f64 / 1e6).max(1e-12)
    }
}

async fn connector_phase(cfg: &ConnectorConfig, secs: f64) -> Figures {
    let (tx, mut rx) = mpsc::channel(crate::runtime::SAMPLE_CHANNEL);
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let sink = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let (_cmd, stop, mut drivers) = Connector::start_drivers(cfg, tx);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let values = count.load(Ordering::Relaxed);
    let f = Figures {
        values,
        seconds: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
    };
    let _ = stop.send(true);
    while drivers.join_next().await.is_some() {}
    let _ = sink.await;
    f
}

async fn bare_phase(cfg: &ModbusConfig, secs: f64) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for d in &cfg.devices {
        let blocks = coalesce::plan(
            &d.tags,
            d.max_gap,
            d.max_registers_per_read,
            d.max_bits_per_read,
        );
        let (stop, count, unit) = (stop.clone(), count.clone(), d.unit_id);
        let mut link = Link::new(Endpoint::of(d));
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for b in &blocks {
                    if link
                        .read(unit, b.kind, b.start, b.count, Duration::from_secs(1))
                        .await
                        .is_ok()
                    {
                        count.fetch_add(b.tags.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let values = count.load(Ordering::Relaxed);
    let f = Figures {
        values,
        seconds: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
    };
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    f
}

/// Runs the benchmark and returns (connector, bare) figures.
pub async fn run(args: &BenchModbusArgs) -> Result<(Figures, Figures)> {
    let mut plants = Vec::new();
    let mut cfg = ConnectorConfig {
        name: "bench".into(),
        uplink: None,
        modbus: ModbusConfig::default(),
        opcua: Default::default(),
    };
    for kind in PlantKind::ALL {
        for i in 0..args.plants_per_kind {
            let p = Plant::start(kind, 1000 + i as u64, [127, 0, 0, 1].into()).await?;
            let mut m = p.modbus_config(0);
            for d in &mut m.devices {
                d.name = format!("{}{}-{}", kind.as_str(), i, d.name);
            }
            cfg.modbus.devices.extend(m.devices);
            plants.push(p);
        }
    }
    let (mut conn, mut bare) = (Figures::default(), Figures::default());
    for _ in 0..2 {
        let c = connector_phase(&cfg, args.seconds).await;
        let b = bare_phase(&cfg.modbus, args.seconds).await;
        for (acc, f) in [(&mut conn, c), (&mut bare, b)] {
            acc.values += f.values;
            acc.seconds += f.seconds;
            acc.cpu += f.cpu;
        }
    }
    for p in plants {
        p.stop().await;
    }
    Ok((conn, bare))
}

/// Runs `millwright bench modbus` and prints its figures; the last line is the ratio.
pub async fn bench_modbus(args: BenchModbusArgs) -> Result<()> {
    let devices = args.plants_per_kind
        * PlantKind::ALL
            .iter()
            .map(|k| k.machines().len())
            .sum::<usize>();
    let (c, b) = run(&args).await?;
    println!(
        "devices={devices} phase_seconds={} phases_per_side=2",
        args.seconds
    );
    println!(
        "connector: tag_values_per_s={:.0} cpu_s_per_million_values={:.2} values={}",
        c.rate(),
        c.cpu_per_million(),
        c.values
    );
    println!(
        "bare:      tag_values_per_s={:.0} cpu_s_per_million_values={:.2} values={}",
        b.rate(),
        b.cpu_per_million(),
        b.values
    );
    println!(
        "ratio_connector_vs_bare={:.3}",
        c.rate() / b.rate().max(1e-9)
    );
    Ok(())
}
