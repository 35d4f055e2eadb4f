//! The OPC UA [`Driver`]: one [`ServerTask`] per configured server.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    config::OpcUaConfig,
    connection::{OpcUaStats, ServerTask},
};
use crate::{
    driver::{Driver, DriverContext},
    Error, Result,
};

/// The OPC UA driver for one `[opcua]` config section.
#[derive(Debug, Clone)]
pub struct OpcUaDriver {
    config: OpcUaConfig,
    stats: Arc<OpcUaStats>,
}

impl OpcUaDriver {
    /// A driver for these servers (validated by [`crate::config::ConnectorConfig::load`]).
    pub fn new(config: OpcUaConfig) -> Self {
        OpcUaDriver {
            config,
            stats: Arc::default(),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<OpcUaStats> {
        self.stats.clone()
    }
}

#[async_trait]
impl Driver for OpcUaDriver {
    fn name(&self) -> &'static str {
        "opcua"
    }

    fn platform_tags(&self) -> Vec<String> {
        self.config
            .servers
            .iter()
            .flat_map(|s| s.tags.iter().map(|t| t.platform_tag(&s.name)))
            .collect()
    }

    async fn run(self: Box<Self>, mut ctx: DriverContext) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for s in self.config.servers.iter().cloned() {
            let task = ServerTask::new(s, self.stats.clone());
            tasks.spawn(task.run(ctx.output.clone(), ctx.shutdown.clone()));
        }
        // Writes to OPC UA nodes are not supported yet: refuse them clearly.
        let mut commands_open = true;
        loop {
            tokio::select! {
                cmd = ctx.commands.recv(), if commands_open => match cmd {
                    Some(cmd) => {
                        let _ = cmd.reply.send(Err(Error::Write(format!(
                            "tag {:?}: writes to OPC UA servers are not supported", cmd.tag
                        ))));
                    }
                    None => commands_open = false,
                },
                r = ctx.shutdown.changed() => if r.is_err() || *ctx.shutdown.borrow() { break },
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}
