//! Modbus response decoding: whatever a device answers to a planned read (any length, bits or
//! words), every tag of the block decodes to a value or to `None`; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millwright_connectors::modbus::coalesce;
use millwright_connectors::modbus::codec;
use millwright_connectors::modbus::config::{DataType, RegisterKind, TagConfig, WordOrder};
use millwright_connectors::modbus::link::ReadData;
use millwright_connectors::modbus::poller::extract;

const TYPES: [DataType; 10] = [
    DataType::Bool,
    DataType::U16,
    DataType::I16,
    DataType::U32,
    DataType::I32,
    DataType::U64,
    DataType::I64,
    DataType::F32,
    DataType::F64,
    DataType::String,
];
const ORDERS: [WordOrder; 4] = [WordOrder::Abcd, WordOrder::Cdab, WordOrder::Badc, WordOrder::Dcba];
const KINDS: [RegisterKind; 4] = [
    RegisterKind::Coil,
    RegisterKind::DiscreteInput,
    RegisterKind::Input,
    RegisterKind::Holding,
];

fuzz_target!(|data: &[u8]| {
    // First bytes: up to 8 tags of 4 bytes (kind, address, type+order, length); the rest is
    // the device's answer.
    let n = usize::from(data.first().copied().unwrap_or(0) % 8) + 1;
    let header = 1 + 4 * n;
    if data.len() < header {
        return;
    }
    let tags: Vec<TagConfig> = data[1..header]
        .chunks(4)
        .enumerate()
        .map(|(i, c)| {
            let kind = KINDS[usize::from(c[0] % 4)];
            let ty = TYPES[usize::from(c[2] % 10)];
            TagConfig {
                name: format!("t{i}"),
                platform_tag: None,
                kind,
                address: u16::from(c[1]),
                data_type: if kind.is_bit() { DataType::Bool } else { ty },
                order: ORDERS[usize::from(c[2] / 10 % 4)],
                length: if ty == DataType::String { u16::from(c[3] % 16) + 1 } else { 0 },
                scale: 1.0,
                offset: 0.0,
                deadband: 0.0,
                unit: None,
                writable: false,
            }
        })
        .collect();
    let answer = &data[header..];
    let words: Vec<u16> = answer
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    let bits: Vec<bool> = answer.iter().map(|b| b & 1 == 1).collect();
    for b in coalesce::plan(&tags, 10, 125, 2000) {
        for data in [ReadData::Words(words.clone()), ReadData::Bits(bits.clone())] {
            for &ti in &b.tags {
                let _ = extract(&data, &b, &tags[ti]);
            }
        }
    }
    for ty in TYPES {
        for order in ORDERS {
            let _ = codec::decode(&words, ty, order);
        }
    }
});
