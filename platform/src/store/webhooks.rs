//! Webhook endpoints, the event outbox and the delivery log.
//!
//! [`enqueue`] writes an event and one delivery per subscribed endpoint inside the caller's
//! transaction, so an event exists exactly when the change it reports committed. The sender
//! (`webhooks::sender`) claims due deliveries on the owner's connection, the only one that may
//! read endpoint secrets (the application role has no SELECT on that column).

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::{Store, TenantId, TenantSession};
use crate::error::{Error, Result};
use crate::webhooks::event::{self, Envelope};

/// Writes event `event_type` with `payload` for every enabled endpoint of `tenant`
/// subscribed to it, in `tx`; returns the deliveries created (none: no event is written).
pub async fn enqueue(
    tx: &Transaction<'_>,
    tenant: TenantId,
    event_type: &str,
    payload: &Value,
) -> Result<u64> {
    tx.execute(
        "WITH ev AS ( \
             INSERT INTO webhook_events (tenant_id, event_type, payload) \
             SELECT $1::integer, $2::text, $3::jsonb WHERE EXISTS ( \
                 SELECT 1 FROM webhook_endpoints \
                 WHERE tenant_id = $1 AND enabled AND $2 = ANY (event_types)) \
             RETURNING id) \
         INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id) \
         SELECT $1, e.id, ev.id FROM webhook_endpoints e, ev \
         WHERE e.tenant_id = $1 AND e.enabled AND $2 = ANY (e.event_types)",
        &[&tenant.0, &event_type, payload],
    )
    .await
    .map_err(Error::db("writing a webhook event"))
}

/// A webhook endpoint (its secret is shown only when created).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WebhookEndpoint {
    /// Identifier.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Free text.
    pub description: String,
    /// The event types it receives.
    pub event_types: Vec<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// The secret's first and last characters, to tell secrets apart.
    pub secret_hint: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            url: r.get("url"),
            description: r.get("description"),
            event_types: r.get("event_types"),
            enabled: r.get("enabled"),
            secret_hint: r.get("secret_hint"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        }
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, url, description, event_types, enabled, secret_hint, created_at, updated_at";

/// A new endpoint, validated by the API.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where to POST.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types, each in [`event::EVENT_TYPES`].
    pub event_types: Vec<String>,
    /// Enabled at once?
    pub enabled: bool,
}

/// Changes to an endpoint; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: i32,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed, if it did without an answer (timeout, refused connection).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
}

/// A delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Delivery {
    /// Identifier.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event, `evt_<n>` (the envelope's `id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending` (will be tried, again), `succeeded` (a 2xx answer) or `failed` (given up).
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last answer's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last error without an answer.
    pub last_error: Option<String>,
    /// The delivery this one repeats, when asked for through the API.
    pub redelivery_of: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, ev.event_type, d.status, \
     d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.redelivery_of, \
     d.created_at";

impl Delivery {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            endpoint_id: r.get("endpoint_id"),
            event_id: format!("evt_{}", r.get::<_, i64>("event_id")),
            event_type: r.get("event_type"),
            status: r.get("status"),
            attempts: r.get("attempts"),
            next_attempt_at: r.get("next_attempt_at"),
            last_status_code: r.get("last_status_code"),
            last_error: r.get("last_error"),
            redelivery_of: r.get("redelivery_of"),
            created_at: r.get("created_at"),
            attempt_log: Vec::new(),
        }
    }
}

/// A new signing secret: `whsec_` and 48 hex digits (192 random bits).
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("whsec_…{tail}")
}

impl TenantSession {
    /// Creates an endpoint with a new secret; returns it and the secret (shown once).
    pub async fn create_webhook(&mut self, new: &NewEndpoint) -> Result<(WebhookEndpoint, String)> {
        let secret = new_secret();
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO webhook_endpoints (url, description, event_types, enabled, secret, secret_hint) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}"
                ),
                &[
                    &new.url,
                    &new.description,
                    &new.event_types,
                    &new.enabled,
                    &secret,
                    &hint(&secret),
                ],
            )
            .await
            .map_err(Error::db("creating a webhook endpoint"))?;
        let endpoint = WebhookEndpoint::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "webhook.create",
            format!("webhook/{}", endpoint.id),
            None,
            serde_json::to_value(&endpoint).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok((endpoint, secret))
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhooks(&mut self) -> Result<Vec<WebhookEndpoint>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id"
                ),
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("listing webhook endpoints"))?;
        Ok(rows.iter().map(WebhookEndpoint::from_row).collect())
    }

    /// One endpoint.
    pub async fn webhook(&mut self, id: i64) -> Result<Option<WebhookEndpoint>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading a webhook endpoint"))?;
        Ok(row.as_ref().map(WebhookEndpoint::from_row))
    }

    /// Changes an endpoint; `None` if there is none.
    pub async fn update_webhook(
        &mut self,
        id: i64,
        p: &EndpointPatch,
    ) -> Result<Option<WebhookEndpoint>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let before = tx
            .query_opt(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading a webhook endpoint"))?
            .map(|r| WebhookEndpoint::from_row(&r));
        let Some(before) = before else {
            return Ok(None);
        };
        let row = tx
            .query_one(
                &format!(
                    "UPDATE webhook_endpoints SET url = coalesce($3, url), \
                         description = coalesce($4, description), \
                         event_types = coalesce($5, event_types), \
                         enabled = coalesce($6, enabled), updated_at = now() \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
                ),
                &[
                    &tenant.0,
                    &id,
                    &p.url,
                    &p.description,
                    &p.event_types,
                    &p.enabled,
                ],
            )
            .await
            .map_err(Error::db("changing a webhook endpoint"))?;
        let after = WebhookEndpoint::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "webhook.update",
            format!("webhook/{id}"),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(after))
    }

    /// Deletes an endpoint with its deliveries; false if there is none.
    pub async fn delete_webhook(&mut self, id: i64) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("deleting a webhook endpoint"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "webhook.delete",
            format!("webhook/{id}"),
            serde_json::to_value(WebhookEndpoint::from_row(&row)).ok(),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }

    /// An endpoint's deliveries, newest first, with their attempts; `None` if no endpoint.
    pub async fn deliveries(
        &mut self,
        endpoint_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<Delivery>>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                &[&tenant.0, &endpoint_id],
            )
            .await
            .map_err(Error::db("reading a webhook endpoint"))?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = tx
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                     JOIN webhook_events ev ON ev.tenant_id = d.tenant_id AND ev.id = d.event_id \
                     WHERE d.tenant_id = $1 AND d.endpoint_id = $2 \
                       AND ($3::bigint IS NULL OR d.id < $3) \
                     ORDER BY d.id DESC LIMIT $4"
                ),
                &[&tenant.0, &endpoint_id, &before, &limit],
            )
            .await
            .map_err(Error::db("listing webhook deliveries"))?;
        let mut deliveries: Vec<Delivery> = rows.iter().map(Delivery::from_row).collect();
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        let attempts = tx
            .query(
                "SELECT delivery_id, attempt, at, status_code, error, duration_ms \
                 FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = ANY ($2) \
                 ORDER BY delivery_id, attempt",
                &[&tenant.0, &ids],
            )
            .await
            .map_err(Error::db("listing webhook attempts"))?;
        for a in attempts {
            let id: i64 = a.get("delivery_id");
            if let Some(d) = deliveries.iter_mut().find(|d| d.id == id) {
                d.attempt_log.push(Attempt {
                    attempt: a.get("attempt"),
                    at: a.get("at"),
                    status_code: a.get("status_code"),
                    error: a.get("error"),
                    duration_ms: a.get("duration_ms"),
                });
            }
        }
        Ok(Some(deliveries))
    }

    async fn delivery(tx: &Transaction<'_>, tenant: TenantId, id: i64) -> Result<Option<Delivery>> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                     JOIN webhook_events ev ON ev.tenant_id = d.tenant_id AND ev.id = d.event_id \
                     WHERE d.tenant_id = $1 AND d.id = $2"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading a webhook delivery"))?;
        Ok(row.as_ref().map(Delivery::from_row))
    }

    /// Sends delivery `id` of endpoint `endpoint_id` again, as a new delivery of the same
    /// event; `None` if there is no such delivery.
    pub async fn redeliver(&mut self, endpoint_id: i64, id: i64) -> Result<Option<Delivery>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, redelivery_of) \
                 SELECT tenant_id, endpoint_id, event_id, id FROM webhook_deliveries \
                 WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 RETURNING id",
                &[&tenant.0, &endpoint_id, &id],
            )
            .await
            .map_err(Error::db("redelivering"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let delivery = Self::delivery(&tx, tenant, row.get(0)).await?;
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "webhook.redeliver",
            format!("webhook/{endpoint_id}/deliveries/{id}"),
            None,
            serde_json::to_value(&delivery).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(delivery)
    }

    /// Queues a `webhook.test` event for this endpoint only; `None` if there is none.
    pub async fn test_webhook(&mut self, endpoint_id: i64) -> Result<Option<Delivery>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT url FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                &[&tenant.0, &endpoint_id],
            )
            .await
            .map_err(Error::db("reading a webhook endpoint"))?;
        let Some(endpoint) = exists else {
            return Ok(None);
        };
        let url: String = endpoint.get(0);
        let payload = serde_json::json!({"endpoint_id": endpoint_id, "url": url});
        let row = tx
            .query_one(
                "WITH ev AS (INSERT INTO webhook_events (tenant_id, event_type, payload) \
                             VALUES ($1::integer, $3::text, $4::jsonb) RETURNING id) \
                 INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id) \
                 SELECT $1::integer, $2::bigint, id FROM ev RETURNING id",
                &[&tenant.0, &endpoint_id, &event::WEBHOOK_TEST, &payload],
            )
            .await
            .map_err(Error::db("queueing a test event"))?;
        let delivery = Self::delivery(&tx, tenant, row.get(0)).await?;
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "webhook.test",
            format!("webhook/{endpoint_id}"),
            None,
            serde_json::to_value(&delivery).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(delivery)
    }
}

/// A delivery the sender has claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The tenant.
    pub tenant: TenantId,
    /// The delivery.
    pub id: i64,
    /// Where to send.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// Attempts made before this one.
    pub attempts: i32,
    /// When the delivery was created (the give-up age counts from it).
    pub created_at: DateTime<Utc>,
    /// The body.
    pub envelope: Envelope,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The receiver's status, if it answered.
    pub status_code: Option<i32>,
    /// The error without an answer.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
    /// Whether it counts as delivered (2xx).
    pub delivered: bool,
    /// When to try again; `None` with `delivered == false` gives up.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Claims up to `limit` due deliveries across tenants (owner's connection): each claimed
    /// delivery's next attempt moves `lease_secs` ahead, so another replica's sender skips it
    /// while this one sends; the outcome then sets it properly.
    pub async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<DueDelivery>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "WITH due AS ( \
                     SELECT tenant_id, id FROM webhook_deliveries \
                     WHERE status = 'pending' AND next_attempt_at <= now() \
                     ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
                 claimed AS ( \
                     UPDATE webhook_deliveries d \
                     SET next_attempt_at = now() + make_interval(secs => $2) \
                     FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id \
                     RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.attempts, d.created_at) \
                 SELECT c.tenant_id, c.id, c.attempts, c.created_at, e.url, e.secret, \
                        ev.id AS event_id, ev.event_type, ev.payload, ev.created_at AS event_at \
                 FROM claimed c \
                 JOIN webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id \
                 JOIN webhook_events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id",
                &[&limit, &(lease_secs as f64)],
            )
            .await
            .map_err(Error::db("claiming webhook deliveries"))?;
        Ok(rows
            .iter()
            .map(|r| DueDelivery {
                tenant: TenantId(r.get("tenant_id")),
                id: r.get("id"),
                url: r.get("url"),
                secret: r.get("secret"),
                attempts: r.get("attempts"),
                created_at: r.get("created_at"),
                envelope: Envelope::new(
                    r.get("event_id"),
                    r.get("event_type"),
                    r.get("event_at"),
                    r.get("payload"),
                ),
            })
            .collect())
    }

    /// Records an attempt and what follows from it.
    pub async fn record_delivery_attempt(&self, d: &DueDelivery, o: &AttemptOutcome) -> Result<()> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let status = if o.delivered {
            "succeeded"
        } else if o.next_attempt_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        // Issue #18: only the attempt that was claimed is recorded (a claim that outlived its
        // lease on a stalled replica and was claimed again elsewhere is not counted twice).
        let attempt = tx
            .query_opt(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $3, \
                     next_attempt_at = $4, last_attempt_at = now(), last_status_code = $5, \
                     last_error = $6 \
                 WHERE tenant_id = $1 AND id = $2 AND attempts = $7 RETURNING attempts",
                &[
                    &d.tenant.0,
                    &d.id,
                    &status,
                    &if status == "pending" {
                        o.next_attempt_at
                    } else {
                        None
                    },
                    &o.status_code,
                    &o.error,
                    &d.attempts,
                ],
            )
            .await
            .map_err(Error::db("recording a webhook attempt"))?;
        let Some(attempt) = attempt else {
            tracing::warn!(tenant = %d.tenant, delivery = d.id, "A webhook attempt was recorded by another replica first; this one is not counted.");
            return Ok(());
        };
        let n: i32 = attempt.get(0);
        tx.execute(
            "INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&d.tenant.0, &d.id, &n, &o.status_code, &o.error, &o.duration_ms],
        )
        .await
        .map_err(Error::db("logging a webhook attempt"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }

    /// Forgets events (with their deliveries and attempts) older than `days` days and no
    /// longer pending; returns how many.
    pub async fn prune_webhook_events(&self, days: i32) -> Result<u64> {
        let client = self.owner.get().await?;
        client
            .execute(
                "DELETE FROM webhook_events ev WHERE ev.created_at < now() - make_interval(days => $1) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = ev.tenant_id \
                                 AND d.event_id = ev.id AND d.status = 'pending')",
                &[&days],
            )
            .await
            .map_err(Error::db("pruning webhook events"))
    }
}
