//! The store: every record of the line in one SQLite file, behind this module only.
//!
//! Invariants: each call that changes more than one row does it in one transaction; a call
//! returns only after its transaction is committed with `synchronous = FULL`, so whatever the
//! program reports as saved survives a kill (and a power cut) right after.
//!
//! Several writers (CLI runs, consoles, stations) share one file: every write transaction
//! starts with `BEGIN IMMEDIATE` (takes the write lock first, so it waits in the busy handler
//! instead of failing with `SQLITE_BUSY_SNAPSHOT` when upgrading a read), every connection
//! waits up to [`busy_timeout`] for the lock, and no transaction holds it for long: large
//! commits go in chunks (see `commit_packs`).

pub(crate) mod audit;
mod bms_log;
mod cells;
mod copy;
mod eol;
mod journal;
mod labels;
mod migrations;
mod operators;
mod outbox;
mod packs;
mod pg;
mod pg_audit;
mod states;
mod stats;
#[cfg(test)]
pub(crate) mod testing;
mod trace;

pub use audit::{AuditRecords, NewEntry};
pub use bms_log::{BmsWriteLog, BmsWriteRow, FieldRecord, WriteAttempt, WriteOutcome};
pub use cells::{CellFilter, CellRecords, IMPORT_CHUNK_ROWS};
pub use copy::TableCopy;
pub use eol::{EolRecords, NewRun};
pub use journal::{JournalChange, JournalEntry, JournalRecords, StatusChange};
pub use labels::{
    LabelOutcome, LabelPrint, LabelRecords, LabelScan, LabelScanRecords, NewLabelPrint,
    NewLabelScan,
};
pub use operators::{LoginFailure, NewOperator, OperatorRecord, OperatorRecords};
pub use outbox::{outbox_path, Backlog, Forwarded, Forwarder};
pub use packs::{NewPack, PackRecords, ProfileRecord};
pub use pg::{
    is_url, shown as shown_url, LineStatus, PgStore, StationInfo, StationRow, PG_MIGRATIONS,
};
pub use states::{PackEffect, StateChange, StateRecords, StoredProfile};
pub use stats::{DayCounts, LineStats};
pub use trace::{BmsWriteRecord, CellLink, PackRecord, SourceCell, TraceRecords};

/// The store's whole API as traits, for `use crate::store::prelude::*`: what a second backend
/// (the line database) implements.
pub mod prelude {
    pub use super::{
        AuditRecords, BmsWriteLog, CellRecords, EolRecords, JournalRecords, LabelRecords,
        LabelScanRecords, LineStats, LineStore, OperatorRecords, PackRecords, StateRecords,
        StationRecords, TraceRecords,
    };
}

/// Every record a station keeps, behind one name. The SQLite [`Store`] implements it.
pub trait LineStore:
    CellRecords
    + PackRecords
    + StateRecords
    + BmsWriteLog
    + EolRecords
    + JournalRecords
    + TraceRecords
    + LineStats
    + StationRecords
    + LabelRecords
    + LabelScanRecords
    + AuditRecords
    + OperatorRecords
{
}

impl<T> LineStore for T where
    T: CellRecords
        + PackRecords
        + StateRecords
        + BmsWriteLog
        + EolRecords
        + JournalRecords
        + TraceRecords
        + LineStats
        + StationRecords
        + LabelRecords
        + LabelScanRecords
        + AuditRecords
        + OperatorRecords
{
}

/// A connection to the line's records of either backend, owned by one task.
pub type DynStore = Box<dyn LineStore + Send>;

use crate::clock::Clock;
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the folder for the database {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the database {path} has schema version {found}, newer than this Packwright knows ({known}); upgrade Packwright")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the database {path} does not exist (commands that only read do not create one; check --db or PACKWRIGHT_DB)")]
    Missing { path: PathBuf },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The line database could not be reached (or the connection was lost).
    #[error("cannot reach the line database {url}: {}; check --db or PACKWRIGHT_DB, the network and that the server runs", pg_message(source))]
    Unreachable {
        url: String,
        source: postgres::Error,
    },
    #[error("line database error: {}", pg_message(.0))]
    Pg(postgres::Error),
    #[error(transparent)]
    Clock(#[from] crate::clock::BadClock),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What the server said, else the driver's own words.
pub(crate) fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl From<postgres::Error> for StoreError {
    /// A race another station won is a refusal, as SQLite's own checks give it: a row this
    /// change needed was taken (unique), or the server broke a deadlock or a serialization
    /// conflict by aborting this transaction (nothing of it was kept).
    fn from(e: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(format!(
                "another record already holds this: {}; nothing was changed",
                pg_message(&e)
            )),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                StoreError::Conflict(
                    "another station changed the same records at the same moment; nothing was changed, try again"
                        .to_string(),
                )
            }
            _ => StoreError::Pg(e),
        }
    }
}

/// A connection to the records `db` names: a line database for a `postgres://` URL, else the
/// SQLite file (created if missing).
pub fn open(db: &Path) -> Result<DynStore> {
    if is_url(db) {
        return Ok(Box::new(PgStore::connect(&db.to_string_lossy())?));
    }
    Ok(Box::new(Store::open(db)?))
}

/// [`open`] for a station at work: on the line database its contact is recorded in the
/// station registry (a SQLite file is one station's own and has no registry).
pub fn open_station(db: &Path, station: &StationInfo) -> Result<DynStore> {
    if is_url(db) {
        let store = PgStore::connect(&db.to_string_lossy())?;
        store.station_contact(station)?;
        return Ok(Box::new(store));
    }
    Ok(Box::new(Store::open(db)?))
}

/// [`open`] for commands that only read: a SQLite file that does not exist is an error and
/// nothing is created (a line database always exists or is unreachable).
pub fn open_existing(db: &Path) -> Result<DynStore> {
    if is_url(db) {
        return Ok(Box::new(PgStore::connect(&db.to_string_lossy())?));
    }
    Ok(Box::new(Store::open_existing(db)?))
}

impl StoreError {
    /// SQLite's "database is busy/locked": another connection holds a lock this one needs.
    fn is_busy(&self) -> bool {
        let sql = match self {
            StoreError::Sql(e) | StoreError::Open { source: e, .. } => e,
            _ => return false,
        };
        matches!(
            sql.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// What is wrong with the database file or its machine, when an error says so: the cases a
/// user fixes outside Packwright (exit 4), told apart for a clear message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    /// Another connection held the write lock for longer than [`busy_timeout`].
    Locked,
    /// Not a database, or a damaged one.
    Damaged,
    /// The file, its folder or the medium cannot be written.
    ReadOnly,
    /// Missing folder or no permission.
    CannotOpen,
    DiskFull,
    /// An I/O error reading or writing the file.
    Io,
}

/// The [`FileProblem`] one error (not its causes) reports, if it is SQLite's.
pub fn file_problem(e: &(dyn std::error::Error + 'static)) -> Option<FileProblem> {
    use rusqlite::ErrorCode as C;
    let code = e
        .downcast_ref::<rusqlite::Error>()
        .and_then(|r| r.sqlite_error_code())?;
    Some(match code {
        C::DatabaseBusy | C::DatabaseLocked => FileProblem::Locked,
        C::NotADatabase | C::DatabaseCorrupt => FileProblem::Damaged,
        C::ReadOnly => FileProblem::ReadOnly,
        C::CannotOpen | C::PermissionDenied => FileProblem::CannotOpen,
        C::DiskFull => FileProblem::DiskFull,
        C::SystemIoFailure => FileProblem::Io,
        _ => return None,
    })
}

/// A "database is locked" error, as a writer that waited in vain gets it (for tests).
#[cfg(test)]
pub(crate) fn locked_error() -> StoreError {
    StoreError::Sql(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("database is locked".into()),
    ))
}

/// Who is doing the work, stamped on every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub station: String,
    pub operator: String,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    clock: Clock,
}

/// The default database file: `$PACKWRIGHT_DB`, else the user's data folder.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PACKWRIGHT_DB") {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("packwright")
        .join("packwright.db")
}

/// How long a connection waits for another writer's lock before giving up:
/// `$PACKWRIGHT_BUSY_TIMEOUT_MS`, else 30 s (far longer than any one write transaction holds
/// the lock, so a wait this long means something is stuck).
pub fn busy_timeout() -> std::time::Duration {
    std::env::var("PACKWRIGHT_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
        .unwrap_or(std::time::Duration::from_secs(30))
}

/// The busy handler: wait for another connection's lock, up to [`busy_timeout`] in all,
/// looking again every millisecond (SQLite's own handler backs off to 100 ms between looks,
/// so a writer could sleep through the gaps a chunked import or commit leaves between its
/// transactions, and wait far longer than any one of them holds the lock).
fn wait_for_lock(attempt: i32) -> bool {
    use std::time::{Duration, Instant};
    static LIMIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    thread_local! {
        static SINCE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = Instant::now();
    if attempt == 0 {
        SINCE.with(|s| s.set(Some(now)));
    }
    let since = SINCE.with(|s| s.get()).unwrap_or(now);
    if now.duration_since(since) >= *LIMIT.get_or_init(busy_timeout) {
        return false;
    }
    std::thread::sleep(Duration::from_millis(1));
    true
}

/// Between two write transactions of one chunked operation (a commit of many packs, removing
/// a staged import): leave the lock free for a moment, long enough for a writer waiting in
/// [`wait_for_lock`] to look again and take it. Without it the next chunk would take the lock
/// back within microseconds and another station would wait for the whole operation.
pub(crate) fn let_others_in() {
    std::thread::sleep(std::time::Duration::from_micros(1500));
}

/// Begin a write transaction: `BEGIN IMMEDIATE`, so the write lock is taken (waiting in the
/// busy handler) before anything is read.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

impl Store {
    /// Open an existing database and migrate it; a path with no file is an error
    /// ([`StoreError::Missing`]) and nothing is created. For commands that only read.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        Store::open(path)
    }

    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Some of SQLite's lock conflicts while a new file is set up (switching it to WAL, its
        // first migration) return "busy" at once without calling the busy handler: open again
        // until the set-up goes through or the busy timeout has passed.
        let since = std::time::Instant::now();
        loop {
            match Store::open_once(path) {
                Err(e) if e.is_busy() && since.elapsed() < busy_timeout() => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                done => return done,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            clock: Clock::from_env()?,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// A private in-memory database, for tests and `match --cells` dry runs.
    pub fn in_memory() -> Result<Store> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
            path: PathBuf::from(":memory:"),
            clock: Clock::from_env()?,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Stamp records from `clock` from now on (tests fix it).
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, as records are stamped.
    fn now(&self) -> String {
        self.clock.stamp()
    }

    fn configure(&self) -> Result<()> {
        // Wait for other writers first: even switching to WAL may need a lock.
        self.conn.busy_handler(Some(wait_for_lock))?;
        // WAL lets the console read while a CLI run writes; FULL makes each commit durable.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        // Up to 32 MiB of pages (SQLite's default is 2 MiB): a million cells' indexes are read
        // again and again by a large import or commit; the cache grows only as it is used.
        self.conn.pragma_update(None, "cache_size", -32768)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let known = migrations::MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        if found == known {
            return Ok(());
        }
        // Another process may be migrating the same file: each step reads the version again
        // under the write lock and skips what is already done.
        for (i, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let tx = write_tx(&mut self.conn)?;
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if now > i as i64 {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for modules of the store that live in other files.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// The station's own records: its event log, the console's saved state, the file's health.
pub trait StationRecords {
    /// Where this connection's "now" comes from, as its records are stamped.
    fn clock(&self) -> &Clock;

    /// Where the records are, as a message may name them: the file, or the line database's
    /// URL without its password.
    fn location(&self) -> String;

    /// `PRAGMA integrity_check`: `ok` or the list of problems.
    fn integrity_check(&self) -> Result<String>;

    /// Record something the line should see on the home screen.
    fn log_event(&self, actor: &Actor, level: &str, message: &str) -> Result<()>;

    /// The most recent events, newest first: `(at, level, message)`.
    fn recent_events(&self, limit: usize) -> Result<Vec<(String, String, String)>>;

    fn get_state(&self, key: &str) -> Result<Option<String>>;

    fn set_state(&self, key: &str, value: &str) -> Result<()>;
}

impl StationRecords for Store {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows.join("\n"))
    }

    fn log_event(&self, actor: &Actor, level: &str, message: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events(at, level, station, operator, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            (self.now(), level, &actor.station, &actor.operator, message),
        )?;
        Ok(())
    }

    fn recent_events(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, level, message FROM events ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    fn get_state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM console_state WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_state(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO console_state(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_new_file_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/line.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, migrations::MIGRATIONS.len() as i64);
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("line.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("upgrade Packwright"), "{err}");
    }
}
