//! RTU over a serial line (a socat pseudo-terminal pair) and RTU framed over TCP.

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use common::*;
use millwright_connectors::{
    modbus::{
        config::{Parity, SerialConfig, Transport},
        link::open_serial,
        DataType, RegisterKind, WordOrder,
    },
    sample::Quality,
    simulator::{serve_rtu, serve_rtu_over_tcp, Plant, PlantKind},
};

struct Socat {
    child: tokio::process::Child,
    a: PathBuf,
    b: PathBuf,
    _dir: tempfile::TempDir,
}

async fn pty_pair() -> Option<Socat> {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("server"), dir.path().join("client"));
    let child = match tokio::process::Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", a.display()))
        .arg(format!("pty,raw,echo=0,link={}", b.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED: socat is not installed ({e}); apt-get install socat to run the serial test");
            return None;
        }
    };
    // Ready when both links exist.
    for _ in 0..200 {
        if a.exists() && b.exists() {
            return Some(Socat {
                child,
                a,
                b,
                _dir: dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("socat did not create the pty pair");
}

#[tokio::test]
async fn rtu_over_a_serial_line_shared_by_units_one_of_them_silent() {
    init_tracing();
    let Some(mut socat) = pty_pair().await else {
        return;
    };
    let plant = Plant::start(PlantKind::Appliance, 4, [127, 0, 0, 1].into())
        .await
        .unwrap();
    // Port 0 of the appliance plant holds imm-1 (unit 1) and imm-2 (unit 2).
    let serial = |path: &PathBuf| SerialConfig {
        path: path.display().to_string(),
        baud_rate: 115_200,
        parity: Parity::None,
        stop_bits: 1,
        data_bits: 8,
    };
    let server = open_serial(&serial(&socat.a)).unwrap();
    let srv = tokio::spawn(serve_rtu(server, plant.port_service(0)));
    {
        let b = plant.bank("imm-2").unwrap();
        b.lock().unwrap().holding[900..902].copy_from_slice(&[0x028F, 0x4365]); // 229.01 CDAB
    }
    let mk = |name: &str, unit: u8, tags| {
        let mut d = device(name, String::new(), unit, tags);
        d.transport = Transport::Rtu;
        d.address = None;
        d.serial = Some(serial(&socat.b));
        d.poll_interval_ms = 200;
        d.timeout_ms = 300;
        d
    };
    let devices = vec![
        mk(
            "imm-1",
            1,
            vec![tag(
                "state",
                RegisterKind::Input,
                0,
                DataType::U16,
                WordOrder::Abcd,
            )],
        ),
        mk(
            "imm-2",
            2,
            vec![tag(
                "temp",
                RegisterKind::Holding,
                900,
                DataType::F32,
                WordOrder::Cdab,
            )],
        ),
        mk(
            "ghost",
            9,
            vec![tag(
                "x",
                RegisterKind::Holding,
                0,
                DataType::U16,
                WordOrder::Abcd,
            )],
        ),
    ];
    let cfg = config(devices);
    let mut d = run_drivers(&cfg);
    let names = vec![
        "imm-1.state".to_string(),
        "imm-2.temp".to_string(),
        "ghost.x".to_string(),
    ];
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |_| true).await;
    assert_eq!(got["imm-1.state"].quality, Quality::Good);
    assert_eq!(
        got["imm-2.temp"].value.as_ref().unwrap().as_f64().unwrap(),
        f64::from(229.01_f32)
    );
    assert_eq!(
        got["ghost.x"].quality,
        Quality::Bad,
        "the silent unit is marked bad"
    );
    // The silent unit costs its own timeout only: the others keep delivering.
    let again = first_per_tag(&mut d.rx, &names[..2], Duration::from_secs(5), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(again.len(), 2);
    let _ = d.stop.send(true);
    srv.abort();
    let _ = socat.child.kill().await;
}

#[tokio::test]
async fn rtu_framed_over_tcp_through_a_gateway() {
    let plant = Plant::start(PlantKind::Garment, 2, [127, 0, 0, 1].into())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(serve_rtu_over_tcp(listener, plant.port_service(0)));
    {
        let b = plant.bank("sew-3").unwrap();
        b.lock().unwrap().holding[900..904].copy_from_slice(&[0xEFCD, 0xAB89, 0x6745, 0x0300]);
    }
    let mk = |name: &str, unit: u8, tags| {
        let mut d = device(name, addr.to_string(), unit, tags);
        d.transport = Transport::RtuOverTcp;
        d
    };
    let cfg = config(vec![
        mk(
            "sew-1",
            1,
            vec![tag(
                "state",
                RegisterKind::Input,
                0,
                DataType::U16,
                WordOrder::Abcd,
            )],
        ),
        mk(
            "sew-3",
            3,
            vec![tag(
                "big",
                RegisterKind::Holding,
                900,
                DataType::U64,
                WordOrder::Dcba,
            )],
        ),
    ]);
    let mut d = run_drivers(&cfg);
    let names = vec!["sew-1.state".to_string(), "sew-3.big".to_string()];
    let got = first_per_tag(&mut d.rx, &names, Duration::from_secs(10), |s| {
        s.quality == Quality::Good
    })
    .await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got["sew-3.big"].value.as_ref().unwrap().as_f64().unwrap(),
        920735923817967.0
    );
    let _ = d.stop.send(true);
    srv.abort();
}
