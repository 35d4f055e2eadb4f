//! SECOM semiconductor manufacturing files (`secom.data`, `secom_labels.data`).
//!
//! `secom.data` holds 590 space-separated process signals per unit with `NaN` for missing
//! values; row `i` of `secom_labels.data` is `-1` (pass) or `1` (fail) and the unit's time stamp
//! `"DD/MM/YYYY HH:MM:SS"`. Missing values stay `NaN` here: imputation belongs to the model
//! pipeline, fitted on training rows only.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// Process signals per unit.
pub const N_SIGNALS: usize = 590;

/// The SECOM units: signals, labels and time stamps, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SecomData {
    /// One row per unit, [`N_SIGNALS`] columns, `NaN` where missing.
    pub x: Array2<f64>,
    /// Whether the unit failed the line test.
    pub fail: Vec<bool>,
    /// Time stamp of each unit in seconds since 1970-01-01 (the file gives no time zone).
    pub time: Vec<i64>,
}

impl SecomData {
    /// Reads `secom.data` and `secom_labels.data` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let data_path = dir.join("secom.data");
        let labels_path = dir.join("secom_labels.data");
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let data = read(&data_path)?;
        let labels = read(&labels_path)?;

        let mut values = Vec::new();
        let mut rows = 0;
        for (i, line) in data.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let before = values.len();
            for field in line.split_whitespace() {
                let v = if field.eq_ignore_ascii_case("nan") {
                    f64::NAN
                } else {
                    field.parse().map_err(|_| Error::Parse {
                        path: data_path.clone(),
                        line: i + 1,
                        message: format!("not a number: {field:?}"),
                    })?
                };
                values.push(v);
            }
            if values.len() - before != N_SIGNALS {
                return Err(Error::Parse {
                    path: data_path.clone(),
                    line: i + 1,
                    message: format!("{} values, expected {N_SIGNALS}", values.len() - before),
                });
            }
            rows += 1;
        }

        let (mut fail, mut time) = (Vec::new(), Vec::new());
        for (i, line) in labels.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |message: String| Error::Parse {
                path: labels_path.clone(),
                line: i + 1,
                message,
            };
            let (label, stamp) = line
                .split_once(' ')
                .ok_or_else(|| bad("expected a label and a time stamp".into()))?;
            fail.push(match label {
                "1" => true,
                "-1" => false,
                other => return Err(bad(format!("label {other:?} is neither 1 nor -1"))),
            });
            time.push(parse_stamp(stamp.trim().trim_matches('"')).ok_or_else(|| {
                bad(format!(
                    "time stamp {stamp:?} is not \"DD/MM/YYYY HH:MM:SS\""
                ))
            })?);
        }
        if fail.len() != rows {
            return Err(Error::InvalidInput(format!(
                "{} has {} labels for {rows} units in {}",
                labels_path.display(),
                fail.len(),
                data_path.display()
            )));
        }
        let x = Array2::from_shape_vec((rows, N_SIGNALS), values)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(SecomData { x, fail, time })
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.fail.len()
    }

    /// Whether there are no units.
    pub fn is_empty(&self) -> bool {
        self.fail.is_empty()
    }
}

/// `DD/MM/YYYY HH:MM:SS` as seconds since 1970-01-01.
fn parse_stamp(s: &str) -> Option<i64> {
    let (date, clock) = s.split_once(' ')?;
    let d: Vec<i64> = date
        .split('/')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let c: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([day, month, year], [h, m, sec]) = (d.as_slice(), c.as_slice()) else {
        return None;
    };
    if !(1..=12).contains(month) || !(1..=31).contains(day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    Some(days_from_civil(*year, *month, *day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_are_day_first() {
        assert_eq!(parse_stamp("01/01/1970 00:00:00"), Some(0));
        assert_eq!(parse_stamp("19/07/2008 11:55:00"), Some(1_216_468_500));
        assert_eq!(parse_stamp("07/19/2008 11:55:00"), None);
    }
}
