//! OPC UA trust and recovery: untrusted certificates refused with a clear error, data resuming
//! after a server restart, and no growth of sessions, tasks or memory across many reconnects.

mod common;

use std::time::Duration;

use common::opcua::*;
use millwright_connectors::{
    opcua::{config::Mode, session},
    sample::Quality,
    simulator::opcua::{start_scratch, OpcUaServerOptions},
    Error,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_refused_with_a_clear_error() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let cfg = secure(scratch_config(&server, dir.path(), 1), Mode::Sign, false);
    let err = session::connect(&cfg)
        .await
        .expect_err("unknown server refused");
    let msg = err.to_string();
    let Error::UntrustedServerCertificate {
        rejected_path,
        path_to_trust_folder,
        thumbprint,
    } = err
    else {
        panic!("wrong error: {msg}");
    };
    assert!(rejected_path.exists(), "certificate saved in rejected/");
    assert_eq!(path_to_trust_folder, dir.path().join("client/trusted"));
    assert!(msg.contains(&thumbprint));
    assert!(
        msg.contains(&format!("into {}", path_to_trust_folder.display())),
        "{msg}"
    );
    assert!(
        msg.contains(&dir.path().join("client/rejected").display().to_string()),
        "{msg}"
    );
    // Doing what the message says makes the next attempt succeed.
    let file = rejected_path.file_name().unwrap();
    std::fs::copy(&rejected_path, path_to_trust_folder.join(file)).unwrap();
    let conn = session::connect(&cfg).await.expect("trusted now");
    conn.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_refuses_our_certificate_says_so() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut o = OpcUaServerOptions::new(dir.path().join("server"));
    o.scratch_variables = 1;
    o.trust_client_certs = false;
    let server = start_scratch(o).await.unwrap();
    let cfg = secure(
        scratch_config(&server, dir.path(), 1),
        Mode::SignAndEncrypt,
        true,
    );
    let err = session::connect(&cfg).await.expect_err("server refuses us");
    assert!(
        matches!(err, Error::ServerRejectedCertificate { .. }),
        "wrong error: {err}"
    );
    assert!(err.to_string().contains("rejected"), "{err}");
    // The server keeps our certificate in its rejected folder, as the message says.
    let rejected = std::fs::read_dir(dir.path().join("server/rejected"))
        .unwrap()
        .count();
    assert_eq!(rejected, 1);
    server.stop().await;
}

/// Restarts the scratch server on the same port and pki; returns the new server.
async fn restart(
    server: millwright_connectors::simulator::opcua::OpcUaServer,
    dir: &std::path::Path,
) -> millwright_connectors::simulator::opcua::OpcUaServer {
    let port = server.addr.port();
    server.stop().await;
    let mut o = OpcUaServerOptions::new(dir.join("server"));
    o.scratch_variables = 1;
    o.port = port;
    let mut tries = 0;
    loop {
        match start_scratch(o.clone()).await {
            Ok(s) => return s,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, "port not free yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("restart failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_marks_bad_then_data_resumes() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let cfg = scratch_config(&server, dir.path(), 1);
    let mut d = common::run_drivers(&connector(vec![cfg]));
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(
        s, "sim.v0", 0.0
    ))
    .await
    .is_some());
    let port = server.addr.port();
    server.stop().await;
    let bad = wait_for(&mut d.rx, Duration::from_secs(20), |s| s.tag == "sim.v0").await;
    let bad = bad.expect("a sample after the server went away");
    assert_eq!(
        (bad.quality, bad.value),
        (Quality::Bad, None),
        "gap is bad, no invented value"
    );
    let mut o = OpcUaServerOptions::new(dir.path().join("server"));
    o.scratch_variables = 1;
    o.port = port;
    let server = start_scratch(o).await.expect("restart on the same port");
    server.set_scratch([(0, 7.0)].into_iter());
    let back = wait_for(&mut d.rx, Duration::from_secs(30), |s| {
        is_good(s, "sim.v0", 7.0)
    })
    .await;
    assert!(back.is_some(), "values resume after the restart");
    let _ = d.stop.send(true);
    server.stop().await;
}

fn rss_kb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_reconnects_do_not_grow_sessions_tasks_or_memory() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut server = scratch_server(dir.path(), 1, None).await;
    let cfg = scratch_config(&server, dir.path(), 1);
    let mut d = run_opcua(vec![cfg]);
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(
        s, "sim.v0", 0.0
    ))
    .await
    .is_some());
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut baseline = None;
    const CYCLES: usize = 12;
    for cycle in 1..=CYCLES {
        server = restart(server, dir.path()).await;
        let v = cycle as f64;
        server.set_scratch([(0, v)].into_iter());
        let back = wait_for(&mut d.rx, Duration::from_secs(30), |s| {
            is_good(s, "sim.v0", v)
        })
        .await;
        assert!(back.is_some(), "values resume after restart {cycle}");
        if cycle == 2 {
            baseline = Some((metrics.num_alive_tasks(), rss_kb()));
        }
    }
    let (tasks0, rss0) = baseline.unwrap();
    let (tasks, rss) = (metrics.num_alive_tasks(), rss_kb());
    assert_eq!(
        d.stats
            .live_sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(tasks <= tasks0 + 2, "tasks grew from {tasks0} to {tasks}");
    // Generous bound: allocator noise, but no per-cycle leak of sessions or subscriptions.
    assert!(
        rss < rss0 + 20 * 1024,
        "RSS grew from {rss0} kB to {rss} kB"
    );
    let _ = d.stop.send(true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_is_detected_marked_bad_and_recovered() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let proxy = proxy(server.addr).await;
    let mut cfg = scratch_config(&server, dir.path(), 1);
    cfg.endpoint_url = format!("opc.tcp://{}/", proxy.addr);
    cfg.timeout_ms = 1000;
    cfg.keep_alive_count = 5; // a keep-alive every 0.5 s; silence after 1.5 s
    let mut d = common::run_drivers(&connector(vec![cfg]));
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(
        s, "sim.v0", 0.0
    ))
    .await
    .is_some());
    // Packets vanish; the connection stays open (no FIN, no RST).
    proxy
        .paused
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let bad = wait_for(&mut d.rx, Duration::from_secs(15), |s| s.tag == "sim.v0").await;
    let bad = bad.expect("the silent link is noticed");
    assert_eq!((bad.quality, bad.value), (Quality::Bad, None));
    proxy
        .paused
        .store(false, std::sync::atomic::Ordering::Relaxed);
    server.set_scratch([(0, 9.0)].into_iter());
    let back = wait_for(&mut d.rx, Duration::from_secs(30), |s| {
        is_good(s, "sim.v0", 9.0)
    })
    .await;
    assert!(back.is_some(), "values resume when the network is back");
    let _ = d.stop.send(true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_marks_bad_then_data_resumes() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let proxy = proxy(server.addr).await;
    let mut cfg = scratch_config(&server, dir.path(), 1);
    cfg.endpoint_url = format!("opc.tcp://{}/", proxy.addr);
    let mut d = run_opcua(vec![cfg]);
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(
        s, "sim.v0", 0.0
    ))
    .await
    .is_some());

    for round in 1..=3 {
        proxy.cut();
        let bad = wait_for(&mut d.rx, Duration::from_secs(15), |s| s.tag == "sim.v0").await;
        assert_eq!(bad.map(|s| s.quality), Some(Quality::Bad), "round {round}");
        let v = 10.0 + round as f64;
        server.set_scratch([(0, v)].into_iter());
        let back = wait_for(&mut d.rx, Duration::from_secs(20), |s| {
            is_good(s, "sim.v0", v)
        })
        .await;
        assert!(back.is_some(), "values resume after drop {round}");
    }
    assert_eq!(
        d.stats
            .live_sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let _ = d.stop.send(true);
    server.stop().await;
}
