//! The real binary as a Pace v25 client (RS485, Pylontech-style ASCII) against the real
//! binary's Pace simulator, over pseudo-terminals: several packs on one line, live read and
//! identity; the configuration groups written, read back and re-read after all writes, the
//! write log and every fault mode are the shared cases of [`crate::support::family`].

use crate::support::family::{family_tests, Family};
use crate::support::serial::{assert_plausible, packwright};

const PACE: Family = Family {
    protocol: "pace-485",
    profile: "lfp-15s1p-pace-100ah",
    // Every group value the profile has.
    fields: 20,
    // Fast, so that retries dominate the fault tests' time (the board defaults to 9600).
    line: &["--baud", "115200"],
    identity: "pace-485 PACE-SIM fw 1.0 / 2.5.3 barcode PACESIM000000002",
    not_configurable: "bms.cell_count",
    ov_register: "0xD0",
    persisted: &[
        ("bms.cell_ov_trigger_mv", "3.65 V"),
        ("bms.discharge_ut_trigger_c", "-15 °C"),
    ],
    nostore: "nostore=cell_over_voltage",
    // The group's register holds the alarm and the protection values.
    nostore_row: ("0xD1/0xD0", Some("protect_mv")),
    nopersist: (
        "nopersist=cell_under_voltage",
        "bms.cell_uv_trigger_mv",
        "0xD2",
    ),
    // After the 14th reply: in the middle of the group writes.
    cut_writes: "disconnect=14:3000",
};

family_tests!(PACE);

#[test]
fn every_pack_on_the_line_reads_with_its_identity() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = PACE.sim(dir.path(), "bms", "1", "3", &[]);
    for address in ["1", "2", "3"] {
        let snap = PACE.read(&db, &s, &["--address", address]);
        assert_plausible(&snap, 15, 0.01);
        assert_eq!(snap["protocol"], "pace-485");
        assert_eq!(snap["model"], "PACE-SIM");
        assert_eq!(snap["firmware_version"], "1.0 / 2.5.3");
        // Two cell sensors, then MOS and environment.
        assert_eq!(snap["temperatures_c"].as_array().unwrap().len(), 4);
        assert_eq!(snap["nominal_ah"], 100.0);
        assert_eq!(snap["charge_fet"], true);
    }
    // Nobody at ADR 0: silence, a communication error.
    let mut args = vec!["bms", "read"];
    args.extend(PACE.on(&s, "0", &["--attempts", "1", "--timeout-ms", "100"]));
    let run = packwright(&db, &args);
    run.expect(3);
    assert!(run.stderr.contains("no valid reply"), "{}", run.stderr);
    // ADR 16 does not exist on a Pace line.
    let mut args = vec!["bms", "read"];
    args.extend(PACE.on(&s, "16", &[]));
    packwright(&db, &args).expect(2);
}
