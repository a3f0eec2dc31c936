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

    /// What a measurement of a cell of this chemistry can plausibly read at intake (see
    /// [`Plausible`]); a value outside is refused as a unit mix-up or a cell that must not be
    /// repurposed.
    pub fn plausible(self) -> Plausible {
        // Open-circuit voltage windows, per cell. Sources: the discharge cut-off and the charge
        // limit of common datasheets for each family, the OCV being able to sit anywhere between
        // them. A resting OCV outside means an over-discharged cell (copper dissolution; it must
        // not be repurposed), an overcharged one, another chemistry, or a unit mix-up.
        // - LFP 2.0–3.65 V: EVE LF280K and CATL 280 Ah sheets (2.5 V cut-off, 2.0 V allowed in
        //   the cold; 3.65 V charge limit). A rested LFP cell reads 3.2–3.45 V.
        // - NMC 2.5–4.35 V: 2.5 V cut-off of Samsung/LG/Panasonic NMC cells; 4.35 V is the
        //   charge limit of the high-voltage grades (most charge to 4.2 V).
        // - NCA 2.5–4.30 V: Panasonic NCR18650B / Tesla-style cells, 2.5–4.2 V, plus 0.1 V for
        //   meter error; the family's hard limit (4.30 V) is the ceiling.
        // - LMO 2.5–4.30 V: LMO/NMC-blend HEV pouches, 2.5–4.2 V; PulseBat's retired LMO cells
        //   read up to 4.04 V at a nominal 50 % state of charge (data/cells).
        // - LTO 1.5–2.85 V: Toshiba SCiB 1.5–2.7 V, Yinlong 1.5–2.8 V; the family's hard limit.
        let (ocv_min_mv, ocv_max_mv) = match self {
            Chemistry::Lfp => (2000.0, 3650.0),
            Chemistry::Nmc => (2500.0, 4350.0),
            Chemistry::Nca | Chemistry::Lmo => (2500.0, 4300.0),
            Chemistry::Lto => (1500.0, 2850.0),
        };
        Plausible {
            ocv_min_mv,
            ocv_max_mv,
            // 50 mAh: below the smallest cell anyone grades for a pack (small LiPo pouches are
            // ~100 mAh); 1,000 Ah: above the largest single cells made (LFP storage cells reach
            // 628 Ah). Together they catch Ah written in a mAh column and the reverse.
            capacity_min_mah: 50.0,
            capacity_max_mah: 1_000_000.0,
            // 0.05 mΩ: below the AC IR of the largest LFP cells (0.1–0.2 mΩ at 280–628 Ah);
            // 2,000 mΩ: far above a worn small cell (18650s grade at 15–150 mΩ; the
            // kuking_18650 fixture reaches 134 mΩ). Ω written in a mΩ column falls below.
            ir_min_mohm: 0.05,
            ir_max_mohm: 2000.0,
            // IR × capacity is roughly constant for a cell design: 13 mΩ × 3 Ah ≈ 40 for a
            // power 18650, 0.2 mΩ × 280 Ah ≈ 56 for a storage cell, 116 mΩ × 2.1 Ah ≈ 240 for
            // a worn laptop 18650, ≈ 18 for a 30 Ah LTO. Outside 3–5,000 mΩ·Ah the IR is in
            // another unit (µΩ, Ω) than the column says, or belongs to another cell.
            ir_capacity_min_mohm_ah: 3.0,
            ir_capacity_max_mohm_ah: 5000.0,
            // A good cell loses well under 1 mV/day and graders fail cells above ~8 mV/day
            // (reference: matching notes, self-discharge filter); 100 mV/day flattens a cell
            // within weeks: a shorted cell or a figure per week or month.
            self_discharge_max_mv_per_day: 100.0,
            // A measured capacity far above the model's rating is a unit or model mix-up: new
            // cells test up to ~10 % above nominal, the mackelec LTO fixture up to 19.7 %.
            capacity_above_nominal_max: 1.3,
            // Under 5 % of the rating is not a graded cell but a failed or mis-scaled reading.
            capacity_below_nominal_min: 0.05,
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

/// Windows a grading-cabinet measurement must fall in to be believed (compiled in, like
/// [`HardLimits`]). Intake refuses a value outside with the likely cause; profiles use the same
/// windows for their nominal capacity and tolerances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Plausible {
    pub ocv_min_mv: f64,
    pub ocv_max_mv: f64,
    pub capacity_min_mah: f64,
    pub capacity_max_mah: f64,
    pub ir_min_mohm: f64,
    pub ir_max_mohm: f64,
    /// Bounds on IR (mΩ) × capacity (Ah), a cell design's near-constant.
    pub ir_capacity_min_mohm_ah: f64,
    pub ir_capacity_max_mohm_ah: f64,
    pub self_discharge_max_mv_per_day: f64,
    /// Largest measured / nominal capacity ratio believed.
    pub capacity_above_nominal_max: f64,
    /// Smallest measured / nominal capacity ratio believed.
    pub capacity_below_nominal_min: f64,
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
    fn plausible_windows_sit_inside_or_at_the_hard_limits() {
        for chem in Chemistry::ALL {
            let l = chem.hard_limits();
            let p = chem.plausible();
            assert!(p.ocv_min_mv >= f64::from(l.min_cell_mv), "{chem}");
            assert!(p.ocv_max_mv >= f64::from(l.max_charge_mv), "{chem}");
            assert!(p.ocv_min_mv < f64::from(l.nominal_mv), "{chem}");
            assert!(p.capacity_min_mah < p.capacity_max_mah);
            assert!(p.ir_min_mohm < p.ir_max_mohm);
        }
        assert_eq!(Chemistry::Lfp.plausible().ocv_max_mv, 3650.0);
        assert_eq!(Chemistry::Nmc.plausible().ocv_max_mv, 4350.0);
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
