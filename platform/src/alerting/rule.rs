//! What an alarm rule says: its condition, on-delay, severity and message template, and the
//! checks a rule must pass before it is stored (each failure names the field at fault).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How urgent an alarm is, lowest first (ISA-18.2 style priorities).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Act within the shift.
    Medium,
    /// Act now.
    High,
    /// Stop the machine or call someone.
    Critical,
}

impl Severity {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The severity of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

/// What makes a rule's alarm active. Thresholds and the rate of change clear with hysteresis:
/// the value must come back past the limit by the deadband.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Value above `limit`; clears below `limit - deadband`.
    High {
        /// The limit.
        limit: f64,
        /// Hysteresis, ≥ 0 (default 0).
        #[serde(default)]
        deadband: f64,
    },
    /// Value below `limit`; clears above `limit + deadband`.
    Low {
        /// The limit.
        limit: f64,
        /// Hysteresis, ≥ 0 (default 0).
        #[serde(default)]
        deadband: f64,
    },
    /// The value changes faster than `limit_per_min` (either direction, per minute), measured
    /// over the last `window_secs` of samples; clears below `limit_per_min - deadband`.
    RateOfChange {
        /// Largest allowed change per minute, > 0.
        limit_per_min: f64,
        /// The span the rate is measured over, 2 to 3600 seconds (default 60).
        #[serde(default = "default_window")]
        window_secs: u32,
        /// Hysteresis, ≥ 0 and below the limit (default 0).
        #[serde(default)]
        deadband: f64,
    },
    /// No sample arrived for `after_secs` seconds (the server's clock, so a connector's
    /// clock does not matter); clears with the next sample.
    Stale {
        /// Seconds without data, 1 to 604800.
        after_secs: u32,
    },
    /// The machine has been in `state` (as the MES state builder derives it: `running`,
    /// `idle`, `down`, `fault`, `setup`, `unknown`) for longer than the rule's on-delay;
    /// clears when it leaves that state. The rule's tags pick the machines.
    MachineState {
        /// The state, e.g. `fault`.
        state: String,
    },
}

fn default_window() -> u32 {
    60
}

impl Condition {
    /// The condition's name as stored and in the API (`high`, `low`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::High { .. } => "high",
            Self::Low { .. } => "low",
            Self::RateOfChange { .. } => "rate_of_change",
            Self::Stale { .. } => "stale",
            Self::MachineState { .. } => "machine_state",
        }
    }

    /// The limit the message template calls `{limit}`.
    pub fn limit(&self) -> f64 {
        match self {
            Self::High { limit, .. } | Self::Low { limit, .. } => *limit,
            Self::RateOfChange { limit_per_min, .. } => *limit_per_min,
            Self::Stale { after_secs } => f64::from(*after_secs),
            Self::MachineState { .. } => 0.0,
        }
    }

    /// The message used when a rule gives none.
    pub fn default_message(&self) -> &'static str {
        match self {
            Self::High { .. } => "{machine} {tag} = {value} above {limit}",
            Self::Low { .. } => "{machine} {tag} = {value} below {limit}",
            Self::RateOfChange { .. } => {
                "{machine} {tag} changing {value} per minute, limit {limit}"
            }
            Self::Stale { .. } => "{machine} {tag}: no data for {limit} s",
            Self::MachineState { .. } => "{machine} in this state (code {value}) for {delay} s",
        }
    }

    /// Checks the condition's own fields; the error names the field under `condition`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let finite = |field: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err((field, "must be a finite number".to_string()))
            }
        };
        match self {
            Self::High { limit, deadband } | Self::Low { limit, deadband } => {
                finite("condition.limit", *limit)?;
                finite("condition.deadband", *deadband)?;
                if *deadband < 0.0 {
                    return Err(("condition.deadband", "must not be negative".into()));
                }
            }
            Self::RateOfChange {
                limit_per_min,
                window_secs,
                deadband,
            } => {
                finite("condition.limit_per_min", *limit_per_min)?;
                finite("condition.deadband", *deadband)?;
                if *limit_per_min <= 0.0 {
                    return Err(("condition.limit_per_min", "must be above 0".into()));
                }
                if *deadband < 0.0 || *deadband >= *limit_per_min {
                    return Err((
                        "condition.deadband",
                        "must be at least 0 and below limit_per_min".into(),
                    ));
                }
                if !(2..=3600).contains(window_secs) {
                    return Err(("condition.window_secs", "must be 2 to 3600".into()));
                }
            }
            Self::Stale { after_secs } => {
                if !(1..=604_800).contains(after_secs) {
                    return Err(("condition.after_secs", "must be 1 to 604800".into()));
                }
            }
            Self::MachineState { state } => {
                if crate::mes::state::MachineState::parse(state).is_none() {
                    return Err((
                        "condition.state",
                        "must be running, idle, down, fault, setup or unknown".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The placeholders a message template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "machine", "tag", "value", "limit", "unit", "rule", "severity", "delay",
];

/// Checks a message template: at most 500 characters, balanced braces, known placeholders.
pub fn validate_template(template: &str) -> Result<(), String> {
    if template.trim().is_empty() || template.chars().count() > 500 {
        return Err("must be 1 to 500 characters".into());
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "has a `{` without its `}`".to_string())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; use {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("has a `}` without its `{`".into());
    }
    Ok(())
}

/// What a template's placeholders stand for in one alarm.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// The machine's name.
    pub machine: &'a str,
    /// The tag's name.
    pub tag: &'a str,
    /// The tag's unit.
    pub unit: &'a str,
    /// The rule's name.
    pub rule: &'a str,
    /// The severity.
    pub severity: Severity,
    /// The value that raised the alarm (the rate for a rate-of-change rule).
    pub value: f64,
    /// The limit crossed.
    pub limit: f64,
    /// The on-delay in seconds.
    pub delay: u32,
}

/// A number as people read it: at most three decimals, no trailing zeros.
pub fn format_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Renders a (validated) template.
pub fn render(template: &str, c: &MessageContext<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        match &after[..close] {
            "machine" => out.push_str(c.machine),
            "tag" => out.push_str(c.tag),
            "unit" => out.push_str(c.unit),
            "rule" => out.push_str(c.rule),
            "severity" => out.push_str(c.severity.as_str()),
            "value" => out.push_str(&format_number(c.value)),
            "limit" => out.push_str(&format_number(c.limit)),
            "delay" => out.push_str(&c.delay.to_string()),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_every_placeholder() {
        let c = MessageContext {
            machine: "imm-1",
            tag: "barrel_temp",
            unit: "°C",
            rule: "hot barrel",
            severity: Severity::High,
            value: 231.25,
            limit: 230.0,
            delay: 10,
        };
        let t = "{machine} {tag} = {value} {unit} above {limit} ({rule}, {severity}, {delay} s)";
        validate_template(t).unwrap();
        assert_eq!(
            render(t, &c),
            "imm-1 barrel_temp = 231.25 °C above 230 (hot barrel, high, 10 s)"
        );
        assert_eq!(format_number(-0.0001), "0");
        assert_eq!(format_number(1.0 / 3.0), "0.333");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(validate_template("{machine} {colour}")
            .unwrap_err()
            .contains("{colour}"));
        assert!(validate_template("{machine").unwrap_err().contains('}'));
        assert!(validate_template("machine}").unwrap_err().contains('{'));
        assert!(validate_template(" ").is_err());
        assert!(validate_template(&"x".repeat(501)).is_err());
    }

    #[test]
    fn conditions_parse_from_json_and_name_bad_fields() {
        let c: Condition =
            serde_json::from_str(r#"{"type":"high","limit":80,"deadband":2}"#).unwrap();
        assert_eq!(
            c,
            Condition::High {
                limit: 80.0,
                deadband: 2.0
            }
        );
        let r: Condition =
            serde_json::from_str(r#"{"type":"rate_of_change","limit_per_min":5}"#).unwrap();
        assert_eq!(r.validate(), Ok(()));
        assert!(matches!(
            r,
            Condition::RateOfChange {
                window_secs: 60,
                ..
            }
        ));
        let bad = Condition::High {
            limit: 1.0,
            deadband: -1.0,
        };
        assert_eq!(bad.validate().unwrap_err().0, "condition.deadband");
        let bad = Condition::Stale { after_secs: 0 };
        assert_eq!(bad.validate().unwrap_err().0, "condition.after_secs");
        let bad = Condition::MachineState {
            state: "exploded".into(),
        };
        assert_eq!(bad.validate().unwrap_err().0, "condition.state");
        assert!(serde_json::from_str::<Condition>(r#"{"type":"high"}"#).is_err());
    }
}
