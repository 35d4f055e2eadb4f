//! The AI4I 2020 predictive-maintenance CSV.
//!
//! Only the product type, the five readings and `Machine failure` are read: the failure-mode
//! columns (TWF, HDF, PWF, OSF, RNF) define the label and the identifiers (UDI, Product ID) carry
//! no physics, so they are never loaded and cannot leak into features.

use std::path::Path;

use ndarray::{Array1, Array2};

use crate::error::{Error, Result};

/// One machine reading with its label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ai4iRow {
    /// Product quality variant: 0 = L, 1 = M, 2 = H.
    pub quality: u8,
    /// Air temperature in K.
    pub air_temperature: f64,
    /// Process temperature in K.
    pub process_temperature: f64,
    /// Rotational speed in rpm.
    pub rotational_speed: f64,
    /// Torque in Nm.
    pub torque: f64,
    /// Tool wear in minutes.
    pub tool_wear: f64,
    /// The label: whether the machine failed.
    pub failure: bool,
}

/// Names of the columns of [`features`], in order.
pub const FEATURE_NAMES: [&str; 9] = [
    "quality",
    "air_temperature",
    "process_temperature",
    "rotational_speed",
    "torque",
    "tool_wear",
    "power_w",
    "temperature_difference",
    "wear_torque",
];

/// Reads the AI4I 2020 CSV (with its header line).
pub fn load(path: &Path) -> Result<Vec<Ai4iRow>> {
    let csv_err = |source| Error::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
    let headers = reader.headers().map_err(csv_err)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| Error::Parse {
                path: path.to_path_buf(),
                line: 1,
                message: format!("missing column {name:?}"),
            })
    };
    let type_col = column("Type")?;
    let numeric = [
        column("Air temperature [K]")?,
        column("Process temperature [K]")?,
        column("Rotational speed [rpm]")?,
        column("Torque [Nm]")?,
        column("Tool wear [min]")?,
        column("Machine failure")?,
    ];
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let line = i + 2;
        let bad = |message: String| Error::Parse {
            path: path.to_path_buf(),
            line,
            message,
        };
        let quality = match record.get(type_col) {
            Some("L") => 0,
            Some("M") => 1,
            Some("H") => 2,
            other => return Err(bad(format!("unknown Type {other:?}"))),
        };
        let mut v = [0.0; 6];
        for (slot, &col) in v.iter_mut().zip(&numeric) {
            let s = record.get(col).unwrap_or_default();
            *slot = s
                .trim()
                .parse()
                .map_err(|_| bad(format!("not a number: {s:?}")))?;
        }
        rows.push(Ai4iRow {
            quality,
            air_temperature: v[0],
            process_temperature: v[1],
            rotational_speed: v[2],
            torque: v[3],
            tool_wear: v[4],
            failure: v[5] != 0.0,
        });
    }
    Ok(rows)
}

/// Feature matrix (columns as in [`FEATURE_NAMES`]): the readings plus three physics features,
/// mechanical power (torque x angular speed, W), process minus air temperature (K) and tool wear
/// x torque (min Nm).
pub fn features(rows: &[Ai4iRow]) -> Array2<f64> {
    let mut x = Array2::zeros((rows.len(), FEATURE_NAMES.len()));
    for (mut out, r) in x.rows_mut().into_iter().zip(rows) {
        let omega = r.rotational_speed * std::f64::consts::TAU / 60.0;
        let values = [
            f64::from(r.quality),
            r.air_temperature,
            r.process_temperature,
            r.rotational_speed,
            r.torque,
            r.tool_wear,
            r.torque * omega,
            r.process_temperature - r.air_temperature,
            r.tool_wear * r.torque,
        ];
        out.assign(&Array1::from(values.to_vec()));
    }
    x
}

/// Labels as booleans, in row order.
pub fn labels(rows: &[Ai4iRow]) -> Vec<bool> {
    rows.iter().map(|r| r.failure).collect()
}
