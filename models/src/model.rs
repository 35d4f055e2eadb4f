//! The three model kinds behind one trait.
//!
//! Every model maps a feature matrix (one row per sample, columns from
//! [`crate::features::WindowFeatures`] or a data set's own features) to one number per row:
//! an anomaly score, a failure probability, or a remaining useful life.

pub mod anomaly;
pub mod boosting;
pub mod defect;
pub mod failure;
pub mod logistic;
pub mod rul;

use std::fmt;

use ndarray::{Array1, ArrayView1, ArrayView2};

use crate::error::Result;

pub use anomaly::{AnomalyParams, KMeansAnomaly};
pub use boosting::{BoostingParams, GradientBoosting};
pub use defect::{DefectAlgorithm, DefectModel, DefectParams, ThresholdRule};
pub use failure::{FailureClassifier, FailureParams};
pub use logistic::{Logistic, LogisticParams};
pub use rul::{RulAlgorithm, RulForest, RulParams};

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Unsupervised anomaly score; larger is more unusual, with a threshold calibrated on
    /// training data.
    Anomaly,
    /// Probability that the machine fails within a horizon (binary classifier).
    FailureWithinHorizon,
    /// Remaining useful life, in the time unit of the training targets (regression).
    RemainingUsefulLife,
    /// Probability that a produced unit is defective, from its process parameters (binary
    /// classifier with a threshold chosen on training data).
    DefectProbability,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Anomaly => "anomaly",
            ModelKind::FailureWithinHorizon => "failure_within_horizon",
            ModelKind::RemainingUsefulLife => "remaining_useful_life",
            ModelKind::DefectProbability => "defect_probability",
        })
    }
}

/// A trainable model.
///
/// `fit` takes the feature matrix and one target per row: 0 or 1 for
/// [`ModelKind::FailureWithinHorizon`], the remaining life for
/// [`ModelKind::RemainingUsefulLife`]; anomaly models are unsupervised and require `y` to be
/// empty. All randomness is seeded by the model's parameters, so fitting twice on the same data
/// gives the same model.
pub trait Model {
    /// What the model predicts.
    fn kind(&self) -> ModelKind;

    /// Trains on `x` (rows are samples) and targets `y`, replacing any previous fit.
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()>;

    /// One output per row of `x`: anomaly score, failure probability or remaining life.
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>>;

    /// Whether an output of [`Model::predict`] should raise an alarm, for models that carry a
    /// calibrated threshold (anomaly, failure); `None` for models whose alarm level is chosen by
    /// the user (remaining useful life).
    fn alarm(&self, output: f64) -> Option<bool>;
}

/// Checks that `x` and `y` agree and are not empty.
fn check_xy(x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
    if x.nrows() == 0 {
        return Err(crate::Error::InvalidInput("no training rows".into()));
    }
    if x.nrows() != y.len() {
        return Err(crate::Error::InvalidInput(format!(
            "{} rows but {} targets",
            x.nrows(),
            y.len()
        )));
    }
    Ok(())
}

/// Copies `x` into smartcore's row-major matrix type.
fn to_matrix(x: ArrayView2<'_, f64>) -> Result<smartcore::linalg::basic::matrix::DenseMatrix<f64>> {
    let values: Vec<f64> = x.iter().copied().collect();
    Ok(smartcore::linalg::basic::matrix::DenseMatrix::new(
        x.nrows(),
        x.ncols(),
        values,
        false,
    )?)
}
