//! Shift calendars per site, reason codes, and downtime with the reasons people assign.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{interval_from_row, MesMachine};
use crate::error::{Error, Result};
use crate::mes::calendar::{Calendar, ShiftDef};
use crate::mes::downtime::{AlarmHint, Assignment, Category, Downtime, DEFAULT_REASONS};
use crate::mes::state::StateInterval;
use crate::mes::{InvalidInput, Span};
use crate::store::TenantSession;

/// A site's calendar as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SiteCalendar {
    /// The site.
    pub site_id: i64,
    /// The site's IANA time zone.
    pub time_zone: String,
    /// Its shifts.
    pub shifts: Vec<ShiftDef>,
    /// Local dates with no shift.
    #[schema(value_type = Vec<String>)]
    pub days_off: Vec<NaiveDate>,
    /// Last change (absent when the site has no calendar yet).
    pub updated_at: Option<DateTime<Utc>>,
}

impl SiteCalendar {
    /// The calendar it stands for.
    pub fn calendar(&self) -> std::result::Result<Calendar, InvalidInput> {
        Calendar::new(&self.time_zone, self.shifts.clone(), self.days_off.clone())
    }
}

/// A reason code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReasonCode {
    /// Id.
    pub id: i64,
    /// Short code, unique in the tenant (`BRK`).
    pub code: String,
    /// Name for people.
    pub name: String,
    /// Its category.
    pub category: Category,
}

/// A reason assigned to a span of a machine's time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReasonAssignment {
    /// Id.
    pub id: i64,
    /// The machine.
    pub machine_id: i64,
    /// From.
    pub start: DateTime<Utc>,
    /// To.
    pub end: DateTime<Utc>,
    /// The reason code.
    pub reason_id: i64,
    /// Its category.
    pub category: Category,
    /// Free text.
    pub note: String,
    /// Who assigned it.
    pub assigned_by: String,
}

impl TenantSession {
    /// A site's calendar; `None` when the site does not exist. A site without a calendar has
    /// no shifts (no planned time).
    pub async fn site_calendar(&mut self, site_id: i64) -> Result<Option<SiteCalendar>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                "SELECT s.time_zone, c.shifts, c.days_off, c.updated_at FROM public.sites s \
                 LEFT JOIN public.mes_calendars c ON c.tenant_id = s.tenant_id AND c.site_id = s.id \
                 WHERE s.tenant_id = $1 AND s.id = $2",
                &[&tenant, &site_id],
            )
            .await
            .map_err(Error::db("reading a calendar"))?;
        let Some(r) = row else { return Ok(None) };
        let shifts: Option<serde_json::Value> = r.get(1);
        Ok(Some(SiteCalendar {
            site_id,
            time_zone: r.get(0),
            shifts: match shifts {
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| Error::Stored(format!("calendar shifts: {e}")))?,
                None => Vec::new(),
            },
            days_off: r.get::<_, Option<Vec<NaiveDate>>>(2).unwrap_or_default(),
            updated_at: r.get(3),
        }))
    }

    /// Sets a site's time zone and calendar (checked by the caller with [`Calendar::new`]);
    /// `None` when the site does not exist.
    pub async fn put_site_calendar(&mut self, cal: &SiteCalendar) -> Result<Option<SiteCalendar>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let before = self.site_calendar(cal.site_id).await?;
        let Some(before) = before else {
            return Ok(None);
        };
        let shifts = serde_json::to_value(&cal.shifts).map_err(|e| Error::Stored(e.to_string()))?;
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE public.sites SET time_zone = $3 WHERE tenant_id = $1 AND id = $2",
            &[&tenant.0, &cal.site_id, &cal.time_zone],
        )
        .await
        .map_err(Error::db("setting a site's time zone"))?;
        let row = tx
            .query_one(
                "INSERT INTO public.mes_calendars (tenant_id, site_id, shifts, days_off, updated_at) \
                 VALUES ($1, $2, $3, $4, now()) ON CONFLICT (tenant_id, site_id) DO UPDATE \
                 SET shifts = excluded.shifts, days_off = excluded.days_off, updated_at = now() \
                 RETURNING updated_at",
                &[&tenant.0, &cal.site_id, &shifts, &cal.days_off],
            )
            .await
            .map_err(Error::db("storing a calendar"))?;
        let after = SiteCalendar {
            updated_at: row.get(0),
            ..cal.clone()
        };
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "calendar.put",
            format!("site/{}/calendar", cal.site_id),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(after))
    }

    /// The tenant's reason codes; a tenant without any gets the defaults first.
    pub async fn reason_codes(&mut self) -> Result<Vec<ReasonCode>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let n: i64 = tx
            .query_one(
                "SELECT count(*) FROM public.mes_reason_codes WHERE tenant_id = $1",
                &[&tenant],
            )
            .await
            .map_err(Error::db("counting reason codes"))?
            .get(0);
        if n == 0 {
            for (code, name, cat) in DEFAULT_REASONS {
                tx.execute(
                    "INSERT INTO public.mes_reason_codes (tenant_id, code, name, category) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&tenant, &code, &name, &cat.as_str()],
                )
                .await
                .map_err(Error::db("adding default reason codes"))?;
            }
        }
        let rows = tx
            .query(
                "SELECT id, code, name, category FROM public.mes_reason_codes \
                 WHERE tenant_id = $1 ORDER BY id",
                &[&tenant],
            )
            .await
            .map_err(Error::db("listing reason codes"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(rows.iter().map(reason_from_row).collect())
    }

    /// Adds a reason code.
    pub async fn create_reason_code(
        &mut self,
        code: &str,
        name: &str,
        category: Category,
    ) -> Result<ReasonCode> {
        self.reason_codes().await?; // the defaults first, so ids stay in their order
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "INSERT INTO public.mes_reason_codes (tenant_id, code, name, category) \
                 VALUES ($1, $2, $3, $4) RETURNING id, code, name, category",
                &[&tenant.0, &code, &name, &category.as_str()],
            )
            .await
            .map_err(Error::db("adding a reason code"))?;
        let r = reason_from_row(&row);
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "reason_code.create",
            format!("reason-code/{}", r.id),
            None,
            serde_json::to_value(&r).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(r)
    }

    /// Assigns a reason to `[start, end)` of a machine's time; replaces what was assigned
    /// there before (assigning two parts of one stop splits it). `Ok(None)` when the machine
    /// or the reason does not exist.
    pub async fn assign_reason(
        &mut self,
        machine_id: i64,
        span: Span,
        reason_id: i64,
        note: &str,
    ) -> Result<Option<ReasonAssignment>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let ok = tx
            .query_opt(
                "SELECT r.category FROM public.mes_reason_codes r, public.machines m \
                 WHERE r.tenant_id = $1 AND r.id = $2 AND m.tenant_id = $1 AND m.id = $3",
                &[&tenant.0, &reason_id, &machine_id],
            )
            .await
            .map_err(Error::db("finding the reason and machine"))?;
        let Some(ok) = ok else { return Ok(None) };
        let category = Category::parse(ok.get(0)).unwrap_or(Category::Breakdown);
        // Earlier assignments overlapping the span are cut around it.
        let overlapping = tx
            .query(
                "DELETE FROM public.mes_downtime_reasons WHERE tenant_id = $1 AND machine_id = $2 \
                 AND start_at < $4 AND end_at > $3 \
                 RETURNING start_at, end_at, reason_id, note, assigned_by, assigned_at",
                &[&tenant.0, &machine_id, &span.start, &span.end],
            )
            .await
            .map_err(Error::db("replacing reasons"))?;
        for o in &overlapping {
            let (s, e): (DateTime<Utc>, DateTime<Utc>) = (o.get(0), o.get(1));
            for (a, b) in [(s, span.start), (span.end, e)] {
                if a < b {
                    tx.execute(
                        "INSERT INTO public.mes_downtime_reasons \
                         (tenant_id, machine_id, start_at, end_at, reason_id, note, assigned_by, assigned_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &tenant.0,
                            &machine_id,
                            &a,
                            &b,
                            &o.get::<_, i64>(2),
                            &o.get::<_, String>(3),
                            &o.get::<_, String>(4),
                            &o.get::<_, DateTime<Utc>>(5),
                        ],
                    )
                    .await
                    .map_err(Error::db("keeping the rest of a reason"))?;
                }
            }
        }
        let row = tx
            .query_one(
                "INSERT INTO public.mes_downtime_reasons \
                 (tenant_id, machine_id, start_at, end_at, reason_id, note, assigned_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &tenant.0,
                    &machine_id,
                    &span.start,
                    &span.end,
                    &reason_id,
                    &note,
                    &actor,
                ],
            )
            .await
            .map_err(Error::db("assigning a reason"))?;
        let a = ReasonAssignment {
            id: row.get(0),
            machine_id,
            start: span.start,
            end: span.end,
            reason_id,
            category,
            note: note.to_string(),
            assigned_by: actor.clone(),
        };
        crate::store::audit::append(
            &tx,
            tenant,
            &actor,
            "downtime.assign_reason",
            format!("machine/{machine_id}/downtime"),
            None,
            serde_json::to_value(&a).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(a))
    }

    /// Reasons assigned to a machine's time overlapping `[from, to)`, by start.
    pub async fn reason_assignments(
        &mut self,
        machine_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ReasonAssignment>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT d.id, d.machine_id, d.start_at, d.end_at, d.reason_id, r.category, d.note, d.assigned_by \
                 FROM public.mes_downtime_reasons d \
                 JOIN public.mes_reason_codes r ON r.tenant_id = d.tenant_id AND r.id = d.reason_id \
                 WHERE d.tenant_id = $1 AND d.machine_id = ANY($2) AND d.start_at < $4 AND d.end_at > $3 \
                 ORDER BY d.machine_id, d.start_at",
                &[&tenant, &machine_ids, &from, &to],
            )
            .await
            .map_err(Error::db("reading assigned reasons"))?;
        Ok(rows
            .iter()
            .map(|r| ReasonAssignment {
                id: r.get(0),
                machine_id: r.get(1),
                start: r.get(2),
                end: r.get(3),
                reason_id: r.get(4),
                category: Category::parse(r.get(5)).unwrap_or(Category::Breakdown),
                note: r.get(6),
                assigned_by: r.get(7),
            })
            .collect())
    }

    /// Everything needed to judge a machine over `[from, to)`: its intervals (a gap-free
    /// timeline), planned time by its site's calendar, assigned reasons.
    pub async fn machine_context(
        &mut self,
        m: &MesMachine,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<MachineContext> {
        let mut all = self
            .machine_contexts(std::slice::from_ref(m), from, to)
            .await?;
        all.remove(&m.id)
            .ok_or_else(|| Error::Stored(format!("context of machine {} missing", m.id)))
    }

    /// [`Self::machine_context`] of many machines at once, with one query per kind (calendars,
    /// intervals, first intervals, reasons) whatever their number: what OEE of a line or of
    /// every machine reads.
    pub async fn machine_contexts(
        &mut self,
        machines: &[MesMachine],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, MachineContext>> {
        if machines.is_empty() {
            return Ok(HashMap::new());
        }
        let mut site_ids: Vec<i64> = machines.iter().map(|m| m.site_id).collect();
        site_ids.sort_unstable();
        site_ids.dedup();
        let sites = self.site_calendars(&site_ids).await?;
        let mut calendars: HashMap<i64, Calendar> = HashMap::new();
        for (id, cal) in &sites {
            let c = cal
                .calendar()
                .map_err(|e| Error::Stored(format!("calendar of site {id}: {e}")))?;
            calendars.insert(*id, c);
        }
        let ids: Vec<i64> = machines.iter().map(|m| m.id).collect();
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT start_at, end_at, state, code, machine_id FROM public.mes_state_intervals \
                 WHERE tenant_id = $1 AND machine_id = ANY($2) AND start_at < $4 \
                   AND (end_at IS NULL OR end_at > $3) ORDER BY machine_id, start_at",
                &[&tenant, &ids, &from, &to],
            )
            .await
            .map_err(Error::db("reading state intervals"))?;
        // One index probe per machine, not a scan of all their intervals.
        let firsts = tx
            .query(
                "SELECT m.id, (SELECT min(i.start_at) FROM public.mes_state_intervals i \
                               WHERE i.tenant_id = $1 AND i.machine_id = m.id) \
                 FROM unnest($2::bigint[]) AS m(id)",
                &[&tenant, &ids],
            )
            .await
            .map_err(Error::db("reading when machines were first seen"))?;
        // Model alarms over the range suggest reasons for stops the states do not explain.
        let alarm_rows = tx
            .query(
                "SELECT id, machine_id, raised_at, cleared_at FROM public.alarms \
                 WHERE tenant_id = $1 AND machine_id = ANY($2) \
                   AND kind IN ('failure', 'anomaly', 'rul') \
                   AND raised_at < $4 AND (cleared_at IS NULL OR cleared_at > $3) \
                 ORDER BY machine_id, raised_at",
                &[&tenant, &ids, &from, &to],
            )
            .await
            .map_err(Error::db("reading model alarms"))?;
        drop(tx);
        let mut alarms: HashMap<i64, Vec<AlarmHint>> = HashMap::new();
        for r in &alarm_rows {
            let (raised, cleared): (DateTime<Utc>, Option<DateTime<Utc>>) = (r.get(2), r.get(3));
            alarms.entry(r.get(1)).or_default().push(AlarmHint {
                span: Span::new(raised, cleared.unwrap_or(to).max(raised)),
                alarm_id: r.get(0),
            });
        }
        let mut intervals: HashMap<i64, Vec<StateInterval>> = HashMap::new();
        for r in &rows {
            intervals
                .entry(r.get(4))
                .or_default()
                .push(interval_from_row(r));
        }
        let firsts: HashMap<i64, Option<DateTime<Utc>>> =
            firsts.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut assignments: HashMap<i64, Vec<Assignment>> = HashMap::new();
        for a in self.reason_assignments(&ids, from, to).await? {
            assignments
                .entry(a.machine_id)
                .or_default()
                .push(Assignment {
                    span: Span::new(a.start, a.end),
                    reason_id: a.reason_id,
                    category: a.category,
                });
        }
        // The open interval lasts only until now.
        let until = to.min(Utc::now());
        let mut out = HashMap::new();
        for m in machines {
            let calendar = calendars.get(&m.site_id).cloned().ok_or_else(|| {
                Error::Stored(format!("site {} of machine {} vanished", m.site_id, m.id))
            })?;
            let mine = intervals.remove(&m.id).unwrap_or_default();
            let mut timeline = crate::mes::state::timeline(&mine, from, until.max(from));
            if until < to {
                timeline.push(StateInterval {
                    start: until.max(from),
                    end: Some(to),
                    state: crate::mes::state::MachineState::Unknown,
                    code: 0,
                });
                timeline.retain(|i| i.end.is_some_and(|e| e > i.start));
            }
            out.insert(
                m.id,
                MachineContext {
                    calendar,
                    timeline,
                    assignments: assignments.remove(&m.id).unwrap_or_default(),
                    alarms: alarms.remove(&m.id).unwrap_or_default(),
                    monitored_from: firsts.get(&m.id).copied().flatten(),
                },
            );
        }
        Ok(out)
    }

    /// The calendars of these sites (those that exist), in one query.
    pub async fn site_calendars(&mut self, site_ids: &[i64]) -> Result<HashMap<i64, SiteCalendar>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT s.id, s.time_zone, c.shifts, c.days_off, c.updated_at FROM public.sites s \
                 LEFT JOIN public.mes_calendars c ON c.tenant_id = s.tenant_id AND c.site_id = s.id \
                 WHERE s.tenant_id = $1 AND s.id = ANY($2)",
                &[&tenant, &site_ids],
            )
            .await
            .map_err(Error::db("reading calendars"))?;
        let mut out = HashMap::new();
        for r in &rows {
            let site_id: i64 = r.get(0);
            let shifts: Option<serde_json::Value> = r.get(2);
            out.insert(
                site_id,
                SiteCalendar {
                    site_id,
                    time_zone: r.get(1),
                    shifts: match shifts {
                        Some(v) => serde_json::from_value(v)
                            .map_err(|e| Error::Stored(format!("calendar shifts: {e}")))?,
                        None => Vec::new(),
                    },
                    days_off: r.get::<_, Option<Vec<NaiveDate>>>(3).unwrap_or_default(),
                    updated_at: r.get(4),
                },
            );
        }
        Ok(out)
    }
}

/// A machine's timeline, calendar and assigned reasons over a range.
#[derive(Debug, Clone)]
pub struct MachineContext {
    /// The site's calendar.
    pub calendar: Calendar,
    /// Gap-free state intervals over the range (unknown where no data; the future unknown).
    pub timeline: Vec<StateInterval>,
    /// Reasons people assigned.
    pub assignments: Vec<Assignment>,
    /// Model alarms over the range (by start), suggesting reasons.
    pub alarms: Vec<AlarmHint>,
    /// When the machine's first state interval begins (none: never reported). Planned time
    /// before it is not counted: the machine was not monitored yet.
    pub monitored_from: Option<DateTime<Utc>>,
}

impl MachineContext {
    /// `[from, until)` less the time before the machine was first monitored (empty when it
    /// never was).
    pub fn monitored(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Span {
        match self.monitored_from {
            Some(first) => Span::new(from.max(first), until.max(from.max(first))),
            None => Span::new(until, until),
        }
    }

    /// Downtime over `planned` with minor stops under `minor_secs`.
    pub fn downtime(&self, planned: &[Span], minor_secs: f64) -> Downtime {
        // Only the intervals that can meet the planned spans: the timeline is sorted and
        // contiguous, and a report asks shift by shift, so a month stays linear, not quadratic.
        let (Some(lo), Some(hi)) = (
            planned.iter().map(|s| s.start).min(),
            planned.iter().map(|s| s.end).max(),
        ) else {
            return Downtime::default();
        };
        let first = self
            .timeline
            .partition_point(|iv| iv.end.is_some_and(|e| e <= lo));
        let last = self.timeline.partition_point(|iv| iv.start < hi);
        crate::mes::downtime::downtime_with_alarms(
            &self.timeline[first..last.max(first)],
            planned,
            minor_secs,
            &self.assignments,
            &self.alarms,
        )
    }
}

fn reason_from_row(r: &tokio_postgres::Row) -> ReasonCode {
    ReasonCode {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        category: Category::parse(r.get(3)).unwrap_or(Category::Breakdown),
    }
}
