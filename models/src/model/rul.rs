//! Remaining-useful-life regression: a random forest or extra-trees regressor from smartcore.
//!
//! linfa's trees and ensembles are classifiers only and its regressors are linear, which cannot
//! follow the knee of a capped RUL curve (RMSE about 19.5 on C-MAPSS FD001 against 13 to 14 for
//! tree ensembles, see `shared/data/RESULTS.md`). smartcore is pure Rust, builds beside linfa and
//! has regression forests; its `ndarray-bindings` feature is off because it wants ndarray 0.17,
//! so data is copied into smartcore's own `DenseMatrix`.

use ndarray::{Array1, ArrayView1, ArrayView2};
use smartcore::ensemble::extra_trees_regressor::{
    ExtraTreesRegressor, ExtraTreesRegressorParameters,
};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::{check_xy, to_matrix, Model, ModelKind};
use crate::error::{Error, Result};

/// Which tree ensemble [`RulForest`] grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulAlgorithm {
    /// Breiman's random forest: bootstrap samples, best split among `m` random features.
    RandomForest,
    /// Extremely randomised trees: random split points among `m` random features.
    ExtraTrees,
}

/// Settings of [`RulForest`].
#[derive(Debug, Clone, PartialEq)]
pub struct RulParams {
    /// The ensemble to grow.
    pub algorithm: RulAlgorithm,
    /// Number of trees.
    pub trees: usize,
    /// Share of the features considered at each split.
    pub feature_fraction: f64,
    /// Minimum number of samples in a leaf.
    pub min_leaf: usize,
    /// Maximum tree depth (`None`: unlimited).
    pub max_depth: Option<u16>,
    /// Predictions are clipped to `[0, cap]`; use the same cap as the training targets.
    pub cap: f64,
    /// Seed of bootstrap sampling and feature draws.
    pub seed: u64,
}

impl Default for RulParams {
    fn default() -> Self {
        RulParams {
            algorithm: RulAlgorithm::RandomForest,
            trees: 200,
            feature_fraction: 0.33,
            min_leaf: 5,
            max_depth: None,
            cap: 125.0,
            seed: 0,
        }
    }
}

type Matrix = DenseMatrix<f64>;

#[derive(Debug)]
enum Fitted {
    Forest(RandomForestRegressor<f64, f64, Matrix, Vec<f64>>),
    Extra(ExtraTreesRegressor<f64, f64, Matrix, Vec<f64>>),
}

/// Remaining-useful-life regressor (a tree ensemble from smartcore), with predictions clipped to
/// `[0, cap]`.
#[derive(Debug)]
pub struct RulForest {
    params: RulParams,
    fitted: Option<Fitted>,
}

impl RulForest {
    /// An unfitted regressor.
    pub fn new(params: RulParams) -> Self {
        RulForest {
            params,
            fitted: None,
        }
    }
}

impl Model for RulForest {
    fn kind(&self) -> ModelKind {
        ModelKind::RemainingUsefulLife
    }

    fn fit(&mut self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
        check_xy(x, y)?;
        let p = &self.params;
        let m = ((x.ncols() as f64 * p.feature_fraction).round() as usize).clamp(1, x.ncols());
        let matrix = to_matrix(x)?;
        let targets = y.to_vec();
        let fitted = match p.algorithm {
            RulAlgorithm::RandomForest => {
                let mut params = RandomForestRegressorParameters::default()
                    .with_n_trees(p.trees)
                    .with_m(m)
                    .with_min_samples_leaf(p.min_leaf)
                    .with_min_samples_split(2 * p.min_leaf)
                    .with_seed(p.seed);
                params.max_depth = p.max_depth;
                Fitted::Forest(RandomForestRegressor::fit(&matrix, &targets, params)?)
            }
            RulAlgorithm::ExtraTrees => {
                let mut params = ExtraTreesRegressorParameters::default()
                    .with_n_trees(p.trees)
                    .with_m(m)
                    .with_min_samples_leaf(p.min_leaf)
                    .with_min_samples_split(2 * p.min_leaf)
                    .with_seed(p.seed);
                params.max_depth = p.max_depth;
                Fitted::Extra(ExtraTreesRegressor::fit(&matrix, &targets, params)?)
            }
        };
        self.fitted = Some(fitted);
        Ok(())
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let matrix = to_matrix(x)?;
        let raw = match self.fitted.as_ref().ok_or(Error::NotFitted)? {
            Fitted::Forest(m) => m.predict(&matrix)?,
            Fitted::Extra(m) => m.predict(&matrix)?,
        };
        Ok(raw
            .into_iter()
            .map(|v| v.clamp(0.0, self.params.cap))
            .collect())
    }

    fn alarm(&self, _output: f64) -> Option<bool> {
        None
    }
}
