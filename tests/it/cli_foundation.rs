//! The foundation through the real binary: profiles and cell intake.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/cells")
        .join(name)
}

fn pw(db: &Path) -> Command {
    let mut cmd = crate::support::assert_bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_STATION", "test-station")
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn cell_count(db: &Path) -> usize {
    let out = pw(db).args(["cells", "list", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"].as_array().unwrap().len()
}

#[test]
fn shipped_profiles_list_show_and_check() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("t.db");
    let out = pw(&db).args(["profile", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "lfp-16s1p-280ah",
        "lfp-16s2p-105ah",
        "nmc-14s4p-ev",
        "lfp-15s1p-100ah",
    ] {
        assert!(text.contains(name), "{text}");
    }
    let out = pw(&db)
        .args(["profile", "show", "nmc-14s4p-ev", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "nmc-14s4p-ev");
    assert_eq!(v["chemistry"], "NMC");
    assert_eq!(v["series"], 14);
    assert_eq!(v["parallel"], 4);
    assert_eq!(v["nominal_capacity_mah"], 21000.0);
    assert!(v["tolerances"]["capacity_floor_mah"].is_number());
    assert!(v["tolerances"]["max_ocv_delta_mv"].is_number());

    let files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles"))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
    assert!(files.len() >= 4);
    pw(&db)
        .args(["profile", "check"])
        .args(&files)
        .assert()
        .success();
}

#[test]
fn profile_check_rejects_overvoltage_beyond_the_chemistry_naming_the_field() {
    let dir = crate::support::tempdir();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-16s1p-280ah.toml"),
    )
    .unwrap();
    let bad = text.replace("cell_ov_trigger_mv = 3650", "cell_ov_trigger_mv = 3900");
    assert_ne!(bad, text);
    let path = dir.path().join("hot.toml");
    std::fs::write(&path, bad).unwrap();
    pw(&dir.path().join("t.db"))
        .args(["profile", "check"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bms.cell_ov_trigger_mv")
                .and(predicate::str::contains("3750")),
        );

    let swapped = text.replace("cell_uv_release_mv = 2950", "cell_uv_release_mv = 2600");
    std::fs::write(&path, swapped).unwrap();
    pw(&dir.path().join("t.db"))
        .args(["profile", "check"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bms.cell_uv_release_mv"));
}

#[test]
fn imports_every_real_inventory_that_has_the_needed_columns() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("t.db");
    // Files whose source states no chemistry get it on the command line, as an operator would.
    let cases: &[(&str, &[&str], usize)] = &[
        ("kuking_18650.csv", &["--chemistry", "NMC"], 42),
        ("nikasal_91.csv", &["--chemistry", "NMC"], 91),
        ("packbuilder_39.csv", &["--chemistry", "NMC"], 39),
        ("mackelec_lto_300.csv", &[], 300),
        ("pulsebat_lmo_10ah.csv", &[], 95),
        ("pulsebat_nmc_21ah.csv", &[], 52),
        ("pulsebat_lfp_35ah.csv", &[], 56),
        ("pulsebat_nmc_2p1ah.csv", &[], 67),
    ];
    let mut total = 0;
    for (file, extra, rows) in cases {
        // Ids repeat across files (1, 2, 3 …): one database per file, as separate batches would be.
        let db = dir.path().join(format!("{file}.db"));
        pw(&db)
            .args(["cells", "import"])
            .arg(fixture(file))
            .args(*extra)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("imported {rows} cells")));
        assert_eq!(cell_count(&db), *rows, "{file}");
        total += rows;
    }
    assert_eq!(total, 742);
    // No capacity column: refused, and says why.
    pw(&db)
        .args(["cells", "import"])
        .arg(fixture("robbimount_lfp_198.csv"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no capacity column"));
}

#[test]
fn damaged_copy_is_rejected_with_line_and_column_and_nothing_is_written() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("t.db");
    pw(&db)
        .args(["cells", "import"])
        .arg(fixture("pulsebat_nmc_21ah.csv"))
        .assert()
        .success();
    assert_eq!(cell_count(&db), 52);

    let text = std::fs::read_to_string(fixture("pulsebat_lfp_35ah.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Line 7 of the file (the 6th cell): capacity made unreadable.
    let fields: Vec<&str> = lines[6].split(',').collect();
    let mut damaged: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    damaged[4] = "27a41".into();
    lines[6] = damaged.join(",");
    let bad = dir.path().join("damaged.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    pw(&db)
        .args(["cells", "import"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("line 7, column capacity_mah")
                .and(predicate::str::contains("'27a41' is not a number")),
        );
    assert_eq!(
        cell_count(&db),
        52,
        "a rejected import must leave the database unchanged"
    );

    // A duplicate against the database names the line too, and writes nothing.
    pw(&db)
        .args(["cells", "import"])
        .arg(fixture("pulsebat_nmc_21ah.csv"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("line 2, column id")
                .and(predicate::str::contains("already in the database")),
        );
    assert_eq!(cell_count(&db), 52);
}

#[test]
fn bad_arguments_exit_2_and_help_works_everywhere() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("t.db");
    pw(&db).arg("--help").assert().success();
    pw(&db)
        .args(["cells", "import", "--help"])
        .assert()
        .success();
    pw(&db).args(["cells", "frobnicate"]).assert().code(2);
    pw(&db)
        .args(["cells", "list", "--status", "lost"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("lost"));
}
