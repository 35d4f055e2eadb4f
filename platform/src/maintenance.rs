//! The predictive-maintenance lifecycle on the platform side: training jobs that learn from a
//! tenant's own history and machine events, and the scorer that runs promoted models on live
//! data and raises alarms. The learning itself is the `millwright-models` crate; this module
//! turns stored samples and events into its arrays and its outputs back into tags and alarms.
//!
//! # Layout
//! - [`dataset`]: samples on a regular grid, segments between repairs, window features and
//!   labels (failure within the horizon, time to failure).
//! - [`artifact`]: what a model version stores and the fitted model it stands for.
//! - [`defect`]: defect models (issue #15) in the same lifecycle: trained on a machine class's
//!   quality records (their process parameters and results), scored as records arrive.
//! - [`training`]: the request, its defaults and checks, and the background job.
//! - [`spc_watch`]: SPC alarms on quality characteristics, as records and samples arrive.
//! - [`scoring`]: the [`Scorer`] loop (started by `serve` and `demo`, every
//!   `models.scoring_interval_secs`) and its single round.

pub mod artifact;
pub mod dataset;
pub mod defect;
pub mod scoring;
pub mod spc_watch;
pub mod training;

pub use scoring::{ScoreReport, Scorer};
pub use training::{TrainingParams, TrainingRequest};
