//! The state verbs in the console: reject, scrap or un-reject a cell, record cells' source
//! module, release, scrap or rework a pack. Each asks its fields one text field at a time (a
//! scan works in any of them: scan out, scan in), then asks for a yes, then hands the store
//! thread a [`StateVerb`], which calls the same `services::{cells, packs}` functions as the
//! CLI: the rules are there, not here. Shared by Inventory, Assemble and History.

use super::app::{open_input, App, Confirm, Effect, InputPurpose, Level, Modal, Pending, Screen};
use super::msg::{Lineage, Request, StateVerb};
use super::screens::assemble::AssembleOutcome;
use super::widgets::fit;
use crate::domain::Pack;

/// A verb the operator can start from a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Reject,
    ScrapCell,
    Unreject,
    Source,
    Release,
    ScrapPack,
    Rework,
}

/// A verb being asked for: the answers given so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub verb: Verb,
    pub answers: Vec<String>,
}

impl Verb {
    /// The fields asked for, in order.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Verb::Reject => &["Cell to reject (scan it)", "Why is it rejected"],
            Verb::ScrapCell => &["Cell to scrap (scan it)", "Why is it scrapped"],
            Verb::Unreject => &["Cell back to stock (scan it)", "Why may it be used again"],
            Verb::Source => &["Cells (ids, spaces between)", "Their source module code"],
            Verb::Release => &["Matched pack to release (code or #)", "Why"],
            Verb::ScrapPack => &[
                "Pack to scrap (code or #)",
                "Why is it scrapped",
                "Good cells back to stock? y/n",
            ],
            Verb::Rework => &[
                "Pack to rework (code or #)",
                "Cell taken out (scan; empty: open slot)",
                "Cell put in (scan it)",
                "Why",
            ],
        }
    }

    /// What a field holds before the operator types.
    fn default(self, field: usize) -> &'static str {
        match (self, field) {
            (Verb::Release, 1) => "released by the operator",
            (Verb::ScrapPack, 2) => "n",
            (Verb::Rework, 3) => "cell replaced",
            _ => "",
        }
    }

    fn is_pack_verb(self) -> bool {
        matches!(self, Verb::Release | Verb::ScrapPack | Verb::Rework)
    }
}

/// Start `verb`: the first field, filled with what the screen shows (the selected cell, the
/// pack looked up or on the bench), so Enter takes it and a scan replaces it.
pub(crate) fn start(app: &mut App, verb: Verb) -> Vec<Effect> {
    let target = if verb.is_pack_verb() {
        shown_pack(app).unwrap_or_default()
    } else {
        shown_cell(app).unwrap_or_default()
    };
    app.verb = Some(Draft {
        verb,
        answers: Vec::new(),
    });
    open_input(app, InputPurpose::Verb, verb.fields()[0], target);
    Vec::new()
}

/// The cell the screen shows: the selected row of Inventory, the cell looked up in History.
fn shown_cell(app: &App) -> Option<String> {
    match app.screen {
        Screen::Inventory => app
            .inventory
            .visible()
            .get(app.inventory.selected)
            .map(|c| c.id.clone()),
        Screen::History => match &app.history.found {
            Some(Lineage::Cell(c)) => Some(c.cell.id.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The pack the screen shows: the pack looked up in History, else the pack on the bench.
fn shown_pack(app: &App) -> Option<String> {
    if app.screen == Screen::History {
        match &app.history.found {
            Some(Lineage::Pack(p)) => {
                return Some(
                    p.pack
                        .code
                        .clone()
                        .unwrap_or_else(|| format!("#{}", p.pack.id)),
                )
            }
            Some(Lineage::Cell(c)) => {
                if let Some(p) = &c.pack {
                    return Some(p.code.clone().unwrap_or_else(|| format!("#{}", p.id)));
                }
            }
            _ => {}
        }
    }
    app.pack.as_ref().map(Pack::label)
}

/// A field of the verb was submitted (as typed): ask the next, or ask for a yes.
pub(crate) fn answer(app: &mut App, text: String) -> Vec<Effect> {
    let Some(mut draft) = app.verb.take() else {
        return Vec::new();
    };
    let text = text.trim().to_string();
    let fields = draft.verb.fields();
    // The thing to act on must be named; the rest is for the service to judge.
    if draft.answers.is_empty() && text.is_empty() {
        app.say(Level::Info, "nothing named; nothing was changed");
        return Vec::new();
    }
    draft.answers.push(text);
    let next = draft.answers.len();
    if next < fields.len() {
        let verb = draft.verb;
        app.verb = Some(draft);
        open_input(
            app,
            InputPurpose::Verb,
            fields[next],
            verb.default(next).to_string(),
        );
        return Vec::new();
    }
    let (title, body, request) = confirmation(&draft);
    app.modal = Some(Modal::Confirm(Confirm {
        title,
        body: body.into_iter().map(|l| fit(&l, 56)).collect(),
        pending: Pending::State(request),
    }));
    Vec::new()
}

/// The question to confirm and what a yes sends.
fn confirmation(draft: &Draft) -> (String, Vec<String>, StateVerb) {
    let a = |i: usize| draft.answers.get(i).cloned().unwrap_or_default();
    match draft.verb {
        Verb::Reject | Verb::ScrapCell => {
            let scrap = draft.verb == Verb::ScrapCell;
            let word = if scrap { "Scrap" } else { "Reject" };
            (
                format!("{word} cell"),
                vec![
                    format!("{word} cell {}: {}", a(0), a(1)),
                    "A cell of a matched pack leaves its plan;".into(),
                    "a cell of a built pack puts that pack ON HOLD.".into(),
                ],
                StateVerb::Reject {
                    cell: a(0),
                    scrap,
                    reason: a(1),
                },
            )
        }
        Verb::Unreject => (
            "Un-reject cell".into(),
            vec![
                format!("Return cell {} to available stock", a(0)),
                format!("reason: {}", a(1)),
            ],
            StateVerb::Unreject {
                cell: a(0),
                reason: a(1),
            },
        ),
        Verb::Source => {
            let cells: Vec<String> = a(0).split_whitespace().map(str::to_string).collect();
            (
                "Record source module".into(),
                vec![
                    format!("Source module {} for {} cell(s):", a(1), cells.len()),
                    cells.join(" "),
                ],
                StateVerb::Source { cells, code: a(1) },
            )
        }
        Verb::Release => (
            "Release pack".into(),
            vec![
                format!("Release pack {}: its cells back to available", a(0)),
                format!("reason: {}", a(1)),
            ],
            StateVerb::Release {
                pack: a(0),
                reason: a(1),
            },
        ),
        Verb::ScrapPack => {
            let to_stock = a(2).to_lowercase().starts_with('y');
            (
                "Scrap pack".into(),
                vec![
                    format!("Scrap pack {}: {}", a(0), a(1)),
                    if to_stock {
                        "good cells back to stock, rejected ones scrapped".into()
                    } else {
                        "every cell of it scrapped".into()
                    },
                ],
                StateVerb::ScrapPack {
                    pack: a(0),
                    reason: a(1),
                    to_stock,
                },
            )
        }
        Verb::Rework => {
            let out = Some(a(1)).filter(|o| !o.is_empty());
            (
                "Rework pack".into(),
                vec![
                    format!(
                        "Pack {}: take out {}, put in {}",
                        a(0),
                        out.as_deref().unwrap_or("(open slot)"),
                        a(2)
                    ),
                    format!("reason: {}", a(3)),
                    "A built pack then needs its BMS configured".into(),
                    "and a new end-of-line test.".into(),
                ],
                StateVerb::Rework {
                    pack: a(0),
                    out,
                    into: a(2),
                    reason: a(3),
                },
            )
        }
    }
}

/// Yes: hand the verb to the store thread; a signed decision on a database with operators
/// (`services::authority::RULES`) first asks the operator's PIN again, as the CLI does.
pub(crate) fn confirmed(app: &mut App, verb: StateVerb) -> Vec<Effect> {
    let meaning = crate::services::authority::rule_of(verb.action()).signature;
    if let (true, Some(meaning)) = (app.login.enforced, meaning) {
        let prompt = format!("PIN of {} to sign: {meaning}", app.session.operator);
        app.signing = Some(verb);
        open_input(app, InputPurpose::Signature, &prompt, String::new());
        return Vec::new();
    }
    app.say(Level::Info, "working…");
    vec![Effect::Request(Request::State(verb, None))]
}

/// The PIN that signs the verb waiting in [`App::signing`]: to the store thread with it.
pub(crate) fn signed(app: &mut App, pin: String) -> Vec<Effect> {
    let Some(verb) = app.signing.take() else {
        return Vec::new();
    };
    app.say(Level::Info, "working…");
    vec![Effect::Request(Request::State(
        verb,
        Some(crate::tui::login::Pin(pin.trim().to_string())),
    ))]
}

/// The store thread did it: say what happened, and show every screen the change afresh.
pub(crate) fn done(app: &mut App, text: String, warning: bool, pack: Option<Pack>) -> Vec<Effect> {
    app.say(
        if warning { Level::Warning } else { Level::Good },
        text.clone(),
    );
    if app.screen == Screen::Assemble {
        // The scan field covers the message row while cells are placed: the last-scan panel
        // says it too.
        app.assemble.last = Some(AssembleOutcome::Changed(text));
    }
    let mut fx = Vec::new();
    if let Some(p) = pack {
        if app.pack.as_ref().is_some_and(|b| b.id == p.id) {
            app.pack = Some(p.clone());
            if app.screen == Screen::Assemble {
                fx.push(Effect::Request(Request::LoadPlacement(p.id)));
            }
        }
    }
    match app.screen {
        Screen::Inventory => fx.push(Effect::Request(Request::LoadCells)),
        Screen::History => {
            let key = match &app.history.found {
                Some(Lineage::Cell(c)) => Some(c.cell.id.clone()),
                Some(Lineage::Pack(p)) => Some(
                    p.pack
                        .code
                        .clone()
                        .unwrap_or_else(|| format!("#{}", p.pack.id)),
                ),
                Some(Lineage::Source(s)) => Some(s.source_code.clone()),
                None => None,
            };
            if let Some(key) = key {
                fx.push(Effect::Request(Request::LoadHistory(key)));
            }
        }
        _ => {}
    }
    fx
}
