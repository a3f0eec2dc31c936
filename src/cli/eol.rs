//! `packwright eol run` and `packwright eol report`: the end-of-line test, headless.
//!
//! `run` prints each measurement as soon as it is committed to the database (so whatever was
//! shown survives a kill), takes manual values from `--answers` or standard input, and exits
//! 0 pass, 1 fail, 3 error or aborted, 2 when the run may not start (bad input, a pack whose
//! cells lack traceability data). Ctrl-C, SIGTERM and SIGHUP end the run as aborted, on the
//! record, after the board's test settings are put back.

use super::{
    device_error, input_error, packs, print_json, Context, EXIT_DEVICE, EXIT_OK, EXIT_VERIFY_FAILED,
};
use crate::bms::BmsHandle;
use crate::device::can::bms::{self as can_bms, CanBmsConfig};
use crate::device::serial::{self, SerialConfig};
use crate::domain::Pack;
use crate::eol::answers::Answers;
use crate::eol::judge::{Outcome, RunOutcome};
use crate::eol::plan::{MeasurementSpec, Step};
use crate::eol::process_alive;
use crate::eol::record::{self, Measurement, RunDocument};
use crate::eol::runner::{Operator, Reply, RunEvent, Timing};
use crate::services::bench;
use crate::services::PackKey;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use packwright_protocol::ProtocolKind;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum EolCommand {
    /// Run the profile's end-of-line test plan against an assembled pack on the bench
    Run(RunArgs),
    /// Show a pack's test runs (every attempt), as text, JSON documents or CSV
    Report(ReportArgs),
}

fn parse_protocol(s: &str) -> Result<ProtocolKind, String> {
    ProtocolKind::parse(s).ok_or_else(|| {
        format!(
            "unknown protocol '{s}'; known: {}",
            ProtocolKind::ALL.map(|p| p.name()).join(", ")
        )
    })
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pack, by code or number
    #[arg(long)]
    pub pack: String,
    /// Serial port of the BMS (USB-UART / RS485 adapter)
    #[arg(long, required_unless_present = "can")]
    pub port: Option<String>,
    /// CAN interface: the BMS when no --port is given, else the pack's inverter port
    #[arg(long)]
    pub can: Option<String>,
    /// BMS protocol [default: the profile's serial protocol, or its CAN protocol with --can only]
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Option<ProtocolKind>,
    /// TOML or JSON file with the manual measurements (see `eol::answers`); missing ones are
    /// asked on standard input
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Print the run's JSON document at the end (progress goes to standard error)
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the BMS link before giving up
    #[arg(long, default_value_t = 5.0)]
    pub connect_timeout: f64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The pack, by code or number
    pub pack: String,
    /// Only this run
    #[arg(long)]
    pub run: Option<i64>,
    /// One JSON document per run (an array, or one object with --run)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// One CSV row per measurement
    #[arg(long)]
    pub csv: bool,
}

pub fn run(cmd: EolCommand, ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        EolCommand::Run(args) => run_plan(args, ctx),
        EolCommand::Report(args) => report(args, ctx),
    }
}

fn measurement_line(m: &Measurement) -> String {
    let tag = match m.outcome {
        Outcome::Pass => "pass",
        Outcome::Skipped => "skip",
        Outcome::Fail => "FAIL",
        Outcome::Error => "ERROR",
    };
    let value = m.value_text();
    let mut line = format!(
        "  {tag:<5} {}/{} = {value}  [{}]",
        m.step_id,
        m.name,
        m.limit.describe(&m.unit)
    );
    if let Some(r) = &m.reason {
        line.push_str(": ");
        line.push_str(r);
    }
    line
}

/// Manual values from the answers file, then from standard input, one line per value.
struct Headless {
    answers: Answers,
    stdin_closed: bool,
}

impl Headless {
    async fn line(&mut self, prompt: String) -> Reply {
        if self.stdin_closed {
            return Reply::NoAnswer("standard input is closed".into());
        }
        let read = tokio::task::spawn_blocking(move || {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map(|n| (n, line))
        })
        .await;
        match read {
            Ok(Ok((0, _))) => {
                self.stdin_closed = true;
                Reply::NoAnswer("standard input is closed".into())
            }
            Ok(Ok((_, line))) if line.trim().eq_ignore_ascii_case("quit") => Reply::Quit,
            Ok(Ok((_, line))) => Reply::Text(line.trim().to_string()),
            Ok(Err(e)) => Reply::NoAnswer(format!("cannot read standard input: {e}")),
            Err(e) => Reply::NoAnswer(format!("cannot read standard input: {e}")),
        }
    }
}

impl Operator for Headless {
    async fn ask(&mut self, step: &Step, spec: &MeasurementSpec, refused: Option<&str>) -> Reply {
        if refused.is_none() {
            if let Some(a) = self.answers.get(&step.id, &spec.name) {
                return Reply::Text(a.to_string());
            }
        }
        let limit = spec
            .limit()
            .map(|l| l.describe(&spec.unit))
            .unwrap_or_default();
        let mut prompt = String::new();
        if let Some(r) = refused {
            prompt.push_str(&format!("  not accepted: {r}\n"));
        }
        prompt.push_str(&format!(
            "{}: {}\n  {} [{limit}] (or 'quit'): ",
            step.title,
            step.prompt.as_deref().unwrap_or(""),
            spec.name
        ));
        self.line(prompt).await
    }

    async fn confirm(&mut self, instruction: &str) -> Reply {
        self.line(format!(
            "{instruction}; press Enter when done (or 'quit'): "
        ))
        .await
    }
}

/// Wait for the link to come up; the reason if it does not.
async fn connected(handle: &BmsHandle, within: Duration) -> Result<(), String> {
    let mut status = handle.watch_status();
    let up = match tokio::time::timeout(within, status.wait_for(|s| s.is_connected())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("the device task stopped".to_string()),
        Err(_) => Err(handle.status().to_string()),
    };
    up
}

/// The store, with this station's orphaned runs marked aborted, and the pack named by `key`.
fn open_for_pack(ctx: &Context, key: &str) -> anyhow::Result<(crate::store::DynStore, Pack)> {
    let mut store = ctx.open_existing_store()?;
    store.abort_orphaned_eol_runs(&ctx.actor.station, &process_alive)?;
    let pack = packs::find(&*store, key)?;
    Ok((store, pack))
}

fn run_plan(args: RunArgs, ctx: &Context) -> anyhow::Result<u8> {
    // The pack's profile decides the protocol unless one is given; the service checks that a
    // given one is the profile's.
    let (store, pack) = open_for_pack(ctx, &args.pack)?;
    // A held, released or scrapped pack is refused before any device is opened.
    crate::services::packs::testable(&pack).map_err(input_error)?;
    let profile = packs::profile_of(&*store, &pack)?;
    drop(store);
    let answers = match &args.answers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read answers file {}", path.display()))
                .map_err(input_error)?;
            Answers::parse(&path.display().to_string(), &text, &profile.eol).map_err(input_error)?
        }
        None => Answers::default(),
    };
    let protocol = match (&args.port, args.protocol) {
        (_, Some(p)) => p,
        (Some(_), None) => profile.bms.protocol,
        (None, None) => profile
            .bms
            .can_protocol
            .with_context(|| {
                format!(
                    "profile {} names no CAN protocol; give --protocol",
                    profile.name
                )
            })
            .map_err(input_error)?,
    };
    if args.port.is_some() && !protocol.is_serial() {
        return Err(input_error(anyhow::anyhow!(
            "--protocol {protocol} is a CAN protocol; a serial port speaks jbd or daly"
        )));
    }
    if args.port.is_none() && protocol.is_serial() {
        return Err(input_error(anyhow::anyhow!(
            "--protocol {protocol} is spoken over a serial port; with --can give pylontech, daly-can or jbd-can"
        )));
    }
    bench::check_protocol(&profile, protocol).map_err(input_error)?;
    let station = ctx.station();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = args.json;
    rt.block_on(async move {
        let (bms, inverter_can) = match &args.port {
            Some(port) => (
                serial::spawn(SerialConfig::new(port, protocol)).map_err(device_error)?,
                args.can.clone(),
            ),
            None => {
                let iface = args.can.clone().unwrap_or_default();
                (
                    can_bms::spawn(CanBmsConfig::new(&iface, protocol)).map_err(device_error)?,
                    None,
                )
            }
        };
        connected(&bms, Duration::from_secs_f64(args.connect_timeout.max(0.1)))
            .await
            .map_err(|why| {
                device_error(anyhow::anyhow!(
                    "no link to the BMS on {}: {why}",
                    bms.port()
                ))
            })?;
        let mut operator = Headless {
            answers,
            stdin_closed: false,
        };
        // Ctrl-C, SIGTERM, SIGHUP: the run ends as aborted and its test settings go back; a
        // second signal forces the exit (the journal then restores them on the next command).
        let abort_rx = super::stop_switch();
        let label = pack.label();
        let mut print = |e: RunEvent| {
            let line = match e {
                RunEvent::Started { run_id, transport } => format!(
                    "EOL run {run_id}: pack {label} ({}), plan {}, over {transport}, operator {} at {}",
                    profile.name,
                    profile.eol.plan_version,
                    ctx.actor.operator,
                    ctx.actor.station
                ),
                RunEvent::Step(step) => format!("{} ({})", step.title, step.id),
                RunEvent::Measured(m) => measurement_line(m),
                RunEvent::Finished(s) => format!(
                    "{} pack {label} (run {}){}",
                    s.outcome.as_str().to_uppercase(),
                    s.run_id,
                    s.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            };
            // Flushed line by line: what is shown has been committed.
            // A closed output (`| head`) must not end the run: the record is what counts.
            if json {
                let _ = writeln!(std::io::stderr(), "{line}");
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            }
        };
        let request = bench::TestRequest {
            pack: PackKey::Id(pack.id),
            link: bench::BenchLink { bms, inverter_can },
            operator: &mut operator,
            abort: abort_rx,
            timing: Timing::default(),
        };
        let summary = match bench::test_pack(&station, request, |_, _| {}, &mut print).await {
            Ok(s) => s,
            Err(e @ bench::TestError::Refused(_)) => return Err(input_error(e)),
            Err(bench::TestError::Service(e)) => return Err(super::service_error(e)),
        };
        for line in &summary.restored {
            eprintln!("{line}");
        }
        if json {
            let store = ctx.open_store()?;
            let header = store
                .eol_run(summary.run_id)?
                .with_context(|| format!("run {} vanished", summary.run_id))?;
            let measurements = store.eol_measurements(summary.run_id)?;
            print_json("eol.run", &RunDocument::new(&header, &measurements))?;
        }
        Ok(match summary.outcome {
            RunOutcome::Pass => EXIT_OK,
            RunOutcome::Fail => EXIT_VERIFY_FAILED,
            RunOutcome::Error | RunOutcome::Aborted | RunOutcome::Running => EXIT_DEVICE,
        })
    })
}

fn report(args: ReportArgs, ctx: &Context) -> anyhow::Result<u8> {
    let (store, pack) = open_for_pack(ctx, &args.pack)?;
    let mut runs = store.eol_runs_for_pack(pack.id)?;
    if let Some(id) = args.run {
        runs.retain(|r| r.id == id);
        if runs.is_empty() {
            return Err(input_error(anyhow::anyhow!(
                "pack {} has no test run {id}",
                pack.label()
            )));
        }
    }
    let mut full = Vec::with_capacity(runs.len());
    for r in runs {
        let ms = store.eol_measurements(r.id)?;
        full.push((r, ms));
    }
    if args.csv {
        print!("{}", record::to_csv(&full)?);
    } else if args.json {
        let docs: Vec<RunDocument> = full.iter().map(|(r, ms)| RunDocument::new(r, ms)).collect();
        match (args.run, docs.as_slice()) {
            (Some(_), [one]) => print_json("eol.run", one)?,
            _ => print_json("eol.runs", &docs)?,
        }
    } else {
        if full.is_empty() {
            println!("pack {}: no end-of-line runs", pack.label());
        }
        for (r, ms) in &full {
            println!(
                "run {} of pack {}: {} — plan {}, {} to {}, by {} at {}, over {}, software {}",
                r.id,
                pack.label(),
                r.outcome.as_str().to_uppercase(),
                r.plan_version,
                r.started_at,
                r.ended_at.as_deref().unwrap_or("-"),
                r.operator,
                r.station,
                r.transport,
                r.software_version
            );
            if let Some(reason) = &r.reason {
                println!("  reason: {reason}");
            }
            for m in ms {
                println!("{}", measurement_line(m));
            }
        }
    }
    Ok(EXIT_OK)
}
