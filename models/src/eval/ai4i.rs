//! AI4I 2020 machine-failure evaluation: failure-class F1, recall, precision and ROC AUC on a
//! stratified, seeded 20 % hold-out.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, Axis};
use tracing::info;

use super::metrics::{roc_auc, BinaryMetrics};
use super::resources::{peak_memory_bytes, Resources};
use crate::data::ai4i::{self, Ai4iRow};
use crate::error::{Error, Result};
use crate::model::{FailureClassifier, FailureParams, Model};
use crate::split::stratified_split;

/// Settings of an AI4I evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Ai4iOptions {
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the hold-out split.
    pub split_seed: u64,
    /// The classifier.
    pub model: FailureParams,
}

impl Default for Ai4iOptions {
    fn default() -> Self {
        Ai4iOptions {
            test_fraction: 0.2,
            split_seed: 42,
            model: FailureParams::default(),
        }
    }
}

/// Result of an AI4I evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Ai4iReport {
    /// Training rows and failures among them.
    pub train_rows: usize,
    /// Failures in the training rows.
    pub train_failures: usize,
    /// Hold-out rows.
    pub test_rows: usize,
    /// Failures in the hold-out rows.
    pub test_failures: usize,
    /// Description of the model settings.
    pub model: String,
    /// Alarm threshold on the failure probability, calibrated on training data.
    pub threshold: f64,
    /// Hold-out confusion counts, precision, recall and F1 of the failure class.
    pub metrics: BinaryMetrics,
    /// Hold-out ROC AUC of the failure probability.
    pub auc: f64,
    /// Training time and peak memory.
    pub resources: Resources,
}

impl fmt::Display for Ai4iReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.metrics;
        writeln!(
            f,
            "AI4I 2020: trained on {} rows ({} failures), held out {} rows ({} failures)",
            self.train_rows, self.train_failures, self.test_rows, self.test_failures
        )?;
        writeln!(f, "model: {}", self.model)?;
        writeln!(
            f,
            "threshold={:.2} tp={} fp={} fn={} tn={}",
            self.threshold, m.tp, m.fp, m.fn_, m.tn
        )?;
        writeln!(f, "{}", self.resources)?;
        write!(
            f,
            "f1={:.4} recall={:.4} precision={:.4} auc={:.4}",
            m.f1, m.recall, m.precision, self.auc
        )
    }
}

/// Loads the AI4I CSV at `path` and evaluates it.
pub fn eval_ai4i(path: &Path, options: &Ai4iOptions) -> Result<Ai4iReport> {
    info!(path = %path.display(), "Loading AI4I 2020.");
    let rows = ai4i::load(path)?;
    eval_ai4i_rows(&rows, options)
}

/// Evaluates already loaded (possibly reduced) AI4I rows.
pub fn eval_ai4i_rows(rows: &[Ai4iRow], options: &Ai4iOptions) -> Result<Ai4iReport> {
    if !(0.0..1.0).contains(&options.test_fraction) || options.test_fraction == 0.0 {
        return Err(Error::InvalidInput(
            "test_fraction must be within (0, 1)".into(),
        ));
    }
    let labels = ai4i::labels(rows);
    let x = ai4i::features(rows);
    let (train, test) = stratified_split(&labels, options.test_fraction, options.split_seed);
    let pick = |idx: &[usize]| idx.iter().map(|&i| labels[i]).collect::<Vec<bool>>();
    let (y_train, y_test) = (pick(&train), pick(&test));

    let started = Instant::now();
    info!(
        rows = train.len(),
        trees = options.model.trees,
        "Fitting the failure classifier."
    );
    let mut model = FailureClassifier::new(options.model.clone());
    let targets: Array1<f64> = y_train.iter().map(|&b| f64::from(u8::from(b))).collect();
    model.fit(x.select(Axis(0), &train).view(), targets.view())?;
    let training_time = started.elapsed();
    info!(
        seconds = training_time.as_secs_f64(),
        "Training finished; scoring the hold-out."
    );

    let probabilities = model.predict(x.select(Axis(0), &test).view())?.to_vec();
    let threshold = model.threshold().ok_or(Error::NotFitted)?;
    let predicted: Vec<bool> = probabilities.iter().map(|&p| p >= threshold).collect();
    let p = &options.model;
    Ok(Ai4iReport {
        train_rows: train.len(),
        train_failures: y_train.iter().filter(|&&b| b).count(),
        test_rows: test.len(),
        test_failures: y_test.iter().filter(|&&b| b).count(),
        model: format!(
            "{} bagged smartcore decision trees (max depth {:?}, min leaf {}), features {:?}, threshold from {}-fold inner CV, seed {}",
            p.trees,
            p.max_depth,
            p.min_leaf,
            ai4i::FEATURE_NAMES,
            p.calibration_folds,
            p.seed
        ),
        threshold,
        metrics: BinaryMetrics::from_predictions(&predicted, &y_test),
        auc: roc_auc(&probabilities, &y_test),
        resources: Resources {
            training_time,
            peak_memory_bytes: peak_memory_bytes(),
        },
    })
}
