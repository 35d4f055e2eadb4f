//! Optional calibrated noise on published values (differential privacy's Laplace mechanism),
//! off by default.
//!
//! A release with noise names its ε. Each published value gets Laplace noise of scale
//! `b = Δ / ε`, with the sensitivity `Δ = B / n`: `B` is the index's bound on one
//! contributor's own ratio ([`super::index::Metric::bound`]) and `n` the cell's contributors,
//! i.e. how far one tenant can move a mean of `n` bounded contributions. (The indices are
//! ratios of sums, weighted by size; the dominance rule keeps any tenant's weight below the
//! rule's share, so `B / n` is the documented approximation, not a proof.)
//!
//! The noise is deterministic per release and cell (SHA-256 of the release's name and the
//! cell's key), so recomputing a release gives the same numbers, and asking again gives
//! nothing new to average away.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Noise settings of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseSpec {
    /// The privacy budget per published value (smaller: more noise).
    pub epsilon: f64,
    /// Names the release; it seeds the noise.
    pub release: String,
}

/// A uniform number in (0, 1) from `release` and `key`.
fn uniform(release: &str, key: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(release.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ((u64::from_be_bytes(b) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// The Laplace(0, `scale`) quantile at `u` in (0, 1).
pub fn laplace(scale: f64, u: f64) -> f64 {
    if u < 0.5 {
        scale * (2.0 * u).ln()
    } else {
        -scale * (2.0 * (1.0 - u)).ln()
    }
}

impl NoiseSpec {
    /// The noise scale `b = (bound / n) / ε` for a cell of `n` contributors.
    pub fn scale(&self, bound: f64, n: usize) -> f64 {
        bound / n.max(1) as f64 / self.epsilon
    }

    /// The noise added to the value of the cell named `key` (`n` contributors, the index's
    /// `bound`).
    pub fn offset(&self, key: &str, bound: f64, n: usize) -> f64 {
        laplace(self.scale(bound, n), uniform(&self.release, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_per_release_and_cell() {
        let spec = NoiseSpec {
            epsilon: 1.0,
            release: "2026-12".into(),
        };
        assert_eq!(spec.offset("a", 1.0, 5), spec.offset("a", 1.0, 5));
        assert_ne!(spec.offset("a", 1.0, 5), spec.offset("b", 1.0, 5));
        let other = NoiseSpec {
            release: "2027-01".into(),
            ..spec.clone()
        };
        assert_ne!(spec.offset("a", 1.0, 5), other.offset("a", 1.0, 5));
    }

    #[test]
    fn noise_has_the_laplace_spread_it_documents() {
        // Over many cells the mean absolute noise is the scale b (Laplace's E|X| = b).
        let spec = NoiseSpec {
            epsilon: 0.5,
            release: "r".into(),
        };
        let b = spec.scale(1.0, 10);
        assert!((b - 0.2).abs() < 1e-12);
        let n = 20_000;
        let offsets: Vec<f64> = (0..n)
            .map(|i| spec.offset(&i.to_string(), 1.0, 10))
            .collect();
        let mean: f64 = offsets.iter().sum::<f64>() / n as f64;
        let mean_abs: f64 = offsets.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!(
            (mean_abs - b).abs() < 0.01,
            "mean |noise| {mean_abs} vs b {b}"
        );
        assert_eq!(laplace(1.0, 0.5), 0.0);
    }
}
