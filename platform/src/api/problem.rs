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
                    _ => {}
                }
            }
        }
        if matches!(e, Error::Pool(_)) {
            tracing::warn!(error = %e, "No database connection available.");
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

/// The request field behind a constraint, from our constraint naming.
fn constraint_field(constraint: Option<&str>) -> Option<&'static str> {
    let c = constraint?;
    ["site_id", "line_id", "machine_id", "name"]
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
