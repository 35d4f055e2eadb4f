//! The connector config file (TOML). Unknown fields are refused; every error names the file,
//! the line and the field. The `///` comments on the fields are the user documentation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{modbus::ModbusConfig, opcua::OpcUaConfig, Error, Result};

/// A whole connector config file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Name of this connector in logs, e.g. `appliance-plant`.
    pub name: String,
    /// Where samples go; `connector probe` does not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<UplinkConfig>,
    /// The Modbus devices this connector polls.
    #[serde(default, skip_serializing_if = "ModbusConfig::is_empty")]
    pub modbus: ModbusConfig,
    /// The OPC UA servers this connector reads.
    #[serde(default, skip_serializing_if = "OpcUaConfig::is_empty")]
    pub opcua: OpcUaConfig,
}

/// The `[uplink]` section: the platform's ingest API and the store-and-forward queue.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Base URL of the platform, e.g. `http://127.0.0.1:8080`; samples go to `/api/v1/ingest`.
    pub platform_url: String,
    /// Device token sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Folder of the on-disk queue that keeps batches while the platform is unreachable.
    pub queue_dir: PathBuf,
    /// Largest disk use of the queue in bytes; beyond it the oldest batches are dropped (and
    /// counted and logged).
    #[serde(default = "default_queue_bytes")]
    pub queue_max_bytes: u64,
    /// Most samples in one request (the platform takes up to 10000).
    #[serde(default = "default_batch")]
    pub batch_max_samples: usize,
    /// Longest time a sample waits before its batch is sent, in milliseconds.
    #[serde(default = "default_flush")]
    pub flush_interval_ms: u64,
    /// Time allowed for one ingest request, in milliseconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// How often to ask the platform for setpoint commands (`/api/v1/commands/pending`), in
    /// milliseconds; only tags marked `writable` are written, other commands are reported failed.
    #[serde(default = "default_command_poll")]
    pub command_poll_ms: u64,
    /// PEM file of the certificate authority that signed the platform's HTTPS certificate,
    /// for a private CA; it then is the only one trusted. Absent: the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Durable mode: every sample is appended to a journal in `queue_dir` and synced to disk
    /// as it arrives, and every batch goes through the disk queue, so a connector killed at
    /// any moment (SIGKILL, power loss) loses nothing it had polled. It costs one `fdatasync`
    /// per burst of samples and one file per batch. Off: a kill loses the samples of the
    /// current flush interval and the batch in flight.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub durable: bool,
}

impl std::fmt::Debug for UplinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UplinkConfig")
            .field("platform_url", &self.platform_url)
            .field("token", &"<redacted>")
            .field("queue_dir", &self.queue_dir)
            .field("queue_max_bytes", &self.queue_max_bytes)
            .field("batch_max_samples", &self.batch_max_samples)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("command_poll_ms", &self.command_poll_ms)
            .field("ca_file", &self.ca_file)
            .field("durable", &self.durable)
            .finish()
    }
}

fn default_queue_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_batch() -> usize {
    1000
}
fn default_flush() -> u64 {
    1000
}
fn default_request_timeout() -> u64 {
    10_000
}
/// Default of [`UplinkConfig::command_poll_ms`].
pub fn default_command_poll() -> u64 {
    1000
}

impl ConnectorConfig {
    /// Reads and checks a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let de = toml::Deserializer::new(text);
        let cfg: ConnectorConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| line_of(text, s.start));
            let field = if field == "." || field.is_empty() {
                String::new()
            } else {
                format!("field `{field}`: ")
            };
            Error::Config {
                path: path.into(),
                line,
                message: format!("{field}{}", inner.message()),
            }
        })?;
        cfg.validate(text, path)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for d in &self.modbus.devices {
            let line = find_line(text, &format!("name = {:?}", d.name));
            let err = |message: String| Error::Config {
                path: path.into(),
                line,
                message,
            };
            if !names.insert(&d.name) {
                return Err(err(format!(
                    "field `modbus.device.name`: device {:?} appears twice",
                    d.name
                )));
            }
            d.validate().map_err(err)?;
        }
        for s in &self.opcua.servers {
            let line = find_line(text, &format!("name = {:?}", s.name));
            let err = |message: String| Error::Config {
                path: path.into(),
                line,
                message,
            };
            if !names.insert(&s.name) {
                return Err(err(format!(
                    "field `opcua.server.name`: {:?} is already the name of a device or server",
                    s.name
                )));
            }
            s.validate().map_err(err)?;
        }
        if let Some(u) = &self.uplink {
            let line = find_line(text, "[uplink]");
            let err = |message: &str| Error::Config {
                path: path.into(),
                line,
                message: message.into(),
            };
            if !(u.platform_url.starts_with("http://") || u.platform_url.starts_with("https://")) {
                return Err(err(
                    "field `uplink.platform_url` must start with http:// or https://",
                ));
            }
            if u.batch_max_samples == 0 || u.batch_max_samples > 10_000 {
                return Err(err("field `uplink.batch_max_samples` must be 1 to 10000"));
            }
            if u.command_poll_ms == 0 {
                return Err(err("field `uplink.command_poll_ms` must be at least 1"));
            }
            if u.queue_max_bytes < 64 * 1024 {
                return Err(err("field `uplink.queue_max_bytes` must be at least 65536"));
            }
            if u.ca_file.is_some() && !u.platform_url.starts_with("https://") {
                return Err(err(
                    "field `uplink.ca_file` needs an https:// `uplink.platform_url`",
                ));
            }
        }
        Ok(())
    }

    /// The config as TOML text (what [`Self::parse`] reads back).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.trim() == needle).map(|i| i + 1)
}
