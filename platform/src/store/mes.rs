//! MES tables (migration V8): machine states, state rules, calendars, reason codes and
//! downtime reasons, products, work orders, production. The logic is in [`crate::mes`]; this
//! keeps and reads its inputs and results, always in a tenant's session (row-level security)
//! and naming the tenant in every statement.
//!
//! # Layout
//! - this file: state rules, the incremental state builder, state reads
//!   ([`TenantSession::machine_states`], [`TenantSession::current_states`]);
//! - [`plan`]: calendars, reason codes, downtime and reasons assigned to it;
//! - [`orders`]: products, work orders and their runs, production records;
//! - [`oee`]: OEE by machine or line and by shift, day or work order; work-order trace.

pub mod oee;
pub mod orders;
pub mod plan;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Store, TenantId, TenantSession};
use crate::error::{Error, Result};
use crate::mes::state::{
    MachineState, Role, SignalSample, StateInterval, StateRule, TrackOutput, Tracker,
};

/// How far behind now the builder stops, so samples of the last moments (still arriving in
/// batches from connectors) are not skipped.
pub const BUILD_LAG_SECS: i64 = 5;
/// Most samples read for one machine in one round (a long backlog takes several rounds).
pub const BUILD_BATCH: i64 = 50_000;

/// A machine as the MES sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MesMachine {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Machine class (`kind`).
    pub class: String,
    /// Its line.
    pub line_id: i64,
    /// Its site.
    pub site_id: i64,
    /// The site's IANA time zone.
    pub time_zone: String,
}

/// A machine's state now, for a plant overview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CurrentState {
    /// The machine.
    pub machine_id: i64,
    /// Its name.
    pub machine: String,
    /// Its line.
    pub line_id: i64,
    /// The state (`unknown` when nothing was ever derived).
    pub state: MachineState,
    /// Its fault code (0 when none).
    pub code: i64,
    /// Since when (absent when unknown since ever).
    pub since: Option<DateTime<Utc>>,
    /// Time of the latest sample the builder has seen.
    pub last_sample: Option<DateTime<Utc>>,
}

/// A state interval as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StateSpan {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (absent while it lasts).
    pub end: Option<DateTime<Utc>>,
    /// The state.
    pub state: MachineState,
    /// Fault code (0 when none).
    pub code: i64,
}

impl From<StateInterval> for StateSpan {
    fn from(i: StateInterval) -> Self {
        StateSpan {
            start: i.start,
            end: i.end,
            state: i.state,
            code: i.code,
        }
    }
}

/// A stored state rule: for a machine class or one machine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StoredRule {
    /// Id.
    pub id: i64,
    /// The class it applies to (or absent).
    pub machine_class: Option<String>,
    /// The machine it applies to (or absent).
    pub machine_id: Option<i64>,
    /// The rule.
    pub rule: StateRule,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What one builder round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Machines looked at.
    pub machines: usize,
    /// Samples fed.
    pub samples: usize,
    /// Intervals closed.
    pub intervals: usize,
    /// Whether some machine has more samples waiting (another round will take them).
    pub behind: bool,
}

impl std::ops::AddAssign for BuildReport {
    fn add_assign(&mut self, o: Self) {
        self.machines += o.machines;
        self.samples += o.samples;
        self.intervals += o.intervals;
        self.behind |= o.behind;
    }
}

/// Earlier than any sample the store keeps (PostgreSQL cannot take `DateTime::MIN_UTC`).
pub(crate) fn time_floor() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

pub(crate) fn state_of(s: &str) -> MachineState {
    MachineState::parse(s).unwrap_or(MachineState::Unknown)
}

pub(crate) fn interval_from_row(r: &tokio_postgres::Row) -> StateInterval {
    StateInterval {
        start: r.get("start_at"),
        end: r.get("end_at"),
        state: state_of(r.get("state")),
        code: r.get("code"),
    }
}

/// The short name of a tag on its machine: what follows the last `.` (`imm-1.state` → `state`).
pub fn short_tag_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

impl Store {
    /// One round of the state builder for every tenant with machines: feeds each machine the
    /// samples that arrived since its last round (see [`TenantSession::build_states`]).
    pub async fn build_mes_states(&self) -> Result<BuildReport> {
        let tenants: Vec<TenantId> = {
            let client = self.owner.get().await?;
            client
                .query(
                    "SELECT DISTINCT tenant_id FROM public.machines ORDER BY 1",
                    &[],
                )
                .await
                .map_err(Error::db("listing tenants with machines"))?
                .iter()
                .map(|r| TenantId(r.get(0)))
                .collect()
        };
        let now = Utc::now() - Duration::seconds(BUILD_LAG_SECS);
        let mut report = BuildReport::default();
        for tenant in tenants {
            let mut session = self.tenant(tenant).await?;
            match session.build_states(now).await {
                Ok(r) => report += r,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "Building machine states failed; retrying next round.")
                }
            }
        }
        Ok(report)
    }
}

impl TenantSession {
    /// The tenant's machines with their class, line, site and the site's time zone.
    pub async fn mes_machines(&mut self, only: Option<&[i64]>) -> Result<Vec<MesMachine>> {
        let tenant = self.tenant().0;
        let ids: Option<Vec<i64>> = only.map(<[i64]>::to_vec);
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT m.id, m.name, m.kind, m.line_id, l.site_id, s.time_zone \
                 FROM public.machines m \
                 JOIN public.lines l ON l.id = m.line_id AND l.tenant_id = m.tenant_id \
                 JOIN public.sites s ON s.id = l.site_id AND s.tenant_id = l.tenant_id \
                 WHERE m.tenant_id = $1 AND ($2::bigint[] IS NULL OR m.id = ANY($2)) \
                 ORDER BY m.id",
                &[&tenant, &ids],
            )
            .await
            .map_err(Error::db("listing machines for MES"))?;
        Ok(rows
            .iter()
            .map(|r| MesMachine {
                id: r.get(0),
                name: r.get(1),
                class: r.get(2),
                line_id: r.get(3),
                site_id: r.get(4),
                time_zone: r.get(5),
            })
            .collect())
    }

    /// The stored rules (class and machine overrides).
    pub async fn state_rules(&mut self) -> Result<Vec<StoredRule>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, machine_class, machine_id, rule, updated_at FROM public.mes_state_rules \
                 WHERE tenant_id = $1 ORDER BY id",
                &[&tenant],
            )
            .await
            .map_err(Error::db("listing state rules"))?;
        rows.iter()
            .map(|r| {
                let rule: serde_json::Value = r.get(3);
                Ok(StoredRule {
                    id: r.get(0),
                    machine_class: r.get(1),
                    machine_id: r.get(2),
                    rule: serde_json::from_value(rule)
                        .map_err(|e| Error::Stored(format!("state rule: {e}")))?,
                    updated_at: r.get(4),
                })
            })
            .collect()
    }

    /// The rule in force for each machine: its own, else its class's, else the built-in
    /// default of its class.
    pub async fn effective_rules(
        &mut self,
        machines: &[MesMachine],
    ) -> Result<HashMap<i64, StateRule>> {
        let stored = self.state_rules().await?;
        let mut by_class = HashMap::new();
        let mut by_machine = HashMap::new();
        for s in stored {
            match (s.machine_class, s.machine_id) {
                (Some(c), _) => {
                    by_class.insert(c, s.rule);
                }
                (_, Some(m)) => {
                    by_machine.insert(m, s.rule);
                }
                _ => {}
            }
        }
        Ok(machines
            .iter()
            .map(|m| {
                let rule = by_machine
                    .get(&m.id)
                    .or_else(|| by_class.get(&m.class))
                    .cloned()
                    .unwrap_or_else(|| StateRule::default_for_class(&m.class));
                (m.id, rule)
            })
            .collect())
    }

    /// Creates or replaces the rule of a machine class or of one machine (exactly one of
    /// them), and has the affected machines' states recomputed from `recompute_from`.
    /// `None` when the machine does not exist.
    pub async fn put_state_rule(
        &mut self,
        class: Option<&str>,
        machine_id: Option<i64>,
        rule: &StateRule,
        recompute_from: DateTime<Utc>,
    ) -> Result<Option<StoredRule>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let value = serde_json::to_value(rule).map_err(|e| Error::Stored(e.to_string()))?;
        let tx = self.begin().await?;
        if let Some(m) = machine_id {
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM public.machines WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.0, &m],
                )
                .await
                .map_err(Error::db("finding the machine"))?;
            if exists.is_none() {
                return Ok(None);
            }
        }
        let before = tx
            .query_opt(
                "DELETE FROM public.mes_state_rules WHERE tenant_id = $1 \
                 AND machine_class IS NOT DISTINCT FROM $2 AND machine_id IS NOT DISTINCT FROM $3 \
                 RETURNING rule",
                &[&tenant.0, &class, &machine_id],
            )
            .await
            .map_err(Error::db("replacing a state rule"))?
            .map(|r| r.get::<_, serde_json::Value>(0));
        let row = tx
            .query_one(
                "INSERT INTO public.mes_state_rules (tenant_id, machine_class, machine_id, rule) \
                 VALUES ($1, $2, $3, $4) RETURNING id, updated_at",
                &[&tenant.0, &class, &machine_id, &value],
            )
            .await
            .map_err(Error::db("storing a state rule"))?;
        let stored = StoredRule {
            id: row.get(0),
            machine_class: class.map(str::to_string),
            machine_id,
            rule: rule.clone(),
            updated_at: row.get(1),
        };
        let affected: Vec<i64> = tx
            .query(
                "SELECT id FROM public.machines WHERE tenant_id = $1 \
                 AND (id = $2 OR ($2::bigint IS NULL AND kind = $3))",
                &[&tenant.0, &machine_id, &class],
            )
            .await
            .map_err(Error::db("finding the machines of a rule"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for m in &affected {
            reset_tracker(&tx, tenant.0, *m, recompute_from).await?;
        }
        let target = match (class, machine_id) {
            (Some(c), _) => format!("state-rule/class/{c}"),
            (_, Some(m)) => format!("state-rule/machine/{m}"),
            _ => "state-rule".into(),
        };
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "state_rule.put",
            target,
            before,
            Some(serde_json::to_value(&stored).map_err(|e| Error::Stored(e.to_string()))?),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        tracing::info!(tenant = %tenant, machines = affected.len(), from = %recompute_from, "State rule stored; states will be recomputed.");
        Ok(Some(stored))
    }

    /// Deletes a stored rule (the machines fall back to their class's or the default) and
    /// recomputes from `recompute_from`; false when there was none.
    pub async fn delete_state_rule(
        &mut self,
        id: i64,
        recompute_from: DateTime<Utc>,
    ) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                "DELETE FROM public.mes_state_rules WHERE tenant_id = $1 AND id = $2 \
                 RETURNING machine_class, machine_id, rule",
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("deleting a state rule"))?;
        let Some(row) = row else { return Ok(false) };
        let class: Option<String> = row.get(0);
        let machine: Option<i64> = row.get(1);
        let affected: Vec<i64> = tx
            .query(
                "SELECT id FROM public.machines WHERE tenant_id = $1 \
                 AND (id = $2 OR ($2::bigint IS NULL AND kind = $3))",
                &[&tenant.0, &machine, &class],
            )
            .await
            .map_err(Error::db("finding the machines of a rule"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for m in &affected {
            reset_tracker(&tx, tenant.0, *m, recompute_from).await?;
        }
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "state_rule.delete",
            format!("state-rule/{id}"),
            Some(row.get::<_, serde_json::Value>(2)),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }

    /// Has a machine's states and counts recomputed from `from` (the next builder rounds
    /// redo them from the stored samples); false when the machine does not exist.
    pub async fn recompute_states(&mut self, machine_id: i64, from: DateTime<Utc>) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM public.machines WHERE tenant_id = $1 AND id = $2",
                &[&tenant.0, &machine_id],
            )
            .await
            .map_err(Error::db("finding the machine"))?;
        if exists.is_none() {
            return Ok(false);
        }
        reset_tracker(&tx, tenant.0, machine_id, from).await?;
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "machine_states.recompute",
            format!("machine/{machine_id}"),
            None,
            Some(serde_json::json!({ "from": from })),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }

    /// One builder round for this tenant: every machine is fed the samples of its rule's
    /// tags newer than its last one and up to `now`, and its intervals, counts and tracker are
    /// stored in one transaction per machine.
    pub async fn build_states(&mut self, now: DateTime<Utc>) -> Result<BuildReport> {
        let machines = self.mes_machines(None).await?;
        let rules = self.effective_rules(&machines).await?;
        let mut report = BuildReport::default();
        for m in &machines {
            let rule = &rules[&m.id];
            report += self.build_machine(m.id, rule, now).await?;
        }
        Ok(report)
    }

    async fn build_machine(
        &mut self,
        machine_id: i64,
        rule: &StateRule,
        now: DateTime<Utc>,
    ) -> Result<BuildReport> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let tags = tx
            .query(
                "SELECT id, name FROM public.tags WHERE tenant_id = $1 AND machine_id = $2 \
                 AND value_type <> 'text' AND NOT derived ORDER BY id",
                &[&tenant, &machine_id],
            )
            .await
            .map_err(Error::db("reading a machine's tags"))?;
        let mut roles = HashMap::new();
        for (role, short) in rule.roles() {
            if let Some(r) = tags
                .iter()
                .find(|r| short_tag_name(r.get::<_, &str>(1)) == short)
            {
                roles.insert(r.get::<_, i64>(0), role);
            }
        }
        if !roles.is_empty() {
            // Every other numeric tag shows the machine is reporting.
            for r in &tags {
                roles.entry(r.get::<_, i64>(0)).or_insert(Role::Alive);
            }
        }
        let row = tx
            .query_opt(
                "SELECT tracker, restart_from FROM public.mes_trackers \
                 WHERE tenant_id = $1 AND machine_id = $2 FOR UPDATE",
                &[&tenant, &machine_id],
            )
            .await
            .map_err(Error::db("reading a machine's tracker"))?;
        let mut tracker: Tracker = match &row {
            Some(r) => match r.get::<_, Option<DateTime<Utc>>>(1) {
                Some(from) => restarted_tracker(&tx, tenant, &roles, from).await?,
                None => serde_json::from_value(r.get(0))
                    .map_err(|e| Error::Stored(format!("tracker: {e}")))?,
            },
            None => Tracker::default(),
        };
        let mut report = BuildReport {
            machines: 1,
            ..Default::default()
        };
        if roles.is_empty() {
            return Ok(report);
        }
        let tag_ids: Vec<i64> = roles.keys().copied().collect();
        let after = tracker.last_seen.unwrap_or_else(time_floor);
        let rows = tx
            .query(
                "SELECT tag_id, time, value FROM public.tenant_samples \
                 WHERE tenant_id = $5 AND tag_id = ANY($1) AND time > $2 AND time <= $3 \
                   AND value IS NOT NULL \
                 ORDER BY time LIMIT $4",
                &[&tag_ids, &after, &now, &BUILD_BATCH, &tenant],
            )
            .await
            .map_err(Error::db("reading samples for machine states"))?;
        let full = rows.len() as i64 == BUILD_BATCH;
        let mut samples: Vec<SignalSample> = rows
            .iter()
            .map(|r| SignalSample {
                time: r.get(1),
                role: roles[&r.get::<_, i64>(0)],
                value: r.get(2),
            })
            .collect();
        if full {
            // Never split a timestamp between rounds: the next round starts after the last
            // whole one.
            if let Some(last) = samples.last().map(|s| s.time) {
                samples.retain(|s| s.time < last);
            }
            report.behind = true;
        }
        report.samples = samples.len();
        let mut out = TrackOutput::default();
        let open_before = tracker.open;
        tracker.feed(rule, &samples, &mut out);
        if !full {
            tracker.advance_to(rule, now, &mut out);
        }
        report.intervals = out.closed.len();
        if tracker.open != open_before || !out.closed.is_empty() {
            store_intervals(
                &tx,
                tenant,
                machine_id,
                &out.closed,
                tracker.open_interval(),
            )
            .await?;
        }
        store_counts(&tx, tenant, machine_id, &out.counts).await?;
        let value = serde_json::to_value(&tracker).map_err(|e| Error::Stored(e.to_string()))?;
        tx.execute(
            "INSERT INTO public.mes_trackers (tenant_id, machine_id, tracker, updated_at) \
             VALUES ($1, $2, $3, now()) ON CONFLICT (tenant_id, machine_id) \
             DO UPDATE SET tracker = excluded.tracker, restart_from = NULL, updated_at = now()",
            &[&tenant, &machine_id, &value],
        )
        .await
        .map_err(Error::db("storing a machine's tracker"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(report)
    }

    /// A machine's state intervals overlapping `[from, to)`, clipped to it, oldest first; the
    /// interval still open has no end. `None` when the machine does not exist. Time no
    /// interval covers is unknown (no data).
    ///
    /// Published for alarm rules ("fault for longer than N s") and the API alike.
    pub async fn machine_states(
        &mut self,
        machine_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Vec<StateInterval>>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM public.machines WHERE tenant_id = $1 AND id = $2",
                &[&tenant, &machine_id],
            )
            .await
            .map_err(Error::db("finding the machine"))?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = tx
            .query(
                "SELECT start_at, end_at, state, code FROM public.mes_state_intervals \
                 WHERE tenant_id = $1 AND machine_id = $2 AND start_at < $4 \
                   AND (end_at IS NULL OR end_at > $3) ORDER BY start_at",
                &[&tenant, &machine_id, &from, &to],
            )
            .await
            .map_err(Error::db("reading state intervals"))?;
        Ok(Some(
            rows.iter()
                .map(interval_from_row)
                .map(|mut i| {
                    i.start = i.start.max(from);
                    if let Some(e) = i.end {
                        i.end = Some(e.min(to));
                    }
                    i
                })
                .collect(),
        ))
    }

    /// Every machine's current state in one call (a plant overview). Published for alarm
    /// rules as well.
    pub async fn current_states(&mut self) -> Result<Vec<CurrentState>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT m.id, m.name, m.line_id, i.state, i.code, i.start_at, t.tracker \
                 FROM public.machines m \
                 LEFT JOIN public.mes_state_intervals i \
                   ON i.tenant_id = m.tenant_id AND i.machine_id = m.id AND i.end_at IS NULL \
                 LEFT JOIN public.mes_trackers t \
                   ON t.tenant_id = m.tenant_id AND t.machine_id = m.id \
                 WHERE m.tenant_id = $1 ORDER BY m.id",
                &[&tenant],
            )
            .await
            .map_err(Error::db("reading current states"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let tracker: Option<Tracker> = r
                    .get::<_, Option<serde_json::Value>>(6)
                    .and_then(|v| serde_json::from_value(v).ok());
                CurrentState {
                    machine_id: r.get(0),
                    machine: r.get(1),
                    line_id: r.get(2),
                    state: r
                        .get::<_, Option<&str>>(3)
                        .map(state_of)
                        .unwrap_or(MachineState::Unknown),
                    code: r.get::<_, Option<i64>>(4).unwrap_or(0),
                    since: r.get(5),
                    last_sample: tracker.and_then(|t| t.last_seen),
                }
            })
            .collect())
    }
}

/// Stores closed intervals and replaces the machine's open one.
async fn store_intervals(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: i32,
    machine_id: i64,
    closed: &[StateInterval],
    open: Option<StateInterval>,
) -> Result<()> {
    tx.execute(
        "DELETE FROM public.mes_state_intervals WHERE tenant_id = $1 AND machine_id = $2 AND end_at IS NULL",
        &[&tenant, &machine_id],
    )
    .await
    .map_err(Error::db("replacing the open interval"))?;
    // One row per start: a later closing of the same interval (see `Tracker::before_stale`)
    // replaces an earlier one.
    let mut by_start: BTreeMap<DateTime<Utc>, &StateInterval> = BTreeMap::new();
    for i in closed.iter().chain(open.as_ref()) {
        by_start.insert(i.start, i);
    }
    let all: Vec<&StateInterval> = by_start.into_values().collect();
    if all.is_empty() {
        return Ok(());
    }
    let starts: Vec<DateTime<Utc>> = all.iter().map(|i| i.start).collect();
    let ends: Vec<Option<DateTime<Utc>>> = all.iter().map(|i| i.end).collect();
    let states: Vec<&str> = all.iter().map(|i| i.state.as_str()).collect();
    let codes: Vec<i64> = all.iter().map(|i| i.code).collect();
    tx.execute(
        "INSERT INTO public.mes_state_intervals (tenant_id, machine_id, start_at, end_at, state, code) \
         SELECT $1, $2, s, e, st, c FROM unnest($3::timestamptz[], $4::timestamptz[], $5::text[], $6::bigint[]) \
             AS u(s, e, st, c) \
         ON CONFLICT (tenant_id, machine_id, start_at) \
         DO UPDATE SET end_at = excluded.end_at, state = excluded.state, code = excluded.code",
        &[&tenant, &machine_id, &starts, &ends, &states, &codes],
    )
    .await
    .map_err(Error::db("storing state intervals"))?;
    Ok(())
}

async fn store_counts(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: i32,
    machine_id: i64,
    counts: &BTreeMap<DateTime<Utc>, crate::mes::state::MinuteCount>,
) -> Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let minutes: Vec<DateTime<Utc>> = counts.keys().copied().collect();
    let produced: Vec<i64> = counts.values().map(|c| c.produced).collect();
    let rejected: Vec<i64> = counts.values().map(|c| c.rejected).collect();
    tx.execute(
        "INSERT INTO public.mes_counts (tenant_id, machine_id, minute_end, produced, rejected) \
         SELECT $1, $2, m, p, r FROM unnest($3::timestamptz[], $4::bigint[], $5::bigint[]) AS u(m, p, r) \
         ON CONFLICT (tenant_id, machine_id, minute_end) DO UPDATE \
         SET produced = public.mes_counts.produced + excluded.produced, \
             rejected = public.mes_counts.rejected + excluded.rejected",
        &[&tenant, &machine_id, &minutes, &produced, &rejected],
    )
    .await
    .map_err(Error::db("storing production counts"))?;
    // The running totals (V14) from the first minute written on: that minute's and every later
    // one's, on top of the total just before it, summed here and written back by key. Rounds
    // write their minutes in time order, so this touches the new minutes only.
    let base = tx
        .query_opt(
            "SELECT cum_produced, cum_rejected FROM public.mes_counts \
             WHERE tenant_id = $1 AND machine_id = $2 AND minute_end < $3 \
             ORDER BY minute_end DESC LIMIT 1",
            &[&tenant, &machine_id, &minutes[0]],
        )
        .await
        .map_err(Error::db("reading production totals"))?
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
        .unwrap_or((0, 0));
    let rows = tx
        .query(
            "SELECT minute_end, produced, rejected FROM public.mes_counts \
             WHERE tenant_id = $1 AND machine_id = $2 AND minute_end >= $3 ORDER BY minute_end",
            &[&tenant, &machine_id, &minutes[0]],
        )
        .await
        .map_err(Error::db("reading production counts"))?;
    let (mut p, mut r) = base;
    let mut at: Vec<DateTime<Utc>> = Vec::with_capacity(rows.len());
    let mut cum_p: Vec<i64> = Vec::with_capacity(rows.len());
    let mut cum_r: Vec<i64> = Vec::with_capacity(rows.len());
    for row in &rows {
        p += row.get::<_, i64>(1);
        r += row.get::<_, i64>(2);
        at.push(row.get(0));
        cum_p.push(p);
        cum_r.push(r);
    }
    tx.execute(
        "UPDATE public.mes_counts c SET cum_produced = u.p, cum_rejected = u.r \
         FROM unnest($3::timestamptz[], $4::bigint[], $5::bigint[]) AS u(m, p, r) \
         WHERE c.tenant_id = $1 AND c.machine_id = $2 AND c.minute_end = u.m",
        &[&tenant, &machine_id, &at, &cum_p, &cum_r],
    )
    .await
    .map_err(Error::db("keeping production totals"))?;
    Ok(())
}

/// Cuts a machine's intervals and counts at `from` (to the minute) and asks the next builder
/// round to restart there (it seeds the counters with their values at `from`, knowing the rule
/// in force). Nothing to do when the builder has not got past `from` yet.
async fn reset_tracker(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: i32,
    machine_id: i64,
    from: DateTime<Utc>,
) -> Result<()> {
    let from = from.duration_trunc(Duration::minutes(1)).unwrap_or(from);
    let old: Option<Tracker> = tx
        .query_opt(
            "SELECT tracker FROM public.mes_trackers WHERE tenant_id = $1 AND machine_id = $2 FOR UPDATE",
            &[&tenant, &machine_id],
        )
        .await
        .map_err(Error::db("reading a machine's tracker"))?
        .and_then(|r| serde_json::from_value(r.get(0)).ok());
    match old {
        Some(t) if t.last_seen.is_some_and(|l| l > from) => {}
        _ => return Ok(()),
    }
    tx.execute(
        "DELETE FROM public.mes_state_intervals WHERE tenant_id = $1 AND machine_id = $2 AND start_at >= $3",
        &[&tenant, &machine_id, &from],
    )
    .await
    .map_err(Error::db("cutting state intervals"))?;
    tx.execute(
        "UPDATE public.mes_state_intervals SET end_at = $3 \
         WHERE tenant_id = $1 AND machine_id = $2 AND start_at < $3 AND (end_at IS NULL OR end_at > $3)",
        &[&tenant, &machine_id, &from],
    )
    .await
    .map_err(Error::db("cutting state intervals"))?;
    tx.execute(
        "DELETE FROM public.mes_counts WHERE tenant_id = $1 AND machine_id = $2 AND minute_end > $3",
        &[&tenant, &machine_id, &from],
    )
    .await
    .map_err(Error::db("cutting production counts"))?;
    tx.execute(
        "UPDATE public.mes_trackers SET restart_from = $3 WHERE tenant_id = $1 AND machine_id = $2",
        &[&tenant, &machine_id, &from],
    )
    .await
    .map_err(Error::db("restarting a machine's tracker"))?;
    Ok(())
}

/// The tracker a restart at `from` begins with: no open interval, the counters as they stood
/// at `from` (within a day before), so the first increment after it counts.
async fn restarted_tracker(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: i32,
    roles: &HashMap<i64, Role>,
    from: DateTime<Utc>,
) -> Result<Tracker> {
    let mut t = Tracker {
        last_seen: Some(from),
        ..Default::default()
    };
    let counters: Vec<i64> = roles
        .iter()
        .filter(|(_, r)| matches!(r, Role::Parts | Role::Rejects))
        .map(|(id, _)| *id)
        .collect();
    if counters.is_empty() {
        return Ok(t);
    }
    let rows = tx
        .query(
            "SELECT DISTINCT ON (tag_id) tag_id, value FROM public.tenant_samples \
             WHERE tenant_id = $3 AND tag_id = ANY($1) AND time <= $2 \
               AND time > $2 - interval '1 day' AND value IS NOT NULL \
             ORDER BY tag_id, time DESC",
            &[&counters, &from, &tenant],
        )
        .await
        .map_err(Error::db("reading counters before a recomputation"))?;
    for r in rows {
        match roles[&r.get::<_, i64>(0)] {
            Role::Parts => t.signals.parts = Some(r.get(1)),
            Role::Rejects => t.signals.rejects = Some(r.get(1)),
            _ => {}
        }
    }
    Ok(t)
}
