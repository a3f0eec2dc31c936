//! The console's state and its pure `update`: every input (a key, a scan, a reply from the
//! store, a device report) goes through [`update`], which changes the state and returns the
//! effects the event loop must carry out. Nothing here does I/O, so every behaviour is tested
//! by feeding events and looking at the state and the effects.

use super::data::*;
use super::keys::{self, Action, Binding};
use super::scan::{Output, ScanDetector};
use crate::domain::{CellStatus, Pack, PackStatus};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::time::{Duration, Instant};

/// The screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Line,
    Inventory,
    Match,
    Assemble,
    Bms,
    Test,
    History,
}

impl Screen {
    pub const ALL: &'static [Screen] = &[
        Screen::Line,
        Screen::Inventory,
        Screen::Match,
        Screen::Assemble,
        Screen::Bms,
        Screen::Test,
        Screen::History,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Line => "Line",
            Screen::Inventory => "Inventory",
            Screen::Match => "Match",
            Screen::Assemble => "Assemble",
            Screen::Bms => "BMS",
            Screen::Test => "Test",
            Screen::History => "History",
        }
    }

    /// The key name saved in `console_state`.
    pub fn key(self) -> &'static str {
        match self {
            Screen::Line => "line",
            Screen::Inventory => "inventory",
            Screen::Match => "match",
            Screen::Assemble => "assemble",
            Screen::Bms => "bms",
            Screen::Test => "test",
            Screen::History => "history",
        }
    }

    pub fn from_key(s: &str) -> Option<Screen> {
        Screen::ALL.iter().copied().find(|x| x.key() == s)
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    fn offset(self, by: isize) -> Screen {
        let n = Screen::ALL.len() as isize;
        let i = (self.index() as isize + by).rem_euclid(n) as usize;
        Screen::ALL[i]
    }

    /// The screen where a pack in this state is worked on next.
    pub fn for_pack(status: PackStatus) -> Screen {
        match status {
            PackStatus::Matched => Screen::Assemble,
            PackStatus::Assembled => Screen::Bms,
            PackStatus::Configured => Screen::Test,
            PackStatus::Passed | PackStatus::Failed | PackStatus::Scrapped => Screen::History,
        }
    }
}

/// Everything that can happen to the console.
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent, Instant),
    /// The scan detector's deadline has passed.
    ScanTimeout(Instant),
    Resize(u16, u16),
    /// SIGHUP, SIGTERM or SIGQUIT, or the terminal went away.
    Hangup(&'static str),
    Reply(Box<Reply>),
    Device(DeviceEvent),
}

/// What the event loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    /// Clear and redraw everything (Ctrl-L).
    ClearScreen,
    /// Work for the store thread; its answer comes back as [`Event::Reply`].
    Request(Request),
    /// Work for the device side; reports come back as [`Event::Device`].
    Device(DeviceRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Good,
    Warning,
    Problem,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub level: Level,
    pub text: String,
}

/// What a text field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Code,
    ImportPath,
    Filter,
    /// A manual test measurement.
    Measurement,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub purpose: InputPurpose,
    pub prompt: String,
    pub text: String,
}

/// What a confirmation will do when the operator says yes.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    CommitPacks,
    WriteConfig,
    AbortTest,
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub body: Vec<String>,
    pub pending: Pending,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Input(Input),
    Confirm(Confirm),
}

/// Where the console was when it started, from `console_state`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    pub screen: Option<Screen>,
    pub pack: Option<i64>,
    pub operator: Option<String>,
    pub profile: Option<String>,
}

/// Fixed facts about this console session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub station: String,
    pub operator: String,
    pub profile: String,
    pub profiles: Vec<String>,
    /// Set on the demo line: what to tell a new user.
    pub demo: bool,
    pub scan_gap: Duration,
}

#[derive(Debug, Clone)]
pub struct App {
    pub session: Session,
    pub screen: Screen,
    pub help: bool,
    pub modal: Option<Modal>,
    pub message: Option<Message>,
    pub size: (u16, u16),
    /// The pack being worked on (assembly, BMS, test), kept across restarts.
    pub pack: Option<Pack>,
    pub line: LineView,
    pub inventory: InventoryView,
    pub matching: MatchView,
    pub assemble: AssembleView,
    pub bms: BmsView,
    pub test: TestView,
    pub history: HistoryView,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
    scan: ScanDetector,
}

const PAGE: usize = 10;

impl App {
    pub fn new(session: Session, resume: Resume, size: (u16, u16)) -> App {
        let scan = ScanDetector::new(session.scan_gap);
        let mut session = session;
        if let Some(op) = resume.operator.filter(|o| !o.is_empty()) {
            session.operator = op;
        }
        if let Some(p) = resume.profile.filter(|p| session.profiles.contains(p)) {
            session.profile = p;
        }
        App {
            screen: resume.screen.unwrap_or(Screen::Line),
            help: false,
            modal: None,
            message: None,
            size,
            pack: None,
            line: LineView::default(),
            inventory: InventoryView::default(),
            matching: MatchView::default(),
            assemble: AssembleView::default(),
            bms: BmsView::default(),
            test: TestView::default(),
            history: HistoryView::default(),
            dirty: true,
            quit: false,
            scan,
            session,
        }
    }

    /// The effects to run once at start: load what the first screen shows, and the pack
    /// that was open when the console last closed.
    pub fn start(&mut self, resume_pack: Option<i64>) -> Vec<Effect> {
        let mut fx = self.enter_screen();
        if let Some(id) = resume_pack {
            // The pack that was open comes back, not merely the next one waiting.
            fx.retain(|e| {
                !matches!(
                    e,
                    Effect::Request(Request::NextPack(_) | Request::NextPackAfter { .. })
                )
            });
            fx.insert(0, Effect::Request(Request::LoadPack(id)));
        }
        fx
    }

    /// When the held scan characters must be released, for the loop's timer.
    pub fn scan_deadline(&self) -> Option<Instant> {
        self.scan.deadline()
    }

    /// The key tables in force right now, most specific first.
    pub fn active_tables(&self) -> Vec<&'static [Binding]> {
        if self.help {
            return vec![keys::HELP];
        }
        match &self.modal {
            Some(Modal::Input(_)) => vec![keys::INPUT],
            Some(Modal::Confirm(_)) => vec![keys::CONFIRM],
            None => {
                let mut t = keys::screen_table(self.screen, self.session.demo);
                t.push(keys::GLOBAL);
                t
            }
        }
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some(Message {
            level,
            text: text.into(),
        });
    }

    fn save(&self, key: &str, value: String) -> Effect {
        Effect::Request(Request::SaveState {
            key: key.to_string(),
            value,
        })
    }

    fn go(&mut self, screen: Screen) -> Vec<Effect> {
        if self.screen == screen {
            return self.enter_screen();
        }
        self.screen = screen;
        let mut fx = vec![self.save("screen", screen.key().to_string())];
        fx.extend(self.enter_screen());
        fx
    }

    /// What to load when a screen is shown, so it never shows stale figures.
    fn enter_screen(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        match self.screen {
            Screen::Line => fx.push(Effect::Request(Request::LoadLine)),
            Screen::Inventory => fx.push(Effect::Request(Request::LoadCells)),
            Screen::Match => {}
            Screen::Assemble => {
                if self.pack.is_none() {
                    fx.push(Effect::Request(Request::NextPack(PackStatus::Matched)));
                }
                open_scan_prompt(self);
            }
            Screen::Bms => {
                if self.pack.is_none() {
                    fx.push(Effect::Request(Request::NextPack(PackStatus::Assembled)));
                }
                fx.push(Effect::Device(DeviceRequest::Watch(true)));
            }
            Screen::Test => {
                if self.pack.is_none() {
                    fx.push(Effect::Request(Request::NextPack(PackStatus::Configured)));
                }
                reopen_prompt(self);
            }
            Screen::History => {}
        }
        if self.screen != Screen::Bms {
            fx.push(Effect::Device(DeviceRequest::Watch(false)));
        }
        fx
    }

    fn set_pack(&mut self, pack: Option<Pack>) -> Vec<Effect> {
        let changed = self.pack.as_ref().map(|p| p.id) != pack.as_ref().map(|p| p.id);
        self.pack = pack;
        if changed {
            self.assemble = AssembleView::default();
            self.test = TestView::default();
            self.bms.write = None;
        }
        let mut fx = vec![self.save(
            "pack",
            self.pack
                .as_ref()
                .map(|p| p.id.to_string())
                .unwrap_or_default(),
        )];
        if let Some(p) = &self.pack {
            if p.status == PackStatus::Matched {
                fx.push(Effect::Request(Request::LoadPlacement(p.id)));
            }
        }
        fx
    }
}

/// Apply one event. Marks the state dirty when anything visible changed.
pub fn update(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key, at) => {
            if key.kind != KeyEventKind::Press {
                return Vec::new();
            }
            // Text fields take raw keys: a scan typed into a field is just text.
            if matches!(app.modal, Some(Modal::Input(_))) && !app.help {
                app.dirty = true;
                return input_key(app, key);
            }
            let mut fx = Vec::new();
            for out in app.scan.key(key, at) {
                fx.extend(dispatch(app, out));
            }
            fx
        }
        Event::ScanTimeout(now) => {
            let mut fx = Vec::new();
            for out in app.scan.timeout(now) {
                fx.extend(dispatch(app, out));
            }
            fx
        }
        Event::Resize(w, h) => {
            app.size = (w, h);
            app.dirty = true;
            Vec::new()
        }
        Event::Hangup(why) => {
            app.quit = true;
            tracing::info!("quitting on {why}");
            let mut fx = Vec::new();
            if app.test.running {
                // Nobody is at this console any more: end the test as aborted, keeping what
                // was measured, rather than leave it waiting for an answer.
                fx.push(Effect::Device(DeviceRequest::AbortTest));
            }
            fx.push(Effect::Quit);
            fx
        }
        Event::Reply(reply) => {
            // A saved console state changes nothing on screen.
            if !matches!(*reply, Reply::Saved) {
                app.dirty = true;
            }
            reply_update(app, *reply)
        }
        Event::Device(ev) => device_update(app, ev),
    }
}

fn dispatch(app: &mut App, out: Output) -> Vec<Effect> {
    let was_dirty = app.dirty;
    app.dirty = true;
    match out {
        Output::Scan(code) => scanned(app, code),
        Output::Key(key) => {
            let tables = app.active_tables();
            match keys::lookup(&tables, &key) {
                Some(action) => act(app, action),
                None => {
                    // An unbound key changes nothing visible: no redraw for it.
                    app.dirty = was_dirty;
                    Vec::new()
                }
            }
        }
    }
}

fn open_input(app: &mut App, purpose: InputPurpose, prompt: &str, text: String) {
    app.modal = Some(Modal::Input(Input {
        purpose,
        prompt: prompt.to_string(),
        text,
    }));
}

fn act(app: &mut App, action: Action) -> Vec<Effect> {
    if app.help {
        app.help = false;
        // A field the help covered comes back: placing cells, or a test question.
        open_scan_prompt(app);
        reopen_prompt(app);
        return Vec::new();
    }
    if let Some(Modal::Confirm(c)) = &app.modal {
        let pending = c.pending.clone();
        app.modal = None;
        return match action {
            Action::Confirm => confirmed(app, pending),
            _ => {
                app.say(Level::Info, "cancelled; nothing was changed");
                Vec::new()
            }
        };
    }
    match action {
        Action::Quit => {
            let busy = if app.test.running {
                Some("an end-of-line test is running; quitting aborts it (recorded as aborted)")
            } else if app.bms.write.as_ref().is_some_and(|w| w.running) {
                Some("a configuration write is running; quitting stops it half-way")
            } else {
                None
            };
            if let Some(why) = busy {
                app.modal = Some(Modal::Confirm(Confirm {
                    title: "Quit".into(),
                    body: vec![why.to_string(), "Quit anyway?".into()],
                    pending: Pending::Quit,
                }));
                return Vec::new();
            }
            app.quit = true;
            vec![Effect::Quit]
        }
        Action::Help => {
            app.help = true;
            Vec::new()
        }
        Action::Redraw => vec![Effect::ClearScreen],
        Action::GoTo(s) => app.go(s),
        Action::NextScreen => app.go(app.screen.offset(1)),
        Action::PrevScreen => app.go(app.screen.offset(-1)),
        Action::EnterCode => {
            open_input(
                app,
                InputPurpose::Code,
                "Scan or type a cell id, pack code or OP:<name>",
                String::new(),
            );
            Vec::new()
        }
        Action::Up => move_selection(app, -1),
        Action::Down => move_selection(app, 1),
        Action::PageUp => move_selection(app, -(PAGE as isize)),
        Action::PageDown => move_selection(app, PAGE as isize),
        Action::Submit => match app.screen {
            Screen::Line => match app.line.data.in_progress.get(app.line.selected).cloned() {
                Some(p) => {
                    let screen = Screen::for_pack(p.status);
                    let mut fx = app.set_pack(Some(p));
                    fx.extend(app.go(screen));
                    fx
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        Action::Import => {
            open_input(
                app,
                InputPurpose::ImportPath,
                "File to import (CSV or JSON)",
                String::new(),
            );
            Vec::new()
        }
        Action::Filter => {
            let text = app.inventory.filter.clone();
            open_input(
                app,
                InputPurpose::Filter,
                "Show cells whose id, model or source contains",
                text,
            );
            Vec::new()
        }
        Action::CycleStatus => {
            app.inventory.status = next_status(app.inventory.status);
            app.inventory.selected = 0;
            Vec::new()
        }
        Action::CycleSort => {
            app.inventory.sort = app.inventory.sort.next();
            app.inventory.selected = 0;
            Vec::new()
        }
        Action::ChooseProfile => {
            let list = &app.session.profiles;
            if let Some(i) = list.iter().position(|p| *p == app.session.profile) {
                app.session.profile = list[(i + 1) % list.len()].clone();
            } else if let Some(first) = list.first() {
                app.session.profile = first.clone();
            }
            app.matching = MatchView::default();
            vec![app.save("profile", app.session.profile.clone())]
        }
        Action::RunMatch => {
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
        Action::Commit => {
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
        Action::ChoosePack => {
            vec![Effect::Request(Request::NextPackAfter {
                status: PackStatus::Matched,
                after: app.pack.as_ref().map(|p| p.id),
            })]
        }
        Action::Connect => {
            vec![Effect::Device(DeviceRequest::ConnectNext)]
        }
        Action::Disconnect => vec![Effect::Device(DeviceRequest::Disconnect)],
        Action::WriteConfig => {
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
        Action::ToggleUnplug => vec![Effect::Device(DeviceRequest::ToggleUnplug)],
        Action::StartTest => start_test(app),
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
        Action::Confirm | Action::Cancel => Vec::new(),
    }
}

/// Put the runner's pending question back in front of the operator (after Esc, or after
/// looking at another screen).
fn reopen_prompt(app: &mut App) {
    if app.screen != Screen::Test || app.modal.is_some() {
        return;
    }
    if let Some((_, prompt)) = app.test.prompt.clone() {
        open_input(app, InputPurpose::Measurement, &prompt, String::new());
    }
}

fn start_test(app: &mut App) -> Vec<Effect> {
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

fn confirmed(app: &mut App, pending: Pending) -> Vec<Effect> {
    match pending {
        Pending::CommitPacks => {
            let packs = marked_packs(&app.matching);
            vec![Effect::Request(Request::CommitPacks {
                profile: app.session.profile.clone(),
                packs,
            })]
        }
        Pending::WriteConfig => match &app.pack {
            Some(p) => {
                app.bms.write = Some(WriteView {
                    running: true,
                    ..WriteView::default()
                });
                vec![Effect::Device(DeviceRequest::WriteConfig { pack: p.id })]
            }
            None => Vec::new(),
        },
        Pending::AbortTest => vec![Effect::Device(DeviceRequest::AbortTest)],
        Pending::Quit => {
            app.quit = true;
            vec![Effect::Device(DeviceRequest::AbortTest), Effect::Quit]
        }
    }
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

fn next_status(s: Option<CellStatus>) -> Option<CellStatus> {
    match s {
        None => Some(CellStatus::ALL[0]),
        Some(cur) => {
            let i = CellStatus::ALL.iter().position(|x| *x == cur).unwrap_or(0);
            CellStatus::ALL.get(i + 1).copied()
        }
    }
}

fn move_selection(app: &mut App, by: isize) -> Vec<Effect> {
    let (sel, len) = match app.screen {
        Screen::Line => (&mut app.line.selected, app.line.data.in_progress.len()),
        Screen::Inventory => {
            let len = app.inventory.visible().len();
            (&mut app.inventory.selected, len)
        }
        Screen::Match => (
            &mut app.matching.selected,
            app.matching.proposal.as_ref().map_or(0, |p| p.packs.len()),
        ),
        Screen::Test => (&mut app.test.scroll, app.test.steps.len()),
        Screen::History => (&mut app.history.scroll, usize::MAX),
        Screen::Assemble | Screen::Bms => return Vec::new(),
    };
    let max = len.saturating_sub(1) as isize;
    *sel = (*sel as isize + by).clamp(0, max.max(0)) as usize;
    Vec::new()
}

fn input_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let Some(Modal::Input(input)) = &mut app.modal else {
        return Vec::new();
    };
    // F-keys still switch screens: a field never traps the operator.
    let global_f = match key.code {
        KeyCode::F(_) => keys::lookup(&[keys::GLOBAL], &key),
        _ => None,
    };
    match keys::lookup(&[keys::INPUT], &key).or(global_f) {
        Some(Action::Submit) => {
            let input = input.clone();
            app.modal = None;
            submit_input(app, input)
        }
        Some(Action::Cancel) => {
            app.modal = None;
            Vec::new()
        }
        Some(other) => {
            app.modal = None;
            act(app, other)
        }
        None => {
            match key.code {
                KeyCode::Backspace => {
                    input.text.pop();
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.text.clear();
                }
                KeyCode::Char(c)
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    input.text.push(c);
                }
                _ => {}
            }
            Vec::new()
        }
    }
}

fn submit_input(app: &mut App, input: Input) -> Vec<Effect> {
    let text = input.text.trim().to_string();
    match input.purpose {
        InputPurpose::Code => {
            if text.is_empty() {
                Vec::new()
            } else {
                scanned(app, text)
            }
        }
        InputPurpose::ImportPath => {
            if text.is_empty() {
                return Vec::new();
            }
            app.say(Level::Info, format!("importing {text}…"));
            vec![Effect::Request(Request::Import {
                path: text,
                profile: app.session.profile.clone(),
            })]
        }
        InputPurpose::Filter => {
            app.inventory.filter = text;
            app.inventory.selected = 0;
            Vec::new()
        }
        InputPurpose::Measurement => {
            app.test.prompt = None;
            vec![Effect::Device(DeviceRequest::Answer(input.text))]
        }
    }
}

/// While cells are being placed, the scan field stays open so typing an id by hand works as
/// well as the scanner.
fn open_scan_prompt(app: &mut App) {
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
fn placing(app: &App) -> bool {
    app.screen == Screen::Assemble
        && app
            .pack
            .as_ref()
            .is_some_and(|p| p.status == PackStatus::Matched)
}

/// A scan (or a typed code) routed by what it is.
fn scanned(app: &mut App, code: String) -> Vec<Effect> {
    app.dirty = true;
    if let Some(name) = code.strip_prefix("OP:").map(str::trim) {
        if name.is_empty() {
            app.say(Level::Problem, "operator badge without a name: OP:<name>");
            return Vec::new();
        }
        app.session.operator = name.to_string();
        app.say(Level::Good, format!("operator is now {name}"));
        return vec![
            app.save("operator", name.to_string()),
            Effect::Request(Request::SetOperator(name.to_string())),
        ];
    }
    vec![Effect::Request(Request::Resolve(code))]
}

fn resolved(app: &mut App, code: String, what: Resolved) -> Vec<Effect> {
    match what {
        Resolved::Cell { .. } | Resolved::Unknown if placing(app) => {
            // The assembly service decides, and names an unknown or foreign cell loudly.
            let pack = app.pack.as_ref().map_or(0, |p| p.id);
            vec![Effect::Request(Request::Place { pack, cell: code })]
        }
        Resolved::Unknown => {
            app.say(
                Level::Problem,
                format!(
                    "'{code}' is not a cell, a pack code, a source module or an operator badge (OP:<name>)"
                ),
            );
            Vec::new()
        }
        // A cell or a source module: where it came from and where it went.
        Resolved::Cell { .. } | Resolved::Source => {
            let mut fx = vec![Effect::Request(Request::LoadHistory(code))];
            fx.extend(app.go(Screen::History));
            fx
        }
        // On History a code is a question about the past, wherever the pack is now.
        Resolved::Pack(_) if app.screen == Screen::History => {
            vec![Effect::Request(Request::LoadHistory(code))]
        }
        Resolved::Pack(pack) => {
            let screen = Screen::for_pack(pack.status);
            let label = pack.label();
            let mut fx = app.set_pack(Some(pack));
            if screen == Screen::History {
                fx.push(Effect::Request(Request::LoadHistory(code)));
            }
            app.say(
                Level::Info,
                format!("pack {label}: {}", screen.title().to_lowercase()),
            );
            fx.extend(app.go(screen));
            fx
        }
    }
}

fn reply_update(app: &mut App, reply: Reply) -> Vec<Effect> {
    match reply {
        Reply::Line(data) => {
            app.line.data = data;
            app.line.selected = app
                .line
                .selected
                .min(app.line.data.in_progress.len().saturating_sub(1));
            Vec::new()
        }
        Reply::Cells(cells) => {
            app.inventory.cells = cells;
            app.inventory.loaded = true;
            Vec::new()
        }
        Reply::Imported { file, count, note } => {
            app.say(
                Level::Good,
                format!("imported {count} cells from {file}{note}"),
            );
            vec![Effect::Request(Request::LoadCells)]
        }
        Reply::Matched(proposal) => {
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
        Reply::Committed(ids) => {
            app.matching = MatchView::default();
            app.say(
                Level::Good,
                format!(
                    "{} pack(s) committed ({}); their cells are reserved. Next: 4 Assemble",
                    ids.len(),
                    ids.iter()
                        .map(|i| format!("#{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            Vec::new()
        }
        Reply::Pack(pack) => {
            if pack.is_none() {
                let what = match app.screen {
                    Screen::Assemble => {
                        "no pack is waiting for assembly: match and commit packs first (3)"
                    }
                    Screen::Bms => {
                        "no assembled pack waiting: scan a pack's code to put it on the bench"
                    }
                    Screen::Test => {
                        "no configured pack waiting: scan a pack's code to put it on the bench"
                    }
                    _ => "no such pack",
                };
                app.say(Level::Info, what);
                return Vec::new();
            }
            app.set_pack(pack)
        }
        Reply::Placement { pack, placed } => {
            if app.pack.as_ref().is_some_and(|p| p.id == pack) {
                app.assemble.placed = placed;
            }
            open_scan_prompt(app);
            Vec::new()
        }
        Reply::Placed {
            pack,
            cell,
            slot,
            done,
        } => {
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
        Reply::Refused { cell, why } => {
            let outcome = AssembleOutcome::Refused { cell, why };
            app.say(Level::Problem, outcome.text());
            app.assemble.last = Some(outcome);
            open_scan_prompt(app);
            Vec::new()
        }
        Reply::Assembled(pack) => {
            let code = pack.label();
            app.assemble.code = Some(code.clone());
            app.say(
                Level::Good,
                format!("pack assembled: label it {code}. Next: 5 BMS to configure it"),
            );
            app.pack = Some(pack);
            Vec::new()
        }
        Reply::Resolved { code, what } => resolved(app, code, what),
        Reply::History(found) => {
            app.history.found = Some(*found);
            app.history.scroll = 0;
            Vec::new()
        }
        Reply::Failed(text) => {
            app.matching.running = false;
            app.say(Level::Problem, text);
            Vec::new()
        }
        Reply::Saved => Vec::new(),
    }
}

fn device_update(app: &mut App, ev: DeviceEvent) -> Vec<Effect> {
    match ev {
        DeviceEvent::Ports(ports) => {
            if app.bms.ports != ports {
                app.bms.ports = ports;
                app.dirty = true;
            }
        }
        DeviceEvent::Link(link) => {
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
        DeviceEvent::Snapshot(snap) => {
            // Only redraw when a reading actually changed: a quiet pack writes nothing.
            if app.bms.snapshot.as_ref() != Some(&snap) {
                app.bms.snapshot = Some(snap);
                app.dirty = app.dirty || app.screen == Screen::Bms;
            }
        }
        DeviceEvent::WriteDone(result) => {
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
        DeviceEvent::Test(tev) => {
            app.dirty = true;
            return test_update(app, tev);
        }
    }
    Vec::new()
}

fn test_update(app: &mut App, ev: TestEvent) -> Vec<Effect> {
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
        TestEvent::Finished { pass, reason } => {
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
    }
    Vec::new()
}
