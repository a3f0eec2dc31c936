//! Shared setup for the end-of-line, assembly and trace tests: the real binary on a temporary
//! database, graded cells from two source modules, a matched and an assembled pack.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub use super::sim::Sim;

pub const SOURCE_A: &str = "EVMOD-0017";
pub const SOURCE_B: &str = "EVMOD-0042";

/// The binary on `db`, as operator ann at station line-1, as a process to spawn.
pub fn pw_process(db: &Path) -> std::process::Command {
    let mut cmd = super::bin();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_OUTBOX", super::pg::outbox_for(db))
        .env("PACKWRIGHT_STATION", "line-1")
        .env("PACKWRIGHT_OPERATOR", "ann")
        .env_remove("PACKWRIGHT_PROFILES")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// [`pw_process`], to run to completion.
pub fn pw(db: &Path) -> Command {
    Command::from_std(pw_process(db))
}

pub fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `packwright ARGS` that must succeed, its output read as JSON.
pub fn pw_json(db: &Path, args: &[&str]) -> serde_json::Value {
    json(&pw(db).args(args).output().unwrap())
}

/// `packs show KEY --json`.
pub fn pack_json(db: &Path, key: &str) -> serde_json::Value {
    pw_json(db, &["packs", "show", key, "--json"])
}

/// `eol report KEY --json`: every run of the pack.
pub fn runs_json(db: &Path, key: &str) -> serde_json::Value {
    pw_json(db, &["eol", "report", key, "--json"])["items"].clone()
}

/// `eol run` of pack 1 on `sim` over JBD, manual values from `answers`.
pub fn eol_run(db: &Path, sim: &Sim, answers: &Path) -> std::process::Command {
    let mut cmd = pw_process(db);
    cmd.args(["eol", "run", "--pack", "1", "--port", sim.port()])
        .args(["--protocol", "jbd", "--answers"])
        .arg(answers);
    cmd
}

/// `count` graded LFP cells, the first half from [`SOURCE_A`], the rest from [`SOURCE_B`];
/// `missing_source` leaves that cell (1-based) without a source code.
pub fn import_cells(dir: &Path, db: &Path, count: usize, missing_source: Option<usize>) -> PathBuf {
    let mut csv = String::from(
        "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n",
    );
    for i in 1..=count {
        let source = match missing_source {
            Some(m) if m == i => "",
            _ if i <= count / 2 + 1 => SOURCE_A,
            _ => SOURCE_B,
        };
        csv.push_str(&format!(
            "LFP-{i:03},{},0.5{},3300,1.0,A,{source}\n",
            95_000 + i * 97 % 1000,
            i % 5
        ));
    }
    let file = dir.join("graded.csv");
    std::fs::write(&file, csv).unwrap();
    pw(db)
        .args(["cells", "import"])
        .arg(&file)
        .args(["--chemistry", "LFP"])
        .assert()
        .success();
    file
}

/// Match one pack for `profile` and return its cells in slot order.
pub fn match_pack(db: &Path, profile: &str) -> Vec<String> {
    pw(db)
        .args(["match", "--profile", profile, "--commit"])
        .assert()
        .success();
    let pack = pack_json(db, "1");
    pack["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
        })
        .collect()
}

/// Place every cell of pack 1 and return its code.
pub fn assemble(db: &Path, cells: &[String]) -> String {
    let v = json(
        &pw(db)
            .args(["assemble", "1", "--json", "--scan"])
            .args(cells)
            .output()
            .unwrap(),
    );
    v["code"].as_str().unwrap().to_string()
}

/// Write `profile`'s configuration and the pack code into the simulated board, verified.
pub fn configure(db: &Path, sim: &Sim, profile: &str, code: &str) {
    configure_with(db, sim, &["--profile", profile, "--barcode", code]);
}

/// `bms config write` on the simulated board with `args`; it must succeed.
pub fn configure_with(db: &Path, sim: &Sim, args: &[&str]) {
    let out = pw(db)
        .args([
            "bms",
            "config",
            "write",
            "--protocol",
            "jbd",
            "--port",
            sim.port(),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "config write: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Answers for the manual steps of the shipped plans: everything within its limits.
pub fn good_answers(dir: &Path) -> PathBuf {
    let path = dir.join("answers.toml");
    std::fs::write(
        &path,
        "insulation_resistance_megaohm = 550\nhipot_result = \"PASS\"\npe_continuity_ohm = 0.03\nvisual_ok = \"yes\"\n",
    )
    .unwrap();
    path
}

/// An assembled, coded 15S pack (pack 1) of graded cells; returns its code and cells.
pub fn assembled_pack(dir: &Path, db: &Path) -> (String, Vec<String>) {
    import_cells(dir, db, 17, None);
    let cells = match_pack(db, "lfp-15s1p-100ah");
    let code = assemble(db, &cells);
    (code, cells)
}
