//! Credentials: API keys, device tokens, logins, sessions and refresh tokens.
//!
//! The application role never reads a credential table. Each lookup is a security-definer
//! function (migration V4) that takes one presented secret's digest, or one email, and
//! returns at most one row, so a request can only learn about the credential it holds.

use chrono::{DateTime, Utc};
use millwright_tenants::{plan::Plan, role::Role};

use super::{Store, TenantId};
use crate::error::{Error, Result};

/// Who an API key or device token belongs to, and what it may be.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key's id (for listings and revocation).
    pub key_id: i64,
    /// The role the key was issued with ([`Role::Device`] for device tokens).
    pub role: Role,
    /// The tenant's plan now.
    pub plan: Plan,
    /// The key's public prefix, safe to log.
    pub prefix: String,
}

/// What a login needs to check a password.
pub struct LoginRecord {
    /// The user.
    pub user_id: i64,
    /// The user's tenant (`None` for bureau users).
    pub tenant: Option<TenantId>,
    /// The user's role.
    pub role: Role,
    /// The argon2 PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("user_id", &self.user_id)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was good; its successor is stored. The session's user follows.
    Rotated {
        /// The session.
        session: i64,
        /// The user.
        user: i64,
        /// The user's tenant.
        tenant: Option<TenantId>,
        /// The user's role now.
        role: Role,
    },
    /// Refused: `unknown`, `revoked`, `reused` (the session is now revoked) or `expired`.
    Refused(String),
}

/// Whether an access token's session still stands, and the plan of its tenant now.
#[derive(Debug, Clone, Copy)]
pub struct SessionState {
    /// False after logout, refresh-token reuse or the user being disabled.
    pub active: bool,
    /// The tenant's plan (`None` for bureau users).
    pub plan: Option<Plan>,
}

pub(super) fn parse_role(text: &str) -> Result<Role> {
    text.parse()
        .map_err(|_| Error::Stored(format!("unknown role {text:?}")))
}

pub(super) fn parse_plan(text: &str) -> Result<Plan> {
    text.parse()
        .map_err(|_| Error::Stored(format!("unknown plan {text:?}")))
}

impl Store {
    /// The identity behind a presented key's digest, if the key is valid (not revoked or
    /// expired).
    pub async fn authenticate(&self, digest: &[u8; 32]) -> Result<Option<KeyIdentity>> {
        let client = self.app.get().await?;
        let row = client
            .query_opt(
                "SELECT tenant_id, key_id, role, plan, prefix FROM authenticate_api_key($1)",
                &[&digest.as_slice()],
            )
            .await
            .map_err(Error::db("authenticating an API key"))?;
        row.map(|r| {
            Ok(KeyIdentity {
                tenant: TenantId(r.get(0)),
                key_id: r.get(1),
                role: parse_role(r.get(2))?,
                plan: parse_plan(r.get(3))?,
                prefix: r.get(4),
            })
        })
        .transpose()
    }

    /// The enabled user with this email, for a login to check the password against.
    pub async fn login_lookup(&self, email: &str) -> Result<Option<LoginRecord>> {
        let client = self.app.get().await?;
        let row = client
            .query_opt(
                "SELECT user_id, tenant_id, role, password_hash FROM login_lookup($1)",
                &[&email],
            )
            .await
            .map_err(Error::db("looking up a login"))?;
        row.map(|r| {
            Ok(LoginRecord {
                user_id: r.get(0),
                tenant: r.get::<_, Option<i32>>(1).map(TenantId),
                role: parse_role(r.get(2))?,
                password_hash: r.get(3),
            })
        })
        .transpose()
    }

    /// Opens a login session whose first refresh token has `digest`; returns the session id.
    pub async fn open_session(
        &self,
        user: i64,
        refresh_digest: &[u8; 32],
        expires: DateTime<Utc>,
    ) -> Result<i64> {
        let client = self.app.get().await?;
        let row = client
            .query_one(
                "SELECT open_session($1, $2, $3)",
                &[&user, &refresh_digest.as_slice(), &expires],
            )
            .await
            .map_err(Error::db("opening a session"))?;
        Ok(row.get(0))
    }

    /// Whether `session` of `user` still stands.
    pub async fn session_state(&self, session: i64, user: i64) -> Result<Option<SessionState>> {
        let client = self.app.get().await?;
        let row = client
            .query_opt(
                "SELECT active, plan FROM session_state($1, $2)",
                &[&session, &user],
            )
            .await
            .map_err(Error::db("checking a session"))?;
        row.map(|r| {
            Ok(SessionState {
                active: r.get(0),
                plan: r.get::<_, Option<&str>>(1).map(parse_plan).transpose()?,
            })
        })
        .transpose()
    }

    /// Uses a refresh token once, storing `successor` in its place (see [`Rotation`]).
    pub async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        successor: &[u8; 32],
        expires: DateTime<Utc>,
    ) -> Result<Rotation> {
        let client = self.app.get().await?;
        let row = client
            .query_one(
                "SELECT verdict, session_id, user_id, tenant_id, role \
                 FROM rotate_refresh_token($1, $2, $3)",
                &[&presented.as_slice(), &successor.as_slice(), &expires],
            )
            .await
            .map_err(Error::db("rotating a refresh token"))?;
        let verdict: String = row.get(0);
        if verdict != "rotate" {
            return Ok(Rotation::Refused(verdict));
        }
        Ok(Rotation::Rotated {
            session: row.get(1),
            user: row.get(2),
            tenant: row.get::<_, Option<i32>>(3).map(TenantId),
            role: parse_role(row.get(4))?,
        })
    }

    /// Ends `session` of `user` (logout); false if there is no such session.
    pub async fn close_session(&self, session: i64, user: i64) -> Result<bool> {
        let client = self.app.get().await?;
        let row = client
            .query_one("SELECT close_session($1, $2) IS TRUE", &[&session, &user])
            .await
            .map_err(Error::db("closing a session"))?;
        Ok(row.get(0))
    }
}
