//! DBC decoding live on a real vcan interface: `packwright can read --dbc` reads a board whose
//! frames are not built in, from frames cansend (the independent peer) puts on the bus.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::sim::reap;
use crate::support::vcan::*;
use serde_json::Value;

const FRAMES: [&str; 4] = [
    "18FF5000#14A7FF83AE000000",
    "18FF5001#0CE40CE50CE60CE7",
    "18FF5002#0019000000000000",
    "18FF5002#01FB000000000000",
];

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn can_read_decodes_a_custom_board_through_its_dbc_file() {
    let dbc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vcan/custom_bms.dbc");
    let mut child = packwright()
        .args([
            "can",
            "read",
            &iface(),
            "--dbc",
            dbc.to_str().unwrap(),
            "--json",
        ])
        .args(["--timeout-ms", "20000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("packwright can read");
    // Send the board's frames round after round until the reader has them all and exits.
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(25) {
            reap(&mut child);
            panic!("can read never finished");
        }
        for f in FRAMES {
            cansend(&iface(), f);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    assert_eq!(s["pack_voltage_v"], 52.87);
    assert_eq!(s["current_a"], -12.5);
    assert_eq!(s["soc_pct"], 87.0);
    assert_eq!(
        s["cell_voltages_mv"],
        serde_json::json!([3300, 3301, 3302, 3303])
    );
    assert_eq!(s["temperatures_c"], serde_json::json!([25.0, -5.0]));
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn can_read_names_the_signals_that_never_came() {
    let dbc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vcan/custom_bms.dbc");
    let child = packwright()
        .args(["can", "read", &iface(), "--dbc", dbc.to_str().unwrap()])
        .args(["--timeout-ms", "3000"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("packwright can read");
    // Only the pack frame: cells and temperatures never come. It is sent again and again until
    // the reader gives up, so however long the reader takes to start (seconds under emulation),
    // it sees the pack frame.
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        cansend(&iface(), FRAMES[0]);
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not received: cell 1, cell 2, cell 3, cell 4, temperature 1, temperature 2"),
        "{err}"
    );
}
