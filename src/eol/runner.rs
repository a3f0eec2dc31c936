//! The end-of-line runner: executes a plan against one pack on the bench and records every
//! measurement in the store the moment it is taken.
//!
//! The runner reaches the pack only through a [`Bench`] (over a `BmsHandle` in production, see
//! [`super::bench`]) and the operator only through an [`Operator`] (answers file and standard
//! input headless, prompts in the console). An abort request, an operator quitting or the link
//! going away ends the run as `aborted`, keeping everything measured so far.

use super::judge::{judge, parse_manual, run_outcome, Outcome, RunOutcome, Value};
use super::measure::{self, cell_list, Measured};
use super::plan::{Limit, MeasurementSpec, OnFail, Step, StepKind};
use super::precheck::{self, Blocker};
use super::record::Measurement;
use crate::bms::BmsIdentity;
use crate::domain::{Cell, Pack};
use crate::profile::Profile;
use crate::store::prelude::*;
use crate::store::{Actor, NewRun, StoreError};
use packwright_protocol::can::pylontech::Limits;
use packwright_protocol::BmsSnapshot;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why a bench action did not give an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BenchError {
    /// The link to the pack is gone (adapter unplugged, port closed): the run cannot go on.
    #[error("{0}")]
    Lost(String),
    /// This action failed; the measurement that needed it is an error, the run goes on.
    #[error("{0}")]
    Failed(String),
    /// The bench cannot do this by itself (e.g. raise a cell over its trigger); an operator
    /// may do it by hand.
    #[error("{0}")]
    Unsupported(String),
}

/// A configuration value the BMS holds that differs from the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigMismatch {
    pub field: String,
    pub expected: String,
    pub found: String,
}

/// What the runner needs from the test bench. Each call does one thing and returns.
/// The futures are `Send`, so a run is an ordinary task on any runtime.
pub trait Bench: Send {
    /// How the bench reaches the BMS, recorded with the run (`serial /dev/ttyUSB0 jbd`).
    fn transport(&self) -> String;
    fn read(&mut self) -> impl Future<Output = Result<BmsSnapshot, BenchError>> + Send;
    fn identity(&mut self) -> impl Future<Output = Result<BmsIdentity, BenchError>> + Send;
    /// Read the configuration back and compare it with the profile.
    fn config_mismatches(
        &mut self,
        profile: &Profile,
    ) -> impl Future<Output = Result<Vec<ConfigMismatch>, BenchError>> + Send;
    fn force_balancing(&mut self, on: bool) -> impl Future<Output = Result<(), BenchError>> + Send;
    /// Put a cell above its over-voltage trigger (`true`) or take it back (`false`).
    fn force_overvoltage(
        &mut self,
        on: bool,
    ) -> impl Future<Output = Result<(), BenchError>> + Send;
    /// The charge/discharge limits the pack announces to an inverter; `None` if the frame
    /// did not come within the bench's wait.
    fn inverter_limits(
        &mut self,
    ) -> impl Future<Output = Result<Option<Limits>, BenchError>> + Send;
}

/// Where a run is recorded as it happens. Each call returns after its commit, so what the
/// runner reports has been kept.
pub trait RunJournal: Send {
    /// Each id with its cell record (`None` when the store has no such cell).
    fn cells(&mut self, ids: &[String]) -> Result<Vec<(String, Option<Cell>)>, StoreError>;
    /// A line in the station's event log.
    fn note(&mut self, level: &str, message: &str) -> Result<(), StoreError>;
    fn start(&mut self, run: &NewRun) -> Result<i64, StoreError>;
    fn measured(&mut self, run_id: i64, m: &Measurement) -> Result<(), StoreError>;
    fn finish(
        &mut self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Now, as the journal stamps records.
    fn stamp(&self) -> String;
}

/// The journal over the station's store, as this operator.
pub struct StoreJournal<'s> {
    pub store: &'s mut (dyn LineStore + Send),
    pub actor: Actor,
}

impl RunJournal for StoreJournal<'_> {
    fn cells(&mut self, ids: &[String]) -> Result<Vec<(String, Option<Cell>)>, StoreError> {
        ids.iter()
            .map(|id| Ok((id.clone(), self.store.get_cell(id)?)))
            .collect()
    }
    fn note(&mut self, level: &str, message: &str) -> Result<(), StoreError> {
        self.store.log_event(&self.actor, level, message)
    }
    fn start(&mut self, run: &NewRun) -> Result<i64, StoreError> {
        self.store.start_eol_run(&self.actor, run)
    }
    fn measured(&mut self, run_id: i64, m: &Measurement) -> Result<(), StoreError> {
        self.store.record_eol_measurement(run_id, m)
    }
    fn finish(
        &mut self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store.finish_eol_run(run_id, outcome, reason)
    }
    fn stamp(&self) -> String {
        self.store.clock().stamp()
    }
}

/// What an operator said.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    /// No answer can be had (no one at the keyboard, input closed), with why.
    NoAnswer(String),
    /// The operator ends the run.
    Quit,
}

/// The person at the bench.
pub trait Operator: Send {
    /// Ask for a manual measurement. `refused` says why the previous answer was not accepted.
    fn ask(
        &mut self,
        step: &Step,
        spec: &MeasurementSpec,
        refused: Option<&str>,
    ) -> impl Future<Output = Reply> + Send;
    /// Have the operator do something at the bench and confirm it is done.
    fn confirm(&mut self, instruction: &str) -> impl Future<Output = Reply> + Send;
}

/// Where the runner reports progress: a face prints or draws it.
pub type Progress<'a> = dyn FnMut(RunEvent) + Send + 'a;

/// How long the runner waits for the pack to react.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub poll: Duration,
    /// For balancing bits to rise after forcing.
    pub balance_wait: Duration,
    /// For over-voltage protection to trip, and again to release.
    pub protection_wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll: Duration::from_millis(200),
            balance_wait: Duration::from_secs(5),
            protection_wait: Duration::from_secs(5),
        }
    }
}

/// Progress, for a console to show as it happens.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Started {
        run_id: i64,
        transport: &'a str,
    },
    Step(&'a Step),
    /// Reported only after the measurement is committed to the store.
    Measured(&'a Measurement),
    Finished(&'a RunSummary),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub reason: Option<String>,
    /// What the bench put back from the board journal before or after the run (test settings
    /// an unfinished step left on the board), or why it could not.
    pub restored: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the end-of-line test may not start:\n{}", precheck::describe(.0))]
    Refused(Vec<Blocker>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A measurement attempt that gave no value.
enum Problem {
    /// The pack did not provide it: a fail.
    Missing(String),
    /// The bench could not take it: an error.
    Error(String),
    /// Nothing was measured on purpose.
    Skipped(String),
    /// The run must end.
    Abort(String),
}

impl From<BenchError> for Problem {
    fn from(e: BenchError) -> Problem {
        match e {
            BenchError::Lost(r) => Problem::Abort(format!("link to the BMS lost: {r}")),
            BenchError::Failed(r) | BenchError::Unsupported(r) => Problem::Error(r),
        }
    }
}

/// What a step has found out so far, so one bench action serves several measurements.
#[derive(Default)]
struct StepData {
    snapshot: Option<Result<BmsSnapshot, BenchError>>,
    identity: Option<Result<BmsIdentity, BenchError>>,
    protection: Option<(Result<Measured, String>, Result<Measured, String>)>,
    /// The trip half of the protection test, taken and recorded before its release half.
    ov_trip: Option<OvTrip>,
    inverter: Option<Result<Option<Limits>, BenchError>>,
}

/// The over-voltage trip as observed: its measurement (recorded at once) and whether the
/// lowered trigger is still forced on the board, waiting for the release half.
#[derive(Clone)]
struct OvTrip {
    trips: Result<Measured, String>,
    tripped: bool,
    forced: bool,
}

/// Resolves with the abort reason once one is requested; never if the sender is gone.
async fn aborted(mut abort: watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = abort.borrow_and_update().clone() {
            return reason;
        }
        if abort.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

struct Run<'a, B, O, J> {
    journal: &'a mut J,
    bench: &'a mut B,
    operator: &'a mut O,
    profile: &'a Profile,
    pack: &'a Pack,
    abort: watch::Receiver<Option<String>>,
    timing: Timing,
    run_id: i64,
    seq: i64,
    outcomes: Vec<Outcome>,
    failures: Vec<String>,
    highest_pack_v: f64,
}

/// Await a bench or operator action unless an abort comes first.
async fn guard<T>(
    abort: watch::Receiver<Option<String>>,
    fut: impl Future<Output = T>,
) -> Result<T, Problem> {
    tokio::select! {
        reason = aborted(abort) => Err(Problem::Abort(reason)),
        v = fut => Ok(v),
    }
}

/// Something the bench forces on the pack, or an operator does by hand.
#[derive(Clone, Copy)]
enum Force {
    Balancing,
    Overvoltage,
}

/// What became of one measurement: its value, outcome and why.
struct Verdict {
    value: Option<Value>,
    outcome: Outcome,
    reason: Option<String>,
}

impl<B: Bench, O: Operator, J: RunJournal> Run<'_, B, O, J> {
    fn abort_requested(&self) -> Option<String> {
        self.abort.borrow().clone()
    }

    fn record(
        &mut self,
        step: &Step,
        spec: &MeasurementSpec,
        limit: Limit,
        verdict: Verdict,
        on_event: &mut Progress,
    ) -> Result<(), StoreError> {
        let Verdict {
            value,
            outcome,
            reason,
        } = verdict;
        self.seq += 1;
        let m = Measurement {
            seq: self.seq,
            step_id: step.id.clone(),
            step_title: step.title.clone(),
            name: spec.name.clone(),
            value,
            unit: spec.unit.clone(),
            limit,
            outcome,
            reason,
            taken_at: self.journal.stamp(),
        };
        self.journal.measured(self.run_id, &m)?;
        if matches!(outcome, Outcome::Fail | Outcome::Error) {
            self.failures.push(format!(
                "{} {} {}: {}",
                step.id,
                spec.name,
                outcome,
                m.reason.as_deref().unwrap_or("")
            ));
        }
        self.outcomes.push(outcome);
        on_event(RunEvent::Measured(&m));
        Ok(())
    }

    async fn snapshot(&mut self, data: &mut StepData) -> Result<BmsSnapshot, Problem> {
        if data.snapshot.is_none() {
            let r = guard(self.abort.clone(), self.bench.read()).await?;
            if let Ok(s) = &r {
                self.highest_pack_v = self.highest_pack_v.max(s.pack_voltage_v);
            }
            data.snapshot = Some(r);
        }
        match data.snapshot.clone() {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e.into()),
            None => Err(Problem::Error("no reading".into())),
        }
    }

    async fn identity(&mut self, data: &mut StepData) -> Result<BmsIdentity, Problem> {
        if data.identity.is_none() {
            data.identity = Some(guard(self.abort.clone(), self.bench.identity()).await?);
        }
        match data.identity.clone() {
            Some(Ok(id)) => Ok(id),
            Some(Err(e)) => Err(e.into()),
            None => Err(Problem::Error("no identity".into())),
        }
    }

    /// Poll readings until `done` holds or `wait` passes; the last reading and the time taken.
    async fn poll_until(
        &mut self,
        wait: Duration,
        done: impl Fn(&BmsSnapshot) -> bool,
    ) -> Result<(BmsSnapshot, Option<Duration>), Problem> {
        let start = Instant::now();
        loop {
            let s = guard(self.abort.clone(), self.bench.read()).await??;
            if done(&s) {
                return Ok((s, Some(start.elapsed())));
            }
            if start.elapsed() >= wait {
                return Ok((s, None));
            }
            let poll = self.timing.poll;
            guard(self.abort.clone(), tokio::time::sleep(poll)).await?;
        }
    }

    /// Have the bench do something, or the operator when the bench cannot.
    async fn act(&mut self, force: Force, on: bool, instruction: &str) -> Result<(), Problem> {
        let abort = self.abort.clone();
        let done = match force {
            Force::Balancing => guard(abort, self.bench.force_balancing(on)).await?,
            Force::Overvoltage => guard(abort, self.bench.force_overvoltage(on)).await?,
        };
        match done {
            Ok(()) => Ok(()),
            Err(BenchError::Unsupported(why)) => {
                match guard(self.abort.clone(), self.operator.confirm(instruction)).await? {
                    Reply::Text(_) => Ok(()),
                    Reply::Quit => Err(Problem::Abort("the operator quit".into())),
                    Reply::NoAnswer(no) => Err(Problem::Error(format!(
                        "{why}; and no operator confirmed doing it by hand ({no})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn balancing(&mut self) -> Result<Measured, Problem> {
        self.act(
            Force::Balancing,
            true,
            "Start balancing by hand (BMS app or balance switch), then confirm",
        )
        .await?;
        let wait = self.timing.balance_wait;
        let polled = self
            .poll_until(wait, |s| !s.balancing_cells.is_empty())
            .await;
        // Always try to stop forcing, even when the reading failed.
        let stop = guard(self.abort.clone(), self.bench.force_balancing(false)).await;
        let (s, took) = polled?;
        let stop_note = match stop {
            Ok(Err(e)) => format!("; stopping forced balancing failed: {e}"),
            _ => String::new(),
        };
        Ok(match took {
            Some(t) => Measured::with(
                Value::Bool(true),
                format!(
                    "cells {} balancing {:.1} s after forcing{stop_note}",
                    cell_list(&s.balancing_cells),
                    t.as_secs_f64()
                ),
            ),
            None => Measured::with(
                Value::Bool(false),
                format!(
                    "no balancing bit rose within {:.1} s of forcing{stop_note}",
                    wait.as_secs_f64()
                ),
            ),
        })
    }

    /// Raise a cell over its trigger and watch protection trip. The trip is returned (and so
    /// recorded) as soon as it is observed; [`Run::protection_release`] takes the cell back.
    async fn protection_trip(&mut self) -> Result<OvTrip, Problem> {
        let before = guard(self.abort.clone(), self.bench.read()).await??;
        if measure::overvoltage_active(&before) {
            let why = format!(
                "over-voltage protection was already active before the test ({})",
                packwright_protocol::protection_text(&before.protection)
            );
            return Ok(OvTrip {
                trips: Err(why),
                tripped: false,
                forced: false,
            });
        }
        let trigger = self.profile.bms.cell_ov_trigger_mv;
        self.act(
            Force::Overvoltage,
            true,
            &format!(
                "Raise one cell above {trigger} mV (cell simulator or charger on one cell), then confirm"
            ),
        )
        .await?;
        let wait = self.timing.protection_wait;
        let (tripped, took) = self.poll_until(wait, measure::overvoltage_active).await?;
        let trips = match took {
            Some(t) => Measured::with(
                Value::Bool(true),
                format!(
                    "{} after {:.1} s; charge FET {}",
                    packwright_protocol::protection_text(&tripped.protection),
                    t.as_secs_f64(),
                    match tripped.charge_fet {
                        Some(true) => "still on",
                        Some(false) => "off",
                        None => "not reported",
                    }
                ),
            ),
            None => Measured::with(
                Value::Bool(false),
                format!(
                    "no over-voltage protection within {:.1} s (highest cell {} mV)",
                    wait.as_secs_f64(),
                    tripped.cell_voltages_mv.iter().max().copied().unwrap_or(0)
                ),
            ),
        };
        Ok(OvTrip {
            trips: Ok(trips),
            tripped: took.is_some(),
            forced: true,
        })
    }

    /// Take the cell back below its release (the profile's thresholds restored) and watch
    /// protection release.
    async fn protection_release(
        &mut self,
        trip: &OvTrip,
    ) -> Result<Result<Measured, String>, Problem> {
        if let Err(why) = &trip.trips {
            return Ok(Err(why.clone()));
        }
        let release = self.profile.bms.cell_ov_release_mv;
        self.act(
            Force::Overvoltage,
            false,
            &format!("Bring the cell back below {release} mV, then confirm"),
        )
        .await?;
        if !trip.tripped {
            return Ok(Err("not checked: the protection never tripped".to_string()));
        }
        let wait = self.timing.protection_wait;
        let (after, took) = self
            .poll_until(wait, |s| !measure::overvoltage_active(s))
            .await?;
        Ok(Ok(match took {
            Some(t) => Measured::with(
                Value::Bool(true),
                format!("released after {:.1} s", t.as_secs_f64()),
            ),
            None => Measured::with(
                Value::Bool(false),
                format!(
                    "still active after {:.1} s: {}",
                    wait.as_secs_f64(),
                    packwright_protocol::protection_text(&after.protection)
                ),
            ),
        }))
    }

    async fn auto(&mut self, name: &str, data: &mut StepData) -> Result<Measured, Problem> {
        if measure::is_snapshot_measurement(name) {
            let s = self.snapshot(data).await?;
            return match measure::from_snapshot(name, &s) {
                Some(Ok(m)) => Ok(m),
                Some(Err(missing)) => Err(Problem::Missing(missing)),
                None => Err(Problem::Error(format!("no way to compute '{name}'"))),
            };
        }
        match name {
            "bms_responds" => match self.snapshot(data).await {
                Ok(s) => Ok(Measured::with(
                    Value::Bool(true),
                    format!("{} cells, {:.2} V", s.cell_count, s.pack_voltage_v),
                )),
                Err(Problem::Error(why)) => Ok(Measured::with(Value::Bool(false), why)),
                Err(other) => Err(other),
            },
            "bms_model" | "firmware_version" => {
                let id = self.identity(data).await?;
                let (v, what) = if name == "bms_model" {
                    (id.model, "model")
                } else {
                    (id.firmware_version, "firmware version")
                };
                v.map(|v| Measured::plain(Value::Text(v)))
                    .ok_or_else(|| Problem::Missing(format!("the BMS did not report its {what}")))
            }
            "barcode_matches_label" => {
                let id = self.identity(data).await?;
                let label = self.pack.code.clone().unwrap_or_default();
                match id.barcode {
                    None => Err(Problem::Missing("the BMS holds no barcode".into())),
                    Some(b) => Ok(Measured::with(
                        Value::Bool(b.trim() == label),
                        format!("BMS holds '{}', pack label '{label}'", b.trim()),
                    )),
                }
            }
            "config_mismatch_count" => {
                let abort = self.abort.clone();
                let mismatches = guard(abort, self.bench.config_mismatches(self.profile)).await??;
                let shown: Vec<String> = mismatches
                    .iter()
                    .take(6)
                    .map(|m| format!("{}: profile {}, BMS {}", m.field, m.expected, m.found))
                    .collect();
                let more = mismatches.len().saturating_sub(shown.len());
                let detail = if mismatches.is_empty() {
                    None
                } else if more > 0 {
                    Some(format!("{}; and {more} more", shown.join("; ")))
                } else {
                    Some(shown.join("; "))
                };
                Ok(Measured {
                    value: Value::Num(mismatches.len() as f64),
                    detail,
                })
            }
            "balancing_responds" => self.balancing().await,
            "overvoltage_trips" | "overvoltage_releases" => {
                if data.protection.is_none() && data.ov_trip.is_none() {
                    data.ov_trip = Some(self.protection_trip().await?);
                }
                if name == "overvoltage_releases" && data.protection.is_none() {
                    let trip = data
                        .ov_trip
                        .take()
                        .ok_or_else(|| Problem::Error("protection test gave no result".into()))?;
                    let releases = self.protection_release(&trip).await?;
                    data.protection = Some((trip.trips, releases));
                }
                let r = match (&data.protection, &data.ov_trip) {
                    (Some((trips, _)), _) if name == "overvoltage_trips" => trips.clone(),
                    (Some((_, releases)), _) => releases.clone(),
                    (None, Some(trip)) if name == "overvoltage_trips" => trip.trips.clone(),
                    _ => return Err(Problem::Error("protection test gave no result".into())),
                };
                r.map_err(|why| {
                    if why.starts_with("not checked") {
                        Problem::Skipped(why)
                    } else {
                        Problem::Missing(why)
                    }
                })
            }
            "can_charge_voltage_limit_v"
            | "can_charge_current_limit_a"
            | "can_discharge_current_limit_a" => {
                if data.inverter.is_none() {
                    data.inverter =
                        Some(guard(self.abort.clone(), self.bench.inverter_limits()).await?);
                }
                match data.inverter.clone() {
                    Some(Ok(Some(l))) => Ok(Measured::plain(Value::Num(match name {
                        "can_charge_voltage_limit_v" => l.charge_voltage_limit_v,
                        "can_charge_current_limit_a" => l.charge_current_limit_a,
                        _ => l.discharge_current_limit_a,
                    }))),
                    Some(Ok(None)) => Err(Problem::Missing(
                        "the pack sent no charge/discharge limits frame (0x351) in time".into(),
                    )),
                    Some(Err(e)) => Err(e.into()),
                    None => Err(Problem::Error("no CAN result".into())),
                }
            }
            other => Err(Problem::Error(format!(
                "'{other}' is not an automatic measurement this runner can take"
            ))),
        }
    }

    /// Ask the operator until an answer reads as the limit needs (at most three tries).
    async fn manual(
        &mut self,
        step: &Step,
        spec: &MeasurementSpec,
        limit: &Limit,
    ) -> Result<Measured, Problem> {
        let mut refused: Option<String> = None;
        for _ in 0..3 {
            let abort = self.abort.clone();
            match guard(abort, self.operator.ask(step, spec, refused.as_deref())).await? {
                Reply::Quit => return Err(Problem::Abort("the operator quit".into())),
                Reply::NoAnswer(why) => return Err(Problem::Error(format!("no answer: {why}"))),
                Reply::Text(text) => match parse_manual(limit, &text) {
                    Ok(v) => return Ok(Measured::plain(v)),
                    Err(why) => refused = Some(why),
                },
            }
        }
        Err(Problem::Error(format!(
            "no usable answer: {}",
            refused.unwrap_or_default()
        )))
    }

    /// Why a step is not run on this pack, if it is not.
    fn not_applicable(&self, step: &Step) -> Option<String> {
        let above = step.only_above_pack_v?;
        // The highest voltage the pack may reach: its over-voltage trigger, or what was read.
        let max_v =
            (f64::from(self.profile.bms.pack_ov_trigger_mv) / 1000.0).max(self.highest_pack_v);
        (max_v <= above).then(|| {
            format!("applies above {above} V DC; this pack stays at or below {max_v:.1} V")
        })
    }
}

/// Who runs which pack against which plan, and how the run can be stopped.
pub struct RunSpec<'a> {
    pub pack: &'a Pack,
    pub profile: &'a Profile,
    pub abort: watch::Receiver<Option<String>>,
    pub timing: Timing,
}

/// Run `profile`'s plan against `pack`. Refuses before anything is recorded when the pack may
/// not be tested (see [`precheck::blockers`]); otherwise every outcome, abort included, ends
/// with a recorded run and a summary.
pub async fn run<B: Bench, O: Operator, J: RunJournal>(
    spec: RunSpec<'_>,
    journal: &mut J,
    bench: &mut B,
    operator: &mut O,
    on_event: &mut Progress<'_>,
) -> Result<RunSummary, RunError> {
    let RunSpec {
        pack,
        profile,
        abort,
        timing,
    } = spec;
    let ids: Vec<String> = pack.groups.iter().flatten().cloned().collect();
    let cells = journal.cells(&ids)?;
    let blockers = precheck::blockers(pack, profile, &cells);
    if !blockers.is_empty() {
        journal.note(
            "warning",
            &format!(
                "EOL test of pack {} refused: {}",
                pack.label(),
                blockers
                    .iter()
                    .map(|b| b.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )?;
        return Err(RunError::Refused(blockers));
    }

    let transport = bench.transport();
    let run_id = journal.start(&NewRun {
        pack_id: pack.id,
        profile: profile.name.clone(),
        plan_version: profile.eol.plan_version.clone(),
        software_version: crate::VERSION.to_string(),
        transport: transport.clone(),
        pid: std::process::id(),
    })?;
    on_event(RunEvent::Started {
        run_id,
        transport: &transport,
    });

    let mut run = Run {
        journal,
        bench,
        operator,
        profile,
        pack,
        abort,
        timing,
        run_id,
        seq: 0,
        outcomes: Vec::new(),
        failures: Vec::new(),
        highest_pack_v: 0.0,
    };
    let mut stopped_by: Option<String> = None;
    let mut abort_reason: Option<String> = None;

    'steps: for step in &profile.eol.steps {
        on_event(RunEvent::Step(step));
        let skip = stopped_by
            .as_ref()
            .map(|s| format!("not run: step {s} failed and the plan stops there"))
            .or_else(|| run.not_applicable(step));
        let mut data = StepData::default();
        let mut step_outcomes = Vec::new();
        for spec in &step.measurements {
            if let Some(reason) = run.abort_requested() {
                abort_reason = Some(reason);
                break 'steps;
            }
            // Plans are validated on load, so a limit is always there; a broken one errors.
            let limit = spec.limit();
            let attempt = match (&skip, &limit) {
                (Some(why), _) => Err(Problem::Skipped(why.clone())),
                (None, Err(why)) => Err(Problem::Error(format!(
                    "the plan's limit is unusable: {why}"
                ))),
                (None, Ok(limit)) => match step.kind {
                    StepKind::Auto => run.auto(&spec.name, &mut data).await,
                    StepKind::Manual => run.manual(step, spec, limit).await,
                },
            };
            let limit = limit.unwrap_or(Limit::Range {
                low: None,
                high: None,
            });
            let unmeasured = |outcome, why| Verdict {
                value: None,
                outcome,
                reason: Some(why),
            };
            let verdict = match attempt {
                Ok(m) => {
                    let j = judge(&limit, &m.value, &spec.unit);
                    let reason = match (j.reason, m.detail) {
                        (Some(r), Some(d)) => Some(format!("{r} ({d})")),
                        (r, _) => r,
                    };
                    Verdict {
                        value: Some(m.value),
                        outcome: j.outcome,
                        reason,
                    }
                }
                Err(Problem::Missing(why)) => unmeasured(Outcome::Fail, why),
                Err(Problem::Error(why)) => unmeasured(Outcome::Error, why),
                Err(Problem::Skipped(why)) => unmeasured(Outcome::Skipped, why),
                Err(Problem::Abort(why)) => {
                    let why = format!("aborted at {} {}: {why}", step.id, spec.name);
                    run.record(
                        step,
                        spec,
                        limit,
                        unmeasured(Outcome::Error, why.clone()),
                        on_event,
                    )?;
                    abort_reason = Some(why);
                    break 'steps;
                }
            };
            step_outcomes.push(verdict.outcome);
            run.record(step, spec, limit, verdict, on_event)?;
        }
        // A step that took the trip but not the release still puts the profile's thresholds
        // back (should this fail, the bench's journal puts them back after the run).
        if data.ov_trip.take().is_some_and(|t| t.forced) {
            let abort = run.abort.clone();
            if let Ok(Err(e)) = guard(abort, run.bench.force_overvoltage(false)).await {
                tracing::warn!("restoring the over-voltage thresholds after the step: {e}");
            }
        }
        let failed = step_outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Fail | Outcome::Error));
        if failed && step.on_fail == OnFail::Stop && stopped_by.is_none() {
            stopped_by = Some(step.id.clone());
        }
    }

    let (outcome, reason) = match abort_reason {
        Some(why) => (RunOutcome::Aborted, Some(why)),
        None => {
            let outcome = run_outcome(run.outcomes.iter().copied());
            let reason = match outcome {
                RunOutcome::Pass => None,
                _ if run.failures.is_empty() => Some("nothing was measured".to_string()),
                _ => Some(run.failures.join("; ")),
            };
            (outcome, reason)
        }
    };
    run.journal.finish(run_id, outcome, reason.as_deref())?;
    let summary = RunSummary {
        run_id,
        outcome,
        reason,
        restored: Vec::new(),
    };
    on_event(RunEvent::Finished(&summary));
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chemistry::Chemistry;
    use crate::domain::PackStatus;
    use crate::intake::{parse_csv, IntakeDefaults};
    use crate::store::NewPack;
    use crate::store::Store;
    use std::collections::VecDeque;

    const S: usize = 15;

    /// A pack on a bench that does what its fields say.
    struct FakeBench {
        snapshot: BmsSnapshot,
        identity: BmsIdentity,
        mismatches: Vec<ConfigMismatch>,
        balances: bool,
        /// `None`: the bench cannot force it (the operator is asked).
        overvoltage: Option<bool>,
        limits: Option<Limits>,
        /// Reads left before the link goes away.
        reads_until_lost: Option<usize>,
        silent: bool,
        forcing_balance: bool,
        forcing_ov: bool,
        /// The link goes away when the over-voltage thresholds are to be put back.
        lost_on_ov_restore: bool,
    }

    impl FakeBench {
        fn good() -> FakeBench {
            FakeBench {
                snapshot: BmsSnapshot {
                    pack_voltage_v: 49.5,
                    cell_count: S,
                    cell_voltages_mv: vec![3300; S],
                    temperatures_c: vec![24.0, 24.5],
                    charge_fet: Some(true),
                    discharge_fet: Some(true),
                    model: Some("JBD-SP04S034".into()),
                    firmware_version: Some("0x20".into()),
                    ..Default::default()
                },
                identity: BmsIdentity {
                    model: Some("JBD-SP04S034".into()),
                    firmware_version: Some("0x20".into()),
                    barcode: Some("PWT0000001".into()),
                    ..Default::default()
                },
                mismatches: Vec::new(),
                balances: true,
                overvoltage: Some(true),
                limits: None,
                reads_until_lost: None,
                silent: false,
                forcing_balance: false,
                forcing_ov: false,
                lost_on_ov_restore: false,
            }
        }
    }

    impl Bench for FakeBench {
        fn transport(&self) -> String {
            "fake".into()
        }
        async fn read(&mut self) -> Result<BmsSnapshot, BenchError> {
            if let Some(n) = self.reads_until_lost.as_mut() {
                if *n == 0 {
                    return Err(BenchError::Lost("adapter unplugged".into()));
                }
                *n -= 1;
            }
            if self.silent {
                return Err(BenchError::Failed("no reply after 3 attempts".into()));
            }
            let mut s = self.snapshot.clone();
            if self.forcing_balance && self.balances {
                s.balancing_cells = (1..=S).collect();
            }
            if self.forcing_ov {
                s.cell_voltages_mv[0] = 3700;
                s.protection = vec!["cell_overvoltage".into()];
                s.charge_fet = Some(false);
            }
            Ok(s)
        }
        async fn identity(&mut self) -> Result<BmsIdentity, BenchError> {
            Ok(self.identity.clone())
        }
        async fn config_mismatches(
            &mut self,
            _: &Profile,
        ) -> Result<Vec<ConfigMismatch>, BenchError> {
            Ok(self.mismatches.clone())
        }
        async fn force_balancing(&mut self, on: bool) -> Result<(), BenchError> {
            self.forcing_balance = on;
            Ok(())
        }
        async fn force_overvoltage(&mut self, on: bool) -> Result<(), BenchError> {
            match self.overvoltage {
                None => Err(BenchError::Unsupported(
                    "this bench cannot raise a cell".into(),
                )),
                Some(_) if !on && self.lost_on_ov_restore => {
                    Err(BenchError::Lost("adapter unplugged".into()))
                }
                Some(works) => {
                    self.forcing_ov = on && works;
                    Ok(())
                }
            }
        }
        async fn inverter_limits(&mut self) -> Result<Option<Limits>, BenchError> {
            Ok(self.limits.clone())
        }
    }

    /// Answers from a script; confirms bench actions; `Quit` when asked for `quit_at`.
    struct Script {
        answers: Vec<(&'static str, &'static str)>,
        confirms: VecDeque<Reply>,
        quit_at: Option<&'static str>,
    }

    impl Script {
        fn good() -> Script {
            Script {
                answers: vec![
                    ("insulation_resistance_megaohm", "550"),
                    ("hipot_result", "PASS"),
                    ("pe_continuity_ohm", "0.03"),
                    ("visual_ok", "yes"),
                ],
                confirms: VecDeque::new(),
                quit_at: None,
            }
        }
    }

    impl Operator for Script {
        async fn ask(&mut self, _: &Step, spec: &MeasurementSpec, _: Option<&str>) -> Reply {
            if self.quit_at == Some(spec.name.as_str()) {
                return Reply::Quit;
            }
            self.answers
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, a)| Reply::Text((*a).to_string()))
                .unwrap_or_else(|| Reply::NoAnswer("not scripted".into()))
        }
        async fn confirm(&mut self, _: &str) -> Reply {
            self.confirms
                .pop_front()
                .unwrap_or_else(|| Reply::NoAnswer("no one at the bench".into()))
        }
    }

    fn actor() -> Actor {
        Actor {
            station: "bench-1".into(),
            operator: "ann".into(),
        }
    }

    /// A 15S pack, assembled with code PWT0000001, and its profile.
    fn setup(source_of_c3: &str) -> (Store, Pack, Profile) {
        let mut store = Store::in_memory().unwrap();
        let mut csv = String::from("id,capacity_mah,source_code\n");
        for i in 1..=S {
            let source = if i == 3 { source_of_c3 } else { "MOD-A" };
            csv.push_str(&format!("c{i},95000,{source}\n"));
        }
        let d = IntakeDefaults {
            chemistry: Some(Chemistry::Lfp),
            ..Default::default()
        };
        let cells = parse_csv("g.csv", &csv, &d).unwrap();
        store.import_cells(&actor(), "g.csv", &cells).unwrap();
        let groups: Vec<Vec<String>> = (1..=S).map(|i| vec![format!("c{i}")]).collect();
        let id = store
            .commit_packs(
                &actor(),
                "lfp-15s1p-100ah",
                &[NewPack {
                    groups: groups.clone(),
                    metrics_json: "{}".into(),
                }],
            )
            .unwrap()[0];
        for g in &groups {
            store.mark_cell_placed(id, &g[0]).unwrap();
        }
        store.complete_assembly(&actor(), id, "PWT0000001").unwrap();
        let pack = store.get_pack(id).unwrap().unwrap();
        (store, pack, Profile::load("lfp-15s1p-100ah").unwrap())
    }

    fn fast() -> Timing {
        Timing {
            poll: Duration::from_millis(1),
            balance_wait: Duration::from_millis(30),
            protection_wait: Duration::from_millis(30),
        }
    }

    async fn go(
        store: &mut Store,
        pack: &Pack,
        profile: &Profile,
        bench: &mut FakeBench,
        op: &mut Script,
        abort: watch::Receiver<Option<String>>,
    ) -> (Result<RunSummary, RunError>, Vec<String>) {
        let mut shown = Vec::new();
        let spec = RunSpec {
            pack,
            profile,
            abort,
            timing: fast(),
        };
        let mut journal = StoreJournal {
            store,
            actor: actor(),
        };
        let r = run(spec, &mut journal, bench, op, &mut |e| {
            if let RunEvent::Measured(m) = e {
                shown.push(format!("{} {} {}", m.step_id, m.name, m.outcome));
            }
        })
        .await;
        (r, shown)
    }

    /// [`go`] with an operator who gives good answers and no abort.
    async fn go_well(
        store: &mut Store,
        pack: &Pack,
        profile: &Profile,
        bench: &mut FakeBench,
    ) -> (Result<RunSummary, RunError>, Vec<String>) {
        go(store, pack, profile, bench, &mut Script::good(), no_abort()).await
    }

    fn no_abort() -> watch::Receiver<Option<String>> {
        watch::channel(None).1
    }

    fn find<'m>(ms: &'m [Measurement], name: &str) -> &'m Measurement {
        ms.iter().find(|m| m.name == name).unwrap()
    }

    #[tokio::test]
    async fn a_good_pack_passes_and_every_measurement_is_kept() {
        let (mut store, pack, profile) = setup("MOD-B");
        let (r, shown) = go_well(&mut store, &pack, &profile, &mut FakeBench::good()).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Pass, "{:?}", summary.reason);
        let ms = store.eol_measurements(summary.run_id).unwrap();
        let planned: usize = profile.eol.steps.iter().map(|s| s.measurements.len()).sum();
        assert_eq!(ms.len(), planned);
        assert_eq!(shown.len(), planned);
        // A 15S LFP pack never exceeds 60 V: HiPot is skipped with the reason.
        let hipot = find(&ms, "hipot_result");
        assert_eq!(hipot.outcome, Outcome::Skipped);
        assert!(
            hipot.reason.as_deref().unwrap().contains("54.8 V"),
            "{hipot:?}"
        );
        assert_eq!(
            find(&ms, "balancing_responds").value,
            Some(Value::Bool(true))
        );
        assert_eq!(find(&ms, "overvoltage_releases").outcome, Outcome::Pass);
        assert_eq!(
            find(&ms, "insulation_resistance_megaohm").value,
            Some(Value::Num(550.0))
        );
        let header = store.eol_run(summary.run_id).unwrap().unwrap();
        assert_eq!(
            (header.operator.as_str(), header.station.as_str()),
            ("ann", "bench-1")
        );
        assert_eq!(
            store.get_pack(pack.id).unwrap().unwrap().status,
            PackStatus::Passed
        );
    }

    #[tokio::test]
    async fn a_weak_cell_fails_the_cell_voltage_step_naming_the_cell() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.snapshot.cell_voltages_mv[6] = 2850;
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Fail);
        let ms = store.eol_measurements(summary.run_id).unwrap();
        let min = find(&ms, "cell_voltage_min_mv");
        assert_eq!(min.outcome, Outcome::Fail);
        assert_eq!(
            min.reason.as_deref(),
            Some("2850 mV is below the low limit 2900 mV (lowest: cell 7 at 2850 mV)")
        );
        assert!(summary
            .reason
            .unwrap()
            .contains("cell_voltages cell_voltage_min_mv fail"));
        // The plan continues after this step.
        assert_eq!(find(&ms, "visual_ok").outcome, Outcome::Pass);
        assert_eq!(
            store.get_pack(pack.id).unwrap().unwrap().status,
            PackStatus::Failed
        );
    }

    #[tokio::test]
    async fn wrong_configuration_dead_sensor_and_stuck_fet_fail_their_steps() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.mismatches = vec![ConfigMismatch {
            field: "cell_ov_trigger_mv".into(),
            expected: "3650".into(),
            found: "3800".into(),
        }];
        bench.snapshot.temperatures_c[1] = -40.0;
        bench.snapshot.discharge_fet = Some(false);
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let ms = store.eol_measurements(r.unwrap().run_id).unwrap();
        let cfg = find(&ms, "config_mismatch_count");
        assert_eq!(cfg.outcome, Outcome::Fail);
        assert!(cfg
            .reason
            .as_deref()
            .unwrap()
            .contains("cell_ov_trigger_mv: profile 3650, BMS 3800"));
        let t = find(&ms, "temperature_min_c");
        assert!(
            t.reason
                .as_deref()
                .unwrap()
                .contains("sensor 2 at -40.0 °C"),
            "{t:?}"
        );
        assert_eq!(find(&ms, "discharge_fet_on").outcome, Outcome::Fail);
    }

    #[tokio::test]
    async fn a_silent_bms_stops_the_plan_and_later_steps_are_skipped() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.silent = true;
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Fail);
        let ms = store.eol_measurements(summary.run_id).unwrap();
        let responds = find(&ms, "bms_responds");
        assert_eq!(responds.value, Some(Value::Bool(false)));
        assert!(responds.reason.as_deref().unwrap().contains("no reply"));
        let later = find(&ms, "cell_voltage_min_mv");
        assert_eq!(later.outcome, Outcome::Skipped);
        assert!(later
            .reason
            .as_deref()
            .unwrap()
            .contains("step bms_identity failed"));
        assert_eq!(find(&ms, "visual_ok").outcome, Outcome::Skipped);
    }

    #[tokio::test]
    async fn a_lost_link_aborts_and_keeps_what_was_measured() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.reads_until_lost = Some(3);
        let (r, shown) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Aborted);
        assert!(summary
            .reason
            .as_deref()
            .unwrap()
            .contains("adapter unplugged"));
        let ms = store.eol_measurements(summary.run_id).unwrap();
        assert_eq!(ms.len(), shown.len());
        assert_eq!(ms.last().unwrap().outcome, Outcome::Error);
        assert!(ms
            .iter()
            .any(|m| m.name == "cell_count" && m.outcome == Outcome::Pass));
        // No verdict: the pack stays assembled.
        assert_eq!(
            store.get_pack(pack.id).unwrap().unwrap().status,
            PackStatus::Assembled
        );
    }

    #[tokio::test]
    async fn an_observed_trip_is_committed_before_the_thresholds_go_back() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.lost_on_ov_restore = true;
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Aborted, "{:?}", summary.reason);
        let ms = store.eol_measurements(summary.run_id).unwrap();
        let trip = ms.iter().find(|m| m.name == "overvoltage_trips").unwrap();
        assert_eq!(trip.outcome, Outcome::Pass, "{trip:?}");
    }

    #[tokio::test]
    async fn quitting_or_an_abort_request_ends_the_run_as_aborted() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut op = Script::good();
        op.quit_at = Some("pe_continuity_ohm");
        let (r, _) = go(
            &mut store,
            &pack,
            &profile,
            &mut FakeBench::good(),
            &mut op,
            no_abort(),
        )
        .await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Aborted);
        assert!(summary.reason.unwrap().contains("the operator quit"));

        let (tx, rx) = watch::channel(None);
        tx.send(Some("stop button".into())).unwrap();
        let (r, shown) = go(
            &mut store,
            &pack,
            &profile,
            &mut FakeBench::good(),
            &mut Script::good(),
            rx,
        )
        .await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Aborted);
        assert_eq!(summary.reason.as_deref(), Some("stop button"));
        assert!(shown.is_empty());
        // Every attempt is kept.
        assert_eq!(store.eol_runs_for_pack(pack.id).unwrap().len(), 2);
    }

    #[tokio::test]
    async fn protection_by_hand_when_the_bench_cannot_and_a_protection_that_never_trips() {
        let (mut store, pack, profile) = setup("MOD-B");
        let mut bench = FakeBench::good();
        bench.overvoltage = None;
        // Nobody confirms: the protection measurements are errors, not passes.
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let summary = r.unwrap();
        assert_eq!(summary.outcome, RunOutcome::Error);
        let ms = store.eol_measurements(summary.run_id).unwrap();
        let trips = find(&ms, "overvoltage_trips");
        assert_eq!(trips.outcome, Outcome::Error);
        assert!(trips
            .reason
            .as_deref()
            .unwrap()
            .contains("cannot raise a cell"));

        let mut bench = FakeBench::good();
        bench.overvoltage = Some(false);
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let ms = store.eol_measurements(r.unwrap().run_id).unwrap();
        assert_eq!(
            find(&ms, "overvoltage_trips").value,
            Some(Value::Bool(false))
        );
        assert_eq!(find(&ms, "overvoltage_releases").outcome, Outcome::Skipped);
    }

    #[tokio::test]
    async fn a_cell_without_source_code_refuses_the_run_before_anything_is_recorded() {
        let (mut store, pack, profile) = setup("");
        let (r, _) = go_well(&mut store, &pack, &profile, &mut FakeBench::good()).await;
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("cell c3 has no source module/pack code"),
            "{err}"
        );
        assert!(store.eol_runs_for_pack(pack.id).unwrap().is_empty());
        assert!(store.recent_events(1).unwrap()[0].2.contains("refused"));
    }

    #[tokio::test]
    async fn a_missing_inverter_frame_fails_and_a_wrong_barcode_is_named() {
        let (mut store, pack, _) = setup("MOD-B");
        let mut profile = Profile::load("lfp-16s1p-280ah").unwrap();
        // Same plan shape on the 15S pack: only the inverter and barcode steps matter here.
        profile.name = "lfp-15s1p-100ah".into();
        profile.series = S as u32;
        profile
            .eol
            .steps
            .retain(|s| s.id == "inverter_can" || s.id == "barcode");
        let mut bench = FakeBench::good();
        bench.identity.barcode = Some("PWT0000099".into());
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        let ms = store.eol_measurements(r.unwrap().run_id).unwrap();
        let v = find(&ms, "can_charge_voltage_limit_v");
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.reason.as_deref().unwrap().contains("0x351"));
        let b = find(&ms, "barcode_matches_label");
        assert_eq!(b.outcome, Outcome::Fail);
        assert!(b.reason.as_deref().unwrap().contains("'PWT0000099'"));

        bench.limits = Some(Limits {
            charge_voltage_limit_v: 56.0,
            charge_current_limit_a: 100.0,
            discharge_current_limit_a: 150.0,
            discharge_voltage_limit_v: 44.8,
        });
        bench.identity.barcode = Some("PWT0000001".into());
        let (r, _) = go_well(&mut store, &pack, &profile, &mut bench).await;
        assert_eq!(r.unwrap().outcome, RunOutcome::Pass);
    }
}
