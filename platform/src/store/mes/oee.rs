//! OEE by machine or line, grouped by shift, day or work order, from the stored state
//! intervals and per-minute counts (never raw samples); and a work order's trace.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orders::{in_run, run_span, Product, WorkOrder, WorkOrderRun};
use super::plan::MachineContext;
use super::MesMachine;
use crate::error::{Error, Result};
use crate::mes::downtime::DowntimeEvent;
use crate::mes::oee::{Oee, Production};
use crate::mes::state::StateRule;
use crate::mes::Span;
use crate::quality::yields::{ParetoBar, YieldFigures};
use crate::store::alarms::Alarm;
use crate::store::quality::{FigureFilter, YieldBy};
use crate::store::TenantSession;

/// How to group OEE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OeeGroup {
    /// One figure over the whole range.
    #[default]
    Total,
    /// Per shift instance.
    Shift,
    /// Per local day of the site.
    Day,
    /// Per work order.
    WorkOrder,
}

/// What to compute OEE of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OeeScope {
    /// One machine.
    Machine(i64),
    /// Every machine of a line (sums of their figures).
    Line(i64),
}

/// One group's OEE.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OeeRow {
    /// The group: `total`, `2026-03-10 night`, `2026-03-10`, or the work order number.
    pub key: String,
    /// The shift's name (group `shift`).
    pub shift: Option<String>,
    /// The site's local date (groups `shift`, `day`).
    #[schema(value_type = Option<String>)]
    pub day: Option<NaiveDate>,
    /// The work order (group `work_order`).
    pub work_order_id: Option<i64>,
    /// Start of the group's time.
    pub start: DateTime<Utc>,
    /// End of the group's time.
    pub end: DateTime<Utc>,
    /// Start in the site's time zone.
    pub local_start: String,
    /// End in the site's time zone.
    pub local_end: String,
    /// The figures.
    pub oee: Oee,
}

/// OEE of a machine or line over a range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OeeReport {
    /// The machine (scope machine).
    pub machine_id: Option<i64>,
    /// The line (scope line).
    pub line_id: Option<i64>,
    /// The machines counted.
    pub machines: Vec<i64>,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end.
    pub to: DateTime<Utc>,
    /// The site's time zone (of the first machine).
    pub time_zone: String,
    /// The grouping.
    pub group: OeeGroup,
    /// One row per group, by start.
    pub rows: Vec<OeeRow>,
    /// Everything in the range together.
    pub total: Oee,
}

/// The ideal cycle time at `t` on machine `m`: the product of the work order running then,
/// for the machine's class; else the rule's; else 60 s.
fn ideal_at(
    m: &MesMachine,
    rule: &StateRule,
    runs: &[WorkOrderRun],
    orders: &HashMap<i64, WorkOrder>,
    products: &HashMap<i64, Product>,
    t: DateTime<Utc>,
) -> f64 {
    runs.iter()
        .filter(|r| r.machine_id == m.id && in_run(r, t))
        .find_map(|r| {
            let wo = orders.get(&r.work_order_id)?;
            products
                .get(&wo.product_id)?
                .ideal_cycle_secs
                .get(&m.class)
                .copied()
        })
        .or(rule.ideal_cycle_secs)
        .unwrap_or(60.0)
}

fn local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).to_rfc3339()
}

/// A group's key, shift, day, work order, span and planned windows.
type Bucket = (
    String,
    Option<String>,
    Option<NaiveDate>,
    Option<i64>,
    Span,
    Vec<Span>,
);

/// The groups of one machine's time over `[from, to)` (planned time up to `until`).
#[allow(clippy::too_many_arguments)]
fn buckets(
    m: &MesMachine,
    ctx: &MachineContext,
    group: OeeGroup,
    runs: &[WorkOrderRun],
    orders: &HashMap<i64, WorkOrder>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Bucket> {
    let cal = &ctx.calendar;
    let mut buckets: Vec<Bucket> = Vec::new();
    let range = ctx.monitored(from, until);
    match group {
        OeeGroup::Total => {
            buckets.push((
                "total".into(),
                None,
                None,
                None,
                Span::new(from, to),
                cal.planned(range.start, range.end),
            ));
        }
        OeeGroup::Shift => {
            for i in cal.instances(from, to) {
                let planned: Vec<Span> = i
                    .planned()
                    .iter()
                    .filter_map(|s| s.intersect(&range))
                    .collect();
                buckets.push((
                    format!("{} {}", i.day, i.shift),
                    Some(i.shift.clone()),
                    Some(i.day),
                    None,
                    i.span,
                    planned,
                ));
            }
        }
        OeeGroup::Day => {
            let (mut day, _) = cal.day_of(from);
            let last = cal.day_of(to - Duration::milliseconds(1)).0;
            while day <= last {
                let span = cal.day_span(day);
                if let Some(part) = span.intersect(&Span::new(from, to)) {
                    let planned = match part.intersect(&range) {
                        Some(p) => cal.planned(p.start, p.end),
                        None => Vec::new(),
                    };
                    buckets.push((day.to_string(), None, Some(day), None, part, planned));
                }
                day += Duration::days(1);
            }
        }
        OeeGroup::WorkOrder => {
            for r in runs.iter().filter(|r| r.machine_id == m.id) {
                let span = run_span(r, now);
                let Some(part) = span.intersect(&range) else {
                    continue;
                };
                let key = orders
                    .get(&r.work_order_id)
                    .map(|w| w.number.clone())
                    .unwrap_or_else(|| r.work_order_id.to_string());
                buckets.push((
                    key,
                    None,
                    None,
                    Some(r.work_order_id),
                    part,
                    cal.planned(part.start, part.end),
                ));
            }
        }
    }
    buckets
}

/// One report being filled: its rows by (start, key), total and machines.
#[derive(Default)]
struct ReportAcc {
    rows: BTreeMap<(DateTime<Utc>, String), OeeRow>,
    total: Oee,
    time_zone: Option<Tz>,
    machines: Vec<i64>,
}

impl TenantSession {
    /// OEE of `scope` over `[from, to)` grouped by `group`; `None` when the machine or line
    /// does not exist (or has no machines). Planned time after now is not counted.
    pub async fn oee(
        &mut self,
        scope: OeeScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: OeeGroup,
    ) -> Result<Option<OeeReport>> {
        let machines: Vec<MesMachine> = self
            .mes_machines(None)
            .await?
            .into_iter()
            .filter(|m| match scope {
                OeeScope::Machine(id) => m.id == id,
                OeeScope::Line(id) => m.line_id == id,
            })
            .collect();
        if machines.is_empty() {
            return Ok(None);
        }
        let mut report = self
            .oee_reports(&machines, from, to, group, false)
            .await?
            .pop()
            .ok_or_else(|| Error::Stored("no OEE report".into()))?;
        (report.machine_id, report.line_id) = match scope {
            OeeScope::Machine(id) => (Some(id), None),
            OeeScope::Line(id) => (None, Some(id)),
        };
        Ok(Some(report))
    }

    /// OEE of each of these machines, one report per machine that exists (by id), each the
    /// same as [`Self::oee`] with [`OeeScope::Machine`] gives; read with one query per kind
    /// (intervals, first intervals, reasons, calendars, counts) for all of them, not one
    /// round of queries per machine.
    pub async fn oee_per_machine(
        &mut self,
        machine_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: OeeGroup,
    ) -> Result<Vec<OeeReport>> {
        let machines = self.mes_machines(Some(machine_ids)).await?;
        if machines.is_empty() {
            return Ok(Vec::new());
        }
        let mut reports = self.oee_reports(&machines, from, to, group, true).await?;
        for r in &mut reports {
            r.machine_id = r.machines.first().copied();
        }
        Ok(reports)
    }

    /// The reports of `machines`: one for all of them together, or with `split` one per
    /// machine. Every input is read once for all machines; the figures are computed in memory.
    async fn oee_reports(
        &mut self,
        machines: &[MesMachine],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: OeeGroup,
        split: bool,
    ) -> Result<Vec<OeeReport>> {
        let ids: Vec<i64> = machines.iter().map(|m| m.id).collect();
        let rules = self.effective_rules(machines).await?;
        let products: HashMap<i64, Product> = self
            .products()
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let orders: HashMap<i64, WorkOrder> = self
            .work_orders(None, None)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let runs = self.work_order_runs(&ids, None, from, to).await?;
        let now = Utc::now();
        let until = to.min(now).max(from);
        let contexts = self.machine_contexts(machines, from, to).await?;
        let context = |id: i64| {
            contexts
                .get(&id)
                .ok_or_else(|| Error::Stored(format!("context of machine {id} missing")))
        };
        let mut planned_buckets: Vec<Vec<Bucket>> = Vec::with_capacity(machines.len());
        for m in machines {
            let ctx = context(m.id)?;
            planned_buckets.push(buckets(m, ctx, group, &runs, &orders, from, to, until, now));
        }
        // Production: machines that ran work orders minute by minute (the orders set the ideal
        // cycle), the others summed per planned window by the database (one ideal cycle).
        let with_runs: Vec<i64> = machines
            .iter()
            .filter(|m| runs.iter().any(|r| r.machine_id == m.id))
            .map(|m| m.id)
            .collect();
        let mut per_minute: HashMap<i64, Vec<(DateTime<Utc>, i64, i64)>> = HashMap::new();
        if !with_runs.is_empty() {
            for (m, t, p, r) in self.production(&with_runs, from, to).await? {
                per_minute.entry(m).or_default().push((t, p, r));
            }
        }
        let windows: Vec<(i64, Vec<Span>)> = machines
            .iter()
            .zip(&planned_buckets)
            .filter(|(m, _)| !with_runs.contains(&m.id))
            .map(|(m, b)| (m.id, b.iter().flat_map(|b| b.5.iter().copied()).collect()))
            .collect();
        let mut per_window = self.production_per_windows(&windows).await?;

        let mut accs: Vec<ReportAcc> = Vec::new();
        for (m, buckets) in machines.iter().zip(planned_buckets) {
            let rule = &rules[&m.id];
            let ctx = context(m.id)?;
            let tz = ctx.calendar.time_zone;
            let prod: Vec<Production> = if with_runs.contains(&m.id) {
                per_minute
                    .remove(&m.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(time, produced, rejected)| Production {
                        time,
                        produced,
                        rejected,
                        ideal_cycle_secs: ideal_at(m, rule, &runs, &orders, &products, time),
                    })
                    .collect()
            } else {
                let ideal = rule.ideal_cycle_secs.unwrap_or(60.0);
                per_window
                    .remove(&m.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(w, produced, rejected)| Production {
                        time: w.end,
                        produced,
                        rejected,
                        ideal_cycle_secs: ideal,
                    })
                    .collect()
            };
            if split || accs.is_empty() {
                accs.push(ReportAcc::default());
            }
            let acc = accs.last_mut().expect("an accumulator");
            acc.machines.push(m.id);
            acc.time_zone.get_or_insert(tz);
            for (key, shift, day, order, span, planned) in buckets {
                let dt = ctx.downtime(&planned, f64::from(rule.minor_stop_secs));
                let o = Oee::compute(&planned, &dt, &prod);
                acc.total.add(&o);
                let row = acc
                    .rows
                    .entry((
                        if order.is_some() {
                            DateTime::<Utc>::MIN_UTC
                        } else {
                            span.start
                        },
                        key.clone(),
                    ))
                    .or_insert_with(|| OeeRow {
                        key,
                        shift,
                        day,
                        work_order_id: order,
                        start: span.start,
                        end: span.end,
                        local_start: local(tz, span.start),
                        local_end: local(tz, span.end),
                        oee: Oee::default(),
                    });
                if span.start < row.start {
                    row.start = span.start;
                    row.local_start = local(tz, span.start);
                }
                if span.end > row.end {
                    row.end = span.end;
                    row.local_end = local(tz, span.end);
                }
                row.oee.add(&o);
            }
        }
        Ok(accs
            .into_iter()
            .map(|acc| {
                let mut rows: Vec<OeeRow> = acc.rows.into_values().collect();
                rows.sort_by_key(|r| (r.start, r.key.clone()));
                OeeReport {
                    machine_id: None,
                    line_id: None,
                    machines: acc.machines,
                    from,
                    to,
                    time_zone: acc
                        .time_zone
                        .map(|t| t.name().to_string())
                        .unwrap_or_default(),
                    group,
                    rows,
                    total: acc.total,
                }
            })
            .collect())
    }

    /// Parts counted (by counters and by operators) in each window `(start, end]`, summed by
    /// the database from the counts' running totals; windows without parts are left out;
    /// sorted by end.
    pub async fn production_per_window(
        &mut self,
        machine_id: i64,
        windows: &[Span],
    ) -> Result<Vec<(Span, i64, i64)>> {
        Ok(self
            .production_per_windows(&[(machine_id, windows.to_vec())])
            .await?
            .remove(&machine_id)
            .unwrap_or_default())
    }

    /// [`Self::production_per_window`] of many machines at once: per machine, its windows'
    /// sums, windows without parts left out, sorted by end.
    ///
    /// Counted parts are the running totals (V14) at a window's end less at its start. The
    /// windows of a calendar share their boundaries (a shift's end is the next one's start,
    /// a break cuts one window into two), so each distinct boundary is probed once: about half
    /// the index probes of two per window. Operators' records are few: read once for the whole
    /// range and summed per window here, instead of one more probe per window.
    pub async fn production_per_windows(
        &mut self,
        windows: &[(i64, Vec<Span>)],
    ) -> Result<HashMap<i64, Vec<(Span, i64, i64)>>> {
        let mut flat: Vec<(i64, Span)> = Vec::new();
        for (m, ws) in windows {
            let mut ws = ws.clone();
            ws.sort();
            ws.dedup();
            flat.extend(ws.into_iter().map(|w| (*m, w)));
        }
        if flat.is_empty() {
            return Ok(HashMap::new());
        }
        let mut points: Vec<(i64, DateTime<Utc>)> = flat
            .iter()
            .flat_map(|(m, w)| [(*m, w.start), (*m, w.end)])
            .collect();
        points.sort_unstable();
        points.dedup();
        let point_machines: Vec<i64> = points.iter().map(|p| p.0).collect();
        let point_times: Vec<DateTime<Utc>> = points.iter().map(|p| p.1).collect();
        let mut machines: Vec<i64> = point_machines.clone();
        machines.dedup();
        let first = flat.iter().map(|w| w.1.start).min().expect("a window");
        let last = flat.iter().map(|w| w.1.end).max().expect("a window");
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let totals = tx
            .query(
                "SELECT p.i, c.cum_produced, c.cum_rejected \
                 FROM unnest($2::bigint[], $3::timestamptz[]) WITH ORDINALITY AS p(m, t, i) \
                 JOIN LATERAL ( \
                     SELECT c.cum_produced, c.cum_rejected FROM public.mes_counts c \
                     WHERE c.tenant_id = $1 AND c.machine_id = p.m AND c.minute_end <= p.t \
                     ORDER BY c.minute_end DESC LIMIT 1 \
                 ) c ON true",
                &[&tenant, &point_machines, &point_times],
            )
            .await
            .map_err(Error::db("reading running part totals"))?;
        let records = tx
            .query(
                "SELECT machine_id, at, produced, rejected FROM public.mes_production_records \
                 WHERE tenant_id = $1 AND machine_id = ANY($2) AND at > $3 AND at <= $4 \
                 ORDER BY machine_id, at",
                &[&tenant, &machines, &first, &last],
            )
            .await
            .map_err(Error::db("reading recorded production"))?;
        drop(tx);
        // Running totals at each boundary; a boundary before the first count has none (0).
        let mut at_point = vec![(0i64, 0i64); points.len()];
        for r in &totals {
            at_point[(r.get::<_, i64>(0) - 1) as usize] = (r.get(1), r.get(2));
        }
        let total_at = |m: i64, t: DateTime<Utc>| {
            points
                .binary_search(&(m, t))
                .map(|i| at_point[i])
                .unwrap_or((0, 0))
        };
        // Operators' records as per-machine prefix sums over time.
        // Per machine: the records' times and the running sums of (produced, rejected).
        type Recorded = (Vec<DateTime<Utc>>, Vec<(i64, i64)>);
        let mut recorded: HashMap<i64, Recorded> = HashMap::new();
        for r in &records {
            let (times, sums) = recorded.entry(r.get(0)).or_default();
            let (p, q) = sums.last().copied().unwrap_or((0, 0));
            times.push(r.get(1));
            sums.push((p + r.get::<_, i64>(2), q + r.get::<_, i64>(3)));
        }
        let recorded_up_to = |m: i64, t: DateTime<Utc>| {
            recorded.get(&m).map_or((0, 0), |(times, sums)| {
                match times.partition_point(|x| *x <= t) {
                    0 => (0, 0),
                    n => sums[n - 1],
                }
            })
        };
        let mut out: HashMap<i64, Vec<(Span, i64, i64)>> = HashMap::new();
        for (m, w) in flat {
            let (ep, er) = total_at(m, w.end);
            let (bp, br) = total_at(m, w.start);
            let (rep, rer) = recorded_up_to(m, w.end);
            let (rbp, rbr) = recorded_up_to(m, w.start);
            let produced = ep - bp + rep - rbp;
            let rejected = er - br + rer - rbr;
            if produced == 0 && rejected == 0 {
                continue;
            }
            out.entry(m).or_default().push((w, produced, rejected));
        }
        for v in out.values_mut() {
            v.sort_by_key(|(w, _, _)| (w.end, w.start));
        }
        Ok(out)
    }

    /// Downtime of a machine over `[from, to)` inside planned time, with minor stops;
    /// `None` when the machine does not exist.
    pub async fn machine_downtime(
        &mut self,
        machine_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<crate::mes::downtime::Downtime>> {
        let Some(m) = self.mes_machines(Some(&[machine_id])).await?.pop() else {
            return Ok(None);
        };
        let rule = self
            .effective_rules(std::slice::from_ref(&m))
            .await?
            .remove(&m.id);
        let rule = rule.unwrap_or_else(|| StateRule::default_for_class(&m.class));
        let ctx = self.machine_context(&m, from, to).await?;
        let range = ctx.monitored(from, to.min(Utc::now()).max(from));
        let planned = ctx.calendar.planned(range.start, range.end);
        Ok(Some(
            ctx.downtime(&planned, f64::from(rule.minor_stop_secs)),
        ))
    }

    /// The quality records of work order `number`: yield figures and the defect Pareto.
    async fn work_order_quality(&mut self, number: &str) -> Result<TraceQuality> {
        let filter = FigureFilter {
            work_order: Some(number.to_owned()),
            ..Default::default()
        };
        let figures = self
            .yield_figures(YieldBy::Total, &filter)
            .await?
            .into_iter()
            .next()
            .map(|r| r.figures);
        let pareto = self.defect_pareto(&filter).await?;
        let records = format!(
            "/api/v1/quality/records?work_order={}",
            form_urlencoded::byte_serialize(number.as_bytes()).collect::<String>()
        );
        Ok(TraceQuality {
            figures,
            pareto,
            records,
        })
    }

    /// A work order's trace: the machines and windows that ran it, the process parameters over
    /// those windows, the downtime, alarms, production, quality and OEE; `None` when it does not exist.
    pub async fn work_order_trace(&mut self, id: i64) -> Result<Option<Trace>> {
        let Some(wo) = self.work_order(id).await? else {
            return Ok(None);
        };
        let product = self
            .products()
            .await?
            .into_iter()
            .find(|p| p.id == wo.product_id);
        let now = Utc::now();
        let runs = self
            .work_order_runs(
                &[],
                Some(id),
                super::time_floor(),
                now + Duration::days(36_500),
            )
            .await?;
        let tenant = self.tenant().0;
        let mut trace_runs = Vec::new();
        let mut downtime = Vec::new();
        let mut alarms = Vec::new();
        let (mut produced, mut rejected) = (0i64, 0i64);
        let mut oee = Oee::default();
        for r in &runs {
            let span = run_span(r, now);
            let Some(m) = self.mes_machines(Some(&[r.machine_id])).await?.pop() else {
                continue;
            };
            let tz: Tz = m.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
            let tx = self.begin().await?;
            // The machine's tags, then their samples' summaries in a statement of their own:
            // on Citus the samples are distributed and the plant model is not, and a join of
            // the two is refused there ("cannot handle unplanned sub-select").
            let tags = tx
                .query(
                    "SELECT id, name, unit FROM public.tags \
                     WHERE tenant_id = $1 AND machine_id = $2 ORDER BY name",
                    &[&tenant, &m.id],
                )
                .await
                .map_err(Error::db("reading a machine's tags"))?;
            let tag_ids: Vec<i64> = tags.iter().map(|t| t.get(0)).collect();
            let summaries = tx
                .query(
                    "SELECT tag_id, count(value), min(value), max(value), avg(value) \
                     FROM public.tenant_samples \
                     WHERE tenant_id = $1 AND tag_id = ANY($2) AND time >= $3 AND time < $4 \
                       AND value IS NOT NULL \
                     GROUP BY tag_id",
                    &[&tenant, &tag_ids, &span.start, &span.end],
                )
                .await
                .map_err(Error::db("summarising process parameters"))?;
            let summaries: HashMap<i64, &tokio_postgres::Row> =
                summaries.iter().map(|r| (r.get(0), r)).collect();
            let alarm_rows = tx
                .query(
                    &format!(
                        "SELECT {} FROM public.alarms \
                         WHERE tenant_id = $1 AND machine_id = $2 AND raised_at < $4 \
                           AND (cleared_at IS NULL OR cleared_at >= $3) ORDER BY raised_at",
                        crate::store::alarms::COLUMNS
                    ),
                    &[&tenant, &m.id, &span.start, &span.end],
                )
                .await
                .map_err(Error::db("reading alarms of a run"))?;
            drop(tx);
            // Rule alarms and model alarms alike (issue #13's alarm rules share the table).
            alarms.extend(alarm_rows.iter().map(Alarm::from_row));
            let parameters = tags
                .iter()
                .filter_map(|t| {
                    let tag_id: i64 = t.get(0);
                    let p = summaries.get(&tag_id)?;
                    Some(ParameterSummary {
                        tag_id,
                        tag: t.get(1),
                        unit: t.get(2),
                        count: p.get(1),
                        min: p.get(2),
                        max: p.get(3),
                        avg: p.get(4),
                        series: format!(
                            "/api/v1/tags/{tag_id}/samples?from={}&to={}",
                            span.start
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            span.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    })
                })
                .collect();
            let rules = self.effective_rules(std::slice::from_ref(&m)).await?;
            let rule = &rules[&m.id];
            let ctx = self
                .machine_context(
                    &m,
                    span.start,
                    span.end.max(span.start + Duration::milliseconds(1)),
                )
                .await?;
            let planned = ctx
                .calendar
                .planned(span.start, span.end.min(now).max(span.start));
            let dt = ctx.downtime(&planned, f64::from(rule.minor_stop_secs));
            let prod: Vec<Production> = self
                .production(&[m.id], span.start, span.end)
                .await?
                .into_iter()
                .map(|p| Production {
                    time: p.1,
                    produced: p.2,
                    rejected: p.3,
                    ideal_cycle_secs: product
                        .as_ref()
                        .and_then(|pr| pr.ideal_cycle_secs.get(&m.class).copied())
                        .or(rule.ideal_cycle_secs)
                        .unwrap_or(60.0),
                })
                .collect();
            produced += prod.iter().map(|p| p.produced).sum::<i64>();
            rejected += prod.iter().map(|p| p.rejected).sum::<i64>();
            oee.add(&Oee::compute(&planned, &dt, &prod));
            downtime.extend(dt.events.into_iter().map(|e| TraceDowntime {
                machine_id: m.id,
                event: e,
            }));
            trace_runs.push(TraceRun {
                machine_id: m.id,
                machine: m.name.clone(),
                start: r.start,
                end: r.end,
                local_start: local(tz, r.start),
                local_end: r.end.map(|e| local(tz, e)),
                parameters,
            });
        }
        let quality = self.work_order_quality(&wo.number).await?;
        Ok(Some(Trace {
            work_order: wo,
            product,
            runs: trace_runs,
            produced,
            rejected,
            downtime,
            alarms,
            quality,
            oee,
        }))
    }
}

/// A process parameter over a run window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ParameterSummary {
    /// The tag.
    pub tag_id: i64,
    /// Its name.
    pub tag: String,
    /// Its unit.
    pub unit: String,
    /// Samples in the window.
    pub count: i64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean.
    pub avg: Option<f64>,
    /// The series over the window (`GET` it with the same key).
    pub series: String,
}

/// A window a work order ran, with its parameters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TraceRun {
    /// The machine.
    pub machine_id: i64,
    /// Its name.
    pub machine: String,
    /// From.
    pub start: DateTime<Utc>,
    /// To (absent while running).
    pub end: Option<DateTime<Utc>>,
    /// From, in the site's time zone.
    pub local_start: String,
    /// To, in the site's time zone.
    pub local_end: Option<String>,
    /// Process parameters over the window.
    pub parameters: Vec<ParameterSummary>,
}

/// A downtime event during a work order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TraceDowntime {
    /// The machine.
    pub machine_id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: DowntimeEvent,
}

/// The quality records of a work order: its yield and what its defects were.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TraceQuality {
    /// Units, first pass, reworked, scrapped and the rates (from the kept daily figures).
    pub figures: Option<YieldFigures>,
    /// Defective units by defect code, largest first.
    pub pareto: Vec<ParetoBar>,
    /// Its records (`GET` with the same key).
    pub records: String,
}

/// Everything about how a work order was made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Trace {
    /// The order.
    pub work_order: WorkOrder,
    /// Its product.
    pub product: Option<Product>,
    /// Where and when it ran.
    pub runs: Vec<TraceRun>,
    /// Parts made in its windows.
    pub produced: i64,
    /// Parts rejected in its windows.
    pub rejected: i64,
    /// Downtime in its windows (planned time).
    pub downtime: Vec<TraceDowntime>,
    /// Alarms open during its windows.
    pub alarms: Vec<Alarm>,
    /// Quality results of the units recorded against it.
    pub quality: TraceQuality,
    /// OEE over its windows.
    pub oee: Oee,
}
