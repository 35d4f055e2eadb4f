//! The bureau's store (issue #16) against a real PostgreSQL, on both storage layouts: tenants'
//! daily contributions computed from real samples through the MES state builder, calendars
//! and counters; recomputation gives the same numbers; the bureau's cells hold only tenants
//! that share the index's category and nothing the negative list names; a tenant session
//! reads no cells and no other tenant's contributions; the old opt-in flag maps onto sharing.

mod bureau_support;
mod common;

use std::collections::BTreeSet;

use bureau_support::{build, plant};
use chrono::{DateTime, Duration, Utc};
use millwright_platform::bureau::index::{Metric, Period};
use millwright_platform::bureau::negative_list::NegativeList;
use millwright_platform::bureau::sharing::{Category, SizeClass};
use millwright_platform::config::BackendChoice;
use millwright_platform::store::tenancy::ProfileChange;
use millwright_platform::store::{Store, TenantId};
use millwright_platform::test_util::fresh_store;

async fn share(store: &Store, t: TenantId, cats: &[Category]) {
    let set: BTreeSet<Category> = cats.iter().copied().collect();
    store
        .tenant(t)
        .await
        .unwrap()
        .acting_as("user 1")
        .set_sharing(&set, Some(SizeClass::Small))
        .await
        .unwrap();
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

async fn contributions_and_cells(backend: BackendChoice) {
    let (store, _) = fresh_store(backend).await;
    let day = now().date_naive() - Duration::days(3);
    // Six garment tenants in the east, running 240 + 20 i minutes; one machinery tenant.
    let mut garment = Vec::new();
    for i in 0..6 {
        garment.push(
            plant(
                &store,
                &format!("g{i}"),
                "garment",
                "east",
                day,
                240 + 20 * i,
            )
            .await,
        );
    }
    let lone = plant(&store, "m0", "machinery", "east", day, 400).await;
    build(&store).await;
    let none = NegativeList::default();

    // One tenant's figures, from its own samples: 240 of 480 planned minutes ran.
    let mut s = store.tenant(garment[0].id).await.unwrap();
    let report = s.compute_contributions(day, day, &none).await.unwrap();
    assert_eq!((report.days, report.rows), (1, 8), "{report:?}");
    let own = s.own_contributions(day, day).await.unwrap();
    let get = |m: Metric| own.iter().find(|c| c.index == m).unwrap().clone();
    let u = get(Metric::Utilisation);
    assert_eq!(u.den, 28_800.0);
    assert!((u.value - 0.5).abs() < 0.01, "utilisation {u:?}");
    assert!(!u.shared, "nothing is shared by default");
    let out = get(Metric::Output);
    assert!((out.num - 480.0).abs() <= 2.0, "{out:?}");
    assert_eq!(get(Metric::OperatingRate).value, 1.0);
    let e = get(Metric::EnergyIntensity);
    assert!((e.value - 0.25).abs() < 0.01, "kWh per part {e:?}");
    assert_eq!(get(Metric::QualityRate).value, 1.0);

    // Recomputing the day gives the same numbers.
    s.compute_contributions(day, day, &none).await.unwrap();
    assert_eq!(s.own_contributions(day, day).await.unwrap(), own);
    drop(s);

    // The incremental round computes the others (and this one again) once, then nothing.
    let first = store.build_bureau_contributions(now()).await.unwrap();
    assert_eq!(first.tenants, 7, "{first:?}");
    let second = store.build_bureau_contributions(now()).await.unwrap();
    assert_eq!(second.tenants, 0, "{second:?}");
    let mut s = store.tenant(garment[0].id).await.unwrap();
    assert_eq!(s.own_contributions(day, day).await.unwrap(), own);
    drop(s);

    // Nobody shares yet: the bureau sees no cell.
    let cells = |m: Metric| {
        let store = store.clone();
        async move {
            store
                .bureau_cells(&[m], day, day, Period::Day, None)
                .await
                .unwrap()
        }
    };
    assert!(cells(Metric::Utilisation).await.is_empty());

    // Five garment tenants share everything, one only output; the machinery one shares.
    for t in &garment[..5] {
        share(&store, t.id, &Category::ALL).await;
    }
    share(&store, garment[5].id, &[Category::Output]).await;
    share(&store, lone.id, &Category::ALL).await;
    let util = cells(Metric::Utilisation).await;
    let table = &util[&(Metric::Utilisation, day)];
    let ge = &table[&(Some("garment".into()), Some("east".into()))];
    assert_eq!(ge.n, 5, "garment[5] does not share utilisation");
    let all = &table[&(None, None)];
    assert_eq!(all.n, 6);
    let expected_run: f64 = (0..5)
        .map(|i| (240.0 + 20.0 * i as f64) * 60.0)
        .sum::<f64>()
        + 400.0 * 60.0;
    assert!((all.num - expected_run).abs() < 6.0 * 120.0, "{all:?}");
    assert_eq!(all.den, 6.0 * 28_800.0);
    assert_eq!(ge.top_den, [28_800.0; 3]);
    let output = cells(Metric::Output).await;
    assert_eq!(
        output[&(Metric::Output, day)][&(Some("garment".into()), None)].n,
        6
    );
    // Weeks and months add the same days.
    let week = store
        .bureau_cells(&[Metric::Utilisation], day, day, Period::Week, None)
        .await
        .unwrap();
    let wk = &week[&(Metric::Utilisation, Period::Week.start_of(day))][&(None, None)];
    assert_eq!((wk.n, wk.den), (6, all.den));
    // By size class: all are small, none medium.
    let medium = store
        .bureau_cells(
            &[Metric::Utilisation],
            day,
            day,
            Period::Day,
            Some(SizeClass::Medium),
        )
        .await
        .unwrap();
    assert!(medium.is_empty());

    // The negative list wins over every tenant's choice.
    store
        .set_negative_list(&NegativeList {
            categories: [Category::Utilisation].into(),
            tags: vec![],
        })
        .await
        .unwrap();
    assert!(cells(Metric::Utilisation).await.is_empty());
    assert!(cells(Metric::OperatingRate).await.is_empty());
    assert!(!cells(Metric::Output).await.is_empty());
    let mut s = store.tenant(garment[0].id).await.unwrap();
    let sharing = s.sharing().await.unwrap();
    assert!(sharing.categories.contains(&Category::Utilisation));
    assert!(!sharing.effective.contains(&Category::Utilisation));
    assert_eq!(sharing.never_shared, [Category::Utilisation]);
    assert!(
        !s.own_contributions(day, day)
            .await
            .unwrap()
            .iter()
            .find(|c| c.index == Metric::Utilisation)
            .unwrap()
            .shared
    );
    // A negative-listed energy tag is not read: no energy intensity for that tenant.
    s.compute_contributions(
        day,
        day,
        &NegativeList {
            categories: BTreeSet::new(),
            tags: vec!["*ENERGY".into()],
        },
    )
    .await
    .unwrap();
    let own = s.own_contributions(day, day).await.unwrap();
    assert!(own.iter().all(|c| c.index != Metric::EnergyIntensity));

    // A tenant session gets no cells, and sees only its own contributions.
    let tx = s.begin().await.unwrap();
    let leaked = tx
        .query(
            "SELECT * FROM bureau_cells(ARRAY['output'], $1, $1, 'day', NULL)",
            &[&day],
        )
        .await
        .unwrap();
    assert!(leaked.is_empty());
    let others = tx
        .query(
            "SELECT count(*) FROM bureau_contributions WHERE tenant_id <> $1",
            &[&garment[0].id.0],
        )
        .await
        .unwrap();
    assert_eq!(others[0].get::<_, i64>(0), 0);
    drop(tx);

    // The old flag: false shares nothing, true every category; the profile reads it back.
    let mut s = store.tenant(lone.id).await.unwrap();
    let p = s
        .update_profile(&ProfileChange {
            sector_opt_in: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!p.sector_opt_in);
    assert!(s.sharing().await.unwrap().categories.is_empty());
    let p = s
        .update_profile(&ProfileChange {
            sector_opt_in: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(p.sector_opt_in);
    assert_eq!(s.sharing().await.unwrap().categories, Category::ALL);
    // Every sharing change is in the audit log.
    let audit = s.audit_entries(0, 100).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"bureau_sharing.update"), "{actions:?}");
    assert!(actions.contains(&"tenant.update"), "{actions:?}");
}

on_every_backend!(contributions_and_cells);

/// The demo's generator: its light tenants give published indices, and some cells withheld.
#[tokio::test]
async fn the_demo_generator_gives_indices_with_some_cells_suppressed() {
    use millwright_platform::bureau::disclosure::Reason;
    use millwright_platform::bureau::publish;
    let (store, settings) = fresh_store(BackendChoice::Plain).await;
    let started = std::time::Instant::now();
    let n = millwright_platform::demo::bureau::generate(&store)
        .await
        .unwrap();
    println!(
        "generated {n} tenants in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(n, 39);
    let through = millwright_platform::store::bureau::closed_through(now());
    let cells = store
        .bureau_cells(
            &Metric::ALL,
            through - Duration::days(2),
            through,
            Period::Day,
            None,
        )
        .await
        .unwrap();
    let rules = settings.bureau.rules();
    let mut published = 0;
    let mut reasons = BTreeSet::new();
    for ((m, start), table) in &cells {
        let base = (*m == Metric::Output).then_some(table);
        for f in publish(*m, Period::Day, *start, table, base, &rules, None) {
            match f.suppressed {
                None => published += 1,
                Some(r) => {
                    reasons.insert(format!("{r:?}"));
                }
            }
        }
    }
    assert!(published > 50, "{published} published");
    assert!(
        reasons.contains(&format!("{:?}", Reason::TooFewContributors)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&format!("{:?}", Reason::Complementary)),
        "{reasons:?}"
    );
    // A second run finds its tenants and adds nothing twice.
    assert_eq!(
        millwright_platform::demo::bureau::generate(&store)
            .await
            .unwrap(),
        39
    );
    let again = store
        .bureau_cells(
            &Metric::ALL,
            through - Duration::days(2),
            through,
            Period::Day,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again, cells);
    // The demo's bureau login, made and then given a new password at the next start.
    for password in ["first password 123", "second password 456"] {
        millwright_platform::demo::bureau::ensure_login(&store, password)
            .await
            .unwrap();
    }
}
