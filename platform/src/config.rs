//! Settings: typed structs read from an optional TOML file, then overridden by environment
//! variables (`MILLWRIGHT__SECTION__KEY`, plus the conventional `DATABASE_URL` and
//! `APP_DATABASE_URL`), applied last so a Helm chart's values always win.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything the platform can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the database is and how to connect to it.
    pub database: DatabaseSettings,
    /// How samples are laid out and kept.
    pub store: StoreSettings,
    /// The HTTP API.
    pub http: HttpSettings,
    /// Limits on what ingest accepts.
    pub ingest: IngestSettings,
    /// Log output.
    pub log: LogSettings,
    /// Sign-in: access tokens and the platform operator's key.
    pub auth: AuthSettings,
    /// Predictive-maintenance models.
    pub models: ModelSettings,
    /// The alarm-rule evaluator.
    pub alerting: AlertingSettings,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// The industry bureau view: negative list, disclosure rules, noise (issue #16).
    pub bureau: BureauSettings,
    /// Leases of background work across replicas (issue #18).
    pub leases: LeaseSettings,
}

/// Leases of background work across replicas (`leases`, issue #18).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseSettings {
    /// Seconds a lease lasts after each renewal: how long a crashed replica's jobs wait
    /// before another replica takes them over.
    pub ttl_secs: u64,
    /// Seconds between renewals (at most a third of the TTL).
    pub renew_secs: u64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 15,
            renew_secs: 5,
        }
    }
}

impl LeaseSettings {
    /// The timing every lease of this process follows.
    pub fn policy(&self) -> crate::leases::Policy {
        crate::leases::Policy::new(
            std::time::Duration::from_secs(self.ttl_secs),
            std::time::Duration::from_secs(self.renew_secs),
        )
    }
}

/// The industry bureau view (issue #16).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BureauSettings {
    /// Categories never shared, whatever a tenant chooses (`energy`, `quality`, ...).
    pub never_share: Vec<crate::bureau::sharing::Category>,
    /// Tag-name patterns never read for a contribution (`*` is a wildcard).
    pub never_share_tags: Vec<String>,
    /// Fewest contributing tenants for a published cell (k).
    pub min_contributors: usize,
    /// How many of the largest contributors the dominance rule adds up (n, 1 to 3).
    pub dominance_n: usize,
    /// The share those may hold at most (0 to 1).
    pub dominance_share: f64,
    /// ε of the Laplace noise on published values; unset: no noise.
    pub noise_epsilon: Option<f64>,
    /// The release's name: it is shown with every answer and seeds the noise.
    pub release: String,
}

impl Default for BureauSettings {
    fn default() -> Self {
        Self {
            never_share: Vec::new(),
            never_share_tags: vec!["*price*".into(), "*cost*".into(), "*recipe*".into()],
            min_contributors: 5,
            dominance_n: 2,
            dominance_share: 0.85,
            noise_epsilon: None,
            release: "live".into(),
        }
    }
}

impl BureauSettings {
    /// The negative list these settings name.
    pub fn negative_list(&self) -> crate::bureau::negative_list::NegativeList {
        crate::bureau::negative_list::NegativeList {
            categories: self.never_share.iter().copied().collect(),
            tags: self.never_share_tags.clone(),
        }
    }

    /// The disclosure rules (n clamped to what cells remember).
    pub fn rules(&self) -> crate::bureau::disclosure::Rules {
        crate::bureau::disclosure::Rules {
            min_contributors: self.min_contributors.max(1),
            dominance_n: self.dominance_n.clamp(1, crate::bureau::index::TOP),
            dominance_share: self.dominance_share.clamp(0.0, 1.0),
        }
    }

    /// The noise, when ε is set and positive.
    pub fn noise(&self) -> Option<crate::bureau::noise::NoiseSpec> {
        self.noise_epsilon
            .filter(|e| *e > 0.0 && e.is_finite())
            .map(|epsilon| crate::bureau::noise::NoiseSpec {
                epsilon,
                release: self.release.clone(),
            })
    }
}

/// The alarm-rule evaluator (`alerting::engine`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingSettings {
    /// Milliseconds between checks of stale-data rules.
    pub tick_ms: u64,
    /// Seconds between checkpoints of the rules' states.
    pub checkpoint_secs: u64,
    /// Seconds between reloads of a tenant's rules and tags (the API's changes are immediate).
    pub reload_secs: u64,
    /// Ingest batches waiting for evaluation before ingest waits too.
    pub queue_batches: usize,
    /// Seconds between reads of the machines' current states (machine-state rules).
    pub state_poll_secs: u64,
}

impl Default for AlertingSettings {
    fn default() -> Self {
        Self {
            tick_ms: 1000,
            checkpoint_secs: 5,
            reload_secs: 60,
            queue_batches: 256,
            state_poll_secs: 2,
        }
    }
}

/// Webhook delivery (`webhooks::sender`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Delay after a first failed attempt, doubled after each further failure.
    pub retry_base_secs: u64,
    /// Longest delay between two attempts.
    pub retry_max_delay_secs: u64,
    /// A delivery not delivered after this long is given up (at least a day by default).
    pub give_up_after_secs: u64,
    /// Seconds one attempt may take.
    pub timeout_secs: u64,
    /// Seconds between looks for due deliveries (changes wake the sender at once).
    pub poll_secs: u64,
    /// Days events and their delivery log are kept.
    pub keep_days: u32,
    /// Allow endpoints on loopback, private and link-local addresses (tests, on-premises
    /// receivers). Off: such URLs are refused when created and when sent to.
    pub allow_private_targets: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_base_secs: 30,
            retry_max_delay_secs: 7200,
            give_up_after_secs: 93_600,
            timeout_secs: 10,
            poll_secs: 1,
            keep_days: 30,
            allow_private_targets: false,
        }
    }
}

impl WebhookSettings {
    /// The retry policy these settings describe.
    pub fn backoff(&self) -> crate::webhooks::backoff::Backoff {
        crate::webhooks::backoff::Backoff {
            base_secs: self.retry_base_secs,
            max_delay_secs: self.retry_max_delay_secs,
            give_up_after_secs: self.give_up_after_secs,
        }
    }
}

/// Predictive-maintenance models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Seconds between scoring rounds of the promoted models (predictions and alarms).
    pub scoring_interval_secs: u64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            scoring_interval_secs: 30,
        }
    }
}

/// Sign-in settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Secret that signs access tokens (JWT, HS256), at least 32 bytes; share it between
    /// replicas. Unset: a random one per process, so tokens end when the process does.
    pub jwt_secret: Option<Secret>,
    /// Lifetime of an access token in seconds; refresh tokens last 30 days.
    pub access_token_ttl_secs: i64,
    /// Hex SHA-256 of the platform operator's key, which opens `/api/v1/admin/...` (creating
    /// tenants and bureau users). Only the digest is configured; unset disables the admin API.
    pub operator_key_sha256: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_token_ttl_secs: 900,
            operator_key_sha256: None,
        }
    }
}

/// Database connection settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL of the role that owns the schema and runs migrations
    /// (env `DATABASE_URL`). Unset: the demo starts a private cluster.
    pub url: Option<Secret>,
    /// Connection URL of the unprivileged application role `millwright_app`
    /// (env `APP_DATABASE_URL`). Unset: the owner's connection switches to that role with
    /// `SET ROLE`, which isolates tenants just as well but is weaker against SQL injection.
    pub app_url: Option<Secret>,
    /// Largest number of connections in each pool.
    pub pool_size: usize,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            app_url: None,
            pool_size: 16,
        }
    }
}

/// Storage layout choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// TimescaleDB when the extension is available, native partitioning otherwise.
    #[default]
    Auto,
    /// Require TimescaleDB.
    Timescale,
    /// Native PostgreSQL partitioning even when TimescaleDB is available.
    Plain,
    /// Citus (issue #18): the database is a Citus coordinator with workers; samples, text
    /// samples and rollups are distributed by tenant. Refused on a database without Citus.
    Citus,
}

/// How samples are laid out and kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `auto`, `timescale`, `plain` or `citus`; fixed for a database once its layout exists.
    pub backend: BackendChoice,
    /// Samples and rollups older than this many days are dropped, for every tenant; tenants
    /// whose plan keeps less are trimmed to their plan by maintenance.
    pub retention_days: u32,
    /// TimescaleDB only: chunks older than this many days are compressed.
    pub compress_after_days: u32,
    /// Plain layout only: daily partitions are created this many days ahead.
    pub partitions_ahead_days: u32,
    /// Seconds between maintenance rounds (rollup refresh, partitions, retention).
    pub maintenance_interval_secs: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: BackendChoice::Auto,
            retention_days: 730,
            compress_after_days: 7,
            partitions_ahead_days: 3,
            maintenance_interval_secs: 10,
        }
    }
}

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Largest request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Behind trusted reverse proxies (an Ingress): how many of them append to
    /// `X-Forwarded-For`, so the client's address (for login throttling and the audit log) is
    /// the n-th from the right. 0: the socket's peer address, and the header is ignored.
    pub forwarded_for_hops: usize,
    /// PEM certificate chain for HTTPS; with `tls_key_file` the API serves HTTPS only (and
    /// sends Strict-Transport-Security). Unset: plain HTTP, for a TLS-terminating proxy.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Origins (`https://console.example.com`) whose browser pages may call the API across
    /// origins. Empty: none; the console served by the platform itself is same-origin and
    /// needs no entry.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 16 << 20,
            forwarded_for_hops: 0,
            tls_cert_file: None,
            tls_key_file: None,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// Limits on what ingest accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Most samples in one request; more get 413 (send several batches).
    pub max_batch_samples: usize,
    /// How far ahead of the server's clock a timestamp may be, in seconds.
    pub max_future_secs: i64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_batch_samples: 10_000,
            max_future_secs: 300,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info,millwright_platform=debug` (`RUST_LOG` wins if set).
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            // async-opcua logs every reconnect attempt; the connector logs once per outage.
            filter: "info,opcua_client=error,opcua_core=error,opcua_server=warn,opcua_crypto=warn"
                .into(),
        }
    }
}

impl LogSettings {
    /// Log settings from the environment alone (`MILLWRIGHT__LOG__FORMAT`,
    /// `MILLWRIGHT__LOG__FILTER`), for the commands that read no settings file (connectors,
    /// simulators, model evaluations). A value that does not parse leaves the default.
    pub fn from_env() -> Self {
        Figment::from(Serialized::defaults(LogSettings::default()))
            .merge(Env::prefixed("MILLWRIGHT__LOG__"))
            .extract()
            .unwrap_or_default()
    }
}

/// A string that never prints: connection URLs carry passwords.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Settings {
    /// Reads settings: defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Error::Config(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("MILLWRIGHT__").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(
                Env::raw()
                    .only(&["APP_DATABASE_URL"])
                    .map(|_| "database.app_url".into()),
            );
        figment.extract().map_err(|e| Error::Config(e.to_string()))
    }

    /// The documented example configuration, with every setting at its default.
    pub fn example_toml() -> &'static str {
        include_str!("../millwright.example.toml")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its large error type
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_back_to_the_defaults() {
        let parsed: Settings = toml::from_str(Settings::example_toml()).unwrap();
        let defaults = Settings::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("postgres://u:hunter2@h/db");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "m.toml",
                "[http]\nlisten = \"127.0.0.1:9000\"\n[store]\nretention_days = 30\n",
            )?;
            jail.set_env("MILLWRIGHT__STORE__RETENTION_DAYS", "7");
            jail.set_env("DATABASE_URL", "postgres://x@y/z");
            let s = Settings::load(Some(Path::new("m.toml"))).unwrap();
            assert_eq!(s.http.listen.port(), 9000);
            assert_eq!(s.store.retention_days, 7);
            assert_eq!(s.database.url.unwrap().expose(), "postgres://x@y/z");
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_are_rejected_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "[store]\nretension_days = 30\n")?;
            let err = Settings::load(Some(Path::new("m.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("retension_days"), "{err}");
            Ok(())
        });
    }
}
