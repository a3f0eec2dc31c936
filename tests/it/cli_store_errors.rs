//! Scripts and pipes through the real binary: exit codes and messages for a locked, damaged,
//! read-only or missing database; a closed pipe; `--json` documents and errors.

use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("packwright")
}

fn pw(db: &Path) -> Command {
    let mut cmd = crate::support::assert_bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "test-station")
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .env_remove("PACKWRIGHT_BUSY_TIMEOUT_MS")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// A CSV of `n` LFP cells `{prefix}0000…`.
fn cells_csv(dir: &Path, prefix: &str, n: usize) -> PathBuf {
    let mut csv = String::from("id,capacity_mah,chemistry\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}{i:04},{},lfp\n", 3000 + i % 50));
    }
    let path = dir.join(format!("{prefix}.csv"));
    std::fs::write(&path, csv).unwrap();
    path
}

/// A database with `n` cells.
fn db_with_cells(dir: &Path, n: usize) -> PathBuf {
    let db = dir.join("line.db");
    let csv = cells_csv(dir, "C", n);
    pw(&db)
        .args(["cells", "import"])
        .arg(&csv)
        .assert()
        .success();
    db
}

/// Exactly one error line on stderr, naming the database; returns it.
#[track_caller]
fn one_error_naming(stderr: &[u8], db: &Path) -> String {
    let text = String::from_utf8_lossy(stderr).into_owned();
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].contains(&db.display().to_string()), "{text}");
    errors[0].to_string()
}

#[test]
fn cli_a_locked_database_waits_then_exits_4_naming_it() {
    let dir = crate::support::tempdir();
    let db = db_with_cells(dir.path(), 3);
    let more = cells_csv(dir.path(), "M", 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "BEGIN EXCLUSIVE; INSERT INTO events(at, level, station, operator, message) \
         VALUES ('2026-01-01T00:00:00Z', 'info', 'holder', 't', 'holding the lock');",
    )
    .unwrap();
    // A writer gives up after its busy timeout: exit 4, one message naming the file.
    let out = pw(&db)
        .env("PACKWRIGHT_BUSY_TIMEOUT_MS", "300")
        .args(["cells", "import", "--json"])
        .arg(&more)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let line = one_error_naming(&out.stderr, &db);
    assert!(line.contains("locked"), "{line}");
    // Under --json the error is a document on stdout too.
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "packwright.error");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["exit_code"], 4);
    assert!(doc["error"].as_str().unwrap().contains("locked"));
    let out = pw(&db)
        .env("PACKWRIGHT_BUSY_TIMEOUT_MS", "300")
        .args(["cells", "reject", "C0001", "--reason", "dent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    one_error_naming(&out.stderr, &db);
    // Reading needs no lock (WAL).
    pw(&db)
        .env("PACKWRIGHT_BUSY_TIMEOUT_MS", "300")
        .args(["cells", "list"])
        .assert()
        .success();
    // A lock released within the timeout is waited for, not failed on.
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        conn.execute_batch("COMMIT").unwrap();
    });
    pw(&db)
        .env("PACKWRIGHT_BUSY_TIMEOUT_MS", "20000")
        .args(["cells", "import"])
        .arg(&more)
        .assert()
        .success();
    holder.join().unwrap();
}

#[test]
fn cli_a_damaged_database_exits_4_naming_it() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("garbage.db");
    let bytes: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&db, bytes).unwrap();
    for args in [
        &["cells", "list"][..],
        &["cells", "import", "data/cells/none.csv"][..],
    ] {
        let out = pw(&db).args(args).output().unwrap();
        if args[1] == "import" && out.status.code() == Some(2) {
            continue; // the file is read first: a missing CSV is the input's fault
        }
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let line = one_error_naming(&out.stderr, &db);
        assert!(line.contains("damaged"), "{line}");
    }
}

#[test]
fn cli_a_read_only_database_exits_4_naming_it() {
    let dir = crate::support::tempdir();
    let db = db_with_cells(dir.path(), 3);
    let more = cells_csv(dir.path(), "M", 2);
    // Checkpoint so the file alone holds everything, then make file and folder read-only.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    set(&more, 0o644).unwrap();
    set(&db, 0o444).unwrap();
    set(dir.path(), 0o555).unwrap();
    // Root writes regardless of modes: run as nobody where we can, else say what was skipped.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        if std::process::Command::new("setpriv")
            .arg("--help")
            .output()
            .is_err()
        {
            eprintln!("skipped: running as root without setpriv, read-only cannot be tested");
            set(dir.path(), 0o755).unwrap();
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin());
        c
    } else {
        crate::support::assert_bin()
    };
    let out = cmd
        .env(
            crate::support::ALLOW_NO_OPERATORS.0,
            crate::support::ALLOW_NO_OPERATORS.1,
        )
        .env("PACKWRIGHT_DB", &db)
        .env("PACKWRIGHT_OPERATOR", "tester")
        .args(["cells", "import"])
        .arg(&more)
        .output()
        .unwrap();
    set(dir.path(), 0o755).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if root && stderr.contains("setpriv") {
        eprintln!("skipped: setpriv cannot switch user here: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let line = one_error_naming(&out.stderr, &db);
    assert!(
        line.contains("cannot be written") || line.contains("cannot open"),
        "{line}"
    );
}

#[test]
fn cli_reading_commands_refuse_a_missing_database_and_writing_ones_say_they_create_it() {
    let dir = crate::support::tempdir();
    let typo = dir.path().join("tpyo/line.db");
    for args in [
        &["cells", "list"][..],
        &["packs", "list", "--json"][..],
        &["trace", "X1"][..],
        &["match", "--profile", "lfp-16s1p-280ah"][..],
    ] {
        let out = pw(&typo).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let line = one_error_naming(&out.stderr, &typo);
        assert!(line.contains("does not exist"), "{line}");
    }
    assert!(!dir.path().join("tpyo").exists(), "nothing was created");
    let csv = cells_csv(dir.path(), "N", 2);
    let out = pw(&typo)
        .args(["cells", "import"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("created a new database").count(),
        1,
        "{stderr}"
    );
    assert!(typo.exists());
    let out = pw(&typo).args(["cells", "list"]).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("created"));
}

#[test]
fn cli_a_closed_pipe_ends_a_listing_quietly() {
    let dir = crate::support::tempdir();
    // Far more than a pipe buffer holds, so the writer meets the closed pipe.
    let db = db_with_cells(dir.path(), 3000);
    let mut child = crate::support::bin()
        .env("PACKWRIGHT_DB", &db)
        .args(["cells", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("id"), "{first}");
    // The reader is gone (like `| head -1`).
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() == Some(13) || out.status.code() == Some(0),
        "ended by SIGPIPE (141 in a shell) or 0, not {:?}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

#[test]
fn cli_json_documents_carry_schema_and_version_even_with_no_pack() {
    let dir = crate::support::tempdir();
    let db = db_with_cells(dir.path(), 3);
    let out = pw(&db).args(["cells", "list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "packwright.cells.list");
    assert_eq!(v["version"], 1);
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    // Three cells make no pack: still the match document, and exit 2.
    let out = pw(&db)
        .args(["match", "--profile", "lfp-16s1p-280ah", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "packwright.match");
    assert_eq!(v["packs"].as_array().unwrap().len(), 0);
    assert!(v["no_pack_reason"]
        .as_str()
        .unwrap()
        .contains("not enough cells"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enough cells"));
}

#[test]
fn cli_can_log_that_fails_leaves_no_file() {
    let dir = crate::support::tempdir();
    let file = dir.path().join("bus.log");
    let out = pw(&dir.path().join("line.db"))
        .args(["can", "log", "pwnosuch0"])
        .arg(&file)
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!file.exists(), "a failed log left {}", file.display());
}
