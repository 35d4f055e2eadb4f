//! The tenant's side of C2B orders: `GET /orders` (list), `GET /orders/board` (orders per
//! state, each line's booking), `GET /orders/{id}` (with steps, progress, quality and
//! timeline), `GET /orders/{id}/timeline` and `POST /orders/{id}/transitions` (409 naming
//! the allowed states). Storage and the flows in `store::orders`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::orders::state::OrderState;
use crate::store::orders::flow::{OrderBoard, OrderOutcome};
use crate::store::orders::view::{CustomOrder, OrderSummary, TimelineEntry};

/// Query of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Only orders in this state.
    state: Option<OrderState>,
    /// Most to return, newest first (default 100, at most 1000).
    limit: Option<i64>,
}

/// A transition to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The state to move to. Required.
    pub to: Option<OrderState>,
    /// Why, shown on the timeline (at most 2000 characters).
    #[serde(default)]
    pub note: String,
}

/// The tenant's orders, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(OrderQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Vec<OrderSummary>))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<OrderQuery>,
) -> ApiResult<axum::Json<Vec<OrderSummary>>> {
    let limit = super::input::limit(q.limit, 100, 1000)?;
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.custom_orders(q.state, limit).await?))
}

/// Orders per state, and each line's share of the order schedule from now on.
#[utoipa::path(
    get, path = "/orders/board", tag = "orders",
    security(("api_key" = [])),
    responses((status = 200, body = OrderBoard))
)]
pub async fn board(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<OrderBoard>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.order_board(Utc::now()).await?))
}

/// One order, with its steps, progress from its work orders, quality records and timeline.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "The order's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = CustomOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CustomOrder>> {
    let mut session = caller.session(&state.store).await?;
    let order = session.custom_order(id, Utc::now()).await?;
    state.webhook_wake.notify_one();
    order
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("order"))
}

/// An order's timeline: every transition, oldest first, with local times.
#[utoipa::path(
    get, path = "/orders/{id}/timeline", tag = "orders",
    params(("id" = i64, Path, description = "The order's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<TimelineEntry>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<TimelineEntry>>> {
    let mut session = caller.session(&state.store).await?;
    session
        .custom_order(id, Utc::now())
        .await?
        .map(|o| axum::Json(o.timeline))
        .ok_or_else(|| ApiError::not_found("order"))
}

/// The 409 of a transition that is not allowed, naming the allowed ones.
pub fn refused(from: OrderState, to: &str, allowed: &[OrderState]) -> ApiError {
    let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "a {from} order cannot become {to}; it may become: {}",
            if allowed.is_empty() {
                "nothing (it is finished)".into()
            } else {
                allowed.join(", ")
            }
        ),
    )
    .with_kind("transition")
    .with_field("to")
}

/// A 409 about dates and capacity, with the order (quoted again) beside the problem.
pub fn new_date(was: chrono::NaiveDate, order: &CustomOrder) -> (StatusCode, serde_json::Value) {
    let date = order
        .promised_ship_date
        .map(|d| d.to_string())
        .unwrap_or_default();
    (
        StatusCode::CONFLICT,
        serde_json::json!({
            "type": "/problems/promised-date",
            "title": "Conflict",
            "status": 409,
            "detail": format!(
                "the lines filled up: the promised ship date {was} can no longer be kept; the \
                 order is quoted again for {date}, place it again to accept"
            ),
            "field": "promised_ship_date",
            "promised_ship_date": date,
            "quote_valid_until": order.quote_valid_until,
            "order": order,
        }),
    )
}

/// The answer for an outcome other than done (a response is large, but this runs once per
/// request).
#[allow(clippy::result_large_err)]
pub fn outcome_error(to: &str, outcome: OrderOutcome) -> Result<Box<CustomOrder>, Response> {
    match outcome {
        OrderOutcome::Done(o) => Ok(o),
        OrderOutcome::NotFound => Err(ApiError::not_found("order").into_response()),
        OrderOutcome::Refused { from, allowed } => Err(refused(from, to, &allowed).into_response()),
        OrderOutcome::Expired(at) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the quote expired at {at}; ask for a new quote"),
        )
        .with_kind("quote-expired")
        .with_field("quote_valid_until")
        .into_response()),
        OrderOutcome::NewDate { was, order } => Err(problem_json(new_date(was, &order))),
        OrderOutcome::Unschedulable(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the plant cannot make this order: {why}"),
        )
        .with_kind("capacity")
        .with_field("capacity")
        .into_response()),
        OrderOutcome::QualityFailed(q) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the quality check holds it: {} of {} inspected units passed, fewer than ordered",
                q.passed, q.inspected
            ),
        )
        .with_kind("quality")
        .with_field("to")
        .into_response()),
    }
}

/// A problem+json response from a status and a body.
pub fn problem_json((status, body): (StatusCode, serde_json::Value)) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// Moves an order. Confirming a quoted order schedules it at once (409 with a new date when
/// the quoted one can no longer be kept); cancelling or rejecting a scheduled order cancels
/// its work orders; shipping checks the quality records of its last step.
#[utoipa::path(
    post, path = "/orders/{id}/transitions", tag = "orders",
    params(("id" = i64, Path, description = "The order's id")),
    request_body = TransitionBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = CustomOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the order's state (the allowed ones are named), the date cannot be kept, no capacity, or the quality check failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<TransitionBody>,
) -> Result<axum::Json<CustomOrder>, Response> {
    let to = body
        .to
        .ok_or_else(|| ApiError::field("to", "missing").into_response())?;
    if body.note.chars().count() > 2000 {
        return Err(ApiError::field("note", "at most 2000 characters").into_response());
    }
    let mut session = caller
        .session(&state.store)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let outcome = session
        .transition_order(id, to, &body.note, Utc::now())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    state.webhook_wake.notify_one();
    let o = outcome_error(to.as_str(), outcome)?;
    tracing::info!(tenant = %caller.tenant, order = id, state = to.as_str(), "Order moved.");
    Ok(axum::Json(*o))
}
