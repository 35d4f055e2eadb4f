//! Quality characteristics and their statistics: `GET`/`POST /quality/characteristics`,
//! `GET`/`PATCH /quality/characteristics/{id}` (specification limits, chart settings, the
//! baseline period), `GET /quality/characteristics/{id}/chart` (I-MR, X̄-R or X̄-S: points,
//! centre lines, limits, zone lines, rule violations) and `/capability` (Cp, Cpk, Pp, Ppk with
//! confidence intervals and n). The mathematics is `quality`; storage `store::quality`.
//!
//! SPC alarms are raised by [`crate::maintenance::spc_watch`], as records and samples arrive.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::maintenance::spc_watch::{baseline_points, settings};
use crate::quality::capability::{capability, Capability, SpecLimits};
use crate::quality::charts::{ChartPair, ChartType};
use crate::quality::rules::RuleSet;
use crate::quality::series::{draw, BaselineSource, Drawn, SeqPoint};
use crate::quality::InvalidData;
use crate::store::quality::{Characteristic, CharacteristicFields};
use crate::store::TenantSession;

/// A characteristic to create, or the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicBody {
    /// Name (1 to 200 characters, unique in the tenant); records carry measured values under
    /// it. Required on creation.
    pub name: Option<String>,
    /// Unit of its values (at most 50 characters).
    pub unit: Option<String>,
    /// Chart a tag's samples instead of recorded values (creation only).
    pub tag_id: Option<i64>,
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
    /// Target value.
    pub target: Option<f64>,
    /// `i_mr` (default), `xbar_r` or `xbar_s`.
    pub chart: Option<ChartType>,
    /// Subgroup size: 1 for `i_mr`, 2 to 25 for the others (default 1, or 5 for subgroup
    /// charts).
    pub subgroup_size: Option<i32>,
    /// `western_electric` (default), `nelson` or `limits_only`.
    pub rules: Option<RuleSet>,
    /// Start of the baseline period the control limits come from (RFC 3339).
    pub baseline_from: Option<DateTime<Utc>>,
    /// End of the baseline period (RFC 3339).
    pub baseline_to: Option<DateTime<Utc>>,
}

/// Query parameters of the chart and capability routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// Values at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Values before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Most values, the newest (default 500, at most 10000).
    limit: Option<i64>,
    /// Without a baseline period: how many first points (or subgroups) give the limits
    /// (default 25, at least 2).
    baseline_points: Option<usize>,
    /// Capability only: confidence level of the intervals (default 0.95).
    confidence: Option<f64>,
}

/// A drawn control chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartResponse {
    /// The characteristic.
    pub characteristic: Characteristic,
    /// Where the limits came from: `period` (the baseline period) or `first_points`.
    pub baseline_source: BaselineSource,
    /// Specification limits, to draw beside the control limits.
    pub spec: SpecLimits,
    /// The charts: baseline, rules, location (I or X̄) and dispersion (MR, R or S) charts
    /// with points, centre line, limits, zone lines and violations.
    #[serde(flatten)]
    pub charts: ChartPair,
}

/// Process capability of a characteristic.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapabilityResponse {
    /// The characteristic.
    pub characteristic: Characteristic,
    /// Where the within-subgroup sigma came from.
    pub baseline_source: BaselineSource,
    /// The indices with intervals, n and the sigmas.
    #[serde(flatten)]
    pub capability: Capability,
}

fn invalid(e: InvalidData) -> ApiError {
    ApiError::field(e.field, e.detail)
}

fn check_fields(b: &CharacteristicBody, creating: bool) -> Result<CharacteristicFields, ApiError> {
    if let Some(n) = &b.name {
        if n.trim().is_empty() || n.chars().count() > 200 {
            return Err(ApiError::field("name", "1 to 200 characters"));
        }
    } else if creating {
        return Err(ApiError::field("name", "missing"));
    }
    if b.unit.as_ref().is_some_and(|u| u.chars().count() > 50) {
        return Err(ApiError::field("unit", "at most 50 characters"));
    }
    if !creating && b.tag_id.is_some() {
        return Err(ApiError::field(
            "tag_id",
            "is set when the characteristic is created",
        ));
    }
    for (name, v) in [("lsl", b.lsl), ("usl", b.usl), ("target", b.target)] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(ApiError::field(name, "must be a finite number"));
        }
    }
    if let Some(size) = b.subgroup_size {
        if !(1..=25).contains(&size) {
            return Err(ApiError::field("subgroup_size", "must be between 1 and 25"));
        }
    }
    Ok(CharacteristicFields {
        name: b.name.clone(),
        unit: b.unit.clone(),
        tag_id: b.tag_id,
        lsl: b.lsl,
        usl: b.usl,
        target: b.target,
        chart: b.chart,
        subgroup_size: b.subgroup_size,
        rules: b.rules,
        baseline_from: b.baseline_from,
        baseline_to: b.baseline_to,
    })
}

/// Checks the combination a characteristic would have after a change.
fn check_combined(c: &CharacteristicFields) -> Result<(), ApiError> {
    if let (Some(l), Some(u)) = (c.lsl, c.usl) {
        if l >= u {
            return Err(ApiError::field("usl", "must be above lsl"));
        }
    }
    let chart = c.chart.unwrap_or(ChartType::IMr);
    let size = c.subgroup_size.unwrap_or(1);
    match chart {
        ChartType::IMr if size != 1 => {
            return Err(ApiError::field(
                "subgroup_size",
                "an i_mr chart has subgroups of 1",
            ))
        }
        ChartType::XbarR | ChartType::XbarS if size < 2 => {
            return Err(ApiError::field(
                "subgroup_size",
                "a subgroup chart needs subgroups of 2 to 25",
            ))
        }
        _ => {}
    }
    if let (Some(f), Some(t)) = (c.baseline_from, c.baseline_to) {
        if t <= f {
            return Err(ApiError::field(
                "baseline_to",
                "must be after baseline_from",
            ));
        }
    }
    Ok(())
}

/// Lists the characteristics.
#[utoipa::path(
    get, path = "/quality/characteristics", tag = "quality",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Characteristic>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Characteristic>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.characteristics().await?))
}

/// Creates a characteristic.
#[utoipa::path(
    post, path = "/quality/characteristics", tag = "quality",
    request_body = CharacteristicBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Characteristic),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CharacteristicBody>,
) -> ApiResult<(StatusCode, axum::Json<Characteristic>)> {
    let mut fields = check_fields(&body, true)?;
    if fields.subgroup_size.is_none()
        && matches!(fields.chart, Some(ChartType::XbarR | ChartType::XbarS))
    {
        fields.subgroup_size = Some(5);
    }
    check_combined(&fields)?;
    let mut session = caller.session(&state.store).await?;
    let c = session
        .create_characteristic(&fields)
        .await?
        .ok_or_else(|| ApiError::field("tag_id", "no such numeric tag"))?;
    tracing::info!(tenant = %caller.tenant, characteristic = c.id, name = %c.name, "Quality characteristic created.");
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// One characteristic.
#[utoipa::path(
    get, path = "/quality/characteristics/{id}", tag = "quality",
    params(("id" = i64, Path, description = "The characteristic's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Characteristic),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Characteristic>> {
    let mut session = caller.session(&state.store).await?;
    session
        .characteristic(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("characteristic"))
}

/// Changes a characteristic's limits, chart settings or baseline period.
#[utoipa::path(
    patch, path = "/quality/characteristics/{id}", tag = "quality",
    params(("id" = i64, Path, description = "The characteristic's id")),
    request_body = CharacteristicBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Characteristic),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<CharacteristicBody>,
) -> ApiResult<axum::Json<Characteristic>> {
    let fields = check_fields(&body, false)?;
    let mut session = caller.session(&state.store).await?;
    let current = session
        .characteristic(id)
        .await?
        .ok_or_else(|| ApiError::not_found("characteristic"))?;
    let combined = CharacteristicFields {
        lsl: fields.lsl.or(current.lsl),
        usl: fields.usl.or(current.usl),
        chart: fields.chart.or(Some(current.chart)),
        subgroup_size: fields.subgroup_size.or(Some(current.subgroup_size)),
        baseline_from: fields.baseline_from.or(current.baseline_from),
        baseline_to: fields.baseline_to.or(current.baseline_to),
        ..CharacteristicFields::default()
    };
    check_combined(&combined)?;
    let c = session
        .update_characteristic(id, &fields)
        .await?
        .ok_or_else(|| ApiError::not_found("characteristic"))?;
    tracing::info!(tenant = %caller.tenant, characteristic = id, "Quality characteristic changed.");
    Ok(axum::Json(c))
}

/// Draws a characteristic's chart over a window.
async fn drawn(
    session: &mut TenantSession,
    c: &Characteristic,
    q: &ChartQuery,
) -> ApiResult<(Drawn, Vec<SeqPoint>)> {
    let limit = q.limit.unwrap_or(500);
    if !(2..=10_000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 2 and 10000"));
    }
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to <= from {
            return Err(ApiError::field("to", "must be after `from`"));
        }
    }
    let first = q.baseline_points.unwrap_or(25);
    if !(2..=10_000).contains(&first) {
        return Err(ApiError::field(
            "baseline_points",
            "must be between 2 and 10000",
        ));
    }
    let base = baseline_points(session, c).await?;
    let points: Vec<SeqPoint> = session
        .characteristic_points(c, q.from, q.to, limit)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    if points.is_empty() {
        return Err(ApiError::field(
            "from",
            "no values of this characteristic in the period",
        ));
    }
    let d = draw(settings(c), &base, &points, first).map_err(|e| {
        // The baseline period is the characteristic's; name it so the caller can fix it.
        if e.field == "baseline" && !base.is_empty() {
            ApiError::field(
                "baseline_from",
                format!("the baseline period: {}", e.detail),
            )
        } else {
            invalid(e)
        }
    })?;
    Ok((d, points))
}

/// A characteristic's control charts over a period, against the limits of its baseline
/// period (or of the first points shown when it has none).
#[utoipa::path(
    get, path = "/quality/characteristics/{id}/chart", tag = "quality",
    params(("id" = i64, Path, description = "The characteristic's id"), ChartQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ChartResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too few values to chart, or a bad parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn chart(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ChartQuery>,
) -> ApiResult<axum::Json<ChartResponse>> {
    let mut session = caller.session(&state.store).await?;
    let c = session
        .characteristic(id)
        .await?
        .ok_or_else(|| ApiError::not_found("characteristic"))?;
    let (d, _) = drawn(&mut session, &c, &q).await?;
    Ok(axum::Json(ChartResponse {
        spec: SpecLimits {
            lsl: c.lsl,
            usl: c.usl,
            target: c.target,
        },
        characteristic: c,
        baseline_source: d.source,
        charts: d.pair,
    }))
}

/// A characteristic's capability over a period: Cp and Cpk with the within-subgroup sigma of
/// its chart baseline, Pp and Ppk with the overall sigma, each with a confidence interval.
#[utoipa::path(
    get, path = "/quality/characteristics/{id}/capability", tag = "quality",
    params(("id" = i64, Path, description = "The characteristic's id"), ChartQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = CapabilityResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No specification limits, too few values, or a bad parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn capability_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ChartQuery>,
) -> ApiResult<axum::Json<CapabilityResponse>> {
    let confidence = q.confidence.unwrap_or(0.95);
    if !(0.5..1.0).contains(&confidence) {
        return Err(ApiError::field("confidence", "must be within [0.5, 1)"));
    }
    let mut session = caller.session(&state.store).await?;
    let c = session
        .characteristic(id)
        .await?
        .ok_or_else(|| ApiError::not_found("characteristic"))?;
    if c.lsl.is_none() && c.usl.is_none() {
        return Err(ApiError::field(
            "lsl",
            "the characteristic has no specification limits; set lsl or usl",
        ));
    }
    let (d, points) = drawn(&mut session, &c, &q).await?;
    let n = c.subgroup_size.max(1) as usize;
    // The values charted: every point, or the members of the complete subgroups.
    let values: Vec<f64> = if n == 1 {
        points.iter().map(|p| p.value).collect()
    } else {
        points
            .iter()
            .filter(|p| {
                let first = p.seq - p.seq.rem_euclid(n as i64);
                d.seqs.binary_search(&first).is_ok()
            })
            .map(|p| p.value)
            .collect()
    };
    let spec = SpecLimits {
        lsl: c.lsl,
        usl: c.usl,
        target: c.target,
    };
    let cap =
        capability(&values, n, d.pair.baseline.sigma_within, spec, confidence).map_err(invalid)?;
    Ok(axum::Json(CapabilityResponse {
        characteristic: c,
        baseline_source: d.source,
        capability: cap,
    }))
}
