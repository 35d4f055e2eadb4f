//! Setpoint writes: the platform's engineering value converted to the node's own type (read
//! first: servers refuse a Double written to a UInt16 with BadTypeMismatch), then written.

use opcua::{
    client::Session,
    types::{AttributeId, DataValue, ReadValueId, TimestampsToReturn, Variant, WriteValue},
};

use super::config::TagConfig;
use crate::{sample::Value, Error, Result};

/// `value` as a variant of the same type as `current`; `None` when it does not fit.
pub fn convert(current: &Variant, value: &Value) -> Option<Variant> {
    let n = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => *n,
        Value::Text(s) => {
            return matches!(current, Variant::String(_))
                .then(|| Variant::String(s.as_str().into()))
        }
    };
    if !n.is_finite() {
        return None;
    }
    let int = |lo: f64, hi: f64| (n.fract() == 0.0 && n >= lo && n <= hi).then_some(n);
    Some(match current {
        Variant::Boolean(_) => Variant::Boolean(n != 0.0),
        Variant::SByte(_) => Variant::SByte(int(-128.0, 127.0)? as i8),
        Variant::Byte(_) => Variant::Byte(int(0.0, 255.0)? as u8),
        Variant::Int16(_) => Variant::Int16(int(-32768.0, 32767.0)? as i16),
        Variant::UInt16(_) => Variant::UInt16(int(0.0, 65535.0)? as u16),
        Variant::Int32(_) => Variant::Int32(int(i32::MIN as f64, i32::MAX as f64)? as i32),
        Variant::UInt32(_) => Variant::UInt32(int(0.0, u32::MAX as f64)? as u32),
        Variant::Int64(_) => Variant::Int64(int(-9.007e15, 9.007e15)? as i64),
        Variant::UInt64(_) => Variant::UInt64(int(0.0, 9.007e15)? as u64),
        Variant::Float(_) => Variant::Float(n as f32),
        Variant::Double(_) => Variant::Double(n),
        _ => return None,
    })
}

/// Writes `value` to the tag's node.
pub async fn write(session: &Session, tag: &TagConfig, value: &Value) -> Result<()> {
    if !tag.writable {
        return Err(Error::Write(format!(
            "tag {:?} is not marked writable",
            tag.name
        )));
    }
    let node_id = tag
        .node_id
        .parse()
        .map_err(|_| Error::Write(format!("tag {:?}: bad node id", tag.name)))?;
    let opc = |context: &str, e: opcua::types::Error| Error::Write(format!("{context}: {e}"));
    let current = session
        .read(
            &[ReadValueId {
                node_id: opcua::types::NodeId::clone(&node_id),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            }],
            TimestampsToReturn::Neither,
            0.0,
        )
        .await
        .map_err(|e| opc("reading the node's type", e))?
        .pop()
        .and_then(|dv| dv.value)
        .ok_or_else(|| {
            Error::Write(format!(
                "tag {:?}: the node has no value to match",
                tag.name
            ))
        })?;
    let v = convert(&current, value).ok_or_else(|| {
        Error::Write(format!(
            "tag {:?}: {value} does not fit the node's type {:?}",
            tag.name,
            current.type_id()
        ))
    })?;
    let status = session
        .write(&[WriteValue {
            node_id,
            attribute_id: AttributeId::Value as u32,
            index_range: Default::default(),
            value: DataValue {
                value: Some(v),
                ..Default::default()
            },
        }])
        .await
        .map_err(|e| opc("write", e))?
        .pop()
        .unwrap_or(opcua::types::StatusCode::BadUnexpectedError);
    if status.is_good() {
        Ok(())
    } else {
        Err(Error::Write(format!(
            "the server refused the write to {:?}: {status}",
            tag.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_the_node_type_or_are_refused() {
        assert_eq!(
            convert(&Variant::UInt16(0), &Value::Number(1500.0)),
            Some(Variant::UInt16(1500))
        );
        assert_eq!(convert(&Variant::UInt16(0), &Value::Number(-1.0)), None);
        assert_eq!(convert(&Variant::Int16(0), &Value::Number(1.5)), None);
        assert_eq!(
            convert(&Variant::Float(0.0), &Value::Number(1.5)),
            Some(Variant::Float(1.5))
        );
        assert_eq!(
            convert(&Variant::Boolean(false), &Value::Number(1.0)),
            Some(Variant::Boolean(true))
        );
        assert_eq!(
            convert(&Variant::Double(0.0), &Value::Text("x".into())),
            None
        );
    }
}
