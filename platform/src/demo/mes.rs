//! The demo tenant's MES set-up (issue #13): three shifts a day at every plant, one product
//! per machine class, a work order running on the first machine of each class, and an
//! operator who explains the longer stops (the reason their state suggests, or a material
//! shortage for idle spells) every minute, so states, downtime with reasons and OEE are
//! there within minutes.
//!
//! The simulators run `PlantOptions::speed` (60) times faster than the wall clock, so the
//! demo's rules and products scale ideal cycle times and the minor-stop threshold by it:
//! OEE then reads as it would on the real plant.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::mes::calendar::{BreakDef, ShiftDef};
use crate::mes::downtime::Category;
use crate::mes::work_order::WorkOrderState;
use crate::store::mes::orders::NewWorkOrder;
use crate::store::mes::plan::SiteCalendar;
use crate::store::{Store, TenantId};

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// Early, late and night shifts, each with a 30-minute meal break.
fn shifts() -> Vec<ShiftDef> {
    [
        ("early", 6, 14, 10),
        ("late", 14, 22, 18),
        ("night", 22, 6, 2),
    ]
    .into_iter()
    .map(|(name, start, end, brk)| ShiftDef {
        name: name.into(),
        start: hm(start, 0),
        end: hm(end, 0),
        weekdays: (1..=7).collect(),
        breaks: vec![BreakDef {
            start: hm(brk, 0),
            minutes: 30,
        }],
    })
    .collect()
}

/// Simulated seconds per wall-clock second in the demo's plants.
fn speed() -> f64 {
    millwright_connectors::simulator::PlantOptions::default()
        .speed
        .max(1.0)
}

/// Calendars, class rules, products and running work orders, unless an earlier run made them.
pub(super) async fn ensure_mes(store: &Store, tenant: TenantId) -> Result<()> {
    let mut session = store.tenant(tenant).await?.acting_as("demo");
    let machines = session.mes_machines(None).await?;
    let stored = session.state_rules().await?;
    let ruled: Vec<String> = stored
        .iter()
        .filter_map(|r| r.machine_class.clone())
        .collect();
    // Class rules an earlier demo run stored before the simulators had a setup state (4) get
    // it, so a CNC's tool change reads as setup, not as an unknown code.
    for r in stored {
        let (Some(class), false) = (
            r.machine_class,
            r.rule.state_codes.iter().any(|c| c.code == 4),
        ) else {
            continue;
        };
        let mut rule = r.rule;
        rule.state_codes.push(crate::mes::state::StateCode {
            code: 4,
            state: crate::mes::state::MachineState::Setup,
        });
        session
            .put_state_rule(Some(&class), None, &rule, Utc::now())
            .await?;
    }
    let mut classes: Vec<&str> = machines.iter().map(|m| m.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in &classes {
        if ruled.iter().any(|c| c == class) {
            continue;
        }
        let default = crate::mes::state::StateRule::default_for_class(class);
        let rule = crate::mes::state::StateRule {
            ideal_cycle_secs: default.ideal_cycle_secs.map(|c| c / speed()),
            minor_stop_secs: ((f64::from(default.minor_stop_secs) / speed()).ceil() as u32).max(1),
            ..default
        };
        session
            .put_state_rule(Some(class), None, &rule, Utc::now())
            .await?;
    }
    let mut sites: Vec<i64> = machines.iter().map(|m| m.site_id).collect();
    sites.sort_unstable();
    sites.dedup();
    for site in sites {
        let Some(cal) = session.site_calendar(site).await? else {
            continue;
        };
        if cal.updated_at.is_none() {
            session
                .put_site_calendar(&SiteCalendar {
                    shifts: shifts(),
                    days_off: Vec::new(),
                    ..cal
                })
                .await?;
        }
    }
    let mut products: BTreeMap<String, i64> = session
        .products()
        .await?
        .into_iter()
        .map(|p| (p.code, p.id))
        .collect();
    for class in classes {
        let code = format!("DEMO-{}", class.to_uppercase());
        if products.contains_key(&code) {
            continue;
        }
        let ideal = crate::mes::state::StateRule::default_for_class(class)
            .ideal_cycle_secs
            .unwrap_or(60.0)
            / speed();
        let p = session
            .create_product(
                &code,
                &format!("Demo part for the {class} line"),
                &BTreeMap::from([(class.to_string(), ideal)]),
            )
            .await?;
        products.insert(code, p.id);
    }
    if !session.work_orders(None, None).await?.is_empty() {
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &machines {
        if !seen.insert(m.class.clone()) {
            continue;
        }
        let Some(&product_id) = products.get(&format!("DEMO-{}", m.class.to_uppercase())) else {
            continue;
        };
        let wo = session
            .create_work_order(&NewWorkOrder {
                number: format!(
                    "WO-{}-{}",
                    m.name.to_uppercase(),
                    Utc::now().format("%Y%m%d")
                ),
                product_id,
                quantity: 500,
                machine_id: m.id,
                due_at: Some(Utc::now() + Duration::days(2)),
            })
            .await?;
        for state in [WorkOrderState::Released, WorkOrderState::Running] {
            session
                .transition_work_order(wo.id, state, Utc::now())
                .await?;
        }
        // A second order waits for the machine.
        session
            .create_work_order(&NewWorkOrder {
                number: format!(
                    "WO-{}-{}-B",
                    m.name.to_uppercase(),
                    Utc::now().format("%Y%m%d")
                ),
                product_id,
                quantity: 200,
                machine_id: m.id,
                due_at: Some(Utc::now() + Duration::days(3)),
            })
            .await?;
    }
    tracing::info!(tenant = %tenant, "Demo MES set up: calendars, products, work orders.");
    Ok(())
}

/// Every minute until `stop`: assigns reasons to the last hour's unexplained stops.
pub(super) async fn explain_stops(store: Store, tenant: TenantId, stop: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = explain_once(&store, tenant).await {
            tracing::warn!(error = %e, "Explaining demo stops failed; trying again in a minute.");
        }
    }
}

async fn explain_once(store: &Store, tenant: TenantId) -> Result<()> {
    let mut session = store.tenant(tenant).await?.acting_as("demo operator");
    let reasons = session.reason_codes().await?;
    let reason_for = |c: Category| reasons.iter().find(|r| r.category == c).map(|r| r.id);
    let to = Utc::now();
    let from = to - Duration::hours(1);
    for m in session.mes_machines(None).await? {
        let Some(downtime) = session.machine_downtime(m.id, from, to).await? else {
            continue;
        };
        for e in downtime.events {
            // Only finished stops, each once.
            if e.span.end >= to - Duration::seconds(30)
                || e.segments.iter().any(|s| s.reason_id.is_some())
            {
                continue;
            }
            let category = e.suggested.unwrap_or(match e.state {
                crate::mes::state::MachineState::Unknown => Category::NoOperator,
                _ => Category::MaterialShortage,
            });
            if let Some(reason) = reason_for(category) {
                session
                    .assign_reason(m.id, e.span, reason, "assigned by the demo operator")
                    .await?;
            }
        }
    }
    Ok(())
}
