//! Yield figures and the Pareto of defect codes: `GET /quality/yield?by=day|line|machine|
//! product|work_order|shift|total` and `GET /quality/pareto`, both from the daily counts the
//! store keeps as records arrive (never from the raw records), filtered by days (inclusive),
//! machine, line, product, work order and shift. Rows come ordered by key, ready to plot.

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::quality::yields::ParetoBar;
use crate::store::quality::{FigureFilter, YieldBy, YieldRow};

/// Query parameters of the yield and Pareto routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FigureQuery {
    /// Yield only: `day` (default), `line`, `machine`, `product`, `work_order`, `shift` or
    /// `total`.
    #[param(inline)]
    by: Option<YieldBy>,
    /// First production day (`2026-12-01`, in the site's time zone).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last production day, inclusive.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// One machine.
    machine_id: Option<i64>,
    /// One line.
    line_id: Option<i64>,
    /// One product.
    product: Option<String>,
    /// One work order.
    work_order: Option<String>,
    /// One shift.
    shift: Option<String>,
}

/// Yield figures by a dimension.
#[derive(Debug, Serialize, ToSchema)]
pub struct YieldResponse {
    /// The dimension of the rows.
    pub by: YieldBy,
    /// One row per group, ordered by key.
    pub rows: Vec<YieldRow>,
}

/// The Pareto of defect codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParetoResponse {
    /// Defective (scrapped or reworked) units with a defect code.
    pub total: i64,
    /// Bars from the most frequent code down, with shares and cumulative shares.
    pub bars: Vec<ParetoBar>,
}

fn filter(q: FigureQuery) -> Result<(Option<YieldBy>, FigureFilter), ApiError> {
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to < from {
            return Err(ApiError::field("to", "must not be before `from`"));
        }
    }
    Ok((
        q.by,
        FigureFilter {
            from: q.from,
            to: q.to,
            machine_id: q.machine_id,
            line_id: q.line_id,
            product: q.product,
            work_order: q.work_order,
            shift: q.shift,
        },
    ))
}

/// First-pass yield, rework and scrap rates by a dimension.
#[utoipa::path(
    get, path = "/quality/yield", tag = "quality",
    params(FigureQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = YieldResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn yields(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<FigureQuery>,
) -> ApiResult<axum::Json<YieldResponse>> {
    let (by, f) = filter(q)?;
    let by = by.unwrap_or_default();
    let mut session = caller.session(&state.store).await?;
    let rows = session.yield_figures(by, &f).await?;
    Ok(axum::Json(YieldResponse { by, rows }))
}

/// The Pareto of defect codes.
#[utoipa::path(
    get, path = "/quality/pareto", tag = "quality",
    params(FigureQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ParetoResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pareto(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<FigureQuery>,
) -> ApiResult<axum::Json<ParetoResponse>> {
    let (by, f) = filter(q)?;
    if by.is_some() {
        return Err(ApiError::field("by", "the Pareto is by defect code"));
    }
    let mut session = caller.session(&state.store).await?;
    let bars = session.defect_pareto(&f).await?;
    let total = bars.iter().map(|b| b.units).sum();
    Ok(axum::Json(ParetoResponse { total, bars }))
}
