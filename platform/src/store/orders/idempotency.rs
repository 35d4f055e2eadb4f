//! `Idempotency-Key` on the storefront's POSTs: the first reply to a key is kept (per
//! storefront key), so a retry with the same key and body gets it again, and the same key with
//! another body (or on another route) is refused.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::TenantSession;

/// What a request with an `Idempotency-Key` should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First time: process it, then [`TenantSession::idempotency_finish`].
    New,
    /// Seen with the same body: answer this again.
    Replay {
        /// Status code.
        status: u16,
        /// Body.
        body: serde_json::Value,
    },
    /// Seen with another body or route.
    Mismatch,
    /// The first request with this key is still being processed.
    InFlight,
}

/// The digest of a request's route and body.
pub fn request_hash(route: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().to_vec()
}

impl TenantSession {
    /// Claims `idem_key` for this request, or says what to answer instead.
    pub async fn idempotency_begin(
        &mut self,
        key_id: i64,
        idem_key: &str,
        route: &str,
        hash: &[u8],
    ) -> Result<Begin> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let claimed = tx
            .query_opt(
                "INSERT INTO public.order_idempotency (tenant_id, key_id, idem_key, route, request_hash) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
                &[&tenant, &key_id, &idem_key, &route, &hash],
            )
            .await
            .map_err(Error::db("claiming an idempotency key"))?;
        let answer = if claimed.is_some() {
            Begin::New
        } else {
            let r = tx
                .query_one(
                    "SELECT route, request_hash, status, body FROM public.order_idempotency \
                     WHERE tenant_id = $1 AND key_id = $2 AND idem_key = $3",
                    &[&tenant, &key_id, &idem_key],
                )
                .await
                .map_err(Error::db("reading an idempotency key"))?;
            let (r_route, r_hash, status, body): (
                String,
                Vec<u8>,
                Option<i32>,
                Option<serde_json::Value>,
            ) = (r.get(0), r.get(1), r.get(2), r.get(3));
            if r_route != route || r_hash != hash {
                Begin::Mismatch
            } else {
                match status {
                    Some(s) => Begin::Replay {
                        status: u16::try_from(s).unwrap_or(500),
                        body: body.unwrap_or(serde_json::Value::Null),
                    },
                    None => Begin::InFlight,
                }
            }
        };
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(answer)
    }

    /// Keeps the reply to `idem_key`.
    pub async fn idempotency_finish(
        &mut self,
        key_id: i64,
        idem_key: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<()> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE public.order_idempotency SET status = $4, body = $5 \
             WHERE tenant_id = $1 AND key_id = $2 AND idem_key = $3",
            &[&tenant, &key_id, &idem_key, &i32::from(status), body],
        )
        .await
        .map_err(Error::db("keeping an idempotent reply"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }

    /// Forgets a claim whose request failed on the server's side (so a retry runs again).
    pub async fn idempotency_abort(&mut self, key_id: i64, idem_key: &str) -> Result<()> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        tx.execute(
            "DELETE FROM public.order_idempotency WHERE tenant_id = $1 AND key_id = $2 \
             AND idem_key = $3 AND status IS NULL",
            &[&tenant, &key_id, &idem_key],
        )
        .await
        .map_err(Error::db("forgetting an idempotency key"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }
}
