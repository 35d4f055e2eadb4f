//! Machine events, the labels of predictive maintenance: `POST /machines/{id}/events` records a
//! failure, repair or maintenance; `GET /machines/{id}/events` lists them; `DELETE
//! /machines/{id}/events/{event_id}` removes one recorded by mistake (models already trained
//! keep what they learnt). Storage is in
//! `store::events`; another tenant's machine is a plain 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::events::{EventKind, MachineEvent, NewEvent};

/// An event to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// `failure`, `repair` or `maintenance`. Required.
    pub kind: Option<EventKind>,
    /// When it happened (RFC 3339). Required; not more than `ingest.max_future_secs` ahead.
    pub at: Option<DateTime<Utc>>,
    /// Alarm or failure code, e.g. `101` (at most 200 characters).
    #[serde(default)]
    pub code: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    pub note: String,
}

/// Query parameters of `GET /machines/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Most to return (default 1000, at most 10000), oldest first.
    limit: Option<i64>,
}

/// Records an event of a machine.
#[utoipa::path(
    post, path = "/machines/{id}/events", tag = "maintenance",
    params(("id" = i64, Path, description = "The machine's id")),
    request_body = EventBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = MachineEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Json(body): Json<EventBody>,
) -> ApiResult<(StatusCode, axum::Json<MachineEvent>)> {
    let kind = body
        .kind
        .ok_or_else(|| ApiError::field("kind", "missing"))?;
    let at = body.at.ok_or_else(|| ApiError::field("at", "missing"))?;
    if at > Utc::now() + Duration::seconds(state.settings.ingest.max_future_secs) {
        return Err(ApiError::field("at", "lies in the future"));
    }
    if body.code.chars().count() > 200 {
        return Err(ApiError::field("code", "at most 200 characters"));
    }
    if body.note.chars().count() > 2000 {
        return Err(ApiError::field("note", "at most 2000 characters"));
    }
    let event = NewEvent {
        kind,
        at,
        code: body.code,
        note: body.note,
    };
    let mut session = caller.session(&state.store).await?;
    let recorded = session
        .record_event(machine_id, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    tracing::info!(tenant = %caller.tenant, machine = machine_id, kind = kind.as_str(), at = %at, "Machine event recorded.");
    Ok((StatusCode::CREATED, axum::Json(recorded)))
}

/// Lists a machine's events, oldest first.
#[utoipa::path(
    get, path = "/machines/{id}/events", tag = "maintenance",
    params(("id" = i64, Path, description = "The machine's id"), EventQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<MachineEvent>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Query(q): Query<EventQuery>,
) -> ApiResult<axum::Json<Vec<MachineEvent>>> {
    let limit = super::input::limit(q.limit, 1000, 10_000)?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to <= from {
            return Err(ApiError::field("to", "must be after `from`"));
        }
    }
    let mut session = caller.session(&state.store).await?;
    session
        .machine_events(machine_id, q.from, q.to, limit)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("machine"))
}

/// Deletes an event recorded by mistake.
#[utoipa::path(
    delete, path = "/machines/{id}/events/{event_id}", tag = "maintenance",
    params(
        ("id" = i64, Path, description = "The machine's id"),
        ("event_id" = i64, Path, description = "The event's id"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((machine_id, event_id)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let mut session = caller.session(&state.store).await?;
    if session.delete_event(machine_id, event_id).await? {
        tracing::info!(tenant = %caller.tenant, machine = machine_id, event = event_id, "Machine event deleted.");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("event"))
    }
}
