//! The BMS configuration-write log: every attempt, refused ones included, with the board's
//! identity, the operator, the station, the time, and each field's written / read-back /
//! persisted values. A row is created (and committed) before the first byte goes to the board
//! and completed afterwards, so an interrupted write stays visible as `started`.

use super::{Actor, Result, Store};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

/// Outcome of one write attempt, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    Started,
    /// Written, read back and re-read after the save: all fields match.
    Verified,
    /// Something failed; the detail names the field and why.
    Failed,
    /// Refused before a byte was sent (profile outside hard limits, unsupported protocol).
    Refused,
    Aborted,
}

impl WriteOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Started => "started",
            WriteOutcome::Verified => "verified",
            WriteOutcome::Failed => "failed",
            WriteOutcome::Refused => "refused",
            WriteOutcome::Aborted => "aborted",
        }
    }
}

/// What is known when an attempt begins.
#[derive(Debug, Clone)]
pub struct WriteAttempt<'a> {
    pub port: &'a str,
    pub protocol: &'a str,
    pub profile: &'a str,
    /// The pack code the write is for (e.g. the barcode written to the board), if it names a
    /// pack in the store.
    pub pack_code: Option<&'a str>,
}

/// One field's history within an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldRecord {
    pub field: String,
    pub register: Option<String>,
    pub written: Option<String>,
    pub read_back: Option<String>,
    pub persisted: Option<String>,
    pub ok: bool,
    pub reason: Option<String>,
}

/// The BMS write log: every attempt, its outcome and its fields.
pub trait BmsWriteLog {
    /// Close as aborted every attempt this station left `started` whose process is gone (a
    /// forced exit, a kill, a crash): its end is unknown, and the detail says what that means
    /// for the board. `alive(pid)` says whether a process still exists. Returns their ids.
    fn abort_orphaned_bms_writes(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>>;

    /// Record the start of an attempt; returns its id.
    fn begin_bms_write(&self, actor: &Actor, attempt: &WriteAttempt) -> Result<i64>;

    /// Complete an attempt with its outcome, the board's identity and every field, in one
    /// transaction.
    fn finish_bms_write(
        &mut self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
    ) -> Result<()>;

    /// Complete a write of a profile's whole configuration like [`Store::finish_bms_write`];
    /// when it verified and its pack (named by the pack code of the attempt) was waiting for
    /// its configuration (assembled), mark that pack configured in the same transaction.
    /// Returns whether the pack was marked.
    fn finish_configuration_write(
        &mut self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
    ) -> Result<bool>;

    /// The fields of one attempt, in the order they were recorded.
    fn bms_write_fields(&self, id: i64) -> Result<Vec<FieldRecord>>;

    /// The most recent attempts, newest first.
    fn recent_bms_writes(&self, limit: usize) -> Result<Vec<BmsWriteRow>>;
}

impl BmsWriteLog for Store {
    fn abort_orphaned_bms_writes(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let candidates: Vec<(i64, Option<i64>)> = tx
            .prepare("SELECT id, pid FROM bms_writes WHERE outcome = 'started' AND station = ?1")?
            .query_map([station], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut aborted = Vec::new();
        for (id, pid) in candidates {
            if pid.is_some_and(alive) {
                continue;
            }
            let who = pid.map_or("its process".to_string(), |p| format!("process {p}"));
            let detail = format!(
                "{who} ended before the write finished (killed or forced out): the board may have \
                 been left in factory mode with unsaved values; bms config read discards them and \
                 shows what it saved"
            );
            tx.execute(
                "UPDATE bms_writes SET outcome = 'aborted', finished_at = ?2, detail = ?3
                 WHERE id = ?1 AND outcome = 'started'",
                params![id, stamp, detail],
            )?;
            aborted.push(id);
        }
        tx.commit()?;
        Ok(aborted)
    }

    fn begin_bms_write(&self, actor: &Actor, attempt: &WriteAttempt) -> Result<i64> {
        let pack_id: Option<i64> = match attempt.pack_code {
            Some(code) => self
                .conn()
                .query_row("SELECT id FROM packs WHERE code = ?1", [code], |r| r.get(0))
                .optional()?,
            None => None,
        };
        self.conn().execute(
            "INSERT INTO bms_writes(pack_id, port, protocol, profile, station, operator, started_at, outcome, pid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'started', ?8)",
            params![
                pack_id,
                attempt.port,
                attempt.protocol,
                attempt.profile,
                actor.station,
                actor.operator,
                self.now(),
                i64::from(std::process::id())
            ],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    fn finish_bms_write(
        &mut self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
    ) -> Result<()> {
        self.finish(id, outcome, identity, detail, fields, false)
            .map(|_| ())
    }

    fn finish_configuration_write(
        &mut self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
    ) -> Result<bool> {
        self.finish(id, outcome, identity, detail, fields, true)
    }

    fn bms_write_fields(&self, id: i64) -> Result<Vec<FieldRecord>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT field, register, written, read_back, persisted, ok, reason
                 FROM bms_write_fields WHERE write_id = ?1 ORDER BY rowid",
            )?
            .query_map([id], |r| {
                Ok(FieldRecord {
                    field: r.get(0)?,
                    register: r.get(1)?,
                    written: r.get(2)?,
                    read_back: r.get(3)?,
                    persisted: r.get(4)?,
                    ok: r.get(5)?,
                    reason: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn recent_bms_writes(&self, limit: usize) -> Result<Vec<BmsWriteRow>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {WRITE_COLUMNS} FROM bms_writes w ORDER BY w.id DESC LIMIT ?1"
            ))?
            .query_map([limit as i64], write_row)?
            .collect::<rusqlite::Result<_>>()?)
    }
}

impl Store {
    fn finish(
        &mut self,
        id: i64,
        outcome: WriteOutcome,
        identity: Option<&str>,
        detail: Option<&str>,
        fields: &[FieldRecord],
        configures: bool,
    ) -> Result<bool> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "UPDATE bms_writes SET finished_at = ?2, outcome = ?3, bms_identity = COALESCE(?4, bms_identity), detail = ?5
             WHERE id = ?1",
            params![id, stamp.clone(), outcome.as_str(), identity, detail],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO bms_write_fields(write_id, field, register, written, read_back, persisted, ok, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for f in fields {
                insert.execute(params![
                    id,
                    f.field,
                    f.register,
                    f.written,
                    f.read_back,
                    f.persisted,
                    f.ok,
                    f.reason
                ])?;
            }
        }
        let configured = configures
            && outcome == WriteOutcome::Verified
            && tx.execute(
                "UPDATE packs SET status = 'configured'
                 WHERE status = 'assembled' AND id = (SELECT pack_id FROM bms_writes WHERE id = ?1)",
                [id],
            )? == 1;
        if configured {
            let pack: i64 =
                tx.query_row("SELECT pack_id FROM bms_writes WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            super::journal::note_status(&tx, pack, &stamp)?;
        }
        super::audit::append_write_end(
            &tx,
            id,
            &stamp,
            outcome.as_str(),
            identity,
            detail,
            configured,
        )?;
        tx.commit()?;
        Ok(configured)
    }
}

/// The columns [`write_row`] reads, in its order, from `bms_writes` named `w`.
pub(super) const WRITE_COLUMNS: &str = "w.id, w.port, w.protocol, w.profile, w.bms_identity, \
     w.station, w.operator, w.started_at, w.finished_at, w.outcome, w.detail";

/// One attempt from a row that starts with [`WRITE_COLUMNS`].
pub(super) fn write_row(r: &Row) -> rusqlite::Result<BmsWriteRow> {
    Ok(BmsWriteRow {
        id: r.get(0)?,
        port: r.get(1)?,
        protocol: r.get(2)?,
        profile: r.get(3)?,
        bms_identity: r.get(4)?,
        station: r.get(5)?,
        operator: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        outcome: r.get(9)?,
        detail: r.get(10)?,
    })
}

/// One attempt as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BmsWriteRow {
    pub id: i64,
    pub port: String,
    pub protocol: String,
    pub profile: String,
    pub bms_identity: Option<String>,
    pub station: String,
    pub operator: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;

    #[test]
    fn an_attempt_is_visible_as_started_then_complete() {
        crate::store::testing::each_backend(|store| {
            let actor = Actor {
                station: "bench-2".into(),
                operator: "ana".into(),
            };
            let attempt = WriteAttempt {
                port: "/dev/ttyUSB0",
                protocol: "jbd",
                profile: "lfp-16s1p-280ah",
                pack_code: None,
            };
            let id = store.begin_bms_write(&actor, &attempt).unwrap();
            let rows = store.recent_bms_writes(5).unwrap();
            assert_eq!(rows[0].outcome, "started");
            assert_eq!(rows[0].operator, "ana");
            let fields = vec![FieldRecord {
                field: "bms.cell_ov_trigger_mv".into(),
                register: Some("0x24".into()),
                written: Some("3.65 V".into()),
                read_back: Some("3.65 V".into()),
                persisted: Some("3.6 V".into()),
                ok: false,
                reason: Some("not persisted".into()),
            }];
            store
                .finish_bms_write(
                    id,
                    WriteOutcome::Failed,
                    Some("jbd JBD-SIM fw 0x20"),
                    Some("bms.cell_ov_trigger_mv: not persisted"),
                    &fields,
                )
                .unwrap();
            let rows = store.recent_bms_writes(5).unwrap();
            assert_eq!(rows[0].outcome, "failed");
            assert_eq!(rows[0].bms_identity.as_deref(), Some("jbd JBD-SIM fw 0x20"));
            assert!(rows[0].finished_at.is_some());
            assert_eq!(store.bms_write_fields(id).unwrap(), fields);
        });
    }

    #[test]
    fn an_attempt_whose_process_died_is_closed_as_aborted() {
        crate::store::testing::each_backend(|store| {
            let actor = Actor {
                station: "bench-2".into(),
                operator: "ana".into(),
            };
            let attempt = WriteAttempt {
                port: "/dev/ttyUSB0",
                protocol: "jbd",
                profile: "p",
                pack_code: None,
            };
            let id = store.begin_bms_write(&actor, &attempt).unwrap();
            // This process is alive: nothing changes.
            assert!(store
                .abort_orphaned_bms_writes("bench-2", &|_| true)
                .unwrap()
                .is_empty());
            assert!(store
                .abort_orphaned_bms_writes("other", &|_| false)
                .unwrap()
                .is_empty());
            assert_eq!(
                store
                    .abort_orphaned_bms_writes("bench-2", &|_| false)
                    .unwrap(),
                [id]
            );
            let row = &store.recent_bms_writes(1).unwrap()[0];
            assert_eq!(row.outcome, "aborted");
            assert!(row.finished_at.is_some());
            assert!(row.detail.as_deref().unwrap().contains("factory mode"));
        });
    }

    #[test]
    fn a_verified_configuration_marks_only_an_assembled_pack_configured() {
        use crate::domain::PackStatus;
        use crate::store::testing::{actor, assemble};
        crate::store::testing::each_backend_with_pack(|store, pack| {
            assemble(store, pack, "PW1");
            let status = |store: &dyn LineStore| store.get_pack(pack).unwrap().unwrap().status;
            let attempt = WriteAttempt {
                port: "/dev/ttyUSB0",
                protocol: "jbd",
                profile: "p",
                pack_code: Some("PW1"),
            };
            let finish = |store: &mut dyn LineStore, outcome, configures: bool| {
                let id = store.begin_bms_write(&actor(), &attempt).unwrap();
                if configures {
                    store.finish_configuration_write(id, outcome, None, None, &[])
                } else {
                    store
                        .finish_bms_write(id, outcome, None, None, &[])
                        .map(|_| false)
                }
                .unwrap()
            };
            // A failed configuration, or a verified write that is not one, changes nothing.
            assert!(!finish(store, WriteOutcome::Failed, true));
            assert!(!finish(store, WriteOutcome::Verified, false));
            assert_eq!(status(store), PackStatus::Assembled);
            assert!(finish(store, WriteOutcome::Verified, true));
            assert_eq!(status(store), PackStatus::Configured);
            // A pack past its configuration keeps its status.
            store.set_pack_status(pack, PackStatus::Passed).unwrap();
            assert!(!finish(store, WriteOutcome::Verified, true));
            assert_eq!(status(store), PackStatus::Passed);
        });
    }
}
