//! API keys: random, shown once, stored only as a digest.
//!
//! A key looks like `mwk_3f9a1c2e_<43 base62 chars>`: a fixed marker (so secret scanners and
//! people recognise it), a short public prefix that identifies the key in listings and logs,
//! and 256 bits of secret. Because the secret is random and long, a single SHA-256 is a safe
//! digest for storage (slow password hashes exist for low-entropy human passwords) and lets
//! the database find the key by an index lookup.
//!
//! ```
//! use millwright_tenants::api_key::{digest, NewApiKey};
//! let key = NewApiKey::generate();
//! assert!(key.plaintext.starts_with("mwk_"));
//! assert_eq!(digest(&key.plaintext).unwrap(), key.digest);
//! ```

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

const MARKER: &str = "mwk_";
const PREFIX_LEN: usize = 8;
const SECRET_LEN: usize = 43;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: the plaintext goes to the user once, the rest to the database.
pub struct NewApiKey {
    /// The full key, to be shown once and never stored.
    pub plaintext: String,
    /// The public prefix (`mwk_xxxxxxxx`), safe to show and log.
    pub prefix: String,
    /// SHA-256 of the full key, the only form that is stored.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NewApiKey {
    /// Draws a new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut draw = |n: usize| -> String {
            (0..n)
                .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
                .collect()
        };
        let id = draw(PREFIX_LEN).to_ascii_lowercase();
        let secret = draw(SECRET_LEN);
        let prefix = format!("{MARKER}{id}");
        let plaintext = format!("{prefix}_{secret}");
        let digest = Sha256::digest(plaintext.as_bytes()).into();
        Self {
            plaintext,
            prefix,
            digest,
        }
    }
}

/// The storage digest of a presented key, after checking its shape, so that garbage is turned
/// away without a database round trip.
pub fn digest(presented: &str) -> Result<[u8; 32]> {
    let rest = presented
        .strip_prefix(MARKER)
        .ok_or(Error::MalformedApiKey("missing mwk_ marker"))?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or(Error::MalformedApiKey("missing separator"))?;
    if id.len() != PREFIX_LEN || secret.len() != SECRET_LEN {
        return Err(Error::MalformedApiKey("wrong length"));
    }
    if !presented[MARKER.len()..]
        .bytes()
        .all(|b| b == b'_' || b.is_ascii_alphanumeric())
    {
        return Err(Error::MalformedApiKey("unexpected character"));
    }
    Ok(Sha256::digest(presented.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_debug_hides_the_secret() {
        let a = NewApiKey::generate();
        let b = NewApiKey::generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(!format!("{a:?}").contains(&a.plaintext[a.prefix.len()..]));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in [
            "",
            "Bearer x",
            "mwk_short_x",
            "abc_12345678_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            assert!(digest(bad).is_err(), "{bad} accepted");
        }
        let good = NewApiKey::generate();
        let mut tampered = good.plaintext.clone();
        tampered.pop();
        tampered.push('!');
        assert!(digest(&tampered).is_err());
    }
}
