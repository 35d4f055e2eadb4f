//! The normaliser and the operating-condition clustering, on real C-MAPSS FD002 settings.

use millwright_models::data::cmapss::{CmapssData, Subset};
use millwright_models::data::default_data_dir;
use millwright_models::normalise::{Normaliser, OperatingConditions};
use ndarray::{Array2, Axis};

fn fd002_settings_and_sensor(engines: usize) -> (Array2<f64>, Array2<f64>) {
    let data = CmapssData::load(&default_data_dir().join("cmapss"), Subset::Fd002).unwrap();
    let rows: Vec<_> = data.train[..engines]
        .iter()
        .flat_map(|e| e.settings.iter().zip(&e.sensors))
        .collect();
    let settings = Array2::from_shape_fn((rows.len(), 3), |(i, j)| rows[i].0[j]);
    // Sensors 2 (T24) and 7 (P30), which depend strongly on the operating condition.
    let sensors = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i].1[[1, 6][j]]);
    (settings, sensors)
}

#[test]
fn finds_six_operating_conditions_in_fd002() {
    let (settings, _) = fd002_settings_and_sensor(20);
    let conditions = OperatingConditions::fit(settings.view(), 6, 0).unwrap();
    let assigned = conditions.assign(settings.view());
    // Seeded: clustering again gives the same labels.
    let again = OperatingConditions::fit(settings.view(), 6, 0).unwrap();
    assert_eq!(again.assign(settings.view()), assigned);
    let mut counts = [0usize; 6];
    for &c in &assigned {
        counts[c] += 1;
    }
    // Every condition is used by a sizeable share of the cycles.
    assert!(
        counts.iter().all(|&n| n > assigned.len() / 12),
        "{counts:?}"
    );
    // Rows in the same condition have nearly the same altitude setting (setting 1).
    for c in 0..6 {
        let alt: Vec<f64> = (0..assigned.len())
            .filter(|&i| assigned[i] == c)
            .map(|i| settings[[i, 0]])
            .collect();
        let (lo, hi) = alt
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi - lo < 0.1, "condition {c}: setting 1 from {lo} to {hi}");
    }
}

#[test]
fn per_condition_statistics_come_from_training_data_only() {
    let (settings, sensors) = fd002_settings_and_sensor(30);
    let conditions = OperatingConditions::fit(settings.view(), 6, 0).unwrap();
    let split = sensors.nrows() * 2 / 3;
    let train = sensors.slice(ndarray::s![..split, ..]);
    let test = sensors.slice(ndarray::s![split.., ..]);
    let c_train = conditions.assign(settings.slice(ndarray::s![..split, ..]));
    let c_test = conditions.assign(settings.slice(ndarray::s![split.., ..]));

    let normaliser = Normaliser::fit(train, &c_train, 6).unwrap();
    // Training data comes out with mean 0 and std 1 in every condition.
    let z = normaliser.transform(train, &c_train).unwrap();
    for c in 0..6 {
        let rows: Vec<usize> = (0..z.nrows()).filter(|&i| c_train[i] == c).collect();
        let zc = z.select(Axis(0), &rows);
        for m in zc.mean_axis(Axis(0)).unwrap() {
            assert!(m.abs() < 1e-9);
        }
        for s in zc.std_axis(Axis(0), 0.0) {
            assert!((s - 1.0).abs() < 1e-9);
        }
    }
    // Per-condition normalisation removes the condition: the pooled raw spread is far larger.
    let raw_std = train.std_axis(Axis(0), 0.0);
    assert!(raw_std
        .iter()
        .zip(normaliser.std().row(0))
        .all(|(r, s)| r > &(3.0 * s)));

    // Transforming test data uses the stored training statistics and changes nothing.
    let before = normaliser.clone();
    let shifted = &test + 100.0;
    let a = normaliser.transform(test, &c_test).unwrap();
    let b = normaliser.transform(shifted.view(), &c_test).unwrap();
    assert_eq!(normaliser, before);
    for ((x, y), &c) in a.rows().into_iter().zip(b.rows()).zip(&c_test) {
        for j in 0..2 {
            let expected = 100.0 / normaliser.std()[[c, j]];
            assert!((y[j] - x[j] - expected).abs() < 1e-6);
        }
    }
    // Fitting on training data plus test data would give other statistics.
    let all = Normaliser::fit(sensors.view(), &conditions.assign(settings.view()), 6).unwrap();
    assert_ne!(all, normaliser);
}
