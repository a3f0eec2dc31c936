//! The command line: a thin face over the library. Each subcommand parses its arguments,
//! calls the services, and prints text or `--json`.
//!
//! Exit codes, the same for every command and decided in one place ([`exit_code`]) from the
//! error's type: 0 done, 1 verification failed (a test or a read-back did not match), 2 bad
//! input or refused by the line's rules (file, profile, arguments, pack state), 3 device or
//! communication error, 4 the database or the environment (locked, corrupt, read-only, no
//! permission, disk full, newer schema, or a database that does not exist for a command that
//! only reads), 5 interrupted by a signal (the work stopped at a safe point and the message
//! says what the board was left holding). A store error's message names the database file.
//!
//! Pipes: standard output closed early (`packwright cells list | head -1`) ends a command that
//! only reads and prints quietly, killed by SIGPIPE like other Unix tools (the shell shows 141);
//! no panic, no message. Commands that drive devices or tests ignore SIGPIPE and finish.
//!
//! `--json`: every document is an object with `"schema"` and `"version"` keys ([`print_json`]);
//! an error under `--json` is also a document on stdout, `packwright.error`, besides the
//! message on stderr, unless the command printed its own document (a report of what failed).

mod assemble;
mod audit;
mod bench;
mod bms;
pub mod can;
mod cells;
mod console;
mod db;
mod eol;
mod label;
mod line;
mod login;
mod match_cmd;
mod operators;
mod packs;
mod profile;
mod progress;
mod sim;
mod trace;

use crate::store::{Actor, FileProblem, Store};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub const EXIT_OK: u8 = 0;
pub const EXIT_VERIFY_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_DEVICE: u8 = 3;
pub const EXIT_STORE: u8 = 4;
/// Stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) before it finished; the message says what
/// state the board was left in.
pub const EXIT_INTERRUPTED: u8 = 5;

/// An error that carries the exit code it should end the process with.
#[derive(Debug, thiserror::Error)]
#[error("{error:#}")]
pub struct Coded {
    pub code: u8,
    pub error: anyhow::Error,
}

/// Mark an error as a device or communication failure (exit 3).
pub fn device_error(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Coded {
        code: EXIT_DEVICE,
        error: error.into(),
    }
    .into()
}

/// Mark an error as an interruption by a signal (exit 5).
pub fn interrupted_error(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Coded {
        code: EXIT_INTERRUPTED,
        error: error.into(),
    }
    .into()
}

/// The stop switch of a command that must end cleanly: SIGINT, SIGTERM and SIGHUP set it to
/// why (the work then stops at its next safe point and says what it left); a second signal
/// forces the exit at once with [`EXIT_INTERRUPTED`]. Call inside the runtime.
pub fn stop_switch() -> tokio::sync::watch::Receiver<Option<String>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(None);
    let kinds = [
        (SignalKind::interrupt(), "interrupted (SIGINT, Ctrl-C)"),
        (SignalKind::terminate(), "terminated (SIGTERM)"),
        (SignalKind::hangup(), "hung up (SIGHUP)"),
    ];
    let mut streams = Vec::new();
    for (kind, why) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, why)),
            Err(e) => tracing::warn!("cannot listen for {why}: {e}"),
        }
    }
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let waits = streams
                .iter_mut()
                .map(|(s, why)| Box::pin(async move { s.recv().await.map(|_| *why) }));
            let (got, _, _) = futures::future::select_all(waits).await;
            let Some(why) = got else { return };
            if first {
                first = false;
                tracing::info!("{why}: stopping at the next safe point");
                let _ = tx.send(Some(why.to_string()));
            } else {
                eprintln!(
                    "error: {why} again: forced exit; the board may still be in factory mode or \
                     hold test settings (the next command that opens it restores them)"
                );
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    rx
}

/// Mark an error as bad input (exit 2). Errors not marked at all also exit 2.
pub fn input_error(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Coded {
        code: EXIT_BAD_INPUT,
        error: error.into(),
    }
    .into()
}

#[derive(Debug, Parser)]
#[command(
    name = "packwright",
    version,
    about = "Build energy-storage packs from graded second-life cells: intake, matching, assembly, BMS configuration, end-of-line test, traceability.",
    after_help = "Exit codes: 0 done, 1 verification failed, 2 bad input or refused by the line's rules, 3 device or communication error, 4 the database or the environment, 5 a configuration write interrupted by a signal."
)]
pub struct Cli {
    /// SQLite database file, or the line database's postgres:// URL [default: the user's data
    /// folder, packwright/packwright.db]
    #[arg(
        long,
        global = true,
        env = "PACKWRIGHT_DB",
        help_heading = "Global options"
    )]
    pub db: Option<PathBuf>,
    /// This station's role on the line (intake, matching, assembly, bench, ...), kept in the
    /// line database's station registry
    /// (`operators add --role` is an operator's role, not this)
    #[arg(
        long = "station-role",
        global = true,
        env = "PACKWRIGHT_STATION_ROLE",
        help_heading = "Global options"
    )]
    pub station_role: Option<String>,
    /// The line this station belongs to, kept in the line database's station registry
    #[arg(
        long,
        global = true,
        env = "PACKWRIGHT_LINE",
        help_heading = "Global options"
    )]
    pub line: Option<String>,
    /// Station name stamped on every record [default: the host name]
    #[arg(
        long,
        global = true,
        env = "PACKWRIGHT_STATION",
        help_heading = "Global options"
    )]
    pub station: Option<String>,
    /// Operator stamped on every record: on a database with registered operators, the
    /// operator's id or badge (with a PIN or station token); else any name [default: the login
    /// name]
    #[arg(
        long,
        global = true,
        env = "PACKWRIGHT_OPERATOR",
        help_heading = "Global options"
    )]
    pub operator: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show and check pack profiles
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Import graded cells and list the inventory
    #[command(subcommand)]
    Cells(cells::CellsCommand),
    /// List and show packs; release, scrap and rework them
    #[command(subcommand)]
    Packs(packs::PacksCommand),
    /// Match available cells into balanced packs for a profile
    Match(match_cmd::MatchArgs),
    /// Talk to a pack's BMS: decode frames, read it live, write and verify its configuration
    #[command(subcommand)]
    Bms(bms::BmsCommand),
    /// Run a simulated BMS on a pseudo-terminal (jbd, daly) or a CAN interface
    Sim(sim::SimArgs),
    /// Measure: the matcher against baselines, the serial configuration write, several writers
    /// on one database
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The operator console (full-screen; keyboard and barcode scanner)
    Console(console::ConsoleArgs),
    /// The console on a demo line: generated inventory, simulated BMS boards, temporary database
    Demo(console::DemoArgs),
    /// Record a CAN bus to a candump log, and decode such logs
    #[command(subcommand)]
    Can(can::CanCommand),
    /// Place scanned cells into a matched pack in slot order; codes the pack when complete
    Assemble(assemble::AssembleArgs),
    /// End-of-line test: run a pack's plan on the bench, report its runs
    #[command(subcommand)]
    Eol(eol::EolCommand),
    /// Lineage of a pack, a source module or a cell, from either end
    Trace(trace::TraceArgs),
    /// Pack labels (ZPL II): print to a network printer, a file or a spool command; their log
    #[command(subcommand)]
    Label(label::LabelCommand),
    /// The line database: its stations, their last contact, and packs by stage
    #[command(subcommand)]
    Line(line::LineCommand),
    /// Move records between databases: a station's SQLite file into the line database
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Operators and roles: first-run setup, add, list, block, unblock, set-role, tokens
    #[command(subcommand)]
    Operators(operators::OperatorsCommand),
    /// The audit trail: verify its hash chain, anchor a station file's head on the line database, export it (CSV, JSON)
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// What every command may need: where the database is and who is working.
pub struct Context {
    pub db: PathBuf,
    pub actor: Actor,
    /// This station's role and line, for the line database's station registry.
    pub role: Option<String>,
    pub line: Option<String>,
    /// The signature meaning of a signed decision, once [`login::gate`] has had the PIN given
    /// again: carried by every connection the command opens.
    pub signature: Option<String>,
}

impl Context {
    pub fn from_cli(cli: &Cli) -> Context {
        let station = cli.station.clone().unwrap_or_else(hostname);
        let operator = cli
            .operator
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "operator".into());
        Context {
            db: cli.db.clone().unwrap_or_else(crate::store::default_path),
            actor: Actor { station, operator },
            role: cli.station_role.clone(),
            line: cli.line.clone(),
            signature: None,
        }
    }

    /// Open the database for a command that writes: a line database (`postgres://…`), or a
    /// SQLite file created if it does not exist (said once on stderr).
    pub fn open_store(&self) -> anyhow::Result<crate::store::DynStore> {
        if crate::store::is_url(&self.db) {
            let store = crate::store::open_station(&self.db, &self.station_info())?;
            self.sign(&*store)?;
            return Ok(store);
        }
        let new = !self.db.exists();
        let store = Store::open(&self.db)?;
        self.sign(&store)?;
        if new {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("packwright: created a new database {}", self.db.display())
            });
        }
        Ok(Box::new(store))
    }

    /// Open the database for a command that only reads: a SQLite file that does not exist is
    /// an error (exit 4), never created.
    pub fn open_existing_store(&self) -> anyhow::Result<crate::store::DynStore> {
        let store = if crate::store::is_url(&self.db) {
            crate::store::open_station(&self.db, &self.station_info())?
        } else {
            crate::store::open_existing(&self.db)?
        };
        self.sign(&*store)?;
        Ok(store)
    }

    /// Carry the command's signature (if any) on a connection.
    fn sign(&self, store: &dyn crate::store::LineStore) -> anyhow::Result<()> {
        if self.signature.is_some() {
            store.set_signature(self.signature.as_deref())?;
        }
        Ok(())
    }

    /// What this station says of itself to the line database.
    pub fn station_info(&self) -> crate::store::StationInfo<'_> {
        crate::store::StationInfo {
            actor: &self.actor,
            role: self.role.as_deref(),
            line: self.line.as_deref(),
        }
    }

    /// This station, for the line services (which write: the database is created here if it
    /// does not exist yet, and said so).
    pub fn station(&self) -> crate::services::Station {
        if crate::store::is_url(&self.db) {
            // The station's role and line go to the registry here; the services' own
            // connections only renew its contact.
            let _ = self.open_store();
        } else if !self.db.exists() {
            // The service's own open would create it silently; a failure shows there.
            let _ = self.open_store();
        }
        crate::services::Station {
            db: self.db.clone(),
            actor: self.actor.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// A service's refusal or failure, with the exit code its kind calls for.
pub fn service_error(e: crate::services::ServiceError) -> anyhow::Error {
    anyhow::Error::from(e)
}

/// The exit code for an error, from its type. A database or environment error anywhere in
/// the chain wins (a locked database is not bad input, whoever reported it); then a code a
/// call site marked; then the kind of the first typed error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    use crate::services::ServiceError;
    use crate::store::StoreError;
    fn store_kind(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
        let mut cur = Some(e);
        while let Some(c) = cur {
            if let Some(s) = c.downcast_ref::<StoreError>() {
                return Some(match s {
                    StoreError::Conflict(_) | StoreError::NotFound(_) => EXIT_BAD_INPUT,
                    _ => EXIT_STORE,
                });
            }
            if let Some(coded) = c.downcast_ref::<Coded>() {
                if let Some(k) = store_kind(coded.error.as_ref()) {
                    return Some(k);
                }
            }
            cur = c.source();
        }
        None
    }
    if let Some(EXIT_STORE) = store_kind(e.as_ref()) {
        return EXIT_STORE;
    }
    // SQLite's own error, reached without a StoreError around it: the file or the machine.
    if file_problem(e.as_ref()).is_some() {
        return EXIT_STORE;
    }
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if let Some(s) = cause.downcast_ref::<ServiceError>() {
            return match s {
                ServiceError::Refused(_) | ServiceError::NotFound(_) | ServiceError::Profile(_) => {
                    EXIT_BAD_INPUT
                }
                ServiceError::Device(_) => EXIT_DEVICE,
                ServiceError::Store(_) => EXIT_STORE,
            };
        }
        if let Some(b) = cause.downcast_ref::<crate::bms::BmsError>() {
            if b.is_communication() {
                return EXIT_DEVICE;
            }
        }
    }
    EXIT_BAD_INPUT
}

/// The error as one message: each cause once (a cause whose text the message already
/// carries is not repeated).
pub fn error_message(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "station".into())
}

/// The version of every `--json` document's layout; raised when a document changes
/// incompatibly.
pub const JSON_VERSION: u32 = 1;

/// Print a value as a pretty JSON document on stdout: an object carrying `"schema"`
/// (`packwright.<schema>`) and `"version"` keys. A value that is not an object (a list) goes
/// under `"items"`. Floating-point numbers are rounded to 6 decimals (every measured value
/// here is far coarser), so float noise like `0.23200000000000004` never shows.
pub fn print_json<T: serde::Serialize>(schema: &str, value: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json_document(schema, value)?)?
    );
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// [`print_json`] for a document too large to build as a tree first (a match of a million
/// cells: 62,500 packs): `value` must serialize as a struct. Its keys follow `schema` and
/// `version` in the struct's own order (not sorted, as `print_json`'s are); floats are rounded
/// the same way, as they are written; the text goes to stdout through a buffer as it is made.
pub fn print_json_streamed<T: serde::Serialize>(schema: &str, value: &T) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[derive(serde::Serialize)]
    struct Document<'a, T> {
        schema: String,
        version: u32,
        #[serde(flatten)]
        value: &'a T,
    }
    let doc = Document {
        schema: format!("packwright.{schema}"),
        version: JSON_VERSION,
        value,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, RoundingPretty::default());
    serde::Serialize::serialize(&doc, &mut ser)?;
    out.write_all(b"\n")?;
    out.flush()?;
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// serde_json's pretty layout, with floats rounded to 6 decimals as [`round_floats`] does.
#[derive(Default)]
struct RoundingPretty(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for RoundingPretty {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        let r = (v * 1e6).round() / 1e6;
        self.0.write_f64(w, if r.is_finite() { r } else { v })
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Whether this run printed its `--json` document already (a failure that printed its report,
/// such as a configuration write that did not verify, prints no second document).
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The document [`print_json`] prints.
pub fn json_document<T: serde::Serialize>(
    schema: &str,
    value: &T,
) -> anyhow::Result<serde_json::Value> {
    use serde_json::{Map, Value};
    let mut value = serde_json::to_value(value)?;
    round_floats(&mut value);
    let mut doc = Map::new();
    doc.insert("schema".into(), Value::from(format!("packwright.{schema}")));
    doc.insert("version".into(), Value::from(JSON_VERSION));
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k != "schema" && k != "version" {
                    doc.insert(k, v);
                }
            }
        }
        other => {
            doc.insert("items".into(), other);
        }
    }
    Ok(Value::Object(doc))
}

/// Round every float in a JSON value to 6 decimals.
fn round_floats(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                let r = (f * 1e6).round() / 1e6;
                if let Some(num) = serde_json::Number::from_f64(r) {
                    *n = num;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// The database file's problem anywhere in an error's chain, looking inside [`Coded`] too.
fn file_problem(e: &(dyn std::error::Error + 'static)) -> Option<FileProblem> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(p) = crate::store::file_problem(c) {
            return Some(p);
        }
        if let Some(coded) = c.downcast_ref::<Coded>() {
            if let Some(p) = file_problem(coded.error.as_ref()) {
                return Some(p);
            }
        }
        cur = c.source();
    }
    None
}

/// The one message for an error that is the database's or the environment's (exit 4): says
/// what is wrong in words and names the database file.
fn store_message(e: &anyhow::Error, db: &std::path::Path, message: String) -> String {
    // A line database's URL is named without its password.
    let path = if crate::store::is_url(db) {
        crate::store::shown_url(&db.to_string_lossy())
    } else {
        db.display().to_string()
    };
    let said = match file_problem(e.as_ref()) {
        Some(FileProblem::Locked) => Some(format!(
            "the database {path} is locked: another program kept writing to it for longer than this one waits ({} ms; PACKWRIGHT_BUSY_TIMEOUT_MS)",
            crate::store::busy_timeout().as_millis()
        )),
        Some(FileProblem::Damaged) => Some(format!(
            "the database {path} is damaged or not a Packwright database (SQLite: {message})"
        )),
        Some(FileProblem::ReadOnly) => Some(format!(
            "the database {path} cannot be written (read-only file, folder or medium): {message}"
        )),
        Some(FileProblem::CannotOpen) => Some(format!(
            "cannot open the database {path} (missing folder or no permission): {message}"
        )),
        Some(FileProblem::DiskFull) => Some(format!("the disk holding the database {path} is full")),
        _ => None,
    };
    match said {
        Some(said) => said,
        None if message.contains(&path.to_string()) => message,
        None => format!("the database {path}: {message}"),
    }
}

/// Whether this run asked for `--json` (so an error is a JSON document too).
fn json_requested() -> bool {
    std::env::args_os().any(|a| a == "--json")
}

/// Whether a command only reads and prints (or prints after its one write is committed), so
/// a closed stdout may end it at once. Commands that talk to devices or run a test keep
/// SIGPIPE ignored: a closed pipe must not cut a configuration write or a test run short.
fn ends_on_closed_pipe(command: &Command) -> bool {
    matches!(
        command,
        Command::Profile(_)
            | Command::Cells(_)
            | Command::Packs(_)
            | Command::Match(_)
            | Command::Trace(_)
            | Command::Line(_)
            | Command::Audit(_)
            | Command::Label(
                label::LabelCommand::History { .. } | label::LabelCommand::Print { zpl: true, .. }
            )
            | Command::Eol(eol::EolCommand::Report(_))
            | Command::Bms(bms::BmsCommand::Decode(_) | bms::BmsCommand::Writes(_))
            | Command::Can(can::CanCommand::Replay(_))
    )
}

/// Run the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if ends_on_closed_pipe(&cli.command) {
        // A closed stdout ends a listing quietly, as for any Unix filter (see the module doc).
        // SAFETY: called before any thread is started; SIG_DFL is always a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let mut ctx = Context::from_cli(&cli);
    if crate::store::is_url(&ctx.db) && !matches!(cli.command, Command::Sim(_)) {
        // A station on the line database sends what it queued before anything else.
        forward_backlog(&ctx);
    }
    let explicit = cli.operator.is_some();
    match login::gate(&cli.command, &mut ctx, explicit).and_then(|()| run(cli.command, &ctx)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = exit_code(&e);
            let mut message = error_message(&e);
            if code == EXIT_STORE {
                message = store_message(&e, &ctx.db, message);
                if line_unreachable(&e) {
                    if let Some(note) = line_down_note(&ctx) {
                        message = format!("{note}: {message}");
                    }
                }
            }
            eprintln!("error: {message}");
            if json_requested() && !JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
                let doc = serde_json::json!({
                    "schema": "packwright.error", "version": JSON_VERSION,
                    "error": message, "exit_code": code,
                });
                println!("{doc}");
            }
            ExitCode::from(code)
        }
    }
}

/// Forward this station's queued records to the line database, in order; said on stderr
/// when something was sent, or stays queued.
fn forward_backlog(ctx: &Context) {
    let path = crate::store::outbox_path();
    let url = ctx.db.to_string_lossy();
    let forwarded = crate::store::Forwarder::open_existing(&path, &url, &ctx.actor.station)
        .and_then(|f| match f {
            Some(mut f) => f
                .forward_now()
                .and_then(|done| Ok(Some((done, f.backlog()?)))),
            None => Ok(None),
        });
    match forwarded {
        Ok(Some((done, backlog))) => {
            if done.sent > 0 {
                eprintln!(
                    "packwright: forwarded {} queued record(s) to the line database",
                    done.sent
                );
            }
            if done.refused > 0 || backlog.refused > 0 {
                eprintln!(
                    "packwright: the line database refused {} queued record(s); they are kept with the reason in the outbox {}",
                    backlog.refused,
                    path.display()
                );
            }
            if let (Some(why), true) = (done.unreachable, backlog.queued > 0) {
                eprintln!(
                    "packwright: {why}; {} record(s) stay queued in the outbox {}",
                    backlog.queued,
                    path.display()
                );
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!(
            "packwright: the station's outbox {} cannot be read: {e}",
            path.display()
        ),
    }
}

/// Whether the error is that the line database could not be reached.
fn line_unreachable(e: &anyhow::Error) -> bool {
    use crate::services::ServiceError;
    use crate::store::StoreError;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Unreachable { .. })
        ) || matches!(
            c.downcast_ref::<ServiceError>(),
            Some(ServiceError::Store(StoreError::Unreachable { .. }))
        ) || matches!(
            c.downcast_ref::<crate::services::bench::TestError>(),
            Some(crate::services::bench::TestError::Service(
                ServiceError::Store(StoreError::Unreachable { .. })
            ))
        ) || c
            .downcast_ref::<Coded>()
            .is_some_and(|coded| line_unreachable(&coded.error))
    })
}

/// "line database unreachable since 10:42 UTC; records queued: 37": since when this station
/// has not reached the line database (noted now if it had not been) and its backlog.
fn line_down_note(ctx: &Context) -> Option<String> {
    let f = crate::store::Forwarder::open(
        &crate::store::outbox_path(),
        &ctx.db.to_string_lossy(),
        &ctx.actor.station,
    )
    .ok()?;
    let since = f.note_unreachable().ok()?;
    let queued = f.backlog().ok()?.queued;
    // The stamp is RFC 3339 UTC: its hours and minutes.
    let hhmm = since.get(11..16).unwrap_or(&since);
    Some(format!(
        "line database unreachable since {hhmm} UTC; records queued: {queued}"
    ))
}

fn run(command: Command, ctx: &Context) -> anyhow::Result<u8> {
    match command {
        Command::Profile(cmd) => profile::run(cmd, ctx),
        Command::Cells(cmd) => cells::run(cmd, ctx),
        Command::Packs(cmd) => packs::run(cmd, ctx),
        Command::Match(args) => match_cmd::run(args, ctx),
        Command::Bms(cmd) => bms::run(cmd, ctx),
        Command::Sim(args) => sim::run(args, ctx),
        Command::Bench(cmd) => bench::run(cmd, ctx),
        Command::Console(args) => console::run_console(args, ctx),
        Command::Demo(args) => console::run_demo(args, ctx),
        Command::Can(cmd) => can::run(cmd, ctx),
        Command::Assemble(args) => assemble::run(args, ctx),
        Command::Eol(cmd) => eol::run(cmd, ctx),
        Command::Trace(args) => trace::run(args, ctx),
        Command::Label(cmd) => label::run(cmd, ctx),
        Command::Line(cmd) => line::run(cmd, ctx),
        Command::Db(cmd) => db::run(cmd, ctx),
        Command::Operators(cmd) => operators::run(cmd, ctx),
        Command::Audit(cmd) => audit::run(cmd, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_documents_carry_schema_version_and_rounded_floats() {
        let doc =
            json_document("cells.show", &serde_json::json!({"v": 0.1 + 0.132, "n": 3})).unwrap();
        assert_eq!(doc["schema"], "packwright.cells.show");
        assert_eq!(doc["version"], JSON_VERSION);
        assert_eq!(doc["n"], 3);
        assert_eq!(doc.to_string().matches("0.232").count(), 1, "{doc}");
        assert!(!doc.to_string().contains("0.23200000000000004"), "{doc}");
        let list = json_document("cells.list", &[1.5, 2.0]).unwrap();
        assert_eq!(list["items"], serde_json::json!([1.5, 2.0]));
    }

    #[test]
    fn a_database_error_anywhere_exits_4() {
        let e = input_error(crate::store::locked_error());
        assert_eq!(exit_code(&e), EXIT_STORE);
        let msg = store_message(&e, std::path::Path::new("/x/line.db"), error_message(&e));
        assert!(
            msg.contains("/x/line.db") && msg.contains("locked"),
            "{msg}"
        );
    }
}
