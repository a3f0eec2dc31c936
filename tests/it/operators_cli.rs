//! Operators and roles through the real binary: a database without operators refuses every
//! change (exit 2) unless `PACKWRIGHT_ALLOW_NO_OPERATORS=1`, under which it keeps the
//! behaviour from before operators; after `operators setup` every command that changes records needs a registered
//! operator with a PIN or station token, each action class is allowed for its role and refused
//! below it (naming the role needed, exit 2), signed decisions need the PIN and record their
//! signature, repeated failed logins block the badge, and reading needs nothing.

use crate::support::eol::{assembled_pack, pw};
use crate::support::pg::station_db;
use std::path::Path;

const ROOT_PIN: &str = "1111";

/// `packwright ARGS` as `who` (an id or badge; `None`: no --operator at all) with `pin`, under
/// the tests' opt-in for databases without operators (which, every test below shows, opens
/// nothing on a database that has them).
fn as_op(db: &Path, who: Option<&str>, pin: Option<&str>, args: &[&str]) -> (i32, String, String) {
    run_as(db, who, pin, args, true)
}

/// [`as_op`] without the opt-in.
fn as_op_strict(
    db: &Path,
    who: Option<&str>,
    pin: Option<&str>,
    args: &[&str],
) -> (i32, String, String) {
    run_as(db, who, pin, args, false)
}

fn run_as(
    db: &Path,
    who: Option<&str>,
    pin: Option<&str>,
    args: &[&str],
    opted_in: bool,
) -> (i32, String, String) {
    let mut cmd = pw(db);
    if !opted_in {
        cmd.env_remove(crate::support::ALLOW_NO_OPERATORS.0);
    }
    cmd.env_remove("PACKWRIGHT_OPERATOR")
        .env_remove("PACKWRIGHT_PIN")
        .env_remove("PACKWRIGHT_TOKEN")
        .env_remove("PACKWRIGHT_NEW_PIN");
    if let Some(who) = who {
        cmd.env("PACKWRIGHT_OPERATOR", who);
    }
    if let Some(pin) = pin {
        cmd.env("PACKWRIGHT_PIN", pin);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn add(db: &Path, id: &str, role: &str, badge: &str, pin: &str) {
    let out = pw(db)
        .env("PACKWRIGHT_OPERATOR", "root")
        .env("PACKWRIGHT_PIN", ROOT_PIN)
        .env("PACKWRIGHT_NEW_PIN", pin)
        .args([
            "operators",
            "add",
            "--id",
            id,
            "--name",
            &format!("Name of {id}"),
        ])
        .args(["--role", role, "--badge", badge])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An assembled pack (built before any operator existed), then the first admin and one
/// operator of each role: op (badge B-OP, PIN 2222), eng (B-ENG, 3333), qa (B-QA, 4444).
fn enforced_line(dir: &Path, db: std::path::PathBuf) -> (std::path::PathBuf, String, Vec<String>) {
    let (code, cells) = assembled_pack(dir, &db);
    let (exit, out, err) = as_op(
        &db,
        None,
        Some(ROOT_PIN),
        &[
            "operators",
            "setup",
            "--id",
            "root",
            "--name",
            "Root Admin",
            "--badge",
            "B-ROOT",
        ],
    );
    assert_eq!(exit, 0, "{err}");
    assert!(out.contains("admin 'root' registered"), "{out}");
    add(&db, "op", "operator", "B-OP", "2222");
    add(&db, "eng", "engineer", "B-ENG", "3333");
    add(&db, "qa", "quality", "B-QA", "4444");
    (db, code, cells)
}

fn refused_for_role(r: &(i32, String, String), role: &str) {
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains(&format!("needs the {role} role")), "{}", r.2);
    assert!(r.2.contains("nothing was changed"), "{}", r.2);
}

fn unregistered(r: &(i32, String, String)) {
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains("is not a registered operator"), "{}", r.2);
}

/// Past the authority check: whatever happened next, it was not a refusal for the role or
/// the identity, nor a command line that did not parse.
fn allowed(r: &(i32, String, String)) {
    assert!(!r.2.contains("Usage:"), "{}", r.2);
    for refusal in [
        "needs the",
        "not a registered",
        "needs a credential",
        "signed decision",
    ] {
        assert!(!r.2.contains(refusal), "{refusal}: {}", r.2);
    }
}

/// The spare cells: imported, in no pack.
fn spares(cells: &[String]) -> Vec<String> {
    (1..=17)
        .map(|i| format!("LFP-{i:03}"))
        .filter(|c| !cells.contains(c))
        .collect()
}

/// What a change on a database without operators is told, without the opt-in.
const NO_OPERATORS: &str = "this database has no registered operators yet: register the first \
     admin with `packwright operators setup --id <id> --name <name> --badge <badge>` (then log \
     in with --operator and a PIN); nothing was changed";

#[test]
fn a_database_without_operators_refuses_changes_unless_opted_in() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    // Built under the opt-in: any name, no credential.
    let (_, cells) = assembled_pack(dir.path(), &db);
    let spare = &spares(&cells)[0];
    let status = |db: &Path| -> String {
        let r = as_op_strict(db, None, None, &["cells", "list", "--json"]);
        assert_eq!(r.0, 0, "reading needs nothing: {}", r.2);
        let doc: serde_json::Value = serde_json::from_str(&r.1).unwrap();
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == spare.as_str())
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap()
    };

    // Without it: refused with one message naming first-run setup, and nothing changed.
    let r = as_op_strict(
        &db,
        Some("whoever"),
        None,
        &["cells", "reject", spare, "--reason", "dent"],
    );
    assert_eq!(r.0, 2, "{}", r.2);
    assert_eq!(r.2.trim(), format!("error: {NO_OPERATORS}"), "{}", r.2);
    assert_eq!(status(&db), "available");
    let r = as_op_strict(
        &db,
        Some("whoever"),
        None,
        &["match", "--profile", "lfp-15s1p-100ah", "--commit"],
    );
    assert_eq!(r.0, 2, "{}", r.2);
    assert!(r.2.contains(NO_OPERATORS), "{}", r.2);
    // A database that does not exist yet has no operators either, and is not created.
    let fresh = dir.path().join("fresh.db");
    let r = as_op_strict(
        &fresh,
        Some("whoever"),
        None,
        &[
            "cells",
            "import",
            dir.path().join("graded.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(r.0, 2, "{}", r.2);
    assert!(r.2.contains(NO_OPERATORS), "{}", r.2);
    assert!(!fresh.exists());
    let r = as_op_strict(&db, None, None, &["operators", "list"]);
    assert!(r.1.contains("no operators registered"), "{}", r.1);

    // With it: as before operators existed, recorded under the name given.
    let r = as_op(
        &db,
        Some("whoever"),
        None,
        &["cells", "reject", spare, "--reason", "dent"],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    assert_eq!(status(&db), "rejected");
    let store = packwright::store::open(&db).unwrap();
    let last = store.audit_entries(None).unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.operator.as_str()),
        ("cell reject", "whoever")
    );
    drop(store);
    // An admin's command has no admin to check yet.
    let r = as_op(
        &db,
        Some("root"),
        Some(ROOT_PIN),
        &["operators", "token", "--for", "x"],
    );
    assert_eq!(r.0, 2, "{}", r.2);

    // First-run setup needs no opt-in; from then on the opt-in opens nothing.
    let r = run_setup(&db);
    assert_eq!(r.0, 0, "{}", r.2);
    let other = &spares(&cells)[1];
    let r = as_op(
        &db,
        Some("whoever"),
        None,
        &["cells", "reject", other, "--reason", "dent"],
    );
    assert_eq!(r.0, 2, "{}", r.2);
    assert!(r.2.contains("not a registered operator"), "{}", r.2);
}

/// `operators setup` of admin `root` (PIN [`ROOT_PIN`]), without the opt-in.
fn run_setup(db: &Path) -> (i32, String, String) {
    let mut cmd = pw(db);
    let out = cmd
        .env_remove(crate::support::ALLOW_NO_OPERATORS.0)
        .env("PACKWRIGHT_PIN", ROOT_PIN)
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
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_action_class_is_allowed_for_its_role_and_refused_below_it() {
    let dir = crate::support::tempdir();
    each_action_class(dir.path(), dir.path().join("line.db"));
}

#[test]
fn each_action_class_is_allowed_for_its_role_and_refused_below_it_on_the_line_database() {
    let dir = crate::support::tempdir();
    each_action_class(
        dir.path(),
        std::path::PathBuf::from(crate::support::pg::fresh_db()),
    );
}

fn each_action_class(dir: &Path, db: std::path::PathBuf) {
    let (db, code, cells) = enforced_line(dir, db);
    let spare = spares(&cells);

    // Setup happens once.
    let r = as_op(
        &db,
        None,
        Some("5555"),
        &[
            "operators",
            "setup",
            "--id",
            "x",
            "--name",
            "X",
            "--badge",
            "B-X",
        ],
    );
    assert_eq!(r.0, 2, "{}", r.2);
    assert!(r.2.contains("already has operators"), "{}", r.2);

    // Intake: the login name does not stand in for an operator; a registered operator does.
    let csv = dir.join("more.csv");
    std::fs::write(
        &csv,
        "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n\
         NEW-1,95100,0.52,3300,1.0,A,EVMOD-0077\nNEW-2,95100,0.52,3300,1.0,A,EVMOD-0077\n\
         NEW-3,95100,0.52,3300,1.0,A,EVMOD-0077\n",
    )
    .unwrap();
    let import = [
        "cells",
        "import",
        csv.to_str().unwrap(),
        "--chemistry",
        "LFP",
    ];
    let r = as_op(&db, None, Some("2222"), &import);
    assert_eq!(r.0, 2);
    assert!(r.2.contains("login name does not stand in"), "{}", r.2);
    let r = as_op(&db, Some("ann"), Some("2222"), &import);
    assert_eq!(r.0, 2);
    assert!(
        r.2.contains("'ann' is not a registered operator"),
        "{}",
        r.2
    );
    let r = as_op(&db, Some("op"), None, &import);
    assert_eq!(r.0, 2);
    assert!(r.2.contains("needs a credential"), "{}", r.2);
    // By badge, as the reader types it.
    let r = as_op(&db, Some("B-OP"), Some("2222"), &import);
    assert_eq!(r.0, 0, "{}", r.2);

    // Reject a cell: operator.
    let r = as_op(
        &db,
        Some("op"),
        Some("2222"),
        &["cells", "reject", "NEW-1", "--reason", "dent"],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    // Un-reject: engineer, signed.
    let unreject = ["cells", "unreject", "NEW-1", "--reason", "measured again"];
    refused_for_role(&as_op(&db, Some("op"), Some("2222"), &unreject), "engineer");
    let r = as_op(&db, Some("eng"), Some("3333"), &unreject);
    assert_eq!(r.0, 0, "{}", r.2);
    // Scrap: quality, signed.
    let scrap = ["cells", "reject", "NEW-2", "--scrap", "--reason", "cracked"];
    refused_for_role(&as_op(&db, Some("op"), Some("2222"), &scrap), "quality");
    refused_for_role(&as_op(&db, Some("eng"), Some("3333"), &scrap), "quality");
    let r = as_op(&db, Some("qa"), Some("4444"), &scrap);
    assert_eq!(r.0, 0, "{}", r.2);

    // Match: operator.
    let r = as_op(
        &db,
        Some("op"),
        Some("2222"),
        &["match", "--profile", "lfp-15s1p-100ah", "--commit"],
    );
    allowed(&r);
    // Rework/release: engineer, signed.
    let rework = [
        "packs",
        "rework",
        &code,
        "--out",
        &cells[0],
        "--in",
        &spare[0],
        "--reason",
        "weak cell",
    ];
    refused_for_role(&as_op(&db, Some("op"), Some("2222"), &rework), "engineer");
    let r = as_op(&db, Some("eng"), Some("3333"), &rework);
    assert_eq!(r.0, 0, "{}", r.2);
    // Profile change: engineer, signed.
    let adopt = [
        "packs",
        "profile",
        &code,
        "--adopt-disk",
        "--reason",
        "new revision",
    ];
    refused_for_role(&as_op(&db, Some("op"), Some("2222"), &adopt), "engineer");
    allowed(&as_op(&db, Some("eng"), Some("3333"), &adopt));
    // Assemble: operator (the reworked cell placed again).
    let r = as_op(
        &db,
        Some("op"),
        Some("2222"),
        &["assemble", &code, "--scan", &spare[0]],
    );
    allowed(&r);

    // Configure: operator; past the check the missing port is the only problem (exit 3).
    let write = [
        "bms",
        "config",
        "write",
        "--pack",
        &code,
        "--protocol",
        "jbd",
        "--port",
        "/dev/pw-no-such-port",
    ];
    unregistered(&as_op(&db, Some("ann"), Some("2222"), &write));
    let r = as_op(&db, Some("op"), Some("2222"), &write);
    allowed(&r);
    // A configuration override (a board of no pack): engineer, signed.
    let override_ = [
        "bms",
        "config",
        "write",
        "--no-pack",
        "--profile",
        "lfp-15s1p-100ah",
        "--protocol",
        "jbd",
        "--port",
        "/dev/pw-no-such-port",
    ];
    refused_for_role(
        &as_op(&db, Some("op"), Some("2222"), &override_),
        "engineer",
    );
    allowed(&as_op(&db, Some("eng"), Some("3333"), &override_));
    // Run a test: operator.
    let test = [
        "eol",
        "run",
        "--pack",
        &code,
        "--port",
        "/dev/pw-no-such-port",
    ];
    unregistered(&as_op(&db, Some("ann"), Some("2222"), &test));
    allowed(&as_op(&db, Some("op"), Some("2222"), &test));
    // Print a label: operator.
    let print = ["label", "print", &code, "--printer", "file:/dev/null"];
    unregistered(&as_op(&db, Some("ann"), Some("2222"), &print));
    allowed(&as_op(&db, Some("op"), Some("2222"), &print));

    // Scrap a pack: quality, signed.
    let scrap_pack = [
        "packs",
        "scrap",
        &code,
        "--reason",
        "drop test",
        "--cells-to-stock",
    ];
    refused_for_role(
        &as_op(&db, Some("eng"), Some("3333"), &scrap_pack),
        "quality",
    );
    let r = as_op(&db, Some("qa"), Some("4444"), &scrap_pack);
    assert_eq!(r.0, 0, "{}", r.2);

    // Managing operators: admin.
    let set_role = [
        "operators",
        "set-role",
        "op",
        "engineer",
        "--reason",
        "trained",
    ];
    refused_for_role(&as_op(&db, Some("qa"), Some("4444"), &set_role), "admin");
    let r = as_op(&db, Some("root"), Some(ROOT_PIN), &set_role);
    assert_eq!(r.0, 0, "{}", r.2);

    // Reading needs nothing.
    for read in [
        &["cells", "list"][..],
        &["packs", "show", &code],
        &["audit", "verify"],
        &["operators", "list"],
        &["trace", &code],
    ] {
        let r = as_op(&db, None, None, read);
        assert_eq!(r.0, 0, "{read:?}: {}", r.2);
    }

    // Every entry since setup names a registered operator; signed decisions carry their
    // signature; the chain verifies.
    let out = pw(&db)
        .args(["audit", "export", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    let setup = entries
        .iter()
        .position(|e| e["action"] == "operator setup")
        .unwrap();
    for e in &entries[setup..] {
        assert!(
            ["root", "op", "eng", "qa"].contains(&e["operator"].as_str().unwrap()),
            "{e}"
        );
    }
    let signed = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .and_then(|e| e["signature"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        signed("cell unreject").contains("un-reject approved by Name of eng"),
        "{doc}"
    );
    assert!(signed("pack scrap").contains("scrap approved by Name of qa (quality), PIN re-entered"));
    assert!(signed("pack rework").contains("rework/release approved"));
    assert_eq!(signed("cell reject"), "");
    // Before setup, records carried the name given, as they always did.
    assert!(entries[..setup]
        .iter()
        .any(|e| e["action"] == "pack assembled" && e["operator"] == "ann"));
    let r = as_op(&db, None, None, &["audit", "verify"]);
    assert_eq!(r.0, 0, "{}", r.2);
}

#[test]
fn tokens_identify_for_routine_work_but_do_not_sign() {
    let dir = crate::support::tempdir();
    let (db, _, cells) = enforced_line(dir.path(), station_db(dir.path(), "line.db"));
    let spare = spares(&cells);
    let r = as_op(
        &db,
        Some("root"),
        Some(ROOT_PIN),
        &["operators", "token", "--for", "eng"],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    let token = r.1.trim().to_string();
    assert!(token.starts_with("pwt_"), "{token}");

    let with_token = |station: &str, args: &[&str]| {
        let out = pw(&db)
            .env_remove("PACKWRIGHT_OPERATOR")
            .env("PACKWRIGHT_STATION", station)
            .env("PACKWRIGHT_TOKEN", &token)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let reject = ["cells", "reject", &spare[0], "--reason", "dent"];
    let (code, err) = with_token("line-2", &reject);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not valid at station 'line-2'"), "{err}");
    let (code, err) = with_token("line-1", &reject);
    assert_eq!(code, 0, "{err}");
    let (code, err) = with_token(
        "line-1",
        &["cells", "unreject", &spare[0], "--reason", "ok"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a station token is not a signature"), "{err}");
}

#[test]
fn repeated_failed_logins_block_the_badge_until_an_admin_unblocks_it() {
    let dir = crate::support::tempdir();
    let (db, _, cells) = enforced_line(dir.path(), station_db(dir.path(), "line.db"));
    let spare = spares(&cells);
    let reject = ["cells", "reject", &spare[0], "--reason", "dent"];
    for i in 1..=5 {
        let r = as_op(&db, Some("B-OP"), Some("9999"), &reject);
        assert_eq!(r.0, 2, "{}", r.2);
        assert!(r.2.contains("wrong PIN for operator 'op'"), "{}", r.2);
        assert_eq!(r.2.contains("blocked until"), i == 5, "{}", r.2);
    }
    // The right PIN does not help while blocked.
    let r = as_op(&db, Some("op"), Some("2222"), &reject);
    assert_eq!(r.0, 2);
    assert!(
        r.2.contains("blocked after repeated failed logins"),
        "{}",
        r.2
    );
    let r = as_op(&db, None, None, &["operators", "failures", "--json"]);
    let failures: serde_json::Value = serde_json::from_str(&r.1).unwrap();
    assert_eq!(failures["items"].as_array().unwrap().len(), 5, "{failures}");
    let r = as_op(&db, None, None, &["operators", "list"]);
    assert!(
        r.1.lines()
            .any(|l| l.starts_with("op ") && l.contains("locked")),
        "{}",
        r.1
    );

    let r = as_op(
        &db,
        Some("root"),
        Some(ROOT_PIN),
        &[
            "operators",
            "unblock",
            "op",
            "--reason",
            "forgot PIN, reset",
        ],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    let r = as_op(&db, Some("op"), Some("2222"), &reject);
    assert_eq!(r.0, 0, "{}", r.2);

    // An operator an admin blocked cannot work at all.
    let r = as_op(
        &db,
        Some("root"),
        Some(ROOT_PIN),
        &["operators", "block", "eng", "--reason", "left"],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    let r = as_op(
        &db,
        Some("eng"),
        Some("3333"),
        &["cells", "unreject", &spare[0], "--reason", "x"],
    );
    assert_eq!(r.0, 2);
    assert!(r.2.contains("operator 'eng' is blocked"), "{}", r.2);
    let r = as_op(&db, None, None, &["audit", "verify"]);
    assert_eq!(r.0, 0, "{}", r.2);
}

#[test]
fn the_operator_role_keeps_the_whole_normal_flow_on_an_enforced_database() {
    use crate::support::eol::{eol_run, good_answers, Sim};
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let r = as_op(
        &db,
        None,
        Some(ROOT_PIN),
        &[
            "operators",
            "setup",
            "--id",
            "root",
            "--name",
            "Root",
            "--badge",
            "B-ROOT",
        ],
    );
    assert_eq!(r.0, 0, "{}", r.2);
    add(&db, "op", "operator", "B-OP", "2222");
    let csv = dir.path().join("graded.csv");
    let mut text = String::from(
        "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n",
    );
    for i in 1..=15 {
        text.push_str(&format!(
            "LFP-{i:03},{},0.5{},3300,1.0,A,EVMOD-0017\n",
            95_000 + i * 97 % 1000,
            i % 5
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let op = |args: &[&str]| as_op(&db, Some("B-OP"), Some("2222"), args);
    let r = op(&[
        "cells",
        "import",
        csv.to_str().unwrap(),
        "--chemistry",
        "LFP",
    ]);
    assert_eq!(r.0, 0, "{}", r.2);
    let r = op(&["match", "--profile", "lfp-15s1p-100ah", "--commit"]);
    assert_eq!(r.0, 0, "{}", r.2);
    let out = pw(&db)
        .args(["packs", "show", "1", "--json"])
        .output()
        .unwrap();
    let pack: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells: Vec<String> = pack["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[0].as_str().unwrap().to_string())
        .collect();
    let mut scan = vec!["assemble", "1", "--json", "--scan"];
    scan.extend(cells.iter().map(String::as_str));
    let r = op(&scan);
    assert_eq!(r.0, 0, "{}", r.2);
    let code = serde_json::from_str::<serde_json::Value>(&r.1).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let sim = Sim::jbd15(dir.path(), &[]);
    let r = op(&[
        "bms",
        "config",
        "write",
        "--pack",
        &code,
        "--protocol",
        "jbd",
        "--port",
        sim.port(),
    ]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    let answers = good_answers(dir.path());
    let out = eol_run(&db, &sim, &answers)
        .env("PACKWRIGHT_OPERATOR", "B-OP")
        .env("PACKWRIGHT_PIN", "2222")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let label = dir.path().join("label.zpl");
    let target = format!("file:{}", label.display());
    let r = op(&["label", "print", &code, "--printer", &target]);
    assert_eq!(r.0, 0, "{}", r.2);
    assert!(std::fs::read_to_string(&label).unwrap().contains(&code));

    // Every change is an entry by op, chained.
    let out = pw(&db)
        .args(["audit", "export", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_op: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operator"] == "op")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "cells import",
        "pack match",
        "pack assembled",
        "bms write",
        "eol run start",
        "eol run end",
    ] {
        assert!(by_op.contains(&action), "{action} in {by_op:?}");
    }
    let write = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "bms write")
        .unwrap();
    assert_eq!(write["old_value"], "assembled", "{write}");
    assert!(
        write["new_value"]
            .as_str()
            .unwrap()
            .starts_with("configured; write 1 verified"),
        "{write}"
    );
    let r = as_op(&db, None, None, &["audit", "verify"]);
    assert_eq!(r.0, 0, "{}", r.2);
}
