//! The command poller against a fake platform: it claims only its own tags, writes through
//! the driver channel, reports unknown tags as failed, and reports again an outcome the
//! platform could not take.

mod common;

use std::sync::{Arc, Mutex};

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use millwright_connectors::{
    config::UplinkConfig,
    modbus::{DataType, ModbusConfig, RegisterKind, WordOrder},
    uplink::commands::CommandPoller,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[derive(Default)]
struct Fake {
    queries: Mutex<Vec<String>>,
    results: Mutex<Vec<(i64, Value)>>,
    refuse_next_result: Mutex<bool>,
}

async fn pending(State(f): State<Arc<Fake>>, RawQuery(q): RawQuery) -> Json<Value> {
    let mut queries = f.queries.lock().unwrap();
    queries.push(q.unwrap_or_default());
    if queries.len() == 1 {
        Json(json!([
            {"id": 1, "tag": "plant.unknown", "value": 1.0, "status": "delivered"},
            {"id": 2, "tag": "dev.sp", "value": 3.5, "status": "delivered"},
        ]))
    } else {
        Json(json!([]))
    }
}

async fn result(
    State(f): State<Arc<Fake>>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> StatusCode {
    let mut refuse = f.refuse_next_result.lock().unwrap();
    if id == 2 && *refuse {
        *refuse = false;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    f.results.lock().unwrap().push((id, body));
    StatusCode::OK
}

#[tokio::test]
async fn commands_are_claimed_written_and_reported() {
    let fake = Arc::new(Fake {
        refuse_next_result: Mutex::new(true),
        ..Fake::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v1/commands/pending", get(pending))
        .route("/api/v1/commands/{id}/result", post(result))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut sp = common::tag(
        "sp",
        RegisterKind::Holding,
        0,
        DataType::F32,
        WordOrder::Abcd,
    );
    sp.writable = true;
    let modbus = ModbusConfig {
        devices: vec![common::device("dev", "127.0.0.1:1".into(), 1, vec![sp])],
    };
    let uplink = UplinkConfig {
        platform_url: format!("http://{addr}"),
        token: "t".into(),
        queue_dir: std::env::temp_dir(),
        queue_max_bytes: 1 << 20,
        batch_max_samples: 10,
        flush_interval_ms: 100,
        request_timeout_ms: 2000,
        command_poll_ms: 100,
        ca_file: None,
        durable: false,
    };
    // A stand-in driver that accepts every write.
    let (writes, mut rx) = mpsc::channel(4);
    let written = Arc::new(Mutex::new(Vec::new()));
    let w = written.clone();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let cmd: millwright_connectors::driver::WriteCommand = cmd;
            w.lock().unwrap().push((cmd.tag.clone(), cmd.value.clone()));
            let _ = cmd.reply.send(Ok(()));
        }
    });
    let mut poller = CommandPoller::new(&uplink, &modbus, writes).unwrap();

    // First round: both claimed; the unknown tag fails, the write's report is refused.
    assert!(poller.round().await.is_ok());
    assert_eq!(fake.queries.lock().unwrap()[0], "tag=dev.sp");
    assert_eq!(written.lock().unwrap().len(), 1);
    assert_eq!(written.lock().unwrap()[0].0, "dev.sp");
    {
        let results = fake.results.lock().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].0, 1);
        assert_eq!(results[0].1["ok"], false);
        let detail = results[0].1["detail"].as_str().unwrap();
        assert!(detail.contains("plant.unknown"), "{detail}");
    }
    // Second round: the refused report is sent again; nothing is written twice.
    assert!(poller.round().await.is_ok());
    let results = fake.results.lock().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].0, 2);
    assert_eq!(results[1].1["ok"], true);
    assert_eq!(written.lock().unwrap().len(), 1);
}
