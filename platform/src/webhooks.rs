//! Webhooks: per-tenant endpoints that receive signed events, delivered at least once from an
//! outbox, retried with exponential backoff for more than a day, with a delivery log and
//! redelivery through the API (`api::webhooks`).
//!
//! # Layout
//! - [`event`]: event types and the envelope `{"id","type","created_at","data"}`.
//! - [`signature`]: the `Millwright-Signature: t=<unix>,v1=<hex>` header (HMAC-SHA256 of
//!   `"<t>.<body>"`) and how a receiver verifies it.
//! - [`backoff`]: when a failed delivery is tried again, and when it is given up.
//! - [`sender`]: the loop that sends due deliveries.
//!
//! Storage is `store::webhooks`: endpoints, events, deliveries and attempts (migration V9).
//!
//! # The secret
//! Each endpoint gets a random `whsec_…` secret, shown once in the answer to its creation.
//! HMAC needs the secret itself, so unlike API keys (stored as SHA-256 digests) it is stored as
//! is; the application role that serves requests may write the column but not read it (column
//! privileges), so no request, and no SQL injected into one, can read a secret back. Only the
//! sender, on the owner's connection, reads it to sign. Rotate by creating a new endpoint.
//!
//! # Adding an event type (order and work-order events, say)
//! 1. Name it in [`event`] (a constant) and add it to [`event::EVENT_TYPES`] so endpoints may
//!    subscribe to it.
//! 2. In the store function that makes the change, inside its transaction, call
//!    `store::webhooks::enqueue(&tx, tenant, "work_order.completed", &payload)` with the
//!    object as the API shows it. The event then exists exactly when the change committed.
//! 3. Optionally wake the sender (`AppState::webhook_wake.notify_one()`) after the commit so
//!    the delivery goes out at once rather than at the next poll.
//!
//! Nothing else changes: deliveries, signing, retries, the log and redelivery are generic.
//!
//! # Several replicas
//! Each replica runs a sender. A sender claims due deliveries with `FOR UPDATE SKIP LOCKED`
//! and moves their next attempt a lease ahead before sending, so two senders never send the
//! same attempt; a sender that dies mid-send leaves the delivery to be retried after the lease.
//! Delivery is at least once: receivers deduplicate on the envelope's `id`.

pub mod backoff;
pub mod event;
pub mod sender;
pub mod signature;
