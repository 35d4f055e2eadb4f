//! The quality API over real HTTP against the real server: records recorded in batches
//! (bad fields named, duplicates counted, process parameters captured from the machine's
//! tags), yield and Pareto figures checked against counts made here, characteristics with an
//! I-MR chart and capability checked against hand-computed figures, SPC alarms raised in the
//! alarms table and seen through `/alarms`, every change in the audit log, and another
//! tenant's characteristic a plain 404.

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn q(t: DateTime<Utc>) -> String {
    ts(t).replace('+', "%2B")
}

fn assert_field(res: &(StatusCode, Value, String), status: StatusCode, field: &str) {
    assert_eq!(res.0, status, "{}", res.1);
    assert!(
        res.2.starts_with("application/problem+json"),
        "content type {}",
        res.2
    );
    let named = res.1["field"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| res.1["errors"][0]["field"].as_str().map(str::to_owned));
    assert_eq!(named.as_deref(), Some(field), "{}", res.1);
}

#[tokio::test]
async fn records_figures_charts_capability_and_alarms_over_http() {
    let app = TestApp::spawn().await;
    let a = tenant_with_tags(&app.store, "quality-a", &["imm.mould_temp"]).await;
    let b = tenant_with_tags(&app.store, "quality-b", &[]).await;
    let key = a.key.as_str();
    let t0 = Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::hours(3);

    // A tag the platform reads the parameters from: mould_temp = 50 + minute.
    let mut s = app.store.tenant(a.id).await.unwrap();
    let rows: Vec<SampleRow> = (0..120)
        .map(|m| SampleRow {
            tag_id: a.tag_ids[0],
            time: t0 + Duration::minutes(m),
            value: Some(50.0 + m as f64),
            quality: Quality::Good,
        })
        .collect();
    s.ingest(&rows).await.unwrap();
    drop(s);

    // A characteristic: bad fields first.
    let post_c = |body: Value| {
        app.call(
            Method::POST,
            "/api/v1/quality/characteristics",
            Some(key),
            Some(body),
        )
    };
    assert_field(
        &post_c(json!({"lsl": 1.0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "name",
    );
    assert_field(
        &post_c(json!({"name": "w", "lsl": 2.0, "usl": 1.0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "usl",
    );
    assert_field(
        &post_c(json!({"name": "w", "chart": "i_mr", "subgroup_size": 4})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "subgroup_size",
    );
    assert_field(
        &post_c(json!({"name": "w", "chart": "pie"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "chart",
    );
    let (st, c, _) = post_c(json!({
        "name": "width", "unit": "mm", "lsl": 7.0, "usl": 14.0,
        "baseline_from": ts(t0), "baseline_to": ts(t0 + Duration::minutes(6)),
    }))
    .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_i64().unwrap();
    assert_eq!(c["chart"], "i_mr");
    assert_eq!(c["rules"], "western_electric");

    // Records: bad ones refuse the batch and name the field.
    let post_r = |records: Value| {
        app.call(
            Method::POST,
            "/api/v1/quality/records",
            Some(key),
            Some(json!({ "records": records })),
        )
    };
    let unit = |serial: &str, minute: i64, width: f64| {
        json!({
            "unit_id": serial, "product": "cap", "work_order": "WO-7", "machine_id": a.machine_id,
            "produced_at": ts(t0 + Duration::minutes(minute)),
            "cycle_started_at": ts(t0 + Duration::minutes(minute - 2)),
            "measurements": {"width": width},
        })
    };
    assert_field(
        &post_r(
            json!([unit("U0", 0, 10.0), {"unit_id": "x", "product": "cap", "produced_at": ts(t0)}]),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "records[1].machine_id",
    );
    let mut other_machine = unit("U0", 0, 10.0);
    other_machine["machine_id"] = json!(b.machine_id);
    assert_field(
        &post_r(json!([other_machine])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "records[0].machine_id",
    );
    let mut future = unit("U0", 0, 10.0);
    future["produced_at"] = json!(ts(Utc::now() + Duration::days(2)));
    assert_field(
        &post_r(json!([future])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "records[0].produced_at",
    );
    let mut girth = unit("U0", 0, 10.0);
    girth["measurements"] = json!({"girth": 3.0});
    assert_field(
        &post_r(json!([girth])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "records[0].measurements.girth",
    );
    assert_field(
        &post_r(json!([])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "records",
    );

    // The hand-computed baseline of the charts module: 10, 12, 11, 13, 9, 11 (minutes 0-5),
    // x̄ = 11, MR̄ = 2.2, I limits 11 ± 5.849; then 12 and 20 (beyond the UCL, and out of spec).
    let widths = [10.0, 12.0, 11.0, 13.0, 9.0, 11.0, 12.0];
    let batch: Vec<Value> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| unit(&format!("U{i}"), i as i64, *w))
        .collect();
    let (st, out, _) = post_r(json!(batch)).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(out["accepted"], 7);
    assert!(
        out["spc_alarms_raised"].as_array().unwrap().is_empty(),
        "{out}"
    );
    let (st, out, _) = post_r(json!([unit("U7", 7, 20.0), unit("U0", 0, 10.0)])).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(
        (out["accepted"].as_i64(), out["duplicates"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(out["ids"][1].is_null());
    assert_eq!(
        out["spc_alarms_raised"].as_array().unwrap().len(),
        2,
        "{out}"
    );

    // The record carries the parameters of its cycle: mould_temp over minutes 5..7 = 56.
    let (st, list, _) = app
        .call(
            Method::GET,
            "/api/v1/quality/records?passed=false",
            Some(key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let failed = list.as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["unit_id"], "U7");
    assert_eq!(failed[0]["parameters"]["mould_temp"], 56.0);
    assert_eq!(failed[0]["measurements"]["width"], 20.0);

    // The alarms: one per rule, kind spc, on the machine that made the unit.
    let (_, alarms, _) = app
        .call(Method::GET, "/api/v1/alarms?state=open", Some(key), None)
        .await;
    let spc: Vec<&Value> = alarms
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "spc")
        .collect();
    assert_eq!(spc.len(), 2, "{alarms}");
    assert!(spc
        .iter()
        .all(|x| x["characteristic_id"] == cid && x["machine_id"] == a.machine_id));
    assert!(spc
        .iter()
        .any(|a| a["spc_rule"] == "western_electric:1" && a["value"] == 20.0));

    // The chart: limits from the baseline period, the violation at the last point.
    let (st, chart, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/quality/characteristics/{cid}/chart"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{chart}");
    assert_eq!(chart["baseline_source"], "period");
    assert!((chart["location"]["ucl"].as_f64().unwrap() - 16.849_10).abs() < 1e-4);
    assert!((chart["location"]["lcl"].as_f64().unwrap() - 5.150_90).abs() < 1e-4);
    assert_eq!(chart["location"]["points"].as_array().unwrap().len(), 8);
    assert_eq!(chart["location"]["points"][0]["baseline"], true);
    assert_eq!(chart["location"]["points"][7]["baseline"], false);
    assert_eq!(chart["location"]["violations"][0]["at"], 7);
    assert_eq!(chart["spec"]["usl"], 14.0);

    // Capability over the baseline period only, against the hand-computed sigma 1.949699:
    // Cp = 7 / (6 × 1.949699) = 0.59839.
    let (st, cap, _) = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/quality/characteristics/{cid}/capability?from={}&to={}",
                q(t0),
                q(t0 + Duration::minutes(6))
            ),
            Some(key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{cap}");
    assert_eq!(cap["n"], 6);
    assert!((cap["cp"]["value"].as_f64().unwrap() - 7.0 / (6.0 * 1.949_699)).abs() < 1e-5);
    assert!(cap["cp"]["lower"].as_f64().unwrap() < cap["cp"]["value"].as_f64().unwrap());
    assert_field(
        &app.call(
            Method::GET,
            &format!("/api/v1/quality/characteristics/{cid}/capability?confidence=2"),
            Some(key),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "confidence",
    );

    // Figures: 8 units, 7 first-pass (judged in spec), 1 scrapped; by machine and by day.
    let (st, y, _) = app
        .call(
            Method::GET,
            "/api/v1/quality/yield?by=total",
            Some(key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{y}");
    let total = &y["rows"][0];
    assert_eq!(
        (
            total["units"].as_i64(),
            total["first_pass"].as_i64(),
            total["scrapped"].as_i64()
        ),
        (Some(8), Some(7), Some(1))
    );
    assert_eq!(total["first_pass_yield"], 0.875);
    let (_, y, _) = app
        .call(
            Method::GET,
            "/api/v1/quality/yield?by=machine",
            Some(key),
            None,
        )
        .await;
    assert_eq!(y["rows"][0]["key"], a.machine_id.to_string());
    assert_eq!(y["rows"][0]["label"], "machine");
    assert_field(
        &app.call(
            Method::GET,
            "/api/v1/quality/yield?by=colour",
            Some(key),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "by",
    );
    // A defect code makes the Pareto.
    let mut coded = unit("U8", 8, 20.5);
    coded["defect_code"] = json!("flash");
    let mut reworked = unit("U9", 9, 11.0);
    reworked["defect_code"] = json!("sink");
    reworked["reworked"] = json!(true);
    let (st, _, _) = post_r(json!([coded, reworked])).await;
    assert_eq!(st, StatusCode::OK);
    let (_, p, _) = app
        .call(Method::GET, "/api/v1/quality/pareto", Some(key), None)
        .await;
    assert_eq!(p["total"], 2);
    assert_eq!(p["bars"].as_array().unwrap().len(), 2);
    assert_eq!(p["bars"][1]["cumulative_share"], 1.0);

    // Another tenant sees none of it.
    let other = &b.key;
    let (st, _, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/quality/characteristics/{cid}"),
            Some(other),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, y, _) = app
        .call(
            Method::GET,
            "/api/v1/quality/yield?by=total",
            Some(other),
            None,
        )
        .await;
    assert!(y["rows"].as_array().unwrap().is_empty(), "{y}");

    // Every change is in the audit log.
    let (_, audit, _) = app
        .call(Method::GET, "/api/v1/audit?limit=100", Some(key), None)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"quality_characteristic.create"),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "quality_records.create")
            .count(),
        3
    );

    // Changing the baseline is audited too, and a crossed period is refused.
    let c_path = format!("/api/v1/quality/characteristics/{cid}");
    let patch = |body: Value| app.call(Method::PATCH, &c_path, Some(key), Some(body));
    assert_field(
        &patch(json!({"baseline_to": ts(t0 - Duration::hours(1))})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "baseline_to",
    );
    let (st, c, _) = patch(json!({"rules": "nelson"})).await;
    assert_eq!((st, &c["rules"]), (StatusCode::OK, &json!("nelson")));
}
