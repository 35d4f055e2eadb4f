//! OEE (`GET /oee?machine=…|line=…&from&to&group=total|shift|day|work_order`) per ISO 22400-2,
//! with the three factors and the losses by category. Computed from state intervals and
//! per-minute counts (`store::mes::oee`), never raw samples.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::mes::oee::{OeeGroup, OeeReport, OeeScope};

/// Query of `GET /oee`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OeeQuery {
    /// The machine (or give `line`).
    pub machine: Option<i64>,
    /// The line: its machines' figures summed.
    pub line: Option<i64>,
    /// Start (RFC 3339); default a day before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now. At most 93 days after `from`.
    pub to: Option<DateTime<Utc>>,
    /// `total` (default), `shift`, `day` or `work_order`.
    #[param(inline)]
    pub group: Option<OeeGroup>,
}

/// OEE of a machine or line over `[from, to)`, grouped.
#[utoipa::path(
    get, path = "/oee", tag = "mes",
    params(OeeQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = OeeReport),
        (status = 404, description = "No such machine or line", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn oee(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<OeeQuery>,
) -> ApiResult<axum::Json<OeeReport>> {
    let scope = match (q.machine, q.line) {
        (Some(m), None) => OeeScope::Machine(m),
        (None, Some(l)) => OeeScope::Line(l),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "line",
                "give `machine` or `line`, not both",
            ))
        }
        (None, None) => return Err(ApiError::field("machine", "give `machine` or `line`")),
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(1));
    if to <= from {
        return Err(ApiError::field("to", "must be after `from`"));
    }
    if to - from > Duration::days(93) {
        return Err(ApiError::field(
            "from",
            "the range may span at most 93 days",
        ));
    }
    let mut session = caller.session(&state.store).await?;
    session
        .oee(scope, from, to, q.group.unwrap_or_default())
        .await?
        .map(axum::Json)
        .ok_or_else(|| match scope {
            OeeScope::Machine(_) => ApiError::not_found("machine"),
            OeeScope::Line(_) => ApiError::not_found("line"),
        })
}
