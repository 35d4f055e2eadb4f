//! Secrets never reach the logs or an error body: every log line of a run that signs in,
//! refreshes, issues, uses and revokes keys, and sends malformed requests carrying secrets is
//! captured at TRACE level and searched for each secret in clear.

use std::io::Write;
use std::sync::{Arc, Mutex};

use millwright_platform::test_util::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const OPERATOR_KEY: &str = "mwk_opsecret_0123456789abcdefghijABCDEFGHIJ0123456789abc";
const PASSWORD: &str = "Sup3r-secret-passphrase!";
const WRONG_PASSWORD: &str = "Wr0ng-but-still-secret?";

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_an_error_body() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let app = TestApp::spawn_with(|s| {
        s.auth.operator_key_sha256 = Some(hex::encode(Sha256::digest(OPERATOR_KEY.as_bytes())));
    })
    .await;
    let mut secrets: Vec<String> =
        vec![OPERATOR_KEY.into(), PASSWORD.into(), WRONG_PASSWORD.into()];
    let mut bodies = Vec::new();
    let mut call = |r: (StatusCode, serde_json::Value, String)| {
        bodies.push(r.1.to_string());
        r
    };

    call(
        app.call(
            Method::POST,
            "/api/v1/admin/tenants",
            Some(OPERATOR_KEY),
            Some(json!({"name": "secretive", "plan": "pro",
                        "owner": {"email": "owner@secretive.example", "password": PASSWORD}})),
        )
        .await,
    );
    let login = |password: &'static str| {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "owner@secretive.example", "password": password})),
        )
    };
    let (s, _, _) = call(login(WRONG_PASSWORD).await);
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, tokens, _) = login(PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    secrets.extend([access.clone(), refresh.clone()]);

    let (_, rotated, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    secrets.push(rotated["refresh_token"].as_str().unwrap().into());
    secrets.push(rotated["access_token"].as_str().unwrap().into());
    // Reuse: refused, and the refusal must not echo the token.
    call(
        app.call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await,
    );
    let (_, tokens, _) = login(PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    secrets.push(access.clone());

    let (_, issued, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&access),
            Some(json!({"name": "conn", "role": "viewer"})),
        )
        .await;
    let key = issued["key"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    call(
        app.call(Method::GET, "/api/v1/tags", Some(&key), None)
            .await,
    );
    call(
        app.call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", issued["id"]),
            Some(&access),
            None,
        )
        .await,
    );
    let (s, _, _) = call(
        app.call(Method::GET, "/api/v1/tags", Some(&key), None)
            .await,
    );
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Malformed requests that carry secrets where they do not belong.
    let numeric_password = "918273645546372819";
    secrets.push(numeric_password.into());
    let (s, p, _) = call(
        app.call(
            Method::POST,
            "/api/v1/users",
            Some(&access),
            Some(json!({"email": "x@secretive.example", "role": "viewer",
                        "password": numeric_password.parse::<u64>().unwrap()})),
        )
        .await,
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "password");
    let garbled = format!("{key}Z");
    call(
        app.call(Method::GET, "/api/v1/tags", Some(&garbled), None)
            .await,
    );
    let forged_jwt = format!("{access}x");
    call(
        app.call(Method::GET, "/api/v1/tags", Some(&forged_jwt), None)
            .await,
    );
    call(
        app.call(
            Method::GET,
            &format!("/api/v1/tags?api_key={key}&token={access}"),
            Some(&access),
            None,
        )
        .await,
    );
    call(
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "owner@secretive.example", "password": PASSWORD, "extra": PASSWORD})),
        )
        .await,
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("User signed in."),
        "logs were not captured:\n{logs}"
    );
    assert!(logs.contains("Issued an API key."));
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
        // The secret part of a key is what matters; its public prefix may be logged.
        if let Some((_, tail)) = secret.rsplit_once('_') {
            if tail.len() > 20 {
                assert!(!logs.contains(tail), "a key's secret part reached the logs");
            }
        }
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a secret reached an error body: {body}"
            );
        }
    }
}
