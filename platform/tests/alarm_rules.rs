//! Alarm rules against a real PostgreSQL on every storage layout: the evaluator fed committed
//! samples raises one alarm per (rule, machine), clears it with hysteresis, writes the webhook
//! event in the raise's transaction, and resumes from its checkpoint after a restart without
//! raising again or forgetting a running on-delay; stale rules raise on the clock; machine-state
//! rules follow the MES state builder's intervals.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use millwright_platform::alerting::rule::{Condition, Severity};
use millwright_platform::alerting::Alerting;
use millwright_platform::config::{AlertingSettings, BackendChoice};
use millwright_platform::store::alarm_rules::RuleFields;
use millwright_platform::store::alarms::{AlarmFilter, AlarmKind, AlarmState};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::webhooks::NewEndpoint;
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_store, tenant_with_tags, TestTenant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[macro_use]
mod common;

on_every_backend!(
    thresholds_raise_once_and_clear_with_hysteresis,
    a_restart_resumes_from_the_checkpoint,
    stale_rules_raise_on_the_clock_and_clear_with_data,
    machine_state_rules_follow_the_mes_states,
);

fn rule(name: &str, tag_id: i64, condition: Condition, delay: i32) -> RuleFields {
    RuleFields {
        name: name.into(),
        tag_id: Some(tag_id),
        tag_suffix: None,
        machine_kind: None,
        message: condition.default_message().into(),
        condition,
        on_delay_secs: delay,
        severity: Severity::High,
        enabled: true,
    }
}

fn start(store: &Store, settings: AlertingSettings) -> (Alerting, CancellationToken) {
    let stop = CancellationToken::new();
    let alerting = Alerting::start(
        store.clone(),
        settings,
        Arc::new(Notify::new()),
        stop.clone(),
    );
    (alerting, stop)
}

/// Stores `values` (one a second from `t0`) and feeds them to the evaluator, as ingest does.
async fn ingest(
    store: &Store,
    alerting: &Alerting,
    t: &TestTenant,
    tag: i64,
    t0: DateTime<Utc>,
    values: &[f64],
) {
    let rows: Vec<SampleRow> = values
        .iter()
        .enumerate()
        .map(|(i, v)| SampleRow {
            tag_id: tag,
            time: t0 + chrono::Duration::seconds(i as i64),
            value: Some(*v),
            quality: Quality::Good,
        })
        .collect();
    let mut s = store.tenant(t.id).await.unwrap();
    s.ingest(&rows).await.unwrap();
    alerting.feed(t.id, &rows).await;
    alerting.flush().await;
}

async fn rule_alarms(
    store: &Store,
    t: &TestTenant,
    state: AlarmState,
) -> Vec<millwright_platform::store::alarms::Alarm> {
    let mut s = store.tenant(t.id).await.unwrap();
    s.filtered_alarms(
        &AlarmFilter {
            state,
            ..AlarmFilter::default()
        },
        100,
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|a| a.kind == AlarmKind::Rule)
    .collect()
}

async fn thresholds_raise_once_and_clear_with_hysteresis(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "hot", &["imm-1.barrel_temp", "imm-1.mould_temp"]).await;
    let other = tenant_with_tags(&store, "neighbour", &["imm-1.barrel_temp"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let r = s
        .create_rule(&rule(
            "hot barrel",
            t.tag_ids[0],
            Condition::High {
                limit: 230.0,
                deadband: 5.0,
            },
            2,
        ))
        .await
        .unwrap();
    // A subscribed endpoint: raises and clears land in the outbox with them.
    s.create_webhook(&NewEndpoint {
        url: "https://receiver.example.com/hook".into(),
        description: String::new(),
        event_types: vec!["alarm.raised".into(), "alarm.cleared".into()],
        enabled: true,
    })
    .await
    .unwrap();
    drop(s);
    let (alerting, stop) = start(&store, AlertingSettings::default());
    let t0 = (Utc::now() - chrono::Duration::minutes(10)).trunc_subsecs(0);

    // 231 for 2 s is not enough with a 2 s on-delay until the third sample.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0,
        &[220.0, 231.0, 232.0],
    )
    .await;
    assert!(rule_alarms(&store, &t, AlarmState::All).await.is_empty());
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(3),
        &[233.0, 240.0, 250.0],
    )
    .await;
    let open = rule_alarms(&store, &t, AlarmState::Open).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let a = &open[0];
    assert_eq!(a.rule_id, Some(r.id));
    assert_eq!(a.machine_id, t.machine_id);
    assert_eq!(a.tag_id, Some(t.tag_ids[0]));
    assert_eq!(a.raised_at, t0 + chrono::Duration::seconds(3));
    assert_eq!(a.severity.as_deref(), Some("high"));
    assert_eq!(
        a.message.as_deref(),
        Some("machine imm-1.barrel_temp = 233 above 230")
    );
    // Inside the deadband it stays; another tenant's samples of a tag with the same name do
    // nothing; the same samples sent again change nothing.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(6),
        &[228.0, 226.0],
    )
    .await;
    ingest(&store, &alerting, &other, other.tag_ids[0], t0, &[100.0; 3]).await;
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(3),
        &[233.0, 240.0, 250.0],
    )
    .await;
    assert_eq!(rule_alarms(&store, &t, AlarmState::Open).await.len(), 1);
    // Below 225 it clears, at that sample's time.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(8),
        &[224.0],
    )
    .await;
    assert!(rule_alarms(&store, &t, AlarmState::Open).await.is_empty());
    let all = rule_alarms(&store, &t, AlarmState::All).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].cleared_at, Some(t0 + chrono::Duration::seconds(8)));
    assert!(rule_alarms(&store, &other, AlarmState::All)
        .await
        .is_empty());

    // The outbox holds one raise and one clear, with the alarm as data.
    let c = store.owner_pool().get().await.unwrap();
    let events: Vec<(String, i64)> = c
        .query(
            "SELECT event_type, (payload->>'id')::bigint FROM webhook_events WHERE tenant_id = $1 ORDER BY id",
            &[&t.id.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        events,
        [
            ("alarm.raised".to_string(), a.id),
            ("alarm.cleared".to_string(), a.id)
        ]
    );
    let deliveries: i64 = c
        .query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1",
            &[&t.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deliveries, 2);
    stop.cancel();
}

async fn a_restart_resumes_from_the_checkpoint(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "restart", &["press-1.oil_temp", "press-1.tonnage"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    s.create_rule(&rule(
        "hot oil",
        t.tag_ids[0],
        Condition::High {
            limit: 60.0,
            deadband: 2.0,
        },
        0,
    ))
    .await
    .unwrap();
    s.create_rule(&rule(
        "low tonnage",
        t.tag_ids[1],
        Condition::Low {
            limit: 10.0,
            deadband: 0.0,
        },
        10,
    ))
    .await
    .unwrap();
    drop(s);
    let t0 = (Utc::now() - chrono::Duration::minutes(10)).trunc_subsecs(0);
    let (alerting, stop) = start(&store, AlertingSettings::default());
    ingest(&store, &alerting, &t, t.tag_ids[0], t0, &[65.0]).await;
    // The on-delay of the second rule starts and runs 6 of its 10 s.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[1],
        t0,
        &[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    )
    .await;
    assert_eq!(rule_alarms(&store, &t, AlarmState::Open).await.len(), 1);
    // Stopping checkpoints every state.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(alerting);

    let (alerting, stop) = start(&store, AlertingSettings::default());
    // Still above the limit after the restart: no second alarm.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(1),
        &[66.0, 67.0],
    )
    .await;
    assert_eq!(rule_alarms(&store, &t, AlarmState::All).await.len(), 1);
    // The on-delay went on from where it was: 4 more seconds raise it (10 s since t0).
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[1],
        t0 + chrono::Duration::seconds(7),
        &[5.0, 5.0, 5.0, 5.0],
    )
    .await;
    let open = rule_alarms(&store, &t, AlarmState::Open).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let low = open
        .iter()
        .find(|a| a.tag_id == Some(t.tag_ids[1]))
        .unwrap();
    assert_eq!(low.raised_at, t0 + chrono::Duration::seconds(10));
    // And the first clears as it would have without the restart.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        t0 + chrono::Duration::seconds(3),
        &[57.0],
    )
    .await;
    assert_eq!(rule_alarms(&store, &t, AlarmState::Open).await.len(), 1);
    stop.cancel();
}

async fn stale_rules_raise_on_the_clock_and_clear_with_data(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "stale", &["cnc-1.spindle_speed"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    s.create_rule(&rule(
        "no spindle data",
        t.tag_ids[0],
        Condition::Stale { after_secs: 2 },
        0,
    ))
    .await
    .unwrap();
    drop(s);
    let settings = AlertingSettings {
        tick_ms: 100,
        ..AlertingSettings::default()
    };
    // Started after the rule: the evaluator loads it without any sample, then raises.
    let (alerting, stop) = start(&store, settings);
    let sent = Utc::now();
    ingest(&store, &alerting, &t, t.tag_ids[0], sent, &[8000.0]).await;
    let mut waited = 0;
    while rule_alarms(&store, &t, AlarmState::Open).await.is_empty() {
        assert!(waited < 100, "no stale alarm after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // Judged by the alarm's own time, not by ticks counted here: on a loaded machine the
    // ingest call alone can take longer than the ticks' margin.
    let a = &rule_alarms(&store, &t, AlarmState::Open).await[0];
    assert!(
        a.raised_at >= sent + chrono::Duration::seconds(2),
        "raised at {}, before 2 s without data after the sample at {sent}",
        a.raised_at
    );
    assert_eq!(
        a.message.as_deref(),
        Some("machine cnc-1.spindle_speed: no data for 2 s")
    );
    ingest(&store, &alerting, &t, t.tag_ids[0], Utc::now(), &[8000.0]).await;
    assert!(rule_alarms(&store, &t, AlarmState::Open).await.is_empty());
    stop.cancel();
}

async fn machine_state_rules_follow_the_mes_states(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "faults", &["machine.state", "machine.alarm_code"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let mut r = rule(
        "fault over 20 s",
        0,
        Condition::MachineState {
            state: "fault".into(),
        },
        20,
    );
    r.tag_id = None;
    r.tag_suffix = Some("alarm_code".into());
    s.create_rule(&r).await.unwrap();
    drop(s);
    let settings = AlertingSettings {
        tick_ms: 100,
        state_poll_secs: 1,
        ..AlertingSettings::default()
    };
    let (alerting, stop) = start(&store, settings);
    // The builder works up to 5 s behind the clock: the data ends 10 s ago.
    let base = (Utc::now() - chrono::Duration::seconds(72)).trunc_subsecs(0);
    // Running for 30 s, then in fault (code 101) until now.
    let states: Vec<f64> = (0..60).map(|i| if i < 30 { 1.0 } else { 3.0 }).collect();
    let codes: Vec<f64> = (0..60).map(|i| if i < 30 { 0.0 } else { 101.0 }).collect();
    ingest(&store, &alerting, &t, t.tag_ids[0], base, &states).await;
    ingest(&store, &alerting, &t, t.tag_ids[1], base, &codes).await;
    build(&store).await;
    let mut waited = 0;
    while rule_alarms(&store, &t, AlarmState::Open).await.is_empty() {
        assert!(waited < 50, "no fault alarm after 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let a = &rule_alarms(&store, &t, AlarmState::Open).await[0];
    assert_eq!(
        a.raised_at,
        base + chrono::Duration::seconds(50),
        "fault since 30 s, plus 20 s"
    );
    assert_eq!(a.value, 101.0);
    // Running again: cleared at the start of the running interval.
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[0],
        base + chrono::Duration::seconds(60),
        &[1.0, 1.0],
    )
    .await;
    ingest(
        &store,
        &alerting,
        &t,
        t.tag_ids[1],
        base + chrono::Duration::seconds(60),
        &[0.0, 0.0],
    )
    .await;
    build(&store).await;
    let mut waited = 0;
    while !rule_alarms(&store, &t, AlarmState::Open).await.is_empty() {
        let current = store
            .tenant(t.id)
            .await
            .unwrap()
            .current_states()
            .await
            .unwrap();
        assert!(waited < 50, "the fault alarm did not clear: {current:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let all = rule_alarms(&store, &t, AlarmState::All).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].cleared_at,
        Some(base + chrono::Duration::seconds(60))
    );
    stop.cancel();
}

async fn build(store: &Store) {
    for _ in 0..20 {
        if !store.build_mes_states().await.unwrap().behind {
            return;
        }
    }
    panic!("the state builder never caught up");
}
