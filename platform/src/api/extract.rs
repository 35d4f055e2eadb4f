//! Extractors that turn a bad request into a problem naming the field: JSON bodies (via
//! `serde_path_to_error`), query strings, and the caller's tenant from its API key.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use super::AppState;
use crate::store::TenantId;

/// A JSON body whose errors name the offending field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
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

/// Parses JSON, naming the path of the first offending field.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "body".to_string()
        } else {
            path
        };
        ApiError::field(field, e.into_inner().to_string())
    })
}

/// Query parameters whose errors name the offending parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        from_pairs::<T>(&pairs)
            .map(Query)
            .map_err(|e| ApiError::field(culprit::<T>(&pairs, &e), e))
    }
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

/// The caller's tenant, from `Authorization: Bearer <API key>`.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub TenantId);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <API key>"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <API key>`"))?;
        let digest = millwright_tenants::api_key::digest(key.trim())
            .map_err(|_| ApiError::unauthorized("invalid API key"))?;
        match state.store.authenticate(&digest).await? {
            Some(tenant) => Ok(Caller(tenant)),
            None => Err(ApiError::unauthorized(
                "invalid, expired or revoked API key",
            )),
        }
    }
}
