//! Who may see and do what.
//!
//! This crate holds the domain logic of tenants, users, roles, plans, quotas and the audit
//! log: pure functions and small types with no database and no HTTP. The platform stores what
//! these types give it, calls [`permission::decide`] on every route, and maps [`Error`] to
//! its problem+json responses.
//!
//! # Layout
//! - [`role`]: the five tenant roles and the bureau, and who may grant which.
//! - [`plan`]: the Monitor, MES and Pro plans, the features each includes, their quotas.
//! - [`permission`]: the one table that decides every action by role and plan.
//! - [`rate_limit`]: a token bucket per key for the requests-per-minute quota (429 +
//!   Retry-After), with an injectable clock.
//! - [`login_throttle`]: growing delays after failed logins, per account and per address.
//! - [`api_key`]: generating, recognising and hashing API keys.
//! - [`password`]: argon2id hashing and the password policy.
//! - [`token`]: short-lived JWT access tokens and rotating opaque refresh tokens.
//! - [`audit`]: hash-chained, tamper-evident audit entries and their verification.
//! - [`redact`]: scrubbing secrets from strings before they reach logs or error bodies.
//! - [`secret`]: the wrapper that keeps secrets out of `Debug` and `Display`.
//! - [`error`]: the crate's error type.

pub mod api_key;
pub mod audit;
pub mod error;
pub mod login_throttle;
pub mod password;
pub mod permission;
pub mod plan;
pub mod rate_limit;
pub mod redact;
pub mod role;
pub mod secret;
pub mod token;

pub use error::{Error, Result};
