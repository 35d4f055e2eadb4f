//! `/lines`: lines of the caller's tenant, with the same five operations as the other
//! resources of the plant model; storage is in `store::entities`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::extract::{Caller, Json, Query};
use super::super::problem::{ApiError, ApiResult, Problem};
use super::super::AppState;
use super::{into_line, page, require};
use crate::store::entities::{EntityFields, Kind, Line};

const KIND: Kind = Kind::Line;

/// Fields of a line to create or change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    /// The site it belongs to (required on create).
    pub site_id: Option<i64>,
    /// Name (required on create; 1 to 200 characters).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

impl From<LineBody> for EntityFields {
    fn from(b: LineBody) -> Self {
        Self {
            parent_id: b.site_id,
            name: b.name,
            description: b.description,
            kind: None,
            unit: None,
            value_type: None,
        }
    }
}

/// Query parameters of `GET /lines`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only those of this site.
    site_id: Option<i64>,
    /// Only ids greater than this (keyset pagination: pass the last id seen).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

/// Lists lines.
#[utoipa::path(
    get, path = "/lines", tag = "lines",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Line>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<Line>>> {
    let (after, limit) = page(q.after, q.limit)?;
    let mut session = state.store.tenant(tenant).await?;
    let rows = session.list(KIND, q.site_id, after, limit).await?;
    Ok(axum::Json(rows.into_iter().filter_map(into_line).collect()))
}

/// Creates a line.
#[utoipa::path(
    post, path = "/lines", tag = "lines",
    request_body = LineBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Line),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Json(b): Json<LineBody>,
) -> ApiResult<(StatusCode, axum::Json<Line>)> {
    require(&b.name, "name")?;
    require(&b.site_id, "site_id")?;
    let mut session = state.store.tenant(tenant).await?;
    let created = session.create(KIND, &b.into()).await?;
    let created = into_line(created).ok_or_else(|| ApiError::not_found("line"))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One line.
#[utoipa::path(
    get, path = "/lines/{id}", tag = "lines",
    params(("id" = i64, Path, description = "Line id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Line),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Line>> {
    let mut session = state.store.tenant(tenant).await?;
    let found = session.get(KIND, id).await?.and_then(into_line);
    found
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("line"))
}

/// Changes the given fields of a line.
#[utoipa::path(
    patch, path = "/lines/{id}", tag = "lines",
    params(("id" = i64, Path, description = "Line id")),
    request_body = LineBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Line),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
    Json(b): Json<LineBody>,
) -> ApiResult<axum::Json<Line>> {
    let mut session = state.store.tenant(tenant).await?;
    let updated = session
        .update(KIND, id, &b.into())
        .await?
        .and_then(into_line);
    updated
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("line"))
}

/// Deletes a line and everything under it.
#[utoipa::path(
    delete, path = "/lines/{id}", tag = "lines",
    params(("id" = i64, Path, description = "Line id")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut session = state.store.tenant(tenant).await?;
    if session.delete(KIND, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("line"))
    }
}
