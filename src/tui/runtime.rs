//! The one event loop, and the terminal it owns.
//!
//! `select!` over signals, the terminal's event stream, the channel the store thread and the
//! device tasks report on, and the scan detector's deadline; drain what is queued; run the
//! effects; draw once if the state changed. There is no periodic tick: an idle console sleeps
//! and writes nothing to the terminal.

use super::app::{update, App, Effect, Event, Resume, Screen, Session};
use super::bench::{DemoBench, Devices, PortSpec, Recorder};
use super::msg::{DeviceEvent, Request, TestEvent};
use super::records::{self, Services};
use super::theme::Theme;
use super::view;
use crate::store::prelude::*;
use crate::store::Actor;
use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, EventStream};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// How to start the console.
pub struct Options {
    pub db: PathBuf,
    pub actor: Actor,
    /// Profile to start with (else the one saved, else the first built-in).
    pub profile: Option<String>,
    pub theme: Theme,
    pub scan_gap: Duration,
    pub log_file: PathBuf,
    pub ports: Vec<PortSpec>,
    /// Live readings at most this often.
    pub refresh: Duration,
    /// CAN interface on the pack's inverter port, for the test's inverter step.
    pub inverter_can: Option<String>,
    /// This is the demo line: say so on screen and offer its extra keys.
    pub demo: bool,
    /// The demo line's simulated boards.
    pub bench: Option<Arc<dyn DemoBench>>,
    /// Where pack labels are printed (`--printer`), if anywhere.
    pub printer: Option<crate::label::PrinterTarget>,
}

/// Whether the terminal is in console mode; restoring twice would emit a second
/// leave-alternate-screen, which puts a stale cursor back on some terminals.
static ACTIVE: AtomicBool = AtomicBool::new(false);

fn enter_terminal() -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )
}

/// Put the terminal back as it was. Safe to call from any exit path, any number of times.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = std::io::stdout();
        // Errors are ignored: the terminal may already be gone (SIGHUP).
        let _ = crossterm::execute!(
            out,
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// Logging to a file only: the screen belongs to the console.
fn init_logging(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the log folder {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACKWRIGHT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second console in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

/// Counts what goes to the terminal, for the idle/refresh measurements in the log.
struct Counting<W> {
    inner: W,
    bytes: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where the console was last time, from `console_state`.
fn resume_from(store: &dyn LineStore) -> anyhow::Result<Resume> {
    let get = |k: &str| -> anyhow::Result<Option<String>> {
        Ok(store.get_state(k)?.filter(|v| !v.is_empty()))
    };
    Ok(Resume {
        screen: get("screen")?.as_deref().and_then(Screen::from_key),
        pack: get("pack")?.and_then(|v| v.parse().ok()),
        operator: get("operator")?,
        profile: get("profile")?,
    })
}

fn profile_names() -> Vec<String> {
    crate::profile::Profile::list()
        .into_iter()
        .filter(|(_, p)| p.is_ok())
        .map(|(n, _)| n)
        .collect()
}

/// Run the console until the operator quits or the terminal goes away.
pub fn run(opts: Options) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the console needs a terminal on stdin and stdout; for scripts use the headless \
             commands (packwright cells, packs, match, ...)"
        );
    }
    init_logging(&opts.log_file)?;
    let mut store = crate::store::open_station(
        &opts.db,
        &crate::store::StationInfo {
            actor: &opts.actor,
            role: None,
            line: None,
        },
    )?;
    // A test left running by a console that died (killed, power cut) is recorded as aborted.
    let orphans = store.abort_orphaned_eol_runs(&opts.actor.station, &crate::eol::process_alive)?;
    if !orphans.is_empty() {
        tracing::warn!(?orphans, "test runs of dead processes marked aborted");
    }
    let resume = resume_from(&*store)?;
    let profiles = profile_names();
    let profile = opts
        .profile
        .clone()
        .or_else(|| resume.profile.clone())
        .or_else(|| profiles.first().cloned())
        .context("no pack profile can be loaded: check `packwright profile list`")?;
    if !profiles.contains(&profile) {
        crate::profile::Profile::load(&profile)?;
    }
    let mut actor = opts.actor.clone();
    // On a database with registered operators the operator is the one who logged in (the
    // CLI's gate), never the name the console saved last time.
    let enforced = crate::services::authority::enforced(&*store)?;
    if let Some(op) = resume.operator.as_ref().filter(|_| !enforced) {
        actor.operator = op.clone();
    }
    let session = Session {
        station: actor.station.clone(),
        operator: actor.operator.clone(),
        profile: profile.clone(),
        profiles,
        demo: opts.demo,
        scan_gap: opts.scan_gap,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    tracing::info!(db = %opts.db.display(), station = %actor.station, "console starting");
    let services = Services {
        store,
        db: opts.db.clone(),
        actor,
        printer: opts.printer.clone(),
    };
    runtime.block_on(event_loop(opts, session, resume, services, enforced))
}

async fn event_loop(
    opts: Options,
    session: Session,
    resume: Resume,
    services: Services,
    enforced: bool,
) -> anyhow::Result<()> {
    let idle_after = idle_lock_after();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let (req_tx, req_rx) = std::sync::mpsc::channel();
    let reply_tx = tx.clone();
    let store_thread = records::spawn(services, req_rx, move |r| {
        let _ = reply_tx.send(Event::Reply(Box::new(r)));
    });
    let recorder = Recorder {
        station: crate::services::Station {
            db: opts.db.clone(),
            actor: Actor {
                station: session.station.clone(),
                operator: session.operator.clone(),
            },
            signature: None,
        },
        inverter_can: opts.inverter_can.clone(),
    };
    let mut devices = Devices::new(
        tx.clone(),
        opts.ports.clone(),
        opts.refresh,
        opts.bench.clone(),
        recorder,
    );
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut quit_sig = signal(SignalKind::quit())?;

    install_panic_hook();
    enter_terminal()?;
    let _guard = TerminalGuard;
    let bytes = Arc::new(AtomicU64::new(0));
    let backend = CrosstermBackend::new(Counting {
        inner: std::io::stdout(),
        bytes: bytes.clone(),
    });
    let mut terminal = Terminal::new(backend)?;
    let size = terminal.size()?;
    // The session already holds the operator and profile chosen from options and resume.
    let start = Resume {
        operator: None,
        profile: None,
        ..resume.clone()
    };
    let mut app = App::new(session, start, (size.width, size.height));
    app.login.enforced = enforced;
    if opts.demo {
        // `packwright demo` registered its demo operator and logged the console in as them.
        app.say(
            super::app::Level::Info,
            format!(
                "demo: logged in automatically as '{}' (PIN {} after idling)",
                crate::demo::OPERATOR,
                crate::demo::OPERATOR_PIN
            ),
        );
    }
    let mut last_key = Instant::now();
    let mut pending = app.start(resume.pack);
    let mut events = EventStream::new();
    let started = Instant::now();
    let mut draws = 0u64;

    loop {
        for fx in std::mem::take(&mut pending) {
            match fx {
                Effect::Quit => app.quit = true,
                Effect::ClearScreen => {
                    terminal.clear()?;
                    app.dirty = true;
                }
                Effect::Request(r) => {
                    if let Request::SetOperator(name) = &r {
                        devices.set_operator(name);
                    }
                    if req_tx.send(r).is_err() {
                        anyhow::bail!("the store thread stopped; see the log");
                    }
                }
                Effect::Device(d) => devices.handle(d),
            }
        }
        if app.quit {
            break;
        }
        if app.dirty {
            app.dirty = false;
            draws += 1;
            crossterm::queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
            terminal.draw(|f| view::draw(f, &app, &opts.theme))?;
            crossterm::execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
        }
        let deadline = app.scan_deadline();
        // Only a database with operators locks an idle console.
        let idle_at = (enforced && !app.login.locked).then(|| last_key + idle_after);
        let ev = tokio::select! {
            biased;
            _ = hup.recv() => Event::Hangup("SIGHUP"),
            _ = term.recv() => Event::Hangup("SIGTERM"),
            _ = quit_sig.recv() => Event::Hangup("SIGQUIT"),
            te = events.next() => match te {
                Some(Ok(TermEvent::Key(k))) => Event::Key(k, Instant::now()),
                Some(Ok(TermEvent::Resize(w, h))) => Event::Resize(w, h),
                Some(Ok(_)) => continue,
                // The terminal is gone: never spin on a dead TTY.
                Some(Err(_)) | None => Event::Hangup("terminal closed"),
            },
            Some(ev) = rx.recv() => ev,
            _ = sleep_until(deadline), if deadline.is_some() => Event::ScanTimeout(Instant::now()),
            _ = sleep_until(idle_at), if idle_at.is_some() => Event::Idle,
        };
        if let Event::Key(..) = &ev {
            last_key = Instant::now();
        }
        pending.extend(step(&mut app, &mut devices, ev));
        // Drain whatever else is queued before drawing once.
        while let Ok(ev) = rx.try_recv() {
            pending.extend(step(&mut app, &mut devices, ev));
        }
    }
    // A configuration write stops cleanly: factory mode left without saving, logged aborted.
    devices.stop_writing("stopped: the console quit").await;
    // An aborted test records its end (outcome `aborted`, what was measured kept) and puts
    // back the test settings it journalled before the process goes; give it a moment rather
    // than leave the run for the orphan sweep and the board for the next command.
    if devices.test_running() {
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Some(ev)) = tokio::time::timeout_at(until, rx.recv()).await {
            if let Event::Device(DeviceEvent::Test(TestEvent::Finished { .. })) = ev {
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        bytes = bytes.load(Ordering::Relaxed),
        draws,
        seconds = secs,
        "console closing"
    );
    drop(terminal);
    restore_terminal();
    drop(req_tx);
    let _ = store_thread.join();
    Ok(())
}

/// One event through `update`; a finished test also closes its channels on the device side.
/// How long a console on a database with operators may sit untouched before it locks:
/// `PACKWRIGHT_IDLE_LOCK_SECS` (the site's setting), else 5 minutes.
fn idle_lock_after() -> Duration {
    std::env::var("PACKWRIGHT_IDLE_LOCK_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300))
}

fn step(app: &mut App, devices: &mut Devices, ev: Event) -> Vec<Effect> {
    if let Event::Reply(r) = &ev {
        if let super::msg::Reply::LoggedIn { operator } = r.as_ref() {
            devices.set_operator(operator);
        }
    }
    if let Event::Device(DeviceEvent::Test(TestEvent::Finished { .. })) = &ev {
        devices.test_finished();
    }
    update(app, ev)
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}
