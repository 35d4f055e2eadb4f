//! The Citus layout (issue #18) beyond what the shared store tests check: old days turn
//! columnar, late samples for a columnar day are appended once (the documented rule), rollups
//! over such a day stay right, the rollup refresh is pushed down to the shards, and a database
//! without Citus is refused with a clear message.

use chrono::{Duration, DurationRound, Utc};
use millwright_platform::config::BackendChoice;
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::query::{Agg, BucketWidth, Source};
use millwright_platform::store::{Backend, Store};
use millwright_platform::test_util::{citus_available, fresh_settings, tenant_with_tags};

fn skip() -> bool {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return true;
    }
    false
}

#[tokio::test]
async fn late_samples_for_a_columnar_day_are_appended_once() {
    if skip() {
        return;
    }
    let mut settings = fresh_settings(BackendChoice::Citus).await;
    // No plan keeps less than 30 days, so days turn columnar after compress_after_days (7).
    settings.store.retention_days = 30;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Citus);
    let a = tenant_with_tags(&store, "acme", &["a.temp"]).await;
    let b = tenant_with_tags(&store, "bolt", &["b.temp"]).await;
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(10);
    let start = day + Duration::hours(6);
    let rows = |tag: i64, from: i64, n: i64| -> Vec<SampleRow> {
        (from..from + n)
            .map(|i| SampleRow {
                tag_id: tag,
                time: start + Duration::seconds(i),
                value: Some(i as f64),
                quality: Quality::Good,
            })
            .collect()
    };
    let mut sa = store.tenant(a.id).await.unwrap();
    let mut sb = store.tenant(b.id).await.unwrap();
    assert_eq!(
        sa.ingest(&rows(a.tag_ids[0], 0, 120))
            .await
            .unwrap()
            .inserted,
        120
    );
    assert_eq!(
        sb.ingest(&rows(b.tag_ids[0], 0, 60))
            .await
            .unwrap()
            .inserted,
        60
    );

    let report = store.maintain().await.unwrap();
    assert!(report.partitions_columnar >= 1, "{report:?}");
    let owner = store.owner_pool().get().await.unwrap();
    let method: String = owner
        .query_one(
            "SELECT access_method::text FROM pg_catalog.time_partitions \
             WHERE parent_table = 'samples'::regclass \
               AND from_value::timestamptz <= $1 AND to_value::timestamptz > $1",
            &[&start],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(method, "columnar", "the day ten days ago is columnar");

    // Late: 10 new samples, 10 already stored, one new sample twice in the batch.
    let mut late = rows(a.tag_ids[0], 110, 20);
    late.push(late[15]);
    let outcome = sa.ingest(&late).await.unwrap();
    assert_eq!((outcome.inserted, outcome.skipped), (10, 11), "{outcome:?}");
    // The same batch again: all stored already.
    let again = sa.ingest(&late).await.unwrap();
    assert_eq!((again.inserted, again.skipped), (0, 21), "{again:?}");
    // B's tag in A's batch: dropped, never filed under A.
    let foreign = sa.ingest(&rows(b.tag_ids[0], 200, 5)).await.unwrap();
    assert_eq!(foreign.inserted, 0);

    let to = start + Duration::hours(1);
    let raw = sa.raw_samples(a.tag_ids[0], day, to, 1000).await.unwrap();
    assert_eq!(raw.len(), 130);
    assert!(
        raw.windows(2).all(|w| w[0].time < w[1].time),
        "one row per time"
    );
    let raw_b = sb.raw_samples(b.tag_ids[0], day, to, 1000).await.unwrap();
    assert_eq!(raw_b.len(), 60, "B keeps only its own");

    // Rollups over the columnar day, refreshed by the read, agree with the raw samples.
    let minute = BucketWidth::parse("1m").unwrap();
    let (source, buckets) = sa
        .bucketed(a.tag_ids[0], start, to, minute, Agg::Count, false)
        .await
        .unwrap();
    assert_eq!(source, Source::Rollup1m);
    let counted: f64 = buckets.iter().filter_map(|b| b.value).sum();
    assert_eq!(counted, 130.0, "{buckets:?}");
    let (_, sums) = sa
        .bucketed(a.tag_ids[0], start, to, minute, Agg::Max, false)
        .await
        .unwrap();
    let (_, raw_sums) = sa
        .bucketed(a.tag_ids[0], start, to, minute, Agg::Max, true)
        .await
        .unwrap();
    assert_eq!(
        sums.iter().map(|b| (b.time, b.value)).collect::<Vec<_>>(),
        raw_sums
            .iter()
            .map(|b| (b.time, b.value))
            .collect::<Vec<_>>()
    );

    // Plan trimming never touches columnar days (it would fail there), so it runs cleanly.
    store.maintain().await.unwrap();
}

#[tokio::test]
async fn the_rollup_refresh_runs_on_the_shards() {
    if skip() {
        return;
    }
    let settings = fresh_settings(BackendChoice::Citus).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let owner = store.owner_pool().get().await.unwrap();
    let shards: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'rollup_1m'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // The steps of refresh_rollups_of, as the function runs them for maintenance.
    for step in [
        "INSERT INTO public.rollup_dirty_minute (tenant_id, tag_id, bucket)
         SELECT d.tenant_id, d.tag_id,
                pg_catalog.generate_series(date_trunc('minute', d.first_time),
                                           date_trunc('minute', d.last_time), interval '1 minute')
         FROM public.rollup_dirty d WHERE d.claimed
         ON CONFLICT DO NOTHING",
        "INSERT INTO public.rollup_1m AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
         SELECT d.bucket, d.tenant_id, d.tag_id, sum(s.value), count(s.value), min(s.value), max(s.value),
                (array_agg(s.value ORDER BY s.time DESC) FILTER (WHERE s.value IS NOT NULL))[1],
                max(s.time) FILTER (WHERE s.value IS NOT NULL)
         FROM public.rollup_dirty_minute d
         JOIN public.samples s ON s.tenant_id = d.tenant_id AND s.tag_id = d.tag_id
                              AND s.time >= d.bucket AND s.time < d.bucket + interval '1 minute'
         WHERE true
         GROUP BY d.tenant_id, d.tag_id, d.bucket
         ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
             sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
             last = excluded.last, last_time = excluded.last_time",
        "INSERT INTO public.rollup_1h AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
         SELECT d.bucket, d.tenant_id, d.tag_id, sum(m.sum), coalesce(sum(m.count), 0)::bigint,
                min(m.min), max(m.max),
                (array_agg(m.last ORDER BY m.last_time DESC) FILTER (WHERE m.last_time IS NOT NULL))[1],
                max(m.last_time)
         FROM public.rollup_dirty_hour d
         JOIN public.rollup_1m m ON m.tenant_id = d.tenant_id AND m.tag_id = d.tag_id
                                AND m.bucket >= d.bucket AND m.bucket < d.bucket + interval '1 hour'
         WHERE true
         GROUP BY d.tenant_id, d.tag_id, d.bucket
         ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
             sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
             last = excluded.last, last_time = excluded.last_time",
    ] {
        let plan: Vec<String> = owner
            .query(&format!("EXPLAIN (COSTS OFF) {step}"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let text = plan.join("\n");
        assert!(
            text.contains(&format!("Task Count: {shards}")),
            "one task per shard:\n{text}"
        );
        assert!(
            !text.contains("pull to coordinator")
                && !text.contains("repartition")
                && !text.contains("Distributed Subplan"),
            "pushed down, not pulled through the coordinator:\n{text}"
        );
    }
    // A read's refresh names the tenant: one shard.
    let read: Vec<String> = owner
        .query(
            "EXPLAIN (COSTS OFF) UPDATE public.rollup_dirty d SET claimed = true \
             WHERE NOT d.claimed AND d.tenant_id = 7 AND d.tag_id = 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(read.join("\n").contains("Task Count: 1"), "{read:?}");
}

#[tokio::test]
async fn citus_is_refused_on_a_database_without_it() {
    if skip() {
        return;
    }
    // A database of the single-node cluster: no citus there.
    let mut settings = fresh_settings(BackendChoice::Plain).await;
    settings.store.backend = BackendChoice::Citus;
    let err = Store::open(&settings.database, &settings.store)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.backend = citus") && err.contains("no citus extension"),
        "{err}"
    );
    assert!(err.contains("citus_add_node"), "says what to do: {err}");
}
