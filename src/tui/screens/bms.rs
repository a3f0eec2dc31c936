//! BMS: the link to the pack's board, its live readings, and the configuration write with
//! every field read back.

use crate::domain::PackStatus;
use crate::tui::app::{App, Confirm, Effect, Level, Modal, Pending, Screen};
use crate::tui::keys::{b, k, Action, Binding};
use crate::tui::msg::{DeviceRequest, FieldResult, Link, Request, WriteResult};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, rfit};
use packwright_protocol::BmsSnapshot;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteView {
    pub running: bool,
    pub result: Option<WriteResult>,
}

#[derive(Debug, Clone, Default)]
pub struct BmsView {
    pub ports: Vec<String>,
    pub link: Link,
    pub snapshot: Option<Box<BmsSnapshot>>,
    pub write: Option<WriteView>,
}

pub const KEYS: &[Binding] = &[
    b(
        &[k('c')],
        Action::Connect,
        "connect",
        "Connect to the next port or CAN interface",
    ),
    b(
        &[k('d')],
        Action::Disconnect,
        "disconnect",
        "Close the connection",
    ),
    b(
        &[k('w')],
        Action::WriteConfig,
        "write config",
        "Write the profile's configuration (confirm), read it back",
    ),
];

/// On the demo line only.
pub const DEMO_KEYS: &[Binding] = &[b(
    &[k('u')],
    Action::ToggleUnplug,
    "unplug",
    "Demo: pull or plug back the simulated board's cable",
)];

// ------------------------------------------------------------------------------- Update

/// Shown: the oldest assembled pack if none is on the bench, and live readings.
pub(crate) fn enter(app: &mut App) -> Vec<Effect> {
    let mut fx = Vec::new();
    if app.pack.is_none() {
        fx.push(Effect::Request(Request::NextPack(PackStatus::Assembled)));
    }
    fx.push(Effect::Device(DeviceRequest::Watch(true)));
    fx
}

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Connect => vec![Effect::Device(DeviceRequest::ConnectNext)],
        Action::Disconnect => vec![Effect::Device(DeviceRequest::Disconnect)],
        Action::WriteConfig => ask_write(app),
        Action::ToggleUnplug => vec![Effect::Device(DeviceRequest::ToggleUnplug)],
        _ => Vec::new(),
    }
}

/// Ask before writing, once there is a pack and a board to write to.
fn ask_write(app: &mut App) -> Vec<Effect> {
    let Some(pack) = &app.pack else {
        app.say(
            Level::Warning,
            "no pack on the bench: scan the pack's code first",
        );
        return Vec::new();
    };
    if !matches!(app.bms.link, Link::Connected { .. }) {
        app.say(
            Level::Warning,
            "not connected to a BMS: press c to connect first",
        );
        return Vec::new();
    }
    app.modal = Some(Modal::Confirm(Confirm {
        title: "Write BMS configuration".into(),
        body: vec![
            format!("Write profile {} to the BMS of", pack.profile),
            format!("pack {}, then read every field back?", pack.label()),
        ],
        pending: Pending::WriteConfig,
    }));
    Vec::new()
}

/// The operator said yes to the write.
pub(crate) fn write(app: &mut App) -> Vec<Effect> {
    match &app.pack {
        Some(p) => {
            app.bms.write = Some(WriteView {
                running: true,
                ..WriteView::default()
            });
            vec![Effect::Device(DeviceRequest::WriteConfig { pack: p.id })]
        }
        None => Vec::new(),
    }
}

pub(crate) fn ports(app: &mut App, ports: Vec<String>) {
    if app.bms.ports != ports {
        app.bms.ports = ports;
        app.dirty = true;
    }
}

pub(crate) fn link(app: &mut App, link: Link) {
    if app.bms.link != link {
        let text = link.describe();
        let level = match link {
            Link::Connected { .. } => Level::Good,
            Link::Lost { .. } => Level::Problem,
            _ => Level::Info,
        };
        app.bms.link = link;
        if app.screen == Screen::Bms || app.screen == Screen::Test {
            app.say(level, text);
        }
        app.dirty = true;
    }
}

pub(crate) fn snapshot(app: &mut App, snap: Box<BmsSnapshot>) {
    // Only redraw when a reading actually changed: a quiet pack writes nothing.
    if app.bms.snapshot.as_ref() != Some(&snap) {
        app.bms.snapshot = Some(snap);
        app.dirty = app.dirty || app.screen == Screen::Bms;
    }
}

pub(crate) fn write_done(app: &mut App, result: WriteResult) {
    let ok = result.ok;
    app.say(
        if ok { Level::Good } else { Level::Problem },
        result.summary.clone(),
    );
    app.bms.write = Some(WriteView {
        running: false,
        result: Some(result),
    });
    app.dirty = true;
    if ok {
        if let Some(p) = &mut app.pack {
            p.status = PackStatus::Configured;
        }
    }
}

// ------------------------------------------------------------------------------- Draw

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

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let b = &app.bms;
    let write_rows = if b.write.is_some() { 8 } else { 0 };
    let [head, chart, facts, write] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(6),
        Constraint::Length(3),
        Constraint::Length(write_rows),
    ])
    .areas(area);
    draw_head(frame, head, app, theme);
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
    draw_chart(frame, chart, s, theme);
    draw_facts(frame, facts, s, theme);
    if let Some(w) = &b.write {
        write_table(frame, write, w, theme);
    }
}

/// The link, the pack on the bench and the ports.
fn draw_head(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let b = &app.bms;
    let dot = theme.dot();
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
        area,
    );
}

/// One bar per cell voltage, numbered, with the lowest and highest marked.
fn draw_chart(frame: &mut Frame, area: Rect, s: &BmsSnapshot, theme: &Theme) {
    let dot = theme.dot();
    let v = &s.cell_voltages_mv;
    let (min, max) = (
        v.iter().copied().min().unwrap_or(0),
        v.iter().copied().max().unwrap_or(0),
    );
    let n = v.len().max(1);
    let inner_w = area.width.saturating_sub(2) as usize;
    let bar_w = (inner_w / n).saturating_sub(1).clamp(1, 6);
    let height = area.height.saturating_sub(4) as usize;
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
        area,
    );
}

/// Pack voltage, current, SOC, temperatures, FETs, balancing and protection.
fn draw_facts(frame: &mut Frame, area: Rect, s: &BmsSnapshot, theme: &Theme) {
    let dot = theme.dot();
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
        packwright_protocol::protection_text(&s.protection)
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
        area,
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;

    #[test]
    fn bars_fill_from_the_bottom_in_eighths() {
        let t = Theme {
            color: ColorMode::None,
            ascii: true,
        };
        // 0 %, 50 %, 100 % of a 2-row chart.
        let rows = bar_rows(&[3000, 3100, 3200], 3000, 3200, 2, 1, &t);
        assert_eq!(rows, vec!["    #".to_string(), "  # #".to_string()]);
        let t = Theme::plain();
        let rows = bar_rows(&[3050], 3000, 3200, 1, 2, &t);
        assert_eq!(rows, vec!["▂▂".to_string()]);
    }
}
