//! Passwords: argon2id hashes in PHC form, and the policy for new passwords.
//!
//! [`Password`] wraps what a user typed; it never prints. Setting a password goes through
//! [`hash`], which applies the policy (at least [`MIN_LEN`] characters); checking one at login
//! goes through [`verify`], which does not, so a policy change never locks anyone out.
//! The stored form is a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) that carries
//! its own salt and parameters, so hashes made with older parameters keep verifying.
//!
//! ```
//! use millwright_tenants::password::{hash, verify, Password};
//! let stored = hash(&Password::from("correct horse battery")).unwrap();
//! assert!(verify(&Password::from("correct horse battery"), &stored).unwrap());
//! assert!(!verify(&Password::from("wrong horse battery"), &stored).unwrap());
//! assert!(hash(&Password::from("short")).is_err());
//! assert_eq!(format!("{:?}", Password::from("hunter2")), "Password([redacted])");
//! ```

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::Deserialize;

use crate::{Error, Result};

/// The shortest password [`hash`] accepts, in characters (NIST SP 800-63B asks for at least
/// 8; 12 is the common recommendation for accounts that reach a factory).
pub const MIN_LEN: usize = 12;
/// The longest password [`hash`] accepts, in characters: longer than any passphrase, short
/// enough that hashing cost stays bounded.
pub const MAX_LEN: usize = 256;

/// A password as typed. `Debug` and `Display` print `[redacted]`; it deserialises from a
/// plain JSON string, so a login body can hold it directly, and never serialises.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Checks the policy for a new password: [`MIN_LEN`] to [`MAX_LEN`] characters.
    pub fn check_policy(&self) -> Result<()> {
        let len = self.0.chars().count();
        if len < MIN_LEN {
            return Err(Error::PasswordTooShort { min: MIN_LEN });
        }
        if len > MAX_LEN {
            return Err(Error::PasswordTooLong { max: MAX_LEN });
        }
        Ok(())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl std::fmt::Display for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Hashes a new password with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the
/// OWASP minimum) and a fresh random salt, after checking the policy. Takes tens of
/// milliseconds: call it from `spawn_blocking` in async code. Returns the PHC string to store.
pub fn hash(password: &Password) -> Result<String> {
    password.check_policy()?;
    hash_unchecked(password.expose())
}

fn hash_unchecked(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Whether `password` matches `stored` (a PHC string from [`hash`]). `Ok(false)` for a wrong
/// password; `Err` only when `stored` is not a hash we can read. As slow as [`hash`].
pub fn verify(password: &Password, stored: &str) -> Result<bool> {
    let parsed = Phc::new(stored).map_err(|e| Error::PasswordHash(e.to_string()))?;
    match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(Error::PasswordHash(e.to_string())),
    }
}

/// Spends the time of one [`verify`] and returns `false`. Call it when the user named at login
/// does not exist, so the response time does not tell an attacker which accounts exist.
pub fn verify_unknown_user(password: &Password) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored =
        DUMMY.get_or_init(|| hash_unchecked(&crate::secret::random_base62(24)).unwrap_or_default());
    let _ = verify(password, stored);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let pw = Password::from("twelve chars");
        let a = hash(&pw).unwrap();
        let b = hash(&pw).unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "same salt twice");
        assert!(verify(&pw, &a).unwrap());
        assert!(verify(&pw, &b).unwrap());
        assert!(!verify(&Password::from("twelve charz"), &a).unwrap());
        assert!(!a.contains("twelve"));
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // 11 characters in 22 bytes: too short.
        let err = hash(&Password::from("ééééééééééé")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password must be at least 12 characters long"
        );
        assert!(Password::from("ééééééééééé1").check_policy().is_ok());
        assert!(Password::from("x".repeat(MAX_LEN + 1))
            .check_policy()
            .is_err());
    }

    #[test]
    fn login_with_a_short_password_just_fails() {
        let stored = hash(&Password::from("a long enough one")).unwrap();
        assert!(!verify(&Password::from("short"), &stored).unwrap());
        assert!(!verify_unknown_user(&Password::from("short")));
    }

    #[test]
    fn garbage_hashes_are_errors_that_do_not_echo_the_password() {
        let err = verify(&Password::from("my secret password"), "not a hash").unwrap_err();
        assert!(!err.to_string().contains("my secret"));
    }

    #[test]
    fn never_prints_and_deserialises_from_a_string() {
        let pw: Password = serde_json::from_str("\"hunter2hunter2\"").unwrap();
        assert_eq!(pw.expose(), "hunter2hunter2");
        assert!(!format!("{pw} {pw:?}").contains("hunter2"));
    }
}
