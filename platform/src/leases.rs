//! Leases for background work, so any number of API replicas can run behind a load balancer
//! and each background job still runs in one of them at a time (issue #18).
//!
//! A job (rollups and retention, machine states, order progress, bureau contributions, model
//! scoring, each alarm-evaluation shard) takes a named lease in the `leases` table with a
//! holder name (host, process id, random) and an expiry on the database's clock. The holder
//! renews it every `leases.renew_secs` (at least three times per `leases.ttl_secs`) and runs
//! the job's rounds only while it holds it; a crashed holder's lease expires after the TTL and
//! another replica takes it over. Replicas share the jobs: each takes free leases up to its
//! fair share and one holding more than its share gives one back per round, so different
//! replicas run different jobs.
//!
//! No lock is held across statements: taking, renewing and releasing are single-row
//! `INSERT … ON CONFLICT DO UPDATE … WHERE` statements on a plain table, which works the same
//! through a Citus coordinator. A holder stops acting on a lease a fifth of the TTL before the
//! database would let another take it, and a round in progress is stopped when its lease is
//! lost, so rounds of one job do not overlap (the run log `lease_runs` records each; the
//! history of holders is `lease_events`).
//!
//! Webhook delivery needs no lease: every replica's sender claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and pushes their next attempt past the send timeout, so each is
//! attempted once per due time. Alarm-rule evaluation is sharded by tenant (see
//! [`crate::alerting`]).
//!
//! # Layout
//! - [`policy`]: expiry, renewal, fair shares, shards, holder names (pure).
//! - [`keeper`]: the task that keeps a process's leases, and [`keeper::run_every`], the loop
//!   of a leased job.
//! - [`jobs`]: the background jobs `serve` and `demo` start, each under its lease.

pub mod jobs;
pub mod keeper;
pub mod policy;

pub use keeper::{run_every, Keeper};
pub use policy::Policy;
