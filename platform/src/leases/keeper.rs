//! The keeper: one task per process that takes, renews and gives up leases in rounds (every
//! `leases.renew_secs`), and the handle jobs use to ask whether they hold theirs and to record
//! each round they run ([`Keeper::begin`], [`run_every`]).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::policy::{self, LocalLease, Policy};
use crate::store::leases::Outcome;
use crate::store::Store;

/// One job's lease as this process sees it (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job.
    pub job: String,
    /// Whether this process holds it now.
    pub held: bool,
    /// How many times this process took it.
    pub acquired: u64,
    /// How many times this process lost it without giving it up (a renewal refused or too
    /// late).
    pub lost: u64,
}

#[derive(Default)]
struct JobLease {
    local: LocalLease,
    acquired: u64,
    lost: u64,
}

#[derive(Default)]
struct State {
    jobs: Vec<String>,
    leases: HashMap<String, JobLease>,
    busy: BTreeSet<String>,
    /// Jobs whose holder must hand their state over before the lease is given up.
    handover: BTreeSet<String>,
    /// Jobs to be given up once handed over (still held and renewed meanwhile).
    releasing: BTreeSet<String>,
    /// Jobs handed over, ready to be given up.
    handed_over: BTreeSet<String>,
}

struct Inner {
    store: Store,
    holder: String,
    policy: Policy,
    state: Mutex<State>,
    ready: watch::Sender<bool>,
    done: watch::Sender<bool>,
    wake: Notify,
    stop: CancellationToken,
}

/// The handle: cheap to clone.
#[derive(Clone)]
pub struct Keeper {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("holder", &self.inner.holder)
            .finish_non_exhaustive()
    }
}

/// This process's holder name: host name, process id, a random suffix.
fn this_holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    policy::holder_name(host.trim(), std::process::id(), rand::random())
}

impl Keeper {
    /// Starts keeping leases for `jobs` (more with [`Keeper::want`]) on `store`; stops, giving
    /// up every lease, when `stop` is cancelled or at [`Keeper::shutdown`].
    pub fn start(store: Store, policy: Policy, jobs: Vec<String>, stop: CancellationToken) -> Self {
        let inner = Arc::new(Inner {
            store,
            holder: this_holder(),
            policy,
            state: Mutex::new(State {
                jobs,
                ..State::default()
            }),
            ready: watch::channel(false).0,
            done: watch::channel(false).0,
            wake: Notify::new(),
            stop: stop.child_token(),
        });
        tokio::spawn(run(inner.clone()));
        Self { inner }
    }

    /// The name this process holds leases under.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The timing in force.
    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    /// Adds a job to those this process seeks a lease for (at once).
    pub fn want(&self, job: &str) {
        {
            let mut s = self.inner.state.lock().expect("lease state");
            if s.jobs.iter().any(|j| j == job) {
                return;
            }
            s.jobs.push(job.to_string());
        }
        self.inner.wake.notify_one();
    }

    /// Like [`Keeper::want`], for a job with state of its own: before the keeper gives its
    /// lease up to spread the work, the job sees it in [`Keeper::is_releasing`], saves its
    /// state and calls [`Keeper::handed_over`]; only then is the lease released.
    pub fn want_with_handover(&self, job: &str) {
        self.inner
            .state
            .lock()
            .expect("lease state")
            .handover
            .insert(job.to_string());
        self.want(job);
    }

    /// Whether the keeper is giving `job`'s lease up (until it has): the job should hand its
    /// state over and stop acting on it.
    pub fn is_releasing(&self, job: &str) -> bool {
        let s = self.inner.state.lock().expect("lease state");
        s.releasing.contains(job)
    }

    /// `job` has saved its state and stopped: its lease may be given up.
    pub fn handed_over(&self, job: &str) {
        {
            let mut s = self.inner.state.lock().expect("lease state");
            if !s.releasing.contains(job) {
                return;
            }
            s.handed_over.insert(job.to_string());
        }
        self.inner.wake.notify_one();
    }

    /// Whether this process holds `job`'s lease now.
    pub fn is_held(&self, job: &str) -> bool {
        let s = self.inner.state.lock().expect("lease state");
        s.leases
            .get(job)
            .is_some_and(|l| l.local.is_held(Instant::now()))
    }

    /// Waits until the first round of taking leases has been made (whatever it got).
    pub async fn ready(&self) {
        let mut rx = self.inner.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Every wanted job's lease as this process sees it.
    pub fn status(&self) -> Vec<JobStatus> {
        let s = self.inner.state.lock().expect("lease state");
        let now = Instant::now();
        s.jobs
            .iter()
            .map(|job| {
                let l = s.leases.get(job);
                JobStatus {
                    job: job.clone(),
                    held: l.is_some_and(|l| l.local.is_held(now)),
                    acquired: l.map_or(0, |l| l.acquired),
                    lost: l.map_or(0, |l| l.lost),
                }
            })
            .collect()
    }

    /// Stops keeping leases, gives every one up and waits (at most 5 s) until it has.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let mut rx = self.inner.done.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| *d)).await;
    }

    /// Begins a round of `job` if this process holds its lease, recording it in the run log
    /// (the database checks the lease once more in that statement). `None`: not held.
    pub async fn begin(&self, job: &str) -> Option<Run> {
        if !self.is_held(job) {
            return None;
        }
        self.set_busy(job, true);
        match self
            .inner
            .store
            .start_lease_run(job, &self.inner.holder)
            .await
        {
            Ok(Some(id)) => Some(Run {
                keeper: self.clone(),
                job: job.to_string(),
                id,
            }),
            Ok(None) => {
                self.set_busy(job, false);
                None
            }
            Err(e) => {
                tracing::warn!(job, error = %e, "Could not start a leased round; retrying next round.");
                self.set_busy(job, false);
                None
            }
        }
    }

    fn set_busy(&self, job: &str, busy: bool) {
        let mut s = self.inner.state.lock().expect("lease state");
        if busy {
            s.busy.insert(job.to_string());
        } else {
            s.busy.remove(job);
        }
    }

    /// Completes when `job`'s lease is no longer held (checked every 100 ms).
    pub async fn lost(&self, job: &str) {
        while self.is_held(job) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A round of a leased job in progress.
pub struct Run {
    keeper: Keeper,
    job: String,
    id: i64,
}

impl Run {
    /// Runs `work` while the lease is held: `None` if the lease was lost first (the work is
    /// dropped at its next await point; a transaction in flight rolls back).
    pub async fn guard<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            r = work => Some(r),
            _ = self.keeper.lost(&self.job) => None,
        }
    }

    /// Ends the round in the run log.
    pub async fn finish(self, outcome: Outcome) {
        if let Err(e) = self
            .keeper
            .inner
            .store
            .finish_lease_run(self.id, outcome)
            .await
        {
            tracing::warn!(job = %self.job, error = %e, "Could not record the end of a leased round.");
        }
        self.keeper.set_busy(&self.job, false);
    }
}

/// Runs `round` every `every` while this process holds `job`'s lease, until `stop`; each round
/// is recorded in the run log, and stopped if the lease is lost. `round` answers whether it
/// did its work. While the lease is elsewhere it looks again every renewal period (a local
/// check), so a lease taken over is put to work within a second or so rather than a whole
/// interval later.
pub async fn run_every<F, Fut>(
    keeper: Keeper,
    job: &'static str,
    every: Duration,
    stop: CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    keeper.want(job);
    let every = every.max(Duration::from_millis(100));
    let retry = every.min(keeper.policy().renew_every);
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(run) = keeper.begin(job).await else {
            wait = retry;
            continue;
        };
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = stop.cancelled() => Outcome::Failed,
            r = run.guard(round()) => match r {
                Some(true) => Outcome::Ok,
                Some(false) => Outcome::Failed,
                None => {
                    tracing::warn!(job, "Lease lost during a round; the round was stopped.");
                    Outcome::Lost
                }
            },
        };
        run.finish(outcome).await;
        wait = every.saturating_sub(started.elapsed());
    }
}

async fn run(inner: Arc<Inner>) {
    let mut last_prune: Option<Instant> = None;
    let mut last_error: Option<Instant> = None;
    loop {
        if let Err(e) = round(&inner).await {
            // One warning a minute while the database is away; the leases lapse by themselves.
            if last_error.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(error = %e, "A lease round failed; held leases lapse unless renewed.");
                last_error = Some(Instant::now());
            }
        }
        inner.ready.send_replace(true);
        if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            last_prune = Some(Instant::now());
            if let Err(e) = inner.store.prune_lease_history(7).await {
                tracing::debug!(error = %e, "Pruning the lease history failed.");
            }
        }
        tokio::select! {
            _ = inner.stop.cancelled() => break,
            _ = tokio::time::sleep(inner.policy.renew_every) => {}
            _ = inner.wake.notified() => {}
        }
    }
    {
        let mut s = inner.state.lock().expect("lease state");
        for l in s.leases.values_mut() {
            l.local.held_until = None;
        }
    }
    match inner.store.release_holder(&inner.holder).await {
        Ok(n) => tracing::info!(holder = %inner.holder, released = n, "Leases given up."),
        Err(e) => {
            tracing::warn!(holder = %inner.holder, error = %e, "Could not give up leases; they lapse by themselves.")
        }
    }
    inner.done.send_replace(true);
}

async fn round(inner: &Inner) -> crate::error::Result<()> {
    let now = Instant::now();
    let (jobs, busy) = {
        let mut s = inner.state.lock().expect("lease state");
        // Leases that lapsed without a renewal in time count as lost.
        for (job, l) in s.leases.iter_mut() {
            if l.local.held_until.is_some() && !l.local.is_held(now) {
                l.local.held_until = None;
                l.lost += 1;
                tracing::warn!(job = %job, holder = %inner.holder, "Lease lapsed before it could be renewed.");
            }
        }
        (s.jobs.clone(), s.busy.clone())
    };
    let (rows, live) = inner
        .store
        .lease_round(&inner.holder, inner.policy.ttl)
        .await?;
    let mut plan = policy::plan(&inner.holder, &jobs, &rows, live, &busy);
    // Jobs with state hand it over first: keep renewing them until they have.
    let ready: Vec<String> = {
        let mut s = inner.state.lock().expect("lease state");
        for job in std::mem::take(&mut plan.release) {
            if s.handover.contains(&job) {
                if s.releasing.insert(job.clone()) {
                    tracing::info!(job = %job, holder = %inner.holder, live, "Handing a lease over so another replica can take its share.");
                }
            } else {
                plan.release.push(job);
            }
        }
        let done: Vec<String> = s.handed_over.iter().cloned().collect();
        for job in &done {
            s.releasing.remove(job);
            s.handed_over.remove(job);
        }
        let waiting: Vec<String> = s.releasing.iter().cloned().collect();
        for job in waiting {
            if !plan.renew.contains(&job) && jobs.contains(&job) {
                plan.renew.push(job);
            }
        }
        done
    };
    for job in ready {
        plan.renew.retain(|j| *j != job);
        plan.take.retain(|j| *j != job);
        plan.release.push(job);
    }
    for job in &plan.release {
        {
            let mut s = inner.state.lock().expect("lease state");
            s.leases.entry(job.clone()).or_default().local.held_until = None;
        }
        if inner.store.release_lease(job, &inner.holder).await? {
            tracing::info!(job = %job, holder = %inner.holder, live, "Lease given up so another replica can take its share.");
        }
    }
    for job in plan.renew.iter().chain(&plan.take) {
        let sent = Instant::now();
        let granted = inner
            .store
            .take_lease(job, &inner.holder, inner.policy.ttl)
            .await?;
        let newly = {
            let mut s = inner.state.lock().expect("lease state");
            let l = s.leases.entry(job.clone()).or_default();
            let was_held = l.local.held_until.is_some();
            match &granted {
                Some(g) => {
                    l.local = LocalLease {
                        held_until: Some(inner.policy.held_until(sent)),
                        epoch: g.epoch,
                    };
                    if !was_held {
                        l.acquired += 1;
                    }
                    !was_held
                }
                None => {
                    if was_held {
                        l.lost += 1;
                        l.local.held_until = None;
                        tracing::warn!(job = %job, holder = %inner.holder, "Lease lost: another replica holds it.");
                    }
                    false
                }
            }
        };
        if let (true, Some(g)) = (newly, &granted) {
            tracing::info!(job = %job, holder = %inner.holder, epoch = g.epoch, previous = ?g.previous, "Lease taken.");
            inner
                .store
                .record_lease_acquired(job, &inner.holder, g)
                .await?;
        }
    }
    Ok(())
}
