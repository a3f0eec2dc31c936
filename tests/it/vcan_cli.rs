//! The product end to end on a real vcan interface: `packwright bms read --can` (the client,
//! the real binary) reads `packwright sim --can` (the simulators, the real binary) for each
//! CAN protocol; a simulator fault makes the read fail with the reason and exit code 3.

use std::process::Output;

use crate::support::sim::Sim;
use crate::support::vcan::*;
use packwright::sim::can::SimPack;
use serde_json::Value;

/// Starts `packwright sim --protocol P --can IFACE [extra]` and waits for its ready line.
fn start_sim(protocol: &str, extra: &[&str]) -> Sim {
    Sim::can(protocol, &iface(), extra)
}

fn bms_read(protocol: &str) -> Output {
    packwright()
        .args([
            "bms",
            "read",
            "--can",
            &iface(),
            "--protocol",
            protocol,
            "--json",
        ])
        .output()
        .expect("packwright bms read")
}

fn assert_reads_the_sim(protocol: &str, volt_step: f64) {
    let _sim = start_sim(protocol, &[]);
    let out = bms_read(protocol);
    assert!(
        out.status.success(),
        "bms read --protocol {protocol} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    let pack = SimPack::lfp(16);
    let v = s["pack_voltage_v"].as_f64().unwrap();
    assert!(
        (v - pack.pack_voltage_v()).abs() <= volt_step / 2.0 + 1e-9,
        "{protocol}: {v}"
    );
    assert_eq!(s["current_a"], -12.5, "{protocol}");
    assert_eq!(s["soc_pct"], 87.0, "{protocol}");
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn bms_read_reads_the_pylontech_simulator() {
    assert_reads_the_sim("pylontech", 0.01);
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn bms_read_reads_the_daly_can_simulator() {
    assert_reads_the_sim("daly-can", 0.1);
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn bms_read_reads_the_jbd_can_simulator() {
    assert_reads_the_sim("jbd-can", 0.01);
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn a_missing_frame_fails_the_read_with_the_reason() {
    let _sim = start_sim("pylontech", &["--fault", "missing=0x351"]);
    let out = bms_read("pylontech");
    assert_eq!(out.status.code(), Some(3), "a device error exits 3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("frames 351 never arrived"), "{err}");
}
