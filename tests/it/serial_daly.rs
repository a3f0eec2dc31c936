//! The real binary as a Daly client against the real binary's Daly simulator, over
//! pseudo-terminals: live read with multi-frame cells and temperatures, several boards on one
//! RS485 line, the known writes (MOS, SOC) proven by read-back, and the wire faults.

use crate::support::serial::{assert_plausible, link, packwright, read_json, Sim, FAST};
use std::path::Path;

fn sim(dir: &Path, name: &str, extra: &[&str]) -> Sim {
    Sim::lfp16(dir, name, "daly", "7", extra)
}

#[test]
fn live_read_assembles_every_cell_and_sensor() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "daly", &["--sensors", "9"]);
    let snap = read_json(&db, &s, &[]);
    // Daly sends the pack voltage in 0.1 V.
    assert_plausible(&snap, 16, 0.1);
    // 16 cells take 6 frames of 3, 9 sensors 2 frames of 7.
    assert_eq!(snap["temperatures_c"].as_array().unwrap().len(), 9);
    assert_eq!(snap["model"], "DL-BMS-SIM");
    assert_eq!(snap["firmware_version"], "SIM-1.0");
    assert_eq!(snap["nominal_ah"], 100.0);
    assert_eq!(snap["manufacture_date"], "2024-03-08");
    assert_eq!(snap["cycles"], 11);
    assert_eq!(snap["charge_fet"], true);
    assert_eq!(snap["protection"], serde_json::json!([]));
    let text = packwright(
        &db,
        &["bms", "read", "--port", s.port(), "--protocol", "daly"],
    );
    assert!(
        text.expect(0).stdout.contains("cells (16)"),
        "{}",
        text.stdout
    );
}

#[test]
fn several_boards_on_one_line_answer_by_address() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "bus", &["--boards", "2"]);
    let one = read_json(&db, &s, &["--address", "1"]);
    let two = read_json(&db, &s, &["--address", "2"]);
    assert_plausible(&one, 16, 0.1);
    assert_plausible(&two, 16, 0.1);
    // Each board has its own identity and history.
    assert_eq!(one["cycles"], 11);
    assert_eq!(two["cycles"], 12);
    let uart = read_json(&db, &s, &["--address", "0x80"]);
    assert_eq!(uart["cycles"], 11, "the UART address reaches board 1");
    // Nobody answers board 3: a communication error, not an invented reading.
    let mut args = vec!["bms", "read"];
    args.extend(link(
        &s,
        &["--address", "3", "--timeout-ms", "100", "--attempts", "1"],
    ));
    let run = packwright(&db, &args);
    run.expect(3);
    assert!(
        run.stderr.contains("no valid reply to soc (0x90)"),
        "{}",
        run.stderr
    );
    let mut args = vec!["bms", "read"];
    args.extend(link(&s, &["--address", "0x12"]));
    packwright(&db, &args).expect(2);
}

#[test]
fn the_current_sign_follows_the_firmware() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    // Same seed, same live values; only the firmware's sign convention differs.
    let normal = sim(
        dir.path(),
        "normal",
        &["--current-sign", "above-offset-discharges"],
    );
    let inverted = sim(
        dir.path(),
        "inverted",
        &["--current-sign", "above-offset-charges"],
    );
    let a = read_json(&db, &normal, &[]);
    let b = read_json(&db, &inverted, &[]);
    // The simulated load discharges at about 2 A: both must read negative (discharging),
    // the inverted firmware's sign recognised from its charge-state byte.
    let (ia, ib) = (
        a["current_a"].as_f64().unwrap(),
        b["current_a"].as_f64().unwrap(),
    );
    assert!(ia < -0.5 && ib < -0.5, "{ia} {ib}");
    // Forcing the wrong convention flips it: the sign is explicit, not guessed silently.
    let forced = read_json(
        &db,
        &inverted,
        &["--current-sign", "above-offset-discharges"],
    );
    assert!(forced["current_a"].as_f64().unwrap() > 0.5, "{forced}");
}

#[test]
fn mos_and_soc_writes_are_proven_by_read_back() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = sim(dir.path(), "daly", &FAST);
    let set = |extra: &[&str]| {
        let mut args = vec!["bms", "set", "--json"];
        args.extend(link(&s, &["--baud", "115200"]));
        args.extend_from_slice(extra);
        packwright(&db, &args)
    };
    let run = set(&["--charge-fet", "off"]);
    let out = run.expect(0).json();
    assert_eq!(out["verified"], true);
    assert_eq!(out["snapshot"]["charge_fet"], false);
    assert_eq!(out["snapshot"]["discharge_fet"], true);
    let out = set(&["--soc", "42.5"]).expect(0).json();
    assert!((out["snapshot"]["soc_pct"].as_f64().unwrap() - 42.5).abs() <= 1.0);
    set(&["--charge-fet", "on"]).expect(0);
    assert_eq!(
        read_json(&db, &s, &["--baud", "115200"])["charge_fet"],
        true
    );
    set(&["--soc", "140"]).expect(2);
    // Configuration writes are JBD-only over the public Daly protocol: refused, logged.
    let run = packwright(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--no-pack",
            "--port",
            s.port(),
            "--protocol",
            "daly",
            "--profile",
            "lfp-16s1p-280ah",
        ],
    );
    run.expect(2);
    assert!(
        run.stderr.contains("configures a jbd board"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_acknowledged_but_unstored_soc_is_not_reported_as_done() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "nostore=soc+charge_mos"]);
    let s = sim(dir.path(), "daly", &extra);
    let mut args = vec!["bms", "set"];
    args.extend(link(&s, &["--baud", "115200", "--soc", "10"]));
    let run = packwright(&db, &args);
    run.expect(1);
    assert!(run.stderr.contains("SOC: asked 10 %"), "{}", run.stderr);
    let mut args = vec!["bms", "set"];
    args.extend(link(&s, &["--baud", "115200", "--charge-fet", "off"]));
    let run = packwright(&db, &args);
    run.expect(1);
    assert!(
        run.stderr
            .contains("charge FET: asked off, the board reports on"),
        "{}",
        run.stderr
    );
    // Both attempts are in the write log, with the board, the operator and the field.
    let log = packwright(&db, &["bms", "writes", "--json", "--limit", "2"])
        .expect(0)
        .json();
    for w in log["items"].as_array().unwrap() {
        assert_eq!(w["write"]["outcome"], "failed", "{w}");
        assert_eq!(w["write"]["operator"], "test-operator");
        assert!(
            w["write"]["bms_identity"]
                .as_str()
                .unwrap()
                .contains("DL-BMS-SIM"),
            "{w}"
        );
        assert_eq!(w["fields"][0]["ok"], false);
    }
    assert_eq!(log["items"][0]["fields"][0]["field"], "charge_fet");
    assert_eq!(log["items"][1]["fields"][0]["field"], "soc_pct");
}

/// Wire faults on reads: every reading that comes back is right (plausible and
/// self-consistent); none is invented from damaged bytes. And the faults did happen: the
/// simulator's count of each one in `fault` (by name) is above 0.
fn faulty_reads(fault: &str, client_args: &[&str]) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", fault]);
    let mut s = sim(dir.path(), "daly", &extra);
    let mut args = vec!["--baud", "115200"];
    args.extend_from_slice(client_args);
    for _ in 0..5 {
        assert_plausible(&read_json(&db, &s, &args), 16, 0.1);
    }
    let injected = s.stop();
    for name in fault.split(',').map(|f| f.split('=').next().unwrap()) {
        assert!(injected[name] > 0, "{name} never injected: {injected:?}");
    }
}

#[test]
fn dropped_bytes_never_yield_a_wrong_reading() {
    faulty_reads("drop=0.15", &["--attempts", "10", "--timeout-ms", "120"]);
}

#[test]
fn corrupted_checksums_never_yield_a_wrong_reading() {
    faulty_reads("corrupt=0.15", &["--attempts", "10", "--timeout-ms", "120"]);
}

#[test]
fn junk_and_split_frames_are_handled() {
    faulty_reads(
        "junk=0.4,split",
        &["--attempts", "6", "--timeout-ms", "150"],
    );
}

#[test]
fn delayed_replies_are_taken() {
    faulty_reads("delay=100", &["--timeout-ms", "300"]);
}

#[test]
fn an_unplugged_adapter_comes_back() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    // One full read is about 14 replies; the adapter drops out in the middle of the second.
    extra.extend(["--fault", "disconnect=20:300"]);
    let mut s = sim(dir.path(), "daly", &extra);
    assert_plausible(&read_json(&db, &s, &["--baud", "115200"]), 16, 0.1);
    assert_plausible(
        &read_json(&db, &s, &["--baud", "115200", "--timeout-ms", "300"]),
        16,
        0.1,
    );
    assert_eq!(s.injected("disconnect"), 1, "one unplug");
}

#[test]
fn a_cell_over_the_limit_trips_the_failure_flags() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut extra = FAST.to_vec();
    extra.extend(["--fault", "overvoltage=5"]);
    let s = sim(dir.path(), "daly", &extra);
    let snap = read_json(&db, &s, &["--baud", "115200"]);
    // LFP: maximum charge 3650 mV; the pushed cell sits 50 mV above.
    assert_eq!(snap["cell_voltages_mv"][4], 3700);
    assert!(
        snap["protection"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("cell_overvoltage_l1")),
        "{snap}"
    );
    assert_eq!(snap["charge_fet"], false);
}

/// What a Daly board cannot be configured with is said before anything is sent, and what is
/// written instead (the FETs, the SOC) is named.
#[test]
fn profile_check_says_up_front_what_a_daly_board_cannot_take() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let text = std::fs::read_to_string("profiles/lfp-16s1p-280ah.toml").unwrap();
    let daly = dir.path().join("daly.toml");
    std::fs::write(
        &daly,
        text.replace("protocol = \"jbd\"", "protocol = \"daly\""),
    )
    .unwrap();
    let run = packwright(&db, &["profile", "check", daly.to_str().unwrap()]);
    let out = &run.expect(0).stdout;
    assert!(
        out.contains("bms daly: 0 value(s) written and verified"),
        "{out}"
    );
    assert!(
        out.contains("not configurable on this board: every [bms] threshold"),
        "{out}"
    );
    assert!(out.contains("0xD9/0xDA") && out.contains("0x21"), "{out}");
    // The same profile's configuration write is refused before a byte is sent.
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
            "daly",
            "--profile",
            daly.to_str().unwrap(),
        ],
    );
    run.expect(2);
    assert!(
        run.stderr.contains("no writable protection thresholds"),
        "{}",
        run.stderr
    );
}
