//! Shift calendars (`/sites/{id}/calendar`), reason codes (`/reason-codes`) and downtime
//! (`GET /machines/{id}/downtime`, `POST /machines/{id}/downtime/reasons` to assign or split
//! a reason). Storage in `store::mes::plan`, logic in `mes::calendar` and `mes::downtime`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Caller, Json, Query};
use super::mes_states::RangeQuery;
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::mes::calendar::{Calendar, ShiftDef};
use crate::mes::downtime::{Category, Downtime};
use crate::mes::Span;
use crate::store::mes::plan::{ReasonAssignment, ReasonCode, SiteCalendar};

/// A site's calendar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    /// The site's IANA time zone (e.g. `Asia/Shanghai`); default: unchanged.
    pub time_zone: Option<String>,
    /// The shifts (at most 20). Required.
    pub shifts: Option<Vec<ShiftDef>>,
    /// Local dates without shifts (at most 1000).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub days_off: Vec<NaiveDate>,
}

/// A site's shift calendar and time zone (no shifts when none was set).
#[utoipa::path(
    get, path = "/sites/{id}/calendar", tag = "mes",
    params(("id" = i64, Path, description = "The site's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = SiteCalendar),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<i64>,
) -> ApiResult<axum::Json<SiteCalendar>> {
    let mut session = caller.session(&state.store).await?;
    session
        .site_calendar(site_id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("site"))
}

/// Sets a site's shift calendar (and time zone). Shifts ending at or before their start end
/// the next day; breaks are planned stops.
#[utoipa::path(
    put, path = "/sites/{id}/calendar", tag = "mes",
    params(("id" = i64, Path, description = "The site's id")),
    request_body = CalendarBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = SiteCalendar),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<i64>,
    Json(body): Json<CalendarBody>,
) -> ApiResult<axum::Json<SiteCalendar>> {
    let shifts = body
        .shifts
        .ok_or_else(|| ApiError::field("shifts", "missing"))?;
    if shifts.len() > 20 {
        return Err(ApiError::field("shifts", "at most 20 shifts"));
    }
    if body.days_off.len() > 1000 {
        return Err(ApiError::field("days_off", "at most 1000 days"));
    }
    let mut session = caller.session(&state.store).await?;
    let current = session
        .site_calendar(site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    let time_zone = body.time_zone.unwrap_or(current.time_zone);
    Calendar::new(&time_zone, shifts.clone(), body.days_off.clone())
        .map_err(|e| ApiError::field(e.field, e.detail))?;
    let cal = SiteCalendar {
        site_id,
        time_zone,
        shifts,
        days_off: body.days_off,
        updated_at: None,
    };
    let stored = session
        .put_site_calendar(&cal)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    tracing::info!(tenant = %caller.tenant, site = site_id, shifts = stored.shifts.len(), "Shift calendar stored.");
    Ok(axum::Json(stored))
}

/// The tenant's reason codes (the defaults on first use).
#[utoipa::path(
    get, path = "/reason-codes", tag = "mes",
    security(("api_key" = [])),
    responses((status = 200, body = Vec<ReasonCode>))
)]
pub async fn list_reasons(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ReasonCode>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.reason_codes().await?))
}

/// A new reason code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Short code, unique in the tenant (1 to 50 characters). Required.
    pub code: Option<String>,
    /// Name (1 to 200 characters). Required.
    pub name: Option<String>,
    /// Category. Required.
    pub category: Option<Category>,
}

/// Adds a reason code.
#[utoipa::path(
    post, path = "/reason-codes", tag = "mes",
    request_body = ReasonBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = ReasonCode),
        (status = 409, description = "The code exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_reason(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ReasonBody>,
) -> ApiResult<(StatusCode, axum::Json<ReasonCode>)> {
    let code = body
        .code
        .ok_or_else(|| ApiError::field("code", "missing"))?;
    if code.is_empty() || code.chars().count() > 50 {
        return Err(ApiError::field("code", "must be 1 to 50 characters"));
    }
    let name = body
        .name
        .ok_or_else(|| ApiError::field("name", "missing"))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let category = body
        .category
        .ok_or_else(|| ApiError::field("category", "missing"))?;
    let mut session = caller.session(&state.store).await?;
    let r = session
        .create_reason_code(&code, &name, category)
        .await
        .map_err(|e| ApiError::from(e).with_field_if_conflict("code"))?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// A machine's downtime over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineDowntime {
    /// The machine.
    pub machine_id: i64,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end.
    pub to: DateTime<Utc>,
    /// Events and minor stops inside planned time.
    #[serde(flatten)]
    pub downtime: Downtime,
}

/// A machine's downtime inside planned time over `[from, to)` (at most 31 days): the
/// itemised events with their reasons (assigned, or suggested by the state), and the minor
/// stops counted.
#[utoipa::path(
    get, path = "/machines/{id}/downtime", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id"), RangeQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = MachineDowntime),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn downtime(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<MachineDowntime>> {
    let (from, to) = q.range(31)?;
    let mut session = caller.session(&state.store).await?;
    let downtime = session
        .machine_downtime(machine_id, from, to)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    Ok(axum::Json(MachineDowntime {
        machine_id,
        from,
        to,
        downtime,
    }))
}

/// A reason for a span of a machine's time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// Start of the span (RFC 3339). Required.
    pub from: Option<DateTime<Utc>>,
    /// End of the span (RFC 3339). Required.
    pub to: Option<DateTime<Utc>>,
    /// The reason code's id. Required.
    pub reason_id: Option<i64>,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    pub note: String,
}

/// Assigns a reason to a span of a machine's downtime. The span replaces what was assigned
/// there; assigning two parts of one stop splits it.
#[utoipa::path(
    post, path = "/machines/{id}/downtime/reasons", tag = "mes",
    params(("id" = i64, Path, description = "The machine's id")),
    request_body = AssignBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = ReasonAssignment),
        (status = 404, description = "No such machine", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(machine_id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> ApiResult<(StatusCode, axum::Json<ReasonAssignment>)> {
    let from = body
        .from
        .ok_or_else(|| ApiError::field("from", "missing"))?;
    let to = body.to.ok_or_else(|| ApiError::field("to", "missing"))?;
    if to <= from {
        return Err(ApiError::field("to", "must be after `from`"));
    }
    let reason = body
        .reason_id
        .ok_or_else(|| ApiError::field("reason_id", "missing"))?;
    if body.note.chars().count() > 2000 {
        return Err(ApiError::field("note", "at most 2000 characters"));
    }
    let mut session = caller.session(&state.store).await?;
    if !session.reason_codes().await?.iter().any(|r| r.id == reason) {
        return Err(ApiError::field("reason_id", "no such reason code"));
    }
    let a = session
        .assign_reason(machine_id, Span::new(from, to), reason, &body.note)
        .await?
        .ok_or_else(|| ApiError::not_found("machine"))?;
    tracing::info!(tenant = %caller.tenant, machine = machine_id, reason, "Downtime reason assigned.");
    Ok((StatusCode::CREATED, axum::Json(a)))
}
