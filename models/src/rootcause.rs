//! Root-cause ranking: which process parameters drive defects, and the operating window the
//! data recommends for each.
//!
//! **Ranking** is permutation importance on a hold-out: bagged decision trees are fitted on a
//! stratified share of the units, and each parameter's importance is how much the hold-out
//! ROC AUC drops when that parameter's values are shuffled among the hold-out units (mean over
//! several seeded shuffles). It measures what the model *uses* to tell defects from good
//! units on data it did not see, so a parameter that only helps the trees memorise the
//! training units scores nothing. Parameters that carry the same information (a worn tool
//! raises both its wear counter and the spindle load) share the importance between them;
//! the report keeps them apart and says how strongly each separates on its own (the window).
//!
//! **Operating window**: the units are cut into quantile bins of the parameter; of every
//! contiguous run of bins the one whose inside defect rate differs most from the outside rate
//! (two-proportion z statistic) is the window. An open side (`None`) means the data gave no
//! limit there. No window is recommended when the best z is below `min_z`.

use ndarray::{Array1, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};
use crate::eval::metrics::roc_auc;
use crate::model::{FailureClassifier, FailureParams, Model};
use crate::split::stratified_split;
use crate::tabular::{PreprocessOptions, Preprocessor};

/// Settings of [`rank_parameters`].
#[derive(Debug, Clone, PartialEq)]
pub struct RankingOptions {
    /// Share of each class held out to measure importance.
    pub holdout_fraction: f64,
    /// Shuffles per parameter.
    pub repeats: usize,
    /// Seed of the hold-out split and the shuffles.
    pub seed: u64,
    /// The trees (their `calibration_folds` is not used).
    pub forest: FailureParams,
    /// Quantile bins per parameter for the operating window.
    pub window_bins: usize,
    /// Fewest units in a bin (fewer bins are used when units are scarce).
    pub min_bin_units: usize,
    /// Smallest two-proportion z for which a window is recommended.
    pub min_z: f64,
}

impl Default for RankingOptions {
    fn default() -> Self {
        RankingOptions {
            holdout_fraction: 0.3,
            repeats: 5,
            seed: 11,
            forest: FailureParams {
                trees: 100,
                min_leaf: 3,
                feature_proportion: 1.0,
                calibration_folds: 0,
                ..FailureParams::default()
            },
            window_bins: 20,
            min_bin_units: 30,
            min_z: 3.0,
        }
    }
}

/// The range of a parameter inside which units were made with fewer defects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingWindow {
    /// Lower limit (`None`: the data gives none; the window reaches the smallest value seen).
    pub low: Option<f64>,
    /// Upper limit (`None`: the data gives none).
    pub high: Option<f64>,
    /// Defect rate of units made inside the window.
    pub inside_defect_rate: f64,
    /// Defect rate of units made outside it.
    pub outside_defect_rate: f64,
    /// Share of the units made inside it.
    pub inside_share: f64,
    /// Two-proportion z statistic of outside against inside.
    pub z: f64,
}

/// One parameter's place in the ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterRank {
    /// Input column.
    pub column: usize,
    /// Its name.
    pub name: String,
    /// Mean drop of the hold-out ROC AUC when the parameter is shuffled (0 for a parameter
    /// dropped as constant or mostly missing).
    pub importance: f64,
    /// Standard deviation of that drop over the shuffles.
    pub importance_sd: f64,
    /// Smallest and largest value seen.
    pub range: (f64, f64),
    /// The recommended window, when the data supports one.
    pub window: Option<OperatingWindow>,
}

/// Parameters ranked by importance, most important first.
#[derive(Debug, Clone, PartialEq)]
pub struct RootCauses {
    /// Units the trees were fitted on.
    pub train_units: usize,
    /// Units held out.
    pub holdout_units: usize,
    /// Defective units in all.
    pub defects: usize,
    /// Hold-out ROC AUC with no parameter shuffled: how much the ranking can be trusted
    /// (near 0.5, the parameters do not explain the defects).
    pub holdout_auc: f64,
    /// The parameters, most important first.
    pub ranks: Vec<ParameterRank>,
}

/// Ranks the parameters (columns of `x`, named by `names`) by how much they drive defects
/// (`y[i]`: unit `i` is defective) and finds each one's operating window.
pub fn rank_parameters(
    x: ArrayView2<'_, f64>,
    y: &[bool],
    names: &[String],
    options: &RankingOptions,
) -> Result<RootCauses> {
    if x.nrows() != y.len() || x.ncols() != names.len() {
        return Err(Error::InvalidInput(format!(
            "{} units × {} parameters, {} labels, {} names",
            x.nrows(),
            x.ncols(),
            y.len(),
            names.len()
        )));
    }
    let (train, holdout) = stratified_split(y, options.holdout_fraction, options.seed);
    let count = |idx: &[usize]| idx.iter().filter(|&&i| y[i]).count();
    if count(&train) < 2 || count(&holdout) < 2 || count(&holdout) == holdout.len() {
        return Err(Error::InvalidInput(format!(
            "too few defective units to rank parameters ({} of {})",
            count(&train) + count(&holdout),
            y.len()
        )));
    }
    let y_train: Vec<bool> = train.iter().map(|&i| y[i]).collect();
    let y_hold: Vec<bool> = holdout.iter().map(|&i| y[i]).collect();
    let pre = Preprocessor::fit(
        x.select(Axis(0), &train).view(),
        &y_train,
        &PreprocessOptions::default(),
    )?;
    let xt = pre.transform(x.select(Axis(0), &train).view())?;
    let mut xh = pre.transform(x.select(Axis(0), &holdout).view())?;
    let mut forest = FailureClassifier::new(FailureParams {
        calibration_folds: 0,
        ..options.forest.clone()
    });
    let targets: Array1<f64> = y_train.iter().map(|&b| f64::from(u8::from(b))).collect();
    forest.fit(xt.view(), targets.view())?;
    let base = roc_auc(&forest.predict(xh.view())?.to_vec(), &y_hold);

    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x9e37_79b9);
    let mut importance = vec![(0.0, 0.0); x.ncols()];
    for (k, &column) in pre.columns().iter().enumerate() {
        let original = xh.column(k).to_owned();
        let mut drops = Vec::with_capacity(options.repeats.max(1));
        for _ in 0..options.repeats.max(1) {
            let mut shuffled = original.to_vec();
            shuffled.shuffle(&mut rng);
            xh.column_mut(k).assign(&Array1::from(shuffled));
            drops.push(base - roc_auc(&forest.predict(xh.view())?.to_vec(), &y_hold));
        }
        xh.column_mut(k).assign(&original);
        let mean = drops.iter().sum::<f64>() / drops.len() as f64;
        let sd = (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>()
            / (drops.len() as f64 - 1.0).max(1.0))
        .sqrt();
        importance[column] = (mean, sd);
    }

    let mut ranks: Vec<ParameterRank> = (0..x.ncols())
        .map(|j| {
            let values: Vec<f64> = x.column(j).to_vec();
            let finite = values.iter().copied().filter(|v| v.is_finite());
            let range = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            ParameterRank {
                column: j,
                name: names[j].clone(),
                importance: importance[j].0,
                importance_sd: importance[j].1,
                range,
                window: operating_window(&values, y, options),
            }
        })
        .collect();
    ranks.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then(a.column.cmp(&b.column))
    });
    Ok(RootCauses {
        train_units: train.len(),
        holdout_units: holdout.len(),
        defects: count(&train) + count(&holdout),
        holdout_auc: base,
        ranks,
    })
}

/// The contiguous run of quantile bins of `values` whose defect rate is most significantly
/// below the rest; `None` when nothing reaches `min_z`.
pub fn operating_window(
    values: &[f64],
    y: &[bool],
    options: &RankingOptions,
) -> Option<OperatingWindow> {
    let mut units: Vec<(f64, bool)> = values
        .iter()
        .zip(y)
        .filter(|(v, _)| v.is_finite())
        .map(|(&v, &d)| (v, d))
        .collect();
    units.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = units.len();
    let bins = options
        .window_bins
        .min(n / options.min_bin_units.max(1))
        .max(1);
    if bins < 2 {
        return None;
    }
    // Bin boundaries at quantiles, moved forward past equal values so a value is in one bin.
    let mut starts = vec![0];
    for b in 1..bins {
        let mut s = b * n / bins;
        while s < n && s > 0 && units[s].0 == units[s - 1].0 {
            s += 1;
        }
        if s < n && s > *starts.last().expect("starts is not empty") {
            starts.push(s);
        }
    }
    starts.push(n);
    let nb = starts.len() - 1;
    let defects_before: Vec<usize> = std::iter::once(0)
        .chain(units.iter().scan(0, |acc, u| {
            *acc += usize::from(u.1);
            Some(*acc)
        }))
        .collect();
    let total_defects = defects_before[n] as f64;
    let mut best: Option<OperatingWindow> = None;
    for a in 0..nb {
        for b in a..nb {
            if a == 0 && b == nb - 1 {
                continue;
            }
            let (lo, hi) = (starts[a], starts[b + 1]);
            let n_in = (hi - lo) as f64;
            let n_out = n as f64 - n_in;
            let d_in = (defects_before[hi] - defects_before[lo]) as f64;
            let d_out = total_defects - d_in;
            let p = total_defects / n as f64;
            let se = (p * (1.0 - p) * (1.0 / n_in + 1.0 / n_out)).sqrt();
            if se == 0.0 {
                continue;
            }
            let z = (d_out / n_out - d_in / n_in) / se;
            if best.is_none_or(|w| z > w.z) {
                best = Some(OperatingWindow {
                    low: (a > 0).then(|| (units[lo - 1].0 + units[lo].0) / 2.0),
                    high: (b < nb - 1).then(|| (units[hi - 1].0 + units[hi].0) / 2.0),
                    inside_defect_rate: d_in / n_in,
                    outside_defect_rate: d_out / n_out,
                    inside_share: n_in / n as f64,
                    z,
                });
            }
        }
    }
    best.filter(|w| w.z >= options.min_z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ends_where_defects_start() {
        // Defects only above 70, over values 0..100.
        let values: Vec<f64> = (0..1000).map(|i| i as f64 / 10.0).collect();
        let y: Vec<bool> = values
            .iter()
            .map(|&v| v > 70.0 && (v * 10.0) as i64 % 3 == 0)
            .collect();
        let w = operating_window(&values, &y, &RankingOptions::default()).unwrap();
        assert_eq!(w.low, None);
        let high = w.high.unwrap();
        assert!((65.0..=75.0).contains(&high), "{w:?}");
        assert_eq!(w.inside_defect_rate, 0.0);
    }

    #[test]
    fn no_window_without_a_difference() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let y: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        assert_eq!(
            operating_window(&values, &y, &RankingOptions::default()),
            None
        );
    }
}
