//! The storefront: what a tenant's shop (its web server, holding a storefront key `mws_…`)
//! may do, and nothing else: `GET /shop/templates`, `GET /shop/templates/{id}`, `POST
//! /shop/quotes`, `POST /shop/orders` (place a quoted order) and `GET /shop/orders/{token}`
//! (an order by its own token). Each key has its own requests-per-minute rate; POSTs honour
//! `Idempotency-Key` (the same key and body answer the first reply again; the same key with
//! another body is refused with 422).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use millwright_tenants::plan::{Feature, Plan};
use millwright_tenants::rate_limit::retry_after_secs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::Json;
use super::orders_tenant::{new_date, outcome_error, problem_json};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::orders::template::TemplateSpec;
use crate::store::orders::flow::{OrderOutcome, QuoteOutcome};
use crate::store::orders::idempotency::{request_hash, Begin};
use crate::store::orders::view::CustomOrder;
use crate::store::TenantId;

/// A storefront caller, as the access layer authenticated it.
#[derive(Debug, Clone)]
pub struct ShopCaller {
    /// The shop's tenant.
    pub tenant: TenantId,
    /// The storefront key's id.
    pub key_id: i64,
    /// How the audit log names it: `storefront mws_1a2b3c4d`.
    pub actor: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ShopCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ShopCaller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <storefront key>"))
    }
}

/// Authenticates a storefront key, checks the tenant's plan and spends one request of the
/// key's rate.
pub(super) async fn admit(state: &AppState, headers: &HeaderMap) -> Result<ShopCaller, ApiError> {
    let token = super::auth::bearer(headers)?;
    let digest = crate::store::orders::storefront_digest(token)
        .ok_or_else(|| ApiError::unauthorized("a storefront key (mws_…) is needed here"))?;
    let who = state
        .store
        .authenticate_storefront(&digest)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked storefront key"))?;
    let plan = Plan::ALL
        .into_iter()
        .find(|p| p.as_str() == who.plan)
        .unwrap_or(Plan::Monitor);
    if !plan.includes(Feature::CustomOrders) {
        return Err(ApiError::forbidden(format!(
            "C2B custom orders need the {} plan; this shop's tenant is on {plan}",
            Plan::cheapest_including(Feature::CustomOrders)
        ))
        .with_kind("plan"));
    }
    let rate = u32::try_from(who.requests_per_minute).unwrap_or(1);
    if let Err(wait) = state
        .storefront_limiter
        .check(&(who.tenant.0, who.key_id), rate)
    {
        return Err(ApiError::too_many_requests(
            format!("this storefront key may make {rate} requests per minute"),
            retry_after_secs(wait),
        )
        .with_kind("quota"));
    }
    Ok(ShopCaller {
        tenant: who.tenant,
        actor: format!("storefront {}", who.prefix),
        key_id: who.key_id,
    })
}

/// A template as the shop shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShopTemplate {
    /// Id.
    pub id: i64,
    /// Its definition.
    #[serde(flatten)]
    pub spec: TemplateSpec,
}

/// The templates the shop offers.
#[utoipa::path(
    get, path = "/shop/templates", tag = "storefront",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<ShopTemplate>))
)]
pub async fn templates(
    State(state): State<AppState>,
    caller: ShopCaller,
) -> ApiResult<axum::Json<Vec<ShopTemplate>>> {
    let mut session = state.store.tenant(caller.tenant).await?;
    Ok(axum::Json(
        session
            .order_templates(true)
            .await?
            .into_iter()
            .map(|t| ShopTemplate {
                id: t.id,
                spec: t.spec,
            })
            .collect(),
    ))
}

/// One template the shop offers.
#[utoipa::path(
    get, path = "/shop/templates/{id}", tag = "storefront",
    params(("id" = i64, Path, description = "The template's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ShopTemplate),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn template(
    State(state): State<AppState>,
    caller: ShopCaller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ShopTemplate>> {
    let mut session = state.store.tenant(caller.tenant).await?;
    match session.order_template(id).await? {
        Some(t) if t.active => Ok(axum::Json(ShopTemplate {
            id: t.id,
            spec: t.spec,
        })),
        _ => Err(ApiError::not_found("template")),
    }
}

/// A configuration to quote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    /// The template. Required.
    pub template_id: Option<i64>,
    /// Option values by key. Required.
    #[schema(value_type = Object)]
    pub configuration: Option<Map<String, Value>>,
    /// Units (default 1).
    pub quantity: Option<i64>,
}

/// An order to place.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    /// The quoted order's token. Required.
    pub token: Option<String>,
    /// Who orders.
    #[serde(default)]
    pub customer: Customer,
}

/// Who orders.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Name (at most 200 characters).
    #[serde(default)]
    pub name: String,
    /// Email (at most 320 characters).
    #[serde(default)]
    pub email: String,
}

/// Runs `work` once per `Idempotency-Key` (when the request has one): a retry with the same key
/// and body gets the first reply; the same key with another body gets 422.
async fn idempotent<F, Fut>(
    state: &AppState,
    caller: &ShopCaller,
    headers: &HeaderMap,
    route: &str,
    body: &impl Serialize,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value), Response>>,
{
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Some(k.to_string()),
            _ => {
                return ApiError::field("Idempotency-Key", "1 to 255 visible ASCII characters")
                    .into_response()
            }
        },
    };
    let reply = |(status, body): (StatusCode, Value)| {
        if status.is_client_error() || status.is_server_error() {
            problem_json((status, body))
        } else {
            (status, axum::Json(body)).into_response()
        }
    };
    let Some(key) = key else {
        return match work().await {
            Ok(r) => reply(r),
            Err(e) => e,
        };
    };
    let hash = request_hash(route, &serde_json::to_vec(body).unwrap_or_default());
    // One connection at a time per request: the work takes its own, so this one is given
    // back before it runs (a request holding two could starve the pool under load).
    let begun = async {
        let mut session = state.store.tenant(caller.tenant).await?;
        session
            .idempotency_begin(caller.key_id, &key, route, &hash)
            .await
    }
    .await;
    match begun {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Begin::Mismatch) => ApiError::field(
            "Idempotency-Key",
            "this key was used with another request body; use a new key for a new request",
        )
        .with_kind("idempotency")
        .into_response(),
        Ok(Begin::InFlight) => ApiError::new(
            StatusCode::CONFLICT,
            "the first request with this Idempotency-Key is still being processed; retry shortly",
        )
        .with_kind("idempotency")
        .with_field("Idempotency-Key")
        .into_response(),
        Ok(Begin::Replay { status, body }) => {
            let mut r = reply((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body));
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            r
        }
        Ok(Begin::New) => {
            let result = work().await;
            let first = result.as_ref().ok().map(|(s, b)| (s.as_u16(), b.clone()));
            let kept = async {
                let mut session = state.store.tenant(caller.tenant).await?;
                match first {
                    Some((status, body)) => {
                        session
                            .idempotency_finish(caller.key_id, &key, status, &body)
                            .await
                    }
                    // Refused input or a server failure: nothing changed, so a retry may run
                    // again.
                    None => session.idempotency_abort(caller.key_id, &key).await,
                }
            }
            .await;
            if let Err(e) = kept {
                tracing::warn!(error = %e, "Keeping or forgetting an idempotent reply failed.");
            }
            match result {
                Ok(r) => reply(r),
                Err(e) => e,
            }
        }
    }
}

fn to_value(o: &CustomOrder) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Quotes a configuration: the price and a promised ship date from the lines' finite capacity,
/// their shift calendars and the current schedule, valid until a time. The answer's `token`
/// is the consumer's handle on the order.
#[utoipa::path(
    post, path = "/shop/quotes", tag = "storefront",
    request_body = QuoteBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer the first reply")),
    security(("api_key" = [])),
    responses(
        (status = 201, body = CustomOrder),
        (status = 404, description = "No such template in the shop", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No capacity within the scheduling horizon", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn quote(
    State(state): State<AppState>,
    caller: ShopCaller,
    headers: HeaderMap,
    Json(body): Json<QuoteBody>,
) -> Response {
    let work = || async {
        let template_id = body
            .template_id
            .ok_or_else(|| ApiError::field("template_id", "missing").into_response())?;
        let config = body
            .configuration
            .clone()
            .ok_or_else(|| ApiError::field("configuration", "missing").into_response())?;
        let quantity = body.quantity.unwrap_or(1);
        let mut session = state
            .store
            .tenant(caller.tenant)
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .acting_as(caller.actor.clone());
        let outcome = session
            .quote_order(
                template_id,
                &config,
                quantity,
                Some(caller.key_id),
                Utc::now(),
            )
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        state.webhook_wake.notify_one();
        match outcome {
            QuoteOutcome::Quoted(o) => Ok((StatusCode::CREATED, to_value(&o))),
            QuoteOutcome::NoTemplate => Err(ApiError::not_found("template")
                .with_field("template_id")
                .into_response()),
            QuoteOutcome::Invalid(e) => Err(ApiError::field(e.field, e.detail).into_response()),
            QuoteOutcome::Unschedulable(why) => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("the plant cannot make this order: {why}"),
            )
            .with_kind("capacity")
            .with_field("capacity")
            .into_response()),
        }
    };
    idempotent(&state, &caller, &headers, "POST /shop/quotes", &body, work).await
}

/// Places a quoted order: confirms it and schedules it on the lines. When the lines filled up
/// since the quote, 409 with the order quoted again for the new date (place again to
/// accept); when there is no room at all, 409 saying so.
#[utoipa::path(
    post, path = "/shop/orders", tag = "storefront",
    request_body = PlaceBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer the first reply")),
    security(("api_key" = [])),
    responses(
        (status = 201, body = CustomOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not quoted any more, the quote expired, a new date (the order is quoted again), or no capacity", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn place(
    State(state): State<AppState>,
    caller: ShopCaller,
    headers: HeaderMap,
    Json(body): Json<PlaceBody>,
) -> Response {
    let work = || async {
        let token = body
            .token
            .clone()
            .ok_or_else(|| ApiError::field("token", "missing").into_response())?;
        if body.customer.name.chars().count() > 200 {
            return Err(ApiError::field("customer.name", "at most 200 characters").into_response());
        }
        if body.customer.email.chars().count() > 320 {
            return Err(ApiError::field("customer.email", "at most 320 characters").into_response());
        }
        let customer = serde_json::to_value(&body.customer).unwrap_or(Value::Null);
        let mut session = state
            .store
            .tenant(caller.tenant)
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .acting_as(caller.actor.clone());
        let outcome = session
            .place_order(&token, &customer, Utc::now())
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        state.webhook_wake.notify_one();
        match outcome {
            // A new date is an answer worth keeping: a retry must not accept it silently.
            OrderOutcome::NewDate { was, order } => Ok(new_date(was, &order)),
            other => {
                let o = outcome_error("confirmed", other)?;
                tracing::info!(tenant = %caller.tenant, order = o.id, "Order placed and scheduled.");
                Ok((StatusCode::CREATED, to_value(&o)))
            }
        }
    };
    idempotent(&state, &caller, &headers, "POST /shop/orders", &body, work).await
}

/// An order by its token: state, promised date, progress and the timeline.
#[utoipa::path(
    get, path = "/shop/orders/{token}", tag = "storefront",
    params(("token" = String, Path, description = "The order's token (`ord_…`)")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = CustomOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn order(
    State(state): State<AppState>,
    caller: ShopCaller,
    Path(token): Path<String>,
) -> ApiResult<axum::Json<CustomOrder>> {
    if token.len() > 100 {
        return Err(ApiError::not_found("order"));
    }
    let mut session = state.store.tenant(caller.tenant).await?;
    let o = session.custom_order_by_token(&token, Utc::now()).await?;
    state.webhook_wake.notify_one();
    o.map(axum::Json)
        .ok_or_else(|| ApiError::not_found("order"))
}
