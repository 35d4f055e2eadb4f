//! The `millwright` command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use millwright_platform::api::Server;
use millwright_platform::config::{LogSettings, Settings};
use millwright_platform::store::Store;
use millwright_platform::{bench, demo, telemetry};

mod admin_cli;
use admin_cli::{AuditCommand, TenantCommand};
use tokio_util::sync::CancellationToken;

/// Millwright: an industrial-internet platform for smart factories.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Platform settings file (TOML), also accepted after the command name. Only the commands
    /// that use the platform's settings read it; connector commands take their own `--config`.
    #[arg(long = "config", value_name = "FILE")]
    settings: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The platform's settings file, for the commands that use it (and only those: `connector`,
/// `simulate`, `models`, `bench modbus|opcua`, `operator-key` and `example-config` read no
/// platform settings, so a connector's own `--config` never meets them).
#[derive(Args, Clone, Default)]
struct SettingsFile {
    /// Platform settings file (TOML); every setting can also come from
    /// MILLWRIGHT__SECTION__KEY.
    #[arg(
        long = "config",
        value_name = "FILE",
        env = "MILLWRIGHT_CONFIG",
        global = true
    )]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system live with no configuration: database, plants, API.
    Demo {
        /// Folder for the private PostgreSQL cluster (used when DATABASE_URL is unset).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// Serve the HTTP API (needs DATABASE_URL).
    Serve(SettingsFile),
    /// Apply database migrations and the storage layout, then exit.
    Migrate(SettingsFile),
    /// Tenant administration.
    Tenant {
        #[command(flatten)]
        settings: SettingsFile,
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(flatten)]
        settings: SettingsFile,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a new platform operator key and the digest to configure for it.
    OperatorKey,
    /// Benchmarks; each prints its figures beside a reference measured in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Simulated plants: real Modbus TCP servers behaving like machines.
    Simulate(millwright_connectors::cli::SimulateArgs),
    /// Edge connectors: run one from its config, or probe a device.
    Connector(millwright_connectors::cli::ConnectorArgs),
    /// Predictive-maintenance and yield/quality models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Print the example configuration (every setting at its default).
    ExampleConfig,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Evaluate on public reference data; the last line is the machine-readable summary.
    Eval {
        #[command(subcommand)]
        dataset: EvalDataset,
    },
}

#[derive(Subcommand)]
enum EvalDataset {
    /// NASA C-MAPSS remaining useful life; last line `rmse=… score=…`.
    Cmapss {
        /// Folder holding train_FD00x.txt, test_FD00x.txt and RUL_FD00x.txt.
        #[arg(long)]
        data: Option<PathBuf>,
        /// FD001 (one operating condition) or FD002 (six, normalised per condition).
        #[arg(long, default_value = "FD001")]
        subset: String,
        /// Trees of the forest instead of the documented default (fewer: a quick check).
        #[arg(long)]
        trees: Option<usize>,
    },
    /// AI4I 2020 machine failure; last line `f1=… recall=… precision=… auc=…`.
    Ai4i {
        /// The ai4i2020.csv file.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Trees of the classifier instead of the documented default (fewer: a quick check).
        #[arg(long)]
        trees: Option<usize>,
    },
    /// SECOM yield pass/fail from 590 process signals (10-fold stratified CV, then a
    /// time-ordered split); last line `balanced_accuracy=… gmean=… auc=…`.
    Secom {
        /// Folder holding secom.data and secom_labels.data.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Trees of the forest instead of the documented default (fewer: a quick check).
        #[arg(long)]
        trees: Option<usize>,
    },
    /// Steel Plates Faults, 7 defect types (stratified 70/30); last line `accuracy=… macro_f1=…`.
    SteelPlates {
        /// The steel_plates_faults.csv file.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Boosting rounds instead of the documented default (fewer: a quick check).
        #[arg(long)]
        trees: Option<usize>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Store COPY path vs HTTP ingest vs psql \copy of the same rows.
    Ingest {
        /// Number of samples.
        #[arg(long, default_value_t = 2_000_000)]
        samples: usize,
        /// Number of tags they are spread over.
        #[arg(long, default_value_t = 100)]
        tags: usize,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// One connector polling many simulated devices vs a bare tokio-modbus read loop.
    Modbus(millwright_connectors::bench::BenchModbusArgs),
    /// OPC UA subscription values per second through the connector vs a bare async-opcua client.
    Opcua(millwright_connectors::bench::opcua::BenchOpcUaArgs),
    /// HTTP ingest with alarm rules vs without (ratio), then a paced run at the target rate.
    Alarms {
        /// Number of tags.
        #[arg(long, default_value_t = 1000)]
        tags: usize,
        /// Number of rules (one per tag, cycling).
        #[arg(long, default_value_t = 1000)]
        rules: usize,
        /// Samples per timed run.
        #[arg(long, default_value_t = 300_000)]
        samples: usize,
        /// Target samples per second of the paced run.
        #[arg(long, default_value_t = 10_000)]
        rate: usize,
        /// Seconds of the paced run.
        #[arg(long, default_value_t = 30)]
        secs: u64,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// Per-shift OEE of many machines over days: state intervals and counts vs raw samples.
    Oee {
        /// Number of machines.
        #[arg(long, default_value_t = 50)]
        machines: usize,
        /// Days of data (three shifts a day).
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// C2B orders: quote p50/p99 over HTTP with many open orders (beside the empty plant),
    /// and scheduling as many orders at once earliest due date first (beside arrival order).
    Orders {
        /// Lines (four kinds, two machines each).
        #[arg(long, default_value_t = 20)]
        lines: usize,
        /// Open orders.
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        /// Quotes timed per measurement.
        #[arg(long, default_value_t = 300)]
        quotes: usize,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// A month of daily sector indices (3 sectors x 10 regions): stored contributions vs raw
    /// samples (issue #16).
    Bureau {
        /// Number of tenants.
        #[arg(long, default_value_t = 200)]
        tenants: usize,
        /// Days of data.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// Issue #18: the same tenants' samples into one node and into a Citus coordinator with
    /// one and with two workers (private clusters here): ingest rate, query latency, bytes per
    /// sample in row and columnar storage, side by side (`ratio_…`).
    Citus {
        /// Tenants.
        #[arg(long, default_value_t = 20)]
        tenants: usize,
        /// Tags per tenant.
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// Seconds of 1 Hz data per tag.
        #[arg(long, default_value_t = 1000)]
        seconds: usize,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// One-minute buckets over a day: rollups vs raw samples.
    Query {
        /// Number of tags.
        #[arg(long, default_value_t = 100)]
        tags: usize,
        /// Hours of 1 Hz data.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        #[command(flatten)]
        settings: SettingsFile,
    },
    /// N tenants × M tags through connector uplinks while consoles query, beside the
    /// single-tenant `bench ingest` HTTP figure.
    Load {
        /// Tenants.
        #[arg(long, default_value_t = 10)]
        tenants: usize,
        /// Tags per tenant.
        #[arg(long, default_value_t = 200)]
        tags: usize,
        /// Samples per tag per second.
        #[arg(long, default_value_t = 1.0)]
        rate_hz: f64,
        /// Consoles per tenant, querying back to back.
        #[arg(long, default_value_t = 2)]
        consoles: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 600)]
        duration: u64,
        /// Rows of the single-tenant reference run.
        #[arg(long, default_value_t = 200_000)]
        reference_samples: usize,
        #[command(flatten)]
        settings: SettingsFile,
    },
}

impl Command {
    /// The settings file named for a command that reads the platform's settings; `None` for
    /// the commands that do not.
    fn settings_file(&self) -> Option<&SettingsFile> {
        match self {
            Command::Demo { settings, .. }
            | Command::Serve(settings)
            | Command::Migrate(settings)
            | Command::Tenant { settings, .. }
            | Command::Audit { settings, .. }
            | Command::Bench {
                command:
                    BenchCommand::Ingest { settings, .. }
                    | BenchCommand::Query { settings, .. }
                    | BenchCommand::Alarms { settings, .. }
                    | BenchCommand::Oee { settings, .. }
                    | BenchCommand::Orders { settings, .. }
                    | BenchCommand::Bureau { settings, .. }
                    | BenchCommand::Citus { settings, .. }
                    | BenchCommand::Load { settings, .. },
            } => Some(settings),
            _ => None,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Platform settings only for the commands that use them; the others log as the
    // environment says (MILLWRIGHT__LOG__FORMAT, MILLWRIGHT__LOG__FILTER, RUST_LOG).
    let settings = match cli.command.settings_file() {
        Some(file) => {
            let file = file.config.as_deref().or(cli.settings.as_deref());
            let settings = Settings::load(file).context("reading settings")?;
            telemetry::init(&settings.log);
            settings
        }
        None => {
            let mut log = LogSettings::from_env();
            if is_discovery(&cli.command) {
                // Discovery reports its own single error; async-opcua's retries say nothing more.
                log.filter.push_str(",opcua_client=off,opcua_core=off");
            }
            telemetry::init(&log);
            Settings::default()
        }
    };
    match cli.command {
        Command::Demo { data_dir, .. } => {
            run_demo(settings, data_dir.unwrap_or_else(demo::default_data_dir)).await
        }
        Command::Serve(_) => serve(settings).await,
        Command::Migrate(_) => {
            let store = Store::open(&settings.database, &settings.store)
                .await
                .context("migrating")?;
            println!("migrations applied; storage layout: {:?}", store.backend());
            Ok(())
        }
        Command::Tenant { command, .. } => admin_cli::tenant(settings, command).await,
        Command::Audit { command, .. } => admin_cli::audit(settings, command).await,
        Command::OperatorKey => {
            admin_cli::operator_key();
            Ok(())
        }
        Command::Bench { command } => match command {
            BenchCommand::Ingest { samples, tags, .. } => {
                bench::ingest::run(settings, samples, tags)
                    .await
                    .map(drop)
                    .context("ingest benchmark")
            }
            BenchCommand::Load {
                tenants,
                tags,
                rate_hz,
                consoles,
                duration,
                reference_samples,
                ..
            } => bench::load::run(
                settings,
                bench::load::LoadOptions {
                    tenants,
                    tags,
                    rate_hz,
                    consoles,
                    duration: std::time::Duration::from_secs(duration),
                    reference_samples,
                },
            )
            .await
            .map(drop)
            .context("load benchmark"),
            BenchCommand::Alarms {
                tags,
                rules,
                samples,
                rate,
                secs,
                ..
            } => bench::alarms::run(settings, tags.max(1), rules, samples, rate, secs)
                .await
                .map(drop)
                .context("alarms benchmark"),
            BenchCommand::Query { tags, hours, .. } => bench::query::run(settings, tags, hours)
                .await
                .map(drop)
                .context("query benchmark"),
            BenchCommand::Oee { machines, days, .. } => bench::oee::run(settings, machines, days)
                .await
                .map(drop)
                .context("OEE benchmark"),
            BenchCommand::Orders {
                lines,
                orders,
                quotes,
                ..
            } => bench::orders::run(settings, lines, orders, quotes)
                .await
                .map(drop)
                .context("orders benchmark"),
            BenchCommand::Bureau { tenants, days, .. } => {
                bench::bureau::run(settings, tenants.max(1), days.max(1))
                    .await
                    .map(drop)
                    .context("bureau benchmark")
            }
            BenchCommand::Citus {
                tenants,
                tags,
                seconds,
                ..
            } => bench::citus::run(settings, tenants.max(1), tags.max(1), seconds.max(60))
                .await
                .map(drop)
                .context("Citus benchmark"),
            BenchCommand::Modbus(args) => millwright_connectors::bench::bench_modbus(args)
                .await
                .context("modbus benchmark"),
            BenchCommand::Opcua(args) => millwright_connectors::bench::opcua::bench_opcua(args)
                .await
                .context("opcua benchmark"),
        },
        Command::Simulate(args) => millwright_connectors::cli::simulate(args)
            .await
            .context("simulating plants"),
        // Connector errors name the file, device or endpoint themselves: one line each.
        Command::Connector(args) => Ok(millwright_connectors::cli::connector(args).await?),
        Command::Models {
            command: ModelsCommand::Eval { dataset },
        } => eval_model(dataset).await,
        Command::ExampleConfig => {
            print!("{}", Settings::example_toml());
            Ok(())
        }
    }
}

fn is_discovery(command: &Command) -> bool {
    use millwright_connectors::cli::{ConnectorArgs, ConnectorCommand};
    matches!(
        command,
        Command::Connector(ConnectorArgs {
            command: ConnectorCommand::Discover(_)
        })
    )
}

async fn eval_model(dataset: EvalDataset) -> anyhow::Result<()> {
    use millwright_models::data::default_data_dir;
    // Training is CPU-bound and takes a while: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        Ok(match dataset {
            EvalDataset::Cmapss {
                data,
                subset,
                trees,
            } => {
                let subset = subset
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--subset: {e}"))?;
                let dir = data.unwrap_or_else(|| default_data_dir().join("cmapss"));
                let mut options = millwright_models::CmapssOptions::new(subset);
                if let Some(trees) = trees {
                    options.model.trees = trees.max(1);
                }
                millwright_models::eval_cmapss(&dir, &options)
                    .with_context(|| format!("evaluating on {}", dir.display()))?
                    .to_string()
            }
            EvalDataset::Ai4i { data, trees } => {
                let file = data.unwrap_or_else(|| default_data_dir().join("ai4i2020/ai4i2020.csv"));
                let mut options = millwright_models::Ai4iOptions::default();
                if let Some(trees) = trees {
                    options.model.trees = trees.max(1);
                }
                millwright_models::eval_ai4i(&file, &options)
                    .with_context(|| format!("evaluating on {}", file.display()))?
                    .to_string()
            }
            EvalDataset::Secom { data, trees } => {
                let dir = data.unwrap_or_else(|| default_data_dir().join("secom"));
                let mut options = millwright_models::SecomOptions::default();
                if let Some(trees) = trees {
                    options.model.forest.trees = trees.max(1);
                }
                millwright_models::eval_secom(&dir, &options)
                    .with_context(|| format!("evaluating on {}", dir.display()))?
                    .to_string()
            }
            EvalDataset::SteelPlates { data, trees } => {
                let file = data.unwrap_or_else(|| {
                    default_data_dir().join("steel-plates/steel_plates_faults.csv")
                });
                let mut options = millwright_models::SteelOptions::default();
                if let (Some(trees), millwright_models::eval::steel::SteelModel::Boosting(p)) =
                    (trees, &mut options.model)
                {
                    p.rounds = trees.max(1);
                }
                millwright_models::eval_steel_plates(&file, &options)
                    .with_context(|| format!("evaluating on {}", file.display()))?
                    .to_string()
            }
        })
    })
    .await??;
    println!("{}", report.trim_end());
    Ok(())
}

async fn run_demo(settings: Settings, data_dir: PathBuf) -> anyhow::Result<()> {
    let demo = demo::Demo::start(settings, data_dir.clone())
        .await
        .with_context(|| format!("starting the demo (data folder {})", data_dir.display()))?;
    println!("API: {}", demo.info.api);
    println!("API key: {}", demo.info.api_key);
    println!("Operator key: {}", demo.info.operator_key);
    println!("Console: {}", demo.info.console);
    for login in &demo.info.logins {
        println!(
            "Console login ({}): {} / {}",
            login.role, login.email, login.password
        );
    }
    println!(
        "Try: curl -H 'Authorization: Bearer {}' {}/api/v1/tags",
        demo.info.api_key, demo.info.api
    );
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await; // Ctrl-C, or SIGTERM from a service manager
    eprintln!("Stopping...");
    demo.stop().await;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = Store::open(&settings.database, &settings.store)
        .await
        .context("opening the store")?;
    let settings = Arc::new(settings);
    let server = Server::bind(store.clone(), settings.clone())
        .await
        .with_context(|| format!("binding {}", settings.http.listen))?;
    tracing::info!(address = %server.local_addr(), "Serving the API.");
    let stop = CancellationToken::new();
    // Issue #18: every background job runs under its lease, so any number of replicas can
    // serve one database and each job still runs in one of them at a time.
    let leases = server.leases();
    let alerting = server.alerting();
    tracing::info!(holder = %leases.holder(), "Background work runs under leases.");
    let jobs = millwright_platform::leases::jobs::spawn(&store, &settings, &leases, &stop);
    let s = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        s.cancel();
    });
    let s = stop.clone();
    server.run(async move { s.cancelled().await }).await?;
    for job in jobs {
        let _ = job.await;
    }
    // The evaluator saves its states before the leases are given up.
    alerting.stopped(std::time::Duration::from_secs(5)).await;
    leases.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
