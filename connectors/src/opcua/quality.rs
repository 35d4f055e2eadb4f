//! OPC UA data values to samples: status codes to good/uncertain/bad, variants to values, and the
//! server's source timestamp kept (the time the value was true at the machine, not when it
//! reached us).

use chrono::{DateTime, Utc};
use opcua::types::{DataValue, StatusCode, Variant};

use crate::sample::{Quality, Sample, Value};

/// The quality of an OPC UA status code (its two severity bits).
pub fn quality_of(status: StatusCode) -> Quality {
    if status.is_good() {
        Quality::Good
    } else if status.is_uncertain() {
        Quality::Uncertain
    } else {
        Quality::Bad
    }
}

/// A variant as a tag value: Boolean, integers, Float, Double; String, LocalizedText (its text)
/// and DateTime (RFC 3339) as text values; `None` for other types.
pub fn value_of(v: &Variant) -> Option<Value> {
    Some(match v {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(n) => Value::Number(f64::from(*n)),
        Variant::Byte(n) => Value::Number(f64::from(*n)),
        Variant::Int16(n) => Value::Number(f64::from(*n)),
        Variant::UInt16(n) => Value::Number(f64::from(*n)),
        Variant::Int32(n) => Value::Number(f64::from(*n)),
        Variant::UInt32(n) => Value::Number(f64::from(*n)),
        // 64-bit integers beyond 2^53 lose precision as f64, as they would in the platform.
        Variant::Int64(n) => Value::Number(*n as f64),
        Variant::UInt64(n) => Value::Number(*n as f64),
        Variant::Float(n) => Value::Number(f64::from(*n)),
        Variant::Double(n) => Value::Number(*n),
        Variant::String(s) => Value::Text(s.as_ref().to_string()),
        Variant::DateTime(d) => Value::Text(d.as_chrono().to_rfc3339()),
        // A fault text or a state name shown to operators: its text, whatever its locale.
        Variant::LocalizedText(t) => Value::Text(t.text.as_ref().to_string()),
        _ => return None,
    })
}

/// The sample of a data value. The source timestamp is kept when the server sends one (else the
/// server timestamp, else `now`). A bad status, or a value of a type we cannot map, carries no
/// value; an uncertain status keeps its value.
pub fn sample_of(tag: &str, dv: &DataValue, now: DateTime<Utc>) -> Sample {
    let status = dv.status.unwrap_or(StatusCode::Good);
    let time = dv
        .source_timestamp
        .as_ref()
        .or(dv.server_timestamp.as_ref())
        .map(|t| t.as_chrono())
        .filter(|t| t.timestamp() > 0)
        .unwrap_or(now);
    let mut quality = quality_of(status);
    let value = if quality == Quality::Bad {
        None
    } else {
        dv.value.as_ref().and_then(value_of)
    };
    if value.is_none() {
        quality = Quality::Bad;
    }
    Sample {
        tag: tag.to_string(),
        time,
        value,
        quality,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_severity_maps_to_quality() {
        assert_eq!(quality_of(StatusCode::Good), Quality::Good);
        assert_eq!(
            quality_of(StatusCode::UncertainLastUsableValue),
            Quality::Uncertain
        );
        assert_eq!(quality_of(StatusCode::BadNodeIdUnknown), Quality::Bad);
    }

    #[test]
    fn values_map_by_type_and_keep_source_time() {
        let t = opcua::types::DateTime::from(
            chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        let dv = DataValue {
            value: Some(Variant::Int32(-7)),
            status: Some(StatusCode::UncertainLastUsableValue),
            source_timestamp: Some(t),
            ..Default::default()
        };
        let s = sample_of("x", &dv, Utc::now());
        assert_eq!(s.value, Some(Value::Number(-7.0)));
        assert_eq!(s.quality, Quality::Uncertain);
        assert_eq!(s.time.to_rfc3339(), "2024-01-02T03:04:05+00:00");
        assert_eq!(value_of(&Variant::Boolean(true)), Some(Value::Bool(true)));
        assert_eq!(value_of(&Variant::Float(1.5)), Some(Value::Number(1.5)));
        assert_eq!(
            value_of(&Variant::String("a".into())),
            Some(Value::Text("a".into()))
        );
        assert!(
            matches!(value_of(&Variant::DateTime(Box::new(t))), Some(Value::Text(s)) if s.starts_with("2024-01-02T03:04:05"))
        );
        assert_eq!(
            value_of(&Variant::LocalizedText(Box::new(
                opcua::types::LocalizedText::new("en", "Door open")
            ))),
            Some(Value::Text("Door open".into()))
        );
        let bad = DataValue {
            value: Some(Variant::Double(1.0)),
            status: Some(StatusCode::BadCommunicationError),
            ..Default::default()
        };
        let s = sample_of("x", &bad, Utc::now());
        assert_eq!((s.value, s.quality), (None, Quality::Bad));
    }
}
