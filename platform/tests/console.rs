//! The web console over HTTP (the browser tests are in `tests/tests/console_browser.rs`): the
//! shell and its files with their caching and security headers, the `fill` option the trends
//! use, and the audit-chain verification the audit page shows.

use chrono::{Duration, DurationRound, Utc};
use millwright_platform::console::assets;
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use millwright_tenants::role::Role;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn header(r: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> &str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_shell_and_its_files_are_served_with_caching_and_a_content_security_policy() {
    let app = TestApp::spawn().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/console"] {
        let r = plain
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(header(&r, LOCATION), "/console/");
    }

    let shell = |lang: &'static str| {
        app.http()
            .get(format!("{}/console/", app.url))
            .header("accept-language", lang)
            .send()
    };
    let r = shell("zh-CN,zh;q=0.9,en;q=0.5").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&r, CACHE_CONTROL), "no-cache");
    let csp = header(&r, "content-security-policy").to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<html lang="zh-CN">"#));
    let en = shell("en-GB,en").await.unwrap().text().await.unwrap();
    assert!(en.contains(r#"<html lang="en">"#));

    // Every file the shell names, and every file of the bundle, is served under the version
    // with a year of caching; the shell names the current version.
    let bundle = assets::bundle();
    let base = bundle.base();
    let named: Vec<&str> = html
        .split(['"'])
        .filter(|s| s.starts_with("/console/v/"))
        .collect();
    assert!(named.len() >= 4, "{html}");
    assert!(named.iter().all(|p| p.starts_with(&base)), "{named:?}");
    for path in bundle.paths() {
        let r = app
            .http()
            .get(format!("{}{base}/{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&r, CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&r, CONTENT_TYPE), assets::content_type(path));
        assert!(header(&r, "content-security-policy").contains("default-src 'none'"));
        let body = r.bytes().await.unwrap();
        assert_eq!(body, bundle.get(path).unwrap().body, "{path}");
    }
    let permissions: Value = app
        .http()
        .get(format!("{}{base}/permissions.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(permissions["allowed"]["operator"]["monitor"]
        .as_array()
        .unwrap()
        .contains(&json!("acknowledge_alarms")));

    // Another version's files, unknown files and climbing out: 404 problem+json.
    for path in [
        "/console/v/0000000000000000/app.js".to_string(),
        format!("{base}/nope.js"),
        format!("{base}/../../api/v1/openapi.json"),
        format!("{base}/%2e%2e/Cargo.toml"),
    ] {
        let (status, _, content_type) = app.call(Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type, "application/problem+json", "{path}");
    }
}

#[tokio::test]
async fn bucketed_samples_fill_empty_buckets_and_refuse_unknown_fills() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "filled", &["press.force"]).await;
    let tag = t.tag_ids[0];
    let start = Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::minutes(10);
    // Minutes 0, 1 and 5 hold a value each; 2, 3, 4 and 6 to 9 none.
    let samples: Vec<Value> = [(0, 10.0), (1, 20.0), (5, 60.0)]
        .iter()
        .map(|(m, v)| json!({"tag_id": tag, "time": (start + Duration::minutes(*m) + Duration::seconds(5)).to_rfc3339(), "value": v}))
        .collect();
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/ingest",
            Some(&t.key),
            Some(json!({ "samples": samples })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let from = start.to_rfc3339().replace('+', "%2B");
    let to = (start + Duration::minutes(10))
        .to_rfc3339()
        .replace('+', "%2B");
    let query =
        |extra: &str| format!("/api/v1/tags/{tag}/samples?from={from}&to={to}&bucket=1m{extra}");
    let values = |body: &Value| -> Vec<Value> {
        body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].clone())
            .collect()
    };
    let (s, none, _) = app.call(Method::GET, &query(""), Some(&t.key), None).await;
    assert_eq!(s, StatusCode::OK, "{none}");
    assert_eq!(none["fill"], "none");
    assert_eq!(values(&none), [json!(10.0), json!(20.0), json!(60.0)]);
    let (_, null, _) = app
        .call(Method::GET, &query("&fill=null"), Some(&t.key), None)
        .await;
    assert_eq!(null["fill"], "null");
    let null_values = values(&null);
    assert_eq!(null_values.len(), 10);
    assert_eq!(null_values[2], Value::Null);
    let (_, linear, _) = app
        .call(Method::GET, &query("&fill=linear"), Some(&t.key), None)
        .await;
    assert_eq!(
        values(&linear),
        [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
            .iter()
            .map(|v| json!(v))
            .chain(std::iter::repeat_n(Value::Null, 4))
            .collect::<Vec<_>>()
    );
    let (_, previous, _) = app
        .call(Method::GET, &query("&fill=previous"), Some(&t.key), None)
        .await;
    assert_eq!(values(&previous)[9], json!(60.0));

    for (path, field) in [
        (query("&fill=zero"), "fill"),
        (query("&fill="), "fill"),
        (format!("/api/v1/tags/{tag}/samples?fill=null"), "fill"),
    ] {
        let (s, body, content_type) = app.call(Method::GET, &path, Some(&t.key), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["field"], field, "{body}");
    }
}

#[tokio::test]
async fn admins_see_whether_the_audit_chain_holds() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "chained", &["a", "b"]).await;
    let viewer = app
        .store
        .issue_api_key(t.id, "viewer", Role::Viewer)
        .await
        .unwrap();
    let (s, verdict, _) = app
        .call(Method::GET, "/api/v1/audit/verify", Some(&t.key), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["intact"], true);
    // The plant (site, line, machine, two tags) and the viewer's key were audited.
    assert!(verdict["entries"].as_u64().unwrap() >= 6, "{verdict}");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/audit/verify", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // History rewritten behind the trigger's back is reported, naming the entry.
    let owner_db = app.store.owner_pool().get().await.unwrap();
    owner_db
        .batch_execute("ALTER TABLE audit_log DISABLE TRIGGER append_only")
        .await
        .unwrap();
    owner_db
        .execute(
            "UPDATE audit_log SET actor = 'someone else' WHERE tenant_id = $1 AND seq = 2",
            &[&t.id.0],
        )
        .await
        .unwrap();
    let (_, verdict, _) = app
        .call(Method::GET, "/api/v1/audit/verify", Some(&t.key), None)
        .await;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert!(
        verdict["broken"].as_str().unwrap().contains('2'),
        "{verdict}"
    );
}
