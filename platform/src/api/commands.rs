//! Setpoint commands: `POST /tags/{id}/commands` issues one, connectors claim theirs with
//! `GET /commands/pending`, write them to the device and answer with
//! `POST /commands/{id}/result`; `GET /commands/{id}` tells where one stands. Storage is in
//! `store::commands`; another tenant's tag or command is a plain 404.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Caller, Json};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::commands::Command;

/// Most commands one `GET /commands/pending` claims.
const MAX_CLAIM: i64 = 100;

/// A setpoint to write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// The engineering value to write (a finite number; scale and offset are the connector's).
    pub value: Option<f64>,
    /// Seconds a connector has to claim it (default 300, at most 86400); unclaimed by then, it
    /// expires and is never written.
    pub expires_in_secs: Option<u32>,
}

/// Default of [`IssueBody::expires_in_secs`].
const DEFAULT_TTL_SECS: u32 = 300;
/// Largest [`IssueBody::expires_in_secs`]: a day.
const MAX_TTL_SECS: u32 = 86_400;

/// A connector's report on a command it claimed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    /// Whether the value was written to the device.
    pub ok: Option<bool>,
    /// What happened, e.g. the device's exception or why the tag cannot be written.
    #[serde(default)]
    pub detail: String,
}

/// Issues a setpoint command for a tag; a connector that feeds the tag writes it.
#[utoipa::path(
    post, path = "/tags/{id}/commands", tag = "commands",
    params(("id" = i64, Path, description = "The tag's id")),
    request_body = IssueBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Command),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or non-finite value", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(tag_id): Path<i64>,
    Json(body): Json<IssueBody>,
) -> ApiResult<(StatusCode, axum::Json<Command>)> {
    let value = body
        .value
        .ok_or_else(|| ApiError::field("value", "missing"))?;
    if !value.is_finite() {
        return Err(ApiError::field("value", "must be a finite number"));
    }
    let ttl = body.expires_in_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::field(
            "expires_in_secs",
            format!("must be between 1 and {MAX_TTL_SECS}"),
        ));
    }
    let mut session = caller.session(&state.store).await?;
    let command = session
        .issue_command(tag_id, value, ttl)
        .await?
        .ok_or_else(|| ApiError::not_found("tag"))?;
    tracing::info!(tenant = %caller.tenant, command = command.id, tag = %command.tag, value, "Setpoint command issued.");
    Ok((StatusCode::CREATED, axum::Json(command)))
}

/// Claims the caller's pending commands (oldest first, at most 100) and marks them delivered.
/// Connectors poll this; with `tag` parameters, only commands for those tag names are claimed.
#[utoipa::path(
    get, path = "/commands/pending", tag = "commands",
    params(("tag" = Option<Vec<String>>, Query, explode = true,
            description = "Only commands for tags of these names (repeat the parameter); absent: all")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The commands now delivered to the caller", body = Vec<Command>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pending(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<axum::Json<Vec<Command>>> {
    let mut tags: Option<Vec<String>> = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "tag" {
            return Err(ApiError::field(key, "unknown parameter (expected `tag`)"));
        }
        tags.get_or_insert_with(Vec::new).push(value.into_owned());
    }
    let mut session = caller.session(&state.store).await?;
    let claimed = session.claim_commands(tags.as_deref(), MAX_CLAIM).await?;
    if !claimed.is_empty() {
        tracing::info!(tenant = %caller.tenant, commands = claimed.len(), "Setpoint commands delivered to a connector.");
    }
    Ok(axum::Json(claimed))
}

/// Records the outcome of a command: done when `ok`, failed otherwise, with `detail`.
#[utoipa::path(
    post, path = "/commands/{id}/result", tag = "commands",
    params(("id" = i64, Path, description = "The command's id")),
    request_body = ResultBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Command),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such command", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The command already has its outcome", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ResultBody>,
) -> ApiResult<axum::Json<Command>> {
    let ok = body.ok.ok_or_else(|| ApiError::field("ok", "missing"))?;
    let mut session = caller.session(&state.store).await?;
    if let Some(command) = session.report_command(id, ok, &body.detail).await? {
        if ok {
            tracing::info!(tenant = %caller.tenant, command = id, tag = %command.tag, "Setpoint command done.");
        } else {
            tracing::warn!(tenant = %caller.tenant, command = id, tag = %command.tag, detail = %body.detail, "Setpoint command failed.");
        }
        return Ok(axum::Json(command));
    }
    match session.command(id).await? {
        Some(c) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("command {id} is already {:?}", c.status).to_lowercase(),
        )
        .with_field("id")),
        None => Err(ApiError::not_found("command")),
    }
}

/// One command: where it stands and what the connector reported.
#[utoipa::path(
    get, path = "/commands/{id}", tag = "commands",
    params(("id" = i64, Path, description = "The command's id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Command),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Command>> {
    let mut session = caller.session(&state.store).await?;
    session
        .command(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("command"))
}
