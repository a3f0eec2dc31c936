use packwright_matching::bench::{shipped_profiles, synthetic_scaled, Distribution};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prof = shipped_profiles()
        .into_iter()
        .find(|p| p.name == args[1])
        .unwrap();
    let n: usize = args[2].parse().unwrap();
    let cells = synthetic_scaled(
        Distribution::Normal,
        n,
        2024,
        prof.nominal_mah,
        prof.spec.ir_ceiling_mohm.unwrap() / 100.0,
        &prof.spec.chemistry,
    );
    let o = packwright_matching::match_cells(&cells, &prof.spec).unwrap();
    for p in o.packs.iter().filter(|p| !p.metrics.at_bound_within_slack) {
        let m = &p.metrics;
        println!(
            "{} range {} lb {} {:?} slack {} ",
            p.index, m.range_mah, m.lower_bound_range_mah, m.lower_bound_kind, m.balance_slack_mah
        );
    }
    println!(
        "{:?}",
        o.summary.dropped_packs.iter().take(3).collect::<Vec<_>>()
    );
    println!("{}", o.summary.strata[0].max_packs_note);
}
