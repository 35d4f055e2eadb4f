//! The one error type of the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//! Server-side failures are logged with their cause and answered with a bare 500; client
//! mistakes name the offending field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;

use crate::error::Error;

/// One problem with one field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Path of the field, e.g. `samples[3].value`.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The offending field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every offending field, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    kind: Option<&'static str>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
            kind: None,
        }
    }

    /// 403: the caller may not do this (its role, or its tenant's plan, says no).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 429 with `Retry-After: secs`.
    pub fn too_many_requests(detail: impl Into<String>, secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
        e.retry_after = Some(secs.max(1));
        e
    }

    /// Sets the problem `type` to `/problems/<kind>` (e.g. `plan`, `quota`), for clients
    /// that act on the kind rather than read the sentence.
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }

    /// 422 naming one field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_field(field)
    }

    /// 422 listing several fields.
    pub fn fields(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        e.field = errors.first().map(|f| f.field.clone());
        e.errors = errors;
        e
    }

    /// 404 that never says whether the thing exists for someone else.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Names `field` on a 409, whose generic field would otherwise be `name`.
    pub fn with_field_if_conflict(self, field: &str) -> Self {
        if self.status == StatusCode::CONFLICT {
            self.with_field(field)
        } else {
            self
        }
    }

    /// Changes the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The offending field, if one is named.
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        if let Error::Database { source, .. } = &e {
            if let Some(db) = source.as_db_error() {
                let field = constraint_field(db.constraint());
                match *db.code() {
                    SqlState::UNIQUE_VIOLATION => {
                        return Self::new(
                            StatusCode::CONFLICT,
                            "an object with this name already exists here",
                        )
                        .with_field(field.unwrap_or("name"));
                    }
                    SqlState::FOREIGN_KEY_VIOLATION => {
                        let field = field.unwrap_or("parent");
                        return Self::field(
                            field,
                            format!("{field} does not refer to an existing object"),
                        );
                    }
                    SqlState::CHECK_VIOLATION | SqlState::NOT_NULL_VIOLATION => {
                        let field = db
                            .column()
                            .map(str::to_string)
                            .or(field.map(str::to_string));
                        let detail =
                            "value out of the allowed range (names are 1 to 200 characters)";
                        return Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
                            .with_field(field.unwrap_or_else(|| "body".into()));
                    }
                    // A safety net behind the input rules (api::input): values the database
                    // cannot hold are the client's mistake, never a 500.
                    SqlState::DATETIME_FIELD_OVERFLOW
                    | SqlState::CHARACTER_NOT_IN_REPERTOIRE
                    | SqlState::UNTRANSLATABLE_CHARACTER
                    | SqlState::NUMERIC_VALUE_OUT_OF_RANGE
                    | SqlState::STRING_DATA_RIGHT_TRUNCATION
                    | SqlState::INTERVAL_FIELD_OVERFLOW => {
                        return Self::field(
                            db.column().unwrap_or("body").to_string(),
                            "a value is outside what can be stored (a timestamp out of range, \
                             U+0000 in text, or a number too large)",
                        );
                    }
                    _ => {}
                }
            }
        }
        if database_unavailable(&e) {
            note_database_unavailable(&e);
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable, try again shortly",
            );
        }
        tracing::error!(error = ?e, "Request failed.");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the details are in the server log",
        )
    }
}

/// True when `e` means the database cannot be reached right now (no pooled connection, the
/// connection closed, the server shutting down or starting): a 503, not a 500.
pub fn database_unavailable(e: &Error) -> bool {
    match e {
        Error::Pool(_) => true,
        Error::Database { source, .. } => {
            if source.is_closed() {
                return true;
            }
            match source.code() {
                // connection_exception (08…), admin/crash shutdown, cannot connect now.
                Some(code) => {
                    code.code().starts_with("08")
                        || *code == SqlState::ADMIN_SHUTDOWN
                        || *code == SqlState::CRASH_SHUTDOWN
                        || *code == SqlState::CANNOT_CONNECT_NOW
                }
                // No server answer at all: an I/O error on the connection.
                None => std::error::Error::source(source)
                    .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()),
            }
        }
        _ => false,
    }
}

/// Failures since the outage's last WARN, and when that was; `None` while the database answers.
static OUTAGE: std::sync::Mutex<Option<(std::time::Instant, u64)>> = std::sync::Mutex::new(None);

/// Rate-limited log of a database outage: the first failure at once (WARN), then at most one
/// WARN per [`OUTAGE_LOG_EVERY`] with the number of failures in between, so an outage under
/// load (every request and readiness probe failing) is a few lines, not one per request.
pub fn note_database_unavailable(e: &dyn std::fmt::Display) {
    let mut state = OUTAGE.lock().unwrap_or_else(|p| p.into_inner());
    match &mut *state {
        Some((last, failures)) if last.elapsed() < OUTAGE_LOG_EVERY => *failures += 1,
        Some((last, failures)) => {
            tracing::warn!(error = %e, failures = *failures + 1,
                           "The database is still unavailable; requests answer 503.");
            *last = std::time::Instant::now();
            *failures = 0;
        }
        None => {
            tracing::warn!(error = %e, "The database is unavailable; requests answer 503 until it is back (logged again at most every 30 s).");
            *state = Some((std::time::Instant::now(), 0));
        }
    }
}

/// The database answered (a readiness probe): ends an outage being reported, with one INFO.
pub fn note_database_available() {
    let mut state = OUTAGE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, failures)) = state.take() {
        tracing::info!(
            failures_since_last_report = failures,
            "The database answers again."
        );
    }
}

/// Shortest time between two WARNs about the same database outage.
pub const OUTAGE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The request field behind a constraint, from our constraint naming.
fn constraint_field(constraint: Option<&str>) -> Option<&'static str> {
    let c = constraint?;
    ["site_id", "line_id", "machine_id", "email", "name"]
        .into_iter()
        .find(|f| c.contains(f))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let body = Problem {
            kind: self
                .kind
                .map_or_else(|| "about:blank".into(), |k| format!("/problems/{k}")),
            title,
            status: self.status.as_u16(),
            // A safety net: details are written not to carry secrets, but a parser's message
            // may echo what it was given.
            detail: millwright_tenants::redact::redact(&self.detail).into_owned(),
            field: self.field,
            errors: self.errors,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `Result` for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The layer behind every route: any error answer that is not problem+json yet (axum's own
/// rejections of path parameters, a method router's 405, a body limit) becomes one with the
/// same status and headers, so clients meet one error format everywhere. A path parameter
/// that does not parse is named after the route's pattern.
pub async fn normalize(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let template = response
        .extensions()
        .get::<super::access::RouteTemplate>()
        .map(|t| t.0.clone());
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let mut problem = ApiError::new(
        status,
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text.clone()
        },
    );
    if status == StatusCode::BAD_REQUEST && text.contains("Cannot parse") {
        problem = problem.with_field(path_parameter(template.as_deref(), &text));
    }
    if status.is_server_error() {
        tracing::error!(status = %status, detail = %text, "A non-problem error answer was rewritten.");
        problem.detail = "internal error; the details are in the server log".into();
    }
    let mut rewritten = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// Which path parameter an axum "Cannot parse …" message is about: the route's only one, the
/// one at the index it names, or `path`.
fn path_parameter(template: Option<&str>, message: &str) -> String {
    let params: Vec<&str> = template
        .unwrap_or_default()
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    if let Some(key) = message
        .split("Cannot parse `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .filter(|k| params.contains(k))
    {
        return key.to_string();
    }
    if let Some(i) = message
        .split("at index ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|i| i.parse::<usize>().ok())
    {
        if let Some(p) = params.get(i) {
            return (*p).to_string();
        }
    }
    match params.as_slice() {
        [one] => (*one).to_string(),
        _ => "path".to_string(),
    }
}

/// What a panicking handler answers: a problem+json 500 (the panic is logged, not shown).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = %message, "A request handler panicked.");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; the details are in the server log",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_named_from_the_route() {
        let one = Some("/api/v1/sites/{id}");
        assert_eq!(path_parameter(one, "Cannot parse `abc` to a `i64`"), "id");
        let two = Some("/api/v1/machines/{id}/events/{event_id}");
        assert_eq!(
            path_parameter(
                two,
                "Cannot parse value at index 1 with value `x` to a `i64`"
            ),
            "event_id"
        );
        assert_eq!(
            path_parameter(two, "Cannot parse `event_id` with value `x` to a `i64`"),
            "event_id"
        );
        assert_eq!(path_parameter(None, "Cannot parse `x` to a `i64`"), "path");
    }
}
