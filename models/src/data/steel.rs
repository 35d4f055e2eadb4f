//! Steel Plates Faults (UCI, Semeion): 1,941 plates, 27 geometry, luminosity, steel and index
//! features, and the fault type one-hot in seven columns.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// The seven fault types, in the column order of the file (and class number order).
pub const CLASSES: [&str; 7] = [
    "Pastry",
    "Z_Scratch",
    "K_Scatch",
    "Stains",
    "Dirtiness",
    "Bumps",
    "Other_Faults",
];

/// Number of feature columns before the fault columns.
pub const N_FEATURES: usize = 27;

/// The plates: features, fault class and the feature names from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct SteelPlates {
    /// One row per plate, [`N_FEATURES`] columns.
    pub x: Array2<f64>,
    /// Fault class of each plate, an index into [`CLASSES`].
    pub class: Vec<usize>,
    /// Feature names, from the header.
    pub feature_names: Vec<String>,
}

impl SteelPlates {
    /// Reads the CSV (with its header line).
    pub fn load(path: &Path) -> Result<Self> {
        let csv_err = |source| Error::Csv {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
        let headers = reader.headers().map_err(csv_err)?.clone();
        if headers.len() != N_FEATURES + CLASSES.len() {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: 1,
                message: format!(
                    "{} columns, expected {}",
                    headers.len(),
                    N_FEATURES + CLASSES.len()
                ),
            });
        }
        for (i, name) in CLASSES.iter().enumerate() {
            let found = headers.get(N_FEATURES + i).unwrap_or_default();
            if !found.starts_with(name.trim_end_matches("_Faults")) {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!(
                        "column {} is {found:?}, expected {name:?}",
                        N_FEATURES + i + 1
                    ),
                });
            }
        }
        let feature_names = headers.iter().take(N_FEATURES).map(str::to_owned).collect();
        let (mut values, mut class) = (Vec::new(), Vec::new());
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_err)?;
            let bad = |message: String| Error::Parse {
                path: path.to_path_buf(),
                line: i + 2,
                message,
            };
            let mut row = Vec::with_capacity(record.len());
            for field in record.iter() {
                row.push(
                    field
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| bad(format!("not a number: {field:?}")))?,
                );
            }
            if row.len() != N_FEATURES + CLASSES.len() {
                return Err(bad(format!("{} values", row.len())));
            }
            let faults: Vec<usize> = (0..CLASSES.len())
                .filter(|&k| row[N_FEATURES + k] == 1.0)
                .collect();
            let [fault] = faults.as_slice() else {
                return Err(bad(format!(
                    "{} fault columns set, expected one",
                    faults.len()
                )));
            };
            class.push(*fault);
            values.extend_from_slice(&row[..N_FEATURES]);
        }
        let x = Array2::from_shape_vec((class.len(), N_FEATURES), values)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(SteelPlates {
            x,
            class,
            feature_names,
        })
    }
}
