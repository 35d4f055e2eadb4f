//! Run rules on a control chart: Western Electric (1956 handbook, four rules) and Nelson
//! (1984, eight rules).
//!
//! Each rule is tested on the window of points that *ends* at each point; a violation is
//! reported at the point that completes the pattern, with the points that make it (for a
//! "k of m beyond" rule, the k points beyond; for a run, the whole run window). A long run
//! fires again at each point that extends it, so a console can mark every point in breach and
//! an alarm can be raised once per (rule, first point). Zones are in units of the plotted
//! statistic's sigma, `(UCL − centre) / 3`; a point exactly on the centre line is on neither
//! side and breaks a same-side run.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which family of rules to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleSet {
    /// Western Electric: 1 beyond 3σ; 2 of 3 beyond 2σ; 4 of 5 beyond 1σ; 8 on one side.
    WesternElectric,
    /// Nelson: the Western Electric patterns (with 9 on one side) plus trends, alternation,
    /// stratification (15 within 1σ) and mixture (8 outside 1σ).
    Nelson,
    /// Only points beyond the control limits (rule 1 of both).
    LimitsOnly,
}

/// One breach of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Violation {
    /// The family the rule belongs to.
    pub rule_set: RuleSet,
    /// Rule number within its family (Western Electric 1–4, Nelson 1–8).
    pub rule: u8,
    /// What the rule says.
    pub description: String,
    /// Index of the point that completes the pattern.
    pub at: usize,
    /// Indices of the points that make the pattern, ascending.
    pub points: Vec<usize>,
}

/// One rule as data: what it tests, over how many points.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// At least `k` of `m` consecutive points beyond `sigmas` on the same side.
    Beyond { k: usize, m: usize, sigmas: f64 },
    /// `m` consecutive points on the same side of the centre line.
    SameSide { m: usize },
    /// `m` consecutive points each higher (or each lower) than the one before.
    Trend { m: usize },
    /// `m` consecutive points alternating up and down.
    Alternating { m: usize },
    /// `m` consecutive points within 1σ of the centre line.
    Within { m: usize },
    /// `m` consecutive points beyond 1σ, on either side.
    Outside { m: usize },
}

/// (number, pattern, description) of each rule of a set, in number order.
fn rules(set: RuleSet) -> &'static [(u8, Pattern, &'static str)] {
    use Pattern::*;
    match set {
        RuleSet::LimitsOnly => &[(
            1,
            Beyond {
                k: 1,
                m: 1,
                sigmas: 3.0,
            },
            "one point beyond the control limits",
        )],
        RuleSet::WesternElectric => &[
            (
                1,
                Beyond {
                    k: 1,
                    m: 1,
                    sigmas: 3.0,
                },
                "one point beyond the control limits",
            ),
            (
                2,
                Beyond {
                    k: 2,
                    m: 3,
                    sigmas: 2.0,
                },
                "2 of 3 consecutive points beyond 2 sigma on the same side",
            ),
            (
                3,
                Beyond {
                    k: 4,
                    m: 5,
                    sigmas: 1.0,
                },
                "4 of 5 consecutive points beyond 1 sigma on the same side",
            ),
            (
                4,
                SameSide { m: 8 },
                "8 consecutive points on the same side of the centre line",
            ),
        ],
        RuleSet::Nelson => &[
            (
                1,
                Beyond {
                    k: 1,
                    m: 1,
                    sigmas: 3.0,
                },
                "one point beyond the control limits",
            ),
            (
                2,
                SameSide { m: 9 },
                "9 consecutive points on the same side of the centre line",
            ),
            (
                3,
                Trend { m: 6 },
                "6 consecutive points steadily increasing or decreasing",
            ),
            (
                4,
                Alternating { m: 14 },
                "14 consecutive points alternating up and down",
            ),
            (
                5,
                Beyond {
                    k: 2,
                    m: 3,
                    sigmas: 2.0,
                },
                "2 of 3 consecutive points beyond 2 sigma on the same side",
            ),
            (
                6,
                Beyond {
                    k: 4,
                    m: 5,
                    sigmas: 1.0,
                },
                "4 of 5 consecutive points beyond 1 sigma on the same side",
            ),
            (
                7,
                Within { m: 15 },
                "15 consecutive points within 1 sigma of the centre line",
            ),
            (
                8,
                Outside { m: 8 },
                "8 consecutive points beyond 1 sigma, on either side",
            ),
        ],
    }
}

/// Tests `values` against `set` with the chart's centre line and one-sigma width; violations
/// come ordered by point, then rule number.
pub fn check(values: &[f64], centre: f64, sigma: f64, set: RuleSet) -> Vec<Violation> {
    let z: Vec<f64> = values
        .iter()
        .map(|v| {
            if sigma > 0.0 {
                (v - centre) / sigma
            } else {
                0.0
            }
        })
        .collect();
    let side = |i: usize| {
        if z[i] > 0.0 {
            1
        } else if z[i] < 0.0 {
            -1
        } else {
            0
        }
    };
    let mut out = Vec::new();
    for at in 0..values.len() {
        for &(number, pattern, description) in rules(set) {
            let window = |m: usize| (at + 1 >= m).then(|| at + 1 - m..=at);
            let points: Option<Vec<usize>> =
                match pattern {
                    Pattern::Beyond { k, m, sigmas } => window(m).and_then(|w| {
                        // The completing point must itself be beyond, on the side of the pattern.
                        let s = side(at);
                        if s == 0 || z[at].abs() <= sigmas {
                            return None;
                        }
                        let beyond: Vec<usize> =
                            w.filter(|&i| side(i) == s && z[i].abs() > sigmas).collect();
                        (beyond.len() >= k).then_some(beyond)
                    }),
                    Pattern::SameSide { m } => window(m).and_then(|w| {
                        let s = side(at);
                        (s != 0 && w.clone().all(|i| side(i) == s)).then(|| w.collect())
                    }),
                    Pattern::Trend { m } => window(m).and_then(|w| {
                        let start = *w.start();
                        let up = (start + 1..=at).all(|i| values[i] > values[i - 1]);
                        let down = (start + 1..=at).all(|i| values[i] < values[i - 1]);
                        (up || down).then(|| w.collect())
                    }),
                    Pattern::Alternating { m } => window(m).and_then(|w| {
                        let start = *w.start();
                        let alternating = (start + 2..=at).all(|i| {
                            let a = values[i - 1] - values[i - 2];
                            let b = values[i] - values[i - 1];
                            a * b < 0.0
                        });
                        (alternating && m >= 2).then(|| w.collect())
                    }),
                    Pattern::Within { m } => window(m)
                        .and_then(|w| w.clone().all(|i| z[i].abs() < 1.0).then(|| w.collect())),
                    Pattern::Outside { m } => window(m)
                        .and_then(|w| w.clone().all(|i| z[i].abs() > 1.0).then(|| w.collect())),
                };
            if let Some(points) = points {
                out.push(Violation {
                    rule_set: set,
                    rule: number,
                    description: description.to_string(),
                    at,
                    points,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(v: &[Violation]) -> Vec<(u8, usize)> {
        v.iter().map(|v| (v.rule, v.at)).collect()
    }

    #[test]
    fn each_western_electric_rule_by_hand() {
        // Centre 0, sigma 1.
        let one = [0.5, -0.5, 3.5, 0.2];
        assert_eq!(
            fired(&check(&one, 0.0, 1.0, RuleSet::WesternElectric)),
            [(1, 2)]
        );

        let two = [0.1, 2.5, -0.3, 2.2, 0.0];
        let v = check(&two, 0.0, 1.0, RuleSet::WesternElectric);
        assert_eq!(fired(&v), [(2, 3)]);
        assert_eq!(v[0].points, [1, 3]);

        let three = [1.5, 1.2, 0.5, 1.1, 1.3, -0.2];
        let v = check(&three, 0.0, 1.0, RuleSet::WesternElectric);
        assert_eq!(fired(&v), [(3, 4)]);
        assert_eq!(v[0].points, [0, 1, 3, 4]);

        let four = [0.3, 0.2, 0.4, 0.1, 0.5, 0.6, 0.2, 0.3, 0.4, -0.1];
        let v = check(&four, 0.0, 1.0, RuleSet::WesternElectric);
        assert_eq!(fired(&v), [(4, 7), (4, 8)]);
        assert_eq!(v[0].points, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn each_nelson_rule_by_hand() {
        let trend = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, -0.1];
        let v = check(&trend, 0.0, 1.0, RuleSet::Nelson);
        assert!(fired(&v).contains(&(3, 5)), "{v:?}");
        // The first point is on the centre line: no 9-on-one-side run here.
        assert!(!fired(&v).iter().any(|f| f.0 == 2));

        let alternating: Vec<f64> = (0..14)
            .map(|i| if i % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        assert_eq!(
            fired(&check(&alternating, 0.0, 1.0, RuleSet::Nelson)),
            [(4, 13)]
        );

        let within: Vec<f64> = (0..15)
            .map(|i| 0.1 * ((i % 3) as f64 - 1.0) + 0.05)
            .collect();
        assert!(fired(&check(&within, 0.0, 1.0, RuleSet::Nelson)).contains(&(7, 14)));

        let mixture: Vec<f64> = (0..8)
            .map(|i| if i % 2 == 0 { 1.5 } else { -1.5 })
            .collect();
        assert_eq!(fired(&check(&mixture, 0.0, 1.0, RuleSet::Nelson)), [(8, 7)]);

        let same_side = [0.2; 9];
        let v = check(&same_side, 0.0, 1.0, RuleSet::Nelson);
        assert_eq!(fired(&v), [(2, 8)]);
    }
}
