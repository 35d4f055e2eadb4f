//! Who may see and do what.
//!
//! This crate will own tenants, users, roles, plans and quotas. Today it owns API keys: how
//! they are generated, how they look on the wire, and how they are hashed for storage. It
//! knows nothing of the database: the platform stores what [`api_key::NewApiKey`] gives it.
//!
//! # Layout
//! - [`api_key`]: generating, recognising and hashing API keys.
//! - [`error`]: the crate's error type.

pub mod api_key;
pub mod error;

pub use error::{Error, Result};
