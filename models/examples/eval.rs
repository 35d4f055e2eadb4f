//! Full evaluations on the reference data (benchmarks; run in release mode):
//!
//! ```text
//! cargo run --release -p millwright-models --example eval -- cmapss [--subset FD002] [--data DIR]
//! cargo run --release -p millwright-models --example eval -- ai4i [--data FILE]
//! cargo run --release -p millwright-models --example eval -- secom [--data DIR]
//! cargo run --release -p millwright-models --example eval -- steel-plates [--data FILE]
//! ```
//!
//! SECOM tuning flags: `--algorithm logistic|forest|blend|auto`, `--select auc:40|t:40|all`,
//! `--clip 4|none`, `--alpha A`, `--trees N`, `--min-leaf N`, `--depth N`,
//! `--feature-fraction F`, `--inner-folds K`, `--seed S` (outer folds). Steel Plates: `--trees N`,
//! `--m N`, `--min-leaf N`, `--split-seed S`, `--seed S`, `--no-derived`.
//!
//! Tuning flags (defaults are the library's): `--trees N`, `--algorithm rf|et`,
//! `--windows 30,10`, `--min-leaf N`, `--feature-fraction F`, `--depth N`, `--cap C`, `--no-drift`; `--validate [--validation-seed N]` scores
//! C-MAPSS on 20 % of the training engines instead of the test set (for tuning).

use std::path::PathBuf;
use std::process::ExitCode;

use millwright_models::data::cmapss::{CmapssData, Subset};
use millwright_models::data::default_data_dir;
use millwright_models::eval::steel::SteelModel;
use millwright_models::features::Stat;
use millwright_models::model::BoostingParams;
use millwright_models::tabular::Selection;
use millwright_models::{
    eval_ai4i, eval_cmapss, eval_cmapss_data, eval_secom, eval_steel_plates, Ai4iOptions,
    CmapssOptions, DefectAlgorithm, RulAlgorithm, SecomOptions, SteelOptions,
};

fn main() -> ExitCode {
    match run() {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("cmapss") => {
            let subset: Subset = flag("--subset").unwrap_or_else(|| "FD001".into()).parse()?;
            let dir = flag("--data")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_data_dir().join("cmapss"));
            let mut options = CmapssOptions::new(subset);
            if let Some(v) = flag("--trees") {
                options.model.trees = v.parse()?;
            }
            if let Some(v) = flag("--min-leaf") {
                options.model.min_leaf = v.parse()?;
            }
            if let Some(v) = flag("--cap") {
                options.model.cap = v.parse()?;
            }
            if let Some(v) = flag("--feature-fraction") {
                options.model.feature_fraction = v.parse()?;
            }
            if let Some(v) = flag("--depth") {
                options.model.max_depth = Some(v.parse()?);
            }
            if let Some(v) = flag("--algorithm") {
                options.model.algorithm = match v.as_str() {
                    "et" => RulAlgorithm::ExtraTrees,
                    _ => RulAlgorithm::RandomForest,
                };
            }
            if args.iter().any(|a| a == "--no-drift") {
                options.features.stats.retain(|&s| s != Stat::Drift);
            }
            if let Some(v) = flag("--windows") {
                options.features.windows = v
                    .split(',')
                    .map(|w| {
                        if w == "all" {
                            Ok(usize::MAX)
                        } else {
                            w.parse()
                        }
                    })
                    .collect::<Result<_, _>>()?;
            }
            if args.iter().any(|a| a == "--validate") {
                // Tune on training engines only: 20 % held out, cut at random cycles leaving at
                // most 150 (FD001) or 200 (FD002) cycles, like the official test files.
                let max_rul = if subset == Subset::Fd001 { 150 } else { 200 };
                let seed = flag("--validation-seed").map_or(Ok(7), |v| v.parse())?;
                let data = CmapssData::load(&dir, subset)?.validation_split(0.2, 21, max_rul, seed);
                return Ok(eval_cmapss_data(&data, &options)?.to_string());
            }
            Ok(eval_cmapss(&dir, &options)?.to_string())
        }
        Some("ai4i") => {
            let path = flag("--data")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_data_dir().join("ai4i2020/ai4i2020.csv"));
            let mut options = Ai4iOptions::default();
            if let Some(v) = flag("--trees") {
                options.model.trees = v.parse()?;
            }
            if let Some(v) = flag("--depth") {
                options.model.max_depth = Some(v.parse()?);
            }
            if let Some(v) = flag("--min-leaf") {
                options.model.min_leaf = v.parse()?;
            }
            Ok(eval_ai4i(&path, &options)?.to_string())
        }
        Some("secom") => {
            let dir = flag("--data")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_data_dir().join("secom"));
            let mut options = SecomOptions::default();
            if let Some(v) = flag("--algorithm") {
                options.model.algorithm = DefectAlgorithm::parse(&v).ok_or("--algorithm")?;
            }
            if let Some(v) = flag("--select") {
                options.model.preprocess.selection = match v.split_once(':') {
                    Some(("t", k)) => Selection::TopT(k.parse()?),
                    Some(("auc", k)) => Selection::TopAuc(k.parse()?),
                    _ => Selection::All,
                };
            }
            if let Some(v) = flag("--clip") {
                options.model.preprocess.clip = v.parse().ok();
            }
            if let Some(v) = flag("--alpha") {
                options.model.logistic.alpha = v.parse()?;
            }
            if let Some(v) = flag("--trees") {
                options.model.forest.trees = v.parse()?;
            }
            if let Some(v) = flag("--min-leaf") {
                options.model.forest.min_leaf = v.parse()?;
            }
            if let Some(v) = flag("--depth") {
                options.model.forest.max_depth = Some(v.parse()?);
            }
            if let Some(v) = flag("--feature-fraction") {
                options.model.forest.feature_proportion = v.parse()?;
            }
            if let Some(v) = flag("--inner-folds") {
                options.model.folds = v.parse()?;
            }
            if let Some(v) = flag("--seed") {
                options.seed = v.parse()?;
            }
            Ok(eval_secom(&dir, &options)?.to_string())
        }
        Some("steel-plates") => {
            let path = flag("--data")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_data_dir().join("steel-plates/steel_plates_faults.csv"));
            let mut options = SteelOptions::default();
            if let Some(v) = flag("--trees") {
                options.trees = v.parse()?;
            }
            if let Some(v) = flag("--m") {
                options.features_per_split = Some(v.parse()?);
            }
            if let Some(v) = flag("--min-leaf") {
                options.min_leaf = v.parse()?;
            }
            if let Some(v) = flag("--split-seed") {
                options.split_seed = v.parse()?;
            }
            if let Some(v) = flag("--seed") {
                options.seed = v.parse()?;
            }
            let mut boost = BoostingParams::default();
            if let Some(v) = flag("--rounds") {
                boost.rounds = v.parse()?;
            }
            if let Some(v) = flag("--lr") {
                boost.learning_rate = v.parse()?;
            }
            if let Some(v) = flag("--depth") {
                boost.max_depth = v.parse()?;
            }
            if let Some(v) = flag("--boost-min-leaf") {
                boost.min_leaf = v.parse()?;
            }
            if let Some(v) = flag("--row-sample") {
                boost.row_sample = v.parse()?;
            }
            if let Some(v) = flag("--feature-sample") {
                boost.feature_sample = v.parse()?;
            }
            options.model = if args.iter().any(|a| a == "--forest") {
                SteelModel::Forest
            } else {
                SteelModel::Boosting(boost)
            };
            if args.iter().any(|a| a == "--no-derived") {
                options.derived_features = false;
            }
            Ok(eval_steel_plates(&path, &options)?.to_string())
        }
        _ => Err(
            "usage: eval cmapss [--subset FD001|FD002] [--data DIR] | eval ai4i [--data FILE] | eval secom [--data DIR] | eval steel-plates [--data FILE]"
                .into(),
        ),
    }
}
