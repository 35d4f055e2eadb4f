//! `millwright bench query`: one day of 1 Hz data for 100 tags, then the same one-minute
//! bucketed query over the day, answered from the rollups and from raw samples.

use std::time::Instant;

use chrono::{Duration, DurationRound, Utc};

use super::{progress, BenchDb};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::query::{Agg, BucketWidth};

/// Figures of one run (milliseconds, median of several runs).
#[derive(Debug, Clone)]
pub struct QueryFigures {
    /// From the rollups.
    pub rollup_ms: f64,
    /// From raw samples.
    pub raw_ms: f64,
}

/// Loads the day, refreshes the rollups and times both queries.
pub async fn run(settings: Settings, tags: usize, hours: i64) -> Result<QueryFigures> {
    let db = BenchDb::create(settings, tags).await?;
    let end = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("valid rounding")
        - Duration::minutes(1);
    let start = end - Duration::hours(hours);
    let seconds = (end - start).num_seconds();
    progress(&format!(
        "loading {hours} h of 1 Hz data for {tags} tags ({} rows)",
        seconds * tags as i64
    ));
    let started = Instant::now();
    let mut batch = Vec::with_capacity(60_000);
    let chunk = 600; // seconds per batch
    for offset in (0..seconds).step_by(chunk) {
        batch.clear();
        for s in offset..(offset + chunk as i64).min(seconds) {
            let time = start + Duration::seconds(s);
            for (i, &tag_id) in db.tag_ids.iter().enumerate() {
                let value = 50.0 + (s as f64 / 600.0 + i as f64).sin() * 20.0 + (s % 7) as f64;
                batch.push(SampleRow {
                    tag_id,
                    time,
                    value: Some(value),
                    quality: Quality::Good,
                });
            }
        }
        let mut session = db.store.tenant(db.tenant).await?;
        session.ingest(&batch).await?;
        if offset % 7200 == 0 {
            progress(&format!(
                "loaded {:.0} %",
                100.0 * offset as f64 / seconds as f64
            ));
        }
    }
    progress(&format!(
        "loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    let report = db.store.maintain().await?;
    progress(&format!(
        "rollups refreshed in {:.1} s ({report:?})",
        started.elapsed().as_secs_f64()
    ));

    let width = BucketWidth::parse("1m").expect("valid width");
    let tag = db.tag_ids[tags / 2];
    // Median of nine runs; also returns the answer so the two paths can be compared.
    let time = |force_raw: bool| {
        let store = db.store.clone();
        let tenant = db.tenant;
        async move {
            let mut runs = Vec::new();
            let mut answer = Vec::new();
            for _ in 0..9 {
                let mut session = store.tenant(tenant).await?;
                let t = Instant::now();
                let (_, points) = session
                    .bucketed(tag, start, end, width, Agg::Avg, force_raw)
                    .await?;
                runs.push(t.elapsed().as_secs_f64() * 1000.0);
                answer = points;
            }
            runs.sort_by(f64::total_cmp);
            Ok::<_, Error>((runs[runs.len() / 2], answer))
        }
    };
    let (rollup_ms, from_rollup) = time(false).await?;
    let (raw_ms, from_raw) = time(true).await?;
    let agree = from_rollup.len() as i64 == hours * 60
        && from_rollup.iter().zip(&from_raw).all(|(a, b)| {
            a.time == b.time
                && (a.value.unwrap_or(f64::NAN) - b.value.unwrap_or(f64::NAN)).abs() < 1e-9
        });
    if !agree || from_rollup.len() != from_raw.len() {
        return Err(Error::Bench(format!(
            "rollup and raw answers differ ({} and {} points)",
            from_rollup.len(),
            from_raw.len()
        )));
    }
    println!("query_ms_rollup={rollup_ms:.1} query_ms_raw={raw_ms:.1}");
    Ok(QueryFigures { rollup_ms, raw_ms })
}
