//! When a failed delivery is tried again: exponential backoff (the base doubled after every
//! failure, capped), until the delivery is older than the give-up age, at least a day by
//! default. The defaults (30 s doubling to a 2 h cap, giving up after 26 h) make about 20
//! attempts: 30 s, 1 min, 2, 4, 8, 16, 32 min, 64 min, then every 2 h.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The retry policy (`webhooks.*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay after the first failure, seconds.
    pub base_secs: u64,
    /// Longest delay between two attempts, seconds.
    pub max_delay_secs: u64,
    /// A delivery older than this is given up, seconds.
    pub give_up_after_secs: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_secs: 30,
            max_delay_secs: 2 * 3600,
            give_up_after_secs: 26 * 3600,
        }
    }
}

impl Backoff {
    /// The delay after `failures` failed attempts (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(40);
        let secs = self
            .base_secs
            .max(1)
            .saturating_mul(1u64 << exp)
            .min(self.max_delay_secs.max(1));
        Duration::seconds(secs as i64)
    }

    /// When to try a delivery created at `created` again after its `failures`-th failure at
    /// `now`; `None` once it is to be given up.
    pub fn next_attempt(
        &self,
        created: DateTime<Utc>,
        failures: u32,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = now + self.delay(failures);
        (next - created <= Duration::seconds(self.give_up_after_secs as i64)).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff::default();
        let secs: Vec<i64> = (1..=10).map(|n| b.delay(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]);
        assert_eq!(b.delay(1000).num_seconds(), 7200);
    }

    #[test]
    fn a_failing_endpoint_is_retried_for_more_than_a_day() {
        let b = Backoff::default();
        let created = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (mut now, mut failures) = (created, 0);
        loop {
            failures += 1;
            match b.next_attempt(created, failures, now) {
                Some(next) => now = next,
                None => break,
            }
        }
        let span = now - created;
        assert!(span >= Duration::days(1), "gave up after {span}");
        assert!(span <= Duration::hours(26), "{span}");
        assert!((15..=30).contains(&failures), "{failures} attempts");
    }
}
