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

/// Every event type an endpoint may subscribe to. Add new ones here (see the module docs).
pub const EVENT_TYPES: &[&str] = &[ALARM_RAISED, ALARM_CLEARED, ALARM_ACKNOWLEDGED];

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
