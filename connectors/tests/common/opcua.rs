//! Helpers of the OPC UA tests: a simulator server on a free loopback port, a connector config
//! pointing at it, and sample collection.

use std::{path::Path, time::Duration};

use millwright_connectors::{
    config::ConnectorConfig,
    opcua::{
        config::{Mode, Policy},
        OpcUaConfig, ServerConfig, TagConfig,
    },
    sample::{Quality, Sample},
    simulator::opcua::{start_scratch, OpcUaServer, OpcUaServerOptions},
};
use tokio::sync::mpsc;

/// A scratch server with `n` variables, its pki under `dir/server`.
pub async fn scratch_server(dir: &Path, n: usize, limit: Option<usize>) -> OpcUaServer {
    let mut o = OpcUaServerOptions::new(dir.join("server"));
    o.scratch_variables = n;
    o.max_nodes_per_operation = limit;
    start_scratch(o).await.expect("server starts")
}

/// A server config for `url` with tags on scratch variables `0..n`, pki under `dir/client`.
pub fn scratch_config(server: &OpcUaServer, dir: &Path, n: usize) -> ServerConfig {
    let mut s = ServerConfig::new("sim", server.url.clone(), dir.join("client"));
    s.publishing_interval_ms = 100;
    s.poll_interval_ms = 100;
    s.backoff_initial_ms = 100;
    s.backoff_max_ms = 500;
    s.timeout_ms = 3000;
    s.tags = (0..n)
        .map(|i| {
            let mut t = TagConfig::new(
                format!("v{i}"),
                format!("ns={};s=scratch.{i}", server.namespace),
            );
            t.sampling_interval_ms = Some(100.0);
            t
        })
        .collect();
    s
}

/// Sets the security of a server config.
pub fn secure(mut s: ServerConfig, mode: Mode, tofu: bool) -> ServerConfig {
    s.security_policy = Policy::Basic256Sha256;
    s.security_mode = mode;
    s.trust_on_first_use = tofu;
    s
}

/// A connector config with these servers.
pub fn connector(servers: Vec<ServerConfig>) -> ConnectorConfig {
    ConnectorConfig {
        name: "opcua-test".into(),
        uplink: None,
        modbus: Default::default(),
        opcua: OpcUaConfig { servers },
    }
}

/// Receives samples until `pred` holds for one, or the timeout; returns it.
pub async fn wait_for(
    rx: &mut mpsc::Receiver<Sample>,
    within: Duration,
    pred: impl Fn(&Sample) -> bool,
) -> Option<Sample> {
    tokio::time::timeout(within, async {
        while let Some(s) = rx.recv().await {
            if pred(&s) {
                return Some(s);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// True for a good sample of `tag` with number `v`.
pub fn is_good(s: &Sample, tag: &str, v: f64) -> bool {
    s.tag == tag
        && s.quality == Quality::Good
        && s.value.as_ref().and_then(|x| x.as_f64()) == Some(v)
}

/// A TCP proxy that can black-hole traffic (a network that drops packets without closing
/// connections), to test detection of silent links.
pub struct Proxy {
    /// Where clients connect.
    pub addr: std::net::SocketAddr,
    /// While true, bytes in both directions are read and discarded.
    pub paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Closes every open connection (a network drop the server outlives).
    pub fn cut(&self) {
        self.cut.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut cut: tokio::sync::watch::Receiver<u64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    cut.borrow_and_update();
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = cut.changed() => return,
        };
        if paused.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Starts a proxy to `target` on a free loopback port.
pub async fn proxy(target: std::net::SocketAddr) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let p = paused.clone();
    let (cut, cut_rx) = tokio::sync::watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            conns.spawn(pump(cr, sw, p.clone(), cut_rx.clone()));
            conns.spawn(pump(sr, cw, p.clone(), cut_rx.clone()));
        }
    });
    Proxy {
        addr,
        paused,
        cut,
        task,
    }
}

/// A running OPC UA driver with its counters.
pub struct OpcUaRun {
    pub rx: mpsc::Receiver<Sample>,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub stats: std::sync::Arc<millwright_connectors::opcua::connection::OpcUaStats>,
}

/// Runs the OPC UA driver alone for these servers.
pub fn run_opcua(servers: Vec<ServerConfig>) -> OpcUaRun {
    use millwright_connectors::driver::{Driver, DriverContext};
    let driver = millwright_connectors::opcua::OpcUaDriver::new(OpcUaConfig { servers });
    let stats = driver.stats();
    let (tx, rx) = mpsc::channel(10_000);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (_, commands) = mpsc::channel(1);
    tokio::spawn(Box::new(driver).run(DriverContext {
        output: tx,
        commands,
        shutdown,
    }));
    OpcUaRun { rx, stop, stats }
}
