//! The CAN stack on a real vcan interface: the product's client reads the product's
//! simulators for each protocol, can-utils (an independent peer) sees the simulators' frames
//! and drives them, faults are caught, and the device task reports an interface going down,
//! a bus-off and their recovery.

use std::time::Duration;

use crate::support::sim::ChildGuard;
use crate::support::vcan::*;
use packwright::device::can::bms::{CanBmsConfig, CanReader};
use packwright::device::can::{BusConfig, BusEvent, BusStatus, CanBus};
use packwright::sim::can::{self as sim, CanSimConfig, SimPack};
use packwright_protocol::can::{self, jbd_can, parse_frame, Decoded};
use packwright_protocol::ProtocolKind;
use tokio::sync::oneshot;

/// Runs a simulator in the background until the returned sender is dropped or fired.
fn start_sim(cfg: CanSimConfig) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let r = sim::run(cfg, async {
            let _ = stopped.await;
        })
        .await;
        if let Err(e) = r {
            panic!("simulator failed: {e}");
        }
    });
    stop
}

fn fast_pylon(iface: &str) -> CanSimConfig {
    let mut cfg = CanSimConfig::new(iface, ProtocolKind::Pylontech);
    cfg.period = Duration::from_millis(200);
    cfg
}

fn reader_cfg(protocol: ProtocolKind) -> CanBmsConfig {
    let mut cfg = CanBmsConfig::new(&iface(), protocol);
    if protocol == ProtocolKind::Pylontech {
        cfg.timeout = Duration::from_millis(2000);
        cfg.stale_after = Duration::from_millis(1000);
    }
    cfg
}

fn assert_pack(snapshot: &packwright_protocol::BmsSnapshot, pack: &SimPack, volt_step: f64) {
    assert!(
        (snapshot.pack_voltage_v - pack.pack_voltage_v()).abs() <= volt_step / 2.0 + 1e-9,
        "pack voltage {} vs {}",
        snapshot.pack_voltage_v,
        pack.pack_voltage_v()
    );
    assert_eq!(snapshot.current_a, pack.current_a);
    assert_eq!(snapshot.soc_pct, Some(pack.soc_pct));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn pylontech_pack_is_read_and_candump_sees_its_broadcast() {
    let dump = Candump::start(&iface(), &["350:7F0", "305:7FF"]);
    let stop = start_sim(fast_pylon(&iface()));
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::Pylontech)).unwrap();
    let reading = reader.read().await.expect("a full Pylontech reading");
    let pack = SimPack::lfp(16);
    assert_pack(&reading.snapshot, &pack, 0.01);
    let limits = reading.pylon.as_ref().unwrap().limits.clone().unwrap();
    assert_eq!(limits.charge_voltage_limit_v, 56.8);
    assert_eq!(reading.snapshot.model.as_deref(), Some("PYLON"));

    // The independent peer saw every broadcast frame, and our 0x305 keep-alive.
    let seen = dump.frames(Duration::from_millis(500));
    for id in [
        "359#",
        "351#",
        "355#",
        "356#",
        "35C#",
        "35E#",
        "305#0000000000000000",
    ] {
        assert!(
            seen.iter().any(|f| f.starts_with(id)),
            "candump saw no {id}: {seen:?}"
        );
    }
    // And what it saw decodes to the pack with our codec: 0x35E is "PYLON   ".
    assert!(seen.iter().any(|f| f == "35E#50594C4F4E202020"), "{seen:?}");
    let f356 = seen.iter().find(|f| f.starts_with("356#")).unwrap();
    let Ok(Decoded::Pylontech(_)) =
        can::decode(ProtocolKind::Pylontech, &parse_frame(f356).unwrap())
    else {
        panic!("{f356} does not decode")
    };
    dump.stop();
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn daly_can_board_answers_cansend_and_our_client() {
    let stop = start_sim(CanSimConfig::new(&iface(), ProtocolKind::DalyCan));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // can-utils asks for 0x90 as a PC would; the board answers on 0x18904001.
    let dump = Candump::start(&iface(), &["18904001:1FFFFFFF"]);
    cansend(&iface(), "18900140#0000000000000000");
    let reply = dump
        .wait_for(Duration::from_secs(2), |f| f.starts_with("18904001#"))
        .expect("the simulated board answers 0x90");
    dump.stop();
    let Decoded::DalyCan(msg) =
        can::decode(ProtocolKind::DalyCan, &parse_frame(&reply).unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(msg.payload.name, "soc");

    let mut reader = CanReader::open(reader_cfg(ProtocolKind::DalyCan)).unwrap();
    let reading = match reader.read().await {
        Ok(r) => r,
        Err(e) => panic!(
            "no Daly CAN reading: {e}; bus {:?} {:?}",
            reader.bus().status(),
            reader.bus().counters()
        ),
    };
    let pack = SimPack::lfp(16);
    assert_pack(&reading.snapshot, &pack, 0.1);
    assert_eq!(
        reading.snapshot.cell_voltages_mv,
        pack.cells_mv
            .iter()
            .map(|&v| u32::from(v))
            .collect::<Vec<_>>()
    );
    assert_eq!(reading.snapshot.temperatures_c, vec![25.0, 27.0]);
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn jbd_can_board_answers_cansend_and_our_client() {
    let stop = start_sim(CanSimConfig::new(&iface(), ProtocolKind::JbdCan));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // jbdtool's request: a zero-length frame on 0x100; the reply carries a valid CRC.
    let dump = Candump::start(&iface(), &["100:7FF"]);
    cansend(&iface(), "100#");
    let reply = dump
        .wait_for(Duration::from_secs(2), |f| {
            f.len() > 4 && f.starts_with("100#")
        })
        .expect("the simulated board answers 0x100");
    dump.stop();
    let frame = parse_frame(&reply).unwrap();
    let crc = jbd_can::crc16_modbus(&frame.data()[..6]);
    assert_eq!(frame.data()[6..], crc.to_be_bytes(), "{reply}");

    let mut reader = CanReader::open(reader_cfg(ProtocolKind::JbdCan)).unwrap();
    let reading = reader.read().await.expect("a full JBD CAN reading");
    let pack = SimPack::lfp(16);
    assert_pack(&reading.snapshot, &pack, 0.01);
    assert_eq!(reading.snapshot.cell_count, 16);
    assert_eq!(reading.snapshot.model.as_deref(), Some("PW-SIM-CAN"));
    assert_eq!(reading.snapshot.firmware_version.as_deref(), Some("2.2"));
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn faults_are_caught_with_the_reason() {
    // A Pylontech pack that never sends 0x359.
    let mut cfg = fast_pylon(&iface());
    cfg.faults.missing = vec![0x359];
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::Pylontech)).unwrap();
    let err = reader.read().await.unwrap_err().to_string();
    assert!(err.contains("frames 359 never arrived"), "{err}");
    drop(stop);
    reader.bus().close().await;

    // A pack sending 0.1 V steps in 0x356.
    let mut cfg = fast_pylon(&iface());
    cfg.faults.wrong_scaling = true;
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::Pylontech)).unwrap();
    let err = reader.read().await.unwrap_err().to_string();
    assert!(err.contains("0.1 V steps"), "{err}");
    drop(stop);
    reader.bus().close().await;

    // A pack whose heartbeat stops: first reads succeed, later ones report it stale.
    let mut cfg = fast_pylon(&iface());
    cfg.faults.stale_after = Some(Duration::from_millis(800));
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::Pylontech)).unwrap();
    reader.read().await.expect("fresh at first");
    // Well past both the fault (0.8 s) and the reader's limit (1 s), whatever the VM's pace.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let err = reader.read().await.unwrap_err().to_string();
    assert!(err.contains("stale heartbeat"), "{err}");
    drop(stop);
    reader.bus().close().await;

    // A Daly board with the inverted current sign, and one that never answers 0x95.
    let mut cfg = CanSimConfig::new(&iface(), ProtocolKind::DalyCan);
    cfg.faults.wrong_scaling = true;
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::DalyCan)).unwrap();
    let err = reader.read().await.unwrap_err().to_string();
    assert!(err.contains("AboveOffsetCharges"), "{err}");
    drop(stop);
    reader.bus().close().await;

    let mut cfg = CanSimConfig::new(&iface(), ProtocolKind::DalyCan);
    cfg.faults.missing = vec![0x95];
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::DalyCan)).unwrap();
    let err = reader.read().await.unwrap_err().to_string();
    assert!(
        err.contains("no valid reply to Daly 0x95 (cell_voltages)") && err.contains("3 attempt(s)"),
        "{err}"
    );
    drop(stop);
    reader.bus().close().await;

    // A JBD board sending the pack voltage in 0.1 V steps.
    let mut cfg = CanSimConfig::new(&iface(), ProtocolKind::JbdCan);
    cfg.faults.wrong_scaling = true;
    let stop = start_sim(cfg);
    let mut reader = CanReader::open(reader_cfg(ProtocolKind::JbdCan)).unwrap();
    let err = reader.read().await.unwrap_err().to_string();
    assert!(
        err.contains("disagrees with the sum of its 16 cells"),
        "{err}"
    );
    drop(stop);
    reader.bus().close().await;
}

async fn next_status(events: &mut tokio::sync::mpsc::Receiver<BusEvent>) -> BusStatus {
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(BusEvent::Status(s)) = events.recv().await {
                return s;
            }
        }
    })
    .await
    .expect("a status change within 3 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn interface_down_is_reported_and_recovered() {
    let spare = spare_iface();
    ip_link(&["set", &spare, "up"]);
    let (bus, mut events) = CanBus::open(BusConfig::new(&spare)).unwrap();
    assert_eq!(next_status(&mut events).await, BusStatus::Up);

    ip_link(&["set", &spare, "down"]);
    let down = next_status(&mut events).await;
    assert!(
        matches!(&down, BusStatus::Down { reason } if reason.contains("down")),
        "{down:?}"
    );
    let err = bus
        .send(parse_frame("305#0000000000000000").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the bus is down"), "{err}");

    ip_link(&["set", &spare, "up"]);
    assert_eq!(next_status(&mut events).await, BusStatus::Up);
    // And it works again: a frame from the peer arrives.
    cansend(&spare, "123#01");
    let got = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(BusEvent::Frame(r)) = events.recv().await {
                return r.frame;
            }
        }
    })
    .await
    .expect("a frame after recovery");
    assert_eq!(got, parse_frame("123#01").unwrap());
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn bus_off_is_reported_and_cleared_when_traffic_returns() {
    let spare = spare_iface();
    ip_link(&["set", &spare, "up"]);
    let (bus, mut events) = CanBus::open(BusConfig::new(&spare)).unwrap();
    assert_eq!(next_status(&mut events).await, BusStatus::Up);
    // An error frame with CAN_ERR_BUSOFF (0x40), as a controller driver raises it.
    cansend(&spare, "20000040#0000000000000000");
    assert_eq!(next_status(&mut events).await, BusStatus::BusOff);
    let err = bus.send(parse_frame("305#00").unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("bus-off"), "{err}");
    // CAN_ERR_RESTARTED (0x100): the controller is back.
    cansend(&spare, "20000100#0000000000000000");
    assert_eq!(next_status(&mut events).await, BusStatus::Up);
    bus.send(parse_frame("305#00").unwrap())
        .await
        .expect("sends work again");
    bus.close().await;
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn can_log_records_what_cansend_sends_and_replay_decodes_it() {
    let dir = crate::support::tempdir();
    let file = dir.path().join("bus.log");
    // Bounded by --seconds so a lost frame fails the test instead of hanging it.
    let child = packwright()
        .args([
            "can",
            "log",
            &iface(),
            file.to_str().unwrap(),
            "--count",
            "3",
            "--seconds",
            "30",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("packwright can log");
    let mut guard = ChildGuard(child);
    // Send only once it says it is logging (start-up is slow under emulation).
    let stderr = guard.0.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("logging"));
    assert!(ready.is_some(), "can log did not start");
    for f in ["355#58005E00", "356#7B13E9FE6B01", "35C#C000"] {
        cansend(&iface(), f);
    }
    let status = guard.0.wait().expect("can log exits after 3 frames");
    assert!(status.success());
    let summary: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        summary.iter().any(|l| l.starts_with("logged 3 frames")),
        "{summary:?}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let frames: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    assert_eq!(frames, ["355#58005E00", "356#7B13E9FE6B01", "35C#C000"]);
    assert!(
        text.lines().all(|l| l.contains(&format!(") {} ", iface()))),
        "{text}"
    );

    let out = packwright()
        .args(["can", "replay", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["decoded"]["soc_pct"], 88);
    assert_eq!(lines[1]["decoded"]["pack_voltage_v"], 49.87);
    assert_eq!(lines[2]["decoded"]["charge_enable"], true);
}
