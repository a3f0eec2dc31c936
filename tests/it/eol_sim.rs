//! End-of-line runs through the real binary against simulated BMS boards on pseudo-terminals,
//! with a real SQLite file: a good pack passes; a weak cell, a swapped cell, a wrong
//! configuration and a dead temperature sensor each fail at their step with the reason in the
//! record; a pack whose cell lacks its source code is refused before anything is measured.

use crate::support::eol::{
    assemble, assembled_pack, configure, configure_with, eol_run, good_answers, import_cells,
    match_pack, pack_json, pw, pw_json, runs_json, Sim,
};
use crate::support::pg::station_db;
use serde_json::Value;
use std::path::Path;

/// Run the plan of pack 1; the exit code, what was printed, and the run's JSON document.
fn eol(db: &Path, sim: &Sim, answers: &Path) -> (i32, String, Value) {
    let out = eol_run(db, sim, answers).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let runs = runs_json(db, "1");
    let last = runs
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        last,
    )
}

fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {doc:#}"))
}

fn measurement<'a>(doc: &'a Value, step_id: &str, name: &str) -> &'a Value {
    step(doc, step_id)["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {step_id}/{name}"))
}

/// The steps that did not pass or skip, in plan order.
fn failed_steps(doc: &Value) -> Vec<String> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "fail" || s["outcome"] == "error")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

crate::on_both_backends!(
    a_good_pack_passes_with_manual_values_on_standard_input_and_shows_in_its_lineage
);
fn a_good_pack_passes_with_manual_values_on_standard_input_and_shows_in_its_lineage(
    backend: crate::support::pg::Backend,
) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    let (code, _) = assembled_pack(dir.path(), &db);
    let sim = Sim::jbd15(dir.path(), &[]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);
    // The verified write with the pack's code as barcode configured the pack.
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "configured");

    // No answers file: the operator types the four manual values (HiPot is skipped below 60 V).
    let out = pw(&db)
        .args([
            "eol",
            "run",
            "--pack",
            &code,
            "--port",
            sim.port(),
            "--protocol",
            "jbd",
        ])
        .args(["--operator", "bob", "--json"])
        .write_stdin("550\n0.02\nOK\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("Measure insulation resistance"), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], "packwright.eol-run/1");
    assert_eq!(doc["outcome"], "pass");
    assert_eq!(doc["pack"]["code"], code.as_str());
    assert_eq!(doc["operator"], "bob");
    assert_eq!(doc["station"], "line-1");
    assert_eq!(doc["plan_version"], "2026.11-1");
    assert!(doc["software_version"].is_string());
    assert!(doc["transport"].as_str().unwrap().contains("jbd"));
    assert!(failed_steps(&doc).is_empty(), "{doc:#}");
    assert_eq!(step(&doc, "hipot")["outcome"], "skipped");
    assert_eq!(
        measurement(&doc, "bms_identity", "bms_model")["value"],
        "JBD-SIM-15S"
    );
    assert_eq!(measurement(&doc, "cell_count", "cell_count")["value"], 15.0);
    assert_eq!(
        measurement(&doc, "balancing", "balancing_responds")["value"],
        true
    );
    assert_eq!(
        measurement(&doc, "protection", "overvoltage_trips")["value"],
        true
    );
    assert_eq!(
        measurement(&doc, "protection", "overvoltage_releases")["value"],
        true
    );
    assert_eq!(
        measurement(&doc, "pe_continuity", "pe_continuity_ohm")["value"],
        0.02
    );
    // Every measurement carries its limit, outcome and time.
    let m = measurement(&doc, "cell_voltages", "cell_voltage_min_mv");
    assert_eq!(m["limit"]["range"]["low"], 2900.0);
    assert_eq!(m["unit"], "mV");
    assert!(m["taken_at"].is_string());

    // The pack passed; its lineage shows the run, the configuration writes (the profile's and
    // the test's temporary thresholds, each restored) and the verdict in the passport.
    let v = pw_json(&db, &["trace", &code, "--json"]);
    assert_eq!(v["pack"]["status"], "passed");
    assert_eq!(v["eol_runs"][0]["outcome"], "pass");
    let writes: Vec<&str> = v["bms_writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(writes, ["verified"; 5]);
    let details: Vec<String> = v["bms_writes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["detail"].as_str().map(String::from))
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("profile thresholds restored")),
        "{details:?}"
    );
    assert_eq!(v["passport"]["eol_outcome"], "pass");
    assert_eq!(v["passport"]["eol_operator"], "bob");

    // The configuration the test touched is back to the profile's.
    let out = pw(&db)
        .args([
            "bms",
            "config",
            "read",
            "--protocol",
            "jbd",
            "--port",
            sim.port(),
        ])
        .args(["--profile", "lfp-15s1p-100ah"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // CSV export: one row per measurement.
    let out = pw(&db)
        .args(["eol", "report", &code, "--csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    let planned = 23;
    assert_eq!(csv.lines().count(), 1 + planned, "{csv}");
}

#[test]
fn a_weak_cell_fails_the_cell_voltage_step_naming_the_cell() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let sim = Sim::jbd15(dir.path(), &["offset=7:-400"]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);
    let (exit, text, doc) = eol(&db, &sim, &good_answers(dir.path()));
    assert_eq!(exit, 1, "{text}");
    assert_eq!(doc["outcome"], "fail");
    assert_eq!(failed_steps(&doc)[0], "cell_voltages", "{doc:#}");
    let m = measurement(&doc, "cell_voltages", "cell_voltage_min_mv");
    assert_eq!(m["outcome"], "fail");
    assert!(
        m["reason"].as_str().unwrap().contains("lowest: cell 7"),
        "{m}"
    );
    assert!(doc["reason"]
        .as_str()
        .unwrap()
        .contains("cell_voltage_min_mv"));
    assert!(
        text.contains("FAIL  cell_voltages/cell_voltage_min_mv"),
        "{text}"
    );
    // The failed pack can be re-tested; every attempt is kept.
    let (exit, _, _) = eol(&db, &sim, &good_answers(dir.path()));
    assert_eq!(exit, 1);
    let runs = runs_json(&db, &code);
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

#[test]
fn a_swapped_cell_fails_the_spread_step_not_the_window() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    // A cell from another batch, 120 mV higher: inside the window, far off its neighbours.
    let sim = Sim::jbd15(dir.path(), &["offset=5:120"]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);
    let (exit, text, doc) = eol(&db, &sim, &good_answers(dir.path()));
    assert_eq!(exit, 1, "{text}");
    assert_eq!(failed_steps(&doc), ["cell_spread"], "{doc:#}");
    let m = measurement(&doc, "cell_spread", "cell_voltage_spread_mv");
    let reason = m["reason"].as_str().unwrap();
    assert!(
        reason.contains("above the high limit 30 mV") && reason.contains("to cell 5"),
        "{reason}"
    );
}

#[test]
fn a_wrong_configuration_fails_the_read_back_step_naming_the_field() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let sim = Sim::jbd15(dir.path(), &[]);
    // The board got another profile's charge over-current limit.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    let wrong = dir.path().join("wrong-ocp.toml");
    std::fs::write(
        &wrong,
        text.replace("charge_overcurrent_a = 50.0", "charge_overcurrent_a = 60.0"),
    )
    .unwrap();
    // Written as a board of no pack (the pack's own profile is the only one it may get).
    let wrong = wrong.to_str().unwrap();
    configure_with(
        &db,
        &sim,
        &["--no-pack", "--profile", wrong, "--barcode", &code],
    );
    let (exit, text, doc) = eol(&db, &sim, &good_answers(dir.path()));
    assert_eq!(exit, 1, "{text}");
    assert_eq!(failed_steps(&doc), ["config_readback"], "{doc:#}");
    let m = measurement(&doc, "config_readback", "config_mismatch_count");
    assert_eq!(m["value"], 1.0);
    let reason = m["reason"].as_str().unwrap();
    assert!(
        reason.contains("bms.charge_overcurrent_a: profile 50 A, BMS 60 A"),
        "{reason}"
    );
}

#[test]
fn a_dead_temperature_sensor_fails_the_temperature_step_naming_the_sensor() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let sim = Sim::jbd15(dir.path(), &["deadntc=2"]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);
    let (exit, text, doc) = eol(&db, &sim, &good_answers(dir.path()));
    assert_eq!(exit, 1, "{text}");
    assert_eq!(failed_steps(&doc)[0], "temperatures", "{doc:#}");
    let m = measurement(&doc, "temperatures", "temperature_min_c");
    assert_eq!(m["value"], -40.0);
    assert!(
        m["reason"]
            .as_str()
            .unwrap()
            .contains("sensor 2 at -40.0 °C"),
        "{m}"
    );
}

#[test]
fn a_cell_without_its_source_code_refuses_the_run_and_bad_answers_are_named() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    // The grading cabinet exported one cell without its origin; it still matches into the pack.
    import_cells(dir.path(), &db, 15, Some(5));
    let cells = match_pack(&db, "lfp-15s1p-100ah");
    assert!(cells.contains(&"LFP-005".to_string()));
    let code = assemble(&db, &cells);
    let sim = Sim::jbd15(dir.path(), &[]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);

    // A typo in the answers file is bad input, named, before anything is measured.
    let answers = dir.path().join("typo.toml");
    std::fs::write(&answers, "insulation_megaohm = 500\n").unwrap();
    let out = pw(&db)
        .args(["eol", "run", "--pack", &code, "--port", sim.port()])
        .arg("--answers")
        .arg(&answers)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'insulation_megaohm'"));

    // IEC 63338 does not permit repurposing a cell without traceability data: refused.
    let out = pw(&db)
        .args(["eol", "run", "--pack", &code, "--port", sim.port()])
        .arg("--answers")
        .arg(good_answers(dir.path()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cell LFP-005 has no source module/pack code") && err.contains("IEC 63338"),
        "{err}"
    );
    let runs = runs_json(&db, &code);
    assert!(runs.as_array().unwrap().is_empty());
}
