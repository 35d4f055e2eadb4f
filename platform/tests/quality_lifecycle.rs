//! Quality records from the simulators' own machine model, through the real server: per plant,
//! the machines' samples are ingested and each unit is recorded through `POST
//! /quality/records` (the platform captures its parameters from the tags), and
//! `GET /quality/root-causes` must put first the parameter the simulator's quality physics
//! uses. For the CNCs a defect model then goes through the lifecycle: trained by a job of kind
//! `defect`, measured on the later records, promoted, and scoring the records posted after.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_connectors::simulator::bank::Bank;
use millwright_connectors::simulator::machine::{Machine, MachineKind};
use millwright_connectors::simulator::PlantKind;
use millwright_platform::store::entities::{EntityFields, Kind};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::test_util::{tenant_with_tags, TestApp, TestTenant};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Tags that count, identify or report state rather than describe the process (as in
/// `tests/quality.rs`).
const NOT_PARAMETERS: [&str; 13] = [
    "state",
    "alarm_code",
    "part_counter",
    "good_parts",
    "scrap_parts",
    "operating_seconds",
    "energy_kwh",
    "running",
    "alarm_active",
    "machine_id",
    "shot_counter",
    "stitch_counter",
    "stoppage_code",
];

/// Simulated minutes between two inspections.
const STEP_MIN: i64 = 10;

struct Simulated {
    machine: Machine,
    bank: Bank,
    id: i64,
    tags: Vec<(String, i64)>,
    parts: u64,
    scrap: u64,
}

/// Machines of `kind` of `plant`, created in the tenant under class `class` with a float tag
/// per process parameter.
async fn machines(
    app: &TestApp,
    t: &TestTenant,
    plant: PlantKind,
    kind: MachineKind,
    class: &str,
) -> Vec<Simulated> {
    let mut s = app.store.tenant(t.id).await.unwrap();
    let line = s
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(t.site_id),
                name: Some(format!("{class} line")),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    let mut out = Vec::new();
    for (i, (name, k, _, _)) in plant.machines().into_iter().enumerate() {
        if k != kind {
            continue;
        }
        let machine = Machine::new(name.clone(), k, 5 + i as u64);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        let id = s
            .create(
                Kind::Machine,
                &EntityFields {
                    parent_id: Some(line),
                    name: Some(name.clone()),
                    kind: Some(class.to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id();
        let mut tags = Vec::new();
        for tag in machine.layout().to_vec() {
            if tag.writable || NOT_PARAMETERS.contains(&tag.name.as_str()) {
                continue;
            }
            let fields = EntityFields {
                parent_id: Some(id),
                name: Some(format!("{name}.{}", tag.name)),
                ..Default::default()
            };
            tags.push((
                tag.name.clone(),
                s.create(Kind::Tag, &fields).await.unwrap().id(),
            ));
        }
        out.push(Simulated {
            machine,
            bank,
            id,
            tags,
            parts: 0,
            scrap: 0,
        });
    }
    out
}

/// Runs the machines `steps` steps of `STEP_MIN` simulated minutes from `start`; after each
/// step that made parts, the tags' values are ingested at that time and one unit is recorded
/// through the API (scrap with the step's share of scrap parts). Returns (units, scrap).
async fn produce(
    app: &TestApp,
    t: &TestTenant,
    ms: &mut [Simulated],
    start: DateTime<Utc>,
    steps: usize,
    serial: &str,
) -> (usize, usize, Vec<Value>) {
    let mut samples = Vec::new();
    let mut records = Vec::new();
    let mut scrap_units = 0;
    let mut outcomes = Vec::new();
    let mut pick = StdRng::seed_from_u64(0xabc ^ steps as u64);
    for step in 0..steps {
        let at = start + Duration::minutes(STEP_MIN * step as i64);
        for m in ms.iter_mut() {
            m.machine.step(STEP_MIN as f64 * 60.0, &mut m.bank);
            let truth = m.machine.truth();
            let (made, scrapped) = (truth.parts - m.parts, truth.scrap - m.scrap);
            (m.parts, m.scrap) = (truth.parts, truth.scrap);
            let _ = m.machine.take_parts();
            if made == 0 {
                continue;
            }
            let layout = m.machine.layout().to_vec();
            for (name, tag) in &m.tags {
                let cfg = layout.iter().find(|c| &c.name == name).unwrap();
                if let Some(v) = m.bank.get(cfg).and_then(|v| v.as_f64()) {
                    samples.push(SampleRow {
                        tag_id: *tag,
                        time: at,
                        value: Some(v),
                        quality: Quality::Good,
                    });
                }
            }
            // The step's parts as one inspected unit, drawn as one of them (as in
            // `tests/quality.rs`).
            let scrap = pick.gen_range(0..made) < scrapped;
            scrap_units += usize::from(scrap);
            records.push(json!({
                "unit_id": format!("{serial}-{}-{step}", m.id),
                "product": "part", "machine_id": m.id,
                "produced_at": at.to_rfc3339(),
                "cycle_started_at": (at - Duration::minutes(1)).to_rfc3339(),
                "passed": !scrap,
                "defect_code": if scrap { "scrap" } else { "" },
            }));
        }
    }
    let mut s = app.store.tenant(t.id).await.unwrap();
    for chunk in samples.chunks(20_000) {
        s.ingest(chunk).await.unwrap();
    }
    for chunk in records.chunks(1000) {
        let (st, out, _) = app
            .call(
                Method::POST,
                "/api/v1/quality/records",
                Some(&t.key),
                Some(json!({ "records": chunk })),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{out}");
        outcomes.push(out);
    }
    (records.len(), scrap_units, outcomes)
}

fn q(t: DateTime<Utc>) -> String {
    t.to_rfc3339().replace('+', "%2B")
}

#[tokio::test]
async fn root_causes_through_the_api_put_the_physics_parameter_first_for_each_plant() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "root-causes", &[]).await;
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::days(20);
    let steps = 2400; // 400 simulated hours
    let cases = [
        (PlantKind::Appliance, MachineKind::Press, "press", "die_gap"),
        (
            PlantKind::Garment,
            MachineKind::Sewing,
            "sewing",
            "thread_tension",
        ),
        (PlantKind::Machinery, MachineKind::Cnc, "cnc", "tool_wear"),
    ];
    for (plant, kind, class, parameter) in cases {
        let mut ms = machines(&app, &t, plant, kind, class).await;
        let (units, scrap, _) = produce(&app, &t, &mut ms, start, steps, class).await;
        let (st, r, _) = app
            .call(
                Method::GET,
                &format!(
                    "/api/v1/quality/root-causes?machine_class={class}&from={}&to={}",
                    q(start - Duration::hours(1)),
                    q(Utc::now())
                ),
                Some(&t.key),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
        eprintln!(
            "{class}: {units} units, {scrap} scrap; hold-out AUC {}; {}",
            r["holdout_auc"],
            r["ranks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| format!(
                    "{} {:.3}",
                    p["parameter"].as_str().unwrap(),
                    p["importance"].as_f64().unwrap()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(r["units"], units);
        assert_eq!(r["ranks"][0]["parameter"], parameter, "{r}");
        assert!(r["ranks"][0]["window"]["high"].is_number(), "{r}");
    }
}

#[tokio::test]
async fn a_defect_model_is_trained_promoted_and_scores_records_as_they_arrive() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "defect-model", &[]).await;
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::days(20);
    let mut ms = machines(&app, &t, PlantKind::Machinery, MachineKind::Cnc, "cnc").await;
    let steps = 2400;
    let (units, scrap, outcomes) = produce(&app, &t, &mut ms, start, steps, "train").await;
    assert!(
        outcomes.iter().all(|o| o["scored"] == 0),
        "nothing promoted yet"
    );
    let trained_to = start + Duration::minutes(STEP_MIN * steps as i64);

    // Bad requests name their field; the job trains on the records.
    let (st, p, _) = app
        .call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(&t.key),
            Some(json!({"machine_class": "cnc", "kind": "defect", "from": start.to_rfc3339()})),
        )
        .await;
    assert_eq!(
        (st, &p["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("to"))
    );
    let (st, job, _) = app
        .call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(&t.key),
            Some(json!({
                "machine_class": "cnc", "kind": "defect", "trees": 50,
                "from": (start - Duration::hours(1)).to_rfc3339(), "to": trained_to.to_rfc3339(),
            })),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{job}");
    let path = format!("/api/v1/models/training-jobs/{}", job["id"]);
    let waited = Instant::now();
    let job = loop {
        let (_, j, _) = app.call(Method::GET, &path, Some(&t.key), None).await;
        if j["status"] == "succeeded" || j["status"] == "failed" {
            break j;
        }
        assert!(waited.elapsed() < StdDuration::from_secs(600), "{j}");
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    let vid = job["version_id"].as_i64().unwrap();
    let (_, v, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/models/versions/{vid}"),
            Some(&t.key),
            None,
        )
        .await;
    eprintln!(
        "{units} units, {scrap} scrap; version metrics {}",
        v["metrics"]
    );
    assert_eq!(v["kind"], "defect");
    // Trained on the earlier 75 %, measured on the later 25 % only.
    let rows_train = v["metrics"]["rows_train"].as_u64().unwrap() as usize;
    let rows_test = v["metrics"]["rows_test"].as_u64().unwrap() as usize;
    assert_eq!(rows_train + rows_test, units);
    assert!(
        v["metrics"]["auc"].as_f64().unwrap() > 0.7,
        "{}",
        v["metrics"]
    );
    assert!(v["metrics"]["threshold"].is_number());

    let (st, _, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/models/versions/{vid}/promote"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // Records posted now are scored as they arrive.
    let later = trained_to + Duration::minutes(STEP_MIN);
    let (n, _, outcomes) = produce(&app, &t, &mut ms, later, 300, "live").await;
    let scored: u64 = outcomes.iter().map(|o| o["scored"].as_u64().unwrap()).sum();
    assert_eq!(scored as usize, n);
    let (st, preds, _) = app
        .call(
            Method::GET,
            "/api/v1/quality/predictions?limit=10000",
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{preds}");
    let preds = preds.as_array().unwrap();
    assert_eq!(preds.len(), n);
    assert!(preds
        .iter()
        .all(|p| p["model_version"] == vid
            && (0.0..=1.0).contains(&p["probability"].as_f64().unwrap())));
    // Scrap units get higher probabilities than good ones on average.
    let mean = |want: bool| {
        let v: Vec<f64> = preds
            .iter()
            .filter(|p| p["passed"] == !want)
            .map(|p| p["probability"].as_f64().unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    eprintln!(
        "mean probability: scrap {:.3}, good {:.3}",
        mean(true),
        mean(false)
    );
    if preds.iter().any(|p| p["passed"] == false) {
        assert!(mean(true) > mean(false));
    }

    // A unit over the threshold raised its machine's defect alarm (one per machine); a
    // machine with no such unit has none.
    let (st, alarms, _) = app
        .call(Method::GET, "/api/v1/alarms?limit=1000", Some(&t.key), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{alarms}");
    let defect_alarms: Vec<&Value> = alarms
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "defect")
        .collect();
    let alarming_machines: std::collections::BTreeSet<i64> = preds
        .iter()
        .filter(|p| p["alarming"] == true)
        .map(|p| p["machine_id"].as_i64().unwrap())
        .collect();
    let alarmed_machines: std::collections::BTreeSet<i64> = defect_alarms
        .iter()
        .map(|a| a["machine_id"].as_i64().unwrap())
        .collect();
    eprintln!(
        "defect alarms: {} on machines {alarmed_machines:?}; alarming units on {alarming_machines:?}",
        defect_alarms.len()
    );
    assert_eq!(alarmed_machines, alarming_machines, "{alarms}");
    assert!(defect_alarms
        .iter()
        .all(|a| a["model_version"] == vid && a["threshold"].is_number()));
}
