//! SPC limits, run rules and capability indices against an independent implementation:
//! `platform/tests/quality/reference.py` (NumPy and SciPy; see its docstring for how it
//! differs), run in a virtualenv kept at `<target dir>/quality-venv`, made on first use from
//! the pinned `platform/tests/quality/requirements.txt` and remade when that file changes.
//!
//! The case is a seeded process with a stable baseline, then a shift, a trend and
//! alternation, so that every family of rules has something to find.
//!
//! Needs `python3` with its `venv` module (Debian: `python3-venv`) and PyPI on first use.
//! Set `MILLWRIGHT_PYTHON` to use another interpreter.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{ensure, Context, Result};
use millwright_platform::quality::capability::{capability, SpecLimits};
use millwright_platform::quality::charts::{
    individuals, subgroup_charts, Baseline, ChartPair, ChartType, Observation, Subgroup,
};
use millwright_platform::quality::constants::constants;
use millwright_platform::quality::rules::RuleSet;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("platform/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The virtualenv's python with `requirements` installed (reused while they are unchanged).
fn venv_python(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let stamp = venv.join("millwright-requirements.txt");
    let wanted = fs::read_to_string(requirements)?;
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(venv)?;
    }
    let interpreter = std::env::var("MILLWRIGHT_PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(&interpreter)
        .arg("-m")
        .arg("venv")
        .arg(venv)
        .output()?;
    ensure!(
        made.status.success(),
        "`{interpreter} -m venv` failed (on Debian install python3-venv): {}",
        describe(&made)
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
        .output()?;
    ensure!(
        installed.status.success(),
        "pip install failed: {}",
        describe(&installed)
    );
    fs::write(&stamp, wanted)?;
    Ok(python)
}

fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// 90 individual values: 30 stable around 10, 15 shifted by +1.5, 10 rising, 15 alternating
/// widely, 20 stable again; and 30 subgroups of 5, the last 10 shifted by +0.8.
fn case() -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let mut x = Vec::new();
    for i in 0..90 {
        let base = match i {
            0..30 => 10.0,
            30..45 => 11.5,
            45..55 => 10.0 + 0.4 * (i - 45) as f64,
            55..70 => 10.0 + if i % 2 == 0 { 1.6 } else { -1.6 },
            _ => 10.0,
        };
        let noise = if (55..70).contains(&i) { 0.1 } else { 1.0 };
        x.push(base + noise * normal(&mut rng));
    }
    let groups = (0..30)
        .map(|g| {
            let shift = if g >= 20 { 0.8 } else { 0.0 };
            (0..5).map(|_| 10.0 + shift + normal(&mut rng)).collect()
        })
        .collect();
    (x, groups)
}

fn close(what: &str, ours: f64, theirs: &Value, tolerance: f64) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {theirs}"));
    let scale = theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= tolerance * scale,
        "{what}: ours {ours}, reference {theirs}"
    );
}

fn fired(pair: &ChartPair, location: bool) -> Value {
    let chart = if location {
        &pair.location
    } else {
        &pair.dispersion
    };
    json!(chart
        .violations
        .iter()
        .map(|v| json!([v.rule, v.at]))
        .collect::<Vec<_>>())
}

#[test]
fn charts_rules_and_capability_agree_with_scipy() -> Result<()> {
    let python = venv_python(
        &target_dir().join("quality-venv"),
        &root().join("platform/tests/quality/requirements.txt"),
    )?;
    let (x, groups) = case();
    let spec = SpecLimits {
        lsl: Some(6.0),
        usl: Some(15.0),
        target: None,
    };
    let sizes = [2usize, 3, 5, 10, 25];
    let input = json!({
        "constant_sizes": sizes,
        "observations": x,
        "individuals_baseline": [0, 30],
        "subgroups": groups,
        "subgroup_baseline": [0, 20],
        "spec": {"lsl": 6.0, "usl": 15.0},
        "confidence": 0.95,
    });
    let mut child = Command::new(&python)
        .arg(root().join("platform/tests/quality/reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the reference")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "reference failed: {}",
        describe(&output)
    );
    let r: Value = serde_json::from_slice(&output.stdout)?;

    // Constants: d2 by both integrations agree closely; d3 to the grid's 5e-5.
    for n in sizes {
        let k = constants(n).unwrap();
        let t = &r["constants"][n.to_string()];
        close(&format!("d2({n})"), k.d2, &t["d2"], 1e-6);
        close(&format!("d3({n})"), k.d3, &t["d3"], 1e-4);
        close(&format!("c4({n})"), k.c4, &t["c4"], 1e-12);
        for (name, v) in [
            ("a2", k.a2),
            ("a3", k.a3),
            ("d3_lower", k.d3_lower),
            ("d4_upper", k.d4_upper),
            ("b3", k.b3),
            ("b4", k.b4),
        ] {
            close(&format!("{name}({n})"), v, &t[name], 5e-4);
        }
    }

    // I-MR.
    let observations: Vec<Observation> = x
        .iter()
        .map(|&value| Observation { time: None, value })
        .collect();
    let base = Baseline::individuals(&observations, 0, 30).unwrap();
    let t = &r["imr"];
    for rules in [RuleSet::WesternElectric, RuleSet::Nelson] {
        let pair = individuals(&observations, &base, rules).unwrap();
        close("I centre", pair.location.centre, &t["centre"], 1e-9);
        close("I UCL", pair.location.ucl, &t["ucl"], 1e-6);
        close("I LCL", pair.location.lcl, &t["lcl"], 1e-6);
        close("MR centre", pair.dispersion.centre, &t["mr_centre"], 1e-9);
        close("MR UCL", pair.dispersion.ucl, &t["mr_ucl"], 5e-4);
        let key = if rules == RuleSet::Nelson {
            "nelson"
        } else {
            "western_electric"
        };
        assert_eq!(fired(&pair, true), t[key], "I chart, {key}");
        assert_eq!(fired(&pair, false), t["mr_violations"], "MR chart");
        assert!(
            t[key].as_array().unwrap().len() >= 3,
            "the case should break rules: {}",
            t[key]
        );
    }

    // X̄-R and X̄-S.
    let subgroups: Vec<Subgroup> = groups
        .iter()
        .map(|v| Subgroup {
            time: None,
            values: v.clone(),
        })
        .collect();
    for (chart, key) in [(ChartType::XbarR, "xbar_r"), (ChartType::XbarS, "xbar_s")] {
        let t = &r[key];
        let base = Baseline::subgroups(chart, &subgroups, 0, 20).unwrap();
        close(
            &format!("{key} sigma"),
            base.sigma_within,
            &t["sigma_within"],
            1e-6,
        );
        for rules in [RuleSet::WesternElectric, RuleSet::Nelson] {
            let pair = subgroup_charts(&subgroups, &base, rules).unwrap();
            close(
                &format!("{key} centre"),
                pair.location.centre,
                &t["centre"],
                1e-9,
            );
            close(&format!("{key} UCL"), pair.location.ucl, &t["ucl"], 1e-6);
            close(&format!("{key} LCL"), pair.location.lcl, &t["lcl"], 1e-6);
            close(
                &format!("{key} spread UCL"),
                pair.dispersion.ucl,
                &t["spread_ucl"],
                5e-4,
            );
            close(
                &format!("{key} spread LCL"),
                pair.dispersion.lcl,
                &t["spread_lcl"],
                5e-4,
            );
            let rule_key = if rules == RuleSet::Nelson {
                "nelson"
            } else {
                "western_electric"
            };
            assert_eq!(fired(&pair, true), t[rule_key], "{key}, {rule_key}");
            assert_eq!(fired(&pair, false), t["spread_violations"], "{key} spread");
        }
    }

    // Capability, with the I-MR and the X̄-S within sigma.
    let imr_sigma = Baseline::individuals(&observations, 0, 30)
        .unwrap()
        .sigma_within;
    let s_base = Baseline::subgroups(ChartType::XbarS, &subgroups, 0, 20).unwrap();
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    for (c, key) in [
        (
            capability(&x, 1, imr_sigma, spec, 0.95).unwrap(),
            "capability_individuals",
        ),
        (
            capability(&all, 5, s_base.sigma_within, spec, 0.95).unwrap(),
            "capability_subgroups",
        ),
    ] {
        let t = &r[key];
        for (name, index) in [("cp", c.cp), ("cpk", c.cpk), ("pp", c.pp), ("ppk", c.ppk)] {
            let index = index.unwrap();
            close(&format!("{key} {name}"), index.value, &t[name][0], 1e-9);
            close(
                &format!("{key} {name} lower"),
                index.lower,
                &t[name][1],
                1e-8,
            );
            close(
                &format!("{key} {name} upper"),
                index.upper,
                &t[name][2],
                1e-8,
            );
        }
        close(
            &format!("{key} ppm within"),
            c.expected_ppm_within,
            &t["ppm_within"],
            1e-6,
        );
        close(
            &format!("{key} ppm overall"),
            c.expected_ppm_overall,
            &t["ppm_overall"],
            1e-6,
        );
    }
    Ok(())
}
