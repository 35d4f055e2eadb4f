//! What a driver emits.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Quality of a sample, as the ingest API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Read successfully.
    Good,
    /// Read, but doubtful.
    Uncertain,
    /// Not read: the device failed or answered with an exception.
    Bad,
}

/// A decoded tag value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A coil, a discrete input or a `bool` register tag.
    Bool(bool),
    /// Any numeric type, after scale and offset.
    Number(f64),
    /// A `string` register tag.
    Text(String),
}

impl Value {
    /// The value as a number for the ingest API (`true` is 1); `None` for text.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => Some(*n),
            Value::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(&readable(*n)),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// A number in one readable notation: plain decimals from 0.0001 up to 10^15, scientific
/// (`2.4e-41`, `1.5e20`) outside that range; always the shortest digits that read back to the
/// same value, so `229.01` never shows as `229.010000000000005`.
pub fn readable(n: f64) -> String {
    let a = n.abs();
    if n == 0.0 || !n.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{n}")
    } else {
        format!("{n:e}")
    }
}

/// [`readable`] for a value that came from a 32-bit float: its own shortest digits (`229.01`
/// rather than the `229.00999450683594` of the same bits widened to 64).
pub fn readable_f32(n: f32) -> String {
    let a = n.abs();
    if n == 0.0 || !n.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{n}")
    } else {
        format!("{n:e}")
    }
}

/// One value of one tag at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The platform tag this sample feeds.
    pub tag: String,
    /// When it was read.
    pub time: DateTime<Utc>,
    /// The value; `None` with bad quality.
    pub value: Option<Value>,
    /// Its quality.
    pub quality: Quality,
}

impl Sample {
    /// A good sample.
    pub fn good(tag: impl Into<String>, time: DateTime<Utc>, value: Value) -> Self {
        Sample {
            tag: tag.into(),
            time,
            value: Some(value),
            quality: Quality::Good,
        }
    }

    /// A bad sample without value.
    pub fn bad(tag: impl Into<String>, time: DateTime<Utc>) -> Self {
        Sample {
            tag: tag.into(),
            time,
            value: None,
            quality: Quality::Bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_in_one_notation() {
        assert_eq!(readable(229.01), "229.01");
        assert_eq!(readable(0.0), "0");
        assert_eq!(readable(-12.5), "-12.5");
        assert_eq!(readable(1234567.0), "1234567");
        assert_eq!(readable(2.4e-41), "2.4e-41");
        assert_eq!(readable(1.5e20), "1.5e20");
        assert_eq!(readable(0.00012), "0.00012");
        assert_eq!(readable_f32(229.01), "229.01");
        assert_eq!(readable_f32(f32::from_bits(0x0000_4000)), "2.2959e-41");
        assert_eq!(Value::Number(2.4e-41).to_string(), "2.4e-41");
    }
}
