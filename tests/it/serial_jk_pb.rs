//! The real binary as a JK PB client (RS485 Modbus RTU) against the real binary's JK PB
//! simulator, over pseudo-terminals: several boards on one line, live read and device info,
//! address 0 refused; the configuration write with read-back and the settings-block re-read,
//! the write log and every fault mode are the shared cases of [`crate::support::family`].

use crate::support::family::{family_tests, Family};
use crate::support::serial::{assert_plausible, packwright};

const JK_PB: Family = Family {
    protocol: "jk-pb",
    profile: "lfp-15s1p-jk-100ah",
    // Every settings-block field the profile has a value for.
    fields: 19,
    // The board's default speed, 115200.
    line: &[],
    identity: "jk-pb JK_PB2A16S15P fw 19.08 barcode JKSIM00000002",
    not_configurable: "bms.pack_ov_trigger_mv",
    ov_register: "0x100C",
    persisted: &[("bms.cell_ov_trigger_mv", "3.65 V")],
    nostore: "nostore=cell_ovp_mv",
    nostore_row: ("0x100C", None),
    // The settings block does not keep the cell UV release.
    nopersist: (
        "nopersist=cell_uvp_release_mv",
        "bms.cell_uv_release_mv",
        "0x1008",
    ),
    // After the 12th reply: in the middle of the settings writes.
    cut_writes: "disconnect=12:3000",
};

family_tests!(JK_PB);

#[test]
fn every_board_on_the_line_reads_and_address_0_is_refused() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = JK_PB.sim(dir.path(), "bms", "2", "3", &[]);
    for address in ["2", "3", "4"] {
        let snap = JK_PB.read(&db, &s, &["--address", address]);
        assert_plausible(&snap, 15, 0.01);
        assert_eq!(snap["protocol"], "jk-pb");
        assert_eq!(snap["model"], "JK_PB2A16S15P");
        assert_eq!(snap["firmware_version"], "19.08");
        assert_eq!(snap["temperatures_c"].as_array().unwrap().len(), 2);
        assert_eq!(snap["nominal_ah"], 100.0);
        assert_eq!(snap["manufacture_date"], "2024-01-15");
    }
    // Nobody at address 1: silence, a communication error.
    let mut args = vec!["bms", "read"];
    args.extend(JK_PB.on(&s, "1", &["--attempts", "1", "--timeout-ms", "100"]));
    let run = packwright(&db, &args);
    run.expect(3);
    assert!(run.stderr.contains("no valid reply"), "{}", run.stderr);
    // Address 0 would make a board the bus master: refused before a byte is sent.
    let mut args = vec!["bms", "read"];
    args.extend(JK_PB.on(&s, "0", &[]));
    let run = packwright(&db, &args);
    run.expect(2);
    assert!(run.stderr.contains("master"), "{}", run.stderr);
}
