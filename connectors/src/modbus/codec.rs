//! Register words to values and back, for every type and word/byte order.
//!
//! A value is first laid out as big-endian bytes `A B C D …`; `BADC` and `DCBA` swap the two
//! bytes of each word, `CDAB` and `DCBA` reverse the order of the words. 16-bit types only see
//! the byte swap; strings see the byte swap and keep their word order (characters read left to
//! right). Encoding is the exact inverse, so writes use the same settings as reads.

use super::config::{DataType, TagConfig, WordOrder};
use crate::{sample::Value, Error, Result};

fn swaps(order: WordOrder) -> (bool, bool) {
    // (swap bytes inside each word, reverse word order)
    match order {
        WordOrder::Abcd => (false, false),
        WordOrder::Cdab => (false, true),
        WordOrder::Badc => (true, false),
        WordOrder::Dcba => (true, true),
    }
}

/// Big-endian bytes of a value from the registers as read, undoing `order`.
pub fn words_to_be_bytes(words: &[u16], order: WordOrder) -> Vec<u8> {
    let (byte_swap, word_swap) = swaps(order);
    let mut w: Vec<u16> = words.to_vec();
    if word_swap {
        w.reverse();
    }
    if byte_swap {
        for x in &mut w {
            *x = x.swap_bytes();
        }
    }
    w.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// Registers to write for the big-endian bytes of a value, applying `order`.
pub fn be_bytes_to_words(bytes: &[u8], order: WordOrder) -> Vec<u16> {
    let (byte_swap, word_swap) = swaps(order);
    let mut w: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    if byte_swap {
        for x in &mut w {
            *x = x.swap_bytes();
        }
    }
    if word_swap {
        w.reverse();
    }
    w
}

/// Decodes registers into a raw value (before scale and offset). `words` must hold at least
/// the type's register count.
pub fn decode(words: &[u16], ty: DataType, order: WordOrder) -> Result<Value> {
    let n = usize::from(ty.registers(words.len() as u16));
    if words.len() < n || n == 0 {
        return Err(Error::Transport(format!(
            "{ty:?} needs {n} registers, got {}",
            words.len()
        )));
    }
    let words = &words[..n];
    if ty == DataType::String {
        let (byte_swap, _) = swaps(order);
        let mut bytes = Vec::with_capacity(n * 2);
        for w in words {
            let w = if byte_swap { w.swap_bytes() } else { *w };
            bytes.extend_from_slice(&w.to_be_bytes());
        }
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end])
            .trim_end()
            .to_string();
        return Ok(Value::Text(text));
    }
    let b = words_to_be_bytes(words, order);
    Ok(match ty {
        DataType::Bool => Value::Bool(b != [0, 0]),
        DataType::U16 => Value::Number(f64::from(u16::from_be_bytes([b[0], b[1]]))),
        DataType::I16 => Value::Number(f64::from(i16::from_be_bytes([b[0], b[1]]))),
        DataType::U32 => Value::Number(f64::from(u32::from_be_bytes(
            b[..4].try_into().expect("4 bytes"),
        ))),
        DataType::I32 => Value::Number(f64::from(i32::from_be_bytes(
            b[..4].try_into().expect("4 bytes"),
        ))),
        DataType::F32 => Value::Number(f64::from(f32::from_be_bytes(
            b[..4].try_into().expect("4 bytes"),
        ))),
        DataType::U64 => {
            Value::Number(u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) as f64)
        }
        DataType::I64 => {
            Value::Number(i64::from_be_bytes(b[..8].try_into().expect("8 bytes")) as f64)
        }
        DataType::F64 => Value::Number(f64::from_be_bytes(b[..8].try_into().expect("8 bytes"))),
        DataType::String => unreachable!("handled above"),
    })
}

/// Encodes a raw value (after undoing scale and offset) into registers. Integers are rounded
/// and must fit the type; strings are padded with NUL to `length` registers.
pub fn encode(value: &Value, ty: DataType, order: WordOrder, length: u16) -> Result<Vec<u16>> {
    let num = |v: &Value| -> Result<f64> {
        match v {
            Value::Number(n) if n.is_finite() => Ok(*n),
            Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
            other => Err(Error::Write(format!("{other} is not a finite number"))),
        }
    };
    fn int<T: TryFrom<i128>>(x: f64, ty: DataType) -> Result<T> {
        let r = x.round();
        if r.abs() > 1.8e19 {
            return Err(Error::Write(format!("{x} does not fit {ty:?}")));
        }
        T::try_from(r as i128).map_err(|_| Error::Write(format!("{x} does not fit {ty:?}")))
    }
    let bytes: Vec<u8> = match ty {
        DataType::String => {
            let Value::Text(s) = value else {
                return Err(Error::Write(format!("{value} is not text")));
            };
            let (byte_swap, _) = swaps(order);
            let max = usize::from(length) * 2;
            if s.len() > max {
                return Err(Error::Write(format!(
                    "text of {} bytes does not fit {length} registers",
                    s.len()
                )));
            }
            let mut b = s.as_bytes().to_vec();
            b.resize(max, 0);
            return Ok(b
                .chunks(2)
                .map(|c| {
                    let w = u16::from_be_bytes([c[0], c[1]]);
                    if byte_swap {
                        w.swap_bytes()
                    } else {
                        w
                    }
                })
                .collect());
        }
        DataType::Bool => {
            let on = match value {
                Value::Bool(b) => *b,
                other => num(other)? != 0.0,
            };
            u16::from(on).to_be_bytes().to_vec()
        }
        DataType::U16 => int::<u16>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::I16 => int::<i16>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::U32 => int::<u32>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::I32 => int::<i32>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::U64 => int::<u64>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::I64 => int::<i64>(num(value)?, ty)?.to_be_bytes().to_vec(),
        DataType::F32 => (num(value)? as f32).to_be_bytes().to_vec(),
        DataType::F64 => num(value)?.to_be_bytes().to_vec(),
    };
    Ok(be_bytes_to_words(&bytes, order))
}

/// Applies a tag's scale and offset to a raw value.
pub fn to_engineering(raw: Value, tag: &TagConfig) -> Value {
    match raw {
        Value::Number(n) => Value::Number(n * tag.scale + tag.offset),
        other => other,
    }
}

/// Undoes a tag's scale and offset before encoding a write.
pub fn from_engineering(value: &Value, tag: &TagConfig) -> Value {
    match value {
        Value::Number(n) => Value::Number((n - tag.offset) / tag.scale),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_f32_in_every_order() {
        // 229.01_f32 = 0x4365028F (A=43 B=65 C=02 D=8F).
        let cases = [
            (WordOrder::Abcd, [0x4365, 0x028F]),
            (WordOrder::Cdab, [0x028F, 0x4365]),
            (WordOrder::Badc, [0x6543, 0x8F02]),
            (WordOrder::Dcba, [0x8F02, 0x6543]),
        ];
        for (order, words) in cases {
            assert_eq!(
                decode(&words, DataType::F32, order).unwrap(),
                Value::Number(f64::from(229.01_f32)),
                "{order:?}"
            );
            assert_eq!(
                encode(
                    &Value::Number(f64::from(229.01_f32)),
                    DataType::F32,
                    order,
                    0
                )
                .unwrap(),
                words
            );
        }
    }

    #[test]
    fn strings_keep_character_order() {
        let w = encode(
            &Value::Text("IMM-01".into()),
            DataType::String,
            WordOrder::Abcd,
            4,
        )
        .unwrap();
        assert_eq!(w, vec![0x494D, 0x4D2D, 0x3031, 0]);
        assert_eq!(
            decode(&w, DataType::String, WordOrder::Abcd).unwrap(),
            Value::Text("IMM-01".into())
        );
        let w = encode(
            &Value::Text("IMM-01".into()),
            DataType::String,
            WordOrder::Badc,
            4,
        )
        .unwrap();
        assert_eq!(w[0], 0x4D49);
        assert_eq!(
            decode(&w, DataType::String, WordOrder::Badc).unwrap(),
            Value::Text("IMM-01".into())
        );
    }

    #[test]
    fn out_of_range_writes_are_refused() {
        assert!(encode(&Value::Number(70000.0), DataType::U16, WordOrder::Abcd, 0).is_err());
        assert!(encode(&Value::Number(-1.0), DataType::U32, WordOrder::Abcd, 0).is_err());
        assert!(encode(&Value::Text("x".into()), DataType::F32, WordOrder::Abcd, 0).is_err());
    }

    fn order() -> impl Strategy<Value = WordOrder> {
        prop::sample::select(WordOrder::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn i64_round_trips(v in -(1i64 << 53)..(1i64 << 53), o in order()) {
            let w = encode(&Value::Number(v as f64), DataType::I64, o, 0).unwrap();
            prop_assert_eq!(w.len(), 4);
            prop_assert_eq!(decode(&w, DataType::I64, o).unwrap(), Value::Number(v as f64));
        }

        #[test]
        fn i32_u32_i16_u16_round_trip(v in any::<i32>(), u in any::<u32>(), o in order()) {
            for (x, ty) in [(f64::from(v), DataType::I32), (f64::from(u), DataType::U32),
                            (f64::from(v as i16), DataType::I16), (f64::from(u as u16), DataType::U16)] {
                let w = encode(&Value::Number(x), ty, o, 0).unwrap();
                prop_assert_eq!(decode(&w, ty, o).unwrap(), Value::Number(x));
            }
        }

        #[test]
        fn floats_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite()), o in order()) {
            let w = encode(&Value::Number(x), DataType::F64, o, 0).unwrap();
            prop_assert_eq!(decode(&w, DataType::F64, o).unwrap(), Value::Number(x));
            let y = f64::from(x as f32);
            if y.is_finite() {
                let w = encode(&Value::Number(y), DataType::F32, o, 0).unwrap();
                prop_assert_eq!(decode(&w, DataType::F32, o).unwrap(), Value::Number(y));
            }
        }

        #[test]
        fn u64_matches_le_bytes_for_dcba(v in any::<u64>()) {
            let b = v.to_le_bytes();
            let words: Vec<u16> = b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            prop_assert_eq!(words_to_be_bytes(&words, WordOrder::Dcba), v.to_be_bytes().to_vec());
        }

        #[test]
        fn decode_never_panics(words in prop::collection::vec(any::<u16>(), 0..8), o in order()) {
            for ty in DataType::ALL {
                let _ = decode(&words, ty, o);
            }
        }
    }
}
