//! The private Citus test cluster (issue #18): a coordinator and two workers on private Unix
//! sockets, a database on every node with the workers added, shards of a distributed table on
//! both workers, the settings tenant moves need, and the roles reaching every node.

use anyhow::{Context, Result};
use millwright_platform::pg_cluster::{APP_ROLE, OWNER_ROLE, SUPERUSER};
use millwright_platform::test_util::{citus_available, citus_cluster, fresh_citus_database};

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test]
async fn coordinator_and_two_workers_hold_a_distributed_table() -> Result<()> {
    if !citus_available() {
        eprintln!("skipped: Citus is not installed on this machine");
        return Ok(());
    }
    let cluster = citus_cluster().await.expect("Citus cluster");
    let (dbname, (owner_url, app_url)) = fresh_citus_database().await;

    let owner = connect(&owner_url).await?;
    let workers: Vec<(String, i32)> = owner
        .query(
            "SELECT node_name::text, node_port::int FROM citus_get_active_worker_nodes() ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut expected: Vec<(String, i32)> = cluster
        .workers()
        .iter()
        .map(|w| {
            (
                millwright_platform::pg_cluster::citus::CitusCluster::node_name(w),
                i32::from(w.port()),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        workers, expected,
        "both workers are active in the new database"
    );

    // The owner distributes a table; its shards land on both workers.
    owner
        .batch_execute(
            "CREATE TABLE probe (tenant_id integer NOT NULL, v integer NOT NULL, \
                                 PRIMARY KEY (tenant_id, v)); \
             SELECT create_distributed_table('probe', 'tenant_id'); \
             INSERT INTO probe SELECT t, v FROM generate_series(1, 40) t, generate_series(1, 5) v; \
             GRANT SELECT ON probe TO millwright_app;",
        )
        .await?;
    let per_node: Vec<(String, i64)> = owner
        .query(
            "SELECT nodename::text, count(*) FROM citus_shards WHERE table_name = 'probe'::regclass \
             GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(per_node.len(), 2, "shards on both workers: {per_node:?}");
    assert!(per_node.iter().all(|(_, n)| *n > 0), "{per_node:?}");

    // The application role reads through the coordinator, which reaches the workers as it.
    let app = connect(&app_url).await?;
    let n: i64 = app
        .query_one("SELECT count(*) FROM probe", &[])
        .await?
        .get(0);
    assert_eq!(n, 200);
    let who: String = app.query_one("SELECT current_user", &[]).await?.get(0);
    assert_eq!(who, APP_ROLE);

    // Every role reaches every worker directly, and each worker has the extensions and the
    // settings tenant moves need.
    let mut rows_on_workers = 0i64;
    for i in 0..cluster.workers().len() {
        for role in [SUPERUSER, OWNER_ROLE, APP_ROLE] {
            let c = connect(&cluster.worker_url(i, role, &dbname)).await?;
            let me: String = c.query_one("SELECT current_user", &[]).await?.get(0);
            assert_eq!(me, role);
        }
        let su = connect(&cluster.worker_url(i, SUPERUSER, &dbname)).await?;
        let row = su
            .query_one(
                "SELECT current_setting('wal_level'), current_setting('output_plugin_libraries'), \
                        (SELECT array_agg(extname::text ORDER BY extname) FROM pg_extension \
                         WHERE extname LIKE 'citus%')",
                &[],
            )
            .await?;
        assert_eq!(row.get::<_, String>(0), "logical");
        let plugins: String = row.get(1);
        assert!(plugins.contains("citus"), "{plugins}");
        assert_eq!(
            row.get::<_, Vec<String>>(2),
            vec!["citus".to_string(), "citus_columnar".to_string()]
        );
        // The shards hold the rows: count them on the worker itself (Citus hides shard
        // tables from the catalog unless asked not to).
        su.batch_execute("SET citus.override_table_visibility = off")
            .await?;
        let shards: Vec<String> = su
            .query(
                "SELECT c.relname::text FROM pg_class c \
                 WHERE c.relname ~ '^probe_[0-9]+$' AND c.relkind = 'r'",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for shard in shards {
            let n: i64 = su
                .query_one(&format!("SELECT count(*) FROM {shard}"), &[])
                .await?
                .get(0);
            rows_on_workers += n;
        }
    }
    assert_eq!(rows_on_workers, 200, "every row lives on a worker");
    Ok(())
}
