//! One ingest request and what its answer means for the batch.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tracing::warn;

/// What to do with a batch after one attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (possibly with duplicates or per-sample rejections, already logged).
    Delivered {
        /// Samples accepted.
        accepted: u64,
        /// Samples the platform already had.
        duplicates: u64,
        /// Samples refused one by one.
        rejected: u64,
    },
    /// Keep it and try again later: unreachable, timeout, 5xx, 429, or 401 (a token may be fixed).
    Retry(String),
    /// Too large: split it.
    TooLarge,
    /// The platform refuses this body for good (422); retrying cannot help.
    Refused(String),
}

#[derive(Debug, Deserialize)]
struct Answer {
    accepted: u64,
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    rejected: Vec<Rejected>,
}

#[derive(Debug, Deserialize)]
struct Rejected {
    #[serde(default)]
    field: String,
    #[serde(default)]
    detail: String,
}

/// The ingest API client.
#[derive(Debug, Clone)]
pub struct IngestClient {
    http: reqwest::Client,
    url: String,
    auth: String,
}

/// An HTTP client for the platform: `https://` URLs are checked against the system's roots,
/// or only against the CA in `ca_file` (a private CA) when one is given.
pub(crate) fn http_client(
    timeout: Duration,
    ca_file: Option<&Path>,
) -> crate::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout);
    if let Some(file) = ca_file {
        let pem = std::fs::read(file).map_err(|e| {
            crate::Error::Transport(format!("reading uplink.ca_file {}: {e}", file.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            crate::Error::Transport(format!("uplink.ca_file {}: {e}", file.display()))
        })?;
        if certs.is_empty() {
            return Err(crate::Error::Transport(format!(
                "uplink.ca_file {} holds no certificate",
                file.display()
            )));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| crate::Error::Transport(format!("cannot build HTTP client: {e}")))
}

/// A request error in words, with its causes (e.g. "connection refused") but without the
/// URL, which for command polls lists every tag name.
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl IngestClient {
    /// A client for `POST {platform_url}/api/v1/ingest` with a bearer token.
    pub fn new(platform_url: &str, token: &str, timeout: Duration) -> crate::Result<Self> {
        Self::with_ca(platform_url, token, timeout, None)
    }

    /// [`IngestClient::new`], trusting only the CA in `ca_file` for an `https://` URL.
    pub fn with_ca(
        platform_url: &str,
        token: &str,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> crate::Result<Self> {
        let http = http_client(timeout, ca_file)?;
        Ok(IngestClient {
            http,
            url: format!("{}/api/v1/ingest", platform_url.trim_end_matches('/')),
            auth: format!("Bearer {token}"),
        })
    }

    /// Sends one JSON body.
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let resp = match self
            .http
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Outcome::Retry(format!(
                    "no answer within the request timeout: {}",
                    describe(e)
                ))
            }
            Err(e) => return Outcome::Retry(format!("platform unreachable: {}", describe(e))),
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            200..=299 => match serde_json::from_str::<Answer>(&text) {
                Ok(a) => {
                    if let Some(first) = a.rejected.first() {
                        warn!(rejected = a.rejected.len(), field = %first.field, detail = %first.detail,
                              "The platform refused some samples of a batch.");
                    }
                    Outcome::Delivered {
                        accepted: a.accepted,
                        duplicates: a.duplicates,
                        rejected: a.rejected.len() as u64,
                    }
                }
                Err(e) => Outcome::Retry(format!("unreadable answer ({e}): {text:.200}")),
            },
            413 => Outcome::TooLarge,
            401 | 403 => Outcome::Retry(format!(
                "platform refused the token ({status}); batches are kept until it is fixed"
            )),
            429 | 408 | 500..=599 => Outcome::Retry(format!("platform answered {status}")),
            _ => Outcome::Refused(format!("platform answered {status}: {text:.300}")),
        }
    }
}
