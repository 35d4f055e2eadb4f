//! Credentials: API keys, device tokens, logins, sessions and refresh tokens.
//!
//! The application role never reads a credential table. Each lookup it makes is a
//! security-definer function (migrations V4, V6) that takes one presented secret's digest and
//! returns at most one row, so a request can only learn about the credential it holds.
//! Logins are checked on the owner's connection: the application role cannot read a password
//! hash at all, nor open a session for a user it names.

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
    /// The one site a device token may reach; `None`: the whole tenant.
    pub site: Option<i64>,
    /// The user who issued the key (`None`: the command line, the demo or the operator).
    pub issued_by: Option<i64>,
    /// The issuer's role now: the key acts with no more than it.
    pub issuer_role: Option<Role>,
    /// False when the issuer is disabled (the key then does not work).
    pub issuer_active: bool,
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

/// Whether an access token's session still stands, the user's role and the plan of its
/// tenant now.
#[derive(Debug, Clone, Copy)]
pub struct SessionState {
    /// False after logout, refresh-token reuse, the user being disabled, or any change to the
    /// user's role or password since the session opened.
    pub active: bool,
    /// The tenant's plan (`None` for bureau users).
    pub plan: Option<Plan>,
    /// The user's role now.
    pub role: Role,
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
                "SELECT tenant_id, key_id, role, plan, prefix, site_id, issued_by, issuer_role, \
                        issuer_active FROM authenticate_api_key($1)",
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
                site: r.get(5),
                issued_by: r.get(6),
                issuer_role: r.get::<_, Option<&str>>(7).map(parse_role).transpose()?,
                issuer_active: r.get::<_, Option<bool>>(8).unwrap_or(true),
            })
        })
        .transpose()
    }

    /// The enabled users with this email (one per tenant at most, plus a bureau user), for a
    /// login to check the password against. Read on the owner's connection.
    pub async fn login_candidates(&self, email: &str) -> Result<Vec<LoginRecord>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "SELECT id, tenant_id, role, password_hash FROM users \
                 WHERE email = lower($1) AND disabled_at IS NULL ORDER BY id LIMIT 16",
                &[&email],
            )
            .await
            .map_err(Error::db("looking up a login"))?;
        rows.iter()
            .map(|r| {
                Ok(LoginRecord {
                    user_id: r.get(0),
                    tenant: r.get::<_, Option<i32>>(1).map(TenantId),
                    role: parse_role(r.get(2))?,
                    password_hash: r.get(3),
                })
            })
            .collect()
    }

    /// Opens a login session whose first refresh token has `digest`; returns the session id.
    /// Only a login that checked the password calls it (on the owner's connection).
    pub async fn open_session(
        &self,
        user: i64,
        refresh_digest: &[u8; 32],
        expires: DateTime<Utc>,
    ) -> Result<i64> {
        let client = self.owner.get().await?;
        let row = client
            .query_one(
                "SELECT open_session($1, $2, $3)",
                &[&user, &refresh_digest.as_slice(), &expires],
            )
            .await
            .map_err(Error::db("opening a session"))?;
        Ok(row.get(0))
    }

    /// Records a refused login (actor: the client's address) in the audit log of the user's
    /// tenant, so owners see guessing at their accounts; for a bureau user or an email that
    /// belongs to nobody (`user` is `None`), in the platform operator's chain. The email
    /// itself is not recorded: people type passwords into the wrong field.
    pub async fn audit_failed_login(
        &self,
        user: Option<(i64, Option<TenantId>)>,
        client: &str,
        why: &str,
    ) -> Result<()> {
        let mut db = self.owner.get().await?;
        let tx = db
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let actor = format!("client {client}");
        let after = Some(serde_json::json!({ "reason": why }));
        match user {
            Some((user, Some(tenant))) => {
                super::audit::append(
                    &tx,
                    tenant,
                    &actor,
                    "auth.login_failed",
                    format!("user/{user}"),
                    None,
                    after,
                )
                .await?
            }
            Some((user, None)) => {
                super::audit::append_operator(
                    &tx,
                    &actor,
                    "auth.login_failed",
                    format!("user/{user}"),
                    None,
                    after,
                )
                .await?
            }
            None => {
                super::audit::append_operator(
                    &tx,
                    &actor,
                    "auth.login_failed",
                    "user/unknown".into(),
                    None,
                    after,
                )
                .await?
            }
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }

    /// Whether `session` of `user` still stands.
    pub async fn session_state(&self, session: i64, user: i64) -> Result<Option<SessionState>> {
        let client = self.app.get().await?;
        let row = client
            .query_opt(
                "SELECT active, plan, role FROM session_state($1, $2)",
                &[&session, &user],
            )
            .await
            .map_err(Error::db("checking a session"))?;
        row.map(|r| {
            Ok(SessionState {
                active: r.get(0),
                plan: r.get::<_, Option<&str>>(1).map(parse_plan).transpose()?,
                role: parse_role(r.get(2))?,
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
