//! Manufacturing execution (issue #13), as plain functions over plain data (no database, no
//! HTTP): what state a machine is in, when the plant means to produce, which stops are
//! downtime and why, how many parts a counter says were made, and the OEE that follows.
//! The store (`store::mes`) keeps the results; the API (`api::mes_*`) serves them.
//!
//! # Layout
//! - [`state`]: machine states, the per-class rules that derive them from tags (defaults for
//!   the simulators' classes), and the [`state::Tracker`] that turns samples into state
//!   intervals and production counts incrementally.
//! - [`calendar`]: shift calendars in the site's IANA time zone (shifts across midnight, days
//!   off, breaks as planned stops, daylight-saving changes) and the planned busy time they give.
//! - [`counters`]: counter increments with resets and wraparounds.
//! - [`downtime`]: downtime events from non-running time inside planned time, minor stops,
//!   reason categories and the six big losses, reasons assigned or split by operators.
//! - [`work_order`]: the work-order state machine.
//! - [`oee`]: OEE per ISO 22400-2 with the losses by category.
//!
//! Time not covered by any state interval counts as `unknown` (no data).

pub mod calendar;
pub mod counters;
pub mod downtime;
pub mod oee;
pub mod state;
pub mod work_order;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A half-open time span `[start, end)`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct Span {
    /// First instant inside.
    pub start: DateTime<Utc>,
    /// First instant after.
    pub end: DateTime<Utc>,
}

impl Span {
    /// `[start, end)`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Span { start, end }
    }

    /// Length in seconds (0 when empty or reversed).
    pub fn secs(&self) -> f64 {
        ((self.end - self.start).num_milliseconds().max(0)) as f64 / 1000.0
    }

    /// Whether it holds no time.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The overlap with `other`, if any.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        let s = Span::new(self.start.max(other.start), self.end.min(other.end));
        (!s.is_empty()).then_some(s)
    }

    /// Whether `t` lies in `(start, end]`: the window a counter increment counted at `t`
    /// belongs to (parts counted at `t` were made before `t`).
    pub fn counts_at(&self, t: DateTime<Utc>) -> bool {
        self.start < t && t <= self.end
    }
}

/// Total seconds of `spans`.
pub fn total_secs(spans: &[Span]) -> f64 {
    spans.iter().map(Span::secs).sum()
}

/// The overlaps of `a` with every span of `windows` (each list sorted, non-overlapping).
pub fn clip(a: &Span, windows: &[Span]) -> Vec<Span> {
    windows.iter().filter_map(|w| a.intersect(w)).collect()
}

/// An input that cannot be used, naming its field (an API answers 422 with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct InvalidInput {
    /// The offending field, e.g. `shifts[1].start`.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl InvalidInput {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        InvalidInput {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
