#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Times one synthetic case:
//! `cargo run --release --example profile -- DIST CELLS S P [RUNS] [ROUNDS_PER_PACK]`;
//! DIST may be a CSV whose first two columns are id and capacity_mah.
use packwright_matching::bench::{synthetic, Distribution};
use packwright_matching::{match_cells_with, CellInput, MatchOptions, MatchSpec};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dist = match a.first().map(String::as_str) {
        Some("bimodal") => Distribution::Bimodal,
        Some("outliers") => Distribution::Outliers,
        Some("mixed") => Distribution::MixedModels,
        _ => Distribution::Normal,
    };
    let num = |i: usize, d: usize| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (n, s, p) = (num(1, 1_000_000), num(2, 16), num(3, 2));
    let (cells, spec) = match a.first() {
        Some(path) if path.ends_with(".csv") => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let cells: Vec<CellInput> = text
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    Some(CellInput {
                        id: f.first()?.to_string(),
                        capacity_mah: f.get(1)?.parse().ok(),
                        ir_mohm: None,
                        ocv_mv: None,
                        self_discharge_mv_per_day: None,
                        chemistry: "x".into(),
                        model: None,
                    })
                })
                .collect();
            (cells, MatchSpec::new(s, p, "x"))
        }
        _ => (synthetic(dist, n, 2024), dist.spec(s, p)),
    };
    for _ in 0..num(4, 3) {
        let t = Instant::now();
        let opts = MatchOptions {
            search_rounds_per_pack: num(5, MatchOptions::default().search_rounds_per_pack),
            ..MatchOptions::default()
        };
        match match_cells_with(&cells, &spec, &opts) {
            Ok(out) => println!(
                "{:.1} ms  packs {}  worst {:?}  at bound {:.3}",
                t.elapsed().as_secs_f64() * 1e3,
                out.packs.len(),
                out.summary
                    .worst_pack
                    .map(|w| (w.range_mah, w.lower_bound_range_mah)),
                out.summary.fraction_at_lower_bound
            ),
            Err(e) => println!("{e}"),
        }
        if let (Ok(out), true) = (
            match_cells_with(&cells, &spec, &MatchOptions::default()),
            n <= 300,
        ) {
            if let Some(w) = &out.summary.worst_pack {
                let pk = &out.packs[w.index - 1];
                let cap = |id: &String| {
                    cells
                        .iter()
                        .find(|c| &c.id == id)
                        .and_then(|c| c.capacity_mah)
                        .unwrap_or(0.0)
                };
                let mut caps: Vec<f64> = pk.groups.iter().flatten().map(cap).collect();
                caps.sort_by(f64::total_cmp);
                println!("worst pack cells {caps:?}");
                println!("groups {:?}", pk.metrics.group_capacities_mah);
            }
        }
    }
}
