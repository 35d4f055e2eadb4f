//! Response headers every answer carries, and the cross-origin policy.
//!
//! - Every answer: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer`, and with HTTPS `Strict-Transport-Security`.
//! - API answers (`/api/…`, JSON, never a page): a content security policy that allows
//!   nothing (`default-src 'none'; frame-ancestors 'none'`), `Cache-Control: no-store`
//!   (they are per caller) and `Cross-Origin-Resource-Policy: same-origin`.
//!
//! A header a route set itself is kept (the console sends its own policy for its pages).
//!
//! CORS: the console the platform serves is same-origin and needs none. Browsers on other
//! origins get answers they may read only for the origins in `http.cors_allowed_origins`
//! (none by default); preflights are answered before authentication.

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::AppState;

const EVERYWHERE: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

const API: [(HeaderName, &str); 3] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// HSTS for a year, for the host only (other services may share the domain).
const HSTS: &str = "max-age=31536000";

/// The middleware adding the headers above.
pub async fn secure(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    for (name, value) in EVERYWHERE {
        set(name, value);
    }
    if api {
        for (name, value) in API {
            set(name, value);
        }
    }
    if state.settings.http.tls_cert_file.is_some() {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

/// The cross-origin policy: the configured origins only, with the methods and headers the API
/// uses; `Retry-After` readable so a console elsewhere can back off.
pub fn cors(allowed: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(600))
}
