//! The config file: the example parses back, errors name file, line and field.

use millwright_connectors::{
    config::ConnectorConfig,
    modbus::{config::Transport, DataType, WordOrder},
    simulator::{Plant, PlantKind},
    Error,
};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/modbus.toml");

#[test]
fn the_example_config_parses_back() {
    let cfg = ConnectorConfig::load(EXAMPLE).unwrap();
    assert_eq!(cfg.modbus.devices.len(), 3);
    assert_eq!(cfg.modbus.devices[1].transport, Transport::RtuOverTcp);
    assert_eq!(cfg.modbus.devices[2].tags[0].data_type, DataType::U64);
    assert_eq!(cfg.modbus.devices[2].tags[0].order, WordOrder::Dcba);
    // Round trip through the serialiser.
    let again = ConnectorConfig::parse(&cfg.to_toml(), "roundtrip.toml").unwrap();
    assert_eq!(again, cfg);
    assert!(
        !format!("{:?}", cfg.uplink).contains("mwd_example_token"),
        "the token never prints"
    );
}

#[tokio::test]
async fn generated_plant_configs_parse_back() {
    for kind in PlantKind::ALL {
        let plant = Plant::start(kind, 1, [127, 0, 0, 1].into()).await.unwrap();
        let cfg = plant.connector_config(None);
        let again = ConnectorConfig::parse(&cfg.to_toml(), "generated.toml").unwrap();
        assert_eq!(again, cfg);
        plant.stop().await;
    }
}

fn error_of(text: &str) -> String {
    match ConnectorConfig::parse(text, "/etc/millwright/plant.toml") {
        Err(e @ Error::Config { .. }) => e.to_string(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn an_unknown_field_is_named_with_file_and_line() {
    let text = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("deadband = 0.1", "deadbnad = 0.1");
    let line = text
        .lines()
        .position(|l| l.starts_with("deadbnad"))
        .unwrap()
        + 1;
    let msg = error_of(&text);
    eprintln!("{msg}");
    assert!(msg.contains("/etc/millwright/plant.toml"), "{msg}");
    assert!(msg.contains(&format!("line {line}")), "{msg}");
    assert!(msg.contains("deadbnad"), "{msg}");
    assert!(msg.contains("modbus.device[0].tag[0]"), "{msg}");
}

#[test]
fn a_bad_value_is_named_with_file_line_and_field() {
    let text = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("order = \"DCBA\"", "order = \"DBCA\"");
    let line = text.lines().position(|l| l.contains("DBCA")).unwrap() + 1;
    let msg = error_of(&text);
    assert!(msg.contains(&format!("line {line}")), "{msg}");
    assert!(msg.contains("modbus.device[2].tag[0].order"), "{msg}");
}

#[test]
fn a_semantic_error_names_the_device_line_and_field() {
    let text = "name = \"x\"\n\n[[modbus.device]]\nname = \"imm-9\"\ntransport = \"tcp\"\n";
    let msg = error_of(text);
    assert!(msg.contains("line 4"), "{msg}");
    assert!(msg.contains("`address`"), "{msg}");
}

const OPCUA_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/opcua.toml");

#[test]
fn the_opcua_example_config_parses_back_and_hides_the_password() {
    use millwright_connectors::opcua::config::{Acquisition, DeadbandKind, Identity, Mode, Policy};
    let cfg = ConnectorConfig::load(OPCUA_EXAMPLE).unwrap();
    let s = &cfg.opcua.servers[0];
    assert_eq!(
        (s.security_policy, s.security_mode),
        (Policy::Basic256Sha256, Mode::SignAndEncrypt)
    );
    assert!(matches!(s.identity, Identity::UserName { .. }));
    assert_eq!(s.tags[0].deadband_kind, DeadbandKind::Absolute);
    assert_eq!(s.tags[2].acquisition, Acquisition::Poll);
    let again = ConnectorConfig::parse(&cfg.to_toml(), "roundtrip.toml").unwrap();
    assert_eq!(again, cfg);
    assert!(
        !format!("{cfg:?}").contains("example-password"),
        "the password never prints"
    );
}

#[test]
fn an_opcua_security_mismatch_names_the_server_and_field() {
    let text = std::fs::read_to_string(OPCUA_EXAMPLE).unwrap().replace(
        "security_mode = \"sign_and_encrypt\"",
        "security_mode = \"none\"",
    );
    let msg = error_of(&text);
    assert!(msg.contains("\"cnc-1\""), "{msg}");
    assert!(msg.contains("`security_mode`"), "{msg}");
    let text = std::fs::read_to_string(OPCUA_EXAMPLE)
        .unwrap()
        .replace("ns=3;i=1001", "not a node");
    let msg = error_of(&text);
    assert!(msg.contains("`node_id`"), "{msg}");
}
