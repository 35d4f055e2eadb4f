//! OPC UA servers and tags as the config file lists them. The `///` comments on the fields are
//! the user documentation of the config file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `[opcua]` section: the OPC UA servers this connector reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpcUaConfig {
    /// The servers, one `[[opcua.server]]` table each.
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerConfig>,
}

/// Security policy of the secure channel.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// No signing, no encryption (trusted networks only).
    #[default]
    None,
    /// RSA 2048+ with SHA-256, the usual choice of current servers.
    #[value(name = "basic256_sha256")]
    Basic256Sha256,
}

/// Message security mode of the secure channel.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Neither signed nor encrypted; only with policy `none`.
    #[default]
    None,
    /// Messages signed.
    Sign,
    /// Messages signed and encrypted.
    #[value(name = "sign_and_encrypt")]
    SignAndEncrypt,
}

/// A password that never prints (in `Debug`, logs or error messages).
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, to hand to the protocol only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Who the connector says it is to the server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Identity {
    /// No user (the server must allow anonymous sessions).
    #[default]
    Anonymous,
    /// A user name and password; the password is encrypted with the server's certificate.
    UserName {
        /// The user name.
        user: String,
        /// The password (never logged).
        password: Secret,
    },
}

impl Identity {
    /// True for anonymous sessions (left out of written configs: it is the default).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Identity::Anonymous)
    }
}

/// How a tag's value is obtained.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Acquisition {
    /// A monitored item in a subscription: the server sends changes.
    #[default]
    Subscribe,
    /// A Read request every `poll_interval_ms` of the server (servers or nodes that do not
    /// support subscriptions well).
    Poll,
}

/// Deadband of a monitored item, applied by the server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeadbandKind {
    /// Every change is sent.
    #[default]
    None,
    /// A change is sent when it differs from the last sent by more than `deadband`.
    Absolute,
    /// A change is sent when it differs by more than `deadband` percent of the node's EURange.
    Percent,
}

/// One OPC UA server (one session).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Name of the server in logs and in platform tags (`<name>.<tag>`); unique in the file.
    pub name: String,
    /// Discovery URL, e.g. `opc.tcp://plc-1:4840/`; its path must match the server's endpoint.
    pub endpoint_url: String,
    /// `none` or `basic256_sha256`.
    #[serde(default)]
    pub security_policy: Policy,
    /// `none`, `sign` or `sign_and_encrypt`; `none` only with policy `none`.
    #[serde(default)]
    pub security_mode: Mode,
    /// `{ kind = "anonymous" }` (the default) or
    /// `{ kind = "user_name", user = "…", password = "…" }`.
    #[serde(default, skip_serializing_if = "Identity::is_anonymous")]
    pub identity: Identity,
    /// Folder of this connector's certificate store: `own/` (its certificate, created on first
    /// run and kept), `private/` (its key), `trusted/` (server certificates it accepts) and
    /// `rejected/` (server certificates it refused, to be moved into `trusted/` by a person).
    pub pki_dir: PathBuf,
    /// Accept an unknown server certificate once and store it in `trusted/` (trust on first
    /// use). Off by default: an unknown certificate is refused with an error naming the file.
    #[serde(default)]
    pub trust_on_first_use: bool,
    /// Time allowed for discovery, connecting and each request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Session timeout asked of the server, in milliseconds; the server keeps the session (and
    /// its subscriptions, for transfer) this long after the connection drops.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u32,
    /// Publishing interval of the subscription, in milliseconds (servers allow 100 or more).
    #[serde(default = "default_publishing")]
    pub publishing_interval_ms: u64,
    /// Publishing intervals without data after which the server sends a keep-alive; a
    /// subscription silent for three times this is taken as lost and recreated.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_count: u32,
    /// Time between two Reads of the tags with `acquisition = "poll"`, in milliseconds.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// First wait before reconnecting, in milliseconds; doubles up to the cap.
    #[serde(default = "default_backoff_min")]
    pub backoff_initial_ms: u64,
    /// Longest wait between reconnect attempts, in milliseconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// The tags read from this server, one `[[opcua.server.tag]]` table each.
    #[serde(default, rename = "tag")]
    pub tags: Vec<TagConfig>,
}

/// One variable node and the platform tag it feeds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// Name of the tag on this connector (writes, logs); unique within the server.
    pub name: String,
    /// Node id in OPC UA text form, e.g. `ns=2;s=Line1.Press.Temperature` or `ns=3;i=1001`.
    /// The namespace index is the server's; it can change when the server's namespaces do.
    pub node_id: String,
    /// The platform tag this one feeds; defaults to `<server>.<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_tag: Option<String>,
    /// `subscribe` (default) or `poll`.
    #[serde(default)]
    pub acquisition: Acquisition,
    /// How often the server samples the node for a subscription, in milliseconds (−1 or unset:
    /// the server's publishing interval, which the connector then asks for explicitly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_interval_ms: Option<f64>,
    /// Changes the server keeps between two publishes (1 keeps only the newest).
    #[serde(default = "default_queue")]
    pub queue_size: u32,
    /// `none`, `absolute` or `percent` (of the node's EURange).
    #[serde(default)]
    pub deadband_kind: DeadbandKind,
    /// Size of the deadband, in engineering units or percent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deadband: f64,
    /// Engineering unit, for people (e.g. `°C`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Whether the platform may write this tag (setpoint commands); the value is converted to
    /// the node's own type.
    #[serde(default, skip_serializing_if = "is_false")]
    pub writable: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
fn default_timeout() -> u64 {
    5000
}
fn default_session_timeout() -> u32 {
    60_000
}
fn default_publishing() -> u64 {
    500
}
fn default_keep_alive() -> u32 {
    10
}
fn default_poll() -> u64 {
    1000
}
fn default_backoff_min() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    10_000
}
fn default_queue() -> u32 {
    10
}

impl TagConfig {
    /// A subscribed tag with defaults.
    pub fn new(name: impl Into<String>, node_id: impl Into<String>) -> Self {
        TagConfig {
            name: name.into(),
            node_id: node_id.into(),
            platform_tag: None,
            acquisition: Acquisition::Subscribe,
            sampling_interval_ms: None,
            queue_size: default_queue(),
            deadband_kind: DeadbandKind::None,
            deadband: 0.0,
            unit: None,
            writable: false,
        }
    }

    /// The platform tag name, `<server>.<name>` unless set.
    pub fn platform_tag(&self, server: &str) -> String {
        self.platform_tag
            .clone()
            .unwrap_or_else(|| format!("{server}.{}", self.name))
    }
}

impl ServerConfig {
    /// A server with defaults and no tags.
    pub fn new(name: impl Into<String>, endpoint_url: impl Into<String>, pki_dir: PathBuf) -> Self {
        ServerConfig {
            name: name.into(),
            endpoint_url: endpoint_url.into(),
            security_policy: Policy::None,
            security_mode: Mode::None,
            identity: Identity::Anonymous,
            pki_dir,
            trust_on_first_use: false,
            timeout_ms: default_timeout(),
            session_timeout_ms: default_session_timeout(),
            publishing_interval_ms: default_publishing(),
            keep_alive_count: default_keep_alive(),
            poll_interval_ms: default_poll(),
            backoff_initial_ms: default_backoff_min(),
            backoff_max_ms: default_backoff_max(),
            tags: Vec::new(),
        }
    }

    /// Checks what serde cannot. Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if !self.endpoint_url.starts_with("opc.tcp://") {
            return Err(format!(
                "server {n:?}: field `endpoint_url` must start with opc.tcp://"
            ));
        }
        match (self.security_policy, self.security_mode) {
            (Policy::None, Mode::None) => {}
            (Policy::None, _) => {
                return Err(format!(
                    "server {n:?}: field `security_mode` must be none with policy none"
                ))
            }
            (_, Mode::None) => {
                return Err(format!(
                    "server {n:?}: field `security_mode` must be sign or sign_and_encrypt with this policy"
                ))
            }
            _ => {}
        }
        if self.publishing_interval_ms == 0 || self.poll_interval_ms == 0 || self.timeout_ms == 0 {
            return Err(format!(
                "server {n:?}: intervals and `timeout_ms` must be positive"
            ));
        }
        if self.keep_alive_count == 0 {
            return Err(format!(
                "server {n:?}: field `keep_alive_count` must be positive"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.tags {
            if !names.insert(&t.name) {
                return Err(format!(
                    "server {n:?}: tag `name` {:?} appears twice",
                    t.name
                ));
            }
            if t.node_id.parse::<opcua::types::NodeId>().is_err() {
                return Err(format!(
                    "server {n:?}, tag {:?}: field `node_id` {:?} is not a node id (e.g. ns=2;s=Name)",
                    t.name, t.node_id
                ));
            }
            if t.deadband < 0.0 || !t.deadband.is_finite() {
                return Err(format!(
                    "server {n:?}, tag {:?}: field `deadband` must be zero or positive",
                    t.name
                ));
            }
            if t.deadband_kind == DeadbandKind::Percent && t.deadband > 100.0 {
                return Err(format!(
                    "server {n:?}, tag {:?}: field `deadband` is a percentage (0 to 100)",
                    t.name
                ));
            }
        }
        Ok(())
    }
}
