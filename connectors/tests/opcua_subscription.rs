//! OPC UA subscriptions against the project's own async-opcua server over loopback TCP.

mod common;

use std::time::Duration;

use common::opcua::*;
use millwright_connectors::{
    opcua::config::{DeadbandKind, Mode},
    sample::Quality,
};

async fn delivers_changes(mode: Option<Mode>) {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 3, None).await;
    let mut cfg = scratch_config(&server, dir.path(), 3);
    if let Some(m) = mode {
        cfg = secure(cfg, m, true);
    }
    let mut d = common::run_drivers(&connector(vec![cfg]));
    // The initial values arrive first (0.0), then the changes we make.
    let first = wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(s, "sim.v1", 0.0)).await;
    assert!(first.is_some(), "initial value of sim.v1");
    server.set_scratch([(0, 1.5), (1, 2.5), (2, -3.0)].into_iter());
    let got = wait_for(&mut d.rx, Duration::from_secs(10), |s| is_good(s, "sim.v1", 2.5)).await;
    let s = got.expect("change of v1 delivered");
    // The server's source timestamp is kept (not the time we received it).
    assert!((chrono::Utc::now() - s.time).num_seconds().abs() < 5);
    let _ = d.stop.send(true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_delivers_changes() {
    delivers_changes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_delivers_changes_with_sign_and_encrypt() {
    delivers_changes(Some(Mode::SignAndEncrypt)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_deadband_suppresses_small_changes() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let mut cfg = scratch_config(&server, dir.path(), 1);
    cfg.tags[0].deadband_kind = DeadbandKind::Absolute;
    cfg.tags[0].deadband = 1.0;
    let mut d = common::run_drivers(&connector(vec![cfg]));
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(s, "sim.v0", 0.0)).await.is_some());
    // Small steps (0.3 each, within the deadband of the last sent 0.0) then a big one.
    for v in [0.3, 0.6, 0.9] {
        server.set_scratch([(0, v)].into_iter());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.set_scratch([(0, 5.0)].into_iter());
    let mut seen = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(s) = d.rx.recv().await {
            if s.tag == "sim.v0" && s.quality == Quality::Good {
                let v = s.value.as_ref().and_then(|v| v.as_f64()).unwrap();
                seen.push(v);
                if v == 5.0 {
                    break;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the large change arrives; seen {seen:?}");
    assert_eq!(seen, vec![5.0], "changes within the deadband are not sent");
    let _ = d.stop.send(true);
    server.stop().await;
}
