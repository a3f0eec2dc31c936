//! The real binary in a pseudo-terminal: start, keys and scans, what the screen shows,
//! resume after a dropped session, terminal restore on quit and on SIGHUP, and the bytes an
//! idle console writes.

use crate::support::pg::{outbox_for, station_db};
use crate::support::pty::{count, Pty};
use crate::support::sim::Sim;
use packwright::store::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(15);
const LEAVE_ALT: &[u8] = b"\x1b[?1049l";

fn packwright(db: &Path, log: &Path) -> Command {
    let mut cmd = crate::support::bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_OUTBOX", outbox_for(db))
        .env("PACKWRIGHT_STATION", "bench-1")
        .env("PACKWRIGHT_OPERATOR", "ann")
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("PACKWRIGHT_PROFILES")
        .env_remove("PACKWRIGHT_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.args(["console", "--log"]).arg(log);
    cmd
}

/// A database with the demo inventory.
fn demo_db(dir: &Path) -> std::path::PathBuf {
    let db = station_db(dir, "line.db");
    packwright::demo::fill(&db, &crate::support::tui::actor(), 96, 7).unwrap();
    db
}

#[test]
fn a_pack_from_match_to_label_by_keys_and_scans_then_resume() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(packwright(&db, &log), 80, 24);
    pty.wait_text("Cells   available 93", SHORT);
    pty.key(b"3");
    pty.key(b"r");
    pty.wait_text("pack(s) proposed", LONG);
    pty.key(b" ");
    pty.key(b"c");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("committed", SHORT);
    pty.key(b"4");
    let screen = pty.wait_text("NEXT", SHORT);
    // The screen names the cell to scan next; a scanner types it in one burst.
    let next = |s: &str| -> String {
        s.lines()
            .find(|l| l.contains("NEXT"))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or_default()
            .to_string()
    };
    let first = next(&screen);
    assert!(first.starts_with("C100-"), "{screen}");
    // A wrong cell first: refused, loudly.
    pty.send(b"C100-0001\r");
    pty.wait_text("DO NOT FIT IT", SHORT);
    let mut current = first;
    for _ in 0..16 {
        pty.send(format!("{current}\r").as_bytes());
        let screen = pty.wait_for("the next cell or the label", SHORT, |s| {
            s.contains("LABEL:") || (next(s) != current && s.contains("NEXT"))
        });
        if screen.contains("LABEL:") {
            break;
        }
        current = next(&screen);
    }
    let screen = pty.wait_text("LABEL:", SHORT);
    let code = screen
        .lines()
        .find_map(|l| l.split("LABEL: ").nth(1))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .unwrap();
    assert!(
        code.starts_with("PWT") && code.len() == 10,
        "plant code: {code}"
    );

    // The session drops: SIGHUP. The terminal is restored once and the process ends.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pty.child.id() as i32, libc::SIGHUP) };
    let status = pty.wait_exit(SHORT);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        count(&pty.bytes(), LEAVE_ALT),
        1,
        "leave the alternate screen exactly once"
    );

    // Reopened, the console is where it was: the assembled pack and its label.
    let mut pty = Pty::spawn(packwright(&db, &log), 80, 24);
    let screen = pty.wait_text("LABEL:", SHORT);
    assert!(
        screen.contains(&code) && screen.contains("[4 Assemble]"),
        "{screen}"
    );
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("console closing"), "{log}");
}

#[test]
fn an_idle_console_writes_nothing_to_the_terminal() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(packwright(&db, &log), 80, 24);
    pty.wait_text("Cells   available", SHORT);
    pty.key(b"2");
    pty.wait_text("Available stock", SHORT);
    // Let the last frame settle, then watch for three seconds: a count of bytes, no rate.
    std::thread::sleep(Duration::from_millis(500));
    let before = pty.len();
    std::thread::sleep(Duration::from_secs(3));
    let idle = pty.len() - before;
    assert_eq!(idle, 0, "an idle console must not write: {idle} bytes");
    // A key that changes nothing writes nothing either.
    pty.key(b"z");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pty.len(), before);
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
}

#[test]
fn a_small_terminal_is_told_so_and_recovers_when_enlarged() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(packwright(&db, &log), 60, 20);
    pty.wait_text("Terminal too small", SHORT);
    pty.wait_text("need 80x24, have 60x20", SHORT);
    pty.resize(80, 24);
    pty.wait_text("Cells   available", SHORT);
    // Help works and shows every global key.
    pty.key(b"?");
    let help = pty.wait_text("Keys: Line", SHORT);
    assert!(help.contains("Redraw the whole screen"), "{help}");
    pty.key(b"\x1b");
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    assert_eq!(count(&pty.bytes(), LEAVE_ALT), 1);
}

#[test]
fn sigterm_restores_the_terminal() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(packwright(&db, &log), 80, 24);
    pty.wait_text("Cells   available", SHORT);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pty.child.id() as i32, libc::SIGTERM) };
    assert!(pty.wait_exit(SHORT).success());
    let out = pty.bytes();
    assert_eq!(count(&out, LEAVE_ALT), 1);
    // The cursor is shown again after leaving.
    let tail = &out[out.len().saturating_sub(64)..];
    assert!(count(tail, b"\x1b[?25h") >= 1, "{tail:?}");
}

#[test]
fn without_a_terminal_the_console_refuses_and_points_to_the_headless_commands() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "x.db");
    let out = packwright(&db, &dir.path().join("l.log"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("packwright cells"),
        "{err}"
    );
    // Nothing on stdout: no escape sequences leaked into a pipe.
    assert!(out.stdout.is_empty());
}

#[test]
fn the_demo_starts_on_its_own_database_and_says_where_it_is() {
    let dir = crate::support::tempdir();
    let mut cmd = crate::support::bin();
    cmd.env("TMPDIR", dir.path())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env_remove("PACKWRIGHT_DB")
        .arg("demo");
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("DEMO LINE", SHORT);
    // The demo logs its demo operator in itself, and says so.
    let screen = pty.wait_text("logged in automatically as 'demo'", SHORT);
    assert!(screen.contains("operator demo"), "{screen}");
    // The counts come with the store's first reply, a moment after the first frame.
    pty.wait_text("Cells   available 93", SHORT);
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    let out = String::from_utf8_lossy(&pty.bytes()).to_string();
    let db_line = out
        .lines()
        .find(|l| l.contains("demo database:"))
        .unwrap_or_else(|| panic!("{out}"));
    let path = db_line.split("demo database:").nth(1).unwrap().trim();
    assert!(
        path.starts_with(&dir.path().display().to_string()),
        "{path}"
    );
    assert!(Path::new(path).is_file());
    assert!(out.contains("console log:"));
}

/// The cell the Assemble screen asks for next.
fn next_cell(screen: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.contains(" NEXT "))
        .and_then(|l| l.split_whitespace().nth(2))
        .map(str::to_string)
}

#[test]
fn the_demo_line_from_match_to_pass_with_an_unplugged_board_on_the_way() {
    let dir = crate::support::tempdir();
    let mut cmd = crate::support::bin();
    cmd.env("TMPDIR", dir.path())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("PACKWRIGHT_OPERATOR", "ann")
        .env_remove("PACKWRIGHT_DB")
        .arg("demo");
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("DEMO LINE", SHORT);
    pty.wait_text("Next    cells are in stock", SHORT);
    pty.key(b"3");
    pty.key(b"r");
    pty.wait_text("pack(s) proposed", LONG);
    pty.key(b" ");
    pty.key(b"c");
    pty.key(b"y");
    pty.wait_text("committed", SHORT);
    pty.key(b"4");
    let mut screen = pty.wait_text("NEXT", SHORT);
    while let Some(cell) = next_cell(&screen) {
        // Typed by hand into the open field, one key at a time, like a new user would.
        for c in cell.bytes() {
            pty.key(&[c]);
        }
        pty.key(b"\r");
        screen = pty.wait_for("the next cell or the label", SHORT, |s| {
            s.contains("LABEL:") || next_cell(s).is_some_and(|n| n != cell)
        });
    }
    assert!(screen.contains("LABEL: PWT"), "{screen}");
    // The label prints on its own thread; once printed, the scan-back field opens (and would
    // take the next keys): wait for it, then leave it.
    pty.wait_text("Scan the label on the pack", SHORT);
    pty.key(b"\x1b");
    pty.key(b"5");
    pty.key(b"c");
    pty.wait_text("link: connected to jbd", SHORT);
    pty.wait_text("Cell voltages: min", SHORT);

    // Pull the cable in the middle of the BMS screen: said plainly, keys still work.
    pty.key(b"u");
    pty.wait_text("lost", SHORT);
    pty.key(b"2");
    pty.wait_text("[2 Inventory]", SHORT);
    pty.key(b"5");
    pty.wait_text("[5 BMS]", SHORT);
    pty.key(b"u");
    pty.wait_text("link: connected to jbd", LONG);

    pty.key(b"w");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("Configuration: VERIFIED", LONG);

    pty.key(b"6");
    pty.key(b"t");
    for answer in ["550", "0.05", "yes"] {
        pty.wait_text("answer:", LONG);
        pty.send(format!("{answer}\r").as_bytes());
        std::thread::sleep(Duration::from_millis(300));
    }
    let screen = pty.wait_text("P A S S", LONG);
    assert!(screen.contains("(passed)"), "{screen}");
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    let out = String::from_utf8_lossy(&pty.bytes()).to_string();
    let db = out
        .lines()
        .find_map(|l| l.split("demo database:").nth(1))
        .map(|p| p.trim().to_string())
        .unwrap();
    // The record: passed, with its configuration write and its test run.
    let store = packwright::store::Store::open(Path::new(&db)).unwrap();
    let passed = store
        .list_packs(Some(packwright::domain::PackStatus::Passed))
        .unwrap();
    assert_eq!(passed.len(), 1);
    // The operator's write first, then the test's own logged writes (balancing, protection).
    let writes = store.bms_writes_for_pack(passed[0].id).unwrap();
    assert_eq!(writes[0].write.outcome, "verified", "{writes:?}");
    // Every record names the registered demo operator (not the login name given), and the
    // chain verifies.
    let entries = store.audit_entries(None).unwrap();
    assert!(entries.len() > 10, "{entries:?}");
    assert!(entries.iter().all(|e| e.operator == "demo"), "{entries:?}");
    assert_eq!(
        store.list_operators().unwrap()[0].role,
        "operator",
        "the demo operator's role"
    );
    assert!(store.verify_audit().unwrap().is_ok());
    assert!(
        writes.iter().all(|w| w.write.outcome == "verified"),
        "{writes:?}"
    );
    assert_eq!(store.eol_runs_for_pack(passed[0].id).unwrap().len(), 1);
}

#[test]
fn the_bms_screen_writes_while_it_polls_a_16s_pack_and_nothing_once_left() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let sim = Sim::serial(
        dir.path(),
        "bms16",
        &["--protocol", "jbd", "--cells", "16", "--seed", "3"],
    );
    let mut cmd = packwright(&db, &log);
    cmd.arg("--port").arg(format!("{}:jbd", sim.port()));
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("Cells   available", SHORT);
    pty.key(b"5");
    pty.key(b"c");
    pty.wait_text("Cell voltages: min", SHORT);
    // Live readings keep reaching the screen. How many bytes per second that costs is a
    // measurement, which depends on the machine: it is not asserted here (timings belong to
    // `packwright bench`, which has no console figure yet).
    std::thread::sleep(Duration::from_secs(1));
    let before = pty.len();
    let until = Instant::now() + SHORT;
    while pty.len() == before {
        assert!(Instant::now() < until, "no live reading reached the screen");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Leaving the BMS screen stops the polling: idle again.
    pty.key(b"1");
    std::thread::sleep(Duration::from_millis(800));
    let before = pty.len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        pty.len(),
        before,
        "the Line screen must not redraw for BMS readings"
    );
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
}

#[test]
fn assembly_completion_prints_the_label_on_a_network_printer_and_the_scan_back_proves_it() {
    let dir = crate::support::tempdir();
    let db = demo_db(dir.path());
    let log = dir.path().join("console.log");
    let (printer, job) = crate::support::printer::printer(false);
    let mut cmd = packwright(&db, &log);
    cmd.args(["--printer", &printer]);
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("Cells   available 93", SHORT);
    pty.key(b"3");
    pty.key(b"r");
    pty.wait_text("pack(s) proposed", LONG);
    pty.key(b" ");
    pty.key(b"c");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("committed", SHORT);
    pty.key(b"4");
    let screen = pty.wait_text("NEXT", SHORT);
    let next = |s: &str| -> String {
        s.lines()
            .find(|l| l.contains("NEXT"))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or_default()
            .to_string()
    };
    let mut current = next(&screen);
    for _ in 0..16 {
        pty.send(format!("{current}\r").as_bytes());
        let screen = pty.wait_for("the next cell or the label", SHORT, |s| {
            s.contains("LABEL:") || (next(s) != current && s.contains("NEXT"))
        });
        if screen.contains("LABEL:") {
            break;
        }
        current = next(&screen);
    }
    // Completion prints the label at once; the printer is asked its status before and after.
    let screen = pty.wait_text("label printed: stick it on", SHORT);
    let code = screen
        .lines()
        .find_map(|l| l.split("LABEL: ").nth(1))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .unwrap();
    assert!(code.starts_with("PWT"), "{screen}");
    let got = String::from_utf8(job.join().unwrap()).unwrap();
    assert!(
        got.starts_with("~HS^XA\n") && got.ends_with("^XZ\n~HS"),
        "{got}"
    );
    assert!(got.contains(&format!("^FH^FD{code}^FS")), "{got}");
    assert!(got.contains(&format!("^FDMA,{code}^FS")), "{got}");
    // The scan-back field is open: a wrong label is refused loudly.
    pty.wait_text("Scan the label on the pack", SHORT);
    pty.send(b"]C1PWT0000999\r");
    let screen = pty.wait_text("WRONG LABEL on the pack", SHORT);
    assert!(screen.contains("reads 'PWT0000999'"), "{screen}");
    // v, and the pack's own label through a QR scanner.
    pty.key(b"v");
    pty.wait_text("Scan the label on the pack", SHORT);
    pty.send(format!("]Q1{code}\r").as_bytes());
    pty.wait_text("label scanned back OK", SHORT);
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());

    // Recorded: the print (who, which printer) and both scans.
    let store = packwright::store::open(&db).unwrap();
    let pack = store.find_pack(&code).unwrap().unwrap();
    let prints = store.label_prints(pack.id).unwrap();
    assert_eq!(prints.len(), 1);
    assert_eq!(prints[0].outcome, packwright::store::LabelOutcome::Printed);
    assert_eq!(prints[0].printer, printer);
    assert_eq!(prints[0].operator, "ann");
    let scans = store.label_scans(pack.id).unwrap();
    assert_eq!(
        scans
            .iter()
            .map(|s| (s.data.as_str(), s.matched))
            .collect::<Vec<_>>(),
        [("PWT0000999", false), (code.as_str(), true)]
    );
}

/// The demo line with another board family on the bench (`demo --bms`), from match to PASS:
/// the same console, configuration service and test runner, no per-family code in the faces.
fn demo_to_pass_with(bms: &str, label: &str) {
    let dir = crate::support::tempdir();
    let mut cmd = crate::support::bin();
    cmd.env("TMPDIR", dir.path())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("PACKWRIGHT_OPERATOR", "ann")
        .env_remove("PACKWRIGHT_DB")
        .args(["demo", "--bms", bms]);
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("DEMO LINE", SHORT);
    pty.wait_text("Next    cells are in stock", SHORT);
    pty.key(b"3");
    pty.key(b"r");
    pty.wait_text("pack(s) proposed", LONG);
    pty.key(b" ");
    pty.key(b"c");
    pty.key(b"y");
    pty.wait_text("committed", SHORT);
    pty.key(b"4");
    let mut screen = pty.wait_text("NEXT", SHORT);
    while let Some(cell) = next_cell(&screen) {
        for c in cell.bytes() {
            pty.key(&[c]);
        }
        pty.key(b"\r");
        screen = pty.wait_for("the next cell or the label", SHORT, |s| {
            s.contains("LABEL:") || next_cell(s).is_some_and(|n| n != cell)
        });
    }
    assert!(screen.contains(&format!("LABEL: {label}")), "{screen}");
    // The label prints on its own thread; once printed, the scan-back field opens (and would
    // take the next keys): wait for it, then leave it.
    pty.wait_text("Scan the label on the pack", SHORT);
    pty.key(b"\x1b");
    pty.key(b"5");
    pty.key(b"c");
    pty.wait_text(&format!("link: connected to {bms}"), SHORT);
    pty.wait_text("Cell voltages: min", SHORT);
    pty.key(b"w");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("Configuration: VERIFIED", LONG);
    pty.key(b"6");
    pty.key(b"t");
    for answer in ["550", "0.05", "yes"] {
        pty.wait_text("answer:", LONG);
        pty.send(format!("{answer}\r").as_bytes());
        std::thread::sleep(Duration::from_millis(300));
    }
    let screen = pty.wait_text("P A S S", LONG);
    assert!(screen.contains("(passed)"), "{screen}");
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    let out = String::from_utf8_lossy(&pty.bytes()).to_string();
    let db = out
        .lines()
        .find_map(|l| l.split("demo database:").nth(1))
        .map(|p| p.trim().to_string())
        .unwrap();
    let store = packwright::store::Store::open(Path::new(&db)).unwrap();
    let passed = store
        .list_packs(Some(packwright::domain::PackStatus::Passed))
        .unwrap();
    assert_eq!(passed.len(), 1);
    let writes = store.bms_writes_for_pack(passed[0].id).unwrap();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].write.outcome, "verified", "{writes:?}");
    assert!(
        writes[0]
            .write
            .bms_identity
            .as_deref()
            .unwrap_or_default()
            .starts_with(bms),
        "{writes:?}"
    );
    assert_eq!(store.eol_runs_for_pack(passed[0].id).unwrap().len(), 1);
}

#[test]
fn the_demo_line_to_pass_with_a_jk_pb_board() {
    demo_to_pass_with("jk-pb", "PWK");
}

#[test]
fn the_demo_line_to_pass_with_a_pace_board() {
    demo_to_pass_with("pace-485", "PWP");
}
