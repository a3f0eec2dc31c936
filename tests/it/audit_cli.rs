//! The audit trail through the real binary: the line's changes append chained entries,
//! `audit verify` passes on them, `audit export` gives them as text, CSV and JSON, and an
//! attacker with the file and a SQLite client (triggers dropped) who changes, deletes,
//! inserts or reorders an entry is found, the first broken entry named.

use crate::support::eol::{import_cells, match_pack, pw, pw_json};
use crate::support::TestDir;
use std::path::{Path, PathBuf};

fn run(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = pw(db).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A database with a few entries: cells imported, a pack matched, a cell rejected out of its
/// plan and back, the pack released.
fn line_with_history(dir: &Path) -> PathBuf {
    let db = dir.join("line.db");
    import_cells(dir, &db, 17, None);
    let cells = match_pack(&db, "lfp-15s1p-100ah");
    let (code, _, err) = run(&db, &["cells", "reject", &cells[3], "--reason", "swollen"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(
        &db,
        &["cells", "unreject", &cells[3], "--reason", "measured again"],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&db, &["packs", "release", "1", "--reason", "plan dropped"]);
    assert_eq!(code, Some(0), "{err}");
    db
}

fn entries(db: &Path) -> Vec<serde_json::Value> {
    pw_json(db, &["audit", "export", "--json"])["entries"]
        .as_array()
        .unwrap()
        .clone()
}

/// A copy of `db` an attacker edits with `sql` (left out of the folder's own check).
fn tampered(dir: &TestDir, db: &Path, name: &str, sql: &str) -> PathBuf {
    let copy = dir.path().join(format!("{name}.db"));
    dir.unchecked(&copy);
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    std::fs::copy(db, &copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
    copy
}

/// `audit verify` on `db` fails with exit 1 naming entry `seq`.
fn assert_broken_at(db: &Path, seq: i64, why: &str) {
    let (code, _, err) = run(db, &["audit", "verify"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("AUDIT TRAIL BROKEN") && err.contains(&format!("audit entry #{seq} ")),
        "{err}"
    );
    assert!(err.contains(why), "{err}");
    let out = pw(db).args(["audit", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "packwright.audit.verify");
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["broken"]["seq"], seq);
}

#[test]
fn the_line_s_changes_are_chained_entries_that_verify_and_export() {
    let dir = crate::support::tempdir();
    let db = line_with_history(dir.path());
    let all = entries(&db);
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "cells import",
            "pack match",
            "cell reject",
            "cell unreject",
            "pack release"
        ],
        "{all:#?}"
    );
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], i as i64 + 1);
        assert_eq!(e["operator"], "ann");
        assert_eq!(e["station"], "line-1");
        if i > 0 {
            assert_eq!(e["prev_hash"], all[i - 1]["hash"]);
        }
    }
    assert_eq!(all[2]["subject_kind"], "cell");
    assert_eq!(all[2]["old_value"], "reserved");
    assert_eq!(all[2]["reason"], "swollen");
    assert!(all[2]["new_value"].as_str().unwrap().contains("pack #1"));
    assert_eq!(all[4]["subject"], "#1");
    assert_eq!(all[4]["reason"], "plan dropped");

    let (code, out, err) = run(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("audit trail intact: 5 entries"), "{out}");

    // The pack's own entries, its cells' while in it included.
    let pack = pw_json(&db, &["audit", "export", "--pack", "1", "--json"]);
    let seqs: Vec<i64> = pack["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3, 5]);

    let (code, csv, _) = run(&db, &["audit", "export", "--csv"]);
    assert_eq!(code, Some(0));
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("seq,at,station,operator,action"));
    assert_eq!(lines.count(), 5);

    // --since: nothing after the last entry, everything from its first day.
    let last = all[4]["at"].as_str().unwrap();
    let later = (chrono::DateTime::parse_from_rfc3339(last).unwrap()
        + chrono::Duration::milliseconds(1))
    .to_rfc3339();
    assert!(entries_since(&db, &later).is_empty());
    assert_eq!(
        entries_since(&db, &all[0]["at"].as_str().unwrap()[..10]).len(),
        5
    );
    let (code, _, err) = run(&db, &["audit", "export", "--since", "last tuesday"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, text, _) = run(&db, &["audit", "export"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("#3 ") && text.contains("cell reject") && text.contains("(reason: swollen)"),
        "{text}"
    );
}

fn entries_since(db: &Path, since: &str) -> Vec<serde_json::Value> {
    pw_json(db, &["audit", "export", "--json", "--since", since])["entries"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_triggers_refuse_to_change_or_delete_an_entry() {
    let dir = crate::support::tempdir();
    let db = line_with_history(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let e = conn
        .execute("UPDATE audit_log SET reason = 'nothing' WHERE seq = 3", [])
        .unwrap_err()
        .to_string();
    assert!(e.contains("append-only"), "{e}");
    let e = conn
        .execute("DELETE FROM audit_log WHERE seq = 3", [])
        .unwrap_err()
        .to_string();
    assert!(e.contains("append-only"), "{e}");
}

#[test]
fn tampering_with_the_file_is_found_and_the_first_broken_entry_named() {
    let dir = crate::support::tempdir();
    let db = line_with_history(dir.path());
    assert_eq!(run(&db, &["audit", "verify"]).0, Some(0));

    // One row's content changed: the reject's reason rewritten.
    let changed = tampered(
        &dir,
        &db,
        "changed",
        "UPDATE audit_log SET reason = 'routine check' WHERE seq = 3;",
    );
    assert_broken_at(&changed, 3, "changed after it was written");

    // One row deleted: the entry after it no longer links.
    let deleted = tampered(&dir, &db, "deleted", "DELETE FROM audit_log WHERE seq = 3;");
    assert_broken_at(&deleted, 4, "deleted, inserted or moved");

    // One row inserted in the middle, its own hash computed correctly over the canonical
    // content: the entry after it no longer links.
    let all = entries(&db);
    let mut forged = packwright::audit::Entry {
        seq: 3,
        at: all[2]["at"].as_str().unwrap().to_string(),
        station: "line-1".into(),
        operator: "ann".into(),
        action: "cell unreject".into(),
        subject_kind: "cell".into(),
        subject: "LFP-001".into(),
        old_value: Some("rejected".into()),
        new_value: Some("available".into()),
        reason: Some("forged".into()),
        signature: None,
        prev_hash: all[1]["hash"].as_str().unwrap().to_string(),
        hash: String::new(),
    };
    forged.hash = packwright::audit::hash(&forged.prev_hash, &forged);
    let inserted = tampered(
        &dir,
        &db,
        "inserted",
        &format!(
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3;
             UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000;
             INSERT INTO audit_log(seq, at, station, operator, action, subject_kind, subject,
                                   old_value, new_value, reason, signature, prev_hash, hash)
             VALUES (3, '{}', 'line-1', 'ann', 'cell unreject', 'cell', 'LFP-001', 'rejected',
                     'available', 'forged', NULL, '{}', '{}');",
            forged.at, forged.prev_hash, forged.hash
        ),
    );
    assert_broken_at(&inserted, 4, "deleted, inserted or moved");

    // An entry appended at the end without the chain's rules (a made-up hash).
    let appended = tampered(
        &dir,
        &db,
        "appended",
        &format!(
            "INSERT INTO audit_log(seq, at, station, operator, action, subject_kind, subject,
                                   prev_hash, hash)
             VALUES (6, '{}', 'line-1', 'ann', 'pack scrap', 'pack', '#1', '{}', '{}');",
            all[4]["at"].as_str().unwrap(),
            all[4]["hash"].as_str().unwrap(),
            "f".repeat(64)
        ),
    );
    assert_broken_at(&appended, 6, "changed after it was written");

    // Two rows swapped.
    let reordered = tampered(
        &dir,
        &db,
        "reordered",
        "UPDATE audit_log SET seq = -2 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = -2;",
    );
    assert_broken_at(&reordered, 2, "deleted, inserted or moved");

    // The original still verifies.
    assert_eq!(run(&db, &["audit", "verify"]).0, Some(0));
}

/// A copy of `db` whose entries from `from` on are rewritten (a reason changed) and every hash
/// after recomputed with the chain's own rules: the attacker who knows the algorithm.
fn recomputed(dir: &TestDir, db: &Path, name: &str, from: i64) -> PathBuf {
    let copy = tampered(dir, db, name, "");
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let mut prev: Option<(i64, String)> = None;
    for e in entries(db) {
        let seq = e["seq"].as_i64().unwrap();
        let text = |k: &str| e[k].as_str().map(str::to_string);
        let mut entry = packwright::audit::Entry {
            seq: 0,
            at: text("at").unwrap(),
            station: text("station").unwrap(),
            operator: text("operator").unwrap(),
            action: text("action").unwrap(),
            subject_kind: text("subject_kind").unwrap(),
            subject: text("subject").unwrap(),
            old_value: text("old_value"),
            new_value: text("new_value"),
            reason: text("reason"),
            signature: text("signature"),
            prev_hash: String::new(),
            hash: String::new(),
        };
        if seq == from {
            entry.reason = Some("routine check".into());
        }
        let sealed = packwright::audit::seal(entry, prev.as_ref().map(|(s, h)| (*s, h.as_str())));
        if seq >= from {
            conn.execute(
                "UPDATE audit_log SET reason = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                rusqlite::params![sealed.reason, sealed.prev_hash, sealed.hash, seq],
            )
            .unwrap();
        }
        prev = Some((sealed.seq, sealed.hash));
    }
    copy
}

#[test]
fn a_station_file_rewritten_with_every_hash_recomputed_is_found_by_the_line_database_s_anchors() {
    let dir = crate::support::tempdir();
    let db = line_with_history(dir.path());
    let url = crate::support::pg::fresh_db();
    let on_line = |db: &Path, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--line", &url]);
        run(db, &all)
    };
    let (code, out, err) = on_line(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("not anchored"), "{out}");
    let (code, out, err) = on_line(&db, &["audit", "anchor"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("entry #5"), "{out}");

    // More work, anchored again: the earlier head still held.
    let (code, _, err) = run(&db, &["cells", "reject", "LFP-017", "--reason", "dent"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = on_line(&db, &["audit", "anchor"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("entry #6") && out.contains("1 earlier heads held"),
        "{out}"
    );
    let (code, out, _) = on_line(&db, &["audit", "anchor"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("already anchored"), "{out}");
    let (code, out, err) = on_line(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("2 heads held, the latest #6"), "{out}");

    // Entry 3 rewritten, every later hash recomputed: the chain alone holds, the anchors
    // find it; and it is not anchored over.
    let rewritten = recomputed(&dir, &db, "rewritten", 3);
    let (code, _, err) = run(&rewritten, &["audit", "verify"]);
    assert_eq!(code, Some(0), "the chain alone cannot tell: {err}");
    for args in [["audit", "verify"], ["audit", "anchor"]] {
        let (code, _, err) = on_line(&rewritten, &args);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("AUDIT TRAIL REWRITTEN") && err.contains("at or before entry #5"),
            "{err}"
        );
    }
    let out = pw(&rewritten)
        .args(["audit", "verify", "--json", "--line", &url])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["intact"].as_bool(),
            doc["anchor_break"]["kind"].as_str()
        ),
        (Some(false), Some("rewritten"))
    );

    // Rewritten from its first entry: another trail for the same station.
    let from_first = recomputed(&dir, &db, "from_first", 1);
    let (code, _, err) = on_line(&from_first, &["audit", "verify"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("rewritten from its first entry"), "{err}");

    // Cut back behind the last anchor.
    let cut = tampered(&dir, &db, "cut", "DELETE FROM audit_log WHERE seq = 6;");
    let (code, _, err) = on_line(&cut, &["audit", "verify"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cut back"), "{err}");

    // `db copy` refuses the rewritten file before a row is copied, and copies the original,
    // anchoring it.
    let (code, _, err) = run(
        &rewritten,
        &[
            "db",
            "copy",
            "--from",
            rewritten.to_str().unwrap(),
            "--to",
            &url,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nothing copied"), "{err}");
    let (code, out, err) = run(
        &db,
        &["db", "copy", "--from", db.to_str().unwrap(), "--to", &url],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("anchored"), "{out}");
    let (code, out, _) = on_line(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("the latest #6"), "{out}");
}
