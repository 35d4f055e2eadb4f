//! `millwright bench load`: N tenants × M tags ingesting through connectors' uplinks (the
//! connector's batching, request-in-flight and disk queue, over HTTP) into the API while
//! consoles query latest values and one-minute buckets, for a set duration. It prints the
//! sustained samples/s, p50/p99 of the consoles' queries and of the data's freshness (how old
//! the newest sample a console sees is), RSS of this process and of PostgreSQL, and the
//! uplinks' backlog every 10 s (a queue growing without bound shows there). Beside it, in the
//! same run, the single-tenant reference: `bench ingest`'s HTTP path on the same database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use millwright_connectors::config::UplinkConfig;
use millwright_connectors::sample::{Sample, Value};
use millwright_connectors::uplink::{Uplink, UplinkStats};
use tokio::sync::{mpsc, watch};

use super::{progress, BenchDb};
use crate::api::Server;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::entities::{EntityFields, Kind};
use crate::store::TenantId;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Tenants, each with its own connector uplink and consoles.
    pub tenants: usize,
    /// Tags per tenant.
    pub tags: usize,
    /// Samples per tag per second.
    pub rate_hz: f64,
    /// Consoles per tenant, each querying back to back.
    pub consoles: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// Rows of the single-tenant reference (`bench ingest`'s HTTP path).
    pub reference_samples: usize,
}

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    /// Samples per second confirmed by the platform over the run.
    pub sustained: f64,
    /// Samples per second offered by the generators.
    pub offered: f64,
    /// The single-tenant reference, samples per second.
    pub reference: f64,
}

struct Tenant {
    id: TenantId,
    tag_ids: Vec<i64>,
    names: Vec<String>,
    key: String,
}

async fn add_tenant(db: &BenchDb, i: usize, tags: usize) -> Result<Tenant> {
    let store = &db.store;
    let id = store
        .create_tenant(&crate::store::admin::NewTenant::named(
            format!("load-{}-{i}", std::process::id()),
            millwright_tenants::plan::Plan::Pro,
        ))
        .await?;
    let mut s = store.tenant(id).await?;
    let named = |name: String| EntityFields {
        name: Some(name),
        ..Default::default()
    };
    let site = s.create(Kind::Site, &named("site".into())).await?.id();
    let line = s
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(site),
                ..named("line".into())
            },
        )
        .await?
        .id();
    let machine = s
        .create(
            Kind::Machine,
            &EntityFields {
                parent_id: Some(line),
                ..named("machine".into())
            },
        )
        .await?
        .id();
    let mut tag_ids = Vec::with_capacity(tags);
    let mut names = Vec::with_capacity(tags);
    for t in 0..tags {
        let name = format!("load.t{i}.tag{t:04}");
        let fields = EntityFields {
            parent_id: Some(machine),
            ..named(name.clone())
        };
        tag_ids.push(s.create(Kind::Tag, &fields).await?.id());
        names.push(name);
    }
    drop(s);
    let key = store
        .issue_api_key(id, "load", millwright_tenants::role::Role::Owner)
        .await?;
    Ok(Tenant {
        id,
        tag_ids,
        names,
        key,
    })
}

/// Resident memory of process `pid` in MiB (Linux `/proc`), 0 when unknown.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// RSS of the private PostgreSQL cluster (its postmaster, found by its data folder, and
/// every child of it), MiB; `None` when the benchmark uses an outside server.
fn postgres_rss_mib(data_dir: Option<&std::path::Path>) -> Option<f64> {
    let dir = data_dir?.to_string_lossy().to_string();
    let procs: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            Some((pid, ppid, cmd))
        })
        .collect();
    let master = procs
        .iter()
        .find(|(_, _, cmd)| cmd.contains("postgres") && cmd.contains(&dir))?
        .0;
    Some(
        procs
            .iter()
            .filter(|(pid, ppid, _)| *pid == master || *ppid == master)
            .map(|(pid, _, _)| rss_mib(*pid))
            .sum(),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark and prints its figures.
pub async fn run(settings: Settings, opts: LoadOptions) -> Result<LoadFigures> {
    let db = BenchDb::create(settings, opts.tags).await?;
    progress(&format!(
        "{} tenants × {} tags at {} Hz, {} consoles each, {:?}, backend {:?}",
        opts.tenants,
        opts.tags,
        opts.rate_hz,
        opts.consoles,
        opts.duration,
        db.store.backend()
    ));

    // The reference first: bench ingest's HTTP path, one tenant, on the same database.
    let rows = super::ingest::generate(&db.tag_ids, opts.reference_samples.max(opts.tags));
    let started = Instant::now();
    super::ingest::load_http(&db, &rows).await?;
    let reference = rows.len() as f64 / started.elapsed().as_secs_f64();
    super::ingest::truncate(&db).await?;
    progress(&format!(
        "reference (bench ingest, HTTP): {reference:.0} samples/s"
    ));

    let mut server_settings = db.settings.clone();
    server_settings.http.listen = "127.0.0.1:0".parse().expect("valid address");
    let server = Server::bind(db.store.clone(), Arc::new(server_settings))
        .await?
        .spawn();
    let base = format!("http://{}", server.addr);
    let mut tenants = Vec::new();
    for i in 0..opts.tenants {
        tenants.push(add_tenant(&db, i, opts.tags).await?);
    }
    let queues = tempfile::tempdir().map_err(Error::io("creating the queue folder"))?;
    let (stop, stop_rx) = watch::channel(false);
    let mut uplinks = Vec::new();
    let mut generators = Vec::new();
    let mut stats = Vec::new();
    for t in &tenants {
        let s = Arc::new(UplinkStats::default());
        let cfg = UplinkConfig {
            platform_url: base.clone(),
            token: t.key.clone(),
            queue_dir: queues.path().join(t.id.to_string()),
            queue_max_bytes: 256 * 1024 * 1024,
            batch_max_samples: 5000,
            flush_interval_ms: 1000,
            request_timeout_ms: 10_000,
            command_poll_ms: 1000,
            ca_file: None,
            durable: false,
        };
        let uplink =
            Uplink::new(cfg, s.clone()).map_err(|e| Error::Bench(format!("uplink: {e}")))?;
        let (tx, rx) = mpsc::channel(65_536);
        uplinks.push(tokio::spawn(uplink.run(rx, stop_rx.clone())));
        stats.push(s);
        let names = t.names.clone();
        let every = Duration::from_secs_f64(1.0 / opts.rate_hz.max(0.001));
        let mut stop_gen = stop_rx.clone();
        generators.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_gen.changed() => return,
                }
                let now = chrono::Utc::now();
                n += 1;
                for (i, name) in names.iter().enumerate() {
                    let v = ((n as f64) * 0.1 + i as f64).sin();
                    if tx
                        .send(Sample::good(name.clone(), now, Value::Number(v)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }));
    }

    // Consoles: latest values of every tag, then an hour of 1-minute buckets of one tag.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Bench(e.to_string()))?;
    let deadline = Instant::now() + opts.duration;
    let mut consoles = Vec::new();
    for t in &tenants {
        for c in 0..opts.consoles {
            let (http, base, key) = (http.clone(), base.clone(), t.key.clone());
            let ids: Vec<String> = t.tag_ids.iter().take(1000).map(|i| i.to_string()).collect();
            let latest_url = format!("{base}/api/v1/samples/latest?tags={}", ids.join(","));
            let tag = t.tag_ids[c % t.tag_ids.len().max(1)];
            consoles.push(tokio::spawn(async move {
                let (mut latest, mut buckets, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    let r = http.get(&latest_url).bearer_auth(&key).send().await;
                    if let Ok(r) = r {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        latest.push(t0.elapsed().as_secs_f64() * 1000.0);
                        let newest = body
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v["sample"]["time"].as_str())
                            .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                            .max();
                        if let Some(n) = newest {
                            let age = chrono::Utc::now() - n.with_timezone(&chrono::Utc);
                            fresh.push(age.num_milliseconds() as f64);
                        }
                    }
                    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
                    let t0 = Instant::now();
                    let r = http
                        .get(format!("{base}/api/v1/tags/{tag}/samples"))
                        .query(&[("bucket", "1m"), ("from", from.as_str())])
                        .bearer_auth(&key)
                        .send()
                        .await;
                    if let Ok(r) = r {
                        let _ = r.bytes().await;
                        buckets.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                (latest, buckets, fresh)
            }));
        }
    }

    // Every 10 s: RSS and the uplinks' backlog (queued, not yet replayed or dropped).
    let started = Instant::now();
    let me = std::process::id();
    let pg_dir: Option<PathBuf> = db
        .database
        .cluster
        .as_ref()
        .map(|_| std::env::temp_dir().join("millwright-bench"));
    let mut backlog_marks = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(10).min(deadline - Instant::now())).await;
        let backlog: i64 = stats
            .iter()
            .map(|s| {
                UplinkStats::get(&s.queued) as i64
                    - UplinkStats::get(&s.replayed) as i64
                    - UplinkStats::get(&s.dropped) as i64
            })
            .sum();
        let delivered: u64 = stats.iter().map(|s| UplinkStats::get(&s.delivered)).sum();
        backlog_marks.push(backlog);
        progress(&format!(
            "{:>4.0} s: delivered {delivered}, uplink backlog {backlog} samples, RSS {:.0} MiB (bench process), PostgreSQL {}",
            started.elapsed().as_secs_f64(),
            rss_mib(me),
            postgres_rss_mib(pg_dir.as_deref()).map_or("n/a".into(), |m| format!("{m:.0} MiB")),
        ));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for g in generators {
        let _ = g.await;
    }
    for u in uplinks {
        let _ = u.await;
    }
    let (mut latest, mut buckets, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for c in consoles {
        if let Ok((l, b, f)) = c.await {
            latest.extend(l);
            buckets.extend(b);
            fresh.extend(f);
        }
    }
    for v in [&mut latest, &mut buckets, &mut fresh] {
        v.sort_by(f64::total_cmp);
    }
    let received: u64 = stats.iter().map(|s| UplinkStats::get(&s.received)).sum();
    let delivered: u64 = stats.iter().map(|s| UplinkStats::get(&s.delivered)).sum();
    let dropped: u64 = stats.iter().map(|s| UplinkStats::get(&s.dropped)).sum();
    let offered = received as f64 / elapsed;
    let sustained = delivered as f64 / elapsed;
    let growth =
        backlog_marks.last().copied().unwrap_or(0) - backlog_marks.first().copied().unwrap_or(0);
    println!(
        "load: tenants={} tags={} rate_hz={} consoles={} seconds={elapsed:.0}",
        opts.tenants,
        opts.tags,
        opts.rate_hz,
        opts.consoles * opts.tenants
    );
    println!("load_offered_samples_per_s={offered:.0}");
    println!("load_sustained_samples_per_s={sustained:.0} dropped={dropped}");
    println!("reference_single_tenant_http_samples_per_s={reference:.0}");
    println!(
        "latest_query_ms p50={:.1} p99={:.1} n={}",
        percentile(&latest, 0.5),
        percentile(&latest, 0.99),
        latest.len()
    );
    println!(
        "bucket_query_ms p50={:.1} p99={:.1} n={}",
        percentile(&buckets, 0.5),
        percentile(&buckets, 0.99),
        buckets.len()
    );
    println!(
        "freshness_ms p50={:.0} p99={:.0}",
        percentile(&fresh, 0.5),
        percentile(&fresh, 0.99)
    );
    println!(
        "rss_mib bench_process={:.0} postgres={}",
        rss_mib(me),
        postgres_rss_mib(pg_dir.as_deref()).map_or("n/a".into(), |m| format!("{m:.0}"))
    );
    println!("uplink_backlog_growth_samples={growth} (first to last 10 s mark)");
    println!("ratio_sustained_vs_reference={:.2}", sustained / reference);
    server.stop().await;
    Ok(LoadFigures {
        sustained,
        offered,
        reference,
    })
}
