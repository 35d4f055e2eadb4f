//! Evaluations on the public reference data sets, as library functions the CLI calls.
//!
//! Each returns a report that implements `Display`; its last line is the machine-readable
//! summary (`rmse=… score=…` for C-MAPSS, `f1=… recall=… precision=… auc=…` for AI4I). Progress
//! is logged with `tracing` at info level.

pub mod ai4i;
pub mod cmapss;
pub mod metrics;
pub mod resources;

pub use ai4i::{eval_ai4i, eval_ai4i_rows, Ai4iOptions, Ai4iReport};
pub use cmapss::{eval_cmapss, eval_cmapss_data, CmapssOptions, CmapssReport, RulPipeline};
