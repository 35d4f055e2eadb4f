//! Shift calendars in a site's own time zone.
//!
//! A calendar is a set of shifts, each with a local start and end time (an end at or before
//! the start means the shift ends the next day), the weekdays it starts on, and breaks (planned
//! stops, by local start time and length); plus days off (local dates on which no shift
//! starts). Planned busy time is every shift's span less its breaks.
//!
//! Local times become instants through the IANA zone: a time skipped by a daylight-saving
//! change moves to the first valid local time after it, a repeated one takes its first
//! occurrence. A night shift over the spring change is an hour shorter, over the autumn change
//! an hour longer, as the people working it would say.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{InvalidInput, Span};

/// A planned stop inside a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakDef {
    /// Local start, `HH:MM`.
    #[schema(value_type = String, example = "02:00")]
    pub start: NaiveTime,
    /// Length in minutes.
    pub minutes: u32,
}

/// One shift of a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftDef {
    /// Its name (`early`, `late`, `night`).
    pub name: String,
    /// Local start, `HH:MM`.
    #[schema(value_type = String, example = "22:00")]
    pub start: NaiveTime,
    /// Local end, `HH:MM`; at or before `start`: the next day.
    #[schema(value_type = String, example = "06:00")]
    pub end: NaiveTime,
    /// ISO weekdays (1 = Monday … 7 = Sunday) it starts on; all seven when omitted.
    #[serde(default = "all_days")]
    pub weekdays: Vec<u8>,
    /// Its breaks.
    #[serde(default)]
    pub breaks: Vec<BreakDef>,
}

fn all_days() -> Vec<u8> {
    (1..=7).collect()
}

/// A site's shift calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// The site's time zone.
    pub time_zone: Tz,
    /// Its shifts.
    pub shifts: Vec<ShiftDef>,
    /// Local dates on which no shift starts.
    pub days_off: BTreeSet<NaiveDate>,
}

/// One shift as worked on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftInstance {
    /// The shift's name.
    pub shift: String,
    /// The local date it starts on.
    pub day: NaiveDate,
    /// From start to end.
    pub span: Span,
    /// Its breaks, as instants, inside `span`.
    pub breaks: Vec<Span>,
}

impl ShiftInstance {
    /// Planned busy time: the span less its breaks, in order.
    pub fn planned(&self) -> Vec<Span> {
        subtract(&[self.span], &self.breaks)
    }
}

/// `spans` less `holes` (both sorted by start; the result sorted).
pub fn subtract(spans: &[Span], holes: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for s in spans {
        let mut cursor = s.start;
        for h in holes {
            if h.end <= cursor || h.start >= s.end {
                continue;
            }
            if h.start > cursor {
                out.push(Span::new(cursor, h.start));
            }
            cursor = cursor.max(h.end);
        }
        if cursor < s.end {
            out.push(Span::new(cursor, s.end));
        }
    }
    out
}

/// The instant of a local time in `tz` (skipped times move forward, repeated ones take the
/// first occurrence).
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    for minutes in 0..=24 * 60 {
        if let Some(t) = tz
            .from_local_datetime(&(local + Duration::minutes(minutes)))
            .earliest()
        {
            return t.with_timezone(&Utc);
        }
    }
    // No zone skips a whole day; keep the arithmetic total anyway.
    Utc.from_utc_datetime(&local)
}

impl Calendar {
    /// Checks and builds a calendar, naming the offending field.
    pub fn new(
        time_zone: &str,
        shifts: Vec<ShiftDef>,
        days_off: Vec<NaiveDate>,
    ) -> Result<Self, InvalidInput> {
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| InvalidInput::new("time_zone", "not an IANA time zone name"))?;
        let mut names = BTreeSet::new();
        for (i, s) in shifts.iter().enumerate() {
            if s.name.is_empty() || s.name.len() > 100 {
                return Err(InvalidInput::new(
                    format!("shifts[{i}].name"),
                    "must be 1 to 100 characters",
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(InvalidInput::new(
                    format!("shifts[{i}].name"),
                    "two shifts of that name",
                ));
            }
            if s.weekdays.is_empty() || s.weekdays.iter().any(|d| !(1..=7).contains(d)) {
                return Err(InvalidInput::new(
                    format!("shifts[{i}].weekdays"),
                    "ISO weekdays 1 (Monday) to 7 (Sunday), at least one",
                ));
            }
            let len = shift_minutes(s);
            for (j, b) in s.breaks.iter().enumerate() {
                let offset = minutes_after(s.start, b.start);
                if b.minutes == 0 || offset + i64::from(b.minutes) > len {
                    return Err(InvalidInput::new(
                        format!("shifts[{i}].breaks[{j}]"),
                        "a break must last at least a minute and end within its shift",
                    ));
                }
            }
        }
        Ok(Calendar {
            time_zone: tz,
            shifts,
            days_off: days_off.into_iter().collect(),
        })
    }

    /// Every shift instance overlapping `[from, to)`, by start.
    pub fn instances(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<ShiftInstance> {
        let mut out = Vec::new();
        if to <= from {
            return out;
        }
        let first = from.with_timezone(&self.time_zone).date_naive() - Duration::days(1);
        let last = to.with_timezone(&self.time_zone).date_naive();
        let mut day = first;
        while day <= last {
            if !self.days_off.contains(&day) {
                let weekday = day.weekday().number_from_monday() as u8;
                for s in &self.shifts {
                    if !s.weekdays.contains(&weekday) {
                        continue;
                    }
                    let start_local = day.and_time(s.start);
                    let end_local = start_local + Duration::minutes(shift_minutes(s));
                    let span = Span::new(
                        resolve(self.time_zone, start_local),
                        resolve(self.time_zone, end_local),
                    );
                    if span.end <= from || span.start >= to || span.is_empty() {
                        continue;
                    }
                    let mut breaks: Vec<Span> = s
                        .breaks
                        .iter()
                        .filter_map(|b| {
                            let bs =
                                start_local + Duration::minutes(minutes_after(s.start, b.start));
                            let be = bs + Duration::minutes(i64::from(b.minutes));
                            Span::new(resolve(self.time_zone, bs), resolve(self.time_zone, be))
                                .intersect(&span)
                        })
                        .collect();
                    breaks.sort();
                    out.push(ShiftInstance {
                        shift: s.name.clone(),
                        day,
                        span,
                        breaks,
                    });
                }
            }
            day += Duration::days(1);
        }
        out.sort_by_key(|i| (i.span.start, i.shift.clone()));
        out
    }

    /// Planned busy time within `[from, to)`: shifts less breaks, clipped, merged, sorted.
    pub fn planned(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
        let range = Span::new(from, to);
        let mut spans: Vec<Span> = self
            .instances(from, to)
            .iter()
            .flat_map(|i| i.planned())
            .filter_map(|s| s.intersect(&range))
            .collect();
        spans.sort();
        merge(spans)
    }

    /// The local day `[00:00, next 00:00)` holding `t`, as instants.
    pub fn day_of(&self, t: DateTime<Utc>) -> (NaiveDate, Span) {
        let day = t.with_timezone(&self.time_zone).date_naive();
        (day, self.day_span(day))
    }

    /// The local day `day` as instants.
    pub fn day_span(&self, day: NaiveDate) -> Span {
        let start = resolve(self.time_zone, day.and_time(NaiveTime::MIN));
        let end = resolve(
            self.time_zone,
            (day + Duration::days(1)).and_time(NaiveTime::MIN),
        );
        Span::new(start, end)
    }
}

/// Overlapping or touching spans merged (input sorted by start).
pub fn merge(spans: Vec<Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

fn minutes_after(start: NaiveTime, t: NaiveTime) -> i64 {
    let d = (t - start).num_minutes();
    if d < 0 {
        d + 24 * 60
    } else {
        d
    }
}

/// A shift's length in local minutes (an end at or before the start is the next day).
fn shift_minutes(s: &ShiftDef) -> i64 {
    let d = minutes_after(s.start, s.end);
    if d == 0 {
        24 * 60
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn night() -> ShiftDef {
        ShiftDef {
            name: "night".into(),
            start: hm(22, 0),
            end: hm(6, 0),
            weekdays: all_days(),
            breaks: vec![BreakDef {
                start: hm(2, 0),
                minutes: 30,
            }],
        }
    }

    #[test]
    fn a_night_shift_in_shanghai_crosses_midnight_with_its_break() {
        let cal = Calendar::new("Asia/Shanghai", vec![night()], vec![]).unwrap();
        let got = cal.instances(utc("2026-03-10T14:00:00Z"), utc("2026-03-10T22:00:00Z"));
        assert_eq!(got.len(), 1, "{got:?}");
        let i = &got[0];
        // 22:00 +08:00 is 14:00Z; 06:00 the next day is 22:00Z; the break 02:00-02:30 is
        // 18:00Z-18:30Z.
        assert_eq!(i.day, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
        assert_eq!(
            i.span,
            Span::new(utc("2026-03-10T14:00:00Z"), utc("2026-03-10T22:00:00Z"))
        );
        assert_eq!(
            i.planned(),
            vec![
                Span::new(utc("2026-03-10T14:00:00Z"), utc("2026-03-10T18:00:00Z")),
                Span::new(utc("2026-03-10T18:30:00Z"), utc("2026-03-10T22:00:00Z")),
            ]
        );
        assert_eq!(crate::mes::total_secs(&i.planned()), 450.0 * 60.0);
    }

    #[test]
    fn days_off_and_weekdays_leave_no_shift() {
        let mut early = ShiftDef {
            name: "early".into(),
            start: hm(6, 0),
            end: hm(14, 0),
            weekdays: vec![1, 2, 3, 4, 5],
            breaks: vec![],
        };
        let cal = Calendar::new(
            "Asia/Shanghai",
            vec![early.clone()],
            vec![NaiveDate::from_ymd_opt(2026, 3, 11).unwrap()],
        )
        .unwrap();
        // Mon 9 March to Mon 16 March: Mon-Fri less Wednesday the 11th, and Monday the 16th.
        let got = cal.instances(utc("2026-03-08T16:00:00Z"), utc("2026-03-16T16:00:00Z"));
        let days: Vec<u32> = got.iter().map(|i| i.day.day()).collect();
        assert_eq!(days, vec![9, 10, 12, 13, 16]);
        early.weekdays = vec![8];
        let err = Calendar::new("Asia/Shanghai", vec![early], vec![]).unwrap_err();
        assert_eq!(err.field, "shifts[0].weekdays");
        let err = Calendar::new("Mars/Olympus", vec![], vec![]).unwrap_err();
        assert_eq!(err.field, "time_zone");
    }

    #[test]
    fn daylight_saving_changes_shorten_and_lengthen_night_shifts() {
        let cal = Calendar::new("America/New_York", vec![night()], vec![]).unwrap();
        // Spring forward on Sunday 8 March 2026 at 02:00: the break at 02:00 starts at 03:00
        // (02:00-02:30 does not exist), the night is 7 h long, 7 h of planned time.
        let spring = cal.instances(utc("2026-03-08T04:00:00Z"), utc("2026-03-08T08:00:00Z"));
        let i = spring.iter().find(|i| i.day.day() == 7).unwrap();
        assert_eq!(i.span.secs(), 7.0 * 3600.0);
        assert_eq!(crate::mes::total_secs(&i.planned()), 7.0 * 3600.0);
        // Fall back on Sunday 1 November 2026 at 02:00: 9 h, less the 30-minute break.
        let fall = cal.instances(utc("2026-11-01T04:00:00Z"), utc("2026-11-01T08:00:00Z"));
        let i = fall.iter().find(|i| i.day.day() == 31).unwrap();
        assert_eq!(i.span.secs(), 9.0 * 3600.0);
        assert_eq!(crate::mes::total_secs(&i.planned()), 8.5 * 3600.0);
        // A local day over the spring change has 23 hours.
        let day = cal.day_span(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
        assert_eq!(day.secs(), 23.0 * 3600.0);
    }

    #[test]
    fn planned_time_is_clipped_and_merged() {
        let a = ShiftDef {
            name: "a".into(),
            start: hm(6, 0),
            end: hm(14, 0),
            weekdays: all_days(),
            breaks: vec![],
        };
        let b = ShiftDef {
            name: "b".into(),
            start: hm(14, 0),
            end: hm(22, 0),
            ..a.clone()
        };
        let cal = Calendar::new("UTC", vec![a, b], vec![]).unwrap();
        let p = cal.planned(utc("2026-03-10T10:00:00Z"), utc("2026-03-10T20:00:00Z"));
        assert_eq!(
            p,
            vec![Span::new(
                utc("2026-03-10T10:00:00Z"),
                utc("2026-03-10T20:00:00Z")
            )]
        );
    }
}
