//! Issue 11's verbs in the console, by keys and scans: reject, scrap, un-reject, source
//! codes, release, scrap a pack, rework. Through the real `update` and the store thread's
//! services on a real (in-memory) SQLite store; what changed is read back from the store.

use crate::support::tui::{actor, Harness};
use crossterm::event::KeyCode;
use packwright::domain::{CellStatus, Pack, PackStatus};
use packwright::profile::Profile;
use packwright::tui::app::{Level, Modal, Screen};
use packwright::tui::keys;

fn message(h: &Harness) -> String {
    h.app
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

fn level(h: &Harness) -> Option<Level> {
    h.app.message.as_ref().map(|m| m.level)
}

fn cell_status(h: &Harness, id: &str) -> CellStatus {
    h.services.store.get_cell(id).unwrap().unwrap().status
}

/// The text field now open, and its text.
fn field(h: &Harness) -> (String, String) {
    match &h.app.modal {
        Some(Modal::Input(i)) => (i.prompt.clone(), i.text.clone()),
        other => panic!("no text field open: {other:?}"),
    }
}

/// Type `text` into the open field (replacing what it holds) and press Enter.
fn fill(h: &mut Harness, text: &str) {
    h.press_mod(KeyCode::Char('u'), crossterm::event::KeyModifiers::CONTROL);
    h.chars(text);
    h.press(KeyCode::Enter);
}

/// Packs matched and committed by keys, the first assembled with code `PWT0000042`: it and
/// the second (matched).
fn two_packs_one_built(h: &mut Harness) -> (Pack, Pack) {
    h.match_and_commit_all();
    let packs = h.services.store.list_packs(None).unwrap();
    let built = packs[0].clone();
    for c in built.groups.concat() {
        h.services.store.mark_cell_placed(built.id, &c).unwrap();
    }
    h.services
        .store
        .complete_assembly(&crate::support::tui::actor(), built.id, "PWT0000042")
        .unwrap();
    (
        h.services.store.get_pack(built.id).unwrap().unwrap(),
        packs[1].clone(),
    )
}

/// A replacement for `out`: a new cell graded like it, imported now (so it fits the pack's
/// limits by the service's own rule, checked here too).
fn replacement(h: &mut Harness, pack: &Pack, out: &str) -> String {
    let mut cell = h.services.store.get_cell(out).unwrap().unwrap();
    cell.id = "SPARE-001".into();
    cell.status = CellStatus::Available;
    cell.status_reason = None;
    let parsed = packwright::intake::ParsedCells {
        lines: vec![2],
        cells: vec![cell.clone()],
        ignored_columns: Vec::new(),
    };
    h.services
        .store
        .import_cells(&actor(), "spare.csv", &parsed)
        .unwrap();
    let profile = Profile::load(packwright::demo::PROFILE).unwrap();
    let cells: Vec<Vec<Option<packwright::domain::Cell>>> = pack
        .groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|id| h.services.store.get_cell(id).unwrap())
                .collect()
        })
        .collect();
    let slot = pack
        .groups
        .iter()
        .enumerate()
        .find_map(|(s, g)| g.iter().position(|c| c == out).map(|p| (s, p)))
        .unwrap();
    let new = h.services.store.get_cell(&cell.id).unwrap().unwrap();
    assert_eq!(
        packwright::services::packs::fits(&profile, &cells, slot, &new),
        Ok(())
    );
    cell.id
}

#[test]
fn inventory_rejects_the_selected_cell_with_its_reason_after_a_yes_and_un_rejects_it() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    let id = h.app.inventory.visible()[0].id.clone();
    h.press(KeyCode::Char('r'));
    // The selected cell is filled in; Enter takes it.
    let (prompt, text) = field(&h);
    assert!(prompt.contains("Cell to reject"), "{prompt}");
    assert_eq!(text, id);
    h.press(KeyCode::Enter);
    fill(&mut h, "swollen");
    // Nothing changes before the yes; a no changes nothing at all.
    assert!(matches!(h.app.modal, Some(Modal::Confirm(_))));
    assert_eq!(cell_status(&h, &id), CellStatus::Available);
    h.press(KeyCode::Char('n'));
    assert_eq!(cell_status(&h, &id), CellStatus::Available);
    assert!(message(&h).contains("nothing was changed"));

    h.press(KeyCode::Char('r'));
    h.press(KeyCode::Enter);
    fill(&mut h, "swollen");
    h.press(KeyCode::Char('y'));
    assert_eq!(cell_status(&h, &id), CellStatus::Rejected);
    let said = message(&h);
    assert!(
        said.contains(&id) && said.contains("rejected: swollen"),
        "{said}"
    );
    // The list is loaded afresh: the cell left the available view.
    assert!(h.app.inventory.visible().iter().all(|c| c.id != id));
    let change = &h.services.store.state_changes_for_cell(&id).unwrap()[0];
    assert_eq!(
        (change.verb.as_str(), change.operator.as_str()),
        ("cell reject", "ann")
    );

    // Rejecting it again is refused by the service, said as a problem.
    h.press(KeyCode::Char('r'));
    fill(&mut h, &id);
    fill(&mut h, "again");
    h.press(KeyCode::Char('y'));
    assert_eq!(level(&h), Some(Level::Problem));
    assert!(message(&h).contains("rejected already"), "{}", message(&h));

    // Un-reject: the reason is asked for; Esc half-way changes nothing.
    h.press(KeyCode::Char('u'));
    fill(&mut h, &id);
    h.press(KeyCode::Esc);
    assert!(h.app.modal.is_none() && h.app.verb.is_none());
    assert_eq!(cell_status(&h, &id), CellStatus::Rejected);
    h.press(KeyCode::Char('u'));
    fill(&mut h, &id);
    fill(&mut h, "re-measured, fine");
    h.press(KeyCode::Char('y'));
    assert_eq!(cell_status(&h, &id), CellStatus::Available);
    assert!(message(&h).contains("back to available"), "{}", message(&h));
}

#[test]
fn inventory_scraps_a_cell_and_records_source_codes_for_cells() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    let ids: Vec<String> = h.app.inventory.visible()[..3]
        .iter()
        .map(|c| c.id.clone())
        .collect();
    h.press(KeyCode::Char('m'));
    fill(&mut h, &format!("{} {}", ids[0], ids[1]));
    fill(&mut h, "MOD-77");
    h.press(KeyCode::Char('y'));
    for id in &ids[..2] {
        let c = h.services.store.get_cell(id).unwrap().unwrap();
        assert_eq!(c.source_code.as_deref(), Some("MOD-77"));
    }
    assert!(message(&h).contains("MOD-77 recorded for 2 cells"));

    h.press(KeyCode::Char('x'));
    fill(&mut h, &ids[2]);
    fill(&mut h, "dropped");
    h.press(KeyCode::Char('y'));
    assert_eq!(cell_status(&h, &ids[2]), CellStatus::Scrapped);
}

#[test]
fn rejecting_a_cell_of_a_built_pack_holds_it_and_rework_by_scans_brings_it_back() {
    let mut h = Harness::new();
    let (built, _) = two_packs_one_built(&mut h);
    let cells = built.groups.concat();
    // On History the pack's label scanned shows it; r asks for the cell (scanned) and why.
    h.press(KeyCode::Char('7'));
    h.scan("PWT0000042");
    assert_eq!(h.app.screen, Screen::History);
    h.press(KeyCode::Char('r'));
    h.scan(&cells[3]);
    fill(&mut h, "swollen");
    h.press(KeyCode::Char('y'));
    let pack = h.services.store.get_pack(built.id).unwrap().unwrap();
    assert_eq!(pack.status, PackStatus::OnHold);
    assert_eq!(level(&h), Some(Level::Warning));
    assert!(message(&h).contains("ON HOLD"), "{}", message(&h));
    // The history, loaded afresh, says so and why, with the state changes.
    let screen = h.screen(100, 40);
    assert!(
        screen.contains("ON HOLD")
            && screen.contains("swollen")
            && screen.contains("State changes"),
        "{screen}"
    );

    // Rework: the pack is filled in; scan the cell out, scan one in.
    let into = replacement(&mut h, &pack, &cells[3]);
    h.press(KeyCode::Char('w'));
    assert_eq!(field(&h).1, "PWT0000042");
    h.press(KeyCode::Enter);
    h.scan(&cells[3]);
    h.scan(&into);
    assert_eq!(field(&h).1, "cell replaced");
    h.press(KeyCode::Enter);
    h.press(KeyCode::Char('y'));
    let pack = h.services.store.get_pack(built.id).unwrap().unwrap();
    assert_eq!(pack.status, PackStatus::Assembled);
    assert!(pack.groups.concat().contains(&into));
    assert!(!pack.groups.concat().contains(&cells[3]));
    assert_eq!(cell_status(&h, &cells[3]), CellStatus::Rejected);
    let said = message(&h);
    assert!(
        said.contains("reworked") && said.contains("new test"),
        "{said}"
    );
    let verbs: Vec<String> = h
        .services
        .store
        .state_changes_for_pack(built.id)
        .unwrap()
        .into_iter()
        .map(|c| c.verb)
        .collect();
    assert!(verbs.contains(&"pack rework".to_string()), "{verbs:?}");
}

#[test]
fn a_rework_that_does_not_fit_is_refused_with_the_reason_and_changes_nothing() {
    let mut h = Harness::new();
    let (built, matched) = two_packs_one_built(&mut h);
    h.press(KeyCode::Char('7'));
    h.scan("PWT0000042");
    h.press(KeyCode::Char('w'));
    h.press(KeyCode::Enter);
    h.scan(&built.groups[0][0]);
    // A cell reserved for the other pack is not available.
    h.scan(&matched.groups[0][0]);
    h.press(KeyCode::Enter);
    h.press(KeyCode::Char('y'));
    assert_eq!(level(&h), Some(Level::Problem));
    let said = message(&h);
    assert!(said.contains("not available"), "{said}");
    assert_eq!(
        h.services.store.get_pack(built.id).unwrap().unwrap().groups,
        built.groups
    );
}

#[test]
fn assemble_releases_the_matched_pack_and_history_scraps_one_with_good_cells_to_stock() {
    let mut h = Harness::new();
    let (built, matched) = two_packs_one_built(&mut h);
    // Assemble shows the matched pack waiting; Esc leaves the scan field for the keys.
    h.press(KeyCode::Char('4'));
    assert_eq!(h.app.pack.as_ref().map(|p| p.id), Some(matched.id));
    h.press(KeyCode::Esc);
    h.press(KeyCode::Char('l'));
    assert_eq!(field(&h).1, matched.label());
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    h.press(KeyCode::Char('y'));
    assert_eq!(
        h.services
            .store
            .get_pack(matched.id)
            .unwrap()
            .unwrap()
            .status,
        PackStatus::Released
    );
    for c in matched.groups.concat() {
        assert_eq!(cell_status(&h, &c), CellStatus::Available);
    }
    assert!(message(&h).contains("released"), "{}", message(&h));

    h.press(KeyCode::Char('7'));
    h.scan("PWT0000042");
    h.press(KeyCode::Char('d'));
    h.press(KeyCode::Enter);
    fill(&mut h, "case cracked");
    fill(&mut h, "y");
    h.press(KeyCode::Char('y'));
    assert_eq!(
        h.services.store.get_pack(built.id).unwrap().unwrap().status,
        PackStatus::Scrapped
    );
    for c in built.groups.concat() {
        assert_eq!(cell_status(&h, &c), CellStatus::Available);
    }
    assert!(message(&h).contains("scrapped"), "{}", message(&h));
}

#[test]
fn the_verbs_are_in_the_footer_and_the_help_at_80_columns() {
    let mut h = Harness::new();
    for (key, words) in [
        ('2', &["r reject", "m source", "q quit"][..]),
        (
            '7',
            &["r reject", "w rework", "l release", "d scrap", "q quit"][..],
        ),
    ] {
        h.press(KeyCode::Char(key));
        let screen = h.screen(80, 24);
        let footer = screen.lines().last().unwrap().to_string();
        for w in words {
            assert!(footer.contains(w), "{footer}");
        }
        h.press(KeyCode::Char('?'));
        let help = h.screen(80, 24);
        // Every key fits at 24 rows (the screen keys share one row when needed).
        for w in [
            "Reject a cell",
            "Un-reject",
            "Scrap a cell",
            "Quit",
            "Redraw",
        ] {
            assert!(help.contains(w), "{help}");
        }
        h.press(KeyCode::Esc);
    }
    h.press(KeyCode::Char('4'));
    let tables = keys::screen_table(Screen::Assemble, false);
    assert!(tables
        .iter()
        .flat_map(|t| t.iter())
        .any(|b| b.action == keys::Action::ReworkPack));
}

// ------------------------------------------------------------------ The real binary in a pty
//
// Issue 11's findings in the console: the real `packwright console` in a pseudo-terminal, the
// real simulator, a real SQLite file; the board is judged by a fresh read of its own.

mod pty {
    use crate::integrity_signals::{
        board_registers, configured, last_write, wait_for_started_write,
    };
    use crate::support::eol::{assembled_pack, import_cells, match_pack, pack_json, pw, Sim};
    use crate::support::pty::Pty;
    use packwright::domain::{CellStatus, PackStatus};
    use packwright::store::prelude::*;
    use packwright::store::Store;
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    const SHORT: Duration = Duration::from_secs(20);
    const LONG: Duration = Duration::from_secs(90);

    /// `packwright console` on `db`, with the simulated boards `ports` (DEVICE:jbd).
    fn console(db: &Path, ports: &[&Sim]) -> Command {
        let mut cmd = crate::support::bin();
        cmd.env("PACKWRIGHT_DB", db)
            .env("PACKWRIGHT_STATION", "line-1")
            .env("PACKWRIGHT_OPERATOR", "ann")
            .env("TERM", "xterm-256color")
            .env("NO_COLOR", "1")
            .env_remove("PACKWRIGHT_PROFILES")
            .env_remove("PACKWRIGHT_LOG")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        cmd.arg("console");
        for sim in ports {
            cmd.arg("--port").arg(format!("{}:jbd", sim.port()));
        }
        cmd
    }

    fn start(cmd: Command) -> Pty {
        let mut pty = Pty::spawn(cmd, 80, 24);
        pty.wait_text("q quit", SHORT);
        pty
    }

    fn quit(mut pty: Pty) {
        pty.key(b"q");
        assert!(pty.wait_exit(SHORT).success());
    }

    fn store(db: &Path) -> Store {
        Store::open(db).unwrap()
    }

    /// Scan the pack's label from the Line screen: it goes on the bench.
    fn put_on_bench(pty: &mut Pty, code: &str) {
        pty.key(b"1");
        pty.send(format!("{code}\r").as_bytes());
        pty.wait_text(&format!("pack {code}"), SHORT);
    }

    /// BMS screen: connect to the board, write the configuration (after the yes).
    fn connect_and_write(pty: &mut Pty) {
        pty.key(b"5");
        pty.key(b"c");
        pty.wait_text("connected to", SHORT);
        pty.key(b"w");
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
    }

    #[test]
    fn a_rejected_cell_is_refused_at_the_assemble_scan_and_the_verbs_work_by_keys() {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        import_cells(dir.path(), &db, 17, None);
        let cells = match_pack(&db, "lfp-15s1p-100ah");
        pw(&db)
            .args(["cells", "reject", &cells[1], "--reason", "swollen"])
            .assert()
            .success();
        let mut pty = start(console(&db, &[]));
        pty.key(b"4");
        pty.wait_text("NEXT", SHORT);
        pty.send(format!("{}\r", cells[0]).as_bytes());
        pty.wait_text(&format!("{} placed", cells[0]), SHORT);
        // The rejected cell scanned: refused, loudly, with the reason it was rejected.
        pty.send(format!("{}\r", cells[1]).as_bytes());
        let screen = pty.wait_text("DO NOT FIT IT", SHORT);
        assert!(screen.contains("swollen"), "{screen}");
        assert_eq!(store(&db).placed_cells(1).unwrap(), [cells[0].clone()]);

        // Reject another by keys: Esc leaves the scan field, r asks for the cell and why.
        pty.key(b"\x1b");
        pty.key(b"r");
        pty.wait_text("Cell to reject", SHORT);
        pty.send(format!("{}\r", cells[2]).as_bytes());
        pty.wait_text("Why is it rejected", SHORT);
        pty.send(b"dented\r");
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
        let screen = pty.wait_text("out of pack", SHORT);
        assert!(
            screen.contains(&format!("cell {} rejected: dented", cells[2])),
            "{screen}"
        );
        let cell = store(&db).get_cell(&cells[2]).unwrap().unwrap();
        assert_eq!(cell.status, CellStatus::Rejected);

        // Release the pack: its cells go back to stock (Esc leaves the scan field again).
        pty.wait_text("Scan or type the cell id", SHORT);
        pty.key(b"\x1b");
        pty.key(b"l");
        pty.wait_text("Matched pack to release", SHORT);
        pty.key(b"\r");
        pty.wait_text("Why", SHORT);
        pty.key(b"\r");
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
        pty.wait_text("released", SHORT);
        let pack = store(&db).get_pack(1).unwrap().unwrap();
        assert_eq!(pack.status, PackStatus::Released);
        assert_eq!(
            store(&db).get_cell(&cells[0]).unwrap().unwrap().status,
            CellStatus::Available
        );
        quit(pty);
    }

    #[test]
    fn a_console_write_uses_the_packs_profile_and_refuses_a_wrong_board_and_a_held_pack() {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        let (code, cells) = assembled_pack(dir.path(), &db);
        let board16 = Sim::lfp16(dir.path(), "bms16", "jbd", "3", &[]);
        let board15 = Sim::jbd15(dir.path(), &[]);
        let before16 = board_registers(&db, &board16);

        // The console's own profile is another (16S) one: the pack's profile is what counts.
        let console16 = |sim: &Sim| {
            let mut cmd = console(&db, &[sim]);
            cmd.args(["--profile", "lfp-16s1p-280ah"]);
            cmd
        };
        // A 16-cell board for the 15S pack: refused before a byte is sent.
        let mut pty = start(console16(&board16));
        put_on_bench(&mut pty, &code);
        connect_and_write(&mut pty);
        pty.wait_text("reports 16 cells", LONG);
        quit(pty);
        assert_eq!(board_registers(&db, &board16), before16);
        assert_eq!(
            store(&db).get_pack(1).unwrap().unwrap().status,
            PackStatus::Assembled
        );
        // The 15-cell board: verified, with the pack's profile.
        let mut pty = start(console16(&board15));
        put_on_bench(&mut pty, &code);
        connect_and_write(&mut pty);
        pty.wait_text("Configuration: VERIFIED", LONG);
        let row = last_write(&db);
        assert_eq!(row["outcome"], "verified", "{row:#}");
        assert_eq!(row["profile"], "lfp-15s1p-100ah", "{row:#}");

        quit(pty);

        // A cell of it rejected at another station: the pack holds, and a write is refused.
        pw(&db)
            .args(["cells", "reject", &cells[4], "--reason", "swollen"])
            .assert()
            .success();
        let after15 = board_registers(&db, &board15);
        let mut pty = start(console16(&board15));
        put_on_bench(&mut pty, &code);
        connect_and_write(&mut pty);
        let screen = pty.wait_text("ON HOLD", LONG);
        assert!(screen.contains("cannot be configured"), "{screen}");
        // Nor can its end-of-line test start.
        pty.key(b"6");
        pty.key(b"t");
        let screen = pty.wait_text("cannot be tested", LONG);
        assert!(screen.contains("ON HOLD"), "{screen}");
        quit(pty);
        assert_eq!(board_registers(&db, &board15), after15);
        assert_eq!(
            store(&db).get_pack(1).unwrap().unwrap().status,
            PackStatus::OnHold
        );
    }

    #[test]
    fn a_held_pack_is_reworked_by_scanning_the_cell_out_and_one_in() {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        let (code, cells) = assembled_pack(dir.path(), &db);
        // A spare graded like the cell it replaces, from the same module.
        let out = crate::support::eol::pw_json(&db, &["cells", "show", &cells[6], "--json"]);
        let csv = dir.path().join("spare.csv");
        std::fs::write(
            &csv,
            format!(
                "id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,grade,source_code\n\
                 SPARE-001,{},{},{},{},A,{}\n",
                out["capacity_mah"],
                out["ir_mohm"],
                out["ocv_mv"],
                out["self_discharge_mv_per_day"],
                out["source_code"].as_str().unwrap()
            ),
        )
        .unwrap();
        pw(&db)
            .args(["cells", "import"])
            .arg(&csv)
            .args(["--chemistry", "LFP"])
            .assert()
            .success();

        let mut pty = start(console(&db, &[]));
        // Rejected at the bench by keys, from the pack's history: the pack goes on hold.
        pty.key(b"7");
        pty.send(format!("{code}\r").as_bytes());
        pty.wait_text(&format!("Pack {code}"), SHORT);
        pty.key(b"r");
        pty.wait_text("Cell to reject", SHORT);
        pty.send(format!("{}\r", cells[6]).as_bytes());
        pty.wait_text("Why is it rejected", SHORT);
        pty.send(b"tab weld cracked\r");
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
        let screen = pty.wait_text("is ON HOLD", SHORT);
        assert!(screen.contains("State changes"), "{screen}");
        assert_eq!(pack_json(&db, &code)["status"], "on_hold");

        // Rework: the pack is filled in; scan the cell out, scan the spare in.
        pty.key(b"w");
        pty.wait_text("Pack to rework", SHORT);
        pty.key(b"\r");
        pty.wait_text("Cell taken out", SHORT);
        pty.send(format!("{}\r", cells[6]).as_bytes());
        pty.wait_text("Cell put in", SHORT);
        pty.send(b"SPARE-001\r");
        pty.wait_text("Why", SHORT);
        pty.key(b"\r");
        pty.wait_text("y yes", SHORT);
        pty.key(b"y");
        pty.wait_text("reworked", SHORT);
        quit(pty);
        let pack = pack_json(&db, &code);
        assert_eq!(pack["status"], "assembled", "{pack:#}");
        let now: Vec<String> = pack["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g.as_array().unwrap().iter())
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert!(now.contains(&"SPARE-001".to_string()) && !now.contains(&cells[6]));
        let history: Vec<&str> = pack["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["matched", "assembled", "on_hold", "assembled"]);
    }

    /// How the console is stopped in the middle of a configuration write.
    enum Stop {
        /// `q`, then `y` to "Quit anyway?".
        Quit,
        /// A signal to the console process (the session dropped, a service stop).
        Signal(libc::c_int),
    }

    fn stopped_mid_write(stop: Stop, why: &str) {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        let (code, _) = assembled_pack(dir.path(), &db);
        // A slow board: each reply 150 ms late, so the write takes seconds.
        let sim = Sim::jbd15(dir.path(), &["delay=150"]);
        let before = board_registers(&db, &sim);
        let mut pty = start(console(&db, &[&sim]));
        put_on_bench(&mut pty, &code);
        connect_and_write(&mut pty);
        wait_for_started_write(&db, &mut pty.child);
        // Into the register writes, then stop the console.
        std::thread::sleep(Duration::from_millis(1500));
        match stop {
            Stop::Quit => {
                pty.key(b"q");
                pty.wait_text("Quit anyway?", SHORT);
                pty.key(b"y");
            }
            Stop::Signal(sig) => crate::integrity_signals::signal(&pty.child, sig),
        }
        assert!(pty.wait_exit(LONG).success());
        // The board, by a fresh read: its saved settings unchanged, no staged value visible.
        assert_eq!(board_registers(&db, &sim), before);
        let row = last_write(&db);
        assert_eq!(row["outcome"], "aborted", "{row:#}");
        assert!(row["detail"].as_str().unwrap().contains(why), "{row:#}");
        assert_eq!(pack_json(&db, &code)["status"], "assembled");
    }

    #[test]
    fn quitting_the_console_mid_write_leaves_the_board_unsaved_and_out_of_factory_mode() {
        stopped_mid_write(Stop::Quit, "console quit");
    }

    #[test]
    fn sigterm_to_the_console_mid_write_leaves_the_board_unsaved() {
        stopped_mid_write(Stop::Signal(libc::SIGTERM), "console quit");
    }

    #[test]
    fn sighup_to_the_console_mid_write_leaves_the_board_unsaved() {
        stopped_mid_write(Stop::Signal(libc::SIGHUP), "console quit");
    }

    /// Test screen: start the test of the pack on the bench and answer its questions until
    /// its lowered over-voltage trigger is on the board.
    fn test_until_protection(pty: &mut Pty, db: &Path, code: &str) {
        put_on_bench(pty, code);
        pty.key(b"5");
        pty.key(b"c");
        pty.wait_text("connected to", SHORT);
        pty.key(b"6");
        pty.key(b"t");
        let answers = ["550", "PASS", "0.03", "yes"];
        let mut given = 0;
        let until = Instant::now() + LONG;
        loop {
            assert!(Instant::now() < until, "the protection step never came");
            let s = store(db);
            let lowered = s.recent_bms_writes(3).unwrap().iter().any(|r| {
                r.outcome == "verified"
                    && r.detail
                        .as_deref()
                        .is_some_and(|d| d.starts_with("EOL over-voltage test: cell trigger"))
            });
            if lowered {
                return;
            }
            if pty.text().contains("answer:") && given < answers.len() {
                pty.send(format!("{}\r", answers[given]).as_bytes());
                given += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_test_interrupted_by_quitting_the_console_restores_the_boards_trigger() {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        let (sim, code, profile_trigger) = configured(dir.path(), &db);
        let mut pty = start(console(&db, &[&sim]));
        test_until_protection(&mut pty, &db, &code);
        pty.key(b"q");
        pty.wait_text("Quit anyway?", SHORT);
        pty.key(b"y");
        assert!(pty.wait_exit(LONG).success());
        assert_eq!(
            crate::integrity_signals::cell_ov_trigger(&db, &sim),
            profile_trigger
        );
        assert!(store(&db).open_board_journal(None).unwrap().is_empty());
        let pack = pack_json(&db, &code);
        assert_eq!(pack["status"], "configured", "an aborted run is no verdict");
    }

    #[test]
    fn after_a_killed_console_the_next_connect_restores_from_the_journal_and_says_so() {
        let dir = crate::support::tempdir();
        let db = dir.path().join("line.db");
        let (sim, code, profile_trigger) = configured(dir.path(), &db);
        let mut pty = start(console(&db, &[&sim]));
        test_until_protection(&mut pty, &db, &code);
        pty.child.kill().unwrap(); // SIGKILL: nothing is put back
        pty.child.wait().unwrap();
        // The board still holds the lowered trigger (any read of it would put it back, so
        // the journal says so instead).
        assert!(!store(&db).open_board_journal(None).unwrap().is_empty());

        let mut pty = start(console(&db, &[&sim]));
        pty.key(b"5");
        pty.key(b"c");
        let screen = pty.wait_text("restored", LONG);
        assert!(screen.contains("restored"), "{screen}");
        assert!(store(&db).open_board_journal(None).unwrap().is_empty());
        quit(pty);
        assert_eq!(
            crate::integrity_signals::cell_ov_trigger(&db, &sim),
            profile_trigger
        );
    }
}
