//! `packwright match`: propose balanced packs for a profile, and commit them.

use super::progress::Progress;
use super::{input_error, print_json, print_json_streamed, Context, EXIT_BAD_INPUT, EXIT_OK};
use crate::domain::CellStatus;
use crate::intake::{self, IntakeDefaults};
use crate::matching;
use crate::profile::Profile;
use crate::store::CellFilter;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// Profile name or path to a .toml file
    #[arg(long)]
    profile: String,
    /// Match the cells of this CSV/JSON file instead of the database's available cells
    /// (touches no database; rows without a chemistry take the profile's)
    #[arg(long, conflicts_with = "commit")]
    cells: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// Reserve the cells of the proposed packs and give each pack an id
    #[arg(long)]
    pub(super) commit: bool,
}

pub fn run(args: MatchArgs, ctx: &Context) -> anyhow::Result<u8> {
    let (profile, source) = Profile::load_with_source(&args.profile).map_err(input_error)?;
    let reading = Progress::spinner("reading the cells");
    // The matcher's inputs, made as the cells are read: a million cells are never held twice.
    let cells: Vec<matching::CellInput> = match &args.cells {
        Some(file) => {
            let defaults = IntakeDefaults {
                chemistry: Some(profile.chemistry),
                ..Default::default()
            };
            if file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                let parsed = intake::read_file(file, &defaults).map_err(input_error)?;
                parsed.cells.into_iter().map(matching::into_input).collect()
            } else {
                intake::open_csv(file, &defaults)
                    .map_err(input_error)?
                    .collect_with(matching::into_input, |c| c.id.as_str())
                    .map_err(input_error)?
            }
        }
        // A dry run only reads: it does not create a database that is not there.
        None if !args.commit => ctx
            .open_existing_store()?
            .list_cells(&CellFilter {
                status: Some(CellStatus::Available),
                ..Default::default()
            })?
            .into_iter()
            .map(matching::into_input)
            .collect(),
        None => ctx
            .open_store()?
            .list_cells(&CellFilter {
                status: Some(CellStatus::Available),
                ..Default::default()
            })?
            .into_iter()
            .map(matching::into_input)
            .collect(),
    };
    reading.message(&format!("matching {} cells", cells.len()));
    let outcome = matching::propose_inputs(&profile, &cells);
    reading.done();
    let cells_given = cells.len();
    // Not freed: the process ends after the document, and freeing a million cells' strings
    // one by one took about a tenth of the run (see `leave_to_the_exit`).
    leave_to_the_exit(cells);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // No pack possible is an answer, not a failure of the command: under --json it is
        // still the match document (no packs, and why), besides the message and exit 2.
        Err(
            e @ (matching::MatchError::EmptyInventory
            | matching::MatchError::NotEnoughCells { .. }
            | matching::MatchError::NoFeasiblePack { .. }),
        ) if args.json => {
            eprintln!("error: {e}");
            print_json(
                "match",
                &serde_json::json!({
                    "profile": profile.name, "packs": [], "cells_given": cells_given,
                    "committed": false, "no_pack_reason": e.to_string(),
                }),
            )?;
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => return Err(input_error(e)),
    };
    let pack_ids = if args.commit {
        let mut store = ctx.open_store()?;
        let chosen: Vec<&matching::MatchedPack> = outcome.packs.iter().collect();
        let progress = Progress::count("committing", chosen.len() as u64);
        let ids = matching::commit_with_progress(
            &mut *store,
            &ctx.actor,
            &profile,
            Some(&source),
            &chosen,
            &mut |n| progress.set(n as u64),
        );
        progress.done();
        Some(ids.map_err(input_error)?)
    } else {
        None
    };
    if args.json {
        // Streamed: a million cells' match is a document of ~180 MB.
        let ids = pack_ids.as_deref().unwrap_or(&[]);
        let doc = MatchDocument {
            packs: outcome
                .packs
                .iter()
                .enumerate()
                .map(|(i, pack)| PackDocument {
                    pack_id: ids.get(i).copied(),
                    pack,
                })
                .collect(),
            leftover: &outcome.leftover,
            rejected: &outcome.rejected,
            summary: &outcome.summary,
        };
        print_json_streamed("match", &doc)?;
    } else {
        print_text(&profile, &outcome, pack_ids.as_deref());
    }
    leave_to_the_exit(outcome);
    Ok(EXIT_OK)
}

/// Lets the process's exit take back `value`'s memory instead of freeing it piece by piece: a
/// million cells' inputs and 62,500 packs are some three million small strings, and freeing
/// them was a tenth of a million-cell `match --json`. Only for what a one-shot command holds
/// until it ends (nothing it owns needs dropping: no file, no lock, no connection).
fn leave_to_the_exit<T>(value: T) {
    std::mem::forget(value);
}

/// The `match --json` document: the matcher's outcome, each pack with its database id once
/// committed.
#[derive(serde::Serialize)]
struct MatchDocument<'a> {
    packs: Vec<PackDocument<'a>>,
    leftover: &'a [String],
    rejected: &'a [packwright_matching::Rejection],
    summary: &'a packwright_matching::MatchSummary,
}

/// A pack as the matcher gives it (`index`, `models`, `groups`, `metrics`), then `pack_id`
/// once committed.
struct PackDocument<'a> {
    pack: &'a matching::MatchedPack,
    pack_id: Option<i64>,
}

/// Written out rather than `#[serde(flatten)]`ed: the same keys in the same order, without
/// flatten's detour through a map serializer for each of 62,500 packs. A field added to
/// `MatchedPack` must be added here (`pack_document_is_the_pack_then_its_id` checks).
impl serde::Serialize for PackDocument<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let p = self.pack;
        let mut s =
            serializer.serialize_struct("PackDocument", 4 + self.pack_id.is_some() as usize)?;
        s.serialize_field("index", &p.index)?;
        s.serialize_field("models", &p.models)?;
        s.serialize_field("groups", &p.groups)?;
        s.serialize_field("metrics", &p.metrics)?;
        if let Some(id) = self.pack_id {
            s.serialize_field("pack_id", &id)?;
        }
        s.end()
    }
}

fn print_text(profile: &Profile, outcome: &matching::MatchOutcome, ids: Option<&[i64]>) {
    let s = &outcome.summary;
    println!(
        "{} ({}): {} packs from {} eligible cells (at most {} possible); {} left over, {} rejected",
        profile.name,
        s.shape,
        s.packs_built,
        s.eligible_cells,
        s.max_possible_packs,
        s.leftover_cells,
        s.rejected_cells
    );
    println!(
        "{:>5} {:>12} {:>10} {:>7} {:>10} {:>8} {:>10} {:>9}",
        "pack", "usable mAh", "range mAh", "range%", "bound mAh", "gap mAh", "IR spr mΩ", "OCV mV"
    );
    for (i, p) in outcome.packs.iter().enumerate() {
        let m = &p.metrics;
        let label = ids
            .map(|ids| format!("#{}", ids[i]))
            .unwrap_or_else(|| p.index.to_string());
        let ir = m
            .group_ir_spread_mohm
            .iter()
            .flatten()
            .fold(None, |a: Option<f64>, &v| Some(a.map_or(v, |a| a.max(v))));
        println!(
            "{:>5} {:>12.0} {:>10.0} {:>7.2} {:>10.0} {:>8.0} {:>10} {:>9}",
            label,
            m.usable_capacity_mah,
            m.range_mah,
            m.range_pct,
            m.lower_bound_range_mah,
            m.gap_to_bound_mah,
            ir.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into()),
            m.ocv_spread_mv
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!(
        "utilisation {:.2} %, {:.0} % of packs at their lower bound, {:.1} ms",
        s.utilisation * 100.0,
        s.fraction_at_lower_bound * 100.0,
        s.elapsed_ms
    );
    if let Some(w) = &s.worst_pack {
        println!(
            "worst pack {}: range {:.0} mAh ({:.2} %), lower bound {:.0} mAh",
            w.index, w.range_mah, w.range_pct, w.lower_bound_range_mah
        );
    }
    for (code, n) in &s.rejected_by_reason {
        println!("rejected: {n} {}", code.phrase());
    }
    match ids {
        Some(ids) => println!("committed {} packs; their cells are reserved", ids.len()),
        None if !outcome.packs.is_empty() => {
            println!("(dry run: add --commit to reserve the cells)")
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written document is the matcher's pack, key for key and in its order, then
    /// `pack_id`.
    #[test]
    fn pack_document_is_the_pack_then_its_id() {
        let cell = matching::CellInput {
            id: "C1".into(),
            capacity_mah: Some(3000.0),
            ir_mohm: Some(20.0),
            ocv_mv: Some(3300.0),
            self_discharge_mv_per_day: None,
            chemistry: "LFP".into(),
            model: Some("M".into()),
        };
        let spec = packwright_matching::MatchSpec::new(1, 1, "LFP");
        let outcome = packwright_matching::match_cells(&[cell], &spec).unwrap();
        let pack = &outcome.packs[0];
        let plain = serde_json::to_string(pack).unwrap();
        let doc = |pack_id| serde_json::to_string(&PackDocument { pack, pack_id }).unwrap();
        assert_eq!(doc(None), plain);
        let with_id = format!("{},\"pack_id\":7}}", plain.strip_suffix('}').unwrap());
        assert_eq!(doc(Some(7)), with_id);
    }
}
