//! Packs and their cells in the store.

use super::cells::VISIBLE;
use super::{Actor, Result, Store, StoreError};
use crate::domain::{Pack, PackStatus};
use rusqlite::{params, OptionalExtension};

/// The profile a pack is committed with, as it was read: its text travels with the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    pub toml: String,
    pub sha256: String,
    /// Where it was read from: a path, or `built-in 'name'`, or a profile directory's file.
    pub origin: String,
}

/// How the store shows a pack's status: a hold or a release over its line status.
pub(crate) const PACK_STATUS_SQL: &str = "COALESCE(status_override, status)";

/// A pack the matcher proposed, to be committed.
#[derive(Debug, Clone)]
pub struct NewPack {
    /// `groups[s][p]`: cell ids in series order.
    pub groups: Vec<Vec<String>>,
    /// The matcher's metrics for this pack, kept for the record.
    pub metrics_json: String,
}

/// Packs: commit (reserve), look-ups, placement, assembly and status.
pub trait PackRecords {
    /// Create packs and reserve their cells, all or nothing. A cell that is no longer
    /// available (reserved by another station in the meantime, say) aborts the whole commit.
    ///
    /// Large commits go in chunks of whole packs, each its own short write transaction, so
    /// other writers are not kept waiting for the whole commit. Each pack is atomic. If a later
    /// chunk fails, the packs of the earlier chunks are removed again and their cells made
    /// available (a compensating rollback) before the error is returned. Between chunks other
    /// connections can see the packs committed so far; a process killed mid-commit leaves
    /// those packs, each complete and valid, as if fewer had been committed.
    fn commit_packs(&mut self, actor: &Actor, profile: &str, packs: &[NewPack])
        -> Result<Vec<i64>>;

    /// [`PackRecords::commit_packs`], keeping the profile's text and hash with each pack.
    fn commit_packs_with_profile(
        &mut self,
        actor: &Actor,
        profile: &str,
        record: Option<&ProfileRecord>,
        packs: &[NewPack],
    ) -> Result<Vec<i64>>;

    /// [`PackRecords::commit_packs_with_profile`], calling `progress` with the number of packs
    /// committed so far after each chunk.
    fn commit_packs_with_progress(
        &mut self,
        actor: &Actor,
        profile: &str,
        record: Option<&ProfileRecord>,
        packs: &[NewPack],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<i64>>;

    fn get_pack(&self, id: i64) -> Result<Option<Pack>>;

    /// A pack by its code, or by its number written `123` or `#123`.
    fn find_pack(&self, key: &str) -> Result<Option<Pack>>;

    fn list_packs(&self, status: Option<PackStatus>) -> Result<Vec<Pack>>;

    fn set_pack_status(&self, id: i64, status: PackStatus) -> Result<()>;

    /// The pack that holds a cell, if any.
    fn pack_of_cell(&self, cell_id: &str) -> Result<Option<i64>>;

    /// Record that the operator placed a cell (scanned and put in its slot).
    fn mark_cell_placed(&self, pack_id: i64, cell_id: &str) -> Result<()>;

    /// Cell ids of a pack already placed, in placement order.
    fn placed_cells(&self, pack_id: i64) -> Result<Vec<String>>;

    /// Finish assembly: give the pack its code and mark it and its cells assembled, atomically,
    /// with its audit entry by `actor`.
    fn complete_assembly(&mut self, actor: &Actor, pack_id: i64, code: &str) -> Result<()>;

    /// How many pack codes of this prefix exist already (for the next serial number).
    fn count_codes_with_prefix(&self, prefix: &str) -> Result<i64>;
}

/// How many cell reservations one write transaction of a pack commit makes at most (a pack is
/// never split): small enough that the write lock is held for well under a second, so other
/// writers are let through between chunks. The cells of a large match come from all over the
/// table and share no pages, so smaller chunks cost little more in all: at 62,500 packs on a
/// loaded 2-core machine, 2,000 let another writer wait up to 533 ms, 512 up to 240 ms (102 ms
/// when the machine was quieter; `packwright bench scale`).
const COMMIT_CHUNK_CELLS: usize = 512;

impl PackRecords for Store {
    fn commit_packs(
        &mut self,
        actor: &Actor,
        profile: &str,
        packs: &[NewPack],
    ) -> Result<Vec<i64>> {
        self.commit_packs_with_profile(actor, profile, None, packs)
    }

    fn commit_packs_with_profile(
        &mut self,
        actor: &Actor,
        profile: &str,
        record: Option<&ProfileRecord>,
        packs: &[NewPack],
    ) -> Result<Vec<i64>> {
        self.commit_packs_with_progress(actor, profile, record, packs, &mut |_| {})
    }

    fn commit_packs_with_progress(
        &mut self,
        actor: &Actor,
        profile: &str,
        record: Option<&ProfileRecord>,
        packs: &[NewPack],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<i64>> {
        let at = self.now();
        let mut ids = Vec::with_capacity(packs.len());
        let mut start = 0;
        while start < packs.len() {
            let mut end = start;
            let mut cells = 0;
            while end < packs.len() && (end == start || cells < COMMIT_CHUNK_CELLS) {
                cells += packs[end].groups.iter().map(Vec::len).sum::<usize>();
                end += 1;
            }
            match self.commit_pack_chunk(actor, profile, record, &packs[start..end], &at) {
                Ok(chunk) => {
                    ids.extend(chunk);
                    progress(ids.len());
                    if end < packs.len() {
                        super::let_others_in();
                    }
                }
                Err(e) => {
                    if let Err(undo) = self.uncommit_packs(&ids) {
                        return Err(StoreError::Conflict(format!(
                            "{e}; and removing the {} packs committed before it failed too: {undo}",
                            ids.len()
                        )));
                    }
                    return Err(e);
                }
            }
            start = end;
        }
        Ok(ids)
    }

    fn get_pack(&self, id: i64) -> Result<Option<Pack>> {
        let row = self
            .conn()
            .query_row(
                &format!(
                    "SELECT id, code, profile, {PACK_STATUS_SQL}, created_at,
                            CASE WHEN status_override IS NULL THEN NULL
                                 ELSE status_reason || ' (' || status_operator || ' at '
                                      || status_station || ', ' || status_at || ')' END
                     FROM packs WHERE id = ?1"
                ),
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(id, code, profile, status, created, note)| {
            self.pack_from_row(id, code, profile, status, created, note)
        })
        .transpose()
    }

    fn find_pack(&self, key: &str) -> Result<Option<Pack>> {
        let key = key.trim();
        let by_code: Option<i64> = self
            .conn()
            .query_row("SELECT id FROM packs WHERE code = ?1", [key], |r| r.get(0))
            .optional()?;
        if let Some(id) = by_code {
            return self.get_pack(id);
        }
        match key.trim_start_matches('#').parse::<i64>() {
            Ok(id) => self.get_pack(id),
            Err(_) => Ok(None),
        }
    }

    fn list_packs(&self, status: Option<PackStatus>) -> Result<Vec<Pack>> {
        let ids: Vec<i64> = self
            .conn()
            .prepare(&format!(
                "SELECT id FROM packs WHERE (?1 IS NULL OR {PACK_STATUS_SQL} = ?1) ORDER BY id"
            ))?
            .query_map([status.map(|s| s.as_str())], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .filter_map(|id| self.get_pack(id).transpose())
            .collect()
    }

    fn set_pack_status(&self, id: i64, status: PackStatus) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE packs SET status = ?2, status_override = NULL, status_reason = NULL,
                    status_at = NULL, status_station = NULL, status_operator = NULL
             WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("pack #{id}")));
        }
        super::journal::note_status(self.conn(), id, &self.now())?;
        Ok(())
    }

    fn pack_of_cell(&self, cell_id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT pack_id FROM pack_cells WHERE cell_id = ?1",
                [cell_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn mark_cell_placed(&self, pack_id: i64, cell_id: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE pack_cells SET placed_at = ?3 WHERE pack_id = ?1 AND cell_id = ?2 AND placed_at IS NULL",
            params![pack_id, cell_id, self.now()],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "cell '{cell_id}' is not waiting to be placed in pack #{pack_id}"
            )));
        }
        Ok(())
    }

    fn placed_cells(&self, pack_id: i64) -> Result<Vec<String>> {
        Ok(self
            .conn()
            .prepare("SELECT cell_id FROM pack_cells WHERE pack_id = ?1 AND placed_at IS NOT NULL ORDER BY placed_at, series_index, parallel_index")?
            .query_map([pack_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn complete_assembly(&mut self, actor: &Actor, pack_id: i64, code: &str) -> Result<()> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let unplaced: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pack_cells WHERE pack_id = ?1 AND placed_at IS NULL",
            [pack_id],
            |r| r.get(0),
        )?;
        if unplaced > 0 {
            return Err(StoreError::Conflict(format!(
                "pack #{pack_id} still has {unplaced} cells to place"
            )));
        }
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM packs WHERE code = ?1", [code], |r| r.get(0))
            .optional()?;
        if let Some(other) = taken.filter(|o| *o != pack_id) {
            return Err(StoreError::Conflict(format!(
                "code {code} is already on pack #{other}"
            )));
        }
        let at = stamp;
        tx.execute(
            "UPDATE packs SET code = ?2, status = 'assembled', assembled_at = ?3 WHERE id = ?1",
            params![pack_id, code, at],
        )?;
        super::journal::note_status(&tx, pack_id, &at)?;
        tx.execute(
            "UPDATE cells SET status = 'assembled', updated_at = ?2
             WHERE id IN (SELECT cell_id FROM pack_cells WHERE pack_id = ?1)",
            params![pack_id, at],
        )?;
        super::audit::append(
            &tx,
            actor,
            &at,
            &super::audit::assembled_entry(pack_id, code),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn count_codes_with_prefix(&self, prefix: &str) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM packs WHERE substr(code, 1, length(?1)) = ?1",
            [prefix],
            |r| r.get(0),
        )?)
    }
}

impl Store {
    /// One chunk of [`PackRecords::commit_packs_with_profile`], in one write transaction.
    fn commit_pack_chunk(
        &mut self,
        actor: &Actor,
        profile: &str,
        record: Option<&ProfileRecord>,
        packs: &[NewPack],
        at: &str,
    ) -> Result<Vec<i64>> {
        let tx = super::write_tx(self.conn_mut())?;
        let mut ids = Vec::with_capacity(packs.len());
        if let Some(r) = record {
            // The text once, under its hash; each pack names the hash (see `pack_profile`).
            tx.execute(
                "INSERT OR IGNORE INTO profile_texts(sha256, toml) VALUES (?1, ?2)",
                params![r.sha256, r.toml],
            )?;
        }
        {
            let mut insert_pack = tx.prepare(
                "INSERT INTO packs(profile, status, created_at, station, operator, metrics_json,
                                   profile_toml, profile_sha256, profile_origin)
                 VALUES (?1, 'matched', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut reserve = tx.prepare(&format!(
                "UPDATE cells SET status = 'reserved', updated_at = ?2
                 WHERE id = ?1 AND status = 'available' AND {VISIBLE}"
            ))?;
            let mut link = tx.prepare(
                "INSERT INTO pack_cells(pack_id, cell_id, series_index, parallel_index) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for pack in packs {
                insert_pack.execute(params![
                    profile,
                    at,
                    actor.station,
                    actor.operator,
                    pack.metrics_json,
                    None::<String>,
                    record.map(|r| &r.sha256),
                    record.map(|r| &r.origin),
                ])?;
                let pack_id = tx.last_insert_rowid();
                for (s, group) in pack.groups.iter().enumerate() {
                    for (p, cell) in group.iter().enumerate() {
                        if reserve.execute(params![cell, at])? != 1 {
                            return Err(StoreError::Conflict(format!(
                                "cell '{cell}' is not available any more (reserved, assembled or removed since the match); run the match again"
                            )));
                        }
                        link.execute(params![pack_id, cell, s as i64, p as i64])?;
                    }
                }
                super::audit::append(
                    &tx,
                    actor,
                    at,
                    &super::audit::match_entry(pack_id, profile, record.map(|r| r.sha256.as_str())),
                )?;
                ids.push(pack_id);
            }
        }
        for id in &ids {
            super::journal::note_status(&tx, *id, at)?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Undo packs just committed by [`PackRecords::commit_packs_with_profile`]: their cells available again, the
    /// packs gone. In chunks, like the commit. A pack someone already started assembling
    /// (a cell placed) or moved on is left alone and named in the error.
    fn uncommit_packs(&mut self, ids: &[i64]) -> Result<()> {
        let at = self.now();
        let mut kept = Vec::new();
        for chunk in ids.chunks(200) {
            let tx = super::write_tx(self.conn_mut())?;
            for id in chunk {
                let untouched: bool = tx.query_row(
                    "SELECT status = 'matched' AND NOT EXISTS
                         (SELECT 1 FROM pack_cells WHERE pack_id = ?1 AND placed_at IS NOT NULL)
                     FROM packs WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                if !untouched {
                    kept.push(*id);
                    continue;
                }
                tx.execute(
                    "UPDATE cells SET status = 'available', updated_at = ?2
                     WHERE status = 'reserved' AND id IN (SELECT cell_id FROM pack_cells WHERE pack_id = ?1)",
                    params![id, at],
                )?;
                tx.execute("DELETE FROM pack_cells WHERE pack_id = ?1", [id])?;
                tx.execute("DELETE FROM pack_status_history WHERE pack_id = ?1", [id])?;
                tx.execute("DELETE FROM packs WHERE id = ?1", [id])?;
            }
            tx.commit()?;
            super::let_others_in();
        }
        if kept.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "packs {kept:?} were already being assembled and are kept"
            )))
        }
    }

    fn pack_from_row(
        &self,
        id: i64,
        code: Option<String>,
        profile: String,
        status: String,
        created_at: String,
        status_note: Option<String>,
    ) -> Result<Pack> {
        let mut stmt = self.conn().prepare(
            "SELECT series_index, parallel_index, cell_id FROM pack_cells WHERE pack_id = ?1
             ORDER BY series_index, parallel_index",
        )?;
        let mut groups: Vec<Vec<String>> = Vec::new();
        // Current cells, then the slots whose cell left and was not replaced (open slots).
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut slots: Vec<(usize, usize, String)> = Vec::new();
        for row in rows {
            let (s, p, cell) = row?;
            slots.push((s as usize, p as usize, cell));
        }
        let open: Vec<(i64, i64)> = self
            .conn()
            .prepare(
                "SELECT DISTINCT h.series_index, h.parallel_index FROM pack_cell_history h
                 JOIN packs k ON k.id = h.pack_id
                 WHERE h.pack_id = ?1 AND k.status = 'matched' AND k.status_override IS NULL
                   AND NOT EXISTS (SELECT 1 FROM pack_cells c WHERE c.pack_id = h.pack_id
                        AND c.series_index = h.series_index AND c.parallel_index = h.parallel_index)",
            )?
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        slots.extend(
            open.into_iter()
                .map(|(s, p)| (s as usize, p as usize, String::new())),
        );
        slots.sort();
        for (s, p, cell) in slots {
            if groups.len() <= s {
                groups.resize(s + 1, Vec::new());
            }
            if groups[s].len() <= p {
                groups[s].resize(p + 1, String::new());
            }
            groups[s][p] = cell;
        }
        Ok(Pack {
            id,
            code,
            profile,
            status: status.parse().map_err(StoreError::Conflict)?,
            groups,
            created_at,
            status_note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Actor;
    use super::*;
    use crate::chemistry::Chemistry;
    use crate::intake::{parse_csv, IntakeDefaults};

    #[test]
    fn reserved_cells_cannot_be_committed_twice() {
        let actor = Actor {
            station: "s".into(),
            operator: "o".into(),
        };
        crate::store::testing::each_backend(|store| {
            let d = IntakeDefaults {
                chemistry: Some(Chemistry::Lfp),
                ..Default::default()
            };
            let cells =
                parse_csv("a.csv", "id,capacity_mah\na,1000\nb,1000\nc,1000\n", &d).unwrap();
            store.import_cells(&actor, "a.csv", &cells).unwrap();
            let pack = NewPack {
                groups: vec![vec!["a".into()], vec!["b".into()]],
                metrics_json: "{}".into(),
            };
            let ids = store
                .commit_packs(&actor, "p", std::slice::from_ref(&pack))
                .unwrap();
            let got = store.get_pack(ids[0]).unwrap().unwrap();
            assert_eq!(got.groups, pack.groups);
            let again = NewPack {
                groups: vec![vec!["c".into()], vec!["a".into()]],
                metrics_json: "{}".into(),
            };
            assert!(store.commit_packs(&actor, "p", &[again]).is_err());
            // The failed commit left c available.
            assert_eq!(
                store.get_cell("c").unwrap().unwrap().status,
                crate::domain::CellStatus::Available
            );
        });
    }
}
