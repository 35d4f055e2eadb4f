//! Which SPC alarms a chart calls for: one per characteristic and rule, raised when a point
//! that arrived since the last check completes a rule's pattern, cleared once the newest point
//! is no longer part of any breach of that rule.
//!
//! A rule is named `set:number` for the location chart (`western_electric:2`, `nelson:3`) and
//! `dispersion:1` for the dispersion chart's limits, so the platform can keep one open alarm
//! per (characteristic, rule name).

use super::charts::ChartPair;
use super::rules::{RuleSet, Violation};

/// The name of a location-chart rule.
pub fn rule_name(set: RuleSet, rule: u8) -> String {
    let set = match set {
        RuleSet::WesternElectric => "western_electric",
        RuleSet::Nelson => "nelson",
        RuleSet::LimitsOnly => "limits_only",
    };
    format!("{set}:{rule}")
}

/// The name of the dispersion chart's limits rule.
pub const DISPERSION_RULE: &str = "dispersion:1";

/// An alarm to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    /// Rule name.
    pub rule: String,
    /// What the rule says.
    pub description: String,
    /// Index (in the chart's observations or subgroups) of the point completing the pattern.
    pub at: usize,
    /// The plotted value there.
    pub value: f64,
    /// The limit or zone line it is judged against: the control limit on its side.
    pub limit: f64,
}

/// What to do with the alarms of one characteristic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Rules breached at a new point (at most one per rule: the first breach).
    pub raise: Vec<Raise>,
    /// Rules whose open alarm may be cleared: the newest point is in no breach of them.
    pub clear: Vec<String>,
}

fn rule_numbers(set: RuleSet) -> std::ops::RangeInclusive<u8> {
    match set {
        RuleSet::WesternElectric => 1..=4,
        RuleSet::Nelson => 1..=8,
        RuleSet::LimitsOnly => 1..=1,
    }
}

/// The alarm changes `pair` calls for, where points (or subgroups) from index `first_new` on
/// arrived since the last check. An empty chart changes nothing.
pub fn changes(pair: &ChartPair, first_new: usize) -> Changes {
    let mut out = Changes::default();
    let charts = [
        (&pair.location, None::<&str>),
        (&pair.dispersion, Some(DISPERSION_RULE)),
    ];
    for (chart, fixed_name) in charts {
        let Some(newest) = chart.points.last().map(|p| p.index) else {
            continue;
        };
        let name_of =
            |v: &Violation| fixed_name.map_or_else(|| rule_name(pair.rules, v.rule), str::to_owned);
        let value_at = |i: usize| {
            chart
                .points
                .iter()
                .find(|p| p.index == i)
                .map_or(f64::NAN, |p| p.value)
        };
        let names: Vec<String> = match fixed_name {
            Some(n) => vec![n.to_owned()],
            None => rule_numbers(pair.rules)
                .map(|n| rule_name(pair.rules, n))
                .collect(),
        };
        for name in names {
            let of_rule: Vec<&Violation> = chart
                .violations
                .iter()
                .filter(|v| name_of(v) == name)
                .collect();
            if let Some(v) = of_rule.iter().find(|v| v.at >= first_new) {
                let value = value_at(v.at);
                out.raise.push(Raise {
                    rule: name.clone(),
                    description: v.description.clone(),
                    at: v.at,
                    value,
                    limit: if value >= chart.centre {
                        chart.ucl
                    } else {
                        chart.lcl
                    },
                });
            }
            if !of_rule.iter().any(|v| v.points.contains(&newest)) {
                out.clear.push(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::charts::{individuals, Baseline, Observation};

    fn pair(values: &[f64], baseline: usize) -> ChartPair {
        let o: Vec<Observation> = values
            .iter()
            .map(|&value| Observation { time: None, value })
            .collect();
        let b = Baseline::individuals(&o, 0, baseline).unwrap();
        individuals(&o, &b, RuleSet::WesternElectric).unwrap()
    }

    fn stable() -> Vec<f64> {
        (0..20)
            .map(|i| 10.0 + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect()
    }

    #[test]
    fn a_new_point_beyond_the_limits_raises_rule_1_and_clears_when_back() {
        let mut v = stable();
        v.push(14.0);
        let c = changes(&pair(&v, 20), 20);
        assert_eq!(
            c.raise.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
            ["western_electric:1", "dispersion:1"]
        );
        assert_eq!(c.raise[0].at, 20);
        assert_eq!(c.raise[0].value, 14.0);
        assert!((c.raise[0].limit - pair(&v, 20).location.ucl).abs() < 1e-12);
        assert!(!c.clear.contains(&"western_electric:1".to_string()));
        // Back in control: nothing new to raise, rule 1 may clear.
        v.push(10.2);
        let c = changes(&pair(&v, 20), 21);
        assert!(c.raise.iter().all(|r| r.rule != "western_electric:1"));
        assert!(c.clear.contains(&"western_electric:1".to_string()));
    }

    #[test]
    fn old_breaches_raise_nothing_and_a_stable_chart_clears_every_rule() {
        let mut v = stable();
        v.push(14.0);
        v.extend(stable());
        let c = changes(&pair(&v, 20), 30);
        assert!(c.raise.is_empty(), "{c:?}");
        assert_eq!(c.clear.len(), 5);
    }

    #[test]
    fn a_run_stays_in_breach_while_it_lasts() {
        let mut v = stable();
        v.extend([10.3; 9]);
        let c = changes(&pair(&v, 20), 20);
        assert_eq!(
            c.raise.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
            ["western_electric:4"]
        );
        assert_eq!(c.raise[0].at, 27);
        assert!(!c.clear.contains(&"western_electric:4".to_string()));
    }
}
