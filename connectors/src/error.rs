//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in a connector.
///
/// Device exceptions (a Modbus exception code) are kept apart from transport failures (a broken
/// socket, a timeout): the first marks the affected tags bad, the second drops the connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid; the message names the line and the field.
    #[error("invalid config file {path}{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Config {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The device answered with a Modbus exception.
    #[error("device answered with exception {0}")]
    Exception(tokio_modbus::ExceptionCode),
    /// The transport failed: connection refused or broken, protocol violation.
    #[error("transport failed: {0}")]
    Transport(String),
    /// The device did not answer within its timeout.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A value could not be encoded for a write, or a write targeted a read-only tag.
    #[error("cannot write: {0}")]
    Write(String),
    /// No such tag or device.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store-and-forward queue failed on disk.
    #[error("queue at {path}: {source}")]
    Queue {
        /// The queue directory or segment.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The platform refused the uplink's requests for good (bad token, malformed body).
    #[error("platform refused the batch: {0}")]
    Rejected(String),
    /// Any other I/O error (binding a port, opening a serial line).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True for a failure that should drop the connection and reconnect.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport(_) | Error::Timeout(_) | Error::Io(_))
    }
}

impl From<tokio_modbus::Error> for Error {
    fn from(e: tokio_modbus::Error) -> Self {
        Error::Transport(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
