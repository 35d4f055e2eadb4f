//! Product templates and the configurator.
//!
//! A template lists the options a consumer sets (a choice among values, a number with a range
//! and a step, a text with a length and a character set), the constraints between them, the
//! prices ([`super::pricing`]), the quantity allowed and the routing: the line kinds (machine
//! classes) the product passes, in order, each with a setup time and an ideal cycle time per
//! unit that options may lengthen or shorten.
//!
//! [`Template::configure`] checks a configuration: every refusal names the option
//! (`configuration.collar`), and a broken constraint names both options and their values.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::constraint::{Condition, Constraint};
use super::pricing::QuantityBreak;
use super::InvalidInput;

/// A value a choice option may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// The value as configurations carry it (`linen`).
    pub value: String,
    /// How the shop shows it (`Irish linen`).
    #[serde(default)]
    pub label: String,
    /// What it adds to the unit price, in minor units (may be negative).
    #[serde(default)]
    pub price_minor: i64,
}

/// Characters a text option accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Charset {
    /// ASCII letters, space, `.`, `-`, `'`.
    Latin,
    /// `latin` and the digits.
    LatinDigits,
    /// Any printable character (CJK included), no control characters.
    Printable,
}

impl Charset {
    /// Whether `c` is in the set.
    pub fn allows(self, c: char) -> bool {
        let latin = c.is_ascii_alphabetic() || matches!(c, ' ' | '.' | '-' | '\'');
        match self {
            Charset::Latin => latin,
            Charset::LatinDigits => latin || c.is_ascii_digit(),
            Charset::Printable => !c.is_control(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Charset::Latin => "letters A-Z, a-z, space, '.', '-' and apostrophe",
            Charset::LatinDigits => "letters A-Z, a-z, digits, space, '.', '-' and apostrophe",
            Charset::Printable => "printable characters",
        }
    }
}

/// What kind of value an option takes, and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OptionKind {
    /// One of a list of values.
    Choice {
        /// The values.
        choices: Vec<Choice>,
    },
    /// A number in `[min, max]` on the grid `min + k·step`.
    Number {
        /// Smallest.
        min: f64,
        /// Largest.
        max: f64,
        /// Step (> 0).
        step: f64,
        /// Unit shown to people (`cm`, `kg`).
        #[serde(default)]
        unit: String,
        /// Added to the unit price per step above `min`, in minor units.
        #[serde(default)]
        price_minor_per_step: i64,
    },
    /// Free text.
    Text {
        /// Shortest (characters).
        #[serde(default)]
        min_length: u32,
        /// Longest (characters).
        max_length: u32,
        /// Characters allowed.
        charset: Charset,
        /// Added to the unit price when the text is not empty, in minor units.
        #[serde(default)]
        price_minor: i64,
    },
}

/// One option of a template (unknown fields are ignored here: serde cannot refuse them
/// beside a flattened kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptionDef {
    /// Its key in configurations (`fabric`), `[a-z0-9_]`, 1 to 50 characters.
    pub key: String,
    /// How the shop shows it.
    #[serde(default)]
    pub label: String,
    /// Whether a configuration must set it.
    #[serde(default = "yes")]
    pub required: bool,
    /// Its kind.
    #[serde(flatten)]
    pub kind: OptionKind,
}

fn yes() -> bool {
    true
}

/// A cycle-time change that applies when a condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleAdjustment {
    /// When this holds …
    #[serde(rename = "if")]
    pub when: Condition,
    /// … each unit takes this many seconds more (negative: less).
    #[serde(default)]
    pub add_secs: f64,
    /// … plus this many seconds per unit of the number option named in `when` (a bigger
    /// drum takes longer to assemble).
    #[serde(default)]
    pub secs_per_option_unit: f64,
}

/// One step of a product's routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingStep {
    /// The line kind: the machine class whose machines do this step (`sewing`, `cnc`).
    pub line_kind: String,
    /// Once per order (set-up, program load), seconds.
    #[serde(default)]
    pub setup_secs: f64,
    /// Ideal cycle time per unit, seconds.
    pub cycle_secs: f64,
    /// Option-dependent changes to the cycle time.
    #[serde(default)]
    pub adjustments: Vec<CycleAdjustment>,
}

/// How many units one order may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityRule {
    /// Fewest.
    pub min: i64,
    /// Most.
    pub max: i64,
    /// Step from `min`.
    #[serde(default = "one")]
    pub step: i64,
}

fn one() -> i64 {
    1
}

impl Default for QuantityRule {
    fn default() -> Self {
        QuantityRule {
            min: 1,
            max: 1000,
            step: 1,
        }
    }
}

/// A product template (what the tenant's shop sells).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// Code, unique in the tenant (`SHIRT-MTM`).
    pub code: String,
    /// Name.
    pub name: String,
    /// Description for the shop.
    #[serde(default)]
    pub description: String,
    /// ISO 4217 currency code (`CNY`); every price is in its minor units.
    pub currency: String,
    /// Unit price before options, minor units.
    pub base_price_minor: i64,
    /// The options.
    pub options: Vec<OptionDef>,
    /// Constraints between options.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Units per order.
    #[serde(default)]
    pub quantity: QuantityRule,
    /// Unit-price discounts from a quantity on.
    #[serde(default)]
    pub quantity_breaks: Vec<QuantityBreak>,
    /// The line kinds the product passes, in order.
    pub routing: Vec<RoutingStep>,
    /// Whole local days before production may start (material, cutting files).
    #[serde(default)]
    pub lead_days: u32,
    /// Hours from the last step's end to shipping (packing, inspection).
    #[serde(default)]
    pub ship_buffer_hours: u32,
    /// How long a quote holds, hours.
    #[serde(default = "day")]
    pub quote_valid_hours: u32,
}

fn day() -> u32 {
    24
}

/// A checked configuration: what pricing and scheduling need.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// The values, as given (numbers as numbers).
    pub values: Map<String, Value>,
    /// Units.
    pub quantity: i64,
    /// Machine seconds per routing step: `(line kind, setup + quantity × cycle)`.
    pub steps: Vec<(String, f64)>,
}

fn key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 50
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn bad(field: impl Into<String>, detail: impl Into<String>) -> InvalidInput {
    InvalidInput::new(field, detail)
}

impl TemplateSpec {
    /// Checks the template itself, naming the offending field.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.code.is_empty() || self.code.len() > 100 {
            return Err(bad("code", "must be 1 to 100 characters"));
        }
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(bad("name", "must be 1 to 200 characters"));
        }
        if self.description.chars().count() > 4000 {
            return Err(bad("description", "at most 4000 characters"));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("currency", "an ISO 4217 code such as CNY or EUR"));
        }
        if self.base_price_minor < 0 || self.base_price_minor > 1_000_000_000_000 {
            return Err(bad("base_price_minor", "0 to 10^12 minor units"));
        }
        if self.options.len() > 100 {
            return Err(bad("options", "at most 100 options"));
        }
        let mut keys = std::collections::BTreeSet::new();
        for (i, o) in self.options.iter().enumerate() {
            let f = |s: &str| format!("options[{i}].{s}");
            if !key_ok(&o.key) {
                return Err(bad(f("key"), "1 to 50 characters of a-z, 0-9 and _"));
            }
            if !keys.insert(o.key.as_str()) {
                return Err(bad(f("key"), format!("two options are named {}", o.key)));
            }
            match &o.kind {
                OptionKind::Choice { choices } => {
                    if choices.is_empty() || choices.len() > 200 {
                        return Err(bad(f("choices"), "1 to 200 choices"));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for (j, c) in choices.iter().enumerate() {
                        if c.value.is_empty() || c.value.len() > 100 || !seen.insert(&c.value) {
                            return Err(bad(
                                f(&format!("choices[{j}].value")),
                                "1 to 100 characters, unique in the option",
                            ));
                        }
                        if c.price_minor.abs() > 1_000_000_000_000 {
                            return Err(bad(f(&format!("choices[{j}].price_minor")), "too large"));
                        }
                    }
                }
                OptionKind::Number { min, max, step, .. } => {
                    if !(min.is_finite() && max.is_finite() && step.is_finite())
                        || *step <= 0.0
                        || max < min
                    {
                        return Err(bad(f("step"), "min ≤ max and a step above 0"));
                    }
                    if (max - min) / step > 1_000_000.0 {
                        return Err(bad(f("step"), "at most a million steps"));
                    }
                }
                OptionKind::Text {
                    min_length,
                    max_length,
                    ..
                } => {
                    if *max_length == 0 || *max_length > 500 || min_length > max_length {
                        return Err(bad(f("max_length"), "1 to 500, at least min_length"));
                    }
                }
            }
        }
        for (i, c) in self.constraints.iter().enumerate() {
            for (side, cond) in [("if", &c.when), ("then", &c.then)] {
                if !keys.contains(cond.option.as_str()) {
                    return Err(bad(
                        format!("constraints[{i}].{side}.option"),
                        format!("no option is named {}", cond.option),
                    ));
                }
            }
        }
        let q = self.quantity;
        if q.min < 1 || q.max < q.min || q.step < 1 || q.max > 1_000_000 {
            return Err(bad("quantity", "1 ≤ min ≤ max ≤ 1,000,000 and step ≥ 1"));
        }
        for (i, b) in self.quantity_breaks.iter().enumerate() {
            if b.min_quantity < 1 || b.percent_off_bp > 9_999 {
                return Err(bad(
                    format!("quantity_breaks[{i}]"),
                    "min_quantity ≥ 1, percent_off_bp 0 to 9,999",
                ));
            }
        }
        if self.routing.is_empty() || self.routing.len() > 20 {
            return Err(bad("routing", "1 to 20 steps"));
        }
        for (i, s) in self.routing.iter().enumerate() {
            if s.line_kind.is_empty() || s.line_kind.len() > 200 {
                return Err(bad(
                    format!("routing[{i}].line_kind"),
                    "1 to 200 characters",
                ));
            }
            if !(s.cycle_secs.is_finite()
                && s.cycle_secs > 0.0
                && s.setup_secs.is_finite()
                && s.setup_secs >= 0.0)
            {
                return Err(bad(
                    format!("routing[{i}].cycle_secs"),
                    "a cycle time above 0 and a set-up time of 0 or more",
                ));
            }
            for (j, a) in s.adjustments.iter().enumerate() {
                if !keys.contains(a.when.option.as_str()) {
                    return Err(bad(
                        format!("routing[{i}].adjustments[{j}].if.option"),
                        format!("no option is named {}", a.when.option),
                    ));
                }
            }
        }
        if self.lead_days > 365 || self.ship_buffer_hours > 24 * 60 {
            return Err(bad("lead_days", "at most 365 days (ship buffer: 60 days)"));
        }
        if self.quote_valid_hours == 0 || self.quote_valid_hours > 24 * 90 {
            return Err(bad("quote_valid_hours", "1 to 2160 hours"));
        }
        Ok(())
    }

    /// The option named `key`.
    pub fn option(&self, key: &str) -> Option<&OptionDef> {
        self.options.iter().find(|o| o.key == key)
    }

    /// Checks a configuration and a quantity; every refusal names the option
    /// (`configuration.<key>`) or `quantity`.
    pub fn configure(
        &self,
        config: &Map<String, Value>,
        quantity: i64,
    ) -> Result<Configured, InvalidInput> {
        for k in config.keys() {
            if self.option(k).is_none() {
                let known: Vec<&str> = self.options.iter().map(|o| o.key.as_str()).collect();
                return Err(bad(
                    format!("configuration.{k}"),
                    format!(
                        "not an option of {}; options: {}",
                        self.code,
                        known.join(", ")
                    ),
                ));
            }
        }
        for o in &self.options {
            let field = format!("configuration.{}", o.key);
            let Some(v) = config.get(&o.key) else {
                if o.required {
                    return Err(bad(field, "required"));
                }
                continue;
            };
            match &o.kind {
                OptionKind::Choice { choices } => {
                    let ok = v
                        .as_str()
                        .is_some_and(|s| choices.iter().any(|c| c.value == s));
                    if !ok {
                        let vals: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
                        return Err(bad(field, format!("one of: {}", vals.join(", "))));
                    }
                }
                OptionKind::Number {
                    min,
                    max,
                    step,
                    unit,
                    ..
                } => {
                    let Some(n) = v.as_f64() else {
                        return Err(bad(field, "a number"));
                    };
                    let k = (n - min) / step;
                    if n < *min - 1e-9 || n > *max + 1e-9 || (k - k.round()).abs() > 1e-6 {
                        return Err(bad(
                            field,
                            format!("from {min} to {max}{unit} in steps of {step}"),
                        ));
                    }
                }
                OptionKind::Text {
                    min_length,
                    max_length,
                    charset,
                    ..
                } => {
                    let Some(s) = v.as_str() else {
                        return Err(bad(field, "a text"));
                    };
                    let len = s.chars().count();
                    if len < *min_length as usize || len > *max_length as usize {
                        return Err(bad(
                            field,
                            format!("{min_length} to {max_length} characters"),
                        ));
                    }
                    if let Some(c) = s.chars().find(|c| !charset.allows(*c)) {
                        return Err(bad(
                            field,
                            format!("{c:?} is not allowed; allowed: {}", charset.describe()),
                        ));
                    }
                }
            }
        }
        for c in &self.constraints {
            if let Some(v) = c.check(config) {
                return Err(bad(format!("configuration.{}", v.option), v.detail));
            }
        }
        let q = self.quantity;
        if quantity < q.min || quantity > q.max || (quantity - q.min) % q.step != 0 {
            return Err(bad(
                "quantity",
                format!("from {} to {} in steps of {}", q.min, q.max, q.step),
            ));
        }
        let steps = self
            .routing
            .iter()
            .map(|s| {
                (
                    s.line_kind.clone(),
                    s.setup_secs + quantity as f64 * unit_cycle(s, config),
                )
            })
            .collect();
        Ok(Configured {
            values: config.clone(),
            quantity,
            steps,
        })
    }
}

/// A step's cycle time per unit for `config` (never below a tenth of its base).
pub fn unit_cycle(step: &RoutingStep, config: &Map<String, Value>) -> f64 {
    let mut secs = step.cycle_secs;
    for a in &step.adjustments {
        if a.when.holds(config) {
            secs += a.add_secs;
            if let Some(n) = config.get(&a.when.option).and_then(Value::as_f64) {
                secs += a.secs_per_option_unit * n;
            }
        }
    }
    secs.max(step.cycle_secs / 10.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The made-to-measure shirt of the demo, in small.
    pub(crate) fn shirt() -> TemplateSpec {
        serde_json::from_value(json!({
            "code": "SHIRT-MTM",
            "name": "Shirt made to measure",
            "currency": "CNY",
            "base_price_minor": 29900,
            "options": [
                {"key": "fabric", "type": "choice", "choices": [
                    {"value": "cotton", "price_minor": 0},
                    {"value": "linen", "price_minor": 8000},
                    {"value": "silk", "price_minor": 20000}]},
                {"key": "collar", "type": "choice", "choices": [
                    {"value": "kent"}, {"value": "button_down", "price_minor": 1000}]},
                {"key": "neck_cm", "type": "number", "min": 36, "max": 46, "step": 0.5, "unit": "cm"},
                {"key": "sleeve_cm", "type": "number", "min": 58, "max": 70, "step": 1, "unit": "cm",
                 "price_minor_per_step": 100},
                {"key": "monogram", "type": "text", "required": false, "max_length": 3,
                 "charset": "latin", "price_minor": 3000}
            ],
            "constraints": [{
                "kind": "excludes",
                "if": {"option": "fabric", "in": ["silk"]},
                "then": {"option": "collar", "in": ["button_down"]}
            }],
            "quantity": {"min": 1, "max": 20},
            "quantity_breaks": [{"min_quantity": 5, "percent_off_bp": 1000}],
            "routing": [
                {"line_kind": "cutting_table", "setup_secs": 120, "cycle_secs": 300},
                {"line_kind": "sewing", "cycle_secs": 1800, "adjustments": [
                    {"if": {"option": "monogram"}, "add_secs": 600},
                    {"if": {"option": "fabric", "in": ["silk"]}, "add_secs": 300}
                ]}
            ],
            "lead_days": 1,
            "ship_buffer_hours": 4
        }))
        .unwrap()
    }

    fn cfg(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_valid_shirt_configures_with_option_dependent_times() {
        let t = shirt();
        t.validate().unwrap();
        let c = t
            .configure(
                &cfg(json!({"fabric": "silk", "collar": "kent", "neck_cm": 39.5,
                            "sleeve_cm": 64, "monogram": "J.D"})),
                2,
            )
            .unwrap();
        // Cutting: 120 + 2 × 300; sewing: 2 × (1800 + 600 monogram + 300 silk).
        assert_eq!(
            c.steps,
            vec![("cutting_table".into(), 720.0), ("sewing".into(), 5400.0)]
        );
    }

    #[test]
    fn refusals_name_the_option() {
        let t = shirt();
        let base = json!({"fabric": "cotton", "collar": "kent", "neck_cm": 40, "sleeve_cm": 64});
        let with = |k: &str, v: Value| {
            let mut m = cfg(base.clone());
            m.insert(k.into(), v);
            m
        };
        let e = t.configure(&with("neck_cm", json!(40.3)), 1).unwrap_err();
        assert_eq!(e.field, "configuration.neck_cm");
        assert!(e.detail.contains("steps of 0.5"), "{e}");
        let e = t.configure(&with("neck_cm", json!(47)), 1).unwrap_err();
        assert_eq!(e.field, "configuration.neck_cm");
        let e = t.configure(&with("fabric", json!("wool")), 1).unwrap_err();
        assert_eq!(e.field, "configuration.fabric");
        assert_eq!(e.detail, "one of: cotton, linen, silk");
        let e = t
            .configure(&with("monogram", json!("ABCD")), 1)
            .unwrap_err();
        assert_eq!(e.field, "configuration.monogram");
        let e = t.configure(&with("monogram", json!("A1")), 1).unwrap_err();
        assert!(e.detail.contains("'1' is not allowed"), "{e}");
        let e = t.configure(&with("colour", json!("red")), 1).unwrap_err();
        assert_eq!(e.field, "configuration.colour");
        let mut m = cfg(base.clone());
        m.remove("collar");
        assert_eq!(
            t.configure(&m, 1).unwrap_err().field,
            "configuration.collar"
        );
        let mut m = cfg(base.clone());
        m.insert("fabric".into(), json!("silk"));
        m.insert("collar".into(), json!("button_down"));
        let e = t.configure(&m, 1).unwrap_err();
        assert_eq!(e.field, "configuration.collar");
        assert_eq!(
            e.detail,
            "fabric = silk cannot be combined with collar = button_down"
        );
        let e = t.configure(&cfg(base), 21).unwrap_err();
        assert_eq!(e.field, "quantity");
    }

    #[test]
    fn bad_templates_are_refused_naming_the_field() {
        let mut t = shirt();
        t.constraints[0].then.option = "cuff".into();
        assert_eq!(
            t.validate().unwrap_err().field,
            "constraints[0].then.option"
        );
        let mut t = shirt();
        t.currency = "yuan".into();
        assert_eq!(t.validate().unwrap_err().field, "currency");
        let mut t = shirt();
        t.options[1].key = "fabric".into();
        assert_eq!(t.validate().unwrap_err().field, "options[1].key");
        let mut t = shirt();
        t.routing.clear();
        assert_eq!(t.validate().unwrap_err().field, "routing");
    }
}
