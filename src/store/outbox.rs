//! Store-and-forward for a station on the line database: the records an end-of-line run
//! appends (each measurement, the run's end) are written first to the station's own SQLite
//! outbox, one row per record (station, the line database it is for, a monotonic sequence,
//! kind, JSON payload, the station's time), each in its own durable transaction; then
//! forwarded in sequence order. The line database applies a record and remembers (station,
//! outbox origin, sequence) in `forwarded` in one transaction, so a record forwarded twice
//! (the station died between the server's commit and its own delete) is applied once.
//!
//! When the line database cannot be reached the records stay queued and the outbox notes
//! since when; the next forward (after the next record, at the run's end, at the start of the
//! station's next command) drains them in order. A record the line database refuses (not a
//! connection failure: e.g. its run was marked aborted meanwhile) is kept in the outbox with
//! the reason and skipped, never dropped silently.
//!
//! The outbox is `$PACKWRIGHT_OUTBOX`, else `outbox.db` in the folder of the default
//! database. A SQLite-only station has none.

use super::bms_log::{FieldRecord, WriteOutcome};
use super::pg::{
    finish_run, finish_write, insert_measurement, shown, MeasurementRow, PgStore, WriteEnd,
};
use super::{Result, StoreError};
use crate::clock::Clock;
use crate::eol::judge::RunOutcome;
use crate::eol::record::Measurement;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Where this station's outbox is: `$PACKWRIGHT_OUTBOX`, else `outbox.db` next to the
/// default database.
pub fn outbox_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PACKWRIGHT_OUTBOX") {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("packwright")
        .join("outbox.db")
}

/// A record kind: one measurement of a running end-of-line run.
pub const EOL_MEASUREMENT: &str = "eol.measurement";
/// A record kind: the end of an end-of-line run (outcome, reason, the station's time).
pub const EOL_END: &str = "eol.end";

/// A record kind: the end of a configuration write (outcome, identity, fields, the
/// station's time); a verified whole configuration configures its assembled pack.
pub const BMS_WRITE_END: &str = "bms.write_end";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct QueuedWriteEnd {
    id: i64,
    outcome: String,
    identity: Option<String>,
    detail: Option<String>,
    fields: Vec<FieldRecord>,
    configures: bool,
    finished_at: String,
}

fn write_outcome(s: &str) -> Result<WriteOutcome> {
    [
        WriteOutcome::Started,
        WriteOutcome::Verified,
        WriteOutcome::Failed,
        WriteOutcome::Refused,
        WriteOutcome::Aborted,
    ]
    .into_iter()
    .find(|o| o.as_str() == s)
    .ok_or_else(|| StoreError::Conflict(format!("a queued write has an unknown outcome '{s}'")))
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunEnd {
    run_id: i64,
    outcome: String,
    reason: Option<String>,
    ended_at: String,
}

/// One queued record.
#[derive(Debug, Clone)]
struct Queued {
    seq: i64,
    kind: String,
    payload: String,
    created_at: String,
}

/// A station's backlog for one line database.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    /// Records waiting to be forwarded.
    pub queued: i64,
    /// The station's time the oldest of them was written.
    pub oldest: Option<String>,
    /// Since when the line database has not been reached (cleared once it is).
    pub unreachable_since: Option<String>,
    /// Records the line database refused (kept with the reason, not forwarded again).
    pub refused: i64,
}

impl Backlog {
    /// Seconds since the oldest queued record was written, at `now`.
    pub fn oldest_age_s(&self, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
        let oldest = chrono::DateTime::parse_from_rfc3339(self.oldest.as_deref()?).ok()?;
        Some(
            (now - oldest.with_timezone(&chrono::Utc))
                .num_seconds()
                .max(0),
        )
    }
}

/// What one forward did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub sent: usize,
    pub refused: usize,
    /// Why the line database could not be reached, when it could not (records stay queued).
    pub unreachable: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox_origin(origin TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    line TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    refused TEXT
);
CREATE INDEX IF NOT EXISTS outbox_by_line ON outbox(station, line, seq);
CREATE TABLE IF NOT EXISTS outbox_link(
    station TEXT NOT NULL,
    line TEXT NOT NULL,
    unreachable_since TEXT,
    PRIMARY KEY (station, line)
);
";

/// The station's outbox for one line database, and the forwarding of its records.
pub struct Forwarder {
    conn: Connection,
    /// Random, made when the outbox file is created: (station, origin, seq) names a record
    /// on the line database even if the file is ever made anew.
    origin: String,
    url: String,
    /// The line database as the outbox names it (the URL without its password).
    line: String,
    station: String,
    clock: Clock,
    pg: Option<PgStore>,
    /// When this forwarder last failed to reach the line database: [`forward`](Self::forward)
    /// does not try again within [`RETRY_PAUSE`] (a network that drops packets costs a
    /// connection timeout per try, and a run must not wait that long per measurement).
    failed_at: Option<std::time::Instant>,
}

/// How long after a failed try [`Forwarder::forward`] leaves the line database alone.
pub const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

impl Forwarder {
    /// The outbox at `path` (created if missing) for `station`'s records to the line
    /// database at `url`.
    pub fn open(path: &Path, url: &str, station: &str) -> Result<Forwarder> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_handler(Some(super::wait_for_lock))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let origin = {
            let tx = rusqlite::Transaction::new_unchecked(
                &conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let found: Option<String> = tx
                .query_row("SELECT origin FROM outbox_origin", [], |r| r.get(0))
                .optional()?;
            let origin = match found {
                Some(o) => o,
                None => {
                    use argon2::password_hash::rand_core::{OsRng, RngCore};
                    let mut bytes = [0u8; 8];
                    OsRng.fill_bytes(&mut bytes);
                    let o: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    tx.execute("INSERT INTO outbox_origin(origin) VALUES (?1)", [&o])?;
                    o
                }
            };
            tx.commit()?;
            origin
        };
        Ok(Forwarder {
            conn,
            origin,
            url: url.to_string(),
            line: shown(url),
            station: station.to_string(),
            clock: Clock::from_env()?,
            pg: None,
            failed_at: None,
        })
    }

    /// [`open`](Self::open), or `None` when there is no outbox file (nothing was ever queued).
    pub fn open_existing(path: &Path, url: &str, station: &str) -> Result<Option<Forwarder>> {
        if !path.exists() {
            return Ok(None);
        }
        Self::open(path, url, station).map(Some)
    }

    /// Stamp queued records from `clock` (tests fix it).
    pub fn with_clock(mut self, clock: Clock) -> Forwarder {
        self.clock = clock;
        self
    }

    fn push(&self, kind: &str, payload: String) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO outbox(station, line, kind, payload, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.station, self.line, kind, payload, self.clock.stamp()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Queue a measurement of run `run_id`; returns its sequence number.
    pub fn queue_measurement(&self, run_id: i64, m: &Measurement) -> Result<i64> {
        let row = MeasurementRow::of(run_id, m)?;
        self.push(EOL_MEASUREMENT, to_json(&row)?)
    }

    /// Queue the end of run `run_id` at `ended_at` (the station's time).
    pub fn queue_run_end(
        &self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
        ended_at: &str,
    ) -> Result<i64> {
        let end = RunEnd {
            run_id,
            outcome: outcome.as_str().to_string(),
            reason: reason.map(str::to_string),
            ended_at: ended_at.to_string(),
        };
        self.push(EOL_END, to_json(&end)?)
    }

    /// Queue the end of configuration write `id` (begun on the line database).
    #[allow(clippy::too_many_arguments)]
    pub fn queue_write_end(
        &self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
        configures: bool,
    ) -> Result<i64> {
        let end = QueuedWriteEnd {
            id,
            outcome: outcome.as_str().to_string(),
            identity: identity.map(str::to_string),
            detail: detail.map(str::to_string),
            fields: fields.to_vec(),
            configures,
            finished_at: self.clock.stamp(),
        };
        self.push(BMS_WRITE_END, to_json(&end)?)
    }

    /// The backlog of this station for this line database.
    pub fn backlog(&self) -> Result<Backlog> {
        let (queued, oldest, refused): (i64, Option<String>, i64) = self.conn.query_row(
            "SELECT COUNT(*) FILTER (WHERE refused IS NULL),
                    MIN(created_at) FILTER (WHERE refused IS NULL),
                    COUNT(*) FILTER (WHERE refused IS NOT NULL)
             FROM outbox WHERE station = ?1 AND line = ?2",
            params![self.station, self.line],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(Backlog {
            queued,
            oldest,
            unreachable_since: self.unreachable_since()?,
            refused,
        })
    }

    fn unreachable_since(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT unreachable_since FROM outbox_link WHERE station = ?1 AND line = ?2",
                params![self.station, self.line],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Note that the line database was not reached now (kept if an earlier time is noted);
    /// returns since when it has not been.
    pub fn note_unreachable(&self) -> Result<String> {
        self.conn.execute(
            "INSERT INTO outbox_link(station, line, unreachable_since) VALUES (?1, ?2, ?3)
             ON CONFLICT (station, line) DO UPDATE
             SET unreachable_since = COALESCE(unreachable_since, excluded.unreachable_since)",
            params![self.station, self.line, self.clock.stamp()],
        )?;
        Ok(self.unreachable_since()?.unwrap_or_default())
    }

    fn note_reached(&self) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox_link SET unreachable_since = NULL
             WHERE station = ?1 AND line = ?2 AND unreachable_since IS NOT NULL",
            params![self.station, self.line],
        )?;
        Ok(())
    }

    fn next(&self) -> Result<Option<Queued>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, kind, payload, created_at FROM outbox
                 WHERE station = ?1 AND line = ?2 AND refused IS NULL ORDER BY seq LIMIT 1",
                params![self.station, self.line],
                |r| {
                    Ok(Queued {
                        seq: r.get(0)?,
                        kind: r.get(1)?,
                        payload: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The line database, connected now if it was not yet.
    fn line_db(&mut self) -> Result<&PgStore> {
        if self.pg.is_none() {
            let pg = PgStore::connect(&self.url)?.with_clock(self.clock.clone());
            self.pg = Some(pg);
        }
        self.pg
            .as_ref()
            .ok_or_else(|| StoreError::Conflict("the line database connection is closed".into()))
    }

    /// [`forward_now`](Self::forward_now), unless the line database could not be reached less
    /// than [`RETRY_PAUSE`] ago (then the records stay queued for the next try).
    pub fn forward(&mut self) -> Result<Forwarded> {
        if self.failed_at.is_some_and(|at| at.elapsed() < RETRY_PAUSE) {
            return Ok(Forwarded {
                unreachable: Some("the line database was not reached a moment ago".into()),
                ..Forwarded::default()
            });
        }
        self.forward_now()
    }

    /// Forward the queued records in order until none is left or the line database cannot be
    /// reached. An error is the outbox's own (the station's disk); an unreachable line
    /// database is said in the result.
    pub fn forward_now(&mut self) -> Result<Forwarded> {
        let done = self.drain()?;
        self.failed_at = done.unreachable.as_ref().map(|_| std::time::Instant::now());
        Ok(done)
    }

    fn drain(&mut self) -> Result<Forwarded> {
        let mut done = Forwarded::default();
        loop {
            let Some(q) = self.next()? else {
                if self.unreachable_since()?.is_some() {
                    // Nothing to send, but the outage noted may be over: look.
                    match self.line_db() {
                        Ok(_) => self.note_reached()?,
                        Err(e @ StoreError::Unreachable { .. }) => {
                            self.note_unreachable()?;
                            done.unreachable = Some(e.to_string());
                        }
                        Err(e) => return Err(e),
                    }
                }
                return Ok(done);
            };
            let (station, origin) = (self.station.clone(), self.origin.clone());
            let applied = self
                .line_db()
                .and_then(|pg| pg.apply_forwarded(&station, &origin, &q));
            match applied {
                Ok(_) => {
                    self.conn
                        .execute("DELETE FROM outbox WHERE seq = ?1", [q.seq])?;
                    self.note_reached()?;
                    done.sent += 1;
                }
                Err(e @ StoreError::Unreachable { .. }) => {
                    self.note_unreachable()?;
                    done.unreachable = Some(e.to_string());
                    return Ok(done);
                }
                Err(e) => {
                    self.conn.execute(
                        "UPDATE outbox SET refused = ?2 WHERE seq = ?1",
                        params![q.seq, e.to_string()],
                    )?;
                    done.refused += 1;
                }
            }
        }
    }
}

fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| StoreError::Conflict(format!("a record cannot be queued: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(kind: &str, payload: &str) -> Result<T> {
    serde_json::from_str(payload)
        .map_err(|e| StoreError::Conflict(format!("a queued {kind} record is unreadable: {e}")))
}

impl PgStore {
    /// Apply one forwarded record unless (station, origin, seq) was applied before; returns
    /// whether it was applied now. One transaction: the record and its key, or neither.
    fn apply_forwarded(&self, station: &str, origin: &str, q: &Queued) -> Result<bool> {
        self.tx(|tx| {
            let n = tx.execute(
                "INSERT INTO forwarded(station, origin, seq, kind, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&station, &origin, &q.seq, &q.kind, &q.created_at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            match q.kind.as_str() {
                EOL_MEASUREMENT => {
                    let row: MeasurementRow = from_json(&q.kind, &q.payload)?;
                    insert_measurement(tx, &row)?;
                }
                EOL_END => {
                    let end: RunEnd = from_json(&q.kind, &q.payload)?;
                    let outcome: RunOutcome = end.outcome.parse().map_err(StoreError::Conflict)?;
                    finish_run(
                        tx,
                        end.run_id,
                        outcome,
                        end.reason.as_deref(),
                        &end.ended_at,
                    )?;
                }
                BMS_WRITE_END => {
                    let end: QueuedWriteEnd = from_json(&q.kind, &q.payload)?;
                    let w = WriteEnd {
                        id: end.id,
                        outcome: write_outcome(&end.outcome)?,
                        identity: end.identity.as_deref(),
                        detail: end.detail.as_deref(),
                        fields: &end.fields,
                        configures: end.configures,
                    };
                    finish_write(tx, &w, &end.finished_at)?;
                }
                other => {
                    return Err(StoreError::Conflict(format!(
                        "a queued record of kind '{other}' is not known to this Packwright"
                    )))
                }
            }
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eol::judge::{Outcome, Value};
    use crate::eol::plan::Limit;
    use crate::store::prelude::*;
    use crate::store::testing::{actor, add_pack, pg_cluster};
    use crate::store::NewRun;

    fn measurement(seq: i64) -> Measurement {
        Measurement {
            seq,
            step_id: "cell_voltages".into(),
            step_title: "Cell voltages".into(),
            name: format!("cell_{seq}"),
            value: Some(Value::Num(3300.0 + seq as f64)),
            unit: "mV".into(),
            limit: Limit::Range {
                low: Some(3000.0),
                high: None,
            },
            outcome: Outcome::Pass,
            reason: None,
            taken_at: "2026-01-02T03:04:05.000Z".into(),
        }
    }

    #[test]
    fn records_forward_in_order_once_and_a_replay_changes_nothing() {
        let url = pg_cluster::fresh_db();
        let mut line = PgStore::connect(&url).unwrap();
        let pack = add_pack(&mut line);
        let run = line
            .start_eol_run(
                &actor(),
                &NewRun {
                    pack_id: pack,
                    profile: "p".into(),
                    plan_version: "1".into(),
                    software_version: "t".into(),
                    transport: "sim".into(),
                    pid: 1,
                },
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let mut f = Forwarder::open(&path, &url, "st1").unwrap();
        for seq in 1..=3 {
            f.queue_measurement(run, &measurement(seq)).unwrap();
        }
        f.queue_run_end(
            run,
            RunOutcome::Error,
            Some("stopped"),
            "2026-01-02T03:05:00.000Z",
        )
        .unwrap();
        assert_eq!(f.backlog().unwrap().queued, 4);
        assert!(f.backlog().unwrap().oldest.is_some());
        // The first record is applied but its local delete is lost (the station died in
        // between): forwarding again applies it once.
        let first = f.next().unwrap().unwrap();
        assert!(line.apply_forwarded("st1", &f.origin, &first).unwrap());
        assert!(!line.apply_forwarded("st1", &f.origin, &first).unwrap());
        let done = f.forward_now().unwrap();
        assert_eq!((done.sent, done.refused, done.unreachable), (4, 0, None));
        let kept: Vec<String> = line
            .eol_measurements(run)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(kept, ["cell_1", "cell_2", "cell_3"]);
        let header = line.eol_run(run).unwrap().unwrap();
        assert_eq!(header.outcome, RunOutcome::Error);
        assert_eq!(header.ended_at.as_deref(), Some("2026-01-02T03:05:00.000Z"));
        assert_eq!(f.backlog().unwrap(), Backlog::default());
        // A record the line database refuses (its run is over) is kept with the reason.
        f.queue_measurement(run, &measurement(4)).unwrap();
        let done = f.forward_now().unwrap();
        assert_eq!((done.sent, done.refused), (0, 1));
        let b = f.backlog().unwrap();
        assert_eq!((b.queued, b.refused), (0, 1));
    }

    #[test]
    fn an_unreachable_line_database_leaves_records_queued_and_notes_since_when() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("postgres://postgres@127.0.0.1:{port}/nowhere");
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-04T10:42:00Z").unwrap();
        let clock = Clock::fixed(at.with_timezone(&chrono::Utc));
        let mut f = Forwarder::open(&dir.path().join("o.db"), &url, "st1")
            .unwrap()
            .with_clock(clock);
        f.queue_measurement(1, &measurement(1)).unwrap();
        let done = f.forward_now().unwrap();
        assert_eq!(done.sent, 0);
        assert!(done
            .unreachable
            .unwrap()
            .contains("cannot reach the line database"));
        let b = f.backlog().unwrap();
        assert_eq!(b.queued, 1);
        // The fixed clock moves a millisecond per stamp; the time first noted is kept.
        let since = b.unreachable_since.unwrap();
        assert!(since.starts_with("2026-03-04T10:42:00."), "{since}");
        assert_eq!(f.note_unreachable().unwrap(), since);
    }
}
