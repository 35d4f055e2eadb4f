//! Protocol connectors: the edge side of Millwright.
//!
//! This crate will own everything that talks to machines: the driver trait every protocol
//! implements, the Modbus (TCP, RTU) and OPC UA drivers, the plant simulators used by the demo
//! and the tests, and the store-and-forward uplink that ships samples to the platform's ingest
//! API. It never depends on the platform or tenants crates: the only contract between the two
//! sides is the ingest API.
