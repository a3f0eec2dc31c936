#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Runs the matching benchmark: `cargo run --release -p packwright-matching --example bench
//! [-- --quick] [--json] [--sizes 100,10000] [--no-real] [--profile-sizes 200,5000]
//! [--profiles-only]`.
//!
//! Real inventories are read from `data/cells/*.csv` (a plain comma split is
//! enough: the files have no quoting).

use packwright_matching::bench::{run, BenchConfig};
use packwright_matching::CellInput;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = if args.iter().any(|a| a == "--quick") {
        BenchConfig::quick()
    } else {
        BenchConfig::full()
    };
    if let Some(i) = args.iter().position(|a| a == "--sizes") {
        cfg.sizes = args
            .get(i + 1)
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
    }
    if let Some(i) = args.iter().position(|a| a == "--repeats") {
        cfg.repeats = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(1);
    }
    if args.iter().any(|a| a == "--matcher-only") {
        cfg.baselines = false;
        cfg.ir_weight_variant = None;
    }
    if let Some(i) = args.iter().position(|a| a == "--profile-sizes") {
        cfg.profile_sizes = args
            .get(i + 1)
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
    }
    let profiles_only = args.iter().any(|a| a == "--profiles-only");
    if profiles_only {
        cfg.sizes.clear();
    }
    let real = if profiles_only || args.iter().any(|a| a == "--no-real") {
        Vec::new()
    } else {
        real_sets()
    };
    let json = args.iter().any(|a| a == "--json");
    if json {
        let report = run(&cfg, &real);
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("cannot serialise the report: {e}"),
        }
        return;
    }
    // One inventory at a time, so a long run shows its progress.
    for &dist in &cfg.distributions.clone() {
        for &n in &cfg.sizes.clone() {
            let one = BenchConfig {
                sizes: vec![n],
                distributions: vec![dist],
                profile_sizes: Vec::new(),
                ..cfg.clone()
            };
            print!("{}", run(&one, &[]));
        }
    }
    if !real.is_empty() {
        let reals = BenchConfig {
            sizes: Vec::new(),
            profile_sizes: Vec::new(),
            ..cfg.clone()
        };
        print!("{}", run(&reals, &real));
    }
    // The shipped profiles, one size at a time.
    for &n in &cfg.profile_sizes.clone() {
        let one = BenchConfig {
            sizes: Vec::new(),
            profile_sizes: vec![n],
            ..cfg.clone()
        };
        print!("{}", run(&one, &[]));
    }
}

fn real_sets() -> Vec<(String, Vec<CellInput>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cells");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect(),
        Err(e) => {
            eprintln!("no real inventories ({}: {e})", dir.display());
            return Vec::new();
        }
    };
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some((name, parse(&text)))
        })
        .collect()
}

fn parse(text: &str) -> Vec<CellInput> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (id, cap, ir, ocv, chem, model) = (
        col("id"),
        col("capacity_mah"),
        col("ir_mohm"),
        col("ocv_v"),
        col("chemistry"),
        col("model"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let get = |c: Option<usize>| {
                c.and_then(|i| f.get(i))
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
            };
            let num = |c: Option<usize>| get(c).and_then(|s| s.parse::<f64>().ok());
            CellInput {
                id: get(id).unwrap_or("").to_string(),
                capacity_mah: num(cap),
                ir_mohm: num(ir),
                ocv_mv: num(ocv).map(|v| v * 1000.0),
                self_discharge_mv_per_day: None,
                // The laptop-cell sets state no chemistry; one label keeps each set together.
                chemistry: get(chem).unwrap_or("Li-ion").to_string(),
                model: get(model).map(str::to_string),
            }
        })
        .collect()
}
