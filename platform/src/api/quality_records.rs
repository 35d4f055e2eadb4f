//! Quality records: `POST /quality/records` records a batch of inspected units or batches
//! (the platform adds the line, the day and the process parameters of each unit's cycle, keeps
//! the yield figures, checks the control charts of the measured characteristics and scores
//! the promoted defect model); `GET /quality/records` lists them. Storage in
//! `store::quality`.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::quality::{NewRecord, QualityRecord, RecordFilter};

/// Most records in one request.
pub const MAX_RECORDS: usize = 1000;

/// One inspected unit or batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// Serial number, or batch id with `"batch": true` (1 to 200 characters, unique in the
    /// tenant: a record sent again is counted as a duplicate). Required.
    pub unit_id: Option<String>,
    /// Whether `unit_id` names a batch of `quantity` units (default false).
    #[serde(default)]
    pub batch: bool,
    /// Units the record stands for (default 1; more only for a batch).
    pub quantity: Option<i32>,
    /// Product (1 to 200 characters). Required.
    pub product: Option<String>,
    /// Work order number (at most 200 characters); left out, the MES work order the machine
    /// was running when the unit was made.
    #[serde(default)]
    pub work_order: String,
    /// The machine that made it. Required.
    pub machine_id: Option<i64>,
    /// When it was made (RFC 3339). Required; not more than `ingest.max_future_secs` ahead.
    pub produced_at: Option<DateTime<Utc>>,
    /// Start of its cycle (default: 60 s before `produced_at`); the process parameters are
    /// the machine's tags averaged over the cycle.
    pub cycle_started_at: Option<DateTime<Utc>>,
    /// Final inspection result. Absent: judged from `measurements` against the
    /// characteristics' specification limits.
    pub passed: Option<bool>,
    /// Whether it needed rework (default false).
    #[serde(default)]
    pub reworked: bool,
    /// Defect code of a failed or reworked unit (at most 100 characters).
    #[serde(default)]
    pub defect_code: String,
    /// Measured values by characteristic name (characteristics without a tag).
    #[serde(default)]
    pub measurements: BTreeMap<String, f64>,
}

/// A batch of records.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsBody {
    /// The records (1 to 1000). Any bad record refuses the batch, naming its field.
    pub records: Vec<RecordBody>,
}

/// What a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsOutcome {
    /// Records stored.
    pub accepted: usize,
    /// Records whose unit id was already recorded (left as they were).
    pub duplicates: usize,
    /// Id of each record sent, in order (`null` for a duplicate).
    pub ids: Vec<Option<i64>>,
    /// SPC alarms raised by the new values.
    pub spc_alarms_raised: Vec<i64>,
    /// Records scored by a promoted defect model of their machine's class.
    pub scored: usize,
}

/// Query parameters of `GET /quality/records`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// Made at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Made before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// One machine.
    machine_id: Option<i64>,
    /// One line.
    line_id: Option<i64>,
    /// One product.
    product: Option<String>,
    /// One work order.
    work_order: Option<String>,
    /// Only passed (`true`) or failed (`false`) records.
    passed: Option<bool>,
    /// Most to return, newest first (default 100, at most 10000).
    limit: Option<i64>,
}

fn check_record(i: usize, r: RecordBody, max_future: DateTime<Utc>) -> Result<NewRecord, ApiError> {
    let f = |name: &str| format!("records[{i}].{name}");
    let unit_id = r
        .unit_id
        .ok_or_else(|| ApiError::field(f("unit_id"), "missing"))?;
    if unit_id.trim().is_empty() || unit_id.chars().count() > 200 {
        return Err(ApiError::field(f("unit_id"), "1 to 200 characters"));
    }
    let product = r
        .product
        .ok_or_else(|| ApiError::field(f("product"), "missing"))?;
    if product.trim().is_empty() || product.chars().count() > 200 {
        return Err(ApiError::field(f("product"), "1 to 200 characters"));
    }
    if r.work_order.chars().count() > 200 {
        return Err(ApiError::field(f("work_order"), "at most 200 characters"));
    }
    if r.defect_code.chars().count() > 100 {
        return Err(ApiError::field(f("defect_code"), "at most 100 characters"));
    }
    let quantity = r.quantity.unwrap_or(1);
    if !(1..=1_000_000).contains(&quantity) {
        return Err(ApiError::field(
            f("quantity"),
            "must be between 1 and 1000000",
        ));
    }
    if quantity > 1 && !r.batch {
        return Err(ApiError::field(
            f("quantity"),
            "more than 1 unit needs \"batch\": true",
        ));
    }
    let machine_id = r
        .machine_id
        .ok_or_else(|| ApiError::field(f("machine_id"), "missing"))?;
    let produced_at = r
        .produced_at
        .ok_or_else(|| ApiError::field(f("produced_at"), "missing"))?;
    if produced_at > max_future {
        return Err(ApiError::field(f("produced_at"), "lies in the future"));
    }
    if let Some(start) = r.cycle_started_at {
        if start > produced_at {
            return Err(ApiError::field(
                f("cycle_started_at"),
                "must not be after produced_at",
            ));
        }
        if produced_at - start > Duration::hours(24) {
            return Err(ApiError::field(
                f("cycle_started_at"),
                "a cycle may last at most 24 hours",
            ));
        }
    }
    if r.measurements.len() > 100 {
        return Err(ApiError::field(f("measurements"), "at most 100 values"));
    }
    Ok(NewRecord {
        unit_id,
        batch: r.batch,
        quantity,
        product,
        work_order: r.work_order,
        machine_id,
        cycle_started_at: r.cycle_started_at,
        produced_at,
        passed: r.passed,
        reworked: r.reworked,
        defect_code: r.defect_code,
        measurements: r.measurements,
    })
}

/// Records a batch of inspected units or batches.
#[utoipa::path(
    post, path = "/quality/records", tag = "quality",
    request_body = RecordsBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = RecordsOutcome),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A record's field is missing or invalid (`records[3].machine_id`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RecordsBody>,
) -> ApiResult<axum::Json<RecordsOutcome>> {
    if body.records.is_empty() {
        return Err(ApiError::field("records", "at least one record"));
    }
    if body.records.len() > MAX_RECORDS {
        return Err(ApiError::field(
            "records",
            format!("at most {MAX_RECORDS} records per request"),
        ));
    }
    let max_future = Utc::now() + Duration::seconds(state.settings.ingest.max_future_secs);
    let records = body
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| check_record(i, r, max_future))
        .collect::<Result<Vec<_>, _>>()?;
    let mut session = caller.session(&state.store).await?;
    let inserted = session
        .insert_quality_records(&records)
        .await?
        .map_err(|r| ApiError::field(r.field, r.detail))?;
    let accepted = inserted.ids.iter().flatten().count();
    tracing::debug!(tenant = %caller.tenant, accepted, duplicates = inserted.duplicates, "Quality records stored.");
    let since = records
        .iter()
        .zip(&inserted.ids)
        .filter(|(_, id)| id.is_some())
        .map(|(r, _)| r.produced_at)
        .min();
    let mut raised = Vec::new();
    for c in inserted.characteristics.iter().filter(|_| since.is_some()) {
        let since = since.unwrap_or_else(Utc::now);
        match crate::maintenance::spc_watch::check_alarms(&mut session, *c, since).await {
            Ok(ids) => raised.extend(ids),
            // The records are stored; a chart that cannot be drawn yet raises nothing.
            Err(e) => {
                tracing::debug!(tenant = %caller.tenant, characteristic = c, error = %e, "No SPC check for this characteristic.")
            }
        }
    }
    let new_ids: Vec<i64> = inserted.ids.iter().flatten().copied().collect();
    let scored = match crate::maintenance::defect::score_records(&mut session, &new_ids).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(tenant = %caller.tenant, error = %e, "Defect scoring failed; the records are stored unscored.");
            0
        }
    };
    Ok(axum::Json(RecordsOutcome {
        accepted,
        duplicates: inserted.duplicates,
        ids: inserted.ids,
        spc_alarms_raised: raised,
        scored,
    }))
}

/// Lists records, newest first, with their process parameters, measured values and defect
/// predictions.
#[utoipa::path(
    get, path = "/quality/records", tag = "quality",
    params(RecordQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<QualityRecord>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RecordQuery>,
) -> ApiResult<axum::Json<Vec<QualityRecord>>> {
    let limit = super::input::limit(q.limit, 100, 10_000)?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to <= from {
            return Err(ApiError::field("to", "must be after `from`"));
        }
    }
    let mut session = caller.session(&state.store).await?;
    let rows = session
        .quality_records(&RecordFilter {
            from: q.from,
            to: q.to,
            machine_id: q.machine_id,
            line_id: q.line_id,
            product: q.product,
            work_order: q.work_order,
            passed: q.passed,
            scored: false,
            limit,
        })
        .await?;
    Ok(axum::Json(rows))
}
