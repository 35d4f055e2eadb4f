//! Setpoint commands from the platform: every `command_poll_ms` the connector claims the
//! pending commands for the tags it feeds (`GET /api/v1/commands/pending?tag=…`), maps each
//! platform tag name to its own `device.tag`, writes the value through the driver (which
//! refuses tags not marked `writable` and encodes the rest like reads), and reports the
//! outcome (`POST /api/v1/commands/{id}/result`). An outcome that cannot be reported is kept
//! and reported again on the next round. Errors are logged without the request's URL (which
//! lists every tag name): once when polling starts failing, once when it works again.

use std::{collections::HashMap, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::{
    config::UplinkConfig, driver::WriteCommand, modbus::ModbusConfig, runtime::send_write,
    sample::Value, Error, Result,
};

/// A command as the platform hands it out (other fields are ignored).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PendingCommand {
    /// The platform's id of the command.
    pub id: i64,
    /// The platform tag name.
    pub tag: String,
    /// The engineering value to write.
    pub value: f64,
}

/// A command's outcome, as reported to the platform.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    /// Whether the value was written.
    pub ok: bool,
    /// What happened; the error when not written.
    pub detail: String,
}

/// The task that polls the platform for commands and writes them.
#[derive(Debug)]
pub struct CommandPoller {
    http: reqwest::Client,
    base: String,
    auth: String,
    every: Duration,
    write_timeout: Duration,
    /// Platform tag name → the connector's `device.tag`.
    routes: HashMap<String, String>,
    writes: mpsc::Sender<WriteCommand>,
    unreported: Vec<(i64, Outcome)>,
    failing: bool,
}

impl CommandPoller {
    /// A poller for the platform of `uplink`, writing the tags of `modbus` through `writes`.
    pub fn new(
        uplink: &UplinkConfig,
        modbus: &ModbusConfig,
        writes: mpsc::Sender<WriteCommand>,
    ) -> Result<Self> {
        let timeout = Duration::from_millis(uplink.request_timeout_ms);
        let http = super::client::http_client(timeout, uplink.ca_file.as_deref())?;
        let routes = modbus
            .devices
            .iter()
            .flat_map(|d| {
                d.tags
                    .iter()
                    .map(|t| (t.platform_tag(&d.name), format!("{}.{}", d.name, t.name)))
            })
            .collect();
        Ok(CommandPoller {
            http,
            base: format!(
                "{}/api/v1/commands",
                uplink.platform_url.trim_end_matches('/')
            ),
            auth: format!("Bearer {}", uplink.token),
            every: Duration::from_millis(uplink.command_poll_ms.max(1)),
            write_timeout: timeout,
            routes,
            writes,
            unreported: Vec::new(),
            failing: false,
        })
    }

    /// Adds the tags of the OPC UA servers (written as `server.tag`).
    pub fn with_opcua(mut self, opcua: &crate::opcua::OpcUaConfig) -> Self {
        for s in &opcua.servers {
            for t in &s.tags {
                self.routes
                    .insert(t.platform_tag(&s.name), format!("{}.{}", s.name, t.name));
            }
        }
        self
    }

    /// Polls until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
                _ = tick.tick() => match self.round().await {
                    Ok(()) if self.failing => {
                        self.failing = false;
                        info!("The platform answers command polls again.");
                    }
                    Ok(()) => {}
                    Err(e) if !self.failing => {
                        self.failing = true;
                        warn!(error = %e, "Polling the platform for commands failed; retrying every interval.");
                    }
                    Err(_) => {}
                },
            }
        }
    }

    /// One round: report what is still unreported, claim pending commands, write and report.
    pub async fn round(&mut self) -> Result<()> {
        for (id, outcome) in std::mem::take(&mut self.unreported) {
            if let Err(e) = self.report(id, &outcome).await {
                self.unreported.push((id, outcome));
                return Err(e);
            }
        }
        for command in self.claim().await? {
            let outcome = self.execute(&command).await;
            if outcome.ok {
                info!(command = command.id, tag = %command.tag, value = command.value, "Setpoint command written.");
            } else {
                warn!(command = command.id, tag = %command.tag, value = command.value, detail = %outcome.detail,
                      "Setpoint command not written.");
            }
            if let Err(e) = self.report(command.id, &outcome).await {
                warn!(command = command.id, error = %e, "Reporting a command's outcome failed; it is reported again next round.");
                self.unreported.push((command.id, outcome));
            }
        }
        Ok(())
    }

    /// Claims the pending commands for this connector's tags.
    async fn claim(&self) -> Result<Vec<PendingCommand>> {
        let tags: Vec<(&str, &str)> = self.routes.keys().map(|t| ("tag", t.as_str())).collect();
        let resp = self
            .http
            .get(format!("{}/pending", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .query(&tags)
            .send()
            .await
            .map_err(|e| {
                Error::Transport(format!(
                    "platform unreachable: {}",
                    super::client::describe(e)
                ))
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Error::Rejected(format!(
                "pending commands: platform answered {status}: {text:.300}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::Rejected(format!("unreadable pending commands ({e}): {text:.200}")))
    }

    /// Writes one command through the driver.
    async fn execute(&self, command: &PendingCommand) -> Outcome {
        let Some(tag) = self.routes.get(&command.tag) else {
            return Outcome {
                ok: false,
                detail: format!("tag {:?} is not fed by this connector", command.tag),
            };
        };
        let write = send_write(&self.writes, tag, Value::Number(command.value));
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok(Ok(())) => Outcome {
                ok: true,
                detail: format!("wrote {} to {tag}", command.value),
            },
            Ok(Err(e)) => Outcome {
                ok: false,
                detail: e.to_string(),
            },
            Err(_) => Outcome {
                ok: false,
                detail: format!("the write did not finish within {:?}", self.write_timeout),
            },
        }
    }

    /// Posts one outcome.
    async fn report(&self, id: i64, outcome: &Outcome) -> Result<()> {
        let resp = self
            .http
            .post(format!("{}/{id}/result", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(outcome)
            .send()
            .await
            .map_err(|e| {
                Error::Transport(format!(
                    "platform unreachable: {}",
                    super::client::describe(e)
                ))
            })?;
        let status = resp.status();
        // 404 (deleted with its tag) and 409 (already has an outcome) cannot be retried.
        if status.is_success() || status.as_u16() == 404 || status.as_u16() == 409 {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(Error::Rejected(format!(
            "command {id} result: platform answered {status}: {text:.300}"
        )))
    }
}
