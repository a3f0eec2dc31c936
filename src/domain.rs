//! The things on the line: graded cells and the packs built from them.

use crate::chemistry::Chemistry;
use serde::{Deserialize, Serialize};

/// One graded second-life cell, as the grading cabinet measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The cell's barcode or cabinet id; unique in the plant.
    pub id: String,
    pub chemistry: Chemistry,
    pub model: Option<String>,
    pub capacity_mah: Option<f64>,
    pub ir_mohm: Option<f64>,
    pub ocv_mv: Option<f64>,
    pub self_discharge_mv_per_day: Option<f64>,
    pub grade: Option<String>,
    /// Code of the module or pack the cell was harvested from (traceability).
    pub source_code: Option<String>,
    pub status: CellStatus,
    /// Why a cell is rejected or scrapped.
    pub status_reason: Option<String>,
}

impl Cell {
    /// A cell may be repurposed only with its grading record and its origin (IEC 63338).
    pub fn missing_traceability(&self) -> Option<&'static str> {
        if self.capacity_mah.is_none() {
            Some("no graded capacity")
        } else if self.source_code.as_deref().is_none_or(str::is_empty) {
            Some("no source module/pack code")
        } else {
            None
        }
    }
}

/// `ALL`, `as_str`, `Display` and `FromStr` (any case) for a fieldless enum, from each
/// variant's text.
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} '{}': expected one of {}", stringify!($name), s, names.join(", "))
                    })
            }
        }
    };
}
pub(crate) use text_enum;

/// A status enum stored and shown as snake_case text.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        text_enum!($name { $($variant => $text),+ });
    };
}

string_enum!(
    /// Where a cell is in its life on the line.
    CellStatus {
        Available => "available",
        Reserved => "reserved",
        Assembled => "assembled",
        Rejected => "rejected",
        Scrapped => "scrapped",
    }
);

string_enum!(
    /// Where a pack is on the line, in order.
    PackStatus {
        Matched => "matched",
        Assembled => "assembled",
        Configured => "configured",
        Passed => "passed",
        Failed => "failed",
        Scrapped => "scrapped",
        OnHold => "on_hold",
        Released => "released",
    }
);

impl PackStatus {
    /// Whether the pack's cells are physically built together (assembled or later, held
    /// included): a rejected cell there puts the pack on hold rather than leaving its plan.
    pub fn is_built(self) -> bool {
        matches!(
            self,
            PackStatus::Assembled
                | PackStatus::Configured
                | PackStatus::Passed
                | PackStatus::Failed
                | PackStatus::OnHold
        )
    }
}

impl CellStatus {
    /// Rejected or scrapped: never matched, placed or reworked in.
    pub fn is_out_of_stock(self) -> bool {
        matches!(self, CellStatus::Rejected | CellStatus::Scrapped)
    }
}

/// A pack as the store holds it: its cells in series-group order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pack {
    pub id: i64,
    /// The traceability code assigned at assembly (GB/T 34014 or the plant's pattern).
    pub code: Option<String>,
    pub profile: String,
    pub status: PackStatus,
    /// `groups[s][p]` is the cell id in series group `s` (0-based), parallel slot `p`.
    /// An empty string is an open slot: its cell left the plan (rejected) and none has
    /// replaced it yet.
    pub groups: Vec<Vec<String>>,
    pub created_at: String,
    /// Why the pack is on hold or was released, by whom and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_note: Option<String>,
}

impl Pack {
    /// The label an operator reads: the code when assigned, else `#id`.
    pub fn label(&self) -> String {
        self.code.clone().unwrap_or_else(|| format!("#{}", self.id))
    }

    /// Open slots (`S3P1`, 1-based) waiting for a replacement cell.
    pub fn open_slots(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (s, group) in self.groups.iter().enumerate() {
            for (p, cell) in group.iter().enumerate() {
                if cell.is_empty() {
                    out.push(format!("S{}P{}", s + 1, p + 1));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rejects_unknown() {
        for s in CellStatus::ALL {
            assert_eq!(s.as_str().parse::<CellStatus>().unwrap(), *s);
        }
        let err = "lost".parse::<CellStatus>().unwrap_err();
        assert!(err.contains("lost") && err.contains("available"), "{err}");
    }
}
