//! Tamper-evident audit entries: each entry's hash covers its content and the hash before it.
//!
//! `hash = SHA-256(prev_hash || canonical(entry))`, where the first entry's `prev_hash` is
//! [`GENESIS`] (all zeros) and `canonical` is the entry's content (everything but the two
//! hashes) as JSON with sorted keys, no whitespace and the time in RFC 3339 with
//! microseconds (see [`canonical`]). Editing an entry changes its hash; recomputing that hash
//! breaks the next entry's `prev_hash`; deleting, inserting or moving entries breaks the
//! `seq` run. [`verify_chain`] finds the first entry where any of that happened.
//!
//! Each tenant has its own chain, with `seq` counting from 1, so a tenant's admins can verify
//! their log without seeing anyone else's.
//!
//! # What the platform does
//! - Stores entries in an append-only table (no UPDATE or DELETE grant for the application
//!   role), `at` as `timestamptz` (microseconds, which is why [`append`] truncates to them),
//!   `before`/`after` as `jsonb` (which reorders keys; the canonical form sorts them, so the
//!   hash survives), hashes as `bytea`, unique `(tenant_id, seq)`.
//! - Appends under a per-tenant lock (`SELECT … FOR UPDATE` of the last entry or an advisory
//!   lock), in the same transaction as the change it records, so the log has no gaps.
//! - Keeps secrets out of `before`/`after` (hashes, tokens): store "changed", not the value.
//! - A chain proves its own consistency, not its completeness: someone able to write the
//!   table could cut the newest entries off, or rewrite every entry from some point on. So
//!   `millwright audit verify` prints the head ([`ChainHead`]) and the platform should record
//!   heads somewhere the database's writers cannot change (logs shipped off the host, an
//!   object store); a later run checks that each recorded head is still in the chain.
//!
//! ```
//! use chrono::Utc;
//! use millwright_tenants::audit::{append, verify_chain, Change};
//! let change = |target: &str| Change {
//!     at: Utc::now(),
//!     tenant: 7,
//!     actor: "user:42".into(),
//!     action: "tag.update".into(),
//!     target: target.into(),
//!     before: Some(serde_json::json!({"unit": "bar"})),
//!     after: Some(serde_json::json!({"unit": "kPa"})),
//! };
//! let first = append(None, change("tag:1")).unwrap();
//! let second = append(Some(&first.head()), change("tag:2")).unwrap();
//! let mut log = vec![first, second];
//! assert!(verify_chain(&log).is_ok());
//! log[0].after = Some(serde_json::json!({"unit": "psi"}));
//! assert_eq!(verify_chain(&log).unwrap_err().seq, 1);
//! ```

mod canonical;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::error::{Broken, BrokenReason};
use crate::{Error, Result};

pub use canonical::{canonical, FORMAT_VERSION, LEGACY_FORMAT};

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];
/// The largest `before` or `after` kept, in canonical JSON bytes: an entity's fields, not a
/// data set.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// One entry of a tenant's audit log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the tenant's chain, from 1.
    pub seq: u64,
    /// When the change was made (microsecond precision).
    pub at: DateTime<Utc>,
    /// The tenant whose chain this is.
    pub tenant: i64,
    /// Who made the change: `user:<id>`, `key:<API key prefix>`, or `system`.
    pub actor: String,
    /// What was done, as `<entity>.<verb>` (`tag.update`, `user.invite`, `api_key.revoke`).
    pub action: String,
    /// What it was done to, as `<entity>:<id>` (`tag:12`, `user:3`).
    pub target: String,
    /// The changed fields before, if small enough to keep.
    pub before: Option<Value>,
    /// The changed fields after, if small enough to keep.
    pub after: Option<Value>,
    /// The previous entry's hash, [`GENESIS`] for the first.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// SHA-256 of `prev_hash` followed by [`canonical`] of this entry.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// The canonical format the hash was computed in ([`FORMAT_VERSION`] for new entries,
    /// [`LEGACY_FORMAT`] for entries stored before formats were recorded).
    #[serde(default = "legacy_format")]
    pub format: u16,
}

fn legacy_format() -> u16 {
    LEGACY_FORMAT
}

/// A change to record: an entry before it has a place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// The tenant it belongs to.
    pub tenant: i64,
    /// Who made it (see [`AuditEntry::actor`]).
    pub actor: String,
    /// What was done (see [`AuditEntry::action`]).
    pub action: String,
    /// What it was done to (see [`AuditEntry::target`]).
    pub target: String,
    /// The changed fields before, at most [`MAX_VALUE_BYTES`].
    pub before: Option<Value>,
    /// The changed fields after, at most [`MAX_VALUE_BYTES`].
    pub after: Option<Value>,
}

/// The last entry of a chain: all that [`append`] needs, and what should be recorded outside
/// the database to detect truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain's tenant.
    pub tenant: i64,
    /// The last entry's seq.
    pub seq: u64,
    /// The last entry's hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// The head of a chain ending with this entry.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            tenant: self.tenant,
            seq: self.seq,
            hash: self.hash,
        }
    }

    /// The hash this entry should have, from its content and `prev_hash`.
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash);
        hasher.update(canonical(self));
        hasher.finalize().into()
    }
}

/// The entry recording `change` after `prev` (`None` for a tenant's first entry).
pub fn append(prev: Option<&ChainHead>, change: Change) -> Result<AuditEntry> {
    if let Some(prev) = prev {
        if prev.tenant != change.tenant {
            return Err(Error::AuditTenantMismatch {
                previous: prev.tenant,
                entry: change.tenant,
            });
        }
    }
    check_size("before", change.before.as_ref())?;
    check_size("after", change.after.as_ref())?;
    let mut entry = AuditEntry {
        seq: prev.map_or(1, |p| p.seq + 1),
        // What the database keeps, so the hash survives the round trip.
        at: change.at.trunc_subsecs(6),
        tenant: change.tenant,
        actor: change.actor,
        action: change.action,
        target: change.target,
        before: change.before,
        after: change.after,
        prev_hash: prev.map_or(GENESIS, |p| p.hash),
        hash: GENESIS,
        format: FORMAT_VERSION,
    };
    entry.hash = entry.compute_hash();
    Ok(entry)
}

fn check_size(field: &'static str, value: Option<&Value>) -> Result<()> {
    let size = value.map_or(0, |v| canonical::value(v).len());
    if size > MAX_VALUE_BYTES {
        return Err(Error::AuditValueTooLarge {
            field,
            size,
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Checks a whole chain, which must start at seq 1: `Err` names the first entry that does not
/// fit. An empty chain is valid.
pub fn verify_chain(entries: &[AuditEntry]) -> Result<(), Broken> {
    verify_segment(None, entries).map(|_| ())
}

/// Checks the entries that follow `after` (`None`: the chain's start), so a long log can be
/// verified in pages, and returns the head after the last entry (`after` itself when
/// `entries` is empty).
pub fn verify_segment(
    after: Option<&ChainHead>,
    entries: &[AuditEntry],
) -> Result<Option<ChainHead>, Broken> {
    let mut head = after.copied();
    for entry in entries {
        let broken = |reason| Broken {
            seq: entry.seq,
            reason,
        };
        let tenant = head.map_or(entry.tenant, |h| h.tenant);
        if entry.tenant != tenant {
            return Err(broken(BrokenReason::Tenant {
                expected: tenant,
                found: entry.tenant,
            }));
        }
        let expected = head.map_or(1, |h| h.seq + 1);
        if entry.seq != expected {
            return Err(broken(BrokenReason::Sequence { expected }));
        }
        if entry.prev_hash != head.map_or(GENESIS, |h| h.hash) {
            return Err(broken(BrokenReason::PrevHash));
        }
        if entry.compute_hash() != entry.hash {
            return Err(broken(BrokenReason::Hash));
        }
        head = Some(entry.head());
    }
    Ok(head)
}

/// Hashes as lowercase hex in JSON.
mod hex32 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <&str>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
