//! Shared by the maintenance test files: a tenant with a line of synthetic machines, their
//! samples and events, and the calls that train models through the API.
//!
//! History is a documented synthetic degradation shaped like the injection-moulding simulator
//! (`connectors::simulator` docs): a wear level `L` grows linearly from 0 after a repair to 1
//! at the failure, and shows in the process values as
//! `barrel_temp_3 = 226 − 30·L²`, `mould_temp = 45 + 15·L²`,
//! `injection_pressure = 1150 − 300·L³`, `barrel_temp_1 = 230` (uninformative), each with
//! uniform noise; one sample per tag every 15 minutes, none while the machine is down (one
//! hour from failure to repair). Healthy machines keep `L = 0`.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_platform::store::entities::{EntityFields, Kind};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::{Store, TenantId};
use millwright_platform::test_util::TestApp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const CLASS: &str = "injection_moulding";
pub(crate) const CHANNELS: [&str; 4] = [
    "barrel_temp_1",
    "barrel_temp_3",
    "mould_temp",
    "injection_pressure",
];
pub(crate) const STEP_MIN: i64 = 15;

/// A tenant with one line; machines are added with [`Plant::machine`].
pub(crate) struct Plant {
    /// The tenant.
    pub(crate) tenant: TenantId,
    /// Its API key.
    pub(crate) key: String,
    /// Its one line.
    pub(crate) line: i64,
}

/// A synthetic machine: its id, its tags (in [`CHANNELS`] order) and its noise.
pub(crate) struct SimMachine {
    /// The machine's id.
    pub(crate) id: i64,
    tags: Vec<i64>,
    rng: StdRng,
}

pub(crate) async fn plant(store: &Store, name: &str) -> Plant {
    let tenant = store
        .create_tenant(&millwright_platform::store::admin::NewTenant::named(
            name,
            millwright_tenants::plan::Plan::Pro,
        ))
        .await
        .unwrap();
    let key = store
        .issue_api_key(tenant, "test", millwright_tenants::role::Role::Owner)
        .await
        .unwrap();
    let mut s = store.tenant(tenant).await.unwrap();
    let named = |n: &str| EntityFields {
        name: Some(n.to_string()),
        ..Default::default()
    };
    let site = s.create(Kind::Site, &named("site")).await.unwrap().id();
    let line = s
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(site),
                ..named("moulding")
            },
        )
        .await
        .unwrap()
        .id();
    Plant { tenant, key, line }
}

impl Plant {
    pub(crate) async fn machine(&self, store: &Store, name: &str, seed: u64) -> SimMachine {
        let mut s = store.tenant(self.tenant).await.unwrap();
        let id = s
            .create(
                Kind::Machine,
                &EntityFields {
                    parent_id: Some(self.line),
                    name: Some(name.to_string()),
                    kind: Some(CLASS.to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id();
        let mut tags = Vec::new();
        for c in CHANNELS {
            let fields = EntityFields {
                parent_id: Some(id),
                name: Some(format!("{name}.{c}")),
                ..Default::default()
            };
            tags.push(s.create(Kind::Tag, &fields).await.unwrap().id());
        }
        SimMachine {
            id,
            tags,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl SimMachine {
    /// Samples every step in `[from, to)` at wear `level(t)`.
    pub(crate) fn samples(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        level: impl Fn(DateTime<Utc>) -> f64,
    ) -> Vec<SampleRow> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            let l = level(t);
            let mut noise = |a: f64| self.rng.gen_range(-a..a);
            let values = [
                230.0 + noise(1.0),
                226.0 - 30.0 * l * l + noise(1.2),
                45.0 + 15.0 * l * l + noise(0.6),
                1150.0 - 300.0 * l.powi(3) + noise(12.0),
            ];
            for (tag, v) in self.tags.iter().zip(values) {
                out.push(SampleRow {
                    tag_id: *tag,
                    time: t,
                    value: Some(v),
                    quality: Quality::Good,
                });
            }
            t += Duration::minutes(STEP_MIN);
        }
        out
    }
}

pub(crate) async fn ingest(store: &Store, tenant: TenantId, rows: &[SampleRow]) {
    let mut s = store.tenant(tenant).await.unwrap();
    for chunk in rows.chunks(5000) {
        s.ingest(chunk).await.unwrap();
    }
}

pub(crate) async fn event(app: &TestApp, key: &str, machine: i64, kind: &str, at: DateTime<Utc>) {
    let path = format!("/api/v1/machines/{machine}/events");
    let body = json!({"kind": kind, "at": at.to_rfc3339(), "code": "101"});
    let (s, v, _) = app.call(Method::POST, &path, Some(key), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

/// Runs a degrading machine through cycles of `lives` hours from `start` to `end`: samples,
/// failure events and repair events one hour later.
pub(crate) async fn run_to_failures(
    app: &TestApp,
    p: &Plant,
    m: &mut SimMachine,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    lives: &[i64],
) {
    event(app, &p.key, m.id, "maintenance", start).await;
    let mut t = start;
    let mut rows = Vec::new();
    for life in lives.iter().cycle() {
        if t >= end {
            break;
        }
        let fail = t + Duration::hours(*life);
        let begin = t;
        let life_h = *life as f64;
        rows.extend(m.samples(begin, fail.min(end), |x| {
            ((x - begin).num_minutes() as f64 / 60.0 / life_h).min(1.0)
        }));
        if fail < end {
            event(app, &p.key, m.id, "failure", fail).await;
            event(app, &p.key, m.id, "repair", fail + Duration::hours(1)).await;
        }
        t = fail + Duration::hours(1);
    }
    ingest(&app.store, p.tenant, &rows).await;
}

pub(crate) fn assert_problem(got: &(StatusCode, Value, String), status: StatusCode, field: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.2, "application/problem+json", "{:?}", got.1);
    assert_eq!(got.1["field"].as_str(), Some(field), "{}", got.1);
}

pub(crate) async fn wait_for_job(app: &TestApp, key: &str, id: i64) -> Value {
    let path = format!("/api/v1/models/training-jobs/{id}");
    let deadline = Instant::now() + StdDuration::from_secs(120);
    let mut last_progress = 0.0;
    loop {
        let (s, job, _) = app.call(Method::GET, &path, Some(key), None).await;
        assert_eq!(s, StatusCode::OK, "{job}");
        let progress = job["progress"].as_f64().unwrap();
        assert!(progress >= last_progress, "progress went back: {job}");
        last_progress = progress;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job did not finish: {job}");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// Training history from 20 days ago, 150 hours long: three machines running to failure
/// (lives 25 to 60 hours) and two (`imm-1`, `imm-3`) that stay healthy the whole time, so age alone does not
/// predict a failure. Returns the range.
pub(crate) async fn history(app: &TestApp, p: &Plant) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = (Utc::now() - Duration::days(20))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let end = start + Duration::hours(150);
    // Degrading and healthy machines alternate, so holding out the last machines holds out both.
    let lives: [&[i64]; 5] = [&[40, 55, 30], &[], &[30, 45, 60], &[], &[50, 25, 40]];
    for (k, lives) in lives.iter().enumerate() {
        let mut m = p.machine(&app.store, &format!("imm-{k}"), k as u64).await;
        if lives.is_empty() {
            event(app, &p.key, m.id, "maintenance", start).await;
            let rows = m.samples(start, end, |_| 0.0);
            ingest(&app.store, p.tenant, &rows).await;
        } else {
            run_to_failures(app, p, &mut m, start, end, lives).await;
        }
    }
    (start, end)
}

pub(crate) async fn train(app: &TestApp, key: &str, request: Value) -> Value {
    let (s, job, _) = app
        .call(
            Method::POST,
            "/api/v1/models/training-jobs",
            Some(key),
            Some(request),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let job = wait_for_job(app, key, job["id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let path = format!("/api/v1/models/versions/{}", job["version_id"]);
    let (s, version, _) = app.call(Method::GET, &path, Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "{version}");
    version
}
