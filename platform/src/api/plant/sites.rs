//! `/sites`: sites of the caller's tenant, with the same five operations as the other
//! resources of the plant model; storage is in `store::entities`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::extract::{Caller, Json, Query};
use super::super::problem::{ApiError, ApiResult, Problem};
use super::super::AppState;
use super::{into_site, page, require};
use crate::store::entities::{EntityFields, Kind, Site};

const KIND: Kind = Kind::Site;

/// Fields of a site to create or change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteBody {
    /// Name (required on create; 1 to 200 characters).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

impl From<SiteBody> for EntityFields {
    fn from(b: SiteBody) -> Self {
        Self {
            parent_id: None,
            name: b.name,
            description: b.description,
            kind: None,
            unit: None,
            value_type: None,
        }
    }
}

/// Query parameters of `GET /sites`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only ids greater than this (keyset pagination: pass the last id seen).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

/// Lists sites.
#[utoipa::path(
    get, path = "/sites", tag = "sites",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Site>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<Site>>> {
    let (after, limit) = page(q.after, q.limit)?;
    let mut session = state.store.tenant(tenant).await?;
    let rows = session.list(KIND, None, after, limit).await?;
    Ok(axum::Json(rows.into_iter().filter_map(into_site).collect()))
}

/// Creates a site.
#[utoipa::path(
    post, path = "/sites", tag = "sites",
    request_body = SiteBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Site),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Json(b): Json<SiteBody>,
) -> ApiResult<(StatusCode, axum::Json<Site>)> {
    require(&b.name, "name")?;
    let mut session = state.store.tenant(tenant).await?;
    let created = session.create(KIND, &b.into()).await?;
    let created = into_site(created).ok_or_else(|| ApiError::not_found("site"))?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One site.
#[utoipa::path(
    get, path = "/sites/{id}", tag = "sites",
    params(("id" = i64, Path, description = "Site id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Site),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Site>> {
    let mut session = state.store.tenant(tenant).await?;
    let found = session.get(KIND, id).await?.and_then(into_site);
    found
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("site"))
}

/// Changes the given fields of a site.
#[utoipa::path(
    patch, path = "/sites/{id}", tag = "sites",
    params(("id" = i64, Path, description = "Site id")),
    request_body = SiteBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Site),
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
    Json(b): Json<SiteBody>,
) -> ApiResult<axum::Json<Site>> {
    let mut session = state.store.tenant(tenant).await?;
    let updated = session
        .update(KIND, id, &b.into())
        .await?
        .and_then(into_site);
    updated
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("site"))
}

/// Deletes a site and everything under it.
#[utoipa::path(
    delete, path = "/sites/{id}", tag = "sites",
    params(("id" = i64, Path, description = "Site id")),
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
        Err(ApiError::not_found("site"))
    }
}
