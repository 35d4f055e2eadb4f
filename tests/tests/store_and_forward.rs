//! Store-and-forward against the real platform: a simulated plant, a real connector, the real
//! API on a real PostgreSQL. The platform stops for a while, the connector is stopped and
//! restarted in between (a clean stop: what is in memory goes to the disk queue), the platform
//! comes back on the same address, and every sample the connector polled is stored exactly once
//! (counted in the database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use millwright_connectors::config::UplinkConfig;
use millwright_connectors::edge::plant_tags;
use millwright_connectors::runtime::Connector;
use millwright_connectors::simulator::{Plant, PlantKind};
use millwright_connectors::uplink::UplinkStats;
use millwright_platform::api::{RunningServer, Server};
use millwright_platform::config::{BackendChoice, Settings};
use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_settings, tenant_with_tags};

/// A platform server that can be stopped and started again on the same address.
struct Platform {
    store: Store,
    settings: Settings,
    server: Option<RunningServer>,
}

impl Platform {
    async fn start(&mut self, addr: SocketAddr) -> SocketAddr {
        let mut settings = self.settings.clone();
        settings.http.listen = addr;
        let server = Server::bind(self.store.clone(), Arc::new(settings))
            .await
            .expect("bind")
            .spawn();
        let bound = server.addr;
        self.server = Some(server);
        bound
    }

    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

fn polled(stats: &UplinkStats) -> u64 {
    UplinkStats::get(&stats.received)
}

async fn stored(store: &Store, tenant: i32) -> i64 {
    let client = store.owner_pool().get().await.unwrap();
    client
        .query_one(
            "SELECT (SELECT count(*) FROM samples WHERE tenant_id = $1) \
                  + (SELECT count(*) FROM text_samples WHERE tenant_id = $1)",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) {
    let start = tokio::time::Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_polled_sample_is_stored_exactly_once_across_an_outage_and_a_restart() {
    let settings = fresh_settings(BackendChoice::Plain).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let tenant = tenant_with_tags(&store, "plant-owner", &[]).await;
    let plant = Plant::start(PlantKind::Machinery, 5, [127, 0, 0, 1].into())
        .await
        .unwrap();
    // Register every tag the connector will send.
    let mut session = store.tenant(tenant.id).await.unwrap();
    let tags = plant_tags(&plant);
    for t in &tags {
        let fields = EntityFields {
            parent_id: Some(tenant.machine_id),
            name: Some(t.platform_tag.clone()),
            unit: t.unit.clone(),
            // The machines' ids are text (a string register); they are stored too.
            value_type: t.is_text().then_some(ValueType::Text),
            ..Default::default()
        };
        session.create(Kind::Tag, &fields).await.unwrap();
    }
    drop(session);

    let mut platform = Platform {
        store: store.clone(),
        settings,
        server: None,
    };
    let addr = platform.start("127.0.0.1:0".parse().unwrap()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = plant.connector_config(Some(UplinkConfig {
        platform_url: format!("http://{addr}"),
        token: tenant.key.clone(),
        queue_dir: queue.path().to_path_buf(),
        queue_max_bytes: 64 * 1024 * 1024,
        batch_max_samples: 500,
        flush_interval_ms: 200,
        request_timeout_ms: 2000,
        command_poll_ms: 1000,
        ca_file: None,
        durable: false,
    }));
    for d in &mut config.modbus.devices {
        d.poll_interval_ms = 100;
    }

    // Live, platform up.
    let first = Connector::start(config.clone()).await.unwrap();
    let id = tenant.id.0;
    wait_for("first samples stored", Duration::from_secs(20), || {
        let store = store.clone();
        async move { stored(&store, id).await > 0 }
    })
    .await;
    // The platform goes away; the connector keeps polling into its disk queue, then stops.
    platform.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats1 = first.stats.clone();
    first.stop().await.unwrap();
    assert!(
        UplinkStats::get(&stats1.queued) > 0,
        "batches were queued during the outage"
    );

    // Restarted while the platform is still down, then the platform returns on the same address.
    let second = Connector::start(config.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    platform.start(addr).await;
    let stats2 = second.stats.clone();
    let dir = queue.path().to_path_buf();
    wait_for("the queue to drain", Duration::from_secs(30), || {
        let empty = std::fs::read_dir(&dir).unwrap().count() == 0;
        async move { empty }
    })
    .await;
    second.stop().await.unwrap();
    // Stopping may have queued the last partial batch; a device-less run drains it.
    let mut drain = config.clone();
    drain.modbus.devices.clear();
    let third = Connector::start(drain).await.unwrap();
    wait_for("the final drain", Duration::from_secs(30), || {
        let empty = std::fs::read_dir(&dir).unwrap().count() == 0;
        async move { empty }
    })
    .await;
    third.stop().await.unwrap();

    let polled = polled(&stats1) + polled(&stats2);
    assert!(polled > 200, "polled {polled}");
    assert_eq!(
        UplinkStats::get(&stats1.dropped) + UplinkStats::get(&stats2.dropped),
        0
    );
    assert_eq!(
        stored(&store, tenant.id.0).await as u64,
        polled,
        "stored vs polled"
    );
    platform.stop().await;
    plant.stop().await;
}

/// Queue files written before text values existed (numbers only) replay unchanged beside new
/// ones holding text, into a platform with a text tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_files_from_before_text_values_replay_beside_new_ones() {
    let settings = fresh_settings(BackendChoice::Plain).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let tenant = tenant_with_tags(&store, "queue-owner", &["line.temp"]).await;
    let mut session = store.tenant(tenant.id).await.unwrap();
    let text = EntityFields {
        parent_id: Some(tenant.machine_id),
        name: Some("line.program".into()),
        value_type: Some(ValueType::Text),
        ..Default::default()
    };
    session.create(Kind::Tag, &text).await.unwrap();
    drop(session);
    let mut platform = Platform {
        store: store.clone(),
        settings,
        server: None,
    };
    let addr = platform.start("127.0.0.1:0".parse().unwrap()).await;

    let queue = tempfile::tempdir().unwrap();
    let t = |s: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(5) + chrono::Duration::seconds(s))
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    // The body an earlier connector queued: numbers, and a bad sample without value.
    let old = serde_json::json!({"samples": [
        {"tag": "line.temp", "time": t(0), "value": 21.5, "quality": "good"},
        {"tag": "line.temp", "time": t(1), "quality": "bad"},
    ]});
    std::fs::write(
        queue.path().join("00000000000000000000-2.json"),
        serde_json::to_vec(&old).unwrap(),
    )
    .unwrap();
    let new = millwright_connectors::uplink::encode_batch(&[
        millwright_connectors::sample::Sample::good(
            "line.program",
            chrono::DateTime::parse_from_rfc3339(&t(2)).unwrap().into(),
            millwright_connectors::sample::Value::Text("O1002 FLANGE".into()),
        ),
    ]);
    std::fs::write(queue.path().join("00000000000000000001-1.json"), new).unwrap();

    let config = millwright_connectors::config::ConnectorConfig {
        name: "replay".into(),
        uplink: Some(UplinkConfig {
            platform_url: format!("http://{addr}"),
            token: tenant.key.clone(),
            queue_dir: queue.path().to_path_buf(),
            queue_max_bytes: 64 * 1024 * 1024,
            batch_max_samples: 500,
            flush_interval_ms: 200,
            request_timeout_ms: 2000,
            command_poll_ms: 1000,
            ca_file: None,
            durable: false,
        }),
        modbus: Default::default(),
        opcua: Default::default(),
    };
    let connector = Connector::start(config).await.unwrap();
    let dir = queue.path().to_path_buf();
    wait_for("the queue to drain", Duration::from_secs(30), || {
        let empty = std::fs::read_dir(&dir).unwrap().count() == 0;
        async move { empty }
    })
    .await;
    connector.stop().await.unwrap();
    assert_eq!(stored(&store, tenant.id.0).await, 3);
    let owner = store.owner_pool().get().await.unwrap();
    let program: String = owner
        .query_one("SELECT value FROM text_samples", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(program, "O1002 FLANGE");
    platform.stop().await;
}
