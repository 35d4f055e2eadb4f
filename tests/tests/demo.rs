//! The one-command demo, end to end: it starts its own PostgreSQL and three simulated plants
//! (real Modbus TCP servers), registers their tags, and one connector per plant polls the
//! machines and ships samples through the ingest API; the data comes back over HTTP.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use millwright_platform::config::Settings;
use millwright_platform::demo::Demo;
use serde_json::Value;

#[tokio::test]
async fn demo_runs_live_with_no_configuration() -> anyhow::Result<()> {
    let data = tempfile::Builder::new()
        .prefix("millwright-e2e-")
        .tempdir_in("/tmp")?;
    let mut settings = Settings::default();
    settings.http.listen = "127.0.0.1:0".parse()?;
    settings.store.maintenance_interval_secs = 1;
    let demo = Demo::start(settings, data.path().to_path_buf()).await?;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let req = http
            .get(format!("{}{path}", demo.info.api))
            .bearer_auth(&demo.info.api_key);
        async move { req.send().await?.error_for_status()?.json::<Value>().await }
    };

    let sites = get("/api/v1/sites".into()).await?;
    let mut site_names: Vec<&str> = sites
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    site_names.sort();
    assert_eq!(
        site_names,
        ["appliance-plant", "garment-plant", "machinery-plant"]
    );
    let tags = get("/api/v1/tags?limit=1000".into()).await?;
    let tags = tags.as_array().unwrap();
    assert_eq!(
        tags.len(),
        demo.info.tags.len(),
        "every tag the connectors feed is registered"
    );
    assert!(
        tags.len() >= 40,
        "the plants have their tags: {}",
        tags.len()
    );
    let ids: Vec<String> = tags.iter().map(|t| t["id"].to_string()).collect();

    // Live data arrives for every tag within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let latest = get(format!("/api/v1/samples/latest?tags={}", ids.join(","))).await?;
        if latest
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !l["sample"].is_null())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no live data: {latest}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // And keeps arriving: the newest sample moves on.
    let first = get(format!("/api/v1/tags/{}/samples", ids[0])).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = get(format!("/api/v1/tags/{}/samples", ids[0])).await?;
    assert!(
        later["samples"].as_array().unwrap().len() > first["samples"].as_array().unwrap().len()
    );
    let bucketed = get(format!("/api/v1/tags/{}/samples?bucket=1m&agg=avg", ids[0])).await?;
    assert!(!bucketed["points"].as_array().unwrap().is_empty());

    // The console is served at the printed address, and every printed login signs in with
    // the role it names.
    let shell = http.get(&demo.info.console).send().await?;
    assert!(shell.status().is_success());
    assert!(shell.text().await?.contains("/console/v/"));
    let roles: Vec<String> = demo
        .info
        .logins
        .iter()
        .map(|l| l.role.to_string())
        .collect();
    assert_eq!(
        roles,
        ["owner", "admin", "engineer", "operator", "viewer", "bureau"]
    );
    for login in &demo.info.logins {
        let tokens: Value = http
            .post(format!("{}/api/v1/auth/login", demo.info.api))
            .json(&serde_json::json!({"email": login.email, "password": login.password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let me: Value = http
            .get(format!("{}/api/v1/me", demo.info.api))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(me["role"], login.role.to_string(), "{}", login.email);
        // Issue #16: the bureau login reads the sector indices.
        if login.role.to_string() == "bureau" {
            let list: Value = http
                .get(format!("{}/api/v1/bureau/indices", demo.info.api))
                .bearer_auth(tokens["access_token"].as_str().unwrap())
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            assert_eq!(list["indices"].as_array().unwrap().len(), 8);
        }
    }

    // Every machine of every plant stays fresh for a minute: the newest sample of its tags
    // keeps moving on, the machinery plant's CNCs (over OPC UA) included. They once kept the
    // source timestamps of their first values, the platform dropped every later change as a
    // duplicate, and the CNCs read `unknown` after 30 s.
    let machine_of: HashMap<i64, i64> = tags
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["machine_id"].as_i64().unwrap()))
        .collect();
    let newest_per_machine = || async {
        let latest = get(format!("/api/v1/samples/latest?tags={}", ids.join(","))).await?;
        let mut newest: HashMap<i64, DateTime<Utc>> = HashMap::new();
        for l in latest.as_array().unwrap() {
            let Some(time) = l["sample"]["time"].as_str() else {
                continue;
            };
            let time: DateTime<Utc> = time.parse().unwrap();
            let machine = machine_of[&l["tag_id"].as_i64().unwrap()];
            let e = newest.entry(machine).or_insert(time);
            *e = (*e).max(time);
        }
        anyhow::Ok(newest)
    };
    let machines: HashSet<i64> = machine_of.values().copied().collect();
    let machine_name: HashMap<i64, String> = tags
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap_or_default();
            let machine = name.rsplit_once('.').map_or(name, |(m, _)| m);
            (t["machine_id"].as_i64().unwrap(), machine.to_string())
        })
        .collect();
    let mut before = newest_per_machine().await?;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let now = newest_per_machine().await?;
        for m in &machines {
            let (b, n) = (before.get(m), now.get(m));
            assert!(
                n > b,
                "machine {}: the newest sample moved on in 15 s ({b:?} -> {n:?})",
                machine_name[m]
            );
            let age = Utc::now() - *n.unwrap();
            assert!(
                age < chrono::TimeDelta::seconds(10),
                "machine {}: the newest sample is {age} old",
                machine_name[m]
            );
        }
        before = now;
    }
    // And so no machine reads `unknown` (no data) after a minute.
    let current = get("/api/v1/machine-states/current".into()).await?;
    let current = current.as_array().unwrap();
    assert_eq!(current.len(), machines.len(), "{current:?}");
    for c in current {
        assert_ne!(c["state"], "unknown", "{c}");
    }

    let api = demo.info.api.clone();
    demo.stop().await;
    // Everything it started is gone: the API no longer answers.
    let fresh = reqwest::Client::new();
    assert!(fresh.get(format!("{api}/healthz")).send().await.is_err());
    Ok(())
}
