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
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "Not ready: the database does not answer.");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            ))
        }
    }
}
