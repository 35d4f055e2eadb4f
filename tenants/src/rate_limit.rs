//! A token bucket per key, for the plan's API-requests-per-minute quota.
//!
//! Each key (a tenant, an API key: the platform chooses) has a bucket that holds one minute's
//! worth of requests and refills continuously at `per_minute / 60` a second. A request takes
//! one token; with none left it is refused with the time until the next token, which the
//! platform sends as `429 Too Many Requests` with `Retry-After` ([`retry_after_secs`]).
//! The limit is passed on every call rather than stored, so a plan change applies at once.
//!
//! ```
//! use std::time::Duration;
//! use millwright_tenants::rate_limit::{ManualClock, RateLimiter};
//! let clock = ManualClock::new();
//! let limiter = RateLimiter::with_clock(clock.clone());
//! assert!(limiter.check(&"tenant-1", 2).is_ok());
//! assert!(limiter.check(&"tenant-1", 2).is_ok());
//! assert_eq!(limiter.check(&"tenant-1", 2), Err(Duration::from_secs(30)));
//! clock.advance(Duration::from_secs(30));
//! assert!(limiter.check(&"tenant-1", 2).is_ok());
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the limiter reads the time; tests inject a [`ManualClock`].
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    /// A clock stopped at the current instant.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *lock(&self.0)
    }
}

/// Exact integer arithmetic, so that waiting the advised time always suffices: the level is
/// counted in units of 1/60e9 token per minute of limit, which makes the refill exactly
/// `per_minute` units per nanosecond and a token `NANOS_PER_MINUTE` units.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: u128,
    at: Instant,
    /// Requests accepted in the current and the previous minute-long window, for usage pages
    /// (the bucket's level says little: at a steady rate below the limit it stays full).
    window_start: Instant,
    this_window: u64,
    last_window: u64,
}

impl Bucket {
    /// Moves the request-count windows forward to `now`.
    fn roll(&mut self, now: Instant) {
        let minute = Duration::from_secs(60);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= minute * 2 {
            self.last_window = 0;
            self.this_window = 0;
            self.window_start = now;
        } else if elapsed >= minute {
            self.last_window = self.this_window;
            self.this_window = 0;
            self.window_start += minute;
        }
    }
}

const NANOS_PER_MINUTE: u128 = 60_000_000_000;

/// Token buckets, one per key, behind one lock (a check is a few arithmetic operations, so
/// the lock is held for nanoseconds).
#[derive(Debug)]
pub struct RateLimiter<K, C = SystemClock> {
    buckets: Mutex<HashMap<K, Bucket>>,
    clock: C,
}

impl<K: Eq + Hash + Clone> RateLimiter<K, SystemClock> {
    /// A limiter on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }
}

impl<K: Eq + Hash + Clone> Default for RateLimiter<K, SystemClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone, C: Clock> RateLimiter<K, C> {
    /// A limiter on the given clock.
    pub fn with_clock(clock: C) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Takes one request from `key`'s bucket, allowing `per_minute` requests a minute.
    /// `Err` holds how long until a request would be accepted. A limit of 0 refuses
    /// everything and asks the client to come back in a minute.
    pub fn check(&self, key: &K, per_minute: u32) -> Result<(), Duration> {
        if per_minute == 0 {
            return Err(Duration::from_secs(60));
        }
        let rate = u128::from(per_minute);
        let capacity = rate * NANOS_PER_MINUTE;
        let now = self.clock.now();
        let mut buckets = lock(&self.buckets);
        // A key seen for the first time starts with a full bucket.
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            level: capacity,
            at: now,
            window_start: now,
            this_window: 0,
            last_window: 0,
        });
        bucket.roll(now);
        let elapsed = now.saturating_duration_since(bucket.at).as_nanos();
        // Capped at capacity, which also applies a lowered limit at once.
        bucket.level = bucket
            .level
            .saturating_add(elapsed.saturating_mul(rate))
            .min(capacity);
        bucket.at = now;
        if bucket.level >= NANOS_PER_MINUTE {
            bucket.level -= NANOS_PER_MINUTE;
            bucket.this_window += 1;
            Ok(())
        } else {
            let nanos = (NANOS_PER_MINUTE - bucket.level).div_ceil(rate);
            // At most one minute, so it fits in a u64.
            Err(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            ))
        }
    }

    /// Requests accepted for `key` over the last minute, estimated from two minute-long
    /// windows (the previous one weighted by how much of it the last minute still covers):
    /// what a usage page shows against the per-minute quota. Takes nothing from the bucket.
    pub fn requests_last_minute(&self, key: &K) -> u64 {
        let now = self.clock.now();
        let mut buckets = lock(&self.buckets);
        let Some(bucket) = buckets.get_mut(key) else {
            return 0;
        };
        bucket.roll(now);
        let into = now
            .saturating_duration_since(bucket.window_start)
            .as_secs_f64()
            / 60.0;
        let carried = bucket.last_window as f64 * (1.0 - into.min(1.0));
        bucket.this_window + carried.round() as u64
    }

    /// Forgets keys not seen for `idle` (a bucket idle for a minute is full again, so
    /// forgetting it changes nothing). The platform calls this from its maintenance loop to
    /// bound memory.
    pub fn prune(&self, idle: Duration) {
        let now = self.clock.now();
        lock(&self.buckets).retain(|_, b| now.saturating_duration_since(b.at) < idle);
    }

    /// How many keys have a bucket.
    pub fn len(&self) -> usize {
        lock(&self.buckets).len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `Retry-After` header value for a refusal: whole seconds, rounded up, at least 1, so a
/// client that obeys it finds a token waiting.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

// A panic while holding the lock leaves consistent data (plain numbers): carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_last_minute_slides_over_two_windows() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(clock.clone());
        assert_eq!(limiter.requests_last_minute(&1), 0);
        for _ in 0..10 {
            limiter.check(&1, 600).unwrap();
        }
        assert_eq!(limiter.requests_last_minute(&1), 10);
        // A refused request is not counted.
        let tight = RateLimiter::with_clock(clock.clone());
        tight.check(&2, 1).unwrap();
        assert!(tight.check(&2, 1).is_err());
        assert_eq!(tight.requests_last_minute(&2), 1);
        // Half way through the next minute, half of the previous one still counts.
        clock.advance(Duration::from_secs(90));
        limiter.check(&1, 600).unwrap();
        assert_eq!(limiter.requests_last_minute(&1), 1 + 5);
        clock.advance(Duration::from_secs(120));
        assert_eq!(limiter.requests_last_minute(&1), 0);
    }
    use proptest::prelude::*;

    #[test]
    fn a_full_minute_is_available_at_once_then_one_per_interval() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(clock.clone());
        for _ in 0..120 {
            limiter.check(&1, 120).unwrap();
        }
        let wait = limiter.check(&1, 120).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        clock.advance(Duration::from_millis(499));
        assert!(limiter.check(&1, 120).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check(&1, 120).is_ok());
        assert!(limiter.check(&1, 120).is_err());
    }

    #[test]
    fn keys_do_not_share_buckets() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(clock);
        limiter.check(&"a", 1).unwrap();
        assert_eq!(limiter.check(&"a", 1), Err(Duration::from_secs(60)));
        limiter.check(&"b", 1).unwrap();
    }

    #[test]
    fn idle_buckets_refill_only_to_capacity_and_lowered_limits_apply_at_once() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(clock.clone());
        limiter.check(&1, 600).unwrap();
        clock.advance(Duration::from_secs(3600));
        // Downgraded from 600 to 60 a minute: the bucket holds at most 60.
        let accepted = (0..100).filter(|_| limiter.check(&1, 60).is_ok()).count();
        assert_eq!(accepted, 60);
    }

    #[test]
    fn zero_refuses_and_prune_forgets_idle_keys() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(clock.clone());
        assert_eq!(limiter.check(&1, 0), Err(Duration::from_secs(60)));
        limiter.check(&2, 10).unwrap();
        clock.advance(Duration::from_secs(30));
        limiter.check(&3, 10).unwrap();
        limiter.prune(Duration::from_secs(60));
        assert_eq!(limiter.len(), 2);
        clock.advance(Duration::from_secs(45));
        limiter.prune(Duration::from_secs(60));
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    proptest! {
        /// Over any schedule, no more than a full bucket plus what refilled is accepted, and
        /// a refused client that waits the advised time is then accepted.
        #[test]
        fn never_more_than_capacity_plus_refill(
            per_minute in 1u32..600,
            gaps_ms in proptest::collection::vec(0u64..5_000, 1..300),
        ) {
            let clock = ManualClock::new();
            let limiter = RateLimiter::with_clock(clock.clone());
            let mut accepted = 0u64;
            let mut elapsed_ms = 0u64;
            for gap in gaps_ms {
                clock.advance(Duration::from_millis(gap));
                elapsed_ms += gap;
                match limiter.check(&(), per_minute) {
                    Ok(()) => accepted += 1,
                    Err(wait) => prop_assert!(wait <= Duration::from_secs(60)),
                }
            }
            let bound = f64::from(per_minute) * (1.0 + elapsed_ms as f64 / 60_000.0);
            prop_assert!(accepted as f64 <= bound + 1e-6, "{accepted} > {bound}");
        }

        #[test]
        fn waiting_the_advised_time_is_enough(per_minute in 1u32..10_000, burst in 1u32..50) {
            let clock = ManualClock::new();
            let limiter = RateLimiter::with_clock(clock.clone());
            for _ in 0..per_minute.saturating_add(burst) {
                if let Err(wait) = limiter.check(&(), per_minute) {
                    clock.advance(wait);
                    prop_assert!(limiter.check(&(), per_minute).is_ok());
                }
            }
        }
    }
}
