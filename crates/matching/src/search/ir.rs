//! IR homogeneity: the free regrouping of equal-capacity cells, and the IR phase that trades
//! range (within an allowance) for IR-homogeneous groups.

use super::{stat_of, Agg, GStat, Pool, Search, EPS};
use crate::pairing;
use crate::rng::Rng;

impl Search<'_, '_> {
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
        // Cells of each capacity, lowest IR first (unmeasured last), ties in slot order: as
        // a stable sort by (capacity, IR), with integer keys (a million cells sweep every
        // pack; the float comparisons were half of the sweep).
        let mut by_cap: Vec<(i64, i64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .map(|(at, &c)| {
                (
                    d.cap[c as usize],
                    total_order_key(d.ir[c as usize]),
                    at as u32,
                )
            })
            .collect();
        by_cap.sort_unstable();
        // Nothing to regroup when no capacity occurs in two groups: every group would get
        // its own cells back.
        let p = self.p as u32;
        if !by_cap
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[0].2 / p != w[1].2 / p)
        {
            return;
        }
        let by_cap: Vec<(i64, u32)> = by_cap
            .iter()
            .map(|&(v, _, at)| (v, self.slots[at as usize]))
            .collect();
        // Groups in order of their mean IR (a stable sort: ties keep the group order).
        let mut order: Vec<(f64, usize)> =
            (0..self.s).map(|g| (mean_ir(self.group(g)), g)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first = |v: i64| by_cap.partition_point(|&(x, _)| x < v);
        let mut taken = vec![0usize; by_cap.len()];
        let mut slots = vec![0u32; self.slots.len()];
        for &(_, g) in &order {
            for i in 0..self.p {
                let at = g * self.p + i;
                let v = d.cap[self.slots[at] as usize];
                let f = first(v);
                slots[at] = by_cap[f + taken[f]].1;
                taken[f] += 1;
            }
        }
        // Cost the new groups before touching the pack (a group's figures do not depend on
        // the order of its cells): a sweep that does not pay then costs no snapshot.
        let lim = &self.ctx.lim;
        let new_st: Vec<GStat> = slots
            .chunks(self.p)
            .map(|g| stat_of(d, lim, g.iter().copied()))
            .collect();
        let old_st = std::mem::replace(&mut self.st, new_st);
        let old_agg = self.agg;
        self.agg = Agg::of(&self.st);
        let cost = self.cost_with(&[], self.total, self.ir_mean());
        if cost.better(&self.cost, self.ir_phase()) {
            self.slots = slots;
            for g in 0..self.s {
                self.resort(g);
            }
            self.recost();
        } else {
            self.st = old_st;
            self.agg = old_agg;
        }
    }
}

/// [`Search::ir_polish`] stops after this many rounds in a row without a better pack.
const IR_POLISH_PATIENCE: usize = 200;

/// An integer that orders like [`f64::total_cmp`] (NaN of the usual sign last).
pub(crate) fn total_order_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

impl Search<'_, '_> {
    /// Switches to the IR phase: from here on the groups are made IR-homogeneous while the
    /// range stays within the balance slack of the pack's lower bound (or at what the
    /// capacity phase reached, if that is more), and never beyond the capacity-spread limit.
    /// `steps` caps the IR-phase descent (large stocks get few: their packs are
    /// near-identical cells, and the free regrouping does most of the work).
    /// `snake_cap` (default slack only): the worst range of the sorted snake over the packs
    /// being built, which no pack's allowance exceeds.
    pub fn enter_ir_phase(&mut self, pool: &mut Pool, reached: i64, steps: usize, snake_cap: i64) {
        if self.ir_n < 2 || self.p < 2 {
            return;
        }
        let mean = self.total as f64 / self.s as f64;
        let lim = &self.ctx.lim;
        let bound = self.lb.max(self.proven.unwrap_or(0));
        // With the default slack, never above the worst a sorted snake of the same packs
        // gives (unless the capacity phase already had to go there, e.g. for the in-group
        // limits); a slack the profile states is used as stated.
        let mut target = bound + lim.slack_for(mean, bound);
        if lim.slack_of_bound {
            target = target.min(snake_cap);
        }
        let mut allowed = reached.max(target);
        if let Some(pct) = lim.range_pct {
            let limit = (pct / 100.0 * mean).floor() as i64;
            allowed = allowed.min(limit.max(reached));
        }
        self.allowed = Some(allowed);
        self.recost();
        self.ir_sweep();
        self.descend_at_most(pool, steps);
        self.ir_sweep();
    }

    /// P = 2, in the IR phase: the pairing whose largest in-group IR spread is least among
    /// those within the allowance and the in-group limits (bisection on that spread, each
    /// step an exact matching search), then the IR moves; kept when the IR-phase cost is
    /// better. Same cells, so a proved bound still holds.
    pub fn ir_pairing(&mut self, steps: usize) {
        let Some(allowed) = self.allowed else { return };
        let n = self.slots.len();
        if self.p != 2 || (self.ir_n as usize) < n || n > pairing::MAX_CELLS {
            return;
        }
        let (d, lim) = (self.ctx.d, &self.ctx.lim);
        let mut cells = self.slots.clone();
        cells.sort_by_key(|&c| d.cap[c as usize]);
        let caps: Vec<i64> = cells.iter().map(|&c| d.cap[c as usize]).collect();
        let ir: Vec<f64> = cells.iter().map(|&c| d.ir[c as usize]).collect();
        let mut fits = vec![false; n * n];
        let mut spreads = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let ok = stat_of(d, lim, [cells[i], cells[j]].into_iter()).viol <= EPS;
                fits[i * n + j] = ok;
                fits[j * n + i] = ok;
                if ok {
                    spreads.push((ir[i] - ir[j]).abs());
                }
            }
        }
        spreads.sort_by(f64::total_cmp);
        spreads.dedup();
        let within = |t: f64| {
            let ok = |i: usize, j: usize| fits[i * n + j] && (ir[i] - ir[j]).abs() <= t;
            pairing::any_below(&caps, &ok, self.lb, allowed + 1)
        };
        let (mut lo, mut hi) = (0usize, spreads.len());
        let mut best = None;
        while lo < hi {
            let mid = (lo + hi) / 2;
            match within(spreads[mid]) {
                Some(found) => {
                    best = Some(found);
                    hi = mid;
                }
                None => lo = mid + 1,
            }
        }
        let Some(found) = best else { return };
        let snap = self.snapshot();
        self.slots = found.pairs.iter().map(|&i| cells[i]).collect();
        for g in 0..self.s {
            self.resort(g);
        }
        self.recost();
        self.ir_sweep();
        self.descend_at_most(&mut Pool::default(), steps);
        self.ir_sweep();
        if !self.cost.better(&snap.cost, true) {
            self.restore(&snap);
        }
    }

    /// IR phase, small stocks: the descent over every group (not only the widest), then
    /// iterated rounds of one or two random swaps followed by that descent, keeping the best
    /// by the IR-phase cost. Same cells: a proved bound still holds.
    pub fn ir_polish(&mut self, rng: &mut Rng, rounds: usize) {
        if self.allowed.is_none() || self.ir_n < 2 || self.p < 2 || self.s < 2 {
            return;
        }
        let steps = self.full_descent_steps();
        self.ir_descend(steps);
        let mut best = self.snapshot();
        let mut idle = 0;
        for _ in 0..rounds {
            if idle >= IR_POLISH_PATIENCE {
                break;
            }
            for _ in 0..1 + rng.below(2) {
                self.kick(&mut Pool::default(), rng);
            }
            self.ir_descend(steps);
            if self.cost.better(&best.cost, true) {
                best = self.snapshot();
                idle = 0;
            } else {
                self.restore(&best);
                idle += 1;
            }
        }
    }

    /// The IR-phase descent, then swaps out of any group while one improves.
    fn ir_descend(&mut self, steps: usize) {
        for _ in 0..steps {
            self.descend_at_most(&mut Pool::default(), steps);
            if !self.step_every_group() {
                break;
            }
        }
    }

    /// Range of the sorted snake of this pack's cells (largest first, dealt left-right then
    /// right-left over the S groups), the usual manual layout.
    pub fn snake_range(&self) -> i64 {
        let mut caps: Vec<i64> = self.slots.iter().map(|&c| self.cap(c)).collect();
        caps.sort_unstable_by(|a, b| b.cmp(a));
        let mut sums = vec![0i64; self.s];
        for (k, &c) in caps.iter().enumerate() {
            let (layer, i) = (k / self.s, k % self.s);
            sums[if layer % 2 == 0 { i } else { self.s - 1 - i }] += c;
        }
        sums.iter().max().unwrap_or(&0) - sums.iter().min().unwrap_or(&0)
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
        self.recost();
    }

    pub fn allowed(&self) -> Option<i64> {
        self.allowed
    }

    pub fn better_than(&self, other: &Search) -> bool {
        self.cost.better(&other.cost, self.ir_phase())
    }
}
