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
/// Version 3 added `refresh_tag_rollups(tag)`: a read refreshes only its own tenant's tag
/// (issue #17). Version 4 names the rollups' new keys `(tenant_id, tag_id, bucket)` in their
/// `ON CONFLICT` targets (issue #18; the keys themselves come from the `distribution_keys`
/// layout part, applied right after this upgrade).
/// Raise it whenever a `*_functions.sql` file changes: databases created earlier get the
/// functions again (CREATE OR REPLACE) at their next start.
pub const LAYOUT_VERSION: i32 = 4;
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
    let server = probe_timescale(client).await?;
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
    let mut choice = choose(settings.backend, &server)?;
    if choice.create_extension {
        match client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .await
        {
            Ok(()) => {}
            Err(e) if settings.backend == BackendChoice::Auto => {
                choice = LayoutChoice {
                    backend: Backend::Plain,
                    create_extension: false,
                    reason: format!(
                        "store.backend = auto: the server offers timescaledb and preloads it, but creating the extension failed ({}); a superuser can run CREATE EXTENSION timescaledb in this database before the first start",
                        crate::error::db_message(&e)
                    ),
                };
            }
            Err(e) => {
                return Err(Error::Layout(format!(
                    "store.backend = timescale: creating the timescaledb extension failed ({}); run CREATE EXTENSION timescaledb in this database as a superuser, or let the database owner create it",
                    crate::error::db_message(&e)
                )))
            }
        }
    }
    let backend = choice.backend;
    tracing::info!(layout = backend.name(), reason = %choice.reason, "Storage layout chosen.");
    apply(client, backend, settings).await?;
    Ok(backend)
}

/// What the server says about TimescaleDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimescaleOnServer {
    /// `CREATE EXTENSION timescaledb` was run in this database.
    pub created: bool,
    /// The server has the extension's files (`pg_available_extensions`); its version.
    pub available: Option<String>,
    /// `shared_preload_libraries` lists timescaledb (required to use it).
    pub preloaded: bool,
}

/// The layout a new database gets, and why (logged at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutChoice {
    /// The layout.
    pub backend: Backend,
    /// Whether `CREATE EXTENSION timescaledb` must be run first.
    pub create_extension: bool,
    /// Why, in a sentence.
    pub reason: String,
}

/// Chooses the layout of a new database: `auto` takes TimescaleDB when the extension is
/// created, or when the server offers it and preloads it (then it is created); `timescale`
/// fails with what is missing when it cannot be had; `plain` is always plain.
pub fn choose(wanted: BackendChoice, server: &TimescaleOnServer) -> Result<LayoutChoice> {
    let pick = |backend, create_extension, reason: String| {
        Ok(LayoutChoice {
            backend,
            create_extension,
            reason,
        })
    };
    let setting = match wanted {
        BackendChoice::Plain => return pick(Backend::Plain, false, "store.backend = plain".into()),
        BackendChoice::Auto => "auto",
        BackendChoice::Timescale => "timescale",
    };
    match (server.created, &server.available, server.preloaded) {
        (true, _, true) => pick(
            Backend::Timescale,
            false,
            format!("store.backend = {setting}: the timescaledb extension is created in this database"),
        ),
        (false, Some(v), true) => pick(
            Backend::Timescale,
            true,
            format!(
                "store.backend = {setting}: the server offers timescaledb {v} and preloads it; the extension is created in this database"
            ),
        ),
        (created, available, preloaded) => {
            let missing = if available.is_none() && !created {
                "the server does not offer the timescaledb extension (not in pg_available_extensions; install TimescaleDB on the database server)"
            } else if !preloaded {
                "the server does not preload timescaledb (add it to shared_preload_libraries and restart PostgreSQL)"
            } else {
                "timescaledb cannot be used"
            };
            if wanted == BackendChoice::Timescale {
                Err(Error::Layout(format!(
                    "store.backend = timescale, but {missing}"
                )))
            } else {
                pick(
                    Backend::Plain,
                    false,
                    format!("store.backend = auto and {missing}: native partitions"),
                )
            }
        }
    }
}

/// Asks the server about TimescaleDB.
async fn probe_timescale(client: &impl GenericClient) -> Result<TimescaleOnServer> {
    let row = client
        .query_one(
            // shared_preload_libraries is readable by superusers only; a preloaded
            // timescaledb shows in pg_settings through the settings its loader defines.
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'), \
                    (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'), \
                    EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'timescaledb.%')",
            &[],
        )
        .await
        .map_err(Error::db("looking for timescaledb"))?;
    Ok(TimescaleOnServer {
        created: row.get(0),
        available: row.get(1),
        preloaded: row.get(2),
    })
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

#[cfg(test)]
mod choice_tests {
    use super::*;

    fn server(created: bool, available: bool, preloaded: bool) -> TimescaleOnServer {
        TimescaleOnServer {
            created,
            available: available.then(|| "2.28.3".to_string()),
            preloaded,
        }
    }

    #[test]
    fn auto_creates_the_extension_when_offered_and_preloaded() {
        let c = choose(BackendChoice::Auto, &server(false, true, true)).unwrap();
        assert_eq!((c.backend, c.create_extension), (Backend::Timescale, true));
        assert!(c.reason.contains("2.28.3"), "{}", c.reason);
        let c = choose(BackendChoice::Auto, &server(true, true, true)).unwrap();
        assert_eq!((c.backend, c.create_extension), (Backend::Timescale, false));
    }

    #[test]
    fn auto_falls_back_to_plain_saying_what_is_missing() {
        let c = choose(BackendChoice::Auto, &server(false, true, false)).unwrap();
        assert_eq!((c.backend, c.create_extension), (Backend::Plain, false));
        assert!(
            c.reason.contains("shared_preload_libraries"),
            "{}",
            c.reason
        );
        let c = choose(BackendChoice::Auto, &server(false, false, false)).unwrap();
        assert_eq!(c.backend, Backend::Plain);
        assert!(c.reason.contains("pg_available_extensions"), "{}", c.reason);
    }

    #[test]
    fn timescale_fails_clearly_when_it_cannot_be_had() {
        let e = choose(BackendChoice::Timescale, &server(false, false, false)).unwrap_err();
        assert!(e.to_string().contains("does not offer"), "{e}");
        let e = choose(BackendChoice::Timescale, &server(false, true, false)).unwrap_err();
        assert!(e.to_string().contains("shared_preload_libraries"), "{e}");
        let c = choose(BackendChoice::Timescale, &server(false, true, true)).unwrap();
        assert!(c.create_extension);
        let c = choose(BackendChoice::Plain, &server(true, true, true)).unwrap();
        assert_eq!(c.backend, Backend::Plain);
    }
}
