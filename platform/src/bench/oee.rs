//! `millwright bench oee`: `days` days of per-shift OEE for `machines` machines (three shifts
//! a day in Asia/Shanghai), computed from the stored state intervals and per-minute counts
//! (what `GET /oee` does), beside the same figures computed from the raw samples in the same
//! run (read them all, derive states and counts, then OEE). Samples are one a minute per tag
//! (state, part counter, scrap counter), so the raw path reads `3 × 1440 × days` rows per
//! machine.

use std::time::Instant;

use chrono::{Duration, DurationRound, Utc};

use super::{progress, BenchDb};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::mes::calendar::{BreakDef, Calendar, ShiftDef};
use crate::mes::oee::{production_from_counts, Oee};
use crate::mes::state::{timeline, Role, SignalSample, StateRule, TrackOutput, Tracker};
use crate::store::entities::{EntityFields, Kind};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::mes::oee::OeeGroup;
use crate::store::mes::plan::SiteCalendar;

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct OeeFigures {
    /// From intervals and per-minute counts (median of three runs), milliseconds.
    pub oee_ms: f64,
    /// From raw samples (median of three runs), milliseconds.
    pub raw_ms: f64,
    /// Shift rows computed per path.
    pub rows: usize,
}

fn shifts() -> Vec<ShiftDef> {
    let hm = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).expect("valid time");
    [
        ("early", 6, 14, 10),
        ("late", 14, 22, 18),
        ("night", 22, 6, 2),
    ]
    .into_iter()
    .map(|(name, s, e, b)| ShiftDef {
        name: name.into(),
        start: hm(s),
        end: hm(e),
        weekdays: (1..=7).collect(),
        breaks: vec![BreakDef {
            start: hm(b),
            minutes: 30,
        }],
    })
    .collect()
}

/// A cheap deterministic generator (no dependence on `rand`'s stream across versions).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Loads the data, builds the states, and times both paths.
pub async fn run(settings: Settings, machines: usize, days: i64) -> Result<OeeFigures> {
    let db = BenchDb::create(settings, 0).await?;
    let mut session = db.store.tenant(db.tenant).await?;
    let named = |name: String| EntityFields {
        name: Some(name),
        ..Default::default()
    };
    let site = session
        .create(Kind::Site, &named("bench-site".into()))
        .await?
        .id();
    let line = session
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(site),
                ..named("bench-line".into())
            },
        )
        .await?
        .id();
    let cal = session
        .site_calendar(site)
        .await?
        .ok_or_else(|| Error::Bench("the site vanished".into()))?;
    session
        .put_site_calendar(&SiteCalendar {
            time_zone: "Asia/Shanghai".into(),
            shifts: shifts(),
            days_off: Vec::new(),
            ..cal
        })
        .await?;
    // Two parts a minute when running, at an ideal 25 s a part: performance 0.83.
    let rule = StateRule {
        stale_secs: 180,
        ideal_cycle_secs: Some(25.0),
        ..StateRule::default_for_class("bench")
    };
    let from = Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("valid rounding")
        - Duration::days(days);
    let to = from + Duration::days(days);
    session
        .put_state_rule(Some("bench"), None, &rule, from)
        .await?;
    let mut ids = Vec::new();
    let mut tags = Vec::new();
    for i in 0..machines {
        let m = session
            .create(
                Kind::Machine,
                &EntityFields {
                    parent_id: Some(line),
                    kind: Some("bench".into()),
                    ..named(format!("m{i:03}"))
                },
            )
            .await?
            .id();
        let mut t = Vec::new();
        for short in ["state", "part_counter", "scrap_parts"] {
            let fields = EntityFields {
                parent_id: Some(m),
                ..named(format!("m{i:03}.{short}"))
            };
            t.push(session.create(Kind::Tag, &fields).await?.id());
        }
        ids.push(m);
        tags.push(t);
    }
    let minutes = days * 1440;
    progress(&format!(
        "loading {days} days of one-a-minute samples for {machines} machines ({} rows)",
        minutes * 3 * machines as i64
    ));
    let started = Instant::now();
    for (i, t) in tags.iter().enumerate() {
        let mut rng = Lcg(i as u64 + 1);
        let (mut state, mut left, mut parts, mut scrap) = (1.0, 60i64, 0.0, 0.0);
        let mut batch = Vec::with_capacity(minutes as usize * 3);
        for k in 0..minutes {
            if left <= 0 {
                let u = rng.next();
                (state, left) = if u < 0.80 {
                    (1.0, 30 + (rng.next() * 120.0) as i64)
                } else if u < 0.90 {
                    (0.0, 1 + (rng.next() * 10.0) as i64)
                } else if u < 0.97 {
                    (3.0, 10 + (rng.next() * 50.0) as i64)
                } else {
                    (2.0, 20 + (rng.next() * 40.0) as i64)
                };
            }
            left -= 1;
            if state == 1.0 {
                parts += 2.0;
                if rng.next() < 0.03 {
                    scrap += 1.0;
                }
            }
            if k == minutes / 2 {
                parts = 0.0; // a counter reset half-way
            }
            let time = from + Duration::minutes(k);
            for (tag_id, value) in t.iter().zip([state, parts, scrap]) {
                batch.push(SampleRow {
                    tag_id: *tag_id,
                    time,
                    value: Some(value),
                    quality: Quality::Good,
                });
            }
        }
        for chunk in batch.chunks(60_000) {
            session.ingest(chunk).await?;
        }
    }
    progress(&format!(
        "loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    loop {
        let r = db.store.build_mes_states().await?;
        if !r.behind {
            break;
        }
    }
    progress(&format!(
        "states built in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    // Path 1: intervals and per-minute counts, as GET /oee?group=shift.
    let mut runs = Vec::new();
    let mut fast = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        fast.clear();
        // Every machine's report in one go: one query per kind of input for all of them.
        let reports = session
            .oee_per_machine(&ids, from, to, OeeGroup::Shift)
            .await?;
        if reports.len() != ids.len() {
            return Err(Error::Bench("a machine vanished".into()));
        }
        for report in reports {
            fast.extend(report.rows.into_iter().map(|r| r.oee));
        }
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let oee_ms = runs[1];

    // Path 2: raw samples, states and counts derived afresh, same OEE.
    let calendar = Calendar::new("Asia/Shanghai", shifts(), Vec::new())
        .map_err(|e| Error::Bench(e.to_string()))?;
    let mut runs = Vec::new();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        slow.clear();
        for tag_ids in &tags {
            let rows = {
                let tx = session.begin().await?;
                tx.query(
                    "SELECT tag_id, time, value FROM public.tenant_samples \
                     WHERE tag_id = ANY($1) AND time >= $2 AND time < $3 AND value IS NOT NULL \
                     ORDER BY time",
                    &[tag_ids, &from, &to],
                )
                .await
                .map_err(Error::db("reading raw samples"))?
            };
            let samples: Vec<SignalSample> = rows
                .iter()
                .map(|r| {
                    let tag: i64 = r.get(0);
                    let role = match tag_ids.iter().position(|t| *t == tag) {
                        Some(0) => Role::State,
                        Some(1) => Role::Parts,
                        _ => Role::Rejects,
                    };
                    SignalSample {
                        time: r.get(1),
                        role,
                        value: r.get(2),
                    }
                })
                .collect();
            let mut tracker = Tracker::default();
            let mut out = TrackOutput::default();
            tracker.feed(&rule, &samples, &mut out);
            tracker.advance_to(&rule, to, &mut out);
            let mut intervals = out.closed;
            intervals.extend(tracker.open_interval());
            let tl = timeline(&intervals, from, to);
            let ideal = rule.ideal_cycle_secs.unwrap_or(60.0);
            let prod = production_from_counts(&out.counts, |_| ideal);
            for i in calendar.instances(from, to) {
                let planned: Vec<_> = i
                    .planned()
                    .iter()
                    .filter_map(|s| s.intersect(&crate::mes::Span::new(from, to)))
                    .collect();
                let dt = crate::mes::downtime::downtime(
                    &tl,
                    &planned,
                    f64::from(rule.minor_stop_secs),
                    &[],
                );
                slow.push(Oee::compute(&planned, &dt, &prod));
            }
        }
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let raw_ms = runs[1];

    // Both paths must agree, or the figures mean nothing.
    let sum = |v: &[Oee]| {
        let mut total = Oee::default();
        for o in v {
            total.add(o);
        }
        total
    };
    let (a, b) = (sum(&fast), sum(&slow));
    if fast.len() != slow.len()
        || a.produced != b.produced
        || a.rejected != b.rejected
        || (a.run_secs - b.run_secs).abs() > 1e-6 * a.planned_secs.max(1.0)
    {
        return Err(Error::Bench(format!(
            "the two paths disagree: {} rows, produced {}, run {} s vs {} rows, produced {}, run {} s",
            fast.len(),
            a.produced,
            a.run_secs,
            slow.len(),
            b.produced,
            b.run_secs
        )));
    }
    println!(
        "oee_machines={machines} oee_days={days} oee_shift_rows={} oee_ms={oee_ms:.1} raw_ms={raw_ms:.1} ratio_raw_vs_intervals={:.1} oee_total={:.4}",
        fast.len(),
        raw_ms / oee_ms.max(1e-9),
        a.oee.unwrap_or(0.0)
    );
    Ok(OeeFigures {
        oee_ms,
        raw_ms,
        rows: fast.len(),
    })
}
