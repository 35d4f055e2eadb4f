//! Millwright platform: ingest, the tenant-scoped time-series store, the HTTP API, and the
//! `millwright` command line that runs them (and the demo).
//!
//! Data flows connectors → platform (ingest, store, API) → models. The platform sees
//! connectors only through the ingest API and the connector crate's public entry points, and
//! reaches the database only through [`store::Store`].
//!
//! # Layout
//! - [`config`]: settings from a file with environment overrides.
//! - [`store`]: migrations, storage layouts (TimescaleDB or native partitions), tenant sessions.
//! - [`api`]: the axum service.
//! - [`maintenance`]: predictive-maintenance training jobs and online scoring.
//! - [`mes`]: machine states, shift calendars, downtime, counters and OEE (pure logic).
//! - [`orders`]: C2B custom orders: configurator, pricing, order states, finite-capacity
//!   scheduling (pure logic).
//! - [`bureau`]: the industry bureau view: sharing, the negative list, sector indices and their
//!   disclosure control (pure logic).
//! - [`quality`]: SPC charts and run rules, process capability, the defect-model recipe.
//! - [`pg_cluster`]: a private PostgreSQL cluster for the demo, tests and benchmarks.
//! - [`demo`]: the one-command demo.
//! - [`console`]: the web console's embedded files, shell and languages.
//! - [`bench`]: benchmarks that print figures next to a reference.
//! - [`error`], [`telemetry`]: the error type and logging.
//! - [`tls`]: the API's HTTPS certificate and TLS to PostgreSQL.
//! - [`alerting`]: alarm rules and their in-process evaluator; [`webhooks`]: signed,
//!   retried event delivery to tenants' endpoints.
//! - [`leases`]: background work under named leases, so replicas run each job once.

pub mod alerting;
pub mod api;
pub mod bench;
// Issue #16: the industry bureau view (sharing, negative list, indices, disclosure control).
pub mod bureau;
pub mod config;
pub mod console;
pub mod demo;
pub mod error;
// Issue #18: leases of background work across replicas.
pub mod leases;
pub mod maintenance;
pub mod mes;
pub mod orders;
pub mod pg_cluster;
pub mod quality;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod tls;
pub mod webhooks;

pub use error::{Error, Result};
