//! The real binary as a JBD client against the real binary's JBD simulator, over
//! pseudo-terminals: live read, configuration write with read-back and persistence re-read,
//! the write log, and every fault mode. No fault may make the client report a wrong value or
//! a write that did not happen.

use crate::support::serial::{assert_plausible, link, packwright, read_json, Sim, FAST};
use std::path::Path;

const PROFILE: &str = "lfp-16s1p-280ah";

fn sim(dir: &Path, name: &str, extra: &[&str]) -> Sim {
    Sim::lfp16(dir, name, "jbd", "42", extra)
}

fn config(db: &Path, verb: &str, sim: &Sim, extra: &[&str]) -> crate::support::serial::Run {
    let mut args = vec!["bms", "config", verb];
    if verb == "write" {
        // These boards belong to no pack: the tests exercise the board, not the line.
        args.push("--no-pack");
    }
    args.extend(link(sim, &["--profile", PROFILE]));
    args.extend_from_slice(extra);
    packwright(db, &args)
}

/// The board holds exactly the profile: `config read` against the profile finds no difference.
#[track_caller]
fn assert_board_holds_profile(db: &Path, sim: &Sim, extra: &[&str]) {
    let mut e = vec!["--json"];
    e.extend_from_slice(extra);
    let run = config(db, "read", sim, &e);
    let json = run.expect(0).json();
    assert_eq!(json["mismatches"], 0, "{json}");
    let regs = json["registers"].as_array().unwrap();
    assert!(regs.len() >= 27, "every planned register was read: {json}");
    assert!(regs.iter().all(|r| r["matches"] == true), "{json}");
}

fn last_write(db: &Path) -> serde_json::Value {
    let writes = packwright(db, &["bms", "writes", "--json", "--limit", "1"])
        .expect(0)
        .json();
    writes["items"][0].clone()
}

#[test]
fn live_read_reports_the_board() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", &[]);
    let snap = read_json(&db, &s, &[]);
    assert_plausible(&snap, 16, 0.01);
    assert_eq!(snap["model"], "JBD-SIM-16S");
    assert_eq!(snap["firmware_version"], "0x20");
    assert_eq!(snap["protection"], serde_json::json!([]));
    assert_eq!(snap["charge_fet"], true);
    assert_eq!(snap["discharge_fet"], true);
    assert_eq!(snap["temperatures_c"].as_array().unwrap().len(), 4);
    assert_eq!(snap["manufacture_date"], "2024-01-15");
    assert_eq!(snap["nominal_ah"], 100.0);
    // Text output carries the same reading.
    let text = packwright(
        &db,
        &["bms", "read", "--port", s.port(), "--protocol", "jbd"],
    );
    assert!(
        text.expect(0).stdout.contains("model          JBD-SIM-16S"),
        "{}",
        text.stdout
    );
}

#[test]
fn config_write_is_verified_persisted_and_logged() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", &[]);
    // Before: the board's factory defaults differ from the profile.
    let before = config(&db, "read", &s, &["--json"]);
    assert!(before.expect(1).json()["mismatches"].as_u64().unwrap() > 0);

    let run = config(&db, "write", &s, &["--barcode", "PW00000042", "--json"]);
    let report = run.expect(0).json();
    assert_eq!(report["outcome"], "verified");
    assert_eq!(report["saved"], true);
    let fields = report["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 28);
    for f in fields {
        assert_eq!(f["ok"], true, "{f}");
        assert_eq!(f["written"], f["read_back"], "{f}");
        assert_eq!(f["written"], f["persisted"], "{f}");
    }
    assert_board_holds_profile(&db, &s, &["--barcode", "PW00000042"]);

    // The log: who, where, which board, and every field.
    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "verified");
    assert_eq!(w["write"]["operator"], "test-operator");
    assert_eq!(w["write"]["station"], "bench-7");
    assert_eq!(w["write"]["profile"], PROFILE);
    assert!(
        w["write"]["bms_identity"]
            .as_str()
            .unwrap()
            .contains("JBD-SIM-16S fw 0x20"),
        "{w}"
    );
    assert!(w["write"]["finished_at"].is_string());
    let logged = w["fields"].as_array().unwrap();
    assert_eq!(logged.len(), 28);
    assert!(logged
        .iter()
        .all(|f| f["ok"] == true && f["persisted"].is_string()));

    // The live values follow the written configuration: capacity now 280 Ah.
    let snap = read_json(&db, &s, &[]);
    assert_eq!(snap["nominal_ah"], 280.0);
    // A second write finds the barcode it stored as the board's identity.
    config(&db, "write", &s, &["--barcode", "PW00000042"]).expect(0);
    assert!(last_write(&db)["write"]["bms_identity"]
        .as_str()
        .unwrap()
        .contains("barcode PW00000042"));
}

#[test]
fn dry_run_sends_nothing_and_hard_limits_refuse_before_a_byte() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    // No board at all: a dry run still plans.
    let run = packwright(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--no-pack",
            "--port",
            "/nonexistent/tty",
            "--protocol",
            "jbd",
            "--profile",
            PROFILE,
            "--dry-run",
            "--json",
        ],
    );
    let plan = run.expect(0).json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["plan"]["fields"].as_array().unwrap().len(), 27);

    // A profile over the LFP hard limit: exit 2 naming the field, logged as refused, and the
    // (nonexistent) port is never touched, or the exit code would be 3.
    let text = std::fs::read_to_string("profiles/lfp-16s1p-280ah.toml").unwrap();
    let bad = dir.path().join("hot.toml");
    std::fs::write(
        &bad,
        text.replace("cell_ov_trigger_mv = 3650", "cell_ov_trigger_mv = 3900"),
    )
    .unwrap();
    let run = packwright(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--no-pack",
            "--port",
            "/nonexistent/tty",
            "--protocol",
            "jbd",
            "--profile",
            bad.to_str().unwrap(),
        ],
    );
    run.expect(2);
    assert!(
        run.stderr.contains("bms.cell_ov_trigger_mv") && run.stderr.contains("3750"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "refused");
    assert!(w["write"]["detail"]
        .as_str()
        .unwrap()
        .contains("bms.cell_ov_trigger_mv"));
}

#[test]
fn an_absent_adapter_is_a_communication_error() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let run = packwright(
        &db,
        &[
            "bms",
            "read",
            "--port",
            "/nonexistent/ttyUSB9",
            "--protocol",
            "jbd",
        ],
    );
    run.expect(3);
    assert!(
        run.stderr.contains("adapter disconnected") && run.stderr.contains("/nonexistent/ttyUSB9"),
        "{}",
        run.stderr
    );
}

/// Transient wire faults: the write must still verify, and the board must hold the profile;
/// the simulator must have injected the fault (its count, by the fault's name, is above 0).
fn transient_fault_write(fault: &str, client: &[&str], causes_retries: bool) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", fault]);
    let mut s = sim(dir.path(), "bms", &extra);
    let mut args = vec!["--json", "--baud", "115200"];
    args.extend_from_slice(client);
    let run = config(&db, "write", &s, &args);
    let report = run.expect(0).json();
    assert_eq!(report["outcome"], "verified", "{fault}: {report}");
    if causes_retries {
        assert!(
            report["traffic"]["retries"].as_u64().unwrap() > 0,
            "{fault} caused no retry: {report}"
        );
    }
    let mut read_args = vec!["--baud", "115200"];
    read_args.extend_from_slice(client);
    assert_board_holds_profile(&db, &s, &read_args);
    assert_plausible(&read_json(&db, &s, &read_args), 16, 0.01);
    let name = fault.split('=').next().unwrap();
    assert!(s.injected(name) > 0, "the simulator never injected {fault}");
}

#[test]
fn dropped_bytes_are_retried() {
    transient_fault_write(
        "drop=0.2",
        &["--attempts", "8", "--timeout-ms", "150"],
        true,
    );
}

#[test]
fn corrupted_checksums_are_retried() {
    transient_fault_write(
        "corrupt=0.2",
        &["--attempts", "8", "--timeout-ms", "150"],
        true,
    );
}

#[test]
fn junk_between_frames_is_skipped() {
    transient_fault_write(
        "junk=0.5",
        &["--attempts", "8", "--timeout-ms", "150"],
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

#[test]
fn a_sleeping_board_is_woken_by_the_retry() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "sleep=300"]);
    let mut s = sim(dir.path(), "bms", &extra);
    // It starts asleep: the first frame is dropped, the retry is answered.
    assert_plausible(
        &read_json(&db, &s, &["--baud", "115200", "--timeout-ms", "150"]),
        16,
        0.01,
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    let report = config(
        &db,
        "write",
        &s,
        &["--json", "--baud", "115200", "--timeout-ms", "150"],
    )
    .expect(0)
    .json();
    assert_eq!(report["outcome"], "verified");
    assert!(
        report["traffic"]["retries"].as_u64().unwrap() >= 1,
        "{report}"
    );
    // With a single attempt the sleeping board never answers: a communication error, exit 3.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let run = packwright(
        &db,
        &[
            "bms",
            "read",
            "--port",
            s.port(),
            "--protocol",
            "jbd",
            "--attempts",
            "1",
            "--timeout-ms",
            "100",
        ],
    );
    run.expect(3);
    assert!(
        run.stderr
            .contains("no valid reply to read basic_info (0x03) after 1 attempt"),
        "{}",
        run.stderr
    );
    // Three times the board was asleep and a request only woke it: the first read, the
    // write and the single-attempt read.
    assert!(s.injected("sleep") >= 3);
}

#[test]
fn an_acknowledged_write_that_is_not_stored_fails_without_saving() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "nostore=cell_ov_trigger"]);
    let s = sim(dir.path(), "bms", &extra);
    let run = config(&db, "write", &s, &["--json", "--baud", "115200"]);
    let report = run.expect(1).json();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["saved"], false, "left factory mode without saving");
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("bms.cell_ov_trigger_mv (register 0x24): read back"),
        "{failure}"
    );
    assert!(failure.contains("did not store"), "{failure}");
    let bad: Vec<_> = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"].is_string())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["register"], "0x24");
    // Nothing was saved: the other registers still hold the factory defaults.
    let now = config(&db, "read", &s, &["--json", "--baud", "115200"])
        .expect(1)
        .json();
    let design = now["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "design_capacity")
        .unwrap();
    assert_eq!(design["value"], "100 Ah");
    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "failed");
    assert!(w["write"]["detail"].as_str().unwrap().contains("0x24"));
}

#[test]
fn a_write_lost_on_save_is_caught_by_the_persistence_re_read() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "nopersist=cell_uv_release"]);
    let s = sim(dir.path(), "bms", &extra);
    let report = config(&db, "write", &s, &["--json", "--baud", "115200"])
        .expect(1)
        .json();
    assert_eq!(report["saved"], true);
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("bms.cell_uv_release_mv (register 0x27): not persisted"),
        "{failure}"
    );
    let f = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["register"] == "0x27")
        .unwrap()
        .clone();
    assert_eq!(
        f["read_back"], f["written"],
        "the session read-back looked fine: {f}"
    );
    assert_ne!(f["persisted"], f["written"], "{f}");
    assert_eq!(f["ok"], false);
    assert_eq!(last_write(&db)["write"]["outcome"], "failed");
}

#[test]
fn an_unplugged_adapter_is_reported_and_reopened() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    // The adapter vanishes after the 3rd reply (one full read) for 400 ms.
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "disconnect=3:400"]);
    let mut s = sim(dir.path(), "bms", &extra);
    assert_plausible(&read_json(&db, &s, &["--baud", "115200"]), 16, 0.01);
    // Right after the unplug the link is gone; a read within its budget waits for it to come
    // back (a new pty behind the same link) and succeeds.
    let snap = read_json(
        &db,
        &s,
        &["--baud", "115200", "--timeout-ms", "300", "--attempts", "3"],
    );
    assert_plausible(&snap, 16, 0.01);
    assert_eq!(s.injected("disconnect"), 1, "one unplug");
    // A write cut by an unplug is a communication failure, never a success.
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "disconnect=20:3000"]);
    let mut s2 = sim(dir.path(), "bms2", &extra);
    let run = config(
        &db,
        "write",
        &s2,
        &[
            "--json",
            "--baud",
            "115200",
            "--timeout-ms",
            "200",
            "--attempts",
            "2",
        ],
    );
    run.expect(3);
    let report = run.json();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["communication_failure"], true);
    assert_eq!(report["saved"], false);
    assert!(
        report["failure"].as_str().unwrap().contains("disconnected"),
        "{report}"
    );
    assert_eq!(last_write(&db)["write"]["outcome"], "failed");
    assert_eq!(
        s2.injected("disconnect"),
        1,
        "the write was cut by the unplug"
    );
    // Killed for good: exit 3 naming the port.
    let mut s3 = sim(dir.path(), "bms3", &[]);
    s3.kill();
    let run = packwright(
        &db,
        &[
            "bms",
            "read",
            "--port",
            s3.port(),
            "--protocol",
            "jbd",
            "--timeout-ms",
            "100",
        ],
    );
    run.expect(3);
    assert!(
        run.stderr.contains("adapter disconnected"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cell_over_the_written_threshold_trips_protection() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "overvoltage=3"]);
    let s = sim(dir.path(), "bms", &extra);
    let snap = read_json(&db, &s, &["--baud", "115200"]);
    // The simulator's factory default trigger for LFP is 3630 mV: cell 3 sits 50 mV above it.
    assert_eq!(snap["cell_voltages_mv"][2], 3680);
    assert!(
        snap["protection"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("cell_overvoltage")),
        "{snap}"
    );
    assert_eq!(snap["charge_fet"], false);
    assert_eq!(snap["discharge_fet"], true);
    // Write a profile with a lower trigger: the pushed cell follows it.
    let text = std::fs::read_to_string("profiles/lfp-16s1p-280ah.toml").unwrap();
    let low = dir.path().join("low.toml");
    std::fs::write(
        &low,
        text.replace("cell_ov_trigger_mv = 3650", "cell_ov_trigger_mv = 3600")
            .replace("pack_ov_trigger_mv = 58400", "pack_ov_trigger_mv = 57600")
            .replace("pack_ov_release_mv = 55200", "pack_ov_release_mv = 55000")
            .replace(
                "charge_voltage_limit_v = 56.0",
                "charge_voltage_limit_v = 55.0",
            ),
    )
    .unwrap();
    let mut args = vec!["bms", "config", "write", "--no-pack"];
    args.extend(link(
        &s,
        &["--profile", low.to_str().unwrap(), "--baud", "115200"],
    ));
    packwright(&db, &args).expect(0);
    let snap = read_json(&db, &s, &["--baud", "115200"]);
    assert_eq!(snap["cell_voltages_mv"][2], 3650);
    assert_eq!(snap["charge_fet"], false);
}

#[test]
fn firmware_without_the_pin_command_and_boards_with_a_pin() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    // 0x21 answers the PIN command with 0x80; the write goes on.
    let mut extra = FAST.to_vec();
    extra.extend(["--firmware", "0x21"]);
    let s = sim(dir.path(), "fw21", &extra);
    config(&db, "write", &s, &["--baud", "115200"]).expect(0);
    // A board with a PIN set refuses factory mode without it, and the message says what to do.
    let mut extra = FAST.to_vec();
    extra.extend(["--firmware", "0x16", "--pin", "765828"]);
    let s = sim(dir.path(), "pin", &extra);
    let run = config(&db, "write", &s, &["--baud", "115200"]);
    run.expect(1);
    assert!(run.stderr.contains("--pin"), "{}", run.stderr);
    let run = config(&db, "write", &s, &["--baud", "115200", "--pin", "123456"]);
    run.expect(1);
    assert!(
        run.stderr.contains("refused the PIN with status 0x83"),
        "{}",
        run.stderr
    );
    config(&db, "write", &s, &["--baud", "115200", "--pin", "765828"]).expect(0);
}

#[test]
fn mos_control_switches_and_is_verified() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", &FAST);
    let mut args = vec!["bms", "set"];
    args.extend(link(&s, &["--baud", "115200", "--discharge-fet", "off"]));
    packwright(&db, &args).expect(0);
    let snap = read_json(&db, &s, &["--baud", "115200"]);
    assert_eq!(snap["discharge_fet"], false);
    assert_eq!(snap["charge_fet"], true);
    assert!(snap["protection"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("mos_software_lock")));
    let mut args = vec!["bms", "set"];
    args.extend(link(&s, &["--baud", "115200", "--soc", "50"]));
    let run = packwright(&db, &args);
    run.expect(3);
    assert!(
        run.stderr.contains("not supported over jbd"),
        "{}",
        run.stderr
    );
}

#[test]
fn decode_prints_every_fixture_frame_and_names_damage() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let fixtures: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/frames/public.json").unwrap(),
    )
    .unwrap();
    for protocol in ["jbd", "daly"] {
        let frames: Vec<&str> = fixtures
            .iter()
            .filter(|e| e["protocol"] == protocol)
            .map(|e| e["hex"].as_str().unwrap())
            .collect();
        let mut args = vec!["bms", "decode", "--protocol", protocol];
        args.extend(frames.iter().copied());
        let run = packwright(&db, &args);
        run.expect(0);
        assert_eq!(run.stdout.lines().count(), frames.len());
        for line in run.stdout.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
    let run = packwright(&db, &["bms", "decode", "--protocol", "jbd", "DD 03 00 1D 06 18 00 00 01 F2 01 F4 00 00 2C 7C 00 00 00 00 00 00 80 64 03 04 03 0B 8B 0B 89 0B 84 FA 8F 77"]);
    run.expect(2);
    assert!(
        run.stderr
            .contains("checksum 0xFA8F but frame sums to 0xFA8E"),
        "{}",
        run.stderr
    );
    let run = packwright(
        &db,
        &[
            "bms",
            "decode",
            "--protocol",
            "jbd",
            "DD 04 00 08 0F 45 0F 3E 0F 37",
        ],
    );
    run.expect(2);
    assert!(
        run.stderr
            .contains("length byte says 8 data bytes but the frame carries 3"),
        "{}",
        run.stderr
    );
    let run = packwright(
        &db,
        &[
            "bms",
            "decode",
            "--protocol",
            "daly",
            "A5 01 90 07 02 10 00 00 75 6F 03 BC F3",
        ],
    );
    run.expect(2);
    assert!(run.stderr.contains("length byte is 7"), "{}", run.stderr);
    let basic = packwright(&db, &["bms", "decode", "--protocol", "jbd", "DD 03 00 1F 19 DF F8 24 0D A5 0F A0 00 02 24 91 00 00 00 00 00 00 12 57 03 11 04 0B 98 0B A9 0B 96 0B 97 F8 9A 77"]);
    let v: serde_json::Value = serde_json::from_str(basic.expect(0).stdout.trim()).unwrap();
    assert_eq!(v["pack_voltage_v"], 66.23);
    assert_eq!(v["current_a"], -20.12);
    assert_eq!(v["manufacture_date"], "2018-04-17");
}

#[test]
fn big_packs_switch_the_board_to_the_x10_unit() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bms", &FAST);
    // 840 Ah does not fit 10 mAh steps: the plan sets 0x2D bit 12 and writes 100 mAh units.
    let text = std::fs::read_to_string("profiles/lfp-16s1p-280ah.toml").unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(
        &big,
        text.replace(
            "design_capacity_mah = 280000",
            "design_capacity_mah = 840000",
        )
        .replace("cycle_capacity_mah = 224000", "cycle_capacity_mah = 700000"),
    )
    .unwrap();
    let mut args = vec!["bms", "config", "write", "--no-pack", "--json"];
    args.extend(link(
        &s,
        &["--profile", big.to_str().unwrap(), "--baud", "115200"],
    ));
    let report = packwright(&db, &args).expect(0).json();
    let fields = report["fields"].as_array().unwrap();
    let get = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(get("design_capacity")["persisted"], "840 Ah (0x20D0)");
    assert_eq!(get("charge_overcurrent")["persisted"], "150 A (0x05DC)");
    let func = get("function_config")["persisted"]
        .as_str()
        .unwrap()
        .to_string();
    let bits =
        u16::from_str_radix(func.split("0x").last().unwrap().trim_end_matches(')'), 16).unwrap();
    assert_ne!(bits & (1 << 12), 0, "unit flag set: {func}");
    // Live values in the board's 100 mAh unit, read as such.
    let snap = read_json(&db, &s, &["--baud", "115200", "--unit-x10"]);
    assert_eq!(snap["nominal_ah"], 840.0);
    let mut args = vec!["bms", "config", "read", "--json"];
    args.extend(link(
        &s,
        &["--profile", big.to_str().unwrap(), "--baud", "115200"],
    ));
    assert_eq!(packwright(&db, &args).expect(0).json()["mismatches"], 0);
}
