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
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
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
