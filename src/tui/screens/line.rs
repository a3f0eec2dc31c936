//! Line, the home screen: today's counts, the packs in progress (Enter opens one at its next
//! stage) and the last problems.

use crate::domain::{CellStatus, Pack, PackStatus};
use crate::tui::app::{App, Effect, Screen};
use crate::tui::keys::{b, code, Action, Binding};
use crate::tui::msg::{BacklogView, LineData, Request};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, window};
use crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, Default)]
pub struct LineView {
    pub data: LineData,
    pub selected: usize,
}

pub const KEYS: &[Binding] = &[b(
    &[code(KeyCode::Enter)],
    Action::Submit,
    "open pack",
    "Open the selected pack at its next stage",
)];

// ------------------------------------------------------------------------------- Update

/// Shown: load fresh figures.
pub(crate) fn enter(_app: &mut App) -> Vec<Effect> {
    vec![Effect::Request(Request::LoadLine)]
}

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Submit => open_selected(app),
        _ => Vec::new(),
    }
}

/// Open the selected pack on the screen of its next stage.
fn open_selected(app: &mut App) -> Vec<Effect> {
    match app.line.data.in_progress.get(app.line.selected).cloned() {
        Some(p) => {
            let screen = Screen::for_pack(p.status);
            let mut fx = app.set_pack(Some(p));
            fx.extend(app.go(screen));
            fx
        }
        None => Vec::new(),
    }
}

pub(crate) fn scroll(app: &mut App, by: isize) {
    let len = app.line.data.in_progress.len();
    super::step(&mut app.line.selected, len, by);
}

/// The store thread's figures arrived.
pub(crate) fn loaded(app: &mut App, data: LineData) -> Vec<Effect> {
    app.line.data = data;
    app.line.selected = app
        .line
        .selected
        .min(app.line.data.in_progress.len().saturating_sub(1));
    Vec::new()
}

// ------------------------------------------------------------------------------- Draw

/// What a person on the line should do next, from what the line holds.
pub fn next_step(app: &App) -> String {
    let d = &app.line.data;
    let count = |s: CellStatus| d.cells.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let first = |s: PackStatus| d.in_progress.iter().find(|p| p.status == s);
    if let Some(p) = first(PackStatus::Configured) {
        format!(
            "pack {} is configured: Enter on it, then t to test",
            p.label()
        )
    } else if let Some(p) = first(PackStatus::Assembled) {
        format!(
            "pack {} is assembled: Enter on it to configure its BMS",
            p.label()
        )
    } else if let Some(p) = first(PackStatus::Matched) {
        format!("pack {} waits for assembly: Enter on it", p.label())
    } else if count(CellStatus::Available) > 0 {
        "cells are in stock: 3 Match, then r to run the matcher".into()
    } else {
        "no cells in stock: 2 Inventory, then i to import a grading file".into()
    }
}

fn counts_line<T: std::fmt::Display>(
    title: &str,
    counts: &[(T, i64)],
    theme: &Theme,
) -> Line<'static> {
    let mut spans = vec![Span::styled(fit(title, 8), theme.heading())];
    for (i, (s, n)) in counts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(theme.dot()));
        }
        spans.push(Span::raw(format!("{s} {n}")));
    }
    Line::from(spans)
}

fn pack_row(p: &Pack, width: usize) -> String {
    let cells: usize = p.groups.iter().map(Vec::len).sum();
    let text = format!(
        "{} {} {} {:>4} cells  {}",
        fit(&p.label(), 26),
        fit(&p.profile, 18),
        fit(p.status.as_str(), 11),
        cells,
        p.created_at.get(..10).unwrap_or(&p.created_at)
    );
    fit(&text, width)
}

/// A backlog whose oldest record waits longer than this is an alarm on the Line screen.
pub const BACKLOG_ALARM_S: i64 = 300;

/// `Outbox  37 queued, oldest 12 min; line db unreachable since 10:42 UTC`, and whether it is
/// an alarm (records older than [`BACKLOG_ALARM_S`] or refused ones).
pub fn backlog_text(b: &BacklogView) -> (String, bool) {
    let mut text = format!("{} queued", b.queued);
    if let Some(age) = b.oldest_age_s.filter(|_| b.queued > 0) {
        if age >= 120 {
            text.push_str(&format!(", oldest {} min", age / 60));
        } else {
            text.push_str(&format!(", oldest {age} s"));
        }
    }
    if b.refused > 0 {
        text.push_str(&format!(", {} refused", b.refused));
    }
    if let Some(since) = &b.unreachable_since {
        text.push_str(&format!(
            "; line db unreachable since {} UTC",
            since.get(11..16).unwrap_or(since)
        ));
    }
    let alarm =
        b.refused > 0 || (b.queued > 0 && b.oldest_age_s.is_some_and(|a| a >= BACKLOG_ALARM_S));
    (text, alarm)
}

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let d = &app.line.data;
    let top_height = 3 + u16::from(d.backlog.is_some());
    let [top, packs, problems] = Layout::vertical([
        Constraint::Length(top_height),
        Constraint::Min(5),
        Constraint::Length(7),
    ])
    .areas(area);
    let top_lines = vec![
        counts_line("Today", &d.today, theme),
        counts_line("Cells", &d.cells, theme),
        Line::from(vec![
            Span::styled(fit("Next", 8), theme.heading()),
            Span::styled(next_step(app), theme.key()),
        ]),
    ];
    let mut top_lines = top_lines;
    if let Some(b) = &d.backlog {
        let (text, alarm) = backlog_text(b);
        let width = (top.width as usize).saturating_sub(8);
        top_lines.push(Line::from(vec![
            Span::styled(fit("Outbox", 8), theme.heading()),
            if alarm {
                Span::styled(fit(&format!("ALARM {text}"), width), theme.bad())
            } else {
                Span::raw(fit(&text, width))
            },
        ]));
    }
    frame.render_widget(Paragraph::new(top_lines), top);

    let inner = packs.height.saturating_sub(2) as usize;
    let width = packs.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if d.in_progress.is_empty() {
        lines.push(Line::styled("no packs in progress", theme.dim()));
    }
    for i in window(d.in_progress.len(), app.line.selected, inner) {
        let row = pack_row(&d.in_progress[i], width);
        lines.push(if i == app.line.selected {
            Line::styled(row, theme.selected())
        } else {
            Line::raw(row)
        });
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "Packs in progress (Enter opens)")),
        packs,
    );

    let mut lines = Vec::new();
    if d.problems.is_empty() {
        lines.push(Line::styled("nothing to report", theme.dim()));
    }
    for (at, level, msg) in &d.problems {
        let style = if level == "problem" {
            theme.bad()
        } else {
            theme.warn()
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", at.get(11..19).unwrap_or(at))),
            Span::styled(format!("{level}: "), style),
            Span::raw(msg.clone()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "Last problems")),
        problems,
    );
}
