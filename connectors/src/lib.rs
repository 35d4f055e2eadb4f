//! Protocol connectors: the edge side of Millwright.
//!
//! This crate owns everything that talks to machines: the driver trait every protocol
//! implements, the Modbus driver (TCP, RTU over serial, RTU over TCP), the plant simulators used
//! by the demo and the tests, and the store-and-forward uplink that ships samples to the
//! platform's ingest API. It never depends on the platform or tenants crates: the only contracts
//! between the two sides are the ingest API and the setpoint-commands API.
//!
//! # Layout
//! - [`error`]: the crate's error enum and `Result` alias.
//! - [`sample`]: what a driver emits: a tag value with time and quality.
//! - [`driver`]: the [`driver::Driver`] trait every protocol implements, and its context.
//! - [`config`]: the connector config file (TOML), loaded with file, line and field in errors.
//! - [`modbus`]: the Modbus driver: config, codec (types and word orders), coalescing, links.
//! - [`opcua`]: the OPC UA driver: subscriptions, polling, security, recovery, discovery.
//! - [`simulator`]: plant simulators serving real Modbus TCP and OPC UA, with their ground-truth
//!   physics.
//! - [`uplink`]: batches to the ingest API with a bounded on-disk store-and-forward queue,
//!   and the poller of the platform's setpoint commands.
//! - [`runtime`]: a running connector: drivers plus uplink, started from a config.
//! - [`edge`]: the demo's edge in one call: plants plus one connector per plant.
//! - [`probe`]: read once and print the registers decoded in every type and order.
//! - [`commission`]: `connector run --print`, decoded samples as JSON lines, nothing sent.
//! - [`cli`]: clap `Args` and async entry points the `millwright` binary calls.
//! - [`bench`](mod@bench): `millwright bench modbus`, connector against a bare tokio-modbus loop.
//!
//! # Example: the demo's edge
//! Three plants on loopback, one connector per plant, no configuration from the user:
//! ```no_run
//! # async fn demo() -> millwright_connectors::Result<()> {
//! use millwright_connectors::{
//!     edge::{Edge, EdgeOptions, PlantSpec},
//!     simulator::PlantKind,
//! };
//! let opts = EdgeOptions {
//!     plants: PlantKind::ALL
//!         .iter()
//!         .map(|k| PlantSpec { kind: *k, seed: 1, token: "device-token".into() })
//!         .collect(),
//!     platform_url: "http://127.0.0.1:8080".into(),
//!     data_dir: "/tmp/millwright-demo/edge".into(),
//!     poll_interval_ms: 1000,
//! };
//! // Start the plants first, register their tags in the platform, then connect.
//! let plants = Edge::start_plants(&opts.plants).await?;
//! for p in &plants {
//!     for tag in millwright_connectors::edge::plant_tags(p) {
//!         println!("{} ({:?})", tag.platform_tag, tag.unit);
//!     }
//! }
//! let edge = Edge::connect(plants, &opts).await?;
//! edge.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod bench;
pub mod cli;
pub mod commission;
pub mod config;
pub mod driver;
pub mod edge;
pub mod error;
pub mod modbus;
pub mod opcua;
pub mod probe;
pub mod runtime;
pub mod sample;
pub mod simulator;
pub mod uplink;

pub use error::{Error, Result};
