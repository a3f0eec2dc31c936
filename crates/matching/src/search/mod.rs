//! Local search inside one pack: swap cells between its groups (and with the stratum's
//! spare cells) until the range reaches its lower bound or no move helps.
//!
//! Moves, cheapest first: the best single swap touching a strongest or weakest group
//! (a two-pointer finds the pair whose difference is closest to half the gap); an ejection
//! chain that moves exactly δ mAh from a strongest to a weakest group through any number of
//! intermediate groups; a 2-for-2 swap. Iterated local search (random kicks, keep the best)
//! spends whatever budget the caller gives on packs still above their bound.

mod ir;
mod lns;
mod moves;
mod pairs;
mod pool;

pub(crate) use pool::Pool;

use crate::bounds::{in_group_limit_bound, range_lower_bound};
use crate::data::{Data, Limits, Span};
use crate::exact;
use crate::pairing;
use crate::rng::Rng;

/// The exact search under in-group limits gets 1 / this of the exact budget per pack.
const LIMITED_EXACT_SHARE: usize = 8;

/// Rounds between checks of the balance slack in [`Search::rescue`].
const RESCUE_CHUNK: usize = 25;

/// Search-tree nodes one exact re-partition may visit.
const LNS_NODES: usize = 20_000;

/// What every search shares: the cells and the limits (with the balance slack).
pub(crate) struct Ctx<'a> {
    pub d: &'a Data,
    pub lim: Limits,
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

/// Sums over the groups' figures and the three strongest and weakest groups, so the cost of
/// a move that changes one or two groups takes O(1) instead of a pass over all S groups.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Agg {
    sq: i128,
    viol: f64,
    irw: f64,
    /// The three largest group sums with their groups, largest first (`usize::MAX`: none).
    top: [(i64, usize); 3],
    /// The three smallest, smallest first.
    bot: [(i64, usize); 3],
}

impl Agg {
    fn of(st: &[GStat]) -> Agg {
        let mut a = Agg {
            sq: 0,
            viol: 0.0,
            irw: 0.0,
            top: [(i64::MIN, usize::MAX); 3],
            bot: [(i64::MAX, usize::MAX); 3],
        };
        for (g, s) in st.iter().enumerate() {
            a.sq += i128::from(s.sum) * i128::from(s.sum);
            a.viol += s.viol;
            a.irw += s.ir_width;
            let (mut up, mut down) = ((s.sum, g), (s.sum, g));
            for k in 0..3 {
                if up.0 > a.top[k].0 {
                    std::mem::swap(&mut up, &mut a.top[k]);
                }
                if down.0 < a.bot[k].0 {
                    std::mem::swap(&mut down, &mut a.bot[k]);
                }
            }
        }
        a
    }
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
    agg: Agg,
    excl: Vec<(Span, Span)>,
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
    /// Aggregates of `st` (kept in step with it by [`Self::recost`]).
    agg: Agg,
    /// Per slot: the OCV and IR spans of its group without it (kept by [`Self::resort`]);
    /// empty for P = 1, where they are empty spans.
    excl: Vec<(Span, Span)>,
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
            st: vec![GStat::default(); s],
            agg: Agg::of(&[]),
            // P = 1: a group without its one cell has empty spans; nothing to keep.
            excl: if p > 1 {
                vec![(Span::default(), Span::default()); slots.len()]
            } else {
                Vec::new()
            },
            slots,
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
        let ir = &self.ctx.d.ir;
        for g in 0..self.s {
            self.resort(g);
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
        self.recost();
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

    /// Which limit this pack breaks, in words (for a pack dropped for the limits).
    pub fn limit_breach(&self) -> String {
        let d = self.ctx.d;
        let lim = &self.ctx.lim;
        let mut parts = Vec::new();
        let (mut ocv_worst, mut ir_worst) = (0.0f64, 0.0f64);
        for g in 0..self.s {
            let (mut ocv, mut ir) = (Span::default(), Span::default());
            for &c in self.group(g) {
                ocv.add(d.ocv[c as usize]);
                ir.add(d.ir[c as usize]);
            }
            ocv_worst = ocv_worst.max(ocv.width());
            ir_worst = ir_worst.max(ir.width());
        }
        if let Some(l) = lim.ocv_mv.filter(|&l| ocv_worst > l + 1e-9) {
            parts.push(format!("group OCV spread {ocv_worst:.1} mV > {l} mV"));
        }
        if let Some(l) = lim.ir_mohm.filter(|&l| ir_worst > l + 1e-9) {
            parts.push(format!("group IR spread {ir_worst:.3} mΩ > {l} mΩ"));
        }
        let mean = self.total as f64 / self.s as f64;
        if let Some(l) = lim.range_pct {
            if !lim.range_ok(self.cost.range, mean) {
                parts.push(format!(
                    "group-capacity spread {:.2} % > {l} %",
                    self.cost.range as f64 / mean * 100.0
                ));
            }
        }
        if parts.is_empty() {
            "within the limits".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Range above the bound by more than the balance slack (the bound this search knows:
    /// the metrics may add the in-group one, so this errs towards "beyond").
    pub fn beyond_slack(&self) -> bool {
        let mean = self.total as f64 / self.s as f64;
        let slack = |lb: i64| self.ctx.lim.slack_for(mean, lb);
        if self.cost.range <= self.lb + slack(self.lb) {
            return false;
        }
        let (d, lim) = (self.ctx.d, &self.ctx.lim);
        let lb = in_group_limit_bound(d, lim, &self.slots, self.s, self.p).unwrap_or(0);
        self.cost.range > lb + slack(lb)
    }

    /// Iterated local search in chunks until the pack is within its balance slack or
    /// `rounds` are spent.
    pub fn rescue(&mut self, pool: &mut Pool, rng: &mut Rng, rounds: usize) {
        let mut spent = 0;
        while spent < rounds && self.beyond_slack() {
            let chunk = RESCUE_CHUNK.min(rounds - spent);
            self.iterate(pool, rng, chunk);
            spent += chunk;
        }
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
        let cells = self.group(g).iter().enumerate().map(|(i, &c)| {
            let mut c = c;
            for &(at, inc) in repl {
                if at == base + i {
                    c = inc;
                }
            }
            c
        });
        self.stat(cells)
    }

    /// Group figures with the cell at slot `at` replaced by `incoming`, in O(1) from the
    /// group's spans without that slot; equal to [`Self::stat_replacing`] with one slot.
    fn stat_swapping(&self, at: usize, incoming: u32) -> GStat {
        let d = self.ctx.d;
        let (mut ocv, mut ir) = self.excl.get(at).copied().unwrap_or_default();
        let c = incoming as usize;
        ocv.add(d.ocv[c]);
        ir.add(d.ir[c]);
        GStat {
            sum: self.st[at / self.p].sum - d.cap[self.slots[at] as usize] + d.cap[c],
            viol: self.ctx.lim.group_violation(ocv.width(), ir.width()),
            ir_width: ir.width(),
        }
    }

    /// The IR spread of slot `at`'s group with `incoming` in its place (as in
    /// [`Self::stat_swapping`], without the rest of the figures).
    fn ir_width_swapping(&self, at: usize, incoming: u32) -> f64 {
        let mut ir = self.excl.get(at).map(|e| e.1).unwrap_or_default();
        ir.add(self.ctx.d.ir[incoming as usize]);
        ir.width()
    }

    /// The range with the sums of the groups in `over` (at most two, distinct) replaced,
    /// in O(1) from the aggregates; as [`Self::cost_with`] would give it.
    fn range_with(&self, over: &[(usize, i64)]) -> i64 {
        let a = &self.agg;
        let (mut hi, mut lo) = (i64::MIN, i64::MAX);
        for &(_, sum) in over {
            hi = hi.max(sum);
            lo = lo.min(sum);
        }
        let untouched = |&&(_, g): &&(i64, usize)| !over.iter().any(|&(k, _)| k == g);
        if let Some(&(v, _)) = a.top.iter().find(untouched) {
            hi = hi.max(v);
        }
        if let Some(&(v, _)) = a.bot.iter().find(untouched) {
            lo = lo.min(v);
        }
        hi - lo
    }

    /// Recomputes the aggregates and the cost after the groups changed.
    fn recost(&mut self) {
        self.agg = Agg::of(&self.st);
        self.cost = self.cost_with(&[], self.total, self.ir_mean());
    }

    /// The cost with the groups in `over` (at most two, distinct) replaced: O(1) from the
    /// aggregates. With `over` empty it is the current cost.
    fn cost_with(&self, over: &[(usize, GStat)], total: i64, ir_mean: f64) -> Cost {
        debug_assert!(over.len() <= 2);
        debug_assert_eq!(self.agg, Agg::of(&self.st), "aggregates out of step");
        let a = &self.agg;
        let (mut hi, mut lo, mut sq, mut viol, mut irw) = (i64::MIN, i64::MAX, a.sq, a.viol, a.irw);
        for &(g, st) in over {
            let old = self.st[g];
            hi = hi.max(st.sum);
            lo = lo.min(st.sum);
            sq +=
                i128::from(st.sum) * i128::from(st.sum) - i128::from(old.sum) * i128::from(old.sum);
            viol += st.viol - old.viol;
            irw += st.ir_width - old.ir_width;
        }
        let untouched = |&&(_, g): &&(i64, usize)| !over.iter().any(|&(k, _)| k == g);
        if let Some(&(v, _)) = a.top.iter().find(untouched) {
            hi = hi.max(v);
        }
        if let Some(&(v, _)) = a.bot.iter().find(untouched) {
            lo = lo.min(v);
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
        if let [(a, b)] = *pairs {
            return self.cost_with(
                &[
                    (g, self.stat_swapping(a, self.slots[b])),
                    (h, self.stat_swapping(b, self.slots[a])),
                ],
                self.total,
                self.ir_mean(),
            );
        }
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
        self.cost_with(
            &[(at / self.p, self.stat_swapping(at, incoming))],
            total,
            ir_mean,
        )
    }

    /// Sorts group g by capacity and refreshes its figures (call [`Self::recost`] after).
    fn resort(&mut self, g: usize) {
        let d = self.ctx.d;
        let (lo, hi) = (g * self.p, (g + 1) * self.p);
        self.slots[lo..hi].sort_unstable_by_key(|&c| d.cap[c as usize]);
        self.st[g] = self.stat(self.group(g).iter().copied());
        if self.excl.is_empty() {
            return;
        }
        // Spans without each slot: prefix before it merged with suffix after it.
        let mut run = (Span::default(), Span::default());
        for at in lo..hi {
            self.excl[at] = run;
            let c = self.slots[at] as usize;
            run.0.add(d.ocv[c]);
            run.1.add(d.ir[c]);
        }
        let mut run = (Span::default(), Span::default());
        for at in (lo..hi).rev() {
            self.excl[at].0.merge(&run.0);
            self.excl[at].1.merge(&run.1);
            let c = self.slots[at] as usize;
            run.0.add(d.ocv[c]);
            run.1.add(d.ir[c]);
        }
    }

    fn apply_swap(&mut self, a: usize, b: usize) {
        self.slots.swap(a, b);
        self.resort(a / self.p);
        self.resort(b / self.p);
        self.recost();
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
        self.recost();
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
        self.recost();
        if !self.cost.better(&snap.cost, self.ir_phase()) {
            self.restore(&snap);
        }
    }

    fn extremes(&self) -> (i64, i64) {
        self.st.iter().fold((i64::MIN, i64::MAX), |(hi, lo), s| {
            (hi.max(s.sum), lo.min(s.sum))
        })
    }

    /// Steepest descent until no move improves: capacity moves in the capacity phase; in
    /// the IR phase, IR moves once the range is within its allowance.
    pub fn descend(&mut self, pool: &mut Pool) {
        self.descend_at_most(pool, usize::MAX);
    }

    /// Steps a full descent takes at most for this pack.
    pub fn full_descent_steps(&self) -> usize {
        50 + 20 * self.slots.len()
    }

    /// [`Search::descend`] with at most `steps` moves.
    pub fn descend_at_most(&mut self, pool: &mut Pool, steps: usize) {
        let cap_steps = self.full_descent_steps().min(steps);
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
            agg: self.agg,
            excl: self.excl.clone(),
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
        self.agg = s.agg;
        self.excl.clone_from(&s.excl);
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
}

impl Search<'_, '_> {
    /// A bound an exact search proved for the current cells (none once they changed).
    pub fn proven_bound(&self) -> Option<i64> {
        self.proven
    }

    /// Takes over a bound proved for exactly these cells (by a search on another
    /// arrangement of them).
    pub fn adopt_proof(&mut self, proven: Option<i64>) {
        if proven > self.proven {
            self.proven = proven;
        }
    }

    /// Exact search for a pack still above its bound (small packs only): adopts a better
    /// arrangement when one is found and keeps the limits, and raises the bound to what the
    /// search proved. Returns the proven bound.
    pub fn settle_exactly(&mut self, nodes: usize) -> Option<i64> {
        // P = 2 without in-group limits: the fold is exact already.
        let limited = self.ctx.lim.has_group_limits();
        if self.at_bound()
            || self.slots.len() > exact::MAX_CELLS
            || self.p < 2
            || (self.p == 2 && !limited)
        {
            return None;
        }
        let mut cells = self.slots.clone();
        cells.sort_by_key(|&c| self.cap(c));
        let caps: Vec<i64> = cells.iter().map(|&c| self.cap(c)).collect();
        let (d, lim) = (self.ctx.d, &self.ctx.lim);
        let fits = |pick: &[usize]| {
            !limited || stat_of(d, lim, pick.iter().map(|&i| cells[i])).viol <= EPS
        };
        if self.p == 2 && cells.len() <= pairing::MAX_CELLS {
            // Exact without a budget: the optimum under the limits is the bound.
            let ok = |i: usize, j: usize| fits(&[i, j]);
            // Outside the limits: any pairing within them is better.
            let within = self.within_limits();
            let best = if within { self.cost.range } else { i64::MAX };
            let optimum = match pairing::least_range(&caps, &ok, self.lb, best) {
                Some(found) => {
                    let snap = self.snapshot();
                    self.slots = found.pairs.iter().map(|&i| cells[i]).collect();
                    for g in 0..self.s {
                        self.resort(g);
                    }
                    self.recost();
                    if !self.cost.better(&snap.cost, self.ir_phase()) {
                        self.restore(&snap);
                    }
                    found.range
                }
                None if within => best,
                // No pairing of these cells meets the limits.
                None => return None,
            };
            self.lb = self.lb.max(optimum);
            self.proven = Some(self.lb);
            return self.proven;
        }
        // With limits every band is scanned for fitting groups: a smaller share of the budget.
        let nodes = if limited {
            nodes / LIMITED_EXACT_SHARE
        } else {
            nodes
        };
        let found = exact::exact_range_with(
            &caps,
            self.s,
            self.p,
            self.lb,
            self.cost.range,
            nodes,
            &fits,
        );
        if let Some((_, groups)) = &found.better {
            let snap = self.snapshot();
            self.slots = groups.iter().map(|&i| cells[i]).collect();
            for g in 0..self.s {
                self.resort(g);
            }
            self.recost();
            if !self.cost.better(&snap.cost, self.ir_phase()) {
                self.restore(&snap);
            }
        }
        self.lb = self.lb.max(found.proven_bound);
        self.proven = Some(self.lb);
        self.proven
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bldm::bldm;

    fn data(caps: &[i64]) -> Data {
        Data::with_caps(caps)
    }

    fn ctx(d: &Data) -> Ctx<'_> {
        Ctx {
            d,
            lim: Limits::default(),
        }
    }

    #[test]
    fn snake_range_and_limit_breach_in_words() {
        // 2S2P of 100, 101, 200, 201: snake deals 201, 200 | 101, 100 → sums 301, 301.
        let mut d = data(&[100, 101, 200, 201]);
        let c = ctx(&d);
        let s = Search::new(&c, vec![0, 1, 2, 3], 2, 2);
        assert_eq!(s.snake_range(), 0);
        assert_eq!(s.limit_breach(), "within the limits");
        d.ocv = vec![3600.0, 3630.0, 3600.0, 3605.0];
        let lim = Limits {
            ocv_mv: Some(10.0),
            range_pct: Some(1.0),
            ..Limits::default()
        };
        let c = Ctx { d: &d, lim };
        let mut s = Search::new(&c, vec![0, 1, 2, 3], 2, 2);
        let text = s.limit_breach();
        assert!(text.contains("group OCV spread 30.0 mV > 10 mV"), "{text}");
        assert!(text.contains("group-capacity spread"), "{text}");
        s.adopt_proof(Some(7));
        s.adopt_proof(Some(3));
        assert_eq!(s.proven_bound(), Some(7));
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

    /// The sweep as first written (float sorts, no early exit), to check the faster one
    /// against.
    fn ir_sweep_reference(me: &mut Search) {
        let d = me.ctx.d;
        if me.ir_n < 2 || me.p < 2 {
            return;
        }
        let mean_ir = |g: &[u32]| {
            let v: Vec<f64> = g
                .iter()
                .map(|&c| d.ir[c as usize])
                .filter(|x| !x.is_nan())
                .collect();
            if v.is_empty() {
                f64::INFINITY
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let mut order: Vec<usize> = (0..me.s).collect();
        order.sort_by(|&a, &b| mean_ir(me.group(a)).total_cmp(&mean_ir(me.group(b))));
        let mut by_cap: Vec<u32> = me.slots.clone();
        by_cap.sort_by(|&a, &b| {
            d.cap[a as usize]
                .cmp(&d.cap[b as usize])
                .then(d.ir[a as usize].total_cmp(&d.ir[b as usize]))
        });
        let first = |v: i64| by_cap.partition_point(|&c| d.cap[c as usize] < v);
        let mut taken = vec![0usize; by_cap.len()];
        let snap = me.snapshot();
        let mut slots = vec![0u32; me.slots.len()];
        for &g in &order {
            for i in 0..me.p {
                let at = g * me.p + i;
                let f = first(d.cap[me.slots[at] as usize]);
                slots[at] = by_cap[f + taken[f]];
                taken[f] += 1;
            }
        }
        me.slots = slots;
        for g in 0..me.s {
            me.resort(g);
        }
        me.recost();
        if !me.cost.better(&snap.cost, me.ir_phase()) {
            me.restore(&snap);
        }
    }

    proptest::proptest! {
        /// The integer key orders floats exactly as `total_cmp` does.
        #[test]
        fn total_order_key_orders_like_total_cmp(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(ir::total_order_key(a).cmp(&ir::total_order_key(b)), a.total_cmp(&b));
        }

        /// The sweep (integer keys, early exit when no capacity occurs in two groups) leaves
        /// every pack exactly as the first version did; it never changes a group sum.
        #[test]
        fn ir_sweep_matches_the_reference(
            s in 2usize..6,
            p in 2usize..4,
            caps in proptest::collection::vec(0i64..4, 20),
            irs in proptest::collection::vec(proptest::option::weighted(0.9, 1u8..6), 20),
        ) {
            let n = s * p;
            let mut d = data(&caps[..n].iter().map(|c| 1000 + c).collect::<Vec<_>>());
            d.ir = irs[..n].iter().map(|x| x.map_or(f64::NAN, f64::from)).collect();
            let c = ctx(&d);
            let mut fast = Search::new(&c, (0..n as u32).collect(), s, p);
            let mut slow = Search::new(&c, (0..n as u32).collect(), s, p);
            let sums: Vec<i64> = fast.st.iter().map(|g| g.sum).collect();
            fast.ir_sweep();
            ir_sweep_reference(&mut slow);
            proptest::prop_assert_eq!(fast.slots(), slow.slots());
            proptest::prop_assert_eq!(fast.st.iter().map(|g| g.sum).collect::<Vec<_>>(), sums);
        }
    }

    proptest::proptest! {
        /// The IR polish is a rule: the same cells, the IR-phase cost never worse, the range
        /// never above the allowance it started within, the in-group limits kept.
        #[test]
        fn ir_polish_never_loses_and_keeps_cells_and_allowance(
            s in 2usize..7,
            p in 2usize..5,
            caps in proptest::collection::vec(900i64..1100, 28),
            irs in proptest::collection::vec(10u8..40, 28),
            slack in 0i64..60,
            seed in 0u64..1000,
        ) {
            let n = s * p;
            let mut d = data(&caps[..n]);
            d.ir = irs[..n].iter().map(|&x| f64::from(x)).collect();
            d.ocv = vec![3600.0; n];
            let lim = Limits { ir_mohm: Some(25.0), ..Limits::default() };
            let c = Ctx { d: &d, lim };
            let mut cells: Vec<u32> = (0..n as u32).collect();
            cells.sort_by_key(|&i| caps[i as usize]);
            let mut pk = Search::new(&c, bldm(&cells, &d.cap, s, p), s, p);
            pk.descend(&mut Pool::default());
            let reached = pk.cost().range;
            pk.set_allowed(Some(reached + slack));
            pk.descend(&mut Pool::default());
            let before = pk.cost();
            let mut set: Vec<u32> = pk.slots().to_vec();
            set.sort_unstable();
            pk.ir_polish(&mut Rng::new(seed), 50);
            let after = pk.cost();
            proptest::prop_assert!(!before.better(&after, true), "{:?} -> {:?}", before, after);
            if before.excess == 0 {
                proptest::prop_assert!(after.range <= reached + slack);
            }
            if before.viol <= EPS {
                proptest::prop_assert!(after.viol <= EPS);
            }
            let mut now: Vec<u32> = pk.slots().to_vec();
            now.sort_unstable();
            proptest::prop_assert_eq!(now, set);
        }
    }

    /// Equal capacities and an allowance of 0: the polish pairs the cells by IR without
    /// moving the range.
    #[test]
    fn ir_polish_groups_similar_ir_within_the_allowance() {
        let mut d = data(&[1000; 8]);
        d.ir = vec![1.0, 9.0, 2.0, 8.0, 20.0, 40.0, 21.0, 41.0];
        let c = ctx(&d);
        let mut pk = Search::new(&c, (0..8).collect(), 4, 2);
        pk.set_allowed(Some(0));
        let before = pk.cost().ir_pct;
        pk.ir_polish(&mut Rng::new(3), 20);
        assert!(
            pk.cost().ir_pct < before,
            "{} -> {}",
            before,
            pk.cost().ir_pct
        );
        assert_eq!(pk.cost().range, 0);
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
