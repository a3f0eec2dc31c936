//! The local-search moves. Each finds its best candidate, applies it only if the pack's
//! cost improves, and says whether it moved.

use super::{Cost, GStat, Pool, Search, EPS};

/// A swap that widens the mean in-group IR spread by more than this (percentage points of
/// the pack's mean IR) cannot beat the current cost in the IR phase: far above the
/// comparison's tolerance [`EPS`] and the rounding of the O(1) cost, far below any real gain.
const IR_PRUNE_PCT: f64 = 1e-9;

impl Search<'_, '_> {
    /// Slots (a in g, b in h) whose capacity difference cap(a) − cap(b) is closest to `t`.
    pub(super) fn closest_pair(&self, g: usize, h: usize, t: i64) -> (usize, usize) {
        let (ga, hb) = (self.group(g), self.group(h));
        let (mut j, mut best, mut arg) = (0usize, i64::MAX, (0, 0));
        for (i, &a) in ga.iter().enumerate() {
            let want = self.cap(a) - t; // the b we would like
            while j + 1 < hb.len() && self.cap(hb[j + 1]) <= want {
                j += 1;
            }
            for jj in [j, (j + 1).min(hb.len() - 1)] {
                let e = (self.cap(hb[jj]) - want).abs();
                if e < best {
                    best = e;
                    arg = (i, jj);
                }
            }
        }
        (g * self.p + arg.0, h * self.p + arg.1)
    }

    /// Slots (a in g, b in h) with cap(a) − cap(b) exactly `delta`, if any.
    pub(super) fn exact_pair(&self, g: usize, h: usize, delta: i64) -> Option<(usize, usize)> {
        let (ga, hb) = (self.group(g), self.group(h));
        let (mut i, mut j) = (0, 0);
        while i < ga.len() && j < hb.len() {
            let d = self.cap(ga[i]) - self.cap(hb[j]);
            match d.cmp(&delta) {
                std::cmp::Ordering::Equal => return Some((g * self.p + i, h * self.p + j)),
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        None
    }

    /// Best single swap (or pool trade) that touches a strongest or weakest group.
    fn step_extreme(&mut self, pool: &mut Pool) -> bool {
        let (hi, lo) = self.extremes();
        let ir = self.ir_phase();
        let plain = !ir && !self.ctx.lim.has_group_limits();
        let cur = self.cost;
        let mut best: Option<(Cost, usize, usize, bool)> = None;
        let consider = |best: &mut Option<(Cost, usize, usize, bool)>, c: Cost, a, b, trade| {
            let bar = best.as_ref().map_or(&cur, |(bc, ..)| bc);
            if c.better(bar, ir) {
                *best = Some((c, a, b, trade));
            }
        };
        // Capacity phase within every limit: no move can win on the limits, so one whose
        // range (integer sums, O(1)) exceeds the best so far loses; skip its full cost.
        let prune = !ir && cur.viol == 0.0;
        let loses = |best: &Option<(Cost, usize, usize, bool)>, range: i64| {
            prune && range > best.as_ref().map_or(cur.range, |(bc, ..)| bc.range)
        };
        let avg = self.total as f64 / self.s as f64;
        // With many groups tied at an extreme, moving any one of them gains the same; two
        // per side keep a step O(S) instead of O(S²).
        // Which two rotates from step to step, so plateaus do not cycle.
        self.turn = self.turn.wrapping_add(1);
        let (mut tops, mut bottoms) = (0, 0);
        for k in 0..self.s {
            let g = (k + self.turn) % self.s;
            let sg = self.st[g].sum;
            let at_top = sg == hi && tops < 2;
            let at_bottom = sg == lo && bottoms < 2;
            if !at_top && !at_bottom {
                continue;
            }
            tops += usize::from(at_top);
            bottoms += usize::from(at_bottom);
            for h in 0..self.s {
                let gap = sg - self.st[h].sum;
                if h == g || (gap == 0 && plain) {
                    continue;
                }
                let half = gap.div_euclid(2);
                for t in [half, gap - half] {
                    let (a, b) = self.closest_pair(g, h, t);
                    let moved = self.cap(self.slots[a]) - self.cap(self.slots[b]);
                    let range = self.range_with(&[(g, sg - moved), (h, self.st[h].sum + moved)]);
                    if !loses(&best, range) {
                        consider(&mut best, self.eval_swap(a, b), a, b, false);
                    }
                    if gap - half == half {
                        break;
                    }
                }
            }
            if !pool.is_empty() {
                // Bring the group to the mean: trade a cell for one `sg − avg` smaller.
                let shift = (sg as f64 - avg).round() as i64;
                for at in g * self.p..(g + 1) * self.p {
                    let want = self.cap(self.slots[at]) - shift;
                    let k = pool.lower_bound(want, &self.ctx.d.cap);
                    for kk in [k.wrapping_sub(1), k] {
                        if let Some(&c) = pool.cells.get(kk) {
                            let moved = self.cap(self.slots[at]) - self.cap(c);
                            if !loses(&best, self.range_with(&[(g, sg - moved)])) {
                                consider(&mut best, self.eval_trade(at, c), at, c as usize, true);
                            }
                        }
                    }
                }
            }
        }
        match best {
            Some((_, a, b, false)) => {
                self.apply_swap(a, b);
                true
            }
            Some((_, at, c, true)) => {
                self.apply_trade(at, c as u32, pool);
                true
            }
            None => false,
        }
    }

    /// Ejection chain: move exactly δ mAh from a strongest to a weakest group through
    /// intermediate groups, each passing δ on by one 1-for-1 or 2-for-2 swap.
    fn step_chain(&mut self) -> bool {
        let (hi, lo) = self.extremes();
        let gap = hi - lo;
        if gap < 2 {
            return false;
        }
        let tops: Vec<usize> = (0..self.s)
            .filter(|&g| self.st[g].sum == hi)
            .take(4)
            .collect();
        let bottoms: Vec<usize> = (0..self.s)
            .filter(|&g| self.st[g].sum == lo)
            .take(4)
            .collect();
        // δ from half the gap outwards; a few values are enough to find a path when one exists.
        let half = gap / 2;
        let mut deltas = vec![half];
        for k in 1..=3 {
            for d in [half + k, half - k] {
                if d >= 1 && d < gap && !deltas.contains(&d) {
                    deltas.push(d);
                }
            }
        }
        let pairs: Vec<Vec<(i64, usize, usize)>> = if self.p >= 3 {
            (0..self.s).map(|g| self.pairs_of(g)).collect()
        } else {
            Vec::new()
        };
        let cur = self.cost;
        for &delta in &deltas {
            // Which group can pass δ to which: the same for every (src, dst) below, since a
            // chain that is not taken is undone.
            let mut memo = vec![0u8; self.s * self.s];
            for &src in &tops {
                for &dst in &bottoms {
                    let Some(path) = self.chain_path_memo(src, dst, delta, &pairs, &mut memo)
                    else {
                        continue;
                    };
                    let snap = self.snapshot();
                    let mut ok = true;
                    for step in path.windows(2) {
                        let (u, v) = (step[0], step[1]);
                        let fresh: Vec<Vec<(i64, usize, usize)>> = if self.p >= 3 {
                            (0..self.s)
                                .map(|g| {
                                    if g == u || g == v {
                                        self.pairs_of(g)
                                    } else {
                                        Vec::new()
                                    }
                                })
                                .collect()
                        } else {
                            Vec::new()
                        };
                        match self.exact_move(u, v, delta, &fresh) {
                            Some(mv) => {
                                for &(a, b) in mv.iter() {
                                    self.slots.swap(a, b);
                                }
                                self.resort(u);
                                self.resort(v);
                            }
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    self.recost();
                    if ok && self.cost.better(&cur, self.ir_phase()) {
                        return true;
                    }
                    self.restore(&snap);
                }
            }
        }
        false
    }

    /// A swap moving exactly δ mAh from group u to group v: one cell each way, or (with
    /// `pairs`, the sorted pair sums per group) two cells each way.
    fn exact_move(
        &self,
        u: usize,
        v: usize,
        delta: i64,
        pairs: &[Vec<(i64, usize, usize)>],
    ) -> Option<Vec<(usize, usize)>> {
        if let Some(ab) = self.exact_pair(u, v, delta) {
            return Some(vec![ab]);
        }
        let (pu, pv) = (pairs.get(u)?, pairs.get(v)?);
        let (mut i, mut j) = (0, 0);
        while i < pu.len() && j < pv.len() {
            match (pu[i].0 - pv[j].0).cmp(&delta) {
                std::cmp::Ordering::Equal => {
                    return Some(vec![(pu[i].1, pv[j].1), (pu[i].2, pv[j].2)]);
                }
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        None
    }

    /// Shortest group path src → … → dst where each step can pass exactly δ on.
    #[cfg(test)]
    pub(super) fn chain_path(
        &self,
        src: usize,
        dst: usize,
        delta: i64,
        pairs: &[Vec<(i64, usize, usize)>],
    ) -> Option<Vec<usize>> {
        self.chain_path_memo(src, dst, delta, pairs, &mut vec![0; self.s * self.s])
    }

    /// [`Self::chain_path`] with `memo[u·S + v]` remembering whether u can pass δ to v
    /// (0 not yet known, 1 no, 2 yes) for the current groups.
    fn chain_path_memo(
        &self,
        src: usize,
        dst: usize,
        delta: i64,
        pairs: &[Vec<(i64, usize, usize)>],
        memo: &mut [u8],
    ) -> Option<Vec<usize>> {
        let mut prev = vec![usize::MAX; self.s];
        prev[src] = src;
        let mut queue = std::collections::VecDeque::from([src]);
        while let Some(u) = queue.pop_front() {
            for v in 0..self.s {
                if prev[v] != usize::MAX {
                    continue;
                }
                let edge = &mut memo[u * self.s + v];
                if *edge == 0 {
                    *edge = if self.exact_move(u, v, delta, pairs).is_some() {
                        2
                    } else {
                        1
                    };
                }
                if *edge == 1 {
                    continue;
                }
                prev[v] = u;
                if v == dst {
                    let mut path = vec![dst];
                    let mut at = dst;
                    while at != src {
                        at = prev[at];
                        path.push(at);
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(v);
            }
        }
        None
    }

    /// Any two groups: the swap closest to halving their difference. Leaves the extremes as
    /// they are but evens out the middle, which opens new moves for the extremes.
    fn step_any_pair(&mut self) -> bool {
        let mut cands = Vec::new();
        for g in 0..self.s {
            for h in 0..self.s {
                let gap = self.st[g].sum - self.st[h].sum;
                if gap >= 2 {
                    cands.push(self.closest_pair(g, h, gap / 2));
                }
            }
        }
        self.apply_best_swap(cands)
    }

    /// Evaluates the candidate swaps and applies the best one, if it beats the current cost.
    fn apply_best_swap(&mut self, cands: impl IntoIterator<Item = (usize, usize)>) -> bool {
        match self.best_swap(cands) {
            Some((a, b)) => {
                self.apply_swap(a, b);
                true
            }
            None => false,
        }
    }

    /// The candidate swap (slots in different groups) with the best cost, if it beats the
    /// current one. In the IR phase, within the limits and the allowance, a swap can only win
    /// on the IR spread (or tie there and win on balance), so one that widens the groups' IR
    /// spreads by more than [`IR_PRUNE_PCT`] is rejected from its two groups' figures alone,
    /// before the full cost: the same choice, at a fraction of the work.
    fn best_swap(&self, cands: impl IntoIterator<Item = (usize, usize)>) -> Option<(usize, usize)> {
        let cur = self.cost;
        let ir = self.ir_phase();
        let ir_mean = self.ir_mean();
        let prune = ir && cur.viol <= EPS && cur.excess == 0 && ir_mean > 0.0;
        let pct_per_mohm = 100.0 / self.s as f64 / ir_mean;
        // Capacity phase within every limit: a swap whose range exceeds the best so far loses.
        let prune_range = !ir && cur.viol == 0.0;
        let mut best: Option<(Cost, usize, usize)> = None;
        for (a, b) in cands {
            let (g, h) = (a / self.p, b / self.p);
            if prune_range {
                let moved = self.cap(self.slots[a]) - self.cap(self.slots[b]);
                let range =
                    self.range_with(&[(g, self.st[g].sum - moved), (h, self.st[h].sum + moved)]);
                if range > best.as_ref().map_or(cur.range, |(bc, ..)| bc.range) {
                    continue;
                }
            }
            if prune {
                let wider = (self.ir_width_swapping(a, self.slots[b]) - self.st[g].ir_width)
                    + (self.ir_width_swapping(b, self.slots[a]) - self.st[h].ir_width);
                if wider * pct_per_mohm > IR_PRUNE_PCT {
                    continue;
                }
            }
            let sg = self.stat_swapping(a, self.slots[b]);
            let sh = self.stat_swapping(b, self.slots[a]);
            let c = self.cost_with(&[(g, sg), (h, sh)], self.total, ir_mean);
            let bar = best.as_ref().map_or(&cur, |(bc, ..)| bc);
            if c.better(bar, ir) {
                best = Some((c, a, b));
            }
        }
        best.map(|(_, a, b)| (a, b))
    }

    /// Pair sums of group g with their slots, sorted.
    fn pairs_of(&self, g: usize) -> Vec<(i64, usize, usize)> {
        let mut v = Vec::with_capacity(self.p * (self.p - 1) / 2);
        for i in 0..self.p {
            for j in i + 1..self.p {
                let (a, b) = (g * self.p + i, g * self.p + j);
                v.push((self.cap(self.slots[a]) + self.cap(self.slots[b]), a, b));
            }
        }
        v.sort_unstable();
        v
    }

    /// 2-for-2 swap between a strongest or weakest group and any other, closest to half
    /// the gap.
    fn step_pairs(&mut self) -> bool {
        if self.p < 3 {
            return false;
        }
        let (hi, lo) = self.extremes();
        let cur = self.cost;
        let mut best: Option<(Cost, [(usize, usize); 2])> = None;
        for g in 0..self.s {
            let sg = self.st[g].sum;
            if sg != hi && sg != lo {
                continue;
            }
            let pg = self.pairs_of(g);
            for h in 0..self.s {
                let gap = sg - self.st[h].sum;
                if h == g || gap == 0 {
                    continue;
                }
                let t = gap / 2;
                let ph = self.pairs_of(h);
                // The pg.sum − ph.sum closest to t.
                let (mut j, mut arg, mut err) = (0usize, (0, 0), i64::MAX);
                for (i, x) in pg.iter().enumerate() {
                    let want = x.0 - t;
                    while j + 1 < ph.len() && ph[j + 1].0 <= want {
                        j += 1;
                    }
                    for jj in [j, (j + 1).min(ph.len() - 1)] {
                        let e = (ph[jj].0 - want).abs();
                        if e < err {
                            err = e;
                            arg = (i, jj);
                        }
                    }
                }
                let (x, y) = (pg[arg.0], ph[arg.1]);
                let mv = [(x.1, y.1), (x.2, y.2)];
                // Within every limit in the capacity phase a wider range loses (as in
                // `best_swap`).
                let moved = x.0 - y.0;
                if !self.ir_phase()
                    && cur.viol == 0.0
                    && self.range_with(&[(g, sg - moved), (h, self.st[h].sum + moved)])
                        > best.as_ref().map_or(cur.range, |(bc, _)| bc.range)
                {
                    continue;
                }
                let c = self.eval_swaps(&mv);
                let bar = best.as_ref().map_or(&cur, |(bc, _)| bc);
                if c.better(bar, self.ir_phase()) {
                    best = Some((c, mv));
                }
            }
        }
        match best {
            Some((_, [(a, b), (c, d)])) => {
                self.slots.swap(a, b);
                self.slots.swap(c, d);
                self.resort(a / self.p);
                self.resort(b / self.p);
                self.recost();
                true
            }
            None => false,
        }
    }

    /// Any single swap out of the group that most violates a limit (or, in the IR phase,
    /// of the widest-IR group's lowest- and highest-IR cells): capacity-targeted moves cannot
    /// see these gains.
    pub(super) fn step_worst_group(&mut self) -> bool {
        let repair = self.cost.viol > EPS;
        let key = |s: &GStat| if repair { s.viol } else { s.ir_width };
        let Some(g) = (0..self.s).max_by(|&a, &b| key(&self.st[a]).total_cmp(&key(&self.st[b])))
        else {
            return false;
        };
        if key(&self.st[g]) <= EPS {
            return false;
        }
        let ir = &self.ctx.d.ir;
        let movers: Vec<usize> = if repair {
            (g * self.p..(g + 1) * self.p).collect()
        } else {
            let by_ir = |&a: &usize, &b: &usize| {
                ir[self.slots[a] as usize].total_cmp(&ir[self.slots[b] as usize])
            };
            let range = g * self.p..(g + 1) * self.p;
            let measured: Vec<usize> = range
                .filter(|&a| !ir[self.slots[a] as usize].is_nan())
                .collect();
            [
                measured.iter().copied().min_by(by_ir),
                measured.iter().copied().max_by(by_ir),
            ]
            .into_iter()
            .flatten()
            .collect()
        };
        let p = self.p;
        let cands = movers.into_iter().flat_map(|a| {
            (0..self.slots.len())
                .filter(move |b| b / p != g)
                .map(move |b| (a, b))
        });
        match self.best_swap(cands) {
            Some((a, b)) => {
                self.apply_swap(a, b);
                true
            }
            None => false,
        }
    }

    /// IR phase, within the limits and the allowance: the best swap of any group's lowest-
    /// or highest-IR cell with a cell of another group, groups tried widest IR first and
    /// the first that improves taken. [`Self::step_worst_group`] looks at the widest group
    /// only and stops when that one cannot narrow, with room left in the others.
    pub(super) fn step_every_group(&mut self) -> bool {
        if !self.ir_phase() || self.cost.viol > EPS || self.cost.excess > 0 {
            return false;
        }
        let ir = &self.ctx.d.ir;
        let mut groups: Vec<usize> = (0..self.s).filter(|&g| self.st[g].ir_width > EPS).collect();
        groups.sort_by(|&a, &b| self.st[b].ir_width.total_cmp(&self.st[a].ir_width));
        let p = self.p;
        for g in groups {
            let by_ir = |&a: &usize, &b: &usize| {
                ir[self.slots[a] as usize].total_cmp(&ir[self.slots[b] as usize])
            };
            let measured: Vec<usize> = (g * p..(g + 1) * p)
                .filter(|&a| !ir[self.slots[a] as usize].is_nan())
                .collect();
            let movers = [
                measured.iter().copied().min_by(by_ir),
                measured.iter().copied().max_by(by_ir),
            ];
            let n = self.slots.len();
            let cands = movers
                .into_iter()
                .flatten()
                .flat_map(|a| (0..n).filter(move |b| b / p != g).map(move |b| (a, b)));
            if let Some((a, b)) = self.best_swap(cands) {
                self.apply_swap(a, b);
                return true;
            }
        }
        false
    }

    pub(super) fn capacity_moves(&mut self, pool: &mut Pool) -> bool {
        self.step_extreme(pool) || self.step_chain() || self.step_pairs() || self.step_any_pair()
    }
}
