//! A private PostgreSQL cluster in a folder of its own, for the demo, the tests and the
//! benchmarks, so none of them needs a server set up by hand.
//!
//! It listens only on a Unix socket inside its folder, and only our own operating-system user
//! may connect: the folder and its socket directory are private (mode 0700), and
//! authentication is `peer` with an ident map that lets our user, and no other, log in as the
//! superuser, the owner role and the application role. `pg_hba.conf` and `pg_ident.conf` are
//! rewritten at every start, so a data folder made by an older version (which trusted every
//! local user) is closed too. PostgreSQL refuses to run as root, so when we are root the
//! cluster runs as the `postgres` system user. The server process is tied to ours: it gets
//! SIGINT (fast shutdown) when we exit, however we exit, so a killed test run leaves no server
//! behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

// Issue #18: a Citus coordinator and workers, each a private cluster of its own.
pub mod citus;

const PORT: u16 = 5432;
/// The superuser `initdb` creates; only the bootstrap connections use it.
pub const SUPERUSER: &str = "postgres";
/// The role that owns the schema and runs migrations.
pub const OWNER_ROLE: &str = "millwright_owner";
/// The role the application connects as; it owns nothing.
pub const APP_ROLE: &str = "millwright_app";

/// How much the cluster should care about surviving a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Normal PostgreSQL settings (the demo).
    Durable,
    /// fsync and full-page writes off (tests: faster, and their data is thrown away).
    Scratch,
}

/// Listening on loopback TCP with TLS as well, for tests of encrypted connections (the
/// private socket stays). Only the owner and application roles may connect that way, with a
/// password (`scram-sha-256`), and only over TLS.
#[derive(Debug, Clone)]
pub struct TcpTls {
    /// Port on 127.0.0.1 (the socket is named after it too).
    pub port: u16,
    /// The server's PEM certificate chain.
    pub cert_file: PathBuf,
    /// Its PEM private key.
    pub key_file: PathBuf,
}

/// A running private cluster; dropping it stops the server.
#[derive(Debug)]
pub struct PrivateCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    pid: i32,
    waiter: Option<JoinHandle<()>>,
    timescale: bool,
    roles: tokio::sync::OnceCell<()>,
}

impl PrivateCluster {
    /// Initialises the cluster in `root` if needed and starts it. Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn start(root: &Path, durability: Durability) -> Result<Self> {
        Self::start_with(root, durability, None)
    }

    /// [`PrivateCluster::start`], also listening on loopback TCP with TLS (see [`TcpTls`]).
    pub fn start_with(root: &Path, durability: Durability, tcp: Option<TcpTls>) -> Result<Self> {
        Self::start_node(root, durability, tcp, None)
    }

    /// [`PrivateCluster::start_with`]; with `citus` settings, the server preloads Citus (and not
    /// TimescaleDB: the two do not combine) and gets those settings too (see [`citus`]).
    pub(crate) fn start_node(
        root: &Path,
        durability: Durability,
        tcp: Option<TcpTls>,
        citus: Option<&[(&str, String)]>,
    ) -> Result<Self> {
        let port = tcp.as_ref().map_or(PORT, |t| t.port);
        let bin = find_bin_dir()?;
        let run_as = system_user_for_postgres()?;
        let our_user = our_user_name()?;
        let data_dir = root.join("pgdata");
        let socket_dir = root.join("socket");
        for dir in [root, socket_dir.as_path()] {
            fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
            chown(dir, run_as)?;
            make_private(dir)?;
        }
        if !data_dir.join("PG_VERSION").exists() {
            let mut initdb = Command::new(bin.join("initdb"));
            initdb.args(["-D"]).arg(&data_dir).args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]);
            as_user(&mut initdb, run_as);
            let out = initdb.output().map_err(Error::io("running initdb"))?;
            if !out.status.success() {
                return Err(Error::Cluster(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        write_authentication(&data_dir, &our_user, run_as, tcp.is_some())?;
        let timescale = citus.is_none() && timescale_installed(&bin);
        let log_path = root.join("postgres.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(Error::io(format!("opening {}", log_path.display())))?;
        chown(&log_path, run_as)?;
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data_dir)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-p", &port.to_string()]);
        match &tcp {
            None => {
                postgres.args(["-c", "listen_addresses="]);
            }
            Some(t) => {
                // The server reads its key as its own user, from a file only it may read.
                let (cert, key) = (data_dir.join("server.crt"), data_dir.join("server.key"));
                fs::copy(&t.cert_file, &cert).map_err(Error::io("copying the certificate"))?;
                fs::copy(&t.key_file, &key).map_err(Error::io("copying the key"))?;
                for f in [&cert, &key] {
                    chown(f, run_as)?;
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(f, fs::Permissions::from_mode(0o600))
                        .map_err(Error::io("protecting the key"))?;
                }
                postgres.args(["-c", "listen_addresses=127.0.0.1", "-c", "ssl=on"]);
                postgres
                    .arg("-c")
                    .arg(format!("ssl_cert_file={}", cert.display()));
                postgres
                    .arg("-c")
                    .arg(format!("ssl_key_file={}", key.display()));
            }
        }
        postgres
            .args(["-c", "max_connections=300", "-c", "shared_buffers=256MB"])
            .args(["-c", "max_wal_size=4GB", "-c", "log_min_messages=warning"])
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(Error::io("duplicating log handle"))?,
            )
            .stderr(log);
        if durability == Durability::Scratch {
            postgres.args([
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
            ]);
        }
        if timescale {
            postgres.args([
                "-c",
                "shared_preload_libraries=timescaledb",
                "-c",
                "timescaledb.telemetry_level=off",
            ]);
        }
        if let Some(settings) = citus {
            postgres.args(["-c", "shared_preload_libraries=citus"]);
            for (name, value) in settings {
                postgres.arg("-c").arg(format!("{name}={value}"));
            }
        }
        as_user(&mut postgres, run_as);
        let (pid, waiter) = spawn_tied_to_us(postgres)?;
        let cluster = Self {
            data_dir,
            socket_dir,
            port,
            pid,
            waiter: Some(waiter),
            timescale,
            roles: Default::default(),
        };
        cluster.wait_until_ready(&log_path)?;
        Ok(cluster)
    }

    /// A connection URL for `user` on database `dbname` over the cluster's socket.
    pub fn url(&self, user: &str, dbname: &str) -> String {
        let host: String = self
            .socket_dir
            .to_string_lossy()
            .bytes()
            .map(|b| match b {
                b'/' => "%2F".to_string(),
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        format!("postgresql://{user}@{host}:{}/{dbname}", self.port)
    }

    /// The folder holding the server's socket (for `psql -h`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port in the socket's name (for `psql -p`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the TimescaleDB extension is installed and preloaded.
    pub fn has_timescale(&self) -> bool {
        self.timescale
    }

    /// Creates (if missing) the owner and application roles and database `dbname` owned by
    /// the owner, with TimescaleDB enabled in it when installed. Returns (owner URL, app URL).
    pub async fn create_database(&self, dbname: &str) -> Result<(String, String)> {
        let admin = connect(&self.url(SUPERUSER, "postgres")).await?;
        // Roles are cluster-wide: create them once, not once per (concurrent) database.
        self.roles
            .get_or_try_init(|| async {
                admin
                    .batch_execute(&format!(
                        "DO $$ BEGIN
                            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                                CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE;
                            END IF;
                            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                                CREATE ROLE {APP_ROLE} LOGIN;
                            END IF;
                         END $$;"
                    ))
                    .await
                    .map_err(Error::db("creating roles"))
            })
            .await?;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&dbname])
            .await
            .map_err(Error::db("looking up database"))?
            .is_some();
        if !exists {
            let quoted = dbname.replace('"', "\"\"");
            admin
                .batch_execute(&format!("CREATE DATABASE \"{quoted}\" OWNER {OWNER_ROLE}"))
                .await
                .map_err(Error::db("creating database"))?;
        }
        if self.timescale {
            let db = connect(&self.url(SUPERUSER, dbname)).await?;
            db.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                .await
                .map_err(Error::db("creating the timescaledb extension"))?;
        }
        Ok((self.url(OWNER_ROLE, dbname), self.url(APP_ROLE, dbname)))
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            signal(self.pid, libc::SIGINT);
            let _ = waiter.join();
        }
    }

    fn wait_until_ready(&self, log_path: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let pid_file = self.data_dir.join("postmaster.pid");
        loop {
            // Line 8 of postmaster.pid is the server's status; "ready" once it accepts connections.
            if let Ok(text) = fs::read_to_string(&pid_file) {
                if text.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
                    return Ok(());
                }
            }
            if self.waiter.as_ref().is_some_and(|w| w.is_finished()) || Instant::now() > deadline {
                let log = fs::read_to_string(log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                return Err(Error::Cluster(format!(
                    "the server did not become ready; last lines of {}:\n{}",
                    log_path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(Error::db("connecting to the private cluster"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Only the owner of `dir` (and root) may enter it.
fn make_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(Error::io(format!("making {} private", dir.display())))
}

/// Peer authentication on the socket, mapped so that `our_user` (and the server's own system
/// user) may log in as the superuser and the two Millwright roles, and nobody else at all.
fn write_authentication(
    data_dir: &Path,
    our_user: &str,
    run_as: Option<(u32, u32)>,
    tcp: bool,
) -> Result<()> {
    let mut hba = String::from(
        "# Written by millwright at every start: only the operating-system users named in\n\
         # pg_ident.conf may connect, over the private socket, as the roles mapped there.\n\
         local all all peer map=millwright\n",
    );
    if tcp {
        hba.push_str(&format!(
            "# Loopback TCP, TLS only, password only, the two Millwright roles only.\n\
             hostssl all {OWNER_ROLE},{APP_ROLE} 127.0.0.1/32 scram-sha-256\n"
        ));
    }
    let mut ident = String::from("# MAPNAME SYSTEM-USERNAME PG-USERNAME (written by millwright)\n");
    let mut users = vec![our_user.to_string()];
    if run_as.is_some() {
        users.push(SUPERUSER.to_string()); // the system user the server runs as
    }
    for user in &users {
        for role in [SUPERUSER, OWNER_ROLE, APP_ROLE] {
            ident.push_str(&format!("millwright {user} {role}\n"));
        }
    }
    for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident)] {
        let path = data_dir.join(name);
        fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
        chown(&path, run_as)?;
    }
    Ok(())
}

/// The name of the operating-system user we run as (peer authentication compares it).
fn our_user_name() -> Result<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    let passwd = fs::read_to_string("/etc/passwd").map_err(Error::io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[2].parse() == Ok(euid))
        .map(|f| f[0].to_string())
        .ok_or_else(|| {
            Error::Cluster(format!(
                "user id {euid} has no name in /etc/passwd, which the private cluster's peer \
                 authentication needs; set DATABASE_URL to use another server"
            ))
        })
}

/// Where the PostgreSQL server binaries are: `$PATH` first, then Debian's versioned folders
/// (newest first), since Debian does not put `initdb` on the path.
fn find_bin_dir() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str()?.parse::<u32>().ok()),
        )
    });
    on_path
        .into_iter()
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        // A symlinked initdb (some images link it into /usr/local/bin) leads to the real
        // installation, where psql and pg_config sit beside it.
        .map(|dir| {
            dir.join("initdb")
                .canonicalize()
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
                .unwrap_or(dir)
        })
        .ok_or_else(|| {
            Error::Cluster(
                "no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql; \
                 install postgresql (Debian: apt-get install postgresql) or set DATABASE_URL"
                    .into(),
            )
        })
}

/// The folder holding `psql` of the same installation as the server.
pub fn psql_path() -> Result<PathBuf> {
    Ok(find_bin_dir()?.join("psql"))
}

fn timescale_installed(bin: &Path) -> bool {
    let share = Command::new(bin.join("pg_config"))
        .arg("--sharedir")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    share.is_some_and(|dir| {
        Path::new(&dir)
            .join("extension/timescaledb.control")
            .exists()
    })
}

/// (uid, gid) to run the server as: the `postgres` user when we are root, else ourselves.
fn system_user_for_postgres() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(Error::io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .ok_or_else(|| {
            Error::Cluster(
                "running as root, and PostgreSQL refuses to run as root, but there is no \
                 `postgres` system user to run it as"
                    .into(),
            )
        })
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(
            Error::io(format!("handing {} to the postgres user", path.display())),
        ),
        None => Ok(()),
    }
}

fn as_user(cmd: &mut Command, owner: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions; pid is a child we started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Spawns `cmd` from a thread that lives exactly as long as the child, with the child's
/// parent-death signal set: Linux ties that signal to the spawning thread, so a short-lived
/// thread would take the server down with it.
fn spawn_tied_to_us(mut cmd: Command) -> Result<(i32, JoinHandle<()>)> {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe. It runs after the uid switch, which would otherwise clear the setting.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("postgres-waiter".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id() as i32));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(Error::io("starting the postgres waiter thread"))?;
    let pid = rx
        .recv()
        .map_err(|_| Error::Cluster("the postgres waiter thread died".into()))?
        .map_err(Error::io("starting postgres"))?;
    Ok((pid, waiter))
}

/// A database to work in: either the one `DATABASE_URL` names, or a fresh one in a private
/// cluster started for the purpose (which lives as long as this value).
#[derive(Debug)]
pub struct LocalDatabase {
    /// Owner and application URLs to put into the settings.
    pub urls: (String, String),
    /// The private cluster, when one was started.
    pub cluster: Option<PrivateCluster>,
}

impl LocalDatabase {
    /// Uses `settings.database` if it names a server; otherwise starts a private cluster in
    /// `data_dir` and creates database `dbname` in it, filling in `settings.database`.
    pub async fn provide(
        settings: &mut crate::config::DatabaseSettings,
        data_dir: &Path,
        dbname: &str,
        durability: Durability,
    ) -> Result<Self> {
        if let Some(url) = &settings.url {
            let app = settings
                .app_url
                .as_ref()
                .unwrap_or(url)
                .expose()
                .to_string();
            return Ok(Self {
                urls: (url.expose().to_string(), app),
                cluster: None,
            });
        }
        let dir = data_dir.to_path_buf();
        let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(&dir, durability))
            .await
            .map_err(|e| Error::Cluster(format!("start-up task failed: {e}")))??;
        let urls = cluster.create_database(dbname).await?;
        settings.url = Some(crate::config::Secret::new(urls.0.clone()));
        settings.app_url = Some(crate::config::Secret::new(urls.1.clone()));
        Ok(Self {
            urls,
            cluster: Some(cluster),
        })
    }
}
