//! The bureau view (issue #16) over real HTTP against a real PostgreSQL: tenants' machines
//! run known shares of a shift through real samples and the MES; tenants choose what they
//! share (audited); a bureau account reads indices with primary and complementary
//! suppression, contributor-count bands and CSV export. Proves: a tenant that did not opt in
//! changes no published figure; negative-listed categories never appear; a bureau account
//! gets 403 on every tenant route and a tenant gets 403 on bureau routes.

mod bureau_support;

use bureau_support::{build, plant};
use chrono::{Duration, Utc};
use millwright_platform::api::access::{Access, ROUTES};
use millwright_platform::bureau::sharing::Category;
use millwright_platform::test_util::{TestApp, TestTenant};
use millwright_tenants::permission::Action;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const OPERATOR_KEY: &str = "mwk_operator_0123456789abcdefghijABCDEFGHIJ0123456789abc";
const PASSWORD: &str = "correct horse battery staple";

async fn get(app: &TestApp, path: &str, key: &str) -> Value {
    let (s, v, _) = app.call(Method::GET, path, Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v
}

/// Every published figure a bureau can see for the day: each index's cross-sections by
/// region for every sector and for all, and by sector for every region and for all.
async fn everything(app: &TestApp, bureau: &str, day: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for index in [
        "utilisation",
        "operating_rate",
        "oee",
        "output",
        "downtime_rate",
        "alarm_rate",
        "quality_rate",
        "energy_intensity",
    ] {
        for q in [
            "by=region",
            "by=region&sector=garment",
            "by=region&sector=machinery",
            "by=sector",
            "by=sector&region=east",
            "by=sector&region=west",
        ] {
            let v = get(
                app,
                &format!("/api/v1/bureau/indices/{index}/cross-section?date={day}&base={day}&{q}"),
                bureau,
            )
            .await;
            out.extend(v["figures"].as_array().unwrap().iter().cloned());
        }
    }
    out
}

#[tokio::test]
async fn bureau_reads_protected_indices_of_what_tenants_share() {
    let app = TestApp::spawn_with(|s| {
        s.auth.operator_key_sha256 = Some(hex::encode(Sha256::digest(OPERATOR_KEY.as_bytes())));
        s.bureau.never_share = vec![Category::Energy];
    })
    .await;
    let store = &app.store;
    let day = Utc::now().date_naive() - Duration::days(3);
    let d = day.to_string();

    // 6 + 5 garment tenants in the east and west, 5 + 2 machinery ones, and an outsider in
    // the garment east that shares nothing and runs its whole shift.
    let mut sharing: Vec<TestTenant> = Vec::new();
    let mut runs = Vec::new();
    for (sector, region, count) in [
        ("garment", "east", 6),
        ("garment", "west", 5),
        ("machinery", "east", 5),
        ("machinery", "west", 2),
    ] {
        for i in 0..count {
            let run = 180 + 25 * i + if region == "west" { 40 } else { 0 };
            let name = format!("{sector}-{region}-{i}");
            sharing.push(plant(store, &name, sector, region, day, run).await);
            runs.push(run);
        }
    }
    let outsider = plant(store, "outsider", "garment", "east", day, 480).await;
    build(store).await;
    let report = store.build_bureau_contributions(Utc::now()).await.unwrap();
    assert_eq!(report.tenants, 19);

    // Tenants share; the change is audited; they see what they contribute.
    for t in &sharing {
        let v = app
            .call(
                Method::PUT,
                "/api/v1/sharing",
                Some(&t.key),
                Some(json!({"categories": Category::ALL, "size_class": "small"})),
            )
            .await;
        assert_eq!(v.0, StatusCode::OK, "{}", v.1);
        assert_eq!(
            v.1["effective"].as_array().unwrap().len(),
            6,
            "energy is never shared"
        );
    }
    let t0 = &sharing[0].key;
    let audit = get(&app, "/api/v1/audit", t0).await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "bureau_sharing.update")
        .expect("audited");
    assert_eq!(entry["before"]["categories"], json!([]));
    assert_eq!(entry["after"]["categories"].as_array().unwrap().len(), 7);
    let mine = get(
        &app,
        &format!("/api/v1/sharing/contributions?from={d}&to={d}"),
        t0,
    )
    .await;
    let util = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["index"] == "utilisation")
        .unwrap();
    assert!(
        (util["value"].as_f64().unwrap() - 180.0 / 480.0).abs() < 0.01,
        "{util}"
    );
    assert_eq!(util["shared"], true);
    let energy = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["index"] == "energy_intensity");
    assert_eq!(energy.unwrap()["shared"], false, "negative-listed");
    // Bad input names its field.
    let (s, p, _) = app
        .call(
            Method::PUT,
            "/api/v1/sharing",
            Some(t0),
            Some(json!({"categories": ["prices"]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    // A bureau account.
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/bureau-users",
            Some(OPERATOR_KEY),
            Some(json!({"email": "bureau@sector.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, login, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "bureau@sector.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let bureau = login["access_token"].as_str().unwrap().to_owned();

    let list = get(&app, "/api/v1/bureau/indices", &bureau).await;
    assert_eq!(list["sectors"], json!(["garment", "machinery"]));
    assert_eq!(list["regions"], json!(["east", "west"]));
    assert_eq!(list["release"]["min_contributors"], 5);
    let energy = list["indices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["index"] == "energy_intensity")
        .unwrap();
    assert_eq!(energy["never_shared"], true);

    // The day's utilisation across regions, all sectors, and across sectors of the west.
    let all = everything(&app, &bureau, &d).await;
    let find = |index: &str, sector: Option<&str>, region: Option<&str>| {
        all.iter()
            .find(|f| {
                f["index"] == index
                    && f["sector"].as_str() == sector
                    && f["region"].as_str() == region
            })
            .unwrap_or_else(|| panic!("{index} {sector:?} {region:?}"))
            .clone()
    };
    let mw = find("utilisation", Some("machinery"), Some("west"));
    assert_eq!(mw["suppressed"], "too_few_contributors");
    assert!(mw["value"].is_null() && mw["contributors"].is_null());
    // (Cross-sections overlap: count each cell once.)
    let complementary = all
        .iter()
        .filter(|f| f["index"] == "utilisation" && f["suppressed"] == "complementary")
        .map(|f| (f["sector"].to_string(), f["region"].to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    // In a 2 × 2 table one withheld cell takes the other three with it (each row and column
    // needs two); the totals stay published.
    assert_eq!(
        complementary, 3,
        "the other three cells protect machinery/west"
    );
    let total = find("utilisation", None, None);
    let expected = runs.iter().sum::<i64>() as f64 / (runs.len() as f64 * 480.0);
    assert!(
        (total["value"].as_f64().unwrap() - expected).abs() < 0.01,
        "{total} vs {expected}"
    );
    assert_eq!(total["contributors"], "10-19");
    assert_eq!(
        find("utilisation", Some("garment"), Some("east"))["suppressed"],
        "complementary"
    );
    assert_eq!(
        find("utilisation", Some("machinery"), None)["contributors"],
        "5-9"
    );
    assert_eq!(
        find("utilisation", None, Some("west"))["contributors"],
        "5-9"
    );
    // The output index is 100 in its base period.
    assert_eq!(find("output", None, None)["value"], 100.0);
    // Negative-listed: no energy figure anywhere.
    assert!(all.iter().all(|f| f["index"] != "energy_intensity"));
    let series = get(
        &app,
        "/api/v1/bureau/indices/energy_intensity/series",
        &bureau,
    )
    .await;
    assert_eq!(series["figures"], json!([]));

    // The outsider changes nothing: without its contributions the figures are the same.
    {
        let mut s = store.tenant(outsider.id).await.unwrap();
        let tx = s.begin().await.unwrap();
        let n = tx
            .execute("DELETE FROM bureau_contributions", &[])
            .await
            .unwrap();
        assert!(n > 0);
        tx.commit().await.unwrap();
    }
    assert_eq!(everything(&app, &bureau, &d).await, all);
    // Once it shares, they change (the comparison above can see a difference).
    store
        .tenant(outsider.id)
        .await
        .unwrap()
        .compute_contributions(day, day, &Default::default())
        .await
        .unwrap();
    let v = app
        .call(
            Method::PUT,
            "/api/v1/sharing",
            Some(&outsider.key),
            Some(json!({"categories": ["utilisation"]})),
        )
        .await;
    assert_eq!(v.0, StatusCode::OK);
    let after = everything(&app, &bureau, &d).await;
    assert_ne!(after, all);
    let total_after = after
        .iter()
        .find(|f| f["index"] == "utilisation" && f["sector"].is_null() && f["region"].is_null())
        .unwrap();
    assert!(total_after["value"].as_f64() > total["value"].as_f64());

    // CSV export: the same figures, a header, empty values where withheld.
    let path = format!(
        "/api/v1/bureau/indices/utilisation/cross-section?date={d}&by=region&sector=machinery"
    );
    let json_figs = get(&app, &path, &bureau).await["figures"]
        .as_array()
        .unwrap()
        .len();
    let (s, csv, ct) = app
        .call(
            Method::GET,
            &format!("{path}&format=csv"),
            Some(&bureau),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let csv = csv.as_str().unwrap().to_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "index,period,period_start,sector,region,value,contributors,suppressed"
    );
    assert_eq!(lines.len(), json_figs + 1);
    assert!(
        lines.contains(
            &format!("utilisation,day,{d},machinery,west,,,too_few_contributors").as_str()
        ),
        "{csv}"
    );
    // Weekly and monthly series of the totals.
    let weekly = get(
        &app,
        &format!("/api/v1/bureau/indices/utilisation/series?period=week&from={d}&to={d}"),
        &bureau,
    )
    .await;
    assert_eq!(weekly["figures"].as_array().unwrap().len(), 1);
    // Bad input names its field; an unknown index is 404.
    for (q, field) in [
        ("series?period=year", "period"),
        ("cross-section?by=district", "by"),
    ] {
        let (s, p, _) = app
            .call(
                Method::GET,
                &format!("/api/v1/bureau/indices/oee/{q}"),
                Some(&bureau),
                None,
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{p}"
        );
    }
    let (s, _, _) = app
        .call(
            Method::GET,
            "/api/v1/bureau/indices/profit/series",
            Some(&bureau),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // 403 both ways: the bureau on every tenant route, a tenant owner on every bureau route.
    let mut checked = (0, 0);
    for (method, path, access) in ROUTES {
        let Access::Tenant(action) = access else {
            continue;
        };
        let concrete = path
            .replace("{id}", "1")
            .replace("{event_id}", "1")
            .replace("{delivery_id}", "1")
            .replace("{index}", "utilisation")
            .replace("{class}", "cnc");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PATCH | Method::PUT).then(|| json!({}));
        let (who, key) = if *action == Action::ReadSectorAggregates {
            checked.1 += 1;
            ("tenant owner", t0.as_str())
        } else {
            checked.0 += 1;
            ("bureau", bureau.as_str())
        };
        let (s, p, _) = app.call(method.clone(), &concrete, Some(key), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who} on {method} {path}: {p}");
    }
    assert!(checked.0 > 50 && checked.1 == 3, "{checked:?}");
}

/// The OpenAPI document gives both answers of the export routes: JSON and CSV.
#[tokio::test]
async fn the_document_lists_json_and_csv() {
    let app = TestApp::spawn().await;
    let (_, doc, _) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    for route in ["series", "cross-section"] {
        let content = &doc["paths"][format!("/api/v1/bureau/indices/{{index}}/{route}")]["get"]
            ["responses"]["200"]["content"];
        assert!(content["application/json"].is_object(), "{content}");
        assert!(content["text/csv"].is_object(), "{content}");
    }
}
