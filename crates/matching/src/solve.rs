//! The pipeline for one stratum (one model class): sort by capacity, cut windows of S·P
//! (choosing which surplus cells to leave out), partition each window (BLDM), improve each
//! pack by local search with the spare cells, and drop any pack that cannot meet the limits.

use crate::bldm::bldm;
use crate::bounds::{fold_range, window_bound};
use crate::data::{Data, Limits, Span};
use crate::pairing;
use crate::rng::Rng;
use crate::search::{Ctx, Pool, Search};
use crate::sort::sort_by_cap;
use crate::window::choose_windows;

/// How hard the matcher searches. Deterministic: budgets count search rounds, not time.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    pub seed: u64,
    /// Iterated-local-search rounds shared by all packs still above their bound, for a
    /// stock of up to [`FULL_EFFORT_CELLS`] cells; larger stocks get proportionally fewer
    /// (their packs are near-identical cells and rarely need them), which keeps the run time
    /// linear.
    pub search_rounds: usize,
    /// At most this many rounds for one pack (scaled like `search_rounds`).
    pub search_rounds_per_pack: usize,
    /// Exact-search work for a pack still above its bound after the search (scaled down
    /// with the square of the stock's excess over [`FULL_EFFORT_CELLS`]).
    pub exact_nodes_per_pack: usize,
}

/// Stock size up to which the full search budget applies.
pub const FULL_EFFORT_CELLS: usize = 2_000;

impl MatchOptions {
    /// `budget` scaled down for a stock of `n` cells.
    fn scaled(budget: usize, n: usize) -> usize {
        if n <= FULL_EFFORT_CELLS {
            budget
        } else {
            (budget as u128 * FULL_EFFORT_CELLS as u128 / n as u128) as usize
        }
    }
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            seed: 0x5EED_CE11,
            search_rounds: 4_000,
            search_rounds_per_pack: 2_000,
            exact_nodes_per_pack: 8_000_000,
        }
    }
}

/// One pack: its cells group-major, and a lower bound proved by exact search if any.
#[derive(Debug, Clone)]
pub(crate) struct PlannedPack {
    pub slots: Vec<u32>,
    pub proven_bound: Option<i64>,
}

/// Packs and what was left of one stratum.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub packs: Vec<PlannedPack>,
    pub leftover: Vec<u32>,
    /// Proven upper bound on packs for this stratum.
    pub max_packs: usize,
    /// `max_packs` is the exact maximum (not only an upper bound).
    pub max_exact: bool,
    /// What the maximum counts and, when it is only a bound, what it leaves out.
    pub max_note: String,
    /// Candidate packs discarded because no arrangement met the limits.
    pub dropped: usize,
    /// Why each discarded candidate failed, in the order they were discarded.
    pub dropped_reasons: Vec<String>,
}

/// Largest stock (eligible cells of the run) the IR phase runs on.
const IR_PHASE_MAX_CELLS: usize = 200_000;

/// Stock size up to which packs beyond their slack share twice the search budget again (a
/// quarter of it above, none above [`IR_PHASE_MAX_CELLS`]).
const RESCUE_FULL_CELLS: usize = 20_000;

/// Rounds of [`Search::ir_polish`] a pack gets in a small stock.
const IR_POLISH_ROUNDS: usize = 1000;

/// Search rounds one exact P = 2 cell selection is worth in the budget.
const PAIR_SELECTION_COST: usize = 10;

/// Passes over the leftovers after packs were dropped: a dropped window's cells may still fit
/// with other spares.
const MAX_PASSES: usize = 4;

pub(crate) fn solve_stratum(
    ctx: &Ctx,
    cells: &[u32],
    s: usize,
    p: usize,
    opt: &MatchOptions,
    rng: &mut Rng,
) -> Plan {
    let bound = pack_bound(ctx.d, &ctx.lim, cells, s, p);
    let run = |first: Strategy, rng: &mut Rng| {
        let mut plan = passes(ctx, cells, s, p, opt, first, rng);
        plan.max_packs = bound.packs;
        plan.max_exact = bound.exact || plan.packs.len() == bound.packs;
        plan.max_note = bound.note.clone();
        plan
    };
    let plan = run(Strategy::CapacityFirst, rng);
    // When the in-group limits bind, windows of similar capacity rarely hold P cells that
    // fit them: build the groups first and compare.
    let mut plan = plan;
    if ctx.lim.has_group_limits() && plan.packs.len() < bound.packs && p >= 2 {
        let other = run(Strategy::GroupsFirst, rng);
        if quality(ctx.d, &other, p) > quality(ctx.d, &plan, p) {
            plan = other;
        }
    }
    if ctx.lim.has_group_limits() && p >= 2 {
        if plan.packs.len() < bound.packs {
            let other = run(Strategy::Balanced, rng);
            if quality(ctx.d, &other, p) > quality(ctx.d, &plan, p) {
                plan = other;
            }
        } else if ctx.d.len() <= BALANCED_IR_MAX_CELLS {
            // As many packs already: the balanced cut's groups are IR-homogeneous by
            // construction, so compare in the objectives' order (packs, packs within their
            // slack, then the median in-group IR CV).
            let other = run(Strategy::Balanced, rng);
            if objectives(ctx, &other, s, p) > objectives(ctx, &plan, s, p) {
                plan = other;
            }
        }
    }
    if p == 2 && plan.packs.len() < bound.packs && cells.len() <= pairing::MAX_CELLS {
        let other = run(Strategy::MostPairs, rng);
        if quality(ctx.d, &other, p) > quality(ctx.d, &plan, p) {
            plan = other;
        }
    }
    // A handful of cells: the most packs, exactly (every limit together).
    if p >= 2 && cells.len() <= EXACT_PACKS_MAX_CELLS && !plan.max_exact {
        let found = exact_packs(ctx, cells, s, p);
        let most = found.len();
        if most > plan.packs.len() {
            let mut in_pack = std::collections::HashSet::new();
            in_pack.extend(found.iter().flatten().copied());
            let spare = cells
                .iter()
                .copied()
                .filter(|c| !in_pack.contains(c))
                .collect();
            let other = improve(ctx, found, spare, s, p, opt, cells.len(), rng);
            if other.packs.len() >= most {
                plan = other;
            }
        }
        if plan.packs.len() == most {
            plan.max_packs = most;
            plan.max_exact = true;
            plan.max_note = format!(
                "the most packs within every limit, by exhaustive search over the {} cells",
                cells.len()
            );
        }
    }
    plan
}

/// Most packs from a set of free cells, and the pack (cell indices) that starts them (`None`:
/// the lowest free cell is left out).
type Choice = (usize, Option<Vec<usize>>);

/// Classes of up to this many cells get the exhaustive pack count (P ≥ 2).
const EXACT_PACKS_MAX_CELLS: usize = 12;

/// At most [`EXACT_PACKS_MAX_CELLS`] cells: the most disjoint packs of S groups of P cells,
/// each group within the in-group limits and the group sums within the capacity-spread
/// limit. Memoised over the set of cells still free: the lowest free cell is either left out
/// or in one of the packs that hold it. Returns the packs (groups consecutive).
fn exact_packs(ctx: &Ctx, cells: &[u32], s: usize, p: usize) -> Vec<Vec<u32>> {
    let n = cells.len();
    if p == 0 || n < s * p || n > EXACT_PACKS_MAX_CELLS {
        return Vec::new();
    }
    let d = ctx.d;
    let fits = |g: &[usize]| {
        let (mut ocv, mut ir) = (Span::default(), Span::default());
        for &i in g {
            ocv.add(d.ocv[cells[i] as usize]);
            ir.add(d.ir[cells[i] as usize]);
        }
        ctx.lim.group_violation(ocv.width(), ir.width()) == 0.0
    };
    let cap = |i: usize| d.cap[cells[i] as usize];
    // Groups of P free cells (ascending indices) whose lowest is `lo`, within the limits.
    let groups_from = |lo: usize, avail: u32| -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut cur = vec![lo];
        fn grow(
            cur: &mut Vec<usize>,
            p: usize,
            n: usize,
            avail: u32,
            out: &mut Vec<Vec<usize>>,
            fits: &dyn Fn(&[usize]) -> bool,
        ) {
            if cur.len() == p {
                if fits(cur) {
                    out.push(cur.clone());
                }
                return;
            }
            let from = cur.last().map_or(0, |&l| l + 1);
            for j in from..n {
                if avail & (1 << j) != 0 {
                    cur.push(j);
                    grow(cur, p, n, avail, out, fits);
                    cur.pop();
                }
            }
        }
        grow(&mut cur, p, n, avail & !(1 << lo), &mut out, &fits);
        out
    };
    // Every pack that holds cell `i` (its group first, then groups in order of their lowest
    // cell), within `avail`, whose group sums meet the spread limit.
    let packs_with = |i: usize, avail: u32| -> Vec<Vec<usize>> {
        fn more(
            need: usize,
            avail: u32,
            from: usize,
            n: usize,
            groups_from: &dyn Fn(usize, u32) -> Vec<Vec<usize>>,
            cur: &mut Vec<Vec<usize>>,
            out: &mut Vec<Vec<Vec<usize>>>,
        ) {
            if cur.len() == need {
                out.push(cur.clone());
                return;
            }
            for lo in from..n {
                if avail & (1 << lo) == 0 {
                    continue;
                }
                for g in groups_from(lo, avail) {
                    let used = g.iter().fold(0u32, |m, &c| m | 1 << c);
                    cur.push(g);
                    more(need, avail & !used, lo + 1, n, groups_from, cur, out);
                    cur.pop();
                }
            }
        }
        let mut out = Vec::new();
        // The group of `i`: P − 1 others of any index.
        let mut firsts = Vec::new();
        let others: Vec<usize> = (0..n)
            .filter(|&j| j != i && avail & (1 << j) != 0)
            .collect();
        for combo in combinations(others.len(), p - 1) {
            let mut g: Vec<usize> = std::iter::once(i)
                .chain(combo.iter().map(|&k| others[k]))
                .collect();
            g.sort_unstable();
            if fits(&g) {
                firsts.push(g);
            }
        }
        for g in firsts {
            let used = g.iter().fold(0u32, |m, &c| m | 1 << c);
            let mut cur = vec![g];
            more(s, avail & !used, 0, n, &groups_from, &mut cur, &mut out);
        }
        out.retain(|pk| {
            let sums: Vec<i64> = pk.iter().map(|g| g.iter().map(|&c| cap(c)).sum()).collect();
            let (hi, lo) = (
                sums.iter().copied().max().unwrap_or(0),
                sums.iter().copied().min().unwrap_or(0),
            );
            let mean = sums.iter().sum::<i64>() as f64 / s as f64;
            ctx.lim.range_ok(hi - lo, mean)
        });
        // As index lists, groups consecutive.
        out.into_iter()
            .map(|pk| pk.into_iter().flatten().collect())
            .collect()
    };
    let full: u32 = (1u32 << n) - 1;
    let mut memo: Vec<Option<Choice>> = vec![None; 1 << n];
    fn best(
        avail: u32,
        w: usize,
        memo: &mut Vec<Option<Choice>>,
        packs_with: &dyn Fn(usize, u32) -> Vec<Vec<usize>>,
    ) -> usize {
        if let Some((k, _)) = &memo[avail as usize] {
            return *k;
        }
        if (avail.count_ones() as usize) < w {
            memo[avail as usize] = Some((0, None));
            return 0;
        }
        let i = avail.trailing_zeros() as usize;
        let mut top = (best(avail & !(1 << i), w, memo, packs_with), None);
        for pk in packs_with(i, avail) {
            let used = pk.iter().fold(0u32, |m, &c| m | 1 << c);
            let k = 1 + best(avail & !used, w, memo, packs_with);
            if k > top.0 {
                top = (k, Some(pk));
            }
        }
        let k = top.0;
        memo[avail as usize] = Some(top);
        k
    }
    best(full, s * p, &mut memo, &packs_with);
    // Follow the choices back.
    let mut out = Vec::new();
    let mut avail = full;
    while let Some(Some((k, choice))) = memo.get(avail as usize) {
        if *k == 0 {
            break;
        }
        match choice {
            Some(pk) => {
                out.push(pk.iter().map(|&c| cells[c]).collect());
                avail &= !pk.iter().fold(0u32, |m, &c| m | 1 << c);
            }
            None => avail &= !(1 << avail.trailing_zeros()),
        }
    }
    out
}

/// Every k-subset of 0..n, as ascending index lists.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, k, &mut Vec::new(), &mut out);
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    /// Windows of S·P cells of similar capacity, each split into balanced groups.
    CapacityFirst,
    /// Groups of P cells that fit the in-group limits, then packs of S groups of similar sum.
    GroupsFirst,
    /// As `GroupsFirst`, with the most pairs the limits allow together (P = 2, at most
    /// [`pairing::MAX_CELLS`] cells): more groups, though not always more packs.
    MostPairs,
    /// Groups of similar IR/OCV with near-equal sums: blocks of S·P cells consecutive in the
    /// tighter-limited measurement, each split into S groups by a capacity snake (members
    /// swapped between the block's groups until every group fits the limits), then packs of
    /// S groups of similar sum. Capacity-first windows rarely hold P cells that fit a binding
    /// IR limit; the groups-first cut makes groups whose sums scatter so widely that the
    /// capacity-spread limit drops packs at the tails.
    Balanced,
}

/// The first strategy on all cells, then passes over what is left: a pack dropped for the
/// limits may still fit with other spares. Later passes build groups first when the
/// in-group limits are what dropped it.
fn passes(
    ctx: &Ctx,
    cells: &[u32],
    s: usize,
    p: usize,
    opt: &MatchOptions,
    first: Strategy,
    rng: &mut Rng,
) -> Plan {
    let mut plan = Plan::default();
    let mut rest = cells.to_vec();
    let mut strategy = first;
    for _ in 0..MAX_PASSES {
        if rest.len() < s * p {
            break;
        }
        sort_by_cap(&mut rest, &ctx.d.cap);
        let (packs, spare) = match strategy {
            Strategy::CapacityFirst if p == 1 && ctx.lim.range_pct.is_some() => {
                cut_windows_1p(ctx.d, &ctx.lim, &rest, s)
            }
            Strategy::CapacityFirst => cut_windows(ctx.d, &rest, s, p),
            Strategy::GroupsFirst => cut_groups(ctx, &rest, s, p, false),
            Strategy::MostPairs => cut_groups(ctx, &rest, s, p, true),
            Strategy::Balanced => cut_balanced(ctx, &rest, s, p),
        };
        let pass = improve(ctx, packs, spare, s, p, opt, cells.len(), rng);
        let progress = !pass.packs.is_empty();
        plan.packs.extend(pass.packs);
        plan.dropped += pass.dropped;
        plan.dropped_reasons.extend(pass.dropped_reasons);
        rest = pass.leftover;
        if !progress {
            break;
        }
        // One cell per group: in-group limits cannot bind, groups-first has nothing to add.
        strategy = if ctx.lim.has_group_limits() && p >= 2 && strategy == Strategy::CapacityFirst {
            Strategy::GroupsFirst
        } else {
            Strategy::CapacityFirst
        };
    }
    plan.leftover = rest;
    plan
}

/// Stock (eligible cells of the run) up to which the balanced cut is also tried when the
/// first plan already has the most packs, for its IR homogeneity.
const BALANCED_IR_MAX_CELLS: usize = 2_000;

/// The objectives in order, larger is better: packs, packs within their balance slack, then
/// the lower median in-group IR CV (in 1/1000 %), then the smaller worst range.
fn objectives(
    ctx: &Ctx,
    plan: &Plan,
    s: usize,
    p: usize,
) -> (usize, usize, std::cmp::Reverse<i64>, std::cmp::Reverse<i64>) {
    let mut within = 0;
    let mut worst = 0.0f64;
    let mut cvs = Vec::new();
    for pk in &plan.packs {
        let m = crate::metrics::pack_metrics(ctx.d, &pk.slots, s, p, pk.proven_bound, &ctx.lim);
        within += usize::from(m.at_bound_within_slack);
        worst = worst.max(m.range_mah);
        cvs.extend(m.group_ir_cv_pct.iter().flatten().copied());
    }
    cvs.sort_by(f64::total_cmp);
    let cv = crate::metrics::quantile(&cvs, 0.5).map_or(i64::MAX, |v| (v * 1000.0).round() as i64);
    (
        plan.packs.len(),
        within,
        std::cmp::Reverse(cv),
        std::cmp::Reverse(worst.round() as i64),
    )
}

/// Packs first, then the worst range (smaller is better), then usable capacity.
fn quality(d: &Data, plan: &Plan, p: usize) -> (usize, std::cmp::Reverse<i64>, i64) {
    let (mut worst, mut usable) = (0i64, 0i64);
    for pk in &plan.packs {
        let sums: Vec<i64> = pk
            .slots
            .chunks(p)
            .map(|g| g.iter().map(|&c| d.cap[c as usize]).sum())
            .collect();
        let (hi, lo) = (
            sums.iter().max().unwrap_or(&0),
            sums.iter().min().unwrap_or(&0),
        );
        worst = worst.max(hi - lo);
        usable += lo;
    }
    (plan.packs.len(), std::cmp::Reverse(worst), usable)
}

/// Windows of S·P consecutive cells of `sorted` (ascending capacity), the surplus left out
/// where it costs least, each window split by BLDM. Returns the packs and the spare cells.
fn cut_windows(d: &Data, sorted: &[u32], s: usize, p: usize) -> (Vec<Vec<u32>>, Vec<u32>) {
    let w = s * p;
    let n = sorted.len();
    let caps: Vec<i64> = sorted.iter().map(|&c| d.cap[c as usize]).collect();
    let mut pre = Vec::with_capacity(n + 1);
    pre.push(0i64);
    for &c in &caps {
        pre.push(pre[pre.len() - 1] + c);
    }
    // The score of a window: exact for P ≤ 2 (range of the cells / of the fold); for P ≥ 3
    // its cheap lower bound, ties broken by the cells' spread.
    let starts = choose_windows(n, w, |st| {
        let span = caps[st + w - 1] - caps[st];
        match p {
            1 => span,
            2 => fold_range(&caps[st..st + w]),
            _ => (window_bound(&pre, st, s, p) << 24) + span.min((1 << 24) - 1),
        }
    });
    let mut used = vec![false; n];
    for &st in &starts {
        used[st..st + w].iter_mut().for_each(|u| *u = true);
    }
    let spare: Vec<u32> = (0..n).filter(|&i| !used[i]).map(|i| sorted[i]).collect();
    let packs = starts
        .iter()
        .map(|&st| {
            let win = &sorted[st..st + w];
            if p == 1 {
                win.to_vec()
            } else {
                bldm(win, &d.cap, s, p)
            }
        })
        .collect();
    (packs, spare)
}

/// Groups first: in order of the limited measurement (OCV, else IR), take P consecutive
/// cells whenever they fit every in-group limit, else set the lowest aside (for one limit
/// this builds the most groups). Then sort the groups by capacity and cut packs of S groups
/// of similar sum, leaving out the surplus groups where it costs least.
fn cut_groups(
    ctx: &Ctx,
    cells: &[u32],
    s: usize,
    p: usize,
    matched: bool,
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let d = ctx.d;
    let key = if ctx.lim.ocv_mv.is_some() {
        &d.ocv
    } else {
        &d.ir
    };
    let mut order = cells.to_vec();
    order.sort_by(|&a, &b| key[a as usize].total_cmp(&key[b as usize]));
    let (mut groups, mut spare) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + p <= order.len() {
        let g = &order[i..i + p];
        let (mut ocv, mut ir) = (Span::default(), Span::default());
        for &c in g {
            ocv.add(d.ocv[c as usize]);
            ir.add(d.ir[c as usize]);
        }
        if ctx.lim.group_violation(ocv.width(), ir.width()) == 0.0 {
            groups.push(g.to_vec());
            i += p;
        } else {
            spare.push(order[i]);
            i += 1;
        }
    }
    spare.extend_from_slice(&order[i..]);
    // `matched` (few cells, P = 2): when the most pairs within every in-group limit together
    // (exactly, a maximum matching) are more than the greedy's, take those instead.
    if matched && p == 2 && order.len() <= pairing::MAX_CELLS {
        let pairs = pairing::most_pairs(order.len(), &|a, b| fits_pair(ctx, order[a], order[b]));
        if pairs.len() > groups.len() {
            let mut used = vec![false; order.len()];
            groups.clear();
            for &(a, b) in &pairs {
                used[a] = true;
                used[b] = true;
                groups.push(vec![order[a], order[b]]);
            }
            spare = (0..order.len())
                .filter(|&k| !used[k])
                .map(|k| order[k])
                .collect();
        }
    }
    packs_of_groups(d, groups, s, spare)
}

/// [`Strategy::Balanced`]: see there. Cells left out of the blocks (a block too wide in the
/// sort key, members no swap could fit) are grouped as [`cut_groups`] does and join the
/// groups before packs are cut.
fn cut_balanced(ctx: &Ctx, cells: &[u32], s: usize, p: usize) -> (Vec<Vec<u32>>, Vec<u32>) {
    let d = ctx.d;
    let lim = &ctx.lim;
    // The key whose limit is narrowest against the stock's own spread (5th–95th percentile).
    let spread = |v: &[f64]| {
        let mut x: Vec<f64> = cells
            .iter()
            .map(|&c| v[c as usize])
            .filter(|x| !x.is_nan())
            .collect();
        x.sort_by(f64::total_cmp);
        match (x.get(x.len() / 20), x.get(x.len() - 1 - x.len() / 20)) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0.0,
        }
    };
    let tight = |v: &[f64], l: Option<f64>| l.map(|l| l / spread(v).max(1e-12));
    let by_ir = match (tight(&d.ocv, lim.ocv_mv), tight(&d.ir, lim.ir_mohm)) {
        (Some(o), Some(i)) => i < o,
        (None, Some(_)) => true,
        _ => false,
    };
    let key = if by_ir { &d.ir } else { &d.ocv };
    let key_limit = if by_ir { lim.ir_mohm } else { lim.ocv_mv }.unwrap_or(f64::INFINITY);
    let mut order = cells.to_vec();
    order.sort_by(|&a, &b| key[a as usize].total_cmp(&key[b as usize]));
    let fits = |g: &[u32]| {
        let (mut ocv, mut ir) = (Span::default(), Span::default());
        for &c in g {
            ocv.add(d.ocv[c as usize]);
            ir.add(d.ir[c as usize]);
        }
        lim.group_violation(ocv.width(), ir.width()) == 0.0
    };
    let w = s * p;
    let (mut groups, mut aside): (Vec<Vec<u32>>, Vec<u32>) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + w <= order.len() {
        let block = &order[i..i + w];
        let k = |c: u32| key[c as usize];
        if k(block[w - 1]) - k(block[0]) > key_limit + 1e-9 {
            aside.push(order[i]);
            i += 1;
            continue;
        }
        // Capacity snake: ranks 0..w (largest first) into S groups, direction turning.
        let mut by_cap = block.to_vec();
        by_cap.sort_by_key(|&c| std::cmp::Reverse(d.cap[c as usize]));
        let mut gs: Vec<Vec<u32>> = vec![Vec::with_capacity(p); s];
        for (r, &c) in by_cap.iter().enumerate() {
            let (round, pos) = (r / s, r % s);
            let g = if round % 2 == 0 { pos } else { s - 1 - pos };
            gs[g].push(c);
        }
        // Repair: swap one member of a group outside the limits with a member of another
        // group, nearest in capacity first, when both then fit.
        for g in 0..s {
            if fits(&gs[g]) {
                continue;
            }
            let mut best: Option<(i64, usize, usize, usize)> = None;
            for h in 0..s {
                if h == g {
                    continue;
                }
                for a in 0..p {
                    for b in 0..p {
                        let (ca, cb) = (gs[g][a], gs[h][b]);
                        // Try the swap in place, then undo it.
                        gs[g][a] = cb;
                        gs[h][b] = ca;
                        let both = fits(&gs[g]) && fits(&gs[h]);
                        gs[g][a] = ca;
                        gs[h][b] = cb;
                        if both {
                            let cost = (d.cap[ca as usize] - d.cap[cb as usize]).abs();
                            if best.is_none_or(|(bc, ..)| cost < bc) {
                                best = Some((cost, h, a, b));
                            }
                        }
                    }
                }
            }
            if let Some((_, h, a, b)) = best {
                let t = gs[g][a];
                gs[g][a] = gs[h][b];
                gs[h][b] = t;
            }
        }
        for g in gs {
            if fits(&g) {
                groups.push(g);
            } else {
                aside.extend(g);
            }
        }
        i += w;
    }
    aside.extend_from_slice(&order[i..]);
    // The cells set aside: P consecutive in the key order whenever they fit.
    aside.sort_by(|&a, &b| key[a as usize].total_cmp(&key[b as usize]));
    let mut spare = Vec::new();
    let mut j = 0;
    while j + p <= aside.len() {
        if fits(&aside[j..j + p]) {
            groups.push(aside[j..j + p].to_vec());
            j += p;
        } else {
            spare.push(aside[j]);
            j += 1;
        }
    }
    spare.extend_from_slice(&aside[j..]);
    packs_of_groups(d, groups, s, spare)
}

/// Sort parallel groups by capacity and cut packs of `s` groups of similar sum, leaving the
/// surplus groups (their cells joining `spare`) where that costs least.
fn packs_of_groups(
    d: &Data,
    mut groups: Vec<Vec<u32>>,
    s: usize,
    mut spare: Vec<u32>,
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let sum = |g: &Vec<u32>| g.iter().map(|&c| d.cap[c as usize]).sum::<i64>();
    groups.sort_by_key(sum);
    let sums: Vec<i64> = groups.iter().map(sum).collect();
    let starts = choose_windows(groups.len(), s, |st| sums[st + s - 1] - sums[st]);
    let mut used = vec![false; groups.len()];
    let packs = starts
        .iter()
        .map(|&st| {
            used[st..st + s].iter_mut().for_each(|u| *u = true);
            groups[st..st + s].concat()
        })
        .collect();
    for (g, u) in groups.iter().zip(&used) {
        if !u {
            spare.extend_from_slice(g);
        }
    }
    (packs, spare)
}

/// Two cells may share a parallel group (the OCV and IR limits).
fn fits_pair(ctx: &Ctx, a: u32, b: u32) -> bool {
    let d = ctx.d;
    let (a, b) = (a as usize, b as usize);
    let ocv = (d.ocv[a] - d.ocv[b]).abs();
    let ir = (d.ir[a] - d.ir[b]).abs();
    // A missing measurement (no limit on it: never rejected) spans nothing.
    let w = |x: f64| if x.is_nan() { 0.0 } else { x };
    ctx.lim.group_violation(w(ocv), w(ir)) == 0.0
}

/// Search, exact settling and the IR phase for cut packs; drops those still outside the
/// limits. `stock` is the stratum's size (it scales the search budget).
#[allow(clippy::too_many_arguments)]
fn improve(
    ctx: &Ctx,
    cut: Vec<Vec<u32>>,
    spare: Vec<u32>,
    s: usize,
    p: usize,
    opt: &MatchOptions,
    stock: usize,
    rng: &mut Rng,
) -> Plan {
    let d = ctx.d;
    let mut pool = Pool::new(spare, &d.cap);
    let mut packs: Vec<Search> = cut
        .into_iter()
        .map(|slots| Search::new(ctx, slots, s, p))
        .collect();
    // Capacity phase. One cell per group: the window fixes the range, only spare cells or
    // a limit breach are worth a search. Two: the fold is optimal, only trades can help.
    for pk in packs.iter_mut() {
        if p >= 3 || pk.wants_more(&pool) {
            pk.descend(&mut pool);
        }
    }
    // P = 2 outside the in-group limits after descent: the exact pairing search finds an
    // arrangement within them whenever one of these cells exists (or shows there is none).
    // Up to RESCUE_FULL_CELLS only: on larger stocks dropping such a pack and rebuilding its
    // cells groups-first with the other spares gave more packs (200,000 cells as 16S2P,
    // outlier-heavy: 4,953 packs without the repair, 4,951 with it; 5,000 cells: 122 vs 123).
    if p == 2 && ctx.lim.has_group_limits() && stock <= RESCUE_FULL_CELLS {
        for pk in packs.iter_mut().filter(|pk| !pk.within_limits()) {
            pk.settle_exactly(0);
        }
    }
    let total = MatchOptions::scaled(opt.search_rounds, stock);
    if p == 2 {
        // Choosing the cells is the only lever and it is solved exactly per pack: worst
        // packs first, as many as the budget pays for (every pack in a small stock).
        let mut order: Vec<usize> = (0..packs.len())
            .filter(|&i| packs[i].cost().range > 0)
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(packs[i].cost().range));
        for &i in order.iter().take((total / PAIR_SELECTION_COST).max(4)) {
            packs[i].select_pairs(&mut pool);
        }
    } else if p >= 3 {
        // A pack still outside the in-group limits after descent is cut from cells that do
        // not fit together; it is dropped and its cells go to the groups-first pass.
        let needy: Vec<usize> = (0..packs.len())
            .filter(|&i| packs[i].within_limits() && packs[i].wants_more(&pool))
            .collect();
        if !needy.is_empty() {
            let per_pack = MatchOptions::scaled(opt.search_rounds_per_pack, stock);
            let rounds = (total / needy.len()).min(per_pack);
            // Above FULL_EFFORT_CELLS, when the IR phase follows with the default slack, the
            // rounds go to packs beyond their slack only: that phase widens a pack within
            // its slack to the same allowance anyway. (10,000 cells as 15S4P: two packs a
            // few mAh above a bound of 0–1 took 415 rounds each, half the run's time.)
            let beyond_only =
                stock > FULL_EFFORT_CELLS && ctx.lim.slack_of_bound && ir_phase_runs(ctx, stock, p);
            for &i in &needy {
                if beyond_only {
                    packs[i].rescue(&mut pool, rng, rounds);
                } else {
                    packs[i].iterate(&mut pool, rng, rounds);
                }
            }
        }
    }
    // Large stocks have dense packs, where exact cover rarely pays: scale it down faster.
    let exact = MatchOptions::scaled(MatchOptions::scaled(opt.exact_nodes_per_pack, stock), stock);
    // Above RESCUE_FULL_CELLS only packs beyond their slack: thousands of 2P packs each
    // proved exactly cost seconds, and a pack within its slack meets the objective already.
    let large = stock > RESCUE_FULL_CELLS;
    for pk in packs
        .iter_mut()
        .filter(|pk| pk.within_limits() && (!large || pk.beyond_slack()))
    {
        let before = pk.cost().range;
        pk.settle_exactly(exact);
        // A small stock whose pack has a proved bound it does not meet yet: the search gets
        // one more round, and the exact search another look at the result.
        if stock <= FULL_EFFORT_CELLS
            && pk.proven_bound().is_some()
            && !pk.at_bound()
            && pk.cost().range == before
        {
            pk.iterate(&mut pool, rng, opt.search_rounds_per_pack.min(total));
            pk.settle_exactly(exact);
        }
    }
    // Packs still beyond their balance slack (under in-group limits, a few per hundred)
    // share a second search budget, worst first: the search with the spare cells until
    // within slack, then the exact search with a larger share.
    let mut rescue: Vec<usize> = (0..packs.len())
        .filter(|&i| packs[i].within_limits() && packs[i].beyond_slack())
        .collect();
    rescue.sort_by_key(|&i| std::cmp::Reverse(packs[i].cost().range));
    let per_pack = opt.search_rounds_per_pack / 2;
    let mut rounds_left = if stock <= RESCUE_FULL_CELLS {
        opt.search_rounds * 2
    } else if stock <= IR_PHASE_MAX_CELLS && ctx.d.len() <= IR_PHASE_MAX_CELLS {
        opt.search_rounds / 2
    } else {
        // A million cells: packs of near-identical cells, and the time goes to the cut.
        0
    };
    let exact_rescue = MatchOptions::scaled(opt.exact_nodes_per_pack, stock);
    for &i in &rescue {
        if rounds_left == 0 {
            break;
        }
        let rounds = per_pack.min(rounds_left);
        rounds_left -= rounds;
        packs[i].rescue(&mut pool, rng, rounds);
        if packs[i].beyond_slack() {
            packs[i].settle_exactly(exact_rescue);
        }
    }
    // IR phase: trade range, within the balance slack of the bound, for IR-homogeneous
    // groups; also try starting from IR order and keep the better. No pool trades here: the
    // cells (and so the bound the slack is measured from) stay as the capacity phase left them.
    // Only when the run's eligible cells (all classes) are at most IR_PHASE_MAX_CELLS: above,
    // a pack's cells are near-identical and the free regrouping at the end reaches the same
    // IR CV (1.3 % either way on a million laptop cells as 16S2P) at a fraction of the time.
    if ir_phase_runs(ctx, stock, p) {
        let snake_cap = packs
            .iter()
            .filter(|pk| pk.within_limits())
            .map(|pk| pk.snake_range())
            .max()
            .unwrap_or(0);
        for pk in packs.iter_mut().filter(|pk| pk.within_limits()) {
            let reached = pk.cost().range;
            let steps = pk.full_descent_steps();
            pk.enter_ir_phase(&mut Pool::default(), reached, steps, snake_cap);
            let mut alt = Search::new(ctx, pk.ir_ordered_copy(), s, p);
            alt.set_allowed(pk.allowed());
            // No pool: a discarded alternative must not have traded cells away.
            alt.descend(&mut Pool::default());
            alt.ir_sweep();
            if alt.better_than(pk) {
                // Same cells: a bound the exact search proved for them still holds.
                alt.adopt_proof(pk.proven_bound());
                *pk = alt;
            }
            // Small stocks only: there it pays (16S2P profile, 200 cells: IR CV 8.5 → 7.7 %);
            // from 5,000 cells on the IR moves alone come within 0.02 points at a quarter of
            // the time (10,000 cells as 16S2P: 40 ms without, 145 ms with). Counted over the
            // run's eligible cells, not per class: 10,000 mixed-model cells in classes of
            // about 2,000 spent half their time here.
            if p == 2 && stock <= FULL_EFFORT_CELLS && d.len() <= FULL_EFFORT_CELLS {
                pk.ir_pairing(steps);
            }
            // Small stocks, where time is plentiful: the stronger IR search.
            if stock <= FULL_EFFORT_CELLS && d.len() <= FULL_EFFORT_CELLS {
                pk.ir_polish(rng, IR_POLISH_ROUNDS);
            }
        }
    }
    let mut plan = Plan::default();
    let mut leftover = pool.into_vec();
    for mut pk in packs {
        pk.ir_sweep();
        let proven_bound = pk.proven_bound();
        if !pk.within_limits() {
            plan.dropped += 1;
            plan.dropped_reasons.push(pk.limit_breach());
            leftover.extend_from_slice(pk.slots());
        } else {
            plan.packs.push(PlannedPack {
                slots: pk.into_slots(),
                proven_bound,
            });
        }
    }
    plan.leftover = leftover;
    plan
}

/// Whether [`improve`] runs the IR phase for this stock (P ≥ 2, at most
/// [`IR_PHASE_MAX_CELLS`] cells in the class and in the run).
fn ir_phase_runs(ctx: &Ctx, stock: usize, p: usize) -> bool {
    p >= 2 && stock <= IR_PHASE_MAX_CELLS && ctx.d.len() <= IR_PHASE_MAX_CELLS
}

/// An upper bound on one stratum's packs, and whether it is the exact maximum.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackBound {
    pub packs: usize,
    pub exact: bool,
    pub note: String,
}

/// The most packs the limits allow. ⌊n / S·P⌋, lowered by:
/// - P = 1 with a capacity-spread limit: the most disjoint windows of S cells (sorted) whose
///   spread can meet the limit, counted with the best mean a window with that lowest and
///   highest cell can have (exact for that relaxation, greedy over sorted windows), in each
///   run of cells a pack can reach apart and at most ⌊run / S⌋ there ([`reach_components`]);
/// - P ≥ 2, for each in-group limit alone: the greedy over sorted values (take P consecutive
///   cells whenever they fit the limit, else drop the lowest) builds the most groups, so
///   ⌊groups / S⌋ bounds the packs. Exact when only one in-group limit is set and no
///   capacity-spread limit (then any S groups make a pack).
pub(crate) fn pack_bound(d: &Data, lim: &Limits, cells: &[u32], s: usize, p: usize) -> PackBound {
    let naive = cells.len() / (s * p);
    if p == 1 {
        let Some(pct) = lim.range_pct else {
            return PackBound {
                packs: naive,
                exact: true,
                note: "every S eligible cells make a pack".into(),
            };
        };
        let mut caps: Vec<i64> = cells.iter().map(|&c| d.cap[c as usize]).collect();
        caps.sort_unstable();
        let packs = reach_components(lim, &caps, s)
            .iter()
            .map(|&(a, b)| {
                let part = &caps[a..b];
                let relaxed = greedy_windows(part.len(), s, |i| {
                    relaxed_spread_ok(part[i], part[i + s - 1], s, pct)
                });
                relaxed.min(part.len() / s)
            })
            .sum();
        return PackBound {
            packs,
            exact: false,
            note: format!(
                "most disjoint sets of {s} cells whose lowest and highest cell are within \
                 {pct} % of the best mean such a set can have, counted apart in each run of \
                 cells that some set within the limit can reach (no set spans two runs)"
            ),
        };
    }
    let mut bound = naive;
    let mut limits = 0;
    let mut parts = vec![format!("⌊eligible / {}⌋", s * p)];
    for (vals, limit, name) in [(&d.ocv, lim.ocv_mv, "OCV"), (&d.ir, lim.ir_mohm, "IR")] {
        let Some(limit) = limit else { continue };
        limits += 1;
        let mut v: Vec<f64> = cells.iter().map(|&c| vals[c as usize]).collect();
        v.sort_by(f64::total_cmp);
        let groups = greedy_windows(v.len(), p, |i| v[i + p - 1] - v[i] <= limit + 1e-9);
        bound = bound.min(groups / s);
        parts.push(format!(
            "groups of {p} within the {name} limit alone ({groups}) / {s}"
        ));
    }
    // P = 2 on up to FULL_EFFORT_CELLS cells: the most pairs within every in-group limit
    // together, exactly (a maximum matching of the graph of compatible pairs). Larger classes
    // pay too much for it (4,067 cells: +130 ms, and no lower maximum on the benchmark).
    let together = p == 2 && limits > 1 && cells.len() <= FULL_EFFORT_CELLS;
    if together {
        let pairs = most_compatible_pairs(d, lim, cells);
        bound = bound.min(pairs / s);
        parts.push(format!(
            "pairs within the OCV and IR limits together ({pairs}, a maximum matching) / {s}"
        ));
    }
    let exact = (limits <= 1 || together) && lim.range_pct.is_none();
    let mut note = format!("the least of {}", parts.join(", "));
    if !exact {
        let mut left = Vec::new();
        if limits > 1 && !together {
            left.push("the OCV and IR limits together");
        }
        if lim.range_pct.is_some() {
            left.push("the group-capacity spread limit");
        }
        note.push_str(&format!(
            "; an upper bound: {} not counted",
            left.join(" and ")
        ));
    }
    PackBound {
        packs: bound,
        exact,
        note,
    }
}

/// The size of a maximum matching of `cells` under the in-group limits: neighbours found by
/// a scan over the cells in OCV order (OCV and IR are both set when this runs).
fn most_compatible_pairs(d: &Data, lim: &Limits, cells: &[u32]) -> usize {
    let mut order: Vec<u32> = cells.to_vec();
    order.sort_by(|&a, &b| d.ocv[a as usize].total_cmp(&d.ocv[b as usize]));
    let ocv_lim = lim.ocv_mv.unwrap_or(f64::INFINITY) + 1e-9;
    let w = |x: f64| if x.is_nan() { 0.0 } else { x };
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); order.len()];
    for i in 0..order.len() {
        let a = order[i] as usize;
        for j in i + 1..order.len() {
            let b = order[j] as usize;
            let docv = w(d.ocv[b] - d.ocv[a]);
            if docv > ocv_lim {
                break;
            }
            if lim.group_violation(docv, w((d.ir[a] - d.ir[b]).abs())) == 0.0 {
                adj[i].push(j as u32);
                adj[j].push(i as u32);
            }
        }
    }
    pairing::max_matching_size(&adj)
}

/// P = 1, spread limit: the runs of `caps` (sorted ascending) that packs can use, as
/// half-open index ranges. A pack whose lowest cell sits at sorted position i and highest at
/// j holds S − 2 other cells from positions i + 1..j, so at most the S − 2 just below j:
/// (i, j) can hold a pack only if the spread check passes with that best sum. Every pack lies
/// inside [i, jmax(i)] for its own i, so inside one run of overlapping such intervals; a cell
/// in no interval is in no pack. Counting each run apart is an upper bound on the packs.
/// The scan from the relaxed highest j down stops after [`REACH_SCAN`] steps and then counts
/// the whole relaxed interval (wider intervals only weaken the bound, never break it).
fn reach_components(lim: &Limits, caps: &[i64], s: usize) -> Vec<(usize, usize)> {
    let n = caps.len();
    let Some(pct) = lim.range_pct else {
        return vec![(0, n)];
    };
    if s < 2 || n < s {
        return vec![(0, n)];
    }
    let mut pre = Vec::with_capacity(n + 1);
    pre.push(0i64);
    for &c in caps {
        pre.push(pre[pre.len() - 1] + c);
    }
    let fits = |i: usize, j: usize| {
        let best = caps[i] + caps[j] + pre[j] - pre[j + 2 - s];
        lim.range_ok(caps[j] - caps[i], best as f64 / s as f64)
    };
    let mut comps: Vec<(usize, usize)> = Vec::new();
    let mut jr = 0; // relaxed highest j, non-decreasing in i
    for i in 0..=n - s {
        jr = jr.max(i + s - 1);
        while jr + 1 < n && relaxed_spread_ok(caps[i], caps[jr + 1], s, pct) {
            jr += 1;
        }
        if !relaxed_spread_ok(caps[i], caps[jr], s, pct) || jr < i + s - 1 {
            continue;
        }
        let mut j = jr;
        let mut steps = 0;
        let reach = loop {
            if steps >= REACH_SCAN {
                break Some(jr);
            }
            if fits(i, j) {
                break Some(j);
            }
            if j == i + s - 1 {
                break None;
            }
            j -= 1;
            steps += 1;
        };
        let Some(j) = reach else { continue };
        match comps.last_mut() {
            Some(last) if i < last.1 => last.1 = last.1.max(j + 1),
            _ => comps.push((i, j + 1)),
        }
    }
    comps
}

/// Steps of the scan in [`reach_components`] for one lowest cell.
const REACH_SCAN: usize = 256;

/// Most disjoint windows `i..i + w` of `0..n` with `ok(i)`: the leftmost window that fits
/// is always part of some maximum set (windows have equal length).
pub(crate) fn greedy_windows(n: usize, w: usize, ok: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut count) = (0, 0);
    while i + w <= n {
        if ok(i) {
            count += 1;
            i += w;
        } else {
            i += 1;
        }
    }
    count
}

/// Can S cells with lowest `lo` and highest `hi` meet a spread limit of `pct` % of their
/// mean? Their mean is at most (lo + (S − 1)·hi) / S; the test is monotone (a narrower
/// lowest–highest pair passes whenever a wider one does), so a greedy over sorted windows
/// counts the most such sets exactly.
pub(crate) fn relaxed_spread_ok(lo: i64, hi: i64, s: usize, pct: f64) -> bool {
    let best_mean = (lo as f64 + (s as f64 - 1.0) * hi as f64) / s as f64;
    best_mean > 0.0 && (hi - lo) as f64 / best_mean * 100.0 <= pct + 1e-9
}

/// P = 1 with a capacity-spread limit: the most windows of S consecutive cells (of the
/// capacity-sorted `sorted`) that meet the limit, and among those the smallest worst
/// spread: binary search on the spread, counting with a greedy from the top (so the cells
/// left out are the lowest where that costs nothing). Returns the packs and spare cells.
fn cut_windows_1p(d: &Data, lim: &Limits, sorted: &[u32], s: usize) -> (Vec<Vec<u32>>, Vec<u32>) {
    let n = sorted.len();
    if n < s {
        return (Vec::new(), sorted.to_vec());
    }
    let caps: Vec<i64> = sorted.iter().map(|&c| d.cap[c as usize]).collect();
    let mut pre = Vec::with_capacity(n + 1);
    pre.push(0i64);
    for &c in &caps {
        pre.push(pre[pre.len() - 1] + c);
    }
    let span = |i: usize| caps[i + s - 1] - caps[i];
    let fits = |i: usize| lim.range_ok(span(i), (pre[i + s] - pre[i]) as f64 / s as f64);
    // Greedy from the top: the rightmost fitting window, then the next below it.
    let from_top = |t: i64| -> Vec<usize> {
        let mut starts = Vec::new();
        let mut end = n;
        while end >= s {
            let i = end - s;
            if fits(i) && span(i) <= t {
                starts.push(i);
                end = i;
            } else {
                end -= 1;
            }
        }
        starts.reverse();
        starts
    };
    let most = from_top(i64::MAX).len();
    let mut spans: Vec<i64> = (0..=n - s).filter(|&i| fits(i)).map(span).collect();
    spans.sort_unstable();
    spans.dedup();
    // The smallest spread t that still allows `most` windows.
    let (mut lo, mut hi) = (0usize, spans.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if from_top(spans[mid]).len() >= most {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let starts = spans.get(lo).map_or_else(Vec::new, |&t| from_top(t));
    let mut used = vec![false; n];
    for &st in &starts {
        used[st..st + s].iter_mut().for_each(|u| *u = true);
    }
    let spare = (0..n).filter(|&i| !used[i]).map(|i| sorted[i]).collect();
    let packs = starts
        .iter()
        .map(|&st| sorted[st..st + s].to_vec())
        .collect();
    (packs, spare)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(caps: &[i64]) -> Data {
        Data::with_caps(caps)
    }

    #[test]
    fn pack_bound_counts_ocv_compatible_groups() {
        let mut d = data(&[1000; 8]);
        // OCV clusters of 3 within 10 mV, then isolated cells: 2P groups possible = 2.
        d.ocv = vec![
            3600.0, 3605.0, 3609.0, 3700.0, 3800.0, 3900.0, 4000.0, 4100.0,
        ];
        let lim = Limits {
            ocv_mv: Some(10.0),
            ..Limits::default()
        };
        let cells: Vec<u32> = (0..8).collect();
        assert_eq!(pack_bound(&d, &lim, &cells, 1, 2).packs, 1);
        assert!(pack_bound(&d, &lim, &cells, 1, 2).exact);
        assert_eq!(pack_bound(&d, &Limits::default(), &cells, 1, 2).packs, 4);
        assert_eq!(pack_bound(&d, &lim, &cells, 2, 1).packs, 4);
    }

    #[test]
    fn one_p_windows_take_the_most_packs_within_the_spread_limit() {
        // Two modes of 4 cells each and a stray cell between them: 2S1P within 3 %.
        // Consecutive cutting of ⌊9/2⌋ = 4 windows must straddle; the most within 3 % is 4
        // only by leaving the stray out.
        let d = data(&[1000, 1001, 1002, 1003, 1500, 2000, 2001, 2002, 2003]);
        let lim = Limits {
            range_pct: Some(3.0),
            ..Limits::default()
        };
        let sorted: Vec<u32> = (0..9).collect();
        let (packs, spare) = cut_windows_1p(&d, &lim, &sorted, 2);
        assert_eq!(packs.len(), 4);
        assert_eq!(spare, vec![4]);
        let b = pack_bound(&d, &lim, &sorted, 2, 1);
        assert_eq!(b.packs, 4);
        // Three per pack: 1000..1003 gives one, 2000..2003 one; the stray fits neither.
        let (packs, _) = cut_windows_1p(&d, &lim, &sorted, 3);
        assert_eq!(packs.len(), 2);
        assert_eq!(pack_bound(&d, &lim, &sorted, 3, 1).packs, 2);
    }

    #[test]
    fn one_p_windows_minimise_the_worst_spread_among_the_most_packs() {
        // 1000, 1010, 1011, 1030, 1031 as two packs of two: {1010,1011} and {1030,1031}
        // (worst 1), leaving the lowest cell out.
        let d = data(&[1000, 1010, 1011, 1030, 1031]);
        let lim = Limits {
            range_pct: Some(3.0),
            ..Limits::default()
        };
        let sorted: Vec<u32> = (0..5).collect();
        let (packs, spare) = cut_windows_1p(&d, &lim, &sorted, 2);
        assert_eq!(packs, vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(spare, vec![0]);
    }

    #[test]
    fn relaxed_spread_uses_the_best_mean() {
        // 3 cells, 100 and 103: the best mean is (100 + 2·103) / 3 = 102, 3/102 < 3 %.
        assert!(relaxed_spread_ok(100, 103, 3, 3.0));
        assert!(!relaxed_spread_ok(100, 104, 3, 3.0));
        assert_eq!(greedy_windows(7, 2, |i| i != 1), 3);
    }

    /// Above FULL_EFFORT_CELLS with the IR phase to follow, packs within their slack get no
    /// further capacity rounds: every pack must still end within its slack, as many packs as
    /// the bound allows, none worse than the sorted snake of the built packs' cells.
    #[test]
    fn large_stocks_search_only_packs_beyond_their_slack_and_stay_within_it() {
        use crate::bench::{synthetic, Distribution};
        for dist in [Distribution::Normal, Distribution::Outliers] {
            let cells = synthetic(dist, 3_000, 7);
            let spec = dist.spec(15, 4);
            let out =
                crate::match_cells_with(&cells, &spec, &MatchOptions::default()).expect("packs");
            assert!(out.summary.eligible_cells > FULL_EFFORT_CELLS);
            assert_eq!(out.summary.packs_built, out.summary.max_possible_packs);
            assert!((out.summary.fraction_within_slack - 1.0).abs() < 1e-12);
            for pk in &out.packs {
                assert!(pk.metrics.at_bound_within_slack, "{:?}", pk.metrics);
            }
        }
    }

    #[test]
    fn stratum_packs_use_each_cell_once_and_leave_the_rest() {
        let caps: Vec<i64> = (0..103).map(|i| 2000 + (i * 37 % 97)).collect();
        let d = data(&caps);
        let ctx = Ctx {
            d: &d,
            lim: Limits::default(),
        };
        let cells: Vec<u32> = (0..103).collect();
        let plan = solve_stratum(
            &ctx,
            &cells,
            4,
            5,
            &MatchOptions::default(),
            &mut Rng::new(1),
        );
        assert_eq!(plan.packs.len(), 5);
        assert_eq!(plan.leftover.len(), 3);
        let mut all: Vec<u32> = plan.packs.iter().flat_map(|p| p.slots.clone()).collect();
        all.extend(&plan.leftover);
        all.sort_unstable();
        assert_eq!(all, cells);
    }
}
