//! A connection to a device, or to a bus several devices share (RTU lines and RTU gateways),
//! with a timeout on every request. A transport failure drops the connection; the next request
//! reconnects. A Modbus exception keeps it.

use std::{sync::Arc, time::Duration};

use tokio::{net::TcpStream, sync::Mutex, time::timeout};
use tokio_modbus::{
    client::{Context, Reader, Writer},
    slave::{Slave, SlaveContext},
};

use super::config::{DeviceConfig, Parity, RegisterKind, SerialConfig, Transport};
use crate::{Error, Result};

/// Where a link connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Modbus TCP.
    Tcp(String),
    /// RTU frames over TCP.
    RtuOverTcp(String),
    /// RTU over a serial line.
    Serial(SerialConfig),
}

impl Endpoint {
    /// The endpoint of a device; devices with equal RTU endpoints share one link.
    pub fn of(device: &DeviceConfig) -> Endpoint {
        match device.transport {
            Transport::Tcp => Endpoint::Tcp(device.address.clone().unwrap_or_default()),
            Transport::RtuOverTcp => {
                Endpoint::RtuOverTcp(device.address.clone().unwrap_or_default())
            }
            Transport::Rtu => {
                Endpoint::Serial(device.serial.clone().expect("validated: rtu has serial"))
            }
        }
    }

    /// True when several units may share this endpoint's connection (one request at a time).
    pub fn is_bus(&self) -> bool {
        !matches!(self, Endpoint::Tcp(_))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::RtuOverTcp(a) => write!(f, "rtu+tcp://{a}"),
            Endpoint::Serial(s) => write!(f, "rtu://{}@{}", s.path, s.baud_rate),
        }
    }
}

/// Data returned by one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadData {
    /// Coils or discrete inputs.
    Bits(Vec<bool>),
    /// Input or holding registers.
    Words(Vec<u16>),
}

/// A connection, connected on demand.
pub struct Link {
    endpoint: Endpoint,
    ctx: Option<Context>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.ctx.is_some())
            .finish()
    }
}

/// A link shared by the devices on one bus (or owned by one TCP device).
pub type SharedLink = Arc<Mutex<Link>>;

async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Result<T> {
    timeout(limit, f).await.map_err(|_| Error::Timeout(limit))
}

fn flatten<T>(r: tokio_modbus::Result<T>) -> Result<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(code)) => Err(Error::Exception(code)),
        Err(e) => Err(e.into()),
    }
}

/// Opens a TCP connection to a device, naming the endpoint and the reason in plain words
/// when it fails ("connection refused", "connection timed out", not "os error 115").
async fn connect_tcp(endpoint: &Endpoint, addr: &str, limit: Duration) -> Result<TcpStream> {
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    let s = match timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(unreachable(format!(
                "connection timed out after {} ms (device off or not answering)",
                limit.as_millis()
            )))
        }
        Ok(Err(e)) => return Err(unreachable(connect_failure(&e))),
        Ok(Ok(s)) => s,
    };
    s.set_nodelay(true)?;
    Ok(s)
}

/// Plain words for why a TCP connection to a device failed.
pub fn connect_failure(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match (e.kind(), e.raw_os_error()) {
        (K::ConnectionRefused, _) => "connection refused (nothing listens on that port)".into(),
        (K::TimedOut, _) | (_, Some(110)) => {
            "connection timed out (device off or not answering)".into()
        }
        // EINPROGRESS/EALREADY/EWOULDBLOCK: the handshake never completed.
        (K::WouldBlock, _) | (_, Some(114 | 115)) => {
            "connection timed out (the handshake did not complete; device off or not answering)"
                .into()
        }
        (K::HostUnreachable | K::NetworkUnreachable, _) | (_, Some(101 | 113)) => {
            "host unreachable (no route to the device)".into()
        }
        (K::ConnectionReset | K::ConnectionAborted, _) => "connection reset by the device".into(),
        (K::AddrNotAvailable | K::InvalidInput, _) => format!("bad address ({e})"),
        _ => e.to_string(),
    }
}

impl Link {
    /// A link to `endpoint`, not yet connected.
    pub fn new(endpoint: Endpoint) -> Self {
        Link {
            endpoint,
            ctx: None,
        }
    }

    /// A shared link.
    pub fn shared(endpoint: Endpoint) -> SharedLink {
        Arc::new(Mutex::new(Link::new(endpoint)))
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    /// Drops the connection.
    pub fn disconnect(&mut self) {
        self.ctx = None;
    }

    async fn connect(&mut self, limit: Duration) -> Result<&mut Context> {
        if self.ctx.is_none() {
            let ctx = match &self.endpoint {
                Endpoint::Tcp(addr) => {
                    let s = connect_tcp(&self.endpoint, addr, limit).await?;
                    tokio_modbus::client::tcp::attach(s)
                }
                Endpoint::RtuOverTcp(addr) => {
                    let s = connect_tcp(&self.endpoint, addr, limit).await?;
                    tokio_modbus::client::rtu::attach(s)
                }
                Endpoint::Serial(cfg) => tokio_modbus::client::rtu::attach(open_serial(cfg)?),
            };
            self.ctx = Some(ctx);
        }
        Ok(self.ctx.as_mut().expect("just connected"))
    }

    fn settle<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            if e.is_transport() {
                self.ctx = None;
            }
        }
        r
    }

    /// Reads `count` registers or bits of `kind` from `unit`, within `limit`.
    pub async fn read(
        &mut self,
        unit: u8,
        kind: RegisterKind,
        start: u16,
        count: u16,
        limit: Duration,
    ) -> Result<ReadData> {
        let r = async {
            let ctx = self.connect(limit).await?;
            ctx.set_slave(Slave(unit));
            let r = match kind {
                RegisterKind::Coil => {
                    flatten(within(limit, ctx.read_coils(start, count)).await?).map(ReadData::Bits)
                }
                RegisterKind::DiscreteInput => {
                    flatten(within(limit, ctx.read_discrete_inputs(start, count)).await?)
                        .map(ReadData::Bits)
                }
                RegisterKind::Input => {
                    flatten(within(limit, ctx.read_input_registers(start, count)).await?)
                        .map(ReadData::Words)
                }
                RegisterKind::Holding => {
                    flatten(within(limit, ctx.read_holding_registers(start, count)).await?)
                        .map(ReadData::Words)
                }
            };
            r
        }
        .await;
        self.settle(r)
    }

    /// Writes registers to `unit`: FC 6 for one register, FC 16 for more.
    pub async fn write_registers(
        &mut self,
        unit: u8,
        start: u16,
        words: &[u16],
        limit: Duration,
    ) -> Result<()> {
        let r = async {
            let ctx = self.connect(limit).await?;
            ctx.set_slave(Slave(unit));
            if let [w] = words {
                flatten(within(limit, ctx.write_single_register(start, *w)).await?)
            } else {
                flatten(within(limit, ctx.write_multiple_registers(start, words)).await?)
            }
        }
        .await;
        self.settle(r)
    }

    /// Writes coils to `unit`: FC 5 for one coil, FC 15 for more.
    pub async fn write_coils(
        &mut self,
        unit: u8,
        start: u16,
        bits: &[bool],
        limit: Duration,
    ) -> Result<()> {
        let r = async {
            let ctx = self.connect(limit).await?;
            ctx.set_slave(Slave(unit));
            if let [b] = bits {
                flatten(within(limit, ctx.write_single_coil(start, *b)).await?)
            } else {
                flatten(within(limit, ctx.write_multiple_coils(start, bits)).await?)
            }
        }
        .await;
        self.settle(r)
    }
}

/// Opens a serial line with the configured framing.
pub fn open_serial(cfg: &SerialConfig) -> Result<tokio_serial::SerialStream> {
    use tokio_serial::{DataBits, StopBits};
    let builder = tokio_serial::new(cfg.path.as_str(), cfg.baud_rate)
        .parity(match cfg.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if cfg.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .data_bits(if cfg.data_bits == 7 {
            DataBits::Seven
        } else {
            DataBits::Eight
        });
    tokio_serial::SerialStream::open(&builder)
        .map_err(|e| Error::Transport(format!("cannot open serial line {}: {e}", cfg.path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_are_named_in_plain_words() {
        let e = std::io::Error::from_raw_os_error(115);
        assert!(connect_failure(&e).starts_with("connection timed out"));
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(connect_failure(&e).starts_with("connection refused"));
    }

    #[tokio::test]
    async fn a_dead_device_is_reported_as_refused_with_its_endpoint() {
        // A port nobody listens on: bind, note it, close.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let mut link = Link::new(Endpoint::Tcp(addr.clone()));
        let e = link
            .read(1, RegisterKind::Holding, 0, 1, Duration::from_secs(2))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains(&format!("tcp://{addr}")), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(!text.contains("os error"), "{text}");
        assert!(e.is_transport());
    }
}
