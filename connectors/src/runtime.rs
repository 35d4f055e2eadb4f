//! A running connector: its drivers feeding its uplink, started from a config.

use std::sync::Arc;

use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinSet,
};
use tracing::info;

use crate::{
    config::ConnectorConfig,
    driver::{Driver, DriverContext, WriteCommand},
    modbus::ModbusDriver,
    opcua::OpcUaDriver,
    sample::{Sample, Value},
    uplink::{commands::CommandPoller, Uplink, UplinkStats},
    Error, Result,
};

/// Capacity of the channel between drivers and the uplink (samples).
pub const SAMPLE_CHANNEL: usize = 65_536;

/// A running connector. Stop it with [`Connector::stop`]; dropping it aborts its tasks.
#[derive(Debug)]
pub struct Connector {
    /// Counters of the uplink.
    pub stats: Arc<UplinkStats>,
    commands: mpsc::Sender<WriteCommand>,
    shutdown: watch::Sender<bool>,
    uplink_stop: watch::Sender<bool>,
    drivers: JoinSet<Result<()>>,
    uplink: Option<tokio::task::JoinHandle<Result<()>>>,
    command_poller: Option<tokio::task::JoinHandle<()>>,
}

impl Connector {
    /// Starts the drivers of `config`, its uplink and the poller of the platform's setpoint
    /// commands (the config must have `[uplink]`).
    pub async fn start(config: ConnectorConfig) -> Result<Self> {
        let uplink_cfg = config.uplink.clone().ok_or_else(|| Error::Config {
            path: "<config>".into(),
            line: None,
            message: "section `[uplink]` is required to run a connector".into(),
        })?;
        let stats = Arc::new(UplinkStats::default());
        let uplink = Uplink::new(uplink_cfg.clone(), stats.clone())?;
        let (tx, rx) = mpsc::channel(SAMPLE_CHANNEL);
        let (shutdown, shutdown_rx) = watch::channel(false);
        // The uplink stops when every driver has stopped and dropped its sender, so that it
        // queues everything they produced.
        let (uplink_stop, uplink_stop_rx) = watch::channel(false);
        let up = tokio::spawn(uplink.run(rx, uplink_stop_rx));
        let (commands, drivers) = Self::spawn_drivers(&config, tx, shutdown_rx.clone());
        let poller = CommandPoller::new(&uplink_cfg, &config.modbus, commands.clone())?
            .with_opcua(&config.opcua);
        let command_poller = tokio::spawn(poller.run(shutdown_rx));
        info!(connector = %config.name, devices = config.modbus.devices.len(),
              opcua_servers = config.opcua.servers.len(), "Connector started.");
        Ok(Connector {
            stats,
            commands,
            shutdown,
            uplink_stop,
            drivers,
            uplink: Some(up),
            command_poller: Some(command_poller),
        })
    }

    /// Starts only the drivers, sending samples to `output` (tests, benchmarks, other sinks).
    pub fn start_drivers(
        config: &ConnectorConfig,
        output: mpsc::Sender<Sample>,
    ) -> (
        mpsc::Sender<WriteCommand>,
        watch::Sender<bool>,
        JoinSet<Result<()>>,
    ) {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (commands, drivers) = Self::spawn_drivers(config, output, shutdown_rx);
        (commands, shutdown, drivers)
    }

    fn spawn_drivers(
        config: &ConnectorConfig,
        output: mpsc::Sender<Sample>,
        shutdown: watch::Receiver<bool>,
    ) -> (mpsc::Sender<WriteCommand>, JoinSet<Result<()>>) {
        let (commands, commands_rx) = mpsc::channel(64);
        let mut drivers = JoinSet::new();
        let (modbus_tx, modbus_rx) = mpsc::channel(64);
        let driver: Box<dyn Driver> = Box::new(ModbusDriver::new(config.modbus.clone()));
        drivers.spawn(driver.run(DriverContext {
            output: output.clone(),
            commands: modbus_rx,
            shutdown: shutdown.clone(),
        }));
        let mut opcua_tx = None;
        if !config.opcua.is_empty() {
            let (tx, rx) = mpsc::channel(64);
            opcua_tx = Some(tx);
            let driver: Box<dyn Driver> = Box::new(OpcUaDriver::new(config.opcua.clone()));
            drivers.spawn(driver.run(DriverContext {
                output,
                commands: rx,
                shutdown: shutdown.clone(),
            }));
        }
        // Writes go to the driver owning the name before the first dot (device and server
        // names are unique across the file); anything else to Modbus, which also takes bare
        // tag names.
        let servers: std::collections::HashSet<String> = config
            .opcua
            .servers
            .iter()
            .map(|s| s.name.clone())
            .collect();
        drivers.spawn(route_commands(
            commands_rx,
            modbus_tx,
            opcua_tx,
            servers,
            shutdown,
        ));
        (commands, drivers)
    }

    /// Writes a setpoint to a writable tag (`device.tag`, or `tag` when unique).
    pub async fn write(&self, tag: &str, value: Value) -> Result<()> {
        send_write(&self.commands, tag, value).await
    }

    /// Stops polling, lets the uplink queue what it has not delivered, and waits for both.
    pub async fn stop(mut self) -> Result<()> {
        let _ = self.shutdown.send(true);
        if let Some(poller) = self.command_poller.take() {
            let _ = poller.await;
        }
        while let Some(r) = self.drivers.join_next().await {
            r.map_err(|e| Error::Transport(format!("driver task failed: {e}")))??;
        }
        if let Some(up) = self.uplink.take() {
            up.await
                .map_err(|e| Error::Transport(format!("uplink task failed: {e}")))??;
        }
        Ok(())
    }

    /// Runs until Ctrl-C (SIGINT) or SIGTERM, then stops cleanly: polling stops, the uplink
    /// sends what it holds once more or writes it to the disk queue, and logs its counters.
    pub async fn run_until_stopped(self) -> Result<()> {
        let signal = stop_signal().await;
        info!(signal, "Stopping the connector.");
        self.stop().await
    }

    /// Same as [`Connector::run_until_stopped`] (kept for callers of the old name).
    pub async fn run_until_ctrl_c(self) -> Result<()> {
        self.run_until_stopped().await
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what `docker stop` and Kubernetes send) and names it.
pub async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for SIGTERM; only Ctrl-C stops cleanly.");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        let _ = self.uplink_stop.send(true);
        if let Some(up) = &self.uplink {
            up.abort();
        }
        if let Some(poller) = &self.command_poller {
            poller.abort();
        }
    }
}

async fn route_commands(
    mut commands: mpsc::Receiver<WriteCommand>,
    modbus: mpsc::Sender<WriteCommand>,
    opcua: Option<mpsc::Sender<WriteCommand>>,
    servers: std::collections::HashSet<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Ok(()) };
                let to_opcua = cmd
                    .tag
                    .split_once('.')
                    .is_some_and(|(owner, _)| servers.contains(owner));
                match (&opcua, to_opcua) {
                    (Some(tx), true) => { let _ = tx.send(cmd).await; }
                    _ => { let _ = modbus.send(cmd).await; }
                }
            }
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return Ok(()) },
        }
    }
}

/// Sends a write to the drivers and waits for its outcome.
pub(crate) async fn send_write(
    commands: &mpsc::Sender<WriteCommand>,
    tag: &str,
    value: Value,
) -> Result<()> {
    let (reply, rx) = oneshot::channel();
    commands
        .send(WriteCommand {
            tag: tag.into(),
            value,
            reply,
        })
        .await
        .map_err(|_| Error::Write("connector stopped".into()))?;
    rx.await
        .map_err(|_| Error::Write("connector stopped".into()))?
}
