//! The predictive-maintenance API's validation over real HTTP: machine events (recorded,
//! listed, deleted, confined to their tenant) and training requests whose bad fields are named.

mod synthetic;

use chrono::{DateTime, Duration, Utc};
use millwright_platform::test_util::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use synthetic::*;

#[tokio::test]
async fn events_are_validated_listed_and_confined_to_their_tenant() {
    let app = TestApp::spawn().await;
    let p = plant(&app.store, "a").await;
    let m = p.machine(&app.store, "imm-1", 1).await;
    let path = format!("/api/v1/machines/{}/events", m.id);
    let now = Utc::now();
    let post = |body: Value| app.call(Method::POST, &path, Some(&p.key), Some(body));

    assert_problem(
        &post(json!({"at": now.to_rfc3339()})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "kind",
    );
    assert_problem(
        &post(json!({"kind": "failure"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at",
    );
    assert_problem(
        &post(json!({"kind": "explosion", "at": now.to_rfc3339()})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "kind",
    );
    assert_problem(
        &post(json!({"kind": "failure", "at": "yesterday"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at",
    );
    let future = (now + Duration::days(1)).to_rfc3339();
    assert_problem(
        &post(json!({"kind": "failure", "at": future})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at",
    );
    let long = "x".repeat(201);
    assert_problem(
        &post(json!({"kind": "failure", "at": now.to_rfc3339(), "code": long})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code",
    );
    assert_problem(
        &post(json!({"kind": "failure", "at": now.to_rfc3339(), "colour": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "colour",
    );

    let earlier = now - Duration::hours(2);
    let (s, e, _) = post(json!({"kind": "failure", "at": earlier.to_rfc3339(), "code": "101", "note": "heater band"})).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert_eq!(
        (&e["kind"], &e["code"], &e["machine_id"]),
        (&json!("failure"), &json!("101"), &json!(m.id))
    );
    let (s, _, _) = post(json!({"kind": "repair", "at": now.to_rfc3339()})).await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, list, _) = app.call(Method::GET, &path, Some(&p.key), None).await;
    assert_eq!(s, StatusCode::OK);
    let kinds: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["failure", "repair"]);
    let q = format!(
        "{path}?from={}",
        (now - Duration::hours(1)).to_rfc3339().replace('+', "%2B")
    );
    let (_, list, _) = app.call(Method::GET, &q, Some(&p.key), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let bad = app
        .call(Method::GET, &format!("{path}?limit=0"), Some(&p.key), None)
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "limit");
    let missing = app
        .call(
            Method::GET,
            "/api/v1/machines/999999/events",
            Some(&p.key),
            None,
        )
        .await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND);

    // An event recorded by mistake is deleted, by its own tenant only.
    let b = plant(&app.store, "b").await;
    let one = format!("{path}/{}", e["id"]);
    let (s, _, _) = app.call(Method::DELETE, &one, Some(&b.key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another tenant cannot delete it");
    let (s, _, _) = app.call(Method::DELETE, &one, Some(&p.key), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app.call(Method::DELETE, &one, Some(&p.key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list, _) = app.call(Method::GET, &path, Some(&p.key), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    let (s, _, _) = app.call(Method::GET, &path, Some(&b.key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another tenant's machine");
    let (s, _, _) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn training_requests_name_their_bad_fields() {
    let app = TestApp::spawn().await;
    let p = plant(&app.store, "a").await;
    let from = "2026-01-01T00:00:00Z";
    let to = "2026-01-08T00:00:00Z";
    let post = |body: Value| {
        app.call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(&p.key),
            Some(body),
        )
    };
    let ok = json!({"machine_class": CLASS, "kind": "failure", "from": from, "to": to});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_problem(
        &post(json!({"kind": "failure", "from": from, "to": to})).await,
        unprocessable,
        "machine_class",
    );
    assert_problem(
        &post(with("kind", json!("crystal_ball"))).await,
        unprocessable,
        "kind",
    );
    assert_problem(&post(with("to", json!(from))).await, unprocessable, "to");
    assert_problem(
        &post(with("horizon_hours", json!(-1))).await,
        unprocessable,
        "horizon_hours",
    );
    assert_problem(
        &post(with("step_secs", json!(0.5))).await,
        unprocessable,
        "step_secs",
    );
    assert_problem(
        &post(with("window", json!(1))).await,
        unprocessable,
        "window",
    );
    assert_problem(&post(with("trees", json!(0))).await, unprocessable, "trees");
    assert_problem(
        &post(with("holdout", json!("coin"))).await,
        unprocessable,
        "holdout",
    );
    assert_problem(
        &post(with("epochs", json!(3))).await,
        unprocessable,
        "epochs",
    );
    let bad = app
        .call(
            Method::GET,
            "/api/v1/models/versions?kind=magic",
            Some(&p.key),
            None,
        )
        .await;
    assert_problem(&bad, unprocessable, "kind");
    let bad = app
        .call(
            Method::GET,
            "/api/v1/alarms?state=maybe",
            Some(&p.key),
            None,
        )
        .await;
    assert_problem(&bad, unprocessable, "state");
    let missing = app
        .call(
            Method::GET,
            "/api/v1/models/versions/424242",
            Some(&p.key),
            None,
        )
        .await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND);

    // Machines but no failure events: the job fails and says why.
    let m = p.machine(&app.store, "imm-1", 1).await;
    let mut m = m;
    let start: DateTime<Utc> = from.parse().unwrap();
    let rows = m.samples(start, start + Duration::hours(48), |_| 0.0);
    ingest(&app.store, p.tenant, &rows).await;
    let (s, job, _) = post(with("step_secs", json!(900))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let job = wait_for_job(&app, &p.key, job["id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["message"].as_str().unwrap().contains("failure"),
        "{job}"
    );
}
