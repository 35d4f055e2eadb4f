//! One task per server: connect, subscribe and poll, and recover. A dropped connection marks
//! every tag bad once (no invented values) while async-opcua reconnects and transfers or
//! recreates the subscription; a subscription that stops publishing (not even keep-alives) is
//! taken as lost and the session is rebuilt. One log line per outage, not per retry.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::Utc;
use opcua::types::{AttributeId, NodeId, ReadValueId};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::{
    config::{Acquisition, DeadbandKind, ServerConfig},
    limits,
    quality::sample_of,
    session::{self, Connected, LinkEvent},
    subscription::{self, Notification, NOTIFICATION_CHANNEL},
    write,
};
use crate::{
    driver::WriteCommand,
    modbus::poller::Backoff,
    sample::{Quality, Sample, Value},
    Error,
};

/// Counters of all OPC UA connections in this process (tests and benchmarks read them).
#[derive(Debug, Default)]
pub struct OpcUaStats {
    /// Sessions established (first connects and rebuilds, not async-opcua's own reconnects).
    pub sessions: AtomicU64,
    /// Reconnects done by async-opcua (session reactivated or recreated).
    pub reconnects: AtomicU64,
    /// Values dropped because the driver could not keep up with the subscription.
    pub dropped: Arc<AtomicU64>,
    /// Sessions alive right now: must come back to the number of servers after any number of
    /// reconnects (the reconnect test checks it).
    pub live_sessions: AtomicUsize,
}

/// Why [`ServerTask::serve`] returned.
enum Next {
    Stop,
    Rebuild,
}

/// The task of one server.
#[derive(Debug)]
pub struct ServerTask {
    cfg: ServerConfig,
    platform_tags: Vec<String>,
    nodes: Vec<Option<NodeId>>,
    last: Vec<(Option<Quality>, Option<Value>)>,
    /// Source timestamp of the last value sent per polled tag.
    last_source: Vec<Option<chrono::DateTime<Utc>>>,
    stats: Arc<OpcUaStats>,
}

impl ServerTask {
    /// A task for `cfg` (validated).
    pub fn new(cfg: ServerConfig, stats: Arc<OpcUaStats>) -> Self {
        let platform_tags = cfg.tags.iter().map(|t| t.platform_tag(&cfg.name)).collect();
        let nodes = cfg.tags.iter().map(|t| t.node_id.parse().ok()).collect();
        ServerTask {
            last: vec![(None, None); cfg.tags.len()],
            last_source: vec![None; cfg.tags.len()],
            cfg,
            platform_tags,
            nodes,
            stats,
        }
    }

    /// Runs until `shutdown` turns true or the output closes, serving setpoint writes while
    /// connected (refused at once while not: a late write is worse than a failed one).
    pub async fn run(
        mut self,
        out: mpsc::Sender<Sample>,
        mut commands: mpsc::Receiver<WriteCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff::new(
            Duration::from_millis(self.cfg.backoff_initial_ms),
            Duration::from_millis(self.cfg.backoff_max_ms),
        );
        let mut outage: Option<String> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let r = tokio::select! {
                r = session::connect(&self.cfg) => r,
                _ = shutdown.changed() => return,
            };
            match r {
                Ok(conn) => {
                    backoff.reset();
                    self.stats.sessions.fetch_add(1, Ordering::Relaxed);
                    match outage.take() {
                        Some(e) => {
                            info!(server = %self.cfg.name, previous_error = %e, "OPC UA server answers again.")
                        }
                        None => {
                            info!(server = %self.cfg.name, url = %self.cfg.endpoint_url,
                                  tags = self.cfg.tags.len(), "Connected to OPC UA server.")
                        }
                    }
                    self.stats.live_sessions.fetch_add(1, Ordering::Relaxed);
                    let next = self.serve(conn, &out, &mut commands, &mut shutdown).await;
                    self.stats.live_sessions.fetch_sub(1, Ordering::Relaxed);
                    match next {
                        Ok(Next::Stop) | Err(()) => return,
                        Ok(Next::Rebuild) => continue,
                    }
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    if outage.is_none() {
                        warn!(server = %self.cfg.name, error = %e, retry_in_ms = delay.as_millis() as u64,
                              "OPC UA server unreachable; its tags are marked bad until it is back.");
                        outage = Some(e.to_string());
                    } else {
                        debug!(server = %self.cfg.name, error = %e, "OPC UA server still unreachable.");
                    }
                    if self.all_bad(&out).await.is_err() {
                        return;
                    }
                    let sleep = tokio::time::sleep(delay);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            _ = &mut sleep => break,
                            Some(cmd) = commands.recv() => {
                                let _ = cmd.reply.send(Err(Error::Write(format!(
                                    "OPC UA server {:?} is not connected", self.cfg.name
                                ))));
                            }
                            _ = shutdown.changed() => return,
                        }
                    }
                }
            }
        }
    }

    async fn serve(
        &mut self,
        mut conn: Connected,
        out: &mpsc::Sender<Sample>,
        commands: &mut mpsc::Receiver<WriteCommand>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Next, ()> {
        let (tx, mut rx) = mpsc::channel(NOTIFICATION_CHANNEL);
        let mut subscribed = Vec::new();
        let mut polled = Vec::new();
        for (i, t) in self.cfg.tags.iter().enumerate() {
            let Some(node) = self.nodes[i].clone() else {
                continue;
            };
            match t.acquisition {
                Acquisition::Subscribe => subscribed.push((i, node)),
                Acquisition::Poll => polled.push((i, node)),
            }
        }
        if !subscribed.is_empty() {
            match subscription::create(
                &conn.session,
                &self.cfg,
                &subscribed,
                &conn.limits,
                tx,
                self.stats.dropped.clone(),
            )
            .await
            {
                Ok((_, refused)) => {
                    let now = Utc::now();
                    for (i, _) in refused {
                        self.emit(out, i, Sample::bad(self.platform_tags[i].clone(), now))
                            .await?;
                    }
                }
                Err(e) => {
                    warn!(server = %self.cfg.name, error = %e, "Could not create the subscription; reconnecting.");
                    self.all_bad(out).await?;
                    conn.close().await;
                    tokio::time::sleep(Duration::from_millis(self.cfg.backoff_initial_ms)).await;
                    return Ok(Next::Rebuild);
                }
            }
        }
        let reads: Vec<ReadValueId> = polled
            .iter()
            .map(|(_, n)| ReadValueId {
                node_id: n.clone(),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        let mut poll = tokio::time::interval(Duration::from_millis(self.cfg.poll_interval_ms));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A subscription publishes at least a keep-alive every keep_alive_count intervals;
        // silence for three of those means the server lost it without telling us.
        let silence_ms = (self.cfg.publishing_interval_ms * u64::from(self.cfg.keep_alive_count))
            .saturating_mul(3)
            .max(1000) as i64;
        let mut watchdog = tokio::time::interval(Duration::from_millis(silence_ms as u64 / 3));
        let mut connected = true;
        let mut batch = Vec::with_capacity(4096);
        let mut notes_open = true;
        let mut dropped_seen = self.stats.dropped.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, 4096), if notes_open => {
                    if n == 0 {
                        notes_open = false; // the subscription's callback is gone
                        continue;
                    }
                    // Batches: one wake-up per burst of a publish, not one per value.
                    let now = Utc::now();
                    for note in batch.drain(..) {
                        match note {
                            Notification::Data(i, dv) => {
                                if i < self.platform_tags.len() {
                                    let s = sample_of(&self.platform_tags[i], &dv, now);
                                    self.emit(out, i, s).await?;
                                }
                            }
                            Notification::Status(status) if status.is_bad() => {
                                warn!(server = %self.cfg.name, %status, "The server ended the subscription; rebuilding the session.");
                                self.all_bad(out).await?;
                                conn.close().await;
                                return Ok(Next::Rebuild);
                            }
                            Notification::Status(_) => {}
                        }
                    }
                }
                _ = poll.tick(), if connected && !reads.is_empty() => {
                    let r = limits::read_chunked(&conn.session, &conn.limits, &reads).await;
                    let now = Utc::now();
                    match r {
                        Ok(values) => {
                            for ((i, _), dv) in polled.iter().zip(values) {
                                let s = sample_of(&self.platform_tags[*i], &dv, now);
                                let source = dv.source_timestamp.as_ref().map(|t| t.as_chrono());
                                if self.unchanged(*i, &s, source) {
                                    continue;
                                }
                                self.last_source[*i] = source;
                                self.emit(out, *i, s).await?;
                            }
                        }
                        Err(e) => {
                            debug!(server = %self.cfg.name, error = %e, "Polling read failed.");
                            for (i, _) in &polled {
                                self.emit(out, *i, Sample::bad(self.platform_tags[*i].clone(), now)).await?;
                            }
                        }
                    }
                }
                Some(cmd) = commands.recv() => {
                    let r = match self.cfg.tags.iter().find(|t| t.name == cmd.tag) {
                        None => Err(Error::NotFound(format!("tag {:?} on server {:?}", cmd.tag, self.cfg.name))),
                        Some(_) if !connected => Err(Error::Write(format!(
                            "OPC UA server {:?} is not connected", self.cfg.name
                        ))),
                        Some(t) => write::write(&conn.session, t, &cmd.value).await,
                    };
                    match &r {
                        Ok(()) => info!(server = %self.cfg.name, tag = %cmd.tag, value = %cmd.value, "Wrote a setpoint."),
                        Err(e) => warn!(server = %self.cfg.name, tag = %cmd.tag, value = %cmd.value, error = %e, "Write failed."),
                    }
                    let _ = cmd.reply.send(r);
                }
                _ = watchdog.tick(), if connected && !subscribed.is_empty() => {
                    let dropped = self.stats.dropped.load(Ordering::Relaxed);
                    if dropped > dropped_seen {
                        warn!(server = %self.cfg.name, dropped = dropped - dropped_seen,
                              "Values arrived faster than they could be forwarded; some were dropped.");
                        dropped_seen = dropped;
                    }
                    let silent = session::now_ms() - conn.last_publish_ms.load(Ordering::Relaxed);
                    if silent > silence_ms {
                        warn!(server = %self.cfg.name, silent_ms = silent,
                              "The subscription stopped publishing (no keep-alive); rebuilding the session.");
                        self.all_bad(out).await?;
                        conn.close().await;
                        return Ok(Next::Rebuild);
                    }
                }
                ev = conn.events.recv() => match ev {
                    Some(LinkEvent::Lost(status)) => {
                        connected = false;
                        warn!(server = %self.cfg.name, %status,
                              "Connection to the OPC UA server lost; its tags are marked bad while reconnecting.");
                        self.all_bad(out).await?;
                    }
                    Some(LinkEvent::Back { reactivated: false }) => {
                        connected = true;
                        conn.last_publish_ms.store(session::now_ms(), Ordering::Relaxed);
                        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        // async-opcua 0.19 starts a fresh publish loop after a reconnect that
                        // waits for a trigger it never gets: trigger it, or the transferred or
                        // recreated subscription stays silent. The watchdog stays as safety net.
                        conn.session.trigger_publish_now();
                        info!(server = %self.cfg.name,
                              "Reconnected to the OPC UA server with a new session; subscription transferred or recreated.");
                    }
                    Some(LinkEvent::Back { reactivated: true }) => {
                        // The server kept our session, but in async-opcua 0.19 its subscription
                        // then delivers keep-alives and no data changes: start clean.
                        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        info!(server = %self.cfg.name,
                              "Reconnected to the OPC UA server; recreating the session and subscription.");
                        conn.close().await;
                        return Ok(Next::Rebuild);
                    }
                    Some(LinkEvent::Ended(status)) => {
                        warn!(server = %self.cfg.name, %status, "The OPC UA session ended; connecting again.");
                        self.all_bad(out).await?;
                        conn.close().await;
                        return Ok(Next::Rebuild);
                    }
                    None => {
                        self.all_bad(out).await?;
                        conn.close().await;
                        return Ok(Next::Rebuild);
                    }
                },
                _ = shutdown.changed() => {
                    conn.close().await;
                    return Ok(Next::Stop);
                }
            }
        }
    }

    /// Whether a polled value repeats the last one sent: same value, same status and same
    /// source timestamp (or none). A read returns the value whether it changed or not; only
    /// changes are samples, as a subscription would send them.
    fn unchanged(&self, i: usize, s: &Sample, source: Option<chrono::DateTime<Utc>>) -> bool {
        let (quality, value) = &self.last[i];
        *quality == Some(s.quality) && *value == s.value && self.last_source[i] == source
    }

    /// Marks every tag bad once (tags already bad are not repeated).
    async fn all_bad(&mut self, out: &mpsc::Sender<Sample>) -> Result<(), ()> {
        let now = Utc::now();
        for i in 0..self.platform_tags.len() {
            self.emit(out, i, Sample::bad(self.platform_tags[i].clone(), now))
                .await?;
        }
        Ok(())
    }

    async fn emit(&mut self, out: &mpsc::Sender<Sample>, i: usize, s: Sample) -> Result<(), ()> {
        let tag = &self.cfg.tags[i];
        let last = &mut self.last[i];
        if s.quality == Quality::Bad && last.0 == Some(Quality::Bad) {
            return Ok(()); // still bad: sent once on the transition
        }
        // Polled tags apply an absolute deadband here; subscribed ones get it from the server.
        if tag.acquisition == Acquisition::Poll
            && tag.deadband_kind == DeadbandKind::Absolute
            && last.0 == Some(s.quality)
        {
            if let (Some(Value::Number(a)), Some(Value::Number(b))) = (&last.1, &s.value) {
                if (a - b).abs() <= tag.deadband {
                    return Ok(());
                }
            }
        }
        *last = (Some(s.quality), s.value.clone());
        out.send(s).await.map_err(|_| ())
    }
}
