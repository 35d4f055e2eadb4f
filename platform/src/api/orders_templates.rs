//! C2B order templates (`/order-templates`) and storefront keys (`/storefront-keys`), the
//! tenant's side of its shop (Pro plan: `ReadCustomOrders` to read, `ManageCustomOrders` to
//! change). The configurator and pricing are in [`crate::orders`]; storage in `store::orders`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::orders::template::TemplateSpec;
use crate::store::orders::{OrderTemplate, StorefrontKeyInfo};

/// Query of `GET /order-templates`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Only the templates the shop offers (default false: all).
    active: Option<bool>,
}

/// A template to change: its definition (the code must stay) and whether the shop offers it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TemplateUpdate {
    /// Whether the shop offers it (default true).
    #[serde(default = "yes")]
    pub active: bool,
    /// The definition.
    #[serde(flatten)]
    pub spec: TemplateSpec,
}

fn yes() -> bool {
    true
}

fn checked(spec: &TemplateSpec) -> Result<(), ApiError> {
    spec.validate()
        .map_err(|e| ApiError::field(e.field, e.detail))
}

/// The tenant's product templates.
#[utoipa::path(
    get, path = "/order-templates", tag = "orders",
    params(TemplateQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Vec<OrderTemplate>))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TemplateQuery>,
) -> ApiResult<axum::Json<Vec<OrderTemplate>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(
        session.order_templates(q.active.unwrap_or(false)).await?,
    ))
}

/// Adds a product template (and the MES product its work orders make, code `C2B-<code>`).
#[utoipa::path(
    post, path = "/order-templates", tag = "orders",
    request_body = TemplateSpec,
    security(("api_key" = [])),
    responses(
        (status = 201, body = OrderTemplate),
        (status = 409, description = "The code exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(spec): Json<TemplateSpec>,
) -> ApiResult<(StatusCode, axum::Json<OrderTemplate>)> {
    checked(&spec)?;
    let mut session = caller.session(&state.store).await?;
    let t = session.create_order_template(&spec).await?.ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "a template with this code exists").with_field("code")
    })?;
    tracing::info!(tenant = %caller.tenant, template = t.id, code = %t.spec.code, "Order template added.");
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// One template.
#[utoipa::path(
    get, path = "/order-templates/{id}", tag = "orders",
    params(("id" = i64, Path, description = "The template's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = OrderTemplate),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<OrderTemplate>> {
    let mut session = caller.session(&state.store).await?;
    session
        .order_template(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("order template"))
}

/// Replaces a template's definition and whether it is offered; orders already quoted keep
/// their price and date.
#[utoipa::path(
    put, path = "/order-templates/{id}", tag = "orders",
    params(("id" = i64, Path, description = "The template's id")),
    request_body = TemplateUpdate,
    security(("api_key" = [])),
    responses(
        (status = 200, body = OrderTemplate),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<TemplateUpdate>,
) -> ApiResult<axum::Json<OrderTemplate>> {
    checked(&body.spec)?;
    let mut session = caller.session(&state.store).await?;
    let Some(before) = session.order_template(id).await? else {
        return Err(ApiError::not_found("order template"));
    };
    if before.spec.code != body.spec.code {
        return Err(ApiError::field("code", "a template's code cannot change"));
    }
    session
        .update_order_template(id, &body.spec, body.active)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("order template"))
}

/// A storefront key to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorefrontKeyBody {
    /// Which shop it is for (1 to 200 characters). Required.
    pub name: Option<String>,
    /// Requests per minute it may make (1 to 100,000; default 120).
    pub requests_per_minute: Option<i32>,
}

/// A new storefront key with its secret, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedStorefrontKey {
    /// The key.
    #[serde(flatten)]
    pub info: StorefrontKeyInfo,
    /// The secret (`mws_…`), for the shop's server: `Authorization: Bearer mws_…`. Not shown
    /// again.
    pub key: String,
}

/// The tenant's storefront keys.
#[utoipa::path(
    get, path = "/storefront-keys", tag = "orders",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<StorefrontKeyInfo>))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<StorefrontKeyInfo>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.storefront_keys().await?))
}

/// Issues a storefront key: it may read templates, quote, place orders and read an order by
/// the order's token, nothing else, at its requests-per-minute rate.
#[utoipa::path(
    post, path = "/storefront-keys", tag = "orders",
    request_body = StorefrontKeyBody,
    security(("api_key" = [])),
    responses((status = 201, body = CreatedStorefrontKey))
)]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<StorefrontKeyBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedStorefrontKey>)> {
    let name = body
        .name
        .ok_or_else(|| ApiError::field("name", "missing"))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let rate = body.requests_per_minute.unwrap_or(120);
    if !(1..=100_000).contains(&rate) {
        return Err(ApiError::field("requests_per_minute", "1 to 100000"));
    }
    let mut session = caller.session(&state.store).await?;
    let (key, info) = session.issue_storefront_key(&name, rate).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedStorefrontKey { info, key }),
    ))
}

/// Revokes a storefront key at once.
#[utoipa::path(
    delete, path = "/storefront-keys/{id}", tag = "orders",
    params(("id" = i64, Path, description = "The key's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = StorefrontKeyInfo),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<StorefrontKeyInfo>> {
    let mut session = caller.session(&state.store).await?;
    session
        .revoke_storefront_key(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("storefront key"))
}
