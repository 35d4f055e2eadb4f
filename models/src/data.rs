//! Loaders for the public reference data sets (see `shared/data/README.md`).

pub mod ai4i;
pub mod cmapss;
pub mod secom;
pub mod steel;

use std::path::PathBuf;

/// Where the shared reference data lives: `$MILLWRIGHT_SHARED_DATA` if set, otherwise
/// `shared/data` beside the repository checkout (the layout every clone has).
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("MILLWRIGHT_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
    }
}
