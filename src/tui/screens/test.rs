//! Test: the end-of-line test of the pack on the bench, step by step, with the operator's
//! manual readings and the verdict.

use crate::domain::PackStatus;
use crate::tui::app::{
    open_input, App, Confirm, Effect, Input, InputPurpose, Level, Modal, Pending, Screen,
};
use crate::tui::keys::{b, k, Action, Binding};
use crate::tui::msg::{DeviceRequest, Link, Request, StepState, TestEvent, TestStep};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, fit, window};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub pass: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct TestView {
    pub running: bool,
    /// The question the runner is waiting on: (step index, prompt).
    pub prompt: Option<(usize, String)>,
    pub steps: Vec<TestStep>,
    pub verdict: Option<Verdict>,
    pub scroll: usize,
}

pub const KEYS: &[Binding] = &[
    b(
        &[k('t')],
        Action::StartTest,
        "start",
        "Start the end-of-line test of the pack on the bench",
    ),
    b(
        &[k('x')],
        Action::AbortTest,
        "abort",
        "Abort the running test (recorded as aborted)",
    ),
];

// ------------------------------------------------------------------------------- Update

/// Shown: the oldest configured pack if none is on the bench, and a pending question.
pub(crate) fn enter(app: &mut App) -> Vec<Effect> {
    let mut fx = Vec::new();
    if app.pack.is_none() {
        fx.push(Effect::Request(Request::NextPack(PackStatus::Configured)));
    }
    reopen_prompt(app);
    fx
}

pub(crate) fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::StartTest => start(app),
        Action::AbortTest => {
            if app.test.running {
                app.modal = Some(Modal::Confirm(Confirm {
                    title: "Abort test".into(),
                    body: vec!["Abort the running test? It is recorded as aborted.".into()],
                    pending: Pending::AbortTest,
                }));
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Put the runner's pending question back in front of the operator (after Esc, or after
/// looking at another screen).
pub(crate) fn reopen_prompt(app: &mut App) {
    if app.screen != Screen::Test || app.modal.is_some() {
        return;
    }
    if let Some((_, prompt)) = app.test.prompt.clone() {
        open_input(app, InputPurpose::Measurement, &prompt, String::new());
    }
}

fn start(app: &mut App) -> Vec<Effect> {
    if app.test.prompt.is_some() {
        reopen_prompt(app);
        return Vec::new();
    }
    let Some(pack) = &app.pack else {
        app.say(
            Level::Warning,
            "no pack on the bench: scan the pack's code first",
        );
        return Vec::new();
    };
    if app.test.running {
        return Vec::new();
    }
    if !matches!(app.bms.link, Link::Connected { .. }) {
        app.say(
            Level::Warning,
            "not connected to the pack's BMS: connect on the BMS screen (5, then c)",
        );
        return Vec::new();
    }
    let id = pack.id;
    app.test = TestView {
        running: true,
        ..TestView::default()
    };
    vec![Effect::Device(DeviceRequest::StartTest { pack: id })]
}

/// The operator's reading for the waiting step, as typed.
pub(crate) fn answer(app: &mut App, text: String) -> Vec<Effect> {
    app.test.prompt = None;
    vec![Effect::Device(DeviceRequest::Answer(text))]
}

/// A report from the test runner.
pub(crate) fn on_event(app: &mut App, ev: TestEvent) -> Vec<Effect> {
    match ev {
        TestEvent::Plan(steps) => {
            app.test.steps = steps;
        }
        TestEvent::Step { index, state } => {
            if let Some(s) = app.test.steps.get_mut(index) {
                s.state = state;
            }
            app.test.scroll = index;
        }
        TestEvent::Prompt { index, prompt } => {
            app.test.scroll = index;
            if let Some(s) = app.test.steps.get_mut(index) {
                s.state = StepState::Waiting;
            }
            app.test.prompt = Some((index, prompt));
            reopen_prompt(app);
        }
        TestEvent::Finished { pass, reason } => finished(app, pass, reason),
    }
    Vec::new()
}

fn finished(app: &mut App, pass: bool, reason: String) {
    app.test.running = false;
    app.test.prompt = None;
    if matches!(
        &app.modal,
        Some(Modal::Input(Input {
            purpose: InputPurpose::Measurement,
            ..
        }))
    ) {
        app.modal = None;
    }
    app.say(
        if pass { Level::Good } else { Level::Problem },
        if pass {
            "PASS: the pack is ready to ship".to_string()
        } else {
            format!("FAIL: {reason}")
        },
    );
    app.test.verdict = Some(Verdict { pass, reason });
    if let Some(p) = &mut app.pack {
        p.status = if pass {
            PackStatus::Passed
        } else {
            PackStatus::Failed
        };
    }
}

pub(crate) fn scroll(app: &mut App, by: isize) {
    let len = app.test.steps.len();
    super::step(&mut app.test.scroll, len, by);
}

// ------------------------------------------------------------------------------- Draw

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    draw_steps(frame, steps, t, theme);
    if let Some(v) = &t.verdict {
        draw_verdict(frame, verdict, v, theme);
    }
}

/// The plan's steps with their state, the latest in view.
fn draw_steps(frame: &mut Frame, area: Rect, t: &TestView, theme: &Theme) {
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
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
        area,
    );
}

/// PASS or FAIL in large letters, and why.
fn draw_verdict(frame: &mut Frame, area: Rect, v: &Verdict, theme: &Theme) {
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
        area,
    );
}
