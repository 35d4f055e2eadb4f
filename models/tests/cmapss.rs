//! RUL pipeline on a small slice of the real C-MAPSS data (20 engines), so it runs in seconds.

use millwright_models::data::cmapss::{CmapssData, Subset};
use millwright_models::data::default_data_dir;
use millwright_models::{eval_cmapss_data, CmapssOptions};

fn small_fd001() -> CmapssData {
    let mut data = CmapssData::load(&default_data_dir().join("cmapss"), Subset::Fd001)
        .expect("C-MAPSS FD001 in shared/data (set MILLWRIGHT_SHARED_DATA to move it)");
    data.train.truncate(20);
    data.test.truncate(20);
    data.test_rul.truncate(20);
    data
}

fn small_options() -> CmapssOptions {
    let mut options = CmapssOptions::new(Subset::Fd001);
    options.model.trees = 20;
    options
}

#[test]
fn loads_the_published_shape() {
    let data = CmapssData::load(&default_data_dir().join("cmapss"), Subset::Fd001).unwrap();
    assert_eq!(data.train.len(), 100);
    assert_eq!(data.test.len(), 100);
    assert_eq!(data.train.iter().map(|e| e.len()).sum::<usize>(), 20_631);
    assert_eq!(data.test.iter().map(|e| e.len()).sum::<usize>(), 13_096);
    assert_eq!(data.test_rul[0], 112.0);
}

#[test]
fn beats_the_mean_predictor_and_is_deterministic() {
    let data = small_fd001();
    let options = small_options();
    let first = eval_cmapss_data(&data, &options).unwrap();
    assert!(
        first.rmse < 0.75 * first.baseline_rmse,
        "rmse {} against baseline {}",
        first.rmse,
        first.baseline_rmse
    );
    assert!(first.rmse < 25.0, "rmse {}", first.rmse);
    let last_line = first.to_string().lines().last().unwrap().to_owned();
    assert!(
        last_line.starts_with("rmse=") && last_line.contains(" score="),
        "{last_line}"
    );

    let second = eval_cmapss_data(&data, &options).unwrap();
    assert_eq!(first.predictions, second.predictions);
    assert_eq!(first.score, second.score);
}

#[test]
fn validation_split_uses_training_engines_only() {
    let data = small_fd001();
    let split = data.validation_split(0.25, 21, 150, 3);
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 5);
    for (engine, rul) in split.test.iter().zip(&split.test_rul) {
        let full = data.train.iter().find(|e| e.unit == engine.unit).unwrap();
        assert_eq!(engine.len() as f64 + rul, full.len() as f64);
        assert!(*rul <= 150.0);
        assert!(split.train.iter().all(|e| e.unit != engine.unit));
    }
}
