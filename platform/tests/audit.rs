//! The audit log: every change through the API lands in it with who, what, before and after;
//! it is append-only for the application and the owner alike; tampering is found by
//! `Store::verify_audit` and by `millwright audit verify`.

use millwright_platform::test_util::{tenant_with_tags, TestApp};
use millwright_tenants::role::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn changes_are_recorded_chained_append_only_and_tampering_is_found() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = TestApp::spawn().await;
    let t = tenant_with_tags(&app.store, "audited", &["valve.sp"]).await;
    let other = tenant_with_tags(&app.store, "neighbour", &[]).await;
    let engineer = app
        .store
        .issue_api_key(t.id, "eng", Role::Engineer)
        .await
        .unwrap();

    let (s, site, _) = app
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&engineer),
            Some(json!({"name": "Ningbo"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = site["id"].as_i64().unwrap();
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/sites/{id}"),
            Some(&engineer),
            Some(json!({"description": "east plant"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/sites/{id}"),
            Some(&engineer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tags/{}/commands", t.tag_ids[0]),
            Some(&engineer),
            Some(json!({"value": 42.0})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Twenty changes at once still make one unbroken chain.
    let creates = (0..20).map(|i| {
        app.call(
            Method::POST,
            "/api/v1/sites",
            Some(&engineer),
            Some(json!({"name": format!("s{i}")})),
        )
    });
    for (s, body, _) in futures::future::join_all(creates).await {
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }

    // Engineers do not read the log; admins and owners do.
    let (s, _, _) = app
        .call(Method::GET, "/api/v1/audit", Some(&engineer), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, log, _) = app
        .call(Method::GET, "/api/v1/audit?limit=1000", Some(&t.key), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let log = log.as_array().unwrap();
    let seqs: Vec<i64> = log.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let find =
        |action: &str| -> Vec<&Value> { log.iter().filter(|e| e["action"] == action).collect() };
    let update = find("site.update")[0];
    let prefix = &engineer[..12];
    assert_eq!(update["actor"], format!("key {prefix}"));
    assert_eq!(update["target"], format!("site/{id}"));
    assert_eq!(update["before"]["description"], "");
    assert_eq!(update["after"]["description"], "east plant");
    assert_eq!(find("site.delete")[0]["after"], Value::Null);
    assert_eq!(find("command.issue")[0]["after"]["value"], 42.0);
    assert_eq!(
        find("site.create").len(),
        2 + 20,
        "the fixture's site, Ningbo and twenty"
    );
    // The neighbour sees only its own entries.
    let (_, theirs, _) = app
        .call(
            Method::GET,
            "/api/v1/audit?limit=1000",
            Some(&other.key),
            None,
        )
        .await;
    assert!(theirs.as_array().unwrap().iter().all(|e| !e["target"]
        .as_str()
        .unwrap()
        .contains(&format!("site/{id}"))));

    // Append-only: the application role may not change or delete entries, nor may the owner.
    let mut app_db = app.store.app_pool().get().await.unwrap();
    let tx = app_db.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('millwright.tenant_id', $1, true)",
        &[&t.id.0.to_string()],
    )
    .await
    .unwrap();
    let denied = tx
        .execute("UPDATE audit_log SET actor = 'nobody'", &[])
        .await;
    assert!(format!("{:?}", denied.unwrap_err()).contains("permission denied"));
    drop(tx);
    let owner_db = app.store.owner_pool().get().await.unwrap();
    let refused = owner_db
        .execute("DELETE FROM audit_log WHERE seq = 1", &[])
        .await;
    assert!(format!("{:?}", refused.unwrap_err()).contains("append-only"));

    let verdicts = app.store.verify_audit(None).await.unwrap();
    assert!(verdicts.iter().all(|v| v.broken.is_none()), "{verdicts:?}");
    let ours = verdicts.iter().find(|v| v.tenant == t.id).unwrap();
    assert_eq!(ours.entries, seqs.len() as u64);

    // Tamper as a superuser would: switch the trigger off and rewrite history.
    let forged = seqs[seqs.len() / 2];
    owner_db
        .batch_execute("ALTER TABLE audit_log DISABLE TRIGGER append_only")
        .await
        .unwrap();
    owner_db
        .execute(
            "UPDATE audit_log SET actor = 'someone else' WHERE tenant_id = $1 AND seq = $2",
            &[&t.id.0, &forged],
        )
        .await
        .unwrap();
    let verdicts = app.store.verify_audit(Some(t.id)).await.unwrap();
    let broken = verdicts[0]
        .broken
        .as_deref()
        .expect("tampering must be found");
    assert!(broken.contains(&forged.to_string()), "{broken}");

    // The command operators run says the same and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_millwright"))
        .args(["audit", "verify"])
        .env(
            "DATABASE_URL",
            app.settings.database.url.as_ref().unwrap().expose(),
        )
        .env(
            "MILLWRIGHT__STORE__BACKEND",
            serde_json::to_value(app.settings.store.backend)
                .unwrap()
                .as_str()
                .unwrap(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("audit: tenant {} (audited): BROKEN", t.id)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("audit: tenant {} (neighbour):", other.id)),
        "{stdout}"
    );
    assert!(stdout.contains("chain intact"), "{stdout}");
}
