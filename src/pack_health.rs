//! A pack's state of health from its cells' grading records. Pure: cells in, figures out.
//!
//! - Series group capacity C_g = Σ of its parallel cells' graded capacities; the pack's capacity
//!   is the smallest C_g (balancing moves charge, it adds none).
//! - SOH = C_pack / (P × the cell model's rated capacity).
//! - Pack resistance R_pack = Σ over groups of 1 / Σ (1 / R_cell) (cells only: interconnects and
//!   the BMS's FETs come on top).
//! - Drift: each cell's self-discharge voltage rate is turned into a leakage current through the
//!   chemistry's OCV slope at mid state of charge ([`ocv_slope_mv_per_pct`]):
//!   I_cell = (mV/day ÷ mV/%) / 100 × C_cell / 24 h; a group leaks the sum of its cells'. With
//!   the groups' leakage differing by ΔI_sd, and a balancer that corrects I_bal,eff on average,
//!   the groups drift apart by the tolerated imbalance ΔSOC_tol after
//!   t ≈ ΔSOC_tol × C_g,min / (ΔI_sd − I_bal,eff); when ΔI_sd ≤ I_bal,eff balancing keeps up.
//!   Assumed: a passive balancer of [`BALANCE_CURRENT_MA`] working [`BALANCE_HOURS_PER_DAY`]
//!   a day (it balances near the top of charge, once a day), and ΔSOC_tol =
//!   [`TOLERATED_IMBALANCE_PCT`] of the smallest group. An estimate to compare packs by, not a
//!   prediction.

use crate::chemistry::Chemistry;
use crate::domain::Cell;
use serde::Serialize;

/// Passive balancing current assumed for the drift estimate (typical of JBD/Daly boards).
pub const BALANCE_CURRENT_MA: f64 = 30.0;
/// Hours a day the balancer is assumed to work (near the top of one daily charge).
pub const BALANCE_HOURS_PER_DAY: f64 = 2.0;
/// Imbalance between series groups, in % of the smallest group, taken as too much.
pub const TOLERATED_IMBALANCE_PCT: f64 = 5.0;

/// Assumed OCV slope at mid state of charge (20–80 %), mV per % SOC: how a self-discharge in
/// mV/day becomes a charge loss. LFP's plateau is flat, so a small voltage drop is a large
/// charge loss.
pub fn ocv_slope_mv_per_pct(chemistry: Chemistry) -> f64 {
    match chemistry {
        Chemistry::Lfp => 1.2,
        Chemistry::Nmc | Chemistry::Nca => 6.0,
        Chemistry::Lmo => 4.0,
        Chemistry::Lto => 3.0,
    }
}

/// How fast the series groups drift apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Largest minus smallest group leakage current, mA.
    pub self_discharge_spread_ma: f64,
    /// The balancer's average correcting current assumed, mA.
    pub balance_effective_ma: f64,
    pub tolerated_imbalance_pct: f64,
    /// Days until the groups are apart by the tolerated imbalance; `None` when balancing keeps
    /// up.
    pub days_to_imbalance: Option<f64>,
}

/// A pack's health from its cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackHealth {
    /// Each series group's summed capacity, mAh, in series order.
    pub group_capacity_mah: Vec<f64>,
    /// The smallest group's: what the pack delivers.
    pub capacity_mah: f64,
    /// `capacity_mah` over P × the cell model's rated capacity, %.
    pub soh_pct: f64,
    /// Σ over groups of the group's parallel resistance, mΩ; `None` when a cell has no graded
    /// resistance.
    pub resistance_mohm: Option<f64>,
    /// `None` when a cell has no graded self-discharge or capacity.
    pub drift: Option<Drift>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    #[error("the pack has no cells")]
    NoCells,
    #[error("series group {0} has no cells")]
    EmptyGroup(usize),
    #[error("cell {0} has no graded capacity")]
    NoCapacity(String),
    #[error("the cell model's rated capacity must be above 0 mAh")]
    NoRating,
}

/// The health of a pack whose series groups hold `groups` (each group's cells), built from
/// cells of `rated_cell_mah` rated capacity and `chemistry`.
pub fn pack_health(
    groups: &[Vec<&Cell>],
    rated_cell_mah: f64,
    chemistry: Chemistry,
) -> Result<PackHealth, HealthError> {
    if groups.is_empty() {
        return Err(HealthError::NoCells);
    }
    if rated_cell_mah.is_nan() || rated_cell_mah <= 0.0 {
        return Err(HealthError::NoRating);
    }
    let mut group_capacity_mah = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        if g.is_empty() {
            return Err(HealthError::EmptyGroup(i + 1));
        }
        let mut sum = 0.0;
        for c in g {
            sum += c
                .capacity_mah
                .ok_or_else(|| HealthError::NoCapacity(c.id.clone()))?;
        }
        group_capacity_mah.push(sum);
    }
    let capacity_mah = group_capacity_mah
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let parallel = groups.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let soh_pct = capacity_mah / (parallel * rated_cell_mah) * 100.0;

    let resistance_mohm = groups
        .iter()
        .map(|g| {
            let conductance: Option<f64> = g
                .iter()
                .map(|c| c.ir_mohm.filter(|r| *r > 0.0).map(|r| 1.0 / r))
                .sum();
            conductance.map(|s| 1.0 / s)
        })
        .sum::<Option<f64>>();

    let slope = ocv_slope_mv_per_pct(chemistry);
    let leak_ma: Option<Vec<f64>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|c| {
                    let sd = c.self_discharge_mv_per_day?;
                    let cap = c.capacity_mah?;
                    Some(sd / slope / 100.0 * cap / 24.0)
                })
                .sum::<Option<f64>>()
        })
        .collect();
    let drift = leak_ma.map(|leaks| {
        let hi = leaks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = leaks.iter().copied().fold(f64::INFINITY, f64::min);
        let spread = (hi - lo).max(0.0);
        let balance = BALANCE_CURRENT_MA * BALANCE_HOURS_PER_DAY / 24.0;
        let days = (spread > balance)
            .then(|| TOLERATED_IMBALANCE_PCT / 100.0 * capacity_mah / (spread - balance) / 24.0);
        Drift {
            self_discharge_spread_ma: spread,
            balance_effective_ma: balance,
            tolerated_imbalance_pct: TOLERATED_IMBALANCE_PCT,
            days_to_imbalance: days,
        }
    });
    Ok(PackHealth {
        group_capacity_mah,
        capacity_mah,
        soh_pct,
        resistance_mohm,
        drift,
    })
}

impl PackHealth {
    /// One short line for a screen: `SOH 95.0%  R 7.50 mOhm  drift 5% in 120 d`.
    pub fn summary(&self) -> String {
        let mut out = format!("SOH {:.1}%", self.soh_pct);
        if let Some(r) = self.resistance_mohm {
            out.push_str(&format!("  R {r:.2} mOhm"));
        }
        if let Some(d) = &self.drift {
            out.push_str(&format!("  drift {}", d.describe()));
        }
        out
    }
}

impl Drift {
    /// `5% in 120 d`, or `balanced` when balancing keeps up.
    pub fn describe(&self) -> String {
        match self.days_to_imbalance {
            Some(d) if d >= 10.0 => format!("{}% in {d:.0} d", self.tolerated_imbalance_pct),
            Some(d) => format!("{}% in {d:.1} d", self.tolerated_imbalance_pct),
            None => "balanced".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CellStatus;

    fn cell(id: &str, cap: f64, ir: f64, sd: f64) -> Cell {
        Cell {
            id: id.into(),
            chemistry: Chemistry::Lfp,
            model: None,
            capacity_mah: Some(cap),
            ir_mohm: Some(ir),
            ocv_mv: Some(3300.0),
            self_discharge_mv_per_day: Some(sd),
            grade: None,
            source_code: Some("M1".into()),
            status: CellStatus::Reserved,
            status_reason: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn capacity_is_the_weakest_group_and_soh_is_over_p_times_the_rating() {
        // 3S2P of 100 Ah cells.
        let c = [
            cell("a", 95_000.0, 0.5, 1.0),
            cell("b", 97_000.0, 0.5, 1.0),
            cell("c", 90_000.0, 0.4, 1.0),
            cell("d", 99_000.0, 0.6, 1.0),
            cell("e", 96_000.0, 1.0, 1.0),
            cell("f", 96_000.0, 1.0, 1.0),
        ];
        let groups = vec![vec![&c[0], &c[1]], vec![&c[2], &c[3]], vec![&c[4], &c[5]]];
        let h = pack_health(&groups, 100_000.0, Chemistry::Lfp).unwrap();
        assert_eq!(h.group_capacity_mah, vec![192_000.0, 189_000.0, 192_000.0]);
        assert_eq!(h.capacity_mah, 189_000.0);
        assert!(close(h.soh_pct, 94.5), "{}", h.soh_pct);
        // 0.5‖0.5 = 0.25, 0.4‖0.6 = 0.24, 1‖1 = 0.5.
        assert!(
            close(h.resistance_mohm.unwrap(), 0.99),
            "{:?}",
            h.resistance_mohm
        );
        // Same self-discharge everywhere: only the capacity differences leak apart, and
        // balancing keeps up with that.
        let d = h.drift.clone().unwrap();
        assert_eq!(d.days_to_imbalance, None);
        assert_eq!(d.describe(), "balanced");
        assert!(h
            .summary()
            .starts_with("SOH 94.5%  R 0.99 mOhm  drift balanced"));
    }

    #[test]
    fn a_self_discharge_spread_drifts_the_groups_apart_at_the_stated_rate() {
        // 2S1P LFP, 100 Ah: 1.0 and 2.2 mV/day.
        let a = cell("a", 100_000.0, 0.5, 1.0);
        let b = cell("b", 100_000.0, 0.5, 2.2);
        let h = pack_health(&[vec![&a], vec![&b]], 100_000.0, Chemistry::Lfp).unwrap();
        let d = h.drift.unwrap();
        // (1.2 mV/day ÷ 1.2 mV/%) = 1 %/day of 100 Ah = 1000 mAh/day = 41.67 mA.
        assert!(close(d.self_discharge_spread_ma, 1000.0 / 24.0));
        assert!(close(d.balance_effective_ma, 2.5));
        // 5 % of 100 Ah = 5000 mAh at (41.67 - 2.5) mA.
        let want = 5000.0 / (1000.0 / 24.0 - 2.5) / 24.0;
        assert!(close(d.days_to_imbalance.unwrap(), want));
        assert_eq!(d.describe(), format!("5% in {want:.1} d"));
        // The same spread in NMC is a fifth of the charge: slower drift.
        let mut an = a.clone();
        let mut bn = b.clone();
        an.chemistry = Chemistry::Nmc;
        bn.chemistry = Chemistry::Nmc;
        let n = pack_health(&[vec![&an], vec![&bn]], 100_000.0, Chemistry::Nmc).unwrap();
        assert!(n.drift.unwrap().days_to_imbalance.unwrap() > want * 4.0);
    }

    #[test]
    fn missing_grading_is_said_not_guessed() {
        let mut a = cell("a", 100_000.0, 0.5, 1.0);
        let b = cell("b", 100_000.0, 0.5, 1.0);
        a.ir_mohm = None;
        a.self_discharge_mv_per_day = None;
        let h = pack_health(&[vec![&a], vec![&b]], 100_000.0, Chemistry::Lfp).unwrap();
        assert_eq!(h.resistance_mohm, None);
        assert_eq!(h.drift, None);
        assert_eq!(h.summary(), "SOH 100.0%");
        a.capacity_mah = None;
        assert_eq!(
            pack_health(&[vec![&a], vec![&b]], 100_000.0, Chemistry::Lfp),
            Err(HealthError::NoCapacity("a".into()))
        );
        assert_eq!(
            pack_health(&[], 100_000.0, Chemistry::Lfp),
            Err(HealthError::NoCells)
        );
        assert_eq!(
            pack_health(&[vec![&b], vec![]], 100_000.0, Chemistry::Lfp),
            Err(HealthError::EmptyGroup(2))
        );
        assert_eq!(
            pack_health(&[vec![&b]], 0.0, Chemistry::Lfp),
            Err(HealthError::NoRating)
        );
    }
}
