//! Intake, matching and commit at scale, measured: `packwright bench scale`. Each step runs
//! this program's own binary as a child process on a fresh database in a temporary folder, so
//! its wall time and its peak memory (the child's `ru_maxrss`, from `wait4`) are the
//! command's own, as an operator would see them:
//!
//! 1. `cells import` of a generated export of `cells` LFP cells (1,000,000 by default);
//! 2. `match --cells FILE --json` of the same file (no database), the document to a file;
//! 3. `match --commit --json` on the database holding them: every pack of 16 it can build
//!    (62,500 for a million cells) reserved and committed.
//!
//! While steps 1 and 3 run, another writer (a thread of this process with its own connection)
//! writes one row every 10 ms, and the longest any of its writes took is reported: that is
//! how long another station would have waited for the write lock.

use crate::store::prelude::*;
use crate::store::Store;
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One measured step and its targets.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    /// The command, as run (the paths are the temporary folder's).
    pub command: String,
    pub ok: bool,
    pub wall_s: f64,
    /// The child's CPU time, user and system (on a machine other work shares, the wall time
    /// is longer than this by the waiting).
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
    /// The other writer's longest write while this step ran, and how many it made; `None`
    /// for a step that does not touch the database.
    pub longest_writer_wait_ms: Option<f64>,
    pub writer_writes: Option<u64>,
    pub writer_failures: Option<u64>,
    pub target_s: f64,
    pub target_mb: Option<f64>,
    pub target_wait_ms: Option<f64>,
    pub pass: bool,
    /// What the step said it did (its last line of output), or why it failed.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub cells: usize,
    /// The 1-minute load average when the run began, and the cores: what else the machine
    /// was doing (the wall times depend on it, the CPU times much less).
    pub load_before: f64,
    pub cores: usize,
    pub file_mb: f64,
    pub steps: Vec<Step>,
}

impl ScaleReport {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.pass)
    }
}

impl std::fmt::Display for ScaleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} cells, export {:.0} MB; another writer writes every 10 ms meanwhile; load {:.1} on {} cores before",
            self.cells, self.file_mb, self.load_before, self.cores
        )?;
        writeln!(
            f,
            "{:<11} {:>7} {:>6} {:>8} {:>8} {:>7}  targets",
            "step", "wall s", "cpu s", "peak MB", "wait ms", "writes"
        )?;
        for s in &self.steps {
            let targets = format!(
                "< {} s{}{}",
                s.target_s,
                s.target_mb
                    .map(|m| format!(", < {m} MB"))
                    .unwrap_or_default(),
                s.target_wait_ms
                    .map(|w| format!(", wait < {w} ms"))
                    .unwrap_or_default()
            );
            writeln!(
                f,
                "{:<11} {:>7.2} {:>6.2} {:>8.0} {:>8} {:>7}  {targets}: {}",
                s.name,
                s.wall_s,
                s.cpu_s,
                s.peak_rss_mb,
                s.longest_writer_wait_ms
                    .map(|w| format!("{w:.0}"))
                    .unwrap_or_else(|| "-".into()),
                s.writer_writes
                    .map(|w| w.to_string())
                    .unwrap_or_else(|| "-".into()),
                if s.pass { "met" } else { "NOT MET" }
            )?;
            writeln!(f, "  {}", s.detail)?;
        }
        Ok(())
    }
}

/// Write an export of `n` LFP cells fit for `lfp-16s1p-280ah` (262 Ah ± 6, IR 0.20–0.29 mΩ,
/// OCV 3.296–3.304 V, a source module per 8 cells). Returns its size in bytes.
pub fn write_export(path: &Path, n: usize) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(
        b"id,chemistry,capacity_ah,ir_mohm,ocv_v,self_discharge_mv_per_day,source_code\n",
    )?;
    for i in 0..n {
        let cap = 262.0 + ((i * 37 % 13) as f64 - 6.0) + (i % 10) as f64 / 10.0;
        let ir = 0.20 + (i * 7 % 10) as f64 / 100.0;
        let ocv = 3.296 + (i * 3 % 9) as f64 / 1000.0;
        writeln!(
            out,
            "G-{i:07},LFP,{cap:.1},{ir:.2},{ocv:.3},1.0,MOD-{:06}",
            i / 8
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A child's exit, wall time and peak resident memory.
struct Ran {
    ok: bool,
    wall: Duration,
    cpu_s: f64,
    peak_rss_mb: f64,
    stderr: String,
}

/// Run `exe args` with `db`, stdout to `stdout`, and wait for it with `wait4` for its rusage.
fn run_child(exe: &Path, db: &Path, args: &[&str], stdout: &Path) -> anyhow::Result<Ran> {
    let err_path = stdout.with_extension("stderr");
    let started = Instant::now();
    let child = Command::new(exe)
        .env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "bench")
        .env("PACKWRIGHT_OPERATOR", "bench")
        // Throw-away databases without operators: the explicit opt-in.
        .env(crate::services::authority::ALLOW_ENV, "1")
        .env_remove("PACKWRIGHT_PROFILES")
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; status and usage are valid pointers.
    let r = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = started.elapsed();
    anyhow::ensure!(
        r == pid,
        "waiting for {args:?}: {}",
        std::io::Error::last_os_error()
    );
    drop(child);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Ran {
        ok,
        wall,
        cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// Another station's writer: one small write every 10 ms on its own connection, each timed.
struct Writer {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(Duration, u64, u64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(db: &Path) -> anyhow::Result<Writer> {
        let store = Store::open(db)?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((Duration::ZERO, 0u64, 0u64)));
        let (s, m) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = store
                    .set_state("bench.scale.writer", &i.to_string())
                    .is_ok();
                let took = t.elapsed();
                let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
                g.0 = g.0.max(took);
                g.1 += 1;
                if !ok {
                    g.2 += 1;
                }
                drop(g);
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Ok(Writer {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// Longest write, writes, failed writes.
    fn finish(mut self) -> (Duration, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().last().map(str::to_string))
        .unwrap_or_default()
}

/// The targets of issue 17 on the 2-core development machine.
const IMPORT_S: f64 = 6.0;
const IMPORT_MB: f64 = 300.0;
const MATCH_S: f64 = 2.0;
const COMMIT_S: f64 = 8.0;
const WAIT_MS: f64 = 200.0;

/// Run the three steps on `cells` generated cells in a fresh temporary folder.
pub fn run_scale(cells: usize) -> anyhow::Result<ScaleReport> {
    let load_before = load_average();
    let exe = std::env::current_exe()?;
    let dir = super::writers::TempDir::new("scale")?;
    let csv = dir.path().join("export.csv");
    let size = write_export(&csv, cells)?;
    let db = dir.path().join("scale.db");
    // The database exists (and is migrated) before the writer and the first step start.
    drop(Store::open(&db)?);
    let csv_s = csv.to_string_lossy().into_owned();
    let mut steps = Vec::new();
    // Name, arguments, whether it writes the database, time and memory targets.
    type Planned<'a> = (&'a str, Vec<&'a str>, bool, f64, Option<f64>);
    let plan: [Planned; 3] = [
        (
            "import",
            vec!["cells", "import", &csv_s],
            true,
            IMPORT_S,
            Some(IMPORT_MB),
        ),
        (
            "match-json",
            vec![
                "match",
                "--profile",
                "lfp-16s1p-280ah",
                "--cells",
                &csv_s,
                "--json",
            ],
            false,
            MATCH_S,
            None,
        ),
        (
            "commit",
            vec![
                "match",
                "--profile",
                "lfp-16s1p-280ah",
                "--commit",
                "--json",
            ],
            true,
            COMMIT_S,
            None,
        ),
    ];
    for (name, args, writes, target_s, target_mb) in plan {
        let out: PathBuf = dir.path().join(format!("{name}.out"));
        let writer = if writes {
            Some(Writer::start(&db)?)
        } else {
            None
        };
        let ran = run_child(&exe, &db, &args, &out)?;
        let seen = writer.map(Writer::finish);
        let detail = if ran.ok {
            summary(name, &out)
        } else {
            ran.stderr.trim().lines().last().unwrap_or("").to_string()
        };
        let wait_ms = seen.map(|(d, _, _)| d.as_secs_f64() * 1e3);
        let pass = ran.ok
            && ran.wall.as_secs_f64() < target_s
            && target_mb.is_none_or(|m| ran.peak_rss_mb < m)
            && wait_ms.is_none_or(|w| w < WAIT_MS)
            && seen.is_none_or(|(_, _, failed)| failed == 0);
        steps.push(Step {
            name: name.to_string(),
            command: format!("packwright {}", args.join(" ")),
            ok: ran.ok,
            wall_s: ran.wall.as_secs_f64(),
            cpu_s: ran.cpu_s,
            peak_rss_mb: ran.peak_rss_mb,
            longest_writer_wait_ms: wait_ms,
            writer_writes: seen.map(|(_, n, _)| n),
            writer_failures: seen.map(|(_, _, f)| f),
            target_s,
            target_mb,
            target_wait_ms: writes.then_some(WAIT_MS),
            pass,
            detail,
        });
    }
    Ok(ScaleReport {
        cells,
        load_before,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        file_mb: size as f64 / 1e6,
        steps,
    })
}

/// The 1-minute load average (0 when it cannot be read).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// One line on what a step did, from its output.
fn summary(name: &str, out: &Path) -> String {
    if name == "import" {
        return last_line(out);
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let doc: Option<serde_json::Value> = std::fs::read(out)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let packs = doc
        .as_ref()
        .and_then(|v| v["packs"].as_array().map(Vec::len))
        .unwrap_or(0);
    format!(
        "{packs} packs{}; JSON document {:.1} MB",
        if name == "commit" { " committed" } else { "" },
        size as f64 / 1e6
    )
}
