//! The trait every protocol driver implements, so a new protocol plugs in as one folder.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{sample::Sample, Result};

/// A setpoint write the platform asks for.
#[derive(Debug)]
pub struct WriteCommand {
    /// The connector tag name (as in the config's `name`).
    pub tag: String,
    /// The engineering value to write; scale and offset are undone before encoding.
    pub value: crate::sample::Value,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<()>>,
}

/// What a running driver is given: where its samples go, its write commands, its stop signal.
#[derive(Debug)]
pub struct DriverContext {
    /// Samples out; the uplink reads the other end.
    pub output: mpsc::Sender<Sample>,
    /// Write commands in.
    pub commands: mpsc::Receiver<WriteCommand>,
    /// Turns true when the driver must stop.
    pub shutdown: watch::Receiver<bool>,
}

/// A protocol driver: built from its config section, run until shutdown.
#[async_trait]
pub trait Driver: Send {
    /// The driver's name in logs, e.g. `modbus`.
    fn name(&self) -> &'static str;

    /// The platform tags this driver feeds.
    fn platform_tags(&self) -> Vec<String>;

    /// Polls its devices and sends samples until the shutdown signal turns true.
    async fn run(self: Box<Self>, ctx: DriverContext) -> Result<()>;
}
