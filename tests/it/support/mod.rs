//! Shared by the test modules: the simulator fixture, the real binary as a client, the
//! headless console and the pseudo-terminal, the vcan helpers.

pub mod eol;
pub mod family;
pub mod pg;
pub mod printer;
pub mod proxy;
pub mod pty;
pub mod serial;
pub mod sim;
pub mod tui;
pub mod vcan;

/// The explicit opt-in the tests run the binary under: their many fresh databases have no
/// registered operators, and records name `PACKWRIGHT_OPERATOR` as given. It never opens a
/// database that has operators (the operators tests set those up, or remove it).
pub const ALLOW_NO_OPERATORS: (&str, &str) = ("PACKWRIGHT_ALLOW_NO_OPERATORS", "1");

/// The real binary (std's `Command`), with [`ALLOW_NO_OPERATORS`]: every test that spawns
/// `packwright` starts here or at [`assert_bin`].
pub fn bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_packwright"));
    cmd.env(ALLOW_NO_OPERATORS.0, ALLOW_NO_OPERATORS.1);
    cmd
}

/// The real binary as an `assert_cmd` command, with [`ALLOW_NO_OPERATORS`].
pub fn assert_bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_packwright"));
    cmd.env(ALLOW_NO_OPERATORS.0, ALLOW_NO_OPERATORS.1);
    cmd
}

/// Opt the test process in as well, for the line services it runs in-process on throw-away
/// databases without operators (the headless console).
pub fn allow_in_process() {
    packwright::services::authority::allow_without_operators();
}

/// A test's temporary folder (removed when dropped), whose databases must end the test with
/// their audit trails intact: when it is dropped without a panic, every SQLite file in it (found
/// by its header, up to three folders down) that holds an audit trail, and every line database
/// [`pg::fresh_db`] made on the test's thread, is walked by `audit::verify`, and a broken chain
/// fails the test naming the file and the entry. Tests that break a trail on purpose say which
/// file with [`TestDir::unchecked`].
pub struct TestDir {
    dir: tempfile::TempDir,
    unchecked: std::cell::RefCell<Vec<std::path::PathBuf>>,
}

/// A new [`TestDir`]: every test's folder comes from here.
pub fn tempdir() -> TestDir {
    TestDir {
        dir: tempfile::tempdir().unwrap(),
        unchecked: Default::default(),
    }
}

impl TestDir {
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Leave `file`'s trail unchecked: the test breaks it on purpose.
    pub fn unchecked(&self, file: &std::path::Path) {
        self.unchecked.borrow_mut().push(file.to_path_buf());
    }

    /// Each database's trail in the folder, as `(file, entries)`; a broken one panics.
    pub fn verify_trails(&self) -> Vec<(std::path::PathBuf, usize)> {
        let mut verified = Vec::new();
        let mut files = Vec::new();
        sqlite_files(self.path(), 3, &mut files);
        for file in files {
            if self.unchecked.borrow().contains(&file) {
                continue;
            }
            if let Some(entries) = trail_of(&file) {
                match packwright::audit::verify(&entries) {
                    Ok(n) => verified.push((file, n)),
                    Err(broken) => panic!(
                        "the test left {} with a broken audit trail: {broken}",
                        file.display()
                    ),
                }
            }
        }
        for url in pg::take_made_here() {
            // Off the test's thread: the blocking client must not run inside a tokio runtime.
            let u = url.clone();
            let verdict = std::thread::spawn(move || {
                let store = packwright::store::open(std::path::Path::new(&u)).unwrap();
                store.verify_audit().unwrap()
            })
            .join()
            .unwrap();
            match verdict {
                Ok(n) => verified.push((url.into(), n)),
                Err(broken) => {
                    panic!("the test left {url} with a broken audit trail: {broken}")
                }
            }
        }
        verified
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let verified = self.verify_trails();
            // For a count of what the suite checked: one line per database walked.
            if let Ok(log) = std::env::var("PACKWRIGHT_IT_TRAIL_LOG") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap();
                let test = std::thread::current().name().unwrap_or("?").to_string();
                for (db, n) in verified {
                    writeln!(f, "{test}\t{}\t{n}", db.display()).unwrap();
                }
            }
        }
    }
}

/// The SQLite files under `dir` (by the file format's 16-byte header), `depth` folders down.
fn sqlite_files(dir: &std::path::Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth > 0 {
            sqlite_files(&path, depth - 1, out);
        } else if kind.is_file() {
            let mut head = [0u8; 16];
            let is_sqlite = std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok()
                && &head == b"SQLite format 3\0";
            if is_sqlite {
                out.push(path);
            }
        }
    }
}

/// `file`'s audit trail in chain order, or `None` when it holds none (an outbox, a schema
/// before the trail) or is not readable as a database (a test damaged it on purpose).
fn trail_of(file: &std::path::Path) -> Option<Vec<packwright::audit::Entry>> {
    use rusqlite::{ffi::ErrorCode, OpenFlags};
    let damaged = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
        )
    };
    let conn = rusqlite::Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let has = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'audit_log')",
        [],
        |r| r.get::<_, bool>(0),
    );
    match has {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) if damaged(&e) => return None,
        Err(e) => panic!("{}: {e}", file.display()),
    }
    let mut stmt = conn
        .prepare(
            "SELECT seq, at, station, operator, action, subject_kind, subject, old_value,
                    new_value, reason, signature, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| {
        Ok(packwright::audit::Entry {
            seq: r.get(0)?,
            at: r.get(1)?,
            station: r.get(2)?,
            operator: r.get(3)?,
            action: r.get(4)?,
            subject_kind: r.get(5)?,
            subject: r.get(6)?,
            old_value: r.get(7)?,
            new_value: r.get(8)?,
            reason: r.get(9)?,
            signature: r.get(10)?,
            prev_hash: r.get(11)?,
            hash: r.get(12)?,
        })
    });
    match rows.and_then(|rows| rows.collect::<Result<Vec<_>, _>>()) {
        Ok(entries) => Some(entries),
        Err(e) if damaged(&e) => None,
        Err(e) => panic!("{}: {e}", file.display()),
    }
}

/// The folder's check fails a test that leaves a broken trail, names the file and entry, and
/// leaves alone a file said to be broken on purpose.
#[test]
fn a_test_folder_fails_a_broken_trail_it_holds() {
    let dir = tempdir();
    let db = dir.path().join("sub").join("line.db");
    let store = packwright::store::Store::open(&db).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO audit_log(seq, at, station, operator, action, subject_kind, subject,
                               prev_hash, hash)
         VALUES (1, 'x', 's', 'o', 'a', 'pack', '#1', 'bad', 'bad');",
    )
    .unwrap();
    drop(conn);
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dir.verify_trails()));
    let why = checked.unwrap_err();
    let why = why.downcast_ref::<String>().unwrap();
    assert!(
        why.contains("line.db") && why.contains("audit entry #1"),
        "{why}"
    );
    dir.unchecked(&db);
    assert_eq!(dir.verify_trails(), vec![]);
    // An intact one is walked.
    let good = dir.path().join("good.db");
    drop(packwright::store::Store::open(&good).unwrap());
    assert_eq!(dir.verify_trails(), vec![(good, 0)]);
}

/// Every integration test takes its folder from [`tempdir`], so that its databases' trails are
/// checked when it ends: no other way to a temporary folder appears in `tests/it`.
#[test]
fn every_test_folder_is_a_test_dir() {
    let it = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut offenders = Vec::new();
    let mut stack = vec![it.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("support/mod.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    if line.contains("tempfile::") || line.contains("TempDir::") {
                        offenders.push(format!("{}:{}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "use crate::support::tempdir() for a test's folder: {offenders:?}"
    );
}
