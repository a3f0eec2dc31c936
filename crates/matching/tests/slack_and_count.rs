#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! The two rules against brute force on tiny instances: the balance slack (a pack is
//! within the slack of its bound whenever some arrangement of its cells is) and the pack
//! count (the most packs the limits allow).

mod common;

use common::{cell, combos};
use packwright_matching::{match_cells, CellInput, MatchError, MatchSpec};
use proptest::prelude::*;

/// Smallest range over every split of `cells` (capacity, IR) into groups of `p` whose IR
/// spread is within `ir_limit`; `None` when no split meets it.
fn brute_min_range_limited(cells: &[(i64, f64)], p: usize, ir_limit: Option<f64>) -> Option<i64> {
    fn go(
        rest: &[(i64, f64)],
        p: usize,
        ir_limit: Option<f64>,
        sums: &mut Vec<i64>,
    ) -> Option<i64> {
        if rest.is_empty() {
            return Some(sums.iter().max()? - sums.iter().min()?);
        }
        let (first, others) = (rest[0], &rest[1..]);
        let mut best: Option<i64> = None;
        for combo in combos(others.len(), p - 1) {
            let group: Vec<(i64, f64)> = std::iter::once(first)
                .chain(combo.iter().map(|&i| others[i]))
                .collect();
            let irs = group.iter().map(|g| g.1);
            let spread = irs.clone().fold(f64::MIN, f64::max) - irs.fold(f64::MAX, f64::min);
            if ir_limit.is_some_and(|l| spread > l + 1e-9) {
                continue;
            }
            let left: Vec<(i64, f64)> = (0..others.len())
                .filter(|i| !combo.contains(i))
                .map(|i| others[i])
                .collect();
            sums.push(group.iter().map(|g| g.0).sum());
            if let Some(r) = go(&left, p, ir_limit, sums) {
                best = Some(best.map_or(r, |b: i64| b.min(r)));
            }
            sums.pop();
        }
        best
    }
    go(cells, p, ir_limit, &mut Vec::new())
}

/// Most disjoint sets of `s` capacities with (max − min) / mean × 100 ≤ `pct`.
fn brute_max_packs_1p(caps: &[i64], s: usize, pct: f64) -> usize {
    fn go(rest: &[i64], s: usize, pct: f64) -> usize {
        if rest.len() < s {
            return 0;
        }
        // The first cell is either left out or in a pack with s − 1 of the others.
        let mut best = go(&rest[1..], s, pct);
        let others = &rest[1..];
        for combo in combos(others.len(), s - 1) {
            let set: Vec<i64> = std::iter::once(rest[0])
                .chain(combo.iter().map(|&i| others[i]))
                .collect();
            let (lo, hi) = (*set.iter().min().unwrap(), *set.iter().max().unwrap());
            let mean = set.iter().sum::<i64>() as f64 / s as f64;
            if (hi - lo) as f64 / mean * 100.0 > pct + 1e-9 {
                continue;
            }
            let left: Vec<i64> = (0..others.len())
                .filter(|i| !combo.contains(i))
                .map(|i| others[i])
                .collect();
            best = best.max(1 + go(&left, s, pct));
        }
        best
    }
    go(caps, s, pct)
}

/// Most disjoint pairs meeting both limits (brute force over (OCV, IR)).
fn brute_max_pairs_2d(cells: &[(f64, f64)], ocv: f64, ir: f64) -> usize {
    if cells.len() < 2 {
        return 0;
    }
    let (first, others) = (cells[0], &cells[1..]);
    let mut best = brute_max_pairs_2d(others, ocv, ir);
    for i in 0..others.len() {
        if (others[i].0 - first.0).abs() <= ocv + 1e-9 && (others[i].1 - first.1).abs() <= ir + 1e-9
        {
            let left: Vec<(f64, f64)> = (0..others.len())
                .filter(|&j| j != i)
                .map(|j| others[j])
                .collect();
            best = best.max(1 + brute_max_pairs_2d(&left, ocv, ir));
        }
    }
    best
}

/// Most disjoint pairs whose OCVs differ by at most `limit` (brute force).
fn brute_max_pairs(ocv: &[f64], limit: f64) -> usize {
    if ocv.len() < 2 {
        return 0;
    }
    let (first, others) = (ocv[0], &ocv[1..]);
    let mut best = brute_max_pairs(others, limit);
    for i in 0..others.len() {
        if (others[i] - first).abs() <= limit + 1e-9 {
            let left: Vec<f64> = (0..others.len())
                .filter(|&j| j != i)
                .map(|j| others[j])
                .collect();
            best = best.max(1 + brute_max_pairs(&left, limit));
        }
    }
    best
}

/// Smallest range over every pairing of (capacity, OCV, IR) cells whose pairs meet both
/// limits; `None` when no pairing does.
fn brute_min_range_pairs(cells: &[(i64, f64, f64)], ocv_limit: f64, ir_limit: f64) -> Option<i64> {
    fn go(rest: &[(i64, f64, f64)], ocv: f64, ir: f64, sums: &mut Vec<i64>) -> Option<i64> {
        if rest.is_empty() {
            return Some(sums.iter().max()? - sums.iter().min()?);
        }
        let (a, others) = (rest[0], &rest[1..]);
        let mut best: Option<i64> = None;
        for (i, b) in others.iter().enumerate() {
            if (a.1 - b.1).abs() > ocv + 1e-9 || (a.2 - b.2).abs() > ir + 1e-9 {
                continue;
            }
            let left: Vec<(i64, f64, f64)> = (0..others.len())
                .filter(|&j| j != i)
                .map(|j| others[j])
                .collect();
            sums.push(a.0 + b.0);
            if let Some(r) = go(&left, ocv, ir, sums) {
                best = Some(best.map_or(r, |x: i64| x.min(r)));
            }
            sums.pop();
        }
        best
    }
    go(cells, ocv_limit, ir_limit, &mut Vec::new())
}

/// Most disjoint packs of S groups of P cells (capacity, OCV, IR): every group within both
/// in-group limits, the group sums within `pct` % of their mean (brute force).
fn brute_max_packs_grouped(
    cells: &[(i64, f64, f64)],
    (s, p): (usize, usize),
    ocv: f64,
    ir: f64,
    pct: f64,
) -> usize {
    type C = (i64, f64, f64);
    fn splits(set: &[C], p: usize, ocv: f64, ir: f64, sums: &mut Vec<i64>, pct: f64) -> bool {
        if set.is_empty() {
            let (lo, hi) = (*sums.iter().min().unwrap(), *sums.iter().max().unwrap());
            let mean = sums.iter().sum::<i64>() as f64 / sums.len() as f64;
            return (hi - lo) as f64 / mean * 100.0 <= pct + 1e-9;
        }
        let others = &set[1..];
        for combo in combos(others.len(), p - 1) {
            let g: Vec<C> = std::iter::once(set[0])
                .chain(combo.iter().map(|&i| others[i]))
                .collect();
            let span = |f: fn(&C) -> f64| {
                let v: Vec<f64> = g.iter().map(f).collect();
                v.iter().cloned().fold(f64::MIN, f64::max)
                    - v.iter().cloned().fold(f64::MAX, f64::min)
            };
            if span(|c| c.1) > ocv + 1e-9 || span(|c| c.2) > ir + 1e-9 {
                continue;
            }
            let rest: Vec<C> = (0..others.len())
                .filter(|i| !combo.contains(i))
                .map(|i| others[i])
                .collect();
            sums.push(g.iter().map(|c| c.0).sum());
            let ok = splits(&rest, p, ocv, ir, sums, pct);
            sums.pop();
            if ok {
                return true;
            }
        }
        false
    }
    fn go(rest: &[C], s: usize, p: usize, ocv: f64, ir: f64, pct: f64) -> usize {
        if rest.len() < s * p {
            return 0;
        }
        let mut best = go(&rest[1..], s, p, ocv, ir, pct);
        let others = &rest[1..];
        for combo in combos(others.len(), s * p - 1) {
            let set: Vec<C> = std::iter::once(rest[0])
                .chain(combo.iter().map(|&i| others[i]))
                .collect();
            if !splits(&set, p, ocv, ir, &mut Vec::new(), pct) {
                continue;
            }
            let left: Vec<C> = (0..others.len())
                .filter(|i| !combo.contains(i))
                .map(|i| others[i])
                .collect();
            best = best.max(1 + go(&left, s, p, ocv, ir, pct));
        }
        best
    }
    go(cells, s, p, ocv, ir, pct)
}

fn built(out: Result<packwright_matching::MatchOutcome, MatchError>) -> (usize, usize, bool) {
    match out {
        Ok(o) => (
            o.summary.packs_built,
            o.summary.max_possible_packs,
            o.summary.max_packs_exact,
        ),
        Err(MatchError::NoFeasiblePack { .. }) | Err(MatchError::NotEnoughCells { .. }) => {
            (0, 0, true)
        }
        Err(e) => panic!("{e}"),
    }
}

/// P = 1 with a capacity-spread limit of `pct` on `caps`: the packs built equal the brute-force
/// maximum, which never exceeds the reported maximum and equals it when reported exact.
fn one_p_count_holds(caps: &[i64], s: usize, pct: f64) -> Result<(), TestCaseError> {
    let cells: Vec<CellInput> = caps
        .iter()
        .enumerate()
        .map(|(i, &c)| cell(&format!("c{i}"), c as f64))
        .collect();
    let spec = MatchSpec {
        max_group_capacity_spread_pct: Some(pct),
        ..MatchSpec::new(s, 1, "NMC")
    };
    let brute = brute_max_packs_1p(caps, s, pct);
    let (got, max, exact) = built(match_cells(&cells, &spec));
    prop_assert_eq!(got, brute, "caps {:?}", caps);
    if got > 0 {
        prop_assert!(
            max >= brute,
            "reported {} below the true maximum {}",
            max,
            brute
        );
        if exact {
            prop_assert_eq!(max, brute);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    /// One pack of S·P cells with IRs, optionally an in-group IR limit, any slack: when some
    /// arrangement is within the slack of the reported bound, the matcher's is too; and the
    /// bound is a true bound (never above the brute-force optimum under the limits).
    #[test]
    fn within_slack_whenever_a_slack_solution_exists(
        s in 2usize..4,
        p in 2usize..4,
        caps in prop::collection::vec(1000i64..1080, 9),
        irs in prop::collection::vec(20.0f64..40.0, 9),
        ir_limit in prop::option::of(4.0f64..20.0),
        slack_mah in prop::option::of(0.0f64..30.0),
    ) {
        let n = s * p;
        let cells: Vec<CellInput> = (0..n)
            .map(|i| CellInput {
                ir_mohm: Some((irs[i] * 10.0).round() / 10.0),
                ..cell(&format!("c{i}"), caps[i] as f64)
            })
            .collect();
        let spec = MatchSpec {
            max_group_ir_spread_mohm: ir_limit,
            balance_slack_mah: slack_mah,
            ..MatchSpec::new(s, p, "NMC")
        };
        let pairs: Vec<(i64, f64)> = (0..n).map(|i| (caps[i], cells[i].ir_mohm.unwrap())).collect();
        let opt = brute_min_range_limited(&pairs, p, ir_limit);
        match (match_cells(&cells, &spec), opt) {
            (Ok(out), Some(opt)) => {
                let m = &out.packs[0].metrics;
                let (range, lb, slack) =
                    (m.range_mah as i64, m.lower_bound_range_mah as i64, m.balance_slack_mah as i64);
                prop_assert!(lb <= opt, "bound {lb} above the optimum {opt}");
                if opt <= lb + slack {
                    prop_assert!(range <= lb + slack, "range {range}, bound {lb}, slack {slack}, optimum {opt}");
                    prop_assert!(m.at_bound_within_slack);
                }
                prop_assert_eq!(m.at_bound_within_slack, range <= lb + slack);
            }
            (Err(_), None) => {}
            (Ok(_), None) => prop_assert!(false, "a pack was built though no split meets the IR limit"),
            (Err(e), Some(opt)) => prop_assert!(false, "no pack ({e}) though a split with range {opt} exists"),
        }
    }

    /// P = 2 under OCV and IR limits (no spare cells): the pack is the brute-force optimum
    /// over every pairing that meets the limits, and its bound says so (proved exactly).
    #[test]
    fn two_p_under_in_group_limits_is_optimal_and_proved(
        s in 2usize..7,
        caps in prop::collection::vec(1000i64..1100, 12),
        ocv in prop::collection::vec(3580.0f64..3620.0, 12),
        irs in prop::collection::vec(20.0f64..30.0, 12),
        ocv_limit in prop::sample::select(vec![10.0, 20.0, 40.0]),
        ir_limit in prop::sample::select(vec![2.0, 4.0, 10.0]),
    ) {
        let n = 2 * s;
        let cells: Vec<CellInput> = (0..n)
            .map(|i| CellInput {
                ocv_mv: Some(ocv[i].round()),
                ir_mohm: Some(irs[i].round()),
                ..cell(&format!("c{i}"), caps[i] as f64)
            })
            .collect();
        let spec = MatchSpec {
            max_group_ocv_delta_mv: Some(ocv_limit),
            max_group_ir_spread_mohm: Some(ir_limit),
            balance_slack_mah: Some(0.0),
            ..MatchSpec::new(s, 2, "NMC")
        };
        let triples: Vec<(i64, f64, f64)> =
            (0..n).map(|i| (caps[i], ocv[i].round(), irs[i].round())).collect();
        match (match_cells(&cells, &spec), brute_min_range_pairs(&triples, ocv_limit, ir_limit)) {
            (Ok(out), Some(opt)) => {
                let m = &out.packs[0].metrics;
                prop_assert_eq!(m.range_mah as i64, opt);
                prop_assert_eq!(m.lower_bound_range_mah as i64, opt);
                prop_assert!(m.at_lower_bound && m.at_bound_within_slack);
            }
            (Err(_), None) => {}
            (Ok(_), None) => prop_assert!(false, "a pack was built though no pairing meets the limits"),
            (Err(e), Some(opt)) => prop_assert!(false, "no pack ({e}) though a pairing with range {opt} exists"),
        }
    }

    /// P = 1 with a capacity-spread limit: the packs built equal the brute-force maximum,
    /// which never exceeds the reported maximum.
    #[test]
    fn one_p_pack_count_is_the_maximum(
        s in 2usize..4,
        n in 4usize..11,
        caps in prop::collection::vec(1000i64..1100, 10),
        pct in prop::sample::select(vec![1.0, 2.0, 3.0, 5.0]),
    ) {
        one_p_count_holds(&caps[..n], s, pct)?;
    }

    /// P = 1 with a spread limit on instances where the cells spread wider than the limit,
    /// so runs of cells no pack can reach split the stock: the reported maximum never falls
    /// below the brute-force maximum, equals it when reported exact, and the packs built
    /// reach it.
    #[test]
    fn one_p_reported_maximum_bounds_the_true_one(
        s in 3usize..5,
        n in 8usize..14,
        caps in prop::collection::vec(1000i64..1160, 13),
        pct in prop::sample::select(vec![0.5, 1.0, 2.0, 3.0]),
    ) {
        one_p_count_holds(&caps[..n], s, pct)?;
    }

    /// P = 2 and 3 with OCV and IR limits and a group-capacity spread limit, all binding on
    /// tiny stocks: the packs built equal the brute-force maximum, never above the reported
    /// one, and the reported one is exact here.
    #[test]
    fn grouped_packs_with_every_limit_are_the_most(
        (s, p) in prop::sample::select(vec![(1, 2), (2, 2), (3, 2), (1, 3), (2, 3)]),
        n in 4usize..10,
        ocv in prop::collection::vec(3580.0f64..3640.0, 9),
        irs in prop::collection::vec(20.0f64..30.0, 9),
        caps in prop::collection::vec(1000i64..1100, 9),
        ocv_limit in prop::sample::select(vec![10.0, 20.0, 40.0]),
        ir_limit in prop::sample::select(vec![2.0, 4.0, 10.0]),
        pct in prop::sample::select(vec![0.5, 1.0, 2.0, 5.0]),
    ) {
        let cells: Vec<CellInput> = (0..n)
            .map(|i| CellInput {
                ocv_mv: Some(ocv[i].round()),
                ir_mohm: Some(irs[i].round()),
                ..cell(&format!("c{i}"), caps[i] as f64)
            })
            .collect();
        let spec = MatchSpec {
            max_group_ocv_delta_mv: Some(ocv_limit),
            max_group_ir_spread_mohm: Some(ir_limit),
            max_group_capacity_spread_pct: Some(pct),
            ..MatchSpec::new(s, p, "NMC")
        };
        let pts: Vec<(i64, f64, f64)> = (0..n).map(|i| (caps[i], ocv[i].round(), irs[i].round())).collect();
        let brute = brute_max_packs_grouped(&pts, (s, p), ocv_limit, ir_limit, pct);
        let (got, max, exact) = built(match_cells(&cells, &spec));
        prop_assert_eq!(got, brute, "cells {:?}", pts);
        if got > 0 {
            prop_assert!(exact);
            prop_assert_eq!(max, brute);
        }
    }

    /// P = 2 with OCV and IR limits together (no spread limit): any S compatible pairs make
    /// a pack, so the most packs is ⌊most disjoint compatible pairs / S⌋; the matcher builds
    /// that many and never reports a maximum below it.
    #[test]
    fn two_limit_pack_count_is_the_maximum(
        s in 1usize..4,
        n in 4usize..11,
        ocv in prop::collection::vec(3580.0f64..3640.0, 10),
        irs in prop::collection::vec(20.0f64..30.0, 10),
        caps in prop::collection::vec(1000i64..1100, 10),
        ocv_limit in prop::sample::select(vec![10.0, 20.0]),
        ir_limit in prop::sample::select(vec![2.0, 4.0]),
    ) {
        let cells: Vec<CellInput> = (0..n)
            .map(|i| CellInput {
                ocv_mv: Some(ocv[i].round()),
                ir_mohm: Some(irs[i].round()),
                ..cell(&format!("c{i}"), caps[i] as f64)
            })
            .collect();
        let spec = MatchSpec {
            max_group_ocv_delta_mv: Some(ocv_limit),
            max_group_ir_spread_mohm: Some(ir_limit),
            ..MatchSpec::new(s, 2, "NMC")
        };
        let pts: Vec<(f64, f64)> = (0..n).map(|i| (ocv[i].round(), irs[i].round())).collect();
        let brute = brute_max_pairs_2d(&pts, ocv_limit, ir_limit) / s;
        let (got, max, exact) = built(match_cells(&cells, &spec));
        prop_assert_eq!(got, brute);
        if got > 0 {
            prop_assert!(max >= brute);
            if exact {
                prop_assert_eq!(max, brute);
            }
        }
    }

    /// P = 2 with only an OCV limit: every S compatible pairs make a pack, so the maximum is
    /// ⌊most disjoint compatible pairs / S⌋, and the matcher builds exactly that (and says
    /// it is exact).
    #[test]
    fn ocv_limited_pack_count_is_the_maximum(
        s in 1usize..4,
        n in 4usize..11,
        ocv in prop::collection::vec(3580.0f64..3640.0, 10),
        caps in prop::collection::vec(1000i64..1100, 10),
        limit in prop::sample::select(vec![5.0, 10.0, 15.0]),
    ) {
        let cells: Vec<CellInput> = (0..n)
            .map(|i| CellInput {
                ocv_mv: Some(ocv[i].round()),
                ..cell(&format!("c{i}"), caps[i] as f64)
            })
            .collect();
        let spec = MatchSpec {
            max_group_ocv_delta_mv: Some(limit),
            ..MatchSpec::new(s, 2, "NMC")
        };
        let rounded: Vec<f64> = (0..n).map(|i| ocv[i].round()).collect();
        let brute = brute_max_pairs(&rounded, limit) / s;
        let (got, max, exact) = built(match_cells(&cells, &spec));
        prop_assert_eq!(got, brute);
        if got > 0 {
            prop_assert!(exact);
            prop_assert_eq!(max, brute);
        }
    }
}
