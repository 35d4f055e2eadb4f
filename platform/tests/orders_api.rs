//! C2B custom orders over real HTTP (the server on port 0): a shirt from template to delivered
//! order, with progress from the machines' part counter through the MES work orders, the
//! quality check from quality records, 409s naming the allowed transitions, and a signed
//! webhook for every transition received by a real receiver; the storefront key's narrow
//! scope, its rate limit, the plan, Idempotency-Key replays and refusals, configurations
//! refused naming their options; and 50 concurrent placements at a line with room for 10.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::{Duration, Utc};
use millwright_platform::store::admin::NewTenant;
use millwright_platform::test_util::{tenant_with_tags, TestApp};
use millwright_platform::webhooks::signature;
use millwright_tenants::plan::Plan;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

type Got = Arc<Mutex<Vec<(String, Bytes)>>>;

/// A webhook receiver on port 0 that keeps (signature, body) of every delivery.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let state = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let sig = headers
                    .get(signature::HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                state.lock().unwrap().push((sig, body));
                AxumStatus::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn ok(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>) -> Value {
    let (s, v, _) = app
        .call(method.clone(), &format!("/api/v1{path}"), Some(key), body)
        .await;
    assert!(s.is_success(), "{method} {path}: {s} {v}");
    v
}

/// A site with the given shifts (none: around the clock), and a line with one machine per
/// `(line name, machine name, kind)`; returns the machines' ids.
async fn plant(
    app: &TestApp,
    key: &str,
    site: &str,
    shifts: Value,
    machines: &[(&str, &str, &str)],
) -> Vec<i64> {
    let site = ok(
        app,
        Method::POST,
        "/sites",
        key,
        Some(json!({"name": site})),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ok(
        app,
        Method::PUT,
        &format!("/sites/{site}/calendar"),
        key,
        Some(json!({"time_zone": "Asia/Shanghai", "shifts": shifts})),
    )
    .await;
    let mut ids = Vec::new();
    for (line, machine, kind) in machines {
        let line = ok(
            app,
            Method::POST,
            "/lines",
            key,
            Some(json!({"name": line, "site_id": site})),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let m = ok(
            app,
            Method::POST,
            "/machines",
            key,
            Some(json!({"name": machine, "line_id": line, "kind": kind})),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        ids.push(m);
    }
    ids
}

fn shirt() -> Value {
    json!({
        "code": "SHIRT-MTM", "name": "Shirt made to measure", "currency": "CNY",
        "base_price_minor": 29900,
        "options": [
            {"key": "fabric", "type": "choice", "choices": [
                {"value": "cotton"}, {"value": "linen", "price_minor": 8000},
                {"value": "silk", "price_minor": 20000}]},
            {"key": "collar", "type": "choice", "choices": [
                {"value": "kent"}, {"value": "button_down", "price_minor": 1000}]},
            {"key": "neck_cm", "type": "number", "min": 36, "max": 46, "step": 0.5, "unit": "cm"},
            {"key": "monogram", "type": "text", "required": false, "max_length": 3,
             "charset": "latin", "price_minor": 3000}
        ],
        "constraints": [{"kind": "excludes",
            "if": {"option": "fabric", "in": ["silk"]},
            "then": {"option": "collar", "in": ["button_down"]},
            "reason": "silk collars are not buttoned down"}],
        "quantity": {"min": 1, "max": 20},
        "quantity_breaks": [{"min_quantity": 2, "percent_off_bp": 500}],
        "routing": [
            {"line_kind": "cutting_table", "setup_secs": 60, "cycle_secs": 300},
            {"line_kind": "sewing", "cycle_secs": 1800,
             "adjustments": [{"if": {"option": "monogram"}, "add_secs": 600}]}
        ],
        "ship_buffer_hours": 2
    })
}

fn around_the_clock() -> Value {
    json!([{"name": "all", "start": "00:00", "end": "00:00"}])
}

async fn storefront_key(app: &TestApp, key: &str, rate: i32) -> String {
    let v = ok(
        app,
        Method::POST,
        "/storefront-keys",
        key,
        Some(json!({"name": "web shop", "requests_per_minute": rate})),
    )
    .await;
    v["key"].as_str().unwrap().to_string()
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_shirt_from_template_to_delivered_with_counters_quality_and_webhooks() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.allow_private_targets = true;
        s.webhooks.retry_base_secs = 1;
        s.webhooks.poll_secs = 1;
    })
    .await;
    let t = tenant_with_tags(&app.store, "tailor", &[]).await;
    let key = t.key.as_str();
    let ids = plant(
        &app,
        key,
        "garment plant",
        around_the_clock(),
        &[
            ("cutting line", "cut-1", "cutting_table"),
            ("sewing line", "sew-1", "sewing"),
        ],
    )
    .await;
    let (cut, sew) = (ids[0], ids[1]);
    let counter = ok(
        &app,
        Method::POST,
        "/tags",
        key,
        Some(json!({"name": "sew-1.part_counter", "machine_id": sew, "value_type": "integer"})),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (url, got) = receiver().await;
    let hook = ok(
        &app,
        Method::POST,
        "/webhooks",
        key,
        Some(json!({"url": url, "event_types": [
            "order.quoted", "order.confirmed", "order.scheduled", "order.in_production",
            "order.quality_check", "order.shipped", "order.delivered"]})),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();

    // A template that is wrong names its field; the right one is stored with its product.
    let mut bad = shirt();
    bad["constraints"][0]["then"]["option"] = json!("cuff");
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/order-templates",
            Some(key),
            Some(bad),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("constraints[0].then.option")
        )
    );
    let tpl = ok(&app, Method::POST, "/order-templates", key, Some(shirt())).await;
    let tpl_id = tpl["id"].as_i64().unwrap();
    assert!(tpl["product_id"].as_i64().is_some());
    let shop = storefront_key(&app, key, 600).await;

    // Quote two linen shirts with a monogram: (299 + 80 + 30) × 0.95 = 388.55 each.
    let (s, q, _) = app
        .call(
            Method::POST,
            "/api/v1/shop/quotes",
            Some(&shop),
            Some(
                json!({"template_id": tpl_id, "quantity": 2, "configuration":
                {"fabric": "linen", "collar": "kent", "neck_cm": 40.5, "monogram": "ABC"}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    assert_eq!(q["state"], "quoted");
    assert_eq!(q["price"]["unit_minor"], 38855);
    assert_eq!(q["price"]["total_minor"], 77710);
    assert_eq!(q["time_zone"], "Asia/Shanghai");
    assert!(q["promised_ship_date"].is_string());
    let token = q["token"].as_str().unwrap().to_string();

    let (s, placed, _) = app
        .call(
            Method::POST,
            "/api/v1/shop/orders",
            Some(&shop),
            Some(
                json!({"token": token, "customer": {"name": "Li Wei", "email": "li@example.com"}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["state"], "scheduled");
    let id = placed["id"].as_i64().unwrap();
    let steps = placed["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["machine_id"], cut);
    assert_eq!(steps[1]["machine_id"], sew);
    // Cutting 60 + 2 × 300 s, then sewing 2 × (1800 + 600) s right after.
    assert_eq!(steps[0]["machine_secs"], 660.0);
    assert_eq!(steps[1]["machine_secs"], 4800.0);
    assert_eq!(steps[0]["planned_end"], steps[1]["planned_start"]);

    // A transition that is not allowed answers 409 naming the allowed ones.
    let (s, p, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/orders/{id}/transitions"),
            Some(key),
            Some(json!({"to": "delivered"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p["field"], "to");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .ends_with("it may become: in_production, cancelled, rejected"),
        "{p}"
    );

    // Production: the cutting work order runs and its parts are recorded; the sewing work
    // order runs and the machine's part counter counts two shirts.
    let now = Utc::now();
    let wo_cut = steps[0]["work_order_id"].as_i64().unwrap();
    let wo_sew = steps[1]["work_order_id"].as_i64().unwrap();
    let ts = |d: Duration| (now + d).to_rfc3339();
    for (wo, at) in [(wo_cut, -20), (wo_sew, -10)] {
        for state in ["released", "running"] {
            ok(
                &app,
                Method::POST,
                &format!("/work-orders/{wo}/transition"),
                key,
                Some(json!({"state": state, "at": ts(Duration::minutes(at))})),
            )
            .await;
        }
    }
    ok(
        &app,
        Method::POST,
        &format!("/machines/{cut}/production"),
        key,
        Some(json!({"produced": 2, "work_order_id": wo_cut, "at": ts(Duration::minutes(-15))})),
    )
    .await;
    ok(
        &app,
        Method::POST,
        &format!("/work-orders/{wo_cut}/transition"),
        key,
        Some(json!({"state": "completed", "at": ts(Duration::minutes(-12))})),
    )
    .await;
    let (s, o, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/shop/orders/{token}"),
            Some(&shop),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["state"], "in_production", "{o}");
    assert_eq!(o["progress"]["made"], 0);
    let samples: Vec<Value> = [(-9, 500), (-7, 500), (-5, 501), (-3, 502), (-1, 502)]
        .iter()
        .map(|(m, v)| json!({"tag_id": counter, "time": ts(Duration::minutes(*m)), "value": v}))
        .collect();
    ok(
        &app,
        Method::POST,
        "/ingest",
        key,
        Some(json!({"samples": samples})),
    )
    .await;
    app.store.build_mes_states().await.unwrap();
    let (_, o, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/shop/orders/{token}"),
            Some(&shop),
            None,
        )
        .await;
    assert_eq!(o["steps"][1]["produced"], 2, "{o}");
    assert_eq!(o["progress"]["made"], 2);
    assert_eq!(o["state"], "quality_check");

    // Quality: one failed unit on the last step holds the shipment; two passes release it.
    let unit = |n: &str, passed: bool| {
        json!({"unit_id": n, "product": "shirt", "work_order": format!("{}-2", placed["number"].as_str().unwrap()),
               "machine_id": sew, "produced_at": ts(Duration::minutes(-1)), "passed": passed})
    };
    ok(
        &app,
        Method::POST,
        "/quality/records",
        key,
        Some(json!({"records": [unit("S1", false)]})),
    )
    .await;
    let transitions = format!("/api/v1/orders/{id}/transitions");
    let ship = || {
        app.call(
            Method::POST,
            &transitions,
            Some(key),
            Some(json!({"to": "shipped", "note": "SF Express 123"})),
        )
    };
    let (s, p, _) = ship().await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "/problems/quality");
    ok(
        &app,
        Method::POST,
        "/quality/records",
        key,
        Some(json!({"records": [unit("S2", true), unit("S3", true)]})),
    )
    .await;
    let (s, o, _) = ship().await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(
        o["quality"],
        json!({"inspected": 3, "passed": 2, "failed": 1})
    );
    ok(
        &app,
        Method::POST,
        &format!("/orders/{id}/transitions"),
        key,
        Some(json!({"to": "delivered"})),
    )
    .await;

    // The consumer's timeline shows every step, in the site's time zone.
    let (_, o, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/shop/orders/{token}"),
            Some(&shop),
            None,
        )
        .await;
    let states: Vec<&str> = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "draft",
            "quoted",
            "confirmed",
            "scheduled",
            "in_production",
            "quality_check",
            "shipped",
            "delivered"
        ]
    );
    assert!(o["timeline"][6]["note"]
        .as_str()
        .unwrap()
        .contains("SF Express"));
    assert!(o["timeline"][1]["at_local"]
        .as_str()
        .unwrap()
        .ends_with("CST"));
    let tl = ok(
        &app,
        Method::GET,
        &format!("/orders/{id}/timeline"),
        key,
        None,
    )
    .await;
    assert_eq!(tl.as_array().unwrap().len(), 8);

    // Every transition is audited …
    let audit = ok(&app, Method::GET, "/audit?limit=500", key, None).await;
    let n = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "order.transition" && e["target"] == format!("order/{id}"))
        .count();
    assert_eq!(n, 7, "{audit}");
    // … and sent, signed, to the webhook.
    let events = wait_for("seven order events", async || {
        let got = got.lock().unwrap().clone();
        (got.len() >= 7).then_some(got)
    })
    .await;
    let mut types = Vec::new();
    for (sig, body) in &events {
        signature::verify(&secret, sig, body, Utc::now().timestamp(), 300).expect("signed");
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["data"]["id"], id);
        types.push(v["type"].as_str().unwrap().to_string());
    }
    types.sort();
    let mut want = vec![
        "order.confirmed",
        "order.delivered",
        "order.in_production",
        "order.quality_check",
        "order.quoted",
        "order.scheduled",
        "order.shipped",
    ];
    want.sort();
    assert_eq!(types, want);
    let board = ok(&app, Method::GET, "/orders/board", key, None).await;
    assert_eq!(board["states"]["delivered"], 1);
}

#[tokio::test]
async fn the_storefront_key_is_narrow_rate_limited_and_idempotent() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "shop", &[]).await;
    let key = t.key.as_str();
    plant(
        &app,
        key,
        "garment plant",
        around_the_clock(),
        &[
            ("cutting line", "cut-1", "cutting_table"),
            ("sewing line", "sew-1", "sewing"),
        ],
    )
    .await;
    let tpl_id = ok(&app, Method::POST, "/order-templates", key, Some(shirt())).await["id"]
        .as_i64()
        .unwrap();
    let shop = storefront_key(&app, key, 600).await;

    // The storefront key reaches the shop routes only; tenant keys do not reach the shop.
    for path in [
        "/api/v1/orders",
        "/api/v1/sites",
        "/api/v1/order-templates",
        "/api/v1/storefront-keys",
    ] {
        let (s, _, _) = app.call(Method::GET, path, Some(&shop), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/shop/templates", Some(key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let list = ok(&app, Method::GET, "/shop/templates", &shop, None).await;
    assert_eq!(list[0]["code"], "SHIRT-MTM");

    // Refusals name the options.
    let quote = |config: Value| json!({"template_id": tpl_id, "configuration": config});
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/shop/quotes",
            Some(&shop),
            Some(quote(
                json!({"fabric": "silk", "collar": "button_down", "neck_cm": 40}),
            )),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "configuration.collar");
    assert_eq!(
        p["detail"],
        "fabric = silk cannot be combined with collar = button_down: silk collars are not buttoned down"
    );
    let (s, p, _) = app
        .call(
            Method::POST,
            "/api/v1/shop/quotes",
            Some(&shop),
            Some(quote(
                json!({"fabric": "cotton", "collar": "kent", "neck_cm": 40.2}),
            )),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("configuration.neck_cm")
        )
    );

    // Idempotency-Key: the same body answers the first reply; another body is refused.
    let body = quote(json!({"fabric": "cotton", "collar": "kent", "neck_cm": 40}));
    let send = |k: &'static str, b: Value| {
        app.http()
            .post(format!("{}/api/v1/shop/quotes", app.url))
            .bearer_auth(&shop)
            .header("Idempotency-Key", k)
            .json(&b)
            .send()
    };
    let first = send("q-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("q-1", body.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["token"], first["token"]);
    let other = send(
        "q-1",
        quote(json!({"fabric": "linen", "collar": "kent", "neck_cm": 40})),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["field"], "Idempotency-Key");
    let orders = ok(&app, Method::GET, "/orders", key, None).await;
    assert_eq!(
        orders.as_array().unwrap().len(),
        1,
        "one order for two requests"
    );

    // Another tenant's shop sees nothing of this one.
    let t2 = tenant_with_tags(&app.store, "other", &[]).await;
    let shop2 = storefront_key(&app, &t2.key, 600).await;
    let (s, _, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/shop/orders/{}", first["token"].as_str().unwrap()),
            Some(&shop2),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Its own rate: three a minute, the fourth waits.
    let slow = storefront_key(&app, key, 3).await;
    for _ in 0..3 {
        ok(&app, Method::GET, "/shop/templates", &slow, None).await;
    }
    let res = app
        .http()
        .get(format!("{}/api/v1/shop/templates", app.url))
        .bearer_auth(&slow)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));

    // A revoked key stops at once; a tenant below Pro has no shop.
    let keys = ok(&app, Method::GET, "/storefront-keys", key, None).await;
    let slow_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| slow.starts_with(k["prefix"].as_str().unwrap()))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    ok(
        &app,
        Method::DELETE,
        &format!("/storefront-keys/{slow_id}"),
        key,
        None,
    )
    .await;
    let (s, _, _) = app
        .call(Method::GET, "/shop/templates", Some(&slow), None)
        .await;
    assert_ne!(s, StatusCode::OK);
    let mes = app
        .store
        .create_tenant(&NewTenant::named("mes only", Plan::Mes))
        .await
        .unwrap();
    let mes_shop = app.store.issue_storefront_key(mes, "shop").await.unwrap();
    let (s, p, _) = app
        .call(Method::GET, "/api/v1/shop/templates", Some(&mes_shop), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, _, _) = app
        .call(
            Method::GET,
            "/api/v1/orders",
            Some(
                &app.store
                    .issue_api_key(mes, "k", millwright_tenants::role::Role::Owner)
                    .await
                    .unwrap(),
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn fifty_concurrent_placements_at_a_line_with_room_for_ten() {
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "rush", &[]).await;
    let key = t.key.as_str();
    // 08:00–18:00: ten hours a day on one sewing machine; an hour a shirt, from tomorrow on.
    plant(
        &app,
        key,
        "garment plant",
        json!([{"name": "day", "start": "08:00", "end": "18:00"}]),
        &[("sewing line", "sew-1", "sewing")],
    )
    .await;
    let tpl = json!({
        "code": "TEE", "name": "T-shirt", "currency": "CNY", "base_price_minor": 9900,
        "options": [{"key": "size", "type": "choice", "choices": [{"value": "m"}, {"value": "l"}]}],
        "routing": [{"line_kind": "sewing", "cycle_secs": 3600}],
        "lead_days": 1
    });
    let tpl_id = ok(&app, Method::POST, "/order-templates", key, Some(tpl)).await["id"]
        .as_i64()
        .unwrap();
    let shop = storefront_key(&app, key, 1000).await;
    let mut tokens = Vec::new();
    let mut promised = None;
    for _ in 0..50 {
        let q = ok(
            &app,
            Method::POST,
            "/shop/quotes",
            &shop,
            Some(json!({"template_id": tpl_id, "configuration": {"size": "m"}})),
        )
        .await;
        promised.get_or_insert(q["promised_ship_date"].clone());
        assert_eq!(q["promised_ship_date"], *promised.as_ref().unwrap());
        tokens.push(q["token"].as_str().unwrap().to_string());
    }
    let promised = promised.unwrap();
    let mut tasks = Vec::new();
    for token in tokens {
        let (http, url, shop) = (app.http().clone(), app.url.clone(), shop.clone());
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(format!("{url}/api/v1/shop/orders"))
                .bearer_auth(&shop)
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut scheduled = Vec::new();
    let mut later = 0;
    for task in tasks {
        let (s, v) = task.await.unwrap();
        match s {
            StatusCode::CREATED => {
                assert_eq!(v["state"], "scheduled");
                assert_eq!(v["promised_ship_date"], promised);
                scheduled.push((
                    v["steps"][0]["planned_start"].as_str().unwrap().to_string(),
                    v["steps"][0]["planned_end"].as_str().unwrap().to_string(),
                ));
            }
            StatusCode::CONFLICT => {
                assert_eq!(v["type"], "/problems/promised-date", "{v}");
                assert_ne!(v["promised_ship_date"], promised);
                assert_eq!(v["order"]["state"], "quoted");
                later += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((scheduled.len(), later), (10, 40));
    // Back to back, never overlapping.
    scheduled.sort();
    for w in scheduled.windows(2) {
        assert_eq!(w[0].1, w[1].0, "{scheduled:?}");
    }
    let board = ok(&app, Method::GET, "/orders/board", key, None).await;
    assert_eq!(board["states"]["scheduled"], 10);
    assert_eq!(board["states"]["quoted"], 40);
    assert_eq!(board["lines"][0]["open_steps"], 10);
    let wos = ok(&app, Method::GET, "/work-orders", key, None).await;
    assert_eq!(wos.as_array().unwrap().len(), 10);
}
