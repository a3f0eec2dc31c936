//! Helpers shared by the integration tests.
#![allow(dead_code)]

use packwright_matching::{CellInput, MatchOutcome};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A fixture inventory from `data/cells` (plain CSV, no quoting).
pub fn fixture(name: &str) -> Vec<CellInput> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/cells")
        .join(format!("{name}.csv"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let get =
                |c: Option<usize>| c.and_then(|i| f.get(i)).copied().filter(|s| !s.is_empty());
            let num = |c: Option<usize>| get(c).map(|s| s.parse::<f64>().expect("number"));
            CellInput {
                id: get(col("id")).unwrap_or_default().to_string(),
                capacity_mah: num(col("capacity_mah")),
                ir_mohm: num(col("ir_mohm")),
                ocv_mv: num(col("ocv_v")).map(|v| v * 1000.0),
                self_discharge_mv_per_day: None,
                chemistry: get(col("chemistry")).unwrap_or("Li-ion").to_string(),
                model: get(col("model")).map(str::to_string),
            }
        })
        .collect()
}

pub fn cell(id: &str, cap: f64) -> CellInput {
    CellInput {
        id: id.to_string(),
        capacity_mah: Some(cap),
        ir_mohm: None,
        ocv_mv: None,
        self_discharge_mv_per_day: None,
        chemistry: "NMC".into(),
        model: None,
    }
}

/// Every input cell is exactly one of: in one pack, left over, rejected.
pub fn assert_accounted(cells: &[CellInput], out: &MatchOutcome) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in out
        .packs
        .iter()
        .flat_map(|p| p.groups.iter().flatten())
        .chain(out.leftover.iter())
        .chain(out.rejected.iter().map(|r| &r.id))
    {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let mut input: HashMap<&str, usize> = HashMap::new();
    for c in cells {
        *input.entry(c.id.as_str()).or_default() += 1;
    }
    assert_eq!(
        seen, input,
        "cells must be packed, left over or rejected exactly once"
    );
    let packed: Vec<&String> = out
        .packs
        .iter()
        .flat_map(|p| p.groups.iter().flatten())
        .collect();
    let unique: HashSet<&&String> = packed.iter().collect();
    assert_eq!(unique.len(), packed.len(), "a cell is in at most one pack");
}

/// Smallest group-sum range of `caps` in groups of `p`, by brute force (tiny inputs).
pub fn brute_min_range(caps: &[i64], p: usize) -> i64 {
    fn go(rest: &[i64], p: usize, sums: &mut Vec<i64>) -> i64 {
        if rest.is_empty() {
            return sums.iter().max().unwrap() - sums.iter().min().unwrap();
        }
        let (first, others) = (rest[0], &rest[1..]);
        let mut best = i64::MAX;
        for combo in combos(others.len(), p - 1) {
            let sum = first + combo.iter().map(|&i| others[i]).sum::<i64>();
            let left: Vec<i64> = (0..others.len())
                .filter(|i| !combo.contains(i))
                .map(|i| others[i])
                .collect();
            sums.push(sum);
            best = best.min(go(&left, p, sums));
            sums.pop();
        }
        best
    }
    go(caps, p, &mut Vec::new())
}

/// All k-subsets of 0..n.
pub fn combos(n: usize, k: usize) -> Vec<Vec<usize>> {
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
