//! The HTTP API (axum): `/api/v1/...` for tenants, `/healthz`, `/readyz`, `/metrics` for
//! operators, and `/api/v1/openapi.json`, generated from the handlers themselves so the
//! document cannot drift from the routes.
//!
//! # Layout
//! - [`problem`]: the one error type, rendered as problem+json.
//! - [`access`]: the table of what every route needs, and the middleware that enforces it
//!   (authentication, role, plan, requests per minute).
//! - [`auth`]: credentials, login, refresh, logout.
//! - [`extract`]: JSON and query extractors that name offending fields; the caller.
//! - [`users`], [`keys`], [`tenant`]: a tenant's people, keys, profile, usage and audit log.
//! - [`admin`]: the platform operator's routes.
//! - [`ingest`], [`samples`], [`plant`]: the tenant resources.
//! - [`commands`]: setpoint commands for connectors to write.
//! - [`events`], [`models`], [`alarms`]: the predictive-maintenance lifecycle (labels,
//!   training and versions, alarms), grouped in one router so plan gating has one place.
//! - [`mes_states`], [`mes_downtime`], [`mes_orders`], [`mes_oee`]: the MES plan's routes
//!   (machine states and their rules, calendars, reasons and downtime, products, work orders,
//!   production, OEE, traceability), grouped in one router.
//! - [`quality_records`], [`quality_figures`], [`quality_characteristics`]: quality records,
//!   yield and Pareto figures, characteristics with their SPC charts and capability (MES plan);
//!   [`quality_models`]: defect predictions and root-cause rankings (Pro plan).
//! - [`health`], [`metrics`]: operator endpoints.
//! - [`console`]: the web console's shell and embedded files ([`crate::console`]).
//! - [`alarm_rules`]: alarm rules (every plan); [`webhooks`]: webhook endpoints, their
//!   delivery log and redelivery (admins).

pub mod access;
pub mod admin;
pub mod alarm_rules;
pub mod alarms;
pub mod auth;
// Issue #16: the industry bureau view.
pub mod bureau_indices;
pub mod bureau_sharing;
pub mod commands;
pub mod console;
pub mod events;
pub mod extract;
pub mod health;
pub mod ingest;
pub mod keys;
// Issue #13: MES (machine states, calendars, downtime, work orders, OEE).
pub mod mes_downtime;
pub mod mes_oee;
pub mod mes_orders;
pub mod mes_states;
pub mod metrics;
pub mod models;
// Issue #14: C2B custom orders (templates, storefront, orders).
pub mod orders_shop;
pub mod orders_templates;
pub mod orders_tenant;
pub mod plant;
pub mod problem;
// Issue #15: quality records, yield figures, SPC charts and capability.
pub mod quality_characteristics;
pub mod quality_figures;
pub mod quality_models;
pub mod quality_records;
pub mod samples;
pub mod tenant;
pub mod users;
pub mod webhooks;
// Issue #11: input rules shared by every route, response headers and CORS, HTTPS.
pub mod headers;
mod https;
pub mod input;

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

use millwright_tenants::rate_limit::RateLimiter;
use millwright_tenants::token::{JwtSecret, TokenIssuer};

use crate::config::Settings;
use crate::store::{Store, TenantId};
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
    /// Signs and checks access tokens.
    pub tokens: Arc<TokenIssuer>,
    /// Requests-per-minute buckets, one per tenant.
    pub limiter: Arc<RateLimiter<TenantId>>,
    /// Failed logins per account and per client address.
    pub logins: Arc<auth::LoginThrottles>,
    /// The alarm-rule evaluator ingest feeds.
    pub alerting: crate::alerting::Alerting,
    /// Wakes the webhook sender after a change wrote events.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Requests-per-minute buckets of storefront keys, by (tenant, key).
    pub storefront_limiter: Arc<RateLimiter<(i32, i64)>>,
    /// This replica's leases of background work (issue #18).
    pub leases: crate::leases::Keeper,
    /// Stops the evaluator and the sender when the last copy of the state is dropped.
    _background: Arc<tokio_util::sync::DropGuard>,
}

impl AppState {
    /// State for `store` and `settings`; fails only on a JWT secret shorter than 32 bytes.
    /// Starts the alarm-rule evaluator and the webhook sender (inside a Tokio runtime); they
    /// stop when the state is dropped.
    pub fn new(store: Store, settings: Arc<Settings>) -> crate::error::Result<Self> {
        let secret = match &settings.auth.jwt_secret {
            Some(s) => JwtSecret::new(s.expose().as_bytes().to_vec())?,
            None => {
                tracing::info!("No auth.jwt_secret set: access tokens end when this process does.");
                JwtSecret::generate()
            }
        };
        let ttl = chrono::TimeDelta::seconds(settings.auth.access_token_ttl_secs.max(1));
        let stop = tokio_util::sync::CancellationToken::new();
        let webhook_wake = Arc::new(tokio::sync::Notify::new());
        // Issue #18: leases, so several replicas evaluate each tenant's rules in one place.
        // The keeper outlives the evaluator: it gives its leases up only after the evaluator
        // has saved its states.
        let leases = crate::leases::Keeper::start(
            store.clone(),
            settings.leases.policy(),
            Vec::new(),
            tokio_util::sync::CancellationToken::new(),
        );
        let alerting = crate::alerting::Alerting::start_leased(
            store.clone(),
            settings.alerting.clone(),
            webhook_wake.clone(),
            leases.clone(),
            stop.clone(),
        );
        {
            let (alerting, leases, stop) = (alerting.clone(), leases.clone(), stop.clone());
            tokio::spawn(async move {
                stop.cancelled().await;
                alerting.stopped(std::time::Duration::from_secs(5)).await;
                leases.shutdown().await;
            });
        }
        tokio::spawn(crate::webhooks::sender::run(
            store.clone(),
            settings.webhooks.clone(),
            webhook_wake.clone(),
            stop.clone(),
        ));
        Ok(Self {
            alerting,
            leases,
            webhook_wake,
            _background: Arc::new(stop.drop_guard()),
            store,
            metrics: Metrics::new(),
            tokens: Arc::new(TokenIssuer::new(&secret, ttl)?),
            limiter: Arc::new(RateLimiter::new()),
            storefront_limiter: Arc::new(RateLimiter::new()),
            logins: Arc::new(auth::LoginThrottles::default()),
            settings,
        })
    }
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
        (name = "auth", description = "Signing in and out"),
        (name = "users", description = "A tenant's people and their roles"),
        (name = "api-keys", description = "API keys and connectors' device tokens"),
        (name = "tenant", description = "The tenant, its usage against its plan, its audit log"),
        (name = "admin", description = "The platform operator's routes"),
        (name = "maintenance", description = "Predictive maintenance: machine events, training, model versions, alarms"),
        (name = "alarm-rules", description = "Alarm rules on tags: thresholds, rate of change, stale data, machine faults"),
        (name = "webhooks", description = "Signed event delivery to the tenant's endpoints"),
        (name = "quality", description = "Quality records, yield, Pareto, SPC charts and capability"),
        (name = "mes", description = "MES: machine states, shift calendars, downtime, products, work orders, production, OEE, traceability"),
        (name = "orders", description = "C2B custom orders: product templates, storefront keys, orders, their board, timeline and transitions"),
        (name = "storefront", description = "What a shop's storefront key may do: templates, quotes, placing orders, an order by its token"),
        (name = "bureau", description = "Industry bureaus' sector indices, and what a tenant shares with them"),
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
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(tenant::get, tenant::update))
        .routes(routes!(tenant::usage))
        .routes(routes!(tenant::audit))
        .routes(routes!(admin::create_tenant))
        .routes(routes!(admin::create_bureau_user))
        .merge(models_routes())
        .merge(alerting_routes())
        .routes(routes!(tenant::verify_audit))
        .merge(mes_routes())
        .merge(quality_routes())
        .merge(orders_routes())
        .merge(bureau_routes())
}

/// C2B custom orders (issue #14): the tenant's templates, keys and orders, and the storefront.
fn orders_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(orders_templates::list, orders_templates::create))
        .routes(routes!(orders_templates::get, orders_templates::update))
        .routes(routes!(
            orders_templates::list_keys,
            orders_templates::create_key
        ))
        .routes(routes!(orders_templates::revoke_key))
        .routes(routes!(orders_tenant::list))
        .routes(routes!(orders_tenant::board))
        .routes(routes!(orders_tenant::get))
        .routes(routes!(orders_tenant::timeline))
        .routes(routes!(orders_tenant::transition))
        .routes(routes!(orders_shop::templates))
        .routes(routes!(orders_shop::template))
        .routes(routes!(orders_shop::quote))
        .routes(routes!(orders_shop::place))
        .routes(routes!(orders_shop::order))
}

/// The MES plan's routes (issue #13).
fn mes_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mes_states::states))
        .routes(routes!(mes_states::current))
        .routes(routes!(mes_states::list_rules))
        .routes(routes!(mes_states::put_class_rule))
        .routes(routes!(mes_states::put_machine_rule))
        .routes(routes!(mes_states::delete_rule))
        .routes(routes!(mes_states::recompute))
        .routes(routes!(
            mes_downtime::get_calendar,
            mes_downtime::put_calendar
        ))
        .routes(routes!(
            mes_downtime::list_reasons,
            mes_downtime::create_reason
        ))
        .routes(routes!(mes_downtime::downtime))
        .routes(routes!(mes_downtime::assign))
        .routes(routes!(
            mes_orders::list_products,
            mes_orders::create_product
        ))
        .routes(routes!(mes_orders::list_orders, mes_orders::create_order))
        .routes(routes!(mes_orders::get_order))
        .routes(routes!(mes_orders::transition))
        .routes(routes!(mes_orders::trace))
        .routes(routes!(mes_orders::record_production))
        .routes(routes!(mes_oee::oee))
}

/// The industry bureau view (issue #16): bureaus' indices, tenants' sharing.
fn bureau_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bureau_indices::list))
        .routes(routes!(bureau_indices::series))
        .routes(routes!(bureau_indices::cross_section))
        .routes(routes!(bureau_sharing::get, bureau_sharing::put))
        .routes(routes!(bureau_sharing::contributions))
}

/// Quality records, figures, characteristics and their charts (issue #15).
fn quality_routes() -> OpenApiRouter<AppState> {
    use quality_characteristics as qc;
    OpenApiRouter::new()
        .routes(routes!(quality_records::record, quality_records::list))
        .routes(routes!(quality_figures::yields))
        .routes(routes!(quality_figures::pareto))
        .routes(routes!(qc::list, qc::create))
        .routes(routes!(qc::get, qc::update))
        .routes(routes!(qc::chart))
        .routes(routes!(qc::capability_of))
        .routes(routes!(quality_models::predictions))
        .routes(routes!(quality_models::root_cause_ranking))
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
        .routes(routes!(alarms::shelve))
}

/// Issue #13: alarm rules (every plan) and webhook endpoints (admins).
fn alerting_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alarm_rules::list, alarm_rules::create))
        .routes(routes!(
            alarm_rules::get,
            alarm_rules::update,
            alarm_rules::delete
        ))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::test))
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> OpenApiDoc {
    let (_, doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    document_access(doc)
}

/// Writes the access table into the document: what each operation needs, and the 401, 403
/// and 429 answers the access layer may give it, so handlers need not repeat them.
fn document_access(mut doc: OpenApiDoc) -> OpenApiDoc {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PATCH", &mut item.patch),
            ("PUT", &mut item.put),
            ("DELETE", &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            // What the shared input rules (api::input, api::extract, api::problem) may answer
            // on any operation, documented here once so every route carries it.
            let has_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut shared: Vec<(&str, &str)> = Vec::new();
            if has_body || has_params {
                shared.push(("400", "Malformed request: a path parameter that does not parse, or a body that is not JSON (or has text after it)"));
                shared.push((
                    "422",
                    "A field or parameter is invalid; the problem names it",
                ));
            }
            if has_body {
                shared.push(("413", "The body is larger than http.max_body_bytes"));
                shared.push(("415", "The body is not sent as application/json"));
            }
            for (code, what) in shared {
                op.responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| problem(what).into());
            }
            let method = axum::http::Method::from_bytes(method.as_bytes()).expect("method");
            let (needs, codes): (String, &[(&str, &str)]) = match access::access_for(&method, path)
            {
                Some(access::Access::Public) | None => continue,
                Some(access::Access::SignedIn) => (
                    "Any signed-in caller.".into(),
                    &[("401", "Missing, invalid or expired credential")],
                ),
                Some(access::Access::Storefront) => (
                    "A storefront key (`mws_…`) of a tenant on the Pro plan.".into(),
                    &[
                        ("401", "Missing, invalid or revoked storefront key"),
                        (
                            "403",
                            "The tenant's plan does not include C2B custom orders",
                        ),
                        (
                            "429",
                            "The key's requests per minute are used up; see Retry-After",
                        ),
                    ],
                ),
                Some(access::Access::Operator) => (
                    "The platform operator's key.".into(),
                    &[
                        ("401", "Missing or wrong operator key"),
                        ("403", "The admin API is disabled"),
                    ],
                ),
                Some(access::Access::Tenant(action)) => {
                    let rule = action.rule();
                    let roles: Vec<&str> = rule.roles.iter().map(|r| r.as_str()).collect();
                    let plan = rule.feature.map_or_else(
                        || "every plan".to_string(),
                        |f| {
                            format!(
                                "the {} plan and above",
                                millwright_tenants::plan::Plan::cheapest_including(f)
                            )
                        },
                    );
                    (
                        format!("Permission `{}`: roles {}; {plan}.", serde_json::to_value(action).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), roles.join(", ")),
                        &[
                            ("401", "Missing, invalid or expired credential"),
                            ("403", "The role or the plan does not allow this; the detail names the plan that does"),
                            ("429", "The plan's requests per minute are used up; see Retry-After"),
                        ],
                    )
                }
            };
            let description = op.description.take().unwrap_or_default();
            op.description = Some(format!("{description}\n\n{needs}").trim().to_string());
            for (code, what) in codes {
                op.responses
                    .responses
                    .entry((*code).to_string())
                    .or_insert_with(|| problem(what).into());
            }
        }
    }
    doc
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    let doc = Arc::new(document_access(doc));
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { axum::Json((*doc).clone()) }),
    )
    .route("/metrics", get(metrics::metrics))
    .merge(console::routes())
    // After routing, so the layer sees which route matched; the fallback stays open.
    .route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        access::enforce,
    ))
    .fallback(|| async { problem::ApiError::not_found("route") })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::track,
    ))
    .layer(DefaultBodyLimit::max(state.settings.http.max_body_bytes))
    // Issue #11: one error format for every answer, and input rules before any route.
    .layer(axum::middleware::from_fn(problem::normalize))
    .layer(axum::middleware::from_fn(input::guard))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        headers::secure,
    ))
    .layer(headers::cors(&state.settings.http.cors_allowed_origins))
    // A failed request is logged once where it fails (problem.rs, rate-limited during a
    // database outage); the trace layer's own report of it stays at debug.
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
    )
    .layer(CatchPanicLayer::custom(problem::panic_response))
    .with_state(state)
}

/// The span of a request: method and path, with anything secret-looking in the query string
/// redacted (a client may put a token there even though the API never reads one from it).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let uri = req.uri().to_string();
    tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %millwright_tenants::redact::redact(&uri),
    )
}

/// Forgets idle tenants' request buckets every minute (a bucket idle for a minute is full
/// again, so forgetting it changes nothing), and quiet accounts' and addresses' failed
/// logins, until the server's state is gone.
fn prune_rate_limits(
    limiter: std::sync::Weak<RateLimiter<TenantId>>,
    logins: std::sync::Weak<auth::LoginThrottles>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match (limiter.upgrade(), logins.upgrade()) {
                (Some(l), Some(t)) => {
                    l.prune(std::time::Duration::from_secs(60));
                    t.prune(std::time::Instant::now());
                }
                _ => return,
            }
        }
    });
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    alerting: crate::alerting::Alerting,
    leases: crate::leases::Keeper,
}

impl Server {
    /// Binds `settings.http.listen` (port 0 picks a free port).
    pub async fn bind(store: Store, settings: Arc<Settings>) -> crate::error::Result<Self> {
        let listener =
            TcpListener::bind(settings.http.listen)
                .await
                .map_err(crate::error::Error::io(format!(
                    "binding {}",
                    settings.http.listen
                )))?;
        let tls = match (&settings.http.tls_cert_file, &settings.http.tls_key_file) {
            (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
                crate::tls::server_config(cert, key)?,
            )),
            (None, None) => None,
            _ => {
                return Err(crate::error::Error::Config(
                    "http.tls_cert_file and http.tls_key_file go together".into(),
                ))
            }
        };
        // Issue #16: the platform's negative list, as the settings name it.
        store
            .set_negative_list(&settings.bureau.negative_list())
            .await?;
        let state = AppState::new(store, settings)?;
        prune_rate_limits(
            Arc::downgrade(&state.limiter),
            Arc::downgrade(&state.logins),
        );
        Ok(Self {
            listener,
            alerting: state.alerting.clone(),
            leases: state.leases.clone(),
            app: router(state),
            tls,
        })
    }

    /// The server's alarm-rule evaluator (benchmarks wait on it with `flush`).
    pub fn alerting(&self) -> crate::alerting::Alerting {
        self.alerting.clone()
    }

    /// This replica's leases of background work (`serve` and `demo` run their jobs under
    /// them).
    pub fn leases(&self) -> crate::leases::Keeper {
        self.leases.clone()
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
        if let Some(acceptor) = self.tls {
            return https::serve(self.listener, self.app, acceptor, shutdown).await;
        }
        axum::serve(
            self.listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
