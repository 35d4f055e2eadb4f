//! Failure-within-horizon classifier: bagged decision trees from linfa-ensemble.

use linfa::prelude::*;
use linfa_ensemble::{EnsembleLearner, EnsembleLearnerParams};
use linfa_trees::DecisionTree;
use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{check_xy, Model, ModelKind};
use crate::error::{Error, Result};
use crate::eval::metrics::BinaryMetrics;
use crate::split::stratified_folds;

/// Settings of [`FailureClassifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct FailureParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of each tree (`None`: grow until leaves are pure).
    pub max_depth: Option<usize>,
    /// Minimum number of samples in a leaf.
    pub min_leaf: f32,
    /// Share of the features each tree sees (linfa-ensemble draws them once per tree).
    pub feature_proportion: f64,
    /// Folds of the inner cross-validation that picks the alarm threshold maximising the
    /// failure-class F1 on the training data; 0 or 1 keeps `threshold`.
    pub calibration_folds: usize,
    /// Alarm threshold on the failure probability when not calibrated.
    pub threshold: f64,
    /// Seed of bootstrap sampling, feature draws and calibration folds.
    pub seed: u64,
}

impl Default for FailureParams {
    fn default() -> Self {
        FailureParams {
            trees: 200,
            max_depth: None,
            min_leaf: 1.0,
            feature_proportion: 1.0,
            calibration_folds: 5,
            threshold: 0.5,
            seed: 42,
        }
    }
}

type Forest = EnsembleLearner<DecisionTree<f64, usize>>;

/// Binary classifier: an ensemble of linfa decision trees on bootstrap samples. The failure
/// probability is the share of trees that vote "failure"; the alarm threshold on it is
/// calibrated by inner stratified cross-validation on the training data only.
pub struct FailureClassifier {
    params: FailureParams,
    fitted: Option<(Forest, f64)>,
}

impl std::fmt::Debug for FailureClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureClassifier")
            .field("params", &self.params)
            .field("fitted", &self.fitted.is_some())
            .field("threshold", &self.threshold())
            .finish()
    }
}

impl FailureClassifier {
    /// An unfitted classifier.
    pub fn new(params: FailureParams) -> Self {
        FailureClassifier {
            params,
            fitted: None,
        }
    }

    /// The alarm threshold on the failure probability, once fitted.
    pub fn threshold(&self) -> Option<f64> {
        self.fitted.as_ref().map(|(_, t)| *t)
    }

    fn train(&self, x: ArrayView2<'_, f64>, y: &[bool], seed: u64) -> Result<Forest> {
        let targets: Array1<usize> = y.iter().map(|&b| usize::from(b)).collect();
        let dataset = Dataset::new(x.to_owned(), targets);
        let tree = DecisionTree::params()
            .max_depth(self.params.max_depth)
            .min_weight_leaf(self.params.min_leaf)
            .min_weight_split(2.0 * self.params.min_leaf);
        let forest = EnsembleLearnerParams::new_fixed_rng(tree, StdRng::seed_from_u64(seed))
            .ensemble_size(self.params.trees)
            .bootstrap_proportion(1.0)
            .feature_proportion(self.params.feature_proportion)
            .fit(&dataset)?;
        Ok(forest)
    }

    fn probabilities(forest: &Forest, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let mut votes = Array1::<f64>::zeros(x.nrows());
        for (tree, features) in forest.models.iter().zip(&forest.model_features) {
            let sub = x.select(Axis(1), features);
            let predicted: Array1<usize> = tree.predict(&sub);
            votes.zip_mut_with(&predicted, |v, &p| *v += p as f64);
        }
        votes / forest.models.len().max(1) as f64
    }

    fn calibrate(&self, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<f64> {
        let k = self.params.calibration_folds;
        if k < 2 {
            return Ok(self.params.threshold);
        }
        let folds = stratified_folds(y, k, self.params.seed ^ 0x5eed);
        let mut oof = vec![0.0; y.len()];
        for f in 0..k {
            let train: Vec<usize> = (0..y.len()).filter(|&i| folds[i] != f).collect();
            let held: Vec<usize> = (0..y.len()).filter(|&i| folds[i] == f).collect();
            let y_train: Vec<bool> = train.iter().map(|&i| y[i]).collect();
            let forest = self.train(
                x.select(Axis(0), &train).view(),
                &y_train,
                self.params.seed + f as u64 + 1,
            )?;
            let p = Self::probabilities(&forest, x.select(Axis(0), &held).view());
            for (&i, &pi) in held.iter().zip(p.iter()) {
                oof[i] = pi;
            }
        }
        // Candidate thresholds on a grid of vote shares; keep the best F1 (ties: the lowest).
        let mut best = (f64::NEG_INFINITY, self.params.threshold);
        for step in 1..20 {
            let t = step as f64 * 0.05;
            let predicted: Vec<bool> = oof.iter().map(|&p| p >= t).collect();
            let f1 = BinaryMetrics::from_predictions(&predicted, y).f1;
            if f1 > best.0 {
                best = (f1, t);
            }
        }
        Ok(best.1)
    }
}

impl Model for FailureClassifier {
    fn kind(&self) -> ModelKind {
        ModelKind::FailureWithinHorizon
    }

    fn fit(&mut self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
        check_xy(x, y)?;
        let labels: Vec<bool> = y.iter().map(|&v| v >= 0.5).collect();
        if !labels.iter().any(|&b| b) || labels.iter().all(|&b| b) {
            return Err(Error::InvalidInput(
                "the training labels need both failures and non-failures".into(),
            ));
        }
        let threshold = self.calibrate(x, &labels)?;
        let forest = self.train(x, &labels, self.params.seed)?;
        self.fitted = Some((forest, threshold));
        Ok(())
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let (forest, _) = self.fitted.as_ref().ok_or(Error::NotFitted)?;
        Ok(Self::probabilities(forest, x))
    }

    fn alarm(&self, output: f64) -> Option<bool> {
        self.threshold().map(|t| output >= t)
    }
}
