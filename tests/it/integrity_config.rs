//! Line integrity, finding 2: a configuration write is bound to its pack. Each refusal is
//! checked on the simulated board itself (a fresh `bms config read` shows the board still
//! holds its factory settings), not only in the product's report.

use crate::support::eol::{assembled_pack, pack_json, pw, Sim};
use crate::support::pg::station_db;
use std::path::Path;

/// `bms config write` on `sim` over JBD with `args`: (exit code, stderr).
fn write(db: &Path, sim: &Sim, args: &[&str]) -> (i32, String) {
    let out = pw(db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(sim.port())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How many registers of `profile` the board behind `sim` does not hold (a read, left without
/// saving).
fn differing(db: &Path, sim: &Sim, profile: &str) -> u64 {
    let out = pw(db)
        .args([
            "bms",
            "config",
            "read",
            "--protocol",
            "jbd",
            "--json",
            "--port",
        ])
        .arg(sim.port())
        .args(["--profile", profile])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["mismatches"].as_u64().unwrap()
}

fn last_write(db: &Path) -> serde_json::Value {
    let out = pw(db)
        .args(["bms", "writes", "--json", "--limit", "1"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["items"][0]["write"].clone()
}

#[test]
fn another_profile_a_typo_or_a_board_of_another_size_is_refused_and_the_board_is_untouched() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    // Pack 1: 15S, matched for lfp-15s1p-100ah, assembled and coded.
    let (code, _) = assembled_pack(dir.path(), &db);
    let board = Sim::jbd15(dir.path(), &[]);
    let factory = differing(&db, &board, "lfp-15s1p-100ah");
    assert!(
        factory > 0,
        "the simulated board starts with factory settings"
    );

    // Another profile for this pack: refused before a byte is written.
    let (exit, err) = write(
        &db,
        &board,
        &["--pack", &code, "--profile", "lfp-16s1p-280ah"],
    );
    assert_eq!(exit, 2, "{err}");
    assert!(err.contains("lfp-15s1p-100ah"), "{err}");
    assert_eq!(differing(&db, &board, "lfp-15s1p-100ah"), factory);

    // A mistyped pack code: refused, nothing written, nothing configured.
    let (exit, err) = write(&db, &board, &["--barcode", "TYPO"]);
    assert_eq!(exit, 2, "{err}");
    assert!(err.contains("no pack 'TYPO'"), "{err}");
    assert_eq!(differing(&db, &board, "lfp-15s1p-100ah"), factory);

    // No pack named at all: the operator must say it is a board of no pack.
    let (exit, err) = write(&db, &board, &["--profile", "lfp-15s1p-100ah"]);
    assert_eq!(exit, 2, "{err}");
    assert!(err.contains("--no-pack"), "{err}");

    // A 16-cell board on the bench for this 15S pack: wrong board, refused and logged.
    let big = Sim::lfp16(dir.path(), "big", "jbd", "5", &[]);
    let (exit, err) = write(&db, &big, &["--pack", &code]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("reports 16 cells") && err.contains("15S"),
        "{err}"
    );
    let w = last_write(&db);
    assert_eq!(w["outcome"], "refused", "{w}");
    assert!(w["detail"].as_str().unwrap().contains(&code), "{w}");
    assert_eq!(pack_json(&db, &code)["status"], "assembled");

    // The pack's own board and profile: written, verified, the pack configured.
    let (exit, err) = write(&db, &board, &["--pack", &code]);
    assert_eq!(exit, 0, "{err}");
    assert_eq!(differing(&db, &board, "lfp-15s1p-100ah"), 0);
    assert_eq!(pack_json(&db, &code)["status"], "configured");
}
