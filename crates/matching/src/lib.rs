//! Packwright's matching engine: graded second-life cells into balanced S×P packs, with a
//! proof of how near each pack is to the best possible.
//!
//! Pure: no I/O, no database, no clock beyond measuring its own run time. Give it the cells
//! and a [`MatchSpec`]; it returns the packs (each an ordered list of S groups of P cell
//! ids), the cells left over, the cells rejected with the reason for each, per-pack metrics
//! with lower bounds, and a run summary.
//!
//! Objectives, in order (lexicographic): the most packs within every limit; each pack's
//! group-capacity range within the balance slack of its own lower bound
//! ([`MatchSpec::balance_slack`]: by default the larger of 0.6 % of the mean group and the
//! bound); IR homogeneity inside the groups, only within that slack; OCV only as a hard
//! limit. The deprecated `ir_weight` is read as a slack when no slack is set.
//! Hard limits are never violated. See `README.md` for the pipeline, the bounds and figures.

mod bldm;
mod bounds;
mod data;
mod error;
mod exact;
mod filter;
mod metrics;
mod model;
mod pairing;
pub mod rng;
mod search;
mod solve;
mod sort;
mod window;

pub mod bench;

pub use error::MatchError;
pub use model::{
    BalanceSlack, BoundKind, CellInput, DroppedPack, MatchOutcome, MatchSpec, MatchSummary,
    MatchedPack, PackMetrics, RejectCode, Rejection, StratumSummary, WorstPack,
    DEFAULT_BALANCE_SLACK_PCT,
};
pub use solve::{MatchOptions, FULL_EFFORT_CELLS};

use data::Data;
use filter::{intake, validate_spec, Stratum};
use rng::Rng;
use search::Ctx;
use std::collections::BTreeMap;

/// Matches `cells` into as many balanced packs of `spec` as possible.
pub fn match_cells(cells: &[CellInput], spec: &MatchSpec) -> Result<MatchOutcome, MatchError> {
    match_cells_with(cells, spec, &MatchOptions::default())
}

/// [`match_cells`] with an explicit seed and search budget.
pub fn match_cells_with(
    cells: &[CellInput],
    spec: &MatchSpec,
    opt: &MatchOptions,
) -> Result<MatchOutcome, MatchError> {
    let limits = validate_spec(spec)?;
    if cells.is_empty() {
        return Err(MatchError::EmptyInventory);
    }
    let (s, p) = (spec.series, spec.parallel);
    let w = s * p;
    let intake = intake(cells, spec);
    let d = &intake.data;
    let ctx = Ctx { d, lim: limits };
    let mut rng = Rng::new(opt.seed);

    let mut packs: Vec<(usize, solve::PlannedPack)> = Vec::new();
    let mut leftover: Vec<u32> = Vec::new();
    let mut strata = Vec::with_capacity(intake.strata.len());
    let mut dropped = 0;
    let mut dropped_reasons = Vec::new();
    let mut upper_usable = 0.0;
    for (k, st) in intake.strata.iter().enumerate() {
        let plan = solve::solve_stratum(&ctx, &st.cells, s, p, opt, &mut rng);
        upper_usable += top_capacity(d, &st.cells, plan.packs.len() * w) as f64 / s as f64;
        strata.push(StratumSummary {
            model: st.model.clone(),
            eligible_cells: st.cells.len(),
            packs_built: plan.packs.len(),
            max_possible_packs: plan.max_packs,
            max_packs_exact: plan.max_exact,
            max_packs_note: plan.max_note.clone(),
        });
        dropped += plan.dropped;
        dropped_reasons.extend(plan.dropped_reasons.iter().map(|r| DroppedPack {
            model: st.model.clone(),
            reason: r.clone(),
        }));
        packs.extend(plan.packs.into_iter().map(|pk| (k, pk)));
        leftover.extend(plan.leftover);
    }

    if packs.is_empty() {
        return Err(no_pack_error(cells.len(), spec, &intake, &limits));
    }

    // Ids are cloned walking the input in order (sequential memory), then moved into place.
    let mut at = vec![u32::MAX; cells.len()];
    for (k, &i) in d.src.iter().enumerate() {
        at[i as usize] = k as u32;
    }
    let mut ids: Vec<String> = vec![String::new(); d.len()];
    for (c, &k) in cells.iter().zip(&at) {
        if let Some(slot) = ids.get_mut(k as usize) {
            *slot = c.id.clone();
        }
    }
    let mut out_packs = Vec::with_capacity(packs.len());
    for (i, (k, planned)) in packs.into_iter().enumerate() {
        let slots = series_order(d, planned.slots, p);
        out_packs.push(MatchedPack {
            index: i + 1,
            models: pack_models(cells, d, &slots, &intake.strata[k]),
            metrics: metrics::pack_metrics(d, &slots, s, p, planned.proven_bound, &limits),
            groups: slots
                .chunks(p)
                .map(|g| {
                    g.iter()
                        .map(|&c| std::mem::take(&mut ids[c as usize]))
                        .collect()
                })
                .collect(),
        });
    }
    leftover.sort_unstable_by_key(|&c| d.src[c as usize]);
    let leftover: Vec<String> = leftover
        .iter()
        .map(|&c| std::mem::take(&mut ids[c as usize]))
        .collect();
    let stats = metrics::run_stats(&out_packs.iter().map(|p| &p.metrics).collect::<Vec<_>>());
    let summary = MatchSummary {
        shape: spec.shape(),
        cells_in: cells.len(),
        eligible_cells: d.len(),
        rejected_cells: intake.rejected.len(),
        rejected_by_reason: count_by_reason(&intake.rejected),
        leftover_cells: leftover.len(),
        packs_built: out_packs.len(),
        max_possible_packs: strata.iter().map(|s| s.max_possible_packs).sum(),
        max_packs_exact: strata.iter().all(|s| s.max_packs_exact),
        naive_max_packs: d.len() / w,
        utilisation: stats.utilisation,
        utilisation_vs_upper_bound: if upper_usable > 0.0 {
            stats.usable_mah / upper_usable
        } else {
            0.0
        },
        total_usable_capacity_mah: stats.usable_mah,
        fraction_at_lower_bound: stats.fraction_at_lower_bound,
        fraction_within_slack: stats.fraction_within_slack,
        balance_slack: slack_text(spec),
        median_range_pct: stats.median_range_pct,
        worst_pack: stats.worst,
        median_group_ir_cv_pct: stats.median_group_ir_cv_pct,
        max_group_ir_spread_mohm: stats.max_group_ir_spread_mohm,
        max_group_ocv_spread_mv: stats.max_group_ocv_spread_mv,
        ir_weight: spec.ir_weight,
        packs_dropped_for_limits: dropped,
        dropped_packs: dropped_reasons,
        strata,
        // The crate reads no clock: a caller that times the run fills this in.
        elapsed_ms: 0.0,
    };
    Ok(MatchOutcome {
        packs: out_packs,
        leftover,
        rejected: intake.rejected,
        summary,
    })
}

/// "max(0 mAh, 0.6 % of the mean group)", with the `ir_weight` deprecation when it applies.
fn slack_text(spec: &MatchSpec) -> String {
    let sl = spec.balance_slack();
    let (mah, pct) = (sl.mah, sl.pct);
    let mut text = if sl.of_bound {
        format!("the larger of {pct} % of the mean group and the lower bound, above the bound")
    } else {
        format!("the larger of {mah} mAh and {pct} % of the mean group, above the lower bound")
    };
    if sl.from_ir_weight {
        text.push_str(&format!(
            "; ir_weight is deprecated: {} read as a slack of {pct} % ({} × {} %), set \
             balance_slack_pct or balance_slack_mah instead",
            spec.ir_weight,
            spec.ir_weight,
            spec.max_group_capacity_spread_pct.unwrap_or(1.0)
        ));
    }
    text
}

/// Series position 1 is the strongest group; inside a group, the largest cell first.
fn series_order(d: &Data, mut slots: Vec<u32>, p: usize) -> Vec<u32> {
    let key = |c: u32| (std::cmp::Reverse(d.cap[c as usize]), d.src[c as usize]);
    for g in slots.chunks_mut(p) {
        g.sort_unstable_by_key(|&c| key(c));
    }
    let mut order: Vec<(std::cmp::Reverse<i64>, u32, usize)> = slots
        .chunks(p)
        .enumerate()
        .map(|(i, g)| {
            let sum = g.iter().map(|&c| d.cap[c as usize]).sum::<i64>();
            (std::cmp::Reverse(sum), d.src[g[0] as usize], i)
        })
        .collect();
    order.sort_unstable();
    order
        .iter()
        .flat_map(|&(_, _, i)| slots[i * p..(i + 1) * p].iter().copied())
        .collect()
}

fn pack_models(cells: &[CellInput], d: &Data, slots: &[u32], st: &Stratum) -> Vec<String> {
    if let Some(m) = &st.model {
        return vec![m.clone()];
    }
    let mut models: Vec<String> = slots
        .iter()
        .filter_map(|&c| cells[d.src[c as usize] as usize].model.as_deref())
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    models.sort();
    models.dedup();
    models
}

fn count_by_reason(rejected: &[Rejection]) -> BTreeMap<RejectCode, usize> {
    let mut counts = BTreeMap::new();
    for r in rejected {
        *counts.entry(r.code).or_insert(0) += 1;
    }
    counts
}

/// Sum of the `k` largest capacities among `cells`.
fn top_capacity(d: &Data, cells: &[u32], k: usize) -> i64 {
    let mut caps: Vec<i64> = cells.iter().map(|&c| d.cap[c as usize]).collect();
    caps.sort_unstable_by(|a, b| b.cmp(a));
    caps.iter().take(k).sum()
}

fn no_pack_error(
    cells_in: usize,
    spec: &MatchSpec,
    intake: &filter::Intake,
    limits: &data::Limits,
) -> MatchError {
    let w = spec.cells_per_pack();
    let eligible = intake.data.len();
    let biggest = intake.strata.iter().max_by_key(|s| s.cells.len());
    if biggest.is_some_and(|b| b.cells.len() >= w) {
        return MatchError::NoFeasiblePack {
            shape: spec.shape(),
            needed: w,
            eligible,
            limits: limits.describe(),
        };
    }
    let largest = match biggest {
        Some(b) if intake.strata.len() > 1 => format!(
            ", and models may not mix: the largest single-model stock is {} cells of '{}'",
            b.cells.len(),
            b.model.as_deref().unwrap_or("no model given")
        ),
        _ => String::new(),
    };
    let mut counts: Vec<(RejectCode, usize)> =
        count_by_reason(&intake.rejected).into_iter().collect();
    counts.sort_by_key(|&(code, n)| (std::cmp::Reverse(n), code));
    let rejections = if counts.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = counts
            .iter()
            .map(|(code, n)| format!("{n} {}", code.phrase()))
            .collect();
        format!("; rejected: {}", parts.join(", "))
    };
    MatchError::NotEnoughCells {
        shape: spec.shape(),
        needed: w,
        cells_in,
        eligible,
        largest,
        rejections,
    }
}
