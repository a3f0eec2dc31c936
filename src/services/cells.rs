//! Cell states, once for both faces: taking a cell out of stock (and what that means for its
//! pack), returning it, recording its source, and whether it may be placed at all.

use super::{Result, ServiceError};
use crate::domain::{Cell, CellStatus, PackStatus};
use crate::store::prelude::*;
use crate::store::{Actor, PackEffect};

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
