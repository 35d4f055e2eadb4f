//! `connector discover`: browsing a plant simulator's address space prints a config that the
//! loader parses back and that the driver runs; browsing chunks to small operation limits.

mod common;

use std::time::Duration;

use common::opcua::*;
use millwright_connectors::{
    config::ConnectorConfig,
    opcua::discover::{discover, render, DiscoverOptions},
    sample::Quality,
    simulator::{opcua::OpcUaServerOptions, Plant, PlantKind},
};

fn options(url: &str, dir: &std::path::Path, node: Option<String>) -> DiscoverOptions {
    DiscoverOptions {
        url: url.into(),
        node,
        pki_dir: dir.join("client"),
        security_policy: Default::default(),
        security_mode: Default::default(),
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
    // Every layout tag of the three CNCs is found (12 tags each, the string id included); the
    // ResetFault method's arguments are not variables of a mapped type.
    assert_eq!(
        tags.len(),
        3 * plant.modbus_config(1000).devices[0].tags.len() + 3,
        "{names:?}"
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
    let cfg = discover(&options(&server.url, dir.path(), None))
        .await
        .unwrap();
    assert_eq!(cfg.opcua.servers[0].tags.len(), 700);
    server.stop().await;
}
