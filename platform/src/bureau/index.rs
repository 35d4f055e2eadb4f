//! The sector indices: what each one measures, what a tenant contributes to it per day, the
//! periods they are published for, and how contributions add up into cells.
//!
//! Every index is a ratio of two sums over the contributing tenants, `Σ num / Σ den`, so a
//! week or a month is the ratio of the week's or month's sums (not an average of daily
//! ratios), and a total over regions or sectors is the ratio of the total's sums. Each tenant
//! contributes one `(num, den)` per index and site-local day, computed from its machines'
//! figures that day ([`contributions`]).

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sharing::Category;

/// A published index.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of planned time the machines ran: Σ run time / Σ planned busy time.
    Utilisation,
    /// Share of scheduled machines that ran at all: machines with run time / machines with
    /// planned time (machine-days).
    OperatingRate,
    /// Average OEE of scheduled machines: Σ machine OEE / machines with planned time.
    Oee,
    /// Output per scheduled machine-day, as an index with the base period = 100.
    Output,
    /// Share of planned time lost to itemised downtime.
    DowntimeRate,
    /// Alarms raised per scheduled machine-day.
    AlarmRate,
    /// Good parts / parts made.
    QualityRate,
    /// kWh per part made, on machines with energy tags (unit kWh, cumulative).
    EnergyIntensity,
}

impl Metric {
    /// Every index, in declaration order.
    pub const ALL: [Metric; 8] = [
        Metric::Utilisation,
        Metric::OperatingRate,
        Metric::Oee,
        Metric::Output,
        Metric::DowntimeRate,
        Metric::AlarmRate,
        Metric::QualityRate,
        Metric::EnergyIntensity,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Utilisation => "utilisation",
            Metric::OperatingRate => "operating_rate",
            Metric::Oee => "oee",
            Metric::Output => "output",
            Metric::DowntimeRate => "downtime_rate",
            Metric::AlarmRate => "alarm_rate",
            Metric::QualityRate => "quality_rate",
            Metric::EnergyIntensity => "energy_intensity",
        }
    }

    /// The index named `s`.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The sharing category it belongs to: a tenant contributes to it only when it shares
    /// this category (and the negative list does not name it).
    pub fn category(self) -> Category {
        match self {
            Metric::Utilisation | Metric::OperatingRate => Category::Utilisation,
            Metric::Oee => Category::Oee,
            Metric::Output => Category::Output,
            Metric::DowntimeRate => Category::Downtime,
            Metric::AlarmRate => Category::Alarms,
            Metric::QualityRate => Category::Quality,
            Metric::EnergyIntensity => Category::Energy,
        }
    }

    /// The unit of published values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Output => "index, base period = 100",
            Metric::AlarmRate => "alarms per machine-day",
            Metric::EnergyIntensity => "kWh per part",
            _ => "share (0 to 1)",
        }
    }

    /// Its definition, as the README and the API give it.
    pub fn definition(self) -> &'static str {
        match self {
            Metric::Utilisation => {
                "sum of run time / sum of planned busy time (shifts less breaks)"
            }
            Metric::OperatingRate => {
                "machine-days with any run time / machine-days with planned time"
            }
            Metric::Oee => "sum of each scheduled machine's daily OEE / scheduled machine-days",
            Metric::Output => {
                "100 x (parts made / scheduled machine-days) / the same in the base period"
            }
            Metric::DowntimeRate => "sum of itemised downtime / sum of planned busy time",
            Metric::AlarmRate => "alarms raised / scheduled machine-days",
            Metric::QualityRate => "good parts / parts made",
            Metric::EnergyIntensity => {
                "kWh used by machines with energy tags / parts those machines made"
            }
        }
    }

    /// The most one contributor's own ratio can plausibly be, for the noise's sensitivity
    /// ([`super::noise`]): 1 for shares, 200 index points, 20 alarms per machine-day,
    /// 50 kWh per part. Contributions are clamped to it before noise is calibrated.
    pub fn bound(self) -> f64 {
        match self {
            Metric::Output => 200.0,
            Metric::AlarmRate => 20.0,
            Metric::EnergyIntensity => 50.0,
            _ => 1.0,
        }
    }
}

/// One machine's figures over one site-local day, from the MES (planned time from the shift
/// calendar, run and downtime from state intervals, counts per minute), the alarms table and
/// energy tags' rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MachineDay {
    /// Planned busy time, seconds.
    pub planned_secs: f64,
    /// Run time, seconds.
    pub run_secs: f64,
    /// Itemised downtime, seconds.
    pub downtime_secs: f64,
    /// Parts made (good and rejected).
    pub produced: i64,
    /// Parts rejected.
    pub rejected: i64,
    /// The day's OEE (`None` without planned time).
    pub oee: Option<f64>,
    /// Alarms raised that day.
    pub alarms: i64,
    /// kWh used that day, when the machine has an energy tag.
    pub energy_kwh: Option<f64>,
}

/// A numerator and a denominator, added over tenants and days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: f64,
    /// Denominator.
    pub den: f64,
}

/// A tenant's contribution to each index for one day, from its machines' days. An index a
/// day gives nothing to (no planned time, no parts, no energy tags) is left out, rather than
/// contributed as zero over zero.
pub fn contributions(days: &[MachineDay]) -> Vec<(Metric, Ratio)> {
    let scheduled: Vec<&MachineDay> = days.iter().filter(|d| d.planned_secs > 0.0).collect();
    let n = scheduled.len() as f64;
    let sum = |f: &dyn Fn(&MachineDay) -> f64| scheduled.iter().map(|d| f(d)).sum::<f64>();
    let planned = sum(&|d| d.planned_secs);
    let produced: i64 = days.iter().map(|d| d.produced).sum();
    let mut out = Vec::new();
    let mut push = |m: Metric, num: f64, den: f64| {
        if den > 0.0 && num.is_finite() {
            out.push((m, Ratio { num, den }));
        }
    };
    push(
        Metric::Utilisation,
        sum(&|d| d.run_secs.min(d.planned_secs)),
        planned,
    );
    push(
        Metric::OperatingRate,
        sum(&|d| if d.run_secs > 0.0 { 1.0 } else { 0.0 }),
        n,
    );
    let with_oee: Vec<f64> = scheduled.iter().filter_map(|d| d.oee).collect();
    push(Metric::Oee, with_oee.iter().sum(), with_oee.len() as f64);
    push(Metric::Output, sum(&|d| d.produced as f64), n);
    push(
        Metric::DowntimeRate,
        sum(&|d| d.downtime_secs.min(d.planned_secs)),
        planned,
    );
    push(Metric::AlarmRate, sum(&|d| d.alarms as f64), n);
    push(
        Metric::QualityRate,
        days.iter()
            .map(|d| (d.produced - d.rejected).max(0) as f64)
            .sum(),
        produced as f64,
    );
    let metered: Vec<&MachineDay> = days.iter().filter(|d| d.energy_kwh.is_some()).collect();
    push(
        Metric::EnergyIntensity,
        metered
            .iter()
            .filter_map(|d| d.energy_kwh)
            .map(|e| e.max(0.0))
            .sum(),
        metered.iter().map(|d| d.produced as f64).sum(),
    );
    out
}

/// How long a published period is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A site-local day.
    #[default]
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Duration::days(day.weekday().num_days_from_monday().into()),
            Period::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::days(7),
            Period::Month => {
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(start)
            }
        }
    }

    /// The starts of the periods overlapping `[from, to]`.
    pub fn starts(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut s = self.start_of(from);
        while s <= to {
            out.push(s);
            s = self.next(s);
        }
        out
    }
}

/// One tenant's contribution to one index on one day, with where it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The tenant (never leaves the store or this computation).
    pub tenant: i32,
    /// Its sector (industry).
    pub sector: String,
    /// Its region.
    pub region: String,
    /// Site-local day.
    pub day: NaiveDate,
    /// The index.
    pub metric: Metric,
    /// Its numerator and denominator.
    pub ratio: Ratio,
}

/// A cell of the sector × region table: `None` is the total over that dimension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// The index.
    pub metric: Metric,
    /// First day of the period.
    pub period: NaiveDate,
    /// The sector, or all.
    pub sector: Option<String>,
    /// The region, or all.
    pub region: Option<String>,
}

/// What a cell adds up to: how many tenants, the sums, and the largest contributors' shares
/// of each sum (for the dominance rule), never who they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    /// Contributing tenants.
    pub n: usize,
    /// Σ numerators.
    pub num: f64,
    /// Σ denominators.
    pub den: f64,
    /// The largest tenants' numerators, largest first (at most [`TOP`]).
    pub top_num: Vec<f64>,
    /// The largest tenants' denominators, largest first (at most [`TOP`]).
    pub top_den: Vec<f64>,
}

/// How many of the largest contributors a cell remembers (the dominance rule's n is at most
/// this).
pub const TOP: usize = 3;

impl CellStats {
    /// The cell of these tenants' `(num, den)` (one pair per tenant, already summed over the
    /// period).
    pub fn of(tenants: impl IntoIterator<Item = Ratio>) -> CellStats {
        let mut nums = Vec::new();
        let mut dens = Vec::new();
        for r in tenants {
            nums.push(r.num);
            dens.push(r.den);
        }
        let top = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| b.total_cmp(a));
            v.iter().take(TOP).copied().collect::<Vec<f64>>()
        };
        CellStats {
            n: nums.len(),
            num: nums.iter().sum(),
            den: dens.iter().sum(),
            top_num: top(&mut nums),
            top_den: top(&mut dens),
        }
    }

    /// `Σ num / Σ den`, when the denominator is positive.
    pub fn ratio(&self) -> Option<f64> {
        (self.den > 0.0).then(|| self.num / self.den)
    }
}

/// Adds contributions into cells for `period`: per tenant over the period first, then every
/// sector × region cell, each sector's and each region's total and the grand total. The store
/// does the same in SQL; this is the reference (and the benchmark's path from raw samples).
pub fn cells(contribs: &[Contribution], period: Period) -> BTreeMap<CellKey, CellStats> {
    let mut per_tenant: BTreeMap<(Metric, NaiveDate, &str, &str, i32), Ratio> = BTreeMap::new();
    for c in contribs {
        let e = per_tenant
            .entry((
                c.metric,
                period.start_of(c.day),
                &c.sector,
                &c.region,
                c.tenant,
            ))
            .or_default();
        e.num += c.ratio.num;
        e.den += c.ratio.den;
    }
    let mut grouped: BTreeMap<CellKey, Vec<Ratio>> = BTreeMap::new();
    for ((metric, start, sector, region, _), r) in per_tenant {
        for (s, g) in [
            (Some(sector), Some(region)),
            (Some(sector), None),
            (None, Some(region)),
            (None, None),
        ] {
            grouped
                .entry(CellKey {
                    metric,
                    period: start,
                    sector: s.map(str::to_owned),
                    region: g.map(str::to_owned),
                })
                .or_default()
                .push(r);
        }
    }
    grouped
        .into_iter()
        .map(|(k, v)| (k, CellStats::of(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_tenant_day_from_its_machines() {
        // Two scheduled machines (8 h each) and one with no shift that day.
        let days = [
            MachineDay {
                planned_secs: 28_800.0,
                run_secs: 21_600.0,
                downtime_secs: 7_200.0,
                produced: 400,
                rejected: 8,
                oee: Some(0.6),
                alarms: 3,
                energy_kwh: Some(120.0),
            },
            MachineDay {
                planned_secs: 28_800.0,
                run_secs: 0.0,
                downtime_secs: 28_800.0,
                produced: 0,
                rejected: 0,
                oee: Some(0.0),
                alarms: 1,
                energy_kwh: None,
            },
            MachineDay::default(),
        ];
        let got: BTreeMap<Metric, Ratio> = contributions(&days).into_iter().collect();
        let r = |num, den| Ratio { num, den };
        assert_eq!(got[&Metric::Utilisation], r(21_600.0, 57_600.0));
        assert_eq!(got[&Metric::OperatingRate], r(1.0, 2.0));
        assert_eq!(got[&Metric::Oee], r(0.6, 2.0));
        assert_eq!(got[&Metric::Output], r(400.0, 2.0));
        assert_eq!(got[&Metric::DowntimeRate], r(36_000.0, 57_600.0));
        assert_eq!(got[&Metric::AlarmRate], r(4.0, 2.0));
        assert_eq!(got[&Metric::QualityRate], r(392.0, 400.0));
        assert_eq!(got[&Metric::EnergyIntensity], r(120.0, 400.0));
    }

    #[test]
    fn a_day_without_planned_time_or_parts_contributes_nothing_rather_than_zero() {
        assert!(contributions(&[MachineDay::default()]).is_empty());
        let idle = MachineDay {
            planned_secs: 3600.0,
            ..Default::default()
        };
        let got: Vec<Metric> = contributions(&[idle]).into_iter().map(|(m, _)| m).collect();
        // No parts: no quality rate and no energy intensity (0/0 is not a figure).
        assert!(!got.contains(&Metric::QualityRate));
        assert!(!got.contains(&Metric::EnergyIntensity));
        assert!(got.contains(&Metric::Utilisation));
    }

    #[test]
    fn periods_start_on_mondays_and_firsts() {
        assert_eq!(Period::Week.start_of(day("2026-12-03")), day("2026-11-30"));
        assert_eq!(Period::Week.start_of(day("2026-11-30")), day("2026-11-30"));
        assert_eq!(Period::Month.start_of(day("2026-12-31")), day("2026-12-01"));
        assert_eq!(Period::Month.next(day("2026-12-01")), day("2027-01-01"));
        assert_eq!(
            Period::Week.starts(day("2026-11-29"), day("2026-12-07")),
            [day("2026-11-23"), day("2026-11-30"), day("2026-12-07")]
        );
        assert_eq!(
            Period::Day
                .starts(day("2026-01-01"), day("2026-01-03"))
                .len(),
            3
        );
    }

    #[test]
    fn cells_add_tenants_over_the_period_then_over_the_hierarchy() {
        let c = |tenant, sector: &str, region: &str, d: &str, num, den| Contribution {
            tenant,
            sector: sector.into(),
            region: region.into(),
            day: day(d),
            metric: Metric::Utilisation,
            ratio: Ratio { num, den },
        };
        let contribs = [
            c(1, "garment", "east", "2026-11-30", 1.0, 2.0),
            c(1, "garment", "east", "2026-12-01", 3.0, 4.0),
            c(2, "garment", "west", "2026-12-02", 5.0, 10.0),
            c(3, "machinery", "east", "2026-12-02", 2.0, 2.0),
        ];
        let cells = cells(&contribs, Period::Week);
        let key = |s: Option<&str>, r: Option<&str>| CellKey {
            metric: Metric::Utilisation,
            period: day("2026-11-30"),
            sector: s.map(Into::into),
            region: r.map(Into::into),
        };
        let ge = &cells[&key(Some("garment"), Some("east"))];
        assert_eq!((ge.n, ge.num, ge.den), (1, 4.0, 6.0));
        assert_eq!(ge.top_num, [4.0]);
        let g = &cells[&key(Some("garment"), None)];
        assert_eq!((g.n, g.num, g.den), (2, 9.0, 16.0));
        assert_eq!(g.top_den, [10.0, 6.0]);
        let e = &cells[&key(None, Some("east"))];
        assert_eq!((e.n, e.num, e.den), (2, 6.0, 8.0));
        let all = &cells[&key(None, None)];
        assert_eq!((all.n, all.num, all.den), (3, 11.0, 18.0));
        assert_eq!(all.ratio(), Some(11.0 / 18.0));
        assert_eq!(cells.len(), 3 + 2 + 2 + 1);
    }
}
