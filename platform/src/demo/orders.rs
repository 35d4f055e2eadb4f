//! The demo's C2B shop (issue #14): three product templates for the demo plants (a shirt made
//! to measure, a washing machine with panel and capacity, a machined part with material,
//! tolerance class and quantity), a storefront that places a custom order every
//! [`ORDER_EVERY_SECS`] seconds through the storefront API (with an `Idempotency-Key`), and a
//! dispatcher that starts each scheduled step's work order on its machine when the step
//! before it is done, completes it when the machine's part counter has counted the quantity,
//! and hands finished orders to the carrier. Orders follow their work orders by themselves
//! (the maintenance round), so they move through production as the simulators count parts.
//!
//! Cycle times are divided by ten (the simulators run 60× faster than the wall clock, but
//! parts are counted per minute, so a step must last a few minutes to be counted whole): a
//! made-to-measure shirt takes a few minutes on each line. A step's work order is completed
//! once it has run its planned time and its machine has counted the quantity.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::mes::work_order::WorkOrderState;
use crate::orders::state::OrderState;
use crate::orders::template::TemplateSpec;
use crate::store::{Store, TenantId};

/// Seconds between two orders from the storefront.
pub(super) const ORDER_EVERY_SECS: u64 = 20;
/// Orders in the plant at most before the storefront waits.
const MAX_OPEN: usize = 24;

/// Demo cycle times are the real ones divided by this.
const TIME_SCALE: f64 = 10.0;

/// The three demo templates, cycle times scaled by [`TIME_SCALE`].
pub(super) fn templates() -> Vec<TemplateSpec> {
    let s = TIME_SCALE;
    let specs = [
        json!({
            "code": "SHIRT-MTM", "name": "Shirt made to measure", "currency": "CNY",
            "description": "Cut and sewn to your measurements in the garment plant.",
            "base_price_minor": 29900,
            "options": [
                {"key": "fabric", "type": "choice", "label": "Fabric", "choices": [
                    {"value": "cotton", "label": "Egyptian cotton"},
                    {"value": "linen", "label": "Irish linen", "price_minor": 8000},
                    {"value": "silk", "label": "Silk", "price_minor": 20000}]},
                {"key": "collar", "type": "choice", "label": "Collar", "choices": [
                    {"value": "kent"}, {"value": "button_down", "price_minor": 1000}, {"value": "mandarin"}]},
                {"key": "neck_cm", "type": "number", "label": "Neck", "min": 36, "max": 46, "step": 0.5, "unit": "cm"},
                {"key": "sleeve_cm", "type": "number", "label": "Sleeve", "min": 58, "max": 70, "step": 1,
                 "unit": "cm", "price_minor_per_step": 100},
                {"key": "monogram", "type": "text", "label": "Monogram", "required": false,
                 "max_length": 3, "charset": "latin", "price_minor": 3000}
            ],
            "constraints": [{"kind": "excludes",
                "if": {"option": "fabric", "in": ["silk"]},
                "then": {"option": "collar", "in": ["button_down"]},
                "reason": "silk collars are not buttoned down"}],
            "quantity": {"min": 1, "max": 5},
            "quantity_breaks": [{"min_quantity": 3, "percent_off_bp": 500}],
            "routing": [
                {"line_kind": "cutting_table", "setup_secs": 120.0 / s, "cycle_secs": 300.0 / s},
                {"line_kind": "sewing", "cycle_secs": 1500.0 / s, "adjustments": [
                    {"if": {"option": "monogram"}, "add_secs": 600.0 / s},
                    {"if": {"option": "fabric", "in": ["silk"]}, "add_secs": 300.0 / s}]}
            ],
            "ship_buffer_hours": 4
        }),
        json!({
            "code": "WASHER", "name": "Washing machine", "currency": "CNY",
            "description": "Front loader with your panel and drum capacity.",
            "base_price_minor": 249900,
            "options": [
                {"key": "panel", "type": "choice", "label": "Front panel", "choices": [
                    {"value": "white"}, {"value": "silver", "price_minor": 20000},
                    {"value": "black_glass", "price_minor": 60000}]},
                {"key": "capacity_kg", "type": "number", "label": "Capacity", "min": 7, "max": 12,
                 "step": 1, "unit": "kg", "price_minor_per_step": 30000},
                {"key": "motor", "type": "choice", "label": "Motor", "choices": [
                    {"value": "belt"}, {"value": "inverter", "price_minor": 50000}]}
            ],
            "constraints": [{"kind": "requires",
                "if": {"option": "capacity_kg", "at_least": 10},
                "then": {"option": "motor", "in": ["inverter"]},
                "reason": "a large drum needs the inverter motor"}],
            "quantity": {"min": 1, "max": 2},
            "routing": [
                {"line_kind": "injection_moulding", "setup_secs": 600.0 / s, "cycle_secs": 90.0 / s,
                 "adjustments": [{"if": {"option": "capacity_kg", "at_least": 7}, "secs_per_option_unit": 5.0 / s}]},
                {"line_kind": "press", "cycle_secs": 60.0 / s,
                 "adjustments": [{"if": {"option": "panel", "in": ["black_glass"]}, "add_secs": 30.0 / s}]}
            ],
            "lead_days": 0,
            "ship_buffer_hours": 8
        }),
        json!({
            "code": "SHAFT-CNC", "name": "Machined shaft", "currency": "CNY",
            "description": "Turned and milled to your drawing's material and tolerance class.",
            "base_price_minor": 8000,
            "options": [
                {"key": "material", "type": "choice", "label": "Material", "choices": [
                    {"value": "aluminium"}, {"value": "steel", "price_minor": 2000},
                    {"value": "titanium", "price_minor": 15000}]},
                {"key": "tolerance", "type": "choice", "label": "Tolerance class", "choices": [
                    {"value": "it9", "label": "IT9 (coarse)"}, {"value": "it8", "price_minor": 1500},
                    {"value": "it7", "label": "IT7 (fine)", "price_minor": 4000}]}
            ],
            "constraints": [{"kind": "excludes",
                "if": {"option": "material", "in": ["aluminium"]},
                "then": {"option": "tolerance", "in": ["it7"]},
                "reason": "IT7 is offered on steel and titanium only"}],
            "quantity": {"min": 1, "max": 500},
            "quantity_breaks": [{"min_quantity": 50, "percent_off_bp": 1000},
                                {"min_quantity": 200, "percent_off_bp": 2000}],
            "routing": [
                {"line_kind": "cnc", "setup_secs": 900.0 / s, "cycle_secs": 240.0 / s, "adjustments": [
                    {"if": {"option": "material", "in": ["steel"]}, "add_secs": 60.0 / s},
                    {"if": {"option": "material", "in": ["titanium"]}, "add_secs": 180.0 / s},
                    {"if": {"option": "tolerance", "in": ["it7"]}, "add_secs": 120.0 / s}]}
            ],
            "ship_buffer_hours": 2
        }),
    ];
    specs
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// Templates (unless an earlier run made them) and a storefront key for the simulator.
pub(super) async fn ensure_orders(store: &Store, tenant: TenantId) -> Result<String> {
    let mut session = store.tenant(tenant).await?.acting_as("demo");
    let have: BTreeSet<String> = session
        .order_templates(false)
        .await?
        .into_iter()
        .map(|t| t.spec.code)
        .collect();
    for spec in templates() {
        spec.validate()
            .map_err(|e| Error::Demo(format!("demo template {}: {e}", spec.code)))?;
        if !have.contains(&spec.code) {
            session.create_order_template(&spec).await?;
        }
    }
    store.issue_storefront_key(tenant, "demo storefront").await
}

/// A cheap deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

/// A consumer's configuration of template `code`, and a quantity.
fn configure(rng: &mut Lcg, code: &str) -> (Value, i64) {
    match code {
        "SHIRT-MTM" => {
            let fabric = rng.pick(&["cotton", "cotton", "linen", "silk"]);
            let collar = if fabric == "silk" {
                rng.pick(&["kent", "mandarin"])
            } else {
                rng.pick(&["kent", "button_down", "mandarin"])
            };
            let mut c = json!({"fabric": fabric, "collar": collar,
                "neck_cm": 37.0 + 0.5 * rng.below(16) as f64, "sleeve_cm": 60 + rng.below(9)});
            if rng.below(2) == 0 {
                c["monogram"] = json!(rng.pick(&["LW", "J.D", "ZY", "AK"]));
            }
            (c, 1 + rng.below(3) as i64)
        }
        "WASHER" => {
            let kg = 7 + rng.below(6);
            let motor = if kg >= 10 {
                "inverter"
            } else {
                rng.pick(&["belt", "inverter"])
            };
            (
                json!({"panel": rng.pick(&["white", "silver", "black_glass"]), "capacity_kg": kg, "motor": motor}),
                1,
            )
        }
        _ => {
            let material = rng.pick(&["aluminium", "steel", "titanium"]);
            let tolerance = if material == "aluminium" {
                rng.pick(&["it9", "it8"])
            } else {
                rng.pick(&["it9", "it8", "it7"])
            };
            (
                json!({"material": material, "tolerance": tolerance}),
                1 + rng.below(6) as i64,
            )
        }
    }
}

/// Places a custom order through the storefront API every [`ORDER_EVERY_SECS`] seconds until
/// `stop`, as a shop's web server would (quote, then place, each with an Idempotency-Key).
pub(super) async fn storefront(
    store: Store,
    tenant: TenantId,
    api: String,
    key: String,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let mut rng = Lcg(0x05EE_DC2B);
    let mut tick = tokio::time::interval(StdDuration::from_secs(ORDER_EVERY_SECS));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if plant_full(&store, tenant).await.unwrap_or(true) {
            continue;
        }
        n += 1;
        if let Err(e) = place_one(&http, &api, &key, &mut rng, n).await {
            tracing::warn!(error = %e, "The demo storefront could not place an order; trying again later.");
        }
    }
}

async fn place_one(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    rng: &mut Lcg,
    n: u64,
) -> std::result::Result<(), String> {
    let templates: Value = http
        .get(format!("{api}/api/v1/shop/templates"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let list = templates.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return Ok(());
    }
    let t = &list[rng.below(list.len() as u64) as usize];
    let (configuration, quantity) = configure(rng, t["code"].as_str().unwrap_or_default());
    let run = Utc::now().timestamp();
    let quote = http
        .post(format!("{api}/api/v1/shop/quotes"))
        .bearer_auth(key)
        .header("Idempotency-Key", format!("demo-{run}-{n}-quote"))
        .json(
            &json!({"template_id": t["id"], "configuration": configuration, "quantity": quantity}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if quote.status() != reqwest::StatusCode::CREATED {
        let status = quote.status();
        return Err(format!(
            "quote: {status} {}",
            quote.text().await.unwrap_or_default()
        ));
    }
    let quote: Value = quote.json().await.map_err(|e| e.to_string())?;
    let placed = http
        .post(format!("{api}/api/v1/shop/orders"))
        .bearer_auth(key)
        .header("Idempotency-Key", format!("demo-{run}-{n}-place"))
        .json(&json!({"token": quote["token"], "customer": {"name": format!("Demo customer {n}")}}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        number = quote["number"].as_str().unwrap_or_default(),
        template = t["code"].as_str().unwrap_or_default(),
        status = placed.status().as_u16(),
        promised = quote["promised_ship_date"].as_str().unwrap_or_default(),
        "Demo storefront placed an order."
    );
    Ok(())
}

/// Every few seconds until `stop`: starts, completes and ships order work (see the module
/// docs). The storefront pauses when [`MAX_OPEN`] orders are in the plant.
pub(super) async fn dispatch(store: Store, tenant: TenantId, stop: CancellationToken) {
    let mut tick = tokio::time::interval(StdDuration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = dispatch_once(&store, tenant).await {
            tracing::warn!(error = %e, "Dispatching demo order work failed; trying again shortly.");
        }
    }
}

async fn dispatch_once(store: &Store, tenant: TenantId) -> Result<()> {
    let mut s = store.tenant(tenant).await?.acting_as("demo dispatcher");
    let now = Utc::now();
    let running = s.work_orders(None, Some(WorkOrderState::Running)).await?;
    let mut busy: BTreeSet<i64> = running
        .iter()
        .filter(|w| w.number.starts_with("CO-"))
        .map(|w| w.machine_id)
        .collect();
    let mut open = Vec::new();
    for state in [OrderState::Scheduled, OrderState::InProduction] {
        open.extend(s.custom_orders(Some(state), 1000).await?);
    }
    open.sort_by_key(|o| o.id);
    if open.len() >= MAX_OPEN {
        tracing::debug!(open = open.len(), "Demo plant full of orders.");
    }
    for summary in open {
        let Some(o) = s.custom_order(summary.id, now).await? else {
            continue;
        };
        for (i, step) in o.steps.iter().enumerate() {
            match step.work_order_state.as_str() {
                "completed" | "closed" | "cancelled" => continue,
                "running" => {
                    let runs = s
                        .work_order_runs(
                            &[],
                            Some(step.work_order_id),
                            now - Duration::days(7),
                            now,
                        )
                        .await?;
                    let started = runs
                        .iter()
                        .filter(|r| r.end.is_none())
                        .map(|r| r.start)
                        .min()
                        .unwrap_or(now);
                    let planned = step.planned_end - step.planned_start;
                    if now - started >= planned && step.produced - step.rejected >= o.quantity {
                        s.transition_work_order(step.work_order_id, WorkOrderState::Completed, now)
                            .await?;
                        busy.remove(&step.machine_id);
                    }
                }
                _ => {
                    let ready = i == 0
                        || matches!(
                            o.steps[i - 1].work_order_state.as_str(),
                            "completed" | "closed"
                        );
                    if ready && !busy.contains(&step.machine_id) {
                        // The machine's own demo work order makes way for the custom order.
                        for w in running.iter().filter(|w| {
                            w.machine_id == step.machine_id && !w.number.starts_with("CO-")
                        }) {
                            s.transition_work_order(w.id, WorkOrderState::Released, now)
                                .await?;
                        }
                        if step.work_order_state == "planned" {
                            s.transition_work_order(
                                step.work_order_id,
                                WorkOrderState::Released,
                                now,
                            )
                            .await?;
                        }
                        s.transition_work_order(step.work_order_id, WorkOrderState::Running, now)
                            .await?;
                        busy.insert(step.machine_id);
                    }
                }
            }
            break;
        }
    }
    for summary in s
        .custom_orders(Some(OrderState::QualityCheck), 1000)
        .await?
    {
        // Made: work orders still running (the counter reached the quantity before the
        // planned time was up) are completed, which frees their machines.
        if let Some(o) = s.custom_order(summary.id, now).await? {
            for step in o.steps.iter().filter(|st| st.work_order_state == "running") {
                s.transition_work_order(step.work_order_id, WorkOrderState::Completed, now)
                    .await?;
            }
        }
        s.transition_order(
            summary.id,
            OrderState::Shipped,
            "handed to the carrier",
            now,
        )
        .await?;
    }
    for o in s.custom_orders(Some(OrderState::Shipped), 1000).await? {
        if o.updated_at < now - Duration::minutes(2) {
            s.transition_order(
                o.id,
                OrderState::Delivered,
                "signed for by the customer",
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// Whether the storefront should wait (the plant holds [`MAX_OPEN`] orders).
pub(super) async fn plant_full(store: &Store, tenant: TenantId) -> Result<bool> {
    let mut s = store.tenant(tenant).await?;
    let mut n = 0;
    for state in [OrderState::Scheduled, OrderState::InProduction] {
        n += s.custom_orders(Some(state), MAX_OPEN as i64).await?.len();
    }
    Ok(n >= MAX_OPEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_templates_are_valid_and_every_generated_configuration_fits() {
        let ts = templates();
        assert_eq!(ts.len(), 3);
        let mut rng = Lcg(7);
        for t in &ts {
            t.validate().unwrap();
            for _ in 0..200 {
                let (c, q) = configure(&mut rng, &t.code);
                t.configure(c.as_object().unwrap(), q)
                    .unwrap_or_else(|e| panic!("{}: {c} × {q}: {e}", t.code));
            }
        }
    }
}
