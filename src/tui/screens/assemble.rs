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
    /// The label of the pack on the bench: printing, printed or not, scanned back or not.
    pub label: LabelState,
}

/// Where the label of the pack on the bench is, as this console saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LabelState {
    #[default]
    Unknown,
    Printing,
    /// The last print ended: printed or not, and the words for it.
    Printed {
        ok: bool,
        text: String,
    },
    /// The last scan-back: the pack's code or not (the refusal), recorded either way.
    Scanned {
        matched: bool,
        text: String,
    },
}

impl AssembleView {
    /// The slot to fill next; `None` once every slot is filled.
    pub fn next_slot(&self, pack: &Pack) -> Option<Slot> {
        slots(pack).find(|s| !self.placed.contains(&s.cell))
    }
}

pub const KEYS: &[Binding] = &[
    b(
        &[k('n')],
        Action::ChoosePack,
        "next pack",
        "Take the next pack waiting for assembly",
    ),
    b(
        &[k('p')],
        Action::PrintLabel,
        "print label",
        "Print (or reprint) the assembled pack's label on the console's printer",
    ),
    b(
        &[k('v')],
        Action::ScanLabel,
        "scan label",
        "Scan-back: scan the label stuck on the pack; it must be the pack's code",
    ),
];

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
        Action::PrintLabel => match built(app) {
            Some(id) => {
                app.assemble.label = LabelState::Printing;
                app.say(Level::Info, "printing the label...");
                vec![Effect::Request(Request::PrintLabel(id))]
            }
            None => Vec::new(),
        },
        Action::ScanLabel => {
            if built(app).is_some() {
                open_label_scan(app);
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// The assembled pack on the bench, or why there is no label to print or scan (said).
fn built(app: &mut App) -> Option<i64> {
    match &app.pack {
        Some(p) if p.status.is_built() && p.code.is_some() => Some(p.id),
        Some(p) => {
            let why = format!(
                "pack {} has no label yet: it is {}; finish its assembly first",
                p.label(),
                p.status
            );
            app.say(Level::Problem, why);
            None
        }
        None => {
            app.say(Level::Problem, "no pack on the bench: scan its code first");
            None
        }
    }
}

/// The field for the scan-back: the scanner's burst (AIM prefix and all) goes into it.
fn open_label_scan(app: &mut App) {
    open_input(
        app,
        InputPurpose::LabelScan,
        "Scan the label on the pack, then Enter",
        String::new(),
    );
}

/// The scan-back read `scan`: the store thread compares it with the pack's code and records it.
pub(crate) fn verify_label(app: &mut App, scan: String) -> Vec<Effect> {
    let Some(pack) = app.pack.as_ref().map(|p| p.id) else {
        return Vec::new();
    };
    if scan.trim().is_empty() {
        app.say(Level::Info, "nothing scanned; v to scan the label again");
        return Vec::new();
    }
    vec![Effect::Request(Request::VerifyLabel { pack, scan })]
}

/// A print of the label ended; a printed label is scanned back next.
pub(crate) fn label_printed(app: &mut App, pack: i64, ok: bool, text: String) -> Vec<Effect> {
    if app.pack.as_ref().map(|p| p.id) != Some(pack) {
        return Vec::new();
    }
    app.say(if ok { Level::Good } else { Level::Warning }, text.clone());
    app.assemble.label = LabelState::Printed { ok, text };
    if ok && app.screen == Screen::Assemble && app.modal.is_none() {
        open_label_scan(app);
    }
    Vec::new()
}

/// A scan-back ended: the pack's own label, or a loud refusal (both recorded).
pub(crate) fn label_scanned(app: &mut App, pack: i64, matched: bool, text: String) -> Vec<Effect> {
    if app.pack.as_ref().map(|p| p.id) != Some(pack) {
        return Vec::new();
    }
    app.say(
        if matched { Level::Good } else { Level::Problem },
        text.clone(),
    );
    app.assemble.label = LabelState::Scanned { matched, text };
    Vec::new()
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

/// The last cell went in: the pack has its code, and its label is printed at once.
pub(crate) fn assembled(app: &mut App, pack: Pack) -> Vec<Effect> {
    let code = pack.label();
    let id = pack.id;
    app.assemble.code = Some(code.clone());
    app.say(
        Level::Good,
        format!("pack assembled: printing its label {code}..."),
    );
    app.pack = Some(pack);
    app.assemble.label = LabelState::Printing;
    vec![Effect::Request(Request::PrintLabel(id))]
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
        lines.push(label_line(&a.label, theme));
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

/// Where the label is, and what to do next.
fn label_line(label: &LabelState, theme: &Theme) -> Line<'static> {
    match label {
        LabelState::Unknown => Line::raw("p print label  v scan it back  then 5 BMS"),
        LabelState::Printing => Line::raw("printing the label..."),
        LabelState::Printed { ok: true, .. } => {
            Line::raw("label printed: stick it on, v to scan it back")
        }
        LabelState::Printed { ok: false, .. } => {
            Line::styled(" LABEL NOT PRINTED: p to print again ", theme.banner(false))
        }
        LabelState::Scanned { matched: true, .. } => {
            Line::styled("label scanned back OK; next: 5 BMS", theme.ok())
        }
        LabelState::Scanned { matched: false, .. } => Line::styled(
            " WRONG LABEL on the pack: see below; v to scan again ",
            theme.banner(false),
        ),
    }
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
    let line = match (&a.label, &a.last) {
        (
            LabelState::Scanned {
                matched: false,
                text,
            },
            _,
        )
        | (LabelState::Printed { ok: false, text }, _) => Line::styled(
            format!(" {} ", crate::text::printable(text)),
            theme.banner(false),
        ),
        (
            LabelState::Scanned {
                matched: true,
                text,
            },
            _,
        )
        | (LabelState::Printed { ok: true, text }, _) => {
            Line::styled(crate::text::printable(text).to_string(), theme.ok())
        }
        (_, last) => match last {
            Some(o @ AssembleOutcome::Refused { .. }) => {
                Line::styled(format!(" {} ", o.text()), theme.banner(false))
            }
            Some(o) => Line::styled(o.text(), theme.ok()),
            None => Line::raw(""),
        },
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
