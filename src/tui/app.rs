//! The console's state and its pure `update`: every input (a key, a scan, a reply from the
//! store, a device report) goes through [`update`], which changes the state and returns the
//! effects the event loop must carry out. Nothing here does I/O, so every behaviour is tested
//! by feeding events and looking at the state and the effects.
//!
//! What is the same on every screen is here: switching screens, help, confirmations, text
//! fields, scans and the pack on the bench. Each screen's own part (its actions, the replies
//! and reports it takes) is in its module under [`screens`].

use super::keys::{self, Action, Binding};
use super::msg::{DeviceEvent, DeviceRequest, Reply, Request, Resolved, StateVerb};
use super::scan::{Output, ScanDetector};
use super::screens;
use super::screens::assemble::{self, AssembleView};
use super::screens::bms::{self, BmsView};
use super::screens::history::{self, HistoryView};
use super::screens::inventory::{self, InventoryView};
use super::screens::line::{self, LineView};
use super::screens::matching::{self, MatchView};
use super::screens::test::{self, TestView};
use super::verbs::{self, Draft};
use crate::domain::{Pack, PackStatus};
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
            PackStatus::Passed
            | PackStatus::Failed
            | PackStatus::Scrapped
            | PackStatus::OnHold
            | PackStatus::Released => Screen::History,
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
    /// Nobody touched the console for the idle timeout (a database with operators): lock it.
    Idle,
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
    /// The PIN of a badge scanned on a database with operators (`tui::login`).
    Pin,
    /// The PIN that opens a console locked after idling.
    Unlock,
    /// A field of a state verb (reject, rework, ...): [`App::verb`] holds the answers so far.
    Verb,
    /// Scan-back: the label on the pack on the bench.
    LabelScan,
    /// The PIN given again to sign a state verb that is a decision ([`App::signing`]).
    Signature,
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
    /// A state verb, fields all given.
    State(StateVerb),
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
    /// The state verb whose fields are being asked for.
    pub verb: Option<Draft>,
    /// A confirmed state verb that is a signed decision, waiting for the operator's PIN.
    pub signing: Option<StateVerb>,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
    /// Badge and PIN login, the idle lock (`tui::login`).
    pub login: crate::tui::login::LoginState,
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
            verb: None,
            signing: None,
            dirty: true,
            quit: false,
            login: Default::default(),
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

    /// Show a message on the message row.
    pub(crate) fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some(Message {
            level,
            text: text.into(),
        });
    }

    /// Remember `key` in `console_state` for the next start.
    pub(crate) fn save(&self, key: &str, value: String) -> Effect {
        Effect::Request(Request::SaveState {
            key: key.to_string(),
            value,
        })
    }

    /// Show `screen`; showing it again loads its figures afresh.
    pub(crate) fn go(&mut self, screen: Screen) -> Vec<Effect> {
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
        let mut fx = screens::enter(self);
        if self.screen != Screen::Bms {
            fx.push(Effect::Device(DeviceRequest::Watch(false)));
        }
        fx
    }

    /// Put `pack` on the bench (or none); a different pack starts its screens afresh.
    pub(crate) fn set_pack(&mut self, pack: Option<Pack>) -> Vec<Effect> {
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
        Event::Idle => {
            crate::tui::login::lock(app);
            Vec::new()
        }
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

pub(crate) fn open_input(app: &mut App, purpose: InputPurpose, prompt: &str, text: String) {
    app.modal = Some(Modal::Input(Input {
        purpose,
        prompt: prompt.to_string(),
        text,
    }));
}

fn act(app: &mut App, action: Action) -> Vec<Effect> {
    if app.help {
        return close_help(app);
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
        Action::Quit => quit(app),
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
        Action::Confirm | Action::Cancel => Vec::new(),
        // The rest are bound by one screen's table only.
        _ => screens::act(app, action),
    }
}

/// Close the help (the only thing its keys do).
fn close_help(app: &mut App) -> Vec<Effect> {
    app.help = false;
    // A field the help covered comes back: placing cells, or a test question.
    assemble::open_scan_prompt(app);
    test::reopen_prompt(app);
    Vec::new()
}

/// Quit, after asking when that would cut work on the bench short.
fn quit(app: &mut App) -> Vec<Effect> {
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

fn confirmed(app: &mut App, pending: Pending) -> Vec<Effect> {
    match pending {
        Pending::CommitPacks => matching::commit(app),
        Pending::WriteConfig => bms::write(app),
        Pending::AbortTest => vec![Effect::Device(DeviceRequest::AbortTest)],
        Pending::State(verb) => verbs::confirmed(app, verb),
        Pending::Quit => {
            app.quit = true;
            vec![Effect::Device(DeviceRequest::AbortTest), Effect::Quit]
        }
    }
}

fn move_selection(app: &mut App, by: isize) -> Vec<Effect> {
    screens::scroll(app, by);
    Vec::new()
}

fn input_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let Some(Modal::Input(input)) = &mut app.modal else {
        return Vec::new();
    };
    let purpose = input.purpose;
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
            if crate::tui::login::is_login(purpose) {
                crate::tui::login::cancelled(app, purpose);
            }
            if app.verb.take().is_some() || app.signing.take().is_some() {
                app.say(Level::Info, "cancelled; nothing was changed");
            }
            Vec::new()
        }
        // A locked console: nothing but its PIN field.
        Some(_) if purpose == InputPurpose::Unlock => Vec::new(),
        Some(other) => {
            app.modal = None;
            app.verb = None;
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
                // GS (0x1D), FNC1 as a GS1 scanner sends it, arrives as Ctrl-] (Ctrl-5).
                KeyCode::Char(']' | '5') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.text.push(crate::label::scan::GS);
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
        InputPurpose::ImportPath => inventory::import(app, text),
        InputPurpose::Filter => inventory::set_filter(app, text),
        // The reading as typed: the runner parses it.
        InputPurpose::Measurement => test::answer(app, input.text),
        InputPurpose::Pin | InputPurpose::Unlock => crate::tui::login::submit(app, input.text),
        InputPurpose::Verb => verbs::answer(app, input.text),
        InputPurpose::Signature => verbs::signed(app, input.text),
        // As the scanner sent it: the scan-back takes an AIM prefix and GS1 separators off.
        InputPurpose::LabelScan => assemble::verify_label(app, input.text),
    }
}

/// A scan (or a typed code) routed by what it is.
fn scanned(app: &mut App, code: String) -> Vec<Effect> {
    app.dirty = true;
    if let Some(name) = code.strip_prefix("OP:").map(str::trim) {
        if name.is_empty() {
            app.say(Level::Problem, "operator badge without a name: OP:<name>");
            return Vec::new();
        }
        // Where operators are registered a badge logs in with its PIN.
        if app.login.enforced {
            crate::tui::login::start(app, name);
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
        Resolved::Cell { .. } | Resolved::Unknown if assemble::placing(app) => {
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
        Reply::Line(data) => line::loaded(app, data),
        Reply::Cells(cells) => inventory::loaded(app, cells),
        Reply::Imported { file, count, note } => inventory::imported(app, &file, count, &note),
        Reply::Matched(proposal) => matching::proposed(app, proposal),
        Reply::Committed(ids) => matching::committed(app, &ids),
        Reply::Pack(pack) => pack_loaded(app, pack),
        Reply::Placement { pack, placed } => assemble::placement(app, pack, placed),
        Reply::Placed {
            pack,
            cell,
            slot,
            done,
        } => assemble::placed(app, pack, cell, slot, done),
        Reply::Refused { cell, why } => assemble::refused(app, cell, why),
        Reply::Assembled(pack) => assemble::assembled(app, pack),
        Reply::LabelPrinted { pack, ok, text } => assemble::label_printed(app, pack, ok, text),
        Reply::LabelScanned {
            pack,
            matched,
            text,
        } => assemble::label_scanned(app, pack, matched, text),
        Reply::Resolved { code, what } => resolved(app, code, what),
        Reply::History(found) => history::found(app, *found),
        Reply::StateChanged {
            text,
            warning,
            pack,
        } => verbs::done(app, text, warning, pack),
        Reply::Failed(text) => {
            app.matching.running = false;
            app.say(Level::Problem, text);
            Vec::new()
        }
        Reply::Saved => Vec::new(),
        Reply::LoggedIn { operator } => crate::tui::login::logged_in(app, operator),
        Reply::LoginRefused(why) => crate::tui::login::refused(app, why),
    }
}

/// The pack asked for (by id, or the next one waiting), or none.
fn pack_loaded(app: &mut App, pack: Option<Pack>) -> Vec<Effect> {
    if pack.is_none() {
        let what = match app.screen {
            Screen::Assemble => "no pack is waiting for assembly: match and commit packs first (3)",
            Screen::Bms => "no assembled pack waiting: scan a pack's code to put it on the bench",
            Screen::Test => "no configured pack waiting: scan a pack's code to put it on the bench",
            _ => "no such pack",
        };
        app.say(Level::Info, what);
        return Vec::new();
    }
    app.set_pack(pack)
}

fn device_update(app: &mut App, ev: DeviceEvent) -> Vec<Effect> {
    match ev {
        DeviceEvent::Ports(ports) => bms::ports(app, ports),
        DeviceEvent::Link(link) => bms::link(app, link),
        DeviceEvent::Snapshot(snap) => bms::snapshot(app, snap),
        DeviceEvent::WriteDone(result) => bms::write_done(app, result),
        DeviceEvent::Test(tev) => {
            app.dirty = true;
            return test::on_event(app, tev);
        }
    }
    Vec::new()
}
