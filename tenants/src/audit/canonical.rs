//! The canonical serialisation an audit hash covers.
//!
//! Canonical means the same bytes for the same entry wherever it has been: JSON with object
//! keys sorted by their UTF-8 bytes (PostgreSQL's `jsonb` and serde_json's `preserve_order`
//! feature both change key order), no whitespace, strings escaped as serde_json escapes them,
//! and `at` as RFC 3339 UTC with exactly six fractional digits. A `"v"` field names the format
//! (stored beside each entry), so entries hashed under an older format still verify.
//!
//! Format 2 also writes every number from its value, in one spelling that survives the
//! database: `jsonb` keeps numbers as decimals, so it stores `1e16` as `10000000000000000`,
//! `1e-7` as `0.0000001` and `-0.0` as `0`, and reading them back gives other JSON numbers
//! than were hashed. Format 2 writes integers as their digits and any other number as the
//! shortest decimal that reads back to the same double, without an exponent (`-0` as `0`):
//! the same bytes before and after the round trip. (Format 1 wrote numbers as serde_json does;
//! those entries broke on such values.)

use serde_json::{Number, Value};

use super::AuditEntry;

/// The format new entries are hashed with.
pub const FORMAT_VERSION: u16 = 2;
/// The first format, for entries stored before the `format` column existed.
pub const LEGACY_FORMAT: u16 = 1;

/// The bytes an entry's hash covers: every field but `prev_hash` (hashed in front of these)
/// and `hash`, in the entry's own format.
pub fn canonical(entry: &AuditEntry) -> Vec<u8> {
    let at = entry
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let content = serde_json::json!({
        "v": entry.format,
        "seq": entry.seq,
        "at": at,
        "tenant": entry.tenant,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
    });
    let mut out = String::new();
    write(&content, entry.format, &mut out);
    out.into_bytes()
}

/// One JSON value in the current canonical form.
pub(super) fn value(v: &Value) -> String {
    let mut out = String::new();
    write(v, FORMAT_VERSION, &mut out);
    out
}

/// A number as format 2 writes it: what a `jsonb` round trip cannot change.
pub(super) fn number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        // `-0.0` is stored as `0`.
        Some(f) if f.abs() == 0.0 => "0".into(),
        // Display writes the shortest decimal that reads back to `f`, never an exponent, and
        // no fraction for whole numbers: `1e16` → `10000000000000000`, `1e-7` → `0.0000001`.
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

fn write(v: &Value, format: u16, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, format, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(key.clone()), format, out);
                out.push(':');
                write(&map[key], format, out);
            }
            out.push('}');
        }
        scalar => write_scalar(scalar, format, out),
    }
}

fn write_scalar(v: &Value, format: u16, out: &mut String) {
    match v {
        Value::Number(n) if format >= 2 => out.push_str(&number(n)),
        // Serialising a scalar `Value` cannot fail.
        _ => out.push_str(&serde_json::to_string(v).unwrap_or_default()),
    }
}
