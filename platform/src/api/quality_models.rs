//! Defect predictions and root causes (Pro plan): `GET /quality/predictions` lists the
//! records a promoted defect model scored as they arrived; `GET /quality/root-causes` ranks
//! the process parameters that drive defects among a machine class's records, each with the
//! operating window the data recommends. Defect models are trained and promoted through
//! `/models/training-jobs` with `"kind": "defect"`; the work is in `maintenance::defect`.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use millwright_models::RankingOptions;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::maintenance::defect::root_causes;
use crate::store::quality::RecordFilter;

/// Query parameters of `GET /quality/predictions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PredictionQuery {
    /// Made at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Made before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// One machine.
    machine_id: Option<i64>,
    /// Most to return, newest first (default 500, at most 10000).
    limit: Option<i64>,
}

/// One scored unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Prediction {
    /// Record id.
    pub record_id: i64,
    /// Serial number or batch id.
    pub unit_id: String,
    /// Machine that made it.
    pub machine_id: i64,
    /// Product.
    pub product: String,
    /// When it was made.
    pub produced_at: DateTime<Utc>,
    /// Defect probability.
    pub probability: f64,
    /// Whether it crossed the model's threshold.
    pub alarming: bool,
    /// The inspection result, to set beside the prediction.
    pub passed: bool,
    /// Whether the unit was reworked.
    pub reworked: bool,
    /// The model version that scored it.
    pub model_version: Option<i64>,
}

/// Defect predictions of units, newest first.
#[utoipa::path(
    get, path = "/quality/predictions", tag = "quality",
    params(PredictionQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Prediction>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn predictions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PredictionQuery>,
) -> ApiResult<axum::Json<Vec<Prediction>>> {
    let limit = super::input::limit(q.limit, 500, 10_000)?;
    let mut session = caller.session(&state.store).await?;
    let rows = session
        .quality_records(&RecordFilter {
            from: q.from,
            to: q.to,
            machine_id: q.machine_id,
            scored: true,
            limit,
            ..RecordFilter::default()
        })
        .await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| Prediction {
                record_id: r.id,
                unit_id: r.unit_id,
                machine_id: r.machine_id,
                product: r.product,
                produced_at: r.produced_at,
                probability: r.defect_probability.unwrap_or(f64::NAN),
                alarming: r.defect_alarming.unwrap_or(false),
                passed: r.passed,
                reworked: r.reworked,
                model_version: r.defect_model_version,
            })
            .collect(),
    ))
}

/// Query parameters of `GET /quality/root-causes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RootCauseQuery {
    /// Machine class (`kind` of the machines) whose records to rank. Required.
    machine_class: Option<String>,
    /// Records made at or after (RFC 3339; default 30 days before `to`).
    from: Option<DateTime<Utc>>,
    /// Records made before (RFC 3339; default now).
    to: Option<DateTime<Utc>>,
    /// Comma-separated parameter names (default: those at least half the records carry).
    parameters: Option<String>,
    /// Trees of the ranking forest (default 100, at most 500).
    trees: Option<usize>,
}

/// The operating window of a parameter.
#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    /// Lower limit (`null`: none; the window reaches the smallest value seen).
    pub low: Option<f64>,
    /// Upper limit (`null`: none).
    pub high: Option<f64>,
    /// Defect rate of units made inside.
    pub inside_defect_rate: f64,
    /// Defect rate of units made outside.
    pub outside_defect_rate: f64,
    /// Share of units made inside.
    pub inside_share: f64,
    /// Two-proportion z statistic of the difference.
    pub z: f64,
}

/// One ranked parameter.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankedParameter {
    /// Parameter name (the tag name after its last dot).
    pub parameter: String,
    /// Mean drop of the hold-out ROC AUC when its values are shuffled.
    pub importance: f64,
    /// Standard deviation of that drop over the shuffles.
    pub importance_sd: f64,
    /// Smallest value seen.
    pub min: f64,
    /// Largest value seen.
    pub max: f64,
    /// The recommended operating window, when the data gives one.
    pub window: Option<Window>,
}

/// Parameters ranked by how much they drive defects.
#[derive(Debug, Serialize, ToSchema)]
pub struct RootCauseResponse {
    /// The machine class.
    pub machine_class: String,
    /// Records used.
    pub units: usize,
    /// Defective among them.
    pub defects: usize,
    /// Records the trees learnt from.
    pub train_units: usize,
    /// Records the importance was measured on.
    pub holdout_units: usize,
    /// ROC AUC of the trees on the hold-out.
    pub holdout_auc: f64,
    /// Parameters, most important first.
    pub ranks: Vec<RankedParameter>,
}

/// Ranks the process parameters that drive defects among a class's records.
#[utoipa::path(
    get, path = "/quality/root-causes", tag = "quality",
    params(RootCauseQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = RootCauseResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter, or too few records or defects to rank", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn root_cause_ranking(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RootCauseQuery>,
) -> ApiResult<axum::Json<RootCauseResponse>> {
    let class = q
        .machine_class
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::field("machine_class", "missing"))?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if to <= from {
        return Err(ApiError::field("to", "must be after `from`"));
    }
    if to - from > Duration::days(366) {
        return Err(ApiError::field("to", "the range may span at most 366 days"));
    }
    let trees = q.trees.unwrap_or(100);
    if !(1..=500).contains(&trees) {
        return Err(ApiError::field("trees", "must be between 1 and 500"));
    }
    let parameters: Option<Vec<String>> = q.parameters.map(|p| {
        p.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if parameters.as_ref().is_some_and(|p| p.is_empty()) {
        return Err(ApiError::field("parameters", "names no parameter"));
    }
    let mut options = RankingOptions::default();
    options.forest.trees = trees;
    let mut session = caller.session(&state.store).await?;
    let (_, units, r) = root_causes(
        &mut session,
        &class,
        from,
        to,
        parameters.as_deref(),
        options,
    )
    .await?
    .map_err(|detail| ApiError::field("machine_class", detail))?;
    Ok(axum::Json(RootCauseResponse {
        machine_class: class,
        units,
        defects: r.defects,
        train_units: r.train_units,
        holdout_units: r.holdout_units,
        holdout_auc: r.holdout_auc,
        ranks: r
            .ranks
            .into_iter()
            .map(|p| RankedParameter {
                parameter: p.name,
                importance: p.importance,
                importance_sd: p.importance_sd,
                min: p.range.0,
                max: p.range.1,
                window: p.window.map(|w| Window {
                    low: w.low,
                    high: w.high,
                    inside_defect_rate: w.inside_defect_rate,
                    outside_defect_rate: w.outside_defect_rate,
                    inside_share: w.inside_share,
                    z: w.z,
                }),
            })
            .collect(),
    }))
}
