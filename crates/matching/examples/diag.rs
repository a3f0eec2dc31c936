#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The packs not within their balance slack for one shipped-profile case of the benchmark:
//! `cargo run --release -p packwright-matching --example diag -- PROFILE DIST CELLS [all]`
//! (e.g. `nmc-14s4p-ev outliers 5000`; `all` lists every pack; `DUMP=1` prints each listed
//! pack's cells as capacity/OCV/IR).
use packwright_matching::bench::{shipped_profiles, synthetic_scaled, Distribution};
use packwright_matching::{match_cells_with, MatchOptions};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let prof = shipped_profiles()
        .into_iter()
        .find(|p| p.name == a[0])
        .unwrap();
    let dist = match a[1].as_str() {
        "bimodal" => Distribution::Bimodal,
        "outliers" => Distribution::Outliers,
        _ => Distribution::Normal,
    };
    let n: usize = a[2].parse().unwrap();
    let cells = synthetic_scaled(
        dist,
        n,
        2024,
        prof.nominal_mah,
        prof.spec.ir_ceiling_mohm.unwrap() / dist.ir_ceiling_mohm(),
        &prof.spec.chemistry,
    );
    let t = Instant::now();
    let out = match_cells_with(
        &cells,
        &prof.spec,
        &MatchOptions {
            seed: 2024,
            ..MatchOptions::default()
        },
    )
    .unwrap();
    println!(
        "{:.1} ms packs {} max {} within {:.4} irCV {:?}",
        t.elapsed().as_secs_f64() * 1e3,
        out.packs.len(),
        out.summary.max_possible_packs,
        out.summary.fraction_within_slack,
        out.summary.median_group_ir_cv_pct
    );
    for pk in &out.packs {
        let m = &pk.metrics;
        if !m.at_bound_within_slack || a.len() > 3 {
            if std::env::var("DUMP").is_ok() {
                for g in &pk.groups {
                    let v: Vec<String> = g
                        .iter()
                        .map(|id| {
                            let c = cells.iter().find(|c| &c.id == id).unwrap();
                            format!(
                                "{}/{:.0}/{:.2}",
                                c.capacity_mah.unwrap(),
                                c.ocv_mv.unwrap_or(0.0),
                                c.ir_mohm.unwrap_or(0.0)
                            )
                        })
                        .collect();
                    println!("  {}", v.join(" "));
                }
            }
            println!(
                "#{} range {} bound {} {:?} slack {} note {:?}",
                pk.index,
                m.range_mah,
                m.lower_bound_range_mah,
                m.lower_bound_kind,
                m.balance_slack_mah,
                m.bound_note
            );
        }
    }
}
