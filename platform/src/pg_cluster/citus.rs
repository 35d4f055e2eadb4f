//! A private Citus cluster for tests and benchmarks (issue #18): a coordinator and workers,
//! each a [`PrivateCluster`] in a folder of its own under one root.
//!
//! The nodes reach each other the way we reach them: over their private Unix sockets (a node's
//! name in Citus's metadata is its socket folder), with `peer` authentication mapped so that
//! only our operating-system user (and the `postgres` system user the servers run as when we
//! are root) may log in, as the superuser, the owner role or the application role. Citus opens
//! its connections to the workers as the current role, so the application role reaches shard
//! tables only as itself. Nothing listens on TCP.
//!
//! Every node preloads Citus, with `wal_level = logical` and
//! `output_plugin_libraries = pgoutput, test_decoding, citus` so that tenant moves
//! (`isolate_tenant_to_new_shard`, `citus_move_shard_placement`) work on PostgreSQL 15.19 and
//! later. A database is created on every node with the `citus` and `citus_columnar`
//! extensions; on the coordinator the workers are then added to it ([`CitusCluster::create_database`]).
//!
//! ```no_run
//! # async fn f() -> millwright_platform::error::Result<()> {
//! use millwright_platform::pg_cluster::{citus::CitusCluster, Durability};
//! let root = std::path::Path::new("/tmp/citus-demo");
//! let cluster = tokio::task::spawn_blocking({
//!     let root = root.to_path_buf();
//!     move || CitusCluster::start(&root, Durability::Scratch, 2)
//! })
//! .await
//! .unwrap()?;
//! let (owner_url, app_url) = cluster.create_database("demo").await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use super::{connect, Durability, PrivateCluster, APP_ROLE, OWNER_ROLE, SUPERUSER};
use crate::error::{Error, Result};

/// Citus's library in PostgreSQL's library folder (`.ci/run` installs it there).
const CITUS_LIBRARY: &str = "citus.so";

/// Whether Citus is installed for the PostgreSQL server this machine would start (its
/// library in `pg_config --pkglibdir`). Tests that need Citus skip, saying so, when it is not.
pub fn installed() -> bool {
    library_dir().is_some_and(|dir| dir.join(CITUS_LIBRARY).is_file())
}

fn library_dir() -> Option<PathBuf> {
    let bin = super::find_bin_dir().ok()?;
    let out = std::process::Command::new(bin.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The server settings every node gets, beside `shared_preload_libraries = citus`.
fn node_settings(durability: Durability) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        // Tenant moves replicate shards logically, through Citus's own decoder.
        ("wal_level", "logical".to_string()),
        ("max_replication_slots", "32".to_string()),
        ("max_wal_senders", "32".to_string()),
        // PostgreSQL 15.19 and later allow only the listed decoders.
        (
            "output_plugin_libraries",
            "pgoutput, test_decoding, citus".to_string(),
        ),
        // The roles exist on every node already (create_database makes them). Propagating
        // them anyway makes Citus re-create them on the workers from every database's first
        // grant, and databases migrating at once then fail ("tuple concurrently updated").
        ("citus.enable_create_role_propagation", "off".to_string()),
        // Three servers on a shared machine: smaller than a single node's defaults.
        ("shared_buffers", "128MB".to_string()),
        ("max_connections", "400".to_string()),
        ("max_worker_processes", "32".to_string()),
    ];
    if durability == Durability::Scratch {
        // Tests: fewer shards per table and fewer parallel connections per query, so that
        // many test databases on one cluster stay light. Production keeps Citus's defaults.
        settings.push(("citus.shard_count", "8".to_string()));
        settings.push(("citus.max_adaptive_executor_pool_size", "4".to_string()));
    }
    settings
}

/// A running coordinator and its workers; dropping it stops them all.
#[derive(Debug)]
pub struct CitusCluster {
    coordinator: PrivateCluster,
    workers: Vec<PrivateCluster>,
}

impl CitusCluster {
    /// Initialises (if needed) and starts a coordinator in `root/coordinator` and `workers`
    /// workers in `root/worker1`, `root/worker2`, …. Blocking: call it from `spawn_blocking`
    /// in async code. Fails, saying so, when Citus is not installed.
    pub fn start(root: &Path, durability: Durability, workers: usize) -> Result<Self> {
        if !installed() {
            return Err(Error::Cluster(format!(
                "Citus is not installed ({CITUS_LIBRARY} is not in PostgreSQL's library folder); \
                 install it (.ci/run builds it from ../shared/vendor) or use another layout"
            )));
        }
        let settings = node_settings(durability);
        let start = |name: String| {
            // Tenant moves (issue #18): a node reaches itself at `citus.local_hostname`
            // (default `localhost`, on TCP); here that is its own socket folder.
            let mut settings = settings.clone();
            let socket = root.join(&name).join("socket");
            settings.push((
                "citus.local_hostname",
                socket.to_string_lossy().into_owned(),
            ));
            PrivateCluster::start_node(&root.join(name), durability, None, Some(&settings))
        };
        let coordinator = start("coordinator".into())?;
        let workers = (1..=workers)
            .map(|i| start(format!("worker{i}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            coordinator,
            workers,
        })
    }

    /// The coordinator: the platform connects here, and only here.
    pub fn coordinator(&self) -> &PrivateCluster {
        &self.coordinator
    }

    /// The workers, in the order they were started (and added to each database).
    pub fn workers(&self) -> &[PrivateCluster] {
        &self.workers
    }

    /// The name Citus's metadata gives a node: its socket folder (with its port).
    pub fn node_name(node: &PrivateCluster) -> String {
        node.socket_dir().to_string_lossy().into_owned()
    }

    /// Creates database `dbname` (owned by the owner role, with the `citus` and
    /// `citus_columnar` extensions) on every node, records the coordinator's own address and
    /// adds every worker to it. Returns the coordinator's (owner URL, app URL). The roles are
    /// created on every node first.
    pub async fn create_database(&self, dbname: &str) -> Result<(String, String)> {
        for node in std::iter::once(&self.coordinator).chain(&self.workers) {
            node.create_database(dbname).await?;
            let db = connect(&node.url(SUPERUSER, dbname)).await?;
            db.batch_execute(
                "CREATE EXTENSION IF NOT EXISTS citus; \
                 CREATE EXTENSION IF NOT EXISTS citus_columnar",
            )
            .await
            .map_err(Error::db("creating the citus extensions"))?;
        }
        let db = connect(&self.coordinator.url(SUPERUSER, dbname)).await?;
        db.execute(
            "SELECT citus_set_coordinator_host($1, $2)",
            &[
                &Self::node_name(&self.coordinator),
                &i32::from(self.coordinator.port()),
            ],
        )
        .await
        .map_err(Error::db("recording the coordinator's address"))?;
        for worker in &self.workers {
            db.execute(
                "SELECT citus_add_node($1, $2)",
                &[&Self::node_name(worker), &i32::from(worker.port())],
            )
            .await
            .map_err(Error::db("adding a worker"))?;
        }
        Ok((
            self.coordinator.url(OWNER_ROLE, dbname),
            self.coordinator.url(APP_ROLE, dbname),
        ))
    }

    /// A connection URL for `user` on database `dbname` of worker `index` (0-based), for tests
    /// that connect to a worker directly.
    pub fn worker_url(&self, index: usize, user: &str, dbname: &str) -> String {
        self.workers[index].url(user, dbname)
    }
}
