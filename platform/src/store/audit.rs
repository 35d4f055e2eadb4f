//! The audit log: every change a tenant's users make, hash-chained per tenant, and the
//! platform operator's own chain (tenants created, bureau users, refused logins outside any
//! tenant), hashed the same way as tenant 0.
//!
//! Entries are appended in the same transaction as the change they record, so a change and
//! its entry commit together or not at all. The hash is computed by `millwright-tenants`
//! from the stored columns alone, in a canonical form that a `jsonb` round trip cannot change,
//! so [`Store::verify_audit`] can recompute it later; a per-chain advisory lock keeps two
//! concurrent changes from both claiming the next `seq`.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use millwright_tenants::audit::{self, AuditEntry, ChainHead, Change};
use serde_json::Value;

use super::{Store, TenantId, TenantSession};
use crate::error::{Error, Result};

/// Advisory-lock namespace of audit appends (any constant unique to this use).
const AUDIT_LOCK: i32 = 0x4155_4454; // "AUDT"

/// An entry as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it: `user 3 (ana@example.com)`, `key mwk_1a2b3c4d (admin)`, `system`.
    pub actor: String,
    /// What was done, e.g. `machine.update`.
    pub action: String,
    /// What it was done to, e.g. `machine/12`.
    pub target: String,
    /// The object before the change, when small.
    pub before: Option<Value>,
    /// The object after the change, when small.
    pub after: Option<Value>,
    /// This entry's hash, hex.
    pub hash: String,
}

/// Which chain an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// A tenant's, in `audit_log`.
    Tenant(TenantId),
    /// The platform operator's, in `operator_audit_log`, hashed as tenant 0.
    Operator,
}

impl Chain {
    fn tenant_number(self) -> i32 {
        match self {
            Chain::Tenant(t) => t.0,
            Chain::Operator => 0,
        }
    }
}

/// Appends an entry for a change made in `tx` by `actor` on behalf of `tenant`.
pub(super) async fn append(
    tx: &Transaction<'_>,
    tenant: TenantId,
    actor: &str,
    action: &str,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    append_to(
        tx,
        Chain::Tenant(tenant),
        actor,
        action,
        target,
        before,
        after,
    )
    .await
}

/// Appends an entry to the platform operator's chain, in `tx` (on the owner's connection).
pub(super) async fn append_operator(
    tx: &Transaction<'_>,
    actor: &str,
    action: &str,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    append_to(tx, Chain::Operator, actor, action, target, before, after).await
}

async fn append_to(
    tx: &Transaction<'_>,
    chain: Chain,
    actor: &str,
    action: &str,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    let number = chain.tenant_number();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&AUDIT_LOCK, &number],
    )
    .await
    .map_err(Error::db("locking the audit chain"))?;
    let head_sql = match chain {
        Chain::Tenant(_) => {
            "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1"
        }
        Chain::Operator => {
            "SELECT seq, hash FROM operator_audit_log WHERE $1::integer = 0 \
             ORDER BY seq DESC LIMIT 1"
        }
    };
    let head = tx
        .query_opt(head_sql, &[&number])
        .await
        .map_err(Error::db("reading the audit chain's head"))?
        .map(|r| -> Result<ChainHead> {
            Ok(ChainHead {
                tenant: number.into(),
                seq: r.get::<_, i64>(0) as u64,
                hash: hash32(r.get(1))?,
            })
        })
        .transpose()?;
    let entry = audit::append(
        head.as_ref(),
        Change {
            at: Utc::now(),
            tenant: number.into(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target,
            before: before.map(shrink),
            after: after.map(shrink),
        },
    )?;
    let format = entry.format as i16;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
        &(entry.seq as i64),
        &entry.at,
        &entry.actor,
        &entry.action,
        &entry.target,
        &entry.before,
        &entry.after,
        &entry.prev_hash.as_slice(),
        &entry.hash.as_slice(),
        &format,
    ];
    match chain {
        Chain::Tenant(_) => {
            let mut with_tenant: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&number];
            with_tenant.extend(params);
            tx.execute(
                "INSERT INTO audit_log (tenant_id, seq, at, actor, action, target, before, \
                 after, prev_hash, hash, format) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &with_tenant,
            )
            .await
        }
        Chain::Operator => {
            tx.execute(
                "INSERT INTO operator_audit_log (seq, at, actor, action, target, before, \
                 after, prev_hash, hash, format) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &params,
            )
            .await
        }
    }
    .map_err(Error::db("appending to the audit log"))?;
    Ok(())
}

/// Objects larger than this are recorded as a note instead (the issue asks for before and
/// after "where small"; the chain refuses values over 8 KiB).
const SMALL: usize = 4096;

fn shrink(v: Value) -> Value {
    if v.to_string().len() <= SMALL {
        v
    } else {
        serde_json::json!({ "omitted": "larger than 4 KiB" })
    }
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Stored("audit hash is not 32 bytes".into()))
}

impl TenantSession {
    /// The tenant's audit entries after `after_seq`, oldest first.
    pub async fn audit_entries(&mut self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT seq, at, actor, action, target, before, after, hash FROM audit_log \
                 WHERE tenant_id = $3 AND seq > $1 ORDER BY seq LIMIT $2",
                &[&after_seq, &limit, &tenant.0],
            )
            .await
            .map_err(Error::db("reading the audit log"))?;
        Ok(rows.iter().map(record).collect())
    }
}

/// The result of verifying one tenant's chain.
#[derive(Debug, Clone)]
pub struct AuditVerdict {
    /// The tenant.
    pub tenant: TenantId,
    /// The tenant's name.
    pub name: String,
    /// Entries checked.
    pub entries: u64,
    /// `None` when the chain is intact; otherwise which entry breaks it and why.
    pub broken: Option<String>,
}

impl Store {
    /// Recomputes every tenant's chain (or one's) from the stored columns, page by page, on
    /// the owner's pool; without `only`, the platform operator's chain too (as tenant 0,
    /// named `(operator)`).
    pub async fn verify_audit(&self, only: Option<TenantId>) -> Result<Vec<AuditVerdict>> {
        let client = self.owner.get().await?;
        let tenants = client
            .query(
                "SELECT id, name FROM tenants WHERE $1::integer IS NULL OR id = $1 ORDER BY id",
                &[&only.map(|t| t.0)],
            )
            .await
            .map_err(Error::db("listing tenants"))?;
        let mut chains: Vec<(Chain, String)> = tenants
            .iter()
            .map(|t| (Chain::Tenant(TenantId(t.get(0))), t.get(1)))
            .collect();
        if only.is_none() {
            chains.push((Chain::Operator, "(operator)".into()));
        }
        let mut verdicts = Vec::new();
        for (chain, name) in chains {
            let (entries, broken) = verify_one(&client, chain).await?;
            verdicts.push(AuditVerdict {
                tenant: TenantId(chain.tenant_number()),
                name,
                entries,
                broken,
            });
        }
        Ok(verdicts)
    }

    /// The platform operator's audit entries after `after_seq`, oldest first.
    pub async fn operator_audit_entries(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "SELECT seq, at, actor, action, target, before, after, hash \
                 FROM operator_audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after_seq, &limit],
            )
            .await
            .map_err(Error::db("reading the operator's audit log"))?;
        Ok(rows.iter().map(record).collect())
    }
}

fn record(r: &tokio_postgres::Row) -> AuditRecord {
    AuditRecord {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        before: r.get(5),
        after: r.get(6),
        hash: hex::encode(r.get::<_, &[u8]>(7)),
    }
}

/// Recomputes one chain: (entries checked, the first break if any).
async fn verify_one(
    client: &deadpool_postgres::Object,
    chain: Chain,
) -> Result<(u64, Option<String>)> {
    let number = chain.tenant_number();
    let sql = match chain {
        Chain::Tenant(_) => {
            "SELECT seq, at, actor, action, target, before, after, prev_hash, hash, format \
             FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000"
        }
        Chain::Operator => {
            "SELECT seq, at, actor, action, target, before, after, prev_hash, hash, format \
             FROM operator_audit_log WHERE $1::integer = 0 AND seq > $2 ORDER BY seq LIMIT 1000"
        }
    };
    let mut head: Option<ChainHead> = None;
    let mut entries = 0u64;
    loop {
        let after = head.map_or(0, |h| h.seq as i64);
        let rows = client
            .query(sql, &[&number, &after])
            .await
            .map_err(Error::db("reading the audit log"))?;
        if rows.is_empty() {
            return Ok((entries, None));
        }
        let page = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.get::<_, i64>(0) as u64,
                    at: r.get(1),
                    tenant: number.into(),
                    actor: r.get(2),
                    action: r.get(3),
                    target: r.get(4),
                    before: r.get(5),
                    after: r.get(6),
                    prev_hash: hash32(r.get(7))?,
                    hash: hash32(r.get(8))?,
                    format: r.get::<_, i16>(9) as u16,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        entries += page.len() as u64;
        match audit::verify_segment(head.as_ref(), &page) {
            Ok(next) => head = next,
            Err(b) => return Ok((entries, Some(b.to_string()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendChoice;
    use crate::test_util::{fresh_store, tenant_with_tags};
    use serde_json::json;

    /// The hash covers exactly what the database keeps: values that `jsonb` spells otherwise
    /// than serde_json (`-0.0`, `1e16`, `1e-7`, big integers), unicode escapes and key order
    /// must leave every chain intact, the operator's included.
    #[tokio::test]
    async fn values_jsonb_rewrites_keep_the_chain_intact() {
        let (store, _) = fresh_store(BackendChoice::Plain).await;
        let t = tenant_with_tags(&store, "numbers", &[]).await;
        let escaped: Value =
            serde_json::from_str(r#"{"name":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n","z":1,"a":2}"#)
                .unwrap();
        let huge: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        let values = [
            json!({"value": -0.0}),
            json!({"value": 1e16}),
            json!({"value": 1e-7}),
            json!({"value": 1.5e300, "tiny": 5e-324}),
            json!({"value": u64::MAX, "min": i64::MIN, "odd": 9007199254740993i64}),
            json!({"values": [0.1, 0.30000000000000004, 2.50, -1e-10]}),
            json!({"huge": huge}),
            escaped,
        ];
        let mut session = store.tenant(t.id).await.unwrap();
        for (i, v) in values.iter().enumerate() {
            let tx = session.begin().await.unwrap();
            append(
                &tx,
                t.id,
                "test",
                "value.check",
                format!("value/{i}"),
                Some(v.clone()),
                Some(json!({"wrapped": v})),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        {
            let mut owner = store.owner_pool().get().await.unwrap();
            let tx = owner.transaction().await.unwrap();
            for v in &values {
                append_operator(
                    &tx,
                    "test",
                    "value.check",
                    "x".into(),
                    None,
                    Some(v.clone()),
                )
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
        let verdicts = store.verify_audit(None).await.unwrap();
        for v in &verdicts {
            assert_eq!(v.broken, None, "{} ({})", v.name, v.tenant);
        }
        let ours = verdicts.iter().find(|v| v.tenant == t.id).unwrap();
        assert!(ours.entries >= values.len() as u64);
        let operator = verdicts.iter().find(|v| v.tenant.0 == 0).unwrap();
        assert!(
            operator.entries > values.len() as u64,
            "the tenant's creation too"
        );
    }

    /// Entries written before formats were recorded are read as format 1 and still verify.
    #[tokio::test]
    async fn entries_of_the_first_format_still_verify() {
        let (store, _) = fresh_store(BackendChoice::Plain).await;
        // A tenant with an empty chain, which then gets a pre-V6 row (format defaulted to 1).
        let tenant = store
            .create_tenant(&crate::store::admin::NewTenant::named(
                "legacy",
                millwright_tenants::plan::Plan::Monitor,
            ))
            .await
            .unwrap();
        let mut legacy = audit::append(
            None,
            Change {
                at: Utc::now(),
                tenant: tenant.0.into(),
                actor: "old".into(),
                action: "site.create".into(),
                target: "site/1".into(),
                before: None,
                after: Some(json!({"name": "x", "n": 3})),
            },
        )
        .unwrap();
        legacy.format = audit::LEGACY_FORMAT;
        legacy.hash = legacy.compute_hash();
        let owner = store.owner_pool().get().await.unwrap();
        owner
            .execute(
                "INSERT INTO audit_log (tenant_id, seq, at, actor, action, target, before, after, \
                 prev_hash, hash) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &tenant.0,
                    &legacy.at,
                    &legacy.actor,
                    &legacy.action,
                    &legacy.target,
                    &legacy.before,
                    &legacy.after,
                    &legacy.prev_hash.as_slice(),
                    &legacy.hash.as_slice(),
                ],
            )
            .await
            .unwrap();
        let verdicts = store.verify_audit(Some(tenant)).await.unwrap();
        assert_eq!(verdicts[0].broken, None);
        assert_eq!(verdicts[0].entries, 1);
        // New entries of that chain use the current format and link to the old one.
        let mut session = store.tenant(tenant).await.unwrap();
        let tx = session.begin().await.unwrap();
        append(
            &tx,
            tenant,
            "new",
            "site.update",
            "site/1".into(),
            None,
            Some(json!({"v": 1e16})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let verdicts = store.verify_audit(Some(tenant)).await.unwrap();
        assert_eq!(verdicts[0].broken, None);
        assert_eq!(verdicts[0].entries, 2);
    }
}
