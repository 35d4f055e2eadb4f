//! Simple live data for the demo: every tag follows a slow sine with noise, counters count,
//! and everything is posted once a second to the ingest API, exactly as a connector would.

use std::time::Duration;

use chrono::Utc;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::plant::TagSpec;

/// One generated tag: platform name plus its signal shape.
pub(super) struct GeneratedTag {
    pub(super) name: String,
    pub(super) spec: TagSpec,
}

/// Posts one sample per tag per second to `api` until cancelled.
pub(super) async fn run(
    api: String,
    key: String,
    tags: Vec<GeneratedTag>,
    stop: CancellationToken,
) {
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut counter = 0u64;
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        counter += 1;
        let now = Utc::now();
        let phase = started.elapsed().as_secs_f64() / 60.0;
        let samples: Vec<_> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (_, _, base, amplitude) = t.spec;
                let value = if amplitude == 0.0 {
                    counter as f64
                } else {
                    base + amplitude * (phase + i as f64).sin()
                        + rng.gen_range(-0.1..0.1) * amplitude
                };
                json!({ "tag": t.name, "time": now.to_rfc3339(), "value": value })
            })
            .collect();
        let sent = client
            .post(format!("{api}/api/v1/ingest"))
            .bearer_auth(&key)
            .json(&json!({ "samples": samples }))
            .send()
            .await;
        if let Err(e) = sent.and_then(|r| r.error_for_status()) {
            tracing::warn!(error = %e, "Demo generator could not post samples.");
        }
    }
}
