//! `packwright match`: propose balanced packs for a profile, and commit them.

use super::{input_error, print_json, Context, EXIT_BAD_INPUT, EXIT_OK};
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
    commit: bool,
}

pub fn run(args: MatchArgs, ctx: &Context) -> anyhow::Result<u8> {
    let (profile, source) = Profile::load_with_source(&args.profile).map_err(input_error)?;
    let cells = match &args.cells {
        Some(file) => {
            let defaults = IntakeDefaults {
                chemistry: Some(profile.chemistry),
                ..Default::default()
            };
            intake::read_file(file, &defaults)
                .map_err(input_error)?
                .cells
        }
        // A dry run only reads: it does not create a database that is not there.
        None if !args.commit => ctx.open_existing_store()?.list_cells(&CellFilter {
            status: Some(CellStatus::Available),
            ..Default::default()
        })?,
        None => ctx.open_store()?.list_cells(&CellFilter {
            status: Some(CellStatus::Available),
            ..Default::default()
        })?,
    };
    let outcome = match matching::propose(&profile, &cells) {
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
                    "profile": profile.name, "packs": [], "cells_given": cells.len(),
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
        Some(
            matching::commit(&mut *store, &ctx.actor, &profile, Some(&source), &chosen)
                .map_err(input_error)?,
        )
    } else {
        None
    };
    if args.json {
        let mut v = serde_json::to_value(&outcome)?;
        if let Some(ids) = &pack_ids {
            for (pack, id) in v["packs"].as_array_mut().into_iter().flatten().zip(ids) {
                pack["pack_id"] = serde_json::json!(id);
            }
        }
        print_json("match", &v)?;
    } else {
        print_text(&profile, &outcome, pack_ids.as_deref());
    }
    Ok(EXIT_OK)
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
