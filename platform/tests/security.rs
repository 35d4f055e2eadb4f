//! Credential changes take effect at once, logins are throttled, keys and device tokens stay
//! within their bounds, commands expire, and the private cluster admits only its own user
//! (issue #11), over HTTP against the real server and a real PostgreSQL.

use std::time::Duration;

use millwright_platform::test_util::{tenant_with_tags, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const OPERATOR_KEY: &str = "mwk_operator_0123456789abcdefghijABCDEFGHIJ0123456789abc";
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "tr0ub4dor and then some";

async fn app() -> TestApp {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    TestApp::spawn_with(|s| {
        s.auth.operator_key_sha256 = Some(hex::encode(Sha256::digest(OPERATOR_KEY.as_bytes())));
    })
    .await
}

/// A tenant with an owner (through the operator's API); returns the owner's access token.
async fn tenant_with_owner(app: &TestApp, name: &str, email: &str) -> String {
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/tenants",
            Some(OPERATOR_KEY),
            Some(json!({"name": name, "plan": "pro", "owner": {"email": email, "password": PASSWORD}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, tokens) = login(app, email, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    field(&tokens, "access_token")
}

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    (s, body)
}

fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {body}"))
        .to_string()
}

async fn add_user(app: &TestApp, by: &str, email: &str, role: &str) -> i64 {
    let (s, user, _) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(by),
            Some(json!({"email": email, "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    user["id"].as_i64().unwrap()
}

async fn patch_user(app: &TestApp, by: &str, id: i64, change: Value) {
    let (s, body, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(by),
            Some(change),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn status(app: &TestApp, method: Method, path: &str, key: &str) -> StatusCode {
    let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({"name": "x"}));
    app.call(method, path, Some(key), body).await.0
}

async fn refresh(app: &TestApp, token: &str) -> StatusCode {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
    .0
}

/// The probe's finding: a demoted admin's access token kept admin rights and minted a
/// permanent admin key. Now the demotion ends the session, and the key the admin minted
/// before it does no more than a viewer.
#[tokio::test]
async fn a_role_change_ends_the_users_sessions_and_bounds_their_keys() {
    let app = app().await;
    let owner = tenant_with_owner(&app, "demote", "owner@demote.example").await;
    let admin_id = add_user(&app, &owner, "admin@demote.example", "admin").await;
    let (_, tokens) = login(&app, "admin@demote.example", PASSWORD).await;
    let admin = field(&tokens, "access_token");
    let admin_refresh = field(&tokens, "refresh_token");
    let (s, key, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "admin's script", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let minted = field(&key, "key");
    assert_eq!(
        status(&app, Method::GET, "/api/v1/users", &minted).await,
        StatusCode::OK
    );

    patch_user(&app, &owner, admin_id, json!({"role": "viewer"})).await;

    // The access token and the refresh token end at once.
    assert_eq!(
        status(&app, Method::GET, "/api/v1/users", &admin).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, Method::GET, "/api/v1/me", &admin).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &admin_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    // The key the admin minted now does what a viewer may: read, not manage.
    assert_eq!(
        status(&app, Method::GET, "/api/v1/sites", &minted).await,
        StatusCode::OK
    );
    let (s, p, _) = app
        .call(Method::GET, "/api/v1/users", Some(&minted), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("issuer"), "{p}");
    // Signed in again, the former admin is a viewer and mints nothing.
    let (_, tokens) = login(&app, "admin@demote.example", PASSWORD).await;
    let viewer = field(&tokens, "access_token");
    let (s, me, _) = app
        .call(Method::GET, "/api/v1/me", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "viewer");
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&viewer),
            Some(json!({"name": "again", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn password_change_disabling_and_removal_end_tokens_and_keys() {
    let app = app().await;
    let owner = tenant_with_owner(&app, "creds", "owner@creds.example").await;
    let id = add_user(&app, &owner, "eng@creds.example", "admin").await;

    // A password change ends the old access and refresh tokens; the new password works.
    let (_, old) = login(&app, "eng@creds.example", PASSWORD).await;
    patch_user(&app, &owner, id, json!({"password": NEW_PASSWORD})).await;
    assert_eq!(
        status(
            &app,
            Method::GET,
            "/api/v1/me",
            &field(&old, "access_token")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &field(&old, "refresh_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "eng@creds.example", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, new) = login(&app, "eng@creds.example", NEW_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{new}");
    let access = field(&new, "access_token");
    let (_, key, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&access),
            Some(json!({"name": "k", "role": "engineer"})),
        )
        .await;
    let key = field(&key, "key");

    // Disabling ends the session and stops the user's keys; enabling again brings the keys
    // back but not the old session.
    patch_user(&app, &owner, id, json!({"disabled": true})).await;
    assert_eq!(
        status(&app, Method::GET, "/api/v1/me", &access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, Method::GET, "/api/v1/sites", &key).await,
        StatusCode::UNAUTHORIZED
    );
    patch_user(&app, &owner, id, json!({"disabled": false})).await;
    assert_eq!(
        status(&app, Method::GET, "/api/v1/me", &access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, Method::GET, "/api/v1/sites", &key).await,
        StatusCode::OK
    );

    // Removal ends everything, the keys included (they are revoked, not orphaned).
    let (_, again) = login(&app, "eng@creds.example", NEW_PASSWORD).await;
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        status(
            &app,
            Method::GET,
            "/api/v1/me",
            &field(&again, "access_token")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, Method::GET, "/api/v1/sites", &key).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, keys, _) = app
        .call(Method::GET, "/api/v1/api-keys", Some(&owner), None)
        .await;
    assert!(keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "k")
        .all(|k| k["revoked_at"].is_string()));
}

/// The probe's finding: 20 wrong passwords in a row, then the right one, all answered as
/// usual. Now the account is held back with growing delays (429 + Retry-After, at most a
/// minute), the right password works once the wait is over, and each refusal is audited.
#[tokio::test]
async fn logins_are_throttled_per_account_and_failures_audited() {
    let app = app().await;
    let owner = tenant_with_owner(&app, "guess", "owner@guess.example").await;
    let mut throttled = 0;
    let mut retry_after = 0;
    for _ in 0..20 {
        let res = app
            .http()
            .post(format!("{}/api/v1/auth/login", app.url))
            .json(&json!({"email": "owner@guess.example", "password": "not the password at all"}))
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                retry_after = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
                assert!((1..=60).contains(&retry_after), "{retry_after}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(throttled >= 10, "only {throttled} of 20 throttled");
    // The right password waits its turn like any other attempt...
    let res = app
        .http()
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&json!({"email": "owner@guess.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait <= retry_after.max(1), "{wait} > {retry_after}");
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], "/problems/login-throttle");
    // ...and works once it is over.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (s, p) = login(&app, "owner@guess.example", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // Every refused password is in the tenant's audit log, with the client's address.
    let (_, audit, _) = app
        .call(Method::GET, "/api/v1/audit?limit=1000", Some(&owner), None)
        .await;
    let failed: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .collect();
    assert_eq!(failed.len(), 20 - throttled, "{audit}");
    assert_eq!(failed[0]["actor"], "client 127.0.0.1");
}

#[tokio::test]
async fn logins_are_throttled_per_client_address() {
    let app = app().await;
    // Guessing across many accounts from one address: twenty free failures, then waits.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let (s, _) = login(&app, &format!("nobody{i}@spray.example"), "whatever it is").await;
        statuses.push(s.as_u16());
        if s == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert!(statuses[..21].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// The probe's finding: a device token ingested into another site's tag and claimed every
/// pending command of the tenant. A device token is now scoped to one site.
#[tokio::test]
async fn device_tokens_reach_only_their_site() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "sites", &["north.temp"]).await;
    // A second site with its own tag.
    let (_, south, _) = app
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&t.key),
            Some(json!({"name": "south"})),
        )
        .await;
    let (_, line, _) = app
        .call(
            Method::POST,
            "/api/v1/lines",
            Some(&t.key),
            Some(json!({"name": "l", "site_id": south["id"]})),
        )
        .await;
    let (_, machine, _) = app
        .call(
            Method::POST,
            "/api/v1/machines",
            Some(&t.key),
            Some(json!({"name": "m", "line_id": line["id"]})),
        )
        .await;
    let (_, south_tag, _) = app
        .call(
            Method::POST,
            "/api/v1/tags",
            Some(&t.key),
            Some(json!({"name": "south.temp", "machine_id": machine["id"]})),
        )
        .await;
    let south_tag = south_tag["id"].as_i64().unwrap();
    let north_tag = t.tag_ids[0];

    // A device token must name its site.
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "north connector", "role": "device"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "site_id");
    let (s, issued, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "north connector", "role": "device", "site_id": t.site_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["site_id"], t.site_id);
    let device = field(&issued, "key");

    // Samples: its own site's tag is stored, the other site's refused, by name and by id.
    let now = chrono::Utc::now();
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/ingest",
            Some(&device),
            Some(json!({"samples": [
                {"tag": "north.temp", "time": now, "value": 1.0},
                {"tag": "south.temp", "time": now, "value": 2.0},
                {"tag_id": south_tag, "time": now, "value": 3.0},
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"].as_array().unwrap().len(), 2, "{body}");
    // Text tags too: its own site's text is stored, the other site's never.
    for (name, machine) in [
        ("north.mode", t.machine_id),
        ("south.mode", machine["id"].as_i64().unwrap()),
    ] {
        let (s, tag, _) = app
            .call(
                Method::POST,
                "/api/v1/tags",
                Some(&t.key),
                Some(json!({"name": name, "machine_id": machine, "value_type": "text"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{tag}");
    }
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/ingest",
            Some(&device),
            Some(json!({"samples": [
                {"tag": "north.mode", "time": now, "value": "AUTO"},
                {"tag": "south.mode", "time": now, "value": "MANUAL"},
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    // The plant model it reads is its own site's.
    let (_, tags, _) = app
        .call(Method::GET, "/api/v1/tags", Some(&device), None)
        .await;
    let names: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("north.")),
        "{names:?}"
    );
    assert_eq!(
        status(
            &app,
            Method::GET,
            &format!("/api/v1/tags/{south_tag}"),
            &device
        )
        .await,
        StatusCode::NOT_FOUND
    );

    // Commands: it claims only its own site's, and cannot report on the other's.
    let mut ids = Vec::new();
    for tag in [north_tag, south_tag] {
        let (s, c, _) = app
            .call(
                Method::POST,
                &format!("/api/v1/tags/{tag}/commands"),
                Some(&t.key),
                Some(json!({"value": 5.0})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        ids.push(c["id"].as_i64().unwrap());
    }
    let (_, claimed, _) = app
        .call(Method::GET, "/api/v1/commands/pending", Some(&device), None)
        .await;
    let claimed: Vec<i64> = claimed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(claimed, [ids[0]]);
    let (s, _, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/commands/{}/result", ids[1]),
            Some(&device),
            Some(json!({"ok": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, other, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/commands/{}", ids[1]),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(other["status"], "pending");
}

#[tokio::test]
async fn commands_nobody_claims_in_time_expire() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "expiry", &["valve"]).await;
    let device = app
        .store
        .issue_device_token(t.id, "connector", t.site_id)
        .await
        .unwrap();
    let tag = t.tag_ids[0];
    let (s, p, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tags/{tag}/commands"),
            Some(&t.key),
            Some(json!({"value": 1.0, "expires_in_secs": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "expires_in_secs");
    let (s, command, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tags/{tag}/commands"),
            Some(&t.key),
            Some(json!({"value": 1.0, "expires_in_secs": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{command}");
    let id = command["id"].as_i64().unwrap();
    assert!(command["expires_at"].is_string());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, got, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/commands/{id}"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(got["status"], "expired", "{got}");
    let (_, claimed, _) = app
        .call(Method::GET, "/api/v1/commands/pending", Some(&device), None)
        .await;
    assert_eq!(claimed, json!([]));
    let (s, p, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/commands/{id}/result"),
            Some(&device),
            Some(json!({"ok": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
}

/// The probe's finding: an admin key revoked an owner's key, though the users routes forbid
/// admins acting on owners. Keys follow the same rule now.
#[tokio::test]
async fn admins_cannot_revoke_owners_keys() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "revoke", &[]).await;
    let admin = app
        .store
        .issue_api_key(t.id, "admin", millwright_tenants::role::Role::Admin)
        .await
        .unwrap();
    let (_, keys, _) = app
        .call(Method::GET, "/api/v1/api-keys", Some(&t.key), None)
        .await;
    let owner_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "owner")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, p, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{owner_key}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(p["field"], "role");
    assert_eq!(
        status(&app, Method::GET, "/api/v1/sites", &t.key).await,
        StatusCode::OK
    );
    // An admin still revokes keys below owner, and an owner revokes anything.
    let (_, viewer, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "v", "role": "viewer"})),
        )
        .await;
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", viewer["id"]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{owner_key}"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// The probe's finding: the demo's PostgreSQL trusted any local user as superuser on a
/// world-writable socket. Now the socket's folder is private, authentication is `peer` mapped
/// to our own user only, and requests use the application role's own login.
#[tokio::test]
async fn the_private_cluster_admits_only_its_own_user() {
    use std::os::unix::fs::PermissionsExt;
    let settings = millwright_platform::test_util::fresh_settings(
        millwright_platform::config::BackendChoice::Plain,
    )
    .await;
    let cluster = millwright_platform::test_util::cluster().await;
    let socket_dir = cluster.socket_dir();
    for dir in [socket_dir, socket_dir.parent().unwrap()] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    }
    let hba =
        std::fs::read_to_string(socket_dir.parent().unwrap().join("pgdata/pg_hba.conf")).unwrap();
    let rules: Vec<&str> = hba
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(rules, ["local all all peer map=millwright"]);

    // The application URL logs in as the application role itself (no SET ROLE to undo).
    let url = settings.database.app_url.as_ref().unwrap().expose();
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let who: String = c
        .query_one("SELECT session_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "millwright_app");
    let err = c
        .batch_execute("RESET ROLE; SET ROLE millwright_owner")
        .await;
    assert!(err.is_err(), "the app role became the owner");

    // Another local user is turned away (checked when we may act as one: as root).
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        use std::os::unix::process::CommandExt;
        let psql = millwright_platform::pg_cluster::psql_path().unwrap();
        let out = std::process::Command::new(psql)
            .args(["-h"])
            .arg(socket_dir)
            .args([
                "-p",
                &cluster.port().to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", "SELECT 1"])
            .uid(65534)
            .gid(65534)
            .env("HOME", "/tmp")
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "user nobody connected: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        eprintln!("skipped the other-user check: not running as root");
    }
}

/// The probe's findings: a setpoint of `-0.0` or `1e16` broke `audit verify` (jsonb rewrote
/// the number after it was hashed), and the operator's actions were audited nowhere.
#[tokio::test]
async fn the_audit_survives_odd_numbers_and_the_operator_has_a_chain() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "odd", &["valve"]).await;
    for value in [
        json!(-0.0),
        json!(1e16),
        json!(1e-7),
        json!(123456789012345678u64),
    ] {
        let (s, body, _) = app
            .call(
                Method::POST,
                &format!("/api/v1/tags/{}/commands", t.tag_ids[0]),
                Some(&t.key),
                Some(json!({ "value": value })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    // The operator creates a tenant and a bureau user; someone guesses at an unknown account.
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/tenants",
            Some(OPERATOR_KEY),
            Some(json!({"name": "Café Zürich", "owner": {"email": "o@cafe.example", "password": PASSWORD}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/bureau-users",
            Some(OPERATOR_KEY),
            Some(json!({"email": "bureau@sector.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        login(&app, "nobody@nowhere.example", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let entries = app.store.operator_audit_entries(0, 100).await.unwrap();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for wanted in [
        ("operator", "tenant.create"),
        ("operator", "bureau_user.create"),
        ("client 127.0.0.1", "auth.login_failed"),
    ] {
        assert!(seen.contains(&wanted), "{wanted:?} in {seen:?}");
    }
    let raw = serde_json::to_string(&entries).unwrap();
    assert!(
        !raw.contains("nobody@nowhere"),
        "the attempted email is not kept: {raw}"
    );
    for verdict in app.store.verify_audit(None).await.unwrap() {
        assert_eq!(verdict.broken, None, "{}", verdict.name);
    }
    // The application role cannot read or write the operator's chain.
    let c = app.store.app_pool().get().await.unwrap();
    let err = c
        .query("SELECT * FROM operator_audit_log", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}
