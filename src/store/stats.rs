//! What the line did on one day, counted from the records themselves.

use super::{Result, Store};
use chrono::{Local, NaiveDate, TimeZone, Utc};
use serde::Serialize;

/// Packs per stage on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    /// Packs created by a committed match.
    pub matched: i64,
    /// Packs whose assembly was completed.
    pub assembled: i64,
    /// Packs with a verified configuration write.
    pub configured: i64,
    /// Packs whose last verdict of the day was a pass.
    pub passed: i64,
    /// Packs whose last verdict of the day was a fail.
    pub failed: i64,
}

/// The start of a local day, as the store writes times (RFC 3339 UTC with milliseconds), so
/// that text comparisons order it with them.
pub(super) fn local_midnight(date: NaiveDate) -> String {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Where a DST change skips midnight, the day starts at the first instant that exists.
    let start = Local
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight));
    start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Counts of what happened on the line, per day.
pub trait LineStats {
    /// What happened on the local date `date`: packs matched (created), assembled,
    /// configured (a verified configuration write finished), and passed or failed (the last
    /// end-of-line verdict the pack got that day; an aborted run or an error is no verdict).
    fn day_counts(&self, date: NaiveDate) -> Result<DayCounts>;
}

impl LineStats for Store {
    fn day_counts(&self, date: NaiveDate) -> Result<DayCounts> {
        let next = date.succ_opt().unwrap_or(date);
        self.counts_between(&local_midnight(date), &local_midnight(next))
    }
}

impl Store {
    /// [`Store::day_counts`] between two stored times, `from` included, `to` not.
    fn counts_between(&self, from: &str, to: &str) -> Result<DayCounts> {
        Ok(self.conn().query_row(
            "WITH verdicts AS (
                 SELECT outcome,
                        ROW_NUMBER() OVER (PARTITION BY pack_id ORDER BY ended_at DESC, id DESC) AS n
                 FROM eol_runs
                 WHERE outcome IN ('pass', 'fail') AND ended_at >= ?1 AND ended_at < ?2
             )
             SELECT
                 (SELECT COUNT(*) FROM packs WHERE created_at >= ?1 AND created_at < ?2),
                 (SELECT COUNT(*) FROM packs WHERE assembled_at >= ?1 AND assembled_at < ?2),
                 (SELECT COUNT(DISTINCT pack_id) FROM bms_writes
                  WHERE outcome = 'verified' AND finished_at >= ?1 AND finished_at < ?2),
                 (SELECT COUNT(*) FROM verdicts WHERE n = 1 AND outcome = 'pass'),
                 (SELECT COUNT(*) FROM verdicts WHERE n = 1 AND outcome = 'fail')",
            [from, to],
            |r| {
                Ok(DayCounts {
                    matched: r.get(0)?,
                    assembled: r.get(1)?,
                    configured: r.get(2)?,
                    passed: r.get(3)?,
                    failed: r.get(4)?,
                })
            },
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eol::judge::RunOutcome;
    use crate::store::prelude::*;
    use crate::store::testing::{actor, assemble, store_with_pack};
    use crate::store::{NewRun, WriteAttempt, WriteOutcome};

    const DAY: (&str, &str) = ("2026-11-23T00:00:00.000Z", "2026-11-24T00:00:00.000Z");

    /// Move every time stamp of a table's rows to `at`.
    fn stamp(store: &Store, sql: &str, at: &str) {
        store.conn().execute(sql, [at]).unwrap();
    }

    fn run(store: &mut Store, pack: i64, outcome: RunOutcome, ended_at: &str) {
        let id = store
            .start_eol_run(
                &actor(),
                &NewRun {
                    pack_id: pack,
                    profile: "p".into(),
                    plan_version: "v1".into(),
                    software_version: "0.1.0".into(),
                    transport: "serial /dev/null jbd".into(),
                    pid: 1,
                },
            )
            .unwrap();
        store.finish_eol_run(id, outcome, None).unwrap();
        store
            .conn()
            .execute(
                "UPDATE eol_runs SET ended_at = ?2 WHERE id = ?1",
                rusqlite::params![id, ended_at],
            )
            .unwrap();
    }

    fn write(store: &mut Store, code: Option<&str>, outcome: WriteOutcome, finished_at: &str) {
        let attempt = WriteAttempt {
            port: "/dev/ttyUSB0",
            protocol: "jbd",
            profile: "p",
            pack_code: code,
        };
        let id = store.begin_bms_write(&actor(), &attempt).unwrap();
        store
            .finish_bms_write(id, outcome, None, None, &[])
            .unwrap();
        store
            .conn()
            .execute(
                "UPDATE bms_writes SET finished_at = ?2 WHERE id = ?1",
                rusqlite::params![id, finished_at],
            )
            .unwrap();
    }

    #[test]
    fn each_stage_counts_what_happened_that_day_once_per_pack() {
        let (mut store, pack) = store_with_pack();
        assemble(&mut store, pack, "PW1");
        stamp(
            &store,
            "UPDATE packs SET created_at = ?1",
            "2026-11-22T23:59:59.999Z",
        );
        stamp(
            &store,
            "UPDATE packs SET assembled_at = ?1",
            "2026-11-23T08:00:00.000Z",
        );
        // Two verified writes count once; a failed one, one for no pack and one the day
        // after count nothing.
        write(
            &mut store,
            Some("PW1"),
            WriteOutcome::Verified,
            "2026-11-23T09:00:00.000Z",
        );
        write(
            &mut store,
            Some("PW1"),
            WriteOutcome::Verified,
            "2026-11-23T10:00:00.000Z",
        );
        write(
            &mut store,
            Some("PW1"),
            WriteOutcome::Failed,
            "2026-11-23T10:30:00.000Z",
        );
        write(
            &mut store,
            None,
            WriteOutcome::Verified,
            "2026-11-23T11:00:00.000Z",
        );
        write(
            &mut store,
            Some("PW1"),
            WriteOutcome::Verified,
            "2026-11-24T00:00:00.000Z",
        );
        // Failed, then passed, then an aborted retest: the last verdict of the day is a pass.
        run(
            &mut store,
            pack,
            RunOutcome::Fail,
            "2026-11-23T12:00:00.000Z",
        );
        run(
            &mut store,
            pack,
            RunOutcome::Pass,
            "2026-11-23T13:00:00.000Z",
        );
        run(
            &mut store,
            pack,
            RunOutcome::Aborted,
            "2026-11-23T14:00:00.000Z",
        );
        let got = store.counts_between(DAY.0, DAY.1).unwrap();
        assert_eq!(
            got,
            DayCounts {
                matched: 0,
                assembled: 1,
                configured: 1,
                passed: 1,
                failed: 0,
            }
        );
        // The day before saw the match; the day after, a write but no verdict.
        let before = store
            .counts_between("2026-11-22T00:00:00.000Z", DAY.0)
            .unwrap();
        assert_eq!(
            before,
            DayCounts {
                matched: 1,
                ..DayCounts::default()
            }
        );
        run(
            &mut store,
            pack,
            RunOutcome::Fail,
            "2026-11-24T07:00:00.000Z",
        );
        let after = store
            .counts_between(DAY.1, "2026-11-25T00:00:00.000Z")
            .unwrap();
        assert_eq!(
            after,
            DayCounts {
                configured: 1,
                failed: 1,
                ..DayCounts::default()
            }
        );
    }

    #[test]
    fn today_in_local_time_covers_what_was_just_recorded() {
        // A fixed clock at a year's last minute: "today" must not depend on when tests run.
        let clock = crate::clock::Clock::fixed(
            chrono::DateTime::parse_from_rfc3339("2027-12-31T12:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
        let (store, pack) = store_with_pack();
        let mut store = store.with_clock(clock.clone());
        assemble(&mut store, pack, "PW1");
        let today = store.day_counts(clock.today()).unwrap();
        assert_eq!(today.assembled, 1);
        let tomorrow = clock.today().succ_opt().unwrap();
        assert_eq!(store.day_counts(tomorrow).unwrap().assembled, 0);
    }
}
