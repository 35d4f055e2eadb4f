//! `millwright bench opcua`: value changes per second delivered from an OPC UA subscription of
//! many monitored items to the uplink's channel, through the connector's driver, against a bare
//! async-opcua subscription client counting in its callback, in the same run (phases alternate,
//! same server, same update rate). Both count only after a warm-up (subscription creation).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Args;
use opcua::{
    client::{ClientBuilder, DataChangeCallback, IdentityToken},
    crypto::SecurityPolicy,
    types::{MessageSecurityMode, NodeId, TimestampsToReturn},
};
use tokio::sync::mpsc;

use super::{cpu_seconds, Figures};
use crate::{
    config::ConnectorConfig,
    opcua::{
        config::{ServerConfig, TagConfig},
        subscription::item_request,
        OpcUaConfig,
    },
    runtime::Connector,
    simulator::opcua::{start_scratch, OpcUaServer, OpcUaServerOptions},
    Error, Result,
};

/// `millwright bench opcua`.
#[derive(Debug, Clone, Args)]
pub struct BenchOpcUaArgs {
    /// Monitored items (server variables, all changing on every update).
    #[arg(long, default_value_t = 10_000)]
    pub items: usize,
    /// Time between two updates of every variable on the server, in milliseconds (the server
    /// samples at most every 100 ms, so faster updates are not all delivered).
    #[arg(long, default_value_t = 100)]
    pub update_ms: u64,
    /// Seconds measured in each phase (after a warm-up); each side runs two phases.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

const WARM_UP: Duration = Duration::from_secs(2);

fn tag_config(server: &OpcUaServer, items: usize, pki: &std::path::Path) -> ConnectorConfig {
    let mut s = ServerConfig::new("bench", server.url.clone(), pki.to_path_buf());
    s.publishing_interval_ms = 100;
    s.timeout_ms = 30_000;
    s.tags = (0..items)
        .map(|i| {
            let mut t = TagConfig::new(
                format!("v{i}"),
                format!("ns={};s=scratch.{i}", server.namespace),
            );
            t.sampling_interval_ms = Some(0.0);
            t
        })
        .collect();
    ConnectorConfig {
        name: "bench".into(),
        uplink: None,
        modbus: Default::default(),
        opcua: OpcUaConfig { servers: vec![s] },
    }
}

/// Counts from `count` between the end of the warm-up and the end of the phase.
async fn measure(count: &AtomicU64, secs: f64) -> Figures {
    tokio::time::sleep(WARM_UP).await;
    let (v0, cpu0, t0) = (count.load(Ordering::Relaxed), cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    Figures {
        values: count.load(Ordering::Relaxed) - v0,
        seconds: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
    }
}

async fn connector_phase(cfg: &ConnectorConfig, secs: f64) -> Figures {
    let (tx, mut rx) = mpsc::channel::<crate::sample::Sample>(crate::runtime::SAMPLE_CHANNEL);
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let sink = tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            if s.value.is_some() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let (_cmd, stop, mut drivers) = Connector::start_drivers(cfg, tx);
    let f = measure(&count, secs).await;
    let _ = stop.send(true);
    while drivers.join_next().await.is_some() {}
    let _ = sink.await;
    f
}

async fn bare_phase(
    server: &OpcUaServer,
    cfg: &ConnectorConfig,
    pki: &std::path::Path,
    secs: f64,
) -> Result<Figures> {
    let err = |e: String| Error::OpcUa {
        context: "bare benchmark client".into(),
        status: e,
    };
    let builder = ClientBuilder::new()
        .application_name("bare bench client")
        .application_uri("urn:millwright:bench")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .max_array_length(1_000_000)
        .max_message_size(64 * 1024 * 1024)
        .max_chunk_count(1024);
    let mut client = tokio::task::spawn_blocking(move || builder.client())
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(|e| err(e.join("; ")))?;
    let (session, event_loop) = client
        .connect_to_matching_endpoint(
            (
                server.url.as_str(),
                SecurityPolicy::None.to_str(),
                MessageSecurityMode::None,
            ),
            IdentityToken::Anonymous,
        )
        .await
        .map_err(|e| err(e.to_string()))?;
    let lp = event_loop.spawn();
    session.wait_for_connection().await;
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let id = session
        .create_subscription(
            Duration::from_millis(100),
            30,
            10,
            0,
            0,
            true,
            DataChangeCallback::new(move |_, _| {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .await
        .map_err(|e| err(e.to_string()))?;
    let tags = &cfg.opcua.servers[0].tags;
    for (ci, chunk) in tags.chunks(1000).enumerate() {
        let reqs = chunk
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let node: NodeId = t.node_id.parse().expect("bench node ids parse");
                item_request(ci * 1000 + j, t, node, 100)
            })
            .collect();
        session
            .create_monitored_items(id, TimestampsToReturn::Both, reqs)
            .await
            .map_err(|e| err(e.to_string()))?;
    }
    let f = measure(&count, secs).await;
    let _ = session.disconnect().await;
    let _ = lp.await;
    Ok(f)
}

/// Runs the benchmark and returns (connector, bare) figures, each summed over its two phases.
pub async fn run(args: &BenchOpcUaArgs) -> Result<(Figures, Figures)> {
    let dir = std::env::temp_dir().join(format!("millwright-bench-opcua-{}", std::process::id()));
    let mut o = OpcUaServerOptions::new(dir.join("server"));
    o.scratch_variables = args.items;
    let server = Arc::new(start_scratch(o).await?);
    let stop = Arc::new(AtomicBool::new(false));
    let updater = {
        let (server, stop, items, every) =
            (server.clone(), stop.clone(), args.items, args.update_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every.max(1)));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                server.set_scratch((0..items).map(|i| (i, n as f64 + i as f64 * 1e-3)));
            }
        })
    };
    let cfg = tag_config(&server, args.items, &dir.join("client"));
    let (mut conn, mut bare) = (Figures::default(), Figures::default());
    for round in 1..=2 {
        eprintln!("bench opcua: round {round}/2, connector phase…");
        let c = connector_phase(&cfg, args.seconds).await;
        eprintln!("bench opcua: round {round}/2, bare client phase…");
        let b = bare_phase(&server, &cfg, &dir.join("bare"), args.seconds).await?;
        for (acc, f) in [(&mut conn, c), (&mut bare, b)] {
            acc.values += f.values;
            acc.seconds += f.seconds;
            acc.cpu += f.cpu;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = updater.await;
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok((conn, bare))
}

/// Runs `millwright bench opcua` and prints its figures; the last line is the connector's rate.
pub async fn bench_opcua(args: BenchOpcUaArgs) -> Result<()> {
    let (c, b) = run(&args).await?;
    let offered = args.items as f64 * 1000.0 / args.update_ms.max(1) as f64;
    println!(
        "items={} update_ms={} offered_changes_per_s={offered:.0} phase_seconds={} phases_per_side=2",
        args.items, args.update_ms, args.seconds
    );
    println!(
        "connector: values_per_s={:.0} cpu_s_per_million_values={:.2} values={}",
        c.rate(),
        c.cpu_per_million(),
        c.values
    );
    println!(
        "bare:      values_per_s={:.0} cpu_s_per_million_values={:.2} values={}",
        b.rate(),
        b.cpu_per_million(),
        b.values
    );
    println!(
        "ratio_connector_vs_bare={:.3}",
        c.rate() / b.rate().max(1e-9)
    );
    println!("opcua_values_per_s={:.0}", c.rate());
    Ok(())
}
