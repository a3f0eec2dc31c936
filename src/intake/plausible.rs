//! Whether a measured value can be believed, per chemistry (windows in
//! [`crate::chemistry::Plausible`]), and the likely cause when not: a value in another unit
//! than its column says (mAh in an Ah column, mV in a V column, Ω in a mΩ column), a cell that
//! must not be repurposed, or a value from another cell or chemistry. Pure.

use super::fields::{CapacityUnit, Reading, VoltageUnit};
use crate::chemistry::{Chemistry, Plausible};
use crate::text::printable;

/// A number for a message: plain for everyday magnitudes, scientific for absurd ones.
pub(super) fn num(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e9).contains(&v.abs()) {
        return format!("{v:e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The measured capacity in mAh, or why it cannot be believed (against the cell window and,
/// when the file gives it, the model's rated capacity).
pub(super) fn capacity(
    c: &Reading<CapacityUnit>,
    nominal: Option<&Reading<CapacityUnit>>,
    p: &Plausible,
) -> Result<f64, String> {
    let mah = c.value * c.unit.to_mah();
    let (lo, hi) = (p.capacity_min_mah, p.capacity_max_mah);
    let raw = printable(c.raw);
    let unit = c.unit.name();
    let window = |v: f64| (lo..=hi).contains(&v);
    if !mah.is_finite() || mah > hi {
        return Err(if c.unit == CapacityUnit::Ah && window(c.value) {
            format!(
                "{raw} Ah is more than the largest cell made ({} Ah): it looks like mAh in an Ah column ({raw} mAh = {} Ah)",
                num(hi / 1000.0),
                num(c.value / 1000.0)
            )
        } else {
            format!(
                "{raw} {unit} is more than the largest cell made ({} Ah): not a cell's capacity (a pack's, or another unit)",
                num(hi / 1000.0)
            )
        });
    }
    if mah < lo {
        return Err(if c.unit == CapacityUnit::Mah && window(c.value * 1000.0) {
            format!(
                    "{raw} mAh is less than the smallest cell graded ({} mAh): it looks like Ah in a mAh column ({raw} Ah = {} mAh)",
                    num(lo),
                    num(c.value * 1000.0)
                )
        } else {
            format!(
                    "{raw} {unit} is less than the smallest cell graded ({} mAh): a failed measurement or another unit",
                    num(lo)
                )
        });
    }
    if let Some(n) = nominal {
        let rated = n.value * n.unit.to_mah();
        if rated > 0.0 && rated.is_finite() {
            let ratio = mah / rated;
            let pct = num((ratio * 1000.0).round() / 10.0);
            let of = format!(
                "{raw} {unit} is {pct} % of the rated {} {} ({})",
                printable(n.raw),
                n.unit.name(),
                n.column
            );
            if ratio > p.capacity_above_nominal_max {
                return Err(format!(
                    "{of}: far above what a cell of that rating holds (at most {} %); another unit or another model",
                    num(p.capacity_above_nominal_max * 100.0)
                ));
            }
            if ratio < p.capacity_below_nominal_min {
                return Err(format!(
                    "{of}: absurdly small for that rating (under {} %); another unit or a failed measurement",
                    num(p.capacity_below_nominal_min * 100.0)
                ));
            }
        }
    }
    Ok(mah)
}

/// The open-circuit voltage in mV, or why it cannot be believed for `chem`.
pub(super) fn ocv(v: &Reading<VoltageUnit>, chem: Chemistry) -> Result<f64, String> {
    let p = chem.plausible();
    let mv = v.value * v.unit.to_mv();
    let inside = |mv: f64| (p.ocv_min_mv..=p.ocv_max_mv).contains(&mv);
    if inside(mv) {
        return Ok(mv);
    }
    let raw = printable(v.raw);
    let window = format!(
        "the {chem} window {}–{} V",
        num(p.ocv_min_mv / 1000.0),
        num(p.ocv_max_mv / 1000.0)
    );
    match v.unit {
        VoltageUnit::V if inside(v.value) => {
            return Err(format!(
                "{raw} V is outside {window}: it looks like mV in a V column ({raw} mV = {} V)",
                num(v.value / 1000.0)
            ))
        }
        VoltageUnit::Mv if inside(v.value * 1000.0) => {
            return Err(format!(
                "{raw} mV is outside {window}: it looks like V in a mV column ({raw} V = {} mV)",
                num(v.value * 1000.0)
            ))
        }
        _ => {}
    }
    let others: Vec<&str> = Chemistry::ALL
        .iter()
        .filter(|c| **c != chem)
        .filter(|c| (c.plausible().ocv_min_mv..=c.plausible().ocv_max_mv).contains(&mv))
        .map(|c| c.name())
        .collect();
    let other = if others.is_empty() {
        String::new()
    } else {
        format!(
            ", or the cell is not {chem} (it fits {}: check the chemistry column or --chemistry)",
            others.join(", ")
        )
    };
    let unit = v.unit.name();
    Err(if mv < p.ocv_min_mv {
        format!("{raw} {unit} is below {window}: an over-discharged cell, which must not be repurposed (take it out of the file and scrap it){other}")
    } else {
        format!("{raw} {unit} is above {window}: an overcharged cell, which must not be repurposed{other}")
    })
}

/// Whether an internal resistance (mΩ) can be believed, alone and for a cell of `mah`.
pub(super) fn ir(v: &Reading<()>, mah: f64, p: &Plausible) -> Result<(), String> {
    let (lo, hi) = (p.ir_min_mohm, p.ir_max_mohm);
    let raw = printable(v.raw);
    let inside = |x: f64| (lo..=hi).contains(&x);
    if v.value < lo {
        return Err(if inside(v.value * 1000.0) {
            format!(
                "{raw} mΩ is below any cell's internal resistance ({} mΩ): it looks like Ω in a mΩ column ({raw} Ω = {} mΩ)",
                num(lo),
                num(v.value * 1000.0)
            )
        } else {
            format!(
                "{raw} mΩ is below any cell's internal resistance ({} mΩ): a failed measurement",
                num(lo)
            )
        });
    }
    if v.value > hi {
        return Err(if inside(v.value / 1000.0) {
            format!(
                "{raw} mΩ is above any gradeable cell's internal resistance ({} mΩ): it looks like µΩ in a mΩ column ({raw} µΩ = {} mΩ)",
                num(hi),
                num(v.value / 1000.0)
            )
        } else {
            format!(
                "{raw} mΩ is above any gradeable cell's internal resistance ({} mΩ): an open cell or a failed measurement",
                num(hi)
            )
        });
    }
    let product = v.value * mah / 1000.0;
    let (plo, phi) = (p.ir_capacity_min_mohm_ah, p.ir_capacity_max_mohm_ah);
    if !(plo..=phi).contains(&product) {
        return Err(format!(
            "{raw} mΩ does not fit a {} Ah cell: IR × capacity is {} mΩ·Ah where cells measure {}–{} mΩ·Ah; the IR is in another unit (µΩ, Ω) or belongs to another cell",
            num(mah / 1000.0),
            num(product),
            num(plo),
            num(phi)
        ));
    }
    Ok(())
}

/// Whether a self-discharge rate (mV/day) can be believed.
pub(super) fn self_discharge(v: &Reading<()>, p: &Plausible) -> Result<(), String> {
    if v.value > p.self_discharge_max_mv_per_day {
        return Err(format!(
            "{} mV/day is more than a cell can lose and still be graded ({} mV/day): a shorted cell (scrap it), or a figure per week or month",
            printable(v.raw),
            num(p.self_discharge_max_mv_per_day)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(raw: &str, unit: CapacityUnit) -> Reading<'_, CapacityUnit> {
        Reading {
            column: "capacity",
            raw,
            value: raw.parse().unwrap(),
            unit,
        }
    }

    #[test]
    fn numbers_read_well_in_messages() {
        assert_eq!(num(3000.0), "3000");
        assert_eq!(num(3.65), "3.65");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1e308), "1e308");
        assert_eq!(num(0.00002), "2e-5");
    }

    #[test]
    fn capacity_units_are_sniffed() {
        let p = Chemistry::Nmc.plausible();
        let e = capacity(&cap("3000", CapacityUnit::Ah), None, &p).unwrap_err();
        assert!(e.contains("looks like mAh in an Ah column"), "{e}");
        let e = capacity(&cap("3.0", CapacityUnit::Mah), None, &p).unwrap_err();
        assert!(e.contains("looks like Ah in a mAh column"), "{e}");
        let e = capacity(&cap("1e308", CapacityUnit::Mah), None, &p).unwrap_err();
        assert!(e.contains("largest cell made"), "{e}");
        let e = capacity(&cap("1e308", CapacityUnit::Ah), None, &p).unwrap_err();
        assert!(e.contains("largest cell made"), "{e}");
        assert_eq!(
            capacity(&cap("2.5", CapacityUnit::Ah), None, &p).unwrap(),
            2500.0
        );
        let rated = cap("2100", CapacityUnit::Mah);
        assert!(capacity(&cap("2000", CapacityUnit::Mah), Some(&rated), &p).is_ok());
        let e = capacity(&cap("21000", CapacityUnit::Mah), Some(&rated), &p).unwrap_err();
        assert!(e.contains("far above"), "{e}");
        let e = capacity(&cap("60", CapacityUnit::Mah), Some(&rated), &p).unwrap_err();
        assert!(e.contains("absurdly small"), "{e}");
    }

    #[test]
    fn ocv_is_judged_per_chemistry_with_the_likely_cause() {
        let r = |raw: &'static str, unit| Reading {
            column: "ocv",
            raw,
            value: raw.parse().unwrap(),
            unit,
        };
        assert_eq!(
            ocv(&r("3.3", VoltageUnit::V), Chemistry::Lfp).unwrap(),
            3300.0
        );
        let e = ocv(&r("3700", VoltageUnit::V), Chemistry::Nmc).unwrap_err();
        assert!(e.contains("looks like mV in a V column"), "{e}");
        let e = ocv(&r("3.7", VoltageUnit::Mv), Chemistry::Nmc).unwrap_err();
        assert!(e.contains("looks like V in a mV column"), "{e}");
        let e = ocv(&r("3.9", VoltageUnit::V), Chemistry::Lfp).unwrap_err();
        assert!(
            e.contains("above the LFP window 2–3.65 V") && e.contains("NMC"),
            "{e}"
        );
        let e = ocv(&r("1.2", VoltageUnit::V), Chemistry::Nmc).unwrap_err();
        assert!(e.contains("over-discharged"), "{e}");
        assert!(ocv(&r("2.3", VoltageUnit::V), Chemistry::Lto).is_ok());
        assert!(ocv(&r("3.3", VoltageUnit::V), Chemistry::Lto).is_err());
    }

    #[test]
    fn ir_is_judged_alone_and_against_the_capacity() {
        let p = Chemistry::Lfp.plausible();
        let r = |raw: &'static str| Reading {
            column: "ir_mohm",
            raw,
            value: raw.parse().unwrap(),
            unit: (),
        };
        assert!(ir(&r("0.2"), 280_000.0, &p).is_ok());
        assert!(ir(&r("116"), 2100.0, &p).is_ok());
        let e = ir(&r("0.0002"), 280_000.0, &p).unwrap_err();
        assert!(e.contains("Ω in a mΩ column"), "{e}");
        let e = ir(&r("200"), 280_000.0, &p).unwrap_err();
        assert!(e.contains("does not fit a 280 Ah cell"), "{e}");
        let e = ir(&r("250000"), 2100.0, &p).unwrap_err();
        assert!(e.contains("µΩ in a mΩ column"), "{e}");
        let sd = Reading {
            column: "sd",
            raw: "720",
            value: 720.0,
            unit: (),
        };
        assert!(self_discharge(&sd, &p).unwrap_err().contains("shorted"));
    }
}
