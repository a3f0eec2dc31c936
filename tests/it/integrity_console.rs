//! Issue 11's verbs in the console, by keys and scans: reject, scrap, un-reject, source
//! codes, release, scrap a pack, rework. Through the real `update` and the store thread's
//! services on a real (in-memory) SQLite store; what changed is read back from the store.

use crate::support::tui::{actor, Harness};
use crossterm::event::KeyCode;
use packwright::domain::{CellStatus, Pack, PackStatus};
use packwright::profile::Profile;
use packwright::store::prelude::*;
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
        .complete_assembly(built.id, "PWT0000042")
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
