//! Cell and pack state changes (reject, un-reject, hold, release, scrap, rework, source codes),
//! each one transaction with its row in `state_changes`. Which change is allowed is decided
//! by `services::{cells, packs}`; this module only carries it out atomically.

use super::cells::VISIBLE;
use super::packs::{ProfileRecord, PACK_STATUS_SQL};
use super::{Actor, Result, Store, StoreError};
use crate::domain::CellStatus;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// One recorded change of a cell's or a pack's state, as `trace` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateChange {
    pub at: String,
    pub station: String,
    pub operator: String,
    pub verb: String,
    pub pack_id: Option<i64>,
    pub cell_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// The profile text a pack carries (absent for packs committed before it was kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProfile {
    pub name: String,
    pub record: Option<ProfileRecord>,
}

/// A change to record: what, on which pack and cell, from and to which status, why.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub verb: &'a str,
    pub pack_id: Option<i64>,
    pub cell_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<String>,
}

fn record(tx: &Transaction, actor: &Actor, at: &str, c: &Change) -> Result<i64> {
    tx.execute(
        "INSERT INTO state_changes(at, station, operator, verb, pack_id, cell_id, from_status,
                                   to_status, reason, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            at,
            actor.station,
            actor.operator,
            c.verb,
            c.pack_id,
            c.cell_id,
            c.from,
            c.to,
            c.reason,
            c.detail
        ],
    )?;
    let id = tx.last_insert_rowid();
    super::audit::append(tx, actor, at, &super::audit::state_entry(c))?;
    Ok(id)
}

/// Move a cell's slot row out of `pack_cells` into the history (the slot opens).
fn unlink(tx: &Transaction, cell: &str, at: &str, change: i64) -> Result<()> {
    let n = tx.execute(
        "INSERT INTO pack_cell_history(pack_id, cell_id, series_index, parallel_index, placed_at,
                                       removed_at, change_id)
         SELECT pack_id, cell_id, series_index, parallel_index, placed_at, ?2, ?3
         FROM pack_cells WHERE cell_id = ?1",
        params![cell, at, change],
    )?;
    if n != 1 {
        return Err(StoreError::Conflict(format!("cell '{cell}' is in no pack")));
    }
    tx.execute("DELETE FROM pack_cells WHERE cell_id = ?1", [cell])?;
    Ok(())
}

fn set_cell(
    tx: &Transaction,
    cell: &str,
    status: CellStatus,
    reason: Option<&str>,
    at: &str,
) -> Result<()> {
    let n = tx.execute(
        &format!(
            "UPDATE cells SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1 AND {VISIBLE}"
        ),
        params![cell, status.as_str(), reason, at],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("cell '{cell}'")));
    }
    Ok(())
}

fn cell_status(tx: &Transaction, cell: &str) -> Result<String> {
    tx.query_row(
        &format!("SELECT status FROM cells WHERE id = ?1 AND {VISIBLE}"),
        [cell],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("cell '{cell}'")))
}

fn pack_status(tx: &Transaction, pack: i64) -> Result<String> {
    tx.query_row(
        &format!("SELECT {PACK_STATUS_SQL} FROM packs WHERE id = ?1"),
        [pack],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("pack #{pack}")))
}

fn hold(
    tx: &Transaction,
    actor: &Actor,
    at: &str,
    pack: i64,
    over: &str,
    reason: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE packs SET status_override = ?2, status_reason = ?3, status_at = ?4,
                          status_station = ?5, status_operator = ?6 WHERE id = ?1",
        params![pack, over, reason, at, actor.station, actor.operator],
    )?;
    super::journal::note_status(tx, pack, at)?;
    Ok(())
}

/// What happens to the pack of a cell taken out of stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackEffect {
    /// The cell is in no pack.
    None,
    /// The cell leaves a matched pack's plan; its slot opens.
    LeavePlan(i64),
    /// The pack (built) is put on hold with this reason.
    Hold(i64, String),
}

/// Line state changes with their record: holds, releases, scraps, rework, source codes, the profile kept with each pack.
pub trait StateRecords {
    /// Reject or scrap a cell with its reason, and carry out what that means for its pack.
    fn take_cell_out(
        &mut self,
        actor: &Actor,
        cell: &str,
        status: CellStatus,
        reason: &str,
        effect: &PackEffect,
    ) -> Result<()>;

    /// Return a rejected or scrapped cell to stock (available), out of the scrapped or
    /// released pack it may still be listed in.
    fn return_cell(&mut self, actor: &Actor, cell: &str, verb: &str, reason: &str) -> Result<()>;

    /// Record the source module code of cells already imported.
    fn set_cell_source(&mut self, actor: &Actor, cells: &[String], code: &str) -> Result<()>;

    /// Release a matched pack: every cell back to available, out of the pack.
    fn release_pack(&mut self, actor: &Actor, pack: i64, reason: &str) -> Result<Vec<String>>;

    /// Scrap a pack: cells in `to_stock` back to available (out of the pack), the others
    /// scrapped with the pack's reason (they stay listed in it).
    fn scrap_pack(
        &mut self,
        actor: &Actor,
        pack: i64,
        reason: &str,
        to_stock: &[String],
        scrapped: &[String],
    ) -> Result<()>;

    /// Rework: `out` (if any) leaves its slot (keeping a rejected or scrapped status, else
    /// back to available) and `into` takes the slot `(series, parallel)`. A built pack goes
    /// back to assembled with the new cell placed; a matched pack keeps the new cell reserved
    /// for placement.
    #[allow(clippy::too_many_arguments)]
    fn rework_pack(
        &mut self,
        actor: &Actor,
        pack: i64,
        out: Option<&str>,
        into: &str,
        slot: (usize, usize),
        built: bool,
        reason: &str,
    ) -> Result<()>;

    /// The profile text kept with a pack.
    fn pack_profile(&self, pack: i64) -> Result<StoredProfile>;

    /// Replace the profile text kept with a pack (the operator's explicit choice), logged.
    fn set_pack_profile(
        &mut self,
        actor: &Actor,
        pack: i64,
        new: &ProfileRecord,
        reason: &str,
    ) -> Result<()>;

    /// Every state change of a pack (and of cells while in it), oldest first.
    fn state_changes_for_pack(&self, pack: i64) -> Result<Vec<StateChange>>;

    /// Every state change of a cell, oldest first.
    fn state_changes_for_cell(&self, cell: &str) -> Result<Vec<StateChange>>;
}

impl StateRecords for Store {
    fn take_cell_out(
        &mut self,
        actor: &Actor,
        cell: &str,
        status: CellStatus,
        reason: &str,
        effect: &PackEffect,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let from = cell_status(&tx, cell)?;
        let pack = match effect {
            PackEffect::None => None,
            PackEffect::LeavePlan(p) | PackEffect::Hold(p, _) => Some(*p),
        };
        let change = record(
            &tx,
            actor,
            &at,
            &Change {
                verb: if status == CellStatus::Scrapped {
                    "cell scrap"
                } else {
                    "cell reject"
                },
                pack_id: pack,
                cell_id: Some(cell),
                from: Some(&from),
                to: Some(status.as_str()),
                reason: Some(reason),
                detail: None,
            },
        )?;
        set_cell(&tx, cell, status, Some(reason), &at)?;
        match effect {
            PackEffect::None => {}
            PackEffect::LeavePlan(_) => unlink(&tx, cell, &at, change)?,
            PackEffect::Hold(p, why) => {
                let before = pack_status(&tx, *p)?;
                hold(&tx, actor, &at, *p, "on_hold", why)?;
                record(
                    &tx,
                    actor,
                    &at,
                    &Change {
                        verb: "pack hold",
                        pack_id: Some(*p),
                        cell_id: None,
                        from: Some(&before),
                        to: Some("on_hold"),
                        reason: Some(why),
                        detail: None,
                    },
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn return_cell(&mut self, actor: &Actor, cell: &str, verb: &str, reason: &str) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let from = cell_status(&tx, cell)?;
        let pack: Option<i64> = tx
            .query_row(
                "SELECT pack_id FROM pack_cells WHERE cell_id = ?1",
                [cell],
                |r| r.get(0),
            )
            .optional()?;
        let change = record(
            &tx,
            actor,
            &at,
            &Change {
                verb,
                pack_id: pack,
                cell_id: Some(cell),
                from: Some(&from),
                to: Some("available"),
                reason: Some(reason),
                detail: None,
            },
        )?;
        if pack.is_some() {
            unlink(&tx, cell, &at, change)?;
        }
        set_cell(&tx, cell, CellStatus::Available, None, &at)?;
        tx.commit()?;
        Ok(())
    }

    fn set_cell_source(&mut self, actor: &Actor, cells: &[String], code: &str) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        for cell in cells {
            let before: Option<Option<String>> = tx
                .query_row(
                    &format!("SELECT source_code FROM cells WHERE id = ?1 AND {VISIBLE}"),
                    [cell],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(before) = before else {
                return Err(StoreError::NotFound(format!(
                    "cell '{cell}'; nothing was changed"
                )));
            };
            tx.execute(
                "UPDATE cells SET source_code = ?2, updated_at = ?3 WHERE id = ?1",
                params![cell, code, at],
            )?;
            record(
                &tx,
                actor,
                &at,
                &Change {
                    verb: "cell source",
                    cell_id: Some(cell),
                    detail: Some(format!(
                        "source {} -> {code}",
                        before.as_deref().unwrap_or("(none)")
                    )),
                    ..Default::default()
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn release_pack(&mut self, actor: &Actor, pack: i64, reason: &str) -> Result<Vec<String>> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let before = pack_status(&tx, pack)?;
        let cells: Vec<String> = tx
            .prepare("SELECT cell_id FROM pack_cells WHERE pack_id = ?1 ORDER BY series_index, parallel_index")?
            .query_map([pack], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let change = record(
            &tx,
            actor,
            &at,
            &Change {
                verb: "pack release",
                pack_id: Some(pack),
                from: Some(&before),
                to: Some("released"),
                reason: Some(reason),
                detail: Some(format!("{} cells back to available", cells.len())),
                ..Default::default()
            },
        )?;
        for cell in &cells {
            unlink(&tx, cell, &at, change)?;
            set_cell(&tx, cell, CellStatus::Available, None, &at)?;
        }
        hold(&tx, actor, &at, pack, "released", reason)?;
        tx.commit()?;
        Ok(cells)
    }

    fn scrap_pack(
        &mut self,
        actor: &Actor,
        pack: i64,
        reason: &str,
        to_stock: &[String],
        scrapped: &[String],
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let before = pack_status(&tx, pack)?;
        let change = record(
            &tx,
            actor,
            &at,
            &Change {
                verb: "pack scrap",
                pack_id: Some(pack),
                from: Some(&before),
                to: Some("scrapped"),
                reason: Some(reason),
                detail: Some(format!(
                    "{} cells back to stock, {} scrapped",
                    to_stock.len(),
                    scrapped.len()
                )),
                ..Default::default()
            },
        )?;
        for cell in to_stock {
            let from = cell_status(&tx, cell)?;
            unlink(&tx, cell, &at, change)?;
            set_cell(&tx, cell, CellStatus::Available, None, &at)?;
            record(
                &tx,
                actor,
                &at,
                &Change {
                    verb: "cell to stock",
                    pack_id: Some(pack),
                    cell_id: Some(cell),
                    from: Some(&from),
                    to: Some("available"),
                    reason: Some(reason),
                    detail: None,
                },
            )?;
        }
        for cell in scrapped {
            let from = cell_status(&tx, cell)?;
            if from != "scrapped" {
                let why = format!("pack scrapped: {reason}");
                set_cell(&tx, cell, CellStatus::Scrapped, Some(&why), &at)?;
                record(
                    &tx,
                    actor,
                    &at,
                    &Change {
                        verb: "cell scrap",
                        pack_id: Some(pack),
                        cell_id: Some(cell),
                        from: Some(&from),
                        to: Some("scrapped"),
                        reason: Some(&why),
                        detail: None,
                    },
                )?;
            }
        }
        tx.execute(
            "UPDATE packs SET status = 'scrapped', status_override = NULL, status_reason = ?2,
                              status_at = ?3, status_station = ?4, status_operator = ?5
             WHERE id = ?1",
            params![pack, reason, at, actor.station, actor.operator],
        )?;
        super::journal::note_status(&tx, pack, &at)?;
        tx.commit()?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn rework_pack(
        &mut self,
        actor: &Actor,
        pack: i64,
        out: Option<&str>,
        into: &str,
        slot: (usize, usize),
        built: bool,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let before = pack_status(&tx, pack)?;
        let in_from = cell_status(&tx, into)?;
        if in_from != "available" {
            return Err(StoreError::Conflict(format!(
                "cell '{into}' is {in_from}, not available"
            )));
        }
        let change = record(
            &tx,
            actor,
            &at,
            &Change {
                verb: "pack rework",
                pack_id: Some(pack),
                cell_id: Some(into),
                from: Some(&before),
                to: Some(if built { "assembled" } else { "matched" }),
                reason: Some(reason),
                detail: Some(format!(
                    "S{}P{}: {} out, {into} in",
                    slot.0 + 1,
                    slot.1 + 1,
                    out.unwrap_or("(open slot)")
                )),
            },
        )?;
        if let Some(out) = out {
            let from = cell_status(&tx, out)?;
            unlink(&tx, out, &at, change)?;
            if !matches!(from.as_str(), "rejected" | "scrapped") {
                set_cell(&tx, out, CellStatus::Available, None, &at)?;
            }
        }
        let (status, placed) = if built {
            (CellStatus::Assembled, Some(at.clone()))
        } else {
            (CellStatus::Reserved, None)
        };
        set_cell(&tx, into, status, None, &at)?;
        tx.execute(
            "INSERT INTO pack_cells(pack_id, cell_id, series_index, parallel_index, placed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![pack, into, slot.0 as i64, slot.1 as i64, placed],
        )?;
        if built {
            tx.execute(
                "UPDATE packs SET status = 'assembled', status_override = NULL,
                        status_reason = NULL, status_at = NULL, status_station = NULL,
                        status_operator = NULL
                 WHERE id = ?1",
                [pack],
            )?;
        }
        super::journal::note_status(&tx, pack, &at)?;
        tx.commit()?;
        Ok(())
    }

    fn pack_profile(&self, pack: i64) -> Result<StoredProfile> {
        let (name, toml, sha256, origin): (String, Option<String>, Option<String>, Option<String>) =
            self.conn()
                .query_row(
                    "SELECT profile,
                            COALESCE(profile_toml,
                                     (SELECT toml FROM profile_texts t WHERE t.sha256 = packs.profile_sha256)),
                            profile_sha256, profile_origin
                     FROM packs WHERE id = ?1",
                    [pack],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("pack #{pack}")))?;
        let record = match (toml, sha256) {
            (Some(toml), Some(sha256)) => Some(ProfileRecord {
                toml,
                sha256,
                origin: origin.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(StoredProfile { name, record })
    }

    fn set_pack_profile(
        &mut self,
        actor: &Actor,
        pack: i64,
        new: &ProfileRecord,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let old: Option<String> = tx
            .query_row(
                "SELECT profile_sha256 FROM packs WHERE id = ?1",
                [pack],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("pack #{pack}")))?;
        tx.execute(
            "UPDATE packs SET profile_toml = ?2, profile_sha256 = ?3, profile_origin = ?4 WHERE id = ?1",
            params![pack, new.toml, new.sha256, new.origin],
        )?;
        record(
            &tx,
            actor,
            &at,
            &Change {
                verb: "pack profile",
                pack_id: Some(pack),
                reason: Some(reason),
                detail: Some(format!(
                    "profile sha256 {} -> {} ({})",
                    old.as_deref().unwrap_or("(none kept)"),
                    new.sha256,
                    new.origin
                )),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn state_changes_for_pack(&self, pack: i64) -> Result<Vec<StateChange>> {
        self.state_changes("pack_id = ?1", rusqlite::types::Value::Integer(pack))
    }

    fn state_changes_for_cell(&self, cell: &str) -> Result<Vec<StateChange>> {
        self.state_changes(
            "cell_id = ?1",
            rusqlite::types::Value::Text(cell.to_string()),
        )
    }
}

impl Store {
    fn state_changes(&self, filter: &str, key: rusqlite::types::Value) -> Result<Vec<StateChange>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT at, station, operator, verb, pack_id, cell_id, from_status, to_status,
                        reason, detail FROM state_changes WHERE {filter} ORDER BY id"
            ))?
            .query_map([key], |r| {
                Ok(StateChange {
                    at: r.get(0)?,
                    station: r.get(1)?,
                    operator: r.get(2)?,
                    verb: r.get(3)?,
                    pack_id: r.get(4)?,
                    cell_id: r.get(5)?,
                    from_status: r.get(6)?,
                    to_status: r.get(7)?,
                    reason: r.get(8)?,
                    detail: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::migrations::MIGRATIONS;
    use super::*;
    use crate::domain::PackStatus;
    use crate::store::prelude::*;

    #[test]
    fn a_file_of_schema_1_migrates_with_its_packs_unchanged_and_no_profile_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO cells(id, chemistry, status, updated_at) VALUES ('a', 'LFP', 'reserved', 't');
                 INSERT INTO packs(profile, status, created_at, station, operator)
                     VALUES ('lfp-15s1p-100ah', 'matched', 't', 's', 'o');
                 INSERT INTO pack_cells VALUES (1, 'a', 0, 0, NULL);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let pack = store.get_pack(1).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::Matched);
        assert_eq!(pack.groups, vec![vec!["a".to_string()]]);
        assert!(pack.status_note.is_none());
        let kept = store.pack_profile(1).unwrap();
        assert_eq!(kept.name, "lfp-15s1p-100ah");
        assert!(kept.record.is_none());
        assert!(store.state_changes_for_pack(1).unwrap().is_empty());
    }
}
