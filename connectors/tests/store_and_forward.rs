//! Store-and-forward: the platform (a small axum server speaking the ingest contract) stops for
//! a while, the connector is restarted in between, and every polled sample arrives exactly once.

mod common;

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use millwright_connectors::{
    config::UplinkConfig,
    runtime::Connector,
    simulator::{Plant, PlantKind},
    uplink::UplinkStats,
};
use serde_json::{json, Value};

const TOKEN: &str = "mwd_test";
/// Smaller than the connector's batches, so it must split on 413.
const MAX_PER_REQUEST: usize = 150;

#[derive(Default)]
struct Platform {
    down: AtomicBool,
    seen: Mutex<HashSet<(String, String)>>,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    requests_413: AtomicU64,
    delay_ms: AtomicU64,
}

async fn ingest(
    State(p): State<Arc<Platform>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if p.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"title": "down"})),
        );
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"title": "bad token"})),
        );
    }
    let delay = p.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let samples = body["samples"].as_array().cloned().unwrap_or_default();
    if samples.len() > MAX_PER_REQUEST {
        p.requests_413.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"title": "too large"})),
        );
    }
    let (mut accepted, mut duplicates) = (0, 0);
    let mut seen = p.seen.lock().unwrap();
    for s in samples {
        let key = (
            s["tag"].as_str().unwrap().to_string(),
            s["time"].as_str().unwrap().to_string(),
        );
        assert!(s["quality"].is_string());
        if seen.insert(key) {
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    p.accepted.fetch_add(accepted, Ordering::SeqCst);
    p.duplicates.fetch_add(duplicates, Ordering::SeqCst);
    (
        StatusCode::OK,
        Json(json!({"accepted": accepted, "duplicates": duplicates, "rejected": []})),
    )
}

async fn serve(p: Arc<Platform>, addr: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v1/ingest", post(ingest))
        .with_state(p);
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

fn received(stats: &UplinkStats) -> u64 {
    UplinkStats::get(&stats.received)
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_arrives_exactly_once_across_an_outage_and_a_restart() {
    common::init_tracing();
    let plant = Plant::start(PlantKind::Machinery, 11, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let platform = Arc::new(Platform::default());
    let (addr, server) = serve(platform.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut cfg = plant.connector_config(Some(UplinkConfig {
        platform_url: format!("http://{addr}"),
        token: TOKEN.into(),
        queue_dir: queue.path().to_path_buf(),
        queue_max_bytes: 64 * 1024 * 1024,
        batch_max_samples: 400,
        flush_interval_ms: 200,
        request_timeout_ms: 2000,
        command_poll_ms: 1000,
        ca_file: None,
        durable: false,
    }));
    for d in &mut cfg.modbus.devices {
        d.poll_interval_ms = 100;
    }

    // Platform up.
    let c1 = Connector::start(cfg.clone()).await.unwrap();
    wait_for("first deliveries", Duration::from_secs(10), || {
        platform.accepted.load(Ordering::SeqCst) > 0
    })
    .await;
    // Platform stops: answers 503 on open connections, then stops listening altogether.
    platform.down.store(true, Ordering::SeqCst);
    server.abort();
    let _ = server.await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats1 = c1.stats.clone();
    c1.stop().await.unwrap();
    assert!(
        UplinkStats::get(&stats1.queued) > 0,
        "batches were queued during the outage"
    );

    // Connector restarted while the platform is still down.
    let c2 = Connector::start(cfg.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Platform back on the same address.
    platform.down.store(false, Ordering::SeqCst);
    let (_, _server) = serve(platform.clone(), addr).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats2 = c2.stats.clone();
    c2.stop().await.unwrap();

    // A last run without devices drains what is left on disk.
    let mut drain_cfg = cfg.clone();
    drain_cfg.modbus.devices.clear();
    let c3 = Connector::start(drain_cfg).await.unwrap();
    let dir = queue.path().to_path_buf();
    wait_for("the queue to drain", Duration::from_secs(20), || {
        std::fs::read_dir(&dir).unwrap().count() == 0
    })
    .await;
    c3.stop().await.unwrap();

    let polled = received(&stats1) + received(&stats2);
    let seen = platform.seen.lock().unwrap().len() as u64;
    assert!(polled > 100, "polled {polled}");
    assert_eq!(
        UplinkStats::get(&stats1.dropped) + UplinkStats::get(&stats2.dropped),
        0
    );
    assert_eq!(
        seen, polled,
        "distinct samples at the platform vs samples polled"
    );
    assert_eq!(platform.accepted.load(Ordering::SeqCst), polled);
    assert!(
        platform.requests_413.load(Ordering::SeqCst) > 0,
        "the batch splitting on 413 was exercised"
    );
    // Every tag of the plant arrived.
    let tags: HashSet<String> = platform
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    let expected: HashSet<String> = cfg
        .modbus
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(|t| t.platform_tag.clone().unwrap()))
        .collect();
    assert_eq!(tags, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_edge_feeds_every_tag_of_three_plants() {
    use millwright_connectors::edge::{Edge, EdgeOptions, PlantSpec};
    let platform = Arc::new(Platform::default());
    let (addr, _server) = serve(platform.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = EdgeOptions {
        plants: PlantKind::ALL
            .iter()
            .enumerate()
            .map(|(i, k)| PlantSpec {
                kind: *k,
                seed: i as u64,
                token: TOKEN.into(),
            })
            .collect(),
        platform_url: format!("http://{addr}"),
        data_dir: dir.path().to_path_buf(),
        poll_interval_ms: 200,
    };
    let edge = Edge::start(&opts).await.unwrap();
    // The machinery plant's CNCs report over OPC UA, the rest over Modbus: same tag names.
    assert_eq!(edge.opcua_servers.len(), 1);
    let expected: HashSet<String> = edge.tags().into_iter().map(|t| t.platform_tag).collect();
    assert!(expected.len() > 150, "{}", expected.len());
    wait_for("every tag at the platform", Duration::from_secs(20), || {
        let seen = platform.seen.lock().unwrap();
        let tags: HashSet<&String> = seen.iter().map(|(t, _)| t).collect();
        expected.iter().all(|t| tags.contains(t))
    })
    .await;
    edge.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_long_backlog_does_not_starve_live_data() {
    use millwright_connectors::uplink::queue::DiskQueue;
    let plant = Plant::start(PlantKind::Machinery, 2, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let platform = Arc::new(Platform::default());
    platform.delay_ms.store(20, Ordering::SeqCst); // 200 queued batches take 4 s or more to replay
    let (addr, _server) = serve(platform.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let queue = tempfile::tempdir().unwrap();
    {
        let mut q = DiskQueue::open(queue.path(), 64 * 1024 * 1024).unwrap();
        for b in 0..200 {
            let samples: Vec<Value> = (0..10)
                .map(|i| json!({"tag": "old.x", "time": format!("2026-11-28T00:{:02}:{:02}.{:03}Z", b / 60, b % 60, i), "value": 1.0, "quality": "good"}))
                .collect();
            q.push(
                &serde_json::to_vec(&json!({ "samples": samples })).unwrap(),
                10,
            )
            .unwrap();
        }
    }
    let cfg = plant.connector_config(Some(UplinkConfig {
        platform_url: format!("http://{addr}"),
        token: TOKEN.into(),
        queue_dir: queue.path().to_path_buf(),
        queue_max_bytes: 64 * 1024 * 1024,
        batch_max_samples: 100,
        flush_interval_ms: 200,
        request_timeout_ms: 2000,
        command_poll_ms: 1000,
        ca_file: None,
        durable: false,
    }));
    let c = Connector::start(cfg).await.unwrap();
    let start = tokio::time::Instant::now();
    wait_for("live samples", Duration::from_secs(3), || {
        platform
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(t, _)| t.starts_with("machinery."))
    })
    .await;
    let live_after = start.elapsed();
    let old_so_far = platform
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == "old.x")
        .count();
    assert!(
        old_so_far < 2000,
        "live data waited for the whole backlog ({old_so_far} old samples first)"
    );
    assert!(old_so_far > 0, "replay runs beside live data");
    wait_for("the backlog", Duration::from_secs(30), || {
        platform
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == "old.x")
            .count()
            == 2000
    })
    .await;
    eprintln!(
        "first live sample after {live_after:?}, with {old_so_far} of 2000 old samples replayed"
    );
    c.stop().await.unwrap();
}

#[tokio::test]
async fn the_client_reads_each_status_of_the_contract() {
    use axum::response::IntoResponse;
    use millwright_connectors::uplink::client::{IngestClient, Outcome};
    let app = Router::new().route(
        "/api/v1/ingest",
        post(|body: String| async move {
            let code: u16 = serde_json::from_str::<Value>(&body).unwrap()["code"].as_u64().unwrap() as u16;
            let status = StatusCode::from_u16(code).unwrap();
            let body = if code == 200 {
                json!({"accepted": 2, "duplicates": 1, "rejected": [{"index": 0, "field": "samples[0].value", "detail": "not a number"}]})
            } else {
                json!({"title": "x"})
            };
            (status, Json(body)).into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client =
        IngestClient::new(&format!("http://{addr}/"), TOKEN, Duration::from_secs(2)).unwrap();
    let send = |code: u16| client.send(serde_json::to_vec(&json!({ "code": code })).unwrap());
    assert_eq!(
        send(200).await,
        Outcome::Delivered {
            accepted: 2,
            duplicates: 1,
            rejected: 1
        }
    );
    assert_eq!(send(413).await, Outcome::TooLarge);
    assert!(
        matches!(send(401).await, Outcome::Retry(_)),
        "a bad token keeps the batches"
    );
    assert!(matches!(send(429).await, Outcome::Retry(_)));
    assert!(matches!(send(503).await, Outcome::Retry(_)));
    assert!(matches!(send(422).await, Outcome::Refused(_)));
    let dead = IngestClient::new("http://127.0.0.1:9", TOKEN, Duration::from_millis(500)).unwrap();
    assert!(matches!(dead.send(b"{}".to_vec()).await, Outcome::Retry(_)));
}
