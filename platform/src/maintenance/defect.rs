//! Defect models in the model lifecycle (issue #15): a training job of kind `defect` learns,
//! for one machine class, the probability that a unit is defective (finally failed, or
//! reworked) from the process parameters of its quality records; the version is stored and
//! promoted like any other; the promoted version scores records as they arrive
//! ([`score_records`]), and each record keeps its probability, whether it crossed the
//! threshold, and the version. A unit over the threshold raises its machine's `defect`
//! alarm; [`CLEAR_AFTER_UNITS`] normal units in a row clear it.
//!
//! The hold-out is the latest `holdout_fraction` of the records by time; the model (and its
//! alarm threshold, chosen by inner cross-validation) sees only the earlier ones, which are
//! also all the stored recipe holds ([`crate::quality::defect_artifact`]).
//!
//! [`root_causes`] ranks the parameters of a class's records (permutation importance on a
//! hold-out, `millwright_models::rootcause`) with the operating window the data recommends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use millwright_models::eval::metrics::{roc_auc, BinaryMetrics};
use millwright_models::{rank_parameters, RankingOptions, RootCauses};
use ndarray::Array2;
use serde_json::json;

use super::training::{progress, TrainingParams};
use crate::error::{Error, Result};
use crate::quality::defect_artifact::{default_header, FittedDefect};
use crate::store::alarms::{AlarmChange, AlarmReading};
use crate::store::models::{JobStatus, ModelKind, NewModelVersion};
use crate::store::quality::TrainingUnit;
use crate::store::{Store, TenantId, TenantSession};

/// Most records a job or a ranking reads.
pub const MAX_UNITS: i64 = 200_000;
/// Fewest records, and fewest of each outcome, a model needs.
pub const MIN_UNITS: usize = 30;
/// Fewest defective (and good) training records.
pub const MIN_EACH: usize = 5;

/// The parameters to learn from: the ones asked for, else every parameter at least half
/// the records carry, by name.
pub fn parameters_of(units: &[TrainingUnit], asked: Option<&[String]>) -> Vec<String> {
    if let Some(a) = asked {
        return a.to_vec();
    }
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for u in units {
        for k in u.parameters.keys() {
            *count.entry(k.as_str()).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|(_, n)| 2 * n >= units.len())
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Rows of parameter values (`NaN` where a record lacks one).
pub fn matrix(units: &[&BTreeMap<String, f64>], parameters: &[String]) -> Array2<f64> {
    Array2::from_shape_fn((units.len(), parameters.len()), |(i, j)| {
        units[i].get(&parameters[j]).copied().unwrap_or(f64::NAN)
    })
}

/// Runs a `defect` training job; returns the stored version's id.
pub async fn run(store: &Store, tenant: TenantId, job: i64, p: &TrainingParams) -> Result<i64> {
    use JobStatus::Running;
    progress(
        store,
        tenant,
        job,
        Running,
        0.05,
        "Reading quality records.",
        None,
    )
    .await?;
    let mut session = store.tenant(tenant).await?;
    let units = session
        .defect_training_units(&p.machine_class, p.from, p.to, MAX_UNITS)
        .await?;
    drop(session);
    let parameters = parameters_of(&units, p.channels.as_deref());
    if parameters.is_empty() {
        return Err(Error::Training(format!(
            "no process parameters on the quality records of class `{}` in the range",
            p.machine_class
        )));
    }
    let split = ((units.len() as f64) * (1.0 - p.holdout_fraction)).round() as usize;
    let (train, test) = units.split_at(split.min(units.len()));
    let defects = train.iter().filter(|u| u.defective).count();
    if units.len() < MIN_UNITS || defects < MIN_EACH || train.len() - defects < MIN_EACH {
        return Err(Error::Training(format!(
            "{} quality records of class `{}` in the range, {defects} defective among the {} \
             used for training; at least {MIN_UNITS} records and {MIN_EACH} of each outcome \
             are needed",
            units.len(),
            p.machine_class,
            train.len()
        )));
    }
    progress(
        store,
        tenant,
        job,
        Running,
        0.2,
        &format!(
            "Fitting on {} records ({defects} defective), {} parameters.",
            train.len(),
            parameters.len()
        ),
        None,
    )
    .await?;
    let mut header = default_header(parameters.clone(), train.len());
    header.trees = p.trees;
    header.seed = p.seed;
    header.alarm_threshold = p.alarm_threshold;
    let x_train = matrix(
        &train.iter().map(|u| &u.parameters).collect::<Vec<_>>(),
        &parameters,
    );
    let y_train: Vec<bool> = train.iter().map(|u| u.defective).collect();
    let x_test = matrix(
        &test.iter().map(|u| &u.parameters).collect::<Vec<_>>(),
        &parameters,
    );
    let y_test: Vec<bool> = test.iter().map(|u| u.defective).collect();
    let started = std::time::Instant::now();
    let (artifact, metrics) = tokio::task::spawn_blocking(move || -> Result<_> {
        let fitted = FittedDefect::fit(header.clone(), x_train.view(), &y_train)?;
        let artifact = FittedDefect::encode(&header, x_train.view(), &y_train)?;
        let mut metrics = json!({
            "rows_train": y_train.len(),
            "rows_test": y_test.len(),
            "defects_train": y_train.iter().filter(|d| **d).count(),
            "threshold": fitted.threshold,
            "algorithm": fitted.model.algorithm().map(|a| a.as_str()),
            "parameters": header.parameters,
            "fit_seconds": started.elapsed().as_secs_f64(),
        });
        if !y_test.is_empty() {
            let out = fitted.predict(x_test.view())?.to_vec();
            let predicted: Vec<bool> = out.iter().map(|v| fitted.alarming(*v)).collect();
            let b = BinaryMetrics::from_predictions(&predicted, &y_test);
            let m = metrics.as_object_mut().expect("object");
            m.insert("precision".into(), json!(b.precision));
            m.insert("recall".into(), json!(b.recall));
            m.insert("f1".into(), json!(b.f1));
            let auc = roc_auc(&out, &y_test);
            m.insert("auc".into(), json!(auc.is_finite().then_some(auc)));
            m.insert(
                "positives_test".into(),
                json!(y_test.iter().filter(|t| **t).count()),
            );
        }
        Ok((artifact, metrics))
    })
    .await
    .map_err(|e| Error::Training(format!("the fitting task failed: {e}")))??;
    let machines: Vec<i64> = {
        let mut m: Vec<i64> = units.iter().map(|u| u.machine_id).collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    let params = serde_json::to_value(p).map_err(|e| Error::Training(e.to_string()))?;
    let mut session = store.tenant(tenant).await?;
    let version = session
        .store_model_version(&NewModelVersion {
            machine_class: p.machine_class.clone(),
            kind: ModelKind::Defect,
            params,
            metrics,
            trained_from: p.from,
            trained_to: p.to,
            machines,
            artifact,
        })
        .await?;
    drop(session);
    progress(
        store,
        tenant,
        job,
        JobStatus::Succeeded,
        1.0,
        &format!("Stored defect model version {}.", version.id),
        Some(version.id),
    )
    .await?;
    Ok(version.id)
}

/// Fitted promoted defect models by (tenant, version).
type Loaded = HashMap<(TenantId, i64), Arc<FittedDefect>>;

/// Fitted promoted defect models, by (tenant, version): refitting from the recipe is costly,
/// so each version is loaded once per process.
fn loaded() -> &'static Mutex<Loaded> {
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Scores the records `ids` with the promoted defect model of their machine's class, if it
/// has one, and stores each probability with the record; returns how many were scored.
pub async fn score_records(session: &mut TenantSession, ids: &[i64]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let tenant = session.tenant();
    let promoted: Vec<_> = session
        .promoted_models()
        .await?
        .into_iter()
        .filter(|(v, _)| v.kind == ModelKind::Defect)
        .collect();
    {
        let mut cache = loaded().lock().expect("defect model cache");
        cache.retain(|(t, id), _| *t != tenant || promoted.iter().any(|(v, _)| v.id == *id));
    }
    if promoted.is_empty() {
        return Ok(0);
    }
    let records = session.quality_records_by_id(ids).await?;
    let machine_ids: Vec<i64> = records.iter().map(|r| r.machine_id).collect();
    let classes = session.machine_classes(&machine_ids).await?;
    let mut scored = 0;
    for (version, artifact) in promoted {
        let of_class: Vec<_> = records
            .iter()
            .filter(|r| classes.get(&r.machine_id) == Some(&version.machine_class))
            .collect();
        if of_class.is_empty() {
            continue;
        }
        let cached = loaded()
            .lock()
            .expect("defect model cache")
            .get(&(tenant, version.id))
            .cloned();
        let fitted = match cached {
            Some(f) => f,
            None => {
                let f = tokio::task::spawn_blocking(move || FittedDefect::decode(&artifact))
                    .await
                    .map_err(|e| Error::Artifact(format!("loading task failed: {e}")))??;
                let f = Arc::new(f);
                tracing::info!(tenant = %tenant, version = version.id, "Loaded a promoted defect model.");
                loaded()
                    .lock()
                    .expect("defect model cache")
                    .insert((tenant, version.id), f.clone());
                f
            }
        };
        let x = matrix(
            &of_class.iter().map(|r| &r.parameters).collect::<Vec<_>>(),
            &fitted.header.parameters,
        );
        let model = fitted.clone();
        let p = tokio::task::spawn_blocking(move || model.predict(x.view()))
            .await
            .map_err(|e| Error::Artifact(format!("scoring task failed: {e}")))??;
        let predictions: Vec<(i64, f64, bool)> = of_class
            .iter()
            .zip(p.iter())
            .map(|(r, &p)| (r.id, p, fitted.alarming(p)))
            .collect();
        let alarming = predictions.iter().filter(|p| p.2).count();
        session
            .store_defect_predictions(version.id, &predictions)
            .await?;
        let units: Vec<Unit> = of_class
            .iter()
            .zip(&predictions)
            .map(|(r, &(_, p, alarming))| (r.machine_id, r.produced_at, p, alarming))
            .collect();
        apply_defect_alarms(session, version.id, fitted.threshold, &units).await?;
        scored += predictions.len();
        tracing::debug!(tenant = %tenant, version = version.id, scored = predictions.len(), alarming, "Quality records scored.");
    }
    Ok(scored)
}

/// Consecutive scored units under the threshold that clear a machine's defect alarm: one
/// good unit amid a drifting process would otherwise make the alarm flap.
pub const CLEAR_AFTER_UNITS: i64 = 25;

/// A scored unit: machine, production time, probability, over the threshold.
type Unit = (i64, DateTime<Utc>, f64, bool);

/// Raises a machine's `defect` alarm (one open per machine) at its first unit over the
/// threshold, and clears it once its latest [`CLEAR_AFTER_UNITS`] units are all under it.
async fn apply_defect_alarms(
    session: &mut TenantSession,
    version: i64,
    threshold: f64,
    units: &[Unit],
) -> Result<()> {
    let mut by_machine: BTreeMap<i64, Vec<&Unit>> = BTreeMap::new();
    for u in units {
        by_machine.entry(u.0).or_default().push(u);
    }
    let tenant = session.tenant();
    for (machine_id, mut units) in by_machine {
        units.sort_by_key(|u| u.1);
        let reading = if let Some(&&(_, at, value, _)) = units.iter().find(|u| u.3) {
            Some((true, at, value))
        } else if session
            .latest_units_normal(machine_id, CLEAR_AFTER_UNITS)
            .await?
        {
            units.last().map(|&&(_, at, value, _)| (false, at, value))
        } else {
            None
        };
        let Some((alarming, at, value)) = reading else {
            continue;
        };
        let change = session
            .apply_alarm(&AlarmReading {
                machine_id,
                kind: ModelKind::Defect,
                alarming,
                at,
                value,
                threshold,
                model_version: version,
            })
            .await?;
        match change {
            AlarmChange::Raised(id) => {
                tracing::warn!(tenant = %tenant, machine = machine_id, alarm = id, probability = value, "Defect alarm raised: a unit is likely defective.")
            }
            AlarmChange::Cleared(id) => {
                tracing::info!(tenant = %tenant, machine = machine_id, alarm = id, "Defect alarm cleared: the latest units scored normal.")
            }
            AlarmChange::None => {}
        }
    }
    Ok(())
}

/// Root causes of defects among a class's records in `[from, to)`: parameters ranked by
/// permutation importance on a hold-out, each with its recommended operating window.
pub async fn root_causes(
    session: &mut TenantSession,
    class: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    parameters: Option<&[String]>,
    options: RankingOptions,
) -> Result<std::result::Result<(Vec<String>, usize, RootCauses), String>> {
    let units = session
        .defect_training_units(class, from, to, MAX_UNITS)
        .await?;
    let names = parameters_of(&units, parameters);
    if names.is_empty() {
        return Ok(Err(format!(
            "no process parameters on the quality records of class `{class}` in the range"
        )));
    }
    let x = matrix(
        &units.iter().map(|u| &u.parameters).collect::<Vec<_>>(),
        &names,
    );
    let y: Vec<bool> = units.iter().map(|u| u.defective).collect();
    let n = units.len();
    let ranked_names = names.clone();
    let out =
        tokio::task::spawn_blocking(move || rank_parameters(x.view(), &y, &ranked_names, &options))
            .await
            .map_err(|e| Error::Training(format!("the ranking task failed: {e}")))?;
    Ok(match out {
        Ok(r) => Ok((names, n, r)),
        Err(e) => Err(e.to_string()),
    })
}
