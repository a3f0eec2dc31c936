//! Matching as a service of the line: a profile and the store's cells in, proposed packs out,
//! and the commit that reserves their cells. The algorithm itself is the pure
//! `packwright-matching` crate; this module only translates to and from it.

use crate::domain::Cell;
use crate::profile::{Profile, ProfileSource};
use crate::store::prelude::*;
use crate::store::{Actor, NewPack, StoreError};
use packwright_matching::MatchSpec;
pub use packwright_matching::{CellInput, MatchError, MatchOutcome, MatchedPack};

/// The matcher's spec for a profile.
pub fn spec_for(profile: &Profile) -> MatchSpec {
    let t = &profile.tolerances;
    MatchSpec {
        series: profile.series as usize,
        parallel: profile.parallel as usize,
        chemistry: profile.chemistry.name().to_string(),
        capacity_floor_mah: t.capacity_floor_mah,
        ir_ceiling_mohm: t.ir_ceiling_mohm,
        self_discharge_ceiling_mv_per_day: t.self_discharge_ceiling_mv_per_day,
        max_group_ocv_delta_mv: t.max_ocv_delta_mv,
        max_group_ir_spread_mohm: t.max_group_ir_spread_mohm,
        max_group_capacity_spread_pct: t.max_group_capacity_spread_pct,
        allow_mixed_models: profile.allow_mixed_models,
        ir_weight: t.ir_weight,
        balance_slack_mah: t.balance_slack_mah,
        balance_slack_pct: t.balance_slack_pct,
    }
}

pub fn input_of(cell: &Cell) -> CellInput {
    CellInput {
        id: cell.id.clone(),
        capacity_mah: cell.capacity_mah,
        ir_mohm: cell.ir_mohm,
        ocv_mv: cell.ocv_mv,
        self_discharge_mv_per_day: cell.self_discharge_mv_per_day,
        chemistry: cell.chemistry.name().to_string(),
        model: cell.model.clone(),
    }
}

/// [`input_of`], taking the cell (its strings move, nothing is copied).
pub fn into_input(cell: Cell) -> CellInput {
    CellInput {
        chemistry: cell.chemistry.name().to_string(),
        id: cell.id,
        capacity_mah: cell.capacity_mah,
        ir_mohm: cell.ir_mohm,
        ocv_mv: cell.ocv_mv,
        self_discharge_mv_per_day: cell.self_discharge_mv_per_day,
        model: cell.model,
    }
}

/// Propose packs for `profile` from `cells` (normally the available ones).
pub fn propose(profile: &Profile, cells: &[Cell]) -> Result<MatchOutcome, MatchError> {
    let inputs: Vec<CellInput> = cells.iter().map(input_of).collect();
    propose_inputs(profile, &inputs)
}

/// [`propose`] from the matcher's inputs (a caller with a million cells converts them as it
/// reads them, and never holds both).
pub fn propose_inputs(profile: &Profile, inputs: &[CellInput]) -> Result<MatchOutcome, MatchError> {
    let started = std::time::Instant::now();
    let mut out = packwright_matching::match_cells(inputs, &spec_for(profile))?;
    out.summary.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(out)
}

/// Commit the chosen packs: one transaction creates them, reserves their cells and keeps the
/// profile text (`source`) with each.
/// Returns the new pack ids, in the order given.
pub fn commit(
    store: &mut dyn LineStore,
    actor: &Actor,
    profile: &Profile,
    source: Option<&ProfileSource>,
    packs: &[&MatchedPack],
) -> Result<Vec<i64>, StoreError> {
    commit_with_progress(store, actor, profile, source, packs, &mut |_| {})
}

/// [`commit`], calling `progress` with the number of packs committed so far (the commit goes
/// in chunks, see `PackRecords::commit_packs`).
pub fn commit_with_progress(
    store: &mut dyn LineStore,
    actor: &Actor,
    profile: &Profile,
    source: Option<&ProfileSource>,
    packs: &[&MatchedPack],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<i64>, StoreError> {
    let new: Vec<NewPack> = packs
        .iter()
        .map(|p| NewPack {
            groups: p.groups.clone(),
            metrics_json: serde_json::to_string(&p.metrics).unwrap_or_default(),
        })
        .collect();
    // The profile's text travels with each pack, so a pack never depends on the file again.
    let record = source.map(crate::services::packs::record_of);
    let ids =
        store.commit_packs_with_progress(actor, &profile.name, record.as_ref(), &new, progress)?;
    store.log_event(
        actor,
        "info",
        &format!(
            "matched {} {} packs: {}",
            ids.len(),
            profile.name,
            ids.iter()
                .map(|i| format!("#{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )?;
    Ok(ids)
}
