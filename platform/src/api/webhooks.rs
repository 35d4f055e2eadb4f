//! Webhook endpoints (admins only): `GET`/`POST /webhooks`, `GET`/`PATCH`/`DELETE
//! /webhooks/{id}`, the delivery log `GET /webhooks/{id}/deliveries`, redelivery `POST
//! /webhooks/{id}/deliveries/{delivery_id}/redeliver` and `POST /webhooks/{id}/test`. The
//! machinery is in [`crate::webhooks`]; storage in `store::webhooks`.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::webhooks::{Delivery, EndpointPatch, NewEndpoint, WebhookEndpoint};
use crate::webhooks::event;

/// An endpoint to create or the fields to change (PATCH: absent fields stay).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// `https://…` (or `http://…`) URL that receives POSTed events. Required.
    pub url: Option<String>,
    /// Free text, at most 500 characters.
    pub description: Option<String>,
    /// Event types to receive (default: all of `alarm.raised`, `alarm.cleared`,
    /// `alarm.acknowledged`).
    pub event_types: Option<Vec<String>>,
    /// Whether events are sent (default true).
    pub enabled: Option<bool>,
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The signing secret (`whsec_…`): verify `Millwright-Signature` with it. Not shown again.
    pub secret: String,
}

/// Query parameters of `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries with a smaller id (paging, newest first).
    before: Option<i64>,
    /// Most to return (default 50, at most 500).
    limit: Option<i64>,
}

fn check_url(url: &str, allow_private: bool) -> Result<(), ApiError> {
    let bad = |d: &str| ApiError::field("url", d.to_string());
    if url.chars().count() > 2000 {
        return Err(bad("at most 2000 characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(bad("must be an https:// (or http://) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not carry credentials; verify the signature instead",
        ));
    }
    let Some(host) = parsed.host_str() else {
        return Err(bad("has no host"));
    };
    if !allow_private {
        let literal = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost")
            || literal.is_some_and(crate::webhooks::sender::is_private)
        {
            return Err(bad(
                "points at a loopback or private address, which this platform does not send to",
            ));
        }
    }
    Ok(())
}

fn check_types(types: Vec<String>) -> Result<Vec<String>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::field(
            "event_types",
            "name at least one event type",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in types.into_iter().enumerate() {
        if !event::is_known(&t) {
            return Err(ApiError::field(
                format!("event_types[{i}]"),
                format!(
                    "unknown event type; known: {}",
                    event::EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_description(d: &str) -> Result<(), ApiError> {
    if d.chars().count() > 500 {
        return Err(ApiError::field("description", "at most 500 characters"));
    }
    Ok(())
}

/// Lists the tenant's webhook endpoints.
#[utoipa::path(
    get, path = "/webhooks", tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<WebhookEndpoint>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<WebhookEndpoint>>> {
    let mut session = caller.session(&state.store).await?;
    Ok(axum::Json(session.webhooks().await?))
}

/// Creates an endpoint; the answer carries its signing secret, shown only this once.
#[utoipa::path(
    post, path = "/webhooks", tag = "webhooks",
    request_body = WebhookBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<WebhookBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedWebhook>)> {
    let url = body.url.ok_or_else(|| ApiError::field("url", "missing"))?;
    check_url(&url, state.settings.webhooks.allow_private_targets)?;
    let description = body.description.unwrap_or_default();
    check_description(&description)?;
    let event_types = check_types(
        body.event_types
            .unwrap_or_else(|| event::DEFAULT_TYPES.iter().map(|t| t.to_string()).collect()),
    )?;
    let mut session = caller.session(&state.store).await?;
    let (endpoint, secret) = session
        .create_webhook(&NewEndpoint {
            url,
            description,
            event_types,
            enabled: body.enabled.unwrap_or(true),
        })
        .await?;
    tracing::info!(tenant = %caller.tenant, webhook = endpoint.id, "Webhook endpoint created.");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhook { endpoint, secret }),
    ))
}

/// One endpoint (without its secret).
#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = WebhookEndpoint),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WebhookEndpoint>> {
    let mut session = caller.session(&state.store).await?;
    session
        .webhook(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// Changes an endpoint (URL, description, event types, enabled).
#[utoipa::path(
    patch, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = WebhookBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = WebhookEndpoint),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<WebhookBody>,
) -> ApiResult<axum::Json<WebhookEndpoint>> {
    if let Some(url) = &body.url {
        check_url(url, state.settings.webhooks.allow_private_targets)?;
    }
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    let event_types = body.event_types.map(check_types).transpose()?;
    let mut session = caller.session(&state.store).await?;
    let endpoint = session
        .update_webhook(
            id,
            &EndpointPatch {
                url: body.url,
                description: body.description,
                event_types,
                enabled: body.enabled,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    tracing::info!(tenant = %caller.tenant, webhook = id, "Webhook endpoint changed.");
    Ok(axum::Json(endpoint))
}

/// Deletes an endpoint with its delivery log.
#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut session = caller.session(&state.store).await?;
    if session.delete_webhook(id).await? {
        tracing::info!(tenant = %caller.tenant, webhook = id, "Webhook endpoint deleted.");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook endpoint"))
    }
}

/// The endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id"), DeliveryQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<Delivery>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<axum::Json<Vec<Delivery>>> {
    let limit = super::input::limit(q.limit, 50, 500)?;
    let mut session = caller.session(&state.store).await?;
    session
        .deliveries(id, q.before, limit)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// Sends a delivery's event again, as a new delivery (same event id and body, new signature).
#[utoipa::path(
    post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The endpoint's id"),
        ("delivery_id" = i64, Path, description = "The delivery's id"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued", body = Delivery),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(i64, i64)>,
) -> ApiResult<(StatusCode, axum::Json<Delivery>)> {
    let mut session = caller.session(&state.store).await?;
    let delivery = session
        .redeliver(id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    state.webhook_wake.notify_one();
    tracing::info!(tenant = %caller.tenant, webhook = id, delivery = delivery_id, "Webhook redelivery queued.");
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// Sends a `webhook.test` event to this endpoint only (whatever its event types).
#[utoipa::path(
    post, path = "/webhooks/{id}/test", tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued", body = Delivery),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<Delivery>)> {
    let mut session = caller.session(&state.store).await?;
    let delivery = session
        .test_webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    state.webhook_wake.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}
