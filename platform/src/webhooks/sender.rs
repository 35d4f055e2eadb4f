//! The sender: claims due deliveries (every `webhooks.poll_secs`, or at once when a change
//! wrote events), POSTs each signed envelope, and records the attempt: a 2xx answer delivers
//! it; anything else (another status, a timeout, a refused connection) schedules the next
//! attempt by [`super::backoff`], until the delivery is older than the give-up age.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::signature;
use crate::config::WebhookSettings;
use crate::store::webhooks::{AttemptOutcome, DueDelivery};
use crate::store::Store;

/// Runs the sender until `stop` is cancelled.
pub async fn run(
    store: Store,
    settings: WebhookSettings,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Millwright-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Could not build the webhook HTTP client; webhooks are not sent.");
            return;
        }
    };
    let backoff = settings.backoff();
    let poll = Duration::from_millis((settings.poll_secs.max(1) * 1000).min(60_000));
    let mut last_prune: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        loop {
            let due = match store
                .claim_due_deliveries(32, settings.timeout_secs as i64 * 2 + 30)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "Claiming webhook deliveries failed; retrying shortly.");
                    break;
                }
            };
            if due.is_empty() {
                break;
            }
            let (client, store, settings) = (&client, &store, &settings);
            futures::stream::iter(due)
                .for_each_concurrent(8, |d| async move {
                    let outcome = attempt(client, settings, &backoff, &d).await;
                    if let Err(e) = store.record_delivery_attempt(&d, &outcome).await {
                        tracing::warn!(delivery = d.id, error = %e, "Recording a webhook attempt failed; it will be retried after its lease.");
                    }
                })
                .await;
        }
        if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            last_prune = Some(Instant::now());
            match store.prune_webhook_events(settings.keep_days as i32).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "Old webhook events pruned."),
                Err(e) => tracing::warn!(error = %e, "Pruning webhook events failed."),
            }
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    backoff: &Backoff,
    d: &DueDelivery,
) -> AttemptOutcome {
    let started = Instant::now();
    let result = send(client, settings, d).await;
    let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let (status_code, error, delivered) = match result {
        Ok(status) => (Some(i32::from(status.as_u16())), None, status.is_success()),
        Err(e) => (None, Some(e), false),
    };
    let failures = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
    let next_attempt_at = if delivered {
        None
    } else {
        backoff.next_attempt(d.created_at, failures, Utc::now())
    };
    if delivered {
        tracing::debug!(tenant = %d.tenant, delivery = d.id, "Webhook delivered.");
    } else if next_attempt_at.is_none() {
        tracing::warn!(tenant = %d.tenant, delivery = d.id, url = %d.url, "Webhook delivery given up after its last attempt.");
    } else {
        tracing::info!(tenant = %d.tenant, delivery = d.id, status = ?status_code, error = ?error, "Webhook attempt failed; retrying later.");
    }
    AttemptOutcome {
        status_code,
        error,
        duration_ms,
        delivered,
        next_attempt_at,
    }
}

async fn send(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    d: &DueDelivery,
) -> Result<reqwest::StatusCode, String> {
    if !settings.allow_private_targets {
        refuse_private(&d.url).await?;
    }
    let body = serde_json::to_vec(&d.envelope).map_err(|e| e.to_string())?;
    let t = Utc::now().timestamp();
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header(signature::HEADER, signature::header(&d.secret, t, &body))
        .header("Millwright-Event-Id", &d.envelope.id)
        .header("Millwright-Event-Type", &d.envelope.event_type)
        .header("Millwright-Delivery-Id", d.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // reqwest's message names the URL only; the cause says what happened.
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg = format!("{msg}: {s}");
                source = s.source();
            }
            msg.chars().take(500).collect::<String>()
        })?;
    Ok(response.status())
}

/// Refuses a URL whose host resolves to a loopback, private, link-local or unspecified
/// address (a tenant must not reach the platform's own network through webhooks).
async fn refuse_private(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?;
    for a in addrs {
        if is_private(a.ip()) {
            return Err(format!(
                "{host} resolves to {}, a private address (webhooks.allow_private_targets is off)",
                a.ip()
            ));
        }
    }
    Ok(())
}

/// Whether an address is loopback, private, link-local, unique-local or unspecified.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10 CGNAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "2001:4860::8888", "100.128.0.1"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }
}
