//! P = 2 under in-group limits, exactly: the least range of S pairs from 2·S cells when only
//! some pairs are allowed (OCV/IR within the limits).
//!
//! A pairing with every pair sum in [lo, hi] is a perfect matching of the graph whose edges
//! are the allowed pairs with a sum in that band. Over the allowed pairs sorted by sum, the
//! least `hi` that admits a perfect matching never decreases as `lo` rises, so a two-pointer
//! sweep needs at most two matching checks per pair. Each check augments the matching kept
//! from the previous window (Edmonds' blossom search from the unmatched cells), so the sweep
//! is polynomial and needs no budget: the result is the optimum, and so also a proof.

const NONE: usize = usize::MAX;

/// Cells this search handles (adjacency rows are `u128`).
pub(crate) const MAX_CELLS: usize = 128;

/// The best pairing found and its range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pairing {
    pub range: i64,
    /// Cell indices, pair-major.
    pub pairs: Vec<usize>,
}

/// The least-range perfect pairing of `caps` using only pairs `ok` allows, if its range is
/// below `best` (`None`: no allowed pairing beats `best`, so `best` is optimal when some
/// allowed pairing reaches it). Windows narrower than `lower` (a valid lower bound) are not
/// checked; a pairing at `lower` ends the sweep.
pub(crate) fn least_range(
    caps: &[i64],
    ok: &dyn Fn(usize, usize) -> bool,
    lower: i64,
    best: i64,
) -> Option<Pairing> {
    sweep(caps, ok, lower, best, false)
}

/// Some allowed pairing with a range below `best`, if one exists (not the least).
pub(crate) fn any_below(
    caps: &[i64],
    ok: &dyn Fn(usize, usize) -> bool,
    lower: i64,
    best: i64,
) -> Option<Pairing> {
    sweep(caps, ok, lower, best, true)
}

fn sweep(
    caps: &[i64],
    ok: &dyn Fn(usize, usize) -> bool,
    lower: i64,
    best: i64,
    first: bool,
) -> Option<Pairing> {
    let n = caps.len();
    if n < 2 || !n.is_multiple_of(2) || n > MAX_CELLS {
        return None;
    }
    let mut edges: Vec<(i64, usize, usize)> = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if ok(i, j) {
                edges.push((caps[i] + caps[j], i, j));
            }
        }
    }
    edges.sort_unstable();
    let mut g = Matcher::new(n);
    let mut deg = vec![0u32; n];
    let mut isolated = n;
    let (mut best, mut found) = (best, None);
    let (mut a, mut b) = (0usize, 0usize);
    while a < edges.len() && best > lower {
        let lo = edges[a].0;
        // The widest window that could still beat `best`: if it holds no perfect matching,
        // no narrower one with this lowest sum does.
        while b < edges.len() && edges[b].0 - lo < best {
            let (_, i, j) = edges[b];
            g.add(i, j);
            for v in [i, j] {
                if deg[v] == 0 {
                    isolated -= 1;
                }
                deg[v] += 1;
            }
            b += 1;
        }
        while b > a && isolated == 0 && edges[b - 1].0 - lo >= lower && g.complete() {
            let pairs = g.pairs();
            let sums: Vec<i64> = pairs.chunks(2).map(|p| caps[p[0]] + caps[p[1]]).collect();
            best = sums.iter().max().unwrap_or(&0) - sums.iter().min().unwrap_or(&0);
            found = Some(Pairing { range: best, pairs });
            if first || best <= lower {
                return found;
            }
            // Look for a narrower one with the same lowest sum.
            while b > a && edges[b - 1].0 - lo >= best {
                let (_, i, j) = edges[b - 1];
                g.remove(i, j);
                for v in [i, j] {
                    deg[v] -= 1;
                    if deg[v] == 0 {
                        isolated += 1;
                    }
                }
                b -= 1;
            }
        }
        // Drop the lowest pair sum from the window.
        if a < b {
            let (_, i, j) = edges[a];
            g.remove(i, j);
            for v in [i, j] {
                deg[v] -= 1;
                if deg[v] == 0 {
                    isolated += 1;
                }
            }
        }
        a += 1;
        b = b.max(a);
    }
    found
}

/// The most disjoint pairs of `n` cells (at most [`MAX_CELLS`]) that `ok` allows: a
/// maximum-cardinality matching (Edmonds), so exact.
pub(crate) fn most_pairs(n: usize, ok: &dyn Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    if n > MAX_CELLS {
        return Vec::new();
    }
    let mut g = Matcher::new(n);
    for i in 0..n {
        for j in i + 1..n {
            if ok(i, j) {
                g.add(i, j);
            }
        }
    }
    g.complete();
    g.pairs().chunks(2).map(|p| (p[0], p[1])).collect()
}

/// The size of a maximum matching of a graph given by adjacency lists (any size): a greedy
/// start, then Edmonds' augmenting-path search from every unmatched vertex.
pub(crate) fn max_matching_size(adj: &[Vec<u32>]) -> usize {
    let n = adj.len();
    let mut m = Big {
        adj,
        mate: vec![NONE; n],
        parent: vec![NONE; n],
        base: (0..n).collect(),
        used: vec![false; n],
        blossom: vec![false; n],
        seen: vec![false; n],
        queue: Vec::with_capacity(n),
    };
    let mut size = 0;
    for (v, near) in adj.iter().enumerate() {
        if m.mate[v] == NONE {
            if let Some(&u) = near
                .iter()
                .find(|&&u| m.mate[u as usize] == NONE && u as usize != v)
            {
                m.mate[v] = u as usize;
                m.mate[u as usize] = v;
                size += 1;
            }
        }
    }
    for (r, near) in adj.iter().enumerate() {
        if m.mate[r] == NONE && !near.is_empty() {
            if let Some(v) = m.find_path(r) {
                m.augment(v);
                size += 1;
            }
        }
    }
    size
}

/// Edmonds' search on adjacency lists (see [`Matcher`], which keeps rows as bit sets).
struct Big<'a> {
    adj: &'a [Vec<u32>],
    mate: Vec<usize>,
    parent: Vec<usize>,
    base: Vec<usize>,
    used: Vec<bool>,
    blossom: Vec<bool>,
    seen: Vec<bool>,
    queue: Vec<usize>,
}

impl Big<'_> {
    fn augment(&mut self, mut v: usize) {
        while v != NONE {
            let pv = self.parent[v];
            let ppv = self.mate[pv];
            self.mate[v] = pv;
            self.mate[pv] = v;
            v = ppv;
        }
    }

    fn lca(&mut self, mut a: usize, mut b: usize) -> usize {
        let mut marked = Vec::new();
        loop {
            a = self.base[a];
            self.seen[a] = true;
            marked.push(a);
            if self.mate[a] == NONE {
                break;
            }
            a = self.parent[self.mate[a]];
        }
        let found = loop {
            b = self.base[b];
            if self.seen[b] {
                break b;
            }
            b = self.parent[self.mate[b]];
        };
        for x in marked {
            self.seen[x] = false;
        }
        found
    }

    fn mark_path(&mut self, mut v: usize, b: usize, mut child: usize) {
        while self.base[v] != b {
            self.blossom[self.base[v]] = true;
            self.blossom[self.base[self.mate[v]]] = true;
            self.parent[v] = child;
            child = self.mate[v];
            v = self.parent[self.mate[v]];
        }
    }

    fn find_path(&mut self, root: usize) -> Option<usize> {
        let n = self.adj.len();
        self.used.iter_mut().for_each(|u| *u = false);
        self.parent.iter_mut().for_each(|p| *p = NONE);
        for (i, b) in self.base.iter_mut().enumerate() {
            *b = i;
        }
        self.used[root] = true;
        self.queue.clear();
        self.queue.push(root);
        let mut head = 0;
        while head < self.queue.len() {
            let v = self.queue[head];
            head += 1;
            for k in 0..self.adj[v].len() {
                let to = self.adj[v][k] as usize;
                if self.base[v] == self.base[to] || self.mate[v] == to {
                    continue;
                }
                if to == root || (self.mate[to] != NONE && self.parent[self.mate[to]] != NONE) {
                    let cb = self.lca(v, to);
                    self.blossom.iter_mut().for_each(|b| *b = false);
                    self.mark_path(v, cb, to);
                    self.mark_path(to, cb, v);
                    for i in 0..n {
                        if self.blossom[self.base[i]] {
                            self.base[i] = cb;
                            if !self.used[i] {
                                self.used[i] = true;
                                self.queue.push(i);
                            }
                        }
                    }
                } else if self.parent[to] == NONE {
                    self.parent[to] = v;
                    if self.mate[to] == NONE {
                        return Some(to);
                    }
                    let next = self.mate[to];
                    self.used[next] = true;
                    self.queue.push(next);
                }
            }
        }
        None
    }
}

/// A maximum-cardinality matching kept across edge insertions and removals.
struct Matcher {
    n: usize,
    adj: Vec<u128>,
    mate: Vec<usize>,
    size: usize,
    parent: Vec<usize>,
    base: Vec<usize>,
    used: Vec<bool>,
    blossom: Vec<bool>,
    queue: Vec<usize>,
}

impl Matcher {
    fn new(n: usize) -> Self {
        Matcher {
            n,
            adj: vec![0; n],
            mate: vec![NONE; n],
            size: 0,
            parent: vec![NONE; n],
            base: (0..n).collect(),
            used: vec![false; n],
            blossom: vec![false; n],
            queue: Vec::with_capacity(n),
        }
    }

    fn add(&mut self, i: usize, j: usize) {
        self.adj[i] |= 1u128 << j;
        self.adj[j] |= 1u128 << i;
    }

    fn remove(&mut self, i: usize, j: usize) {
        self.adj[i] &= !(1u128 << j);
        self.adj[j] &= !(1u128 << i);
        if self.mate[i] == j {
            self.mate[i] = NONE;
            self.mate[j] = NONE;
            self.size -= 1;
        }
    }

    /// Augments until no unmatched cell has an augmenting path; true when every cell is
    /// matched.
    fn complete(&mut self) -> bool {
        loop {
            if 2 * self.size == self.n {
                return true;
            }
            let mut grew = false;
            for r in 0..self.n {
                if self.mate[r] == NONE {
                    if let Some(v) = self.find_path(r) {
                        self.augment(v);
                        grew = true;
                    }
                }
            }
            if !grew {
                return 2 * self.size == self.n;
            }
        }
    }

    /// Pair-major list of the matched cells.
    fn pairs(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.n);
        for v in 0..self.n {
            let m = self.mate[v];
            if m != NONE && v < m {
                out.push(v);
                out.push(m);
            }
        }
        out
    }

    fn augment(&mut self, mut v: usize) {
        while v != NONE {
            let pv = self.parent[v];
            let ppv = self.mate[pv];
            self.mate[v] = pv;
            self.mate[pv] = v;
            v = ppv;
        }
        self.size += 1;
    }

    fn lca(&self, mut a: usize, mut b: usize) -> usize {
        let mut seen = 0u128;
        loop {
            a = self.base[a];
            seen |= 1u128 << a;
            if self.mate[a] == NONE {
                break;
            }
            a = self.parent[self.mate[a]];
        }
        loop {
            b = self.base[b];
            if seen & (1u128 << b) != 0 {
                return b;
            }
            b = self.parent[self.mate[b]];
        }
    }

    fn mark_path(&mut self, mut v: usize, b: usize, mut child: usize) {
        while self.base[v] != b {
            self.blossom[self.base[v]] = true;
            self.blossom[self.base[self.mate[v]]] = true;
            self.parent[v] = child;
            child = self.mate[v];
            v = self.parent[self.mate[v]];
        }
    }

    /// Edmonds' search from the unmatched `root`: the free end of an augmenting path.
    fn find_path(&mut self, root: usize) -> Option<usize> {
        self.used.iter_mut().for_each(|u| *u = false);
        self.parent.iter_mut().for_each(|p| *p = NONE);
        for (i, b) in self.base.iter_mut().enumerate() {
            *b = i;
        }
        self.used[root] = true;
        self.queue.clear();
        self.queue.push(root);
        let mut head = 0;
        while head < self.queue.len() {
            let v = self.queue[head];
            head += 1;
            let mut bits = self.adj[v];
            while bits != 0 {
                let to = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.base[v] == self.base[to] || self.mate[v] == to {
                    continue;
                }
                if to == root || (self.mate[to] != NONE && self.parent[self.mate[to]] != NONE) {
                    let cb = self.lca(v, to);
                    self.blossom.iter_mut().for_each(|b| *b = false);
                    self.mark_path(v, cb, to);
                    self.mark_path(to, cb, v);
                    for i in 0..self.n {
                        if self.blossom[self.base[i]] {
                            self.base[i] = cb;
                            if !self.used[i] {
                                self.used[i] = true;
                                self.queue.push(i);
                            }
                        }
                    }
                } else if self.parent[to] == NONE {
                    self.parent[to] = v;
                    if self.mate[to] == NONE {
                        return Some(to);
                    }
                    let next = self.mate[to];
                    self.used[next] = true;
                    self.queue.push(next);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: every perfect pairing of allowed pairs, the least range.
    fn brute(caps: &[i64], ok: &dyn Fn(usize, usize) -> bool) -> Option<i64> {
        fn go(
            caps: &[i64],
            ok: &dyn Fn(usize, usize) -> bool,
            used: &mut Vec<bool>,
            sums: &mut Vec<i64>,
            best: &mut Option<i64>,
        ) {
            let Some(i) = used.iter().position(|u| !u) else {
                let r = sums.iter().max().unwrap() - sums.iter().min().unwrap();
                if best.is_none_or(|b| r < b) {
                    *best = Some(r);
                }
                return;
            };
            used[i] = true;
            for j in i + 1..caps.len() {
                if !used[j] && ok(i, j) {
                    used[j] = true;
                    sums.push(caps[i] + caps[j]);
                    go(caps, ok, used, sums, best);
                    sums.pop();
                    used[j] = false;
                }
            }
            used[i] = false;
        }
        let mut best = None;
        go(
            caps,
            ok,
            &mut vec![false; caps.len()],
            &mut Vec::new(),
            &mut best,
        );
        best
    }

    #[test]
    fn equals_brute_force_on_random_limited_instances() {
        let mut r = crate::rng::Rng::new(7);
        for case in 0..400 {
            let n = 2 * (1 + r.below(6));
            let caps: Vec<i64> = (0..n).map(|_| 1000 + r.below(200) as i64).collect();
            let tag: Vec<i64> = (0..n).map(|_| r.below(40) as i64).collect();
            let width = 5 + r.below(30) as i64;
            let ok = |i: usize, j: usize| (tag[i] - tag[j]).abs() <= width;
            let want = brute(&caps, &ok);
            let got = least_range(&caps, &ok, 0, i64::MAX).map(|p| p.range);
            assert_eq!(
                got, want,
                "case {case}: caps {caps:?} tags {tag:?} w {width}"
            );
            if let Some(p) = least_range(&caps, &ok, 0, i64::MAX) {
                let mut seen = p.pairs.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
                assert!(p.pairs.chunks(2).all(|q| ok(q[0], q[1])));
            }
        }
    }

    #[test]
    fn equals_brute_force_on_random_graphs() {
        // Arbitrary allowed pairs (not an interval structure): odd cycles, so blossoms.
        let mut r = crate::rng::Rng::new(11);
        for case in 0..400 {
            let n = 2 * (1 + r.below(6));
            let caps: Vec<i64> = (0..n).map(|_| 500 + r.below(100) as i64).collect();
            let density = 2 + r.below(8);
            let mut allowed = vec![false; n * n];
            for i in 0..n {
                for j in i + 1..n {
                    let yes = r.below(10) < density;
                    allowed[i * n + j] = yes;
                    allowed[j * n + i] = yes;
                }
            }
            let ok = |i: usize, j: usize| allowed[i * n + j];
            let want = brute(&caps, &ok);
            let got = least_range(&caps, &ok, 0, i64::MAX).map(|p| p.range);
            assert_eq!(got, want, "case {case}: caps {caps:?}");
            if let Some(w) = want {
                let some = any_below(&caps, &ok, 0, w + 1 + case as i64 % 7);
                assert!(some.is_some_and(|p| p.range <= w + case as i64 % 7));
                assert_eq!(any_below(&caps, &ok, 0, w), None);
            }
        }
    }

    #[test]
    fn list_matching_equals_the_bit_set_one() {
        let mut r = crate::rng::Rng::new(5);
        for _ in 0..300 {
            let n = 1 + r.below(40);
            let density = 1 + r.below(6);
            let mut allowed = vec![false; n * n];
            let mut adj = vec![Vec::new(); n];
            for i in 0..n {
                for j in i + 1..n {
                    if r.below(12) < density {
                        allowed[i * n + j] = true;
                        adj[i].push(j as u32);
                        adj[j].push(i as u32);
                    }
                }
            }
            let want = most_pairs(n, &|i, j| allowed[i * n + j]).len();
            assert_eq!(max_matching_size(&adj), want);
        }
    }

    #[test]
    fn a_blossom_is_needed_and_found() {
        // Odd cycle 0-1-2 plus 2-3 and 0..: the only perfect matching is {0,1},{2,3}... with a
        // triangle and a pendant the search must contract the triangle.
        let caps = vec![10, 20, 30, 40, 50, 60];
        let allowed = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (1, 5)];
        let ok = |i: usize, j: usize| allowed.contains(&(i.min(j), i.max(j)));
        assert_eq!(
            least_range(&caps, &ok, 0, i64::MAX).map(|p| p.range),
            brute(&caps, &ok)
        );
        // Nothing beats a given best: None.
        let best = brute(&caps, &ok).unwrap();
        assert_eq!(least_range(&caps, &ok, 0, best), None);
    }
}
