//! History: a pack, a cell or a source module looked up by code (or scan), with its lineage
//! both ways and its configuration writes and test runs.

use crate::tui::app::{App, Effect};
use crate::tui::keys::{b, k, Action, Binding};
use crate::tui::msg::Lineage;
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, opt, rfit};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, Default)]
pub struct HistoryView {
    /// What was looked up last: a pack, a source module or a cell, with its lineage.
    pub found: Option<Lineage>,
    pub scroll: usize,
}

pub const KEYS: &[Binding] = &[b(
    &[k('f')],
    Action::EnterCode,
    "find",
    "Find a pack or cell by code (or just scan it)",
)];

// ------------------------------------------------------------------------------- Update

/// The lineage of what was looked up arrived.
pub(crate) fn found(app: &mut App, found: Lineage) -> Vec<Effect> {
    app.history.found = Some(found);
    app.history.scroll = 0;
    Vec::new()
}

/// The view clamps the scroll to the text when it draws.
pub(crate) fn scroll(app: &mut App, by: isize) {
    super::step(&mut app.history.scroll, usize::MAX, by);
}

// ------------------------------------------------------------------------------- Draw

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    ];
    // Its health from its cells: capacity of the weakest group, SOH, resistance, drift.
    let pp = &l.passport;
    if let (Some(cap), Some(soh)) = (pp.measured_capacity_ah, pp.state_of_health_pct) {
        let mut text = format!("health: {cap:.1} Ah{dot}SOH {soh:.1}%");
        if let Some(r) = pp.pack_resistance_mohm {
            text.push_str(&format!("{dot}R {r:.2} mOhm"));
        }
        if let Some(d) = &pp.drift {
            text.push_str(&format!("{dot}groups drift {}", d.describe()));
        }
        lines.push(Line::raw(fit(&text, width)));
    }
    // A hold (or release, scrap) says why, by whom and when, before the records.
    if let Some(note) = &p.status_note {
        lines.push(Line::styled(
            fit(
                &format!("{}: {note}", p.status.to_uppercase().replace('_', " ")),
                width,
            ),
            theme.heading(),
        ));
    }
    lines.push(Line::styled("Records", theme.heading()));
    lines.extend(record_lines(l, width, theme));
    lines.extend(change_lines(l, width, theme));
    lines.extend(cell_lines(l, width, theme));
    lines.extend(audit_lines(l, width, theme));
    (format!("Pack {label}"), lines)
}

/// The pack's configuration writes and test runs, oldest first.
fn record_lines(l: &crate::trace::PackLineage, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
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
    lines
}

/// The pack's audit entries, oldest first: when, who, what, the change and why.
fn audit_lines(l: &crate::trace::PackLineage, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("Audit trail", theme.heading())];
    if l.audit.is_empty() {
        lines.push(Line::styled("no audit entries", theme.dim()));
    }
    for e in &l.audit {
        let change = match (&e.old_value, &e.new_value) {
            (Some(o), Some(n)) => format!("{o} -> {n}"),
            (None, Some(n)) => n.clone(),
            (Some(o), None) => format!("was {o}"),
            (None, None) => String::new(),
        };
        let why = e
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let signed = if e.signature.is_some() {
            " [signed]"
        } else {
            ""
        };
        let subject = if e.subject_kind == "cell" {
            format!(" {}", e.subject)
        } else {
            String::new()
        };
        // Reasons and names are typed text: escaped before they reach the terminal.
        let text = format!(
            "{} {} {}{subject}: {change}{why}{signed}",
            e.at.get(..19).unwrap_or(&e.at),
            e.operator,
            e.action
        );
        lines.push(Line::raw(fit(&crate::text::printable(&text), width)));
    }
    lines
}

/// Holds, rework, releases, scraps and rejections of its cells, oldest first (none: nothing).
fn change_lines(l: &crate::trace::PackLineage, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    if l.state_changes.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![Line::styled("State changes", theme.heading())];
    for c in &l.state_changes {
        let what = [
            c.cell_id.as_deref().map(|id| format!("cell {id}")),
            c.to_status.as_deref().map(|s| format!("-> {s}")),
            c.reason.clone(),
            c.detail.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        lines.push(Line::raw(fit(
            &format!(
                "{} {} {} by {}: {what}",
                c.at.get(..19).unwrap_or(&c.at),
                fit(&c.verb, 12),
                c.station,
                c.operator
            ),
            width,
        )));
    }
    lines
}

/// Each cell of the pack: its slot, its grading and the module it came from.
fn cell_lines(l: &crate::trace::PackLineage, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        fit(
            "Lineage: slot   cell           cap Ah   IR mΩ  OCV   source module",
            width,
        ),
        theme.heading(),
    )];
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
    lines
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
