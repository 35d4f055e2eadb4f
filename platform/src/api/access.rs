//! The access layer: one table names what every route needs, and one middleware enforces it
//! before any handler runs.
//!
//! A route missing from [`ROUTES`] is refused for everyone (deny by default), and a test
//! checks that every route the OpenAPI document lists is in the table, so a new route cannot
//! ship open by accident. What each role may do is decided by
//! [`millwright_tenants::permission`]; this table only maps routes to those actions.
//!
//! For tenant routes the middleware also spends one token of the tenant's requests-per-minute
//! bucket (429 with `Retry-After` when it is empty; connectors' device tokens are not metered),
//! and names the plan that includes a route the tenant's plan lacks (403).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use millwright_tenants::permission::{decide, Action, Decision};
use millwright_tenants::rate_limit::retry_after_secs;
use sha2::{Digest, Sha256};

use super::auth::{authenticate, bearer, Credential, Principal};
use super::problem::ApiError;
use super::AppState;
use millwright_tenants::role::Role;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nobody needs to sign in (health, OpenAPI, login).
    Public,
    /// Any signed-in caller (who am I, logout).
    SignedIn,
    /// The platform operator's key.
    Operator,
    /// A tenant caller whose role and plan allow the action.
    Tenant(Action),
    /// A shop's storefront key (`mws_…`, issue #14): templates, quotes, placing an order and
    /// reading it by its token, nothing else; rate-limited per key.
    Storefront,
}

use Access::*;
use Action::*;

/// Every route, with what it needs. Paths are axum's route patterns.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/refresh", Public),
    ("POST", "/api/v1/auth/logout", SignedIn),
    ("GET", "/api/v1/me", SignedIn),
    ("POST", "/api/v1/admin/tenants", Operator),
    ("POST", "/api/v1/admin/bureau-users", Operator),
    ("GET", "/api/v1/tenant", Tenant(ReadUsage)),
    ("PATCH", "/api/v1/tenant", Tenant(ManageTenant)),
    ("GET", "/api/v1/usage", Tenant(ReadUsage)),
    ("GET", "/api/v1/audit", Tenant(ReadAuditLog)),
    ("GET", "/api/v1/users", Tenant(ManageUsers)),
    ("POST", "/api/v1/users", Tenant(ManageUsers)),
    ("GET", "/api/v1/users/{id}", Tenant(ManageUsers)),
    ("PATCH", "/api/v1/users/{id}", Tenant(ManageUsers)),
    ("DELETE", "/api/v1/users/{id}", Tenant(ManageUsers)),
    ("GET", "/api/v1/api-keys", Tenant(ManageApiKeys)),
    ("POST", "/api/v1/api-keys", Tenant(ManageApiKeys)),
    ("DELETE", "/api/v1/api-keys/{id}", Tenant(ManageApiKeys)),
    ("POST", "/api/v1/ingest", Tenant(Ingest)),
    ("GET", "/api/v1/tags/{id}/samples", Tenant(ReadTelemetry)),
    ("GET", "/api/v1/samples/latest", Tenant(ReadTelemetry)),
    ("GET", "/api/v1/sites", Tenant(ReadPlantModel)),
    ("POST", "/api/v1/sites", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/sites/{id}", Tenant(ReadPlantModel)),
    ("PATCH", "/api/v1/sites/{id}", Tenant(ManagePlantModel)),
    ("DELETE", "/api/v1/sites/{id}", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/lines", Tenant(ReadPlantModel)),
    ("POST", "/api/v1/lines", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/lines/{id}", Tenant(ReadPlantModel)),
    ("PATCH", "/api/v1/lines/{id}", Tenant(ManagePlantModel)),
    ("DELETE", "/api/v1/lines/{id}", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/machines", Tenant(ReadPlantModel)),
    ("POST", "/api/v1/machines", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/machines/{id}", Tenant(ReadPlantModel)),
    ("PATCH", "/api/v1/machines/{id}", Tenant(ManagePlantModel)),
    ("DELETE", "/api/v1/machines/{id}", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/tags", Tenant(ReadPlantModel)),
    ("POST", "/api/v1/tags", Tenant(ManagePlantModel)),
    ("GET", "/api/v1/tags/{id}", Tenant(ReadPlantModel)),
    ("PATCH", "/api/v1/tags/{id}", Tenant(ManagePlantModel)),
    ("DELETE", "/api/v1/tags/{id}", Tenant(ManagePlantModel)),
    ("POST", "/api/v1/tags/{id}/commands", Tenant(IssueCommands)),
    ("GET", "/api/v1/commands/pending", Tenant(ExecuteCommands)),
    (
        "POST",
        "/api/v1/commands/{id}/result",
        Tenant(ExecuteCommands),
    ),
    ("GET", "/api/v1/commands/{id}", Tenant(ReadTelemetry)),
    (
        "POST",
        "/api/v1/machines/{id}/events",
        Tenant(RecordMachineEvents),
    ),
    ("GET", "/api/v1/machines/{id}/events", Tenant(ReadTelemetry)),
    (
        "DELETE",
        "/api/v1/machines/{id}/events/{event_id}",
        Tenant(RecordMachineEvents),
    ),
    ("POST", "/api/v1/models/training-jobs", Tenant(TrainModel)),
    (
        "GET",
        "/api/v1/models/training-jobs/{id}",
        Tenant(ReadPredictions),
    ),
    ("GET", "/api/v1/models/versions", Tenant(ReadPredictions)),
    (
        "GET",
        "/api/v1/models/versions/{id}",
        Tenant(ReadPredictions),
    ),
    (
        "POST",
        "/api/v1/models/versions/{id}/promote",
        Tenant(PromoteModel),
    ),
    ("GET", "/api/v1/alarms", Tenant(ReadAlarms)),
    ("POST", "/api/v1/alarms/{id}/ack", Tenant(AcknowledgeAlarms)),
    // Issue #13: shelving, alarm rules (every plan), webhooks (admins).
    (
        "POST",
        "/api/v1/alarms/{id}/shelve",
        Tenant(AcknowledgeAlarms),
    ),
    ("GET", "/api/v1/alarm-rules", Tenant(ReadAlarms)),
    ("POST", "/api/v1/alarm-rules", Tenant(ManageAlarmRules)),
    ("GET", "/api/v1/alarm-rules/{id}", Tenant(ReadAlarms)),
    (
        "PATCH",
        "/api/v1/alarm-rules/{id}",
        Tenant(ManageAlarmRules),
    ),
    (
        "DELETE",
        "/api/v1/alarm-rules/{id}",
        Tenant(ManageAlarmRules),
    ),
    ("GET", "/api/v1/webhooks", Tenant(ManageWebhooks)),
    ("POST", "/api/v1/webhooks", Tenant(ManageWebhooks)),
    ("GET", "/api/v1/webhooks/{id}", Tenant(ManageWebhooks)),
    ("PATCH", "/api/v1/webhooks/{id}", Tenant(ManageWebhooks)),
    ("DELETE", "/api/v1/webhooks/{id}", Tenant(ManageWebhooks)),
    (
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
        Tenant(ManageWebhooks),
    ),
    (
        "POST",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        Tenant(ManageWebhooks),
    ),
    ("POST", "/api/v1/webhooks/{id}/test", Tenant(ManageWebhooks)),
    // Issue #13: MES (the MES plan).
    ("GET", "/api/v1/machines/{id}/states", Tenant(ReadMes)),
    ("GET", "/api/v1/machine-states/current", Tenant(ReadMes)),
    ("GET", "/api/v1/state-rules", Tenant(ReadMes)),
    (
        "PUT",
        "/api/v1/state-rules/classes/{class}",
        Tenant(ManageWorkOrders),
    ),
    (
        "PUT",
        "/api/v1/machines/{id}/state-rule",
        Tenant(ManageWorkOrders),
    ),
    (
        "DELETE",
        "/api/v1/state-rules/{id}",
        Tenant(ManageWorkOrders),
    ),
    (
        "POST",
        "/api/v1/machines/{id}/states/recompute",
        Tenant(ManageWorkOrders),
    ),
    ("GET", "/api/v1/sites/{id}/calendar", Tenant(ReadMes)),
    (
        "PUT",
        "/api/v1/sites/{id}/calendar",
        Tenant(ManageWorkOrders),
    ),
    ("GET", "/api/v1/reason-codes", Tenant(ReadMes)),
    ("POST", "/api/v1/reason-codes", Tenant(ManageWorkOrders)),
    ("GET", "/api/v1/machines/{id}/downtime", Tenant(ReadMes)),
    (
        "POST",
        "/api/v1/machines/{id}/downtime/reasons",
        Tenant(RecordProduction),
    ),
    ("GET", "/api/v1/products", Tenant(ReadMes)),
    ("POST", "/api/v1/products", Tenant(ManageWorkOrders)),
    ("GET", "/api/v1/work-orders", Tenant(ReadMes)),
    ("POST", "/api/v1/work-orders", Tenant(ManageWorkOrders)),
    ("GET", "/api/v1/work-orders/{id}", Tenant(ReadMes)),
    (
        "POST",
        "/api/v1/work-orders/{id}/transition",
        Tenant(ManageWorkOrders),
    ),
    ("GET", "/api/v1/work-orders/{id}/trace", Tenant(ReadMes)),
    (
        "POST",
        "/api/v1/machines/{id}/production",
        Tenant(RecordProduction),
    ),
    ("GET", "/api/v1/oee", Tenant(ReadMes)),
    // Issue #15: quality (MES plan); characteristics are configured by engineers.
    ("POST", "/api/v1/quality/records", Tenant(RecordProduction)),
    ("GET", "/api/v1/quality/records", Tenant(ReadMes)),
    ("GET", "/api/v1/quality/yield", Tenant(ReadMes)),
    ("GET", "/api/v1/quality/pareto", Tenant(ReadMes)),
    ("GET", "/api/v1/quality/characteristics", Tenant(ReadMes)),
    (
        "POST",
        "/api/v1/quality/characteristics",
        Tenant(ManageWorkOrders),
    ),
    (
        "GET",
        "/api/v1/quality/characteristics/{id}",
        Tenant(ReadMes),
    ),
    (
        "PATCH",
        "/api/v1/quality/characteristics/{id}",
        Tenant(ManageWorkOrders),
    ),
    (
        "GET",
        "/api/v1/quality/characteristics/{id}/chart",
        Tenant(ReadMes),
    ),
    (
        "GET",
        "/api/v1/quality/characteristics/{id}/capability",
        Tenant(ReadMes),
    ),
    (
        "GET",
        "/api/v1/quality/predictions",
        Tenant(ReadPredictions),
    ),
    (
        "GET",
        "/api/v1/quality/root-causes",
        Tenant(ReadPredictions),
    ),
    // The web console: its shell and files are public; its data comes through the routes
    // above. The audit chain's verification is for the console's audit page.
    ("GET", "/", Public),
    ("GET", "/console", Public),
    ("GET", "/console/", Public),
    ("GET", "/console/v/{version}/{*path}", Public),
    ("GET", "/api/v1/audit/verify", Tenant(ReadAuditLog)),
    // Issue #14: C2B custom orders (Pro plan) and the storefront's narrow scope.
    ("GET", "/api/v1/order-templates", Tenant(ReadCustomOrders)),
    (
        "POST",
        "/api/v1/order-templates",
        Tenant(ManageCustomOrders),
    ),
    (
        "GET",
        "/api/v1/order-templates/{id}",
        Tenant(ReadCustomOrders),
    ),
    (
        "PUT",
        "/api/v1/order-templates/{id}",
        Tenant(ManageCustomOrders),
    ),
    ("GET", "/api/v1/storefront-keys", Tenant(ManageCustomOrders)),
    (
        "POST",
        "/api/v1/storefront-keys",
        Tenant(ManageCustomOrders),
    ),
    (
        "DELETE",
        "/api/v1/storefront-keys/{id}",
        Tenant(ManageCustomOrders),
    ),
    ("GET", "/api/v1/orders", Tenant(ReadCustomOrders)),
    ("GET", "/api/v1/orders/board", Tenant(ReadCustomOrders)),
    ("GET", "/api/v1/orders/{id}", Tenant(ReadCustomOrders)),
    (
        "GET",
        "/api/v1/orders/{id}/timeline",
        Tenant(ReadCustomOrders),
    ),
    (
        "POST",
        "/api/v1/orders/{id}/transitions",
        Tenant(ManageCustomOrders),
    ),
    ("GET", "/api/v1/shop/templates", Storefront),
    ("GET", "/api/v1/shop/templates/{id}", Storefront),
    ("POST", "/api/v1/shop/quotes", Storefront),
    ("POST", "/api/v1/shop/orders", Storefront),
    ("GET", "/api/v1/shop/orders/{token}", Storefront),
    // Issue #16: bureaus read sector indices; tenants choose what they share.
    (
        "GET",
        "/api/v1/bureau/indices",
        Tenant(ReadSectorAggregates),
    ),
    (
        "GET",
        "/api/v1/bureau/indices/{index}/series",
        Tenant(ReadSectorAggregates),
    ),
    (
        "GET",
        "/api/v1/bureau/indices/{index}/cross-section",
        Tenant(ReadSectorAggregates),
    ),
    ("GET", "/api/v1/sharing", Tenant(ReadUsage)),
    ("PUT", "/api/v1/sharing", Tenant(ManageTenant)),
    ("GET", "/api/v1/sharing/contributions", Tenant(ReadUsage)),
];

/// What `method path` needs; `None` for a route not in the table.
pub fn access_for(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, a)| *a)
}

/// The middleware: authenticates, authorises and rate-limits, then hands the handler a
/// [`Principal`] in the request's extensions.
pub async fn enforce(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // No route matched: the fallback answers 404 for everyone.
        return next.run(req).await;
    };
    // HEAD is served by the GET handler, with the GET route's access.
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let access = match access_for(&method, &path) {
        Some(a) => a,
        None => {
            let allowed = methods_of(&path);
            if !allowed.is_empty() {
                return method_not_allowed(&method, &allowed);
            }
            tracing::error!(method = %req.method(), path, "Route missing from the access table; refused.");
            return ApiError::forbidden("this route is not open to anyone yet").into_response();
        }
    };
    if access == Storefront {
        let mut response = match super::orders_shop::admit(&state, req.headers()).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                next.run(req).await
            }
            Err(e) => e.into_response(),
        };
        response.extensions_mut().insert(RouteTemplate(path));
        return response;
    }
    let mut response = match admit(&state, req.headers(), access).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    // The problem layer names path parameters from it (see `problem::normalize`).
    response.extensions_mut().insert(RouteTemplate(path));
    response
}

/// The route a response came from, as its pattern (`/api/v1/sites/{id}`).
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub String);

/// The methods the access table lists for `path`.
pub fn methods_of(path: &str) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect()
}

/// 405 with `Allow`, as problem+json.
fn method_not_allowed(method: &Method, allowed: &[&str]) -> Response {
    let mut allow: Vec<&str> = allowed.to_vec();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    let allow = allow.join(", ");
    let mut response = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here; allowed: {allow}"),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, value);
    }
    response
}

async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<Option<Principal>, ApiError> {
    match access {
        Public => Ok(None),
        // Handled in `enforce` (its caller is not a `Principal`).
        Storefront => Err(ApiError::unauthorized("a storefront key is needed here")),
        Operator => operator(state, bearer(headers)?).map(Some),
        SignedIn => Ok(Some(authenticate(state, bearer(headers)?).await?)),
        Tenant(action) => {
            let principal = authenticate(state, bearer(headers)?).await?;
            match decide(principal.role, principal.plan, action) {
                Decision::Allowed => {}
                d @ Decision::RoleForbids { .. } => {
                    return Err(ApiError::forbidden(d.to_string()).with_kind("role"))
                }
                d @ Decision::PlanExcludes { .. } => {
                    return Err(ApiError::forbidden(d.to_string()).with_kind("plan"))
                }
            }
            // A key issued by a user does no more than that user may do now.
            if let Some(ceiling) = principal.ceiling {
                if let d @ Decision::RoleForbids { .. } = decide(ceiling, principal.plan, action) {
                    return Err(ApiError::forbidden(format!(
                        "this key's issuer is now {ceiling}, and a key does no more than its \
                         issuer: {d}"
                    ))
                    .with_kind("role"));
                }
            }
            // Connectors' device tokens are not metered per minute: a plant's connectors
            // flush every second or so, and throttling them would only grow their queues
            // until they drop data. Their load is bounded by the samples-per-day quota.
            let metered = principal.role != Role::Device;
            if let (Some(tenant), Some(plan), true) = (principal.tenant, principal.plan, metered) {
                let per_minute = plan.quotas().requests_per_minute;
                if let Err(wait) = state.limiter.check(&tenant, per_minute) {
                    return Err(ApiError::too_many_requests(
                        format!(
                            "the {plan} plan allows {per_minute} API requests per minute; \
                             retry after the Retry-After seconds"
                        ),
                        retry_after_secs(wait),
                    )
                    .with_kind("quota"));
                }
            }
            Ok(Some(principal))
        }
    }
}

fn operator(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let Some(expected) = state.settings.auth.operator_key_sha256.as_deref() else {
        return Err(ApiError::forbidden(
            "the admin API is disabled: set auth.operator_key_sha256",
        ));
    };
    let presented = hex::encode(Sha256::digest(key.as_bytes()));
    // Both sides are digests of the same length, so comparing them leaks nothing useful.
    if presented.eq_ignore_ascii_case(expected.trim()) {
        Ok(Principal {
            tenant: None,
            role: Role::Owner,
            plan: None,
            actor: "operator".into(),
            via: Credential::Operator,
            ceiling: None,
            site: None,
            issuer: None,
        })
    } else {
        Err(ApiError::unauthorized("invalid operator key"))
    }
}
