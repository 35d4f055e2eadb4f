//! The platform library's error type. Each variant says what failed at this layer and keeps
//! its cause; the HTTP layer (`api::problem`) decides what a client may see of it.

/// Everything that can go wrong in the platform library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Settings could not be read or are invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A database statement failed.
    #[error("database: {context}: {}", db_message(source))]
    Database {
        /// What the platform was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be taken from a pool.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A pool could not be built from the settings.
    #[error("database pool setup: {0}")]
    PoolSetup(String),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migration(#[from] refinery::Error),
    /// The storage layout asked for cannot be used on this database.
    #[error("storage layout: {0}")]
    Layout(String),
    /// The private PostgreSQL cluster could not be started or stopped.
    #[error("private PostgreSQL cluster: {0}")]
    Cluster(String),
    /// A benchmark's two paths disagreed, so its figures would mean nothing.
    #[error("benchmark: {0}")]
    Bench(String),
    /// A rule of tenancy refused something (password policy, audit entry too large, …).
    #[error("{0}")]
    Tenants(#[from] millwright_tenants::Error),
    /// A stored value is not one the platform knows (a role or plan name, say).
    #[error("stored value: {0}")]
    Stored(String),
    /// The demo could not start one of its parts.
    #[error("demo: {0}")]
    Demo(String),
    /// An I/O error with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What the platform was doing.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Fitting, evaluating or running a predictive-maintenance model failed.
    #[error("model: {context}: {source}")]
    Model {
        /// What the platform was doing.
        context: String,
        /// The models crate's error.
        #[source]
        source: millwright_models::Error,
    },
    /// A training job cannot be done with the stored history (no machines, no failures, ...).
    #[error("training: {0}")]
    Training(String),
    /// A stored model cannot be read back.
    #[error("stored model: {0}")]
    Artifact(String),
    /// Placing or moving a tenant on a Citus cluster failed, or the layout is not Citus
    /// (issue #18).
    #[error("tenant placement: {0}")]
    TenantMove(String),
}

impl Error {
    /// Wraps a driver error with what was being done.
    pub fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Self {
        move |source| Self::Database { context, source }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Wraps a models-crate error with what was being done.
    pub fn model(context: impl Into<String>) -> impl FnOnce(millwright_models::Error) -> Self {
        let context = context.into();
        move |source| Self::Model { context, source }
    }

    /// The SQLSTATE of a database error, if this is one.
    pub fn sql_state(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Self::Database { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// The server's message when there is one ("db error" alone says nothing).
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// `Result` with the platform's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
