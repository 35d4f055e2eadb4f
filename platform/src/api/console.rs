//! Serving the web console ([`crate::console`]): `/` and `/console` lead to `/console/`, the
//! HTML shell in the browser's language; `/console/v/<version>/<path>` serves the embedded
//! files, cached for a year. All are public (the files hold no data; every data call the
//! console makes goes through the API and its access table).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::problem::ApiError;
use super::AppState;
use crate::console::{assets, language, page};

/// The console's routes (each is `Public` in [`super::access::ROUTES`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(shell))
        .route("/console/v/{version}/{*path}", get(asset))
}

async fn to_console() -> Redirect {
    Redirect::to("/console/")
}

async fn shell(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = language::negotiate(accept);
    let html = page::shell(&assets::bundle().base(), lang);
    let mut response = html.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(page::SHELL_CACHE),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-language"));
    secure(response)
}

async fn asset(Path((version, path)): Path<(String, String)>) -> Response {
    let bundle = assets::bundle();
    // Another version's files are gone: a shell that old must be reloaded, not mixed.
    let found = (version == bundle.version)
        .then(|| bundle.get(&path))
        .flatten();
    let Some(file) = found else {
        return secure(ApiError::not_found("console file").into_response());
    };
    let mut response = file.body.clone().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(page::ASSET_CACHE),
    );
    secure(response)
}

fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in page::SECURITY_HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
