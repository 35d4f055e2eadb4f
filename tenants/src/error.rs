//! Errors of the tenants crate.
//!
//! No variant carries a secret: messages may go to logs and, for client errors, into
//! problem+json bodies.

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A presented API key does not have the shape of one of ours.
    #[error("malformed API key: {0}")]
    MalformedApiKey(&'static str),
    /// A role name that is not one of ours (the name is cut to 32 characters).
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// A plan name that is not one of ours (the name is cut to 32 characters).
    #[error("unknown plan `{0}`")]
    UnknownPlan(String),
    /// A new password is too short.
    #[error("password must be at least {min} characters long")]
    PasswordTooShort {
        /// The minimum length, in characters.
        min: usize,
    },
    /// A new password is longer than anyone types; refused so hashing stays cheap to bound.
    #[error("password must be at most {max} characters long")]
    PasswordTooLong {
        /// The maximum length, in characters.
        max: usize,
    },
    /// A stored password hash could not be parsed, or hashing itself failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// The JWT signing secret is too short to be safe.
    #[error("JWT secret must be at least {min} bytes")]
    WeakJwtSecret {
        /// The minimum length, in bytes.
        min: usize,
    },
    /// An access token has expired; the client should refresh.
    #[error("access token expired")]
    TokenExpired,
    /// An access token is not one we issued or is not well formed.
    #[error("invalid access token: {0}")]
    InvalidToken(&'static str),
    /// A presented refresh token does not have the shape of one of ours.
    #[error("malformed refresh token: {0}")]
    MalformedRefreshToken(&'static str),
    /// An audit entry's `before` or `after` value is too large to keep in the log.
    #[error("audit {field} value is {size} bytes; at most {max} are kept")]
    AuditValueTooLarge {
        /// `before` or `after`.
        field: &'static str,
        /// Its canonical size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// An audit entry was appended after an entry of another tenant.
    #[error("audit entry for tenant {entry} cannot follow an entry of tenant {previous}")]
    AuditTenantMismatch {
        /// The tenant of the previous entry.
        previous: i64,
        /// The tenant of the new entry.
        entry: i64,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where and why an audit chain does not verify (see [`crate::audit::verify_chain`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct Broken {
    /// The sequence number of the first entry that does not fit (for a gap or a reordering,
    /// the seq found where another was expected).
    pub seq: u64,
    /// What is wrong with it.
    pub reason: BrokenReason,
}

/// Why an audit chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenReason {
    /// The entry's seq is not the previous one plus one (an entry was deleted, inserted or
    /// moved), or the chain does not start at 1.
    #[error("expected seq {expected}")]
    Sequence {
        /// The seq that should have been here.
        expected: u64,
    },
    /// `prev_hash` is not the previous entry's hash (or not all zeros for the first entry).
    #[error("prev_hash does not match the previous entry's hash")]
    PrevHash,
    /// The stored hash is not the hash of the entry's content: the entry was edited.
    #[error("hash does not match the entry's content")]
    Hash,
    /// The entry belongs to another tenant than the chain.
    #[error("entry belongs to tenant {found}, the chain to tenant {expected}")]
    Tenant {
        /// The chain's tenant.
        expected: i64,
        /// The entry's tenant.
        found: i64,
    },
}

#[cfg(test)]
mod tests {
    use crate::password::{hash, verify, Password};
    use crate::role::Role;
    use crate::token::{refresh, JwtSecret, TokenIssuer, ACCESS_TTL};

    /// Errors go to logs and problem+json bodies: none may echo the secret that caused it.
    #[test]
    fn errors_never_carry_the_secret_they_reject() {
        let mut cases: Vec<(String, super::Error)> = Vec::new();

        let key = crate::api_key::NewApiKey::generate().plaintext;
        let bad_key = format!("{key}!");
        cases.push((key, crate::api_key::digest(&bad_key).unwrap_err()));

        let refresh = refresh::NewRefreshToken::generate()
            .plaintext
            .expose()
            .to_owned();
        let bad_refresh = format!("{refresh}!");
        cases.push((refresh, refresh::digest(&bad_refresh).unwrap_err()));

        let short = "q7Zx9kLp2Wv".to_owned();
        cases.push((
            short.clone(),
            hash(&Password::from(short.as_str())).unwrap_err(),
        ));
        cases.push((short.clone(), JwtSecret::new(short.as_str()).unwrap_err()));
        let pw = "vK3q tallow 9Zp marsh".to_owned();
        cases.push((
            pw.clone(),
            verify(&Password::from(pw.as_str()), &pw).unwrap_err(),
        ));

        let issuer = TokenIssuer::new(&JwtSecret::generate(), ACCESS_TTL).unwrap();
        let now = chrono::Utc::now();
        let (jwt, _) = issuer.issue(Some(1), 1, Role::Admin, now).unwrap();
        let tampered = format!("{}x", jwt.expose());
        cases.push((tampered.clone(), issuer.verify(&tampered, now).unwrap_err()));
        let expired = issuer.verify(jwt.expose(), now + ACCESS_TTL).unwrap_err();
        cases.push((jwt.expose().to_owned(), expired));

        for (secret, error) in cases {
            let shown = format!("{error} {error:?}");
            // No run of 6 characters of the secret: prefixes like `mwk_` are allowed.
            let leaked = secret
                .as_bytes()
                .windows(6)
                .filter(|w| !w.starts_with(b"mw"))
                .any(|w| shown.contains(std::str::from_utf8(w).unwrap()));
            assert!(!leaked, "{shown} leaks part of the secret");
        }
    }
}
