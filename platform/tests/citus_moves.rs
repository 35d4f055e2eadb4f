//! Tenant moves on Citus (issue #18, deliverable 4): a tenant keeps ingesting, with a known
//! sequence of timestamps, while it is isolated to shards of its own and moved to the other
//! worker; afterwards every sample is counted (0 lost, 0 duplicated), its rows are on the new
//! worker's shards (counted there directly), another tenant is unaffected, and the rebalancer
//! evens out the workers. End to end on the Citus layout: the real server over HTTP, the real
//! `millwright tenant move` and `tenant placements` commands, the tenant's API key before and
//! after. Needs Citus; skipped, saying so, where it is not installed.

mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use millwright_platform::config::BackendChoice;
use millwright_platform::pg_cluster::SUPERUSER;
use millwright_platform::store::citus_admin::{
    CitusAdmin, MoveStep, RebalanceStrategy, TransferMode,
};
use millwright_platform::store::TenantId;
use millwright_platform::test_util::{
    citus_available, citus_cluster, fresh_citus_database, fresh_settings, fresh_store,
    tenant_with_tags,
};
use process::{millwright, run};

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(conn);
    Ok(client)
}

fn pool(url: &str) -> Result<Pool> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager).max_size(4).build()?)
}

/// The shape of the Citus layout's samples and rollups (daily partitions, distributed by
/// tenant, co-located), on a bare coordinator database, with 20 tenants.
const SCHEMA: &str = "
    CREATE TABLE tenants (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
    SELECT create_reference_table('tenants');
    INSERT INTO tenants SELECT i, 'tenant ' || i FROM generate_series(1, 20) i;
    CREATE TABLE samples (time timestamptz NOT NULL, tenant_id integer NOT NULL,
                          tag_id bigint NOT NULL, value double precision,
                          quality smallint NOT NULL DEFAULT 0,
                          PRIMARY KEY (tenant_id, tag_id, time)) PARTITION BY RANGE (time);
    SELECT create_distributed_table('samples', 'tenant_id');
    SELECT create_time_partitions('samples', '1 day', now() + interval '2 days',
                                  now() - interval '2 days');
    CREATE TABLE rollup_1m (bucket timestamptz NOT NULL, tenant_id integer NOT NULL,
                            tag_id bigint NOT NULL, sum double precision, count bigint NOT NULL,
                            PRIMARY KEY (tenant_id, tag_id, bucket));
    SELECT create_distributed_table('rollup_1m', 'tenant_id', colocate_with => 'samples');
    INSERT INTO samples
        SELECT now() - interval '1 day' + i * interval '1 second', t, 1, i
          FROM generate_series(1, 20) t, generate_series(1, 2000) i;
";

/// Inserts one sample at a time for `tenant` (timestamps a millisecond apart from a fixed
/// start) until `stop`; returns how many were acknowledged. Any failed insert fails the test:
/// a move must not refuse writes.
async fn ingest(url: String, tenant: i32, stop: Arc<AtomicBool>) -> Result<i64> {
    let client = connect(&url).await?;
    let insert = client
        .prepare(
            "INSERT INTO samples (time, tenant_id, tag_id, value) \
             VALUES (date_trunc('hour', now()) + $2 * interval '1 millisecond', $1, 2, $2)",
        )
        .await?;
    let mut acked = 0i64;
    while !stop.load(Ordering::Relaxed) {
        client
            .execute(&insert, &[&tenant, &(acked as f64)])
            .await
            .with_context(|| format!("insert {acked} of tenant {tenant} during the move"))?;
        acked += 1;
    }
    Ok(acked)
}

/// (rows, distinct timestamps, lowest value, highest value) of tag 2 of `tenant`.
async fn counted(client: &tokio_postgres::Client, tenant: i32) -> Result<(i64, i64, f64, f64)> {
    let r = client
        .query_one(
            "SELECT count(*), count(DISTINCT time), coalesce(min(value), -1), \
                    coalesce(max(value), -1) \
               FROM samples WHERE tenant_id = $1 AND tag_id = 2",
            &[&tenant],
        )
        .await?;
    Ok((r.get(0), r.get(1), r.get(2), r.get(3)))
}

#[tokio::test]
async fn a_tenant_moves_to_the_other_worker_while_it_ingests() -> Result<()> {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return Ok(());
    }
    let cluster = citus_cluster().await.expect("Citus cluster");
    let (dbname, (owner_url, _)) = fresh_citus_database().await;
    let owner = connect(&owner_url).await?;
    owner.batch_execute(SCHEMA).await.context("schema")?;
    // Yesterday's day is columnar, as the layout converts old days: the move carries it too.
    owner
        .batch_execute(
            "CALL alter_old_partitions_set_access_method('samples', \
                  date_trunc('day', now()), 'columnar')",
        )
        .await
        .context("columnar days")?;
    let columnar: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam \
              WHERE c.relname LIKE 'samples_p%' AND a.amname = 'columnar'",
            &[],
        )
        .await?
        .get(0);
    ensure!(columnar >= 1, "no columnar day");
    let admin = CitusAdmin::open(pool(&owner_url)?, "citus").await?;

    let (mover, neighbour) = (5, 7);
    let before = admin.placement(TenantId(mover)).await?;
    ensure!(!before.isolated, "a new tenant shares its shard group");
    ensure!(before.shared_with > 0, "{before:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [mover, neighbour]
        .into_iter()
        .map(|t| tokio::spawn(ingest(owner_url.clone(), t, stop.clone())))
        .collect();
    // Let both write before the move starts.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let mut steps = Vec::new();
    let report = admin
        .move_tenant(TenantId(mover), None, TransferMode::ForceLogical, |s| {
            println!("{s:?}");
            steps.push(s);
        })
        .await?;
    // And keep writing after it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.push(w.await??);
    }
    println!("report {report:?}, acknowledged {acked:?}");

    // Every acknowledged sample is there once: 0 lost, 0 duplicated, in both tenants.
    for (tenant, n) in [mover, neighbour].into_iter().zip(&acked) {
        ensure!(*n > 100, "tenant {tenant} wrote only {n} samples");
        let (rows, distinct, low, high) = counted(&owner, tenant).await?;
        ensure!(
            (rows, distinct, low, high) == (*n, *n, 0.0, (*n - 1) as f64),
            "tenant {tenant}: {n} acknowledged, {rows} rows, {distinct} distinct times, \
             values {low}..{high}"
        );
    }
    // The earlier day is intact too.
    let old: i64 = owner
        .query_one(
            "SELECT count(*) FROM samples WHERE tenant_id = $1 AND tag_id = 1",
            &[&mover],
        )
        .await?
        .get(0);
    ensure!(old == 2000, "{old}");

    // The tenant has its own shards, on the other worker now.
    ensure!(report.isolated_now, "{report:?}");
    let after = admin.placement(TenantId(mover)).await?;
    ensure!(after.isolated && after.shared_with == 0, "{after:?}");
    ensure!(after.worker != before.worker, "{before:?} -> {after:?}");
    ensure!(
        after.worker == report.to && before.worker == report.from,
        "{report:?}"
    );
    ensure!(
        steps.iter().any(|s| matches!(s, MoveStep::Isolated { .. }))
            && steps.iter().any(|s| matches!(s, MoveStep::Moving { .. })),
        "{steps:?}"
    );
    // The neighbour stayed where it was, sharing its group with others.
    let n_after = admin.placement(TenantId(neighbour)).await?;
    ensure!(!n_after.isolated, "{n_after:?}");

    // Counted on the new worker itself: every shard of the tenant's group (each day's
    // partition and the rollups) is there, holding all its rows.
    let shards: Vec<(String, String)> = owner
        .query(
            "SELECT cs.shard_name, cs.nodename FROM citus_shards cs \
               JOIN pg_dist_shard s USING (shardid) \
               JOIN pg_dist_shard a ON a.shardid = $1 \
              WHERE s.shardminvalue = a.shardminvalue AND s.shardmaxvalue = a.shardmaxvalue",
            &[&after.shard_id],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    ensure!(
        shards.len() >= 6,
        "samples, its 5 days, rollup_1m: {shards:?}"
    );
    ensure!(
        shards.iter().all(|(_, node)| *node == after.worker.name),
        "{shards:?}"
    );
    let index = cluster
        .workers()
        .iter()
        .position(|w| {
            millwright_platform::pg_cluster::citus::CitusCluster::node_name(w) == after.worker.name
        })
        .context("the new worker is one of ours")?;
    let worker = connect(&cluster.worker_url(index, SUPERUSER, &dbname)).await?;
    worker
        .batch_execute("SET citus.override_table_visibility = off")
        .await?;
    let mut on_worker = 0i64;
    for (shard, _) in shards.iter().filter(|(s, _)| s.starts_with("samples_p")) {
        on_worker += worker
            .query_one(&format!("SELECT count(*) FROM {shard}"), &[])
            .await?
            .get::<_, i64>(0);
    }
    ensure!(
        on_worker == acked[0] + 2000,
        "{on_worker} rows in the new worker's shards"
    );

    // Moving it where it is does nothing more; naming a worker that is not one is refused.
    let again = admin
        .move_tenant(
            TenantId(mover),
            Some(&after.worker.to_string()),
            TransferMode::BlockWrites,
            |_| {},
        )
        .await?;
    ensure!(!again.isolated_now && again.to == after.worker, "{again:?}");
    let wrong = admin
        .move_tenant(
            TenantId(mover),
            Some("nowhere:1"),
            TransferMode::Auto,
            |_| {},
        )
        .await
        .expect_err("an unknown worker is refused");
    ensure!(
        wrong.to_string().contains("not an active worker"),
        "{wrong}"
    );
    Ok(())
}

#[tokio::test]
async fn the_rebalancer_evens_out_the_workers() -> Result<()> {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return Ok(());
    }
    let (_, (owner_url, _)) = fresh_citus_database().await;
    let owner = connect(&owner_url).await?;
    owner.batch_execute(SCHEMA).await.context("schema")?;
    let admin = CitusAdmin::open(pool(&owner_url)?, "citus").await?;
    // Everything onto one worker first.
    let workers = admin.workers().await?;
    ensure!(workers.len() == 2, "{workers:?}");
    let (full, empty) = (&workers[0].worker, &workers[1].worker);
    owner
        .execute(
            "SELECT citus_move_shard_placement(shardid, $2, $3, $4, $5, \
                    shard_transfer_mode => 'block_writes') \
               FROM citus_shards WHERE table_name = $1::text::regclass AND nodename = $2",
            &[&"samples", &empty.name, &empty.port, &full.name, &full.port],
        )
        .await?;
    let lopsided = admin.workers().await?;
    ensure!(lopsided[1].shard_groups == 0, "{lopsided:?}");

    let mut lines = 0;
    let done = admin
        .rebalance(
            TransferMode::ForceLogical,
            RebalanceStrategy::ByShardCount,
            |s| {
                println!("{s:?}");
                lines += 1;
            },
        )
        .await?;
    ensure!(
        done.state == "finished" && done.job_id.is_some(),
        "{done:?}"
    );
    ensure!(lines >= 1);
    let even = admin.workers().await?;
    ensure!(
        even.iter().all(|w| w.shard_groups == 4),
        "8 shard groups, 4 each: {even:?}"
    );
    let n: i64 = owner
        .query_one("SELECT count(*) FROM samples", &[])
        .await?
        .get(0);
    ensure!(n == 40_000, "{n}");
    // Nothing left to move: said so, no job.
    let idle = admin
        .rebalance(TransferMode::Auto, RebalanceStrategy::ByShardCount, |_| {})
        .await?;
    ensure!(idle.job_id.is_none(), "{idle:?}");
    Ok(())
}

#[tokio::test]
async fn placement_is_refused_on_a_single_node_layout() -> Result<()> {
    let (store, _) = fresh_store(BackendChoice::Plain).await;
    let refused = store
        .citus_admin()
        .await
        .err()
        .context("the plain layout has no placements")?;
    let text = refused.to_string();
    ensure!(
        text.contains("needs the Citus layout") && text.contains("plain layout"),
        "{text}"
    );
    Ok(())
}

/// Posts batches of `BATCH` samples of `tag_id` with the tenant's key, timestamps 10 ms apart
/// from `start`, values counting up from 0, until `stop`, as a connector does: a batch that
/// gets a 5xx is sent again (after 100 ms) until it is stored. Returns (samples acknowledged,
/// batches sent again). An answer other than "all accepted" or a retryable 5xx fails the test;
/// a batch sent again must not be reported as duplicates (the failed attempt stored nothing).
async fn ingest_http(
    api: String,
    key: String,
    tag_id: i64,
    start: chrono::DateTime<chrono::Utc>,
    stop: Arc<AtomicBool>,
) -> Result<(i64, i64)> {
    const BATCH: i64 = 20;
    let http = reqwest::Client::new();
    let (mut acked, mut retried) = (0i64, 0i64);
    while !stop.load(Ordering::Relaxed) {
        let samples: Vec<serde_json::Value> = (acked..acked + BATCH)
            .map(|i| {
                serde_json::json!({
                    "tag_id": tag_id,
                    "time": (start + chrono::Duration::milliseconds(10 * i)).to_rfc3339(),
                    "value": i as f64,
                })
            })
            .collect();
        let body = serde_json::json!({ "samples": samples });
        let mut attempts = 0;
        loop {
            let res = http
                .post(format!("{api}/api/v1/ingest"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await?;
            let status = res.status();
            let answer: serde_json::Value = res.json().await?;
            if status.is_server_error() && attempts < 50 {
                println!("batch from {acked} of tag {tag_id}: {status}, sending it again");
                attempts += 1;
                retried += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            ensure!(
                status.is_success() && answer["accepted"] == BATCH && answer["duplicates"] == 0,
                "batch from {acked}: {status} {answer}"
            );
            break;
        }
        acked += BATCH;
    }
    Ok((acked, retried))
}

/// Every sample of `tag_id` read back through the API with `key`: (count, distinct times,
/// values are exactly 0..count).
async fn read_back(
    api: &str,
    key: &str,
    tag_id: i64,
    start: chrono::DateTime<chrono::Utc>,
) -> Result<(usize, usize, bool)> {
    let from = (start - chrono::Duration::seconds(1)).to_rfc3339();
    let to = (start + chrono::Duration::hours(1)).to_rfc3339();
    let res = reqwest::Client::new()
        .get(format!("{api}/api/v1/tags/{tag_id}/samples"))
        .query(&[
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("limit", "100000"),
        ])
        .bearer_auth(key)
        .send()
        .await?;
    ensure!(res.status().is_success(), "{}", res.status());
    let body: serde_json::Value = res.json().await?;
    let samples = body["samples"].as_array().context("raw samples")?;
    let times: std::collections::BTreeSet<&str> =
        samples.iter().filter_map(|s| s["time"].as_str()).collect();
    let in_order = samples
        .iter()
        .enumerate()
        .all(|(i, s)| s["value"].as_f64() == Some(i as f64));
    Ok((samples.len(), times.len(), in_order))
}

#[tokio::test]
async fn on_the_citus_layout_a_tenant_moves_while_it_ingests_over_http() -> Result<()> {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return Ok(());
    }
    println!("layout: citus");
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let settings = fresh_settings(BackendChoice::Citus).await;
    let store =
        millwright_platform::store::Store::open(&settings.database, &settings.store).await?;
    let server = millwright_platform::api::Server::bind(store.clone(), Arc::new(settings.clone()))
        .await?
        .spawn();
    let api = format!("http://{}", server.addr);
    // A few tenants, so that the mover shares its shard group's hash range.
    let mover = tenant_with_tags(&store, "mover", &["flow"]).await;
    let other = tenant_with_tags(&store, "other", &["flow"]).await;
    for i in 0..4 {
        tenant_with_tags(&store, &format!("quiet {i}"), &[]).await;
    }
    let owner = settings.database.url.as_ref().unwrap().expose().to_string();
    let app = settings
        .database
        .app_url
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let command = |args: &[&str]| {
        let mut cmd = millwright();
        cmd.args(args)
            .env("DATABASE_URL", &owner)
            .env("APP_DATABASE_URL", &app)
            .env("MILLWRIGHT__STORE__BACKEND", "citus");
        cmd
    };
    let admin = store.citus_admin().await?;
    let before = admin.placement(mover.id).await?;
    let other_before = admin.placement(other.id).await?;
    ensure!(!before.isolated, "{before:?}");

    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [&mover, &other]
        .into_iter()
        .map(|t| {
            tokio::spawn(ingest_http(
                api.clone(),
                t.key.clone(),
                t.tag_ids[0],
                start,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let moved = run(
        command(&["tenant", "move", "--tenant", "mover"]),
        std::time::Duration::from_secs(300),
    )
    .await
    .success();
    println!("{}", moved.stdout);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut retried = Vec::new();
    for w in writers {
        let (n, again) = w.await??;
        acked.push(n);
        retried.push(again);
    }
    println!("acknowledged {acked:?}, batches sent again {retried:?}");
    // The platform runs a batch that met the split's switch-over again itself: no client
    // had to send anything twice.
    ensure!(retried == [0, 0], "batches sent again: {retried:?}");

    // The command said what it did, step by step.
    let out = &moved.stdout;
    ensure!(
        out.contains("move: tenant ")
            && out.contains("move: isolated in shard group")
            && out.contains("move: moving shard group")
            && out.contains(&format!(
                "moved: tenant={} from={}",
                mover.id, before.worker
            )),
        "{}",
        moved.describe()
    );

    // Every sample, read back through the API with the same keys: 0 lost, 0 duplicated.
    for (t, n) in [&mover, &other].into_iter().zip(&acked) {
        ensure!(*n >= 100, "only {n} samples written during the move");
        let (count, distinct, in_order) = read_back(&api, &t.key, t.tag_ids[0], start).await?;
        ensure!(
            count as i64 == *n && distinct == count && in_order,
            "tenant {}: {n} acknowledged, {count} read back, {distinct} distinct times, \
             values in order: {in_order}",
            t.id
        );
    }
    // Rollups of the moved tenant are computed on its new shards.
    let mut session = store.tenant(mover.id).await?;
    let (_, minutes) = session
        .bucketed(
            mover.tag_ids[0],
            start,
            start + chrono::Duration::hours(1),
            millwright_platform::store::query::BucketWidth::parse("1m").unwrap(),
            millwright_platform::store::query::Agg::Count,
            false,
        )
        .await?;
    let counted: f64 = minutes.iter().filter_map(|p| p.value).sum();
    ensure!(counted as i64 == acked[0], "rollup counts {counted}");
    drop(session);

    // The placement changed worker; the other tenant stayed; the listing says so.
    let after = admin.placement(mover.id).await?;
    ensure!(
        after.isolated && after.worker != before.worker,
        "{before:?} -> {after:?}"
    );
    let other_after = admin.placement(other.id).await?;
    ensure!(
        other_after.worker == other_before.worker && !other_after.isolated,
        "{other_before:?} -> {other_after:?}"
    );
    let listing = run(
        command(&["tenant", "placements"]),
        std::time::Duration::from_secs(60),
    )
    .await
    .success();
    ensure!(
        listing.stdout.lines().any(|l| l.starts_with(&format!(
            "tenant: {} (mover) worker={} shard={} isolated=true shared_with=0",
            mover.id, after.worker, after.shard_id
        ))),
        "{}",
        listing.describe()
    );
    ensure!(
        listing
            .stdout
            .lines()
            .filter(|l| l.starts_with("worker: "))
            .count()
            == 2,
        "{}",
        listing.describe()
    );

    // The bureau's cross-tenant figures (issue #16) on Citus: a tenant's contribution reads
    // its energy tags' hourly rollups naming the tenant, which Citus sends to one shard (the
    // moved tenant's, on its new worker); the contributions the indices aggregate stay in a
    // table on the coordinator, so an index request fans out to no shard.
    let owner_client = store.owner_pool().get().await?;
    let plan: Vec<String> = owner_client
        .query(
            &format!(
                "EXPLAIN (COSTS OFF) SELECT date_bin(make_interval(secs => 3600), bucket, \
                        TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, max(max)::float8 \
                   FROM public.rollup_1h WHERE tenant_id = {} AND tag_id = {} \
                    AND bucket >= now() - interval '1 day' AND bucket < now() GROUP BY b ORDER BY b",
                mover.id, mover.tag_ids[0]
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    println!("{plan}");
    ensure!(plan.contains("Task Count: 1"), "{plan}");
    ensure!(
        plan.contains(&after.worker.name),
        "the read goes to the new worker: {plan}"
    );
    let local: bool = owner_client
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM citus_tables \
                                 WHERE table_name = 'public.bureau_contributions'::regclass)",
            &[],
        )
        .await?
        .get(0);
    ensure!(local, "bureau_contributions is a coordinator table");
    drop(owner_client);

    // On a single-node database the commands refuse, naming the layout.
    let plain = fresh_settings(BackendChoice::Plain).await;
    let mut cmd = millwright();
    cmd.args(["tenant", "placements"])
        .env(
            "DATABASE_URL",
            plain.database.url.as_ref().unwrap().expose(),
        )
        .env(
            "APP_DATABASE_URL",
            plain.database.app_url.as_ref().unwrap().expose(),
        )
        .env("MILLWRIGHT__STORE__BACKEND", "plain");
    let refused = run(cmd, std::time::Duration::from_secs(60)).await;
    ensure!(
        !refused.status.success() && refused.stderr.contains("needs the Citus layout"),
        "{}",
        refused.describe()
    );
    Ok(())
}

/// `millwright bench citus` with small sizes: one node, one worker and two workers measured
/// in one run and printed side by side.
#[tokio::test]
async fn bench_citus_prints_one_node_beside_one_and_two_workers() -> Result<()> {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return Ok(());
    }
    let mut cmd = millwright();
    cmd.args([
        "bench",
        "citus",
        "--tenants",
        "3",
        "--tags",
        "5",
        "--seconds",
        "120",
    ]);
    let out = run(cmd, std::time::Duration::from_secs(600))
        .await
        .success();
    let line = |prefix: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    for target in ["one_node: ", "citus_1_worker: ", "citus_2_workers: "] {
        let l = line(target).with_context(|| out.describe())?;
        ensure!(
            l.contains("ingest_per_s=") && l.contains("tenant_query_ms="),
            "{l}"
        );
    }
    ensure!(
        line("citus_2_workers: ").is_some_and(|l| l.contains("bytes_per_sample_columnar=")),
        "{}",
        out.describe()
    );
    for key in [
        "ratio_ingest_2_workers_vs_one_node=",
        "ratio_ingest_2_workers_vs_1_worker=",
        "ratio_bytes_row_vs_columnar=",
    ] {
        ensure!(out.stdout.contains(key), "{key}: {}", out.describe());
    }
    ensure!(
        out.stderr.contains("[bench] citus_2_workers: 100 %"),
        "progress lines: {}",
        out.describe()
    );
    Ok(())
}
