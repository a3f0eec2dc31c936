//! Cell states, once for both faces: taking a cell out of stock (and what that means for its
//! pack), returning it, recording its source, and whether it may be placed at all.

use super::{Result, ServiceError};
use crate::domain::{Cell, CellStatus, PackStatus};
use crate::intake::{self, CsvCells, Format, ImportError, IntakeDefaults, ParsedCells};
use crate::store::prelude::*;
use crate::store::{Actor, PackEffect, StoreError, IMPORT_CHUNK_ROWS};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub batch: i64,
    pub cells: u64,
    /// What the file turned out to be (said to the operator).
    pub format: Format,
    /// Columns (JSON: keys) that were not recognised and were ignored.
    pub ignored_columns: Vec<String>,
    pub without_source_code: u64,
}

/// How far an import is: bytes of the file read (CSV; a JSON file counts as read at once)
/// and cells staged so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub bytes: u64,
    pub cells: u64,
}

/// Why an import wrote nothing: the file (bad input, naming file, line and column) or the
/// database (a conflict naming the line, or the file's problem).
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error(transparent)]
    File(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Import a grading-cabinet export (CSV row by row; JSON whole), all or nothing, with bounded
/// memory and short write transactions. The cells are staged in chunks of
/// [`IMPORT_CHUNK_ROWS`], each its own write transaction, invisible to every other query;
/// one short transaction at the end makes them all visible. The first fault (of the file, or
/// an id the database has already) removes the staged cells again; a process killed midway
/// leaves its staged cells invisible, and the next import on this station removes them.
/// Duplicate ids within the file are found by the database (the cells' primary key), so no
/// set of ids grows in memory. `progress` is called after each chunk.
pub fn import_file(
    store: &mut dyn LineStore,
    actor: &Actor,
    path: &Path,
    defaults: &IntakeDefaults,
    progress: &mut dyn FnMut(ImportProgress),
) -> std::result::Result<Imported, ImportFailure> {
    let name = path.display().to_string();
    store.discard_abandoned_imports(&actor.station, &crate::eol::process_alive)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    // The header (or the whole JSON file) is read before anything is written.
    let mut source = if is_json {
        let (parsed, format) = intake::read_file_with_format(path, defaults)?;
        Source::Json(parsed, format, 0)
    } else {
        Source::Csv(Box::new(
            intake::open_csv(path, defaults)?.duplicates_checked_by_caller(),
        ))
    };
    let batch = store.begin_import(actor, &name, std::process::id())?;
    let staged = stage_all(store, batch, &name, &mut source, progress);
    let outcome = staged.and_then(|without_source_code| {
        let cells = store.publish_import(batch)?;
        Ok((cells, without_source_code))
    });
    match outcome {
        Ok((cells, without_source_code)) => {
            let (format, ignored_columns) = match source {
                Source::Csv(csv) => (csv.format(), csv.ignored_columns().to_vec()),
                Source::Json(parsed, format, _) => (format, parsed.ignored_columns),
            };
            Ok(Imported {
                batch,
                cells,
                format,
                ignored_columns,
                without_source_code,
            })
        }
        Err(e) => {
            // Nothing of it may stay; if even that fails, the next import removes it.
            let _ = store.discard_import(batch);
            Err(e)
        }
    }
}

#[allow(clippy::large_enum_variant)] // one per import, never moved in a loop
enum Source {
    Csv(Box<CsvCells<BufReader<File>>>),
    /// The parsed file, its format, and how many of its cells were handed out.
    Json(ParsedCells, Format, usize),
}

impl Source {
    fn next_chunk(&mut self) -> std::result::Result<Vec<(usize, Cell)>, ImportError> {
        match self {
            Source::Csv(csv) => csv.next_batch(IMPORT_CHUNK_ROWS),
            Source::Json(parsed, _, done) => {
                let end = (*done + IMPORT_CHUNK_ROWS).min(parsed.cells.len());
                let chunk = parsed.lines[*done..end]
                    .iter()
                    .copied()
                    .zip(parsed.cells[*done..end].iter().cloned())
                    .collect();
                *done = end;
                Ok(chunk)
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Source::Csv(csv) => csv.bytes_read(),
            Source::Json(..) => 0,
        }
    }
}

/// Stage every chunk; returns how many cells have no source code.
fn stage_all(
    store: &mut dyn LineStore,
    batch: i64,
    name: &str,
    source: &mut Source,
    progress: &mut dyn FnMut(ImportProgress),
) -> std::result::Result<u64, ImportFailure> {
    let (mut cells, mut without_source_code) = (0u64, 0u64);
    loop {
        let chunk = source.next_chunk()?;
        if chunk.is_empty() {
            return Ok(without_source_code);
        }
        store.stage_cells(batch, name, &chunk)?;
        cells += chunk.len() as u64;
        without_source_code += chunk
            .iter()
            .filter(|(_, c)| c.source_code.is_none())
            .count() as u64;
        progress(ImportProgress {
            bytes: source.bytes_read(),
            cells,
        });
    }
}

/// What rejecting a cell did, as the faces say it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    pub cell: String,
    pub status: CellStatus,
    pub reason: String,
    /// The pack the cell was in, and what became of it, in words.
    pub pack: Option<String>,
    pub pack_effect: Option<String>,
}

/// Reject (or scrap) a cell with its reason. A cell of a matched pack leaves that pack's plan
/// (its slot opens, and the answer says what the pack now needs); a cell of an assembled,
/// configured, tested or held pack puts that pack on hold.
pub fn reject(
    store: &mut dyn LineStore,
    actor: &Actor,
    id: &str,
    scrap: bool,
    reason: &str,
) -> Result<Rejected> {
    let class = if scrap {
        super::authority::Action::Scrap
    } else {
        super::authority::Action::RejectCell
    };
    super::authority::require(store, actor, class)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::Refused(format!(
            "rejecting cell {id} needs a reason"
        )));
    }
    let cell = store
        .get_cell(id)?
        .ok_or_else(|| ServiceError::NotFound(format!("no cell '{id}' in the inventory")))?;
    let status = if scrap {
        CellStatus::Scrapped
    } else {
        CellStatus::Rejected
    };
    if cell.status == status {
        return Err(ServiceError::Refused(format!(
            "cell {id} is {status} already ({})",
            cell.status_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        )));
    }
    let pack = match store.pack_of_cell(id)? {
        Some(p) => store.get_pack(p)?,
        None => None,
    };
    let (effect, pack_label, said) = match &pack {
        None => (PackEffect::None, None, None),
        Some(p) if p.status == PackStatus::Matched => {
            let slot = p
                .groups
                .iter()
                .enumerate()
                .find_map(|(s, g)| g.iter().position(|c| c == id).map(|q| (s, q)))
                .map(|(s, q)| format!("S{}P{}", s + 1, q + 1))
                .unwrap_or_default();
            let said = format!(
                "taken out of pack {}'s plan: slot {slot} is open and needs an available {} cell{} \
                 near {} mAh (`packwright packs rework {} --in CELL`), or release the pack \
                 (`packwright packs release {}`) and match again",
                p.label(),
                cell.chemistry,
                cell.model
                    .as_deref()
                    .map(|m| format!(" of model {m}"))
                    .unwrap_or_default(),
                cell.capacity_mah
                    .map(|c| format!("{c:.0}"))
                    .unwrap_or_else(|| "?".into()),
                p.id,
                p.id
            );
            (PackEffect::LeavePlan(p.id), Some(p.label()), Some(said))
        }
        Some(p) if p.status.is_built() => {
            let why = format!("cell {id} {status}: {reason}");
            let said = format!(
                "pack {} is now ON HOLD: it cannot be configured, tested or exported as good \
                 until reworked (`packwright packs rework {} --out {id} --in CELL`) or scrapped \
                 (`packwright packs scrap {} --reason …`)",
                p.label(),
                p.id,
                p.id
            );
            (PackEffect::Hold(p.id, why), Some(p.label()), Some(said))
        }
        // A scrapped or released pack: the cell's status changes, the pack's does not.
        Some(p) => (PackEffect::None, Some(p.label()), None),
    };
    store.take_cell_out(actor, id, status, reason, &effect)?;
    store.log_event(
        actor,
        if said.is_some() { "warning" } else { "info" },
        &format!(
            "cell {id} {status}: {reason}{}",
            said.as_deref()
                .map(|s| format!("; {s}"))
                .unwrap_or_default()
        ),
    )?;
    Ok(Rejected {
        cell: id.to_string(),
        status,
        reason: reason.to_string(),
        pack: pack_label,
        pack_effect: said,
    })
}

/// Return a rejected or scrapped cell to stock, with the reason. A cell still in a live pack
/// (on hold, say) is refused: rework or scrap that pack.
pub fn unreject(store: &mut dyn LineStore, actor: &Actor, id: &str, reason: &str) -> Result<()> {
    super::authority::require(store, actor, super::authority::Action::Unreject)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::Refused(format!(
            "un-rejecting cell {id} needs a reason"
        )));
    }
    let cell = store
        .get_cell(id)?
        .ok_or_else(|| ServiceError::NotFound(format!("no cell '{id}' in the inventory")))?;
    if !cell.status.is_out_of_stock() {
        return Err(ServiceError::Refused(format!(
            "cell {id} is {}, not rejected or scrapped",
            cell.status
        )));
    }
    if let Some(p) = store.pack_of_cell(id)? {
        if let Some(pack) = store.get_pack(p)? {
            if !matches!(pack.status, PackStatus::Scrapped | PackStatus::Released) {
                return Err(ServiceError::Refused(format!(
                    "cell {id} is still in pack {} ({}): rework the pack (`packwright packs rework \
                     {} --out {id} --in CELL`) or scrap it first",
                    pack.label(),
                    pack.status,
                    pack.id
                )));
            }
        }
    }
    store.return_cell(actor, id, "cell unreject", reason)?;
    store.log_event(
        actor,
        "info",
        &format!(
            "cell {id} back to available (was {}: {}): {reason}",
            cell.status,
            cell.status_reason.as_deref().unwrap_or("-")
        ),
    )?;
    Ok(())
}

/// Record the source module code of cells already imported (all or none).
pub fn set_source(
    store: &mut dyn LineStore,
    actor: &Actor,
    ids: &[String],
    code: &str,
) -> Result<()> {
    super::authority::require(store, actor, super::authority::Action::Intake)?;
    let code = code.trim();
    if code.is_empty() {
        return Err(ServiceError::Refused("the module code is empty".into()));
    }
    if ids.is_empty() {
        return Err(ServiceError::Refused("name at least one cell".into()));
    }
    store
        .set_cell_source(actor, ids, code)
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(m) => ServiceError::NotFound(format!("no {m}")),
            e => e.into(),
        })?;
    store.log_event(
        actor,
        "info",
        &format!("source module {code} recorded for {} cells", ids.len()),
    )?;
    Ok(())
}

/// Why a cell may not be matched or placed, if it may not: rejected or scrapped, with the
/// reason it was.
pub fn unusable(cell: &Cell) -> Option<String> {
    cell.status.is_out_of_stock().then(|| {
        format!(
            "{} {} ({})",
            cell.id,
            cell.status,
            cell.status_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{actor, assemble, store_with_pack};

    #[test]
    fn a_rejected_cell_of_a_matched_pack_leaves_its_plan_and_its_slot_opens() {
        let (mut store, id) = store_with_pack();
        let done = reject(&mut store, &actor(), "b", false, "swollen").unwrap();
        let said = done.pack_effect.unwrap();
        assert!(said.contains("S2P1 is open"), "{said}");
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::Matched);
        assert_eq!(
            pack.groups,
            vec![vec!["a".to_string()], vec![String::new()]]
        );
        assert_eq!(pack.open_slots(), ["S2P1"]);
        let b = store.get_cell("b").unwrap().unwrap();
        assert_eq!(unusable(&b).as_deref(), Some("b rejected (swollen)"));
        // Un-rejected, it is stock again, in no pack; the slot stays open.
        unreject(&mut store, &actor(), "b", "re-measured").unwrap();
        assert_eq!(
            store.get_cell("b").unwrap().unwrap().status,
            CellStatus::Available
        );
        assert!(unreject(&mut store, &actor(), "b", "again").is_err());
        assert_eq!(store.get_pack(id).unwrap().unwrap().open_slots(), ["S2P1"]);
    }

    #[test]
    fn a_rejected_cell_of_a_built_pack_holds_it_and_stays_in_it() {
        let (mut store, id) = store_with_pack();
        assemble(&mut store, id, "PW1");
        let done = reject(&mut store, &actor(), "a", true, "dropped").unwrap();
        assert!(done.pack_effect.unwrap().contains("ON HOLD"));
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::OnHold);
        assert!(pack
            .status_note
            .unwrap()
            .contains("cell a scrapped: dropped"));
        assert_eq!(store.pack_of_cell("a").unwrap(), Some(id));
        let e = unreject(&mut store, &actor(), "a", "oops")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rework"), "{e}");
        assert!(reject(&mut store, &actor(), "a", true, "again").is_err());
        assert!(reject(&mut store, &actor(), "b", false, " ").is_err());
    }

    #[test]
    fn sources_are_recorded_for_every_named_cell_or_none() {
        let (mut store, _) = store_with_pack();
        assert!(set_source(&mut store, &actor(), &["a".into(), "zz".into()], "M9").is_err());
        assert_eq!(
            store.get_cell("a").unwrap().unwrap().source_code.as_deref(),
            Some("M1")
        );
        set_source(&mut store, &actor(), &["a".into(), "b".into()], "M9").unwrap();
        assert_eq!(
            store.get_cell("b").unwrap().unwrap().source_code.as_deref(),
            Some("M9")
        );
        assert_eq!(
            store.state_changes_for_cell("a").unwrap()[0].verb,
            "cell source"
        );
    }
}
