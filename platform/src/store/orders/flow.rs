//! Quoting, placing, transitions and progress.
//!
//! Every transition updates the order, appends to its timeline, writes an audit entry and
//! enqueues the `order.<state>` webhook event, all in one transaction.
//!
//! Placing an order confirms it and books it on the lines in one transaction that first takes
//! a transaction-scoped advisory lock on every line that has machines of the routing's kinds
//! (in line order, so two placements never wait on each other crosswise). Inside the lock the
//! schedule is read, the order placed after what is booked, and its work orders written; so
//! two placements racing for the last capacity are serialised and the second sees the first's
//! booking. When the plan no longer keeps the quoted date the placement is not made: the order
//! is quoted again with the new date (the consumer may accept it by placing again), or refused
//! when the horizon has no room at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use serde_json::{json, Map, Value};

use super::view::{
    assemble, made, read_quality, read_row, read_steps, CustomOrder, OrderRow, OrderSummary,
    QualitySummary, ORDER_COLUMNS, ORDER_FROM,
};
use super::{random_text, OrderTemplate};
use crate::error::{Error, Result};
use crate::mes::calendar::{Calendar, ShiftDef};
use crate::mes::Span;
use crate::orders::pricing;
use crate::orders::schedule::{self, Machine, Need, Plan, Refusal};
use crate::orders::state::OrderState;
use crate::orders::template::TemplateSpec;
use crate::orders::InvalidInput;
use crate::store::{audit, Store, TenantId, TenantSession};

/// How far ahead the scheduler looks for room.
pub const HORIZON_DAYS: i64 = 60;

/// What a quote request came to.
#[derive(Debug, Clone)]
pub enum QuoteOutcome {
    /// Quoted: price, promised date, valid until.
    Quoted(Box<CustomOrder>),
    /// No such (active) template.
    NoTemplate,
    /// The configuration is refused.
    Invalid(InvalidInput),
    /// The plant cannot make it within the horizon.
    Unschedulable(String),
}

/// What a transition (or a placement) came to.
#[derive(Debug, Clone)]
pub enum OrderOutcome {
    /// Done; the order as it is now.
    Done(Box<CustomOrder>),
    /// No such order.
    NotFound,
    /// Not allowed from the order's state.
    Refused {
        /// Its state.
        from: OrderState,
        /// Where it may go.
        allowed: Vec<OrderState>,
    },
    /// The quote is no longer valid.
    Expired(DateTime<Utc>),
    /// The promised date can no longer be kept: quoted again with a new date.
    NewDate {
        /// The date promised before.
        was: NaiveDate,
        /// The order, quoted again.
        order: Box<CustomOrder>,
    },
    /// No room within the horizon (or no line of a kind).
    Unschedulable(String),
    /// The quality records of the last step say fewer units passed than were ordered.
    QualityFailed(QualitySummary),
}

/// Orders per state and each line's booking.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OrderBoard {
    /// Orders per state.
    pub states: BTreeMap<String, i64>,
    /// Lines that run order steps.
    pub lines: Vec<LineLoad>,
}

/// A line's share of the order schedule.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LineLoad {
    /// The line.
    pub line_id: i64,
    /// Its name.
    pub name: String,
    /// Steps of open orders on it.
    pub open_steps: i64,
    /// Machine hours booked from now on.
    pub booked_hours: f64,
    /// The last booked end.
    pub booked_until: Option<DateTime<Utc>>,
}

fn lock_key(tenant: TenantId, line: i64) -> String {
    format!("millwright.orders.line:{}:{line}", tenant.0)
}

/// Takes the lock of every line with machines of `kinds`, in line order.
async fn lock_lines(tx: &Transaction<'_>, tenant: TenantId, kinds: &[String]) -> Result<()> {
    let lines: Vec<i64> = tx
        .query(
            "SELECT DISTINCT line_id FROM public.machines WHERE tenant_id = $1 AND kind = ANY($2) ORDER BY 1",
            &[&tenant.0, &kinds],
        )
        .await
        .map_err(Error::db("finding the lines of an order"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for line in lines {
        tx.execute(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))",
            &[&lock_key(tenant, line)],
        )
        .await
        .map_err(Error::db("locking a line's schedule"))?;
    }
    Ok(())
}

/// The machines of `kinds` with their sites' planned time over the horizon and their booking.
/// A site without a shift calendar counts as working around the clock.
pub(crate) async fn load_machines(
    tx: &Transaction<'_>,
    tenant: TenantId,
    kinds: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<Machine>> {
    let rows = tx
        .query(
            "SELECT m.id, m.line_id, m.kind, s.id, s.time_zone, c.shifts, c.days_off \
             FROM public.machines m \
             JOIN public.lines l ON l.tenant_id = m.tenant_id AND l.id = m.line_id \
             JOIN public.sites s ON s.tenant_id = l.tenant_id AND s.id = l.site_id \
             LEFT JOIN public.mes_calendars c ON c.tenant_id = s.tenant_id AND c.site_id = s.id \
             WHERE m.tenant_id = $1 AND m.kind = ANY($2) ORDER BY m.id",
            &[&tenant.0, &kinds],
        )
        .await
        .map_err(Error::db("reading the machines of an order's lines"))?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    // Each machine's booking: one grouped pass over the open orders' steps on them.
    let booked: BTreeMap<i64, DateTime<Utc>> = tx
        .query(
            "SELECT st.machine_id, max(st.planned_end) FROM public.custom_order_steps st \
             JOIN public.custom_orders o ON o.tenant_id = st.tenant_id AND o.id = st.order_id \
             WHERE st.tenant_id = $1 AND st.machine_id = ANY($2) AND st.planned_end > $3 \
               AND o.state IN ('scheduled', 'in_production', 'quality_check') \
             GROUP BY st.machine_id",
            &[&tenant.0, &ids, &now],
        )
        .await
        .map_err(Error::db("reading the machines' bookings"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let to = now + Duration::days(HORIZON_DAYS);
    let mut sites: BTreeMap<i64, (chrono_tz::Tz, Arc<Vec<Span>>)> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let site: i64 = r.get(3);
        if let std::collections::btree_map::Entry::Vacant(slot) = sites.entry(site) {
            let tz_name: String = r.get(4);
            let shifts: Option<Value> = r.get(5);
            let days_off: Option<Vec<NaiveDate>> = r.get(6);
            let shifts: Vec<ShiftDef> = shifts
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| Error::Stored(format!("shift calendar: {e}")))?
                .unwrap_or_default();
            let cal = Calendar::new(&tz_name, shifts.clone(), days_off.unwrap_or_default())
                .map_err(|e| Error::Stored(format!("shift calendar of site {site}: {e}")))?;
            let planned = if shifts.is_empty() {
                Arc::new(vec![Span::new(now, to)])
            } else {
                schedule::planned(&cal, now, to)
            };
            slot.insert((cal.time_zone, planned));
        }
        let (tz, planned) = sites[&site].clone();
        let id: i64 = r.get(0);
        out.push(Machine {
            machine_id: id,
            line_id: r.get(1),
            kind: r.get(2),
            time_zone: tz,
            planned,
            booked_until: booked.get(&id).copied().unwrap_or(now).max(now),
        });
    }
    Ok(out)
}

/// The kinds of a routing, each once.
fn kinds(spec: &TemplateSpec) -> Vec<String> {
    let mut k: Vec<String> = spec.routing.iter().map(|s| s.line_kind.clone()).collect();
    k.sort();
    k.dedup();
    k
}

/// Plans an order of `spec` configured as `config` after what is booked on `machines`.
fn plan_for(
    spec: &TemplateSpec,
    steps: &[(String, f64)],
    machines: &[Machine],
    now: DateTime<Utc>,
) -> std::result::Result<Plan, Refusal> {
    let first_tz = machines
        .iter()
        .find(|m| Some(&m.kind) == steps.first().map(|s| &s.0))
        .map(|m| m.time_zone)
        .unwrap_or(chrono_tz::UTC);
    let needs: Vec<Need> = steps
        .iter()
        .map(|(k, secs)| Need {
            line_kind: k.clone(),
            secs: *secs,
        })
        .collect();
    schedule::plan(
        machines,
        &needs,
        schedule::earliest_start(now, spec.lead_days, first_tz),
        Duration::hours(i64::from(spec.ship_buffer_hours)),
    )
}

/// The order as a webhook event's payload.
fn event_payload(o: &OrderRow, from: Option<OrderState>, to: OrderState, note: &str) -> Value {
    json!({
        "id": o.id,
        "number": o.number,
        "template_code": o.template_code,
        "quantity": o.quantity,
        "state": to,
        "previous_state": from,
        "promised_ship_date": o.promised_date,
        "total_minor": o.price.as_ref().map(|p| p.total_minor),
        "currency": o.price.as_ref().map(|p| p.currency.clone()),
        "note": note,
    })
}

/// Moves `o` to `to`: the row, the timeline, the audit log and the webhook outbox.
async fn record(
    tx: &Transaction<'_>,
    tenant: TenantId,
    actor: &str,
    o: &mut OrderRow,
    to: OrderState,
    note: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let from = o.state;
    tx.execute(
        "UPDATE public.custom_orders SET state = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
        &[&tenant.0, &o.id, &to.as_str(), &now],
    )
    .await
    .map_err(Error::db("moving an order"))?;
    tx.execute(
        "INSERT INTO public.custom_order_events (tenant_id, order_id, seq, at, from_state, to_state, actor, note) \
         SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7 FROM public.custom_order_events \
         WHERE tenant_id = $1 AND order_id = $2",
        &[&tenant.0, &o.id, &now, &from.as_str(), &to.as_str(), &actor, &note],
    )
    .await
    .map_err(Error::db("adding to an order's timeline"))?;
    audit::append(
        tx,
        tenant,
        actor,
        "order.transition",
        format!("order/{}", o.id),
        Some(json!({ "state": from })),
        Some(json!({ "state": to, "note": note })),
    )
    .await?;
    o.state = to;
    o.updated_at = now;
    crate::store::webhooks::enqueue(
        tx,
        tenant,
        to.event_type(),
        &event_payload(o, Some(from), to, note),
    )
    .await?;
    Ok(())
}

/// Writes a new quote (price, date, validity) onto `o`.
async fn write_quote(
    tx: &Transaction<'_>,
    tenant: TenantId,
    o: &mut OrderRow,
    price: &pricing::Price,
    plan: &Plan,
    tz: &str,
    valid_until: DateTime<Utc>,
) -> Result<()> {
    let price_v = serde_json::to_value(price).map_err(|e| Error::Stored(e.to_string()))?;
    tx.execute(
        "UPDATE public.custom_orders SET price = $3, total_minor = $4, promised_date = $5, \
         promised_at = $6, time_zone = $7, quote_valid_until = $8 WHERE tenant_id = $1 AND id = $2",
        &[
            &tenant.0,
            &o.id,
            &price_v,
            &price.total_minor,
            &plan.ship_date,
            &plan.ship_at,
            &tz,
            &valid_until,
        ],
    )
    .await
    .map_err(Error::db("writing a quote"))?;
    o.price = Some(price.clone());
    o.promised_date = Some(plan.ship_date);
    o.promised_at = Some(plan.ship_at);
    o.time_zone = tz.to_string();
    o.quote_valid_until = Some(valid_until);
    Ok(())
}

/// The time zone of the machine a plan's last step runs on.
fn last_zone(plan: &Plan, machines: &[Machine]) -> String {
    plan.placements
        .last()
        .and_then(|p| machines.iter().find(|m| m.machine_id == p.machine_id))
        .map(|m| m.time_zone.name().to_string())
        .unwrap_or_else(|| "UTC".into())
}

async fn template_in(
    tx: &Transaction<'_>,
    tenant: TenantId,
    id: i64,
) -> Result<Option<OrderTemplate>> {
    let row = tx
        .query_opt(
            "SELECT id, product_id, active, spec, created_at, updated_at FROM public.order_templates \
             WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &id],
        )
        .await
        .map_err(Error::db("reading an order template"))?;
    row.as_ref().map(super::template_from_row).transpose()
}

/// Books `plan` for `o`: a planned MES work order per step, and the steps.
async fn book(
    tx: &Transaction<'_>,
    tenant: TenantId,
    actor: &str,
    o: &OrderRow,
    product_id: i64,
    plan: &Plan,
) -> Result<()> {
    for p in &plan.placements {
        let number = format!("{}-{}", o.number, p.step + 1);
        let wo: i64 = tx
            .query_one(
                "INSERT INTO public.mes_work_orders (tenant_id, number, product_id, quantity, machine_id, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&tenant.0, &number, &product_id, &o.quantity, &p.machine_id, &p.end],
            )
            .await
            .map_err(Error::db("adding an order's work order"))?
            .get(0);
        tx.execute(
            "INSERT INTO public.custom_order_steps (tenant_id, order_id, step, line_kind, machine_id, \
             line_id, work_order_id, planned_start, planned_end, machine_secs) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &tenant.0,
                &o.id,
                &(p.step as i32),
                &p.line_kind,
                &p.machine_id,
                &p.line_id,
                &wo,
                &p.start,
                &p.end,
                &p.secs,
            ],
        )
        .await
        .map_err(Error::db("adding an order's step"))?;
        audit::append(
            tx,
            tenant,
            actor,
            "work_order.create",
            format!("work-order/{wo}"),
            None,
            Some(
                json!({ "number": number, "order": o.number, "machine_id": p.machine_id,
                         "planned_start": p.start, "planned_end": p.end }),
            ),
        )
        .await?;
    }
    Ok(())
}

/// Confirms and schedules `o` (quoted, locked) inside `tx`; the outcome, and whether to commit.
async fn confirm_and_schedule(
    tx: &Transaction<'_>,
    tenant: TenantId,
    actor: &str,
    o: &mut OrderRow,
    now: DateTime<Utc>,
) -> Result<OrderOutcome> {
    let Some(tpl) = template_in(tx, tenant, o.template_id).await? else {
        return Ok(OrderOutcome::NotFound);
    };
    let configured = match tpl.spec.configure(&o.configuration, o.quantity) {
        Ok(c) => c,
        Err(e) => {
            return Ok(OrderOutcome::Unschedulable(format!(
                "the template changed: {e}"
            )))
        }
    };
    let kinds = kinds(&tpl.spec);
    lock_lines(tx, tenant, &kinds).await?;
    let machines = load_machines(tx, tenant, &kinds, now).await?;
    let plan = match plan_for(&tpl.spec, &configured.steps, &machines, now) {
        Ok(p) => p,
        Err(r) => return Ok(OrderOutcome::Unschedulable(r.to_string())),
    };
    let promised = o.promised_date;
    if promised.is_some_and(|d| plan.ship_date > d) {
        // The promise cannot be kept any more: quote again with the date that can.
        let was = promised.unwrap_or(plan.ship_date);
        let price = pricing::price(&tpl.spec, &o.configuration, o.quantity)
            .map_err(|e| Error::Stored(e.to_string()))?;
        let valid = now + Duration::hours(i64::from(tpl.spec.quote_valid_hours));
        write_quote(
            tx,
            tenant,
            o,
            &price,
            &plan,
            &last_zone(&plan, &machines),
            valid,
        )
        .await?;
        let note = format!(
            "the lines filled up: ship date {} instead of {was}; place the order again to accept",
            plan.ship_date
        );
        record(tx, tenant, actor, o, OrderState::Quoted, &note, now).await?;
        return Ok(OrderOutcome::NewDate {
            was,
            order: Box::new(assemble(tx, tenant, o.clone()).await?),
        });
    }
    record(
        tx,
        tenant,
        actor,
        o,
        OrderState::Confirmed,
        "order placed",
        now,
    )
    .await?;
    book(tx, tenant, actor, o, tpl.product_id, &plan).await?;
    let lines: Vec<String> = plan
        .placements
        .iter()
        .map(|p| {
            format!(
                "{} from {}",
                p.line_kind,
                super::view::local(p.start, &o.time_zone)
            )
        })
        .collect();
    record(
        tx,
        tenant,
        actor,
        o,
        OrderState::Scheduled,
        &format!("scheduled: {}", lines.join(", ")),
        now,
    )
    .await?;
    Ok(OrderOutcome::Done(Box::new(
        assemble(tx, tenant, o.clone()).await?,
    )))
}

impl TenantSession {
    /// Quotes a configuration of template `template_id`: a new order (draft, then quoted) with
    /// its price, promised ship date and validity.
    pub async fn quote_order(
        &mut self,
        template_id: i64,
        configuration: &Map<String, Value>,
        quantity: i64,
        storefront_key: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<QuoteOutcome> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let tpl = match template_in(&tx, tenant, template_id).await? {
            Some(t) if t.active => t,
            _ => return Ok(QuoteOutcome::NoTemplate),
        };
        let configured = match tpl.spec.configure(configuration, quantity) {
            Ok(c) => c,
            Err(e) => return Ok(QuoteOutcome::Invalid(e)),
        };
        let price = match pricing::price(&tpl.spec, configuration, quantity) {
            Ok(p) => p,
            Err(e) => return Ok(QuoteOutcome::Invalid(e)),
        };
        let machines = load_machines(&tx, tenant, &kinds(&tpl.spec), now).await?;
        let plan = match plan_for(&tpl.spec, &configured.steps, &machines, now) {
            Ok(p) => p,
            Err(r) => return Ok(QuoteOutcome::Unschedulable(r.to_string())),
        };
        let token = format!("ord_{}", random_text(32));
        let config_v = Value::Object(configuration.clone());
        let id: i64 = tx
            .query_one(
                "INSERT INTO public.custom_orders (tenant_id, number, token, template_id, configuration, \
                 quantity, currency, storefront_key_id, created_at, updated_at) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                &[&tenant.0, &token, &template_id, &config_v, &quantity, &tpl.spec.currency, &storefront_key, &now],
            )
            .await
            .map_err(Error::db("adding an order"))?
            .get(0);
        let number = format!("CO-{id:06}");
        tx.execute(
            "UPDATE public.custom_orders SET number = $3 WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &id, &number],
        )
        .await
        .map_err(Error::db("numbering an order"))?;
        tx.execute(
            "INSERT INTO public.custom_order_events (tenant_id, order_id, seq, at, from_state, to_state, actor, note) \
             VALUES ($1, $2, 1, $3, NULL, 'draft', $4, 'configured')",
            &[&tenant.0, &id, &now, &actor],
        )
        .await
        .map_err(Error::db("starting an order's timeline"))?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "order.create",
            format!("order/{id}"),
            None,
            Some(json!({ "number": number, "template": tpl.spec.code, "quantity": quantity })),
        )
        .await?;
        let mut o = read_row(&tx, tenant, Some(id), None, false)
            .await?
            .ok_or_else(|| Error::Stored("a new order vanished".into()))?;
        let valid = now + Duration::hours(i64::from(tpl.spec.quote_valid_hours));
        write_quote(
            &tx,
            tenant,
            &mut o,
            &price,
            &plan,
            &last_zone(&plan, &machines),
            valid,
        )
        .await?;
        let note = format!(
            "{} {}.{:02}, ships by {}",
            price.currency,
            price.total_minor / 100,
            price.total_minor % 100,
            plan.ship_date
        );
        record(&tx, tenant, &actor, &mut o, OrderState::Quoted, &note, now).await?;
        let order = assemble(&tx, tenant, o).await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(QuoteOutcome::Quoted(Box::new(order)))
    }

    /// Places the quoted order `token` for `customer`: confirms it and books it on the lines
    /// (see the module docs for the lock and what happens when the date cannot be kept).
    pub async fn place_order(
        &mut self,
        token: &str,
        customer: &Value,
        now: DateTime<Utc>,
    ) -> Result<OrderOutcome> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(mut o) = read_row(&tx, tenant, None, Some(token), true).await? else {
            return Ok(OrderOutcome::NotFound);
        };
        if o.state != OrderState::Quoted {
            return Ok(OrderOutcome::Refused {
                from: o.state,
                allowed: o.state.next(),
            });
        }
        if let Some(v) = o.quote_valid_until.filter(|v| *v < now) {
            return Ok(OrderOutcome::Expired(v));
        }
        tx.execute(
            "UPDATE public.custom_orders SET customer = $3 WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &o.id, customer],
        )
        .await
        .map_err(Error::db("recording the customer"))?;
        o.customer = customer.clone();
        let outcome = confirm_and_schedule(&tx, tenant, &actor, &mut o, now).await?;
        if matches!(
            outcome,
            OrderOutcome::Done(_) | OrderOutcome::NewDate { .. }
        ) {
            tx.commit().await.map_err(Error::db("committing"))?;
        }
        Ok(outcome)
    }

    /// Moves order `id` to `to` (the tenant's route). Scheduling books work orders; cancelling
    /// or rejecting a scheduled order cancels its work orders that have not run; shipping
    /// checks the last step's quality records.
    pub async fn transition_order(
        &mut self,
        id: i64,
        to: OrderState,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderOutcome> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(mut o) = read_row(&tx, tenant, Some(id), None, true).await? else {
            return Ok(OrderOutcome::NotFound);
        };
        if !o.state.may_become(to) {
            return Ok(OrderOutcome::Refused {
                from: o.state,
                allowed: o.state.next(),
            });
        }
        let note = if note.is_empty() { to.as_str() } else { note };
        match (o.state, to) {
            (OrderState::Quoted, OrderState::Confirmed) => {
                // Confirming books it at once, like a placement.
                let outcome = confirm_and_schedule(&tx, tenant, &actor, &mut o, now).await?;
                if matches!(
                    outcome,
                    OrderOutcome::Done(_) | OrderOutcome::NewDate { .. }
                ) {
                    tx.commit().await.map_err(Error::db("committing"))?;
                }
                return Ok(outcome);
            }
            (OrderState::Confirmed, OrderState::Scheduled) => {
                let Some(tpl) = template_in(&tx, tenant, o.template_id).await? else {
                    return Ok(OrderOutcome::NotFound);
                };
                let configured = match tpl.spec.configure(&o.configuration, o.quantity) {
                    Ok(c) => c,
                    Err(e) => return Ok(OrderOutcome::Unschedulable(e.to_string())),
                };
                let kinds = kinds(&tpl.spec);
                lock_lines(&tx, tenant, &kinds).await?;
                let machines = load_machines(&tx, tenant, &kinds, now).await?;
                let plan = match plan_for(&tpl.spec, &configured.steps, &machines, now) {
                    Ok(p) => p,
                    Err(r) => return Ok(OrderOutcome::Unschedulable(r.to_string())),
                };
                book(&tx, tenant, &actor, &o, tpl.product_id, &plan).await?;
            }
            (_, OrderState::Cancelled | OrderState::Rejected) => {
                tx.execute(
                    "UPDATE public.mes_work_orders w SET state = 'cancelled', updated_at = now() \
                     FROM public.custom_order_steps s WHERE s.tenant_id = $1 AND s.order_id = $2 \
                     AND w.tenant_id = s.tenant_id AND w.id = s.work_order_id \
                     AND w.state IN ('planned', 'released')",
                    &[&tenant.0, &o.id],
                )
                .await
                .map_err(Error::db("cancelling an order's work orders"))?;
            }
            (OrderState::QualityCheck, OrderState::Shipped) => {
                let steps = read_steps(&tx, tenant, o.id).await?;
                let last: Vec<String> = steps
                    .last()
                    .map(|s| vec![s.work_order_number.clone()])
                    .unwrap_or_default();
                let q = read_quality(&tx, tenant, &last).await?;
                if q.inspected > 0 && q.passed < o.quantity {
                    return Ok(OrderOutcome::QualityFailed(q));
                }
            }
            _ => {}
        }
        record(&tx, tenant, &actor, &mut o, to, note, now).await?;
        let order = assemble(&tx, tenant, o).await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(OrderOutcome::Done(Box::new(order)))
    }

    /// Order `id` as it is now (its progress advanced first from its work orders).
    pub async fn custom_order(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<CustomOrder>> {
        self.advance_order(Some(id), None, now).await?;
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let Some(o) = read_row(&tx, tenant, Some(id), None, false).await? else {
            return Ok(None);
        };
        Ok(Some(assemble(&tx, tenant, o).await?))
    }

    /// The order with consumer token `token`, as it is now.
    pub async fn custom_order_by_token(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CustomOrder>> {
        self.advance_order(None, Some(token), now).await?;
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let Some(o) = read_row(&tx, tenant, None, Some(token), false).await? else {
            return Ok(None);
        };
        Ok(Some(assemble(&tx, tenant, o).await?))
    }

    /// Orders, newest first, optionally in one state.
    pub async fn custom_orders(
        &mut self,
        state: Option<OrderState>,
        limit: i64,
    ) -> Result<Vec<OrderSummary>> {
        let tenant = self.tenant().0;
        let state = state.map(|s| s.as_str());
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT o.id, o.number, t.code, o.quantity, o.total_minor, o.currency, o.state, \
                        o.promised_date, o.created_at, o.updated_at \
                 FROM public.custom_orders o JOIN public.order_templates t \
                   ON t.tenant_id = o.tenant_id AND t.id = o.template_id \
                 WHERE o.tenant_id = $1 AND ($2::text IS NULL OR o.state = $2) \
                 ORDER BY o.id DESC LIMIT $3",
                &[&tenant, &state, &limit],
            )
            .await
            .map_err(Error::db("listing orders"))?;
        Ok(rows
            .iter()
            .map(|r| OrderSummary {
                id: r.get(0),
                number: r.get(1),
                template_code: r.get(2),
                quantity: r.get(3),
                total_minor: r.get(4),
                currency: r.get(5),
                state: OrderState::parse(r.get(6)).unwrap_or(OrderState::Draft),
                promised_ship_date: r.get(7),
                created_at: r.get(8),
                updated_at: r.get(9),
            })
            .collect())
    }

    /// Orders per state and every line's booking from `now` on.
    pub async fn order_board(&mut self, now: DateTime<Utc>) -> Result<OrderBoard> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let states = tx
            .query(
                "SELECT state, count(*) FROM public.custom_orders WHERE tenant_id = $1 GROUP BY state",
                &[&tenant],
            )
            .await
            .map_err(Error::db("counting orders"))?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect();
        let lines = tx
            .query(
                "SELECT l.id, l.name, count(*), \
                        coalesce(sum(extract(epoch FROM greatest(s.planned_end - greatest(s.planned_start, $2), interval '0'))), 0)::float8 / 3600.0, \
                        max(s.planned_end) \
                 FROM public.custom_order_steps s \
                 JOIN public.custom_orders o ON o.tenant_id = s.tenant_id AND o.id = s.order_id \
                 JOIN public.lines l ON l.tenant_id = s.tenant_id AND l.id = s.line_id \
                 WHERE s.tenant_id = $1 AND o.state IN ('scheduled', 'in_production', 'quality_check') \
                 GROUP BY l.id, l.name ORDER BY l.id",
                &[&tenant, &now],
            )
            .await
            .map_err(Error::db("reading line bookings"))?
            .iter()
            .map(|r| LineLoad {
                line_id: r.get(0),
                name: r.get(1),
                open_steps: r.get(2),
                booked_hours: r.get(3),
                booked_until: r.get(4),
            })
            .collect();
        Ok(OrderBoard { states, lines })
    }

    /// Advances scheduled and in-production orders (one, or all when neither id nor token is
    /// given) from their work orders: production started → `in_production`; every work order
    /// completed, or the last step's good count reaching the quantity → `quality_check`.
    /// Returns how many transitions were made.
    pub async fn advance_order(
        &mut self,
        id: Option<i64>,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let (tenant, actor) = (self.tenant(), "system".to_string());
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.tenant_id = $1 \
                     AND o.state IN ('scheduled', 'in_production') \
                     AND ($2::bigint IS NULL OR o.id = $2) AND ($3::text IS NULL OR o.token = $3) \
                     ORDER BY o.id FOR UPDATE OF o SKIP LOCKED"
                ),
                &[&tenant.0, &id, &token],
            )
            .await
            .map_err(Error::db("reading orders in production"))?;
        let mut moved = 0;
        for r in &rows {
            let mut o = super::view::order_from_row(r)?;
            let steps = read_steps(&tx, tenant, o.id).await?;
            if steps.is_empty() {
                continue;
            }
            let started = steps.iter().find(|s| {
                s.produced > 0
                    || matches!(
                        s.work_order_state.as_str(),
                        "running" | "completed" | "closed"
                    )
            });
            if o.state == OrderState::Scheduled {
                let Some(s) = started else { continue };
                let note = format!(
                    "production started: {} ({})",
                    s.line_kind, s.work_order_number
                );
                record(
                    &tx,
                    tenant,
                    &actor,
                    &mut o,
                    OrderState::InProduction,
                    &note,
                    now,
                )
                .await?;
                moved += 1;
            }
            let made = made(&steps);
            let all_done = steps
                .iter()
                .all(|s| matches!(s.work_order_state.as_str(), "completed" | "closed"));
            if o.state == OrderState::InProduction && (all_done || made >= o.quantity) {
                let note = format!("{made} of {} made; quality check", o.quantity);
                record(
                    &tx,
                    tenant,
                    &actor,
                    &mut o,
                    OrderState::QualityCheck,
                    &note,
                    now,
                )
                .await?;
                moved += 1;
            }
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(moved)
    }
}

impl Store {
    /// Advances every tenant's orders in production from their work orders (see
    /// [`TenantSession::advance_order`]); returns how many transitions were made.
    pub async fn advance_orders(&self) -> Result<usize> {
        let tenants: Vec<i32> = {
            let client = self.owner_pool().get().await?;
            client
                .query(
                    "SELECT DISTINCT tenant_id FROM public.custom_orders \
                     WHERE state IN ('scheduled', 'in_production')",
                    &[],
                )
                .await
                .map_err(Error::db("finding tenants with orders in production"))?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let mut moved = 0;
        for t in tenants {
            let mut session = self.tenant(TenantId(t)).await?;
            moved += session.advance_order(None, None, Utc::now()).await?;
        }
        Ok(moved)
    }
}
