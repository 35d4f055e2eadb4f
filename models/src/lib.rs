//! Predictive-maintenance and yield models, built on linfa.
//!
//! This crate will own feature extraction from windows of samples, the model kinds (anomaly
//! score, failure within a horizon, remaining useful life) behind one trait, and their
//! evaluation on public reference data. It never depends on the platform or tenants crates:
//! the platform feeds it arrays and stores what it returns.
