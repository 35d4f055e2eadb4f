//! The background jobs `serve` and `demo` start, each under its own lease so that with several
//! replicas each runs in one of them at a time: `rollups` (rollups, partitions, retention,
//! trimming to plans), `mes_states` (machine states from samples), `orders_progress` (custom
//! orders following their work orders), `bureau` (tenants' daily contributions), `scoring`
//! (SPC on tag characteristics, promoted models, defect alarms). Alarm-rule evaluation shards
//! are leased by the evaluator itself ([`crate::alerting::engine`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::keeper::{run_every, Keeper};
use crate::config::Settings;
use crate::maintenance::Scorer;
use crate::store::Store;

/// The leased jobs' names, in the order they are started.
pub const JOBS: [&str; 5] = [
    "rollups",
    "mes_states",
    "orders_progress",
    "bureau",
    "scoring",
];

/// Starts every leased background job; they stop when `stop` is cancelled.
pub fn spawn(
    store: &Store,
    settings: &Settings,
    keeper: &Keeper,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let maintenance = Duration::from_secs(settings.store.maintenance_interval_secs.max(1));
    let scoring = Duration::from_secs(settings.models.scoring_interval_secs.max(1));
    let mut tasks = Vec::new();
    {
        let store = store.clone();
        tasks.push(tokio::spawn(run_every(
            keeper.clone(),
            "rollups",
            maintenance,
            stop.clone(),
            move || {
                let store = store.clone();
                async move {
                    match store.maintain().await {
                        Ok(report) => {
                            tracing::debug!(?report, "Maintenance round done.");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Maintenance round failed; retrying next round.");
                            false
                        }
                    }
                }
            },
        )));
    }
    {
        let store = store.clone();
        tasks.push(tokio::spawn(run_every(
            keeper.clone(),
            "mes_states",
            maintenance,
            stop.clone(),
            move || {
                let store = store.clone();
                async move {
                    match store.build_mes_states().await {
                        Ok(report) => {
                            tracing::debug!(?report, "Machine states built.");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Building machine states failed; retrying next round.");
                            false
                        }
                    }
                }
            },
        )));
    }
    {
        // Issue #14: orders follow their work orders' production.
        let store = store.clone();
        tasks.push(tokio::spawn(run_every(
            keeper.clone(),
            "orders_progress",
            maintenance,
            stop.clone(),
            move || {
                let store = store.clone();
                async move {
                    match store.advance_orders().await {
                        Ok(moved) => {
                            tracing::debug!(moved, "Custom orders advanced.");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Advancing custom orders failed; retrying next round.");
                            false
                        }
                    }
                }
            },
        )));
    }
    {
        // Issue #16: tenants' contributions for days closed since the last round.
        let store = store.clone();
        tasks.push(tokio::spawn(run_every(
            keeper.clone(),
            "bureau",
            maintenance,
            stop.clone(),
            move || {
                let store = store.clone();
                async move {
                    match store.build_bureau_contributions(chrono::Utc::now()).await {
                        Ok(report) => {
                            tracing::debug!(?report, "Bureau contributions computed.");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Computing bureau contributions failed; retrying next round.");
                            false
                        }
                    }
                }
            },
        )));
    }
    {
        // The scorer keeps loaded models and the SPC watch's position between rounds; a
        // replica taking the lease over starts from the database.
        let store = store.clone();
        let scorer = Arc::new(tokio::sync::Mutex::new(Scorer::new()));
        tasks.push(tokio::spawn(run_every(
            keeper.clone(),
            "scoring",
            scoring,
            stop.clone(),
            move || {
                let (store, scorer) = (store.clone(), scorer.clone());
                async move { scorer.lock().await.round(&store).await }
            },
        )));
    }
    tasks
}
