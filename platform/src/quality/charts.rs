//! Shewhart control charts: individuals and moving range (I-MR), subgroup means and ranges
//! (X̄-R), subgroup means and standard deviations (X̄-S).
//!
//! Limits come from a **baseline**: a chosen run of points (a period when the process was
//! believed stable) gives the centre lines and the within-subgroup sigma; [`Baseline`] keeps
//! those few numbers so the platform can store them and draw later data against the same
//! limits. The standard formulas, with the constants of [`super::constants`]:
//!
//! | chart | centre | limits |
//! | --- | --- | --- |
//! | I | x̄ | x̄ ± 3 MR̄ / d2(2) |
//! | MR | MR̄ | D3(2) MR̄ = 0, D4(2) MR̄ |
//! | X̄ (with R) | x̄̄ | x̄̄ ± A2 R̄ |
//! | R | R̄ | D3 R̄, D4 R̄ |
//! | X̄ (with S) | x̄̄ | x̄̄ ± A3 S̄ |
//! | S | S̄ | B3 S̄, B4 S̄ |
//!
//! The location chart (I or X̄) is tested with the chosen run rules; the dispersion chart (MR,
//! R, S) with rule 1 only, because its statistic is skewed and its lower limit often clipped
//! at zero, so zone rules would misfire there. The output is what a console plots: every point
//! with its time, the centre line, the limits, the 1σ and 2σ zone lines, and the violations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::constants::{constants, MAX_N, MIN_N};
use super::rules::{check, RuleSet, Violation};
use super::{InvalidData, Result};

/// One measured value (for I-MR charts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Observation {
    /// When it was measured.
    pub time: Option<DateTime<Utc>>,
    /// The value.
    pub value: f64,
}

/// A rational subgroup: values taken together (for X̄-R and X̄-S charts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Subgroup {
    /// When it was taken (e.g. its first value's time).
    pub time: Option<DateTime<Utc>>,
    /// Its values; every subgroup of a chart has the same size.
    pub values: Vec<f64>,
}

/// Groups consecutive observations into subgroups of `size` (a trailing incomplete group is
/// left out), each stamped with its first observation's time.
pub fn subgroups_of(observations: &[Observation], size: usize) -> Vec<Subgroup> {
    observations
        .chunks_exact(size.max(1))
        .map(|c| Subgroup {
            time: c[0].time,
            values: c.iter().map(|o| o.value).collect(),
        })
        .collect()
}

/// The pair of charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartType {
    /// Individuals and moving range of two.
    IMr,
    /// Subgroup means and ranges.
    XbarR,
    /// Subgroup means and standard deviations.
    XbarS,
}

/// What one chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Individual values.
    Individual,
    /// Moving range of two consecutive values.
    MovingRange,
    /// Subgroup mean.
    Mean,
    /// Subgroup range.
    Range,
    /// Subgroup standard deviation.
    StdDev,
}

/// The numbers a baseline period gives, from which every limit follows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Baseline {
    /// The pair of charts.
    pub chart: ChartType,
    /// Subgroup size (1 for I-MR).
    pub subgroup_size: usize,
    /// Centre of the location chart: mean of the baseline values (or subgroup means).
    pub centre: f64,
    /// Centre of the dispersion chart: MR̄, R̄ or S̄ over the baseline.
    pub dispersion_centre: f64,
    /// Within-subgroup sigma: MR̄/d2(2), R̄/d2(n) or S̄/c4(n).
    pub sigma_within: f64,
    /// First point (or subgroup) of the baseline period.
    pub from: usize,
    /// One past the last point (or subgroup) of the baseline period.
    pub to: usize,
}

/// One plotted point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChartPoint {
    /// Position on the chart (0-based).
    pub index: usize,
    /// Time of the observation or subgroup.
    pub time: Option<DateTime<Utc>>,
    /// The plotted statistic.
    pub value: f64,
    /// Whether the point lies in the baseline period.
    pub baseline: bool,
}

/// One chart, ready to draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chart {
    /// What it plots.
    pub statistic: Statistic,
    /// Centre line.
    pub centre: f64,
    /// Upper control limit.
    pub ucl: f64,
    /// Lower control limit.
    pub lcl: f64,
    /// Sigma of the plotted statistic, (UCL − centre)/3: the zone width.
    pub sigma: f64,
    /// Zone lines at centre ± 1σ and ± 2σ: `[−2σ, −1σ, +1σ, +2σ]`.
    pub zones: [f64; 4],
    /// The points, in order (a moving-range chart starts at index 1).
    pub points: Vec<ChartPoint>,
    /// Run-rule violations.
    pub violations: Vec<Violation>,
}

/// A location chart and its dispersion chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChartPair {
    /// The baseline the limits come from.
    pub baseline: Baseline,
    /// Rules tested on the location chart.
    pub rules: RuleSet,
    /// I or X̄ chart.
    pub location: Chart,
    /// MR, R or S chart.
    pub dispersion: Chart,
}

fn finite(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(InvalidData::new(field, "must be a finite number"))
    }
}

fn check_range(len: usize, from: usize, to: usize, min: usize, unit: &str) -> Result<()> {
    if from >= to || to > len {
        return Err(InvalidData::new(
            "baseline",
            format!("period {from}..{to} is not within the {len} {unit}"),
        ));
    }
    if to - from < min {
        return Err(InvalidData::new(
            "baseline",
            format!("needs at least {min} {unit}, has {}", to - from),
        ));
    }
    Ok(())
}

/// Mean and moving-range statistics of individual values.
fn moving_ranges(values: &[f64]) -> Vec<f64> {
    values.windows(2).map(|w| (w[1] - w[0]).abs()).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n − 1).
pub fn sample_sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)).sqrt()
}

fn range(v: &[f64]) -> f64 {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    hi - lo
}

impl Baseline {
    /// The I-MR baseline of observations `from..to` (at least 2).
    pub fn individuals(observations: &[Observation], from: usize, to: usize) -> Result<Self> {
        check_range(observations.len(), from, to, 2, "observations")?;
        let values: Vec<f64> = observations[from..to]
            .iter()
            .enumerate()
            .map(|(i, o)| finite(&format!("observations[{}].value", from + i), o.value))
            .collect::<Result<_>>()?;
        let mr_bar = mean(&moving_ranges(&values));
        let d2 = constants(2).expect("n = 2 has constants").d2;
        Ok(Baseline {
            chart: ChartType::IMr,
            subgroup_size: 1,
            centre: mean(&values),
            dispersion_centre: mr_bar,
            sigma_within: mr_bar / d2,
            from,
            to,
        })
    }

    /// The X̄-R or X̄-S baseline of subgroups `from..to` (at least 2).
    pub fn subgroups(
        chart: ChartType,
        subgroups: &[Subgroup],
        from: usize,
        to: usize,
    ) -> Result<Self> {
        if chart == ChartType::IMr {
            return Err(InvalidData::new(
                "chart",
                "I-MR charts take observations, not subgroups",
            ));
        }
        check_range(subgroups.len(), from, to, 2, "subgroups")?;
        let n = subgroup_size(subgroups)?;
        let k = constants(n).expect("size checked");
        let mut means = Vec::new();
        let mut spread = Vec::new();
        for s in &subgroups[from..to] {
            means.push(mean(&s.values));
            spread.push(match chart {
                ChartType::XbarR => range(&s.values),
                _ => sample_sd(&s.values),
            });
        }
        let centre_spread = mean(&spread);
        let sigma_within = match chart {
            ChartType::XbarR => centre_spread / k.d2,
            _ => centre_spread / k.c4,
        };
        Ok(Baseline {
            chart,
            subgroup_size: n,
            centre: mean(&means),
            dispersion_centre: centre_spread,
            sigma_within,
            from,
            to,
        })
    }

    /// Limits of the location chart: (centre, LCL, UCL).
    pub fn location_limits(&self) -> (f64, f64, f64) {
        let spread = 3.0 * self.sigma_within / (self.subgroup_size as f64).sqrt();
        (self.centre, self.centre - spread, self.centre + spread)
    }

    /// Limits of the dispersion chart: (centre, LCL, UCL).
    pub fn dispersion_limits(&self) -> (f64, f64, f64) {
        let c = self.dispersion_centre;
        match self.chart {
            ChartType::IMr => {
                let k = constants(2).expect("n = 2 has constants");
                (c, k.d3_lower * c, k.d4_upper * c)
            }
            ChartType::XbarR => {
                let k = constants(self.subgroup_size).expect("size checked when fitted");
                (c, k.d3_lower * c, k.d4_upper * c)
            }
            ChartType::XbarS => {
                let k = constants(self.subgroup_size).expect("size checked when fitted");
                (c, k.b3 * c, k.b4 * c)
            }
        }
    }
}

/// The common subgroup size of `subgroups`, within the constants' range.
fn subgroup_size(subgroups: &[Subgroup]) -> Result<usize> {
    let n = subgroups.first().map_or(0, |s| s.values.len());
    if !(MIN_N..=MAX_N).contains(&n) {
        return Err(InvalidData::new(
            "subgroups[0].values",
            format!("subgroup size {n} is outside {MIN_N}..={MAX_N}"),
        ));
    }
    for (i, s) in subgroups.iter().enumerate() {
        if s.values.len() != n {
            return Err(InvalidData::new(
                format!("subgroups[{i}].values"),
                format!("has {} values, the first subgroup has {n}", s.values.len()),
            ));
        }
        for (j, v) in s.values.iter().enumerate() {
            finite(&format!("subgroups[{i}].values[{j}]"), *v)?;
        }
    }
    Ok(n)
}

fn chart(
    statistic: Statistic,
    (centre, lcl, ucl): (f64, f64, f64),
    points: Vec<ChartPoint>,
    rules: RuleSet,
) -> Chart {
    let sigma = (ucl - centre) / 3.0;
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let mut violations = check(&values, centre, sigma, rules);
    // Rules index the values; report chart indices (a moving range starts at 1).
    for v in &mut violations {
        v.at = points[v.at].index;
        for p in &mut v.points {
            *p = points[*p].index;
        }
    }
    if rules == RuleSet::LimitsOnly {
        // Rule 1 against the actual limits, which may be asymmetric (a clipped LCL).
        violations.retain(|v| {
            let value = values[points.iter().position(|p| p.index == v.at).unwrap_or(0)];
            value > ucl || value < lcl
        });
        for (i, p) in points.iter().enumerate() {
            let v = values[i];
            let flagged = violations.iter().any(|x| x.at == p.index);
            if !flagged && v < lcl && lcl > 0.0 {
                violations.push(Violation {
                    rule_set: RuleSet::LimitsOnly,
                    rule: 1,
                    description: "one point beyond the control limits".into(),
                    at: p.index,
                    points: vec![p.index],
                });
            }
        }
        violations.sort_by_key(|v| (v.at, v.rule));
    }
    Chart {
        statistic,
        centre,
        ucl,
        lcl,
        sigma,
        zones: [
            centre - 2.0 * sigma,
            centre - sigma,
            centre + sigma,
            centre + 2.0 * sigma,
        ],
        points,
        violations,
    }
}

/// I-MR charts of `observations` against `baseline` (from [`Baseline::individuals`], on these
/// or earlier observations), with `rules` on the individuals chart.
pub fn individuals(
    observations: &[Observation],
    baseline: &Baseline,
    rules: RuleSet,
) -> Result<ChartPair> {
    if baseline.chart != ChartType::IMr {
        return Err(InvalidData::new("baseline.chart", "not an I-MR baseline"));
    }
    let values: Vec<f64> = observations
        .iter()
        .enumerate()
        .map(|(i, o)| finite(&format!("observations[{i}].value"), o.value))
        .collect::<Result<_>>()?;
    let in_base = |i: usize| (baseline.from..baseline.to).contains(&i);
    let location = observations
        .iter()
        .enumerate()
        .map(|(i, o)| ChartPoint {
            index: i,
            time: o.time,
            value: o.value,
            baseline: in_base(i),
        })
        .collect();
    let dispersion = moving_ranges(&values)
        .into_iter()
        .enumerate()
        .map(|(i, mr)| ChartPoint {
            index: i + 1,
            time: observations[i + 1].time,
            value: mr,
            baseline: in_base(i) && in_base(i + 1),
        })
        .collect();
    Ok(ChartPair {
        baseline: *baseline,
        rules,
        location: chart(
            Statistic::Individual,
            baseline.location_limits(),
            location,
            rules,
        ),
        dispersion: chart(
            Statistic::MovingRange,
            baseline.dispersion_limits(),
            dispersion,
            RuleSet::LimitsOnly,
        ),
    })
}

/// X̄-R or X̄-S charts (per `baseline.chart`) of `subgroups` against `baseline`, with `rules`
/// on the X̄ chart.
pub fn subgroup_charts(
    subgroups: &[Subgroup],
    baseline: &Baseline,
    rules: RuleSet,
) -> Result<ChartPair> {
    if baseline.chart == ChartType::IMr {
        return Err(InvalidData::new(
            "baseline.chart",
            "an I-MR baseline cannot chart subgroups",
        ));
    }
    let n = subgroup_size(subgroups)?;
    if n != baseline.subgroup_size {
        return Err(InvalidData::new(
            "subgroups[0].values",
            format!(
                "subgroup size {n}, the baseline's is {}",
                baseline.subgroup_size
            ),
        ));
    }
    let in_base = |i: usize| (baseline.from..baseline.to).contains(&i);
    let point = |i: usize, s: &Subgroup, value: f64| ChartPoint {
        index: i,
        time: s.time,
        value,
        baseline: in_base(i),
    };
    let location = subgroups
        .iter()
        .enumerate()
        .map(|(i, s)| point(i, s, mean(&s.values)))
        .collect();
    let (statistic, spread): (Statistic, fn(&[f64]) -> f64) = match baseline.chart {
        ChartType::XbarR => (Statistic::Range, range),
        _ => (Statistic::StdDev, sample_sd),
    };
    let dispersion = subgroups
        .iter()
        .enumerate()
        .map(|(i, s)| point(i, s, spread(&s.values)))
        .collect();
    Ok(ChartPair {
        baseline: *baseline,
        rules,
        location: chart(Statistic::Mean, baseline.location_limits(), location, rules),
        dispersion: chart(
            statistic,
            baseline.dispersion_limits(),
            dispersion,
            RuleSet::LimitsOnly,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(values: &[f64]) -> Vec<Observation> {
        values
            .iter()
            .map(|&value| Observation { time: None, value })
            .collect()
    }

    /// Hand-computed: values 10, 12, 11, 13, 9, 11 → x̄ = 11, moving ranges 2, 1, 2, 4, 2 →
    /// MR̄ = 2.2, sigma = 2.2 / d2(2) with d2(2) = 2/√π = 1.128379 → 1.949699, I limits
    /// 11 ± 5.849, MR UCL = D4(2) MR̄ = 3.267 × 2.2 = 7.187.
    #[test]
    fn individuals_limits_by_hand() {
        let o = obs(&[10.0, 12.0, 11.0, 13.0, 9.0, 11.0]);
        let b = Baseline::individuals(&o, 0, 6).unwrap();
        assert!((b.centre - 11.0).abs() < 1e-12);
        assert!((b.dispersion_centre - 2.2).abs() < 1e-12);
        assert!((b.sigma_within - 1.949_699).abs() < 1e-5);
        let pair = individuals(&o, &b, RuleSet::WesternElectric).unwrap();
        assert!((pair.location.ucl - 16.849_10).abs() < 1e-4);
        assert!((pair.location.lcl - 5.150_90).abs() < 1e-4);
        assert!((pair.dispersion.ucl - 7.187).abs() < 2e-3);
        assert_eq!(pair.dispersion.lcl, 0.0);
        assert_eq!(pair.dispersion.points[0].index, 1);
        assert!(pair.location.violations.is_empty());
    }

    /// Hand-computed X̄-R and X̄-S, n = 3: subgroups (1,2,3), (2,4,6), (3,3,3), (4,5,6).
    /// Means 2, 4, 3, 5 → x̄̄ = 3.5; ranges 2, 4, 0, 2 → R̄ = 2, limits 3.5 ± 1.023 × 2;
    /// standard deviations 1, 2, 0, 1 → S̄ = 1, limits 3.5 ± 1.954 × 1.
    #[test]
    fn subgroup_limits_by_hand() {
        let s: Vec<Subgroup> = [
            [1.0, 2.0, 3.0],
            [2.0, 4.0, 6.0],
            [3.0, 3.0, 3.0],
            [4.0, 5.0, 6.0],
        ]
        .iter()
        .map(|v| Subgroup {
            time: None,
            values: v.to_vec(),
        })
        .collect();
        let r = Baseline::subgroups(ChartType::XbarR, &s, 0, 4).unwrap();
        let pair = subgroup_charts(&s, &r, RuleSet::Nelson).unwrap();
        assert!((pair.location.centre - 3.5).abs() < 1e-12);
        assert!((pair.location.ucl - (3.5 + 1.023 * 2.0)).abs() < 2e-3);
        assert!((pair.dispersion.ucl - 2.574 * 2.0).abs() < 3e-3);
        let sd = Baseline::subgroups(ChartType::XbarS, &s, 0, 4).unwrap();
        assert!((sd.dispersion_centre - 1.0).abs() < 1e-12);
        let pair = subgroup_charts(&s, &sd, RuleSet::Nelson).unwrap();
        assert!((pair.location.ucl - (3.5 + 1.954)).abs() < 2e-3);
        assert!((pair.dispersion.ucl - 2.568).abs() < 2e-3);
    }

    #[test]
    fn a_shift_after_the_baseline_is_flagged() {
        let mut values: Vec<f64> = (0..20)
            .map(|i| 10.0 + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        values.extend([14.0, 10.2, 10.3]);
        let o = obs(&values);
        let b = Baseline::individuals(&o, 0, 20).unwrap();
        let pair = individuals(&o, &b, RuleSet::WesternElectric).unwrap();
        assert_eq!(
            pair.location
                .violations
                .iter()
                .map(|v| (v.rule, v.at))
                .collect::<Vec<_>>(),
            [(1, 20)]
        );
        assert!(pair.location.points[5].baseline && !pair.location.points[21].baseline);
        // The jump to 14 and back makes two large moving ranges.
        let mr: Vec<usize> = pair.dispersion.violations.iter().map(|v| v.at).collect();
        assert_eq!(mr, [20, 21]);
    }

    #[test]
    fn bad_input_names_the_field() {
        let s = vec![
            Subgroup {
                time: None,
                values: vec![1.0, 2.0],
            },
            Subgroup {
                time: None,
                values: vec![1.0, 2.0, 3.0],
            },
        ];
        let e = Baseline::subgroups(ChartType::XbarR, &s, 0, 2).unwrap_err();
        assert_eq!(e.field, "subgroups[1].values");
        let e = Baseline::individuals(&obs(&[1.0, f64::NAN, 2.0]), 0, 3).unwrap_err();
        assert_eq!(e.field, "observations[1].value");
        let e = Baseline::individuals(&obs(&[1.0, 2.0]), 0, 5).unwrap_err();
        assert_eq!(e.field, "baseline");
    }
}
