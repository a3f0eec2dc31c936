//! Traceability queries: a pack's assembly record, its cells with where their grading data came
//! from, its BMS configuration writes, the packs a source module fed, and existing pack codes.

use super::bms_log::{write_row, BmsWriteRow, WRITE_COLUMNS};
use super::cells::VISIBLE_C;
use super::{Result, Store};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// A pack's own row, with the assembly fields `Pack` does not carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackRecord {
    pub id: i64,
    pub code: Option<String>,
    pub profile: String,
    pub status: String,
    pub created_at: String,
    pub assembled_at: Option<String>,
    /// Who matched (created) the pack.
    pub station: String,
    pub operator: String,
    /// Why the pack is on hold, released or scrapped, by whom and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_note: Option<String>,
}

/// A cell in a pack: its position, placement time and the intake that brought its grading data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellLink {
    pub cell_id: String,
    /// 0-based series group and parallel slot.
    pub series_index: i64,
    pub parallel_index: i64,
    pub placed_at: Option<String>,
    pub source_code: Option<String>,
    pub graded_from_file: Option<String>,
    pub imported_at: Option<String>,
}

/// One configuration write to a pack's BMS, with its field counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BmsWriteRecord {
    #[serde(flatten)]
    pub write: BmsWriteRow,
    pub fields: i64,
    pub fields_failed: i64,
}

/// A cell harvested from a source module/pack, and the pack it went into, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceCell {
    pub cell_id: String,
    pub cell_status: String,
    pub pack_id: Option<i64>,
    pub pack_code: Option<String>,
    pub pack_status: Option<String>,
}

/// Lineage both ways: pack to cells to sources, source to packs.
pub trait TraceRecords {
    fn pack_record(&self, pack_id: i64) -> Result<Option<PackRecord>>;

    /// A pack's cells in series order, with placement and intake provenance.
    fn pack_cell_links(&self, pack_id: i64) -> Result<Vec<CellLink>>;

    /// Every configuration write to a pack's BMS, oldest first.
    fn bms_writes_for_pack(&self, pack_id: i64) -> Result<Vec<BmsWriteRecord>>;

    /// Every cell harvested from a source code, with the pack it is in.
    fn cells_from_source(&self, source_code: &str) -> Result<Vec<SourceCell>>;

    /// The intake file and time that brought a cell's grading data: `(file, imported_at)`.
    fn cell_provenance(&self, cell_id: &str) -> Result<Option<(String, String)>>;

    /// Pack codes that start with `prefix` (for the next serial number).
    fn pack_codes_with_prefix(&self, prefix: &str) -> Result<Vec<String>>;
}

impl TraceRecords for Store {
    fn pack_record(&self, pack_id: i64) -> Result<Option<PackRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, code, profile, COALESCE(status_override, status), created_at,
                        assembled_at, station, operator,
                        status_reason || ' (' || status_operator || ' at ' || status_station
                            || ', ' || status_at || ')'
                 FROM packs WHERE id = ?1",
                [pack_id],
                |r| {
                    Ok(PackRecord {
                        id: r.get(0)?,
                        code: r.get(1)?,
                        profile: r.get(2)?,
                        status: r.get(3)?,
                        created_at: r.get(4)?,
                        assembled_at: r.get(5)?,
                        station: r.get(6)?,
                        operator: r.get(7)?,
                        status_note: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    fn pack_cell_links(&self, pack_id: i64) -> Result<Vec<CellLink>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT pc.cell_id, pc.series_index, pc.parallel_index, pc.placed_at, c.source_code,
                        b.file, b.imported_at
                 FROM pack_cells pc
                 LEFT JOIN cells c ON c.id = pc.cell_id
                 LEFT JOIN import_batches b ON b.id = c.batch_id
                 WHERE pc.pack_id = ?1
                 ORDER BY pc.series_index, pc.parallel_index",
            )?
            .query_map([pack_id], |r| {
                Ok(CellLink {
                    cell_id: r.get(0)?,
                    series_index: r.get(1)?,
                    parallel_index: r.get(2)?,
                    placed_at: r.get(3)?,
                    source_code: r.get(4)?,
                    graded_from_file: r.get(5)?,
                    imported_at: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn bms_writes_for_pack(&self, pack_id: i64) -> Result<Vec<BmsWriteRecord>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {WRITE_COLUMNS},
                        (SELECT COUNT(*) FROM bms_write_fields f WHERE f.write_id = w.id),
                        (SELECT COUNT(*) FROM bms_write_fields f WHERE f.write_id = w.id AND f.ok = 0)
                 FROM bms_writes w WHERE w.pack_id = ?1 ORDER BY w.id"
            ))?
            .query_map([pack_id], |r| {
                Ok(BmsWriteRecord {
                    write: write_row(r)?,
                    fields: r.get(11)?,
                    fields_failed: r.get(12)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn cells_from_source(&self, source_code: &str) -> Result<Vec<SourceCell>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT c.id, c.status, p.id, p.code, COALESCE(p.status_override, p.status)
                 FROM cells c
                 LEFT JOIN pack_cells pc ON pc.cell_id = c.id
                 LEFT JOIN packs p ON p.id = pc.pack_id
                 WHERE c.source_code = ?1 AND {VISIBLE_C}
                 ORDER BY p.id IS NULL, p.id, c.id"
            ))?
            .query_map([source_code], |r| {
                Ok(SourceCell {
                    cell_id: r.get(0)?,
                    cell_status: r.get(1)?,
                    pack_id: r.get(2)?,
                    pack_code: r.get(3)?,
                    pack_status: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn cell_provenance(&self, cell_id: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT b.file, b.imported_at FROM cells c JOIN import_batches b ON b.id = c.batch_id
                 WHERE c.id = ?1 AND b.staged_pid IS NULL",
                [cell_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn pack_codes_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT code FROM packs WHERE code IS NOT NULL AND substr(code, 1, length(?1)) = ?1",
            )?
            .query_map(params![prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::chemistry::Chemistry;
    use crate::intake::{parse_csv, IntakeDefaults};
    use crate::store::{Actor, NewPack};

    #[test]
    fn lineage_rows_from_pack_and_from_source() {
        let actor = Actor {
            station: "st".into(),
            operator: "ann".into(),
        };
        crate::store::testing::each_backend(|store| {
            let d = IntakeDefaults {
                chemistry: Some(Chemistry::Lfp),
                ..Default::default()
            };
            let cells = parse_csv(
                "grading.csv",
                "id,capacity_mah,source_code\na,1000,MOD-1\nb,1000,MOD-2\nc,1000,MOD-1\n",
                &d,
            )
            .unwrap();
            store.import_cells(&actor, "grading.csv", &cells).unwrap();
            let ids = store
                .commit_packs(
                    &actor,
                    "p",
                    &[NewPack {
                        groups: vec![vec!["b".into()], vec!["a".into()]],
                        metrics_json: "{}".into(),
                    }],
                )
                .unwrap();
            let pack = ids[0];
            store.mark_cell_placed(pack, "a").unwrap();
            store.mark_cell_placed(pack, "b").unwrap();
            store.complete_assembly(&actor, pack, "PW00000001").unwrap();

            let record = store.pack_record(pack).unwrap().unwrap();
            assert_eq!(record.code.as_deref(), Some("PW00000001"));
            assert!(record.assembled_at.is_some());
            let links = store.pack_cell_links(pack).unwrap();
            assert_eq!(
                links.iter().map(|l| l.cell_id.as_str()).collect::<Vec<_>>(),
                ["b", "a"]
            );
            assert_eq!(links[0].source_code.as_deref(), Some("MOD-2"));
            assert_eq!(links[0].graded_from_file.as_deref(), Some("grading.csv"));
            assert!(links[1].placed_at.is_some());

            let from = store.cells_from_source("MOD-1").unwrap();
            assert_eq!(from.len(), 2);
            assert_eq!(from[0].cell_id, "a");
            assert_eq!(from[0].pack_code.as_deref(), Some("PW00000001"));
            assert_eq!(from[1].cell_id, "c");
            assert_eq!(from[1].pack_id, None);
            assert!(store.cells_from_source("MOD-9").unwrap().is_empty());

            assert_eq!(store.pack_codes_with_prefix("PW").unwrap(), ["PW00000001"]);
            assert!(store.pack_codes_with_prefix("PWT").unwrap().is_empty());
            assert!(store.bms_writes_for_pack(pack).unwrap().is_empty());
            let (file, _) = store.cell_provenance("c").unwrap().unwrap();
            assert_eq!(file, "grading.csv");
            assert!(store.cell_provenance("nope").unwrap().is_none());
        });
    }
}
