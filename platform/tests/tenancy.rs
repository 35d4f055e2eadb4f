//! Users, roles, keys, plans, quotas and the audit log, over HTTP against the real server and
//! a real PostgreSQL.

use millwright_platform::api::access::{Access, ROUTES};
use millwright_platform::store::admin::NewTenant;
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use millwright_tenants::permission::allowed;
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const OPERATOR_KEY: &str = "mwk_operator_0123456789abcdefghijABCDEFGHIJ0123456789abc";
const PASSWORD: &str = "correct horse battery staple";

async fn app() -> TestApp {
    // Server logs show under a failing test only.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    TestApp::spawn_with(|s| {
        s.auth.operator_key_sha256 = Some(hex::encode(Sha256::digest(OPERATOR_KEY.as_bytes())));
    })
    .await
}

/// Creates a tenant with an owner through the admin API; returns the tenant id.
async fn admin_tenant(app: &TestApp, name: &str, plan: &str, email: &str) -> i64 {
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/tenants",
            Some(OPERATOR_KEY),
            Some(
                json!({"name": name, "plan": plan, "industry": "garment", "region": "Zhejiang",
                        "owner": {"email": email, "password": PASSWORD}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["tenant_id"].as_i64().unwrap()
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

fn token(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap().to_string()
}

/// Every role × every tenant route: 403 exactly where the permission table says no. The
/// routes are walked from the access table, and the table is checked against the OpenAPI
/// document, so no route escapes.
#[tokio::test]
async fn every_role_on_every_route_gets_what_the_table_says() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "matrix", &["t1"]).await;
    let mut keys = Vec::new();
    for role in Role::ALL.into_iter().filter(|r| r.is_tenant_role()) {
        let key = app
            .store
            .issue_api_key(t.id, role.as_str(), role)
            .await
            .unwrap();
        keys.push((role, key));
    }
    let (s, bureau) = {
        let (s, _, _) = app
            .call(
                Method::POST,
                "/api/v1/admin/bureau-users",
                Some(OPERATOR_KEY),
                Some(json!({"email": "bureau@sector.example", "password": PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        login(&app, "bureau@sector.example", PASSWORD).await
    };
    assert_eq!(s, StatusCode::OK);
    keys.push((Role::Bureau, token(&bureau, "access_token")));

    // The table and the document list the same routes.
    let (_, doc, _) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &documented {
        assert!(
            ROUTES.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is documented but missing from the access table"
        );
    }
    let mut checked = 0;
    for (method, path, access) in ROUTES {
        if !matches!(access, Access::Public) && !path.ends_with("openapi.json") {
            assert!(
                documented.iter().any(|(m, p)| m == method && p == path),
                "{method} {path} is in the access table but not documented"
            );
        }
        let Access::Tenant(action) = access else {
            continue;
        };
        // Ids that exist for nobody: allowed callers get 404 or 422, never a change.
        let concrete = path
            .replace("{id}", "999999999")
            .replace("{event_id}", "999999999");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for (role, key) in &keys {
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            let (status, problem, _) = app.call(method.clone(), &concrete, Some(key), body).await;
            if allowed(*role, *action) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} should reach {method} {path}: {problem}"
                );
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{role} {method} {path}");
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} must not reach {method} {path}: {problem}"
                );
                assert_eq!(problem["type"], "/problems/role", "{problem}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 7 * 35,
        "only {checked} role × route pairs checked"
    );
}

#[tokio::test]
async fn login_refresh_logout_and_refresh_token_theft() {
    let app = app().await;
    admin_tenant(&app, "acme", "mes", "Owner@Acme.example").await;

    // Wrong password and unknown email read the same.
    let (s, wrong) = login(&app, "owner@acme.example", "not the password at all").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, unknown) = login(&app, "nobody@acme.example", PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong["detail"], unknown["detail"]);

    let (s, tokens) = login(&app, "owner@acme.example", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let access = token(&tokens, "access_token");
    let (s, me, _) = app
        .call(Method::GET, "/api/v1/me", Some(&access), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["plan"], "mes");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/sites", Some(&access), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Refresh rotates; presenting the old refresh token again ends the session.
    let first_refresh = token(&tokens, "refresh_token");
    let refresh = |t: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": t})),
            )
            .await
        }
    };
    let (s, rotated, _) = refresh(first_refresh.clone()).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_access = token(&rotated, "access_token");
    assert_ne!(token(&rotated, "refresh_token"), first_refresh);
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/me", Some(&new_access), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, stolen, _) = refresh(first_refresh).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        stolen["detail"].as_str().unwrap().contains("reused"),
        "{stolen}"
    );
    for t in [&access, &new_access] {
        let (s, _, _) = app.call(Method::GET, "/api/v1/me", Some(t), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "the session must be over");
    }
    let (s, _, _) = refresh(token(&rotated, "refresh_token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Logout ends the access token at once, and its refresh token too.
    let (_, tokens) = login(&app, "owner@acme.example", PASSWORD).await;
    let access = token(&tokens, "access_token");
    let (s, _, _) = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&access), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/me", Some(&access), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = refresh(token(&tokens, "refresh_token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The operator key opens only the admin API, and a wrong one nothing.
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/sites", Some(OPERATOR_KEY), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = app
        .call(
            Method::POST,
            "/api/v1/admin/tenants",
            Some(&access),
            Some(json!({"name": "x", "owner": {"email": "a@b.example", "password": PASSWORD}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_roles_and_grants() {
    let app = app().await;
    admin_tenant(&app, "grants", "monitor", "owner@grants.example").await;
    let (_, owner) = login(&app, "owner@grants.example", PASSWORD).await;
    let owner = token(&owner, "access_token");
    let add = |key: String, email: &'static str, role: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/v1/users",
                Some(&key),
                Some(json!({"email": email, "role": role, "password": PASSWORD})),
            )
            .await
        }
    };
    let (s, admin, _) = add(owner.clone(), "admin@grants.example", "admin").await;
    assert_eq!(s, StatusCode::CREATED, "{admin}");
    assert!(admin.get("password_hash").is_none() && admin.get("password").is_none());
    let (_, admin_tokens) = login(&app, "admin@grants.example", PASSWORD).await;
    let admin_token = token(&admin_tokens, "access_token");

    // An admin may not make an owner; nobody makes a bureau or device user.
    let (s, p, _) = add(admin_token.clone(), "o2@grants.example", "owner").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(p["field"], "role");
    let (s, p, _) = add(owner.clone(), "d@grants.example", "device").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p, _) = add(owner.clone(), "short@grants.example", "viewer").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&owner),
            Some(json!({"email": "weak@grants.example", "role": "viewer", "password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "password");
    let (s, p, _) = add(owner.clone(), "admin@grants.example", "viewer").await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["field"], "email");

    // A viewer reads but manages nobody.
    let (_, viewer) = login(&app, "short@grants.example", PASSWORD).await;
    let viewer = token(&viewer, "access_token");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/sites", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p, _) = app
        .call(Method::GET, "/api/v1/users", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(p["detail"], "the viewer role may not manage users");

    // Disabling a user ends their session at once.
    let (_, users, _) = app
        .call(Method::GET, "/api/v1/users", Some(&owner), None)
        .await;
    let viewer_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "short@grants.example")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, u, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{viewer_id}"),
            Some(&admin_token),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert!(u["disabled_at"].is_string());
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/sites", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = login(&app, "short@grants.example", PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_keys_and_device_tokens_are_shown_once_scoped_and_revocable() {
    let app = app().await;
    let t = tenant_with_tags(&app.store, "keys", &["line.temp"]).await;
    let (s, issued, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "line 1 connector", "role": "device", "site_id": t.site_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    let device = token(&issued, "key");
    assert!(device.starts_with(issued["prefix"].as_str().unwrap()));

    // The device sends samples and reads the plant model, and nothing more.
    let ingest =
        json!({"samples": [{"tag": "line.temp", "time": chrono::Utc::now(), "value": 21.5}]});
    let (s, body, _) = app
        .call(
            Method::POST,
            "/api/v1/ingest",
            Some(&device),
            Some(ingest.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/tags", Some(&device), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p, _) = app
        .call(Method::GET, "/api/v1/samples/latest", Some(&device), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/api-keys", Some(&device), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Listings never show a secret; revocation works at once.
    let (_, list, _) = app
        .call(Method::GET, "/api/v1/api-keys", Some(&t.key), None)
        .await;
    assert!(!list.to_string().contains(&device));
    assert!(list
        .to_string()
        .contains(issued["prefix"].as_str().unwrap()));
    let id = issued["id"].as_i64().unwrap();
    let (s, revoked, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (s, _, _) = app
        .call(Method::POST, "/api/v1/ingest", Some(&device), Some(ingest))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Expiry: in the past is refused; a key past its expiry stops working.
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "old", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "expires_at");
    let (_, viewer, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "soon", "role": "viewer", "expires_at": chrono::Utc::now() + chrono::Duration::hours(1)})),
        )
        .await;
    let viewer_key = token(&viewer, "key");
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/tags", Some(&viewer_key), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let owner_db = app.store.owner_pool().get().await.unwrap();
    owner_db
        .execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&viewer["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/tags", Some(&viewer_key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Only digests are stored.
    let rows = owner_db
        .query("SELECT encode(key_hash, 'hex'), prefix FROM api_keys", &[])
        .await
        .unwrap();
    for r in rows {
        let stored: String = r.get(0);
        assert_eq!(stored.len(), 64);
        assert!(!device.contains(&stored));
    }
}

#[tokio::test]
async fn quotas_answer_429_and_403_and_usage_shows_them() {
    let app = app().await;
    let tenant = app
        .store
        .create_tenant(&NewTenant::named("small", Plan::Monitor))
        .await
        .unwrap();
    let key = app
        .store
        .issue_api_key(tenant, "k", Role::Owner)
        .await
        .unwrap();
    let per_minute = Plan::Monitor.quotas().requests_per_minute;

    // Requests per minute: a token bucket; the first refusal says when to come back.
    // The bucket refills at per_minute / 60 tokens a second while the loop runs, so on a
    // loaded machine a request or two more may pass: allow exactly what refilled meanwhile.
    let started = std::time::Instant::now();
    let mut refused = None;
    for i in 0..=per_minute * 2 {
        let res = app
            .http()
            .get(format!("{}/api/v1/sites", app.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: Value = res.json().await.unwrap();
            refused = Some((i, retry, body));
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (i, retry, body) = refused.expect("the bucket must run dry");
    let refilled = (started.elapsed().as_secs_f64() * f64::from(per_minute) / 60.0).ceil() as u32;
    assert!(
        (per_minute..=per_minute + refilled).contains(&i),
        "one minute's worth is allowed at once, plus what refilled in {:?}: {i} passed",
        started.elapsed()
    );
    assert!((1..=60).contains(&retry));
    assert_eq!(body["type"], "/problems/quota");

    // Connectors' device tokens are not metered per minute (the daily samples quota bounds
    // them), so a dry bucket does not stall a plant's data.
    let device = app
        .store
        .issue_api_key(tenant, "connector", Role::Device)
        .await
        .unwrap();
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/tags", Some(&device), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // A second tenant has its own bucket.
    let other = tenant_with_tags(&app.store, "other", &[]).await;
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/sites", Some(&other.key), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Tags: the plan's number, then 403 naming a plan with room (checked on a fresh app so
    // the request bucket above does not interfere).
    let app = TestApp::spawn().await;
    let t = app
        .store
        .create_tenant(&NewTenant::named("tags", Plan::Monitor))
        .await
        .unwrap();
    let key = app.store.issue_api_key(t, "k", Role::Owner).await.unwrap();
    let mut s = app.store.tenant(t).await.unwrap();
    use millwright_platform::store::entities::{EntityFields, Kind};
    let named = |n: &str, parent: Option<i64>| EntityFields {
        name: Some(n.into()),
        parent_id: parent,
        ..Default::default()
    };
    let site = s.create(Kind::Site, &named("s", None)).await.unwrap().id();
    let line = s
        .create(Kind::Line, &named("l", Some(site)))
        .await
        .unwrap()
        .id();
    let machine = s
        .create(Kind::Machine, &named("m", Some(line)))
        .await
        .unwrap()
        .id();
    let max = Plan::Monitor.quotas().max_tags;
    for i in 0..max {
        s.create(Kind::Tag, &named(&format!("t{i}"), Some(machine)))
            .await
            .unwrap();
    }
    let (st, p, _) = app
        .call(
            Method::POST,
            "/api/v1/tags",
            Some(&key),
            Some(json!({"name": "one too many", "machine_id": machine})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(p["type"], "/problems/quota");
    assert_eq!(
        p["detail"],
        "the Monitor plan allows 250 tags; the MES plan allows 2000"
    );

    // Samples per day: counted in the database; a batch that would pass the quota is
    // refused whole, so the connector keeps it and nothing is half-stored.
    let owner_db = app.store.owner_pool().get().await.unwrap();
    let quota = Plan::Monitor.quotas().samples_per_day as i64;
    owner_db
        .execute(
            "INSERT INTO usage_daily (tenant_id, day, samples) \
             VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2)",
            &[&t.0, &(quota - 1)],
        )
        .await
        .unwrap();
    let sample = |v: f64| json!({"tag": "t1", "time": chrono::Utc::now(), "value": v});
    let res = app
        .http()
        .post(format!("{}/api/v1/ingest", app.url))
        .bearer_auth(&key)
        .json(&json!({"samples": [sample(1.0), sample(2.0)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry));
    let (st, body, _) = app
        .call(
            Method::POST,
            "/api/v1/ingest",
            Some(&key),
            Some(json!({"samples": [sample(3.0)]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let (st, usage, _) = app
        .call(Method::GET, "/api/v1/usage", Some(&key), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{usage}");
    assert_eq!(usage["plan"], "monitor");
    assert_eq!(usage["tags"]["used"], max);
    assert_eq!(usage["tags"]["limit"], max);
    assert_eq!(usage["samples_today"]["used"], quota);
    assert_eq!(usage["samples_today"]["limit"], quota);
    assert_eq!(usage["retention_days"], 90);
    assert!(usage["requests_per_minute"]["used"].as_u64().unwrap() >= 3);

    // Upgrading lifts the limit at once.
    let (st, _, _) = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(&key),
            Some(json!({"plan": "mes"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = app
        .call(
            Method::POST,
            "/api/v1/tags",
            Some(&key),
            Some(json!({"name": "now it fits", "machine_id": machine})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
}

/// A route outside the plan answers 403 naming the plan that includes it; upgrading opens it.
#[tokio::test]
async fn routes_outside_the_plan_name_the_plan_that_has_them() {
    let app = app().await;
    for (name, plan) in [("on-monitor", Plan::Monitor), ("on-mes", Plan::Mes)] {
        let tenant = app
            .store
            .create_tenant(&NewTenant::named(name, plan))
            .await
            .unwrap();
        let key = app
            .store
            .issue_api_key(tenant, "k", Role::Owner)
            .await
            .unwrap();
        for (method, path) in [
            (Method::POST, "/api/v1/models/training-jobs"),
            (Method::GET, "/api/v1/models/versions"),
            (Method::POST, "/api/v1/models/versions/1/promote"),
        ] {
            let body = (method == Method::POST).then(|| json!({}));
            let (s, p, ct) = app.call(method.clone(), path, Some(&key), body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {p}");
            assert_eq!(ct, "application/problem+json");
            assert_eq!(p["type"], "/problems/plan");
            assert_eq!(
                p["detail"],
                format!(
                    "the {plan} plan does not include predictive-maintenance models; the Pro plan does"
                )
            );
        }
        // Alarms are in every plan.
        let (s, _, _) = app
            .call(Method::GET, "/api/v1/alarms", Some(&key), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        // The owner upgrades; the same request now reaches the handler (and its validation).
        let (s, _, _) = app
            .call(
                Method::PATCH,
                "/api/v1/tenant",
                Some(&key),
                Some(json!({"plan": "pro"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, p, _) = app
            .call(
                Method::POST,
                "/api/v1/models/training-jobs",
                Some(&key),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    }
}
