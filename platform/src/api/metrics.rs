//! Prometheus metrics: request counts and latencies per route, ingest outcomes, pool use, and
//! the alarm-rule evaluator's work (samples and rule evaluations, alarms raised and cleared,
//! queue depth, lag), and each leased job's lease: held or not, taken, lost (issue #18).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
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

/// Issue #18: a leased job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
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
    alerting_samples: Counter,
    alerting_evaluations: Counter,
    alerting_raised: Counter,
    alerting_cleared: Counter,
    alerting_queue: Gauge,
    alerting_queue_capacity: Gauge,
    alerting_lag: Gauge<f64, AtomicU64>,
    lease_held: Family<JobLabel, Gauge>,
    lease_acquired: Family<JobLabel, Counter>,
    lease_lost: Family<JobLabel, Counter>,
    alerting_queued: Counter,
    alerting_inbox: Counter,
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
            alerting_samples: Counter::default(),
            alerting_evaluations: Counter::default(),
            alerting_raised: Counter::default(),
            alerting_cleared: Counter::default(),
            alerting_queue: Gauge::default(),
            alerting_queue_capacity: Gauge::default(),
            alerting_lag: Gauge::default(),
            lease_held: Family::default(),
            lease_acquired: Family::default(),
            lease_lost: Family::default(),
            alerting_queued: Counter::default(),
            alerting_inbox: Counter::default(),
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
        registry.register(
            "alerting_samples_evaluated",
            "Samples the alarm-rule evaluator checked against at least one rule",
            m.alerting_samples.clone(),
        );
        registry.register(
            "alerting_rule_evaluations",
            "Alarm-rule evaluations (a sample against a rule on its tag, a machine-state verdict)",
            m.alerting_evaluations.clone(),
        );
        registry.register(
            "alerting_alarms_raised",
            "Alarms raised by alarm rules",
            m.alerting_raised.clone(),
        );
        registry.register(
            "alerting_alarms_cleared",
            "Rule alarms cleared",
            m.alerting_cleared.clone(),
        );
        registry.register(
            "alerting_queue_depth",
            "Batches waiting for the alarm-rule evaluator (ingest waits when it is full)",
            m.alerting_queue.clone(),
        );
        registry.register(
            "alerting_queue_capacity",
            "Capacity of the alarm-rule evaluator's queue, in batches",
            m.alerting_queue_capacity.clone(),
        );
        registry.register(
            "alerting_lag_seconds",
            "Time the latest batch took from ingest to evaluated, queueing included",
            m.alerting_lag.clone(),
        );
        registry.register(
            "lease_held",
            "Whether this replica holds the job's lease (1) or not (0)",
            m.lease_held.clone(),
        );
        registry.register(
            "lease_acquired",
            "Times this replica took the job's lease",
            m.lease_acquired.clone(),
        );
        registry.register(
            "lease_lost",
            "Times this replica lost the job's lease without giving it up",
            m.lease_lost.clone(),
        );
        registry.register(
            "alerting_batches_queued",
            "Ingest batches queued for the replica evaluating their tenant's shard",
            m.alerting_queued.clone(),
        );
        registry.register(
            "alerting_batches_from_queue",
            "Queued batches of other replicas evaluated here",
            m.alerting_inbox.clone(),
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

/// Brings a counter up to a total counted elsewhere (counters only go up).
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (size, available) = state.store.pool_status();
    let m = &state.metrics;
    m.pool_size.set(size as i64);
    m.pool_available.set(available as i64);
    let stats = state.alerting.stats();
    catch_up(&m.alerting_samples, stats.evaluated.load(Relaxed));
    catch_up(
        &m.alerting_evaluations,
        stats.rule_evaluations.load(Relaxed),
    );
    catch_up(&m.alerting_raised, stats.raised.load(Relaxed));
    catch_up(&m.alerting_cleared, stats.cleared.load(Relaxed));
    let (queued, capacity) = state.alerting.queue();
    m.alerting_queue.set(queued as i64);
    m.alerting_queue_capacity.set(capacity as i64);
    m.alerting_lag
        .set(stats.lag_us.load(Relaxed) as f64 / 1_000_000.0);
    catch_up(&m.alerting_queued, stats.queued_batches.load(Relaxed));
    catch_up(&m.alerting_inbox, stats.inbox_batches.load(Relaxed));
    for job in state.leases.status() {
        let label = JobLabel { job: job.job };
        m.lease_held.get_or_create(&label).set(i64::from(job.held));
        catch_up(&m.lease_acquired.get_or_create(&label), job.acquired);
        catch_up(&m.lease_lost.get_or_create(&label), job.lost);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
