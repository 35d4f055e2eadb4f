//! Setpoint commands over real HTTP against the real server and database: the life of a
//! command (issued, claimed, reported), tenant isolation, and bad input.

use millwright_platform::test_util::{tenant_with_tags, TestApp, TestTenant};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Ctx {
    app: TestApp,
    a: TestTenant,
    b: TestTenant,
    http: Client,
}

async fn ctx() -> Ctx {
    let app = TestApp::spawn().await;
    let a = tenant_with_tags(&app.store, "a", &["a.setpoint", "a.speed"]).await;
    let b = tenant_with_tags(&app.store, "b", &["b.setpoint"]).await;
    Ctx {
        app,
        a,
        b,
        http: Client::new(),
    }
}

impl Ctx {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        self.app.call(method, path, Some(key), body).await
    }

    async fn issue(&self, key: &str, tag_id: i64, body: Value) -> (StatusCode, Value, String) {
        let path = format!("/api/v1/tags/{tag_id}/commands");
        self.call(Method::POST, &path, key, Some(body)).await
    }

    async fn pending(&self, key: &str, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/commands/pending{query}");
        let (s, v, _) = self.call(Method::GET, &path, key, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v.as_array().unwrap().clone()
    }
}

fn assert_problem(got: &(StatusCode, Value, String), status: StatusCode, field: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.2, "application/problem+json", "{:?}", got.1);
    let named = got.1["field"].as_str().unwrap_or_default();
    assert!(named.contains(field), "expected field {field} in {}", got.1);
}

#[tokio::test]
async fn a_command_is_issued_claimed_once_and_reported() {
    let c = ctx().await;
    let tag = c.a.tag_ids[0];
    let (s, issued, _) = c.issue(&c.a.key, tag, json!({"value": 42.5})).await;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["tag_id"], tag);
    assert_eq!(issued["tag"], "a.setpoint");
    assert_eq!(issued["value"], 42.5);
    assert_eq!(issued["status"], "pending");
    let id = issued["id"].as_i64().unwrap();

    let claimed = c.pending(&c.a.key, "").await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["id"], id);
    assert_eq!(claimed[0]["tag"], "a.setpoint");
    assert_eq!(claimed[0]["status"], "delivered");
    assert!(c.pending(&c.a.key, "").await.is_empty(), "claimed once");

    let path = format!("/api/v1/commands/{id}");
    let (s, got, _) = c.call(Method::GET, &path, &c.a.key, None).await;
    assert_eq!((s, &got["status"]), (StatusCode::OK, &json!("delivered")));

    let result = format!("/api/v1/commands/{id}/result");
    let body = json!({"ok": true, "detail": "wrote 42.5"});
    let (s, done, _) = c
        .call(Method::POST, &result, &c.a.key, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["detail"], "wrote 42.5");
    let (_, got, _) = c.call(Method::GET, &path, &c.a.key, None).await;
    assert_eq!(got["status"], "done");

    // An outcome is final.
    let again = c.call(Method::POST, &result, &c.a.key, Some(body)).await;
    assert_problem(&again, StatusCode::CONFLICT, "id");

    // A failure keeps the connector's words.
    let (_, second, _) = c.issue(&c.a.key, tag, json!({"value": -1})).await;
    let id2 = second["id"].as_i64().unwrap();
    let body = json!({"ok": false, "detail": "tag is not marked writable"});
    let path = format!("/api/v1/commands/{id2}/result");
    let (s, failed, _) = c.call(Method::POST, &path, &c.a.key, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["detail"], "tag is not marked writable");
}

#[tokio::test]
async fn connectors_claim_only_the_tags_they_name() {
    let c = ctx().await;
    let (setpoint, speed) = (c.a.tag_ids[0], c.a.tag_ids[1]);
    c.issue(&c.a.key, setpoint, json!({"value": 1})).await;
    c.issue(&c.a.key, speed, json!({"value": 2})).await;
    let mine = c.pending(&c.a.key, "?tag=a.speed&tag=elsewhere").await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["tag"], "a.speed");
    let rest = c.pending(&c.a.key, "").await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["tag"], "a.setpoint");
    let got = c
        .call(
            Method::GET,
            "/api/v1/commands/pending?tags=x",
            &c.a.key,
            None,
        )
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "tags");
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_claim_nor_issue() {
    let c = ctx().await;
    let (_, issued, _) = c.issue(&c.a.key, c.a.tag_ids[0], json!({"value": 7})).await;
    let id = issued["id"].as_i64().unwrap();

    // B cannot issue to A's tag, see A's command, claim it or report on it.
    let got = c.issue(&c.b.key, c.a.tag_ids[0], json!({"value": 7})).await;
    assert_problem(&got, StatusCode::NOT_FOUND, "");
    let got = c
        .call(
            Method::GET,
            &format!("/api/v1/commands/{id}"),
            &c.b.key,
            None,
        )
        .await;
    assert_problem(&got, StatusCode::NOT_FOUND, "");
    assert!(c.pending(&c.b.key, "").await.is_empty());
    assert!(c.pending(&c.b.key, "?tag=a.setpoint").await.is_empty());
    let path = format!("/api/v1/commands/{id}/result");
    let got = c
        .call(Method::POST, &path, &c.b.key, Some(json!({"ok": true})))
        .await;
    assert_problem(&got, StatusCode::NOT_FOUND, "");

    // A's command is untouched and still A's to claim.
    let claimed = c.pending(&c.a.key, "").await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["id"], id);

    // B's own command stays B's.
    let (s, _, _) = c.issue(&c.b.key, c.b.tag_ids[0], json!({"value": 3})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(c.pending(&c.a.key, "").await.is_empty());
    assert_eq!(c.pending(&c.b.key, "").await.len(), 1);
}

#[tokio::test]
async fn bad_values_are_422_naming_the_field() {
    let c = ctx().await;
    let tag = c.a.tag_ids[0];
    for body in [
        json!({}),
        json!({"value": null}),
        json!({"value": "hot"}),
        json!({"value": [1]}),
    ] {
        let got = c.issue(&c.a.key, tag, body.clone()).await;
        assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "value");
    }
    // JSON has no NaN or infinity; these are what clients send instead.
    let path = format!("/api/v1/tags/{tag}/commands");
    for raw in [
        r#"{"value": NaN}"#,
        r#"{"value": 1e999}"#,
        r#"{"value": Infinity}"#,
    ] {
        let res = c
            .http
            .post(format!("{}{path}", c.app.url))
            .bearer_auth(&c.a.key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{raw}");
        let v: Value = res.json().await.unwrap();
        assert!(
            v["field"].as_str().unwrap_or_default().contains("value"),
            "{raw}: {v}"
        );
    }
    let got = c
        .issue(&c.a.key, tag, json!({"value": 1, "unit": "bar"}))
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "unit");
    let got = c.issue(&c.a.key, 999_999, json!({"value": 1})).await;
    assert_problem(&got, StatusCode::NOT_FOUND, "");
    // A result needs `ok`.
    let (_, issued, _) = c.issue(&c.a.key, tag, json!({"value": 1})).await;
    let path = format!("/api/v1/commands/{}/result", issued["id"]);
    let got = c
        .call(Method::POST, &path, &c.a.key, Some(json!({"detail": "x"})))
        .await;
    assert_problem(&got, StatusCode::UNPROCESSABLE_ENTITY, "ok");
    assert!(
        c.pending(&c.a.key, "").await.len() == 1,
        "bad requests issue nothing"
    );
}

#[tokio::test]
async fn the_database_keeps_commands_within_their_tenant() {
    use tokio_postgres::error::SqlState;
    let c = ctx().await;
    let b_tag = c.b.tag_ids[0];
    let b_command = c
        .app
        .store
        .tenant(c.b.id)
        .await
        .unwrap()
        .issue_command(b_tag, 5.0, 300)
        .await
        .unwrap()
        .expect("B's own tag");
    // The application role, as itself, on a connection taken out of the pool for good.
    let conn = c.app.store.app_pool().get().await.unwrap();
    let conn = deadpool_postgres::Object::take(conn);
    let as_tenant = |t: Option<i32>| t.map(|t| t.to_string()).unwrap_or_default();
    let set = "SELECT set_config('millwright.tenant_id', $1, false)";
    conn.execute(set, &[&as_tenant(Some(c.a.id.0))])
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let conn = &conn;
        async move { conn.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM commands").await, 0);
    // A command on another tenant's tag: the composite key refuses it.
    let err = conn
        .execute(
            "INSERT INTO commands (tag_id, value) VALUES ($1, 1)",
            &[&b_tag],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
    // Stamping another tenant's id: row-level security refuses it.
    let err = conn
        .execute(
            "INSERT INTO commands (tenant_id, tag_id, value) VALUES ($1, $2, 1)",
            &[&c.b.id.0, &b_tag],
        )
        .await
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message()).unwrap_or_default();
    assert!(message.contains("row-level security"), "{err:?}");
    // Another tenant's command cannot be changed, and no command can be deleted.
    let n = conn
        .execute("UPDATE commands SET status = 'done'", &[])
        .await
        .unwrap();
    assert_eq!(n, 0);
    let err = conn.execute("DELETE FROM commands", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    // Without a tenant, nothing at all.
    conn.execute(set, &[&as_tenant(None)]).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM commands").await, 0);
    // B's command is as it was.
    conn.execute(set, &[&as_tenant(Some(c.b.id.0))])
        .await
        .unwrap();
    let status: String = conn
        .query_one(
            "SELECT status FROM commands WHERE id = $1",
            &[&b_command.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn the_openapi_document_describes_the_command_routes() {
    let c = ctx().await;
    let doc: Value = c
        .http
        .get(format!("{}/api/v1/openapi.json", c.app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/v1/tags/{id}/commands", "post"),
        ("/api/v1/commands/pending", "get"),
        ("/api/v1/commands/{id}/result", "post"),
        ("/api/v1/commands/{id}", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing from the document");
        assert_eq!(op["tags"][0], "commands", "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["Command"].is_object());
}
