//! What a bucketed query answers for buckets that hold no value, as InfluxQL's `fill()` and
//! SiteWise's interpolated values offer: leave them out (`none`, the default and what the
//! store's SQL returns), answer `null` so a chart draws a gap, repeat the previous value, or
//! interpolate linearly between the values on either side.
//!
//! Pure: the store's SQL returns the buckets that have samples, and [`apply`] completes the
//! series over the whole queried range. Like InfluxQL, `previous` and `linear` fill only from
//! values inside the range: buckets before the first value stay `null`, and `linear` never
//! extrapolates past the last one.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::{BucketPoint, BucketWidth};

/// How empty buckets are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fill {
    /// Buckets without a value are left out.
    #[default]
    None,
    /// Every bucket of the range is answered; those without a value carry `null`.
    Null,
    /// Every bucket; an empty one repeats the value of the bucket before it.
    Previous,
    /// Every bucket; an empty one between two values is interpolated linearly in time.
    Linear,
}

/// Completes `points` (bucket starts in ascending order, as the store returns them) over the
/// buckets covering `[from, to)` as `fill` says.
pub fn apply(
    points: Vec<BucketPoint>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: BucketWidth,
    fill: Fill,
) -> Vec<BucketPoint> {
    if fill == Fill::None {
        return points;
    }
    let (first, end) = (width.floor(from), width.ceil(to));
    let step = width.secs();
    let count = ((end - first).num_seconds() / step).max(0) as usize;
    let mut values: Vec<Option<f64>> = vec![None; count];
    for p in points {
        let offset = (p.time - first).num_seconds();
        if offset >= 0 && offset % step == 0 {
            if let Some(slot) = values.get_mut((offset / step) as usize) {
                *slot = p.value;
            }
        }
    }
    match fill {
        Fill::None | Fill::Null => {}
        Fill::Previous => fill_previous(&mut values),
        Fill::Linear => fill_linear(&mut values),
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| BucketPoint {
            time: first + Duration::seconds(i as i64 * step),
            value,
        })
        .collect()
}

fn fill_previous(values: &mut [Option<f64>]) {
    let mut last = None;
    for v in values.iter_mut() {
        match v {
            Some(x) => last = Some(*x),
            None => *v = last,
        }
    }
}

/// Buckets are equally spaced, so interpolating by index is interpolating in time.
fn fill_linear(values: &mut [Option<f64>]) {
    let mut left: Option<(usize, f64)> = None;
    for i in 0..values.len() {
        let Some(right) = values[i] else { continue };
        if let Some((l, a)) = left {
            let span = (i - l) as f64;
            for (k, slot) in values.iter_mut().enumerate().take(i).skip(l + 1) {
                *slot = Some(a + (right - a) * (k - l) as f64 / span);
            }
        }
        left = Some((i, right));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn p(min: i64, v: f64) -> BucketPoint {
        BucketPoint {
            time: at(min),
            value: Some(v),
        }
    }

    fn values(points: &[BucketPoint]) -> Vec<Option<f64>> {
        points.iter().map(|p| p.value).collect()
    }

    fn width() -> BucketWidth {
        BucketWidth::parse("1m").unwrap()
    }

    #[test]
    fn none_returns_what_the_store_found() {
        let points = vec![p(1, 1.0), p(4, 4.0)];
        assert_eq!(
            apply(points.clone(), at(0), at(6), width(), Fill::None),
            points
        );
    }

    #[test]
    fn null_answers_every_bucket_of_the_range() {
        let out = apply(
            vec![p(1, 1.0), p(4, 4.0)],
            at(0),
            at(6),
            width(),
            Fill::Null,
        );
        assert_eq!(
            out.iter().map(|p| p.time).collect::<Vec<_>>(),
            (0..6).map(at).collect::<Vec<_>>()
        );
        assert_eq!(values(&out), [None, Some(1.0), None, None, Some(4.0), None]);
    }

    #[test]
    fn the_range_is_widened_to_whole_buckets() {
        let from = at(0) + Duration::seconds(30);
        let to = at(2) + Duration::seconds(1);
        let out = apply(vec![p(1, 1.0)], from, to, width(), Fill::Null);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].time, at(0));
        assert_eq!(values(&out), [None, Some(1.0), None]);
    }

    #[test]
    fn previous_carries_values_forward_but_not_before_the_first() {
        let out = apply(
            vec![p(1, 1.0), p(4, 4.0)],
            at(0),
            at(6),
            width(),
            Fill::Previous,
        );
        assert_eq!(
            values(&out),
            [None, Some(1.0), Some(1.0), Some(1.0), Some(4.0), Some(4.0)]
        );
    }

    #[test]
    fn linear_interpolates_between_values_and_never_extrapolates() {
        let out = apply(
            vec![p(1, 1.0), p(4, 7.0)],
            at(0),
            at(6),
            width(),
            Fill::Linear,
        );
        assert_eq!(
            values(&out),
            [None, Some(1.0), Some(3.0), Some(5.0), Some(7.0), None]
        );
    }

    #[test]
    fn a_bucket_whose_samples_carried_no_value_counts_as_empty() {
        let empty = BucketPoint {
            time: at(2),
            value: None,
        };
        let out = apply(
            vec![p(1, 2.0), empty, p(3, 4.0)],
            at(1),
            at(4),
            width(),
            Fill::Linear,
        );
        assert_eq!(values(&out), [Some(2.0), Some(3.0), Some(4.0)]);
    }

    #[test]
    fn an_empty_range_fills_with_nothing_to_carry() {
        for fill in [Fill::Null, Fill::Previous, Fill::Linear] {
            let out = apply(vec![], at(0), at(3), width(), fill);
            assert_eq!(values(&out), [None, None, None], "{fill:?}");
        }
    }

    #[test]
    fn fill_names_parse_as_the_api_spells_them() {
        for (text, fill) in [
            ("none", Fill::None),
            ("null", Fill::Null),
            ("previous", Fill::Previous),
            ("linear", Fill::Linear),
        ] {
            let parsed: Fill = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(parsed, fill);
        }
        assert!(serde_json::from_value::<Fill>(serde_json::json!("zero")).is_err());
    }
}
