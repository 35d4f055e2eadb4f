//! The Modbus driver against the simulator over real TCP on loopback.

mod common;

use std::time::Duration;

use common::*;
use millwright_connectors::{
    modbus::{DataType, RegisterKind, WordOrder},
    sample::{Quality, Value},
    simulator::{Plant, PlantKind},
};

fn ty(s: &str) -> DataType {
    DataType::ALL
        .into_iter()
        .find(|t| format!("{t:?}").to_lowercase() == s)
        .unwrap()
}

fn order(s: &str) -> WordOrder {
    WordOrder::ALL
        .into_iter()
        .find(|o| o.as_str() == s)
        .unwrap()
}

/// Words computed independently (Python's `struct`), not by the crate's encoder.
const VECTORS: &[(&str, &str, &[u16], f64)] = &[
    ("u16", "ABCD", &[0x3039], 12345.0),
    ("u16", "CDAB", &[0x3039], 12345.0),
    ("u16", "BADC", &[0x3930], 12345.0),
    ("u16", "DCBA", &[0x3930], 12345.0),
    ("i16", "ABCD", &[0xFFFE], -2.0),
    ("i16", "CDAB", &[0xFFFE], -2.0),
    ("i16", "BADC", &[0xFEFF], -2.0),
    ("i16", "DCBA", &[0xFEFF], -2.0),
    ("u32", "ABCD", &[0x1234, 0x5678], 305419896.0),
    ("u32", "CDAB", &[0x5678, 0x1234], 305419896.0),
    ("u32", "BADC", &[0x3412, 0x7856], 305419896.0),
    ("u32", "DCBA", &[0x7856, 0x3412], 305419896.0),
    ("i32", "ABCD", &[0xF8A4, 0x32EB], -123456789.0),
    ("i32", "CDAB", &[0x32EB, 0xF8A4], -123456789.0),
    ("i32", "BADC", &[0xA4F8, 0xEB32], -123456789.0),
    ("i32", "DCBA", &[0xEB32, 0xA4F8], -123456789.0),
    (
        "u64",
        "ABCD",
        &[0x0003, 0x4567, 0x89AB, 0xCDEF],
        920735923817967.0,
    ),
    (
        "u64",
        "CDAB",
        &[0xCDEF, 0x89AB, 0x4567, 0x0003],
        920735923817967.0,
    ),
    (
        "u64",
        "BADC",
        &[0x0300, 0x6745, 0xAB89, 0xEFCD],
        920735923817967.0,
    ),
    (
        "u64",
        "DCBA",
        &[0xEFCD, 0xAB89, 0x6745, 0x0300],
        920735923817967.0,
    ),
    (
        "i64",
        "ABCD",
        &[0xFFFB, 0xFFFF, 0xFFFF, 0xCFC7],
        -1125899906854969.0,
    ),
    (
        "i64",
        "CDAB",
        &[0xCFC7, 0xFFFF, 0xFFFF, 0xFFFB],
        -1125899906854969.0,
    ),
    (
        "i64",
        "BADC",
        &[0xFBFF, 0xFFFF, 0xFFFF, 0xC7CF],
        -1125899906854969.0,
    ),
    (
        "i64",
        "DCBA",
        &[0xC7CF, 0xFFFF, 0xFFFF, 0xFBFF],
        -1125899906854969.0,
    ),
    ("f32", "ABCD", &[0x4365, 0x028F], 229.00999450683594),
    ("f32", "CDAB", &[0x028F, 0x4365], 229.00999450683594),
    ("f32", "BADC", &[0x6543, 0x8F02], 229.00999450683594),
    ("f32", "DCBA", &[0x8F02, 0x6543], 229.00999450683594),
    (
        "f64",
        "ABCD",
        &[0xC0C8, 0x1CD6, 0xE63A, 0x5C1C],
        -12345.678901,
    ),
    (
        "f64",
        "CDAB",
        &[0x5C1C, 0xE63A, 0x1CD6, 0xC0C8],
        -12345.678901,
    ),
    (
        "f64",
        "BADC",
        &[0xC8C0, 0xD61C, 0x3AE6, 0x1C5C],
        -12345.678901,
    ),
    (
        "f64",
        "DCBA",
        &[0x1C5C, 0x3AE6, 0xD61C, 0xC8C0],
        -12345.678901,
    ),
];

#[tokio::test]
async fn every_type_and_word_order_reads_what_the_simulator_set() {
    init_tracing();
    let plant = Plant::start(PlantKind::Appliance, 7, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let dev = &plant.devices[1]; // imm-2: unit 2 behind a shared port
    let bank = plant.bank(&dev.name).unwrap();
    let mut tags = Vec::new();
    let mut expected = Vec::new();
    {
        let mut b = bank.lock().unwrap();
        let mut addr = 900u16;
        for (i, (t, o, words, v)) in VECTORS.iter().enumerate() {
            b.holding[usize::from(addr)..usize::from(addr) + words.len()].copy_from_slice(words);
            let name = format!("v{i}_{t}_{o}");
            tags.push(tag(&name, RegisterKind::Holding, addr, ty(t), order(o)));
            expected.push((format!("{}.{name}", dev.name), Value::Number(*v)));
            addr += words.len() as u16;
        }
        // String, bool (register), coil and discrete input.
        b.holding[990..994].copy_from_slice(&[0x494D, 0x4D2D, 0x3031, 0x0000]); // "IMM-01"
        b.holding[995] = 7;
        b.coils[500] = true;
        b.discrete[501] = true;
    }
    tags.push(tag(
        "text",
        RegisterKind::Holding,
        990,
        DataType::String,
        WordOrder::Abcd,
    ));
    tags.push(tag(
        "flag",
        RegisterKind::Holding,
        995,
        DataType::Bool,
        WordOrder::Abcd,
    ));
    tags.push(tag(
        "coil",
        RegisterKind::Coil,
        500,
        DataType::Bool,
        WordOrder::Abcd,
    ));
    tags.push(tag(
        "di",
        RegisterKind::DiscreteInput,
        501,
        DataType::Bool,
        WordOrder::Abcd,
    ));
    expected.push((format!("{}.text", dev.name), Value::Text("IMM-01".into())));
    expected.push((format!("{}.flag", dev.name), Value::Bool(true)));
    expected.push((format!("{}.coil", dev.name), Value::Bool(true)));
    expected.push((format!("{}.di", dev.name), Value::Bool(true)));

    let cfg = config(vec![device(
        &dev.name,
        dev.addr.to_string(),
        dev.unit,
        tags,
    )]);
    let mut d = run_drivers(&cfg);
    let names: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |s| {
        s.quality == Quality::Good
    })
    .await;
    for (name, v) in &expected {
        let s = got
            .get(name)
            .unwrap_or_else(|| panic!("no good sample for {name}"));
        assert_eq!(s.value.as_ref(), Some(v), "{name}");
    }
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn machine_counters_match_the_simulators_ground_truth() {
    let plant = Plant::start(PlantKind::Machinery, 3, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let mut cfg = plant.connector_config(None);
    cfg.modbus.devices.truncate(1);
    let mut d = run_drivers(&cfg);
    let names = vec![
        "machinery.cnc-1.part_counter".to_string(),
        "machinery.cnc-1.good_parts".to_string(),
        "machinery.cnc-1.scrap_parts".to_string(),
    ];
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(got.len(), 3);
    let n = |t: &str| got[t].value.as_ref().unwrap().as_f64().unwrap();
    // The three counters come from one read: parts = good + scrap.
    assert_eq!(n(&names[0]), n(&names[1]) + n(&names[2]));
    let truth = plant.truth("cnc-1").unwrap();
    assert!(n(&names[0]) <= truth.parts as f64);
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn a_span_over_125_registers_is_split_and_decoded() {
    let plant = Plant::start(PlantKind::Machinery, 1, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let dev = &plant.devices[0];
    let bank = plant.bank(&dev.name).unwrap();
    let mut tags = Vec::new();
    {
        let mut b = bank.lock().unwrap();
        for i in 0..100u16 {
            let a = 600 + 2 * i;
            // u32 big-endian value 70000 + i written by hand.
            let v = 70_000u32 + u32::from(i);
            b.holding[usize::from(a)] = (v >> 16) as u16;
            b.holding[usize::from(a) + 1] = v as u16;
            tags.push(tag(
                &format!("r{i}"),
                RegisterKind::Holding,
                a,
                DataType::U32,
                WordOrder::Abcd,
            ));
        }
    }
    let dcfg = device(&dev.name, dev.addr.to_string(), dev.unit, tags);
    let blocks = millwright_connectors::modbus::coalesce::plan(&dcfg.tags, dcfg.max_gap, 125, 2000);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks.iter().all(|b| b.count <= 125));
    let cfg = config(vec![dcfg]);
    let mut d = run_drivers(&cfg);
    let names: Vec<String> = (0..100).map(|i| format!("{}.r{i}", dev.name)).collect();
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(got.len(), 100);
    for i in 0..100 {
        assert_eq!(
            got[&names[i]].value,
            Some(Value::Number(70_000.0 + i as f64))
        );
    }
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn an_exception_marks_only_the_affected_tags() {
    let plant = Plant::start(PlantKind::Garment, 1, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let dev = &plant.devices[0];
    let tags = vec![
        tag("ok", RegisterKind::Input, 0, DataType::U16, WordOrder::Abcd),
        // Past the end of the table: the simulator answers IllegalDataAddress.
        tag(
            "missing",
            RegisterKind::Holding,
            5000,
            DataType::U16,
            WordOrder::Abcd,
        ),
    ];
    let cfg = config(vec![device(
        &dev.name,
        dev.addr.to_string(),
        dev.unit,
        tags,
    )]);
    let mut d = run_drivers(&cfg);
    let names = vec![format!("{}.ok", dev.name), format!("{}.missing", dev.name)];
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |_| true).await;
    assert_eq!(got[&names[0]].quality, Quality::Good);
    assert_eq!(got[&names[1]].quality, Quality::Bad);
    // The connection survives the exception: the good tag keeps arriving.
    let more = first_per_tag(&mut d.rx, &names[..1], Duration::from_secs(5), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(more.len(), 1);
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn a_dead_device_does_not_delay_another_devices_polls() {
    let plant = Plant::start(PlantKind::Machinery, 1, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let dev = &plant.devices[0];
    // A device that accepts connections and never answers: every request runs into its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let mut dead = device(
        "dead",
        silent_addr.to_string(),
        1,
        vec![tag(
            "x",
            RegisterKind::Holding,
            0,
            DataType::U16,
            WordOrder::Abcd,
        )],
    );
    dead.timeout_ms = 2000;
    let mut alive = device(
        "alive",
        dev.addr.to_string(),
        dev.unit,
        vec![tag(
            "state",
            RegisterKind::Input,
            0,
            DataType::U16,
            WordOrder::Abcd,
        )],
    );
    alive.poll_interval_ms = 100;
    let cfg = config(vec![dead, alive]);
    let mut d = run_drivers(&cfg);
    let start = tokio::time::Instant::now();
    let mut alive_times = Vec::new();
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(500), d.rx.recv()).await {
            if s.tag == "alive.state" {
                alive_times.push(s.time);
            }
        }
    }
    // 3 s at 100 ms: about 30 polls; the dead device's 2 s timeouts must not stretch them.
    assert!(
        alive_times.len() >= 20,
        "only {} polls of the live device in 3 s",
        alive_times.len()
    );
    let max_gap = alive_times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .max()
        .unwrap();
    assert!(
        max_gap < 600,
        "largest gap between polls of the live device: {max_gap} ms"
    );
    drop(silent);
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn the_driver_reconnects_after_the_simulator_restarts() {
    init_tracing();
    let plant = Plant::start(PlantKind::Machinery, 5, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let addrs = plant.addrs.clone();
    let dev = plant.devices[0].clone();
    let cfg = config(vec![device(
        &dev.name,
        dev.addr.to_string(),
        dev.unit,
        vec![tag(
            "state",
            RegisterKind::Input,
            0,
            DataType::U16,
            WordOrder::Abcd,
        )],
    )]);
    let mut d = run_drivers(&cfg);
    let name = vec![format!("{}.state", dev.name)];
    assert_eq!(
        first_per_tag(&mut d.rx, &name, Duration::from_secs(5), |s| s.quality
            == Quality::Good)
        .await
        .len(),
        1
    );
    plant.stop().await;
    let bad = first_per_tag(&mut d.rx, &name, Duration::from_secs(5), |s| {
        s.quality == Quality::Bad
    })
    .await;
    assert_eq!(bad.len(), 1, "tags go bad when the device is gone");
    let opts = millwright_connectors::simulator::PlantOptions {
        ports: Some(addrs.iter().map(|a| a.port()).collect()),
        ..Default::default()
    };
    let _plant = Plant::start_with(PlantKind::Machinery, 5, opts)
        .await
        .unwrap();
    let good = first_per_tag(&mut d.rx, &name, Duration::from_secs(5), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(good.len(), 1, "tags come back good after the restart");
    let _ = d.stop.send(true);
}

#[tokio::test]
async fn writes_use_the_tags_type_and_word_order() {
    let plant = Plant::start(PlantKind::Appliance, 2, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let dev = &plant.devices[0];
    let mut sp = tag(
        "barrel_setpoint",
        RegisterKind::Holding,
        0,
        DataType::F32,
        WordOrder::Abcd,
    );
    sp.writable = true;
    let mut cdab = tag(
        "scratch_f32",
        RegisterKind::Holding,
        950,
        DataType::F32,
        WordOrder::Cdab,
    );
    cdab.writable = true;
    let mut scaled = tag(
        "scratch_scaled",
        RegisterKind::Holding,
        952,
        DataType::I16,
        WordOrder::Abcd,
    );
    scaled.writable = true;
    scaled.scale = 0.1;
    let mut coil = tag(
        "scratch_coil",
        RegisterKind::Coil,
        600,
        DataType::Bool,
        WordOrder::Abcd,
    );
    coil.writable = true;
    let ro = tag(
        "state",
        RegisterKind::Input,
        0,
        DataType::U16,
        WordOrder::Abcd,
    );
    let cfg = config(vec![device(
        &dev.name,
        dev.addr.to_string(),
        dev.unit,
        vec![sp, cdab, scaled, coil, ro],
    )]);
    let d = run_drivers(&cfg);
    let write = |tag: &str, value: Value| {
        let commands = d.commands.clone();
        let tag = tag.to_string();
        async move {
            let (reply, rx) = tokio::sync::oneshot::channel();
            commands
                .send(millwright_connectors::driver::WriteCommand { tag, value, reply })
                .await
                .unwrap();
            rx.await.unwrap()
        }
    };
    write("barrel_setpoint", Value::Number(240.0))
        .await
        .unwrap();
    write("scratch_f32", Value::Number(229.01)).await.unwrap();
    write(
        &format!("{}.scratch_scaled", dev.name),
        Value::Number(-12.3),
    )
    .await
    .unwrap();
    write("scratch_coil", Value::Bool(true)).await.unwrap();
    assert!(
        write("state", Value::Number(1.0)).await.is_err(),
        "read-only tags refuse writes"
    );
    assert!(write("nope", Value::Number(1.0)).await.is_err());
    let bank = plant.bank(&dev.name).unwrap();
    let b = bank.lock().unwrap();
    assert_eq!(&b.holding[0..2], &[0x4370, 0x0000]); // 240.0_f32, ABCD
    assert_eq!(&b.holding[950..952], &[0x028F, 0x4365]); // 229.01_f32, CDAB
    assert_eq!(b.holding[952], (-123i16) as u16);
    assert!(b.coils[600]);
    let _ = d.stop.send(true);
}
