//! Control-chart constants by subgroup size n (2 to 25).
//!
//! d2 and d3 (mean and standard deviation of the relative range R/σ of n normal values) have no
//! closed form; they are integrated numerically once (the published tables, ASTM E2587 /
//! Montgomery's *Introduction to Statistical Quality Control* Appendix VI, print them rounded,
//! and the factors derived from rounded values drift in the third decimal). c4 (the bias of the sample
//! standard deviation) has the closed form `sqrt(2/(n−1)) Γ(n/2) / Γ((n−1)/2)`. The chart
//! factors follow from them: A2 = 3/(d2 √n), D3 = max(0, 1 − 3 d3/d2), D4 = 1 + 3 d3/d2,
//! A3 = 3/(c4 √n), B3 = max(0, 1 − 3 √(1−c4²)/c4), B4 = 1 + 3 √(1−c4²)/c4. The unit tests
//! compare them with the published factor tables and with the exact d2(2) = 2/√π and
//! d3(2) = √(2 − 4/π); the reference test compares them with SciPy.

use std::sync::OnceLock;

use super::stats::normal_cdf;

/// Smallest subgroup size with constants.
pub const MIN_N: usize = 2;
/// Largest subgroup size with constants.
pub const MAX_N: usize = 25;

/// d2 and d3 for n = 2..=25, computed once by numerical integration of the distribution of
/// the range of n standard normal values: with Φ the normal CDF,
/// `E[R] = ∫ 1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ dx` and
/// `E[R²] = 2 ∫∫_{x<y} 1 − Φ(y)ⁿ − (1 − Φ(x))ⁿ + (Φ(y) − Φ(x))ⁿ dy dx`
/// (trapezoid rule on [−8, 8], step 0.02: d2 to about 1e-7, d3 to about 5e-5, well inside the
/// published three-decimal tables; the reference test compares them with SciPy's quadrature).
fn range_moments() -> &'static [(f64, f64); 24] {
    static TABLE: OnceLock<[(f64, f64); 24]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let h = 0.02;
        let grid: Vec<f64> = (0..=800).map(|i| -8.0 + h * f64::from(i)).collect();
        let cdf: Vec<f64> = grid.iter().map(|&x| normal_cdf(x)).collect();
        let weight = |i: usize| {
            if i == 0 || i == grid.len() - 1 {
                0.5
            } else {
                1.0
            }
        };
        let mut out = [(0.0, 0.0); 24];
        for (slot, n) in out.iter_mut().zip(2i32..) {
            let mean: f64 = (0..grid.len())
                .map(|i| weight(i) * (1.0 - cdf[i].powi(n) - (1.0 - cdf[i]).powi(n)))
                .sum::<f64>()
                * h;
            let mut second = 0.0;
            for i in 0..grid.len() {
                let lower = (1.0 - cdf[i]).powi(n);
                // Inner integral over y ≥ x (trapezoid, half weight on the diagonal).
                let mut inner = 0.0;
                for j in i..grid.len() {
                    let w = if j == i || j == grid.len() - 1 {
                        0.5
                    } else {
                        1.0
                    };
                    inner += w * (1.0 - cdf[j].powi(n) - lower + (cdf[j] - cdf[i]).powi(n));
                }
                second += weight(i) * inner * h;
            }
            let second = 2.0 * second * h;
            *slot = (mean, (second - mean * mean).max(0.0).sqrt());
        }
        out
    })
}

/// The constants for one subgroup size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constants {
    /// Subgroup size.
    pub n: usize,
    /// Mean of R/σ.
    pub d2: f64,
    /// Standard deviation of R/σ.
    pub d3: f64,
    /// E[s]/σ.
    pub c4: f64,
    /// X̄ limits from R̄: x̄̄ ± A2 R̄.
    pub a2: f64,
    /// X̄ limits from S̄: x̄̄ ± A3 S̄.
    pub a3: f64,
    /// Lower R limit factor.
    pub d3_lower: f64,
    /// Upper R limit factor.
    pub d4_upper: f64,
    /// Lower S limit factor.
    pub b3: f64,
    /// Upper S limit factor.
    pub b4: f64,
}

/// The constants for subgroup size `n`, or `None` outside 2..=25.
pub fn constants(n: usize) -> Option<Constants> {
    if !(MIN_N..=MAX_N).contains(&n) {
        return None;
    }
    let (d2, d3) = range_moments()[n - 2];
    let c4 = c4(n);
    let root_n = (n as f64).sqrt();
    let s_spread = 3.0 * (1.0 - c4 * c4).sqrt() / c4;
    Some(Constants {
        n,
        d2,
        d3,
        c4,
        a2: 3.0 / (d2 * root_n),
        a3: 3.0 / (c4 * root_n),
        d3_lower: (1.0 - 3.0 * d3 / d2).max(0.0),
        d4_upper: 1.0 + 3.0 * d3 / d2,
        b3: (1.0 - s_spread).max(0.0),
        b4: 1.0 + s_spread,
    })
}

/// c4(n) = sqrt(2/(n−1)) Γ(n/2) / Γ((n−1)/2), for n ≥ 2.
pub fn c4(n: usize) -> f64 {
    let n = n as f64;
    (2.0 / (n - 1.0)).sqrt()
        * (super::stats::ln_gamma(n / 2.0) - super::stats::ln_gamma((n - 1.0) / 2.0)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Factors as printed in the published tables (Montgomery, Appendix VI), three decimals
    /// (c4 four): n, A2, D3, D4, A3, B3, B4, c4.
    type Row = (usize, f64, f64, f64, f64, f64, f64, f64);
    const PUBLISHED: [Row; 6] = [
        (2, 1.880, 0.000, 3.267, 2.659, 0.000, 3.267, 0.7979),
        (3, 1.023, 0.000, 2.574, 1.954, 0.000, 2.568, 0.8862),
        (5, 0.577, 0.000, 2.114, 1.427, 0.000, 2.089, 0.9400),
        (7, 0.419, 0.076, 1.924, 1.182, 0.118, 1.882, 0.9594),
        (10, 0.308, 0.223, 1.777, 0.975, 0.284, 1.716, 0.9727),
        (25, 0.153, 0.459, 1.541, 0.606, 0.565, 1.435, 0.9896),
    ];

    #[test]
    fn range_moments_for_two_values_are_exact() {
        let k = constants(2).unwrap();
        assert!(
            (k.d2 - 2.0 / std::f64::consts::PI.sqrt()).abs() < 1e-7,
            "{}",
            k.d2
        );
        assert!(
            (k.d3 - (2.0 - 4.0 / std::f64::consts::PI).sqrt()).abs() < 1e-4,
            "{}",
            k.d3
        );
        // The published three-decimal table for larger n.
        for (n, d2, d3) in [(5, 2.326, 0.864), (10, 3.078, 0.797), (25, 3.931, 0.708)] {
            let k = constants(n).unwrap();
            assert!(
                (k.d2 - d2).abs() < 6e-4 && (k.d3 - d3).abs() < 6e-4,
                "n={n}: {k:?}"
            );
        }
    }

    #[test]
    fn derived_factors_match_the_published_tables() {
        for (n, a2, d3l, d4u, a3, b3, b4, c4v) in PUBLISHED {
            let k = constants(n).unwrap();
            let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
            assert!(close(k.a2, a2, 0.0015), "A2 n={n}: {}", k.a2);
            assert!(close(k.d3_lower, d3l, 0.0015), "D3 n={n}: {}", k.d3_lower);
            assert!(close(k.d4_upper, d4u, 0.0015), "D4 n={n}: {}", k.d4_upper);
            assert!(close(k.a3, a3, 0.0015), "A3 n={n}: {}", k.a3);
            assert!(close(k.b3, b3, 0.0015), "B3 n={n}: {}", k.b3);
            assert!(close(k.b4, b4, 0.0015), "B4 n={n}: {}", k.b4);
            assert!(close(k.c4, c4v, 0.00006), "c4 n={n}: {}", k.c4);
        }
        assert!(constants(1).is_none() && constants(26).is_none());
    }
}
