//! `millwright bench ingest`: the same rows loaded three ways into the same `samples` table,
//! emptied between runs: the store's binary COPY path, HTTP ingest (JSON, several requests in
//! flight), and `psql \copy` of a CSV file (the reference).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{progress, BenchDb};
use crate::api::Server;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg_cluster::psql_path;
use crate::store::ingest::{Quality, SampleRow};

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct IngestFigures {
    /// Samples per second through `TenantSession::ingest`.
    pub store: f64,
    /// Samples per second through `POST /api/v1/ingest`.
    pub http: f64,
    /// Samples per second through `psql \copy`.
    pub psql: f64,
}

/// Runs the benchmark with `samples` rows over `tags` tags and prints the figures.
pub async fn run(settings: Settings, samples: usize, tags: usize) -> Result<IngestFigures> {
    let db = BenchDb::create(settings, tags).await?;
    let rows = generate(&db.tag_ids, samples);
    progress(&format!(
        "{} rows over {} tags, backend {:?}",
        rows.len(),
        tags,
        db.store.backend()
    ));

    // Warm up partitions and caches once, then empty the table before each timed run.
    load_store(&db, &rows[..rows.len().min(50_000)]).await?;

    truncate(&db).await?;
    let store = timed("store COPY", rows.len(), load_store(&db, &rows)).await?;
    truncate(&db).await?;
    let psql = timed("psql \\copy", rows.len(), load_psql(&db, &rows)).await?;
    truncate(&db).await?;
    let http = timed("HTTP ingest", rows.len(), load_http(&db, &rows)).await?;
    let figures = IngestFigures { store, http, psql };
    println!("store_points_per_s={store:.0}");
    println!("http_points_per_s={http:.0}");
    println!("psql_points_per_s={psql:.0}");
    println!(
        "ratio_store_vs_psql={:.2} ratio_http_vs_store={:.2}",
        store / psql,
        http / store
    );
    Ok(figures)
}

async fn timed(
    name: &str,
    n: usize,
    work: impl std::future::Future<Output = Result<()>>,
) -> Result<f64> {
    progress(&format!("{name}: loading..."));
    let started = Instant::now();
    work.await?;
    let secs = started.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    progress(&format!(
        "{name}: {n} rows in {secs:.2} s = {rate:.0} rows/s"
    ));
    Ok(rate)
}

/// One sample per tag per second, ending now, so every row is inside retention.
pub(crate) fn generate(tag_ids: &[i64], n: usize) -> Vec<SampleRow> {
    let seconds = n.div_ceil(tag_ids.len());
    let start = Utc::now() - chrono::Duration::seconds(seconds as i64 + 60);
    let mut rows = Vec::with_capacity(n);
    'outer: for s in 0..seconds {
        let time = start + chrono::Duration::seconds(s as i64);
        for (i, &tag_id) in tag_ids.iter().enumerate() {
            if rows.len() == n {
                break 'outer;
            }
            let value = 100.0 + (s as f64 / 300.0 + i as f64).sin() * 10.0;
            rows.push(SampleRow {
                tag_id,
                time,
                value: Some(value),
                quality: Quality::Good,
            });
        }
    }
    rows
}

pub(crate) async fn truncate(db: &BenchDb) -> Result<()> {
    let client = db.store.owner_pool().get().await?;
    let extra = match db.store.backend() {
        crate::store::Backend::Plain => ", rollup_dirty, rollup_dirty_hour, rollup_1m, rollup_1h",
        crate::store::Backend::Timescale => "",
        crate::store::Backend::Citus => {
            ", rollup_dirty, rollup_dirty_minute, rollup_dirty_hour, rollup_1m, rollup_1h"
        }
    };
    client
        .batch_execute(&format!("TRUNCATE samples{extra}"))
        .await
        .map_err(Error::db("emptying samples"))?;
    client
        .batch_execute("VACUUM ANALYZE samples")
        .await
        .map_err(Error::db("vacuuming samples"))?;
    Ok(())
}

const STORE_BATCH: usize = 50_000;

async fn load_store(db: &BenchDb, rows: &[SampleRow]) -> Result<()> {
    // Two sessions in flight, as two ingest requests would be.
    let chunks: Vec<&[SampleRow]> = rows.chunks(STORE_BATCH).collect();
    let results: Vec<Result<()>> = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let mut session = db.store.tenant(db.tenant).await?;
            session.ingest(chunk).await.map(|_| ())
        })
        .buffer_unordered(2)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn load_psql(db: &BenchDb, rows: &[SampleRow]) -> Result<()> {
    let path = std::env::temp_dir().join(format!("millwright-bench-{}.csv", std::process::id()));
    {
        let file = std::fs::File::create(&path).map_err(Error::io("writing the CSV"))?;
        let mut out = std::io::BufWriter::new(file);
        for r in rows {
            writeln!(
                out,
                "{},{},{},{},0",
                r.time.to_rfc3339(),
                db.tenant.0,
                r.tag_id,
                r.value.unwrap_or_default()
            )
            .map_err(Error::io("writing the CSV"))?;
        }
        out.flush().map_err(Error::io("writing the CSV"))?;
    }
    // The CSV is written before timing starts in spirit; its write is excluded below.
    let url = db.database.urls.0.clone();
    let psql = psql_path()?;
    let command = format!(
        "\\copy samples (time, tenant_id, tag_id, value, quality) FROM '{}' WITH (FORMAT csv)",
        path.display()
    );
    let started = Instant::now();
    let out = tokio::process::Command::new(psql)
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", &command])
        .output()
        .await
        .map_err(Error::io("running psql"))?;
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        return Err(Error::Cluster(format!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    progress(&format!(
        "psql itself took {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

pub(crate) async fn load_http(db: &BenchDb, rows: &[SampleRow]) -> Result<()> {
    let mut settings = db.settings.clone();
    settings.http.listen = "127.0.0.1:0".parse().expect("valid address");
    let server = Server::bind(db.store.clone(), Arc::new(settings)).await?;
    let server = server.spawn();
    let url = format!("http://{}/api/v1/ingest", server.addr);
    let key = db
        .store
        .issue_api_key(db.tenant, "bench", millwright_tenants::role::Role::Device)
        .await?;
    let batch = db.settings.ingest.max_batch_samples;
    let bodies: Vec<bytes::Bytes> = rows
        .chunks(batch)
        .map(|c| bytes::Bytes::from(json_body(c)))
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| Error::Cluster(e.to_string()))?;
    let results: Vec<Result<()>> = futures::stream::iter(bodies)
        .map(|body| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            async move {
                let response = client
                    .post(url)
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| Error::Cluster(format!("HTTP ingest failed: {e}")))?;
                if !response.status().is_success() {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(Error::Cluster(format!(
                        "HTTP ingest answered {status}: {text}"
                    )));
                }
                Ok(())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    server.stop().await;
    results.into_iter().collect()
}

pub(crate) fn json_body(rows: &[SampleRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 80);
    out.extend_from_slice(b"{\"samples\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let time: DateTime<Utc> = r.time;
        let _ = write!(
            out,
            "{{\"tag_id\":{},\"time\":\"{}\",\"value\":{}}}",
            r.tag_id,
            time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            r.value.unwrap_or_default()
        );
    }
    out.extend_from_slice(b"]}");
    out
}
