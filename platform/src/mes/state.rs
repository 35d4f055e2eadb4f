//! Machine states and how they are derived from tags.
//!
//! A [`StateRule`] names, by their short names (the part after the machine's name, e.g.
//! `state` for the tag `imm-1.state`), the tags that tell a machine's state: a state tag whose
//! codes map to states, a fault-code tag (non-zero means fault), a speed tag (above a floor
//! means running), and the part and reject counters. No sample of any tag of the machine for
//! `stale_secs` makes the state `unknown` from `stale_secs` after the last sample (tags the
//! rule does not name count as [`Role::Alive`]: sources that report by exception send the
//! state tag only when it changes).
//!
//! Precedence: a mapped code of the state tag; else a non-zero fault code means `fault`; else
//! the speed decides between `running` and `idle`; else `unknown`.
//!
//! The [`Tracker`] is the incremental part: it keeps the latest signal values, the last
//! sample's time, the open interval and the counters' last values, so each round feeds it only
//! the samples that arrived since the last one and it never rescans history.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use super::counters::counter_delta;
use super::InvalidInput;

/// The state a machine is in.
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
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    /// Producing.
    Running,
    /// Ready but not producing (waiting for material, an operator, the next order).
    Idle,
    /// Stopped (repair, planned change) during what may be planned time.
    Down,
    /// Stopped by a fault.
    Fault,
    /// Being set up or changed over.
    Setup,
    /// No data.
    Unknown,
}

impl MachineState {
    /// Every state, in a fixed order.
    pub const ALL: [MachineState; 6] = [
        MachineState::Running,
        MachineState::Idle,
        MachineState::Down,
        MachineState::Fault,
        MachineState::Setup,
        MachineState::Unknown,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Running => "running",
            MachineState::Idle => "idle",
            MachineState::Down => "down",
            MachineState::Fault => "fault",
            MachineState::Setup => "setup",
            MachineState::Unknown => "unknown",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One code of a state tag and the state it means.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateCode {
    /// The tag's value.
    pub code: i64,
    /// The state it stands for.
    pub state: MachineState,
}

/// The counter width of the simulators' 32-bit counters.
pub const U32_MODULUS: f64 = 4_294_967_296.0;

/// How a machine class's (or one machine's) state and counts are read from its tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRule {
    /// Short name of the tag holding a state code (`state`).
    #[serde(default)]
    pub state_tag: Option<String>,
    /// What the state tag's codes mean; an unmapped code falls through to the fault and speed
    /// tags.
    #[serde(default)]
    pub state_codes: Vec<StateCode>,
    /// Short name of the fault-code tag: non-zero means `fault`.
    #[serde(default)]
    pub fault_tag: Option<String>,
    /// Short name of the speed tag: above `speed_floor` means `running`, else `idle`.
    #[serde(default)]
    pub speed_tag: Option<String>,
    /// The speed above which the machine runs.
    #[serde(default)]
    pub speed_floor: f64,
    /// Seconds without any sample after which the state is `unknown`.
    #[serde(default = "default_stale")]
    pub stale_secs: u32,
    /// Short name of the counter of parts made (good and rejected).
    #[serde(default)]
    pub part_counter_tag: Option<String>,
    /// Short name of the counter of rejected parts.
    #[serde(default)]
    pub reject_counter_tag: Option<String>,
    /// The value at which the counters wrap to 0 (`2^32` for 32-bit registers); none when they
    /// never wrap.
    #[serde(default)]
    pub counter_modulus: Option<f64>,
    /// Seconds per part at the ideal rate when no work order names a product.
    #[serde(default)]
    pub ideal_cycle_secs: Option<f64>,
    /// Stops shorter than this are minor stops: counted, not itemised.
    #[serde(default = "default_minor_stop")]
    pub minor_stop_secs: u32,
}

fn default_stale() -> u32 {
    30
}

fn default_minor_stop() -> u32 {
    300
}

impl StateRule {
    /// Checks the rule, naming the offending field.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.state_tag.is_none() && self.fault_tag.is_none() && self.speed_tag.is_none() {
            return Err(InvalidInput::new(
                "state_tag",
                "a rule needs at least one of state_tag, fault_tag or speed_tag",
            ));
        }
        for (name, field) in [
            ("state_tag", &self.state_tag),
            ("fault_tag", &self.fault_tag),
            ("speed_tag", &self.speed_tag),
            ("part_counter_tag", &self.part_counter_tag),
            ("reject_counter_tag", &self.reject_counter_tag),
        ] {
            if let Some(t) = field {
                if t.is_empty() || t.len() > 200 {
                    return Err(InvalidInput::new(name, "must be 1 to 200 characters"));
                }
            }
        }
        if !self.speed_floor.is_finite() {
            return Err(InvalidInput::new("speed_floor", "must be a finite number"));
        }
        if self.stale_secs == 0 || self.stale_secs > 86_400 {
            return Err(InvalidInput::new("stale_secs", "must be 1 to 86400"));
        }
        if self.minor_stop_secs > 86_400 {
            return Err(InvalidInput::new(
                "minor_stop_secs",
                "must be at most 86400",
            ));
        }
        if let Some(m) = self.counter_modulus {
            if !(m.is_finite() && m >= 2.0) {
                return Err(InvalidInput::new("counter_modulus", "must be at least 2"));
            }
        }
        if let Some(c) = self.ideal_cycle_secs {
            if !(c.is_finite() && c > 0.0) {
                return Err(InvalidInput::new("ideal_cycle_secs", "must be above 0"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.state_codes.iter().enumerate() {
            if !seen.insert(c.code) {
                return Err(InvalidInput::new(
                    format!("state_codes[{i}].code"),
                    "the same code twice",
                ));
            }
        }
        Ok(())
    }

    /// The short tag names this rule reads, with the role each plays.
    pub fn roles(&self) -> Vec<(Role, &str)> {
        [
            (Role::State, &self.state_tag),
            (Role::Fault, &self.fault_tag),
            (Role::Speed, &self.speed_tag),
            (Role::Parts, &self.part_counter_tag),
            (Role::Rejects, &self.reject_counter_tag),
        ]
        .into_iter()
        .filter_map(|(r, t)| t.as_deref().map(|t| (r, t)))
        .collect()
    }

    /// The state the signals mean now (staleness aside) and the fault code that goes with it
    /// (0 unless the machine is in fault or down with a code).
    pub fn derive(&self, s: &Signals) -> (MachineState, i64) {
        let fault = s.fault.map(|f| f as i64).unwrap_or(0);
        if let Some(code) = s.state {
            if let Some(m) = self
                .state_codes
                .iter()
                .find(|c| c.code as f64 == code.round())
            {
                let code = match m.state {
                    MachineState::Fault | MachineState::Down => fault,
                    _ => 0,
                };
                return (m.state, code);
            }
        }
        if self.fault_tag.is_some() && fault != 0 {
            return (MachineState::Fault, fault);
        }
        if let Some(speed) = s.speed {
            return if speed > self.speed_floor {
                (MachineState::Running, 0)
            } else {
                (MachineState::Idle, 0)
            };
        }
        (MachineState::Unknown, 0)
    }

    /// The default rule of a machine class: the simulators' classes read their `state`
    /// register (0 idle, 1 running, 2 down, 3 fault, 4 setup), `alarm_code`, a speed and the
    /// `part_counter` / `scrap_parts` 32-bit counters. Any other class gets the same
    /// register names without a speed (most PLCs in these plants publish them).
    pub fn default_for_class(class: &str) -> StateRule {
        let (speed, floor, ideal) = match class {
            "injection_moulding" => (Some("injection_pressure"), 1.0, 30.0),
            "press" => (Some("stroke_rate"), 1.0, 2.0),
            "sewing" => (Some("stitches_per_minute"), 50.0, 24.0),
            "cutting_table" => (Some("cut_speed"), 1.0, 90.0),
            "cnc" => (Some("spindle_speed"), 100.0, 240.0),
            _ => (None, 0.0, 60.0),
        };
        StateRule {
            state_tag: Some("state".into()),
            state_codes: vec![
                StateCode {
                    code: 0,
                    state: MachineState::Idle,
                },
                StateCode {
                    code: 1,
                    state: MachineState::Running,
                },
                StateCode {
                    code: 2,
                    state: MachineState::Down,
                },
                StateCode {
                    code: 3,
                    state: MachineState::Fault,
                },
                // The simulators' planned changeovers (a CNC's tool change).
                StateCode {
                    code: 4,
                    state: MachineState::Setup,
                },
            ],
            fault_tag: Some("alarm_code".into()),
            speed_tag: speed.map(str::to_string),
            speed_floor: floor,
            stale_secs: 30,
            part_counter_tag: Some("part_counter".into()),
            reject_counter_tag: Some("scrap_parts".into()),
            counter_modulus: Some(U32_MODULUS),
            ideal_cycle_secs: Some(ideal),
            minor_stop_secs: 300,
        }
    }
}

/// Which signal a sample feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The state code.
    State,
    /// The fault code.
    Fault,
    /// The speed.
    Speed,
    /// The part counter.
    Parts,
    /// The reject counter.
    Rejects,
    /// Any other tag of the machine: its samples only show the machine is reporting
    /// (sources that report by exception send the state tag only when it changes).
    Alive,
}

/// The latest value of each signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// State code.
    pub state: Option<f64>,
    /// Fault code.
    pub fault: Option<f64>,
    /// Speed.
    pub speed: Option<f64>,
    /// Part counter.
    pub parts: Option<f64>,
    /// Reject counter.
    pub rejects: Option<f64>,
}

/// One sample as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalSample {
    /// When.
    pub time: DateTime<Utc>,
    /// What it feeds.
    pub role: Role,
    /// Its value.
    pub value: f64,
}

/// A stretch of time in one state. `end` is `None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInterval {
    /// When it began.
    pub start: DateTime<Utc>,
    /// When it ended (`None`: still open).
    pub end: Option<DateTime<Utc>>,
    /// The state.
    pub state: MachineState,
    /// The fault code with it (0 when none).
    pub code: i64,
}

/// Parts counted in the minute ending at `minute_end` (counted at times in
/// `(minute_end - 1 min, minute_end]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinuteCount {
    /// Parts made, good and rejected.
    pub produced: i64,
    /// Parts rejected.
    pub rejected: i64,
}

/// What one round of tracking produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackOutput {
    /// Intervals that ended in this round, oldest first.
    pub closed: Vec<StateInterval>,
    /// Counts by the end of their minute.
    pub counts: BTreeMap<DateTime<Utc>, MinuteCount>,
}

/// A machine's tracking state between rounds (stored as the machine's watermark).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    /// Latest value of each signal.
    pub signals: Signals,
    /// Time of the latest sample fed.
    pub last_seen: Option<DateTime<Utc>>,
    /// The interval still open: state, code, since.
    pub open: Option<(MachineState, i64, DateTime<Utc>)>,
    /// The interval [`Tracker::advance_to`] closed when it declared the machine unknown; a
    /// sample that arrives late but within `stale_secs` of the last one takes that back.
    #[serde(default)]
    pub before_stale: Option<(MachineState, i64, DateTime<Utc>)>,
}

impl Tracker {
    /// The interval still open, if any.
    pub fn open_interval(&self) -> Option<StateInterval> {
        self.open.map(|(state, code, start)| StateInterval {
            start,
            end: None,
            state,
            code,
        })
    }

    fn switch(&mut self, state: MachineState, code: i64, at: DateTime<Utc>, out: &mut TrackOutput) {
        match self.open {
            Some((s, c, _)) if s == state && c == code => {}
            Some((s, c, since)) => {
                if at > since {
                    out.closed.push(StateInterval {
                        start: since,
                        end: Some(at),
                        state: s,
                        code: c,
                    });
                    self.open = Some((state, code, at));
                } else {
                    // A change at the very instant the interval opened replaces it.
                    self.open = Some((state, code, since));
                }
            }
            None => self.open = Some((state, code, at)),
        }
    }

    /// Feeds samples newer than the last one fed (older ones are ignored), in any order.
    pub fn feed(&mut self, rule: &StateRule, samples: &[SignalSample], out: &mut TrackOutput) {
        let mut samples: Vec<SignalSample> = samples
            .iter()
            .copied()
            .filter(|s| s.value.is_finite() && self.last_seen.is_none_or(|l| s.time > l))
            .collect();
        samples.sort_by_key(|s| (s.time, s.role));
        let stale = Duration::seconds(i64::from(rule.stale_secs));
        let mut i = 0;
        while i < samples.len() {
            let t = samples[i].time;
            if let (Some(prev), Some((MachineState::Unknown, _, since))) =
                (self.before_stale.take(), self.open)
            {
                if t < since {
                    // Declared unknown too early (the samples were late): reopen what ran;
                    // its next closing replaces the end stored before.
                    self.open = Some(prev);
                }
            }
            if let Some(last) = self.last_seen {
                if t - last > stale {
                    self.switch(MachineState::Unknown, 0, last + stale, out);
                }
            }
            while i < samples.len() && samples[i].time == t {
                let s = samples[i];
                match s.role {
                    Role::State => self.signals.state = Some(s.value),
                    Role::Fault => self.signals.fault = Some(s.value),
                    Role::Speed => self.signals.speed = Some(s.value),
                    Role::Parts => {
                        if let Some(prev) = self.signals.parts {
                            let d = counter_delta(prev, s.value, rule.counter_modulus);
                            if d > 0 {
                                out.counts.entry(minute_end(t)).or_default().produced += d;
                            }
                        }
                        self.signals.parts = Some(s.value);
                    }
                    Role::Rejects => {
                        if let Some(prev) = self.signals.rejects {
                            let d = counter_delta(prev, s.value, rule.counter_modulus);
                            if d > 0 {
                                out.counts.entry(minute_end(t)).or_default().rejected += d;
                            }
                        }
                        self.signals.rejects = Some(s.value);
                    }
                    Role::Alive => {}
                }
                i += 1;
            }
            let (state, code) = rule.derive(&self.signals);
            self.switch(state, code, t, out);
            self.last_seen = Some(t);
        }
    }

    /// Declares that no sample up to `now` is missing: if the last one is older than
    /// `stale_secs`, the machine is `unknown` from `stale_secs` after it.
    pub fn advance_to(&mut self, rule: &StateRule, now: DateTime<Utc>, out: &mut TrackOutput) {
        let stale = Duration::seconds(i64::from(rule.stale_secs));
        if let Some(last) = self.last_seen {
            if now - last > stale && self.open.is_some_and(|o| o.0 != MachineState::Unknown) {
                self.before_stale = self.open;
                self.switch(MachineState::Unknown, 0, last + stale, out);
            }
        }
    }
}

/// The end of the minute `t` is counted in: `t` itself on a whole minute, else the next whole
/// minute (windows `(end - 1 min, end]`).
pub fn minute_end(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.duration_trunc(Duration::minutes(1)).unwrap_or(t);
    if floor == t {
        t
    } else {
        floor + Duration::minutes(1)
    }
}

/// Fills `[from, to)` with the given intervals (sorted by start), clipped to it, and
/// `unknown` wherever none covers: the machine's whole timeline over the range. An open
/// interval runs to `to`.
pub fn timeline(
    intervals: &[StateInterval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<StateInterval> {
    let mut out = Vec::new();
    let mut cursor = from;
    for iv in intervals {
        let end = iv.end.unwrap_or(to).min(to);
        let start = iv.start.max(cursor);
        if end <= start {
            continue;
        }
        if start > cursor {
            out.push(StateInterval {
                start: cursor,
                end: Some(start),
                state: MachineState::Unknown,
                code: 0,
            });
        }
        out.push(StateInterval {
            start,
            end: Some(end),
            state: iv.state,
            code: iv.code,
        });
        cursor = end;
    }
    if cursor < to {
        out.push(StateInterval {
            start: cursor,
            end: Some(to),
            state: MachineState::Unknown,
            code: 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_040 + s, 0).unwrap()
    }

    fn sample(s: i64, role: Role, value: f64) -> SignalSample {
        SignalSample {
            time: t(s),
            role,
            value,
        }
    }

    #[test]
    fn codes_take_precedence_then_fault_then_speed() {
        let rule = StateRule::default_for_class("press");
        let mut s = Signals {
            state: Some(1.0),
            fault: Some(0.0),
            speed: Some(30.0),
            ..Default::default()
        };
        assert_eq!(rule.derive(&s), (MachineState::Running, 0));
        s.state = Some(3.0);
        s.fault = Some(201.0);
        assert_eq!(rule.derive(&s), (MachineState::Fault, 201));
        s.state = Some(2.0);
        assert_eq!(rule.derive(&s), (MachineState::Down, 201));
        // The simulators' changeover (a CNC's tool change): setup, whatever the speed.
        let cnc = StateRule::default_for_class("cnc");
        let setup = Signals {
            state: Some(4.0),
            fault: Some(0.0),
            speed: Some(0.0),
            ..Default::default()
        };
        assert_eq!(cnc.derive(&setup), (MachineState::Setup, 0));
        assert_eq!(
            crate::mes::downtime::suggested(MachineState::Setup, 0),
            Some(crate::mes::downtime::Category::Setup)
        );
        s.state = Some(9.0); // unmapped: the fault code decides
        assert_eq!(rule.derive(&s), (MachineState::Fault, 201));
        s.fault = Some(0.0);
        assert_eq!(rule.derive(&s), (MachineState::Running, 0));
        s.speed = Some(0.5);
        assert_eq!(rule.derive(&s), (MachineState::Idle, 0));
        s.speed = None;
        assert_eq!(rule.derive(&s), (MachineState::Unknown, 0));
    }

    #[test]
    fn every_simulator_class_has_a_valid_default() {
        for class in [
            "injection_moulding",
            "press",
            "sewing",
            "cutting_table",
            "cnc",
            "other",
        ] {
            StateRule::default_for_class(class).validate().unwrap();
        }
        let mut bad = StateRule::default_for_class("press");
        bad.stale_secs = 0;
        assert_eq!(bad.validate().unwrap_err().field, "stale_secs");
        bad.stale_secs = 5;
        bad.state_codes.push(StateCode {
            code: 1,
            state: MachineState::Setup,
        });
        assert_eq!(bad.validate().unwrap_err().field, "state_codes[5].code");
    }

    #[test]
    fn intervals_build_incrementally_and_the_same_in_one_go() {
        let rule = StateRule {
            stale_secs: 10,
            ..StateRule::default_for_class("press")
        };
        let samples = vec![
            sample(0, Role::State, 1.0),
            sample(1, Role::State, 1.0),
            sample(2, Role::State, 3.0),
            sample(2, Role::Fault, 201.0),
            sample(5, Role::State, 1.0),
            sample(5, Role::Fault, 0.0),
            sample(6, Role::State, 1.0),
            // 30 s without data: unknown from 16 s.
            sample(36, Role::State, 0.0),
        ];
        let mut whole = Tracker::default();
        let mut a = TrackOutput::default();
        whole.feed(&rule, &samples, &mut a);
        let mut parts = Tracker::default();
        let mut b = TrackOutput::default();
        // Rounds cut at whole timestamps, as the store's rounds are (time <= cutoff).
        for cut in [1, 5, 20, 36] {
            let upto: Vec<SignalSample> = samples
                .iter()
                .copied()
                .filter(|s| s.time <= t(cut))
                .collect();
            parts.feed(&rule, &upto, &mut b);
        }
        // Old samples fed again change nothing.
        parts.feed(&rule, &samples[..4], &mut b);
        assert_eq!(a, b);
        assert_eq!(whole, parts);
        let got: Vec<(MachineState, i64, i64, i64)> = a
            .closed
            .iter()
            .map(|i| {
                (
                    i.state,
                    i.code,
                    i.start.timestamp() - t(0).timestamp(),
                    i.end.unwrap().timestamp() - t(0).timestamp(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (MachineState::Running, 0, 0, 2),
                (MachineState::Fault, 201, 2, 5),
                (MachineState::Running, 0, 5, 16),
                (MachineState::Unknown, 0, 16, 36),
            ]
        );
        assert_eq!(whole.open, Some((MachineState::Idle, 0, t(36))));
        let mut c = TrackOutput::default();
        whole.advance_to(&rule, t(40), &mut c);
        assert!(c.closed.is_empty(), "not stale yet");
        whole.advance_to(&rule, t(47), &mut c);
        assert_eq!(c.closed.len(), 1);
        assert_eq!(whole.open, Some((MachineState::Unknown, 0, t(46))));
    }

    #[test]
    fn a_premature_unknown_is_taken_back_by_late_samples() {
        let rule = StateRule {
            stale_secs: 10,
            ..StateRule::default_for_class("press")
        };
        let mut tr = Tracker::default();
        let mut out = TrackOutput::default();
        tr.feed(
            &rule,
            &[sample(0, Role::State, 1.0), sample(5, Role::State, 1.0)],
            &mut out,
        );
        tr.advance_to(&rule, t(30), &mut out);
        assert_eq!(tr.open, Some((MachineState::Unknown, 0, t(15))));
        // Samples at 6 s and 8 s arrive late: the machine ran, then faulted.
        tr.feed(
            &rule,
            &[sample(6, Role::State, 1.0), sample(8, Role::State, 3.0)],
            &mut out,
        );
        let ends: Vec<_> = out
            .closed
            .iter()
            .map(|i| (i.state, i.start, i.end))
            .collect();
        assert_eq!(
            ends,
            vec![
                (MachineState::Running, t(0), Some(t(15))),
                (MachineState::Running, t(0), Some(t(8))),
            ],
            "the second closing of the interval starting at 0 replaces the first"
        );
        assert_eq!(tr.open, Some((MachineState::Fault, 0, t(8))));
    }

    #[test]
    fn counters_count_per_minute_through_resets_and_wraps() {
        let rule = StateRule::default_for_class("press");
        let mut tr = Tracker::default();
        let mut out = TrackOutput::default();
        tr.feed(
            &rule,
            &[
                sample(0, Role::Parts, 100.0),
                sample(0, Role::Rejects, U32_MODULUS - 2.0),
                sample(30, Role::Parts, 104.0),
                sample(60, Role::Parts, 3.0),   // reset: 3 made since
                sample(60, Role::Rejects, 1.0), // wrapped: 3 rejects
                sample(90, Role::Parts, 5.0),
            ],
            &mut out,
        );
        // t(0) is a whole minute; t(30) counts in the minute ending at t(60).
        assert_eq!(
            out.counts.get(&t(60)),
            Some(&MinuteCount {
                produced: 7,
                rejected: 3
            })
        );
        assert_eq!(
            out.counts.get(&t(120)),
            Some(&MinuteCount {
                produced: 2,
                rejected: 0
            })
        );
        assert_eq!(out.counts.len(), 2);
    }

    #[test]
    fn the_timeline_fills_gaps_with_unknown() {
        let ivs = [
            StateInterval {
                start: t(10),
                end: Some(t(20)),
                state: MachineState::Running,
                code: 0,
            },
            StateInterval {
                start: t(20),
                end: None,
                state: MachineState::Idle,
                code: 0,
            },
        ];
        let tl = timeline(&ivs, t(0), t(30));
        let got: Vec<_> = tl
            .iter()
            .map(|i| (i.state, i.start, i.end.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (MachineState::Unknown, t(0), t(10)),
                (MachineState::Running, t(10), t(20)),
                (MachineState::Idle, t(20), t(30)),
            ]
        );
    }
}
