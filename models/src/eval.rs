//! Evaluations on the public reference data sets, as library functions the CLI calls.
//!
//! Each returns a report that implements `Display`; its last line is the machine-readable
//! summary (`rmse=… score=…` for C-MAPSS, `f1=… recall=… precision=… auc=…` for AI4I,
//! `balanced_accuracy=… gmean=… auc=…` for SECOM, `accuracy=… macro_f1=…` for Steel Plates). Progress
//! is logged with `tracing` at info level.

pub mod ai4i;
pub mod cmapss;
pub mod metrics;
pub mod resources;
pub mod secom;
pub mod steel;

pub use ai4i::{eval_ai4i, eval_ai4i_rows, Ai4iOptions, Ai4iReport};
pub use cmapss::{eval_cmapss, eval_cmapss_data, CmapssOptions, CmapssReport, RulPipeline};
pub use secom::{eval_secom, eval_secom_data, BinaryFigures, SecomOptions, SecomReport};
pub use steel::{eval_steel_plates, eval_steel_plates_rows, SteelOptions, SteelReport};
