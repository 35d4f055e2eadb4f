//! The administration commands: `millwright tenant create|move|placements|rebalance`,
//! `millwright audit verify` and `millwright operator-key`. They work on the owner's connection, outside any request.

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use millwright_tenants::password::{self, Password};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use sha2::{Digest, Sha256};

use millwright_platform::config::Settings;
use millwright_platform::store::admin::{Industry, NewTenant};
use millwright_platform::store::citus_admin::{MoveStep, RebalanceStrategy, TransferMode};
use millwright_platform::store::{Store, TenantId};

/// `millwright tenant …`
#[derive(Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant and print an owner API key (shown once). With `--owner-email`, also
    /// create its first owner, whose password is read from MILLWRIGHT_OWNER_PASSWORD (never a
    /// flag, so it stays out of shell history and process lists).
    Create {
        /// Display name, unique.
        name: String,
        /// Industry.
        #[arg(long, value_enum, default_value = "other")]
        industry: IndustryArg,
        /// Region, free text.
        #[arg(long, default_value = "")]
        region: String,
        /// Plan.
        #[arg(long, value_enum, default_value = "monitor")]
        plan: PlanArg,
        /// Email of the first owner.
        #[arg(long)]
        owner_email: Option<String>,
    },
    /// Citus layout (issue #18): isolate a tenant to shards of its own and move them to
    /// another worker while it keeps ingesting; progress lines, then `moved: …`.
    Move {
        /// The tenant, by id or name.
        #[arg(long)]
        tenant: String,
        /// The worker to move to (`host:port` or `host`, as `tenant placements` lists them);
        /// by default the other worker holding the fewest bytes.
        #[arg(long)]
        to: Option<String>,
        /// How Citus copies the shards: `force-logical` (writes pause only at the switch) or
        /// `block-writes` (writes wait for the whole copy).
        #[arg(long, value_enum, default_value = "force-logical")]
        mode: TransferArg,
    },
    /// Citus layout: which worker holds which tenant, and what each worker holds.
    Placements,
    /// Citus layout: even out the shards between the workers (Citus's background
    /// rebalancer) and wait until it is done, with progress lines.
    Rebalance {
        /// How Citus copies the shards.
        #[arg(long, value_enum, default_value = "force-logical")]
        mode: TransferArg,
        /// What to even out.
        #[arg(long, value_enum, default_value = "by-shard-count")]
        strategy: StrategyArg,
    },
}

/// Shard transfer mode on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TransferArg {
    /// Logical replication when every table allows it, else blocking.
    Auto,
    /// Copy, then catch up through logical replication.
    ForceLogical,
    /// Block writes for the whole copy.
    BlockWrites,
}

impl From<TransferArg> for TransferMode {
    fn from(a: TransferArg) -> Self {
        match a {
            TransferArg::Auto => TransferMode::Auto,
            TransferArg::ForceLogical => TransferMode::ForceLogical,
            TransferArg::BlockWrites => TransferMode::BlockWrites,
        }
    }
}

/// Rebalance strategy on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StrategyArg {
    /// Shards per worker.
    ByShardCount,
    /// Bytes per worker.
    ByDiskSize,
}

impl From<StrategyArg> for RebalanceStrategy {
    fn from(a: StrategyArg) -> Self {
        match a {
            StrategyArg::ByShardCount => RebalanceStrategy::ByShardCount,
            StrategyArg::ByDiskSize => RebalanceStrategy::ByDiskSize,
        }
    }
}

/// `millwright audit …`
#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute every tenant's audit chain (or one's) and the operator's, and report the
    /// first broken entry. Exits non-zero if any chain is broken.
    Verify {
        /// Only this tenant (by name).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Industry on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum IndustryArg {
    /// Household appliances.
    Appliance,
    /// Garments and textiles.
    Garment,
    /// Machinery.
    Machinery,
    /// Anything else.
    Other,
}

/// Plan on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PlanArg {
    /// Telemetry and alarms.
    Monitor,
    /// Adds OEE, work orders, quality and yield.
    Mes,
    /// Adds predictive maintenance and C2B custom orders.
    Pro,
}

impl From<IndustryArg> for Industry {
    fn from(a: IndustryArg) -> Self {
        match a {
            IndustryArg::Appliance => Industry::Appliance,
            IndustryArg::Garment => Industry::Garment,
            IndustryArg::Machinery => Industry::Machinery,
            IndustryArg::Other => Industry::Other,
        }
    }
}

impl From<PlanArg> for Plan {
    fn from(a: PlanArg) -> Self {
        match a {
            PlanArg::Monitor => Plan::Monitor,
            PlanArg::Mes => Plan::Mes,
            PlanArg::Pro => Plan::Pro,
        }
    }
}

async fn open(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.database, &settings.store)
        .await
        .context("opening the store")
}

/// Runs a `tenant` command.
pub(crate) async fn tenant(settings: Settings, command: TenantCommand) -> anyhow::Result<()> {
    let (name, industry, region, plan, owner_email) = match command {
        TenantCommand::Create {
            name,
            industry,
            region,
            plan,
            owner_email,
        } => (name, industry, region, plan, owner_email),
        TenantCommand::Move { tenant, to, mode } => {
            return move_tenant(&settings, &tenant, to.as_deref(), mode.into()).await
        }
        TenantCommand::Placements => return placements(&settings).await,
        TenantCommand::Rebalance { mode, strategy } => {
            return rebalance(&settings, mode.into(), strategy.into()).await
        }
    };
    let owner_password = match &owner_email {
        Some(_) => {
            let p = std::env::var("MILLWRIGHT_OWNER_PASSWORD")
                .context("--owner-email needs the password in MILLWRIGHT_OWNER_PASSWORD")?;
            let p = Password::from(p);
            Some(tokio::task::spawn_blocking(move || password::hash(&p)).await??)
        }
        None => None,
    };
    let store = open(&settings).await?;
    let tenant = store
        .create_tenant_as(
            &NewTenant {
                name,
                industry: industry.into(),
                region,
                plan: plan.into(),
            },
            "cli",
        )
        .await
        .context("creating the tenant")?;
    if let (Some(email), Some(hash)) = (owner_email, owner_password) {
        let user = store
            .tenant(tenant)
            .await?
            .acting_as("operator")
            .create_user(&email, "", Role::Owner, &hash)
            .await
            .context("creating the owner")?;
        println!("owner: {} (user {})", user.email, user.id);
    }
    let key = store.issue_api_key(tenant, "initial", Role::Owner).await?;
    println!("tenant: {tenant}");
    println!("API key: {key}");
    Ok(())
}

/// A tenant named on the command line by id or by name.
async fn find_tenant(store: &Store, tenant: &str) -> anyhow::Result<TenantId> {
    if let Ok(id) = tenant.parse::<i32>() {
        return Ok(TenantId(id));
    }
    store
        .tenant_by_name(tenant)
        .await?
        .with_context(|| format!("--tenant: no tenant named {tenant:?}"))
}

fn megabytes(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `tenant move`: progress lines, then `moved: tenant=… from=… to=… shard=… isolate_s=… move_s=…`.
async fn move_tenant(
    settings: &Settings,
    tenant: &str,
    to: Option<&str>,
    mode: TransferMode,
) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let tenant = find_tenant(&store, tenant).await?;
    let admin = store.citus_admin().await?;
    let report = admin
        .move_tenant(tenant, to, mode, |step| match step {
            MoveStep::Found(p) => println!(
                "move: tenant {} ({}) is on {} in shard group {} ({})",
                p.tenant,
                p.name,
                p.worker,
                p.shard_id,
                if p.isolated {
                    "its own".to_string()
                } else {
                    format!("shared with {} other tenants", p.shared_with)
                }
            ),
            MoveStep::Isolating { elapsed } => println!(
                "move: isolating tenant {tenant} to shards of its own ({:.0} s)",
                elapsed.as_secs_f64()
            ),
            MoveStep::Isolated { shard_id, took } => println!(
                "move: isolated in shard group {shard_id} in {:.1} s",
                took.as_secs_f64()
            ),
            MoveStep::Moving {
                shard_id,
                from,
                to,
                mode,
            } => println!("move: moving shard group {shard_id} from {from} to {to} ({mode})"),
            MoveStep::Copying {
                copied,
                total,
                status,
                elapsed,
            } => println!(
                "move: {} of {} on the new worker, {} ({:.0} s)",
                megabytes(copied),
                megabytes(total),
                if status.is_empty() {
                    "copying"
                } else {
                    &status
                },
                elapsed.as_secs_f64()
            ),
        })
        .await
        .with_context(|| format!("moving tenant {tenant}"))?;
    println!(
        "moved: tenant={} from={} to={} shard={} isolated_now={} isolate_s={:.1} move_s={:.1}",
        report.tenant,
        report.from,
        report.to,
        report.shard_id,
        report.isolated_now,
        report.isolate_secs,
        report.move_secs
    );
    Ok(())
}

/// `tenant placements`: one `worker:` line per worker, one `tenant:` line per tenant.
async fn placements(settings: &Settings) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let admin = store.citus_admin().await?;
    for w in admin.workers().await? {
        println!(
            "worker: {} shard_groups={} size={}",
            w.worker,
            w.shard_groups,
            megabytes(w.bytes)
        );
    }
    for p in admin.placements(None).await? {
        println!(
            "tenant: {} ({}) worker={} shard={} isolated={} shared_with={}",
            p.tenant, p.name, p.worker, p.shard_id, p.isolated, p.shared_with
        );
    }
    Ok(())
}

/// `tenant rebalance`: the rebalancer's state every second until it has finished.
async fn rebalance(
    settings: &Settings,
    mode: TransferMode,
    strategy: RebalanceStrategy,
) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let admin = store.citus_admin().await?;
    let done = admin
        .rebalance(mode, strategy, |s| {
            println!(
                "rebalance: job={} state={} {} ({:.0} s)",
                s.job_id.map_or("-".to_string(), |j| j.to_string()),
                s.state,
                s.tasks,
                s.elapsed.as_secs_f64()
            )
        })
        .await
        .context("rebalancing")?;
    println!(
        "rebalanced: state={} secs={:.1}",
        done.state.replace(' ', "_"),
        done.elapsed.as_secs_f64()
    );
    Ok(())
}

/// Runs an `audit` command.
pub(crate) async fn audit(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { tenant } = command;
    let store = open(&settings).await?;
    let only = match tenant {
        Some(name) => Some(
            store
                .tenant_by_name(&name)
                .await?
                .with_context(|| format!("no tenant named {name:?}"))?,
        ),
        None => None,
    };
    let verdicts = store.verify_audit(only).await?;
    let mut broken = 0;
    for v in &verdicts {
        // Tenant 0 is the platform operator's own chain.
        let chain = if v.tenant.0 == 0 {
            "operator".to_string()
        } else {
            format!("tenant {} ({})", v.tenant, v.name)
        };
        match &v.broken {
            None => println!("audit: {chain}: {} entries, chain intact", v.entries),
            Some(reason) => {
                broken += 1;
                println!("audit: {chain}: BROKEN: {reason}");
            }
        }
    }
    if broken > 0 {
        bail!("{broken} audit chain(s) broken");
    }
    Ok(())
}

/// Prints a new operator key and the digest to configure as `auth.operator_key_sha256`.
pub(crate) fn operator_key() {
    let key = millwright_tenants::api_key::NewApiKey::generate();
    println!("operator key: {}", key.plaintext);
    println!(
        "auth.operator_key_sha256 = \"{}\"",
        hex::encode(Sha256::digest(key.plaintext.as_bytes()))
    );
}
