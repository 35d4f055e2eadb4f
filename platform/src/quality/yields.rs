//! Yield figures from counts: what a record adds to its day's counts, the rates a console
//! shows, and the Pareto of defect codes.
//!
//! A record's units are **first-pass** when they passed without rework, **reworked** when
//! they needed rework (whether they then passed or not), **scrapped** when they finally
//! failed. First-pass yield = first-pass / units; rework rate = reworked / units; scrap rate =
//! scrapped / units; final yield = (units − scrapped) / units.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::mes::calendar::Calendar;

/// Unit counts of a group of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Units inspected.
    pub units: i64,
    /// Units that passed without rework.
    pub first_pass: i64,
    /// Units reworked.
    pub reworked: i64,
    /// Units that finally failed.
    pub scrapped: i64,
}

impl Counts {
    /// What one record of `quantity` units adds.
    pub fn of_record(quantity: i64, passed: bool, reworked: bool) -> Self {
        Counts {
            units: quantity,
            first_pass: if passed && !reworked { quantity } else { 0 },
            reworked: if reworked { quantity } else { 0 },
            scrapped: if passed { 0 } else { quantity },
        }
    }

    /// The sum of two groups.
    pub fn plus(self, o: Counts) -> Counts {
        Counts {
            units: self.units + o.units,
            first_pass: self.first_pass + o.first_pass,
            reworked: self.reworked + o.reworked,
            scrapped: self.scrapped + o.scrapped,
        }
    }
}

/// Counts and the rates they give (rates are `None` without units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct YieldFigures {
    /// The counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// First-pass yield, 0 to 1.
    pub first_pass_yield: Option<f64>,
    /// Share of units reworked.
    pub rework_rate: Option<f64>,
    /// Share of units scrapped.
    pub scrap_rate: Option<f64>,
    /// Share of units finally good.
    pub final_yield: Option<f64>,
}

impl From<Counts> for YieldFigures {
    fn from(c: Counts) -> Self {
        let rate = |n: i64| (c.units > 0).then(|| n as f64 / c.units as f64);
        YieldFigures {
            counts: c,
            first_pass_yield: rate(c.first_pass),
            rework_rate: rate(c.reworked),
            scrap_rate: rate(c.scrapped),
            final_yield: rate(c.units - c.scrapped),
        }
    }
}

/// Whether `value` lies within the limits (a missing limit does not bound).
pub fn within_spec(value: f64, lsl: Option<f64>, usl: Option<f64>) -> bool {
    value.is_finite() && lsl.is_none_or(|l| value >= l) && usl.is_none_or(|u| value <= u)
}

/// The production day and shift of a unit made at `t` at a site with `calendar`: inside a
/// shift, that shift and the local date it started on (a night shift's units count to the day
/// it began); outside every shift, the local date and no shift (empty).
pub fn day_and_shift(calendar: &Calendar, t: DateTime<Utc>) -> (NaiveDate, String) {
    calendar
        .instances(t, t + Duration::seconds(1))
        .into_iter()
        .find(|i| i.span.start <= t && t < i.span.end)
        .map(|i| (i.day, i.shift))
        .unwrap_or_else(|| (calendar.day_of(t).0, String::new()))
}

/// One bar of a Pareto chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParetoBar {
    /// Defect code.
    pub defect_code: String,
    /// Defective units with this code.
    pub units: i64,
    /// Share of all defective units with a code.
    pub share: f64,
    /// Share of this bar and every larger one.
    pub cumulative_share: f64,
}

/// The Pareto of defect codes: bars from the most frequent down (ties by code).
pub fn pareto(mut counts: Vec<(String, i64)>) -> Vec<ParetoBar> {
    counts.retain(|(_, n)| *n > 0);
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let mut running = 0;
    counts
        .into_iter()
        .map(|(defect_code, units)| {
            running += units;
            ParetoBar {
                defect_code,
                units,
                share: units as f64 / total as f64,
                cumulative_share: running as f64 / total as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_hand() {
        // 10 units: 7 first-pass, 2 reworked of which 1 passed, 1 scrapped outright.
        let c = Counts::of_record(7, true, false)
            .plus(Counts::of_record(1, true, true))
            .plus(Counts::of_record(1, false, true))
            .plus(Counts::of_record(1, false, false));
        assert_eq!(
            c,
            Counts {
                units: 10,
                first_pass: 7,
                reworked: 2,
                scrapped: 2
            }
        );
        let f = YieldFigures::from(c);
        assert_eq!(f.first_pass_yield, Some(0.7));
        assert_eq!(f.rework_rate, Some(0.2));
        assert_eq!(f.scrap_rate, Some(0.2));
        assert_eq!(f.final_yield, Some(0.8));
        assert_eq!(YieldFigures::from(Counts::default()).first_pass_yield, None);
    }

    #[test]
    fn pareto_orders_and_accumulates() {
        let bars = pareto(vec![
            ("short_shot".into(), 2),
            ("flash".into(), 5),
            ("sink".into(), 2),
            ("none".into(), 0),
            ("burn".into(), 1),
        ]);
        let codes: Vec<&str> = bars.iter().map(|b| b.defect_code.as_str()).collect();
        assert_eq!(codes, ["flash", "short_shot", "sink", "burn"]);
        assert_eq!(bars[0].share, 0.5);
        assert!((bars[2].cumulative_share - 0.9).abs() < 1e-12);
        assert_eq!(bars[3].cumulative_share, 1.0);
    }

    #[test]
    fn night_shift_units_count_to_the_day_the_shift_began() {
        use crate::mes::calendar::ShiftDef;
        use chrono::{NaiveTime, TimeZone};
        let shift = |name: &str, start: u32, end: u32| ShiftDef {
            name: name.into(),
            start: NaiveTime::from_hms_opt(start, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end, 0, 0).unwrap(),
            weekdays: (1..=7).collect(),
            breaks: Vec::new(),
        };
        let cal = Calendar::new(
            "Asia/Shanghai",
            vec![shift("early", 6, 14), shift("night", 22, 6)],
            Vec::new(),
        )
        .unwrap();
        // 03:00 on 2 December in Shanghai: the night shift of 1 December.
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 19, 0, 0).unwrap();
        assert_eq!(
            day_and_shift(&cal, t),
            (
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                "night".into()
            )
        );
        // 07:00 local: early shift of 2 December.
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap();
        assert_eq!(day_and_shift(&cal, t).1, "early");
        // 16:00 local, between shifts: the local date, no shift.
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap();
        assert_eq!(
            day_and_shift(&cal, t),
            (NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(), String::new())
        );
    }

    #[test]
    fn spec_limits_bound_only_where_given() {
        assert!(within_spec(5.0, Some(4.0), None));
        assert!(!within_spec(3.9, Some(4.0), None));
        assert!(within_spec(6.0, Some(4.0), Some(6.0)));
        assert!(!within_spec(f64::NAN, None, None));
    }
}
