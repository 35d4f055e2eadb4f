//! Event types and the envelope every delivery carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// An alarm was raised (by a rule or a promoted model).
pub const ALARM_RAISED: &str = "alarm.raised";
/// An alarm cleared.
pub const ALARM_CLEARED: &str = "alarm.cleared";
/// An alarm was acknowledged.
pub const ALARM_ACKNOWLEDGED: &str = "alarm.acknowledged";
/// Sent by `POST /webhooks/{id}/test` to that endpoint only.
pub const WEBHOOK_TEST: &str = "webhook.test";

/// Issue #14: a custom order reached a state (`order.<state>`, from
/// [`crate::orders::state::OrderState::event_type`]); the data is the order in brief.
pub const ORDER_EVENTS: &[&str] = &[
    "order.quoted",
    "order.confirmed",
    "order.scheduled",
    "order.in_production",
    "order.quality_check",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "order.rejected",
];

/// What an endpoint created without `event_types` receives (the alarm events; order events
/// are asked for by name).
pub const DEFAULT_TYPES: &[&str] = &[ALARM_RAISED, ALARM_CLEARED, ALARM_ACKNOWLEDGED];

/// Every event type an endpoint may subscribe to. Add new ones here (see the module docs).
pub const EVENT_TYPES: &[&str] = &[
    ALARM_RAISED,
    ALARM_CLEARED,
    ALARM_ACKNOWLEDGED,
    ORDER_EVENTS[0],
    ORDER_EVENTS[1],
    ORDER_EVENTS[2],
    ORDER_EVENTS[3],
    ORDER_EVENTS[4],
    ORDER_EVENTS[5],
    ORDER_EVENTS[6],
    ORDER_EVENTS[7],
    ORDER_EVENTS[8],
];

/// Whether `t` is an event type endpoints may subscribe to.
pub fn is_known(t: &str) -> bool {
    EVENT_TYPES.contains(&t)
}

/// The JSON body of a delivery: the same for every attempt and redelivery of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    /// The event's id, `evt_<n>`: receivers deduplicate on it (delivery is at least once).
    pub id: String,
    /// The event type, e.g. `alarm.raised`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (the change's commit).
    pub created_at: DateTime<Utc>,
    /// The event's object, e.g. the alarm as `GET /alarms` shows it.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl Envelope {
    /// The envelope of stored event `id`.
    pub fn new(id: i64, event_type: &str, created_at: DateTime<Utc>, data: Value) -> Self {
        Self {
            id: format!("evt_{id}"),
            event_type: event_type.to_string(),
            created_at,
            data,
        }
    }
}
