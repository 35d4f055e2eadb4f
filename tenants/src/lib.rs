//! Who may see and do what.
//!
//! This crate will own tenants, users, roles, plans and quotas. Today it owns API keys: how
//! they are generated, how they look on the wire, and how they are hashed for storage.
