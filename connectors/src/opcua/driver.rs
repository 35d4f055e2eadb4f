//! The OPC UA [`Driver`]: one [`ServerTask`] per configured server.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{
    config::OpcUaConfig,
    connection::{OpcUaStats, ServerTask},
};
use crate::{
    driver::{Driver, DriverContext, WriteCommand},
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
        // Writes are addressed as `server.tag`.
        let mut routes: HashMap<String, mpsc::Sender<WriteCommand>> = HashMap::new();
        for s in self.config.servers.iter().cloned() {
            let (tx, rx) = mpsc::channel(16);
            routes.insert(s.name.clone(), tx);
            let task = ServerTask::new(s, self.stats.clone());
            tasks.spawn(task.run(ctx.output.clone(), rx, ctx.shutdown.clone()));
        }
        let mut commands_open = true;
        loop {
            tokio::select! {
                cmd = ctx.commands.recv(), if commands_open => match cmd {
                    Some(mut cmd) => {
                        let route = cmd
                            .tag
                            .split_once('.')
                            .and_then(|(server, tag)| Some((routes.get(server)?, tag.to_string())));
                        match route {
                            Some((tx, tag)) => {
                                cmd.tag = tag;
                                let _ = tx.send(cmd).await;
                            }
                            None => {
                                let _ = cmd.reply.send(Err(Error::NotFound(format!(
                                    "tag {:?} (OPC UA writes are addressed as server.tag)", cmd.tag
                                ))));
                            }
                        }
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
