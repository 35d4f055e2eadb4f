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
// Issue #18: the Citus layout.
const CITUS_SQL: &str = include_str!("layout/citus.sql");
const CITUS_FUNCTIONS_SQL: &str = include_str!("layout/citus_functions.sql");
/// On Citus the tenant views run with the reader's rights (the workers check the application
/// role's own grants on the shards; row-level security confines it). Run after every part
/// that creates a tenant view.
pub(crate) const CITUS_VIEWS_SQL: &str = "\
    ALTER VIEW IF EXISTS public.tenant_samples SET (security_invoker = true); \
    ALTER VIEW IF EXISTS public.tenant_rollup_1m SET (security_invoker = true); \
    ALTER VIEW IF EXISTS public.tenant_rollup_1h SET (security_invoker = true); \
    ALTER VIEW IF EXISTS public.tenant_text_samples SET (security_invoker = true);";
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
    /// Citus (issue #18): the plain layout distributed by tenant over workers, old days
    /// columnar.
    Citus,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Timescale => "timescale",
            Self::Plain => "plain",
            Self::Citus => "citus",
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
    /// Days of samples converted to columnar storage (Citus layout).
    pub partitions_columnar: i32,
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
        let backend = match name.as_str() {
            "timescale" => Backend::Timescale,
            "citus" => Backend::Citus,
            _ => Backend::Plain,
        };
        let wanted = match settings.backend {
            BackendChoice::Auto => backend,
            BackendChoice::Timescale => Backend::Timescale,
            BackendChoice::Plain => Backend::Plain,
            BackendChoice::Citus => Backend::Citus,
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
    if let Some(reason) = citus_choice(client, settings.backend).await? {
        tracing::info!(layout = "citus", reason = %reason, "Storage layout chosen.");
        apply(client, Backend::Citus, settings).await?;
        return Ok(Backend::Citus);
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

/// Whether a new database gets the Citus layout, and why: `citus` requires the citus
/// extension in this database (refusing to start without it, saying what to do); `auto` takes
/// Citus when the extension is there; `plain` and `timescale` never do.
async fn citus_choice(
    client: &impl GenericClient,
    wanted: BackendChoice,
) -> Result<Option<String>> {
    if !matches!(wanted, BackendChoice::Citus | BackendChoice::Auto) {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'citus'), \
                    (SELECT default_version FROM pg_available_extensions WHERE name = 'citus')",
            &[],
        )
        .await
        .map_err(Error::db("looking for citus"))?;
    let (created, available): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    match (wanted, created) {
        (BackendChoice::Citus, None) => Err(Error::Layout(format!(
            "store.backend = citus, but this database has no citus extension ({}); on a Citus \
             coordinator whose shared_preload_libraries lists citus, a superuser runs CREATE \
             EXTENSION citus (and citus_columnar) in this database on the coordinator and every \
             worker and adds the workers with citus_add_node, before the platform's first start",
            match available {
                Some(v) => format!("the server offers citus {v}, but it is not created here"),
                None => "the server does not offer it: Citus is not installed".to_string(),
            }
        ))),
        (_, None) => Ok(None),
        (_, Some(v)) => Ok(Some(format!(
            "store.backend = {}: the citus extension {v} is created in this database",
            if wanted == BackendChoice::Citus {
                "citus"
            } else {
                "auto"
            }
        ))),
    }
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
        // Decided before, by citus_choice; never reached with a database without Citus.
        BackendChoice::Citus => {
            return Err(Error::Layout(
                "store.backend = citus, but this database has no citus extension".into(),
            ))
        }
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
        Backend::Citus => CITUS_FUNCTIONS_SQL,
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
        Backend::Citus => CITUS_SQL.to_string(),
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
    if backend == Backend::Citus {
        run_statements(
            client,
            CITUS_VIEWS_SQL,
            "creating the storage layout's views",
        )
        .await?;
    }
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
        Backend::Plain | Backend::Citus => {
            report.minutes_refreshed = client
                .query_one("SELECT refresh_rollups()", &[])
                .await
                .map_err(Error::db("refreshing rollups"))?
                .get(0);
            // Citus makes partitions from yesterday on (as it always has here); plain from today.
            let behind = i32::from(backend == Backend::Citus);
            let ahead = settings.partitions_ahead_days as i32;
            report.partitions_created = client
                .query_one(
                    "SELECT ensure_sample_partitions(current_date - $1::int, current_date + $2::int)",
                    &[&behind, &ahead],
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
            if backend == Backend::Citus {
                report.partitions_columnar = make_old_days_columnar(client, settings).await?;
            }
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

/// Days after which a day of samples becomes columnar on Citus: `compress_after_days`, but
/// never before every plan that keeps less than the store-wide retention has trimmed the day
/// (columnar rows cannot be deleted, and trimming a tenant to its plan deletes rows).
pub fn columnar_after_days(settings: &StoreSettings) -> u32 {
    millwright_tenants::plan::Plan::ALL
        .iter()
        .map(|p| p.quotas().retention_days)
        .filter(|&days| days < settings.retention_days)
        .fold(settings.compress_after_days, u32::max)
}

/// Citus layout: converts the days of samples older than [`columnar_after_days`] to columnar
/// storage (Citus's `alter_old_partitions_set_access_method`, a procedure that commits per
/// day, so it runs outside any transaction). Needs the `citus_columnar` extension; without it
/// days stay row tables, and a warning says so. Returns how many days were converted.
async fn make_old_days_columnar(
    client: &impl GenericClient,
    settings: &StoreSettings,
) -> Result<i32> {
    let columnar_days = "SELECT count(*)::int FROM pg_catalog.time_partitions \
                         WHERE parent_table = 'public.samples'::regclass AND access_method = 'columnar'";
    let have: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'columnar')",
            &[],
        )
        .await
        .map_err(Error::db("looking for columnar storage"))?
        .get(0);
    if !have {
        tracing::warn!(
            "The citus_columnar extension is not created in this database: old days of samples stay row tables."
        );
        return Ok(0);
    }
    let before: i32 = client
        .query_one(columnar_days, &[])
        .await
        .map_err(Error::db("counting columnar days"))?
        .get(0);
    // Whole UTC days only, so a day still taking live samples is never converted.
    client
        .batch_execute(&format!(
            "CALL alter_old_partitions_set_access_method('public.samples', \
             date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '{} days', 'columnar')",
            columnar_after_days(settings)
        ))
        .await
        .map_err(Error::db("converting old days to columnar storage"))?;
    let after: i32 = client
        .query_one(columnar_days, &[])
        .await
        .map_err(Error::db("counting columnar days"))?
        .get(0);
    Ok(after - before)
}

/// The end of the newest columnar day (Citus layout): rows before it cannot be deleted, and
/// late samples before it are appended (see `citus_functions.sql`). `None` on other layouts.
pub(crate) async fn columnar_horizon(
    client: &impl GenericClient,
    backend: Backend,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    if backend != Backend::Citus {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT max(to_value::timestamptz) FROM pg_catalog.time_partitions \
             WHERE parent_table = 'public.samples'::regclass AND access_method = 'columnar'",
            &[],
        )
        .await
        .map_err(Error::db("reading the columnar horizon"))?;
    Ok(row.get(0))
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
    fn columnar_days_wait_for_every_plans_trim() {
        let mut s = StoreSettings::default();
        assert_eq!((s.retention_days, s.compress_after_days), (730, 7));
        // Monitor keeps 90 days and MES 365: a day turns columnar once MES has trimmed it.
        assert_eq!(columnar_after_days(&s), 365);
        s.retention_days = 90;
        assert_eq!(columnar_after_days(&s), 7);
        s.compress_after_days = 120;
        assert_eq!(columnar_after_days(&s), 120);
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
