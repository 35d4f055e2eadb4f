//! Quality engineering, as plain functions over plain data (no database, no HTTP): control
//! charts with their limits and run rules, process capability, and the stored form of a
//! defect-probability model. The platform side (quality records, routes, alarms raised through
//! the alarm machinery) builds on these.
//!
//! # Layout
//! - [`constants`]: the control-chart constants by subgroup size (d2, d3, c4, A2, A3, D3, D4,
//!   B3, B4), from the published d2/d3 table and the closed form of c4.
//! - [`charts`]: I-MR, X̄-R and X̄-S charts: a [`charts::Baseline`] computed from a chosen
//!   period, and charts drawn against it, shaped for a console (points, centre line, limits,
//!   zone lines, violations).
//! - [`rules`]: the Western Electric and Nelson run rules; each violation names its rule number
//!   and the points that make it.
//! - [`capability`]: Cp, Cpk, Pp, Ppk with confidence intervals and the sample size behind
//!   them, against specification limits.
//! - [`series`]: a characteristic's stored points cut into subgroups and charted against
//!   its baseline period.
//! - [`spc_alarms`]: which SPC alarms a chart calls for (one per characteristic and rule).
//! - [`yields`]: first-pass yield, rework and scrap rates, the Pareto of defect codes, from
//!   counts.
//! - [`stats`]: the normal and chi-square quantiles the intervals need.
//! - [`defect_artifact`]: what a trained defect model version stores (its recipe) and the
//!   fitted model it stands for, in the pattern of `maintenance::artifact`.
//!
//! Inputs that cannot make a chart or an index (too few points, a subgroup of the wrong size,
//! a non-finite value, crossed specification limits) are refused with [`InvalidData`], which
//! names the offending field so that an API can answer 400 with it.

pub mod capability;
pub mod charts;
pub mod constants;
pub mod defect_artifact;
pub mod rules;
pub mod series;
pub mod spc_alarms;
pub mod stats;
pub mod yields;

/// Data that cannot be charted or assessed, with the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct InvalidData {
    /// Path of the offending input, e.g. `subgroups[3].values` or `spec.usl`.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl InvalidData {
    /// An error on `field`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        InvalidData {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Result of the quality calculations.
pub type Result<T, E = InvalidData> = std::result::Result<T, E>;
