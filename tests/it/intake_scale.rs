//! Large imports through the real binary: staged in chunks, so a failure after many chunks
//! or a kill midway leaves nothing visible (and the next import removes what a killed one
//! staged), duplicates chunks apart are named by both lines, other writers get the lock while
//! an import runs, and progress is drawn on a terminal and never into a pipe.

use super::support::pty::Pty;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn pw(db: &Path) -> Command {
    let mut cmd = crate::support::bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "test-station")
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .env_remove("PACKWRIGHT_BUSY_TIMEOUT_MS")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// `out`, which must have succeeded (its stderr says why not).
#[track_caller]
fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cells import FILE` on `db`, run to its end.
fn import(db: &Path, file: &Path) -> Output {
    pw(db).args(["cells", "import"]).arg(file).output().unwrap()
}

/// An export of `n` cells `{prefix}…` whose last row is `last` is refused as a whole (exit 2),
/// the error naming `error`.
#[track_caller]
fn import_refused(dir: &Path, db: &Path, prefix: &str, n: usize, last: &str, error: &str) {
    let file = export(dir, &format!("{prefix}.csv"), prefix, n, Some(last));
    let out = import(db, &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(error), "{stderr}");
}

/// An export of `n` LFP cells `{prefix}0000000…`; `last` replaces the last row's text.
fn export(dir: &Path, name: &str, prefix: &str, n: usize, last: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(
        b"id,chemistry,capacity_ah,ir_mohm,ocv_v,self_discharge_mv_per_day,source_code\n",
    )
    .unwrap();
    for i in 0..n {
        match last {
            Some(text) if i + 1 == n => writeln!(out, "{text}").unwrap(),
            _ => writeln!(
                out,
                "{prefix}{i:07},LFP,{:.1},0.25,3.30,1.0,MOD-{}",
                260.0 + (i % 10) as f64,
                i / 8
            )
            .unwrap(),
        }
    }
    out.flush().unwrap();
    path
}

/// Rows in `cells`, visible or not, and batches still staged: what the file really holds.
fn raw_counts(db: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let cells = conn
        .query_row("SELECT COUNT(*) FROM cells", [], |r| r.get(0))
        .unwrap();
    let staged = conn
        .query_row(
            "SELECT COUNT(*) FROM import_batches WHERE staged_pid IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (cells, staged)
}

fn listed(db: &Path) -> usize {
    let out = succeeded(pw(db).args(["cells", "list", "--json"]).output().unwrap());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"].as_array().unwrap().len()
}

fn seed(dir: &Path, db: &Path) {
    succeeded(import(db, &export(dir, "seed.csv", "S", 20, None)));
}

/// Wait until the import running as `child` has staged at least `rows` cells.
fn wait_staged(db: &Path, child: &mut std::process::Child, rows: i64, seeded: i64) {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let (cells, staged) = raw_counts(db);
        if staged == 1 && cells >= seeded + rows {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before {rows} cells were staged"
        );
        assert!(Instant::now() < until, "nothing was staged");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn intake_scale_a_fault_after_many_chunks_leaves_nothing_visible_or_staged() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    seed(dir.path(), &db);
    // Three chunks of 4,000 rows, the fault in the last one: line 10002.
    import_refused(
        dir.path(),
        &db,
        "B",
        10_001,
        "B-last,LFP,26o,0.25,3.30,1.0,M",
        "line 10002, column capacity_ah",
    );
    assert_eq!(listed(&db), 20);
    assert_eq!(raw_counts(&db), (20, 0), "staged rows were left behind");
    // An id the database already has, far into the file: the same.
    import_refused(
        dir.path(),
        &db,
        "T",
        10_001,
        "S0000003,LFP,260,0.25,3.30,1.0,M",
        "line 10002, column id: cell 'S0000003' is already in the database (available)",
    );
    assert_eq!(raw_counts(&db), (20, 0));
}

#[test]
fn intake_scale_a_duplicate_id_chunks_apart_is_named_by_both_lines() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    import_refused(
        dir.path(),
        &db,
        "D",
        9_000,
        "D0000007,LFP,260,0.25,3.30,1.0,M",
        "line 9001, column id: duplicate id 'D0000007' (first on line 9)",
    );
    assert_eq!(raw_counts(&db), (0, 0));
}

#[test]
fn intake_scale_an_import_killed_midway_is_invisible_and_the_next_import_removes_it() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    seed(dir.path(), &db);
    let big = export(dir.path(), "big.csv", "K", 400_000, None);
    let mut child = pw(&db)
        .args(["cells", "import"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_staged(&db, &mut child, 8_000, 20);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let (cells, staged) = raw_counts(&db);
    assert!(cells >= 20 + 8_000 && staged == 1, "{cells} {staged}");
    // Staged, yet nowhere to be seen.
    assert_eq!(listed(&db), 20);
    let out = pw(&db)
        .args(["cells", "show", "K0000001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = pw(&db)
        .args(["cells", "reject", "K0000001", "--reason", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The next import removes the dead one's cells and may take its ids.
    succeeded(import(&db, &export(dir.path(), "again.csv", "K", 5, None)));
    assert_eq!(raw_counts(&db), (25, 0));
    assert_eq!(listed(&db), 25);
}

#[test]
fn intake_scale_other_writers_get_the_lock_while_a_large_import_runs() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    seed(dir.path(), &db);
    let big = export(dir.path(), "big.csv", "W", 400_000, None);
    let mut child = pw(&db)
        .args(["cells", "import"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_staged(&db, &mut child, 4_000, 20);
    // A reject (a write) finishes while the import is still staging: it was let in between
    // chunks instead of waiting for the whole import.
    succeeded(
        pw(&db)
            .args(["cells", "reject", "S0000002", "--reason", "dented"])
            .output()
            .unwrap(),
    );
    let (_, staged) = raw_counts(&db);
    assert_eq!(staged, 1, "the reject only got in after the import");
    assert!(child.try_wait().unwrap().is_none());
    succeeded(child.wait_with_output().unwrap());
    assert_eq!(raw_counts(&db), (400_020, 0));
    let out = pw(&db)
        .args(["cells", "show", "S0000002", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "rejected");
}

#[test]
fn intake_scale_progress_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let dir = crate::support::tempdir();
    let file = export(dir.path(), "p.csv", "P", 20_000, None);
    // Piped: stderr holds the messages and nothing else, stdout the result.
    let db = dir.path().join("piped.db");
    let out = succeeded(import(&db, &file));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr:?}");
    assert!(
        lines[0].starts_with("packwright: created a new database"),
        "{stderr:?}"
    );
    assert!(
        lines[1].starts_with("note: ") && lines[1].contains("read as CSV"),
        "{stderr:?}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("imported 20000 cells from {} (batch 1)\n", file.display())
    );
    let out = succeeded(
        pw(&db)
            .args([
                "match",
                "--profile",
                "lfp-16s1p-280ah",
                "--commit",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["packs"].as_array().unwrap().len(), 1_250);
    // On a terminal: the bar is drawn (and cleared again before the result).
    let mut cmd = pw(&dir.path().join("tty.db"));
    cmd.args(["cells", "import"]).arg(&file);
    let mut pty = Pty::spawn(cmd, 80, 24);
    assert!(pty.wait_exit(Duration::from_secs(120)).success());
    let bytes = String::from_utf8_lossy(&pty.bytes()).into_owned();
    assert!(bytes.contains("importing"), "{bytes:?}");
    assert!(bytes.contains("imported 20000 cells"), "{bytes:?}");
}
