//! The real binary as a JK PB client (RS485 Modbus RTU) against the real binary's JK PB
//! simulator, over pseudo-terminals: several boards on one line, live read and device info,
//! the configuration write with read-back and the settings-block re-read, the write log, and
//! every fault mode. No fault may make the client report a wrong value or a write that did
//! not happen; a board that acknowledges without storing is reported failed, never verified.

use crate::support::serial::{assert_plausible, packwright, read_json, Run, Sim};
use std::path::Path;

const PROFILE: &str = "lfp-15s1p-jk-100ah";
/// Every settings-block field the profile has a value for.
const FIELDS: usize = 19;

/// A line of `boards` 15-cell LFP JK PB boards from address `first`, with `extra` arguments.
fn sim(dir: &Path, name: &str, first: &str, boards: &str, extra: &[&str]) -> Sim {
    let mut args = vec![
        "--protocol",
        "jk-pb",
        "--cells",
        "15",
        "--sensors",
        "2",
        "--chemistry",
        "LFP",
        "--seed",
        "5",
        "--turnaround-ms",
        "1",
        "--address",
        first,
        "--boards",
        boards,
    ];
    args.extend_from_slice(extra);
    Sim::serial(dir, name, &args)
}

fn on<'a>(s: &'a Sim, address: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--port",
        s.port(),
        "--protocol",
        "jk-pb",
        "--address",
        address,
    ];
    v.extend_from_slice(extra);
    v
}

fn config(db: &Path, verb: &str, s: &Sim, address: &str, extra: &[&str]) -> Run {
    let mut args = vec!["bms", "config", verb];
    if verb == "write" {
        args.push("--no-pack");
    }
    args.extend(on(s, address, &["--profile", PROFILE]));
    args.extend_from_slice(extra);
    packwright(db, &args)
}

fn last_write(db: &Path) -> serde_json::Value {
    packwright(db, &["bms", "writes", "--json", "--limit", "1"])
        .expect(0)
        .json()["items"][0]
        .clone()
}

#[track_caller]
fn assert_board_holds_profile(db: &Path, s: &Sim, address: &str, extra: &[&str]) {
    let mut e = vec!["--json"];
    e.extend_from_slice(extra);
    let json = config(db, "read", s, address, &e).expect(0).json();
    assert_eq!(json["mismatches"], 0, "{json}");
    let regs = json["registers"].as_array().unwrap();
    assert_eq!(regs.len(), FIELDS, "{json}");
    assert!(regs.iter().all(|r| r["matches"] == true), "{json}");
}

#[test]
fn every_board_on_the_line_reads_and_address_0_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", "2", "3", &[]);
    for address in ["2", "3", "4"] {
        let snap = read_json(&db, &s, &["--address", address]);
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
    args.extend(on(&s, "1", &["--attempts", "1", "--timeout-ms", "100"]));
    let run = packwright(&db, &args);
    run.expect(3);
    assert!(run.stderr.contains("no valid reply"), "{}", run.stderr);
    // Address 0 would make a board the bus master: refused before a byte is sent.
    let mut args = vec!["bms", "read"];
    args.extend(on(&s, "0", &[]));
    let run = packwright(&db, &args);
    run.expect(2);
    assert!(run.stderr.contains("master"), "{}", run.stderr);
}

#[test]
fn config_write_is_verified_persisted_and_logged_for_one_board_of_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", "1", "2", &[]);
    let before = config(&db, "read", &s, "2", &["--json"]).expect(1).json();
    assert!(before["mismatches"].as_u64().unwrap() > 0, "{before}");

    let report = config(&db, "write", &s, "2", &["--json"]).expect(0).json();
    assert_eq!(report["outcome"], "verified", "{report}");
    assert_eq!(report["saved"], true);
    let fields = report["fields"].as_array().unwrap();
    assert_eq!(fields.len(), FIELDS);
    for f in fields {
        assert_eq!(f["ok"], true, "{f}");
        assert_eq!(f["written"], f["read_back"], "{f}");
        assert_eq!(f["written"], f["persisted"], "{f}");
    }
    let ov = fields
        .iter()
        .find(|f| f["field"] == "bms.cell_ov_trigger_mv")
        .unwrap();
    assert_eq!(ov["register"], "0x100C");
    assert_eq!(ov["written"], "3.65 V");
    assert_board_holds_profile(&db, &s, "2", &[]);
    // The other board on the line was not touched.
    let other = config(&db, "read", &s, "1", &["--json"]).expect(1).json();
    assert!(other["mismatches"].as_u64().unwrap() > 0, "{other}");

    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "verified");
    assert_eq!(w["write"]["profile"], PROFILE);
    assert!(
        w["write"]["bms_identity"]
            .as_str()
            .unwrap()
            .contains("jk-pb JK_PB2A16S15P fw 19.08 barcode JKSIM00000002"),
        "{w}"
    );
    assert_eq!(w["fields"].as_array().unwrap().len(), FIELDS);

    // The dry run says what this board cannot be configured with.
    let run = config(&db, "write", &s, "2", &["--dry-run"]);
    let out = &run.expect(0).stdout;
    assert!(
        out.contains("not configurable on this board: bms.pack_ov_trigger_mv"),
        "{out}"
    );
}

/// Transient wire faults: the write must still verify, the board hold the profile, and the
/// simulator must have injected the fault.
fn transient_fault_write(fault: &str, client: &[&str], causes_retries: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let mut s = sim(dir.path(), "bms", "3", "1", &["--fault", fault]);
    let mut args = vec!["--json"];
    args.extend_from_slice(client);
    let report = config(&db, "write", &s, "3", &args).expect(0).json();
    assert_eq!(report["outcome"], "verified", "{fault}: {report}");
    if causes_retries {
        assert!(
            report["traffic"]["retries"].as_u64().unwrap() > 0,
            "{fault} caused no retry: {report}"
        );
    }
    assert_board_holds_profile(&db, &s, "3", client);
    let mut read = vec!["--address", "3"];
    read.extend_from_slice(client);
    assert_plausible(&read_json(&db, &s, &read), 15, 0.01);
    let name = fault.split('=').next().unwrap();
    assert!(s.injected(name) > 0, "the simulator never injected {fault}");
}

#[test]
fn dropped_bytes_are_retried() {
    transient_fault_write(
        "drop=0.2",
        &["--attempts", "8", "--timeout-ms", "100"],
        true,
    );
}

#[test]
fn corrupted_crcs_are_retried() {
    transient_fault_write(
        "corrupt=0.2",
        &["--attempts", "8", "--timeout-ms", "100"],
        true,
    );
}

#[test]
fn junk_between_frames_is_skipped() {
    transient_fault_write(
        "junk=0.5",
        &["--attempts", "8", "--timeout-ms", "100"],
        false,
    );
}

#[test]
fn split_frames_are_reassembled() {
    transient_fault_write("split", &[], false);
}

#[test]
fn delayed_replies_within_the_timeout_are_taken() {
    transient_fault_write("delay=120", &["--timeout-ms", "400"], false);
}

/// Stale replies: every reply comes after the client gave up on its request, so each one
/// arrives while a retry waits. A late reply is only ever taken as the answer to the same
/// request (address, function, registers); the link then waits out stragglers before the next
/// request, so no read-back can be answered by an older reply.
#[test]
fn stale_replies_are_never_taken_for_another_request() {
    transient_fault_write(
        "delay=150",
        &["--timeout-ms", "100", "--attempts", "4"],
        true,
    );
}

#[test]
fn a_sleeping_board_is_woken_by_the_retry() {
    transient_fault_write("sleep=300", &["--timeout-ms", "150"], true);
}

#[test]
fn an_acknowledged_write_that_is_not_stored_is_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let s = sim(
        dir.path(),
        "bms",
        "1",
        "1",
        &["--fault", "nostore=cell_ovp_mv"],
    );
    let report = config(&db, "write", &s, "1", &["--json"]).expect(1).json();
    assert_eq!(report["outcome"], "failed", "{report}");
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("bms.cell_ov_trigger_mv (register 0x100C): read back"),
        "{failure}"
    );
    assert!(failure.contains("did not store"), "{failure}");
    let bad: Vec<_> = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false && f["reason"].is_string())
        .collect();
    assert_eq!(bad.len(), 1, "{report}");
    assert_eq!(bad[0]["register"], "0x100C");
    assert!(report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["ok"] == false));
    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "failed");
    assert!(w["write"]["detail"].as_str().unwrap().contains("0x100C"));
    // The board still holds its own value there: config read says so.
    let now = config(&db, "read", &s, "1", &["--json"]).expect(1).json();
    let ov = now["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["register"] == "0x100C")
        .unwrap()
        .clone();
    assert_eq!(ov["matches"], false, "{ov}");
}

#[test]
fn a_write_the_settings_block_does_not_keep_is_caught_by_the_block_re_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let s = sim(
        dir.path(),
        "bms",
        "1",
        "1",
        &["--fault", "nopersist=cell_uvp_release_mv"],
    );
    let report = config(&db, "write", &s, "1", &["--json"]).expect(1).json();
    assert_eq!(report["outcome"], "failed", "{report}");
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("bms.cell_uv_release_mv (register 0x1008): not persisted"),
        "{failure}"
    );
    let f = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["register"] == "0x1008")
        .unwrap()
        .clone();
    assert_eq!(f["read_back"], f["written"], "the echo looked fine: {f}");
    assert_ne!(f["persisted"], f["written"], "{f}");
    assert_eq!(f["ok"], false);
    assert_eq!(last_write(&db)["write"]["outcome"], "failed");
}

#[test]
fn an_unplugged_adapter_is_reopened_and_a_cut_write_is_never_verified() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    // The adapter vanishes after the 2nd reply (the live block) for 400 ms.
    let mut s = sim(
        dir.path(),
        "bms",
        "1",
        "1",
        &["--fault", "disconnect=2:400"],
    );
    let snap = read_json(
        &db,
        &s,
        &["--address", "1", "--timeout-ms", "300", "--attempts", "3"],
    );
    assert_plausible(&snap, 15, 0.01);
    assert_eq!(s.injected("disconnect"), 1, "one unplug");
    // Cut in the middle of the writes for longer than the client waits.
    let mut s2 = sim(
        dir.path(),
        "bms2",
        "1",
        "1",
        &["--fault", "disconnect=12:3000"],
    );
    let run = config(
        &db,
        "write",
        &s2,
        "1",
        &["--json", "--timeout-ms", "200", "--attempts", "2"],
    );
    run.expect(3);
    let report = run.json();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["communication_failure"], true);
    assert!(
        report["failure"].as_str().unwrap().contains("disconnected"),
        "{report}"
    );
    assert_eq!(last_write(&db)["write"]["outcome"], "failed");
    assert_eq!(s2.injected("disconnect"), 1);
}

#[test]
fn a_cell_over_the_written_threshold_trips_protection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", "1", "1", &["--fault", "overvoltage=3"]);
    config(&db, "write", &s, "1", &[]).expect(0);
    let snap = read_json(&db, &s, &["--address", "1"]);
    // The profile's trigger is 3650 mV: cell 3 sits 50 mV above it.
    assert_eq!(snap["cell_voltages_mv"][2], 3700, "{snap}");
    assert!(
        snap["protection"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("cell_overvoltage")),
        "{snap}"
    );
    assert_eq!(snap["charge_fet"], false);
    assert_eq!(snap["discharge_fet"], true);
}
