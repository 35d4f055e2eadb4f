//! Quality records, characteristics and the figures kept from them (migration V11).
//!
//! - **Records** of inspected units or batches. The platform fills in what is not typed in:
//!   the line (the machine's), the production day and shift (the site's time zone and MES
//!   shift calendar), and the **process parameters**: the average of each of
//!   the machine's float tags (predictions left out) over the unit's cycle, or its last value
//!   in the 10 minutes before the unit was made when no sample falls in the cycle. Keys are
//!   the part of the tag name after its last dot, so machines of a class share them. A serial
//!   or batch id is recorded once per tenant; re-sent records are counted as duplicates.
//! - **Yield figures** (`quality_yield_daily`) and **defect codes** (`quality_defects_daily`)
//!   are kept per day, machine, product, work order and shift in the insert's own
//!   statement, so figures never need the raw records.
//! - **Characteristics**: measured values recorded with the records (by name) or a tag's
//!   samples, with specification limits, chart settings and a baseline period.
//! - **SPC alarms** in the `alarms` table: one open per characteristic and rule.
//!
//! Every statement names its tenant (`tenant_id = $1`) besides row-level security.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::{Store, TenantId, TenantSession};
use crate::error::{Error, Result};
use crate::mes::calendar::{Calendar, ShiftDef};
use crate::quality::charts::ChartType;
use crate::quality::rules::RuleSet;
use crate::quality::series::SeqPoint;
use crate::quality::spc_alarms::Changes;
use crate::quality::yields::{day_and_shift, within_spec, Counts, ParetoBar, YieldFigures};

/// Seconds of a cycle when a record gives no `cycle_started_at`.
pub const DEFAULT_CYCLE_SECS: i64 = 60;

/// The stored name of a chart type.
pub fn chart_name(c: ChartType) -> &'static str {
    match c {
        ChartType::IMr => "i_mr",
        ChartType::XbarR => "xbar_r",
        ChartType::XbarS => "xbar_s",
    }
}

fn parse_chart(s: &str) -> ChartType {
    match s {
        "xbar_r" => ChartType::XbarR,
        "xbar_s" => ChartType::XbarS,
        _ => ChartType::IMr,
    }
}

/// The stored name of a rule set.
pub fn rules_name(r: RuleSet) -> &'static str {
    match r {
        RuleSet::WesternElectric => "western_electric",
        RuleSet::Nelson => "nelson",
        RuleSet::LimitsOnly => "limits_only",
    }
}

fn parse_rules(s: &str) -> RuleSet {
    match s {
        "nelson" => RuleSet::Nelson,
        "limits_only" => RuleSet::LimitsOnly,
        _ => RuleSet::WesternElectric,
    }
}

/// A quality characteristic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Characteristic {
    /// Identifier.
    pub id: i64,
    /// Name; measured values are recorded under it.
    pub name: String,
    /// Unit of its values.
    pub unit: String,
    /// The tag whose samples it charts; absent: the values recorded with quality records.
    pub tag_id: Option<i64>,
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
    /// Target value.
    pub target: Option<f64>,
    /// `i_mr`, `xbar_r` or `xbar_s`.
    pub chart: ChartType,
    /// Subgroup size (1 for `i_mr`).
    pub subgroup_size: i32,
    /// Run rules of the location chart.
    pub rules: RuleSet,
    /// Start of the baseline period the control limits come from.
    pub baseline_from: Option<DateTime<Utc>>,
    /// End of the baseline period.
    pub baseline_to: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Characteristic {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            name: r.get("name"),
            unit: r.get("unit"),
            tag_id: r.get("tag_id"),
            lsl: r.get("lsl"),
            usl: r.get("usl"),
            target: r.get("target"),
            chart: parse_chart(r.get("chart")),
            subgroup_size: r.get("subgroup_size"),
            rules: parse_rules(r.get("rules")),
            baseline_from: r.get("baseline_from"),
            baseline_to: r.get("baseline_to"),
            created_at: r.get("created_at"),
        }
    }
}

const CHARACTERISTIC_COLUMNS: &str = "id, name, unit, tag_id, lsl, usl, target, chart, \
     subgroup_size, rules, baseline_from, baseline_to, created_at";

/// A characteristic to create, or the fields to change (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct CharacteristicFields {
    /// Name.
    pub name: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Tag charted (creation only).
    pub tag_id: Option<i64>,
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
    /// Target.
    pub target: Option<f64>,
    /// Chart type.
    pub chart: Option<ChartType>,
    /// Subgroup size.
    pub subgroup_size: Option<i32>,
    /// Rules.
    pub rules: Option<RuleSet>,
    /// Baseline period start.
    pub baseline_from: Option<DateTime<Utc>>,
    /// Baseline period end.
    pub baseline_to: Option<DateTime<Utc>>,
}

/// A record to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// Serial number, or batch id when `batch`.
    pub unit_id: String,
    /// Whether it stands for a batch of `quantity` units.
    pub batch: bool,
    /// Units it stands for (1 for a serial).
    pub quantity: i32,
    /// Product.
    pub product: String,
    /// Work order number (MES); empty: the order its machine was running at `produced_at`.
    pub work_order: String,
    /// Machine that made it.
    pub machine_id: i64,
    /// Start of its cycle (default: `produced_at` − 60 s).
    pub cycle_started_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub produced_at: DateTime<Utc>,
    /// Final result; absent: judged from its measured values against their limits.
    pub passed: Option<bool>,
    /// Whether it needed rework.
    pub reworked: bool,
    /// Defect code (empty: none).
    pub defect_code: String,
    /// Measured values by characteristic name.
    pub measurements: BTreeMap<String, f64>,
}

/// A stored record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QualityRecord {
    /// Identifier.
    pub id: i64,
    /// Serial number or batch id.
    pub unit_id: String,
    /// Whether it stands for a batch.
    pub batch: bool,
    /// Units it stands for.
    pub quantity: i32,
    /// Product.
    pub product: String,
    /// Work order reference.
    pub work_order: String,
    /// The machine's line.
    pub line_id: i64,
    /// Machine that made it.
    pub machine_id: i64,
    /// Start of its cycle.
    pub cycle_started_at: DateTime<Utc>,
    /// When it was made.
    pub produced_at: DateTime<Utc>,
    /// Production day in the site's time zone (a shift's units count to the day it began).
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// Shift of the site's calendar it was made in (empty outside every shift).
    pub shift: String,
    /// Final result.
    pub passed: bool,
    /// Whether it needed rework.
    pub reworked: bool,
    /// Defect code (empty: none).
    pub defect_code: String,
    /// Process parameters over its cycle, from the machine's tags.
    pub parameters: BTreeMap<String, f64>,
    /// Measured values by characteristic name.
    pub measurements: BTreeMap<String, f64>,
    /// Defect probability from the promoted defect model, when one scored it.
    pub defect_probability: Option<f64>,
    /// Whether that probability crossed the model's threshold.
    pub defect_alarming: Option<bool>,
    /// The model version that scored it.
    pub defect_model_version: Option<i64>,
}

fn number_map(v: Option<Value>) -> BTreeMap<String, f64> {
    v.and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl QualityRecord {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            unit_id: r.get("unit_id"),
            batch: r.get("batch"),
            quantity: r.get("quantity"),
            product: r.get("product"),
            work_order: r.get("work_order"),
            line_id: r.get("line_id"),
            machine_id: r.get("machine_id"),
            cycle_started_at: r.get("cycle_started_at"),
            produced_at: r.get("produced_at"),
            day: r.get("day"),
            shift: r.get("shift"),
            passed: r.get("passed"),
            reworked: r.get("reworked"),
            defect_code: r.get("defect_code"),
            parameters: number_map(r.get("parameters")),
            measurements: number_map(r.get("measurements")),
            defect_probability: r.get("defect_probability"),
            defect_alarming: r.get("defect_alarming"),
            defect_model_version: r.get("defect_model_version"),
        }
    }
}

const RECORD_COLUMNS: &str = "r.id, r.unit_id, r.batch, r.quantity, r.product, r.work_order, \
     r.line_id, r.machine_id, r.cycle_started_at, r.produced_at, r.day, r.shift, r.passed, \
     r.reworked, r.defect_code, r.parameters, r.defect_probability, r.defect_alarming, \
     r.defect_model_version, \
     (SELECT jsonb_object_agg(c.name, m.value) FROM quality_measurements m \
      JOIN quality_characteristics c ON c.id = m.characteristic_id AND c.tenant_id = m.tenant_id \
      WHERE m.tenant_id = r.tenant_id AND m.record_id = r.id) AS measurements";

/// A record refused, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Path of the field, e.g. `records[3].machine_id`.
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

/// What [`TenantSession::insert_quality_records`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inserted {
    /// Id of each record given, in order; `None` for a serial or batch id already recorded.
    pub ids: Vec<Option<i64>>,
    /// Records already recorded (by serial or batch id).
    pub duplicates: usize,
    /// Characteristics that received values.
    pub characteristics: Vec<i64>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Made before.
    pub to: Option<DateTime<Utc>>,
    /// Of one machine.
    pub machine_id: Option<i64>,
    /// Of one line.
    pub line_id: Option<i64>,
    /// Of one product.
    pub product: Option<String>,
    /// Of one work order.
    pub work_order: Option<String>,
    /// Only failed (`false`) or passed (`true`) ones.
    pub passed: Option<bool>,
    /// Only records a defect model scored.
    pub scored: bool,
    /// Most to return, newest first.
    pub limit: i64,
}

/// The dimension yield figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum YieldBy {
    /// Production day.
    #[default]
    Day,
    /// Line.
    Line,
    /// Machine.
    Machine,
    /// Product.
    Product,
    /// Work order.
    WorkOrder,
    /// Shift.
    Shift,
    /// Everything in one row.
    Total,
}

/// Filters of the yield and Pareto figures (days inclusive).
#[derive(Debug, Clone, Default)]
pub struct FigureFilter {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
    /// One machine.
    pub machine_id: Option<i64>,
    /// One line.
    pub line_id: Option<i64>,
    /// One product.
    pub product: Option<String>,
    /// One work order.
    pub work_order: Option<String>,
    /// One shift.
    pub shift: Option<String>,
}

/// One row of yield figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct YieldRow {
    /// The group: a day (`2026-12-01`), an id, a product, a work order, a shift, or `total`.
    pub key: String,
    /// A name to show: the machine's or line's name, else the key.
    pub label: String,
    /// Counts and rates.
    #[serde(flatten)]
    pub figures: YieldFigures,
}

/// A machine as records need it.
#[derive(Debug, Clone)]
struct MachineInfo {
    line_id: i64,
    site_id: i64,
}

impl TenantSession {
    /// Creates a characteristic; `Ok(None)` when its tag does not exist for this tenant.
    pub async fn create_characteristic(
        &mut self,
        f: &CharacteristicFields,
    ) -> Result<Option<Characteristic>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        if let Some(tag) = f.tag_id {
            let found = tx
                .query_opt(
                    "SELECT 1 FROM tags WHERE tenant_id = $1 AND id = $2 AND value_type <> 'text'",
                    &[&tenant.0, &tag],
                )
                .await
                .map_err(Error::db("reading a tag"))?;
            if found.is_none() {
                return Ok(None);
            }
        }
        let sql = format!(
            "INSERT INTO quality_characteristics (tenant_id, name, unit, tag_id, lsl, usl, target, \
                 chart, subgroup_size, rules, baseline_from, baseline_to) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING {CHARACTERISTIC_COLUMNS}"
        );
        let chart = f.chart.unwrap_or(ChartType::IMr);
        let row = tx
            .query_one(
                &sql,
                &[
                    &tenant.0,
                    &f.name.clone().unwrap_or_default(),
                    &f.unit.clone().unwrap_or_default(),
                    &f.tag_id,
                    &f.lsl,
                    &f.usl,
                    &f.target,
                    &chart_name(chart),
                    &f.subgroup_size.unwrap_or(1),
                    &rules_name(f.rules.unwrap_or(RuleSet::WesternElectric)),
                    &f.baseline_from,
                    &f.baseline_to,
                ],
            )
            .await
            .map_err(Error::db("creating a characteristic"))?;
        let c = Characteristic::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "quality_characteristic.create",
            format!("quality_characteristic/{}", c.id),
            None,
            serde_json::to_value(&c).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(c))
    }

    /// Changes a characteristic's limits, settings or baseline; `None` if it does not exist.
    pub async fn update_characteristic(
        &mut self,
        id: i64,
        f: &CharacteristicFields,
    ) -> Result<Option<Characteristic>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let sql = format!(
            "SELECT {CHARACTERISTIC_COLUMNS} FROM quality_characteristics \
             WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
        );
        let Some(before) = tx
            .query_opt(&sql, &[&tenant.0, &id])
            .await
            .map_err(Error::db("reading a characteristic"))?
            .map(|r| Characteristic::from_row(&r))
        else {
            return Ok(None);
        };
        let sql = format!(
            "UPDATE quality_characteristics SET name = coalesce($3, name), unit = coalesce($4, unit), \
                 lsl = coalesce($5, lsl), usl = coalesce($6, usl), target = coalesce($7, target), \
                 chart = coalesce($8, chart), subgroup_size = coalesce($9, subgroup_size), \
                 rules = coalesce($10, rules), baseline_from = coalesce($11, baseline_from), \
                 baseline_to = coalesce($12, baseline_to) \
             WHERE tenant_id = $1 AND id = $2 RETURNING {CHARACTERISTIC_COLUMNS}"
        );
        let row = tx
            .query_one(
                &sql,
                &[
                    &tenant.0,
                    &id,
                    &f.name,
                    &f.unit,
                    &f.lsl,
                    &f.usl,
                    &f.target,
                    &f.chart.map(chart_name),
                    &f.subgroup_size,
                    &f.rules.map(rules_name),
                    &f.baseline_from,
                    &f.baseline_to,
                ],
            )
            .await
            .map_err(Error::db("changing a characteristic"))?;
        let after = Characteristic::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "quality_characteristic.update",
            format!("quality_characteristic/{id}"),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(after))
    }

    /// Every characteristic, by name.
    pub async fn characteristics(&mut self) -> Result<Vec<Characteristic>> {
        let tenant = self.tenant();
        let sql = format!(
            "SELECT {CHARACTERISTIC_COLUMNS} FROM quality_characteristics WHERE tenant_id = $1 \
             ORDER BY name LIMIT 10000"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&tenant.0])
            .await
            .map_err(Error::db("listing characteristics"))?;
        Ok(rows.iter().map(Characteristic::from_row).collect())
    }

    /// One characteristic, or `None`.
    pub async fn characteristic(&mut self, id: i64) -> Result<Option<Characteristic>> {
        let tenant = self.tenant();
        let sql = format!(
            "SELECT {CHARACTERISTIC_COLUMNS} FROM quality_characteristics \
             WHERE tenant_id = $1 AND id = $2"
        );
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&tenant.0, &id])
            .await
            .map_err(Error::db("reading a characteristic"))?;
        Ok(row.as_ref().map(Characteristic::from_row))
    }

    /// Stores records in one transaction: each is checked (machine, characteristics, result),
    /// its parameters are captured from the machine's tags, and the yield and defect figures
    /// are brought up to date. The first bad record refuses the batch, naming its field.
    pub async fn insert_quality_records(
        &mut self,
        records: &[NewRecord],
    ) -> Result<std::result::Result<Inserted, Rejection>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let reject = |i: usize, field: &str, detail: String| {
            Ok(Err(Rejection {
                field: format!("records[{i}].{field}"),
                detail,
            }))
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if let Some(j) = seen.insert(r.unit_id.as_str(), i) {
                return reject(i, "unit_id", format!("repeats records[{j}].unit_id"));
            }
        }
        let tx = self.begin().await?;
        let machine_ids: Vec<i64> = records.iter().map(|r| r.machine_id).collect();
        let machines: HashMap<i64, MachineInfo> = tx
            .query(
                "SELECT m.id, m.line_id, l.site_id FROM machines m \
                 JOIN lines l ON l.id = m.line_id AND l.tenant_id = m.tenant_id \
                 WHERE m.tenant_id = $1 AND m.id = ANY($2)",
                &[&tenant.0, &machine_ids],
            )
            .await
            .map_err(Error::db("reading machines"))?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    MachineInfo {
                        line_id: r.get(1),
                        site_id: r.get(2),
                    },
                )
            })
            .collect();
        // A record without a work order belongs to the MES work order its machine was running
        // when the unit was made (the runs of `mes_work_order_runs`).
        let unassigned: Vec<i64> = records
            .iter()
            .filter(|r| r.work_order.is_empty())
            .map(|r| r.machine_id)
            .collect();
        let runs: Vec<OrderRun> = if unassigned.is_empty() {
            Vec::new()
        } else {
            let from = records.iter().map(|r| r.produced_at).min();
            let to = records.iter().map(|r| r.produced_at).max();
            tx.query(
                "SELECT r.machine_id, r.start_at, r.end_at, w.number FROM mes_work_order_runs r \
                 JOIN mes_work_orders w ON w.tenant_id = r.tenant_id AND w.id = r.work_order_id \
                 WHERE r.tenant_id = $1 AND r.machine_id = ANY($2) \
                   AND r.start_at <= $4 AND (r.end_at IS NULL OR r.end_at > $3)",
                &[&tenant.0, &unassigned, &from, &to],
            )
            .await
            .map_err(Error::db("reading work-order runs"))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
        };
        let running_order = |machine: i64, at: DateTime<Utc>| {
            runs.iter()
                .find(|(m, start, end, _)| {
                    *m == machine && *start <= at && end.is_none_or(|e| at < e)
                })
                .map(|r| r.3.as_str())
                .unwrap_or("")
        };
        // Each site's time zone and shift calendar (MES), for the production day and shift.
        let site_ids: Vec<i64> = machines.values().map(|m| m.site_id).collect();
        let calendars: HashMap<i64, Calendar> = tx
            .query(
                "SELECT s.id, s.time_zone, c.shifts, c.days_off FROM sites s \
                 LEFT JOIN mes_calendars c ON c.tenant_id = s.tenant_id AND c.site_id = s.id \
                 WHERE s.tenant_id = $1 AND s.id = ANY($2)",
                &[&tenant.0, &site_ids],
            )
            .await
            .map_err(Error::db("reading site calendars"))?
            .iter()
            .map(|r| {
                let tz: String = r.get(1);
                let shifts: Vec<ShiftDef> = r
                    .get::<_, Option<Value>>(2)
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                let days_off: Vec<NaiveDate> =
                    r.get::<_, Option<Vec<NaiveDate>>>(3).unwrap_or_default();
                let cal = Calendar::new(&tz, shifts, days_off)
                    .or_else(|_| Calendar::new("UTC", Vec::new(), Vec::new()));
                (r.get(0), cal)
            })
            .filter_map(|(id, cal)| cal.ok().map(|c| (id, c)))
            .collect();
        let names: Vec<String> = records
            .iter()
            .flat_map(|r| r.measurements.keys().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let chars: HashMap<String, (i64, Option<f64>, Option<f64>)> = tx
            .query(
                "SELECT name, id, lsl, usl FROM quality_characteristics \
                 WHERE tenant_id = $1 AND name = ANY($2) AND tag_id IS NULL",
                &[&tenant.0, &names],
            )
            .await
            .map_err(Error::db("reading characteristics"))?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
            .collect();
        let mut rows = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let Some(m) = machines.get(&r.machine_id) else {
                return reject(i, "machine_id", "no such machine".into());
            };
            let mut judged: Option<bool> = None;
            for (name, value) in &r.measurements {
                let Some((_, lsl, usl)) = chars.get(name) else {
                    return reject(
                        i,
                        &format!("measurements.{name}"),
                        "no characteristic of that name takes recorded values".into(),
                    );
                };
                if !value.is_finite() {
                    return reject(
                        i,
                        &format!("measurements.{name}"),
                        "must be a finite number".into(),
                    );
                }
                if lsl.is_some() || usl.is_some() {
                    judged = Some(judged.unwrap_or(true) && within_spec(*value, *lsl, *usl));
                }
            }
            let Some(passed) = r.passed.or(judged) else {
                return reject(
                    i,
                    "passed",
                    "missing, and no measured value has specification limits to judge it by".into(),
                );
            };
            let started = r
                .cycle_started_at
                .unwrap_or(r.produced_at - chrono::Duration::seconds(DEFAULT_CYCLE_SECS));
            if started > r.produced_at {
                return reject(
                    i,
                    "cycle_started_at",
                    "must not be after produced_at".into(),
                );
            }
            let (day, shift) = match calendars.get(&m.site_id) {
                Some(cal) => day_and_shift(cal, r.produced_at),
                None => (r.produced_at.date_naive(), String::new()),
            };
            rows.push(json!({
                "i": i,
                "day": day.to_string(),
                "shift": shift,
                "unit_id": r.unit_id,
                "batch": r.batch,
                "quantity": r.quantity,
                "product": r.product,
                "work_order": if r.work_order.is_empty() {
                    running_order(r.machine_id, r.produced_at)
                } else {
                    r.work_order.as_str()
                },
                "line_id": m.line_id,
                "machine_id": r.machine_id,
                "cycle_started_at": started.to_rfc3339(),
                "produced_at": r.produced_at.to_rfc3339(),
                "passed": passed,
                "reworked": r.reworked,
                "defect_code": r.defect_code,
            }));
        }
        let inserted = tx
            .query(
                "WITH input AS ( \
                     SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(i int, unit_id text, \
                         batch boolean, quantity int, product text, work_order text, line_id bigint, \
                         machine_id bigint, cycle_started_at timestamptz, produced_at timestamptz, \
                         passed boolean, reworked boolean, defect_code text, day date, shift text)), \
                 new AS ( \
                     INSERT INTO quality_records (tenant_id, unit_id, batch, quantity, product, \
                         work_order, line_id, machine_id, cycle_started_at, produced_at, day, \
                         shift, passed, reworked, defect_code) \
                     SELECT $1, unit_id, batch, quantity, product, work_order, line_id, machine_id, \
                         cycle_started_at, produced_at, day, shift, passed, reworked, defect_code \
                     FROM input ORDER BY i \
                     ON CONFLICT (tenant_id, unit_id) DO NOTHING \
                     RETURNING id, unit_id, quantity, product, work_order, line_id, machine_id, \
                         day, shift, passed, reworked, defect_code), \
                 yields AS ( \
                     INSERT INTO quality_yield_daily AS y (tenant_id, day, machine_id, line_id, \
                         product, work_order, shift, units, first_pass, reworked, scrapped) \
                     SELECT $1, day, machine_id, min(line_id), product, work_order, shift, \
                         sum(quantity), \
                         coalesce(sum(quantity) FILTER (WHERE passed AND NOT reworked), 0), \
                         coalesce(sum(quantity) FILTER (WHERE reworked), 0), \
                         coalesce(sum(quantity) FILTER (WHERE NOT passed), 0) \
                     FROM new GROUP BY day, machine_id, product, work_order, shift \
                     ON CONFLICT (tenant_id, day, machine_id, product, work_order, shift) DO UPDATE \
                     SET units = y.units + excluded.units, \
                         first_pass = y.first_pass + excluded.first_pass, \
                         reworked = y.reworked + excluded.reworked, \
                         scrapped = y.scrapped + excluded.scrapped), \
                 defects AS ( \
                     INSERT INTO quality_defects_daily AS d (tenant_id, day, machine_id, line_id, \
                         product, work_order, shift, defect_code, units) \
                     SELECT $1, day, machine_id, min(line_id), product, work_order, shift, \
                         defect_code, sum(quantity) \
                     FROM new WHERE defect_code <> '' AND (NOT passed OR reworked) \
                     GROUP BY day, machine_id, product, work_order, shift, defect_code \
                     ON CONFLICT (tenant_id, day, machine_id, product, work_order, shift, defect_code) \
                     DO UPDATE SET units = d.units + excluded.units) \
                 SELECT id, unit_id FROM new",
                &[&tenant.0, &Value::Array(rows)],
            )
            .await
            .map_err(Error::db("storing quality records"))?;
        let by_unit: HashMap<String, i64> = inserted.iter().map(|r| (r.get(1), r.get(0))).collect();
        let ids: Vec<Option<i64>> = records
            .iter()
            .map(|r| by_unit.get(&r.unit_id).copied())
            .collect();
        let new_ids: Vec<i64> = ids.iter().flatten().copied().collect();
        // Process parameters: each float tag of the machine over the unit's cycle (its mean
        // there, else its last value in the 10 minutes before the unit was produced). In
        // steps, so that the read of samples names its tenant and runs where that tenant's
        // samples are (on Citus one shard: issue #18; the single UPDATE ... FROM with
        // correlated reads of tenant_samples crashed the Citus 13.2.2 coordinator).
        let windows = tx
            .query(
                "SELECT r.id, t.id, regexp_replace(t.name, '^.*\\.', ''), r.cycle_started_at, r.produced_at \
                 FROM quality_records r \
                 JOIN tags t ON t.tenant_id = r.tenant_id AND t.machine_id = r.machine_id \
                      AND t.value_type = 'float' AND NOT t.derived \
                 WHERE r.tenant_id = $1 AND r.id = ANY($2) ORDER BY r.id, t.id",
                &[&tenant.0, &new_ids],
            )
            .await
            .map_err(Error::db("capturing process parameters"))?;
        let tags: Vec<i64> = windows.iter().map(|w| w.get(1)).collect();
        let froms: Vec<DateTime<Utc>> = windows.iter().map(|w| w.get(3)).collect();
        let tos: Vec<DateTime<Utc>> = windows.iter().map(|w| w.get(4)).collect();
        let values = tx
            .query(
                "SELECT coalesce( \
                     (SELECT avg(s.value) FROM tenant_samples s WHERE s.tenant_id = $1 AND s.tag_id = w.tag \
                        AND s.time >= w.f AND s.time <= w.p AND s.quality = 0 AND s.value IS NOT NULL), \
                     (SELECT s.value FROM tenant_samples s WHERE s.tenant_id = $1 AND s.tag_id = w.tag \
                        AND s.time <= w.p AND s.time > w.p - INTERVAL '10 minutes' \
                        AND s.quality = 0 AND s.value IS NOT NULL ORDER BY s.time DESC LIMIT 1)) \
                 FROM unnest($2::bigint[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS w(tag, f, p, n) \
                 ORDER BY w.n",
                &[&tenant.0, &tags, &froms, &tos],
            )
            .await
            .map_err(Error::db("capturing process parameters"))?;
        let mut params: BTreeMap<i64, serde_json::Map<String, Value>> = BTreeMap::new();
        for (w, v) in windows.iter().zip(&values) {
            if let Some(value) = v.get::<_, Option<f64>>(0) {
                params
                    .entry(w.get(0))
                    .or_default()
                    .insert(w.get(2), json!(value));
            }
        }
        let (param_ids, param_values): (Vec<i64>, Vec<Value>) = params
            .into_iter()
            .map(|(id, map)| (id, Value::Object(map)))
            .unzip();
        tx.execute(
            "UPDATE quality_records r SET parameters = u.params \
             FROM unnest($2::bigint[], $3::jsonb[]) AS u(id, params) \
             WHERE r.tenant_id = $1 AND r.id = u.id",
            &[&tenant.0, &param_ids, &param_values],
        )
        .await
        .map_err(Error::db("capturing process parameters"))?;
        // Measured values.
        let mut m_rows = Vec::new();
        let mut touched: Vec<i64> = Vec::new();
        for (r, id) in records.iter().zip(&ids) {
            let Some(id) = id else { continue };
            for (name, value) in &r.measurements {
                let cid = chars[name].0;
                if !touched.contains(&cid) {
                    touched.push(cid);
                }
                m_rows.push(json!({
                    "characteristic_id": cid, "record_id": id, "machine_id": r.machine_id,
                    "at": r.produced_at.to_rfc3339(), "value": value,
                }));
            }
        }
        if !m_rows.is_empty() {
            tx.execute(
                "INSERT INTO quality_measurements (tenant_id, characteristic_id, record_id, machine_id, at, value) \
                 SELECT $1, characteristic_id, record_id, machine_id, at, value \
                 FROM jsonb_to_recordset($2::jsonb) AS x(characteristic_id bigint, record_id bigint, \
                     machine_id bigint, at timestamptz, value double precision)",
                &[&tenant.0, &Value::Array(m_rows)],
            )
            .await
            .map_err(Error::db("storing measured values"))?;
        }
        let duplicates = ids.iter().filter(|i| i.is_none()).count();
        if !new_ids.is_empty() {
            super::audit::append(
                &tx,
                tenant,
                &actor,
                "quality_records.create",
                format!(
                    "quality_record/{}..{}",
                    new_ids.iter().min().unwrap_or(&0),
                    new_ids.iter().max().unwrap_or(&0)
                ),
                None,
                Some(json!({"accepted": new_ids.len(), "duplicates": duplicates})),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Ok(Inserted {
            ids,
            duplicates,
            characteristics: touched,
        }))
    }

    /// Records matching `f`, newest first.
    pub async fn quality_records(&mut self, f: &RecordFilter) -> Result<Vec<QualityRecord>> {
        let tenant = self.tenant();
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM quality_records r WHERE r.tenant_id = $1 \
               AND ($2::timestamptz IS NULL OR r.produced_at >= $2) \
               AND ($3::timestamptz IS NULL OR r.produced_at < $3) \
               AND ($4::bigint IS NULL OR r.machine_id = $4) \
               AND ($5::bigint IS NULL OR r.line_id = $5) \
               AND ($6::text IS NULL OR r.product = $6) \
               AND ($7::text IS NULL OR r.work_order = $7) \
               AND ($8::boolean IS NULL OR r.passed = $8) \
               AND (NOT $10 OR r.defect_probability IS NOT NULL) \
             ORDER BY r.produced_at DESC, r.id DESC LIMIT $9"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &sql,
                &[
                    &tenant.0,
                    &f.from,
                    &f.to,
                    &f.machine_id,
                    &f.line_id,
                    &f.product,
                    &f.work_order,
                    &f.passed,
                    &f.limit,
                    &f.scored,
                ],
            )
            .await
            .map_err(Error::db("listing quality records"))?;
        Ok(rows.iter().map(QualityRecord::from_row).collect())
    }

    /// Records by id (for scoring), in id order.
    pub async fn quality_records_by_id(&mut self, ids: &[i64]) -> Result<Vec<QualityRecord>> {
        let tenant = self.tenant();
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM quality_records r \
             WHERE r.tenant_id = $1 AND r.id = ANY($2) ORDER BY r.id"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&tenant.0, &ids])
            .await
            .map_err(Error::db("reading quality records"))?;
        Ok(rows.iter().map(QualityRecord::from_row).collect())
    }

    /// Yield figures grouped `by`, from the kept daily counts.
    pub async fn yield_figures(&mut self, by: YieldBy, f: &FigureFilter) -> Result<Vec<YieldRow>> {
        let tenant = self.tenant();
        let (key, label, join) = match by {
            YieldBy::Day => ("y.day::text", "y.day::text", ""),
            YieldBy::Line => (
                "y.line_id::text",
                "min(l.name)",
                "JOIN lines l ON l.id = y.line_id AND l.tenant_id = y.tenant_id",
            ),
            YieldBy::Machine => (
                "y.machine_id::text",
                "min(m.name)",
                "JOIN machines m ON m.id = y.machine_id AND m.tenant_id = y.tenant_id",
            ),
            YieldBy::Product => ("y.product", "y.product", ""),
            YieldBy::WorkOrder => ("y.work_order", "y.work_order", ""),
            YieldBy::Shift => ("y.shift", "y.shift", ""),
            YieldBy::Total => ("'total'", "'total'", ""),
        };
        let sql = format!(
            "SELECT {key} AS key, {label} AS label, sum(y.units)::bigint, sum(y.first_pass)::bigint, \
                    sum(y.reworked)::bigint, sum(y.scrapped)::bigint \
             FROM quality_yield_daily y {join} WHERE y.tenant_id = $1 {FIGURE_FILTER} \
             GROUP BY 1 ORDER BY 1"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &sql,
                &[
                    &tenant.0,
                    &f.from,
                    &f.to,
                    &f.machine_id,
                    &f.line_id,
                    &f.product,
                    &f.work_order,
                    &f.shift,
                ],
            )
            .await
            .map_err(Error::db("reading yield figures"))?;
        Ok(rows
            .iter()
            .map(|r| YieldRow {
                key: r.get(0),
                label: r.get(1),
                figures: YieldFigures::from(Counts {
                    units: r.get(2),
                    first_pass: r.get(3),
                    reworked: r.get(4),
                    scrapped: r.get(5),
                }),
            })
            .collect())
    }

    /// The Pareto of defect codes, from the kept daily counts.
    pub async fn defect_pareto(&mut self, f: &FigureFilter) -> Result<Vec<ParetoBar>> {
        let tenant = self.tenant();
        let sql = format!(
            "SELECT y.defect_code, sum(y.units)::bigint FROM quality_defects_daily y \
             WHERE y.tenant_id = $1 {FIGURE_FILTER} GROUP BY 1"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &sql,
                &[
                    &tenant.0,
                    &f.from,
                    &f.to,
                    &f.machine_id,
                    &f.line_id,
                    &f.product,
                    &f.work_order,
                    &f.shift,
                ],
            )
            .await
            .map_err(Error::db("reading the defect Pareto"))?;
        Ok(crate::quality::yields::pareto(
            rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        ))
    }

    /// A characteristic's points in `[from, to)`, oldest first, at most `limit` (the newest
    /// ones when there are more), with their sequence numbers and machines.
    pub async fn characteristic_points(
        &mut self,
        c: &Characteristic,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<(SeqPoint, Option<i64>)>> {
        let tenant = self.tenant();
        let source = match c.tag_id {
            None => {
                "SELECT at AS time, value, machine_id, record_id AS tiebreak \
                 FROM quality_measurements WHERE tenant_id = $1 AND characteristic_id = $2"
            }
            // The tag's machine comes as a parameter ($7), read beforehand: a join of the
            // (coordinator-local) tags with the distributed samples crashed the Citus 13.2.2
            // coordinator; samples alone, naming their tenant, are routed to one shard.
            Some(_) => {
                "SELECT s.time, s.value, $7::bigint AS machine_id, 0::bigint AS tiebreak \
                 FROM tenant_samples s \
                 WHERE s.tenant_id = $1 AND s.tag_id = $6 AND s.quality = 0 AND s.value IS NOT NULL \
                   AND $2::bigint IS NOT NULL \
                   AND s.time >= coalesce($3::timestamptz, '-infinity') \
                   AND s.time < coalesce($4::timestamptz, 'infinity')"
            }
        };
        // Sequence numbers count every earlier recorded value, so subgroups stay put; a tag's
        // samples are counted from the start of the period read.
        let sql = format!(
            "WITH src AS ({source}), \
             numbered AS (SELECT time, value, machine_id, \
                 (row_number() OVER (ORDER BY time, tiebreak) - 1)::bigint AS seq FROM src) \
             SELECT * FROM (SELECT seq, time, value, machine_id FROM numbered \
                 WHERE ($3::timestamptz IS NULL OR time >= $3) AND ($4::timestamptz IS NULL OR time < $4) \
                 ORDER BY seq DESC LIMIT $5) w ORDER BY seq"
        );
        let tx = self.begin().await?;
        let tag = c.tag_id.unwrap_or(0);
        let rows = if c.tag_id.is_some() {
            let machine: Option<i64> = match tx
                .query_opt(
                    "SELECT machine_id FROM tags WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.0, &tag],
                )
                .await
                .map_err(Error::db("reading a characteristic's tag"))?
            {
                Some(row) => row.get(0),
                None => return Ok(Vec::new()),
            };
            tx.query(
                &sql,
                &[&tenant.0, &c.id, &from, &to, &limit, &tag, &machine],
            )
            .await
        } else {
            let sql = sql.replace("$6", "0");
            tx.query(&sql, &[&tenant.0, &c.id, &from, &to, &limit])
                .await
        }
        .map_err(Error::db("reading a characteristic's values"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    SeqPoint {
                        seq: r.get(0),
                        time: r.get(1),
                        value: r.get(2),
                    },
                    r.get(3),
                )
            })
            .collect())
    }

    /// Raises and clears the SPC alarms of a characteristic as `changes` says; `machine_of`
    /// gives the machine and data time of a raised rule's point, `newest` the data time of the
    /// newest point (when cleared alarms are cleared). Returns (raised, cleared) alarm ids.
    pub async fn apply_spc_alarms(
        &mut self,
        characteristic_id: i64,
        changes: &Changes,
        point_of: impl Fn(usize) -> Option<(i64, DateTime<Utc>)>,
        newest: DateTime<Utc>,
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let mut raised = Vec::new();
        for r in &changes.raise {
            let Some((machine_id, at)) = point_of(r.at) else {
                continue;
            };
            let row = tx
                .query_opt(
                    "INSERT INTO alarms (tenant_id, machine_id, kind, raised_at, value, threshold, \
                         characteristic_id, spc_rule) \
                     VALUES ($1, $2, 'spc', $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
                    &[
                        &tenant.0,
                        &machine_id,
                        &at,
                        &r.value,
                        &r.limit,
                        &characteristic_id,
                        &r.rule,
                    ],
                )
                .await
                .map_err(Error::db("raising an SPC alarm"))?;
            if let Some(row) = row {
                let id: i64 = row.get(0);
                tracing::info!(tenant = %tenant, characteristic = characteristic_id, rule = %r.rule, alarm = id, "SPC alarm raised.");
                raised.push(id);
            }
        }
        let rows = tx
            .query(
                "UPDATE alarms SET cleared_at = greatest($4, raised_at) \
                 WHERE tenant_id = $1 AND kind = 'spc' AND characteristic_id = $2 \
                   AND spc_rule = ANY($3) AND cleared_at IS NULL RETURNING id",
                &[&tenant.0, &characteristic_id, &changes.clear, &newest],
            )
            .await
            .map_err(Error::db("clearing SPC alarms"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok((raised, rows.iter().map(|r| r.get(0)).collect()))
    }

    /// Stores defect predictions of records: (record id, probability, alarming), by one
    /// model version.
    pub async fn store_defect_predictions(
        &mut self,
        version: i64,
        predictions: &[(i64, f64, bool)],
    ) -> Result<()> {
        let tenant = self.tenant();
        let rows: Vec<Value> = predictions
            .iter()
            .map(|(id, p, a)| json!({"id": id, "p": p, "a": a}))
            .collect();
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE quality_records r SET defect_probability = x.p, defect_alarming = x.a, \
                 defect_model_version = $3 \
             FROM jsonb_to_recordset($2::jsonb) AS x(id bigint, p double precision, a boolean) \
             WHERE r.tenant_id = $1 AND r.id = x.id",
            &[&tenant.0, &Value::Array(rows), &version],
        )
        .await
        .map_err(Error::db("storing defect predictions"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }
}

/// A work order's run on a machine: (machine, start, end while not running, order number).
type OrderRun = (i64, DateTime<Utc>, Option<DateTime<Utc>>, String);

/// A record as a defect model learns from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingUnit {
    /// Record id.
    pub id: i64,
    /// Machine that made it.
    pub machine_id: i64,
    /// When it was made.
    pub produced_at: DateTime<Utc>,
    /// Process parameters.
    pub parameters: BTreeMap<String, f64>,
    /// Whether it was defective (finally failed, or needed rework).
    pub defective: bool,
}

impl TenantSession {
    /// Records of machines of `class` made in `[from, to)`, oldest first, at most `limit`.
    pub async fn defect_training_units(
        &mut self,
        class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<TrainingUnit>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT r.id, r.machine_id, r.produced_at, r.parameters, (NOT r.passed OR r.reworked) \
                 FROM quality_records r \
                 JOIN machines m ON m.id = r.machine_id AND m.tenant_id = r.tenant_id \
                 WHERE r.tenant_id = $1 AND m.kind = $2 AND r.produced_at >= $3 AND r.produced_at < $4 \
                 ORDER BY r.produced_at, r.id LIMIT $5",
                &[&tenant.0, &class, &from, &to, &limit],
            )
            .await
            .map_err(Error::db("reading training units"))?;
        Ok(rows
            .iter()
            .map(|r| TrainingUnit {
                id: r.get(0),
                machine_id: r.get(1),
                produced_at: r.get(2),
                parameters: number_map(r.get(3)),
                defective: r.get(4),
            })
            .collect())
    }

    /// The class (`kind`) of each of `machine_ids` that exists for this tenant.
    pub async fn machine_classes(&mut self, machine_ids: &[i64]) -> Result<HashMap<i64, String>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, kind FROM machines WHERE tenant_id = $1 AND id = ANY($2)",
                &[&tenant.0, &machine_ids],
            )
            .await
            .map_err(Error::db("reading machine classes"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// The filters shared by the yield and Pareto queries ($2 … $8).
const FIGURE_FILTER: &str =
    "AND ($2::date IS NULL OR y.day >= $2) AND ($3::date IS NULL OR y.day <= $3) \
     AND ($4::bigint IS NULL OR y.machine_id = $4) AND ($5::bigint IS NULL OR y.line_id = $5) \
     AND ($6::text IS NULL OR y.product = $6) AND ($7::text IS NULL OR y.work_order = $7) \
     AND ($8::text IS NULL OR y.shift = $8)";

impl Store {
    /// Characteristics on a tag that have a baseline period, by tenant (owner role: the SPC
    /// watch's round over every tenant).
    pub async fn tag_characteristics(&self) -> Result<Vec<(TenantId, Vec<i64>)>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "SELECT tenant_id, array_agg(id ORDER BY id) FROM public.quality_characteristics \
                 WHERE tag_id IS NOT NULL AND baseline_from IS NOT NULL AND baseline_to IS NOT NULL \
                 GROUP BY tenant_id ORDER BY tenant_id",
                &[],
            )
            .await
            .map_err(Error::db("listing tag characteristics"))?;
        Ok(rows
            .iter()
            .map(|r| (TenantId(r.get(0)), r.get(1)))
            .collect())
    }
}

impl TenantSession {
    /// Whether the latest `n` scored records of a machine all stayed under their defect
    /// model's threshold (false when fewer than `n` were scored).
    pub async fn latest_units_normal(&mut self, machine_id: i64, n: i64) -> Result<bool> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "SELECT count(*), coalesce(bool_or(defect_alarming), false) FROM ( \
                     SELECT defect_alarming FROM quality_records \
                     WHERE tenant_id = $1 AND machine_id = $2 AND defect_alarming IS NOT NULL \
                     ORDER BY produced_at DESC LIMIT $3) latest",
                &[&tenant.0, &machine_id, &n],
            )
            .await
            .map_err(Error::db("reading a machine's latest defect predictions"))?;
        let (count, any_alarming): (i64, bool) = (row.get(0), row.get(1));
        Ok(count >= n && !any_alarming)
    }
}
