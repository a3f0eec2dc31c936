//! Several writers on one database, through the real binary: small imports, large imports,
//! `match --commit` and rejects, all at once for a bounded time. No operation may fail, no
//! row may be lost, and the file must pass `PRAGMA integrity_check`. The longest time any
//! one operation took (mostly waiting for the write lock) is printed, not asserted: it
//! depends on the machine.
//!
//! `PACKWRIGHT_STRESS_SECS` sets the duration (default 20).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn run(db: &Path, args: &[&str]) -> (bool, Duration, String, String) {
    let t = Instant::now();
    let out = crate::support::bin()
        .env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "stress")
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .env_remove("PACKWRIGHT_BUSY_TIMEOUT_MS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        t.elapsed(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        format!("{:?}: {}", args, String::from_utf8_lossy(&out.stderr)),
    )
}

/// `n` NMC cells (never matched by the LFP profile the matcher uses) `{prefix}-{i}`.
fn nmc_csv(path: &Path, prefix: &str, n: usize) {
    let mut csv = String::from("id,capacity_mah,chemistry\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}-{i:05},{},nmc\n", 2500 + i % 40));
    }
    std::fs::write(path, csv).unwrap();
}

/// `n` LFP cells for `lfp-16s1p-280ah` (as in cli_match), `{prefix}-{i}`.
fn lfp_csv(path: &Path, prefix: &str, n: usize) {
    let mut csv = String::from(
        "id,chemistry,capacity_ah,ir_mohm,ocv_v,self_discharge_mv_per_day,source_code\n",
    );
    for i in 0..n {
        let cap = 262.0 + ((i * 37 % 13) as f64 - 6.0);
        let ir = 0.20 + (i * 7 % 10) as f64 / 100.0;
        let ocv = 3.296 + (i * 3 % 9) as f64 / 1000.0;
        csv.push_str(&format!(
            "{prefix}-{i:05},lfp,{cap},{ir:.2},{ocv:.3},1.0,MOD-{:03}\n",
            i / 8
        ));
    }
    std::fs::write(path, csv).unwrap();
}

#[derive(Default)]
struct Tally {
    ops: u64,
    failures: Vec<String>,
    longest: Duration,
    longest_op: String,
    /// The longest operation of each writer: a reject takes milliseconds alone, so its
    /// longest is, within that, the longest wait for the write lock.
    longest_by_writer: std::collections::BTreeMap<String, Duration>,
    imported: u64,
    packs: u64,
    rejected: u64,
}

impl Tally {
    fn record(&mut self, ok: bool, took: Duration, stderr: &str) {
        self.ops += 1;
        if !ok {
            self.failures.push(stderr.to_string());
        }
        let writer = stderr.split(' ').next().unwrap_or("").to_string();
        let longest = self.longest_by_writer.entry(writer).or_default();
        *longest = (*longest).max(took);
        if took > self.longest {
            self.longest = took;
            self.longest_op = stderr.split(':').next().unwrap_or("").to_string();
        }
    }
}

#[test]
fn stress_writers_several_processes_write_one_database_without_failing() {
    let secs: u64 = std::env::var("PACKWRIGHT_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    // Cells for the rejecter, imported before the clock starts.
    let seed = dir.path().join("seed.csv");
    nmc_csv(&seed, "R", 5000);
    let (ok, _, _, err) = run(&db, &["cells", "import", seed.to_str().unwrap()]);
    assert!(ok, "{err}");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut writers = Vec::new();
    type Step = Box<dyn FnMut(u64, &Path, &Path) -> (bool, Duration, String, String, u64) + Send>;
    let spawn = |name: &'static str, mut step: Step, kind: fn(&mut Tally, u64)| {
        let stop = stop.clone();
        let tally = tally.clone();
        let db: PathBuf = db.clone();
        let dir: PathBuf = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (ok, took, _, err, n) = step(i, &db, &dir);
                let mut t = tally.lock().unwrap();
                t.record(ok, took, &format!("{name} {err}"));
                if ok {
                    kind(&mut t, n);
                }
                i += 1;
            }
        })
    };
    // 1. Small imports, one after another.
    writers.push(spawn(
        "small-import",
        Box::new(|i, db, dir| {
            let f = dir.join(format!("small-{i}.csv"));
            nmc_csv(&f, &format!("S{i}"), 50);
            let (ok, took, out, err) = run(db, &["cells", "import", f.to_str().unwrap()]);
            (ok, took, out, err, 50)
        }),
        |t, n| t.imported += n,
    ));
    // 2. Large imports of other files.
    writers.push(spawn(
        "large-import",
        Box::new(|i, db, dir| {
            let f = dir.join(format!("large-{i}.csv"));
            nmc_csv(&f, &format!("L{i}"), 2000);
            let (ok, took, out, err) = run(db, &["cells", "import", f.to_str().unwrap()]);
            (ok, took, out, err, 2000)
        }),
        |t, n| t.imported += n,
    ));
    // 3. Import LFP cells, then commit every pack they make (in several chunks).
    writers.push(spawn(
        "match-commit",
        Box::new(|i, db, dir| {
            if i.is_multiple_of(2) {
                let f = dir.join(format!("lfp-{i}.csv"));
                lfp_csv(&f, &format!("P{i}"), 16 * 160);
                let (ok, took, out, err) = run(db, &["cells", "import", f.to_str().unwrap()]);
                return (ok, took, out, err, 16 * 160);
            }
            let (ok, took, out, err) = run(
                db,
                &[
                    "match",
                    "--profile",
                    "lfp-16s1p-280ah",
                    "--commit",
                    "--json",
                ],
            );
            let packs = serde_json::from_str::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["packs"].as_array().map(|p| p.len() as u64))
                .unwrap_or(0);
            // Packs are counted as 1_000_000 + n to tell them from imported cells.
            (ok, took, out, err, 1_000_000 + packs)
        }),
        |t, n| {
            if n >= 1_000_000 {
                t.packs += n - 1_000_000
            } else {
                t.imported += n
            }
        },
    ));
    // 4. Rejects, each of another seeded cell.
    writers.push(spawn(
        "reject",
        Box::new(|i, db, _| {
            let id = format!("R-{i:05}");
            let (ok, took, out, err) =
                run(db, &["cells", "reject", &id, "--reason", "stress: dented"]);
            (ok, took, out, err, 1)
        }),
        |t, n| t.rejected += n,
    ));
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let t = tally.lock().unwrap();
    eprintln!(
        "stress_writers: {} operations in {secs} s by 4 writers, {} failed; longest operation {:.2} s ({}); \
         {} cells imported, {} packs committed, {} cells rejected",
        t.ops,
        t.failures.len(),
        t.longest.as_secs_f64(),
        t.longest_op.trim(),
        t.imported,
        t.packs,
        t.rejected
    );
    for (writer, longest) in &t.longest_by_writer {
        eprintln!(
            "stress_writers: longest {writer}: {:.2} s",
            longest.as_secs_f64()
        );
    }
    assert!(
        t.failures.is_empty(),
        "failed operations: {:#?}",
        t.failures
    );

    // Nothing lost: every row any writer was told it saved is there.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count =
        |sql: &str| -> u64 { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64 };
    assert_eq!(count("SELECT COUNT(*) FROM cells"), 5000 + t.imported);
    assert_eq!(count("SELECT COUNT(*) FROM packs"), t.packs);
    assert_eq!(count("SELECT COUNT(*) FROM pack_cells"), 16 * t.packs);
    assert_eq!(
        count("SELECT COUNT(*) FROM cells WHERE status = 'reserved'"),
        16 * t.packs
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM cells WHERE status = 'rejected'"),
        t.rejected
    );
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(t.ops >= 8, "the writers hardly ran: {} operations", t.ops);
}

#[test]
fn stress_writers_several_processes_create_and_migrate_one_new_database_at_once() {
    // Several rounds: setting up a new file (WAL switch, first migration) met SQLite lock
    // conflicts that skip the busy handler in about one round in three of ten processes.
    const PROCESSES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..PROCESSES {
        nmc_csv(&dir.path().join(format!("n{i}.csv")), &format!("N{i}"), 200);
    }
    for round in 0..4 {
        let db = dir.path().join(format!("new{round}.db"));
        let writers: Vec<_> = (0..PROCESSES)
            .map(|i| {
                let f = dir.path().join(format!("n{i}.csv"));
                let db = db.clone();
                std::thread::spawn(move || run(&db, &["cells", "import", f.to_str().unwrap()]))
            })
            .collect();
        for w in writers {
            let (ok, _, _, err) = w.join().unwrap();
            assert!(ok, "round {round}: {err}");
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM cells", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, (PROCESSES * 200) as i64, "round {round}");
    }
}
