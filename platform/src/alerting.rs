//! Alarm rules (the Monitor plan): thresholds with deadband and on-delay, rate of change,
//! stale data and machine faults, evaluated on samples as ingest commits them.
//!
//! Rule alarms live in the `alarms` table beside the predictive-maintenance ones (kind
//! `rule`): same states, acknowledgement, history and shelving; at most one open alarm per
//! (rule, machine), enforced by a unique index.
//!
//! # Layout
//! - [`rule`]: conditions, severities, message templates and their checks (pure).
//! - [`eval`]: the per-(rule, tag) state machine: on-delay, hysteresis, out-of-order samples,
//!   stale data on the clock (pure, checkpointable).
//! - [`engine`]: the in-process evaluator. `POST /ingest` hands it each committed batch
//!   (after the commit, through a bounded channel, so a slow evaluator slows ingest rather
//!   than dropping samples); a one-second tick checks stale rules; the state of every
//!   (rule, tag) is checkpointed to `alarm_rule_states` every few seconds and with every raise
//!   or clear, so a restart neither raises again nor forgets a running on-delay.
//!
//! # Several replicas (issue #18)
//! Evaluation is exact only if one evaluator sees all of a tag's samples in order and owns its
//! rules' states; with ingest spread over replicas, each would see part of a tag's samples
//! (on-delays, rate windows and stale-data clocks would be wrong, and two replicas' states
//! would overwrite each other's checkpoints). So tenants are split into
//! [`crate::leases::policy::ALERTING_SHARDS`] shards by tenant id, each under a lease
//! (`alerting-<k>`, [`crate::leases`]); the replica holding a shard's lease is the only one
//! that evaluates its tenants, loads and saves their states, and raises or clears their
//! alarms. A replica that ingests a batch for a shard it does not hold queues it in the
//! database (`alarm_rule_inbox`, one row per batch, after the ingest commit, with the arrival
//! time for stale-data rules); the holder takes queued batches every tick (`FOR UPDATE SKIP
//! LOCKED`, deleted as taken) and evaluates them like its own. Each sample is evaluated once, by
//! one evaluator, against states that only it writes.
//!
//! When a shard's lease moves (its holder died or gave it up to spread the work), the new
//! holder loads the tenants' rules and their last checkpoints, reconciled with the open alarms;
//! the previous holder forgets them without writing (every write checks the lease first).
//! Batches queued meanwhile wait in the inbox. What a crash loses is what it loses with one
//! replica: the state changes since the last checkpoint (an on-delay restarts from there) and
//! batches in the dying replica's memory. The one-open-alarm index and the outbox written by
//! the transaction that changed the row still guard against a second raise or notification.
//!
//! Chosen over the alternatives because it keeps the single-replica path as it was (a held
//! shard's batches go straight through the in-memory queue: no database round trip per batch)
//! while making the multi-replica path exact; a lock per batch on persisted state would cost
//! every ingest a round trip, and sticky routing of connectors cannot be guaranteed by an
//! HPA's load balancer. Limits: a tenant's first rule, created on another replica, reaches a
//! non-holding replica's filter within `alerting.reload_secs` (its batches are not queued
//! before); samples queued by another replica and older than what the rule has seen are
//! ignored as out of order, as on one replica.

pub mod engine;
pub mod eval;
pub mod rule;

pub use engine::Alerting;
pub use eval::{RuleState, Transition};
pub use rule::{Condition, Severity};
