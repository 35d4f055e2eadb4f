//! `/admin/...`: the platform operator's routes, opened by the operator key configured as a
//! digest (`auth.operator_key_sha256`): creating tenants with their first owner, and bureau
//! users who belong to no tenant.

use axum::extract::State;
use axum::http::StatusCode;
use millwright_tenants::password::Password;
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::problem::{ApiError, ApiResult, Problem};
use super::users::{check_email, hash_password};
use super::AppState;
use crate::store::admin::{Industry, NewTenant};
use crate::store::users::User;

/// The first owner of a new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    /// Sign-in email.
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Initial password, 12 to 256 characters.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// A tenant to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantBody {
    /// Unique name, 1 to 200 characters.
    pub name: String,
    /// Industry (default `other`).
    pub industry: Option<Industry>,
    /// Region, free text.
    #[serde(default)]
    pub region: String,
    /// `monitor` (default), `mes` or `pro`.
    #[schema(value_type = Option<String>)]
    pub plan: Option<Plan>,
    /// Its first owner.
    pub owner: OwnerBody,
}

/// A created tenant and its owner.
#[derive(Serialize, ToSchema)]
pub struct CreatedTenant {
    /// The tenant's id.
    pub tenant_id: i32,
    /// Its owner.
    pub owner: User,
}

/// A bureau user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BureauUserBody {
    /// Sign-in email.
    pub email: String,
    /// Display name, e.g. the bureau's.
    #[serde(default)]
    pub name: String,
    /// Initial password, 12 to 256 characters.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// Creates a tenant and its first owner.
#[utoipa::path(
    post, path = "/admin/tenants", tag = "admin",
    request_body = NewTenantBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = CreatedTenant),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin API disabled", body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_tenant(
    State(state): State<AppState>,
    Json(body): Json<NewTenantBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedTenant>)> {
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    check_email(&body.owner.email, "owner.email")?;
    let hash = hash_password(body.owner.password, "owner.password").await?;
    let tenant = NewTenant {
        name: body.name,
        industry: body.industry.unwrap_or(Industry::Other),
        region: body.region,
        plan: body.plan.unwrap_or(Plan::Monitor),
    };
    let id = state.store.create_tenant_as(&tenant, "operator").await?;
    let owner = match state
        .store
        .tenant(id)
        .await?
        .acting_as("operator")
        .create_user(&body.owner.email, &body.owner.name, Role::Owner, &hash)
        .await
    {
        Ok(owner) => owner,
        Err(e) => {
            // A tenant nobody can sign in to is of no use: take it back.
            state.store.discard_new_tenant(id).await?;
            return Err(ApiError::from(e).with_field_if_conflict("owner.email"));
        }
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedTenant {
            tenant_id: id.0,
            owner,
        }),
    ))
}

/// Creates a bureau user, who reads only aggregated sector figures.
#[utoipa::path(
    post, path = "/admin/bureau-users", tag = "admin",
    request_body = BureauUserBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin API disabled", body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_bureau_user(
    State(state): State<AppState>,
    Json(body): Json<BureauUserBody>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    check_email(&body.email, "email")?;
    let hash = hash_password(body.password, "password").await?;
    let user = state
        .store
        .create_bureau_user(&body.email, &body.name, &hash)
        .await
        .map_err(|e| ApiError::from(e).with_field_if_conflict("email"))?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}
