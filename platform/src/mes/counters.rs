//! Counter increments. Machines count parts in registers that wrap (a 32-bit counter goes
//! from 4,294,967,295 to 0) and that operators or a PLC restart reset to 0. Between two
//! readings `prev` and `cur`:
//! - `cur >= prev`: `cur - prev` parts;
//! - `cur < prev` and `prev` in the upper half of the counter's range with the wrapped
//!   increment `modulus - prev + cur` below a quarter of the range: a wraparound;
//! - otherwise a reset: the counter started again from 0, so `cur` parts were made since
//!   (what was made between `prev` and the reset is not known and not counted).

/// The parts made between readings `prev` and `cur` of a counter that wraps at `modulus`
/// (none: never wraps). Never negative.
pub fn counter_delta(prev: f64, cur: f64, modulus: Option<f64>) -> i64 {
    if !(prev.is_finite() && cur.is_finite()) || cur < 0.0 {
        return 0;
    }
    if cur >= prev {
        return (cur - prev).round() as i64;
    }
    if let Some(m) = modulus {
        let wrapped = m - prev + cur;
        if prev >= m / 2.0 && wrapped < m / 4.0 && wrapped >= 0.0 {
            return wrapped.round() as i64;
        }
    }
    cur.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mes::state::U32_MODULUS;

    #[test]
    fn increments_resets_and_wraps() {
        assert_eq!(counter_delta(10.0, 15.0, Some(U32_MODULUS)), 5);
        assert_eq!(counter_delta(10.0, 10.0, Some(U32_MODULUS)), 0);
        // Reset to 0, then 4 parts.
        assert_eq!(counter_delta(5328.0, 4.0, Some(U32_MODULUS)), 4);
        // 4294967295 -> 0 is one part; -> 2 is three.
        assert_eq!(counter_delta(U32_MODULUS - 1.0, 0.0, Some(U32_MODULUS)), 1);
        assert_eq!(counter_delta(U32_MODULUS - 1.0, 2.0, Some(U32_MODULUS)), 3);
        // A reset of a counter high in its range is still told from a wrap by the size of
        // the jump.
        assert_eq!(
            counter_delta(3_000_000_000.0, 2_000_000_000.0, Some(U32_MODULUS)),
            2_000_000_000
        );
        // No modulus: every decrease is a reset.
        assert_eq!(counter_delta(u32::MAX as f64, 2.0, None), 2);
        assert_eq!(counter_delta(f64::NAN, 2.0, None), 0);
    }
}
