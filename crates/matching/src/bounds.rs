//! Lower bounds on the group-capacity range of one pack (a fixed set of S·P cells).
//!
//! Every bound here is a proof: no arrangement of the same cells into S groups of P has a
//! smaller range. Notation: cells c₁ ≤ … ≤ cₙ (n = S·P), total T, group sums g, M = max g,
//! m = min g. Sums are whole mAh, so M ≥ ⌈·⌉ and m ≤ ⌊·⌋ of any real bound.

use crate::data::{Data, Limits};
use crate::model::BoundKind;

/// How many of the smallest (largest) cells the outlier-set bound considers.
const MAX_OUTLIERS: usize = 12;

/// The best lower bound on the range of `caps` split into `s` groups of `p`, and its kind.
/// `caps` must be sorted ascending and hold exactly `s·p` values.
pub(crate) fn range_lower_bound(caps: &[i64], s: usize, p: usize) -> (i64, BoundKind) {
    debug_assert_eq!(caps.len(), s * p);
    debug_assert!(caps.windows(2).all(|w| w[0] <= w[1]));
    if s <= 1 {
        return (0, BoundKind::Integer);
    }
    match p {
        1 => (caps[caps.len() - 1] - caps[0], BoundKind::SingleCell),
        2 => (fold_range(caps), BoundKind::FoldExact),
        _ => general_bound(caps, s, p),
    }
}

/// The per-cell bound with the in-group limits: a cell's group holds only cells within the
/// OCV and IR limits of it, so it holds at least (at most) the cell plus the P − 1 smallest
/// (largest) such partners. `None` without in-group limits, for P = 1, or when a cell has
/// fewer than P − 1 possible partners (no arrangement meets the limits).
pub(crate) fn in_group_limit_bound(
    d: &Data,
    lim: &Limits,
    slots: &[u32],
    s: usize,
    p: usize,
) -> Option<i64> {
    if p < 2 || s < 2 || !lim.has_group_limits() {
        return None;
    }
    let fits = |a: usize, b: usize, v: &[f64], l: Option<f64>| {
        l.is_none_or(|l| (v[a] - v[b]).abs() <= l + 1e-9 || v[a].is_nan() || v[b].is_nan())
    };
    // Every pair compatible: nothing beyond the plain per-cell bound.
    let within = |v: &[f64], l: Option<f64>| {
        l.is_none_or(|l| {
            let mut sp = crate::data::Span::default();
            slots.iter().for_each(|&c| sp.add(v[c as usize]));
            sp.width() <= l + 1e-9
        })
    };
    if within(&d.ocv, lim.ocv_mv) && within(&d.ir, lim.ir_mohm) {
        return None;
    }
    let mut by_cap: Vec<usize> = slots.iter().map(|&c| c as usize).collect();
    by_cap.sort_unstable_by_key(|&c| d.cap[c]);
    let total: i64 = by_cap.iter().map(|&c| d.cap[c]).sum();
    let (mut hi_floor, mut lo_ceil) = (ceil_div(total, s as i64), total.div_euclid(s as i64));
    let ok = |a: usize, b: usize| {
        b != a && fits(a, b, &d.ocv, lim.ocv_mv) && fits(a, b, &d.ir, lim.ir_mohm)
    };
    for &a in &by_cap {
        // The P − 1 smallest and the P − 1 largest partners, walking in capacity order.
        let least: Vec<i64> = by_cap
            .iter()
            .filter(|&&b| ok(a, b))
            .take(p - 1)
            .map(|&b| d.cap[b])
            .collect();
        if least.len() < p - 1 {
            return None;
        }
        let most: i64 = by_cap
            .iter()
            .rev()
            .filter(|&&b| ok(a, b))
            .take(p - 1)
            .map(|&b| d.cap[b])
            .sum();
        hi_floor = hi_floor.max(d.cap[a] + least.iter().sum::<i64>());
        lo_ceil = lo_ceil.min(d.cap[a] + most);
    }
    Some(hi_floor - lo_ceil)
}

/// Range of the fold (i-th smallest with i-th largest); optimal for P = 2.
pub(crate) fn fold_range(caps: &[i64]) -> i64 {
    let n = caps.len();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for i in 0..n / 2 {
        let v = caps[i] + caps[n - 1 - i];
        lo = lo.min(v);
        hi = hi.max(v);
    }
    hi - lo
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

/// Integer, per-cell and outlier-set bounds; valid for any P (used for P ≥ 3).
pub(crate) fn general_bound(caps: &[i64], s: usize, p: usize) -> (i64, BoundKind) {
    let n = caps.len();
    let mut pre = Vec::with_capacity(n + 1);
    pre.push(0i64);
    for &c in caps {
        pre.push(pre[pre.len() - 1] + c);
    }
    let t = pre[n];
    let si = s as i64;
    // Sum of the `k` largest cells.
    let top = |k: usize| t - pre[n - k];

    // Independent bounds on M (from below) and m (from above), with the k that set them.
    let mut max_lb = (ceil_div(t, si), 0usize);
    let mut min_ub = (t.div_euclid(si), 0usize);
    let mut best = (max_lb.0 - min_ub.0, BoundKind::Integer);
    let kind = |k: usize| {
        if k <= 1 {
            BoundKind::PerCell
        } else {
            BoundKind::OutlierSet
        }
    };

    for k in 1..=MAX_OUTLIERS.min(s - 1) {
        // The d groups holding the k smallest cells hold at most
        // X = (k smallest) + (the d·P − k largest of the rest), so m ≤ ⌊X/d⌋ and the other
        // S − d groups keep at least T − X, so M ≥ ⌈(T − X)/(S − d)⌉. d is unknown: take
        // the weakest case.
        let (mut coupled_low, mut m_low, mut mm_low) = (i64::MAX, i64::MIN, i64::MAX);
        // Symmetrically for the k largest cells: those d groups hold at least
        // Y = (k largest) + (the d·P − k smallest of the rest).
        let (mut coupled_high, mut m_high, mut mm_high) = (i64::MAX, i64::MIN, i64::MAX);
        for d in k.div_ceil(p)..=k.min(s - 1) {
            let extra = d * p - k;
            if extra > n - k {
                continue;
            }
            let (di, rest) = (d as i64, si - d as i64);
            let x = pre[k] + top(extra);
            let hi_others = ceil_div(t - x, rest);
            let lo_here = x.div_euclid(di);
            coupled_low = coupled_low.min(hi_others - lo_here);
            mm_low = mm_low.min(hi_others);
            m_low = m_low.max(lo_here);

            let y = top(k) + pre[extra];
            let hi_here = ceil_div(y, di);
            let lo_others = (t - y).div_euclid(rest);
            coupled_high = coupled_high.min(hi_here - lo_others);
            mm_high = mm_high.min(hi_here);
            m_high = m_high.max(lo_others);
        }
        if coupled_low == i64::MAX {
            continue;
        }
        for v in [coupled_low, coupled_high] {
            if v > best.0 {
                best = (v, kind(k));
            }
        }
        for v in [mm_low, mm_high] {
            if v > max_lb.0 {
                max_lb = (v, k);
            }
        }
        for v in [m_low, m_high] {
            if v < min_ub.0 {
                min_ub = (v, k);
            }
        }
    }
    let independent = max_lb.0 - min_ub.0;
    if independent > best.0 {
        best = (independent, kind(max_lb.1.max(min_ub.1)));
    }

    (
        best.0.max(0),
        if best.0 > 0 {
            best.1
        } else {
            BoundKind::Integer
        },
    )
}

/// The cheap part of [`general_bound`] (integer and single-cell terms) for a window of the
/// sorted stratum, in O(1) from prefix sums `pre` of the whole sorted stratum. Used to choose
/// windows, where it runs for every candidate start.
pub(crate) fn window_bound(pre: &[i64], start: usize, s: usize, p: usize) -> i64 {
    let n = s * p;
    let sum = |a: usize, b: usize| pre[start + b] - pre[start + a];
    let t = sum(0, n);
    let si = s as i64;
    if s <= 1 {
        return 0;
    }
    let int = ceil_div(t, si) - t.div_euclid(si);
    // Smallest cell with the P−1 largest: the most its group can hold.
    let x = sum(0, 1) + sum(n - (p - 1), n);
    let low = ceil_div(t - x, si - 1) - x;
    // Largest cell with the P−1 smallest: the least its group can hold.
    let y = sum(n - 1, n) + sum(0, p - 1);
    let high = y - (t - y).div_euclid(si - 1);
    int.max(low).max(high).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_group_limits_bound_counts_only_compatible_partners() {
        // 2S2P: 100, 101, 200, 201. The fold pairs 100+201 and 101+200 (range 0), but OCV
        // allows only 100–101 and 200–201 together: sums 201 and 401, range 200.
        let mut d = Data::with_caps(&[100, 101, 200, 201]);
        d.ocv = vec![3600.0, 3605.0, 3700.0, 3705.0];
        let lim = Limits {
            ocv_mv: Some(10.0),
            ..Limits::default()
        };
        assert_eq!(
            in_group_limit_bound(&d, &lim, &[0, 1, 2, 3], 2, 2),
            Some(200)
        );
        // Everything compatible, or no limits: nothing to add.
        let wide = Limits {
            ocv_mv: Some(200.0),
            ..Limits::default()
        };
        assert_eq!(in_group_limit_bound(&d, &wide, &[0, 1, 2, 3], 2, 2), None);
        assert_eq!(
            in_group_limit_bound(&d, &Limits::default(), &[0, 1, 2, 3], 2, 2),
            None
        );
        // A cell with no possible partner: no arrangement at all.
        d.ocv[3] = 3800.0;
        assert_eq!(in_group_limit_bound(&d, &lim, &[0, 1, 2, 3], 2, 2), None);
    }

    #[test]
    fn integer_bound_when_nothing_else_binds() {
        // 3 groups of 3 over nine equal-ish cells, total 9·1000 + 1.
        let mut caps = vec![1000; 9];
        caps[8] = 1001;
        assert_eq!(general_bound(&caps, 3, 3), (1, BoundKind::Integer));
        caps[8] = 1000;
        assert_eq!(general_bound(&caps, 3, 3), (0, BoundKind::Integer));
    }

    #[test]
    fn per_cell_bound_catches_one_outlier() {
        // One 500 among 1000s, 3 groups of 3: its group holds at most 2500, the others
        // share 8000 - 2500 … precisely: T = 8500, X = 500 + 2000 = 2500, others ≥ 3000.
        let mut caps = vec![1000; 9];
        caps[0] = 500;
        let (lb, kind) = general_bound(&caps, 3, 3);
        assert_eq!((lb, kind), (500, BoundKind::PerCell));
    }

    #[test]
    fn outlier_set_bound_on_repackr_test_data_13s3p() {
        // chrisabird/pack-builder TESTDATA (the reference's D3), cut 13S3P: the reference
        // proves 113 mAh per cell and 265 mAh by hand from the two 1,25x mAh outliers.
        let mut caps: Vec<i64> = vec![
            2002, 1967, 2006, 1965, 1949, 2004, 1997, 2034, 1996, 1971, 1988, 1981, 1950, 1977,
            1250, 1251, 2040, 1989, 1993, 1986, 1984, 2005, 1961, 1995, 1982, 1958, 2039, 2002,
            1949, 1968, 1992, 1954, 2003, 1957, 1986, 1977, 1976, 1981, 1993,
        ];
        caps.sort_unstable();
        let (lb, kind) = general_bound(&caps, 13, 3);
        assert_eq!(kind, BoundKind::OutlierSet);
        assert!(lb >= 265, "bound {lb} should reach the hand-proved 265 mAh");
    }

    #[test]
    fn single_cell_and_fold_bounds_are_exact_values() {
        assert_eq!(
            range_lower_bound(&[10, 20, 35], 3, 1),
            (25, BoundKind::SingleCell)
        );
        // fold: (1+9, 2+8, 4+5) → 10, 10, 9
        assert_eq!(
            range_lower_bound(&[1, 2, 4, 5, 8, 9], 3, 2),
            (1, BoundKind::FoldExact)
        );
    }

    #[test]
    fn window_bound_matches_the_general_single_cell_terms() {
        let caps: Vec<i64> = vec![900, 1000, 1000, 1001, 1002, 1003, 1004, 1005, 1400, 1400];
        let mut pre = vec![0];
        for c in &caps {
            pre.push(pre[pre.len() - 1] + c);
        }
        for start in 0..=1 {
            let w = &caps[start..start + 9];
            let fast = window_bound(&pre, start, 3, 3);
            let (full, _) = general_bound(w, 3, 3);
            assert!(
                fast <= full,
                "fast {fast} must not exceed the full bound {full}"
            );
            assert!(fast > 0);
        }
    }
}
