//! The console's behaviour through its pure `update`: keys, scans, confirmations, replies from
//! the store and reports from the bench, with the real store services underneath.

use crate::support::tui::Harness;
use crossterm::event::{KeyCode, KeyModifiers};
use packwright::domain::{CellStatus, PackStatus};
use packwright::store::prelude::*;
use packwright::store::Store;
use packwright::tui::app::{update, Event, Level, Modal, Resume, Screen};
use packwright::tui::keys;
use packwright::tui::msg::{DeviceEvent, DeviceRequest, Lineage, Link};
use packwright::tui::view;

fn message(h: &Harness) -> String {
    h.app
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

#[test]
fn every_screen_is_one_key_away_and_f_keys_and_tab_work_too() {
    let mut h = Harness::new();
    assert_eq!(h.app.screen, Screen::Line);
    for (i, s) in Screen::ALL.iter().enumerate() {
        let digit = char::from(b'1' + i as u8);
        h.press(KeyCode::Char(digit));
        assert_eq!(h.app.screen, *s, "key {digit}");
        // Esc leaves a field the screen may have opened.
        h.press(KeyCode::Esc);
    }
    h.press(KeyCode::F(3));
    assert_eq!(h.app.screen, Screen::Inventory);
    h.press(KeyCode::Tab);
    assert_eq!(h.app.screen, Screen::Match);
    h.press(KeyCode::BackTab);
    assert_eq!(h.app.screen, Screen::Inventory);
}

#[test]
fn footer_and_help_come_from_the_same_table() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    let tables = h.app.active_tables();
    let footer = view::footer_text(&tables);
    assert!(footer.contains(&("i".to_string(), "import")), "{footer:?}");
    assert!(footer.contains(&("?".to_string(), "help")));
    h.press(KeyCode::Char('?'));
    assert!(h.app.help);
    let screen = h.screen(80, 24);
    for b in keys::screen_table(Screen::Inventory, false)
        .iter()
        .flat_map(|t| t.iter())
    {
        assert!(
            screen.contains(b.help),
            "help lacks '{}':\n{screen}",
            b.help
        );
    }
    // While the help is open the footer only offers closing it, and q closes, not quits.
    assert_eq!(
        view::footer_text(&h.app.active_tables()),
        vec![("Esc".to_string(), "close")]
    );
    h.press(KeyCode::Char('q'));
    assert!(!h.app.help && !h.app.quit);
}

#[test]
fn every_footer_fits_80_columns_and_keeps_help_and_quit() {
    for &screen in Screen::ALL.iter() {
        for demo in [false, true] {
            let mut tables = keys::screen_table(screen, demo);
            tables.push(keys::GLOBAL);
            let footer = view::footer_fitted(&tables, 82);
            let width: usize = footer
                .iter()
                .map(|(k, h)| k.chars().count() + h.chars().count() + 3)
                .sum();
            assert!(width <= 82, "{screen:?}: {footer:?}");
            assert!(
                footer.contains(&("?".to_string(), "help")),
                "{screen:?}: {footer:?}"
            );
            assert!(
                footer.contains(&("q".to_string(), "quit")),
                "{screen:?}: {footer:?}"
            );
        }
    }
}

#[test]
fn a_scan_is_recognised_on_any_screen_and_routed_by_what_it_is() {
    let mut h = Harness::new();
    // A cell id from the Line screen: its history.
    h.scan("C100-0010");
    assert_eq!(h.app.screen, Screen::History);
    match &h.app.history.found {
        Some(Lineage::Cell(c)) => {
            assert_eq!(c.cell.id, "C100-0010");
            assert_eq!(c.graded_from_file.as_deref(), Some("demo.csv"));
        }
        other => panic!("{other:?}"),
    }
    // A source module's code: the packs its cells went into, and the rest.
    h.press(KeyCode::Char('1'));
    h.scan("ESS-M02");
    assert_eq!(h.app.screen, Screen::History);
    match &h.app.history.found {
        Some(Lineage::Source(s)) => {
            assert_eq!(s.source_code, "ESS-M02");
            assert!(s.packs.is_empty());
            assert_eq!(s.unpacked.len(), 16);
        }
        other => panic!("{other:?}"),
    }
    // An operator badge from Inventory: the operator changes and is remembered.
    h.press(KeyCode::Char('2'));
    h.scan("OP:bo");
    assert_eq!(h.app.session.operator, "bo");
    assert_eq!(h.app.screen, Screen::Inventory);
    assert_eq!(
        h.services.store.get_state("operator").unwrap().as_deref(),
        Some("bo")
    );
    // Nothing known: said plainly, nothing changes.
    h.scan("XYZ-999");
    assert_eq!(h.app.screen, Screen::Inventory);
    assert!(
        message(&h).contains("'XYZ-999' is not a cell"),
        "{}",
        message(&h)
    );
    assert_eq!(h.app.message.as_ref().unwrap().level, Level::Problem);
}

#[test]
fn the_characters_of_a_scan_never_act_as_keys() {
    let mut h = Harness::new();
    // "q" and digits inside a scan must not quit or switch screens.
    h.scan("OP:q1234");
    assert!(!h.app.quit);
    assert_eq!(h.app.screen, Screen::Line);
    assert_eq!(h.app.session.operator, "q1234");
}

#[test]
fn committing_needs_a_yes_and_no_commits_nothing() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('3'));
    h.press(KeyCode::Char('r'));
    let n = h.app.matching.proposal.as_ref().unwrap().packs.len();
    assert!(n >= 3, "{n}");
    h.press(KeyCode::Char('c'));
    assert!(message(&h).contains("no pack marked"));
    h.press(KeyCode::Char(' '));
    h.press(KeyCode::Char('c'));
    assert!(matches!(h.app.modal, Some(Modal::Confirm(_))));
    h.press(KeyCode::Char('n'));
    assert!(h.app.modal.is_none());
    assert!(h.services.store.list_packs(None).unwrap().is_empty());
    h.press(KeyCode::Char('c'));
    h.press(KeyCode::Char('y'));
    let packs = h.services.store.list_packs(None).unwrap();
    assert_eq!(packs.len(), 1);
    let reserved = h
        .services
        .store
        .cell_counts()
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == CellStatus::Reserved)
        .unwrap()
        .1;
    assert_eq!(reserved, 15);
}

#[test]
fn assembly_refuses_a_wrong_cell_loudly_and_codes_the_finished_pack() {
    let mut h = Harness::new();
    h.match_and_commit_all();
    h.press(KeyCode::Char('4'));
    let pack = h.app.pack.clone().expect("a pack to assemble");
    assert_eq!(pack.status, PackStatus::Matched);
    // The scan field is open: the operator can type by hand.
    assert!(matches!(h.app.modal, Some(Modal::Input(_))));
    let order: Vec<String> = pack.groups.iter().flatten().cloned().collect();

    // The second cell first: refused, nothing placed.
    h.scan(&order[1]);
    let text = message(&h);
    assert!(
        text.contains("WRONG CELL") && text.contains(&order[0]),
        "{text}"
    );
    assert!(h.app.assemble.placed.is_empty());
    assert!(h.services.store.placed_cells(pack.id).unwrap().is_empty());

    // A cell of no pack at all: refused too.
    let stranger = h
        .services
        .store
        .list_cells(&Default::default())
        .unwrap()
        .into_iter()
        .find(|c| c.status == CellStatus::Available)
        .unwrap();
    h.scan(&stranger.id);
    assert!(message(&h).contains("DO NOT FIT IT"), "{}", message(&h));

    // The first cell typed slowly into the open field, the rest scanned.
    h.chars(&order[0]);
    h.press(KeyCode::Enter);
    assert_eq!(h.app.assemble.placed, vec![order[0].clone()]);
    for id in &order[1..] {
        h.scan(id);
    }
    let done = h.app.pack.clone().unwrap();
    assert_eq!(done.status, PackStatus::Assembled);
    let code = done.code.clone().unwrap();
    assert_eq!(h.app.assemble.code.as_deref(), Some(code.as_str()));
    assert!(h.screen(80, 24).contains(&format!("LABEL: {code}")));
    // The pack's label scanned anywhere now leads to its next stage: the BMS.
    h.press(KeyCode::Char('1'));
    h.scan(&code);
    assert_eq!(h.app.screen, Screen::Bms);
}

#[test]
fn at_assembly_completion_the_label_is_printed_and_a_wrong_label_scanned_back_is_refused_and_recorded(
) {
    let mut h = Harness::new();
    h.match_and_commit_all();
    h.press(KeyCode::Char('4'));
    let pack = h.app.pack.clone().unwrap();
    // Before the pack is built there is no label to print or scan.
    h.press(KeyCode::Esc);
    h.press(KeyCode::Char('v'));
    assert!(message(&h).contains("has no label yet"), "{}", message(&h));
    assert!(h.app.modal.is_none());
    h.press(KeyCode::Char('4'));
    for id in pack.groups.iter().flatten() {
        h.scan(id);
    }
    let code = h.app.pack.as_ref().unwrap().code.clone().unwrap();
    // Completion asks for the label at once; this console has no printer, and says how.
    assert!(
        message(&h).contains("no printer (console --printer)"),
        "{}",
        message(&h)
    );
    assert!(h.screen(80, 24).contains("LABEL NOT PRINTED"));

    // Scan-back of a wrong label, as a GS1-128 scanner sends it (FNC1 as Ctrl-]).
    h.press(KeyCode::Char('v'));
    assert!(matches!(h.app.modal, Some(Modal::Input(_))));
    h.chars("]C1");
    h.press_mod(KeyCode::Char(']'), KeyModifiers::CONTROL);
    h.scan("PWT0000999");
    let m = h.app.message.clone().unwrap();
    assert_eq!(m.level, Level::Problem);
    assert!(
        m.text.contains(&format!(
            "WRONG LABEL: the label scanned on pack {code} reads 'PWT0000999'"
        )),
        "{}",
        m.text
    );
    let screen = h.screen(80, 24);
    assert!(screen.contains("WRONG LABEL on the pack"), "{screen}");
    let scans = h.services.store.label_scans(pack.id).unwrap();
    assert_eq!(scans.len(), 1);
    assert!(!scans[0].matched);
    assert_eq!(scans[0].raw, "]C1\u{1d}PWT0000999");
    assert_eq!(scans[0].symbology.as_deref(), Some("]C1"));
    assert_eq!(scans[0].operator, "ann");

    // The pack's own label through a QR scanner: accepted, recorded, next step named.
    h.press(KeyCode::Char('v'));
    h.scan(&format!("]Q1{code}"));
    let m = h.app.message.clone().unwrap();
    assert_eq!(m.level, Level::Good, "{}", m.text);
    assert!(m.text.contains("Next: 5 BMS"), "{}", m.text);
    assert!(h.screen(80, 24).contains("label scanned back OK"));
    let scans = h.services.store.label_scans(pack.id).unwrap();
    assert_eq!(scans.len(), 2);
    assert!(scans[1].matched);
}

#[test]
fn assembly_refuses_a_rejected_cell_with_the_reason_it_was_rejected() {
    let mut h = Harness::new();
    h.match_and_commit_all();
    h.press(KeyCode::Char('4'));
    let pack = h.app.pack.clone().expect("a pack to assemble");
    let order: Vec<String> = pack.groups.iter().flatten().cloned().collect();
    h.scan(&order[0]);
    assert_eq!(h.app.assemble.placed, vec![order[0].clone()]);

    // Another station rejects the next cell while this console shows the pack.
    let done = packwright::services::cells::reject(
        &mut *h.services.store,
        &crate::support::tui::actor(),
        &order[1],
        false,
        "swollen",
    )
    .unwrap();
    assert!(done.pack_effect.unwrap().contains("taken out of pack"));

    // Scanned anyway: refused loudly, with the reason, and nothing is placed.
    h.scan(&order[1]);
    let text = message(&h);
    assert!(
        text.contains("REJECTED CELL") && text.contains(&order[1]) && text.contains("swollen"),
        "{text}"
    );
    assert_eq!(h.app.assemble.placed, vec![order[0].clone()]);
    assert_eq!(
        h.services.store.placed_cells(pack.id).unwrap(),
        vec![order[0].clone()]
    );
    assert_eq!(
        h.services
            .store
            .get_cell(&order[1])
            .unwrap()
            .unwrap()
            .status,
        CellStatus::Rejected
    );
}

#[test]
fn a_pack_put_on_hold_reads_so_in_history_with_its_reason() {
    let mut h = Harness::new();
    h.match_and_commit_all();
    let pack = h.services.store.list_packs(None).unwrap()[0].clone();
    let cells: Vec<String> = pack.groups.concat();
    for c in &cells {
        h.services.store.mark_cell_placed(pack.id, c).unwrap();
    }
    h.services
        .store
        .complete_assembly(&crate::support::tui::actor(), pack.id, "PWT0000042")
        .unwrap();
    packwright::services::cells::reject(
        &mut *h.services.store,
        &crate::support::tui::actor(),
        &cells[0],
        false,
        "swollen",
    )
    .unwrap();
    // The pack's label scanned: a held pack leads to its history, which says why it is held.
    h.scan("PWT0000042");
    assert_eq!(h.app.screen, Screen::History);
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("ON HOLD") && screen.contains("swollen"),
        "{screen}"
    );
}

#[test]
fn the_console_resumes_where_it_was() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    {
        let mut store = Store::open(&db).unwrap();
        let fresh = crate::support::tui::demo_store();
        let cells = fresh.list_cells(&Default::default()).unwrap();
        let parsed = packwright::intake::ParsedCells {
            lines: (2..cells.len() + 2).collect(),
            cells,
            ignored_columns: Vec::new(),
        };
        store
            .import_cells(&crate::support::tui::actor(), "x.csv", &parsed)
            .unwrap();
        let mut h = Harness::with(store, Resume::default());
        h.match_and_commit_all();
        h.press(KeyCode::Char('4'));
        // Not the oldest pack waiting: the second one.
        h.press(KeyCode::Esc);
        h.press(KeyCode::Char('n'));
        let pack = h.app.pack.clone().unwrap();
        assert_eq!(pack.id, 2);
        h.scan(&pack.groups[0][0]);
        h.scan("OP:cy");
        // The SSH session drops here: nothing else is saved on purpose.
    }
    let store = Store::open(&db).unwrap();
    let resume = Resume {
        screen: store
            .get_state("screen")
            .unwrap()
            .and_then(|s| Screen::from_key(&s)),
        pack: store
            .get_state("pack")
            .unwrap()
            .and_then(|v| v.parse().ok()),
        operator: store.get_state("operator").unwrap(),
        profile: store.get_state("profile").unwrap(),
    };
    let h = Harness::with(store, resume);
    assert_eq!(h.app.screen, Screen::Assemble);
    assert_eq!(h.app.session.operator, "cy");
    let pack = h.app.pack.clone().expect("the pack comes back");
    assert_eq!(pack.id, 2);
    assert_eq!(h.app.assemble.placed, vec![pack.groups[0][0].clone()]);
    assert_eq!(
        h.app.assemble.next_slot(&pack).unwrap().cell,
        pack.groups[1][0]
    );
}

#[test]
fn keys_that_do_nothing_do_not_redraw() {
    let mut h = Harness::new();
    h.app.dirty = false;
    h.press(KeyCode::Char('z'));
    assert!(!h.app.dirty, "an unbound key must not cause a frame");
    // ... but it must not cancel a frame something else asked for.
    h.app.dirty = true;
    h.press(KeyCode::Char('z'));
    assert!(h.app.dirty);
    h.reply(packwright::tui::msg::Reply::Saved);
    assert!(h.app.dirty, "a saved state must not cancel a pending frame");
    h.app.dirty = false;
    h.reply(packwright::tui::msg::Reply::Saved);
    assert!(
        !h.app.dirty,
        "a saved state alone changes nothing on screen"
    );
    // A repeated identical reading from the board changes nothing either.
    h.press(KeyCode::Char('5'));
    let snap = Box::new(packwright_protocol::BmsSnapshot {
        pack_voltage_v: 52.8,
        current_a: 0.0,
        remaining_ah: None,
        nominal_ah: None,
        cycles: None,
        soc_pct: None,
        cell_count: 2,
        cell_voltages_mv: vec![3300, 3301],
        temperatures_c: vec![],
        protection: vec![],
        charge_fet: None,
        discharge_fet: None,
        balancing_cells: vec![],
        manufacture_date: None,
        model: None,
        firmware_version: None,
    });
    h.event(Event::Device(DeviceEvent::Snapshot(snap.clone())));
    assert!(h.app.dirty);
    h.app.dirty = false;
    h.event(Event::Device(DeviceEvent::Snapshot(snap)));
    assert!(
        !h.app.dirty,
        "the same reading twice must not cause a frame"
    );
}

#[test]
fn a_lost_link_is_said_and_the_console_keeps_working() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('5'));
    assert!(h.device.contains(&DeviceRequest::Watch(true)));
    h.press(KeyCode::Char('c'));
    assert_eq!(h.device.last(), Some(&DeviceRequest::ConnectNext));
    h.event(Event::Device(DeviceEvent::Link(Link::Connected {
        port: "/dev/pts/9".into(),
        identity: "jbd SP04S034".into(),
    })));
    h.event(Event::Device(DeviceEvent::Link(Link::Lost {
        port: "/dev/pts/9".into(),
        reason: "adapter disconnected: EIO".into(),
    })));
    let text = message(&h);
    assert!(text.contains("lost") && text.contains("EIO"), "{text}");
    assert!(h.screen(80, 24).contains("link to /dev/pts/9 lost"));
    // Writing needs a link: refused with the reason, no confirmation offered.
    h.press(KeyCode::Char('w'));
    assert!(h.app.modal.is_none());
    // Still responsive.
    h.press(KeyCode::Char('1'));
    assert_eq!(h.app.screen, Screen::Line);
    assert!(h.device.contains(&DeviceRequest::Watch(false)));
}

#[test]
fn import_names_the_file_line_and_column_of_a_bad_row() {
    let dir = crate::support::tempdir();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,capacity_mah\nx1,1000\nx2,lots\n").unwrap();
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    h.press(KeyCode::Char('i'));
    h.chars(&bad.display().to_string());
    h.press(KeyCode::Enter);
    let text = message(&h);
    assert!(
        text.contains("nothing imported")
            && text.contains("line 3")
            && text.contains("capacity_mah"),
        "{text}"
    );
    let good =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cells/pulsebat_lfp_35ah.csv");
    h.press(KeyCode::Char('i'));
    h.chars(&good.display().to_string());
    h.press(KeyCode::Enter);
    assert!(message(&h).contains("imported 56 cells"), "{}", message(&h));
    assert_eq!(h.app.inventory.cells.len(), 96 + 56);
}

#[test]
fn inventory_filters_sorts_and_shows_rejected_cells_with_their_reason() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    assert_eq!(h.app.inventory.visible().len(), 93);
    h.press(KeyCode::Char('o'));
    let caps: Vec<f64> = h
        .app
        .inventory
        .visible()
        .iter()
        .filter_map(|c| c.capacity_mah)
        .collect();
    assert!(
        caps.windows(2).all(|w| w[0] >= w[1]),
        "capacity, high first"
    );
    // Status cycles available → reserved → assembled → rejected.
    for _ in 0..3 {
        h.press(KeyCode::Char('s'));
    }
    assert_eq!(h.app.inventory.status, Some(CellStatus::Rejected));
    assert_eq!(h.app.inventory.visible().len(), 3);
    assert!(h.screen(80, 24).contains("swollen case"));
    h.press(KeyCode::Char('s'));
    h.press(KeyCode::Char('s'));
    assert_eq!(h.app.inventory.status, None);
    h.press(KeyCode::Char('f'));
    h.chars("M02");
    h.press(KeyCode::Enter);
    assert_eq!(h.app.inventory.visible().len(), 16);
}

#[test]
fn hangup_and_ctrl_c_quit() {
    let mut h = Harness::new();
    let fx = update(&mut h.app, Event::Hangup("SIGHUP"));
    assert!(h.app.quit);
    assert!(fx.contains(&packwright::tui::app::Effect::Quit));
    let mut h = Harness::new();
    h.press_mod(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(h.app.quit);
    // A dropped SSH session in the middle of a test ends the test as aborted.
    let mut h = Harness::new();
    h.app.test.running = true;
    let fx = update(&mut h.app, Event::Hangup("SIGHUP"));
    assert_eq!(
        fx,
        vec![
            packwright::tui::app::Effect::Device(DeviceRequest::AbortTest),
            packwright::tui::app::Effect::Quit
        ]
    );
}

#[test]
fn quitting_during_a_test_asks_first() {
    use packwright::tui::msg::{StepState, TestEvent, TestStep};
    let mut h = Harness::new();
    h.press(KeyCode::Char('6'));
    h.app.test.running = true;
    h.event(Event::Device(DeviceEvent::Test(TestEvent::Plan(vec![
        TestStep {
            title: "BMS communication and identity".into(),
            manual: false,
            state: StepState::Running,
        },
    ]))));
    h.press(KeyCode::Char('q'));
    assert!(!h.app.quit);
    assert!(matches!(h.app.modal, Some(Modal::Confirm(_))));
    h.press(KeyCode::Char('n'));
    assert!(!h.app.quit);
    h.press(KeyCode::Char('q'));
    h.press(KeyCode::Char('y'));
    assert!(h.app.quit);
    assert!(h.device.contains(&DeviceRequest::AbortTest));
}

#[test]
fn a_commit_is_said_within_the_80_column_message_row() {
    let mut h = Harness::new();
    h.reply(packwright::tui::msg::Reply::Committed(vec![1, 2, 3, 4]));
    let four = message(&h);
    assert!(four.contains("(#1, #2, #3, #4)"), "{four}");
    h.reply(packwright::tui::msg::Reply::Committed(
        (101..=162).collect(),
    ));
    let many = message(&h);
    assert!(
        many.contains("62 pack(s) committed (#101 … #162)"),
        "{many}"
    );
    for text in [four, many] {
        // The row also shows the level ("ok: ").
        assert!(text.chars().count() + 4 <= 80, "{text}");
        assert!(text.ends_with("Next: 4 Assemble"), "{text}");
    }
}
