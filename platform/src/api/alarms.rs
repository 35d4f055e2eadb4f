//! Predictive-maintenance alarms: `GET /alarms?state=open` lists them, `POST /alarms/{id}/ack`
//! records that an engineer has seen one. The scorer (`maintenance::scoring`) raises and
//! clears them; storage is in `store::alarms`.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use bytes::Bytes;

use super::extract::{parse_json, Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::alarms::{Alarm, AlarmState};

/// Query parameters of `GET /alarms`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlarmQuery {
    /// `open`, `cleared` or `all` (default).
    #[param(inline)]
    state: Option<AlarmState>,
    /// Only alarms of this machine.
    machine_id: Option<i64>,
    /// Most to return (default 100, at most 1000), newest first.
    limit: Option<i64>,
}

/// An acknowledgement.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Who acknowledges (1 to 200 characters; default `api key`).
    pub by: Option<String>,
}

/// Lists alarms, newest first.
#[utoipa::path(
    get, path = "/alarms", tag = "maintenance",
    params(AlarmQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Alarm>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AlarmQuery>,
) -> ApiResult<axum::Json<Vec<Alarm>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let mut session = caller.session(&state.store).await?;
    let rows = session
        .alarms(q.state.unwrap_or_default(), q.machine_id, limit)
        .await?;
    Ok(axum::Json(rows))
}

/// Acknowledges an alarm (the body is optional); the first acknowledgement stands.
#[utoipa::path(
    post, path = "/alarms/{id}/ack", tag = "maintenance",
    params(("id" = i64, Path, description = "The alarm's id")),
    request_body = AckBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Alarm),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<Alarm>> {
    // The body is optional: `POST /alarms/{id}/ack` alone acknowledges too.
    let body: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        parse_json(&body)?
    };
    // Who acknowledged is the signed-in caller; `by` may add the person at a shared console.
    if let Some(by) = &body.by {
        if by.trim().is_empty() || by.chars().count() > 200 {
            return Err(ApiError::field("by", "must be 1 to 200 characters"));
        }
    }
    let actor = &caller.principal.actor;
    let by = match body.by {
        Some(by) => format!("{actor} ({by})"),
        None => actor.clone(),
    };
    let mut session = caller.session(&state.store).await?;
    let alarm = session
        .acknowledge_alarm(id, &by)
        .await?
        .ok_or_else(|| ApiError::not_found("alarm"))?;
    tracing::info!(tenant = %caller.tenant, alarm = id, by = %by, "Alarm acknowledged.");
    Ok(axum::Json(alarm))
}
