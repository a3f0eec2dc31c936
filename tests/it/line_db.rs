//! The line database (PostgreSQL) through the real binary: several stations on one server,
//! each its own process with its own station name; two stations racing for the same cells and
//! the same pack; an unreachable server said as such (exit 4) without its password.

use crate::support::eol::{good_answers, import_cells, json, pw, pw_json, Sim};
use crate::support::pg::fresh_db;
use std::path::{Path, PathBuf};

/// The binary on `db` as station `station`.
fn at(db: &Path, station: &str) -> assert_cmd::Command {
    let mut cmd = pw(db);
    cmd.env("PACKWRIGHT_STATION", station);
    cmd
}

fn cells_of(pack: &serde_json::Value) -> Vec<String> {
    pack["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g.as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_pack_matched_assembled_configured_and_tested_at_three_stations_is_traced_from_any() {
    let dir = crate::support::tempdir();
    let db = PathBuf::from(fresh_db());
    // Intake at the first station (the helper's station, line-1).
    import_cells(dir.path(), &db, 17, None);
    at(&db, "match-1")
        .args(["match", "--profile", "lfp-15s1p-100ah", "--commit"])
        .assert()
        .success();
    // Assembly at another station sees the pack the first one matched.
    let pack = json(
        &at(&db, "assembly-1")
            .args(["packs", "show", "1", "--json"])
            .output()
            .unwrap(),
    );
    let cells = cells_of(&pack);
    assert_eq!(cells.len(), 15);
    let done = json(
        &at(&db, "assembly-1")
            .args(["assemble", "1", "--json", "--scan"])
            .args(&cells)
            .output()
            .unwrap(),
    );
    let code = done["code"].as_str().unwrap().to_string();
    // Configuration and the end-of-line test at a third, against a simulated board.
    let sim = Sim::jbd15(dir.path(), &[]);
    let out = at(&db, "bench-1")
        .env("PACKWRIGHT_STATION_ROLE", "bench")
        .env("PACKWRIGHT_LINE", "L1")
        .args([
            "bms",
            "config",
            "write",
            "--protocol",
            "jbd",
            "--port",
            sim.port(),
        ])
        .args(["--profile", "lfp-15s1p-100ah", "--barcode", &code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers = good_answers(dir.path());
    let out = at(&db, "bench-1")
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
        .arg("--answers")
        .arg(&answers)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The whole record, the same from every station.
    let traces: Vec<serde_json::Value> = ["line-1", "match-1", "assembly-1", "bench-1"]
        .iter()
        .map(|s| {
            json(
                &at(&db, s)
                    .args(["trace", &code, "--json"])
                    .output()
                    .unwrap(),
            )
        })
        .collect();
    for t in &traces[1..] {
        assert_eq!(t, &traces[0]);
    }
    let t = &traces[0];
    assert_eq!(t["pack"]["status"], "passed");
    assert_eq!(t["pack"]["station"], "match-1");
    assert_eq!(t["eol_runs"][0]["station"], "bench-1");
    assert_eq!(t["eol_runs"][0]["outcome"], "pass");
    let writers: Vec<&str> = t["bms_writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["station"].as_str().unwrap())
        .collect();
    assert!(
        !writers.is_empty() && writers.iter().all(|s| *s == "bench-1"),
        "{writers:?}"
    );
    assert_eq!(t["cells"].as_array().unwrap().len(), 15, "{t:#}");

    // The registry knows every station that worked, with what it said of itself.
    let status = pw_json(&db, &["line", "status", "--json"]);
    assert_eq!(status["schema"], "packwright.line.status");
    let names: Vec<&str> = status["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["assembly-1", "bench-1", "line-1", "match-1"]);
    let bench = &status["stations"][1];
    assert_eq!(bench["role"], "bench");
    assert_eq!(bench["line"], "L1");
    assert_eq!(bench["software_version"], env!("CARGO_PKG_VERSION"));
    assert!(bench["last_contact"].as_str().unwrap().ends_with('Z'));
    let stages = status["packs_by_stage"].as_array().unwrap();
    assert!(
        stages.contains(&serde_json::json!(["passed", 1])),
        "{stages:?}"
    );
    assert!(
        stages.contains(&serde_json::json!(["matched", 0])),
        "{stages:?}"
    );
    let text = at(&db, "line-1").args(["line", "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("stations: 4"), "{text}");
    assert!(
        text.contains("packs: matched 0, assembled 0, configured 0, passed 1"),
        "{text}"
    );

    // A SQLite file has no line status: told where it is kept.
    let file = dir.path().join("own.db");
    let out = pw(&file).args(["line", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line database"));
}

#[test]
fn two_stations_racing_for_the_same_cells_and_the_same_pack_one_wins_the_other_is_told_why() {
    let dir = crate::support::tempdir();
    let db = PathBuf::from(fresh_db());
    // Cells for one pack only: both stations propose the same one.
    import_cells(dir.path(), &db, 17, None);
    let spawn = |station: &str, args: &[&str]| {
        let mut cmd = crate::support::eol::pw_process(&db);
        cmd.env("PACKWRIGHT_STATION", station)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let commit = ["match", "--profile", "lfp-15s1p-100ah", "--commit"];
    let (a, b) = (spawn("match-1", &commit), spawn("match-2", &commit));
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let packs = pw_json(&db, &["packs", "list", "--json"]);
    let packs = packs["items"].as_array().unwrap();
    assert_eq!(packs.len(), 1, "{packs:#?}");
    let won = outs.iter().filter(|o| o.status.success()).count();
    let said: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    // The loser either lost the commit (its cells were taken meanwhile) or matched after the
    // winner and found too few cells: told so either way, nothing half-committed.
    assert!(won >= 1, "{said:?}");
    if won == 1 {
        let lost = outs.iter().position(|o| !o.status.success()).unwrap();
        assert_eq!(outs[lost].status.code(), Some(2), "{said:?}");
        assert!(
            said[lost].contains("not available any more")
                || said[lost].contains("try again")
                || said[lost].contains("not enough cells for one 15S1P pack"),
            "{said:?}"
        );
    }
    let reserved = pw_json(&db, &["cells", "list", "--status", "reserved", "--json"]);
    assert_eq!(reserved["items"].as_array().unwrap().len(), 15);

    // The same pack: two stations scan all its cells at once; one completes it, the other is
    // refused (exit 2) naming why; one code, every cell placed once.
    let pack = pw_json(&db, &["packs", "show", "1", "--json"]);
    let cells = cells_of(&pack);
    let scan: Vec<&str> = ["assemble", "1", "--scan"]
        .into_iter()
        .chain(cells.iter().map(String::as_str))
        .collect();
    let (a, b) = (spawn("assembly-1", &scan), spawn("assembly-2", &scan));
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let said: Vec<String> = outs
        .iter()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .collect();
    // The loser's scan is refused (exit 1, as any refused scan) or its placement lost the
    // race in the database (exit 2); either way it says which cell and why.
    let won: Vec<usize> = (0..2).filter(|i| codes[*i] == Some(0)).collect();
    assert_eq!(won.len(), 1, "{codes:?} {said:?}");
    let lost = 1 - won[0];
    assert!(
        matches!(codes[lost], Some(1) | Some(2)),
        "{codes:?} {said:?}"
    );
    assert!(
        said[lost].contains("REFUSED") || said[lost].contains("not waiting to be placed"),
        "{said:?}"
    );
    assert!(said[won[0]].contains("assembled: code"), "{said:?}");
    let pack = pw_json(&db, &["packs", "show", "1", "--json"]);
    assert_eq!(pack["status"], "assembled", "{pack:#}");
    let assembled = pw_json(&db, &["cells", "list", "--status", "assembled", "--json"]);
    assert_eq!(assembled["items"].as_array().unwrap().len(), 15);
}

#[test]
fn an_unreachable_line_database_is_exit_4_naming_it_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = PathBuf::from(format!("postgres://line:secret@127.0.0.1:{port}/line"));
    let out = pw(&db).args(["cells", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot reach the line database"), "{err}");
    assert!(err.contains(&format!("line:***@127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn a_station_file_is_copied_into_the_line_database_once_verified_and_traced_the_same() {
    use crate::support::eol::{assembled_pack, configure, eol_run};
    let dir = crate::support::tempdir();
    // A station's own history: cells, a pack matched, assembled, configured and tested.
    let file = dir.path().join("station.db");
    let (code, _) = assembled_pack(dir.path(), &file);
    let sim = Sim::jbd15(dir.path(), &[]);
    configure(&file, &sim, "lfp-15s1p-100ah", &code);
    let answers = good_answers(dir.path());
    let out = eol_run(&file, &sim, &answers).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = fresh_db();
    let copy = |from: &Path| {
        pw(&PathBuf::from(&url))
            .args(["db", "copy", "--from"])
            .arg(from)
            .args(["--to", &url, "--json"])
            .output()
            .unwrap()
    };
    let first = json(&copy(&file));
    let tables = first["items"].as_array().unwrap();
    let rows = |t: &str| {
        tables.iter().find(|x| x["table"] == t).unwrap()["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rows("cells"), 17);
    assert_eq!(rows("packs"), 1);
    assert_eq!(rows("pack_cells"), 15);
    assert!(rows("eol_measurements") > 10, "{tables:?}");
    assert!(rows("bms_write_fields") > 10, "{tables:?}");
    // The station's audit trail, entry for entry: import, match, assembly, write, test.
    assert!(rows("audit_log") >= 5, "{tables:?}");
    for t in tables {
        assert_eq!(t["rows"], t["inserted"], "{t}");
    }
    // The line database tells the pack's story as the station did.
    let line = PathBuf::from(&url);
    let there = pw_json(&line, &["trace", &code, "--json"]);
    let here = pw_json(&file, &["trace", &code, "--json"]);
    assert_eq!(there, here);
    // New records continue the ids.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "id,capacity_mah\nNEW-1,1000\n").unwrap();
    pw(&line)
        .args(["cells", "import"])
        .arg(&more)
        .args(["--chemistry", "LFP"])
        .assert()
        .success();

    // Again: nothing added, every table still verified.
    let again = json(&copy(&file));
    for t in again["items"].as_array().unwrap() {
        assert_eq!(t["inserted"], 0, "{t}");
    }
    // The copied chain and the line's own entry after it verify as one.
    let verified = pw(&line).args(["audit", "verify"]).output().unwrap();
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );

    // Another file of the same station: its trail is not the one anchored by the first copy,
    // so it is refused before a row is copied.
    let other_dir = crate::support::tempdir();
    let csv = other_dir.path().join("o.csv");
    std::fs::write(&csv, "id,capacity_mah\nOTHER-1,1000\n").unwrap();
    let file_of = |name: &str, station: &str| {
        let db = other_dir.path().join(name);
        pw(&db)
            .env("PACKWRIGHT_STATION", station)
            .args(["cells", "import"])
            .arg(&csv)
            .args(["--chemistry", "LFP"])
            .assert()
            .success();
        db
    };
    let out = copy(&file_of("again.db", "line-1"));
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("not that station's file") && said.contains("nothing copied"),
        "{said}"
    );

    // Another station's file under the same ids: refused, nothing of it kept.
    let other = file_of("other.db", "line-2");
    let out = copy(&other);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("holds other records"), "{said}");
    let cells = pw_json(&line, &["cells", "list", "--json"]);
    let ids: Vec<&str> = cells["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&"OTHER-1") && ids.contains(&"NEW-1"),
        "{ids:?}"
    );
}
