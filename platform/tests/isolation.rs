//! Tenant isolation enforced by the database: the application role, connected as itself,
//! cannot reach another tenant's rows by any path: tables, partitions, chunks, rollups,
//! views or functions; and without a tenant it sees nothing at all.

use chrono::{Duration, DurationRound, Utc};
use deadpool_postgres::Object;
use millwright_platform::config::BackendChoice;
use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::text::TextSampleRow;
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_store, tenant_with_tags, TestTenant};
use tokio_postgres::error::SqlState;

#[macro_use]
mod common;

on_every_backend!(
    app_role_owns_nothing,
    unfiltered_queries_see_only_the_current_tenant,
    no_tenant_means_no_rows,
    tables_partitions_chunks_and_rollups_are_out_of_reach,
    writes_cannot_cross_tenants,
    functions_cannot_leak_or_misfile,
    definer_functions_search_pg_temp_last,
    a_temporary_usage_daily_runs_no_code_as_the_owner,
    a_temporary_tags_table_cannot_misfile_samples,
    a_staging_table_made_by_the_app_is_refused,
    older_layouts_get_their_functions_fixed_at_start,
);

/// Citus (issue #18): connected to a worker directly, the application role finds shards of
/// the distributed tables that show it nothing without a tenant and only its own tenant's rows
/// with one; partition shards and the rollup log are refused outright.
#[tokio::test]
async fn citus_workers_shards_and_partitions_show_nothing_of_another_tenant() {
    if !millwright_platform::test_util::citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return;
    }
    let f = fixture(BackendChoice::Citus).await;
    let cluster = millwright_platform::test_util::citus_cluster()
        .await
        .expect("Citus cluster");
    let url = f
        .settings
        .database
        .url
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let dbname = url.rsplit('/').next().unwrap().to_string();
    let (mut own_samples, mut refused, mut shards_seen) = (0i64, 0, 0);
    for i in 0..cluster.workers().len() {
        let connect = |role: &'static str| {
            let url = cluster.worker_url(i, role, &dbname);
            async move {
                let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                c
            }
        };
        let su = connect(millwright_platform::pg_cluster::SUPERUSER).await;
        su.batch_execute("SET citus.override_table_visibility = off")
            .await
            .unwrap();
        let shards: Vec<String> = su
            .query(
                "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'p') \
                 AND relname ~ '^(samples|text_samples|rollup_1m|rollup_1h|rollup_dirty)(_p[0-9_]+)?_[0-9]+$' \
                 ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!shards.is_empty(), "worker {i} holds shards");
        let mut app = connect(millwright_platform::pg_cluster::APP_ROLE).await;
        app.batch_execute("SET citus.override_table_visibility = off")
            .await
            .unwrap();
        for shard in &shards {
            let parent_shard = regex_like_parent(shard);
            let sql = format!(
                "SELECT count(*), count(*) FILTER (WHERE tenant_id <> {}) FROM {shard}",
                f.a.id.0
            );
            if parent_shard && !shard.starts_with("rollup_dirty") {
                // No tenant: nothing.
                let none: i64 = app.query_one(&sql, &[]).await.unwrap().get(0);
                assert_eq!(none, 0, "{shard} without a tenant");
                // Tenant A: its own rows only.
                let tx = app.transaction().await.unwrap();
                tx.batch_execute(&format!("SET LOCAL millwright.tenant_id = '{}'", f.a.id.0))
                    .await
                    .unwrap();
                let row = tx.query_one(&sql, &[]).await.unwrap();
                tx.rollback().await.unwrap();
                assert_eq!(
                    row.get::<_, i64>(1),
                    0,
                    "{shard} shows another tenant's rows"
                );
                if shard.starts_with("samples_") {
                    own_samples += row.get::<_, i64>(0);
                }
                shards_seen += 1;
            } else {
                let err = app.query(&sql, &[]).await.unwrap_err();
                assert_eq!(
                    err.code(),
                    Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                    "{shard}: {err}"
                );
                refused += 1;
            }
        }
        // The distributed table itself, asked on the worker: nothing without a tenant.
        let none: i64 = app
            .query_one("SELECT count(*) FROM samples", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(none, 0, "samples on worker {i} without a tenant");
    }
    assert_eq!(own_samples, 100, "tenant A's samples, found shard by shard");
    assert!(
        shards_seen > 0 && refused > 0,
        "{shards_seen} shards read, {refused} refused"
    );
}

/// Whether a shard name is a shard of a distributed table's parent (`samples_102008`), not of
/// one of its partitions (`samples_p2026_12_01_102488`).
fn regex_like_parent(shard: &str) -> bool {
    let base = shard.rsplit_once('_').map(|(b, _)| b).unwrap_or(shard);
    [
        "samples",
        "text_samples",
        "rollup_1m",
        "rollup_1h",
        "rollup_dirty",
    ]
    .contains(&base)
}

struct Fixture {
    store: Store,
    settings: millwright_platform::config::Settings,
    a: TestTenant,
    b: TestTenant,
}

async fn fixture(backend: BackendChoice) -> Fixture {
    let (store, settings) = fresh_store(backend).await;
    let a = tenant_with_tags(&store, "tenant-a", &["a.temp"]).await;
    let b = tenant_with_tags(&store, "tenant-b", &["b.temp", "b.speed"]).await;
    let start = Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::hours(2);
    for (t, n) in [(&a, 100), (&b, 300)] {
        let rows: Vec<SampleRow> = (0..n)
            .map(|i| SampleRow {
                tag_id: t.tag_ids[i % t.tag_ids.len()],
                time: start + Duration::seconds(i as i64),
                value: Some(i as f64),
                quality: Quality::Good,
            })
            .collect();
        store
            .tenant(t.id)
            .await
            .unwrap()
            .ingest(&rows)
            .await
            .unwrap();
    }
    // Each tenant also has a text tag with samples (program names).
    for (t, n) in [(&a, 10), (&b, 30)] {
        let mut s = store.tenant(t.id).await.unwrap();
        let fields = EntityFields {
            parent_id: Some(t.machine_id),
            name: Some(format!("{}.program", t.id)),
            value_type: Some(ValueType::Text),
            ..Default::default()
        };
        let tag_id = s.create(Kind::Tag, &fields).await.unwrap().id();
        let rows: Vec<TextSampleRow> = (0..n)
            .map(|i| TextSampleRow {
                tag_id,
                time: start + Duration::seconds(i as i64),
                value: Some(format!("P{i}")),
                quality: Quality::Good,
            })
            .collect();
        s.ingest_with_text(&[], &rows).await.unwrap();
    }
    store.maintain().await.unwrap();
    if store.backend() == millwright_platform::store::Backend::Timescale {
        let c = store.owner_pool().get().await.unwrap();
        c.batch_execute("CALL refresh_continuous_aggregate('rollup_1m', NULL, NULL)")
            .await
            .unwrap();
    }
    Fixture {
        store,
        settings,
        a,
        b,
    }
}

/// An application-role connection with `tenant` set for the session.
async fn app_conn(store: &Store, tenant: Option<i32>) -> Object {
    let c = store.app_pool().get().await.unwrap();
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        user, "millwright_app",
        "tests must run as the application role"
    );
    let value = tenant.map(|t| t.to_string()).unwrap_or_default();
    c.execute(
        "SELECT set_config('millwright.tenant_id', $1, false)",
        &[&value],
    )
    .await
    .unwrap();
    c
}

async fn count(c: &Object, sql: &str) -> i64 {
    as_session_tenant(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))[0]
        .get(0)
}

/// Runs `sql` in a transaction that sets the session's tenant again with SET LOCAL, as the
/// platform sets it: on Citus only SET LOCAL reaches the workers (`citus.propagate_set_commands
/// = 'local'`), so a session-level setting alone leaves distributed tables empty (fail closed).
async fn as_session_tenant(
    c: &Object,
    sql: &str,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let tenant: String = c
        .query_one(
            "SELECT coalesce(current_setting('millwright.tenant_id', true), '')",
            &[],
        )
        .await?
        .get(0);
    // Integers only reach the SQL text.
    let tenant = tenant
        .parse::<i32>()
        .map(|t| t.to_string())
        .unwrap_or_default();
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL millwright.tenant_id = '{tenant}'"
    ))
    .await?;
    let rows = c.query(sql, &[]).await;
    c.batch_execute(if rows.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await?;
    rows
}

async fn app_role_owns_nothing(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    let owned = count(
        &c,
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid) + \
                (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) + \
                (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) \
         FROM pg_roles r WHERE rolname = current_user",
    )
    .await;
    assert_eq!(owned, 0);
}

async fn unfiltered_queries_see_only_the_current_tenant(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    assert_eq!(count(&c, "SELECT count(*) FROM tags").await, 2);
    assert_eq!(
        count(&c, "SELECT count(*) FROM tenant_text_samples").await,
        10
    );
    assert_eq!(count(&c, "SELECT count(*) FROM machines").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM sites").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM tenants").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM api_keys").await, 1);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM audit_log WHERE tenant_id <> current_tenant()"
        )
        .await,
        0
    );
    assert_eq!(count(&c, "SELECT count(*) FROM tenant_samples").await, 100);
    assert_eq!(
        count(
            &c,
            "SELECT coalesce(sum(count), 0)::bigint FROM tenant_rollup_1m"
        )
        .await,
        100
    );
    assert_eq!(
        count(
            &c,
            "SELECT coalesce(sum(count), 0)::bigint FROM tenant_rollup_1h"
        )
        .await,
        100
    );
    // Asking for B's tag explicitly finds nothing either.
    let b_tag = f.b.tag_ids[0];
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM tenant_samples WHERE tag_id = {b_tag}")
        )
        .await,
        0
    );
    // A function in the WHERE clause cannot peek below the security barrier.
    c.batch_execute(
        "CREATE FUNCTION pg_temp.peek(bigint) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS \
         $$ BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$",
    )
    .await
    .unwrap();
    let rows = as_session_tenant(
        &c,
        "SELECT tag_id FROM tenant_samples WHERE pg_temp.peek(tag_id)",
    )
    .await;
    match rows {
        Ok(rows) => assert!(rows.iter().all(|r| r.get::<_, i64>(0) == f.a.tag_ids[0])),
        // Citus does not ship a session's temporary function to the workers at all.
        Err(e) if backend == BackendChoice::Citus => {
            let message = e.as_db_error().map(|d| d.message().to_string());
            assert_eq!(
                message.as_deref(),
                Some("schema \"pg_temp\" does not exist"),
                "{e:?}"
            )
        }
        Err(e) => panic!("{e}"),
    }
}

async fn no_tenant_means_no_rows(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, None).await;
    for relation in [
        "tags",
        "machines",
        "lines",
        "sites",
        "tenants",
        "tenant_samples",
        "tenant_text_samples",
        "tenant_rollup_1m",
        "tenant_rollup_1h",
        "users",
        "api_keys",
        "audit_log",
        "usage_daily",
        "commands",
    ] {
        assert_eq!(
            count(&c, &format!("SELECT count(*) FROM {relation}")).await,
            0,
            "{relation}"
        );
    }
}

async fn tables_partitions_chunks_and_rollups_are_out_of_reach(backend: BackendChoice) {
    let f = fixture(backend).await;
    let owner = f.store.owner_pool().get().await.unwrap();
    // Every relation that holds samples or rollups, including partitions and chunks.
    let hidden: Vec<String> = owner
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm') AND (c.relname ~ '^(samples|text_samples|rollup_|api_keys|storage_layout)' \
                OR (n.nspname = '_timescaledb_internal' AND c.relname ~ '^(_hyper_|compress_hyper_|_materialized_hypertable_|_partial_view_|_direct_view_)')) \
               AND c.relname NOT LIKE 'tenant_%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(hidden.iter().any(|r| r.contains("samples")), "{hidden:?}");
    assert!(
        hidden.iter().any(|r| r.contains("text_samples")),
        "{hidden:?}"
    );
    if backend != BackendChoice::Timescale {
        assert!(
            hidden.iter().any(|r| r.starts_with("public.samples_p"))
                && hidden
                    .iter()
                    .any(|r| r.starts_with("public.text_samples_p")),
            "a partition exists: {hidden:?}"
        );
    } else {
        assert!(
            hidden.iter().any(|r| r.contains("_hyper_")),
            "a chunk exists: {hidden:?}"
        );
    }
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    for relation in &hidden {
        if backend == BackendChoice::Citus && CITUS_READABLE.contains(&relation.as_str()) {
            // On Citus the role reads these distributed tables themselves, under row-level
            // security: only its own tenant's rows.
            let other = as_session_tenant(
                &c,
                &format!("SELECT count(*) FROM {relation} WHERE tenant_id <> current_tenant()"),
            )
            .await
            .unwrap()[0]
                .get::<_, i64>(0);
            assert_eq!(other, 0, "{relation}");
            let own = count(&c, &format!("SELECT count(*) FROM {relation}")).await;
            assert!(own > 0, "{relation} shows the tenant its own rows");
            continue;
        }
        let err = as_session_tenant(&c, &format!("SELECT * FROM {relation} LIMIT 1"))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{relation}: {err}"
        );
    }
}

/// The distributed tables the application role reads on Citus, under row-level security.
const CITUS_READABLE: [&str; 4] = [
    "public.samples",
    "public.text_samples",
    "public.rollup_1m",
    "public.rollup_1h",
];

async fn writes_cannot_cross_tenants(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    let b_machine = f.b.machine_id;
    // Filing a tag under another tenant's machine: the composite key refuses it.
    let err = c
        .execute(
            &format!("INSERT INTO tags (machine_id, name) VALUES ({b_machine}, 'sneaky')"),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
    // Stamping another tenant's id on a row: row-level security refuses it.
    let err = c
        .execute(
            &format!(
                "INSERT INTO sites (tenant_id, name) VALUES ({}, 'sneaky')",
                f.b.id.0
            ),
            &[],
        )
        .await
        .unwrap_err();
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("row-level security"), "{message}");
    assert_eq!(
        c.execute("UPDATE tags SET name = 'x' WHERE name LIKE 'b.%'", &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        c.execute("DELETE FROM machines", &[]).await.unwrap(),
        1,
        "only its own"
    );
    let owner = f.store.owner_pool().get().await.unwrap();
    let b_tags: i64 = owner
        .query_one(
            "SELECT count(*) FROM tags WHERE tenant_id = $1",
            &[&f.b.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(b_tags, 3);
}

async fn functions_cannot_leak_or_misfile(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    // Maintenance functions are not the application's to call.
    for call in [
        "SELECT drop_expired_partitions(interval '1 day')",
        "SELECT ensure_sample_partitions(current_date, current_date)",
        "SELECT drop_expired_text_sample_partitions(interval '1 day')",
        "SELECT ensure_text_sample_partitions(current_date, current_date)",
    ] {
        if let Err(err) = c.query(call, &[]).await {
            let code = err.code().cloned();
            assert!(
                code == Some(SqlState::INSUFFICIENT_PRIVILEGE)
                    || code == Some(SqlState::UNDEFINED_FUNCTION),
                "{call}: {err}"
            );
        } else {
            panic!("{call} was allowed");
        }
    }
    // Key lookup answers only for a key's own digest; it cannot list keys.
    let rows = c
        .query(
            "SELECT * FROM authenticate_api_key(decode(repeat('00', 32), 'hex'))",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.is_empty());
    // Ingest stamps the session's tenant and drops rows for tags that are not its own.
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("SELECT ingest_prepare()", &[]).await.unwrap();
    c.execute(
        &format!(
            "INSERT INTO pg_temp.ingest_staging VALUES ({}, now() - interval '1 minute', 1, 0), ({}, now() - interval '1 minute', 2, 0)",
            f.a.tag_ids[0], f.b.tag_ids[0]
        ),
        &[],
    )
    .await
    .unwrap();
    let inserted: i64 = c
        .query_one("SELECT ingest_commit()", &[])
        .await
        .unwrap()
        .get(0);
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(inserted, 1);
    let owner = f.store.owner_pool().get().await.unwrap();
    let misfiled: i64 = owner
        .query_one(
            "SELECT count(*) FROM samples WHERE tag_id = $1 AND tenant_id <> $2",
            &[&f.b.tag_ids[0], &f.b.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(misfiled, 0);
    // The same for text: the session's tenant is stamped, other tenants' tags are dropped, and
    // a numeric tag takes no text.
    let (a_text, b_text) = (
        text_tag(&owner, f.a.id.0).await,
        text_tag(&owner, f.b.id.0).await,
    );
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("SELECT ingest_prepare_text()", &[])
        .await
        .unwrap();
    c.execute(
        &format!(
            "INSERT INTO pg_temp.ingest_staging_text VALUES ({a_text}, now() - interval '1 minute', 'mine', 0), \
             ({b_text}, now() - interval '1 minute', 'theirs', 0), ({}, now() - interval '1 minute', 'not text', 0)",
            f.a.tag_ids[0]
        ),
        &[],
    )
    .await
    .unwrap();
    let inserted: i64 = c
        .query_one("SELECT ingest_commit_text()", &[])
        .await
        .unwrap()
        .get(0);
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(inserted, 1);
    let misfiled: i64 = owner
        .query_one(
            "SELECT count(*) FROM text_samples WHERE value IN ('theirs', 'not text')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(misfiled, 0);
    let err = c
        .query("SELECT * FROM pg_temp.ingest_staging_text", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    // The staging table only takes appends; it cannot be read back or emptied by the app.
    let err = c
        .query("SELECT * FROM pg_temp.ingest_staging", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
}

/// Every SECURITY DEFINER function of the database (ours, not an extension's) pins its search
/// path with `pg_temp` last; otherwise a session's temporary tables are searched first and the
/// function runs against them with the owner's rights.
async fn assert_definers_pin_search_path(store: &Store) {
    let owner = store.owner_pool().get().await.unwrap();
    let rows = owner
        .query(
            "SELECT p.oid::regprocedure::text, coalesce(array_to_string(p.proconfig, ' | '), '') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                               AND d.objid = p.oid AND d.deptype = 'e') \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let found: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for name in [
        "ingest_commit()",
        "usage_add_samples(bigint)",
        "ingest_prepare()",
    ] {
        assert!(
            found.iter().any(|(f, _)| f == name),
            "{name} is a definer function: {found:?}"
        );
    }
    let unpinned: Vec<&(String, String)> = found
        .iter()
        .filter(|(_, config)| {
            !config
                .split(" | ")
                .any(|c| c == "search_path=pg_catalog, public, pg_temp")
        })
        .collect();
    assert!(
        unpinned.is_empty(),
        "definer functions without `search_path = pg_catalog, public, pg_temp`: {unpinned:?}"
    );
}

async fn definer_functions_search_pg_temp_last(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    assert_definers_pin_search_path(&store).await;
}

/// The exploit from issue #11: a temporary `usage_daily` with a trigger, then
/// `usage_add_samples`. The trigger would run as the owner; it must never run at all.
async fn a_temporary_usage_daily_runs_no_code_as_the_owner(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    let before = samples_counted_today(&f.store, f.a.id.0).await;
    c.batch_execute(
        "CREATE TEMP TABLE usage_daily (tenant_id integer, day date, samples bigint, \
                                        PRIMARY KEY (tenant_id, day)); \
         CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
             RAISE EXCEPTION 'ran as % and saw % API keys', current_user, \
                 (SELECT count(*) FROM public.api_keys); \
         END $$; \
         CREATE TRIGGER steal BEFORE INSERT OR UPDATE ON pg_temp.usage_daily \
             FOR EACH ROW EXECUTE FUNCTION pg_temp.steal();",
    )
    .await
    .unwrap();
    c.query_one("SELECT usage_add_samples(1)", &[])
        .await
        .expect("usage_add_samples writes public.usage_daily, never the session's temporary one");
    assert_eq!(
        count(&c, "SELECT count(*) FROM pg_temp.usage_daily").await,
        0
    );
    assert_eq!(samples_counted_today(&f.store, f.a.id.0).await, before + 1);
}

async fn samples_counted_today(store: &Store, tenant: i32) -> i64 {
    let owner = store.owner_pool().get().await.unwrap();
    owner
        .query_one(
            "SELECT coalesce(sum(samples), 0)::bigint FROM usage_daily \
             WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

/// The text tag of a tenant (the fixture gives each one).
async fn text_tag(owner: &Object, tenant: i32) -> i64 {
    owner
        .query_one(
            "SELECT id FROM tags WHERE tenant_id = $1 AND value_type = 'text'",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

/// The second exploit from issue #11: a temporary `tags` table naming another tenant's tag as
/// the caller's, in the transaction of `ingest_commit()`. Nothing may be stored on that tag.
async fn a_temporary_tags_table_cannot_misfile_samples(backend: BackendChoice) {
    let f = fixture(backend).await;
    let c = app_conn(&f.store, Some(f.a.id.0)).await;
    let b_tag = f.b.tag_ids[0];
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("SELECT ingest_prepare()", &[]).await.unwrap();
    c.batch_execute(&format!(
        "CREATE TEMP TABLE tags (id bigint, tenant_id integer, name text) ON COMMIT DROP; \
         INSERT INTO pg_temp.tags VALUES ({b_tag}, {a}, 'mine now'); \
         INSERT INTO pg_temp.ingest_staging VALUES ({b_tag}, now() - interval '30 seconds', 666, 0);",
        a = f.a.id.0
    ))
    .await
    .unwrap();
    let inserted: i64 = c
        .query_one("SELECT ingest_commit()", &[])
        .await
        .unwrap()
        .get(0);
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(inserted, 0, "a sample was stored on another tenant's tag");
    let owner = f.store.owner_pool().get().await.unwrap();
    let misfiled: i64 = owner
        .query_one(
            "SELECT count(*) FROM samples WHERE tag_id = $1 AND value = 666",
            &[&b_tag],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(misfiled, 0);
    // Maintenance still works for everyone, and B's rollups hold only B's samples.
    f.store.maintain().await.unwrap();
}

/// A staging table the application made itself (which could be a view or carry a rule) is
/// never read by the owner.
async fn a_staging_table_made_by_the_app_is_refused(backend: BackendChoice) {
    let f = fixture(backend).await;
    // A new connection: pooled ones already hold the real staging table.
    let url = f.settings.database.app_url.as_ref().unwrap().expose();
    let (c, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    c.execute(
        "SELECT set_config('millwright.tenant_id', $1, false)",
        &[&f.a.id.0.to_string()],
    )
    .await
    .unwrap();
    c.batch_execute(
        "CREATE TEMP TABLE ingest_staging (tag_id bigint, time timestamptz, value float8, \
                                           quality smallint); \
         CREATE TEMP TABLE ingest_staging_text (tag_id bigint, time timestamptz, value text, \
                                                quality smallint)",
    )
    .await
    .unwrap();
    for call in [
        "SELECT ingest_prepare()",
        "SELECT ingest_commit()",
        "SELECT ingest_prepare_text()",
        "SELECT ingest_commit_text()",
    ] {
        let err = c.query(call, &[]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{call}: {err}"
        );
    }
}

/// A database whose layout was created before the fix (LAYOUT_VERSION 1) gets the fixed
/// functions when the platform next starts: migrations alone cannot do it, because on a fresh
/// database the layout's functions are created after the migrations.
async fn older_layouts_get_their_functions_fixed_at_start(backend: BackendChoice) {
    let (store, settings) = fresh_store(backend).await;
    {
        let owner = store.owner_pool().get().await.unwrap();
        owner
            .batch_execute(
                "ALTER FUNCTION ingest_commit() SET search_path = pg_catalog, public; \
                 ALTER FUNCTION refresh_rollups() SET search_path = pg_catalog, public; \
                 ALTER FUNCTION ingest_prepare() SET search_path = pg_catalog, public; \
                 UPDATE storage_layout SET version = 1;",
            )
            .await
            .unwrap();
    }
    let reopened = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    assert_definers_pin_search_path(&reopened).await;
    let owner = reopened.owner_pool().get().await.unwrap();
    let version: i32 = owner
        .query_one("SELECT version FROM storage_layout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, millwright_platform::store::layout::LAYOUT_VERSION);
}
