//! The store against a real PostgreSQL, on every storage layout: migrations, ingest and query
//! round trips, bucketed queries against a reference computed here, idempotent re-ingest.

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_platform::config::BackendChoice;
use millwright_platform::store::fill::Fill;
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::query::{Agg, BucketWidth, Source};
use millwright_platform::store::{Backend, Store};
use millwright_platform::test_util::{
    bare_database_settings, fresh_store, tenant_with_tags, timescale_available,
};

#[macro_use]
mod common;

on_every_backend!(
    migrations_create_the_layout_on_an_empty_database,
    ingest_then_raw_query_round_trips,
    re_ingest_is_idempotent,
    bucketed_queries_match_a_reference,
    latest_values_of_many_tags,
    another_tenants_tag_ids_are_ignored_on_ingest,
    each_tenant_keeps_what_its_plan_keeps,
    bucketed_queries_fill_empty_buckets,
    a_rollup_read_refreshes_only_the_readers_tag,
);

fn minute_start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::hours(3)
}

async fn migrations_create_the_layout_on_an_empty_database(backend: BackendChoice) {
    let (store, settings) = fresh_store(backend).await;
    let expected = match backend {
        BackendChoice::Timescale => Backend::Timescale,
        BackendChoice::Citus => Backend::Citus,
        _ => Backend::Plain,
    };
    assert_eq!(store.backend(), expected);
    let client = store.owner_pool().get().await.unwrap();
    for relation in [
        "tenants",
        "api_keys",
        "sites",
        "lines",
        "machines",
        "tags",
        "samples",
        "rollup_1m",
        "rollup_1h",
        "tenant_samples",
    ] {
        let row = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
            .await
            .unwrap();
        assert!(row.get::<_, bool>(0), "{relation} missing");
    }
    drop(client);
    // Opening again is a no-op, and a layout cannot be switched under existing data.
    let again = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    assert_eq!(again.backend(), expected);
    let mut other = settings.store.clone();
    other.backend = if expected == Backend::Plain {
        BackendChoice::Timescale
    } else {
        BackendChoice::Plain
    };
    let err = Store::open(&settings.database, &other)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot switch"), "{err}");
}

async fn ingest_then_raw_query_round_trips(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "acme", &["temp"]).await;
    let start = minute_start();
    let rows: Vec<SampleRow> = (0..500)
        .map(|i| SampleRow {
            tag_id: t.tag_ids[0],
            time: start + Duration::milliseconds(i * 250),
            value: if i % 50 == 7 {
                None
            } else {
                Some(i as f64 * 0.5)
            },
            quality: match i % 50 {
                7 => Quality::Bad,
                9 => Quality::Uncertain,
                _ => Quality::Good,
            },
        })
        .collect();
    let mut s = store.tenant(t.id).await.unwrap();
    let outcome = s.ingest(&rows).await.unwrap();
    assert_eq!((outcome.inserted, outcome.skipped), (500, 0));
    let back = s
        .raw_samples(t.tag_ids[0], start, start + Duration::hours(1), 100_000)
        .await
        .unwrap();
    assert_eq!(back.len(), rows.len());
    for (sent, got) in rows.iter().zip(&back) {
        assert_eq!(
            (sent.time, sent.value, sent.quality),
            (got.time, got.value, got.quality)
        );
    }
    let limited = s
        .raw_samples(t.tag_ids[0], start, start + Duration::hours(1), 10)
        .await
        .unwrap();
    assert_eq!(limited.len(), 10);
}

async fn re_ingest_is_idempotent(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "acme", &["a", "b"]).await;
    let start = minute_start();
    let rows: Vec<SampleRow> = (0..1000)
        .map(|i| SampleRow {
            tag_id: t.tag_ids[i % 2],
            time: start + Duration::seconds(i as i64 / 2),
            value: Some(i as f64),
            quality: Quality::Good,
        })
        .collect();
    let mut s = store.tenant(t.id).await.unwrap();
    assert_eq!(s.ingest(&rows).await.unwrap().inserted, 1000);
    let again = s.ingest(&rows).await.unwrap();
    assert_eq!((again.inserted, again.skipped), (0, 1000));
    // A batch that overlaps half old, half new, and repeats a row inside itself.
    let mut overlap: Vec<SampleRow> = rows[500..].to_vec();
    overlap.extend((0..10).map(|i| SampleRow {
        time: start + Duration::seconds(600 + i),
        ..rows[0]
    }));
    overlap.push(overlap[overlap.len() - 1]);
    let o = s.ingest(&overlap).await.unwrap();
    assert_eq!((o.inserted, o.skipped), (10, 501));
    let n = s
        .raw_samples(t.tag_ids[0], start, start + Duration::hours(1), 100_000)
        .await
        .unwrap()
        .len();
    assert_eq!(n, 510);
}

/// Reference aggregate over raw values, computed here rather than in SQL.
fn reference(
    values: &[(DateTime<Utc>, f64)],
    width: BucketWidth,
    agg: Agg,
) -> Vec<(DateTime<Utc>, f64)> {
    let mut buckets: std::collections::BTreeMap<DateTime<Utc>, Vec<(DateTime<Utc>, f64)>> =
        Default::default();
    for &(t, v) in values {
        buckets.entry(width.floor(t)).or_default().push((t, v));
    }
    buckets
        .into_iter()
        .map(|(b, vs)| {
            let x = match agg {
                Agg::Avg => vs.iter().map(|v| v.1).sum::<f64>() / vs.len() as f64,
                Agg::Min => vs.iter().map(|v| v.1).fold(f64::INFINITY, f64::min),
                Agg::Max => vs.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max),
                Agg::Count => vs.len() as f64,
                Agg::Last => vs.iter().max_by_key(|v| v.0).unwrap().1,
            };
            (b, x)
        })
        .collect()
}

async fn bucketed_queries_match_a_reference(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "acme", &["vib"]).await;
    let tag = t.tag_ids[0];
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(5);
    // Irregular times over five hours, deterministic values.
    let mut values = Vec::new();
    let mut time = start + Duration::seconds(7);
    let mut i = 0u64;
    while time < start + Duration::hours(5) {
        values.push((time, ((i * 7919) % 1000) as f64 / 10.0 - 30.0));
        time += Duration::milliseconds(1500 + ((i * 31) % 4000) as i64);
        i += 1;
    }
    let rows: Vec<SampleRow> = values
        .iter()
        .map(|&(time, v)| SampleRow {
            tag_id: tag,
            time,
            value: Some(v),
            quality: Quality::Good,
        })
        .collect();
    let mut s = store.tenant(t.id).await.unwrap();
    for chunk in rows.chunks(997) {
        s.ingest(chunk).await.unwrap();
    }
    store.maintain().await.unwrap();
    if store.backend() == Backend::Timescale {
        let client = store.owner_pool().get().await.unwrap();
        for cagg in ["rollup_1m", "rollup_1h"] {
            client
                .batch_execute(&format!(
                    "CALL refresh_continuous_aggregate('{cagg}', NULL, NULL)"
                ))
                .await
                .unwrap();
        }
    }
    // Late data for an already rolled-up minute must show up too.
    let late = SampleRow {
        tag_id: tag,
        time: start + Duration::seconds(61) + Duration::milliseconds(1),
        value: Some(1000.0),
        quality: Quality::Good,
    };
    s.ingest(&[late]).await.unwrap();
    values.push((late.time, 1000.0));
    if store.backend() == Backend::Timescale {
        // TimescaleDB's real-time aggregation does not cover late data in a materialised
        // bucket; the platform's maintenance round (every few seconds) refreshes it. The plain
        // layout refreshes before every read, so there it must show at once.
        store.maintain().await.unwrap();
    }

    let (from, to) = (
        start + Duration::minutes(3),
        start + Duration::hours(4) + Duration::seconds(30),
    );
    for (width, source) in [
        ("1m", Source::Rollup1m),
        ("15m", Source::Rollup1m),
        ("1h", Source::Rollup1h),
        ("45s", Source::Raw),
    ] {
        let width_p = BucketWidth::parse(width).unwrap();
        let (lo, hi) = (width_p.floor(from), width_p.ceil(to));
        let in_range: Vec<_> = values
            .iter()
            .copied()
            .filter(|(t, _)| *t >= lo && *t < hi)
            .collect();
        for agg in [Agg::Avg, Agg::Min, Agg::Max, Agg::Last, Agg::Count] {
            let expected = reference(&in_range, width_p, agg);
            for force_raw in [false, true] {
                let (used, points) = s
                    .bucketed(tag, from, to, width_p, agg, force_raw)
                    .await
                    .unwrap();
                assert_eq!(used, if force_raw { Source::Raw } else { source });
                assert_eq!(
                    points.len(),
                    expected.len(),
                    "{width} {agg:?} raw={force_raw}"
                );
                for (p, (b, x)) in points.iter().zip(&expected) {
                    assert_eq!(p.time, *b);
                    let v = p.value.unwrap();
                    assert!(
                        (v - x).abs() < 1e-9 * x.abs().max(1.0),
                        "{width} {agg:?} at {b}: {v} vs {x}"
                    );
                }
            }
        }
    }
}

async fn latest_values_of_many_tags(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "acme", &["a", "b", "c"]).await;
    let start = minute_start();
    let mut s = store.tenant(t.id).await.unwrap();
    let rows: Vec<SampleRow> = (0..30)
        .map(|i| SampleRow {
            tag_id: t.tag_ids[i % 2],
            time: start + Duration::seconds(i as i64),
            value: Some(i as f64),
            quality: Quality::Good,
        })
        .collect();
    s.ingest(&rows).await.unwrap();
    let latest = s
        .latest(&[t.tag_ids[1], t.tag_ids[0], t.tag_ids[2]])
        .await
        .unwrap();
    assert_eq!(latest[0].0, t.tag_ids[1]);
    assert_eq!(latest[0].1.unwrap().value, Some(29.0));
    assert_eq!(latest[1].1.unwrap().value, Some(28.0));
    assert_eq!(latest[2], (t.tag_ids[2], None));
}

async fn another_tenants_tag_ids_are_ignored_on_ingest(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let a = tenant_with_tags(&store, "a", &["x"]).await;
    let b = tenant_with_tags(&store, "b", &["x"]).await;
    let mut s = store.tenant(a.id).await.unwrap();
    let row = SampleRow {
        tag_id: b.tag_ids[0],
        time: minute_start(),
        value: Some(1.0),
        quality: Quality::Good,
    };
    let o = s.ingest(&[row]).await.unwrap();
    assert_eq!((o.inserted, o.skipped), (0, 1));
    let mut sb = store.tenant(b.id).await.unwrap();
    assert!(sb
        .raw_samples(
            b.tag_ids[0],
            minute_start() - Duration::hours(1),
            Utc::now(),
            10
        )
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn timescale_presence_is_reported() {
    // Not an assertion on the machine: records in the test output which layouts ran.
    eprintln!(
        "TimescaleDB installed here: {}",
        timescale_available().await
    );
}

async fn each_tenant_keeps_what_its_plan_keeps(backend: BackendChoice) {
    use millwright_platform::store::tenancy::ProfileChange;
    use millwright_tenants::plan::Plan;
    let (store, _) = fresh_store(backend).await;
    let small = tenant_with_tags(&store, "monitor", &["t"]).await;
    let big = tenant_with_tags(&store, "pro", &["t"]).await;
    let monitor = ProfileChange {
        plan: Some(Plan::Monitor),
        ..Default::default()
    };
    store
        .tenant(small.id)
        .await
        .unwrap()
        .update_profile(&monitor)
        .await
        .unwrap();
    let now = Utc::now();
    // Monitor keeps 90 days, Pro 730: samples 100 days old go for one and stay for the other.
    let ages = [Duration::days(100), Duration::days(10)];
    for t in [&small, &big] {
        let rows: Vec<SampleRow> = ages
            .iter()
            .map(|age| SampleRow {
                tag_id: t.tag_ids[0],
                time: now - *age,
                value: Some(1.0),
                quality: Quality::Good,
            })
            .collect();
        let mut s = store.tenant(t.id).await.unwrap();
        assert_eq!(s.ingest(&rows).await.unwrap().inserted, 2);
    }
    let report = store.maintain().await.unwrap();
    // One sample, and on the plain layout its 1-minute and 1-hour rollup rows too.
    assert!(report.trimmed_to_plan >= 1, "{report:?}");
    for (t, kept) in [(&small, 1), (&big, 2)] {
        let mut s = store.tenant(t.id).await.unwrap();
        let rows = s
            .raw_samples(t.tag_ids[0], now - Duration::days(400), now, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), kept, "tenant {}", t.id);
    }
}

/// `fill` completes bucketed answers on every layout and source (1-minute and 1-hour rollups,
/// raw samples): hour 0 and hour 2 hold data, hours 1 and 3 none. Each minute's samples all
/// carry the minute's index, so every bucket's mean is known exactly.
async fn bucketed_queries_fill_empty_buckets(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "acme", &["vib"]).await;
    let tag = t.tag_ids[0];
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(5);
    let rows: Vec<SampleRow> = (0..60)
        .chain(120..180)
        .flat_map(|minute: i64| {
            (0..6).map(move |k| SampleRow {
                tag_id: tag,
                time: start + Duration::minutes(minute) + Duration::seconds(10 * k),
                value: Some(minute as f64),
                quality: Quality::Good,
            })
        })
        .collect();
    let mut s = store.tenant(t.id).await.unwrap();
    s.ingest(&rows).await.unwrap();
    store.maintain().await.unwrap();
    if store.backend() == Backend::Timescale {
        let client = store.owner_pool().get().await.unwrap();
        for cagg in ["rollup_1m", "rollup_1h"] {
            client
                .batch_execute(&format!(
                    "CALL refresh_continuous_aggregate('{cagg}', NULL, NULL)"
                ))
                .await
                .unwrap();
        }
    }
    let (from, to) = (start, start + Duration::hours(4));
    let values = |points: &[millwright_platform::store::query::BucketPoint]| -> Vec<Option<f64>> {
        points.iter().map(|p| p.value).collect()
    };

    // One-hour buckets, from the hourly rollup and from raw samples alike.
    let hour = BucketWidth::parse("1h").unwrap();
    for force_raw in [false, true] {
        let none = filled(&mut s, tag, (from, to), hour, force_raw, Fill::None).await;
        assert_eq!(
            none.iter().map(|p| p.time).collect::<Vec<_>>(),
            [start, start + Duration::hours(2)],
            "raw={force_raw}"
        );
        let null = filled(&mut s, tag, (from, to), hour, force_raw, Fill::Null).await;
        assert_eq!(
            null.iter().map(|p| p.time).collect::<Vec<_>>(),
            (0..4)
                .map(|h| start + Duration::hours(h))
                .collect::<Vec<_>>()
        );
        assert_eq!(values(&null), [Some(29.5), None, Some(149.5), None]);
        assert_eq!(
            values(&filled(&mut s, tag, (from, to), hour, force_raw, Fill::Previous).await),
            [Some(29.5), Some(29.5), Some(149.5), Some(149.5)]
        );
        assert_eq!(
            values(&filled(&mut s, tag, (from, to), hour, force_raw, Fill::Linear).await),
            [Some(29.5), Some(89.5), Some(149.5), None]
        );
    }

    // One-minute buckets (rollup_1m): the missing hour interpolates back to its own minutes,
    // since every minute's mean is its index; nothing is invented past the last value.
    let minute = BucketWidth::parse("1m").unwrap();
    let (source, linear) = s
        .bucketed_filled(tag, from, to, minute, Agg::Avg, false, Fill::Linear)
        .await
        .unwrap();
    assert_eq!(source, Source::Rollup1m);
    assert_eq!(linear.len(), 240);
    for (i, p) in linear.iter().enumerate() {
        let expected = (i < 180).then_some(i as f64);
        match (p.value, expected) {
            (Some(v), Some(x)) => assert!((v - x).abs() < 1e-9, "minute {i}: {v} vs {x}"),
            (v, x) => assert_eq!(v, x, "minute {i}"),
        }
    }
    let (_, previous) = s
        .bucketed_filled(tag, from, to, minute, Agg::Max, false, Fill::Previous)
        .await
        .unwrap();
    assert_eq!(previous[100].value, Some(59.0));
    assert_eq!(previous[239].value, Some(179.0));

    // Sub-minute buckets come from raw samples; count answers fill the same way.
    let half = BucketWidth::parse("30s").unwrap();
    let (source, null) = s
        .bucketed_filled(tag, from, to, half, Agg::Count, false, Fill::Null)
        .await
        .unwrap();
    assert_eq!(source, Source::Raw);
    assert_eq!(null.len(), 480);
    assert_eq!(null.iter().filter(|p| p.value.is_some()).count(), 240);
    assert!(null.iter().all(|p| p.value.is_none_or(|v| v == 3.0)));
}

async fn filled(
    s: &mut millwright_platform::store::TenantSession,
    tag: i64,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    width: BucketWidth,
    force_raw: bool,
    fill: Fill,
) -> Vec<millwright_platform::store::query::BucketPoint> {
    s.bucketed_filled(tag, from, to, width, Agg::Avg, force_raw, fill)
        .await
        .unwrap()
        .1
}

/// A new user's path (issue #17): a TimescaleDB server, a bare database, `store.backend = auto`.
/// The platform creates the extension itself and takes the TimescaleDB layout; on a server
/// without TimescaleDB, auto takes the plain layout and `timescale` refuses with what is missing.
#[tokio::test]
async fn auto_creates_timescaledb_when_the_server_offers_and_preloads_it() {
    let settings = bare_database_settings(BackendChoice::Auto).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    if timescale_available().await {
        println!("layout: timescale (created by store.backend = auto on a bare database)");
        assert_eq!(store.backend(), Backend::Timescale);
        let client = store.owner_pool().get().await.unwrap();
        let created: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(created);
    } else {
        println!("layout: plain (this server has no TimescaleDB)");
        assert_eq!(store.backend(), Backend::Plain);
        let settings = bare_database_settings(BackendChoice::Timescale).await;
        let err = Store::open(&settings.database, &settings.store)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not offer"), "{err}");
    }
}

/// Issue #17: a bucketed read brings the rollups of its own tag up to date, never another
/// tenant's pending ingest (which maintenance refreshes); on TimescaleDB reads need no refresh.
async fn a_rollup_read_refreshes_only_the_readers_tag(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    println!("layout: {:?}", store.backend());
    let a = tenant_with_tags(&store, "reader", &["temp", "other"]).await;
    let b = tenant_with_tags(&store, "neighbour", &["temp"]).await;
    let start = minute_start();
    let rows = |tag: i64| -> Vec<SampleRow> {
        (0..120)
            .map(|i| SampleRow {
                tag_id: tag,
                time: start + Duration::seconds(i),
                value: Some(i as f64),
                quality: Quality::Good,
            })
            .collect()
    };
    let mut sa = store.tenant(a.id).await.unwrap();
    sa.ingest(&rows(a.tag_ids[0])).await.unwrap();
    sa.ingest(&rows(a.tag_ids[1])).await.unwrap();
    let mut sb = store.tenant(b.id).await.unwrap();
    sb.ingest(&rows(b.tag_ids[0])).await.unwrap();
    let minute = BucketWidth::parse("1m").unwrap();
    let (source, points) = sa
        .bucketed(
            a.tag_ids[0],
            start,
            start + Duration::minutes(2),
            minute,
            Agg::Count,
            false,
        )
        .await
        .unwrap();
    assert_eq!(source, Source::Rollup1m);
    let counts: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    assert_eq!(
        counts,
        vec![60.0, 60.0],
        "the read is exact right after ingest"
    );
    if store.backend() == Backend::Plain {
        let client = store.owner_pool().get().await.unwrap();
        let pending: Vec<(i64, i64)> = client
            .query(
                "SELECT tag_id, count(*) FROM rollup_dirty GROUP BY tag_id ORDER BY tag_id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut expected = vec![(a.tag_ids[1], 1), (b.tag_ids[0], 1)];
        expected.sort();
        assert_eq!(
            pending, expected,
            "only the read tag's rollups were refreshed"
        );
        // Maintenance refreshes the rest.
        drop(client);
        store.maintain().await.unwrap();
        let client = store.owner_pool().get().await.unwrap();
        let left: i64 = client
            .query_one("SELECT count(*) FROM rollup_dirty", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
    }
}
