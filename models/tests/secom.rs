//! SECOM yield evaluation on the real data, with fewer trees and inner folds than the CLI's
//! defaults so it runs in seconds; the publisher's bar must still be beaten.

use millwright_models::data::default_data_dir;
use millwright_models::data::secom::{SecomData, N_SIGNALS};
use millwright_models::tabular::{PreprocessOptions, Preprocessor, Selection};
use millwright_models::{eval_secom_data, SecomOptions};

fn data() -> SecomData {
    SecomData::load(&default_data_dir().join("secom"))
        .expect("SECOM in shared/data (set MILLWRIGHT_SHARED_DATA to move it)")
}

#[test]
fn loads_the_published_shape() {
    let d = data();
    assert_eq!(d.x.dim(), (1567, N_SIGNALS));
    assert_eq!(d.fail.iter().filter(|&&f| f).count(), 104);
    assert_eq!(d.x.iter().filter(|v| v.is_nan()).count(), 41_951);
    // 19/07/2008 11:55:00 to 17/10/2008 06:07:00.
    assert_eq!(d.time.iter().min(), Some(&1_216_468_500));
    assert_eq!(d.time.iter().max(), Some(&1_224_223_620));
}

#[test]
fn feature_selection_sees_training_rows_only() {
    // Flipping the labels of rows outside the training set must not change what is selected.
    let d = data();
    let train: Vec<usize> = (0..1000).collect();
    let x = d.x.select(ndarray::Axis(0), &train);
    let y: Vec<bool> = train.iter().map(|&i| d.fail[i]).collect();
    let options = PreprocessOptions {
        selection: Selection::TopAuc(40),
        ..PreprocessOptions::default()
    };
    let a = Preprocessor::fit(x.view(), &y, &options).unwrap();
    let mut flipped = d.fail.clone();
    for f in &mut flipped[1000..] {
        *f = !*f;
    }
    let y2: Vec<bool> = train.iter().map(|&i| flipped[i]).collect();
    let b = Preprocessor::fit(x.view(), &y2, &options).unwrap();
    assert_eq!(a.columns(), b.columns());
    assert_eq!(a.columns().len(), 40);
}

#[test]
fn beats_the_publisher_and_reports_the_time_ordered_split() {
    let mut options = SecomOptions::default();
    options.model.forest.trees = 50;
    options.model.folds = 3;
    let report = eval_secom_data(&data(), &options).unwrap();
    // The publisher's best: BER 33.5 %, balanced accuracy 0.665.
    assert!(report.cv.balanced_accuracy > 0.665, "{report}");
    assert!(report.cv.auc > 0.70, "{report}");
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines[lines.len() - 1];
    assert!(
        last.starts_with("balanced_accuracy=")
            && last.contains(" gmean=")
            && last.contains(" auc="),
        "{last}"
    );
    let before = lines[lines.len() - 2];
    assert!(
        before.starts_with("time_ordered balanced_accuracy="),
        "{before}"
    );
    assert_eq!(report.time_split, (1097, 470, 26));
    assert!(text.contains("training_time=") && text.contains("peak_memory="));
}
