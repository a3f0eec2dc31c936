//! `packwright label` through the real binary: a printer simulator on TCP (answers `~HS`,
//! records the job) gets exactly the rendered ZPL; a printer out of labels gets no job and the
//! print is logged as refused, not printed; `--zpl` and `file:` printers.

use crate::support::eol::{assemble, assembled_pack, import_cells, match_pack, pw, pw_json};
use crate::support::pg::station_db;
use crate::support::printer::printer;
use std::net::TcpListener;
use std::path::Path;

fn zpl(db: &Path, code: &str) -> String {
    let out = pw(db)
        .args(["label", "print", code, "--zpl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_label_goes_to_a_tcp_printer_byte_for_byte_and_every_print_is_logged() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);

    // --zpl: the job on stdout, both symbols carrying the code; nothing logged.
    let job = zpl(&db, &code);
    assert!(job.starts_with("^XA\n") && job.ends_with("^XZ\n"), "{job}");
    assert!(
        job.contains(&format!("^BCN,60,Y,N,N^FH^FD{code}^FS")),
        "{job}"
    );
    assert!(job.contains(&format!("^FDMA,{code}^FS")), "{job}");
    assert!(job.contains("^FDLFP  15S1P"), "{job}");
    assert!(job.contains("^FDStation line-1^FS"), "{job}");
    assert!(job.contains("^FDFrom 2 source modules^FS"), "{job}");
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    assert_eq!(h["prints"].as_array().unwrap().len(), 0);

    // The printer is asked its status, gets the job, and is asked again.
    let (addr, sim) = printer(false);
    let v = pw_json(
        &db,
        &["label", "print", &code, "--printer", &addr, "--json"],
    );
    let got = sim.join().unwrap();
    let mut want = b"~HS".to_vec();
    want.extend_from_slice(job.as_bytes());
    want.extend_from_slice(b"~HS");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(v["pack_code"], code.as_str());
    assert_eq!(v["print"]["reprint"], false);
    assert_eq!(v["print"]["report"]["after"]["paper_out"], false);

    // A second print is a reprint.
    let (addr2, sim) = printer(false);
    let out = pw(&db)
        .args(["label", "print", &code, "--printer", &addr2])
        .output()
        .unwrap();
    assert!(out.status.success());
    sim.join().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("reprint of pack {code} printed on {addr2}")),
        "{text}"
    );

    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    assert_eq!(h["schema"], "packwright.label_history");
    let prints = h["prints"].as_array().unwrap();
    assert_eq!(prints.len(), 2);
    for (p, (printer, reprint)) in prints.iter().zip([(&addr, false), (&addr2, true)]) {
        assert_eq!(p["outcome"], "printed");
        assert_eq!(p["printer"], printer.as_str());
        assert_eq!(p["reprint"], reprint);
        assert_eq!(p["station"], "line-1");
        assert_eq!(p["operator"], "ann");
        assert_eq!(p["template_version"], "default-4x2in-203dpi/1");
        assert!(p["finished_at"].is_string());
    }
    let out = pw(&db).args(["label", "history", &code]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("2 label print(s)") && text.contains("(reprint)"),
        "{text}"
    );
}

#[test]
fn a_printer_out_of_labels_gets_no_job_and_the_label_is_not_marked_printed() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);

    let (addr, sim) = printer(true);
    let out = pw(&db)
        .args(["label", "print", &code, "--printer", &addr])
        .output()
        .unwrap();
    let got = sim.join().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("out of labels (paper out)"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(out.stdout.is_empty());
    // Only the status request reached the printer.
    assert_eq!(got, b"~HS");

    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    let prints = h["prints"].as_array().unwrap();
    assert_eq!(prints.len(), 1);
    assert_eq!(prints[0]["outcome"], "refused");
    assert!(prints[0]["detail"].as_str().unwrap().contains("paper out"));

    // A printer that is not there: failed, logged, exit 3; the next good print is no reprint.
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = pw(&db)
        .args([
            "label",
            "print",
            &code,
            "--printer",
            &format!("tcp:127.0.0.1:{gone}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let (addr, sim) = printer(false);
    let v = pw_json(
        &db,
        &["label", "print", &code, "--printer", &addr, "--json"],
    );
    sim.join().unwrap();
    assert_eq!(v["print"]["reprint"], false);
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    let outcomes: Vec<&str> = h["prints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "failed", "printed"]);
}

#[test]
fn file_and_command_printers_get_the_job_and_an_uncoded_pack_gets_no_label() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let job = zpl(&db, &code);

    let file = dir.path().join("label.zpl");
    pw(&db)
        .args(["label", "print", &code, "--printer"])
        .arg(format!("file:{}", file.display()))
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), job);

    let spooled = dir.path().join("spooled.zpl");
    pw(&db)
        .args(["label", "print", &code, "--printer"])
        .arg(format!("cmd:cat > '{}'", spooled.display()))
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&spooled).unwrap(), job);

    // A spool command that fails: exit 3, logged as failed.
    let out = pw(&db)
        .args([
            "label",
            "print",
            &code,
            "--printer",
            "cmd:echo lp: no such queue >&2; exit 1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such queue"));
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    let outcomes: Vec<&str> = h["prints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["printed", "printed", "failed"]);

    // A matched, not yet assembled pack has no code: refused (exit 2), nothing written.
    let dir2 = crate::support::tempdir();
    let db2 = station_db(dir2.path(), "line.db");
    import_cells(dir2.path(), &db2, 17, None);
    match_pack(&db2, "lfp-15s1p-100ah");
    let file2 = dir2.path().join("label.zpl");
    let out = pw(&db2)
        .args(["label", "print", "1", "--printer"])
        .arg(format!("file:{}", file2.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gets no label: it is matched"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!file2.exists());
}

#[test]
fn a_profile_label_table_sets_the_stock_the_qr_url_and_the_recorded_template_version() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    let profile = dir.path().join("labelled.toml");
    std::fs::write(
        &profile,
        format!(
            "{shipped}\n[label]\nversion = \"plant-a-3\"\nwidth_dots = 1218\nheight_dots = 609\n\
             dpi = 300\nqr_url = \"https://id.example.com/p/{{code}}\"\n"
        ),
    )
    .unwrap();
    import_cells(dir.path(), &db, 17, None);
    let cells = match_pack(&db, profile.to_str().unwrap());
    let code = assemble(&db, &cells);

    let job = zpl(&db, &code);
    assert!(job.contains("^PW1218\n^LL609\n"), "{job}");
    assert!(
        job.contains(&format!("^FDMA,https://id.example.com/p/{code}^FS")),
        "{job}"
    );
    let file = dir.path().join("label.zpl");
    pw(&db)
        .args(["label", "print", &code, "--printer"])
        .arg(format!("file:{}", file.display()))
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), job);
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    assert_eq!(h["prints"][0]["template_version"], "plant-a-3/1");
}

/// `bms config write --pack CODE` on `sim`: exit code and stderr.
fn configure_pack(db: &Path, sim: &crate::support::eol::Sim, code: &str) -> (Option<i32>, String) {
    let out = pw(db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .args([sim.port(), "--pack", code])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scan_back_accepts_the_pack_code_through_aim_prefixes_refuses_and_records_a_wrong_label_and_gates_the_bms_step(
) {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    let plan = "[eol]\nplan_version = \"2026.11-1\"\n";
    assert!(shipped.contains(plan));
    let profile = dir.path().join("scanned.toml");
    std::fs::write(
        &profile,
        shipped.replace(plan, &format!("{plan}require_label_scan = true\n")),
    )
    .unwrap();
    import_cells(dir.path(), &db, 17, None);
    let cells = match_pack(&db, profile.to_str().unwrap());
    let code = assemble(&db, &cells);
    let sim = crate::support::eol::Sim::jbd15(dir.path(), &[]);

    // Not scanned back yet: the BMS step is refused, saying what to do; nothing was written.
    let (exit, err) = configure_pack(&db, &sim, &code);
    assert_eq!(exit, Some(2), "{err}");
    assert!(
        err.contains("its label has not been scanned back")
            && err.contains("requires a scan-back")
            && err.contains(&format!("label verify {code} --scan")),
        "{err}"
    );
    assert_eq!(
        pw_json(&db, &["packs", "show", &code, "--json"])["status"],
        "assembled"
    );

    // A wrong label, as a GS1-128 scan: refused loudly, exit 1, recorded; the BMS step still
    // refused, naming what was read.
    let wrong = "]C1\u{1d}PWT0000099\u{1d}";
    let out = pw(&db)
        .args(["label", "verify", &code, "--scan", wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "WRONG LABEL: the label scanned on pack {code} reads 'PWT0000099', not {code}"
        )),
        "{err}"
    );
    let (exit, err) = configure_pack(&db, &sim, &code);
    assert_eq!(exit, Some(2), "{err}");
    assert!(err.contains("read 'PWT0000099', not its code"), "{err}");

    // The right label through a QR scanner that prefixes ]Q1 and ends with CR LF: accepted.
    let out = pw(&db)
        .args([
            "label",
            "verify",
            &code,
            "--scan",
            &format!("]Q1{code}\r\n"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("label of pack {code} scanned back (QR code)")),
        "{text}"
    );
    let (exit, err) = configure_pack(&db, &sim, &code);
    assert_eq!(exit, Some(0), "{err}");
    assert_eq!(
        pw_json(&db, &["packs", "show", &code, "--json"])["status"],
        "configured"
    );

    // Both scans are recorded: who, where, what the scanner sent and what it read as.
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    let scans = h["scans"].as_array().unwrap();
    assert_eq!(scans.len(), 2);
    assert_eq!(scans[0]["matched"], false);
    assert_eq!(scans[0]["raw"], wrong);
    assert_eq!(scans[0]["data"], "PWT0000099");
    assert_eq!(scans[0]["symbology"], "]C1");
    assert_eq!(scans[1]["matched"], true);
    assert_eq!(scans[1]["data"], code.as_str());
    for s in scans {
        assert_eq!(s["operator"], "ann");
        assert_eq!(s["station"], "line-1");
        assert_eq!(s["pack_code"], code.as_str());
        assert!(s["scanned_at"].is_string());
    }
    let v = pw_json(&db, &["label", "verify", &code, "--scan", &code, "--json"]);
    assert_eq!(v["schema"], "packwright.label_verify");
    assert_eq!(v["matched"], true);
    assert!(v["refusal"].is_null());
}

#[test]
fn without_the_plan_setting_the_bms_step_needs_no_scan_back_and_an_unknown_pack_is_refused() {
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    let (code, _) = assembled_pack(dir.path(), &db);
    let out = pw(&db)
        .args(["label", "verify", "PWT9999999", "--scan", &code])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let sim = crate::support::eol::Sim::jbd15(dir.path(), &[]);
    let (exit, err) = configure_pack(&db, &sim, &code);
    assert_eq!(exit, Some(0), "{err}");
    let h = pw_json(&db, &["label", "history", &code, "--json"]);
    assert_eq!(h["scans"].as_array().unwrap().len(), 0);
}
