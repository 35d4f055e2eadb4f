//! Quality records in the store against a real PostgreSQL, on every storage layout: process
//! parameters captured from the machine's tags over each unit's cycle, yield and defect-code
//! figures kept incrementally (checked against counts made here from the records), duplicates,
//! refused records naming their field, measured values judged against their limits, tenant
//! confinement, one open SPC alarm per characteristic and rule, and SPC alarms on a tag's
//! samples raised by the SPC watch as they arrive.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, NaiveTime, Utc};
use millwright_platform::config::BackendChoice;
use millwright_platform::maintenance::spc_watch::SpcWatch;
use millwright_platform::mes::calendar::ShiftDef;
use millwright_platform::quality::charts::ChartType;
use millwright_platform::quality::rules::RuleSet;
use millwright_platform::quality::series::{draw, ChartSettings};
use millwright_platform::quality::spc_alarms::changes;
use millwright_platform::store::alarms::{AlarmKind, AlarmState};
use millwright_platform::store::ingest::{Quality, SampleRow};
use millwright_platform::store::mes::plan::SiteCalendar;
use millwright_platform::store::quality::{
    Characteristic, CharacteristicFields, FigureFilter, NewRecord, RecordFilter, YieldBy,
};
use millwright_platform::store::TenantSession;
use millwright_platform::test_util::{fresh_store, tenant_with_tags};

#[macro_use]
mod common;

on_every_backend!(
    records_capture_parameters_and_keep_figures,
    bad_records_are_refused_and_tenants_confined,
    spc_alarms_one_open_per_characteristic_and_rule,
    tag_characteristics_raise_spc_alarms_as_samples_arrive,
);

fn start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::hours(2)
}

fn record(unit: &str, machine_id: i64, at: DateTime<Utc>, passed: bool) -> NewRecord {
    NewRecord {
        unit_id: unit.into(),
        batch: false,
        quantity: 1,
        product: "cap".into(),
        work_order: "WO-1".into(),
        machine_id,
        cycle_started_at: Some(at - Duration::seconds(30)),
        produced_at: at,
        passed: Some(passed),
        reworked: false,
        defect_code: String::new(),
        measurements: BTreeMap::new(),
    }
}

async fn records_capture_parameters_and_keep_figures(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "q", &["m.mould_temp", "m.pressure"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let t0 = start();
    // mould_temp = 40 + minute, pressure = 100 + second of the minute, every 10 s for 20 min.
    let mut rows = Vec::new();
    for k in 0..120 {
        let time = t0 + Duration::seconds(10 * k);
        rows.push(SampleRow {
            tag_id: t.tag_ids[0],
            time,
            value: Some(40.0 + (k / 6) as f64),
            quality: Quality::Good,
        });
        rows.push(SampleRow {
            tag_id: t.tag_ids[1],
            time,
            value: Some(100.0 + (k % 6) as f64 * 10.0),
            quality: Quality::Good,
        });
    }
    s.ingest(&rows).await.unwrap();

    // Unit 1: cycle 00:30..01:00 of minute 0 → samples at 30, 40, 50 s of minute 0 and 0 s of
    // minute 1: mould 40, 40, 40, 41 → 40.25; pressure 130, 140, 150, 100 → 130.
    let at1 = t0 + Duration::seconds(60);
    let mut rs = vec![
        record("S1", t.machine_id, at1, true),
        record("S2", t.machine_id, t0 + Duration::seconds(300), false),
        record("S3", t.machine_id, t0 + Duration::seconds(600), true),
        record("S4", t.machine_id, t0 + Duration::seconds(900), false),
    ];
    rs[1].defect_code = "short_shot".into();
    rs[2].reworked = true;
    rs[2].defect_code = "flash".into();
    rs[3].defect_code = "short_shot".into();
    rs[3].product = "lid".into();
    let out = s.insert_quality_records(&rs).await.unwrap().unwrap();
    assert_eq!(out.duplicates, 0);
    assert!(out.ids.iter().all(Option::is_some));

    let list = s
        .quality_records(&RecordFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 4);
    let s1 = list.iter().find(|r| r.unit_id == "S1").unwrap();
    assert!((s1.parameters["mould_temp"] - 40.25).abs() < 1e-9, "{s1:?}");
    assert!((s1.parameters["pressure"] - 130.0).abs() < 1e-9, "{s1:?}");
    assert_eq!(s1.line_id, list[0].line_id);
    // The day is the site's (Asia/Shanghai by default); no calendar, no shift.
    assert_eq!(
        s1.day,
        at1.with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
    );
    assert_eq!(s1.shift, "");

    // Re-sent records are duplicates and change no figure; a new one adds to them.
    let mut again = rs.clone();

    // With a shift calendar (one shift around the clock in Berlin), new units carry the shift
    // and the Berlin day.
    let whole_day = ShiftDef {
        name: "all-day".into(),
        start: NaiveTime::MIN,
        end: NaiveTime::MIN,
        weekdays: (1..=7).collect(),
        breaks: Vec::new(),
    };
    s.put_site_calendar(&SiteCalendar {
        site_id: t.site_id,
        time_zone: "Europe/Berlin".into(),
        shifts: vec![whole_day],
        days_off: Vec::new(),
        updated_at: None,
    })
    .await
    .unwrap()
    .unwrap();
    let at5 = t0 + Duration::seconds(1000);
    again.push(record("S5", t.machine_id, at5, true));
    let out = s.insert_quality_records(&again).await.unwrap().unwrap();
    assert_eq!(out.duplicates, 4);
    assert!(out.ids[4].is_some());
    let s5 = s
        .quality_records_by_id(&[out.ids[4].unwrap()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s5.shift, "all-day");
    assert_eq!(
        s5.day,
        at5.with_timezone(&chrono_tz::Europe::Berlin).date_naive()
    );
    let by_shift = s
        .yield_figures(YieldBy::Shift, &FigureFilter::default())
        .await
        .unwrap();
    assert_eq!(
        by_shift
            .iter()
            .map(|r| (r.key.as_str(), r.figures.counts.units))
            .collect::<Vec<_>>(),
        [("", 4), ("all-day", 1)]
    );

    // Figures against counts made here: 5 units, first pass S1 and S5, rework S3, scrap S2, S4.
    let total = s
        .yield_figures(YieldBy::Total, &FigureFilter::default())
        .await
        .unwrap();
    assert_eq!(total.len(), 1);
    let f = &total[0].figures;
    assert_eq!(
        (
            f.counts.units,
            f.counts.first_pass,
            f.counts.reworked,
            f.counts.scrapped
        ),
        (5, 2, 1, 2)
    );
    assert_eq!(f.first_pass_yield, Some(0.4));
    let by_product = s
        .yield_figures(YieldBy::Product, &FigureFilter::default())
        .await
        .unwrap();
    let keys: Vec<(&str, i64)> = by_product
        .iter()
        .map(|r| (r.key.as_str(), r.figures.counts.units))
        .collect();
    assert_eq!(keys, [("cap", 4), ("lid", 1)]);
    let by_machine = s
        .yield_figures(YieldBy::Machine, &FigureFilter::default())
        .await
        .unwrap();
    assert_eq!(by_machine[0].label, "machine");
    let pareto = s.defect_pareto(&FigureFilter::default()).await.unwrap();
    let bars: Vec<(&str, i64)> = pareto
        .iter()
        .map(|b| (b.defect_code.as_str(), b.units))
        .collect();
    assert_eq!(bars, [("short_shot", 2), ("flash", 1)]);
    let lid_only = s
        .defect_pareto(&FigureFilter {
            product: Some("lid".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(lid_only.len(), 1);

    // Measured values judge the result when none is given.
    let c = s
        .create_characteristic(&CharacteristicFields {
            name: Some("bore".into()),
            lsl: Some(9.9),
            usl: Some(10.1),
            ..Default::default()
        })
        .await
        .unwrap()
        .unwrap();
    let mut good = record("S6", t.machine_id, t0 + Duration::seconds(1100), true);
    good.passed = None;
    good.measurements.insert("bore".into(), 10.05);
    let mut bad = good.clone();
    bad.unit_id = "S7".into();
    bad.measurements.insert("bore".into(), 10.2);
    let out = s
        .insert_quality_records(&[good, bad])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.characteristics, [c.id]);
    let judged = s
        .quality_records_by_id(&out.ids.iter().flatten().copied().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(
        judged.iter().map(|r| r.passed).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(judged[1].measurements["bore"], 10.2);
    let points = s.characteristic_points(&c, None, None, 100).await.unwrap();
    assert_eq!(
        points
            .iter()
            .map(|(p, _)| (p.seq, p.value))
            .collect::<Vec<_>>(),
        [(0, 10.05), (1, 10.2)]
    );
}

async fn bad_records_are_refused_and_tenants_confined(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let a = tenant_with_tags(&store, "a", &["m.x"]).await;
    let b = tenant_with_tags(&store, "b", &["m.x"]).await;
    let mut sa = store.tenant(a.id).await.unwrap();
    let mut sb = store.tenant(b.id).await.unwrap();
    let t0 = start();

    // B cannot record on A's machine: it does not exist for B.
    let e = sb
        .insert_quality_records(&[
            record("B1", b.machine_id, t0, true),
            record("B2", a.machine_id, t0, true),
        ])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.field, "records[1].machine_id");
    let e = sa
        .insert_quality_records(&[
            record("A1", a.machine_id, t0, true),
            record("A1", a.machine_id, t0, true),
        ])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.field, "records[1].unit_id");
    let mut unknown = record("A1", a.machine_id, t0, true);
    unknown.measurements.insert("girth".into(), 1.0);
    let e = sa
        .insert_quality_records(&[unknown])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.field, "records[0].measurements.girth");
    let mut unjudged = record("A1", a.machine_id, t0, true);
    unjudged.passed = None;
    let e = sa
        .insert_quality_records(&[unjudged])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.field, "records[0].passed");
    // Nothing of a refused batch was kept.
    for s in [&mut sa, &mut sb] {
        let all = s
            .quality_records(&RecordFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(all.is_empty());
    }

    // The same serial in two tenants is two records; each sees its own only.
    sa.insert_quality_records(&[record("X", a.machine_id, t0, false)])
        .await
        .unwrap()
        .unwrap();
    sb.insert_quality_records(&[record("X", b.machine_id, t0, true)])
        .await
        .unwrap()
        .unwrap();
    let fa = sa
        .yield_figures(YieldBy::Total, &FigureFilter::default())
        .await
        .unwrap();
    let fb = sb
        .yield_figures(YieldBy::Total, &FigureFilter::default())
        .await
        .unwrap();
    assert_eq!(fa[0].figures.counts.scrapped, 1);
    assert_eq!(fb[0].figures.counts.scrapped, 0);
    let ra = sa
        .quality_records(&RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].machine_id, a.machine_id);

    // The application role cannot read another tenant's figures even by naming its id.
    let client = store.app_pool().get().await.unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM quality_yield_daily WHERE tenant_id = $1",
            &[&b.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no tenant set: row-level security shows nothing");
}

async fn spc_alarms_one_open_per_characteristic_and_rule(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "spc", &["m.x"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let t0 = start();
    let c = s
        .create_characteristic(&CharacteristicFields {
            name: Some("width".into()),
            lsl: Some(8.0),
            usl: Some(12.0),
            chart: Some(ChartType::IMr),
            rules: Some(RuleSet::WesternElectric),
            baseline_from: Some(t0),
            baseline_to: Some(t0 + Duration::minutes(20)),
            ..Default::default()
        })
        .await
        .unwrap()
        .unwrap();
    let mut values: Vec<f64> = (0..20)
        .map(|i| 10.0 + if i % 2 == 0 { 0.5 } else { -0.5 })
        .collect();
    values.push(14.0);
    let recs: Vec<NewRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = record(
                &format!("U{i}"),
                t.machine_id,
                t0 + Duration::minutes(i as i64),
                true,
            );
            r.passed = None;
            r.measurements.insert("width".into(), *v);
            r
        })
        .collect();
    s.insert_quality_records(&recs).await.unwrap().unwrap();

    let (raised, _) = evaluate(&mut s, &c, t0 + Duration::minutes(20), 20).await;
    assert_eq!(
        raised.len(),
        2,
        "rule 1 on the individuals, the moving-range limit"
    );
    // Evaluating again raises nothing more: one open alarm per characteristic and rule.
    let (again, _) = evaluate(&mut s, &c, t0 + Duration::minutes(20), 20).await;
    assert!(again.is_empty());
    let open = s.alarms(AlarmState::Open, None, 10).await.unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|a| a.kind == AlarmKind::Spc
        && a.characteristic_id == Some(c.id)
        && a.machine_id == t.machine_id));
    let mut rules: Vec<&str> = open.iter().filter_map(|a| a.spc_rule.as_deref()).collect();
    rules.sort();
    assert_eq!(rules, ["dispersion:1", "western_electric:1"]);

    // Back in control: the rule-1 alarm clears at the newest point's time.
    let mut back = record("U21", t.machine_id, t0 + Duration::minutes(21), true);
    back.measurements.insert("width".into(), 10.1);
    back.passed = None;
    s.insert_quality_records(&[back]).await.unwrap().unwrap();
    let (_, cleared) = evaluate(&mut s, &c, t0 + Duration::minutes(20), 21).await;
    assert!(!cleared.is_empty());
    let open = s.alarms(AlarmState::Open, None, 10).await.unwrap();
    assert!(open
        .iter()
        .all(|a| a.spc_rule.as_deref() != Some("western_electric:1")));
}

/// Draws the characteristic's I-MR chart (baseline: points before `baseline_end`) and applies
/// the alarm changes for points from `first_new` on: (raised, cleared).
async fn evaluate(
    s: &mut TenantSession,
    c: &Characteristic,
    baseline_end: DateTime<Utc>,
    first_new: usize,
) -> (Vec<i64>, Vec<i64>) {
    let settings = ChartSettings {
        chart: ChartType::IMr,
        subgroup_size: 1,
        rules: RuleSet::WesternElectric,
    };
    let pts = s.characteristic_points(c, None, None, 1000).await.unwrap();
    let base: Vec<_> = pts
        .iter()
        .filter(|(p, _)| p.time < baseline_end)
        .map(|(p, _)| *p)
        .collect();
    let all: Vec<_> = pts.iter().map(|(p, _)| *p).collect();
    let d = draw(settings, &base, &all, 25).unwrap();
    let ch = changes(&d.pair, first_new);
    let newest = all.last().unwrap().time;
    s.apply_spc_alarms(
        c.id,
        &ch,
        |i| pts.get(i).map(|(p, m)| (m.unwrap(), p.time)),
        newest,
    )
    .await
    .unwrap()
}

/// Characteristics on a tag raise SPC alarms as samples arrive: the SPC watch checks each
/// round what came since its previous one, and clears the alarm when the tag is back in control.
async fn tag_characteristics_raise_spc_alarms_as_samples_arrive(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let t = tenant_with_tags(&store, "spc-tag", &["m.bore"]).await;
    let mut s = store.tenant(t.id).await.unwrap();
    let t0 = start();
    let sample = |minute: i64, value: f64| SampleRow {
        tag_id: t.tag_ids[0],
        time: t0 + Duration::minutes(minute),
        value: Some(value),
        quality: Quality::Good,
    };
    let baseline: Vec<SampleRow> = (0..20)
        .map(|i| sample(i, 10.0 + if i % 2 == 0 { 0.5 } else { -0.5 }))
        .collect();
    s.ingest(&baseline).await.unwrap();
    let c = s
        .create_characteristic(&CharacteristicFields {
            name: Some("bore".into()),
            tag_id: Some(t.tag_ids[0]),
            lsl: Some(8.0),
            usl: Some(12.0),
            chart: Some(ChartType::IMr),
            rules: Some(RuleSet::WesternElectric),
            baseline_from: Some(t0),
            baseline_to: Some(t0 + Duration::minutes(20)),
            ..Default::default()
        })
        .await
        .unwrap()
        .unwrap();

    let mut watch = SpcWatch::new();
    // The first round starts from its own time: the in-control baseline raises nothing.
    let raised = watch
        .run_once(&store, t0 + Duration::minutes(20))
        .await
        .unwrap();
    assert!(raised.is_empty(), "{raised:?}");

    // A value far out arrives; the next round raises rule 1 and the moving-range limit.
    s.ingest(&[sample(21, 14.0)]).await.unwrap();
    let raised = watch
        .run_once(&store, t0 + Duration::minutes(22))
        .await
        .unwrap();
    assert_eq!(raised.len(), 2, "{raised:?}");
    let open = s.alarms(AlarmState::Open, None, 10).await.unwrap();
    assert!(open.iter().all(|a| a.kind == AlarmKind::Spc
        && a.characteristic_id == Some(c.id)
        && a.machine_id == t.machine_id
        && a.raised_at == t0 + Duration::minutes(21)));
    // Nothing new: the round raises nothing again.
    let raised = watch
        .run_once(&store, t0 + Duration::minutes(23))
        .await
        .unwrap();
    assert!(raised.is_empty());

    // Back in control: the rule-1 alarm clears.
    s.ingest(&[sample(24, 10.1)]).await.unwrap();
    watch
        .run_once(&store, t0 + Duration::minutes(25))
        .await
        .unwrap();
    let open = s.alarms(AlarmState::Open, None, 10).await.unwrap();
    assert!(
        open.iter()
            .all(|a| a.spc_rule.as_deref() != Some("western_electric:1")),
        "{open:?}"
    );
}
