//! The model lifecycle: `POST /models/training-jobs` starts training on the tenant's own
//! history (202, then poll `GET /models/training-jobs/{id}`), `GET /models/versions[/{id}]`
//! lists what was trained with its hold-out metrics, `POST /models/versions/{id}/promote`
//! makes a version the one the scorer runs for its machine class and kind. The work is in
//! `maintenance`; storage in `store::models`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::maintenance::training::{self, TrainingRequest};
use crate::store::models::{ModelKind, ModelVersion, TrainingJob};

/// Query parameters of `GET /models/versions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Only versions for this machine class.
    machine_class: Option<String>,
    /// Only versions of this kind (`anomaly`, `failure`, `rul`, `defect`).
    #[param(inline)]
    kind: Option<ModelKind>,
}

/// Starts a training job; it runs in the background.
#[utoipa::path(
    post, path = "/models/training-jobs", tag = "maintenance",
    request_body = TrainingRequest,
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Accepted; poll the job", body = TrainingJob),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start_training(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TrainingRequest>,
) -> ApiResult<(StatusCode, axum::Json<TrainingJob>)> {
    let params = body
        .resolve()
        .map_err(|(field, detail)| ApiError::field(field, detail))?;
    let request = serde_json::to_value(&params).map_err(|e| {
        tracing::error!(error = %e, "Training parameters do not serialize.");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    let mut session = caller.session(&state.store).await?;
    let job = session.create_training_job(&request).await?;
    drop(session);
    tracing::info!(tenant = %caller.tenant, job = job.id, class = %params.machine_class, kind = params.kind.as_str(), "Training job accepted.");
    training::spawn(state.store.clone(), caller.tenant, job.id, params);
    Ok((StatusCode::ACCEPTED, axum::Json(job)))
}

/// A training job: status, progress and, once done, the version it produced.
#[utoipa::path(
    get, path = "/models/training-jobs/{id}", tag = "maintenance",
    params(("id" = i64, Path, description = "The job's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = TrainingJob),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn training_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<TrainingJob>> {
    let mut session = caller.session(&state.store).await?;
    session
        .training_job(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("training job"))
}

/// Model versions, newest first.
#[utoipa::path(
    get, path = "/models/versions", tag = "maintenance",
    params(VersionQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<ModelVersion>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<VersionQuery>,
) -> ApiResult<axum::Json<Vec<ModelVersion>>> {
    let mut session = caller.session(&state.store).await?;
    let rows = session
        .model_versions(q.machine_class.as_deref(), q.kind)
        .await?;
    Ok(axum::Json(rows))
}

/// One model version with its parameters and hold-out metrics.
#[utoipa::path(
    get, path = "/models/versions/{id}", tag = "maintenance",
    params(("id" = i64, Path, description = "The version's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ModelVersion),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ModelVersion>> {
    let mut session = caller.session(&state.store).await?;
    session
        .model_version(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("model version"))
}

/// Promotes a version: the scorer runs it for its machine class and kind from the next round
/// on, instead of the previously promoted one.
#[utoipa::path(
    post, path = "/models/versions/{id}/promote", tag = "maintenance",
    params(("id" = i64, Path, description = "The version's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ModelVersion),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ModelVersion>> {
    let mut session = caller.session(&state.store).await?;
    let promoted = session
        .promote_model_version(id)
        .await?
        .ok_or_else(|| ApiError::not_found("model version"))?;
    tracing::info!(tenant = %caller.tenant, version = id, class = %promoted.machine_class, kind = promoted.kind.as_str(), "Model version promoted.");
    Ok(axum::Json(promoted))
}
