//! Signing in: who a bearer credential belongs to, and the login, refresh, logout and `me`
//! routes.
//!
//! Two kinds of bearer credential reach the API. API keys and device tokens (`mwk_…`) are
//! looked up by digest on every request, with their issuer's role now (a key acts with no
//! more than it) and, for device tokens, the site they are scoped to. Access tokens (JWT, 15
//! minutes) are checked by signature, then their session is looked up so that logout,
//! refresh-token theft, a disabled or removed user, or any change to the user's role or
//! password end them at once rather than at expiry; the same lookup brings the user's role
//! and the tenant's plan as they are now.
//!
//! Logins are throttled per account and per client address ([`LoginThrottles`]), and every
//! refused password is recorded in the audit log of the account's tenant.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::Utc;
use millwright_tenants::login_throttle::{LoginThrottle, ThrottlePolicy};
use millwright_tenants::password::{self, Password};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use millwright_tenants::token::refresh::{self, NewRefreshToken, REFRESH_TTL};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ClientAddr, Json};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::auth::Rotation;
use crate::store::TenantId;

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's tenant (`None` for bureau users and the platform operator).
    pub tenant: Option<TenantId>,
    /// The role it acts with.
    pub role: Role,
    /// The tenant's plan now (`None` outside tenants).
    pub plan: Option<Plan>,
    /// How the audit log names it: `user 3`, `key mwk_1a2b3c4d`, `operator`.
    pub actor: String,
    /// How it signed in.
    pub via: Credential,
    /// For an API key issued by a user: that user's role now. The key may do only what both
    /// its own role and this one allow.
    pub ceiling: Option<Role>,
    /// For a device token scoped to a site: the site. Its store sessions see only that site's
    /// plant model and commands.
    pub site: Option<i64>,
    /// The user behind the credential (the signed-in user, or the issuer of a key): the
    /// issuer recorded on keys it mints, so their ceiling carries over.
    pub issuer: Option<i64>,
}

impl Principal {
    /// Whether this caller may hand out `role` (invite, change a role, issue a key): its own
    /// role allows it, and so does its ceiling.
    pub fn may_grant(&self, role: Role) -> bool {
        self.role.can_grant(role) && self.ceiling.is_none_or(|c| c.can_grant(role))
    }
}

/// How a caller signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A user's access token, in login session `session`.
    Session {
        /// The user.
        user: i64,
        /// The login session.
        session: i64,
    },
    /// An API key or device token.
    Key {
        /// The key's id.
        id: i64,
    },
    /// The platform operator's key.
    Operator,
}

/// The bearer credential of a request, if it has one in the right shape.
pub(super) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing Authorization: Bearer <token or API key>")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token or API key>`"))
}

/// Authenticates a tenant credential: an API key, a device token or a user's access token.
pub(super) async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if token.starts_with("mwk_") {
        let digest = millwright_tenants::api_key::digest(token)
            .map_err(|_| ApiError::unauthorized("invalid API key"))?;
        let key = state
            .store
            .authenticate(&digest)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid, expired or revoked API key"))?;
        if !key.issuer_active {
            return Err(ApiError::unauthorized(
                "the user who issued this API key is disabled",
            ));
        }
        return Ok(Principal {
            tenant: Some(key.tenant),
            role: key.role,
            plan: Some(key.plan),
            actor: format!("key {}", key.prefix),
            via: Credential::Key { id: key.key_id },
            ceiling: key.issuer_role,
            site: key.site,
            issuer: key.issued_by,
        });
    }
    let claims = state
        .tokens
        .verify(token, Utc::now())
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let live = state
        .store
        .session_state(claims.sid, claims.user)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| ApiError::unauthorized("this session has ended; sign in again"))?;
    Ok(Principal {
        tenant: claims.tenant.map(|t| TenantId(t as i32)),
        // The role now, not the one in the token (a change also ends the session; this is
        // the second line of defence).
        role: live.role,
        plan: live.plan,
        actor: format!("user {}", claims.user),
        via: Credential::Session {
            user: claims.user,
            session: claims.sid,
        },
        ceiling: None,
        site: None,
        issuer: Some(claims.user),
    })
}

/// Failed logins per account (lower-case email) and per client address; see
/// [`millwright_tenants::login_throttle`]. Per process: with several replicas each counts its
/// own share.
#[derive(Debug)]
pub struct LoginThrottles {
    account: LoginThrottle<String>,
    address: LoginThrottle<IpAddr>,
}

impl Default for LoginThrottles {
    fn default() -> Self {
        Self::new(ThrottlePolicy::ACCOUNT, ThrottlePolicy::ADDRESS)
    }
}

impl LoginThrottles {
    /// Throttles with these policies.
    pub fn new(account: ThrottlePolicy, address: ThrottlePolicy) -> Self {
        Self {
            account: LoginThrottle::new(account),
            address: LoginThrottle::new(address),
        }
    }

    fn check(
        &self,
        account: &String,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let by_account = self.account.check(account, now);
        let by_address = address.map_or(Ok(()), |a| self.address.check(&a, now));
        match (by_account, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (a, b) => Err(a.err().unwrap_or_default().max(b.err().unwrap_or_default())),
        }
    }

    fn failed(&self, account: &String, address: Option<IpAddr>, now: Instant) -> u32 {
        if let Some(a) = address {
            self.address.failed(&a, now);
        }
        self.account.failed(account, now)
    }

    fn succeeded(&self, account: &String, address: Option<IpAddr>) {
        self.account.succeeded(account);
        if let Some(a) = address {
            self.address.succeeded(&a);
        }
    }

    /// Forgets quiet accounts and addresses.
    pub fn prune(&self, now: Instant) {
        self.account.prune(now);
        self.address.prune(now);
    }
}

/// Email and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Sign-in email.
    pub email: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
    /// The tenant to sign in to, needed only when the same email and password open accounts
    /// in several tenants.
    pub tenant_id: Option<i32>,
}

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the login or the last refresh (`mwr_…`); usable once.
    pub refresh_token: String,
}

/// Tokens after a login or a refresh.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Bearer token for the API.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange it at `/auth/refresh` for new tokens; good once, for 30 days.
    pub refresh_token: String,
}

/// Who the caller is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The caller's tenant, if any.
    pub tenant: Option<i32>,
    /// Its role.
    #[schema(value_type = String)]
    pub role: Role,
    /// The tenant's plan.
    #[schema(value_type = Option<String>)]
    pub plan: Option<Plan>,
    /// How the audit log names the caller.
    pub actor: String,
}

fn issue(
    state: &AppState,
    session: i64,
    user: i64,
    tenant: Option<TenantId>,
    role: Role,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let now = Utc::now();
    let (token, claims) = state
        .tokens
        .issue_in_session(session, tenant.map(|t| t.0.into()), user, role, now)
        .map_err(crate::error::Error::from)?;
    Ok(TokenResponse {
        access_token: token.expose().to_owned(),
        token_type: "Bearer",
        expires_in: claims.exp - now.timestamp(),
        refresh_token,
    })
}

/// Signs in with email and password.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let account = body.email.trim().to_lowercase();
    let address = client.ip();
    let now = Instant::now();
    if let Err(wait) = state.logins.check(&account, address, now) {
        tracing::warn!(client = %client, "Refused a login attempt: too many failed logins.");
        return Err(ApiError::too_many_requests(
            "too many failed logins for this account or from this address; retry after the \
             Retry-After seconds",
            wait.as_secs_f64().ceil() as u64,
        )
        .with_kind("login-throttle"));
    }
    let candidates: Vec<_> = state
        .store
        .login_candidates(&account)
        .await?
        .into_iter()
        .filter(|c| body.tenant_id.is_none_or(|t| c.tenant == Some(TenantId(t))))
        .collect();
    let password = body.password;
    // argon2 takes tens of milliseconds: off the async threads. An unknown email costs the
    // same time as a wrong password, so timing does not reveal which accounts exist.
    let (candidates, matched) = tokio::task::spawn_blocking(move || {
        if candidates.is_empty() {
            password::verify_unknown_user(&password);
        }
        let matched: Vec<usize> = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| password::verify(&password, &c.password_hash).unwrap_or(false))
            .map(|(i, _)| i)
            .collect();
        (candidates, matched)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "login failed"))?;
    let record = match matched.as_slice() {
        [one] => &candidates[*one],
        [] => {
            let failures = state.logins.failed(&account, address, Instant::now());
            tracing::info!(client = %client, failures, "Refused a login: wrong email or password.");
            if candidates.is_empty() {
                state
                    .store
                    .audit_failed_login(None, &client.to_string(), "no such account")
                    .await?;
            }
            for c in &candidates {
                state
                    .store
                    .audit_failed_login(
                        Some((c.user_id, c.tenant)),
                        &client.to_string(),
                        "wrong password",
                    )
                    .await?;
            }
            return Err(ApiError::unauthorized("wrong email or password"));
        }
        _ => {
            return Err(ApiError::field(
                "tenant_id",
                "this email and password open accounts in several tenants: name the tenant",
            ))
        }
    };
    state.logins.succeeded(&account, address);
    let refresh = NewRefreshToken::generate();
    let session = state
        .store
        .open_session(record.user_id, &refresh.digest, Utc::now() + REFRESH_TTL)
        .await?;
    tracing::info!(user = record.user_id, session, "User signed in.");
    let response = issue(
        &state,
        session,
        record.user_id,
        record.tenant,
        record.role,
        refresh.plaintext.expose().to_owned(),
    )?;
    Ok(axum::Json(response))
}

/// Exchanges a refresh token for new tokens. A token used twice ends its session: one of
/// the two holders stole it.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Unknown, used, revoked or expired refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let presented = refresh::digest(&body.refresh_token).map_err(|_| {
        ApiError::unauthorized("malformed refresh token").with_field("refresh_token")
    })?;
    let successor = NewRefreshToken::generate();
    match state
        .store
        .rotate_refresh_token(&presented, &successor.digest, Utc::now() + REFRESH_TTL)
        .await?
    {
        Rotation::Rotated {
            session,
            user,
            tenant,
            role,
        } => Ok(axum::Json(issue(
            &state,
            session,
            user,
            tenant,
            role,
            successor.plaintext.expose().to_owned(),
        )?)),
        Rotation::Refused(verdict) => {
            if verdict == "reused" {
                tracing::warn!("A used refresh token was presented again; its session is revoked.");
            }
            Err(ApiError::unauthorized(format!(
                "refresh token refused ({verdict}); sign in again"
            )))
        }
    }
}

/// Ends the caller's login session: its refresh token and every access token of the session
/// stop working at once.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An API key has no session; revoke it instead", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    match principal.via {
        Credential::Session { user, session } => {
            state.store.close_session(session, user).await?;
            tracing::info!(user, session, "User signed out.");
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::field(
            "Authorization",
            "API keys and device tokens have no session; revoke the key instead",
        )),
    }
}

/// Who the caller is, with its role and plan.
#[utoipa::path(
    get, path = "/me", tag = "auth",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(principal: Principal) -> axum::Json<Me> {
    axum::Json(Me {
        tenant: principal.tenant.map(|t| t.0),
        role: principal.role,
        plan: principal.plan,
        actor: principal.actor,
    })
}
