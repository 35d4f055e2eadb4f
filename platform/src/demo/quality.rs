//! The demo's quality engineer (issue #15): once the inspection records of a machine class are
//! enough to learn from, it trains a defect model through the API, exactly as a user would
//! (`POST /models/training-jobs` with `"kind": "defect"`), and promotes the version when its
//! hold-out AUC beats chance, so defect predictions and `defect` alarms appear in a short run.
//! A class whose job fails (too few records or too few defects yet) is tried again later.
//!
//! Before the first training it also puts two process parameters under SPC, each on its tag,
//! with the minutes run so far as the baseline period: a sewing station's thread tension (spec
//! 100–160 cN: puckering starts above 160) and a press's die gap (spec up to 0.25 mm: burrs
//! start beyond it). Both drift as the simulated machines wear, so the charts show it and the
//! SPC watch raises alarms.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// The classes with quality physics in the simulators.
const CLASSES: [&str; 5] = [
    "injection_moulding",
    "press",
    "sewing",
    "cutting_table",
    "cnc",
];
/// First attempt after this long: the simulators need a few minutes to make enough parts.
const FIRST_TRY: Duration = Duration::from_secs(240);
/// Between attempts for the classes still without a model.
const RETRY: Duration = Duration::from_secs(300);
/// Hold-out AUC a version needs to be promoted.
const MIN_AUC: f64 = 0.6;

/// Trains and promotes one defect model per class, until every class has one or `stop`.
pub(super) async fn train_defect_models(api: String, key: String, stop: CancellationToken) {
    let http = reqwest::Client::new();
    let mut promoted: BTreeSet<&str> = BTreeSet::new();
    let started = chrono::Utc::now();
    let mut wait = FIRST_TRY;
    let mut charted = false;
    while promoted.len() < CLASSES.len() {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = RETRY;
        if !charted {
            charted = true;
            if let Err(e) = put_under_spc(&http, &api, &key, started).await {
                tracing::warn!(error = %e, "The demo's SPC characteristics could not be created.");
            }
        }
        let missing: Vec<&str> = CLASSES
            .into_iter()
            .filter(|c| !promoted.contains(c))
            .collect();
        for class in missing {
            match train_and_promote(&http, &api, &key, class, &stop).await {
                Ok(Some(version)) => {
                    tracing::info!(class, version, "Demo defect model promoted.");
                    promoted.insert(class);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::info!(class, error = %e, "No demo defect model yet; trying again later.")
                }
            }
        }
    }
}

/// The demo's characteristics on tags: (tag name suffix, name, unit, lsl, usl).
const CHARACTERISTICS: [(&str, &str, &str, Option<f64>, f64); 2] = [
    (
        ".thread_tension",
        "thread tension",
        "cN",
        Some(100.0),
        160.0,
    ),
    (".die_gap", "die gap", "mm", None, 0.25),
];

/// Creates the demo's characteristics on the first tag of each kind, baseline from `started`
/// to now; one already there (a restarted demo) is left as it is.
async fn put_under_spc(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    started: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let tags = call(
        http,
        reqwest::Method::GET,
        api,
        key,
        "/tags?limit=1000",
        None,
    )
    .await?;
    let existing = call(
        http,
        reqwest::Method::GET,
        api,
        key,
        "/quality/characteristics",
        None,
    )
    .await?;
    let now = chrono::Utc::now();
    for (suffix, what, unit, lsl, usl) in CHARACTERISTICS {
        let Some(tag) = tags
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["name"].as_str().is_some_and(|n| n.ends_with(suffix)))
            .min_by_key(|t| t["name"].as_str().map(str::to_owned))
        else {
            continue;
        };
        let name = format!(
            "{} {what}",
            tag["name"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches(suffix)
        );
        if existing
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == name.as_str())
        {
            continue;
        }
        let body = json!({
            "name": name, "unit": unit, "tag_id": tag["id"], "lsl": lsl, "usl": usl,
            "chart": "i_mr", "rules": "western_electric",
            "baseline_from": started.to_rfc3339(), "baseline_to": now.to_rfc3339(),
        });
        let c = call(
            http,
            reqwest::Method::POST,
            api,
            key,
            "/quality/characteristics",
            Some(body),
        )
        .await?;
        tracing::info!(characteristic = %c["id"], name, "Demo characteristic under SPC.");
    }
    Ok(())
}

/// One training job for `class`; the promoted version's id, or `None` when its AUC is too low.
async fn train_and_promote(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    class: &str,
    stop: &CancellationToken,
) -> Result<Option<i64>, String> {
    let now = chrono::Utc::now();
    let body = json!({
        "machine_class": class, "kind": "defect", "trees": 50,
        "from": (now - chrono::Duration::days(1)).to_rfc3339(), "to": now.to_rfc3339(),
    });
    let job = call(
        http,
        reqwest::Method::POST,
        api,
        key,
        "/models/training-jobs",
        Some(body),
    )
    .await?;
    let path = format!("/models/training-jobs/{}", job["id"]);
    let job = loop {
        let j = call(http, reqwest::Method::GET, api, key, &path, None).await?;
        if j["status"] == "succeeded" || j["status"] == "failed" {
            break j;
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    };
    if job["status"] != "succeeded" {
        return Err(job["message"]
            .as_str()
            .unwrap_or("the job failed")
            .to_string());
    }
    let version = job["version_id"]
        .as_i64()
        .ok_or("the job names no version")?;
    let v = call(
        http,
        reqwest::Method::GET,
        api,
        key,
        &format!("/models/versions/{version}"),
        None,
    )
    .await?;
    let auc = v["metrics"]["auc"].as_f64().unwrap_or(0.5);
    if auc < MIN_AUC {
        tracing::info!(
            class,
            version,
            auc,
            "Demo defect model not promoted: too close to chance."
        );
        return Ok(None);
    }
    call(
        http,
        reqwest::Method::POST,
        api,
        key,
        &format!("/models/versions/{version}/promote"),
        None,
    )
    .await?;
    Ok(Some(version))
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    api: &str,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = http
        .request(method, format!("{api}/api/v1{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            v["detail"].as_str().unwrap_or_default()
        ));
    }
    Ok(v)
}
