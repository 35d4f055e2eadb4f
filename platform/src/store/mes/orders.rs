//! Products, work orders (with the windows they ran) and production recorded by operators.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::mes::work_order::WorkOrderState;
use crate::mes::Span;
use crate::store::TenantSession;

/// A product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Product {
    /// Id.
    pub id: i64,
    /// Code, unique in the tenant.
    pub code: String,
    /// Name.
    pub name: String,
    /// Ideal cycle time in seconds per machine class.
    pub ideal_cycle_secs: BTreeMap<String, f64>,
}

/// A work order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkOrder {
    /// Id.
    pub id: i64,
    /// Order number, unique in the tenant.
    pub number: String,
    /// The product.
    pub product_id: i64,
    /// Quantity to make.
    pub quantity: i64,
    /// The machine it runs on.
    pub machine_id: i64,
    /// The machine's line.
    pub line_id: i64,
    /// Due.
    pub due_at: Option<DateTime<Utc>>,
    /// Where it is.
    pub state: WorkOrderState,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A time window a work order ran.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkOrderRun {
    /// The order.
    pub work_order_id: i64,
    /// The machine.
    pub machine_id: i64,
    /// From.
    pub start: DateTime<Utc>,
    /// To (absent while running).
    pub end: Option<DateTime<Utc>>,
}

/// A new work order.
#[derive(Debug, Clone)]
pub struct NewWorkOrder {
    /// Number.
    pub number: String,
    /// Product.
    pub product_id: i64,
    /// Quantity.
    pub quantity: i64,
    /// Machine.
    pub machine_id: i64,
    /// Due.
    pub due_at: Option<DateTime<Utc>>,
}

/// Why a transition did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Done.
    Done(WorkOrder),
    /// No such order.
    NotFound,
    /// Not allowed from the current state.
    Refused {
        /// The order's state.
        from: WorkOrderState,
        /// The states it may go to.
        allowed: Vec<WorkOrderState>,
    },
    /// Another order is running on the machine.
    MachineBusy(i64),
}

/// Production recorded by an operator.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProductionRecord {
    /// Id.
    pub id: i64,
    /// The machine.
    pub machine_id: i64,
    /// The work order, if any.
    pub work_order_id: Option<i64>,
    /// When counted.
    pub at: DateTime<Utc>,
    /// Parts made (good and rejected).
    pub produced: i64,
    /// Parts rejected.
    pub rejected: i64,
    /// Free text.
    pub note: String,
    /// Who recorded it.
    pub recorded_by: String,
}

const WO_COLUMNS: &str = "w.id, w.number, w.product_id, w.quantity, w.machine_id, m.line_id, \
     w.due_at, w.state, w.created_at, w.updated_at";

fn wo_from_row(r: &tokio_postgres::Row) -> WorkOrder {
    WorkOrder {
        id: r.get(0),
        number: r.get(1),
        product_id: r.get(2),
        quantity: r.get(3),
        machine_id: r.get(4),
        line_id: r.get(5),
        due_at: r.get(6),
        state: WorkOrderState::parse(r.get(7)).unwrap_or(WorkOrderState::Planned),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

fn product_from_row(r: &tokio_postgres::Row) -> Result<Product> {
    Ok(Product {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        ideal_cycle_secs: serde_json::from_value(r.get(3))
            .map_err(|e| Error::Stored(format!("product ideal cycle: {e}")))?,
    })
}

impl TenantSession {
    /// The tenant's products.
    pub async fn products(&mut self) -> Result<Vec<Product>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, code, name, ideal_cycle FROM public.mes_products WHERE tenant_id = $1 ORDER BY id",
                &[&tenant],
            )
            .await
            .map_err(Error::db("listing products"))?;
        rows.iter().map(product_from_row).collect()
    }

    /// Adds a product.
    pub async fn create_product(
        &mut self,
        code: &str,
        name: &str,
        ideal: &BTreeMap<String, f64>,
    ) -> Result<Product> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let value = serde_json::to_value(ideal).map_err(|e| Error::Stored(e.to_string()))?;
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "INSERT INTO public.mes_products (tenant_id, code, name, ideal_cycle) \
                 VALUES ($1, $2, $3, $4) RETURNING id, code, name, ideal_cycle",
                &[&tenant.0, &code, &name, &value],
            )
            .await
            .map_err(Error::db("adding a product"))?;
        let p = product_from_row(&row)?;
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "product.create",
            format!("product/{}", p.id),
            None,
            serde_json::to_value(&p).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(p)
    }

    /// Work orders, optionally of one machine or in one state, newest first.
    pub async fn work_orders(
        &mut self,
        machine_id: Option<i64>,
        state: Option<WorkOrderState>,
    ) -> Result<Vec<WorkOrder>> {
        let tenant = self.tenant().0;
        let state = state.map(|s| s.as_str());
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {WO_COLUMNS} FROM public.mes_work_orders w \
                     JOIN public.machines m ON m.tenant_id = w.tenant_id AND m.id = w.machine_id \
                     WHERE w.tenant_id = $1 AND ($2::bigint IS NULL OR w.machine_id = $2) \
                       AND ($3::text IS NULL OR w.state = $3) ORDER BY w.id DESC"
                ),
                &[&tenant, &machine_id, &state],
            )
            .await
            .map_err(Error::db("listing work orders"))?;
        Ok(rows.iter().map(wo_from_row).collect())
    }

    /// A work order.
    pub async fn work_order(&mut self, id: i64) -> Result<Option<WorkOrder>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {WO_COLUMNS} FROM public.mes_work_orders w \
                     JOIN public.machines m ON m.tenant_id = w.tenant_id AND m.id = w.machine_id \
                     WHERE w.tenant_id = $1 AND w.id = $2"
                ),
                &[&tenant, &id],
            )
            .await
            .map_err(Error::db("reading a work order"))?;
        Ok(row.as_ref().map(wo_from_row))
    }

    /// Adds a work order (state `planned`).
    pub async fn create_work_order(&mut self, w: &NewWorkOrder) -> Result<WorkOrder> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO public.mes_work_orders (tenant_id, number, product_id, quantity, machine_id, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&tenant.0, &w.number, &w.product_id, &w.quantity, &w.machine_id, &w.due_at],
            )
            .await
            .map_err(Error::db("adding a work order"))?
            .get(0);
        let row = tx
            .query_one(
                &format!(
                    "SELECT {WO_COLUMNS} FROM public.mes_work_orders w \
                     JOIN public.machines m ON m.tenant_id = w.tenant_id AND m.id = w.machine_id \
                     WHERE w.tenant_id = $1 AND w.id = $2"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading a work order"))?;
        let wo = wo_from_row(&row);
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "work_order.create",
            format!("work-order/{id}"),
            None,
            serde_json::to_value(&wo).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(wo)
    }

    /// Moves a work order to `to` at `at` (starting opens a run window on its machine,
    /// pausing or completing closes it).
    pub async fn transition_work_order(
        &mut self,
        id: i64,
        to: WorkOrderState,
        at: DateTime<Utc>,
    ) -> Result<Transition> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {WO_COLUMNS} FROM public.mes_work_orders w \
                     JOIN public.machines m ON m.tenant_id = w.tenant_id AND m.id = w.machine_id \
                     WHERE w.tenant_id = $1 AND w.id = $2 FOR UPDATE OF w"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading a work order"))?;
        let Some(row) = row else {
            return Ok(Transition::NotFound);
        };
        let before = wo_from_row(&row);
        if !before.state.may_become(to) {
            return Ok(Transition::Refused {
                from: before.state,
                allowed: before.state.next(),
            });
        }
        if to == WorkOrderState::Running {
            let busy = tx
                .query_opt(
                    "SELECT id FROM public.mes_work_orders WHERE tenant_id = $1 AND machine_id = $2 \
                     AND state = 'running' AND id <> $3",
                    &[&tenant.0, &before.machine_id, &id],
                )
                .await
                .map_err(Error::db("checking the machine's running order"))?;
            if let Some(b) = busy {
                return Ok(Transition::MachineBusy(b.get(0)));
            }
            tx.execute(
                "INSERT INTO public.mes_work_order_runs (tenant_id, work_order_id, start_at, machine_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&tenant.0, &id, &at, &before.machine_id],
            )
            .await
            .map_err(Error::db("opening a run window"))?;
        }
        if before.state == WorkOrderState::Running {
            tx.execute(
                "UPDATE public.mes_work_order_runs SET end_at = greatest($3, start_at) \
                 WHERE tenant_id = $1 AND work_order_id = $2 AND end_at IS NULL",
                &[&tenant.0, &id, &at],
            )
            .await
            .map_err(Error::db("closing a run window"))?;
        }
        tx.execute(
            "UPDATE public.mes_work_orders SET state = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &id, &to.as_str()],
        )
        .await
        .map_err(Error::db("moving a work order"))?;
        let after = WorkOrder {
            state: to,
            updated_at: Utc::now(),
            ..before.clone()
        };
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "work_order.transition",
            format!("work-order/{id}"),
            Some(serde_json::json!({ "state": before.state })),
            Some(serde_json::json!({ "state": to, "at": at })),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Transition::Done(after))
    }

    /// Run windows of work orders on `machine_ids` overlapping `[from, to)` (or of one
    /// order when `order` is set), by start.
    pub async fn work_order_runs(
        &mut self,
        machine_ids: &[i64],
        order: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderRun>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT work_order_id, machine_id, start_at, end_at FROM public.mes_work_order_runs \
                 WHERE tenant_id = $1 AND ($2::bigint IS NULL OR work_order_id = $2) \
                   AND ($2::bigint IS NOT NULL OR machine_id = ANY($3)) \
                   AND start_at < $5 AND (end_at IS NULL OR end_at > $4) ORDER BY start_at",
                &[&tenant, &order, &machine_ids, &from, &to],
            )
            .await
            .map_err(Error::db("reading run windows"))?;
        Ok(rows
            .iter()
            .map(|r| WorkOrderRun {
                work_order_id: r.get(0),
                machine_id: r.get(1),
                start: r.get(2),
                end: r.get(3),
            })
            .collect())
    }

    /// Records production by an operator; `None` when the machine (or the order) does not
    /// exist.
    pub async fn record_production(
        &mut self,
        machine_id: i64,
        work_order_id: Option<i64>,
        at: DateTime<Utc>,
        produced: i64,
        rejected: i64,
        note: &str,
    ) -> Result<Option<ProductionRecord>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let ok = tx
            .query_opt(
                "SELECT 1 FROM public.machines m WHERE m.tenant_id = $1 AND m.id = $2 \
                 AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM public.mes_work_orders w \
                      WHERE w.tenant_id = $1 AND w.id = $3))",
                &[&tenant.0, &machine_id, &work_order_id],
            )
            .await
            .map_err(Error::db("finding the machine"))?;
        if ok.is_none() {
            return Ok(None);
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO public.mes_production_records \
                 (tenant_id, machine_id, work_order_id, at, produced, rejected, note, recorded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &tenant.0,
                    &machine_id,
                    &work_order_id,
                    &at,
                    &produced,
                    &rejected,
                    &note,
                    &actor,
                ],
            )
            .await
            .map_err(Error::db("recording production"))?
            .get(0);
        let rec = ProductionRecord {
            id,
            machine_id,
            work_order_id,
            at,
            produced,
            rejected,
            note: note.to_string(),
            recorded_by: actor.clone(),
        };
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "production.record",
            format!("machine/{machine_id}/production/{id}"),
            None,
            serde_json::to_value(&rec).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(rec))
    }

    /// Production of machines over `(from, to]`: counted by their counters per minute, and
    /// recorded by operators, as `(machine, time, produced, rejected)`.
    pub async fn production(
        &mut self,
        machine_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>, i64, i64)>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT machine_id, minute_end, produced, rejected FROM public.mes_counts \
                 WHERE tenant_id = $1 AND machine_id = ANY($2) AND minute_end > $3 AND minute_end <= $4 \
                 UNION ALL \
                 SELECT machine_id, at, produced, rejected FROM public.mes_production_records \
                 WHERE tenant_id = $1 AND machine_id = ANY($2) AND at > $3 AND at <= $4 \
                 ORDER BY 2",
                &[&tenant, &machine_ids, &from, &to],
            )
            .await
            .map_err(Error::db("reading production"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }
}

/// Whether `t` lies in a run window (open windows run on).
pub fn in_run(run: &WorkOrderRun, t: DateTime<Utc>) -> bool {
    run.start < t && run.end.is_none_or(|e| t <= e)
}

/// A run window as a span ending at `now` if still open.
pub fn run_span(run: &WorkOrderRun, now: DateTime<Utc>) -> Span {
    Span::new(run.start, run.end.unwrap_or(now).max(run.start))
}
