//! `/tenant`, `/usage` and `/audit`: the tenant itself, its consumption against its plan's
//! quotas, and its audit log.

use axum::extract::State;
use chrono::{Datelike, Duration, Utc};
use millwright_tenants::plan::Plan;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::admin::Industry;
use crate::store::audit::AuditRecord;
use crate::store::tenancy::{ProfileChange, TenantProfile};

/// Changes to the tenant; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Industry.
    pub industry: Option<Industry>,
    /// Region.
    pub region: Option<String>,
    /// `monitor`, `mes` or `pro`.
    #[schema(value_type = Option<String>)]
    pub plan: Option<Plan>,
    /// Whether the tenant's figures may enter bureaus' sector aggregates.
    pub sector_opt_in: Option<bool>,
}

/// The tenant.
#[utoipa::path(
    get, path = "/tenant", tag = "tenant",
    security(("api_key" = [])),
    responses(
        (status = 200, body = TenantProfile),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<TenantProfile>> {
    Ok(axum::Json(
        caller.session(&state.store).await?.profile().await?,
    ))
}

/// Changes the tenant's industry, region, plan or sector opt-in (owners only).
#[utoipa::path(
    patch, path = "/tenant", tag = "tenant",
    request_body = TenantPatch,
    security(("api_key" = [])),
    responses(
        (status = 200, body = TenantProfile),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TenantPatch>,
) -> ApiResult<axum::Json<TenantProfile>> {
    if body.region.as_ref().is_some_and(|r| r.len() > 100) {
        return Err(ApiError::field("region", "at most 100 characters"));
    }
    let change = ProfileChange {
        industry: body.industry,
        region: body.region,
        plan: body.plan,
        sector_opt_in: body.sector_opt_in,
    };
    let profile = caller
        .session(&state.store)
        .await?
        .update_profile(&change)
        .await?;
    Ok(axum::Json(profile))
}

/// One quota: what is used against what the plan allows.
#[derive(Serialize, ToSchema)]
pub struct Meter {
    /// Used.
    pub used: u64,
    /// Allowed by the plan.
    pub limit: u64,
}

/// Consumption against the plan's quotas.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// The plan.
    #[schema(value_type = String)]
    pub plan: Plan,
    /// Tags that exist.
    pub tags: Meter,
    /// Samples accepted since midnight UTC.
    pub samples_today: Meter,
    /// API requests accepted over the last minute (this one included).
    pub requests_per_minute: Meter,
    /// Days of samples kept.
    pub retention_days: u32,
    /// When the daily sample count starts again (midnight UTC).
    pub samples_reset_at: chrono::DateTime<Utc>,
}

/// Consumption against the plan's quotas.
#[utoipa::path(
    get, path = "/usage", tag = "tenant",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Usage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn usage(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Usage>> {
    let plan = caller.plan();
    let quotas = plan.quotas();
    let used = caller.session(&state.store).await?.consumption().await?;
    let recent = state.limiter.requests_last_minute(&caller.tenant);
    Ok(axum::Json(Usage {
        plan,
        tags: Meter {
            used: used.tags as u64,
            limit: quotas.max_tags.into(),
        },
        samples_today: Meter {
            used: used.samples_today as u64,
            limit: quotas.samples_per_day,
        },
        requests_per_minute: Meter {
            used: recent,
            limit: quotas.requests_per_minute.into(),
        },
        retention_days: quotas.retention_days,
        samples_reset_at: next_utc_midnight(),
    }))
}

/// The next midnight UTC, when daily quotas start again.
pub(super) fn next_utc_midnight() -> chrono::DateTime<Utc> {
    let today = Utc::now().date_naive();
    let tomorrow = today.with_day(today.day()).unwrap_or(today) + Duration::days(1);
    tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Paging through the audit log.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries after this seq (pass the last seq seen).
    after: Option<i64>,
    /// Most to return (default 100, at most 1000).
    limit: Option<i64>,
}

/// The tenant's audit log, oldest first, each entry with its chain hash.
#[utoipa::path(
    get, path = "/audit", tag = "tenant",
    params(AuditQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<AuditRecord>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<Vec<AuditRecord>>> {
    let limit = super::input::limit(q.limit, 100, 1000)?;
    let entries = caller
        .session(&state.store)
        .await?
        .audit_entries(q.after.unwrap_or(0), limit)
        .await?;
    Ok(axum::Json(entries))
}

/// The verdict on the tenant's audit chain.
#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    /// Whether every entry's hash fits the one before it and its own content.
    pub intact: bool,
    /// Which entry breaks the chain and why, when one does.
    pub broken: Option<String>,
    /// When the check ran.
    pub checked_at: chrono::DateTime<Utc>,
}

/// Recomputes the tenant's audit hash chain, as `millwright audit verify` does, and says
/// whether it is intact (for the console's audit page).
#[utoipa::path(
    get, path = "/audit/verify", tag = "tenant",
    security(("api_key" = [])),
    responses(
        (status = 200, body = AuditVerification),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<AuditVerification>> {
    let verdict = state
        .store
        .verify_audit(Some(caller.tenant))
        .await?
        .into_iter()
        .next();
    let (entries, broken) = verdict.map_or((0, None), |v| (v.entries, v.broken));
    Ok(axum::Json(AuditVerification {
        entries,
        intact: broken.is_none(),
        broken,
        checked_at: Utc::now(),
    }))
}
