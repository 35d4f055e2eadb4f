//! The README's connector walkthrough works as written: every command of the block marked for
//! this test runs in a shell, in a fresh folder, with the built binary first on `PATH`.
//!
//! A command ending in `&` starts in the background and must still answer Ctrl-C with exit 0 at
//! the end. `connector run` without `--print` serves until Ctrl-C: it must still run after a
//! few seconds and then stop cleanly. Every other command must exit 0; while background
//! commands are still starting (a simulator generating its certificate), a failed command is
//! tried again for up to a minute and a half.

mod process;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use process::{root, Finished, Running};

const MARKER: &str = "<!-- platform/tests/readme.rs runs every command of the next block";

/// The commands of the marked block.
fn commands() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let after = readme
        .split_once(MARKER)
        .expect("README.md has the marked block")
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a sh block follows the marker")
        .1
        .split_once("```")
        .expect("the block ends")
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn shell(line: &str, cwd: &Path) -> tokio::process::Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_millwright"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("bash");
    // `exec`, so that Ctrl-C reaches the command itself rather than the shell.
    cmd.arg("-c")
        .arg(format!("exec {line}"))
        .current_dir(cwd)
        .env("PATH", path);
    for var in [
        "MILLWRIGHT_CONFIG",
        "DATABASE_URL",
        "APP_DATABASE_URL",
        "RUST_LOG",
        "MILLWRIGHT_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_walkthrough_runs_as_written() {
    let lines = commands();
    assert!(lines.len() >= 5, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut background: Vec<(String, Running)> = Vec::new();
    for line in &lines {
        assert!(line.starts_with("millwright "), "{line}");
        if let Some(cmd) = line.strip_suffix('&') {
            background.push((line.clone(), process::spawn(shell(cmd.trim(), dir.path()))));
            continue;
        }
        if line.contains("connector run") && !line.contains("--print") {
            let mut running = process::spawn(shell(line, dir.path()));
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(running.is_running(), "{line} stopped: {}", running.stderr());
            let out = running.interrupt(Duration::from_secs(60)).await;
            assert!(out.status.success(), "{line}: {}", out.describe());
            continue;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let out: Finished =
                process::run(shell(line, dir.path()), Duration::from_secs(120)).await;
            if out.status.success() {
                check(line, &out, dir.path());
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{line}: {}",
                out.describe()
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    for (line, running) in background {
        let out = running.interrupt(Duration::from_secs(60)).await;
        assert!(out.status.success(), "{line}: {}", out.describe());
    }
}

/// What each kind of command must have printed.
fn check(line: &str, out: &Finished, cwd: &Path) {
    if line.contains("--print") {
        let count: usize = line
            .split_whitespace()
            .skip_while(|w| *w != "--count")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let printed: Vec<serde_json::Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{line}: {l}: {e}")))
            .collect();
        assert_eq!(printed.len(), count, "{line}: {}", out.describe());
        assert!(printed
            .iter()
            .all(|s| s["tag"].is_string() && s["time"].is_string()));
    } else if line.contains("connector probe") {
        assert!(
            out.stdout.contains("as configured"),
            "{line}: {}",
            out.describe()
        );
    } else if line.contains("connector discover") {
        let file = line
            .split_whitespace()
            .skip_while(|w| *w != "-o")
            .nth(1)
            .expect("-o FILE");
        let cfg = millwright_connectors::config::ConnectorConfig::load(cwd.join(file))
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(!cfg.opcua.servers[0].tags.is_empty(), "{line}");
        assert!(
            out.stderr.contains("PKI folder:"),
            "{line}: {}",
            out.describe()
        );
    }
}
