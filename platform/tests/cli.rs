//! Every command of the README's command table, run as the built `millwright` binary with the
//! documented arguments (small sizes for benchmarks and model evaluations), checking what it
//! prints and its exit status. Commands that serve until Ctrl-C get SIGINT and must exit 0.

mod process;

use std::path::Path;
use std::time::Duration;

use millwright_connectors::config::ConnectorConfig;
use millwright_connectors::modbus::DataType;
use millwright_platform::config::{BackendChoice, Settings};
use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_settings, tenant_with_tags, TestApp};
use millwright_tenants::role::Role;
use process::{eventually, millwright, run, spawn};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MINUTE: Duration = Duration::from_secs(60);

/// `DATABASE_URL` and `APP_DATABASE_URL` of a fresh database.
async fn database() -> (String, String, Settings) {
    let settings = fresh_settings(BackendChoice::Plain).await;
    let owner = settings.database.url.as_ref().unwrap().expose().to_string();
    let app = settings
        .database
        .app_url
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    (owner, app, settings)
}

fn value_of(text: &str, key: &str) -> Option<f64> {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn example_config_prints_settings_that_parse_back() {
    let mut cmd = millwright();
    cmd.arg("example-config");
    let out = run(cmd, MINUTE).await.success();
    let parsed: Settings = toml::from_str(&out.stdout).expect("the example parses as settings");
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Settings::default()),
        "every setting at its default"
    );
}

#[tokio::test]
async fn operator_key_prints_a_key_and_its_digest() {
    let mut cmd = millwright();
    cmd.arg("operator-key");
    let out = run(cmd, MINUTE).await.success();
    let key = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("operator key: "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    assert!(
        out.stdout
            .contains(&format!("auth.operator_key_sha256 = \"{digest}\"")),
        "{}",
        out.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_tenant_audit_and_serve_use_the_platform_settings() {
    let (owner, app, _) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let settings_file = dir.path().join("millwright.toml");
    std::fs::write(&settings_file, "[store]\nbackend = \"plain\"\n").unwrap();
    let with_db = |args: &[&str]| {
        let mut cmd = millwright();
        cmd.args(args)
            .env("DATABASE_URL", &owner)
            .env("APP_DATABASE_URL", &app);
        cmd
    };
    let config = settings_file.to_str().unwrap();

    // The settings file after the command name, before it, or from MILLWRIGHT_CONFIG.
    let out = run(with_db(&["migrate", "--config", config]), MINUTE)
        .await
        .success();
    assert_eq!(
        out.stdout.trim(),
        "migrations applied; storage layout: Plain"
    );
    run(with_db(&["--config", config, "migrate"]), MINUTE)
        .await
        .success();
    let mut cmd = with_db(&["migrate"]);
    cmd.env("MILLWRIGHT_CONFIG", dir.path().join("missing.toml"));
    let out = run(cmd, MINUTE).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("missing.toml"), "{}", out.describe());

    let mut cmd = with_db(&[
        "tenant",
        "create",
        "Acme Appliances",
        "--plan",
        "mes",
        "--industry",
        "appliance",
        "--region",
        "EU",
        "--owner-email",
        "owner@acme.example",
    ]);
    cmd.env(
        "MILLWRIGHT_OWNER_PASSWORD",
        "correct horse battery staple 42",
    );
    let out = run(cmd, MINUTE).await.success();
    assert!(
        out.stdout.contains("owner: owner@acme.example"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("tenant: "), "{}", out.describe());
    let key = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("API key: "))
        .unwrap()
        .to_string();
    assert!(key.starts_with("mwk_"));

    let out = run(with_db(&["audit", "verify"]), MINUTE).await.success();
    assert!(
        out.stdout.contains("(Acme Appliances):") && out.stdout.contains("chain intact"),
        "{}",
        out.describe()
    );
    let out = run(
        with_db(&["audit", "verify", "--tenant", "Acme Appliances"]),
        MINUTE,
    )
    .await
    .success();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.describe());

    // serve: JSON logs name the address; the key works; no colour codes in a pipe.
    let mut cmd = with_db(&["serve", "--config", config]);
    cmd.env("MILLWRIGHT__HTTP__LISTEN", "127.0.0.1:0")
        .env("MILLWRIGHT__LOG__FORMAT", "json");
    let mut server = spawn(cmd);
    let mut address = String::new();
    eventually("serve logs its address", MINUTE, || {
        let found = server
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "Serving the API.")
            .and_then(|v| v["address"].as_str().map(str::to_string));
        if let Some(a) = found {
            address = a;
        }
        let ok = !address.is_empty();
        async move { ok }
    })
    .await;
    let tags = reqwest::Client::new()
        .get(format!("http://{address}/api/v1/tags"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), reqwest::StatusCode::OK);
    assert!(server.is_running());
    let out = server.interrupt(MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
    assert!(!out.stderr.contains('\u{1b}'), "no ANSI colour in a pipe");
}

#[tokio::test]
async fn text_logs_have_no_colour_codes_in_a_pipe() {
    // A connector command that fails at once logs through the same subscriber.
    let mut cmd = millwright();
    cmd.args([
        "connector",
        "run",
        "--config",
        "/nonexistent/connector.toml",
    ])
    .env("RUST_LOG", "debug");
    let out = run(cmd, MINUTE).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("/nonexistent/connector.toml"),
        "{}",
        out.describe()
    );
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benches_run_with_small_sizes() {
    let (owner, app, _) = database().await;
    let mut cmd = millwright();
    cmd.args(["bench", "ingest", "--samples", "3000", "--tags", "10"])
        .env("DATABASE_URL", &owner)
        .env("APP_DATABASE_URL", &app);
    let out = run(cmd, 5 * MINUTE).await.success();
    for key in [
        "store_points_per_s",
        "http_points_per_s",
        "psql_points_per_s",
    ] {
        assert!(
            value_of(&out.stdout, key).is_some(),
            "{key}: {}",
            out.describe()
        );
    }
    assert!(
        value_of(out.last_line(), "ratio_store_vs_psql").is_some()
            && value_of(out.last_line(), "ratio_http_vs_store").is_some(),
        "{}",
        out.describe()
    );

    let mut cmd = millwright();
    cmd.args(["bench", "query", "--tags", "2", "--hours", "1"])
        .env("DATABASE_URL", &owner)
        .env("APP_DATABASE_URL", &app);
    let out = run(cmd, 5 * MINUTE).await.success();
    assert!(
        value_of(out.last_line(), "query_ms_rollup").is_some()
            && value_of(out.last_line(), "query_ms_raw").is_some(),
        "{}",
        out.describe()
    );

    // Issue #14: quotes over HTTP with open orders, and scheduling a batch.
    let mut cmd = millwright();
    cmd.args([
        "bench", "orders", "--lines", "4", "--orders", "12", "--quotes", "5",
    ])
    .env("DATABASE_URL", &owner)
    .env("APP_DATABASE_URL", &app);
    let out = run(cmd, 5 * MINUTE).await.success();
    let quote_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("orders_lines="))
        .unwrap_or_default();
    assert!(
        value_of(quote_line, "quote_p99_ms").is_some()
            && value_of(quote_line, "empty_quote_p99_ms").is_some()
            && value_of(out.last_line(), "schedule_edd_ms").is_some(),
        "{}",
        out.describe()
    );

    // Issue #17: tenants through connector uplinks while consoles query, beside bench ingest.
    let mut cmd = millwright();
    cmd.args([
        "bench",
        "load",
        "--tenants",
        "2",
        "--tags",
        "5",
        "--rate-hz",
        "5",
        "--consoles",
        "1",
        "--duration",
        "3",
        "--reference-samples",
        "1000",
    ])
    .env("DATABASE_URL", &owner)
    .env("APP_DATABASE_URL", &app);
    let out = run(cmd, 5 * MINUTE).await.success();
    for key in [
        "load_sustained_samples_per_s",
        "reference_single_tenant_http_samples_per_s",
    ] {
        assert!(
            value_of(&out.stdout, key).is_some(),
            "{key}: {}",
            out.describe()
        );
    }
    assert!(
        value_of(out.last_line(), "ratio_sustained_vs_reference").is_some(),
        "{}",
        out.describe()
    );

    let mut cmd = millwright();
    cmd.args([
        "bench",
        "alarms",
        "--tags",
        "20",
        "--rules",
        "20",
        "--samples",
        "2000",
        "--rate",
        "2000",
        "--secs",
        "1",
    ])
    .env("DATABASE_URL", &owner)
    .env("APP_DATABASE_URL", &app);
    let out = run(cmd, 5 * MINUTE).await.success();
    for key in [
        "ingest_without_rules_per_s",
        "ingest_with_rules_per_s",
        "paced_achieved_per_s",
    ] {
        assert!(
            value_of(&out.stdout, key).is_some_and(|v| v > 0.0),
            "{key}: {}",
            out.describe()
        );
    }
    assert!(
        value_of(out.last_line(), "ratio_ingest_with_rules_vs_without").is_some_and(|v| v > 0.0),
        "{}",
        out.describe()
    );

    let mut cmd = millwright();
    cmd.args([
        "bench",
        "modbus",
        "--plants-per-kind",
        "1",
        "--seconds",
        "0.5",
    ]);
    let out = run(cmd, 5 * MINUTE).await.success();
    assert!(
        value_of(out.last_line(), "ratio_connector_vs_bare").is_some(),
        "{}",
        out.describe()
    );

    let mut cmd = millwright();
    cmd.args(["bench", "opcua", "--items", "200", "--seconds", "0.5"]);
    let out = run(cmd, 5 * MINUTE).await.success();
    assert!(
        value_of(out.last_line(), "opcua_values_per_s").is_some_and(|v| v > 0.0),
        "{}",
        out.describe()
    );
}

#[tokio::test]
async fn model_evaluations_print_their_summary_line() {
    let mut cmd = millwright();
    cmd.args(["models", "eval", "ai4i", "--trees", "5"]);
    let out = run(cmd, 10 * MINUTE).await.success();
    let last = out.last_line();
    for key in ["f1", "recall", "precision", "auc"] {
        assert!(value_of(last, key).is_some(), "{key}: {}", out.describe());
    }
    let mut cmd = millwright();
    cmd.args([
        "models", "eval", "cmapss", "--subset", "FD001", "--trees", "3",
    ]);
    let out = run(cmd, 10 * MINUTE).await.success();
    let last = out.last_line();
    assert!(
        value_of(last, "rmse").is_some() && value_of(last, "score").is_some(),
        "{}",
        out.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_plants_written_configs_probe_print_discover_and_run() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("edge");
    let tenant = tenant_with_tags(&app.store, "edge-owner", &[]).await;
    let token = app
        .store
        .issue_api_key(tenant.id, "edge", Role::Device)
        .await
        .unwrap();

    // simulate --write-configs: the plant's connector config, pointed at our platform.
    let mut cmd = millwright();
    cmd.current_dir(dir.path())
        .args([
            "simulate",
            "--plant",
            "machinery",
            "--opcua",
            "--write-configs",
        ])
        .arg(&configs)
        .args(["--platform-url", &app.url])
        .env("MILLWRIGHT_TOKEN", &token);
    let mut sim = spawn(cmd);
    let url = sim
        .line(2 * MINUTE, |l| l.starts_with("machinery OPC UA at "))
        .await
        .trim_start_matches("machinery OPC UA at ")
        .to_string();
    let line = sim
        .line(MINUTE, |l| l.starts_with("machinery connector config: "))
        .await;
    let config = line.trim_start_matches("machinery connector config: ");
    assert_eq!(Path::new(config), configs.join("machinery.toml"));
    let cfg = ConnectorConfig::load(config).expect("the written config loads");
    assert!(cfg.uplink.is_some());

    // probe: the connector file is not taken for platform settings, even when
    // MILLWRIGHT_CONFIG names it (the clash that refused every connector file).
    let mut cmd = millwright();
    cmd.args([
        "connector",
        "probe",
        "--config",
        config,
        "--tag",
        "cnc-1.spindle_load",
    ])
    .env("MILLWRIGHT_CONFIG", config);
    let out = run(cmd, MINUTE).await.success();
    assert!(
        out.stdout.contains("DCBA") && out.stdout.lines().any(|l| l.starts_with("f32 ")),
        "{}",
        out.describe()
    );
    // The configured value in the probe's readable notation: a few digits, not 17.
    let configured = out
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("tag spindle_load as configured (F32 ABCD, scale 1, offset 0): ")
        })
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(
        configured.len() <= 10
            && configured
                .parse::<f64>()
                .is_ok_and(|v| (0.0..200.0).contains(&v)),
        "{configured}"
    );
    register_tags(&app.store, &tenant, &cfg).await;

    // run --print: decoded samples as JSON lines, nothing sent.
    let mut cmd = millwright();
    cmd.args([
        "connector",
        "run",
        "--config",
        config,
        "--print",
        "--count",
        "60",
    ]);
    let out = run(cmd, 2 * MINUTE).await.success();
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 60, "{}", out.describe());
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["quality", "tag", "time", "value"], "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["tag"] == "machinery.cnc-1.program" && l["value"].is_string()),
        "a text tag's value prints as a string: {}",
        out.stdout
    );
    let owner = app.store.owner_pool().get().await.unwrap();
    let stored: i64 = owner
        .query_one(
            "SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM text_samples)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "--print sent nothing");

    // discover: a secured endpoint, trust on first use, PKI beside the output file, the
    // server's own name, no empty sections; the file it writes runs.
    let discovered = dir.path().join("cnc-opcua.toml");
    let mut cmd = millwright();
    cmd.args([
        "connector",
        "discover",
        &url,
        "--security-policy",
        "basic256_sha256",
        "--security-mode",
        "sign_and_encrypt",
        "--trust-on-first-use",
        "--node",
    ])
    .arg("ns=2;s=cnc-1")
    .arg("-o")
    .arg(&discovered);
    let out = run(cmd, 2 * MINUTE).await.success();
    let pki = dir.path().join("pki");
    assert!(
        out.stderr
            .contains(&format!("PKI folder: {}", pki.display())),
        "{}",
        out.describe()
    );
    assert!(pki.join("own/cert.der").exists());
    let text = std::fs::read_to_string(&discovered).unwrap();
    assert!(!text.contains("[modbus]"), "no empty section: {text}");
    let parsed = ConnectorConfig::parse(&text, &discovered).unwrap();
    let server = &parsed.opcua.servers[0];
    assert_eq!(server.name, "millwright-machinery-plant-simulator");
    assert!(server.tags.iter().any(|t| t.name == "program"), "{text}");
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("run")
        .arg("--config")
        .arg(&discovered)
        .args(["--print", "--count", "5"]);
    let out = run(cmd, 2 * MINUTE).await.success();
    assert_eq!(out.stdout.lines().count(), 5, "{}", out.describe());

    // An unreachable endpoint: one error naming it and the reason, no log noise.
    let mut cmd = millwright();
    cmd.args(["connector", "discover", "opc.tcp://127.0.0.1:9/"])
        .arg("--pki-dir")
        .arg(&pki);
    let out = run(cmd, MINUTE).await;
    assert!(!out.status.success());
    let err: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("PKI folder") && !l.trim().is_empty())
        .collect();
    assert_eq!(err.len(), 1, "{}", out.describe());
    assert!(
        err[0].contains("opc.tcp://127.0.0.1:9/") && err[0].contains("connection refused"),
        "{}",
        out.describe()
    );

    // run: samples, text included, reach the platform; Ctrl-C stops it cleanly.
    let mut cmd = millwright();
    cmd.args(["connector", "run", "--config", config]);
    let connector = spawn(cmd);
    let program = tag_id(&app.store, &tenant, "machinery.cnc-1.program").await;
    let load = tag_id(&app.store, &tenant, "machinery.cnc-1.spindle_load").await;
    let key = tenant.key.clone();
    eventually("samples stored through connector run", 2 * MINUTE, || {
        let (url, key) = (app.url.clone(), key.clone());
        async move {
            let latest: Value = reqwest::Client::new()
                .get(format!("{url}/api/v1/samples/latest?tags={program},{load}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            latest[0]["sample"]["value"].is_string() && latest[1]["sample"]["value"].is_number()
        }
    })
    .await;
    let out = connector.interrupt(MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
    let out = sim.interrupt(MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
}

/// Registers every tag of a connector config (text for string registers).
async fn register_tags(
    store: &Store,
    tenant: &millwright_platform::test_util::TestTenant,
    cfg: &ConnectorConfig,
) {
    let mut s = store.tenant(tenant.id).await.unwrap();
    for d in &cfg.modbus.devices {
        for t in &d.tags {
            let fields = EntityFields {
                parent_id: Some(tenant.machine_id),
                name: Some(t.platform_tag(&d.name)),
                value_type: (t.data_type == DataType::String).then_some(ValueType::Text),
                ..Default::default()
            };
            s.create(Kind::Tag, &fields).await.unwrap();
        }
    }
}

async fn tag_id(
    store: &Store,
    tenant: &millwright_platform::test_util::TestTenant,
    name: &str,
) -> i64 {
    let mut s = store.tenant(tenant.id).await.unwrap();
    s.tag_kinds_by_name(&[name]).await.unwrap()[name].0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_its_keys_serves_and_stops_on_ctrl_c() {
    let data = tempfile::Builder::new()
        .prefix("millwright-cli-demo-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut cmd = millwright();
    cmd.arg("demo")
        .arg("--data-dir")
        .arg(data.path())
        .env("MILLWRIGHT__HTTP__LISTEN", "127.0.0.1:0");
    let mut demo = spawn(cmd);
    let api = demo
        .line(3 * MINUTE, |l| l.starts_with("API: "))
        .await
        .trim_start_matches("API: ")
        .to_string();
    let key = demo
        .line(MINUTE, |l| l.starts_with("API key: "))
        .await
        .trim_start_matches("API key: ")
        .to_string();
    demo.line(MINUTE, |l| l.starts_with("Operator key: mwk_"))
        .await;
    let http = reqwest::Client::new();
    let tags: Value = http
        .get(format!("{api}/api/v1/tags?limit=1000"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text: Vec<i64> = tags
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["value_type"] == "text")
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    // machine_id on every machine, a recipe per moulding machine, a program per CNC.
    assert_eq!(text.len(), 12 + 3 + 3, "{tags}");
    let ids = text
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    eventually("text samples from the simulators", 2 * MINUTE, || {
        let req = http
            .get(format!("{api}/api/v1/samples/latest?tags={ids}"))
            .bearer_auth(&key);
        async move {
            let latest: Value = req.send().await.unwrap().json().await.unwrap();
            latest
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["sample"]["value"].is_string())
        }
    })
    .await;
    let out = demo.interrupt(2 * MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
}

/// On TimescaleDB, every maintenance round refreshes the continuous aggregates and the server
/// answers with NOTICEs ("… is already up-to-date"): logged at debug, not at info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routine_maintenance_notices_are_debug_lines() {
    if !millwright_platform::test_util::timescale_available().await {
        eprintln!("skipped: TimescaleDB is not installed on this machine");
        return;
    }
    let settings = fresh_settings(BackendChoice::Timescale).await;
    let owner = settings.database.url.as_ref().unwrap().expose().to_string();
    let app = settings
        .database
        .app_url
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let serve = |filter: &str| {
        let mut cmd = millwright();
        cmd.args(["serve"])
            .env("DATABASE_URL", &owner)
            .env("APP_DATABASE_URL", &app)
            .env("MILLWRIGHT__HTTP__LISTEN", "127.0.0.1:0")
            .env("MILLWRIGHT__STORE__MAINTENANCE_INTERVAL_SECS", "1")
            .env("RUST_LOG", filter);
        spawn(cmd)
    };
    for (filter, shown) in [
        ("info", false),
        ("info,millwright_platform::store=debug", true),
    ] {
        let server = serve(filter);
        let mut notices = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        while tokio::time::Instant::now() < deadline && !notices {
            tokio::time::sleep(Duration::from_millis(500)).await;
            notices = server.stderr().contains("already up-to-date");
        }
        let out = server.interrupt(MINUTE).await;
        assert!(out.status.success(), "{}", out.describe());
        assert!(
            out.stderr.contains("Serving the API."),
            "{}",
            out.describe()
        );
        assert_eq!(notices, shown, "{filter}: {}", out.stderr);
    }
}
