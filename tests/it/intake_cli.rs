//! Cell intake through the real binary, on exports as they come (`tests/fixtures/intake/`):
//! detected formats are said, implausible values and id tricks are refused with file, line,
//! column and cause, and nothing is written. Also: file text never reaches the terminal
//! unescaped, and profiles with non-finite or absurd values fail `profile check`.

use crate::support::pg::{outbox_for, station_db};
use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/intake")
        .join(name)
}

fn pw(db: &Path) -> Command {
    let mut cmd = crate::support::assert_bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_OUTBOX", outbox_for(db))
        .env("PACKWRIGHT_STATION", "test-station")
        .env("PACKWRIGHT_OPERATOR", "tester")
        .env_remove("PACKWRIGHT_PROFILES")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The cells in `db`; none when a refused import did not even create the SQLite file.
fn cells(db: &Path) -> Vec<serde_json::Value> {
    if !db.to_string_lossy().starts_with("postgres") && !db.exists() {
        return Vec::new();
    }
    let out = pw(db).args(["cells", "list", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"].as_array().unwrap().clone()
}

#[test]
fn exports_as_they_come_import_and_say_what_was_detected() {
    let dir = crate::support::tempdir();
    let cases: &[(&str, &[&str], usize, &str)] = &[
        (
            "semicolon_decimal_comma.csv",
            &[],
            10,
            "read as CSV, semicolon-separated, decimal comma, CRLF line ends, UTF-8 with byte-order mark",
        ),
        ("tab_separated.tsv", &[], 10, "read as CSV, tab-separated, LF line ends"),
        (
            "crlf_1001_lines.csv",
            &["--chemistry", "NMC"],
            1000,
            "read as CSV, comma-separated, CRLF line ends, UTF-8",
        ),
        ("cr_only.csv", &[], 10, "CR line ends"),
        ("bom.json", &[], 5, "read as JSON, UTF-8 with byte-order mark"),
    ];
    let mut dbs = Vec::new();
    for (file, extra, n, said) in cases {
        let db = station_db(dir.path(), &format!("{file}.db"));
        dbs.push((*file, db.clone()));
        pw(&db)
            .args(["cells", "import"])
            .arg(fixture(file))
            .args(*extra)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("imported {n} cells")))
            .stderr(predicate::str::contains(*file).and(predicate::str::contains(*said)));
        assert_eq!(cells(&db).len(), *n, "{file}");
    }
    // The decimal comma and the Ah column were read as such.
    let (_, db) = dbs
        .iter()
        .find(|(file, _)| *file == "semicolon_decimal_comma.csv")
        .unwrap();
    let all = cells(db);
    let first = all.iter().find(|c| c["id"] == "D3-100").unwrap();
    assert_eq!(first["capacity_mah"], 1916.0);
    assert_eq!(first["ir_mohm"], 21.81);
    assert!((first["ocv_mv"].as_f64().unwrap() - 3849.8).abs() < 1e-6);
    // Unknown JSON keys are listed.
    pw(&station_db(dir.path(), "j.db"))
        .args(["cells", "import"])
        .arg(fixture("bom.json"))
        .assert()
        .success()
        .stdout(predicate::str::contains("ignored columns: soh, history"));
    // --json says the format too.
    let out = pw(&station_db(dir.path(), "k.db"))
        .args(["cells", "import", "--json"])
        .arg(fixture("tab_separated.tsv"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"]["delimiter"], "\t");
    assert_eq!(v["format"]["kind"], "CSV");
}

#[test]
fn an_id_is_stored_in_nfc_and_found_however_it_is_typed() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "t.db");
    pw(&db)
        .args(["cells", "import"])
        .arg(fixture("id_nfc.csv"))
        .assert()
        .success();
    for typed in ["Zelle-\u{e9}", "Zelle-e\u{301}", " Zelle-\u{e9} "] {
        pw(&db)
            .args(["cells", "show", typed])
            .assert()
            .success()
            .stdout(predicate::str::contains("Zelle-\u{e9}"));
    }
}

/// Every refused fixture: where the fault is, and words of its cause.
const REFUSED: &[(&str, &[&str], &str, &str)] = &[
    (
        "crlf_1001_lines_bad_last.csv",
        &["--chemistry", "NMC"],
        "line 1001, column capacity_mah",
        "'25o4' is not a number",
    ),
    (
        "cr_only_bad.csv",
        &[],
        "line 7, column ocv_v",
        "3307 V is outside the LFP window 2–3.65 V: it looks like mV in a V column",
    ),
    (
        "duplicate_key.json",
        &[],
        "record 2, column capacity_mah",
        "key 'capacity_mah' appears twice in record 2",
    ),
    (
        "capacity_ah_3000.csv",
        &[],
        "line 4, column capacity_ah",
        "1800 Ah is more than the largest cell made (1000 Ah): it looks like mAh in an Ah column",
    ),
    (
        "capacity_mah_3.csv",
        &[],
        "line 3, column capacity_mah",
        "1.85 mAh is less than the smallest cell graded (50 mAh): it looks like Ah in a mAh column",
    ),
    (
        "capacity_1e308.csv",
        &[],
        "line 2, column capacity_mah",
        "1e308 mAh is more than the largest cell made",
    ),
    (
        "ocv_v_3700.csv",
        &[],
        "line 5, column ocv_v",
        "3884 V is outside the NMC window 2.5–4.35 V: it looks like mV in a V column",
    ),
    (
        "ocv_lfp_overcharged.csv",
        &[],
        "line 9, column ocv_v",
        "3.95 V is above the LFP window 2–3.65 V: an overcharged cell",
    ),
    (
        "ir_ohm.csv",
        &[],
        "line 6, column ir_mohm",
        "0.0218 mΩ is below any cell's internal resistance (0.05 mΩ): it looks like Ω in a mΩ column",
    ),
    (
        "ir_capacity_mismatch.csv",
        &[],
        "line 4, column ir_mohm",
        "313 mΩ does not fit a 26.899 Ah cell",
    ),
    (
        "self_discharge.csv",
        &["--chemistry", "NMC"],
        "line 4, column self_discharge_mv_per_day",
        "250 mV/day is more than a cell can lose",
    ),
    (
        "nominal_far_above.csv",
        &[],
        "line 4, column capacity_mah",
        "18000 mAh is 857.1 % of the rated 2100 mAh (nominal_mah): far above",
    ),
    (
        "id_zero_width.csv",
        &[],
        "line 3, column id",
        "id 'D3-2\\u{200b}00' contains an invisible character (U+200B) at character 5",
    ),
    (
        "id_ansi.csv",
        &[],
        "line 2, column id",
        "contains an ANSI escape (ESC) (U+001B) at character 1",
    ),
    (
        "id_newline.csv",
        &[],
        "line 4, column id",
        "id 'D3-\\n300' contains a line break",
    ),
    (
        "id_too_long.csv",
        &[],
        "line 2, column id",
        "is 80 characters long; at most 64 are allowed",
    ),
    (
        "id_control.csv",
        &[],
        "line 7, column id",
        "contains a control character (U+0007) at character 5",
    ),
    (
        "id_bidi.json",
        &[],
        "record 2, column id",
        "contains an invisible character (U+202E) at character 4",
    ),
    (
        "chemistry_conflict.csv",
        &["--chemistry", "NMC"],
        "line 2, column chemistry",
        "'LFP' (LFP) conflicts with the chemistry given for the file (NMC, --chemistry)",
    ),
];

#[test]
fn refused_exports_name_file_line_column_and_cause_and_write_nothing() {
    let dir = crate::support::tempdir();
    for (file, extra, at, cause) in REFUSED {
        let db = station_db(dir.path(), &format!("{file}.db"));
        let out = pw(&db)
            .args(["cells", "import"])
            .arg(fixture(file))
            .args(*extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        let path = fixture(file).display().to_string();
        assert!(
            stderr.contains(&format!("{path}: {at}: ")),
            "{file}: expected '{at}' in: {stderr}"
        );
        assert!(
            stderr.contains(cause),
            "{file}: expected '{cause}' in: {stderr}"
        );
        // Nothing the file holds reaches the terminal raw.
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{200b}') && !stderr.contains('\u{7}'),
            "{file}: {stderr:?}"
        );
        assert!(
            cells(&db).is_empty(),
            "{file}: a refused import wrote cells"
        );
    }
}

#[test]
fn a_reject_reason_or_id_never_reaches_the_terminal_unescaped() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "t.db");
    pw(&db)
        .args(["cells", "import"])
        .arg(fixture("tab_separated.tsv"))
        .assert()
        .success();
    let reason = "\u{1b}[2J\u{1b}[31mswollen\rOK";
    let out = pw(&db)
        .args(["cells", "reject", "1", "--reason", reason])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\\u{1b}[2J\\u{1b}[31mswollen\\rOK"),
        "{stdout:?}"
    );
    let out = pw(&db).args(["cells", "show", "1"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(stdout.contains("rejected (\\u{1b}[2J"), "{stdout:?}");
    let out = pw(&db).args(["cells", "list"]).output().unwrap();
    assert!(!String::from_utf8(out.stdout).unwrap().contains('\u{1b}'));
    // An unknown id typed with an escape is echoed escaped.
    let out = pw(&db)
        .args(["cells", "show", "\u{1b}[31mX"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("'\\u{1b}[31mX'"), "{stderr:?}");
}

#[test]
fn profiles_with_non_finite_or_absurd_values_fail_the_check() {
    let dir = crate::support::tempdir();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-16s1p-280ah.toml"),
    )
    .unwrap();
    for (from, to, field) in [
        (
            "ir_ceiling_mohm = 0.35",
            "ir_ceiling_mohm = inf",
            "tolerances.ir_ceiling_mohm",
        ),
        (
            "nominal_capacity_mah = 280000",
            "nominal_capacity_mah = 1e12",
            "nominal_capacity_mah",
        ),
        (
            "max_ocv_delta_mv = 20.0",
            "max_ocv_delta_mv = nan",
            "tolerances.max_ocv_delta_mv",
        ),
        (
            "self_discharge_ceiling_mv_per_day = 3.0",
            "self_discharge_ceiling_mv_per_day = 3000.0",
            "tolerances.self_discharge_ceiling_mv_per_day",
        ),
    ] {
        let bad = text.replace(from, to);
        assert_ne!(bad, text, "{from}");
        let path = dir.path().join("absurd.toml");
        std::fs::write(&path, bad).unwrap();
        pw(&station_db(dir.path(), "t.db"))
            .args(["profile", "check"])
            .arg(&path)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(field));
    }
    // Text from the profile file is printed escaped.
    let evil = text.replace("series = 16", "series = 16\n\"\\u001b[2Jevil\" = 1");
    assert_ne!(evil, text);
    let path = dir.path().join("evil.toml");
    std::fs::write(&path, evil).unwrap();
    let out = pw(&station_db(dir.path(), "t.db"))
        .args(["profile", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("evil") && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
}
