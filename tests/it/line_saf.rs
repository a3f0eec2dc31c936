//! Store-and-forward on the line database: a TCP proxy between the station and PostgreSQL is
//! cut in the middle of an end-of-line run (while it waits for manual values on standard
//! input) and restored. The run carries on and passes; its records queue in the station's
//! outbox and drain after the restore, none twice and none missing; a reservation during the
//! cut is refused with since when and how many records wait, and changes nothing; a station
//! killed with a backlog sends it at its next command.

use crate::support::eol::{assembled_pack, configure, pw, pw_json, pw_process, Sim};
use crate::support::pg::fresh_db;
use crate::support::proxy::Proxy;
use packwright::store::prelude::*;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// A station on the line database through a proxy, with a graded, matched, assembled and
/// configured pack (pack 1) and 17 more available cells.
struct Line {
    _dir: crate::support::TestDir,
    direct: String,
    proxy: Proxy,
    via: PathBuf,
    outbox: PathBuf,
    sim: Sim,
}

fn line() -> Line {
    line_with(true, &[])
}

/// [`line`]; its pack configured or only assembled, its board simulated with `sim_opts`.
fn line_with(configured: bool, sim_opts: &[&str]) -> Line {
    let dir = crate::support::tempdir();
    let direct = fresh_db();
    let proxy = Proxy::start(Proxy::port_of(&direct));
    let via = PathBuf::from(proxy.url(&direct));
    let outbox = dir.path().join("outbox.db");
    let (code, _) = assembled_pack(dir.path(), &via);
    let sim = Sim::jbd15(dir.path(), sim_opts);
    if configured {
        configure(&via, &sim, "lfp-15s1p-100ah", &code);
    }
    // Cells enough for a second pack, for a reservation during the cut.
    let mut csv = String::from(
        "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n",
    );
    for i in 1..=17 {
        csv.push_str(&format!(
            "LFP-2{i:02},{},0.52,3300,1.0,A,EVMOD-0099\n",
            96_000 + i
        ));
    }
    let file = dir.path().join("more.csv");
    std::fs::write(&file, csv).unwrap();
    pw(&via)
        .args(["cells", "import"])
        .arg(&file)
        .args(["--chemistry", "LFP"])
        .assert()
        .success();
    Line {
        _dir: dir,
        direct,
        proxy,
        via,
        outbox,
        sim,
    }
}

impl Line {
    /// The binary as this station, through the proxy, with its outbox.
    fn station(&self) -> std::process::Command {
        let mut cmd = pw_process(&self.via);
        cmd.env("PACKWRIGHT_OUTBOX", &self.outbox);
        cmd
    }

    /// `eol run` of pack 1 with the manual values to come on standard input.
    fn start_run(&self) -> (Child, ChildStdin, Lines) {
        let mut child = self
            .station()
            .args(["eol", "run", "--pack", "1", "--port", self.sim.port()])
            .args(["--protocol", "jbd"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, stdin, lines)
    }

    /// The station's backlog, read from its outbox file.
    fn backlog(&self) -> packwright::store::Backlog {
        packwright::store::Forwarder::open(&self.outbox, &self.via.to_string_lossy(), "line-1")
            .unwrap()
            .backlog()
            .unwrap()
    }

    /// The line database, straight (not through the proxy).
    fn db(&self) -> packwright::store::PgStore {
        packwright::store::PgStore::connect(&self.direct).unwrap()
    }

    /// How many records of `kind` (SQL LIKE) from station line-1 the line database applied,
    /// and how many distinct.
    fn forwarded(&self, kind: &str) -> (i64, i64) {
        let r = self.query(&format!(
            "SELECT COUNT(*), COUNT(DISTINCT (origin, seq)) FROM forwarded
             WHERE station = 'line-1' AND kind LIKE '{kind}'"
        ));
        (r[0], r[1])
    }

    /// One row of counts from the line database, straight.
    fn query(&self, sql: &str) -> Vec<i64> {
        let (url, sql) = (self.direct.clone(), sql.to_string());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let r = c.query_one(sql.as_str(), &[]).unwrap();
            (0..r.len()).map(|i| r.get::<_, i64>(i)).collect()
        })
        .join()
        .unwrap()
    }
}

/// A printed measurement line (`  pass  step/name = …`): its `step/name`.
fn measurement_key(line: &str) -> Option<String> {
    let t = line.trim_start();
    ["pass ", "FAIL ", "ERROR ", "skip "]
        .iter()
        .any(|p| t.starts_with(p))
        .then(|| t.split_whitespace().nth(1).unwrap().to_string())
}

/// Read the run's output until a measurement of step `step` is shown; every measurement
/// shown meanwhile is added to `shown`.
fn until_step(lines: &mut Lines, shown: &mut Vec<String>, step: &str) {
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(key) = measurement_key(&line) {
            shown.push(key.clone());
            if key.starts_with(&format!("{step}/")) {
                return;
            }
        }
    }
    panic!("the run ended before step {step} was shown; shown: {shown:?}");
}

fn answer(stdin: &mut ChildStdin, value: &str) {
    writeln!(stdin, "{value}").unwrap();
    stdin.flush().unwrap();
}

/// The measurements the line database holds for run `run`, as `step/name`.
fn kept(db: &packwright::store::PgStore, run: i64) -> Vec<String> {
    db.eol_measurements(run)
        .unwrap()
        .iter()
        .map(|m| format!("{}/{}", m.step_id, m.name))
        .collect()
}

/// Up to the cut: the automatic steps shown, the proxy cut, two manual values measured and
/// queued (the line database unreachable).
fn run_into_the_cut(l: &Line) -> (Child, ChildStdin, Lines, Vec<String>) {
    let (child, mut stdin, mut lines) = l.start_run();
    let mut shown = Vec::new();
    until_step(&mut lines, &mut shown, "barcode");
    l.proxy.cut();
    answer(&mut stdin, "550");
    until_step(&mut lines, &mut shown, "insulation");
    answer(&mut stdin, "PASS");
    until_step(&mut lines, &mut shown, "hipot");
    let b = l.backlog();
    assert_eq!(b.queued, 2, "{b:?}");
    assert!(b.unreachable_since.is_some(), "{b:?}");
    (child, stdin, lines, shown)
}

#[test]
fn a_cut_mid_run_queues_its_records_the_run_passes_and_all_arrive_once() {
    let l = line();
    let db = l.db();
    let cells_before = db.cell_counts().unwrap();
    let (mut child, mut stdin, mut lines, mut shown) = run_into_the_cut(&l);

    // A reservation needs the line's shared records: refused, saying since when and how many
    // records wait, and nothing of it is kept.
    let out = l
        .station()
        .args(["match", "--profile", "lfp-15s1p-100ah", "--commit"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("line database unreachable since ") && err.contains("records queued: 2"),
        "{err}"
    );
    assert_eq!(db.list_packs(None).unwrap().len(), 1);
    assert_eq!(db.cell_counts().unwrap(), cells_before);

    // Back on the line: the next record forwards the backlog, in order, then itself.
    l.proxy.restore();
    answer(&mut stdin, "0.03");
    until_step(&mut lines, &mut shown, "pe_continuity");
    answer(&mut stdin, "yes");
    until_step(&mut lines, &mut shown, "visual");
    drop(stdin);
    for line in lines {
        let _ = line.unwrap();
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the run did not pass");

    // Everything shown is kept once; the verdict arrived; the outbox is empty.
    let runs = db.eol_runs_for_pack(1).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_str(), "pass");
    let kept = kept(&db, runs[0].id);
    assert_eq!(kept, shown);
    let (n, distinct) = l.forwarded("eol.%");
    assert_eq!(
        (n, distinct),
        (shown.len() as i64 + 1, shown.len() as i64 + 1)
    );
    assert_eq!(db.get_pack(1).unwrap().unwrap().status.as_str(), "passed");
    let b = l.backlog();
    assert_eq!(
        (b.queued, b.refused, b.unreachable_since.clone()),
        (0, 0, None),
        "{b:?}"
    );

    // And the refused reservation can be made now.
    let out = l
        .station()
        .args(["match", "--profile", "lfp-15s1p-100ah", "--commit"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.list_packs(None).unwrap().len(), 2);
    let out = l.station().args(["line", "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("backlog of line-1: 0 record(s) queued"),
        "{text}"
    );
}

#[test]
fn a_station_killed_with_a_backlog_sends_it_at_its_next_command() {
    let l = line();
    let (mut child, _stdin, _lines, shown) = run_into_the_cut(&l);
    child.kill().unwrap(); // SIGKILL, two records queued
    child.wait().unwrap();
    assert_eq!(l.backlog().queued, 2);
    l.proxy.restore();

    // Any command drains first: line status then shows no backlog.
    let mut cmd = assert_cmd::Command::from_std(l.station());
    let status =
        crate::support::eol::json(&cmd.args(["line", "status", "--json"]).output().unwrap());
    assert_eq!(status["backlog"]["station"], "line-1", "{status:#}");
    assert_eq!(status["backlog"]["queued"], 0, "{status:#}");
    assert_eq!(
        status["backlog"]["unreachable_since"],
        serde_json::Value::Null
    );

    let db = l.db();
    let runs = db.eol_runs_for_pack(1).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(kept(&db, runs[0].id), shown);
    let (n, distinct) = l.forwarded("eol.%");
    assert_eq!((n, distinct), (shown.len() as i64, shown.len() as i64));
    // The run whose process died reads as aborted, keeping every measurement.
    let report = pw_json(&l.via, &["eol", "report", "1", "--json"]);
    assert_eq!(report["items"][0]["outcome"], "aborted", "{report:#}");
}

/// The console's Line screen shows the station's backlog in one line of its 80×24 frame, and
/// an alarm when the oldest record has waited past the threshold.
#[test]
fn the_line_screen_shows_the_backlog_and_an_alarm_at_80x24() {
    use crate::support::tui::Harness;
    use crossterm::event::KeyCode;
    use packwright::tui::msg::{BacklogView, Reply};
    let mut h = Harness::new();
    h.commit_fixed_packs(2);
    h.press(KeyCode::Char('1'));
    // A SQLite station has no outbox: no backlog line.
    assert!(!h.screen(80, 24).contains("Outbox"));
    let show = |h: &mut Harness, b: BacklogView| {
        let mut data = h.app.line.data.clone();
        data.backlog = Some(b);
        h.reply(Reply::Line(data));
        h.screen(80, 24)
    };
    let calm = show(
        &mut h,
        BacklogView {
            queued: 3,
            oldest_age_s: Some(20),
            ..Default::default()
        },
    );
    assert!(calm.contains("Outbox  3 queued, oldest 20 s"), "{calm}");
    assert!(!calm.contains("ALARM"), "{calm}");
    let alarm = show(
        &mut h,
        BacklogView {
            queued: 37,
            oldest_age_s: Some(12 * 60),
            unreachable_since: Some("2026-03-04T10:42:07.000Z".into()),
            refused: 0,
        },
    );
    assert!(
        alarm.contains(
            "Outbox  ALARM 37 queued, oldest 12 min; line db unreachable since 10:42 UTC"
        ),
        "{alarm}"
    );
    // Still the whole frame: 24 rows of 80, the footer's help kept.
    let rows: Vec<&str> = alarm.lines().collect();
    assert_eq!(rows.len(), 24, "{alarm}");
    assert!(rows.iter().all(|r| r.chars().count() <= 80), "{alarm}");
    assert!(rows[23].contains("? help"), "{alarm}");
}

/// A cut while a configuration write talks to the board: the write finishes, verified; its
/// log (outcome, fields) waits in the outbox; once the line database is back the station's
/// next command forwards it, once, and the pack is configured.
#[test]
fn a_cut_during_a_configuration_write_queues_its_log_and_the_pack_is_configured_once_back() {
    // A slow board, so the cut lands while the write is going on.
    let l = line_with(false, &["delay=40"]);
    let child = l
        .station()
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .arg(l.sim.port())
        .args(["--pack", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The attempt is begun on the line database before a byte is sent: cut then.
    let started = "SELECT COUNT(*) FROM bms_writes WHERE outcome = 'started'";
    let mut waited = 0;
    while l.query(started)[0] == 0 {
        assert!(waited < 6000, "the write never began");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    l.proxy.cut();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(": verified in"), "{stdout}");
    assert!(stderr.contains("waits in the station's outbox"), "{stderr}");
    assert_eq!(l.backlog().queued, 1);
    assert_eq!(l.query(started)[0], 1);
    let db = l.db();
    assert_eq!(
        db.get_pack(1).unwrap().unwrap().status.as_str(),
        "assembled"
    );

    l.proxy.restore();
    let shown = pw_json(&l.via, &["packs", "show", "1", "--json"]);
    // The record is in this station's outbox: a command with another outbox does not send it.
    assert_eq!(shown["status"], "assembled");
    let pack = crate::support::eol::json(
        &l.station()
            .args(["packs", "show", "1", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(pack["status"], "configured", "{pack:#}");
    let rows =
        l.query("SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome = 'verified') FROM bms_writes");
    assert_eq!(rows, [1, 1]);
    let fields_shown = stdout.lines().filter(|l| l.starts_with("ok  ")).count() as i64;
    assert!(fields_shown > 5, "{stdout}");
    let kept = l.query("SELECT COUNT(*), COUNT(*) FILTER (WHERE ok) FROM bms_write_fields");
    assert_eq!(kept, [fields_shown, fields_shown]);
    assert_eq!(l.forwarded("bms.%"), (1, 1));
    assert_eq!(l.backlog().queued, 0);
}
