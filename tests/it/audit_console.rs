//! The console's History screen shows a pack's audit entries, its cells' while in it included.

use crate::support::tui::{actor, Harness};
use packwright::tui::app::Screen;

#[test]
fn history_shows_a_pack_s_audit_entries() {
    let mut h = Harness::new();
    h.match_and_commit_all();
    let pack = h.services.store.list_packs(None).unwrap()[0].clone();
    let cells: Vec<String> = pack.groups.concat();
    for c in &cells {
        h.services.store.mark_cell_placed(pack.id, c).unwrap();
    }
    h.services
        .store
        .complete_assembly(&actor(), pack.id, "PWT0000042")
        .unwrap();
    packwright::services::cells::reject(
        &mut *h.services.store,
        &actor(),
        &cells[0],
        false,
        "swollen",
    )
    .unwrap();
    h.scan("PWT0000042");
    assert_eq!(h.app.screen, Screen::History);
    let screen = h.screen(120, 80);
    let trail: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("Audit trail"))
        .collect();
    assert!(!trail.is_empty(), "{screen}");
    let text = trail.join("\n");
    for needle in [
        "ann pack match: matched, profile",
        "ann pack assembled: matched -> assembled, code PWT0000042",
        &format!(
            "ann cell reject {}: assembled -> rejected; pack #{}",
            cells[0], pack.id
        ),
        "(swollen)",
        "ann pack hold: assembled -> on_hold",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}
