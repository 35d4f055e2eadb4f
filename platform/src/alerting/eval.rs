//! Evaluating one rule on one tag's samples: a small state machine per (rule, tag) that is fed
//! samples in data time and, for stale-data rules, ticked with the wall clock.
//!
//! - **On-delay**: the condition must hold on every sample for `on_delay_secs` of data time
//!   before the alarm is raised (at the sample that completes the delay). A sample that does
//!   not breach resets the delay.
//! - **Hysteresis**: an active threshold alarm clears only when the value is back past the
//!   limit by the deadband; a value inside the deadband keeps it active.
//! - **Out-of-order samples**: a sample not newer than the newest one evaluated is ignored
//!   (it is still stored; the alarm timeline follows the newest data). Re-sent batches and
//!   duplicates are therefore harmless.
//!
//! The state is plain data (serde), so the engine can checkpoint it and resume after a restart
//! without raising again what is already raised.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::rule::Condition;

/// What a rule's state machine decided on a sample or a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// Raise the alarm.
    Raise {
        /// Data time the alarm is raised at.
        at: DateTime<Utc>,
        /// The value (the rate per minute for rate-of-change, seconds without data for stale).
        value: f64,
    },
    /// Clear the active alarm.
    Clear {
        /// Data time it cleared at.
        at: DateTime<Utc>,
        /// The value then.
        value: f64,
    },
}

/// The state of one rule on one tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Time of the newest sample evaluated (for stale rules: the newest sample seen, or when
    /// watching began).
    pub last_time: Option<DateTime<Utc>>,
    /// Its value.
    pub last_value: Option<f64>,
    /// Since when the condition has held while the on-delay runs.
    pub pending_since: Option<DateTime<Utc>>,
    /// Whether the rule's alarm is active (raised and not cleared).
    pub active: bool,
    /// Recent samples (ms since the epoch, value) for a rate of change.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub window: VecDeque<(i64, f64)>,
}

impl RuleState {
    /// A fresh state that starts watching at `since` (stale rules count from there).
    pub fn watching_from(since: DateTime<Utc>) -> Self {
        Self {
            last_time: Some(since),
            ..Self::default()
        }
    }

    /// Evaluates one sample.
    pub fn observe(
        &mut self,
        condition: &Condition,
        on_delay_secs: u32,
        t: DateTime<Utc>,
        value: f64,
    ) -> Option<Transition> {
        if !value.is_finite() {
            return None;
        }
        let stale_rule = matches!(condition, Condition::Stale { .. });
        if let Some(last) = self.last_time {
            // Out of order or repeated. Before any data, a stale rule still ignores samples
            // older than the moment it started watching; other rules take the first sample.
            let seen_data = self.last_value.is_some();
            if t <= last && (seen_data || stale_rule) {
                return None;
            }
        }
        self.last_time = Some(t);
        self.last_value = Some(value);
        let measured = match condition {
            Condition::Stale { .. } => {
                self.pending_since = None;
                return if self.active {
                    self.active = false;
                    Some(Transition::Clear { at: t, value: 0.0 })
                } else {
                    None
                };
            }
            Condition::RateOfChange { window_secs, .. } => {
                let ms = t.timestamp_millis();
                self.window.push_back((ms, value));
                let keep_from = ms - i64::from(*window_secs) * 1000;
                while self.window.len() > 2 && self.window[1].0 <= keep_from {
                    self.window.pop_front();
                }
                let (t0, v0) = self.window[0];
                let span_ms = ms - t0;
                // Half a window at least, so two samples a second apart do not make a rate.
                if span_ms < i64::from(*window_secs) * 500 {
                    return None;
                }
                (value - v0) / (span_ms as f64 / 60_000.0)
            }
            _ => value,
        };
        let (breach, back_to_normal) = match condition {
            Condition::High { limit, deadband } => {
                (measured > *limit, measured < *limit - *deadband)
            }
            Condition::Low { limit, deadband } => {
                (measured < *limit, measured > *limit + *deadband)
            }
            Condition::RateOfChange {
                limit_per_min,
                deadband,
                ..
            } => (
                measured.abs() > *limit_per_min,
                measured.abs() < *limit_per_min - *deadband,
            ),
            Condition::MachineState { .. } => (measured != 0.0, measured == 0.0),
            Condition::Stale { .. } => unreachable!("handled above"),
        };
        if self.active {
            if back_to_normal {
                self.active = false;
                self.pending_since = None;
                return Some(Transition::Clear {
                    at: t,
                    value: measured,
                });
            }
            return None;
        }
        if !breach {
            self.pending_since = None;
            return None;
        }
        let since = *self.pending_since.get_or_insert(t);
        if t - since >= Duration::seconds(i64::from(on_delay_secs)) {
            self.active = true;
            self.pending_since = None;
            return Some(Transition::Raise {
                at: t,
                value: measured,
            });
        }
        None
    }

    /// Evaluates a machine-state rule on the machine's current state (from the MES state
    /// builder): `in_state` whether it is in the rule's state, since `since` (data time),
    /// with fault `code`. Raised at `since + on_delay` once `now` is past it; cleared at the
    /// start of the next state.
    pub fn observe_state(
        &mut self,
        on_delay_secs: u32,
        in_state: bool,
        since: Option<DateTime<Utc>>,
        code: f64,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let since = since.unwrap_or(now);
        if in_state {
            self.pending_since = Some(since);
            let due = since + Duration::seconds(i64::from(on_delay_secs));
            if !self.active && now >= due {
                self.active = true;
                self.pending_since = None;
                return Some(Transition::Raise {
                    at: due,
                    value: code,
                });
            }
        } else {
            self.pending_since = None;
            if self.active {
                self.active = false;
                return Some(Transition::Clear {
                    at: since,
                    value: code,
                });
            }
        }
        None
    }

    /// Checks the wall clock: a stale rule raises when no sample came for `after_secs`.
    /// Other conditions never change on a tick.
    pub fn tick(&mut self, condition: &Condition, now: DateTime<Utc>) -> Option<Transition> {
        let Condition::Stale { after_secs } = condition else {
            return None;
        };
        let last = self.last_time?;
        let after = Duration::seconds(i64::from(*after_secs));
        if self.active || now - last <= after {
            return None;
        }
        self.active = true;
        Some(Transition::Raise {
            at: last + after,
            value: (now - last).num_milliseconds() as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn run(
        c: &Condition,
        delay: u32,
        state: &mut RuleState,
        samples: &[(i64, f64)],
    ) -> Vec<Transition> {
        samples
            .iter()
            .filter_map(|&(s, v)| state.observe(c, delay, at(s), v))
            .collect()
    }

    #[test]
    fn high_threshold_clears_only_past_the_deadband() {
        let c = Condition::High {
            limit: 80.0,
            deadband: 5.0,
        };
        let mut s = RuleState::default();
        let t = run(
            &c,
            0,
            &mut s,
            &[
                (0, 70.0),
                (1, 81.0),
                (2, 79.0),
                (3, 76.0),
                (4, 82.0),
                (5, 74.9),
            ],
        );
        assert_eq!(
            t,
            vec![
                Transition::Raise {
                    at: at(1),
                    value: 81.0
                },
                Transition::Clear {
                    at: at(5),
                    value: 74.9
                },
            ]
        );
        assert!(!s.active);
    }

    #[test]
    fn low_threshold_mirrors_high() {
        let c = Condition::Low {
            limit: 10.0,
            deadband: 1.0,
        };
        let mut s = RuleState::default();
        let t = run(&c, 0, &mut s, &[(0, 9.0), (1, 10.5), (2, 11.5)]);
        assert_eq!(t.len(), 2);
        assert!(matches!(t[0], Transition::Raise { value, .. } if value == 9.0));
        assert!(matches!(t[1], Transition::Clear { value, .. } if value == 11.5));
    }

    #[test]
    fn on_delay_needs_the_condition_to_hold_throughout() {
        let c = Condition::High {
            limit: 80.0,
            deadband: 0.0,
        };
        let mut s = RuleState::default();
        // Breaches for 4 s, dips, then holds for 5 s: raised at the fifth second of the second run.
        let t = run(
            &c,
            5,
            &mut s,
            &[
                (0, 85.0),
                (4, 85.0),
                (5, 70.0),
                (6, 85.0),
                (9, 85.0),
                (11, 86.0),
                (12, 86.0),
            ],
        );
        assert_eq!(
            t,
            vec![Transition::Raise {
                at: at(11),
                value: 86.0
            }]
        );
    }

    #[test]
    fn out_of_order_and_repeated_samples_are_ignored() {
        let c = Condition::High {
            limit: 80.0,
            deadband: 0.0,
        };
        let mut s = RuleState::default();
        assert!(run(&c, 0, &mut s, &[(10, 50.0)]).is_empty());
        // An old breach arriving late does not raise; the same sample again changes nothing.
        assert!(run(&c, 0, &mut s, &[(5, 99.0), (10, 99.0)]).is_empty());
        let t = run(&c, 0, &mut s, &[(11, 99.0), (8, 10.0), (11, 10.0)]);
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(s.active);
        assert_eq!(s.last_time, Some(at(11)));
    }

    #[test]
    fn rate_of_change_over_its_window() {
        let c = Condition::RateOfChange {
            limit_per_min: 6.0,
            window_secs: 10,
            deadband: 1.0,
        };
        let mut s = RuleState::default();
        // 0.05 per second = 3 per minute: fine.
        let slow: Vec<(i64, f64)> = (0..30).map(|i| (i, i as f64 * 0.05)).collect();
        assert!(run(&c, 0, &mut s, &slow).is_empty());
        // Then 0.2 per second = 12 per minute: raised once the window sees it.
        let fast: Vec<(i64, f64)> = (30..50).map(|i| (i, 1.5 + (i - 29) as f64 * 0.2)).collect();
        let t = run(&c, 0, &mut s, &fast);
        assert_eq!(t.len(), 1, "{t:?}");
        let Transition::Raise { value, .. } = t[0] else {
            panic!("{t:?}")
        };
        assert!(value > 6.0, "{value}");
        // Flat again: the rate falls under 5 per minute and it clears.
        let flat: Vec<(i64, f64)> = (50..70).map(|i| (i, 5.5)).collect();
        let t = run(&c, 0, &mut s, &flat);
        assert!(matches!(t.as_slice(), [Transition::Clear { .. }]), "{t:?}");
        assert!(s.window.len() <= 12, "{}", s.window.len());
    }

    #[test]
    fn stale_raises_on_the_clock_and_clears_with_data() {
        let c = Condition::Stale { after_secs: 30 };
        let mut s = RuleState::watching_from(at(0));
        assert_eq!(s.tick(&c, at(30)), None);
        assert_eq!(
            s.tick(&c, at(31)),
            Some(Transition::Raise {
                at: at(30),
                value: 31.0
            })
        );
        assert_eq!(s.tick(&c, at(40)), None, "raised once");
        // A sample older than the watch start is no news.
        assert_eq!(s.observe(&c, 0, at(-5), 1.0), None);
        assert!(matches!(
            s.observe(&c, 0, at(41), 1.0),
            Some(Transition::Clear { .. })
        ));
        assert_eq!(s.tick(&c, at(60)), None);
        assert!(s.tick(&c, at(72)).is_some());
    }

    #[test]
    fn fault_state_raises_after_its_delay_and_clears_at_code_zero() {
        let c = Condition::MachineState {
            state: "fault".into(),
        };
        let mut s = RuleState::default();
        let t = run(
            &c,
            10,
            &mut s,
            &[(0, 0.0), (1, 3.0), (6, 3.0), (11, 3.0), (12, 0.0)],
        );
        assert_eq!(
            t,
            vec![
                Transition::Raise {
                    at: at(11),
                    value: 3.0
                },
                Transition::Clear {
                    at: at(12),
                    value: 0.0
                }
            ]
        );
    }

    #[test]
    fn machine_state_rules_follow_the_state_intervals() {
        let mut s = RuleState::default();
        // In fault since t=0, 20 s on-delay: nothing at 10 s, raised at 20 s when seen at 25 s.
        assert_eq!(s.observe_state(20, true, Some(at(0)), 101.0, at(10)), None);
        assert_eq!(
            s.observe_state(20, true, Some(at(0)), 101.0, at(25)),
            Some(Transition::Raise {
                at: at(20),
                value: 101.0
            })
        );
        assert_eq!(s.observe_state(20, true, Some(at(0)), 101.0, at(30)), None);
        // Running again since 40 s: cleared then.
        assert_eq!(
            s.observe_state(20, false, Some(at(40)), 0.0, at(45)),
            Some(Transition::Clear {
                at: at(40),
                value: 0.0
            })
        );
        // A short fault (5 s) never raises.
        assert_eq!(s.observe_state(20, true, Some(at(50)), 102.0, at(55)), None);
        assert_eq!(s.observe_state(20, false, Some(at(55)), 0.0, at(60)), None);
    }

    #[test]
    fn the_state_survives_a_checkpoint() {
        let c = Condition::High {
            limit: 80.0,
            deadband: 5.0,
        };
        let mut s = RuleState::default();
        run(&c, 0, &mut s, &[(0, 90.0)]);
        let saved = serde_json::to_value(&s).unwrap();
        let mut restored: RuleState = serde_json::from_value(saved).unwrap();
        assert_eq!(restored, s);
        // Still active after the restart: no second raise, and it clears as before.
        assert!(run(&c, 0, &mut restored, &[(1, 95.0)]).is_empty());
        assert!(matches!(
            run(&c, 0, &mut restored, &[(2, 70.0)]).as_slice(),
            [Transition::Clear { .. }]
        ));
    }
}
