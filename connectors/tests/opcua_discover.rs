//! `connector discover`: browsing a plant simulator's address space prints a config that the
//! loader parses back and that the driver runs; browsing chunks to small operation limits.

mod common;

use std::time::Duration;

use common::opcua::*;
use millwright_connectors::{
    config::ConnectorConfig,
    opcua::{
        config::{Identity, Mode, Policy, Secret},
        discover::{discover, render, DiscoverOptions},
    },
    sample::Quality,
    simulator::{opcua::OpcUaServerOptions, Plant, PlantKind},
};

fn options(url: &str, dir: &std::path::Path, node: Option<String>) -> DiscoverOptions {
    DiscoverOptions {
        url: url.into(),
        node,
        name: None,
        pki_dir: dir.join("client"),
        security_policy: Default::default(),
        security_mode: Default::default(),
        identity: Default::default(),
        trust_on_first_use: false,
        max_depth: 10,
        max_tags: 10_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_output_parses_as_a_config_and_runs() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let plant = Plant::start(PlantKind::Machinery, 3, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let server = plant
        .serve_opcua(OpcUaServerOptions::new(dir.path().join("server")))
        .await
        .unwrap();
    let cfg = discover(&options(&server.url, dir.path(), None))
        .await
        .unwrap();
    let text = render(&cfg);
    let parsed = ConnectorConfig::parse(&text, "discovered.toml").expect("discover output parses");
    assert_eq!(parsed, cfg);
    let tags = &parsed.opcua.servers[0].tags;
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"machinery.line-1.cnc-1.spindle_load"),
        "{names:?}"
    );
    assert!(
        names.contains(&"machinery.line-3.cnc-3.running"),
        "{names:?}"
    );
    // Every layout tag of the three CNCs is found (the text tags included); the ResetFault
    // method's arguments are not variables of a mapped type.
    assert_eq!(
        tags.len(),
        3 * plant.modbus_config(1000).devices[0].tags.len(),
        "{names:?}"
    );
    // Named after the server's ApplicationName; no empty sections in the file.
    assert_eq!(
        parsed.opcua.servers[0].name,
        "millwright-machinery-plant-simulator"
    );
    assert!(!text.contains("[modbus]"), "{text}");
    assert!(
        !text.contains("identity"),
        "anonymous is the default: {text}"
    );

    // From a start node, paths are relative to it.
    let one = discover(&options(
        &server.url,
        dir.path(),
        Some(format!("ns={};s=cnc-2", server.namespace)),
    ))
    .await
    .unwrap();
    assert!(one.opcua.servers[0]
        .tags
        .iter()
        .any(|t| t.name == "spindle_load"));

    // The discovered config runs and delivers good values.
    let mut d = common::run_drivers(&parsed);
    let s = wait_for(&mut d.rx, Duration::from_secs(30), |s| {
        s.tag.ends_with("cnc-1.spindle_load") && s.quality == Quality::Good
    })
    .await;
    assert!(s.is_some());
    let _ = d.stop.send(true);
    server.stop().await;
    plant.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_chunks_browse_and_reads_to_the_server_limits_over_sign_and_encrypt() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), 700, Some(20)).await;
    let mut o = options(&server.url, dir.path(), None);
    o.security_policy = Policy::Basic256Sha256;
    o.security_mode = Mode::SignAndEncrypt;
    o.trust_on_first_use = true;
    o.name = Some("scratch".into());
    let cfg = discover(&o).await.unwrap();
    let s = &cfg.opcua.servers[0];
    assert_eq!(s.tags.len(), 700);
    assert_eq!(
        (s.name.as_str(), s.security_policy, s.security_mode),
        ("scratch", Policy::Basic256Sha256, Mode::SignAndEncrypt)
    );
    server.stop().await;
}

/// A server offering only Basic256Sha256 SignAndEncrypt and a user name: discovery signs in
/// with the user, trusts the server on first use when told to (and refuses it, naming the file,
/// when not), and writes the identity without the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_honours_policy_mode_identity_and_trust_on_a_secure_only_server() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let plant = Plant::start(PlantKind::Machinery, 3, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let mut so = OpcUaServerOptions::new(dir.path().join("server"));
    so.secure_only = true;
    so.user = Some(("engineer".into(), "s3cret-pass".into()));
    let server = plant.serve_opcua(so).await.unwrap();
    let node = Some(format!("ns={};s=cnc-1", server.namespace));

    // Policy None is not offered: the error lists what is.
    let plain = options(&server.url, dir.path(), node.clone());
    let err = discover(&plain).await.unwrap_err().to_string();
    assert!(err.contains("SignAndEncrypt"), "{err}");

    let mut o = options(&server.url, dir.path(), node.clone());
    o.security_policy = Policy::Basic256Sha256;
    o.security_mode = Mode::SignAndEncrypt;
    o.identity = Identity::UserName {
        user: "engineer".into(),
        password: Secret::new("s3cret-pass"),
    };
    // An unknown server certificate without trust on first use: refused, file named.
    let err = discover(&o).await.unwrap_err().to_string();
    assert!(
        err.contains("rejected") && err.contains("trust_on_first_use"),
        "{err}"
    );
    o.trust_on_first_use = true;
    let cfg = discover(&o).await.unwrap();
    let text = render(&cfg);
    assert!(
        !text.contains("s3cret-pass"),
        "the password is never written: {text}"
    );
    assert!(
        text.contains("engineer") && text.contains("<password>"),
        "{text}"
    );
    let s = &ConnectorConfig::parse(&text, "d.toml")
        .unwrap()
        .opcua
        .servers[0];
    assert!(s.tags.iter().any(|t| t.name == "program"), "{text}");
    assert!(s.trust_on_first_use);

    // A wrong password is refused by the server.
    o.identity = Identity::UserName {
        user: "engineer".into(),
        password: Secret::new("wrong"),
    };
    assert!(discover(&o).await.is_err());
    server.stop().await;
    plant.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_one_error_naming_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // Bound and closed again: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let err = discover(&options(&url, dir.path(), None))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("cannot reach {url}: connection refused"));
}
