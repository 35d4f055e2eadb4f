//! Normalisation fitted on training data only, optionally per operating condition.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::{Error, Result};

/// Operating conditions found by k-means on standardised operational settings (C-MAPSS FD002
/// has six: altitude, Mach number and throttle resolver angle combinations).
#[derive(Debug, Clone)]
pub struct OperatingConditions {
    model: KMeans<f64, linfa_nn::distance::L2Dist>,
    mean: Array1<f64>,
    std: Array1<f64>,
}

impl OperatingConditions {
    /// Clusters the rows of `settings` (one row per sample) into `n_conditions` conditions.
    pub fn fit(settings: ArrayView2<'_, f64>, n_conditions: usize, seed: u64) -> Result<Self> {
        if settings.nrows() < n_conditions || n_conditions == 0 {
            return Err(Error::InvalidInput(format!(
                "cannot find {n_conditions} conditions in {} samples",
                settings.nrows()
            )));
        }
        let (mean, std) = column_stats(settings);
        let scaled = scale(settings, &mean, &std);
        let model = KMeans::params_with_rng(n_conditions, StdRng::seed_from_u64(seed))
            .max_n_iterations(200)
            .tolerance(1e-6)
            .fit(&DatasetBase::from(scaled))?;
        Ok(OperatingConditions { model, mean, std })
    }

    /// Number of conditions.
    pub fn len(&self) -> usize {
        self.model.centroids().nrows()
    }

    /// Whether there are no conditions (never true for a fitted value).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The condition of each row of `settings`.
    pub fn assign(&self, settings: ArrayView2<'_, f64>) -> Vec<usize> {
        let scaled = scale(settings, &self.mean, &self.std);
        self.model.predict(&scaled).to_vec()
    }
}

/// Z-score normaliser with separate mean and standard deviation per condition and channel.
///
/// Statistics come from the data passed to [`Normaliser::fit`] only; [`Normaliser::transform`]
/// never updates them, so test data cannot leak into training.
#[derive(Debug, Clone, PartialEq)]
pub struct Normaliser {
    mean: Array2<f64>,
    std: Array2<f64>,
}

impl Normaliser {
    /// Fits per-condition statistics. `conditions[i]` is the condition of row `i` of `x`, each
    /// below `n_conditions`; use all zeros and `n_conditions = 1` for a single condition.
    /// Channels that do not vary within a condition get a standard deviation of 1.
    pub fn fit(x: ArrayView2<'_, f64>, conditions: &[usize], n_conditions: usize) -> Result<Self> {
        check_conditions(x, conditions, n_conditions)?;
        let channels = x.ncols();
        let mut mean = Array2::zeros((n_conditions, channels));
        let mut std = Array2::ones((n_conditions, channels));
        for c in 0..n_conditions {
            let rows: Vec<usize> = (0..x.nrows()).filter(|&i| conditions[i] == c).collect();
            if rows.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "no training sample in condition {c}"
                )));
            }
            let (m, s) = column_stats(x.select(Axis(0), &rows).view());
            mean.row_mut(c).assign(&m);
            std.row_mut(c).assign(&s);
        }
        Ok(Normaliser { mean, std })
    }

    /// A normaliser from statistics computed earlier by [`Normaliser::fit`] (e.g. stored with
    /// a model): `mean` and `std` have one row per condition and one column per channel.
    pub fn from_parts(mean: Array2<f64>, std: Array2<f64>) -> Result<Self> {
        if mean.dim() != std.dim() || mean.is_empty() {
            return Err(Error::InvalidInput(format!(
                "mean {:?} and std {:?} must have the same non-empty shape",
                mean.dim(),
                std.dim()
            )));
        }
        let std = std.mapv(|s| if s > 1e-12 { s } else { 1.0 });
        Ok(Normaliser { mean, std })
    }

    /// Normalises `x` with the training statistics of each row's condition.
    pub fn transform(&self, x: ArrayView2<'_, f64>, conditions: &[usize]) -> Result<Array2<f64>> {
        check_conditions(x, conditions, self.mean.nrows())?;
        if x.ncols() != self.mean.ncols() {
            return Err(Error::InvalidInput(format!(
                "normaliser fitted on {} channels, got {}",
                self.mean.ncols(),
                x.ncols()
            )));
        }
        let mut out = x.to_owned();
        for (mut row, &c) in out.rows_mut().into_iter().zip(conditions) {
            row -= &self.mean.row(c);
            row /= &self.std.row(c);
        }
        Ok(out)
    }

    /// Training mean per condition (rows) and channel (columns).
    pub fn mean(&self) -> ArrayView2<'_, f64> {
        self.mean.view()
    }

    /// Training standard deviation per condition (rows) and channel (columns).
    pub fn std(&self) -> ArrayView2<'_, f64> {
        self.std.view()
    }
}

fn check_conditions(x: ArrayView2<'_, f64>, conditions: &[usize], n: usize) -> Result<()> {
    if conditions.len() != x.nrows() {
        return Err(Error::InvalidInput(format!(
            "{} condition labels for {} rows",
            conditions.len(),
            x.nrows()
        )));
    }
    if let Some(c) = conditions.iter().find(|&&c| c >= n) {
        return Err(Error::InvalidInput(format!(
            "condition {c} out of range (0..{n})"
        )));
    }
    Ok(())
}

/// Column means and standard deviations (1 where a column is constant).
fn column_stats(x: ArrayView2<'_, f64>) -> (Array1<f64>, Array1<f64>) {
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    let std = x
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 1e-12 { s } else { 1.0 });
    (mean, std)
}

fn scale(x: ArrayView2<'_, f64>, mean: &Array1<f64>, std: &Array1<f64>) -> Array2<f64> {
    (&x - mean) / std
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_normaliser_rebuilt_from_its_parts_transforms_the_same() {
        let x = array![[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]];
        let fitted = Normaliser::fit(x.view(), &[0, 0, 0], 1).unwrap();
        let rebuilt =
            Normaliser::from_parts(fitted.mean().to_owned(), fitted.std().to_owned()).unwrap();
        assert_eq!(rebuilt, fitted);
        let y = array![[7.0, 11.0]];
        assert_eq!(
            rebuilt.transform(y.view(), &[0]).unwrap(),
            fitted.transform(y.view(), &[0]).unwrap()
        );
        assert!(Normaliser::from_parts(Array2::zeros((1, 2)), Array2::ones((1, 3))).is_err());
    }
}
