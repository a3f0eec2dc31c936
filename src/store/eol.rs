//! End-of-line runs and their measurements. Each measurement is committed on its own as it is
//! taken, so a killed process loses nothing it already reported.

use super::{Actor, Result, Store, StoreError};
use crate::domain::PackStatus;
use crate::eol::judge::{Outcome, RunOutcome, Value};
use crate::eol::plan::Limit;
use crate::eol::record::{Measurement, RunHeader};
use rusqlite::{params, OptionalExtension, Row};

/// What a run is started with.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub pack_id: i64,
    pub profile: String,
    pub plan_version: String,
    pub software_version: String,
    pub transport: String,
    /// The process running it, so a run left `running` by a killed process can be recognised.
    pub pid: u32,
}

const RUN_COLUMNS: &str =
    "r.id, r.pack_id, p.code, r.profile, r.plan_version, r.station, r.operator, \
     r.software_version, r.transport, r.pid, r.started_at, r.ended_at, r.outcome, r.reason";

fn conversion(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, msg.into())
}

fn run_from_row(r: &Row) -> rusqlite::Result<RunHeader> {
    let outcome: String = r.get(12)?;
    Ok(RunHeader {
        id: r.get(0)?,
        pack_id: r.get(1)?,
        pack_code: r.get(2)?,
        profile: r.get(3)?,
        plan_version: r.get(4)?,
        station: r.get(5)?,
        operator: r.get(6)?,
        software_version: r.get(7)?,
        transport: r.get(8)?,
        pid: r.get(9)?,
        started_at: r.get(10)?,
        ended_at: r.get(11)?,
        outcome: outcome.parse().map_err(|e| conversion(12, e))?,
        reason: r.get(13)?,
    })
}

fn measurement_from_row(r: &Row) -> rusqlite::Result<Measurement> {
    let limit_json: String = r.get(7)?;
    let outcome: String = r.get(8)?;
    Ok(Measurement {
        seq: r.get(0)?,
        step_id: r.get(1)?,
        step_title: r.get(2)?,
        name: r.get(3)?,
        value: Value::from_columns(r.get(4)?, r.get(5)?),
        unit: r.get(6)?,
        limit: serde_json::from_str::<Limit>(&limit_json)
            .map_err(|e| conversion(7, format!("limit {limit_json}: {e}")))?,
        outcome: outcome.parse::<Outcome>().map_err(|e| conversion(8, e))?,
        reason: r.get(9)?,
        taken_at: r.get(10)?,
    })
}

/// End-of-line runs and their measurements, committed as they are taken.
pub trait EolRecords {
    /// Open a run in state `running`; returns its id. A pack that had passed is re-tested:
    /// its pass is void from now on (configured) until this run's own verdict, so a re-test
    /// that fails, errs or aborts never leaves it reading as passed.
    fn start_eol_run(&mut self, actor: &Actor, run: &NewRun) -> Result<i64>;

    /// Keep one measurement of a running run. Returns after the row is committed.
    fn record_eol_measurement(&self, run_id: i64, m: &Measurement) -> Result<()>;

    /// Close a running run with its outcome and, for a verdict, set the pack's status, in one
    /// transaction.
    fn finish_eol_run(
        &mut self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
    ) -> Result<()>;

    /// Mark as aborted every run this station left `running` whose process is gone (killed,
    /// crashed, power cut). `alive(pid)` says whether a process still exists; pids are only
    /// meaningful on the station that recorded them, so other stations' runs are left alone.
    fn abort_orphaned_eol_runs(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>>;

    /// Every run of a pack, oldest first.
    fn eol_runs_for_pack(&self, pack_id: i64) -> Result<Vec<RunHeader>>;

    fn eol_run(&self, run_id: i64) -> Result<Option<RunHeader>>;

    /// A run's measurements in the order they were taken.
    fn eol_measurements(&self, run_id: i64) -> Result<Vec<Measurement>>;
}

impl EolRecords for Store {
    fn start_eol_run(&mut self, actor: &Actor, run: &NewRun) -> Result<i64> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "UPDATE packs SET status = 'configured' WHERE id = ?1 AND status = 'passed'",
            [run.pack_id],
        )?;
        super::journal::note_status(&tx, run.pack_id, &stamp)?;
        tx.execute(
            "INSERT INTO eol_runs(pack_id, profile, plan_version, station, operator, software_version,
                                  transport, pid, started_at, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running')",
            params![
                run.pack_id,
                run.profile,
                run.plan_version,
                actor.station,
                actor.operator,
                run.software_version,
                run.transport,
                i64::from(run.pid),
                stamp
            ],
        )?;
        let id = tx.last_insert_rowid();
        super::audit::append(
            &tx,
            actor,
            &stamp,
            &super::audit::run_start_entry(id, run.pack_id, &run.plan_version),
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn record_eol_measurement(&self, run_id: i64, m: &Measurement) -> Result<()> {
        let (num, text) = m.value.as_ref().map(Value::columns).unwrap_or((None, None));
        let limit_json = serde_json::to_string(&m.limit).map_err(|e| {
            StoreError::Conflict(format!("limit of {} cannot be stored: {e}", m.name))
        })?;
        // Only while the run is open: a run already marked aborted (by another console that
        // saw this process as gone) must not grow afterwards.
        let n = self.conn().execute(
            "INSERT INTO eol_measurements(run_id, seq, step_id, step_title, name, value_num, value_text,
                                          unit, limit_json, outcome, reason, taken_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
             WHERE EXISTS (SELECT 1 FROM eol_runs WHERE id = ?1 AND outcome = 'running')",
            params![
                run_id,
                m.seq,
                m.step_id,
                m.step_title,
                m.name,
                num,
                text,
                m.unit,
                limit_json,
                m.outcome.as_str(),
                m.reason,
                m.taken_at
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "test run {run_id} is not running any more; measurement {} was not kept",
                m.name
            )));
        }
        Ok(())
    }

    fn finish_eol_run(
        &mut self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
    ) -> Result<()> {
        if outcome == RunOutcome::Running {
            return Err(StoreError::Conflict(format!(
                "test run {run_id} cannot be finished as 'running'"
            )));
        }
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let n = tx.execute(
            "UPDATE eol_runs SET outcome = ?2, reason = ?3, ended_at = ?4 WHERE id = ?1 AND outcome = 'running'",
            params![run_id, outcome.as_str(), reason, stamp.clone()],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "test run {run_id} is not running (already finished or marked aborted)"
            )));
        }
        let status = match outcome {
            RunOutcome::Pass => Some(PackStatus::Passed),
            RunOutcome::Fail => Some(PackStatus::Failed),
            // No verdict: the pack keeps the status it had before the attempt.
            _ => None,
        };
        // A pass is only a pass once the board holds none of the test's temporary settings.
        if let Some(status) = status {
            tx.execute(
                "UPDATE packs SET status = ?2 WHERE id = (SELECT pack_id FROM eol_runs WHERE id = ?1)
                 AND (?2 <> 'passed' OR NOT EXISTS (SELECT 1 FROM board_journal
                      WHERE closed_at IS NULL
                        AND pack_id = (SELECT pack_id FROM eol_runs WHERE id = ?1)))",
                params![run_id, status.as_str()],
            )?;
            let pack: i64 = tx.query_row(
                "SELECT pack_id FROM eol_runs WHERE id = ?1",
                [run_id],
                |r| r.get(0),
            )?;
            super::journal::note_status(&tx, pack, &stamp)?;
        }
        super::audit::append_run_end(&tx, run_id, &stamp, outcome.as_str(), reason)?;
        tx.commit()?;
        Ok(())
    }

    fn abort_orphaned_eol_runs(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>> {
        let tx = super::write_tx(self.conn_mut())?;
        let candidates: Vec<(i64, Option<i64>)> = tx
            .prepare("SELECT id, pid FROM eol_runs WHERE outcome = 'running' AND station = ?1")?
            .query_map([station], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut aborted = Vec::new();
        for (id, pid) in candidates {
            if pid.is_some_and(alive) {
                continue;
            }
            let reason = match pid {
                Some(pid) => format!(
                    "process {pid} ended without finishing the run (killed or crashed); measurements taken until then are kept"
                ),
                None => "the run has no process recorded and did not finish".to_string(),
            };
            // The end is the last thing known to have happened, not the moment it was noticed.
            tx.execute(
                "UPDATE eol_runs SET outcome = 'aborted', reason = ?2,
                     ended_at = COALESCE((SELECT MAX(taken_at) FROM eol_measurements WHERE run_id = ?1), started_at)
                 WHERE id = ?1 AND outcome = 'running'",
                params![id, reason],
            )?;
            aborted.push(id);
        }
        tx.commit()?;
        Ok(aborted)
    }

    fn eol_runs_for_pack(&self, pack_id: i64) -> Result<Vec<RunHeader>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM eol_runs r JOIN packs p ON p.id = r.pack_id
                 WHERE r.pack_id = ?1 ORDER BY r.id"
            ))?
            .query_map([pack_id], run_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn eol_run(&self, run_id: i64) -> Result<Option<RunHeader>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM eol_runs r JOIN packs p ON p.id = r.pack_id WHERE r.id = ?1"
                ),
                [run_id],
                run_from_row,
            )
            .optional()?)
    }

    fn eol_measurements(&self, run_id: i64) -> Result<Vec<Measurement>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT seq, step_id, step_title, name, value_num, value_text, unit, limit_json, outcome,
                        reason, taken_at
                 FROM eol_measurements WHERE run_id = ?1 ORDER BY seq, id",
            )?
            .query_map([run_id], measurement_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::actor;

    fn new_run(pack_id: i64, pid: u32) -> NewRun {
        NewRun {
            pack_id,
            profile: "p".into(),
            plan_version: "v1".into(),
            software_version: "0.1.0".into(),
            transport: "serial /dev/null jbd".into(),
            pid,
        }
    }

    fn measurement(seq: i64, outcome: Outcome) -> Measurement {
        Measurement {
            seq,
            step_id: "cells".into(),
            step_title: "Cells".into(),
            name: format!("m{seq}"),
            value: Some(Value::Num(3300.5)),
            unit: "mV".into(),
            limit: Limit::Range {
                low: Some(2900.0),
                high: None,
            },
            outcome,
            reason: None,
            taken_at: format!("2026-01-01T00:00:0{seq}.000Z"),
        }
    }

    #[test]
    fn measurements_round_trip_and_finish_sets_the_pack_verdict() {
        crate::store::testing::each_backend_with_pack(|store, pack| {
            let run = store.start_eol_run(&actor(), &new_run(pack, 1)).unwrap();
            store
                .record_eol_measurement(run, &measurement(1, Outcome::Pass))
                .unwrap();
            let mut text = measurement(2, Outcome::Fail);
            text.value = Some(Value::Text("FAIL".into()));
            text.limit = Limit::Equals(toml::Value::Integer(16));
            store.record_eol_measurement(run, &text).unwrap();
            let got = store.eol_measurements(run).unwrap();
            assert_eq!(got, vec![measurement(1, Outcome::Pass), text]);

            store
                .finish_eol_run(run, RunOutcome::Fail, Some("cells"))
                .unwrap();
            let header = store.eol_run(run).unwrap().unwrap();
            assert_eq!(header.outcome, RunOutcome::Fail);
            assert_eq!(header.operator, "ann");
            assert_eq!(
                store.get_pack(pack).unwrap().unwrap().status,
                PackStatus::Failed
            );
            // Closed runs take no more measurements and cannot be finished twice.
            assert!(store
                .record_eol_measurement(run, &measurement(3, Outcome::Pass))
                .is_err());
            assert!(store.finish_eol_run(run, RunOutcome::Pass, None).is_err());
        });
    }

    #[test]
    fn a_retest_that_errs_leaves_the_pack_no_longer_passed_and_attempts_are_kept() {
        crate::store::testing::each_backend_with_pack(|store, pack| {
            let first = store.start_eol_run(&actor(), &new_run(pack, 1)).unwrap();
            store.finish_eol_run(first, RunOutcome::Pass, None).unwrap();
            let second = store.start_eol_run(&actor(), &new_run(pack, 1)).unwrap();
            store
                .finish_eol_run(second, RunOutcome::Error, Some("no reply"))
                .unwrap();
            assert_eq!(
                store.get_pack(pack).unwrap().unwrap().status,
                PackStatus::Configured
            );
            let runs = store.eol_runs_for_pack(pack).unwrap();
            assert_eq!(
                runs.iter().map(|r| r.id).collect::<Vec<_>>(),
                vec![first, second]
            );
            assert!(store
                .finish_eol_run(second, RunOutcome::Running, None)
                .is_err());
        });
    }

    #[test]
    fn orphaned_runs_of_this_station_are_marked_aborted_at_their_last_measurement() {
        crate::store::testing::each_backend_with_pack(|store, pack| {
            let dead = store.start_eol_run(&actor(), &new_run(pack, 111)).unwrap();
            store
                .record_eol_measurement(dead, &measurement(1, Outcome::Pass))
                .unwrap();
            store
                .record_eol_measurement(dead, &measurement(2, Outcome::Pass))
                .unwrap();
            let live = store.start_eol_run(&actor(), &new_run(pack, 222)).unwrap();
            let elsewhere = Actor {
                station: "st2".into(),
                operator: "bob".into(),
            };
            let remote = store
                .start_eol_run(&elsewhere, &new_run(pack, 111))
                .unwrap();

            let aborted = store
                .abort_orphaned_eol_runs("st1", &|pid| pid == 222)
                .unwrap();
            assert_eq!(aborted, vec![dead]);
            let h = store.eol_run(dead).unwrap().unwrap();
            assert_eq!(h.outcome, RunOutcome::Aborted);
            assert_eq!(h.ended_at.as_deref(), Some("2026-01-01T00:00:02.000Z"));
            assert!(h.reason.unwrap().contains("process 111"));
            assert_eq!(store.eol_measurements(dead).unwrap().len(), 2);
            assert_eq!(
                store.eol_run(live).unwrap().unwrap().outcome,
                RunOutcome::Running
            );
            assert_eq!(
                store.eol_run(remote).unwrap().unwrap().outcome,
                RunOutcome::Running
            );
            // The killed process, were it somehow still writing, can add nothing now.
            assert!(store
                .record_eol_measurement(dead, &measurement(3, Outcome::Pass))
                .is_err());
        });
    }
}
