//! The screens, one module each: its state, its key-table rows, its part of `update` (the
//! actions of its keys, the replies and reports it takes) and its drawing. The single pure
//! [`update`](super::app::update) and the single key-table lookup route here by screen.

pub mod assemble;
pub mod bms;
pub mod history;
pub mod inventory;
pub mod line;
pub mod matching;
pub mod test;

use super::app::{App, Effect, Screen};
use super::keys::Action;
use super::theme::Theme;
use ratatui::layout::Rect;
use ratatui::Frame;

/// What to load when a screen is shown, so it never shows stale figures.
pub(crate) fn enter(app: &mut App) -> Vec<Effect> {
    match app.screen {
        Screen::Line => line::enter(app),
        Screen::Inventory => inventory::enter(app),
        Screen::Assemble => assemble::enter(app),
        Screen::Bms => bms::enter(app),
        Screen::Test => test::enter(app),
        Screen::Match | Screen::History => Vec::new(),
    }
}

/// A screen's own action: only that screen's key table binds it, so the screen shown owns it.
pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    // The state verbs are the same wherever their keys are bound.
    if let Some(verb) = state_verb(action) {
        return crate::tui::verbs::start(app, verb);
    }
    match app.screen {
        Screen::Line => line::act(app, action),
        Screen::Inventory => inventory::act(app, action),
        Screen::Match => matching::act(app, action),
        Screen::Assemble => assemble::act(app, action),
        Screen::Bms => bms::act(app, action),
        Screen::Test => test::act(app, action),
        Screen::History => Vec::new(),
    }
}

fn state_verb(action: Action) -> Option<crate::tui::verbs::Verb> {
    use crate::tui::verbs::Verb;
    Some(match action {
        Action::RejectCell => Verb::Reject,
        Action::ScrapCell => Verb::ScrapCell,
        Action::UnrejectCell => Verb::Unreject,
        Action::SourceCells => Verb::Source,
        Action::ReleasePack => Verb::Release,
        Action::ScrapPack => Verb::ScrapPack,
        Action::ReworkPack => Verb::Rework,
        _ => return None,
    })
}

/// Move the screen's selection (or scroll) by `by` rows.
pub(crate) fn scroll(app: &mut App, by: isize) {
    match app.screen {
        Screen::Line => line::scroll(app, by),
        Screen::Inventory => inventory::scroll(app, by),
        Screen::Match => matching::scroll(app, by),
        Screen::Test => test::scroll(app, by),
        Screen::History => history::scroll(app, by),
        Screen::Assemble | Screen::Bms => {}
    }
}

/// Move `sel` by `by` within `0..len` (stays at 0 when the list is empty).
fn step(sel: &mut usize, len: usize, by: isize) {
    let max = len.saturating_sub(1) as isize;
    *sel = (*sel as isize + by).clamp(0, max.max(0)) as usize;
}

/// Draw the shown screen's body.
pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match app.screen {
        Screen::Line => line::draw(frame, area, app, theme),
        Screen::Inventory => inventory::draw(frame, area, app, theme),
        Screen::Match => matching::draw(frame, area, app, theme),
        Screen::Assemble => assemble::draw(frame, area, app, theme),
        Screen::Bms => bms::draw(frame, area, app, theme),
        Screen::Test => test::draw(frame, area, app, theme),
        Screen::History => history::draw(frame, area, app, theme),
    }
}
