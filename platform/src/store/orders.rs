//! C2B custom orders (migration V12): product templates, storefront keys, orders with their
//! timeline and schedule, Idempotency-Key replies. The logic is in [`crate::orders`]; this
//! keeps it, always in a tenant's session (row-level security) and naming the tenant in every
//! statement.
//!
//! # Layout
//! - this file: templates (each with the MES product its work orders make) and storefront keys;
//! - [`flow`]: quoting, placing (confirm and schedule under a lock per line), transitions with
//!   their timeline, audit entries and webhook events, progress from the work orders;
//! - [`view`]: orders as the API shows them;
//! - [`idempotency`]: first replies kept per storefront key and `Idempotency-Key`.

pub mod flow;
pub mod idempotency;
pub mod view;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{audit, Store, TenantId, TenantSession};
use crate::error::{Error, Result};
use crate::orders::template::TemplateSpec;

/// A product template as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OrderTemplate {
    /// Id.
    pub id: i64,
    /// The MES product its work orders make (code `C2B-<code>`).
    pub product_id: i64,
    /// Whether the shop offers it.
    pub active: bool,
    /// Its definition.
    #[serde(flatten)]
    pub spec: TemplateSpec,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const TPL_COLUMNS: &str = "id, product_id, active, spec, created_at, updated_at";

fn template_from_row(r: &tokio_postgres::Row) -> Result<OrderTemplate> {
    Ok(OrderTemplate {
        id: r.get(0),
        product_id: r.get(1),
        active: r.get(2),
        spec: serde_json::from_value(r.get(3))
            .map_err(|e| Error::Stored(format!("order template: {e}")))?,
        created_at: r.get(4),
        updated_at: r.get(5),
    })
}

/// The ideal cycle per machine class of a template's MES product (its base cycle times).
fn ideal_cycles(spec: &TemplateSpec) -> BTreeMap<String, f64> {
    spec.routing
        .iter()
        .map(|s| (s.line_kind.clone(), s.cycle_secs))
        .collect()
}

/// A storefront key as listings show it (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StorefrontKeyInfo {
    /// Id.
    pub id: i64,
    /// Which shop it is for.
    pub name: String,
    /// Public prefix, `mws_xxxxxxxx`.
    pub prefix: String,
    /// Requests per minute it may make.
    pub requests_per_minute: i32,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a storefront key belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StorefrontIdentity {
    /// The tenant.
    pub tenant: TenantId,
    /// The key's id.
    pub key_id: i64,
    /// Its prefix (the audit log's actor: `storefront mws_…`).
    pub prefix: String,
    /// Its rate.
    pub requests_per_minute: i32,
    /// The tenant's plan now.
    pub plan: String,
}

const KEY_COLUMNS: &str = "id, name, prefix, requests_per_minute, created_at, revoked_at";

fn key_from_row(r: &tokio_postgres::Row) -> StorefrontKeyInfo {
    StorefrontKeyInfo {
        id: r.get(0),
        name: r.get(1),
        prefix: r.get(2),
        requests_per_minute: r.get(3),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random base-62 characters from the operating system's source.
pub(crate) fn random_text(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

/// The storage digest of a presented storefront key, if it has the right shape.
pub fn storefront_digest(presented: &str) -> Option<[u8; 32]> {
    let rest = presented.strip_prefix("mws_")?;
    let (id, secret) = rest.split_once('_')?;
    let shaped = id.len() == 8
        && secret.len() == 43
        && rest.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric());
    shaped.then(|| Sha256::digest(presented.as_bytes()).into())
}

impl TenantSession {
    /// The tenant's templates (only the active ones when `active_only`), by code.
    pub async fn order_templates(&mut self, active_only: bool) -> Result<Vec<OrderTemplate>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {TPL_COLUMNS} FROM public.order_templates \
                     WHERE tenant_id = $1 AND (active OR NOT $2) ORDER BY code"
                ),
                &[&tenant, &active_only],
            )
            .await
            .map_err(Error::db("listing order templates"))?;
        rows.iter().map(template_from_row).collect()
    }

    /// One template.
    pub async fn order_template(&mut self, id: i64) -> Result<Option<OrderTemplate>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {TPL_COLUMNS} FROM public.order_templates WHERE tenant_id = $1 AND id = $2"
                ),
                &[&tenant, &id],
            )
            .await
            .map_err(Error::db("reading an order template"))?;
        row.as_ref().map(template_from_row).transpose()
    }

    /// Adds a template (checked by the caller with [`TemplateSpec::validate`]) and its MES
    /// product; `None` when the code is taken.
    pub async fn create_order_template(
        &mut self,
        spec: &TemplateSpec,
    ) -> Result<Option<OrderTemplate>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let value = serde_json::to_value(spec).map_err(|e| Error::Stored(e.to_string()))?;
        let ideal =
            serde_json::to_value(ideal_cycles(spec)).map_err(|e| Error::Stored(e.to_string()))?;
        let tx = self.begin().await?;
        let taken = tx
            .query_opt(
                "SELECT 1 FROM public.order_templates WHERE tenant_id = $1 AND code = $2",
                &[&tenant.0, &spec.code],
            )
            .await
            .map_err(Error::db("checking a template code"))?;
        if taken.is_some() {
            return Ok(None);
        }
        let product_code = format!("C2B-{}", spec.code);
        let product_id: i64 = tx
            .query_one(
                "INSERT INTO public.mes_products (tenant_id, code, name, ideal_cycle) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, code) DO UPDATE SET ideal_cycle = excluded.ideal_cycle \
                 RETURNING id",
                &[&tenant.0, &product_code, &spec.name, &ideal],
            )
            .await
            .map_err(Error::db("adding a template's product"))?
            .get(0);
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO public.order_templates (tenant_id, code, spec, product_id) \
                     VALUES ($1, $2, $3, $4) RETURNING {TPL_COLUMNS}"
                ),
                &[&tenant.0, &spec.code, &value, &product_id],
            )
            .await
            .map_err(Error::db("adding an order template"))?;
        let t = template_from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "order_template.create",
            format!("order-template/{}", t.id),
            None,
            Some(serde_json::json!({ "code": t.spec.code, "product_id": product_id })),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(t))
    }

    /// Replaces a template's definition (its code stays) and whether it is offered; `None` when
    /// there is no such template. Orders already quoted keep their price and date.
    pub async fn update_order_template(
        &mut self,
        id: i64,
        spec: &TemplateSpec,
        active: bool,
    ) -> Result<Option<OrderTemplate>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let value = serde_json::to_value(spec).map_err(|e| Error::Stored(e.to_string()))?;
        let ideal =
            serde_json::to_value(ideal_cycles(spec)).map_err(|e| Error::Stored(e.to_string()))?;
        let tx = self.begin().await?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "UPDATE public.order_templates SET spec = $3, active = $4, updated_at = now() \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {TPL_COLUMNS}"
                ),
                &[&tenant.0, &id, &value, &active],
            )
            .await
            .map_err(Error::db("changing an order template"))?
        else {
            return Ok(None);
        };
        let t = template_from_row(&row)?;
        tx.execute(
            "UPDATE public.mes_products SET ideal_cycle = $3, name = $4 WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &t.product_id, &ideal, &spec.name],
        )
        .await
        .map_err(Error::db("changing a template's product"))?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "order_template.update",
            format!("order-template/{id}"),
            None,
            Some(serde_json::json!({ "code": t.spec.code, "active": active })),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(t))
    }

    /// The tenant's storefront keys, newest first.
    pub async fn storefront_keys(&mut self) -> Result<Vec<StorefrontKeyInfo>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM public.storefront_keys WHERE tenant_id = $1 ORDER BY id DESC"
                ),
                &[&tenant],
            )
            .await
            .map_err(Error::db("listing storefront keys"))?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    /// Issues a storefront key; the plaintext is returned once.
    pub async fn issue_storefront_key(
        &mut self,
        name: &str,
        requests_per_minute: i32,
    ) -> Result<(String, StorefrontKeyInfo)> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let prefix = format!("mws_{}", random_text(8).to_ascii_lowercase());
        let plaintext = format!("{prefix}_{}", random_text(43));
        let digest: [u8; 32] = Sha256::digest(plaintext.as_bytes()).into();
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO public.storefront_keys (tenant_id, name, prefix, key_hash, requests_per_minute) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
                ),
                &[&tenant.0, &name, &prefix, &digest.as_slice(), &requests_per_minute],
            )
            .await
            .map_err(Error::db("storing a storefront key"))?;
        let info = key_from_row(&row);
        audit::append(
            &tx,
            tenant,
            &actor,
            "storefront_key.issue",
            format!("storefront-key/{}", info.id),
            None,
            serde_json::to_value(&info).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        tracing::info!(tenant = %tenant, prefix = %info.prefix, "Issued a storefront key.");
        Ok((plaintext, info))
    }

    /// Revokes a storefront key at once; `None` if there is no such key.
    pub async fn revoke_storefront_key(&mut self, id: i64) -> Result<Option<StorefrontKeyInfo>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "UPDATE public.storefront_keys SET revoked_at = coalesce(revoked_at, now()) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("revoking a storefront key"))?
        else {
            return Ok(None);
        };
        let info = key_from_row(&row);
        audit::append(
            &tx,
            tenant,
            &actor,
            "storefront_key.revoke",
            format!("storefront-key/{id}"),
            None,
            serde_json::to_value(&info).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(info))
    }
}

impl Store {
    /// Who a storefront key (by digest) belongs to, if it is valid; looked up on the owner's
    /// connection, like logins, so the application role never reads digests.
    pub async fn authenticate_storefront(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<StorefrontIdentity>> {
        let client = self.owner_pool().get().await?;
        let row = client
            .query_opt(
                "SELECT k.tenant_id, k.id, k.prefix, k.requests_per_minute, t.plan \
                 FROM public.storefront_keys k JOIN public.tenants t ON t.id = k.tenant_id \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                &[&digest.as_slice()],
            )
            .await
            .map_err(Error::db("looking up a storefront key"))?;
        Ok(row.map(|r| StorefrontIdentity {
            tenant: TenantId(r.get(0)),
            key_id: r.get(1),
            prefix: r.get(2),
            requests_per_minute: r.get(3),
            plan: r.get(4),
        }))
    }

    /// Issues a storefront key for `tenant` from outside any request (demo, tests, benches).
    pub async fn issue_storefront_key(&self, tenant: TenantId, name: &str) -> Result<String> {
        let mut session = self.tenant(tenant).await?;
        Ok(session.issue_storefront_key(name, 600).await?.0)
    }
}
