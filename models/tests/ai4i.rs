//! Failure classifier on a 2,000-row stratified sample of the real AI4I 2020 data.

use millwright_models::data::ai4i::{self, Ai4iRow, FEATURE_NAMES};
use millwright_models::data::default_data_dir;
use millwright_models::split::stratified_split;
use millwright_models::{eval_ai4i_rows, Ai4iOptions};

fn sample() -> Vec<Ai4iRow> {
    let rows = ai4i::load(&default_data_dir().join("ai4i2020/ai4i2020.csv")).unwrap();
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows.iter().filter(|r| r.failure).count(), 339);
    let (_, picked) = stratified_split(&ai4i::labels(&rows), 0.2, 1);
    picked.iter().map(|&i| rows[i]).collect()
}

fn small_options() -> Ai4iOptions {
    let mut options = Ai4iOptions::default();
    options.model.trees = 30;
    options.model.calibration_folds = 3;
    options
}

#[test]
fn features_never_include_labels_or_identifiers() {
    for banned in [
        "TWF",
        "HDF",
        "PWF",
        "OSF",
        "RNF",
        "UDI",
        "Product ID",
        "Machine failure",
    ] {
        assert!(!FEATURE_NAMES.iter().any(|f| f.eq_ignore_ascii_case(banned)));
    }
    assert_eq!(ai4i::features(&sample()).ncols(), FEATURE_NAMES.len());
}

#[test]
fn stratified_hold_out_keeps_the_failure_rate() {
    let rows = sample();
    let labels = ai4i::labels(&rows);
    let (train, test) = stratified_split(&labels, 0.2, 42);
    assert_eq!(train.len() + test.len(), rows.len());
    let rate = |idx: &[usize]| idx.iter().filter(|&&i| labels[i]).count() as f64 / idx.len() as f64;
    assert!((rate(&train) - rate(&test)).abs() < 0.005);
}

#[test]
fn finds_failures_and_is_deterministic() {
    let rows = sample();
    let options = small_options();
    let report = eval_ai4i_rows(&rows, &options).unwrap();
    // 14 failures in a 400-row hold-out: a floor well above what a linear model reaches (0.36).
    assert!(report.metrics.f1 >= 0.6, "{report}");
    assert!(report.auc >= 0.9, "{report}");
    let last = report.to_string().lines().last().unwrap().to_owned();
    assert!(last.starts_with("f1=") && last.contains(" auc="), "{last}");

    let again = eval_ai4i_rows(&rows, &options).unwrap();
    assert_eq!(report.metrics, again.metrics);
    assert_eq!(report.auc, again.auc);
}
