//! Finite-capacity scheduling on shift calendars.
//!
//! Every machine is a resource of its class (the line kind a routing step names). Its
//! capacity is its site's planned time (shifts less breaks, days off excluded) over the
//! scheduling horizon, and it is booked up to an instant: an order's step goes onto the
//! machine of its kind that would finish it first, starting no earlier than the machine's
//! booking, the previous step's end and the order's earliest start (lead days), and consuming
//! its machine seconds from the planned time that follows (a step may run over a break or
//! into the next shift, as a job does on the floor). Steps run in routing order.
//!
//! A single order ([`plan`]) is placed after what is already booked: that is how a quote gets
//! its date and how a confirmation books it, under a lock on the lines it may use, so two
//! confirmations never take the same time. A batch ([`schedule_edd`]) is placed earliest due
//! date first (ties by earliest start, then by id), the classic rule that minimises the
//! largest lateness on one machine.
//!
//! The promised ship date is the local date (in the last step's site's zone) of the last
//! step's end plus the template's ship buffer.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::mes::calendar::{resolve, Calendar};
use crate::mes::Span;

/// A machine that can take steps of its kind.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The machine.
    pub machine_id: i64,
    /// Its line.
    pub line_id: i64,
    /// Its class: the line kind routing steps name.
    pub kind: String,
    /// Its site's time zone.
    pub time_zone: Tz,
    /// Planned time over the horizon, sorted, merged (shared by the machines of a site).
    pub planned: Arc<Vec<Span>>,
    /// Booked up to here.
    pub booked_until: DateTime<Utc>,
}

/// Machine seconds one routing step needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    /// The line kind.
    pub line_kind: String,
    /// Machine seconds (set-up and every unit).
    pub secs: f64,
}

/// Where and when a step runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Placement {
    /// Position in the routing, from 0.
    pub step: usize,
    /// The line kind.
    pub line_kind: String,
    /// The machine.
    pub machine_id: i64,
    /// Its line.
    pub line_id: i64,
    /// Planned start.
    pub start: DateTime<Utc>,
    /// Planned end.
    pub end: DateTime<Utc>,
    /// Machine seconds.
    pub secs: f64,
}

/// An order's place in the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Its steps.
    pub placements: Vec<Placement>,
    /// The last step's end.
    pub ready_at: DateTime<Utc>,
    /// `ready_at` plus the ship buffer.
    pub ship_at: DateTime<Utc>,
    /// The promised ship date, local to the last step's site.
    pub ship_date: NaiveDate,
}

/// Why an order cannot be placed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// No machine of a routing step's kind exists.
    #[error("no line has machines of kind {0}")]
    NoLine(String),
    /// The kind's machines are booked (or off shift) to the end of the horizon.
    #[error("the {line_kind} lines have no room before {horizon_end}")]
    NoCapacity {
        /// The line kind.
        line_kind: String,
        /// The end of the scheduling horizon.
        horizon_end: DateTime<Utc>,
    },
}

/// The start and end of `secs` of planned time from `from` on, if `planned` holds it.
pub fn consume(
    planned: &[Span],
    from: DateTime<Utc>,
    secs: f64,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut left = (secs * 1000.0).ceil().max(0.0) as i64;
    let first = planned.partition_point(|s| s.end <= from);
    let mut start = None;
    for s in &planned[first..] {
        let begin = s.start.max(from);
        start.get_or_insert(begin);
        let avail = (s.end - begin).num_milliseconds();
        if avail >= left {
            return Some((start.unwrap_or(begin), begin + Duration::milliseconds(left)));
        }
        left -= avail;
    }
    None
}

/// The first instant of the local day `lead_days` after `now`'s (or `now` itself for 0).
pub fn earliest_start(now: DateTime<Utc>, lead_days: u32, tz: Tz) -> DateTime<Utc> {
    if lead_days == 0 {
        return now;
    }
    let day = now.with_timezone(&tz).date_naive() + Duration::days(i64::from(lead_days));
    resolve(tz, day.and_time(chrono::NaiveTime::MIN)).max(now)
}

/// Planned time of `calendar` over `[from, to)`, ready to share among its site's machines.
pub fn planned(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Arc<Vec<Span>> {
    Arc::new(calendar.planned(from, to))
}

/// Places an order after what `machines` have booked, without booking it.
pub fn plan(
    machines: &[Machine],
    needs: &[Need],
    earliest: DateTime<Utc>,
    ship_buffer: Duration,
) -> Result<Plan, Refusal> {
    let mut t = earliest;
    let mut placements = Vec::with_capacity(needs.len());
    let mut tz = chrono_tz::UTC;
    for (i, need) in needs.iter().enumerate() {
        let mut best: Option<(&Machine, DateTime<Utc>, DateTime<Utc>)> = None;
        let mut any = false;
        let mut horizon_end = t;
        for m in machines.iter().filter(|m| m.kind == need.line_kind) {
            any = true;
            if let Some(last) = m.planned.last() {
                horizon_end = horizon_end.max(last.end);
            }
            let Some((start, end)) = consume(&m.planned, t.max(m.booked_until), need.secs) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, _, e)) => (end, m.machine_id) < (*e, b.machine_id),
            };
            if better {
                best = Some((m, start, end));
            }
        }
        let Some((m, start, end)) = best else {
            return Err(if any {
                Refusal::NoCapacity {
                    line_kind: need.line_kind.clone(),
                    horizon_end,
                }
            } else {
                Refusal::NoLine(need.line_kind.clone())
            });
        };
        tz = m.time_zone;
        placements.push(Placement {
            step: i,
            line_kind: need.line_kind.clone(),
            machine_id: m.machine_id,
            line_id: m.line_id,
            start,
            end,
            secs: need.secs,
        });
        t = end;
    }
    let ship_at = t + ship_buffer;
    Ok(Plan {
        placements,
        ready_at: t,
        ship_at,
        ship_date: ship_at.with_timezone(&tz).date_naive(),
    })
}

/// Books a plan made by [`plan`] on the same machines.
pub fn book(machines: &mut [Machine], plan: &Plan) {
    for p in &plan.placements {
        if let Some(m) = machines.iter_mut().find(|m| m.machine_id == p.machine_id) {
            m.booked_until = m.booked_until.max(p.end);
        }
    }
}

/// An order to schedule in a batch.
#[derive(Debug, Clone)]
pub struct Job {
    /// The caller's id for it.
    pub id: i64,
    /// When it is due (shipped); none sorts last.
    pub due: Option<DateTime<Utc>>,
    /// Its earliest start.
    pub earliest: DateTime<Utc>,
    /// Its routing's machine seconds.
    pub needs: Vec<Need>,
    /// Its ship buffer.
    pub ship_buffer: Duration,
}

/// Places and books `jobs` earliest due date first; each job's plan or refusal, by id.
pub fn schedule_edd(
    machines: &mut [Machine],
    mut jobs: Vec<Job>,
) -> Vec<(i64, Result<Plan, Refusal>)> {
    jobs.sort_by_key(|j| (j.due.is_none(), j.due, j.earliest, j.id));
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let r = plan(machines, &j.needs, j.earliest, j.ship_buffer);
        if let Ok(p) = &r {
            book(machines, p);
        }
        out.push((j.id, r));
    }
    out.sort_by_key(|(id, _)| *id);
    out
}

/// The largest lateness of `plans` against their jobs' due dates, seconds (negative: all
/// early); `None` when no job has a due date and a plan.
pub fn max_lateness(jobs: &[Job], plans: &[(i64, Result<Plan, Refusal>)]) -> Option<f64> {
    plans
        .iter()
        .filter_map(|(id, r)| {
            let p = r.as_ref().ok()?;
            let due = jobs.iter().find(|j| j.id == *id)?.due?;
            Some((p.ship_at - due).num_milliseconds() as f64 / 1000.0)
        })
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mes::calendar::ShiftDef;
    use chrono::NaiveTime;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// 08:00–18:00 every day in Shanghai: 10 h a day.
    fn day_shift() -> Calendar {
        Calendar::new(
            "Asia/Shanghai",
            vec![ShiftDef {
                name: "day".into(),
                start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
                weekdays: (1..=7).collect(),
                breaks: vec![],
            }],
            vec![],
        )
        .unwrap()
    }

    fn machines(n: usize, kind: &str, from: DateTime<Utc>, days: i64) -> Vec<Machine> {
        let cal = day_shift();
        let p = planned(&cal, from, from + Duration::days(days));
        (0..n)
            .map(|i| Machine {
                machine_id: i as i64 + 1,
                line_id: 100,
                kind: kind.into(),
                time_zone: cal.time_zone,
                planned: p.clone(),
                booked_until: from,
            })
            .collect()
    }

    fn need(kind: &str, hours: f64) -> Vec<Need> {
        vec![Need {
            line_kind: kind.into(),
            secs: hours * 3600.0,
        }]
    }

    #[test]
    fn a_day_holds_ten_one_hour_orders_and_the_eleventh_ships_the_next_day() {
        // Monday 9 March 2026, 10:00 in Shanghai (02:00Z); lead 1 day: from Tuesday 00:00.
        let now = utc("2026-03-09T02:00:00Z");
        let mut ms = machines(1, "sewing", now, 30);
        let earliest = earliest_start(now, 1, chrono_tz::Asia::Shanghai);
        assert_eq!(earliest, utc("2026-03-09T16:00:00Z"));
        let quote = plan(&ms, &need("sewing", 1.0), earliest, Duration::zero()).unwrap();
        let tuesday = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(quote.ship_date, tuesday);
        for i in 0..10 {
            let p = plan(&ms, &need("sewing", 1.0), earliest, Duration::zero()).unwrap();
            assert_eq!(p.ship_date, tuesday, "order {i}");
            // 08:00 local is 00:00Z: the i-th order runs from i h to i+1 h.
            assert_eq!(
                p.placements[0].start,
                utc("2026-03-10T00:00:00Z") + Duration::hours(i)
            );
            book(&mut ms, &p);
        }
        let p = plan(&ms, &need("sewing", 1.0), earliest, Duration::zero()).unwrap();
        assert_eq!(p.ship_date, tuesday.succ_opt().unwrap());
        assert_eq!(p.placements[0].start, utc("2026-03-11T00:00:00Z"));
    }

    #[test]
    fn steps_run_in_order_over_shifts_on_the_machine_that_finishes_first() {
        let now = utc("2026-03-09T00:00:00Z"); // 08:00 local
        let mut ms = machines(2, "cnc", now, 30);
        ms.extend(
            machines(1, "cutting_table", now, 30)
                .into_iter()
                .map(|mut m| {
                    m.machine_id = 9;
                    m.line_id = 200;
                    m
                }),
        );
        // The first CNC is busy until 12:00 local; the second is free.
        ms[0].booked_until = utc("2026-03-09T04:00:00Z");
        let needs = vec![
            Need {
                line_kind: "cutting_table".into(),
                secs: 2.0 * 3600.0,
            },
            Need {
                line_kind: "cnc".into(),
                secs: 12.0 * 3600.0,
            },
        ];
        let p = plan(&ms, &needs, now, Duration::hours(4)).unwrap();
        assert_eq!(p.placements[0].end, utc("2026-03-09T02:00:00Z"));
        let cnc = &p.placements[1];
        assert_eq!(cnc.machine_id, 2);
        assert_eq!(cnc.start, utc("2026-03-09T02:00:00Z"));
        // 8 h left on Monday (10:00–18:00), 4 h on Tuesday: ends 12:00 local Tuesday.
        assert_eq!(cnc.end, utc("2026-03-10T04:00:00Z"));
        assert_eq!(p.ship_at, utc("2026-03-10T08:00:00Z"));
        assert_eq!(p.ship_date, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
    }

    #[test]
    fn missing_kinds_and_a_full_horizon_are_refused() {
        let now = utc("2026-03-09T00:00:00Z");
        let ms = machines(1, "cnc", now, 2);
        assert_eq!(
            plan(&ms, &need("sewing", 1.0), now, Duration::zero()).unwrap_err(),
            Refusal::NoLine("sewing".into())
        );
        // Two days of 10 h cannot hold 21 h.
        assert!(matches!(
            plan(&ms, &need("cnc", 21.0), now, Duration::zero()).unwrap_err(),
            Refusal::NoCapacity { .. }
        ));
    }

    #[test]
    fn earliest_due_date_first_keeps_every_due_date_that_arrival_order_misses() {
        let now = utc("2026-03-09T00:00:00Z");
        // Arrival order: a long job due late, then short ones due the same day.
        let mut jobs = vec![Job {
            id: 1,
            due: Some(utc("2026-03-12T10:00:00Z")),
            earliest: now,
            needs: need("cnc", 9.0),
            ship_buffer: Duration::zero(),
        }];
        for id in 2..=5 {
            jobs.push(Job {
                id,
                due: Some(utc("2026-03-09T10:00:00Z")),
                earliest: now,
                needs: need("cnc", 2.0),
                ship_buffer: Duration::zero(),
            });
        }
        let mut fcfs = machines(1, "cnc", now, 30);
        let mut arrival = Vec::new();
        for j in &jobs {
            let p = plan(&fcfs, &j.needs, j.earliest, j.ship_buffer);
            book(&mut fcfs, p.as_ref().unwrap());
            arrival.push((j.id, p));
        }
        let mut ms = machines(1, "cnc", now, 30);
        let edd = schedule_edd(&mut ms, jobs.clone());
        let late_fcfs = max_lateness(&jobs, &arrival).unwrap();
        let late_edd = max_lateness(&jobs, &edd).unwrap();
        assert!(late_fcfs > 0.0, "{late_fcfs}");
        assert!(late_edd <= 0.0, "{late_edd}");
        // The short jobs run first, back to back; the long one after them.
        assert_eq!(
            edd[0].1.as_ref().unwrap().placements[0].start,
            utc("2026-03-09T08:00:00Z")
        );
    }
}
