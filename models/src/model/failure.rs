//! Failure-within-horizon classifier: bagged decision trees.
//!
//! The trees are smartcore's `DecisionTreeClassifier`, bagged here on seeded, stratified
//! bootstrap samples. linfa-ensemble's random forest was tried first but is not reproducible:
//! linfa-trees sums class frequencies in `f32` while iterating a randomly seeded `HashMap`, so
//! near-tied splits flip between runs (ROC AUC varied in the fourth decimal). Its trees also
//! predict labels only, and fitting cost grows with the whole data set at every node.

use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

use super::{check_xy, to_matrix, Model, ModelKind};
use crate::error::{Error, Result};
use crate::eval::metrics::BinaryMetrics;
use crate::split::stratified_folds;

/// Settings of [`FailureClassifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct FailureParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of each tree (`None`: grow until leaves are pure).
    pub max_depth: Option<u16>,
    /// Minimum number of samples in a leaf.
    pub min_leaf: usize,
    /// Share of the features each tree sees (drawn once per tree).
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
            min_leaf: 1,
            feature_proportion: 1.0,
            calibration_folds: 5,
            threshold: 0.5,
            seed: 42,
        }
    }
}

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Fitted trees, each with the feature columns it was trained on.
struct Forest {
    trees: Vec<(Tree, Vec<usize>)>,
}

/// Binary classifier: an ensemble of decision trees on stratified bootstrap samples. The failure
/// probability is the mean of the trees' leaf probabilities; the alarm threshold on it is
/// calibrated by inner stratified cross-validation on the training data only.
pub struct FailureClassifier {
    params: FailureParams,
    fitted: Option<(Forest, f64)>,
}

impl std::fmt::Debug for FailureClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureClassifier")
            .field("params", &self.params)
            .field(
                "trees",
                &self.fitted.as_ref().map_or(0, |(f, _)| f.trees.len()),
            )
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
        let p = &self.params;
        let mut rng = StdRng::seed_from_u64(seed);
        let classes: [Vec<usize>; 2] =
            [false, true].map(|c| (0..y.len()).filter(|&i| y[i] == c).collect());
        let n_features =
            ((x.ncols() as f64 * p.feature_proportion).ceil() as usize).clamp(1, x.ncols());
        let mut params = DecisionTreeClassifierParameters::default()
            .with_min_samples_leaf(p.min_leaf)
            .with_min_samples_split(2 * p.min_leaf);
        params.max_depth = p.max_depth;
        let mut trees = Vec::with_capacity(p.trees);
        for _ in 0..p.trees {
            // Bootstrap within each class, so every tree sees both.
            let rows: Vec<usize> = classes
                .iter()
                .flat_map(|c| {
                    (0..c.len())
                        .map(|_| c[rng.gen_range(0..c.len())])
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut features = sample(&mut rng, x.ncols(), n_features).into_vec();
            features.sort_unstable();
            let sub = x.select(Axis(0), &rows).select(Axis(1), &features);
            let labels: Vec<u32> = rows.iter().map(|&i| u32::from(y[i])).collect();
            let tree = Tree::fit(&to_matrix(sub.view())?, &labels, params.clone())?;
            trees.push((tree, features));
        }
        Ok(Forest { trees })
    }

    fn probabilities(forest: &Forest, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let mut total = Array1::<f64>::zeros(x.nrows());
        for (tree, features) in &forest.trees {
            let proba = tree.predict_proba(&to_matrix(x.select(Axis(1), features).view())?)?;
            for (i, t) in total.iter_mut().enumerate() {
                *t += *proba.get((i, 1));
            }
        }
        Ok(total / forest.trees.len().max(1) as f64)
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
            let p = Self::probabilities(&forest, x.select(Axis(0), &held).view())?;
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
        Self::probabilities(forest, x)
    }

    fn alarm(&self, output: f64) -> Option<bool> {
        self.threshold().map(|t| output >= t)
    }
}
