//! Cells in the store.

use super::{Actor, Result, Store, StoreError};
use crate::chemistry::Chemistry;
use crate::domain::{Cell, CellStatus};
use crate::intake::ParsedCells;
use rusqlite::{params, OptionalExtension, Row};

#[derive(Debug, Clone, Default)]
pub struct CellFilter {
    pub status: Option<CellStatus>,
    pub chemistry: Option<Chemistry>,
    pub source_code: Option<String>,
}

const CELL_COLUMNS: &str = "id, chemistry, model, capacity_mah, ir_mohm, ocv_mv, \
     self_discharge_mv_per_day, grade, source_code, status, status_reason";

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
            let mut exists = tx.prepare("SELECT status FROM cells WHERE id = ?1")?;
            for (cell, line) in parsed.cells.iter().zip(&parsed.lines) {
                if let Some(status) = exists
                    .query_row([&cell.id], |r| r.get::<_, String>(0))
                    .optional()?
                {
                    return Err(StoreError::Conflict(format!(
                        "{file}: line {line}, column id: cell '{}' is already in the database ({status}); nothing was imported",
                        cell.id
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
            let mut insert = tx.prepare(
                "INSERT INTO cells(id, chemistry, model, capacity_mah, ir_mohm, ocv_mv, self_discharge_mv_per_day,
                                   grade, source_code, status, status_reason, batch_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for c in &parsed.cells {
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
                    at
                ])?;
            }
        }
        tx.commit()?;
        Ok(batch)
    }

    fn list_cells(&self, filter: &CellFilter) -> Result<Vec<Cell>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {CELL_COLUMNS} FROM cells
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR chemistry = ?2) AND (?3 IS NULL OR source_code = ?3)
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
                &format!("SELECT {CELL_COLUMNS} FROM cells WHERE id = ?1"),
                [id],
                cell_from_row,
            )
            .optional()?)
    }

    fn set_cell_status(&self, id: &str, status: CellStatus, reason: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE cells SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1",
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
                let n: i64 = self.conn().query_row(
                    "SELECT COUNT(*) FROM cells WHERE status = ?1",
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
}
