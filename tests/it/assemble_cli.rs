//! `packwright assemble` through the real binary: slot-order placement, loud refusals, and the
//! pack code printed when the last cell is in.

use crate::support::eol::{import_cells, json, match_pack, pack_json, pw, pw_json};

crate::on_both_backends!(cells_are_placed_in_order_wrong_scans_are_refused_and_the_code_is_printed);
fn cells_are_placed_in_order_wrong_scans_are_refused_and_the_code_is_printed(
    backend: crate::support::pg::Backend,
) {
    let dir = crate::support::tempdir();
    let db = backend.db(dir.path());
    import_cells(dir.path(), &db, 17, None);
    let cells = match_pack(&db, "lfp-15s1p-100ah");
    assert_eq!(cells.len(), 15);
    let spare: Vec<String> = (1..=17)
        .map(|i| format!("LFP-{i:03}"))
        .filter(|c| !cells.contains(c))
        .collect();

    // The first three in order.
    let out = pw(&db)
        .args(["assemble", "1", "--scan"])
        .args(&cells[..3])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("S1P1 {} placed (1 of 15)", cells[0])),
        "{text}"
    );
    assert!(
        text.contains(&format!("next S4P1 <- {}", cells[3])),
        "{text}"
    );

    // A cell of this pack out of order, a spare, an unknown label, one already placed: each
    // refused with its reason, exit 1, nothing moved.
    for (scan, reason) in [
        (cells[7].as_str(), "belongs in slot S8P1"),
        (spare[0].as_str(), "is in no pack"),
        ("NOPE-1", "UNKNOWN CELL"),
        (cells[1].as_str(), "ALREADY PLACED"),
    ] {
        let out = pw(&db)
            .args(["assemble", "1", "--scan", scan])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{scan}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("REFUSED") && err.contains(reason),
            "{scan}: {err}"
        );
    }

    // A label that does not fit the profile's pattern is bad input, before anything is placed.
    let out = pw(&db)
        .args(["assemble", "1", "--code", "XX123", "--scan"])
        .args(&cells[3..])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("^PWT[0-9]{7}$"));

    let out = pw(&db)
        .args(["assemble", "1", "--json", "--scan"])
        .args(&cells[3..])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["code"], "PWT0000001");
    assert_eq!(v["progress"]["placed"], 15);
    assert_eq!(v["placed"].as_array().unwrap().len(), 12);

    let pack = pack_json(&db, "PWT0000001");
    assert_eq!(pack["status"], "assembled");
    // Assembled cells are marked so in the inventory.
    let cell = pw_json(&db, &["cells", "show", &cells[0], "--json"]);
    assert_eq!(cell["status"], "assembled");
}
