//! `/users`: a tenant's people, managed by its owners and admins. Nobody may grant a role
//! above their own (an admin cannot make an owner), and passwords are hashed with argon2
//! before they reach the store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use millwright_tenants::password::{self, Password};
use millwright_tenants::role::Role;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Caller, Json};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::users::{User, UserChange};

/// A user to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Sign-in email (stored lower case; unique across the platform).
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `owner`, `admin`, `engineer`, `operator` or `viewer`.
    #[schema(value_type = String, example = "engineer")]
    pub role: Role,
    /// Initial password, 12 to 256 characters.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// Changes to a user; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Display name.
    pub name: Option<String>,
    /// New role.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Disable (sessions end at once) or enable.
    pub disabled: Option<bool>,
    /// New password, 12 to 256 characters.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
}

/// Whether `caller` may hand out `role` to a person.
pub(super) fn check_grant(caller: &Caller, role: Role, field: &str) -> ApiResult<()> {
    if !role.is_for_people() || !role.is_tenant_role() {
        return Err(ApiError::field(
            field,
            format!("{role} is not a role for people in a tenant"),
        ));
    }
    if !caller.principal.may_grant(role) {
        let by = match caller.principal.ceiling {
            Some(c) if !c.can_grant(role) => format!("a key issued by a user who is now {c}"),
            _ => format!("the {} role", caller.principal.role),
        };
        return Err(
            ApiError::forbidden(format!("{by} may not grant the {role} role")).with_field(field),
        );
    }
    Ok(())
}

pub(super) async fn hash_password(password: Password, field: &str) -> ApiResult<String> {
    let field = field.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed"))?
        .map_err(|e| ApiError::field(field, e.to_string()))
}

/// Refuses what cannot be an email address, naming `field`.
pub(super) fn check_email(email: &str, field: &str) -> ApiResult<()> {
    let ok = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(field, "not an email address"))
    }
}

/// Lists the tenant's users.
#[utoipa::path(
    get, path = "/users", tag = "users",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<User>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<User>>> {
    Ok(axum::Json(
        caller.session(&state.store).await?.users().await?,
    ))
}

/// Adds a user.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = NewUserBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role or grant not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUserBody>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    check_email(&body.email, "email")?;
    check_grant(&caller, body.role, "role")?;
    let hash = hash_password(body.password, "password").await?;
    let user = caller
        .session(&state.store)
        .await?
        .create_user(&body.email, &body.name, body.role, &hash)
        .await
        .map_err(|e| ApiError::from(e).with_field_if_conflict("email"))?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// One user.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "Its id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<User>> {
    let user = caller.session(&state.store).await?.user(id).await?;
    user.map(axum::Json)
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Changes a user's name, role, password, or disables them.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "Its id")),
    request_body = UserPatch,
    security(("api_key" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<UserPatch>,
) -> ApiResult<axum::Json<User>> {
    let mut session = caller.session(&state.store).await?;
    let current = session
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    // Changing someone's role means both taking theirs away and giving the new one.
    if body.role.is_some() || body.disabled.is_some() || body.password.is_some() {
        check_grant(&caller, current.role, "role")?;
    }
    if let Some(role) = body.role {
        check_grant(&caller, role, "role")?;
    }
    let password_hash = match body.password {
        Some(p) => Some(hash_password(p, "password").await?),
        None => None,
    };
    let change = UserChange {
        name: body.name,
        role: body.role,
        disabled: body.disabled,
        password_hash,
    };
    let user = session.update_user(id, &change).await?;
    user.map(axum::Json)
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Removes a user.
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "Its id")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut session = caller.session(&state.store).await?;
    let current = session
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    check_grant(&caller, current.role, "role")?;
    if session.delete_user(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user"))
    }
}
