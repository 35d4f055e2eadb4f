//! What every request must satisfy before a handler sees it, checked in one place so that
//! every route, present and future, refuses bad input the same way:
//!
//! - **Text**: no U+0000 anywhere (PostgreSQL cannot store it, and would answer 500), and no
//!   JSON string longer than [`MAX_STRING_CHARS`] unless a route sets a lower limit.
//! - **Timestamps**: any value that reads as a date-time must fall in years 1 to 9999 (the
//!   database's range is wider, chrono's wider still, and neither edge means anything here),
//!   and a leap second (`23:59:60`) is refused: PostgreSQL would silently move it to the next
//!   second.
//! - **Bodies**: `Content-Type: application/json` (or `…+json`) on every API request that
//!   has a body (415 otherwise).
//! - **Query strings and paths**: the same text and timestamp rules, naming the parameter.
//!
//! [`check_value`] walks a parsed JSON body (the [`super::extract::Json`] extractor calls it);
//! [`guard`] is the middleware for headers, query strings and paths.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde_json::Value;

use super::problem::ApiError;

/// The longest JSON string accepted, in characters, where a route sets no lower limit.
pub const MAX_STRING_CHARS: usize = 10_000;
/// The longest query parameter value accepted, in characters (a thousand tag ids fit).
pub const MAX_QUERY_CHARS: usize = 20_000;

/// Why `text` (the value of `field`) is refused, if it is.
pub fn text_problem(text: &str, max_chars: usize) -> Option<String> {
    if text.contains('\0') {
        return Some("contains U+0000 (NUL), which cannot be stored".into());
    }
    if text.len() > max_chars && text.chars().count() > max_chars {
        return Some(format!("at most {max_chars} characters"));
    }
    timestamp_problem(text)
}

/// Why a string that reads as a date-time is refused, if it is (other strings pass).
pub fn timestamp_problem(text: &str) -> Option<String> {
    // Cheap filter first: every date-time has a `-` and a `:` and is short.
    if text.len() > 64 || !text.contains(':') || !text.contains('-') {
        return None;
    }
    let t: DateTime<FixedOffset> = text.trim().parse().ok()?;
    if !(1..=9999).contains(&t.year()) {
        return Some(format!(
            "{text:?} is outside the years 1 to 9999 that timestamps may take"
        ));
    }
    if t.nanosecond() >= 1_000_000_000 {
        return Some(format!(
            "{text:?} is a leap second, which the database cannot represent; use :59.999999"
        ));
    }
    None
}

/// Checks every key and string of a JSON body; the error names the first offending field as
/// `a.b[2].c`. Values of secret fields are never repeated.
pub fn check_value(value: &Value) -> Result<(), ApiError> {
    let mut path = String::new();
    walk(value, &mut path)
}

fn walk(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(s) => match text_problem(s, MAX_STRING_CHARS) {
            Some(detail) => Err(refuse(path, detail)),
            None => Ok(()),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if key.contains('\0') || key.chars().count() > 200 {
                    let shown = path.replace('\0', "\\u0000");
                    return Err(ApiError::field(
                        shown,
                        "a field name must be at most 200 characters without U+0000",
                    ));
                }
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn refuse(path: &str, detail: String) -> ApiError {
    let field = if path.is_empty() { "body" } else { path };
    let detail = if super::extract::is_secret_field(field) && detail.starts_with('"') {
        "invalid value (not shown: the field holds a secret)".to_string()
    } else {
        detail
    };
    ApiError::field(field, detail)
}

/// Whether a PATCH body changes nothing: an object with no member, or only nulls.
pub fn changes_nothing(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().all(Value::is_null),
        _ => false,
    }
}

/// The middleware: Content-Type of bodies, and the text and timestamp rules on the query
/// string and the path, for every request before routing.
pub async fn guard(req: Request, next: Next) -> Response {
    match check_request(&req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check_request(req: &Request) -> Result<(), ApiError> {
    let uri = req.uri();
    let path = percent_decode(uri.path());
    if path.contains('\0') {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "the path contains U+0000 (NUL)")
                .with_field("path"),
        );
    }
    if let Some(query) = uri.query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let field = key.replace('\0', "\\u0000");
            if key.contains('\0') {
                return Err(ApiError::field(
                    field,
                    "a parameter name contains U+0000 (NUL)",
                ));
            }
            if let Some(detail) = text_problem(&value, MAX_QUERY_CHARS) {
                return Err(ApiError::field(field, detail));
            }
        }
    }
    if uri.path().starts_with("/api/") && has_body(req) {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json(content_type) {
            let got = if content_type.is_empty() {
                "none".to_string()
            } else {
                format!("{content_type:?}")
            };
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("request bodies are JSON: send Content-Type: application/json (got {got})"),
            )
            .with_field("Content-Type"));
        }
    }
    Ok(())
}

fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// `application/json` or `application/<something>+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn percent_decode(path: &str) -> String {
    // Only to look for NUL: `%00` is the one spelling that matters.
    path.replace("%00", "\0")
}

/// A page size: `default` when absent, else it must be between 1 and `max` (a 422 naming
/// `limit` otherwise). One rule for every listing route.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = value.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_rules() {
        assert!(text_problem("fine", 10).is_none());
        assert!(text_problem("a\0b", 10).unwrap().contains("U+0000"));
        assert!(text_problem(&"é".repeat(11), 10)
            .unwrap()
            .contains("at most 10"));
        assert!(text_problem(&"é".repeat(10), 10).is_none());
    }

    #[test]
    fn timestamp_rules() {
        assert!(timestamp_problem("2026-11-29T08:00:00Z").is_none());
        assert!(timestamp_problem("0001-01-01T00:00:00Z").is_none());
        assert!(timestamp_problem("not-a: date").is_none());
        assert!(timestamp_problem("-5000-01-01T00:00:00Z").is_some());
        assert!(timestamp_problem("+10000-01-01T00:00:00Z").is_some());
        assert!(timestamp_problem("0000-12-31T00:00:00Z").is_some());
        let leap = timestamp_problem("2016-12-31T23:59:60Z").unwrap();
        assert!(leap.contains("leap second"), "{leap}");
    }

    #[test]
    fn the_walk_names_the_field() {
        let body = json!({"owner": {"email": "a\u{0}b"}, "tags": ["x", "y"]});
        let e = check_value(&body).unwrap_err();
        assert_eq!(e.field_name(), Some("owner.email"));
        let body = json!({"samples": [{"time": "2026-01-01T00:00:00Z"}, {"time": "2016-12-31T23:59:60Z"}]});
        assert_eq!(
            check_value(&body).unwrap_err().field_name(),
            Some("samples[1].time")
        );
        let body = json!({"description": "x".repeat(MAX_STRING_CHARS + 1)});
        assert_eq!(
            check_value(&body).unwrap_err().field_name(),
            Some("description")
        );
        assert!(check_value(&json!({"name": "ok", "n": [1, 2, {"a": null}]})).is_ok());
    }

    #[test]
    fn empty_patches_change_nothing() {
        assert!(changes_nothing(&json!({})));
        assert!(changes_nothing(&json!({"name": null, "description": null})));
        assert!(!changes_nothing(&json!({"name": "x"})));
        assert!(!changes_nothing(&json!([])));
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
            "Application/JSON",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }
}
