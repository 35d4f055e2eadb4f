//! Resource figures for reports: training time and peak resident memory.

use std::fmt;
use std::time::Duration;

/// Peak resident set size of this process in bytes (`VmHWM` in `/proc/self/status`), or `None`
/// where that file does not exist (non-Linux systems).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Training time and peak memory, printed as `training_time=… s peak_memory=… MiB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    /// Wall-clock time spent on feature extraction and fitting.
    pub training_time: Duration,
    /// Peak resident memory of the process when the evaluation finished.
    pub peak_memory_bytes: Option<u64>,
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "training_time={:.2} s", self.training_time.as_secs_f64())?;
        match self.peak_memory_bytes {
            Some(b) => write!(f, " peak_memory={:.1} MiB", b as f64 / (1024.0 * 1024.0)),
            None => write!(f, " peak_memory=unknown"),
        }
    }
}
