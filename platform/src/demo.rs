//! `millwright demo`: the whole system, live, with no configuration. Without `DATABASE_URL`
//! it starts a private PostgreSQL cluster in a data folder of its own. It starts the three
//! simulated plants (real Modbus TCP servers), registers their machines and tags for a demo
//! tenant, serves the API, and runs one connector per plant that polls the machines and ships
//! samples through the ingest API with store-and-forward, exactly as in a factory. The
//! simulators' failures, repairs and planned changes are recorded as machine events (the labels
//! for training models), and the scorer runs whatever models the tenant promotes. Every part
//! the simulators make is inspected and recorded as a quality record through the API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use millwright_connectors::edge::{plant_tags, Edge, EdgeOptions, PlantSpec, TagInfo};
use millwright_connectors::simulator::machine::SimEventKind;
use millwright_connectors::simulator::{PlantEvents, PlantKind};
use millwright_tenants::api_key::NewApiKey;
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::api::Server;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::pg_cluster::{Durability, LocalDatabase};
use crate::store::admin::NewTenant;
use crate::store::entities::{EntityFields, Kind, ValueType};
use crate::store::events::{EventKind, NewEvent};
use crate::store::tenancy::ProfileChange;
use crate::store::{Store, TenantId};

// Issue #13: calendars, products, work orders and reasons for the demo tenant.
mod mes;
// Issue #15: defect models trained and promoted once there are records to learn from.
mod quality;
// Issue #14: the C2B shop, its storefront simulator and the order dispatcher.
mod orders;
// Issue #16: light tenants across sectors and regions for the bureau's indices.
pub mod bureau;

const TENANT: &str = "Demo Manufacturing";
/// Fixed so every demo run simulates the same machines, faults and scrap.
const SEED: u64 = 2026;

/// Where the demo keeps its private cluster unless told otherwise: a folder the `postgres`
/// user can reach even when we run as root from a private home directory.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join("millwright-demo")
}

/// What a running demo tells its caller.
#[derive(Debug, Clone)]
pub struct DemoInfo {
    /// Base URL of the API.
    pub api: String,
    /// A fresh owner API key of the demo tenant.
    pub api_key: String,
    /// A fresh platform operator key, for `/api/v1/admin/...` (this run only).
    pub operator_key: String,
    /// Every tag the connectors feed (platform names).
    pub tags: Vec<String>,
    /// The web console's address.
    pub console: String,
    /// One console login per demo role, with a password fresh for this run.
    pub logins: Vec<DemoLogin>,
}

/// A demo user's console login.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// Its role.
    pub role: Role,
    /// Sign-in email.
    pub email: String,
    /// Password, new every run.
    pub password: String,
}

/// The running demo.
pub struct Demo {
    /// Where to reach it.
    pub info: DemoInfo,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    edge: Edge,
    database: LocalDatabase,
}

impl Demo {
    /// Starts everything; returns once the API answers and the connectors run.
    pub async fn start(mut settings: Settings, data_dir: PathBuf) -> Result<Self> {
        let database = LocalDatabase::provide(
            &mut settings.database,
            &data_dir,
            "millwright",
            Durability::Durable,
        )
        .await?;
        let store = Store::open(&settings.database, &settings.store).await?;
        let tenant = ensure_tenant(&store).await?;
        let api_key = store.issue_api_key(tenant, "demo", Role::Owner).await?;
        let mut logins = ensure_demo_users(&store, tenant).await?;
        // Issue #16: the demo tenant's sector, region and sharing; a bureau login.
        bureau::place_main_tenant(&store, tenant).await?;
        {
            use rand::distributions::{Alphanumeric, DistString};
            let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
            bureau::ensure_login(&store, &password).await?;
            logins.push(DemoLogin {
                role: Role::Bureau,
                email: bureau::EMAIL.into(),
                password,
            });
        }
        let operator = NewApiKey::generate();
        settings.auth.operator_key_sha256 =
            Some(hex::encode(Sha256::digest(operator.plaintext.as_bytes())));

        // Each plant's connector gets a device token scoped to its own site: it may send
        // samples for that site's tags and run that site's setpoint commands, nothing else.
        let mut specs = Vec::new();
        for &kind in PlantKind::ALL.iter() {
            let site = ensure_site(&store, tenant, &site_name(kind)).await?;
            let token = store
                .issue_device_token(tenant, &format!("demo {} connector", kind.as_str()), site)
                .await?;
            specs.push(PlantSpec {
                kind,
                seed: SEED,
                token,
            });
        }
        let plants = Edge::start_plants(&specs).await.map_err(edge_error)?;
        let event_logs: Vec<PlantEvents> = plants.iter().map(|p| p.events()).collect();
        let tags: Vec<TagInfo> = plants.iter().flat_map(plant_tags).collect();
        ensure_plant_model(&store, tenant, &tags).await?;
        ensure_alarm_rules(&store, tenant).await?;
        mes::ensure_mes(&store, tenant).await?;
        let shop_key = orders::ensure_orders(&store, tenant).await?;

        let settings = Arc::new(settings);
        let server = bind(&store, &settings).await?;
        let leases = server.leases();
        let api = format!("http://{}", server.local_addr());
        let stop = CancellationToken::new();
        let s = stop.clone();
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = server.run(async move { s.cancelled().await }).await {
                tracing::error!(error = %e, "API server failed.");
            }
        })];
        tasks.push(tokio::spawn(mes::explain_stops(
            store.clone(),
            tenant,
            stop.clone(),
        )));
        // Issue #16: the bureau's light tenants, in the background (their indices appear once
        // their history is written and computed).
        tasks.push(tokio::spawn({
            let (store, stop) = (store.clone(), stop.clone());
            async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = bureau::generate(&store) => match r {
                        Ok(n) => tracing::info!(tenants = n, "Bureau demo tenants ready."),
                        Err(e) => tracing::warn!(error = %e, "Generating the bureau demo tenants failed."),
                    }
                }
            }
        }));
        // Issue #18: the background jobs, each under its lease as in `serve`.
        tasks.extend(crate::leases::jobs::spawn(
            &store, &settings, &leases, &stop,
        ));

        tasks.push(tokio::spawn(record_events(
            store.clone(),
            tenant,
            event_logs.clone(),
            stop.clone(),
        )));
        tasks.push(tokio::spawn(quality::train_defect_models(
            api.clone(),
            api_key.clone(),
            stop.clone(),
        )));
        // Issue #14: a shop places custom orders; a dispatcher runs their work orders.
        tasks.push(tokio::spawn(orders::storefront(
            store.clone(),
            tenant,
            api.clone(),
            shop_key,
            stop.clone(),
        )));
        tasks.push(tokio::spawn(orders::dispatch(
            store.clone(),
            tenant,
            stop.clone(),
        )));
        // Issue #15: every part the simulators make is inspected and recorded through the API.
        tasks.push(tokio::spawn(post_quality_records(
            api.clone(),
            api_key.clone(),
            event_logs,
            stop.clone(),
        )));

        let options = EdgeOptions {
            plants: specs,
            platform_url: api.clone(),
            data_dir: data_dir.join("edge"),
            poll_interval_ms: 1000,
        };
        let edge = Edge::connect(plants, &options).await.map_err(edge_error)?;
        let tags = tags.into_iter().map(|t| t.platform_tag).collect();
        Ok(Self {
            info: DemoInfo {
                console: format!("{api}/console/"),
                api,
                api_key,
                operator_key: operator.plaintext,
                tags,
                logins,
            },
            stop,
            tasks,
            edge,
            database,
        })
    }

    /// Stops the connectors (queuing anything undelivered), the plants, the API and the
    /// private cluster, in that order.
    pub async fn stop(mut self) {
        if let Err(e) = self.edge.stop().await {
            tracing::warn!(error = %e, "Stopping the edge failed.");
        }
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(mut cluster) = self.database.cluster.take() {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }
}

/// Records the simulators' failures, repairs and planned changes as machine events (the
/// labels of predictive maintenance), stamped with the wall-clock time they are seen, every
/// second until `stop`.
async fn record_events(
    store: Store,
    tenant: TenantId,
    logs: Vec<PlantEvents>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut machines: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let events: Vec<_> = logs.iter().flat_map(PlantEvents::drain).collect();
        if events.is_empty() {
            continue;
        }
        if let Err(e) = record(&store, tenant, &mut machines, events).await {
            tracing::warn!(error = %e, "Recording simulator events failed; they are lost.");
        }
    }
}

async fn record(
    store: &Store,
    tenant: TenantId,
    machines: &mut BTreeMap<String, i64>,
    events: Vec<(String, millwright_connectors::simulator::machine::SimEvent)>,
) -> Result<()> {
    let mut session = store.tenant(tenant).await?;
    if events.iter().any(|(m, _)| !machines.contains_key(m)) {
        for e in session.list(Kind::Machine, None, 0, 1000).await? {
            machines.insert(e.name().to_string(), e.id());
        }
    }
    let at = chrono::Utc::now();
    for (machine, e) in events {
        let Some(&id) = machines.get(&machine) else {
            continue;
        };
        let kind = match e.kind {
            SimEventKind::Failure => EventKind::Failure,
            SimEventKind::Repair => EventKind::Repair,
            SimEventKind::Maintenance => EventKind::Maintenance,
        };
        let event = NewEvent {
            kind,
            at,
            code: e.code.to_string(),
            note: format!("simulator ground truth at {:.0} simulated s", e.sim_seconds),
        };
        session.record_event(id, &event).await?;
        tracing::info!(machine = %machine, kind = kind.as_str(), code = e.code, "Simulator event recorded.");
    }
    Ok(())
}

/// Records every part the simulators make as a quality record through the API, as an
/// inspection station beside each machine would (serial `<machine>-<run>-<part number>`, the
/// product and work order of the machine's line, the result and defect code from the
/// simulator's quality physics), every five seconds until `stop`. The platform captures each
/// unit's process parameters from the tags the connectors sent.
async fn post_quality_records(
    api: String,
    key: String,
    logs: Vec<PlantEvents>,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let run = chrono::Utc::now().format("%y%m%d%H%M").to_string();
    let mut machines: BTreeMap<String, i64> = BTreeMap::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let parts: Vec<_> = logs.iter().flat_map(PlantEvents::drain_parts).collect();
        if parts.is_empty() {
            continue;
        }
        match post_parts(&http, &api, &key, &run, &mut machines, parts).await {
            Ok(n) => tracing::debug!(records = n, "Simulated parts recorded."),
            Err(e) => {
                tracing::warn!(error = %e, "Recording simulated parts failed; they are lost.")
            }
        }
    }
}

/// What a simulated machine makes. Records carry no work order: the platform assigns the MES
/// work order the machine is running.
fn product_of(machine: &str) -> &'static str {
    match machine.split('-').next().unwrap_or_default() {
        "imm" => "housing",
        "press" => "bracket",
        "sew" => "shirt",
        "cutter" => "panel",
        "cnc" => "shaft",
        _ => "part",
    }
}

async fn post_parts(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    run: &str,
    machines: &mut BTreeMap<String, i64>,
    parts: Vec<(String, millwright_connectors::simulator::machine::SimPart)>,
) -> std::result::Result<usize, String> {
    if parts.iter().any(|(m, _)| !machines.contains_key(m)) {
        let listed: serde_json::Value = http
            .get(format!("{api}/api/v1/machines?limit=1000"))
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        for m in listed.as_array().into_iter().flatten() {
            if let (Some(name), Some(id)) = (m["name"].as_str(), m["id"].as_i64()) {
                machines.insert(name.to_string(), id);
            }
        }
    }
    let now = chrono::Utc::now();
    let records: Vec<serde_json::Value> = parts
        .iter()
        .filter_map(|(machine, p)| {
            let id = machines.get(machine)?;
            let product = product_of(machine);
            // Simulated time runs `speed` (60) times faster than the wall clock; a cycle of
            // at least a second of wall time covers the samples read around the part.
            let cycle_wall = (p.cycle_s / 60.0).max(1.0);
            Some(serde_json::json!({
                "unit_id": format!("{machine}-{run}-{:06}", p.number),
                "product": product,
                "machine_id": id,
                "produced_at": now.to_rfc3339(),
                "cycle_started_at": (now - chrono::Duration::milliseconds((cycle_wall * 1000.0) as i64)).to_rfc3339(),
                "passed": !p.scrap,
                "defect_code": p.defect_code,
            }))
        })
        .collect();
    let mut stored = 0;
    for chunk in records.chunks(crate::api::quality_records::MAX_RECORDS) {
        let res = http
            .post(format!("{api}/api/v1/quality/records"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "records": chunk }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            let status = res.status();
            return Err(format!(
                "{status}: {}",
                res.text().await.unwrap_or_default()
            ));
        }
        stored += chunk.len();
    }
    Ok(stored)
}

fn edge_error(e: millwright_connectors::Error) -> Error {
    Error::Demo(format!("simulated plants or connectors: {e}"))
}

/// Binds the configured address, or any free port if it is taken (a second demo, say).
async fn bind(store: &Store, settings: &Arc<Settings>) -> Result<Server> {
    match Server::bind(store.clone(), settings.clone()).await {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(listen = %settings.http.listen, "Port taken; the demo picks a free one.");
            let mut fallback = (**settings).clone();
            fallback.http.listen.set_port(0);
            Server::bind(store.clone(), Arc::new(fallback)).await
        }
        other => other,
    }
}

async fn ensure_tenant(store: &Store) -> Result<TenantId> {
    match store.tenant_by_name(TENANT).await? {
        Some(tenant) => {
            // A data folder from before plans existed holds a Monitor tenant.
            let mut session = store.tenant(tenant).await?.acting_as("demo");
            if session.profile().await?.plan != Plan::Pro {
                let pro = ProfileChange {
                    plan: Some(Plan::Pro),
                    ..Default::default()
                };
                session.update_profile(&pro).await?;
            }
            Ok(tenant)
        }
        // Pro, so every feature can be tried.
        None => {
            store
                .create_tenant(&NewTenant::named(TENANT, Plan::Pro))
                .await
        }
    }
}

/// Machine class of a simulated machine, from its name (`imm-2` → injection moulding).
fn machine_class(machine: &str) -> &'static str {
    match machine.split('-').next().unwrap_or_default() {
        "imm" => "injection_moulding",
        "press" => "press",
        "sew" => "sewing",
        "cutter" => "cutting_table",
        "cnc" => "cnc",
        _ => "machine",
    }
}

/// What a tag's numbers mean, from how the connector reads it.
fn value_type(tag: &TagInfo) -> ValueType {
    use millwright_connectors::modbus::config::DataType;
    match tag.data_type {
        DataType::Bool => ValueType::Boolean,
        DataType::String => ValueType::Text,
        DataType::F32 | DataType::F64 => ValueType::Float,
        _ if tag.scaled => ValueType::Float,
        _ => ValueType::Integer,
    }
}

/// The site of a simulated plant.
fn site_name(plant: PlantKind) -> String {
    format!("{}-plant", plant.as_str())
}

/// The id of the site named `name`, created if missing.
async fn ensure_site(store: &Store, tenant: TenantId, name: &str) -> Result<i64> {
    let mut session = store.tenant(tenant).await?.acting_as("demo");
    if let Some(site) = session
        .list(Kind::Site, None, 0, 1000)
        .await?
        .into_iter()
        .find(|e| e.name() == name)
    {
        return Ok(site.id());
    }
    let fields = EntityFields {
        name: Some(name.to_string()),
        ..Default::default()
    };
    Ok(session.create(Kind::Site, &fields).await?.id())
}

/// One site per plant, one line per machine class, one machine per simulated machine, and
/// its tags; whatever already exists (an earlier run) is kept.
async fn ensure_plant_model(store: &Store, tenant: TenantId, tags: &[TagInfo]) -> Result<()> {
    let mut session = store.tenant(tenant).await?;
    let named = |name: &str| EntityFields {
        name: Some(name.to_string()),
        ..Default::default()
    };
    // Ids of what exists already, by kind and name (names are unique enough in the demo).
    let mut ids: BTreeMap<(Kind, String), i64> = BTreeMap::new();
    let mut types: BTreeMap<String, ValueType> = BTreeMap::new();
    for kind in [Kind::Site, Kind::Line, Kind::Machine, Kind::Tag] {
        for e in session.list(kind, None, 0, 1000).await? {
            ids.insert((kind, e.name().to_string()), e.id());
            if let crate::store::entities::Entity::Tag(t) = &e {
                types.insert(t.name.clone(), t.value_type);
            }
        }
    }
    for tag in tags {
        if let Some(id) = ids.get(&(Kind::Tag, tag.platform_tag.clone())) {
            // Data folders from before text tags hold string tags registered as numbers.
            if tag.is_text() && types.get(&tag.platform_tag) != Some(&ValueType::Text) {
                let text = EntityFields {
                    value_type: Some(ValueType::Text),
                    ..Default::default()
                };
                session.update(Kind::Tag, *id, &text).await?;
            }
            continue;
        }
        let site_name = site_name(tag.plant);
        let line_name = format!(
            "{} {} line",
            tag.plant.as_str(),
            machine_class(&tag.machine)
        );
        let site = match ids.get(&(Kind::Site, site_name.clone())) {
            Some(id) => *id,
            None => session.create(Kind::Site, &named(&site_name)).await?.id(),
        };
        ids.insert((Kind::Site, site_name), site);
        let line = match ids.get(&(Kind::Line, line_name.clone())) {
            Some(id) => *id,
            None => session
                .create(
                    Kind::Line,
                    &EntityFields {
                        parent_id: Some(site),
                        ..named(&line_name)
                    },
                )
                .await?
                .id(),
        };
        ids.insert((Kind::Line, line_name), line);
        let machine = match ids.get(&(Kind::Machine, tag.machine.clone())) {
            Some(id) => *id,
            None => {
                let fields = EntityFields {
                    parent_id: Some(line),
                    kind: Some(machine_class(&tag.machine).to_string()),
                    ..named(&tag.machine)
                };
                session.create(Kind::Machine, &fields).await?.id()
            }
        };
        ids.insert((Kind::Machine, tag.machine.clone()), machine);
        let fields = EntityFields {
            parent_id: Some(machine),
            unit: tag.unit.clone(),
            value_type: Some(value_type(tag)),
            description: Some(format!("{} of {}", tag.name, tag.machine)),
            ..named(&tag.platform_tag)
        };
        session.create(Kind::Tag, &fields).await?;
    }
    Ok(())
}

/// The demo's alarm rules (issue #13), on the simulated machines: the barrel-zone and oil-rate
/// rules fire within minutes on the simulators' noise and drift, the fault rule whenever a
/// degradation stops a machine, the stale rule if a connector stops. Kept if they exist.
async fn ensure_alarm_rules(store: &Store, tenant: TenantId) -> Result<()> {
    use crate::alerting::rule::{Condition, Severity};
    use crate::store::alarm_rules::RuleFields;
    let mut session = store.tenant(tenant).await?.acting_as("demo");
    let existing: Vec<String> = session
        .rules(None, 1000)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let rule = |name: &str,
                suffix: &str,
                kind: Option<&str>,
                condition: Condition,
                delay,
                severity,
                message: &str| RuleFields {
        name: name.into(),
        tag_id: None,
        tag_suffix: Some(suffix.into()),
        machine_kind: kind.map(str::to_string),
        condition,
        on_delay_secs: delay,
        severity,
        message: message.into(),
        enabled: true,
    };
    let rules = [
        rule(
            "Barrel zone 1 over temperature",
            "barrel_temp_1",
            Some("injection_moulding"),
            Condition::High {
                limit: 231.2,
                deadband: 1.0,
            },
            1,
            Severity::Low,
            "{machine} barrel zone 1 at {value} {unit}, above {limit} {unit}",
        ),
        rule(
            "Press oil heating fast",
            "oil_temp",
            Some("press"),
            Condition::RateOfChange {
                limit_per_min: 1.2,
                window_secs: 60,
                deadband: 0.4,
            },
            3,
            Severity::Medium,
            "{machine} oil temperature changing {value} {unit}/min (limit {limit})",
        ),
        rule(
            "Machine in fault over 20 s",
            "alarm_code",
            None,
            Condition::MachineState {
                state: "fault".into(),
            },
            20,
            Severity::Critical,
            "{machine} in fault (code {value}) for over {delay} s",
        ),
        rule(
            "No data from a press",
            "stroke_rate",
            Some("press"),
            Condition::Stale { after_secs: 30 },
            0,
            Severity::High,
            "{machine}: no {tag} for {limit} s; is its connector running?",
        ),
    ];
    for r in rules {
        if !existing.contains(&r.name) {
            session.create_rule(&r).await?;
        }
    }
    Ok(())
}

/// The demo's people, one per role a person may hold in a tenant.
const DEMO_USERS: [(Role, &str, &str); 5] = [
    (Role::Owner, "owner@demo.example.com", "Demo owner"),
    (Role::Admin, "admin@demo.example.com", "Demo admin"),
    (Role::Engineer, "engineer@demo.example.com", "Demo engineer"),
    (Role::Operator, "operator@demo.example.com", "Demo operator"),
    (Role::Viewer, "viewer@demo.example.com", "Demo viewer"),
];

/// Creates the demo's users, or gives those of an earlier run their role back, and sets a
/// fresh random password for each (printed once at start, like the API keys).
async fn ensure_demo_users(store: &Store, tenant: TenantId) -> Result<Vec<DemoLogin>> {
    use crate::store::users::UserChange;
    use millwright_tenants::password::{self, Password};
    use rand::distributions::{Alphanumeric, DistString};

    let mut session = store.tenant(tenant).await?.acting_as("demo");
    let existing = session.users().await?;
    let mut logins = Vec::new();
    for (role, email, name) in DEMO_USERS {
        let plain = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
        let secret = Password::from(plain.as_str());
        // argon2 takes a while: off the async threads.
        let hash = tokio::task::spawn_blocking(move || password::hash(&secret))
            .await
            .map_err(|e| Error::Demo(format!("hashing a demo password: {e}")))?
            .map_err(|e| Error::Demo(format!("hashing a demo password: {e}")))?;
        match existing.iter().find(|u| u.email == email) {
            Some(user) => {
                let change = UserChange {
                    role: Some(role),
                    disabled: Some(false),
                    password_hash: Some(hash),
                    ..Default::default()
                };
                session.update_user(user.id, &change).await?;
            }
            None => {
                session.create_user(email, name, role, &hash).await?;
            }
        }
        logins.push(DemoLogin {
            role,
            email: email.to_string(),
            password: plain,
        });
    }
    Ok(logins)
}
