//! The pure part of leases: how long a process may count on a lease it took, when to renew,
//! how many jobs a process should hold when several share them, which evaluation shard a
//! tenant belongs to, and the holder's name. No clock of its own and no database: callers pass
//! instants and rows.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Alarm-rule evaluation is split into this many shards by tenant, each under its own lease
/// (`alerting-<k>`). A constant, not a setting: replicas with different counts would evaluate
/// one tenant under two leases.
pub const ALERTING_SHARDS: u32 = 8;

/// The lease name of an alarm-evaluation shard.
pub fn alerting_job(shard: u32) -> String {
    format!("alerting-{shard}")
}

/// The evaluation shard of a tenant.
pub fn shard_of(tenant: i32) -> u32 {
    tenant.rem_euclid(ALERTING_SHARDS as i32) as u32
}

/// Timing of every lease a process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a lease lasts in the database after each renewal.
    pub ttl: Duration,
    /// How often a held lease is renewed and a free one sought.
    pub renew_every: Duration,
}

impl Policy {
    /// A policy for `ttl`, renewing every `renew` but at least three times per TTL, so two
    /// renewals may fail before the lease lapses. Never below 1 s of TTL and 100 ms between
    /// rounds.
    pub fn new(ttl: Duration, renew: Duration) -> Self {
        let ttl = ttl.max(Duration::from_secs(1));
        let renew_every = renew.min(ttl / 3).max(Duration::from_millis(100));
        Self { ttl, renew_every }
    }

    /// Until when the process may act on a lease the database granted (or renewed) in answer to
    /// a statement sent at `sent`. The database set the expiry at its own `now() + ttl`, later
    /// than `sent`; the process stops a fifth of the TTL earlier still, so by the time another
    /// process can take the lease this one has stopped using it (clocks run at the same rate;
    /// they need not agree).
    pub fn held_until(&self, sent: Instant) -> Instant {
        sent + self.ttl - self.ttl / 5
    }

    /// When to try again after a round at `now`.
    pub fn next_round(&self, now: Instant) -> Instant {
        now + self.renew_every
    }
}

/// What a process knows locally about one job's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalLease {
    /// Until when it may act on it (None: not held).
    pub held_until: Option<Instant>,
    /// The lease's epoch when last granted.
    pub epoch: i64,
}

impl LocalLease {
    /// Whether the lease may be acted on at `now`.
    pub fn is_held(&self, now: Instant) -> bool {
        self.held_until.is_some_and(|until| now < until)
    }
}

/// A lease as the database holds it, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The job.
    pub job: String,
    /// Its holder.
    pub holder: String,
    /// Whether it had expired when read.
    pub expired: bool,
}

/// What a process should do with the leases in one round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Leases to renew (held by this process).
    pub renew: Vec<String>,
    /// Free or expired leases to try to take.
    pub take: Vec<String>,
    /// Leases to give up so another process gets its share.
    pub release: Vec<String>,
}

/// How many of `jobs` one of `holders` live processes should hold: the jobs divided evenly,
/// rounded up, so every job has room.
pub fn fair_share(jobs: usize, holders: usize) -> usize {
    jobs.div_ceil(holders.max(1))
}

/// Plans a round for process `me` wanting `jobs`, given the leases in the database and how
/// many processes are live (itself included). It renews what it holds and takes free or
/// expired leases while under its fair share. When no lease is free and it holds at least two
/// more than the process holding the fewest (a live process holding none counts as zero), it
/// releases one lease per round (the last in its list, unless `busy`: a job in the middle of a
/// round is not given away), so the counts end up at most one apart without flapping.
pub fn plan(
    me: &str,
    jobs: &[String],
    rows: &[LeaseRow],
    live_holders: usize,
    busy: &BTreeSet<String>,
) -> Plan {
    let share = fair_share(jobs.len(), live_holders);
    let mut out = Plan::default();
    let mut mine: Vec<&String> = Vec::new();
    let mut free: Vec<&String> = Vec::new();
    let mut others: std::collections::BTreeMap<&str, usize> = Default::default();
    for job in jobs {
        match rows.iter().find(|r| &r.job == job) {
            Some(r) if r.holder == me => mine.push(job),
            Some(r) if !r.expired => *others.entry(r.holder.as_str()).or_default() += 1,
            _ => free.push(job),
        }
    }
    let room = share.saturating_sub(mine.len());
    out.renew = mine.iter().map(|j| (*j).clone()).collect();
    out.take = free.iter().take(room).map(|j| (*j).clone()).collect();
    let idle = live_holders.saturating_sub(1).saturating_sub(others.len());
    let fewest = if idle > 0 {
        Some(0)
    } else {
        others.values().min().copied()
    };
    if let Some(fewest) = fewest {
        if free.is_empty() && mine.len() >= fewest + 2 {
            if let Some(job) = mine.iter().rev().find(|j| !busy.contains(j.as_str())) {
                out.release.push((*job).clone());
                out.renew.retain(|j| j != *job);
            }
        }
    }
    out
}

/// A holder name unique to this process: host name, process id and a random suffix (two
/// servers in one process, as in tests, get different names).
pub fn holder_name(host: &str, pid: u32, random: u32) -> String {
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(100)
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}:{pid}:{random:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("job{i}")).collect()
    }

    fn row(job: &str, holder: &str, expired: bool) -> LeaseRow {
        LeaseRow {
            job: job.into(),
            holder: holder.into(),
            expired,
        }
    }

    #[test]
    fn renewal_comes_three_times_per_ttl_and_the_holder_stops_before_expiry() {
        let p = Policy::new(Duration::from_secs(15), Duration::from_secs(10));
        assert_eq!(p.renew_every, Duration::from_secs(5));
        let sent = Instant::now();
        let until = p.held_until(sent);
        assert_eq!(until - sent, Duration::from_secs(12));
        // Renewed in time: two renewals may fail and it is still held at the third.
        assert!(sent + 2 * p.renew_every < until);
        let local = LocalLease {
            held_until: Some(until),
            epoch: 1,
        };
        assert!(local.is_held(sent + Duration::from_secs(11)));
        assert!(!local.is_held(sent + Duration::from_secs(12)));
        assert!(!LocalLease::default().is_held(sent));
        // Floors.
        let tiny = Policy::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(tiny.ttl, Duration::from_secs(1));
        assert_eq!(tiny.renew_every, Duration::from_millis(100));
        assert_eq!(tiny.next_round(sent), sent + Duration::from_millis(100));
    }

    #[test]
    fn a_lone_process_takes_every_free_or_expired_lease() {
        let js = jobs(5);
        let rows = [row("job1", "other", true), row("job2", "me", false)];
        let p = plan("me", &js, &rows, 1, &BTreeSet::new());
        assert_eq!(p.renew, vec!["job2"]);
        assert_eq!(p.take, vec!["job0", "job1", "job3", "job4"]);
        assert!(p.release.is_empty());
    }

    #[test]
    fn a_live_holder_keeps_its_lease() {
        let js = jobs(2);
        let rows = [row("job0", "other", false), row("job1", "other", false)];
        let p = plan("me", &js, &rows, 2, &BTreeSet::new());
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn three_processes_share_the_jobs() {
        let js = jobs(7);
        assert_eq!(fair_share(7, 3), 3);
        // A newcomer takes at most its share of free leases.
        let p = plan("c", &js, &[], 3, &BTreeSet::new());
        assert_eq!(p.take.len(), 3);
        // One process holds all: with two others live and short, it gives one back per round,
        // never one that is busy.
        let rows: Vec<LeaseRow> = js.iter().map(|j| row(j, "a", false)).collect();
        let busy: BTreeSet<String> = ["job6".to_string()].into();
        let p = plan("a", &js, &rows, 3, &busy);
        assert_eq!(p.release, vec!["job5"]);
        assert_eq!(p.renew.len(), 6);
        assert!(p.take.is_empty());
        // At its share it keeps everything.
        let rows: Vec<LeaseRow> = js
            .iter()
            .enumerate()
            .map(|(i, j)| row(j, ["a", "b", "c"][i % 3], false))
            .collect();
        for me in ["a", "b", "c"] {
            let p = plan(me, &js, &rows, 3, &BTreeSet::new());
            assert!(p.release.is_empty() && p.take.is_empty(), "{me}: {p:?}");
        }
        // Over its share but every other process is at its share already: keep (no flapping).
        let rows: Vec<LeaseRow> = js
            .iter()
            .enumerate()
            .map(|(i, j)| row(j, if i < 4 { "a" } else { "b" }, false))
            .collect();
        let p = plan("a", &js, &rows, 2, &BTreeSet::new());
        assert!(p.release.is_empty(), "{p:?}");
        // 3 / 3 / 1: both of the larger give one back (the short one has room for both).
        let rows: Vec<LeaseRow> = js
            .iter()
            .enumerate()
            .map(|(i, j)| row(j, ["a", "a", "a", "b", "b", "b", "c"][i], false))
            .collect();
        assert_eq!(
            plan("a", &js, &rows, 3, &BTreeSet::new()).release,
            vec!["job2"]
        );
        assert_eq!(
            plan("b", &js, &rows, 3, &BTreeSet::new()).release,
            vec!["job5"]
        );
        assert_eq!(
            plan("c", &js, &rows, 3, &BTreeSet::new()),
            Plan {
                renew: vec!["job6".into()],
                ..Plan::default()
            }
        );
        // 4 / 2 between two: one back.
        let six = jobs(6);
        let rows: Vec<LeaseRow> = six
            .iter()
            .enumerate()
            .map(|(i, j)| row(j, if i < 4 { "a" } else { "b" }, false))
            .collect();
        assert_eq!(
            plan("a", &six, &rows, 2, &BTreeSet::new()).release,
            vec!["job3"]
        );
    }

    #[test]
    fn a_crashed_holders_leases_are_taken_over() {
        let js = jobs(4);
        let rows: Vec<LeaseRow> = js.iter().map(|j| row(j, "dead", true)).collect();
        let p = plan("me", &js, &rows, 1, &BTreeSet::new());
        assert_eq!(p.take, js);
    }

    #[test]
    fn shards_and_names() {
        assert_eq!(shard_of(1), 1);
        assert_eq!(shard_of(9), 1);
        assert_eq!(shard_of(-1), ALERTING_SHARDS - 1);
        assert_eq!(alerting_job(3), "alerting-3");
        let h = holder_name("web-7 (pod)", 42, 0xabc);
        assert_eq!(h, "web-7pod:42:00000abc");
        assert_eq!(holder_name("", 1, 1), "host:1:00000001");
    }
}
