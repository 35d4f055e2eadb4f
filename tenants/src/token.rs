//! Access tokens: short-lived JWTs (HS256) naming the tenant, the user and the role.
//!
//! A login (or a refresh, see [`refresh`]) gets an access token good for [`ACCESS_TTL`] and a
//! refresh token. The platform checks access tokens without a database round trip, which is
//! why they are short-lived: a changed role or a logout reaches a live access token only
//! when it expires, unless the platform also keeps one of these (its choice):
//! - revoked `jti`s until their `exp` (logout of one session), or
//! - per user a `tokens_valid_after` time, refusing tokens whose `iat` is earlier (role
//!   change, password change, "log out everywhere").
//!
//! Expiry is checked against a `now` the caller passes, so tests need no sleeping.
//!
//! ```
//! use chrono::Utc;
//! use millwright_tenants::role::Role;
//! use millwright_tenants::token::{JwtSecret, TokenIssuer, ACCESS_TTL};
//! let issuer = TokenIssuer::new(&JwtSecret::generate(), ACCESS_TTL).unwrap();
//! let now = Utc::now();
//! let (token, claims) = issuer.issue(Some(7), 42, Role::Engineer, now).unwrap();
//! assert_eq!(issuer.verify(token.expose(), now).unwrap(), claims);
//! assert!(issuer.verify(token.expose(), now + ACCESS_TTL).is_err());
//! ```

pub mod refresh;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::role::Role;
use crate::secret::{random_base62, SecretString};
use crate::{Error, Result};

/// How long an access token lives: 15 minutes.
pub const ACCESS_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// The shortest signing secret accepted, in bytes (HS256 wants at least its 256-bit output).
pub const MIN_SECRET_LEN: usize = 32;
const ISSUER: &str = "millwright";

/// The HS256 signing secret, shared by every platform replica (from a Kubernetes secret).
/// Never prints.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// Wraps a configured secret; refuses one shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::WeakJwtSecret {
                min: MIN_SECRET_LEN,
            });
        }
        Ok(Self(secret))
    }

    /// A random secret (for the demo and tests; replicas must share one, so production
    /// configures it).
    pub fn generate() -> Self {
        Self(random_base62(64).into_bytes())
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret([redacted])")
    }
}

/// What an access token says. Field names are short because they travel on every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Always `millwright`.
    pub iss: String,
    /// The user's id (not `sub`, which JWT defines as a string).
    pub user: i64,
    /// The user's tenant; `None` exactly for the bureau role.
    pub tenant: Option<i64>,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (refused from this second on).
    pub exp: i64,
    /// A random id, for the platform to revoke one token.
    pub jti: String,
    /// The login session the token belongs to (0 outside sessions): logout revokes the
    /// session, and with it every access token still in flight.
    #[serde(default)]
    pub sid: i64,
}

/// Issues and checks access tokens with one secret.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::TimeDelta,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer whose tokens live `ttl` (normally [`ACCESS_TTL`]). Fails only if
    /// jsonwebtoken refuses the key, which it does for empty secrets, and `JwtSecret` has none.
    pub fn new(secret: &JwtSecret, ttl: chrono::TimeDelta) -> Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the caller's clock in `verify`.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[ISSUER]);
        let weak = |_| Error::WeakJwtSecret {
            min: MIN_SECRET_LEN,
        };
        Ok(Self {
            encoding: EncodingKey::from_secret(&secret.0).map_err(weak)?,
            decoding: DecodingKey::from_secret(&secret.0).map_err(weak)?,
            validation,
            ttl,
        })
    }

    /// A signed token for `user` of `tenant` with `role`, and its claims (`exp` gives the
    /// login response its `expires_in`). The bureau role must have no tenant, every other
    /// role one.
    pub fn issue(
        &self,
        tenant: Option<i64>,
        user: i64,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, AccessClaims)> {
        self.issue_in_session(0, tenant, user, role, now)
    }

    /// [`TokenIssuer::issue`] for login session `session`.
    pub fn issue_in_session(
        &self,
        session: i64,
        tenant: Option<i64>,
        user: i64,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, AccessClaims)> {
        check_tenant_matches_role(tenant, role)?;
        let claims = AccessClaims {
            iss: ISSUER.to_owned(),
            user,
            tenant,
            role,
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            jti: random_base62(22),
            sid: session,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| Error::InvalidToken("signing failed"))?;
        Ok((SecretString::new(token), claims))
    }

    /// The claims of a token we signed that has not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| Error::InvalidToken(reason(e.kind())))?;
        let claims = data.claims;
        if now.timestamp() >= claims.exp {
            return Err(Error::TokenExpired);
        }
        check_tenant_matches_role(claims.tenant, claims.role)?;
        Ok(claims)
    }
}

fn check_tenant_matches_role(tenant: Option<i64>, role: Role) -> Result<()> {
    if tenant.is_some() == role.is_tenant_role() {
        Ok(())
    } else {
        Err(Error::InvalidToken(
            "bureau tokens carry no tenant and tenant roles carry one",
        ))
    }
}

// Reasons name the check that failed, never the token's content.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "wrong algorithm",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => "unexpected claims",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(&JwtSecret::generate(), ACCESS_TTL).unwrap()
    }

    #[test]
    fn round_trip_carries_tenant_user_role_and_expiry() {
        let issuer = issuer();
        let now = Utc::now();
        let (token, claims) = issuer.issue(Some(3), 9, Role::Operator, now).unwrap();
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        let back = issuer.verify(token.expose(), now).unwrap();
        assert_eq!(
            (back.tenant, back.user, back.role),
            (Some(3), 9, Role::Operator)
        );
        let (_, other) = issuer.issue(Some(3), 9, Role::Operator, now).unwrap();
        assert_ne!(claims.jti, other.jti);
    }

    #[test]
    fn expires_at_exp_not_before() {
        let issuer = issuer();
        let now = Utc::now();
        let (token, _) = issuer.issue(Some(1), 1, Role::Viewer, now).unwrap();
        let just_before = now + ACCESS_TTL - TimeDelta::seconds(1);
        assert!(issuer.verify(token.expose(), just_before).is_ok());
        assert!(matches!(
            issuer.verify(token.expose(), now + ACCESS_TTL),
            Err(Error::TokenExpired)
        ));
    }

    #[test]
    fn another_secret_or_a_tampered_token_is_refused() {
        let (a, b) = (issuer(), issuer());
        let now = Utc::now();
        let (token, _) = a.issue(Some(1), 1, Role::Viewer, now).unwrap();
        assert!(matches!(
            b.verify(token.expose(), now),
            Err(Error::InvalidToken("bad signature"))
        ));
        // Swap in claims that promote the user, keeping the old signature.
        let (forged, _) = b.issue(Some(1), 1, Role::Owner, now).unwrap();
        let parts: Vec<&str> = token.expose().split('.').collect();
        let forged_parts: Vec<&str> = forged.expose().split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
        assert!(a.verify(&spliced, now).is_err());
        assert!(a.verify("not.a.jwt", now).is_err());
        assert!(a.verify("", now).is_err());
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let b64 = base64_url;
        let a = issuer();
        let now = Utc::now();
        let (_, claims) = a.issue(Some(1), 1, Role::Owner, now).unwrap();
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64(&serde_json::to_vec(&claims).unwrap());
        assert!(a.verify(&format!("{header}.{body}."), now).is_err());
    }

    fn base64_url(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn bureau_has_no_tenant_and_tenant_roles_have_one() {
        let issuer = issuer();
        let now = Utc::now();
        assert!(issuer.issue(None, 1, Role::Bureau, now).is_ok());
        assert!(issuer.issue(Some(1), 1, Role::Bureau, now).is_err());
        assert!(issuer.issue(None, 1, Role::Admin, now).is_err());
    }

    #[test]
    fn secrets_are_checked_and_never_print() {
        assert!(matches!(
            JwtSecret::new("short"),
            Err(Error::WeakJwtSecret { min: 32 })
        ));
        let secret = JwtSecret::new("x".repeat(32)).unwrap();
        assert!(!format!("{secret:?}").contains("xxxx"));
        let issuer = TokenIssuer::new(&secret, ACCESS_TTL).unwrap();
        let (token, _) = issuer.issue(Some(1), 1, Role::Viewer, Utc::now()).unwrap();
        assert!(!format!("{token:?} {issuer:?}").contains(token.expose()));
        assert!(!format!("{issuer:?}").contains("xxxx"));
    }
}
