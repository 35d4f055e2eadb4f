//! Alarm rules and webhooks over real HTTP: the server on port 0, ingest through the API, and
//! a real receiver (axum on port 0) that checks every `Millwright-Signature`, fails on
//! purpose to make the sender retry, and sees redeliveries and test events. Also the rules'
//! validation (fields named), roles and plans, tenant confinement, shelving and the audit log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::Utc;
use millwright_platform::store::admin::NewTenant;
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use millwright_platform::webhooks::signature;
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What the receiver got: (signature header, body).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Bytes)>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<Mutex<usize>>,
}

async fn receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver {
        fail_first: Arc::new(Mutex::new(fail_first)),
        ..Receiver::default()
    };
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let sig = headers
                    .get(signature::HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                state.got.lock().unwrap().push((sig, body));
                let mut fail = state.fail_first.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..150 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn problem_field(v: &Value) -> &str {
    v["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn rules_are_validated_confined_audited_and_open_to_every_plan() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "a", &["imm-1.barrel_temp", "imm-1.recipe"]).await;
    let other = tenant_with_tags(&app.store, "b", &["x.temp"]).await;
    let key = Some(t.key.as_str());
    let post = |body: Value| app.call(Method::POST, "/api/v1/alarm-rules", key, Some(body));
    let tag = t.tag_ids[0];
    for (body, field) in [
        (
            json!({"tag_id": tag, "condition": {"type": "high", "limit": 1}}),
            "name",
        ),
        (
            json!({"name": "r", "condition": {"type": "high", "limit": 1}}),
            "tag_id",
        ),
        (json!({"name": "r", "tag_id": tag}), "condition"),
        (
            json!({"name": "r", "tag_id": other.tag_ids[0], "condition": {"type": "high", "limit": 1}}),
            "tag_id",
        ),
        (
            json!({"name": "r", "tag_id": tag, "tag_suffix": "temp", "condition": {"type": "high", "limit": 1}}),
            "tag_suffix",
        ),
        (
            json!({"name": "r", "tag_id": tag, "condition": {"type": "high", "limit": 1, "deadband": -1}}),
            "condition.deadband",
        ),
        (
            json!({"name": "r", "tag_id": tag, "condition": {"type": "stale", "after_secs": 0}}),
            "condition.after_secs",
        ),
        (
            json!({"name": "r", "tag_id": tag, "condition": {"type": "high", "limit": 1}, "message": "{machine} {colour}"}),
            "message",
        ),
        (
            json!({"name": "r", "tag_id": tag, "condition": {"type": "high", "limit": 1}, "on_delay_secs": -1}),
            "on_delay_secs",
        ),
        (
            json!({"name": "r", "tag_id": tag, "condition": {"type": "high", "limit": 1}, "machine_kind": "imm"}),
            "machine_kind",
        ),
    ] {
        let (s, p, ct) = post(body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(ct, "application/problem+json");
        assert!(
            problem_field(&p).starts_with(field),
            "{body}: expected {field}, got {p}"
        );
    }
    // The recipe is a text tag: rules watch numbers. (Register it as text first.)
    let (s, created, _) = post(json!({
        "name": "hot barrel", "tag_id": tag,
        "condition": {"type": "high", "limit": 230, "deadband": 5},
        "on_delay_secs": 10, "severity": "high",
    }))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["message"],
        "{machine} {tag} = {value} above {limit}"
    );
    let id = created["id"].as_i64().unwrap();
    let (s, p, _) = post(json!({"name": "hot barrel", "tag_suffix": "barrel_temp", "condition": {"type": "low", "limit": 1}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");

    // PATCH keeps what it does not name; switching the condition's kind takes its default message.
    let path = format!("/api/v1/alarm-rules/{id}");
    let (s, changed, _) = app
        .call(
            Method::PATCH,
            &path,
            key,
            Some(json!({"condition": {"type": "rate_of_change", "limit_per_min": 5}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["on_delay_secs"], 10);
    assert_eq!(changed["severity"], "high");
    assert_eq!(
        changed["message"],
        "{machine} {tag} changing {value} per minute, limit {limit}"
    );
    let (s, listed, _) = app
        .call(Method::GET, "/api/v1/alarm-rules", key, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Another tenant sees a 404, never the rule.
    let theirs = Some(other.key.as_str());
    for method in [Method::GET, Method::DELETE] {
        let (s, _, _) = app.call(method, &path, theirs, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &path,
            theirs,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Viewers read rules, engineers manage them, operators do not.
    let viewer = app
        .store
        .issue_api_key(t.id, "v", Role::Viewer)
        .await
        .unwrap();
    let operator = app
        .store
        .issue_api_key(t.id, "o", Role::Operator)
        .await
        .unwrap();
    let engineer = app
        .store
        .issue_api_key(t.id, "e", Role::Engineer)
        .await
        .unwrap();
    let (s, _, _) = app.call(Method::GET, &path, Some(&viewer), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&operator),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&engineer),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The cheapest plan has alarm rules.
    let monitor = app
        .store
        .create_tenant(&NewTenant::named("monitor", Plan::Monitor))
        .await
        .unwrap();
    let mkey = app
        .store
        .issue_api_key(monitor, "k", Role::Owner)
        .await
        .unwrap();
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/alarm-rules", Some(&mkey), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, _, _) = app.call(Method::DELETE, &path, key, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, log, _) = app
        .call(Method::GET, "/api/v1/audit?limit=1000", key, None)
        .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("alarm_rule."))
        .collect();
    assert_eq!(
        actions,
        [
            "alarm_rule.create",
            "alarm_rule.update",
            "alarm_rule.update",
            "alarm_rule.delete"
        ]
    );
}

#[tokio::test]
async fn alarms_from_rules_are_signed_to_webhooks_retried_redelivered_and_shelved() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.allow_private_targets = true;
        s.webhooks.retry_base_secs = 1;
        s.webhooks.poll_secs = 1;
    })
    .await;
    let t = tenant_with_tags(&app.store, "hooks", &["press-1.oil_temp"]).await;
    let key = Some(t.key.as_str());
    let (url, rx) = receiver(2).await;

    // Engineers may not manage webhooks; admins and owners may.
    let engineer = app
        .store
        .issue_api_key(t.id, "e", Role::Engineer)
        .await
        .unwrap();
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/webhooks", Some(&engineer), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            key,
            Some(json!({"url": url, "event_types": ["alarm.exploded"]})),
        )
        .await;
    assert_eq!(
        (s, problem_field(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "event_types[0]")
    );
    let (s, hook, _) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            key,
            Some(json!({"url": url, "description": "line 2 pager"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let hook_id = hook["id"].as_i64().unwrap();
    // The secret is shown once: not in the list, not in the audit log.
    let (_, list, _) = app.call(Method::GET, "/api/v1/webhooks", key, None).await;
    assert!(!list.to_string().contains(&secret));
    assert_eq!(
        list[0]["event_types"],
        json!(["alarm.raised", "alarm.cleared", "alarm.acknowledged"])
    );
    let (_, log, _) = app
        .call(Method::GET, "/api/v1/audit?limit=1000", key, None)
        .await;
    assert!(!log.to_string().contains(&secret[6..]));

    let (s, rule, _) = app
        .call(
            Method::POST,
            "/api/v1/alarm-rules",
            key,
            Some(json!({
                "name": "hot oil", "tag_suffix": "oil_temp",
                "condition": {"type": "high", "limit": 60, "deadband": 2},
                "severity": "critical", "message": "{machine}: {tag} {value} {unit} over {limit}",
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let now = Utc::now();
    let ingest = |values: Vec<(i64, f64)>| {
        let samples: Vec<Value> = values
            .iter()
            .map(|(s, v)| json!({"tag_id": t.tag_ids[0], "time": (now + chrono::Duration::seconds(*s)).to_rfc3339(), "value": v}))
            .collect();
        app.call(
            Method::POST,
            "/api/v1/ingest",
            key,
            Some(json!({"samples": samples})),
        )
    };
    let (s, _, _) = ingest(vec![(-10, 55.0), (-9, 61.5), (-8, 63.0)]).await;
    assert_eq!(s, StatusCode::OK);
    let alarm = wait_for("the rule's alarm", async || {
        let (_, open, _) = app
            .call(Method::GET, "/api/v1/alarms?state=open", key, None)
            .await;
        open.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(alarm["kind"], "rule");
    assert_eq!(alarm["severity"], "critical");
    assert_eq!(alarm["message"], "machine: press-1.oil_temp 61.5  over 60");
    let alarm_id = alarm["id"].as_i64().unwrap();

    // The evaluator's work is on /metrics: three samples against the one rule, one alarm
    // raised, none cleared, the queue drained, and a lag measured.
    let (s, metrics, _) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert_eq!(value("millwright_alerting_samples_evaluated_total"), 3.0);
    assert_eq!(value("millwright_alerting_rule_evaluations_total"), 3.0);
    assert_eq!(value("millwright_alerting_alarms_raised_total"), 1.0);
    assert_eq!(value("millwright_alerting_alarms_cleared_total"), 0.0);
    assert_eq!(value("millwright_alerting_queue_depth"), 0.0);
    assert!(value("millwright_alerting_queue_capacity") >= 1.0);
    let lag = value("millwright_alerting_lag_seconds");
    assert!(lag > 0.0 && lag < 30.0, "{lag}");

    // The receiver answered 500 twice; the third attempt delivers. Every request is signed.
    let deliveries_path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    let delivered = wait_for("a delivered alarm.raised", async || {
        let (_, d, _) = app.call(Method::GET, &deliveries_path, key, None).await;
        d.as_array()?
            .iter()
            .find(|d| d["event_type"] == "alarm.raised" && d["status"] == "succeeded")
            .cloned()
    })
    .await;
    assert_eq!(delivered["attempts"], 3);
    let codes: Vec<i64> = delivered["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 204]);
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    let now_unix = Utc::now().timestamp();
    for (sig, body) in &got {
        signature::verify(&secret, sig, body, now_unix, 300).expect("a valid signature");
        assert!(signature::verify("whsec_wrong", sig, body, now_unix, 300).is_err());
    }
    let envelope: Value = serde_json::from_slice(&got[2].1).unwrap();
    assert_eq!(envelope["type"], "alarm.raised");
    assert_eq!(envelope["data"]["id"], alarm_id);
    let event_id = envelope["id"].as_str().unwrap().to_string();
    // Retries repeat the same event.
    for (_, body) in &got {
        let e: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(e["id"], event_id.as_str());
    }

    // Redelivery sends the same event again as a new delivery.
    let (s, again, _) = app
        .call(
            Method::POST,
            &format!("{deliveries_path}/{}/redeliver", delivered["id"]),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["redelivery_of"], delivered["id"]);
    wait_for("the redelivery", async || {
        (rx.got.lock().unwrap().len() == 4).then_some(())
    })
    .await;
    let (sig, body) = rx.got.lock().unwrap()[3].clone();
    signature::verify(&secret, &sig, &body, Utc::now().timestamp(), 300).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["id"],
        event_id.as_str()
    );
    // Another tenant cannot redeliver it or read the log.
    let other = tenant_with_tags(&app.store, "other", &["y"]).await;
    let (s, _, _) = app
        .call(Method::GET, &deliveries_path, Some(&other.key), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The test endpoint.
    let (s, _, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{hook_id}/test"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_for("the test event", async || {
        (rx.got.lock().unwrap().len() == 5).then_some(())
    })
    .await;
    let test: Value = serde_json::from_slice(&rx.got.lock().unwrap()[4].1).unwrap();
    assert_eq!(test["type"], "webhook.test");

    // Acknowledging sends alarm.acknowledged once, however often it is acknowledged.
    for _ in 0..2 {
        let (s, _, _) = app
            .call(
                Method::POST,
                &format!("/api/v1/alarms/{alarm_id}/ack"),
                key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let types = || -> Vec<String> {
        rx.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                serde_json::from_slice::<Value>(b).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for _ in 0..100 {
        if types().len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, deliveries, _) = app.call(Method::GET, &deliveries_path, key, None).await;
    assert_eq!(types().len(), 6, "{:?} {deliveries}", types());
    let ack: Value = serde_json::from_slice(&rx.got.lock().unwrap()[5].1).unwrap();
    assert_eq!(ack["type"], "alarm.acknowledged");

    // Shelving: hidden from the unshelved list, silent, and inherited by a re-raise.
    let shelve = format!("/api/v1/alarms/{alarm_id}/shelve");
    let (s, p, _) = app
        .call(Method::POST, &shelve, key, Some(json!({"for_secs": 5})))
        .await;
    assert_eq!(
        (s, problem_field(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "for_secs")
    );
    let (s, shelved, _) = app
        .call(
            Method::POST,
            &shelve,
            key,
            Some(json!({"for_secs": 3600, "reason": "sensor being replaced"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{shelved}");
    assert_eq!(shelved["shelve_reason"], "sensor being replaced");
    let (_, visible, _) = app
        .call(
            Method::GET,
            "/api/v1/alarms?state=open&shelved=false",
            key,
            None,
        )
        .await;
    assert_eq!(visible, json!([]));
    // Clears (below 58) and raises again: both silent, and the new alarm is shelved too.
    let (s, _, _) = ingest(vec![(-5, 50.0), (-4, 70.0)]).await;
    assert_eq!(s, StatusCode::OK);
    let reraised = wait_for("the second alarm", async || {
        let (_, all, _) = app
            .call(Method::GET, "/api/v1/alarms?state=open", key, None)
            .await;
        all.as_array()?
            .iter()
            .find(|a| a["id"] != alarm_id)
            .cloned()
    })
    .await;
    assert_eq!(reraised["shelved_until"], shelved["shelved_until"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        rx.got.lock().unwrap().len(),
        6,
        "shelved alarms send nothing"
    );
    let (s, _, _) = app
        .call(Method::POST, &shelve, key, Some(json!({"for_secs": 60})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the first alarm is cleared");
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "ssrf", &["x"]).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "https://user:pw@example.com/x",
        "ftp://example.com/x",
    ] {
        let (s, p, _) = app
            .call(
                Method::POST,
                "/api/v1/webhooks",
                Some(&t.key),
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(
            (s, problem_field(&p)),
            (StatusCode::UNPROCESSABLE_ENTITY, "url"),
            "{url}: {p}"
        );
    }
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&t.key),
            Some(json!({"url": "https://hooks.example.com/mw"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}
