//! Window features: statistics of each channel over the last samples before a point in time.

use ndarray::{Array2, ArrayView2};

/// A statistic computed per channel over a window of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Arithmetic mean.
    Mean,
    /// Population standard deviation.
    Std,
    /// Least-squares slope per sample (0 for a single sample).
    Slope,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// The most recent value.
    Last,
    /// Mean over the window minus the mean over the first `window` samples of the series: the
    /// change since maintenance, which removes each machine's own starting level.
    Drift,
}

impl Stat {
    /// All statistics, in the order used by [`WindowFeatures::standard`].
    pub const ALL: [Stat; 7] = [
        Stat::Mean,
        Stat::Std,
        Stat::Slope,
        Stat::Min,
        Stat::Max,
        Stat::Last,
        Stat::Drift,
    ];
}

/// Which window features to compute for a multichannel series.
///
/// For every window length in `windows` and every channel, each statistic in `stats` is computed
/// over the last `window` samples up to and including the current one (fewer at the start of a
/// series). If `time_since_maintenance` is set, one more column holds the number of samples since
/// the series started (a series starts at commissioning or after maintenance).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFeatures {
    /// Window lengths in samples; `usize::MAX` means the whole history.
    pub windows: Vec<usize>,
    /// Statistics per channel and window.
    pub stats: Vec<Stat>,
    /// Append the time since maintenance (in samples) as the last column.
    pub time_since_maintenance: bool,
}

impl WindowFeatures {
    /// All seven statistics over one window, plus time since maintenance.
    pub fn standard(window: usize) -> Self {
        WindowFeatures {
            windows: vec![window],
            stats: Stat::ALL.to_vec(),
            time_since_maintenance: true,
        }
    }

    /// Number of feature columns produced for `n_channels` channels.
    pub fn n_features(&self, n_channels: usize) -> usize {
        self.windows.len() * self.stats.len() * n_channels
            + usize::from(self.time_since_maintenance)
    }

    /// Features at sample `end` (inclusive index into `series`, rows are samples, columns are
    /// channels), appended to `out`. `since_maintenance` is the number of samples between the
    /// start of the series and `end` inclusive.
    pub fn extract_into(
        &self,
        series: ArrayView2<'_, f64>,
        end: usize,
        since_maintenance: f64,
        out: &mut Vec<f64>,
    ) {
        for &window in &self.windows {
            let start = (end + 1).saturating_sub(window);
            let slice = series.slice(ndarray::s![start..=end, ..]);
            let first = series.slice(ndarray::s![..window.min(end + 1), ..]);
            for (column, baseline) in slice.columns().into_iter().zip(first.columns()) {
                let values: Vec<f64> = column.iter().copied().collect();
                for &stat in &self.stats {
                    out.push(match stat {
                        Stat::Drift => {
                            compute(Stat::Mean, &values) - baseline.mean().unwrap_or(0.0)
                        }
                        _ => compute(stat, &values),
                    });
                }
            }
        }
        if self.time_since_maintenance {
            out.push(since_maintenance);
        }
    }

    /// Features at every sample of `series`: one row per sample, the first sample counted as one
    /// sample since maintenance.
    pub fn extract_all(&self, series: ArrayView2<'_, f64>) -> Array2<f64> {
        let n = series.nrows();
        let width = self.n_features(series.ncols());
        let mut flat = Vec::with_capacity(n * width);
        for end in 0..n {
            self.extract_into(series, end, (end + 1) as f64, &mut flat);
        }
        Array2::from_shape_vec((n, width), flat).expect("every row has n_features columns")
    }
}

fn compute(stat: Stat, values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = || values.iter().sum::<f64>() / n;
    match stat {
        Stat::Mean => mean(),
        Stat::Std => {
            let m = mean();
            (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt()
        }
        Stat::Slope => slope(values),
        Stat::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::Last => values.last().copied().unwrap_or(f64::NAN),
        Stat::Drift => 0.0,
    }
}

/// Least-squares slope of `values` against their index.
fn slope(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let t_mean = (n as f64 - 1.0) / 2.0;
    let v_mean = values.iter().sum::<f64>() / n as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let dt = i as f64 - t_mean;
        num += dt * (v - v_mean);
        den += dt * dt;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn statistics_of_a_ramp() {
        let series = array![[1.0], [2.0], [3.0], [4.0]];
        let f = WindowFeatures::standard(3).extract_all(series.view());
        // Last row: window [2, 3, 4].
        let last = f.row(3).to_vec();
        let std = (2.0f64 / 3.0).sqrt();
        assert_eq!(last, vec![3.0, std, 1.0, 2.0, 4.0, 4.0, 1.0, 4.0]);
        // First row: a single sample, zero slope, one sample since maintenance.
        assert_eq!(
            f.row(0).to_vec(),
            vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
        );
    }
}
