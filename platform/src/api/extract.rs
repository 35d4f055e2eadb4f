//! Extractors that turn a bad request into a problem naming the field: JSON bodies (via
//! `serde_path_to_error`, after the checks of [`super::input`]), query strings, the caller the
//! access layer authenticated, and the client's address.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::auth::Principal;
use super::problem::ApiError;
use super::AppState;
use crate::store::{Store, TenantId, TenantSession};
use millwright_tenants::plan::Plan;

/// A JSON body whose errors name the offending field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let patch = req.method() == axum::http::Method::PATCH;
        let bytes = body_bytes(req, state).await?;
        parse_json_checked(&bytes, patch).map(Json)
    }
}

/// Reads the whole body, answering 413 past the configured limit.
pub(super) async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body is larger than {} bytes",
                    state.settings.http.max_body_bytes
                ),
            )
            .with_field("body")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()).with_field("body")
        }
    })
}

/// Parses a JSON body, checks every string in it ([`super::input::check_value`]) and
/// deserializes it, naming the path of the first offending field.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_checked(bytes, false)
}

/// [`parse_json`]; for a PATCH (`patch`), a body that changes nothing is refused too.
pub(super) fn parse_json_checked<T: DeserializeOwned>(
    bytes: &[u8],
    patch: bool,
) -> Result<T, ApiError> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        // Which field the JSON broke in (`{"value": NaN}` names `value`), or text after it.
        Err(e) => {
            return Err(parse_json_streaming::<T>(bytes)
                .err()
                .unwrap_or_else(|| syntax_error(e)))
        }
    };
    super::input::check_value(&value)?;
    if patch && !value.is_object() {
        return Err(ApiError::field(
            "body",
            "a PATCH body is a JSON object of the fields to change",
        ));
    }
    if patch && super::input::changes_nothing(&value) {
        return Err(ApiError::field(
            "body",
            "nothing to change: give at least one field with a value",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(data_error)
}

/// Parses JSON straight from the bytes, without building a tree first (ingest batches are
/// large and check their own values sample by sample). Text after the JSON is refused.
pub(super) fn parse_json_streaming<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        // `?` marks a key that never parsed: the text is broken there, not a field's value.
        let at_root = path.is_empty() || path == "." || path.contains('?');
        if (e.inner().is_syntax() || e.inner().is_eof()) && at_root {
            syntax_error(e.into_inner())
        } else {
            // Broken inside a field (`{"value": NaN}`): that field's value is the problem.
            data_error(e)
        }
    })?;
    de.end().map_err(syntax_error)?;
    Ok(value)
}

/// Text that is not JSON at all (or has more after it): 400.
fn syntax_error(e: serde_json::Error) -> ApiError {
    if e.is_data() {
        return ApiError::field("body", e.to_string());
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("the body is not JSON: {e}"),
    )
    .with_field("body")
}

/// JSON of the wrong shape: 422 naming the field.
fn data_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let field = if path == "." || path.is_empty() {
        "body".to_string()
    } else {
        path
    };
    // serde's messages quote the value they refused ("invalid type: integer `1234…`"):
    // for a secret field, say what is wrong without repeating it.
    let detail = if is_secret_field(&field) {
        "invalid value (not shown: the field holds a secret)".to_string()
    } else {
        e.into_inner().to_string()
    };
    ApiError::field(field, detail)
}

/// Whether a field path ends in a field that holds a secret (`owner.password`,
/// `refresh_token`).
pub(super) fn is_secret_field(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    ["password", "token", "secret", "key"]
        .iter()
        .any(|s| last.ends_with(s))
}

/// Query parameters whose errors name the offending parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a query string (without `?`) the way [`Query`] does, naming the offending
/// parameter in the error (also the entry point of the query fuzz target).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    from_pairs::<T>(&pairs).map_err(|e| {
        // A parameter without a name (`?=x`, found by the query fuzz target) is named `query`.
        let field = Some(culprit::<T>(&pairs, &e))
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "query".into());
        ApiError::field(field, e)
    })
}

fn from_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, String> {
    let encoded = serde_urlencoded::to_string(pairs).map_err(|e| e.to_string())?;
    serde_urlencoded::from_str(&encoded).map_err(|e| e.to_string())
}

/// The parameter behind a query error. serde_urlencoded does not report paths, so each
/// parameter is left out in turn: the one whose absence cures the error (or turns it into
/// "missing field") is the culprit.
fn culprit<T: DeserializeOwned>(pairs: &[(String, String)], error: &str) -> String {
    for (i, (key, _)) in pairs.iter().enumerate() {
        let rest: Vec<(String, String)> = pairs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.clone())
            .collect();
        match from_pairs::<T>(&rest) {
            Ok(_) => return key.clone(),
            Err(e) if e.contains(&format!("missing field `{key}`")) => return key.clone(),
            Err(_) => {}
        }
    }
    error
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "query".to_string())
}

/// A caller inside a tenant, as the access layer ([`super::access`]) authenticated and
/// authorised it: routes that touch a tenant's data take this.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's tenant.
    pub tenant: TenantId,
    /// Everything else known about the caller.
    pub principal: Principal,
}

impl Caller {
    /// A store session for the caller's tenant that records the caller in the audit log (and,
    /// for a device token scoped to a site, sees only that site).
    pub async fn session(&self, store: &Store) -> crate::error::Result<TenantSession> {
        Ok(store
            .tenant(self.tenant)
            .await?
            .acting_as(self.principal.actor.clone())
            .scoped_to_site(self.principal.site))
    }

    /// The tenant's plan (every tenant has one).
    pub fn plan(&self) -> Plan {
        self.principal.plan.unwrap_or(Plan::Monitor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, &()).await?;
        match principal.tenant {
            Some(tenant) => Ok(Caller { tenant, principal }),
            None => Err(ApiError::forbidden(
                "this route reads one tenant's data; the caller belongs to none",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The access layer puts it there for every route that needs a caller; its absence
        // means the route is missing from the permission table, which the tests catch.
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <token or API key>")
        })
    }
}

/// The client's address: the socket's peer, or with `http.forwarded_for_hops = n` the n-th
/// address from the right of `X-Forwarded-For` (the one the outermost trusted proxy saw).
/// `None` when neither is known (a router called without a socket, in tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(Option<std::net::IpAddr>);

impl ClientAddr {
    /// The address, if known.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.0
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let hops = state.settings.http.forwarded_for_hops;
        if hops == 0 {
            return Ok(Self(peer));
        }
        let forwarded: Vec<std::net::IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        Ok(Self(
            forwarded
                .len()
                .checked_sub(hops)
                .and_then(|i| forwarded.get(i).copied())
                .or(peer),
        ))
    }
}
