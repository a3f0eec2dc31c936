//! The shipped profiles as the benchmark runs them: their matching tolerances copied into
//! [`MatchSpec`]s (the crate reads no files), and synthetic inventories scaled to their cell.

use crate::model::MatchSpec;

/// One shipped profile's matching side.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippedProfile {
    pub name: &'static str,
    /// The profile's `nominal_capacity_mah`: synthetic cells are scaled to it.
    pub nominal_mah: f64,
    /// The spec as the root crate maps the profile (`src/matching.rs`, `spec_for`).
    pub spec: MatchSpec,
    /// The `ir_weight` the profile had before the balance slack replaced it.
    pub legacy_ir_weight: f64,
}

#[allow(clippy::too_many_arguments)]
fn shipped(
    name: &'static str,
    chemistry: &str,
    (series, parallel): (usize, usize),
    nominal_mah: f64,
    floor: f64,
    ir_ceiling: f64,
    ir_spread: f64,
    ocv_delta: f64,
    spread_pct: f64,
    legacy_ir_weight: f64,
) -> ShippedProfile {
    let mut spec = MatchSpec::new(series, parallel, chemistry);
    spec.capacity_floor_mah = floor;
    spec.ir_ceiling_mohm = Some(ir_ceiling);
    spec.self_discharge_ceiling_mv_per_day = Some(3.0);
    spec.max_group_ir_spread_mohm = Some(ir_spread);
    spec.max_group_ocv_delta_mv = Some(ocv_delta);
    spec.max_group_capacity_spread_pct = Some(spread_pct);
    ShippedProfile {
        name,
        nominal_mah,
        spec,
        legacy_ir_weight,
    }
}

/// Every profile in `profiles/*.toml`, `[tolerances]` copied by hand (keep in step): none
/// sets a balance slack (the default applies); the last argument is the `ir_weight` they
/// had before the slack replaced it.
pub fn shipped_profiles() -> Vec<ShippedProfile> {
    vec![
        // profiles/lfp-15s1p-100ah.toml
        shipped(
            "lfp-15s1p-100ah",
            "LFP",
            (15, 1),
            100_000.0,
            80_000.0,
            1.0,
            0.2,
            20.0,
            3.0,
            0.0,
        ),
        // profiles/lfp-16s1p-280ah.toml
        shipped(
            "lfp-16s1p-280ah",
            "LFP",
            (16, 1),
            280_000.0,
            224_000.0,
            0.35,
            0.1,
            20.0,
            3.0,
            0.2,
        ),
        // profiles/lfp-16s2p-105ah.toml
        shipped(
            "lfp-16s2p-105ah",
            "LFP",
            (16, 2),
            105_000.0,
            84_000.0,
            0.8,
            0.15,
            15.0,
            3.0,
            0.2,
        ),
        // profiles/nmc-14s4p-ev.toml
        shipped(
            "nmc-14s4p-ev",
            "NMC",
            (14, 4),
            21_000.0,
            16_800.0,
            4.5,
            1.0,
            30.0,
            2.0,
            0.3,
        ),
    ]
}
