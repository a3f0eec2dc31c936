//! The board journal: every temporary setting a test writes to a board (the end-of-line
//! balancing and over-voltage checks), recorded and committed *before* it is sent, with the
//! board, the port, the register, the value to put back and the pack. An entry stays open until
//! the value is proved back by read-back; whatever opens that board next restores open entries
//! first. While a pack has an open entry it never reads as passed.
//!
//! Also each pack's status history, kept by triggers on `packs.status` (migration 2).

use super::{Actor, Result, Store};
use rusqlite::params;
use serde::Serialize;

/// A temporary change about to be sent.
#[derive(Debug, Clone)]
pub struct JournalChange<'a> {
    pub pack_id: Option<i64>,
    pub port: &'a str,
    /// The board's identity as known (barcode, model), if any.
    pub board: Option<&'a str>,
    pub profile: &'a str,
    pub register: u8,
    /// The raw value to put back (the profile's).
    pub original_raw: u16,
    /// The raw test value.
    pub test_raw: u16,
    pub purpose: &'a str,
}

/// An open (or closed) journal entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub pack_id: Option<i64>,
    pub port: String,
    pub board: Option<String>,
    pub profile: String,
    pub register: u8,
    pub original_raw: u16,
    pub test_raw: u16,
    pub purpose: String,
    pub opened_at: String,
}

/// One status a pack held, from when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    pub status: String,
    pub at: String,
}

/// The board journal (temporary test settings, open until the profile's value is proved back) and each pack's status history.
pub trait JournalRecords {
    /// Journal `changes` (one transaction, committed on return) before they are sent; a pack
    /// that had passed no longer reads as passed while its board may hold test settings.
    fn journal_board_changes(
        &mut self,
        actor: &Actor,
        changes: &[JournalChange],
    ) -> Result<Vec<i64>>;

    /// Close entries whose original value was proved back on the board; `how` says by what.
    fn close_board_journal(&mut self, ids: &[i64], how: &str) -> Result<()>;

    /// Open entries, oldest first; on one port, or everywhere.
    fn open_board_journal(&self, port: Option<&str>) -> Result<Vec<JournalEntry>>;

    /// Whether `pack`'s board may still hold test settings.
    fn pack_has_open_journal(&self, pack: i64) -> Result<bool>;

    /// Every status `pack` has held, oldest first.
    fn pack_status_history(&self, pack: i64) -> Result<Vec<StatusChange>>;
}

impl JournalRecords for Store {
    fn journal_board_changes(
        &mut self,
        actor: &Actor,
        changes: &[JournalChange],
    ) -> Result<Vec<i64>> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let mut ids = Vec::new();
        for c in changes {
            tx.execute(
                "INSERT INTO board_journal(pack_id, port, board, profile, register, original_raw,
                     test_raw, purpose, station, operator, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c.pack_id,
                    c.port,
                    c.board,
                    c.profile,
                    c.register,
                    c.original_raw,
                    c.test_raw,
                    c.purpose,
                    actor.station,
                    actor.operator,
                    stamp
                ],
            )?;
            ids.push(tx.last_insert_rowid());
            if let Some(pack) = c.pack_id {
                tx.execute(
                    "UPDATE packs SET status = 'configured' WHERE id = ?1 AND status = 'passed'",
                    [pack],
                )?;
                note_status(&tx, pack, &stamp)?;
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn close_board_journal(&mut self, ids: &[i64], how: &str) -> Result<()> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        for id in ids {
            tx.execute(
                "UPDATE board_journal SET closed_at = ?2, closed_how = ?3
                 WHERE id = ?1 AND closed_at IS NULL",
                params![id, stamp, how],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn open_board_journal(&self, port: Option<&str>) -> Result<Vec<JournalEntry>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT id, pack_id, port, board, profile, register, original_raw, test_raw,
                        purpose, opened_at
                 FROM board_journal WHERE closed_at IS NULL AND (?1 IS NULL OR port = ?1)
                 ORDER BY id",
            )?
            .query_map([port], |r| {
                Ok(JournalEntry {
                    id: r.get(0)?,
                    pack_id: r.get(1)?,
                    port: r.get(2)?,
                    board: r.get(3)?,
                    profile: r.get(4)?,
                    register: r.get(5)?,
                    original_raw: r.get(6)?,
                    test_raw: r.get(7)?,
                    purpose: r.get(8)?,
                    opened_at: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn pack_has_open_journal(&self, pack: i64) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM board_journal WHERE pack_id = ?1 AND closed_at IS NULL)",
            [pack],
            |r| r.get(0),
        )?)
    }

    fn pack_status_history(&self, pack: i64) -> Result<Vec<StatusChange>> {
        Ok(self
            .conn()
            .prepare("SELECT status, at FROM pack_status_history WHERE pack_id = ?1 ORDER BY id")?
            .query_map([pack], |r| {
                Ok(StatusChange {
                    status: r.get(0)?,
                    at: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }
}

/// Keep `pack`'s status in its history when it differs from the last one kept: the status as
/// the faces read it (a hold, release or scrap included), stamped `at` from the store's clock.
/// Called in the transaction of every statement that changes a pack's status (the history was
/// a trigger stamping SQLite's own time until schema 5).
pub(super) fn note_status(conn: &rusqlite::Connection, pack: i64, at: &str) -> Result<()> {
    let status = super::packs::PACK_STATUS_SQL;
    conn.execute(
        &format!(
            "INSERT INTO pack_status_history(pack_id, status, at)
             SELECT p.id, {status}, ?2 FROM packs p
             WHERE p.id = ?1 AND {status} IS NOT (SELECT h.status FROM pack_status_history h
                                                   WHERE h.pack_id = p.id
                                                   ORDER BY h.id DESC LIMIT 1)"
        ),
        params![pack, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PackStatus;
    use crate::store::testing::{actor, assemble};
    use crate::store::LineStore;

    #[test]
    fn an_open_entry_unpasses_its_pack_until_closed_and_history_keeps_every_status() {
        crate::store::testing::each_backend_with_pack(|store, pack| {
            assemble(store, pack, "PW1");
            store.set_pack_status(pack, PackStatus::Passed).unwrap();
            let change = JournalChange {
                pack_id: Some(pack),
                port: "/dev/ttyUSB0",
                board: Some("PW1"),
                profile: "p",
                register: 0x24,
                original_raw: 3650,
                test_raw: 3300,
                purpose: "EOL over-voltage test",
            };
            let ids = store.journal_board_changes(&actor(), &[change]).unwrap();
            assert!(store.pack_has_open_journal(pack).unwrap());
            let status = store.get_pack(pack).unwrap().unwrap().status;
            assert_eq!(status, PackStatus::Configured);
            let open = store.open_board_journal(Some("/dev/ttyUSB0")).unwrap();
            assert_eq!(open.len(), 1);
            assert_eq!((open[0].register, open[0].original_raw), (0x24, 3650));
            assert!(store
                .open_board_journal(Some("/dev/other"))
                .unwrap()
                .is_empty());
            store.close_board_journal(&ids, "restored").unwrap();
            assert!(store.open_board_journal(None).unwrap().is_empty());
            assert!(!store.pack_has_open_journal(pack).unwrap());
            let history: Vec<String> = store
                .pack_status_history(pack)
                .unwrap()
                .into_iter()
                .map(|c| c.status)
                .collect();
            assert_eq!(history, ["matched", "assembled", "passed", "configured"]);
        });
    }

    #[test]
    fn the_status_history_is_stamped_from_the_stores_clock_and_sees_holds() {
        use crate::clock::Clock;
        let at = chrono::DateTime::parse_from_rfc3339("2031-12-31T23:59:58Z").unwrap();
        let at = at.with_timezone(&chrono::Utc);
        let stores: Vec<crate::store::DynStore> = vec![
            Box::new(
                crate::store::Store::in_memory()
                    .unwrap()
                    .with_clock(Clock::fixed(at)),
            ),
            Box::new(
                crate::store::PgStore::connect(&crate::store::testing::pg_cluster::fresh_db())
                    .unwrap()
                    .with_clock(Clock::fixed(at)),
            ),
        ];
        for mut store in stores {
            status_history_from_the_clock(&mut *store);
        }
    }

    fn status_history_from_the_clock(store: &mut dyn LineStore) {
        let pack = crate::store::testing::add_pack(store);
        assemble(store, pack, "PW1");
        crate::services::cells::reject(store, &actor(), "a", false, "swollen").unwrap();
        let history = store.pack_status_history(pack).unwrap();
        let statuses: Vec<&str> = history.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(statuses, ["matched", "assembled", "on_hold"]);
        // Every change after the commit carries the injected time (a fixed clock steps a
        // millisecond per stamp), not the database's.
        for change in &history[1..] {
            assert!(change.at.starts_with("2031-12-31T23:59:5"), "{history:?}");
        }
        // Nothing is kept twice: a status set to what it is adds no row.
        store.set_pack_status(pack, PackStatus::Assembled).unwrap();
        store.set_pack_status(pack, PackStatus::Assembled).unwrap();
        assert_eq!(store.pack_status_history(pack).unwrap().len(), 4);
    }
}
