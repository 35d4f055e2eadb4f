//! NASA C-MAPSS turbofan run-to-failure files (`train_FDxxx.txt`, `test_FDxxx.txt`,
//! `RUL_FDxxx.txt`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Number of operational settings per cycle.
pub const N_SETTINGS: usize = 3;
/// Number of sensor channels per cycle.
pub const N_SENSORS: usize = 21;

/// The C-MAPSS subsets this crate evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// One operating condition, one fault mode; 100 train and 100 test engines.
    Fd001,
    /// Six operating conditions, one fault mode; 260 train and 259 test engines.
    Fd002,
}

impl Subset {
    /// The file-name tag, e.g. `FD001`.
    pub fn tag(self) -> &'static str {
        match self {
            Subset::Fd001 => "FD001",
            Subset::Fd002 => "FD002",
        }
    }

    /// Number of distinct operating conditions in the subset.
    pub fn n_conditions(self) -> usize {
        match self {
            Subset::Fd001 => 1,
            Subset::Fd002 => 6,
        }
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Subset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "FD001" => Ok(Subset::Fd001),
            "FD002" => Ok(Subset::Fd002),
            other => Err(Error::InvalidInput(format!(
                "unknown C-MAPSS subset {other:?} (expected FD001 or FD002)"
            ))),
        }
    }
}

/// One engine's series of cycles, in cycle order.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    /// Unit number as given in the file.
    pub unit: u32,
    /// Operational settings per cycle.
    pub settings: Vec<[f64; N_SETTINGS]>,
    /// Sensor readings per cycle.
    pub sensors: Vec<[f64; N_SENSORS]>,
}

impl Engine {
    /// Number of cycles recorded.
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    /// Whether no cycle was recorded.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }
}

/// A loaded subset: training engines (run to failure), test engines (cut short) and the true
/// remaining useful life of each test engine after its last cycle.
#[derive(Debug, Clone)]
pub struct CmapssData {
    /// Which subset this is.
    pub subset: Subset,
    /// Training engines, in unit order.
    pub train: Vec<Engine>,
    /// Test engines, in unit order.
    pub test: Vec<Engine>,
    /// True RUL after the last cycle of each test engine, in unit order.
    pub test_rul: Vec<f64>,
}

impl CmapssData {
    /// Reads `train_`, `test_` and `RUL_` files of `subset` from `dir`.
    pub fn load(dir: &Path, subset: Subset) -> Result<Self> {
        let tag = subset.tag();
        let train = read_engines(&dir.join(format!("train_{tag}.txt")))?;
        let test = read_engines(&dir.join(format!("test_{tag}.txt")))?;
        let rul_path = dir.join(format!("RUL_{tag}.txt"));
        let test_rul = read_text(&rul_path)?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| parse_f64(l.trim(), &rul_path, i + 1))
            .collect::<Result<Vec<_>>>()?;
        if test_rul.len() != test.len() {
            return Err(Error::InvalidInput(format!(
                "{} has {} values for {} test engines",
                rul_path.display(),
                test_rul.len(),
                test.len()
            )));
        }
        Ok(CmapssData {
            subset,
            train,
            test,
            test_rul,
        })
    }
}

/// Reads one space-separated C-MAPSS file into engines (rows grouped by unit number).
pub fn read_engines(path: &Path) -> Result<Vec<Engine>> {
    let text = read_text(path)?;
    let mut engines: Vec<Engine> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let width = 2 + N_SETTINGS + N_SENSORS;
        if fields.len() != width {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("expected {width} columns, found {}", fields.len()),
            });
        }
        let values = fields
            .iter()
            .map(|f| parse_f64(f, path, i + 1))
            .collect::<Result<Vec<_>>>()?;
        let unit = values[0] as u32;
        let mut settings = [0.0; N_SETTINGS];
        settings.copy_from_slice(&values[2..2 + N_SETTINGS]);
        let mut sensors = [0.0; N_SENSORS];
        sensors.copy_from_slice(&values[2 + N_SETTINGS..]);
        match engines.last_mut() {
            Some(e) if e.unit == unit => {
                e.settings.push(settings);
                e.sensors.push(sensors);
            }
            _ => engines.push(Engine {
                unit,
                settings: vec![settings],
                sensors: vec![sensors],
            }),
        }
    }
    Ok(engines)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: PathBuf::from(path),
        source,
    })
}

fn parse_f64(s: &str, path: &Path, line: usize) -> Result<f64> {
    s.parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        line,
        message: format!("not a number: {s:?}"),
    })
}

impl CmapssData {
    /// A validation set made from training engines only: a seeded `fraction` of the training
    /// engines is held out and each is cut at a random cycle, keeping at least `min_cycles` and
    /// leaving at most `max_rul` cycles to failure; the cycles removed are its true RUL, as in the
    /// official test files. The official test set is not used, so settings can be tuned on the
    /// result without touching test labels.
    pub fn validation_split(
        &self,
        fraction: f64,
        min_cycles: usize,
        max_rul: usize,
        seed: u64,
    ) -> CmapssData {
        use rand::rngs::StdRng;
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};

        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        order.shuffle(&mut rng);
        let n_held = (self.train.len() as f64 * fraction).round() as usize;
        let mut held: Vec<usize> = order[..n_held].to_vec();
        held.sort_unstable();
        let mut test = Vec::with_capacity(n_held);
        let mut test_rul = Vec::with_capacity(n_held);
        for &i in &held {
            let engine = &self.train[i];
            let low = min_cycles
                .max(engine.len().saturating_sub(max_rul))
                .min(engine.len());
            let keep = rng.gen_range(low..=engine.len());
            test.push(Engine {
                unit: engine.unit,
                settings: engine.settings[..keep].to_vec(),
                sensors: engine.sensors[..keep].to_vec(),
            });
            test_rul.push((engine.len() - keep) as f64);
        }
        let train = (0..self.train.len())
            .filter(|i| held.binary_search(i).is_err())
            .map(|i| self.train[i].clone())
            .collect();
        CmapssData {
            subset: self.subset,
            train,
            test,
            test_rul,
        }
    }
}
