//! Balanced largest differencing (BLDM): the starting partition of one pack.
//!
//! Sort the S·P cells, cut them into P layers of S, and repeatedly fold the two layers
//! (partial partitions) with the largest spread: the largest partial group of one takes the
//! smallest of the other. Every group ends with exactly one cell from each layer. With P = 2
//! this is the fold, which is range-optimal.

/// Partitions `cells` (sorted by capacity ascending, exactly `s·p` of them) into `s` groups
/// of `p`; returns them group-major (`out[g·p..(g+1)·p]` is group g).
pub(crate) fn bldm(cells: &[u32], cap: &[i64], s: usize, p: usize) -> Vec<u32> {
    let n = s * p;
    debug_assert_eq!(cells.len(), n);
    // Partial groups as linked lists over local positions 0..n, so a fold is O(1) per group.
    let mut next = vec![u32::MAX; n];
    #[derive(Clone, Copy)]
    struct Part {
        sum: i64,
        head: u32,
        tail: u32,
    }
    // Layer l holds positions l·s .. (l+1)·s of the descending order.
    let mut layers: Vec<Vec<Part>> = (0..p)
        .map(|l| {
            (0..s)
                .map(|i| {
                    let pos = (n - 1 - (l * s + i)) as u32;
                    Part {
                        sum: cap[cells[pos as usize] as usize],
                        head: pos,
                        tail: pos,
                    }
                })
                .collect()
        })
        .collect();
    let spread = |l: &Vec<Part>| {
        let (lo, hi) = l.iter().fold((i64::MAX, i64::MIN), |(lo, hi), x| {
            (lo.min(x.sum), hi.max(x.sum))
        });
        hi - lo
    };
    while layers.len() > 1 {
        // The two layers with the largest spreads.
        let mut order: Vec<(i64, usize)> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| (spread(l), i))
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let (i, j) = (order[0].1.min(order[1].1), order[0].1.max(order[1].1));
        let mut b = layers.swap_remove(j);
        let mut a = layers.swap_remove(i);
        a.sort_unstable_by_key(|x| std::cmp::Reverse(x.sum));
        b.sort_unstable_by_key(|x| x.sum);
        let merged: Vec<Part> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| {
                next[x.tail as usize] = y.head;
                Part {
                    sum: x.sum + y.sum,
                    head: x.head,
                    tail: y.tail,
                }
            })
            .collect();
        layers.push(merged);
    }
    let mut out = Vec::with_capacity(n);
    for part in &layers[0] {
        let mut at = part.head;
        while at != u32::MAX {
            out.push(cells[at as usize]);
            at = next[at as usize];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(groups: &[u32], cap: &[i64], p: usize) -> Vec<i64> {
        groups
            .chunks(p)
            .map(|g| g.iter().map(|&c| cap[c as usize]).sum())
            .collect()
    }

    #[test]
    fn p2_is_the_fold() {
        let cap: Vec<i64> = vec![1, 2, 4, 5, 8, 9];
        let cells: Vec<u32> = (0..6).collect();
        let out = bldm(&cells, &cap, 3, 2);
        let mut s = sums(&out, &cap, 2);
        s.sort_unstable();
        assert_eq!(s, vec![9, 10, 10]);
    }

    #[test]
    fn every_cell_once_and_groups_of_p() {
        let cap: Vec<i64> = (0..60).map(|i| 1000 + (i * 37 % 101)).collect();
        let mut cells: Vec<u32> = (0..60).collect();
        cells.sort_by_key(|&c| cap[c as usize]);
        let out = bldm(&cells, &cap, 15, 4);
        let mut seen = out.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..60).collect::<Vec<_>>());
        let s = sums(&out, &cap, 4);
        assert_eq!(s.len(), 15);
        // BLDM on a smooth set is near perfect: far below the cells' own spread.
        let range = s.iter().max().unwrap() - s.iter().min().unwrap();
        assert!(range <= 10, "range {range}");
    }

    #[test]
    fn each_group_takes_one_cell_per_layer() {
        let cap: Vec<i64> = (0..12).map(|i| 100 * i).collect();
        let cells: Vec<u32> = (0..12).collect();
        let out = bldm(&cells, &cap, 4, 3);
        for g in out.chunks(3) {
            let mut layers: Vec<usize> = g.iter().map(|&c| c as usize / 4).collect();
            layers.sort_unstable();
            assert_eq!(layers, vec![0, 1, 2]);
        }
    }
}
