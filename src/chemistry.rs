//! Cell chemistries and their hard safety limits.
//!
//! These limits are compiled in on purpose: no profile, operator or file can widen them. Every
//! BMS configuration is checked against them before a single byte goes to a board. The values
//! are conservative datasheet envelopes for each chemistry family (absolute cell voltage window,
//! highest allowed charge voltage, charge and discharge temperature windows).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Chemistry {
    Lfp,
    Nmc,
    Nca,
    Lmo,
    Lto,
}

/// The envelope a chemistry must never leave. Voltages are per cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HardLimits {
    /// No protection trigger may sit above this cell voltage.
    pub max_cell_mv: u32,
    /// No protection trigger may sit below this cell voltage.
    pub min_cell_mv: u32,
    /// Highest full-charge (end-of-charge) voltage allowed.
    pub max_charge_mv: u32,
    /// Nominal cell voltage, for energy figures.
    pub nominal_mv: u32,
    pub charge_min_c: f64,
    pub charge_max_c: f64,
    pub discharge_min_c: f64,
    pub discharge_max_c: f64,
}

impl Chemistry {
    pub const ALL: [Chemistry; 5] = [
        Chemistry::Lfp,
        Chemistry::Nmc,
        Chemistry::Nca,
        Chemistry::Lmo,
        Chemistry::Lto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Chemistry::Lfp => "LFP",
            Chemistry::Nmc => "NMC",
            Chemistry::Nca => "NCA",
            Chemistry::Lmo => "LMO",
            Chemistry::Lto => "LTO",
        }
    }

    pub fn hard_limits(self) -> HardLimits {
        match self {
            Chemistry::Lfp => HardLimits {
                max_cell_mv: 3750,
                min_cell_mv: 2000,
                max_charge_mv: 3650,
                nominal_mv: 3200,
                charge_min_c: 0.0,
                charge_max_c: 55.0,
                discharge_min_c: -20.0,
                discharge_max_c: 60.0,
            },
            Chemistry::Nmc | Chemistry::Nca | Chemistry::Lmo => HardLimits {
                max_cell_mv: 4300,
                min_cell_mv: 2500,
                max_charge_mv: 4200,
                nominal_mv: match self {
                    Chemistry::Lmo => 3700,
                    _ => 3650,
                },
                charge_min_c: 0.0,
                charge_max_c: 45.0,
                discharge_min_c: -20.0,
                discharge_max_c: 60.0,
            },
            Chemistry::Lto => HardLimits {
                max_cell_mv: 2850,
                min_cell_mv: 1500,
                max_charge_mv: 2800,
                nominal_mv: 2400,
                charge_min_c: -10.0,
                charge_max_c: 55.0,
                discharge_min_c: -30.0,
                discharge_max_c: 60.0,
            },
        }
    }

    /// GB/T 34014 battery-type letter (position 5 of a 24-character code).
    pub fn gbt34014_letter(self) -> char {
        match self {
            Chemistry::Lfp => 'B',
            Chemistry::Nmc | Chemistry::Nca => 'E',
            Chemistry::Lmo => 'C',
            Chemistry::Lto => 'D',
        }
    }
}

impl fmt::Display for Chemistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chemistry '{0}': expected one of LFP, NMC, NCA, LMO, LTO")]
pub struct UnknownChemistry(pub String);

impl FromStr for Chemistry {
    type Err = UnknownChemistry;

    /// Accepts the usual spellings found in grading-cabinet exports (`LiFePO4`, `NCM`, `ternary`…).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        Ok(match norm.as_str() {
            "LFP" | "LIFEPO4" | "LFPO" => Chemistry::Lfp,
            "NMC" | "NCM" | "TERNARY" | "LINMC" => Chemistry::Nmc,
            "NCA" => Chemistry::Nca,
            "LMO" | "LIMN2O4" => Chemistry::Lmo,
            "LTO" | "LI4TI5O12" => Chemistry::Lto,
            _ => return Err(UnknownChemistry(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chemistry_has_a_consistent_envelope() {
        for chem in Chemistry::ALL {
            let l = chem.hard_limits();
            assert!(l.min_cell_mv < l.nominal_mv, "{chem}");
            assert!(l.nominal_mv < l.max_charge_mv, "{chem}");
            assert!(l.max_charge_mv < l.max_cell_mv, "{chem}");
            assert!(l.charge_min_c < l.charge_max_c, "{chem}");
            assert!(l.discharge_min_c < l.discharge_max_c, "{chem}");
        }
    }

    #[test]
    fn parses_common_spellings() {
        assert_eq!("LiFePO4".parse::<Chemistry>().unwrap(), Chemistry::Lfp);
        assert_eq!("ncm".parse::<Chemistry>().unwrap(), Chemistry::Nmc);
        assert_eq!("LTO".parse::<Chemistry>().unwrap(), Chemistry::Lto);
        let err = "NiMH".parse::<Chemistry>().unwrap_err();
        assert!(err.to_string().contains("NiMH"));
    }
}
