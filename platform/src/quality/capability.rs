//! Process capability against specification limits: Cp, Cpk (within-subgroup sigma) and Pp,
//! Ppk (overall sigma), each with a confidence interval and the sample size behind it.
//!
//! - Cp = (USL − LSL) / 6σ, Cpk = min(USL − μ, μ − LSL) / 3σ (one-sided when only one limit
//!   is given; Cp needs both). Pp and Ppk are the same with the overall sample standard
//!   deviation.
//! - Intervals (two-sided, `confidence`, default 95 %): for Cp/Pp the exact chi-square interval
//!   `index · sqrt(χ²(α/2; ν)/ν)` to `index · sqrt(χ²(1−α/2; ν)/ν)`; for Cpk/Ppk Bissell's
//!   (1990) normal approximation `index ± z · sqrt(1/(9N) + index²/(2ν))`. For the overall
//!   sigma ν = N − 1. For the within sigma ν = k(n − 1) for k subgroups of n (the degrees of
//!   freedom of the pooled estimate; R̄/d2 and S̄/c4 have slightly fewer, so those intervals are
//!   a little narrow) and N − 1 for individuals (the moving-range estimate has about 0.62(N − 1)
//!   effective degrees of freedom; the interval shown is the usual approximation).
//! - Expected nonconforming parts per million under normality, and the observed count.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::charts::Baseline;
use super::stats::{chi2_quantile, normal_cdf, normal_quantile};
use super::{InvalidData, Result};

/// Specification limits of a characteristic (at least one of `lsl`, `usl`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpecLimits {
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
    /// Target (nominal) value, shown for reference.
    pub target: Option<f64>,
}

/// A capability index with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Index {
    /// The estimate.
    pub value: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
}

/// Capability of a characteristic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Capability {
    /// The limits assessed against.
    pub spec: SpecLimits,
    /// Values used.
    pub n: usize,
    /// Subgroups they came in (equal to `n` for individuals).
    pub subgroups: usize,
    /// Degrees of freedom behind the within-subgroup sigma.
    pub within_df: f64,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Mean of all values.
    pub mean: f64,
    /// Within-subgroup sigma (from the chart baseline).
    pub sigma_within: f64,
    /// Overall sample standard deviation.
    pub sigma_overall: f64,
    /// Potential capability (both limits needed).
    pub cp: Option<Index>,
    /// Capability with the process centring.
    pub cpk: Option<Index>,
    /// Potential performance (both limits needed).
    pub pp: Option<Index>,
    /// Performance with the process centring.
    pub ppk: Option<Index>,
    /// Expected parts per million outside the limits, with the within sigma.
    pub expected_ppm_within: f64,
    /// Expected parts per million outside the limits, with the overall sigma.
    pub expected_ppm_overall: f64,
    /// Observed parts per million outside the limits.
    pub observed_ppm: f64,
}

/// Capability of `values` (all of them, in subgroups of `subgroup_size` as charted; 1 for
/// individuals) against `spec`, with the within sigma of `baseline`.
pub fn capability(
    values: &[f64],
    subgroup_size: usize,
    sigma_within: f64,
    spec: SpecLimits,
    confidence: f64,
) -> Result<Capability> {
    if spec.lsl.is_none() && spec.usl.is_none() {
        return Err(InvalidData::new(
            "spec",
            "needs a lower or an upper specification limit",
        ));
    }
    if let (Some(l), Some(u)) = (spec.lsl, spec.usl) {
        if l >= u {
            return Err(InvalidData::new("spec.usl", "must be above spec.lsl"));
        }
    }
    for (name, v) in [
        ("spec.lsl", spec.lsl),
        ("spec.usl", spec.usl),
        ("spec.target", spec.target),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(InvalidData::new(name, "must be a finite number"));
        }
    }
    if !(0.5..1.0).contains(&confidence) {
        return Err(InvalidData::new("confidence", "must be within [0.5, 1)"));
    }
    if values.len() < 2 {
        return Err(InvalidData::new("values", "needs at least 2 values"));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(InvalidData::new(
            format!("values[{i}]"),
            "must be a finite number",
        ));
    }
    if !(sigma_within.is_finite() && sigma_within > 0.0) {
        return Err(InvalidData::new(
            "sigma_within",
            "must be a positive number",
        ));
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let sigma_overall = super::charts::sample_sd(values);
    let subgroups = if subgroup_size <= 1 {
        n
    } else {
        n / subgroup_size
    };
    let within_df = if subgroup_size <= 1 {
        (n - 1) as f64
    } else {
        (subgroups * (subgroup_size - 1)) as f64
    };
    let overall_df = (n - 1) as f64;
    let alpha = 1.0 - confidence;
    let z = normal_quantile(1.0 - alpha / 2.0);

    let spread_index = |sigma: f64, df: f64| -> Option<Index> {
        let (l, u) = (spec.lsl?, spec.usl?);
        let value = (u - l) / (6.0 * sigma);
        Some(Index {
            value,
            lower: value * (chi2_quantile(alpha / 2.0, df) / df).sqrt(),
            upper: value * (chi2_quantile(1.0 - alpha / 2.0, df) / df).sqrt(),
        })
    };
    let centred_index = |sigma: f64, df: f64| -> Option<Index> {
        let upper = spec.usl.map(|u| (u - mean) / (3.0 * sigma));
        let lower = spec.lsl.map(|l| (mean - l) / (3.0 * sigma));
        let value = match (lower, upper) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let half = z * (1.0 / (9.0 * (df + 1.0)) + value * value / (2.0 * df)).sqrt();
        Some(Index {
            value,
            lower: value - half,
            upper: value + half,
        })
    };
    let ppm = |sigma: f64| {
        let below = spec.lsl.map_or(0.0, |l| normal_cdf((l - mean) / sigma));
        let above = spec.usl.map_or(0.0, |u| normal_cdf((mean - u) / sigma));
        (below + above) * 1e6
    };
    let outside = values
        .iter()
        .filter(|&&v| spec.lsl.is_some_and(|l| v < l) || spec.usl.is_some_and(|u| v > u))
        .count();
    Ok(Capability {
        spec,
        n,
        subgroups,
        within_df,
        confidence,
        mean,
        sigma_within,
        sigma_overall,
        cp: spread_index(sigma_within, within_df),
        cpk: centred_index(sigma_within, within_df),
        pp: spread_index(sigma_overall, overall_df),
        ppk: centred_index(sigma_overall, overall_df),
        expected_ppm_within: ppm(sigma_within),
        expected_ppm_overall: ppm(sigma_overall),
        observed_ppm: outside as f64 / n as f64 * 1e6,
    })
}

/// Capability with the within sigma of a chart baseline.
pub fn capability_from_baseline(
    values: &[f64],
    baseline: &Baseline,
    spec: SpecLimits,
    confidence: f64,
) -> Result<Capability> {
    capability(
        values,
        baseline.subgroup_size,
        baseline.sigma_within,
        spec,
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: values 9, 10, 11, 10, 10 (mean 10, sample sd sqrt(0.5)), within sigma
    /// 0.5, spec 7..14: Cp = 7/3 = 2.3333, Cpk = min(4, 3)/1.5 = 2, Pp = 7/(6 √0.5) = 1.6499,
    /// Ppk = 3/(3 √0.5) = 1.4142.
    #[test]
    fn indices_by_hand() {
        let spec = SpecLimits {
            lsl: Some(7.0),
            usl: Some(14.0),
            target: None,
        };
        let c = capability(&[9.0, 10.0, 11.0, 10.0, 10.0], 1, 0.5, spec, 0.95).unwrap();
        assert!((c.cp.unwrap().value - 7.0 / 3.0).abs() < 1e-12);
        assert!((c.cpk.unwrap().value - 2.0).abs() < 1e-12);
        assert!((c.pp.unwrap().value - 7.0 / (6.0 * 0.5f64.sqrt())).abs() < 1e-12);
        assert!((c.ppk.unwrap().value - 3.0 / (3.0 * 0.5f64.sqrt())).abs() < 1e-12);
        // Cp interval with ν = 4: χ²(0.025; 4) = 0.484419, χ²(0.975; 4) = 11.143287.
        let cp = c.cp.unwrap();
        assert!((cp.lower - 7.0 / 3.0 * (0.484_418_7f64 / 4.0).sqrt()).abs() < 1e-6);
        assert!((cp.upper - 7.0 / 3.0 * (11.143_286_8f64 / 4.0).sqrt()).abs() < 1e-6);
        assert_eq!(c.observed_ppm, 0.0);
    }

    #[test]
    fn one_sided_limits_give_cpk_only() {
        let spec = SpecLimits {
            lsl: None,
            usl: Some(13.0),
            target: None,
        };
        let c = capability(&[9.0, 10.0, 11.0, 10.0, 14.0], 1, 1.0, spec, 0.95).unwrap();
        assert!(c.cp.is_none() && c.pp.is_none());
        assert!((c.cpk.unwrap().value - (13.0 - 10.8) / 3.0).abs() < 1e-12);
        assert_eq!(c.observed_ppm, 200_000.0);
    }

    #[test]
    fn bad_limits_name_the_field() {
        let spec = SpecLimits {
            lsl: Some(5.0),
            usl: Some(4.0),
            target: None,
        };
        assert_eq!(
            capability(&[1.0, 2.0], 1, 1.0, spec, 0.95)
                .unwrap_err()
                .field,
            "spec.usl"
        );
        let none = SpecLimits {
            lsl: None,
            usl: None,
            target: None,
        };
        assert_eq!(
            capability(&[1.0, 2.0], 1, 1.0, none, 0.95)
                .unwrap_err()
                .field,
            "spec"
        );
    }
}
