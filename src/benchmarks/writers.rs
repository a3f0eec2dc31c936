//! Several writers on one database, measured: `packwright bench writers`. Four writer threads
//! each run this program's own binary again and again against one fresh database in a
//! temporary folder (small imports, large imports, import + `match --commit`, rejects), for
//! a given time. Reported: operations, failures, each writer's longest operation (a reject
//! alone takes milliseconds, so its longest is its longest wait for the write lock), and
//! whether every row the writers were told was saved is there and the file passes
//! `PRAGMA integrity_check`.

use crate::domain::CellStatus;
use crate::store::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default, Serialize)]
pub struct WritersReport {
    pub seconds: f64,
    pub operations: u64,
    pub failed: u64,
    /// The first failures' messages (at most 10).
    pub failures: Vec<String>,
    /// Each writer's longest operation, in seconds.
    pub longest_s: BTreeMap<String, f64>,
    pub cells_imported: u64,
    pub packs_committed: u64,
    pub cells_rejected: u64,
    /// Every saved row found again: cells, packs, reserved and rejected cells.
    pub rows_all_there: bool,
    pub integrity_check: String,
}

impl WritersReport {
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.rows_all_there && self.integrity_check == "ok"
    }
}

impl std::fmt::Display for WritersReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} operations by 4 writers in {:.0} s: {} failed",
            self.operations, self.seconds, self.failed
        )?;
        for (writer, s) in &self.longest_s {
            writeln!(f, "  longest {writer:<13} {s:.2} s")?;
        }
        writeln!(
            f,
            "{} cells imported, {} packs committed, {} cells rejected; rows all there: {}; integrity: {}",
            self.cells_imported,
            self.packs_committed,
            self.cells_rejected,
            if self.rows_all_there { "yes" } else { "NO" },
            self.integrity_check
        )?;
        for e in &self.failures {
            writeln!(f, "  failed: {e}")?;
        }
        Ok(())
    }
}

fn run(exe: &Path, db: &Path, args: &[&str]) -> (bool, Duration, String, String) {
    let t = Instant::now();
    match std::process::Command::new(exe)
        .env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "bench")
        .env("PACKWRIGHT_OPERATOR", "bench")
        // Throw-away databases without operators: the explicit opt-in.
        .env(crate::services::authority::ALLOW_ENV, "1")
        .args(args)
        .output()
    {
        Ok(out) => (
            out.status.success(),
            t.elapsed(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            format!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ),
        Err(e) => (false, t.elapsed(), String::new(), format!("{args:?}: {e}")),
    }
}

fn nmc_csv(path: &Path, prefix: &str, n: usize) -> std::io::Result<()> {
    let mut csv = String::from("id,capacity_mah,chemistry\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}-{i:05},{},nmc\n", 2500 + i % 40));
    }
    std::fs::write(path, csv)
}

fn lfp_csv(path: &Path, prefix: &str, n: usize) -> std::io::Result<()> {
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
    std::fs::write(path, csv)
}

#[derive(Clone, Copy)]
enum Writer {
    SmallImport,
    LargeImport,
    MatchCommit,
    Reject,
}

impl Writer {
    fn name(self) -> &'static str {
        match self {
            Writer::SmallImport => "small-import",
            Writer::LargeImport => "large-import",
            Writer::MatchCommit => "match-commit",
            Writer::Reject => "reject",
        }
    }
}

const SEEDED: usize = 20_000;

/// Run the four writers for `duration` on a fresh database in a temporary folder.
pub fn run_writers(duration: Duration) -> anyhow::Result<WritersReport> {
    let exe = std::env::current_exe()?;
    let dir = TempDir::new("writers")?;
    let db = dir.path().join("bench.db");
    let seed = dir.path().join("seed.csv");
    nmc_csv(&seed, "R", SEEDED)?;
    let (ok, _, _, err) = run(&exe, &db, &["cells", "import", &seed.to_string_lossy()]);
    anyhow::ensure!(ok, "seeding the database failed: {err}");
    let stop = Arc::new(AtomicBool::new(false));
    let report = Arc::new(Mutex::new(WritersReport::default()));
    let start = Instant::now();
    let threads: Vec<_> = [
        Writer::SmallImport,
        Writer::LargeImport,
        Writer::MatchCommit,
        Writer::Reject,
    ]
    .into_iter()
    .map(|w| {
        let (stop, report, exe, db) = (stop.clone(), report.clone(), exe.clone(), db.clone());
        let dir: PathBuf = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < SEEDED {
                let file = dir.join(format!("{}-{i}.csv", w.name()));
                let file_s = file.to_string_lossy().into_owned();
                let (result, imported, packs, rejected) = match w {
                    Writer::SmallImport => {
                        let _ = nmc_csv(&file, &format!("S{i}"), 50);
                        (run(&exe, &db, &["cells", "import", &file_s]), 50, 0, 0)
                    }
                    Writer::LargeImport => {
                        let _ = nmc_csv(&file, &format!("L{i}"), 2000);
                        (run(&exe, &db, &["cells", "import", &file_s]), 2000, 0, 0)
                    }
                    Writer::MatchCommit if i.is_multiple_of(2) => {
                        let _ = lfp_csv(&file, &format!("P{i}"), 16 * 160);
                        (
                            run(&exe, &db, &["cells", "import", &file_s]),
                            16 * 160,
                            0,
                            0,
                        )
                    }
                    Writer::MatchCommit => {
                        let r = run(
                            &exe,
                            &db,
                            &[
                                "match",
                                "--profile",
                                "lfp-16s1p-280ah",
                                "--commit",
                                "--json",
                            ],
                        );
                        let packs = serde_json::from_str::<serde_json::Value>(&r.2)
                            .ok()
                            .and_then(|v| v["packs"].as_array().map(|p| p.len() as u64))
                            .unwrap_or(0);
                        (r, 0, packs, 0)
                    }
                    Writer::Reject => {
                        let id = format!("R-{i:05}");
                        let args = ["cells", "reject", &id, "--reason", "bench: dented"];
                        (run(&exe, &db, &args), 0, 0, 1)
                    }
                };
                let _ = std::fs::remove_file(&file);
                let (ok, took, _, err) = result;
                let mut r = report.lock().unwrap_or_else(|p| p.into_inner());
                r.operations += 1;
                let longest = r.longest_s.entry(w.name().into()).or_default();
                *longest = longest.max(took.as_secs_f64());
                if ok {
                    r.cells_imported += imported;
                    r.packs_committed += packs;
                    r.cells_rejected += rejected;
                } else {
                    r.failed += 1;
                    if r.failures.len() < 10 {
                        r.failures.push(format!("{}: {err}", w.name()));
                    }
                }
                i += 1;
            }
        })
    })
    .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut r = std::mem::take(&mut *report.lock().unwrap_or_else(|p| p.into_inner()));
    r.seconds = start.elapsed().as_secs_f64();
    let store = crate::store::Store::open_existing(&db)?;
    let counts = store.cell_counts()?;
    let of = |status: CellStatus| {
        counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n as u64)
    };
    let cells: u64 = counts.iter().map(|(_, n)| *n as u64).sum();
    r.rows_all_there = cells == SEEDED as u64 + r.cells_imported
        && store.list_packs(None)?.len() as u64 == r.packs_committed
        && of(CellStatus::Reserved) == 16 * r.packs_committed
        && of(CellStatus::Rejected) == r.cells_rejected;
    r.integrity_check = store.integrity_check()?;
    Ok(r)
}

/// A folder of its own under the system's temporary folder, removed when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(what: &str) -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "packwright-bench-{what}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
