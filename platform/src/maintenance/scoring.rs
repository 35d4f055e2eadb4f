//! Online scoring: for every promoted model, the latest window of each machine of its class is
//! turned into features exactly as in training, scored, written back as a derived tag
//! (`<machine>.pm.failure_probability`, `.pm.rul_hours`, `.pm.anomaly_score`) through the
//! normal ingest path, and compared with the model's threshold: one open alarm per (machine,
//! kind), raised at the data time of the first window over the threshold, cleared when the
//! output has been back to normal for a whole window (so a degrading machine's alarm does not
//! flap) or when a repair or maintenance is recorded after it. Machines that are down (failed,
//! not yet repaired) are skipped. Each round also checks the SPC alarms of characteristics on
//! tags ([`super::spc_watch`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ndarray::{concatenate, Array2, Axis};
use tokio_util::sync::CancellationToken;

use super::artifact::Fitted;
use super::dataset::{features_at, step_contexts, Grid};
use super::spc_watch::SpcWatch;
use super::training::channel_of;
use crate::error::{Error, Result};
use crate::store::alarms::{AlarmChange, AlarmReading};
use crate::store::events::EventKind;
use crate::store::history::ClassMachine;
use crate::store::ingest::{Quality, SampleRow};
use crate::store::models::{ModelKind, ModelVersion};
use crate::store::{Store, TenantId, TenantSession};

/// What one scoring round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreReport {
    /// Machine windows scored.
    pub scored: usize,
    /// Alarms raised.
    pub raised: usize,
    /// Alarms cleared.
    pub cleared: usize,
}

/// The scorer, with the fitted models it has loaded (one refit per version, see
/// [`super::artifact`]).
#[derive(Debug, Default)]
pub struct Scorer {
    loaded: HashMap<(TenantId, i64), Arc<Fitted>>,
    /// Data time since which each (tenant, machine, kind) has scored normal.
    normal_since: HashMap<(TenantId, i64, ModelKind), DateTime<Utc>>,
    /// SPC alarms on tag characteristics, checked in the same rounds.
    spc: SpcWatch,
}

/// The derived tag name suffix and unit of each kind's output.
fn output(kind: ModelKind) -> (&'static str, &'static str) {
    match kind {
        ModelKind::Anomaly => ("anomaly_score", ""),
        ModelKind::Failure => ("failure_probability", ""),
        ModelKind::Rul => ("rul_hours", "h"),
        ModelKind::Defect => ("defect_probability", ""),
    }
}

impl Scorer {
    /// A scorer with nothing loaded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scores every tenant with a promoted model every `secs` seconds until `stop`; a failed
    /// round is logged and retried at the next one.
    pub async fn run(mut self, store: Store, secs: u64, stop: CancellationToken) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs.max(1)));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.round(&store).await;
        }
    }

    /// One round over every tenant: SPC on tag characteristics, then every promoted model.
    /// Failures are logged; answers whether everything succeeded.
    pub async fn round(&mut self, store: &Store) -> bool {
        let mut ok = true;
        match self.spc.run_once(store, Utc::now()).await {
            Ok(raised) => tracing::debug!(raised = raised.len(), "SPC round done."),
            Err(e) => {
                ok = false;
                tracing::warn!(error = %e, "SPC round failed; retrying next round.")
            }
        }
        let tenants = match store.tenants_with_promoted_models().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "Scoring round failed; retrying next round.");
                return false;
            }
        };
        for tenant in tenants {
            match self.run_once(store, tenant).await {
                Ok(r) => tracing::debug!(tenant = %tenant, ?r, "Scoring round done."),
                Err(e) => {
                    ok = false;
                    tracing::warn!(tenant = %tenant, error = %e, "Scoring failed; retrying next round.")
                }
            }
        }
        ok
    }

    /// One round for one tenant: every promoted model, every machine of its class.
    pub async fn run_once(&mut self, store: &Store, tenant: TenantId) -> Result<ScoreReport> {
        let mut session = store.tenant(tenant).await?;
        let promoted = session.promoted_models().await?;
        // Forget versions that are no longer promoted.
        self.loaded
            .retain(|(t, id), _| *t != tenant || promoted.iter().any(|(v, _)| v.id == *id));
        let mut report = ScoreReport::default();
        // Defect models score quality records as they arrive (maintenance::defect), not windows.
        let promoted = promoted
            .into_iter()
            .filter(|(v, _)| v.kind != ModelKind::Defect);
        for (version, artifact) in promoted {
            let fitted = match self.loaded.get(&(tenant, version.id)) {
                Some(f) => f.clone(),
                None => {
                    let f = tokio::task::spawn_blocking(move || Fitted::decode(&artifact))
                        .await
                        .map_err(|e| Error::Artifact(format!("loading task failed: {e}")))??;
                    let f = Arc::new(f);
                    tracing::info!(tenant = %tenant, version = version.id, kind = version.kind.as_str(), "Loaded a promoted model.");
                    self.loaded.insert((tenant, version.id), f.clone());
                    f
                }
            };
            for machine in session.machines_of_class(&version.machine_class).await? {
                let Some(scored) = score(&mut session, &fitted, &machine).await? else {
                    continue;
                };
                let (at, value) = (scored.at, scored.value);
                report.scored += 1;
                if let Some(reset) = scored.last_reset {
                    for id in session.clear_alarms_before(machine.id, reset).await? {
                        report.cleared += 1;
                        tracing::info!(tenant = %tenant, machine = %machine.name, alarm = id, "Predictive-maintenance alarm cleared by a repair or maintenance.");
                    }
                }
                let (suffix, unit) = output(version.kind);
                let name = format!("{}.pm.{suffix}", machine.name);
                let description = format!(
                    "{suffix} of {} (model version {})",
                    machine.name, version.id
                );
                let tag = session
                    .ensure_derived_tag(machine.id, &name, unit, &description)
                    .await?;
                session
                    .ingest(&[SampleRow {
                        tag_id: tag,
                        time: at,
                        value: Some(value),
                        quality: Quality::Good,
                    }])
                    .await?;
                let alarming = fitted.alarming(value);
                let key = (tenant, machine.id, version.kind);
                let settled = if alarming {
                    self.normal_since.remove(&key);
                    true
                } else {
                    // An alarm clears only after a window's worth of normal data: a single
                    // normal window amid a degradation would otherwise make it flap.
                    let since = *self.normal_since.entry(key).or_insert(at);
                    let step = Duration::milliseconds((fitted.header.step_secs * 1000.0) as i64);
                    at - since >= step * fitted.header.window as i32
                };
                if !settled {
                    continue;
                }
                let change = session
                    .apply_alarm(&AlarmReading {
                        machine_id: machine.id,
                        kind: version.kind,
                        alarming,
                        at,
                        value,
                        threshold: fitted.threshold,
                        model_version: version.id,
                    })
                    .await?;
                log_change(tenant, &version, &machine, change, value, &mut report);
            }
        }
        Ok(report)
    }
}

fn log_change(
    tenant: TenantId,
    version: &ModelVersion,
    machine: &ClassMachine,
    change: AlarmChange,
    value: f64,
    report: &mut ScoreReport,
) {
    match change {
        AlarmChange::Raised(id) => {
            report.raised += 1;
            tracing::warn!(tenant = %tenant, machine = %machine.name, kind = version.kind.as_str(), alarm = id, value, "Predictive-maintenance alarm raised.");
        }
        AlarmChange::Cleared(id) => {
            report.cleared += 1;
            tracing::info!(tenant = %tenant, machine = %machine.name, kind = version.kind.as_str(), alarm = id, value, "Predictive-maintenance alarm cleared.");
        }
        AlarmChange::None => {}
    }
}

/// A machine's latest window, scored.
struct Scored {
    /// Data time of the newest sample in the window.
    at: DateTime<Utc>,
    /// The model's output.
    value: f64,
    /// The machine's last repair or maintenance.
    last_reset: Option<DateTime<Utc>>,
}

/// The model's output on the machine's latest window; `None` when the machine lacks a
/// channel, has no samples, is down, or has not yet run a full window since its repair.
async fn score(
    session: &mut TenantSession,
    fitted: &Fitted,
    machine: &ClassMachine,
) -> Result<Option<Scored>> {
    let h = &fitted.header;
    let spec = h.spec();
    let tags = session.measured_tags(machine.id).await?;
    let ids: Option<Vec<i64>> = h
        .channels
        .iter()
        .map(|c| {
            tags.iter()
                .find(|(_, n, _)| channel_of(n) == c)
                .map(|(id, _, _)| *id)
        })
        .collect();
    let Some(ids) = ids else { return Ok(None) };
    let Some(newest) = session.newest_sample_time(&ids).await? else {
        return Ok(None);
    };
    let events = session
        .machine_events(
            machine.id,
            Some(newest - Duration::days(366)),
            Some(newest + Duration::milliseconds(1)),
            100_000,
        )
        .await?
        .unwrap_or_default();
    let now = spec.floor(newest);
    let context = step_contexts(&[now], &events)[0];
    if context.down {
        return Ok(None);
    }
    let step = Duration::milliseconds((spec.step_secs * 1000.0).round() as i64);
    let span = step * h.window as i32;
    let end = newest + Duration::milliseconds(1);
    let tail_from = now - step * (h.window as i32 - 1);
    // The segment starts at the last repair or maintenance; without one, a window back.
    let segment_start = if context.hours_since_maintenance > 0.0 && !events.is_empty() {
        now - Duration::milliseconds((context.hours_since_maintenance * 3_600_000.0) as i64)
    } else {
        tail_from
    };
    // Training's segments start at the first step starting at or after the repair.
    let floor = spec.floor(segment_start);
    let segment_start = if floor < segment_start {
        floor + step
    } else {
        floor
    };
    let segment_start = segment_start.max(newest - Duration::days(366));
    let values: Array2<f64> = if segment_start + span >= tail_from {
        let series = session
            .stepped_series(&ids, segment_start, end, spec.step_secs)
            .await?;
        match Grid::build(&series, segment_start, end, &spec) {
            // Not yet a full window since the repair: training never saw such rows either.
            Some(g) if g.values.nrows() >= h.window => g.values,
            _ => return Ok(None),
        }
    } else {
        let head = session
            .stepped_series(&ids, segment_start, segment_start + span, spec.step_secs)
            .await?;
        let tail = session
            .stepped_series(&ids, tail_from, end, spec.step_secs)
            .await?;
        match (
            Grid::build(&head, segment_start, segment_start + span, &spec),
            Grid::build(&tail, tail_from, end, &spec),
        ) {
            (Some(a), Some(b)) => concatenate(Axis(0), &[a.values.view(), b.values.view()])
                .map_err(|e| Error::Artifact(e.to_string()))?,
            _ => return Ok(None),
        }
    };
    let mut row = Vec::with_capacity(h.n_features);
    let last = values.nrows() - 1;
    features_at(
        &spec.features(),
        values.view(),
        0,
        last,
        context.hours_since_maintenance,
        &mut row,
    );
    let raw =
        Array2::from_shape_vec((1, row.len()), row).map_err(|e| Error::Artifact(e.to_string()))?;
    let x = fitted.normalise(raw.view())?;
    let out = fitted.predict(x.view())?;
    let last_reset = events
        .iter()
        .filter(|e| e.kind != EventKind::Failure && e.at <= newest)
        .map(|e| e.at)
        .max();
    Ok(Some(Scored {
        at: newest,
        value: out[0],
        last_reset,
    }))
}
