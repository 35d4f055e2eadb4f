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
    /// An OPC UA server presented a certificate this connector does not trust yet.
    #[error("server certificate {thumbprint} is not trusted: it was saved as {rejected_path}; if you trust this server, copy that file from {rejected_dir} into {path_to_trust_folder} (or set `trust_on_first_use = true`)", rejected_path = rejected_path.display(), rejected_dir = rejected_path.parent().map(|p| p.display().to_string()).unwrap_or_default(), path_to_trust_folder = path_to_trust_folder.display())]
    UntrustedServerCertificate {
        /// SHA-1 thumbprint of the certificate, in hex.
        thumbprint: String,
        /// The connector's trusted folder, where the file must go.
        path_to_trust_folder: PathBuf,
        /// Where the refused certificate was saved.
        rejected_path: PathBuf,
    },
    /// The OPC UA server refused this connector's application certificate.
    #[error("the server at {endpoint} refused this connector's certificate {own_cert} (thumbprint {thumbprint}, status {status}); the server keeps refused certificates in its rejected folder (for async-opcua and most servers `<pki>/rejected/`): move the file into the server's trusted folder (`<pki>/trusted/`)", own_cert = own_cert.display())]
    ServerRejectedCertificate {
        /// The endpoint URL.
        endpoint: String,
        /// The connector's own certificate file.
        own_cert: PathBuf,
        /// Its SHA-1 thumbprint, in hex.
        thumbprint: String,
        /// The status code the server answered.
        status: String,
    },
    /// An OPC UA service failed with a status code (connecting, discovery, a request).
    #[error("OPC UA {context}: {status}")]
    OpcUa {
        /// What was being done, e.g. `discovery of opc.tcp://host:4840/`.
        context: String,
        /// The status code and its message.
        status: String,
    },
    /// A server could not be reached at all (refused, no route, no answer, unknown host).
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint URL or address.
        endpoint: String,
        /// Why, e.g. `connection refused`.
        reason: String,
    },
    /// Any other I/O error (binding a port, opening a serial line).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True for a failure that should drop the connection and reconnect.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Transport(_)
                | Error::Timeout(_)
                | Error::Io(_)
                | Error::OpcUa { .. }
                | Error::Unreachable { .. }
        )
    }
}

impl From<tokio_modbus::Error> for Error {
    fn from(e: tokio_modbus::Error) -> Self {
        Error::Transport(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
