//! What must be true before an end-of-line run may start. IEC 63338 does not permit
//! repurposing cells whose lifetime traceability data were not recorded, so a pack with a cell
//! lacking its grading record or its source code is refused before anything is measured.

use crate::domain::{Cell, Pack, PackStatus};
use crate::profile::Profile;

/// One reason a run may not start.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Blocker {
    /// The cell concerned, when the reason is about a cell.
    pub cell: Option<String>,
    pub reason: String,
}

/// Every reason `pack` may not be tested now. `cells` are the pack's cells as the store has
/// them, in the pack's order; `None` where a cell id has no record at all.
pub fn blockers(pack: &Pack, profile: &Profile, cells: &[(String, Option<Cell>)]) -> Vec<Blocker> {
    let mut out = Vec::new();
    let mut pack_blocker = |reason: String| out.push(Blocker { cell: None, reason });
    if pack.profile != profile.name {
        pack_blocker(format!(
            "pack {} was matched for profile '{}', not '{}'",
            pack.label(),
            pack.profile,
            profile.name
        ));
    }
    match pack.status {
        PackStatus::Matched => pack_blocker(format!(
            "pack {} is not assembled yet (status matched); assemble it first",
            pack.label()
        )),
        PackStatus::Scrapped => pack_blocker(format!("pack {} is scrapped", pack.label())),
        PackStatus::Released => pack_blocker(format!("pack {} was released", pack.label())),
        PackStatus::OnHold => pack_blocker(format!(
            "pack {} is ON HOLD ({}); rework or scrap it first",
            pack.label(),
            pack.status_note.as_deref().unwrap_or("no reason recorded")
        )),
        _ => {}
    }
    if pack.code.is_none() {
        pack_blocker(format!(
            "pack {} has no traceability code; it gets one when assembly completes",
            pack.label()
        ));
    }
    let expected = profile.cells_per_pack();
    if cells.len() != expected {
        pack_blocker(format!(
            "pack {} holds {} cells but profile '{}' needs {} ({}S{}P)",
            pack.label(),
            cells.len(),
            profile.name,
            expected,
            profile.series,
            profile.parallel
        ));
    }
    for (id, cell) in cells {
        let reason = match cell {
            None => Some("has no record in the cell inventory".to_string()),
            Some(c) => c
                .missing_traceability()
                .map(|what| format!("has {what}: IEC 63338 does not permit repurposing it")),
        };
        if let Some(reason) = reason {
            out.push(Blocker {
                cell: Some(id.clone()),
                reason,
            });
        }
    }
    out
}

/// The blockers as one message for an operator, one per line.
pub fn describe(blockers: &[Blocker]) -> String {
    blockers
        .iter()
        .map(|b| match &b.cell {
            Some(c) => format!("  - cell {c} {}", b.reason),
            None => format!("  - {}", b.reason),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chemistry::Chemistry;
    use crate::domain::CellStatus;

    fn profile() -> Profile {
        let mut p = Profile::load("lfp-15s1p-100ah").unwrap();
        p.series = 2;
        p
    }

    fn cell(id: &str, capacity: Option<f64>, source: Option<&str>) -> (String, Option<Cell>) {
        (
            id.into(),
            Some(Cell {
                id: id.into(),
                chemistry: Chemistry::Lfp,
                model: None,
                capacity_mah: capacity,
                ir_mohm: None,
                ocv_mv: None,
                self_discharge_mv_per_day: None,
                grade: None,
                source_code: source.map(String::from),
                status: CellStatus::Assembled,
                status_reason: None,
            }),
        )
    }

    fn pack(status: PackStatus, code: Option<&str>) -> Pack {
        Pack {
            id: 7,
            code: code.map(String::from),
            profile: "lfp-15s1p-100ah".into(),
            status,
            groups: vec![vec!["a".into()], vec!["b".into()]],
            created_at: String::new(),
            status_note: None,
        }
    }

    #[test]
    fn a_complete_assembled_pack_may_start() {
        let cells = [
            cell("a", Some(1.0), Some("M1")),
            cell("b", Some(1.0), Some("M2")),
        ];
        let b = blockers(
            &pack(PackStatus::Assembled, Some("PWT0000001")),
            &profile(),
            &cells,
        );
        assert!(b.is_empty(), "{b:?}");
    }

    #[test]
    fn missing_grading_or_source_names_the_cell() {
        let cells = [cell("a", None, Some("M1")), cell("b", Some(1.0), Some(""))];
        let b = blockers(
            &pack(PackStatus::Failed, Some("PWT0000001")),
            &profile(),
            &cells,
        );
        assert_eq!(b.len(), 2, "{b:?}");
        let text = describe(&b);
        assert!(text.contains("cell a has no graded capacity"), "{text}");
        assert!(
            text.contains("cell b has no source module/pack code"),
            "{text}"
        );
        assert!(text.contains("IEC 63338"), "{text}");
    }

    #[test]
    fn unassembled_uncoded_wrong_size_and_unknown_cells_are_refused() {
        let cells = [
            cell("a", Some(1.0), Some("M1")),
            ("ghost".to_string(), None),
            cell("c", Some(1.0), Some("M")),
        ];
        let b = blockers(&pack(PackStatus::Matched, None), &profile(), &cells);
        let text = describe(&b);
        assert!(text.contains("not assembled"), "{text}");
        assert!(text.contains("no traceability code"), "{text}");
        assert!(
            text.contains("holds 3 cells") && text.contains("needs 2"),
            "{text}"
        );
        assert!(text.contains("cell ghost has no record"), "{text}");
    }
}
