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
    let first = wait_for(&mut d.rx, Duration::from_secs(30), |s| {
        is_good(s, "sim.v1", 0.0)
    })
    .await;
    assert!(first.is_some(), "initial value of sim.v1");
    server.set_scratch([(0, 1.5), (1, 2.5), (2, -3.0)].into_iter());
    let got = wait_for(&mut d.rx, Duration::from_secs(10), |s| {
        is_good(s, "sim.v1", 2.5)
    })
    .await;
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

async fn deadband_suppresses_small_changes(kind: DeadbandKind, size: f64) {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let mut cfg = scratch_config(&server, dir.path(), 1);
    cfg.tags[0].deadband_kind = kind;
    cfg.tags[0].deadband = size;
    let mut d = common::run_drivers(&connector(vec![cfg]));
    assert!(wait_for(&mut d.rx, Duration::from_secs(30), |s| is_good(
        s, "sim.v0", 0.0
    ))
    .await
    .is_some());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_deadband_suppresses_small_changes() {
    deadband_suppresses_small_changes(DeadbandKind::Absolute, 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_deadband_suppresses_small_changes() {
    // 1 % of the EURange 0..100 is 1.0, as the absolute case.
    deadband_suppresses_small_changes(DeadbandKind::Percent, 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plant_over_opcua_with_user_identity_maps_every_type() {
    use millwright_connectors::{
        opcua::{
            config::{Acquisition, Identity, Secret},
            session, ServerConfig, TagConfig,
        },
        simulator::{opcua::OpcUaServerOptions, Plant, PlantKind},
    };
    use opcua::types::{CallMethodRequest, NodeId, Variant};
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let plant = Plant::start(PlantKind::Machinery, 5, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let mut o = OpcUaServerOptions::new(dir.path().join("server"));
    o.user = Some(("operator".into(), "s3cret".into()));
    let server = plant.serve_opcua(o).await.unwrap();
    let mut cfg = ServerConfig::new("cnc", server.url.clone(), dir.path().join("client"));
    cfg = secure(cfg, Mode::Sign, true);
    cfg.identity = Identity::UserName {
        user: "operator".into(),
        password: Secret::new("s3cret"),
    };
    let ns = server.namespace;
    // UInt16, Boolean, Float, Double (scaled), UInt32, String; UInt64 polled.
    for t in [
        "state",
        "running",
        "spindle_load",
        "coolant_temp",
        "part_counter",
        "machine_id",
    ] {
        cfg.tags
            .push(TagConfig::new(t, format!("ns={ns};s=cnc-1.{t}")));
    }
    let mut polled = TagConfig::new(
        "operating_seconds",
        format!("ns={ns};s=cnc-1.operating_seconds"),
    );
    polled.acquisition = Acquisition::Poll;
    cfg.tags.push(polled);
    let mut setpoint = TagConfig::new(
        "spindle_setpoint",
        format!("ns={ns};s=cnc-1.spindle_setpoint"),
    );
    setpoint.writable = true;
    cfg.tags.push(setpoint);
    cfg.poll_interval_ms = 100;

    // A wrong password is refused.
    let mut wrong = cfg.clone();
    wrong.identity = Identity::UserName {
        user: "operator".into(),
        password: Secret::new("nope"),
    };
    let e = session::connect(&wrong)
        .await
        .expect_err("wrong password refused");
    assert!(
        !e.to_string().contains("nope"),
        "the password never prints: {e}"
    );

    // The ResetFault method is there (the machine is not in fault, so it reports false).
    let conn = session::connect(&cfg).await.unwrap();
    let r = conn
        .session
        .call_one(CallMethodRequest {
            object_id: NodeId::new(ns, "cnc-1"),
            method_id: NodeId::new(ns, "cnc-1.ResetFault"),
            input_arguments: None,
        })
        .await
        .unwrap();
    assert!(r.status_code.is_good(), "{}", r.status_code);
    assert!(matches!(
        r.output_arguments.as_deref(),
        Some([Variant::Boolean(_)])
    ));
    conn.close().await;

    let tags: Vec<String> = cfg.tags.iter().map(|t| format!("cnc.{}", t.name)).collect();
    let mut d = common::run_drivers(&connector(vec![cfg]));
    let got = common::first_per_tag(&mut d.rx, &tags, Duration::from_secs(30), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(
        got.len(),
        tags.len(),
        "good values for every type: {:?}",
        got.keys()
    );
    assert!(matches!(
        got["cnc.running"].value,
        Some(millwright_connectors::sample::Value::Bool(_))
    ));
    assert!(matches!(
        got["cnc.machine_id"].value,
        Some(millwright_connectors::sample::Value::Text(_))
    ));
    let _ = d.stop.send(true);
    server.stop().await;
    plant.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_nodes_are_bad_and_do_not_affect_the_others() {
    use millwright_connectors::opcua::{config::Acquisition, TagConfig};
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 1, None).await;
    let mut cfg = scratch_config(&server, dir.path(), 1);
    let ns = server.namespace;
    cfg.tags
        .push(TagConfig::new("missing", format!("ns={ns};s=nope")));
    let mut polled = TagConfig::new("missing_polled", format!("ns={ns};s=nope2"));
    polled.acquisition = Acquisition::Poll;
    cfg.tags.push(polled);
    let mut d = common::run_drivers(&connector(vec![cfg]));
    let tags = [
        "sim.v0".to_string(),
        "sim.missing".into(),
        "sim.missing_polled".into(),
    ];
    let got = common::first_per_tag(&mut d.rx, &tags, Duration::from_secs(30), |_| true).await;
    assert_eq!(got["sim.v0"].quality, Quality::Good);
    assert_eq!(got["sim.missing"].quality, Quality::Bad);
    assert_eq!(got["sim.missing_polled"].quality, Quality::Bad);
    let _ = d.stop.send(true);
    server.stop().await;
}

/// Regression (the demo's CNCs went `unknown`): tags with no sampling interval of their own, as
/// the demo configures them, must carry a fresh source timestamp with every change. async-opcua
/// 0.19 servers re-stamped every change after the first with the first source timestamp when
/// the client asked for "−1, the publishing interval", and the platform then dropped them all as
/// duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sampling_keeps_source_timestamps_advancing() {
    use millwright_connectors::{
        opcua::{subscription::sampling_interval, ServerConfig, TagConfig},
        simulator::{
            opcua::{node_id_text, OpcUaServerOptions},
            Plant, PlantKind,
        },
    };
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let plant = Plant::start(PlantKind::Machinery, 2026, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let server = plant
        .serve_opcua(OpcUaServerOptions::new(dir.path().join("server")))
        .await
        .unwrap();
    let mut cfg = ServerConfig::new("m", server.url.clone(), dir.path().join("client"));
    cfg.trust_on_first_use = true;
    cfg.publishing_interval_ms = 500;
    for machine in ["cnc-1", "cnc-2", "cnc-3"] {
        let t = TagConfig::new(
            format!("{machine}.spindle_load"),
            node_id_text(server.namespace, machine, "spindle_load"),
        );
        assert_eq!(t.sampling_interval_ms, None, "the demo's default");
        assert_eq!(sampling_interval(&t, 500), 500.0);
        cfg.tags.push(t);
    }
    let tags: Vec<String> = cfg.tags.iter().map(|t| format!("m.{}", t.name)).collect();
    let mut d = common::run_drivers(&connector(vec![cfg]));
    let mut times: std::collections::HashMap<String, Vec<chrono::DateTime<chrono::Utc>>> =
        Default::default();
    let start = tokio::time::Instant::now();
    // The connection takes up to a few seconds; then 4 s of changes.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(s) = d.rx.recv().await {
            if s.quality == Quality::Good {
                times.entry(s.tag.clone()).or_default().push(s.time);
            }
            let done = tags.iter().all(|t| {
                times.get(t).is_some_and(|v| {
                    v.len() >= 2 && *v.last().unwrap() - v[0] >= chrono::TimeDelta::seconds(4)
                })
            });
            if done {
                break;
            }
        }
    })
    .await;
    for t in &tags {
        let v = times.get(t).cloned().unwrap_or_default();
        let shown = &v[..v.len().min(6)];
        assert!(
            v.len() >= 5,
            "{t}: a changing value every publish, got {v:?}"
        );
        assert!(
            v.windows(2).all(|w| w[1] > w[0]),
            "{t}: every change has a newer source timestamp ({} samples): {shown:?}…",
            v.len()
        );
        assert!(
            *v.last().unwrap() - v[0] >= chrono::TimeDelta::seconds(4),
            "{t}: the source timestamps follow the clock over {:?}: {shown:?}…",
            start.elapsed()
        );
        assert!(
            (chrono::Utc::now() - *v.last().unwrap())
                .num_seconds()
                .abs()
                < 3,
            "{t}: the newest source timestamp is current"
        );
    }
    let _ = d.stop.send(true);
    server.stop().await;
    plant.stop().await;
}
