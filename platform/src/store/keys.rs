//! API keys and device tokens of a tenant: issued with a role, shown once, stored as a
//! SHA-256 digest, listed by prefix, expirable and revocable. A device token is an API key
//! with the `device` role, for a connector.

use chrono::{DateTime, Utc};
use millwright_tenants::{api_key::NewApiKey, role::Role};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::parse_role;
use super::{audit, Store, TenantId, TenantSession};
use crate::error::{Error, Result};

/// A key as listings show it: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Public prefix, e.g. `mwk_1a2b3c4d`.
    pub prefix: String,
    /// The role it acts with; `device` for device tokens.
    #[schema(value_type = String, example = "device")]
    pub role: Role,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Device tokens: the one site they may reach (absent: the whole tenant).
    pub site_id: Option<i64>,
    /// The user who issued it: the key acts with no more than that user's role now (absent:
    /// issued from the command line or by the operator).
    pub issued_by: Option<i64>,
}

const COLUMNS: &str =
    "id, name, prefix, role, created_at, expires_at, revoked_at, last_used_at, site_id, issued_by";

fn from_row(r: &tokio_postgres::Row) -> Result<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: r.get(0),
        name: r.get(1),
        prefix: r.get(2),
        role: parse_role(r.get(3))?,
        created_at: r.get(4),
        expires_at: r.get(5),
        revoked_at: r.get(6),
        last_used_at: r.get(7),
        site_id: r.get(8),
        issued_by: r.get(9),
    })
}

/// A key to issue.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// What it is for.
    pub name: &'a str,
    /// The role it acts with.
    pub role: Role,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Device tokens: the one site they may reach.
    pub site_id: Option<i64>,
    /// The user issuing it, whose role bounds it.
    pub issued_by: Option<i64>,
}

impl TenantSession {
    /// The tenant's keys and device tokens, newest first.
    pub async fn api_keys(&mut self) -> Result<Vec<ApiKeyInfo>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC"),
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("listing API keys"))?;
        rows.iter().map(from_row).collect()
    }

    /// One key of the tenant (never its secret).
    pub async fn api_key(&mut self, id: i64) -> Result<Option<ApiKeyInfo>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $2 AND id = $1"),
                &[&id, &tenant.0],
            )
            .await
            .map_err(Error::db("reading an API key"))?;
        row.as_ref().map(from_row).transpose()
    }

    /// Issues a key; the plaintext is returned once, beside what listings will show.
    pub async fn issue_api_key(
        &mut self,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(String, ApiKeyInfo)> {
        self.issue_key(&NewKey {
            name,
            role,
            expires_at,
            site_id: None,
            issued_by: None,
        })
        .await
    }

    /// Issues a key as described; the plaintext is returned once.
    pub async fn issue_key(&mut self, new: &NewKey<'_>) -> Result<(String, ApiKeyInfo)> {
        let NewKey {
            name,
            role,
            expires_at,
            site_id,
            issued_by,
        } = new.clone();
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let key = NewApiKey::generate();
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_keys (name, prefix, key_hash, role, expires_at, site_id, \
                                           issued_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
                ),
                &[
                    &name,
                    &key.prefix,
                    &key.digest.as_slice(),
                    &role.as_str(),
                    &expires_at,
                    &site_id,
                    &issued_by,
                ],
            )
            .await
            .map_err(Error::db("storing an API key"))?;
        let info = from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "api_key.issue",
            format!("api_key/{}", info.id),
            None,
            serde_json::to_value(&info).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        tracing::info!(tenant = %tenant, prefix = %info.prefix, role = %role, "Issued an API key.");
        Ok((key.plaintext, info))
    }

    /// Revokes a key at once; `None` if there is no such key in the tenant.
    pub async fn revoke_api_key(&mut self, id: i64) -> Result<Option<ApiKeyInfo>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) \
                     WHERE tenant_id = $2 AND id = $1 RETURNING {COLUMNS}"
                ),
                &[&id, &tenant.0],
            )
            .await
            .map_err(Error::db("revoking an API key"))?
        else {
            return Ok(None);
        };
        let info = from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "api_key.revoke",
            format!("api_key/{id}"),
            None,
            serde_json::to_value(&info).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(info))
    }
}

impl Store {
    /// Issues a key for `tenant` with `role` from outside any request (CLI, demo, tests); the
    /// plaintext is returned once and stored only hashed.
    pub async fn issue_api_key(&self, tenant: TenantId, name: &str, role: Role) -> Result<String> {
        let mut session = self.tenant(tenant).await?;
        let (plaintext, _) = session.issue_api_key(name, role, None).await?;
        Ok(plaintext)
    }

    /// Issues a device token for `tenant` scoped to `site` from outside any request (the demo,
    /// tests): it sends samples for that site's tags and runs that site's commands only.
    pub async fn issue_device_token(
        &self,
        tenant: TenantId,
        name: &str,
        site: i64,
    ) -> Result<String> {
        let mut session = self.tenant(tenant).await?;
        let (plaintext, _) = session
            .issue_key(&NewKey {
                name,
                role: Role::Device,
                expires_at: None,
                site_id: Some(site),
                issued_by: None,
            })
            .await?;
        Ok(plaintext)
    }
}
