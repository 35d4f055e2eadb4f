//! `/api-keys`: API keys for programs and device tokens for connectors (role `device`),
//! issued with a role no higher than the issuer's, shown once, expirable and revocable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use millwright_tenants::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Caller, Json};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::entities::Kind;
use crate::store::keys::{ApiKeyInfo, NewKey};

/// A key to issue.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// What it is for, e.g. `line 2 connector`.
    pub name: String,
    /// The role it acts with: `device` for a connector's device token, or a tenant role no
    /// higher than the issuer's.
    #[schema(value_type = String, example = "device")]
    pub role: Role,
    /// When it stops working; absent: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Device tokens only, and required for them: the one site whose tags the connector may
    /// send samples for and whose setpoint commands it may run.
    pub site_id: Option<i64>,
}

/// A freshly issued key: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct IssuedKey {
    /// The secret, to be stored by the caller now; it cannot be shown again.
    pub key: String,
    /// What listings will show.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
}

/// Lists the tenant's keys and device tokens (never their secrets).
#[utoipa::path(
    get, path = "/api-keys", tag = "api-keys",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<ApiKeyInfo>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ApiKeyInfo>>> {
    Ok(axum::Json(
        caller.session(&state.store).await?.api_keys().await?,
    ))
}

/// Issues an API key or device token.
#[utoipa::path(
    post, path = "/api-keys", tag = "api-keys",
    request_body = NewKeyBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = IssuedKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewKeyBody>,
) -> ApiResult<(StatusCode, axum::Json<IssuedKey>)> {
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    if body.role == Role::Device {
        if !caller.principal.may_grant(Role::Device) {
            return Err(
                ApiError::forbidden("this caller may not issue device tokens").with_field("role"),
            );
        }
        if body.site_id.is_none() {
            return Err(ApiError::field(
                "site_id",
                "a device token is scoped to one site: give its site_id",
            ));
        }
    } else {
        super::users::check_grant(&caller, body.role, "role")?;
        if body.site_id.is_some() {
            return Err(ApiError::field(
                "site_id",
                "only device tokens are scoped to a site",
            ));
        }
    }
    if body.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let mut session = caller.session(&state.store).await?;
    if let Some(site) = body.site_id {
        if session.get(Kind::Site, site).await?.is_none() {
            return Err(ApiError::field("site_id", format!("no site {site}")));
        }
    }
    let (key, info) = session
        .issue_key(&NewKey {
            name: &body.name,
            role: body.role,
            expires_at: body.expires_at,
            site_id: body.site_id,
            issued_by: caller.principal.issuer,
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(IssuedKey { key, info })))
}

/// Revokes a key or device token at once.
#[utoipa::path(
    delete, path = "/api-keys/{id}", tag = "api-keys",
    params(("id" = i64, Path, description = "Its id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ApiKeyInfo),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A key of a role the caller could not grant", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ApiKeyInfo>> {
    let mut session = caller.session(&state.store).await?;
    let key = session
        .api_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    // As on /users: nobody acts on a key of a role they could not grant (an admin cannot
    // revoke an owner's key).
    if key.role != Role::Device {
        super::users::check_grant(&caller, key.role, "role")?;
    }
    let revoked = session.revoke_api_key(id).await?;
    revoked
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("API key"))
}
