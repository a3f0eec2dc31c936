//! What every BMS protocol decodes to: one transport-independent picture of a pack.
//!
//! Serial (JBD, Daly) and CAN (Pylontech, Daly CAN, JBD CAN) readers all fill this, so the
//! end-of-line runner and the console never care which wire a pack is on. JSON keys are
//! snake_case with the unit as suffix, the convention every `--json` output follows.

use serde::{Deserialize, Serialize};

/// One reading of a pack's BMS. Fields a protocol does not carry stay `None` / empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BmsSnapshot {
    pub pack_voltage_v: f64,
    /// Positive while charging, negative while discharging.
    pub current_a: f64,
    pub remaining_ah: Option<f64>,
    pub nominal_ah: Option<f64>,
    pub cycles: Option<u32>,
    pub soc_pct: Option<f64>,
    pub cell_count: usize,
    /// In series order, cell 1 first. A 0 is a real reading (or an empty slot), never dropped.
    pub cell_voltages_mv: Vec<u32>,
    pub temperatures_c: Vec<f64>,
    /// The active protection flags, each with its kind and its protocol's name
    /// (`cell_overvoltage`, Daly's `cell_overvoltage_l2`, …).
    pub protection: Vec<Protection>,
    pub charge_fet: Option<bool>,
    pub discharge_fet: Option<bool>,
    /// 1-based numbers of the cells whose balancing shunt is on.
    pub balancing_cells: Vec<usize>,
    /// `YYYY-MM-DD`.
    pub manufacture_date: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
}

impl BmsSnapshot {
    /// Highest minus lowest cell voltage, in mV; `None` without cell readings.
    pub fn cell_spread_mv(&self) -> Option<u32> {
        let min = self.cell_voltages_mv.iter().min()?;
        let max = self.cell_voltages_mv.iter().max()?;
        Some(max - min)
    }

    /// Sum of the cell voltages in volts, to compare with the pack voltage.
    pub fn cell_sum_v(&self) -> f64 {
        self.cell_voltages_mv
            .iter()
            .map(|&mv| f64::from(mv))
            .sum::<f64>()
            / 1000.0
    }
}

/// What a protection flag protects against, whatever a protocol calls it. Decisions (is
/// over-voltage protection active?) are made on this, never on the flag's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtectionKind {
    CellOvervoltage,
    CellUndervoltage,
    PackOvervoltage,
    PackUndervoltage,
    ChargeOvercurrent,
    DischargeOvercurrent,
    ShortCircuit,
    ChargeOvertemperature,
    ChargeUndertemperature,
    DischargeOvertemperature,
    DischargeUndertemperature,
    /// A flag of no kind above (hardware faults, warnings, reserved bits).
    Other,
}

impl ProtectionKind {
    /// The kind of a flag by its exact name in a protocol's table (JBD, Daly with its `_l1`/
    /// `_l2` levels, JK, Pylontech, Pace, Seplos).
    pub fn of(name: &str) -> ProtectionKind {
        let base = name
            .strip_suffix("_l1")
            .or_else(|| name.strip_suffix("_l2"))
            .unwrap_or(name);
        match base {
            "cell_overvoltage" => ProtectionKind::CellOvervoltage,
            "cell_undervoltage" => ProtectionKind::CellUndervoltage,
            // Pylontech CAN's overvoltage and JK's charge over-voltage are the pack's.
            "pack_overvoltage" | "overvoltage" | "charge_overvoltage" | "total_overvoltage" => {
                ProtectionKind::PackOvervoltage
            }
            "pack_undervoltage"
            | "undervoltage"
            | "discharge_undervoltage"
            | "total_undervoltage" => ProtectionKind::PackUndervoltage,
            "charge_overcurrent" => ProtectionKind::ChargeOvercurrent,
            "discharge_overcurrent" => ProtectionKind::DischargeOvercurrent,
            "short_circuit" | "charge_short_circuit" | "discharge_short_circuit" => {
                ProtectionKind::ShortCircuit
            }
            "charge_overtemperature" | "over_temperature" => ProtectionKind::ChargeOvertemperature,
            "charge_undertemperature" | "under_temperature" => {
                ProtectionKind::ChargeUndertemperature
            }
            "discharge_overtemperature" => ProtectionKind::DischargeOvertemperature,
            "discharge_undertemperature" => ProtectionKind::DischargeUndertemperature,
            _ => ProtectionKind::Other,
        }
    }

    pub fn is_overvoltage(self) -> bool {
        matches!(
            self,
            ProtectionKind::CellOvervoltage | ProtectionKind::PackOvervoltage
        )
    }
}

/// One active protection flag: its kind, and the name its protocol gives it (what JSON and
/// the screens show).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Protection {
    pub kind: ProtectionKind,
    pub name: String,
}

impl From<String> for Protection {
    fn from(name: String) -> Protection {
        Protection {
            kind: ProtectionKind::of(&name),
            name,
        }
    }
}

impl From<&str> for Protection {
    fn from(name: &str) -> Protection {
        Protection::from(name.to_string())
    }
}

impl From<Protection> for String {
    fn from(p: Protection) -> String {
        p.name
    }
}

/// A flag equals its protocol's name (so tests and filters can say `"cell_overvoltage"`).
impl PartialEq<&str> for Protection {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The flags' names, comma-separated, for messages and screens.
pub fn protection_text(flags: &[Protection]) -> String {
    flags
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every BMS protocol Packwright speaks, by the name used on the command line and in profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    Jbd,
    Daly,
    Pylontech,
    DalyCan,
    JbdCan,
    /// JK PB series over RS485 Modbus RTU ([`crate::jk_pb`]).
    JkPb,
    /// Pace v25 packs over RS485, Pylontech-style ASCII ([`crate::pylon_ascii`], VER 0x25).
    #[serde(rename = "pace-485")]
    Pace,
}

impl ProtocolKind {
    pub const ALL: [ProtocolKind; 7] = [
        ProtocolKind::Jbd,
        ProtocolKind::Daly,
        ProtocolKind::Pylontech,
        ProtocolKind::DalyCan,
        ProtocolKind::JbdCan,
        ProtocolKind::JkPb,
        ProtocolKind::Pace,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Jbd => "jbd",
            ProtocolKind::Daly => "daly",
            ProtocolKind::Pylontech => "pylontech",
            ProtocolKind::DalyCan => "daly-can",
            ProtocolKind::JbdCan => "jbd-can",
            ProtocolKind::JkPb => "jk-pb",
            ProtocolKind::Pace => "pace-485",
        }
    }

    /// True for the protocols spoken over a serial port (UART/RS485), false for CAN.
    pub fn is_serial(self) -> bool {
        matches!(
            self,
            ProtocolKind::Jbd | ProtocolKind::Daly | ProtocolKind::JkPb | ProtocolKind::Pace
        )
    }

    /// The documented default line speed of a serial protocol (8N1).
    pub fn default_baud(self) -> u32 {
        match self {
            ProtocolKind::JkPb => 115_200,
            _ => 9600,
        }
    }

    pub fn parse(name: &str) -> Option<ProtocolKind> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
