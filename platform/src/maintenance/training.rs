//! Training jobs: read the tenant's own history of a machine class over a range, label it with
//! the machines' failure events, hold out part of it (the latest share of the range, or the
//! last machines), fit the normaliser on the training part only, fit the model, measure it on
//! the hold-out, and store the result as a new model version. Runs as a tokio task; the
//! fitting runs on the blocking pool. Progress goes to the job row and to the log.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use millwright_models::eval::metrics::{roc_auc, BinaryMetrics};
use millwright_models::normalise::Normaliser;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::artifact::{round_f32, Fitted, Header};
use super::dataset::{FeatureSpec, Grid, Labelling, Rows};
use crate::error::{Error, Result};
use crate::store::models::{JobStatus, ModelKind, NewModelVersion};
use crate::store::{Store, TenantId};

/// Which rows are held out to measure the model.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Holdout {
    /// The latest `holdout_fraction` of the range.
    #[default]
    Time,
    /// The last `holdout_fraction` of the machines (by id).
    Machine,
}

/// A training request; absent fields take the defaults documented on each.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    /// Machine class (`kind` of the machines) to train for. Required.
    pub machine_class: Option<String>,
    /// `anomaly`, `failure`, `rul` or `defect` (defect probability of a unit from the process
    /// parameters of its quality records; `channels` then names the parameters). Required.
    pub kind: Option<ModelKind>,
    /// Start of the training range (RFC 3339). Required.
    pub from: Option<DateTime<Utc>>,
    /// End of the training range (RFC 3339). Required.
    pub to: Option<DateTime<Utc>>,
    /// Failure horizon in hours (default 24): `failure` predicts a failure within it.
    pub horizon_hours: Option<f64>,
    /// Seconds per step of the feature grid (default 60).
    pub step_secs: Option<f64>,
    /// Steps per feature window (default 30).
    pub window: Option<usize>,
    /// Tag-name suffixes to use as channels, float or integer tags (default: the float tags
    /// every machine of the class has).
    pub channels: Option<Vec<String>>,
    /// `time` (default) or `machine`.
    pub holdout: Option<Holdout>,
    /// Share held out (default 0.25).
    pub holdout_fraction: Option<f64>,
    /// RUL cap in hours (default 4 × horizon).
    pub rul_cap_hours: Option<f64>,
    /// Alarm threshold: failure probability, anomaly score, or RUL hours below which to alarm
    /// (default: the calibrated threshold; for RUL the horizon).
    pub alarm_threshold: Option<f64>,
    /// Trees of the ensemble (default 50).
    pub trees: Option<usize>,
    /// Seed of every random choice (default 42).
    pub seed: Option<u64>,
}

/// A request with its defaults applied; stored with the job and the version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingParams {
    /// Machine class.
    pub machine_class: String,
    /// Model kind.
    pub kind: ModelKind,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end.
    pub to: DateTime<Utc>,
    /// Failure horizon in hours.
    pub horizon_hours: f64,
    /// Seconds per step.
    pub step_secs: f64,
    /// Steps per window.
    pub window: usize,
    /// Channels asked for, if any.
    pub channels: Option<Vec<String>>,
    /// Hold-out rule.
    pub holdout: Holdout,
    /// Share held out.
    pub holdout_fraction: f64,
    /// RUL cap in hours.
    pub rul_cap_hours: f64,
    /// Alarm threshold, if set.
    pub alarm_threshold: Option<f64>,
    /// Trees.
    pub trees: usize,
    /// Seed.
    pub seed: u64,
}

/// A request field that is missing or out of range: (field, what is wrong).
pub type FieldProblem = (&'static str, String);

impl TrainingRequest {
    /// Applies defaults and checks every field.
    pub fn resolve(self) -> std::result::Result<TrainingParams, FieldProblem> {
        let missing = |f: &'static str| (f, "missing".to_string());
        let machine_class = self
            .machine_class
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| missing("machine_class"))?;
        let kind = self.kind.ok_or_else(|| missing("kind"))?;
        let from = self.from.ok_or_else(|| missing("from"))?;
        let to = self.to.ok_or_else(|| missing("to"))?;
        if to <= from {
            return Err(("to", "must be after `from`".into()));
        }
        if to - from > Duration::days(366) {
            return Err(("to", "the range may span at most 366 days".into()));
        }
        let positive = |f: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err((f, "must be a positive number".to_string()))
            }
        };
        let horizon_hours = positive("horizon_hours", self.horizon_hours.unwrap_or(24.0))?;
        let step_secs = self.step_secs.unwrap_or(60.0);
        if !(1.0..=86_400.0).contains(&step_secs) {
            return Err(("step_secs", "must be between 1 and 86400".into()));
        }
        let steps = (to - from).num_seconds() as f64 / step_secs;
        if steps > 500_000.0 {
            return Err((
                "step_secs",
                format!("{steps:.0} steps per machine; at most 500000 (use a larger step)"),
            ));
        }
        let window = self.window.unwrap_or(30);
        if !(2..=1000).contains(&window) {
            return Err(("window", "must be between 2 and 1000 steps".into()));
        }
        let holdout_fraction = self.holdout_fraction.unwrap_or(0.25);
        if !(0.05..=0.9).contains(&holdout_fraction) {
            return Err(("holdout_fraction", "must be between 0.05 and 0.9".into()));
        }
        let rul_cap_hours = positive(
            "rul_cap_hours",
            self.rul_cap_hours.unwrap_or(4.0 * horizon_hours),
        )?;
        if let Some(t) = self.alarm_threshold {
            if !t.is_finite() {
                return Err(("alarm_threshold", "must be a finite number".into()));
            }
        }
        let trees = self.trees.unwrap_or(50);
        if !(1..=500).contains(&trees) {
            return Err(("trees", "must be between 1 and 500".into()));
        }
        if let Some(channels) = &self.channels {
            if channels.is_empty() || channels.iter().any(|c| c.is_empty()) {
                return Err(("channels", "must be non-empty names".into()));
            }
        }
        let alarm_threshold = match kind {
            ModelKind::Rul => Some(self.alarm_threshold.unwrap_or(horizon_hours)),
            _ => self.alarm_threshold,
        };
        Ok(TrainingParams {
            machine_class,
            kind,
            from,
            to,
            horizon_hours,
            step_secs,
            window,
            channels: self.channels,
            holdout: self.holdout.unwrap_or_default(),
            holdout_fraction,
            rul_cap_hours,
            alarm_threshold,
            trees,
            seed: self.seed.unwrap_or(42),
        })
    }
}

/// The channel of a tag: the part of its name after the last dot (`imm-1.mould_temp` →
/// `mould_temp`), so machines of a class share channel names.
pub fn channel_of(tag_name: &str) -> &str {
    tag_name.rsplit('.').next().unwrap_or(tag_name)
}

/// Runs a job in the background; its outcome is in the job row.
pub fn spawn(
    store: Store,
    tenant: TenantId,
    job: i64,
    params: TrainingParams,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let outcome = if params.kind == ModelKind::Defect {
            super::defect::run(&store, tenant, job, &params).await
        } else {
            run(&store, tenant, job, &params).await
        };
        match outcome {
            Ok(version) => {
                tracing::info!(tenant = %tenant, job, version, seconds = started.elapsed().as_secs_f64(), "Training job succeeded.");
            }
            Err(e) => {
                let message = match &e {
                    Error::Training(m) => m.clone(),
                    Error::Model { .. } => e.to_string(),
                    _ => "internal error; the details are in the server log".to_string(),
                };
                tracing::warn!(tenant = %tenant, job, error = %e, "Training job failed.");
                if let Err(e) =
                    progress(&store, tenant, job, JobStatus::Failed, 0.0, &message, None).await
                {
                    tracing::error!(tenant = %tenant, job, error = %e, "Could not record a failed training job.");
                }
            }
        }
    })
}

pub(super) async fn progress(
    store: &Store,
    tenant: TenantId,
    job: i64,
    status: JobStatus,
    share: f64,
    message: &str,
    version: Option<i64>,
) -> Result<()> {
    tracing::info!(tenant = %tenant, job, progress = share, "{message}");
    let mut s = store.tenant(tenant).await?;
    s.update_training_job(job, status, share, message, version)
        .await
}

/// One machine's history, read from the store.
struct History {
    machine: i64,
    grid: Grid,
    events: Vec<crate::store::events::MachineEvent>,
}

async fn run(store: &Store, tenant: TenantId, job: i64, p: &TrainingParams) -> Result<i64> {
    use JobStatus::Running;
    progress(
        store,
        tenant,
        job,
        Running,
        0.05,
        "Reading the machines of the class.",
        None,
    )
    .await?;
    let mut session = store.tenant(tenant).await?;
    let machines = session.machines_of_class(&p.machine_class).await?;
    if machines.is_empty() {
        return Err(Error::Training(format!(
            "no machine of class `{}`",
            p.machine_class
        )));
    }
    let mut tags = Vec::new();
    for m in &machines {
        tags.push(session.measured_tags(m.id).await?);
    }
    let channels: Vec<String> = match &p.channels {
        Some(c) => c.clone(),
        None => {
            let sets: Vec<BTreeSet<&str>> = tags
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    // By default only float tags: integer ones are often counters or codes.
                    t.iter()
                        .filter(|(_, _, float)| *float)
                        .map(|(_, n, _)| channel_of(n))
                        .collect()
                })
                .collect();
            let mut common = sets.first().cloned().unwrap_or_default();
            for s in &sets[1.min(sets.len())..] {
                common = common.intersection(s).copied().collect();
            }
            common.into_iter().map(str::to_string).collect()
        }
    };
    if channels.is_empty() {
        return Err(Error::Training(
            "the machines share no float tag to learn from".into(),
        ));
    }
    let spec = FeatureSpec {
        window: p.window,
        step_secs: p.step_secs,
        time_since_maintenance: p.kind != ModelKind::Anomaly,
    };
    let mut histories = Vec::new();
    for (k, (m, tags)) in machines.iter().zip(&tags).enumerate() {
        let ids: Option<Vec<i64>> = channels
            .iter()
            .map(|c| {
                tags.iter()
                    .find(|(_, n, _)| channel_of(n) == c)
                    .map(|(id, _, _)| *id)
            })
            .collect();
        let Some(ids) = ids else {
            tracing::info!(tenant = %tenant, job, machine = m.id, "Machine lacks a channel; left out.");
            continue;
        };
        let series = session
            .stepped_series(&ids, p.from, p.to, p.step_secs)
            .await?;
        let events = session
            .machine_events(
                m.id,
                Some(p.from - Duration::days(366)),
                Some(p.to),
                100_000,
            )
            .await?
            .unwrap_or_default();
        if let Some(grid) = Grid::build(&series, p.from, p.to, &spec) {
            histories.push(History {
                machine: m.id,
                grid,
                events,
            });
        }
        let share = 0.1 + 0.4 * (k + 1) as f64 / machines.len() as f64;
        let message = format!(
            "Read the history of {} of {} machines.",
            k + 1,
            machines.len()
        );
        progress(store, tenant, job, Running, share, &message, None).await?;
    }
    drop(session);
    if histories.is_empty() {
        return Err(Error::Training(
            "no machine of the class has samples in the range".into(),
        ));
    }

    let p2 = p.clone();
    let spec2 = spec.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&p2, &spec2, &histories))
        .await
        .map_err(|e| Error::Training(format!("feature task failed: {e}")))??;
    let message = format!(
        "Fitting on {} rows ({} held out).",
        prepared.train.len(),
        prepared.test.len()
    );
    progress(store, tenant, job, Running, 0.6, &message, None).await?;

    let header = Header {
        format: 1,
        kind: p.kind,
        channels: channels.clone(),
        window: p.window,
        step_secs: p.step_secs,
        time_since_maintenance: spec.time_since_maintenance,
        mean: prepared.mean.clone(),
        std: prepared.std.clone(),
        trees: p.trees,
        clusters: 8,
        seed: p.seed,
        rul_cap_hours: p.rul_cap_hours,
        alarm_threshold: p.alarm_threshold,
        rows: prepared.train.len(),
        n_features: prepared.train.n_features,
    };
    let p3 = p.clone();
    let trained = tokio::task::spawn_blocking(move || fit_and_measure(&p3, header, &prepared))
        .await
        .map_err(|e| Error::Training(format!("fitting task failed: {e}")))??;
    progress(
        store,
        tenant,
        job,
        Running,
        0.9,
        "Storing the model version.",
        None,
    )
    .await?;

    let mut session = store.tenant(tenant).await?;
    let version = session
        .store_model_version(&NewModelVersion {
            machine_class: p.machine_class.clone(),
            kind: p.kind,
            params: json!({"request": p, "channels": channels}),
            metrics: trained.metrics,
            trained_from: p.from,
            trained_to: p.to,
            machines: trained.machines,
            artifact: trained.artifact,
        })
        .await?;
    drop(session);
    let message = format!("Stored version {} (id {}).", version.version, version.id);
    progress(
        store,
        tenant,
        job,
        JobStatus::Succeeded,
        1.0,
        &message,
        Some(version.id),
    )
    .await?;
    Ok(version.id)
}

/// Training and hold-out rows, normalised with statistics of the training rows.
struct Prepared {
    train: Rows,
    test: Rows,
    mean: Vec<f64>,
    std: Vec<f64>,
}

fn prepare(p: &TrainingParams, spec: &FeatureSpec, histories: &[History]) -> Result<Prepared> {
    let labels = Labelling {
        kind: p.kind,
        horizon_hours: p.horizon_hours,
        rul_cap_hours: p.rul_cap_hours,
    };
    let mut rows = Rows::default();
    for h in histories {
        let last = h
            .grid
            .observed
            .iter()
            .rposition(|o| *o)
            .map(|i| h.grid.times[i] + Duration::milliseconds((p.step_secs * 1000.0) as i64));
        let until = last.unwrap_or(p.from).min(p.to);
        rows.add_machine(h.machine, &h.grid, &h.events, until, spec, labels);
    }
    let machines: BTreeSet<i64> = rows.machines.iter().copied().collect();
    let is_test: Box<dyn Fn(usize) -> bool> = match p.holdout {
        Holdout::Time => {
            let span = (p.to - p.from).num_milliseconds() as f64;
            let cut = p.from + Duration::milliseconds((span * (1.0 - p.holdout_fraction)) as i64);
            let times = rows.times.clone();
            Box::new(move |i| times[i] >= cut)
        }
        Holdout::Machine => {
            if machines.len() < 2 {
                return Err(Error::Training(
                    "holding out machines needs at least two".into(),
                ));
            }
            let n_test = ((machines.len() as f64 * p.holdout_fraction).ceil() as usize)
                .clamp(1, machines.len() - 1);
            let held: BTreeSet<i64> = machines.iter().rev().take(n_test).copied().collect();
            let of = rows.machines.clone();
            Box::new(move |i| held.contains(&of[i]))
        }
    };
    let mut train = rows.select(|i| !is_test(i));
    let mut test = rows.select(&is_test);
    if p.kind == ModelKind::Anomaly {
        // Normal operation only: nothing within the horizon of a failure.
        train = train.select(|i| !train.failing[i]);
    }
    if p.kind == ModelKind::Failure && !train.failing.iter().any(|f| *f) {
        return Err(Error::Training(
            "no failure event within the horizon of any training row; record failures first".into(),
        ));
    }
    if train.len() < 10 {
        return Err(Error::Training(format!(
            "only {} training rows",
            train.len()
        )));
    }
    let x = train.matrix();
    let normaliser = Normaliser::fit(x.view(), &vec![0; x.nrows()], 1)
        .map_err(Error::model("fitting the normaliser"))?;
    let normalise = |r: &mut Rows| -> Result<()> {
        if r.is_empty() {
            return Ok(());
        }
        let mut x = normaliser
            .transform(r.matrix().view(), &vec![0; r.len()])
            .map_err(Error::model("normalising"))?;
        round_f32(&mut x);
        r.x = x.into_raw_vec_and_offset().0;
        Ok(())
    };
    normalise(&mut train)?;
    normalise(&mut test)?;
    Ok(Prepared {
        train,
        test,
        mean: normaliser.mean().row(0).to_vec(),
        std: normaliser.std().row(0).to_vec(),
    })
}

/// A fitted, measured and serialized model.
struct Trained {
    metrics: serde_json::Value,
    artifact: Vec<u8>,
    machines: Vec<i64>,
}

/// Fits, measures on the hold-out, and serializes.
fn fit_and_measure(p: &TrainingParams, header: Header, d: &Prepared) -> Result<Trained> {
    let started = std::time::Instant::now();
    let x = d.train.matrix();
    let y: Vec<f64> = match p.kind {
        ModelKind::Anomaly => Vec::new(),
        _ => d.train.y.clone(),
    };
    let fitted = Fitted::fit(header.clone(), x.view(), &y)?;
    let fit_secs = started.elapsed().as_secs_f64();
    let mut metrics = json!({
        "rows_train": d.train.len(),
        "rows_test": d.test.len(),
        "threshold": fitted.threshold,
        "fit_seconds": fit_secs,
    });
    if !d.test.is_empty() {
        let out = fitted.predict(d.test.matrix().view())?.to_vec();
        let m = metrics.as_object_mut().expect("object");
        match p.kind {
            ModelKind::Failure => {
                let truth: Vec<bool> = d.test.y.iter().map(|v| *v >= 0.5).collect();
                let predicted: Vec<bool> = out.iter().map(|v| fitted.alarming(*v)).collect();
                let b = BinaryMetrics::from_predictions(&predicted, &truth);
                m.insert("precision".into(), json!(b.precision));
                m.insert("recall".into(), json!(b.recall));
                m.insert("f1".into(), json!(b.f1));
                m.insert("auc".into(), json!(finite(roc_auc(&out, &truth))));
                m.insert(
                    "positives_test".into(),
                    json!(truth.iter().filter(|t| **t).count()),
                );
            }
            ModelKind::Rul => {
                let err: Vec<f64> = out.iter().zip(&d.test.y).map(|(a, b)| a - b).collect();
                let n = err.len() as f64;
                m.insert(
                    "rmse_hours".into(),
                    json!((err.iter().map(|e| e * e).sum::<f64>() / n).sqrt()),
                );
                m.insert(
                    "mae_hours".into(),
                    json!(err.iter().map(|e| e.abs()).sum::<f64>() / n),
                );
            }
            ModelKind::Anomaly => {
                let rate = |want: bool| {
                    let rows: Vec<f64> = out
                        .iter()
                        .zip(&d.test.failing)
                        .filter(|(_, f)| **f == want)
                        .map(|(o, _)| *o)
                        .collect();
                    let alarms = rows.iter().filter(|o| fitted.alarming(**o)).count();
                    (!rows.is_empty()).then(|| alarms as f64 / rows.len() as f64)
                };
                m.insert("false_alarm_rate".into(), json!(rate(false)));
                m.insert("detection_rate".into(), json!(rate(true)));
            }
            // Trained by maintenance::defect; never reaches here.
            ModelKind::Defect => {}
        }
    }
    let stored_y: Vec<f64> = match p.kind {
        ModelKind::Anomaly => vec![0.0; d.train.len()],
        _ => d.train.y.clone(),
    };
    let artifact = Fitted::encode(&header, x.view(), &stored_y)?;
    let machines: BTreeSet<i64> = d
        .train
        .machines
        .iter()
        .chain(&d.test.machines)
        .copied()
        .collect();
    Ok(Trained {
        metrics,
        artifact,
        machines: machines.into_iter().collect(),
    })
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}
