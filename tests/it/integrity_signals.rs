//! Signals during writes to a board, through the real binary against the simulator: the board
//! is checked afterwards by a fresh read of its own (not by the interrupted command's report).
//!
//! - SIGINT or SIGTERM during `bms config write`: the board leaves factory mode without saving
//!   (its saved values are unchanged), the command exits 5 saying so, the log row is `aborted`;
//!   a second SIGINT forces the exit (5); SIGKILL there: the next read discards the unsaved
//!   session, the log row reads `aborted`.
//! - SIGINT or SIGTERM once the board has been told to save: the write finishes its
//!   persistence re-read instead of stopping (reads only), exits with that true outcome (0,
//!   verified), says the signal came too late to stop it, and logs it with the row.
//! - SIGINT during `eol run`'s protection step: the board's cell over-voltage trigger is back to
//!   the profile's value by read-back; SIGKILL there: the next command restores it from the
//!   journal and says so.

use crate::support::eol::{
    assembled_pack, configure, eol_run, good_answers, pack_json, pw, pw_process, Sim,
};
use crate::support::pg::station_db;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const PROFILE: &str = "lfp-15s1p-100ah";

pub(crate) fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signalling our own child process, whose id we hold and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// Every register of the board as its own fresh `bms config read --json` (no profile) reads
/// them: (register, raw or value).
pub(crate) fn board_registers(db: &Path, sim: &Sim) -> Vec<(String, String)> {
    let out = pw(db)
        .args(["bms", "config", "read", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "config read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["register"].to_string(), r["value"].to_string()))
        .collect()
}

/// The cell over-voltage trigger (0x24) as the board's fresh read shows it.
pub(crate) fn cell_ov_trigger(db: &Path, sim: &Sim) -> String {
    board_registers(db, sim)
        .into_iter()
        .find(|(r, _)| r == "\"0x24\"")
        .map(|(_, v)| v)
        .unwrap()
}

/// The newest row of the write log.
pub(crate) fn last_write(db: &Path) -> serde_json::Value {
    let out = pw(db)
        .args(["bms", "writes", "--json", "--limit", "1"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"][0]["write"].clone()
}

/// Wait until the write log shows a write in progress.
pub(crate) fn wait_for_started_write(db: &Path, child: &mut Child) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < until, "no write was started");
        assert!(child.try_wait().unwrap().is_none(), "the write ended early");
        if db.to_string_lossy().starts_with("postgres") || db.exists() {
            let store = packwright::store::open(db).unwrap();
            let rows = store.recent_bms_writes(1).unwrap();
            if rows.first().is_some_and(|r| r.outcome == "started") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupted_config_write(sig: libc::c_int, name: &str) {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    // A slow board: each reply comes 150 ms late, so the write takes seconds.
    let sim = Sim::jbd15(dir.path(), &["delay=150"]);
    let before = board_registers(&db, &sim);
    let mut child = pw_process(&db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--no-pack", "--profile", PROFILE])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_started_write(&db, &mut child);
    // Into the register writes.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(
        stderr.contains("left factory mode without saving"),
        "{stderr}"
    );

    // The board itself: out of factory mode (a fresh read sees saved values, not the staged
    // ones) and its saved values unchanged.
    let after = board_registers(&db, &sim);
    assert_eq!(before, after, "the board's saved settings changed");
    let row = last_write(&db);
    assert_eq!(row["outcome"], "aborted", "{row:#}");
    assert!(row["finished_at"].is_string(), "{row:#}");
    assert!(row["bms_identity"].is_string(), "{row:#}");
    assert!(row["detail"].as_str().unwrap().contains(name), "{row:#}");
}

#[test]
fn sigint_during_a_configuration_write_leaves_factory_mode_unsaved_and_exits_5() {
    interrupted_config_write(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_during_a_configuration_write_leaves_factory_mode_unsaved_and_exits_5() {
    interrupted_config_write(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigkill_during_a_configuration_write_reads_aborted_and_the_board_keeps_its_saved_values() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let sim = Sim::jbd15(dir.path(), &["delay=150"]);
    let before = board_registers(&db, &sim);
    let mut child = pw_process(&db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--no-pack", "--profile", PROFILE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_started_write(&db, &mut child);
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no chance to leave factory mode
    child.wait().unwrap();
    // The board is left in factory mode with staged values; a fresh read discards them and
    // sees what it had saved.
    assert_eq!(board_registers(&db, &sim), before);
    let row = last_write(&db);
    assert_eq!(row["outcome"], "aborted", "{row:#}");
    assert!(
        row["detail"].as_str().unwrap().contains("killed"),
        "{row:#}"
    );
}

#[test]
fn a_second_sigint_forces_the_exit_and_nothing_unsaved_survives() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let sim = Sim::jbd15(dir.path(), &["delay=150"]);
    let before = board_registers(&db, &sim);
    let mut child = pw_process(&db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--no-pack", "--profile", PROFILE])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_started_write(&db, &mut child);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(20));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("forced exit"), "{stderr}");
    // Whatever the forced exit left staged, the board saved none of it.
    assert_eq!(board_registers(&db, &sim), before);
    assert_eq!(last_write(&db)["outcome"], "aborted");
}

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

fn signal_after_the_save(sig: libc::c_int, name: &str) {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    // A slow board: the persistence re-read after the save takes seconds.
    let sim = Sim::jbd15(dir.path(), &["delay=150"]);
    let before = board_registers(&db, &sim);
    let child = pw_process(&db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--no-pack", "--profile", PROFILE])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The board has committed the session: the signal lands while its re-read is to come.
    sim.wait_stderr(
        "sim: saved the factory session",
        1,
        Duration::from_secs(120),
    );
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(name) && stderr.contains("after the board was told to save"),
        "{stderr}"
    );
    // The row has the true outcome, checked field by field after the save, and the signal.
    let row = last_write(&db);
    assert_eq!(row["outcome"], "verified", "{row:#}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains(name) && detail.contains("after the save"),
        "{row:#}"
    );
    // The board itself, by a fresh read: it holds the profile's values, saved.
    let after = board_registers(&db, &sim);
    assert_ne!(before, after, "the save did not reach the board");
    let out = pw(&db)
        .args(["bms", "config", "read", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--profile", PROFILE])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("0 register(s) differ"),
        "{text}"
    );
}

#[test]
fn sigint_after_the_save_lets_the_write_finish_its_check_and_report_it_true() {
    signal_after_the_save(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_after_the_save_lets_the_write_finish_its_check_and_report_it_true() {
    signal_after_the_save(libc::SIGTERM, "SIGTERM");
}

/// Start `eol run` of pack 1 and read its output until the protection step begins.
fn run_until_protection(db: &Path, sim: &Sim, answers: &Path) -> (Child, Lines) {
    let mut child = eol_run(db, sim, answers)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("the run ended before its protection step")
            .unwrap();
        if line.contains("(protection") || line.to_lowercase().contains("over-voltage") {
            break;
        }
    }
    (child, lines)
}

/// A configured pack on a slow board, with the profile's trigger read back before the run.
pub(crate) fn configured(dir: &Path, db: &Path) -> (Sim, String, String) {
    let (code, _) = assembled_pack(dir, db);
    let sim = Sim::jbd15(dir, &["delay=40"]);
    configure(db, &sim, PROFILE, &code);
    let trigger = cell_ov_trigger(db, &sim);
    (sim, code, trigger)
}

/// Wait until the lowered over-voltage trigger is on the board (its write verified: saved
/// and re-read), and not yet put back.
pub(crate) fn wait_for_lowered_trigger(db: &Path, child: &mut Child) {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < until, "the trigger was never lowered");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        let store = packwright::store::open(db).unwrap();
        let rows = store.recent_bms_writes(3).unwrap();
        let lowered = rows.iter().find(|r| {
            r.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("EOL over-voltage test: cell trigger"))
        });
        if let Some(r) = lowered {
            assert_eq!(r.outcome, "verified", "{r:?}");
            assert!(!store.open_board_journal(None).unwrap().is_empty());
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigint_during_the_protection_step_restores_the_trigger_by_read_back() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (sim, code, profile_trigger) = configured(dir.path(), &db);
    let (mut child, _rest) = run_until_protection(&db, &sim, &good_answers(dir.path()));
    wait_for_lowered_trigger(&db, &mut child);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(cell_ov_trigger(&db, &sim), profile_trigger);
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "configured", "an aborted run is no verdict");
    let history: Vec<&str> = pack["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["matched", "assembled", "configured"]);
    assert!(pack["open_test_settings"].as_array().unwrap().is_empty());
    let store = packwright::store::open(&db).unwrap();
    assert!(store.open_board_journal(None).unwrap().is_empty());
    // The trigger went back by a logged, verified write.
    let rows = store.recent_bms_writes(5).unwrap();
    assert!(
        rows.iter().any(|r| r.outcome == "verified"
            && r.detail.as_deref().is_some_and(|d| d.contains("restor"))),
        "{rows:#?}"
    );
}

#[test]
fn sigkill_during_the_protection_step_is_restored_by_the_next_command() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (sim, _code, profile_trigger) = configured(dir.path(), &db);
    let (mut child, _rest) = run_until_protection(&db, &sim, &good_answers(dir.path()));
    wait_for_lowered_trigger(&db, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let store = packwright::store::open(&db).unwrap();
    assert!(!store.open_board_journal(None).unwrap().is_empty());
    drop(store);

    // The next command that opens the board restores it first and says so.
    let out = pw(&db)
        .args(["bms", "config", "read", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(["--profile", PROFILE])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("restored"), "{stderr}");
    assert_eq!(cell_ov_trigger(&db, &sim), profile_trigger);
    let store = packwright::store::open(&db).unwrap();
    assert!(store.open_board_journal(None).unwrap().is_empty());
}

#[test]
fn a_cable_pulled_during_the_protection_step_is_restored_once_the_link_is_back() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    // The plan is deterministic on this board: its lowered over-voltage trigger is written,
    // saved and re-read within the first 195 replies (the configuration write's included;
    // measured with the `delay` count). The adapter vanishes two replies later, for 3 s.
    let mut sim = Sim::jbd15(dir.path(), &["delay=1", "disconnect=197:3000"]);
    configure(&db, &sim, PROFILE, &code);
    let profile_trigger = "\"3.65 V\"";
    let out = eol_run(&db, &sim, &good_answers(dir.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("link to the BMS lost"), "{stdout}");
    // The run itself put the trigger back once the link returned.
    assert!(stderr.contains("restored"), "{stderr}");
    let store = packwright::store::open(&db).unwrap();
    assert!(store.open_board_journal(None).unwrap().is_empty());
    drop(store);
    assert_eq!(cell_ov_trigger(&db, &sim), profile_trigger);
    assert_eq!(sim.injected("disconnect"), 1, "the cable was pulled once");
}
