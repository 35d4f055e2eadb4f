//! Keys ready for distribution by tenant (issue #18, migration V15 and the `distribution_keys`
//! layout part), on every storage layout:
//! - the catalog after migrations: every table with a `tenant_id` column has it first in its
//!   primary key, in every unique key and unique index, and in every foreign key to another
//!   tenant-owned table; every table without one is on the list of platform-wide tables. The
//!   only exceptions are listed below, with their reasons.
//! - a database left at V14 by the previous release, with data in every area (plant, samples
//!   with compressed chunks on TimescaleDB, text samples, rollups, MES, orders, quality, keys),
//!   migrates with nothing lost: row counts and values before and after, then ingest, reads,
//!   rollup refreshes and API-key logins work on the new keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use millwright_platform::config::{BackendChoice, Settings};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::query::{Agg, BucketWidth};
use millwright_platform::store::{Backend, Store, TenantId};
use millwright_platform::test_util::{fresh_settings, fresh_store};
use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;

#[macro_use]
mod common;

on_every_backend!(
    citus_pending = "the upgrade replays a single-node V14 database; Citus databases begin with the Citus layout";
    every_tenant_table_has_tenant_id_in_its_keys,
    a_v14_database_with_data_migrates_with_nothing_lost,
);

/// Keys that may lack `tenant_id`, with the reason (the auth directory; see the header of
/// migration V15): (table, constraint or index).
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "users",
        "users_pkey",
        "bureau users belong to no tenant (tenant_id NULL), so tenant_id cannot be in the key",
    ),
    (
        "api_keys",
        "api_keys_key_hash_key",
        "a presented key is looked up by its digest before any tenant is known: one digest, one key on the platform",
    ),
    (
        "api_keys",
        "api_keys_prefix_key",
        "prefixes tell keys apart for operators across the platform, and keys are issued before a tenant is named in the lookup",
    ),
];

/// Tables without a `tenant_id` column: platform-wide, or the auth directory hanging off
/// users. A new table must either carry tenant_id or be added here with its reason.
const GLOBAL_TABLES: &[(&str, &str)] = &[
    ("tenants", "the tenants themselves"),
    ("storage_layout", "which layout this database uses"),
    ("storage_layout_parts", "layout parts applied"),
    ("refinery_schema_history", "migrations applied"),
    (
        "operator_audit_log",
        "the platform operator's own audit chain",
    ),
    ("bureau_negative_list", "platform-wide never-share list"),
    (
        "user_sessions",
        "auth directory: looked up by session id, owned by users",
    ),
    (
        "refresh_tokens",
        "auth directory: looked up by token digest",
    ),
    (
        "leases",
        "background-work leases of the replicas (V16): per job, not per tenant",
    ),
    ("lease_holders", "the replicas holding leases (V16)"),
    ("lease_events", "lease handovers (V16)"),
    ("lease_runs", "runs of leased jobs (V16)"),
];

/// A connection as the database owner.
async fn connect(settings: &Settings) -> tokio_postgres::Client {
    let url = settings.database.url.as_ref().unwrap().expose().to_string();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Every violation of the rule in the catalog, as readable lines naming table and key.
async fn key_violations(client: &impl GenericClient) -> Vec<String> {
    let mut found = Vec::new();
    let tenant_tables: Vec<String> = client
        .query(
            "SELECT c.relname FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
               AND NOT c.relispartition \
               AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped) \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        tenant_tables.len() > 40,
        "expected the tenant-owned tables, found {tenant_tables:?}"
    );
    let excepted =
        |table: &str, name: &str| EXCEPTIONS.iter().any(|(t, n, _)| *t == table && *n == name);
    // Unique indexes (primary keys, unique constraints, unique and partial unique indexes):
    // does tenant_id take part, and is it first?
    let rows = client
        .query(
            "SELECT c.relname, ic.relname, i.indisprimary, \
                    EXISTS (SELECT 1 FROM unnest(i.indkey) k JOIN pg_attribute a \
                            ON a.attrelid = i.indrelid AND a.attnum = k WHERE a.attname = 'tenant_id'), \
                    (SELECT a.attname FROM pg_attribute a \
                     WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) = 'tenant_id', \
                    pg_get_indexdef(i.indexrelid) \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indisunique AND c.relname = ANY ($1) AND c.relnamespace = 'public'::regnamespace \
             ORDER BY 1, 2",
            &[&tenant_tables],
        )
        .await
        .unwrap();
    let mut primary_keys = BTreeMap::new();
    for r in &rows {
        let (table, index, primary, has, first): (String, String, bool, bool, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let def: String = r.get(5);
        if primary || !primary_keys.contains_key(&table) {
            primary_keys.insert(table.clone(), index.clone());
        }
        if excepted(&table, &index) {
            continue;
        }
        if !has {
            found.push(format!(
                "{table}: unique key {index} lacks tenant_id ({def})"
            ));
        } else if primary && !first {
            found.push(format!(
                "{table}: primary key {index} does not start with tenant_id ({def})"
            ));
        }
    }
    // Foreign keys to another tenant-owned table must pair tenant_id with tenant_id.
    let rows = client
        .query(
            "SELECT c.relname, co.conname, pg_get_constraintdef(co.oid), \
                    EXISTS (SELECT 1 FROM unnest(co.conkey, co.confkey) AS k (a, b) \
                            JOIN pg_attribute x ON x.attrelid = co.conrelid AND x.attnum = k.a \
                            JOIN pg_attribute y ON y.attrelid = co.confrelid AND y.attnum = k.b \
                            WHERE x.attname = 'tenant_id' AND y.attname = 'tenant_id') \
             FROM pg_constraint co \
             JOIN pg_class c ON c.oid = co.conrelid \
             JOIN pg_class p ON p.oid = co.confrelid \
             WHERE co.contype = 'f' AND c.relname = ANY ($1) AND p.relname = ANY ($1) \
               AND c.relnamespace = 'public'::regnamespace \
             ORDER BY 1, 2",
            &[&tenant_tables],
        )
        .await
        .unwrap();
    for r in &rows {
        let (table, name, def, paired): (String, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if !paired && !excepted(&table, &name) {
            found.push(format!(
                "{table}: foreign key {name} does not carry tenant_id to tenant_id ({def})"
            ));
        }
    }
    // Every tenant table but the append-only rollup log has a primary key (or, for a
    // TimescaleDB hypertable, a unique index).
    for table in &tenant_tables {
        if !primary_keys.contains_key(table) && table != "rollup_dirty" {
            found.push(format!("{table}: no primary key or unique index"));
        }
    }
    // Tables without tenant_id are exactly the platform-wide ones.
    let global: Vec<String> = client
        .query(
            "SELECT c.relname FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
               AND NOT c.relispartition AND NOT (c.relname = ANY ($1)) ORDER BY 1",
            &[&tenant_tables],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in &global {
        if !GLOBAL_TABLES.iter().any(|(t, _)| t == table) {
            found.push(format!(
                "{table}: has no tenant_id column and is not on the list of platform-wide tables"
            ));
        }
    }
    found
}

async fn every_tenant_table_has_tenant_id_in_its_keys(backend: BackendChoice) {
    let (store, settings) = fresh_store(backend).await;
    let owner = connect(&settings).await;
    let violations = key_violations(&owner).await;
    assert!(
        violations.is_empty(),
        "keys without tenant_id ({:?} layout):\n{}",
        store.backend(),
        violations.join("\n")
    );
    // The check sees what it is meant to: a table keyed like the old ones is named.
    owner
        .batch_execute(
            "CREATE TABLE probe_old_keys (id bigint PRIMARY KEY, tenant_id integer NOT NULL, \
                                          machine_id bigint NOT NULL, name text, UNIQUE (machine_id, name), \
                                          FOREIGN KEY (machine_id) REFERENCES machines (id))",
        )
        .await
        .expect_err("machines (id) alone is no longer a key");
    owner
        .batch_execute(
            "CREATE TABLE probe_old_keys (id bigint PRIMARY KEY, tenant_id integer NOT NULL, \
                                          name text, UNIQUE (name))",
        )
        .await
        .unwrap();
    let caught = key_violations(&owner).await;
    owner
        .batch_execute("DROP TABLE probe_old_keys")
        .await
        .unwrap();
    assert_eq!(
        caught,
        [
            "probe_old_keys: unique key probe_old_keys_name_key lacks tenant_id \
             (CREATE UNIQUE INDEX probe_old_keys_name_key ON public.probe_old_keys USING btree (name))",
            "probe_old_keys: unique key probe_old_keys_pkey lacks tenant_id \
             (CREATE UNIQUE INDEX probe_old_keys_pkey ON public.probe_old_keys USING btree (id))",
        ]
    );
    // The layout's own tables are covered (they exist on this layout and were checked).
    let samples_key: String = owner
        .query_one(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
             WHERE i.indrelid = 'public.samples'::regclass AND i.indisunique",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        samples_key.contains("(tenant_id, tag_id, \"time\")"),
        "{samples_key}"
    );
}

/// Rows the V14 fixture writes, by SQL on the owner's connection (the release's own code for
/// these tables is gone; the statements use only V14's columns).
const V14_DATA: &str = r#"
INSERT INTO tenants (name, plan, industry) VALUES ('acme', 'pro', 'machinery'), ('globex', 'mes', 'garment');
INSERT INTO sites (tenant_id, name) SELECT id, 'plant' FROM tenants;
INSERT INTO lines (tenant_id, site_id, name) SELECT tenant_id, id, 'line' FROM sites;
INSERT INTO machines (tenant_id, line_id, name, kind)
    SELECT l.tenant_id, l.id, m, 'cnc' FROM lines l, unnest(ARRAY['m1', 'm2']) AS m;
INSERT INTO tags (tenant_id, machine_id, name)
    SELECT m.tenant_id, m.id, t.name || '.' || m.name || '.' || x
    FROM machines m JOIN tenants t ON t.id = m.tenant_id, unnest(ARRAY['temp', 'speed']) AS x;
INSERT INTO tags (tenant_id, machine_id, name, value_type)
    SELECT m.tenant_id, m.id, t.name || '.' || m.name || '.program', 'text'
    FROM machines m JOIN tenants t ON t.id = m.tenant_id;
INSERT INTO api_keys (tenant_id, name, prefix, key_hash, role)
    SELECT id, 'connector', 'mwk_' || name, sha256(convert_to('key-of-' || name, 'UTF8')), 'owner' FROM tenants;
INSERT INTO users (tenant_id, email, role, password_hash)
    SELECT id, 'owner@' || name || '.example', 'owner', 'x' FROM tenants;
INSERT INTO api_keys (tenant_id, name, prefix, key_hash, role, issued_by)
    SELECT u.tenant_id, 'issued', 'mwk_u' || u.id, sha256(convert_to('issued-' || u.id, 'UTF8')), 'viewer', u.id FROM users u;
INSERT INTO commands (tenant_id, tag_id, value) SELECT tenant_id, id, 42 FROM tags WHERE value_type = 'float';
INSERT INTO machine_events (tenant_id, machine_id, kind, at) SELECT tenant_id, id, 'failure', now() - interval '3 days' FROM machines;
INSERT INTO model_versions (tenant_id, machine_class, model_kind, version, params, metrics, trained_from, trained_to, machines, artifact, promoted)
    SELECT id, 'cnc', 'anomaly', 1, '{}', '{}', now() - interval '10 days', now() - interval '1 day', '{}', '\x00', true FROM tenants;
INSERT INTO training_jobs (tenant_id, request, status, version_id) SELECT tenant_id, '{}', 'succeeded', id FROM model_versions;
INSERT INTO alarms (tenant_id, machine_id, kind, raised_at, value, threshold, model_version)
    SELECT m.tenant_id, m.id, 'anomaly', now() - interval '1 hour', 0.9, 0.5, v.id
    FROM machines m JOIN model_versions v ON v.tenant_id = m.tenant_id;
INSERT INTO mes_products (tenant_id, code, name, ideal_cycle) SELECT id, 'P1', 'Part', '{"cnc": 60.0}' FROM tenants;
INSERT INTO mes_work_orders (tenant_id, number, product_id, quantity, machine_id, state)
    SELECT p.tenant_id, 'WO-' || m.name, p.id, 100, m.id, 'planned'
    FROM mes_products p JOIN machines m ON m.tenant_id = p.tenant_id;
INSERT INTO mes_counts (tenant_id, machine_id, minute_end, produced, rejected, cum_produced, cum_rejected)
    SELECT m.tenant_id, m.id, g, 2, 0, 2 * row_number() OVER (PARTITION BY m.id ORDER BY g), 0
    FROM machines m, generate_series(date_trunc('minute', now()) - interval '2 hours', date_trunc('minute', now()), interval '1 minute') g;
INSERT INTO mes_state_intervals (tenant_id, machine_id, start_at, end_at, state)
    SELECT tenant_id, id, date_trunc('minute', now()) - interval '2 hours', date_trunc('minute', now()) - interval '1 hour', 'running' FROM machines;
INSERT INTO mes_reason_codes (tenant_id, code, name, category) SELECT id, 'BRK', 'Breakdown', 'breakdown' FROM tenants;
INSERT INTO mes_downtime_reasons (tenant_id, machine_id, start_at, end_at, reason_id, assigned_by)
    SELECT m.tenant_id, m.id, now() - interval '50 minutes', now() - interval '40 minutes', r.id, 'operator'
    FROM machines m JOIN mes_reason_codes r ON r.tenant_id = m.tenant_id;
INSERT INTO order_templates (tenant_id, code, spec, product_id) SELECT tenant_id, 'shirt', '{}', id FROM mes_products;
INSERT INTO custom_orders (tenant_id, number, token, template_id, configuration, quantity, currency, state)
    SELECT tenant_id, 'O-1', md5(tenant_id::text) || '-order-token', id, '{}', 3, 'CNY', 'scheduled' FROM order_templates;
INSERT INTO custom_order_events (tenant_id, order_id, seq, to_state, actor) SELECT tenant_id, id, 1, 'scheduled', 'shop' FROM custom_orders;
INSERT INTO custom_order_steps (tenant_id, order_id, step, line_kind, machine_id, line_id, work_order_id, planned_start, planned_end, machine_secs)
    SELECT o.tenant_id, o.id, 0, 'cnc', w.machine_id, m.line_id, w.id, now(), now() + interval '1 hour', 180
    FROM custom_orders o
    JOIN mes_work_orders w ON w.tenant_id = o.tenant_id AND w.number = 'WO-m1'
    JOIN machines m ON m.id = w.machine_id AND m.tenant_id = w.tenant_id;
INSERT INTO quality_records (tenant_id, unit_id, product, line_id, machine_id, cycle_started_at, produced_at, day, passed)
    SELECT m.tenant_id, 'U-' || m.id, 'P1', m.line_id, m.id, now() - interval '2 minutes', now() - interval '1 minute', current_date, true FROM machines m;
"#;

/// Samples every 10 minutes over 20 days for each numeric tag; values a function of the
/// time and the tag so they can be compared after the migration.
const V14_SAMPLES: &str = "\
INSERT INTO samples (time, tenant_id, tag_id, value, quality)
    SELECT g, t.tenant_id, t.id, (extract(epoch FROM g)::bigint % 997)::float8 + t.id, 0
    FROM tags t, generate_series($1::timestamptz - interval '20 days', $1::timestamptz, interval '10 minutes') g
    WHERE t.value_type = 'float';
INSERT INTO text_samples (time, tenant_id, tag_id, value, quality)
    SELECT g, t.tenant_id, t.id, 'prog-' || (extract(epoch FROM g)::bigint % 7), 0
    FROM tags t, generate_series($1::timestamptz - interval '20 days', $1::timestamptz, interval '1 hour') g
    WHERE t.value_type = 'text';";

/// Every constraint and index of the public tables (partitions and chunks aside), as text.
async fn schema_keys(client: &impl GenericClient) -> Vec<String> {
    client
        .query(
            "SELECT c.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid) \
             FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid \
             WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition \
             UNION ALL \
             SELECT c.relname || ' ' || pg_get_indexdef(i.indexrelid) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Row counts of every tenant-owned relation (the rollups by their names, tables or views).
async fn counts(client: &impl GenericClient) -> BTreeMap<String, i64> {
    let tables: Vec<String> = client
        .query(
            "SELECT c.relname FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') \
               AND NOT c.relispartition AND c.relname NOT LIKE 'tenant\\_%' \
               AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped) ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM public.{t}"), &[])
            .await
            .unwrap()
            .get(0);
        out.insert(t, n);
    }
    out
}

/// A few values to compare: per tag, the samples' count and sum and the hourly rollups' sum;
/// names and numbers of plant, orders and keys.
async fn values(client: &impl GenericClient) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT tag_id::text || ':' || count(*) || ':' || sum(value) FROM samples GROUP BY tag_id ORDER BY tag_id",
        "SELECT tag_id::text || ':' || count(*) || ':' || string_agg(value, ',' ORDER BY time) FROM text_samples GROUP BY tag_id ORDER BY tag_id",
        "SELECT tag_id::text || ':' || sum(count) || ':' || sum(sum) FROM rollup_1h GROUP BY tag_id ORDER BY tag_id",
        "SELECT id || ':' || tenant_id || ':' || name || ':' || machine_id FROM tags ORDER BY id",
        "SELECT id || ':' || tenant_id || ':' || name || ':' || line_id FROM machines ORDER BY id",
        "SELECT id || ':' || tenant_id || ':' || number || ':' || state || ':' || machine_id FROM mes_work_orders ORDER BY id",
        "SELECT machine_id || ':' || max(cum_produced) FROM mes_counts GROUP BY machine_id ORDER BY machine_id",
        "SELECT id || ':' || number || ':' || token || ':' || template_id FROM custom_orders ORDER BY id",
        "SELECT order_id || ':' || work_order_id || ':' || machine_id FROM custom_order_steps ORDER BY order_id",
        "SELECT id || ':' || prefix || ':' || encode(key_hash, 'hex') || ':' || coalesce(issued_by::text, '-') FROM api_keys ORDER BY id",
        "SELECT id || ':' || model_version || ':' || machine_id FROM alarms ORDER BY id",
    ] {
        for r in client.query(sql, &[]).await.unwrap() {
            out.push(r.get::<_, String>(0));
        }
    }
    out
}

async fn a_v14_database_with_data_migrates_with_nothing_lost(backend: BackendChoice) {
    let settings = fresh_settings(backend).await;
    // V14 and the two layout parts the previous release had (text samples, scoped text ingest).
    let layout = Store::prepare_as_of(&settings.database, &settings.store, 14, 2)
        .await
        .expect("a V14 database");
    let client = connect(&settings).await;
    let version: i32 = client
        .query_one("SELECT max(version) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 14);
    let old_key: String = client
        .query_one(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
             WHERE i.indrelid = 'public.samples'::regclass AND i.indisunique",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(old_key.contains("(tag_id, \"time\")"), "{old_key}");

    client.batch_execute(V14_DATA).await.expect("V14 rows");
    let anchor: DateTime<Utc> =
        Utc::now().duration_trunc(Duration::minutes(10)).unwrap() - Duration::minutes(20);
    if layout == Backend::Plain {
        client
            .execute(
                "SELECT ensure_sample_partitions(($1::timestamptz - interval '21 days')::date, current_date + 1)",
                &[&anchor],
            )
            .await
            .unwrap();
        client
            .execute(
                "SELECT ensure_text_sample_partitions(($1::timestamptz - interval '21 days')::date, current_date + 1)",
                &[&anchor],
            )
            .await
            .unwrap();
    }
    for statement in V14_SAMPLES.split(";\n") {
        client.execute(statement, &[&anchor]).await.unwrap();
    }
    match layout {
        Backend::Citus => unreachable!("no database had the Citus layout at V14"),
        Backend::Plain => {
            // What V14's refresh_rollups left: minutes from samples, hours from minutes.
            client
                .batch_execute(
                    "INSERT INTO rollup_1m (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
                     SELECT date_trunc('minute', time), tenant_id, tag_id, sum(value), count(value),
                            min(value), max(value), (array_agg(value ORDER BY time DESC))[1], max(time)
                     FROM samples GROUP BY 1, 2, 3;
                     INSERT INTO rollup_1h (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
                     SELECT date_trunc('hour', bucket), tenant_id, tag_id, sum(sum), sum(count)::bigint,
                            min(min), max(max), (array_agg(last ORDER BY last_time DESC))[1], max(last_time)
                     FROM rollup_1m GROUP BY 1, 2, 3;",
                )
                .await
                .unwrap();
        }
        Backend::Timescale => {
            for sql in [
                "CALL refresh_continuous_aggregate('rollup_1m', NULL, now())",
                "CALL refresh_continuous_aggregate('rollup_1h', NULL, now())",
                "SELECT count(compress_chunk(c, if_not_compressed => true)) \
                 FROM show_chunks('samples', older_than => interval '3 days') c",
                "SELECT count(compress_chunk(c, if_not_compressed => true)) \
                 FROM show_chunks('text_samples', older_than => interval '3 days') c",
            ] {
                client.batch_execute(sql).await.unwrap();
            }
            let compressed: i64 = client
                .query_one(
                    "SELECT count(*) FROM timescaledb_information.chunks \
                     WHERE hypertable_name = 'samples' AND is_compressed",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert!(compressed >= 15, "compressed chunks: {compressed}");
        }
    }
    let before_counts = counts(&client).await;
    let before_values = values(&client).await;
    for (table, n) in [
        ("samples", 2 * 2 * 2 * 2881),
        ("text_samples", 2 * 2 * 481),
        ("tags", 12),
        ("api_keys", 4),
        ("custom_order_steps", 2),
        ("mes_counts", 2 * 2 * 121),
    ] {
        assert_eq!(before_counts[table], n, "{table} before: {before_counts:?}");
    }
    for table in [
        "sites",
        "lines",
        "machines",
        "tags",
        "api_keys",
        "users",
        "commands",
        "machine_events",
        "model_versions",
        "training_jobs",
        "alarms",
        "rollup_1m",
        "rollup_1h",
        "mes_products",
        "mes_work_orders",
        "mes_state_intervals",
        "mes_reason_codes",
        "mes_downtime_reasons",
        "order_templates",
        "custom_orders",
        "custom_order_events",
        "quality_records",
    ] {
        assert!(before_counts[table] > 0, "{table} is empty in the fixture");
    }

    // The new release starts on it.
    let store = Store::open(&settings.database, &settings.store)
        .await
        .expect("the V14 database opens and migrates");
    assert_eq!(store.backend(), layout);
    let version: i32 = client
        .query_one("SELECT max(version) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version >= 15, "migrated to {version}");
    // Tables that later migrations add are new (and empty); the ones that were there keep
    // every row.
    let after_counts = counts(&client).await;
    for (table, n) in &after_counts {
        if !before_counts.contains_key(table) {
            assert_eq!(*n, 0, "{table} is new and should be empty");
        }
    }
    let after_counts: BTreeMap<String, i64> = after_counts
        .into_iter()
        .filter(|(t, _)| before_counts.contains_key(t))
        .collect();
    assert_eq!(after_counts, before_counts, "row counts changed");
    assert_eq!(values(&client).await, before_values, "values changed");
    let violations = key_violations(&client).await;
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // The upgraded database ends with exactly the keys, constraints and indexes of a new one.
    let (_fresh, fresh_settings) = fresh_store(backend).await;
    let fresh = connect(&fresh_settings).await;
    assert_eq!(schema_keys(&client).await, schema_keys(&fresh).await);

    // Keys still log in, to their own tenant.
    let acme: i32 = client
        .query_one("SELECT id FROM tenants WHERE name = 'acme'", &[])
        .await
        .unwrap()
        .get(0);
    let digest: [u8; 32] = Sha256::digest(b"key-of-acme").into();
    let identity = store
        .authenticate(&digest)
        .await
        .unwrap()
        .expect("acme's key");
    assert_eq!(identity.tenant, TenantId(acme));

    // Ingest on the new keys: an old sample again is a duplicate (on TimescaleDB it sits in a
    // compressed chunk), a new one in an already rolled-up minute lands and the rollup follows.
    let tag: i64 = client
        .query_one(
            "SELECT id FROM tags WHERE tenant_id = $1 AND name = 'acme.m1.temp'",
            &[&acme],
        )
        .await
        .unwrap()
        .get(0);
    let old_time = anchor - Duration::days(15);
    let mut s = store.tenant(TenantId(acme)).await.unwrap();
    let again = s
        .ingest(&[SampleRow {
            tag_id: tag,
            time: old_time,
            value: Some(-1.0),
            quality: Quality::Good,
        }])
        .await
        .unwrap();
    assert_eq!(again.inserted, 0, "a duplicate of an old sample was stored");
    let raw = s
        .raw_samples(tag, old_time, old_time + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_ne!(raw[0].value, Some(-1.0));
    let minute = anchor - Duration::minutes(10);
    let new = s
        .ingest(&[SampleRow {
            tag_id: tag,
            time: minute + Duration::seconds(30),
            value: Some(1000.0),
            quality: Quality::Good,
        }])
        .await
        .unwrap();
    assert_eq!(new.inserted, 1);
    drop(s);
    if layout == Backend::Timescale {
        client
            .batch_execute("CALL refresh_continuous_aggregate('rollup_1m', NULL, now())")
            .await
            .unwrap();
    }
    let mut s = store.tenant(TenantId(acme)).await.unwrap();
    let (_, points) = s
        .bucketed(
            tag,
            minute,
            minute + Duration::minutes(1),
            BucketWidth::parse("1m").unwrap(),
            Agg::Count,
            false,
        )
        .await
        .unwrap();
    assert_eq!(points.len(), 1, "{points:?}");
    // The minute's rollup row was there before (one sample); it now counts both.
    assert_eq!(points[0].value, Some(2.0));
}
