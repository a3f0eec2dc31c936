//! Why a match could not run at all. Messages are for the operator at the line.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum MatchError {
    /// The profile itself is unusable (zero series, negative floor, NaN …).
    #[error("invalid matching spec: {0}")]
    InvalidSpec(String),

    #[error("the inventory is empty: there are no cells to match")]
    EmptyInventory,

    /// Not one pack can be built: too few eligible cells of any single model class.
    #[error(
        "not enough cells for one {shape} pack (it needs {needed} cells): {cells_in} cells given, \
         {eligible} eligible{largest}{rejections}"
    )]
    NotEnoughCells {
        shape: String,
        needed: usize,
        cells_in: usize,
        eligible: usize,
        /// ", the largest single-model stock is 20 cells of 'X'" when classes split the stock.
        largest: String,
        /// "; rejected: 12 below the capacity floor, 3 of another chemistry" when any were.
        rejections: String,
    },

    /// Enough cells, but no arrangement meets the profile's group limits.
    #[error(
        "no {shape} pack meets the profile's group limits ({limits}): {eligible} eligible cells, \
         but no {needed} of them can be arranged within those limits"
    )]
    NoFeasiblePack {
        shape: String,
        needed: usize,
        eligible: usize,
        limits: String,
    },
}
