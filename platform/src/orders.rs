//! C2B custom orders (issue #14), as plain functions over plain data (no database, no HTTP):
//! what a consumer may configure, what it costs, how long each line takes to make it, where
//! an order may go next, and when the plant can ship it given its lines' finite capacity and
//! shift calendars. The store (`store::orders`) keeps templates, orders and the schedule; the
//! API (`api::orders_*`) serves the tenant and its storefront.
//!
//! # Layout
//! - [`template`]: product templates: options (choices, numbers with range and step, text
//!   with length and character set), quantity rules, routing, and the configurator that checks
//!   a configuration against them.
//! - [`constraint`]: incompatible combinations and requirements, refused with a reason naming
//!   the options.
//! - [`pricing`]: base, per-option and per-step prices, quantity breaks, in integer minor
//!   units of one currency.
//! - [`state`]: the order state machine (draft → quoted → confirmed → scheduled →
//!   in_production → quality_check → shipped → delivered, cancelled, rejected).
//! - [`schedule`]: finite-capacity scheduling on the machines of each line kind, through their
//!   sites' shift calendars; earliest due date first for a batch; the promised ship date.

pub mod constraint;
pub mod pricing;
pub mod schedule;
pub mod state;
pub mod template;

pub use crate::mes::InvalidInput;
