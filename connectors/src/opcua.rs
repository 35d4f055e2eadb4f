//! The OPC UA driver (async-opcua): subscriptions and polling reads, security None and
//! Basic256Sha256, a trust folder for server certificates, session recovery, and discovery.
//!
//! - [`config`]: servers and tags as the config file lists them.
//! - [`pki`]: the connector's certificate (created once, kept) and the server certificate check.
//! - [`session`]: discovery, endpoint choice, identity, and the event-loop task.
//! - [`limits`]: the server's operation limits and chunked reads.
//! - [`subscription`]: the subscription and its monitored items (sampling, queue, deadband).
//! - [`quality`]: status codes to quality, variants to values, source timestamps kept.
//! - [`connection`]: one task per server: subscribe, poll, mark bad, recover.
//! - [`discover`]: browse a server and write a ready-to-edit connector config.
//! - [`write`](mod@write): setpoint writes, converted to the node's own type.
//! - [`driver`]: the [`crate::driver::Driver`] implementation tying the above together.

pub mod config;
pub mod connection;
pub mod discover;
pub mod driver;
pub mod limits;
pub mod pki;
pub mod quality;
pub mod session;
pub mod subscription;
pub mod write;

pub use config::{OpcUaConfig, ServerConfig, TagConfig};
pub use driver::OpcUaDriver;

impl OpcUaConfig {
    /// True when no server is configured (the section is then left out of written configs).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }
}
