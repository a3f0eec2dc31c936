//! Exact search for one pack of few cells: the least range any arrangement of exactly
//! these cells can have, by exact cover.
//!
//! With group sums confined to a band [L, L + R], the candidate groups (P-subsets whose sum
//! falls in the band) are few unless the capacities are dense, so "can S disjoint candidates
//! cover every cell?" is a small exact-cover problem. Feasibility is monotone in R, so a
//! binary search over R between the analytic bound and the best range found gives either
//! an optimal arrangement or a proof that no arrangement beats R: a stronger lower bound.
//! Everything runs under a node budget; when it runs out, only what was proved is claimed.

/// Cells per pack this search handles (cover masks are `u128`).
pub(crate) const MAX_CELLS: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exact {
    /// A better arrangement (group-major indices into the given cells) and its range.
    pub better: Option<(i64, Vec<usize>)>,
    /// No arrangement of these cells has a range below this.
    pub proven_bound: i64,
}

/// Work left for one call, in elementary steps (enumeration nodes, candidate checks).
struct Budget(usize);

impl Budget {
    fn spend(&mut self, work: usize) -> bool {
        if self.0 < work {
            self.0 = 0;
            return false;
        }
        self.0 -= work;
        true
    }
}

/// Beyond this many candidate groups the band is too dense for exact cover to pay; the
/// local search reaches the bound on such packs anyway.
const MAX_CANDIDATES: usize = 20_000;

/// Searches ranges in `[bound, best)` for `caps` (ascending) in `s` groups of `p`.
#[cfg(test)]
pub(crate) fn exact_range(
    caps: &[i64],
    s: usize,
    p: usize,
    bound: i64,
    best: i64,
    nodes: usize,
) -> Exact {
    exact_range_with(caps, s, p, bound, best, nodes, &|_| true)
}

/// [`exact_range`] over the groups `fits` accepts (the in-group limits): what it proves is
/// then a bound for arrangements within those limits.
pub(crate) fn exact_range_with(
    caps: &[i64],
    s: usize,
    p: usize,
    bound: i64,
    best: i64,
    nodes: usize,
    fits: &dyn Fn(&[usize]) -> bool,
) -> Exact {
    let mut out = Exact {
        better: None,
        proven_bound: bound,
    };
    if caps.len() != s * p || caps.len() > MAX_CELLS || s < 2 || bound >= best {
        return out;
    }
    let mut budget = Budget(nodes);
    let (mut lo, mut hi) = (bound, best - 1);
    // Invariant: every range < lo is proven impossible; a range ≤ hi + 1 is achieved.
    while lo <= hi {
        let r = lo + (hi - lo) / 2;
        match feasible(caps, s, p, r, &mut budget, fits) {
            Some(Some(groups)) => {
                let range = range_of(caps, &groups, p);
                out.better = Some((range, groups));
                hi = range - 1;
            }
            Some(None) => {
                lo = r + 1;
                out.proven_bound = lo;
            }
            None => break,
        }
    }
    out
}

fn range_of(caps: &[i64], groups: &[usize], p: usize) -> i64 {
    let sums: Vec<i64> = groups
        .chunks(p)
        .map(|g| g.iter().map(|&i| caps[i]).sum())
        .collect();
    sums.iter().max().unwrap_or(&0) - sums.iter().min().unwrap_or(&0)
}

/// Some(Some(groups)) if a partition with range ≤ r exists, Some(None) if none does,
/// None when the budget ran out first.
fn feasible(
    caps: &[i64],
    s: usize,
    p: usize,
    r: i64,
    budget: &mut Budget,
    fits: &dyn Fn(&[usize]) -> bool,
) -> Option<Option<Vec<usize>>> {
    let t: i64 = caps.iter().sum();
    let si = s as i64;
    let (floor, ceil) = (
        t.div_euclid(si),
        t.div_euclid(si) + i64::from(t.rem_euclid(si) != 0),
    );
    // min ≤ ⌊T/S⌋ and max ≥ ⌈T/S⌉, so the band's low end L lies in [⌈T/S⌉ − r, ⌊T/S⌋].
    for l in (ceil - r)..=floor {
        let cands = candidates(caps, p, l, l + r, budget, fits)?;
        if let Some(groups) = cover(caps.len(), s, &cands, budget)? {
            return Some(Some(groups));
        }
    }
    Some(None)
}

/// Every P-subset (as index list and mask) whose sum lies in [lo, hi].
fn candidates(
    caps: &[i64],
    p: usize,
    lo: i64,
    hi: i64,
    budget: &mut Budget,
    fits: &dyn Fn(&[usize]) -> bool,
) -> Option<Vec<(u128, Vec<usize>)>> {
    let mut e = Enumerate {
        fits,
        caps,
        p,
        lo,
        hi,
        pick: Vec::with_capacity(p),
        out: Vec::new(),
        budget,
    };
    if caps.len() >= p {
        e.go(0, 0)?;
    }
    Some(e.out)
}

struct Enumerate<'a> {
    fits: &'a dyn Fn(&[usize]) -> bool,
    /// Ascending.
    caps: &'a [i64],
    p: usize,
    lo: i64,
    hi: i64,
    pick: Vec<usize>,
    out: Vec<(u128, Vec<usize>)>,
    budget: &'a mut Budget,
}

impl Enumerate<'_> {
    fn go(&mut self, start: usize, sum: i64) -> Option<()> {
        if !self.budget.spend(1) {
            return None;
        }
        let need = self.p - self.pick.len();
        if need == 0 {
            if sum >= self.lo && (self.fits)(&self.pick) {
                if self.out.len() == MAX_CANDIDATES {
                    return None;
                }
                let mask = self.pick.iter().fold(0u128, |m, &i| m | 1u128 << i);
                self.out.push((mask, self.pick.clone()));
            }
            return Some(());
        }
        let n = self.caps.len();
        for i in start..=n - need {
            // The least this choice can reach: caps[i] and the next need − 1 cells; the most:
            // caps[i] and the need − 1 largest.
            let least = sum + self.caps[i..i + need].iter().sum::<i64>();
            if least > self.hi {
                break;
            }
            let most = sum + self.caps[i] + self.caps[n - (need - 1)..].iter().sum::<i64>();
            if most < self.lo {
                continue;
            }
            self.pick.push(i);
            self.go(i + 1, sum + self.caps[i])?;
            self.pick.pop();
        }
        Some(())
    }
}

/// Exact cover of cells 0..n by s disjoint candidates; branch on the uncovered cell with
/// the fewest usable candidates.
fn cover(
    n: usize,
    s: usize,
    cands: &[(u128, Vec<usize>)],
    budget: &mut Budget,
) -> Option<Option<Vec<usize>>> {
    if cands.len() < s {
        return Some(None);
    }
    let mut by_cell: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, (_, cells)) in cands.iter().enumerate() {
        for &c in cells {
            by_cell[c].push(k);
        }
    }
    if by_cell.iter().any(Vec::is_empty) {
        return Some(None);
    }
    let full: u128 = if n == 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    };
    let mut chosen = Vec::with_capacity(s);
    fn go(
        covered: u128,
        full: u128,
        cands: &[(u128, Vec<usize>)],
        by_cell: &[Vec<usize>],
        chosen: &mut Vec<usize>,
        budget: &mut Budget,
    ) -> Option<bool> {
        if covered == full {
            return Some(true);
        }
        let mut best: Option<(usize, usize)> = None;
        let mut rest = !covered & full;
        while rest != 0 {
            let c = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if !budget.spend(1 + by_cell[c].len()) {
                return None;
            }
            let usable = by_cell[c]
                .iter()
                .filter(|&&k| cands[k].0 & covered == 0)
                .count();
            if usable == 0 {
                return Some(false);
            }
            if best.is_none_or(|(_, u)| usable < u) {
                best = Some((c, usable));
            }
        }
        let (c, _) = best?;
        for &k in &by_cell[c] {
            if cands[k].0 & covered != 0 {
                continue;
            }
            chosen.push(k);
            if go(covered | cands[k].0, full, cands, by_cell, chosen, budget)? {
                return Some(true);
            }
            chosen.pop();
        }
        Some(false)
    }
    Some(go(0, full, cands, &by_cell, &mut chosen, budget)?.then(|| {
        chosen
            .iter()
            .flat_map(|&k| cands[k].1.iter().copied())
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::general_bound;

    /// Every partition of `caps` into s groups of p, by brute force.
    pub(crate) fn brute_min_range(caps: &[i64], p: usize) -> i64 {
        fn go(rest: &[i64], p: usize, sums: &mut Vec<i64>) -> i64 {
            if rest.is_empty() {
                return sums.iter().max().unwrap() - sums.iter().min().unwrap();
            }
            // The first remaining cell opens a new group with p − 1 others.
            let first = rest[0];
            let others = &rest[1..];
            let mut best = i64::MAX;
            let idx: Vec<usize> = (0..others.len()).collect();
            for combo in combos(&idx, p - 1) {
                let sum = first + combo.iter().map(|&i| others[i]).sum::<i64>();
                let left: Vec<i64> = (0..others.len())
                    .filter(|i| !combo.contains(i))
                    .map(|i| others[i])
                    .collect();
                sums.push(sum);
                best = best.min(go(&left, p, sums));
                sums.pop();
            }
            best
        }
        go(caps, p, &mut Vec::new())
    }

    fn combos(v: &[usize], k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for (i, &x) in v.iter().enumerate() {
            for mut rest in combos(&v[i + 1..], k - 1) {
                rest.insert(0, x);
                out.push(rest);
            }
        }
        out
    }

    #[test]
    fn finds_the_optimum_and_proves_it() {
        let mut caps: Vec<i64> = vec![
            31000, 31950, 32120, 32480, 32790, 33010, 33400, 33900, 35100,
        ];
        caps.sort_unstable();
        let opt = brute_min_range(&caps, 3);
        let (lb, _) = general_bound(&caps, 3, 3);
        let got = exact_range(&caps, 3, 3, lb, i64::MAX / 4, 1_000_000);
        let (range, groups) = got.better.expect("an arrangement");
        assert_eq!(range, opt);
        assert_eq!(got.proven_bound, opt);
        assert_eq!(range_of(&caps, &groups, 3), opt);
        let mut all = groups.clone();
        all.sort_unstable();
        assert_eq!(all, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn proves_a_bound_without_finding_better() {
        let caps: Vec<i64> = vec![10, 20, 30, 45, 50, 61, 70, 83, 90, 101, 110, 125];
        let opt = brute_min_range(&caps, 3);
        // Asking below the optimum only: nothing better exists, the bound rises to it.
        let got = exact_range(&caps, 4, 3, 0, opt, 1_000_000);
        assert_eq!(got.better, None);
        assert_eq!(got.proven_bound, opt);
    }

    #[test]
    fn an_exhausted_budget_claims_nothing_new() {
        let caps: Vec<i64> = (0..12).map(|i| 1000 + 7 * i).collect();
        let got = exact_range(&caps, 4, 3, 0, 1000, 3);
        assert_eq!(got.proven_bound, 0);
    }

    #[test]
    fn exact_search_under_a_group_filter_proves_the_limited_optimum() {
        // 2S2P of 100, 101, 200, 201 where only {0,1} and {2,3} may share a group: the only
        // arrangement has range 200, and nothing below it exists.
        let caps = [100, 101, 200, 201];
        let fits = |g: &[usize]| g == [0, 1] || g == [2, 3];
        let got = exact_range_with(&caps, 2, 2, 0, 1_000, 1_000_000, &fits);
        assert_eq!(got.better.as_ref().map(|b| b.0), Some(200));
        assert_eq!(got.proven_bound, 200);
        // Without the filter the fold's 0 is found.
        let free = exact_range_with(&caps, 2, 2, 0, 1_000, 1_000_000, &|_| true);
        assert_eq!(free.better.map(|b| b.0), Some(0));
    }
}
