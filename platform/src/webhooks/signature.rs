//! The `Millwright-Signature` header, after Stripe's: `t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256, keyed with the endpoint's secret, of `"<t>.<body>"`. Receivers recompute
//! it over the raw body, compare in constant time and refuse old timestamps (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "Millwright-Signature";

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
pub fn digest(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The header value for `body` signed at `t`.
pub fn header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", digest(secret, t, body))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=…,v1=…`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    /// No `v1` matches.
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a header as a receiver would: some `v1` matches and `t` is within `tolerance_secs`
/// of `now`. (Rotating secrets may send several `v1` entries.)
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => v1.push(v),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(VerifyError::Expired);
    }
    let expected = digest(secret, t, body);
    if v1
        .iter()
        .any(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // Key "Jefe", data "what do ya want for nothing?": with our "t." prefix removed by
        // choosing the data so that "t.body" is the RFC's input is not possible, so check the
        // primitive through Mac directly, then our framing separately.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"12.what do ya want for nothing?");
        assert_eq!(
            digest("Jefe", 12, b"what do ya want for nothing?"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn a_receiver_accepts_ours_and_refuses_tampering_and_replays() {
        let body = br#"{"type":"alarm.raised"}"#;
        let h = header("whsec_x", 1_800_000_000, body);
        assert!(h.starts_with("t=1800000000,v1="));
        assert_eq!(verify("whsec_x", &h, body, 1_800_000_100, 300), Ok(()));
        assert_eq!(
            verify("whsec_x", &h, b"{}", 1_800_000_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("other", &h, body, 1_800_000_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("whsec_x", &h, body, 1_800_001_000, 300),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify("whsec_x", "v1=abc", body, 0, 300),
            Err(VerifyError::Malformed)
        );
    }
}
