//! A Python virtualenv for third-party test peers (pymodbus, asyncua), made from a pinned
//! requirements file under `<target>/interop-venv` on first use and remade when the file
//! changes, as `tests/tests/helm_chart.rs` does for the Helm check. Needs `python3` with its
//! `venv` module (Debian: `python3-venv`) and PyPI on first use; `MILLWRIGHT_PYTHON` picks
//! another interpreter.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The virtualenv's python with `requirements` installed (made once per test process).
pub fn venv_python(requirements: &Path) -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| make(&super::target_dir().join("interop-venv"), requirements))
        .clone()
}

fn make(venv: &Path, requirements: &Path) -> PathBuf {
    let python = venv.join("bin").join("python");
    let stamp = venv.join("millwright-requirements.txt");
    let wanted = fs::read_to_string(requirements).expect("requirements file");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    if venv.exists() {
        fs::remove_dir_all(venv).expect("removing an outdated virtualenv");
    }
    let interpreter = std::env::var("MILLWRIGHT_PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(&interpreter)
        .arg("-m")
        .arg("venv")
        .arg(venv)
        .output()
        .expect("python3 runs");
    assert!(
        made.status.success(),
        "`{interpreter} -m venv` failed (on Debian install python3-venv): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .output()
        .expect("pip runs");
    assert!(
        installed.status.success(),
        "pip install failed: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    // Written last: an interrupted install is redone next time.
    fs::write(&stamp, wanted).expect("writing the stamp");
    python
}
