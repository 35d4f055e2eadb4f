//! The in-process evaluator: one task per server that holds every tenant's rules and their
//! states, fed by ingest after each commit and ticked every second for stale-data rules.
//!
//! - Feeding: [`Alerting::feed`] sends a committed batch through a bounded channel. When the
//!   evaluator falls behind, ingest waits for room rather than dropping samples.
//! - Configuration: a tenant's rules and targets are loaded on its first batch (and at start
//!   for every tenant with rules, so stale rules run without ingest), reloaded when the API
//!   changes a rule, and every `alerting.reload_secs` (new tags, other replicas' changes).
//! - Checkpoints: states that changed are saved every `alerting.checkpoint_secs`, and with
//!   every raise or clear in its transaction; on load, a state's `active` flag is reconciled
//!   with the open alarms, so neither a lost checkpoint nor a crash raises twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::eval::{RuleState, Transition};
use super::rule::{render, Condition, MessageContext};
use crate::config::AlertingSettings;
use crate::error::Result;
use crate::leases::policy::{alerting_job, shard_of, ALERTING_SHARDS};
use crate::leases::Keeper;
use crate::store::alarm_rules::{AlarmRule, RuleAlarmChange, RuleTarget};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::{Store, TenantId};

/// One numeric sample as the evaluator sees it: (tag, time, value).
pub type Point = (i64, DateTime<Utc>, f64);

enum Msg {
    /// A committed batch, with when it was fed.
    Samples(TenantId, Vec<Point>, Instant),
    RulesChanged(TenantId),
    Flush(oneshot::Sender<()>),
}

/// The handle ingest and the API hold: cheap to clone.
#[derive(Clone)]
pub struct Alerting {
    tx: mpsc::Sender<Msg>,
    stats: Arc<Stats>,
    /// With leases: the replica's keeper, the store for the inbox, and the tenants that have
    /// rules (samples of others are not queued).
    leased: Option<Leased>,
    done: tokio::sync::watch::Receiver<bool>,
}

#[derive(Clone)]
struct Leased {
    keeper: Keeper,
    store: Store,
    /// None until first listed (until then every batch is queued).
    rule_tenants: Arc<std::sync::RwLock<Option<std::collections::HashSet<TenantId>>>>,
}

/// Counters of the evaluator's work (served on `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Samples evaluated against at least one rule.
    pub evaluated: AtomicU64,
    /// Rule evaluations: each sample against each rule on its tag, and each machine-state
    /// rule's verdict on a machine.
    pub rule_evaluations: AtomicU64,
    /// Alarms raised.
    pub raised: AtomicU64,
    /// Alarms cleared.
    pub cleared: AtomicU64,
    /// How long the latest batch took from being fed to being evaluated (queueing included),
    /// microseconds.
    pub lag_us: AtomicU64,
    /// Batches queued in the database for the replica holding their shard's lease.
    pub queued_batches: AtomicU64,
    /// Batches taken from that queue and evaluated here.
    pub inbox_batches: AtomicU64,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting").finish_non_exhaustive()
    }
}

impl Alerting {
    /// Starts the evaluator on `store`; it stops when `stop` is cancelled or every handle is
    /// dropped. `wake` is notified when a change wrote webhook events.
    pub fn start(
        store: Store,
        settings: AlertingSettings,
        wake: Arc<Notify>,
        stop: CancellationToken,
    ) -> Self {
        Self::spawn(store, settings, wake, None, stop)
    }

    /// Like [`Alerting::start`], for one of several replicas: this process evaluates the
    /// tenants of the shards whose leases `keeper` holds (`alerting-<k>`), and queues the
    /// batches of other tenants in the database for the replica that holds theirs.
    pub fn start_leased(
        store: Store,
        settings: AlertingSettings,
        wake: Arc<Notify>,
        keeper: Keeper,
        stop: CancellationToken,
    ) -> Self {
        for shard in 0..ALERTING_SHARDS {
            keeper.want_with_handover(&alerting_job(shard));
        }
        Self::spawn(store, settings, wake, Some(keeper), stop)
    }

    fn spawn(
        store: Store,
        settings: AlertingSettings,
        wake: Arc<Notify>,
        keeper: Option<Keeper>,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(settings.queue_batches.max(1));
        let stats = Arc::new(Stats::default());
        let leased = keeper.map(|keeper| Leased {
            keeper,
            store: store.clone(),
            rule_tenants: Arc::default(),
        });
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let engine = Engine {
            store,
            settings,
            wake,
            stats: stats.clone(),
            tenants: HashMap::new(),
            leased: leased.clone(),
            held: BTreeSet::new(),
            tenants_listed: None,
        };
        tokio::spawn(async move {
            engine.run(rx, stop).await;
            done_tx.send_replace(true);
        });
        Self {
            tx,
            stats,
            leased,
            done,
        }
    }

    /// Waits (at most `limit`) until the evaluator has stopped and saved its states.
    pub async fn stopped(&self, limit: Duration) {
        let mut done = self.done.clone();
        let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
    }

    /// Hands a committed batch to the evaluator (waits while its queue is full). Bad-quality
    /// samples and samples without a value are not evaluated.
    pub async fn feed(&self, tenant: TenantId, rows: &[SampleRow]) {
        let points: Vec<Point> = rows
            .iter()
            .filter(|r| r.quality != Quality::Bad)
            .filter_map(|r| r.value.map(|v| (r.tag_id, r.time, v)))
            .collect();
        if points.is_empty() {
            return;
        }
        if let Some(l) = &self.leased {
            l.keeper.ready().await;
            let shard = shard_of(tenant.0);
            let job = alerting_job(shard);
            if !l.keeper.is_held(&job) || l.keeper.is_releasing(&job) {
                let has_rules = l
                    .rule_tenants
                    .read()
                    .map(|t| t.as_ref().is_none_or(|t| t.contains(&tenant)))
                    .unwrap_or(true);
                if !has_rules {
                    return;
                }
                match l.store.queue_rule_samples(tenant, shard, &points).await {
                    Ok(()) => {
                        self.stats.queued_batches.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, error = %e, "Could not queue a batch for the replica evaluating its tenant; it was not evaluated.")
                    }
                }
                return;
            }
        }
        if self
            .tx
            .send(Msg::Samples(tenant, points, Instant::now()))
            .await
            .is_err()
        {
            tracing::warn!(tenant = %tenant, "The alarm evaluator has stopped; a batch was not evaluated.");
        }
    }

    /// Tells the evaluator that a tenant's rules changed.
    pub async fn rules_changed(&self, tenant: TenantId) {
        if let Some(l) = &self.leased {
            if let Ok(mut t) = l.rule_tenants.write() {
                if let Some(t) = t.as_mut() {
                    t.insert(tenant);
                }
            }
        }
        let _ = self.tx.send(Msg::RulesChanged(tenant)).await;
    }

    /// Waits until everything fed before this call has been evaluated.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The evaluator's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Messages (mostly batches) waiting in the evaluator's queue, and the queue's capacity.
    pub fn queue(&self) -> (usize, usize) {
        let max = self.tx.max_capacity();
        (max - self.tx.capacity(), max)
    }
}

struct Entry {
    rule: Arc<AlarmRule>,
    target: RuleTarget,
    state: RuleState,
    dirty: bool,
}

#[derive(Default)]
struct TenantRules {
    entries: Vec<Entry>,
    by_tag: HashMap<i64, Vec<usize>>,
    has_stale: bool,
    has_state: bool,
    loaded_at: Option<Instant>,
}

struct Engine {
    store: Store,
    settings: AlertingSettings,
    wake: Arc<Notify>,
    stats: Arc<Stats>,
    tenants: HashMap<TenantId, TenantRules>,
    /// With leases: the keeper, and the shards this engine holds (as of its last look).
    leased: Option<Leased>,
    held: BTreeSet<u32>,
    tenants_listed: Option<Instant>,
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, stop: CancellationToken) {
        if let Some(l) = &self.leased {
            let keeper = l.keeper.clone();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = keeper.ready() => {}
            }
            self.sync_leases().await;
        } else {
            match self.store.tenants_with_alarm_rules().await {
                Ok(tenants) => {
                    for t in tenants {
                        self.reload(t).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Could not list tenants with alarm rules; they load with their next samples.")
                }
            }
        }
        let mut tick = tokio::time::interval(Duration::from_millis(self.settings.tick_ms.max(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint = Instant::now();
        let mut last_states = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::Samples(tenant, points, fed)) => {
                        self.samples(tenant, points, Utc::now()).await;
                        let lag = u64::try_from(fed.elapsed().as_micros()).unwrap_or(u64::MAX);
                        self.stats.lag_us.store(lag, Ordering::Relaxed);
                    }
                    Some(Msg::RulesChanged(tenant)) => {
                        if self.evaluates(tenant) {
                            self.reload(tenant).await;
                        }
                    }
                    Some(Msg::Flush(done)) => {
                        self.drain_inbox().await;
                        let _ = done.send(());
                    }
                },
                _ = tick.tick() => {
                    self.sync_leases().await;
                    self.drain_inbox().await;
                    self.tick(Utc::now()).await;
                    if last_states.elapsed() >= Duration::from_secs(self.settings.state_poll_secs.max(1)) {
                        self.machine_states(Utc::now()).await;
                        last_states = Instant::now();
                    }
                    if last_checkpoint.elapsed() >= Duration::from_secs(self.settings.checkpoint_secs.max(1)) {
                        self.checkpoint_all().await;
                        last_checkpoint = Instant::now();
                    }
                    let stale: Vec<TenantId> = self.tenants.iter()
                        .filter(|(_, t)| t.loaded_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(self.settings.reload_secs.max(1))))
                        .map(|(id, _)| *id)
                        .collect();
                    for t in stale {
                        self.reload(t).await;
                    }
                }
            }
        }
        self.checkpoint_all().await;
        tracing::debug!("Alarm evaluator stopped.");
    }

    /// Whether this engine evaluates `tenant` (always without leases).
    fn evaluates(&self, tenant: TenantId) -> bool {
        self.leased.is_none() || self.held.contains(&shard_of(tenant.0))
    }

    /// Whether the lease of `tenant`'s shard is still held right now (checked before every
    /// write; a tenant whose lease lapsed is dropped without writing).
    fn still_holds(&mut self, tenant: TenantId) -> bool {
        let Some(l) = &self.leased else {
            return true;
        };
        let shard = shard_of(tenant.0);
        if l.keeper.is_held(&alerting_job(shard)) {
            return true;
        }
        self.held.remove(&shard);
        self.tenants.retain(|t, _| shard_of(t.0) != shard);
        false
    }

    /// Follows the keeper: loads the tenants of shards newly held (from their checkpoints),
    /// forgets those of shards lost (without writing: their new holder owns their state).
    async fn sync_leases(&mut self) {
        let Some(l) = &self.leased else {
            return;
        };
        let keeper = l.keeper.clone();
        // Shards the keeper gives up to spread the work: save their states, forget them, and
        // let the lease go.
        for shard in 0..ALERTING_SHARDS {
            let job = alerting_job(shard);
            if !keeper.is_releasing(&job) {
                continue;
            }
            if self.held.contains(&shard) {
                let tenants: Vec<TenantId> = self
                    .tenants
                    .keys()
                    .filter(|t| shard_of(t.0) == shard)
                    .copied()
                    .collect();
                for t in tenants {
                    self.checkpoint(t).await;
                }
                self.tenants.retain(|t, _| shard_of(t.0) != shard);
                self.held.remove(&shard);
                tracing::info!(
                    shard,
                    "Alarm evaluation shard handed over with its states saved."
                );
            }
            keeper.handed_over(&job);
        }
        let Some(l) = &self.leased else {
            return;
        };
        let now_held: BTreeSet<u32> = (0..ALERTING_SHARDS)
            .filter(|s| {
                let job = alerting_job(*s);
                l.keeper.is_held(&job) && !l.keeper.is_releasing(&job)
            })
            .collect();
        let lost: Vec<u32> = self.held.difference(&now_held).copied().collect();
        let gained: Vec<u32> = now_held.difference(&self.held).copied().collect();
        let rule_tenants = l.rule_tenants.clone();
        for shard in &lost {
            tracing::info!(shard, "Alarm evaluation shard moved to another replica.");
            self.tenants.retain(|t, _| shard_of(t.0) != *shard);
        }
        self.held = now_held;
        let refresh = !gained.is_empty()
            || self.tenants_listed.is_none_or(|at| {
                at.elapsed() >= Duration::from_secs(self.settings.reload_secs.max(1))
            });
        if !refresh {
            return;
        }
        let tenants = match self.store.tenants_with_alarm_rules().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "Could not list tenants with alarm rules; retrying next tick.");
                return;
            }
        };
        self.tenants_listed = Some(Instant::now());
        if let Ok(mut set) = rule_tenants.write() {
            *set = Some(tenants.iter().copied().collect());
        }
        for shard in &gained {
            tracing::info!(
                shard,
                "Alarm evaluation shard taken; loading its tenants' rules and states."
            );
        }
        for t in tenants {
            if gained.contains(&shard_of(t.0)) {
                self.reload(t).await;
            }
        }
    }

    /// Evaluates the batches other replicas queued for the shards held here.
    async fn drain_inbox(&mut self) {
        if self.leased.is_none() || self.held.is_empty() {
            return;
        }
        let shards: Vec<u32> = self.held.iter().copied().collect();
        loop {
            let batches = match self.store.take_rule_samples(&shards, 64).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "Taking queued samples for alarm evaluation failed; retrying next tick.");
                    return;
                }
            };
            if batches.is_empty() {
                return;
            }
            for b in batches {
                self.stats.inbox_batches.fetch_add(1, Ordering::Relaxed);
                self.samples(b.tenant, b.points, b.arrived_at).await;
            }
        }
    }

    /// Saves the tenant's changed states, then loads its rules, targets and checkpoints.
    async fn reload(&mut self, tenant: TenantId) {
        self.checkpoint(tenant).await;
        match self.load(tenant).await {
            Ok(rules) => {
                tracing::debug!(tenant = %tenant, entries = rules.entries.len(), "Alarm rules loaded.");
                self.tenants.insert(tenant, rules);
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "Loading alarm rules failed; retrying at the next reload.");
                // Keep what was loaded, and try again at the next reload round.
                let entry = self.tenants.entry(tenant).or_default();
                entry.loaded_at = Some(Instant::now());
            }
        }
    }

    async fn load(&self, tenant: TenantId) -> Result<TenantRules> {
        let mut session = self.store.tenant(tenant).await?;
        let rules = session.rule_targets().await?;
        let mut saved = session.rule_states().await?;
        let open = session.open_rule_alarms().await?;
        let now = Utc::now();
        let mut out = TenantRules {
            loaded_at: Some(Instant::now()),
            ..TenantRules::default()
        };
        for (rule, targets) in rules {
            let rule = Arc::new(rule);
            out.has_stale |= matches!(rule.condition, Condition::Stale { .. });
            out.has_state |= matches!(rule.condition, Condition::MachineState { .. });
            for target in targets {
                let mut state = saved
                    .remove(&(rule.id, target.tag_id))
                    .unwrap_or_else(|| RuleState::watching_from(now));
                state.active = open.contains(&(rule.id, target.machine_id));
                let index = out.entries.len();
                out.by_tag.entry(target.tag_id).or_default().push(index);
                out.entries.push(Entry {
                    rule: rule.clone(),
                    target,
                    state,
                    dirty: false,
                });
            }
        }
        Ok(out)
    }

    async fn samples(&mut self, tenant: TenantId, mut points: Vec<Point>, arrived: DateTime<Utc>) {
        if !self.evaluates(tenant) {
            // The shard's lease moved away since the batch was fed: its holder evaluates it.
            if let Err(e) = self
                .store
                .queue_rule_samples(tenant, shard_of(tenant.0), &points)
                .await
            {
                tracing::warn!(tenant = %tenant, error = %e, "Could not queue a batch for the replica evaluating its tenant; it was not evaluated.");
            }
            return;
        }
        if !self.tenants.contains_key(&tenant) {
            self.reload(tenant).await;
        }
        let Some(rules) = self.tenants.get_mut(&tenant) else {
            return;
        };
        if rules.by_tag.is_empty() {
            return;
        }
        points.sort_by_key(|p| p.1);
        // Stale-data rules count arrivals on the server's clock, so a connector whose clock
        // is off, or that forwards a backlog, is judged by whether data arrives.
        let mut changes = Vec::new();
        let (mut evaluated, mut evaluations) = (0u64, 0u64);
        for (tag, t, v) in points {
            let Some(indexes) = rules.by_tag.get(&tag) else {
                continue;
            };
            evaluated += 1;
            for &i in indexes {
                let e = &mut rules.entries[i];
                if matches!(e.rule.condition, Condition::MachineState { .. }) {
                    // Judged on the MES state intervals (see `machine_states`).
                    continue;
                }
                let before = e.state.last_time;
                let at = match e.rule.condition {
                    Condition::Stale { .. } => arrived,
                    _ => t,
                };
                evaluations += 1;
                let change = e.state.observe(
                    &e.rule.condition,
                    u32::try_from(e.rule.on_delay_secs).unwrap_or(0),
                    at,
                    v,
                );
                e.dirty |= e.state.last_time != before;
                if let Some(c) = change {
                    changes.push((i, c, e.state.clone()));
                }
            }
        }
        self.stats.evaluated.fetch_add(evaluated, Ordering::Relaxed);
        self.stats
            .rule_evaluations
            .fetch_add(evaluations, Ordering::Relaxed);
        if !changes.is_empty() {
            self.apply(tenant, changes).await;
        }
    }

    async fn tick(&mut self, now: DateTime<Utc>) {
        let mut due = Vec::new();
        for (tenant, rules) in &mut self.tenants {
            if !rules.has_stale {
                continue;
            }
            let mut changes = Vec::new();
            for (i, e) in rules.entries.iter_mut().enumerate() {
                if let Some(c) = e.state.tick(&e.rule.condition, now) {
                    e.dirty = true;
                    changes.push((i, c, e.state.clone()));
                }
            }
            if !changes.is_empty() {
                due.push((*tenant, changes));
            }
        }
        for (tenant, changes) in due {
            self.apply(tenant, changes).await;
        }
    }

    /// Machine-state rules: reads every machine's current state (the MES state builder's
    /// open interval) of the tenants that have such rules, once per `state_poll_secs`.
    async fn machine_states(&mut self, now: DateTime<Utc>) {
        let tenants: Vec<TenantId> = self
            .tenants
            .iter()
            .filter(|(_, r)| r.has_state)
            .map(|(t, _)| *t)
            .collect();
        for tenant in tenants {
            let current = match self.store.tenant(tenant).await {
                Ok(mut s) => s.current_states().await,
                Err(e) => Err(e),
            };
            let current = match current {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "Reading machine states failed; retrying next round.");
                    continue;
                }
            };
            let by_machine: HashMap<i64, _> = current.iter().map(|c| (c.machine_id, c)).collect();
            let Some(rules) = self.tenants.get_mut(&tenant) else {
                continue;
            };
            let mut seen = std::collections::HashSet::new();
            let mut changes = Vec::new();
            for (i, e) in rules.entries.iter_mut().enumerate() {
                let Condition::MachineState { state } = &e.rule.condition else {
                    continue;
                };
                // One verdict per (rule, machine), whichever of its tags matched.
                if !seen.insert((e.rule.id, e.target.machine_id)) {
                    continue;
                }
                let Some(c) = by_machine.get(&e.target.machine_id) else {
                    continue;
                };
                self.stats.rule_evaluations.fetch_add(1, Ordering::Relaxed);
                let change = e.state.observe_state(
                    u32::try_from(e.rule.on_delay_secs).unwrap_or(0),
                    c.state.as_str() == state,
                    c.since,
                    c.code as f64,
                    now,
                );
                if let Some(t) = change {
                    e.dirty = true;
                    changes.push((i, t, e.state.clone()));
                }
            }
            if !changes.is_empty() {
                self.apply(tenant, changes).await;
            }
        }
    }

    /// Writes raises and clears; on a failure the tenant is reloaded, which reconciles the
    /// states with the alarms the database holds.
    async fn apply(&mut self, tenant: TenantId, changes: Vec<(usize, Transition, RuleState)>) {
        if !self.still_holds(tenant) {
            return;
        }
        let Some(rules) = self.tenants.get(&tenant) else {
            return;
        };
        let mut session = match self.store.tenant(tenant).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "Could not record alarm changes; reloading the rules.");
                self.reload(tenant).await;
                return;
            }
        };
        let mut failed = false;
        let mut notified = false;
        for (i, transition, state) in &changes {
            let e = &rules.entries[*i];
            let message = match transition {
                Transition::Raise { value, .. } => render(
                    &e.rule.message,
                    &MessageContext {
                        machine: &e.target.machine_name,
                        tag: &e.target.tag_name,
                        unit: &e.target.unit,
                        rule: &e.rule.name,
                        severity: e.rule.severity,
                        value: *value,
                        limit: e.rule.condition.limit(),
                        delay: u32::try_from(e.rule.on_delay_secs).unwrap_or(0),
                    },
                ),
                Transition::Clear { .. } => String::new(),
            };
            let change = RuleAlarmChange {
                rule: &e.rule,
                target: &e.target,
                transition: *transition,
                message,
                state,
            };
            match session.apply_rule_change(&change).await {
                Ok(Some(alarm)) => {
                    notified = true;
                    match transition {
                        Transition::Raise { at, .. } => {
                            self.stats.raised.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(tenant = %tenant, rule = e.rule.id, machine = %e.target.machine_name, tag = %e.target.tag_name, alarm = alarm.id, at = %at, "Alarm raised by a rule.");
                        }
                        Transition::Clear { at, .. } => {
                            self.stats.cleared.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(tenant = %tenant, rule = e.rule.id, machine = %e.target.machine_name, alarm = alarm.id, at = %at, "Rule alarm cleared.");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "Recording an alarm change failed; reloading the rules.");
                    failed = true;
                    break;
                }
            }
        }
        drop(session);
        if notified {
            self.wake.notify_one();
        }
        if failed {
            self.reload(tenant).await;
        }
    }

    async fn checkpoint(&mut self, tenant: TenantId) {
        if !self.still_holds(tenant) {
            return;
        }
        let Some(rules) = self.tenants.get_mut(&tenant) else {
            return;
        };
        let dirty: Vec<(i64, i64, serde_json::Value)> = rules
            .entries
            .iter()
            .filter(|e| e.dirty)
            .filter_map(|e| {
                serde_json::to_value(&e.state)
                    .ok()
                    .map(|v| (e.rule.id, e.target.tag_id, v))
            })
            .collect();
        if dirty.is_empty() {
            return;
        }
        let saved = match self.store.tenant(tenant).await {
            Ok(mut s) => s.save_rule_states(&dirty).await,
            Err(e) => Err(e),
        };
        match saved {
            Ok(()) => {
                for e in rules.entries.iter_mut() {
                    e.dirty = false;
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "Checkpointing alarm rule states failed; retrying next round.")
            }
        }
    }

    async fn checkpoint_all(&mut self) {
        let tenants: Vec<TenantId> = self.tenants.keys().copied().collect();
        for t in tenants {
            self.checkpoint(t).await;
        }
    }
}
