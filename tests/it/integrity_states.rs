//! Cell and pack states through the real binary ("Line integrity", findings 1, 2, 5): a
//! rejected cell is never placed, a rejected cell of a built pack puts the pack on hold (no
//! configuration, no test, no good passport), the rework verbs, and a profile given by path
//! that travels with its pack.

use crate::support::eol::{
    assemble, assembled_pack, import_cells, match_pack, pack_json, pw, pw_json,
};
use crate::support::pg::station_db;
use std::path::Path;

/// Run `args`; its exit code, stdout and stderr.
fn run(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = pw(db).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A spare graded cell with exactly `like`'s grading, so it fits wherever `like` did.
fn import_twin(dir: &Path, db: &Path, id: &str, like: &str) {
    let c = pw_json(db, &["cells", "show", like, "--json"]);
    let file = dir.join(format!("{id}.csv"));
    std::fs::write(
        &file,
        format!(
            "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n\
             {id},{},{},{},1.0,A,EVMOD-0099\n",
            c["capacity_mah"], c["ir_mohm"], c["ocv_mv"]
        ),
    )
    .unwrap();
    pw(db)
        .args(["cells", "import"])
        .arg(&file)
        .args(["--chemistry", "LFP"])
        .assert()
        .success();
}

fn cell_status(db: &Path, id: &str) -> String {
    pw_json(db, &["cells", "show", id, "--json"])["status"]
        .as_str()
        .unwrap()
        .to_string()
}

crate::on_both_backends!(
    a_rejected_cell_of_a_matched_pack_leaves_its_plan_and_is_refused_at_the_scan
);
fn a_rejected_cell_of_a_matched_pack_leaves_its_plan_and_is_refused_at_the_scan(
    backend: crate::support::pg::Backend,
) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    import_cells(dir.path(), &db, 17, None);
    let cells = match_pack(&db, "lfp-15s1p-100ah");
    let bad = cells[8].clone();

    let (code, out, _) = run(&db, &["cells", "reject", &bad, "--reason", "swollen"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("taken out of pack #1's plan"), "{out}");
    assert!(out.contains("slot S9P1 is open"), "{out}");
    assert!(out.contains("packs rework 1 --in CELL"), "{out}");

    // The finding exactly: the whole pack scanned, the rejected cell among them.
    let mut args = vec!["assemble", "1", "--scan"];
    args.extend(cells.iter().map(String::as_str));
    let (code, out, err) = run(&db, &args);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("REFUSED: REJECTED CELL") && err.contains("swollen"),
        "{err}"
    );
    assert!(out.contains("8 of 15 cells placed"), "{out}");
    // The next good cell waits for the open slot to be filled.
    let (code, _, err) = run(&db, &["assemble", "1", "--scan", &cells[9]]);
    assert_eq!(code, Some(1));
    assert!(err.contains("OPEN SLOT") && err.contains("S9P1"), "{err}");
    // Scanned on its own, it is refused with the reason it was rejected.
    let (code, _, err) = run(&db, &["assemble", "1", "--scan", &bad]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("REJECTED CELL") && err.contains(&bad) && err.contains("swollen"),
        "{err}"
    );
    assert_eq!(cell_status(&db, &bad), "rejected");
    assert!(pw(&db)
        .args(["packs", "show", "1"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("(open)"))
        .unwrap());

    // A rejected cell cannot fill the slot either; a twin of good standing can.
    let (code, _, err) = run(&db, &["packs", "rework", "1", "--in", &bad]);
    assert_eq!(code, Some(2));
    assert!(err.contains("rejected") && err.contains("swollen"), "{err}");
    import_twin(dir.path(), &db, "TWIN-1", &bad);
    let (code, out, err) = run(&db, &["packs", "rework", "1", "--in", "TWIN-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("S9P1") && out.contains("matched"), "{out}");
    let code = assemble(
        &db,
        &["TWIN-1".to_string()]
            .into_iter()
            .chain(cells[9..].iter().cloned())
            .collect::<Vec<_>>(),
    );
    assert_eq!(pack_json(&db, &code)["status"], "assembled");
    assert_eq!(cell_status(&db, "TWIN-1"), "assembled");
    assert_eq!(cell_status(&db, &bad), "rejected");
}

crate::on_both_backends!(a_rejected_cell_of_an_assembled_pack_puts_it_on_hold_until_reworked);
fn a_rejected_cell_of_an_assembled_pack_puts_it_on_hold_until_reworked(
    backend: crate::support::pg::Backend,
) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    let (code, cells) = assembled_pack(dir.path(), &db);
    let bad = cells[2].clone();

    let (exit, out, _) = run(&db, &["cells", "reject", &bad, "--reason", "swollen"]);
    assert_eq!(exit, Some(0));
    assert!(out.contains("ON HOLD"), "{out}");
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "on_hold");
    let note = pack["status_note"].as_str().unwrap();
    assert!(
        note.contains("swollen") && note.contains("ann") && note.contains("line-1"),
        "{note}"
    );

    // No configuration write, no test: refused before any port is opened, naming the hold.
    let (exit, _, err) = run(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--pack",
            &code,
            "--protocol",
            "jbd",
            "--port",
            "/dev/pw-no-such-port",
        ],
    );
    assert_eq!(exit, Some(2), "{err}");
    assert!(err.contains("ON HOLD") && err.contains("swollen"), "{err}");
    let (exit, _, err) = run(
        &db,
        &[
            "eol",
            "run",
            "--pack",
            &code,
            "--protocol",
            "jbd",
            "--port",
            "/dev/pw-no-such-port",
        ],
    );
    assert_eq!(exit, Some(2), "{err}");
    assert!(
        err.contains("cannot be tested") && err.contains("ON HOLD"),
        "{err}"
    );
    // The refused write is logged like every attempt.
    let v = pw_json(&db, &["trace", &code, "--json"]);
    assert!(v["bms_writes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["outcome"] == "refused"));

    // The passport says on hold.
    let p = pw_json(&db, &["trace", &code, "--passport"]);
    assert_eq!(p["pack_status"], "on_hold");
    assert!(p["on_hold"].as_str().unwrap().contains("swollen"));
    assert!(p["gaps"][0].as_str().unwrap().contains("ON HOLD"));

    // A cell in a held pack cannot simply be un-rejected: rework it.
    let (exit, _, err) = run(&db, &["cells", "unreject", &bad, "--reason", "oops"]);
    assert_eq!(exit, Some(2));
    assert!(err.contains("rework"), "{err}");

    // Rework: a cell of another chemistry-fitting but unavailable kind is refused; the twin
    // goes in, the pack is assembled again and needs configuration and a new test.
    let (exit, _, err) = run(
        &db,
        &["packs", "rework", &code, "--out", &bad, "--in", &cells[3]],
    );
    assert_eq!(exit, Some(2));
    assert!(err.contains("not available"), "{err}");
    import_twin(dir.path(), &db, "TWIN-2", &bad);
    let (exit, out, err) = run(
        &db,
        &[
            "packs",
            "rework",
            &code,
            "--out",
            &bad,
            "--in",
            "TWIN-2",
            "--reason",
            "swollen cell replaced",
        ],
    );
    assert_eq!(exit, Some(0), "{err}");
    assert!(
        out.contains("S3P1") && out.contains("new end-of-line test"),
        "{out}"
    );
    assert!(out.contains(&format!("cell {bad} is rejected")), "{out}");
    let pack = pack_json(&db, &code);
    assert_eq!(pack["status"], "assembled");
    assert_eq!(pack["groups"][2][0], "TWIN-2");
    assert_eq!(cell_status(&db, &bad), "rejected");
    assert_eq!(cell_status(&db, "TWIN-2"), "assembled");

    // Every change is in the trace with who, where and when.
    let v = pw_json(&db, &["trace", &code, "--json"]);
    let verbs: Vec<&str> = v["state_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["cell reject", "pack hold", "pack rework"]);
    let rework = &v["state_changes"][2];
    assert_eq!(rework["operator"], "ann");
    assert_eq!(rework["station"], "line-1");
    assert!(rework["detail"].as_str().unwrap().contains("TWIN-2 in"));
    assert!(v["pack"]["status_note"].is_null(), "{}", v["pack"]);
    let (_, text, _) = run(&db, &["trace", &code]);
    assert!(
        text.contains("state changes:") && text.contains("pack rework"),
        "{text}"
    );
    // The passport no longer says on hold.
    assert!(pw_json(&db, &["trace", &code, "--passport"])["on_hold"].is_null());
}

crate::on_both_backends!(release_scrap_unreject_and_source_are_verbs_with_a_record);
fn release_scrap_unreject_and_source_are_verbs_with_a_record(backend: crate::support::pg::Backend) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    import_cells(dir.path(), &db, 17, Some(1));
    let cells = match_pack(&db, "lfp-15s1p-100ah");

    // Release: the matched pack's cells go back to available and can be matched again.
    let (exit, out, err) = run(&db, &["packs", "release", "1", "--reason", "wrong profile"]);
    assert_eq!(exit, Some(0), "{err}");
    assert!(out.contains("15 cells back to available"), "{out}");
    assert_eq!(pack_json(&db, "1")["status"], "released");
    assert!(cells.iter().all(|c| cell_status(&db, c) == "available"));
    let (exit, _, err) = run(&db, &["packs", "release", "1"]);
    assert_eq!(exit, Some(2));
    assert!(err.contains("only a matched pack"), "{err}");
    pw(&db)
        .args(["match", "--profile", "lfp-15s1p-100ah", "--commit"])
        .assert()
        .success();
    let again: Vec<String> = pack_json(&db, "2")["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[0].as_str().unwrap().to_string())
        .collect();

    // Source: a cell imported without its module code gets one, recorded.
    let (exit, out, _) = run(
        &db,
        &["cells", "source", "LFP-001", "--module", "EVMOD-0101"],
    );
    assert_eq!(exit, Some(0));
    assert!(out.contains("EVMOD-0101"), "{out}");
    let v = pw_json(&db, &["trace", "LFP-001", "--json"]);
    assert_eq!(v["cell"]["source_code"], "EVMOD-0101");
    assert_eq!(
        v["state_changes"].as_array().unwrap().last().unwrap()["verb"],
        "cell source"
    );
    let (exit, _, _) = run(&db, &["cells", "source", "NOPE", "--module", "X"]);
    assert_eq!(exit, Some(2));

    // Scrap with the good cells back to stock: said per cell; a rejected one is scrapped.
    let v = crate::support::eol::json(
        &pw(&db)
            .args(["assemble", "2", "--json", "--scan"])
            .args(&again)
            .output()
            .unwrap(),
    );
    let code = v["code"].as_str().unwrap().to_string();
    pw(&db)
        .args(["cells", "reject", &again[0], "--reason", "swollen"])
        .assert()
        .success();
    let (exit, out, err) = run(
        &db,
        &[
            "packs",
            "scrap",
            &code,
            "--reason",
            "dropped",
            "--cells-to-stock",
        ],
    );
    assert_eq!(exit, Some(0), "{err}");
    assert!(
        out.contains(&format!("cell {} scrapped (was rejected)", again[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("cell {} available", again[1])),
        "{out}"
    );
    assert_eq!(pack_json(&db, &code)["status"], "scrapped");
    assert_eq!(cell_status(&db, &again[1]), "available");
    assert_eq!(cell_status(&db, &again[0]), "scrapped");

    // Un-reject: the scrapped cell is back in stock with the reason on record.
    let (exit, _, err) = run(
        &db,
        &["cells", "unreject", &again[0], "--reason", "re-graded fine"],
    );
    assert_eq!(exit, Some(0), "{err}");
    assert_eq!(cell_status(&db, &again[0]), "available");
    let v = pw_json(&db, &["trace", &again[0], "--json"]);
    let last = v["state_changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["verb"], "cell unreject");
    assert_eq!(last["reason"], "re-graded fine");
    let (exit, _, err) = run(&db, &["cells", "unreject", &again[0], "--reason", "again"]);
    assert_eq!(exit, Some(2));
    assert!(err.contains("not rejected"), "{err}");

    // Scrapping outright scraps every cell.
    pw(&db)
        .args(["match", "--profile", "lfp-15s1p-100ah", "--commit"])
        .assert()
        .success();
    let (exit, out, _) = run(&db, &["packs", "scrap", "3", "--reason", "line stop"]);
    assert_eq!(exit, Some(0));
    assert_eq!(out.matches(" scrapped\n").count(), 15, "{out}");
}

#[test]
fn a_profile_given_by_path_travels_with_its_pack() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    import_cells(dir.path(), &db, 17, None);
    let file = dir.path().join("line7.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    std::fs::write(&file, &text).unwrap();
    let path = file.display().to_string();
    let cells = match_pack(&db, &path);
    assert_eq!(pack_json(&db, "1")["profile"], "line7");

    // Before: "no profile named 'line7'". Now the kept text is used.
    let code = assemble(&db, &cells);
    let (exit, out, err) = run(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--pack",
            &code,
            "--protocol",
            "jbd",
            "--port",
            "/dev/null",
            "--dry-run",
        ],
    );
    assert_eq!(exit, Some(0), "{out}{err}");
    let (exit, out, _) = run(&db, &["packs", "profile", &code]);
    assert_eq!(exit, Some(0));
    assert!(
        out.contains("line7.toml") && out.contains("sha256"),
        "{out}"
    );
    assert!(!out.contains("changed"), "{out}");

    // The file changes: said, not used, until adopted explicitly.
    std::fs::write(&file, format!("# rev 2\n{text}")).unwrap();
    let (_, out, _) = run(&db, &["packs", "profile", &code]);
    assert!(out.contains("changed since pack"), "{out}");
    let (exit, _, err) = run(&db, &["trace", &code]);
    assert_eq!(exit, Some(0), "{err}");
    std::fs::remove_file(&file).unwrap();
    // Even with the file gone the pack keeps working from its kept profile.
    let (exit, out, err) = run(
        &db,
        &[
            "bms",
            "config",
            "write",
            "--pack",
            &code,
            "--protocol",
            "jbd",
            "--port",
            "/dev/null",
            "--dry-run",
        ],
    );
    assert_eq!(exit, Some(0), "{out}{err}");
    std::fs::write(&file, format!("# rev 2\n{text}")).unwrap();
    let (exit, _, err) = run(&db, &["packs", "profile", &code, "--adopt-disk"]);
    assert_eq!(exit, Some(2), "a reason is required: {err}");
    let (exit, out, err) = run(
        &db,
        &[
            "packs",
            "profile",
            &code,
            "--adopt-disk",
            "--reason",
            "rev 2 approved",
        ],
    );
    assert_eq!(exit, Some(0), "{err}");
    assert!(out.contains("now uses profile"), "{out}");
    let (_, out, _) = run(&db, &["packs", "profile", &code]);
    assert!(!out.contains("changed since"), "{out}");
    let v = pw_json(&db, &["trace", &code, "--json"]);
    let last = v["state_changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["verb"], "pack profile");
    assert_eq!(last["reason"], "rev 2 approved");
}
