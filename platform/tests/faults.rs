//! Faults, end to end, counted (issue #17). A simulated garment plant (in this process: its
//! Modbus servers count every read they answer, the ground truth of polls made), the real
//! `millwright connector run` and `millwright serve` binaries, and a private PostgreSQL cluster
//! this test may stop and start, all on loopback. For each fault the test counts, per tag, the
//! polls the connector made against the samples the store holds, and prints lost, duplicated
//! (re-sent samples the platform recognised) and the recovery time.
//!
//! Phases share one setup and run one after another in one test, so the whole campaign costs
//! one cluster, one plant and about three minutes:
//! platform SIGKILL and restart; PostgreSQL restart; PostgreSQL down 30 s; connector SIGTERM and
//! restart; connector SIGKILL in default mode and in durable mode; a flapping device; the disk
//! queue filled past its bound. The layout is `MILLWRIGHT_FAULTS_LAYOUT` (`plain` by default,
//! `timescale`), printed at the start.

mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use millwright_connectors::config::{ConnectorConfig, UplinkConfig};
use millwright_connectors::edge::plant_tags;
use millwright_connectors::modbus::config::RegisterKind;
use millwright_connectors::simulator::{Plant, PlantHandle, PlantKind};
use millwright_platform::config::{BackendChoice, DatabaseSettings, Secret, StoreSettings};
use millwright_platform::pg_cluster::{Durability, PrivateCluster};
use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::store::Store;
use millwright_platform::test_util::tenant_with_tags;
use process::{millwright, spawn, Running};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const POLL_MS: u64 = 500;
const FLUSH_MS: u64 = 1000;
const TICK: Duration = Duration::from_millis(200);

/// One tag: where its polls are counted.
struct Tag {
    device: String,
    kind: RegisterKind,
    address: u16,
}

/// Counts per tag at one moment.
#[derive(Clone, Default)]
struct Counts {
    polls: BTreeMap<String, u64>,
    stored: BTreeMap<String, i64>,
    bad: BTreeMap<String, i64>,
}

struct Campaign {
    dir: tempfile::TempDir,
    cluster_root: PathBuf,
    cluster: Option<PrivateCluster>,
    owner_url: String,
    app_url: String,
    layout: BackendChoice,
    store: Store,
    tenant: i32,
    key: String,
    plant: PlantHandle,
    tags: BTreeMap<String, Tag>,
    listen: SocketAddr,
    platform: Option<Running>,
    flapper: Option<Flapper>,
}

/// A TCP proxy in front of one device that can be cut (connections dropped, new ones closed at
/// once) and restored: a device that flaps.
struct Flapper {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Flapper {
    async fn start(target: String) -> Flapper {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !*rx.borrow() {
                    drop(client);
                    continue;
                }
                let mut rx = rx.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut device) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut device) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Flapper { addr, up }
    }

    fn set(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// `name=value` of the last line of `text` containing `message`.
fn field(text: &str, message: &str, name: &str) -> Option<u64> {
    let line = text.lines().rev().find(|l| l.contains(message))?;
    let key = format!("{name}=");
    let at = line.find(&key)? + key.len();
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

impl Campaign {
    async fn start() -> Campaign {
        let layout = match std::env::var("MILLWRIGHT_FAULTS_LAYOUT").as_deref() {
            Ok("timescale") => BackendChoice::Timescale,
            _ => BackendChoice::Plain,
        };
        let dir = tempfile::tempdir().unwrap();
        let cluster_root = dir.path().join("pg");
        let root = cluster_root.clone();
        let cluster =
            tokio::task::spawn_blocking(move || PrivateCluster::start(&root, Durability::Scratch))
                .await
                .unwrap()
                .expect("cluster");
        if layout == BackendChoice::Timescale {
            assert!(
                cluster.has_timescale(),
                "MILLWRIGHT_FAULTS_LAYOUT=timescale but TimescaleDB is not installed"
            );
        }
        let (owner_url, app_url) = cluster.create_database("faults").await.unwrap();
        let db = DatabaseSettings {
            url: Some(Secret::new(owner_url.clone())),
            app_url: Some(Secret::new(app_url.clone())),
            pool_size: 4,
        };
        let store_settings = StoreSettings {
            backend: layout,
            ..StoreSettings::default()
        };
        let store = Store::open(&db, &store_settings).await.unwrap();
        println!("layout: {:?}", store.backend());
        let t = tenant_with_tags(&store, "faults", &[]).await;
        let plant = Plant::start(PlantKind::Garment, 3, [127, 0, 0, 1].into())
            .await
            .unwrap();
        let mut session = store.tenant(t.id).await.unwrap();
        for info in plant_tags(&plant) {
            let fields = EntityFields {
                parent_id: Some(t.machine_id),
                name: Some(info.platform_tag.clone()),
                unit: info.unit.clone(),
                value_type: info.is_text().then_some(ValueType::Text),
                ..Default::default()
            };
            session.create(Kind::Tag, &fields).await.unwrap();
        }
        drop(session);
        let mut tags = BTreeMap::new();
        for d in plant.modbus_config(POLL_MS).devices {
            for tag in &d.tags {
                tags.insert(
                    tag.platform_tag(&d.name),
                    Tag {
                        device: d.name.clone(),
                        kind: tag.kind,
                        address: tag.address,
                    },
                );
            }
        }
        println!(
            "plant: garment, {} devices, {} tags, polled every {POLL_MS} ms, flushed every {FLUSH_MS} ms",
            plant.devices.len(),
            tags.len()
        );
        let mut c = Campaign {
            dir,
            cluster_root,
            cluster: Some(cluster),
            owner_url,
            app_url,
            layout,
            store,
            tenant: t.id.0,
            key: t.key.clone(),
            plant,
            tags,
            listen: free_port(),
            platform: None,
            flapper: None,
        };
        c.start_platform().await;
        c
    }

    async fn start_platform(&mut self) {
        let mut cmd = millwright();
        cmd.arg("serve")
            .env("DATABASE_URL", &self.owner_url)
            .env("APP_DATABASE_URL", &self.app_url)
            .env("MILLWRIGHT__HTTP__LISTEN", self.listen.to_string())
            .env(
                "MILLWRIGHT__STORE__BACKEND",
                match self.layout {
                    BackendChoice::Timescale => "timescale",
                    _ => "plain",
                },
            );
        self.platform = Some(spawn(cmd));
        self.wait_ready(Duration::from_secs(60)).await;
    }

    async fn ready(&self) -> bool {
        let r = reqwest::Client::new()
            .get(format!("http://{}/readyz", self.listen))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        r.is_ok_and(|r| r.status().is_success())
    }

    async fn wait_ready(&self, limit: Duration) -> Instant {
        let start = Instant::now();
        while !self.ready().await {
            assert!(
                start.elapsed() < limit,
                "platform not ready within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Instant::now()
    }

    fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("queue")
    }

    fn config(&self, durable: bool, queue_max_bytes: u64) -> PathBuf {
        let mut modbus = self.plant.modbus_config(POLL_MS);
        for d in &mut modbus.devices {
            for t in &mut d.tags {
                // Every poll becomes a sample, so polls and stored samples compare one to one.
                t.deadband = 0.0;
            }
            d.backoff_initial_ms = 200;
            d.backoff_max_ms = 1000;
            d.timeout_ms = 1000;
            if let Some(f) = &self.flapper {
                if d.name == self.flapping_device() {
                    d.address = Some(f.addr.to_string());
                }
            }
        }
        let cfg = ConnectorConfig {
            name: "faults".into(),
            uplink: Some(UplinkConfig {
                platform_url: format!("http://{}", self.listen),
                token: self.key.clone(),
                queue_dir: self.queue_dir(),
                queue_max_bytes,
                batch_max_samples: 1000,
                flush_interval_ms: FLUSH_MS,
                request_timeout_ms: 5000,
                command_poll_ms: 1000,
                ca_file: None,
                durable,
            }),
            modbus,
            opcua: Default::default(),
        };
        let path = self.dir.path().join("connector.toml");
        std::fs::write(&path, cfg.to_toml()).unwrap();
        path
    }

    fn flapping_device(&self) -> String {
        self.plant.devices[0].name.clone()
    }

    fn connector(&self, durable: bool, queue_max_bytes: u64) -> Running {
        let mut cmd = millwright();
        cmd.args(["connector", "run", "--config"])
            .arg(self.config(durable, queue_max_bytes))
            .env("RUST_LOG", "info");
        spawn(cmd)
    }

    async fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (name, t) in &self.tags {
            let bank = self.plant.bank(&t.device).expect("bank");
            let n = bank.lock().unwrap().reads_covering(t.kind, t.address);
            c.polls.insert(name.clone(), n);
        }
        let client = self.store.owner_pool().get().await.unwrap();
        let rows = client
            .query(
                "SELECT t.name, \
                        (SELECT count(*) FROM samples s WHERE s.tenant_id = $1 AND s.tag_id = t.id) \
                      + (SELECT count(*) FROM text_samples s WHERE s.tenant_id = $1 AND s.tag_id = t.id), \
                        (SELECT count(*) FROM samples s WHERE s.tenant_id = $1 AND s.tag_id = t.id AND s.quality <> 0) \
                      + (SELECT count(*) FROM text_samples s WHERE s.tenant_id = $1 AND s.tag_id = t.id AND s.quality <> 0) \
                 FROM tags t WHERE t.tenant_id = $1",
                &[&self.tenant],
            )
            .await
            .unwrap();
        for r in rows {
            c.stored.insert(r.get(0), r.get(1));
            c.bad.insert(r.get(0), r.get(2));
        }
        c
    }

    /// Batches in the connector's disk queue.
    fn queued_batches(&self) -> usize {
        std::fs::read_dir(self.queue_dir())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits, with the connector still running, until it has replayed its disk queue (a
    /// stopped connector keeps its backlog on disk for its next run).
    async fn drained(&self, limit: Duration) {
        let start = Instant::now();
        while self.queued_batches() > 0 {
            assert!(
                start.elapsed() < limit,
                "the connector did not replay its queue within {limit:?}: {} batches",
                self.queued_batches()
            );
            tokio::time::sleep(TICK).await;
        }
    }

    /// Waits until the queue is empty and the store stopped growing for a second.
    async fn settle(&self, limit: Duration) {
        let start = Instant::now();
        let mut last = -1i64;
        let mut stable_since = Instant::now();
        loop {
            let queued = self.queued_batches();
            let total: i64 = self.counts().await.stored.values().sum();
            if total != last {
                last = total;
                stable_since = Instant::now();
            }
            if queued == 0 && stable_since.elapsed() > Duration::from_secs(1) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "not settled within {limit:?}: {queued} batches queued"
            );
            tokio::time::sleep(TICK).await;
        }
    }

    fn stop_cluster(&mut self) {
        if let Some(mut c) = self.cluster.take() {
            c.stop();
        }
    }

    async fn start_cluster(&mut self) -> Instant {
        let root = self.cluster_root.clone();
        let c =
            tokio::task::spawn_blocking(move || PrivateCluster::start(&root, Durability::Scratch))
                .await
                .unwrap()
                .expect("cluster restarts");
        self.cluster = Some(c);
        Instant::now()
    }
}

/// Per-tag difference of two counts: the phase's polls, stored, bad.
struct Report {
    name: &'static str,
    per_tag: Vec<(String, u64, i64, i64)>,
}

impl Report {
    fn between(name: &'static str, before: &Counts, after: &Counts) -> Report {
        let per_tag = after
            .polls
            .iter()
            .map(|(tag, polls)| {
                let p = polls - before.polls.get(tag).copied().unwrap_or(0);
                let s = after.stored.get(tag).copied().unwrap_or(0)
                    - before.stored.get(tag).copied().unwrap_or(0);
                let b = after.bad.get(tag).copied().unwrap_or(0)
                    - before.bad.get(tag).copied().unwrap_or(0);
                (tag.clone(), p, s, b)
            })
            .collect();
        Report { name, per_tag }
    }

    fn polls(&self) -> u64 {
        self.per_tag.iter().map(|t| t.1).sum()
    }

    fn stored(&self) -> i64 {
        self.per_tag.iter().map(|t| t.2).sum()
    }

    /// Polls whose sample is not stored, summed over tags. A bad sample (device unreachable)
    /// answers no poll: polls compare with the good samples stored.
    fn lost(&self) -> i64 {
        self.per_tag
            .iter()
            .map(|t| (t.1 as i64 - (t.2 - t.3)).max(0))
            .sum()
    }

    /// Good samples stored beyond the polls made: (tag, time) is unique, so anything here
    /// would be a phantom or a duplicate.
    fn extra(&self) -> i64 {
        self.per_tag
            .iter()
            .map(|t| ((t.2 - t.3) - t.1 as i64).max(0))
            .sum()
    }

    fn bad(&self) -> i64 {
        self.per_tag.iter().map(|t| t.3).sum()
    }

    fn print(&self, duplicates: Option<u64>, recovery: Option<Duration>) {
        println!(
            "fault {}: tags={} polls={} stored={} (bad={}) lost={} extra={} duplicates_resent={} recovery_ms={}",
            self.name,
            self.per_tag.len(),
            self.polls(),
            self.stored(),
            self.bad(),
            self.lost(),
            self.extra(),
            duplicates.map_or("n/a".into(), |d| d.to_string()),
            recovery.map_or("n/a".into(), |r| r.as_millis().to_string()),
        );
        for (tag, p, s, b) in &self.per_tag {
            if *p as i64 != *s - *b || *b > 0 {
                println!(
                    "  {tag}: polls={p} stored={s} bad={b} lost={}",
                    (*p as i64 - (s - b)).max(0)
                );
            }
        }
        let exact = self
            .per_tag
            .iter()
            .filter(|t| t.1 as i64 == t.2 - t.3)
            .count();
        println!(
            "  {exact} of {} tags: polls == good samples stored",
            self.per_tag.len()
        );
    }
}

/// Stops the connector with SIGTERM; its standard error (logs).
async fn stop_connector(c: Running) -> String {
    let out = c.terminate(Duration::from_secs(60)).await;
    assert!(out.status.success(), "connector: {}", out.describe());
    assert!(out.stderr.contains("Uplink stopped;"), "{}", out.stderr);
    out.stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_end_to_end_counted_per_tag() {
    let mut c = Campaign::start().await;
    let sleep = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));

    // 1. The platform killed (SIGKILL) during ingest, down 5 s, restarted.
    let before = c.counts().await;
    let conn = c.connector(false, 64 * 1024 * 1024);
    sleep(4000).await;
    c.platform.take().unwrap().kill().await;
    sleep(5000).await;
    c.start_platform().await;
    let back = Instant::now();
    let recovery = wait_log(
        &conn,
        "Platform takes samples again",
        Duration::from_secs(30),
    )
    .await
    .saturating_duration_since(back);
    sleep(2000).await;
    c.drained(Duration::from_secs(120)).await;
    let log = stop_connector(conn).await;
    c.settle(Duration::from_secs(30)).await;
    let r = Report::between("platform_sigkill", &before, &c.counts().await);
    r.print(field(&log, "Uplink stopped;", "duplicates"), Some(recovery));
    assert_eq!((r.lost(), r.extra()), (0, 0));
    assert!(recovery < Duration::from_secs(3), "{recovery:?}");

    // 2. PostgreSQL restarted, then PostgreSQL down for 30 s.
    for (name, down_ms) in [("postgres_restart", 0u64), ("postgres_down_30s", 30_000)] {
        let before = c.counts().await;
        let conn = c.connector(false, 64 * 1024 * 1024);
        sleep(3000).await;
        c.stop_cluster();
        sleep(down_ms).await;
        c.start_cluster().await;
        let back = c.wait_ready(Duration::from_secs(60)).await;
        // A short restart may fall between two flushes: then no request failed at all.
        let deadline = Instant::now() + Duration::from_secs(10);
        let recovery = loop {
            let log = conn.stderr();
            if log.contains("Platform takes samples again") {
                break Some(Instant::now().saturating_duration_since(back));
            }
            if Instant::now() > deadline {
                assert!(
                    !log.contains("Platform not taking samples"),
                    "no recovery:\n{log}"
                );
                break None;
            }
            sleep(20).await;
        };
        sleep(2000).await;
        c.drained(Duration::from_secs(120)).await;
        let log = stop_connector(conn).await;
        c.settle(Duration::from_secs(60)).await;
        let r = Report::between(name, &before, &c.counts().await);
        r.print(field(&log, "Uplink stopped;", "duplicates"), recovery);
        assert_eq!((r.lost(), r.extra()), (0, 0), "{name}");
        if let Some(recovery) = recovery {
            assert!(recovery < Duration::from_secs(3), "{name}: {recovery:?}");
        }
        // One WARN per outage on each side, not one per request.
        assert!(
            log.matches("Platform not taking samples").count() <= 1,
            "{log}"
        );
    }

    let plog = c.platform.as_ref().unwrap().stderr();
    let unavailable = plog.matches("The database is unavailable").count()
        + plog.matches("The database is still unavailable").count();
    println!(
        "platform log over both PostgreSQL outages: {} lines, {} ERROR, {unavailable} WARN about the database",
        plog.lines().count(),
        plog.matches("ERROR").count()
    );
    assert!(!plog.contains("Request failed."), "{plog}");
    assert!(unavailable <= 6, "rate-limited: {plog}");

    // 3. The connector stopped gracefully (SIGTERM) and restarted.
    let before = c.counts().await;
    let conn = c.connector(false, 64 * 1024 * 1024);
    sleep(3300).await;
    let log1 = stop_connector(conn).await;
    let conn = c.connector(false, 64 * 1024 * 1024);
    sleep(2000).await;
    c.drained(Duration::from_secs(120)).await;
    let log2 = stop_connector(conn).await;
    c.settle(Duration::from_secs(30)).await;
    let r = Report::between("connector_sigterm_restart", &before, &c.counts().await);
    r.print(
        Some(
            field(&log1, "Uplink stopped;", "duplicates").unwrap_or(0)
                + field(&log2, "Uplink stopped;", "duplicates").unwrap_or(0),
        ),
        None,
    );
    assert_eq!((r.lost(), r.extra()), (0, 0));

    // 4. The connector killed (SIGKILL) mid-flush: default mode, then durable mode.
    let tags = c.tags.len() as i64;
    for durable in [false, true] {
        let name = if durable {
            "connector_sigkill_durable"
        } else {
            "connector_sigkill_default"
        };
        let before = c.counts().await;
        let conn = c.connector(durable, 64 * 1024 * 1024);
        // Half-way through a flush interval.
        sleep(3000 + FLUSH_MS / 2).await;
        let cpu = cpu_ms(conn.pid());
        conn.kill().await;
        // The durable mode's cost, beside the default mode's in the same run.
        println!(
            "connector CPU over {} ms of polling: {cpu} ms ({})",
            3000 + FLUSH_MS / 2,
            if durable { "durable" } else { "default" }
        );
        // The next run replays what the killed one left (queue, journal).
        let conn = c.connector(durable, 64 * 1024 * 1024);
        sleep(2000).await;
        c.drained(Duration::from_secs(120)).await;
        let log = stop_connector(conn).await;
        c.settle(Duration::from_secs(30)).await;
        let r = Report::between(name, &before, &c.counts().await);
        r.print(field(&log, "Uplink stopped;", "duplicates"), None);
        assert_eq!(r.extra(), 0);
        // Default: at most one flush interval of polls plus the batch in flight (per tag:
        // flush / poll + 1 polls, twice). Durable: at most the poll under way at the kill.
        let per_tag_bound = if durable {
            1
        } else {
            2 * (FLUSH_MS / POLL_MS) as i64 + 2
        };
        assert!(
            r.lost() <= per_tag_bound * tags,
            "{name}: lost {}",
            r.lost()
        );
        if durable {
            let syncs = field(&log, "Uplink stopped;", "journal_syncs").unwrap_or(0);
            println!("  journal fdatasync calls in the restarted durable run: {syncs}");
            assert!(syncs > 0, "{log}");
        }
    }

    // 5. A device that flaps every 2 s: only its tags go bad; the others keep their cadence.
    c.flapper = Some(Flapper::start(c.plant.devices[0].addr.to_string()).await);
    let flapping = c.flapping_device();
    let before = c.counts().await;
    let conn = c.connector(false, 64 * 1024 * 1024);
    let started = Instant::now();
    for i in 0..6 {
        sleep(2000).await;
        c.flapper.as_ref().unwrap().set(i % 2 == 1);
    }
    c.flapper.as_ref().unwrap().set(true);
    sleep(2000).await;
    let ran = started.elapsed();
    c.drained(Duration::from_secs(120)).await;
    let log = stop_connector(conn).await;
    c.settle(Duration::from_secs(30)).await;
    let r = Report::between("flapping_device", &before, &c.counts().await);
    r.print(field(&log, "Uplink stopped;", "duplicates"), None);
    let expected_polls = ran.as_millis() as u64 / POLL_MS;
    for (tag, polls, stored, bad) in &r.per_tag {
        let dev = &c.tags[tag].device;
        if *dev == flapping {
            // Each outage adds one bad sample per tag; a read answered just as the link was
            // cut can be lost with it (at most one per outage).
            assert!(*bad >= 1, "{tag}: no bad sample while its device was cut");
            let lost = *polls as i64 - (*stored - *bad);
            assert!((0..=3).contains(&lost), "{tag}: {lost} lost");
        } else {
            assert_eq!((*stored, *bad), (*polls as i64, 0), "{tag}");
            assert!(
                *polls + 3 >= expected_polls,
                "{tag} lost its cadence: {polls} polls in {ran:?}"
            );
        }
    }
    assert!(
        log.matches("Device stopped answering").count() <= 3,
        "one WARN per outage of the flapping device:\n{log}"
    );
    c.flapper = None;

    // 6. The disk queue filled past its bound: exactly the documented drop, counted and logged.
    let before = c.counts().await;
    let conn = c.connector(false, 64 * 1024);
    sleep(2000).await;
    c.platform.take().unwrap().kill().await;
    // Enough samples to pass 64 KiB several times.
    sleep(12_000).await;
    c.start_platform().await;
    sleep(3000).await;
    c.drained(Duration::from_secs(120)).await;
    let log = stop_connector(conn).await;
    c.settle(Duration::from_secs(30)).await;
    let r = Report::between("queue_full", &before, &c.counts().await);
    let dropped = field(&log, "Uplink stopped;", "dropped").expect("dropped counter");
    r.print(field(&log, "Uplink stopped;", "duplicates"), None);
    println!("  dropped (connector's count) = {dropped}");
    assert!(dropped > 0, "the queue never filled:\n{log}");
    assert_eq!(
        r.lost(),
        dropped as i64,
        "lost is exactly what the connector counted as dropped"
    );
    assert_eq!(
        log.matches("Disk queue full: dropping the oldest batches")
            .count(),
        1,
        "one WARN per burst:\n{log}"
    );
    assert_eq!(log.matches("Disk queue drops ended").count(), 1, "{log}");

    if let Some(p) = c.platform.take() {
        p.interrupt(Duration::from_secs(60)).await;
    }
    c.stop_cluster();
}

/// The moment `text` first appears in the process's standard error (polled), within `limit`.
async fn wait_log(p: &Running, text: &str, limit: Duration) -> Instant {
    wait_log_count(p, text, 1, limit).await
}

/// The moment `text` appears for the `n`-th time in the process's standard error.
async fn wait_log_count(p: &Running, text: &str, n: usize, limit: Duration) -> Instant {
    let start = Instant::now();
    loop {
        if p.stderr().matches(text).count() >= n {
            return Instant::now();
        }
        assert!(
            start.elapsed() < limit,
            "no {text:?} within {limit:?}:\n{}",
            p.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time (user + system) a process used so far, in milliseconds (Linux `/proc`).
fn cpu_ms(pid: Option<u32>) -> u64 {
    let Some(stat) = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
    else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start at state (field 3): utime
    // (field 14) is the 12th of them, stime (15) the 13th, in clock ticks of 10 ms.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10
}
