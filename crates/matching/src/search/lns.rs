//! Exact re-partition of a few groups (large-neighbourhood move): pool their cells and
//! enumerate every split into the same number of groups of P, with branch and bound on the
//! pack's range, keeping the best (range, then dispersion) within a node budget.

use super::{stat_of, Search, EPS};
use std::cmp::Reverse;

struct Dfs<'a> {
    vals: &'a [i64],
    /// suf[i] = Σ vals[i..]; vals descend, so the r largest still unplaced after i are
    /// vals[i..i + r] and the r smallest are the last r.
    suf: Vec<i64>,
    p: usize,
    /// Sums of the groups not taking part.
    others: (i64, i64),
    sums: Vec<i64>,
    count: Vec<usize>,
    assign: Vec<u8>,
    best: (i64, i128),
    found: Vec<Vec<u8>>,
    nodes: usize,
    budget: usize,
}

impl Dfs<'_> {
    fn go(&mut self, i: usize) {
        self.nodes += 1;
        if self.nodes > self.budget {
            return;
        }
        let n = self.vals.len();
        if i == n {
            let hi = self
                .sums
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
                .max(self.others.1);
            let lo = self
                .sums
                .iter()
                .copied()
                .min()
                .unwrap_or(0)
                .min(self.others.0);
            let sq: i128 = self
                .sums
                .iter()
                .map(|&x| i128::from(x) * i128::from(x))
                .sum();
            if (hi - lo, sq) < self.best {
                self.best = (hi - lo, sq);
                self.found.push(self.assign.clone());
            }
            return;
        }
        // Bound: every group ends between its sum plus the smallest and the largest cells it
        // still needs.
        let (mut hi, mut lo) = (self.others.1, self.others.0);
        for g in 0..self.sums.len() {
            let r = self.p - self.count[g];
            hi = hi.max(self.sums[g] + self.suf[n - r]);
            lo = lo.min(self.sums[g] + self.suf[i] - self.suf[i + r]);
        }
        if hi - lo > self.best.0 {
            return;
        }
        // Emptiest-sum group first (greedy order finds good leaves early); groups in the same
        // state are interchangeable, so only the first of them is tried.
        let mut order: Vec<usize> = (0..self.sums.len())
            .filter(|&g| self.count[g] < self.p)
            .collect();
        order.sort_by_key(|&g| (self.sums[g], self.count[g]));
        let mut tried: Vec<(i64, usize)> = Vec::with_capacity(order.len());
        for g in order {
            let state = (self.sums[g], self.count[g]);
            if tried.contains(&state) {
                continue;
            }
            tried.push(state);
            self.sums[g] += self.vals[i];
            self.count[g] += 1;
            self.assign[i] = g as u8;
            self.go(i + 1);
            self.sums[g] -= self.vals[i];
            self.count[g] -= 1;
            if self.nodes > self.budget {
                return;
            }
        }
    }
}

impl Search<'_, '_> {
    /// Re-partitions `groups` exactly (within `budget` nodes); true if the pack improved.
    pub(super) fn repartition(&mut self, groups: &[usize], budget: usize) -> bool {
        let k = groups.len();
        if k < 2 || k > u8::MAX as usize {
            return false;
        }
        let mut cells: Vec<u32> = groups
            .iter()
            .flat_map(|&g| self.group(g).iter().copied())
            .collect();
        cells.sort_by_key(|&c| Reverse(self.cap(c)));
        let vals: Vec<i64> = cells.iter().map(|&c| self.cap(c)).collect();
        let mut suf = vec![0i64; vals.len() + 1];
        for i in (0..vals.len()).rev() {
            suf[i] = suf[i + 1] + vals[i];
        }
        let mut others = (i64::MAX, i64::MIN);
        for g in (0..self.s).filter(|g| !groups.contains(g)) {
            others = (others.0.min(self.st[g].sum), others.1.max(self.st[g].sum));
        }
        let cur_sq: i128 = groups
            .iter()
            .map(|&g| i128::from(self.st[g].sum) * i128::from(self.st[g].sum))
            .sum();
        let mut dfs = Dfs {
            vals: &vals,
            suf,
            p: self.p,
            others,
            sums: vec![0; k],
            count: vec![0; k],
            assign: vec![0; vals.len()],
            best: (self.cost.range, cur_sq),
            found: Vec::new(),
            nodes: 0,
            budget,
        };
        dfs.go(0);
        // Later finds are better; the first one that keeps the limits wins.
        let lim = self.ctx.lim;
        let old_viol: f64 = groups.iter().map(|&g| self.st[g].viol).sum();
        let pick = dfs.found.iter().rev().find(|assign| {
            !lim.has_group_limits()
                || (0..k)
                    .map(|j| {
                        let members = cells
                            .iter()
                            .zip(assign.iter())
                            .filter(|(_, &a)| a as usize == j);
                        stat_of(self.ctx.d, &lim, members.map(|(&c, _)| c)).viol
                    })
                    .sum::<f64>()
                    <= old_viol + EPS
        });
        let Some(assign) = pick else {
            return false;
        };
        let snap = self.snapshot();
        for (j, &g) in groups.iter().enumerate() {
            let members: Vec<u32> = cells
                .iter()
                .zip(assign)
                .filter(|(_, &a)| a as usize == j)
                .map(|(&c, _)| c)
                .collect();
            self.slots[g * self.p..(g + 1) * self.p].copy_from_slice(&members);
            self.resort(g);
        }
        self.recost();
        if self.cost.better(&snap.cost, self.ir_phase()) {
            return true;
        }
        self.restore(&snap);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Ctx, Search};
    use crate::data::{Data, Limits};

    #[test]
    fn finds_the_perfect_split_a_swap_cannot_reach() {
        // 1..=9 in consecutive groups; an exact split gives 15, 15, 15.
        let caps: Vec<i64> = (1..=9).collect();
        let d = Data::with_caps(&caps);
        let ctx = Ctx {
            d: &d,
            lim: Limits::default(),
        };
        // groups {1,2,3}=6, {4,5,6}=15, {7,8,9}=24
        let mut s = Search::new(&ctx, (0..9).collect(), 3, 3);
        assert_eq!(s.cost().range, 18);
        assert!(s.repartition(&[0, 1, 2], 100_000));
        assert_eq!(s.cost().range, 0);
    }
}
