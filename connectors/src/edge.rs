//! The demo's edge side in one call: plants started on loopback, one connector per plant,
//! feeding the platform, with no configuration from the user.
//!
//! As in a real plant, the protocols are mixed: the machinery plant's CNCs speak OPC UA
//! (subscriptions, setpoints written to their nodes), everything else Modbus TCP. Platform tag
//! names do not depend on the protocol.

use std::path::PathBuf;

use crate::{
    config::UplinkConfig,
    opcua::{OpcUaConfig, ServerConfig, TagConfig as OpcUaTag},
    runtime::Connector,
    simulator::{
        opcua::{node_id_text, OpcUaServer, OpcUaServerOptions},
        Plant, PlantHandle, PlantKind,
    },
    Result,
};

/// Plants whose machines report over OPC UA in the demo.
pub const OPCUA_PLANTS: [PlantKind; 1] = [PlantKind::Machinery];

/// One plant of the demo.
#[derive(Debug, Clone)]
pub struct PlantSpec {
    /// Its kind.
    pub kind: PlantKind,
    /// Its seed.
    pub seed: u64,
    /// The device token its connector sends to the platform.
    pub token: String,
}

/// Options of [`Edge::start`].
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// The plants.
    pub plants: Vec<PlantSpec>,
    /// The platform's base URL, e.g. `http://127.0.0.1:8080`.
    pub platform_url: String,
    /// Folder for the connectors' disk queues (`<dir>/<plant>-queue`).
    pub data_dir: PathBuf,
    /// Poll interval of every device, in milliseconds.
    pub poll_interval_ms: u64,
}

/// A tag the plants feed, to register in the platform before ingesting.
#[derive(Debug, Clone, PartialEq)]
pub struct TagInfo {
    /// The plant.
    pub plant: PlantKind,
    /// The machine, e.g. `imm-1`.
    pub machine: String,
    /// The tag on the machine, e.g. `barrel_temp_1`.
    pub name: String,
    /// The platform tag name, `<plant>.<machine>.<tag>`.
    pub platform_tag: String,
    /// Engineering unit, if any.
    pub unit: Option<String>,
    /// How its registers are read.
    pub data_type: crate::modbus::config::DataType,
    /// Whether scale or offset turn the raw integer into a measurement.
    pub scaled: bool,
}

impl TagInfo {
    /// Whether its values are text (a string register: register it as a text tag).
    pub fn is_text(&self) -> bool {
        self.data_type == crate::modbus::config::DataType::String
    }
}

/// Running plants and their connectors.
#[derive(Debug)]
pub struct Edge {
    /// The plants, in [`EdgeOptions::plants`] order.
    pub plants: Vec<PlantHandle>,
    /// One connector per plant, same order.
    pub connectors: Vec<Connector>,
    /// The OPC UA servers of the plants in [`OPCUA_PLANTS`].
    pub opcua_servers: Vec<OpcUaServer>,
}

/// The tags a plant's generated connector config feeds.
pub fn plant_tags(plant: &PlantHandle) -> Vec<TagInfo> {
    plant
        .modbus_config(1000)
        .devices
        .into_iter()
        .flat_map(|d| {
            let machine = d.name.clone();
            d.tags.into_iter().map(move |t| TagInfo {
                plant: plant.kind,
                machine: machine.clone(),
                platform_tag: t.platform_tag(&machine),
                name: t.name,
                unit: t.unit,
                data_type: t.data_type,
                scaled: t.scale != 1.0 || t.offset != 0.0,
            })
        })
        .collect()
}

impl Edge {
    /// Starts the plants only; call [`Edge::connect`] once the platform knows their tags.
    pub async fn start_plants(plants: &[PlantSpec]) -> Result<Vec<PlantHandle>> {
        let mut out = Vec::new();
        for p in plants {
            out.push(Plant::start(p.kind, p.seed, [127, 0, 0, 1].into()).await?);
        }
        Ok(out)
    }

    /// Starts one connector per plant.
    pub async fn connect(plants: Vec<PlantHandle>, opts: &EdgeOptions) -> Result<Edge> {
        let mut connectors = Vec::new();
        let mut opcua_servers = Vec::new();
        for (plant, spec) in plants.iter().zip(&opts.plants) {
            let mut cfg = plant.connector_config(Some(UplinkConfig {
                platform_url: opts.platform_url.clone(),
                token: spec.token.clone(),
                queue_dir: opts.data_dir.join(format!("{}-queue", spec.kind.as_str())),
                queue_max_bytes: 256 * 1024 * 1024,
                batch_max_samples: 1000,
                flush_interval_ms: 1000,
                request_timeout_ms: 10_000,
                command_poll_ms: crate::config::default_command_poll(),
                ca_file: None,
                durable: false,
            }));
            for d in &mut cfg.modbus.devices {
                d.poll_interval_ms = opts.poll_interval_ms;
            }
            if OPCUA_PLANTS.contains(&spec.kind) {
                let pki = opts.data_dir.join("opcua");
                let server = plant
                    .serve_opcua(OpcUaServerOptions::new(
                        pki.join(format!("{}-server", spec.kind.as_str())),
                    ))
                    .await?;
                move_to_opcua(
                    &mut cfg,
                    &server,
                    pki.join("connector"),
                    opts.poll_interval_ms,
                );
                opcua_servers.push(server);
            }
            connectors.push(Connector::start(cfg).await?);
        }
        Ok(Edge {
            plants,
            connectors,
            opcua_servers,
        })
    }

    /// Starts plants and connectors in one go.
    pub async fn start(opts: &EdgeOptions) -> Result<Edge> {
        let plants = Self::start_plants(&opts.plants).await?;
        Self::connect(plants, opts).await
    }

    /// Every tag the plants feed.
    pub fn tags(&self) -> Vec<TagInfo> {
        self.plants.iter().flat_map(plant_tags).collect()
    }

    /// Stops connectors (queuing what is undelivered), then plants.
    pub async fn stop(self) -> Result<()> {
        for c in self.connectors {
            c.stop().await?;
        }
        for s in self.opcua_servers {
            s.stop().await;
        }
        for p in self.plants {
            p.stop().await;
        }
        Ok(())
    }
}

/// Moves every tag of every Modbus device of `cfg` to one OPC UA server (one session per plant
/// server), keeping their platform tag names and writability.
fn move_to_opcua(
    cfg: &mut crate::config::ConnectorConfig,
    server: &OpcUaServer,
    pki_dir: PathBuf,
    publishing_interval_ms: u64,
) {
    let mut s = ServerConfig::new(cfg.name.clone(), server.url.clone(), pki_dir);
    // The demo's own simulator on loopback: trust its certificate on first use.
    s.trust_on_first_use = true;
    s.publishing_interval_ms = publishing_interval_ms.max(100);
    for d in &mut cfg.modbus.devices {
        for t in d.tags.drain(..) {
            let mut o = OpcUaTag::new(
                format!("{}.{}", d.name, t.name),
                node_id_text(server.namespace, &d.name, &t.name),
            );
            o.platform_tag = Some(t.platform_tag(&d.name));
            o.unit = t.unit.clone();
            o.writable = t.writable;
            s.tags.push(o);
        }
    }
    cfg.modbus.devices.retain(|d| !d.tags.is_empty());
    cfg.opcua = OpcUaConfig { servers: vec![s] };
}
