//! The HTTP API (axum): `/api/v1/...` for tenants, `/healthz`, `/readyz`, `/metrics` for
//! operators, and `/api/v1/openapi.json`, generated from the handlers themselves so the
//! document cannot drift from the routes.
//!
//! # Layout
//! - [`problem`]: the one error type, rendered as problem+json.
//! - [`extract`]: JSON, query and API-key extractors that name offending fields.
//! - [`ingest`], [`samples`], [`plant`]: the tenant resources.
//! - [`commands`]: setpoint commands for connectors to write.
//! - [`events`], [`models`], [`alarms`]: the predictive-maintenance lifecycle (labels,
//!   training and versions, alarms), grouped in one router so plan gating has one place.
//! - [`health`], [`metrics`]: operator endpoints.

pub mod alarms;
pub mod commands;
pub mod events;
pub mod extract;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod models;
pub mod plant;
pub mod problem;
pub mod samples;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::store::Store;
pub use metrics::Metrics;

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Millwright API", description = "Tenant-scoped industrial time series: ingest, query, plant model."),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Writing samples"),
        (name = "samples", description = "Reading samples"),
        (name = "sites"), (name = "lines"), (name = "machines"), (name = "tags"),
        (name = "commands", description = "Setpoints for connectors to write"),
        (name = "maintenance", description = "Predictive maintenance: machine events, training, model versions, alarms"),
        (name = "health", description = "Probes for operators"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The tenant API under `/api/v1`, with its OpenAPI document.
fn v1() -> OpenApiRouter<AppState> {
    use plant::{lines, machines, sites, tags};
    OpenApiRouter::new()
        .routes(routes!(ingest::ingest))
        .routes(routes!(samples::tag_samples))
        .routes(routes!(samples::latest))
        .routes(routes!(sites::list, sites::create))
        .routes(routes!(sites::get, sites::update, sites::delete))
        .routes(routes!(lines::list, lines::create))
        .routes(routes!(lines::get, lines::update, lines::delete))
        .routes(routes!(machines::list, machines::create))
        .routes(routes!(machines::get, machines::update, machines::delete))
        .routes(routes!(tags::list, tags::create))
        .routes(routes!(tags::get, tags::update, tags::delete))
        .routes(routes!(commands::issue))
        .routes(routes!(commands::pending))
        .routes(routes!(commands::report))
        .routes(routes!(commands::get))
        .merge(models_routes())
}

/// The predictive-maintenance lifecycle (machine events, training jobs, model versions,
/// alarms): one group, so a plan gate can wrap all of it at one point.
fn models_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::record, events::list))
        .routes(routes!(events::delete))
        .routes(routes!(models::start_training))
        .routes(routes!(models::training_job))
        .routes(routes!(models::versions))
        .routes(routes!(models::version))
        .routes(routes!(models::promote))
        .routes(routes!(alarms::list))
        .routes(routes!(alarms::acknowledge))
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> OpenApiDoc {
    let (_, doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    doc
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { axum::Json((*doc).clone()) }),
    )
    .route("/metrics", get(metrics::metrics))
    .fallback(|| async { problem::ApiError::not_found("route") })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::track,
    ))
    .layer(DefaultBodyLimit::max(state.settings.http.max_body_bytes))
    .layer(TraceLayer::new_for_http())
    .layer(CatchPanicLayer::new())
    .with_state(state)
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: TcpListener,
    app: Router,
}

impl Server {
    /// Binds `settings.http.listen` (port 0 picks a free port).
    pub async fn bind(store: Store, settings: Arc<Settings>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.http.listen).await?;
        let state = AppState {
            store,
            settings,
            metrics: Metrics::new(),
        };
        Ok(Self {
            listener,
            app: router(state),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves in the background until [`RunningServer::stop`].
    pub fn spawn(self) -> RunningServer {
        let addr = self.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = self
                .run(async move {
                    let _ = stopped.await;
                })
                .await
            {
                tracing::error!(error = %e, "API server failed.");
            }
        });
        RunningServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A server serving in the background; dropping it asks it to stop without waiting.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
