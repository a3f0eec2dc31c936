#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Property tests: whatever the inventory and the profile, no pack breaks a hard limit, every
//! cell is accounted for exactly once, and every reported bound is below the pack's range.

mod common;

use common::assert_accounted;
use packwright_matching::{match_cells_with, CellInput, MatchError, MatchOptions, MatchSpec};
use proptest::prelude::*;

fn arb_cell(i: usize) -> impl Strategy<Value = CellInput> {
    (
        prop::option::weighted(0.95, 1500.0f64..3000.0),
        prop::option::weighted(0.9, 10.0f64..80.0),
        prop::option::weighted(0.9, 3550.0f64..3700.0),
        prop::option::weighted(0.9, 0.0f64..10.0),
        prop::sample::select(vec!["NMC", "nmc", "LFP"]),
        prop::sample::select(vec![Some("A"), Some("a "), Some("B"), None]),
    )
        .prop_map(move |(cap, ir, ocv, sd, chem, model)| CellInput {
            id: format!("c{i}"),
            capacity_mah: cap.map(f64::round),
            ir_mohm: ir,
            ocv_mv: ocv,
            self_discharge_mv_per_day: sd,
            chemistry: chem.to_string(),
            model: model.map(str::to_string),
        })
}

fn arb_inventory() -> impl Strategy<Value = Vec<CellInput>> {
    (0usize..160).prop_flat_map(|n| (0..n).map(arb_cell).collect::<Vec<_>>())
}

fn arb_spec() -> impl Strategy<Value = MatchSpec> {
    (
        1usize..7,
        1usize..5,
        0.0f64..2200.0,
        prop::option::of(20.0f64..80.0),
        prop::option::of(2.0f64..10.0),
        prop::option::of(5.0f64..150.0),
        prop::option::of(2.0f64..60.0),
        prop::option::of(0.5f64..20.0),
        any::<bool>(),
        prop::sample::select(vec![0.0, 0.3, 1.0]),
    )
        .prop_map(
            |(s, p, floor, ir, sd, ocv, irs, spread, mixed, w)| MatchSpec {
                capacity_floor_mah: floor,
                ir_ceiling_mohm: ir,
                self_discharge_ceiling_mv_per_day: sd,
                max_group_ocv_delta_mv: ocv,
                max_group_ir_spread_mohm: irs,
                max_group_capacity_spread_pct: spread,
                allow_mixed_models: mixed,
                ir_weight: w,
                ..MatchSpec::new(s, p, "NMC")
            },
        )
}

fn span(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    let hi = v.iter().copied().fold(f64::MIN, f64::max);
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    if v.len() < 2 {
        0.0
    } else {
        hi - lo
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_pack_breaks_a_hard_limit(cells in arb_inventory(), spec in arb_spec()) {
        // Every code path, a smaller budget: the limits do not depend on how deep it searches.
        let opts = MatchOptions {
            search_rounds: 400,
            search_rounds_per_pack: 200,
            exact_nodes_per_pack: 200_000,
            ..MatchOptions::default()
        };
        let out = match match_cells_with(&cells, &spec, &opts) {
            Ok(out) => out,
            Err(MatchError::EmptyInventory) => {
                prop_assert!(cells.is_empty());
                return Ok(());
            }
            Err(e @ (MatchError::NotEnoughCells { .. } | MatchError::NoFeasiblePack { .. })) => {
                prop_assert!(!e.to_string().is_empty());
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        };
        prop_assert!(!out.packs.is_empty());
        assert_accounted(&cells, &out);
        let by_id = |id: &str| cells.iter().find(|c| c.id == id).expect("known id");
        for pack in &out.packs {
            prop_assert_eq!(pack.groups.len(), spec.series);
            let members: Vec<&CellInput> = pack.groups.iter().flatten().map(|id| by_id(id)).collect();
            for c in &members {
                prop_assert!(c.chemistry.eq_ignore_ascii_case("nmc"));
                let cap = c.capacity_mah.expect("packed cells have a capacity");
                prop_assert!(cap >= spec.capacity_floor_mah);
                if let Some(ceiling) = spec.ir_ceiling_mohm {
                    prop_assert!(c.ir_mohm.is_some_and(|ir| ir <= ceiling));
                }
                if let Some(ceiling) = spec.self_discharge_ceiling_mv_per_day {
                    prop_assert!(c.self_discharge_mv_per_day.is_some_and(|sd| sd <= ceiling));
                }
            }
            if !spec.allow_mixed_models {
                let key = |c: &&CellInput| c.model.as_deref().map(|m| m.trim().to_ascii_lowercase());
                prop_assert!(members.iter().all(|c| key(c) == key(&members[0])), "one model per pack");
            }
            for group in &pack.groups {
                prop_assert_eq!(group.len(), spec.parallel);
                let g: Vec<&CellInput> = group.iter().map(|id| by_id(id)).collect();
                if let Some(lim) = spec.max_group_ocv_delta_mv {
                    prop_assert!(span(g.iter().filter_map(|c| c.ocv_mv)) <= lim + 1e-9);
                }
                if let Some(lim) = spec.max_group_ir_spread_mohm {
                    prop_assert!(span(g.iter().filter_map(|c| c.ir_mohm)) <= lim + 1e-9);
                }
            }
            let m = &pack.metrics;
            let sums: Vec<f64> = pack.groups.iter()
                .map(|g| g.iter().map(|id| by_id(id).capacity_mah.unwrap_or(0.0).round()).sum())
                .collect();
            prop_assert_eq!(&m.group_capacities_mah, &sums);
            if let Some(lim) = spec.max_group_capacity_spread_pct {
                prop_assert!(m.range_pct <= lim + 1e-9, "range {} % over {} %", m.range_pct, lim);
            }
            prop_assert!(m.lower_bound_range_mah <= m.range_mah, "bound above the range");
            prop_assert_eq!(m.gap_to_bound_mah, m.range_mah - m.lower_bound_range_mah);
        }
        prop_assert!(out.summary.packs_built <= out.summary.max_possible_packs);
    }
}
