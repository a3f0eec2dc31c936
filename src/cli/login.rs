//! Who is at the command line: before a command that changes records runs on a database with
//! registered operators, the operator named by `--operator` (`PACKWRIGHT_OPERATOR`: an id or
//! a badge) proves it with a PIN (typed at a prompt on a terminal, or `PACKWRIGHT_PIN` for
//! scripted use) or a station token (`PACKWRIGHT_TOKEN`), and the line services' authority
//! table says whether their role may do it. Commands that only read need nothing.
//!
//! A database without any operator refuses every command that changes records until
//! `packwright operators setup` registers its first admin, unless the process opted in with
//! `PACKWRIGHT_ALLOW_NO_OPERATORS=1` (the rule is the line services':
//! `services::authority::without_operators`). The console starts on such a database (reading
//! needs nothing) and each change it tries is refused the same way.

use super::{bms, cells, eol, label, operators, packs, Command, Context};
use crate::services::authority::{self, Action, Credential, Granted};

pub const PIN_ENV: &str = "PACKWRIGHT_PIN";
pub const TOKEN_ENV: &str = "PACKWRIGHT_TOKEN";

/// The action class a command performs, `None` for commands that change no record (or, like
/// `operators setup`, check for themselves).
pub fn action_of(command: &Command) -> Option<Action> {
    use bms::{BmsCommand as B, ConfigCommand as C};
    use cells::CellsCommand as Ce;
    use packs::PacksCommand as P;
    match command {
        Command::Cells(Ce::Import { .. } | Ce::Source { .. }) => Some(Action::Intake),
        Command::Cells(Ce::Reject { scrap: true, .. }) => Some(Action::Scrap),
        Command::Cells(Ce::Reject { .. }) => Some(Action::RejectCell),
        Command::Cells(Ce::Unreject { .. }) => Some(Action::Unreject),
        Command::Packs(P::Release { .. } | P::Rework { .. }) => Some(Action::ReworkRelease),
        Command::Packs(P::Scrap { .. }) => Some(Action::Scrap),
        Command::Packs(P::Profile {
            adopt_disk: true, ..
        }) => Some(Action::ProfileChange),
        Command::Match(args) if args.commit => Some(Action::Match),
        Command::Assemble(_) => Some(Action::Assemble),
        Command::Bms(B::Config(C::Write(args))) if !args.dry_run => Some(if args.no_pack {
            Action::ConfigurationOverride
        } else {
            Action::Configure
        }),
        Command::Bms(B::Set(_)) => Some(Action::Configure),
        Command::Eol(eol::EolCommand::Run(_)) => Some(Action::RunTest),
        Command::Label(label::LabelCommand::Print { zpl: false, .. }) => Some(Action::Label),
        // The console changes records: its operator logs in before it starts.
        Command::Console(_) => Some(Action::Assemble),
        Command::Operators(cmd) if operators::changes_records(cmd) => Some(Action::ManageOperators),
        _ => None,
    }
}

/// Identify and authorise the operator for `command` (see the module doc); on success the
/// context's actor is the registered operator's id and, for a signed decision, the context
/// carries the signature. `explicit`: whether `--operator`/`PACKWRIGHT_OPERATOR` was given
/// (the login name does not stand in for an operator).
pub fn gate(command: &Command, ctx: &mut Context, explicit: bool) -> anyhow::Result<()> {
    let Some(action) = action_of(command) else {
        return Ok(());
    };
    // The console only reads until a change is made, and each change is checked by the line
    // services; elsewhere a database without operators refuses here, before anything opens.
    let console = matches!(command, Command::Console(_));
    if !crate::store::is_url(&ctx.db) && !ctx.db.exists() {
        // A station file that does not exist yet has no operators (and is not created).
        if !console {
            authority::without_operators().map_err(super::service_error)?;
        }
        return Ok(());
    }
    let mut store = ctx.open_existing_store()?;
    if !authority::enforced(&*store).map_err(super::service_error)? {
        if !console {
            authority::without_operators().map_err(super::service_error)?;
        }
        return Ok(());
    }
    let credential = credential(explicit.then_some(ctx.actor.operator.as_str()))?;
    if !explicit {
        if matches!(credential, Credential::Token(_)) {
            // The token names its operator.
            ctx.actor.operator.clear();
        } else {
            return Err(super::input_error(anyhow::anyhow!(
                "this database has registered operators: identify with --operator <id or badge> \
                 (or PACKWRIGHT_OPERATOR) and your PIN, or a station token; the login name does \
                 not stand in for an operator; nothing was changed"
            )));
        }
    }
    match authority::authorize(&mut *store, &ctx.actor, action, &credential)
        .map_err(super::service_error)?
    {
        Granted::Open => {}
        Granted::Operator {
            actor, signature, ..
        } => {
            ctx.actor = actor;
            ctx.signature = signature;
        }
    }
    Ok(())
}

/// The credential given: `PACKWRIGHT_PIN`, else `PACKWRIGHT_TOKEN` (which a signed decision
/// refuses), else the PIN typed at a prompt when standard input is a terminal.
fn credential(who: Option<&str>) -> anyhow::Result<Credential> {
    if let Some(pin) = std::env::var(PIN_ENV).ok().filter(|p| !p.is_empty()) {
        return Ok(Credential::Pin(pin));
    }
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(Credential::Token(token));
    }
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        let prompt = match who {
            Some(w) => format!("PIN for {w}: "),
            None => "PIN: ".to_string(),
        };
        return Ok(Credential::Pin(read_pin(&prompt)?));
    }
    Ok(Credential::None)
}

/// Read a PIN from the terminal without echoing it.
pub fn read_pin(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| anyhow::anyhow!("cannot open the terminal to ask for the PIN: {e}"))?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let echo_off = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if echo_off {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a valid descriptor and a termios read from it.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut out = &tty;
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if echo_off {
        // SAFETY: restores what tcgetattr returned.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    read.map_err(|e| anyhow::anyhow!("cannot read the PIN: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
