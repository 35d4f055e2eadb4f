//! Leases in the store (issue #18), on every layout: a lease is granted to one holder at a
//! time, renewed only by its holder, taken over only once expired (with the epoch and the
//! previous holder recorded), released at once; a round starts only under a held lease; the
//! alarm-rule inbox hands each queued batch to exactly one of several concurrent takers, and
//! the application role cannot read it. Then two keepers in this process share the jobs, and
//! one stopping leaves its leases to the other; a job with state (an alarm-evaluation shard)
//! keeps its lease until it has handed its state over.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use millwright_platform::config::BackendChoice;
use millwright_platform::leases::{Keeper, Policy};
use millwright_platform::store::leases::Outcome;
use millwright_platform::test_util::{fresh_store, tenant_with_tags};
use tokio_util::sync::CancellationToken;

#[macro_use]
mod common;

on_every_backend!(
    a_lease_has_one_holder_until_it_expires_or_is_released,
    queued_batches_go_to_exactly_one_taker,
    two_keepers_share_jobs_and_take_over_when_one_stops,
    a_job_with_state_hands_it_over_before_its_lease_moves,
);

async fn a_lease_has_one_holder_until_it_expires_or_is_released(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let ttl = Duration::from_secs(1);
    let a = store
        .take_lease("rollups", "a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.epoch, a.previous.as_deref()), (1, None));
    // Another holder is refused while it lasts; its holder renews (same epoch).
    assert_eq!(store.take_lease("rollups", "b", ttl).await.unwrap(), None);
    let renewed = store
        .take_lease("rollups", "a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.epoch, 1);
    // Only the holder starts a round.
    assert_eq!(store.start_lease_run("rollups", "b").await.unwrap(), None);
    let run = store
        .start_lease_run("rollups", "a")
        .await
        .unwrap()
        .unwrap();
    store.finish_lease_run(run, Outcome::Ok).await.unwrap();
    // Expired: another takes it over, with a new epoch, naming the previous holder.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.start_lease_run("rollups", "a").await.unwrap(), None);
    let b = store
        .take_lease("rollups", "b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.epoch, b.previous.as_deref()), (2, Some("a")));
    // The old holder's renewal fails: lost.
    assert_eq!(store.take_lease("rollups", "a", ttl).await.unwrap(), None);
    // Released: free at once, and only by its holder.
    assert!(!store.release_lease("rollups", "a").await.unwrap());
    assert!(store.release_lease("rollups", "b").await.unwrap());
    let a2 = store
        .take_lease("rollups", "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.epoch, 3);
    // The history: the release is recorded.
    let c = store.owner_pool().get().await.unwrap();
    let released: i64 = c
        .query_one(
            "SELECT count(*) FROM lease_events WHERE job = 'rollups' AND event = 'released' AND holder = 'b'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(released, 1);
    // Ten holders racing for a free lease: exactly one gets it.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_lease("race", &format!("h{i}"), Duration::from_secs(30))
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 1);
}

async fn queued_batches_go_to_exactly_one_taker(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "inbox", &["m.temp"]).await;
    let now = Utc::now();
    for i in 0..40 {
        store
            .queue_rule_samples(t.id, 3, &[(t.tag_ids[0], now, f64::from(i))])
            .await
            .unwrap();
    }
    // Another shard's taker gets nothing.
    assert!(store.take_rule_samples(&[2], 100).await.unwrap().is_empty());
    // Four takers at once, small bites: every batch once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let b = store.take_rule_samples(&[3], 3).await.unwrap();
                if b.is_empty() {
                    return got;
                }
                got.extend(b.into_iter().map(|b| b.points[0].2 as i64));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<i64>>());
    // The application role sees none of it.
    let app = store.app_pool().get().await.unwrap();
    let err = app
        .query("SELECT * FROM alarm_rule_inbox", &[])
        .await
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("permission denied")),
        "{err:?}"
    );
}

async fn two_keepers_share_jobs_and_take_over_when_one_stops(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let policy = Policy::new(Duration::from_secs(2), Duration::from_millis(200));
    let jobs: Vec<String> = (0..6).map(|i| format!("job{i}")).collect();
    let stop = CancellationToken::new();
    let a = Keeper::start(store.clone(), policy, jobs.clone(), stop.clone());
    a.ready().await;
    assert!(jobs.iter().all(|j| a.is_held(j)), "a lone keeper takes all");
    let b = Keeper::start(store.clone(), policy, jobs.clone(), stop.clone());
    // They converge on three each, never both holding one job.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let held_a: BTreeSet<&String> = jobs.iter().filter(|j| a.is_held(j)).collect();
        let held_b: BTreeSet<&String> = jobs.iter().filter(|j| b.is_held(j)).collect();
        assert!(held_a.is_disjoint(&held_b), "{held_a:?} and {held_b:?}");
        if held_a.len() == 3 && held_b.len() == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no fair split: {held_a:?} / {held_b:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A round under a held lease is recorded; the other keeper cannot start one.
    let mine = jobs.iter().find(|j| a.is_held(j)).unwrap();
    assert!(b.begin(mine).await.is_none());
    let run = a.begin(mine).await.unwrap();
    assert_eq!(run.guard(async { 7 }).await, Some(7));
    run.finish(Outcome::Ok).await;
    // A stops cleanly: its leases are given up at once and B takes them all.
    a.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !jobs.iter().all(|j| b.is_held(j)) {
        assert!(tokio::time::Instant::now() < deadline, "b took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = b.status();
    assert!(status.iter().all(|s| s.held && s.acquired >= 1));
    stop.cancel();
    b.shutdown().await;
    let c = store.owner_pool().get().await.unwrap();
    let live: i64 = c
        .query_one("SELECT count(*) FROM leases WHERE expires_at > now()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0);
}

async fn a_job_with_state_hands_it_over_before_its_lease_moves(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let policy = Policy::new(Duration::from_secs(2), Duration::from_millis(200));
    let jobs: Vec<String> = (0..4).map(|i| format!("shard{i}")).collect();
    let stop = CancellationToken::new();
    let a = Keeper::start(store.clone(), policy, Vec::new(), stop.clone());
    for j in &jobs {
        a.want_with_handover(j);
    }
    a.ready().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jobs.iter().all(|j| a.is_held(j)));
    let b = Keeper::start(store.clone(), policy, jobs.clone(), stop.clone());
    // A gives two up, but only after handing each over; until then it keeps renewing it and
    // B cannot have it.
    let mut handed = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for j in &jobs {
            if a.is_releasing(j) {
                assert!(a.is_held(j), "{j} is held until handed over");
                assert!(!b.is_held(j), "{j} is not taken before it is handed over");
                // Hold the handover back a few rounds: the lease must not move meanwhile.
                tokio::time::sleep(Duration::from_millis(600)).await;
                assert!(!b.is_held(j));
                handed.insert(j.clone());
                a.handed_over(j);
            }
        }
        let held_b: BTreeSet<String> = jobs.iter().filter(|j| b.is_held(j)).cloned().collect();
        if held_b.len() == 2 {
            assert!(
                held_b.is_subset(&handed),
                "{held_b:?} taken, {handed:?} handed over"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no handover: {handed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    a.shutdown().await;
    b.shutdown().await;
}
