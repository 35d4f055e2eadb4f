//! The server's operation limits (Server/ServerCapabilities/OperationLimits), read once per
//! session, so that reads, browses and monitored-item creation are split into requests the
//! server accepts: thousands of nodes never fail with BadTooManyOperations.

use opcua::{
    client::Session,
    types::{AttributeId, NodeId, ReadValueId, TimestampsToReturn, VariableId, Variant},
};

/// Most items per request for each service; 0 from the server means "no limit", which we still
/// cap (a request of tens of thousands of nodes can exceed the message size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationLimits {
    /// Nodes per Read.
    pub max_nodes_per_read: usize,
    /// Nodes per Browse.
    pub max_nodes_per_browse: usize,
    /// Monitored items per CreateMonitoredItems.
    pub max_monitored_items_per_call: usize,
}

/// Our own cap when the server sets no limit.
pub const DEFAULT_CAP: usize = 1000;

impl Default for OperationLimits {
    fn default() -> Self {
        OperationLimits {
            max_nodes_per_read: DEFAULT_CAP,
            max_nodes_per_browse: DEFAULT_CAP,
            max_monitored_items_per_call: DEFAULT_CAP,
        }
    }
}

fn cap(v: Option<&Variant>) -> usize {
    match v {
        Some(Variant::UInt32(n)) if *n > 0 => (*n as usize).min(DEFAULT_CAP),
        _ => DEFAULT_CAP,
    }
}

impl OperationLimits {
    /// Reads the limits from the server; a server that does not expose them gets the defaults.
    pub async fn read(session: &Session) -> Self {
        let ids = [
            VariableId::Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
            VariableId::Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
            VariableId::Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
        ];
        let nodes: Vec<ReadValueId> = ids
            .iter()
            .map(|id| ReadValueId {
                node_id: NodeId::from(*id),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        match session.read(&nodes, TimestampsToReturn::Neither, 0.0).await {
            Ok(v) => OperationLimits {
                max_nodes_per_read: cap(v.first().and_then(|d| d.value.as_ref())),
                max_nodes_per_browse: cap(v.get(1).and_then(|d| d.value.as_ref())),
                max_monitored_items_per_call: cap(v.get(2).and_then(|d| d.value.as_ref())),
            },
            Err(_) => OperationLimits::default(),
        }
    }
}

/// Reads `nodes` in chunks of at most `limits.max_nodes_per_read`, results in input order.
pub async fn read_chunked(
    session: &Session,
    limits: &OperationLimits,
    nodes: &[ReadValueId],
) -> Result<Vec<opcua::types::DataValue>, opcua::types::Error> {
    let mut out = Vec::with_capacity(nodes.len());
    for chunk in nodes.chunks(limits.max_nodes_per_read.max(1)) {
        out.extend(session.read(chunk, TimestampsToReturn::Both, 0.0).await?);
    }
    Ok(out)
}
