//! Records that are never lost: killing `eol run` (SIGKILL) in the middle leaves a database
//! that passes `PRAGMA integrity_check`, holds every measurement printed before the kill, and
//! shows the run as aborted; SIGTERM ends the run as aborted by the process itself.

use crate::support::eol::{
    assembled_pack, configure, eol_run, good_answers, pack_json, runs_json, Sim,
};
use crate::support::pg::station_db;
use packwright::store::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// Start `eol run` on pack 1 with stdout piped.
fn start_run(db: &Path, sim: &Sim, answers: &Path) -> Child {
    eol_run(db, sim, answers)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// Read printed measurement lines (`  pass  step/name = …`) until `n` have been shown; returns
/// their `step/name` keys and the reader, to be kept open while the run goes on.
fn shown_measurements(child: &mut Child, n: usize) -> (Vec<String>, Lines) {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let mut shown = Vec::new();
    while shown.len() < n {
        let line = lines
            .next()
            .expect("the run ended before enough measurements were shown")
            .unwrap();
        let t = line.trim_start();
        if ["pass ", "FAIL ", "ERROR ", "skip "]
            .iter()
            .any(|p| t.starts_with(p))
        {
            let key = t.split_whitespace().nth(1).unwrap().to_string();
            shown.push(key);
        }
    }
    (shown, lines)
}

/// Every measurement shown before the run ended is in its record.
#[track_caller]
fn assert_kept(doc: &serde_json::Value, shown: &[String]) {
    let kept: Vec<String> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["measurements"].as_array().unwrap().iter().map(|m| {
                format!(
                    "{}/{}",
                    m["step_id"].as_str().unwrap(),
                    m["name"].as_str().unwrap()
                )
            })
        })
        .collect();
    for key in shown {
        assert!(kept.contains(key), "{key} was shown but not kept: {kept:?}");
    }
    assert!(kept.len() >= shown.len());
}

#[test]
fn sigkill_mid_run_keeps_every_shown_measurement_and_the_run_reads_aborted() {
    let dir = crate::support::tempdir();
    // A SQLite file on either backend: this test opens the file and checks its integrity.
    let db = dir.path().join("line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    // A slow board, so the kill lands in the middle of the plan.
    let sim = Sim::jbd15(dir.path(), &["delay=60"]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);

    let mut child = start_run(&db, &sim, &good_answers(dir.path()));
    let (shown, _rest) = shown_measurements(&mut child, 7);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The file is sound; the run is still marked running until someone looks.
    let store = packwright::store::Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let runs = store.eol_runs_for_pack(1).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_str(), "running");
    drop(store);

    // The next report sees the process gone and marks the run aborted, keeping what it took.
    let docs = runs_json(&db, &code);
    let doc = &docs[0];
    assert_eq!(doc["outcome"], "aborted", "{doc:#}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("killed or crashed"),
        "{doc:#}"
    );
    assert!(doc["ended_at"].is_string());
    assert_kept(doc, &shown);
    // The pack keeps its status (configured by the write above): an aborted run is no verdict.
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "configured");
    let store = packwright::store::Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn sigterm_mid_run_ends_it_as_aborted_with_the_reason_and_exit_3() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let sim = Sim::jbd15(dir.path(), &["delay=60"]);
    configure(&db, &sim, "lfp-15s1p-100ah", &code);

    let mut child = start_run(&db, &sim, &good_answers(dir.path()));
    let (shown, rest) = shown_measurements(&mut child, 4);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signalling our own child process, whose id we hold and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // The process reports its own end on the way out.
    let tail: Vec<String> = rest.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{tail:?}");
    assert!(tail.last().unwrap().starts_with("ABORTED"), "{tail:?}");

    let docs = runs_json(&db, &code);
    let doc = &docs[0];
    assert_eq!(doc["outcome"], "aborted");
    assert!(
        doc["reason"].as_str().unwrap().contains("SIGTERM"),
        "{doc:#}"
    );
    assert_kept(doc, &shown);
}

#[test]
fn a_pulled_cable_aborts_the_run_keeping_what_was_measured() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    // The adapter vanishes after the board's 12th reply and stays away for a minute.
    let mut sim = Sim::jbd15(dir.path(), &["disconnect=12:60000"]);
    let mut child = start_run(&db, &sim, &good_answers(dir.path()));
    let (shown, rest) = shown_measurements(&mut child, 2);
    let tail: Vec<String> = rest.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{tail:?}");

    let docs = runs_json(&db, &code);
    let doc = &docs[0];
    assert_eq!(doc["outcome"], "aborted", "{doc:#}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("link to the BMS lost"),
        "{doc:#}"
    );
    assert_kept(doc, &shown);
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "assembled");
    assert_eq!(sim.injected("disconnect"), 1, "the cable was pulled once");
}
