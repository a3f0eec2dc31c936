//! Cells in the store.

use super::{Actor, Result, Store, StoreError};
use crate::chemistry::Chemistry;
use crate::domain::{Cell, CellStatus};
use crate::intake::ParsedCells;
use crate::text::printable;
use rusqlite::{params, OptionalExtension, Row};

#[derive(Debug, Clone, Default)]
pub struct CellFilter {
    pub status: Option<CellStatus>,
    pub chemistry: Option<Chemistry>,
    pub source_code: Option<String>,
}

/// The condition a row of `cells` must meet to exist for every query: not part of an import
/// still being staged (see [`CellRecords::begin_import`]). Alias-free; [`VISIBLE_C`] is the
/// same for a query that names the table `c`.
pub(crate) const VISIBLE: &str =
    "IFNULL(batch_id, 0) NOT IN (SELECT id FROM import_batches WHERE staged_pid IS NOT NULL)";
/// [`VISIBLE`] for `cells c`.
pub(crate) const VISIBLE_C: &str =
    "IFNULL(c.batch_id, 0) NOT IN (SELECT id FROM import_batches WHERE staged_pid IS NOT NULL)";

/// How many rows one write transaction of a staged import inserts or removes at most: the
/// write lock is held for milliseconds, and other writers get it between chunks.
pub const IMPORT_CHUNK_ROWS: usize = 4_000;

const CELL_COLUMNS: &str = "id, chemistry, model, capacity_mah, ir_mohm, ocv_mv, \
     self_discharge_mv_per_day, grade, source_code, status, status_reason";

const INSERT_CELL: &str = "INSERT INTO cells(id, chemistry, model, capacity_mah, ir_mohm, ocv_mv,
        self_discharge_mv_per_day, grade, source_code, status, status_reason, batch_id, updated_at,
        import_line)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// Rows per `INSERT` statement when staging (14 parameters each): one statement per row
/// costs more in SQLite's per-statement work than the insert itself.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO cells … VALUES (…), (…)` for `rows` rows.
fn insert_rows_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; 14].join(","));
    format!(
        "INSERT INTO cells(id, chemistry, model, capacity_mah, ir_mohm, ocv_mv,
            self_discharge_mv_per_day, grade, source_code, status, status_reason, batch_id,
            updated_at, import_line) VALUES {}",
        vec![one; rows].join(",")
    )
}

/// One chunk of a staged import in one write transaction, many rows per statement.
fn stage_rows(
    conn: &mut rusqlite::Connection,
    batch: i64,
    cells: &[(usize, Cell)],
    at: &str,
) -> Result<()> {
    use rusqlite::types::ToSql;
    let tx = super::write_tx(conn)?;
    for group in cells.chunks(ROWS_PER_INSERT) {
        let mut stmt = tx.prepare_cached(&insert_rows_sql(group.len()))?;
        let lines: Vec<i64> = group.iter().map(|(l, _)| *l as i64).collect();
        let names: Vec<(&str, &str)> = group
            .iter()
            .map(|(_, c)| (c.chemistry.name(), c.status.as_str()))
            .collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(group.len() * 14);
        for (((_, c), line), (chemistry, status)) in group.iter().zip(&lines).zip(&names) {
            values.extend_from_slice(&[
                &c.id as &dyn ToSql,
                chemistry,
                &c.model,
                &c.capacity_mah,
                &c.ir_mohm,
                &c.ocv_mv,
                &c.self_discharge_mv_per_day,
                &c.grade,
                &c.source_code,
                status,
                &c.status_reason,
                &batch,
                &at,
                line,
            ]);
        }
        stmt.execute(values.as_slice())?;
    }
    tx.commit()?;
    Ok(())
}

/// [`stage_rows`] one row at a time, to name the row a constraint refuses.
fn stage_one_by_one(
    conn: &mut rusqlite::Connection,
    batch: i64,
    file: &str,
    cells: &[(usize, Cell)],
    at: &str,
) -> Result<()> {
    let tx = super::write_tx(conn)?;
    {
        let mut insert = tx.prepare_cached(INSERT_CELL)?;
        for (line, c) in cells {
            let inserted = insert.execute(params![
                c.id,
                c.chemistry.name(),
                c.model,
                c.capacity_mah,
                c.ir_mohm,
                c.ocv_mv,
                c.self_discharge_mv_per_day,
                c.grade,
                c.source_code,
                c.status.as_str(),
                c.status_reason,
                batch,
                at,
                *line as i64
            ]);
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    let why = taken(&tx, &c.id, Some(batch))?
                        .unwrap_or_else(|| format!("cell '{}': {e}", printable(&c.id)));
                    return Err(StoreError::Conflict(format!(
                        "{file}: line {line}, column id: {why}; nothing was imported"
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Why `id` cannot be imported (into `batch`, when staging), if it cannot: given twice in the
/// same file, being imported by another batch, or already in the database.
fn taken(conn: &rusqlite::Connection, id: &str, batch: Option<i64>) -> Result<Option<String>> {
    /// Status, batch, line, the batch's file and its importing process (while staged).
    type Holder = (
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let row: Option<Holder> = conn
        .query_row(
            "SELECT c.status, c.batch_id, c.import_line, b.file, b.staged_pid
             FROM cells c LEFT JOIN import_batches b ON b.id = c.batch_id WHERE c.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((status, of_batch, line, file, staged_pid)) = row else {
        return Ok(None);
    };
    let shown = printable(id);
    Ok(Some(if batch.is_some() && of_batch == batch {
        match line {
            Some(l) => format!("duplicate id '{shown}' (first on line {l})"),
            None => format!("duplicate id '{shown}'"),
        }
    } else if let Some(pid) = staged_pid {
        format!(
            "cell '{shown}' is being imported right now from {} (process {pid}; an import killed midway is removed by the next import)",
            printable(file.as_deref().unwrap_or("another file"))
        )
    } else {
        format!("cell '{shown}' is already in the database ({status})")
    }))
}

fn cell_from_row(r: &Row) -> rusqlite::Result<Cell> {
    let chem: String = r.get(1)?;
    let status: String = r.get(9)?;
    let bad = |col: usize, msg: String| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, msg.into())
    };
    Ok(Cell {
        id: r.get(0)?,
        chemistry: chem
            .parse()
            .map_err(|e: crate::chemistry::UnknownChemistry| bad(1, e.to_string()))?,
        model: r.get(2)?,
        capacity_mah: r.get(3)?,
        ir_mohm: r.get(4)?,
        ocv_mv: r.get(5)?,
        self_discharge_mv_per_day: r.get(6)?,
        grade: r.get(7)?,
        source_code: r.get(8)?,
        status: status.parse().map_err(|e: String| bad(9, e))?,
        status_reason: r.get(10)?,
    })
}

/// Graded cells: import, lists, look-ups and status changes.
pub trait CellRecords {
    /// Insert every parsed cell in one transaction, or none. An id already in the database
    /// is a conflict naming the file's line.
    fn import_cells(&mut self, actor: &Actor, file: &str, parsed: &ParsedCells) -> Result<i64>;

    /// Start a staged import of `file` by process `pid`: a batch whose cells, added with
    /// [`CellRecords::stage_cells`], no other query sees until
    /// [`CellRecords::publish_import`]. Returns the batch.
    fn begin_import(&mut self, actor: &Actor, file: &str, pid: u32) -> Result<i64>;

    /// Insert one chunk of a staged import (cells with their lines) in one short write
    /// transaction. An id already in the database, being imported by another batch, or given
    /// twice in the file is a conflict naming the lines; the chunk is then not inserted (the
    /// caller discards the batch).
    fn stage_cells(&mut self, batch: i64, file: &str, cells: &[(usize, Cell)]) -> Result<()>;

    /// Make every cell of a staged batch visible at once, in one short transaction. Returns
    /// how many cells it holds.
    fn publish_import(&mut self, batch: i64) -> Result<u64>;

    /// Remove a staged batch and its cells (in chunks, each its own short transaction).
    fn discard_import(&mut self, batch: i64) -> Result<()>;

    /// Remove the batches this station left staged whose process is gone (killed, crashed):
    /// `alive(pid)` says whether a process still exists; other stations' batches are left
    /// alone. Returns the batches removed.
    fn discard_abandoned_imports(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>>;

    fn list_cells(&self, filter: &CellFilter) -> Result<Vec<Cell>>;

    fn get_cell(&self, id: &str) -> Result<Option<Cell>>;

    /// Reject or scrap a cell (with the reason), or return it to stock.
    fn set_cell_status(&self, id: &str, status: CellStatus, reason: Option<&str>) -> Result<()>;

    /// Cell counts by status, in `CellStatus::ALL` order.
    fn cell_counts(&self) -> Result<Vec<(CellStatus, i64)>>;
}

impl CellRecords for Store {
    fn import_cells(&mut self, actor: &Actor, file: &str, parsed: &ParsedCells) -> Result<i64> {
        let stamp = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        {
            for (cell, line) in parsed.cells.iter().zip(&parsed.lines) {
                if let Some(why) = taken(&tx, &cell.id, None)? {
                    return Err(StoreError::Conflict(format!(
                        "{file}: line {line}, column id: {why}; nothing was imported"
                    )));
                }
            }
        }
        let at = stamp;
        tx.execute(
            "INSERT INTO import_batches(file, imported_at, rows, station, operator) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![file, at, parsed.cells.len() as i64, actor.station, actor.operator],
        )?;
        let batch = tx.last_insert_rowid();
        {
            let mut insert = tx.prepare(INSERT_CELL)?;
            for (c, line) in parsed.cells.iter().zip(&parsed.lines) {
                insert.execute(params![
                    c.id,
                    c.chemistry.name(),
                    c.model,
                    c.capacity_mah,
                    c.ir_mohm,
                    c.ocv_mv,
                    c.self_discharge_mv_per_day,
                    c.grade,
                    c.source_code,
                    c.status.as_str(),
                    c.status_reason,
                    batch,
                    at,
                    *line as i64
                ])?;
            }
        }
        super::audit::append(
            &tx,
            actor,
            &at,
            &super::audit::import_entry(batch, parsed.cells.len() as i64, file),
        )?;
        tx.commit()?;
        Ok(batch)
    }

    fn begin_import(&mut self, actor: &Actor, file: &str, pid: u32) -> Result<i64> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "INSERT INTO import_batches(file, imported_at, rows, station, operator, staged_pid)
             VALUES (?1, ?2, 0, ?3, ?4, ?5)",
            params![file, at, actor.station, actor.operator, i64::from(pid)],
        )?;
        let batch = tx.last_insert_rowid();
        tx.commit()?;
        Ok(batch)
    }

    fn stage_cells(&mut self, batch: i64, file: &str, cells: &[(usize, Cell)]) -> Result<()> {
        let at = self.now();
        // Staged rows need no durability of their own (they are invisible, and removed when
        // lost): no sync per chunk. Publishing syncs them all (`synchronous = FULL` again).
        self.conn().pragma_update(None, "synchronous", "NORMAL")?;
        // A statement inserting many rows keeps a statement journal: in memory, not a file.
        self.conn().pragma_update(None, "temp_store", "MEMORY")?;
        match stage_rows(self.conn_mut(), batch, cells, &at) {
            Err(StoreError::Sql(e)) if is_unique_violation(&e) => {
                // Which row: the same chunk again, one row at a time (rolled back either way).
                stage_one_by_one(self.conn_mut(), batch, file, cells, &at)
            }
            other => other,
        }
    }

    fn publish_import(&mut self, batch: i64) -> Result<u64> {
        self.conn().pragma_update(None, "synchronous", "FULL")?;
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let rows: i64 = tx.query_row(
            "SELECT COUNT(*) FROM cells WHERE batch_id = ?1",
            [batch],
            |r| r.get(0),
        )?;
        let n = tx.execute(
            "UPDATE import_batches SET staged_pid = NULL, rows = ?2
             WHERE id = ?1 AND staged_pid IS NOT NULL",
            params![batch, rows],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "import batch {batch} is no longer staged (removed as abandoned?); nothing was imported"
            )));
        }
        // The import becomes visible here: its audit entry, by whoever staged it.
        let (file, station, operator): (String, String, String) = tx.query_row(
            "SELECT file, station, operator FROM import_batches WHERE id = ?1",
            [batch],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        super::audit::append(
            &tx,
            &Actor { station, operator },
            &at,
            &super::audit::import_entry(batch, rows, &file),
        )?;
        tx.commit()?;
        Ok(rows as u64)
    }

    fn discard_import(&mut self, batch: i64) -> Result<()> {
        loop {
            let tx = super::write_tx(self.conn_mut())?;
            let staged: bool = tx
                .query_row(
                    "SELECT staged_pid IS NOT NULL FROM import_batches WHERE id = ?1",
                    [batch],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            if !staged {
                // Published (never removed here) or gone already.
                return Ok(());
            }
            let removed = tx.execute(
                "DELETE FROM cells WHERE rowid IN
                     (SELECT rowid FROM cells WHERE batch_id = ?1 LIMIT ?2)",
                params![batch, IMPORT_CHUNK_ROWS as i64],
            )?;
            if removed == 0 {
                tx.execute("DELETE FROM import_batches WHERE id = ?1", [batch])?;
                tx.commit()?;
                return Ok(());
            }
            tx.commit()?;
            super::let_others_in();
        }
    }

    fn discard_abandoned_imports(
        &mut self,
        station: &str,
        alive: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<i64>> {
        let staged: Vec<(i64, i64)> = self
            .conn()
            .prepare(
                "SELECT id, staged_pid FROM import_batches
                 WHERE staged_pid IS NOT NULL AND station = ?1 ORDER BY id",
            )?
            .query_map([station], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut removed = Vec::new();
        for (batch, pid) in staged {
            if alive(pid) {
                continue;
            }
            self.discard_import(batch)?;
            removed.push(batch);
        }
        Ok(removed)
    }

    fn list_cells(&self, filter: &CellFilter) -> Result<Vec<Cell>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {CELL_COLUMNS} FROM cells
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR chemistry = ?2) AND (?3 IS NULL OR source_code = ?3)
               AND {VISIBLE}
             ORDER BY id"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    filter.status.map(|s| s.as_str()),
                    filter.chemistry.map(|c| c.name()),
                    filter.source_code
                ],
                cell_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn get_cell(&self, id: &str) -> Result<Option<Cell>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {CELL_COLUMNS} FROM cells WHERE id = ?1 AND {VISIBLE}"),
                [id],
                cell_from_row,
            )
            .optional()?)
    }

    fn set_cell_status(&self, id: &str, status: CellStatus, reason: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            &format!(
                "UPDATE cells SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1 AND {VISIBLE}"
            ),
            params![id, status.as_str(), reason, self.now()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("cell '{id}'")));
        }
        Ok(())
    }

    fn cell_counts(&self) -> Result<Vec<(CellStatus, i64)>> {
        CellStatus::ALL
            .iter()
            .map(|s| {
                // The first count reads an index only; the second only a staged import's rows.
                let n: i64 = self.conn().query_row(
                    "SELECT (SELECT COUNT(*) FROM cells WHERE status = ?1)
                          - (SELECT COUNT(*) FROM cells WHERE status = ?1 AND batch_id IN
                                (SELECT id FROM import_batches WHERE staged_pid IS NOT NULL))",
                    [s.as_str()],
                    |r| r.get(0),
                )?;
                Ok((*s, n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{parse_csv, IntakeDefaults};

    fn actor() -> Actor {
        Actor {
            station: "st1".into(),
            operator: "op".into(),
        }
    }

    #[test]
    fn import_is_all_or_nothing_against_the_database() {
        crate::store::testing::each_backend(|store| {
            let d = IntakeDefaults {
                chemistry: Some(Chemistry::Lfp),
                ..Default::default()
            };
            let first = parse_csv("a.csv", "id,capacity_mah\nc1,1000\nc2,1001\n", &d).unwrap();
            store.import_cells(&actor(), "a.csv", &first).unwrap();
            let second = parse_csv("b.csv", "id,capacity_mah\nc3,1000\nc1,999\n", &d).unwrap();
            let err = store
                .import_cells(&actor(), "b.csv", &second)
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 3") && err.contains("c1"), "{err}");
            assert_eq!(store.list_cells(&CellFilter::default()).unwrap().len(), 2);
            assert!(store.get_cell("c3").unwrap().is_none());
        });
    }

    fn cells_of(ids: &[&str]) -> Vec<(usize, Cell)> {
        let d = IntakeDefaults {
            chemistry: Some(Chemistry::Lfp),
            ..Default::default()
        };
        let mut csv = String::from("id,capacity_mah\n");
        for id in ids {
            csv.push_str(&format!("{id},2000\n"));
        }
        let parsed = parse_csv("s.csv", &csv, &d).unwrap();
        parsed.lines.into_iter().zip(parsed.cells).collect()
    }

    #[test]
    fn a_staged_import_is_invisible_until_published() {
        crate::store::testing::each_backend(|store| {
            let batch = store.begin_import(&actor(), "s.csv", 1).unwrap();
            store
                .stage_cells(batch, "s.csv", &cells_of(&["a", "b"]))
                .unwrap();
            store
                .stage_cells(batch, "s.csv", &cells_of(&["c"]))
                .unwrap();
            // Every way of looking at cells misses them.
            assert!(store.list_cells(&CellFilter::default()).unwrap().is_empty());
            assert!(store.get_cell("a").unwrap().is_none());
            assert!(store.cell_counts().unwrap().iter().all(|(_, n)| *n == 0));
            assert!(store
                .set_cell_status("a", CellStatus::Rejected, Some("x"))
                .is_err());
            assert_eq!(store.publish_import(batch).unwrap(), 3);
            assert_eq!(store.list_cells(&CellFilter::default()).unwrap().len(), 3);
            let available = store.cell_counts().unwrap()[0];
            assert_eq!(available, (CellStatus::Available, 3));
            // Publishing twice is refused; a published batch is never discarded.
            assert!(store.publish_import(batch).is_err());
            store.discard_import(batch).unwrap();
            assert_eq!(store.list_cells(&CellFilter::default()).unwrap().len(), 3);
        });
    }

    #[test]
    fn staging_names_duplicates_and_ids_taken_by_the_database_or_another_import() {
        crate::store::testing::each_backend(|store| {
            let first = store.begin_import(&actor(), "a.csv", 1).unwrap();
            store
                .stage_cells(first, "a.csv", &cells_of(&["a", "b"]))
                .unwrap();
            store.publish_import(first).unwrap();
            let batch = store.begin_import(&actor(), "b.csv", 1).unwrap();
            store
                .stage_cells(batch, "b.csv", &cells_of(&["x", "y"]))
                .unwrap();
            // In the same file, across chunks: both lines named.
            let e = store
                .stage_cells(batch, "b.csv", &cells_of(&["z", "x"]))
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                "b.csv: line 3, column id: duplicate id 'x' (first on line 2); nothing was imported"
            );
            // The failed chunk left nothing: z is not staged.
            store
                .stage_cells(batch, "b.csv", &cells_of(&["z"]))
                .unwrap();
            let e = store
                .stage_cells(batch, "b.csv", &cells_of(&["b"]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("'b' is already in the database (available)"),
                "{e}"
            );
            let other = store.begin_import(&actor(), "c.csv", 1).unwrap();
            let e = store
                .stage_cells(other, "c.csv", &cells_of(&["y"]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("being imported right now from b.csv"), "{e}");
            store.discard_import(batch).unwrap();
            store
                .stage_cells(other, "c.csv", &cells_of(&["y"]))
                .unwrap();
            store.publish_import(other).unwrap();
            let ids: Vec<String> = store
                .list_cells(&CellFilter::default())
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(ids, ["a", "b", "y"]);
        });
    }

    #[test]
    fn abandoned_staged_imports_of_dead_processes_on_this_station_are_removed() {
        crate::store::testing::each_backend(|store| {
            let many: Vec<String> = (0..(IMPORT_CHUNK_ROWS * 2 + 7))
                .map(|i| format!("d{i}"))
                .collect();
            let refs: Vec<&str> = many.iter().map(String::as_str).collect();
            let dead = store.begin_import(&actor(), "dead.csv", 41).unwrap();
            store
                .stage_cells(dead, "dead.csv", &cells_of(&refs))
                .unwrap();
            let live = store.begin_import(&actor(), "live.csv", 42).unwrap();
            store
                .stage_cells(live, "live.csv", &cells_of(&["l"]))
                .unwrap();
            let elsewhere = Actor {
                station: "st2".into(),
                operator: "op".into(),
            };
            let far = store.begin_import(&elsewhere, "far.csv", 41).unwrap();
            store
                .stage_cells(far, "far.csv", &cells_of(&["f"]))
                .unwrap();
            let removed = store
                .discard_abandoned_imports("st1", &|pid| pid == 42)
                .unwrap();
            assert_eq!(removed, vec![dead]);
            assert_eq!(store.publish_import(live).unwrap(), 1);
            // The live and the other station's staged cells stayed; the dead import's went.
            assert_eq!(store.publish_import(far).unwrap(), 1);
            assert_eq!(store.list_cells(&CellFilter::default()).unwrap().len(), 2);
            assert!(store.publish_import(dead).is_err());
        });
    }
}
