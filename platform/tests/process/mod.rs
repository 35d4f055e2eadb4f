//! Running the built `millwright` binary as a process, as a person would from a shell: its
//! output line by line, a deadline on everything, Ctrl-C (SIGINT) to stop a long-running
//! command, and a Python virtualenv for third-party peers.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod python;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("platform/ has a parent")
        .to_path_buf()
}

/// Cargo's target folder (`CARGO_TARGET_DIR`, relative to the root when relative).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The binary under test, with an environment free of the caller's Millwright settings (a
/// developer's `DATABASE_URL` or `MILLWRIGHT_CONFIG` must not leak into a test), killed if the
/// test drops it.
pub fn millwright() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_millwright"));
    for var in [
        "MILLWRIGHT_CONFIG",
        "DATABASE_URL",
        "APP_DATABASE_URL",
        "RUST_LOG",
        "MILLWRIGHT_TOKEN",
        "MILLWRIGHT_OPCUA_PASSWORD",
        "MILLWRIGHT__LOG__FORMAT",
        "MILLWRIGHT__LOG__FILTER",
        // anyhow appends a backtrace to the error a user sees when these are set.
        "RUST_BACKTRACE",
        "RUST_LIB_BACKTRACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Everything, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// Panics unless it exited with status 0.
    pub fn success(self) -> Self {
        assert!(self.status.success(), "{}", self.describe());
        self
    }

    /// The last non-empty line of standard output.
    pub fn last_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Runs `cmd` to the end, within `limit`.
pub async fn run(mut cmd: Command, limit: Duration) -> Finished {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("the binary starts");
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {limit:?}"))
        .expect("waiting for the binary");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command left running: its standard output arrives line by line, its standard error is
/// collected.
pub struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

/// Starts `cmd` and leaves it running.
pub fn spawn(mut cmd: Command) -> Running {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let (tx, lines) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("piped stdout");
    tokio::spawn(async move {
        let mut r = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = r.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let err = child.stderr.take().expect("piped stderr");
    tokio::spawn(async move {
        let mut r = BufReader::new(err).lines();
        while let Ok(Some(line)) = r.next_line().await {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
        stderr,
    }
}

impl Running {
    /// The first line (from now) for which `pred` holds, within `limit`.
    pub async fn line(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "the process ended without the line expected\n--- stdout\n{}\n--- stderr\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                ),
                Err(_) => panic!(
                    "no line expected within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Ctrl-C: SIGINT, then waits for it to exit within `limit`; returns its status and every
    /// line of standard output it printed.
    pub async fn interrupt(self, limit: Duration) -> Finished {
        self.signal("-INT", limit).await
    }

    /// SIGTERM (what `docker stop` and Kubernetes send), then waits like [`Running::interrupt`].
    pub async fn terminate(self, limit: Duration) -> Finished {
        self.signal("-TERM", limit).await
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(self) -> Finished {
        self.signal("-KILL", Duration::from_secs(10)).await
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` (as `kill` spells it), then waits for the exit within `limit`.
    pub async fn signal(mut self, signal: &str, limit: Duration) -> Finished {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status();
        }
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "not stopped {limit:?} after {signal}\n--- stderr\n{}",
                    self.stderr()
                )
            })
            .expect("waiting for the binary");
        // Whatever it printed last.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        Finished {
            status,
            stdout: self.seen.join("\n"),
            stderr: self.stderr(),
        }
    }
}

/// Waits until `check` holds, polling every 200 ms, within `limit`.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
