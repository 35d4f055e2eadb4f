//! A characteristic's stored points turned into charts: subgroups cut by sequence number (so
//! the same points always fall in the same subgroup, whichever window is read), the baseline
//! taken from the characteristic's baseline period, or from the first points of the window
//! when it has none.

use chrono::{DateTime, Utc};

use super::charts::{
    individuals, subgroup_charts, Baseline, ChartPair, ChartType, Observation, Subgroup,
};
use super::rules::RuleSet;
use super::{InvalidData, Result};

/// One stored value of a characteristic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqPoint {
    /// Position in the characteristic's whole history (0-based, by time).
    pub seq: i64,
    /// When it was measured or sampled.
    pub time: DateTime<Utc>,
    /// The value.
    pub value: f64,
}

/// How a characteristic is charted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartSettings {
    /// I-MR, X̄-R or X̄-S.
    pub chart: ChartType,
    /// Subgroup size (1 for I-MR).
    pub subgroup_size: usize,
    /// Run rules on the location chart.
    pub rules: RuleSet,
}

/// Where the limits of a drawn chart came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// The characteristic's baseline period.
    Period,
    /// The first points of the window shown (the characteristic has no baseline period).
    FirstPoints,
}

/// Complete subgroups of `points` (consecutive sequence numbers `k·n … k·n + n − 1`), each
/// stamped with its first point's time, with the sequence number of that first point.
pub fn subgroups(points: &[SeqPoint], n: usize) -> Vec<(i64, Subgroup)> {
    let n = n.max(1) as i64;
    let mut out: Vec<(i64, Subgroup)> = Vec::new();
    let mut current: Option<(i64, Subgroup)> = None;
    for p in points {
        let group = p.seq.div_euclid(n);
        match &mut current {
            Some((g, s)) if *g == group => s.values.push(p.value),
            _ => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                current = Some((
                    group,
                    Subgroup {
                        time: Some(p.time),
                        values: vec![p.value],
                    },
                ));
            }
        }
    }
    out.extend(current);
    out.into_iter()
        .filter(|(_, s)| s.values.len() == n as usize)
        .map(|(g, s)| (g * n, s))
        .collect()
}

/// A drawn chart and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// The charts.
    pub pair: ChartPair,
    /// Sequence number of the first point of each plotted point or subgroup.
    pub seqs: Vec<i64>,
    /// Where the limits came from.
    pub source: BaselineSource,
}

/// Charts `points` (ascending by sequence) with limits from `baseline_points` (the
/// characteristic's baseline period; empty when it has none, and then the first
/// `default_baseline` points or subgroups of the window give the limits).
pub fn draw(
    settings: ChartSettings,
    baseline_points: &[SeqPoint],
    points: &[SeqPoint],
    default_baseline: usize,
) -> Result<Drawn> {
    let n = settings.subgroup_size;
    let source = if baseline_points.is_empty() {
        BaselineSource::FirstPoints
    } else {
        BaselineSource::Period
    };
    let in_period = |seq: i64| {
        baseline_points.first().map(|p| p.seq) <= Some(seq)
            && Some(seq) <= baseline_points.last().map(|p| p.seq)
    };
    if settings.chart == ChartType::IMr {
        let obs = |ps: &[SeqPoint]| -> Vec<Observation> {
            ps.iter()
                .map(|p| Observation {
                    time: Some(p.time),
                    value: p.value,
                })
                .collect()
        };
        let shown = obs(points);
        if shown.is_empty() {
            return Err(InvalidData::new("from", "no values in this period"));
        }
        let mut baseline = match source {
            BaselineSource::Period => {
                let b = obs(baseline_points);
                Baseline::individuals(&b, 0, b.len())?
            }
            BaselineSource::FirstPoints => {
                Baseline::individuals(&shown, 0, default_baseline.min(shown.len()))?
            }
        };
        if source == BaselineSource::Period {
            let inside: Vec<usize> = (0..points.len())
                .filter(|&i| in_period(points[i].seq))
                .collect();
            (baseline.from, baseline.to) = match (inside.first(), inside.last()) {
                (Some(&a), Some(&b)) => (a, b + 1),
                _ => (0, 0),
            };
        }
        let pair = individuals(&shown, &baseline, settings.rules)?;
        return Ok(Drawn {
            pair,
            seqs: points.iter().map(|p| p.seq).collect(),
            source,
        });
    }
    let shown = subgroups(points, n);
    if shown.is_empty() {
        return Err(InvalidData::new(
            "from",
            format!("no complete subgroup of {n} values in this period"),
        ));
    }
    let groups: Vec<Subgroup> = shown.iter().map(|(_, s)| s.clone()).collect();
    let mut baseline = match source {
        BaselineSource::Period => {
            let b: Vec<Subgroup> = subgroups(baseline_points, n)
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            if b.len() < 2 {
                return Err(InvalidData::new(
                    "baseline_from",
                    format!(
                        "the baseline period holds {} complete subgroups; at least 2 are needed",
                        b.len()
                    ),
                ));
            }
            Baseline::subgroups(settings.chart, &b, 0, b.len())?
        }
        BaselineSource::FirstPoints => Baseline::subgroups(
            settings.chart,
            &groups,
            0,
            default_baseline.min(groups.len()),
        )?,
    };
    if source == BaselineSource::Period {
        let inside: Vec<usize> = (0..shown.len())
            .filter(|&i| in_period(shown[i].0))
            .collect();
        (baseline.from, baseline.to) = match (inside.first(), inside.last()) {
            (Some(&a), Some(&b)) => (a, b + 1),
            _ => (0, 0),
        };
    }
    let pair = subgroup_charts(&groups, &baseline, settings.rules)?;
    Ok(Drawn {
        pair,
        seqs: shown.iter().map(|(s, _)| *s).collect(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn points(values: &[f64], first_seq: i64) -> Vec<SeqPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| SeqPoint {
                seq: first_seq + i as i64,
                time: Utc
                    .timestamp_opt(1_700_000_000 + 60 * (first_seq + i as i64), 0)
                    .unwrap(),
                value,
            })
            .collect()
    }

    #[test]
    fn subgroups_follow_sequence_numbers_not_the_window() {
        let p = points(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2);
        // seq 2..=7, n = 3: groups 0 (seq 0-2) and 2 (seq 6-8) are cut by the window.
        let g = subgroups(&p, 3);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].0, 3);
        assert_eq!(g[0].1.values, [2.0, 3.0, 4.0]);
    }

    #[test]
    fn limits_come_from_the_period_and_points_in_it_are_marked() {
        let base = points(&[10.0, 12.0, 11.0, 13.0, 9.0, 11.0], 0);
        let mut all = base.clone();
        all.extend(points(&[11.0, 25.0], 6));
        let settings = ChartSettings {
            chart: ChartType::IMr,
            subgroup_size: 1,
            rules: RuleSet::WesternElectric,
        };
        // Window shows only the last four points; two of them are in the baseline period.
        let d = draw(settings, &base, &all[4..], 25).unwrap();
        assert_eq!(d.source, BaselineSource::Period);
        assert!((d.pair.location.ucl - 16.849_10).abs() < 1e-4);
        assert_eq!((d.pair.baseline.from, d.pair.baseline.to), (0, 2));
        assert_eq!(d.seqs, [4, 5, 6, 7]);
        assert_eq!(d.pair.location.violations[0].at, 3);
        // Without a period the first points of the window give the limits.
        let d = draw(settings, &[], &all, 6).unwrap();
        assert_eq!(d.source, BaselineSource::FirstPoints);
        assert!((d.pair.location.ucl - 16.849_10).abs() < 1e-4);
    }

    #[test]
    fn subgroup_charts_need_two_subgroups_in_the_period() {
        let settings = ChartSettings {
            chart: ChartType::XbarR,
            subgroup_size: 3,
            rules: RuleSet::Nelson,
        };
        let base = points(&[1.0, 2.0, 3.0, 2.0], 0);
        let e = draw(settings, &base, &base, 25).unwrap_err();
        assert_eq!(e.field, "baseline_from");
        let base = points(
            &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 3.0, 3.0, 4.0, 5.0, 6.0],
            0,
        );
        let d = draw(settings, &base, &base, 25).unwrap();
        assert!((d.pair.location.centre - 3.5).abs() < 1e-12);
        assert_eq!(d.seqs, [0, 3, 6, 9]);
    }
}
