//! MES (issue #13) over real HTTP against a real PostgreSQL, on both storage layouts: the
//! issue's hand-computed scenario (a night shift over midnight in Asia/Shanghai, a counter
//! reset, a wraparound, a breakdown, a minor stop, scrap, a gap with no data) from samples
//! through the state builder to states, downtime, reasons and OEE; a rule change recomputing
//! states; work orders with their state machine and trace; the MES plan gate; tenant isolation.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, NaiveTime, TimeZone, Utc};
use millwright_platform::api::Server;
use millwright_platform::config::BackendChoice;
use millwright_platform::store::admin::NewTenant;
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_settings, tenant_with_tags};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const U32: f64 = 4_294_967_296.0;

struct App {
    url: String,
    store: Store,
    http: reqwest::Client,
    _server: millwright_platform::api::RunningServer,
}

impl App {
    async fn spawn(backend: BackendChoice) -> Self {
        let settings = fresh_settings(backend).await;
        let store = Store::open(&settings.database, &settings.store)
            .await
            .expect("store opens");
        let server = Server::bind(store.clone(), Arc::new(settings))
            .await
            .expect("bind")
            .spawn();
        App {
            url: format!("http://{}", server.addr),
            store,
            http: reqwest::Client::new(),
            _server: server,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, key, body).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    /// Runs builder rounds until every machine has caught up.
    async fn build(&self) {
        for _ in 0..20 {
            let r = self.store.build_mes_states().await.expect("builder round");
            if !r.behind {
                return;
            }
        }
        panic!("the builder never caught up");
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn q(t: DateTime<Utc>) -> String {
    ts(t).replace('+', "%2B")
}

/// The scenario of `mes::oee`'s unit test, as samples of the tags `state`, `alarm_code`,
/// `part_counter`, `scrap_parts` (tag ids in that order), every minute of the night shift
/// starting at `start`, with the gap 04:01–04:39.
fn scenario(start: DateTime<Utc>, tags: &[i64]) -> Vec<SampleRow> {
    let producing = |k: i64| {
        (0..150).contains(&k)
            || (195..240).contains(&k)
            || (272..360).contains(&k)
            || (400..480).contains(&k)
    };
    let mut rows = Vec::new();
    let (mut parts, mut scrap) = (5_000.0, U32 - 6.0);
    for k in 0..=480i64 {
        if k > 0 && producing(k - 1) {
            parts += 2.0;
        }
        if k == 210 {
            parts = 2.0;
        }
        if [60, 90, 120, 135, 225, 285, 300, 330, 420, 450].contains(&k) {
            scrap = (scrap + 1.0) % U32;
        }
        if (361..400).contains(&k) {
            continue;
        }
        let (state, alarm) = if (150..195).contains(&k) {
            (3.0, 101.0)
        } else if (240..272).contains(&k) {
            (0.0, 0.0)
        } else {
            (1.0, 0.0)
        };
        for (tag, value) in tags.iter().zip([state, alarm, parts, scrap]) {
            rows.push(SampleRow {
                tag_id: *tag,
                time: start + Duration::minutes(k),
                value: Some(value),
                quality: Quality::Good,
            });
        }
    }
    rows
}

fn close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

async fn scenario_over_http(backend: BackendChoice) {
    let app = App::spawn(backend).await;
    let t = tenant_with_tags(
        &app.store,
        "mes-a",
        &[
            "machine.state",
            "machine.alarm_code",
            "machine.part_counter",
            "machine.scrap_parts",
        ],
    )
    .await;
    let key = t.key.as_str();
    let m = t.machine_id;

    // The night shift that began three local days ago: 22:00 +08:00 is 14:00Z.
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let day = today - Duration::days(3);
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::from_hms_opt(14, 0, 0).unwrap()));
    let end = start + Duration::hours(8);

    let cal = app
        .ok(
            Method::PUT,
            &format!("/sites/{}/calendar", t.site_id),
            key,
            Some(json!({
                "time_zone": "Asia/Shanghai",
                "shifts": [{"name": "night", "start": "22:00", "end": "06:00",
                            "breaks": [{"start": "02:00", "minutes": 30}]}]
            })),
        )
        .await;
    assert_eq!(cal["time_zone"], "Asia/Shanghai");
    // A bad calendar names its field.
    let (s, p) = app
        .call(
            Method::PUT,
            &format!("/sites/{}/calendar", t.site_id),
            key,
            Some(json!({"time_zone": "Mars/Olympus", "shifts": []})),
        )
        .await;
    assert_eq!(
        (s, &p["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("time_zone")),
        "{p}"
    );

    let mut session = app.store.tenant(t.id).await.unwrap();
    let outcome = session.ingest(&scenario(start, &t.tag_ids)).await.unwrap();
    assert_eq!(outcome.inserted as i64, 442 * 4);

    // First with the default rule (stale after 30 s): the states come out, but not the
    // scenario's figures.
    app.build().await;
    let states = app
        .ok(
            Method::GET,
            &format!("/machines/{m}/states?from={}&to={}", q(start), q(end)),
            key,
            None,
        )
        .await;
    let first: Vec<&str> = states["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    // Samples a minute apart are stale after 30 s: running and unknown alternate.
    assert_eq!(&first[..3], ["running", "unknown", "running"]);
    assert!(first.contains(&"fault"));

    // The scenario's rule for this machine, recomputed from before the shift.
    let rule = json!({
        "rule": {
            "state_tag": "state",
            "state_codes": [{"code": 0, "state": "idle"}, {"code": 1, "state": "running"},
                            {"code": 2, "state": "down"}, {"code": 3, "state": "fault"}],
            "fault_tag": "alarm_code",
            "part_counter_tag": "part_counter",
            "reject_counter_tag": "scrap_parts",
            "counter_modulus": U32,
            "stale_secs": 180,
            "minor_stop_secs": 300,
            "ideal_cycle_secs": 25.0
        },
        "recompute_from": ts(start - Duration::hours(1)),
    });
    app.ok(
        Method::PUT,
        &format!("/machines/{m}/state-rule"),
        key,
        Some(rule),
    )
    .await;
    app.build().await;

    let states = app
        .ok(
            Method::GET,
            &format!("/machines/{m}/states?from={}&to={}", q(start), q(end)),
            key,
            None,
        )
        .await;
    let got: Vec<(String, i64)> = states["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s: DateTime<Utc> = i["start"].as_str().unwrap().parse().unwrap();
            (
                i["state"].as_str().unwrap().to_string(),
                (s - start).num_minutes(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("running", 0),
        ("fault", 150),
        ("running", 195),
        ("idle", 240),
        ("running", 272),
        ("unknown", 363),
        ("running", 400),
    ]
    .iter()
    .map(|(s, k)| (s.to_string(), *k))
    .collect();
    assert_eq!(got, want, "{states}");

    let current = app
        .ok(Method::GET, "/machine-states/current", key, None)
        .await;
    assert_eq!(current[0]["machine_id"], json!(m));
    assert_eq!(
        current[0]["state"], "unknown",
        "no sample for days: {current}"
    );

    let dt = app
        .ok(
            Method::GET,
            &format!("/machines/{m}/downtime?from={}&to={}", q(start), q(end)),
            key,
            None,
        )
        .await;
    let events = dt["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{dt}");
    assert_eq!(
        (
            &events[0]["state"],
            &events[0]["code"],
            &events[0]["suggested"]
        ),
        (&json!("fault"), &json!(101), &json!("breakdown"))
    );
    assert_eq!(events[1]["state"], "unknown");
    assert_eq!(dt["minor"], json!({"count": 1, "secs": 120.0}));

    // Every figure of the hand computation (see mes::oee's unit test).
    let path = format!(
        "/oee?machine={m}&from={}&to={}&group=shift",
        q(start),
        q(end)
    );
    let oee = app.ok(Method::GET, &path, key, None).await;
    let rows = oee["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{oee}");
    let row = &rows[0];
    assert_eq!(row["shift"], "night");
    assert_eq!(row["day"], json!(day.to_string()));
    assert!(
        row["local_start"]
            .as_str()
            .unwrap()
            .ends_with("T22:00:00+08:00"),
        "{row}"
    );
    let o = &row["oee"];
    close(&o["planned_secs"], 27_000.0);
    close(&o["downtime_secs"], 4_920.0);
    close(&o["run_secs"], 22_080.0);
    assert_eq!(
        (&o["produced"], &o["rejected"], &o["good"]),
        (&json!(726), &json!(10), &json!(716))
    );
    close(&o["ideal_secs"], 18_150.0);
    close(&o["availability"], 22_080.0 / 27_000.0);
    close(&o["performance"], 18_150.0 / 22_080.0);
    close(&o["quality"], 716.0 / 726.0);
    close(&o["oee"], 17_900.0 / 27_000.0);
    close(&o["losses"]["unplanned_stops"], 4_920.0);
    close(&o["losses"]["small_stops"], 120.0);
    close(&o["losses"]["slow_cycles"], 3_810.0);
    close(&o["losses"]["production_rejects"], 250.0);
    close(&o["downtime_by_category"]["breakdown"], 2_700.0);
    close(&o["downtime_by_category"]["unassigned"], 2_220.0);

    // The operator splits the breakdown: 00:30-00:50 breakdown, 00:50-01:15 waiting for
    // material; and explains the gap as no operator.
    let reasons = app.ok(Method::GET, "/reason-codes", key, None).await;
    let id_of = |code: &str| {
        reasons
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == code)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let assign = |from: i64, to: i64, reason: i64| json!({"from": ts(start + Duration::minutes(from)), "to": ts(start + Duration::minutes(to)), "reason_id": reason});
    let reasons_path = format!("/machines/{m}/downtime/reasons");
    app.ok(
        Method::POST,
        &reasons_path,
        key,
        Some(assign(150, 195, id_of("BRK"))),
    )
    .await;
    app.ok(
        Method::POST,
        &reasons_path,
        key,
        Some(assign(170, 195, id_of("MAT"))),
    )
    .await;
    app.ok(
        Method::POST,
        &reasons_path,
        key,
        Some(assign(363, 400, id_of("OPR"))),
    )
    .await;
    let (s, p) = app
        .call(
            Method::POST,
            &reasons_path,
            key,
            Some(assign(10, 5, id_of("OPR"))),
        )
        .await;
    assert_eq!(
        (s, &p["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("to"))
    );

    let dt = app
        .ok(
            Method::GET,
            &format!("/machines/{m}/downtime?from={}&to={}", q(start), q(end)),
            key,
            None,
        )
        .await;
    let segs = dt["events"][0]["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2, "split in two: {dt}");
    assert_eq!(
        (&segs[0]["category"], &segs[1]["category"]),
        (&json!("breakdown"), &json!("material_shortage"))
    );

    let oee = app.ok(Method::GET, &path, key, None).await;
    let o = &oee["rows"][0]["oee"];
    close(&o["downtime_by_category"]["breakdown"], 1_200.0);
    close(&o["downtime_by_category"]["material_shortage"], 1_500.0);
    close(&o["downtime_by_category"]["no_operator"], 2_220.0);
    assert!(o["downtime_by_category"].get("unassigned").is_none(), "{o}");
    close(&o["oee"], 17_900.0 / 27_000.0);

    // Per local day: the shift's two halves fall on two days, and add up to the shift.
    let by_day = app
        .ok(
            Method::GET,
            &format!("/oee?machine={m}&from={}&to={}&group=day", q(start), q(end)),
            key,
            None,
        )
        .await;
    let days = by_day["rows"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{by_day}");
    close(&days[0]["oee"]["planned_secs"], 2.0 * 3600.0); // 22:00-24:00
    close(&days[1]["oee"]["planned_secs"], 5.5 * 3600.0); // 00:00-06:00 less the break
    assert_eq!(by_day["total"]["produced"], json!(726));

    // A line is the sum of its machines (one here).
    let line = app
        .ok(
            Method::GET,
            &format!(
                "/oee?line={}&from={}&to={}",
                line_of(&app, key, m).await,
                q(start),
                q(end)
            ),
            key,
            None,
        )
        .await;
    close(&line["total"]["oee"], 17_900.0 / 27_000.0);

    // The audit log has the changes.
    let audit = app.ok(Method::GET, "/audit", key, None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for a in ["calendar.put", "state_rule.put", "downtime.assign_reason"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

async fn line_of(app: &App, key: &str, machine: i64) -> i64 {
    app.ok(Method::GET, &format!("/machines/{machine}"), key, None)
        .await["line_id"]
        .as_i64()
        .expect("line_id")
}

async fn work_orders_and_gates(backend: BackendChoice) {
    let app = App::spawn(backend).await;
    let t = tenant_with_tags(
        &app.store,
        "mes-b",
        &["machine.state", "machine.part_counter", "machine.temp"],
    )
    .await;
    let key = t.key.as_str();
    let m = t.machine_id;

    app.ok(
        Method::PATCH,
        &format!("/machines/{m}"),
        key,
        Some(json!({"kind": "press"})),
    )
    .await;
    let (s, p) = app
        .call(
            Method::POST,
            "/products",
            key,
            Some(json!({"code": "P-1", "name": "Flange", "ideal_cycle_secs": {"press": 0}})),
        )
        .await;
    assert_eq!(
        (s, &p["field"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("ideal_cycle_secs.press")
        ),
        "{p}"
    );
    let product = app
        .ok(
            Method::POST,
            "/products",
            key,
            Some(json!({"code": "P-1", "name": "Flange", "ideal_cycle_secs": {"press": 20.0}})),
        )
        .await;
    let (s, _) = app
        .call(
            Method::POST,
            "/products",
            key,
            Some(json!({"code": "P-1", "name": "Again", "ideal_cycle_secs": {}})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let wo = app
        .ok(
            Method::POST,
            "/work-orders",
            key,
            Some(json!({"number": "WO-1", "product_id": product["id"], "quantity": 100, "machine_id": m})),
        )
        .await;
    assert_eq!(wo["state"], "planned");
    let id = wo["id"].as_i64().unwrap();
    let tr = format!("/work-orders/{id}/transition");
    let (s, p) = app
        .call(Method::POST, &tr, key, Some(json!({"state": "running"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "planned cannot run: {p}");
    assert!(p["detail"].as_str().unwrap().contains("released"), "{p}");

    let now = Utc::now();
    let run_start = now - Duration::minutes(30);
    let run_end = now - Duration::minutes(10);
    app.ok(Method::POST, &tr, key, Some(json!({"state": "released"})))
        .await;
    app.ok(
        Method::POST,
        &tr,
        key,
        Some(json!({"state": "running", "at": ts(run_start)})),
    )
    .await;
    // A second order cannot run on the same machine meanwhile.
    let wo2 = app
        .ok(Method::POST, "/work-orders", key, Some(json!({"number": "WO-2", "product_id": product["id"], "quantity": 5, "machine_id": m})))
        .await;
    let tr2 = format!("/work-orders/{}/transition", wo2["id"]);
    app.ok(Method::POST, &tr2, key, Some(json!({"state": "released"})))
        .await;
    let (s, _) = app
        .call(Method::POST, &tr2, key, Some(json!({"state": "running"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    app.ok(
        Method::POST,
        &tr,
        key,
        Some(json!({"state": "completed", "at": ts(run_end)})),
    )
    .await;
    app.ok(Method::POST, &tr, key, Some(json!({"state": "closed"})))
        .await;
    let (s, _) = app
        .call(Method::POST, &tr, key, Some(json!({"state": "running"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "closed is final");

    // Samples during the run, and production recorded by an operator.
    let mut session = app.store.tenant(t.id).await.unwrap();
    let rows: Vec<SampleRow> = (0..40)
        .flat_map(|i| {
            let time = run_start - Duration::minutes(5) + Duration::minutes(i);
            [
                (t.tag_ids[0], 1.0),
                (t.tag_ids[1], 10.0 * i as f64),
                (t.tag_ids[2], 50.0 + i as f64),
            ]
            .map(|(tag_id, v)| SampleRow {
                tag_id,
                time,
                value: Some(v),
                quality: Quality::Good,
            })
        })
        .collect();
    session.ingest(&rows).await.unwrap();
    app.build().await;
    let rec = app
        .ok(
            Method::POST,
            &format!("/machines/{m}/production"),
            key,
            Some(json!({"at": ts(run_start + Duration::minutes(5)), "produced": 7, "rejected": 2, "work_order_id": id})),
        )
        .await;
    assert_eq!(
        rec["recorded_by"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    let (s, p) = app
        .call(
            Method::POST,
            &format!("/machines/{m}/production"),
            key,
            Some(json!({"produced": 1, "rejected": 2})),
        )
        .await;
    assert_eq!(
        (s, &p["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("rejected"))
    );

    // Units inspected during the run, recorded without a work order, belong to WO-1; one made
    // after the run belongs to none.
    let unit = |n: u32, minute: i64, passed: bool| {
        json!({"unit_id": format!("U{n}"), "product": "P-1", "machine_id": m,
               "produced_at": ts(run_start + Duration::minutes(minute)), "passed": passed,
               "defect_code": if passed { "" } else { "burr" }})
    };
    let out = app
        .ok(
            Method::POST,
            "/quality/records",
            key,
            Some(json!({"records": [unit(1, 2, true), unit(2, 4, false), unit(3, 6, true), unit(4, 30, false)]})),
        )
        .await;
    assert_eq!(out["accepted"], json!(4), "{out}");

    let trace = app
        .ok(Method::GET, &format!("/work-orders/{id}/trace"), key, None)
        .await;
    assert_eq!(trace["work_order"]["number"], "WO-1");
    let quality = &trace["quality"];
    assert_eq!(quality["figures"]["units"], json!(3), "{quality}");
    assert_eq!(quality["figures"]["scrapped"], json!(1), "{quality}");
    assert_eq!(quality["pareto"][0]["defect_code"], "burr", "{quality}");
    assert_eq!(quality["pareto"][0]["units"], json!(1), "{quality}");
    assert_eq!(
        quality["records"],
        "/api/v1/quality/records?work_order=WO-1"
    );
    assert_eq!(trace["product"]["code"], "P-1");
    let runs = trace["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{trace}");
    assert_eq!(runs[0]["machine_id"], json!(m));
    let temp = runs[0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tag"] == "machine.temp")
        .expect("the temperature is summarised");
    // Samples at run_start-5min+i min, i = 5..24 lie in [run_start, run_end): 20 of them,
    // values 55..74.
    assert_eq!(temp["count"], json!(20), "{temp}");
    close(&temp["min"], 55.0);
    close(&temp["max"], 74.0);
    assert!(temp["series"]
        .as_str()
        .unwrap()
        .starts_with(&format!("/api/v1/tags/{}/samples?from=", t.tag_ids[2])));
    // 10 parts a minute counted at each sample in (run_start, run_end], plus the 7 by hand.
    assert_eq!(trace["produced"], json!(20 * 10 + 7), "{trace}");
    assert_eq!(trace["rejected"], json!(2));

    // Another tenant sees none of it.
    let other = tenant_with_tags(&app.store, "mes-c", &[]).await;
    let (s, _) = app
        .call(Method::GET, &format!("/work-orders/{id}"), &other.key, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/machines/{m}/states"),
            &other.key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(Method::GET, &format!("/oee?machine={m}"), &other.key, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A tenant on the Monitor plan is told which plan has MES.
    let monitor = app
        .store
        .create_tenant(&NewTenant::named("mes-monitor", Plan::Monitor))
        .await
        .unwrap();
    let mkey = app
        .store
        .issue_api_key(monitor, "k", Role::Owner)
        .await
        .unwrap();
    let (s, p) = app
        .call(Method::GET, "/machine-states/current", &mkey, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("mes plan"),
        "{p}"
    );
}

async fn builder_is_incremental(backend: BackendChoice) {
    let app = App::spawn(backend).await;
    let t = tenant_with_tags(&app.store, "mes-d", &["machine.state"]).await;
    let mut session = app.store.tenant(t.id).await.unwrap();
    let base = (Utc::now() - Duration::minutes(10))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let row = |s: i64, v: f64| SampleRow {
        tag_id: t.tag_ids[0],
        time: base + Duration::seconds(s),
        value: Some(v),
        quality: Quality::Good,
    };
    session
        .ingest(&(0..60).map(|s| row(s, 1.0)).collect::<Vec<_>>())
        .await
        .unwrap();
    app.build().await;
    session
        .ingest(&(60..120).map(|s| row(s, 3.0)).collect::<Vec<_>>())
        .await
        .unwrap();
    let r = app.store.build_mes_states().await.unwrap();
    assert_eq!(r.samples, 60, "only the new samples are read: {r:?}");
    let states = session
        .machine_states(t.machine_id, base, Utc::now())
        .await
        .unwrap()
        .unwrap();
    let got: Vec<_> = states
        .iter()
        .map(|i| (i.state.as_str(), (i.start - base).num_seconds()))
        .collect();
    // Running, fault, then unknown 30 s after the last sample (the default rule).
    assert_eq!(got, [("running", 0), ("fault", 60), ("unknown", 149)]);
}

/// `oee_per_machine` reads every machine's inputs with one query per kind (intervals, first
/// intervals, reasons, calendars, counts' running totals) and splits them in memory: each of its
/// reports must equal the one `oee` gives for that machine alone, on machines that differ (two
/// sites with their own calendars and zones, shifted data, an assigned reason, an operator's
/// record, a machine with no data), and the counted parts must equal the per-minute counts
/// summed over the planned windows.
async fn batched_oee_equals_per_machine(backend: BackendChoice) {
    use millwright_platform::mes::state::StateRule;
    use millwright_platform::mes::Span;
    use millwright_platform::store::entities::{EntityFields, Kind};
    use millwright_platform::store::mes::oee::{OeeGroup, OeeScope};
    use millwright_platform::store::mes::plan::SiteCalendar;

    let app = App::spawn(backend).await;
    let names = ["state", "alarm_code", "part_counter", "scrap_parts"];
    let t = tenant_with_tags(
        &app.store,
        "mes-batch",
        &[
            "machine.state",
            "machine.alarm_code",
            "machine.part_counter",
            "machine.scrap_parts",
        ],
    )
    .await;
    let mut session = app.store.tenant(t.id).await.unwrap();
    let named = |n: &str, parent: i64| EntityFields {
        name: Some(n.to_string()),
        parent_id: Some(parent),
        ..Default::default()
    };
    let line = session.mes_machines(None).await.unwrap()[0].line_id;
    let site2 = session
        .create(
            Kind::Site,
            &EntityFields {
                name: Some("site-2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    let line2 = session
        .create(Kind::Line, &named("line-2", site2))
        .await
        .unwrap()
        .id();
    let mut machines = vec![(t.machine_id, t.tag_ids.clone())];
    for (name, parent) in [("m2", line), ("m3", line2), ("idle-box", line2)] {
        let m = session
            .create(Kind::Machine, &named(name, parent))
            .await
            .unwrap()
            .id();
        let mut tags = Vec::new();
        for n in names {
            tags.push(
                session
                    .create(Kind::Tag, &named(&format!("{name}.{n}"), m))
                    .await
                    .unwrap()
                    .id(),
            );
        }
        machines.push((m, tags));
    }
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let day = today - Duration::days(3);
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::from_hms_opt(14, 0, 0).unwrap()));
    let shifts = |v: Value| serde_json::from_value(v).unwrap();
    for (site, zone, sh) in [
        (
            t.site_id,
            "Asia/Shanghai",
            json!([{"name": "night", "start": "22:00", "end": "06:00",
                    "breaks": [{"start": "02:00", "minutes": 30}]}]),
        ),
        (
            site2,
            "Europe/Berlin",
            json!([{"name": "early", "start": "06:00", "end": "14:00"},
                   {"name": "late", "start": "14:00", "end": "22:00",
                    "breaks": [{"start": "18:00", "minutes": 45}]}]),
        ),
    ] {
        session
            .put_site_calendar(&SiteCalendar {
                site_id: site,
                time_zone: zone.into(),
                shifts: shifts(sh),
                days_off: Vec::new(),
                updated_at: None,
            })
            .await
            .unwrap()
            .unwrap();
    }
    let rule: StateRule = serde_json::from_value(json!({
        "state_tag": "state",
        "state_codes": [{"code": 0, "state": "idle"}, {"code": 1, "state": "running"},
                        {"code": 2, "state": "down"}, {"code": 3, "state": "fault"}],
        "fault_tag": "alarm_code",
        "part_counter_tag": "part_counter",
        "reject_counter_tag": "scrap_parts",
        "counter_modulus": U32,
        "stale_secs": 180,
        "minor_stop_secs": 300,
        "ideal_cycle_secs": 25.0
    }))
    .unwrap();
    for (m, _) in &machines {
        session
            .put_state_rule(None, Some(*m), &rule, start - Duration::hours(1))
            .await
            .unwrap()
            .unwrap();
    }
    // The scenario on the first three machines, shifted by 0, 90 and 1000 minutes.
    for ((_, tags), shift) in machines.iter().zip([0, 90, 1000]) {
        session
            .ingest(&scenario(start + Duration::minutes(shift), tags))
            .await
            .unwrap();
    }
    app.build().await;
    let reasons = session.reason_codes().await.unwrap();
    session
        .assign_reason(
            t.machine_id,
            Span::new(
                start + Duration::minutes(150),
                start + Duration::minutes(170),
            ),
            reasons[0].id,
            "bearing",
        )
        .await
        .unwrap()
        .unwrap();
    session
        .record_production(
            machines[1].0,
            None,
            start + Duration::hours(2),
            7,
            2,
            "by hand",
        )
        .await
        .unwrap()
        .unwrap();

    // A failure model's alarm on m2 while it stood idle (its idle spell is 330–362 min after
    // `start`): the stop its state does not explain is suggested as a breakdown, naming the
    // alarm. m1, with no alarm, has nothing put down to one.
    {
        use millwright_platform::store::alarms::{AlarmChange, AlarmReading};
        use millwright_platform::store::models::{ModelKind, NewModelVersion};
        let version = session
            .store_model_version(&NewModelVersion {
                machine_class: "machine".into(),
                kind: ModelKind::Failure,
                params: json!({}),
                metrics: json!({}),
                trained_from: start - Duration::days(2),
                trained_to: start - Duration::days(1),
                machines: vec![machines[1].0],
                artifact: vec![0],
            })
            .await
            .unwrap();
        let reading = |alarming: bool, minute: i64| AlarmReading {
            machine_id: machines[1].0,
            kind: ModelKind::Failure,
            alarming,
            at: start + Duration::minutes(minute),
            value: 0.9,
            threshold: 0.5,
            model_version: version.id,
        };
        let raised = session.apply_alarm(&reading(true, 335)).await.unwrap();
        let AlarmChange::Raised(alarm_id) = raised else {
            panic!("raised: {raised:?}")
        };
        assert!(matches!(
            session.apply_alarm(&reading(false, 340)).await.unwrap(),
            AlarmChange::Cleared(_)
        ));
        let (a, b) = (start - Duration::hours(1), start + Duration::hours(10));
        let downtime = |m: i64| {
            let path = format!("/machines/{m}/downtime?from={}&to={}", q(a), q(b));
            let (app, key) = (&app, t.key.clone());
            async move { app.ok(Method::GET, &path, &key, None).await }
        };
        let dt = downtime(machines[1].0).await;
        let events = dt["events"].as_array().unwrap();
        let idle = events
            .iter()
            .find(|e| e["state"] == "idle")
            .unwrap_or_else(|| panic!("an idle stop: {dt}"));
        let s: DateTime<Utc> = idle["span"]["start"].as_str().unwrap().parse().unwrap();
        assert_eq!((s - start).num_minutes(), 330, "{idle}");
        assert_eq!(idle["suggested"], "breakdown", "{idle}");
        assert_eq!(idle["suggested_by_alarm"], json!(alarm_id), "{idle}");
        assert_eq!(idle["segments"][0]["category"], "breakdown", "{idle}");
        // Its gap without data, long after the alarm cleared, stays unexplained.
        let gap = events.iter().find(|e| e["state"] == "unknown").unwrap();
        assert!(gap["suggested"].is_null(), "{gap}");
        assert!(gap.get("suggested_by_alarm").is_none(), "{gap}");
        // m1 had no alarm: nothing of its is put down to one.
        let dt = downtime(t.machine_id).await;
        assert!(!dt["events"].as_array().unwrap().is_empty());
        for e in dt["events"].as_array().unwrap() {
            assert!(e.get("suggested_by_alarm").is_none(), "{e}");
        }
    }

    let ids: Vec<i64> = machines.iter().map(|(m, _)| *m).collect();
    let (from, to) = (start - Duration::hours(20), start + Duration::hours(28));
    for group in [OeeGroup::Shift, OeeGroup::Day, OeeGroup::Total] {
        let batched = session
            .oee_per_machine(&ids, from, to, group)
            .await
            .unwrap();
        assert_eq!(batched.len(), ids.len());
        for (report, id) in batched.iter().zip(&ids) {
            let alone = session
                .oee(OeeScope::Machine(*id), from, to, group)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(report, &alone, "machine {id}, group {group:?}");
        }
        if group == OeeGroup::Shift {
            let rows: usize = batched.iter().map(|r| r.rows.len()).sum();
            assert!(rows >= 6, "shifts of both sites: {rows}");
            assert!(batched[0]
                .rows
                .iter()
                .all(|r| r.shift.as_deref() == Some("night")));
            assert!(batched[2]
                .rows
                .iter()
                .any(|r| r.shift.as_deref() == Some("late")));
            assert_eq!(batched[2].time_zone, "Europe/Berlin");
        }
    }
    // A line's OEE is the sum of its machines'.
    let per: Vec<_> = session
        .oee_per_machine(&ids, from, to, OeeGroup::Total)
        .await
        .unwrap();
    let line_report = session
        .oee(OeeScope::Line(line), from, to, OeeGroup::Total)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line_report.machines, ids[..2]);
    assert_eq!(
        line_report.total.produced,
        per[0].total.produced + per[1].total.produced
    );
    // The counts' running totals give what summing every minute in the planned windows gives.
    let mut counted = 0;
    for (report, m) in per
        .iter()
        .zip(session.mes_machines(Some(&ids)).await.unwrap())
    {
        let ctx = session.machine_context(&m, from, to).await.unwrap();
        let range = ctx.monitored(from, to);
        let planned = ctx.calendar.planned(range.start, range.end);
        let minutes = session.production(&[m.id], from, to).await.unwrap();
        let (mut produced, mut rejected) = (0, 0);
        for (_, time, p, r) in minutes {
            if planned.iter().any(|w| w.start < time && time <= w.end) {
                produced += p;
                rejected += r;
            }
        }
        assert_eq!(
            (report.total.produced, report.total.rejected),
            (produced, rejected),
            "machine {}",
            m.id
        );
        counted += produced;
    }
    assert!(
        counted > 1000,
        "the scenario's parts were counted: {counted}"
    );
    assert_eq!(per[3].total.produced, 0, "the machine without data");
}

on_every_backend!(
    scenario_over_http,
    work_orders_and_gates,
    builder_is_incremental,
    batched_oee_equals_per_machine
);
