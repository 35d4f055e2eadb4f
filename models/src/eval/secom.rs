//! SECOM yield evaluation: pass/fail of 1,567 semiconductor units from 590 process signals.
//!
//! Protocol (see `shared/data/RESULTS.md`): 10-fold stratified cross-validation in which
//! column dropping (more than 50 % missing, constant), median imputation, scaling and feature
//! selection are fitted inside each training fold, as are the model and its alarm threshold;
//! figures come from the pooled out-of-fold predictions. Then the same pipeline on a
//! time-ordered split: the earliest 70 % of units by time stamp train, the rest test. That
//! second figure is what a line would see in production, and published models fall to about
//! chance there.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array1, ArrayView2, Axis};
use tracing::info;

use super::metrics::{average_precision, roc_auc, BinaryMetrics};
use super::resources::{peak_memory_bytes, Resources};
use crate::data::secom::SecomData;
use crate::error::{Error, Result};
use crate::model::{DefectAlgorithm, DefectModel, DefectParams, Model};
use crate::split::stratified_folds;
use crate::tabular::Selection;

/// Settings of a SECOM evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SecomOptions {
    /// Outer cross-validation folds.
    pub folds: usize,
    /// Seed of the outer folds.
    pub seed: u64,
    /// Share of the units, earliest first, that train in the time-ordered split.
    pub time_train_fraction: f64,
    /// The defect model (with its preprocessing and inner threshold choice).
    pub model: DefectParams,
}

impl Default for SecomOptions {
    fn default() -> Self {
        let mut model = DefectParams {
            algorithm: DefectAlgorithm::Blend,
            ..DefectParams::default()
        };
        model.preprocess.selection = Selection::TopAuc(40);
        model.preprocess.clip = Some(4.0);
        model.logistic.alpha = 100.0;
        model.forest.min_leaf = 1;
        SecomOptions {
            folds: 10,
            seed: 42,
            time_train_fraction: 0.7,
            model,
        }
    }
}

/// Figures of one binary evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryFigures {
    /// Confusion counts, precision, recall and F1 of the fail class.
    pub metrics: BinaryMetrics,
    /// Mean of the recall of fails (TPR) and of passes (TNR): 1 − BER.
    pub balanced_accuracy: f64,
    /// sqrt(TPR × TNR).
    pub gmean: f64,
    /// ROC AUC of the defect probability.
    pub auc: f64,
    /// Average precision (area under the precision-recall curve); chance is the fail rate.
    pub pr_auc: f64,
}

impl BinaryFigures {
    /// Figures of `probabilities` thresholded into `flagged`, against `truth`.
    pub fn new(probabilities: &[f64], flagged: &[bool], truth: &[bool]) -> Self {
        let metrics = BinaryMetrics::from_predictions(flagged, truth);
        let tnr = if metrics.tn + metrics.fp == 0 {
            0.0
        } else {
            metrics.tn as f64 / (metrics.tn + metrics.fp) as f64
        };
        BinaryFigures {
            metrics,
            balanced_accuracy: (metrics.recall + tnr) / 2.0,
            gmean: (metrics.recall * tnr).sqrt(),
            auc: roc_auc(probabilities, truth),
            pr_auc: average_precision(probabilities, truth),
        }
    }

    /// `balanced_accuracy=… gmean=… auc=…`.
    pub fn summary(&self) -> String {
        format!(
            "balanced_accuracy={:.4} gmean={:.4} auc={:.4}",
            self.balanced_accuracy, self.gmean, self.auc
        )
    }

    fn counts(&self) -> String {
        let m = &self.metrics;
        format!(
            "tp={} fp={} fn={} tn={} tpr={:.3} tnr={:.3} ber={:.3} pr_auc={:.3}",
            m.tp,
            m.fp,
            m.fn_,
            m.tn,
            m.recall,
            m.tn as f64 / (m.tn + m.fp).max(1) as f64,
            1.0 - self.balanced_accuracy,
            self.pr_auc
        )
    }
}

/// Result of a SECOM evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SecomReport {
    /// Units and fails.
    pub units: usize,
    /// Fails among them.
    pub fails: usize,
    /// Outer folds.
    pub folds: usize,
    /// Description of the pipeline.
    pub model: String,
    /// Pooled out-of-fold figures of the cross-validation.
    pub cv: BinaryFigures,
    /// Balanced accuracy of each outer fold.
    pub fold_balanced_accuracy: Vec<f64>,
    /// Training and test units of the time-ordered split, and fails in the test units.
    pub time_split: (usize, usize, usize),
    /// Figures of the time-ordered split.
    pub time_ordered: BinaryFigures,
    /// Time of the whole evaluation and peak memory.
    pub resources: Resources,
}

impl fmt::Display for SecomReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.fold_balanced_accuracy.len().max(1) as f64;
        let mean = self.fold_balanced_accuracy.iter().sum::<f64>() / n;
        let sd = (self
            .fold_balanced_accuracy
            .iter()
            .map(|b| (b - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0))
        .sqrt();
        writeln!(
            f,
            "SECOM: {} units ({} fails), 590 signals; {}-fold stratified CV, every step fitted inside the training folds",
            self.units, self.fails, self.folds
        )?;
        writeln!(f, "model: {}", self.model)?;
        writeln!(
            f,
            "cv: {} (balanced accuracy per fold {mean:.3} ± {sd:.3})",
            self.cv.counts()
        )?;
        let (train, test, test_fails) = self.time_split;
        writeln!(
            f,
            "time-ordered: trained on the earliest {train} units, tested on the next {test} ({test_fails} fails): {}",
            self.time_ordered.counts()
        )?;
        writeln!(f, "{}", self.resources)?;
        writeln!(f, "time_ordered {}", self.time_ordered.summary())?;
        write!(f, "{}", self.cv.summary())
    }
}

/// Loads SECOM from `dir` and evaluates it.
pub fn eval_secom(dir: &Path, options: &SecomOptions) -> Result<SecomReport> {
    info!(dir = %dir.display(), "Loading SECOM.");
    let data = SecomData::load(dir)?;
    eval_secom_data(&data, options)
}

/// Evaluates already loaded (possibly reduced) SECOM data.
pub fn eval_secom_data(data: &SecomData, options: &SecomOptions) -> Result<SecomReport> {
    if options.folds < 2 {
        return Err(Error::InvalidInput("at least 2 folds".into()));
    }
    if !(0.0..1.0).contains(&options.time_train_fraction) || options.time_train_fraction == 0.0 {
        return Err(Error::InvalidInput(
            "time_train_fraction must be within (0, 1)".into(),
        ));
    }
    let started = Instant::now();
    let n = data.len();
    let folds = stratified_folds(&data.fail, options.folds, options.seed);
    let mut probability = vec![0.0; n];
    let mut flagged = vec![false; n];
    let mut fold_ba = Vec::with_capacity(options.folds);
    for f in 0..options.folds {
        let train: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        info!(fold = f + 1, of = options.folds, "Cross-validation fold.");
        let (p, flags) = fit_and_score(data, &train, &test, &options.model)?;
        let truth: Vec<bool> = test.iter().map(|&i| data.fail[i]).collect();
        fold_ba.push(BinaryFigures::new(&p, &flags, &truth).balanced_accuracy);
        for (k, &i) in test.iter().enumerate() {
            probability[i] = p[k];
            flagged[i] = flags[k];
        }
    }
    let cv = BinaryFigures::new(&probability, &flagged, &data.fail);

    // Time-ordered: the earliest units train, the later ones test.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (data.time[i], i));
    let cut = (n as f64 * options.time_train_fraction).round() as usize;
    let (train, test) = order.split_at(cut);
    info!(
        train = train.len(),
        test = test.len(),
        "Time-ordered split."
    );
    let (p, flags) = fit_and_score(data, train, test, &options.model)?;
    let truth: Vec<bool> = test.iter().map(|&i| data.fail[i]).collect();
    let time_ordered = BinaryFigures::new(&p, &flags, &truth);

    let m = &options.model;
    let selection = match m.preprocess.selection {
        Selection::All => "all columns".to_string(),
        Selection::TopAuc(k) => format!("the {k} columns of largest |AUC - 0.5|"),
        Selection::TopT(k) => format!("the {k} columns of largest |Welch t|"),
    };
    Ok(SecomReport {
        units: n,
        fails: data.fail.iter().filter(|&&b| b).count(),
        folds: options.folds,
        model: format!(
            "drop columns >{:.0} % missing or constant, median imputation, z-score{}, {selection}; {} (linfa logistic alpha {}, {} bagged smartcore trees min leaf {} feature share {}); threshold maximising balanced accuracy in {}-fold inner CV; seeds {} / {}",
            m.preprocess.max_missing * 100.0,
            m.preprocess
                .clip
                .map_or(String::new(), |c| format!(" clipped at ±{c}")),
            m.algorithm.as_str(),
            m.logistic.alpha,
            m.forest.trees,
            m.forest.min_leaf,
            m.forest.feature_proportion,
            m.folds,
            options.seed,
            m.seed
        ),
        cv,
        fold_balanced_accuracy: fold_ba,
        time_split: (train.len(), test.len(), truth.iter().filter(|&&b| b).count()),
        time_ordered,
        resources: Resources {
            training_time: started.elapsed(),
            peak_memory_bytes: peak_memory_bytes(),
        },
    })
}

/// Fits the defect model on `train` rows and returns probabilities and alarms for `test` rows.
fn fit_and_score(
    data: &SecomData,
    train: &[usize],
    test: &[usize],
    params: &DefectParams,
) -> Result<(Vec<f64>, Vec<bool>)> {
    let rows = |idx: &[usize]| data.x.select(Axis(0), idx);
    let y: Array1<f64> = train
        .iter()
        .map(|&i| f64::from(u8::from(data.fail[i])))
        .collect();
    let mut model = DefectModel::new(params.clone());
    model.fit(rows(train).view(), y.view())?;
    let x_test = rows(test);
    let p = model.predict(ArrayView2::from(&x_test))?.to_vec();
    let threshold = model.threshold().ok_or(Error::NotFitted)?;
    let flags = p.iter().map(|&v| v >= threshold).collect();
    Ok((p, flags))
}
