//! Alarms, from promoted models and from alarm rules: `GET /alarms?state=open` lists them,
//! `POST /alarms/{id}/ack` records that someone has seen one, `POST /alarms/{id}/shelve` hides
//! and silences one for a while. The scorer (`maintenance::scoring`) and the rule evaluator
//! (`alerting::engine`) raise and clear them; storage is in `store::alarms`.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use bytes::Bytes;

use super::extract::{parse_json, Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::alarms::{Alarm, AlarmFilter, AlarmState};

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
    /// Only alarms of this rule.
    rule_id: Option<i64>,
    /// `false`: only alarms not shelved now; `true`: only shelved ones.
    shelved: Option<bool>,
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
    let limit = super::input::limit(q.limit, 100, 1000)?;
    let mut session = caller.session(&state.store).await?;
    let filter = AlarmFilter {
        state: q.state.unwrap_or_default(),
        machine_id: q.machine_id,
        rule_id: q.rule_id,
        shelved: q.shelved,
    };
    let rows = session.filtered_alarms(&filter, limit).await?;
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
    state.webhook_wake.notify_one();
    tracing::info!(tenant = %caller.tenant, alarm = id, by = %by, "Alarm acknowledged.");
    Ok(axum::Json(alarm))
}

/// A shelving.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShelveBody {
    /// How long, 60 to 604800 seconds (a week); 0 unshelves. Required.
    pub for_secs: Option<i64>,
    /// Why (at most 500 characters), for the audit log and the next shift.
    #[serde(default)]
    pub reason: String,
}

/// Shelves an open alarm for a while: `GET /alarms?shelved=false` leaves it out and no
/// webhook is sent for it; a rule's alarm raised again meanwhile stays shelved. `for_secs: 0`
/// unshelves.
#[utoipa::path(
    post, path = "/alarms/{id}/shelve", tag = "maintenance",
    params(("id" = i64, Path, description = "The alarm's id")),
    request_body = ShelveBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Alarm),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alarm is cleared", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn shelve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    super::extract::Json(body): super::extract::Json<ShelveBody>,
) -> ApiResult<axum::Json<Alarm>> {
    let secs = body
        .for_secs
        .ok_or_else(|| ApiError::field("for_secs", "missing"))?;
    if secs != 0 && !(60..=604_800).contains(&secs) {
        return Err(ApiError::field(
            "for_secs",
            "must be 60 to 604800 seconds, or 0 to unshelve",
        ));
    }
    if body.reason.chars().count() > 500 {
        return Err(ApiError::field("reason", "at most 500 characters"));
    }
    let until = (secs > 0).then(|| chrono::Utc::now() + chrono::Duration::seconds(secs));
    let mut session = caller.session(&state.store).await?;
    match session.shelve_alarm(id, until, &body.reason).await? {
        None => Err(ApiError::not_found("alarm")),
        Some(Err(_)) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the alarm is cleared; only open alarms can be shelved",
        )),
        Some(Ok(alarm)) => {
            tracing::info!(tenant = %caller.tenant, alarm = id, until = ?until, "Alarm shelved.");
            Ok(axum::Json(alarm))
        }
    }
}
