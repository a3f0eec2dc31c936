//! `packwright trace` through the real binary: from a pack code down to the source modules,
//! from a source module up to the packs that hold its cells, and from a cell.

use crate::support::eol::{assemble, import_cells, match_pack, pw, pw_json, SOURCE_A, SOURCE_B};

crate::on_both_backends!(lineage_from_the_pack_end_and_from_the_source_end_as_text_and_json);
fn lineage_from_the_pack_end_and_from_the_source_end_as_text_and_json(
    backend: crate::support::pg::Backend,
) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    import_cells(dir.path(), &db, 17, None);
    let cells = match_pack(&db, "lfp-15s1p-100ah");
    let code = assemble(&db, &cells);

    // Pack -> cells -> sources, as JSON.
    let v = pw_json(&db, &["trace", &code, "--json"]);
    assert_eq!(v["kind"], "pack");
    assert_eq!(v["pack"]["code"], code.as_str());
    assert_eq!(v["pack"]["status"], "assembled");
    let traced: Vec<&str> = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell_id"].as_str().unwrap())
        .collect();
    assert_eq!(traced, cells.iter().map(String::as_str).collect::<Vec<_>>());
    let first = &v["cells"][0];
    assert_eq!(first["position"], "S1P1");
    assert!(first["graded_from_file"]
        .as_str()
        .unwrap()
        .ends_with("graded.csv"));
    assert!(first["placed_at"].is_string());
    assert!(first["grading"]["capacity_mah"].as_f64().unwrap() > 90_000.0);
    let sources: Vec<&str> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source_code"].as_str().unwrap())
        .collect();
    assert_eq!(sources, [SOURCE_A, SOURCE_B]);
    let passport = &v["passport"];
    assert_eq!(passport["pack_code"], code.as_str());
    assert_eq!(passport["chemistry"], "LFP");
    assert_eq!(passport["configuration"], "15S1P");
    assert_eq!(passport["battery_status"], "repurposed");
    assert!(passport["state_of_health_pct"].as_f64().unwrap() > 90.0);
    assert!(passport["gaps"][0]
        .as_str()
        .unwrap()
        .contains("no end-of-line verdict"));

    // The same as text names the cells, the sources and the missing verdict.
    let out = pw(&db).args(["trace", &code]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("pack {code} (#1)")), "{text}");
    assert!(text.contains(&format!("S15P1   {}", cells[14])), "{text}");
    assert!(text.contains(SOURCE_A) && text.contains(SOURCE_B), "{text}");
    assert!(text.contains("end-of-line runs: none"), "{text}");

    // Source -> the pack that holds its cells, and its cells in no pack.
    let v = pw_json(&db, &["trace", SOURCE_B, "--json"]);
    assert_eq!(v["kind"], "source");
    assert_eq!(v["packs"][0]["code"], code.as_str());
    let in_pack = v["packs"][0]["cells"].as_array().unwrap().len();
    let unpacked = v["unpacked"].as_array().unwrap().len();
    assert_eq!(in_pack + unpacked, 8);
    assert!(in_pack > 0);
    let out = pw(&db).args(["trace", SOURCE_B]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("source {SOURCE_B}: {in_pack} cells in 1 pack,")),
        "{text}"
    );
    assert!(text.contains(&format!("pack {code} (#1")), "{text}");

    // A cell knows its source and its slot.
    let v = pw_json(&db, &["trace", &cells[0], "--json"]);
    assert_eq!(v["kind"], "cell");
    assert_eq!(v["position"], "S1P1");
    assert_eq!(v["pack"]["code"], code.as_str());

    // The passport alone; and a code nobody knows is bad input.
    let v = pw_json(&db, &["trace", &code, "--passport"]);
    assert_eq!(v["format"], "packwright.passport/1");
    assert_eq!(v["source_codes"].as_array().unwrap().len(), 2);
    let out = pw(&db).args(["trace", "NO-SUCH-CODE"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO-SUCH-CODE"));
}
