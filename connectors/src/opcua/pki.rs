//! The connector's certificate store: its application certificate (created on first run, in
//! `spawn_blocking` because RSA key generation takes seconds, and kept), and the check of a
//! server's certificate against `trusted/` before connecting, so that an unknown server is
//! refused with an error that names the file to move rather than a bare status code.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use opcua::{
    client::{Client, ClientBuilder},
    crypto::{CertificateStore, X509},
    types::ByteString,
};
use tracing::info;

use super::config::ServerConfig;
use crate::{Error, Result};

/// Application URI of the connector (the URI in its certificate).
pub const APPLICATION_URI: &str = "urn:millwright:connector";

/// The folders of a certificate store.
#[derive(Debug, Clone)]
pub struct PkiDirs {
    /// Root folder.
    pub root: PathBuf,
}

impl PkiDirs {
    /// The store under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PkiDirs { root: root.into() }
    }
    /// Certificates accepted.
    pub fn trusted(&self) -> PathBuf {
        self.root.join("trusted")
    }
    /// Certificates refused, waiting for a person to trust them.
    pub fn rejected(&self) -> PathBuf {
        self.root.join("rejected")
    }
    /// The connector's own certificate.
    pub fn own_cert(&self) -> PathBuf {
        self.root.join("own").join("cert.der")
    }
}

/// Builds the async-opcua client for a server config, creating the application certificate on
/// first run. Reconnects are left to the client's session event loop (no retry limit), with our
/// backoff bounds; subscriptions are transferred or recreated by it after a reconnect.
pub async fn build_client(cfg: &ServerConfig) -> Result<Client> {
    let dirs = PkiDirs::new(&cfg.pki_dir);
    for d in [dirs.trusted(), dirs.rejected()] {
        std::fs::create_dir_all(&d)?;
    }
    let builder = ClientBuilder::new()
        .application_name("Millwright connector")
        .application_uri(APPLICATION_URI)
        .product_uri("urn:millwright")
        .pki_dir(&cfg.pki_dir)
        .create_sample_keypair(true)
        // We check server certificates ourselves first (see `check_server_certificate`); the
        // client's own check then finds them in `trusted/`.
        .trust_server_certs(false)
        .verify_server_certs(true)
        .session_retry_limit(-1)
        .session_retry_initial(Duration::from_millis(cfg.backoff_initial_ms))
        .session_retry_max(Duration::from_millis(cfg.backoff_max_ms))
        .session_timeout(cfg.session_timeout_ms)
        .request_timeout(Duration::from_millis(cfg.timeout_ms))
        .keep_alive_interval(Duration::from_millis(cfg.timeout_ms.clamp(1000, 10_000)))
        .recreate_subscriptions(true)
        // Recreating subscriptions after a server restart sends this many items per request;
        // small enough for servers with low MaxMonitoredItemsPerCall.
        .recreate_monitored_items_chunk(100)
        .session_name(format!("millwright-{}", cfg.name))
        .max_array_length(1_000_000)
        .max_message_size(64 * 1024 * 1024)
        .max_chunk_count(1024);
    let had_cert = dirs.own_cert().exists();
    let client = tokio::task::spawn_blocking(move || builder.client())
        .await
        .map_err(|e| Error::Transport(format!("certificate task failed: {e}")))?
        .map_err(|errs| Error::OpcUa {
            context: "client configuration".into(),
            status: errs.join("; "),
        })?;
    if !had_cert && dirs.own_cert().exists() {
        info!(path = %dirs.own_cert().display(), "Created the connector's OPC UA application certificate.");
    }
    Ok(client)
}

/// Checks a server certificate against `trusted/`. An unknown one is stored in `trusted/` with
/// trust on first use, otherwise in `rejected/` and refused with the file to move.
pub fn check_server_certificate(pki: &Path, der: &ByteString, tofu: bool) -> Result<()> {
    let dirs = PkiDirs::new(pki);
    let cert = X509::from_byte_string(der).map_err(|e| Error::OpcUa {
        context: "reading the server certificate".into(),
        status: e.to_string(),
    })?;
    let file = CertificateStore::cert_file_name(&cert);
    let trusted = dirs.trusted().join(&file);
    if trusted.exists() {
        // Trusted by a person who copied it from rejected/: async-opcua refuses any
        // certificate still present in rejected/, so the stale copy goes.
        let stale = dirs.rejected().join(&file);
        if stale.exists() {
            let _ = std::fs::remove_file(stale);
        }
        return Ok(());
    }
    let bytes = cert.to_der().map_err(|e| Error::OpcUa {
        context: "encoding the server certificate".into(),
        status: e.to_string(),
    })?;
    if tofu {
        std::fs::create_dir_all(dirs.trusted())?;
        std::fs::write(&trusted, bytes)?;
        // Refused by an earlier run without trust on first use: async-opcua would still refuse
        // it while a copy sits in rejected/.
        let stale = dirs.rejected().join(&file);
        if stale.exists() {
            let _ = std::fs::remove_file(stale);
        }
        info!(path = %trusted.display(), "Trusted a new server certificate on first use.");
        return Ok(());
    }
    std::fs::create_dir_all(dirs.rejected())?;
    let rejected = dirs.rejected().join(&file);
    std::fs::write(&rejected, bytes)?;
    Err(Error::UntrustedServerCertificate {
        thumbprint: cert.thumbprint().as_hex_string(),
        path_to_trust_folder: dirs.trusted(),
        rejected_path: rejected,
    })
}

/// Thumbprint of the connector's own certificate, for error messages.
pub fn own_thumbprint(pki: &Path) -> String {
    std::fs::read(PkiDirs::new(pki).own_cert())
        .ok()
        .and_then(|d| X509::from_der(&d).ok())
        .map(|c| c.thumbprint().as_hex_string())
        .unwrap_or_else(|| "unknown".into())
}
