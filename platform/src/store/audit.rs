//! The audit log: every change a tenant's users make, hash-chained per tenant.
//!
//! Entries are appended in the same transaction as the change they record, so a change and
//! its entry commit together or not at all. The hash is computed by `millwright-tenants`
//! from the stored columns alone, so [`Store::verify_audit`] can recompute it later; a
//! per-tenant advisory lock keeps two concurrent changes from both claiming the next `seq`.

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
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&AUDIT_LOCK, &tenant.0],
    )
    .await
    .map_err(Error::db("locking the audit chain"))?;
    let head = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&tenant.0],
        )
        .await
        .map_err(Error::db("reading the audit chain's head"))?
        .map(|r| -> Result<ChainHead> {
            Ok(ChainHead {
                tenant: tenant.0.into(),
                seq: r.get::<_, i64>(0) as u64,
                hash: hash32(r.get(1))?,
            })
        })
        .transpose()?;
    let entry = audit::append(
        head.as_ref(),
        Change {
            at: Utc::now(),
            tenant: tenant.0.into(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target,
            before: before.map(shrink),
            after: after.map(shrink),
        },
    )?;
    tx.execute(
        "INSERT INTO audit_log (tenant_id, seq, at, actor, action, target, before, after, \
         prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &tenant.0,
            &(entry.seq as i64),
            &entry.at,
            &entry.actor,
            &entry.action,
            &entry.target,
            &entry.before,
            &entry.after,
            &entry.prev_hash.as_slice(),
            &entry.hash.as_slice(),
        ],
    )
    .await
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
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT seq, at, actor, action, target, before, after, hash FROM audit_log \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after_seq, &limit],
            )
            .await
            .map_err(Error::db("reading the audit log"))?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                seq: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                before: r.get(5),
                after: r.get(6),
                hash: hex::encode(r.get::<_, &[u8]>(7)),
            })
            .collect())
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
    /// Recomputes every tenant's chain (or one tenant's) from the stored columns, page by
    /// page, on the owner's pool.
    pub async fn verify_audit(&self, only: Option<TenantId>) -> Result<Vec<AuditVerdict>> {
        let client = self.owner.get().await?;
        let tenants = client
            .query(
                "SELECT id, name FROM tenants WHERE $1::integer IS NULL OR id = $1 ORDER BY id",
                &[&only.map(|t| t.0)],
            )
            .await
            .map_err(Error::db("listing tenants"))?;
        let mut verdicts = Vec::new();
        for t in tenants {
            let tenant = TenantId(t.get(0));
            let mut head: Option<ChainHead> = None;
            let mut entries = 0u64;
            let mut broken = None;
            loop {
                let after = head.map_or(0, |h| h.seq as i64);
                let rows = client
                    .query(
                        "SELECT seq, at, actor, action, target, before, after, prev_hash, hash \
                         FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000",
                        &[&tenant.0, &after],
                    )
                    .await
                    .map_err(Error::db("reading the audit log"))?;
                if rows.is_empty() {
                    break;
                }
                let page = rows
                    .iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            seq: r.get::<_, i64>(0) as u64,
                            at: r.get(1),
                            tenant: tenant.0.into(),
                            actor: r.get(2),
                            action: r.get(3),
                            target: r.get(4),
                            before: r.get(5),
                            after: r.get(6),
                            prev_hash: hash32(r.get(7))?,
                            hash: hash32(r.get(8))?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                entries += page.len() as u64;
                match audit::verify_segment(head.as_ref(), &page) {
                    Ok(next) => head = next,
                    Err(b) => {
                        broken = Some(b.to_string());
                        break;
                    }
                }
            }
            verdicts.push(AuditVerdict {
                tenant,
                name: t.get(1),
                entries,
                broken,
            });
        }
        Ok(verdicts)
    }
}
