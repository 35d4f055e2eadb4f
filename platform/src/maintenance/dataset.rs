//! From stored history to model rows. Samples of each machine are averaged per step onto a
//! regular grid (gaps carried forward), cut into segments at repairs and maintenance (a series
//! "starts" when the machine is renewed, which is what drift and time since maintenance mean),
//! and turned into window features with the models crate. Failure events give the labels:
//! failure within the horizon, and time to the next failure. Rows while a machine is down
//! (between a failure and its repair) and rows whose label is not yet known (too close to the
//! end of the observed range) are left out.

use chrono::{DateTime, Duration, Utc};
use millwright_models::features::WindowFeatures;
use ndarray::{s, Array2, ArrayView2};

use crate::store::events::{EventKind, MachineEvent};
use crate::store::history::TagSeries;
use crate::store::models::ModelKind;

/// Seconds from the Unix epoch to the bucket origin shared with the store's queries.
const ORIGIN: i64 = 946_684_800;

/// How rows are made: which window features, on which grid.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Steps per window.
    pub window: usize,
    /// Seconds per step.
    pub step_secs: f64,
    /// Whether the hours since the last repair or maintenance are a feature.
    pub time_since_maintenance: bool,
}

impl FeatureSpec {
    /// The models crate's feature set for this spec.
    pub fn features(&self) -> WindowFeatures {
        let mut f = WindowFeatures::standard(self.window);
        f.time_since_maintenance = self.time_since_maintenance;
        f
    }

    /// The start of the step holding `t`.
    pub fn floor(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let step_ms = (self.step_secs * 1000.0).round() as i64;
        let ms = t.timestamp_millis() - ORIGIN * 1000;
        DateTime::from_timestamp_millis(ORIGIN * 1000 + ms.div_euclid(step_ms) * step_ms)
            .unwrap_or(t)
    }
}

/// One machine's history on a regular grid.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Start of each step.
    pub times: Vec<DateTime<Utc>>,
    /// Step averages, one column per channel, gaps filled with the last value.
    pub values: Array2<f64>,
    /// Whether the step had samples of its own.
    pub observed: Vec<bool>,
}

impl Grid {
    /// Builds the grid over `[from, to)` from one series per channel; `None` if a channel has
    /// no sample at all.
    pub fn build(
        series: &[TagSeries],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        spec: &FeatureSpec,
    ) -> Option<Grid> {
        let start = spec.floor(from);
        let step = Duration::milliseconds((spec.step_secs * 1000.0).round() as i64);
        let n = ((to - start).num_milliseconds() as f64 / step.num_milliseconds() as f64).ceil();
        let n = (n.max(0.0) as usize).max(1);
        let mut values = Array2::from_elem((n, series.len()), f64::NAN);
        let mut observed = vec![false; n];
        for (c, points) in series.iter().enumerate() {
            for (t, v) in points {
                let i = (*t - start).num_milliseconds() / step.num_milliseconds();
                if (0..n as i64).contains(&i) {
                    values[[i as usize, c]] = *v;
                    observed[i as usize] = true;
                }
            }
        }
        for mut column in values.columns_mut() {
            let first = column.iter().copied().find(|v| v.is_finite())?;
            let mut last = first;
            for v in column.iter_mut() {
                if v.is_finite() {
                    last = *v;
                } else {
                    *v = last;
                }
            }
        }
        let times = (0..n).map(|i| start + step * i as i32).collect();
        Some(Grid {
            times,
            values,
            observed,
        })
    }
}

/// Where a step stands relative to the machine's events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepContext {
    /// Row where the current segment (since the last repair or maintenance) starts.
    pub segment_start: usize,
    /// Hours since the last repair or maintenance (or since the grid starts).
    pub hours_since_maintenance: f64,
    /// Between a failure and its repair.
    pub down: bool,
    /// Hours until the next failure, if one is recorded.
    pub hours_to_failure: Option<f64>,
}

/// The context of every step of `times` given the machine's events.
pub fn step_contexts(times: &[DateTime<Utc>], events: &[MachineEvent]) -> Vec<StepContext> {
    let mut events: Vec<&MachineEvent> = events.iter().collect();
    events.sort_by_key(|e| e.at);
    let hours = |d: Duration| d.num_milliseconds() as f64 / 3_600_000.0;
    let (mut next, mut last_reset, mut last_failure) = (0, None, None);
    let mut segment_start = 0;
    let mut out = Vec::with_capacity(times.len());
    for (i, &t) in times.iter().enumerate() {
        while next < events.len() && events[next].at <= t {
            match events[next].kind {
                EventKind::Failure => last_failure = Some(events[next].at),
                EventKind::Repair | EventKind::Maintenance => {
                    last_reset = Some(events[next].at);
                    segment_start = i;
                }
            }
            next += 1;
        }
        let down = match (last_failure, last_reset) {
            (Some(f), Some(r)) => f > r,
            (Some(_), None) => true,
            _ => false,
        };
        let to_failure = events[next..]
            .iter()
            .find(|e| e.kind == EventKind::Failure)
            .map(|e| hours(e.at - t));
        out.push(StepContext {
            segment_start,
            hours_since_maintenance: hours(t - last_reset.unwrap_or(times[0])),
            down,
            hours_to_failure: to_failure,
        });
    }
    out
}

/// Window features of row `end` of `values`, whose segment starts at `segment_start`.
pub fn features_at(
    features: &WindowFeatures,
    values: ArrayView2<'_, f64>,
    segment_start: usize,
    end: usize,
    hours_since_maintenance: f64,
    out: &mut Vec<f64>,
) {
    let segment = values.slice(s![segment_start..=end, ..]);
    features.extract_into(segment, end - segment_start, hours_since_maintenance, out);
}

/// How rows are labelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labelling {
    /// What the model predicts.
    pub kind: ModelKind,
    /// Failure horizon in hours.
    pub horizon_hours: f64,
    /// Remaining life is capped at this many hours.
    pub rul_cap_hours: f64,
}

/// Labelled rows of several machines.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Features, row-major.
    pub x: Vec<f64>,
    /// Columns per row.
    pub n_features: usize,
    /// Targets: 0/1 for failure, hours for RUL, unused (0) for anomaly.
    pub y: Vec<f64>,
    /// Whether a failure follows within the horizon (anomaly and RUL metrics use it).
    pub failing: Vec<bool>,
    /// Data time of each row.
    pub times: Vec<DateTime<Utc>>,
    /// Machine of each row.
    pub machines: Vec<i64>,
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The rows whose index passes `keep`.
    pub fn select(&self, keep: impl Fn(usize) -> bool) -> Rows {
        let mut out = Rows {
            n_features: self.n_features,
            ..Rows::default()
        };
        for i in (0..self.len()).filter(|&i| keep(i)) {
            out.x
                .extend_from_slice(&self.x[i * self.n_features..(i + 1) * self.n_features]);
            out.y.push(self.y[i]);
            out.failing.push(self.failing[i]);
            out.times.push(self.times[i]);
            out.machines.push(self.machines[i]);
        }
        out
    }

    /// The features as a matrix.
    pub fn matrix(&self) -> Array2<f64> {
        Array2::from_shape_vec((self.len(), self.n_features), self.x.clone())
            .expect("rows have n_features columns")
    }

    /// Appends the labelled rows of one machine, observed until `observed_until`. Only rows
    /// with a full window since the last repair or maintenance are kept (the scorer waits
    /// for one too).
    pub fn add_machine(
        &mut self,
        machine_id: i64,
        grid: &Grid,
        events: &[MachineEvent],
        observed_until: DateTime<Utc>,
        spec: &FeatureSpec,
        labels: Labelling,
    ) {
        let features = spec.features();
        self.n_features = features.n_features(grid.values.ncols());
        let contexts = step_contexts(&grid.times, events);
        let hours = |d: Duration| d.num_milliseconds() as f64 / 3_600_000.0;
        for (i, ctx) in contexts.iter().enumerate() {
            if ctx.down || !grid.observed[i] || i + 1 < ctx.segment_start + spec.window {
                continue;
            }
            let left = hours(observed_until - grid.times[i]);
            let failing = ctx
                .hours_to_failure
                .is_some_and(|h| h <= labels.horizon_hours);
            let known = failing || left >= labels.horizon_hours;
            let target = match labels.kind {
                ModelKind::Failure | ModelKind::Anomaly if !known => continue,
                ModelKind::Failure => f64::from(u8::from(failing)),
                ModelKind::Anomaly => 0.0,
                // Defect models learn from quality records (maintenance::defect), not here.
                ModelKind::Defect => continue,
                ModelKind::Rul => match ctx.hours_to_failure {
                    Some(h) => h.min(labels.rul_cap_hours),
                    None if left >= labels.rul_cap_hours => labels.rul_cap_hours,
                    None => continue,
                },
            };
            features_at(
                &features,
                grid.values.view(),
                ctx.segment_start,
                i,
                ctx.hours_since_maintenance,
                &mut self.x,
            );
            self.y.push(target);
            self.failing.push(failing);
            self.times.push(grid.times[i]);
            self.machines.push(machine_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, at: DateTime<Utc>) -> MachineEvent {
        MachineEvent {
            id: 0,
            machine_id: 1,
            kind,
            at,
            code: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn contexts_follow_failures_and_repairs() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let times: Vec<_> = (0..6).map(|h| t0 + Duration::hours(h)).collect();
        let events = [
            event(EventKind::Failure, t0 + Duration::minutes(150)),
            event(EventKind::Repair, t0 + Duration::minutes(200)),
        ];
        let c = step_contexts(&times, &events);
        assert_eq!(c[0].hours_to_failure, Some(2.5));
        assert!(!c[2].down && c[3].down, "{c:?}");
        assert_eq!((c[4].segment_start, c[4].down), (4, false));
        assert!((c[5].hours_since_maintenance - (5.0 - 200.0 / 60.0)).abs() < 1e-9);
        assert_eq!(c[5].hours_to_failure, None);
    }

    #[test]
    fn grids_fill_gaps_with_the_last_value() {
        let spec = FeatureSpec {
            window: 3,
            step_secs: 60.0,
            time_since_maintenance: true,
        };
        let t0 = spec.floor(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let series = vec![vec![(t0, 1.0), (t0 + Duration::minutes(2), 3.0)]];
        let g = Grid::build(&series, t0, t0 + Duration::minutes(4), &spec).unwrap();
        assert_eq!(g.values.column(0).to_vec(), vec![1.0, 1.0, 3.0, 3.0]);
        assert_eq!(g.observed, vec![true, false, true, false]);
    }
}
