//! The baselines the matcher is measured against (matching.md §5.3). Each fills the same
//! number of packs per model class as the stock allows, from the same eligible cells, and
//! ignores the in-group limits (the benchmark counts their violations).

use crate::data::Data;
use crate::rng::Rng;

/// Packs (group-major cell indices) from one stratum.
type Packs = Vec<Vec<u32>>;

/// The `count` highest-capacity cells, descending.
fn top_desc(d: &Data, cells: &[u32], count: usize) -> Vec<u32> {
    let mut v = cells.to_vec();
    v.sort_by_key(|&c| (std::cmp::Reverse(d.cap[c as usize]), c));
    v.truncate(count);
    v
}

/// Sorted snake (boustrophedon), the usual manual practice and kuking's starting layout:
/// the top cells, pack by pack, dealt left-right then right-left over the S groups.
pub(crate) fn sorted_snake(d: &Data, cells: &[u32], s: usize, p: usize) -> Packs {
    let w = s * p;
    let m = cells.len() / w;
    top_desc(d, cells, m * w)
        .chunks(w)
        .map(|chunk| {
            let mut slots = vec![0u32; w];
            for (k, &c) in chunk.iter().enumerate() {
                let (layer, i) = (k / s, k % s);
                let g = if layer % 2 == 0 { i } else { s - 1 - i };
                slots[g * p + layer] = c;
            }
            slots
        })
        .collect()
}

/// Re-implementation of repackr.com (chrisabird/pack-builder `anneal.cljs`): per pack, the
/// next S·P cells by capacity cut into consecutive groups of P, then annealing on
/// Σ|group − mean| with random 2-swaps: temperature 1.0 × 0.93 per step while above 10⁻⁶,
/// 100 proposals per temperature (19,100 in all), accept when exp((old − new)/t) > rand.
/// As in the original, the last position is never drawn.
pub(crate) fn repackr(d: &Data, cells: &[u32], s: usize, p: usize, rng: &mut Rng) -> Packs {
    let w = s * p;
    let m = cells.len() / w;
    top_desc(d, cells, m * w)
        .chunks(w)
        .map(|chunk| {
            let mut slots = chunk.to_vec();
            if p > 1 && s > 1 {
                anneal(d, &mut slots, s, p, rng);
            }
            slots
        })
        .collect()
}

fn anneal(d: &Data, slots: &mut [u32], s: usize, p: usize, rng: &mut Rng) {
    let cap = |c: u32| d.cap[c as usize] as f64;
    let mut sums: Vec<f64> = slots
        .chunks(p)
        .map(|g| g.iter().map(|&c| cap(c)).sum())
        .collect();
    let avg = sums.iter().sum::<f64>() / s as f64;
    let mut cost: f64 = sums.iter().map(|x| (x - avg).abs()).sum();
    let n = slots.len();
    let mut t = 1.0f64;
    while t > 1e-6 {
        for _ in 0..100 {
            let (i, j) = (rng.below(n - 1), rng.below(n - 1));
            let (gi, gj) = (i / p, j / p);
            if gi == gj {
                continue; // same group: the cost does not change, the swap is moot
            }
            let delta = cap(slots[j]) - cap(slots[i]);
            let (ni, nj) = (sums[gi] + delta, sums[gj] - delta);
            let new = cost - (sums[gi] - avg).abs() - (sums[gj] - avg).abs()
                + (ni - avg).abs()
                + (nj - avg).abs();
            if ((cost - new) / t).exp() > rng.unit() {
                slots.swap(i, j);
                sums[gi] = ni;
                sums[gj] = nj;
                cost = new;
            }
        }
        t *= 0.93;
    }
}

/// Random: shuffle, then cut packs and groups in order.
pub(crate) fn random(cells: &[u32], s: usize, p: usize, rng: &mut Rng) -> Packs {
    let w = s * p;
    let mut v = cells.to_vec();
    rng.shuffle(&mut v);
    v.truncate(cells.len() / w * w);
    v.chunks(w).map(<[u32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(caps: &[i64]) -> Data {
        Data::with_caps(caps)
    }

    fn sums(d: &Data, slots: &[u32], p: usize) -> Vec<i64> {
        slots
            .chunks(p)
            .map(|g| g.iter().map(|&c| d.cap[c as usize]).sum())
            .collect()
    }

    #[test]
    fn snake_deals_boustrophedon_from_the_top() {
        let d = data(&[10, 20, 30, 40, 50, 60, 1]);
        let packs = sorted_snake(&d, &(0..7).collect::<Vec<_>>(), 3, 2);
        assert_eq!(packs.len(), 1);
        // 60 50 40 | 30 20 10 reversed → groups (60,10) (50,20) (40,30)
        assert_eq!(sums(&d, &packs[0], 2), vec![70, 70, 70]);
    }

    #[test]
    fn repackr_balances_a_pack_and_keeps_its_cells() {
        let caps: Vec<i64> = (0..24).map(|i| 1000 + 13 * i).collect();
        let d = data(&caps);
        let cells: Vec<u32> = (0..24).collect();
        let packs = repackr(&d, &cells, 6, 4, &mut Rng::new(3));
        let s = sums(&d, &packs[0], 4);
        let range = s.iter().max().unwrap() - s.iter().min().unwrap();
        // Consecutive chunks start at a range of 13·4·4·5 = 1040 mAh.
        assert!(range < 60, "range {range}");
        let mut all = packs.concat();
        all.sort_unstable();
        assert_eq!(all, cells);
    }

    #[test]
    fn random_fills_whole_packs_only() {
        let packs = random(&(0..50).collect::<Vec<_>>(), 4, 3, &mut Rng::new(1));
        assert_eq!(packs.len(), 4);
        assert!(packs.iter().all(|p| p.len() == 12));
    }
}
