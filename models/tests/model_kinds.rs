//! The three model kinds behind the `Model` trait, on 20 real C-MAPSS FD001 engines: anomaly
//! score fitted on healthy cycles, failure within 30 cycles, remaining useful life.

use millwright_models::data::cmapss::{CmapssData, Engine, Subset};
use millwright_models::data::default_data_dir;
use millwright_models::eval::cmapss::SENSORS;
use millwright_models::features::WindowFeatures;
use millwright_models::normalise::Normaliser;
use millwright_models::{
    AnomalyParams, FailureClassifier, FailureParams, KMeansAnomaly, Model, ModelKind, RulForest,
    RulParams,
};
use ndarray::{Array1, Array2, Axis};

/// Window features per cycle of each engine, normalised on the first `n_fit` engines.
fn engine_features(engines: &[Engine], n_fit: usize) -> Vec<Array2<f64>> {
    let sensors = |e: &Engine| {
        Array2::from_shape_fn((e.len(), SENSORS.len()), |(t, j)| e.sensors[t][SENSORS[j]])
    };
    let fit_rows: Vec<Array2<f64>> = engines[..n_fit].iter().map(sensors).collect();
    let views: Vec<_> = fit_rows.iter().map(|a| a.view()).collect();
    let stacked = ndarray::concatenate(Axis(0), &views).unwrap();
    let normaliser = Normaliser::fit(stacked.view(), &vec![0; stacked.nrows()], 1).unwrap();
    let features = WindowFeatures::standard(15);
    engines
        .iter()
        .map(|e| {
            let x = normaliser
                .transform(sensors(e).view(), &vec![0; e.len()])
                .unwrap();
            features.extract_all(x.view())
        })
        .collect()
}

fn engines() -> Vec<Engine> {
    let mut data = CmapssData::load(&default_data_dir().join("cmapss"), Subset::Fd001).unwrap();
    data.train.truncate(20);
    data.train
}

fn stack(blocks: &[Array2<f64>]) -> Array2<f64> {
    let views: Vec<_> = blocks.iter().map(|a| a.view()).collect();
    ndarray::concatenate(Axis(0), &views).unwrap()
}

#[test]
fn anomaly_score_rises_towards_failure() {
    let engines = engines();
    let features = engine_features(&engines, 15);
    // Healthy operation: cycles 15 to 50 of the 15 fitting engines (time since maintenance is
    // left out, it would make every late cycle unusual by itself).
    let healthy: Vec<Array2<f64>> = features[..15]
        .iter()
        .map(|f| f.slice(ndarray::s![15..50, ..f.ncols() - 1]).to_owned())
        .collect();
    let mut model = KMeansAnomaly::new(AnomalyParams::default());
    assert_eq!(model.kind(), ModelKind::Anomaly);
    model
        .fit(stack(&healthy).view(), Array1::zeros(0).view())
        .unwrap();

    // The five unseen engines: healthy early cycles mostly pass, the last cycles all alarm.
    let (mut early_alarms, mut early_total, mut late_alarms) = (0, 0, 0);
    for f in &features[15..] {
        let x = f.slice(ndarray::s![.., ..f.ncols() - 1]);
        let scores = model.predict(x).unwrap();
        for &s in scores.slice(ndarray::s![15..50]) {
            early_total += 1;
            early_alarms += usize::from(model.alarm(s).unwrap());
        }
        late_alarms += usize::from(model.alarm(scores[scores.len() - 1]).unwrap());
    }
    assert!(
        early_alarms * 10 <= early_total,
        "{early_alarms} of {early_total} healthy cycles alarmed"
    );
    assert_eq!(late_alarms, 5);
}

#[test]
fn failure_within_horizon_and_rul_beat_chance_on_unseen_engines() {
    let engines = engines();
    let features = engine_features(&engines, 15);
    let rul = |e: &Engine| -> Vec<f64> { (0..e.len()).map(|t| (e.len() - 1 - t) as f64).collect() };
    let x_train = stack(&features[..15]);
    let x_test = stack(&features[15..]);
    let r_train: Vec<f64> = engines[..15].iter().flat_map(rul).collect();
    let r_test: Vec<f64> = engines[15..].iter().flat_map(rul).collect();

    // Failure within 30 cycles.
    let within =
        |r: &[f64]| -> Array1<f64> { r.iter().map(|&v| f64::from(u8::from(v <= 30.0))).collect() };
    let mut classifier = FailureClassifier::new(FailureParams {
        trees: 10,
        calibration_folds: 3,
        ..FailureParams::default()
    });
    classifier
        .fit(x_train.view(), within(&r_train).view())
        .unwrap();
    let p = classifier.predict(x_test.view()).unwrap();
    let truth = within(&r_test);
    let correct = p
        .iter()
        .zip(&truth)
        .filter(|(&p, &t)| classifier.alarm(p).unwrap() == (t == 1.0))
        .count();
    assert!(
        correct as f64 / truth.len() as f64 > 0.9,
        "accuracy {correct}/{}",
        truth.len()
    );

    // Remaining useful life, capped at 125.
    let capped: Array1<f64> = r_train.iter().map(|&v| v.min(125.0)).collect();
    let mut regressor = RulForest::new(RulParams {
        trees: 20,
        ..RulParams::default()
    });
    regressor.fit(x_train.view(), capped.view()).unwrap();
    let predicted = regressor.predict(x_test.view()).unwrap();
    let truth: Vec<f64> = r_test.iter().map(|&v| v.min(125.0)).collect();
    let mean = capped.mean().unwrap();
    let rmse = |p: &[f64]| {
        (p.iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / p.len() as f64)
            .sqrt()
    };
    let model_rmse = rmse(predicted.as_slice().unwrap());
    let baseline = rmse(&vec![mean; truth.len()]);
    assert!(
        model_rmse < 0.5 * baseline,
        "rmse {model_rmse} against {baseline}"
    );
    assert!(regressor.alarm(10.0).is_none());
}
