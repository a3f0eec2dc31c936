//! P = 2: choosing the cells exactly.

use super::{Pool, Search};

impl Search<'_, '_> {
    /// P = 2 without in-group limits: the fold is optimal for any set of cells, so only the
    /// choice of cells matters, and that choice is solved exactly over the pack's cells and
    /// the nearby spares. For a band [L, L + R] of pair sums, pairing the smallest cell with
    /// the largest unused partner in the band yields the most disjoint pairs (exchange
    /// argument; checked against brute force in the tests). Binary search on R, and for each
    /// R the highest L with S pairs (the most capacity), gives the least achievable range.
    pub fn select_pairs(&mut self, pool: &mut Pool) {
        if self.p != 2 || pool.is_empty() || self.ctx.lim.has_group_limits() || self.ir_phase() {
            return;
        }
        let cap = &self.ctx.d.cap;
        let range = self.cost.range;
        // Already at zero: nothing to improve. A range of 1 mAh can still reach 0.
        if range == 0 {
            return;
        }
        // The spares closest in capacity to the pack (all of them in a small stock).
        const SPARES: usize = 256;
        let mid = {
            let mut c: Vec<i64> = self.slots.iter().map(|&c| cap[c as usize]).collect();
            c.sort_unstable();
            c[c.len() / 2]
        };
        let at = pool.lower_bound(mid, cap);
        let from = at.saturating_sub(SPARES / 2);
        let to = (from + SPARES).min(pool.len());
        let from = to.saturating_sub(SPARES);
        let mut cand: Vec<u32> = self.slots.clone();
        cand.extend_from_slice(&pool.cells[from..to]);
        cand.sort_by_key(|&c| (cap[c as usize], c));
        let v: Vec<i64> = cand.iter().map(|&c| cap[c as usize]).collect();
        let (mut lo_r, mut hi_r, mut best) = (0, range - 1, None);
        while lo_r <= hi_r {
            let r = lo_r + (hi_r - lo_r) / 2;
            match best_band(&v, self.s, r) {
                Some(pairs) => {
                    best = Some(pairs);
                    hi_r = r - 1;
                }
                None => lo_r = r + 1,
            }
        }
        let Some(pairs) = best else {
            return;
        };
        let mut chosen: Vec<u32> = pairs
            .iter()
            .flat_map(|&(i, j)| [cand[i], cand[j]])
            .collect();
        let old = std::mem::take(&mut self.slots);
        for &c in &old {
            if !chosen.contains(&c) {
                pool.insert(c, cap);
            }
        }
        for &c in &chosen {
            if !old.contains(&c) {
                pool.remove(c, cap);
            }
        }
        chosen.sort_by_key(|&c| (cap[c as usize], c));
        self.slots = crate::bldm::bldm(&chosen, cap, self.s, self.p);
        self.recompute();
    }
}

/// The `s` pairs (indices into ascending `v`) with sums in the highest band [L, L + r]
/// that holds `s` disjoint pairs, if any band does.
fn best_band(v: &[i64], s: usize, r: i64) -> Option<Vec<(usize, usize)>> {
    let n = v.len();
    if n < 2 * s {
        return None;
    }
    let (min_sum, max_sum) = (v[0] + v[1], v[n - 1] + v[n - 2]);
    // Raising L to the lowest pair sum in the band loses no pair, so only pair sums need
    // trying as L: all of them when fewer than the integers in between.
    let starts: Vec<i64> = if n * n / 2 < (max_sum - min_sum) as usize {
        let mut sums: Vec<i64> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| v[i] + v[j])
            .collect();
        sums.sort_unstable_by(|a, b| b.cmp(a));
        sums.dedup();
        sums
    } else {
        (min_sum..=max_sum).rev().collect()
    };
    let mut used = vec![false; n];
    let mut pairs = Vec::with_capacity(n / 2);
    for l in starts {
        pairs.clear();
        used.iter_mut().for_each(|u| *u = false);
        let h = l + r;
        let mut t = n - 1;
        for i in 0..n {
            if used[i] {
                continue;
            }
            while t > i && (used[t] || v[t] > h - v[i]) {
                t -= 1;
            }
            if t <= i {
                break;
            }
            if v[t] >= l - v[i] {
                used[i] = true;
                used[t] = true;
                pairs.push((i, t));
                t -= 1;
            }
        }
        if pairs.len() >= s {
            // The strongest s pairs: all in the band, the most capacity.
            pairs.sort_by_key(|&(i, j)| std::cmp::Reverse(v[i] + v[j]));
            pairs.truncate(s);
            return Some(pairs);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Most disjoint pairs with sums in [l, h], by brute force.
    fn brute_pairs(v: &[i64], l: i64, h: i64) -> usize {
        fn go(v: &[i64], used: &mut Vec<bool>, l: i64, h: i64) -> usize {
            let Some(i) = (0..v.len()).find(|&i| !used[i]) else {
                return 0;
            };
            used[i] = true;
            let mut best = go(v, used, l, h);
            for j in i + 1..v.len() {
                if !used[j] && (l..=h).contains(&(v[i] + v[j])) {
                    used[j] = true;
                    best = best.max(1 + go(v, used, l, h));
                    used[j] = false;
                }
            }
            used[i] = false;
            best
        }
        go(v, &mut vec![false; v.len()], l, h)
    }

    #[test]
    fn band_greedy_finds_as_many_pairs_as_brute_force() {
        let mut r = Rng::new(21);
        for _ in 0..400 {
            let n = 2 + r.below(9);
            let mut v: Vec<i64> = (0..n).map(|_| r.below(30) as i64).collect();
            v.sort_unstable();
            let width = r.below(8) as i64;
            let most = brute_pairs(&v, 0, i64::MAX);
            for s in 1..=most.max(1) {
                // best_band answers "is there a band of this width with s pairs?"
                let any = (0..=60).any(|l| brute_pairs(&v, l, l + width) >= s);
                assert_eq!(
                    best_band(&v, s, width).is_some(),
                    any,
                    "{v:?} s={s} r={width}"
                );
            }
        }
    }
}
