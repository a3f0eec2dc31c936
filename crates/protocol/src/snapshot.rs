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
    /// Names of the active protection flags, e.g. `cell_overvoltage`.
    pub protection: Vec<String>,
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

/// Every BMS protocol Packwright speaks, by the name used on the command line and in profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    Jbd,
    Daly,
    Pylontech,
    DalyCan,
    JbdCan,
}

impl ProtocolKind {
    pub const ALL: [ProtocolKind; 5] = [
        ProtocolKind::Jbd,
        ProtocolKind::Daly,
        ProtocolKind::Pylontech,
        ProtocolKind::DalyCan,
        ProtocolKind::JbdCan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Jbd => "jbd",
            ProtocolKind::Daly => "daly",
            ProtocolKind::Pylontech => "pylontech",
            ProtocolKind::DalyCan => "daly-can",
            ProtocolKind::JbdCan => "jbd-can",
        }
    }

    /// True for the protocols spoken over a serial port (UART/RS485), false for CAN.
    pub fn is_serial(self) -> bool {
        matches!(self, ProtocolKind::Jbd | ProtocolKind::Daly)
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
