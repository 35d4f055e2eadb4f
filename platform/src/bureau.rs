//! The industry bureau view (issue #16), as plain functions over plain data (no database, no
//! HTTP): what each tenant shares, the platform's negative list, how sector indices follow
//! from tenants' daily contributions, which cells may be published (primary and complementary
//! suppression, as statistical agencies do it) and the optional calibrated noise.
//!
//! The store (`store::bureau`) keeps each tenant's daily contributions, computed incrementally
//! from the MES figures, alarms and rollups, and hands the bureau only aggregated cells of
//! shared, non-negative-listed categories; the API (`api::bureau_*`) applies the rules here.
//!
//! # Layout
//! - [`sharing`]: the seven categories a tenant may share, and size classes.
//! - [`negative_list`]: categories and tags never shared, whatever a tenant says.
//! - [`index`]: the indices, their definitions, per-tenant contributions from machine-days,
//!   periods (day, ISO week, month) and cell aggregation.
//! - [`disclosure`]: the k-contributor and (n, k) dominance rules, complementary suppression
//!   over the sector × region table with its totals, and the attacker's check.
//! - [`noise`]: Laplace noise with a documented ε, deterministic per cell (off by default).

pub mod disclosure;
pub mod index;
pub mod negative_list;
pub mod noise;
pub mod sharing;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use disclosure::{Reason, Rules, Status, Table};
use index::{CellStats, Metric, Period};
use noise::NoiseSpec;

/// A cell's place: (sector or `None` for all sectors, region or `None` for all regions).
pub type Place = (Option<String>, Option<String>);

/// One published (or withheld) figure.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figure {
    /// The index.
    pub index: Metric,
    /// The period's length.
    pub period: Period,
    /// The period's first day.
    #[schema(value_type = String, example = "2026-12-01")]
    pub period_start: NaiveDate,
    /// The sector; absent for the total over sectors.
    pub sector: Option<String>,
    /// The region; absent for the total over regions.
    pub region: Option<String>,
    /// The value (absent when withheld), rounded to 4 decimals, noise included when the
    /// release has noise.
    pub value: Option<f64>,
    /// How many tenants contribute, as a band (`5-9`, `10-19`, …); absent when withheld.
    pub contributors: Option<String>,
    /// Why the value is withheld.
    pub suppressed: Option<Reason>,
}

fn cell_key(metric: Metric, period: Period, start: NaiveDate, place: &Place) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        metric.as_str(),
        period.as_str(),
        start,
        place.0.as_deref().unwrap_or("*"),
        place.1.as_deref().unwrap_or("*")
    )
}

fn protected(cells: &BTreeMap<Place, CellStats>, rules: &Rules) -> Table {
    let mut sectors: Vec<String> = cells.keys().filter_map(|p| p.0.clone()).collect();
    let mut regions: Vec<String> = cells.keys().filter_map(|p| p.1.clone()).collect();
    sectors.sort();
    sectors.dedup();
    regions.sort();
    regions.dedup();
    let mut t = Table::new(sectors, regions, |s, r| {
        cells
            .get(&(s.map(str::to_owned), r.map(str::to_owned)))
            .cloned()
    });
    t.protect(rules);
    t
}

/// The figures of one index for one period: every non-empty cell of its sector × region
/// table with the totals, after primary and complementary suppression, with noise when
/// `noise` is set. The output index needs `base`, the same table in the base period; a cell
/// whose base is withheld or zero is withheld with [`Reason::NoBase`].
pub fn publish(
    metric: Metric,
    period: Period,
    start: NaiveDate,
    cells: &BTreeMap<Place, CellStats>,
    base: Option<&BTreeMap<Place, CellStats>>,
    rules: &Rules,
    noise: Option<&NoiseSpec>,
) -> Vec<Figure> {
    let table = protected(cells, rules);
    let base_table = base.map(|b| protected(b, rules));
    let base_ratio = |place: &Place| -> Option<f64> {
        let t = base_table.as_ref()?;
        let i = match &place.0 {
            Some(s) => t.sectors.iter().position(|x| x == s)?,
            None => t.sectors.len(),
        };
        let j = match &place.1 {
            Some(r) => t.regions.iter().position(|x| x == r)?,
            None => t.regions.len(),
        };
        let k = t.at(i, j);
        (t.status[k] == Status::Published)
            .then(|| t.stats[k].as_ref()?.ratio())
            .flatten()
            .filter(|r| *r > 0.0)
    };
    let mut out = Vec::new();
    for i in 0..=table.sectors.len() {
        for j in 0..=table.regions.len() {
            let k = table.at(i, j);
            let place: Place = (table.sectors.get(i).cloned(), table.regions.get(j).cloned());
            let Some(stats) = table.stats[k].as_ref().filter(|s| s.n > 0) else {
                continue;
            };
            let mut figure = Figure {
                index: metric,
                period,
                period_start: start,
                sector: place.0.clone(),
                region: place.1.clone(),
                value: None,
                contributors: None,
                suppressed: None,
            };
            match table.status[k] {
                Status::Suppressed(r) => figure.suppressed = Some(r),
                Status::Empty => continue,
                Status::Published => {
                    let value = match (metric, stats.ratio()) {
                        (Metric::Output, Some(r)) => base_ratio(&place).map(|b| 100.0 * r / b),
                        (_, r) => r,
                    };
                    match value {
                        None => figure.suppressed = Some(Reason::NoBase),
                        Some(v) => {
                            let noisy = v + noise.map_or(0.0, |n| {
                                n.offset(
                                    &cell_key(metric, period, start, &place),
                                    metric.bound(),
                                    stats.n,
                                )
                            });
                            figure.value = Some((noisy * 1e4).round() / 1e4);
                            figure.contributors = Some(count_band(stats.n).to_owned());
                        }
                    }
                }
            }
            out.push(figure);
        }
    }
    out
}

/// The band of contributor counts a published figure shows, never the exact count nor who.
pub fn count_band(n: usize) -> &'static str {
    match n {
        0..=4 => "fewer than 5",
        5..=9 => "5-9",
        10..=19 => "10-19",
        20..=49 => "20-49",
        50..=99 => "50-99",
        _ => "100 or more",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use index::Ratio;

    type TestCell<'a> = (Option<&'a str>, Option<&'a str>, Vec<(f64, f64)>);

    fn cells_of(list: &[TestCell]) -> BTreeMap<Place, CellStats> {
        list.iter()
            .map(|(s, r, v)| {
                (
                    (s.map(str::to_owned), r.map(str::to_owned)),
                    CellStats::of(v.iter().map(|(num, den)| Ratio {
                        num: *num,
                        den: *den,
                    })),
                )
            })
            .collect()
    }

    #[test]
    fn a_table_publishes_what_passes_and_says_why_the_rest_does_not() {
        let five = vec![(1.0, 2.0); 5];
        let mut three = vec![(1.0, 4.0); 3];
        let day: NaiveDate = "2026-12-01".parse().unwrap();
        let cells = cells_of(&[
            (Some("garment"), Some("east"), five.clone()),
            (Some("garment"), Some("west"), three.clone()),
            (Some("machinery"), Some("east"), five.clone()),
            (Some("machinery"), Some("west"), five.clone()),
            (
                Some("garment"),
                None,
                [five.clone(), three.clone()].concat(),
            ),
            (
                Some("machinery"),
                None,
                [five.clone(), five.clone()].concat(),
            ),
            (None, Some("east"), [five.clone(), five.clone()].concat()),
            (None, Some("west"), [three.clone(), five.clone()].concat()),
            (None, None, {
                three.extend([(1.0, 2.0); 15]);
                three
            }),
        ]);
        let figs = publish(
            Metric::Utilisation,
            Period::Day,
            day,
            &cells,
            None,
            &Rules::default(),
            None,
        );
        let find = |s: Option<&str>, r: Option<&str>| {
            figs.iter()
                .find(|f| f.sector.as_deref() == s && f.region.as_deref() == r)
                .unwrap()
        };
        assert_eq!(
            find(Some("garment"), Some("west")).suppressed,
            Some(Reason::TooFewContributors)
        );
        // Its row and column each need a second suppressed cell, and then the 2 × 2 block
        // closes the cycle: three complementary cells, the totals stay published.
        let complementary = figs
            .iter()
            .filter(|f| f.suppressed == Some(Reason::Complementary))
            .count();
        assert_eq!(complementary, 3, "{figs:#?}");
        let total = find(None, None);
        assert_eq!(total.value, Some(0.4286)); // 18 / 42
        assert_eq!(total.contributors.as_deref(), Some("10-19"));
        assert!(figs
            .iter()
            .all(|f| f.value.is_some() == f.suppressed.is_none()));
        // With noise the published values move, by the same amount every time.
        let spec = NoiseSpec {
            epsilon: 1.0,
            release: "r1".into(),
        };
        let a = publish(
            Metric::Utilisation,
            Period::Day,
            day,
            &cells,
            None,
            &Rules::default(),
            Some(&spec),
        );
        let b = publish(
            Metric::Utilisation,
            Period::Day,
            day,
            &cells,
            None,
            &Rules::default(),
            Some(&spec),
        );
        assert_eq!(a, b);
        assert_ne!(a, figs);
    }

    #[test]
    fn the_output_index_is_100_in_its_base_period() {
        let day: NaiveDate = "2026-12-01".parse().unwrap();
        let base = cells_of(&[(Some("garment"), Some("east"), vec![(100.0, 2.0); 6])]);
        let base = {
            let mut b = base;
            let v = b.values().next().unwrap().clone();
            b.insert((Some("garment".into()), None), v.clone());
            b.insert((None, Some("east".into())), v.clone());
            b.insert((None, None), v);
            b
        };
        let same = publish(
            Metric::Output,
            Period::Month,
            day,
            &base,
            Some(&base),
            &Rules::default(),
            None,
        );
        assert!(same.iter().all(|f| f.value == Some(100.0)), "{same:?}");
        let mut later = base.clone();
        for v in later.values_mut() {
            v.num *= 1.1;
        }
        let up = publish(
            Metric::Output,
            Period::Month,
            day,
            &later,
            Some(&base),
            &Rules::default(),
            None,
        );
        assert!(up.iter().all(|f| f.value == Some(110.0)), "{up:?}");
        let none = publish(
            Metric::Output,
            Period::Month,
            day,
            &later,
            None,
            &Rules::default(),
            None,
        );
        assert!(none.iter().all(|f| f.suppressed == Some(Reason::NoBase)));
    }

    #[test]
    fn bands_cover_every_count() {
        assert_eq!(count_band(0), "fewer than 5");
        assert_eq!(count_band(4), "fewer than 5");
        assert_eq!(count_band(5), "5-9");
        assert_eq!(count_band(19), "10-19");
        assert_eq!(count_band(20), "20-49");
        assert_eq!(count_band(99), "50-99");
        assert_eq!(count_band(100), "100 or more");
    }
}
