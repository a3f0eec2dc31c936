//! The store: every record of the line in one SQLite file, behind this module only.
//!
//! Invariants: each call that changes more than one row does it in one transaction; a call
//! returns only after its transaction is committed with `synchronous = FULL`, so whatever the
//! program reports as saved survives a kill (and a power cut) right after.

mod bms_log;
mod cells;
mod eol;
mod journal;
mod migrations;
mod packs;
mod stats;
#[cfg(test)]
pub(crate) mod testing;
mod trace;

pub use bms_log::{BmsWriteRow, FieldRecord, WriteAttempt, WriteOutcome};
pub use cells::CellFilter;
pub use eol::NewRun;
pub use journal::{JournalChange, JournalEntry, StatusChange};
pub use packs::NewPack;
pub use stats::DayCounts;
pub use trace::{BmsWriteRecord, CellLink, PackRecord, SourceCell};

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
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Clock(#[from] crate::clock::BadClock),
}

pub type Result<T> = std::result::Result<T, StoreError>;

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

impl Store {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
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
        // WAL lets the console read while a CLI run writes; FULL makes each commit durable.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
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
        for (i, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let tx = self.conn.transaction()?;
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

    /// `PRAGMA integrity_check`: `ok` or the list of problems.
    pub fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows.join("\n"))
    }

    /// Record something the line should see on the home screen.
    pub fn log_event(&self, actor: &Actor, level: &str, message: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events(at, level, station, operator, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            (self.now(), level, &actor.station, &actor.operator, message),
        )?;
        Ok(())
    }

    /// The most recent events, newest first: `(at, level, message)`.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, level, message FROM events ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    pub fn get_state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM console_state WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_state(&self, key: &str, value: &str) -> Result<()> {
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
