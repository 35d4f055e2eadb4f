//! Leases for background work (issue #18, migration V16): take, renew and release a named
//! lease, see who takes part, record each leased round, and the alarm-rule inbox that carries
//! samples from the replica that ingested them to the one evaluating their tenant's shard.
//!
//! Every statement is a single row's INSERT or UPDATE on plain tables with the database's
//! clock: no advisory lock outlives a statement, so this works through a Citus coordinator.
//! Owner's connection only: these tables are platform-wide.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, TenantId};
use crate::error::{Error, Result};
use crate::leases::policy::LeaseRow;

/// A lease the database granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The lease's epoch (grows with every change of holder).
    pub epoch: i64,
    /// Who held it before this statement (None: nobody ever did).
    pub previous: Option<String>,
}

/// How a leased round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did its work.
    Ok,
    /// It failed (and logged why); the next round retries.
    Failed,
    /// The lease was lost during the round, which was stopped.
    Lost,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Lost => "lost",
        }
    }
}

/// A batch waiting in the alarm-rule inbox.
#[derive(Debug, Clone)]
pub struct InboxBatch {
    /// Whose samples.
    pub tenant: TenantId,
    /// When the ingesting replica queued them (stale-data rules count arrivals).
    pub arrived_at: DateTime<Utc>,
    /// (tag, time, value).
    pub points: Vec<(i64, DateTime<Utc>, f64)>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Notes that `holder` takes part (until `ttl` from now), and reads every lease with
    /// whether it has expired, and how many holders are live.
    pub async fn lease_round(&self, holder: &str, ttl: Duration) -> Result<(Vec<LeaseRow>, usize)> {
        let client = self.owner.get().await?;
        client
            .execute(
                "INSERT INTO lease_holders (holder, expires_at) \
                 VALUES ($1, now() + make_interval(secs => $2)) \
                 ON CONFLICT (holder) DO UPDATE SET seen_at = now(), expires_at = excluded.expires_at",
                &[&holder, &secs(ttl)],
            )
            .await
            .map_err(Error::db("noting a lease holder"))?;
        let rows = client
            .query(
                "SELECT job, holder, expires_at <= now() AS expired FROM leases ORDER BY job",
                &[],
            )
            .await
            .map_err(Error::db("reading leases"))?;
        let live: i64 = client
            .query_one(
                "SELECT count(*) FROM lease_holders WHERE expires_at > now()",
                &[],
            )
            .await
            .map_err(Error::db("counting lease holders"))?
            .get(0);
        Ok((
            rows.iter()
                .map(|r| LeaseRow {
                    job: r.get("job"),
                    holder: r.get("holder"),
                    expired: r.get("expired"),
                })
                .collect(),
            usize::try_from(live).unwrap_or(1).max(1),
        ))
    }

    /// Takes `job`'s lease for `holder` for `ttl`, or renews it: granted when nobody holds it,
    /// its holder's lease has expired, or `holder` already holds it. `None`: another live
    /// process holds it (a renewal that returns `None` means the lease was lost).
    pub async fn take_lease(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Granted>> {
        let client = self.owner.get().await?;
        let row = client
            .query_opt(
                "WITH prev AS (SELECT holder FROM leases WHERE job = $1), \
                 up AS ( \
                     INSERT INTO leases AS l (job, holder, expires_at) \
                     VALUES ($1, $2, now() + make_interval(secs => $3)) \
                     ON CONFLICT (job) DO UPDATE SET \
                         holder = excluded.holder, \
                         epoch = CASE WHEN l.holder = excluded.holder THEN l.epoch ELSE l.epoch + 1 END, \
                         acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END, \
                         renewed_at = now(), expires_at = excluded.expires_at \
                     WHERE l.holder = excluded.holder OR l.expires_at <= now() \
                     RETURNING l.epoch) \
                 SELECT up.epoch, (SELECT holder FROM prev) AS previous FROM up",
                &[&job, &holder, &secs(ttl)],
            )
            .await
            .map_err(Error::db("taking a lease"))?;
        Ok(row.map(|r| Granted {
            epoch: r.get("epoch"),
            previous: r.get("previous"),
        }))
    }

    /// Records in the lease history that `holder` took `job` (at `epoch`, from `previous`).
    pub async fn record_lease_acquired(
        &self,
        job: &str,
        holder: &str,
        granted: &Granted,
    ) -> Result<()> {
        let client = self.owner.get().await?;
        client
            .execute(
                "INSERT INTO lease_events (job, holder, epoch, event, previous) \
                 VALUES ($1, $2, $3, 'acquired', $4)",
                &[&job, &holder, &granted.epoch, &granted.previous],
            )
            .await
            .map_err(Error::db("recording a lease taken"))?;
        Ok(())
    }

    /// Gives up `job`'s lease if `holder` holds it (it expires now, so anyone may take it);
    /// returns whether it did.
    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<bool> {
        let client = self.owner.get().await?;
        let row = client
            .query_opt(
                "WITH up AS (UPDATE leases SET expires_at = now() \
                             WHERE job = $1 AND holder = $2 AND expires_at > now() RETURNING epoch) \
                 INSERT INTO lease_events (job, holder, epoch, event) \
                 SELECT $1, $2, epoch, 'released' FROM up RETURNING id",
                &[&job, &holder],
            )
            .await
            .map_err(Error::db("releasing a lease"))?;
        Ok(row.is_some())
    }

    /// Gives up every lease of `holder` and its place among the holders (a clean stop).
    pub async fn release_holder(&self, holder: &str) -> Result<u64> {
        let client = self.owner.get().await?;
        let n = client
            .execute(
                "WITH up AS (UPDATE leases SET expires_at = now() \
                             WHERE holder = $1 AND expires_at > now() RETURNING job, epoch) \
                 INSERT INTO lease_events (job, holder, epoch, event) \
                 SELECT job, $1, epoch, 'released' FROM up",
                &[&holder],
            )
            .await
            .map_err(Error::db("releasing leases"))?;
        client
            .execute("DELETE FROM lease_holders WHERE holder = $1", &[&holder])
            .await
            .map_err(Error::db("leaving the lease holders"))?;
        Ok(n)
    }

    /// Starts a round of `job` in the run log, only if `holder` holds its lease right now
    /// (checked in the same statement); returns the run's id.
    pub async fn start_lease_run(&self, job: &str, holder: &str) -> Result<Option<i64>> {
        let client = self.owner.get().await?;
        let row = client
            .query_opt(
                "INSERT INTO lease_runs (job, holder, epoch) \
                 SELECT job, holder, epoch FROM leases \
                 WHERE job = $1 AND holder = $2 AND expires_at > clock_timestamp() \
                 RETURNING id",
                &[&job, &holder],
            )
            .await
            .map_err(Error::db("starting a leased round"))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Ends a round in the run log.
    pub async fn finish_lease_run(&self, run: i64, outcome: Outcome) -> Result<()> {
        let client = self.owner.get().await?;
        client
            .execute(
                "UPDATE lease_runs SET finished_at = clock_timestamp(), outcome = $2 WHERE id = $1",
                &[&run, &outcome.as_str()],
            )
            .await
            .map_err(Error::db("finishing a leased round"))?;
        Ok(())
    }

    /// Forgets lease history and runs older than `days` days and holders gone for a day.
    pub async fn prune_lease_history(&self, days: i32) -> Result<u64> {
        let client = self.owner.get().await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM lease_runs WHERE started_at < now() - make_interval(days => $1)",
            "DELETE FROM lease_events WHERE at < now() - make_interval(days => $1)",
        ] {
            n += client
                .execute(sql, &[&days])
                .await
                .map_err(Error::db("pruning lease history"))?;
        }
        n += client
            .execute(
                "DELETE FROM lease_holders WHERE expires_at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(Error::db("pruning lease holders"))?;
        Ok(n)
    }

    /// Queues a committed batch for the replica evaluating `shard` (alarm rules).
    pub async fn queue_rule_samples(
        &self,
        tenant: TenantId,
        shard: u32,
        points: &[(i64, DateTime<Utc>, f64)],
    ) -> Result<()> {
        let client = self.owner.get().await?;
        let tags: Vec<i64> = points.iter().map(|p| p.0).collect();
        let times: Vec<DateTime<Utc>> = points.iter().map(|p| p.1).collect();
        let vals: Vec<f64> = points.iter().map(|p| p.2).collect();
        let shard = i16::try_from(shard).unwrap_or(i16::MAX);
        client
            .execute(
                "INSERT INTO alarm_rule_inbox (tenant_id, shard, tag_ids, times, vals) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&tenant.0, &shard, &tags, &times, &vals],
            )
            .await
            .map_err(Error::db("queueing samples for alarm evaluation"))?;
        Ok(())
    }

    /// Takes up to `limit` queued batches of `shards` out of the inbox, oldest first (rows
    /// another session is taking are skipped).
    pub async fn take_rule_samples(&self, shards: &[u32], limit: i64) -> Result<Vec<InboxBatch>> {
        let client = self.owner.get().await?;
        let shards: Vec<i16> = shards
            .iter()
            .map(|s| i16::try_from(*s).unwrap_or(i16::MAX))
            .collect();
        let rows = client
            .query(
                "WITH taken AS ( \
                     SELECT tenant_id, id FROM alarm_rule_inbox WHERE shard = ANY($1) \
                     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM alarm_rule_inbox i USING taken \
                 WHERE i.tenant_id = taken.tenant_id AND i.id = taken.id \
                 RETURNING i.tenant_id, i.id, i.arrived_at, i.tag_ids, i.times, i.vals",
                &[&shards, &limit],
            )
            .await
            .map_err(Error::db("taking samples for alarm evaluation"))?;
        let mut out: Vec<(i64, InboxBatch)> = rows
            .iter()
            .map(|r| {
                let tags: Vec<i64> = r.get("tag_ids");
                let times: Vec<DateTime<Utc>> = r.get("times");
                let vals: Vec<f64> = r.get("vals");
                (
                    r.get("id"),
                    InboxBatch {
                        tenant: TenantId(r.get("tenant_id")),
                        arrived_at: r.get("arrived_at"),
                        points: tags
                            .into_iter()
                            .zip(times)
                            .zip(vals)
                            .map(|((tag, t), v)| (tag, t, v))
                            .collect(),
                    },
                )
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        Ok(out.into_iter().map(|(_, b)| b).collect())
    }
}
