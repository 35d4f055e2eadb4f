//! OEE per ISO 22400-2, explained by its losses.
//!
//! Over planned busy time (PBT: shifts less breaks):
//! - run time (APT) = PBT − itemised downtime (stops at or above the minor-stop threshold, and
//!   time with no data); minor stops stay in run time;
//! - availability = APT / PBT;
//! - performance = Σ (ideal cycle time × produced quantity) / APT;
//! - quality = good quantity / produced quantity;
//! - OEE = availability × performance × quality (= ideal time of the good parts / PBT).
//!
//! Parts count where their counter counted them: an increment counted at `t` belongs to a
//! planned window `(start, end]` holding `t` (parts counted at `t` were made before it);
//! parts counted outside planned time are not in the figures.
//!
//! The losses, in seconds, add up to PBT together with the fully productive time:
//! unplanned stops + planned stops (availability), small stops + slow cycles (performance),
//! production rejects (quality: ideal time of the rejected parts).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::downtime::{BigLoss, Downtime, MinorStops};
use super::state::MinuteCount;
use super::{total_secs, Span};

/// Parts counted at a time, with the ideal cycle time that applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Production {
    /// When counted.
    pub time: DateTime<Utc>,
    /// Parts made, good and rejected.
    pub produced: i64,
    /// Parts rejected.
    pub rejected: i64,
    /// Seconds per part at the ideal rate.
    pub ideal_cycle_secs: f64,
}

/// Production from per-minute counts, with the ideal cycle time at each minute.
pub fn production_from_counts(
    counts: &BTreeMap<DateTime<Utc>, MinuteCount>,
    ideal_at: impl Fn(DateTime<Utc>) -> f64,
) -> Vec<Production> {
    counts
        .iter()
        .map(|(t, c)| Production {
            time: *t,
            produced: c.produced,
            rejected: c.rejected,
            ideal_cycle_secs: ideal_at(*t),
        })
        .collect()
}

/// The six big losses in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Losses {
    /// Breakdowns, shortages, no operator, unexplained stops and time without data.
    pub unplanned_stops: f64,
    /// Setups, changeovers, quality holds, planned maintenance.
    pub planned_stops: f64,
    /// Minor stops.
    pub small_stops: f64,
    /// Run time not explained by the parts made at the ideal rate, nor by minor stops
    /// (negative when the machine beat its ideal cycle).
    pub slow_cycles: f64,
    /// Ideal time of the rejected parts.
    pub production_rejects: f64,
    /// Start-up rejects (not told apart from production rejects: always 0).
    pub startup_rejects: f64,
}

/// OEE of a machine, a line, a shift, a day or a work order, with what explains it. Sums add
/// up across machines and windows ([`Oee::add`]); the ratios follow from the sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Oee {
    /// Planned busy time, seconds.
    pub planned_secs: f64,
    /// Itemised downtime, seconds.
    pub downtime_secs: f64,
    /// Run time (actual production time), seconds.
    pub run_secs: f64,
    /// Σ ideal cycle time × produced quantity, seconds.
    pub ideal_secs: f64,
    /// Σ ideal cycle time × good quantity: fully productive time, seconds.
    pub fully_productive_secs: f64,
    /// Parts made.
    pub produced: i64,
    /// Parts rejected.
    pub rejected: i64,
    /// Good parts.
    pub good: i64,
    /// Run time / planned busy time.
    pub availability: Option<f64>,
    /// Ideal time / run time.
    pub performance: Option<f64>,
    /// Good / produced.
    pub quality: Option<f64>,
    /// The product of the three.
    pub oee: Option<f64>,
    /// Itemised downtime by reason category (`unassigned` when nobody named a reason and the
    /// state suggested none), seconds.
    pub downtime_by_category: BTreeMap<String, f64>,
    /// Minor stops: how many and how long.
    pub minor_stops: MinorStops,
    /// The six big losses.
    pub losses: Losses,
}

/// Category key for downtime nobody explained.
pub const UNASSIGNED: &str = "unassigned";

impl Oee {
    /// The OEE of one machine over `planned` (sorted, non-overlapping planned busy time)
    /// given its downtime over that time and its production (sorted by time).
    pub fn compute(planned: &[Span], downtime: &Downtime, production: &[Production]) -> Oee {
        let mut o = Oee {
            planned_secs: total_secs(planned),
            minor_stops: downtime.minor,
            ..Default::default()
        };
        for e in &downtime.events {
            for s in &e.segments {
                let secs = s.span.secs();
                o.downtime_secs += secs;
                let key = s.category.map(|c| c.as_str()).unwrap_or(UNASSIGNED);
                *o.downtime_by_category.entry(key.to_string()).or_default() += secs;
                match s.category.map(|c| c.big_loss()) {
                    Some(BigLoss::PlannedStops) => o.losses.planned_stops += secs,
                    Some(BigLoss::SmallStops) => o.losses.small_stops += secs,
                    _ => o.losses.unplanned_stops += secs,
                }
            }
        }
        o.losses.small_stops += downtime.minor.secs;
        for p in planned.iter().flat_map(|w| {
            // Sorted by time: each window's entries are one slice, (start, end].
            let a = production.partition_point(|p| p.time <= w.start);
            let b = production.partition_point(|p| p.time <= w.end);
            &production[a..b.max(a)]
        }) {
            o.produced += p.produced;
            o.rejected += p.rejected;
            o.ideal_secs += p.ideal_cycle_secs * p.produced as f64;
            o.fully_productive_secs += p.ideal_cycle_secs * (p.produced - p.rejected).max(0) as f64;
            o.losses.production_rejects += p.ideal_cycle_secs * p.rejected as f64;
        }
        o.run_secs = o.planned_secs - o.downtime_secs;
        o.finish();
        o
    }

    /// Adds another machine's or window's figures (a line, a day, a work order).
    pub fn add(&mut self, other: &Oee) {
        self.planned_secs += other.planned_secs;
        self.downtime_secs += other.downtime_secs;
        self.run_secs += other.run_secs;
        self.ideal_secs += other.ideal_secs;
        self.fully_productive_secs += other.fully_productive_secs;
        self.produced += other.produced;
        self.rejected += other.rejected;
        for (k, v) in &other.downtime_by_category {
            *self.downtime_by_category.entry(k.clone()).or_default() += v;
        }
        self.minor_stops.count += other.minor_stops.count;
        self.minor_stops.secs += other.minor_stops.secs;
        let (a, b) = (&mut self.losses, &other.losses);
        a.unplanned_stops += b.unplanned_stops;
        a.planned_stops += b.planned_stops;
        a.small_stops += b.small_stops;
        a.production_rejects += b.production_rejects;
        a.startup_rejects += b.startup_rejects;
        self.finish();
    }

    fn finish(&mut self) {
        self.good = (self.produced - self.rejected).max(0);
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        self.availability = ratio(self.run_secs, self.planned_secs);
        self.performance = ratio(self.ideal_secs, self.run_secs);
        self.quality = (self.produced > 0).then(|| self.good as f64 / self.produced as f64);
        self.oee = match (self.availability, self.performance, self.quality) {
            (Some(a), Some(p), Some(q)) => Some(a * p * q),
            (Some(_), _, _) if self.produced == 0 => Some(0.0),
            _ => None,
        };
        self.losses.slow_cycles = self.run_secs - self.losses.small_stops - self.ideal_secs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mes::calendar::{BreakDef, Calendar, ShiftDef};
    use crate::mes::downtime::{downtime, Category};
    use crate::mes::state::{
        timeline, Role, SignalSample, StateRule, TrackOutput, Tracker, U32_MODULUS,
    };
    use chrono::{Duration, NaiveTime};

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a figure");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// The issue's scenario, every figure worked out by hand.
    ///
    /// Site in Asia/Shanghai (UTC+8, no daylight saving). Night shift 22:00 → 06:00 with a
    /// break 02:00–02:30, on Tuesday 10 March 2026: 14:00Z → 22:00Z, break 18:00Z–18:30Z.
    /// Planned busy time = 8 h − 30 min = 450 min = 27,000 s.
    ///
    /// The machine (a press, state codes 0 idle / 1 running / 2 down / 3 fault) sends a sample
    /// of each tag every minute from 22:00 to 06:00 local, except 04:01–04:39 (a gap). Minute
    /// k (0 = 22:00) publishes the state for [k, k+1) and the counters as they stand at k:
    /// - 22:00–00:29 running (k 0–149), 2 parts a minute;
    /// - 00:30–01:14 fault, alarm 101 (k 150–194): a breakdown of 45 min = 2,700 s;
    /// - 01:15–01:59 running (k 195–239); right after the 01:29 sample the part counter is
    ///   reset to 0 (it shows 5,328 at 01:29 and 2 at 01:30);
    /// - 02:00–02:31 idle (k 240–271): 02:00–02:30 is the break (not planned: no loss),
    ///   02:30–02:32 is a stop of 120 s, under the 300 s threshold: one minor stop;
    /// - 02:32–03:59 running (k 272–359);
    /// - 04:00 the last sample before the gap says running; nothing made until 04:40. With
    ///   stale_secs = 180 the machine runs until 04:03 and is unknown 04:03–04:40:
    ///   37 min = 2,220 s of downtime with no reason (unassigned, an unplanned stop);
    /// - 04:40–06:00 running (k 400–479), and the 06:00 sample (k 480).
    ///
    /// Producing minutes: 150 + 45 + 88 + 80 = 363, 2 parts each: 726 parts, every increment
    /// counted at a sample in (22:00, 02:00] or (02:30, 06:00]. The reset loses nothing (the 2
    /// parts after it show as 2). Rejects: the scrap counter starts at 2^32 − 6 and steps by 1
    /// at 23:00, 23:30, 00:00, 00:15, 01:45 (now 2^32 − 1), 02:45 (wraps to 0), 03:00, 03:30,
    /// 05:00, 05:30: 10 rejects. Good = 726 − 10 = 716. Ideal cycle 25 s.
    ///
    /// - itemised downtime = 2,700 + 2,220 = 4,920 s
    /// - run time = 27,000 − 4,920 = 22,080 s (= 366 running minutes + the 2-minute minor stop)
    /// - availability = 22,080 / 27,000 = 0.817777…
    /// - ideal time = 726 × 25 = 18,150 s; performance = 18,150 / 22,080 = 0.822010…
    /// - quality = 716 / 726 = 0.986225…
    /// - OEE = 716 × 25 / 27,000 = 17,900 / 27,000 = 0.662962…
    /// - losses: unplanned stops 4,920 s; small stops 120 s; slow cycles 22,080 − 120 − 18,150
    ///   = 3,810 s; production rejects 10 × 25 = 250 s; with 17,900 s fully productive they
    ///   add up to 27,000 s.
    #[test]
    fn the_issue_scenario_matches_the_hand_computation() {
        let rule = StateRule {
            stale_secs: 180,
            minor_stop_secs: 300,
            ideal_cycle_secs: Some(25.0),
            speed_tag: None,
            ..StateRule::default_for_class("press")
        };
        let shift_start: DateTime<Utc> = "2026-03-10T14:00:00Z".parse().unwrap();
        let samples = scenario_samples(shift_start);

        // Fed in three rounds, as the store would.
        let mut tracker = Tracker::default();
        let mut out = TrackOutput::default();
        for cut in [100, 361, 481] {
            let upto = shift_start + Duration::minutes(cut);
            let round: Vec<SignalSample> =
                samples.iter().copied().filter(|s| s.time < upto).collect();
            tracker.feed(&rule, &round, &mut out);
        }
        let mut intervals = out.closed.clone();
        intervals.extend(tracker.open_interval());

        let cal = Calendar::new(
            "Asia/Shanghai",
            vec![ShiftDef {
                name: "night".into(),
                start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
                weekdays: (1..=7).collect(),
                breaks: vec![BreakDef {
                    start: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
                    minutes: 30,
                }],
            }],
            vec![],
        )
        .unwrap();
        let shift = &cal.instances(shift_start, shift_start + Duration::hours(8))[0];
        let planned = shift.planned();
        assert_eq!(total_secs(&planned), 27_000.0);

        let tl = timeline(&intervals, shift.span.start, shift.span.end);
        let dt = downtime(&tl, &planned, f64::from(rule.minor_stop_secs), &[]);
        assert_eq!(dt.events.len(), 2, "{:?}", dt.events);
        assert_eq!(dt.events[0].span.secs(), 2_700.0);
        assert_eq!(dt.events[0].code, 101);
        assert_eq!(dt.events[0].suggested, Some(Category::Breakdown));
        assert_eq!(dt.events[1].span.secs(), 2_220.0);
        assert_eq!(dt.events[1].suggested, None);
        assert_eq!(
            dt.minor,
            MinorStops {
                count: 1,
                secs: 120.0
            }
        );

        let production = production_from_counts(&out.counts, |_| 25.0);
        let o = Oee::compute(&planned, &dt, &production);
        assert_eq!(o.planned_secs, 27_000.0);
        assert_eq!(o.downtime_secs, 4_920.0);
        assert_eq!(o.run_secs, 22_080.0);
        assert_eq!(o.produced, 726);
        assert_eq!(o.rejected, 10);
        assert_eq!(o.good, 716);
        assert_eq!(o.ideal_secs, 18_150.0);
        close(o.availability, 22_080.0 / 27_000.0);
        close(o.performance, 18_150.0 / 22_080.0);
        close(o.quality, 716.0 / 726.0);
        close(o.oee, 17_900.0 / 27_000.0);
        assert_eq!(o.losses.unplanned_stops, 4_920.0);
        assert_eq!(o.losses.planned_stops, 0.0);
        assert_eq!(o.losses.small_stops, 120.0);
        assert_eq!(o.losses.slow_cycles, 3_810.0);
        assert_eq!(o.losses.production_rejects, 250.0);
        assert_eq!(
            o.losses.unplanned_stops
                + o.losses.small_stops
                + o.losses.slow_cycles
                + o.losses.production_rejects
                + o.fully_productive_secs,
            27_000.0
        );
        assert_eq!(o.downtime_by_category.get("breakdown"), Some(&2_700.0));
        assert_eq!(o.downtime_by_category.get(UNASSIGNED), Some(&2_220.0));

        // Two machines alike make a line with the same ratios and twice the sums.
        let mut line = o.clone();
        line.add(&o);
        assert_eq!(line.produced, 1_452);
        close(line.oee, 17_900.0 / 27_000.0);
    }

    /// The samples of the scenario above (state, fault code, part and scrap counters).
    pub(crate) fn scenario_samples(shift_start: DateTime<Utc>) -> Vec<SignalSample> {
        let producing = |k: i64| {
            (0..150).contains(&k)
                || (195..240).contains(&k)
                || (272..360).contains(&k)
                || (400..480).contains(&k)
        };
        let mut out = Vec::new();
        let mut parts = 5_000.0;
        let mut scrap = U32_MODULUS - 6.0;
        let scrap_at = [60, 90, 120, 135, 225, 285, 300, 330, 420, 450];
        for k in 0..=480i64 {
            if k > 0 && producing(k - 1) {
                parts += 2.0;
            }
            if k == 210 {
                parts = 2.0; // reset right after the 01:29 sample, then 2 parts
            }
            if scrap_at.contains(&k) {
                scrap = (scrap + 1.0) % U32_MODULUS;
            }
            if (361..400).contains(&k) {
                continue; // the gap
            }
            let (state, alarm) = if (150..195).contains(&k) {
                (3.0, 101.0)
            } else if (240..272).contains(&k) {
                (0.0, 0.0)
            } else {
                (1.0, 0.0)
            };
            let time = shift_start + Duration::minutes(k);
            for (role, value) in [
                (Role::State, state),
                (Role::Fault, alarm),
                (Role::Parts, parts),
                (Role::Rejects, scrap),
            ] {
                out.push(SignalSample { time, role, value });
            }
        }
        out
    }
}
