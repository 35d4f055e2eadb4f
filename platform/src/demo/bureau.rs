//! The demo's industry bureau (issue #16): light simulated tenants across the three sectors
//! and three regions, each with one machine whose state, part counter and energy meter are
//! generated for the last days (10-minute samples, written through the store's ingest), its
//! states built by the MES and its daily contributions computed as the maintenance round
//! does. Some sector × region cells have too few tenants, so suppression shows. The main demo
//! tenant is placed (machinery, east, medium) and shares everything too. A bureau login is
//! made for the console and the API.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use millwright_tenants::plan::Plan;

use crate::bureau::sharing::{Category, SizeClass};
use crate::error::Result;
use crate::mes::state::StateRule;
use crate::store::admin::{Industry, NewTenant};
use crate::store::bureau::closed_through;
use crate::store::entities::{EntityFields, Kind};
use crate::store::ingest::{Quality, SampleRow};
use crate::store::mes::plan::SiteCalendar;
use crate::store::tenancy::ProfileChange;
use crate::store::{Store, TenantId};

/// Days of generated history.
pub const DAYS: i64 = 10;
/// The bureau's demo sign-in.
pub const EMAIL: &str = "bureau@demo.millwright.example";

/// Light tenants per (sector, region): cells of 2 are withheld, the rest published.
const PLACES: [(Industry, &str, usize); 9] = [
    (Industry::Appliance, "east", 5),
    (Industry::Appliance, "south", 5),
    (Industry::Appliance, "west", 2),
    (Industry::Garment, "east", 6),
    (Industry::Garment, "south", 5),
    (Industry::Garment, "west", 5),
    (Industry::Machinery, "east", 4),
    (Industry::Machinery, "south", 2),
    (Industry::Machinery, "west", 5),
];

struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Places the main demo tenant and has it share everything.
pub async fn place_main_tenant(store: &Store, tenant: TenantId) -> Result<()> {
    let mut s = store.tenant(tenant).await?.acting_as("demo");
    s.update_profile(&ProfileChange {
        industry: Some(Industry::Machinery),
        region: Some("east".into()),
        ..Default::default()
    })
    .await?;
    s.set_sharing(
        &Category::ALL.into_iter().collect(),
        Some(SizeClass::Medium),
    )
    .await?;
    Ok(())
}

/// Gives the demo bureau user `password` (creating it the first time).
pub async fn ensure_login(store: &Store, password: &str) -> Result<()> {
    use millwright_tenants::password::{self, Password};
    let secret = Password::from(password);
    let hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| crate::error::Error::Demo(format!("hashing the bureau password: {e}")))?
        .map_err(|e| crate::error::Error::Demo(format!("hashing the bureau password: {e}")))?;
    store
        .ensure_bureau_user(EMAIL, "Demo industry bureau", &hash)
        .await
}

/// Creates the light tenants (or finds them), writes their last [`DAYS`] days of samples,
/// builds their states and computes their contributions. Takes a little while; the demo runs
/// it in the background.
pub async fn generate(store: &Store) -> Result<usize> {
    let today = Utc::now().date_naive();
    let first = today - Duration::days(DAYS);
    let mut made = Vec::new();
    let mut n = 0u64;
    for (sector, region, count) in PLACES {
        for i in 0..count {
            n += 1;
            let name = format!("Bureau demo {} {region} {i}", sector.as_str());
            let id = match store.tenant_by_name(&name).await? {
                Some(id) => id,
                None => {
                    store
                        .create_tenant(&NewTenant::named(name.clone(), Plan::Mes))
                        .await?
                }
            };
            let mut s = store.tenant(id).await?.acting_as("demo");
            s.update_profile(&ProfileChange {
                industry: Some(sector),
                region: Some(region.into()),
                ..Default::default()
            })
            .await?;
            let size = [SizeClass::Small, SizeClass::Medium, SizeClass::Large][(n % 3) as usize];
            // Most share everything; every fourth keeps its energy and alarms to itself.
            let shared: BTreeSet<Category> = Category::ALL
                .into_iter()
                .filter(|c| {
                    !n.is_multiple_of(4) || !matches!(c, Category::Energy | Category::Alarms)
                })
                .collect();
            s.set_sharing(&shared, Some(size)).await?;
            let tags = match s
                .tag_ids_by_name(&["m1.state", "m1.parts", "m1.energy_kwh"])
                .await?
            {
                t if t.len() == 3 => [t["m1.state"], t["m1.parts"], t["m1.energy_kwh"]],
                _ => {
                    let named = |name: &str| EntityFields {
                        name: Some(name.into()),
                        ..Default::default()
                    };
                    let site = s.create(Kind::Site, &named("plant")).await?.id();
                    let line = s
                        .create(
                            Kind::Line,
                            &EntityFields {
                                parent_id: Some(site),
                                ..named("line")
                            },
                        )
                        .await?
                        .id();
                    let machine = s
                        .create(
                            Kind::Machine,
                            &EntityFields {
                                parent_id: Some(line),
                                kind: Some("demo_light".into()),
                                ..named("m1")
                            },
                        )
                        .await?
                        .id();
                    let mut ids = [0i64; 3];
                    for (k, (tag, unit)) in
                        [("m1.state", ""), ("m1.parts", ""), ("m1.energy_kwh", "kWh")]
                            .into_iter()
                            .enumerate()
                    {
                        let fields = EntityFields {
                            parent_id: Some(machine),
                            unit: Some(unit.into()),
                            ..named(tag)
                        };
                        ids[k] = s.create(Kind::Tag, &fields).await?.id();
                    }
                    s.put_site_calendar(&SiteCalendar {
                        site_id: site,
                        time_zone: "Asia/Shanghai".into(),
                        shifts: serde_json::from_value(serde_json::json!([
                            {"name": "day", "start": "08:00", "end": "16:00"},
                            {"name": "evening", "start": "16:00", "end": "00:00"}
                        ]))
                        .map_err(|e| crate::error::Error::Demo(e.to_string()))?,
                        days_off: vec![],
                        updated_at: None,
                    })
                    .await?;
                    let rule: StateRule = serde_json::from_value(serde_json::json!({
                        "state_tag": "state",
                        "state_codes": [{"code": 0, "state": "idle"},
                                        {"code": 1, "state": "running"},
                                        {"code": 3, "state": "fault"}],
                        "part_counter_tag": "parts",
                        "stale_secs": 900,
                        "minor_stop_secs": 300,
                        "ideal_cycle_secs": 30.0
                    }))
                    .map_err(|e| crate::error::Error::Demo(e.to_string()))?;
                    s.put_state_rule(
                        Some("demo_light"),
                        None,
                        &rule,
                        Utc::now() - Duration::days(DAYS + 1),
                    )
                    .await?;
                    ids
                }
            };
            // Ten-minute samples over the local days: running a share of the 16 planned
            // hours that differs by tenant and day, a fault now and then.
            let mut g = Lcg(n * 7919);
            let skill = 0.45 + 0.4 * g.unit();
            let rate = 8.0 + 12.0 * g.unit();
            let tz = chrono_tz::Asia::Shanghai;
            let mut rows = Vec::new();
            let (mut parts, mut kwh) = (0.0, 1000.0);
            let mut day = first;
            while day < today {
                let share = (skill + 0.2 * (g.unit() - 0.5)).clamp(0.05, 0.98);
                let fault_at = (g.unit() < 0.3).then(|| (g.unit() * 90.0) as i64);
                let start = tz
                    .from_local_datetime(&day.and_time(NaiveTime::MIN))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default();
                for k in 0..144i64 {
                    let slot = k - 48; // 08:00 local is slot 48
                    let planned = (0..96).contains(&slot);
                    let running = planned && (slot as f64) < share * 96.0;
                    let fault = fault_at.is_some_and(|f| slot >= f && slot < f + 3);
                    let state = if fault {
                        3.0
                    } else if running {
                        1.0
                    } else {
                        0.0
                    };
                    if state == 1.0 {
                        parts += rate;
                        kwh += 3.0 + rate * 0.2;
                    } else {
                        kwh += 0.4;
                    }
                    let time = start + Duration::minutes(10 * k);
                    if time > Utc::now() {
                        break;
                    }
                    for (tag, value) in tags.iter().zip([state, parts, kwh]) {
                        rows.push(SampleRow {
                            tag_id: *tag,
                            time,
                            value: Some(value),
                            quality: Quality::Good,
                        });
                    }
                }
                day += Duration::days(1);
            }
            s.ingest(&rows).await?;
            made.push(id);
        }
    }
    for _ in 0..50 {
        if !store.build_mes_states().await?.behind {
            break;
        }
    }
    let negative = store.negative_list().await?;
    let through = closed_through(Utc::now());
    for id in &made {
        store
            .tenant(*id)
            .await?
            .compute_contributions(first, through, &negative)
            .await?;
    }
    Ok(made.len())
}
