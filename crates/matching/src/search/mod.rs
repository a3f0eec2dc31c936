//! Local search inside one pack: swap cells between its groups (and with the stratum's
//! spare cells) until the range reaches its lower bound or no move helps.
//!
//! Moves, cheapest first: the best single swap touching a strongest or weakest group
//! (a two-pointer finds the pair whose difference is closest to half the gap); an ejection
//! chain that moves exactly δ mAh from a strongest to a weakest group through any number of
//! intermediate groups; a 2-for-2 swap. Iterated local search (random kicks, keep the best)
//! spends whatever budget the caller gives on packs still above their bound.

mod lns;

use crate::bounds::range_lower_bound;
use crate::data::{Data, Limits, Span};
use crate::exact;
use crate::rng::Rng;

/// Search-tree nodes one exact re-partition may visit.
const LNS_NODES: usize = 20_000;

/// What every search shares: the cells, the limits and the IR knob.
pub(crate) struct Ctx<'a> {
    pub d: &'a Data,
    pub lim: Limits,
    /// `ir_weight` of the spec.
    pub w: f64,
}

/// Per-group figures the cost needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct GStat {
    sum: i64,
    /// Excess over the OCV/IR group limits (0 when within).
    viol: f64,
    /// Max − min IR in the group, mΩ.
    ir_width: f64,
}

/// The objective of one pack, compared lexicographically. Capacity phase: limit violations,
/// range, weakest group (higher is better), dispersion of the sums, IR spread. IR phase
/// (`ir_weight > 0`): violations, range above the allowance, IR spread, then the same.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cost {
    pub viol: f64,
    /// Range above the IR phase's allowance (0 in the capacity phase).
    excess: i64,
    pub range: i64,
    pub min: i64,
    /// S·Σg² − T² = Σ over group pairs of (gᵢ − gⱼ)²: smooth, so ties at the max still move.
    disp: i128,
    /// Mean in-group IR spread as a percentage of the pack's mean IR.
    pub ir_pct: f64,
}

const EPS: f64 = 1e-12;

impl Cost {
    pub fn better(&self, o: &Cost, ir_phase: bool) -> bool {
        if (self.viol - o.viol).abs() > EPS {
            return self.viol < o.viol;
        }
        if ir_phase {
            if self.excess != o.excess {
                return self.excess < o.excess;
            }
            if (self.ir_pct - o.ir_pct).abs() > EPS {
                return self.ir_pct < o.ir_pct;
            }
        }
        if self.range != o.range {
            return self.range < o.range;
        }
        if self.min != o.min {
            return self.min > o.min;
        }
        if self.disp != o.disp {
            return self.disp < o.disp;
        }
        self.ir_pct < o.ir_pct - EPS
    }
}

/// The stratum's unused cells, sorted by capacity, that a pack may trade with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pool {
    cells: Vec<u32>,
}

impl Pool {
    pub fn new(mut cells: Vec<u32>, cap: &[i64]) -> Self {
        cells.sort_by_key(|&c| (cap[c as usize], c));
        Pool { cells }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn into_vec(self) -> Vec<u32> {
        self.cells
    }

    fn key(c: u32, cap: &[i64]) -> (i64, u32) {
        (cap[c as usize], c)
    }

    /// Index of the first cell with capacity ≥ `v`.
    fn lower_bound(&self, v: i64, cap: &[i64]) -> usize {
        self.cells.partition_point(|&c| cap[c as usize] < v)
    }

    fn insert(&mut self, c: u32, cap: &[i64]) {
        let k = Self::key(c, cap);
        let at = self.cells.partition_point(|&x| Self::key(x, cap) < k);
        self.cells.insert(at, c);
    }

    fn remove(&mut self, c: u32, cap: &[i64]) {
        let k = Self::key(c, cap);
        let at = self.cells.partition_point(|&x| Self::key(x, cap) < k);
        debug_assert_eq!(self.cells.get(at), Some(&c));
        self.cells.remove(at);
    }
}

fn stat_of(d: &Data, lim: &Limits, cells: impl Iterator<Item = u32>) -> GStat {
    let (mut sum, mut ocv, mut ir) = (0i64, Span::default(), Span::default());
    for c in cells {
        let c = c as usize;
        sum += d.cap[c];
        ocv.add(d.ocv[c]);
        ir.add(d.ir[c]);
    }
    GStat {
        sum,
        viol: lim.group_violation(ocv.width(), ir.width()),
        ir_width: ir.width(),
    }
}

#[derive(Clone)]
struct Snapshot {
    slots: Vec<u32>,
    st: Vec<GStat>,
    total: i64,
    ir_sum: f64,
    ir_n: u32,
    cost: Cost,
    lb: i64,
    proven: Option<i64>,
    journal_len: usize,
}

/// One pack under improvement.
pub(crate) struct Search<'c, 'd> {
    ctx: &'c Ctx<'d>,
    s: usize,
    p: usize,
    /// Group-major; each group kept sorted by capacity ascending.
    slots: Vec<u32>,
    st: Vec<GStat>,
    total: i64,
    ir_sum: f64,
    ir_n: u32,
    cost: Cost,
    /// Lower bound on the range of the current cell set (changes with pool trades).
    lb: i64,
    /// Pool trades since the last snapshot: (cell that left the pack, cell that came in).
    journal: Vec<(u32, u32)>,
    /// IR phase: the largest range allowed while making groups IR-homogeneous.
    allowed: Option<i64>,
    /// Step counter that rotates tie-breaking among equal groups.
    turn: usize,
    /// A bound an exact search proved for exactly the current cells.
    proven: Option<i64>,
}

impl<'c, 'd> Search<'c, 'd> {
    /// `slots`: S·P cells, group-major.
    pub fn new(ctx: &'c Ctx<'d>, slots: Vec<u32>, s: usize, p: usize) -> Self {
        let mut me = Search {
            ctx,
            s,
            p,
            slots,
            st: vec![GStat::default(); s],
            total: 0,
            ir_sum: 0.0,
            ir_n: 0,
            cost: Cost {
                viol: 0.0,
                range: 0,
                min: 0,
                disp: 0,
                ir_pct: 0.0,
                excess: 0,
            },
            lb: 0,
            journal: Vec::new(),
            allowed: None,
            turn: 0,
            proven: None,
        };
        me.recompute();
        me
    }

    fn recompute(&mut self) {
        let (cap, ir) = (&self.ctx.d.cap, &self.ctx.d.ir);
        for g in 0..self.s {
            self.slots[g * self.p..(g + 1) * self.p].sort_unstable_by_key(|&c| cap[c as usize]);
            self.st[g] = self.stat(self.group(g).iter().copied());
        }
        self.total = self.st.iter().map(|s| s.sum).sum();
        self.ir_sum = 0.0;
        self.ir_n = 0;
        for &c in &self.slots {
            let v = ir[c as usize];
            if !v.is_nan() {
                self.ir_sum += v;
                self.ir_n += 1;
            }
        }
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
        self.refresh_bound();
    }

    /// The analytic bound of the current cells; any earlier proof was about other cells.
    fn refresh_bound(&mut self) {
        self.proven = None;
        let mut caps: Vec<i64> = self
            .slots
            .iter()
            .map(|&c| self.ctx.d.cap[c as usize])
            .collect();
        caps.sort_unstable();
        self.lb = range_lower_bound(&caps, self.s, self.p).0;
    }

    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    pub fn into_slots(self) -> Vec<u32> {
        self.slots
    }

    pub fn cost(&self) -> Cost {
        self.cost
    }

    #[cfg(test)]
    pub fn lower_bound(&self) -> i64 {
        self.lb
    }

    /// Every group within the OCV/IR limits and the pack within the capacity-spread limit.
    pub fn within_limits(&self) -> bool {
        self.cost.viol <= EPS
    }

    /// Nothing left to gain on capacity: within limits and at the bound.
    pub fn at_bound(&self) -> bool {
        self.cost.viol <= EPS && self.cost.range <= self.lb
    }

    /// Whether the capacity search can still pay: above the bound, or a spare cell could
    /// change the set to one with a lower bound.
    pub fn wants_more(&self, pool: &Pool) -> bool {
        !self.settled(pool)
    }

    /// At the bound of the current set, and no spare cell close enough to lower it.
    fn settled(&self, pool: &Pool) -> bool {
        if !self.at_bound() {
            return false;
        }
        let range = self.cost.range;
        if range <= 1 || pool.is_empty() || self.p == 1 {
            return true;
        }
        // A trade changes one group by (in − out); it can only narrow the range when that
        // is smaller than the range, so only spares near the pack's cells matter.
        let cap = &self.ctx.d.cap;
        let lo = self
            .slots
            .iter()
            .map(|&c| cap[c as usize])
            .min()
            .unwrap_or(0);
        let hi = self
            .slots
            .iter()
            .map(|&c| cap[c as usize])
            .max()
            .unwrap_or(0);
        let k = pool.lower_bound(lo - range + 1, cap);
        pool.cells
            .get(k)
            .is_none_or(|&c| cap[c as usize] > hi + range - 1)
    }

    fn group(&self, g: usize) -> &[u32] {
        &self.slots[g * self.p..(g + 1) * self.p]
    }

    fn cap(&self, c: u32) -> i64 {
        self.ctx.d.cap[c as usize]
    }

    fn ir_mean(&self) -> f64 {
        if self.ir_n == 0 {
            0.0
        } else {
            self.ir_sum / f64::from(self.ir_n)
        }
    }

    fn stat(&self, cells: impl Iterator<Item = u32>) -> GStat {
        stat_of(self.ctx.d, &self.ctx.lim, cells)
    }

    /// Group g's figures with the cells at some of its global slots replaced.
    fn stat_replacing(&self, g: usize, repl: &[(usize, u32)]) -> GStat {
        let base = g * self.p;
        self.stat(self.group(g).iter().enumerate().map(move |(i, &c)| {
            repl.iter()
                .find(|(at, _)| *at == base + i)
                .map_or(c, |&(_, inc)| inc)
        }))
    }

    fn cost_with(&self, over: &[(usize, GStat)], total: i64, ir_mean: f64) -> Cost {
        let (mut hi, mut lo, mut sq, mut viol, mut irw) = (i64::MIN, i64::MAX, 0i128, 0.0, 0.0);
        for g in 0..self.s {
            let st = over
                .iter()
                .find(|(k, _)| *k == g)
                .map_or(self.st[g], |(_, s)| *s);
            hi = hi.max(st.sum);
            lo = lo.min(st.sum);
            sq += i128::from(st.sum) * i128::from(st.sum);
            viol += st.viol;
            irw += st.ir_width;
        }
        let s = self.s as f64;
        let mean = total as f64 / s;
        let range = hi - lo;
        if let Some(lim) = self.ctx.lim.range_pct {
            if !self.ctx.lim.range_ok(range, mean) {
                viol += (range as f64 / mean * 100.0 - lim) / lim.max(EPS);
            }
        }
        let ir_pct = if ir_mean > 0.0 {
            irw / s / ir_mean * 100.0
        } else {
            0.0
        };
        Cost {
            viol,
            excess: self.allowed.map_or(0, |a| (range - a).max(0)),
            range,
            min: lo,
            disp: self.s as i128 * sq - i128::from(total) * i128::from(total),
            ir_pct,
        }
    }

    fn ir_phase(&self) -> bool {
        self.allowed.is_some()
    }

    /// Cost after swapping the cells of each slot pair (a, b); every a in one group, every b
    /// in another.
    fn eval_swaps(&self, pairs: &[(usize, usize)]) -> Cost {
        debug_assert!(pairs.len() <= 2);
        let (g, h) = (pairs[0].0 / self.p, pairs[0].1 / self.p);
        let (mut into_g, mut into_h) = ([(0usize, 0u32); 2], [(0usize, 0u32); 2]);
        for (k, &(a, b)) in pairs.iter().enumerate().take(2) {
            into_g[k] = (a, self.slots[b]);
            into_h[k] = (b, self.slots[a]);
        }
        let n = pairs.len().min(2);
        self.cost_with(
            &[
                (g, self.stat_replacing(g, &into_g[..n])),
                (h, self.stat_replacing(h, &into_h[..n])),
            ],
            self.total,
            self.ir_mean(),
        )
    }

    fn eval_swap(&self, a: usize, b: usize) -> Cost {
        self.eval_swaps(&[(a, b)])
    }

    fn eval_trade(&self, at: usize, incoming: u32) -> Cost {
        let out = self.slots[at];
        let d = self.ctx.d;
        let total = self.total - d.cap[out as usize] + d.cap[incoming as usize];
        let (mut ir_sum, mut ir_n) = (self.ir_sum, self.ir_n);
        for (v, sign) in [(d.ir[out as usize], -1.0), (d.ir[incoming as usize], 1.0)] {
            if !v.is_nan() {
                ir_sum += sign * v;
                ir_n = if sign > 0.0 { ir_n + 1 } else { ir_n - 1 };
            }
        }
        let ir_mean = if ir_n == 0 {
            0.0
        } else {
            ir_sum / f64::from(ir_n)
        };
        let g = at / self.p;
        self.cost_with(
            &[(g, self.stat_replacing(g, &[(at, incoming)]))],
            total,
            ir_mean,
        )
    }

    fn resort(&mut self, g: usize) {
        let cap = &self.ctx.d.cap;
        self.slots[g * self.p..(g + 1) * self.p].sort_unstable_by_key(|&c| cap[c as usize]);
        self.st[g] = self.stat(self.group(g).iter().copied());
    }

    fn apply_swap(&mut self, a: usize, b: usize) {
        self.slots.swap(a, b);
        self.resort(a / self.p);
        self.resort(b / self.p);
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
    }

    fn apply_trade(&mut self, at: usize, incoming: u32, pool: &mut Pool) {
        let d = self.ctx.d;
        let out = self.slots[at];
        pool.remove(incoming, &d.cap);
        pool.insert(out, &d.cap);
        self.journal.push((out, incoming));
        self.total += d.cap[incoming as usize] - d.cap[out as usize];
        for (v, sign) in [(d.ir[out as usize], -1.0), (d.ir[incoming as usize], 1.0)] {
            if !v.is_nan() {
                self.ir_sum += sign * v;
                self.ir_n = if sign > 0.0 {
                    self.ir_n + 1
                } else {
                    self.ir_n - 1
                };
            }
        }
        self.slots[at] = incoming;
        self.resort(at / self.p);
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
        self.refresh_bound();
        if self.p == 2 {
            self.refold();
        }
    }

    /// P = 2: the fold of the current cells is range-optimal; take it when it is better.
    fn refold(&mut self) {
        let snap = self.snapshot();
        let mut cells = self.slots.clone();
        cells.sort_by_key(|&c| self.cap(c));
        self.slots = crate::bldm::bldm(&cells, &self.ctx.d.cap, self.s, self.p);
        for g in 0..self.s {
            self.resort(g);
        }
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
        if !self.cost.better(&snap.cost, self.ir_phase()) {
            self.restore(&snap);
        }
    }

    fn extremes(&self) -> (i64, i64) {
        self.st.iter().fold((i64::MIN, i64::MAX), |(hi, lo), s| {
            (hi.max(s.sum), lo.min(s.sum))
        })
    }

    /// Slots (a in g, b in h) whose capacity difference cap(a) − cap(b) is closest to `t`.
    fn closest_pair(&self, g: usize, h: usize, t: i64) -> (usize, usize) {
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
    fn exact_pair(&self, g: usize, h: usize, delta: i64) -> Option<(usize, usize)> {
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
        let mut best: Option<(Cost, usize, usize, bool)> = None;
        let mut consider = |c: Cost, a: usize, b: usize, trade: bool, cur: &Cost| {
            let bar = best.as_ref().map_or(cur, |(bc, ..)| bc);
            if c.better(bar, ir) {
                best = Some((c, a, b, trade));
            }
        };
        let cur = self.cost;
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
                    consider(self.eval_swap(a, b), a, b, false, &cur);
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
                            consider(self.eval_trade(at, c), at, c as usize, true, &cur);
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
            for &src in &tops {
                for &dst in &bottoms {
                    let Some(path) = self.chain_path(src, dst, delta, &pairs) else {
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
                    self.cost = self.cost_with(&[], self.total, self.ir_mean());
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
    fn chain_path(
        &self,
        src: usize,
        dst: usize,
        delta: i64,
        pairs: &[Vec<(i64, usize, usize)>],
    ) -> Option<Vec<usize>> {
        let mut prev = vec![usize::MAX; self.s];
        prev[src] = src;
        let mut queue = std::collections::VecDeque::from([src]);
        while let Some(u) = queue.pop_front() {
            for v in 0..self.s {
                if prev[v] != usize::MAX || self.exact_move(u, v, delta, pairs).is_none() {
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
        let cur = self.cost;
        let mut best: Option<(Cost, usize, usize)> = None;
        for g in 0..self.s {
            for h in 0..self.s {
                let gap = self.st[g].sum - self.st[h].sum;
                if gap < 2 {
                    continue;
                }
                let (a, b) = self.closest_pair(g, h, gap / 2);
                let c = self.eval_swap(a, b);
                let bar = best.as_ref().map_or(&cur, |(bc, ..)| bc);
                if c.better(bar, self.ir_phase()) {
                    best = Some((c, a, b));
                }
            }
        }
        match best {
            Some((_, a, b)) => {
                self.apply_swap(a, b);
                true
            }
            None => false,
        }
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
                self.cost = self.cost_with(&[], self.total, self.ir_mean());
                true
            }
            None => false,
        }
    }

    /// Any single swap out of the group that most violates a limit (or, in the IR phase,
    /// of the widest-IR group's lowest- and highest-IR cells): capacity-targeted moves cannot
    /// see these gains.
    fn step_worst_group(&mut self) -> bool {
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
        let cur = self.cost;
        let mut best: Option<(Cost, usize, usize)> = None;
        for &a in &movers {
            for b in 0..self.slots.len() {
                if b / self.p == g {
                    continue;
                }
                let c = self.eval_swap(a, b);
                let bar = best.as_ref().map_or(&cur, |(bc, ..)| bc);
                if c.better(bar, self.ir_phase()) {
                    best = Some((c, a, b));
                }
            }
        }
        match best {
            Some((_, a, b)) => {
                self.apply_swap(a, b);
                true
            }
            None => false,
        }
    }

    fn capacity_moves(&mut self, pool: &mut Pool) -> bool {
        self.step_extreme(pool) || self.step_chain() || self.step_pairs() || self.step_any_pair()
    }

    /// Steepest descent until no move improves: capacity moves in the capacity phase; in
    /// the IR phase, IR moves once the range is within its allowance.
    pub fn descend(&mut self, pool: &mut Pool) {
        let cap_steps = 50 + 20 * self.slots.len();
        for _ in 0..cap_steps {
            let moved = if self.ir_phase() {
                (self.cost.viol > EPS && self.step_worst_group())
                    || (self.cost.excess > 0 && self.capacity_moves(pool))
                    || self.step_worst_group()
            } else {
                if self.settled(pool) {
                    break;
                }
                (self.cost.viol > EPS && self.step_worst_group()) || self.capacity_moves(pool)
            };
            if !moved {
                break;
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            slots: self.slots.clone(),
            st: self.st.clone(),
            total: self.total,
            ir_sum: self.ir_sum,
            ir_n: self.ir_n,
            cost: self.cost,
            lb: self.lb,
            proven: self.proven,
            journal_len: self.journal.len(),
        }
    }

    /// Restores the pack; pool trades since the snapshot must be undone by the caller via
    /// [`Self::rollback_pool`] (`restore` alone is for moves that touch no pool cell).
    fn restore(&mut self, s: &Snapshot) {
        self.slots.clone_from(&s.slots);
        self.st.clone_from(&s.st);
        self.total = s.total;
        self.ir_sum = s.ir_sum;
        self.ir_n = s.ir_n;
        self.cost = s.cost;
        self.lb = s.lb;
        self.proven = s.proven;
    }

    fn rollback_pool(&mut self, to: usize, pool: &mut Pool) {
        let cap = &self.ctx.d.cap;
        while self.journal.len() > to {
            if let Some((out, inn)) = self.journal.pop() {
                pool.remove(out, cap);
                pool.insert(inn, cap);
            }
        }
    }

    /// Iterated local search in the capacity phase: each round either re-partitions a few
    /// groups exactly (one strongest, one weakest, random others) or kicks with random
    /// swaps, then descends; the result is kept when it is no worse than the best so far.
    pub fn iterate(&mut self, pool: &mut Pool, rng: &mut Rng, rounds: usize) {
        self.descend(pool);
        let mut best = self.snapshot();
        for round in 0..rounds {
            if self.settled(pool) {
                break;
            }
            if self.p >= 3 && round % 2 == 0 {
                let groups = self.pick_groups(rng);
                self.repartition(&groups, LNS_NODES);
            } else {
                for _ in 0..1 + rng.below(2) {
                    self.kick(pool, rng);
                }
            }
            self.descend(pool);
            if best.cost.better(&self.cost, false) {
                self.rollback_pool(best.journal_len, pool);
                self.restore(&best);
            } else {
                self.journal.clear();
                best = self.snapshot();
            }
        }
        self.journal.clear();
    }

    /// A strongest group, a weakest group and random others: as many as an exact
    /// re-partition can enumerate quickly (about a dozen cells).
    fn pick_groups(&self, rng: &mut Rng) -> Vec<usize> {
        let k = (12 / self.p).max(2).min(self.s);
        let (hi, lo) = self.extremes();
        let pick = |rng: &mut Rng, want: i64| {
            let ties: Vec<usize> = (0..self.s).filter(|&g| self.st[g].sum == want).collect();
            ties[rng.below(ties.len())]
        };
        let mut groups = vec![pick(rng, hi)];
        let low = pick(rng, lo);
        if low != groups[0] {
            groups.push(low);
        }
        while groups.len() < k {
            let g = rng.below(self.s);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups
    }

    /// A random perturbation: a trade with a spare of similar capacity, or a swap between
    /// two groups. Under in-group limits it only takes moves that keep them (a few tries):
    /// a kick into a violation costs a whole repair descent and is then thrown away.
    fn kick(&mut self, pool: &mut Pool, rng: &mut Rng) {
        let n = self.slots.len();
        let limited = self.ctx.lim.has_group_limits();
        for _ in 0..if limited { 8 } else { 1 } {
            if !pool.is_empty() && rng.below(4) == 0 {
                let at = rng.below(n);
                let k = pool.lower_bound(self.cap(self.slots[at]), &self.ctx.d.cap);
                let k = (k + rng.below(3)).saturating_sub(1).min(pool.len() - 1);
                let c = pool.cells[k];
                if !limited || self.eval_trade(at, c).viol <= self.cost.viol {
                    self.apply_trade(at, c, pool);
                    return;
                }
                continue;
            }
            let g = rng.below(self.s);
            let h = (g + 1 + rng.below(self.s - 1)) % self.s;
            let a = g * self.p + rng.below(self.p);
            let b = h * self.p + rng.below(self.p);
            if !limited || self.eval_swap(a, b).viol <= self.cost.viol {
                self.apply_swap(a, b);
                return;
            }
        }
    }

    /// Regroups cells of equal capacity by IR: the group sums stay exactly as they are, so
    /// this is free homogeneity. Groups take, in order of their mean IR, the next-lowest-IR
    /// cells of each capacity they hold. Kept only if the cost improves.
    pub fn ir_sweep(&mut self) {
        let d = self.ctx.d;
        if self.ir_n < 2 || self.p < 2 {
            return;
        }
        let mean_ir = |g: &[u32]| {
            let (s, n) = g.iter().fold((0.0, 0u32), |(s, n), &c| {
                let v = d.ir[c as usize];
                if v.is_nan() {
                    (s, n)
                } else {
                    (s + v, n + 1)
                }
            });
            if n == 0 {
                f64::INFINITY
            } else {
                s / f64::from(n)
            }
        };
        let mut order: Vec<usize> = (0..self.s).collect();
        order.sort_by(|&a, &b| mean_ir(self.group(a)).total_cmp(&mean_ir(self.group(b))));
        // Cells of each capacity, lowest IR first (unmeasured last).
        let mut by_cap: Vec<u32> = self.slots.clone();
        by_cap.sort_by(|&a, &b| {
            d.cap[a as usize]
                .cmp(&d.cap[b as usize])
                .then(d.ir[a as usize].total_cmp(&d.ir[b as usize]))
        });
        let first = |v: i64| by_cap.partition_point(|&c| d.cap[c as usize] < v);
        let mut taken = vec![0usize; by_cap.len()];
        let snap = self.snapshot();
        let mut slots = vec![0u32; self.slots.len()];
        for &g in &order {
            for i in 0..self.p {
                let at = g * self.p + i;
                let v = d.cap[self.slots[at] as usize];
                let f = first(v);
                slots[at] = by_cap[f + taken[f]];
                taken[f] += 1;
            }
        }
        self.slots = slots;
        for g in 0..self.s {
            self.resort(g);
        }
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
        if !self.cost.better(&snap.cost, self.ir_phase()) {
            self.restore(&snap);
        }
    }
}

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
        if range <= 1 {
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

impl Search<'_, '_> {
    /// A bound an exact search proved for the current cells (none once they changed).
    pub fn proven_bound(&self) -> Option<i64> {
        self.proven
    }

    /// Exact search for a pack still above its bound (small packs only): adopts a better
    /// arrangement when one is found and keeps the limits, and raises the bound to what the
    /// search proved. Returns the proven bound.
    pub fn settle_exactly(&mut self, nodes: usize) -> Option<i64> {
        if self.at_bound() || self.slots.len() > exact::MAX_CELLS || self.p < 3 {
            return None;
        }
        let mut cells = self.slots.clone();
        cells.sort_by_key(|&c| self.cap(c));
        let caps: Vec<i64> = cells.iter().map(|&c| self.cap(c)).collect();
        let found = exact::exact_range(&caps, self.s, self.p, self.lb, self.cost.range, nodes);
        if let Some((_, groups)) = &found.better {
            let snap = self.snapshot();
            self.slots = groups.iter().map(|&i| cells[i]).collect();
            for g in 0..self.s {
                self.resort(g);
            }
            self.cost = self.cost_with(&[], self.total, self.ir_mean());
            if !self.cost.better(&snap.cost, self.ir_phase()) {
                self.restore(&snap);
            }
        }
        self.lb = self.lb.max(found.proven_bound);
        self.proven = Some(self.lb);
        self.proven
    }
}

impl Search<'_, '_> {
    /// Switches to the IR phase: from here on the groups are made IR-homogeneous while the
    /// range stays within what the capacity phase reached plus `ir_weight` × the slack (the
    /// profile's capacity-spread limit, or 1 % of the mean group without one), and never
    /// beyond that limit.
    pub fn enter_ir_phase(&mut self, pool: &mut Pool, reached: i64) {
        let w = self.ctx.w;
        if w <= 0.0 || self.ir_n < 2 || self.p < 2 {
            return;
        }
        let mean = self.total as f64 / self.s as f64;
        let limit = self
            .ctx
            .lim
            .range_pct
            .map(|pct| (pct / 100.0 * mean).floor() as i64);
        let slack = limit.map_or(0.01 * mean, |l| l as f64);
        let mut allowed = reached + (w * slack).floor() as i64;
        if let Some(l) = limit {
            allowed = allowed.min(l.max(reached));
        }
        self.allowed = Some(allowed);
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
        self.ir_sweep();
        self.descend(pool);
        self.ir_sweep();
    }

    /// Restarts this pack's cells from IR order (consecutive cells by IR make the groups),
    /// keeping the IR phase's allowance; for comparing with the capacity-first result.
    pub fn ir_ordered_copy(&self) -> Vec<u32> {
        let ir = &self.ctx.d.ir;
        let mut v = self.slots.clone();
        v.sort_by(|&a, &b| ir[a as usize].total_cmp(&ir[b as usize]));
        v
    }

    /// Sets the allowance directly (for a second start that must meet the same one).
    pub fn set_allowed(&mut self, allowed: Option<i64>) {
        self.allowed = allowed;
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
    }

    pub fn allowed(&self) -> Option<i64> {
        self.allowed
    }

    pub fn better_than(&self, other: &Search) -> bool {
        self.cost.better(&other.cost, self.ir_phase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bldm::bldm;

    fn data(caps: &[i64]) -> Data {
        Data {
            cap: caps.to_vec(),
            ir: vec![f64::NAN; caps.len()],
            ocv: vec![f64::NAN; caps.len()],
            sd: vec![f64::NAN; caps.len()],
            src: (0..caps.len() as u32).collect(),
        }
    }

    fn ctx(d: &Data) -> Ctx<'_> {
        Ctx {
            d,
            lim: Limits::default(),
            w: 0.0,
        }
    }

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

    #[test]
    fn descent_reaches_a_perfect_partition_from_a_bad_start() {
        // 4 groups of 3 from 1..=12 (sum 78, not divisible by 4: bound 1... 78/4 = 19.5).
        let caps: Vec<i64> = (1..=12).collect();
        let d = data(&caps);
        let c = ctx(&d);
        let mut s = Search::new(&c, (0..12).collect(), 4, 3);
        assert_eq!(s.lower_bound(), 1);
        s.descend(&mut Pool::default());
        assert_eq!(s.cost().range, 1);
        let mut cells = s.into_slots();
        cells.sort_unstable();
        assert_eq!(cells, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn chain_moves_delta_through_a_middle_group() {
        // Groups {10,20,30}=60, {11,21,30}=62, {12,20,31}=63 ... built so that only a chain
        // fixes it is hard to guarantee; check the chain finder on a direct case instead.
        let caps: Vec<i64> = vec![10, 20, 30, 11, 20, 30, 10, 21, 30];
        let d = data(&caps);
        let c = ctx(&d);
        let s = Search::new(&c, (0..9).collect(), 3, 3);
        // sums 60, 61, 61: a path 1 → 0 with δ = 1 exists (11 ↔ 10).
        assert!(s.chain_path(1, 0, 1, &[]).is_some());
        assert!(s.chain_path(1, 0, 5, &[]).is_none());
    }

    #[test]
    fn pool_trade_replaces_an_outlier() {
        // One 500 in a 2S2P pack of 1000s; an 1000 waits in the pool.
        let caps: Vec<i64> = vec![1000, 1000, 1000, 500, 1000];
        let d = data(&caps);
        let c = ctx(&d);
        let mut pool = Pool::new(vec![4], &d.cap);
        let mut s = Search::new(&c, vec![0, 1, 2, 3], 2, 2);
        assert_eq!(s.cost().range, 500);
        s.descend(&mut pool);
        assert_eq!(s.cost().range, 0);
        assert_eq!(pool.into_vec(), vec![3]);
    }

    #[test]
    fn limits_are_repaired_before_balance() {
        // Two groups of two; OCVs force {0,1} and {2,3} together (limit 10 mV).
        let mut d = data(&[1000, 1010, 1005, 1015]);
        d.ocv = vec![3600.0, 3605.0, 3700.0, 3702.0];
        let c = Ctx {
            d: &d,
            lim: Limits {
                ocv_mv: Some(10.0),
                ..Limits::default()
            },
            w: 0.0,
        };
        let mut s = Search::new(&c, vec![0, 2, 1, 3], 2, 2);
        assert!(s.cost().viol > 0.0);
        s.descend(&mut Pool::default());
        assert_eq!(s.cost().viol, 0.0);
        let mut g: Vec<Vec<u32>> = s.slots().chunks(2).map(|g| g.to_vec()).collect();
        g.iter_mut().for_each(|g| g.sort_unstable());
        g.sort();
        assert_eq!(g, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn ir_sweep_keeps_sums_and_groups_similar_ir() {
        let mut d = data(&[1000; 8]);
        d.ir = vec![10.0, 50.0, 11.0, 51.0, 12.0, 52.0, 13.0, 53.0];
        let c = ctx(&d);
        let mut s = Search::new(&c, (0..8).collect(), 4, 2);
        let before = s.cost();
        s.ir_sweep();
        assert_eq!(s.cost().range, before.range);
        assert!(s.cost().ir_pct < before.ir_pct / 5.0, "{:?}", s.cost());
    }

    #[test]
    fn bldm_then_search_on_a_smooth_set_is_at_bound() {
        let mut r = Rng::new(11);
        let caps: Vec<i64> = (0..60).map(|_| 2000 + (60.0 * r.normal()) as i64).collect();
        let d = data(&caps);
        let c = ctx(&d);
        let mut cells: Vec<u32> = (0..60).collect();
        cells.sort_by_key(|&i| caps[i as usize]);
        let mut s = Search::new(&c, bldm(&cells, &caps, 15, 4), 15, 4);
        s.iterate(&mut Pool::default(), &mut Rng::new(1), 200);
        assert!(
            s.at_bound(),
            "range {} bound {}",
            s.cost().range,
            s.lower_bound()
        );
    }
}
