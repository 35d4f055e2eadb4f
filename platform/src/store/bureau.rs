//! The bureau's tables (issue #16): what each tenant shares, the platform's negative list,
//! each tenant's daily contributions to the sector indices, and the bureau's read of
//! aggregated cells.
//!
//! Contributions are computed per tenant and site-local day from the MES figures (planned,
//! run and downtime from state intervals and shift calendars, parts from per-minute counts),
//! the alarms table and energy tags' hourly rollups, never from raw samples per request;
//! [`Store::build_bureau_contributions`] does it incrementally after each maintenance round,
//! for days closed in every time zone, and recomputing a range gives the same numbers
//! ([`TenantSession::compute_contributions`]). Bureaus read only through the database function
//! `bureau_cells`, which returns cells of tenants sharing the index's category, never a
//! tenant's rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use deadpool_postgres::Transaction;
use serde::Serialize;
use utoipa::ToSchema;

use super::mes::oee::{OeeGroup, OeeScope};
use super::query::{Agg, BucketWidth};
use super::{audit, Store, TenantId, TenantSession};
use crate::bureau::index::{contributions, CellStats, MachineDay, Metric, Period, Ratio};
use crate::bureau::negative_list::NegativeList;
use crate::bureau::sharing::{Category, SizeClass};
use crate::bureau::Place;
use crate::error::{Error, Result};

/// How far back a tenant's first computation reaches.
pub const BACKFILL_DAYS: i64 = 35;

/// A tenant's sharing, as its owner sees and sets it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SharingSettings {
    /// The categories the tenant chose to share.
    pub categories: Vec<Category>,
    /// The categories the platform's negative list never shares, whatever the choice.
    pub never_shared: Vec<Category>,
    /// What is actually shared: the choice less the negative list.
    pub effective: Vec<Category>,
    /// Tag-name patterns never read for a contribution.
    pub never_shared_tags: Vec<String>,
    /// The tenant's sector (its industry; `other` is in no sector table).
    pub sector: String,
    /// Its region (empty: in no region table).
    pub region: String,
    /// Its size class.
    pub size_class: SizeClass,
}

/// One of the tenant's own contributions, and whether bureaus see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OwnContribution {
    /// Site-local day.
    #[schema(value_type = String)]
    pub day: NaiveDate,
    /// The index.
    pub index: Metric,
    /// The sharing category it belongs to.
    pub category: Category,
    /// Numerator.
    pub num: f64,
    /// Denominator.
    pub den: f64,
    /// `num / den`: the tenant's own figure.
    pub value: f64,
    /// Whether it enters bureaus' cells (the category is shared and not negative-listed).
    pub shared: bool,
}

/// What a computation of contributions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComputeReport {
    /// Tenants computed.
    pub tenants: usize,
    /// Tenant-days computed.
    pub days: usize,
    /// Contribution rows written.
    pub rows: usize,
}

/// Replaces the tenant's shared categories by `categories`, in `tx`.
pub(crate) async fn replace_sharing(
    tx: &Transaction<'_>,
    tenant: TenantId,
    categories: &[&str],
) -> Result<()> {
    let wanted: Vec<String> = categories.iter().map(|c| (*c).to_owned()).collect();
    tx.execute(
        "DELETE FROM public.bureau_sharing WHERE tenant_id = $1 AND category <> ALL($2)",
        &[&tenant.0, &wanted],
    )
    .await
    .map_err(Error::db("changing sharing"))?;
    tx.execute(
        "INSERT INTO public.bureau_sharing (tenant_id, category) \
         SELECT $1, c FROM unnest($2::text[]) AS c ON CONFLICT DO NOTHING",
        &[&tenant.0, &wanted],
    )
    .await
    .map_err(Error::db("changing sharing"))?;
    Ok(())
}

async fn read_negative_list(tx: &Transaction<'_>) -> Result<NegativeList> {
    let rows = tx
        .query(
            "SELECT kind, pattern FROM public.bureau_negative_list ORDER BY kind, pattern",
            &[],
        )
        .await
        .map_err(Error::db("reading the negative list"))?;
    let mut list = NegativeList::default();
    for r in rows {
        let (kind, pattern): (&str, String) = (r.get(0), r.get(1));
        match kind {
            "category" => list.categories.extend(Category::parse(&pattern)),
            _ => list.tags.push(pattern),
        }
    }
    Ok(list)
}

/// The first instant of local `day` in `tz`.
fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    crate::mes::calendar::resolve(tz, day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The last day closed in every time zone at `now` (local days end by 12:00 UTC next day at
/// the latest, UTC−12).
pub fn closed_through(now: DateTime<Utc>) -> NaiveDate {
    (now - Duration::hours(12)).date_naive() - Duration::days(1)
}

impl TenantSession {
    /// The tenant's sharing, with the negative list applied.
    pub async fn sharing(&mut self) -> Result<SharingSettings> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let s = read_sharing(&tx, tenant).await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(s)
    }

    /// Sets what the tenant shares (and its size class, when given); audited as
    /// `bureau_sharing.update` with the before and after.
    pub async fn set_sharing(
        &mut self,
        categories: &BTreeSet<Category>,
        size_class: Option<SizeClass>,
    ) -> Result<SharingSettings> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        tx.execute(
            "SELECT 1 FROM public.tenants WHERE id = $1 FOR UPDATE",
            &[&tenant.0],
        )
        .await
        .map_err(Error::db("locking the tenant"))?;
        let before = read_sharing(&tx, tenant).await?;
        let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        replace_sharing(&tx, tenant, &names).await?;
        if let Some(size) = size_class {
            tx.execute(
                "UPDATE public.tenants SET size_class = $2 WHERE id = $1",
                &[&tenant.0, &size.as_str()],
            )
            .await
            .map_err(Error::db("changing the size class"))?;
        }
        let after = read_sharing(&tx, tenant).await?;
        if after != before {
            audit::append(
                &tx,
                tenant,
                &actor,
                "bureau_sharing.update",
                format!("tenant/{}/sharing", tenant.0),
                serde_json::to_value(&before).ok(),
                serde_json::to_value(&after).ok(),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(after)
    }

    /// The tenant's own contributions over `[from, to]`, each marked with whether bureaus
    /// see it.
    pub async fn own_contributions(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<OwnContribution>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let sharing = read_sharing(&tx, tenant).await?;
        let rows = tx
            .query(
                "SELECT day, metric, num, den FROM public.bureau_contributions \
                 WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day, metric",
                &[&tenant.0, &from, &to],
            )
            .await
            .map_err(Error::db("reading contributions"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let metric = Metric::parse(r.get(1))?;
                let (num, den): (f64, f64) = (r.get(2), r.get(3));
                Some(OwnContribution {
                    day: r.get(0),
                    index: metric,
                    category: metric.category(),
                    num,
                    den,
                    value: num / den,
                    shared: sharing.effective.contains(&metric.category()),
                })
            })
            .collect())
    }

    /// Each machine's figures per site-local day over `[from, to]`: planned, run and downtime
    /// and parts from the MES (state intervals, calendars, per-minute counts), alarms raised,
    /// and kWh from energy tags' hourly rollups (`raw`: from raw samples instead, for the
    /// benchmark). Energy tags named by the negative list are not read.
    pub async fn machine_days(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        negative: &NegativeList,
        raw: bool,
    ) -> Result<BTreeMap<NaiveDate, Vec<MachineDay>>> {
        let tenant = self.tenant().0;
        let machines = self.mes_machines(None).await?;
        let mut days: BTreeMap<(i64, NaiveDate), MachineDay> = BTreeMap::new();
        let in_range = |d: NaiveDate| d >= from && d <= to;
        let now = Utc::now();
        let mut zones: HashMap<i64, Tz> = HashMap::new();
        for m in &machines {
            let tz: Tz = m.time_zone.parse().unwrap_or(chrono_tz::UTC);
            zones.insert(m.id, tz);
            let (start, end) = (day_start(tz, from), day_start(tz, to + Duration::days(1)));
            if start >= now {
                continue;
            }
            let Some(report) = self
                .oee(OeeScope::Machine(m.id), start, end.min(now), OeeGroup::Day)
                .await?
            else {
                continue;
            };
            for row in report.rows {
                let Some(d) = row.day.filter(|d| in_range(*d)) else {
                    continue;
                };
                let e = days.entry((m.id, d)).or_default();
                e.planned_secs += row.oee.planned_secs;
                e.run_secs += row.oee.run_secs;
                e.downtime_secs += row.oee.downtime_secs;
                e.produced += row.oee.produced;
                e.rejected += row.oee.rejected;
                e.oee = row.oee.oee;
            }
        }
        let (wide_from, wide_to) = (
            (from - Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
            (to + Duration::days(2))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
        );
        let tx = self.begin().await?;
        // A machine-day counts only when the machine reported a known state that day: days
        // before it was connected, or while it sent nothing, are not all-down days.
        let known = tx
            .query(
                "SELECT machine_id, start_at, coalesce(end_at, now()) FROM public.mes_state_intervals \
                 WHERE tenant_id = $1 AND state <> 'unknown' \
                   AND start_at < $3 AND coalesce(end_at, now()) > $2",
                &[&tenant, &wide_from, &wide_to],
            )
            .await
            .map_err(Error::db("reading state intervals"))?;
        let mut connected: BTreeSet<(i64, NaiveDate)> = BTreeSet::new();
        for r in known {
            let (m, a, b): (i64, DateTime<Utc>, DateTime<Utc>) = (r.get(0), r.get(1), r.get(2));
            let tz = zones.get(&m).copied().unwrap_or(chrono_tz::UTC);
            let (mut d, last) = (
                a.with_timezone(&tz).date_naive().max(from),
                (b - Duration::milliseconds(1))
                    .with_timezone(&tz)
                    .date_naive()
                    .min(to),
            );
            while d <= last {
                connected.insert((m, d));
                d += Duration::days(1);
            }
        }
        days.retain(|k, _| connected.contains(k));
        let alarms = tx
            .query(
                "SELECT a.machine_id, (a.raised_at AT TIME ZONE s.time_zone)::date, count(*) \
                 FROM public.alarms a \
                 JOIN public.machines m ON m.id = a.machine_id AND m.tenant_id = a.tenant_id \
                 JOIN public.lines l ON l.id = m.line_id AND l.tenant_id = m.tenant_id \
                 JOIN public.sites s ON s.id = l.site_id AND s.tenant_id = l.tenant_id \
                 WHERE a.tenant_id = $1 AND a.raised_at >= $2 AND a.raised_at < $3 \
                 GROUP BY 1, 2",
                &[&tenant, &wide_from, &wide_to],
            )
            .await
            .map_err(Error::db("counting alarms per day"))?;
        let energy_tags = tx
            .query(
                "SELECT id, name, machine_id FROM public.tags \
                 WHERE tenant_id = $1 AND lower(unit) = 'kwh' AND NOT derived ORDER BY id",
                &[&tenant],
            )
            .await
            .map_err(Error::db("listing energy tags"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        for r in alarms {
            let (m, d, n): (i64, NaiveDate, i64) = (r.get(0), r.get(1), r.get(2));
            if in_range(d) {
                if let Some(e) = days.get_mut(&(m, d)) {
                    e.alarms += n;
                }
            }
        }
        let hour = BucketWidth::parse("1h").ok_or_else(|| Error::Config("bucket 1h".into()))?;
        for r in energy_tags {
            let (tag, name, machine): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
            if !negative.allows_tag(&name) {
                continue;
            }
            let tz = zones.get(&machine).copied().unwrap_or(chrono_tz::UTC);
            let (_, max) = self
                .bucketed(tag, wide_from, wide_to, hour, Agg::Max, raw)
                .await?;
            let (_, min) = self
                .bucketed(tag, wide_from, wide_to, hour, Agg::Min, raw)
                .await?;
            let mut span: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
            for (p, is_max) in max
                .iter()
                .map(|p| (p, true))
                .chain(min.iter().map(|p| (p, false)))
            {
                let Some(v) = p.value.filter(|v| v.is_finite()) else {
                    continue;
                };
                let d = p.time.with_timezone(&tz).date_naive();
                let e = span.entry(d).or_insert((f64::INFINITY, f64::NEG_INFINITY));
                if is_max {
                    e.1 = e.1.max(v);
                } else {
                    e.0 = e.0.min(v);
                }
            }
            for (d, (lo, hi)) in span {
                if let (true, Some(e)) = (in_range(d) && hi >= lo, days.get_mut(&(machine, d))) {
                    *e.energy_kwh.get_or_insert(0.0) += hi - lo;
                }
            }
        }
        let mut out: BTreeMap<NaiveDate, Vec<MachineDay>> = BTreeMap::new();
        for ((_, d), md) in days {
            out.entry(d).or_default().push(md);
        }
        Ok(out)
    }

    /// Computes the tenant's contributions for every day of `[from, to]` again, replacing
    /// what was stored for those days, and moves its watermark to `to` if it was behind.
    pub async fn compute_contributions(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        negative: &NegativeList,
    ) -> Result<ComputeReport> {
        let tenant = self.tenant().0;
        let per_day = self.machine_days(from, to, negative, false).await?;
        let mut rows: Vec<(NaiveDate, Metric, Ratio)> = Vec::new();
        for (d, machines) in &per_day {
            for (m, r) in contributions(machines) {
                rows.push((*d, m, r));
            }
        }
        let tx = self.begin().await?;
        tx.execute(
            "DELETE FROM public.bureau_contributions WHERE tenant_id = $1 AND day BETWEEN $2 AND $3",
            &[&tenant, &from, &to],
        )
        .await
        .map_err(Error::db("replacing contributions"))?;
        let days: Vec<NaiveDate> = rows.iter().map(|r| r.0).collect();
        let metrics: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let nums: Vec<f64> = rows.iter().map(|r| r.2.num.max(0.0)).collect();
        let dens: Vec<f64> = rows.iter().map(|r| r.2.den).collect();
        tx.execute(
            "INSERT INTO public.bureau_contributions (tenant_id, day, metric, num, den) \
             SELECT $1, d, m, n, v FROM unnest($2::date[], $3::text[], $4::float8[], $5::float8[]) \
                 AS x (d, m, n, v)",
            &[&tenant, &days, &metrics, &nums, &dens],
        )
        .await
        .map_err(Error::db("writing contributions"))?;
        tx.execute(
            "INSERT INTO public.bureau_watermarks (tenant_id, through) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE \
                 SET through = greatest(bureau_watermarks.through, excluded.through), \
                     updated_at = now()",
            &[&tenant, &to],
        )
        .await
        .map_err(Error::db("moving the contributions' watermark"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(ComputeReport {
            tenants: 1,
            days: per_day.len(),
            rows: rows.len(),
        })
    }

    /// The last day whose contributions are computed, if any.
    pub async fn contributions_watermark(&mut self) -> Result<Option<NaiveDate>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                "SELECT through FROM public.bureau_watermarks WHERE tenant_id = $1",
                &[&tenant],
            )
            .await
            .map_err(Error::db("reading the contributions' watermark"))?;
        Ok(row.map(|r| r.get(0)))
    }
}

async fn read_sharing(tx: &Transaction<'_>, tenant: TenantId) -> Result<SharingSettings> {
    let negative = read_negative_list(tx).await?;
    let row = tx
        .query_one(
            "SELECT industry, region, size_class, \
                    ARRAY(SELECT category FROM public.bureau_sharing s \
                          WHERE s.tenant_id = $1 ORDER BY category) \
             FROM public.tenants t WHERE id = $1",
            &[&tenant.0],
        )
        .await
        .map_err(Error::db("reading sharing"))?;
    let chosen: BTreeSet<Category> = row
        .get::<_, Vec<String>>(3)
        .iter()
        .filter_map(|c| Category::parse(c))
        .collect();
    Ok(SharingSettings {
        effective: negative.effective(&chosen).collect(),
        categories: chosen.into_iter().collect(),
        never_shared: negative.categories.iter().copied().collect(),
        never_shared_tags: negative.tags.clone(),
        sector: row.get(0),
        region: row.get(1),
        size_class: SizeClass::parse(row.get(2)).unwrap_or(SizeClass::Unknown),
    })
}

/// Cells per (index, period start), each keyed by its place.
pub type CellsByPeriod = BTreeMap<(Metric, NaiveDate), BTreeMap<Place, CellStats>>;

impl Store {
    /// Replaces the platform's negative list (at start, from the settings).
    pub async fn set_negative_list(&self, list: &NegativeList) -> Result<()> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        tx.execute("DELETE FROM public.bureau_negative_list", &[])
            .await
            .map_err(Error::db("replacing the negative list"))?;
        let cats: Vec<&str> = list.categories.iter().map(|c| c.as_str()).collect();
        tx.execute(
            "INSERT INTO public.bureau_negative_list (kind, pattern) \
             SELECT 'category', c FROM unnest($1::text[]) c \
             UNION SELECT 'tag', t FROM unnest($2::text[]) t",
            &[&cats, &list.tags],
        )
        .await
        .map_err(Error::db("replacing the negative list"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }

    /// The platform's negative list as stored.
    pub async fn negative_list(&self) -> Result<NegativeList> {
        let mut client = self.app.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        read_negative_list(&tx).await
    }

    /// What a bureau reads: the cells of `metrics` for every period of `period` overlapping
    /// `[from, to]`, over tenants sharing each index's category (of `size` only, when given).
    /// Runs on the application role outside every tenant, through `bureau_cells`.
    pub async fn bureau_cells(
        &self,
        metrics: &[Metric],
        from: NaiveDate,
        to: NaiveDate,
        period: Period,
        size: Option<SizeClass>,
    ) -> Result<CellsByPeriod> {
        let mut client = self.app.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let names: Vec<&str> = metrics.iter().map(|m| m.as_str()).collect();
        let (from, to) = (
            period.start_of(from),
            period.next(period.start_of(to)) - Duration::days(1),
        );
        let rows = tx
            .query(
                "SELECT metric, period_start, sector, region, n, num, den, top_num, top_den \
                 FROM public.bureau_cells($1, $2, $3, $4, $5)",
                &[
                    &names,
                    &from,
                    &to,
                    &period.as_str(),
                    &size.map(SizeClass::as_str),
                ],
            )
            .await
            .map_err(Error::db("reading the bureau's cells"))?;
        let mut out = CellsByPeriod::new();
        for r in rows {
            let Some(metric) = Metric::parse(r.get(0)) else {
                continue;
            };
            let n: i32 = r.get(4);
            out.entry((metric, r.get(1))).or_default().insert(
                (r.get(2), r.get(3)),
                CellStats {
                    n: n as usize,
                    num: r.get(5),
                    den: r.get(6),
                    top_num: r.get(7),
                    top_den: r.get(8),
                },
            );
        }
        Ok(out)
    }

    /// The sectors and regions bureaus' tables have (tenants sharing anything).
    pub async fn bureau_places(&self) -> Result<(Vec<String>, Vec<String>)> {
        let mut client = self.app.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let rows = tx
            .query("SELECT sector, region FROM public.bureau_places()", &[])
            .await
            .map_err(Error::db("reading the bureau's places"))?;
        let sectors: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
        let regions: BTreeSet<String> = rows.iter().map(|r| r.get(1)).collect();
        Ok((sectors.into_iter().collect(), regions.into_iter().collect()))
    }

    /// One incremental round: for every tenant, computes the contributions of the days closed
    /// since its watermark (the last [`BACKFILL_DAYS`] the first time). A failing tenant is
    /// logged and skipped; the next round retries it.
    pub async fn build_bureau_contributions(&self, now: DateTime<Utc>) -> Result<ComputeReport> {
        let through = closed_through(now);
        let negative = self.negative_list().await?;
        let tenants: Vec<i32> = {
            let client = self.owner.get().await?;
            client
                .query("SELECT id FROM public.tenants ORDER BY id", &[])
                .await
                .map_err(Error::db("listing tenants"))?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let mut report = ComputeReport::default();
        for t in tenants {
            let mut session = self.tenant(TenantId(t)).await?;
            let from = match session.contributions_watermark().await? {
                Some(w) => w + Duration::days(1),
                None => through - Duration::days(BACKFILL_DAYS - 1),
            };
            if from > through {
                continue;
            }
            match session
                .compute_contributions(from, through, &negative)
                .await
            {
                Ok(r) => {
                    report.tenants += 1;
                    report.days += r.days;
                    report.rows += r.rows;
                }
                Err(e) => {
                    tracing::warn!(tenant = t, error = %e, "Computing bureau contributions failed; retrying next round.")
                }
            }
        }
        Ok(report)
    }
}

impl Store {
    /// Creates the bureau user `email`, or gives an existing one a new password and enables
    /// it (the demo, each run); the operator's audit chain records either.
    pub async fn ensure_bureau_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
    ) -> Result<()> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let row = tx
            .query_one(
                "INSERT INTO public.users (tenant_id, email, name, role, password_hash) \
                 VALUES (NULL, $1, $2, 'bureau', $3) \
                 ON CONFLICT ON CONSTRAINT users_tenant_email_key \
                 DO UPDATE SET password_hash = excluded.password_hash, \
                     disabled_at = NULL \
                 WHERE users.role = 'bureau' \
                 RETURNING id, (xmax = 0)",
                &[&email.to_lowercase(), &name, &password_hash],
            )
            .await
            .map_err(Error::db("ensuring a bureau user"))?;
        let (id, created): (i64, bool) = (row.get(0), row.get(1));
        audit::append_operator(
            &tx,
            "demo",
            if created {
                "bureau_user.create"
            } else {
                "bureau_user.password"
            },
            format!("user/{id}"),
            None,
            Some(serde_json::json!({"email": email, "role": "bureau"})),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }
}
