//! The console on a database with registered operators, through the real binary in a
//! pseudo-terminal: the PIN is asked on the terminal before the console starts, the header
//! shows who logged in, records are that operator's, a wrong PIN keeps the console closed; a
//! badge scan switches operator once its PIN is given (never without it); an idle console
//! locks, keeping its screen, until a PIN opens it. On a database without operators (and
//! without the opt-in) the console starts, and a change is refused, saying so.

use crate::support::eol::pw;
use crate::support::pty::Pty;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(15);

/// A demo inventory, then the first admin `root` (PIN 1111) and operator `op` (badge B-OP,
/// PIN 2222).
fn enforced_demo_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("line.db");
    packwright::demo::fill(&db, &crate::support::tui::actor(), 96, 7).unwrap();
    pw(&db)
        .env("PACKWRIGHT_PIN", "1111")
        .args([
            "operators",
            "setup",
            "--id",
            "root",
            "--name",
            "Root",
            "--badge",
            "B-ROOT",
        ])
        .assert()
        .success();
    pw(&db)
        .env("PACKWRIGHT_OPERATOR", "root")
        .env("PACKWRIGHT_PIN", "1111")
        .env("PACKWRIGHT_NEW_PIN", "2222")
        .args([
            "operators",
            "add",
            "--id",
            "op",
            "--name",
            "Olga P",
            "--role",
            "operator",
        ])
        .args(["--badge", "B-OP"])
        .assert()
        .success();
    db
}

/// Wait until `n` failed logins are recorded.
fn wait_for_failures(db: &Path, n: usize) {
    let until = std::time::Instant::now() + SHORT;
    loop {
        let out = pw(db)
            .args(["operators", "failures", "--json"])
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got = doc["items"].as_array().map_or(0, Vec::len);
        if got >= n {
            assert_eq!(got, n, "{doc}");
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "{n} failed logins: {doc}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn console(db: &Path, log: &Path, who: &str) -> Command {
    let mut cmd = crate::support::bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "bench-1")
        .env("PACKWRIGHT_OPERATOR", who)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("PACKWRIGHT_PIN")
        .env_remove("PACKWRIGHT_TOKEN")
        .env_remove("PACKWRIGHT_PROFILES")
        .env_remove("PACKWRIGHT_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.args(["console", "--log"]).arg(log);
    cmd
}

#[test]
fn the_console_logs_in_by_badge_and_pin_and_a_scan_does_not_switch_without_one() {
    let dir = crate::support::tempdir();
    let db = enforced_demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(console(&db, &log, "B-OP"), 80, 24);
    pty.wait_text("PIN for B-OP:", SHORT);
    pty.send(b"2222\r");
    let screen = pty.wait_text("Cells   available 93", SHORT);
    assert!(screen.contains("operator op"), "{screen}");
    assert!(!screen.contains("2222"), "the PIN is not echoed: {screen}");

    // Work is recorded as op.
    pty.key(b"3");
    pty.key(b"r");
    pty.wait_text("pack(s) proposed", LONG);
    pty.key(b" ");
    pty.key(b"c");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("committed", SHORT);

    // The admin's badge scanned: the PIN is asked, and nobody switches without it.
    pty.send(b"OP:B-ROOT\r");
    let screen = pty.wait_text("PIN for B-ROOT", SHORT);
    assert!(screen.contains("operator op"), "{screen}");
    pty.send(b"1111");
    let screen = pty.wait_text("****", SHORT);
    assert!(!screen.contains("1111"), "the PIN is not shown: {screen}");
    pty.send(b"\r");
    let screen = pty.wait_text("operator is now root", SHORT);
    assert!(screen.contains("operator root"), "{screen}");
    // A wrong PIN for another badge: refused, recorded, the console stays root's.
    pty.send(b"OP:B-OP\r");
    pty.wait_text("PIN for B-OP", SHORT);
    pty.send(b"0000\r");
    let screen = pty.wait_text("wrong PIN for operator 'op'", SHORT);
    assert!(screen.contains("operator root"), "{screen}");
    // Repeated failures block the badge, the right PIN included. Each attempt waits for the
    // failure to be recorded, so no keys of the next one reach a closing field.
    for n in 2..=5 {
        pty.send(b"OP:B-OP\r");
        pty.wait_text("PIN for B-OP (Esc", SHORT);
        pty.send(b"0000\r");
        wait_for_failures(&db, n);
        pty.wait_for("the PIN field to close", SHORT, |s| {
            !s.contains("PIN for B-OP (Esc")
        });
    }
    pty.wait_text("too many failed logins", SHORT);
    pty.send(b"OP:B-OP\r");
    pty.wait_text("PIN for B-OP", SHORT);
    pty.send(b"2222\r");
    let screen = pty.wait_text("blocked after repeated failed logins", SHORT);
    assert!(screen.contains("operator root"), "{screen}");
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());

    let out = pw(&db)
        .args(["audit", "export", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let matched: Vec<&serde_json::Value> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "pack match")
        .collect();
    assert!(!matched.is_empty(), "{doc}");
    assert!(matched.iter().all(|e| e["operator"] == "op"), "{doc}");
    pw(&db).args(["audit", "verify"]).assert().success();
}

#[test]
fn a_wrong_pin_keeps_the_console_closed_and_is_recorded() {
    let dir = crate::support::tempdir();
    let db = enforced_demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(console(&db, &log, "B-OP"), 80, 24);
    pty.wait_text("PIN for B-OP:", SHORT);
    pty.send(b"9999\r");
    pty.wait_text("wrong PIN for operator 'op'", SHORT);
    assert_eq!(pty.wait_exit(SHORT).code(), Some(2));

    // The Unix login name does not open it either.
    let mut pty = Pty::spawn(console(&db, &log, "ann"), 80, 24);
    pty.wait_text("PIN for ann:", SHORT);
    pty.send(b"2222\r");
    pty.wait_text("'ann' is not a registered operator", SHORT);
    assert_eq!(pty.wait_exit(SHORT).code(), Some(2));

    let out = pw(&db)
        .args(["operators", "failures", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["why"].as_str().unwrap())
        .collect();
    assert_eq!(why, ["unknown operator or badge", "wrong PIN"]);
}

#[test]
fn an_idle_console_locks_keeping_its_screen_until_a_pin_opens_it() {
    let dir = crate::support::tempdir();
    let db = enforced_demo_db(dir.path());
    let log = dir.path().join("console.log");
    let mut cmd = console(&db, &log, "op");
    cmd.env("PACKWRIGHT_IDLE_LOCK_SECS", "3");
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("PIN for op:", SHORT);
    pty.send(b"2222\r");
    pty.wait_text("Cells   available 93", SHORT);
    pty.key(b"2");
    pty.wait_text("[2 Inventory]", SHORT);
    let screen = pty.wait_text("LOCKED - PIN for op", SHORT);
    assert!(screen.contains("[2 Inventory]"), "{screen}");
    // Keys go to the PIN field: no screen switch, Esc does not open it.
    pty.key(b"3");
    pty.key(b"\x1b");
    let screen = pty.wait_text("LOCKED - PIN for op", SHORT);
    assert!(screen.contains("[2 Inventory]"), "{screen}");
    // A wrong PIN keeps it locked.
    pty.send(b"9999\r");
    let screen = pty.wait_text("LOCKED (wrong PIN for operator 'op') - PIN for op", SHORT);
    assert!(screen.contains("[2 Inventory]"), "{screen}");
    // Another operator's badge and PIN open it as them, on the same screen.
    pty.send(b"OP:B-ROOT\r");
    pty.wait_text("LOCKED - PIN for B-ROOT", SHORT);
    pty.send(b"1111\r");
    let screen = pty.wait_text("operator is now root", SHORT);
    assert!(
        screen.contains("operator root") && screen.contains("[2 Inventory]"),
        "{screen}"
    );
    // It locks again when idle; dropping the pty ends it.
}

#[test]
fn a_console_on_a_database_without_operators_refuses_a_state_verb() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    packwright::demo::fill(&db, &crate::support::tui::actor(), 96, 7).unwrap();
    let log = dir.path().join("console.log");
    let mut cmd = console(&db, &log, "ann");
    cmd.env_remove(crate::support::ALLOW_NO_OPERATORS.0);
    let mut pty = Pty::spawn(cmd, 80, 24);
    // Reading needs nothing: the console starts, with the inventory.
    pty.wait_text("Cells   available 93", SHORT);
    // Inventory, reject the selected cell, a reason, yes.
    pty.key(b"2");
    pty.wait_text("[2 Inventory]", SHORT);
    pty.key(b"r");
    pty.wait_text("Cell to reject", SHORT);
    pty.key(b"\r");
    pty.wait_text("Why is it rejected", SHORT);
    pty.send(b"swollen\r");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text(
        "PROBLEM: this database has no registered operators yet",
        SHORT,
    );
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
    // Nothing was changed: the 93 cells are still available, no cell reject is recorded.
    use packwright::store::prelude::*;
    let store = packwright::store::Store::open(&db).unwrap();
    assert_eq!(
        store
            .list_cells(&packwright::store::CellFilter::default())
            .unwrap()
            .iter()
            .filter(|c| c.status == packwright::domain::CellStatus::Available)
            .count(),
        93
    );
    assert!(store
        .audit_entries(None)
        .unwrap()
        .iter()
        .all(|e| e.action != "cell reject"));
}

/// Register `id` with `role`, badge and PIN, as root.
fn register(db: &Path, id: &str, role: &str, badge: &str, pin: &str) {
    pw(db)
        .env("PACKWRIGHT_OPERATOR", "root")
        .env("PACKWRIGHT_PIN", "1111")
        .env("PACKWRIGHT_NEW_PIN", pin)
        .args(["operators", "add", "--id", id, "--name", id, "--role", role])
        .args(["--badge", badge])
        .assert()
        .success();
}

/// The newest audit entry's action, operator and signature.
fn last_entry(db: &Path) -> (String, String, String) {
    let out = pw(db).args(["audit", "export", "--json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = doc["entries"].as_array().unwrap().last().unwrap().clone();
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    (s("action"), s("operator"), s("signature"))
}

/// In the console, as through the CLI, each verb is allowed for its role and refused below it,
/// the refusal naming the role; a signed decision asks the operator's PIN again (masked), a
/// wrong one changes nothing and is a failed login, and the change carries the signature.
#[test]
fn the_console_s_verbs_are_allowed_by_role_and_a_decision_is_signed_with_the_pin() {
    let dir = crate::support::tempdir();
    let db = enforced_demo_db(dir.path());
    register(&db, "eng", "engineer", "B-ENG", "3333");
    register(&db, "qa", "quality", "B-QA", "4444");
    let log = dir.path().join("console.log");
    let mut pty = Pty::spawn(console(&db, &log, "B-OP"), 80, 24);
    pty.wait_text("PIN for B-OP:", SHORT);
    pty.send(b"2222\r");
    pty.wait_text("Cells   available 93", SHORT);

    let available: Vec<String> = {
        let out = pw(&db)
            .args(["cells", "list", "--status", "available", "--json"])
            .output();
        let doc: serde_json::Value = serde_json::from_slice(&out.unwrap().stdout).unwrap();
        doc["items"].as_array().unwrap()[..3]
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Inventory: `verb` on `cell` (typed over the selected one) with `reason`, confirmed.
    let verb = |pty: &mut Pty, key: &[u8], field: &str, cell: &str, reason: &str| {
        pty.key(key);
        pty.wait_text(field, SHORT);
        pty.send(b"\x15");
        pty.send(format!("{cell}\r").as_bytes());
        pty.wait_text("Why", SHORT);
        pty.send(format!("{reason}\r").as_bytes());
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
    };
    pty.key(b"2");
    pty.wait_text("[2 Inventory]", SHORT);
    // The operator role rejects (no signature asked).
    let rejected = available[0].clone();
    verb(&mut pty, b"r", "Cell to reject", &rejected, "dented");
    let screen = pty.wait_text("rejected: dented", SHORT);
    assert!(!screen.contains("to sign"), "{screen}");
    assert_eq!(last_entry(&db).0, "cell reject");
    let unreject = |pty: &mut Pty| {
        verb(pty, b"u", "Cell back to stock", &rejected, "measured again");
    };
    // Un-reject is an engineer's signed decision: the operator's PIN, then the role refusal.
    unreject(&mut pty);
    pty.wait_text("PIN of op to sign: un-reject approved", SHORT);
    pty.send(b"2222");
    let screen = pty.wait_text("****", SHORT);
    assert!(!screen.contains("2222"), "the PIN is not shown: {screen}");
    pty.send(b"\r");
    pty.wait_text(
        "PROBLEM: Un-rejecting a cell needs the engineer role (or higher); operator 'op'",
        SHORT,
    );
    assert_eq!(last_entry(&db).0, "cell reject", "nothing recorded");

    // The engineer's badge: a wrong PIN to sign changes nothing and is a failed login; the
    // right one un-rejects, signed.
    pty.send(b"OP:B-ENG\r");
    pty.wait_text("PIN for B-ENG", SHORT);
    pty.send(b"3333\r");
    pty.wait_text("operator is now eng", SHORT);
    unreject(&mut pty);
    pty.wait_text("PIN of eng to sign", SHORT);
    pty.send(b"9999\r");
    pty.wait_text("wrong PIN for operator 'eng'", SHORT);
    wait_for_failures(&db, 1);
    assert_eq!(last_entry(&db).0, "cell reject", "nothing recorded");
    unreject(&mut pty);
    pty.wait_text("PIN of eng to sign", SHORT);
    pty.send(b"3333\r");
    pty.wait_text("back to available", SHORT);
    let (action, operator, signature) = last_entry(&db);
    assert_eq!(
        (action.as_str(), operator.as_str()),
        ("cell unreject", "eng")
    );
    assert!(
        signature.contains("un-reject approved by eng (engineer), PIN re-entered"),
        "{signature}"
    );

    // Scrapping is quality's: refused for the engineer, done and signed by quality.
    let scrap_signed_by = |pty: &mut Pty, who: &str, pin: &[u8]| {
        verb(pty, b"x", "Cell to scrap", &available[1], "cracked case");
        pty.wait_text(&format!("PIN of {who} to sign: scrap approved"), SHORT);
        pty.send(pin);
    };
    scrap_signed_by(&mut pty, "eng", b"3333\r");
    pty.wait_text("needs the quality role", SHORT);
    pty.send(b"OP:B-QA\r");
    pty.wait_text("PIN for B-QA", SHORT);
    pty.send(b"4444\r");
    pty.wait_text("operator is now qa", SHORT);
    scrap_signed_by(&mut pty, "qa", b"4444\r");
    pty.wait_text("scrapped", SHORT);
    let (action, operator, signature) = last_entry(&db);
    assert_eq!(operator, "qa", "{action}");
    assert!(
        signature.contains("scrap approved by qa (quality)"),
        "{signature}"
    );

    // After a signed decision the connection signs nothing more: a plain reject is unsigned.
    verb(&mut pty, b"r", "Cell to reject", &available[2], "dented");
    pty.wait_text("rejected: dented", SHORT);
    let (action, operator, signature) = last_entry(&db);
    assert_eq!(
        (action.as_str(), operator.as_str(), signature.as_str()),
        ("cell reject", "qa", "")
    );
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());
}
