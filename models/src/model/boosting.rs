//! Gradient-boosted trees for classification (two or more classes), on binned features.
//!
//! Neither library has this model: linfa has no boosting, and smartcore 0.7's only boosted
//! trees (`XGRegressor`) are a squared-error regressor that re-sorts every feature at every
//! node. This is the histogram method of LightGBM and scikit-learn's
//! `HistGradientBoostingClassifier`, kept small: features cut into at most `bins` quantile
//! bins on the training rows; each round fits one regression tree per class to the softmax
//! gradients (second-order leaf values −G/(H + λ), shrunk by the learning rate), growing
//! depth-first to `max_depth` with split gain G_L²/(H_L + λ) + G_R²/(H_R + λ) − G²/(H + λ).
//! Rows and features are subsampled per round with a seeded generator, so fits are
//! reproducible.

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// Settings of [`GradientBoosting`].
#[derive(Debug, Clone, PartialEq)]
pub struct BoostingParams {
    /// Boosting rounds (one tree per class each).
    pub rounds: usize,
    /// Shrinkage of each tree's output.
    pub learning_rate: f64,
    /// Maximum depth of each tree.
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Bins per feature (at most 256).
    pub bins: usize,
    /// Share of the rows each round sees.
    pub row_sample: f64,
    /// Share of the features each tree may split on.
    pub feature_sample: f64,
    /// Seed of the subsampling.
    pub seed: u64,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            rounds: 300,
            learning_rate: 0.05,
            max_depth: 6,
            min_leaf: 5,
            lambda: 1.0,
            bins: 64,
            row_sample: 0.8,
            feature_sample: 0.8,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Split {
        feature: usize,
        /// Rows with bin ≤ this go left.
        bin: u8,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn value(&self, row: &[u8]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split {
                    feature,
                    bin,
                    left,
                    right,
                } => i = if row[feature] <= bin { left } else { right },
            }
        }
    }
}

/// A fitted gradient-boosted classifier over classes `0..n_classes`.
#[derive(Debug, Clone)]
pub struct GradientBoosting {
    edges: Vec<Vec<f64>>,
    base: Vec<f64>,
    /// `trees[round][class]`.
    trees: Vec<Vec<Tree>>,
    n_classes: usize,
}

/// Gradient and hessian sums of a set of rows.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
    n: usize,
}

struct Builder<'a> {
    bins: &'a [Vec<u8>],
    grad: &'a [f64],
    hess: &'a [f64],
    features: &'a [usize],
    params: &'a BoostingParams,
    n_bins: Vec<usize>,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn leaf(&self, s: Sums) -> Node {
        Node::Leaf(-s.g / (s.h + self.params.lambda) * self.params.learning_rate)
    }

    fn score(&self, s: Sums) -> f64 {
        s.g * s.g / (s.h + self.params.lambda)
    }

    /// Grows the subtree of `rows`; returns its node index.
    fn grow(&mut self, rows: Vec<usize>, depth: usize) -> usize {
        let total = rows.iter().fold(Sums::default(), |s, &i| Sums {
            g: s.g + self.grad[i],
            h: s.h + self.hess[i],
            n: s.n + 1,
        });
        let id = self.nodes.len();
        self.nodes.push(self.leaf(total));
        if depth >= self.params.max_depth || rows.len() < 2 * self.params.min_leaf {
            return id;
        }
        let parent = self.score(total);
        let mut best: Option<(f64, usize, u8)> = None;
        for &f in self.features {
            let mut hist = vec![Sums::default(); self.n_bins[f]];
            for &i in &rows {
                let b = &mut hist[self.bins[f][i] as usize];
                b.g += self.grad[i];
                b.h += self.hess[i];
                b.n += 1;
            }
            let mut left = Sums::default();
            for (b, h) in hist
                .iter()
                .enumerate()
                .take(self.n_bins[f].saturating_sub(1))
            {
                left.g += h.g;
                left.h += h.h;
                left.n += h.n;
                let right = Sums {
                    g: total.g - left.g,
                    h: total.h - left.h,
                    n: total.n - left.n,
                };
                if left.n < self.params.min_leaf || right.n < self.params.min_leaf {
                    continue;
                }
                let gain = self.score(left) + self.score(right) - parent;
                if gain > best.map_or(1e-12, |b| b.0) {
                    best = Some((gain, f, b as u8));
                }
            }
        }
        let Some((_, feature, bin)) = best else {
            return id;
        };
        let (l, r): (Vec<usize>, Vec<usize>) = rows
            .into_iter()
            .partition(|&i| self.bins[feature][i] <= bin);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.nodes[id] = Node::Split {
            feature,
            bin,
            left,
            right,
        };
        id
    }
}

impl GradientBoosting {
    /// Fits on rows `x` (finite values) with classes `y` in `0..n_classes`.
    pub fn fit(x: ArrayView2<'_, f64>, y: &[usize], params: &BoostingParams) -> Result<Self> {
        let (n, d) = x.dim();
        if n == 0 || n != y.len() || d == 0 {
            return Err(Error::InvalidInput(format!(
                "{n} rows, {d} columns, {} labels",
                y.len()
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(
                "gradient boosting needs finite values".into(),
            ));
        }
        let k = y.iter().max().map_or(0, |m| m + 1).max(2);
        let max_bins = params.bins.clamp(2, 256);
        let edges: Vec<Vec<f64>> = (0..d)
            .map(|j| {
                let mut v: Vec<f64> = x.column(j).to_vec();
                v.sort_by(f64::total_cmp);
                let mut e: Vec<f64> = (1..max_bins)
                    .map(|b| v[(b * n / max_bins).min(n - 1)])
                    .collect();
                e.dedup();
                e
            })
            .collect();
        let bins: Vec<Vec<u8>> = (0..d)
            .map(|j| x.column(j).iter().map(|&v| bin_of(&edges[j], v)).collect())
            .collect();
        let n_bins: Vec<usize> = edges.iter().map(|e| e.len() + 1).collect();

        // Start from the log class priors.
        let base: Vec<f64> = (0..k)
            .map(|c| {
                let count = y.iter().filter(|&&l| l == c).count() as f64;
                ((count + 1.0) / (n as f64 + k as f64)).ln()
            })
            .collect();
        let mut raw = vec![base.clone(); n];
        let mut rng = StdRng::seed_from_u64(params.seed);
        let n_features = ((d as f64 * params.feature_sample).ceil() as usize).clamp(1, d);
        let mut trees = Vec::with_capacity(params.rounds);
        let (mut grad, mut hess) = (vec![0.0; n], vec![0.0; n]);
        for _ in 0..params.rounds {
            let rows: Vec<usize> = (0..n)
                .filter(|_| params.row_sample >= 1.0 || rng.gen::<f64>() < params.row_sample)
                .collect();
            let probabilities: Vec<Vec<f64>> = raw.iter().map(|r| softmax(r)).collect();
            let mut round = Vec::with_capacity(k);
            for c in 0..k {
                for (i, p) in probabilities.iter().enumerate() {
                    let p = p[c];
                    grad[i] = p - f64::from(u8::from(y[i] == c));
                    hess[i] = (p * (1.0 - p)).max(1e-6);
                }
                let mut features = sample(&mut rng, d, n_features).into_vec();
                features.sort_unstable();
                let mut builder = Builder {
                    bins: &bins,
                    grad: &grad,
                    hess: &hess,
                    features: &features,
                    params,
                    n_bins: n_bins.clone(),
                    nodes: Vec::new(),
                };
                builder.grow(rows.clone(), 0);
                round.push(Tree {
                    nodes: builder.nodes,
                });
            }
            let mut row = vec![0u8; d];
            for (i, r) in raw.iter_mut().enumerate() {
                for (j, b) in row.iter_mut().enumerate() {
                    *b = bins[j][i];
                }
                for (c, tree) in round.iter().enumerate() {
                    r[c] += tree.value(&row);
                }
            }
            trees.push(round);
        }
        Ok(GradientBoosting {
            edges,
            base,
            trees,
            n_classes: k,
        })
    }

    /// Class probabilities, one row per row of `x`.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.edges.len() {
            return Err(Error::InvalidInput(format!(
                "fitted on {} columns, got {}",
                self.edges.len(),
                x.ncols()
            )));
        }
        let mut out = Array2::zeros((x.nrows(), self.n_classes));
        let mut row = vec![0u8; x.ncols()];
        for (i, r) in x.rows().into_iter().enumerate() {
            for (j, b) in row.iter_mut().enumerate() {
                *b = bin_of(&self.edges[j], r[j]);
            }
            let mut raw = self.base.clone();
            for round in &self.trees {
                for (c, tree) in round.iter().enumerate() {
                    raw[c] += tree.value(&row);
                }
            }
            for (c, p) in softmax(&raw).into_iter().enumerate() {
                out[[i, c]] = p;
            }
        }
        Ok(out)
    }

    /// The most probable class of each row.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        let p = self.predict_proba(x)?;
        Ok(p.rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (c, &v)| if v > b.1 { (c, v) } else { b },
                    )
                    .0
            })
            .collect())
    }
}

fn bin_of(edges: &[f64], v: f64) -> u8 {
    edges.partition_point(|&e| e < v) as u8
}

fn softmax(raw: &[f64]) -> Vec<f64> {
    let m = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = raw.iter().map(|r| (r - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_three_classes_from_thresholds() {
        let mut rng = StdRng::seed_from_u64(1);
        let x = Array2::from_shape_fn((600, 3), |_| rng.gen_range(0.0..1.0));
        let y: Vec<usize> = x
            .rows()
            .into_iter()
            .map(|r| {
                if r[0] < 0.3 {
                    0
                } else if r[2] > 0.5 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let params = BoostingParams {
            rounds: 50,
            learning_rate: 0.2,
            ..BoostingParams::default()
        };
        let model = GradientBoosting::fit(x.view(), &y, &params).unwrap();
        let correct = model
            .predict(x.view())
            .unwrap()
            .iter()
            .zip(&y)
            .filter(|(a, b)| a == b)
            .count();
        assert!(correct >= 590, "{correct}");
        let again = GradientBoosting::fit(x.view(), &y, &params).unwrap();
        assert_eq!(
            model.predict_proba(x.view()).unwrap(),
            again.predict_proba(x.view()).unwrap()
        );
    }
}
