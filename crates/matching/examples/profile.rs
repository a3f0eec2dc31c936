//! Times one synthetic case: `cargo run --release --example profile -- outliers 1000000 16 2`.
use packwright_matching::bench::{synthetic, Distribution};
use packwright_matching::match_cells;
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
    let cells = synthetic(dist, n, 2024);
    let spec = dist.spec(s, p);
    for _ in 0..num(4, 3) {
        let t = Instant::now();
        match match_cells(&cells, &spec) {
            Ok(out) => println!(
                "{:.1} ms  packs {}  worst {:?}",
                t.elapsed().as_secs_f64() * 1e3,
                out.packs.len(),
                out.summary.worst_pack.map(|w| w.range_mah)
            ),
            Err(e) => println!("{e}"),
        }
    }
}
