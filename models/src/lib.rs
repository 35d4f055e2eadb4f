//! Predictive-maintenance models for Millwright, built on linfa (with smartcore for regression
//! forests), and their evaluation on public reference data.
//!
//! The crate never depends on the platform or tenants crates: the platform feeds it arrays and
//! stores what it returns.
//!
//! # Layout
//! - [`error`]: the crate's `Error` enum and `Result` alias.
//! - [`data`]: loaders for the reference data sets (C-MAPSS, AI4I 2020) and where they live.
//! - [`features`]: window statistics per channel (mean, std, slope, min, max, last) and time
//!   since maintenance.
//! - [`normalise`]: operating-condition clustering (k-means) and a z-score normaliser fitted on
//!   training data only, per condition.
//! - [`model`]: the [`Model`] trait and its three kinds: [`KMeansAnomaly`] (anomaly score with a
//!   calibrated threshold), [`FailureClassifier`] (failure within a horizon, bagged linfa
//!   decision trees) and [`RulForest`] (remaining useful life, smartcore tree ensembles).
//! - [`split`]: seeded stratified hold-out and folds.
//! - [`eval`]: [`eval_cmapss`] and [`eval_ai4i`], returning reports whose last line is the
//!   machine-readable summary; metrics and resource figures.
//!
//! # Why smartcore
//! linfa's trees, forests and AdaBoost are classifiers only, and its regressors (linear, GLM,
//! elastic net, SVR, PLS) cannot follow the knee of a capped RUL curve: on C-MAPSS FD001 ridge
//! regression reaches RMSE 19.5 against 13 to 14 for tree ensembles. smartcore 0.7 is pure Rust,
//! builds beside linfa and has random-forest and extra-trees regressors. Its `ndarray-bindings`
//! feature stays off (it wants ndarray 0.17 while linfa needs 0.16), so [`RulForest`] copies
//! data into smartcore's `DenseMatrix`. Its gradient-boosting regressor (`XGRegressor`) sorts
//! every feature at every node, too slow for the 20,000 to 54,000 training rows here.
//!
//! # Determinism
//! Every random choice (k-means initialisation, bootstrap samples, feature draws, splits) takes
//! its seed from the parameters, so the same data and options give the same numbers every run.

pub mod data;
pub mod error;
pub mod eval;
pub mod features;
pub mod model;
pub mod normalise;
pub mod split;

pub use error::{Error, Result};
pub use eval::{
    eval_ai4i, eval_ai4i_rows, eval_cmapss, eval_cmapss_data, Ai4iOptions, Ai4iReport,
    CmapssOptions, CmapssReport, RulPipeline,
};
pub use model::{
    AnomalyParams, FailureClassifier, FailureParams, KMeansAnomaly, Model, ModelKind, RulAlgorithm,
    RulForest, RulParams,
};
