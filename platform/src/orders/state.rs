//! The order state machine.
//!
//! ```text
//! draft → quoted → confirmed → scheduled → in_production → quality_check → shipped → delivered
//! ```
//! A quote may be renewed (quoted → quoted, a new price and date). Before production an order
//! may be cancelled (by the consumer or the plant) or rejected (by the plant); a failed
//! quality check sends it back to production. Anything else is refused, naming the states
//! it may go to (the API answers 409).

use serde::{Deserialize, Serialize};

/// Where an order is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Configured, not priced.
    Draft,
    /// Priced with a promised ship date, valid until a time.
    Quoted,
    /// The consumer accepted the quote.
    Confirmed,
    /// Work orders on lines with finite capacity.
    Scheduled,
    /// The machines are making it.
    InProduction,
    /// Made; checked against the quality records.
    QualityCheck,
    /// Left the plant.
    Shipped,
    /// Arrived.
    Delivered,
    /// Withdrawn by the consumer or the plant.
    Cancelled,
    /// Refused by the plant.
    Rejected,
}

impl OrderState {
    /// Every state, in the order of the happy path.
    pub const ALL: [OrderState; 10] = [
        OrderState::Draft,
        OrderState::Quoted,
        OrderState::Confirmed,
        OrderState::Scheduled,
        OrderState::InProduction,
        OrderState::QualityCheck,
        OrderState::Shipped,
        OrderState::Delivered,
        OrderState::Cancelled,
        OrderState::Rejected,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Draft => "draft",
            OrderState::Quoted => "quoted",
            OrderState::Confirmed => "confirmed",
            OrderState::Scheduled => "scheduled",
            OrderState::InProduction => "in_production",
            OrderState::QualityCheck => "quality_check",
            OrderState::Shipped => "shipped",
            OrderState::Delivered => "delivered",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Whether an order may go from `self` to `to`.
    pub fn may_become(self, to: OrderState) -> bool {
        use OrderState::*;
        matches!(
            (self, to),
            (Draft, Quoted)
                | (Quoted, Quoted)
                | (Quoted, Confirmed)
                | (Confirmed, Scheduled)
                | (Scheduled, InProduction)
                | (InProduction, QualityCheck)
                | (QualityCheck, Shipped)
                | (QualityCheck, InProduction)
                | (Shipped, Delivered)
                | (Draft | Quoted | Confirmed | Scheduled, Cancelled)
                | (Quoted | Confirmed | Scheduled, Rejected)
        )
    }

    /// The states an order may go to from here.
    pub fn next(self) -> Vec<OrderState> {
        Self::ALL
            .into_iter()
            .filter(|s| self.may_become(*s))
            .collect()
    }

    /// Whether it holds capacity on the lines (its work orders count in the schedule).
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            OrderState::Scheduled | OrderState::InProduction | OrderState::QualityCheck
        )
    }

    /// Whether the order is finished one way or another.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderState::Delivered | OrderState::Cancelled | OrderState::Rejected
        )
    }

    /// The webhook event type of reaching this state (`order.scheduled`).
    pub fn event_type(self) -> &'static str {
        match self {
            OrderState::Draft => "order.draft",
            OrderState::Quoted => "order.quoted",
            OrderState::Confirmed => "order.confirmed",
            OrderState::Scheduled => "order.scheduled",
            OrderState::InProduction => "order.in_production",
            OrderState::QualityCheck => "order.quality_check",
            OrderState::Shipped => "order.shipped",
            OrderState::Delivered => "order.delivered",
            OrderState::Cancelled => "order.cancelled",
            OrderState::Rejected => "order.rejected",
        }
    }
}

impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderState::*;
    use super::*;

    #[test]
    fn the_happy_path_and_the_refusals() {
        let path = [
            Draft,
            Quoted,
            Confirmed,
            Scheduled,
            InProduction,
            QualityCheck,
            Shipped,
            Delivered,
        ];
        for w in path.windows(2) {
            assert!(w[0].may_become(w[1]), "{:?} -> {:?}", w[0], w[1]);
        }
        assert!(!Draft.may_become(Confirmed));
        assert!(!InProduction.may_become(Cancelled));
        assert!(!Shipped.may_become(InProduction));
        assert!(!Delivered.may_become(Cancelled));
        assert!(QualityCheck.may_become(InProduction));
        assert_eq!(Scheduled.next(), vec![InProduction, Cancelled, Rejected]);
        assert_eq!(Delivered.next(), vec![]);
        for s in OrderState::ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
            assert!(s.is_final() == s.next().is_empty(), "{s}");
        }
    }
}
