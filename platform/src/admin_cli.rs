//! The administration commands: `millwright tenant create`, `millwright audit verify` and
//! `millwright operator-key`. They work on the owner's connection, outside any request.

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use millwright_tenants::password::{self, Password};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use sha2::{Digest, Sha256};

use millwright_platform::config::Settings;
use millwright_platform::store::admin::{Industry, NewTenant};
use millwright_platform::store::Store;

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
    let TenantCommand::Create {
        name,
        industry,
        region,
        plan,
        owner_email,
    } = command;
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
