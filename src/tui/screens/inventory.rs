//! Inventory: the cells in stock, filtered and sorted, grading-file import, and histograms of
//! the available stock.

use crate::domain::{Cell, CellStatus};
use crate::tui::app::{open_input, App, Effect, InputPurpose, Level};
use crate::tui::keys::{b, k, Action, Binding};
use crate::tui::msg::Request;
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, opt, rfit, window};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Capacity,
    Ir,
    Ocv,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Id => SortKey::Capacity,
            SortKey::Capacity => SortKey::Ir,
            SortKey::Ir => SortKey::Ocv,
            SortKey::Ocv => SortKey::Id,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Capacity => "capacity (high first)",
            SortKey::Ir => "IR (low first)",
            SortKey::Ocv => "OCV",
        }
    }
}

#[derive(Debug, Clone)]
pub struct InventoryView {
    pub cells: Vec<Cell>,
    pub loaded: bool,
    pub filter: String,
    /// `None` shows every status.
    pub status: Option<CellStatus>,
    pub sort: SortKey,
    pub selected: usize,
}

impl Default for InventoryView {
    fn default() -> Self {
        InventoryView {
            cells: Vec::new(),
            loaded: false,
            filter: String::new(),
            status: Some(CellStatus::Available),
            sort: SortKey::Id,
            selected: 0,
        }
    }
}

impl InventoryView {
    /// The cells the table shows, filtered and sorted. Missing values sort last.
    pub fn visible(&self) -> Vec<&Cell> {
        let needle = self.filter.to_lowercase();
        let mut v: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| self.status.is_none_or(|s| c.status == s))
            .filter(|c| {
                needle.is_empty()
                    || [
                        Some(c.id.as_str()),
                        c.model.as_deref(),
                        c.source_code.as_deref(),
                    ]
                    .iter()
                    .flatten()
                    .any(|t| t.to_lowercase().contains(&needle))
            })
            .collect();
        let key = |c: &Cell| -> Option<f64> {
            match self.sort {
                SortKey::Id => None,
                SortKey::Capacity => c.capacity_mah.map(|x| -x),
                SortKey::Ir => c.ir_mohm,
                SortKey::Ocv => c.ocv_mv,
            }
        };
        if self.sort != SortKey::Id {
            v.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.id.cmp(&b.id)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.id.cmp(&b.id),
            });
        }
        v
    }
}

/// Equal-width bins over the values' range: `(low edge, high edge, count)`.
/// Fewer than two distinct values give one bin.
pub fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(lo), Some(hi)) = (
        vals.iter().copied().reduce(f64::min),
        vals.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    if bins == 0 {
        return Vec::new();
    }
    if hi <= lo {
        return vec![(lo, hi, vals.len())];
    }
    let width = (hi - lo) / bins as f64;
    let mut out: Vec<(f64, f64, usize)> = (0..bins)
        .map(|i| (lo + width * i as f64, lo + width * (i + 1) as f64, 0))
        .collect();
    for v in vals {
        // The top edge belongs to the last bin.
        let i = (((v - lo) / width) as usize).min(bins - 1);
        out[i].2 += 1;
    }
    out
}

pub const KEYS: &[Binding] = &[
    b(
        &[k('i')],
        Action::Import,
        "import",
        "Import a grading-cabinet file (CSV/JSON): all rows or none",
    ),
    b(
        &[k('f')],
        Action::Filter,
        "filter",
        "Filter by text in id, model or source code",
    ),
    b(
        &[k('s')],
        Action::CycleStatus,
        "status",
        "Next status to show (available, reserved, ..., all)",
    ),
    b(
        &[k('o')],
        Action::CycleSort,
        "sort",
        "Sort by id, capacity, IR or OCV",
    ),
];

// ------------------------------------------------------------------------------- Update

/// Shown: load the cells afresh.
pub(crate) fn enter(_app: &mut App) -> Vec<Effect> {
    vec![Effect::Request(Request::LoadCells)]
}

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Import => {
            open_input(
                app,
                InputPurpose::ImportPath,
                "File to import (CSV or JSON)",
                String::new(),
            );
        }
        Action::Filter => {
            let text = app.inventory.filter.clone();
            open_input(
                app,
                InputPurpose::Filter,
                "Show cells whose id, model or source contains",
                text,
            );
        }
        Action::CycleStatus => {
            app.inventory.status = next_status(app.inventory.status);
            app.inventory.selected = 0;
        }
        Action::CycleSort => {
            app.inventory.sort = app.inventory.sort.next();
            app.inventory.selected = 0;
        }
        _ => {}
    }
    Vec::new()
}

/// The status shown after `s`: each in turn, then all (`None`), then the first again.
fn next_status(s: Option<CellStatus>) -> Option<CellStatus> {
    match s {
        None => Some(CellStatus::ALL[0]),
        Some(cur) => {
            let i = CellStatus::ALL.iter().position(|x| *x == cur).unwrap_or(0);
            CellStatus::ALL.get(i + 1).copied()
        }
    }
}

pub(crate) fn scroll(app: &mut App, by: isize) {
    let len = app.inventory.visible().len();
    super::step(&mut app.inventory.selected, len, by);
}

/// The import field was submitted (already trimmed).
pub(crate) fn import(app: &mut App, path: String) -> Vec<Effect> {
    if path.is_empty() {
        return Vec::new();
    }
    app.say(Level::Info, format!("importing {path}…"));
    vec![Effect::Request(Request::Import {
        path,
        profile: app.session.profile.clone(),
    })]
}

/// The filter field was submitted (already trimmed).
pub(crate) fn set_filter(app: &mut App, text: String) -> Vec<Effect> {
    app.inventory.filter = text;
    app.inventory.selected = 0;
    Vec::new()
}

pub(crate) fn loaded(app: &mut App, cells: Vec<Cell>) -> Vec<Effect> {
    app.inventory.cells = cells;
    app.inventory.loaded = true;
    Vec::new()
}

pub(crate) fn imported(app: &mut App, file: &str, count: usize, note: &str) -> Vec<Effect> {
    app.say(
        Level::Good,
        format!("imported {count} cells from {file}{note}"),
    );
    vec![Effect::Request(Request::LoadCells)]
}

// ------------------------------------------------------------------------------- Draw

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

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let inv = &app.inventory;
    let [table, side] =
        Layout::horizontal([Constraint::Min(50), Constraint::Length(24)]).areas(area);
    draw_cells(frame, table, inv, theme);
    draw_stock(frame, side, inv, theme);
}

/// The cells shown, one row each, with what is shown and how it is sorted in the title.
fn draw_cells(frame: &mut Frame, area: Rect, inv: &InventoryView, theme: &Theme) {
    let visible = inv.visible();
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
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
    frame.render_widget(Paragraph::new(lines).block(block(theme, &title)), area);
}

/// Histograms of the available cells' capacity and internal resistance.
fn draw_stock(frame: &mut Frame, area: Rect, inv: &InventoryView, theme: &Theme) {
    let available: Vec<&Cell> = inv
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Available)
        .collect();
    let caps: Vec<f64> = available.iter().filter_map(|c| c.capacity_mah).collect();
    let irs: Vec<f64> = available.iter().filter_map(|c| c.ir_mohm).collect();
    let w = area.width.saturating_sub(2) as usize;
    let mut lines = hist_lines("Capacity Ah", &caps, 1000.0, 1, w, theme);
    lines.push(Line::raw(""));
    lines.extend(hist_lines("IR mΩ", &irs, 1.0, 3, w, theme));
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, "Available stock")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_value_once() {
        let v = [1.0, 2.0, 2.5, 3.0, 4.0, f64::NAN];
        let h = histogram(&v, 3);
        assert_eq!(h.len(), 3);
        assert_eq!(h.iter().map(|b| b.2).sum::<usize>(), 5);
        assert_eq!(h[0].0, 1.0);
        assert_eq!(h[2].1, 4.0);
        assert_eq!(h[2].2, 1 + 1); // 3.0 and the top edge 4.0
        assert_eq!(histogram(&[5.0, 5.0], 4), vec![(5.0, 5.0, 2)]);
        assert!(histogram(&[], 4).is_empty());
    }
}
