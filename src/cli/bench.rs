//! `packwright bench match|serial`: the measured figures the issues ask for. Benchmarks are
//! commands, never timed tests, so a slow CI machine cannot make the suite flaky.

use super::{input_error, print_json, Context, EXIT_OK, EXIT_VERIFY_FAILED};
use crate::chemistry::Chemistry;
use crate::intake::{self, IntakeDefaults};
use crate::matching;
use crate::profile::Profile;
use clap::Subcommand;
use packwright_matching::bench::{self, BenchConfig};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The matcher and the baselines side by side on real and synthetic inventories
    Match {
        /// Small synthetic sizes only (10² and 2·10³ cells), one timing run
        #[arg(long)]
        quick: bool,
        /// Folder of real inventories (CSV) to include [default: the ones built in, from
        /// data/cells]
        #[arg(long)]
        real: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// A full verified configuration write (the profile's board: JBD, JK PB or Pace) against
    /// the simulator at a given baud rate
    Serial {
        #[arg(long, default_value = "lfp-16s1p-280ah")]
        profile: String,
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        /// The simulated board's turnaround per transaction, in ms
        #[arg(long, default_value_t = 10)]
        turnaround_ms: u64,
        #[arg(long, default_value_t = 3)]
        runs: u32,
        #[arg(long)]
        json: bool,
    },
    /// Stations on one database: each commits a measurement a second while 10,000 cells are
    /// committed into packs; commit latency p50/p99. SQLite (a fresh temporary file) unless
    /// --url names a scratch line database
    Line {
        /// A scratch PostgreSQL database to measure (its records stay there)
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 10)]
        stations: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 10_000)]
        cells: usize,
        #[arg(long)]
        json: bool,
    },
    /// Intake, matching and commit at scale: import N cells, match them from the file to JSON,
    /// commit every pack (62,500 for a million), each in a child process: wall time, peak
    /// memory, and the longest wait of another writer meanwhile
    Scale {
        /// How many cells the generated export holds
        #[arg(long, default_value_t = 1_000_000)]
        cells: usize,
        #[arg(long)]
        json: bool,
    },
    /// Four writer processes (imports, match --commit, rejects) on one fresh temporary
    /// database: failed operations, each writer's longest wait, rows lost, integrity
    Writers {
        /// How long the writers run
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BenchCommand, _ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        BenchCommand::Line {
            url,
            stations,
            seconds,
            cells,
            json,
        } => {
            let duration = std::time::Duration::from_secs(seconds);
            let report = match url {
                Some(url) => {
                    if !crate::store::is_url(std::path::Path::new(&url)) {
                        return Err(input_error(anyhow::anyhow!(
                            "--url must be a postgres:// URL of a scratch database"
                        )));
                    }
                    crate::benchmarks::line::run_line(
                        std::path::Path::new(&url),
                        stations,
                        duration,
                        cells,
                    )?
                }
                None => {
                    let dir = std::env::temp_dir()
                        .join(format!("packwright-bench-line-{}", std::process::id()));
                    std::fs::create_dir_all(&dir)?;
                    let report = crate::benchmarks::line::run_line(
                        &dir.join("line.db"),
                        stations,
                        duration,
                        cells,
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    report?
                }
            };
            if json {
                print_json("bench.line", &report)?;
            } else {
                print!("{report}");
            }
            Ok(if report.failed == 0 {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
        BenchCommand::Scale { cells, json } => {
            let report = crate::benchmarks::scale::run_scale(cells)?;
            if json {
                print_json("bench.scale", &report)?;
            } else {
                print!("{report}");
            }
            Ok(if report.passed() {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
        BenchCommand::Writers { seconds, json } => {
            let report =
                crate::benchmarks::writers::run_writers(std::time::Duration::from_secs(seconds))?;
            if json {
                print_json("bench.writers", &report)?;
            } else {
                print!("{report}");
            }
            Ok(if report.passed() {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
        BenchCommand::Match { quick, real, json } => {
            let cfg = if quick {
                BenchConfig::quick()
            } else {
                BenchConfig::full()
            };
            let real_sets = match real {
                Some(dir) => load_real_sets(&dir)?,
                None => built_in_real_sets(),
            };
            let report = bench::run(&cfg, &real_sets);
            if json {
                print_json("bench.match", &report)?;
            } else {
                print!("{report}");
            }
            Ok(if report.targets.iter().all(|t| t.pass) {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
        BenchCommand::Serial {
            profile,
            baud,
            turnaround_ms,
            runs,
            json,
        } => {
            let profile = Profile::load(&profile).map_err(input_error)?;
            let opts = crate::benchmarks::serial::BenchOptions {
                baud,
                turnaround: std::time::Duration::from_millis(turnaround_ms),
                runs,
            };
            let rt = tokio::runtime::Runtime::new()?;
            let report = rt.block_on(crate::benchmarks::serial::bench_config_write(
                &profile, &opts,
            ))?;
            if json {
                print_json("bench.serial", &report)?;
            } else {
                println!(
                    "{}: {} fields written and verified over a simulated {} baud link (turnaround {} ms)",
                    report.profile, report.fields, report.baud, report.turnaround_ms
                );
                println!(
                    "{:>4} {:>12} {:>12} {:>12} {:>7}",
                    "run", "elapsed ms", "wire ms", "budget ms", "ratio"
                );
                for (i, r) in report.runs.iter().enumerate() {
                    println!(
                        "{:>4} {:>12.0} {:>12.0} {:>12.0} {:>7.3}",
                        i + 1,
                        r.elapsed_ms,
                        r.wire_ms,
                        r.budget_ms,
                        r.elapsed_ms / r.budget_ms
                    );
                }
                println!(
                    "worst elapsed/budget {:.3}: {}",
                    report.worst_ratio,
                    if report.all_within_budget {
                        "within budget"
                    } else {
                        "OVER BUDGET"
                    }
                );
            }
            Ok(if report.all_within_budget {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
    }
}

type RealSet = (String, Vec<packwright_matching::CellInput>);

/// A real inventory as matcher inputs; `None` without a capacity column (IR-only sets are
/// skipped: the matcher balances capacity).
fn real_set(name: &str, text: &str) -> Option<RealSet> {
    // Sources that state no chemistry are all Li-ion 18650s; NMC stands in for them.
    let defaults = IntakeDefaults {
        chemistry: Some(Chemistry::Nmc),
        ..Default::default()
    };
    let parsed = intake::parse_csv(name, text, &defaults).ok()?;
    Some((
        name.to_string(),
        parsed.cells.iter().map(matching::input_of).collect(),
    ))
}

/// The real inventories the binary carries.
fn built_in_real_sets() -> Vec<RealSet> {
    crate::data::REAL_INVENTORIES
        .iter()
        .filter_map(|(name, text)| real_set(name, text))
        .collect()
}

/// Every CSV in `dir` with a capacity column, as matcher inputs.
fn load_real_sets(dir: &std::path::Path) -> anyhow::Result<Vec<RealSet>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| input_error(anyhow::anyhow!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    let mut sets = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| input_error(anyhow::anyhow!("cannot read {}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        sets.extend(real_set(&name, &text));
    }
    Ok(sets)
}
