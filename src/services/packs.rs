//! Pack states, once for both faces: which pack may be tested, released, scrapped or
//! reworked, whether a replacement cell fits the pack, and the profile text a pack carries.

use super::{Result, ServiceError};
use crate::domain::{Cell, CellStatus, Pack, PackStatus};
use crate::profile::{sha256_hex, Profile, ProfileSource};
use crate::store::prelude::*;
use crate::store::{Actor, ProfileRecord};

/// Whether an end-of-line test may start on `pack` as far as its state goes (the run's
/// own pre-check covers the rest).
pub fn testable(pack: &Pack) -> Result<()> {
    let why = match pack.status {
        PackStatus::OnHold => format!(
            "it is ON HOLD ({}); rework it (packs rework) or scrap it (packs scrap)",
            note(pack)
        ),
        PackStatus::Released => "it was released; its cells are back in stock".into(),
        PackStatus::Scrapped => "it is scrapped".into(),
        _ => return Ok(()),
    };
    Err(ServiceError::Refused(format!(
        "pack {} cannot be tested: {why}",
        pack.label()
    )))
}

fn note(pack: &Pack) -> &str {
    pack.status_note.as_deref().unwrap_or("no reason recorded")
}

/// The text a committed pack keeps of its profile.
pub fn record_of(source: &ProfileSource) -> ProfileRecord {
    ProfileRecord {
        toml: source.text.clone(),
        sha256: source.sha256(),
        origin: source.origin.clone(),
    }
}

/// The profile `pack` was matched with: the text kept with it, or (for packs committed before
/// profiles were kept) the profile of that name as found now.
pub fn profile_of(store: &dyn LineStore, pack: &Pack) -> Result<Profile> {
    let kept = store.pack_profile(pack.id)?;
    let loaded = match &kept.record {
        Some(r) => Profile::from_kept(&kept.name, &r.origin, &r.toml),
        None => Profile::load(&pack.profile),
    };
    loaded.map_err(|e| {
        ServiceError::Refused(format!(
            "pack {} needs its profile '{}': {e}",
            pack.label(),
            pack.profile
        ))
    })
}

/// When the profile file a pack was matched with has changed since (a new version), what to
/// tell the operator; `None` when it is unchanged, gone, or not kept.
pub fn profile_drift(store: &dyn LineStore, pack: &Pack) -> Result<Option<String>> {
    let kept = store.pack_profile(pack.id)?;
    let Some(r) = kept.record else {
        return Ok(None);
    };
    let Some(now) = Profile::text_at_origin(&r.origin) else {
        return Ok(None);
    };
    let sha = sha256_hex(&now);
    Ok((sha != r.sha256).then(|| {
        format!(
            "profile '{}' at {} changed since pack {} was matched (kept sha256 {}, now {}); \
             the kept version is used: `packwright packs profile {} --adopt-disk --reason …` \
             to use the new one",
            kept.name,
            r.origin,
            pack.label(),
            &r.sha256[..12],
            &sha[..12],
            pack.id
        )
    }))
}

/// Replace the profile text kept with `pack` by the file's current text: an explicit,
/// logged choice. The new text must load as a valid profile.
pub fn adopt_disk_profile(
    store: &mut dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    reason: &str,
) -> Result<ProfileRecord> {
    super::authority::require(store, actor, super::authority::Action::ProfileChange)?;
    let kept = store.pack_profile(pack.id)?;
    let origin = kept
        .record
        .map(|r| r.origin)
        .unwrap_or_else(|| pack.profile.clone());
    // The new text must be a valid profile before it replaces the kept one.
    let source = match Profile::text_at_origin(&origin) {
        Some(text) => {
            Profile::from_kept(&kept.name, &origin, &text)?;
            ProfileSource { text, origin }
        }
        None => Profile::load_with_source(&pack.profile)?.1,
    };
    let record = record_of(&source);
    store.set_pack_profile(actor, pack.id, &record, reason)?;
    store.log_event(
        actor,
        "warning",
        &format!(
            "pack {} now uses profile '{}' as on disk (sha256 {}): {reason}",
            pack.label(),
            kept.name,
            &record.sha256[..12]
        ),
    )?;
    Ok(record)
}

/// Release a matched pack: its cells back to available. Returns the cells.
pub fn release(
    store: &mut dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    reason: &str,
) -> Result<Vec<String>> {
    super::authority::require(store, actor, super::authority::Action::ReworkRelease)?;
    if pack.status != PackStatus::Matched {
        return Err(ServiceError::Refused(format!(
            "pack {} is {}: only a matched pack can be released (scrap or rework a built one)",
            pack.label(),
            pack.status
        )));
    }
    let cells = store.release_pack(actor, pack.id, reason)?;
    store.log_event(
        actor,
        "info",
        &format!(
            "pack {} released ({reason}): {} cells back to available",
            pack.label(),
            cells.len()
        ),
    )?;
    Ok(cells)
}

/// What became of one cell of a scrapped pack.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CellFate {
    pub cell: String,
    /// `available` or `scrapped` (or the cell's rejected status kept).
    pub status: String,
}

/// Scrap a pack: each cell scrapped, or back to stock with `to_stock` (a rejected or
/// scrapped cell is never returned to stock this way: un-reject it on its own).
pub fn scrap(
    store: &mut dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    reason: &str,
    to_stock: bool,
) -> Result<Vec<CellFate>> {
    super::authority::require(store, actor, super::authority::Action::Scrap)?;
    if matches!(pack.status, PackStatus::Scrapped | PackStatus::Released) {
        return Err(ServiceError::Refused(format!(
            "pack {} is {} already",
            pack.label(),
            pack.status
        )));
    }
    if reason.trim().is_empty() {
        return Err(ServiceError::Refused(
            "scrapping a pack needs a reason".into(),
        ));
    }
    let mut back = Vec::new();
    let mut scrapped = Vec::new();
    let mut fates = Vec::new();
    for cell in pack.groups.iter().flatten().filter(|c| !c.is_empty()) {
        let status = store
            .get_cell(cell)?
            .map(|c| c.status)
            .unwrap_or(CellStatus::Scrapped);
        if to_stock && !status.is_out_of_stock() {
            back.push(cell.clone());
            fates.push(CellFate {
                cell: cell.clone(),
                status: "available".into(),
            });
        } else {
            scrapped.push(cell.clone());
            fates.push(CellFate {
                cell: cell.clone(),
                status: if status == CellStatus::Rejected && to_stock {
                    // Rejected cells are not returned to stock with the pack.
                    "scrapped (was rejected)".into()
                } else {
                    "scrapped".into()
                },
            });
        }
    }
    store.scrap_pack(actor, pack.id, reason, &back, &scrapped)?;
    store.log_event(
        actor,
        "warning",
        &format!(
            "pack {} scrapped ({reason}): {} cells back to stock, {} scrapped",
            pack.label(),
            back.len(),
            scrapped.len()
        ),
    )?;
    Ok(fates)
}

/// A finished rework.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reworked {
    pub slot: String,
    pub out: Option<String>,
    /// What became of the cell taken out: it keeps a rejected or scrapped status, else it is
    /// back to available.
    pub out_status: Option<CellStatus>,
    pub into: String,
    /// The pack's status now: `assembled` (needs configuration and a new test) or `matched`.
    pub status: PackStatus,
}

/// Replace `out` by `into` in a built or held pack (or fill an open slot of a matched pack
/// when `out` is `None`). `into` must be available and fit the pack's limits.
pub fn rework(
    store: &mut dyn LineStore,
    actor: &Actor,
    pack: &Pack,
    profile: &Profile,
    out: Option<&str>,
    into: &str,
    reason: &str,
) -> Result<Reworked> {
    super::authority::require(store, actor, super::authority::Action::ReworkRelease)?;
    let built = pack.status.is_built();
    if !built && pack.status != PackStatus::Matched {
        return Err(ServiceError::Refused(format!(
            "pack {} is {}: nothing can be reworked",
            pack.label(),
            pack.status
        )));
    }
    let slot = match out {
        Some(out) => find_slot(pack, out).ok_or_else(|| {
            ServiceError::Refused(format!("cell {out} is not in pack {}", pack.label()))
        })?,
        None => find_slot(pack, "").ok_or_else(|| {
            ServiceError::Refused(format!(
                "pack {} has no open slot: name the cell to take out with --out",
                pack.label()
            ))
        })?,
    };
    let new = store
        .get_cell(into)?
        .ok_or_else(|| ServiceError::NotFound(format!("no cell '{into}' in the inventory")))?;
    let mut cells: Vec<Vec<Option<Cell>>> = Vec::new();
    for group in &pack.groups {
        let mut g = Vec::new();
        for id in group {
            g.push(if id.is_empty() {
                None
            } else {
                store.get_cell(id)?
            });
        }
        cells.push(g);
    }
    fits(profile, &cells, slot, &new).map_err(|why| {
        ServiceError::Refused(format!(
            "cell {into} cannot go into pack {} slot S{}P{}: {why}",
            pack.label(),
            slot.0 + 1,
            slot.1 + 1
        ))
    })?;
    store.rework_pack(actor, pack.id, out, into, slot, built, reason)?;
    let out_status = match out {
        Some(id) => store.get_cell(id)?.map(|c| c.status),
        None => None,
    };
    let label = format!("S{}P{}", slot.0 + 1, slot.1 + 1);
    store.log_event(
        actor,
        "info",
        &format!(
            "pack {} reworked ({reason}): {label} {} out, {into} in",
            pack.label(),
            out.unwrap_or("(open slot)")
        ),
    )?;
    Ok(Reworked {
        slot: label,
        out: out.map(str::to_string),
        out_status,
        into: into.to_string(),
        status: if built {
            PackStatus::Assembled
        } else {
            PackStatus::Matched
        },
    })
}

fn find_slot(pack: &Pack, cell: &str) -> Option<(usize, usize)> {
    pack.groups
        .iter()
        .enumerate()
        .find_map(|(s, g)| g.iter().position(|c| c == cell).map(|p| (s, p)))
}

/// Whether `new` may take `slot` of a pack whose cells are `cells` (`None`: open slot): it
/// is available, of the profile's chemistry (and the pack's model unless mixing is allowed),
/// within the profile's cell limits, and the series groups stay within the capacity spread
/// (and its parallel group within the OCV delta).
pub fn fits(
    profile: &Profile,
    cells: &[Vec<Option<Cell>>],
    slot: (usize, usize),
    new: &Cell,
) -> std::result::Result<(), String> {
    if new.status != CellStatus::Available {
        return Err(format!(
            "it is {}{}, not available",
            new.status,
            new.status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    if new.chemistry != profile.chemistry {
        return Err(format!(
            "it is {}, the pack is {}",
            new.chemistry, profile.chemistry
        ));
    }
    let others = || {
        cells
            .iter()
            .enumerate()
            .flat_map(|(s, g)| g.iter().enumerate().map(move |(p, c)| ((s, p), c)))
            .filter(move |(at, _)| *at != slot)
            .filter_map(|(_, c)| c.as_ref())
    };
    if !profile.allow_mixed_models {
        if let Some(model) = others().find_map(|c| c.model.clone()) {
            if new.model.as_deref() != Some(model.as_str()) {
                return Err(format!(
                    "its model is {}, the pack's is {model}",
                    new.model.as_deref().unwrap_or("unknown")
                ));
            }
        }
    }
    let t = &profile.tolerances;
    let cap = new
        .capacity_mah
        .ok_or_else(|| "it has no graded capacity".to_string())?;
    if cap < t.capacity_floor_mah {
        return Err(format!(
            "its capacity {cap:.0} mAh is below the profile's floor {:.0} mAh",
            t.capacity_floor_mah
        ));
    }
    if let (Some(lim), Some(ir)) = (t.ir_ceiling_mohm, new.ir_mohm) {
        if ir > lim {
            return Err(format!("its IR {ir:.3} mΩ is above the ceiling {lim} mΩ"));
        }
    }
    if let (Some(lim), Some(sd)) = (
        t.self_discharge_ceiling_mv_per_day,
        new.self_discharge_mv_per_day,
    ) {
        if sd > lim {
            return Err(format!(
                "its self-discharge {sd} mV/day is above the ceiling {lim} mV/day"
            ));
        }
    }
    if let (Some(lim), Some(ocv)) = (t.max_ocv_delta_mv, new.ocv_mv) {
        for (p, c) in cells[slot.0].iter().enumerate() {
            if let Some(other) = c.as_ref().filter(|_| p != slot.1).and_then(|c| c.ocv_mv) {
                if (other - ocv).abs() > lim {
                    return Err(format!(
                        "its OCV {ocv:.0} mV is {:.0} mV from its parallel neighbour's (limit {lim} mV)",
                        (other - ocv).abs()
                    ));
                }
            }
        }
    }
    if let Some(lim) = t.max_group_capacity_spread_pct {
        let sums: Vec<f64> = cells
            .iter()
            .enumerate()
            .map(|(s, g)| {
                g.iter()
                    .enumerate()
                    .map(|(p, c)| {
                        if (s, p) == slot {
                            cap
                        } else {
                            c.as_ref().and_then(|c| c.capacity_mah).unwrap_or(0.0)
                        }
                    })
                    .sum()
            })
            .collect();
        let max = sums.iter().copied().fold(f64::MIN, f64::max);
        let min = sums.iter().copied().fold(f64::MAX, f64::min);
        let mean = sums.iter().sum::<f64>() / sums.len().max(1) as f64;
        let spread = if mean > 0.0 {
            (max - min) / mean * 100.0
        } else {
            0.0
        };
        if spread > lim + 1e-9 {
            return Err(format!(
                "with it the series groups' capacities would spread {spread:.2} % (limit {lim} %); \
                 series group S{} needs a cell near {:.0} mAh",
                slot.0 + 1,
                cap - (sums[slot.0] - mean)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chemistry::Chemistry;
    use crate::services::cells;
    use crate::store::testing::{actor, assemble, store_with_pack};

    fn cell(id: &str, cap: f64) -> Cell {
        Cell {
            id: id.into(),
            chemistry: Chemistry::Lfp,
            model: Some("M".into()),
            capacity_mah: Some(cap),
            ir_mohm: Some(0.5),
            ocv_mv: Some(3300.0),
            self_discharge_mv_per_day: Some(1.0),
            grade: None,
            source_code: Some("S".into()),
            status: CellStatus::Available,
            status_reason: None,
        }
    }

    /// A 15S1P pack of 95 Ah cells.
    fn pack_cells() -> Vec<Vec<Option<Cell>>> {
        (0..15)
            .map(|i| vec![Some(cell(&format!("c{i}"), 95_000.0))])
            .collect()
    }

    #[test]
    fn a_replacement_must_be_available_of_the_pack_kind_and_within_the_group_spread() {
        let profile = Profile::load("lfp-15s1p-100ah").unwrap();
        let cells = pack_cells();
        assert_eq!(fits(&profile, &cells, (3, 0), &cell("n", 95_500.0)), Ok(()));

        let mut rejected = cell("n", 95_000.0);
        rejected.status = CellStatus::Rejected;
        rejected.status_reason = Some("swollen".into());
        let e = fits(&profile, &cells, (3, 0), &rejected).unwrap_err();
        assert!(e.contains("rejected (swollen)"), "{e}");

        let mut nmc = cell("n", 95_000.0);
        nmc.chemistry = Chemistry::Nmc;
        assert!(fits(&profile, &cells, (3, 0), &nmc).is_err());

        let mut other_model = cell("n", 95_000.0);
        other_model.model = Some("Z".into());
        let e = fits(&profile, &cells, (3, 0), &other_model).unwrap_err();
        assert!(e.contains("model"), "{e}");

        // 3 % spread: 95 Ah groups with one at 85 Ah is out, and says what would fit.
        let e = fits(&profile, &cells, (3, 0), &cell("n", 85_000.0)).unwrap_err();
        assert!(e.contains("spread") && e.contains("S4"), "{e}");

        let mut hot = cell("n", 95_000.0);
        hot.ocv_mv = None;
        hot.ir_mohm = Some(5.0);
        assert!(fits(&profile, &cells, (3, 0), &hot)
            .unwrap_err()
            .contains("IR"));
    }

    #[test]
    fn held_released_and_scrapped_packs_are_not_tested() {
        let (mut store, id) = store_with_pack();
        assemble(&mut store, id, "PW1");
        let pack = store.get_pack(id).unwrap().unwrap();
        assert!(testable(&pack).is_ok());
        cells::reject(&mut store, &actor(), "a", false, "swollen").unwrap();
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::OnHold);
        let e = testable(&pack).unwrap_err().to_string();
        assert!(e.contains("ON HOLD") && e.contains("swollen"), "{e}");
        let e = crate::services::bench::configurable(&pack)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ON HOLD"), "{e}");
        // A held pack is listed as such.
        assert_eq!(store.list_packs(Some(PackStatus::OnHold)).unwrap().len(), 1);
        assert!(store
            .list_packs(Some(PackStatus::Assembled))
            .unwrap()
            .is_empty());
        let fates = scrap(&mut store, &actor(), &pack, "dropped", true).unwrap();
        assert_eq!(fates[0].status, "scrapped (was rejected)");
        assert_eq!(fates[1].status, "available");
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::Scrapped);
        assert!(testable(&pack).is_err());
        assert!(scrap(&mut store, &actor(), &pack, "again", false).is_err());
    }

    #[test]
    fn only_a_matched_pack_is_released_and_its_cells_are_free_again() {
        let (mut store, id) = store_with_pack();
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(
            release(&mut store, &actor(), &pack, "r").unwrap(),
            ["a", "b"]
        );
        let pack = store.get_pack(id).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::Released);
        assert!(pack.groups.is_empty());
        assert!(release(&mut store, &actor(), &pack, "r").is_err());
        assert_eq!(
            store.get_cell("a").unwrap().unwrap().status,
            CellStatus::Available
        );
        assert!(store.pack_of_cell("a").unwrap().is_none());
        let verbs: Vec<String> = store
            .state_changes_for_pack(id)
            .unwrap()
            .into_iter()
            .map(|c| c.verb)
            .collect();
        assert_eq!(verbs, ["pack release"]);
    }
}
