//! Per-pack quality figures and the run-level statistics over them. The matcher and every
//! benchmark baseline are measured by this same code.

use crate::bounds::{in_group_limit_bound, range_lower_bound};
use crate::data::{Data, Limits, Span};
use crate::model::{BoundKind, PackMetrics, WorstPack};

/// Figures of one pack; `slots` is group-major in series order. `proven` is a bound an
/// exact search proved for these cells, if any. Written as plain loops: it runs for every
/// pack of a million-cell stock.
pub(crate) fn pack_metrics(
    d: &Data,
    slots: &[u32],
    s: usize,
    p: usize,
    proven: Option<i64>,
    lim: &Limits,
) -> PackMetrics {
    debug_assert_eq!(slots.len(), s * p);
    let mut sums = Vec::with_capacity(s);
    let mut ir_spread = Vec::with_capacity(s);
    let mut ir_cv = Vec::with_capacity(s);
    let mut parallel = Vec::with_capacity(s);
    let mut ocv_spread = Vec::with_capacity(s);
    let mut inrush_max: Option<f64> = None;
    for g in slots.chunks(p) {
        let (mut sum, mut ir, mut ocv) = (0i64, Span::default(), Span::default());
        let mut conductance = 0.0;
        for &c in g {
            let c = c as usize;
            sum += d.cap[c];
            ir.add(d.ir[c]);
            ocv.add(d.ocv[c]);
            conductance += 1.0 / d.ir[c];
        }
        sums.push(sum);
        ir_spread.push(ir.width_opt());
        ir_cv.push(cv_pct(g.iter().map(|&c| d.ir[c as usize])));
        // NaN (an unmeasured cell) poisons the sum, which is what we want: no parallel IR.
        parallel.push((ir.n == g.len()).then_some(1.0 / conductance));
        ocv_spread.push(ocv.width_opt());
        if let Some(x) = inrush(d, g) {
            inrush_max = Some(inrush_max.map_or(x, |m: f64| m.max(x)));
        }
    }
    let total: i64 = sums.iter().sum();
    let hi = sums.iter().copied().max().unwrap_or(0);
    let lo = sums.iter().copied().min().unwrap_or(0);
    let range = hi - lo;
    let mean = total as f64 / s as f64;
    let mut caps: Vec<i64> = slots.iter().map(|&c| d.cap[c as usize]).collect();
    caps.sort_unstable();
    let (mut lb, mut kind) = match (range_lower_bound(&caps, s, p), proven) {
        ((lb, _), Some(x)) if x > lb => (x, BoundKind::Exhaustive),
        (analytic, _) => analytic,
    };
    if let Some(x) = in_group_limit_bound(d, lim, slots, s, p) {
        if x > lb {
            (lb, kind) = (x, BoundKind::InGroupLimits);
        }
    }
    let at = range <= lb;
    let slack = lim.slack_for(mean, lb);
    let within = range <= lb + slack;
    let bound_note = match () {
        _ if within => None,
        _ if p >= 2 && lim.has_group_limits() && kind != BoundKind::Exhaustive => Some(
            "the in-group limits (OCV/IR) bind: the bound counts them only cell by cell, \
             so it may be out of reach"
                .to_string(),
        ),
        _ if kind == BoundKind::Exhaustive => None,
        _ => Some("no arrangement within the slack was found; none is proven impossible".into()),
    };
    let mut sd = Span::default();
    slots.iter().for_each(|&c| sd.add(d.sd[c as usize]));
    PackMetrics {
        group_capacities_mah: sums.iter().map(|&x| x as f64).collect(),
        usable_capacity_mah: lo as f64,
        mean_group_capacity_mah: mean,
        range_mah: range as f64,
        range_pct: pct(range as f64, mean),
        lower_bound_range_mah: lb as f64,
        lower_bound_kind: kind,
        gap_to_bound_mah: (range - lb).max(0) as f64,
        at_lower_bound: at,
        balance_slack_mah: slack as f64,
        at_bound_within_slack: within,
        bound_note,
        optimal: at || kind == BoundKind::SingleCell,
        group_ir_spread_mohm: ir_spread,
        group_ir_cv_pct: ir_cv,
        group_parallel_ir_mohm: parallel,
        pack_ir_cv_pct: cv_pct(slots.iter().map(|&c| d.ir[c as usize])),
        ocv_spread_mv: ocv_spread.iter().flatten().copied().reduce(f64::max),
        group_ocv_spread_mv: ocv_spread,
        max_inrush_a: inrush_max,
        self_discharge_spread_mv_per_day: sd.width_opt(),
    }
}

fn pct(x: f64, of: f64) -> f64 {
    if of > 0.0 {
        x / of * 100.0
    } else {
        0.0
    }
}

/// Population coefficient of variation in percent over the measured values (≥ 2 needed).
fn cv_pct(vals: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let (n, sum) = vals
        .clone()
        .filter(|x| !x.is_nan())
        .fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n < 2 {
        return None;
    }
    let mean = sum / n as f64;
    let var = vals
        .filter(|x| !x.is_nan())
        .map(|x| (x - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    Some(pct(var.sqrt(), mean))
}

/// Largest ΔV / (R₁ + R₂) over cell pairs of one group (mV / mΩ = A).
fn inrush(d: &Data, g: &[u32]) -> Option<f64> {
    let mut worst: Option<f64> = None;
    for (i, &a) in g.iter().enumerate() {
        for &b in &g[i + 1..] {
            let (a, b) = (a as usize, b as usize);
            let r = d.ir[a] + d.ir[b];
            let dv = (d.ocv[a] - d.ocv[b]).abs();
            if r > 0.0 && !dv.is_nan() {
                worst = Some(worst.map_or(dv / r, |w: f64| w.max(dv / r)));
            }
        }
    }
    worst
}

/// Run-level statistics over packs, shared by the matcher's summary and the benchmark.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunStats {
    pub packs: usize,
    pub usable_mah: f64,
    pub utilisation: f64,
    pub fraction_at_lower_bound: f64,
    pub fraction_within_slack: f64,
    pub median_range_pct: f64,
    pub p99_range_pct: f64,
    pub worst: Option<WorstPack>,
    pub median_group_ir_cv_pct: Option<f64>,
    pub max_group_ir_spread_mohm: Option<f64>,
    pub max_group_ocv_spread_mv: Option<f64>,
}

pub(crate) fn run_stats(packs: &[&PackMetrics]) -> RunStats {
    let n = packs.len();
    let usable: f64 = packs.iter().map(|m| m.usable_capacity_mah).sum();
    let mean: f64 = packs.iter().map(|m| m.mean_group_capacity_mah).sum();
    let mut ranges: Vec<f64> = packs.iter().map(|m| m.range_pct).collect();
    ranges.sort_by(f64::total_cmp);
    let worst = packs
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| {
            a.range_mah
                .total_cmp(&b.range_mah)
                .then(a.range_pct.total_cmp(&b.range_pct))
        })
        .map(|(i, m)| WorstPack {
            index: i + 1,
            range_mah: m.range_mah,
            range_pct: m.range_pct,
            lower_bound_range_mah: m.lower_bound_range_mah,
        });
    let mut cvs: Vec<f64> = packs
        .iter()
        .flat_map(|m| m.group_ir_cv_pct.iter().flatten().copied())
        .collect();
    cvs.sort_by(f64::total_cmp);
    RunStats {
        packs: n,
        usable_mah: usable,
        utilisation: if mean > 0.0 { usable / mean } else { 0.0 },
        fraction_at_lower_bound: if n == 0 {
            0.0
        } else {
            packs.iter().filter(|m| m.at_lower_bound).count() as f64 / n as f64
        },
        fraction_within_slack: if n == 0 {
            0.0
        } else {
            packs.iter().filter(|m| m.at_bound_within_slack).count() as f64 / n as f64
        },
        median_range_pct: quantile(&ranges, 0.5).unwrap_or(0.0),
        p99_range_pct: quantile(&ranges, 0.99).unwrap_or(0.0),
        worst,
        median_group_ir_cv_pct: quantile(&cvs, 0.5),
        max_group_ir_spread_mohm: packs
            .iter()
            .flat_map(|m| m.group_ir_spread_mohm.iter().flatten().copied())
            .reduce(f64::max),
        max_group_ocv_spread_mv: packs
            .iter()
            .filter_map(|m| m.ocv_spread_mv)
            .reduce(f64::max),
    }
}

/// Nearest-rank quantile of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[k - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        Data {
            cap: vec![1000, 1010, 990, 1000],
            ir: vec![20.0, 22.0, f64::NAN, 30.0],
            ocv: vec![3600.0, 3610.0, 3605.0, 3600.0],
            sd: vec![1.0, 2.0, 1.5, f64::NAN],
            src: vec![0, 1, 2, 3],
        }
    }

    #[test]
    fn pack_figures_by_hand() {
        let d = data();
        // groups {0,1} = 2010, {2,3} = 1990
        let m = pack_metrics(&d, &[0, 1, 2, 3], 2, 2, None, &Limits::default());
        assert_eq!(m.group_capacities_mah, vec![2010.0, 1990.0]);
        assert_eq!(m.usable_capacity_mah, 1990.0);
        assert_eq!(m.range_mah, 20.0);
        assert!((m.range_pct - 1.0).abs() < 1e-12);
        // fold: 990+1010 = 2000, 1000+1000 = 2000 → optimum 0
        assert_eq!(m.lower_bound_range_mah, 0.0);
        assert_eq!(m.lower_bound_kind, BoundKind::FoldExact);
        assert_eq!(m.gap_to_bound_mah, 20.0);
        assert!(!m.at_lower_bound && !m.optimal);
        assert_eq!(m.group_ir_spread_mohm, vec![Some(2.0), None]);
        assert_eq!(
            m.group_parallel_ir_mohm[0],
            Some(1.0 / (1.0 / 20.0 + 1.0 / 22.0))
        );
        assert_eq!(m.group_parallel_ir_mohm[1], None);
        assert_eq!(m.group_ocv_spread_mv, vec![Some(10.0), Some(5.0)]);
        // 10 mV over 42 mΩ in group 0; group 1 has one IR missing.
        assert!((m.max_inrush_a.unwrap() - 10.0 / 42.0).abs() < 1e-12);
        assert_eq!(m.self_discharge_spread_mv_per_day, Some(1.0));
    }

    #[test]
    fn run_stats_pick_the_worst_and_count_bound_hits() {
        let d = data();
        let a = pack_metrics(&d, &[0, 1, 2, 3], 2, 2, None, &Limits::default()); // range 20
        let b = pack_metrics(&d, &[2, 1, 0, 3], 2, 2, None, &Limits::default()); // 2000 / 2000: range 0
        let st = run_stats(&[&a, &b]);
        assert_eq!(st.worst.as_ref().map(|w| w.index), Some(1));
        assert_eq!(st.fraction_at_lower_bound, 0.5);
        assert!((st.utilisation - (1990.0 + 2000.0) / 4000.0).abs() < 1e-12);
    }

    #[test]
    fn quantile_is_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.0));
        assert_eq!(quantile(&v, 0.99), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
