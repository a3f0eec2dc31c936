//! The configuration-write benchmark: a full profile write with verification (JBD, JK PB or
//! Pace, the profile's board) against the built-in simulator on a pseudo-terminal, paced at the link's baud rate, timed against the
//! budget "1.5 × the bytes' wire time plus the board's turnaround for every transaction".
//!
//! A pty delivers bytes instantly, so the simulator paces its replies (10 bits per byte) and
//! waits the request's own wire time before answering; the figure is what a real 9600-baud
//! adapter would give, not what the pty allows.

use std::time::Duration;

use serde::Serialize;

use crate::bms::config::{write_verified, ConfigPlan, SessionOptions};
use crate::device::handle::StatsSnapshot;
use crate::device::serial::{self, SerialConfig};
use crate::profile::Profile;
use crate::sim::jbd::{JbdBoard, JbdConfig};
use crate::sim::jk_pb::{JkPbConfig, JkPbLine};
use crate::sim::pace::{PaceConfig, PaceLine};
use crate::sim::pty::{self, Faults, Rng, SimOptions};
use crate::store::WriteOutcome;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub baud: u32,
    /// Board turnaround per transaction.
    pub turnaround: Duration,
    pub runs: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            baud: 9600,
            turnaround: Duration::from_millis(10),
            runs: 3,
        }
    }
}

/// One timed write.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRun {
    pub elapsed_ms: f64,
    pub traffic: StatsSnapshot,
    /// Wire time of every byte sent and received, at the baud rate.
    pub wire_ms: f64,
    /// `1.5 × wire + transactions × turnaround`.
    pub budget_ms: f64,
    pub within_budget: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub profile: String,
    pub baud: u32,
    pub turnaround_ms: f64,
    pub fields: usize,
    pub runs: Vec<BenchRun>,
    /// The slowest run against its budget: the figure to quote.
    pub worst_ratio: f64,
    pub all_within_budget: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Plan(#[from] crate::bms::config::PlanError),
    #[error("simulator: {0}")]
    Sim(String),
    #[error("the write did not verify: {0}")]
    NotVerified(String),
}

/// Run the benchmark on the current tokio runtime.
pub async fn bench_config_write(
    profile: &Profile,
    opts: &BenchOptions,
) -> Result<BenchReport, BenchError> {
    let plan = ConfigPlan::from_profile(profile, Some("PWBENCH0001"))?;
    let mut runs = Vec::new();
    for run in 0..opts.runs.max(1) {
        runs.push(one_run(profile, &plan, opts, u64::from(run) + 1).await?);
    }
    let worst_ratio = runs
        .iter()
        .map(|r| r.elapsed_ms / r.budget_ms)
        .fold(0.0, f64::max);
    Ok(BenchReport {
        profile: profile.name.clone(),
        baud: opts.baud,
        turnaround_ms: opts.turnaround.as_secs_f64() * 1000.0,
        fields: plan.fields.len(),
        all_within_budget: runs.iter().all(|r| r.within_budget),
        worst_ratio,
        runs,
    })
}

async fn one_run(
    profile: &Profile,
    plan: &ConfigPlan,
    opts: &BenchOptions,
    seed: u64,
) -> Result<BenchRun, BenchError> {
    let mut rng = Rng::new(seed);
    let faults = Faults::default();
    let sim_opts = SimOptions {
        baud: opts.baud,
        turnaround: opts.turnaround,
        link: None,
        faults: faults.clone(),
        seed,
    };
    let (path_tx, path_rx) = tokio::sync::oneshot::channel();
    let mut path_tx = Some(path_tx);
    let announce = move |path: &str| {
        if let Some(tx) = path_tx.take() {
            let _ = tx.send(path.to_string());
        }
    };
    let (cells, chemistry) = (profile.series as usize, profile.chemistry);
    let protocol = profile.bms.protocol;
    let sim = match protocol {
        packwright_protocol::ProtocolKind::JkPb => {
            let line = JkPbLine::new(JkPbConfig::new(cells, chemistry), &faults, &mut rng)
                .map_err(BenchError::Sim)?;
            tokio::spawn(pty::serve(line, sim_opts, announce))
        }
        packwright_protocol::ProtocolKind::Pace => {
            let line = PaceLine::new(PaceConfig::new(cells, chemistry), &faults, &mut rng)
                .map_err(BenchError::Sim)?;
            tokio::spawn(pty::serve(line, sim_opts, announce))
        }
        _ => {
            let board = JbdBoard::new(JbdConfig::new(cells, chemistry), &faults, &mut rng)
                .map_err(BenchError::Sim)?;
            tokio::spawn(pty::serve(board, sim_opts, announce))
        }
    };
    let path = path_rx
        .await
        .map_err(|_| BenchError::Sim("the simulator stopped before opening its pty".into()))?;
    let mut cfg = SerialConfig::new(&path, protocol);
    cfg.baud = opts.baud;
    let handle = serial::spawn(cfg).map_err(|e| BenchError::Sim(e.to_string()))?;
    let report = write_verified(&handle, plan, &SessionOptions::default()).await;
    sim.abort();
    if report.outcome != WriteOutcome::Verified {
        return Err(BenchError::NotVerified(report.failure.unwrap_or_default()));
    }
    let t = report.traffic;
    let wire_ms = (t.bytes_out + t.bytes_in) as f64 * 10.0 / f64::from(opts.baud) * 1000.0;
    let budget_ms = 1.5 * wire_ms + t.transactions as f64 * opts.turnaround.as_secs_f64() * 1000.0;
    let elapsed_ms = report.elapsed_ms as f64;
    Ok(BenchRun {
        elapsed_ms,
        traffic: t,
        wire_ms,
        budget_ms,
        within_budget: elapsed_ms <= budget_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The performance bar, at a fast baud rate so the unit test stays short; the
    /// 9600-baud figure comes from `packwright bms bench` and the integration test.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verified_write_fits_the_budget() {
        let profile = Profile::load("lfp-16s1p-280ah").unwrap();
        let opts = BenchOptions {
            baud: 115_200,
            turnaround: Duration::from_millis(2),
            runs: 1,
        };
        let report = bench_config_write(&profile, &opts).await.unwrap();
        let run = &report.runs[0];
        assert_eq!(run.traffic.retries, 0);
        assert!(run.traffic.transactions > 60, "{:?}", run.traffic);
        assert!(run.wire_ms > 0.0 && run.budget_ms > run.wire_ms);
    }
}
