//! The plant simulators as OPC UA servers (async-opcua), over the same machines and register
//! banks as their Modbus side, so both protocols show the same values at the same time.
//!
//! Address space: `Objects/<plant>/<line>/<machine>/<tag>` with node ids
//! `ns=<n>;s=<machine>.<tag>` (namespace `urn:millwright:plant`), one line per Modbus port of the
//! plant, and a `ResetFault` method on every machine. Values are published on every simulation
//! step (100 ms) when they change, with the step's time as source timestamp. Setpoints are
//! writable. Endpoints: security None, and Basic256Sha256 with Sign and with SignAndEncrypt;
//! identities anonymous and, when configured, one user name and password.
//! `scratch_variables` adds `Objects/<plant>/Scratch/v<i>` (Double, `ns=<n>;s=scratch.<i>`) for
//! large-address-space tests and the benchmark, each with an EURange of 0 to 100.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use opcua::{
    crypto::SecurityPolicy,
    nodes::AccessLevel,
    server::{
        address_space::{MethodBuilder, Variable, VariableBuilder},
        diagnostics::NamespaceMetadata,
        node_manager::memory::{simple_node_manager, SimpleNodeManager},
        ServerBuilder, ServerHandle, ServerUserToken, ANONYMOUS_USER_TOKEN_ID,
    },
    types::{
        DataTypeId, DataValue, DateTime, ExtensionObject, MessageSecurityMode, NodeId, Range,
        StatusCode, VariableTypeId, Variant,
    },
};
use tokio::{net::TcpListener, task::JoinHandle};
use tracing::info;

use super::{bank::SharedBank, machine::Machine, PlantHandle};
use crate::{
    modbus::config::{DataType, RegisterKind, TagConfig},
    sample::Value,
    Error, Result,
};

/// The machines and their banks, shared with the stepper (for `ResetFault`).
type Physics = Arc<std::sync::Mutex<Vec<(Machine, SharedBank)>>>;

/// The namespace of the simulators' nodes.
pub const NAMESPACE: &str = "urn:millwright:plant";

/// How to serve OPC UA.
#[derive(Debug, Clone)]
pub struct OpcUaServerOptions {
    /// Address to bind.
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// The server's certificate store (`own/`, `private/`, `trusted/`, `rejected/`).
    pub pki_dir: PathBuf,
    /// Accept any client certificate (else unknown clients land in `<pki>/rejected/`).
    pub trust_client_certs: bool,
    /// A user name and password accepted besides anonymous.
    pub user: Option<(String, String)>,
    /// Operation limits (nodes per read, browse, monitored items per call); `None` keeps the
    /// library's defaults.
    pub max_nodes_per_operation: Option<usize>,
    /// Extra Double variables under `Scratch`, for large address spaces.
    pub scratch_variables: usize,
    /// Offer only Basic256Sha256 with SignAndEncrypt (as hardened plant servers do), not the
    /// None and Sign endpoints.
    pub secure_only: bool,
}

impl OpcUaServerOptions {
    /// Loopback, any free port, trusting clients, no user, no scratch variables.
    pub fn new(pki_dir: impl Into<PathBuf>) -> Self {
        OpcUaServerOptions {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            pki_dir: pki_dir.into(),
            trust_client_certs: true,
            user: None,
            max_nodes_per_operation: None,
            scratch_variables: 0,
            secure_only: false,
        }
    }
}

/// One machine as the OPC UA server shows it.
struct Served {
    tags: Vec<(TagConfig, NodeId)>,
    bank: SharedBank,
}

/// A running OPC UA simulator. Dropping it does not stop it: call [`OpcUaServer::stop`].
pub struct OpcUaServer {
    /// Discovery and endpoint URL, `opc.tcp://<ip>:<port>/`.
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Namespace index of the plant's nodes.
    pub namespace: u16,
    handle: ServerHandle,
    manager: Arc<SimpleNodeManager>,
    server: JoinHandle<()>,
    publisher: JoinHandle<()>,
}

impl std::fmt::Debug for OpcUaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpcUaServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The Variant of a tag's engineering value, typed as its registers are (scaled values become
/// Double, as the measurement they are).
pub fn variant_of(tag: &TagConfig, v: &Value) -> Variant {
    let scaled = tag.scale != 1.0 || tag.offset != 0.0;
    match v {
        Value::Bool(b) => Variant::Boolean(*b),
        Value::Text(s) => Variant::String(s.trim_end_matches('\0').into()),
        Value::Number(n) if scaled => Variant::Double(*n),
        Value::Number(n) => match tag.data_type {
            DataType::Bool => Variant::Boolean(*n != 0.0),
            DataType::U16 => Variant::UInt16(*n as u16),
            DataType::I16 => Variant::Int16(*n as i16),
            DataType::U32 => Variant::UInt32(*n as u32),
            DataType::I32 => Variant::Int32(*n as i32),
            DataType::U64 => Variant::UInt64(*n as u64),
            DataType::I64 => Variant::Int64(*n as i64),
            DataType::F32 => Variant::Float(*n as f32),
            DataType::F64 | DataType::String => Variant::Double(*n),
        },
    }
}

fn value_of_variant(v: &Variant) -> Option<Value> {
    crate::opcua::quality::value_of(v)
}

/// The node id text of a machine's tag, e.g. `ns=2;s=cnc-1.spindle_load`.
pub fn node_id_text(namespace: u16, machine: &str, tag: &str) -> String {
    format!("ns={namespace};s={machine}.{tag}")
}

impl PlantHandle {
    /// Serves this plant's machines over OPC UA too (same banks, same values as Modbus).
    pub async fn serve_opcua(&self, opts: OpcUaServerOptions) -> Result<OpcUaServer> {
        let lines: Vec<(String, String)> = self
            .devices
            .iter()
            .map(|d| {
                let port = self.addrs.iter().position(|a| *a == d.addr).unwrap_or(0);
                (format!("line-{}", port + 1), d.name.clone())
            })
            .collect();
        let machines = self.machines.clone();
        let layouts: HashMap<String, Vec<TagConfig>> = machines
            .lock()
            .expect("machines lock")
            .iter()
            .map(|(m, _)| (m.name.clone(), m.layout().to_vec()))
            .collect();
        let served: Vec<(String, String, Vec<TagConfig>, SharedBank)> = lines
            .into_iter()
            .map(|(line, name)| {
                let layout = layouts.get(&name).cloned().unwrap_or_default();
                let bank = self.banks[&name].clone();
                (line, name, layout, bank)
            })
            .collect();
        start(self.kind.as_str(), served, Some(machines), opts).await
    }
}

/// Starts an OPC UA server for machines (line, name, layout, bank); with `machines`, each
/// machine gets a `ResetFault` method acting on its physics.
pub async fn start(
    plant: &str,
    machines: Vec<(String, String, Vec<TagConfig>, SharedBank)>,
    physics: Option<Physics>,
    opts: OpcUaServerOptions,
) -> Result<OpcUaServer> {
    let listener = TcpListener::bind(SocketAddr::new(opts.bind, opts.port)).await?;
    let addr = listener.local_addr()?;
    let url = format!("opc.tcp://{}:{}/", addr.ip(), addr.port());
    let mut tokens = vec![ANONYMOUS_USER_TOKEN_ID];
    if opts.user.is_some() {
        tokens.push("operator");
    }
    let mut builder = ServerBuilder::new()
        .application_name(format!("Millwright {plant} plant simulator"))
        .application_uri(format!("urn:millwright:simulator:{plant}"))
        .product_uri("urn:millwright:simulator")
        .create_sample_keypair(true)
        .pki_dir(&opts.pki_dir)
        .host(addr.ip().to_string())
        .port(addr.port())
        .discovery_urls(vec![url.clone()])
        .trust_client_certs(opts.trust_client_certs);
    if !opts.secure_only {
        builder = builder
            .add_endpoint(
                "none",
                (
                    "/",
                    SecurityPolicy::None,
                    MessageSecurityMode::None,
                    &tokens as &[&str],
                ),
            )
            .add_endpoint(
                "basic256sha256_sign",
                (
                    "/",
                    SecurityPolicy::Basic256Sha256,
                    MessageSecurityMode::Sign,
                    &tokens as &[&str],
                ),
            );
    }
    builder = builder
        .add_endpoint(
            "basic256sha256_sign_encrypt",
            (
                "/",
                SecurityPolicy::Basic256Sha256,
                MessageSecurityMode::SignAndEncrypt,
                &tokens as &[&str],
            ),
        )
        .with_node_manager(simple_node_manager(
            NamespaceMetadata {
                namespace_uri: NAMESPACE.to_owned(),
                ..Default::default()
            },
            "millwright",
        ));
    if let Some((user, pass)) = &opts.user {
        builder = builder.add_user_token("operator", ServerUserToken::user_pass(user, pass));
    }
    let limits = builder.limits_mut();
    limits.max_array_length = 1_000_000;
    limits.max_message_size = 64 * 1024 * 1024;
    limits.max_chunk_count = 1024;
    limits.subscriptions.max_monitored_items_per_sub = 1_000_000;
    limits.subscriptions.max_queued_notifications = 1_000_000;
    limits.subscriptions.max_notifications_per_publish = 100_000;
    if let Some(n) = opts.max_nodes_per_operation {
        limits.operational.max_nodes_per_read = n;
        limits.operational.max_nodes_per_browse = n;
        limits.operational.max_monitored_items_per_call = n;
    }
    // Key generation for the server certificate is slow: off the async threads, once; the
    // builder then finds the certificate in the pki folder (the builder itself is not Send).
    let desc = {
        use opcua::core::config::Config;
        builder.config().application_description()
    };
    let pki = opts.pki_dir.clone();
    tokio::task::spawn_blocking(move || {
        opcua::crypto::CertificateStore::new_with_x509_data(&pki, false, None, None, Some(desc));
    })
    .await
    .map_err(|e| Error::Transport(format!("certificate task failed: {e}")))?;
    let (server, handle) = builder.build().map_err(|e| Error::OpcUa {
        context: "simulator server configuration".into(),
        status: e,
    })?;
    let manager = handle
        .node_managers()
        .get_of_type::<SimpleNodeManager>()
        .ok_or_else(|| Error::Transport("simulator node manager missing".into()))?;
    let ns = handle
        .get_namespace_index(NAMESPACE)
        .ok_or_else(|| Error::Transport("simulator namespace missing".into()))?;
    let served = build_address_space(
        &manager,
        ns,
        plant,
        machines,
        physics,
        opts.scratch_variables,
    );
    let server = tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::warn!(error = %e, "OPC UA simulator stopped.");
        }
    });
    let publisher = tokio::spawn(publish(manager.clone(), handle.clone(), served));
    info!(plant, url = %url, "Plant simulator serving OPC UA.");
    Ok(OpcUaServer {
        url,
        addr,
        namespace: ns,
        handle,
        manager,
        server,
        publisher,
    })
}

fn build_address_space(
    manager: &Arc<SimpleNodeManager>,
    ns: u16,
    plant: &str,
    machines: Vec<(String, String, Vec<TagConfig>, SharedBank)>,
    physics: Option<Physics>,
    scratch: usize,
) -> Vec<Served> {
    let mut served = Vec::new();
    let mut writes = Vec::new();
    let mut methods = Vec::new();
    {
        let mut space = manager.address_space().write();
        let plant_id = NodeId::new(ns, plant.to_string());
        space.add_folder(&plant_id, plant, plant, &NodeId::objects_folder_id());
        for (line, name, layout, bank) in machines {
            let line_id = NodeId::new(ns, format!("{plant}.{line}"));
            if !space.node_exists(&line_id) {
                space.add_folder(&line_id, line.as_str(), line.as_str(), &plant_id);
            }
            let machine_id = NodeId::new(ns, name.clone());
            space.add_folder(&machine_id, name.as_str(), name.as_str(), &line_id);
            let b = bank.lock().expect("bank lock");
            let mut vars = Vec::new();
            let mut tags = Vec::new();
            for t in layout {
                let id = NodeId::new(ns, format!("{name}.{}", t.name));
                let initial = b
                    .get(&t)
                    .map(|v| variant_of(&t, &v))
                    .unwrap_or(Variant::Double(0.0));
                let mut var = Variable::new(&id, t.name.as_str(), t.name.as_str(), initial);
                if t.writable && t.kind == RegisterKind::Holding {
                    let rw = AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE;
                    var.set_access_level(rw);
                    var.set_user_access_level(rw);
                    writes.push((id.clone(), t.clone(), bank.clone()));
                }
                vars.push(var);
                tags.push((t, id));
            }
            drop(b);
            let _ = space.add_variables(vars, &machine_id);
            if physics.is_some() {
                let m_id = NodeId::new(ns, format!("{name}.ResetFault"));
                let out_id = NodeId::new(ns, format!("{name}.ResetFault.Out"));
                MethodBuilder::new(&m_id, "ResetFault", "ResetFault")
                    .component_of(machine_id.clone())
                    .executable(true)
                    .user_executable(true)
                    .output_args(
                        &mut *space,
                        &out_id,
                        &[("WasFaulted", DataTypeId::Boolean).into()],
                    )
                    .insert(&mut *space);
                methods.push((m_id, name.clone()));
            }
            served.push(Served { tags, bank });
        }
        if scratch > 0 {
            let folder = NodeId::new(ns, format!("{plant}.Scratch"));
            space.add_folder(&folder, "Scratch", "Scratch", &plant_id);
            let vars = (0..scratch)
                .map(|i| {
                    let id = NodeId::new(ns, format!("scratch.{i}"));
                    let name = format!("v{i}");
                    Variable::new(&id, name.as_str(), name.as_str(), 0.0f64)
                })
                .collect();
            let _ = space.add_variables(vars, &folder);
            // An EURange of 0 to 100 on each, so that percent deadbands mean percent.
            for i in 0..scratch {
                VariableBuilder::new(
                    &NodeId::new(ns, format!("scratch.{i}.EURange")),
                    "EURange",
                    "EURange",
                )
                .property_of(NodeId::new(ns, format!("scratch.{i}")))
                .has_type_definition(VariableTypeId::PropertyType)
                .data_type(DataTypeId::Range)
                .value(Variant::ExtensionObject(ExtensionObject::from_message(
                    Range {
                        low: 0.0,
                        high: 100.0,
                    },
                )))
                .insert(&mut *space);
            }
        }
    }
    for (id, tag, bank) in writes {
        manager.inner().add_write_callback(id, move |dv, _| {
            let Some(v) = dv.value.as_ref().and_then(value_of_variant) else {
                return StatusCode::BadTypeMismatch;
            };
            bank.lock().expect("bank lock").set(&tag, &v);
            StatusCode::Good
        });
    }
    if let Some(physics) = physics {
        for (id, name) in methods {
            let physics = physics.clone();
            manager.inner().add_method_callback(id, move |_| {
                let mut ms = physics.lock().expect("machines lock");
                let was = ms
                    .iter_mut()
                    .find(|(m, _)| m.name == name)
                    .map(|(m, _)| m.reset_fault())
                    .unwrap_or(false);
                Ok(vec![Variant::Boolean(was)])
            });
        }
    }
    served
}

/// Every 100 ms (the library's minimum sampling interval), publishes the values that changed.
async fn publish(manager: Arc<SimpleNodeManager>, handle: ServerHandle, served: Vec<Served>) {
    let mut last: HashMap<NodeId, Variant> = HashMap::new();
    let mut failing: Option<StatusCode> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = DateTime::now();
        let mut changed = Vec::new();
        for s in &served {
            let b = s.bank.lock().expect("bank lock");
            for (t, id) in &s.tags {
                let Some(v) = b.get(t) else { continue };
                let v = variant_of(t, &v);
                if last.get(id) != Some(&v) {
                    last.insert(id.clone(), v.clone());
                    changed.push((id.clone(), v));
                }
            }
        }
        if changed.is_empty() {
            continue;
        }
        let values = changed.iter().map(|(id, v)| {
            (
                id,
                None,
                DataValue {
                    value: Some(v.clone()),
                    status: Some(StatusCode::Good),
                    source_timestamp: Some(now),
                    server_timestamp: Some(now),
                    ..Default::default()
                },
            )
        });
        // A failed update would leave subscribers with stale values: say so, once per kind of
        // failure, not every 100 ms.
        match manager.set_values(handle.subscriptions(), values) {
            Ok(()) => failing = None,
            Err(status) if failing != Some(status) => {
                tracing::warn!(%status, values = changed.len(), "The simulator could not publish its values over OPC UA.");
                failing = Some(status);
            }
            Err(_) => {}
        }
    }
}

impl OpcUaServer {
    /// Sets scratch variables (`ns=<n>;s=scratch.<i>`) to new values, notifying subscribers.
    pub fn set_scratch(&self, values: impl Iterator<Item = (usize, f64)>) {
        let now = DateTime::now();
        let ids: Vec<(NodeId, f64)> = values
            .map(|(i, v)| (NodeId::new(self.namespace, format!("scratch.{i}")), v))
            .collect();
        let _ = self.manager.set_values(
            self.handle.subscriptions(),
            ids.iter().map(|(id, v)| {
                (
                    id,
                    None,
                    DataValue {
                        value: Some(Variant::Double(*v)),
                        status: Some(StatusCode::Good),
                        source_timestamp: Some(now),
                        server_timestamp: Some(now),
                        ..Default::default()
                    },
                )
            }),
        );
    }

    /// Stops the server: connections close, sessions and subscriptions are gone.
    pub async fn stop(self) {
        self.publisher.abort();
        self.handle.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// A standalone server with scratch variables only (tests of large address spaces, benchmark).
pub async fn start_scratch(opts: OpcUaServerOptions) -> Result<OpcUaServer> {
    start("bench", Vec::new(), None, opts).await
}
