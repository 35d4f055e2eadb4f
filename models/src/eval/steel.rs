//! Steel Plates Faults evaluation: the fault type of a plate (7 classes) from 27 process and
//! inspection features, on a stratified 70/30 hold-out with a fixed seed; accuracy and macro F1.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use tracing::info;

use super::resources::{peak_memory_bytes, Resources};
use crate::data::steel::{SteelPlates, CLASSES};
use crate::error::{Error, Result};
use crate::model::{BoostingParams, GradientBoosting};
use crate::split::stratified_split_classes;

/// The classifier of a Steel Plates evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum SteelModel {
    /// smartcore random forest.
    Forest,
    /// Gradient-boosted trees ([`GradientBoosting`]).
    Boosting(BoostingParams),
}

/// Settings of a Steel Plates evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SteelOptions {
    /// The classifier.
    pub model: SteelModel,
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the hold-out split.
    pub split_seed: u64,
    /// Trees of the random forest.
    pub trees: u16,
    /// Features tried at each split (`None`: the square root of the feature count).
    pub features_per_split: Option<usize>,
    /// Minimum plates in a leaf.
    pub min_leaf: usize,
    /// Add derived geometry features (width, height, aspect, luminosity range and mean).
    pub derived_features: bool,
    /// Seed of the forest.
    pub seed: u64,
}

impl Default for SteelOptions {
    fn default() -> Self {
        SteelOptions {
            model: SteelModel::Boosting(BoostingParams::default()),
            test_fraction: 0.3,
            split_seed: 42,
            trees: 500,
            features_per_split: None,
            min_leaf: 1,
            derived_features: true,
            seed: 7,
        }
    }
}

/// Result of a Steel Plates evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SteelReport {
    /// Training plates.
    pub train_rows: usize,
    /// Hold-out plates.
    pub test_rows: usize,
    /// Features per plate given to the model.
    pub n_features: usize,
    /// Description of the model.
    pub model: String,
    /// Hold-out confusion matrix: `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Hold-out accuracy.
    pub accuracy: f64,
    /// Hold-out mean of the per-class F1.
    pub macro_f1: f64,
    /// Predicted class per hold-out plate.
    pub predictions: Vec<usize>,
    /// Training time and peak memory.
    pub resources: Resources,
}

impl fmt::Display for SteelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Steel Plates: trained on {} plates, held out {} (stratified, 7 fault types), {} features",
            self.train_rows, self.test_rows, self.n_features
        )?;
        writeln!(f, "model: {}", self.model)?;
        let per_class: Vec<String> = CLASSES
            .iter()
            .enumerate()
            .map(|(k, name)| format!("{name}={:.2}", class_f1(&self.confusion, k)))
            .collect();
        writeln!(f, "f1 per class: {}", per_class.join(" "))?;
        writeln!(f, "{}", self.resources)?;
        write!(
            f,
            "accuracy={:.4} macro_f1={:.4}",
            self.accuracy, self.macro_f1
        )
    }
}

/// Loads the Steel Plates CSV at `path` and evaluates it.
pub fn eval_steel_plates(path: &Path, options: &SteelOptions) -> Result<SteelReport> {
    info!(path = %path.display(), "Loading Steel Plates Faults.");
    let data = SteelPlates::load(path)?;
    eval_steel_plates_rows(&data, options)
}

/// Evaluates already loaded (possibly reduced) plates.
pub fn eval_steel_plates_rows(data: &SteelPlates, options: &SteelOptions) -> Result<SteelReport> {
    if !(0.0..1.0).contains(&options.test_fraction) || options.test_fraction == 0.0 {
        return Err(Error::InvalidInput(
            "test_fraction must be within (0, 1)".into(),
        ));
    }
    let x = if options.derived_features {
        with_derived_features(data.x.view())
    } else {
        data.x.clone()
    };
    let (train, test) =
        stratified_split_classes(&data.class, options.test_fraction, options.split_seed);
    let labels = |idx: &[usize]| {
        idx.iter()
            .map(|&i| data.class[i] as u32)
            .collect::<Vec<u32>>()
    };
    let m = options
        .features_per_split
        .unwrap_or_else(|| (x.ncols() as f64).sqrt().floor() as usize)
        .clamp(1, x.ncols());

    let started = Instant::now();
    let (predicted, training_time, description): (Vec<u32>, _, String) = match &options.model {
        SteelModel::Forest => {
            info!(
                rows = train.len(),
                trees = options.trees,
                "Fitting the random forest."
            );
            let params = RandomForestClassifierParameters::default()
                .with_n_trees(options.trees)
                .with_m(m)
                .with_min_samples_leaf(options.min_leaf)
                .with_min_samples_split(2 * options.min_leaf)
                .with_seed(options.seed);
            let forest = RandomForestClassifier::fit(
                &matrix(x.select(Axis(0), &train).view())?,
                &labels(&train),
                params,
            )?;
            let training_time = started.elapsed();
            (
                forest.predict(&matrix(x.select(Axis(0), &test).view())?)?,
                training_time,
                format!(
                    "smartcore random forest, {} trees, {m} features per split, min leaf {}, seed {}",
                    options.trees, options.min_leaf, options.seed
                ),
            )
        }
        SteelModel::Boosting(p) => {
            info!(
                rows = train.len(),
                rounds = p.rounds,
                "Fitting gradient-boosted trees."
            );
            let y: Vec<usize> = train.iter().map(|&i| data.class[i]).collect();
            let model = GradientBoosting::fit(x.select(Axis(0), &train).view(), &y, p)?;
            let training_time = started.elapsed();
            (
                model
                    .predict(x.select(Axis(0), &test).view())?
                    .into_iter()
                    .map(|c| c as u32)
                    .collect(),
                training_time,
                format!(
                    "gradient-boosted trees (histogram, softmax), {} rounds, learning rate {}, depth {}, min leaf {}, lambda {}, {} bins, row share {}, feature share {}, seed {}",
                    p.rounds, p.learning_rate, p.max_depth, p.min_leaf, p.lambda, p.bins, p.row_sample, p.feature_sample, p.seed
                ),
            )
        }
    };

    let k = CLASSES.len();
    let mut confusion = vec![vec![0; k]; k];
    for (&i, &p) in test.iter().zip(&predicted) {
        confusion[data.class[i]][p as usize] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    Ok(SteelReport {
        train_rows: train.len(),
        test_rows: test.len(),
        n_features: x.ncols(),
        model: format!(
            "{description}; split seed {}{}",
            options.split_seed,
            if options.derived_features {
                "; with derived geometry and luminosity features"
            } else {
                ""
            }
        ),
        accuracy: correct as f64 / test.len().max(1) as f64,
        macro_f1: (0..k).map(|c| class_f1(&confusion, c)).sum::<f64>() / k as f64,
        confusion,
        predictions: predicted.into_iter().map(|p| p as usize).collect(),
        resources: Resources {
            training_time,
            peak_memory_bytes: peak_memory_bytes(),
        },
    })
}

/// F1 of class `c` from a confusion matrix (`confusion[truth][predicted]`).
fn class_f1(confusion: &[Vec<usize>], c: usize) -> f64 {
    let tp = confusion[c][c] as f64;
    let predicted: usize = confusion.iter().map(|row| row[c]).sum();
    let actual: usize = confusion[c].iter().sum();
    if predicted + actual == 0 {
        0.0
    } else {
        2.0 * tp / (predicted + actual) as f64
    }
}

/// The 27 columns plus plate width and height (from the X and Y extents), their ratio, the
/// luminosity range and the mean luminosity per pixel: quantities the indices only imply.
fn with_derived_features(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let extra = 5;
    let mut out = Array2::zeros((x.nrows(), x.ncols() + extra));
    for (i, row) in x.rows().into_iter().enumerate() {
        let width = row[1] - row[0];
        let height = row[3] - row[2];
        let pixels = row[4].max(1.0);
        let derived = [
            width,
            height,
            width / height.max(1.0),
            row[9] - row[8],
            row[7] / pixels,
        ];
        for (j, v) in row.iter().chain(derived.iter()).enumerate() {
            out[[i, j]] = *v;
        }
    }
    out
}

fn matrix(x: ArrayView2<'_, f64>) -> Result<DenseMatrix<f64>> {
    let values: Vec<f64> = x.iter().copied().collect();
    Ok(DenseMatrix::new(x.nrows(), x.ncols(), values, false)?)
}
