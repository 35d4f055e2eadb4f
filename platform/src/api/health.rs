//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::problem::{ApiError, Problem};
use super::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses(
        (status = 200, body = String),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    match state.store.ping().await {
        Ok(()) => {
            super::problem::note_database_available();
            Ok("ready")
        }
        Err(e) => {
            // Probes come every few seconds: rate-limited with the requests' own reports.
            super::problem::note_database_unavailable(&e);
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            ))
        }
    }
}
