//! The outside probe of issue #11, kept in the test command. Both halves are generated, so a
//! route or a table added later is covered without editing this file:
//!
//! - **Cross-tenant, cross-role matrix over HTTP**, from the live OpenAPI document: tenant B's
//!   objects are created (the usual resources by hand, any other collection with a `POST` by a
//!   body generated from its schema), and every documented operation is called by every kind
//!   of tenant-A credential with B's ids in the path. No answer may be a 5xx, carry B's data or
//!   succeed on B's object, a role the document says may call an operation is never refused
//!   for its role, and B's rows are byte for byte the same afterwards.
//! - **Direct SQL as the application role**, from the catalog: every table, view, partition,
//!   chunk and function of the database, read, written and called with tenant A set, never
//!   yields or touches B's rows.

use std::collections::{BTreeMap, HashMap};

use millwright_platform::config::BackendChoice;
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::{Store, TenantId};
use millwright_platform::test_util::{fresh_store, tenant_with_tags, TestApp, TestTenant};
use millwright_tenants::role::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[macro_use]
mod common;

/// Every text of tenant B carries this, so a leak shows wherever it surfaces.
const MARK: &str = "bsecret";
const OPERATOR_KEY: &str = "mwk_operator_0123456789abcdefghijABCDEFGHIJ0123456789abc";
const PASSWORD: &str = "correct horse battery staple";
/// An id nobody has.
const NOBODYS: i64 = 999_999_999;

// --- The HTTP matrix ------------------------------------------------------------------------

/// The OpenAPI document with `$ref`s resolved on demand.
struct Doc(Value);

impl Doc {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// A value of `schema`: every property filled (ids from `ids`, text marked with `mark`).
    fn example(
        &self,
        schema: &Value,
        name: &str,
        ids: &HashMap<String, i64>,
        mark: &str,
        depth: u32,
    ) -> Value {
        let schema = self.resolve(schema);
        if depth > 4 {
            return Value::Null;
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(options) = schema[key].as_array() {
                if let Some(o) = options.iter().find(|o| o["type"] != "null") {
                    return self.example(o, name, ids, mark, depth + 1);
                }
            }
        }
        let kind = match &schema["type"] {
            Value::Array(types) => types
                .iter()
                .find(|t| *t != "null")
                .and_then(Value::as_str)
                .unwrap_or("null")
                .to_string(),
            Value::String(t) => t.clone(),
            _ if schema["properties"].is_object() => "object".into(),
            _ => "null".into(),
        };
        match kind.as_str() {
            "object" => {
                let mut out = serde_json::Map::new();
                if let Some(props) = schema["properties"].as_object() {
                    for (key, prop) in props {
                        out.insert(key.clone(), self.example(prop, key, ids, mark, depth + 1));
                    }
                }
                Value::Object(out)
            }
            "array" => json!([self.example(&schema["items"], name, ids, mark, depth + 1)]),
            "integer" => {
                let resource = name.strip_suffix("_id").map(|r| format!("{r}s"));
                json!(resource.and_then(|r| ids.get(&r).copied()).unwrap_or(1))
            }
            "number" => json!(1.5),
            "boolean" => json!(false),
            "string" => match schema["format"].as_str() {
                Some("date-time") => json!(chrono::Utc::now().to_rfc3339()),
                Some("password") => json!(PASSWORD),
                _ if name.contains("email") => json!(format!("probe@{mark}.example")),
                _ if name.contains("role") => json!("viewer"),
                _ => json!(format!("{mark}-{name}")),
            },
            _ => Value::Null,
        }
    }

    /// (method, path, operation) of every documented operation.
    fn operations(&self) -> Vec<(Method, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in self.0["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                    out.push((m, path.clone(), op));
                }
            }
        }
        out
    }

    /// The JSON request body schema of an operation, if it takes one.
    fn body_schema<'a>(&'a self, op: &'a Value) -> Option<&'a Value> {
        op["requestBody"]["content"]["application/json"]
            .get("schema")
            .map(|s| self.resolve(s))
    }
}

/// The roles the document says may call an operation (from "Permission `…`: roles a, b; …").
fn documented_roles(op: &Value) -> Option<Vec<String>> {
    let text = op["description"].as_str()?;
    let roles = text
        .split("Permission `")
        .nth(1)?
        .split(": roles ")
        .nth(1)?;
    Some(
        roles
            .split(';')
            .next()?
            .split(',')
            .map(|r| r.trim().to_string())
            .collect(),
    )
}

/// `path` with every parameter replaced by B's object of that resource (or an id nobody
/// has); also whether any real B id went in.
fn concrete(path: &str, ids: &HashMap<String, i64>) -> (String, bool) {
    let mut out = Vec::new();
    let mut real = false;
    let segments: Vec<&str> = path.split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        if s.starts_with('{') {
            let resource = segments.get(i.wrapping_sub(1)).copied().unwrap_or_default();
            match ids.get(resource) {
                Some(id) => {
                    real = true;
                    out.push(id.to_string());
                }
                None if s.starts_with("{*") => out.push("x".into()),
                None => out.push(NOBODYS.to_string()),
            }
        } else {
            out.push((*s).to_string());
        }
    }
    (out.join("/"), real)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> (StatusCode, String) {
    let mut req = app
        .http()
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(key);
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Tenant B's objects, made through the API with its owner key, every text marked: the usual
/// resources by hand, then any other collection the document lets B create.
async fn populate_b(app: &TestApp, doc: &Doc, b: &TestTenant) -> HashMap<String, i64> {
    let mut ids: HashMap<String, i64> = HashMap::new();
    let key = b.key.as_str();
    let post = |path: String, body: Value| async move {
        let (s, text) = call(app, Method::POST, &path, key, Some(&body)).await;
        assert!(s.is_success(), "B: POST {path}: {s} {text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let site = post(
        "/api/v1/sites".into(),
        json!({"name": format!("{MARK}-site"), "description": MARK}),
    )
    .await;
    let line = post(
        "/api/v1/lines".into(),
        json!({"name": format!("{MARK}-line"), "site_id": site}),
    )
    .await;
    let machine = post(
        "/api/v1/machines".into(),
        json!({"name": format!("{MARK}-machine"), "line_id": line, "kind": MARK}),
    )
    .await;
    let tag = post(
        "/api/v1/tags".into(),
        json!({"name": format!("{MARK}.temp"), "machine_id": machine, "unit": MARK}),
    )
    .await;
    let command = post(
        format!("/api/v1/tags/{tag}/commands"),
        json!({"value": 4.2}),
    )
    .await;
    let event = post(
        format!("/api/v1/machines/{machine}/events"),
        json!({"kind": "failure", "at": chrono::Utc::now(), "code": MARK, "note": MARK}),
    )
    .await;
    let user = post(
        "/api/v1/users".into(),
        json!({"email": format!("someone@{MARK}.example"), "name": MARK, "role": "viewer", "password": PASSWORD}),
    )
    .await;
    let api_key = post(
        "/api/v1/api-keys".into(),
        json!({"name": format!("{MARK}-key"), "role": "viewer"}),
    )
    .await;
    let (s, text) = call(
        app,
        Method::POST,
        "/api/v1/ingest",
        key,
        Some(&json!({"samples": [{"tag_id": tag, "time": chrono::Utc::now(), "value": 6.66}]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    for (resource, id) in [
        ("sites", site),
        ("lines", line),
        ("machines", machine),
        ("tags", tag),
        ("commands", command),
        ("events", event),
        ("users", user),
        ("api-keys", api_key),
    ] {
        ids.insert(resource.into(), id);
    }
    // Any other collection with an item route: create one from the schema, else take the
    // first object B already has.
    for (method, path, op) in doc.operations() {
        let Some(collection) = path.strip_prefix("/api/v1/") else {
            continue;
        };
        if collection.contains('{')
            || ids.contains_key(collection)
            || collection.starts_with("admin")
        {
            continue;
        }
        let item = format!("{path}/{{id}}");
        if !doc.0["paths"].as_object().unwrap().contains_key(&item) {
            continue;
        }
        if method == Method::POST {
            if let Some(schema) = doc.body_schema(op) {
                let body = doc.example(schema, "", &ids, MARK, 0);
                let (s, text) = call(app, Method::POST, &path, key, Some(&body)).await;
                let id = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_i64());
                if let (true, Some(id)) = (s.is_success(), id) {
                    ids.insert(collection.to_string(), id);
                    continue;
                }
            }
        }
        if method == Method::GET {
            let (s, text) = call(app, Method::GET, &path, key, None).await;
            let first = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                v.as_array()
                    .and_then(|a| a.first())
                    .and_then(|o| o["id"].as_i64())
            });
            if let (true, Some(id)) = (s.is_success(), first) {
                ids.entry(collection.to_string()).or_insert(id);
            }
        }
    }
    // Collections nested under another resource keep their last segment as the name.
    let mut nested = Vec::new();
    for (resource, id) in &ids {
        if let Some(last) = resource.rsplit('/').next().filter(|l| l != resource) {
            nested.push((last.to_string(), *id));
        }
    }
    ids.extend(nested);
    ids
}

/// Every row of tenant B in every table with a `tenant_id`, hashed per table (from the catalog).
async fn tenant_rows(store: &Store, tenant: TenantId) -> BTreeMap<String, String> {
    let c = store.owner_pool().get().await.unwrap();
    let tables: Vec<String> = c
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' \
             WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND NOT c.relispartition \
               AND c.relname NOT IN ('usage_daily')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        // last_used_at moves when B's own key is used; everything else must stay put.
        let row: Option<String> = c
            .query_one(
                &format!(
                    "SELECT md5(string_agg((to_jsonb(x) - 'last_used_at')::text, ',' ORDER BY (to_jsonb(x) - 'last_used_at')::text)) \
                     FROM {t} x WHERE tenant_id = $1"
                ),
                &[&tenant.0],
            )
            .await
            .unwrap()
            .get(0);
        out.insert(t, row.unwrap_or_default());
    }
    out
}

/// The probe's matrix: every documented operation × every kind of tenant-A credential, with
/// tenant B's ids in the path.
#[tokio::test]
async fn no_route_and_no_role_reaches_another_tenants_objects() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = TestApp::spawn_with(|s| {
        s.auth.operator_key_sha256 = Some(hex::encode(Sha256::digest(OPERATOR_KEY.as_bytes())));
    })
    .await;
    let a = tenant_with_tags(&app.store, "probe-a", &["a.temp"]).await;
    let b = tenant_with_tags(&app.store, "probe-b", &["bsecret.speed"]).await;
    let (_, doc, _) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let doc = Doc(doc);
    let b_ids = populate_b(&app, &doc, &b).await;

    // Every kind of credential of tenant A: a key per role, a scoped device token, a signed-in
    // owner; and a bureau user, who belongs to no tenant.
    let mut callers: Vec<(String, String)> = Vec::new();
    for role in [
        Role::Owner,
        Role::Admin,
        Role::Engineer,
        Role::Operator,
        Role::Viewer,
    ] {
        let key = app.store.issue_api_key(a.id, "probe", role).await.unwrap();
        callers.push((role.as_str().into(), key));
    }
    let device = app
        .store
        .issue_device_token(a.id, "probe", a.site_id)
        .await
        .unwrap();
    callers.push(("device".into(), device));
    for (email, role, path, body) in [
        (
            "owner@probe-a.example",
            "owner",
            "/api/v1/users",
            json!({"email": "owner@probe-a.example", "role": "owner", "password": PASSWORD}),
        ),
        (
            "bureau@probe.example",
            "bureau",
            "/api/v1/admin/bureau-users",
            json!({"email": "bureau@probe.example", "password": PASSWORD}),
        ),
    ] {
        let by = if role == "bureau" {
            OPERATOR_KEY
        } else {
            &a.key
        };
        let (s, text) = call(&app, Method::POST, path, by, Some(&body)).await;
        assert!(s.is_success(), "{text}");
        let (_, tokens, _) = app
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        callers.push((
            format!("{role} (signed in)"),
            tokens["access_token"].as_str().unwrap().into(),
        ));
    }

    let before = tenant_rows(&app.store, b.id).await;
    let mut calls = 0;
    let mut with_b_ids = 0;
    for (method, path, op) in doc.operations() {
        if path.ends_with("/auth/logout") {
            continue; // would end the signed-in callers' sessions half-way
        }
        let (concrete, real) = concrete(&path, &b_ids);
        let body = doc
            .body_schema(op)
            .map(|s| doc.example(s, "", &HashMap::new(), "probe", 0));
        let roles = documented_roles(op);
        for (who, key) in &callers {
            let (status, text) = call(&app, method.clone(), &concrete, key, body.as_ref()).await;
            calls += 1;
            let what =
                format!("{who}: {method} {concrete} ({path}) answered {status}: {text:.300}");
            assert!(!status.is_server_error(), "{what}");
            assert!(
                !text.to_lowercase().contains(MARK),
                "B's data leaked to {what}"
            );
            if real {
                assert!(!status.is_success(), "A succeeded on B's object: {what}");
            }
            let role = who.split(' ').next().unwrap_or_default();
            if roles.as_ref().is_some_and(|r| r.iter().any(|x| x == role)) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "the document allows this role: {what}"
                );
            }
        }
        with_b_ids += usize::from(real);
    }
    assert!(calls >= 8 * 50, "only {calls} calls");
    assert!(
        with_b_ids >= 20,
        "only {with_b_ids} operations got a real B id: {b_ids:?}"
    );
    assert_eq!(
        tenant_rows(&app.store, b.id).await,
        before,
        "B's rows changed"
    );
}

// --- Direct SQL as the application role ----------------------------------------------------

on_every_backend!(
    the_app_role_reaches_only_its_tenant_through_every_relation,
    the_app_role_changes_only_its_tenant_through_every_relation,
    no_function_the_app_role_may_call_yields_another_tenants_data,
);

struct Sql {
    store: Store,
    a: TestTenant,
    b: TestTenant,
}

async fn sql_fixture(backend: BackendChoice) -> Sql {
    let (store, _) = fresh_store(backend).await;
    let a = tenant_with_tags(&store, "sql-a", &["a.temp"]).await;
    let b = tenant_with_tags(&store, "sql-b", &["bsecret.temp"]).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for t in [&a, &b] {
        let rows: Vec<SampleRow> = (0..120)
            .map(|i| SampleRow {
                tag_id: t.tag_ids[0],
                time: start + chrono::Duration::seconds(i),
                value: Some(i as f64),
                quality: Quality::Good,
            })
            .collect();
        store
            .tenant(t.id)
            .await
            .unwrap()
            .ingest(&rows)
            .await
            .unwrap();
    }
    store.maintain().await.unwrap();
    if store.backend() == millwright_platform::store::Backend::Timescale {
        let c = store.owner_pool().get().await.unwrap();
        c.batch_execute("CALL refresh_continuous_aggregate('rollup_1m', NULL, NULL)")
            .await
            .unwrap();
    }
    Sql { store, a, b }
}

/// An application-role connection with tenant A set for the session.
async fn app_conn(s: &Sql) -> deadpool_postgres::Object {
    let c = s.store.app_pool().get().await.unwrap();
    c.execute(
        "SELECT set_config('millwright.tenant_id', $1, false)",
        &[&s.a.id.0.to_string()],
    )
    .await
    .unwrap();
    c
}

/// Every relation the catalog knows outside PostgreSQL's own schemas: tables, partitions,
/// views, materialized views, foreign tables, TimescaleDB's chunks and aggregates.
async fn every_relation(store: &Store) -> Vec<String> {
    let c = store.owner_pool().get().await.unwrap();
    c.query(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
           AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%' \
         ORDER BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn denied(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
}

async fn the_app_role_reaches_only_its_tenant_through_every_relation(backend: BackendChoice) {
    let s = sql_fixture(backend).await;
    let relations = every_relation(&s.store).await;
    assert!(relations.len() > 20, "{relations:?}");
    let c = app_conn(&s).await;
    let b_tag = s.b.tag_ids[0];
    let (mut readable, mut refused) = (0, 0);
    for rel in &relations {
        match c
            .query(&format!("SELECT to_jsonb(x)::text FROM {rel} x"), &[])
            .await
        {
            Err(e) if denied(&e) => refused += 1,
            Err(e) => panic!("{rel}: {e}"),
            Ok(rows) => {
                readable += 1;
                for r in rows {
                    let text: String = r.get(0);
                    let row: Value = serde_json::from_str(&text).unwrap();
                    assert!(!text.contains(MARK), "{rel} shows B's row: {text}");
                    if let Some(t) = row["tenant_id"].as_i64() {
                        assert_eq!(
                            t,
                            i64::from(s.a.id.0),
                            "{rel} shows another tenant's row: {text}"
                        );
                    }
                    assert_ne!(
                        row["tag_id"].as_i64(),
                        Some(b_tag),
                        "{rel} shows B's tag: {text}"
                    );
                }
            }
        }
    }
    assert!(
        readable > 5 && refused > 5,
        "{readable} readable, {refused} refused"
    );
}

async fn the_app_role_changes_only_its_tenant_through_every_relation(backend: BackendChoice) {
    let s = sql_fixture(backend).await;
    let relations = every_relation(&s.store).await;
    let c = app_conn(&s).await;
    for rel in &relations {
        for statement in [
            format!("DELETE FROM {rel} x RETURNING to_jsonb(x)::text"),
            format!("UPDATE {rel} x SET tenant_id = tenant_id RETURNING to_jsonb(x)::text"),
            format!("INSERT INTO {rel} DEFAULT VALUES RETURNING to_jsonb({rel})::text"),
        ] {
            c.batch_execute("BEGIN").await.unwrap();
            if let Ok(rows) = c.query(&statement, &[]).await {
                for r in rows {
                    let text: String = r.get(0);
                    assert!(!text.contains(MARK), "{statement} touched B: {text}");
                    let row: Value = serde_json::from_str(&text).unwrap();
                    if let Some(t) = row["tenant_id"].as_i64() {
                        assert_eq!(
                            t,
                            i64::from(s.a.id.0),
                            "{statement} touched another tenant: {text}"
                        );
                    }
                }
            }
            c.batch_execute("ROLLBACK").await.unwrap();
        }
    }
}

async fn no_function_the_app_role_may_call_yields_another_tenants_data(backend: BackendChoice) {
    let s = sql_fixture(backend).await;
    let owner = s.store.owner_pool().get().await.unwrap();
    // Every function of ours (not an extension's) the application role may execute.
    let functions: Vec<(String, String, Vec<String>)> = owner
        .query(
            "SELECT p.oid::regprocedure::text, format('%I.%I', n.nspname, p.proname), \
                    coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY i) \
                              FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i)), '{}') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public' AND p.prokind = 'f' \
               AND p.prorettype <> 'trigger'::regtype \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                               AND d.objid = p.oid AND d.deptype = 'e') \
               AND has_function_privilege('millwright_app', p.oid, 'EXECUTE') \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        functions
            .iter()
            .any(|(f, _, _)| f == "authenticate_api_key(bytea)"),
        "{functions:?}"
    );
    let c = app_conn(&s).await;
    let (b_tenant, b_tag) = (s.b.id.0, s.b.tag_ids[0]);
    for (signature, name, args) in &functions {
        // NULLs, then B's own ids wherever an id fits.
        let mut attempts = vec![args
            .iter()
            .map(|t| format!("NULL::{t}"))
            .collect::<Vec<_>>()];
        attempts.push(
            args.iter()
                .map(|t| match t.as_str() {
                    "integer" => b_tenant.to_string(),
                    "bigint" => b_tag.to_string(),
                    other => format!("NULL::{other}"),
                })
                .collect(),
        );
        for args in attempts {
            let sql = format!(
                "SELECT to_jsonb(x)::text FROM {name}({}) x",
                args.join(", ")
            );
            c.batch_execute("BEGIN").await.unwrap();
            match c.query(&sql, &[]).await {
                Ok(rows) => {
                    for r in rows {
                        let text: Option<String> = r.get(0);
                        let text = text.unwrap_or_default();
                        assert!(!text.contains(MARK), "{signature} → {text}");
                    }
                }
                Err(e) => {
                    // The function's own refusals (a missing tenant, a foreign staging table)
                    // are fine; being refused the call itself is not, for a granted function.
                    let message = e
                        .as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_default();
                    assert!(
                        !message.starts_with("permission denied for function"),
                        "{signature} is granted but refused: {message}"
                    );
                }
            }
            c.batch_execute("ROLLBACK").await.unwrap();
        }
    }
}
