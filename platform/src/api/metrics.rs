//! Prometheus metrics: request counts and latencies per route, ingest outcomes, pool use.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    method: String,
    route: String,
}

/// The platform's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteOnly, Histogram>,
    /// Samples newly stored.
    pub samples_accepted: Counter,
    /// Samples skipped as already stored.
    pub samples_duplicate: Counter,
    /// Samples refused as invalid.
    pub samples_rejected: Counter,
    pool_size: Gauge,
    pool_available: Gauge,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("millwright");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let m = Metrics {
            requests: requests.clone(),
            latency: latency.clone(),
            samples_accepted: Counter::default(),
            samples_duplicate: Counter::default(),
            samples_rejected: Counter::default(),
            pool_size: Gauge::default(),
            pool_available: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency,
        );
        registry.register(
            "ingest_samples_accepted",
            "Samples newly stored",
            m.samples_accepted.clone(),
        );
        registry.register(
            "ingest_samples_duplicate",
            "Samples skipped as already stored",
            m.samples_duplicate.clone(),
        );
        registry.register(
            "ingest_samples_rejected",
            "Samples refused as invalid",
            m.samples_rejected.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Connections in the application pool",
            m.pool_size.clone(),
        );
        registry.register(
            "db_pool_available",
            "Idle connections in the application pool",
            m.pool_available.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Middleware counting every request by its route template (not its concrete path, which
/// would make one series per tag id).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RouteOnly { method, route };
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RouteLabels {
            method: labels.method,
            route: labels.route,
            status,
        })
        .inc();
    response
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (size, available) = state.store.pool_status();
    state.metrics.pool_size.set(size as i64);
    state.metrics.pool_available.set(available as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
