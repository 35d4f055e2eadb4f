//! `/tags`: tags of the caller's tenant, with the same five operations as the other
//! resources of the plant model; storage is in `store::entities`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::extract::{Caller, Json, Query};
use super::super::problem::{ApiError, ApiResult, Problem};
use super::super::AppState;
use super::{into_tag, page, require};
use crate::store::entities::ValueType;
use crate::store::entities::{EntityFields, Kind, Tag};

const KIND: Kind = Kind::Tag;

/// Fields of a tag to create or change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    /// The machine it belongs to (required on create).
    pub machine_id: Option<i64>,
    /// Name (required on create; 1 to 200 characters).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Engineering unit, e.g. `degC`.
    pub unit: Option<String>,
    /// `float` (default), `integer` or `boolean`.
    pub value_type: Option<ValueType>,
}

impl From<TagBody> for EntityFields {
    fn from(b: TagBody) -> Self {
        Self {
            parent_id: b.machine_id,
            name: b.name,
            description: b.description,
            kind: None,
            unit: b.unit,
            value_type: b.value_type,
        }
    }
}

/// Query parameters of `GET /tags`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only those of this machine.
    machine_id: Option<i64>,
    /// Only ids greater than this (keyset pagination: pass the last id seen).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

/// Lists tags.
#[utoipa::path(
    get, path = "/tags", tag = "tags",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Tag>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<Tag>>> {
    let (after, limit) = page(q.after, q.limit)?;
    let mut session = state.store.tenant(tenant).await?;
    let rows = session.list(KIND, q.machine_id, after, limit).await?;
    Ok(axum::Json(rows.into_iter().filter_map(into_tag).collect()))
}

/// Creates a tag.
#[utoipa::path(
    post, path = "/tags", tag = "tags",
    request_body = TagBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Tag),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Json(b): Json<TagBody>,
) -> ApiResult<(StatusCode, axum::Json<Tag>)> {
    require(&b.name, "name")?;
    require(&b.machine_id, "machine_id")?;
    let mut session = state.store.tenant(tenant).await?;
    let created = session.create(KIND, &b.into()).await?;
    let created = into_tag(created).ok_or_else(|| ApiError::not_found("tag"))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One tag.
#[utoipa::path(
    get, path = "/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Tag),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Tag>> {
    let mut session = state.store.tenant(tenant).await?;
    let found = session.get(KIND, id).await?.and_then(into_tag);
    found
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("tag"))
}

/// Changes the given fields of a tag.
#[utoipa::path(
    patch, path = "/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
    request_body = TagBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Tag),
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
    Json(b): Json<TagBody>,
) -> ApiResult<axum::Json<Tag>> {
    let mut session = state.store.tenant(tenant).await?;
    let updated = session
        .update(KIND, id, &b.into())
        .await?
        .and_then(into_tag);
    updated
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("tag"))
}

/// Deletes a tag and everything under it.
#[utoipa::path(
    delete, path = "/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
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
        Err(ApiError::not_found("tag"))
    }
}
