//! Benchmark: the matcher and the baselines side by side on the same inventories, with
//! quality (range, bound, share of packs at their bound, utilisation, IR) and time.
//!
//! No I/O: the caller loads real inventories and prints the report (`Display` gives a plain
//! text table, `Serialize` the same figures as JSON).

mod baselines;
mod profiles;
mod synth;

pub use profiles::{shipped_profiles, ShippedProfile};
pub use synth::{synthetic, synthetic_scaled, Distribution};

use crate::data::Limits;
use crate::filter::{intake, validate_spec};
use crate::metrics::{pack_metrics, run_stats, RunStats};
use crate::model::{CellInput, MatchSpec, PackMetrics};
use crate::rng::Rng;
use crate::solve::MatchOptions;
use serde::Serialize;
use std::fmt;
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchConfig {
    /// Synthetic inventory sizes (cells).
    pub sizes: Vec<usize>,
    pub distributions: Vec<Distribution>,
    /// (S, P) for the synthetic inventories.
    pub configs: Vec<(usize, usize)>,
    /// (S, P) tried on every real inventory; shapes larger than a set are reported as such.
    pub real_configs: Vec<(usize, usize)>,
    /// Timed runs of the matcher per case (the median is reported).
    pub repeats: usize,
    pub seed: u64,
    /// Also run the matcher with this `ir_weight` (the capacity/IR trade-off, both ways).
    pub ir_weight_variant: Option<f64>,
    /// Skip the repackr re-implementation above this many cells (it costs 19,100
    /// proposals per pack).
    pub repackr_max_cells: usize,
    /// Run the baselines (off: the matcher alone, for timing).
    pub baselines: bool,
    /// Inventory sizes for the shipped profiles (empty: none).
    pub profile_sizes: Vec<usize>,
    /// Distributions the shipped profiles run on (scaled to each profile's cell).
    pub profile_distributions: Vec<Distribution>,
}

impl BenchConfig {
    /// The benchmark: 10², 10⁴, 10⁶ cells × four distributions × four shapes.
    pub fn full() -> Self {
        BenchConfig {
            sizes: vec![100, 10_000, 1_000_000],
            distributions: Distribution::ALL.to_vec(),
            configs: vec![(16, 1), (16, 2), (15, 4), (14, 10)],
            real_configs: vec![
                (16, 1),
                (16, 2),
                (15, 4),
                (14, 10),
                (5, 7),
                (10, 4),
                (4, 10),
                (13, 7),
                (7, 13),
                (4, 9),
                (13, 3),
                (12, 2),
                (150, 2),
                (10, 15),
            ],
            repeats: 5,
            seed: 2024,
            ir_weight_variant: Some(0.5),
            repackr_max_cells: 1_000_000,
            baselines: true,
            profile_sizes: vec![200, 5_000, 200_000],
            profile_distributions: vec![
                Distribution::Normal,
                Distribution::Bimodal,
                Distribution::Outliers,
            ],
        }
    }

    /// Small sizes only, one timing run: for tests and a quick look.
    pub fn quick() -> Self {
        BenchConfig {
            sizes: vec![100, 2_000],
            profile_sizes: vec![200, 5_000],
            repeats: 1,
            ..Self::full()
        }
    }
}

/// One inventory × shape, every method on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchCase {
    pub inventory: String,
    pub synthetic: bool,
    pub cells: usize,
    pub shape: String,
    /// Upper bound on packs (per model class, after the filters).
    pub max_packs: usize,
    /// Why nothing ran (too few cells, …).
    pub note: Option<String>,
    pub methods: Vec<MethodResult>,
}

/// One method's figures on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodResult {
    pub method: String,
    pub packs: usize,
    pub worst_range_mah: f64,
    pub worst_range_pct: f64,
    /// The worst pack's own lower bound.
    pub worst_bound_mah: f64,
    pub median_range_pct: f64,
    pub p99_range_pct: f64,
    pub at_lower_bound_pct: f64,
    /// Packs within the balance slack of their bound (the matcher's spec's slack), percent.
    pub within_slack_pct: f64,
    /// The worst pack's balance slack.
    pub worst_slack_mah: f64,
    pub utilisation_pct: f64,
    pub median_group_ir_cv_pct: Option<f64>,
    /// Groups outside the OCV/IR limits plus packs outside the capacity-spread limit.
    pub limit_violations: usize,
    /// Median wall time in ms, single thread, including the filters.
    pub time_ms: f64,
}

/// A target from the issue, checked on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub case: String,
    pub measured: String,
    pub pass: bool,
}

/// One shipped profile on one synthetic inventory scaled to its cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileCase {
    pub profile: String,
    pub distribution: Distribution,
    pub cells: usize,
    pub shape: String,
    pub eligible_cells: usize,
    pub packs: usize,
    /// The matcher's maximum (exact or an upper bound, see `max_packs_exact`).
    pub max_packs: usize,
    pub max_packs_exact: bool,
    pub packs_dropped_for_limits: usize,
    /// Packs whose range is within the balance slack of their own lower bound, percent.
    pub within_slack_pct: f64,
    pub at_bound_pct: f64,
    pub worst_range_mah: f64,
    pub worst_bound_mah: f64,
    pub worst_slack_mah: f64,
    /// Sorted snake of each built pack's own cells: the worst of those ranges.
    pub snake_same_cells_worst_mah: f64,
    /// Packs whose range is above the sorted snake of their own cells, where that snake
    /// arrangement meets every limit.
    pub packs_worse_than_snake: usize,
    /// Packs whose sorted-snake arrangement breaks a limit (no valid comparison).
    pub snake_outside_limits: usize,
    /// The worst pack's own snake breaks a limit: the in-group limits set its range, and the
    /// snake comparison does not apply to it.
    pub worst_pack_snake_breaks_limit: bool,
    pub median_group_ir_cv_pct: Option<f64>,
    /// The same profile with only the legacy knob (`ir_weight` as shipped, no slack set).
    pub legacy_median_group_ir_cv_pct: Option<f64>,
    pub legacy_worst_range_mah: Option<f64>,
    pub limit_violations: usize,
    pub time_ms: f64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub cases: Vec<BenchCase>,
    pub profile_cases: Vec<ProfileCase>,
    pub targets: Vec<TargetCheck>,
}

const MATCHER: &str = "matcher";

/// Runs every configured case: synthetic inventories first, then `real_sets` (name, cells).
pub fn run(cfg: &BenchConfig, real_sets: &[(String, Vec<CellInput>)]) -> BenchReport {
    let mut cases = Vec::new();
    for &dist in &cfg.distributions {
        for &n in &cfg.sizes {
            let cells = synthetic(dist, n, cfg.seed);
            for &(s, p) in &cfg.configs {
                cases.push(run_case(dist.name(), true, &cells, &dist.spec(s, p), cfg));
            }
        }
    }
    for (name, cells) in real_sets {
        for &(s, p) in &cfg.real_configs {
            cases.push(run_case(name, false, cells, &real_spec(cells, s, p), cfg));
        }
    }
    let mut profile_cases = Vec::new();
    for prof in shipped_profiles() {
        for &dist in &cfg.profile_distributions {
            for &n in &cfg.profile_sizes {
                profile_cases.push(run_profile_case(&prof, dist, n, cfg));
            }
        }
    }
    let mut targets = check_targets(&cases);
    targets.extend(check_profile_targets(&profile_cases));
    BenchReport {
        cases,
        profile_cases,
        targets,
    }
}

fn run_profile_case(
    prof: &ShippedProfile,
    dist: Distribution,
    n: usize,
    cfg: &BenchConfig,
) -> ProfileCase {
    let spec = &prof.spec;
    let cells = synthetic_scaled(
        dist,
        n,
        cfg.seed,
        prof.nominal_mah,
        spec.ir_ceiling_mohm.unwrap_or(1.0) / dist.ir_ceiling_mohm(),
        &spec.chemistry,
    );
    let mut case = ProfileCase {
        profile: prof.name.to_string(),
        distribution: dist,
        cells: n,
        shape: spec.shape(),
        eligible_cells: 0,
        packs: 0,
        max_packs: 0,
        max_packs_exact: false,
        packs_dropped_for_limits: 0,
        within_slack_pct: 0.0,
        at_bound_pct: 0.0,
        worst_range_mah: 0.0,
        worst_bound_mah: 0.0,
        worst_slack_mah: 0.0,
        snake_same_cells_worst_mah: 0.0,
        packs_worse_than_snake: 0,
        snake_outside_limits: 0,
        worst_pack_snake_breaks_limit: false,
        median_group_ir_cv_pct: None,
        legacy_median_group_ir_cv_pct: None,
        legacy_worst_range_mah: None,
        limit_violations: 0,
        time_ms: 0.0,
        note: None,
    };
    let opts = MatchOptions {
        seed: cfg.seed,
        ..MatchOptions::default()
    };
    let lim = match validate_spec(spec) {
        Ok(l) => l,
        Err(e) => {
            case.note = Some(e.to_string());
            return case;
        }
    };
    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..cfg.repeats.max(1) {
        let t = Instant::now();
        let r = crate::match_cells_with(&cells, spec, &opts);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        result.get_or_insert(r);
    }
    times.sort_by(f64::total_cmp);
    case.time_ms = times[times.len() / 2];
    let out = match result {
        Some(Ok(out)) => out,
        Some(Err(e)) => {
            case.note = Some(e.to_string());
            return case;
        }
        None => return case,
    };
    let sm = &out.summary;
    case.eligible_cells = sm.eligible_cells;
    case.packs = sm.packs_built;
    case.max_packs = sm.max_possible_packs;
    case.max_packs_exact = sm.max_possible_packs == sm.packs_built;
    case.packs_dropped_for_limits = sm.packs_dropped_for_limits;
    let metrics: Vec<PackMetrics> = out.packs.iter().map(|p| p.metrics.clone()).collect();
    let fig = figures(MATCHER, &metrics, &lim, case.time_ms);
    case.limit_violations = fig.limit_violations;
    case.median_group_ir_cv_pct = fig.median_group_ir_cv_pct;
    case.at_bound_pct = fig.at_lower_bound_pct;
    let within = metrics.iter().filter(|m| m.at_bound_within_slack).count();
    case.within_slack_pct = pct_of(within, metrics.len());
    if let Some(w) = metrics
        .iter()
        .max_by(|a, b| a.range_mah.total_cmp(&b.range_mah))
    {
        case.worst_range_mah = w.range_mah;
        case.worst_bound_mah = w.lower_bound_range_mah;
        case.worst_slack_mah = w.balance_slack_mah;
    }
    // Sorted snake of each pack's own cells.
    let split = intake(&cells, spec);
    let mut index = std::collections::HashMap::with_capacity(split.data.len());
    for (k, &src) in split.data.src.iter().enumerate() {
        index.insert(cells[src as usize].id.as_str(), k as u32);
    }
    let (s, p) = (spec.series, spec.parallel);
    for (pk, m) in out.packs.iter().zip(&metrics) {
        let own: Vec<u32> = pk
            .groups
            .iter()
            .flatten()
            .filter_map(|id| index.get(id.as_str()).copied())
            .collect();
        if own.len() != s * p {
            continue;
        }
        if let Some(slots) = baselines::sorted_snake(&split.data, &own, s, p).first() {
            let sm = pack_metrics(&split.data, slots, s, p, None, &lim);
            let snake = sm.range_mah;
            case.snake_same_cells_worst_mah = case.snake_same_cells_worst_mah.max(snake);
            let snake_ok =
                figures("snake", std::slice::from_ref(&sm), &lim, 0.0).limit_violations == 0;
            if !snake_ok {
                case.snake_outside_limits += 1;
                if m.range_mah >= case.worst_range_mah {
                    case.worst_pack_snake_breaks_limit = true;
                }
            } else if m.range_mah > snake {
                case.packs_worse_than_snake += 1;
            }
        }
    }
    if prof.legacy_ir_weight > 0.0 {
        let legacy = MatchSpec {
            ir_weight: prof.legacy_ir_weight,
            balance_slack_mah: None,
            balance_slack_pct: None,
            ..spec.clone()
        };
        if let Ok(o) = crate::match_cells_with(&cells, &legacy, &opts) {
            let lm: Vec<PackMetrics> = o.packs.into_iter().map(|p| p.metrics).collect();
            let lf = figures("legacy", &lm, &lim, 0.0);
            case.legacy_median_group_ir_cv_pct = lf.median_group_ir_cv_pct;
            case.legacy_worst_range_mah = Some(lf.worst_range_mah);
        }
    }
    case
}

fn pct_of(k: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64 * 100.0
    }
}

fn check_profile_targets(cases: &[ProfileCase]) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    for c in cases.iter().filter(|c| c.note.is_none()) {
        let label = format!("{} {} {} cells", c.profile, c.distribution, c.cells);
        let mut check = |target: &str, measured: String, pass: bool| {
            out.push(TargetCheck {
                target: target.to_string(),
                case: label.clone(),
                measured,
                pass,
            })
        };
        check(
            "profile: maximum number of packs",
            format!(
                "{} of {}{}",
                c.packs,
                if c.max_packs_exact { "" } else { "at most " },
                c.max_packs
            ),
            c.packs == c.max_packs,
        );
        if c.cells >= 5_000 {
            check(
                "profile: ≥ 99 % of packs within slack of bound",
                format!("{:.2} %", c.within_slack_pct),
                c.within_slack_pct >= 99.0,
            );
        }
        check(
            "profile: worst pack ≤ worst sorted snake of the same packs' cells",
            format!(
                "worst {} vs snake {} mAh{}; {} packs above their own valid snake ({} snakes break a limit)",
                c.worst_range_mah,
                c.snake_same_cells_worst_mah,
                if c.worst_pack_snake_breaks_limit {
                    " (the worst pack's snake breaks a limit)"
                } else {
                    ""
                },
                c.packs_worse_than_snake,
                c.snake_outside_limits,
            ),
            c.worst_range_mah <= c.snake_same_cells_worst_mah || c.worst_pack_snake_breaks_limit,
        );
        check(
            "profile: no limit violated",
            format!("{}", c.limit_violations),
            c.limit_violations == 0,
        );
    }
    out
}

/// Real sets carry no profile: their own chemistry, models may mix (the reference's
/// benchmark instances), no floor and no limits.
fn real_spec(cells: &[CellInput], s: usize, p: usize) -> MatchSpec {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in cells {
        match counts.iter_mut().find(|(k, _)| *k == c.chemistry) {
            Some((_, n)) => *n += 1,
            None => counts.push((&c.chemistry, 1)),
        }
    }
    let chem = counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or("unknown", |(k, _)| k);
    MatchSpec {
        allow_mixed_models: true,
        ..MatchSpec::new(s, p, chem)
    }
}

fn run_case(
    name: &str,
    synthetic: bool,
    cells: &[CellInput],
    spec: &MatchSpec,
    cfg: &BenchConfig,
) -> BenchCase {
    let mut case = BenchCase {
        inventory: name.to_string(),
        synthetic,
        cells: cells.len(),
        shape: spec.shape(),
        max_packs: 0,
        note: None,
        methods: Vec::new(),
    };
    let opts = MatchOptions {
        seed: cfg.seed,
        ..MatchOptions::default()
    };
    let lim = match validate_spec(spec) {
        Ok(l) => l,
        Err(e) => {
            case.note = Some(e.to_string());
            return case;
        }
    };
    let mut variants = vec![(MATCHER.to_string(), spec.clone())];
    if let Some(w) = cfg.ir_weight_variant {
        variants.push((
            format!("matcher ir_weight {w}"),
            MatchSpec {
                ir_weight: w,
                ..spec.clone()
            },
        ));
    }
    for (label, spec) in &variants {
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..cfg.repeats.max(1) {
            let t = Instant::now();
            let r = crate::match_cells_with(cells, spec, &opts);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            result.get_or_insert(r);
        }
        times.sort_by(f64::total_cmp);
        match result {
            Some(Ok(out)) => {
                case.max_packs = out.summary.max_possible_packs;
                let metrics: Vec<PackMetrics> = out.packs.into_iter().map(|p| p.metrics).collect();
                case.methods
                    .push(figures(label, &metrics, &lim, times[times.len() / 2]));
            }
            Some(Err(e)) => {
                case.note = Some(e.to_string());
                return case;
            }
            None => {}
        }
    }

    if !cfg.baselines {
        return case;
    }
    let (s, p) = (spec.series, spec.parallel);
    let mut rng = Rng::new(cfg.seed);
    type Baseline<'a> = Box<dyn FnMut(&crate::data::Data, &[u32]) -> Vec<Vec<u32>> + 'a>;
    let mut methods: Vec<(&str, Baseline)> = vec![
        (
            "sorted snake",
            Box::new(|d, c| baselines::sorted_snake(d, c, s, p)),
        ),
        (
            "random",
            Box::new(|_, c| baselines::random(c, s, p, &mut Rng::new(cfg.seed))),
        ),
    ];
    if cells.len() <= cfg.repackr_max_cells {
        methods.insert(
            1,
            (
                "repackr random swap",
                Box::new(|d, c| baselines::repackr(d, c, s, p, &mut rng)),
            ),
        );
    }
    for (label, mut method) in methods {
        let t = Instant::now();
        let split = intake(cells, spec);
        let packs: Vec<Vec<u32>> = split
            .strata
            .iter()
            .flat_map(|st| method(&split.data, &st.cells))
            .collect();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let metrics: Vec<PackMetrics> = packs
            .iter()
            .map(|slots| pack_metrics(&split.data, slots, s, p, None, &lim))
            .collect();
        case.methods.push(figures(label, &metrics, &lim, ms));
    }
    case
}

fn figures(label: &str, packs: &[PackMetrics], lim: &Limits, time_ms: f64) -> MethodResult {
    let st: RunStats = run_stats(&packs.iter().collect::<Vec<_>>());
    let over =
        |v: Option<f64>, l: Option<f64>| matches!((v, l), (Some(v), Some(l)) if v > l + 1e-9);
    let violations = packs
        .iter()
        .map(|m| {
            let groups = m
                .group_ocv_spread_mv
                .iter()
                .zip(&m.group_ir_spread_mohm)
                .filter(|(o, i)| over(**o, lim.ocv_mv) || over(**i, lim.ir_mohm))
                .count();
            groups + usize::from(over(Some(m.range_pct), lim.range_pct))
        })
        .sum();
    let worst = st.worst.as_ref();
    MethodResult {
        method: label.to_string(),
        packs: st.packs,
        worst_range_mah: worst.map_or(0.0, |w| w.range_mah),
        worst_range_pct: worst.map_or(0.0, |w| w.range_pct),
        worst_bound_mah: worst.map_or(0.0, |w| w.lower_bound_range_mah),
        median_range_pct: st.median_range_pct,
        p99_range_pct: st.p99_range_pct,
        at_lower_bound_pct: st.fraction_at_lower_bound * 100.0,
        within_slack_pct: st.fraction_within_slack * 100.0,
        worst_slack_mah: packs
            .iter()
            .max_by(|a, b| a.range_mah.total_cmp(&b.range_mah))
            .map_or(0.0, |m| m.balance_slack_mah),
        utilisation_pct: st.utilisation * 100.0,
        median_group_ir_cv_pct: st.median_group_ir_cv_pct,
        limit_violations: violations,
        time_ms,
    }
}

fn check_targets(cases: &[BenchCase]) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    for c in cases {
        let Some(m) = c.methods.iter().find(|m| m.method == MATCHER) else {
            continue;
        };
        let label = format!("{} {} cells {}", c.inventory, c.cells, c.shape);
        let mut check = |target: &str, measured: String, pass: bool| {
            out.push(TargetCheck {
                target: target.to_string(),
                case: label.clone(),
                measured,
                pass,
            })
        };
        if c.synthetic {
            check(
                "maximum number of packs",
                format!("{} of {}", m.packs, c.max_packs),
                m.packs == c.max_packs,
            );
            check(
                "≥ 99 % of packs within slack of their bound",
                format!(
                    "{:.2} % ({:.2} % at the bound)",
                    m.within_slack_pct, m.at_lower_bound_pct
                ),
                m.within_slack_pct >= 99.0,
            );
            let best_baseline = c
                .methods
                .iter()
                .filter(|b| !b.method.starts_with(MATCHER))
                .map(|b| b.worst_range_mah)
                .fold(f64::INFINITY, f64::min);
            check(
                "worst-pack range ≤ every baseline's + its slack",
                format!(
                    "{} mAh vs best baseline {} mAh (slack {} mAh)",
                    m.worst_range_mah, best_baseline, m.worst_slack_mah
                ),
                m.worst_range_mah <= best_baseline + m.worst_slack_mah,
            );
            let limit = match c.cells {
                1_000_000 if c.shape == "16S2P" || c.shape == "14S10P" => Some(500.0),
                10_000 => Some(20.0),
                _ => None,
            };
            if let Some(limit) = limit {
                check(
                    &format!("time < {limit} ms"),
                    format!("{:.1} ms", m.time_ms),
                    m.time_ms < limit,
                );
            }
        } else if c.cells <= 300 {
            let bound = m.worst_bound_mah;
            check(
                "real: worst pack within 10 % of its bound, or within slack",
                format!(
                    "{} mAh vs bound {} mAh (slack {} mAh)",
                    m.worst_range_mah, bound, m.worst_slack_mah
                ),
                m.worst_range_mah <= bound * 1.1 || m.worst_range_mah <= bound + m.worst_slack_mah,
            );
        }
    }
    out
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Times: median wall ms, one thread, filters included (matcher: also metrics and output)."
        )?;
        let mut skipped = Vec::new();
        for c in &self.cases {
            if let Some(note) = &c.note {
                skipped.push(format!(
                    "  {} ({} cells) {}: {note}",
                    c.inventory, c.cells, c.shape
                ));
                continue;
            }
            writeln!(
                f,
                "\n{} · {} cells · {} · at most {} packs",
                c.inventory, c.cells, c.shape, c.max_packs
            )?;
            writeln!(
                f,
                "  {:<22} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>9}",
                "method",
                "packs",
                "worst mAh",
                "worst %",
                "its LB",
                "p99 %",
                "slack %",
                "util %",
                "IR CV %",
                "viol",
                "time ms"
            )?;
            for m in &c.methods {
                writeln!(
                    f,
                    "  {:<22} {:>7} {:>10.0} {:>8.3} {:>8.0} {:>8.3} {:>8.1} {:>8.3} {:>7} {:>6} {:>9.2}",
                    m.method,
                    m.packs,
                    m.worst_range_mah,
                    m.worst_range_pct,
                    m.worst_bound_mah,
                    m.p99_range_pct,
                    m.within_slack_pct,
                    m.utilisation_pct,
                    m.median_group_ir_cv_pct
                        .map_or("-".to_string(), |v| format!("{v:.1}")),
                    m.limit_violations,
                    m.time_ms
                )?;
            }
        }
        if !self.profile_cases.is_empty() {
            writeln!(
                f,
                "\nShipped profiles (synthetic cells scaled to each profile's cell)"
            )?;
            writeln!(
                f,
                "  {:<16} {:<9} {:>7} {:>6} {:>9} {:>7} {:>9} {:>8} {:>18} {:>7} {:>8} {:>9} {:>9}",
                "profile",
                "inventory",
                "cells",
                "elig",
                "packs/max",
                "drop",
                "slack %",
                "at LB %",
                "worst (LB) snake",
                "IR CV",
                "legacy",
                "viol",
                "time ms"
            )?;
            for c in &self.profile_cases {
                if let Some(note) = &c.note {
                    writeln!(
                        f,
                        "  {:<16} {:<9} {:>7} {note}",
                        c.profile,
                        c.distribution.name(),
                        c.cells
                    )?;
                    continue;
                }
                let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
                writeln!(
                    f,
                    "  {:<16} {:<9} {:>7} {:>6} {:>9} {:>7} {:>9.2} {:>8.2} {:>18} {:>7} {:>8} {:>9} {:>9.2}",
                    c.profile,
                    c.distribution.name(),
                    c.cells,
                    c.eligible_cells,
                    format!(
                        "{}/{}{}",
                        c.packs,
                        c.max_packs,
                        if c.max_packs_exact { "" } else { "?" }
                    ),
                    c.packs_dropped_for_limits,
                    c.within_slack_pct,
                    c.at_bound_pct,
                    format!(
                        "{} ({}) {}",
                        c.worst_range_mah, c.worst_bound_mah, c.snake_same_cells_worst_mah
                    ),
                    opt(c.median_group_ir_cv_pct),
                    opt(c.legacy_median_group_ir_cv_pct),
                    c.limit_violations,
                    c.time_ms
                )?;
            }
        }
        if !skipped.is_empty() {
            writeln!(f, "\nNot run:")?;
            for s in skipped {
                writeln!(f, "{s}")?;
            }
        }
        let failed = self.targets.iter().filter(|t| !t.pass).count();
        writeln!(
            f,
            "\nTargets: {} checked, {} failed",
            self.targets.len(),
            failed
        )?;
        for t in &self.targets {
            writeln!(
                f,
                "  {} {:<52} {:<36} {}",
                if t.pass { "PASS" } else { "FAIL" },
                t.target,
                t.case,
                t.measured
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bench_runs_every_method_and_checks_targets() {
        let cfg = BenchConfig {
            sizes: vec![300],
            profile_sizes: Vec::new(),
            distributions: vec![Distribution::Normal, Distribution::MixedModels],
            configs: vec![(4, 3)],
            real_configs: vec![(3, 2), (50, 50)],
            repeats: 1,
            ..BenchConfig::quick()
        };
        let real = vec![("tiny".to_string(), synthetic(Distribution::Normal, 30, 9))];
        let report = run(&cfg, &real);
        assert_eq!(report.cases.len(), 4);
        let first = &report.cases[0];
        let names: Vec<&str> = first.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "matcher",
                "matcher ir_weight 0.5",
                "sorted snake",
                "repackr random swap",
                "random"
            ]
        );
        // Every method fills the same number of packs from the same eligible cells.
        assert!(first.methods.iter().all(|m| m.packs == first.max_packs));
        let too_big = &report.cases[3];
        assert!(too_big
            .note
            .as_deref()
            .is_some_and(|n| n.contains("not enough cells")));
        assert!(!report.targets.is_empty());
        let text = report.to_string();
        assert!(
            text.contains("sorted snake") && text.contains("Targets:"),
            "{text}"
        );
    }
}
