//! The Helm chart in `helm/millwright`, checked with Helm's own code and no helm binary.
//!
//! `helm/ci/check.py` lints and renders the chart through Helm's Go SDK (PyPI
//! `helm-python-sdk`), validates every manifest against the Kubernetes schemas
//! (`kubernetes-validate`) and checks that values.schema.json rejects bad values. This test
//! runs it in a Python virtualenv kept at `<target dir>/helm-venv` (made on first use from the
//! pinned `helm/ci/requirements.txt`, remade when that file changes), loads the rendered
//! settings file with the platform's own settings loader, and makes sure a broken template
//! fails the check.
//!
//! Needs `python3` with its `venv` module (Debian: `python3-venv`) and PyPI on first use.
//! Set `MILLWRIGHT_PYTHON` to use another interpreter.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, ensure, Context, Result};
use millwright_platform::config::Settings;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target folder: `CARGO_TARGET_DIR` (relative to the workspace root when relative)
/// or `<workspace>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

fn run(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("could not start {command:?}"))?;
    Ok(output)
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The virtualenv's python, with `requirements` installed: reused while the requirements file
/// is unchanged, rebuilt otherwise.
fn venv_python(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let stamp = venv.join("millwright-requirements.txt");
    let wanted = fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let interpreter = std::env::var("MILLWRIGHT_PYTHON").unwrap_or_else(|_| "python3".into());
    let made = run(Command::new(&interpreter).arg("-m").arg("venv").arg(venv))?;
    ensure!(
        made.status.success(),
        "`{interpreter} -m venv` failed (on Debian install python3-venv): {}",
        describe(&made)
    );
    let installed = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements))?;
    ensure!(
        installed.status.success(),
        "pip install failed: {}",
        describe(&installed)
    );
    // Written last: an interrupted install is redone next time.
    fs::write(&stamp, wanted)?;
    Ok(python)
}

/// Runs the chart check on `chart`, writing the rendered TOML files under `out`.
fn check(python: &Path, chart: &Path, out: &Path) -> Result<Output> {
    let script = root().join("helm/ci/check.py");
    run(Command::new(python)
        .arg(script)
        .arg("--chart")
        .arg(chart)
        .arg("--out")
        .arg(out))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[test]
fn helm_chart_lints_renders_and_validates() -> Result<()> {
    let root = root();
    let work = target_dir().join("helm-check");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    let python = venv_python(
        &target_dir().join("helm-venv"),
        &root.join("helm/ci/requirements.txt"),
    )?;

    // The chart as committed passes every check.
    let chart = root.join("helm/millwright");
    let output = check(&python, &chart, &work.join("rendered"))?;
    if !output.status.success() {
        bail!("the Helm chart check failed: {}", describe(&output));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("The chart passes every check"), "{stdout}");

    // The settings file the chart renders is one the platform accepts: integers stay
    // integers, and every key is one the platform knows.
    for case in ["default", "production", "citus", "other-branches"] {
        let file = work.join("rendered").join(case).join("millwright.toml");
        ensure!(file.exists(), "the check wrote no {}", file.display());
        Settings::load(Some(&file))
            .with_context(|| format!("the platform rejects the {case} settings file"))?;
    }

    // A broken template and an invalid manifest each fail the check.
    let broken = [
        ("a template error", "{{ .Values.nosuch.field }}\n"),
        (
            "an invalid manifest",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports:\n    - port: http\n",
        ),
    ];
    for (what, template) in broken {
        let copy = work.join("broken-chart");
        if copy.exists() {
            fs::remove_dir_all(&copy)?;
        }
        copy_dir(&chart, &copy)?;
        fs::write(copy.join("templates/zz-broken.yaml"), template)?;
        let output = check(&python, &copy, &work.join("broken-rendered"))?;
        ensure!(
            !output.status.success(),
            "the check passed a chart with {what}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("zz-broken.yaml"),
            "{}",
            describe(&output)
        );
    }
    Ok(())
}
