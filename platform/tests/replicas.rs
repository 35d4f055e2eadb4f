//! Three replicas on one database (issue #18): three real `millwright serve` processes with
//! short lease timings, samples ingested through all three, a real webhook receiver. Checks
//! that every leased job ran and its rounds never overlapped (the run log), that the jobs
//! spread over the replicas, that a rule alarm is raised once and cleared once while its
//! samples arrive at different replicas, that every webhook event reaches the receiver exactly
//! once, and that rollups are complete; kills (SIGKILL) the replica evaluating the tenant's
//! alarm shard and sees the survivors take its leases over within the TTL, then kills the one
//! running rollups and sees the last replica take everything.

mod process;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use chrono::{DateTime, DurationRound, Utc};
use millwright_platform::alerting::Condition;
use millwright_platform::alerting::Severity;
use millwright_platform::config::BackendChoice;
use millwright_platform::leases::jobs::JOBS;
use millwright_platform::leases::policy::{alerting_job, shard_of};
use millwright_platform::store::alarm_rules::RuleFields;
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_settings, tenant_with_tags};
use process::{eventually, millwright, spawn, Running};
use serde_json::{json, Value};

const TTL_SECS: u64 = 3;
const RENEW_SECS: u64 = 1;

struct Replica {
    name: &'static str,
    listen: SocketAddr,
    process: Option<Running>,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.pid())
    }
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A receiver counting deliveries by event id.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> (String, Receiver) {
        let r = Receiver::default();
        let got = r.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let got = got.clone();
                async move {
                    let id = headers
                        .get("millwright-event-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    got.lock().unwrap().push(id);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, r)
    }

    fn counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for id in self.got.lock().unwrap().iter() {
            *m.entry(id.clone()).or_default() += 1;
        }
        m
    }
}

async fn start_replica(name: &'static str, owner: &str, app: &str) -> Replica {
    let listen = free_port();
    let mut cmd = millwright();
    cmd.arg("serve")
        .env("DATABASE_URL", owner)
        .env("APP_DATABASE_URL", app)
        .env("MILLWRIGHT__HTTP__LISTEN", listen.to_string())
        .env("MILLWRIGHT__STORE__BACKEND", "plain")
        .env("MILLWRIGHT__STORE__MAINTENANCE_INTERVAL_SECS", "1")
        .env("MILLWRIGHT__MODELS__SCORING_INTERVAL_SECS", "1")
        .env("MILLWRIGHT__LEASES__TTL_SECS", TTL_SECS.to_string())
        .env("MILLWRIGHT__LEASES__RENEW_SECS", RENEW_SECS.to_string())
        .env("MILLWRIGHT__ALERTING__RELOAD_SECS", "2")
        .env("MILLWRIGHT__WEBHOOKS__POLL_SECS", "1")
        .env("MILLWRIGHT__WEBHOOKS__TIMEOUT_SECS", "2")
        .env("MILLWRIGHT__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("MILLWRIGHT__LOG__FILTER", "info");
    let r = Replica {
        name,
        listen,
        process: Some(spawn(cmd)),
    };
    let client = reqwest::Client::new();
    let url = r.url("/readyz");
    eventually(
        &format!("replica {name} ready"),
        Duration::from_secs(60),
        || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await;
    r
}

/// One leased round in the run log.
#[derive(Debug)]
struct RunRow {
    job: String,
    holder: String,
    started: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
    outcome: Option<String>,
}

async fn runs(store: &Store) -> Vec<RunRow> {
    let c = store.owner_pool().get().await.unwrap();
    c.query(
        "SELECT job, holder, started_at, finished_at, outcome FROM lease_runs ORDER BY job, started_at",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| RunRow {
        job: r.get(0),
        holder: r.get(1),
        started: r.get(2),
        finished: r.get(3),
        outcome: r.get(4),
    })
    .collect()
}

/// Panics if two rounds of one job overlap; answers the rounds per job.
fn assert_no_overlap(runs: &[RunRow], dead: &[&str]) -> BTreeMap<String, usize> {
    let mut per_job: BTreeMap<String, Vec<&RunRow>> = BTreeMap::new();
    for r in runs {
        per_job.entry(r.job.clone()).or_default().push(r);
    }
    let mut counts = BTreeMap::new();
    for (job, rs) in &per_job {
        for pair in rs.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            // A killed replica never records the end of its last round; it ended at the kill.
            let end = match a.finished {
                Some(end) => end,
                None if dead.contains(&a.holder.as_str()) => continue,
                None => panic!(
                    "{job}: a round of {} never finished before the next: {a:?} then {b:?}",
                    a.holder
                ),
            };
            assert!(b.started >= end, "{job}: rounds overlap: {a:?} and {b:?}");
        }
        counts.insert(job.clone(), rs.len());
    }
    counts
}

/// (job → holder) of the leases held now.
async fn holders(store: &Store) -> HashMap<String, String> {
    let c = store.owner_pool().get().await.unwrap();
    c.query(
        "SELECT job, holder FROM leases WHERE expires_at > now()",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn pid_of(holder: &str) -> Option<u32> {
    holder.split(':').nth(1)?.parse().ok()
}

async fn scalar(store: &Store, sql: &str, tenant: i32) -> i64 {
    let c = store.owner_pool().get().await.unwrap();
    c.query_one(sql, &[&tenant]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_each_job_once_and_take_over_from_a_killed_one() {
    let settings = fresh_settings(BackendChoice::Plain).await;
    let owner = settings.database.url.as_ref().unwrap().expose().to_string();
    let app_url = settings
        .database
        .app_url
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let t = tenant_with_tags(&store, "replicas", &["press-1.oil_temp", "press-1.counter"]).await;
    let (oil, counter) = (t.tag_ids[0], t.tag_ids[1]);
    let mut s = store.tenant(t.id).await.unwrap();
    s.create_rule(&RuleFields {
        name: "hot oil".into(),
        tag_id: Some(oil),
        tag_suffix: None,
        machine_kind: None,
        message: "{tag} {value} over {limit}".into(),
        condition: Condition::High {
            limit: 60.0,
            deadband: 2.0,
        },
        on_delay_secs: 0,
        severity: Severity::High,
        enabled: true,
    })
    .await
    .unwrap();
    drop(s);
    let (hook_url, receiver) = Receiver::start().await;

    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(start_replica(name, &owner, &app_url).await);
    }
    let client = reqwest::Client::new();
    let call = |r: &Replica, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = client
            .request(method, r.url(path))
            .bearer_auth(&t.key)
            .timeout(Duration::from_secs(20));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status}: {v}");
            v
        }
    };
    let hook = call(
        &replicas[0],
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": hook_url, "event_types": ["alarm.raised", "alarm.cleared"]})),
    )
    .await;
    let hook_id = hook["id"].as_i64().unwrap();

    // The jobs spread over the three replicas (each takes its fair share).
    let started = Instant::now();
    eventually(
        "leases spread over three replicas",
        Duration::from_secs(60),
        || {
            let store = store.clone();
            async move {
                let h = holders(&store).await;
                let distinct: std::collections::HashSet<&String> = h.values().collect();
                distinct.len() == 3 && h.len() == JOBS.len() + 8
            }
        },
    )
    .await;
    println!(
        "leases spread over 3 replicas {:.1} s after the last started: {:?}",
        started.elapsed().as_secs_f64(),
        holders(&store).await
    );

    // Samples through all three, one second apart, round robin: the oil temperature crosses
    // the limit once (at replica-independent times), the counter counts.
    let t0 = (Utc::now() - chrono::Duration::minutes(5))
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let mut ingested = 0i64;
    let mut ingest_at = |i: usize, r: &Replica, oil_value: f64| {
        let at = t0 + chrono::Duration::seconds(i as i64);
        ingested += 1;
        call(
            r,
            reqwest::Method::POST,
            "/api/v1/ingest",
            Some(json!({"samples": [
                {"tag_id": oil, "time": at.to_rfc3339(), "value": oil_value},
                {"tag_id": counter, "time": at.to_rfc3339(), "value": i as f64},
            ]})),
        )
    };
    for i in 0..60 {
        let v = if i < 20 { 50.0 } else { 70.0 };
        ingest_at(i, &replicas[i % 3], v).await;
    }
    // Test events through every replica too.
    for r in &replicas {
        for _ in 0..3 {
            call(
                r,
                reqwest::Method::POST,
                &format!("/api/v1/webhooks/{hook_id}/test"),
                None,
            )
            .await;
        }
    }
    let rule_alarms = "SELECT count(*) FROM alarms WHERE tenant_id = $1 AND kind = 'rule'";
    eventually("the rule's alarm", Duration::from_secs(30), || {
        let store = store.clone();
        async move { scalar(&store, rule_alarms, t.id.0).await >= 1 }
    })
    .await;

    // Kill the replica evaluating the tenant's shard.
    let shard_job = alerting_job(shard_of(t.id.0));
    let before = holders(&store).await;
    let dead_holder = before[&shard_job].clone();
    let dead_pid = pid_of(&dead_holder).unwrap();
    let dead_index = replicas
        .iter()
        .position(|r| r.pid() == Some(dead_pid))
        .expect("the shard's holder is one of the replicas");
    let dead_jobs: Vec<String> = before
        .iter()
        .filter(|(_, h)| **h == dead_holder)
        .map(|(j, _)| j.clone())
        .collect();
    println!(
        "killing replica {} ({dead_holder}), holding {dead_jobs:?}",
        replicas[dead_index].name
    );
    let c = store.owner_pool().get().await.unwrap();
    let events_before_kill: i64 = c
        .query_one("SELECT coalesce(max(id), 0) FROM lease_events", &[])
        .await
        .unwrap()
        .get(0);
    drop(c);
    let killed_at = Instant::now();
    let killed = replicas[dead_index].process.take().unwrap().kill().await;
    assert!(!killed.status.success());
    let survivors: Vec<usize> = (0..3).filter(|i| replicas[*i].process.is_some()).collect();

    // Keep ingesting through the survivors while the leases move: above the limit (no second
    // alarm), then below it (one clear).
    for i in 60..120 {
        let v = if i < 90 { 71.0 } else { 40.0 };
        ingest_at(i, &replicas[survivors[i % 2]], v).await;
    }
    eventually(
        "the survivors take every lease over",
        Duration::from_secs(30),
        || {
            let (store, dead_holder) = (store.clone(), dead_holder.clone());
            async move {
                let h = holders(&store).await;
                h.len() == JOBS.len() + 8 && h.values().all(|x| *x != dead_holder)
            }
        },
    )
    .await;
    let takeover = killed_at.elapsed();
    println!(
        "every lease of the killed replica taken over {:.1} s after the kill (TTL {TTL_SECS} s, renewal every {RENEW_SECS} s)",
        takeover.as_secs_f64()
    );
    // Within the TTL after the last renewal: TTL + one renewal round, plus slack for a loaded
    // machine and this test's polling.
    assert!(
        takeover <= Duration::from_secs(TTL_SECS + RENEW_SECS + 4),
        "takeover took {takeover:?}"
    );
    for r in &survivors {
        for _ in 0..2 {
            call(
                &replicas[*r],
                reqwest::Method::POST,
                &format!("/api/v1/webhooks/{hook_id}/test"),
                None,
            )
            .await;
        }
    }

    // One alarm, raised once and cleared once, though its samples arrived at three replicas
    // and its evaluator was killed in between.
    let cleared = "SELECT count(*) FROM alarms WHERE tenant_id = $1 AND kind = 'rule' AND cleared_at IS NOT NULL";
    eventually("the rule's alarm cleared", Duration::from_secs(30), || {
        let store = store.clone();
        async move { scalar(&store, cleared, t.id.0).await == 1 }
    })
    .await;
    assert_eq!(scalar(&store, rule_alarms, t.id.0).await, 1);

    // Every webhook event exactly once at the receiver.
    let events = "SELECT count(*) FROM webhook_events WHERE tenant_id = $1";
    let expected = scalar(&store, events, t.id.0).await;
    assert_eq!(expected, 9 + 4 + 2, "test events, one raise, one clear");
    eventually(
        "every webhook event delivered",
        Duration::from_secs(60),
        || {
            let receiver = receiver.clone();
            async move { receiver.counts().len() as i64 == expected }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = receiver.counts();
    assert_eq!(counts.len() as i64, expected);
    assert!(
        counts.values().all(|n| *n == 1),
        "some event was delivered more than once: {counts:?}"
    );

    // Kill the replica running rollups among the survivors: the last one takes everything.
    let rollup_holder = holders(&store).await["rollups"].clone();
    let second = replicas
        .iter()
        .position(|r| r.pid() == pid_of(&rollup_holder))
        .expect("the rollups' holder is a survivor");
    println!(
        "killing replica {} ({rollup_holder}), the rollups' holder",
        replicas[second].name
    );
    let killed_db: DateTime<Utc> = store
        .owner_pool()
        .get()
        .await
        .unwrap()
        .query_one("SELECT clock_timestamp()", &[])
        .await
        .unwrap()
        .get(0);
    let killed_at = Instant::now();
    replicas[second].process.take().unwrap().kill().await;
    let last = (0..3).find(|i| replicas[*i].process.is_some()).unwrap();
    for i in 120..150 {
        ingest_at(i, &replicas[last], 40.0).await;
    }
    let last_pid = replicas[last].pid();
    eventually(
        "the last replica takes every lease",
        Duration::from_secs(30),
        || {
            let store = store.clone();
            async move {
                let h = holders(&store).await;
                h.len() == JOBS.len() + 8 && h.values().all(|x| pid_of(x) == last_pid)
            }
        },
    )
    .await;
    let takeover = killed_at.elapsed();
    println!(
        "every lease taken by the last replica {:.1} s after the second kill",
        takeover.as_secs_f64()
    );
    eventually(
        "a rollups round in the last replica",
        Duration::from_secs(30),
        || {
            let store = store.clone();
            async move {
                runs(&store).await.iter().any(|r| {
                    r.job == "rollups"
                        && pid_of(&r.holder) == last_pid
                        && r.started > killed_db
                        && r.finished.is_some()
                })
            }
        },
    )
    .await;
    println!(
        "the last replica finished its first rollups round {:.1} s after the second kill",
        killed_at.elapsed().as_secs_f64()
    );
    assert!(
        takeover <= Duration::from_secs(TTL_SECS + RENEW_SECS + 4),
        "takeover took {takeover:?}"
    );
    let metrics = client
        .get(replicas[last].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in metrics.lines().filter(|l| {
        l.starts_with("millwright_lease_held{job=\"rollups\"}")
            || l.starts_with("millwright_lease_acquired_total{job=\"rollups\"}")
            || l.starts_with("millwright_alerting_batches")
    }) {
        println!("last replica's /metrics: {line}");
    }
    assert!(
        metrics.contains("millwright_lease_held{job=\"rollups\"} 1"),
        "{metrics}"
    );

    // Rollups complete: nothing dirty left, the minutes count every sample.
    eventually("rollups complete", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let dirty = scalar(
                &store,
                "SELECT count(*) FROM rollup_dirty WHERE tenant_id = $1",
                t.id.0,
            )
            .await;
            let rolled = scalar(
                &store,
                "SELECT coalesce(sum(count), 0)::bigint FROM rollup_1m WHERE tenant_id = $1",
                t.id.0,
            )
            .await;
            dirty == 0 && rolled == 2 * ingested
        }
    })
    .await;

    // Every batch queued for another replica's shard was taken and evaluated.
    eventually("the alarm inbox drained", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            scalar(
                &store,
                "SELECT count(*) FROM alarm_rule_inbox WHERE tenant_id = $1",
                t.id.0,
            )
            .await
                == 0
        }
    })
    .await;
    let metrics = client
        .get(replicas[last].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let from_queue = metrics
        .lines()
        .find_map(|l| l.strip_prefix("millwright_alerting_batches_from_queue_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    println!("the last replica evaluated {from_queue} batches others (and it) had queued");
    assert!(from_queue >= 1.0, "{metrics}");

    // Every job ran, before and after the kill, and no two rounds of a job overlapped.
    let log = runs(&store).await;
    let per_job = assert_no_overlap(&log, &[&dead_holder, &rollup_holder]);
    for job in JOBS {
        assert!(
            per_job.get(job).copied().unwrap_or(0) >= 2,
            "{job} ran {:?} times",
            per_job.get(job)
        );
        let ran_in_last = log
            .iter()
            .any(|r| r.job == job && pid_of(&r.holder) == last_pid);
        assert!(ran_in_last, "{job} never ran in the last replica");
    }
    let rollup_holders: std::collections::BTreeSet<&str> = log
        .iter()
        .filter(|r| r.job == "rollups")
        .map(|r| r.holder.as_str())
        .collect();
    assert!(rollup_holders.len() >= 2, "{rollup_holders:?}");
    let holders_that_ran: std::collections::BTreeSet<&str> =
        log.iter().map(|r| r.holder.as_str()).collect();
    println!(
        "rounds per job: {per_job:?}; {} holders ran rounds; outcomes: {:?}",
        holders_that_ran.len(),
        log.iter()
            .fold(BTreeMap::<String, usize>::new(), |mut m, r| {
                *m.entry(r.outcome.clone().unwrap_or_else(|| "unfinished".into()))
                    .or_default() += 1;
                m
            })
    );
    assert!(holders_that_ran.len() >= 2, "the jobs did not spread");

    // The lease history names the takeover from the killed replica.
    let c = store.owner_pool().get().await.unwrap();
    let taken_over: i64 = c
        .query_one(
            "SELECT count(DISTINCT job) FROM lease_events \
             WHERE event = 'acquired' AND previous = $1 AND holder <> $1 AND job = ANY($2)",
            &[&dead_holder, &dead_jobs],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(taken_over as usize, dead_jobs.len(), "{dead_jobs:?}");
    let after_kill: i64 = c
        .query_one(
            "SELECT count(*) FROM lease_events WHERE event = 'acquired' AND previous = $1 AND id > $2",
            &[&dead_holder, &events_before_kill],
        )
        .await
        .unwrap()
        .get(0);
    assert!(after_kill >= 1, "no lease taken over after the kill");

    for r in replicas.iter_mut() {
        if let Some(p) = r.process.take() {
            let done = p.terminate(Duration::from_secs(30)).await;
            assert!(done.status.success(), "{}", done.describe());
        }
    }
    // A clean stop gives every lease up.
    assert!(holders(&store).await.is_empty());
}
