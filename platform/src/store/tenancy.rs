//! A tenant's own profile (industry, region, plan, sector opt-in) and its consumption
//! against the plan's quotas.

use millwright_tenants::plan::Plan;
use serde::Serialize;
use utoipa::ToSchema;

use super::admin::Industry;
use super::auth::parse_plan;
use super::{audit, TenantSession};
use crate::error::{Error, Result};

/// A tenant as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantProfile {
    /// Id.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Industry.
    pub industry: Industry,
    /// Region.
    pub region: String,
    /// Plan.
    #[schema(value_type = String, example = "mes")]
    pub plan: Plan,
    /// Whether the tenant shares any category with bureaus (issue #16: sharing is per
    /// category, see `GET /sharing`).
    pub sector_opt_in: bool,
}

/// Changes to a tenant's profile; `None` keeps the value.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// New industry.
    pub industry: Option<Industry>,
    /// New region.
    pub region: Option<String>,
    /// New plan.
    pub plan: Option<Plan>,
    /// New opt-in: `true` shares every category with bureaus, `false` none (the flag's old
    /// meaning; `PUT /sharing` chooses per category).
    pub sector_opt_in: Option<bool>,
}

const COLUMNS: &str = "id, name, industry, region, plan, \
     EXISTS (SELECT 1 FROM bureau_sharing s WHERE s.tenant_id = tenants.id)";

fn from_row(r: &tokio_postgres::Row) -> Result<TenantProfile> {
    Ok(TenantProfile {
        id: r.get(0),
        name: r.get(1),
        industry: Industry::parse(r.get(2))?,
        region: r.get(3),
        plan: parse_plan(r.get(4))?,
        sector_opt_in: r.get(5),
    })
}

/// What a tenant has used today, beside what its plan allows.
#[derive(Debug, Clone, Copy)]
pub struct Consumption {
    /// Tags that exist now.
    pub tags: i64,
    /// Samples accepted since midnight UTC.
    pub samples_today: i64,
}

impl TenantSession {
    /// The tenant's profile.
    pub async fn profile(&mut self) -> Result<TenantProfile> {
        let tx = self.begin().await?;
        let row = tx
            .query_one(&format!("SELECT {COLUMNS} FROM tenants"), &[])
            .await
            .map_err(Error::db("reading the tenant"))?;
        from_row(&row)
    }

    /// Changes the profile (owners only; the API checks).
    pub async fn update_profile(&mut self, change: &ProfileChange) -> Result<TenantProfile> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let before = from_row(
            &tx.query_one(&format!("SELECT {COLUMNS} FROM tenants FOR UPDATE"), &[])
                .await
                .map_err(Error::db("reading the tenant"))?,
        )?;
        if let Some(opt_in) = change.sector_opt_in {
            let categories: Vec<&str> = crate::bureau::sharing::Sharing::from_opt_in(opt_in)
                .categories
                .iter()
                .map(|c| c.as_str())
                .collect();
            crate::store::bureau::replace_sharing(&tx, tenant, &categories).await?;
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE tenants SET industry = coalesce($1, industry), \
                     region = coalesce($2, region), plan = coalesce($3, plan) \
                     WHERE id = $4 RETURNING {COLUMNS}"
                ),
                &[
                    &change.industry.map(Industry::as_str),
                    &change.region,
                    &change.plan.map(Plan::as_str),
                    &tenant.0,
                ],
            )
            .await
            .map_err(Error::db("changing the tenant"))?;
        let after = from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "tenant.update",
            format!("tenant/{}", tenant.0),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(after)
    }

    /// Samples accepted since midnight UTC (ingest checks it against the daily quota).
    pub async fn samples_today(&mut self) -> Result<u64> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "SELECT coalesce((SELECT samples FROM usage_daily \
                                  WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date), 0)",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("reading usage"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Tags and today's samples.
    pub async fn consumption(&mut self) -> Result<Consumption> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "SELECT (SELECT count(*) FROM tags WHERE tenant_id = $1), \
                 coalesce((SELECT samples FROM usage_daily \
                           WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date), 0)",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("reading usage"))?;
        Ok(Consumption {
            tags: row.get(0),
            samples_today: row.get(1),
        })
    }
}
