//! The HTTP API over real HTTP against the real server on port 0 and a real database:
//! authentication, tenant isolation, every bad-input case, the plant model, probes, metrics
//! and the OpenAPI document.

use chrono::{Duration, Utc};
use millwright_platform::test_util::{tenant_with_tags, TestApp, TestTenant};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Ctx {
    app: TestApp,
    a: TestTenant,
    b: TestTenant,
    http: Client,
}

async fn ctx_with(tweak: impl FnOnce(&mut millwright_platform::config::Settings)) -> Ctx {
    let app = TestApp::spawn_with(tweak).await;
    let a = tenant_with_tags(&app.store, "a", &["a.temp", "a.speed"]).await;
    let b = tenant_with_tags(&app.store, "b", &["b.temp"]).await;
    Ctx {
        app,
        a,
        b,
        http: Client::new(),
    }
}

async fn ctx() -> Ctx {
    ctx_with(|_| {}).await
}

impl Ctx {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        self.app.call(method, path, key, body).await
    }
    async fn ingest(&self, key: &str, body: Value) -> (StatusCode, Value, String) {
        self.call(Method::POST, "/api/v1/ingest", Some(key), Some(body))
            .await
    }
}

fn now_ms(offset_s: i64) -> String {
    (Utc::now() + Duration::seconds(offset_s)).to_rfc3339()
}

/// Asserts a problem+json answer with `status` naming `field`.
fn assert_problem(got: &(StatusCode, Value, String), status: StatusCode, field: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.2, "application/problem+json", "{:?}", got.1);
    assert_eq!(got.1["status"], status.as_u16());
    let named = got.1["field"].as_str().unwrap_or_default();
    assert!(
        named.contains(field),
        "expected field {field}, got {named:?} in {}",
        got.1
    );
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401() {
    let c = ctx().await;
    for key in [
        None,
        Some("nonsense"),
        Some("mwk_abcdefgh_0000000000000000000000000000000000000000000"),
    ] {
        let got = c.call(Method::GET, "/api/v1/tags", key, None).await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(got.2, "application/problem+json");
    }
    let ok = c
        .call(Method::GET, "/api/v1/tags", Some(&c.a.key), None)
        .await;
    assert_eq!(ok.0, StatusCode::OK);
    assert_eq!(ok.1.as_array().unwrap().len(), 2, "only its own tags");
}

#[tokio::test]
async fn another_tenants_objects_are_404() {
    let c = ctx().await;
    let b_tag = c.b.tag_ids[0];
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/tags/{b_tag}"), None),
        (Method::GET, format!("/api/v1/tags/{b_tag}/samples"), None),
        (
            Method::PATCH,
            format!("/api/v1/tags/{b_tag}"),
            Some(json!({"unit": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/tags/{b_tag}"), None),
        (
            Method::GET,
            format!("/api/v1/machines/{}", c.b.machine_id),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/samples/latest?tags={b_tag}"),
            None,
        ),
    ] {
        let got = c.call(method.clone(), &path, Some(&c.a.key), body).await;
        assert_eq!(got.0, StatusCode::NOT_FOUND, "{method} {path}: {:?}", got.1);
        assert_eq!(got.2, "application/problem+json");
    }
    // Ingest to another tenant's tag by id is an unknown tag, not a write.
    let got = c
        .ingest(
            &c.a.key,
            json!({"samples": [{"tag_id": b_tag, "time": now_ms(-1), "value": 1.0}]}),
        )
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "samples[0].tag_id");
    // And B still has its tag.
    let got = c
        .call(
            Method::GET,
            &format!("/api/v1/tags/{b_tag}"),
            Some(&c.b.key),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK);
}

#[tokio::test]
async fn ingest_round_trips_and_is_idempotent() {
    let c = ctx().await;
    let t0 = Utc::now() - Duration::minutes(30);
    let samples: Vec<Value> = (0..120)
        .map(|i| {
            json!({"tag": "a.temp", "time": (t0 + Duration::seconds(i)).to_rfc3339(), "value": i as f64 / 2.0,
                   "quality": if i == 5 { "uncertain" } else { "good" }})
        })
        .collect();
    let got = c.ingest(&c.a.key, json!({ "samples": samples })).await;
    assert_eq!(got.0, StatusCode::OK, "{:?}", got.1);
    assert_eq!(got.1["accepted"], 120);
    let again = c.ingest(&c.a.key, json!({ "samples": samples })).await;
    assert_eq!(
        (again.1["accepted"].as_u64(), again.1["duplicates"].as_u64()),
        (Some(0), Some(120))
    );

    let tag = c.a.tag_ids[0];
    let from = (t0 - Duration::minutes(1)).to_rfc3339();
    let q = |extra: &str| {
        format!(
            "/api/v1/tags/{tag}/samples?from={}{extra}",
            urlencode(&from)
        )
    };
    let raw = c.call(Method::GET, &q(""), Some(&c.a.key), None).await;
    assert_eq!(raw.0, StatusCode::OK, "{:?}", raw.1);
    let points = raw.1["samples"].as_array().unwrap();
    assert_eq!(points.len(), 120);
    assert_eq!(points[5]["quality"], "uncertain");
    assert_eq!(points[7]["value"], 3.5);

    let bucketed = c
        .call(
            Method::GET,
            &q("&bucket=1m&agg=count"),
            Some(&c.a.key),
            None,
        )
        .await;
    assert_eq!(bucketed.0, StatusCode::OK, "{:?}", bucketed.1);
    assert_eq!(bucketed.1["source"], "rollup_1m");
    let total: f64 = bucketed.1["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 120.0);

    let latest = c
        .call(
            Method::GET,
            &format!("/api/v1/samples/latest?tags={},{}", tag, c.a.tag_ids[1]),
            Some(&c.a.key),
            None,
        )
        .await;
    assert_eq!(latest.0, StatusCode::OK);
    assert_eq!(latest.1[0]["sample"]["value"], 59.5);
    assert_eq!(latest.1[1]["sample"], Value::Null);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn bad_samples_are_named_and_good_ones_kept() {
    let c = ctx().await;
    let samples = json!([
        {"tag": "a.temp", "time": now_ms(-10), "value": 1.0},
        {"tag": "a.temp", "time": now_ms(-9), "value": "NaN"},
        {"tag": "a.temp", "time": now_ms(-8), "value": "Infinity"},
        {"tag": "a.temp", "time": now_ms(3600), "value": 1.0},
        {"tag": "a.temp", "time": "1999-01-01T00:00:00Z", "value": 1.0},
        {"tag": "no.such.tag", "time": now_ms(-7), "value": 1.0},
        {"tag": "a.temp", "time": now_ms(-6)},
        {"tag": "a.temp", "time": now_ms(-5), "value": 1.0, "quality": "excellent"},
        {"tag": "a.temp", "time": "yesterday", "value": 1.0},
        42,
        {"tag": "a.temp", "time": now_ms(-4), "quality": "bad"},
        {"tag": "a.speed", "time": now_ms(-3), "value": 7}
    ]);
    let got = c.ingest(&c.a.key, json!({ "samples": samples })).await;
    assert_eq!(got.0, StatusCode::OK, "{:?}", got.1);
    assert_eq!(got.1["accepted"], 3, "{:?}", got.1);
    let rejected: Vec<(u64, String)> = got.1["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        (1, "samples[1].value"),
        (2, "samples[2].value"),
        (3, "samples[3].time"),
        (4, "samples[4].time"),
        (5, "samples[5].tag"),
        (6, "samples[6].value"),
        (7, "samples[7].quality"),
        (8, "samples[8].time"),
        (9, "samples[9]"),
    ];
    assert_eq!(rejected, expected.map(|(i, f)| (i, f.to_string())).to_vec());
}

#[tokio::test]
async fn atomic_batches_store_nothing_when_one_sample_is_bad() {
    let c = ctx().await;
    let body = json!({"atomic": true, "samples": [
        {"tag": "a.temp", "time": now_ms(-2), "value": 1.0},
        {"tag": "a.temp", "time": now_ms(-1), "value": "NaN"}
    ]});
    let got = c.ingest(&c.a.key, body).await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "samples[1].value");
    assert_eq!(got.1["errors"].as_array().unwrap().len(), 1);
    let latest = c
        .call(
            Method::GET,
            &format!("/api/v1/samples/latest?tags={}", c.a.tag_ids[0]),
            Some(&c.a.key),
            None,
        )
        .await;
    assert_eq!(latest.1[0]["sample"], Value::Null, "nothing stored");
    // Without atomic, a batch where every sample is bad is also 422.
    let got = c
        .ingest(
            &c.a.key,
            json!({"samples": [{"tag": "zzz", "time": now_ms(-1), "value": 1}]}),
        )
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "samples[0].tag");
}

#[tokio::test]
async fn malformed_bodies_name_the_field() {
    let c = ctx().await;
    let got = c.ingest(&c.a.key, json!({"samples": "lots"})).await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "samples");
    let got = c.ingest(&c.a.key, json!({"sample": []})).await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "sample");
    let res = c
        .http
        .post(format!("{}/api/v1/ingest", c.app.url))
        .bearer_auth(&c.a.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    // Not JSON at all: 400 (JSON of the wrong shape is 422).
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let got = c
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&c.a.key),
            Some(json!({"name": 5})),
        )
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "name");
    let got = c
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&c.a.key),
            Some(json!({"name": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(got.1["detail"].as_str().unwrap().contains("colour"));
    let tag = c.a.tag_ids[0];
    for (query, field) in [
        ("bucket=7x", "bucket"),
        ("agg=avg", "agg"),
        ("bucket=1m&agg=median", "agg"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("limit=0", "limit"),
        ("from=tuesday", "from"),
        ("bucket=1s&from=2020-01-01T00:00:00Z", "bucket"),
    ] {
        let got = c
            .call(
                Method::GET,
                &format!("/api/v1/tags/{tag}/samples?{query}"),
                Some(&c.a.key),
                None,
            )
            .await;
        assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
}

#[tokio::test]
async fn oversize_batches_get_413() {
    let c = ctx_with(|s| {
        s.ingest.max_batch_samples = 10;
        s.http.max_body_bytes = 4096;
    })
    .await;
    let samples: Vec<Value> = (0..11)
        .map(|i| json!({"tag": "a.temp", "time": now_ms(-100 + i), "value": 1}))
        .collect();
    let got = c.ingest(&c.a.key, json!({ "samples": samples })).await;
    assert_problem(&got, StatusCode::PAYLOAD_TOO_LARGE, "samples");
    let big = json!({"samples": [{"tag": "a.temp", "time": now_ms(-1), "value": 1, "note": "x".repeat(5000)}]});
    let got = c.ingest(&c.a.key, big).await;
    assert_problem(&got, StatusCode::PAYLOAD_TOO_LARGE, "body");
}

#[tokio::test]
async fn plant_model_crud() {
    let c = ctx().await;
    let key = Some(c.a.key.as_str());
    let (s, site, _) = c
        .call(
            Method::POST,
            "/api/v1/sites",
            key,
            Some(json!({"name": "Plant 2", "description": "new"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{site}");
    let conflict = c
        .call(
            Method::POST,
            "/api/v1/sites",
            key,
            Some(json!({"name": "Plant 2"})),
        )
        .await;
    assert_problem(&conflict, StatusCode::CONFLICT, "name");
    let missing = c
        .call(
            Method::POST,
            "/api/v1/lines",
            key,
            Some(json!({"name": "L"})),
        )
        .await;
    assert_problem(&missing, StatusCode::UNPROCESSABLE_ENTITY, "site_id");
    let (s, line, _) = c
        .call(
            Method::POST,
            "/api/v1/lines",
            key,
            Some(json!({"site_id": site["id"], "name": "L1"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{line}");
    let (s, machine, _) = c
        .call(
            Method::POST,
            "/api/v1/machines",
            key,
            Some(json!({"line_id": line["id"], "name": "cnc-9", "kind": "cnc"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{machine}");
    let foreign = c
        .call(
            Method::POST,
            "/api/v1/tags",
            key,
            Some(json!({"machine_id": c.b.machine_id, "name": "t"})),
        )
        .await;
    assert_problem(&foreign, StatusCode::UNPROCESSABLE_ENTITY, "machine_id");
    let (s, tag, _) = c
        .call(Method::POST, "/api/v1/tags", key, Some(json!({"machine_id": machine["id"], "name": "cnc-9.rpm", "unit": "rpm", "value_type": "integer"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tag}");
    assert_eq!(tag["value_type"], "integer");
    let (s, patched, _) = c
        .call(
            Method::PATCH,
            &format!("/api/v1/tags/{}", tag["id"]),
            key,
            Some(json!({"unit": "1/min"})),
        )
        .await;
    assert_eq!(
        (s, patched["unit"].as_str(), patched["name"].as_str()),
        (StatusCode::OK, Some("1/min"), Some("cnc-9.rpm"))
    );
    let (_, listed, _) = c
        .call(
            Method::GET,
            &format!("/api/v1/machines?line_id={}", line["id"]),
            key,
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, page, _) = c.call(Method::GET, "/api/v1/tags?limit=2", key, None).await;
    let last = page[1]["id"].as_i64().unwrap();
    let (_, next, _) = c
        .call(
            Method::GET,
            &format!("/api/v1/tags?limit=2&after={last}"),
            key,
            None,
        )
        .await;
    assert_eq!(next.as_array().unwrap().len(), 1);
    let (s, _, _) = c
        .call(
            Method::DELETE,
            &format!("/api/v1/sites/{}", site["id"]),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = c
        .call(
            Method::GET,
            &format!("/api/v1/tags/{}", tag["id"]),
            key,
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "deleting a site deletes what is under it"
    );
}

#[tokio::test]
async fn probes_and_metrics() {
    let c = ctx().await;
    assert_eq!(
        c.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        c.call(Method::GET, "/readyz", None, None).await.0,
        StatusCode::OK
    );
    c.ingest(&c.a.key, json!({"samples": [{"tag": "a.temp", "time": now_ms(-1), "value": 1}, {"tag": "x", "time": now_ms(-1), "value": 1}]})).await;
    let (s, body, content_type) = c.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"));
    let text = body.as_str().unwrap();
    assert!(
        text.contains("millwright_ingest_samples_accepted_total 1"),
        "{text}"
    );
    assert!(
        text.contains("millwright_ingest_samples_rejected_total 1"),
        "{text}"
    );
    assert!(text.contains("route=\"/api/v1/ingest\""), "{text}");
    let unknown = c
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let mut settings = millwright_platform::test_util::fresh_settings(
        millwright_platform::config::BackendChoice::Plain,
    )
    .await;
    let store = millwright_platform::store::Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    // Point the app pool at a database that does not exist.
    let url = settings
        .database
        .app_url
        .as_ref()
        .unwrap()
        .expose()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string()
        + "/gone";
    settings.database.app_url = Some(millwright_platform::config::Secret::new(url));
    let err = millwright_platform::store::Store::open(&settings.database, &settings.store).await;
    assert!(err.is_ok(), "pools connect lazily");
    let broken = err.unwrap();
    assert!(broken.ping().await.is_err());
    assert!(store.ping().await.is_ok());
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let c = ctx().await;
    let (s, doc, _) = c
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        "/api/v1/ingest",
        "/api/v1/tags/{id}/samples",
        "/api/v1/samples/latest",
        "/api/v1/sites",
        "/api/v1/sites/{id}",
        "/api/v1/lines",
        "/api/v1/lines/{id}",
        "/api/v1/machines",
        "/api/v1/machines/{id}",
        "/api/v1/tags",
        "/api/v1/tags/{id}",
        "/api/v1/machines/{id}/events",
        "/api/v1/machines/{id}/events/{event_id}",
        "/api/v1/models/training-jobs",
        "/api/v1/models/training-jobs/{id}",
        "/api/v1/models/versions",
        "/api/v1/models/versions/{id}",
        "/api/v1/models/versions/{id}/promote",
        "/api/v1/alarms",
        "/api/v1/alarms/{id}/ack",
        "/healthz",
        "/readyz",
    ];
    for p in expected {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            // Every documented operation is served: the route exists and the method is allowed.
            let concrete = path.replace("{id}", &c.a.tag_ids[0].to_string());
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let got = c.call(m, &concrete, None, None).await;
            assert_ne!(got.0, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !got.1.to_string().contains("no such route"),
                "{method} {path} is documented but not routed"
            );
            // Every operation that needs a key documents 401, and every error is problem+json.
            let responses = op["responses"].as_object().unwrap();
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            }
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    assert!(
                        r["content"].get("application/problem+json").is_some(),
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    // Every referenced schema exists.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
}
