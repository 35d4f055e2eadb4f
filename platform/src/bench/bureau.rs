//! `millwright bench bureau`: a month of daily sector indices for 3 sectors × 10 regions from
//! `tenants` tenants, read the way the bureau API reads them (aggregated cells of the stored
//! daily contributions, then disclosure control), beside the same figures computed from the
//! raw samples in the same run (every tenant's samples of the month scanned and turned into
//! contributions, then the same cells and disclosure control). Both paths must publish the
//! same figures, or the run fails.
//!
//! Each tenant has one machine with a state tag and a parts-per-slot tag sampled every 5
//! minutes; planned time is the whole UTC day. The contributions are written as the daily job
//! writes them (one row per tenant, index and day), from the same machine-days the samples
//! encode. Four indices are timed: utilisation, operating rate, output, downtime rate.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{Duration, NaiveDate, Utc};

use super::{progress, BenchDb};
use crate::bureau::index::{cells, contributions, Contribution, MachineDay, Metric, Period};
use crate::bureau::{publish, Figure, Place};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::store::entities::{EntityFields, Kind};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::TenantId;

const METRICS: [Metric; 4] = [
    Metric::Utilisation,
    Metric::OperatingRate,
    Metric::Output,
    Metric::DowntimeRate,
];
const SLOT_MINUTES: i64 = 5;

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct BureauFigures {
    /// From contributions (median of three runs), milliseconds.
    pub contributions_ms: f64,
    /// From raw samples (median of three runs), milliseconds.
    pub raw_ms: f64,
    /// Figures published per path.
    pub figures: usize,
    /// Of which withheld.
    pub suppressed: usize,
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

struct BenchTenant {
    id: TenantId,
    sector: &'static str,
    region: String,
    tags: [i64; 2],
}

fn publish_all(
    by_period: &BTreeMap<(Metric, NaiveDate), BTreeMap<Place, crate::bureau::index::CellStats>>,
    first: NaiveDate,
    rules: &crate::bureau::disclosure::Rules,
) -> Vec<Figure> {
    let mut out = Vec::new();
    for ((m, start), table) in by_period {
        let base = (*m == Metric::Output)
            .then(|| by_period.get(&(Metric::Output, first)))
            .flatten();
        out.extend(publish(*m, Period::Day, *start, table, base, rules, None));
    }
    out
}

/// Loads the data and times both paths.
pub async fn run(settings: Settings, tenants: usize, days: i64) -> Result<BureauFigures> {
    let db = BenchDb::create(settings, 0).await?;
    let rules = db.settings.bureau.rules();
    let first = Utc::now().date_naive() - Duration::days(days + 1);
    let last = first + Duration::days(days - 1);
    let sectors = ["appliance", "garment", "machinery"];
    let owner = db.store.owner_pool().get().await?;
    let mut g = Lcg(16);
    let mut all = Vec::new();
    progress(&format!(
        "creating {tenants} tenants over 3 sectors x 10 regions"
    ));
    for i in 0..tenants {
        let id = db
            .store
            .create_tenant(&crate::store::admin::NewTenant::named(
                format!("bureau-bench-{i:03}"),
                millwright_tenants::plan::Plan::Mes,
            ))
            .await?;
        let sector = sectors[(g.next() % 3) as usize];
        // Regions unevenly popular, so some cells have too few tenants.
        let region = format!("r{:02}", (g.next() % 10).min(g.next() % 10));
        owner
            .execute(
                "UPDATE public.tenants SET industry = $2, region = $3 WHERE id = $1",
                &[&id.0, &sector, &region],
            )
            .await
            .map_err(Error::db("placing a bench tenant"))?;
        owner
            .execute(
                "INSERT INTO public.bureau_sharing (tenant_id, category) \
                 SELECT $1, c FROM unnest(ARRAY['utilisation', 'output', 'downtime']) c",
                &[&id.0],
            )
            .await
            .map_err(Error::db("sharing"))?;
        let mut s = db.store.tenant(id).await?;
        let named = |name: &str| EntityFields {
            name: Some(name.into()),
            ..Default::default()
        };
        let site = s.create(Kind::Site, &named("site")).await?.id();
        let line = s
            .create(
                Kind::Line,
                &EntityFields {
                    parent_id: Some(site),
                    ..named("line")
                },
            )
            .await?
            .id();
        let machine = s
            .create(
                Kind::Machine,
                &EntityFields {
                    parent_id: Some(line),
                    ..named("m")
                },
            )
            .await?
            .id();
        let mut tags = [0i64; 2];
        for (k, name) in ["m.state", "m.parts"].into_iter().enumerate() {
            let fields = EntityFields {
                parent_id: Some(machine),
                ..named(name)
            };
            tags[k] = s.create(Kind::Tag, &fields).await?.id();
        }
        all.push(BenchTenant {
            id,
            sector,
            region,
            tags,
        });
    }

    let slots = 1440 / SLOT_MINUTES;
    progress(&format!(
        "loading {days} days of 5-minute samples ({} rows) and writing contributions",
        tenants as i64 * days * slots * 2
    ));
    let started = Instant::now();
    for (i, t) in all.iter().enumerate() {
        let mut rng = Lcg(i as u64 + 1);
        let size = 1 + rng.next() % 8; // parts per running slot
        let mut rows = Vec::with_capacity((days * slots * 2) as usize);
        let (mut d_list, mut m_list, mut n_list, mut v_list) = (vec![], vec![], vec![], vec![]);
        for d in 0..days {
            let day = first + Duration::days(d);
            // A few idle days; otherwise runs a random share of the day.
            let run_slots = if rng.next().is_multiple_of(15) {
                0
            } else {
                slots / 3 + (rng.next() % (slots as u64 / 2)) as i64
            };
            let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            for k in 0..slots {
                let running = k < run_slots;
                let time = start + Duration::minutes(k * SLOT_MINUTES);
                for (tag, value) in t.tags.iter().zip([
                    f64::from(running as u8),
                    if running { size as f64 } else { 0.0 },
                ]) {
                    rows.push(SampleRow {
                        tag_id: *tag,
                        time,
                        value: Some(value),
                        quality: Quality::Good,
                    });
                }
            }
            let md = MachineDay {
                planned_secs: 86_400.0,
                run_secs: (run_slots * SLOT_MINUTES * 60) as f64,
                downtime_secs: ((slots - run_slots) * SLOT_MINUTES * 60) as f64,
                produced: run_slots * size as i64,
                ..Default::default()
            };
            for (m, r) in contributions(&[md]) {
                if METRICS.contains(&m) {
                    d_list.push(day);
                    m_list.push(m.as_str());
                    n_list.push(r.num);
                    v_list.push(r.den);
                }
            }
        }
        let mut s = db.store.tenant(t.id).await?;
        for chunk in rows.chunks(60_000) {
            s.ingest(chunk).await?;
        }
        let tx = s.begin().await?;
        tx.execute(
            "INSERT INTO public.bureau_contributions (tenant_id, day, metric, num, den) \
             SELECT $1, d, m, n, v FROM unnest($2::date[], $3::text[], $4::float8[], $5::float8[]) \
                 AS x (d, m, n, v)",
            &[&t.id.0, &d_list, &m_list, &n_list, &v_list],
        )
        .await
        .map_err(Error::db("writing contributions"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
    }
    progress(&format!(
        "loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    // Path 1: the bureau's read of stored contributions.
    let mut runs = Vec::new();
    let mut fast = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let cells = db
            .store
            .bureau_cells(&METRICS, first, last, Period::Day, None)
            .await?;
        fast = publish_all(&cells, first, &rules);
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let contributions_ms = runs[1];

    // Path 2: every tenant's raw samples of the month, turned into the same contributions.
    let (from, to) = (
        first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        (last + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    let mut runs = Vec::new();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut contribs = Vec::new();
        for bt in &all {
            let mut s = db.store.tenant(bt.id).await?;
            let tx = s.begin().await?;
            let rows = tx
                .query(
                    "SELECT (time AT TIME ZONE 'UTC')::date, \
                            count(*) FILTER (WHERE tag_id = $1 AND value = 1), \
                            coalesce(sum(value) FILTER (WHERE tag_id = $2), 0)::float8 \
                     FROM public.tenant_samples \
                     WHERE tag_id = ANY($3) AND time >= $4 AND time < $5 \
                     GROUP BY 1 ORDER BY 1",
                    &[&bt.tags[0], &bt.tags[1], &bt.tags.to_vec(), &from, &to],
                )
                .await
                .map_err(Error::db("reading raw samples"))?;
            drop(tx);
            for r in rows {
                let (day, run, parts): (NaiveDate, i64, f64) = (r.get(0), r.get(1), r.get(2));
                let md = MachineDay {
                    planned_secs: 86_400.0,
                    run_secs: (run * SLOT_MINUTES * 60) as f64,
                    downtime_secs: ((slots - run) * SLOT_MINUTES * 60) as f64,
                    produced: parts as i64,
                    ..Default::default()
                };
                for (m, ratio) in contributions(&[md]) {
                    if METRICS.contains(&m) {
                        contribs.push(Contribution {
                            tenant: bt.id.0,
                            sector: bt.sector.into(),
                            region: bt.region.clone(),
                            day,
                            metric: m,
                            ratio,
                        });
                    }
                }
            }
        }
        let mut by_period: HashMap<(Metric, NaiveDate), BTreeMap<Place, _>> = HashMap::new();
        for (k, v) in cells(&contribs, Period::Day) {
            by_period
                .entry((k.metric, k.period))
                .or_default()
                .insert((k.sector, k.region), v);
        }
        slow = publish_all(&by_period.into_iter().collect(), first, &rules);
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let raw_ms = runs[1];

    // Both paths must publish the same figures (values to the published 4 decimals).
    let key = |f: &Figure| {
        (
            f.index,
            f.period_start,
            f.sector.clone(),
            f.region.clone(),
            f.value.map(|v| (v * 1e4).round() as i64),
            f.suppressed.map(|r| r.as_str()),
        )
    };
    let mut a: Vec<_> = fast.iter().map(key).collect();
    let mut b: Vec<_> = slow.iter().map(key).collect();
    a.sort();
    b.sort();
    if a != b {
        let diff = a.iter().zip(&b).find(|(x, y)| x != y);
        return Err(Error::Bench(format!(
            "the two paths disagree: {} vs {} figures, first difference {diff:?}",
            a.len(),
            b.len()
        )));
    }
    let suppressed = fast.iter().filter(|f| f.suppressed.is_some()).count();
    let complementary = fast
        .iter()
        .filter(|f| f.suppressed == Some(crate::bureau::disclosure::Reason::Complementary))
        .count();
    println!(
        "bureau_tenants={tenants} bureau_days={days} bureau_indices={} bureau_figures={} \
         bureau_suppressed={suppressed} bureau_complementary={complementary} \
         contributions_ms={contributions_ms:.1} raw_ms={raw_ms:.1} \
         ratio_raw_vs_contributions={:.1}",
        METRICS.len(),
        fast.len(),
        raw_ms / contributions_ms.max(1e-9)
    );
    Ok(BureauFigures {
        contributions_ms,
        raw_ms,
        figures: fast.len(),
        suppressed,
    })
}
