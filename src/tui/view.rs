//! Drawing: reads the state, never changes it, never does I/O. This is the frame around the
//! screens (tabs, status, message row, footer, help and confirmations); each screen's body is
//! drawn by its module under [`screens`].
//!
//! The frame at 80×24: one row of screen tabs (the current one bracketed, so it reads without
//! colour), one row saying who and where, the screen's body, one message row (or the text
//! field being typed into), and the footer of keys that work here.

use super::app::{App, Confirm, InputPurpose, Level, Modal, Screen};
use super::keys::{self, Binding};
use super::screens;
use super::theme::Theme;
use super::widgets::{block, centered, fit};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

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
    screens::draw(frame, body, app, theme);
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
            InputPurpose::Measurement => "answer",
            _ => input.prompt.as_str(),
        };
        // A PIN is never shown.
        let text = if crate::tui::login::is_secret(input.purpose) {
            "*".repeat(input.text.chars().count())
        } else {
            input.text.clone()
        };
        let line = Line::from(vec![
            Span::styled(format!("{label}: "), theme.key()),
            // A scanner's GS (FNC1) or other control character is shown escaped.
            Span::raw(crate::text::printable(&text).to_string()),
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

/// The footer as it fits in `width` columns: the last table's keys (help, quit) always stay;
/// the screen's keys are taken in order while they fit beside them, and `?` lists the rest.
pub fn footer_fitted(tables: &[&'static [Binding]], width: usize) -> Vec<(String, &'static str)> {
    let Some((last, first)) = tables.split_last() else {
        return Vec::new();
    };
    let cost = |(key, hint): &(String, &str)| key.chars().count() + hint.chars().count() + 3;
    let kept = footer_text(&[last]);
    let mut room = width.saturating_sub(kept.iter().map(cost).sum());
    let mut out = Vec::new();
    for entry in footer_text(first) {
        if cost(&entry) > room {
            break;
        }
        room -= cost(&entry);
        out.push(entry);
    }
    out.extend(kept);
    out
}

fn draw_footer(frame: &mut Frame, area: Rect, tables: &[&'static [Binding]], theme: &Theme) {
    let mut spans = Vec::new();
    // The last two columns of a footer entry are spacing, so the last one may end there.
    for (key, hint) in footer_fitted(tables, area.width as usize + 2) {
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help_overlay(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // The help lists what the screen offers, not the help's own close key.
    let mut tables = keys::screen_table(app.screen, app.session.demo);
    tables.push(keys::GLOBAL);
    let rows: Vec<&Binding> = tables.iter().flat_map(|t| t.iter()).collect();
    let row = |keys: String, help: String| {
        Line::from(vec![
            Span::styled(fit(&keys, 14), theme.key()),
            Span::raw(help),
        ])
    };
    // When every key does not fit in the terminal, the screen keys (1-7) share one row.
    let fold = rows.len() + 2 > area.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    for b in &rows {
        match b.action {
            keys::Action::GoTo(s) if fold => {
                if s == Screen::ALL[0] {
                    lines.push(row(
                        "1-7/F2-F8".into(),
                        Screen::ALL
                            .iter()
                            .map(|s| s.title())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ));
                }
            }
            _ => lines.push(row(b.key_label(), b.help.to_string())),
        }
    }
    // The closing note only when it fits: the keys come first.
    let note = lines.len() + 3 <= area.height as usize;
    let h = (lines.len() as u16 + 2 + if note { 2 } else { 0 }).min(area.height);
    let rect = centered(area, 76, h);
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

fn confirm_box(frame: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Style;

    #[test]
    fn ascii_mode_leaves_no_other_byte() {
        let mut buf = ratatui::buffer::Buffer::empty(Rect::new(0, 0, 20, 1));
        buf.set_string(0, 0, "24.2 °C 0.4 mΩ ok…", Style::default());
        asciify(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{text}");
        assert!(text.starts_with("24.2 oC 0.4 mR ok."), "{text}");
    }
}
