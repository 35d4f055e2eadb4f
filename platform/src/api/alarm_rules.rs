//! Alarm rules: `GET`/`POST /alarm-rules`, `GET`/`PATCH`/`DELETE /alarm-rules/{id}`. Every
//! plan has them (permission `manage_alarm_rules` to change, `read_alarms` to read); every
//! change is audited and reaches the evaluator at once. Storage is `store::alarm_rules`, the
//! logic `alerting`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::alerting::rule::{validate_template, Condition, Severity};
use crate::store::alarm_rules::{AlarmRule, RuleFields};
use crate::store::TenantSession;

/// A rule to create, or the fields to change (PATCH: absent fields stay; giving `tag_id` or
/// `tag_suffix` replaces what the rule watches).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// Unique name, 1 to 200 characters. Required.
    pub name: Option<String>,
    /// The one numeric tag to watch. Give this or `tag_suffix`.
    pub tag_id: Option<i64>,
    /// Watch every numeric tag named `<anything>.<tag_suffix>` (or exactly it), e.g.
    /// `barrel_temp_1` or `alarm_code`: one alarm per machine. Give this or `tag_id`.
    pub tag_suffix: Option<String>,
    /// With `tag_suffix`: only machines of this kind (`""` removes the restriction).
    pub machine_kind: Option<String>,
    /// What raises the alarm. Required.
    pub condition: Option<Condition>,
    /// Seconds the condition must hold before the alarm is raised, 0 to 86400 (default 0).
    pub on_delay_secs: Option<i64>,
    /// `low`, `medium`, `high` or `critical` (default `medium`).
    pub severity: Option<Severity>,
    /// Message template (1 to 500 characters) with `{machine}`, `{tag}`, `{value}`,
    /// `{limit}`, `{unit}`, `{rule}`, `{severity}`, `{delay}`; a default per condition.
    pub message: Option<String>,
    /// Whether it is evaluated (default true). Disabling clears its open alarms.
    pub enabled: Option<bool>,
}

/// Query parameters of `GET /alarm-rules`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RuleQuery {
    /// Only rules with a larger id (paging).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

fn merge(base: Option<&AlarmRule>, b: RuleBody) -> Result<RuleFields, ApiError> {
    let name = b
        .name
        .or(base.map(|r| r.name.clone()))
        .ok_or_else(|| ApiError::field("name", "missing"))?;
    let condition = b
        .condition
        .or(base.map(|r| r.condition.clone()))
        .ok_or_else(|| ApiError::field("condition", "missing"))?;
    let (tag_id, tag_suffix) = match base {
        Some(base) if b.tag_id.is_none() && b.tag_suffix.is_none() => {
            (base.tag_id, base.tag_suffix.clone())
        }
        _ => (b.tag_id, b.tag_suffix),
    };
    let machine_kind = match b.machine_kind {
        Some(k) if k.is_empty() => None,
        Some(k) => Some(k),
        // A rule switched to one tag drops its machine-kind filter.
        None if tag_id.is_some() => None,
        None => base.and_then(|r| r.machine_kind.clone()),
    };
    let condition_changed = base.is_some_and(|r| r.condition.kind() != condition.kind());
    let message = match b.message {
        Some(m) => m,
        // A rule whose condition changes kind gets the new kind's default message, unless it
        // had its own.
        None => match base {
            Some(r) if !(condition_changed && r.message == r.condition.default_message()) => {
                r.message.clone()
            }
            _ => condition.default_message().to_string(),
        },
    };
    Ok(RuleFields {
        name,
        tag_id,
        tag_suffix,
        machine_kind,
        on_delay_secs: match b.on_delay_secs {
            Some(d) => i32::try_from(d)
                .ok()
                .filter(|d| (0..=86_400).contains(d))
                .ok_or_else(|| ApiError::field("on_delay_secs", "must be 0 to 86400"))?,
            None => base.map_or(0, |r| r.on_delay_secs),
        },
        severity: b
            .severity
            .or(base.map(|r| r.severity))
            .unwrap_or(Severity::Medium),
        message,
        enabled: b.enabled.or(base.map(|r| r.enabled)).unwrap_or(true),
        condition,
    })
}

async fn validate(session: &mut TenantSession, f: &RuleFields) -> Result<(), ApiError> {
    let name = f.name.trim();
    if name.is_empty() || f.name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    match (&f.tag_id, &f.tag_suffix) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "tag_suffix",
                "give tag_id or tag_suffix, not both",
            ))
        }
        (None, None) => return Err(ApiError::field("tag_id", "give tag_id or tag_suffix")),
        (Some(id), None) => match session.tag_kinds(&[*id]).await?.get(id) {
            None => return Err(ApiError::field("tag_id", "no such tag")),
            Some(true) => {
                return Err(ApiError::field(
                    "tag_id",
                    "is a text tag; rules watch numeric tags",
                ))
            }
            Some(false) => {}
        },
        (None, Some(s)) => {
            if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_whitespace) {
                return Err(ApiError::field(
                    "tag_suffix",
                    "must be 1 to 200 characters without spaces",
                ));
            }
        }
    }
    if let Some(k) = &f.machine_kind {
        if f.tag_suffix.is_none() {
            return Err(ApiError::field(
                "machine_kind",
                "applies to rules with tag_suffix only",
            ));
        }
        if k.chars().count() > 200 {
            return Err(ApiError::field("machine_kind", "at most 200 characters"));
        }
    }
    f.condition
        .validate()
        .map_err(|(field, detail)| ApiError::field(field, detail))?;
    validate_template(&f.message).map_err(|d| ApiError::field("message", d))?;
    Ok(())
}

/// Lists alarm rules by id.
#[utoipa::path(
    get, path = "/alarm-rules", tag = "alarm-rules",
    params(RuleQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<AlarmRule>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RuleQuery>,
) -> ApiResult<axum::Json<Vec<AlarmRule>>> {
    let limit = super::input::limit(q.limit, 100, 1000)?;
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.rules(q.after, limit).await?))
}

/// Creates an alarm rule.
#[utoipa::path(
    post, path = "/alarm-rules", tag = "alarm-rules",
    request_body = RuleBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = AlarmRule),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rule with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RuleBody>,
) -> ApiResult<(StatusCode, axum::Json<AlarmRule>)> {
    let fields = merge(None, body)?;
    let mut session = caller.session(&state.store).await?;
    validate(&mut session, &fields).await?;
    let rule = session.create_rule(&fields).await?;
    drop(session);
    state.alerting.rules_changed(caller.tenant).await;
    tracing::info!(tenant = %caller.tenant, rule = rule.id, kind = rule.condition.kind(), "Alarm rule created.");
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

/// One alarm rule.
#[utoipa::path(
    get, path = "/alarm-rules/{id}", tag = "alarm-rules",
    params(("id" = i64, Path, description = "The rule's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = AlarmRule),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AlarmRule>> {
    let mut session = caller.session(&state.store).await?;
    session
        .rule(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("alarm rule"))
}

/// Changes an alarm rule; it is evaluated afresh from the next sample.
#[utoipa::path(
    patch, path = "/alarm-rules/{id}", tag = "alarm-rules",
    params(("id" = i64, Path, description = "The rule's id")),
    request_body = RuleBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = AlarmRule),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<RuleBody>,
) -> ApiResult<axum::Json<AlarmRule>> {
    let mut session = caller.session(&state.store).await?;
    let base = session
        .rule(id)
        .await?
        .ok_or_else(|| ApiError::not_found("alarm rule"))?;
    let fields = merge(Some(&base), body)?;
    validate(&mut session, &fields).await?;
    let rule = session
        .update_rule(id, &fields)
        .await?
        .ok_or_else(|| ApiError::not_found("alarm rule"))?;
    drop(session);
    state.alerting.rules_changed(caller.tenant).await;
    state.webhook_wake.notify_one();
    tracing::info!(tenant = %caller.tenant, rule = id, "Alarm rule changed.");
    Ok(axum::Json(rule))
}

/// Deletes an alarm rule; its open alarms clear, its alarm history stays.
#[utoipa::path(
    delete, path = "/alarm-rules/{id}", tag = "alarm-rules",
    params(("id" = i64, Path, description = "The rule's id")),
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
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut session = caller.session(&state.store).await?;
    if !session.delete_rule(id).await? {
        return Err(ApiError::not_found("alarm rule"));
    }
    drop(session);
    state.alerting.rules_changed(caller.tenant).await;
    state.webhook_wake.notify_one();
    tracing::info!(tenant = %caller.tenant, rule = id, "Alarm rule deleted.");
    Ok(StatusCode::NO_CONTENT)
}
