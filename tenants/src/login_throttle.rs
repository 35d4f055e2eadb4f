//! Throttling password guesses: growing delays after repeated failed logins, per account and
//! per client address, with a ceiling so an attacker cannot lock a real user out for long.
//!
//! Each key (an account's email, a client's address) counts its consecutive failures. The
//! first `free_failures` cost nothing; after that each failure makes the key wait
//! `base_delay × 2^(n − free − 1)`, capped at `max_delay`, before the next attempt is even
//! checked (the platform answers `429` with `Retry-After`, without looking at the password).
//! A success clears the key; a key that has not failed for `forget_after` starts afresh.
//!
//! The cap is what bounds a lockout: someone guessing at an account can keep it to one attempt
//! per `max_delay`, and the real user waits at most that long for theirs.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use millwright_tenants::login_throttle::{LoginThrottle, ThrottlePolicy};
//! let policy = ThrottlePolicy { free_failures: 2, base_delay: Duration::from_secs(1),
//!                               max_delay: Duration::from_secs(4),
//!                               forget_after: Duration::from_secs(600) };
//! let throttle = LoginThrottle::new(policy);
//! let t0 = Instant::now();
//! for _ in 0..2 { assert!(throttle.check(&"ana", t0).is_ok()); throttle.failed(&"ana", t0); }
//! assert!(throttle.check(&"ana", t0).is_ok()); // the third attempt is still checked...
//! throttle.failed(&"ana", t0);                  // ...and its failure costs a second
//! assert_eq!(throttle.check(&"ana", t0), Err(Duration::from_secs(1)));
//! assert!(throttle.check(&"ana", t0 + Duration::from_secs(1)).is_ok());
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a [`LoginThrottle`] treats failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row that cost no delay (typos happen).
    pub free_failures: u32,
    /// The delay after the first failure beyond the free ones; it doubles with each further one.
    pub base_delay: Duration,
    /// The longest delay: the most a real user can be kept waiting.
    pub max_delay: Duration,
    /// A key that has not failed for this long is forgotten.
    pub forget_after: Duration,
}

impl ThrottlePolicy {
    /// Per account: five free failures, then 1 s doubling up to one minute.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        free_failures: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        forget_after: Duration::from_secs(15 * 60),
    };

    /// Per client address: twenty free failures (an office behind one address), then 1 s
    /// doubling up to five minutes.
    pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
        free_failures: 20,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(5 * 60),
        forget_after: Duration::from_secs(15 * 60),
    };

    /// The wait after `failures` consecutive failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let Some(beyond) = failures.checked_sub(self.free_failures + 1) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(beyond.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Instant,
}

/// Consecutive failed logins per key, and the wait they impose. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LoginThrottle<K> {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Eq + Hash + Clone> LoginThrottle<K> {
    /// An empty throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Its policy.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok` if `key` may attempt a login at `now`; otherwise how long it must still wait.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries().get(key) {
            Some(e) if e.blocked_until > now => Err(e.blocked_until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt of `key` at `now`; returns its consecutive failures.
    pub fn failed(&self, key: &K, now: Instant) -> u32 {
        let mut entries = self.entries();
        let entry = entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: now,
        });
        if now.saturating_duration_since(entry.last_failure) >= self.policy.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        entry.blocked_until = now + self.policy.delay_after(entry.failures);
        entry.failures
    }

    /// A successful login of `key`: its failures are forgotten.
    pub fn succeeded(&self, key: &K) {
        self.entries().remove(key);
    }

    /// Forgets keys that have not failed for the policy's `forget_after` (call now and then).
    pub fn prune(&self, now: Instant) {
        let forget = self.policy.forget_after;
        self.entries().retain(|_, e| {
            e.blocked_until > now || now.saturating_duration_since(e.last_failure) < forget
        });
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_grow_and_stop_at_the_ceiling() {
        let p = ThrottlePolicy::ACCOUNT;
        let delays: Vec<u64> = (1..=14).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.delay_after(u32::MAX), p.max_delay);
    }

    #[test]
    fn twenty_wrong_passwords_then_the_right_one_is_held_back() {
        let t = LoginThrottle::new(ThrottlePolicy::ACCOUNT);
        let mut now = Instant::now();
        let mut refused = 0;
        for _ in 0..20 {
            match t.check(&"owner@acme", now) {
                Ok(()) => {
                    t.failed(&"owner@acme", now);
                }
                Err(wait) => {
                    refused += 1;
                    assert!(wait <= ThrottlePolicy::ACCOUNT.max_delay);
                }
            }
            now += Duration::from_millis(100);
        }
        assert!(refused >= 13, "{refused}");
        // The right password is not even looked at until the wait is over...
        let wait = t.check(&"owner@acme", now).unwrap_err();
        // ...which never exceeds the ceiling, so the real user is back within a minute.
        assert!(wait <= 60 * S);
        assert!(t.check(&"owner@acme", now + wait).is_ok());
        t.succeeded(&"owner@acme");
        assert!(t.check(&"owner@acme", now).is_ok());
    }

    #[test]
    fn keys_are_independent_and_forgotten_after_a_quiet_spell() {
        let t = LoginThrottle::new(ThrottlePolicy {
            free_failures: 0,
            base_delay: S,
            max_delay: 8 * S,
            forget_after: 60 * S,
        });
        let t0 = Instant::now();
        t.failed(&"a", t0);
        t.failed(&"a", t0 + S);
        assert_eq!(t.check(&"a", t0 + S), Err(2 * S));
        assert!(t.check(&"b", t0).is_ok());
        // After a quiet minute the count starts again from one failure.
        assert_eq!(t.failed(&"a", t0 + 70 * S), 1);
        t.prune(t0 + 200 * S);
        assert!(t.is_empty());
    }
}
