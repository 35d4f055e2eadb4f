//! `/bureau/indices`: the sector indices for industry bureaus (issue #16): the list with
//! definitions, one index's series over time for one place, and a cross-section of one
//! period by region or by sector; JSON, or CSV with `format=csv`. Every figure carries its
//! contributor-count band, never the contributors; withheld cells say why. Only bureau
//! accounts pass the access layer here (`ReadSectorAggregates`); tenants get 403.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Query;
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::bureau::index::{Metric, Period};
use crate::bureau::sharing::{Category, SizeClass};
use crate::bureau::{publish, Figure, Place};
use crate::store::bureau::closed_through;

/// One index, as the list describes it.
#[derive(Serialize, ToSchema)]
pub struct IndexInfo {
    /// Its name in paths.
    pub index: Metric,
    /// The sharing category it reads.
    pub category: Category,
    /// Unit of its values.
    pub unit: &'static str,
    /// How it is computed.
    pub definition: &'static str,
    /// Whether the platform's negative list withholds it entirely.
    pub never_shared: bool,
}

/// The disclosure rules and noise in force (the release's documentation).
#[derive(Serialize, ToSchema)]
pub struct ReleaseInfo {
    /// The release's name.
    pub release: String,
    /// Fewest tenants in a published cell (k).
    pub min_contributors: usize,
    /// The dominance rule's n.
    pub dominance_n: usize,
    /// The share the n largest may hold at most.
    pub dominance_share: f64,
    /// ε of the Laplace noise on published values; absent: no noise.
    pub noise_epsilon: Option<f64>,
    /// The last site-local day whose contributions are complete everywhere.
    #[schema(value_type = String)]
    pub complete_through: NaiveDate,
}

/// The indices a bureau may read.
#[derive(Serialize, ToSchema)]
pub struct IndexList {
    /// Every index.
    pub indices: Vec<IndexInfo>,
    /// Sectors with sharing tenants.
    pub sectors: Vec<String>,
    /// Regions with sharing tenants.
    pub regions: Vec<String>,
    /// Periods figures are published for.
    pub periods: Vec<Period>,
    /// The rules in force.
    pub release: ReleaseInfo,
}

fn release(state: &AppState) -> ReleaseInfo {
    let b = &state.settings.bureau;
    let rules = b.rules();
    ReleaseInfo {
        release: b.release.clone(),
        min_contributors: rules.min_contributors,
        dominance_n: rules.dominance_n,
        dominance_share: rules.dominance_share,
        noise_epsilon: b.noise().map(|n| n.epsilon),
        complete_through: closed_through(Utc::now()),
    }
}

/// The indices, the sectors and regions with sharing tenants, and the rules in force.
#[utoipa::path(
    get, path = "/bureau/indices", tag = "bureau",
    security(("api_key" = [])),
    responses(
        (status = 200, body = IndexList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<axum::Json<IndexList>> {
    let negative = state.settings.bureau.negative_list();
    let (sectors, regions) = state.store.bureau_places().await?;
    Ok(axum::Json(IndexList {
        indices: Metric::ALL
            .into_iter()
            .map(|m| IndexInfo {
                index: m,
                category: m.category(),
                unit: m.unit(),
                definition: m.definition(),
                never_shared: !negative.allows(m.category()),
            })
            .collect(),
        sectors,
        regions,
        periods: vec![Period::Day, Period::Week, Period::Month],
        release: release(&state),
    }))
}

/// JSON (default) or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON.
    #[default]
    Json,
    /// CSV with a header row.
    Csv,
}

/// Figures of one index, with the release's rules.
#[derive(Serialize, ToSchema)]
pub struct Figures {
    /// The index.
    pub index: Metric,
    /// Unit of its values.
    pub unit: &'static str,
    /// How it is computed.
    pub definition: &'static str,
    /// The output index's base period's first day (other indices: absent).
    #[schema(value_type = Option<String>)]
    pub base_period: Option<NaiveDate>,
    /// The rules in force.
    pub release: ReleaseInfo,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// Query of the series.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// `day` (default), `week` or `month`.
    #[param(inline)]
    pub period: Option<Period>,
    /// First day (`YYYY-MM-DD`); default 30 days before `to`.
    #[param(value_type = Option<String>)]
    pub from: Option<NaiveDate>,
    /// Last day; default the last complete day.
    #[param(value_type = Option<String>)]
    pub to: Option<NaiveDate>,
    /// The sector; absent: all sectors.
    pub sector: Option<String>,
    /// The region; absent: all regions.
    pub region: Option<String>,
    /// Only tenants of this size class.
    #[param(inline)]
    pub size_class: Option<SizeClass>,
    /// Output index: a day in the base period (= 100); default `from`.
    #[param(value_type = Option<String>)]
    pub base: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<Format>,
}

/// Query of the cross-section.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CrossSectionQuery {
    /// `day` (default), `week` or `month`.
    #[param(inline)]
    pub period: Option<Period>,
    /// A day in the period; default the last complete day.
    #[param(value_type = Option<String>)]
    pub date: Option<NaiveDate>,
    /// `region` (default: every region of `sector`) or `sector` (every sector of `region`).
    pub by: Option<String>,
    /// With `by=region`: the sector (absent: all sectors).
    pub sector: Option<String>,
    /// With `by=sector`: the region (absent: all regions).
    pub region: Option<String>,
    /// Only tenants of this size class.
    #[param(inline)]
    pub size_class: Option<SizeClass>,
    /// Output index: a day in the base period (= 100); default 30 days before `date` (as a
    /// series' default `from`).
    #[param(value_type = Option<String>)]
    pub base: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<Format>,
}

fn metric(name: &str) -> Result<Metric, ApiError> {
    Metric::parse(name).ok_or_else(|| ApiError::not_found("index"))
}

/// Publishes every period of `[from, to]`: each period's whole table is protected together.
async fn figures(
    state: &AppState,
    m: Metric,
    period: Period,
    from: NaiveDate,
    to: NaiveDate,
    size: Option<SizeClass>,
    base: Option<NaiveDate>,
) -> ApiResult<(Vec<Figure>, Option<NaiveDate>)> {
    let b = &state.settings.bureau;
    let (rules, noise) = (b.rules(), b.noise());
    let cells = state
        .store
        .bureau_cells(&[m], from, to, period, size)
        .await?;
    let base_start = (m == Metric::Output).then(|| period.start_of(base.unwrap_or(from)));
    let base_cells: Option<BTreeMap<Place, _>> = match base_start {
        Some(s) => Some(
            state
                .store
                .bureau_cells(&[m], s, s, period, size)
                .await?
                .remove(&(m, s))
                .unwrap_or_default(),
        ),
        None => None,
    };
    let mut out = Vec::new();
    for ((_, start), table) in &cells {
        out.extend(publish(
            m,
            period,
            *start,
            table,
            base_cells.as_ref(),
            &rules,
            noise.as_ref(),
        ));
    }
    Ok((out, base_start))
}

fn respond(f: Figures, format: Option<Format>) -> Response {
    match format.unwrap_or_default() {
        Format::Json => axum::Json(f).into_response(),
        Format::Csv => {
            let mut csv = String::from(
                "index,period,period_start,sector,region,value,contributors,suppressed\n",
            );
            let cell = |s: &Option<String>| {
                let v = s.as_deref().unwrap_or("all");
                if v.contains([',', '"', '\n']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.to_owned()
                }
            };
            for x in &f.figures {
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    x.index.as_str(),
                    x.period.as_str(),
                    x.period_start,
                    cell(&x.sector),
                    cell(&x.region),
                    x.value.map(|v| v.to_string()).unwrap_or_default(),
                    x.contributors.as_deref().unwrap_or(""),
                    x.suppressed.map(|r| r.as_str()).unwrap_or(""),
                ));
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}.csv\"", f.index.as_str()),
                    ),
                ],
                csv,
            )
                .into_response()
        }
    }
}

/// One index over time for one place (a sector and/or region, or the totals), each period's
/// table protected as a whole before the place's figures are picked.
#[utoipa::path(
    get, path = "/bureau/indices/{index}/series", tag = "bureau",
    params(("index" = String, Path, description = "The index, e.g. `utilisation`"), SeriesQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The figures: JSON, or CSV with format=csv", content(
            (Figures = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn series(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<Response> {
    let m = metric(&index)?;
    let period = q.period.unwrap_or_default();
    let to = q.to.unwrap_or_else(|| closed_through(Utc::now()));
    let from = q.from.unwrap_or(to - Duration::days(30));
    if to < from {
        return Err(ApiError::field("to", "must not be before `from`"));
    }
    if to - from > Duration::days(3 * 366) {
        return Err(ApiError::field(
            "from",
            "the range may span at most three years",
        ));
    }
    let (all, base) = figures(&state, m, period, from, to, q.size_class, q.base).await?;
    let figures = all
        .into_iter()
        .filter(|f| f.sector == q.sector && f.region == q.region)
        .collect();
    Ok(respond(
        Figures {
            index: m,
            unit: m.unit(),
            definition: m.definition(),
            base_period: base,
            release: release(&state),
            figures,
        },
        q.format,
    ))
}

/// One period of one index across regions (of a sector, or of all) or across sectors (of a
/// region, or of all), with the line's total.
#[utoipa::path(
    get, path = "/bureau/indices/{index}/cross-section", tag = "bureau",
    params(("index" = String, Path, description = "The index, e.g. `utilisation`"), CrossSectionQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The figures: JSON, or CSV with format=csv", content(
            (Figures = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cross_section(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(q): Query<CrossSectionQuery>,
) -> ApiResult<Response> {
    let m = metric(&index)?;
    let period = q.period.unwrap_or_default();
    let date = q.date.unwrap_or_else(|| closed_through(Utc::now()));
    let start = period.start_of(date);
    let by_region = match q.by.as_deref() {
        None | Some("region") => true,
        Some("sector") => false,
        Some(_) => return Err(ApiError::field("by", "`region` or `sector`")),
    };
    if by_region && q.region.is_some() {
        return Err(ApiError::field(
            "region",
            "with by=region, name a `sector` instead",
        ));
    }
    if !by_region && q.sector.is_some() {
        return Err(ApiError::field(
            "sector",
            "with by=sector, name a `region` instead",
        ));
    }
    let base = q.base.or(Some(date - Duration::days(30)));
    let (all, base) = figures(&state, m, period, start, start, q.size_class, base).await?;
    let figures = all
        .into_iter()
        .filter(|f| {
            if by_region {
                f.sector == q.sector
            } else {
                f.region == q.region
            }
        })
        .collect();
    Ok(respond(
        Figures {
            index: m,
            unit: m.unit(),
            definition: m.definition(),
            base_period: base,
            release: release(&state),
            figures,
        },
        q.format,
    ))
}
