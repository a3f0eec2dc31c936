//! Guided assembly: which cell goes in which slot next, accepting or refusing each scanned cell
//! with a loud reason, and giving the finished pack its traceability code.
//!
//! Cells are placed in series-group order, parallel slot by slot, exactly as matched: a cell
//! that belongs elsewhere in the pack is refused too, because a swapped cell silently changes
//! the group capacities the match balanced.

use crate::domain::{Pack, PackStatus};
use crate::pack_code::{self, CodeError};
use crate::profile::Profile;
use crate::store::prelude::*;
use crate::store::{Actor, StoreError};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashSet;

/// A place in the pack, 0-based inside, printed 1-based (`S3P1`) as on the drawing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub series: usize,
    pub parallel: usize,
    pub cell_id: String,
}

impl Slot {
    pub fn label(&self) -> String {
        format!("S{}P{}", self.series + 1, self.parallel + 1)
    }
}

/// Why a scanned cell is not placed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("WRONG CELL: {scanned} belongs in slot {} of this pack, but slot {} ({}) comes first", own.label(), expected.label(), expected.cell_id)]
    OutOfOrder {
        scanned: String,
        own: Slot,
        expected: Slot,
    },
    #[error("CELL OF ANOTHER PACK: {scanned} is matched to pack {other}; put it back")]
    OtherPack { scanned: String, other: String },
    #[error("ALREADY PLACED: {scanned} is already in slot {}", slot.label())]
    AlreadyPlaced { scanned: String, slot: Slot },
    #[error(
        "UNKNOWN CELL: {scanned} is not in the cell inventory; set it aside and check its label"
    )]
    Unknown { scanned: String },
    #[error("REJECTED CELL: {why}; set it aside, it may not be placed")]
    OutOfStock { scanned: String, why: String },
    #[error("OPEN SLOT: slot {} of pack {pack} has no cell (its cell was taken out of the plan); fill it first: packwright packs rework {pack_id} --in CELL", slot.label())]
    OpenSlot {
        scanned: String,
        slot: Slot,
        pack: String,
        pack_id: i64,
    },
    #[error("WRONG CELL: {scanned} ({status}) is in no pack{}", expected.as_ref().map(|e| format!("; slot {} needs {}", e.label(), e.cell_id)).unwrap_or_default())]
    Unmatched {
        scanned: String,
        status: String,
        expected: Option<Slot>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("pack {pack} is {status}, not waiting for assembly")]
    NotAssembling { pack: String, status: PackStatus },
    #[error("pack {pack} still needs {remaining} cells; next is {} in slot {}", next.cell_id, next.label())]
    Incomplete {
        pack: String,
        remaining: usize,
        next: Slot,
    },
    #[error("pack {pack} was matched for profile '{pack_profile}', not '{profile}'")]
    WrongProfile {
        pack: String,
        pack_profile: String,
        profile: String,
    },
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pack's slots in placement order.
fn slots(pack: &Pack) -> impl Iterator<Item = Slot> + '_ {
    pack.groups.iter().enumerate().flat_map(|(s, group)| {
        group.iter().enumerate().map(move |(p, cell)| Slot {
            series: s,
            parallel: p,
            cell_id: cell.clone(),
        })
    })
}

/// Progress of a pack's assembly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub placed: usize,
    pub total: usize,
    /// `None` once every cell is placed.
    pub next: Option<Slot>,
}

pub fn progress(store: &dyn LineStore, pack: &Pack) -> Result<Progress, StoreError> {
    let placed: HashSet<String> = store.placed_cells(pack.id)?.into_iter().collect();
    let total = slots(pack).count();
    Ok(Progress {
        placed: placed.len(),
        total,
        next: slots(pack).find(|s| !placed.contains(&s.cell_id)),
    })
}

fn must_be_assembling(pack: &Pack) -> Result<(), AssemblyError> {
    if pack.status == PackStatus::Matched {
        Ok(())
    } else {
        Err(AssemblyError::NotAssembling {
            pack: pack.label(),
            status: pack.status,
        })
    }
}

/// Check a scanned cell against the next slot; place it when it is the right one. A refusal is
/// logged as a warning event (who scanned what, where) before it is returned.
pub fn scan(
    store: &dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    scanned: &str,
) -> Result<(Slot, Progress), AssemblyError> {
    must_be_assembling(pack)?;
    let scanned = scanned.trim();
    let before = progress(store, pack)?;
    // A rejected or scrapped cell is never placed, wherever it is listed.
    let out_of_stock = store
        .get_cell(scanned)?
        .as_ref()
        .and_then(crate::services::cells::unusable);
    let refusal = match before.next.as_ref() {
        _ if out_of_stock.is_some() => Some(Refusal::OutOfStock {
            scanned: scanned.to_string(),
            why: out_of_stock.unwrap_or_default(),
        }),
        Some(next) if next.cell_id.is_empty() => Some(Refusal::OpenSlot {
            scanned: scanned.to_string(),
            slot: next.clone(),
            pack: pack.label(),
            pack_id: pack.id,
        }),
        // Everything is placed: whatever was scanned now is in its slot already or foreign.
        None => refusal_for(store, pack, scanned, None)?,
        Some(next) if next.cell_id == scanned => None,
        Some(next) => refusal_for(store, pack, scanned, Some(next))?,
    };
    if let Some(refusal) = refusal {
        store.log_event(
            actor,
            "warning",
            &format!("assembly of pack {}: {refusal}", pack.label()),
        )?;
        return Err(refusal.into());
    }
    let Some(slot) = before.next else {
        // Unreachable in practice: with no next slot every scan is refused above.
        return Err(AssemblyError::NotAssembling {
            pack: pack.label(),
            status: pack.status,
        });
    };
    store.mark_cell_placed(pack.id, scanned)?;
    Ok((slot, progress(store, pack)?))
}

/// Why `scanned` may not go in the `expected` slot (`None` when no slot is open).
fn refusal_for(
    store: &dyn LineStore,
    pack: &Pack,
    scanned: &str,
    expected: Option<&Slot>,
) -> Result<Option<Refusal>, StoreError> {
    let scanned_s = scanned.to_string();
    if let Some(own) = slots(pack).find(|s| s.cell_id == scanned) {
        let placed = store.placed_cells(pack.id)?;
        return Ok(Some(if placed.iter().any(|c| c == scanned) {
            Refusal::AlreadyPlaced {
                scanned: scanned_s,
                slot: own,
            }
        } else {
            match expected {
                Some(e) => Refusal::OutOfOrder {
                    scanned: scanned_s,
                    own,
                    expected: e.clone(),
                },
                None => Refusal::AlreadyPlaced {
                    scanned: scanned_s,
                    slot: own,
                },
            }
        }));
    }
    if let Some(other) = store.pack_of_cell(scanned)? {
        let label = store
            .get_pack(other)?
            .map(|p| p.label())
            .unwrap_or_else(|| format!("#{other}"));
        return Ok(Some(Refusal::OtherPack {
            scanned: scanned_s,
            other: label,
        }));
    }
    Ok(Some(match store.get_cell(scanned)? {
        None => Refusal::Unknown { scanned: scanned_s },
        Some(cell) => Refusal::Unmatched {
            scanned: scanned_s,
            status: cell.status.to_string(),
            expected: expected.cloned(),
        },
    }))
}

/// Finish assembly: every cell placed, the pack gets `label` (a pre-printed code, validated
/// against the profile's scheme) or the next code of the scheme for `date`. Returns the code.
pub fn complete(
    store: &mut dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    profile: &Profile,
    label: Option<&str>,
    date: NaiveDate,
) -> Result<String, AssemblyError> {
    must_be_assembling(pack)?;
    if pack.profile != profile.name {
        return Err(AssemblyError::WrongProfile {
            pack: pack.label(),
            pack_profile: pack.profile.clone(),
            profile: profile.name.clone(),
        });
    }
    let p = progress(store, pack)?;
    if let Some(next) = p.next {
        return Err(AssemblyError::Incomplete {
            pack: pack.label(),
            remaining: p.total - p.placed,
            next,
        });
    }
    let code = match label {
        Some(code) => {
            let code = code.trim();
            pack_code::validate(&profile.pack_code, profile.chemistry, code)?;
            store.complete_assembly(actor, pack.id, code)?;
            code.to_string()
        }
        None => {
            // Another station may take the same serial between reading and writing: the store
            // refuses the duplicate, and the next serial is tried.
            let mut attempt = 0;
            loop {
                let prefix = pack_code::prefix(&profile.pack_code, profile.chemistry, date)?;
                let existing = store.pack_codes_with_prefix(&prefix)?;
                let code = pack_code::next(&profile.pack_code, profile.chemistry, date, &existing)?;
                match store.complete_assembly(actor, pack.id, &code) {
                    Ok(()) => break code,
                    Err(StoreError::Conflict(_)) if attempt < 3 => attempt += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    };
    store.log_event(
        actor,
        "info",
        &format!("pack #{} assembled and coded {code}", pack.id),
    )?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chemistry::Chemistry;
    use crate::intake::{parse_csv, IntakeDefaults};
    use crate::store::NewPack;
    use crate::store::Store;

    fn actor() -> Actor {
        Actor {
            station: "st".into(),
            operator: "ann".into(),
        }
    }

    fn profile() -> Profile {
        let mut p = Profile::load("lfp-16s2p-105ah").unwrap();
        p.series = 2;
        p
    }

    /// Two 2S2P packs (a: a1..a4, b: b1..b4) and a spare cell z.
    fn setup() -> (Store, Pack, Pack) {
        let mut store = Store::in_memory().unwrap();
        let d = IntakeDefaults {
            chemistry: Some(Chemistry::Lfp),
            source_code: Some("MOD".into()),
            ..Default::default()
        };
        let csv = "id,capacity_mah\na1,1000\na2,1000\na3,1000\na4,1000\nb1,1000\nb2,1000\nb3,1000\nb4,1000\nz,1000\n";
        let cells = parse_csv("g.csv", csv, &d).unwrap();
        store.import_cells(&actor(), "g.csv", &cells).unwrap();
        let pack = |x: &str| NewPack {
            groups: vec![
                vec![format!("{x}1"), format!("{x}2")],
                vec![format!("{x}3"), format!("{x}4")],
            ],
            metrics_json: "{}".into(),
        };
        let ids = store
            .commit_packs(&actor(), "lfp-16s2p-105ah", &[pack("a"), pack("b")])
            .unwrap();
        let a = store.get_pack(ids[0]).unwrap().unwrap();
        let b = store.get_pack(ids[1]).unwrap().unwrap();
        (store, a, b)
    }

    fn refusal(r: Result<(Slot, Progress), AssemblyError>) -> Refusal {
        match r {
            Err(AssemblyError::Refused(r)) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, 4).unwrap()
    }

    #[test]
    fn cells_go_in_slot_order_and_every_wrong_scan_says_why() {
        let (store, a, _) = setup();
        let (slot, p) = scan(&store, &actor(), &a, "a1").unwrap();
        assert_eq!(slot.label(), "S1P1");
        assert_eq!((p.placed, p.total), (1, 4));
        assert_eq!(p.next.unwrap().cell_id, "a2");

        let r = refusal(scan(&store, &actor(), &a, "a3"));
        assert_eq!(
            r.to_string(),
            "WRONG CELL: a3 belongs in slot S2P1 of this pack, but slot S1P2 (a2) comes first"
        );
        let r = refusal(scan(&store, &actor(), &a, "b2"));
        assert!(
            r.to_string()
                .starts_with("CELL OF ANOTHER PACK: b2 is matched to pack #2"),
            "{r}"
        );
        let r = refusal(scan(&store, &actor(), &a, "a1"));
        assert_eq!(r.to_string(), "ALREADY PLACED: a1 is already in slot S1P1");
        let r = refusal(scan(&store, &actor(), &a, "q9"));
        assert!(r.to_string().starts_with("UNKNOWN CELL: q9"), "{r}");
        let r = refusal(scan(&store, &actor(), &a, "z"));
        assert_eq!(
            r.to_string(),
            "WRONG CELL: z (available) is in no pack; slot S1P2 needs a2"
        );
        // Refusals are on the record; the placement did not move.
        assert!(store.recent_events(1).unwrap()[0]
            .2
            .contains("WRONG CELL: z"));
        assert_eq!(progress(&store, &a).unwrap().placed, 1);
    }

    #[test]
    fn completion_needs_every_cell_then_codes_the_pack_with_the_next_serial() {
        let (mut store, a, b) = setup();
        let err = complete(&mut store, &actor(), &a, &profile(), None, day()).unwrap_err();
        assert!(
            err.to_string()
                .contains("still needs 4 cells; next is a1 in slot S1P1"),
            "{err}"
        );
        for c in ["a1", "a2", "a3", "a4"] {
            scan(&store, &actor(), &a, c).unwrap();
        }
        let code = complete(&mut store, &actor(), &a, &profile(), None, day()).unwrap();
        assert_eq!(code, "PW2P000001");
        let a = store.get_pack(a.id).unwrap().unwrap();
        assert_eq!(a.status, PackStatus::Assembled);
        assert!(matches!(
            scan(&store, &actor(), &a, "a1"),
            Err(AssemblyError::NotAssembling { .. })
        ));

        for c in ["b1", "b2", "b3", "b4"] {
            scan(&store, &actor(), &b, c).unwrap();
        }
        // A pre-printed label must fit the scheme and be unused.
        let err =
            complete(&mut store, &actor(), &b, &profile(), Some("PW2P12"), day()).unwrap_err();
        assert!(err.to_string().contains("^PW2P[0-9]{6}$"), "{err}");
        let err = complete(
            &mut store,
            &actor(),
            &b,
            &profile(),
            Some("PW2P000001"),
            day(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("already on pack"), "{err}");
        assert_eq!(
            complete(&mut store, &actor(), &b, &profile(), None, day()).unwrap(),
            "PW2P000002"
        );
    }

    #[test]
    fn gbt_codes_for_a_pack_of_a_gbt_profile() {
        let (mut store, a, _) = setup();
        for c in ["a1", "a2", "a3", "a4"] {
            scan(&store, &actor(), &a, c).unwrap();
        }
        let mut p = profile();
        p.pack_code = crate::profile::PackCodeScheme::Gbt34014 {
            manufacturer: "09K".into(),
            spec: "51".into(),
            traceability: "ESS0210".into(),
        };
        let code = complete(&mut store, &actor(), &a, &p, None, day()).unwrap();
        assert_eq!(code, "09KPB51ESS0210G540000001");
        pack_code::validate(&p.pack_code, Chemistry::Lfp, &code).unwrap();
    }
}
