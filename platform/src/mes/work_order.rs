//! The work-order state machine: planned → released → running → completed → closed. A
//! running order may also go back to released (paused, another order takes the machine), and
//! a planned or released one may be cancelled. Anything else is refused (the API answers 409).

use serde::{Deserialize, Serialize};

/// Where a work order is in its life.
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
pub enum WorkOrderState {
    /// Entered, not yet on the shop floor.
    Planned,
    /// Released to the shop floor.
    Released,
    /// Running on its machine.
    Running,
    /// The quantity is made (or the order was ended).
    Completed,
    /// Booked and closed.
    Closed,
    /// Withdrawn before it ran.
    Cancelled,
}

impl WorkOrderState {
    /// Every state.
    pub const ALL: [WorkOrderState; 6] = [
        WorkOrderState::Planned,
        WorkOrderState::Released,
        WorkOrderState::Running,
        WorkOrderState::Completed,
        WorkOrderState::Closed,
        WorkOrderState::Cancelled,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderState::Planned => "planned",
            WorkOrderState::Released => "released",
            WorkOrderState::Running => "running",
            WorkOrderState::Completed => "completed",
            WorkOrderState::Closed => "closed",
            WorkOrderState::Cancelled => "cancelled",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Whether an order may go from `self` to `to`.
    pub fn may_become(self, to: WorkOrderState) -> bool {
        use WorkOrderState::*;
        matches!(
            (self, to),
            (Planned, Released)
                | (Released, Running)
                | (Running, Completed)
                | (Completed, Closed)
                | (Running, Released)
                | (Planned, Cancelled)
                | (Released, Cancelled)
        )
    }

    /// The states an order may go to from here.
    pub fn next(self) -> Vec<WorkOrderState> {
        Self::ALL
            .into_iter()
            .filter(|s| self.may_become(*s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::WorkOrderState::*;

    #[test]
    fn the_happy_path_and_refusals() {
        let path = [Planned, Released, Running, Completed, Closed];
        for w in path.windows(2) {
            assert!(w[0].may_become(w[1]), "{:?} -> {:?}", w[0], w[1]);
        }
        assert!(!Planned.may_become(Running));
        assert!(!Completed.may_become(Running));
        assert!(!Closed.may_become(Planned));
        assert!(!Running.may_become(Cancelled));
        assert!(!Running.may_become(Running));
        assert_eq!(Running.next(), vec![Released, Completed]);
    }
}
