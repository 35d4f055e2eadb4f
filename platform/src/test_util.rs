//! Test helpers: one private PostgreSQL cluster per test process, a fresh database per test
//! with migrations applied, and the real server on port 0.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::api::{RunningServer, Server};
use crate::config::{BackendChoice, Settings};
use crate::pg_cluster::citus::CitusCluster;
use crate::pg_cluster::{Durability, PrivateCluster};
use crate::store::admin::NewTenant;
use crate::store::entities::{EntityFields, Kind};
use crate::store::{Store, TenantId};
use millwright_tenants::{plan::Plan, role::Role};

static CLUSTER: OnceCell<PrivateCluster> = OnceCell::const_new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);
static CITUS: OnceCell<Option<CitusCluster>> = OnceCell::const_new();

/// The process's private Citus cluster (a coordinator and two workers, issue #18), started on
/// first use; `None` when Citus is not installed on this machine (tests skip, saying so).
pub async fn citus_cluster() -> Option<&'static CitusCluster> {
    CITUS
        .get_or_init(|| async {
            if !crate::pg_cluster::citus::installed() {
                return None;
            }
            let dir = test_dir().join("citus");
            let cluster = tokio::task::spawn_blocking(move || {
                CitusCluster::start(&dir, Durability::Scratch, 2)
            })
            .await
            .expect("Citus start-up task")
            .expect("private Citus cluster starts");
            Some(cluster)
        })
        .await
        .as_ref()
}

/// Whether Citus is installed (tests of that layout skip, saying so, if not).
pub fn citus_available() -> bool {
    crate::pg_cluster::citus::installed()
}

/// A fresh database on every node of the Citus cluster, the workers added: its name and the
/// coordinator's (owner URL, app URL). Panics when Citus is not installed (check
/// [`citus_available`] first).
pub async fn fresh_citus_database() -> (String, (String, String)) {
    let cluster = citus_cluster().await.expect("Citus is installed");
    // One database is made at a time in a test process: adding the workers to several at once
    // (each a metadata sync to the same two workers, whose roles and catalogs are shared by
    // all databases) failed now and then on a loaded machine ("failure on connection marked as
    // essential"), and a half-made database could not be finished ("operation is not allowed
    // on this node"). A failed attempt is left behind and the next one uses a new name.
    static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = CREATING.lock().await;
    let mut attempt = 1;
    loop {
        let name = format!(
            "c{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        match cluster.create_database(&name).await {
            Ok(urls) => return (name, urls),
            Err(e) if attempt < 4 => {
                eprintln!(
                    "creating Citus test database {name} failed (attempt {attempt}): {e}; \
                     retrying with a new database"
                );
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
            }
            Err(e) => panic!("Citus test database: {e}"),
        }
    }
}

/// The process's private cluster, started on first use.
pub async fn cluster() -> &'static PrivateCluster {
    CLUSTER
        .get_or_init(|| async {
            let dir = test_dir();
            tokio::task::spawn_blocking(move || PrivateCluster::start(&dir, Durability::Scratch))
                .await
                .expect("cluster start-up task")
                .expect("private PostgreSQL cluster starts")
        })
        .await
}

fn test_dir() -> PathBuf {
    let base = std::env::temp_dir();
    // Remove folders of earlier test processes that no longer run.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("millwright-test-") {
                if !PathBuf::from(format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    base.join(format!("millwright-test-{}", std::process::id()))
}

/// Settings pointing at a fresh database of the shared cluster.
pub async fn fresh_settings(backend: BackendChoice) -> Settings {
    let (owner, app) = if backend == BackendChoice::Citus {
        // Issue #18: a database on every node of the Citus cluster.
        fresh_citus_database().await.1
    } else {
        let cluster = cluster().await;
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        cluster.create_database(&name).await.expect("test database")
    };
    let mut settings = Settings::default();
    settings.database.url = Some(crate::config::Secret::new(owner));
    settings.database.app_url = Some(crate::config::Secret::new(app));
    settings.database.pool_size = 4;
    settings.store.backend = backend;
    settings.http.listen = "127.0.0.1:0".parse().unwrap();
    settings
}

/// Settings pointing at a fresh database without any extension, as a new user's bare
/// database on a TimescaleDB server would be (the cluster preloads timescaledb when it is
/// installed, but the extension is not created in the database).
pub async fn bare_database_settings(backend: BackendChoice) -> Settings {
    let settings = fresh_settings(backend).await;
    let cluster = cluster().await;
    if cluster.has_timescale() {
        let url = settings
            .database
            .url
            .as_ref()
            .expect("url")
            .expose()
            .to_string();
        let dbname = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .expect("database name in the URL")
            .to_string();
        let (client, conn) = tokio_postgres::connect(
            &cluster.url(crate::pg_cluster::SUPERUSER, &dbname),
            tokio_postgres::NoTls,
        )
        .await
        .expect("superuser connects");
        tokio::spawn(conn);
        client
            .batch_execute("DROP EXTENSION IF EXISTS timescaledb")
            .await
            .expect("dropping timescaledb");
    }
    settings
}

/// Whether the shared cluster has TimescaleDB (tests of that layout skip, saying so, if not).
pub async fn timescale_available() -> bool {
    cluster().await.has_timescale()
}

/// A store on a fresh database.
pub async fn fresh_store(backend: BackendChoice) -> (Store, Settings) {
    let settings = fresh_settings(backend).await;
    let store = Store::open(&settings.database, &settings.store)
        .await
        .expect("store opens");
    (store, settings)
}

/// A tenant with one site, line and machine, and tags named `tags`.
pub struct TestTenant {
    /// The tenant.
    pub id: TenantId,
    /// Its API key.
    pub key: String,
    /// Its site.
    pub site_id: i64,
    /// Its machine.
    pub machine_id: i64,
    /// Its tags' ids, in the order of the names given.
    pub tag_ids: Vec<i64>,
}

/// Creates a tenant with a small plant.
pub async fn tenant_with_tags(store: &Store, name: &str, tags: &[&str]) -> TestTenant {
    let id = store
        .create_tenant(&NewTenant::named(name, Plan::Pro))
        .await
        .expect("tenant");
    let key = store
        .issue_api_key(id, "test", Role::Owner)
        .await
        .expect("key");
    let mut s = store.tenant(id).await.expect("session");
    let named = |n: &str| EntityFields {
        name: Some(n.to_string()),
        ..Default::default()
    };
    let site = s.create(Kind::Site, &named("site")).await.unwrap().id();
    let line = s
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(site),
                ..named("line")
            },
        )
        .await
        .unwrap()
        .id();
    let machine_id = s
        .create(
            Kind::Machine,
            &EntityFields {
                parent_id: Some(line),
                ..named("machine")
            },
        )
        .await
        .unwrap()
        .id();
    let mut tag_ids = Vec::new();
    for t in tags {
        let fields = EntityFields {
            parent_id: Some(machine_id),
            ..named(t)
        };
        tag_ids.push(s.create(Kind::Tag, &fields).await.unwrap().id());
    }
    TestTenant {
        id,
        key,
        site_id: site,
        machine_id,
        tag_ids,
    }
}

/// The real server on port 0 against a fresh database.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The store behind it.
    pub store: Store,
    /// Its settings.
    pub settings: Settings,
    http: reqwest::Client,
    /// Stops when the app is dropped.
    _server: RunningServer,
}

/// The layout of the HTTP suites' databases: `MILLWRIGHT_TEST_BACKEND`, plain by default.
pub fn test_backend() -> BackendChoice {
    match std::env::var("MILLWRIGHT_TEST_BACKEND").as_deref() {
        Ok("timescale") => BackendChoice::Timescale,
        Ok("citus") => BackendChoice::Citus,
        Ok("plain") | Ok("") | Err(_) => BackendChoice::Plain,
        Ok(other) => panic!("MILLWRIGHT_TEST_BACKEND={other}: plain, timescale or citus"),
    }
}

impl TestApp {
    /// Starts a server with default settings (changed by `tweak`) on a fresh database of the
    /// plain layout, or of the layout `MILLWRIGHT_TEST_BACKEND` names (`plain`, `timescale`,
    /// `citus`), so that the HTTP suites can be run on every layout.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = fresh_settings(test_backend()).await;
        tweak(&mut settings);
        let store = Store::open(&settings.database, &settings.store)
            .await
            .expect("store opens");
        let server = Server::bind(store.clone(), Arc::new(settings.clone()))
            .await
            .expect("bind");
        let server = server.spawn();
        let url = format!("http://{}", server.addr);
        Self {
            url,
            store,
            settings,
            http: reqwest::Client::new(),
            _server: server,
        }
    }

    /// Starts a server with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The HTTP client, for requests whose headers a test reads.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One HTTP request: (status, body as JSON or as a JSON string, content type).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        let text = res.text().await.expect("response body");
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, value, content_type)
    }
}
