//! Match: run the matcher for the chosen profile, look at the proposal, mark packs and commit
//! them (which reserves their cells).

use crate::tui::app::{App, Confirm, Effect, Level, Modal, Pending};
use crate::tui::keys::{b, code, k, Action, Binding};
use crate::tui::msg::{MatchedPack, Proposal, Request};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, opt, window};
use crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, Default)]
pub struct MatchView {
    pub running: bool,
    pub proposal: Option<Proposal>,
    pub marked: Vec<bool>,
    pub selected: usize,
}

pub const KEYS: &[Binding] = &[
    b(
        &[k('p')],
        Action::ChooseProfile,
        "profile",
        "Choose the next profile",
    ),
    b(
        &[k('r')],
        Action::RunMatch,
        "run",
        "Run the matcher on the available cells",
    ),
    b(
        &[code(KeyCode::Char(' '))],
        Action::ToggleAccept,
        "accept",
        "Mark or unmark the selected pack for acceptance",
    ),
    b(
        &[k('a')],
        Action::AcceptAll,
        "all",
        "Mark every proposed pack",
    ),
    b(
        &[k('c')],
        Action::Commit,
        "commit",
        "Commit the marked packs: reserves their cells",
    ),
];

// ------------------------------------------------------------------------------- Update

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::ChooseProfile => choose_profile(app),
        Action::RunMatch => run(app),
        Action::ToggleAccept => {
            let sel = app.matching.selected;
            if let Some(m) = app.matching.marked.get_mut(sel) {
                *m = !*m;
            }
            Vec::new()
        }
        Action::AcceptAll => {
            let all = app.matching.marked.iter().all(|m| *m);
            app.matching.marked.iter_mut().for_each(|m| *m = !all);
            Vec::new()
        }
        Action::Commit => ask_commit(app),
        _ => Vec::new(),
    }
}

/// The next profile in the list; a proposal for the old one no longer applies.
fn choose_profile(app: &mut App) -> Vec<Effect> {
    let list = &app.session.profiles;
    if let Some(i) = list.iter().position(|p| *p == app.session.profile) {
        app.session.profile = list[(i + 1) % list.len()].clone();
    } else if let Some(first) = list.first() {
        app.session.profile = first.clone();
    }
    app.matching = MatchView::default();
    vec![app.save("profile", app.session.profile.clone())]
}

fn run(app: &mut App) -> Vec<Effect> {
    if app.matching.running {
        return Vec::new();
    }
    app.matching.running = true;
    app.say(
        Level::Info,
        format!("matching available cells for {}…", app.session.profile),
    );
    vec![Effect::Request(Request::RunMatch {
        profile: app.session.profile.clone(),
    })]
}

/// Ask before reserving the marked packs' cells.
fn ask_commit(app: &mut App) -> Vec<Effect> {
    let n = app.matching.marked.iter().filter(|m| **m).count();
    if n == 0 {
        app.say(
            Level::Warning,
            "no pack marked: Space marks the selected pack, a marks all",
        );
        return Vec::new();
    }
    let cells: usize = marked_packs(&app.matching)
        .iter()
        .map(|p| p.groups.iter().map(Vec::len).sum::<usize>())
        .sum();
    app.modal = Some(Modal::Confirm(Confirm {
        title: "Commit packs".into(),
        body: vec![
            format!("Create {n} pack(s) for {}", app.session.profile),
            format!("and reserve their {cells} cells?"),
        ],
        pending: Pending::CommitPacks,
    }));
    Vec::new()
}

/// The operator said yes to committing.
pub(crate) fn commit(app: &mut App) -> Vec<Effect> {
    let packs = marked_packs(&app.matching);
    vec![Effect::Request(Request::CommitPacks {
        profile: app.session.profile.clone(),
        packs,
    })]
}

fn marked_packs(m: &MatchView) -> Vec<MatchedPack> {
    m.proposal
        .as_ref()
        .map(|p| {
            p.packs
                .iter()
                .zip(&m.marked)
                .filter(|(_, on)| **on)
                .map(|(p, _)| p.clone())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn scroll(app: &mut App, by: isize) {
    let len = app.matching.proposal.as_ref().map_or(0, |p| p.packs.len());
    super::step(&mut app.matching.selected, len, by);
}

/// The matcher's answer arrived.
pub(crate) fn proposed(app: &mut App, proposal: Proposal) -> Vec<Effect> {
    app.matching.running = false;
    app.matching.selected = 0;
    app.matching.marked = vec![false; proposal.packs.len()];
    let n = proposal.packs.len();
    app.say(
        if n > 0 { Level::Good } else { Level::Warning },
        format!(
            "{n} pack(s) proposed from {} eligible cells; Space marks, c commits",
            proposal.eligible
        ),
    );
    app.matching.proposal = Some(proposal);
    Vec::new()
}

/// The marked packs are in the store, their cells reserved.
pub(crate) fn committed(app: &mut App, ids: &[i64]) -> Vec<Effect> {
    app.matching = MatchView::default();
    // Short enough for the 80-column message row with up to four ids; more are a range.
    let named = match ids {
        [first, .., last] if ids.len() > 4 => format!("#{first} … #{last}"),
        _ => ids
            .iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    app.say(
        Level::Good,
        format!(
            "{} pack(s) committed ({named}), cells reserved. Next: 4 Assemble",
            ids.len()
        ),
    );
    Vec::new()
}

// ------------------------------------------------------------------------------- Draw

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
        Constraint::Length(6),
    ])
    .areas(area);
    draw_summary(frame, summary, p, theme);
    draw_packs(frame, table, m, p, theme);
    draw_selected(frame, detail, m, p, theme);
}

/// The proposal's figures: cells in and eligible, packs, leftovers, capacity used, rejections.
fn draw_summary(frame: &mut Frame, area: Rect, p: &Proposal, theme: &Theme) {
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
            "{} {}{dot}{} cells in, {} eligible{dot}{}",
            p.profile,
            p.shape,
            p.cells_in,
            p.eligible,
            // The maximum is a proof when exact, else an upper bound.
            if p.max_exact {
                format!("{} proposed of {} possible", p.packs.len(), p.max_possible)
            } else {
                format!("{} proposed, at most {}", p.packs.len(), p.max_possible)
            },
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
        area,
    );
}

/// The proposed packs with their figures, marked or not.
fn draw_packs(frame: &mut Frame, area: Rect, m: &MatchView, p: &Proposal, theme: &Theme) {
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
    let mut lines = vec![Line::styled(
        fit(
            "    pack  usable Ah  range mAh  range %  bound mAh  gap mAh  in slack IR CV %",
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
                "{mark} {:>4}  {:>9.1}  {:>9.0}  {:>7.2}  {:>9.0}  {:>7.0}  {:<7} {:>8}",
                format!("{}", pk.index),
                pk.metrics.usable_capacity_mah / 1000.0,
                pk.metrics.range_mah,
                pk.metrics.range_pct,
                pk.metrics.lower_bound_range_mah,
                pk.metrics.gap_to_bound_mah,
                if pk.metrics.at_bound_within_slack {
                    "yes"
                } else {
                    "no"
                },
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
        area,
    );
}

/// The selected pack's panel title, with its health from its cells when known.
fn selected_title(m: &MatchView, p: &Proposal) -> String {
    match p.health.get(m.selected).and_then(Option::as_ref) {
        Some(h) => format!("Selected pack: {}", h.summary()),
        None => "Selected pack, series order".into(),
    }
}

/// The selected pack's cells, series group by series group.
fn draw_selected(frame: &mut Frame, area: Rect, m: &MatchView, p: &Proposal, theme: &Theme) {
    let mut lines = Vec::new();
    if let Some(pk) = p.packs.get(m.selected) {
        let mt = &pk.metrics;
        // The balance the pack has against the best possible, and why the bound may be out
        // of reach when in-group limits bind.
        lines.push(Line::raw(format!(
            "range {:.0} mAh, bound {:.0} mAh, gap {:.0}, slack {:.0}: {}{}",
            mt.range_mah,
            mt.lower_bound_range_mah,
            mt.gap_to_bound_mah,
            mt.balance_slack_mah,
            if mt.at_bound_within_slack {
                "within slack"
            } else {
                "outside slack"
            },
            mt.bound_note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        )));
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
            .block(block(theme, &selected_title(m, p))),
        area,
    );
}
