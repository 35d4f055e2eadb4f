//! Text tags end to end over HTTP, on every storage layout: ingest takes strings for text tags
//! and refuses them for numeric tags (and numbers for text tags) one sample at a time, with a
//! reason; text samples come back from raw, latest and bucketed (`last`, `count`) reads;
//! other aggregates are refused naming the allowed ones; the length limit; retention and
//! compression reach text samples as they reach numbers; another tenant sees nothing.

use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use millwright_platform::api::{RunningServer, Server};
use millwright_platform::config::BackendChoice;
use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::store::ingest::Quality;
use millwright_platform::store::tenancy::ProfileChange;
use millwright_platform::store::text::TextSampleRow;
use millwright_platform::store::{Backend, Store};
use millwright_platform::test_util::{fresh_settings, tenant_with_tags, TestTenant};
use millwright_tenants::plan::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[macro_use]
mod common;

on_every_backend!(
    text_and_numbers_are_checked_per_sample_and_read_back,
    bucketed_text_allows_last_and_count_only,
    text_samples_are_kept_apart_per_tenant,
    retention_and_compression_reach_text_samples,
    a_database_from_before_text_tags_gets_them_once_on_start,
);

struct Ctx {
    store: Store,
    url: String,
    http: reqwest::Client,
    _server: RunningServer,
}

async fn ctx(backend: BackendChoice) -> Ctx {
    let settings = fresh_settings(backend).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let server = Server::bind(store.clone(), Arc::new(settings))
        .await
        .unwrap()
        .spawn();
    Ctx {
        store,
        url: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
        _server: server,
    }
}

impl Ctx {
    async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.call(key, reqwest::Method::GET, path, None).await
    }
    async fn ingest(&self, key: &str, samples: Value) -> (StatusCode, Value) {
        self.call(
            key,
            reqwest::Method::POST,
            "/ingest",
            Some(json!({ "samples": samples })),
        )
        .await
    }
}

/// A tenant with a numeric tag `<prefix>.temp` and a text tag `<prefix>.program`.
async fn tenant(store: &Store, name: &str, prefix: &str) -> (TestTenant, i64, i64) {
    let temp = format!("{prefix}.temp");
    let t = tenant_with_tags(store, name, &[temp.as_str()]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let text = s
        .create(
            Kind::Tag,
            &EntityFields {
                parent_id: Some(t.machine_id),
                name: Some(format!("{prefix}.program")),
                value_type: Some(ValueType::Text),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    let numeric = t.tag_ids[0];
    (t, numeric, text)
}

fn at(minutes_ago: i64, secs: i64) -> String {
    let base = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    (base - Duration::minutes(minutes_ago) + Duration::seconds(secs)).to_rfc3339()
}

fn rejected_fields(body: &Value) -> Vec<(u64, String, String)> {
    body["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn text_and_numbers_are_checked_per_sample_and_read_back(backend: BackendChoice) {
    let c = ctx(backend).await;
    let (t, temp, program) = tenant(&c.store, "acme", "acme").await;
    let long = "x".repeat(1025);
    let (status, body) = c
        .ingest(
            &t.key,
            json!([
                {"tag": "acme.program", "time": at(10, 0), "value": "AUTO"},
                {"tag": "acme.temp", "time": at(10, 0), "value": 21.5},
                {"tag": "acme.program", "time": at(10, 1), "value": 42},
                {"tag": "acme.temp", "time": at(10, 1), "value": "AUTO"},
                {"tag_id": program, "time": at(10, 2), "value": "O1002 FLANGE", "quality": "uncertain"},
                {"tag": "acme.program", "time": at(10, 3), "value": long},
                {"tag": "acme.program", "time": at(10, 4), "value": "a\u{0}b"},
                {"tag": "acme.program", "time": at(10, 5), "quality": "bad"},
                {"tag": "acme.program", "time": at(10, 6)},
                {"tag": "acme.program", "time": at(10, 7), "value": true},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 4, "{body}");
    let rejected = rejected_fields(&body);
    let indexes: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(indexes, [2, 3, 5, 6, 8, 9], "{body}");
    for (index, field, detail) in &rejected {
        assert_eq!(field, &format!("samples[{index}].value"));
        let expected = match index {
            2 | 9 => "value_type is text",
            3 => "is text, but this tag holds numbers",
            5 => "at most 1024",
            6 => "NUL",
            _ => "missing",
        };
        assert!(detail.contains(expected), "{index}: {detail}");
    }
    // Re-sending is idempotent for text as for numbers.
    let (_, again) = c
        .ingest(
            &t.key,
            json!([{"tag": "acme.program", "time": at(10, 0), "value": "AUTO"}]),
        )
        .await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );

    // Raw reads return strings for the text tag, numbers for the other.
    let from = urlencode(&at(11, 0));
    let (status, raw) = c
        .get(&t.key, &format!("/tags/{program}/samples?from={from}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    let samples = raw["samples"].as_array().unwrap();
    let values: Vec<&Value> = samples.iter().map(|s| &s["value"]).collect();
    assert_eq!(
        values,
        [&json!("AUTO"), &json!("O1002 FLANGE"), &Value::Null],
        "{raw}"
    );
    assert_eq!(samples[1]["quality"], "uncertain");
    assert_eq!(samples[2]["quality"], "bad");
    let (_, raw) = c
        .get(&t.key, &format!("/tags/{temp}/samples?from={from}"))
        .await;
    assert_eq!(raw["samples"][0]["value"], json!(21.5), "{raw}");

    // Latest of both kinds in one call, in the order asked.
    let (status, latest) = c
        .get(&t.key, &format!("/samples/latest?tags={program},{temp}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest[0]["tag_id"], program);
    assert_eq!(
        latest[0]["sample"]["quality"], "bad",
        "the bad sample is the latest: {latest}"
    );
    assert_eq!(latest[1]["sample"]["value"], json!(21.5));
    c.ingest(
        &t.key,
        json!([{"tag": "acme.program", "time": at(9, 0), "value": "MANUAL"}]),
    )
    .await;
    let (_, latest) = c
        .get(&t.key, &format!("/samples/latest?tags={program}"))
        .await;
    assert_eq!(latest[0]["sample"]["value"], "MANUAL", "{latest}");

    // Changing to text is what a tag's value_type says; the OpenAPI document knows `text`.
    let (_, doc) = c.get(&t.key, "/openapi.json").await;
    assert!(doc.to_string().contains("\"text\""));
}

async fn bucketed_text_allows_last_and_count_only(backend: BackendChoice) {
    let c = ctx(backend).await;
    let (t, _, program) = tenant(&c.store, "acme", "acme").await;
    let samples: Vec<Value> = (0..6)
        .map(|i| json!({"tag": "acme.program", "time": at(5, i * 20), "value": format!("P{i}")}))
        .collect();
    let (_, body) = c.ingest(&t.key, json!(samples)).await;
    assert_eq!(body["accepted"], 6, "{body}");
    let from = urlencode(&at(5, 0));
    let to = urlencode(&at(3, 0));
    let path =
        |agg: &str| format!("/tags/{program}/samples?from={from}&to={to}&bucket=1m&agg={agg}");
    let (status, last) = c.get(&t.key, &path("last")).await;
    assert_eq!(status, StatusCode::OK, "{last}");
    let points: Vec<&Value> = last["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["value"])
        .collect();
    assert_eq!(points, [&json!("P2"), &json!("P5")], "{last}");
    let (status, count) = c.get(&t.key, &path("count")).await;
    assert_eq!(status, StatusCode::OK, "{count}");
    let counts: Vec<f64> = count["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(counts, [3.0, 3.0], "{count}");
    // Without agg, a text tag's buckets hold the last text.
    let (_, default) = c
        .get(
            &t.key,
            &format!("/tags/{program}/samples?from={from}&to={to}&bucket=1m"),
        )
        .await;
    assert_eq!(default["agg"], "last", "{default}");
    // Empty buckets: `previous` repeats the last text; `linear` means nothing for text.
    let to_later = urlencode(&at(1, 0));
    let (status, filled) = c
        .get(
            &t.key,
            &format!("/tags/{program}/samples?from={from}&to={to_later}&bucket=1m&fill=previous"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filled}");
    let values: Vec<&Value> = filled["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["value"])
        .collect();
    assert_eq!(
        values,
        [&json!("P2"), &json!("P5"), &json!("P5"), &json!("P5")],
        "{filled}"
    );
    let (status, problem) = c
        .get(
            &t.key,
            &format!("/tags/{program}/samples?from={from}&to={to}&bucket=1m&fill=linear"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem.to_string().contains("fill"), "{problem}");
    for agg in ["avg", "min", "max"] {
        let (status, problem) = c.get(&t.key, &path(agg)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{agg}: {problem}");
        let text = problem.to_string();
        assert!(
            text.contains("agg") && text.contains("last, count"),
            "{agg}: {text}"
        );
    }
}

async fn text_samples_are_kept_apart_per_tenant(backend: BackendChoice) {
    let c = ctx(backend).await;
    let (a, _, a_program) = tenant(&c.store, "tenant-a", "a").await;
    let (b, _, b_program) = tenant(&c.store, "tenant-b", "b").await;
    c.ingest(
        &a.key,
        json!([{"tag": "a.program", "time": at(2, 0), "value": "A-SECRET"}]),
    )
    .await;
    // B names A's tag by id: unknown to B, per sample; by name: unknown too.
    let (status, body) = c
        .ingest(
            &b.key,
            json!([
                {"tag_id": a_program, "time": at(2, 1), "value": "MINE"},
                {"tag": "b.program", "time": at(2, 1), "value": "B-OWN"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(rejected_fields(&body)[0].1, "samples[0].tag_id");
    let (status, _) = c.get(&b.key, &format!("/tags/{a_program}/samples")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .get(&b.key, &format!("/samples/latest?tags={a_program}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The application role sees only its tenant's text, even without a filter. The tenant is
    // set as the platform sets it, with SET LOCAL (Citus carries only that to its workers).
    let mut app = c.store.app_pool().get().await.unwrap();
    let tx = app.transaction().await.unwrap();
    tx.batch_execute(&format!("SET LOCAL millwright.tenant_id = '{}'", b.id.0))
        .await
        .unwrap();
    let seen: Vec<String> = tx
        .query("SELECT value FROM tenant_text_samples", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, ["B-OWN"]);
    let table = tx.query("SELECT value FROM text_samples", &[]).await;
    if backend == BackendChoice::Citus {
        // On Citus the role reads the distributed table itself, under row-level security.
        let seen: Vec<String> = table.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(seen, ["B-OWN"]);
    } else {
        let err = table.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{err}"
        );
    }
    let _ = b_program;
}

async fn retention_and_compression_reach_text_samples(backend: BackendChoice) {
    let c = ctx(backend).await;
    let (t, _, program) = tenant(&c.store, "acme", "acme").await;
    let owner = c.store.owner_pool().get().await.unwrap();
    // Ten days old: inside the Pro plan's retention, old enough to compress.
    let old = (Utc::now() - Duration::days(10)).to_rfc3339();
    let (_, body) = c
        .ingest(
            &t.key,
            json!([{"tag": "acme.program", "time": old, "value": "OLD-RECIPE"}]),
        )
        .await;
    assert_eq!(body["accepted"], 1, "{body}");
    if c.store.backend() == Backend::Timescale {
        let jobs: Vec<String> = owner
            .query(
                "SELECT proc_name::text FROM timescaledb_information.jobs \
                 WHERE hypertable_name = 'text_samples' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(jobs, ["policy_compression", "policy_retention"]);
        let compressed: i64 = owner
            .query_one(
                "SELECT count(compress_chunk(ch, true)) FROM show_chunks('text_samples', older_than => interval '5 days') ch",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(compressed >= 1, "a chunk was compressed");
        // Still readable through the API once compressed.
        let from = urlencode(&(Utc::now() - Duration::days(11)).to_rfc3339());
        let (_, raw) = c
            .get(&t.key, &format!("/tags/{program}/samples?from={from}"))
            .await;
        assert_eq!(raw["samples"][0]["value"], "OLD-RECIPE", "{raw}");
    } else {
        let parts: i64 = owner
            .query_one(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'text_samples'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(parts >= 1);
        // Maintenance creates partitions ahead.
        let report = c.store.maintain().await.unwrap();
        let ahead: i64 = owner
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = 'text_samples_p' || to_char(current_date + 2, $1)",
                // Citus names its time partitions with underscores.
                &[&if backend == BackendChoice::Citus { "YYYY_MM_DD" } else { "YYYYMMDD" }],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(ahead, 1, "{report:?}");
    }
    // A plan that keeps less trims text too: on Monitor (90 days), a 100-day-old row goes.
    let (small, _, small_program) = tenant(&c.store, "small", "small").await;
    let monitor = ProfileChange {
        plan: Some(Plan::Monitor),
        ..Default::default()
    };
    let mut s = c.store.tenant(small.id).await.unwrap();
    s.update_profile(&monitor).await.unwrap();
    let row = TextSampleRow {
        tag_id: small_program,
        time: Utc::now() - Duration::days(100),
        value: Some("ANCIENT".into()),
        quality: Quality::Good,
    };
    assert_eq!(s.ingest_with_text(&[], &[row]).await.unwrap().inserted, 1);
    drop(s);
    let report = c.store.maintain().await.unwrap();
    assert!(report.trimmed_to_plan >= 1, "{report:?}");
    let left: i64 = owner
        .query_one(
            "SELECT count(*) FROM text_samples WHERE value = 'ANCIENT'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let kept: i64 = owner
        .query_one(
            "SELECT count(*) FROM text_samples WHERE value = 'OLD-RECIPE'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1, "the Pro tenant's ten-day-old text stays");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// A database whose layout was created before text samples existed gets them on its next
/// start, exactly once, for its own layout; its numeric samples are untouched.
async fn a_database_from_before_text_tags_gets_them_once_on_start(backend: BackendChoice) {
    let settings = fresh_settings(backend).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let (t, temp, _) = tenant(&store, "acme", "acme").await;
    let mut s = store.tenant(t.id).await.unwrap();
    let row = millwright_platform::store::ingest::SampleRow {
        tag_id: temp,
        time: Utc::now() - Duration::minutes(1),
        value: Some(1.0),
        quality: Quality::Good,
    };
    s.ingest(&[row]).await.unwrap();
    drop(s);
    // Back to how such a database looked: no text part at all.
    let owner = store.owner_pool().get().await.unwrap();
    owner
        .batch_execute(
            "DROP VIEW tenant_text_samples; DROP TABLE text_samples CASCADE; \
             DROP FUNCTION ingest_prepare_text(); DROP FUNCTION ingest_commit_text(); \
             DROP FUNCTION IF EXISTS ensure_text_sample_partitions(date, date); \
             DROP FUNCTION IF EXISTS drop_expired_text_sample_partitions(interval); \
             DELETE FROM storage_layout_parts;",
        )
        .await
        .unwrap();
    drop(owner);
    drop(store);
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let again = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    assert_eq!(store.backend(), again.backend());
    let owner = store.owner_pool().get().await.unwrap();
    let parts: Vec<String> = owner
        .query("SELECT name FROM storage_layout_parts ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Issue #11 added a part that confines text ingest to a device token's site, issue #18
    // one that keys samples and rollups by tenant first (applied again here: it is idempotent)
    // and one that makes the tenant views name their tenant.
    assert_eq!(
        parts,
        [
            "distribution_keys",
            "tenant_views_tenant_id",
            "text_ingest_scoped",
            "text_samples"
        ]
    );
    // Without TimescaleDB (Citus) its catalog view does not exist at all.
    let catalog: bool = owner
        .query_one(
            "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let hypertable: bool = catalog
        && owner
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables \
                 WHERE hypertable_name = 'text_samples')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(hypertable, store.backend() == Backend::Timescale);
    let mut s = store.tenant(t.id).await.unwrap();
    let program = s.tag_kinds_by_name(&["acme.program"]).await.unwrap()["acme.program"].0;
    let text = TextSampleRow {
        tag_id: program,
        time: Utc::now() - Duration::minutes(1),
        value: Some("AUTO".into()),
        quality: Quality::Good,
    };
    assert_eq!(s.ingest_with_text(&[], &[text]).await.unwrap().inserted, 1);
    let numbers = s
        .raw_samples(temp, Utc::now() - Duration::hours(1), Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(numbers.len(), 1);
}
