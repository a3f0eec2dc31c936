//! One test body for the configurable serial families with several boards on a line (JK PB,
//! Pace v25): the configuration write verified, persisted and logged, every wire fault, a
//! write acknowledged but not stored, a value the board only echoes, an unplugged adapter and
//! a cell over the written threshold. A family is data ([`Family`]); `family_tests!(FAMILY)`
//! in the family's test module writes one `#[test]` per case there, so each keeps its name
//! (`serial_jk_pb::dropped_bytes_are_retried`, `serial_pace::dropped_bytes_are_retried`).
//! No fault may make the client report a wrong value or a write that did not happen; a board
//! that acknowledges without storing is reported failed, never verified.

#![allow(dead_code)]

use super::serial::{assert_plausible, packwright, read_json, Run, Sim};
use crate::support::TestDir;
use std::path::{Path, PathBuf};

/// What differs between the families; everything else is the same test.
pub struct Family {
    /// `--protocol` of the simulator and the client.
    pub protocol: &'static str,
    /// A shipped 15-cell LFP profile for this family.
    pub profile: &'static str,
    /// How many fields of the profile the board takes: every one is written and read back.
    pub fields: usize,
    /// Arguments both ends of the line need (its speed).
    pub line: &'static [&'static str],
    /// The identity the write log names for the board at address 2 of a line from 1.
    pub identity: &'static str,
    /// A profile field the board has no place for (the dry run names it).
    pub not_configurable: &'static str,
    /// The cell over-voltage trigger's register, as reports name it.
    pub ov_register: &'static str,
    /// Field values as the report shows them once written (`written` = `read_back` =
    /// `persisted` is checked for every field).
    pub persisted: &'static [(&'static str, &'static str)],
    /// The simulator fault that acknowledges the cell over-voltage write without storing it.
    pub nostore: &'static str,
    /// The `config read` row of that value: register and, where a register holds two, name.
    pub nostore_row: (&'static str, Option<&'static str>),
    /// The simulator fault that keeps the cell under-voltage value only until the re-read,
    /// with the field and the register the failure names.
    pub nopersist: (&'static str, &'static str, &'static str),
    /// The simulator fault that unplugs the adapter in the middle of the writes for 3 s.
    pub cut_writes: &'static str,
}

impl Family {
    /// A line of `boards` 15-cell LFP boards from address `first`, with `extra` arguments.
    pub fn sim(&self, dir: &Path, name: &str, first: &str, boards: &str, extra: &[&str]) -> Sim {
        let mut args = vec![
            "--protocol",
            self.protocol,
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
        ];
        args.extend_from_slice(self.line);
        args.extend_from_slice(&["--address", first, "--boards", boards]);
        args.extend_from_slice(extra);
        Sim::serial(dir, name, &args)
    }

    /// The client's arguments for the board at `address` on `s`, then `extra`.
    pub fn on<'a>(&self, s: &'a Sim, address: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--port",
            s.port(),
            "--protocol",
            self.protocol,
            "--address",
            address,
        ];
        v.extend_from_slice(self.line);
        v.extend_from_slice(extra);
        v
    }

    /// `bms read --json` of a board on `s`, at the line's speed.
    pub fn read(&self, db: &Path, s: &Sim, extra: &[&str]) -> serde_json::Value {
        let mut e = self.line.to_vec();
        e.extend_from_slice(extra);
        read_json(db, s, &e)
    }

    /// `bms config VERB` of the board at `address` with the family's profile.
    pub fn config(&self, db: &Path, verb: &str, s: &Sim, address: &str, extra: &[&str]) -> Run {
        let mut args = vec!["bms", "config", verb];
        if verb == "write" {
            args.push("--no-pack");
        }
        args.extend(self.on(s, address, &["--profile", self.profile]));
        args.extend_from_slice(extra);
        packwright(db, &args)
    }

    #[track_caller]
    pub fn assert_board_holds_profile(&self, db: &Path, s: &Sim, address: &str, extra: &[&str]) {
        let mut e = vec!["--json"];
        e.extend_from_slice(extra);
        let json = self.config(db, "read", s, address, &e).expect(0).json();
        assert_eq!(json["mismatches"], 0, "{json}");
        let regs = json["registers"].as_array().unwrap();
        assert_eq!(regs.len(), self.fields, "{json}");
        assert!(regs.iter().all(|r| r["matches"] == true), "{json}");
    }
}

pub fn last_write(db: &Path) -> serde_json::Value {
    packwright(db, &["bms", "writes", "--json", "--limit", "1"])
        .expect(0)
        .json()["items"][0]
        .clone()
}

fn field<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no field {name}: {report}"))
}

pub fn config_write_is_verified_persisted_and_logged_for_one_board_of_the_line(f: &Family) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = f.sim(dir.path(), "bms", "1", "2", &[]);
    let before = f.config(&db, "read", &s, "2", &["--json"]).expect(1).json();
    assert!(before["mismatches"].as_u64().unwrap() > 0, "{before}");

    let report = f
        .config(&db, "write", &s, "2", &["--json"])
        .expect(0)
        .json();
    assert_eq!(report["outcome"], "verified", "{report}");
    assert_eq!(report["saved"], true);
    let fields = report["fields"].as_array().unwrap();
    assert_eq!(fields.len(), f.fields);
    for x in fields {
        assert_eq!(x["ok"], true, "{x}");
        assert_eq!(x["written"], x["read_back"], "{x}");
        assert_eq!(x["written"], x["persisted"], "{x}");
    }
    assert_eq!(
        field(&report, "bms.cell_ov_trigger_mv")["register"],
        f.ov_register
    );
    for (name, value) in f.persisted {
        assert_eq!(field(&report, name)["persisted"], *value, "{name}");
    }
    f.assert_board_holds_profile(&db, &s, "2", &[]);
    // The other board on the line was not touched.
    let other = f.config(&db, "read", &s, "1", &["--json"]).expect(1).json();
    assert!(other["mismatches"].as_u64().unwrap() > 0, "{other}");

    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "verified");
    assert_eq!(w["write"]["profile"], f.profile);
    assert!(
        w["write"]["bms_identity"]
            .as_str()
            .unwrap()
            .contains(f.identity),
        "{w}"
    );
    assert_eq!(w["fields"].as_array().unwrap().len(), f.fields);

    // The dry run says what this board cannot be configured with.
    let run = f.config(&db, "write", &s, "2", &["--dry-run"]);
    let out = &run.expect(0).stdout;
    let want = format!("not configurable on this board: {}", f.not_configurable);
    assert!(out.contains(&want), "{out}");
}

/// A client that waits 100 ms for a reply and tries 8 times: what lossy wire faults need.
pub const PATIENT: [&str; 4] = ["--attempts", "8", "--timeout-ms", "100"];

/// Transient wire faults: the write must still verify, the board hold the profile, and the
/// simulator must have injected the fault.
pub fn transient_fault_write(f: &Family, fault: &str, client: &[&str], causes_retries: bool) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let mut s = f.sim(dir.path(), "bms", "3", "1", &["--fault", fault]);
    let mut args = vec!["--json"];
    args.extend_from_slice(client);
    let report = f.config(&db, "write", &s, "3", &args).expect(0).json();
    assert_eq!(report["outcome"], "verified", "{fault}: {report}");
    if causes_retries {
        assert!(
            report["traffic"]["retries"].as_u64().unwrap() > 0,
            "{fault} caused no retry: {report}"
        );
    }
    f.assert_board_holds_profile(&db, &s, "3", client);
    let mut read = vec!["--address", "3"];
    read.extend_from_slice(client);
    assert_plausible(&f.read(&db, &s, &read), 15, 0.01);
    let name = fault.split('=').next().unwrap();
    assert!(s.injected(name) > 0, "the simulator never injected {fault}");
}

/// `config write --json` to the one board of a line with `fault`: it exits 1 reporting
/// failure. The folder (kept alive), database, simulator and report.
fn failed_write(f: &Family, fault: &str) -> (TestDir, PathBuf, Sim, serde_json::Value) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = f.sim(dir.path(), "bms", "1", "1", &["--fault", fault]);
    let report = f
        .config(&db, "write", &s, "1", &["--json"])
        .expect(1)
        .json();
    assert_eq!(report["outcome"], "failed", "{report}");
    (dir, db, s, report)
}

pub fn an_acknowledged_write_that_is_not_stored_is_reported_failed(f: &Family) {
    let (_dir, db, s, report) = failed_write(f, f.nostore);
    let failure = report["failure"].as_str().unwrap();
    let names = format!(
        "bms.cell_ov_trigger_mv (register {}): read back",
        f.ov_register
    );
    assert!(failure.starts_with(&names), "{failure}");
    assert!(failure.contains("did not store"), "{failure}");
    let fields = report["fields"].as_array().unwrap();
    let bad: Vec<_> = fields
        .iter()
        .filter(|x| x["ok"] == false && x["reason"].is_string())
        .collect();
    assert_eq!(bad.len(), 1, "{report}");
    assert_eq!(bad[0]["register"], f.ov_register);
    assert!(fields.iter().all(|x| x["ok"] == false), "{report}");
    let w = last_write(&db);
    assert_eq!(w["write"]["outcome"], "failed");
    assert!(w["write"]["detail"]
        .as_str()
        .unwrap()
        .contains(f.ov_register));
    // The board still holds its own value there: config read says so.
    let now = f.config(&db, "read", &s, "1", &["--json"]).expect(1).json();
    let (register, name) = f.nostore_row;
    let row = now["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["register"] == register && name.is_none_or(|n| r["name"] == n))
        .unwrap_or_else(|| panic!("no row {register} {name:?}: {now}"));
    assert_eq!(row["matches"], false, "{row}");
}

pub fn a_value_the_board_only_echoes_is_caught_by_the_re_read_after_all_writes(f: &Family) {
    let (fault, name, register) = f.nopersist;
    let (_dir, db, _s, report) = failed_write(f, fault);
    let failure = report["failure"].as_str().unwrap();
    let names = format!("{name} (register {register}): not persisted");
    assert!(failure.starts_with(&names), "{failure}");
    let x = field(&report, name);
    assert_eq!(x["register"], register, "{x}");
    assert_eq!(x["read_back"], x["written"], "the echo looked fine: {x}");
    assert_ne!(x["persisted"], x["written"], "{x}");
    assert_eq!(x["ok"], false);
    assert_eq!(last_write(&db)["write"]["outcome"], "failed");
}

pub fn an_unplugged_adapter_is_reopened_and_a_cut_write_is_never_verified(f: &Family) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    // The adapter vanishes after the live read's 2nd reply for 400 ms.
    let mut s = f.sim(
        dir.path(),
        "bms",
        "1",
        "1",
        &["--fault", "disconnect=2:400"],
    );
    let snap = f.read(
        &db,
        &s,
        &["--address", "1", "--timeout-ms", "300", "--attempts", "3"],
    );
    assert_plausible(&snap, 15, 0.01);
    assert_eq!(s.injected("disconnect"), 1, "one unplug");
    // Cut in the middle of the writes for longer than the client waits.
    let mut s2 = f.sim(dir.path(), "bms2", "1", "1", &["--fault", f.cut_writes]);
    let run = f.config(
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

pub fn a_cell_over_the_written_threshold_trips_protection(f: &Family) {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let s = f.sim(dir.path(), "bms", "1", "1", &["--fault", "overvoltage=3"]);
    f.config(&db, "write", &s, "1", &[]).expect(0);
    let snap = f.read(&db, &s, &["--address", "1"]);
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

/// The shared cases as `#[test]`s of the calling module, for `$family` (a [`Family`]): each
/// named after the function of this module it runs, or after the transient fault it injects.
macro_rules! family_tests {
    ($family:expr) => {
        $crate::support::family::family_tests!(@cases $family;
            config_write_is_verified_persisted_and_logged_for_one_board_of_the_line,
            an_acknowledged_write_that_is_not_stored_is_reported_failed,
            a_value_the_board_only_echoes_is_caught_by_the_re_read_after_all_writes,
            an_unplugged_adapter_is_reopened_and_a_cut_write_is_never_verified,
            a_cell_over_the_written_threshold_trips_protection,
        );
        // (test, simulator fault, client arguments, whether the fault must cause retries)
        $crate::support::family::family_tests!(@transient $family;
            dropped_bytes_are_retried: "drop=0.2", $crate::support::family::PATIENT, true;
            corrupted_checksums_are_retried: "corrupt=0.2", $crate::support::family::PATIENT, true;
            junk_between_frames_is_skipped: "junk=0.5", $crate::support::family::PATIENT, false;
            split_frames_are_reassembled: "split", [], false;
            delayed_replies_within_the_timeout_are_taken: "delay=120", ["--timeout-ms", "400"], false;
            /// Stale replies: every reply comes after the client gave up on its request, so
            /// each one arrives while a retry waits. A late reply is only ever taken as the
            /// answer to the same request (address, function, registers); the link then waits
            /// out stragglers before the next request, so no read-back can be answered by an
            /// older reply.
            stale_replies_are_never_taken_for_another_request:
                "delay=150", ["--timeout-ms", "100", "--attempts", "4"], true;
            a_sleeping_board_is_woken_by_the_retry: "sleep=300", ["--timeout-ms", "150"], true;
        );
    };
    (@cases $family:expr; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $crate::support::family::$case(&$family);
            }
        )*
    };
    (@transient $family:expr;
     $($(#[$doc:meta])* $name:ident: $fault:literal, $client:expr, $retries:literal;)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                let client: &[&str] = &$client;
                $crate::support::family::transient_fault_write(&$family, $fault, client, $retries);
            }
        )*
    };
}
pub(crate) use family_tests;
