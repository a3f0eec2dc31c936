//! Synthetic inventories after the reference's benchmark design (matching.md §5.1): fixed
//! seeds, realistic marginals, IR correlated with capacity per stratum, conditioned OCV,
//! self-discharge with a few failures.

use crate::model::{CellInput, MatchSpec};
use crate::rng::Rng;
use serde::Serialize;
use std::fmt;

/// Shape of a synthetic inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Harvested laptop 18650s: N(2100, 300) mAh clipped to [1200, 3000].
    Normal,
    /// Retired 10 Ah EV cells: SOH 0.6·N(0.88, 0.025) + 0.4·N(0.63, 0.045).
    Bimodal,
    /// Laptop cells plus 2 % weak cells U(0.5μ, 0.7μ) and 1 % high-IR cells.
    Outliers,
    /// Four 18650 models of different nominal capacity and IR; models may not mix.
    MixedModels,
}

impl Distribution {
    pub const ALL: [Distribution; 4] = [
        Distribution::Normal,
        Distribution::Bimodal,
        Distribution::Outliers,
        Distribution::MixedModels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Normal => "normal",
            Distribution::Bimodal => "bimodal",
            Distribution::Outliers => "outliers",
            Distribution::MixedModels => "mixed-models",
        }
    }

    /// The IR ceiling of [`Distribution::spec`], mΩ (the scale its IRs are drawn for).
    pub fn ir_ceiling_mohm(self) -> f64 {
        match self {
            Distribution::Bimodal => 35.0,
            _ => 100.0,
        }
    }

    /// The spec the benchmark matches this inventory with: filters that bite on a few
    /// percent of cells, a conditioned-OCV limit, no in-group IR limit, capacity balance only.
    pub fn spec(self, series: usize, parallel: usize) -> MatchSpec {
        let mut spec = MatchSpec::new(series, parallel, self.chemistry());
        spec.self_discharge_ceiling_mv_per_day = Some(8.0);
        spec.max_group_ocv_delta_mv = Some(50.0);
        match self {
            Distribution::Normal | Distribution::MixedModels => {
                spec.capacity_floor_mah = 1500.0;
                spec.ir_ceiling_mohm = Some(100.0);
            }
            Distribution::Outliers => {
                // Low enough to keep the weak cells: they are the point of this inventory.
                spec.capacity_floor_mah = 1000.0;
                spec.ir_ceiling_mohm = Some(100.0);
            }
            Distribution::Bimodal => {
                spec.capacity_floor_mah = 5000.0;
                spec.ir_ceiling_mohm = Some(35.0);
            }
        }
        spec
    }

    fn chemistry(self) -> &'static str {
        match self {
            Distribution::Bimodal => "LMO",
            _ => "NMC",
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `n` cells drawn from `dist` with `seed`.
pub fn synthetic(dist: Distribution, n: usize, seed: u64) -> Vec<CellInput> {
    let mut r = Rng::new(seed ^ (dist as u64).wrapping_mul(0x9E37_79B9));
    (0..n)
        .map(|i| {
            let (cap, ir, model) = match dist {
                Distribution::Normal => laptop(&mut r),
                Distribution::Outliers => {
                    let u = r.unit();
                    let (mut cap, mut ir, model) = laptop(&mut r);
                    if u < 0.02 {
                        cap = r.uniform(0.5 * 2100.0, 0.7 * 2100.0);
                    } else if u < 0.03 {
                        ir *= 2.5;
                    }
                    (cap, ir, model)
                }
                Distribution::Bimodal => {
                    let first = r.unit() < 0.6;
                    let (mu, sd, ir_med) = if first {
                        (0.88, 0.025, 11.0)
                    } else {
                        (0.63, 0.045, 19.0)
                    };
                    let z = r.normal();
                    let soh = (mu + sd * z).clamp(0.4, 1.02);
                    // IR falls as capacity rises inside each mode (ρ ≈ −0.7, as in PulseBat LMO).
                    let ir = ir_med * (0.15 * (-0.7 * z + 0.714 * r.normal())).exp();
                    (soh * 10_000.0, ir, "LMO 10Ah pouch")
                }
                Distribution::MixedModels => {
                    const MODELS: [(&str, f64, f64, f64); 4] = [
                        ("INR18650-25R", 2500.0, 0.4, 25.0),
                        ("ICR18650-22F", 2200.0, 0.3, 45.0),
                        ("INR18650-35E", 3450.0, 0.2, 35.0),
                        ("ICR18650-26F", 2600.0, 0.1, 50.0),
                    ];
                    let u = r.unit();
                    let mut acc = 0.0;
                    let &(model, nominal, _, ir_med) = MODELS
                        .iter()
                        .find(|m| {
                            acc += m.2;
                            u < acc
                        })
                        .unwrap_or(&MODELS[3]);
                    let z = r.normal();
                    let cap = nominal * (0.85 + 0.05 * z);
                    let ir = ir_med * (0.25 * (-0.3 * z + 0.954 * r.normal())).exp();
                    (cap, ir, model)
                }
            };
            let sd = if r.unit() < 0.03 {
                r.uniform(8.5, 20.0)
            } else {
                1.5 * (0.5 * r.normal()).exp()
            };
            CellInput {
                id: format!("{}-{i:07}", dist.name()),
                capacity_mah: Some(cap.round()),
                ir_mohm: Some((ir * 100.0).round() / 100.0),
                ocv_mv: Some((3600.0 + 5.0 * r.normal()).round()),
                self_discharge_mv_per_day: Some((sd * 100.0).round() / 100.0),
                chemistry: dist.chemistry().to_string(),
                model: Some(model.to_string()),
            }
        })
        .collect()
}

/// `n` cells of `dist` rescaled to a profile's cell: capacity × `nominal_mah` / the
/// distribution's own nominal (2,100 mAh laptop cells, 10 Ah EV cells), IR × `ir_scale`,
/// chemistry and model set to the given ones. Same seed, same shape as [`synthetic`].
pub fn synthetic_scaled(
    dist: Distribution,
    n: usize,
    seed: u64,
    nominal_mah: f64,
    ir_scale: f64,
    chemistry: &str,
) -> Vec<CellInput> {
    let own = match dist {
        Distribution::Bimodal => 10_000.0,
        _ => 2_100.0,
    };
    let k = nominal_mah / own;
    let mut cells = synthetic(dist, n, seed);
    for c in &mut cells {
        c.capacity_mah = c.capacity_mah.map(|x| (x * k).round());
        c.ir_mohm = c.ir_mohm.map(|x| (x * ir_scale * 1e4).round() / 1e4);
        c.chemistry = chemistry.to_string();
        if dist != Distribution::MixedModels {
            c.model = Some(format!("{chemistry} second-life"));
        }
    }
    cells
}

/// Laptop-like cell: capacity N(2100, 300) clipped to [1200, 3000], IR lognormal
/// (median 45 mΩ, σ_ln 0.33) with ρ(capacity, IR) ≈ −0.3.
fn laptop(r: &mut Rng) -> (f64, f64, &'static str) {
    let z = r.normal();
    let cap = (2100.0 + 300.0 * z).clamp(1200.0, 3000.0);
    let ir = 45.0 * (0.33 * (-0.3 * z + 0.954 * r.normal())).exp();
    (cap, ir, "18650 harvested")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: &[CellInput]) -> Vec<f64> {
        v.iter().filter_map(|c| c.capacity_mah).collect()
    }

    #[test]
    fn reproducible_and_shaped_as_documented() {
        let a = synthetic(Distribution::Normal, 20_000, 1);
        assert_eq!(a, synthetic(Distribution::Normal, 20_000, 1));
        let c = caps(&a);
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        assert!((mean - 2100.0).abs() < 10.0, "mean {mean}");
        assert!(c.iter().all(|&x| (1200.0..=3000.0).contains(&x)));
        let failing = a
            .iter()
            .filter(|x| x.self_discharge_mv_per_day.is_some_and(|s| s > 8.0))
            .count();
        assert!((400..800).contains(&failing), "{failing} SD failures");
    }

    #[test]
    fn bimodal_has_two_modes() {
        let c = caps(&synthetic(Distribution::Bimodal, 20_000, 2));
        let high = c.iter().filter(|&&x| x > 8000.0).count() as f64 / c.len() as f64;
        let low = c.iter().filter(|&&x| x < 7000.0).count() as f64 / c.len() as f64;
        let between = 1.0 - high - low;
        assert!(
            (high - 0.6).abs() < 0.03 && (low - 0.4).abs() < 0.04,
            "{high} {low}"
        );
        assert!(between < 0.05, "{between}");
    }

    #[test]
    fn outliers_and_models_are_present() {
        let weak = |d| {
            let c = caps(&synthetic(d, 20_000, 3));
            c.iter().filter(|&&x| x < 1480.0).count() as f64 / c.len() as f64
        };
        // The weak cells come on top of the laptop tail below 1480 mAh.
        let extra = weak(Distribution::Outliers) - weak(Distribution::Normal);
        assert!((0.015..0.025).contains(&extra), "{extra}");
        let m = synthetic(Distribution::MixedModels, 5_000, 4);
        let mut models: Vec<&str> = m.iter().filter_map(|c| c.model.as_deref()).collect();
        models.sort_unstable();
        models.dedup();
        assert_eq!(models.len(), 4);
    }
}
