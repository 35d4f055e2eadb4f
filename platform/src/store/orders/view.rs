//! Orders as the API shows them: the order, its steps with their work orders and produced
//! counts, progress, the quality records of its work orders, and the timeline, with times also
//! in the site's own time zone.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use deadpool_postgres::Transaction;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::orders::pricing::Price;
use crate::orders::state::OrderState;
use crate::store::TenantId;

/// One routing step as scheduled, with its work order's progress.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OrderStep {
    /// Position in the routing, from 0.
    pub step: i32,
    /// The line kind.
    pub line_kind: String,
    /// The machine.
    pub machine_id: i64,
    /// Its line.
    pub line_id: i64,
    /// The MES work order.
    pub work_order_id: i64,
    /// Its number (`CO-000042-1`).
    pub work_order_number: String,
    /// Its state.
    pub work_order_state: String,
    /// Planned start.
    pub planned_start: DateTime<Utc>,
    /// Planned end.
    pub planned_end: DateTime<Utc>,
    /// Machine seconds planned.
    pub machine_secs: f64,
    /// Parts counted for the work order (its machine's part counter over its run windows,
    /// and production recorded against it).
    pub produced: i64,
    /// Of which rejected.
    pub rejected: i64,
}

/// How far the order is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Progress {
    /// Units ordered.
    pub quantity: i64,
    /// Good units out of the last step.
    pub made: i64,
    /// `made / quantity`, 0 to 100.
    pub percent: f64,
}

/// The quality records of the order's work orders.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Default)]
pub struct QualitySummary {
    /// Units inspected.
    pub inspected: i64,
    /// Units that passed.
    pub passed: i64,
    /// Units that failed.
    pub failed: i64,
}

/// One step of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The same instant in the site's time zone, `2026-03-10 14:05 CST`.
    pub at_local: String,
    /// From (absent for the first entry).
    pub from: Option<OrderState>,
    /// To.
    pub state: OrderState,
    /// What happened, for people.
    pub note: String,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CustomOrder {
    /// Id.
    pub id: i64,
    /// Number (`CO-000042`).
    pub number: String,
    /// The consumer's handle on it: `GET /shop/orders/{token}`.
    pub token: String,
    /// The template.
    pub template_id: i64,
    /// Its code.
    pub template_code: String,
    /// The configuration.
    #[schema(value_type = Object)]
    pub configuration: Map<String, Value>,
    /// Units.
    pub quantity: i64,
    /// The price (absent for a draft).
    pub price: Option<Price>,
    /// Where it is.
    pub state: OrderState,
    /// Where it may go next.
    pub allowed_transitions: Vec<OrderState>,
    /// The promised ship date, local to the shipping site.
    pub promised_ship_date: Option<NaiveDate>,
    /// The promise as an instant (when the last step plus the ship buffer ends).
    pub promised_at: Option<DateTime<Utc>>,
    /// The shipping site's time zone.
    pub time_zone: String,
    /// Until when the quote holds.
    pub quote_valid_until: Option<DateTime<Utc>>,
    /// Who ordered (name, email), as given when placing.
    #[schema(value_type = Object)]
    pub customer: Value,
    /// Its steps, once scheduled.
    pub steps: Vec<OrderStep>,
    /// Progress.
    pub progress: Progress,
    /// Quality records of its work orders.
    pub quality: QualitySummary,
    /// Every transition, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An order in a listing (no steps, no timeline).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OrderSummary {
    /// Id.
    pub id: i64,
    /// Number.
    pub number: String,
    /// Template code.
    pub template_code: String,
    /// Units.
    pub quantity: i64,
    /// Total, minor units.
    pub total_minor: Option<i64>,
    /// Currency.
    pub currency: String,
    /// State.
    pub state: OrderState,
    /// Promised ship date (site-local).
    pub promised_ship_date: Option<NaiveDate>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The stored order row (what flows need).
#[derive(Debug, Clone)]
pub(crate) struct OrderRow {
    pub id: i64,
    pub number: String,
    pub token: String,
    pub template_id: i64,
    pub template_code: String,
    pub configuration: Map<String, Value>,
    pub quantity: i64,
    pub price: Option<Price>,
    pub state: OrderState,
    pub promised_date: Option<NaiveDate>,
    pub promised_at: Option<DateTime<Utc>>,
    pub time_zone: String,
    pub quote_valid_until: Option<DateTime<Utc>>,
    pub customer: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const ORDER_COLUMNS: &str = "o.id, o.number, o.token, o.template_id, t.code, \
     o.configuration, o.quantity, o.price, o.state, o.promised_date, o.promised_at, o.time_zone, \
     o.quote_valid_until, o.customer, o.created_at, o.updated_at";

pub(crate) const ORDER_FROM: &str = "public.custom_orders o JOIN public.order_templates t \
     ON t.tenant_id = o.tenant_id AND t.id = o.template_id";

pub(crate) fn order_from_row(r: &tokio_postgres::Row) -> Result<OrderRow> {
    let config: Value = r.get(5);
    let price: Option<Value> = r.get(7);
    let state: String = r.get(8);
    Ok(OrderRow {
        id: r.get(0),
        number: r.get(1),
        token: r.get(2),
        template_id: r.get(3),
        template_code: r.get(4),
        configuration: config.as_object().cloned().unwrap_or_default(),
        quantity: r.get(6),
        price: price
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::Stored(format!("order price: {e}")))?,
        state: OrderState::parse(&state)
            .ok_or_else(|| Error::Stored(format!("order state {state}")))?,
        promised_date: r.get(9),
        promised_at: r.get(10),
        time_zone: r.get(11),
        quote_valid_until: r.get(12),
        customer: r.get(13),
        created_at: r.get(14),
        updated_at: r.get(15),
    })
}

/// Reads an order row by id or by token (locking it with `for_update`).
pub(crate) async fn read_row(
    tx: &Transaction<'_>,
    tenant: TenantId,
    id: Option<i64>,
    token: Option<&str>,
    for_update: bool,
) -> Result<Option<OrderRow>> {
    let lock = if for_update { " FOR UPDATE OF o" } else { "" };
    let row = tx
        .query_opt(
            &format!(
                "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.tenant_id = $1 \
                 AND ($2::bigint IS NULL OR o.id = $2) AND ($3::text IS NULL OR o.token = $3) \
                 AND ($2::bigint IS NOT NULL OR $3::text IS NOT NULL){lock}"
            ),
            &[&tenant.0, &id, &token],
        )
        .await
        .map_err(Error::db("reading an order"))?;
    row.as_ref().map(order_from_row).transpose()
}

/// The steps of an order with their work orders' states and counts.
pub(crate) async fn read_steps(
    tx: &Transaction<'_>,
    tenant: TenantId,
    order_id: i64,
) -> Result<Vec<OrderStep>> {
    let rows = tx
        .query(
            "SELECT s.step, s.line_kind, s.machine_id, s.line_id, s.work_order_id, w.number, w.state, \
                    s.planned_start, s.planned_end, s.machine_secs, \
                    coalesce((SELECT sum(c.produced) FROM public.mes_work_order_runs r \
                              JOIN public.mes_counts c ON c.tenant_id = r.tenant_id AND c.machine_id = r.machine_id \
                               AND c.minute_end > r.start_at AND (r.end_at IS NULL OR c.minute_end <= r.end_at) \
                              WHERE r.tenant_id = s.tenant_id AND r.work_order_id = s.work_order_id), 0)::bigint \
                  + coalesce((SELECT sum(p.produced) FROM public.mes_production_records p \
                              WHERE p.tenant_id = s.tenant_id AND p.work_order_id = s.work_order_id), 0)::bigint, \
                    coalesce((SELECT sum(c.rejected) FROM public.mes_work_order_runs r \
                              JOIN public.mes_counts c ON c.tenant_id = r.tenant_id AND c.machine_id = r.machine_id \
                               AND c.minute_end > r.start_at AND (r.end_at IS NULL OR c.minute_end <= r.end_at) \
                              WHERE r.tenant_id = s.tenant_id AND r.work_order_id = s.work_order_id), 0)::bigint \
                  + coalesce((SELECT sum(p.rejected) FROM public.mes_production_records p \
                              WHERE p.tenant_id = s.tenant_id AND p.work_order_id = s.work_order_id), 0)::bigint \
             FROM public.custom_order_steps s \
             JOIN public.mes_work_orders w ON w.tenant_id = s.tenant_id AND w.id = s.work_order_id \
             WHERE s.tenant_id = $1 AND s.order_id = $2 ORDER BY s.step",
            &[&tenant.0, &order_id],
        )
        .await
        .map_err(Error::db("reading an order's steps"))?;
    Ok(rows
        .iter()
        .map(|r| OrderStep {
            step: r.get(0),
            line_kind: r.get(1),
            machine_id: r.get(2),
            line_id: r.get(3),
            work_order_id: r.get(4),
            work_order_number: r.get(5),
            work_order_state: r.get(6),
            planned_start: r.get(7),
            planned_end: r.get(8),
            machine_secs: r.get(9),
            produced: r.get(10),
            rejected: r.get(11),
        })
        .collect())
}

/// Quality records whose work order is one of `numbers`.
pub(crate) async fn read_quality(
    tx: &Transaction<'_>,
    tenant: TenantId,
    numbers: &[String],
) -> Result<QualitySummary> {
    if numbers.is_empty() {
        return Ok(QualitySummary::default());
    }
    let r = tx
        .query_one(
            "SELECT coalesce(sum(quantity), 0)::bigint, \
                    coalesce(sum(quantity) FILTER (WHERE passed), 0)::bigint \
             FROM public.quality_records WHERE tenant_id = $1 AND work_order = ANY($2)",
            &[&tenant.0, &numbers],
        )
        .await
        .map_err(Error::db("reading an order's quality records"))?;
    let (inspected, passed): (i64, i64) = (r.get(0), r.get(1));
    Ok(QualitySummary {
        inspected,
        passed,
        failed: inspected - passed,
    })
}

/// `at` in `tz` for people: `2026-03-10 14:05 CST`.
pub fn local(at: DateTime<Utc>, tz: &str) -> String {
    let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Good units out of the last step.
pub(crate) fn made(steps: &[OrderStep]) -> i64 {
    steps
        .last()
        .map(|s| s.produced - s.rejected)
        .unwrap_or(0)
        .max(0)
}

/// The whole order as the API shows it.
pub(crate) async fn assemble(
    tx: &Transaction<'_>,
    tenant: TenantId,
    o: OrderRow,
) -> Result<CustomOrder> {
    let steps = read_steps(tx, tenant, o.id).await?;
    let numbers: Vec<String> = steps.iter().map(|s| s.work_order_number.clone()).collect();
    let quality = read_quality(tx, tenant, &numbers).await?;
    let rows = tx
        .query(
            "SELECT at, from_state, to_state, note FROM public.custom_order_events \
             WHERE tenant_id = $1 AND order_id = $2 ORDER BY seq",
            &[&tenant.0, &o.id],
        )
        .await
        .map_err(Error::db("reading an order's timeline"))?;
    let timeline = rows
        .iter()
        .map(|r| {
            let at: DateTime<Utc> = r.get(0);
            let from: Option<String> = r.get(1);
            let to: String = r.get(2);
            TimelineEntry {
                at,
                at_local: local(at, &o.time_zone),
                from: from.as_deref().and_then(OrderState::parse),
                state: OrderState::parse(&to).unwrap_or(OrderState::Draft),
                note: r.get(3),
            }
        })
        .collect();
    let made = made(&steps);
    Ok(CustomOrder {
        progress: Progress {
            quantity: o.quantity,
            made,
            percent: (100.0 * made as f64 / o.quantity.max(1) as f64).min(100.0),
        },
        allowed_transitions: o.state.next(),
        id: o.id,
        number: o.number,
        token: o.token,
        template_id: o.template_id,
        template_code: o.template_code,
        configuration: o.configuration,
        quantity: o.quantity,
        price: o.price,
        state: o.state,
        promised_ship_date: o.promised_date,
        promised_at: o.promised_at,
        time_zone: o.time_zone,
        quote_valid_until: o.quote_valid_until,
        customer: o.customer,
        steps,
        quality,
        timeline,
        created_at: o.created_at,
        updated_at: o.updated_at,
    })
}
