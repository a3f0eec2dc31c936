//! The label log: every print and reprint of a pack's label — who, where, when, to which
//! printer, with which template — and how it ended. A row is committed as `started` before
//! the job leaves and finished afterwards: a print cut short stays visible and never reads as
//! printed.

use super::{Actor, Result, Store, StoreError};
use rusqlite::{params, Row};
use serde::Serialize;

/// How a print ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelOutcome {
    /// The job is going out (or the process died while it was).
    Started,
    /// The printer (or file, or spool command) took the job and reported no problem.
    Printed,
    /// The printer said it could not print; nothing was sent.
    Refused,
    /// The job could not be handed over, or the printer reported a problem after it.
    Failed,
}

impl LabelOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelOutcome::Started => "started",
            LabelOutcome::Printed => "printed",
            LabelOutcome::Refused => "refused",
            LabelOutcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> LabelOutcome {
        match s {
            "printed" => LabelOutcome::Printed,
            "refused" => LabelOutcome::Refused,
            "failed" => LabelOutcome::Failed,
            _ => LabelOutcome::Started,
        }
    }
}

/// One print of a pack's label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelPrint {
    pub id: i64,
    pub pack_id: i64,
    pub pack_code: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub station: String,
    pub operator: String,
    pub printer: String,
    pub template_version: String,
    /// Whether a label of this pack had been printed before this one.
    pub reprint: bool,
    pub outcome: LabelOutcome,
    pub detail: Option<String>,
}

/// What is known when a print begins.
#[derive(Debug, Clone)]
pub struct NewLabelPrint<'a> {
    pub pack_id: i64,
    pub pack_code: &'a str,
    pub printer: &'a str,
    pub template_version: &'a str,
}

/// The label log.
pub trait LabelRecords {
    /// Log a print as `started` (committed before the job goes out); returns its id.
    fn begin_label_print(&mut self, actor: &Actor, print: &NewLabelPrint) -> Result<i64>;
    /// How the print `id` ended; only a `started` print can end.
    fn finish_label_print(
        &mut self,
        id: i64,
        outcome: LabelOutcome,
        detail: Option<&str>,
    ) -> Result<()>;
    /// Every print of a pack's label, oldest first.
    fn label_prints(&self, pack_id: i64) -> Result<Vec<LabelPrint>>;
}

/// One scan of a pack's label (scan-back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelScan {
    pub id: i64,
    pub pack_id: i64,
    /// The pack's code when it was scanned.
    pub pack_code: String,
    pub scanned_at: String,
    pub station: String,
    pub operator: String,
    /// What the scanner sent.
    pub raw: String,
    /// What it read as (AIM identifier and GS1 separators taken off).
    pub data: String,
    /// The AIM symbology identifier the scanner sent, if any.
    pub symbology: Option<String>,
    /// Whether it was the pack's code.
    pub matched: bool,
}

/// What a scan records.
#[derive(Debug, Clone)]
pub struct NewLabelScan<'a> {
    pub pack_id: i64,
    pub pack_code: &'a str,
    pub raw: &'a str,
    pub data: &'a str,
    pub symbology: Option<&'a str>,
    pub matched: bool,
}

/// The scan-back log.
pub trait LabelScanRecords {
    /// Record a scan of a pack's label, good or refused; returns the row as stored.
    fn record_label_scan(&mut self, actor: &Actor, scan: &NewLabelScan) -> Result<LabelScan>;
    /// Every scan of a pack's label, oldest first.
    fn label_scans(&self, pack_id: i64) -> Result<Vec<LabelScan>>;
}

fn scan_row(r: &Row) -> rusqlite::Result<LabelScan> {
    Ok(LabelScan {
        id: r.get(0)?,
        pack_id: r.get(1)?,
        pack_code: r.get(2)?,
        scanned_at: r.get(3)?,
        station: r.get(4)?,
        operator: r.get(5)?,
        raw: r.get(6)?,
        data: r.get(7)?,
        symbology: r.get(8)?,
        matched: r.get(9)?,
    })
}

const SCAN_COLUMNS: &str =
    "id, pack_id, pack_code, scanned_at, station, operator, raw, data, symbology, matched";

impl LabelScanRecords for Store {
    fn record_label_scan(&mut self, actor: &Actor, scan: &NewLabelScan) -> Result<LabelScan> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "INSERT INTO label_scans(pack_id, pack_code, scanned_at, station, operator, raw, data,
                                     symbology, matched)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                scan.pack_id,
                scan.pack_code,
                at,
                actor.station,
                actor.operator,
                scan.raw,
                scan.data,
                scan.symbology,
                scan.matched
            ],
        )?;
        let id = tx.last_insert_rowid();
        let stored = tx.query_row(
            &format!("SELECT {SCAN_COLUMNS} FROM label_scans WHERE id = ?1"),
            [id],
            scan_row,
        )?;
        tx.commit()?;
        Ok(stored)
    }

    fn label_scans(&self, pack_id: i64) -> Result<Vec<LabelScan>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {SCAN_COLUMNS} FROM label_scans WHERE pack_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([pack_id], scan_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

fn row(r: &Row) -> rusqlite::Result<LabelPrint> {
    Ok(LabelPrint {
        id: r.get(0)?,
        pack_id: r.get(1)?,
        pack_code: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        station: r.get(5)?,
        operator: r.get(6)?,
        printer: r.get(7)?,
        template_version: r.get(8)?,
        reprint: r.get(9)?,
        outcome: LabelOutcome::parse(&r.get::<_, String>(10)?),
        detail: r.get(11)?,
    })
}

impl LabelRecords for Store {
    fn begin_label_print(&mut self, actor: &Actor, print: &NewLabelPrint) -> Result<i64> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "INSERT INTO label_prints(pack_id, pack_code, started_at, station, operator, printer,
                                      template_version, reprint, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                     EXISTS(SELECT 1 FROM label_prints WHERE pack_id = ?1 AND outcome = 'printed'),
                     'started')",
            params![
                print.pack_id,
                print.pack_code,
                at,
                actor.station,
                actor.operator,
                print.printer,
                print.template_version
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    fn finish_label_print(
        &mut self,
        id: i64,
        outcome: LabelOutcome,
        detail: Option<&str>,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let n = tx.execute(
            "UPDATE label_prints SET outcome = ?2, detail = ?3, finished_at = ?4
             WHERE id = ?1 AND outcome = 'started'",
            params![id, outcome.as_str(), detail, at],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "label print {id} is not a print in progress"
            )));
        }
        tx.commit()?;
        Ok(())
    }

    fn label_prints(&self, pack_id: i64) -> Result<Vec<LabelPrint>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, pack_id, pack_code, started_at, finished_at, station, operator, printer,
                    template_version, reprint, outcome, detail
             FROM label_prints WHERE pack_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([pack_id], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_print_is_started_then_finished_and_a_second_printed_one_is_a_reprint() {
        crate::store::testing::each_backend_with_pack(|store, pack_id| {
            let actor = Actor {
                station: "line-1".into(),
                operator: "ann".into(),
            };
            let new = NewLabelPrint {
                pack_id,
                pack_code: "P1",
                printer: "file:/tmp/x",
                template_version: "t/1",
            };
            let refused = store.begin_label_print(&actor, &new).unwrap();
            store
                .finish_label_print(refused, LabelOutcome::Refused, Some("paper out"))
                .unwrap();
            let first = store.begin_label_print(&actor, &new).unwrap();
            store
                .finish_label_print(first, LabelOutcome::Printed, None)
                .unwrap();
            let second = store.begin_label_print(&actor, &new).unwrap();
            let log = store.label_prints(pack_id).unwrap();
            assert_eq!(log.len(), 3);
            assert_eq!(log[0].outcome, LabelOutcome::Refused);
            assert!(!log[0].reprint && !log[1].reprint);
            assert_eq!(log[2].id, second);
            assert_eq!(log[2].outcome, LabelOutcome::Started);
            assert!(log[2].reprint);
            // Scans are kept, good and refused, in order.
            let bad = store
                .record_label_scan(
                    &actor,
                    &NewLabelScan {
                        pack_id,
                        pack_code: "P1",
                        raw: "]C1P2",
                        data: "P2",
                        symbology: Some("]C1"),
                        matched: false,
                    },
                )
                .unwrap();
            assert!(!bad.matched);
            assert_eq!(bad.operator, "ann");
            let good = store
                .record_label_scan(
                    &actor,
                    &NewLabelScan {
                        pack_id,
                        pack_code: "P1",
                        raw: "P1",
                        data: "P1",
                        symbology: None,
                        matched: true,
                    },
                )
                .unwrap();
            assert_eq!(store.label_scans(pack_id).unwrap(), vec![bad, good]);
            // A finished print cannot be finished again.
            assert!(store
                .finish_label_print(first, LabelOutcome::Failed, None)
                .is_err());
        });
    }
}
