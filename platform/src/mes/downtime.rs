//! Downtime: every stretch of non-running time inside planned busy time is a stop. Stops
//! shorter than the machine's minor-stop threshold are minor stops: counted and summed, not
//! itemised, and (per the six big losses) a performance loss, so their time stays in run time.
//! Longer ones are downtime events, an availability loss, each with a reason.
//!
//! Reasons are a tenant's reason codes, each in one [`Category`]; until someone assigns one, an
//! event carries the reason its state suggests (a fault or a down machine with a fault code:
//! breakdown; setup: setup/changeover; down with no code: planned maintenance), else the reason
//! a model alarm over it suggests (a failure, anomaly or remaining-life alarm open during an
//! idle or unexplained stop: breakdown, naming the alarm), or none.
//! Operators assign a reason to a time span of a machine; assigning two spans of one event
//! splits it. Assignments are kept by time, so they survive a recomputation of the states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{MachineState, StateInterval};
use super::Span;

/// What kind of stop a reason code is.
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
pub enum Category {
    /// Equipment failure.
    Breakdown,
    /// Setup, changeover, adjustment.
    Setup,
    /// No material to work on.
    MaterialShortage,
    /// Nobody to run the machine.
    NoOperator,
    /// Held for a quality check.
    QualityHold,
    /// Maintenance planned inside production time.
    PlannedMaintenance,
    /// A short stop (below the threshold).
    MinorStop,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 7] = [
        Category::Breakdown,
        Category::Setup,
        Category::MaterialShortage,
        Category::NoOperator,
        Category::QualityHold,
        Category::PlannedMaintenance,
        Category::MinorStop,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Breakdown => "breakdown",
            Category::Setup => "setup",
            Category::MaterialShortage => "material_shortage",
            Category::NoOperator => "no_operator",
            Category::QualityHold => "quality_hold",
            Category::PlannedMaintenance => "planned_maintenance",
            Category::MinorStop => "minor_stop",
        }
    }

    /// The category named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Which of the six big losses it counts in.
    pub fn big_loss(self) -> BigLoss {
        match self {
            Category::Breakdown | Category::MaterialShortage | Category::NoOperator => {
                BigLoss::UnplannedStops
            }
            Category::Setup | Category::QualityHold | Category::PlannedMaintenance => {
                BigLoss::PlannedStops
            }
            Category::MinorStop => BigLoss::SmallStops,
        }
    }
}

/// The six big losses (as production people name them today): two of availability, two of
/// performance, two of quality.
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
pub enum BigLoss {
    /// Breakdowns, shortages, no operator, and stops nobody explained (availability).
    UnplannedStops,
    /// Setups, changeovers, quality holds, planned maintenance (availability).
    PlannedStops,
    /// Minor stops (performance).
    SmallStops,
    /// Running slower than the ideal cycle (performance).
    SlowCycles,
    /// Rejects in steady production (quality).
    ProductionRejects,
    /// Rejects while starting up (quality; not told apart from production rejects here).
    StartupRejects,
}

/// The default reason codes each new tenant gets: `(code, name, category)`.
pub const DEFAULT_REASONS: [(&str, &str, Category); 8] = [
    ("BRK", "Breakdown", Category::Breakdown),
    ("SET", "Setup / changeover", Category::Setup),
    ("MAT", "Material shortage", Category::MaterialShortage),
    ("OPR", "No operator", Category::NoOperator),
    ("QHD", "Quality hold", Category::QualityHold),
    ("PMT", "Planned maintenance", Category::PlannedMaintenance),
    ("MIN", "Minor stop", Category::MinorStop),
    ("NDT", "No data (unexplained)", Category::Breakdown),
];

/// The reason a stop in `state` with fault `code` suggests.
pub fn suggested(state: MachineState, code: i64) -> Option<Category> {
    match state {
        MachineState::Fault => Some(Category::Breakdown),
        MachineState::Down if code != 0 => Some(Category::Breakdown),
        MachineState::Down => Some(Category::PlannedMaintenance),
        MachineState::Setup => Some(Category::Setup),
        MachineState::Idle | MachineState::Unknown | MachineState::Running => None,
    }
}

/// A model alarm (kinds `failure`, `anomaly`, `rul`) over part of a machine's time: the models
/// saw the machine failing or behaving abnormally then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlarmHint {
    /// From its raising to its clearing (or the end of the range while open).
    pub span: Span,
    /// The alarm.
    pub alarm_id: i64,
}

/// The reason a stop in `state` with fault `code` over `span` suggests, and the model alarm
/// behind it: the state's own suggestion first; else, for a stop the state does not explain
/// (idle, unknown), a breakdown when a model alarm (sorted by start) overlaps it.
pub fn suggested_with_alarms(
    state: MachineState,
    code: i64,
    span: &Span,
    alarms: &[AlarmHint],
) -> (Option<Category>, Option<i64>) {
    if let Some(c) = suggested(state, code) {
        return (Some(c), None);
    }
    if state == MachineState::Running {
        return (None, None);
    }
    match alarms.iter().find(|a| a.span.intersect(span).is_some()) {
        Some(a) => (Some(Category::Breakdown), Some(a.alarm_id)),
        None => (None, None),
    }
}

/// A reason assigned to a span of a machine's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The span.
    pub span: Span,
    /// The reason code's id.
    pub reason_id: i64,
    /// The reason code's category.
    pub category: Category,
}

/// A part of a downtime event with one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    /// The span.
    pub span: Span,
    /// The reason assigned, if any.
    pub reason_id: Option<i64>,
    /// Its category: assigned, else suggested, else none (an unexplained stop).
    pub category: Option<Category>,
}

/// One itemised stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DowntimeEvent {
    /// When, inside planned time.
    pub span: Span,
    /// The machine's state then.
    pub state: MachineState,
    /// Its fault code (0 when none).
    pub code: i64,
    /// What the state (or a model alarm) suggests.
    pub suggested: Option<Category>,
    /// The model alarm behind the suggestion, when the state did not explain the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_by_alarm: Option<i64>,
    /// The event by reason, in order (one segment unless split).
    pub segments: Vec<Segment>,
}

/// Minor stops: counted, not itemised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MinorStops {
    /// How many.
    pub count: u32,
    /// Their total seconds.
    pub secs: f64,
}

/// Downtime of a machine over planned time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Downtime {
    /// Itemised events, in order.
    pub events: Vec<DowntimeEvent>,
    /// Minor stops.
    pub minor: MinorStops,
}

/// Downtime events from a machine's `timeline` (gap-free, see `state::timeline`) inside
/// `planned` (sorted), with stops under `minor_secs` counted as minor stops and `assignments`
/// (sorted by start) laid over the events.
///
/// Consecutive non-running intervals (fault, then down for the repair) make separate events,
/// since each has its own suggested reason; a stop cut by a break makes one event each side.
pub fn downtime(
    timeline: &[StateInterval],
    planned: &[Span],
    minor_secs: f64,
    assignments: &[Assignment],
) -> Downtime {
    downtime_with_alarms(timeline, planned, minor_secs, assignments, &[])
}

/// [`downtime`] with the machine's model alarms (sorted by start) suggesting a reason for the
/// stops its states do not explain (see [`suggested_with_alarms`]).
pub fn downtime_with_alarms(
    timeline: &[StateInterval],
    planned: &[Span],
    minor_secs: f64,
    assignments: &[Assignment],
    alarms: &[AlarmHint],
) -> Downtime {
    let mut out = Downtime::default();
    for iv in timeline {
        if iv.state == MachineState::Running {
            continue;
        }
        let Some(end) = iv.end else { continue };
        let span = Span::new(iv.start, end);
        for piece in super::clip(&span, planned) {
            if piece.secs() < minor_secs {
                out.minor.count += 1;
                out.minor.secs += piece.secs();
                continue;
            }
            let (suggested, suggested_by_alarm) =
                suggested_with_alarms(iv.state, iv.code, &piece, alarms);
            out.events.push(DowntimeEvent {
                span: piece,
                state: iv.state,
                code: iv.code,
                suggested,
                suggested_by_alarm,
                segments: segments(piece, suggested, assignments),
            });
        }
    }
    out
}

/// `span` cut by the assignments over it; uncovered parts keep the suggestion.
fn segments(span: Span, suggested: Option<Category>, assignments: &[Assignment]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cursor = span.start;
    let unassigned = |s: Span| Segment {
        span: s,
        reason_id: None,
        category: suggested,
    };
    for a in assignments {
        let Some(part) = a.span.intersect(&span) else {
            continue;
        };
        if part.start < cursor {
            continue; // overlapping assignments: the earlier one wins
        }
        if part.start > cursor {
            out.push(unassigned(Span::new(cursor, part.start)));
        }
        out.push(Segment {
            span: part,
            reason_id: Some(a.reason_id),
            category: Some(a.category),
        });
        cursor = part.end;
    }
    if cursor < span.end {
        out.push(unassigned(Span::new(cursor, span.end)));
    }
    out
}

/// Seconds of downtime by category (`None`: unexplained) over `events`.
pub fn by_category(events: &[DowntimeEvent]) -> Vec<(Option<Category>, f64)> {
    let mut m: std::collections::BTreeMap<Option<Category>, f64> = Default::default();
    for e in events {
        for s in &e.segments {
            *m.entry(s.category).or_default() += s.span.secs();
        }
    }
    m.into_iter().collect()
}

/// Whether the instant lies in any of `spans`.
pub fn inside(t: DateTime<Utc>, spans: &[Span]) -> bool {
    spans.iter().any(|s| s.start <= t && t < s.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(m: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + m * 60, 0).unwrap()
    }

    fn iv(a: i64, b: i64, state: MachineState, code: i64) -> StateInterval {
        StateInterval {
            start: t(a),
            end: Some(t(b)),
            state,
            code,
        }
    }

    #[test]
    fn stops_in_planned_time_become_events_or_minor_stops() {
        use MachineState::*;
        let tl = vec![
            iv(0, 10, Running, 0),
            iv(10, 12, Idle, 0), // 2 min: minor
            iv(12, 20, Running, 0),
            iv(20, 50, Fault, 101), // 30 min, cut by a break 40-45
            iv(50, 55, Down, 101),  // 5 min: the repair
            iv(55, 60, Running, 0),
        ];
        let planned = vec![Span::new(t(0), t(40)), Span::new(t(45), t(60))];
        let d = downtime(&tl, &planned, 300.0, &[]);
        assert_eq!(
            d.minor,
            MinorStops {
                count: 1,
                secs: 120.0
            }
        );
        let spans: Vec<(Span, Option<Category>)> =
            d.events.iter().map(|e| (e.span, e.suggested)).collect();
        assert_eq!(
            spans,
            vec![
                (Span::new(t(20), t(40)), Some(Category::Breakdown)),
                (Span::new(t(45), t(50)), Some(Category::Breakdown)),
                (Span::new(t(50), t(55)), Some(Category::Breakdown)),
            ]
        );
    }

    #[test]
    fn model_alarms_suggest_a_breakdown_for_stops_the_state_does_not_explain() {
        use MachineState::*;
        let tl = vec![
            iv(0, 10, Idle, 0),     // before the alarm: unexplained
            iv(10, 20, Running, 0), // the alarm is raised while running
            iv(20, 30, Idle, 0),    // during it: a breakdown, by the alarm
            iv(30, 40, Fault, 502), // the state explains it: no alarm named
            iv(40, 50, Unknown, 0), // no data during the alarm: by the alarm
            iv(50, 60, Down, 0),    // planned maintenance stays planned
            iv(60, 70, Idle, 0),    // after the alarm cleared: unexplained
        ];
        let planned = vec![Span::new(t(0), t(70))];
        let alarms = [AlarmHint {
            span: Span::new(t(15), t(55)),
            alarm_id: 42,
        }];
        let d = downtime_with_alarms(&tl, &planned, 300.0, &[], &alarms);
        let got: Vec<(i64, Option<Category>, Option<i64>)> = d
            .events
            .iter()
            .map(|e| {
                (
                    (e.span.start - t(0)).num_minutes(),
                    e.segments[0].category,
                    e.suggested_by_alarm,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, None, None),
                (20, Some(Category::Breakdown), Some(42)),
                (30, Some(Category::Breakdown), None),
                (40, Some(Category::Breakdown), Some(42)),
                (50, Some(Category::PlannedMaintenance), None),
                (60, None, None),
            ]
        );
        // Without alarms, as before.
        let plain = downtime(&tl, &planned, 300.0, &[]);
        assert_eq!(plain.events[1].suggested, None);
        assert!(plain.events.iter().all(|e| e.suggested_by_alarm.is_none()));
    }

    #[test]
    fn assignments_split_an_event() {
        let tl = vec![iv(0, 30, MachineState::Idle, 0)];
        let planned = vec![Span::new(t(0), t(60))];
        let a = vec![
            Assignment {
                span: Span::new(t(0), t(10)),
                reason_id: 7,
                category: Category::MaterialShortage,
            },
            Assignment {
                span: Span::new(t(20), t(40)),
                reason_id: 8,
                category: Category::NoOperator,
            },
        ];
        let d = downtime(&tl, &planned, 300.0, &a);
        let segs: Vec<(i64, i64, Option<i64>, Option<Category>)> = d.events[0]
            .segments
            .iter()
            .map(|s| {
                (
                    (s.span.start - t(0)).num_minutes(),
                    (s.span.end - t(0)).num_minutes(),
                    s.reason_id,
                    s.category,
                )
            })
            .collect();
        assert_eq!(
            segs,
            vec![
                (0, 10, Some(7), Some(Category::MaterialShortage)),
                (10, 20, None, None),
                (20, 30, Some(8), Some(Category::NoOperator)),
            ]
        );
        let cats = by_category(&d.events);
        assert_eq!(
            cats,
            vec![
                (None, 600.0),
                (Some(Category::MaterialShortage), 600.0),
                (Some(Category::NoOperator), 600.0)
            ]
        );
    }
}
