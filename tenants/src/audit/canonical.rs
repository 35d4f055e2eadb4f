//! The canonical serialisation an audit hash covers.
//!
//! Canonical means the same bytes for the same entry wherever it has been: JSON with object
//! keys sorted by their UTF-8 bytes (PostgreSQL's `jsonb` and serde_json's `preserve_order`
//! feature both change key order), no whitespace, strings escaped as serde_json escapes them,
//! and `at` as RFC 3339 UTC with exactly six fractional digits. A `"v"` field names the format
//! so a future change can be told apart.

use serde_json::Value;

use super::AuditEntry;

const FORMAT_VERSION: u64 = 1;

/// The bytes an entry's hash covers: every field but `prev_hash` (hashed in front of these)
/// and `hash`.
pub fn canonical(entry: &AuditEntry) -> Vec<u8> {
    let at = entry
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let content = serde_json::json!({
        "v": FORMAT_VERSION,
        "seq": entry.seq,
        "at": at,
        "tenant": entry.tenant,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
    });
    value(&content).into_bytes()
}

/// One JSON value in canonical form.
pub(super) fn value(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
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
                write_scalar(&Value::String(key.clone()), out);
                out.push(':');
                write(&map[key], out);
            }
            out.push('}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut String) {
    // Serialising a scalar `Value` cannot fail.
    out.push_str(&serde_json::to_string(v).unwrap_or_default());
}
