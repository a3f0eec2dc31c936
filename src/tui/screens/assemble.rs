//! Assemble: guided placement of the cells of a matched pack, slot by slot, with loud
//! refusals, and the pack code to label it with once every slot is filled.

use crate::domain::{Pack, PackStatus};
use crate::tui::app::{open_input, App, Effect, InputPurpose, Level, Screen};
use crate::tui::keys::{b, k, Action, Binding};
use crate::tui::msg::Request;
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// A place in the pack: series group `s`, parallel slot `p` (0-based), and its cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub s: usize,
    pub p: usize,
    pub cell: String,
}

impl Slot {
    /// How the operator reads it: "S3 P1" (1-based, as printed on the fixture).
    pub fn name(&self) -> String {
        format!("S{} P{}", self.s + 1, self.p + 1)
    }
}

/// Slots in placement order: series group by group, parallel slots within a group.
pub fn slots(pack: &Pack) -> impl Iterator<Item = Slot> + '_ {
    pack.groups.iter().enumerate().flat_map(|(s, g)| {
        g.iter().enumerate().map(move |(p, cell)| Slot {
            s,
            p,
            cell: cell.clone(),
        })
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssembleOutcome {
    Placed {
        cell: String,
        slot: String,
    },
    Refused {
        cell: String,
        why: String,
    },
    /// A state verb done from this screen (reject, rework, release ...), as said.
    Changed(String),
}

impl AssembleOutcome {
    pub fn text(&self) -> String {
        match self {
            AssembleOutcome::Placed { cell, slot } => format!("{cell} placed in {slot}"),
            AssembleOutcome::Refused { why, .. } => format!("DO NOT FIT IT. {why}"),
            AssembleOutcome::Changed(text) => text.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AssembleView {
    /// Cells already placed, in placement order.
    pub placed: Vec<String>,
    pub last: Option<AssembleOutcome>,
    /// The code assigned when the last cell went in.
    pub code: Option<String>,
}

impl AssembleView {
    /// The slot to fill next; `None` once every slot is filled.
    pub fn next_slot(&self, pack: &Pack) -> Option<Slot> {
        slots(pack).find(|s| !self.placed.contains(&s.cell))
    }
}

pub const KEYS: &[Binding] = &[b(
    &[k('n')],
    Action::ChoosePack,
    "next pack",
    "Take the next pack waiting for assembly",
)];

// ------------------------------------------------------------------------------- Update

/// Shown: the oldest matched pack if none is on the bench, and the scan field.
pub(crate) fn enter(app: &mut App) -> Vec<Effect> {
    let mut fx = Vec::new();
    if app.pack.is_none() {
        fx.push(Effect::Request(Request::NextPack(PackStatus::Matched)));
    }
    open_scan_prompt(app);
    fx
}

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::ChoosePack => {
            vec![Effect::Request(Request::NextPackAfter {
                status: PackStatus::Matched,
                after: app.pack.as_ref().map(|p| p.id),
            })]
        }
        _ => Vec::new(),
    }
}

/// While cells are being placed, the scan field stays open so typing an id by hand works as
/// well as the scanner.
pub(crate) fn open_scan_prompt(app: &mut App) {
    if placing(app) && app.modal.is_none() {
        open_input(
            app,
            InputPurpose::Code,
            "Scan or type the cell id, then Enter",
            String::new(),
        );
    }
}

/// The Assemble screen is waiting for cells of the pack on the bench.
pub(crate) fn placing(app: &App) -> bool {
    app.screen == Screen::Assemble
        && app
            .pack
            .as_ref()
            .is_some_and(|p| p.status == PackStatus::Matched)
}

/// The cells already in the pack on the bench, from the store.
pub(crate) fn placement(app: &mut App, pack: i64, placed: Vec<String>) -> Vec<Effect> {
    if app.pack.as_ref().is_some_and(|p| p.id == pack) {
        app.assemble.placed = placed;
    }
    open_scan_prompt(app);
    Vec::new()
}

/// A cell went in; the last one completes the pack.
pub(crate) fn placed(
    app: &mut App,
    pack: i64,
    cell: String,
    slot: String,
    done: bool,
) -> Vec<Effect> {
    if app.pack.as_ref().is_some_and(|p| p.id == pack) {
        app.assemble.placed.push(cell.clone());
        let outcome = AssembleOutcome::Placed { cell, slot };
        app.say(Level::Good, outcome.text());
        app.assemble.last = Some(outcome);
        if done {
            return vec![Effect::Request(Request::CompleteAssembly(pack))];
        }
        open_scan_prompt(app);
    }
    Vec::new()
}

pub(crate) fn refused(app: &mut App, cell: String, why: String) -> Vec<Effect> {
    let outcome = AssembleOutcome::Refused { cell, why };
    app.say(Level::Problem, outcome.text());
    app.assemble.last = Some(outcome);
    open_scan_prompt(app);
    Vec::new()
}

pub(crate) fn assembled(app: &mut App, pack: Pack) -> Vec<Effect> {
    let code = pack.label();
    app.assemble.code = Some(code.clone());
    app.say(
        Level::Good,
        format!("pack assembled: label it {code}. Next: 5 BMS to configure it"),
    );
    app.pack = Some(pack);
    Vec::new()
}

// ------------------------------------------------------------------------------- Draw

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(pack) = &app.pack else {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw("No pack to assemble."),
                Line::raw("Scan a pack's code, or press n for the next pack waiting for assembly."),
            ])
            .block(block(theme, "Assemble")),
            area,
        );
        return;
    };
    let a = &app.assemble;
    let [head, grid, last] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(3),
        Constraint::Length(4),
    ])
    .areas(area);
    draw_head(frame, head, pack, a, theme);
    draw_slots(frame, grid, pack, a, theme);
    draw_last(frame, last, a, theme);
}

/// The pack, how far along it is, and the next cell and slot (or the label once done).
fn draw_head(frame: &mut Frame, area: Rect, pack: &Pack, a: &AssembleView, theme: &Theme) {
    let total = slots(pack).count();
    let mut lines = vec![Line::raw(format!(
        "pack {}{}profile {}{}{} of {} cells placed",
        pack.label(),
        theme.dot(),
        pack.profile,
        theme.dot(),
        a.placed.len().min(total),
        total
    ))];
    if pack.status != PackStatus::Matched {
        let code = a.code.clone().unwrap_or_else(|| pack.label());
        lines.push(Line::styled(format!(" LABEL: {code} "), theme.banner(true)));
        lines.push(Line::raw(format!(
            "assembled ({}); next: 5 BMS to configure its board",
            pack.status
        )));
    } else if let Some(slot) = a.next_slot(pack) {
        lines.push(Line::from(vec![
            Span::styled(" NEXT ", theme.banner(true)),
            Span::styled(format!(" {} ", slot.cell), theme.key()),
            Span::raw(format!("into {}", slot.name())),
        ]));
        lines.push(Line::styled(
            "scan the cell, or type its id and Enter; a wrong cell is refused",
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block(theme, "Assemble")), area);
}

/// The slot grid, column by column, as many columns as it needs.
fn draw_slots(frame: &mut Frame, area: Rect, pack: &Pack, a: &AssembleView, theme: &Theme) {
    let total = slots(pack).count();
    let rows = area.height.saturating_sub(2).max(1) as usize;
    let cols = total.div_ceil(rows).max(1);
    let col_w = (area.width.saturating_sub(2) as usize / cols).max(8);
    let all: Vec<Slot> = slots(pack).collect();
    let next = a.next_slot(pack);
    let mut lines = Vec::new();
    for r in 0..rows.min(total) {
        let mut spans = Vec::new();
        for c in 0..cols {
            let Some(slot) = all.get(c * rows + r) else {
                continue;
            };
            let done = pack.status != PackStatus::Matched || a.placed.contains(&slot.cell);
            let is_next = next.as_ref() == Some(slot);
            let mark = if done {
                "ok"
            } else if is_next {
                ">>"
            } else {
                "  "
            };
            let text = fit(
                &format!("{mark} S{}P{} {}", slot.s + 1, slot.p + 1, slot.cell),
                col_w,
            );
            spans.push(if is_next {
                Span::styled(text, theme.selected())
            } else if done {
                Span::styled(text, theme.ok())
            } else {
                Span::raw(text)
            });
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "Slots (ok placed, >> next)")),
        area,
    );
}

/// What the last scan did: placed, or refused and why.
fn draw_last(frame: &mut Frame, area: Rect, a: &AssembleView, theme: &Theme) {
    let line = match &a.last {
        Some(o @ AssembleOutcome::Refused { .. }) => {
            Line::styled(format!(" {} ", o.text()), theme.banner(false))
        }
        Some(o) => Line::styled(o.text(), theme.ok()),
        None => Line::raw(""),
    };
    frame.render_widget(
        Paragraph::new(line)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block(theme, "Last scan")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(groups: &[&[&str]]) -> Pack {
        Pack {
            id: 1,
            code: None,
            profile: "p".into(),
            status: PackStatus::Matched,
            groups: groups
                .iter()
                .map(|g| g.iter().map(|c| c.to_string()).collect())
                .collect(),
            created_at: String::new(),
            status_note: None,
        }
    }

    #[test]
    fn placement_order_is_group_by_group() {
        let p = pack(&[&["a", "b"], &["c", "d"]]);
        let mut v = AssembleView::default();
        assert_eq!(v.next_slot(&p).unwrap().name(), "S1 P1");
        v.placed = vec!["a".into(), "b".into()];
        let next = v.next_slot(&p).unwrap();
        assert_eq!((next.cell.as_str(), next.name()), ("c", "S2 P1".into()));
        v.placed.extend(["c".into(), "d".into()]);
        assert_eq!(v.next_slot(&p), None);
    }
}
