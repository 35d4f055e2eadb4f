//! End to end: a setpoint issued over the platform's HTTP API reaches a simulated machine's
//! holding registers through a real connector (Modbus TCP on loopback), and the command reports
//! done; a command to a tag not marked writable reports failed with the reason.

use std::time::Duration;

use millwright_connectors::config::UplinkConfig;
use millwright_connectors::edge::plant_tags;
use millwright_connectors::modbus::config::TagConfig;
use millwright_connectors::runtime::Connector;
use millwright_connectors::sample::Value as TagValue;
use millwright_connectors::simulator::{Plant, PlantHandle, PlantKind};
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::time::Instant;

const MACHINE: &str = "imm-1";

/// The generated config's tag `name` of machine `MACHINE`.
fn tag_config(plant: &PlantHandle, name: &str) -> TagConfig {
    plant
        .modbus_config(1000)
        .devices
        .into_iter()
        .find(|d| d.name == MACHINE)
        .and_then(|d| d.tags.into_iter().find(|t| t.name == name))
        .expect("tag in the generated config")
}

/// The engineering value the simulated machine holds for `tag`.
fn held(plant: &PlantHandle, tag: &TagConfig) -> Option<f64> {
    let bank = plant.bank(MACHINE).expect("machine bank");
    let value = bank.lock().expect("bank lock").get(tag);
    value.and_then(|v| match v {
        TagValue::Number(n) => Some(n),
        _ => None,
    })
}

struct Platform {
    app: TestApp,
    key: String,
    http: Client,
}

impl Platform {
    async fn issue(&self, tag_id: i64, value: f64) -> i64 {
        let res = self
            .http
            .post(format!("{}/api/v1/tags/{tag_id}/commands", self.app.url))
            .bearer_auth(&self.key)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    async fn command(&self, id: i64) -> Value {
        let res = self
            .http
            .get(format!("{}/api/v1/commands/{id}", self.app.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The command once it has its outcome (done or failed), within `deadline`.
    async fn outcome(&self, id: i64, deadline: Duration) -> Value {
        let until = Instant::now() + deadline;
        loop {
            let c = self.command(id).await;
            if c["status"] == "done" || c["status"] == "failed" {
                return c;
            }
            assert!(
                Instant::now() < until,
                "command {id} still {c} after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setpoint_issued_on_the_platform_reaches_the_machine() {
    let plant = Plant::start(PlantKind::Appliance, 7, [127, 0, 0, 1].into())
        .await
        .expect("plant starts");
    let app = TestApp::spawn().await;
    // Register the plant's tags, plus one no connector feeds.
    let mut names: Vec<String> = plant_tags(&plant)
        .into_iter()
        .map(|t| t.platform_tag)
        .collect();
    names.push("elsewhere.setpoint".into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let tenant = tenant_with_tags(&app.store, "plant", &refs).await;
    let id_of = |name: &str| {
        let i = names.iter().position(|n| n == name).expect("registered");
        tenant.tag_ids[i]
    };

    let queue = tempfile::tempdir().unwrap();
    let config = plant.connector_config(Some(UplinkConfig {
        platform_url: app.url.clone(),
        token: tenant.key.clone(),
        queue_dir: queue.path().join("queue"),
        queue_max_bytes: 16 * 1024 * 1024,
        batch_max_samples: 1000,
        flush_interval_ms: 200,
        request_timeout_ms: 5000,
        command_poll_ms: 100,
        ca_file: None,
        durable: false,
    }));
    let connector = Connector::start(config).await.expect("connector starts");
    let platform = Platform {
        app,
        key: tenant.key.clone(),
        http: Client::new(),
    };

    // Writable setpoints: an f32 and a scaled i16, encoded as the generated config says.
    let barrel = tag_config(&plant, "barrel_setpoint");
    let mould = tag_config(&plant, "mould_setpoint");
    assert!(barrel.writable && mould.writable);
    assert_ne!(held(&plant, &barrel), Some(231.5));
    let barrel_cmd = platform
        .issue(id_of("appliance.imm-1.barrel_setpoint"), 231.5)
        .await;
    let mould_cmd = platform
        .issue(id_of("appliance.imm-1.mould_setpoint"), 42.5)
        .await;
    let done = platform.outcome(barrel_cmd, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(held(&plant, &barrel), Some(231.5));
    let done = platform.outcome(mould_cmd, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "done", "{done}");
    let mould_now = held(&plant, &mould).expect("mould setpoint");
    assert!(
        (mould_now - 42.5).abs() < 1e-9,
        "mould setpoint {mould_now}"
    );

    // A measurement is not writable: refused by the connector, reported failed, nothing written.
    let temp = tag_config(&plant, "mould_temp");
    assert!(!temp.writable);
    let refused = platform
        .issue(id_of("appliance.imm-1.mould_temp"), 99.0)
        .await;
    let failed = platform.outcome(refused, Duration::from_secs(20)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let detail = failed["detail"].as_str().unwrap();
    assert!(
        detail.contains("mould_temp") && detail.contains("not marked writable"),
        "{detail}"
    );

    // A tag this connector does not feed is left for the connector that does.
    let elsewhere = platform.issue(id_of("elsewhere.setpoint"), 1.0).await;
    let polls_later = Instant::now() + Duration::from_millis(500);
    while Instant::now() < polls_later {
        assert_eq!(platform.command(elsewhere).await["status"], "pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    connector.stop().await.expect("connector stops");
    plant.stop().await;
}
