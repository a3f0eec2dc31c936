//! Key bindings as data: one table per context feeds the key lookup, the footer and the `?`
//! overlay, so what the footer promises is exactly what the keys do. The tables for every
//! screen (global keys, list moves, modals, help) live here; each screen's own rows live in its
//! module under [`screens`](super::screens), and [`screen_table`] puts them together.
//!
//! Only keys that survive tmux, screen and SSH: letters, digits, F-keys, arrows, PgUp/PgDn,
//! Enter, Tab, Esc and Ctrl+letter. Bare Esc only ever goes back or cancels.

use super::app::Screen;
use super::screens::{assemble, bms, history, inventory, line, matching, test};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for. Screen-specific actions only appear in that screen's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Redraw,
    GoTo(Screen),
    NextScreen,
    PrevScreen,
    /// Open the prompt to type a code by hand (same routing as a scan).
    EnterCode,
    Up,
    Down,
    PageUp,
    PageDown,
    // Inventory
    Import,
    Filter,
    CycleStatus,
    CycleSort,
    // Match
    ChooseProfile,
    RunMatch,
    ToggleAccept,
    AcceptAll,
    Commit,
    // Assemble
    ChoosePack,
    PrintLabel,
    ScanLabel,
    // BMS
    Connect,
    Disconnect,
    WriteConfig,
    /// Demo line only: pull or plug back the simulated board's cable.
    ToggleUnplug,
    // Test
    StartTest,
    AbortTest,
    // State verbs (Inventory, Assemble, History)
    RejectCell,
    ScrapCell,
    UnrejectCell,
    SourceCells,
    ReleasePack,
    ScrapPack,
    ReworkPack,
    // Modals
    Confirm,
    Cancel,
    Submit,
}

/// One key: a code and the modifiers that must be held (Shift is ignored for characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub KeyCode, pub KeyModifiers);

pub(crate) const fn k(c: char) -> Key {
    Key(KeyCode::Char(c), KeyModifiers::NONE)
}
pub(crate) const fn ctrl(c: char) -> Key {
    Key(KeyCode::Char(c), KeyModifiers::CONTROL)
}
pub(crate) const fn code(c: KeyCode) -> Key {
    Key(c, KeyModifiers::NONE)
}

impl Key {
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let wanted = self.1 & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let held = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        if wanted != held {
            return false;
        }
        match (self.0, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                a.eq_ignore_ascii_case(&b) && {
                    // Letters are case-insensitive (caps lock on a line PC); symbols are exact.
                    a == b || a.is_ascii_alphabetic()
                }
            }
            (a, b) => a == b,
        }
    }

    /// How the key is written in the footer and the help.
    pub fn label(&self) -> String {
        let base = match self.0 {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "Up".into(),
            KeyCode::Down => "Down".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            other => format!("{other:?}"),
        };
        if self.1.contains(KeyModifiers::CONTROL) {
            format!("^{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// One row of a key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    /// The word in the footer; empty means help-only.
    pub hint: &'static str,
    /// The sentence in the `?` overlay.
    pub help: &'static str,
}

impl Binding {
    pub fn key_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The first key only, to keep the footer short.
    pub fn short_label(&self) -> String {
        self.keys.first().map(Key::label).unwrap_or_default()
    }
}

/// One binding, written as a table row.
pub(crate) const fn b(
    keys: &'static [Key],
    action: Action,
    hint: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        hint,
        help,
    }
}

/// Keys that work on every screen.
pub const GLOBAL: &[Binding] = &[
    b(
        &[k('1'), code(KeyCode::F(2))],
        Action::GoTo(Screen::Line),
        "",
        "Line: the home screen",
    ),
    b(
        &[k('2'), code(KeyCode::F(3))],
        Action::GoTo(Screen::Inventory),
        "",
        "Inventory: cells, import, histograms",
    ),
    b(
        &[k('3'), code(KeyCode::F(4))],
        Action::GoTo(Screen::Match),
        "",
        "Match: propose packs and reserve cells",
    ),
    b(
        &[k('4'), code(KeyCode::F(5))],
        Action::GoTo(Screen::Assemble),
        "",
        "Assemble: guided placement and pack code",
    ),
    b(
        &[k('5'), code(KeyCode::F(6))],
        Action::GoTo(Screen::Bms),
        "",
        "BMS: live readings and configuration write",
    ),
    b(
        &[k('6'), code(KeyCode::F(7))],
        Action::GoTo(Screen::Test),
        "",
        "Test: the end-of-line test",
    ),
    b(
        &[k('7'), code(KeyCode::F(8))],
        Action::GoTo(Screen::History),
        "",
        "History: find a pack or cell, its lineage and records",
    ),
    b(&[code(KeyCode::Tab)], Action::NextScreen, "", "Next screen"),
    b(
        &[code(KeyCode::BackTab)],
        Action::PrevScreen,
        "",
        "Previous screen",
    ),
    b(
        &[k('/')],
        Action::EnterCode,
        "code",
        "Type a cell id, pack code or OP:<name>; same as a scan",
    ),
    b(
        &[k('?'), code(KeyCode::F(1))],
        Action::Help,
        "help",
        "This help",
    ),
    b(
        &[k('q'), ctrl('c')],
        Action::Quit,
        "quit",
        "Quit (everything is already saved)",
    ),
    b(
        &[ctrl('l')],
        Action::Redraw,
        "",
        "Redraw the whole screen (after a tmux reattach)",
    ),
];

/// Moving through a list, on the screens that have one.
pub const NAV: &[Binding] = &[
    b(&[code(KeyCode::Up), k('k')], Action::Up, "", "Move up"),
    b(
        &[code(KeyCode::Down), k('j')],
        Action::Down,
        "",
        "Move down",
    ),
    b(&[code(KeyCode::PageUp)], Action::PageUp, "", "Page up"),
    b(
        &[code(KeyCode::PageDown)],
        Action::PageDown,
        "",
        "Page down",
    ),
];

/// The cell verbs (Inventory and History): the selected or shown cell is filled in.
pub const CELL_VERBS: &[Binding] = &[
    b(
        &[k('r')],
        Action::RejectCell,
        "reject",
        "Reject a cell (reason asked); its built pack goes ON HOLD",
    ),
    b(
        &[k('x')],
        Action::ScrapCell,
        "",
        "Scrap a cell (reason asked); its pack as for reject",
    ),
    b(
        &[k('u')],
        Action::UnrejectCell,
        "",
        "Un-reject a cell in no live pack (reason asked)",
    ),
    b(
        &[k('m')],
        Action::SourceCells,
        "source",
        "Record the source module code of cells",
    ),
];

/// On Assemble, of the cell verbs only reject (a cell damaged at the bench).
pub const REJECT_ONLY: &[Binding] = &[CELL_VERBS[0]];

/// The pack verbs (Assemble and History): the pack shown or on the bench is filled in.
pub const PACK_VERBS: &[Binding] = &[
    b(
        &[k('w')],
        Action::ReworkPack,
        "rework",
        "Rework: scan a cell out, one in; then config and a new test",
    ),
    b(
        &[k('l')],
        Action::ReleasePack,
        "release",
        "Release a matched pack: its cells back to available",
    ),
    b(
        &[k('d')],
        Action::ScrapPack,
        "scrap",
        "Scrap a pack (reason asked): its cells scrapped or to stock",
    ),
];

/// While a question waits for an answer.
pub const CONFIRM: &[Binding] = &[
    b(&[k('y')], Action::Confirm, "yes", "Yes, do it"),
    b(
        &[k('n'), code(KeyCode::Esc)],
        Action::Cancel,
        "no",
        "No, leave it",
    ),
];

/// While a text field has the keyboard: every other key types.
pub const INPUT: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Submit,
        "ok",
        "Accept the text",
    ),
    b(&[code(KeyCode::Esc)], Action::Cancel, "cancel", "Cancel"),
    b(
        &[code(KeyCode::Tab)],
        Action::NextScreen,
        "next screen",
        "Leave the field for the next screen",
    ),
    b(
        &[code(KeyCode::BackTab)],
        Action::PrevScreen,
        "",
        "Leave the field for the previous screen",
    ),
    b(&[code(KeyCode::F(1))], Action::Help, "help", "Help"),
    b(&[ctrl('c')], Action::Quit, "", "Quit"),
];

/// While the help overlay is open.
pub const HELP: &[Binding] = &[b(
    &[code(KeyCode::Esc), k('?'), k('q'), code(KeyCode::F(1))],
    Action::Cancel,
    "close",
    "Close the help",
)];

/// The screen's own keys (without the global ones), from the screen's module.
pub fn screen_table(screen: Screen, demo: bool) -> Vec<&'static [Binding]> {
    match screen {
        Screen::Line => vec![line::KEYS, NAV],
        Screen::Inventory => vec![inventory::KEYS, CELL_VERBS, NAV],
        Screen::Match => vec![matching::KEYS, NAV],
        Screen::Assemble => vec![assemble::KEYS, REJECT_ONLY, PACK_VERBS],
        Screen::Bms if demo => vec![bms::KEYS, bms::DEMO_KEYS],
        Screen::Bms => vec![bms::KEYS],
        Screen::Test => vec![test::KEYS, NAV],
        Screen::History => vec![history::KEYS, CELL_VERBS, PACK_VERBS, NAV],
    }
}

/// The first action any of `tables` binds to `ev`.
pub fn lookup(tables: &[&'static [Binding]], ev: &KeyEvent) -> Option<Action> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|bnd| bnd.keys.iter().any(|key| key.matches(ev)))
        .map(|bnd| bnd.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for screen in Screen::ALL {
            for demo in [false, true] {
                let mut tables = screen_table(*screen, demo);
                tables.push(GLOBAL);
                let mut seen: Vec<(Key, &str)> = Vec::new();
                for bnd in tables.iter().flat_map(|t| t.iter()) {
                    for key in bnd.keys {
                        if let Some((_, other)) = seen.iter().find(|(k2, _)| k2 == key) {
                            panic!(
                                "{screen:?}: {} bound to '{}' and '{}'",
                                key.label(),
                                other,
                                bnd.help
                            );
                        }
                        seen.push((*key, bnd.help));
                    }
                }
            }
        }
    }

    #[test]
    fn letters_ignore_case_symbols_do_not() {
        let q = ev(KeyCode::Char('Q'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[GLOBAL], &q), Some(Action::Quit));
        let help = ev(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[GLOBAL], &help), Some(Action::Help));
        let ctrl_l = ev(KeyCode::Char('l'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&[GLOBAL], &ctrl_l), Some(Action::Redraw));
        // Plain l is not Ctrl-L.
        assert_eq!(
            lookup(&[GLOBAL], &ev(KeyCode::Char('l'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn labels_are_short_and_readable() {
        assert_eq!(Key(KeyCode::Char('c'), KeyModifiers::CONTROL).label(), "^C");
        assert_eq!(GLOBAL[10].key_label(), "?/F1");
        assert_eq!(code(KeyCode::Char(' ')).label(), "Space");
    }
}
