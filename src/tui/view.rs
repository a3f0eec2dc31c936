//! Drawing: reads the state, never changes it, never does I/O.
//!
//! The frame at 80×24: one row of screen tabs (the current one bracketed, so it reads without
//! colour), one row saying who and where, the screen's body, one message row (or the text
//! field being typed into), and the footer of keys that work here.

use super::app::{App, Level, Modal, Screen};
use super::data::*;
use super::keys::Binding;
use super::theme::Theme;
use crate::domain::{CellStatus, Pack, PackStatus};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Pad or cut `s` to exactly `w` characters.
pub fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s}{}", " ".repeat(w - n))
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.push('~');
        out
    }
}

/// Right-align `s` in `w` characters.
fn rfit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        fit(s, w)
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

fn block<'a>(theme: &Theme, title: &'a str) -> Block<'a> {
    Block::bordered()
        .border_set(theme.border())
        .title(Span::styled(format!(" {title} "), theme.heading()))
}

/// Draw the whole console.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [tabs, status, body, message, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, tabs, app, theme);
    draw_status(frame, status, app, theme);
    match app.screen {
        Screen::Line => line_screen(frame, body, app, theme),
        Screen::Inventory => inventory_screen(frame, body, app, theme),
        Screen::Match => match_screen(frame, body, app, theme),
        Screen::Assemble => assemble_screen(frame, body, app, theme),
        Screen::Bms => bms_screen(frame, body, app, theme),
        Screen::Test => test_screen(frame, body, app, theme),
        Screen::History => history_screen(frame, body, app, theme),
    }
    draw_message(frame, message, app, theme);
    draw_footer(frame, footer, &app.active_tables(), theme);
    if let Some(Modal::Confirm(c)) = &app.modal {
        confirm_box(frame, body, c, theme);
    }
    if app.help {
        help_overlay(frame, area, app, theme);
    }
    if theme.ascii {
        asciify(frame.buffer_mut());
    }
}

/// `--ascii`: the glyphs the console draws are ASCII already; units and text from files may
/// not be. Map the common ones, and anything else to `?`, so nothing prints as garbage.
pub fn asciify(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let plain = match sym {
            "°" => "o",
            "Ω" => "R",
            "µ" | "μ" => "u",
            "…" => ".",
            "–" | "—" => "-",
            "×" => "x",
            "Δ" => "d",
            "≥" => ">",
            "≤" => "<",
            "" => "",
            _ => "?",
        };
        cell.set_symbol(plain);
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let text = vec![
        Line::styled("Terminal too small", theme.bad()),
        Line::raw(format!(
            "need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
            area.width, area.height
        )),
        Line::raw("enlarge the window; q quits"),
    ];
    frame.render_widget(Paragraph::new(text), area);
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, s) in Screen::ALL.iter().enumerate() {
        let label = format!("{} {}", i + 1, s.title());
        if *s == app.screen {
            spans.push(Span::styled(format!("[{label}]"), theme.selected()));
        } else {
            spans.push(Span::raw(format!(" {label} ")));
        }
    }
    if app.session.demo {
        spans.push(Span::styled("  DEMO LINE", theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let dot = theme.dot();
    let mut text = format!(
        "station {}{dot}operator {}{dot}profile {}",
        app.session.station, app.session.operator, app.session.profile
    );
    if let Some(p) = &app.pack {
        text.push_str(&format!("{dot}pack {} ({})", p.label(), p.status));
    }
    frame.render_widget(Paragraph::new(Line::styled(text, theme.dim())), area);
}

fn draw_message(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Some(Modal::Input(input)) = &app.modal {
        // A test question can be long: the Test screen shows it whole, here only the field.
        let label = match input.purpose {
            super::app::InputPurpose::Measurement => "answer",
            _ => input.prompt.as_str(),
        };
        let line = Line::from(vec![
            Span::styled(format!("{label}: "), theme.key()),
            Span::raw(input.text.clone()),
            Span::styled("_", theme.selected()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(m) = &app.message {
        let (tag, style) = match m.level {
            Level::Info => ("", theme.normal()),
            Level::Good => ("ok: ", theme.ok()),
            Level::Warning => ("note: ", theme.warn()),
            Level::Problem => ("PROBLEM: ", theme.bad()),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!("{tag}{}", m.text), style)),
            area,
        );
    }
}

/// The footer: every binding of the active tables that has a hint, first key only.
pub fn footer_text(tables: &[&'static [Binding]]) -> Vec<(String, &'static str)> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .filter(|b| !b.hint.is_empty())
        .map(|b| (b.short_label(), b.hint))
        .collect()
}

fn draw_footer(frame: &mut Frame, area: Rect, tables: &[&'static [Binding]], theme: &Theme) {
    let mut spans = Vec::new();
    for (key, hint) in footer_text(tables) {
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn help_overlay(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // The help lists what the screen offers, not the help's own close key.
    let mut tables = super::keys::screen_table(app.screen, app.session.demo);
    tables.push(super::keys::GLOBAL);
    let rows: Vec<&Binding> = tables.iter().flat_map(|t| t.iter()).collect();
    // The closing note only when it fits: the keys come first.
    let note = rows.len() + 3 <= area.height as usize;
    let h = (rows.len() as u16 + 2 + if note { 2 } else { 0 }).min(area.height);
    let rect = centered(area, 76, h);
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(fit(&b.key_label(), 14), theme.key()),
                Span::raw(b.help),
            ])
        })
        .collect();
    if note {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "A scan (fast keys + Enter) works on every screen. Esc, ? or q closes.",
            theme.dim(),
        ));
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, &format!("Keys: {}", app.screen.title()))),
        rect,
    );
}

fn confirm_box(frame: &mut Frame, area: Rect, c: &super::app::Confirm, theme: &Theme) {
    let rect = centered(area, 60, c.body.len() as u16 + 4);
    let mut lines: Vec<Line> = c.body.iter().map(|l| Line::raw(l.clone())).collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" yes   "),
        Span::styled("n", theme.key()),
        Span::raw("/"),
        Span::styled("Esc", theme.key()),
        Span::raw(" no"),
    ]));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block(theme, &c.title)), rect);
}

/// Rows `selected` is kept visible in, for a list of `len` rows in `height` rows.
fn window(len: usize, selected: usize, height: usize) -> std::ops::Range<usize> {
    if len <= height {
        return 0..len;
    }
    let start = selected.saturating_sub(height / 2).min(len - height);
    start..start + height
}

// ------------------------------------------------------------------------------- Line

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

fn line_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let d = &app.line.data;
    let [top, packs, problems] = Layout::vertical([
        Constraint::Length(3),
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

// ------------------------------------------------------------------------------- Inventory

fn hist_lines(
    title: &str,
    values: &[f64],
    scale: f64,
    decimals: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let bins = histogram(values, 6);
    let mut out = vec![Line::styled(
        format!("{title} (n={})", values.len()),
        theme.heading(),
    )];
    if bins.is_empty() {
        out.push(Line::styled("no data", theme.dim()));
        return out;
    }
    let max = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    let label_w = 7;
    let bar_w = width.saturating_sub(label_w + 5).max(1);
    for (lo, _hi, n) in bins {
        let len = n * bar_w / max;
        out.push(Line::from(vec![
            Span::raw(rfit(&format!("{:.*}", decimals, lo / scale), label_w - 1) + " "),
            Span::styled(theme.bar_glyph(8).repeat(len), theme.ok()),
            Span::raw(format!(" {n}")),
        ]));
    }
    out
}

fn inventory_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let inv = &app.inventory;
    let [table, side] =
        Layout::horizontal([Constraint::Min(50), Constraint::Length(24)]).areas(area);
    let visible = inv.visible();
    let width = table.width.saturating_sub(2) as usize;
    let rows = table.height.saturating_sub(3) as usize;
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{} {} {} {} {}",
                fit("id", 14),
                rfit("cap Ah", 7),
                rfit("IR mΩ", 6),
                rfit("OCV", 5),
                "status / source / reason"
            ),
            width,
        ),
        theme.heading(),
    )];
    for i in window(visible.len(), inv.selected, rows) {
        let c = visible[i];
        let tail = match c.status {
            // The reason matters more than the word: keep it in view at 80 columns.
            CellStatus::Rejected | CellStatus::Scrapped => format!(
                "{}: {}",
                &c.status.as_str()[..3],
                c.status_reason.as_deref().unwrap_or("no reason given")
            ),
            _ => format!("{} {}", c.status, c.source_code.as_deref().unwrap_or("-")),
        };
        let row = fit(
            &format!(
                "{} {} {} {} {}",
                fit(&c.id, 14),
                rfit(&opt(c.capacity_mah.map(|m| m / 1000.0), 1), 7),
                rfit(&opt(c.ir_mohm, 3), 6),
                rfit(&opt(c.ocv_mv, 0), 5),
                tail
            ),
            width,
        );
        let style = if i == inv.selected {
            theme.selected()
        } else if matches!(c.status, CellStatus::Rejected | CellStatus::Scrapped) {
            theme.warn()
        } else {
            Style::default()
        };
        lines.push(Line::styled(row, style));
    }
    if inv.loaded && visible.is_empty() {
        lines.push(Line::styled(
            "no cells match: s changes the status shown, f the filter, i imports",
            theme.dim(),
        ));
    }
    let title = format!(
        "Cells: {} of {} shown{}status {}{}sort {}{}",
        visible.len(),
        inv.cells.len(),
        theme.dot(),
        inv.status.map_or("all", |s| s.as_str()),
        theme.dot(),
        inv.sort.name(),
        if inv.filter.is_empty() {
            String::new()
        } else {
            format!("{}filter '{}'", theme.dot(), inv.filter)
        }
    );
    frame.render_widget(Paragraph::new(lines).block(block(theme, &title)), table);

    let available: Vec<&crate::domain::Cell> = inv
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Available)
        .collect();
    let caps: Vec<f64> = available.iter().filter_map(|c| c.capacity_mah).collect();
    let irs: Vec<f64> = available.iter().filter_map(|c| c.ir_mohm).collect();
    let w = side.width.saturating_sub(2) as usize;
    let mut lines = hist_lines("Capacity Ah", &caps, 1000.0, 1, w, theme);
    lines.push(Line::raw(""));
    lines.extend(hist_lines("IR mΩ", &irs, 1.0, 3, w, theme));
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "Available stock")),
        side,
    );
}

// ------------------------------------------------------------------------------- Match

fn match_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let m = &app.matching;
    let Some(p) = &m.proposal else {
        let text = if m.running {
            "matching…".to_string()
        } else {
            format!(
                "Profile {}. p chooses another profile, r runs the matcher on the available cells.",
                app.session.profile
            )
        };
        frame.render_widget(
            Paragraph::new(vec![Line::raw(text)]).block(block(theme, "Match")),
            area,
        );
        return;
    };
    let [summary, table, detail] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Min(4),
        Constraint::Length(5),
    ])
    .areas(area);
    let dot = theme.dot();
    let rejected = if p.rejected.is_empty() {
        "none".to_string()
    } else {
        p.rejected
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines = vec![
        Line::raw(format!(
            "{} {}{dot}{} cells in, {} eligible{dot}{} packs proposed, {} at most",
            p.profile,
            p.shape,
            p.cells_in,
            p.eligible,
            p.packs.len(),
            p.max_possible,
        )),
        Line::raw(format!(
            "{} cells left over{dot}capacity used {:.1} % (the rest is lost to imbalance)",
            p.leftover, p.utilisation_pct
        )),
        Line::raw(format!("rejected: {rejected}")),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block(theme, "Proposal")),
        summary,
    );

    let width = table.width.saturating_sub(2) as usize;
    let rows = table.height.saturating_sub(3) as usize;
    let mut lines = vec![Line::styled(
        fit(
            "    pack  usable Ah  range mAh  range %  bound mAh  gap mAh  optimal  IR CV %",
            width,
        ),
        theme.heading(),
    )];
    for i in window(p.packs.len(), m.selected, rows) {
        let pk = &p.packs[i];
        let mark = if m.marked.get(i).copied().unwrap_or(false) {
            "[x]"
        } else {
            "[ ]"
        };
        let row = fit(
            &format!(
                "{mark} {:>4}  {:>9.1}  {:>9.0}  {:>7.2}  {:>9.0}  {:>7.0}  {:<7}  {:>7}",
                format!("{}", pk.index),
                pk.metrics.usable_capacity_mah / 1000.0,
                pk.metrics.range_mah,
                pk.metrics.range_pct,
                pk.metrics.lower_bound_range_mah,
                pk.metrics.gap_to_bound_mah,
                if pk.metrics.optimal { "yes" } else { "no" },
                opt(pk.metrics.pack_ir_cv_pct, 1)
            ),
            width,
        );
        lines.push(if i == m.selected {
            Line::styled(row, theme.selected())
        } else {
            Line::raw(row)
        });
    }
    let marked = m.marked.iter().filter(|x| **x).count();
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, &format!("Proposed packs ({marked} marked)"))),
        table,
    );

    let mut lines = Vec::new();
    if let Some(pk) = p.packs.get(m.selected) {
        let cells: Vec<String> = pk
            .groups
            .iter()
            .enumerate()
            .map(|(s, g)| format!("S{} {}", s + 1, g.join("+")))
            .collect();
        lines.push(Line::raw(cells.join("  ")));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block(theme, "Selected pack, series order")),
        detail,
    );
}

// ------------------------------------------------------------------------------- Assemble

fn assemble_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    let total = slots(pack).count();
    let [head, grid, last] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(3),
        Constraint::Length(4),
    ])
    .areas(area);
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
    frame.render_widget(Paragraph::new(lines).block(block(theme, "Assemble")), head);

    // The slot grid, column by column, as many columns as it needs.
    let rows = grid.height.saturating_sub(2).max(1) as usize;
    let cols = total.div_ceil(rows).max(1);
    let col_w = (grid.width.saturating_sub(2) as usize / cols).max(8);
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
        grid,
    );

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
        last,
    );
}

// ------------------------------------------------------------------------------- BMS

/// Vertical bars for `values` between `lo` and `hi`, `height` rows, one string per row (top
/// first), each bar `bar_w` wide with one space between bars.
pub fn bar_rows(
    values: &[u32],
    lo: u32,
    hi: u32,
    height: usize,
    bar_w: usize,
    theme: &Theme,
) -> Vec<String> {
    let span = f64::from(hi.saturating_sub(lo).max(1));
    let eighths: Vec<usize> = values
        .iter()
        .map(|&v| {
            let frac = (f64::from(v.saturating_sub(lo)) / span).clamp(0.0, 1.0);
            (frac * (height * 8) as f64).round() as usize
        })
        .collect();
    (0..height)
        .map(|row| {
            // Row 0 is the top; the bottom row holds eighths 0..8.
            let base = (height - 1 - row) * 8;
            eighths
                .iter()
                .map(|&e| theme.bar_glyph(e.saturating_sub(base).min(8)).repeat(bar_w))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn bms_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let b = &app.bms;
    let dot = theme.dot();
    let write_rows = if b.write.is_some() { 8 } else { 0 };
    let [head, chart, facts, write] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(6),
        Constraint::Length(3),
        Constraint::Length(write_rows),
    ])
    .areas(area);
    let link_style = match b.link {
        Link::Connected { .. } => theme.ok(),
        Link::Lost { .. } => theme.bad(),
        _ => theme.normal(),
    };
    let ports = if b.ports.is_empty() {
        "no port configured: start with --port <device> or --can <interface>".to_string()
    } else {
        format!("ports: {}", b.ports.join(", "))
    };
    let pack = app
        .pack
        .as_ref()
        .map(|p| format!("pack {} ({}){dot}", p.label(), p.status))
        .unwrap_or_else(|| format!("no pack on the bench: scan its code{dot}"));
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(format!("link: {}", b.link.describe()), link_style),
            Line::raw(format!("{pack}{ports}")),
            Line::raw(""),
        ]),
        head,
    );

    let Some(s) = &b.snapshot else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "no readings yet: c connects to the next port",
                theme.dim(),
            ))
            .block(block(theme, "Cell voltages")),
            chart,
        );
        return;
    };
    let v = &s.cell_voltages_mv;
    let (min, max) = (
        v.iter().copied().min().unwrap_or(0),
        v.iter().copied().max().unwrap_or(0),
    );
    let n = v.len().max(1);
    let inner_w = chart.width.saturating_sub(2) as usize;
    let bar_w = (inner_w / n).saturating_sub(1).clamp(1, 6);
    let height = chart.height.saturating_sub(4) as usize;
    let (lo, hi) = b_window(min, max);
    let mut lines: Vec<Line> = bar_rows(v, lo, hi, height.max(1), bar_w, theme)
        .into_iter()
        .map(|r| Line::styled(r, theme.ok()))
        .collect();
    // Under each bar its number, then a mark for the lowest and the highest cell.
    let label = |f: &dyn Fn(usize, u32) -> String| {
        v.iter()
            .enumerate()
            .map(|(i, &mv)| rfit(&f(i, mv), bar_w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    lines.push(Line::raw(label(&|i, _| format!("{}", i + 1))));
    lines.push(Line::styled(
        label(&|_, mv| {
            if min != max && mv == min {
                "min".to_string()
            } else if min != max && mv == max {
                "max".to_string()
            } else {
                String::new()
            }
        }),
        theme.warn(),
    ));
    let spread = s.cell_spread_mv().unwrap_or(0);
    frame.render_widget(
        Paragraph::new(lines).block(block(
            theme,
            &format!("Cell voltages: min {min} mV{dot}max {max} mV{dot}delta {spread} mV"),
        )),
        chart,
    );

    let on = |f: Option<bool>| match f {
        Some(true) => "on",
        Some(false) => "OFF",
        None => "?",
    };
    let temps = s
        .temperatures_c
        .iter()
        .map(|t| format!("{t:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let protection = if s.protection.is_empty() {
        "none".to_string()
    } else {
        s.protection.join(", ")
    };
    let prot_style = if s.protection.is_empty() {
        theme.normal()
    } else {
        theme.bad()
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(format!(
                "pack {:.2} V{dot}current {:.1} A{dot}SOC {}{dot}temperatures {temps} °C",
                s.pack_voltage_v,
                s.current_a,
                s.soc_pct.map_or("-".into(), |x| format!("{x:.0} %"))
            )),
            Line::raw(format!(
                "charge FET {}{dot}discharge FET {}{dot}balancing {}",
                on(s.charge_fet),
                on(s.discharge_fet),
                if s.balancing_cells.is_empty() {
                    "none".to_string()
                } else {
                    s.balancing_cells
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            )),
            Line::styled(format!("protection: {protection}"), prot_style),
        ]),
        facts,
    );

    if let Some(w) = &b.write {
        write_table(frame, write, w, theme);
    }
}

/// The chart's scale: the readings with a margin, so a 10 mV spread is visible but a 1 mV
/// one does not look like a fault.
fn b_window(min: u32, max: u32) -> (u32, u32) {
    let margin = 50u32.max((max - min) / 2);
    (min.saturating_sub(margin), max + margin / 2)
}

fn write_table(frame: &mut Frame, area: Rect, w: &WriteView, theme: &Theme) {
    let Some(r) = &w.result else {
        frame.render_widget(
            Paragraph::new("writing and reading back…").block(block(theme, "Configuration")),
            area,
        );
        return;
    };
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
    let mut fields: Vec<&FieldResult> = r.fields.iter().collect();
    // Failures first: they are what the operator must see.
    fields.sort_by_key(|f| f.ok);
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{} {} {} {}",
                fit("field", 24),
                fit("written", 19),
                fit("read back", 19),
                "result"
            ),
            width,
        ),
        theme.heading(),
    )];
    let shown = if fields.len() > rows {
        rows.saturating_sub(1)
    } else {
        rows
    };
    for f in fields.iter().take(shown) {
        let result = if f.ok {
            "ok".to_string()
        } else {
            format!("FAIL {}", f.reason.as_deref().unwrap_or(""))
        };
        let field = f.field.strip_prefix("bms.").unwrap_or(&f.field);
        lines.push(Line::styled(
            fit(
                &format!(
                    "{} {} {} {}",
                    fit(field, 24),
                    fit(&f.written, 19),
                    fit(&f.read_back, 19),
                    result
                ),
                width,
            ),
            if f.ok { theme.normal() } else { theme.bad() },
        ));
    }
    if fields.len() > shown {
        lines.push(Line::styled(
            format!("… {} more fields, all ok", fields.len() - shown),
            theme.dim(),
        ));
    }
    let title = format!(
        "Configuration: {} ({} of {} fields verified)",
        if r.ok { "VERIFIED" } else { "FAILED" },
        r.fields.iter().filter(|f| f.ok).count(),
        r.fields.len()
    );
    frame.render_widget(Paragraph::new(lines).block(block(theme, &title)), area);
}

// ------------------------------------------------------------------------------- Test

fn test_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let t = &app.test;
    let verdict_rows = if t.verdict.is_some() { 5 } else { 0 };
    let question_rows = if t.prompt.is_some() { 4 } else { 0 };
    let [head, question, steps, verdict] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(question_rows),
        Constraint::Min(3),
        Constraint::Length(verdict_rows),
    ])
    .areas(area);
    if let Some((index, prompt)) = &t.prompt {
        let title = t
            .steps
            .get(*index)
            .map(|s| s.title.as_str())
            .unwrap_or("Manual step");
        frame.render_widget(
            Paragraph::new(Line::styled(prompt.clone(), theme.key()))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block(theme, title)),
            question,
        );
    }
    let pack = app
        .pack
        .as_ref()
        .map(|p| format!("pack {} ({})", p.label(), p.status))
        .unwrap_or_else(|| "no pack on the bench: scan its code".into());
    let hint = if t.prompt.is_some() {
        "type the reading and Enter (t brings the question back after Esc); x aborts"
    } else if t.running {
        "test running; x aborts"
    } else {
        "t starts the end-of-line test"
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(format!("{pack}{}{}", theme.dot(), app.bms.link.describe())),
            Line::styled(hint, theme.dim()),
        ]),
        head,
    );
    let width = steps.width.saturating_sub(2) as usize;
    let rows = steps.height.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for i in window(t.steps.len(), t.scroll, rows) {
        let s = &t.steps[i];
        let (tag, detail, style) = match &s.state {
            StepState::Pending => ("      ", String::new(), theme.dim()),
            StepState::Running => ("  ..  ", String::new(), theme.key()),
            StepState::Waiting => (" INPUT", "waiting for the operator".into(), theme.key()),
            StepState::Pass(d) => (" PASS ", d.clone(), theme.ok()),
            StepState::Fail(d) => (" FAIL ", d.clone(), theme.bad()),
            StepState::Skipped(d) => (" skip ", d.clone(), theme.dim()),
        };
        let kind = if s.manual { "manual" } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!("[{tag}]"), style),
            Span::raw(fit(
                &format!(" {} {kind}  {detail}", fit(&s.title, 44)),
                width.saturating_sub(8),
            )),
        ]));
    }
    if t.steps.is_empty() {
        lines.push(Line::styled(
            "no test run yet for this pack on this console",
            theme.dim(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "End-of-line test")),
        steps,
    );
    if let Some(v) = &t.verdict {
        let word = if v.pass { "PASS" } else { "FAIL" };
        let big = format!(
            "   {}   ",
            word.chars().map(|c| format!("{c} ")).collect::<String>()
        );
        let lines = vec![
            Line::styled(" ".repeat(big.len()), theme.banner(v.pass)),
            Line::styled(big.clone(), theme.banner(v.pass)),
            Line::styled(" ".repeat(big.len()), theme.banner(v.pass)),
            Line::raw(if v.pass {
                "every step passed; the record is saved".to_string()
            } else {
                v.reason.clone()
            }),
        ];
        frame.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
            verdict,
        );
    }
}

// ------------------------------------------------------------------------------- History

fn history_screen(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(found) = &app.history.found else {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw("Scan a pack, a cell or a source module, or press f and type its code."),
                Line::raw("A pack shows its cells and where each came from, its BMS"),
                Line::raw("configuration writes and its test runs; a source module shows the"),
                Line::raw("packs its cells went into."),
            ])
            .block(block(theme, "History")),
            area,
        );
        return;
    };
    let width = area.width.saturating_sub(2) as usize;
    let (title, lines) = match found {
        Lineage::Cell(c) => cell_lineage(c, theme),
        Lineage::Pack(p) => pack_lineage(p, width, theme),
        Lineage::Source(s) => source_lineage(s, width, theme),
    };
    let rows = area.height.saturating_sub(2) as usize;
    let start = app.history.scroll.min(lines.len().saturating_sub(rows));
    let lines: Vec<Line> = lines.into_iter().skip(start).collect();
    frame.render_widget(Paragraph::new(lines).block(block(theme, &title)), area);
}

fn cell_lineage(c: &crate::trace::CellLineage, theme: &Theme) -> (String, Vec<Line<'static>>) {
    let dot = theme.dot();
    let cell = &c.cell;
    let mut lines = vec![
        Line::raw(format!(
            "capacity {} mAh{dot}IR {} mΩ{dot}OCV {} mV{dot}self-discharge {} mV/day",
            opt(cell.capacity_mah, 0),
            opt(cell.ir_mohm, 3),
            opt(cell.ocv_mv, 0),
            opt(cell.self_discharge_mv_per_day, 2)
        )),
        Line::raw(format!(
            "{} {}{dot}grade {}{dot}source module {}",
            cell.chemistry,
            cell.model.as_deref().unwrap_or(""),
            cell.grade.as_deref().unwrap_or("-"),
            cell.source_code.as_deref().unwrap_or("-"),
        )),
        Line::raw(format!(
            "status {}{}",
            cell.status,
            cell.status_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        Line::raw(format!(
            "graded in {}{}",
            c.graded_from_file.as_deref().unwrap_or("-"),
            c.imported_at
                .as_deref()
                .map(|t| format!(", imported {t}"))
                .unwrap_or_default()
        )),
    ];
    lines.push(match &c.pack {
        Some(p) => Line::raw(format!(
            "in pack {} at {} ({}, {})",
            p.code.clone().unwrap_or_else(|| format!("#{}", p.id)),
            c.position.as_deref().unwrap_or("-"),
            p.profile,
            p.status
        )),
        None => Line::raw("not in any pack"),
    });
    (format!("Cell {}", cell.id), lines)
}

fn pack_lineage(
    l: &crate::trace::PackLineage,
    width: usize,
    theme: &Theme,
) -> (String, Vec<Line<'static>>) {
    let dot = theme.dot();
    let p = &l.pack;
    let label = p.code.clone().unwrap_or_else(|| format!("#{}", p.id));
    let sources = l
        .sources
        .iter()
        .map(|s| format!("{} ({})", s.source_code, s.cells))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![
        Line::raw(fit(
            &format!(
                "{}{dot}{}{dot}matched {} by {} at {}{dot}assembled {}",
                p.profile,
                p.status,
                p.created_at.get(..10).unwrap_or(&p.created_at),
                p.operator,
                p.station,
                p.assembled_at
                    .as_deref()
                    .and_then(|t| t.get(..10))
                    .unwrap_or("-")
            ),
            width,
        )),
        Line::raw(fit(&format!("sources: {sources}"), width)),
        Line::styled("Records", theme.heading()),
    ];
    if l.bms_writes.is_empty() && l.eol_runs.is_empty() {
        lines.push(Line::styled(
            "no configuration write or test yet",
            theme.dim(),
        ));
    }
    let mut records: Vec<(String, String, String, String)> = l
        .bms_writes
        .iter()
        .map(|r| {
            let w = &r.write;
            (
                w.started_at.clone(),
                "config write".to_string(),
                w.outcome.clone(),
                format!(
                    "{} of {} fields ok, {} on {}{}",
                    r.fields - r.fields_failed,
                    r.fields,
                    w.bms_identity.as_deref().unwrap_or("unknown BMS"),
                    w.port,
                    w.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            )
        })
        .chain(l.eol_runs.iter().map(|r| {
            (
                r.started_at.clone(),
                "EOL test".to_string(),
                r.outcome.as_str().to_string(),
                format!(
                    "plan {}, {} by {}{}",
                    r.plan_version,
                    r.station,
                    r.operator,
                    r.reason
                        .as_deref()
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                ),
            )
        }))
        .collect();
    records.sort();
    for (at, what, outcome, detail) in records {
        let style = if outcome == "verified" || outcome == "pass" {
            theme.ok()
        } else {
            theme.bad()
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{} {} ",
                at.get(..19).unwrap_or(&at),
                fit(&what, 12)
            )),
            Span::styled(fit(&outcome, 9), style),
            Span::raw(fit(&detail, width.saturating_sub(43))),
        ]));
    }
    lines.push(Line::styled(
        fit(
            "Lineage: slot   cell           cap Ah   IR mΩ  OCV   source module",
            width,
        ),
        theme.heading(),
    ));
    for c in &l.cells {
        let g = c.grading.as_ref();
        lines.push(Line::raw(fit(
            &format!(
                "         {} {} {} {} {} {}",
                fit(&c.position, 6),
                fit(&c.link.cell_id, 14),
                rfit(
                    &opt(g.and_then(|g| g.capacity_mah).map(|m| m / 1000.0), 1),
                    6
                ),
                rfit(&opt(g.and_then(|g| g.ir_mohm), 3), 7),
                rfit(&opt(g.and_then(|g| g.ocv_mv), 0), 5),
                c.link.source_code.as_deref().unwrap_or("-")
            ),
            width,
        )));
    }
    (format!("Pack {label}"), lines)
}

fn source_lineage(
    l: &crate::trace::SourceLineage,
    width: usize,
    theme: &Theme,
) -> (String, Vec<Line<'static>>) {
    let mut lines = vec![Line::styled("Packs holding its cells", theme.heading())];
    if l.packs.is_empty() {
        lines.push(Line::styled("none yet", theme.dim()));
    }
    for p in &l.packs {
        lines.push(Line::raw(fit(
            &format!(
                "{} {} {} last test {}: {}",
                fit(
                    &p.code.clone().unwrap_or_else(|| format!("#{}", p.pack_id)),
                    14
                ),
                fit(&p.profile, 16),
                fit(&p.status, 10),
                p.latest_eol.map_or("-", |o| o.as_str()),
                p.cells.join(" ")
            ),
            width,
        )));
    }
    lines.push(Line::styled("Cells in no pack", theme.heading()));
    if l.unpacked.is_empty() {
        lines.push(Line::styled("none", theme.dim()));
    }
    for c in &l.unpacked {
        lines.push(Line::raw(format!(
            "{} {}",
            fit(&c.cell_id, 14),
            c.cell_status
        )));
    }
    (format!("Source module {}", l.source_code), lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_cuts() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(fit("x", 0), "");
        assert_eq!(rfit("7", 3), "  7");
    }

    #[test]
    fn bars_fill_from_the_bottom_in_eighths() {
        let t = Theme {
            color: super::super::theme::ColorMode::None,
            ascii: true,
        };
        // 0 %, 50 %, 100 % of a 2-row chart.
        let rows = bar_rows(&[3000, 3100, 3200], 3000, 3200, 2, 1, &t);
        assert_eq!(rows, vec!["    #".to_string(), "  # #".to_string()]);
        let t = Theme::plain();
        let rows = bar_rows(&[3050], 3000, 3200, 1, 2, &t);
        assert_eq!(rows, vec!["▂▂".to_string()]);
    }

    #[test]
    fn ascii_mode_leaves_no_other_byte() {
        let mut buf = ratatui::buffer::Buffer::empty(Rect::new(0, 0, 20, 1));
        buf.set_string(0, 0, "24.2 °C 0.4 mΩ ok…", Style::default());
        asciify(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{text}");
        assert!(text.starts_with("24.2 oC 0.4 mR ok."), "{text}");
    }

    #[test]
    fn window_keeps_the_selection_visible() {
        assert_eq!(window(5, 3, 10), 0..5);
        assert_eq!(window(100, 0, 10), 0..10);
        assert_eq!(window(100, 50, 10), 45..55);
        assert_eq!(window(100, 99, 10), 90..100);
    }
}
