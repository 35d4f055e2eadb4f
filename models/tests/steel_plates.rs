//! Steel Plates Faults, the real data and the CLI's settings (a second or two).

use millwright_models::data::default_data_dir;
use millwright_models::data::steel::{SteelPlates, CLASSES};
use millwright_models::{eval_steel_plates_rows, SteelOptions};

fn data() -> SteelPlates {
    SteelPlates::load(&default_data_dir().join("steel-plates/steel_plates_faults.csv"))
        .expect("Steel Plates in shared/data (set MILLWRIGHT_SHARED_DATA to move it)")
}

#[test]
fn loads_the_published_shape() {
    let d = data();
    assert_eq!(d.x.dim(), (1941, 27));
    let mut counts = [0; CLASSES.len()];
    for &c in &d.class {
        counts[c] += 1;
    }
    // Pastry, Z_Scratch, K_Scatch, Stains, Dirtiness, Bumps, Other_Faults.
    assert_eq!(counts, [158, 190, 391, 72, 55, 402, 673]);
}

#[test]
fn reaches_the_forest_range_and_is_deterministic() {
    let d = data();
    let options = SteelOptions::default();
    let report = eval_steel_plates_rows(&d, &options).unwrap();
    assert_eq!(report.test_rows, 583);
    assert!(report.accuracy >= 0.78, "{report}");
    assert!(report.macro_f1 >= 0.78, "{report}");
    let text = report.to_string();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("accuracy=") && last.contains(" macro_f1="),
        "{last}"
    );
    assert!(text.contains("training_time=") && text.contains("peak_memory="));
    let again = eval_steel_plates_rows(&d, &options).unwrap();
    assert_eq!(report.predictions, again.predictions);
}
