//! What a model version stores, and the fitted model it stands for.
//!
//! The tree ensembles come from smartcore, whose models serialize only with its `serde`
//! feature (which pulls `typetag` and a rebuild of the whole learning stack). The models are
//! deterministic instead (every random choice is seeded, see `millwright_models`), so a version
//! stores its recipe: feature layout, the normaliser fitted on training rows, model parameters
//! and the normalised training rows (as `f32`, the precision the model was fitted on) with
//! their targets. Loading refits the same model exactly; the scorer does it once per version.
//!
//! Layout of the bytes: `u32` length of a JSON header, the header, then `rows × n_features`
//! little-endian `f32` features, then `rows` little-endian `f64` targets.

use millwright_models::normalise::Normaliser;
use millwright_models::{
    AnomalyParams, FailureClassifier, FailureParams, KMeansAnomaly, Model, RulForest, RulParams,
};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::dataset::FeatureSpec;
use crate::error::{Error, Result};
use crate::store::models::ModelKind;

/// Format written by this build.
const FORMAT: u32 = 1;

/// Everything but the training rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Layout version of the bytes.
    pub format: u32,
    /// What the model predicts.
    pub kind: ModelKind,
    /// Channel (tag-name suffix) of each input column.
    pub channels: Vec<String>,
    /// Steps per window.
    pub window: usize,
    /// Seconds per step.
    pub step_secs: f64,
    /// Whether time since maintenance is a feature.
    pub time_since_maintenance: bool,
    /// Normaliser mean per feature.
    pub mean: Vec<f64>,
    /// Normaliser standard deviation per feature.
    pub std: Vec<f64>,
    /// Trees (failure, RUL).
    pub trees: usize,
    /// Clusters (anomaly).
    pub clusters: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// RUL cap in hours.
    pub rul_cap_hours: f64,
    /// Alarm threshold chosen by the user: probability, anomaly score, or RUL hours below
    /// which to alarm; `None` keeps the model's calibrated threshold.
    pub alarm_threshold: Option<f64>,
    /// Training rows stored.
    pub rows: usize,
    /// Features per row.
    pub n_features: usize,
}

impl Header {
    /// The feature layout.
    pub fn spec(&self) -> FeatureSpec {
        FeatureSpec {
            window: self.window,
            step_secs: self.step_secs,
            time_since_maintenance: self.time_since_maintenance,
        }
    }
}

/// The fitted model of each kind.
enum Learner {
    Anomaly(KMeansAnomaly),
    Failure(FailureClassifier),
    Rul(RulForest),
}

/// A fitted model with its normaliser and alarm threshold.
pub struct Fitted {
    /// How it was made.
    pub header: Header,
    normaliser: Normaliser,
    model: Learner,
    /// The alarm threshold in force.
    pub threshold: f64,
}

impl std::fmt::Debug for Fitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fitted")
            .field("kind", &self.header.kind)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// Rounds to the stored precision, so a refit sees exactly what the first fit saw.
pub fn round_f32(x: &mut Array2<f64>) {
    x.mapv_inplace(|v| f64::from(v as f32));
}

impl Fitted {
    /// Fits a model on normalised rows `x` (already rounded with [`round_f32`]) and targets.
    pub fn fit(header: Header, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Fitted> {
        let mean = Array2::from_shape_vec((1, header.mean.len()), header.mean.clone());
        let std = Array2::from_shape_vec((1, header.std.len()), header.std.clone());
        let (Ok(mean), Ok(std)) = (mean, std) else {
            return Err(Error::Artifact("normaliser shape".into()));
        };
        let normaliser = Normaliser::from_parts(mean, std).map_err(Error::model("normaliser"))?;
        let context = format!("fitting a {} model", header.kind.as_str());
        let (model, calibrated) = match header.kind {
            ModelKind::Anomaly => {
                let mut m = KMeansAnomaly::new(AnomalyParams {
                    clusters: header.clusters.min(x.nrows()).max(1),
                    quantile: 0.995,
                    seed: header.seed,
                });
                m.fit(x, Array1::zeros(0).view())
                    .map_err(Error::model(context))?;
                let t = m.threshold();
                (Learner::Anomaly(m), t)
            }
            ModelKind::Failure => {
                let mut m = FailureClassifier::new(FailureParams {
                    trees: header.trees,
                    min_leaf: 5,
                    feature_proportion: 0.5,
                    calibration_folds: 3,
                    seed: header.seed,
                    ..FailureParams::default()
                });
                m.fit(x, ArrayView1::from(y))
                    .map_err(Error::model(context))?;
                let t = m.threshold();
                (Learner::Failure(m), t)
            }
            ModelKind::Defect => {
                return Err(Error::Artifact(
                    "a defect model is stored as a quality::defect_artifact recipe".into(),
                ))
            }
            ModelKind::Rul => {
                let mut m = RulForest::new(RulParams {
                    trees: header.trees,
                    cap: header.rul_cap_hours,
                    seed: header.seed,
                    ..RulParams::default()
                });
                m.fit(x, ArrayView1::from(y))
                    .map_err(Error::model(context))?;
                (Learner::Rul(m), None)
            }
        };
        let threshold = header
            .alarm_threshold
            .or(calibrated)
            .unwrap_or(header.rul_cap_hours / 4.0);
        Ok(Fitted {
            header,
            normaliser,
            model,
            threshold,
        })
    }

    /// Normalises raw feature rows with the training statistics.
    pub fn normalise(&self, raw: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let mut x = self
            .normaliser
            .transform(raw, &vec![0; raw.nrows()])
            .map_err(Error::model("normalising features"))?;
        round_f32(&mut x);
        Ok(x)
    }

    /// Outputs for normalised rows.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        match &self.model {
            Learner::Anomaly(m) => m.predict(x),
            Learner::Failure(m) => m.predict(x),
            Learner::Rul(m) => m.predict(x),
        }
        .map_err(Error::model("predicting"))
    }

    /// Whether an output calls for an alarm.
    pub fn alarming(&self, output: f64) -> bool {
        match self.header.kind {
            ModelKind::Rul => output < self.threshold,
            ModelKind::Failure | ModelKind::Defect => output >= self.threshold,
            ModelKind::Anomaly => output > self.threshold,
        }
    }

    /// Serializes the recipe: header, normalised training rows and targets.
    pub fn encode(header: &Header, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(header).map_err(|e| Error::Artifact(e.to_string()))?;
        let mut out = Vec::with_capacity(4 + json.len() + x.len() * 4 + y.len() * 8);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for v in x.iter() {
            out.extend_from_slice(&(*v as f32).to_le_bytes());
        }
        for v in y {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// Reads a recipe back and refits the model it describes.
    pub fn decode(bytes: &[u8]) -> Result<Fitted> {
        let bad = |what: &str| Error::Artifact(what.to_string());
        let len = bytes
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated header length"))?;
        let json = bytes
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated header"))?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| Error::Artifact(e.to_string()))?;
        if header.format != FORMAT {
            return Err(bad("unknown format"));
        }
        let (rows, cols) = (header.rows, header.n_features);
        let body = &bytes[4 + len..];
        if body.len() != rows * cols * 4 + rows * 8 {
            return Err(bad("training rows do not match the header"));
        }
        let (xb, yb) = body.split_at(rows * cols * 4);
        let x: Vec<f64> = xb
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let y: Vec<f64> = yb
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let x = Array2::from_shape_vec((rows, cols), x).map_err(|e| bad(&e.to_string()))?;
        let y = match header.kind {
            ModelKind::Anomaly => Vec::new(),
            _ => y,
        };
        Fitted::fit(header, x.view(), &y)
    }
}
