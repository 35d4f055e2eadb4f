//! Errors of the tenants crate.

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A presented API key does not have the shape of one of ours.
    #[error("malformed API key: {0}")]
    MalformedApiKey(&'static str),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
