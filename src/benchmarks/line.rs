//! Stations on one database, measured: `packwright bench line`. `stations` threads, each with
//! its own connection and its own running end-of-line run, commit one measurement per second
//! for the given time, while another connection commits 10,000 cells into packs of 16 (one
//! `commit_packs`, the reservation a `match --commit` makes). Reported: each measurement
//! commit's latency (p50, p99, max) and the big commit's duration. On SQLite the database is a
//! fresh file in a temporary folder; on PostgreSQL the given (scratch) database.
//!
//! On PostgreSQL also the drain rate of a station's store-and-forward outbox: after the timed
//! part, `DRAIN_RECORDS` measurements queued in a fresh outbox (a temporary file) are forwarded
//! at once, each in its own transaction with its (station, origin, seq) key, as a station
//! drains its backlog when the line database is back.

use crate::chemistry::Chemistry;
use crate::eol::judge::{Outcome, Value};
use crate::eol::plan::Limit;
use crate::eol::record::Measurement;
use crate::intake::{parse_csv, IntakeDefaults};
use crate::store::{self, Actor, NewPack, NewRun};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct LineReport {
    pub backend: String,
    pub stations: usize,
    pub seconds: f64,
    pub measurements: usize,
    pub failed: usize,
    pub commit_p50_ms: f64,
    pub commit_p99_ms: f64,
    pub commit_max_ms: f64,
    /// Cells reserved by the big commit, and how long it took.
    pub big_commit_cells: usize,
    pub big_commit_s: f64,
    /// PostgreSQL only: records queued in an outbox and forwarded in one drain, and the rate.
    pub drain_records: Option<usize>,
    pub drain_per_s: Option<f64>,
    pub failures: Vec<String>,
}

/// How many queued records the drain measurement forwards.
pub const DRAIN_RECORDS: usize = 1000;

impl std::fmt::Display for LineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} stations, {:.0} s: {} measurements committed, {} failed",
            self.backend, self.stations, self.seconds, self.measurements, self.failed
        )?;
        writeln!(
            f,
            "  measurement commit latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.commit_p50_ms, self.commit_p99_ms, self.commit_max_ms
        )?;
        writeln!(
            f,
            "  commit of {} cells into packs of 16 meanwhile: {:.2} s",
            self.big_commit_cells, self.big_commit_s
        )?;
        if let (Some(n), Some(rate)) = (self.drain_records, self.drain_per_s) {
            writeln!(
                f,
                "  outbox drain: {n} queued measurements forwarded at {rate:.0} records/s"
            )?;
        }
        for e in &self.failures {
            writeln!(f, "  failure: {e}")?;
        }
        Ok(())
    }
}

fn actor(i: usize) -> Actor {
    Actor {
        station: format!("bench-{i:02}"),
        operator: "bench".into(),
    }
}

fn measurement(seq: i64, taken_at: String) -> Measurement {
    Measurement {
        seq,
        step_id: "cells".into(),
        step_title: "Cell voltages".into(),
        name: format!("cell_voltage_min_mv_{seq}"),
        value: Some(Value::Num(3301.5)),
        unit: "mV".into(),
        limit: Limit::Range {
            low: Some(2900.0),
            high: Some(3650.0),
        },
        outcome: Outcome::Pass,
        reason: None,
        taken_at,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Run the benchmark on `db` (a SQLite file path or a `postgres://` URL).
pub fn run_line(
    db: &Path,
    stations: usize,
    duration: Duration,
    cells: usize,
) -> anyhow::Result<LineReport> {
    let backend = if store::is_url(db) {
        "postgres"
    } else {
        "sqlite"
    };
    let lfp = IntakeDefaults {
        chemistry: Some(Chemistry::Lfp),
        ..Default::default()
    };
    // Setup: the big stock, and per station a two-cell pack with a running run.
    let mut setup = store::open(db)?;
    let mut csv = String::from("id,capacity_mah\n");
    for i in 0..cells {
        csv.push_str(&format!("BIG-{i:06},100000\n"));
    }
    for s in 0..stations {
        csv.push_str(&format!("ST{s:02}-A,100000\nST{s:02}-B,100000\n"));
    }
    let parsed = parse_csv("bench.csv", &csv, &lfp)?;
    setup.import_cells(&actor(0), "bench.csv", &parsed)?;
    let mut runs = Vec::new();
    for s in 0..stations {
        let pack = setup.commit_packs(
            &actor(s),
            "bench",
            &[NewPack {
                groups: vec![vec![format!("ST{s:02}-A")], vec![format!("ST{s:02}-B")]],
                metrics_json: "{}".into(),
            }],
        )?[0];
        let run = setup.start_eol_run(
            &actor(s),
            &NewRun {
                pack_id: pack,
                profile: "bench".into(),
                plan_version: "bench".into(),
                software_version: env!("CARGO_PKG_VERSION").into(),
                transport: "bench".into(),
                pid: std::process::id(),
            },
        )?;
        runs.push(run);
    }
    drop(setup);
    let big: Vec<NewPack> = (0..cells / 16)
        .map(|p| NewPack {
            groups: (0..16)
                .map(|k| vec![format!("BIG-{:06}", p * 16 + k)])
                .collect(),
            metrics_json: "{}".into(),
        })
        .collect();

    let started = Instant::now();
    let (latencies, failures, big_commit) = std::thread::scope(|scope| {
        let workers: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(s, run)| {
                let run = *run;
                scope.spawn(move || -> (Vec<Duration>, Vec<String>) {
                    let mut lat = Vec::new();
                    let mut failed = Vec::new();
                    let store = match store::open(db) {
                        Ok(s) => s,
                        Err(e) => return (lat, vec![e.to_string()]),
                    };
                    let begin = Instant::now();
                    let mut seq = 0i64;
                    // Stations start spread over the first second, then tick once a second.
                    let offset = Duration::from_millis((s as u64 * 1000) / stations.max(1) as u64);
                    while begin.elapsed() < duration {
                        seq += 1;
                        let due = offset + Duration::from_secs(seq as u64 - 1);
                        if let Some(wait) = due.checked_sub(begin.elapsed()) {
                            std::thread::sleep(wait);
                        }
                        let m = measurement(seq, store.clock().stamp());
                        let t = Instant::now();
                        match store.record_eol_measurement(run, &m) {
                            Ok(()) => lat.push(t.elapsed()),
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                    (lat, failed)
                })
            })
            .collect();
        let big_commit = scope.spawn(|| -> anyhow::Result<Duration> {
            let mut store = store::open(db)?;
            std::thread::sleep(Duration::from_secs(1));
            let t = Instant::now();
            store.commit_packs(&actor(99), "bench", &big)?;
            Ok(t.elapsed())
        });
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        for w in workers {
            match w.join() {
                Ok((l, f)) => {
                    latencies.extend(l);
                    failures.extend(f);
                }
                Err(_) => failures.push("a station thread panicked".into()),
            }
        }
        let big_commit = big_commit
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the commit thread panicked")));
        (latencies, failures, big_commit)
    });
    let mut failures = failures;
    let big_commit_s = match big_commit {
        Ok(d) => d.as_secs_f64(),
        Err(e) => {
            failures.push(format!("big commit: {e}"));
            f64::NAN
        }
    };
    let (drain_records, drain_per_s) = if store::is_url(db) {
        match drain_rate(db, runs[0]) {
            Ok(rate) => (Some(DRAIN_RECORDS), Some(rate)),
            Err(e) => {
                failures.push(format!("outbox drain: {e}"));
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let mut sorted = latencies;
    sorted.sort();
    Ok(LineReport {
        backend: backend.into(),
        stations,
        seconds: started.elapsed().as_secs_f64(),
        measurements: sorted.len(),
        failed: failures.len(),
        commit_p50_ms: percentile(&sorted, 0.50),
        commit_p99_ms: percentile(&sorted, 0.99),
        commit_max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        big_commit_cells: (cells / 16) * 16,
        big_commit_s,
        drain_records,
        drain_per_s,
        failures: failures.into_iter().take(10).collect(),
    })
}

/// Queue [`DRAIN_RECORDS`] measurements of `run` in a fresh outbox, then forward them all to
/// the line database at `db`; records per second.
fn drain_rate(db: &Path, run: i64) -> anyhow::Result<f64> {
    let dir = std::env::temp_dir().join(format!("packwright-bench-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("outbox.db");
    let _ = std::fs::remove_file(&path);
    let result = (|| -> anyhow::Result<f64> {
        let mut outbox = store::Forwarder::open(&path, &db.to_string_lossy(), "bench-drain")?;
        let clock = crate::clock::Clock::from_env()?;
        for i in 0..DRAIN_RECORDS {
            outbox.queue_measurement(run, &measurement(1_000_000 + i as i64, clock.stamp()))?;
        }
        let t = Instant::now();
        let done = outbox.forward_now()?;
        let elapsed = t.elapsed().as_secs_f64();
        if let Some(why) = done.unreachable {
            anyhow::bail!("{why}");
        }
        if done.sent != DRAIN_RECORDS {
            anyhow::bail!(
                "{} of {DRAIN_RECORDS} forwarded ({} refused)",
                done.sent,
                done.refused
            );
        }
        Ok(DRAIN_RECORDS as f64 / elapsed)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
