//! The uplink: samples batched to the platform's ingest API, with store-and-forward.
//!
//! Live batches are sent as they fill (or every `flush_interval_ms`). A batch that cannot be
//! delivered (unreachable, timeout, 5xx, 429, 401) goes to the bounded [`queue::DiskQueue`],
//! which survives restarts. Queued batches are replayed oldest first, one request between live
//! batches, so replay drains the backlog without holding live data back: the platform orders
//! samples by sample time, not by arrival, and a live batch may arrive between replayed ones.
//!
//! **Outages.** While the platform is down, live batches go straight to the queue, and the
//! oldest queued batch is sent again as a probe every 250 ms to 1 s (a short capped backoff):
//! the first probe the platform answers ends the outage, and live batches flow at once. While
//! the platform answers, nothing is dropped: the queue only grows while requests fail.
//!
//! **One request in flight.** Requests run beside the loop, which keeps taking samples. A
//! batch cut while a request has been in flight for longer than `flush_interval_ms` (a
//! stalled platform) goes to the disk queue instead of waiting in memory, so a connector
//! killed during a stall loses at most the batch in flight plus one flush interval, not
//! everything behind the request's timeout.
//!
//! **Durable mode** (`uplink.durable = true`): every sample is also appended to a journal and
//! synced to disk as it arrives ([`journal`]), and each cut batch goes through the disk queue;
//! a connector killed at any moment loses nothing that reached the uplink.
//!
//! The ingest API is idempotent on (tag, time), so at-least-once delivery (a batch whose answer
//! was lost is sent again) is exactly-once in effect; the platform counts such samples as
//! duplicates. On shutdown, pending samples are sent once more, or written to the queue, and
//! the counters are logged once.
//!
//! - [`client`]: one request, and what its answer means.
//! - [`commands`]: setpoint commands claimed from the platform and written to devices.
//! - [`queue`]: the on-disk queue.
//! - [`journal`]: the durable mode's journal.

pub mod client;
pub mod commands;
pub mod journal;
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
use tracing::{debug, error, info, warn};

use crate::{
    config::UplinkConfig,
    modbus::poller::Backoff,
    sample::{Quality, Sample, Value},
    Result,
};
use client::{IngestClient, Outcome};
use journal::Journal;
use queue::{DiskQueue, Dropped};

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
    /// Of the delivered samples, those sent from the disk queue.
    pub replayed: AtomicU64,
    /// Requests that failed and will be retried (outages, stalls).
    pub failed_requests: AtomicU64,
    /// Samples recovered at start from the journal a killed run left (durable mode).
    pub recovered: AtomicU64,
}

impl UplinkStats {
    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// All counters as `(name, value)`, in the order the logs print them.
    pub fn snapshot(&self) -> [(&'static str, u64); 8] {
        let g = Self::get;
        [
            ("received", g(&self.received)),
            ("delivered", g(&self.delivered)),
            ("duplicates", g(&self.duplicates)),
            ("queued", g(&self.queued)),
            ("replayed", g(&self.replayed)),
            ("dropped", g(&self.dropped)),
            ("failed_requests", g(&self.failed_requests)),
            ("recovered", g(&self.recovered)),
        ]
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
        samples: samples.iter().map(wire).collect(),
    };
    serde_json::to_vec(&body).expect("samples serialise")
}

/// One sample in its wire form as a JSON object (a line of the durable mode's journal).
pub fn encode_sample(sample: &Sample) -> Vec<u8> {
    serde_json::to_vec(&wire(sample)).expect("sample serialises")
}

fn wire(s: &Sample) -> WireSample<'_> {
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
}

/// Longest wait between two probes of a platform that is down.
pub const PROBE_MAX: Duration = Duration::from_secs(1);
/// A burst of queue drops ends after this long without another drop (its summary is logged).
pub const DROP_BURST_QUIET: Duration = Duration::from_secs(30);

/// What a request in flight carries.
#[derive(Debug)]
enum Sent {
    /// A live batch (kept until the answer, to queue it if the answer is a failure).
    Live(Vec<Sample>),
    /// The oldest queued batch and its body.
    Replay(queue::Entry, Vec<u8>),
}

/// The one request in flight.
#[derive(Debug)]
struct Inflight {
    sent: Sent,
    started: Instant,
    answer: tokio::task::JoinHandle<Outcome>,
}

/// An outage of the platform, from the first failed request to the first answered one.
#[derive(Debug)]
struct Down {
    since: Instant,
    why: String,
    failures: u64,
    next_probe: Instant,
}

/// Queue drops since the first of a burst (logged once at its start, summarised at its end).
#[derive(Debug)]
struct DropBurst {
    since: Instant,
    last: Instant,
    dropped: Dropped,
}

/// A running uplink's loop.
#[derive(Debug)]
pub struct Uplink {
    cfg: UplinkConfig,
    client: IngestClient,
    queue: DiskQueue,
    journal: Option<Journal>,
    stats: Arc<UplinkStats>,
    down: Option<Down>,
    backoff: Backoff,
    drops: Option<DropBurst>,
    flush_due: bool,
}

impl Uplink {
    /// Opens the queue (and in durable mode the journal, queueing what a killed run left in
    /// it) and builds the client.
    pub fn new(cfg: UplinkConfig, stats: Arc<UplinkStats>) -> Result<Self> {
        let mut queue = DiskQueue::open(&cfg.queue_dir, cfg.queue_max_bytes)?;
        let journal = if cfg.durable {
            let (mut j, left) = Journal::open(&cfg.queue_dir)?;
            if !left.is_empty() {
                info!(
                    samples = left.len(),
                    "Found samples a killed run left in the journal; queueing them."
                );
                for chunk in left.chunks(cfg.batch_max_samples.max(1)) {
                    queue.push(&journal::body_of(chunk), chunk.len())?;
                }
                stats
                    .recovered
                    .fetch_add(left.len() as u64, Ordering::Relaxed);
                j.clear()?;
            }
            Some(j)
        } else {
            None
        };
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
            journal,
            stats,
            down: None,
            backoff: Backoff::new(Duration::from_millis(250), PROBE_MAX),
            drops: None,
            flush_due: false,
        })
    }

    /// True while requests wait for the next probe.
    fn waiting(&self) -> bool {
        self.down
            .as_ref()
            .is_some_and(|d| Instant::now() < d.next_probe)
    }

    /// Runs until `input` closes or `shutdown` turns true; pending samples are queued on disk.
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Sample>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut pending: Vec<Sample> = Vec::with_capacity(self.cfg.batch_max_samples);
        let mut inflight: Option<Inflight> = None;
        let flush_every = Duration::from_millis(self.cfg.flush_interval_ms);
        let mut flush_at = Instant::now() + flush_every;
        let mut report = tokio::time::interval_at(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let mut got: Vec<Sample> = Vec::new();
        loop {
            let can_replay = inflight.is_none() && !self.queue.is_empty() && !self.waiting();
            // The wake-up for the next probe (only while it lies ahead: once due, the next
            // replay or live batch is the probe).
            let probe_at = self
                .down
                .as_ref()
                .map(|d| d.next_probe)
                .filter(|t| *t > Instant::now());
            tokio::select! {
                biased;
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
                answer = wait(&mut inflight), if inflight.is_some() => {
                    let done = inflight.take().expect("in flight");
                    self.settle(done.sent, answer)?;
                    if self.flush_due {
                        self.flush(&mut pending, &mut inflight)?;
                        flush_at = Instant::now() + flush_every;
                    }
                }
                s = input.recv() => match s {
                    Some(s) => {
                        got.push(s);
                        // Take what else is waiting, up to a batch, then journal it in one write.
                        while got.len() < self.cfg.batch_max_samples {
                            match input.try_recv() {
                                Ok(s) => got.push(s),
                                Err(_) => break,
                            }
                        }
                        self.stats.received.fetch_add(got.len() as u64, Ordering::Relaxed);
                        if let Some(j) = &mut self.journal {
                            let lines: Vec<Vec<u8>> = got.iter().map(encode_sample).collect();
                            j.append(lines.iter().map(Vec::as_slice))?;
                        }
                        pending.append(&mut got);
                        if pending.len() >= self.cfg.batch_max_samples {
                            self.flush(&mut pending, &mut inflight)?;
                            flush_at = Instant::now() + flush_every;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(flush_at) => {
                    self.flush(&mut pending, &mut inflight)?;
                    flush_at = Instant::now() + flush_every;
                    self.end_drop_burst(false);
                }
                _ = report.tick() => {
                    let [r, d, dup, q, rp, dr, f, rc] = self.stats.snapshot().map(|(_, v)| v);
                    info!(received = r, delivered = d, duplicates = dup, queued = q, replayed = rp, dropped = dr,
                          failed_requests = f, recovered = rc, queued_batches = self.queue.len(),
                          queued_bytes = self.queue.bytes(), "Uplink status.");
                }
                _ = async {}, if can_replay => {
                    inflight = Some(self.start_replay()?);
                }
                _ = tokio::time::sleep_until(probe_at.unwrap_or_else(Instant::now)), if probe_at.is_some() && !can_replay && inflight.is_none() => {
                    // Time to probe: the next replay or live batch does it.
                }
            }
        }
        // Keep what is still in memory for the next run.
        input.close();
        while let Ok(s) = input.try_recv() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            if let Some(j) = &mut self.journal {
                j.append([encode_sample(&s).as_slice()])?;
            }
            pending.push(s);
        }
        if let Some(mut done) = inflight.take() {
            let answer = (&mut done.answer).await;
            self.settle(done.sent, answer)?;
        }
        // One attempt to deliver the rest while the platform is up; what fails is queued.
        if self.journal.is_some() {
            let before = self.queue.len();
            self.flush(&mut pending, &mut inflight)?;
            // Durable: the last batches went to the queue; send those (oldest first) now.
            for _ in 0..(self.queue.len().saturating_sub(before) + 1) {
                if self.queue.is_empty() || self.down.is_some() {
                    break;
                }
                let mut f = self.start_replay()?;
                let answer = (&mut f.answer).await;
                self.settle(f.sent, answer)?;
            }
        } else {
            for chunk in pending.chunks(self.cfg.batch_max_samples) {
                if self.down.is_some() {
                    self.enqueue(chunk)?;
                    continue;
                }
                let answer = self.client.send(encode_batch(chunk)).await;
                self.settle(Sent::Live(chunk.to_vec()), Ok(answer))?;
            }
        }
        self.end_drop_burst(true);
        let [r, d, dup, q, rp, dr, f, rc] = self.stats.snapshot().map(|(_, v)| v);
        info!(
            received = r,
            delivered = d,
            duplicates = dup,
            queued = q,
            replayed = rp,
            dropped = dr,
            failed_requests = f,
            recovered = rc,
            queued_batches = self.queue.len(),
            queued_bytes = self.queue.bytes(),
            journal_syncs = self.journal.as_ref().map_or(0, |j| j.syncs),
            "Uplink stopped; undelivered batches stay queued on disk."
        );
        Ok(())
    }

    /// Cuts the pending batch: sends it, or queues it (platform down, a stalled request in
    /// flight, durable mode), or leaves it for when the request in flight answers.
    fn flush(&mut self, pending: &mut Vec<Sample>, inflight: &mut Option<Inflight>) -> Result<()> {
        self.flush_due = false;
        if pending.is_empty() {
            return Ok(());
        }
        if self.journal.is_some() {
            // Durable: through the queue, whose files survive a kill; then the journal empties.
            for chunk in pending.chunks(self.cfg.batch_max_samples) {
                self.enqueue(chunk)?;
            }
            pending.clear();
            if let Some(j) = &mut self.journal {
                j.clear()?;
            }
            return Ok(());
        }
        if self.waiting() {
            return self.enqueue(&std::mem::take(pending));
        }
        if let Some(f) = inflight {
            let stalled = f.started.elapsed() >= Duration::from_millis(self.cfg.flush_interval_ms);
            if stalled || pending.len() >= 2 * self.cfg.batch_max_samples {
                debug!(
                    in_flight_ms = f.started.elapsed().as_millis() as u64,
                    samples = pending.len(),
                    "A request is still in flight; the batch goes to the disk queue."
                );
                return self.enqueue(&std::mem::take(pending));
            }
            self.flush_due = true;
            return Ok(());
        }
        let batch: Vec<Sample> = if pending.len() > self.cfg.batch_max_samples {
            let rest = pending.split_off(self.cfg.batch_max_samples);
            std::mem::replace(pending, rest)
        } else {
            std::mem::take(pending)
        };
        self.flush_due = !pending.is_empty();
        *inflight = Some(self.start(Sent::Live(batch)));
        Ok(())
    }

    fn start(&self, sent: Sent) -> Inflight {
        let body = match &sent {
            Sent::Live(samples) => encode_batch(samples),
            Sent::Replay(_, body) => body.clone(),
        };
        let client = self.client.clone();
        Inflight {
            sent,
            started: Instant::now(),
            answer: tokio::spawn(async move { client.send(body).await }),
        }
    }

    fn start_replay(&mut self) -> Result<Inflight> {
        let (entry, body) = self.queue.peek()?.expect("replay only with a queued batch");
        Ok(self.start(Sent::Replay(entry, body)))
    }

    fn enqueue(&mut self, samples: &[Sample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let d = self.queue.push(&encode_batch(samples), samples.len())?;
        self.stats
            .queued
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        self.note_drops(d);
        Ok(())
    }

    /// Counts queue drops; the first of a burst is logged, the rest when the burst ends.
    fn note_drops(&mut self, d: Dropped) {
        if d.batches == 0 {
            return;
        }
        self.stats.dropped.fetch_add(d.samples, Ordering::Relaxed);
        let now = Instant::now();
        match &mut self.drops {
            Some(b) => {
                b.last = now;
                b.dropped.batches += d.batches;
                b.dropped.samples += d.samples;
            }
            None => {
                warn!(dir = %self.queue.dir().display(), max_bytes = self.queue.max_bytes(), batches = d.batches, samples = d.samples,
                      "Disk queue full: dropping the oldest batches to make room (policy drop-oldest); one summary follows when the drops stop.");
                self.drops = Some(DropBurst {
                    since: now,
                    last: now,
                    dropped: d,
                });
            }
        }
    }

    /// Logs the summary of a burst of drops once none happened for a while (or at shutdown).
    fn end_drop_burst(&mut self, now: bool) {
        let over = self
            .drops
            .as_ref()
            .is_some_and(|b| now || b.last.elapsed() >= DROP_BURST_QUIET);
        if over {
            let b = self.drops.take().expect("burst");
            warn!(
                batches = b.dropped.batches,
                samples = b.dropped.samples,
                over_ms = b.last.duration_since(b.since).as_millis() as u64,
                total_dropped_samples = UplinkStats::get(&self.stats.dropped),
                "Disk queue drops ended: summary of the burst."
            );
        }
    }

    fn mark_down(&mut self, why: String) {
        self.stats.failed_requests.fetch_add(1, Ordering::Relaxed);
        let next_probe = Instant::now() + self.backoff.next_delay();
        match &mut self.down {
            Some(d) => {
                d.failures += 1;
                d.next_probe = next_probe;
                debug!(error = %why, "Platform still not taking samples.");
            }
            None => {
                warn!(error = %why, "Platform not taking samples; batches go to the disk queue and the platform is probed every second at most.");
                self.down = Some(Down {
                    since: Instant::now(),
                    why,
                    failures: 1,
                    next_probe,
                });
            }
        }
    }

    fn mark_up(&mut self) {
        self.backoff.reset();
        if let Some(d) = self.down.take() {
            info!(
                outage_ms = d.since.elapsed().as_millis() as u64,
                failed_requests = d.failures,
                first_error = %d.why,
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

    /// Acts on the answer to a request.
    fn settle(
        &mut self,
        sent: Sent,
        answer: std::result::Result<Outcome, tokio::task::JoinError>,
    ) -> Result<()> {
        let outcome =
            answer.unwrap_or_else(|e| Outcome::Retry(format!("request task failed: {e}")));
        match (sent, outcome) {
            (
                sent,
                Outcome::Delivered {
                    accepted,
                    duplicates,
                    rejected,
                },
            ) => {
                self.mark_up();
                self.delivered(accepted, duplicates, rejected);
                if let Sent::Replay(entry, _) = sent {
                    self.stats
                        .replayed
                        .fetch_add(entry.samples as u64, Ordering::Relaxed);
                    self.queue.remove(entry.seq)?;
                    if self.queue.is_empty() {
                        info!("Disk queue drained.");
                    }
                }
            }
            (Sent::Live(batch), Outcome::TooLarge) if batch.len() > 1 => {
                // Both halves through the queue; replay splits further if needed.
                self.mark_up();
                let (a, b) = batch.split_at(batch.len() / 2);
                self.enqueue(a)?;
                self.enqueue(b)?;
            }
            (Sent::Replay(entry, body), Outcome::TooLarge) if entry.samples > 1 => {
                self.mark_up();
                // Split the stored body in two and queue both halves at the end.
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let samples = v["samples"].as_array().cloned().unwrap_or_default();
                let (a, b) = samples.split_at(samples.len() / 2);
                for half in [a, b] {
                    let body =
                        serde_json::to_vec(&serde_json::json!({ "samples": half })).expect("json");
                    let d = self.queue.push(&body, half.len())?;
                    self.note_drops(d);
                }
                self.queue.remove(entry.seq)?;
            }
            (sent, Outcome::TooLarge | Outcome::Refused(_)) => {
                self.mark_up();
                let n = match &sent {
                    Sent::Live(b) => b.len(),
                    Sent::Replay(e, _) => e.samples,
                };
                error!(
                    samples = n,
                    "The platform refused a batch for good; it is dropped."
                );
                self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
                if let Sent::Replay(entry, _) = sent {
                    self.queue.remove(entry.seq)?;
                }
            }
            (sent, Outcome::Retry(why)) => {
                self.mark_down(why);
                if let Sent::Live(batch) = sent {
                    self.enqueue(&batch)?;
                }
            }
        }
        Ok(())
    }
}

/// The answer of the request in flight (pending forever when there is none).
async fn wait(
    inflight: &mut Option<Inflight>,
) -> std::result::Result<Outcome, tokio::task::JoinError> {
    match inflight {
        Some(f) => (&mut f.answer).await,
        None => std::future::pending().await,
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
