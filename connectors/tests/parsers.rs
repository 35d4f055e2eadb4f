//! Parsers that never panic (issue #17): property tests over the same functions the fuzz
//! targets in `connectors/fuzz/` drive — Modbus response decoding (a device may answer
//! anything: short, long, garbage), the connector config loader, the durable mode's journal
//! recovery. Each property also checks what the answer must be, not only that there is one.

use millwright_connectors::config::ConnectorConfig;
use millwright_connectors::modbus::coalesce;
use millwright_connectors::modbus::codec;
use millwright_connectors::modbus::config::{DataType, RegisterKind, TagConfig, WordOrder};
use millwright_connectors::modbus::link::ReadData;
use millwright_connectors::modbus::poller::extract;
use millwright_connectors::sample::Value;
use millwright_connectors::uplink::journal;
use proptest::prelude::*;

fn data_type() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::Bool),
        Just(DataType::U16),
        Just(DataType::I16),
        Just(DataType::U32),
        Just(DataType::I32),
        Just(DataType::U64),
        Just(DataType::I64),
        Just(DataType::F32),
        Just(DataType::F64),
        Just(DataType::String),
    ]
}

fn order() -> impl Strategy<Value = WordOrder> {
    prop_oneof![
        Just(WordOrder::Abcd),
        Just(WordOrder::Cdab),
        Just(WordOrder::Badc),
        Just(WordOrder::Dcba),
    ]
}

fn kind() -> impl Strategy<Value = RegisterKind> {
    prop_oneof![
        Just(RegisterKind::Coil),
        Just(RegisterKind::DiscreteInput),
        Just(RegisterKind::Input),
        Just(RegisterKind::Holding),
    ]
}

fn tag() -> impl Strategy<Value = TagConfig> {
    (
        kind(),
        0u16..200,
        data_type(),
        order(),
        0u16..20,
        -10.0f64..10.0,
    )
        .prop_map(|(kind, address, ty, order, length, scale)| TagConfig {
            name: format!("t{address}"),
            platform_tag: None,
            kind,
            address,
            data_type: if kind.is_bit() { DataType::Bool } else { ty },
            order,
            length: if ty == DataType::String {
                length.max(1)
            } else {
                0
            },
            scale,
            offset: 0.0,
            deadband: 0.0,
            unit: None,
            writable: false,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any registers decode to a value or an error for every type and order; enough registers
    /// always decode.
    #[test]
    fn any_registers_decode_or_fail_cleanly(words in prop::collection::vec(any::<u16>(), 0..12),
                                            ty in data_type(), o in order()) {
        let r = codec::decode(&words, ty, o);
        let needed = usize::from(ty.registers(words.len() as u16));
        if needed > 0 && words.len() >= needed {
            prop_assert!(r.is_ok(), "{ty:?} from {} words: {r:?}", words.len());
        }
        if words.is_empty() {
            prop_assert!(r.is_err());
        }
    }

    /// Whatever a device answers for a planned read (too short, too long, bits for words),
    /// every tag of the block gets a value or `None` (marked bad), never a panic.
    #[test]
    fn any_answer_to_a_planned_read_extracts(tags in prop::collection::vec(tag(), 1..12),
                                             words in prop::collection::vec(any::<u16>(), 0..300),
                                             bits in prop::collection::vec(any::<bool>(), 0..300),
                                             as_bits in any::<bool>()) {
        let blocks = coalesce::plan(&tags, 10, 125, 2000);
        let planned: usize = blocks.iter().map(|b| b.tags.len()).sum();
        prop_assert_eq!(planned, tags.len(), "every tag is in one block");
        for b in &blocks {
            let data = if as_bits { ReadData::Bits(bits.clone()) } else { ReadData::Words(words.clone()) };
            for &ti in &b.tags {
                let t = &tags[ti];
                prop_assert!(t.address >= b.start);
                let v = extract(&data, b, t);
                // A full answer of the right table always yields a value.
                let full = match &data {
                    ReadData::Bits(x) => t.kind.is_bit() && x.len() >= usize::from(b.count),
                    ReadData::Words(x) => !t.kind.is_bit() && x.len() >= usize::from(b.count),
                };
                if full && t.data_type != DataType::String {
                    prop_assert!(v.is_some(), "{t:?} in {b:?}");
                }
                if let Some(Value::Number(n)) = v {
                    prop_assert!(!n.is_nan() || matches!(t.data_type, DataType::F32 | DataType::F64));
                }
            }
        }
    }

    /// Any text is refused with a located error or loaded; never a panic.
    #[test]
    fn any_config_text_loads_or_is_refused_with_a_place(text in "[ -~\n\\[\\]=\"]{0,400}") {
        match ConnectorConfig::parse(&text, "fuzz.toml") {
            Ok(cfg) => {
                // What loads writes back to text that loads to the same config.
                let again = ConnectorConfig::parse(&cfg.to_toml(), "again.toml").unwrap();
                prop_assert_eq!(again, cfg);
            }
            Err(e) => prop_assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    }

    /// Config-shaped text with random values: refused with the file named, or loaded.
    #[test]
    fn config_like_text_loads_or_is_refused(name in "[a-z]{0,8}", url in "[a-z:/.0-9]{0,20}",
                                            batch in any::<i64>(), address in any::<i32>(),
                                            ty in "[a-z0-9]{0,5}", order in "[A-D]{0,4}") {
        let text = format!(
            "name = \"{name}\"\n[uplink]\nplatform_url = \"{url}\"\ntoken = \"t\"\nqueue_dir = \"q\"\n\
             batch_max_samples = {batch}\n[[modbus.device]]\nname = \"d\"\naddress = \"127.0.0.1:502\"\n\
             [[modbus.device.tag]]\nname = \"x\"\nkind = \"holding\"\naddress = {address}\n\
             data_type = \"{ty}\"\norder = \"{order}\"\n"
        );
        if let Err(e) = ConnectorConfig::parse(&text, "c.toml") {
            prop_assert!(e.to_string().contains("c.toml"), "{e}");
        }
    }

    /// Journal recovery keeps exactly the whole JSON-object lines, whatever the file holds.
    #[test]
    fn journal_recovery_keeps_whole_lines_only(lines in prop::collection::vec("[ -~]{0,40}", 0..20),
                                               cut in any::<prop::sample::Index>()) {
        let text: String = lines.iter().map(|l| format!("{{\"tag\":{l:?}}}\n")).collect();
        let whole = lines.len();
        // A crash tears the last write anywhere (the text is ASCII: any byte is a boundary).
        let at = if text.is_empty() { 0 } else { cut.index(text.len()) };
        let kept_text = &text[..at];
        let kept = journal::recover_lines(kept_text);
        prop_assert!(kept.len() <= whole);
        for l in &kept {
            prop_assert!(serde_json::from_str::<serde_json::Value>(l).unwrap().is_object());
        }
        let body: serde_json::Value = serde_json::from_slice(&journal::body_of(&kept)).unwrap();
        prop_assert_eq!(body["samples"].as_array().unwrap().len(), kept.len());
        prop_assert_eq!(journal::recover_lines(&text).len(), whole);
    }
}
