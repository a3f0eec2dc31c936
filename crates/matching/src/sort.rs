//! Sorting cell indices by capacity.

/// Sorts `idx` by capacity ascending; ties keep their order, so results are reproducible.
/// Capacities are whole mAh in a narrow band, so a counting sort beats a comparison sort by
/// a wide margin on large inventories; wide or tiny inputs fall back to the standard sort.
pub(crate) fn sort_by_cap(idx: &mut [u32], cap: &[i64]) {
    if idx.len() < 256 {
        idx.sort_by_key(|&i| cap[i as usize]);
        return;
    }
    let (lo, hi) = idx.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &i| {
        let c = cap[i as usize];
        (lo.min(c), hi.max(c))
    });
    let span = (hi - lo) as u64 + 1;
    if span > 4 * idx.len() as u64 + 4096 {
        idx.sort_by_key(|&i| cap[i as usize]);
        return;
    }
    let mut start = vec![0u32; span as usize + 1];
    for &i in idx.iter() {
        start[(cap[i as usize] - lo) as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut out = vec![0u32; idx.len()];
    for &i in idx.iter() {
        let b = (cap[i as usize] - lo) as usize;
        out[start[b] as usize] = i;
        start[b] += 1;
    }
    idx.copy_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn counting_and_comparison_paths_agree_and_are_stable() {
        let mut r = Rng::new(5);
        for (n, width) in [(100, 50), (5000, 300), (5000, 10_000_000)] {
            let cap: Vec<i64> = (0..n).map(|_| 1000 + r.below(width) as i64).collect();
            let mut idx: Vec<u32> = (0..n as u32).rev().collect();
            let mut expect = idx.clone();
            expect.sort_by_key(|&i| cap[i as usize]); // std sort is stable
            sort_by_cap(&mut idx, &cap);
            assert_eq!(idx, expect, "n={n} width={width}");
        }
    }
}
