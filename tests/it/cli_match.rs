//! `packwright match` through the real binary: real inventories, the database path with
//! `--commit`, and bad input.

use crate::support::pg::{outbox_for, station_db};
use assert_cmd::Command;
use predicates::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pw(db: &Path) -> Command {
    let mut cmd = crate::support::assert_bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_OUTBOX", outbox_for(db))
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .current_dir(root());
    cmd
}

fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A graded LFP inventory for `lfp-16s1p-280ah`: `n` cells around 262 Ah with full records.
fn lfp_inventory(dir: &Path, n: usize) -> PathBuf {
    let mut csv =
        String::from("id,capacity_ah,ir_mohm,ocv_v,self_discharge_mv_per_day,source_code\n");
    for i in 0..n {
        // Deterministic spread: ±6 Ah, IR 0.20–0.29 mΩ, OCV 3.296–3.304 V.
        let cap = 262.0 + ((i * 37 % 13) as f64 - 6.0);
        let ir = 0.20 + (i * 7 % 10) as f64 / 100.0;
        let ocv = 3.296 + (i * 3 % 9) as f64 / 1000.0;
        csv.push_str(&format!(
            "LFP{i:04},{cap},{ir:.2},{ocv:.3},1.0,MOD-{:03}\n",
            i / 8
        ));
    }
    let path = dir.join("lfp.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn real_inventory_matches_to_its_bound_without_touching_a_database() {
    let dir = crate::support::tempdir();
    // A SQLite file on either backend: the test checks that no file is created.
    let db = dir.path().join("never.db");
    let v = json_of(pw(&db).args([
        "match",
        "--profile",
        "tests/fixtures/profiles/nmc-13s7p-18650.toml",
        "--cells",
        "data/cells/nikasal_91.csv",
        "--json",
    ]));
    assert!(!db.exists(), "--cells must not create or touch a database");
    let packs = v["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 1);
    let groups = packs[0]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 13);
    let mut seen = HashSet::new();
    for g in groups {
        assert_eq!(g.as_array().unwrap().len(), 7);
        for id in g.as_array().unwrap() {
            assert!(
                seen.insert(id.as_str().unwrap().to_string()),
                "cell used twice"
            );
        }
    }
    let m = &packs[0]["metrics"];
    let range = m["range_mah"].as_f64().unwrap();
    let bound = m["lower_bound_range_mah"].as_f64().unwrap();
    // The IR phase may use the balance slack above the bound (0.6 % of the mean group).
    let slack = m["balance_slack_mah"].as_f64().unwrap();
    assert!(
        range <= bound * 1.10 + 1.0 || range <= bound + slack,
        "range {range} vs bound {bound}, slack {slack}"
    );
    assert_eq!(v["summary"]["packs_built"], 1);
    assert_eq!(v["leftover"].as_array().unwrap().len(), 0);
}

#[test]
fn commit_reserves_cells_so_they_are_never_matched_again() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let inv = lfp_inventory(dir.path(), 40);
    pw(&db)
        .args(["cells", "import"])
        .arg(&inv)
        .args(["--chemistry", "LFP"])
        .assert()
        .success();

    let v = json_of(pw(&db).args([
        "match",
        "--profile",
        "lfp-16s1p-280ah",
        "--commit",
        "--json",
    ]));
    let packs = v["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 2, "40 cells make two 16S1P packs");
    assert!(packs.iter().all(|p| p["pack_id"].is_i64()));

    let reserved = json_of(pw(&db).args(["cells", "list", "--status", "reserved", "--json"]));
    assert_eq!(reserved["items"].as_array().unwrap().len(), 32);

    // The 8 that are left cannot make a pack: a clear message and exit 2, not an empty success.
    pw(&db)
        .args(["match", "--profile", "lfp-16s1p-280ah"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "not enough cells for one 16S1P pack",
        ));
    let packs = json_of(pw(&db).args(["packs", "list", "--json"]))["items"].clone();
    assert_eq!(packs.as_array().unwrap().len(), 2);
    assert!(packs
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["status"] == "matched"));
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_2() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "t.db");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    pw(&db)
        .args(["match", "--profile", "lfp-16s1p-280ah", "--cells"])
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("empty file"));

    let no_cap = dir.path().join("nocap.csv");
    std::fs::write(&no_cap, "id,capacity_mah,ir_mohm\nA,2500,20\nB,,21\n").unwrap();
    pw(&db)
        .args(["match", "--profile", "lfp-16s1p-280ah", "--cells"])
        .arg(&no_cap)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 3, column capacity_mah"));

    // S·P larger than the whole inventory.
    pw(&db)
        .args([
            "match",
            "--profile",
            "nmc-14s4p-ev",
            "--cells",
            "data/cells/kuking_18650.csv",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs 56 cells"));

    pw(&db)
        .args(["match", "--profile", "no-such-profile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no profile named 'no-such-profile'",
        ));
}
