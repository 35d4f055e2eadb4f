//! The predictive-maintenance lifecycle over real HTTP against the real server and database:
//! training jobs, model versions, promotion, online scoring and alarms on synthetic history
//! (see `synthetic`) and on the simulator's own physics, with tenant isolation of every new
//! table.

mod synthetic;

use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_platform::maintenance::Scorer;
use millwright_platform::store::entities::{EntityFields, Kind};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::test_util::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use synthetic::*;

#[tokio::test]
async fn anomaly_and_rul_models_train_and_score_and_versions_number_up() {
    let app = TestApp::spawn().await;
    let p = plant(&app.store, "moulders").await;
    let (start, end) = history(&app, &p).await;
    let request = |kind: &str| {
        json!({
            "machine_class": CLASS, "kind": kind,
            "from": start.to_rfc3339(), "to": end.to_rfc3339(),
            "horizon_hours": 6, "step_secs": 900, "window": 8, "trees": 20,
            "holdout": "machine", "holdout_fraction": 0.4,
        })
    };
    let anomaly = train(&app, &p.key, request("anomaly")).await;
    eprintln!("anomaly metrics: {}", anomaly["metrics"]);
    let m = &anomaly["metrics"];
    assert!(
        m["detection_rate"].as_f64().unwrap() > m["false_alarm_rate"].as_f64().unwrap(),
        "{m}"
    );
    let rul = train(&app, &p.key, request("rul")).await;
    eprintln!("rul metrics: {}", rul["metrics"]);
    assert!(
        rul["metrics"]["rmse_hours"].as_f64().unwrap() < 12.0,
        "{}",
        rul["metrics"]
    );
    assert_eq!(
        rul["params"]["request"]["alarm_threshold"], 6.0,
        "RUL alarms below the horizon by default"
    );

    // Versions number up per (class, kind); one promoted at a time.
    let again = train(&app, &p.key, request("rul")).await;
    assert_eq!(
        (rul["version"].as_i64(), again["version"].as_i64()),
        (Some(1), Some(2))
    );
    for v in [&rul, &again, &anomaly] {
        let path = format!("/api/v1/models/versions/{}/promote", v["id"]);
        let (s, got, _) = app.call(Method::POST, &path, Some(&p.key), None).await;
        assert_eq!(s, StatusCode::OK, "{got}");
    }
    let (_, listed, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/models/versions?machine_class={CLASS}&kind=rul"),
            Some(&p.key),
            None,
        )
        .await;
    let promoted: Vec<(i64, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["promoted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        promoted,
        [(2, true), (1, false)],
        "newest first, the first demoted"
    );

    // One scoring round writes both predictions as derived tags of every machine.
    let report = Scorer::new().run_once(&app.store, p.tenant).await.unwrap();
    assert_eq!(report.scored, 10, "{report:?}");
    let (_, tags, _) = app
        .call(Method::GET, "/api/v1/tags?limit=1000", Some(&p.key), None)
        .await;
    let derived: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["derived"] == true)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(derived.len(), 10, "{derived:?}");
    assert!(
        derived.contains(&"imm-0.pm.rul_hours") && derived.contains(&"imm-4.pm.anomaly_score"),
        "{derived:?}"
    );
    let id = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "imm-3.pm.rul_hours")
        .unwrap()["id"]
        .clone();
    let (_, latest, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/samples/latest?tags={id}"),
            Some(&p.key),
            None,
        )
        .await;
    eprintln!("healthy machine's RUL: {latest}");
}

#[tokio::test]
async fn a_degrading_machine_alarms_before_it_fails_and_its_healthy_twin_does_not() {
    let app = TestApp::spawn().await;
    let p = plant(&app.store, "moulders").await;
    let other = plant(&app.store, "others").await;
    let (start, end) = history(&app, &p).await;

    // Train through the API and follow the job to the end.
    let request = json!({
        "machine_class": CLASS, "kind": "failure",
        "from": start.to_rfc3339(), "to": end.to_rfc3339(),
        "horizon_hours": 6, "step_secs": 900, "window": 8, "trees": 30,
    });
    let began = Instant::now();
    let (s, job, _) = app
        .call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(&p.key),
            Some(request.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "queued");
    let job = wait_for_job(&app, &p.key, job["id"].as_i64().unwrap()).await;
    let training_secs = began.elapsed().as_secs_f64();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 1.0);
    let version_id = job["version_id"].as_i64().unwrap();

    // The version, listed and fetched, with its metrics; then promoted.
    let (s, versions, _) = app
        .call(
            Method::GET,
            "/api/v1/models/versions?kind=failure",
            Some(&p.key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{versions}");
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let v = &versions[0];
    assert_eq!(
        (v["id"].as_i64(), v["version"].as_i64()),
        (Some(version_id), Some(1))
    );
    assert_eq!(v["machine_class"], CLASS);
    assert_eq!(v["promoted"], false);
    assert_eq!(v["machines"].as_array().unwrap().len(), 5);
    eprintln!("metrics: {}", v["metrics"]);
    assert!(v["metrics"]["rows_train"].as_u64().unwrap() > 100, "{v}");
    let path = format!("/api/v1/models/versions/{version_id}/promote");
    let (s, promoted, _) = app.call(Method::POST, &path, Some(&p.key), None).await;
    assert_eq!((s, &promoted["promoted"]), (StatusCode::OK, &json!(true)));

    // Replay a fresh degrading machine (failing 40 hours after maintenance) and a healthy
    // twin, an hour at a time, scoring after each hour, up to the failure.
    let replay = end + Duration::hours(10);
    let failure_at = replay + Duration::hours(40);
    let mut degrading = p.machine(&app.store, "imm-degrading", 100).await;
    let mut twin = p.machine(&app.store, "imm-twin", 101).await;
    event(&app, &p.key, degrading.id, "maintenance", replay).await;
    event(&app, &p.key, twin.id, "maintenance", replay).await;
    let mut scorer = Scorer::new();
    let mut t = replay;
    while t < failure_at {
        let next = t + Duration::hours(1);
        let mut rows =
            degrading.samples(t, next, |x| (x - replay).num_minutes() as f64 / 60.0 / 40.0);
        rows.extend(twin.samples(t, next, |_| 0.0));
        ingest(&app.store, p.tenant, &rows).await;
        let report = scorer.run_once(&app.store, p.tenant).await.unwrap();
        // The five training machines, plus the two replayed ones once they have a window.
        let expected = if next >= replay + Duration::hours(2) {
            7
        } else {
            5
        };
        assert_eq!(report.scored, expected, "at {t}");
        t = next;
    }
    event(&app, &p.key, degrading.id, "failure", failure_at).await;

    let (s, open, _) = app
        .call(Method::GET, "/api/v1/alarms?state=open", Some(&p.key), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{open}");
    let alarms: Vec<&Value> = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["machine_id"] == degrading.id || a["machine_id"] == twin.id)
        .collect();
    assert_eq!(
        alarms.len(),
        1,
        "one alarm, on the degrading machine only: {open}"
    );
    let alarm = alarms[0];
    assert_eq!(alarm["machine_id"], degrading.id);
    assert_eq!(alarm["kind"], "failure");
    let raised: DateTime<Utc> = alarm["raised_at"].as_str().unwrap().parse().unwrap();
    let lead = failure_at - raised;
    eprintln!(
        "training took {training_secs:.2} s; alarm raised {:.2} h before the failure (p = {})",
        lead.num_minutes() as f64 / 60.0,
        alarm["value"]
    );
    assert!(
        lead > Duration::zero(),
        "alarm at {raised}, failure at {failure_at}"
    );
    let (_, twin_alarms, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/alarms?machine_id={}", twin.id),
            Some(&p.key),
            None,
        )
        .await;
    assert_eq!(twin_alarms, json!([]), "the healthy twin never alarmed");

    // The prediction is a derived tag of the machine, written through ingest.
    let (_, tags, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/tags?machine_id={}", degrading.id),
            Some(&p.key),
            None,
        )
        .await;
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "imm-degrading.pm.failure_probability"),
        "{tags}"
    );

    // Repaired, the machine runs normally again; once a full window is in, the alarm clears.
    let repaired = failure_at + Duration::hours(1);
    event(&app, &p.key, degrading.id, "repair", repaired).await;
    for h in 0..3 {
        let from = repaired + Duration::hours(h);
        let rows = degrading.samples(from, from + Duration::hours(1), |_| 0.0);
        ingest(&app.store, p.tenant, &rows).await;
        scorer.run_once(&app.store, p.tenant).await.unwrap();
    }
    let path = format!("/api/v1/alarms?state=cleared&machine_id={}", degrading.id);
    let (_, cleared, _) = app.call(Method::GET, &path, Some(&p.key), None).await;
    assert_eq!(cleared.as_array().unwrap().len(), 1, "{cleared}");
    assert_eq!(cleared[0]["id"], alarm["id"]);
    let cleared_at: DateTime<Utc> = cleared[0]["cleared_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(cleared_at, repaired, "cleared by the repair: {cleared}");

    // An engineer acknowledges it.
    let id = alarm["id"].as_i64().unwrap();
    let path = format!("/api/v1/alarms/{id}/ack");
    let (s, acked, _) = app
        .call(
            Method::POST,
            &path,
            Some(&p.key),
            Some(json!({"by": "maintenance lead"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{acked}");
    // The signed-in caller, with the name given at the console.
    let by = acked["acknowledged_by"].as_str().unwrap();
    assert!(
        by.starts_with("key mwk_") && by.ends_with("(maintenance lead)"),
        "{by}"
    );
    assert!(acked["acknowledged_at"].is_string());
    let bad = app
        .call(Method::POST, &path, Some(&p.key), Some(json!({"by": ""})))
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "by");
    let (s, again, _) = app.call(Method::POST, &path, Some(&p.key), None).await;
    assert_eq!(s, StatusCode::OK, "no body is fine: {again}");
    assert_eq!(
        again["acknowledged_by"], by,
        "the first acknowledgement stands"
    );

    // Another tenant sees none of it.
    let k = &other.key;
    for path in [
        format!("/api/v1/models/training-jobs/{}", job["id"]),
        format!("/api/v1/models/versions/{version_id}"),
        format!("/api/v1/machines/{}/events", degrading.id),
    ] {
        let (s, v, _) = app.call(Method::GET, &path, Some(k), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/models/versions/{version_id}/promote"),
        ),
        (Method::POST, format!("/api/v1/alarms/{id}/ack")),
    ] {
        let (s, v, _) = app.call(method, &path, Some(k), Some(json!({}))).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    for path in ["/api/v1/models/versions", "/api/v1/alarms"] {
        let (s, v, _) = app.call(Method::GET, path, Some(k), None).await;
        assert_eq!((s, v), (StatusCode::OK, json!([])), "{path}");
    }
    let body = json!({"kind": "failure", "at": Utc::now().to_rfc3339()});
    let path = format!("/api/v1/machines/{}/events", degrading.id);
    let (s, _, _) = app.call(Method::POST, &path, Some(k), Some(body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // ... and its own training finds no machine of the class.
    let (_, job, _) = app
        .call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(k),
            Some(request),
        )
        .await;
    let job = wait_for_job(&app, k, job["id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("no machine of class"),
        "{job}"
    );

    // A second version of the same class and kind is number 2; promoting it demotes the first.
    let mut s = app.store.tenant(p.tenant).await.unwrap();
    assert_eq!(s.promoted_models().await.unwrap().len(), 1);
}

/// The simulator's own physics and ground truth: sewing stations run for 200 simulated hours
/// (needle wear, tension spring, motor bearing degrading toward faults), their event logs are
/// recorded as machine events, and a failure model trained on three of them ranks the hold-out
/// station's pre-failure hours above its healthy ones.
#[tokio::test]
async fn the_simulators_physics_and_event_log_train_a_failure_model() {
    use millwright_connectors::simulator::bank::Bank;
    use millwright_connectors::simulator::machine::{Machine, MachineKind, SimEventKind};
    use millwright_platform::store::events::{EventKind, NewEvent};

    let app = TestApp::spawn().await;
    let p = plant(&app.store, "tailors").await;
    let channels = ["stitches_per_minute", "thread_tension", "needle_temp"];
    let start = (Utc::now() - Duration::days(30))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let hours = 200.0;
    let mut session = app.store.tenant(p.tenant).await.unwrap();
    let mut failures = 0;
    for k in 0..4 {
        let name = format!("sew-{k}");
        let mut fields = EntityFields {
            parent_id: Some(p.line),
            name: Some(name.clone()),
            kind: Some("sewing".into()),
            ..Default::default()
        };
        let id = session.create(Kind::Machine, &fields).await.unwrap().id();
        let mut tags = Vec::new();
        for c in channels {
            fields = EntityFields {
                parent_id: Some(id),
                name: Some(format!("{name}.{c}")),
                ..Default::default()
            };
            tags.push(session.create(Kind::Tag, &fields).await.unwrap().id());
        }
        let mut machine = Machine::new(name, MachineKind::Sewing, 2026 + k);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        let layout: Vec<_> = channels
            .iter()
            .map(|c| {
                machine
                    .layout()
                    .iter()
                    .find(|t| t.name == *c)
                    .unwrap()
                    .clone()
            })
            .collect();
        let (mut rows, dt) = (Vec::new(), 60.0);
        let at = |sim: f64| start + Duration::milliseconds((sim * 1000.0) as i64);
        for step in 0..(hours * 3600.0 / dt) as usize {
            machine.step(dt, &mut bank);
            if step % 5 == 4 {
                let t = at(machine.truth().sim_seconds);
                for (tag, cfg) in tags.iter().zip(&layout) {
                    let value = bank.get(cfg).and_then(|v| v.as_f64());
                    rows.push(SampleRow {
                        tag_id: *tag,
                        time: t,
                        value,
                        quality: Quality::Good,
                    });
                }
            }
            for e in machine.take_events() {
                let kind = match e.kind {
                    SimEventKind::Failure => EventKind::Failure,
                    SimEventKind::Repair => EventKind::Repair,
                    SimEventKind::Maintenance => EventKind::Maintenance,
                };
                failures += usize::from(kind == EventKind::Failure);
                let event = NewEvent {
                    kind,
                    at: at(e.sim_seconds),
                    code: e.code.to_string(),
                    note: String::new(),
                };
                session.record_event(id, &event).await.unwrap().unwrap();
            }
        }
        for chunk in rows.chunks(5000) {
            session.ingest(chunk).await.unwrap();
        }
    }
    drop(session);
    assert!(
        failures >= 8,
        "only {failures} failures in the simulated history"
    );

    let request = json!({
        "machine_class": "sewing", "kind": "failure",
        "from": start.to_rfc3339(),
        "to": (start + Duration::hours(hours as i64)).to_rfc3339(),
        "horizon_hours": 3, "step_secs": 600, "window": 6, "trees": 30,
        "holdout": "machine", "holdout_fraction": 0.25,
    });
    let version = train(&app, &p.key, request).await;
    let m = &version["metrics"];
    eprintln!("{failures} simulated failures; hold-out metrics: {m}");
    assert!(m["positives_test"].as_u64().unwrap() > 0, "{m}");
    assert!(m["auc"].as_f64().unwrap() > 0.7, "{m}");
}
