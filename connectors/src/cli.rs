//! Command-line arguments and entry points; the `millwright` binary adds one enum variant per
//! command and calls the matching function:
//!
//! - `millwright simulate …` → [`SimulateArgs`], [`simulate`]
//! - `millwright connector run|probe|discover …` → [`ConnectorArgs`], [`connector`]
//! - `millwright bench modbus …` → [`crate::bench::BenchModbusArgs`], [`crate::bench::bench_modbus`]
//! - `millwright bench opcua …` → [`crate::bench::opcua::BenchOpcUaArgs`],
//!   [`crate::bench::opcua::bench_opcua`]

use std::{net::IpAddr, path::PathBuf};

use clap::{Args, Subcommand};

use crate::{
    config::ConnectorConfig,
    modbus::config::RegisterKind,
    probe::{self, Target},
    runtime::Connector,
    simulator::{Plant, PlantKind, PlantOptions},
    Result,
};

/// `millwright simulate`: serve simulated plants over Modbus TCP until Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Plant to simulate; all three when left out.
    #[arg(long, value_enum)]
    pub plant: Option<PlantKind>,
    /// Seed of everything random: the same seed gives the same machines.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// First port to use: each plant's Modbus ports follow one another, then (with `--opcua`)
    /// its OPC UA port; any free ports when left out.
    #[arg(long)]
    pub base_port: Option<u16>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Also serve each plant over OPC UA (the port after its Modbus ports with `--base-port`,
    /// else any free port; the URL is printed), with its certificate store under
    /// `<pki-dir>/<plant>`.
    #[arg(long)]
    pub opcua: bool,
    /// Certificate stores of the OPC UA servers.
    #[arg(long, default_value = "pki-simulator")]
    pub pki_dir: PathBuf,
    /// Write a connector config for each plant into this folder (`<plant>.toml`).
    #[arg(long)]
    pub write_configs: Option<PathBuf>,
    /// Platform URL written into those configs.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub platform_url: String,
    /// Device token written into those configs.
    #[arg(long, env = "MILLWRIGHT_TOKEN", default_value = "changeme")]
    pub token: String,
}

/// Runs `millwright simulate`.
pub async fn simulate(args: SimulateArgs) -> Result<()> {
    let kinds = args.plant.map_or(PlantKind::ALL.to_vec(), |k| vec![k]);
    let mut plants = Vec::new();
    let mut servers = Vec::new();
    let mut next_port = args.base_port;
    for kind in kinds {
        let n = kind.machines().iter().map(|m| m.2).max().unwrap_or(0) + 1;
        let ports = next_port.map(|p| (0..n as u16).map(|i| p + i).collect());
        let opcua_port = next_port.map(|p| p + n as u16);
        next_port = next_port.map(|p| p + n as u16 + u16::from(args.opcua));
        let opts = PlantOptions {
            bind: args.bind,
            ports,
            speed: args.speed,
            ..PlantOptions::default()
        };
        let plant = Plant::start_with(kind, args.seed, opts).await?;
        for d in &plant.devices {
            println!("{} {} at {} unit {}", kind.as_str(), d.name, d.addr, d.unit);
        }
        if args.opcua {
            let mut o =
                crate::simulator::opcua::OpcUaServerOptions::new(args.pki_dir.join(kind.as_str()));
            o.bind = args.bind;
            o.port = opcua_port.unwrap_or(0);
            let server = plant.serve_opcua(o).await?;
            println!("{} OPC UA at {}", kind.as_str(), server.url);
            servers.push(server);
        }
        if let Some(dir) = &args.write_configs {
            std::fs::create_dir_all(dir)?;
            let uplink = crate::config::UplinkConfig {
                platform_url: args.platform_url.clone(),
                token: args.token.clone(),
                queue_dir: dir.join(format!("{}-queue", kind.as_str())),
                queue_max_bytes: 256 * 1024 * 1024,
                batch_max_samples: 1000,
                flush_interval_ms: 1000,
                request_timeout_ms: 10_000,
                command_poll_ms: crate::config::default_command_poll(),
                ca_file: None,
                durable: false,
            };
            let path = dir.join(format!("{}.toml", kind.as_str()));
            std::fs::write(&path, plant.connector_config(Some(uplink)).to_toml())?;
            println!("{} connector config: {}", kind.as_str(), path.display());
        }
        plants.push(plant);
    }
    crate::runtime::stop_signal().await;
    for s in servers {
        s.stop().await;
    }
    for p in plants {
        p.stop().await;
    }
    Ok(())
}

/// `millwright connector …`.
#[derive(Debug, Clone, Args)]
pub struct ConnectorArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConnectorCommand,
}

/// Connector subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ConnectorCommand {
    /// Poll the configured devices and send samples to the platform until Ctrl-C or SIGTERM
    /// (both stop cleanly: what is held in memory is sent or written to the disk queue).
    Run(RunArgs),
    /// Read once and print raw registers decoded in every type and word order.
    Probe(ProbeArgs),
    /// Browse an OPC UA server and print a connector config for the variables found.
    Discover(DiscoverArgs),
}

/// `millwright connector discover opc.tcp://HOST:PORT [--node NODE]`.
#[derive(Debug, Clone, Args)]
pub struct DiscoverArgs {
    /// The server's URL, e.g. `opc.tcp://plc-1:4840/`.
    pub url: String,
    /// Node to browse from, e.g. `ns=2;s=Line1`; the Objects folder when left out.
    #[arg(long)]
    pub node: Option<String>,
    /// Name of the server in the config and in platform tag names; the server's own
    /// ApplicationName when left out.
    #[arg(long)]
    pub name: Option<String>,
    /// Write the config to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// The connector's certificate store (created if missing). Default: `pki/` beside the
    /// `--output` file, else the per-user data folder (`$XDG_DATA_HOME/millwright/pki`,
    /// `~/.local/share/millwright/pki`); the folder used is printed.
    #[arg(long)]
    pub pki_dir: Option<PathBuf>,
    /// Sign in as this user (else anonymously).
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    /// The user's password; better given in MILLWRIGHT_OPCUA_PASSWORD, out of shell history.
    /// Never written into the config.
    #[arg(long, env = "MILLWRIGHT_OPCUA_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Security policy: none or basic256_sha256.
    #[arg(long, value_enum, default_value = "none")]
    pub security_policy: crate::opcua::config::Policy,
    /// Security mode: none, sign or sign_and_encrypt.
    #[arg(long, value_enum, default_value = "none")]
    pub security_mode: crate::opcua::config::Mode,
    /// Trust the server's certificate on first use (else an unknown one is refused with the
    /// file to move into the trusted folder).
    #[arg(long)]
    pub trust_on_first_use: bool,
    /// Deepest level browsed below the start node.
    #[arg(long, default_value_t = 10)]
    pub max_depth: usize,
    /// Most variables listed.
    #[arg(long, default_value_t = 10_000)]
    pub max_tags: usize,
}

/// `millwright connector run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Connector config file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Commissioning: print each decoded sample as a JSON line (tag, time, value, quality) and
    /// send nothing; `[uplink]` is not needed.
    #[arg(long)]
    pub print: bool,
    /// With `--print`: stop after this many samples.
    #[arg(long, requires = "print")]
    pub count: Option<u64>,
}

/// `millwright connector probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Connector config file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Tag to probe: `device.tag`, or `tag` when unique.
    #[arg(long, conflicts_with_all = ["device", "address"], required_unless_present = "device")]
    pub tag: Option<String>,
    /// Device to probe (with `--address`).
    #[arg(long, requires = "address")]
    pub device: Option<String>,
    /// First register (zero-based).
    #[arg(long)]
    pub address: Option<u16>,
    /// Table: coil, discrete_input, input, holding.
    #[arg(long, default_value = "holding", value_parser = parse_kind)]
    pub kind: RegisterKind,
    /// Registers to read.
    #[arg(long, default_value_t = 4)]
    pub count: u16,
}

fn parse_kind(s: &str) -> std::result::Result<RegisterKind, String> {
    match s {
        "coil" => Ok(RegisterKind::Coil),
        "discrete_input" | "discrete" => Ok(RegisterKind::DiscreteInput),
        "input" => Ok(RegisterKind::Input),
        "holding" => Ok(RegisterKind::Holding),
        other => Err(format!(
            "{other:?} is not one of coil, discrete_input, input, holding"
        )),
    }
}

/// The certificate store discovery uses when `--pki-dir` is not given: `pki/` beside the
/// output file, else the per-user data folder.
pub fn default_pki_dir(output: Option<&std::path::Path>) -> PathBuf {
    if let Some(out) = output {
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
        return dir.unwrap_or(std::path::Path::new(".")).join("pki");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match data {
        Some(d) => d.join("millwright").join("pki"),
        None => PathBuf::from("pki"),
    }
}

/// Runs `millwright connector run|probe|discover`.
pub async fn connector(args: ConnectorArgs) -> Result<()> {
    match args.command {
        ConnectorCommand::Run(a) if a.print => {
            let cfg = ConnectorConfig::load(&a.config)?;
            crate::commission::print(&cfg, a.count, std::io::stdout()).await
        }
        ConnectorCommand::Run(a) => {
            let cfg = ConnectorConfig::load(&a.config)?;
            Connector::start(cfg).await?.run_until_stopped().await
        }
        ConnectorCommand::Probe(a) => {
            let cfg = ConnectorConfig::load(&a.config)?;
            let target = match (a.tag, a.device, a.address) {
                (Some(tag), _, _) => Target::Tag(tag),
                (None, Some(device), Some(address)) => Target::Address {
                    device,
                    kind: a.kind,
                    address,
                    count: a.count,
                },
                _ => {
                    return Err(crate::Error::NotFound(
                        "give --tag, or --device with --address".into(),
                    ))
                }
            };
            print!("{}", probe::probe(&cfg, &target).await?);
            Ok(())
        }
        ConnectorCommand::Discover(a) => {
            use crate::opcua::config::{Identity, Secret};
            let pki_dir = a
                .pki_dir
                .clone()
                .unwrap_or_else(|| default_pki_dir(a.output.as_deref()));
            // The written config names it, and must work from wherever it is run.
            let pki_dir = std::path::absolute(&pki_dir).unwrap_or(pki_dir);
            eprintln!("PKI folder: {}", pki_dir.display());
            let identity = match (a.user, a.password) {
                (Some(user), Some(password)) => Identity::UserName {
                    user,
                    password: Secret::new(password),
                },
                _ => Identity::Anonymous,
            };
            let opts = crate::opcua::discover::DiscoverOptions {
                url: a.url,
                node: a.node,
                name: a.name,
                pki_dir,
                security_policy: a.security_policy,
                security_mode: a.security_mode,
                identity,
                trust_on_first_use: a.trust_on_first_use,
                max_depth: a.max_depth,
                max_tags: a.max_tags,
            };
            let cfg = crate::opcua::discover::discover(&opts).await?;
            let text = crate::opcua::discover::render(&cfg);
            match &a.output {
                Some(path) => {
                    std::fs::write(path, text).map_err(|e| {
                        std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
                    })?;
                    let n: usize = cfg.opcua.servers.iter().map(|s| s.tags.len()).sum();
                    eprintln!("Wrote {} ({n} variables).", path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, Subcommand};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Simulate(SimulateArgs),
        Connector(ConnectorArgs),
        Bench(crate::bench::BenchModbusArgs),
    }

    #[test]
    fn the_arguments_are_consistent_and_parse() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from([
            "millwright",
            "simulate",
            "--plant",
            "garment",
            "--seed",
            "7",
        ]);
        assert!(matches!(
            cli.command,
            Command::Simulate(SimulateArgs {
                plant: Some(PlantKind::Garment),
                seed: 7,
                ..
            })
        ));
        let cli = Cli::parse_from([
            "millwright",
            "connector",
            "probe",
            "--config",
            "f.toml",
            "--device",
            "imm-1",
            "--address",
            "20",
            "--kind",
            "input",
        ]);
        let Command::Connector(ConnectorArgs {
            command: ConnectorCommand::Probe(p),
        }) = cli.command
        else {
            panic!("probe")
        };
        assert_eq!(
            (p.device.as_deref(), p.address, p.kind),
            (Some("imm-1"), Some(20), RegisterKind::Input)
        );
        assert!(
            Cli::try_parse_from(["millwright", "connector", "probe", "--config", "f.toml"])
                .is_err()
        );
        let cli = Cli::parse_from([
            "millwright",
            "connector",
            "discover",
            "opc.tcp://plc-1:4840/",
            "--node",
            "ns=2;s=Line1",
            "--security-policy",
            "basic256_sha256",
            "--security-mode",
            "sign_and_encrypt",
        ]);
        let Command::Connector(ConnectorArgs {
            command: ConnectorCommand::Discover(d),
        }) = cli.command
        else {
            panic!("discover")
        };
        assert_eq!(
            (d.url.as_str(), d.node.as_deref()),
            ("opc.tcp://plc-1:4840/", Some("ns=2;s=Line1"))
        );
        assert_eq!(
            (d.security_policy, d.security_mode),
            (
                crate::opcua::config::Policy::Basic256Sha256,
                crate::opcua::config::Mode::SignAndEncrypt
            )
        );
        assert!(Cli::try_parse_from([
            "millwright",
            "connector",
            "probe",
            "--config",
            "f",
            "--tag",
            "t",
            "--device",
            "d"
        ])
        .is_err());
    }
}
