//! Traceability: the lineage of a pack (its cells, where each came from, its grading data, its
//! BMS configuration writes and its test runs), the lineage of a source module (the packs that
//! hold its cells), and the fields a battery passport or traceability platform asks for.

use crate::chemistry::Chemistry;
use crate::domain::Cell;
use crate::eol::record::RunHeader;
use crate::eol::RunOutcome;
use crate::profile::Profile;
use crate::store::prelude::*;
use crate::store::{BmsWriteRecord, CellLink, PackRecord, SourceCell, StateChange, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// Identifies the passport export layout.
pub const PASSPORT_FORMAT: &str = "packwright.passport/1";

/// A cell of a pack with its position, provenance and grading record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageCell {
    /// `S3P1`: series group 3, parallel slot 1 (1-based, as printed on the drawing).
    pub position: String,
    #[serde(flatten)]
    pub link: CellLink,
    /// `None` when the cell id has no inventory record (never expected; shown, not hidden).
    pub grading: Option<Cell>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceCount {
    pub source_code: String,
    pub cells: usize,
}

/// Pack → cells → sources, with configuration writes, test runs and the passport fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackLineage {
    pub pack: PackRecord,
    pub cells: Vec<LineageCell>,
    pub sources: Vec<SourceCount>,
    pub bms_writes: Vec<BmsWriteRecord>,
    pub eol_runs: Vec<RunHeader>,
    /// Holds, rework, releases, rejections of its cells: every state change, oldest first.
    pub state_changes: Vec<StateChange>,
    pub passport: Passport,
    /// Its audit entries (its cells' while in it included), in chain order.
    pub audit: Vec<crate::audit::Entry>,
}

/// A pack that holds cells of a source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourcePack {
    pub pack_id: i64,
    pub code: Option<String>,
    pub profile: String,
    pub status: String,
    pub cells: Vec<String>,
    pub latest_eol: Option<RunOutcome>,
}

/// Source → the packs that contain its cells, and its cells not in any pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceLineage {
    pub source_code: String,
    pub packs: Vec<SourcePack>,
    /// Cells of the source in no pack, with their status (available, rejected…).
    pub unpacked: Vec<SourceCell>,
}

/// One cell: its record, where it came from and where it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellLineage {
    pub cell: Cell,
    pub graded_from_file: Option<String>,
    pub imported_at: Option<String>,
    pub pack: Option<PackRecord>,
    pub position: Option<String>,
    /// Every state change of the cell (rejections, rework, source codes), oldest first.
    pub state_changes: Vec<StateChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lineage {
    Pack(Box<PackLineage>),
    Source(SourceLineage),
    Cell(Box<CellLineage>),
}

/// The fields a battery passport (EU 2023/1542 Annex XIII) or a traceability platform asks
/// for, computed from the records. Keys carry their unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passport {
    pub format: &'static str,
    pub pack_code: Option<String>,
    /// The pack's status on the line (`passed`, `on_hold`, …).
    pub pack_status: String,
    /// Set when the pack is on hold: why, by whom, when. Such a pack is not to be exported as
    /// good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_hold: Option<String>,
    /// Annex XIII 4(c) status; every Packwright pack is built from second-life cells.
    pub battery_status: &'static str,
    pub profile: String,
    pub chemistry: Option<Chemistry>,
    /// `16S2P`.
    pub configuration: Option<String>,
    pub cell_count: usize,
    pub nominal_voltage_v: Option<f64>,
    /// The re-declared capacity written into the BMS.
    pub rated_capacity_ah: Option<f64>,
    pub rated_energy_kwh: Option<f64>,
    /// The weakest series group's summed graded capacity: what the pack can deliver.
    pub measured_capacity_ah: Option<f64>,
    /// Measured capacity over the cells' original nominal capacity × parallel count.
    pub state_of_health_pct: Option<f64>,
    /// Σ over series groups of the group's parallel cell resistance (cells only).
    pub pack_resistance_mohm: Option<f64>,
    /// How fast the series groups drift apart from their self-discharge spread (an estimate
    /// under the assumptions of `pack_health`).
    pub drift: Option<crate::pack_health::Drift>,
    pub cell_ir_mean_mohm: Option<f64>,
    pub cell_ir_max_mohm: Option<f64>,
    pub source_codes: Vec<String>,
    pub assembled_at: Option<String>,
    pub eol_outcome: Option<RunOutcome>,
    pub eol_run_id: Option<i64>,
    pub eol_tested_at: Option<String>,
    pub eol_plan_version: Option<String>,
    pub eol_station: Option<String>,
    pub eol_operator: Option<String>,
    /// Which passport fields could not be computed, and why.
    pub gaps: Vec<String>,
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Passport fields from a pack's records. `profile` is `None` when the pack's profile can no
/// longer be loaded; the fields that need it are then listed in `gaps`.
pub fn passport(
    pack: &PackRecord,
    profile: Option<&Profile>,
    cells: &[LineageCell],
    sources: &[SourceCount],
    runs: &[RunHeader],
) -> Passport {
    let mut gaps = Vec::new();
    let on_hold = (pack.status == "on_hold").then(|| {
        pack.status_note
            .clone()
            .unwrap_or_else(|| "no reason recorded".into())
    });
    if let Some(why) = &on_hold {
        gaps.push(format!(
            "pack is ON HOLD ({why}): not to be exported as good until reworked and retested"
        ));
    }
    if profile.is_none() {
        gaps.push(format!(
            "profile '{}' cannot be loaded: chemistry, ratings and state of health are unknown",
            pack.profile
        ));
    }
    let graded: Vec<&Cell> = cells.iter().filter_map(|c| c.grading.as_ref()).collect();
    let chemistry = profile
        .map(|p| p.chemistry)
        .or_else(|| graded.first().map(|c| c.chemistry));

    // The pack's health from its cells (`pack_health`): the weakest series group's capacity,
    // SOH against the cell model's rating, the groups' resistance and drift.
    let health = pack_health_of(cells, profile);
    let health = match health {
        Ok(h) => Some(h),
        Err(why) => {
            gaps.push(format!("measured capacity and state of health: {why}"));
            None
        }
    };
    let measured_mah = health.as_ref().map(|h| h.capacity_mah);
    let state_of_health_pct = health.as_ref().map(|h| round(h.soh_pct, 1));
    let irs: Vec<f64> = graded.iter().filter_map(|c| c.ir_mohm).collect();
    if irs.len() < cells.len() {
        gaps.push(format!(
            "cell internal resistance: graded for {} of {} cells",
            irs.len(),
            cells.len()
        ));
    }
    // The verdict is the latest run that reached one; error and aborted attempts are no verdict.
    let verdict = runs
        .iter()
        .rev()
        .find(|r| matches!(r.outcome, RunOutcome::Pass | RunOutcome::Fail));
    if verdict.is_none() {
        gaps.push("no end-of-line verdict yet".into());
    }
    let nominal_voltage_v = profile.map(Profile::nominal_voltage_v);
    let rated_capacity_ah = profile.map(|p| f64::from(p.bms.design_capacity_mah) / 1000.0);
    Passport {
        format: PASSPORT_FORMAT,
        pack_code: pack.code.clone(),
        pack_status: pack.status.clone(),
        on_hold,
        battery_status: "repurposed",
        profile: pack.profile.clone(),
        chemistry,
        configuration: profile.map(|p| format!("{}S{}P", p.series, p.parallel)),
        cell_count: cells.len(),
        nominal_voltage_v,
        rated_capacity_ah,
        rated_energy_kwh: match (nominal_voltage_v, rated_capacity_ah) {
            (Some(v), Some(ah)) => Some(round(v * ah / 1000.0, 2)),
            _ => None,
        },
        measured_capacity_ah: measured_mah.map(|m| round(m / 1000.0, 3)),
        state_of_health_pct,
        pack_resistance_mohm: health
            .as_ref()
            .and_then(|h| h.resistance_mohm)
            .map(|r| round(r, 3)),
        drift: health.and_then(|h| h.drift),
        cell_ir_mean_mohm: (!irs.is_empty())
            .then(|| round(irs.iter().sum::<f64>() / irs.len() as f64, 3)),
        cell_ir_max_mohm: irs.iter().copied().reduce(f64::max),
        source_codes: sources.iter().map(|s| s.source_code.clone()).collect(),
        assembled_at: pack.assembled_at.clone(),
        eol_outcome: verdict.map(|r| r.outcome),
        eol_run_id: verdict.map(|r| r.id),
        eol_tested_at: verdict.and_then(|r| r.ended_at.clone()),
        eol_plan_version: verdict.map(|r| r.plan_version.clone()),
        eol_station: verdict.map(|r| r.station.clone()),
        eol_operator: verdict.map(|r| r.operator.clone()),
        gaps,
    }
}

/// The health of a pack from its cells in their series groups, or why it cannot be computed.
pub fn pack_health_of(
    cells: &[LineageCell],
    profile: Option<&Profile>,
) -> Result<crate::pack_health::PackHealth, String> {
    let mut groups: BTreeMap<i64, Vec<&Cell>> = BTreeMap::new();
    for c in cells {
        let cell = c
            .grading
            .as_ref()
            .ok_or_else(|| format!("cell {} has no inventory record", c.link.cell_id))?;
        if cell.capacity_mah.is_none() {
            return Err(format!("cell {} has no graded capacity", cell.id));
        }
        groups.entry(c.link.series_index).or_default().push(cell);
    }
    let profile = profile.ok_or("the pack's profile cannot be loaded")?;
    let groups: Vec<Vec<&Cell>> = groups.into_values().collect();
    crate::pack_health::pack_health(&groups, profile.nominal_capacity_mah)
        .map_err(|e| e.to_string())
}

/// The numeric measurements of an end-of-line run, by name (the last one of a name wins), for
/// the passport (`pack_mass_kg`, `state_of_charge_pct`, …).
pub fn run_numbers(
    store: &dyn LineStore,
    run_id: i64,
) -> Result<std::collections::BTreeMap<String, f64>, StoreError> {
    Ok(store
        .eol_measurements(run_id)?
        .into_iter()
        .filter_map(|m| Some((m.name, m.value.and_then(|v| v.as_num())?)))
        .collect())
}

fn position(link: &CellLink) -> String {
    format!("S{}P{}", link.series_index + 1, link.parallel_index + 1)
}

/// The full lineage of one pack.
pub fn pack_lineage(
    store: &dyn LineStore,
    pack_id: i64,
) -> Result<Option<PackLineage>, StoreError> {
    let Some(pack) = store.pack_record(pack_id)? else {
        return Ok(None);
    };
    let mut cells = Vec::new();
    for link in store.pack_cell_links(pack_id)? {
        cells.push(LineageCell {
            position: position(&link),
            grading: store.get_cell(&link.cell_id)?,
            link,
        });
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &cells {
        let code = c
            .link
            .source_code
            .clone()
            .unwrap_or_else(|| "(none recorded)".into());
        *counts.entry(code).or_default() += 1;
    }
    let sources: Vec<SourceCount> = counts
        .into_iter()
        .map(|(source_code, cells)| SourceCount { source_code, cells })
        .collect();
    let eol_runs = store.eol_runs_for_pack(pack_id)?;
    // The profile text kept with the pack (older packs: the profile of that name now).
    let profile = match store.pack_profile(pack_id)?.record {
        Some(r) => Profile::from_kept(&pack.profile, &r.origin, &r.toml).ok(),
        None => Profile::load(&pack.profile).ok(),
    };
    let passport = passport(&pack, profile.as_ref(), &cells, &sources, &eol_runs);
    Ok(Some(PackLineage {
        bms_writes: store.bms_writes_for_pack(pack_id)?,
        pack,
        cells,
        sources,
        eol_runs,
        state_changes: store.state_changes_for_pack(pack_id)?,
        passport,
        audit: store.audit_entries_for_pack(pack_id)?,
    }))
}

/// The packs a source module/pack fed, and its cells in none.
pub fn source_lineage(
    store: &dyn LineStore,
    source_code: &str,
) -> Result<Option<SourceLineage>, StoreError> {
    let cells = store.cells_from_source(source_code)?;
    if cells.is_empty() {
        return Ok(None);
    }
    let mut packs: Vec<SourcePack> = Vec::new();
    let mut unpacked = Vec::new();
    for c in cells {
        let Some(pack_id) = c.pack_id else {
            unpacked.push(c);
            continue;
        };
        if let Some(p) = packs.iter_mut().find(|p| p.pack_id == pack_id) {
            p.cells.push(c.cell_id);
            continue;
        }
        let profile = store
            .pack_record(pack_id)?
            .map(|p| p.profile)
            .unwrap_or_default();
        let latest_eol = store.eol_runs_for_pack(pack_id)?.last().map(|r| r.outcome);
        packs.push(SourcePack {
            pack_id,
            code: c.pack_code,
            profile,
            status: c.pack_status.unwrap_or_default(),
            cells: vec![c.cell_id],
            latest_eol,
        });
    }
    Ok(Some(SourceLineage {
        source_code: source_code.to_string(),
        packs,
        unpacked,
    }))
}

/// Lineage of whatever `key` names: a pack (code, `#id` or number), else a source code, else a
/// cell id.
pub fn lineage(store: &dyn LineStore, key: &str) -> Result<Option<Lineage>, StoreError> {
    let key = key.trim();
    if let Some(pack) = store.find_pack(key)? {
        return Ok(pack_lineage(store, pack.id)?.map(|l| Lineage::Pack(Box::new(l))));
    }
    if let Some(source) = source_lineage(store, key)? {
        return Ok(Some(Lineage::Source(source)));
    }
    let Some(cell) = store.get_cell(key)? else {
        return Ok(None);
    };
    let pack_id = store.pack_of_cell(&cell.id)?;
    let (pack, link) = match pack_id {
        Some(id) => (
            store.pack_record(id)?,
            store
                .pack_cell_links(id)?
                .into_iter()
                .find(|l| l.cell_id == cell.id),
        ),
        None => (None, None),
    };
    let (graded_from_file, imported_at) = store.cell_provenance(&cell.id)?.unzip();
    Ok(Some(Lineage::Cell(Box::new(CellLineage {
        position: link.as_ref().map(position),
        state_changes: store.state_changes_for_cell(&cell.id)?,
        cell,
        graded_from_file,
        imported_at,
        pack,
    }))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CellStatus;

    fn record() -> PackRecord {
        PackRecord {
            id: 1,
            code: Some("PW2P000001".into()),
            profile: "lfp-16s2p-105ah".into(),
            status: "passed".into(),
            created_at: "t0".into(),
            assembled_at: Some("t1".into()),
            station: "st".into(),
            operator: "ann".into(),
            status_note: None,
        }
    }

    fn cell(s: i64, p: i64, cap: Option<f64>, ir: Option<f64>) -> LineageCell {
        let id = format!("c{s}-{p}");
        LineageCell {
            position: format!("S{}P{}", s + 1, p + 1),
            link: CellLink {
                cell_id: id.clone(),
                series_index: s,
                parallel_index: p,
                placed_at: None,
                source_code: Some("MOD-1".into()),
                graded_from_file: None,
                imported_at: None,
            },
            grading: Some(Cell {
                id,
                chemistry: Chemistry::Lfp,
                model: None,
                capacity_mah: cap,
                ir_mohm: ir,
                ocv_mv: None,
                self_discharge_mv_per_day: None,
                grade: None,
                source_code: Some("MOD-1".into()),
                status: CellStatus::Assembled,
                status_reason: None,
            }),
        }
    }

    fn run(id: i64, outcome: RunOutcome) -> RunHeader {
        RunHeader {
            id,
            pack_id: 1,
            pack_code: None,
            profile: "lfp-16s2p-105ah".into(),
            plan_version: "v".into(),
            station: "st".into(),
            operator: "bob".into(),
            software_version: "0".into(),
            transport: "x".into(),
            pid: None,
            started_at: "a".into(),
            ended_at: Some(format!("end{id}")),
            outcome,
            reason: None,
        }
    }

    #[test]
    fn soh_comes_from_the_weakest_series_group() {
        let profile = Profile::load("lfp-16s2p-105ah").unwrap();
        // Group 1: 100 + 95 Ah; group 2: 90 + 99 Ah -> the pack delivers 189 Ah of 210.
        let cells = vec![
            cell(0, 0, Some(100_000.0), Some(0.5)),
            cell(0, 1, Some(95_000.0), Some(0.7)),
            cell(1, 0, Some(90_000.0), Some(0.6)),
            cell(1, 1, Some(99_000.0), Some(0.6)),
        ];
        let runs = vec![
            run(1, RunOutcome::Fail),
            run(2, RunOutcome::Pass),
            run(3, RunOutcome::Aborted),
        ];
        let sources = vec![SourceCount {
            source_code: "MOD-1".into(),
            cells: 4,
        }];
        let p = passport(&record(), Some(&profile), &cells, &sources, &runs);
        assert_eq!(p.measured_capacity_ah, Some(189.0));
        assert_eq!(p.state_of_health_pct, Some(90.0));
        assert_eq!(p.rated_capacity_ah, Some(210.0));
        assert_eq!(p.configuration.as_deref(), Some("16S2P"));
        assert_eq!(p.rated_energy_kwh, Some(10.75));
        assert_eq!(p.cell_ir_mean_mohm, Some(0.6));
        assert_eq!(p.cell_ir_max_mohm, Some(0.7));
        // The latest verdict, not the aborted attempt after it.
        assert_eq!(p.eol_outcome, Some(RunOutcome::Pass));
        assert_eq!(p.eol_run_id, Some(2));
        assert_eq!(p.eol_tested_at.as_deref(), Some("end2"));
        assert_eq!(p.source_codes, ["MOD-1"]);
        assert_eq!(p.battery_status, "repurposed");
        assert!(p.gaps.is_empty(), "{:?}", p.gaps);
    }

    #[test]
    fn missing_data_is_listed_as_a_gap_not_guessed() {
        let cells = vec![
            cell(0, 0, Some(100_000.0), None),
            cell(1, 0, None, Some(0.5)),
        ];
        let p = passport(&record(), None, &cells, &[], &[run(1, RunOutcome::Error)]);
        assert_eq!(p.measured_capacity_ah, None);
        assert_eq!(p.state_of_health_pct, None);
        assert_eq!(p.rated_capacity_ah, None);
        assert_eq!(p.chemistry, Some(Chemistry::Lfp));
        assert_eq!(p.eol_outcome, None);
        let gaps = p.gaps.join(" | ");
        for needle in [
            "cannot be loaded",
            "no graded capacity",
            "1 of 2 cells",
            "no end-of-line verdict",
        ] {
            assert!(gaps.contains(needle), "{gaps}");
        }
    }
}
