//! Binary logistic regression (linfa-logistic) returning the probability of the positive class.
//!
//! linfa-logistic labels the *more frequent* class as its positive class, so the wrapper reads
//! the fitted labels and turns the output into the probability of `true` (a defect) whatever
//! the class balance. It takes no sample weights; rare classes are handled by the threshold,
//! which callers choose on training data.

use linfa::prelude::*;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, ArrayView1, ArrayView2};

use super::check_xy;
use crate::error::{Error, Result};

/// Settings of [`Logistic`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    /// L2 penalty on the coefficients (linfa's `alpha`; the loss is summed over rows, so a
    /// larger training set needs a larger penalty for the same shrinkage).
    pub alpha: f64,
    /// Iterations of the L-BFGS solver.
    pub max_iterations: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            max_iterations: 200,
        }
    }
}

/// A fitted binary logistic regression.
#[derive(Debug, Clone)]
pub struct Logistic {
    model: FittedLogisticRegression<f64, bool>,
}

impl Logistic {
    /// Fits on rows `x` (standardise them first) and 0/1 targets `y`.
    pub fn fit(
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        params: &LogisticParams,
    ) -> Result<Self> {
        check_xy(x, y)?;
        let labels: Array1<bool> = y.iter().map(|&v| v >= 0.5).collect();
        if labels.iter().all(|&b| b) || !labels.iter().any(|&b| b) {
            return Err(Error::InvalidInput(
                "logistic regression needs both classes in its training rows".into(),
            ));
        }
        let data = DatasetBase::new(x.to_owned(), labels);
        let model = LogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(params.max_iterations)
            .fit(&data)
            .map_err(|e| Error::Fit(e.to_string()))?;
        Ok(Logistic { model })
    }

    /// Probability of the positive class (`true`) for each row.
    pub fn probabilities(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let p = self.model.predict_probabilities(&x);
        if self.model.labels().pos.class {
            p
        } else {
            p.mapv(|v| 1.0 - v)
        }
    }

    /// Coefficient of each input column (for the positive class).
    pub fn coefficients(&self) -> Array1<f64> {
        let c = self.model.params().to_owned();
        if self.model.labels().pos.class {
            c
        } else {
            -c
        }
    }
}
