//! One task per device: poll on its interval, decode, apply deadbands, mark tags bad on
//! failure, log once per outage, and reconnect with capped exponential backoff and jitter.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::{
    sync::{mpsc, watch},
    time::{Instant, MissedTickBehavior},
};
use tracing::{debug, info, warn};

use super::{
    coalesce::{self, ReadBlock},
    codec,
    config::{DataType, DeviceConfig, RegisterKind, TagConfig},
    link::{ReadData, SharedLink},
};
use crate::{
    driver::WriteCommand,
    sample::{Quality, Sample, Value},
    Error, Result,
};

/// Per-tag memory of what was last sent.
#[derive(Debug, Clone, Default)]
struct Last {
    quality: Option<Quality>,
    value: Option<Value>,
}

/// Capped exponential backoff with full jitter in the upper half: the n-th wait is uniform in
/// `[d/2, d]` with `d = min(initial × 2ⁿ, max)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, never waiting longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let d = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let ms = d.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }

    /// Back to the first wait after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A device's poll task.
#[derive(Debug)]
pub struct Poller {
    device: DeviceConfig,
    platform_tags: Vec<String>,
    blocks: Vec<ReadBlock>,
    link: SharedLink,
    last: Vec<Last>,
    failing: Option<String>,
    exceptions: Vec<Option<tokio_modbus::ExceptionCode>>,
    backoff: Backoff,
    retry_at: Option<Instant>,
}

impl Poller {
    /// A poller for `device` over `link`.
    pub fn new(device: DeviceConfig, link: SharedLink) -> Self {
        let blocks = coalesce::plan(
            &device.tags,
            device.max_gap,
            device.max_registers_per_read,
            device.max_bits_per_read,
        );
        let platform_tags = device
            .tags
            .iter()
            .map(|t| t.platform_tag(&device.name))
            .collect();
        let backoff = Backoff::new(
            Duration::from_millis(device.backoff_initial_ms),
            Duration::from_millis(device.backoff_max_ms),
        );
        Poller {
            last: vec![Last::default(); device.tags.len()],
            exceptions: vec![None; blocks.len()],
            device,
            platform_tags,
            blocks,
            link,
            failing: None,
            backoff,
            retry_at: None,
        }
    }

    /// The read requests one poll makes.
    pub fn blocks(&self) -> &[ReadBlock] {
        &self.blocks
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.device.timeout_ms)
    }

    /// Polls until `shutdown` turns true, serving write commands between polls.
    pub async fn run(
        mut self,
        out: mpsc::Sender<Sample>,
        mut commands: mpsc::Receiver<WriteCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // An interval of 0 polls back to back (benchmarks).
        let every = Duration::from_millis(self.device.poll_interval_ms.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let flat_out = self.device.poll_interval_ms == 0;
        loop {
            tokio::select! {
                _ = tick.tick(), if !flat_out => {
                    if self.poll_once(&out).await.is_err() {
                        return; // output closed
                    }
                }
                _ = tokio::task::yield_now(), if flat_out => {
                    if self.poll_once(&out).await.is_err() {
                        return; // output closed
                    }
                }
                Some(cmd) = commands.recv() => {
                    let r = self.write(&cmd.tag, &cmd.value).await;
                    let _ = cmd.reply.send(r);
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// One poll of every block. `Err` only when the output channel is closed.
    pub async fn poll_once(&mut self, out: &mpsc::Sender<Sample>) -> Result<(), ()> {
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return Ok(());
            }
        }
        let limit = self.timeout();
        for bi in 0..self.blocks.len() {
            let b = self.blocks[bi].clone();
            let r = self
                .link
                .lock()
                .await
                .read(self.device.unit_id, b.kind, b.start, b.count, limit)
                .await;
            let now = Utc::now();
            match r {
                Ok(data) => {
                    if let Some(code) = self.exceptions[bi].take() {
                        info!(device = %self.device.name, start = b.start, count = b.count, ?code, "Registers answer again after an exception.");
                    }
                    self.recovered();
                    for &ti in &b.tags {
                        let value = extract(&data, &b, &self.device.tags[ti]);
                        self.emit(out, ti, now, value).await?;
                    }
                }
                Err(Error::Exception(code)) => {
                    self.recovered();
                    if self.exceptions[bi] != Some(code) {
                        warn!(device = %self.device.name, kind = ?b.kind, start = b.start, count = b.count, ?code,
                              "Device answered a read with an exception; its tags are marked bad.");
                        self.exceptions[bi] = Some(code);
                    }
                    for &ti in &b.tags {
                        self.emit(out, ti, now, None).await?;
                    }
                }
                Err(e) => {
                    let delay = self.backoff.next_delay();
                    self.retry_at = Some(Instant::now() + delay);
                    if self.failing.is_none() {
                        warn!(device = %self.device.name, error = %e, retry_in_ms = delay.as_millis() as u64,
                              "Device stopped answering; its tags are marked bad until it is back.");
                        self.failing = Some(e.to_string());
                    } else {
                        debug!(device = %self.device.name, error = %e, retry_in_ms = delay.as_millis() as u64, "Device still not answering.");
                    }
                    for ti in 0..self.device.tags.len() {
                        self.emit(out, ti, now, None).await?;
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn recovered(&mut self) {
        self.retry_at = None;
        self.backoff.reset();
        if let Some(e) = self.failing.take() {
            info!(device = %self.device.name, previous_error = %e, "Device answers again.");
        }
    }

    async fn emit(
        &mut self,
        out: &mpsc::Sender<Sample>,
        ti: usize,
        time: chrono::DateTime<Utc>,
        value: Option<Value>,
    ) -> Result<(), ()> {
        let tag = &self.device.tags[ti];
        let quality = if value.is_some() {
            Quality::Good
        } else {
            Quality::Bad
        };
        let last = &mut self.last[ti];
        let send = match (&last.quality, &last.value, &value) {
            (Some(q), _, _) if *q != quality => true,
            (None, _, _) => true,
            (_, _, None) => false, // still bad: sent once on the transition
            (_, Some(Value::Number(a)), Some(Value::Number(b))) => {
                tag.deadband <= 0.0 || (a - b).abs() > tag.deadband
            }
            (_, Some(a), Some(b)) => tag.deadband <= 0.0 || a != b,
            (_, None, Some(_)) => true,
        };
        if !send {
            return Ok(());
        }
        last.quality = Some(quality);
        last.value = value.clone();
        let sample = Sample {
            tag: self.platform_tags[ti].clone(),
            time,
            value,
            quality,
        };
        out.send(sample).await.map_err(|_| ())
    }

    /// Writes an engineering value to a writable tag, encoded like reads.
    pub async fn write(&mut self, tag: &str, value: &Value) -> Result<()> {
        let t = self
            .device
            .tags
            .iter()
            .find(|t| t.name == tag)
            .ok_or_else(|| {
                Error::NotFound(format!("tag {tag:?} on device {:?}", self.device.name))
            })?
            .clone();
        if !t.writable {
            return Err(Error::Write(format!("tag {tag:?} is not marked writable")));
        }
        let limit = self.timeout();
        let unit = self.device.unit_id;
        let mut link = self.link.lock().await;
        let r = match t.kind {
            RegisterKind::Coil => {
                let on = match value {
                    Value::Bool(b) => *b,
                    Value::Number(n) => *n != 0.0,
                    Value::Text(_) => return Err(Error::Write("a coil takes a bool".into())),
                };
                link.write_coils(unit, t.address, &[on], limit).await
            }
            RegisterKind::Holding => {
                let raw = codec::from_engineering(value, &t);
                let words = codec::encode(&raw, t.data_type, t.order, t.length)?;
                link.write_registers(unit, t.address, &words, limit).await
            }
            _ => return Err(Error::Write(format!("tag {tag:?} is read-only"))),
        };
        drop(link);
        match &r {
            Ok(()) => info!(device = %self.device.name, tag, %value, "Wrote a setpoint."),
            Err(e) => warn!(device = %self.device.name, tag, %value, error = %e, "Write failed."),
        }
        r
    }
}

/// The engineering value of a tag inside a block's data.
pub fn extract(data: &ReadData, block: &ReadBlock, tag: &TagConfig) -> Option<Value> {
    let off = usize::from(tag.address - block.start);
    match data {
        ReadData::Bits(bits) => bits.get(off).map(|b| Value::Bool(*b)),
        ReadData::Words(words) => {
            let n = usize::from(tag.span());
            let w = words.get(off..off + n)?;
            if tag.data_type == DataType::Bool {
                return Some(Value::Bool(w[0] != 0));
            }
            codec::decode(w, tag.data_type, tag.order)
                .ok()
                .map(|raw| codec::to_engineering(raw, tag))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let waits: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        for (i, w) in waits.iter().enumerate() {
            let cap = (100u128 << i).min(1000);
            assert!(
                *w >= cap / 2 && *w <= cap,
                "wait {i}: {w} ms outside [{}, {cap}]",
                cap / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
