//! Predictive-maintenance and yield/quality models for Millwright, built on linfa and
//! smartcore, and their evaluation on public reference data.
//!
//! The crate never depends on the platform or tenants crates: the platform feeds it arrays and
//! stores what it returns.
//!
//! # Layout
//! - [`error`]: the crate's `Error` enum and `Result` alias.
//! - [`data`]: loaders for the reference data sets (C-MAPSS, AI4I 2020, SECOM, Steel Plates)
//!   and where they live.
//! - [`features`]: window statistics per channel (mean, std, slope, min, max, last, drift since
//!   the start of the series) and time since maintenance.
//! - [`normalise`]: operating-condition clustering (linfa k-means) and a z-score normaliser
//!   fitted on training data only, per condition.
//! - [`model`]: the [`Model`] trait and its three kinds: [`KMeansAnomaly`] (anomaly score with a
//!   calibrated threshold, linfa k-means), [`FailureClassifier`] (failure within a horizon,
//!   bagged decision trees) and [`RulForest`] (remaining useful life, random forest); for
//!   yield, [`DefectModel`] (defect probability of a unit from its process parameters: linfa
//!   logistic regression, bagged trees or both, threshold chosen on training data) and
//!   [`model::GradientBoosting`] (multi-class boosted trees, which neither library has).
//! - [`tabular`]: preprocessing of process data fitted on training rows only (column dropping,
//!   median imputation, scaling, class-separation feature selection).
//! - [`rootcause`]: which parameters drive defects (permutation importance on a hold-out) and
//!   the operating window the data recommends for each.
//! - [`split`]: seeded stratified hold-out and folds.
//! - [`eval`]: [`eval_cmapss`], [`eval_ai4i`], [`eval_secom`] and [`eval_steel_plates`],
//!   returning reports whose last line is the machine-readable summary; metrics and resource
//!   figures.
//!
//! # Why smartcore beside linfa
//! - Regression: linfa's trees, forests and AdaBoost are classifiers only, and its regressors
//!   (linear, GLM, elastic net, SVR, PLS) cannot follow the knee of a capped RUL curve: on
//!   C-MAPSS FD001 ridge regression reaches RMSE 19.5 against 13 to 14 for tree ensembles
//!   (`shared/data/RESULTS.md`). smartcore 0.7 is pure Rust, builds beside linfa and has
//!   random-forest and extra-trees regressors. Its gradient-boosting regressor (`XGRegressor`)
//!   re-sorts every feature at every node, too slow for the 20,000 to 54,000 training rows here.
//! - Classification: linfa-ensemble's random forest was used first but is not reproducible run
//!   to run (linfa-trees sums class counts in `f32` over a randomly seeded `HashMap`, so
//!   near-tied splits flip), it only votes labels, and linfa-trees scans the whole data set at
//!   every node. [`FailureClassifier`] therefore bags smartcore decision trees, which give leaf
//!   probabilities and are deterministic.
//! - Boosting: linfa has none and smartcore's only boosted trees are a slow squared-error
//!   regressor, so [`model::GradientBoosting`] is written here (histogram method, softmax). On
//!   Steel Plates it reaches 0.79 accuracy where smartcore's random forest reaches 0.75.
//! - smartcore's `ndarray-bindings` feature stays off (it wants ndarray 0.17 while linfa needs
//!   0.16), so data is copied into smartcore's `DenseMatrix`.
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
pub mod rootcause;
pub mod split;
pub mod tabular;

pub use error::{Error, Result};
pub use eval::{
    eval_ai4i, eval_ai4i_rows, eval_cmapss, eval_cmapss_data, eval_secom, eval_secom_data,
    eval_steel_plates, eval_steel_plates_rows, Ai4iOptions, Ai4iReport, CmapssOptions,
    CmapssReport, RulPipeline, SecomOptions, SecomReport, SteelOptions, SteelReport,
};
pub use model::{
    AnomalyParams, DefectAlgorithm, DefectModel, DefectParams, FailureClassifier, FailureParams,
    KMeansAnomaly, Logistic, LogisticParams, Model, ModelKind, RulAlgorithm, RulForest, RulParams,
    ThresholdRule,
};
pub use rootcause::{rank_parameters, OperatingWindow, ParameterRank, RankingOptions, RootCauses};
