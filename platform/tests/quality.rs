//! Yield and quality models on data made by the simulators' own machine model (the quality
//! physics of `connectors/src/simulator.rs`: what makes a part scrap, per machine kind), and
//! the `models eval secom|steel-plates` commands of the built binary.
//!
//! Units are sampled from [`Machine::step`]: every 10 simulated minutes, when the step made
//! parts, one of them becomes a unit whose process parameters are the machine's published
//! process tags at that step (read back through its register bank, as a connector would) and
//! whose label is whether that part was scrap (drawn with the step's scrap share). Nothing of
//! the physics is re-implemented here.

use std::collections::HashMap;

use millwright_connectors::simulator::bank::Bank;
use millwright_connectors::simulator::machine::{Machine, MachineKind};
use millwright_connectors::simulator::PlantKind;
use millwright_models::{rank_parameters, RankingOptions, RootCauses};
use millwright_platform::quality::defect_artifact::{default_header, FittedDefect};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};

/// Tags that count, identify or report state rather than describe the process.
const NOT_PARAMETERS: [&str; 13] = [
    "state",
    "alarm_code",
    "part_counter",
    "good_parts",
    "scrap_parts",
    "operating_seconds",
    "energy_kwh",
    "running",
    "alarm_active",
    "machine_id",
    "shot_counter",
    "stitch_counter",
    "stoppage_code",
];

/// Units made by every machine of `kind` in `plant`: parameter names, values (one row per
/// unit, in time order per machine) and scrap labels.
fn units(
    plant: PlantKind,
    kind: MachineKind,
    hours: f64,
    seed: u64,
) -> (Vec<String>, Array2<f64>, Vec<bool>) {
    let dt = 600.0;
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<f64> = Vec::new();
    let mut labels = Vec::new();
    let mut pick = rand::rngs::StdRng::seed_from_u64(seed ^ 0xabc);
    for (i, (name, k, _, _)) in plant.machines().into_iter().enumerate() {
        if k != kind {
            continue;
        }
        let mut machine = Machine::new(name, k, seed + i as u64);
        let mut bank = Bank::default();
        machine.init_bank(&mut bank);
        let tags: Vec<_> = machine
            .layout()
            .iter()
            .filter(|t| !t.writable && !NOT_PARAMETERS.contains(&t.name.as_str()))
            .cloned()
            .collect();
        if names.is_empty() {
            names = tags.iter().map(|t| t.name.clone()).collect();
        }
        let (mut parts, mut scrap) = (0, 0);
        for _ in 0..(hours * 3600.0 / dt) as usize {
            machine.step(dt, &mut bank);
            let truth = machine.truth();
            let (made, scrapped) = (truth.parts - parts, truth.scrap - scrap);
            (parts, scrap) = (truth.parts, truth.scrap);
            if made == 0 {
                continue;
            }
            for t in &tags {
                rows.push(bank.get(t).and_then(|v| v.as_f64()).unwrap_or(f64::NAN));
            }
            labels.push(pick.gen_range(0..made) < scrapped);
        }
    }
    let x = Array2::from_shape_vec((labels.len(), names.len()), rows).unwrap();
    (names, x, labels)
}

fn rank(plant: PlantKind, kind: MachineKind) -> RootCauses {
    let (names, x, y) = units(plant, kind, 500.0, 5);
    let causes = rank_parameters(x.view(), &y, &names, &RankingOptions::default()).unwrap();
    eprintln!(
        "{} {:?}: {} units, {} scrap, hold-out AUC {:.3}",
        plant.as_str(),
        kind,
        x.nrows(),
        causes.defects,
        causes.holdout_auc
    );
    for r in &causes.ranks {
        eprintln!(
            "  {:<22} importance {:.4} ± {:.4}  window {:?}",
            r.name, r.importance, r.importance_sd, r.window
        );
    }
    causes
}

/// For each plant, a machine kind whose scrap the physics ties to one parameter, that
/// parameter, and where the physics starts making scrap (the window's upper end must land
/// near it): press die gap above 0.25 mm; sewing thread tension above 160 cN; CNC tool wear
/// above 70 %.
#[test]
fn the_physics_parameter_ranks_first_for_each_plant() {
    let cases = [
        (
            PlantKind::Appliance,
            MachineKind::Press,
            "die_gap",
            0.25,
            0.08,
        ),
        (
            PlantKind::Garment,
            MachineKind::Sewing,
            "thread_tension",
            160.0,
            15.0,
        ),
        (
            PlantKind::Machinery,
            MachineKind::Cnc,
            "tool_wear",
            70.0,
            12.0,
        ),
    ];
    let mut seen = HashMap::new();
    for (plant, kind, parameter, onset, tolerance) in cases {
        let causes = rank(plant, kind);
        assert!(causes.holdout_auc > 0.7, "{plant:?}: {causes:?}");
        let top = &causes.ranks[0];
        assert_eq!(top.name, parameter, "{plant:?}: {:?}", causes.ranks);
        assert!(
            top.importance > 2.0 * causes.ranks[1].importance.max(0.0),
            "{:?}",
            causes.ranks
        );
        let window = top.window.expect("the driving parameter has a window");
        let high = window.high.expect("scrap rises at the top of the range");
        assert!(
            (high - onset).abs() <= tolerance,
            "{parameter}: window {window:?}"
        );
        assert!(
            window.inside_defect_rate < window.outside_defect_rate / 3.0,
            "{window:?}"
        );
        seen.insert(plant, top.name.clone());
    }
    assert_eq!(seen.len(), PlantKind::ALL.len());
}

/// The defect model trained through its stored recipe, on the earlier units of the CNCs, tells
/// scrap from good parts among the later ones.
#[test]
fn the_defect_model_learns_from_earlier_units() {
    let (names, x, y) = units(PlantKind::Machinery, MachineKind::Cnc, 400.0, 9);
    let n = y.len();
    let order: Vec<usize> = (0..n).collect();
    let (train, test) = order.split_at(n * 7 / 10);
    let xt = x.select(Axis(0), train);
    let yt: Vec<bool> = train.iter().map(|&i| y[i]).collect();
    let header = default_header(names, train.len());
    let bytes = FittedDefect::encode(&header, xt.view(), &yt).unwrap();
    let model = FittedDefect::decode(&bytes).unwrap();
    let p = model
        .predict(x.select(Axis(0), test).view())
        .unwrap()
        .to_vec();
    let truth: Vec<bool> = test.iter().map(|&i| y[i]).collect();
    let auc = millwright_models::eval::metrics::roc_auc(&p, &truth);
    let flagged: Vec<bool> = p.iter().map(|&v| model.alarming(v)).collect();
    let m = millwright_models::eval::metrics::BinaryMetrics::from_predictions(&flagged, &truth);
    eprintln!(
        "defect model {:?}: auc {auc:.3}, {m:?}",
        model.model.algorithm()
    );
    assert!(auc > 0.75, "auc {auc}");
    assert!(m.recall > 0.5, "{m:?}");
}

fn millwright(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_millwright"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shared_data() -> std::path::PathBuf {
    millwright_models::data::default_data_dir()
}

#[test]
fn the_cli_evaluates_steel_plates() {
    let file = shared_data().join("steel-plates/steel_plates_faults.csv");
    let (ok, out, err) = millwright(&[
        "models",
        "eval",
        "steel-plates",
        "--data",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap();
    let accuracy: f64 = last
        .strip_prefix("accuracy=")
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    assert!(accuracy >= 0.78 && last.contains(" macro_f1="), "{out}");
    assert!(out.contains("peak_memory="), "{out}");
}

/// The SECOM command on the first 300 units (written to a temporary folder, so the run takes
/// seconds): the output's shape, not the figure, which the models crate's test checks.
#[test]
fn the_cli_evaluates_secom() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["secom.data", "secom_labels.data"] {
        let text = std::fs::read_to_string(shared_data().join("secom").join(file)).unwrap();
        let head: Vec<&str> = text.lines().take(300).collect();
        std::fs::write(dir.path().join(file), head.join("\n")).unwrap();
    }
    let (ok, out, err) = millwright(&[
        "models",
        "eval",
        "secom",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SECOM: 300 units"), "{out}");
    assert!(
        lines[lines.len() - 2].starts_with("time_ordered balanced_accuracy="),
        "{out}"
    );
    let last = lines[lines.len() - 1];
    assert!(
        last.starts_with("balanced_accuracy=")
            && last.contains(" gmean=")
            && last.contains(" auc="),
        "{out}"
    );

    let (ok, _, err) = millwright(&["models", "eval", "secom", "--data", "/nonexistent"]);
    assert!(!ok && err.contains("secom.data"), "{err}");
}
