//! The uplink: samples batched to the platform's ingest API, with store-and-forward.
//!
//! Live batches are sent as they fill (or every `flush_interval_ms`). A batch that cannot be
//! delivered (unreachable, timeout, 5xx, 429, 401) goes to the bounded [`queue::DiskQueue`],
//! which survives restarts. Queued batches are replayed oldest first, one request between live
//! batches, so replay drains the backlog without holding live data back. While the platform is
//! down, live batches go straight to the queue and replay probes it with capped exponential
//! backoff. The ingest API is idempotent on (tag, time), so at-least-once delivery (a batch
//! whose answer was lost is sent again) is exactly-once in effect. On shutdown, pending samples
//! are sent once more, or written to the queue.
//!
//! - [`client`]: one request, and what its answer means.
//! - [`commands`]: setpoint commands claimed from the platform and written to devices.
//! - [`queue`]: the on-disk queue.

pub mod client;
pub mod commands;
pub mod queue;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use serde::Serialize;
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};
use tracing::{error, info, warn};

use crate::{
    config::UplinkConfig,
    modbus::poller::Backoff,
    sample::{Quality, Sample, Value},
    Result,
};
use client::{IngestClient, Outcome};
use queue::DiskQueue;

/// Counters of an uplink, readable while it runs.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Samples received from drivers.
    pub received: AtomicU64,
    /// Samples confirmed by the platform (accepted, duplicate or rejected one by one).
    pub delivered: AtomicU64,
    /// Of those, samples the platform reported as duplicates.
    pub duplicates: AtomicU64,
    /// Samples written to the disk queue.
    pub queued: AtomicU64,
    /// Samples dropped by the queue's drop-oldest policy or refused for good.
    pub dropped: AtomicU64,
}

impl UplinkStats {
    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[derive(Serialize)]
struct WireSample<'a> {
    tag: &'a str,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<WireValue<'a>>,
    quality: Quality,
}

/// A value as the ingest API takes it: a number, or a string for text tags.
#[derive(Serialize)]
#[serde(untagged)]
enum WireValue<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'a> WireValue<'a> {
    /// The wire form of a value; `None` for a number that is not finite (sent as bad).
    fn of(v: &'a Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(WireValue::Text(s)),
            other => other
                .as_f64()
                .filter(|n| n.is_finite())
                .map(WireValue::Number),
        }
    }
}

#[derive(Serialize)]
struct WireBody<'a> {
    samples: Vec<WireSample<'a>>,
}

/// The JSON body of an ingest request for `samples`: numbers as JSON numbers, text as JSON
/// strings (the platform stores them for tags whose `value_type` is `text`). A sample without
/// a usable value (none, or a number that is not finite) goes as bad quality without value.
pub fn encode_batch(samples: &[Sample]) -> Vec<u8> {
    let body = WireBody {
        samples: samples
            .iter()
            .map(|s| {
                let value = s.value.as_ref().and_then(WireValue::of);
                let quality = if value.is_none() && s.quality != Quality::Bad {
                    Quality::Bad
                } else {
                    s.quality
                };
                WireSample {
                    tag: &s.tag,
                    time: s.time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                    value: if quality == Quality::Bad { None } else { value },
                    quality,
                }
            })
            .collect(),
    };
    serde_json::to_vec(&body).expect("samples serialise")
}

/// A running uplink's loop.
#[derive(Debug)]
pub struct Uplink {
    cfg: UplinkConfig,
    client: IngestClient,
    queue: DiskQueue,
    stats: Arc<UplinkStats>,
    down_until: Option<Instant>,
    backoff: Backoff,
    outage: Option<String>,
}

impl Uplink {
    /// Opens the queue and builds the client.
    pub fn new(cfg: UplinkConfig, stats: Arc<UplinkStats>) -> Result<Self> {
        let queue = DiskQueue::open(&cfg.queue_dir, cfg.queue_max_bytes)?;
        let client = IngestClient::with_ca(
            &cfg.platform_url,
            &cfg.token,
            Duration::from_millis(cfg.request_timeout_ms),
            cfg.ca_file.as_deref(),
        )?;
        Ok(Uplink {
            cfg,
            client,
            queue,
            stats,
            down_until: None,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(30)),
            outage: None,
        })
    }

    /// Runs until `input` closes or `shutdown` turns true; pending samples are queued on disk.
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Sample>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut pending: Vec<Sample> = Vec::with_capacity(self.cfg.batch_max_samples);
        let flush_every = Duration::from_millis(self.cfg.flush_interval_ms);
        let mut flush_at = Instant::now() + flush_every;
        let mut report = tokio::time::interval_at(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(60),
        );
        loop {
            let can_replay =
                !self.queue.is_empty() && self.down_until.is_none_or(|t| Instant::now() >= t);
            let replay_at = self.down_until.filter(|_| !self.queue.is_empty());
            tokio::select! {
                biased;
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
                s = input.recv() => match s {
                    Some(s) => {
                        self.stats.received.fetch_add(1, Ordering::Relaxed);
                        pending.push(s);
                        if pending.len() >= self.cfg.batch_max_samples {
                            self.live(std::mem::take(&mut pending)).await?;
                            flush_at = Instant::now() + flush_every;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(flush_at) => {
                    if !pending.is_empty() {
                        self.live(std::mem::take(&mut pending)).await?;
                    }
                    flush_at = Instant::now() + flush_every;
                }
                _ = report.tick() => {
                    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
                    info!(received = g(&self.stats.received), delivered = g(&self.stats.delivered), queued_batches = self.queue.len(),
                          queued_bytes = self.queue.bytes(), dropped = g(&self.stats.dropped), "Uplink status.");
                }
                _ = async {}, if can_replay => self.replay_one().await?,
                _ = tokio::time::sleep_until(replay_at.unwrap_or_else(Instant::now)), if replay_at.is_some() && !can_replay => {}
            }
        }
        // Keep what is still in memory for the next run.
        input.close();
        while let Ok(s) = input.try_recv() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            pending.push(s);
        }
        // One attempt to deliver the rest while the platform is up; what fails is queued.
        for chunk in pending.chunks(self.cfg.batch_max_samples) {
            self.live(chunk.to_vec()).await?;
        }
        info!(
            queued_batches = self.queue.len(),
            queued_bytes = self.queue.bytes(),
            "Uplink stopped; undelivered batches stay queued on disk."
        );
        Ok(())
    }

    fn enqueue(&mut self, samples: &[Sample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let before = self.queue.dropped_samples();
        self.queue.push(&encode_batch(samples), samples.len())?;
        self.stats
            .queued
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        self.stats
            .dropped
            .fetch_add(self.queue.dropped_samples() - before, Ordering::Relaxed);
        Ok(())
    }

    fn mark_down(&mut self, why: String) {
        let d = self.backoff.next_delay();
        self.down_until = Some(Instant::now() + d);
        if self.outage.is_none() {
            warn!(error = %why, retry_in_ms = d.as_millis() as u64, "Platform not taking samples; batches go to the disk queue.");
            self.outage = Some(why);
        }
    }

    fn mark_up(&mut self) {
        self.down_until = None;
        self.backoff.reset();
        if self.outage.take().is_some() {
            info!(
                queued_batches = self.queue.len(),
                "Platform takes samples again; replaying the disk queue."
            );
        }
    }

    fn delivered(&self, accepted: u64, duplicates: u64, rejected: u64) {
        self.stats
            .delivered
            .fetch_add(accepted + duplicates + rejected, Ordering::Relaxed);
        self.stats
            .duplicates
            .fetch_add(duplicates, Ordering::Relaxed);
    }

    /// Sends a live batch, or queues it while the platform is down.
    async fn live(&mut self, samples: Vec<Sample>) -> Result<()> {
        if self.down_until.is_some() {
            return self.enqueue(&samples);
        }
        let mut stack = vec![samples];
        while let Some(batch) = stack.pop() {
            match self.client.send(encode_batch(&batch)).await {
                Outcome::Delivered {
                    accepted,
                    duplicates,
                    rejected,
                } => {
                    self.mark_up();
                    self.delivered(accepted, duplicates, rejected);
                }
                Outcome::TooLarge if batch.len() > 1 => {
                    let (a, b) = batch.split_at(batch.len() / 2);
                    stack.push(b.to_vec());
                    stack.push(a.to_vec());
                }
                Outcome::TooLarge | Outcome::Refused(_) => {
                    error!(
                        samples = batch.len(),
                        "The platform refused a batch for good; it is dropped."
                    );
                    self.stats
                        .dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Outcome::Retry(why) => {
                    self.mark_down(why);
                    self.enqueue(&batch)?;
                    for rest in stack.drain(..) {
                        self.enqueue(&rest)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Replays the oldest queued batch.
    async fn replay_one(&mut self) -> Result<()> {
        let Some((entry, body)) = self.queue.peek()? else {
            return Ok(());
        };
        match self.client.send(body.clone()).await {
            Outcome::Delivered {
                accepted,
                duplicates,
                rejected,
            } => {
                self.queue.remove(entry.seq)?;
                self.mark_up();
                self.delivered(accepted, duplicates, rejected);
                if self.queue.is_empty() {
                    info!("Disk queue drained.");
                }
            }
            Outcome::TooLarge if entry.samples > 1 => {
                // Split the stored body in two and queue both halves at the end (order among
                // them is kept; ingest is idempotent and keyed by time, so order is cosmetic).
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let samples = v["samples"].as_array().cloned().unwrap_or_default();
                let (a, b) = samples.split_at(samples.len() / 2);
                for half in [a, b] {
                    let body =
                        serde_json::to_vec(&serde_json::json!({ "samples": half })).expect("json");
                    self.queue.push(&body, half.len())?;
                }
                self.queue.remove(entry.seq)?;
            }
            Outcome::TooLarge | Outcome::Refused(_) => {
                error!(
                    samples = entry.samples,
                    "The platform refused a queued batch for good; it is dropped."
                );
                self.stats
                    .dropped
                    .fetch_add(entry.samples as u64, Ordering::Relaxed);
                self.queue.remove(entry.seq)?;
            }
            Outcome::Retry(why) => self.mark_down(why),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn batches_carry_numbers_text_and_bad_samples() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let samples = [
            Sample::good("m.temp", t, Value::Number(21.5)),
            Sample::good("m.program", t, Value::Text("O1002 FLANGE".into())),
            Sample::good("m.running", t, Value::Bool(true)),
            Sample::good("m.broken", t, Value::Number(f64::NAN)),
            Sample::bad("m.gone", t),
        ];
        let body: serde_json::Value = serde_json::from_slice(&encode_batch(&samples)).unwrap();
        let s = &body["samples"];
        assert_eq!(s[0]["value"], 21.5);
        assert_eq!(s[1]["value"], "O1002 FLANGE");
        assert_eq!(s[1]["quality"], "good");
        assert_eq!(s[2]["value"], 1.0);
        // A value with no JSON form goes as bad, without value, like a sample never read.
        assert_eq!(
            (s[3].get("value"), &s[3]["quality"]),
            (None, &serde_json::json!("bad"))
        );
        assert_eq!(
            (s[4].get("value"), &s[4]["quality"]),
            (None, &serde_json::json!("bad"))
        );
        assert_eq!(s[0]["time"], "2026-03-01T08:00:00.000Z");
    }
}
