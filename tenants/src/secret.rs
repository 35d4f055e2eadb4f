//! A string that must never be printed, and the random source for every secret this crate makes.
//!
//! ```
//! use millwright_tenants::secret::SecretString;
//! let s = SecretString::new("hunter2hunter2".to_string());
//! assert_eq!(format!("{s:?}"), "SecretString([redacted])");
//! assert_eq!(s.expose(), "hunter2hunter2");
//! ```

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A secret string (a token shown once, a signing key). `Debug` and `Display` print
/// `[redacted]`, so it can sit in structs that are logged; reading it takes an explicit
/// [`SecretString::expose`], which is easy to find in review.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for the one place that must send or check it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `n` characters drawn uniformly from `[0-9A-Za-z]` by the operating system's random source
/// (43 characters carry 256 bits).
pub(crate) fn random_base62(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_draws_from_base62() {
        let s = SecretString::new("topsecret".into());
        assert!(!format!("{s} {s:?}").contains("topsecret"));
        let r = random_base62(43);
        assert_eq!(r.len(), 43);
        assert!(r.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(r, random_base62(43));
    }
}
