//! Tenant administration on the owner's pool: creating tenants and issuing API keys. Requests
//! never come here; the CLI and the demo do.

use millwright_tenants::api_key::NewApiKey;

use super::{Store, TenantId};
use crate::error::{Error, Result};

impl Store {
    /// Creates a tenant named `name`.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantId> {
        let client = self.owner.get().await?;
        let row = client
            .query_one(
                "INSERT INTO tenants (name) VALUES ($1) RETURNING id",
                &[&name],
            )
            .await
            .map_err(Error::db("creating a tenant"))?;
        Ok(TenantId(row.get(0)))
    }

    /// The tenant named `name`, if there is one.
    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<TenantId>> {
        let client = self.owner.get().await?;
        let row = client
            .query_opt("SELECT id FROM tenants WHERE name = $1", &[&name])
            .await
            .map_err(Error::db("looking up a tenant"))?;
        Ok(row.map(|r| TenantId(r.get(0))))
    }

    /// Issues an API key for `tenant`; the plaintext is returned once and stored only hashed.
    pub async fn issue_api_key(&self, tenant: TenantId, name: &str) -> Result<String> {
        let key = NewApiKey::generate();
        let client = self.owner.get().await?;
        client
            .execute(
                "INSERT INTO api_keys (tenant_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4)",
                &[&tenant.0, &name, &key.prefix, &key.digest.as_slice()],
            )
            .await
            .map_err(Error::db("storing an API key"))?;
        tracing::info!(tenant = %tenant, prefix = %key.prefix, "Issued an API key.");
        Ok(key.plaintext)
    }

    /// The tenant a presented key belongs to, if it is valid (not revoked or expired).
    pub async fn authenticate(&self, digest: &[u8; 32]) -> Result<Option<TenantId>> {
        let client = self.app.get().await?;
        let row = client
            .query_opt(
                "SELECT tenant_id FROM authenticate_api_key($1)",
                &[&digest.as_slice()],
            )
            .await
            .map_err(Error::db("authenticating an API key"))?;
        Ok(row.map(|r| TenantId(r.get(0))))
    }
}
