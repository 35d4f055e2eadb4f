//! Machine states (issue #13): `GET /machines/{id}/states?from&to`, the current state of every
//! machine in one call (`GET /machine-states/current`), the rules that derive states
//! (`/state-rules`), and recomputation of a range. Built by `store::mes` from the samples in
//! the maintenance rounds of `serve` and `demo`; the MES plan's routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::mes::state::StateRule;
use crate::store::mes::{CurrentState, StateSpan, StoredRule};

/// Longest range of one states request.
const MAX_STATE_DAYS: i64 = 31;

/// A time range `[from, to)`; `to` defaults to now and `from` to a day before `to`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start (RFC 3339); default a day before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
}

impl RangeQuery {
    /// The range, checked: `to` after `from`, at most `max_days` long.
    pub fn range(&self, max_days: i64) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::days(1));
        if to <= from {
            return Err(ApiError::field("to", "must be after `from`"));
        }
        if to - from > Duration::days(max_days) {
            return Err(ApiError::field(
                "from",
                format!("the range may span at most {max_days} days"),
            ));
        }
        Ok((from, to))
    }
}

/// A machine's states over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineStates {
    /// The machine.
    pub machine_id: i64,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end.
    pub to: DateTime<Utc>,
    /// Intervals, oldest first, clipped to the range; time none covers is `unknown`.
    pub intervals: Vec<StateSpan>,
}

/// A machine's state intervals over `[from, to)` (at most 31 days).
#[utoipa::path(
    get, path = "/machines/{id}/states", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id"), RangeQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = MachineStates),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn states(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<MachineStates>> {
    let (from, to) = q.range(MAX_STATE_DAYS)?;
    let mut session = caller.session(&state.store).await?;
    let intervals = session
        .machine_states(machine_id, from, to)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    let intervals = crate::mes::state::timeline(&intervals, from, to.min(Utc::now()).max(from))
        .into_iter()
        .map(StateSpan::from)
        .collect();
    Ok(axum::Json(MachineStates {
        machine_id,
        from,
        to,
        intervals,
    }))
}

/// The current state of every machine (a plant overview).
#[utoipa::path(
    get, path = "/machine-states/current", tag = "mes",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<CurrentState>))
)]
pub async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<CurrentState>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.current_states().await?))
}

/// A state rule to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// The rule. Required.
    pub rule: Option<StateRule>,
    /// Recompute the affected machines' states from this time (default: a day ago).
    pub recompute_from: Option<DateTime<Utc>>,
}

fn checked_rule(body: RuleBody) -> ApiResult<(StateRule, DateTime<Utc>)> {
    let rule = body
        .rule
        .ok_or_else(|| ApiError::field("rule", "missing"))?;
    rule.validate()
        .map_err(|e| ApiError::field(format!("rule.{}", e.field), e.detail))?;
    let from = body
        .recompute_from
        .unwrap_or_else(|| Utc::now() - Duration::days(1));
    if from > Utc::now() {
        return Err(ApiError::field("recompute_from", "lies in the future"));
    }
    Ok((rule, from))
}

/// The stored rules (class and machine overrides); classes without one use the built-in
/// defaults.
#[utoipa::path(
    get, path = "/state-rules", tag = "mes",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<StoredRule>))
)]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<StoredRule>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.state_rules().await?))
}

/// Sets the rule of a machine class (machines of `kind` = class); their states are
/// recomputed from `recompute_from`.
#[utoipa::path(
    put, path = "/state-rules/classes/{class}", tag = "mes",
    params(("class" = String, Path, description = "The machine class (a machine's `kind`)")),
    request_body = RuleBody,
    security(("api_key" = [])),
    responses((status = 200, body = StoredRule))
)]
pub async fn put_class_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(class): Path<String>,
    Json(body): Json<RuleBody>,
) -> ApiResult<axum::Json<StoredRule>> {
    if class.is_empty() || class.chars().count() > 200 {
        return Err(ApiError::field("class", "must be 1 to 200 characters"));
    }
    let (rule, from) = checked_rule(body)?;
    let mut session = caller.session(&state.store).await?;
    let stored = session
        .put_state_rule(Some(&class), None, &rule, from)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    Ok(axum::Json(stored))
}

/// Sets one machine's own rule (overriding its class's); its states are recomputed from
/// `recompute_from`.
#[utoipa::path(
    put, path = "/machines/{id}/state-rule", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id")),
    request_body = RuleBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = StoredRule),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_machine_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Json(body): Json<RuleBody>,
) -> ApiResult<axum::Json<StoredRule>> {
    let (rule, from) = checked_rule(body)?;
    let mut session = caller.session(&state.store).await?;
    let stored = session
        .put_state_rule(None, Some(machine_id), &rule, from)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    Ok(axum::Json(stored))
}

/// Deletes a stored rule (its machines fall back to their class's rule or the default);
/// states are recomputed from a day ago.
#[utoipa::path(
    delete, path = "/state-rules/{id}", tag = "mes",
    params(("id" = i64, Path, description = "The rule's id")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut session = caller.session(&state.store).await?;
    if session
        .delete_state_rule(id, Utc::now() - Duration::days(1))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("state rule"))
    }
}

/// Where to recompute from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecomputeBody {
    /// Recompute from this time (RFC 3339). Required.
    pub from: Option<DateTime<Utc>>,
}

/// Has a machine's states and counts rebuilt from `from` by the next maintenance rounds
/// (after late samples arrived, say).
#[utoipa::path(
    post, path = "/machines/{id}/states/recompute", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id")),
    request_body = RecomputeBody,
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Accepted: the next rounds rebuild the states"),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn recompute(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Json(body): Json<RecomputeBody>,
) -> ApiResult<StatusCode> {
    let from = body
        .from
        .ok_or_else(|| ApiError::field("from", "missing"))?;
    if from > Utc::now() {
        return Err(ApiError::field("from", "lies in the future"));
    }
    let mut session = caller.session(&state.store).await?;
    if session.recompute_states(machine_id, from).await? {
        tracing::info!(tenant = %caller.tenant, machine = machine_id, from = %from, "Machine states will be recomputed.");
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found("machine"))
    }
}
