//! `/machines`: machines of the caller's tenant, with the same five operations as the other
//! resources of the plant model; storage is in `store::entities`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::extract::{Caller, Json, Query};
use super::super::problem::{ApiError, ApiResult, Problem};
use super::super::AppState;
use super::{into_machine, page, require};
use crate::store::entities::{EntityFields, Kind, Machine};

const KIND: Kind = Kind::Machine;

/// Fields of a machine to create or change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineBody {
    /// The line it belongs to (required on create).
    pub line_id: Option<i64>,
    /// Name (required on create; 1 to 200 characters).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Machine class, e.g. `injection_moulding`, `cnc`, `sewing`.
    pub kind: Option<String>,
}

impl From<MachineBody> for EntityFields {
    fn from(b: MachineBody) -> Self {
        Self {
            parent_id: b.line_id,
            name: b.name,
            description: b.description,
            kind: b.kind,
            unit: None,
            value_type: None,
        }
    }
}

/// Query parameters of `GET /machines`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only those of this line.
    line_id: Option<i64>,
    /// Only ids greater than this (keyset pagination: pass the last id seen).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

/// Lists machines.
#[utoipa::path(
    get, path = "/machines", tag = "machines",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Machine>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<Machine>>> {
    let (after, limit) = page(q.after, q.limit)?;
    let mut session = state.store.tenant(tenant).await?;
    let rows = session.list(KIND, q.line_id, after, limit).await?;
    Ok(axum::Json(
        rows.into_iter().filter_map(into_machine).collect(),
    ))
}

/// Creates a machine.
#[utoipa::path(
    post, path = "/machines", tag = "machines",
    request_body = MachineBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Machine),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Json(b): Json<MachineBody>,
) -> ApiResult<(StatusCode, axum::Json<Machine>)> {
    require(&b.name, "name")?;
    require(&b.line_id, "line_id")?;
    let mut session = state.store.tenant(tenant).await?;
    let created = session.create(KIND, &b.into()).await?;
    let created = into_machine(created).ok_or_else(|| ApiError::not_found("machine"))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One machine.
#[utoipa::path(
    get, path = "/machines/{id}", tag = "machines",
    params(("id" = i64, Path, description = "Machine id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Machine),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Machine>> {
    let mut session = state.store.tenant(tenant).await?;
    let found = session.get(KIND, id).await?.and_then(into_machine);
    found
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("machine"))
}

/// Changes the given fields of a machine.
#[utoipa::path(
    patch, path = "/machines/{id}", tag = "machines",
    params(("id" = i64, Path, description = "Machine id")),
    request_body = MachineBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Machine),
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
    Json(b): Json<MachineBody>,
) -> ApiResult<axum::Json<Machine>> {
    let mut session = state.store.tenant(tenant).await?;
    let updated = session
        .update(KIND, id, &b.into())
        .await?
        .and_then(into_machine);
    updated
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("machine"))
}

/// Deletes a machine and everything under it.
#[utoipa::path(
    delete, path = "/machines/{id}", tag = "machines",
    params(("id" = i64, Path, description = "Machine id")),
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
        Err(ApiError::not_found("machine"))
    }
}
