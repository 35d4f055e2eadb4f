//! A tenant's access to the store: every operation runs in a transaction that first sets
//! `millwright.tenant_id`, so the database itself confines it to that tenant.

use deadpool_postgres::{Object, Transaction};

use super::TenantId;
use crate::error::{Error, Result};

/// A pooled connection bound to one tenant. Operations live in [`super::ingest`],
/// [`super::query`] and [`super::entities`].
pub struct TenantSession {
    client: Object,
    tenant: TenantId,
    actor: String,
    site: Option<i64>,
}

impl TenantSession {
    pub(super) fn new(client: Object, tenant: TenantId) -> Self {
        Self {
            client,
            tenant,
            actor: "system".into(),
            site: None,
        }
    }

    /// The same session, confined to one site's part of the plant model and its commands (a
    /// device token scoped to that site): the database's `device_site` policies apply.
    pub fn scoped_to_site(mut self, site: Option<i64>) -> Self {
        self.site = site;
        self
    }

    /// The site this session is confined to, if any.
    pub fn site(&self) -> Option<i64> {
        self.site
    }

    /// The same session, recording `actor` (a user, a key) in the audit log for the
    /// changes it makes; without it, changes are the platform's own (`system`).
    pub fn acting_as(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// The tenant this session is bound to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Who the audit log names for this session's changes.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Opens a transaction scoped to the session's tenant.
    pub async fn begin(&mut self) -> Result<Transaction<'_>> {
        let tenant: i32 = self.tenant.0;
        let tx = self
            .client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        // SET LOCAL rather than set_config(): Citus carries SET LOCAL to the workers (the
        // Citus layout sets citus.propagate_set_commands = 'local'), not set_config(). The
        // values are formatted from integers only.
        let site = self.site.map(|s| s.to_string()).unwrap_or_default();
        tx.batch_execute(&format!(
            "SET LOCAL millwright.tenant_id = '{tenant}'; SET LOCAL millwright.site_id = '{site}'"
        ))
        .await
        .map_err(Error::db("setting the tenant"))?;
        Ok(tx)
    }
}
