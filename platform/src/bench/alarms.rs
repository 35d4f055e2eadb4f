//! `millwright bench alarms`: HTTP ingest of the same kind of batches into one tenant's 1,000
//! tags, first without alarm rules (the reference), then with 1,000 rules (high and low
//! thresholds with deadband and on-delay, rate of change, stale data: a quarter each), timed
//! until the evaluator has seen every sample. Then a paced run at the target rate (10,000
//! samples/s by default) with the rules, reporting what was sustained and how far the
//! evaluator lagged behind ingest at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::ingest::json_body;
use super::{progress, BenchDb};
use crate::alerting::rule::{Condition, Severity};
use crate::alerting::Alerting;
use crate::api::Server;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::alarm_rules::RuleFields;
use crate::store::ingest::{Quality, SampleRow};

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct AlarmFigures {
    /// Samples per second ingested and evaluated without rules.
    pub without_rules: f64,
    /// Samples per second ingested and evaluated with the rules.
    pub with_rules: f64,
    /// Samples per second achieved when paced at the target.
    pub paced: f64,
    /// Milliseconds the evaluator needed after the last paced batch was answered.
    pub lag_ms: f64,
}

const BATCH_STEPS: usize = 5; // 5 time steps × one sample per tag = 5,000 samples a request

/// Runs the benchmark: `samples` per timed run over `tags` tags with `rules` rules, then a
/// paced run of `secs` seconds at `rate` samples per second.
pub async fn run(
    settings: Settings,
    tags: usize,
    rules: usize,
    samples: usize,
    rate: usize,
    secs: u64,
) -> Result<AlarmFigures> {
    let db = BenchDb::create(settings, tags).await?;
    let mut settings = db.settings.clone();
    settings.http.listen = "127.0.0.1:0".parse().expect("valid address");
    let server = Server::bind(db.store.clone(), Arc::new(settings)).await?;
    let alerting = server.alerting();
    let server = server.spawn();
    let url = format!("http://{}/api/v1/ingest", server.addr);
    let key = db
        .store
        .issue_api_key(db.tenant, "bench", millwright_tenants::role::Role::Device)
        .await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| Error::Bench(e.to_string()))?;
    let steps_per_run = samples.div_ceil(tags);
    let paced_steps = (rate as u64 * secs).div_ceil(tags as u64) as usize;
    // Ten samples a second per tag, ending a minute ago: warm-up, two timed runs, the paced run.
    let total_steps = steps_per_run * 2 + paced_steps + 2 * BATCH_STEPS;
    let start = Utc::now() - chrono::Duration::milliseconds(total_steps as i64 * 100 + 60_000);
    let mut step = 0usize;
    let mut next_steps = |n: usize| {
        let range = step..step + n;
        step += n;
        range
    };
    progress(&format!(
        "{tags} tags, {samples} samples per timed run, backend {:?}",
        db.store.backend()
    ));

    // Warm-up without rules.
    let warm = bodies(&db.tag_ids, start, next_steps(2 * BATCH_STEPS));
    send_all(&client, &url, &key, warm).await?;
    alerting.flush().await;

    let reference = bodies(&db.tag_ids, start, next_steps(steps_per_run));
    let without = timed("without rules", steps_per_run * tags, async {
        send_all(&client, &url, &key, reference).await?;
        alerting.flush().await;
        Ok(())
    })
    .await?;

    progress(&format!("creating {rules} rules"));
    create_rules(&db, rules).await?;
    alerting.rules_changed(db.tenant).await;
    alerting.flush().await;

    let loaded = bodies(&db.tag_ids, start, next_steps(steps_per_run));
    let with = timed("with rules", steps_per_run * tags, async {
        send_all(&client, &url, &key, loaded).await?;
        alerting.flush().await;
        Ok(())
    })
    .await?;

    progress(&format!("paced: {rate} samples/s for {secs} s"));
    let paced_bodies = bodies_per_request(&db.tag_ids, start, next_steps(paced_steps), 1);
    let (paced, lag_ms) =
        paced_run(&client, &url, &key, &alerting, paced_bodies, tags, rate).await?;
    let stats = alerting.stats();
    let (evaluated, raised, cleared) = (
        stats.evaluated.load(std::sync::atomic::Ordering::Relaxed),
        stats.raised.load(std::sync::atomic::Ordering::Relaxed),
        stats.cleared.load(std::sync::atomic::Ordering::Relaxed),
    );
    server.stop().await;

    println!(
        "rules={rules} tags={tags} samples_per_run={}",
        steps_per_run * tags
    );
    println!("evaluated_samples={evaluated} alarms_raised={raised} alarms_cleared={cleared}");
    println!(
        "paced_target_per_s={rate} paced_achieved_per_s={paced:.0} evaluator_lag_ms={lag_ms:.1}"
    );
    println!("ingest_without_rules_per_s={without:.0}");
    println!("ingest_with_rules_per_s={with:.0}");
    println!("ratio_ingest_with_rules_vs_without={:.3}", without / with);
    Ok(AlarmFigures {
        without_rules: without,
        with_rules: with,
        paced,
        lag_ms,
    })
}

fn rows(tag_ids: &[i64], start: DateTime<Utc>, steps: std::ops::Range<usize>) -> Vec<SampleRow> {
    let mut out = Vec::with_capacity(steps.len() * tag_ids.len());
    for s in steps {
        let time = start + chrono::Duration::milliseconds(s as i64 * 100);
        for (i, &tag_id) in tag_ids.iter().enumerate() {
            // A slow wave per tag, phase-shifted, so some tags cross their limits.
            let value = 100.0 + (s as f64 / 600.0 + i as f64).sin() * 10.0;
            out.push(SampleRow {
                tag_id,
                time,
                value: Some(value),
                quality: Quality::Good,
            });
        }
    }
    out
}

fn bodies(
    tag_ids: &[i64],
    start: DateTime<Utc>,
    steps: std::ops::Range<usize>,
) -> Vec<bytes::Bytes> {
    bodies_per_request(tag_ids, start, steps, BATCH_STEPS)
}

fn bodies_per_request(
    tag_ids: &[i64],
    start: DateTime<Utc>,
    steps: std::ops::Range<usize>,
    per_request: usize,
) -> Vec<bytes::Bytes> {
    let steps: Vec<usize> = steps.collect();
    steps
        .chunks(per_request.max(1))
        .map(|c| {
            let r = rows(tag_ids, start, c[0]..c[c.len() - 1] + 1);
            bytes::Bytes::from(json_body(&r))
        })
        .collect()
}

async fn create_rules(db: &BenchDb, n: usize) -> Result<()> {
    let mut session = db.store.tenant(db.tenant).await?;
    for (i, &tag_id) in db.tag_ids.iter().cycle().take(n).enumerate() {
        let condition = match i % 4 {
            0 => Condition::High {
                limit: 109.0,
                deadband: 1.0,
            },
            1 => Condition::Low {
                limit: 91.0,
                deadband: 1.0,
            },
            2 => Condition::RateOfChange {
                limit_per_min: 60.0,
                window_secs: 10,
                deadband: 5.0,
            },
            _ => Condition::Stale { after_secs: 600 },
        };
        session
            .create_rule(&RuleFields {
                name: format!("bench rule {i}"),
                tag_id: Some(tag_id),
                tag_suffix: None,
                machine_kind: None,
                message: condition.default_message().to_string(),
                condition,
                on_delay_secs: 5,
                severity: Severity::Medium,
                enabled: true,
            })
            .await?;
    }
    Ok(())
}

async fn timed(
    name: &str,
    n: usize,
    work: impl std::future::Future<Output = Result<()>>,
) -> Result<f64> {
    progress(&format!("{name}: ingesting..."));
    let started = Instant::now();
    work.await?;
    let secs = started.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    progress(&format!(
        "{name}: {n} samples in {secs:.2} s = {rate:.0} samples/s (evaluated)"
    ));
    Ok(rate)
}

async fn post(client: &reqwest::Client, url: &str, key: &str, body: bytes::Bytes) -> Result<()> {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Error::Bench(format!("HTTP ingest failed: {e}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(Error::Bench(format!(
            "HTTP ingest answered {status}: {text}"
        )));
    }
    Ok(())
}

async fn send_all(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    bodies: Vec<bytes::Bytes>,
) -> Result<()> {
    let results: Vec<Result<()>> = futures::stream::iter(bodies)
        .map(|body| post(client, url, key, body))
        .buffer_unordered(2)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Sends one request per time step at `rate` samples per second (a request every
/// `tags / rate` seconds), several in flight when the server is slower than the pace.
async fn paced_run(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    alerting: &Alerting,
    bodies: Vec<bytes::Bytes>,
    tags: usize,
    rate: usize,
) -> Result<(f64, f64)> {
    let n = bodies.len() * tags;
    let every = Duration::from_secs_f64(tags as f64 / rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut in_flight = futures::stream::FuturesUnordered::new();
    for body in bodies {
        tick.tick().await;
        in_flight.push(post(client, url, key, body));
        // Drain what has finished without waiting.
        while let Some(Some(r)) = futures::FutureExt::now_or_never(in_flight.next()) {
            r?;
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    let answered = Instant::now();
    alerting.flush().await;
    let lag_ms = answered.elapsed().as_secs_f64() * 1000.0;
    let achieved = n as f64 / answered.duration_since(started).as_secs_f64();
    progress(&format!(
        "paced: {n} samples, {achieved:.0} samples/s, evaluator {lag_ms:.1} ms behind at the end"
    ));
    Ok((achieved, lag_ms))
}
