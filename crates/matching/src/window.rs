//! Which surplus cells to leave out when a capacity-sorted stock is cut into packs.
//!
//! A stock of n sorted cells gives M = ⌊n / w⌋ windows of w = S·P consecutive cells and
//! r = n mod w cells to leave out. Leaving them out between windows shifts every later
//! window, so the choice is a small DP: minimise the worst window's cost.

/// Start of each of the ⌊n / w⌋ windows. `cost(start)` scores the window `start..start + w`.
/// Minimises the largest cost; among equal choices it leaves out the lowest cells (the
/// packs then hold the most capacity).
pub(crate) fn choose_windows(n: usize, w: usize, cost: impl Fn(usize) -> i64) -> Vec<usize> {
    let m = n / w;
    let r = n % w;
    if m == 0 {
        return Vec::new();
    }
    if r == 0 {
        return (0..m).map(|k| k * w).collect();
    }
    let width = r + 1;
    // best[k][j]: the least possible worst cost of windows 0..=k when window k starts at
    // k·w + j (j cells left out below it). from[k][j]: the j' used for window k − 1.
    let mut best = vec![0i64; m * width];
    let mut from = vec![0u32; m * width];
    for (j, b) in best.iter_mut().enumerate().take(width) {
        *b = cost(j);
    }
    for k in 1..m {
        // Running minimum over j' ≤ j of best[k − 1][j']; ties go to the larger j' (cells
        // left out lower down).
        let (mut run, mut arg) = (i64::MAX, 0usize);
        for j in 0..width {
            let prev = best[(k - 1) * width + j];
            if prev <= run {
                run = prev;
                arg = j;
            }
            best[k * width + j] = run.max(cost(k * w + j));
            from[k * width + j] = arg as u32;
        }
    }
    let last = &best[(m - 1) * width..];
    let mut j = 0;
    for (jj, &v) in last.iter().enumerate() {
        if v <= last[j] {
            j = jj;
        }
    }
    let mut starts = vec![0usize; m];
    for k in (0..m).rev() {
        starts[k] = k * w + j;
        if k > 0 {
            j = from[k * width + j] as usize;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All ways to place the windows (gaps only between them), by brute force.
    fn brute(n: usize, w: usize, cost: &dyn Fn(usize) -> i64) -> i64 {
        fn go(
            k: usize,
            m: usize,
            j: usize,
            r: usize,
            w: usize,
            cost: &dyn Fn(usize) -> i64,
        ) -> i64 {
            if k == m {
                return i64::MIN;
            }
            (j..=r)
                .map(|jj| cost(k * w + jj).max(go(k + 1, m, jj, r, w, cost)))
                .min()
                .unwrap_or(i64::MAX)
        }
        go(0, n / w, 0, n % w, w, cost)
    }

    #[test]
    fn dp_equals_brute_force_on_spans() {
        let caps: Vec<i64> = vec![1, 2, 3, 50, 51, 52, 53, 90, 91, 92, 200, 201, 202, 203];
        for w in 2..=5 {
            let cost = |s: usize| caps[s + w - 1] - caps[s];
            let starts = choose_windows(caps.len(), w, cost);
            let got = starts.iter().map(|&s| cost(s)).max().unwrap();
            assert_eq!(got, brute(caps.len(), w, &cost), "w={w}");
            assert!(starts.windows(2).all(|p| p[1] >= p[0] + w));
            assert!(starts.last().unwrap() + w <= caps.len());
        }
    }

    #[test]
    fn ties_leave_out_the_lowest_cells() {
        let starts = choose_windows(10, 3, |_| 0);
        assert_eq!(starts, vec![1, 4, 7]);
    }

    #[test]
    fn leaves_out_an_outlier_in_the_middle() {
        // Windows of 2 over 1,1,5,9,9: leaving out 5 gives spans 0, 0.
        let caps = [1i64, 1, 5, 9, 9];
        let starts = choose_windows(5, 2, |s| caps[s + 1] - caps[s]);
        assert_eq!(starts, vec![0, 3]);
    }

    #[test]
    fn too_few_cells_give_no_window() {
        assert!(choose_windows(3, 4, |_| 0).is_empty());
    }
}
