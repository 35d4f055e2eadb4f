//! The web console in a real browser: Debian's headless Chromium, driven over WebDriver
//! (`millwright_e2e::webdriver`), against the real server on port 0 with ingested history.
//! Signs in, reads live values, draws and zooms trends, acknowledges an alarm, switches
//! language, walks the admin pages, and checks that roles see what the permission table says
//! (and that the server refuses the rest). Screenshots go to `target/console-screenshots/`;
//! the plant overview's load time with 200 machines is printed.
//!
//! Skipped (saying so) when chromium or chromedriver is not installed, unless
//! `MILLWRIGHT_REQUIRE_BROWSER` is set, as `.ci/run` does after installing them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use chrono::{DateTime, DurationRound, Utc};
use millwright_e2e::webdriver::{Browser, BrowserOptions};
use millwright_platform::store::alarms::AlarmReading;
use millwright_platform::store::entities::{EntityFields, Kind};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::models::{ModelKind, NewModelVersion};
use millwright_platform::store::{Store, TenantId};
use millwright_platform::test_util::TestApp;
use millwright_tenants::password::{self, Password};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use serde_json::{json, Value};

/// One Chromium at a time: the machine has two cores.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PASSWORD: &str = "console test password 42";
const WAIT: Duration = Duration::from_secs(20);

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

/// A tenant with a small plant, history with a gap, a model's predictions, two open alarms
/// and a user per role.
struct Fixture {
    app: TestApp,
    tenant: TenantId,
    key: String,
    machines: Vec<i64>,
    force_tag: i64,
    alarms: Vec<i64>,
}

async fn hash(password: &str) -> String {
    let p = Password::from(password);
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .unwrap()
        .unwrap()
}

fn named(name: &str, parent: Option<i64>) -> EntityFields {
    EntityFields {
        name: Some(name.to_string()),
        parent_id: parent,
        ..Default::default()
    }
}

async fn fixture() -> Result<Fixture> {
    let app = TestApp::spawn().await;
    let store = app.store.clone();
    let tenant = store
        .create_tenant(&millwright_platform::store::admin::NewTenant::named(
            "Ningbo Presswerk",
            Plan::Pro,
        ))
        .await?;
    let key = store.issue_api_key(tenant, "fixture", Role::Owner).await?;
    let mut s = store.tenant(tenant).await?.acting_as("fixture");
    let site = s
        .create(Kind::Site, &named("ningbo-plant", None))
        .await?
        .id();
    let line = s
        .create(Kind::Line, &named("press line", Some(site)))
        .await?
        .id();
    let mut machines = Vec::new();
    let mut tags = Vec::new();
    for name in ["press-1", "press-2"] {
        let fields = EntityFields {
            kind: Some("press".into()),
            ..named(name, Some(line))
        };
        let m = s.create(Kind::Machine, &fields).await?.id();
        machines.push(m);
        for (tag, unit) in [("force", "kN"), ("oil_temp", "°C")] {
            let fields = EntityFields {
                unit: Some(unit.into()),
                ..named(&format!("{name}.{tag}"), Some(m))
            };
            tags.push(s.create(Kind::Tag, &fields).await?.id());
        }
    }
    let prediction = s
        .ensure_derived_tag(
            machines[0],
            "press-1.pm.failure_probability",
            "",
            "failure probability",
        )
        .await?;

    // A week of one-minute history with a three-hour gap ten hours ago, the last two hours
    // every five seconds, and two days of predictions every five minutes.
    let now = Utc::now().duration_trunc(chrono::Duration::minutes(1))?;
    let gap = (
        now - chrono::Duration::hours(10),
        now - chrono::Duration::hours(7),
    );
    let mut rows = Vec::new();
    let wave = |t: DateTime<Utc>, period: f64, mid: f64, amp: f64| {
        mid + amp * (t.timestamp() as f64 / period).sin()
    };
    for (i, &tag) in tags.iter().enumerate() {
        let (mid, amp, period) = if i % 2 == 0 {
            (50.0 + i as f64, 10.0, 3600.0)
        } else {
            (60.0, 5.0, 7200.0)
        };
        let mut t = now - chrono::Duration::days(7);
        while t < now {
            let dense = t >= now - chrono::Duration::hours(2);
            if !(t >= gap.0 && t < gap.1) {
                rows.push(SampleRow {
                    tag_id: tag,
                    time: t,
                    value: Some(wave(t, period, mid, amp)),
                    quality: Quality::Good,
                });
            }
            t += if dense {
                chrono::Duration::seconds(5)
            } else {
                chrono::Duration::minutes(1)
            };
        }
    }
    let mut t = now - chrono::Duration::days(2);
    let mut p = 0.05;
    while t < now {
        rows.push(SampleRow {
            tag_id: prediction,
            time: t,
            value: Some(p),
            quality: Quality::Good,
        });
        p = (p + 0.0015_f64).min(0.95);
        t += chrono::Duration::minutes(5);
    }
    for chunk in rows.chunks(20_000) {
        s.ingest(chunk).await?;
    }
    store.maintain().await?;

    // Two open alarms raised by a (stored) failure model.
    let version = s
        .store_model_version(&NewModelVersion {
            machine_class: "press".into(),
            kind: ModelKind::Failure,
            params: json!({}),
            metrics: json!({}),
            trained_from: now - chrono::Duration::days(7),
            trained_to: now,
            machines: machines.clone(),
            artifact: vec![],
        })
        .await?;
    let mut alarms = Vec::new();
    for (i, &machine_id) in machines.iter().enumerate() {
        let change = s
            .apply_alarm(&AlarmReading {
                machine_id,
                kind: ModelKind::Failure,
                alarming: true,
                at: now - chrono::Duration::minutes(30 + 10 * i as i64),
                value: 0.8 + 0.05 * i as f64,
                threshold: 0.5,
                model_version: version.id,
            })
            .await?;
        if let millwright_platform::store::alarms::AlarmChange::Raised(id) = change {
            alarms.push(id);
        }
    }
    ensure!(alarms.len() == 2, "two alarms raised");

    let hash = hash(PASSWORD).await;
    for role in [
        Role::Owner,
        Role::Admin,
        Role::Engineer,
        Role::Operator,
        Role::Viewer,
    ] {
        s.create_user(&email(role), role.as_str(), role, &hash)
            .await?;
    }
    store
        .create_bureau_user(&email(Role::Bureau), "bureau", &hash)
        .await?;
    Ok(Fixture {
        app,
        tenant,
        key,
        machines,
        force_tag: tags[0],
        alarms,
    })
}

fn email(role: Role) -> String {
    format!("{role}@presswerk.example.com")
}

/// Waits until the console shows `page` with its data loaded.
async fn on_page(b: &Browser, page: &str) -> Result<()> {
    b.wait_until(
        &format!(
            "const app = document.getElementById('app'); \
             return app && app.dataset.page === '{page}' && app.dataset.ready === 'true';"
        ),
        WAIT,
    )
    .await
    .with_context(|| format!("the {page} page did not load"))
    .map(drop)
}

async fn sign_in(b: &Browser, url: &str, role: Role) -> Result<()> {
    b.goto(&format!("{url}/console/")).await?;
    on_page(b, "signin").await?;
    b.type_into(&b.find("#email").await?, &email(role)).await?;
    b.type_into(&b.find("#password").await?, PASSWORD).await?;
    b.click(&b.find("form.signin button[type=submit]").await?)
        .await?;
    b.wait_until(
        "const app = document.getElementById('app'); \
         return app.dataset.page !== 'signin' && app.dataset.ready === 'true';",
        WAIT,
    )
    .await?;
    Ok(())
}

/// The signed-in user's access token, as the console holds it.
async fn access_token(b: &Browser) -> Result<String> {
    let v = b
        .script(
            "return JSON.parse(sessionStorage.getItem('mw.session')).access;",
            vec![],
        )
        .await?;
    Ok(v.as_str().context("no session")?.to_string())
}

async fn open(b: &Browser, hash: &str, page: &str) -> Result<()> {
    b.script(&format!("location.hash = '{hash}';"), vec![])
        .await?;
    on_page(b, page).await
}

/// Console messages that mean something broke: script errors and content-security-policy
/// violations (failed requests the page handled are not counted).
async fn assert_clean_console(b: &Browser) -> Result<()> {
    let bad: Vec<_> = b
        .console_log()
        .await?
        .into_iter()
        .filter(|(level, message)| {
            message.contains("Content Security Policy")
                || (level == "SEVERE" && !message.contains("Failed to load resource"))
        })
        .collect();
    ensure!(bad.is_empty(), "browser console: {bad:?}");
    Ok(())
}

fn bucket_secs(text: &str) -> i64 {
    let (n, unit) = text.split_at(text.len() - 1);
    let n: i64 = n.parse().unwrap();
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 86_400,
    }
}

async fn start_browser(options: &BrowserOptions) -> Result<Option<Browser>> {
    let _ = std::fs::create_dir_all(screenshots());
    Browser::start(options).await
}

#[tokio::test]
async fn an_engineer_reads_live_values_zooms_a_trend_and_switches_language() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = fixture().await?;
    let url = &f.app.url;
    sign_in(&b, url, Role::Engineer).await?;
    b.screenshot(&screenshots().join("overview.png")).await?;

    // The overview: two tiles with live values, a state badge that says it in words, and
    // the open alarms.
    let tiles = b.find_all(".tile").await?;
    ensure!(tiles.len() == 2, "two machines, got {}", tiles.len());
    let badge = b.text(&b.find(".tile .state").await?).await?;
    ensure!(badge.contains("state unknown"), "{badge}");
    let alarm = b.text(&b.find(".tile .alarm-badge").await?).await?;
    ensure!(alarm.contains("open alarm"), "{alarm}");
    // A value arriving now shows without a reload.
    let (s, body, _) = f
        .app
        .call(
            reqwest::Method::POST,
            "/api/v1/ingest",
            Some(&f.key),
            Some(json!({"samples": [{"tag_id": f.force_tag, "time": Utc::now().to_rfc3339(), "value": 987.5}]})),
        )
        .await;
    ensure!(s.is_success(), "{body}");
    b.wait_until(
        &format!(
            "const dd = document.querySelector('dd[data-tag=\"{}\"]'); \
             return dd && dd.textContent.includes('987.5');",
            f.force_tag
        ),
        WAIT,
    )
    .await
    .context("the overview did not refresh the new value")?;

    // The machine: a trend with points drawn, the gap drawn as a gap, predictions beside it.
    b.click(
        &b.find(&format!("a[href='#/machines/{}']", f.machines[0]))
            .await?,
    )
    .await?;
    on_page(&b, "machine").await?;
    let chart = "document.querySelector('section[aria-labelledby=trend-title] .chart')";
    let drawn = b
        .wait_until(
            &format!("const c = {chart}; return c && Number(c.dataset.points) > 0 && c.dataset;"),
            WAIT,
        )
        .await?;
    let first_bucket = drawn["bucket"].as_str().unwrap_or_default().to_string();
    let points: i64 = drawn["points"].as_str().unwrap_or("0").parse()?;
    let buckets: i64 = drawn["buckets"].as_str().unwrap_or("0").parse()?;
    let series: i64 = drawn["series"].as_str().unwrap_or("0").parse()?;
    ensure!(
        buckets <= 2000,
        "at most a few points per pixel, got {buckets} buckets"
    );
    ensure!(series == 2, "the first two tags are drawn: {series}");
    ensure!(
        points <= series * (buckets - 30),
        "the three-hour gap is left empty: {points} of {series} × {buckets}"
    );
    let painted = b
        .script(
            &format!(
                "const canvas = {chart}.querySelector('canvas'); \
                 const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data; \
                 let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n;"
            ),
            vec![],
        )
        .await?;
    ensure!(
        painted.as_i64().unwrap_or(0) > 1000,
        "the trend is drawn: {painted} pixels"
    );
    b.wait_until(
        "const c = document.querySelector('.predictions .chart'); return c && Number(c.dataset.points) > 0;",
        WAIT,
    )
    .await
    .context("the predictions are drawn beside the trend")?;
    b.screenshot(&screenshots().join("machine.png")).await?;

    // Dragging across the chart zooms in: finer buckets are requested and drawn.
    let plot = b
        .find("section[aria-labelledby=trend-title] .chart .u-over")
        .await?;
    b.drag(&plot, (-120, 0), (120, 0)).await?;
    let zoomed = b
        .wait_until(
            &format!(
                "const c = {chart}; return c.dataset.bucket !== '{first_bucket}' && c.getAttribute('aria-busy') === null && c.dataset.bucket;"
            ),
            WAIT,
        )
        .await?;
    let zoomed = zoomed.as_str().unwrap_or_default().to_string();
    ensure!(
        bucket_secs(&zoomed) < bucket_secs(&first_bucket),
        "zooming in asks for finer buckets: {first_bucket} → {zoomed}"
    );
    let requested = b
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/samples?'));",
            vec![],
        )
        .await?;
    let asked = |bucket: &str| {
        requested
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().contains(&format!("bucket={bucket}&")))
    };
    ensure!(
        asked(&first_bucket) && asked(&zoomed),
        "requests: {requested}"
    );
    println!("console trend: 24 h in {first_bucket} buckets, zoomed to {zoomed} buckets");
    // The keyboard does it too: minus zooms back out.
    b.script(&format!("{chart}.focus();"), vec![]).await?;
    b.keys("-").await?;
    b.wait_until(
        &format!("const c = {chart}; return c.dataset.bucket !== '{zoomed}' && c.getAttribute('aria-busy') === null;"),
        WAIT,
    )
    .await
    .context("the minus key zooms out")?;
    b.screenshot(&screenshots().join("machine-zoomed.png"))
        .await?;

    // Chinese, chosen with the switch, kept across a reload; English again.
    b.click(&b.find("#language option[value='zh-CN']").await?)
        .await?;
    b.wait_until(
        "const a = document.querySelector('nav a[data-page=alarms]'); \
         return document.documentElement.lang === 'zh-CN' && a !== null && a.textContent === '报警';",
        WAIT,
    )
    .await?;
    b.refresh().await?;
    on_page(&b, "machine").await?;
    let heading = b.text(&b.find("#trend-title").await?).await?;
    ensure!(heading == "趋势", "{heading}");
    b.screenshot(&screenshots().join("machine-zh-CN.png"))
        .await?;
    b.click(&b.find("#language option[value='en']").await?)
        .await?;
    b.wait_until(
        "const h = document.getElementById('trend-title'); \
         return document.documentElement.lang === 'en' && h !== null && h.textContent === 'Trend';",
        WAIT,
    )
    .await?;
    assert_clean_console(&b).await?;
    b.quit().await
}

/// Access tokens live 4 seconds here: the console exchanges its refresh token before they
/// expire, one exchange at a time even when a page makes several calls at once (a refresh token
/// presented twice would end the session as stolen).
#[tokio::test]
async fn the_session_outlives_its_access_tokens() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let app = TestApp::spawn_with(|s| s.auth.access_token_ttl_secs = 4).await;
    let store = app.store.clone();
    let tenant = store
        .create_tenant(&millwright_platform::store::admin::NewTenant::named(
            "Short tokens",
            Plan::Monitor,
        ))
        .await?;
    let mut s = store.tenant(tenant).await?.acting_as("fixture");
    let site = s.create(Kind::Site, &named("site", None)).await?.id();
    let line = s.create(Kind::Line, &named("line", Some(site))).await?.id();
    s.create(Kind::Machine, &named("m-1", Some(line))).await?;
    s.create_user(
        &email(Role::Engineer),
        "engineer",
        Role::Engineer,
        &hash(PASSWORD).await,
    )
    .await?;
    sign_in(&b, &app.url, Role::Engineer).await?;
    let first = access_token(&b).await?;
    for page in ["alarms", "overview", "alarms"] {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let hash = if page == "overview" { "#/" } else { "#/alarms" };
        open(&b, hash, page).await?;
        ensure!(
            b.find("main .error").await.is_err(),
            "{page} loaded after the token expired"
        );
    }
    let last = access_token(&b).await?;
    ensure!(first != last, "the access token was renewed");
    let (s, me, _) = app
        .call(reqwest::Method::GET, "/api/v1/me", Some(&last), None)
        .await;
    ensure!(s.is_success(), "the session is still alive: {me}");
    assert_clean_console(&b).await?;
    b.quit().await
}

#[tokio::test]
async fn the_browser_language_picks_the_first_page() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let options = BrowserOptions {
        languages: "zh-CN,zh".into(),
        ..Default::default()
    };
    let Some(b) = start_browser(&options).await? else {
        return Ok(());
    };
    let app = TestApp::spawn().await;
    b.goto(&format!("{}/console/", app.url)).await?;
    on_page(&b, "signin").await?;
    let title = b.text(&b.find("#signin-title").await?).await?;
    ensure!(title == "登录", "a Chinese browser gets Chinese: {title}");
    b.screenshot(&screenshots().join("signin-zh-CN.png"))
        .await?;
    assert_clean_console(&b).await?;
    b.quit().await
}

#[tokio::test]
async fn an_operator_acknowledges_an_alarm_and_cannot_open_the_users_page() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = fixture().await?;
    let url = &f.app.url;
    sign_in(&b, url, Role::Operator).await?;
    open(&b, "#/alarms", "alarms").await?;
    let row = |table: &str, id: i64| format!("#{table} tr[data-alarm='{id}']");
    for id in &f.alarms {
        b.find(&row("alarms-unacked", *id)).await?;
    }
    b.screenshot(&screenshots().join("alarms.png")).await?;
    let target = f.alarms[0];
    b.click(
        &b.find(&format!("button.ack[data-alarm='{target}']"))
            .await?,
    )
    .await?;
    b.wait(&row("alarms-acked", target), WAIT)
        .await
        .context("the acknowledged alarm moves to the acknowledged table")?;
    ensure!(b.find(&row("alarms-unacked", target)).await.is_err());
    b.find(&row("alarms-unacked", f.alarms[1])).await?;
    let by = b.text(&b.find(&row("alarms-acked", target)).await?).await?;
    ensure!(by.contains("Acknowledged by user"), "{by}");
    let (_, stored, _) = f
        .app
        .call(
            reqwest::Method::GET,
            "/api/v1/alarms?state=open",
            Some(&f.key),
            None,
        )
        .await;
    let acked = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == target)
        .unwrap();
    ensure!(acked["acknowledged_at"].is_string(), "{acked}");
    b.screenshot(&screenshots().join("alarms-acknowledged.png"))
        .await?;
    // Shelving the other one for an hour: it stays listed, marked shelved.
    let other = f.alarms[1];
    b.click(
        &b.find(&format!("button.shelve[data-alarm='{other}']"))
            .await?,
    )
    .await?;
    b.wait(&format!("button.unshelve[data-alarm='{other}']"), WAIT)
        .await
        .context("the alarm is shown shelved")?;
    let shelved = b
        .text(&b.find(&row("alarms-unacked", other)).await?)
        .await?;
    ensure!(shelved.contains("Shelved until"), "{shelved}");
    let (_, stored, _) = f
        .app
        .call(
            reqwest::Method::GET,
            "/api/v1/alarms?state=open&shelved=true",
            Some(&f.key),
            None,
        )
        .await;
    ensure!(
        stored
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["id"] == other),
        "{stored}"
    );

    // No users page in the menu, a refusal when opened by address, and a 403 from the API.
    let menu = b
        .script(
            "return [...document.querySelectorAll('nav a')].map(a => a.dataset.page);",
            vec![],
        )
        .await?;
    ensure!(
        menu == json!([
            "overview",
            "alarms",
            "oee",
            "downtime",
            "workOrders",
            "yield",
            "spc",
            "orders",
            "rules"
        ]),
        "operator menu: {menu}"
    );
    // Operators read the alarm rules but get no form to change them.
    open(&b, "#/alarm-rules", "rules").await?;
    ensure!(b.find("#rule-form").await.is_err(), "no rule form");
    open(&b, "#/admin/webhooks", "webhooks").await?;
    b.find("main .denied").await?;
    open(&b, "#/admin/users", "users").await?;
    let refusal = b.text(&b.find("main .denied").await?).await?;
    ensure!(refusal.contains("operator"), "{refusal}");
    ensure!(b.find("#users").await.is_err(), "no user table");
    let token = access_token(&b).await?;
    let (s, _, _) = f
        .app
        .call(reqwest::Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    ensure!(s == reqwest::StatusCode::FORBIDDEN, "the API refuses: {s}");
    assert_clean_console(&b).await?;
    b.quit().await
}

#[tokio::test]
async fn an_owner_manages_people_and_keys_and_sees_the_audit_chain_and_usage() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = fixture().await?;
    sign_in(&b, &f.app.url, Role::Owner).await?;

    open(&b, "#/admin/users", "users").await?;
    ensure!(b.find_all("#users tbody tr").await?.len() == 5);
    b.type_into(&b.find("#new-email").await?, "ana@presswerk.example.com")
        .await?;
    b.type_into(&b.find("#new-name").await?, "Ana").await?;
    b.click(&b.find("#new-role option[value='engineer']").await?)
        .await?;
    b.type_into(&b.find("#new-password").await?, PASSWORD)
        .await?;
    b.click(
        &b.find("form[aria-labelledby=add-user-title] button[type=submit]")
            .await?,
    )
    .await?;
    b.wait_until(
        "return document.querySelectorAll('#users tbody tr').length === 6;",
        WAIT,
    )
    .await?;
    b.screenshot(&screenshots().join("users.png")).await?;

    open(&b, "#/admin/keys", "keys").await?;
    b.type_into(&b.find("#key-name").await?, "line 2 connector")
        .await?;
    b.click(
        &b.find("form[aria-labelledby=new-key-title] button[type=submit]")
            .await?,
    )
    .await?;
    let secret = b.text(&b.wait("#new-key-secret", WAIT).await?).await?;
    ensure!(secret.starts_with("mwk_"), "{secret}");
    b.screenshot(&screenshots().join("keys.png")).await?;
    // Shown once: the listing has the prefix only, and a reload forgets the secret.
    b.refresh().await?;
    on_page(&b, "keys").await?;
    let listing = b.text(&b.find("#keys").await?).await?;
    ensure!(listing.contains("line 2 connector") && !listing.contains(&secret));
    ensure!(b.find("#new-key-secret").await.is_err());

    open(&b, "#/admin/audit", "audit").await?;
    let verdict = b.text(&b.find("#chain .verdict").await?).await?;
    ensure!(verdict.contains("intact"), "{verdict}");
    let newest = b.text(&b.find("#audit tbody tr").await?).await?;
    ensure!(
        newest.contains("api_key.create") || newest.contains("key"),
        "{newest}"
    );
    b.screenshot(&screenshots().join("audit.png")).await?;

    open(&b, "#/admin/usage", "usage").await?;
    let tags = b.text(&b.find("[data-meter=tags]").await?).await?;
    ensure!(tags.contains("of 10,000"), "{tags}");
    b.screenshot(&screenshots().join("usage.png")).await?;

    // Signing out ends the session on the server too.
    let token = access_token(&b).await?;
    b.click(&b.find("#sign-out").await?).await?;
    on_page(&b, "signin").await?;
    let (s, _, _) = f
        .app
        .call(reqwest::Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    ensure!(s == reqwest::StatusCode::UNAUTHORIZED, "{s}");
    assert_clean_console(&b).await?;
    let _ = f.tenant;
    b.quit().await
}

#[tokio::test]
async fn a_bureau_account_reads_sector_indices_and_no_tenant_page_and_the_api_refuses_it(
) -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = fixture().await?;
    let day = Utc::now().date_naive() - chrono::Duration::days(3);
    bureau_fixture(&f.app, day).await?;
    sign_in(&b, &f.app.url, Role::Bureau).await?;
    // The bureau lands on its own page; the menu has nothing else.
    on_page(&b, "bureau").await?;
    let menu = b
        .script(
            "return [...document.querySelectorAll('nav a')].map(a => a.dataset.page);",
            vec![],
        )
        .await?;
    ensure!(menu == json!(["bureau"]), "bureau menu: {menu}");
    let token = access_token(&b).await?;
    bureau_page_matches_the_api(&b, &f.app, &token, day).await?;
    b.screenshot(&screenshots().join("bureau.png")).await?;
    for (hash, page) in [
        ("#/alarms", "alarms"),
        (&*format!("#/machines/{}", f.machines[0]), "machine"),
        ("#/admin/users", "users"),
        ("#/admin/audit", "audit"),
        ("#/admin/usage", "usage"),
        ("#/mes/oee", "oee"),
        ("#/mes/downtime", "downtime"),
        ("#/mes/work-orders", "workOrders"),
        ("#/quality/yield", "yield"),
        ("#/quality/spc", "spc"),
        ("#/alarm-rules", "rules"),
        ("#/admin/webhooks", "webhooks"),
        ("#/orders", "orders"),
        ("#/", "bureau"),
    ] {
        open(&b, hash, page).await?;
        if page == "bureau" {
            // The start page is the bureau's own, not a tenant's.
            continue;
        }
        b.find("main .denied")
            .await
            .with_context(|| format!("{hash} is refused"))?;
    }
    for path in [
        "/api/v1/sites".to_string(),
        "/api/v1/machines".into(),
        "/api/v1/tags".into(),
        format!("/api/v1/samples/latest?tags={}", f.force_tag),
        format!("/api/v1/tags/{}/samples?bucket=1h", f.force_tag),
        "/api/v1/alarms".into(),
        format!("/api/v1/machines/{}/events", f.machines[0]),
        "/api/v1/users".into(),
        "/api/v1/audit".into(),
        "/api/v1/usage".into(),
        "/api/v1/machine-states/current".into(),
        format!("/api/v1/oee?line={}", f.machines[0]),
        "/api/v1/work-orders".into(),
        "/api/v1/reason-codes".into(),
        "/api/v1/quality/yield".into(),
        "/api/v1/quality/characteristics".into(),
        "/api/v1/alarm-rules".into(),
        "/api/v1/webhooks".into(),
        "/api/v1/orders/board".into(),
        "/api/v1/orders?limit=200".into(),
    ] {
        let (s, _, _) = f
            .app
            .call(reqwest::Method::GET, &path, Some(&token), None)
            .await;
        ensure!(s == reqwest::StatusCode::FORBIDDEN, "{path}: {s}");
    }
    assert_clean_console(&b).await?;
    b.quit().await
}

/// 200 machines on 10 lines of 2 sites, 4 tags each with a live value, a model's prediction
/// on 50 of them. Prints the overview's load time in the browser (navigation start to every
/// tile filled, cold and again with the files cached) beside the same API calls made directly.
#[tokio::test]
async fn the_plant_overview_with_200_machines_loads_and_its_time_is_printed() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let app = TestApp::spawn().await;
    let store: &Store = &app.store;
    let tenant = store
        .create_tenant(&millwright_platform::store::admin::NewTenant::named(
            "Big plant",
            Plan::Pro,
        ))
        .await?;
    let mut s = store.tenant(tenant).await?.acting_as("fixture");
    let mut tags = Vec::new();
    for site_no in 1..=2 {
        let site = s
            .create(Kind::Site, &named(&format!("site-{site_no}"), None))
            .await?
            .id();
        for line_no in 1..=5 {
            let line = s
                .create(
                    Kind::Line,
                    &named(&format!("site-{site_no} line-{line_no}"), Some(site)),
                )
                .await?
                .id();
            for m in 1..=20 {
                let name = format!("m{site_no}{line_no}-{m:02}");
                let machine = s
                    .create(Kind::Machine, &named(&name, Some(line)))
                    .await?
                    .id();
                for tag in ["speed", "temp", "current", "pressure"] {
                    let fields = EntityFields {
                        unit: Some("u".into()),
                        ..named(&format!("{name}.{tag}"), Some(machine))
                    };
                    tags.push(s.create(Kind::Tag, &fields).await?.id());
                }
                if m % 4 == 0 {
                    let id = s
                        .ensure_derived_tag(
                            machine,
                            &format!("{name}.pm.failure_probability"),
                            "",
                            "",
                        )
                        .await?;
                    tags.push(id);
                }
            }
        }
    }
    let now = Utc::now();
    let rows: Vec<SampleRow> = tags
        .iter()
        .enumerate()
        .map(|(i, &tag_id)| SampleRow {
            tag_id,
            time: now,
            value: Some(i as f64 / 10.0),
            quality: Quality::Good,
        })
        .collect();
    s.ingest(&rows).await?;
    let hash = hash(PASSWORD).await;
    s.create_user(&email(Role::Engineer), "engineer", Role::Engineer, &hash)
        .await?;

    // Signed in through the API and handed to the page the way the console keeps it, so the
    // first load finds nothing in the fresh profile's cache: every file and call is timed.
    let (s, tokens, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email(Role::Engineer), "password": PASSWORD})),
        )
        .await;
    ensure!(s.is_success(), "{tokens}");
    let key = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    b.goto(&format!("{}/healthz", app.url)).await?;
    b.script(
        "sessionStorage.setItem('mw.session', JSON.stringify({access: arguments[0], \
         refresh: arguments[1], expiresAt: Date.now() + 600000}));",
        vec![
            tokens["access_token"].clone(),
            tokens["refresh_token"].clone(),
        ],
    )
    .await?;
    let mut loads = Vec::new();
    b.goto(&format!("{}/console/#/", app.url)).await?;
    for load in 0..3 {
        if load > 0 {
            b.refresh().await?;
        }
        on_page(&b, "overview").await?;
        let filled = b
            .script(
                "return document.querySelectorAll('.tile').length + ':' + document.querySelectorAll('dd.value').length;",
                vec![],
            )
            .await?;
        // Three measured values per tile, and the prediction of every fourth machine.
        ensure!(
            filled == json!(format!("200:{}", 200 * 3 + 50)),
            "every tile and value: {filled}"
        );
        let ms = b
            .script(
                "return performance.getEntriesByName('mw:overview-ready')[0].startTime;",
                vec![],
            )
            .await?;
        loads.push(ms.as_f64().context("no mark")?);
        let steps = b
            .script(
                "return performance.getEntriesByType('mark').filter(m => m.name.startsWith('mw:')) \
                 .map(m => m.name.slice(12) + '=' + Math.round(m.startTime)).join(' ');",
                vec![],
            )
            .await?;
        println!(
            "overview load {load}: {}",
            steps.as_str().unwrap_or_default()
        );
    }
    b.screenshot(&screenshots().join("overview-200.png"))
        .await?;

    // The reference: the API calls the page makes, made directly from here the same way
    // (the four lists side by side, then the latest values, the open alarms, the states and
    // the calendars).
    let http = reqwest::Client::new();
    let get = |path: String| {
        let req = http
            .get(format!("{}/api/v1{path}", app.url))
            .bearer_auth(&key);
        async move { req.send().await?.error_for_status()?.json::<Value>().await }
    };
    let started = Instant::now();
    let _ = get("/me".into()).await?;
    let (_, _, _, all_tags) = tokio::try_join!(
        get("/sites?limit=1000&after=0".into()),
        get("/lines?limit=1000&after=0".into()),
        get("/machines?limit=1000&after=0".into()),
        get("/tags?limit=1000&after=0".into()),
    )?;
    let ids: Vec<String> = all_tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].to_string())
        .collect();
    let _ = get(format!("/samples/latest?tags={}", ids.join(","))).await?;
    let _ = get("/alarms?state=open&limit=1000".into()).await?;
    // The plan has MES: the machines' states and each site's calendar (its time zone).
    let _ = get("/machine-states/current".into()).await?;
    let sites = get("/sites?limit=1000&after=0".into()).await?;
    for site in sites.as_array().context("sites")? {
        let _ = get(format!("/sites/{}/calendar", site["id"])).await?;
    }
    let api_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "console overview, 200 machines, {} tags: console_overview_ms={:.0} (first load) \
         console_overview_warm_ms={:.0} (mean of two reloads) api_calls_ms={api_ms:.0} \
         (the same API calls without a browser)",
        tags.len(),
        loads[0],
        (loads[1] + loads[2]) / 2.0,
    );
    assert_clean_console(&b).await?;
    b.quit().await
}

/// A Pro tenant with MES data: a site on Asia/Shanghai time with three shifts round the
/// clock, a line of three CNCs whose state, fault-code and counter tags have six hours of
/// minute samples up to now (cnc-1 ran with an hour's breakdown and an idle stretch given a
/// reason, cnc-2 is in a fault now, cnc-3 idles now), the state builder run over them, and
/// work orders, one of which ran on cnc-1.
struct MesFixture {
    app: TestApp,
    key: String,
    line: i64,
    machines: Vec<i64>,
    orders: Vec<(i64, String)>,
}

async fn mes_fixture() -> Result<MesFixture> {
    // The webhook test posts to this same server (a loopback address).
    let app = TestApp::spawn_with(|s| s.webhooks.allow_private_targets = true).await;
    let store = app.store.clone();
    let tenant = store
        .create_tenant(&millwright_platform::store::admin::NewTenant::named(
            "Suzhou Zerspanung",
            Plan::Pro,
        ))
        .await?;
    let key = store.issue_api_key(tenant, "fixture", Role::Owner).await?;
    let mut s = store.tenant(tenant).await?.acting_as("fixture");
    let site = s
        .create(Kind::Site, &named("suzhou-plant", None))
        .await?
        .id();
    let line = s
        .create(Kind::Line, &named("cnc line", Some(site)))
        .await?
        .id();
    let mut machines = Vec::new();
    let mut tags = Vec::new();
    for name in ["cnc-1", "cnc-2", "cnc-3"] {
        let fields = EntityFields {
            kind: Some("cnc".into()),
            ..named(name, Some(line))
        };
        let m = s.create(Kind::Machine, &fields).await?.id();
        machines.push(m);
        let mut ids = Vec::new();
        for tag in ["state", "alarm_code", "part_counter", "scrap_parts"] {
            let fields = named(&format!("{name}.{tag}"), Some(m));
            ids.push(s.create(Kind::Tag, &fields).await?.id());
        }
        tags.push(ids);
    }
    let api = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (app, key) = (&app, &key);
        async move {
            let (s, v, _) = app
                .call(method, &format!("/api/v1{path}"), Some(key), body)
                .await;
            ensure!(s.is_success(), "{path}: {s} {v}");
            Ok::<Value, anyhow::Error>(v)
        }
    };
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    api(
        put.clone(),
        format!("/sites/{site}/calendar"),
        Some(json!({
            "time_zone": "Asia/Shanghai",
            "shifts": [
                {"name": "early", "start": "06:00", "end": "14:00"},
                {"name": "late", "start": "14:00", "end": "22:00"},
                {"name": "night", "start": "22:00", "end": "06:00"}
            ]
        })),
    )
    .await?;
    let now = Utc::now().duration_trunc(chrono::Duration::minutes(1))?;
    let start = now - chrono::Duration::hours(6);
    api(
        put,
        "/state-rules/classes/cnc".into(),
        Some(json!({
            "rule": {
                "state_tag": "state",
                "state_codes": [{"code": 0, "state": "idle"}, {"code": 1, "state": "running"},
                                {"code": 2, "state": "down"}, {"code": 3, "state": "fault"}],
                "fault_tag": "alarm_code",
                "part_counter_tag": "part_counter",
                "reject_counter_tag": "scrap_parts",
                "stale_secs": 180,
                "minor_stop_secs": 300,
                "ideal_cycle_secs": 25.0
            },
            "recompute_from": (start - chrono::Duration::hours(1)).to_rfc3339(),
        })),
    )
    .await?;

    // state per minute k (0..=360) of each machine: 1 running, 3 fault, 0 idle.
    let plan = |machine: usize, k: i64| -> f64 {
        match machine {
            0 if (120..180).contains(&k) => 3.0,
            0 if (240..270).contains(&k) => 0.0,
            1 if k >= 340 => 3.0,
            2 if k >= 300 => 0.0,
            _ => 1.0,
        }
    };
    let mut rows = Vec::new();
    for (i, ids) in tags.iter().enumerate() {
        let (mut parts, mut scrap) = (100.0, 0.0);
        for k in 0..=360i64 {
            let state = plan(i, k);
            if k > 0 && plan(i, k - 1) == 1.0 {
                parts += 2.0;
                if k % 40 == 0 {
                    scrap += 1.0;
                }
            }
            let alarm = if state == 3.0 { 101.0 + i as f64 } else { 0.0 };
            for (tag, value) in ids.iter().zip([state, alarm, parts, scrap]) {
                rows.push(SampleRow {
                    tag_id: *tag,
                    time: start + chrono::Duration::minutes(k),
                    value: Some(value),
                    quality: Quality::Good,
                });
            }
        }
    }
    s.ingest(&rows).await?;
    for _ in 0..20 {
        if !store.build_mes_states().await?.behind {
            break;
        }
    }

    // An operator named the idle stretch of cnc-1.
    let reasons = api(reqwest::Method::GET, "/reason-codes".into(), None).await?;
    let shortage = reasons
        .as_array()
        .context("reason codes")?
        .iter()
        .find(|r| r["category"] == "material_shortage")
        .context("a material-shortage reason")?["id"]
        .clone();
    api(
        post.clone(),
        format!("/machines/{}/downtime/reasons", machines[0]),
        Some(json!({
            "from": (start + chrono::Duration::minutes(240)).to_rfc3339(),
            "to": (start + chrono::Duration::minutes(270)).to_rfc3339(),
            "reason_id": shortage,
        })),
    )
    .await?;

    let product = api(
        post.clone(),
        "/products".into(),
        Some(json!({"code": "SH-12", "name": "shaft 12 mm", "ideal_cycle_secs": {"cnc": 25.0}})),
    )
    .await?;
    let mut orders = Vec::new();
    for (number, machine) in [("WO-1001", 0), ("WO-1002", 1), ("WO-1003", 2)] {
        let wo = api(
            post.clone(),
            "/work-orders".into(),
            Some(
                json!({"number": number, "product_id": product["id"], "quantity": 800,
                        "machine_id": machines[machine],
                        "due_at": (now + chrono::Duration::days(2)).to_rfc3339()}),
            ),
        )
        .await?;
        orders.push((wo["id"].as_i64().context("order id")?, number.to_string()));
    }
    let transition = |id: i64, state: &str, at: DateTime<Utc>| {
        api(
            post.clone(),
            format!("/work-orders/{id}/transition"),
            Some(json!({"state": state, "at": at.to_rfc3339()})),
        )
    };
    let first = orders[0].0;
    transition(first, "released", start).await?;
    transition(first, "running", start + chrono::Duration::minutes(10)).await?;
    transition(first, "completed", start + chrono::Duration::minutes(300)).await?;
    transition(orders[1].0, "released", now).await?;

    // A bore diameter charted from the records' measurements, 60 parts over the last five
    // hours with one far outside the limits, and a few defects.
    api(
        post.clone(),
        "/quality/characteristics".into(),
        Some(
            json!({"name": "bore", "unit": "mm", "lsl": 11.95, "usl": 12.05, "target": 12.0,
                    "chart": "i_mr", "rules": "western_electric"}),
        ),
    )
    .await?;
    let records: Vec<Value> = (0..60)
        .map(|i| {
            let bore = if i == 45 {
                12.04
            } else {
                12.0 + 0.004 * (i as f64 * 1.7).sin()
            };
            let defect = match i % 12 {
                3 | 7 => "burr",
                5 => "scratch",
                _ if i == 45 => "oversize",
                _ => "",
            };
            json!({
                "unit_id": format!("SH-{i:04}"),
                "product": "SH-12",
                "machine_id": machines[i % 2],
                "produced_at": (now - chrono::Duration::minutes(300 - 5 * i as i64)).to_rfc3339(),
                "passed": defect.is_empty() || defect == "burr",
                "reworked": defect == "burr",
                "defect_code": defect,
                "measurements": {"bore": bore},
            })
        })
        .collect();
    api(
        post.clone(),
        "/quality/records".into(),
        Some(json!({ "records": records })),
    )
    .await?;

    let hash = hash(PASSWORD).await;
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        s.create_user(&email(role), role.as_str(), role, &hash)
            .await?;
    }
    Ok(MesFixture {
        app,
        key,
        line,
        machines,
        orders,
    })
}

/// How many bars of a bar chart have a length, once it is drawn.
async fn bars_drawn(b: &Browser, chart: &str) -> Result<i64> {
    let drawn = b
        .wait_until(
            &format!(
                "const c = document.querySelector('{chart}'); \
                 return c && c.querySelectorAll('rect.bar').length > 0 && \
                   [...c.querySelectorAll('rect.bar')].filter(r => r.getBBox().width > 0).length;"
            ),
            WAIT,
        )
        .await;
    match drawn {
        Ok(drawn) => Ok(drawn.as_i64().unwrap_or(0)),
        Err(e) => {
            let shown = b.text(&b.find("main").await?).await.unwrap_or_default();
            Err(e.context(format!("{chart} is not drawn; the page shows: {shown}")))
        }
    }
}

#[tokio::test]
async fn a_manager_reads_machine_states_oee_downtime_and_work_orders() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = mes_fixture().await?;
    sign_in(&b, &f.app.url, Role::Viewer).await?;

    // States on the overview: colour, symbol and word, from the state builder.
    on_page(&b, "overview").await?;
    let states = b
        .script(
            "return [...document.querySelectorAll('.tile')].map(t => t.dataset.state + ':' + \
             t.querySelector('.state').textContent.trim());",
            vec![],
        )
        .await?;
    ensure!(
        states == json!(["running:▶ running", "fault:✖ fault", "idle:❚❚ idle"]),
        "states: {states}"
    );
    // The badge's colour differs by state, and the word is there as well.
    let colours = b
        .script(
            "return [...document.querySelectorAll('.tile .state')].map(s => getComputedStyle(s).color);",
            vec![],
        )
        .await?;
    let colours: Vec<&str> = colours
        .as_array()
        .context("colours")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        colours[0] != colours[1] && colours[1] != colours[2],
        "{colours:?}"
    );
    let since = b
        .script(
            "return document.querySelectorAll('.tile .state')[1].title;",
            vec![],
        )
        .await?;
    ensure!(
        since
            .as_str()
            .unwrap_or_default()
            .contains("fault code 102"),
        "{since}"
    );
    b.screenshot(&screenshots().join("overview-states.png"))
        .await?;
    open(&b, &format!("#/machines/{}", f.machines[1]), "machine").await?;
    let badge = b.text(&b.find("h1 .state").await?).await?;
    ensure!(badge.contains("fault"), "{badge}");
    // The state band under the trend: running, then the fault it is in now, with the time in
    // each state written out.
    let band = b
        .wait_until(
            "const f = document.getElementById('state-band'); \
             return f && Number(f.dataset.spans) > 0 && \
               [...f.querySelectorAll('rect')].filter(r => r.getBBox().width > 0).map(r => r.dataset.state);",
            WAIT,
        )
        .await
        .context("the state band is drawn")?;
    ensure!(
        band.as_array()
            .is_some_and(|s| s.contains(&json!("running")) && s.last() == Some(&json!("fault"))),
        "{band}"
    );
    // Lined up with the trend's plot area (its time axis).
    let offset = b
        .script(
            "const a = document.querySelector('section[aria-labelledby=trend-title] .u-over').getBoundingClientRect(); \
             const s = document.querySelector('#state-band .band').getBoundingClientRect(); \
             return Math.abs(a.left - s.left) + Math.abs(a.width - s.width);",
            vec![],
        )
        .await?;
    ensure!(
        offset.as_f64().unwrap_or(99.0) < 4.0,
        "the band lines up with the plot: {offset}"
    );
    let legend = b.text(&b.find("#state-band .band-legend").await?).await?;
    ensure!(
        legend.contains("running") && legend.contains("fault"),
        "{legend}"
    );
    b.screenshot(&screenshots().join("machine-states.png"))
        .await?;

    // OEE of the line by shift: the figure, its three factors, the six losses drawn, and a
    // row per shift with its times in Shanghai time.
    let menu = b
        .script(
            "return [...document.querySelectorAll('nav a')].map(a => a.dataset.page);",
            vec![],
        )
        .await?;
    ensure!(
        menu.as_array()
            .is_some_and(|m| m.contains(&json!("oee")) && !m.contains(&json!("users"))),
        "viewer menu: {menu}"
    );
    open(&b, &format!("#/mes/oee?line={}&range=1d", f.line), "oee").await?;
    for figure in ["oee", "availability", "performance", "quality"] {
        let text = b
            .text(
                &b.find(&format!("#oee-total [data-figure={figure}] dd"))
                    .await?,
            )
            .await?;
        ensure!(text.contains('%'), "{figure}: {text}");
    }
    let losses = bars_drawn(&b, "#oee-losses").await?;
    ensure!(losses >= 2, "unplanned stops and more are drawn: {losses}");
    let shifts = b.find_all("#oee-rows tbody tr").await?;
    ensure!(!shifts.is_empty(), "a row per shift");
    let caption = b.text(&b.find("#oee-rows caption").await?).await?;
    ensure!(caption.contains("Asia/Shanghai"), "{caption}");
    let (_, oee, _) = f
        .app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/oee?line={}&group=shift", f.line),
            Some(&f.key),
            None,
        )
        .await;
    let busiest = oee["rows"]
        .as_array()
        .context("rows")?
        .iter()
        .max_by_key(|r| r["oee"]["produced"].as_i64())
        .context("a shift")?;
    let produced = busiest["oee"]["produced"].as_i64().unwrap_or(-1);
    let key = busiest["key"].as_str().unwrap_or_default();
    let shown = b
        .text(&b.find(&format!("#oee-rows tr[data-key='{key}']")).await?)
        .await?;
    ensure!(
        produced > 0 && shown.replace(',', "").contains(&produced.to_string()),
        "the busiest shift's production {produced} is shown: {shown}"
    );
    b.screenshot(&screenshots().join("oee.png")).await?;

    // The downtime Pareto: the breakdowns (suggested by the fault state) and the reason an
    // operator gave, largest first, with the cumulative share.
    open(
        &b,
        &format!("#/mes/downtime?line={}&range=1d", f.line),
        "downtime",
    )
    .await?;
    let bars = bars_drawn(&b, "#downtime-pareto").await?;
    ensure!(bars >= 2, "bars: {bars}");
    b.find("#downtime-pareto polyline.cumulative").await?;
    let reasons = b.text(&b.find("#downtime-reasons").await?).await?;
    ensure!(
        reasons.contains("Breakdown (suggested)") && reasons.contains("Material shortage"),
        "{reasons}"
    );
    let first = b.text(&b.find("#downtime-reasons tbody tr").await?).await?;
    ensure!(first.contains("Breakdown"), "the largest first: {first}");
    b.screenshot(&screenshots().join("downtime.png")).await?;

    // Work orders with their state and what the one that ran produced.
    open(&b, "#/mes/work-orders", "workOrders").await?;
    let row = |id: i64| format!("#work-orders tr[data-order='{id}']");
    let ran = b.text(&b.find(&row(f.orders[0].0)).await?).await?;
    ensure!(
        ran.contains(&f.orders[0].1) && ran.contains("completed"),
        "{ran}"
    );
    let produced = b
        .text(&b.find(&format!("{} .produced", row(f.orders[0].0))).await?)
        .await?;
    let (_, trace, _) = f
        .app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/work-orders/{}/trace", f.orders[0].0),
            Some(&f.key),
            None,
        )
        .await;
    let made = trace["produced"].as_i64().unwrap_or(0);
    ensure!(
        made > 0 && produced.replace(',', "").starts_with(&made.to_string()),
        "produced {made}: {produced}"
    );
    let released = b.text(&b.find(&row(f.orders[1].0)).await?).await?;
    ensure!(released.contains("released"), "{released}");
    b.screenshot(&screenshots().join("work-orders.png")).await?;

    // Yield by line with its bars, and the defect Pareto.
    open(&b, "#/quality/yield?by=line&days=7d", "yield").await?;
    let bars = bars_drawn(&b, "#yield-bars").await?;
    ensure!(bars == 1, "one line: {bars}");
    let (_, figures, _) = f
        .app
        .call(
            reqwest::Method::GET,
            "/api/v1/quality/yield?by=line",
            Some(&f.key),
            None,
        )
        .await;
    let fpy = figures["rows"][0]["first_pass_yield"]
        .as_f64()
        .unwrap_or(0.0);
    let row = b.text(&b.find("#yield-rows tbody tr").await?).await?;
    ensure!(
        row.contains(&format!("{:.1}%", fpy * 100.0)) && row.contains("60"),
        "first-pass yield {fpy}: {row}"
    );
    let defects = bars_drawn(&b, "#defect-pareto").await?;
    ensure!(defects == 3, "burr, scratch, oversize: {defects}");
    let first = b.text(&b.find("#defect-rows tbody tr").await?).await?;
    ensure!(first.starts_with("burr"), "{first}");
    b.screenshot(&screenshots().join("yield.png")).await?;

    // The control chart: points, centre line and limits drawn, the outlier marked, the
    // violation listed, and the capability figures.
    open(&b, "#/quality/spc", "spc").await?;
    let drawn = b
        .wait_until(
            "const c = document.querySelector('#spc-report .control-chart'); \
             return c && c.querySelector('canvas') && c.dataset;",
            WAIT,
        )
        .await?;
    ensure!(
        drawn["points"] == "60" && drawn["marked"].as_str().unwrap_or("0") != "0",
        "60 points with the outlier marked: {drawn}"
    );
    let painted = b
        .script(
            "const canvas = document.querySelector('#spc-report .control-chart canvas'); \
             const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data; \
             let red = 0, any = 0; for (let i = 0; i < px.length; i += 4) { if (px[i + 3] > 0) any++; \
             if (px[i] > 180 && px[i + 1] < 80 && px[i + 2] < 80) red++; } return [any, red];",
            vec![],
        )
        .await?;
    ensure!(
        painted[0].as_i64().unwrap_or(0) > 1000 && painted[1].as_i64().unwrap_or(0) > 20,
        "the chart and its red marks are painted: {painted}"
    );
    let violation = b.text(&b.find("#spc-violations tbody tr").await?).await?;
    ensure!(
        violation.contains("rule 1") && violation.contains("#45"),
        "{violation}"
    );
    let (_, cap, _) = f
        .app
        .call(
            reqwest::Method::GET,
            "/api/v1/quality/characteristics",
            Some(&f.key),
            None,
        )
        .await;
    let id = cap[0]["id"].as_i64().unwrap_or(0);
    let (_, cap, _) = f
        .app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/quality/characteristics/{id}/capability"),
            Some(&f.key),
            None,
        )
        .await;
    let cpk = b
        .text(&b.find("#capability [data-figure=cpk] dd").await?)
        .await?;
    let cap = cap.get("capability").unwrap_or(&cap);
    let want = cap["cpk"]["value"].as_f64().unwrap_or(f64::NAN);
    ensure!(
        cpk.starts_with(&format!("{want:.2}")) || cpk.starts_with(&format!("{want:.3}")),
        "Cpk {want}: {cpk}"
    );
    b.screenshot(&screenshots().join("spc.png")).await?;

    // The same pages in Chinese.
    b.click(&b.find("#language option[value='zh-CN']").await?)
        .await?;
    b.wait_until(
        "const a = document.querySelector('nav a[data-page=workOrders]'); \
         return document.documentElement.lang === 'zh-CN' && a !== null && a.textContent === '工单';",
        WAIT,
    )
    .await?;
    open(&b, &format!("#/mes/oee?line={}&range=1d", f.line), "oee").await?;
    bars_drawn(&b, "#oee-losses").await?;
    let heading = b.text(&b.find("#losses-title").await?).await?;
    ensure!(heading == "六大损失", "{heading}");
    b.screenshot(&screenshots().join("oee-zh-CN.png")).await?;
    b.click(&b.find("#language option[value='en']").await?)
        .await?;
    assert_clean_console(&b).await?;
    b.quit().await
}

#[tokio::test]
async fn an_admin_writes_an_alarm_rule_and_reads_a_webhook_delivery_log() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = mes_fixture().await?;
    sign_in(&b, &f.app.url, Role::Admin).await?;

    // A rule on every CNC's fault code, written in the form and listed in words.
    open(&b, "#/alarm-rules", "rules").await?;
    b.find("p#rules").await.context("no rules yet")?;
    b.type_into(&b.find("#rule-name").await?, "fault code set")
        .await?;
    b.type_into(&b.find("#rule-suffix").await?, "alarm_code")
        .await?;
    b.type_into(&b.find("#rule-kind").await?, "cnc").await?;
    b.type_into(&b.find("#rule-limit").await?, "100").await?;
    b.click(&b.find("#rule-severity option[value='high']").await?)
        .await?;
    b.type_into(&b.find("#rule-delay").await?, "0").await?;
    b.click(&b.find("#rule-form button[type=submit]").await?)
        .await?;
    let row = b
        .wait_until(
            "const r = document.querySelector('#rules tbody tr'); return r && r.textContent;",
            WAIT,
        )
        .await
        .context("the new rule is listed")?;
    let row = row.as_str().unwrap_or_default();
    ensure!(
        row.contains("fault code set")
            && row.contains("every *.alarm_code on cnc machines")
            && row.contains("above 100")
            && row.contains("high"),
        "{row}"
    );
    let (_, rules, _) = f
        .app
        .call(
            reqwest::Method::GET,
            "/api/v1/alarm-rules",
            Some(&f.key),
            None,
        )
        .await;
    let rule = &rules[0];
    ensure!(
        rule["condition"] == json!({"type": "high", "limit": 100.0, "deadband": 0.0})
            && rule["tag_suffix"] == "alarm_code"
            && rule["machine_kind"] == "cnc"
            && rule["severity"] == "high",
        "{rule}"
    );
    b.screenshot(&screenshots().join("alarm-rules.png")).await?;
    // Switched off from the list.
    b.click(&b.find("#rules button.toggle").await?).await?;
    b.wait("#rules tr[data-enabled='false']", WAIT)
        .await
        .context("the rule is shown switched off")?;
    let (_, rule, _) = f
        .app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/alarm-rules/{}", rule["id"]),
            Some(&f.key),
            None,
        )
        .await;
    ensure!(rule["enabled"] == false, "{rule}");
    // Deleted in two presses.
    b.click(&b.find("#rules button.delete").await?).await?;
    ensure!(
        b.find("#rules tbody tr").await.is_ok(),
        "one press only arms the button"
    );
    b.click(&b.find("#rules button.delete").await?).await?;
    b.wait("p#rules", WAIT)
        .await
        .context("the deleted rule is gone")?;
    let (s, _, _) = f
        .app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/alarm-rules/{}", rule["id"]),
            Some(&f.key),
            None,
        )
        .await;
    ensure!(s == reqwest::StatusCode::NOT_FOUND, "{s}");

    // A webhook endpoint: its secret shown once, a test event, and its delivery log with
    // the attempt the sender made (this server answers 405 to a POST on /healthz).
    open(&b, "#/admin/webhooks", "webhooks").await?;
    b.type_into(
        &b.find("#webhook-url").await?,
        &format!("{}/healthz", f.app.url),
    )
    .await?;
    b.type_into(&b.find("#webhook-description").await?, "line 2 andon")
        .await?;
    b.click(&b.find("#webhook-form button[type=submit]").await?)
        .await?;
    let secret = b.text(&b.wait("#new-webhook-secret", WAIT).await?).await?;
    ensure!(secret.starts_with("whsec_"), "{secret}");
    b.wait("#webhooks tbody tr", WAIT).await?;
    let listing = b.text(&b.find("#webhooks").await?).await?;
    ensure!(
        listing.contains("line 2 andon") && !listing.contains(&secret),
        "{listing}"
    );
    b.click(&b.find("#webhooks button.send-test").await?)
        .await?;
    let attempt = b
        .wait_until(
            "const r = document.querySelector('#deliveries tr[data-delivery]'); \
             return r && r.textContent.includes('HTTP 405') && r.textContent;",
            Duration::from_secs(40),
        )
        .await
        .context("the test delivery and its attempt are logged")?;
    let attempt = attempt.as_str().unwrap_or_default();
    ensure!(
        attempt.contains("webhook.test") && attempt.contains("will retry"),
        "{attempt}"
    );
    b.click(&b.find("#deliveries details.attempts summary").await?)
        .await?;
    let log = b
        .text(&b.find("#deliveries details.attempts li").await?)
        .await?;
    ensure!(log.contains("HTTP 405") && log.contains("ms"), "{log}");
    b.screenshot(&screenshots().join("webhooks.png")).await?;
    assert_clean_console(&b).await?;
    b.quit().await
}

/// Calls the API with the fixture's owner key and fails on anything but success.
async fn api(
    f: &Fixture,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let (s, v, _) = f
        .app
        .call(
            method.clone(),
            &format!("/api/v1{path}"),
            Some(&f.key),
            body,
        )
        .await;
    ensure!(s.is_success(), "{method} {path}: {s} {v}");
    Ok(v)
}

/// A garment site in Asia/Shanghai working around the clock with a cutting line, a template
/// and three custom orders placed through the storefront: one scheduled, one cancelled
/// after scheduling, one only quoted. Returns (scheduled id, its number, quoted id).
async fn orders_fixture(f: &Fixture) -> Result<(i64, String, i64)> {
    use reqwest::Method;
    let site = api(
        f,
        Method::POST,
        "/sites",
        Some(json!({"name": "garment plant"})),
    )
    .await?["id"]
        .as_i64()
        .context("site id")?;
    api(
        f,
        Method::PUT,
        &format!("/sites/{site}/calendar"),
        Some(json!({"time_zone": "Asia/Shanghai",
            "shifts": [{"name": "all", "start": "00:00", "end": "00:00"}]})),
    )
    .await?;
    let line = api(
        f,
        Method::POST,
        "/lines",
        Some(json!({"name": "cutting line", "site_id": site})),
    )
    .await?["id"]
        .as_i64()
        .context("line id")?;
    api(
        f,
        Method::POST,
        "/machines",
        Some(json!({"name": "cut-1", "line_id": line, "kind": "cutting_table"})),
    )
    .await?;
    let tpl = api(
        f,
        Method::POST,
        "/order-templates",
        Some(json!({
            "code": "APRON", "name": "Apron", "currency": "CNY", "base_price_minor": 5900,
            "options": [{"key": "colour", "type": "choice",
                "choices": [{"value": "red"}, {"value": "blue"}]}],
            "quantity": {"min": 1, "max": 20},
            "routing": [{"line_kind": "cutting_table", "setup_secs": 60, "cycle_secs": 120}],
            "ship_buffer_hours": 2
        })),
    )
    .await?["id"]
        .as_i64()
        .context("template id")?;
    let shop = api(
        f,
        Method::POST,
        "/storefront-keys",
        Some(json!({"name": "web shop", "requests_per_minute": 600})),
    )
    .await?["key"]
        .as_str()
        .context("storefront key")?
        .to_string();
    let mut ids = Vec::new();
    for (quantity, place) in [(2, true), (3, true), (1, false)] {
        let (s, q, _) = f
            .app
            .call(
                Method::POST,
                "/api/v1/shop/quotes",
                Some(&shop),
                Some(json!({"template_id": tpl, "quantity": quantity,
                    "configuration": {"colour": "red"}})),
            )
            .await;
        ensure!(s == reqwest::StatusCode::CREATED, "quote: {s} {q}");
        if !place {
            ids.push((q["id"].as_i64().context("quote id")?, String::new()));
            continue;
        }
        let (s, o, _) = f
            .app
            .call(
                Method::POST,
                "/api/v1/shop/orders",
                Some(&shop),
                Some(json!({"token": q["token"], "customer": {"name": "Li Wei", "email": "li@example.com"}})),
            )
            .await;
        ensure!(s == reqwest::StatusCode::CREATED, "place: {s} {o}");
        ids.push((
            o["id"].as_i64().context("order id")?,
            o["number"].as_str().context("number")?.to_string(),
        ));
    }
    api(
        f,
        Method::POST,
        &format!("/orders/{}/transitions", ids[1].0),
        Some(json!({"to": "cancelled", "note": "customer changed their mind"})),
    )
    .await?;
    Ok((ids[0].0, ids[0].1.clone(), ids[2].0))
}

#[tokio::test]
async fn a_manager_follows_custom_orders_on_the_board_and_opens_a_timeline() -> Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = start_browser(&BrowserOptions::default()).await? else {
        return Ok(());
    };
    let f = fixture().await?;
    let (scheduled, number, quoted) = orders_fixture(&f).await?;
    sign_in(&b, &f.app.url, Role::Viewer).await?;
    b.find("nav a[data-page=orders]")
        .await
        .context("the menu offers custom orders")?;
    open(&b, "#/orders", "orders").await?;
    let board = api(&f, reqwest::Method::GET, "/orders/board", None).await?;
    for (state, want) in [
        ("scheduled", 1),
        ("cancelled", 1),
        ("quoted", 1),
        ("delivered", 0),
    ] {
        ensure!(
            board["states"][state].as_i64().unwrap_or(0) == want,
            "API board {state}: {board}"
        );
        let count = b
            .text(
                &b.find(&format!(".order-column[data-state={state}] h2 .count"))
                    .await?,
            )
            .await?;
        ensure!(count == want.to_string(), "{state} column counts {count}");
        let cards = b
            .find_all(&format!(".order-column[data-state={state}] .order-card"))
            .await?;
        ensure!(
            cards.len() == want as usize,
            "{state} column has {} cards",
            cards.len()
        );
    }
    b.find(&format!(
        ".order-column[data-state=quoted] .order-card[data-order='{quoted}']"
    ))
    .await?;
    let card = b
        .find(&format!(
            ".order-column[data-state=scheduled] .order-card[data-order='{scheduled}']"
        ))
        .await?;
    ensure!(
        b.text(&card).await?.contains(&number),
        "the card names {number}"
    );
    b.click(&card).await?;
    b.wait("#order-timeline ol.timeline li", WAIT).await?;
    let timeline = api(
        &f,
        reqwest::Method::GET,
        &format!("/orders/{scheduled}/timeline"),
        None,
    )
    .await?;
    let entries = timeline.as_array().context("timeline")?;
    let items = b.find_all("#order-timeline ol.timeline li").await?;
    ensure!(
        items.len() == entries.len() && !entries.is_empty(),
        "{} of {}",
        items.len(),
        entries.len()
    );
    for (item, entry) in items.iter().zip(entries) {
        let text = b.text(item).await?;
        let local = entry["at_local"].as_str().context("at_local")?;
        // The site's own time: China Standard Time, eight hours ahead of UTC.
        ensure!(local.ends_with("CST"), "{local}");
        ensure!(text.contains(local), "{text} shows {local}");
    }
    let last = b.text(items.last().context("an entry")?).await?;
    ensure!(last.contains("Scheduled"), "{last}");
    let lines = b.find_all("#order-lines tbody tr").await?;
    ensure!(lines.len() == 1, "one line books order steps");
    b.screenshot(&screenshots().join("orders.png")).await?;

    // In Chinese.
    b.click(&b.find("#language option[value='zh-CN']").await?)
        .await?;
    b.wait_until(
        "const a = document.querySelector('nav a[data-page=orders]'); \
         return document.documentElement.lang === 'zh-CN' && a !== null && a.textContent === '定制订单';",
        WAIT,
    )
    .await?;
    on_page(&b, "orders").await?;
    let heading = b
        .text(&b.find(".order-column[data-state=in_production] h2").await?)
        .await?;
    ensure!(heading.starts_with("生产中"), "{heading}");
    b.screenshot(&screenshots().join("orders-zh-CN.png"))
        .await?;
    b.click(&b.find("#language option[value='en']").await?)
        .await?;
    assert_clean_console(&b).await?;
    b.quit().await
}

/// Seven garment companies that share everything: five in the east, two in the west (too
/// few to publish, so the east is withheld too, or the west would follow from the total),
/// each with a machine running a known share of an 8-hour shift on `day` through real
/// samples, the MES state builder and the bureau's contribution builder.
async fn bureau_fixture(app: &TestApp, day: chrono::NaiveDate) -> Result<()> {
    use chrono::{NaiveTime, TimeZone};
    use millwright_platform::bureau::sharing::Category;
    use millwright_platform::mes::state::StateRule;
    use millwright_platform::store::mes::plan::SiteCalendar;
    use millwright_platform::test_util::tenant_with_tags;
    let store = &app.store;
    for (region, count) in [("east", 5), ("west", 2)] {
        for i in 0..count {
            let run = 180 + 25 * i + if region == "west" { 40 } else { 0 };
            let t = tenant_with_tags(
                store,
                &format!("garment-{region}-{i}"),
                &["m.state", "m.parts"],
            )
            .await;
            store
                .owner_pool()
                .get()
                .await?
                .execute(
                    "UPDATE tenants SET industry = 'garment', region = $2 WHERE id = $1",
                    &[&t.id.0, &region],
                )
                .await?;
            let mut s = store.tenant(t.id).await?;
            s.put_site_calendar(&SiteCalendar {
                site_id: t.site_id,
                time_zone: "UTC".into(),
                shifts: serde_json::from_value(
                    json!([{"name": "day", "start": "06:00", "end": "14:00"}]),
                )?,
                days_off: vec![],
                updated_at: None,
            })
            .await?
            .context("site")?;
            let rule: StateRule = serde_json::from_value(json!({
                "state_tag": "state",
                "state_codes": [{"code": 0, "state": "idle"}, {"code": 1, "state": "running"}],
                "part_counter_tag": "parts",
                "stale_secs": 180,
                "minor_stop_secs": 300,
                "ideal_cycle_secs": 25.0
            }))?;
            let start = Utc.from_utc_datetime(
                &day.and_time(NaiveTime::from_hms_opt(6, 0, 0).context("time")?),
            );
            s.put_state_rule(
                None,
                Some(t.machine_id),
                &rule,
                start - chrono::Duration::hours(1),
            )
            .await?
            .context("machine")?;
            let mut rows = Vec::new();
            let mut parts = 100.0;
            for k in 0..=480i64 {
                let running = k < run;
                if k > 0 && k - 1 < run {
                    parts += 2.0;
                }
                for (tag, value) in t.tag_ids.iter().zip([f64::from(u8::from(running)), parts]) {
                    rows.push(SampleRow {
                        tag_id: *tag,
                        time: start + chrono::Duration::minutes(k),
                        value: Some(value),
                        quality: Quality::Good,
                    });
                }
            }
            s.ingest(&rows).await?;
            let (st, v, _) = app
                .call(
                    reqwest::Method::PUT,
                    "/api/v1/sharing",
                    Some(&t.key),
                    Some(json!({"categories": Category::ALL, "size_class": "small"})),
                )
                .await;
            ensure!(st.is_success(), "sharing: {st} {v}");
        }
    }
    for _ in 0..20 {
        if !store.build_mes_states().await?.behind {
            break;
        }
    }
    store.build_bureau_contributions(Utc::now()).await?;
    Ok(())
}

/// The bureau page for the garment sector: the chart's points and withheld marks, the
/// cross-section's cells (values or the reason they are withheld) and both CSV links, each
/// against the same API call made directly.
async fn bureau_page_matches_the_api(
    b: &Browser,
    app: &TestApp,
    token: &str,
    day: chrono::NaiveDate,
) -> Result<()> {
    open(
        b,
        "#/bureau?index=utilisation&sector=garment&period=day",
        "bureau",
    )
    .await?;
    let call = |path: String| async move {
        let (s, v, _) = app
            .call(reqwest::Method::GET, &path, Some(token), None)
            .await;
        ensure!(s.is_success(), "{path}: {s} {v}");
        Ok::<Value, anyhow::Error>(v)
    };
    let list = call("/api/v1/bureau/indices".into()).await?;
    let through: chrono::NaiveDate = list["release"]["complete_through"]
        .as_str()
        .context("complete_through")?
        .parse()?;
    let from = through - chrono::Duration::days(30);
    let series = call(format!(
        "/api/v1/bureau/indices/utilisation/series?period=day&from={from}&to={through}&sector=garment"
    ))
    .await?;
    let figures = series["figures"].as_array().context("figures")?;
    let shown = figures.iter().filter(|f| !f["value"].is_null()).count();
    ensure!(
        shown >= 1,
        "the garment total is published for {day}: {series}"
    );
    let points = b.find_all("#bureau-chart circle.point").await?;
    let marks = b.find_all("#bureau-chart text.withheld").await?;
    ensure!(
        points.len() == shown,
        "{} points for {shown} figures",
        points.len()
    );
    ensure!(marks.len() == figures.len() - shown, "withheld marks");
    let point = b
        .script(
            &format!(
                "const c = document.querySelector('#bureau-chart circle[data-period=\"{day}\"]'); \
                 return c ? c.getBBox().width : 0;"
            ),
            vec![],
        )
        .await?;
    ensure!(
        point.as_f64().unwrap_or(0.0) > 0.0,
        "a point drawn for {day}"
    );

    let cross = call(format!(
        "/api/v1/bureau/indices/utilisation/cross-section?period=day&date={day}&by=region&sector=garment"
    ))
    .await?;
    let cells = cross["figures"].as_array().context("cross figures")?;
    ensure!(cells.len() == 3, "east, west and the total: {cross}");
    let mut withheld = 0;
    for cell in cells {
        let region = cell["region"].as_str().unwrap_or("");
        let row = b
            .find(&format!("#bureau-cross tr[data-region='{region}']"))
            .await?;
        let text = b.text(&row).await?;
        match cell["suppressed"].as_str() {
            Some(reason) => {
                withheld += 1;
                let want = match reason {
                    "too_few_contributors" => "too few contributors",
                    "complementary" => "complementary",
                    "dominance" => "dominance",
                    _ => "no base",
                };
                ensure!(
                    text.contains(&format!("× {want}")),
                    "{region}: {text} says {want}"
                );
            }
            None => {
                let v = cell["value"].as_f64().context("value")?;
                let cell_value: f64 = b
                    .script(
                        &format!(
                            "return document.querySelector(\"#bureau-cross tr[data-region='{region}']\").dataset.value;"
                        ),
                        vec![],
                    )
                    .await?
                    .as_str()
                    .context("data-value")?
                    .parse()?;
                ensure!(cell_value == v, "{region}: {cell_value} vs {v}");
                ensure!(
                    text.contains(cell["contributors"].as_str().unwrap_or("?")),
                    "{text}"
                );
            }
        }
    }
    ensure!(
        withheld == 2,
        "the west (too few) and the east (complementary) are withheld"
    );
    let west = b
        .text(&b.find("#bureau-cross tr[data-region='west']").await?)
        .await?;
    ensure!(west.contains("too few contributors"), "{west}");

    // The CSV link holds the figures as the API's CSV gives them.
    b.wait_until(
        "const a = document.getElementById('bureau-cross-csv'); return a && a.dataset.ready === 'true';",
        WAIT,
    )
    .await?;
    let csv = b
        .script(
            "const href = document.getElementById('bureau-cross-csv').href; \
             return decodeURIComponent(href.slice(href.indexOf(',') + 1));",
            vec![],
        )
        .await?;
    let csv = csv.as_str().context("csv text")?;
    let lines: Vec<&str> = csv.lines().collect();
    ensure!(
        lines.first()
            == Some(&"index,period,period_start,sector,region,value,contributors,suppressed"),
        "{csv}"
    );
    ensure!(lines.len() == cells.len() + 1, "{csv}");
    ensure!(
        lines.iter().any(|l| l.contains(&format!(
            "utilisation,day,{day},garment,west,,,too_few_contributors"
        ))),
        "{csv}"
    );
    Ok(())
}
