//! Where tenants live on a Citus cluster, and moving them (issue #18, deliverable 4).
//!
//! On the Citus layout every table a tenant owns is distributed by `tenant_id` and co-located
//! with `samples`, so a tenant's rows sit in one *shard group* (the same hash range of every
//! table) on one worker, shared with the other tenants whose ids hash into that range. Moving a
//! tenant is two Citus operations, both run while the tenant keeps ingesting:
//!
//! 1. `isolate_tenant_to_new_shard('samples', tenant, 'CASCADE')` splits the tenant's hash
//!    value out of its range into shards of its own, in every co-located table (skipped when it
//!    is already isolated);
//! 2. `citus_move_shard_placement(shard, from, to, shard_transfer_mode => …)` copies that shard
//!    group to another worker and switches the metadata. With `force_logical` the copy is
//!    followed by logical replication (the nodes need `wal_level = logical` and, on PostgreSQL
//!    15.19 and later, `output_plugin_libraries` listing `citus`), so writes wait only for the
//!    final switch; `block_writes` blocks the tenant's writes for the whole copy.
//!
//! [`CitusAdmin::rebalance`] starts Citus's background rebalancer and waits for it;
//! [`CitusAdmin::placements`] lists which worker holds which tenant. Everything here runs on
//! the owner's connection and is refused, saying so, on a database that is not a Citus
//! coordinator with `samples` distributed by hash.

use std::fmt;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use serde::Serialize;

use super::{Store, TenantId};
use crate::error::{Error, Result};

/// The table whose distribution column decides a tenant's shard group.
const ANCHOR: &str = "public.samples";

/// How Citus copies a shard group to its new worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// Logical replication if every table has a replica identity, else blocking.
    Auto,
    /// Copy, then catch up through logical replication: writes pause only at the switch.
    ForceLogical,
    /// Block writes to the shard group for the whole copy.
    BlockWrites,
}

impl TransferMode {
    /// Citus's name for it (`shard_transfer_mode`).
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::ForceLogical => "force_logical",
            Self::BlockWrites => "block_writes",
        }
    }
}

impl fmt::Display for TransferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// What the rebalancer evens out between workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebalanceStrategy {
    /// The number of shards per worker (Citus's default).
    ByShardCount,
    /// The bytes per worker.
    ByDiskSize,
}

impl RebalanceStrategy {
    /// Citus's name for it (`rebalance_strategy`).
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::ByShardCount => "by_shard_count",
            Self::ByDiskSize => "by_disk_size",
        }
    }
}

/// A worker node as Citus's metadata names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worker {
    /// Host name (or, on a private test cluster, its socket folder).
    pub name: String,
    /// Port.
    pub port: i32,
}

impl fmt::Display for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.port)
    }
}

/// A worker with what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerLoad {
    /// The worker.
    pub worker: Worker,
    /// Shards of `samples`'s co-location group on it (one per shard group).
    pub shard_groups: i64,
    /// Bytes of every distributed shard on it.
    pub bytes: i64,
}

/// Where one tenant's rows live.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    /// The tenant.
    pub tenant: TenantId,
    /// Its name.
    pub name: String,
    /// The `samples` shard that holds it (the shard group's anchor).
    pub shard_id: i64,
    /// The worker holding the shard group.
    pub worker: Worker,
    /// Whether the shard group holds this tenant alone (its hash range is a single value).
    pub isolated: bool,
    /// Other tenants in the same shard group.
    pub shared_with: i64,
}

/// A step of [`CitusAdmin::move_tenant`], for progress lines.
#[derive(Debug, Clone)]
pub enum MoveStep {
    /// Where the tenant is before anything is done.
    Found(Placement),
    /// Splitting the tenant out of its shard group (every co-located table).
    Isolating {
        /// Time since the split started.
        elapsed: Duration,
    },
    /// The tenant has shards of its own.
    Isolated {
        /// The new anchor shard.
        shard_id: i64,
        /// How long the split took.
        took: Duration,
    },
    /// The copy to the new worker started.
    Moving {
        /// The anchor shard.
        shard_id: i64,
        /// From.
        from: Worker,
        /// To.
        to: Worker,
        /// How.
        mode: TransferMode,
    },
    /// The copy's progress, as Citus reports it (`get_rebalance_progress()`).
    Copying {
        /// Bytes on the new worker so far (every shard of the group).
        copied: i64,
        /// Bytes of the group on the old worker.
        total: i64,
        /// Citus's state of the slowest shard (e.g. "Copying Data", "Catching Up").
        status: String,
        /// Time since the move started.
        elapsed: Duration,
    },
}

/// What a finished move did.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Whether it had to be isolated first.
    pub isolated_now: bool,
    /// The anchor shard of its (now own) shard group.
    pub shard_id: i64,
    /// Where it was.
    pub from: Worker,
    /// Where it is now (the same worker when it was already there).
    pub to: Worker,
    /// Seconds for the split.
    pub isolate_secs: f64,
    /// Seconds for the move.
    pub move_secs: f64,
}

/// The rebalancer's state while it runs.
#[derive(Debug, Clone)]
pub struct RebalanceStatus {
    /// Citus's background job (`None`: nothing to move).
    pub job_id: Option<i64>,
    /// `scheduled`, `running`, `finished`, `failed`, `cancelled`, …
    pub state: String,
    /// Tasks per state, e.g. `done=2 running=1 blocked=3`.
    pub tasks: String,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Tenant placement on the Citus layout: the owner's pool, checked to be a Citus coordinator.
pub struct CitusAdmin {
    pool: Pool,
}

impl Store {
    /// Tenant placement and moves (issue #18); refused unless this database is a Citus
    /// coordinator with `samples` distributed by tenant (`store.backend = citus`).
    pub async fn citus_admin(&self) -> Result<CitusAdmin> {
        CitusAdmin::open(
            self.owner.clone(),
            &format!("{:?}", self.backend).to_lowercase(),
        )
        .await
    }
}

fn pg(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn fail(what: impl fmt::Display) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| Error::TenantMove(format!("{what}: {}", pg(&e)))
}

impl CitusAdmin {
    /// Checks that the database behind `pool` (the owner's) is a Citus coordinator with
    /// `samples` hash-distributed; `layout` names the database's layout in the refusal.
    pub async fn open(pool: Pool, layout: &str) -> Result<Self> {
        let client = pool.get().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')",
                &[],
            )
            .await
            .map_err(fail("checking for Citus"))?;
        let distributed = if row.get::<_, bool>(0) {
            client
                .query_opt(
                    "SELECT partmethod::text FROM pg_catalog.pg_dist_partition \
                     WHERE logicalrelid = to_regclass($1)",
                    &[&ANCHOR],
                )
                .await
                .map_err(fail("reading Citus's metadata"))?
                .map(|r| r.get::<_, String>(0))
        } else {
            None
        };
        if distributed.as_deref() != Some("h") {
            return Err(Error::TenantMove(format!(
                "tenant placement needs the Citus layout (store.backend = citus, a Citus \
                 coordinator with samples distributed by tenant); this database uses the \
                 {layout} layout"
            )));
        }
        drop(client);
        Ok(Self { pool })
    }

    /// The active workers that may hold shards, with what they hold.
    pub async fn workers(&self) -> Result<Vec<WorkerLoad>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT n.nodename::text, n.nodeport::int, \
                        (SELECT count(*) FROM pg_catalog.citus_shards s \
                          WHERE s.nodename = n.nodename AND s.nodeport = n.nodeport \
                            AND s.table_name = $1::text::regclass), \
                        (SELECT coalesce(sum(s.shard_size), 0)::bigint FROM pg_catalog.citus_shards s \
                          WHERE s.nodename = n.nodename AND s.nodeport = n.nodeport \
                            AND s.citus_table_type = 'distributed') \
                   FROM pg_catalog.pg_dist_node n \
                  WHERE n.isactive AND n.noderole = 'primary' AND n.shouldhaveshards \
                  ORDER BY 1, 2",
                &[&ANCHOR],
            )
            .await
            .map_err(fail("listing the workers"))?;
        Ok(rows
            .iter()
            .map(|r| WorkerLoad {
                worker: Worker {
                    name: r.get(0),
                    port: r.get(1),
                },
                shard_groups: r.get(2),
                bytes: r.get(3),
            })
            .collect())
    }

    /// Where every tenant (or only `only`) lives, by tenant id.
    pub async fn placements(&self, only: Option<TenantId>) -> Result<Vec<Placement>> {
        let client = self.pool.get().await?;
        let only = only.map(|t| t.0);
        let rows = client
            .query(
                "WITH t AS ( \
                     SELECT id, name, \
                            pg_catalog.get_shard_id_for_distribution_column($1::text::regclass, id) AS shardid \
                       FROM public.tenants WHERE $2::int IS NULL OR id = $2) \
                 SELECT t.id, t.name, t.shardid, n.nodename::text, n.nodeport::int, \
                        s.shardminvalue = s.shardmaxvalue, \
                        count(*) OVER (PARTITION BY t.shardid) - 1 \
                   FROM t \
                   JOIN pg_catalog.pg_dist_shard s ON s.shardid = t.shardid \
                   JOIN pg_catalog.pg_dist_placement p ON p.shardid = t.shardid \
                   JOIN pg_catalog.pg_dist_node n ON n.groupid = p.groupid \
                  ORDER BY t.id",
                &[&ANCHOR, &only],
            )
            .await
            .map_err(fail("listing tenant placements"))?;
        let mut placements: Vec<Placement> = rows
            .iter()
            .map(|r| Placement {
                tenant: TenantId(r.get(0)),
                name: r.get(1),
                shard_id: r.get(2),
                worker: Worker {
                    name: r.get(3),
                    port: r.get(4),
                },
                isolated: r.get(5),
                shared_with: r.get(6),
            })
            .collect();
        if only.is_some() {
            // With one tenant asked for, the window saw only it: count its neighbours.
            for p in &mut placements {
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM public.tenants \
                          WHERE id <> $2 AND pg_catalog.get_shard_id_for_distribution_column( \
                                $1::text::regclass, id) = $3",
                        &[&ANCHOR, &p.tenant.0, &p.shard_id],
                    )
                    .await
                    .map_err(fail("counting a shard group's tenants"))?
                    .get(0);
                p.shared_with = n;
            }
        }
        Ok(placements)
    }

    /// One tenant's placement; an error naming it when there is no such tenant.
    pub async fn placement(&self, tenant: TenantId) -> Result<Placement> {
        self.placements(Some(tenant))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::TenantMove(format!("there is no tenant {tenant}")))
    }

    /// Gives `tenant` shards of its own in every co-located table (a no-op returning `None`
    /// when it already has them); returns the new anchor shard.
    pub async fn isolate(&self, tenant: TenantId, mode: TransferMode) -> Result<Option<i64>> {
        if self.placement(tenant).await?.isolated {
            return Ok(None);
        }
        let client = self.pool.get().await?;
        let shard: i64 = client
            .query_one(
                // The mode is a literal from a closed set: the owner may not name the type
                // (schema `citus`), and an untyped literal needs no cast.
                &format!(
                    "SELECT pg_catalog.isolate_tenant_to_new_shard($1::text::regclass, $2::int, \
                            'CASCADE', shard_transfer_mode => '{mode}')"
                ),
                &[&ANCHOR, &tenant.0],
            )
            .await
            .map_err(fail(format!("isolating tenant {tenant} to its own shards")))?
            .get(0);
        tracing::info!(%tenant, shard, "Tenant isolated to its own shards.");
        Ok(Some(shard))
    }

    /// Isolates `tenant` (if it shares its shard group) and moves its shards to `to` (a worker
    /// as `name:port` or `name`; by default the active worker holding the fewest bytes other
    /// than its own), reporting each step to `progress`. Moving to where it already is does
    /// nothing but the isolation.
    pub async fn move_tenant(
        &self,
        tenant: TenantId,
        to: Option<&str>,
        mode: TransferMode,
        mut progress: impl FnMut(MoveStep) + Send,
    ) -> Result<MoveReport> {
        let before = self.placement(tenant).await?;
        progress(MoveStep::Found(before.clone()));
        let target = self.pick_target(&before.worker, to).await?;

        let started = Instant::now();
        let isolated_now = !before.isolated;
        let shard_id = if isolated_now {
            let isolate = self.isolate(tenant, mode);
            tokio::pin!(isolate);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let shard = loop {
                tokio::select! {
                    r = &mut isolate => break r?,
                    _ = tick.tick() => progress(MoveStep::Isolating { elapsed: started.elapsed() }),
                }
            };
            // `None` only if another run isolated it meanwhile: read where it is now.
            match shard {
                Some(s) => s,
                None => self.placement(tenant).await?.shard_id,
            }
        } else {
            before.shard_id
        };
        let isolate_took = started.elapsed();
        if isolated_now {
            progress(MoveStep::Isolated {
                shard_id,
                took: isolate_took,
            });
        }
        // The split may have placed the new shards anywhere: move from where they are.
        let from = self.placement(tenant).await?.worker;
        let moving = Instant::now();
        if from != target {
            progress(MoveStep::Moving {
                shard_id,
                from: from.clone(),
                to: target.clone(),
                mode,
            });
            let client = self.pool.get().await?;
            let watcher = self.pool.get().await?;
            let sql = format!(
                "SELECT pg_catalog.citus_move_shard_placement($1, $2, $3, $4, $5, \
                        shard_transfer_mode => '{mode}')"
            );
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
                &shard_id,
                &from.name,
                &from.port,
                &target.name,
                &target.port,
            ];
            let shift = client.execute(&sql, &params);
            tokio::pin!(shift);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    r = &mut shift => {
                        r.map_err(fail(format!(
                            "moving tenant {tenant}'s shard {shard_id} from {from} to {target}"
                        )))?;
                        break;
                    }
                    _ = tick.tick() => {
                        if let Some(step) = copy_progress(&watcher, moving.elapsed()).await {
                            progress(step);
                        }
                    }
                }
            }
            tracing::info!(%tenant, shard_id, %from, to = %target, %mode, "Tenant moved.");
        }
        Ok(MoveReport {
            tenant,
            isolated_now,
            shard_id,
            from: before.worker,
            to: target,
            isolate_secs: isolate_took.as_secs_f64(),
            move_secs: moving.elapsed().as_secs_f64(),
        })
    }

    async fn pick_target(&self, current: &Worker, to: Option<&str>) -> Result<Worker> {
        let workers = self.workers().await?;
        let names = || {
            workers
                .iter()
                .map(|w| w.worker.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match to {
            Some(to) => {
                let found: Vec<&WorkerLoad> = workers
                    .iter()
                    .filter(|w| w.worker.to_string() == to || w.worker.name == to)
                    .collect();
                match found.as_slice() {
                    [one] => Ok(one.worker.clone()),
                    [] => Err(Error::TenantMove(format!(
                        "--to {to:?} is not an active worker; the workers are: {}",
                        names()
                    ))),
                    _ => Err(Error::TenantMove(format!(
                        "--to {to:?} names several workers; add the port: {}",
                        names()
                    ))),
                }
            }
            None => workers
                .iter()
                .filter(|w| &w.worker != current)
                .min_by_key(|w| w.bytes)
                .map(|w| w.worker.clone())
                .ok_or_else(|| {
                    Error::TenantMove(format!(
                        "there is no other active worker to move to (workers: {})",
                        names()
                    ))
                }),
        }
    }

    /// Starts Citus's background rebalancer and waits until it has finished, reporting its
    /// state every second. Fails when the job fails or is cancelled.
    pub async fn rebalance(
        &self,
        mode: TransferMode,
        strategy: RebalanceStrategy,
        mut progress: impl FnMut(RebalanceStatus) + Send,
    ) -> Result<RebalanceStatus> {
        let client = self.pool.get().await?;
        let started = Instant::now();
        let job: Option<i64> = client
            .query_one(
                &format!(
                    "SELECT pg_catalog.citus_rebalance_start(rebalance_strategy => $1, \
                            shard_transfer_mode => '{mode}')"
                ),
                &[&strategy.as_sql()],
            )
            .await
            .map_err(fail("starting the rebalancer"))?
            .get(0);
        let Some(job_id) = job else {
            let done = RebalanceStatus {
                job_id: None,
                state: "nothing to move".into(),
                tasks: String::new(),
                elapsed: started.elapsed(),
            };
            progress(done.clone());
            return Ok(done);
        };
        loop {
            let row = client
                .query_opt(
                    // The job's catalog rows rather than citus_rebalance_status(): that one
                    // also reads the running moves' progress of every database on the node
                    // and fails on another database's shards.
                    "SELECT j.state::text, \
                            coalesce((SELECT string_agg(status || '=' || n, ' ' ORDER BY status) \
                                        FROM (SELECT t.status::text AS status, count(*) AS n \
                                                FROM pg_catalog.pg_dist_background_task t \
                                               WHERE t.job_id = j.job_id GROUP BY 1) c), '') \
                       FROM pg_catalog.pg_dist_background_job j WHERE j.job_id = $1",
                    &[&job_id],
                )
                .await
                .map_err(fail(format!("reading rebalance job {job_id}")))?;
            let (state, tasks) = row
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                .unwrap_or_else(|| ("finished".into(), String::new()));
            let status = RebalanceStatus {
                job_id: Some(job_id),
                state: state.clone(),
                tasks,
                elapsed: started.elapsed(),
            };
            progress(status.clone());
            match state.as_str() {
                "finished" => return Ok(status),
                "failed" | "cancelled" | "failing" | "cancelling" => {
                    return Err(Error::TenantMove(format!(
                        "rebalance job {job_id} {state} ({}); see citus_rebalance_status() and \
                         pg_dist_background_task for the failed move",
                        status.tasks
                    )))
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// The running move's progress, summed over the shard group's shards.
async fn copy_progress(client: &deadpool_postgres::Object, elapsed: Duration) -> Option<MoveStep> {
    let row = client
        .query_opt(
            "SELECT coalesce(sum(target_shard_size), 0)::bigint, \
                    coalesce(sum(source_shard_size), 0)::bigint, \
                    coalesce(min(status::text), '') \
               FROM pg_catalog.get_rebalance_progress() HAVING count(*) > 0",
            &[],
        )
        .await
        .ok()??;
    Some(MoveStep::Copying {
        copied: row.get(0),
        total: row.get(1),
        status: row.get(2),
        elapsed,
    })
}
