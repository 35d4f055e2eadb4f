//! Interoperability with equipment Millwright did not write: a Modbus TCP server (pymodbus) and
//! an OPC UA server (asyncua), both from PyPI in a virtualenv this test makes
//! (`tests/interop/requirements.txt`). The Python peers encode their values themselves
//! (`struct` for Modbus registers, asyncua's own encoders for OPC UA), so a decoder and a
//! simulator cannot share a mistake. The built `millwright` binary reads them: what `probe`
//! prints, what `connector run --print` decodes, and what `connector run` ships end to end
//! into the real platform, read back over its API.

mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use millwright_platform::store::entities::{EntityFields, Kind, ValueType};
use millwright_platform::test_util::{tenant_with_tags, TestApp, TestTenant};
use millwright_tenants::role::Role;
use process::{eventually, millwright, python::venv_python, root, run, spawn, Finished, Running};
use serde_json::{json, Value};

const MINUTE: Duration = Duration::from_secs(60);

/// One value a peer serves and what the connector must make of it.
#[derive(Debug, Clone)]
struct Point {
    /// Connector tag name (and platform tag `peer.<name>`).
    name: String,
    /// The value as the platform stores it: a number or a string.
    expected: Value,
    /// Spec entry for the Python peer.
    spec: Value,
    /// Lines of the connector config's tag table.
    toml: String,
}

fn python() -> PathBuf {
    venv_python(&root().join("platform/tests/interop/requirements.txt"))
}

/// Starts a Python peer and waits for its `PORT n` line. It stops when the test drops it
/// (its standard input closes).
async fn start_peer(script: &str, args: &[&str]) -> (tokio::process::Child, u16) {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(root().join("platform/tests/interop").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("python starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(2 * MINUTE, lines.next_line())
        .await
        .expect("the peer starts within two minutes")
        .unwrap()
        .expect("the peer prints its port");
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, port)
}

// ---------------------------------------------------------------------------------------
// Modbus TCP against pymodbus

const ORDERS: [&str; 4] = ["ABCD", "CDAB", "BADC", "DCBA"];

fn modbus_points() -> Vec<Point> {
    let u64v: u64 = 0x0102_0304_0506_0800;
    let i64v: i64 = -0x0102_0304_0506_0800;
    let f32v: f32 = 229.01;
    // (type, offset in a 20-register block, value for the peer, value expected)
    let numbers: [(&str, u16, Value, Value); 8] = [
        ("u16", 0, json!(51234), json!(51234.0)),
        ("i16", 1, json!(-12345), json!(-12345.0)),
        ("u32", 2, json!(3_000_000_123u64), json!(3_000_000_123.0)),
        ("i32", 4, json!(-2_000_000_123i64), json!(-2_000_000_123.0)),
        ("u64", 6, json!(u64v), json!(u64v as f64)),
        ("i64", 10, json!(i64v), json!(i64v as f64)),
        ("f32", 14, json!(f32v), json!(f64::from(f32v))),
        ("f64", 16, json!(-12345.678901234), json!(-12345.678901234)),
    ];
    let mut points = Vec::new();
    for (o, order) in ORDERS.iter().enumerate() {
        for (ty, offset, value, expected) in &numbers {
            let address = o as u16 * 20 + offset;
            let name = format!("{}_{ty}", order.to_lowercase());
            points.push(Point {
                expected: expected.clone(),
                spec: json!({"table": "holding", "address": address, "type": ty, "order": order, "value": value}),
                toml: format!("kind = \"holding\"\naddress = {address}\ntype = \"{ty}\"\norder = \"{order}\""),
                name,
            });
        }
    }
    // Input registers, two of them scaled (raw × scale + offset).
    let inputs: [(&str, &str, &str, u16, Value, &str, Value); 4] = [
        ("in_f32", "f32", "CDAB", 0, json!(-3.75), "", json!(-3.75)),
        (
            "in_u32",
            "u32",
            "DCBA",
            2,
            json!(4_000_000_001u64),
            "",
            json!(4_000_000_001.0),
        ),
        (
            "in_scaled_u16",
            "u16",
            "ABCD",
            4,
            json!(2291),
            "scale = 0.1\noffset = -5.0",
            json!(224.1),
        ),
        (
            "in_scaled_i16",
            "i16",
            "BADC",
            5,
            json!(-150),
            "scale = 0.01",
            json!(-1.5),
        ),
    ];
    for (name, ty, order, address, value, extra, expected) in inputs {
        points.push(Point {
            name: name.into(),
            expected,
            spec: json!({"table": "input", "address": address, "type": ty, "order": order, "value": value}),
            toml: format!("kind = \"input\"\naddress = {address}\ntype = \"{ty}\"\norder = \"{order}\"\n{extra}"),
        });
    }
    // Strings: characters left to right, bytes swapped in each word with BADC.
    for (name, address, order, text) in [
        ("recipe", 200, "ABCD", "AUTO-RCP-7"),
        ("program", 210, "BADC", "O1002 FLANGE"),
    ] {
        points.push(Point {
            name: name.into(),
            expected: json!(text),
            spec: json!({"table": "holding", "address": address, "type": "string", "order": order, "length": 8, "value": text}),
            toml: format!("kind = \"holding\"\naddress = {address}\ntype = \"string\"\norder = \"{order}\"\nlength = 8"),
        });
    }
    // Coils and discrete inputs (stored as 1 and 0).
    for (name, table, kind, address, on) in [
        ("coil_on", "coil", "coil", 3, true),
        ("coil_off", "coil", "coil", 4, false),
        ("door_closed", "discrete", "discrete_input", 5, true),
    ] {
        points.push(Point {
            name: name.into(),
            expected: json!(if on { 1.0 } else { 0.0 }),
            spec: json!({"table": table, "address": address, "type": "bool", "value": on}),
            toml: format!("kind = \"{kind}\"\naddress = {address}\ntype = \"bool\""),
        });
    }
    points
}

fn modbus_config(port: u16, points: &[Point], uplink: Option<(&str, &str, &Path)>) -> String {
    let mut toml = String::from("name = \"interop\"\n\n");
    if let Some((url, token, queue)) = uplink {
        toml.push_str(&format!(
            "[uplink]\nplatform_url = \"{url}\"\ntoken = \"{token}\"\nqueue_dir = \"{}\"\nflush_interval_ms = 200\n\n",
            queue.display()
        ));
    }
    toml.push_str(&format!(
        "[[modbus.device]]\nname = \"plc7\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\nunit_id = 1\npoll_interval_ms = 200\n\n"
    ));
    for p in points {
        toml.push_str(&format!(
            "[[modbus.device.tag]]\nname = \"{}\"\nplatform_tag = \"peer.{}\"\n{}\n\n",
            p.name, p.name, p.toml
        ));
    }
    toml
}

/// The first value `--print` showed for each tag (booleans as 1 and 0, as they are stored).
fn printed_values(out: &Finished) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(v["quality"], "good", "{line}");
        let value = match &v["value"] {
            Value::Bool(b) => json!(if *b { 1.0 } else { 0.0 }),
            other => other.clone(),
        };
        seen.entry(v["tag"].as_str().unwrap().to_string())
            .or_insert(value);
    }
    seen
}

fn assert_value(name: &str, got: &Value, expected: &Value) {
    match (got.as_f64(), expected.as_f64()) {
        (Some(g), Some(e)) => assert!(
            (g - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{name}: got {g}, expected {e}"
        ),
        _ => assert_eq!(got, expected, "{name}"),
    }
}

/// Registers `peer.<name>` for every point, text where the expected value is a string.
async fn register(app: &TestApp, tenant: &TestTenant, points: &[Point]) -> Vec<i64> {
    let mut s = app.store.tenant(tenant.id).await.unwrap();
    let mut ids = Vec::new();
    for p in points {
        let fields = EntityFields {
            parent_id: Some(tenant.machine_id),
            name: Some(format!("peer.{}", p.name)),
            value_type: p.expected.is_string().then_some(ValueType::Text),
            ..Default::default()
        };
        ids.push(s.create(Kind::Tag, &fields).await.unwrap().id());
    }
    ids
}

/// Runs `connector run --config F` until the platform has a value for every point, checks
/// them against what the peer serves, and stops the connector with Ctrl-C.
async fn ship_and_check(
    app: &TestApp,
    tenant: &TestTenant,
    ids: &[i64],
    points: &[Point],
    config: &Path,
) {
    let mut cmd = millwright();
    cmd.arg("connector").arg("run").arg("--config").arg(config);
    let connector: Running = spawn(cmd);
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let http = reqwest::Client::new();
    let latest = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    eventually("every value stored in the platform", 2 * MINUTE, || {
        let req = http
            .get(format!("{}/api/v1/samples/latest?tags={list}", app.url))
            .bearer_auth(&tenant.key);
        let latest = latest.clone();
        async move {
            let got: Value = req.send().await.unwrap().json().await.unwrap();
            let all = got
                .as_array()
                .unwrap()
                .iter()
                .all(|l| !l["sample"]["value"].is_null());
            *latest.lock().unwrap() = got;
            all
        }
    })
    .await;
    let latest = latest.lock().unwrap().clone();
    for (p, l) in points.iter().zip(latest.as_array().unwrap()) {
        assert_eq!(l["sample"]["quality"], "good", "{}", p.name);
        assert_value(&p.name, &l["sample"]["value"], &p.expected);
    }
    let out = connector.interrupt(MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_values_from_pymodbus_in_every_type_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let points = modbus_points();
    let spec = dir.path().join("modbus.json");
    let entries: Vec<&Value> = points.iter().map(|p| &p.spec).collect();
    std::fs::write(&spec, serde_json::to_string(&entries).unwrap()).unwrap();
    let (_peer, port) = start_peer("modbus_server.py", &[spec.to_str().unwrap()]).await;

    // run --print: every tag decoded as the peer encoded it.
    let config = dir.path().join("print.toml");
    std::fs::write(&config, modbus_config(port, &points, None)).unwrap();
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--print", "--count", &(2 * points.len()).to_string()]);
    let out = run(cmd, 2 * MINUTE).await.success();
    let printed = printed_values(&out);
    for p in &points {
        let got = printed
            .get(&format!("peer.{}", p.name))
            .unwrap_or_else(|| panic!("{} not printed: {}", p.name, out.stdout));
        assert_value(&p.name, got, &p.expected);
    }

    // probe: the configured decoding, and the right word order's column shows the value.
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("probe")
        .arg("--config")
        .arg(&config)
        .args(["--tag", "plc7.cdab_f32"]);
    let out = run(cmd, MINUTE).await.success();
    assert!(
        out.stdout
            .contains("tag cdab_f32 as configured (F32 CDAB, scale 1, offset 0): 229.01"),
        "{}",
        out.describe()
    );
    let f32_row: Vec<&str> = out
        .stdout
        .lines()
        .find(|l| l.starts_with("f32 "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(f32_row[2], "229.01", "CDAB column: {}", out.stdout);
    assert_ne!(f32_row[1], "229.01", "ABCD column: {}", out.stdout);
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("probe")
        .arg("--config")
        .arg(&config)
        .args(["--tag", "program"]);
    let out = run(cmd, MINUTE).await.success();
    assert!(
        out.stdout
            .contains(r#"as configured (String BADC, scale 1, offset 0): "O1002 FLANGE""#),
        "{}",
        out.describe()
    );

    // run: shipped end to end into the platform.
    let app = TestApp::spawn().await;
    let tenant = tenant_with_tags(&app.store, "interop-modbus", &[]).await;
    let ids = register(&app, &tenant, &points).await;
    let token = app
        .store
        .issue_api_key(tenant.id, "edge", Role::Device)
        .await
        .unwrap();
    let config = dir.path().join("run.toml");
    let queue = dir.path().join("queue");
    std::fs::write(
        &config,
        modbus_config(port, &points, Some((&app.url, &token, &queue))),
    )
    .unwrap();
    ship_and_check(&app, &tenant, &ids, &points, &config).await;
}

// ---------------------------------------------------------------------------------------
// OPC UA against asyncua

fn opcua_points() -> Vec<Point> {
    let f32v: f32 = 229.01;
    let big: i64 = 0x0102_0304_0506_0800;
    let entries: [(&str, &str, Value, Value); 12] = [
        ("sbyte", "SByte", json!(-100), json!(-100.0)),
        ("i16", "Int16", json!(-12345), json!(-12345.0)),
        ("u16", "UInt16", json!(51234), json!(51234.0)),
        (
            "i32",
            "Int32",
            json!(-2_000_000_123),
            json!(-2_000_000_123.0),
        ),
        (
            "u32",
            "UInt32",
            json!(3_000_000_123u64),
            json!(3_000_000_123.0),
        ),
        ("i64", "Int64", json!(-big), json!(-big as f64)),
        ("u64", "UInt64", json!(big), json!(big as f64)),
        ("f32", "Float", json!(f32v), json!(f64::from(f32v))),
        (
            "f64",
            "Double",
            json!(-12345.678901234),
            json!(-12345.678901234),
        ),
        ("running", "Boolean", json!(true), json!(1.0)),
        (
            "program",
            "String",
            json!("O1002 FLANGE"),
            json!("O1002 FLANGE"),
        ),
        (
            "fault_text",
            "LocalizedText",
            json!("Door open"),
            json!("Door open"),
        ),
    ];
    let mut points: Vec<Point> = entries
        .into_iter()
        .map(|(name, ty, value, expected)| Point {
            name: name.into(),
            expected,
            spec: json!({"name": name, "type": ty, "value": value}),
            toml: String::new(),
        })
        .collect();
    points.push(Point {
        name: "last_change".into(),
        expected: json!("2026-03-01T08:00:00+00:00"),
        spec: json!({"name": "last_change", "type": "DateTime", "value": "2026-03-01T08:00:00+00:00"}),
        toml: String::new(),
    });
    points
}

/// A connector config for the asyncua peer: every other tag polled, the rest subscribed.
fn opcua_config(
    port: u16,
    points: &[Point],
    pki: &Path,
    security: &str,
    uplink: Option<(&str, &str, &Path)>,
) -> String {
    let mut toml = String::from("name = \"interop-opcua\"\n\n");
    if let Some((url, token, queue)) = uplink {
        toml.push_str(&format!(
            "[uplink]\nplatform_url = \"{url}\"\ntoken = \"{token}\"\nqueue_dir = \"{}\"\nflush_interval_ms = 200\n\n",
            queue.display()
        ));
    }
    toml.push_str(&format!(
        "[[opcua.server]]\nname = \"press7\"\nendpoint_url = \"opc.tcp://127.0.0.1:{port}/interop/\"\npki_dir = \"{}\"\ntrust_on_first_use = true\npoll_interval_ms = 200\npublishing_interval_ms = 200\n{security}\n\n",
        pki.display()
    ));
    for (i, p) in points.iter().enumerate() {
        let acquisition = if i % 2 == 0 { "poll" } else { "subscribe" };
        toml.push_str(&format!(
            "[[opcua.server.tag]]\nname = \"{}\"\nnode_id = \"ns=2;s={}\"\nplatform_tag = \"peer.{}\"\nacquisition = \"{acquisition}\"\n\n",
            p.name, p.name, p.name
        ));
    }
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcua_values_from_asyncua_of_every_mapped_type() {
    let dir = tempfile::tempdir().unwrap();
    let points = opcua_points();
    let spec = dir.path().join("opcua.json");
    let entries: Vec<&Value> = points.iter().map(|p| &p.spec).collect();
    std::fs::write(&spec, serde_json::to_string(&entries).unwrap()).unwrap();
    let certs = dir.path().join("server-pki");
    let (_peer, port) = start_peer(
        "opcua_server.py",
        &[spec.to_str().unwrap(), certs.to_str().unwrap()],
    )
    .await;
    let pki = dir.path().join("pki");

    // run --print for a few seconds: each value once. The values do not change, so polled
    // tags (read every 200 ms) are not sent again, like subscribed ones.
    let config = dir.path().join("print.toml");
    std::fs::write(&config, opcua_config(port, &points, &pki, "", None)).unwrap();
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--print");
    let mut printing = spawn(cmd);
    printing.line(2 * MINUTE, |l| l.contains("peer.")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = printing.interrupt(MINUTE).await;
    assert!(out.status.success(), "{}", out.describe());
    let mut per_tag: BTreeMap<String, usize> = BTreeMap::new();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *per_tag
            .entry(v["tag"].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(per_tag.len(), points.len(), "{}", out.stdout);
    assert!(
        per_tag.values().all(|n| *n == 1),
        "unchanged values sent again: {per_tag:?}"
    );
    let printed = printed_values(&out);
    for p in &points {
        assert_value(&p.name, &printed[&format!("peer.{}", p.name)], &p.expected);
    }

    // run: shipped end to end into the platform.
    let app = TestApp::spawn().await;
    let tenant = tenant_with_tags(&app.store, "interop-opcua", &[]).await;
    let ids = register(&app, &tenant, &points).await;
    let token = app
        .store
        .issue_api_key(tenant.id, "edge", Role::Device)
        .await
        .unwrap();
    let config = dir.path().join("run.toml");
    let queue = dir.path().join("queue");
    std::fs::write(
        &config,
        opcua_config(port, &points, &pki, "", Some((&app.url, &token, &queue))),
    )
    .unwrap();
    ship_and_check(&app, &tenant, &ids, &points, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_of_an_asyncua_server_offering_only_basic256sha256_sign_and_encrypt() {
    let dir = tempfile::tempdir().unwrap();
    let points = opcua_points();
    let spec = dir.path().join("opcua.json");
    let entries: Vec<&Value> = points.iter().map(|p| &p.spec).collect();
    std::fs::write(&spec, serde_json::to_string(&entries).unwrap()).unwrap();
    let certs = dir.path().join("server-pki");
    let (_peer, port) = start_peer(
        "opcua_server.py",
        &[
            spec.to_str().unwrap(),
            certs.to_str().unwrap(),
            "--secure",
            "engineer",
            "s3cret-pass",
        ],
    )
    .await;
    let url = format!("opc.tcp://127.0.0.1:{port}/interop/");
    let out_file = dir.path().join("edge").join("press.toml");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();

    // Without security: refused, naming what the server offers.
    let mut cmd = millwright();
    cmd.args(["connector", "discover", &url, "-o"])
        .arg(&out_file);
    let out = run(cmd, 2 * MINUTE).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("SignAndEncrypt") && !out.stderr.contains("ERROR"),
        "{}",
        out.describe()
    );

    // Policy, mode, user and password (from the environment), trust on first use.
    let mut cmd = millwright();
    cmd.args([
        "connector",
        "discover",
        &url,
        "--security-policy",
        "basic256_sha256",
        "--security-mode",
        "sign_and_encrypt",
        "--user",
        "engineer",
        "--trust-on-first-use",
        "-o",
    ])
    .arg(&out_file)
    .env("MILLWRIGHT_OPCUA_PASSWORD", "s3cret-pass");
    let out = run(cmd, 2 * MINUTE).await.success();
    let pki = dir.path().join("edge").join("pki");
    assert!(
        out.stderr
            .contains(&format!("PKI folder: {}", pki.display())),
        "{}",
        out.describe()
    );
    assert!(
        std::fs::read_dir(pki.join("trusted")).unwrap().count() == 1,
        "the server's certificate was trusted on first use"
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(!text.contains("s3cret-pass"), "{text}");
    assert!(!text.contains("[modbus]"), "{text}");
    let cfg = millwright_connectors::config::ConnectorConfig::parse(&text, &out_file).unwrap();
    let server = &cfg.opcua.servers[0];
    assert_eq!(
        server.name, "interop-plc-7",
        "named after the ApplicationName"
    );
    let names: Vec<&str> = server.tags.iter().map(|t| t.name.as_str()).collect();
    for p in &points {
        assert!(
            names.contains(&format!("Press7.{}", p.name).as_str()),
            "{} not found: {names:?}",
            p.name
        );
    }

    // With the password filled in, the written file runs over the encrypted channel.
    std::fs::write(&out_file, text.replace("<password>", "s3cret-pass")).unwrap();
    let mut cmd = millwright();
    cmd.arg("connector")
        .arg("run")
        .arg("--config")
        .arg(&out_file)
        .args(["--print", "--count", &points.len().to_string()]);
    let out = run(cmd, 2 * MINUTE).await.success();
    let printed = printed_values(&out);
    for p in &points {
        let tag = format!("interop-plc-7.Press7.{}", p.name);
        let got = printed
            .get(&tag)
            .unwrap_or_else(|| panic!("{tag} not printed: {}", out.stdout));
        assert_value(&p.name, got, &p.expected);
    }
}
