//! Shared by the bureau tests: tenants whose machine ran a known share of a shift, through
//! real samples, the MES state builder and a calendar.

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use millwright_platform::mes::state::StateRule;
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::mes::plan::SiteCalendar;
use millwright_platform::store::Store;
use millwright_platform::test_util::{tenant_with_tags, TestTenant};
use serde_json::json;

/// A tenant in `sector`/`region` whose machine runs `run` minutes of an 8-hour shift
/// (06:00–14:00 UTC) on `day`, making 2 parts a running minute, with an energy meter.
pub(crate) async fn plant(
    store: &Store,
    name: &str,
    sector: &str,
    region: &str,
    day: NaiveDate,
    run: i64,
) -> TestTenant {
    let t = tenant_with_tags(store, name, &["m.state", "m.parts", "m.energy"]).await;
    store
        .owner_pool()
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE tenants SET industry = $2, region = $3 WHERE id = $1",
            &[&t.id.0, &sector, &region],
        )
        .await
        .unwrap();
    store
        .owner_pool()
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE tags SET unit = 'kWh' WHERE id = $1",
            &[&t.tag_ids[2]],
        )
        .await
        .unwrap();
    let mut s = store.tenant(t.id).await.unwrap();
    s.put_site_calendar(&SiteCalendar {
        site_id: t.site_id,
        time_zone: "UTC".into(),
        shifts: serde_json::from_value(json!([{"name": "day", "start": "06:00", "end": "14:00"}]))
            .unwrap(),
        days_off: vec![],
        updated_at: None,
    })
    .await
    .unwrap()
    .expect("site");
    let rule: StateRule = serde_json::from_value(json!({
        "state_tag": "state",
        "state_codes": [{"code": 0, "state": "idle"}, {"code": 1, "state": "running"}],
        "part_counter_tag": "parts",
        "stale_secs": 180,
        "minor_stop_secs": 300,
        "ideal_cycle_secs": 25.0
    }))
    .unwrap();
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap()));
    s.put_state_rule(None, Some(t.machine_id), &rule, start - Duration::hours(1))
        .await
        .unwrap()
        .expect("machine");
    let mut rows = Vec::new();
    let (mut parts, mut kwh) = (100.0, 5_000.0);
    for k in 0..=480i64 {
        let running = k < run;
        if k > 0 && k - 1 < run {
            parts += 2.0;
            kwh += 0.5;
        }
        for (tag, value) in t.tag_ids.iter().zip([f64::from(running as u8), parts, kwh]) {
            rows.push(SampleRow {
                tag_id: *tag,
                time: start + Duration::minutes(k),
                value: Some(value),
                quality: Quality::Good,
            });
        }
    }
    s.ingest(&rows).await.unwrap();
    t
}

pub(crate) async fn build(store: &Store) {
    for _ in 0..20 {
        if !store.build_mes_states().await.unwrap().behind {
            return;
        }
    }
    panic!("the state builder never caught up");
}
