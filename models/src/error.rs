//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, fitting or evaluating a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("cannot parse CSV {path}: {source}")]
    Csv {
        /// The file that failed.
        path: PathBuf,
        /// The underlying CSV error.
        source: csv::Error,
    },
    /// A line of a data file does not have the expected shape or values.
    #[error("{path}, line {line}: {message}")]
    Parse {
        /// The file that failed.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The caller passed data a model cannot use (empty, mismatched shapes, unknown subset).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// `predict` or `transform` was called before `fit`.
    #[error("the model has not been fitted")]
    NotFitted,
    /// The underlying learning library failed while fitting or predicting.
    #[error("model fitting failed: {0}")]
    Fit(String),
}

impl From<linfa::Error> for Error {
    fn from(e: linfa::Error) -> Self {
        Error::Fit(e.to_string())
    }
}

impl From<linfa_clustering::KMeansError> for Error {
    fn from(e: linfa_clustering::KMeansError) -> Self {
        Error::Fit(e.to_string())
    }
}

impl From<smartcore::error::Failed> for Error {
    fn from(e: smartcore::error::Failed) -> Self {
        Error::Fit(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
