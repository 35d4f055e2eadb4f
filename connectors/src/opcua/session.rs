//! Connecting to a server: endpoint discovery, the endpoint matching the configured policy and
//! mode, the server certificate check, the identity, and a task that drives async-opcua's event
//! loop and turns its events into the few the driver acts on (lost, back, subscription alive).

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::StreamExt;
use opcua::{
    client::{IdentityToken, Password, Session, SessionConnectMode, SessionPollResult},
    crypto::SecurityPolicy,
    types::{EndpointDescription, MessageSecurityMode, StatusCode},
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::debug;

use super::{
    config::{Identity, Mode, Policy, ServerConfig},
    limits::OperationLimits,
    pki,
};
use crate::{Error, Result};

/// What the session's event loop reports to the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The connection dropped; async-opcua is reconnecting.
    Lost(StatusCode),
    /// Connected again: `reactivated` when the server still had the session (subscriptions
    /// transferred), else a new session (subscriptions recreated).
    Back {
        /// The old session was reactivated.
        reactivated: bool,
    },
    /// The event loop gave up; the driver must connect from scratch.
    Ended(StatusCode),
}

/// A connected session and its event loop task. Dropping it aborts the task.
pub struct Connected {
    /// The session.
    pub session: Arc<Session>,
    /// The server's operation limits.
    pub limits: OperationLimits,
    /// Connection events.
    pub events: mpsc::Receiver<LinkEvent>,
    /// Milliseconds since the Unix epoch of the last publish response (data or keep-alive).
    pub last_publish_ms: Arc<AtomicI64>,
    /// The server's ApplicationName, as its endpoint description gives it (may be empty).
    pub application_name: String,
    pump: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Connected {
    /// Closes the session (deleting its subscriptions) and stops the event loop.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.disconnect()).await;
        if let Some(pump) = self.pump.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), pump).await;
        }
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        if let Some(pump) = &self.pump {
            pump.abort();
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn policy(p: Policy) -> SecurityPolicy {
    match p {
        Policy::None => SecurityPolicy::None,
        Policy::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
    }
}

fn mode(m: Mode) -> MessageSecurityMode {
    match m {
        Mode::None => MessageSecurityMode::None,
        Mode::Sign => MessageSecurityMode::Sign,
        Mode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
    }
}

fn opc_err(context: impl Into<String>, e: impl std::fmt::Display) -> Error {
    Error::OpcUa {
        context: context.into(),
        status: e.to_string(),
    }
}

/// Servers often advertise endpoint URLs with a host name the connector cannot resolve (their
/// own machine name): keep the path they advertise and use the host and port we reached.
fn reachable_url(configured: &str, advertised: &str) -> String {
    let authority = |u: &str| -> Option<(usize, usize)> {
        let start = u.find("://")? + 3;
        let end = u[start..].find('/').map(|i| start + i).unwrap_or(u.len());
        Some((start, end))
    };
    match (authority(configured), authority(advertised)) {
        (Some((cs, ce)), Some((as_, ae))) => {
            format!(
                "{}{}{}",
                &advertised[..as_],
                &configured[cs..ce],
                &advertised[ae..]
            )
        }
        _ => configured.to_string(),
    }
}

/// Asks the server for its endpoints (discovery).
pub async fn endpoints(
    client: &opcua::client::Client,
    cfg: &ServerConfig,
) -> Result<Vec<EndpointDescription>> {
    let limit = Duration::from_millis(cfg.timeout_ms);
    tokio::time::timeout(
        limit,
        client.get_server_endpoints_from_url(cfg.endpoint_url.as_str()),
    )
    .await
    .map_err(|_| Error::Timeout(limit))?
    .map_err(|e| opc_err(format!("discovery of {}", cfg.endpoint_url), e))
}

/// Connects to one server: discovery, endpoint choice, certificate check, session. Returns once
/// the session is active.
pub async fn connect(cfg: &ServerConfig) -> Result<Connected> {
    let mut client = pki::build_client(cfg).await?;
    let eps = endpoints(&client, cfg).await?;
    let (want_policy, want_mode) = (policy(cfg.security_policy), mode(cfg.security_mode));
    let mut endpoint = eps
        .iter()
        .find(|e| {
            e.security_policy_uri.as_ref() == want_policy.to_uri() && e.security_mode == want_mode
        })
        .cloned()
        .ok_or_else(|| {
            let offered: Vec<String> = eps
                .iter()
                .map(|e| format!("{} {:?}", e.security_policy_uri, e.security_mode))
                .collect();
            opc_err(
                format!("endpoint choice at {}", cfg.endpoint_url),
                format!(
                    "no endpoint with policy {want_policy} and mode {want_mode:?}; the server offers: {}",
                    offered.join(", ")
                ),
            )
        })?;
    if want_policy != SecurityPolicy::None {
        pki::check_server_certificate(
            &cfg.pki_dir,
            &endpoint.server_certificate,
            cfg.trust_on_first_use,
        )?;
    }
    endpoint.endpoint_url = reachable_url(&cfg.endpoint_url, endpoint.endpoint_url.as_ref()).into();
    let application_name = endpoint.server.application_name.text.as_ref().to_string();
    let identity = match &cfg.identity {
        Identity::Anonymous => IdentityToken::Anonymous,
        Identity::UserName { user, password } => {
            IdentityToken::UserName(user.clone(), Password(password.expose().to_string()))
        }
    };
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint, identity)
        .map_err(|e| opc_err(format!("connecting to {}", cfg.endpoint_url), e))?;
    let (first_tx, first_rx) = oneshot::channel();
    let (tx, events) = mpsc::channel(64);
    let last_publish_ms = Arc::new(AtomicI64::new(now_ms()));
    let pump = tokio::spawn(pump(event_loop, first_tx, tx, last_publish_ms.clone()));
    let limit = Duration::from_millis(cfg.timeout_ms);
    let first = tokio::time::timeout(limit, first_rx).await;
    let fail = |status: StatusCode| -> Error {
        let cert_refused = matches!(
            status,
            StatusCode::BadSecurityChecksFailed
                | StatusCode::BadCertificateUntrusted
                | StatusCode::BadCertificateInvalid
        );
        if cert_refused && want_policy != SecurityPolicy::None {
            Error::ServerRejectedCertificate {
                endpoint: cfg.endpoint_url.clone(),
                own_cert: pki::PkiDirs::new(&cfg.pki_dir).own_cert(),
                thumbprint: pki::own_thumbprint(&cfg.pki_dir),
                status: status.to_string(),
            }
        } else {
            opc_err(format!("connecting to {}", cfg.endpoint_url), status)
        }
    };
    let err = match first {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(status))) => Some(fail(status)),
        Ok(Err(_)) => Some(fail(StatusCode::BadUnexpectedError)),
        Err(_) => Some(Error::Timeout(limit)),
    };
    if let Some(e) = err {
        pump.abort();
        return Err(e);
    }
    let limits = OperationLimits::read(&session).await;
    debug!(server = %cfg.name, ?limits, "Read the server's operation limits.");
    Ok(Connected {
        session,
        limits,
        events,
        last_publish_ms,
        application_name,
        pump: Some(pump),
    })
}

/// Drives the event loop. Until the first connection, a failure ends it (the caller decides
/// what to do); after that, async-opcua reconnects by itself and we only report.
async fn pump(
    event_loop: opcua::client::SessionEventLoop<opcua::client::transport::TcpConnector>,
    first: oneshot::Sender<std::result::Result<(), StatusCode>>,
    tx: mpsc::Sender<LinkEvent>,
    last_publish: Arc<AtomicI64>,
) {
    let stream = event_loop.enter();
    futures::pin_mut!(stream);
    let mut first = Some(first);
    while let Some(r) = stream.next().await {
        let ev = match r {
            Ok(SessionPollResult::Reconnected(mode)) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                    continue;
                }
                LinkEvent::Back {
                    reactivated: matches!(mode, SessionConnectMode::ReactivatedSession(_)),
                }
            }
            Ok(SessionPollResult::ReconnectFailed(status)) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Err(status));
                    return;
                }
                continue;
            }
            Ok(SessionPollResult::ConnectionLost(status)) => LinkEvent::Lost(status),
            Ok(SessionPollResult::Subscription(opcua::client::SubscriptionActivity::Publish)) => {
                last_publish.store(now_ms(), Ordering::Relaxed);
                continue;
            }
            Ok(_) => continue,
            Err(status) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Err(status));
                    return;
                }
                LinkEvent::Ended(status)
            }
        };
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}
