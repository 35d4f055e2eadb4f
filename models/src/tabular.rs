//! Preprocessing of tabular process data, fitted on training rows only: drop columns with too
//! many missing values, impute medians, drop constant columns, standardise, clip outliers and
//! keep the columns that separate the classes best.
//!
//! Every statistic (which columns to keep, medians, means, deviations, the class-separation
//! score) comes from the rows passed to [`Preprocessor::fit`]; [`Preprocessor::transform`] only
//! applies them, so a cross-validation that fits one per training fold cannot leak the held-out
//! fold into imputation, column dropping or feature selection.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::eval::metrics::roc_auc;

/// How columns are scored for selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Keep every usable column.
    All,
    /// Keep the `k` columns with the largest |ROC AUC − 0.5| of the column alone against the
    /// label (a rank statistic, the Mann-Whitney U: robust to the heavy outliers of process
    /// signals, unlike a t or F statistic).
    TopAuc(usize),
    /// Keep the `k` columns with the largest absolute Welch t statistic (the publisher's
    /// t-test selection on SECOM).
    TopT(usize),
}

/// Settings of a [`Preprocessor`].
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessOptions {
    /// Columns with a larger share of missing (`NaN`) training values are dropped.
    pub max_missing: f64,
    /// Which columns to keep after imputation and scaling.
    pub selection: Selection,
    /// Standardised values are clipped to `[-clip, clip]` (`None`: no clipping).
    pub clip: Option<f64>,
}

impl Default for PreprocessOptions {
    fn default() -> Self {
        PreprocessOptions {
            max_missing: 0.5,
            selection: Selection::All,
            clip: None,
        }
    }
}

/// Column choice, medians and scaling learnt from training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessor {
    /// Kept input columns, in output order.
    columns: Vec<usize>,
    median: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
    clip: Option<f64>,
    n_inputs: usize,
}

impl Preprocessor {
    /// Learns the preprocessing from training rows `x` (`NaN` = missing) and their labels
    /// (`true` = defect), which only the selection uses.
    pub fn fit(x: ArrayView2<'_, f64>, y: &[bool], options: &PreprocessOptions) -> Result<Self> {
        if x.nrows() == 0 || x.nrows() != y.len() {
            return Err(Error::InvalidInput(format!(
                "{} rows and {} labels",
                x.nrows(),
                y.len()
            )));
        }
        let mut candidates = Vec::new();
        let (mut median, mut mean, mut std) = (Vec::new(), Vec::new(), Vec::new());
        for (j, column) in x.axis_iter(Axis(1)).enumerate() {
            let mut present: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
            let missing = 1.0 - present.len() as f64 / x.nrows() as f64;
            if present.is_empty() || missing > options.max_missing {
                continue;
            }
            present.sort_by(f64::total_cmp);
            let med = quantile_sorted(&present, 0.5);
            let filled: Vec<f64> = column
                .iter()
                .map(|&v| if v.is_finite() { v } else { med })
                .collect();
            let m = filled.iter().sum::<f64>() / filled.len() as f64;
            let var = filled.iter().map(|v| (v - m).powi(2)).sum::<f64>() / filled.len() as f64;
            if var.sqrt() <= 1e-12 * m.abs().max(1.0) {
                continue; // constant: carries nothing
            }
            candidates.push(j);
            median.push(med);
            mean.push(m);
            std.push(var.sqrt());
        }
        if candidates.is_empty() {
            return Err(Error::InvalidInput(
                "no column has enough values that vary".into(),
            ));
        }
        let mut pre = Preprocessor {
            columns: candidates,
            median,
            mean,
            std,
            clip: options.clip,
            n_inputs: x.ncols(),
        };
        let keep = match options.selection {
            Selection::All => None,
            Selection::TopAuc(k) | Selection::TopT(k) => {
                let z = pre.transform(x)?;
                let scores: Vec<f64> = z
                    .axis_iter(Axis(1))
                    .map(|c| match options.selection {
                        Selection::TopT(_) => welch_t(c, y).abs(),
                        _ => (roc_auc(&c.to_vec(), y) - 0.5).abs(),
                    })
                    .collect();
                Some(top_k(&scores, k))
            }
        };
        if let Some(keep) = keep {
            pre.columns = keep.iter().map(|&i| pre.columns[i]).collect();
            pre.median = keep.iter().map(|&i| pre.median[i]).collect();
            pre.mean = keep.iter().map(|&i| pre.mean[i]).collect();
            pre.std = keep.iter().map(|&i| pre.std[i]).collect();
        }
        Ok(pre)
    }

    /// Imputes, standardises and clips `x` (same columns as the training rows) into the kept
    /// columns.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.n_inputs {
            return Err(Error::InvalidInput(format!(
                "preprocessor fitted on {} columns, got {}",
                self.n_inputs,
                x.ncols()
            )));
        }
        let mut out = Array2::zeros((x.nrows(), self.columns.len()));
        for (k, &j) in self.columns.iter().enumerate() {
            for (i, &v) in x.column(j).iter().enumerate() {
                let v = if v.is_finite() { v } else { self.median[k] };
                let z = (v - self.mean[k]) / self.std[k];
                out[[i, k]] = match self.clip {
                    Some(c) => z.clamp(-c, c),
                    None => z,
                };
            }
        }
        Ok(out)
    }

    /// The input columns kept, in output order.
    pub fn columns(&self) -> &[usize] {
        &self.columns
    }
}

/// Indices of the `k` largest scores, largest first (ties: lower index first).
fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k.max(1));
    order
}

/// Welch's t statistic of the positive class mean minus the negative class mean.
fn welch_t(x: ArrayView1<'_, f64>, y: &[bool]) -> f64 {
    let stats = |class: bool| {
        let v: Vec<f64> = x
            .iter()
            .zip(y)
            .filter(|(_, &c)| c == class)
            .map(|(v, _)| *v)
            .collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n.max(1.0);
        let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (n, m, var)
    };
    let (n1, m1, v1) = stats(true);
    let (n0, m0, v0) = stats(false);
    let se = (v1 / n1.max(1.0) + v0 / n0.max(1.0)).sqrt();
    if se > 0.0 {
        (m1 - m0) / se
    } else {
        0.0
    }
}

/// Linear-interpolated quantile of sorted, non-empty data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn statistics_come_from_training_rows_only() {
        let x = array![
            [1.0, 5.0, f64::NAN, 0.0],
            [2.0, 5.0, f64::NAN, 1.0],
            [3.0, 5.0, 1.0, f64::NAN],
            [f64::NAN, 5.0, f64::NAN, 3.0]
        ];
        let y = [false, false, true, true];
        let pre = Preprocessor::fit(x.view(), &y, &PreprocessOptions::default()).unwrap();
        // Column 1 is constant, column 2 is 75 % missing.
        assert_eq!(pre.columns(), &[0, 3]);
        let t = pre
            .transform(array![[f64::NAN, 0.0, 0.0, 100.0]].view())
            .unwrap();
        // The missing value takes the training median (2), which is also the training mean.
        assert!(t[[0, 0]].abs() < 1e-12);
        assert!(t[[0, 1]] > 10.0);
    }

    #[test]
    fn selection_keeps_the_separating_column() {
        let x = array![[0.0, 1.0], [1.0, 0.0], [0.0, 10.0], [1.0, 11.0]];
        let y = [false, false, true, true];
        for selection in [Selection::TopAuc(1), Selection::TopT(1)] {
            let options = PreprocessOptions {
                selection,
                ..PreprocessOptions::default()
            };
            let pre = Preprocessor::fit(x.view(), &y, &options).unwrap();
            assert_eq!(pre.columns(), &[1]);
        }
    }
}
