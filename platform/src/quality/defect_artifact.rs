//! What a defect-model version stores, and the fitted model it stands for.
//!
//! The same recipe pattern as `maintenance::artifact`: smartcore's trees serialize only with
//! its `serde` feature, and the models are deterministic, so a version stores the header (the
//! parameter names and every setting) and the training units (raw parameter values, `NaN` for
//! missing, and the defect label). Loading refits exactly the same model; a scorer does it once
//! per version. The threshold is chosen on these training units only.
//!
//! Layout of the bytes: `u32` length of a JSON header, the header, then `rows × n_parameters`
//! little-endian `f64` values, then `rows` bytes of labels (0 good, 1 defective).

use millwright_models::tabular::{PreprocessOptions, Selection};
use millwright_models::{
    DefectAlgorithm, DefectModel, DefectParams, FailureParams, LogisticParams, Model, ThresholdRule,
};
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Format written by this build.
const FORMAT: u32 = 1;

/// Everything but the training units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DefectHeader {
    /// Layout version of the bytes.
    pub format: u32,
    /// Name of each process parameter (input column), e.g. a tag name.
    pub parameters: Vec<String>,
    /// `logistic`, `forest`, `blend` or `auto`.
    pub algorithm: String,
    /// Trees of the forest.
    pub trees: usize,
    /// L2 penalty of the logistic regression.
    pub alpha: f64,
    /// Keep only this many parameters, chosen on the training units (`None`: all).
    pub select: Option<usize>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Alarm threshold chosen by the user; `None` keeps the one chosen on training data.
    pub alarm_threshold: Option<f64>,
    /// Training units stored.
    pub rows: usize,
}

impl DefectHeader {
    /// The model settings this header describes.
    pub fn params(&self) -> Result<DefectParams> {
        let algorithm = DefectAlgorithm::parse(&self.algorithm)
            .ok_or_else(|| Error::Artifact(format!("unknown algorithm {:?}", self.algorithm)))?;
        Ok(DefectParams {
            algorithm,
            preprocess: PreprocessOptions {
                selection: self.select.map_or(Selection::All, Selection::TopAuc),
                ..PreprocessOptions::default()
            },
            logistic: LogisticParams {
                alpha: self.alpha,
                ..LogisticParams::default()
            },
            forest: FailureParams {
                trees: self.trees,
                min_leaf: 3,
                feature_proportion: 0.5,
                calibration_folds: 0,
                seed: self.seed,
                ..FailureParams::default()
            },
            threshold_rule: ThresholdRule::BalancedAccuracy,
            folds: 5,
            seed: self.seed,
        })
    }
}

/// A fitted defect model with the threshold in force.
pub struct FittedDefect {
    /// How it was made.
    pub header: DefectHeader,
    /// The model.
    pub model: DefectModel,
    /// The alarm threshold in force (the user's, or the one chosen on training data).
    pub threshold: f64,
}

impl std::fmt::Debug for FittedDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FittedDefect")
            .field("parameters", &self.header.parameters)
            .field("algorithm", &self.model.algorithm())
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl FittedDefect {
    /// Fits on training units `x` (one column per header parameter) and labels.
    pub fn fit(header: DefectHeader, x: ArrayView2<'_, f64>, defective: &[bool]) -> Result<Self> {
        if x.ncols() != header.parameters.len() || x.nrows() != defective.len() {
            return Err(Error::Artifact(format!(
                "{} × {} training values for {} parameters and {} labels",
                x.nrows(),
                x.ncols(),
                header.parameters.len(),
                defective.len()
            )));
        }
        let mut model = DefectModel::new(header.params()?);
        let y: Array1<f64> = defective.iter().map(|&d| f64::from(u8::from(d))).collect();
        model
            .fit(x, y.view())
            .map_err(Error::model("fitting a defect model"))?;
        let threshold = header
            .alarm_threshold
            .or(model.threshold())
            .ok_or_else(|| Error::Artifact("the model chose no threshold".into()))?;
        Ok(FittedDefect {
            header,
            model,
            threshold,
        })
    }

    /// Defect probability of each unit (rows of parameter values, `NaN` for missing).
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        self.model
            .predict(x)
            .map_err(Error::model("predicting defects"))
    }

    /// Whether a probability calls for an alarm.
    pub fn alarming(&self, probability: f64) -> bool {
        probability >= self.threshold
    }

    /// Serializes the recipe: header, training values and labels.
    pub fn encode(
        header: &DefectHeader,
        x: ArrayView2<'_, f64>,
        defective: &[bool],
    ) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(header).map_err(|e| Error::Artifact(e.to_string()))?;
        let mut out = Vec::with_capacity(4 + json.len() + x.len() * 8 + defective.len());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for v in x.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(defective.iter().map(|&d| u8::from(d)));
        Ok(out)
    }

    /// Reads a recipe back and refits the model it describes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |what: &str| Error::Artifact(what.to_string());
        let len = bytes
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated header length"))?;
        let json = bytes
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated header"))?;
        let header: DefectHeader =
            serde_json::from_slice(json).map_err(|e| Error::Artifact(e.to_string()))?;
        if header.format != FORMAT {
            return Err(bad("unknown format"));
        }
        let (rows, cols) = (header.rows, header.parameters.len());
        let body = &bytes[4 + len..];
        if body.len() != rows * cols * 8 + rows {
            return Err(bad("training units do not match the header"));
        }
        let (xb, yb) = body.split_at(rows * cols * 8);
        let x: Vec<f64> = xb
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let x = Array2::from_shape_vec((rows, cols), x).map_err(|e| bad(&e.to_string()))?;
        let labels: Vec<bool> = yb.iter().map(|&b| b != 0).collect();
        FittedDefect::fit(header, x.view(), &labels)
    }
}

/// A header with the defaults for `parameters` and `rows` training units.
pub fn default_header(parameters: Vec<String>, rows: usize) -> DefectHeader {
    DefectHeader {
        format: FORMAT,
        parameters,
        algorithm: DefectAlgorithm::Auto.as_str().into(),
        trees: 100,
        alpha: 1.0,
        select: None,
        seed: 42,
        alarm_threshold: None,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_recipe_refits_the_same_model() {
        // Defects when the second parameter passes 0.7.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x = Array2::from_shape_fn((300, 3), |_| rng.gen_range(0.0..1.0));
        let y: Vec<bool> = x.rows().into_iter().map(|r| r[1] > 0.7).collect();
        let header = default_header(vec!["a".into(), "b".into(), "c".into()], 300);
        let bytes = FittedDefect::encode(&header, x.view(), &y).unwrap();
        let first = FittedDefect::decode(&bytes).unwrap();
        let second = FittedDefect::decode(&bytes).unwrap();
        assert_eq!(first.threshold, second.threshold);
        let probe = Array2::from_shape_vec((2, 3), vec![0.5, 0.9, 0.5, 0.5, 0.1, 0.5]).unwrap();
        let p1 = first.predict(probe.view()).unwrap();
        assert_eq!(p1, second.predict(probe.view()).unwrap());
        assert!(
            first.alarming(p1[0]) && !first.alarming(p1[1]),
            "{p1:?} {}",
            first.threshold
        );
        assert!(FittedDefect::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
