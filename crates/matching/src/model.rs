//! What goes into the matcher and what comes out of it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One graded cell as the matcher sees it. Units are in the field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellInput {
    pub id: String,
    pub capacity_mah: Option<f64>,
    pub ir_mohm: Option<f64>,
    pub ocv_mv: Option<f64>,
    pub self_discharge_mv_per_day: Option<f64>,
    pub chemistry: String,
    pub model: Option<String>,
}

/// What to build: S series groups of P parallel cells, and the profile's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchSpec {
    pub series: usize,
    pub parallel: usize,
    pub chemistry: String,
    pub capacity_floor_mah: f64,
    pub ir_ceiling_mohm: Option<f64>,
    pub self_discharge_ceiling_mv_per_day: Option<f64>,
    /// Largest OCV difference between cells of one parallel group.
    pub max_group_ocv_delta_mv: Option<f64>,
    /// Largest IR difference between cells of one parallel group.
    pub max_group_ir_spread_mohm: Option<f64>,
    /// Largest spread of the series groups' capacities inside one pack,
    /// (max − min) / mean × 100. With P = 1 this is the cells' spread.
    pub max_group_capacity_spread_pct: Option<f64>,
    pub allow_mixed_models: bool,
    /// Deprecated: read as a balance slack of `ir_weight` × the capacity-spread limit (or
    /// 1 %) of the mean group when neither `balance_slack_*` is set. 0 = not used.
    pub ir_weight: f64,
    /// Balance slack in mAh: a pack's range may exceed its lower bound by
    /// max(`balance_slack_mah`, `balance_slack_pct` % of its mean group) to make its groups
    /// IR-homogeneous. Neither set: the larger of [`DEFAULT_BALANCE_SLACK_PCT`] % of the mean
    /// group and the pack's lower bound itself (or the `ir_weight` mapping, see there).
    #[serde(default)]
    pub balance_slack_mah: Option<f64>,
    /// Balance slack in percent of the pack's mean group capacity (see `balance_slack_mah`).
    #[serde(default)]
    pub balance_slack_pct: Option<f64>,
}

/// Balance slack when a spec sets none: the larger of 0.6 % of the pack's mean group
/// capacity and the pack's lower bound (and, for the IR phase, never above the worst sorted
/// snake of the packs being built). 0.6 % is what the shipped profiles' `ir_weight` allowed
/// (0.2 × a 3 % spread limit, 0.3 × 2 %), so IR homogeneity stays near what operators had
/// while every pack's balance is now bounded.
pub const DEFAULT_BALANCE_SLACK_PCT: f64 = 0.6;

impl MatchSpec {
    /// A spec with only the shape and chemistry set: no floor, no ceilings, no group limits.
    pub fn new(series: usize, parallel: usize, chemistry: impl Into<String>) -> Self {
        MatchSpec {
            series,
            parallel,
            chemistry: chemistry.into(),
            capacity_floor_mah: 0.0,
            ir_ceiling_mohm: None,
            self_discharge_ceiling_mv_per_day: None,
            max_group_ocv_delta_mv: None,
            max_group_ir_spread_mohm: None,
            max_group_capacity_spread_pct: None,
            allow_mixed_models: false,
            ir_weight: 0.0,
            balance_slack_mah: None,
            balance_slack_pct: None,
        }
    }

    /// The balance slack: the larger of `.mah`, `.pct` % of the mean group and (default
    /// only) the pack's lower bound.
    pub fn balance_slack(&self) -> BalanceSlack {
        let plain = |mah: f64, pct: f64| BalanceSlack {
            mah,
            pct,
            of_bound: false,
            from_ir_weight: false,
        };
        match (self.balance_slack_mah, self.balance_slack_pct) {
            (None, None) if self.ir_weight > 0.0 => BalanceSlack {
                from_ir_weight: true,
                ..plain(
                    0.0,
                    self.ir_weight * self.max_group_capacity_spread_pct.unwrap_or(1.0),
                )
            },
            (None, None) => BalanceSlack {
                of_bound: true,
                ..plain(0.0, DEFAULT_BALANCE_SLACK_PCT)
            },
            (m, p) => plain(m.unwrap_or(0.0), p.unwrap_or(0.0)),
        }
    }

    /// Cells in one pack.
    pub fn cells_per_pack(&self) -> usize {
        self.series.saturating_mul(self.parallel)
    }

    /// "16S2P".
    pub fn shape(&self) -> String {
        format!("{}S{}P", self.series, self.parallel)
    }
}

/// How far above its lower bound a pack's range may go (for IR homogeneity) and still
/// count as balanced: the larger of `mah`, `pct` % of its mean group and, when `of_bound`,
/// the bound itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BalanceSlack {
    pub mah: f64,
    pub pct: f64,
    pub of_bound: bool,
    /// Mapped from the deprecated `ir_weight` (w × the capacity-spread limit, or 1 %).
    pub from_ir_weight: bool,
}

/// Why a cell was not considered for any pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    EmptyId,
    DuplicateId,
    WrongChemistry,
    MissingCapacity,
    InvalidMeasurement,
    BelowCapacityFloor,
    MissingIr,
    AboveIrCeiling,
    MissingSelfDischarge,
    AboveSelfDischargeCeiling,
    MissingOcv,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::EmptyId => "empty_id",
            RejectCode::DuplicateId => "duplicate_id",
            RejectCode::WrongChemistry => "wrong_chemistry",
            RejectCode::MissingCapacity => "missing_capacity",
            RejectCode::InvalidMeasurement => "invalid_measurement",
            RejectCode::BelowCapacityFloor => "below_capacity_floor",
            RejectCode::MissingIr => "missing_ir",
            RejectCode::AboveIrCeiling => "above_ir_ceiling",
            RejectCode::MissingSelfDischarge => "missing_self_discharge",
            RejectCode::AboveSelfDischargeCeiling => "above_self_discharge_ceiling",
            RejectCode::MissingOcv => "missing_ocv",
        }
    }

    /// Short plural phrase for counts in messages ("12 below the capacity floor").
    pub fn phrase(self) -> &'static str {
        match self {
            RejectCode::EmptyId => "without an id",
            RejectCode::DuplicateId => "with a duplicated id",
            RejectCode::WrongChemistry => "of another chemistry",
            RejectCode::MissingCapacity => "without a capacity measurement",
            RejectCode::InvalidMeasurement => "with an impossible measurement",
            RejectCode::BelowCapacityFloor => "below the capacity floor",
            RejectCode::MissingIr => "without an IR measurement",
            RejectCode::AboveIrCeiling => "above the IR ceiling",
            RejectCode::MissingSelfDischarge => "without a self-discharge measurement",
            RejectCode::AboveSelfDischargeCeiling => "above the self-discharge ceiling",
            RejectCode::MissingOcv => "without an OCV measurement",
        }
    }
}

/// A cell the matcher would not use, and why in words an operator reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub id: String,
    pub code: RejectCode,
    pub reason: String,
}

/// One matched pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedPack {
    /// 1-based position in this run (not a database id).
    pub index: usize,
    /// The models in the pack (one unless the profile allows mixing; empty when unknown).
    pub models: Vec<String>,
    /// `groups[s][p]`: S arrays of P cell ids, in series order.
    pub groups: Vec<Vec<String>>,
    pub metrics: PackMetrics,
}

/// Quality figures of one pack. Keys carry their unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackMetrics {
    /// Sum of cell capacities per series group, in series order (whole mAh).
    pub group_capacities_mah: Vec<f64>,
    /// The weakest group: what the pack can deliver.
    pub usable_capacity_mah: f64,
    pub mean_group_capacity_mah: f64,
    /// Strongest minus weakest group.
    pub range_mah: f64,
    /// Range as a percentage of the mean group.
    pub range_pct: f64,
    /// No arrangement of this pack's cells has a smaller range.
    pub lower_bound_range_mah: f64,
    /// Which bound gave `lower_bound_range_mah`.
    pub lower_bound_kind: BoundKind,
    pub gap_to_bound_mah: f64,
    pub at_lower_bound: bool,
    /// The balance slack of this pack, whole mAh (see `MatchSpec::balance_slack`).
    pub balance_slack_mah: f64,
    /// range ≤ lower bound + slack: the pack is balanced as well as the profile asks.
    pub at_bound_within_slack: bool,
    /// Set when the pack is not within slack of its bound and a limit may be why: the bound
    /// counts the in-group limits only per cell, so it may be out of reach.
    pub bound_note: Option<String>,
    /// The range is the proven optimum for this set of cells (P ≤ 2, or the bound is met).
    pub optimal: bool,
    /// Max − min cell IR in each group (null when fewer than two cells in it have an IR).
    pub group_ir_spread_mohm: Vec<Option<f64>>,
    /// Coefficient of variation of cell IR in each group, percent.
    pub group_ir_cv_pct: Vec<Option<f64>>,
    /// Each group's parallel resistance 1/Σ(1/R) (null unless every cell has an IR).
    pub group_parallel_ir_mohm: Vec<Option<f64>>,
    /// Coefficient of variation of cell IR over the whole pack, percent.
    pub pack_ir_cv_pct: Option<f64>,
    /// Max − min OCV in each group (null when fewer than two cells in it have an OCV).
    pub group_ocv_spread_mv: Vec<Option<f64>>,
    pub ocv_spread_mv: Option<f64>,
    /// Worst current that flows when two cells of a group are paralleled: ΔV / (R1 + R2).
    pub max_inrush_a: Option<f64>,
    /// Max − min self-discharge in the pack (series drift).
    pub self_discharge_spread_mv_per_day: Option<f64>,
}

/// The bound that set a pack's `lower_bound_range_mah`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundKind {
    /// One cell per group: the range is fixed by the cells.
    SingleCell,
    /// P = 2: the fold (largest with smallest) is provably range-optimal.
    FoldExact,
    /// ⌈T/S⌉ − ⌊T/S⌋ with whole-mAh capacities.
    Integer,
    /// One cell's group holds at least (at most) that cell plus the P−1 smallest (largest) others.
    PerCell,
    /// The k smallest (largest) cells must sit in some d groups; those groups cap (floor) the rest.
    OutlierSet,
    /// An exhaustive search (exact cover over group-sum bands) proved no smaller range exists.
    Exhaustive,
    /// The per-cell bound counting only partners within the in-group OCV/IR limits.
    InGroupLimits,
}

/// The pack that bounds the run's quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstPack {
    pub index: usize,
    pub range_mah: f64,
    pub range_pct: f64,
    pub lower_bound_range_mah: f64,
}

/// One model class (or the whole chemistry when models may mix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StratumSummary {
    pub model: Option<String>,
    pub eligible_cells: usize,
    pub packs_built: usize,
    /// The most packs the limits allow in this class: exact when `max_packs_exact`, else an
    /// upper bound ("at most").
    pub max_possible_packs: usize,
    pub max_packs_exact: bool,
    /// What the maximum counts, and for an upper bound which limits it leaves out.
    pub max_packs_note: String,
}

/// A candidate pack discarded because its cells could not be arranged within the limits
/// (its cells went back to the spares for the next pass).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedPack {
    pub model: Option<String>,
    /// The limits it broke, with the figures ("group OCV spread 22.0 mV > 15 mV").
    pub reason: String,
}

/// Figures for the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchSummary {
    pub shape: String,
    pub cells_in: usize,
    pub eligible_cells: usize,
    pub rejected_cells: usize,
    pub rejected_by_reason: BTreeMap<RejectCode, usize>,
    pub leftover_cells: usize,
    pub packs_built: usize,
    /// The most packs the limits allow, summed over model classes (see `strata`).
    pub max_possible_packs: usize,
    /// Every class's maximum is exact; otherwise `max_possible_packs` is "at most".
    pub max_packs_exact: bool,
    /// ⌊eligible / S·P⌋ over all eligible cells, ignoring model classes and group limits.
    pub naive_max_packs: usize,
    /// Σ usable / Σ mean group: capacity lost to imbalance is 1 − this.
    pub utilisation: f64,
    /// Σ usable over the best any packing of the same number of packs could reach
    /// (the top cells' capacity / S).
    pub utilisation_vs_upper_bound: f64,
    pub total_usable_capacity_mah: f64,
    pub fraction_at_lower_bound: f64,
    /// Share of packs whose range is within the balance slack of their lower bound.
    pub fraction_within_slack: f64,
    /// The balance slack applied, in words (and the `ir_weight` deprecation when it applies).
    pub balance_slack: String,
    pub median_range_pct: f64,
    pub worst_pack: Option<WorstPack>,
    /// Median over groups of the in-group IR coefficient of variation, percent.
    pub median_group_ir_cv_pct: Option<f64>,
    pub max_group_ir_spread_mohm: Option<f64>,
    pub max_group_ocv_spread_mv: Option<f64>,
    pub ir_weight: f64,
    /// Candidate packs discarded because no arrangement met the group limits.
    pub packs_dropped_for_limits: usize,
    /// One reason per discarded candidate.
    pub dropped_packs: Vec<DroppedPack>,
    pub strata: Vec<StratumSummary>,
    /// How long the run took, as timed by the caller (the crate reads no clock; 0 if untimed).
    pub elapsed_ms: f64,
}

/// The matcher's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchOutcome {
    pub packs: Vec<MatchedPack>,
    /// Eligible cells not placed in any pack.
    pub leftover: Vec<String>,
    pub rejected: Vec<Rejection>,
    pub summary: MatchSummary,
}
