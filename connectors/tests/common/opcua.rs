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
