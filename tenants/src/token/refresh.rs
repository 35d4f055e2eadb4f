//! Refresh tokens: random opaque strings, stored only as a SHA-256 digest, used once.
//!
//! A refresh token looks like `mwr_<43 base62 chars>` (256 bits). Like an API key it is random
//! and long, so one SHA-256 is a safe storage digest and an index finds it.
//!
//! # Rotation
//! Each refresh token is good for one use. Presenting it (`POST /auth/refresh`) returns a new
//! access token and a new refresh token of the same *family* (the chain of tokens descending
//! from one login), and marks the old one used. If a used token is presented again, two
//! parties hold the family's tokens, so one of them stole it: the platform revokes the whole
//! family and the user logs in again. [`judge`] makes that decision from the stored row.
//!
//! # What the platform stores
//! One row per refresh token: `digest` (bytea, primary key), `family` (random id of the
//! login), `tenant_id` (null for bureau users), `user_id`, `issued_at`, `expires_at`,
//! `used_at` (null until rotated), `revoked_at` (null until revoked). Logout sets
//! `revoked_at` on every row of the family; "log out everywhere" on every row of the user.
//! Rows past `expires_at` can be deleted. Optionally (see [`crate::token`]) revoked access
//! token `jti`s until their `exp`, or a per-user `tokens_valid_after`.
//!
//! ```
//! use chrono::Utc;
//! use millwright_tenants::token::refresh::{digest, judge, NewRefreshToken, StoredRefreshToken, Verdict, REFRESH_TTL};
//! let now = Utc::now();
//! let token = NewRefreshToken::generate();
//! assert_eq!(digest(token.plaintext.expose()).unwrap(), token.digest);
//! let mut row = StoredRefreshToken { expires_at: now + REFRESH_TTL, used_at: None, revoked_at: None };
//! assert_eq!(judge(&row, now), Verdict::Rotate);
//! row.used_at = Some(now);
//! assert_eq!(judge(&row, now), Verdict::Reused);
//! ```

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::secret::{random_base62, SecretString};
use crate::{Error, Result};

/// How long a refresh token lives if unused: 30 days, so a user who opens the dashboard
/// monthly stays logged in.
pub const REFRESH_TTL: chrono::TimeDelta = chrono::TimeDelta::days(30);
const MARKER: &str = "mwr_";
const SECRET_LEN: usize = 43;

/// A freshly generated refresh token: the plaintext goes to the client once, the digest to
/// the database.
#[derive(Debug)]
pub struct NewRefreshToken {
    /// The token, shown once; never prints.
    pub plaintext: SecretString,
    /// SHA-256 of the token, the only form that is stored.
    pub digest: [u8; 32],
}

impl NewRefreshToken {
    /// Draws a new token from the operating system's random source.
    pub fn generate() -> Self {
        let plaintext = format!("{MARKER}{}", random_base62(SECRET_LEN));
        let digest = Sha256::digest(plaintext.as_bytes()).into();
        Self {
            plaintext: SecretString::new(plaintext),
            digest,
        }
    }
}

/// The storage digest of a presented refresh token, after checking its shape.
pub fn digest(presented: &str) -> Result<[u8; 32]> {
    let secret = presented
        .strip_prefix(MARKER)
        .ok_or(Error::MalformedRefreshToken("missing mwr_ marker"))?;
    if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::MalformedRefreshToken("wrong length or character"));
    }
    Ok(Sha256::digest(presented.as_bytes()).into())
}

/// The parts of a stored refresh-token row that decide what a presentation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRefreshToken {
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for a new pair, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When it (or its family) was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What to do with a presented refresh token found in the database. A digest not found at
/// all is simply refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Good: mark it used, issue a new access token and a new refresh token of the same
    /// family, in one transaction (`UPDATE … SET used_at = now() WHERE used_at IS NULL` so
    /// two concurrent refreshes cannot both win).
    Rotate,
    /// Already used: a copy is in someone else's hands. Revoke the whole family; 401.
    Reused,
    /// Revoked by logout or by reuse detection; 401.
    Revoked,
    /// Past its expiry; 401, log in again.
    Expired,
}

/// Decides what a presented refresh token means at `now`. Revocation wins over reuse (the
/// family is already dead), reuse over expiry (a theft signal is worth acting on even late).
pub fn judge(stored: &StoredRefreshToken, now: DateTime<Utc>) -> Verdict {
    if stored.revoked_at.is_some() {
        Verdict::Revoked
    } else if stored.used_at.is_some() {
        Verdict::Reused
    } else if now >= stored.expires_at {
        Verdict::Expired
    } else {
        Verdict::Rotate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_digestible_and_never_print() {
        let a = NewRefreshToken::generate();
        let b = NewRefreshToken::generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_ne!(a.digest, b.digest);
        assert_eq!(digest(a.plaintext.expose()).unwrap(), a.digest);
        assert!(!format!("{a:?}").contains(a.plaintext.expose()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = NewRefreshToken::generate();
        let text = good.plaintext.expose();
        for bad in [
            "",
            "mwr_",
            &text[1..],
            &text[..text.len() - 1],
            &format!("{text}x"),
            &format!("{}!", &text[..text.len() - 1]),
            "mwk_abcdefgh_0123456789012345678901234567890123456789012",
        ] {
            assert!(digest(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn verdicts_follow_the_rotation_rules() {
        let now = Utc::now();
        let fresh = StoredRefreshToken {
            expires_at: now + REFRESH_TTL,
            used_at: None,
            revoked_at: None,
        };
        assert_eq!(judge(&fresh, now), Verdict::Rotate);
        assert_eq!(judge(&fresh, now + REFRESH_TTL), Verdict::Expired);
        let used = StoredRefreshToken {
            used_at: Some(now),
            ..fresh
        };
        assert_eq!(judge(&used, now), Verdict::Reused);
        assert_eq!(judge(&used, now + REFRESH_TTL), Verdict::Reused);
        let revoked = StoredRefreshToken {
            revoked_at: Some(now),
            ..used
        };
        assert_eq!(judge(&revoked, now), Verdict::Revoked);
    }
}
