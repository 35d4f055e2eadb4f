//! Prices in integer minor units (fen, cents) of the template's currency: the base unit
//! price, what each chosen option adds, a quantity break's discount on the unit price, and
//! the total. No floating point touches money: number options add a whole price per step,
//! discounts are in basis points and round half up to the minor unit.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::template::{OptionKind, TemplateSpec};
use super::InvalidInput;

/// A unit-price discount from a quantity on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityBreak {
    /// From this many units on …
    pub min_quantity: i64,
    /// … the unit price is this many basis points lower (1000 = 10 %).
    pub percent_off_bp: u32,
}

/// One line of a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceLine {
    /// What it is for: `base`, `fabric = linen`, `sleeve_cm = 64`.
    pub label: String,
    /// Per unit, minor units.
    pub unit_minor: i64,
}

/// A priced configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// ISO 4217 code.
    pub currency: String,
    /// What makes up the unit price.
    pub lines: Vec<PriceLine>,
    /// Unit price before the quantity break.
    pub unit_list_minor: i64,
    /// The quantity break applied, basis points.
    pub discount_bp: u32,
    /// Unit price after the break.
    pub unit_minor: i64,
    /// Units.
    pub quantity: i64,
    /// `unit_minor × quantity`.
    pub total_minor: i64,
}

/// Prices a configuration (already checked by [`TemplateSpec::configure`]).
pub fn price(
    t: &TemplateSpec,
    config: &Map<String, Value>,
    quantity: i64,
) -> Result<Price, InvalidInput> {
    let mut lines = vec![PriceLine {
        label: "base".into(),
        unit_minor: t.base_price_minor,
    }];
    for o in &t.options {
        let Some(v) = config.get(&o.key) else {
            continue;
        };
        let add = match &o.kind {
            OptionKind::Choice { choices } => choices
                .iter()
                .find(|c| Some(c.value.as_str()) == v.as_str())
                .map(|c| c.price_minor)
                .unwrap_or(0),
            OptionKind::Number {
                min,
                step,
                price_minor_per_step,
                ..
            } => {
                let steps = ((v.as_f64().unwrap_or(*min) - min) / step).round() as i64;
                steps.saturating_mul(*price_minor_per_step)
            }
            OptionKind::Text { price_minor, .. } => {
                if v.as_str().is_some_and(|s| !s.is_empty()) {
                    *price_minor
                } else {
                    0
                }
            }
        };
        if add != 0 {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(PriceLine {
                label: format!("{} = {}", o.key, shown),
                unit_minor: add,
            });
        }
    }
    let list: i128 = lines.iter().map(|l| i128::from(l.unit_minor)).sum();
    let discount_bp = t
        .quantity_breaks
        .iter()
        .filter(|b| quantity >= b.min_quantity)
        .map(|b| b.percent_off_bp)
        .max()
        .unwrap_or(0);
    // Half up: (list × (10000 − bp) + 5000) / 10000.
    let unit = (list.max(0) * i128::from(10_000 - discount_bp) + 5_000) / 10_000;
    let total = unit * i128::from(quantity);
    let fits = |x: i128| {
        i64::try_from(x).map_err(|_| InvalidInput::new("quantity", "the price is too large"))
    };
    Ok(Price {
        currency: t.currency.clone(),
        lines,
        unit_list_minor: fits(list.max(0))?,
        discount_bp,
        unit_minor: fits(unit)?,
        quantity,
        total_minor: fits(total)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::template::tests::shirt;
    use serde_json::json;

    #[test]
    fn options_steps_and_breaks_in_minor_units() {
        let t = shirt();
        let c = json!({"fabric": "linen", "collar": "button_down", "neck_cm": 40,
                       "sleeve_cm": 64, "monogram": "JD"});
        let c = c.as_object().unwrap();
        let p = price(&t, c, 1).unwrap();
        // 299.00 + 80.00 linen + 10.00 button-down + 6 steps × 1.00 sleeve + 30.00 monogram.
        assert_eq!(p.unit_list_minor, 29900 + 8000 + 1000 + 600 + 3000);
        assert_eq!(p.discount_bp, 0);
        assert_eq!(p.total_minor, 42500);
        assert_eq!(
            p.lines.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(),
            vec![
                "base",
                "fabric = linen",
                "collar = button_down",
                "sleeve_cm = 64",
                "monogram = JD"
            ]
        );
        // Five shirts: 10 % off the unit price, 425.00 → 382.50, total 1,912.50.
        let p = price(&t, c, 5).unwrap();
        assert_eq!(
            (p.discount_bp, p.unit_minor, p.total_minor),
            (1000, 38250, 191250)
        );
    }

    #[test]
    fn discounts_round_half_up_to_the_minor_unit() {
        let mut t = shirt();
        t.base_price_minor = 1005;
        t.options.clear();
        t.constraints.clear();
        t.quantity_breaks = vec![QuantityBreak {
            min_quantity: 2,
            percent_off_bp: 50,
        }];
        // 10.05 less 0.5 % = 9.99975 → 10.00.
        let p = price(&t, &Map::new(), 3).unwrap();
        assert_eq!((p.unit_minor, p.total_minor), (1000, 3000));
    }
}
