//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{collections::HashMap, time::Duration};

use millwright_connectors::{
    config::ConnectorConfig,
    modbus::{
        config::Transport, DataType, DeviceConfig, ModbusConfig, RegisterKind, TagConfig, WordOrder,
    },
    runtime::Connector,
    sample::Sample,
};
use tokio::sync::mpsc;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
}

pub fn tag(
    name: &str,
    kind: RegisterKind,
    address: u16,
    ty: DataType,
    order: WordOrder,
) -> TagConfig {
    TagConfig {
        name: name.into(),
        platform_tag: None,
        kind,
        address,
        data_type: ty,
        order,
        length: if ty == DataType::String { 4 } else { 0 },
        scale: 1.0,
        offset: 0.0,
        deadband: 0.0,
        unit: None,
        writable: false,
    }
}

pub fn device(name: &str, address: String, unit: u8, tags: Vec<TagConfig>) -> DeviceConfig {
    DeviceConfig {
        name: name.into(),
        transport: Transport::Tcp,
        address: Some(address),
        serial: None,
        unit_id: unit,
        poll_interval_ms: 50,
        timeout_ms: 300,
        max_gap: 8,
        max_registers_per_read: 125,
        max_bits_per_read: 2000,
        backoff_initial_ms: 50,
        backoff_max_ms: 400,
        tags,
    }
}

pub fn config(devices: Vec<DeviceConfig>) -> ConnectorConfig {
    ConnectorConfig {
        name: "test".into(),
        uplink: None,
        modbus: ModbusConfig { devices },
        opcua: Default::default(),
    }
}

/// Runs the drivers of `cfg` and returns the sample stream plus a stop handle.
pub struct Drivers {
    pub rx: mpsc::Receiver<Sample>,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub commands: mpsc::Sender<millwright_connectors::driver::WriteCommand>,
}

pub fn run_drivers(cfg: &ConnectorConfig) -> Drivers {
    let (tx, rx) = mpsc::channel(10_000);
    let (commands, stop, set) = Connector::start_drivers(cfg, tx);
    std::mem::forget(set); // tasks stop with `stop`
    Drivers { rx, stop, commands }
}

/// Collects samples until every tag in `tags` has one matching `pred`, or the timeout.
pub async fn first_per_tag(
    rx: &mut mpsc::Receiver<Sample>,
    tags: &[String],
    within: Duration,
    pred: impl Fn(&Sample) -> bool,
) -> HashMap<String, Sample> {
    let mut got = HashMap::new();
    let _ = tokio::time::timeout(within, async {
        while got.len() < tags.len() {
            let Some(s) = rx.recv().await else { break };
            if tags.contains(&s.tag) && pred(&s) {
                got.entry(s.tag.clone()).or_insert(s);
            }
        }
    })
    .await;
    got
}
pub mod opcua;
