//! Custom orders in the store against a real PostgreSQL, on every storage layout: a quote's
//! price and promised date from the line's shift calendar, twelve placements racing for a day
//! with room for ten (exactly ten booked, back to back without overlap; the other two quoted
//! again with the next day), the timeline, audit entries and work orders of each, progress
//! from the work orders' produced counts, idempotency replies, and tenant confinement.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use millwright_platform::config::BackendChoice;
use millwright_platform::mes::calendar::ShiftDef;
use millwright_platform::mes::work_order::WorkOrderState;
use millwright_platform::orders::state::OrderState;
use millwright_platform::orders::template::TemplateSpec;
use millwright_platform::store::entities::{EntityFields, Kind};
use millwright_platform::store::mes::plan::SiteCalendar;
use millwright_platform::store::orders::flow::{OrderOutcome, QuoteOutcome};
use millwright_platform::store::orders::idempotency::{request_hash, Begin};
use millwright_platform::store::{Store, TenantId};
use millwright_platform::test_util::{fresh_store, tenant_with_tags};
use serde_json::{json, Map, Value};

#[macro_use]
mod common;

on_every_backend!(
    placements_race_for_a_day_with_room_for_ten,
    idempotency_and_tenant_confinement,
);

/// A tenant with one sewing machine on a line working 08:00–18:00 in Shanghai, and a
/// one-hour-per-shirt template with a day's lead time.
async fn sewing_shop(store: &Store, name: &str) -> (TenantId, i64, i64) {
    let t = tenant_with_tags(store, name, &[]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let line = s
        .create(
            Kind::Line,
            &EntityFields {
                parent_id: Some(t.site_id),
                name: Some("sewing line".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    let machine = s
        .create(
            Kind::Machine,
            &EntityFields {
                parent_id: Some(line),
                name: Some("sew-1".into()),
                kind: Some("sewing".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    s.put_site_calendar(&SiteCalendar {
        site_id: t.site_id,
        time_zone: "Asia/Shanghai".into(),
        shifts: vec![ShiftDef {
            name: "day".into(),
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            weekdays: (1..=7).collect(),
            breaks: vec![],
        }],
        days_off: vec![],
        updated_at: None,
    })
    .await
    .unwrap()
    .unwrap();
    let spec: TemplateSpec = serde_json::from_value(json!({
        "code": "SHIRT", "name": "Shirt", "currency": "CNY", "base_price_minor": 19900,
        "options": [{"key": "fabric", "type": "choice",
                     "choices": [{"value": "cotton"}, {"value": "linen", "price_minor": 5000}]}],
        "quantity": {"min": 1, "max": 10},
        "routing": [{"line_kind": "sewing", "cycle_secs": 3600}],
        "lead_days": 1
    }))
    .unwrap();
    spec.validate().unwrap();
    let tpl = s.create_order_template(&spec).await.unwrap().unwrap();
    assert!(
        s.create_order_template(&spec).await.unwrap().is_none(),
        "code taken"
    );
    (t.id, tpl.id, machine)
}

fn linen() -> Map<String, Value> {
    json!({"fabric": "linen"}).as_object().cloned().unwrap()
}

async fn placements_race_for_a_day_with_room_for_ten(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let (tenant, tpl, machine) = sewing_shop(&store, "shop").await;
    let now = Utc::now();
    let tomorrow = (now.with_timezone(&chrono_tz::Asia::Shanghai) + Duration::days(1)).date_naive();
    let mut tokens = Vec::new();
    for _ in 0..12 {
        let mut s = store
            .tenant(tenant)
            .await
            .unwrap()
            .acting_as("storefront test");
        let QuoteOutcome::Quoted(o) = s.quote_order(tpl, &linen(), 1, None, now).await.unwrap()
        else {
            panic!("not quoted")
        };
        assert_eq!(o.state, OrderState::Quoted);
        assert_eq!(o.price.as_ref().unwrap().total_minor, 24900);
        assert_eq!(o.promised_ship_date, Some(tomorrow));
        assert_eq!(o.time_zone, "Asia/Shanghai");
        tokens.push(o.token.clone());
    }
    // A refused configuration names the option.
    let mut s = store.tenant(tenant).await.unwrap();
    let bad = json!({"fabric": "silk"}).as_object().cloned().unwrap();
    let QuoteOutcome::Invalid(e) = s.quote_order(tpl, &bad, 1, None, now).await.unwrap() else {
        panic!("silk accepted")
    };
    assert_eq!(e.field, "configuration.fabric");

    let mut tasks = Vec::new();
    for token in tokens.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = store
                .tenant(tenant)
                .await
                .unwrap()
                .acting_as("storefront test");
            s.place_order(&token, &json!({"name": "A. Buyer"}), Utc::now())
                .await
                .unwrap()
        }));
    }
    let (mut booked, mut moved) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            OrderOutcome::Done(o) => booked.push(*o),
            OrderOutcome::NewDate { was, order } => {
                assert_eq!(was, tomorrow);
                assert_eq!(order.promised_ship_date, Some(tomorrow + Duration::days(1)));
                assert_eq!(order.state, OrderState::Quoted);
                moved.push(*order)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((booked.len(), moved.len()), (10, 2));
    // Back to back on the one machine, never overlapping, all tomorrow.
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = booked
        .iter()
        .map(|o| {
            assert_eq!(o.state, OrderState::Scheduled);
            assert_eq!(o.steps.len(), 1);
            assert_eq!(o.steps[0].machine_id, machine);
            assert_eq!(o.steps[0].work_order_state, "planned");
            (o.steps[0].planned_start, o.steps[0].planned_end)
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert_eq!(w[0].1, w[1].0, "{spans:?}");
    }
    assert_eq!(spans[9].1 - spans[0].0, Duration::hours(10));
    let states: Vec<OrderState> = booked[0].timeline.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        vec![
            OrderState::Draft,
            OrderState::Quoted,
            OrderState::Confirmed,
            OrderState::Scheduled
        ]
    );
    assert!(
        booked[0].timeline[3].at_local.ends_with("CST"),
        "{:?}",
        booked[0].timeline[3]
    );
    let states: Vec<OrderState> = moved[0].timeline.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        vec![OrderState::Draft, OrderState::Quoted, OrderState::Quoted]
    );

    // Placing the moved order again accepts the new date: it goes after the ten.
    let mut s = store
        .tenant(tenant)
        .await
        .unwrap()
        .acting_as("storefront test");
    let OrderOutcome::Done(o) = s
        .place_order(&moved[0].token, &json!({}), Utc::now())
        .await
        .unwrap()
    else {
        panic!("not placed")
    };
    assert_eq!(o.steps[0].planned_start, spans[9].1 + Duration::hours(14));
    // A placed order cannot be placed again: 409 naming what it may do.
    let OrderOutcome::Refused { from, allowed } = s
        .place_order(&o.token, &json!({}), Utc::now())
        .await
        .unwrap()
    else {
        panic!("placed twice")
    };
    assert_eq!(from, OrderState::Scheduled);
    assert_eq!(
        allowed,
        vec![
            OrderState::InProduction,
            OrderState::Cancelled,
            OrderState::Rejected
        ]
    );

    // Progress comes from the work order: released, running, parts recorded against it.
    let wo = booked[0].steps[0].work_order_id;
    for st in [WorkOrderState::Released, WorkOrderState::Running] {
        s.transition_work_order(wo, st, Utc::now()).await.unwrap();
    }
    let o = s
        .custom_order(booked[0].id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.state, OrderState::InProduction);
    s.record_production(machine, Some(wo), Utc::now(), 1, 0, "")
        .await
        .unwrap()
        .unwrap();
    let o = s
        .custom_order(booked[0].id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.state, OrderState::QualityCheck);
    assert_eq!((o.progress.made, o.progress.percent), (1, 100.0));
    let OrderOutcome::Done(o) = s
        .transition_order(o.id, OrderState::Shipped, "", Utc::now())
        .await
        .unwrap()
    else {
        panic!("not shipped")
    };
    assert_eq!(o.state, OrderState::Shipped);
    // Every transition is in the audit log.
    let audit = s.audit_entries(0, 1000).await.unwrap();
    let n = audit
        .iter()
        .filter(|e| e.action == "order.transition" && e.target == format!("order/{}", o.id))
        .count();
    assert_eq!(
        n,
        o.timeline.len() - 1,
        "one entry per transition after the draft"
    );

    // Cancelling a scheduled order cancels its work order and frees its hour.
    let OrderOutcome::Done(c) = s
        .transition_order(
            booked[1].id,
            OrderState::Cancelled,
            "customer changed mind",
            Utc::now(),
        )
        .await
        .unwrap()
    else {
        panic!("not cancelled")
    };
    assert_eq!(c.steps[0].work_order_state, "cancelled");
    let board = s.order_board(Utc::now()).await.unwrap();
    assert_eq!(board.states["cancelled"], 1);
    assert_eq!(board.lines.len(), 1);
}

async fn idempotency_and_tenant_confinement(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let (a, tpl, _) = sewing_shop(&store, "a").await;
    let (b, _, _) = sewing_shop(&store, "b").await;
    let key = store.issue_storefront_key(a, "web shop").await.unwrap();
    let digest = millwright_platform::store::orders::storefront_digest(&key).unwrap();
    let who = store
        .authenticate_storefront(&digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.tenant, a);
    assert!(millwright_platform::store::orders::storefront_digest("mwk_x").is_none());

    let mut s = store.tenant(a).await.unwrap();
    let h1 = request_hash("/quote", b"{\"a\":1}");
    let h2 = request_hash("/quote", b"{\"a\":2}");
    assert_eq!(
        s.idempotency_begin(who.key_id, "k1", "/quote", &h1)
            .await
            .unwrap(),
        Begin::New
    );
    assert_eq!(
        s.idempotency_begin(who.key_id, "k1", "/quote", &h1)
            .await
            .unwrap(),
        Begin::InFlight
    );
    s.idempotency_finish(who.key_id, "k1", 201, &json!({"ok": true}))
        .await
        .unwrap();
    assert_eq!(
        s.idempotency_begin(who.key_id, "k1", "/quote", &h1)
            .await
            .unwrap(),
        Begin::Replay {
            status: 201,
            body: json!({"ok": true})
        }
    );
    assert_eq!(
        s.idempotency_begin(who.key_id, "k1", "/quote", &h2)
            .await
            .unwrap(),
        Begin::Mismatch
    );

    let QuoteOutcome::Quoted(o) = s
        .quote_order(tpl, &linen(), 1, Some(who.key_id), Utc::now())
        .await
        .unwrap()
    else {
        panic!("not quoted")
    };
    let mut other = store.tenant(b).await.unwrap();
    assert!(other
        .custom_order_by_token(&o.token, Utc::now())
        .await
        .unwrap()
        .is_none());
    assert!(other
        .custom_order(o.id, Utc::now())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        other
            .place_order(&o.token, &json!({}), Utc::now())
            .await
            .unwrap(),
        OrderOutcome::NotFound
    ));
    assert!(other.custom_orders(None, 100).await.unwrap().is_empty());
    // Revoked keys stop at once.
    s.revoke_storefront_key(who.key_id).await.unwrap().unwrap();
    assert!(store
        .authenticate_storefront(&digest)
        .await
        .unwrap()
        .is_none());
}
