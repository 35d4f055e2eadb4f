//! Products (`/products`), work orders (`/work-orders`, transitions with 409 on a bad one, the
//! trace) and production recorded by operators (`POST /machines/{id}/production`). Storage in
//! `store::mes::orders`, the state machine in `mes::work_order`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::mes::work_order::WorkOrderState;
use crate::store::mes::oee::Trace;
use crate::store::mes::orders::{NewWorkOrder, Product, ProductionRecord, Transition, WorkOrder};

/// A new product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    /// Code, unique in the tenant (1 to 100 characters). Required.
    pub code: Option<String>,
    /// Name (1 to 200 characters). Required.
    pub name: Option<String>,
    /// Ideal cycle time in seconds per machine class, e.g. `{"cnc": 240}`. Required.
    pub ideal_cycle_secs: Option<BTreeMap<String, f64>>,
}

/// The tenant's products.
#[utoipa::path(
    get, path = "/products", tag = "mes",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<Product>))
)]
pub async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Product>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.products().await?))
}

/// Adds a product with its ideal cycle times.
#[utoipa::path(
    post, path = "/products", tag = "mes",
    request_body = ProductBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Product),
        (status = 409, description = "The code exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ProductBody>,
) -> ApiResult<(StatusCode, axum::Json<Product>)> {
    let code = body
        .code
        .ok_or_else(|| ApiError::field("code", "missing"))?;
    if code.is_empty() || code.chars().count() > 100 {
        return Err(ApiError::field("code", "must be 1 to 100 characters"));
    }
    let name = body
        .name
        .ok_or_else(|| ApiError::field("name", "missing"))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let ideal = body
        .ideal_cycle_secs
        .ok_or_else(|| ApiError::field("ideal_cycle_secs", "missing"))?;
    if ideal.len() > 100 {
        return Err(ApiError::field(
            "ideal_cycle_secs",
            "at most 100 machine classes",
        ));
    }
    for (class, secs) in &ideal {
        if class.is_empty() || class.chars().count() > 200 {
            return Err(ApiError::field(
                "ideal_cycle_secs",
                "class names are 1 to 200 characters",
            ));
        }
        if !(secs.is_finite() && *secs > 0.0 && *secs <= 86_400.0) {
            return Err(ApiError::field(
                format!("ideal_cycle_secs.{class}"),
                "must be above 0 and at most 86400",
            ));
        }
    }
    let mut session = caller.session(&state.store).await?;
    let p = session
        .create_product(&code, &name, &ideal)
        .await
        .map_err(|e| ApiError::from(e).with_field_if_conflict("code"))?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// Query of `GET /work-orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkOrderQuery {
    /// Only orders of this machine.
    pub machine_id: Option<i64>,
    /// Only orders in this state.
    #[param(inline)]
    pub state: Option<WorkOrderState>,
}

/// Work orders, newest first.
#[utoipa::path(
    get, path = "/work-orders", tag = "mes",
    params(WorkOrderQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Vec<WorkOrder>))
)]
pub async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<WorkOrderQuery>,
) -> ApiResult<axum::Json<Vec<WorkOrder>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(
        session.work_orders(q.machine_id, q.state).await?,
    ))
}

/// A new work order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderBody {
    /// Order number, unique in the tenant (1 to 100 characters). Required.
    pub number: Option<String>,
    /// The product. Required.
    pub product_id: Option<i64>,
    /// Quantity to make (above 0). Required.
    pub quantity: Option<i64>,
    /// The machine it runs on. Required.
    pub machine_id: Option<i64>,
    /// Due date (RFC 3339).
    pub due_at: Option<DateTime<Utc>>,
}

/// Adds a work order (state `planned`).
#[utoipa::path(
    post, path = "/work-orders", tag = "mes",
    request_body = WorkOrderBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = WorkOrder),
        (status = 409, description = "The number exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<WorkOrderBody>,
) -> ApiResult<(StatusCode, axum::Json<WorkOrder>)> {
    let number = body
        .number
        .ok_or_else(|| ApiError::field("number", "missing"))?;
    if number.is_empty() || number.chars().count() > 100 {
        return Err(ApiError::field("number", "must be 1 to 100 characters"));
    }
    let product_id = body
        .product_id
        .ok_or_else(|| ApiError::field("product_id", "missing"))?;
    let quantity = body
        .quantity
        .ok_or_else(|| ApiError::field("quantity", "missing"))?;
    if quantity <= 0 {
        return Err(ApiError::field("quantity", "must be above 0"));
    }
    let machine_id = body
        .machine_id
        .ok_or_else(|| ApiError::field("machine_id", "missing"))?;
    let mut session = caller.session(&state.store).await?;
    let w = session
        .create_work_order(&NewWorkOrder {
            number,
            product_id,
            quantity,
            machine_id,
            due_at: body.due_at,
        })
        .await
        .map_err(|e| ApiError::from(e).with_field_if_conflict("number"))?;
    tracing::info!(tenant = %caller.tenant, work_order = w.id, machine = machine_id, "Work order created.");
    Ok((StatusCode::CREATED, axum::Json(w)))
}

/// A work order.
#[utoipa::path(
    get, path = "/work-orders/{id}", tag = "mes",
    params(("id" = i64, Path, description = "The work order's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = WorkOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WorkOrder>> {
    let mut session = caller.session(&state.store).await?;
    session
        .work_order(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("work order"))
}

/// A transition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The state to move to. Required.
    pub state: Option<WorkOrderState>,
    /// When (default now; not in the future). Starting opens a run window there, pausing or
    /// completing closes it.
    pub at: Option<DateTime<Utc>>,
}

/// Moves a work order: planned → released → running → completed → closed (running may go
/// back to released; planned or released may be cancelled). Anything else is 409.
#[utoipa::path(
    post, path = "/work-orders/{id}/transition", tag = "mes",
    params(("id" = i64, Path, description = "The work order's id")),
    request_body = TransitionBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = WorkOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state, or another order runs on the machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<TransitionBody>,
) -> ApiResult<axum::Json<WorkOrder>> {
    let to = body
        .state
        .ok_or_else(|| ApiError::field("state", "missing"))?;
    let at = body.at.unwrap_or_else(Utc::now);
    if at > Utc::now() + Duration::seconds(state.settings.ingest.max_future_secs) {
        return Err(ApiError::field("at", "lies in the future"));
    }
    let mut session = caller.session(&state.store).await?;
    match session.transition_work_order(id, to, at).await? {
        Transition::Done(w) => {
            tracing::info!(tenant = %caller.tenant, work_order = id, state = to.as_str(), "Work order moved.");
            Ok(axum::Json(w))
        }
        Transition::NotFound => Err(ApiError::not_found("work order")),
        Transition::Refused { from, allowed } => {
            let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "a {} work order cannot become {}; it may become: {}",
                    from.as_str(),
                    to.as_str(),
                    if allowed.is_empty() {
                        "nothing".into()
                    } else {
                        allowed.join(", ")
                    }
                ),
            )
            .with_field("state"))
        }
        Transition::MachineBusy(other) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("work order {other} is running on this machine; pause or complete it first"),
        )
        .with_field("state")),
    }
}

/// A work order's trace: the machines and windows that ran it, the process parameters over
/// them (with links to the series), downtime, alarms, production, quality and OEE.
#[utoipa::path(
    get, path = "/work-orders/{id}/trace", tag = "mes",
    params(("id" = i64, Path, description = "The work order's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Trace),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn trace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Trace>> {
    let mut session = caller.session(&state.store).await?;
    session
        .work_order_trace(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("work order"))
}

/// Production counted by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductionBody {
    /// When counted (default now; not in the future).
    pub at: Option<DateTime<Utc>>,
    /// Parts made, good and rejected (0 to 1,000,000). Required.
    pub produced: Option<i64>,
    /// Parts rejected (0 to `produced`).
    #[serde(default)]
    pub rejected: i64,
    /// The work order.
    pub work_order_id: Option<i64>,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    pub note: String,
}

/// Records production counted by an operator (added to what the machine's counters count).
#[utoipa::path(
    post, path = "/machines/{id}/production", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id")),
    request_body = ProductionBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = ProductionRecord),
        (status = 404, description = "No such machine or work order", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_production(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Json(body): Json<ProductionBody>,
) -> ApiResult<(StatusCode, axum::Json<ProductionRecord>)> {
    let produced = body
        .produced
        .ok_or_else(|| ApiError::field("produced", "missing"))?;
    if !(0..=1_000_000).contains(&produced) {
        return Err(ApiError::field("produced", "must be 0 to 1000000"));
    }
    if !(0..=produced).contains(&body.rejected) {
        return Err(ApiError::field("rejected", "must be 0 to `produced`"));
    }
    if body.note.chars().count() > 2000 {
        return Err(ApiError::field("note", "at most 2000 characters"));
    }
    let at = body.at.unwrap_or_else(Utc::now);
    if at > Utc::now() + Duration::seconds(state.settings.ingest.max_future_secs) {
        return Err(ApiError::field("at", "lies in the future"));
    }
    let mut session = caller.session(&state.store).await?;
    let rec = session
        .record_production(
            machine_id,
            body.work_order_id,
            at,
            produced,
            body.rejected,
            &body.note,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("machine or work order"))?;
    Ok((StatusCode::CREATED, axum::Json(rec)))
}
