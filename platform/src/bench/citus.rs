//! `millwright bench citus` (issue #18): the same tenants' samples ingested through the store
//! (binary COPY, four ingest sessions in flight) into one PostgreSQL node (plain layout), and
//! into a Citus coordinator with one worker and with two workers (Citus layout), all private
//! clusters on this machine; then one tenant's 1-minute buckets (routed to one shard) and a
//! count over every tenant (fanned out to every shard), and the bytes a stored sample takes in
//! row and in columnar storage. Figures are printed beside each other (`ratio_…`); progress
//! goes to stderr.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::progress;
use crate::config::{BackendChoice, Secret, Settings};
use crate::error::{Error, Result};
use crate::pg_cluster::citus::CitusCluster;
use crate::pg_cluster::{Durability, PrivateCluster, SUPERUSER};
use crate::store::entities::{EntityFields, Kind};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::query::{Agg, BucketWidth};
use crate::store::{Store, TenantId};

/// Rows per ingest call, as a connector's large batch would be.
const BATCH: usize = 10_000;
/// Ingest sessions in flight at once.
const IN_FLIGHT: usize = 4;

/// What one target measured.
#[derive(Debug, Clone)]
pub struct TargetFigures {
    /// `one_node`, `citus_1_worker`, `citus_2_workers`.
    pub label: &'static str,
    /// Samples per second through the store.
    pub ingest_per_s: f64,
    /// Median milliseconds of one tenant's 1-minute averages of one tag over the whole range.
    pub tenant_query_ms: f64,
    /// Median milliseconds of a count of every tenant's samples.
    pub all_tenants_query_ms: f64,
    /// Bytes per stored sample (table and indexes) in row storage.
    pub bytes_per_sample_row: f64,
    /// Of which the table itself, without its indexes.
    pub table_bytes_per_sample_row: f64,
    /// The same after converting the days to columnar (`None` without Citus).
    pub bytes_per_sample_columnar: Option<f64>,
    /// Of which the columnar table itself, without its indexes.
    pub table_bytes_per_sample_columnar: Option<f64>,
}

/// Every target's figures.
#[derive(Debug, Clone)]
pub struct CitusFigures {
    /// In the order measured.
    pub targets: Vec<TargetFigures>,
}

/// Runs the benchmark: `tenants` tenants × `tags` tags × `seconds` samples each (1 Hz).
pub async fn run(
    settings: Settings,
    tenants: usize,
    tags: usize,
    seconds: usize,
) -> Result<CitusFigures> {
    if !crate::pg_cluster::citus::installed() {
        return Err(Error::Bench(
            "Citus is not installed (citus.so is not in PostgreSQL's library folder)".into(),
        ));
    }
    let root: PathBuf =
        std::env::temp_dir().join(format!("millwright-bench-citus-{}", std::process::id()));
    let outcome = measure(&settings, &root, tenants, tags, seconds).await;
    // The clusters are stopped (dropped) by now: their files go too.
    let _ = std::fs::remove_dir_all(&root);
    let figures = outcome?;
    let by = |label: &str| figures.targets.iter().find(|t| t.label == label);
    for t in &figures.targets {
        println!(
            "{0}: ingest_per_s={1:.0} tenant_query_ms={2:.1} all_tenants_query_ms={3:.1} \
             bytes_per_sample_row={4:.1} table_bytes_per_sample_row={5:.1}{6}",
            t.label,
            t.ingest_per_s,
            t.tenant_query_ms,
            t.all_tenants_query_ms,
            t.bytes_per_sample_row,
            t.table_bytes_per_sample_row,
            match (
                t.bytes_per_sample_columnar,
                t.table_bytes_per_sample_columnar
            ) {
                (Some(all), Some(table)) => format!(
                    " bytes_per_sample_columnar={all:.1} table_bytes_per_sample_columnar={table:.1}"
                ),
                _ => String::new(),
            }
        );
    }
    if let (Some(one), Some(w1), Some(w2)) =
        (by("one_node"), by("citus_1_worker"), by("citus_2_workers"))
    {
        println!(
            "ratio_ingest_2_workers_vs_one_node={:.2} ratio_ingest_2_workers_vs_1_worker={:.2}",
            w2.ingest_per_s / one.ingest_per_s,
            w2.ingest_per_s / w1.ingest_per_s
        );
        println!(
            "ratio_tenant_query_2_workers_vs_one_node={:.2} ratio_all_tenants_query_2_workers_vs_one_node={:.2}",
            w2.tenant_query_ms / one.tenant_query_ms,
            w2.all_tenants_query_ms / one.all_tenants_query_ms
        );
        if let Some(columnar) = w2.bytes_per_sample_columnar {
            println!(
                "ratio_bytes_row_vs_columnar={:.2} ratio_table_bytes_row_vs_columnar={:.2}",
                w2.bytes_per_sample_row / columnar,
                w2.table_bytes_per_sample_row
                    / w2.table_bytes_per_sample_columnar.unwrap_or(f64::NAN)
            );
        }
    }
    Ok(figures)
}

async fn measure(
    settings: &Settings,
    root: &std::path::Path,
    tenants: usize,
    tags: usize,
    seconds: usize,
) -> Result<CitusFigures> {
    progress("starting one PostgreSQL node and a Citus coordinator with two workers");
    let (single, citus) = {
        let (a, b) = (root.join("single"), root.join("citus"));
        tokio::task::spawn_blocking(move || -> Result<(PrivateCluster, CitusCluster)> {
            Ok((
                PrivateCluster::start(&a, Durability::Scratch)?,
                CitusCluster::start(&b, Durability::Scratch, 2)?,
            ))
        })
        .await
        .map_err(|e| Error::Cluster(format!("start-up task failed: {e}")))??
    };
    let mut targets = Vec::new();

    let urls = single.create_database("bench_one_node").await?;
    targets.push(
        target(
            "one_node",
            settings,
            urls,
            BackendChoice::Plain,
            tenants,
            tags,
            seconds,
        )
        .await?,
    );

    // One worker: the second takes no shards in this database.
    let urls = citus.create_database("bench_one_worker").await?;
    {
        let (su, conn) = tokio_postgres::connect(
            &citus.coordinator().url(SUPERUSER, "bench_one_worker"),
            tokio_postgres::NoTls,
        )
        .await
        .map_err(Error::db("connecting to the coordinator"))?;
        tokio::spawn(conn);
        let second = &citus.workers()[1];
        su.execute(
            "SELECT citus_set_node_property($1, $2, 'shouldhaveshards', false)",
            &[&CitusCluster::node_name(second), &i32::from(second.port())],
        )
        .await
        .map_err(Error::db("keeping shards off the second worker"))?;
    }
    targets.push(
        target(
            "citus_1_worker",
            settings,
            urls,
            BackendChoice::Citus,
            tenants,
            tags,
            seconds,
        )
        .await?,
    );

    let urls = citus.create_database("bench_two_workers").await?;
    targets.push(
        target(
            "citus_2_workers",
            settings,
            urls,
            BackendChoice::Citus,
            tenants,
            tags,
            seconds,
        )
        .await?,
    );
    drop(citus);
    drop(single);
    Ok(CitusFigures { targets })
}

/// Sensor-like values: a slow wave plus noise, at a resolution of 0.01, one per tag per second.
fn rows(tag_ids: &[i64], start: DateTime<Utc>, seconds: usize, seed: u64) -> Vec<SampleRow> {
    let mut state = seed | 1;
    let mut noise = move || {
        // xorshift64: reproducible noise without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f64 / 1000.0 - 1.0
    };
    let mut out = Vec::with_capacity(tag_ids.len() * seconds);
    for s in 0..seconds {
        let time = start + chrono::Duration::seconds(s as i64);
        for (i, &tag_id) in tag_ids.iter().enumerate() {
            let v = 50.0 + 20.0 * (s as f64 / 600.0 + i as f64).sin() + noise();
            out.push(SampleRow {
                tag_id,
                time,
                value: Some((v * 100.0).round() / 100.0),
                quality: Quality::Good,
            });
        }
    }
    out
}

async fn tenant_with_tags(
    store: &Store,
    name: String,
    tags: usize,
) -> Result<(TenantId, Vec<i64>)> {
    let tenant = store
        .create_tenant(&crate::store::admin::NewTenant::named(
            name,
            millwright_tenants::plan::Plan::Pro,
        ))
        .await?;
    let mut session = store.tenant(tenant).await?;
    let named = |name: &str, parent_id: Option<i64>| EntityFields {
        name: Some(name.to_string()),
        parent_id,
        ..Default::default()
    };
    let site = session.create(Kind::Site, &named("site", None)).await?.id();
    let line = session
        .create(Kind::Line, &named("line", Some(site)))
        .await?
        .id();
    let machine = session
        .create(Kind::Machine, &named("machine", Some(line)))
        .await?
        .id();
    let mut ids = Vec::with_capacity(tags);
    for i in 0..tags {
        ids.push(
            session
                .create(
                    Kind::Tag,
                    &named(&format!("bench.tag{i:04}"), Some(machine)),
                )
                .await?
                .id(),
        );
    }
    Ok((tenant, ids))
}

async fn target(
    label: &'static str,
    settings: &Settings,
    (owner, app): (String, String),
    backend: BackendChoice,
    tenants: usize,
    tags: usize,
    seconds: usize,
) -> Result<TargetFigures> {
    let mut settings = settings.clone();
    settings.database.url = Some(Secret::new(owner));
    settings.database.app_url = Some(Secret::new(app));
    settings.database.pool_size = settings.database.pool_size.max(IN_FLIGHT + 2);
    settings.store.backend = backend;
    let store = Store::open(&settings.database, &settings.store).await?;
    progress(&format!(
        "{label}: layout {:?}, creating {tenants} tenants x {tags} tags",
        store.backend()
    ));
    let mut plant = Vec::with_capacity(tenants);
    for i in 0..tenants {
        plant.push(tenant_with_tags(&store, format!("bench-{label}-{i}"), tags).await?);
    }
    // The same rows for every target: `seconds` of 1 Hz data ending a minute ago.
    let start = Utc::now() - chrono::Duration::seconds(seconds as i64 + 60);
    let mut batches: Vec<(TenantId, Vec<SampleRow>)> = Vec::new();
    for (n, (tenant, tag_ids)) in plant.iter().enumerate() {
        for chunk in rows(tag_ids, start, seconds, n as u64 + 1).chunks(BATCH) {
            batches.push((*tenant, chunk.to_vec()));
        }
    }
    // Tenants take turns, as their connectors would.
    batches.sort_by_key(|(t, rows)| (rows[0].time, t.0));
    let total: usize = batches.iter().map(|(_, r)| r.len()).sum();
    progress(&format!("{label}: ingesting {total} samples"));
    let started = Instant::now();
    let mut done = 0usize;
    let mut next_report = total / 10;
    let mut stream = futures::stream::iter(batches.iter())
        .map(|(tenant, rows)| {
            let store = store.clone();
            async move {
                let mut session = store.tenant(*tenant).await?;
                session.ingest(rows).await.map(|_| rows.len())
            }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(n) = stream.next().await {
        done += n?;
        if done >= next_report {
            progress(&format!(
                "{label}: {:.0} % ({done} samples, {:.1} s)",
                100.0 * done as f64 / total as f64,
                started.elapsed().as_secs_f64()
            ));
            next_report += total / 10;
        }
    }
    drop(stream);
    let secs = started.elapsed().as_secs_f64();
    let ingest_per_s = total as f64 / secs;
    progress(&format!(
        "{label}: {total} samples in {secs:.1} s = {ingest_per_s:.0}/s"
    ));

    // One tenant's minute averages of one tag over the range: raw samples, one shard.
    let width = BucketWidth::parse("1m").expect("valid width");
    let end = start + chrono::Duration::seconds(seconds as i64);
    let mut runs = Vec::new();
    for round in 0..3 {
        for (tenant, tag_ids) in &plant {
            let mut session = store.tenant(*tenant).await?;
            let t = Instant::now();
            let (_, points) = session
                .bucketed(
                    tag_ids[round % tag_ids.len()],
                    start,
                    end,
                    width,
                    Agg::Avg,
                    true,
                )
                .await?;
            runs.push(t.elapsed().as_secs_f64() * 1000.0);
            if points.is_empty() {
                return Err(Error::Bench(format!(
                    "{label}: a tenant's buckets are empty"
                )));
            }
        }
    }
    let tenant_query_ms = median(&mut runs);

    let owner = store.owner_pool().get().await?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let n: i64 = owner
            .query_one("SELECT count(*) FROM samples", &[])
            .await
            .map_err(Error::db("counting every tenant's samples"))?
            .get(0);
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
        if n != total as i64 {
            return Err(Error::Bench(format!(
                "{label}: {n} samples stored, {total} ingested"
            )));
        }
    }
    let all_tenants_query_ms = median(&mut runs);

    let citus = backend == BackendChoice::Citus;
    let per_sample =
        |(all, table): (i64, i64)| (all as f64 / total as f64, table as f64 / total as f64);
    let (bytes_per_sample_row, table_bytes_per_sample_row) =
        per_sample(samples_bytes(&owner, citus).await?);
    let columnar = if citus {
        // The days the layout would convert once they are old, converted now.
        owner
            .batch_execute(
                "CALL alter_old_partitions_set_access_method('samples', \
                      now() + interval '3 days', 'columnar')",
            )
            .await
            .map_err(Error::db("converting the days to columnar"))?;
        Some(per_sample(samples_bytes(&owner, true).await?))
    } else {
        None
    };
    Ok(TargetFigures {
        label,
        ingest_per_s,
        tenant_query_ms,
        all_tenants_query_ms,
        bytes_per_sample_row,
        table_bytes_per_sample_row,
        bytes_per_sample_columnar: columnar.map(|c| c.0),
        table_bytes_per_sample_columnar: columnar.map(|c| c.1),
    })
}

/// Bytes of every day partition of `samples` on every node: (tables and indexes, tables only).
async fn samples_bytes(client: &deadpool_postgres::Object, citus: bool) -> Result<(i64, i64)> {
    let sql = if citus {
        "SELECT coalesce(sum(citus_total_relation_size(inhrelid)), 0)::bigint, \
                coalesce(sum(citus_table_size(inhrelid)), 0)::bigint \
           FROM pg_inherits WHERE inhparent = 'samples'::regclass"
    } else {
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint, \
                coalesce(sum(pg_table_size(inhrelid)), 0)::bigint \
           FROM pg_inherits WHERE inhparent = 'samples'::regclass"
    };
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(Error::db("measuring samples' size"))?;
    Ok((row.get(0), row.get(1)))
}

fn median(runs: &mut [f64]) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}
