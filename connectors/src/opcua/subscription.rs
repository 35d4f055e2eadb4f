//! One subscription per server with a monitored item per subscribed tag (sampling interval,
//! queue size, absolute or percent deadband), created in chunks the server accepts. Values come
//! back through async-opcua's synchronous callback, which only forwards them to a channel.

use std::{sync::Arc, time::Duration};

use opcua::{
    client::{Session, SubscriptionCallbacks},
    types::{
        AttributeId, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, ExtensionObject,
        MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NodeId, ReadValueId,
        StatusCode, TimestampsToReturn,
    },
};
use tokio::sync::mpsc;
use tracing::warn;

use super::{
    config::{DeadbandKind, ServerConfig, TagConfig},
    limits::OperationLimits,
};

/// What the subscription callback forwards: a tag index and its data value, or a status change
/// of the whole subscription (e.g. BadTimeout when the server let it expire).
#[derive(Debug)]
pub enum Notification {
    /// A data change of the tag with this index.
    Data(usize, DataValue),
    /// The subscription's status changed.
    Status(StatusCode),
}

/// Capacity of the channel between the callback and the driver; beyond it values are dropped
/// and counted (the callback must never block the event loop).
pub const NOTIFICATION_CHANNEL: usize = 65_536;

/// The sampling interval asked for a tag: its own, or else the subscription's publishing
/// interval, spelled out. OPC UA lets a client send −1 for "the publishing interval", but
/// async-opcua 0.19 servers (our simulators among them) then hold every value after the first
/// until a publish and re-stamp it with the *previous* source timestamp plus a zero interval, so
/// the source timestamp never advances: the platform saw the same time again and again and
/// counted the changes as duplicates (the demo's CNCs went `unknown`). An explicit interval
/// means the same thing to every server and avoids that.
pub fn sampling_interval(tag: &TagConfig, publishing_interval_ms: u64) -> f64 {
    match tag.sampling_interval_ms {
        Some(ms) if ms >= 0.0 => ms,
        _ => publishing_interval_ms as f64,
    }
}

/// The monitored item request of a tag; its client handle is its index + 1. Tags without a
/// sampling interval of their own are sampled at `publishing_interval_ms`.
pub fn item_request(
    index: usize,
    tag: &TagConfig,
    node_id: NodeId,
    publishing_interval_ms: u64,
) -> MonitoredItemCreateRequest {
    let filter = match tag.deadband_kind {
        DeadbandKind::None => ExtensionObject::null(),
        kind => ExtensionObject::from_message(DataChangeFilter {
            trigger: DataChangeTrigger::StatusValue,
            deadband_type: if kind == DeadbandKind::Absolute {
                DeadbandType::Absolute as u32
            } else {
                DeadbandType::Percent as u32
            },
            deadband_value: tag.deadband,
        }),
    };
    MonitoredItemCreateRequest {
        item_to_monitor: ReadValueId {
            node_id,
            attribute_id: AttributeId::Value as u32,
            ..Default::default()
        },
        monitoring_mode: MonitoringMode::Reporting,
        requested_parameters: MonitoringParameters {
            client_handle: index as u32 + 1,
            sampling_interval: sampling_interval(tag, publishing_interval_ms),
            filter,
            queue_size: tag.queue_size,
            discard_oldest: true,
        },
    }
}

/// Creates the subscription and its monitored items. Returns the subscription id and the tags
/// (indices) whose item the server refused, with the status.
pub async fn create(
    session: &Arc<Session>,
    cfg: &ServerConfig,
    tags: &[(usize, NodeId)],
    limits: &OperationLimits,
    tx: mpsc::Sender<Notification>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
) -> Result<(u32, Vec<(usize, StatusCode)>), opcua::types::Error> {
    let data_tx = tx.clone();
    let callbacks = SubscriptionCallbacks::new(
        move |status| {
            let _ = tx.try_send(Notification::Status(status.status));
        },
        move |dv, item| {
            let index = item.client_handle() as usize - 1;
            if data_tx.try_send(Notification::Data(index, dv)).is_err() {
                dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        },
        |_, _| {},
    );
    let id = session
        .create_subscription(
            Duration::from_millis(cfg.publishing_interval_ms),
            cfg.keep_alive_count.saturating_mul(3),
            cfg.keep_alive_count,
            0,
            0,
            true,
            callbacks,
        )
        .await?;
    let mut refused = Vec::new();
    let chunk = limits.max_monitored_items_per_call.max(1);
    for part in tags.chunks(chunk) {
        let requests: Vec<MonitoredItemCreateRequest> = part
            .iter()
            .map(|(i, node)| {
                item_request(*i, &cfg.tags[*i], node.clone(), cfg.publishing_interval_ms)
            })
            .collect();
        let results = session
            .create_monitored_items(id, TimestampsToReturn::Both, requests)
            .await?;
        for ((i, _), r) in part.iter().zip(&results) {
            if !r.result.status_code.is_good() {
                refused.push((*i, r.result.status_code));
            }
        }
    }
    if !refused.is_empty() {
        warn!(server = %cfg.name, refused = refused.len(), first_tag = %cfg.tags[refused[0].0].name,
              status = %refused[0].1, "The server refused some monitored items; those tags are marked bad.");
    }
    Ok((id, refused))
}
