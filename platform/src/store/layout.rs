//! The two storage layouts behind one interface.
//!
//! With TimescaleDB, samples is a hypertable with compression, continuous aggregates and
//! retention policies. Without it, samples is range-partitioned by day and the platform keeps
//! rollup tables current itself. Both expose the same relations (`samples`, `rollup_1m`,
//! `rollup_1h` with identical columns), the same tenant views and the same functions
//! (`ingest_commit`, `refresh_rollups`), so nothing above this module knows which is in use.

use deadpool_postgres::GenericClient;

use crate::config::{BackendChoice, StoreSettings};
use crate::error::{Error, Result};

/// The version of the layout's functions. Version 2 re-created every security-definer
/// function with `pg_temp` last in its search path and schema-qualified names (issue #11).
/// Raise it whenever a `*_functions.sql` file changes: databases created earlier get the
/// functions again (CREATE OR REPLACE) at their next start.
pub const LAYOUT_VERSION: i32 = 2;
const PLAIN_SQL: &str = include_str!("layout/plain.sql");
const PLAIN_FUNCTIONS_SQL: &str = include_str!("layout/plain_functions.sql");
const TIMESCALE_SQL: &str = include_str!("layout/timescale.sql");
const TIMESCALE_FUNCTIONS_SQL: &str = include_str!("layout/timescale_functions.sql");
const COMMON_SQL: &str = include_str!("layout/common.sql");
const COMMON_FUNCTIONS_SQL: &str = include_str!("layout/common_functions.sql");
/// Advisory lock serialising layout creation and upgrades between replicas starting at once.
const LAYOUT_LOCK: i64 = 0x4c41_594f_5554; // "LAYOUT"

/// Which layout a database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Hypertable, compression, continuous aggregates, retention policies.
    Timescale,
    /// Native daily partitions and platform-maintained rollup tables.
    Plain,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Timescale => "timescale",
            Self::Plain => "plain",
        }
    }
}

/// What one maintenance round did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct MaintenanceReport {
    /// Rollup minutes recomputed (plain layout).
    pub minutes_refreshed: i64,
    /// Partitions created ahead (plain layout).
    pub partitions_created: i32,
    /// Partitions dropped by retention (plain layout).
    pub partitions_dropped: i32,
    /// TimescaleDB jobs run by hand (see `maintain`).
    pub jobs_run: usize,
    /// Rows deleted because a tenant's plan keeps less than the store-wide retention.
    pub trimmed_to_plan: u64,
}

/// Finds the layout this database uses, creating it on first start and upgrading its
/// functions when they are older than [`LAYOUT_VERSION`].
pub(crate) async fn prepare(
    client: &impl GenericClient,
    settings: &StoreSettings,
) -> Result<Backend> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LAYOUT_LOCK])
        .await
        .map_err(Error::db("locking the storage layout"))?;
    let outcome = prepare_locked(client, settings).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LAYOUT_LOCK])
        .await
        .map_err(Error::db("unlocking the storage layout"))?;
    outcome
}

async fn prepare_locked(client: &impl GenericClient, settings: &StoreSettings) -> Result<Backend> {
    let recorded = client
        .query_opt("SELECT backend, version FROM storage_layout", &[])
        .await
        .map_err(Error::db("reading the storage layout"))?
        .map(|row| (row.get::<_, String>(0), row.get::<_, i32>(1)));
    let timescale_ready = client
        .query_opt(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .map_err(Error::db("looking for timescaledb"))?
        .is_some();
    if let Some((name, version)) = recorded {
        let backend = if name == "timescale" {
            Backend::Timescale
        } else {
            Backend::Plain
        };
        let wanted = match settings.backend {
            BackendChoice::Auto => backend,
            BackendChoice::Timescale => Backend::Timescale,
            BackendChoice::Plain => Backend::Plain,
        };
        if wanted != backend {
            return Err(Error::Layout(format!(
                "this database already uses the {} layout; store.backend = {} cannot switch it",
                backend.name(),
                wanted.name()
            )));
        }
        if version < LAYOUT_VERSION {
            upgrade(client, backend, version).await?;
        }
        return Ok(backend);
    }
    let backend =
        match settings.backend {
            BackendChoice::Plain => Backend::Plain,
            BackendChoice::Auto if timescale_ready => Backend::Timescale,
            BackendChoice::Auto => Backend::Plain,
            BackendChoice::Timescale if timescale_ready => Backend::Timescale,
            BackendChoice::Timescale => return Err(Error::Layout(
                "store.backend = timescale, but the timescaledb extension is not created in this \
                 database (CREATE EXTENSION timescaledb, as a superuser)"
                    .into(),
            )),
        };
    apply(client, backend, settings).await?;
    Ok(backend)
}

/// Runs `sql` one statement at a time (`-- statement` separates them): TimescaleDB refuses
/// some DDL inside a multi-statement batch.
async fn run_statements(client: &impl GenericClient, sql: &str, what: &'static str) -> Result<()> {
    for statement in sql.split("-- statement\n") {
        client
            .batch_execute(statement)
            .await
            .map_err(Error::db(what))?;
    }
    Ok(())
}

/// The layout's functions: its own, then the shared ones.
fn functions_sql(backend: Backend) -> [&'static str; 2] {
    let own = match backend {
        Backend::Plain => PLAIN_FUNCTIONS_SQL,
        Backend::Timescale => TIMESCALE_FUNCTIONS_SQL,
    };
    [own, COMMON_FUNCTIONS_SQL]
}

async fn apply(
    client: &impl GenericClient,
    backend: Backend,
    settings: &StoreSettings,
) -> Result<()> {
    tracing::info!(backend = backend.name(), "Creating the storage layout.");
    let specific = match backend {
        Backend::Plain => PLAIN_SQL.to_string(),
        Backend::Timescale => TIMESCALE_SQL
            .replace("{retention_days}", &settings.retention_days.to_string())
            .replace(
                "{compress_after_days}",
                &settings.compress_after_days.to_string(),
            ),
    };
    run_statements(client, &specific, "creating the storage layout").await?;
    let [own, common] = functions_sql(backend);
    run_statements(client, own, "creating the storage layout's functions").await?;
    run_statements(client, COMMON_SQL, "creating the storage layout's views").await?;
    run_statements(client, common, "creating the storage layout's functions").await?;
    client
        .execute(
            "INSERT INTO storage_layout (backend, version) VALUES ($1, $2)",
            &[&backend.name(), &LAYOUT_VERSION],
        )
        .await
        .map_err(Error::db("recording the storage layout"))?;
    Ok(())
}

/// Re-creates the layout's functions of a database made by an older version (tables and
/// views stay as they are) and records the new version.
async fn upgrade(client: &impl GenericClient, backend: Backend, from: i32) -> Result<()> {
    tracing::info!(
        backend = backend.name(),
        from,
        to = LAYOUT_VERSION,
        "Upgrading the storage layout's functions."
    );
    for sql in functions_sql(backend) {
        run_statements(client, sql, "upgrading the storage layout's functions").await?;
    }
    client
        .execute("UPDATE storage_layout SET version = $1", &[&LAYOUT_VERSION])
        .await
        .map_err(Error::db("recording the storage layout's version"))?;
    Ok(())
}

/// One maintenance round, run periodically by the platform.
///
/// Plain layout: recompute dirty rollups, create partitions ahead, drop expired ones.
/// TimescaleDB: refresh the continuous aggregates (late data), then run due jobs. Its
/// background scheduler owns policies, but it has been seen failing jobs on
/// PostgreSQL 15.20 ("cannot drop portal"), so due jobs are also run by hand with `run_job`.
pub(crate) async fn maintain(
    client: &impl GenericClient,
    backend: Backend,
    settings: &StoreSettings,
) -> Result<MaintenanceReport> {
    let mut report = MaintenanceReport::default();
    match backend {
        Backend::Plain => {
            report.minutes_refreshed = client
                .query_one("SELECT refresh_rollups()", &[])
                .await
                .map_err(Error::db("refreshing rollups"))?
                .get(0);
            let ahead = settings.partitions_ahead_days as i32;
            report.partitions_created = client
                .query_one(
                    "SELECT ensure_sample_partitions(current_date, current_date + $1::int)",
                    &[&ahead],
                )
                .await
                .map_err(Error::db("creating partitions ahead"))?
                .get(0);
            let keep = settings.retention_days as i32;
            report.partitions_dropped = client
                .query_one(
                    "SELECT drop_expired_partitions(make_interval(days => $1))",
                    &[&keep],
                )
                .await
                .map_err(Error::db("dropping expired partitions"))?
                .get(0);
        }
        Backend::Timescale => {
            // Real-time aggregation covers only data newer than what is materialised: late
            // samples in an already materialised bucket show once the aggregate is refreshed.
            // Refreshing is invalidation-driven, so a round with nothing late costs little.
            for cagg in ["rollup_1m", "rollup_1h"] {
                client
                    .batch_execute(&format!(
                        "CALL refresh_continuous_aggregate('{cagg}', NULL, now())"
                    ))
                    .await
                    .map_err(Error::db("refreshing a continuous aggregate"))?;
            }
            let due = client
                .query(
                    "SELECT job_id FROM timescaledb_information.job_stats \
                     WHERE next_start <= now() ORDER BY job_id",
                    &[],
                )
                .await
                .map_err(Error::db("listing due TimescaleDB jobs"))?;
            for row in due {
                let id: i32 = row.get(0);
                client
                    .batch_execute(&format!("CALL run_job({id})"))
                    .await
                    .map_err(Error::db("running a TimescaleDB job"))?;
                report.jobs_run += 1;
            }
        }
    }
    Ok(report)
}
