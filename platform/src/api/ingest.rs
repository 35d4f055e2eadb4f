//! `POST /api/v1/ingest`: a batch of samples as JSON.
//!
//! Each sample is checked on its own, so one bad sample is reported by its index and field
//! and never costs the good ones beside it, unless the request sets `"atomic": true`.

use std::collections::{HashMap, HashSet};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::extract::{body_bytes, parse_json_streaming, Caller};
use super::problem::{ApiError, ApiResult, FieldError, Problem};
use super::AppState;
use crate::store::ingest::{Quality, SampleRow};
use crate::store::text::{text_problem, TextSampleRow};

/// A batch of samples.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// The samples; at most `ingest.max_batch_samples` (10 000 by default).
    #[schema(value_type = Vec<IncomingSampleDoc>)]
    pub samples: Vec<IncomingSample>,
    /// All or nothing: if any sample is invalid, store none and answer 422.
    #[serde(default)]
    pub atomic: bool,
}

/// One sample as sent (documentation shape; parsing is lenient so errors name the field).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct IncomingSampleDoc {
    /// Tag name (unique within the tenant). Give this or `tag_id`.
    tag: Option<String>,
    /// Tag id. Give this or `tag`.
    tag_id: Option<i64>,
    /// RFC 3339 timestamp, or integer milliseconds since the Unix epoch.
    #[schema(value_type = String, example = "2026-11-29T08:00:00.250Z")]
    time: String,
    /// A finite number (or true/false) for float, integer and boolean tags; a string of at most
    /// 1024 characters for text tags. May be null only when quality is `bad`.
    #[schema(value_type = Option<crate::store::text::SampleValue>)]
    value: Option<f64>,
    /// `good` (default), `uncertain` or `bad`.
    quality: Option<Quality>,
}

/// What was stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestResponse {
    /// Samples newly stored.
    pub accepted: u64,
    /// Samples already stored before (same tag and time), skipped.
    pub duplicates: u64,
    /// Samples refused, by index and field.
    pub rejected: Vec<RejectedSample>,
}

/// A refused sample.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RejectedSample {
    /// Its index in `samples`.
    pub index: usize,
    /// The offending field, e.g. `samples[3].value`.
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

/// Stores a batch of samples for the caller's tenant.
#[utoipa::path(
    post, path = "/ingest", tag = "ingest",
    request_body = IngestRequest,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Stored; refused samples are listed", body = IngestResponse),
        (status = 401, description = "Missing or invalid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too many samples or too large a body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body, every sample invalid, or any invalid with atomic", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Requests per minute or samples per day used up; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> ApiResult<axum::Json<IngestResponse>> {
    let bytes = body_bytes(request, &state).await?;
    let body: IngestRequest = parse_json_streaming(&bytes)?;
    let max = state.settings.ingest.max_batch_samples;
    if body.samples.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} samples in one request; at most {max} (send several batches)",
                body.samples.len()
            ),
        )
        .with_field("samples"));
    }
    let mut session = caller.session(&state.store).await?;
    let quotas = caller.plan().quotas();
    let used = session.samples_today().await?;
    if used + body.samples.len() as u64 > quotas.samples_per_day {
        let wait = (super::tenant::next_utc_midnight() - Utc::now())
            .num_seconds()
            .max(1);
        return Err(ApiError::too_many_requests(
            format!(
                "the {} plan accepts {} samples a day and {used} were accepted today; \
                 keep the batch and send it after midnight UTC",
                caller.plan(),
                quotas.samples_per_day
            ),
            wait as u64,
        )
        .with_kind("quota")
        .with_field("samples"));
    }
    let now = Utc::now();
    // Samples older than the plan keeps would be trimmed at the next maintenance round.
    let keep_days = state
        .settings
        .store
        .retention_days
        .min(quotas.retention_days);
    let window = TimeWindow {
        earliest: now - Duration::days(keep_days as i64),
        latest: now + Duration::seconds(state.settings.ingest.max_future_secs),
    };

    // Resolve tag names and ids in one round trip each; a batch usually repeats a few tags
    // many times, so each is looked up once.
    let names: HashSet<&str> = body
        .samples
        .iter()
        .filter_map(|s| s.tag.as_deref())
        .filter(|name| !name.contains('\0') && name.len() <= 800)
        .collect();
    let names: Vec<&str> = names.into_iter().collect();
    let name_ids = if names.is_empty() {
        HashMap::new()
    } else {
        session.tag_kinds_by_name(&names).await?
    };
    let ids: HashSet<i64> = body.samples.iter().filter_map(|s| s.tag_id).collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    let known_ids = if ids.is_empty() {
        Default::default()
    } else {
        session.tag_kinds(&ids).await?
    };

    let mut rows = Vec::with_capacity(body.samples.len());
    let mut text_rows = Vec::new();
    let mut rejected = Vec::new();
    for (index, sample) in body.samples.iter().enumerate() {
        match sample.validate(&name_ids, &known_ids, &window) {
            Ok(Valid::Number(row)) => rows.push(row),
            Ok(Valid::Text(row)) => text_rows.push(row),
            Err((field, detail)) => {
                let field = match field {
                    "" => format!("samples[{index}]"),
                    field => format!("samples[{index}].{field}"),
                };
                rejected.push(RejectedSample {
                    index,
                    field,
                    detail,
                })
            }
        }
    }
    state.metrics.samples_rejected.inc_by(rejected.len() as u64);
    if !rejected.is_empty() && (body.atomic || (rows.is_empty() && text_rows.is_empty())) {
        let errors = rejected
            .into_iter()
            .map(|r| FieldError {
                field: r.field,
                detail: r.detail,
            })
            .collect();
        let why = if body.atomic {
            "atomic batch has invalid samples; nothing was stored"
        } else {
            "no valid sample"
        };
        return Err(ApiError::fields(why, errors));
    }
    let outcome = session.ingest_with_text(&rows, &text_rows).await?;
    drop(session);
    // Alarm rules see the batch once it is committed (duplicates are harmless to them).
    state.alerting.feed(caller.tenant, &rows).await;
    state.metrics.samples_accepted.inc_by(outcome.inserted);
    state.metrics.samples_duplicate.inc_by(outcome.skipped);
    Ok(axum::Json(IngestResponse {
        accepted: outcome.inserted,
        duplicates: outcome.skipped,
        rejected,
    }))
}

/// Parses an ingest body and validates every sample as the route does, against a tag
/// directory made up here instead of the database (every name and id in the body is known;
/// names starting with `text` are text tags): the entry point of the ingest fuzz target and
/// property tests, which prove that no body makes it panic. Per sample: `None` when valid,
/// else the field and the reason.
#[allow(clippy::type_complexity)]
pub fn check_body(bytes: &[u8]) -> Result<Vec<Option<(String, String)>>, ApiError> {
    let body: IngestRequest = parse_json_streaming(bytes)?;
    let now = Utc::now();
    let window = TimeWindow {
        earliest: now - Duration::days(730),
        latest: now + Duration::seconds(300),
    };
    let names: HashMap<String, (i64, bool)> = body
        .samples
        .iter()
        .filter_map(|s| s.tag.clone())
        .enumerate()
        .map(|(i, n)| {
            let text = n.starts_with("text");
            (n, (i as i64 + 1, text))
        })
        .collect();
    let ids: HashMap<i64, bool> = body
        .samples
        .iter()
        .filter_map(|s| s.tag_id)
        .map(|i| (i, false))
        .collect();
    Ok(body
        .samples
        .iter()
        .map(|s| {
            s.validate(&names, &ids, &window)
                .err()
                .map(|(f, d)| (f.to_string(), d))
        })
        .collect())
}

struct TimeWindow {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
}

/// A sample as received: every field kept raw so that each problem is reported by name.
#[derive(Debug, Default)]
pub struct IncomingSample {
    tag: Option<String>,
    tag_id: Option<i64>,
    time: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
    quality: Option<serde_json::Value>,
    /// Set when the element is not an object, or a field has the wrong JSON type.
    shape_error: Option<(&'static str, String)>,
}

type Invalid = (&'static str, String);

/// A sample that passed validation, for a numeric or a text tag.
enum Valid {
    Number(SampleRow),
    Text(TextSampleRow),
}

impl IncomingSample {
    fn validate(
        &self,
        name_ids: &HashMap<String, (i64, bool)>,
        known_ids: &HashMap<i64, bool>,
        window: &TimeWindow,
    ) -> Result<Valid, Invalid> {
        if let Some((field, detail)) = &self.shape_error {
            return Err((field, detail.clone()));
        }
        let (tag_id, is_text) = match (&self.tag, self.tag_id) {
            (Some(_), Some(_)) => {
                return Err(("tag", "give either tag or tag_id, not both".into()))
            }
            (Some(name), None) if name.contains('\0') => {
                return Err((
                    "tag",
                    "contains U+0000 (NUL), which no tag name holds".into(),
                ))
            }
            (Some(name), None) if name.chars().count() > 200 => {
                return Err(("tag", "longer than any tag name (200 characters)".into()))
            }
            (Some(name), None) => *name_ids
                .get(name)
                .ok_or_else(|| ("tag", format!("unknown tag {name:?}")))?,
            (None, Some(id)) => known_ids
                .get(&id)
                .map(|is_text| (id, *is_text))
                .ok_or_else(|| ("tag_id", format!("unknown tag id {id}")))?,
            (None, None) => return Err(("tag", "missing: give tag (name) or tag_id".into())),
        };
        let time = parse_time(self.time.as_ref())?;
        if time < window.earliest || time > window.latest {
            return Err((
                "time",
                format!(
                    "{} is out of range: accepted from {} (retention) to {} (clock skew allowance)",
                    time.to_rfc3339(),
                    window.earliest.to_rfc3339(),
                    window.latest.to_rfc3339()
                ),
            ));
        }
        let quality = match &self.quality {
            None | Some(serde_json::Value::Null) => Quality::Good,
            Some(q) => Quality::deserialize(q)
                .map_err(|_| ("quality", format!("{q} is not one of good, uncertain, bad")))?,
        };
        if is_text {
            return text_value(self.value.as_ref(), quality).map(|value| {
                Valid::Text(TextSampleRow {
                    tag_id,
                    time,
                    value,
                    quality,
                })
            });
        }
        let value = match &self.value {
            None | Some(serde_json::Value::Null) if quality == Quality::Bad => None,
            None | Some(serde_json::Value::Null) => {
                return Err((
                    "value",
                    "missing (only bad-quality samples may omit it)".into(),
                ))
            }
            Some(serde_json::Value::Number(n)) => {
                let v = n
                    .as_f64()
                    .ok_or(("value", "not representable as a double".to_string()))?;
                if !v.is_finite() {
                    return Err(("value", "must be finite".into()));
                }
                Some(v)
            }
            Some(serde_json::Value::String(s))
                if s.parse::<f64>().is_ok_and(|v| !v.is_finite()) =>
            {
                return Err((
                    "value",
                    format!("{s:?} is not finite; NaN and infinities are refused"),
                ))
            }
            Some(serde_json::Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
            Some(serde_json::Value::String(s)) => {
                return Err((
                    "value",
                    format!(
                        "{s:?} is text, but this tag holds numbers; send a number \
                         (or make it a tag with value_type text)"
                    ),
                ))
            }
            Some(other) => return Err(("value", format!("{other} is not a number"))),
        };
        Ok(Valid::Number(SampleRow {
            tag_id,
            time,
            value,
            quality,
        }))
    }
}

/// The value of a sample for a text tag: a string within the length limit.
fn text_value(
    raw: Option<&serde_json::Value>,
    quality: Quality,
) -> Result<Option<String>, Invalid> {
    match raw {
        None | Some(serde_json::Value::Null) if quality == Quality::Bad => Ok(None),
        None | Some(serde_json::Value::Null) => Err((
            "value",
            "missing (only bad-quality samples may omit it)".into(),
        )),
        Some(serde_json::Value::String(s)) => match text_problem(s) {
            Some(problem) => Err(("value", problem)),
            None => Ok(Some(s.clone())),
        },
        Some(other @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Err((
            "value",
            format!("{other} is a number, but this tag's value_type is text; send a string"),
        )),
        Some(other) => Err(("value", format!("{other} is not a string"))),
    }
}

fn parse_time(raw: Option<&serde_json::Value>) -> Result<DateTime<Utc>, Invalid> {
    match raw {
        None | Some(serde_json::Value::Null) => Err(("time", "missing".into())),
        Some(serde_json::Value::String(s)) => {
            if let Some(why) = super::input::timestamp_problem(s) {
                return Err(("time", why));
            }
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ("time", format!("{s:?} is not an RFC 3339 timestamp: {e}")))
        }
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| ("time", format!("{n} is not a valid millisecond timestamp"))),
        Some(other) => Err((
            "time",
            format!("{other} is neither an RFC 3339 string nor epoch milliseconds"),
        )),
    }
}

impl<'de> Deserialize<'de> for IncomingSample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SampleVisitor)
    }
}

struct SampleVisitor;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Tag,
    TagId,
    Time,
    Value,
    Quality,
    #[serde(other)]
    Other,
}

impl<'de> Visitor<'de> for SampleVisitor {
    type Value = IncomingSample;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sample object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IncomingSample, A::Error> {
        let mut s = IncomingSample::default();
        while let Some(key) = map.next_key::<Key>()? {
            let value: serde_json::Value = map.next_value()?;
            match key {
                Key::Tag => match value {
                    serde_json::Value::String(name) => s.tag = Some(name),
                    serde_json::Value::Null => {}
                    other => s.shape_error = Some(("tag", format!("{other} is not a string"))),
                },
                Key::TagId => match value.as_i64() {
                    Some(id) => s.tag_id = Some(id),
                    None if value.is_null() => {}
                    None => s.shape_error = Some(("tag_id", format!("{value} is not an integer"))),
                },
                Key::Time => s.time = Some(value),
                Key::Value => s.value = Some(value),
                Key::Quality => s.quality = Some(value),
                Key::Other => {}
            }
        }
        Ok(s)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<IncomingSample, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(not_an_object("an array"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<IncomingSample, E> {
        Ok(not_an_object("a string"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<IncomingSample, E> {
        Ok(not_an_object("a number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<IncomingSample, E> {
        Ok(not_an_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<IncomingSample, E> {
        Ok(not_an_object("a number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<IncomingSample, E> {
        Ok(not_an_object("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<IncomingSample, E> {
        Ok(not_an_object("null"))
    }
}

fn not_an_object(what: &str) -> IncomingSample {
    IncomingSample {
        shape_error: Some(("", format!("{what} is not a sample object"))),
        ..Default::default()
    }
}
