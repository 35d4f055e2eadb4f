//! The Modbus driver: TCP, RTU over a serial line, and RTU framed over TCP.
//!
//! - [`config`]: devices and tags as the config file lists them.
//! - [`codec`]: register words to values and back, for every type and word/byte order.
//! - [`coalesce`]: adjacent tags of one device merged into as few requests as allowed.
//! - [`link`]: a connection to a device (or a shared RTU bus), with per-request timeouts.
//! - [`poller`]: one task per device: poll, decode, deadband, bad quality, reconnect backoff.
//! - [`driver`]: the [`crate::driver::Driver`] implementation tying the above together.

pub mod coalesce;
pub mod codec;
pub mod config;
pub mod driver;
pub mod link;
pub mod poller;

pub use config::{
    DataType, DeviceConfig, ModbusConfig, RegisterKind, TagConfig, Transport, WordOrder,
};
pub use driver::ModbusDriver;
