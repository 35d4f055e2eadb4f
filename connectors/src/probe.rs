//! `connector probe`: read once and show the raw registers decoded in every type and order, so
//! "2.4e-41 instead of 229.01" points straight at the right word order.

use std::{fmt::Write as _, time::Duration};

use crate::{
    config::ConnectorConfig,
    modbus::{
        codec,
        config::{DataType, RegisterKind, WordOrder},
        link::{Endpoint, Link, ReadData},
        DeviceConfig, TagConfig,
    },
    sample::{readable_f32, Value},
    Error, Result,
};

/// What to probe.
#[derive(Debug, Clone)]
pub enum Target {
    /// A configured tag: `device.tag`, or `tag` when unique.
    Tag(String),
    /// Raw registers of a device.
    Address {
        /// Device name.
        device: String,
        /// Table.
        kind: RegisterKind,
        /// First register.
        address: u16,
        /// Registers to read (4 covers every 64-bit type).
        count: u16,
    },
}

fn find_tag<'a>(cfg: &'a ConnectorConfig, name: &str) -> Result<(&'a DeviceConfig, &'a TagConfig)> {
    let mut hits = Vec::new();
    for d in &cfg.modbus.devices {
        for t in &d.tags {
            if format!("{}.{}", d.name, t.name) == name
                || t.name == name
                || t.platform_tag.as_deref() == Some(name)
            {
                hits.push((d, t));
            }
        }
    }
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(Error::NotFound(format!("tag {name:?}"))),
        _ => Err(Error::NotFound(format!(
            "tag {name:?} is ambiguous; write it as device.tag"
        ))),
    }
}

/// Reads once and returns the report as text.
pub async fn probe(cfg: &ConnectorConfig, target: &Target) -> Result<String> {
    let (device, kind, address, count, tag) = match target {
        Target::Tag(name) => {
            let (d, t) = find_tag(cfg, name)?;
            (
                d,
                t.kind,
                t.address,
                t.span().max(if t.kind.is_bit() { 1 } else { 4 }),
                Some(t),
            )
        }
        Target::Address {
            device,
            kind,
            address,
            count,
        } => {
            let d = cfg
                .modbus
                .devices
                .iter()
                .find(|d| &d.name == device)
                .ok_or_else(|| Error::NotFound(format!("device {device:?}")))?;
            (d, *kind, *address, (*count).max(1), None)
        }
    };
    let count = count.min(if kind.is_bit() { 2000 } else { 125 });
    let count = u32::from(count).min(65536 - u32::from(address)) as u16;
    let mut link = Link::new(Endpoint::of(device));
    let data = link
        .read(
            device.unit_id,
            kind,
            address,
            count,
            Duration::from_millis(device.timeout_ms),
        )
        .await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "device {} ({}, unit {}) {:?} {}..{}",
        device.name,
        Endpoint::of(device),
        device.unit_id,
        kind,
        address,
        u32::from(address) + u32::from(count) - 1
    );
    if let Some(t) = tag {
        let block = crate::modbus::coalesce::ReadBlock {
            kind,
            start: address,
            count,
            tags: vec![],
        };
        let v = crate::modbus::poller::extract(&data, &block, t);
        let _ = writeln!(
            out,
            "tag {} as configured ({:?} {}, scale {}, offset {}): {}",
            t.name,
            t.data_type,
            t.order.as_str(),
            t.scale,
            t.offset,
            v.map_or("undecodable".to_string(), |v| {
                if t.scale == 1.0 && t.offset == 0.0 {
                    show(&v, t.data_type)
                } else {
                    v.to_string()
                }
            })
        );
    }
    match data {
        ReadData::Bits(bits) => {
            let _ = writeln!(
                out,
                "bits: {}",
                bits.iter()
                    .map(|b| if *b { '1' } else { '0' })
                    .collect::<String>()
            );
        }
        ReadData::Words(words) => {
            let _ = writeln!(
                out,
                "raw: {}",
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| format!("[{}]=0x{w:04X}", u32::from(address) + i as u32))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            out.push_str(&decode_table(&words));
        }
    }
    Ok(out)
}

/// A decoded value in the probe's one notation ([`crate::sample::readable`]): a 32-bit float
/// with its own shortest digits, text quoted and cut to the column's width.
fn show(v: &Value, ty: DataType) -> String {
    match v {
        Value::Number(n) if ty == DataType::F32 => readable_f32(*n as f32),
        Value::Text(t) if t.chars().count() > 22 => {
            format!("{:?}…", t.chars().take(20).collect::<String>())
        }
        other => other.to_string(),
    }
}

/// The registers decoded as every type in every order, one line per type.
pub fn decode_table(words: &[u16]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:>24} {:>24} {:>24} {:>24}",
        "type", "ABCD", "CDAB", "BADC", "DCBA"
    );
    for ty in DataType::ALL {
        let n = if ty == DataType::String {
            words.len() as u16
        } else {
            ty.registers(0)
        };
        if usize::from(n) > words.len() {
            continue;
        }
        let cells: Vec<String> = WordOrder::ALL
            .iter()
            .map(|o| match codec::decode(&words[..usize::from(n)], ty, *o) {
                Ok(v) => show(&v, ty),
                Err(_) => "-".into(),
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<7} {:>24} {:>24} {:>24} {:>24}",
            format!("{ty:?}").to_lowercase(),
            cells[0],
            cells[1],
            cells[2],
            cells[3]
        );
    }
    out
}
