//! Plans, as an SME subscribing to cloud-MES features sees them, and their quotas.
//!
//! | plan | features | tags | samples / day | API requests / min | retention |
//! | --- | --- | --: | --: | --: | --: |
//! | Monitor | telemetry, alarms | 250 | 5 000 000 | 120 | 90 days |
//! | MES | + OEE, work orders, quality and yield | 2 000 | 40 000 000 | 600 | 365 days |
//! | Pro | + predictive-maintenance models, C2B custom orders | 10 000 | 500 000 000 | 3 000 | 730 days |
//!
//! Why these numbers: samples per day is the tag quota times the polling rate the plan is
//! sized for, rounded up for headroom: Monitor 250 tags every 5 s (4.3 M), MES 2 000 tags every
//! 5 s (34.6 M), Pro 10 000 tags every 2 s (432 M). A connector ships one batch per second, so
//! one site needs 60 requests a minute; Monitor covers a site plus dashboards, MES about eight
//! sites, Pro about forty. Retention grows with the analyses a plan sells: a quarter of trends,
//! a year of OEE to compare seasons, two years of history to train failure models on. (The
//! store's own `retention_days` setting caps all of them.)
//!
//! ```
//! use millwright_tenants::plan::{Feature, Plan};
//! assert!(!Plan::Monitor.includes(Feature::Mes));
//! assert_eq!(Plan::cheapest_including(Feature::PredictiveMaintenance), Plan::Pro);
//! assert_eq!(Plan::Mes.quotas().retention_days, 365);
//! ```

use serde::{Deserialize, Serialize};

use crate::Error;

/// A subscription plan. Plans are ordered: each includes everything the one before it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Telemetry and alarms.
    Monitor,
    /// Monitor, plus OEE, work orders, quality and yield.
    Mes,
    /// MES, plus predictive-maintenance models and C2B custom orders.
    Pro,
}

/// A plan-gated capability. Actions that every plan has (users, keys, audit, usage) have no
/// feature; see [`crate::permission::Action::feature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Ingest, the plant model, time series.
    Telemetry,
    /// Alarms on tags and their acknowledgement.
    Alarms,
    /// OEE, work orders, quality and yield.
    Mes,
    /// Training, promoting and scoring predictive-maintenance models.
    PredictiveMaintenance,
    /// Consumer-to-business custom orders.
    CustomOrders,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 5] = [
        Feature::Telemetry,
        Feature::Alarms,
        Feature::Mes,
        Feature::PredictiveMaintenance,
        Feature::CustomOrders,
    ];

    /// What the feature is called in messages ("… includes predictive-maintenance models").
    pub const fn label(self) -> &'static str {
        match self {
            Feature::Telemetry => "telemetry",
            Feature::Alarms => "alarms",
            Feature::Mes => "OEE, work orders, quality and yield",
            Feature::PredictiveMaintenance => "predictive-maintenance models",
            Feature::CustomOrders => "C2B custom orders",
        }
    }
}

/// What a plan allows a tenant to consume. The platform enforces each where it is spent:
/// tags at tag creation, samples per day at ingest, requests per minute with
/// [`crate::rate_limit::RateLimiter`], retention by dropping older samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    /// Tags that may exist at once.
    pub max_tags: u32,
    /// Samples accepted per UTC day (duplicates and rejected samples do not count).
    pub samples_per_day: u64,
    /// API requests per minute, as a token bucket that holds one minute's worth.
    pub requests_per_minute: u32,
    /// Days of samples and rollups kept.
    pub retention_days: u32,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Monitor, Plan::Mes, Plan::Pro];

    /// The snake_case name used on the wire and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Monitor => "monitor",
            Plan::Mes => "mes",
            Plan::Pro => "pro",
        }
    }

    /// The name customers see ("MES").
    pub const fn display_name(self) -> &'static str {
        match self {
            Plan::Monitor => "Monitor",
            Plan::Mes => "MES",
            Plan::Pro => "Pro",
        }
    }

    /// The cheapest plan that has `feature`; plans are cumulative, so every later plan has it
    /// too. This is the one place that assigns features to plans.
    pub const fn cheapest_including(feature: Feature) -> Plan {
        match feature {
            Feature::Telemetry | Feature::Alarms => Plan::Monitor,
            Feature::Mes => Plan::Mes,
            Feature::PredictiveMaintenance | Feature::CustomOrders => Plan::Pro,
        }
    }

    /// Whether this plan has `feature`.
    pub fn includes(self, feature: Feature) -> bool {
        self >= Plan::cheapest_including(feature)
    }

    /// The plan's quotas (see the table in the module documentation).
    pub const fn quotas(self) -> Quotas {
        match self {
            Plan::Monitor => Quotas {
                max_tags: 250,
                samples_per_day: 5_000_000,
                requests_per_minute: 120,
                retention_days: 90,
            },
            Plan::Mes => Quotas {
                max_tags: 2_000,
                samples_per_day: 40_000_000,
                requests_per_minute: 600,
                retention_days: 365,
            },
            Plan::Pro => Quotas {
                max_tags: 10_000,
                samples_per_day: 500_000_000,
                requests_per_minute: 3_000,
                retention_days: 730,
            },
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

impl std::str::FromStr for Plan {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| Error::UnknownPlan(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_per_plan_as_sold() {
        use Feature::*;
        let expected: [(Plan, &[Feature]); 3] = [
            (Plan::Monitor, &[Telemetry, Alarms]),
            (Plan::Mes, &[Telemetry, Alarms, Mes]),
            (
                Plan::Pro,
                &[Telemetry, Alarms, Mes, PredictiveMaintenance, CustomOrders],
            ),
        ];
        for (plan, features) in expected {
            for f in Feature::ALL {
                assert_eq!(plan.includes(f), features.contains(&f), "{plan} {f:?}");
            }
        }
    }

    #[test]
    fn cheapest_including_is_the_first_plan_that_includes() {
        for f in Feature::ALL {
            let first = Plan::ALL.into_iter().find(|p| p.includes(f)).unwrap();
            assert_eq!(Plan::cheapest_including(f), first);
        }
    }

    #[test]
    fn quotas_grow_with_the_plan_and_fit_the_polling_they_promise() {
        for pair in Plan::ALL.windows(2) {
            let (a, b) = (pair[0].quotas(), pair[1].quotas());
            assert!(a.max_tags < b.max_tags);
            assert!(a.samples_per_day < b.samples_per_day);
            assert!(a.requests_per_minute < b.requests_per_minute);
            assert!(a.retention_days < b.retention_days);
        }
        // Tags × polls per day at the documented interval fit the daily sample quota.
        for (plan, interval_secs) in [(Plan::Monitor, 5), (Plan::Mes, 5), (Plan::Pro, 2)] {
            let q = plan.quotas();
            assert!(u64::from(q.max_tags) * 86_400 / interval_secs <= q.samples_per_day);
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert_eq!(Plan::Mes.to_string(), "MES");
        assert!("enterprise".parse::<Plan>().is_err());
    }
}
