//! Constraints between options: a combination that is not allowed (`excludes`) or an option
//! value that needs another (`requires`). A configuration that breaks one is refused with a
//! reason that names both options and their values.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A test on one option's value in a configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The option's key.
    pub option: String,
    /// Holds when the value is one of these (choices, text); absent: any value.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "in")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub one_of: Option<Vec<Value>>,
    /// Holds when the number is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// Holds when the number is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

impl Condition {
    /// Whether `config` satisfies it (an option that is not set satisfies nothing).
    pub fn holds(&self, config: &Map<String, Value>) -> bool {
        let Some(v) = config.get(&self.option) else {
            return false;
        };
        if let Some(set) = &self.one_of {
            if !set.iter().any(|x| same(x, v)) {
                return false;
            }
        }
        if let Some(min) = self.at_least {
            if !v.as_f64().is_some_and(|n| n >= min) {
                return false;
            }
        }
        if let Some(max) = self.at_most {
            if !v.as_f64().is_some_and(|n| n <= max) {
                return false;
            }
        }
        true
    }

    /// How people read it: `fabric = linen`, `capacity_kg ≥ 9`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(set) = &self.one_of {
            let vals: Vec<String> = set.iter().map(show).collect();
            if vals.len() == 1 {
                parts.push(format!("{} = {}", self.option, vals[0]));
            } else {
                parts.push(format!("{} in [{}]", self.option, vals.join(", ")));
            }
        }
        if let Some(min) = self.at_least {
            parts.push(format!("{} >= {}", self.option, min));
        }
        if let Some(max) = self.at_most {
            parts.push(format!("{} <= {}", self.option, max));
        }
        if parts.is_empty() {
            format!("{} set", self.option)
        } else {
            parts.join(" and ")
        }
    }
}

/// Two JSON values equal as configuration values (numbers compared as numbers).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a constraint says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    /// When `if` holds, `then` must not.
    Excludes,
    /// When `if` holds, `then` must too.
    Requires,
}

/// A rule between two options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// Excludes or requires.
    pub kind: ConstraintKind,
    /// When this holds …
    #[serde(rename = "if")]
    pub when: Condition,
    /// … this must not (excludes) or must (requires).
    pub then: Condition,
    /// Why, for the consumer (optional; the refusal names the options either way).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A constraint a configuration breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The option the refusal is about (the second one named: the one to change).
    pub option: String,
    /// The reason, naming both options.
    pub detail: String,
}

impl Constraint {
    /// The violation, if `config` breaks this constraint.
    pub fn check(&self, config: &Map<String, Value>) -> Option<Violation> {
        if !self.when.holds(config) {
            return None;
        }
        let then = self.then.holds(config);
        let broken = match self.kind {
            ConstraintKind::Excludes => then,
            ConstraintKind::Requires => !then,
        };
        if !broken {
            return None;
        }
        let verb = match self.kind {
            ConstraintKind::Excludes => "cannot be combined with",
            ConstraintKind::Requires => "requires",
        };
        let mut detail = format!("{} {verb} {}", self.when.describe(), self.then.describe());
        if !self.reason.is_empty() {
            detail.push_str(": ");
            detail.push_str(&self.reason);
        }
        Some(Violation {
            option: self.then.option.clone(),
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn excludes_and_requires_name_both_options() {
        let c: Constraint = serde_json::from_value(json!({
            "kind": "excludes",
            "if": {"option": "fabric", "in": ["linen"]},
            "then": {"option": "collar", "in": ["button_down"]},
            "reason": "linen collars do not hold buttons"
        }))
        .unwrap();
        let bad = config(json!({"fabric": "linen", "collar": "button_down"}));
        let v = c.check(&bad).unwrap();
        assert_eq!(v.option, "collar");
        assert_eq!(
            v.detail,
            "fabric = linen cannot be combined with collar = button_down: linen collars do not hold buttons"
        );
        assert!(c
            .check(&config(
                json!({"fabric": "cotton", "collar": "button_down"})
            ))
            .is_none());

        let r: Constraint = serde_json::from_value(json!({
            "kind": "requires",
            "if": {"option": "capacity_kg", "at_least": 10},
            "then": {"option": "motor", "in": ["inverter"]}
        }))
        .unwrap();
        let v = r
            .check(&config(json!({"capacity_kg": 10, "motor": "belt"})))
            .unwrap();
        assert_eq!(v.detail, "capacity_kg >= 10 requires motor = inverter");
        assert!(r
            .check(&config(json!({"capacity_kg": 9, "motor": "belt"})))
            .is_none());
        assert!(r
            .check(&config(json!({"capacity_kg": 12.0, "motor": "inverter"})))
            .is_none());
    }
}
