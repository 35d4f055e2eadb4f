//! Anomaly score: distance to the nearest k-means centroid of normal operation.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use linfa_nn::distance::L2Dist;
use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{Model, ModelKind};
use crate::error::{Error, Result};

/// Settings of [`KMeansAnomaly`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyParams {
    /// Number of clusters of normal operation.
    pub clusters: usize,
    /// Quantile of the training scores used as alarm threshold (e.g. 0.99: about 1 % of normal
    /// training samples would alarm).
    pub quantile: f64,
    /// Seed of the k-means initialisation.
    pub seed: u64,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        AnomalyParams {
            clusters: 8,
            quantile: 0.99,
            seed: 0,
        }
    }
}

/// Unsupervised anomaly model: k-means (linfa-clustering) on normal-operation features; the
/// score is the Euclidean distance to the nearest centroid, and the threshold is a quantile of
/// the training scores. Feed it normalised features (see [`crate::normalise::Normaliser`]).
#[derive(Debug, Clone)]
pub struct KMeansAnomaly {
    params: AnomalyParams,
    fitted: Option<Fitted>,
}

#[derive(Debug, Clone)]
struct Fitted {
    model: KMeans<f64, L2Dist>,
    threshold: f64,
}

impl KMeansAnomaly {
    /// An unfitted model.
    pub fn new(params: AnomalyParams) -> Self {
        KMeansAnomaly {
            params,
            fitted: None,
        }
    }

    /// The calibrated alarm threshold, once fitted.
    pub fn threshold(&self) -> Option<f64> {
        self.fitted.as_ref().map(|f| f.threshold)
    }

    fn scores(model: &KMeans<f64, L2Dist>, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let centroids = model.centroids();
        x.axis_iter(Axis(0))
            .map(|row| {
                centroids
                    .axis_iter(Axis(0))
                    .map(|c| (&row - &c).mapv(|d| d * d).sum())
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .collect()
    }
}

impl Model for KMeansAnomaly {
    fn kind(&self) -> ModelKind {
        ModelKind::Anomaly
    }

    fn fit(&mut self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
        if !y.is_empty() {
            return Err(Error::InvalidInput(
                "anomaly models are unsupervised: pass an empty target".into(),
            ));
        }
        if x.nrows() < self.params.clusters.max(1) {
            return Err(Error::InvalidInput(format!(
                "{} rows for {} clusters",
                x.nrows(),
                self.params.clusters
            )));
        }
        if !(0.0..=1.0).contains(&self.params.quantile) {
            return Err(Error::InvalidInput("quantile must be within [0, 1]".into()));
        }
        let model = KMeans::params_with_rng(
            self.params.clusters,
            StdRng::seed_from_u64(self.params.seed),
        )
        .max_n_iterations(200)
        .fit(&DatasetBase::from(x.to_owned()))?;
        let mut scores = Self::scores(&model, x).to_vec();
        scores.sort_by(f64::total_cmp);
        let rank = ((scores.len() - 1) as f64 * self.params.quantile).round() as usize;
        let threshold = scores[rank];
        self.fitted = Some(Fitted { model, threshold });
        Ok(())
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let fitted = self.fitted.as_ref().ok_or(Error::NotFitted)?;
        Ok(Self::scores(&fitted.model, x))
    }

    fn alarm(&self, output: f64) -> Option<bool> {
        self.threshold().map(|t| output > t)
    }
}
