//! The Modbus [`Driver`]: one poll task per device, links shared per RTU bus.

use std::collections::HashMap;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tracing::info;

use super::{
    config::ModbusConfig,
    link::{Endpoint, Link, SharedLink},
    poller::Poller,
};
use crate::{
    driver::{Driver, DriverContext, WriteCommand},
    Error, Result,
};

/// The Modbus driver for one `[modbus]` config section.
#[derive(Debug, Clone)]
pub struct ModbusDriver {
    config: ModbusConfig,
}

impl ModbusDriver {
    /// A driver for these devices (validated by [`crate::config::ConnectorConfig::load`]).
    pub fn new(config: ModbusConfig) -> Self {
        ModbusDriver { config }
    }

    /// One link per TCP device, one per RTU bus (serial line or gateway), in device order.
    pub fn links(&self) -> Vec<SharedLink> {
        let mut shared: HashMap<Endpoint, SharedLink> = HashMap::new();
        self.config
            .devices
            .iter()
            .map(|d| {
                let ep = Endpoint::of(d);
                if ep.is_bus() {
                    shared
                        .entry(ep.clone())
                        .or_insert_with(|| Link::shared(ep))
                        .clone()
                } else {
                    Link::shared(ep)
                }
            })
            .collect()
    }
}

#[async_trait]
impl Driver for ModbusDriver {
    fn name(&self) -> &'static str {
        "modbus"
    }

    fn platform_tags(&self) -> Vec<String> {
        self.config
            .devices
            .iter()
            .flat_map(|d| d.tags.iter().map(|t| t.platform_tag(&d.name)))
            .collect()
    }

    async fn run(self: Box<Self>, mut ctx: DriverContext) -> Result<()> {
        let links = self.links();
        // Writes are addressed as `device.tag` or, when unique, as `tag`.
        let mut routes: HashMap<String, (mpsc::Sender<WriteCommand>, String)> = HashMap::new();
        let mut ambiguous = std::collections::HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        for (device, link) in self.config.devices.iter().cloned().zip(links) {
            let (tx, rx) = mpsc::channel(16);
            for t in &device.tags {
                routes.insert(
                    format!("{}.{}", device.name, t.name),
                    (tx.clone(), t.name.clone()),
                );
                if routes
                    .insert(t.name.clone(), (tx.clone(), t.name.clone()))
                    .is_some()
                {
                    ambiguous.insert(t.name.clone());
                }
            }
            let endpoint = link.lock().await.endpoint().to_string();
            info!(device = %device.name, endpoint = %endpoint, unit = device.unit_id,
                  tags = device.tags.len(), "Polling device.");
            let poller = Poller::new(device, link);
            tasks.spawn(poller.run(ctx.output.clone(), rx, ctx.shutdown.clone()));
        }
        for name in ambiguous {
            routes.remove(&name);
        }
        let mut commands_open = true;
        loop {
            tokio::select! {
                cmd = ctx.commands.recv(), if commands_open => match cmd {
                    Some(mut cmd) => match routes.get(&cmd.tag) {
                        Some((tx, name)) => {
                            cmd.tag = name.clone();
                            let _ = tx.send(cmd).await;
                        }
                        None => {
                            let _ = cmd.reply.send(Err(Error::NotFound(format!("tag {:?}", cmd.tag))));
                        }
                    },
                    None => commands_open = false,
                },
                r = ctx.shutdown.changed() => if r.is_err() || *ctx.shutdown.borrow() { break },
            }
        }
        tasks.shutdown().await;
        Ok(())
    }
}
