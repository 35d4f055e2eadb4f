//! `/sharing`: what the tenant shares with industry bureaus, per category (none by default),
//! its size class, and exactly which figures it contributes (issue #16). Changes are audited
//! (`bureau_sharing.update`). Bureau accounts get 403 here: these are tenant routes.

use std::collections::BTreeSet;

use axum::extract::State;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::bureau::sharing::{Category, SizeClass};
use crate::store::bureau::{OwnContribution, SharingSettings};

/// What to share.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SharingBody {
    /// The categories to share (the rest are not); `[]` shares nothing.
    pub categories: Vec<Category>,
    /// The company's size class; absent keeps it.
    pub size_class: Option<SizeClass>,
}

/// The tenant's sharing, with the platform's negative list applied.
#[utoipa::path(
    get, path = "/sharing", tag = "bureau",
    security(("api_key" = [])),
    responses(
        (status = 200, body = SharingSettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<SharingSettings>> {
    Ok(axum::Json(
        caller.session(&state.store).await?.sharing().await?,
    ))
}

/// Sets what the tenant shares with bureaus (owners only); audited.
#[utoipa::path(
    put, path = "/sharing", tag = "bureau",
    request_body = SharingBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = SharingSettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SharingBody>,
) -> ApiResult<axum::Json<SharingSettings>> {
    let categories: BTreeSet<Category> = body.categories.iter().copied().collect();
    if categories.len() != body.categories.len() {
        return Err(ApiError::field("categories", "names a category twice"));
    }
    let settings = caller
        .session(&state.store)
        .await?
        .set_sharing(&categories, body.size_class)
        .await?;
    Ok(axum::Json(settings))
}

/// Range of `GET /sharing/contributions`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContributionQuery {
    /// First site-local day (`YYYY-MM-DD`); default 7 days before `to`.
    #[param(value_type = Option<String>)]
    pub from: Option<NaiveDate>,
    /// Last day; default yesterday (UTC).
    #[param(value_type = Option<String>)]
    pub to: Option<NaiveDate>,
}

/// Exactly what the tenant contributes: its own figure per index and day, and whether
/// bureaus' cells include it.
#[utoipa::path(
    get, path = "/sharing/contributions", tag = "bureau",
    params(ContributionQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<OwnContribution>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn contributions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ContributionQuery>,
) -> ApiResult<axum::Json<Vec<OwnContribution>>> {
    let to =
        q.to.unwrap_or_else(|| Utc::now().date_naive() - Duration::days(1));
    let from = q.from.unwrap_or(to - Duration::days(6));
    if to < from {
        return Err(ApiError::field("to", "must not be before `from`"));
    }
    if to - from > Duration::days(366) {
        return Err(ApiError::field(
            "from",
            "the range may span at most 366 days",
        ));
    }
    Ok(axum::Json(
        caller
            .session(&state.store)
            .await?
            .own_contributions(from, to)
            .await?,
    ))
}
