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
//! # Several replicas
//! Each replica evaluates the batches it ingested. The database settles the rest: a raise is
//! an insert guarded by the one-open-alarm index, a clear an update of the open row, and the
//! webhook event is written only by the transaction that actually changed the row, so two
//! replicas never raise twice or notify twice. What stays per replica is the on-delay and
//! rate-of-change history: with a tenant's ingest spread over replicas, each sees part of a
//! tag's samples. Route a site's connectors to one replica (sticky load balancing on the
//! device token) for exact on-delays.

pub mod engine;
pub mod eval;
pub mod rule;

pub use engine::Alerting;
pub use eval::{RuleState, Transition};
pub use rule::{Condition, Severity};
