//! The tenant-scoped time-series store: the only way the rest of the platform reaches the
//! database.
//!
//! Two pools: the owner's, for migrations, tenant administration and maintenance; and the
//! application role's, for everything a request does. Every request-side operation goes
//! through a [`TenantSession`], which opens a transaction and sets `millwright.tenant_id` in it,
//! so the database's row-level security and tenant-filtering views apply to every statement.
//!
//! # Layout
//! - [`layout`]: TimescaleDB or native partitions, chosen once per database; maintenance.
//! - `session`: a tenant's transaction-scoped access.
//! - [`ingest`]: binary COPY into a staging table, then an idempotent commit.
//! - [`query`]: raw, bucketed and latest-value reads; [`fill`]: what empty buckets answer.
//! - [`entities`]: sites, lines, machines and tags.
//! - [`commands`]: setpoint commands on their way to connectors.
//! - [`admin`]: creating tenants, retention per plan (owner role only).
//! - [`auth`]: credentials: API keys, logins, sessions, refresh tokens.
//! - [`users`], [`keys`]: a tenant's users, API keys and device tokens.
//! - [`tenancy`]: a tenant's own profile, plan and usage.
//! - [`audit`]: the hash-chained audit log, appended in each change's transaction.
//! - [`events`], [`models`], [`alarms`]: the predictive-maintenance lifecycle (labels, model
//!   versions and training jobs, alarms); [`history`]: the history models train and score on.
//! - [`mes`]: machine states built incrementally from samples, shift calendars, downtime
//!   reasons, products, work orders, production, OEE and traceability (issue #13).
//! - [`text`]: samples of text tags (ingest, raw, latest, `last`/`count` buckets);
//!   `layout_parts`: layout added after a database was created (text samples), applied once;
//!   `notices`: server NOTICEs logged at debug rather than info.
//! - [`alarm_rules`]: alarm rules, their targets and checkpoints, rule raises and clears;
//!   [`webhooks`]: endpoints, the event outbox, deliveries and attempts (issue #13).
//! - [`quality`]: quality records with the process parameters of their cycle, characteristics,
//!   yield and defect-code figures kept per day, SPC alarms, defect predictions.
//! - [`bureau`]: per-category sharing, the negative list, tenants' daily contributions to
//!   the sector indices and the bureau's read of aggregated cells (issue #16).
//! - [`leases`]: leases of background work and their run log, the alarm-rule inbox (#18).

pub mod admin;
pub mod alarm_rules;
pub mod alarms;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod entities;
pub mod events;
pub mod fill;
pub mod history;
pub mod ingest;
pub mod keys;
pub mod layout;
// Issue #18: leases of background work, the alarm-rule inbox (migration V16).
pub mod leases;
// Issue #13: MES (machine states, calendars, downtime, work orders, OEE).
pub mod mes;
pub mod models;
// Issue #14: C2B custom orders (migration V12).
pub mod orders;
pub mod query;
mod session;
pub mod tenancy;
pub mod users;
pub mod webhooks;
// Issue #12: text samples, the layout parts that add them, quiet server notices.
mod layout_parts;
mod notices;
pub mod text;
// Issue #15: quality records, characteristics, yield figures, SPC alarms.
pub mod quality;
// Issue #16: the bureau view (sharing, negative list, contributions, aggregated cells).
pub mod bureau;
// Issue #18: tenant placement, moves and rebalancing on the Citus layout.
pub mod citus_admin;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::config::{DatabaseSettings, StoreSettings};
use crate::error::{Error, Result};
pub use layout::Backend;
pub use session::TenantSession;

mod embedded {
    refinery::embed_migrations!("src/store/migrations");
}

/// A tenant's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub i32);

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Handle to the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    owner: Pool,
    app: Pool,
    backend: Backend,
    settings: StoreSettings,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects both pools, applies migrations and the storage layout.
    pub async fn open(db: &DatabaseSettings, settings: &StoreSettings) -> Result<Self> {
        let owner_url = db
            .url
            .as_ref()
            .ok_or_else(|| Error::Config("database.url (DATABASE_URL) is not set".into()))?;
        let owner = pool(owner_url.expose(), db.pool_size, NO_JIT)?;
        let backend = {
            let mut client = owner.get().await?;
            embedded::migrations::runner()
                .run_async(&mut **client)
                .await?;
            let backend = layout::prepare(&client, settings).await?;
            layout_parts::apply_pending(&mut client, backend, settings).await?;
            backend
        };
        let app = match &db.app_url {
            Some(url) => pool(url.expose(), db.pool_size, NO_JIT)?,
            None => {
                tracing::warn!(
                    "database.app_url (APP_DATABASE_URL) is not set: requests run on the owner's \
                     connection after SET ROLE millwright_app. Tenants stay isolated, but SQL \
                     injected into a request could RESET ROLE and act as the owner; give the \
                     application role its own login URL."
                );
                pool(
                    owner_url.expose(),
                    db.pool_size,
                    Some("SET jit = off; SET ROLE millwright_app"),
                )?
            }
        };
        tracing::info!(backend = ?backend, "Store is ready.");
        Ok(Self {
            owner,
            app,
            backend,
            settings: settings.clone(),
        })
    }

    /// Brings a database to the schema an earlier release left it in: the migrations up to
    /// `migration` and the first `layout_parts` parts of the storage layout (issue #18's
    /// upgrade test builds a V14 database with data this way, then opens it with
    /// [`Store::open`]). Not for production use.
    #[doc(hidden)]
    pub async fn prepare_as_of(
        db: &DatabaseSettings,
        settings: &StoreSettings,
        migration: i32,
        layout_parts: usize,
    ) -> Result<Backend> {
        let owner_url = db
            .url
            .as_ref()
            .ok_or_else(|| Error::Config("database.url (DATABASE_URL) is not set".into()))?;
        let owner = pool(owner_url.expose(), 1, NO_JIT)?;
        let mut client = owner.get().await?;
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(migration))
            .run_async(&mut **client)
            .await?;
        let backend = layout::prepare(&client, settings).await?;
        layout_parts::apply_pending_through(&mut client, backend, settings, layout_parts).await?;
        Ok(backend)
    }

    /// Which storage layout this database uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A session scoped to `tenant`, on the application role's pool.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantSession> {
        Ok(TenantSession::new(self.app.get().await?, tenant))
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        let client = self.app.get().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(Error::db("pinging the database"))?;
        Ok(())
    }

    /// Runs one maintenance round: rollups, partitions, retention (see [`layout`]).
    pub async fn maintain(&self) -> Result<layout::MaintenanceReport> {
        let client = self.owner.get().await?;
        let mut report = layout::maintain(&client, self.backend, &self.settings).await?;
        let (created, dropped) =
            layout_parts::maintain(&client, self.backend, &self.settings).await?;
        report.partitions_created += created;
        report.partitions_dropped += dropped;
        report.trimmed_to_plan = self.trim_to_plans().await?;
        Ok(report)
    }

    /// The owner's pool, for administration (tenants, keys) and benchmarks.
    pub fn owner_pool(&self) -> &Pool {
        &self.owner
    }

    /// The application role's pool (tests use it to prove what that role cannot do).
    pub fn app_pool(&self) -> &Pool {
        &self.app
    }

    /// Pool statistics for `/metrics`: (size, available).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.app.status();
        (s.size, s.available)
    }
}

/// JIT compilation costs the short, frequent statements here hundreds of milliseconds each
/// (seen: an empty rollup refresh taking 0.9 s), and they never run long enough to repay it.
const NO_JIT: Option<&str> = Some("SET jit = off");

fn pool(url: &str, size: usize, on_connect: Option<&'static str>) -> Result<Pool> {
    // `sslmode=require|verify-ca|verify-full` (and `sslrootcert`) ask for TLS (crate::tls).
    let (config, tls) = crate::tls::postgres(url)?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls {
        Some(tls) => {
            Manager::from_connect(config, notices::NoticesAtDebug::new(tls), manager_config)
        }
        None => Manager::from_connect(config, notices::NoticesAtDebug::new(NoTls), manager_config),
    };
    let mut builder = Pool::builder(manager).max_size(size.max(1));
    if let Some(sql) = on_connect {
        builder = builder.post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
            Box::pin(async move {
                client
                    .batch_execute(sql)
                    .await
                    .map_err(deadpool_postgres::HookError::Backend)
            })
        }));
    }
    builder.build().map_err(|e| Error::PoolSetup(e.to_string()))
}
