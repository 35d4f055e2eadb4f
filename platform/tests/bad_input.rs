//! Bad input answers a clear 4xx problem naming what is wrong, never a 500 or another format
//! (issue #11): NUL in any text, empty PATCH bodies, timestamps out of range or on a leap
//! second, path ids that do not parse, wrong methods, text after the JSON, the wrong
//! Content-Type, oversized fields, and another tenant's email.

use millwright_platform::test_util::{tenant_with_tags, TestApp, TestTenant};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Ctx {
    app: TestApp,
    a: TestTenant,
}

async fn ctx() -> Ctx {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = TestApp::spawn().await;
    let a = tenant_with_tags(&app.store, "tenant-a", &["a.temp"]).await;
    Ctx { app, a }
}

/// Sends a raw request; returns (status, problem body, content type, response headers).
async fn raw(
    c: &Ctx,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value, String, reqwest::header::HeaderMap) {
    let mut req = c
        .app
        .http()
        .request(method, format!("{}{path}", c.app.url))
        .bearer_auth(&c.a.key);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, ct, headers)
}

async fn json_call(c: &Ctx, method: Method, path: &str, body: &str) -> (StatusCode, Value, String) {
    let (s, b, ct, _) = raw(c, method, path, Some("application/json"), Some(body.into())).await;
    (s, b, ct)
}

#[track_caller]
fn assert_problem(got: &(StatusCode, Value, String), status: StatusCode, field: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.2, "application/problem+json", "{}", got.1);
    assert_eq!(got.1["status"], status.as_u16(), "{}", got.1);
    assert_eq!(got.1["field"], field, "{}", got.1);
}

#[tokio::test]
async fn nul_in_any_text_is_refused_naming_the_field() {
    let c = ctx().await;
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/sites",
        r#"{"name":"north\u0000"}"#,
    )
    .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "name");
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/auth/login",
        r#"{"email":"a\u0000@b.example","password":"x"}"#,
    )
    .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "email");
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/machines/1/events",
        r#"{"kind":"failure","at":"2026-01-01T00:00:00Z","note":"x\u0000"}"#,
    )
    .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "note");
    // Query strings, including routes that read the raw query.
    for (path, field) in [
        ("/api/v1/sites?after=1%002", "after"),
        ("/api/v1/commands/pending?tag=a%00b", "tag"),
        ("/api/v1/alarms?state=op%00en", "state"),
    ] {
        let (s, b, ct, _) = raw(&c, Method::GET, path, None, None).await;
        assert_problem(&(s, b, ct), StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let (s, b, ct, _) = raw(&c, Method::GET, "/api/v1/sites/%00", None, None).await;
    assert_problem(&(s, b, ct), StatusCode::BAD_REQUEST, "path");
    // Ingest refuses that one sample and keeps the good one beside it.
    let now = chrono::Utc::now().to_rfc3339();
    let body = format!(
        r#"{{"samples":[{{"tag":"a.te\u0000mp","time":"{now}","value":1}},{{"tag":"a.temp","time":"{now}","value":2}}]}}"#
    );
    let (s, b, _) = json_call(&c, Method::POST, "/api/v1/ingest", &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["accepted"], 1);
    assert_eq!(b["rejected"][0]["field"], "samples[0].tag");
}

#[tokio::test]
async fn empty_or_all_null_patches_are_422() {
    let c = ctx().await;
    let site = format!("/api/v1/sites/{}", c.a.site_id);
    for body in [
        "{}",
        r#"{"name":null}"#,
        r#"{"name":null,"description":null}"#,
    ] {
        let got = json_call(&c, Method::PATCH, &site, body).await;
        assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "body");
        let got = json_call(&c, Method::PATCH, "/api/v1/tenant", body).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    }
    let got = json_call(&c, Method::PATCH, &site, r#"{"description":"x"}"#).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
}

#[tokio::test]
async fn timestamps_out_of_range_or_on_a_leap_second_are_422() {
    let c = ctx().await;
    let tag = c.a.tag_ids[0];
    for (query, field) in [
        ("from=-5000-01-01T00:00:00Z", "from"),
        ("to=%2B10000-01-01T00:00:00Z", "to"),
        (
            "bucket=1d&from=-200000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
        ),
        ("from=2016-12-31T23:59:60Z&to=2017-01-01T00:00:10Z", "from"),
    ] {
        let (s, b, ct, _) = raw(
            &c,
            Method::GET,
            &format!("/api/v1/tags/{tag}/samples?{query}"),
            None,
            None,
        )
        .await;
        assert_problem(&(s, b, ct), StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    // A bucketed query at the far edge of what is allowed answers, without panicking.
    let (s, b, _, _) = raw(
        &c,
        Method::GET,
        &format!(
            "/api/v1/tags/{tag}/samples?bucket=31d&agg=max&from=0001-01-01T00:00:00Z&to=0001-12-01T00:00:00Z"
        ),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got = json_call(
        &c,
        Method::POST,
        &format!("/api/v1/machines/{}/events", c.a.machine_id),
        r#"{"kind":"failure","at":"2016-12-31T23:59:60Z"}"#,
    )
    .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "at");
    let body = r#"{"samples":[{"tag":"a.temp","time":"2016-12-31T23:59:60Z","value":1}]}"#;
    let got = json_call(&c, Method::POST, "/api/v1/ingest", body).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    assert!(got.1["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("leap second"));
}

#[tokio::test]
async fn path_ids_that_do_not_parse_are_problem_400() {
    let c = ctx().await;
    for (path, field) in [
        ("/api/v1/sites/abc", "id"),
        ("/api/v1/tags/99999999999999999999", "id"),
        ("/api/v1/tags/1.5/samples", "id"),
        ("/api/v1/machines/1/events/x", "event_id"),
    ] {
        let (s, b, ct, _) = raw(&c, Method::GET, path, None, None).await;
        let method_ok = s != StatusCode::METHOD_NOT_ALLOWED;
        if path.ends_with("/x") {
            // DELETE is the only method there.
            let (s, b, ct, _) = raw(&c, Method::DELETE, path, None, None).await;
            assert_problem(&(s, b, ct), StatusCode::BAD_REQUEST, field);
            continue;
        }
        assert!(method_ok);
        assert_problem(&(s, b, ct), StatusCode::BAD_REQUEST, field);
    }
}

#[tokio::test]
async fn wrong_methods_are_problem_405_with_allow() {
    let c = ctx().await;
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/sites", "GET, POST, HEAD"),
        (Method::DELETE, "/api/v1/sites", "GET, POST, HEAD"),
        (Method::PUT, "/api/v1/sites/1", "GET, PATCH, DELETE, HEAD"),
        (Method::GET, "/api/v1/ingest", "POST"),
    ] {
        let (s, b, ct, headers) = raw(&c, method.clone(), path, None, None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {b}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn bodies_must_be_json_and_only_json() {
    let c = ctx().await;
    // Text after the JSON.
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/sites",
        r#"{"name":"x"} {"name":"y"}"#,
    )
    .await;
    assert_problem(&got, StatusCode::BAD_REQUEST, "body");
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/ingest",
        r#"{"samples":[]} trailing"#,
    )
    .await;
    assert_problem(&got, StatusCode::BAD_REQUEST, "body");
    let got = json_call(&c, Method::POST, "/api/v1/sites", "{not json").await;
    assert_problem(&got, StatusCode::BAD_REQUEST, "body");
    // The wrong Content-Type, or none.
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (s, b, t, _) = raw(
            &c,
            Method::POST,
            "/api/v1/sites",
            ct,
            Some(r#"{"name":"x"}"#.into()),
        )
        .await;
        assert_problem(
            &(s, b, t),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        );
    }
    let (s, b, _, _) = raw(
        &c,
        Method::POST,
        "/api/v1/sites",
        Some("application/json; charset=utf-8"),
        Some(r#"{"name":"x"}"#.into()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn fields_have_size_limits_below_the_body_limit() {
    let c = ctx().await;
    let description = "x".repeat(15 << 20);
    let body = serde_json::to_string(&json!({"name": "big", "description": description})).unwrap();
    let got = json_call(&c, Method::POST, "/api/v1/sites", &body).await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "description");
    let (_, sites, _, _) = raw(&c, Method::GET, "/api/v1/sites", None, None).await;
    assert!(!sites.to_string().contains("\"big\""), "nothing stored");
}

/// The probe's finding: creating a user with another tenant's email answered 409 naming the
/// field, revealing that the address exists elsewhere. Emails are unique per tenant now.
#[tokio::test]
async fn another_tenants_email_is_not_revealed() {
    let c = ctx().await;
    let b = tenant_with_tags(&c.app.store, "tenant-b", &[]).await;
    let password = "correct horse battery staple";
    let user =
        |email: &str| json!({"email": email, "role": "viewer", "password": password}).to_string();
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/users",
        &user("ana@shared.example"),
    )
    .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    // B's admin adds the same address: accepted like any other.
    let res = c
        .app
        .http()
        .post(format!("{}/api/v1/users", c.app.url))
        .bearer_auth(&b.key)
        .header("content-type", "application/json")
        .body(user("Ana@Shared.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Within one tenant an address is still taken once.
    let got = json_call(
        &c,
        Method::POST,
        "/api/v1/users",
        &user("ana@shared.example"),
    )
    .await;
    assert_problem(&got, StatusCode::CONFLICT, "email");
    // Both can sign in; the same password in both tenants needs the tenant named.
    let login = |body: Value| {
        let app = &c.app;
        async move {
            app.call(Method::POST, "/api/v1/auth/login", None, Some(body))
                .await
        }
    };
    let (s, p, _) = login(json!({"email": "ana@shared.example", "password": password})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "tenant_id");
    for tenant in [c.a.id.0, b.id.0] {
        let (s, tokens, _) = login(
            json!({"email": "ana@shared.example", "password": password, "tenant_id": tenant}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (_, me, _) = c
            .app
            .call(
                Method::GET,
                "/api/v1/me",
                tokens["access_token"].as_str(),
                None,
            )
            .await;
        assert_eq!(me["tenant"], tenant);
    }
}

/// Found by the fuzzer: a PATCH body that is a JSON array of nulls filled the fields by
/// position, changed nothing, and answered 500.
#[tokio::test]
async fn a_patch_body_must_be_an_object() {
    let c = ctx().await;
    let site = format!("/api/v1/sites/{}", c.a.site_id);
    for body in ["[null, null]", "[\"renamed\"]", "\"x\"", "3"] {
        let got = json_call(&c, Method::PATCH, &site, body).await;
        assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "body");
    }
}
