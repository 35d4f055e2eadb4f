//! Probe output, and the simulator's determinism and physics.

use std::time::Duration;

use millwright_connectors::{
    probe::{probe, Target},
    simulator::{
        bank::Bank,
        machine::{Machine, MachineKind, State},
        Plant, PlantKind,
    },
};

#[tokio::test]
async fn probe_shows_the_registers_in_every_order() {
    let plant = Plant::start(PlantKind::Appliance, 1, [127, 0, 0, 1].into())
        .await
        .unwrap();
    {
        let b = plant.bank("imm-1").unwrap();
        b.lock().unwrap().holding[900..902].copy_from_slice(&[0x028F, 0x4365]);
    }
    let cfg = plant.connector_config(None);
    let target = Target::Address {
        device: "imm-1".into(),
        kind: millwright_connectors::modbus::RegisterKind::Holding,
        address: 900,
        count: 2,
    };
    let out = probe(&cfg, &target).await.unwrap();
    assert!(out.contains("[900]=0x028F [901]=0x4365"), "{out}");
    let f32_line = out.lines().find(|l| l.starts_with("f32")).unwrap();
    // Read as ABCD it is garbage; the CDAB column shows the right value, with the float's own
    // shortest digits, and the garbage in scientific notation.
    let cells: Vec<&str> = f32_line.split_whitespace().collect();
    assert_eq!(cells[2], "229.01", "{f32_line}");
    assert!(cells[1].contains('e'), "{f32_line}");
    let out = probe(&cfg, &Target::Tag("imm-1.barrel_setpoint".into()))
        .await
        .unwrap();
    assert!(
        out.contains("tag barrel_setpoint as configured (F32 ABCD, scale 1, offset 0): 230"),
        "{out}"
    );
    plant.stop().await;
}

fn run(kind: MachineKind, seed: u64, hours: f64) -> Machine {
    run_dt(kind, seed, hours, 6.0)
}

fn run_dt(kind: MachineKind, seed: u64, hours: f64, dt: f64) -> Machine {
    let mut m = Machine::new("m".into(), kind, seed);
    let mut bank = Bank::default();
    m.init_bank(&mut bank);
    let steps = (hours * 3600.0 / dt) as usize;
    for _ in 0..steps {
        m.step(dt, &mut bank);
    }
    m
}

#[test]
fn the_same_seed_gives_the_same_machine() {
    for kind in [
        MachineKind::InjectionMoulding,
        MachineKind::Press,
        MachineKind::Sewing,
        MachineKind::Cutter,
        MachineKind::Cnc,
    ] {
        assert_eq!(
            run(kind, 42, 4.0).truth(),
            run(kind, 42, 4.0).truth(),
            "{kind:?}"
        );
        let week = run_dt(kind, 42, 24.0 * 7.0, 30.0).truth();
        eprintln!("{kind:?} one week: {week:?}");
    }
}

#[test]
fn machines_degrade_fail_with_known_causes_and_make_scrap() {
    // Two simulated weeks of a CNC: tool changes, faults with known codes, good and scrap parts.
    let m = run_dt(MachineKind::Cnc, 7, 24.0 * 14.0, 30.0);
    let t = m.truth();
    assert!(t.parts > 1000, "{t:?}");
    assert!(t.scrap > 0 && t.good > t.scrap, "{t:?}");
    assert!(!t.faults.is_empty(), "no fault in two weeks: {t:?}");
    assert!(
        t.faults.keys().all(|c| [501, 502, 503].contains(c)),
        "{t:?}"
    );
    // Worn machines make more scrap: the injection-moulding physics with screw wear near 1.
    let m = run_dt(MachineKind::InjectionMoulding, 9, 24.0 * 14.0, 30.0);
    let t = m.truth();
    assert!(
        t.faults.keys().all(|c| [101, 102, 103].contains(c)),
        "{t:?}"
    );
    assert!(matches!(
        t.state,
        State::Running | State::Idle | State::Down | State::Fault
    ));
}

#[tokio::test]
async fn a_plant_serves_every_machine_on_its_ports() {
    let plant = Plant::start(PlantKind::Garment, 1, [127, 0, 0, 1].into())
        .await
        .unwrap();
    assert_eq!(plant.devices.len(), 5);
    assert_eq!(plant.addrs.len(), 2);
    let cfg = plant.connector_config(None);
    for d in &cfg.modbus.devices {
        let out = probe(&cfg, &Target::Tag(format!("{}.state", d.name)))
            .await
            .unwrap();
        assert!(out.contains("as configured"), "{out}");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
