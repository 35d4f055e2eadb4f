//! `connector discover`: browse a server's address space (chunked to its operation limits,
//! following continuation points) and write a ready-to-edit connector config with one tag per
//! variable of a type the driver maps (Boolean, integers, Float, Double, String, DateTime).

use std::{collections::HashSet, path::PathBuf, time::Duration};

use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResult, ByteString, Identifier,
    NodeClass, NodeId, ObjectId, ReadValueId, ReferenceTypeId, Variant,
};

use super::{
    config::{Identity, Mode, OpcUaConfig, Policy, Secret, ServerConfig, TagConfig},
    limits::{self, OperationLimits},
    session,
};
use crate::{config::ConnectorConfig, Error, Result};

/// Options of a discovery.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// The server's URL, `opc.tcp://host:port[/path]`.
    pub url: String,
    /// Node to start from (text form); the Objects folder when `None`.
    pub node: Option<String>,
    /// Name of the server in the written config (and in platform tags); the server's own
    /// ApplicationName when `None`.
    pub name: Option<String>,
    /// The connector's certificate store.
    pub pki_dir: PathBuf,
    /// Security policy of the browsing session (and of the written config).
    pub security_policy: Policy,
    /// Security mode of the browsing session (and of the written config).
    pub security_mode: Mode,
    /// Who the browsing session signs in as (and the written config's identity, with the
    /// password left out).
    pub identity: Identity,
    /// Trust the server's certificate on first use.
    pub trust_on_first_use: bool,
    /// Deepest level browsed below the start node.
    pub max_depth: usize,
    /// Most variables listed.
    pub max_tags: usize,
}

/// A variable found while browsing.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Browse names from the start node, e.g. `["line-1", "cnc-1", "spindle_load"]`.
    pub path: Vec<String>,
    /// Its node id.
    pub node_id: NodeId,
}

/// What stands in for the password in a written config: discovery never writes a secret.
pub const PASSWORD_PLACEHOLDER: &str = "<password>";

/// A name fit for configs and tag names: letters, digits, `-` and `_`, lower case; other
/// characters become `-`, runs of them one. `None` if nothing is left.
pub fn config_name(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

/// Host and port of an `opc.tcp://` URL (port 4840 when absent).
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("opc.tcp://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(4840), |p| p.parse().ok())?;
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), 4840)),
    }
}

/// Checks that something listens at the URL's host and port, so that an unreachable server
/// is one error naming the endpoint and the reason ("connection refused"), not a client's
/// retries ending in a timeout.
pub async fn check_reachable(url: &str, timeout: Duration) -> Result<()> {
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: url.to_string(),
        reason,
    };
    let (host, port) =
        host_port(url).ok_or_else(|| unreachable("not an opc.tcp://HOST:PORT/ URL".into()))?;
    match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            _ => e.to_string(),
        })),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// Browses the server and returns the connector config for what it found.
pub async fn discover(opts: &DiscoverOptions) -> Result<ConnectorConfig> {
    let host = host_port(&opts.url).map(|(h, _)| h).unwrap_or_default();
    let mut cfg = ServerConfig::new(
        opts.name
            .clone()
            .or_else(|| config_name(&host))
            .unwrap_or_else(|| "server".into()),
        opts.url.clone(),
        opts.pki_dir.clone(),
    );
    cfg.security_policy = opts.security_policy;
    cfg.security_mode = opts.security_mode;
    cfg.identity = opts.identity.clone();
    cfg.trust_on_first_use = opts.trust_on_first_use;
    cfg.validate().map_err(|message| Error::Config {
        path: "the command line".into(),
        line: None,
        message,
    })?;
    check_reachable(&opts.url, Duration::from_millis(cfg.timeout_ms)).await?;
    let conn = session::connect(&cfg).await?;
    if opts.name.is_none() {
        if let Some(name) = config_name(&conn.application_name) {
            cfg.name = name;
        }
    }
    let start = match &opts.node {
        Some(n) => n.parse::<NodeId>().map_err(|_| Error::Config {
            path: "--node".into(),
            line: None,
            message: format!("{n:?} is not a node id (e.g. ns=2;s=Line1)"),
        })?,
        None => ObjectId::ObjectsFolder.into(),
    };
    let found = browse(&conn.session, &conn.limits, start, opts).await;
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            conn.close().await;
            return Err(e);
        }
    };
    let kept = keep_mapped_types(&conn.session, &conn.limits, found).await;
    conn.close().await;
    let mut names = HashSet::new();
    cfg.tags = kept?
        .into_iter()
        .map(|f| {
            let base = f
                .path
                .iter()
                .map(|p| {
                    p.chars()
                        .map(|c| {
                            if c.is_alphanumeric() || c == '-' || c == '_' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(".");
            let mut name = base.clone();
            let mut n = 2;
            while !names.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            TagConfig::new(name, f.node_id.to_string())
        })
        .collect();
    // The password worked for browsing; the file gets a placeholder, never the secret.
    if let Identity::UserName { password, .. } = &mut cfg.identity {
        *password = Secret::new(PASSWORD_PLACEHOLDER);
    }
    Ok(ConnectorConfig {
        name: format!("{}-connector", cfg.name),
        uplink: None,
        modbus: Default::default(),
        opcua: OpcUaConfig { servers: vec![cfg] },
    })
}

/// The config as TOML with a header saying what to edit.
pub fn render(cfg: &ConnectorConfig) -> String {
    let n = cfg
        .opcua
        .servers
        .iter()
        .map(|s| s.tags.len())
        .sum::<usize>();
    let password = if cfg
        .opcua
        .servers
        .iter()
        .any(|s| matches!(s.identity, Identity::UserName { .. }))
    {
        format!("# Put the user's password in place of {PASSWORD_PLACEHOLDER:?} (discovery never writes it).\n")
    } else {
        String::new()
    };
    format!(
        "# Written by `millwright connector discover`: {n} variables found.\n\
         # Edit: remove the tags you do not need, set `platform_tag` where the default\n\
         # `<server>.<tag>` does not suit.\n{password}\
         # To run it, add where samples go:\n\
         # [uplink]\n\
         # platform_url = \"http://127.0.0.1:8080\"\n\
         # token = \"<device token>\"\n\
         # queue_dir = \"/var/lib/millwright/queue\"\n\n{}",
        cfg.to_toml()
    )
}

async fn browse(
    session: &opcua::client::Session,
    limits: &OperationLimits,
    start: NodeId,
    opts: &DiscoverOptions,
) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut seen = HashSet::from([start.clone()]);
    let mut frontier = vec![(start, Vec::<String>::new())];
    for _depth in 0..=opts.max_depth {
        if frontier.is_empty() || found.len() >= opts.max_tags {
            break;
        }
        let mut next = Vec::new();
        for chunk in frontier.chunks(limits.max_nodes_per_browse.max(1)) {
            let descs: Vec<BrowseDescription> = chunk
                .iter()
                .map(|(id, _)| BrowseDescription {
                    node_id: id.clone(),
                    browse_direction: BrowseDirection::Forward,
                    reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                    include_subtypes: true,
                    node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
                    result_mask: 0x3f,
                })
                .collect();
            let results = session
                .browse(&descs, 0, None)
                .await
                .map_err(|e| Error::OpcUa {
                    context: "browse".into(),
                    status: e.to_string(),
                })?;
            for ((_, path), result) in chunk.iter().zip(results) {
                for r in all_references(session, result).await? {
                    let id = r.node_id.node_id;
                    // Namespace 0 is the standard's own (Server object, types): not machine data.
                    if r.node_id.server_index != 0 || id.namespace == 0 || !seen.insert(id.clone())
                    {
                        continue;
                    }
                    let mut p = path.clone();
                    p.push(r.browse_name.name.as_ref().to_string());
                    match r.node_class {
                        NodeClass::Variable => {
                            if found.len() < opts.max_tags {
                                found.push(Found {
                                    path: p.clone(),
                                    node_id: id.clone(),
                                });
                            }
                            next.push((id, p)); // variables can have child variables
                        }
                        NodeClass::Object => next.push((id, p)),
                        _ => {}
                    }
                }
            }
        }
        frontier = next;
    }
    Ok(found)
}

/// The references of a browse result, following continuation points to the end.
async fn all_references(
    session: &opcua::client::Session,
    mut result: BrowseResult,
) -> Result<Vec<opcua::types::ReferenceDescription>> {
    let mut refs = result.references.take().unwrap_or_default();
    let mut cp: ByteString = result.continuation_point;
    while !cp.is_null() && !cp.is_empty() {
        let mut more = session
            .browse_next(false, std::slice::from_ref(&cp))
            .await
            .map_err(|e| Error::OpcUa {
                context: "browse next".into(),
                status: e.to_string(),
            })?;
        let Some(r) = more.pop() else { break };
        refs.extend(r.references.unwrap_or_default());
        cp = r.continuation_point;
    }
    Ok(refs)
}

/// Keeps the variables whose DataType is one the driver maps (ns=0: Boolean to DateTime,
/// i=1 to 13, and LocalizedText, i=21).
async fn keep_mapped_types(
    session: &opcua::client::Session,
    limits: &OperationLimits,
    found: Vec<Found>,
) -> Result<Vec<Found>> {
    let reads: Vec<ReadValueId> = found
        .iter()
        .map(|f| ReadValueId {
            node_id: f.node_id.clone(),
            attribute_id: AttributeId::DataType as u32,
            ..Default::default()
        })
        .collect();
    let types = limits::read_chunked(session, limits, &reads)
        .await
        .map_err(|e| Error::OpcUa {
            context: "reading data types".into(),
            status: e.to_string(),
        })?;
    Ok(found
        .into_iter()
        .zip(types)
        .filter(|(_, dv)| match &dv.value {
            Some(Variant::NodeId(t)) => {
                t.namespace == 0 && matches!(t.identifier, Identifier::Numeric(1..=13 | 21))
            }
            _ => false,
        })
        .map(|(f, _)| f)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_read_from_urls_and_application_names() {
        assert_eq!(
            config_name("Millwright machinery plant simulator").as_deref(),
            Some("millwright-machinery-plant-simulator")
        );
        assert_eq!(
            config_name("  PLC #1 (Line A) ").as_deref(),
            Some("plc-1-line-a")
        );
        assert_eq!(config_name("--"), None);
        assert_eq!(
            host_port("opc.tcp://127.0.0.1:4855/"),
            Some(("127.0.0.1".into(), 4855))
        );
        assert_eq!(
            host_port("opc.tcp://plc-1/UA/Server"),
            Some(("plc-1".into(), 4840))
        );
        assert_eq!(
            host_port("opc.tcp://[::1]:48010"),
            Some(("::1".into(), 48010))
        );
        assert_eq!(host_port("http://x"), None);
    }
}
