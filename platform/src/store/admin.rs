//! Tenant administration on the owner's pool: creating tenants, finding them by name, and
//! trimming each tenant's samples to its plan's retention. Requests never come here; the
//! CLI, the operator's admin API and the demo do.

use millwright_tenants::plan::Plan;

use super::auth::parse_plan;
use super::{Store, TenantId};
use crate::error::{Error, Result};

/// An industry a tenant works in; bureaus will aggregate by it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Industry {
    /// Household appliances.
    Appliance,
    /// Garments and textiles.
    Garment,
    /// Machinery and machining.
    Machinery,
    /// Anything else.
    Other,
}

impl Industry {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appliance => "appliance",
            Self::Garment => "garment",
            Self::Machinery => "machinery",
            Self::Other => "other",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(text.into()))
            .map_err(|_| Error::Stored(format!("unknown industry {text:?}")))
    }
}

/// A tenant to create.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Unique name.
    pub name: String,
    /// Its industry.
    pub industry: Industry,
    /// Its region, free text (a province, a state).
    pub region: String,
    /// Its plan.
    pub plan: Plan,
}

impl NewTenant {
    /// A tenant named `name` on `plan`, industry `other`, no region.
    pub fn named(name: impl Into<String>, plan: Plan) -> Self {
        Self {
            name: name.into(),
            industry: Industry::Other,
            region: String::new(),
            plan,
        }
    }
}

impl Store {
    /// Creates a tenant, recorded in the operator's audit chain as the platform's own act.
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<TenantId> {
        self.create_tenant_as(t, "system").await
    }

    /// Creates a tenant on behalf of `actor` (`operator`, `cli`), recorded in the operator's
    /// audit chain in the same transaction.
    pub async fn create_tenant_as(&self, t: &NewTenant, actor: &str) -> Result<TenantId> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let row = tx
            .query_one(
                "INSERT INTO tenants (name, industry, region, plan) VALUES ($1, $2, $3, $4) \
                 RETURNING id",
                &[&t.name, &t.industry.as_str(), &t.region, &t.plan.as_str()],
            )
            .await
            .map_err(Error::db("creating a tenant"))?;
        let id = TenantId(row.get(0));
        let after = serde_json::json!({
            "id": id.0, "name": t.name, "industry": t.industry.as_str(),
            "region": t.region, "plan": t.plan.as_str(),
        });
        super::audit::append_operator(
            &tx,
            actor,
            "tenant.create",
            format!("tenant/{}", id.0),
            None,
            Some(after),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        tracing::info!(tenant = %id, name = %t.name, plan = t.plan.as_str(), "Created a tenant.");
        Ok(id)
    }

    /// Deletes a tenant created a moment ago whose setup failed (it has no audit entries
    /// yet, which the append-only log would otherwise refuse to lose); the operator's chain
    /// records it.
    pub async fn discard_new_tenant(&self, tenant: TenantId) -> Result<()> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let gone = tx
            .execute(
                "DELETE FROM tenants WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM audit_log WHERE tenant_id = $1)",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("discarding a tenant"))?;
        if gone > 0 {
            super::audit::append_operator(
                &tx,
                "system",
                "tenant.discard",
                format!("tenant/{}", tenant.0),
                None,
                Some(serde_json::json!({"reason": "its first owner could not be created"})),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
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

    /// Deletes samples (and plain-layout rollups) older than each tenant's plan keeps, for
    /// tenants whose plan keeps less than the store-wide retention that drops whole
    /// partitions or chunks. Returns the rows deleted.
    pub(super) async fn trim_to_plans(&self) -> Result<u64> {
        let client = self.owner.get().await?;
        let tenants = client
            .query("SELECT id, plan FROM tenants", &[])
            .await
            .map_err(Error::db("listing tenants' plans"))?;
        let mut tables = vec!["samples", "text_samples"];
        if matches!(self.backend, super::Backend::Plain | super::Backend::Citus) {
            tables.extend(["rollup_1m", "rollup_1h"]);
        }
        // Citus: columnar days take no DELETE; they go with retention's whole days.
        let columnar = super::layout::columnar_horizon(&client, self.backend).await?;
        let mut deleted = 0;
        for t in tenants {
            let keep = parse_plan(t.get(1))?.quotas().retention_days;
            if keep >= self.settings.retention_days {
                continue;
            }
            let tenant: i32 = t.get(0);
            for table in &tables {
                let column = if table.ends_with("samples") {
                    "time"
                } else {
                    "bucket"
                };
                deleted += client
                    .execute(
                        &format!(
                            "DELETE FROM {table} WHERE tenant_id = $1 \
                             AND {column} < now() - make_interval(days => $2) \
                             AND ($3::timestamptz IS NULL OR {column} >= $3)"
                        ),
                        &[
                            &tenant,
                            &(keep as i32),
                            &columnar.filter(|_| *table == "samples"),
                        ],
                    )
                    .await
                    .map_err(Error::db("trimming a tenant to its plan's retention"))?;
            }
        }
        Ok(deleted)
    }
}
