//! `packwright console` (the operator console on the line) and `packwright demo` (the same
//! console on a demo line with a generated inventory and simulated boards).

use super::{device_error, input_error, Context, EXIT_OK};
use crate::device::PortSpec;
use crate::store::StationRecords;
use crate::tui::theme::Theme;
use crate::tui::Options;
use clap::Args;
use packwright_protocol::ProtocolKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the console looks and listens; shared by `console` and `demo`.
#[derive(Debug, Args)]
pub struct Display {
    /// Plain ASCII borders and bars (PuTTY, Linux console, fonts without box drawing)
    #[arg(long)]
    pub ascii: bool,
    /// No colour at all (also when NO_COLOR is set)
    #[arg(long)]
    pub no_color: bool,
    /// Longest pause between two characters of one barcode scan, in milliseconds
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub scan_gap_ms: u64,
    /// Live BMS readings per second at most
    #[arg(long, default_value_t = 5.0, value_name = "HZ")]
    pub refresh_hz: f64,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Profile to start with [default: the one used last, else the first listed]
    #[arg(long)]
    pub profile: Option<String>,
    /// A serial port with a BMS, as DEVICE:PROTOCOL (jbd, daly, jk-pb, pace-485), or DEVICE
    /// alone to detect the board when the console starts (remembered per port); repeat for more
    #[arg(long = "port", value_name = "DEVICE[:PROTOCOL]")]
    pub ports: Vec<String>,
    /// A CAN interface with a BMS, as IFACE or IFACE:PROTOCOL (pylontech, daly-can, jbd-can);
    /// repeat for more
    #[arg(long = "can", value_name = "IFACE[:PROTOCOL]")]
    pub cans: Vec<String>,
    /// CAN interface wired to the pack's inverter port, for the test's inverter step
    #[arg(long, value_name = "IFACE")]
    pub inverter_can: Option<String>,
    /// Label printer for the Assemble screen: tcp:HOST:PORT (raw, port 9100 when left off),
    /// file:PATH, or cmd:COMMAND (the job on its stdin)
    #[arg(long, value_name = "PRINTER", value_parser = parse_printer)]
    pub printer: Option<crate::label::PrinterTarget>,
    /// Log file [default: the user's state folder, packwright/console.log]
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub display: Display,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of graded cells in the demo inventory
    #[arg(long, default_value_t = 96)]
    pub cells: usize,
    /// Seed of the generated inventory (same seed, same cells)
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated BMS boards on the bench
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub boards: u8,
    /// The family of the simulated boards: jbd, jk-pb or pace-485 (the demo pack's profile
    /// follows: lfp-15s1p-100ah, lfp-15s1p-jk-100ah or lfp-15s1p-pace-100ah)
    #[arg(long, default_value = "jbd", value_parser = parse_bms)]
    pub bms: ProtocolKind,
    #[command(flatten)]
    pub display: Display,
}

fn parse_printer(s: &str) -> Result<crate::label::PrinterTarget, String> {
    s.parse()
}

fn parse_bms(text: &str) -> Result<ProtocolKind, String> {
    ProtocolKind::parse(text)
        .filter(|p| {
            matches!(
                p,
                ProtocolKind::Jbd | ProtocolKind::JkPb | ProtocolKind::Pace
            )
        })
        .ok_or_else(|| format!("'{text}': the demo simulates jbd, jk-pb or pace-485 boards"))
}

/// A `--port`/`--can` as given: its protocol named, or a serial port whose board the console
/// detects when it starts.
#[derive(Debug, Clone, PartialEq)]
enum PortArg {
    Given(PortSpec),
    Detect(String),
}

/// `NAME` or `NAME:PROTOCOL`; `serial` says which kind of protocol the option takes. A serial
/// `NAME` alone is detected; a CAN `NAME` alone is Pylontech.
fn parse_port(text: &str, serial: bool) -> anyhow::Result<PortArg> {
    let option = if serial { "--port" } else { "--can" };
    let (port, protocol) = match text.rsplit_once(':') {
        Some((p, proto)) if !p.is_empty() => (
            p,
            ProtocolKind::parse(proto)
                .ok_or_else(|| anyhow::anyhow!("{option} {text}: unknown protocol '{proto}'"))?,
        ),
        _ if serial => return Ok(PortArg::Detect(text.to_string())),
        _ => (text, ProtocolKind::Pylontech),
    };
    if protocol.is_serial() != serial {
        let kind = if serial {
            "a serial protocol (jbd, daly, jk-pb, pace-485)"
        } else {
            "a CAN protocol (pylontech, daly-can, jbd-can)"
        };
        anyhow::bail!("{option} {text}: {protocol} is not {kind}");
    }
    Ok(PortArg::Given(PortSpec::new(port, protocol)))
}

/// The board on `port`, for a `--port` given without a protocol (`services::bench::
/// board_on_port`): said on stderr before the console takes the terminal; refused when nothing
/// answers and nothing was found there before, saying what to do.
fn detect_port(ctx: &Context, port: &str) -> anyhow::Result<PortSpec> {
    use crate::services::bench::{board_on_port, BoardOnPort};
    eprintln!("packwright: detecting the board on {port} (read-only probes, a few seconds)…");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime
        .block_on(board_on_port(&ctx.station(), port))
        .map_err(super::service_error)?
    {
        BoardOnPort::Detected { spec, board } => {
            eprintln!(
                "packwright: board detected on {port}: {} at {} baud{}{} ({} cells)",
                board.protocol,
                board.baud,
                board
                    .address
                    .map(|a| format!(", address {a}"))
                    .unwrap_or_default(),
                board
                    .model
                    .as_deref()
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default(),
                board.cells
            );
            Ok(spec)
        }
        BoardOnPort::Remembered(spec) => {
            eprintln!(
                "packwright: no board answers on {port} now; using {} as detected there before",
                spec.protocol
            );
            Ok(spec)
        }
        BoardOnPort::Nothing { probes, refused } => Err(input_error(anyhow::anyhow!(
            "no board found on {port} ({probes} probes{}): connect the pack's BMS and start \
             again, or name its protocol: --port {port}:jbd (or daly, jk-pb, pace-485)",
            refused.map(|r| format!("; {r}")).unwrap_or_default()
        ))),
    }
}

fn options(ctx: &Context, display: &Display, log: PathBuf) -> anyhow::Result<Options> {
    if !(display.refresh_hz > 0.0 && display.refresh_hz <= 50.0) {
        return Err(input_error(anyhow::anyhow!(
            "--refresh-hz {} must be above 0 and at most 50",
            display.refresh_hz
        )));
    }
    Ok(Options {
        db: ctx.db.clone(),
        actor: ctx.actor.clone(),
        profile: None,
        theme: Theme::from_env(display.no_color, display.ascii),
        scan_gap: Duration::from_millis(display.scan_gap_ms),
        log_file: log,
        ports: Vec::new(),
        refresh: Duration::from_secs_f64(1.0 / display.refresh_hz),
        inverter_can: None,
        demo: false,
        bench: None,
        printer: None,
    })
}

fn default_log() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("packwright")
        .join("console.log")
}

pub fn run_console(args: ConsoleArgs, ctx: &Context) -> anyhow::Result<u8> {
    let log = args.log.clone().unwrap_or_else(default_log);
    let mut opts = options(ctx, &args.display, log)?;
    opts.profile = args.profile;
    let given: Vec<PortArg> = args
        .ports
        .iter()
        .map(|p| parse_port(p, true))
        .chain(args.cans.iter().map(|c| parse_port(c, false)))
        .collect::<anyhow::Result<_>>()
        .map_err(input_error)?;
    for arg in given {
        opts.ports.push(match arg {
            PortArg::Given(spec) => spec,
            PortArg::Detect(port) => detect_port(ctx, &port)?,
        });
    }
    opts.inverter_can = args.inverter_can;
    opts.printer = args.printer;
    crate::tui::run(opts)?;
    Ok(EXIT_OK)
}

pub fn run_demo(args: DemoArgs, ctx: &Context) -> anyhow::Result<u8> {
    // The demo registers its demo operator on its own database and logs the console in as
    // that operator itself (no PIN typed); the console's first screen says so (nothing is
    // printed before it: the terminal belongs to the console until it ends).
    let files = crate::demo::create(&ctx.actor, args.cells, args.seed).map_err(input_error)?;
    let mut demo_ctx = Context {
        db: files.db.clone(),
        actor: ctx.actor.clone(),
        role: None,
        line: None,
        signature: None,
    };
    demo_ctx.actor.station = format!("{} (demo)", ctx.actor.station);
    demo_ctx.actor.operator = crate::demo::OPERATOR.to_string();
    let said = format!(
        "demo: logged in automatically as the demo operator '{}' (role operator; PIN {} \
         unlocks the console after idling)",
        crate::demo::OPERATOR,
        crate::demo::OPERATOR_PIN
    );
    crate::store::Store::open(&files.db)?.log_event(&demo_ctx.actor, "info", &said)?;
    let mut opts = options(&demo_ctx, &args.display, files.log.clone())?;
    opts.profile = Some(
        crate::demo::profile_for(args.bms)
            .map_err(input_error)?
            .to_string(),
    );
    opts.demo = true;
    // The demo line's label printer is a file beside its database.
    opts.printer = Some(crate::label::PrinterTarget::File(
        files.dir.join("label.zpl"),
    ));
    let boards = Arc::new(
        crate::demo::DemoBoards::start(&files.dir, args.boards, args.seed, args.bms)
            .map_err(device_error)?,
    );
    opts.ports = boards.ports();
    opts.bench = Some(boards.clone());
    let result = crate::tui::run(opts);
    // The boards' runtime must end here, outside the console's.
    drop(boards);
    // Printed after the terminal is restored, so it stays on the screen.
    println!("demo database: {}", files.db.display());
    println!("console log:   {}", files.log.display());
    println!("last label:    {}", files.dir.join("label.zpl").display());
    result?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_with_and_without_protocol() {
        assert_eq!(
            parse_port("/dev/ttyUSB0", true).unwrap(),
            PortArg::Detect("/dev/ttyUSB0".into())
        );
        assert_eq!(
            parse_port("/dev/ttyUSB1:daly", true).unwrap(),
            PortArg::Given(PortSpec::new("/dev/ttyUSB1", ProtocolKind::Daly))
        );
        let err = parse_port("/dev/x:pylontech", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a serial protocol"), "{err}");
        assert_eq!(
            parse_port("vcan0", false).unwrap(),
            PortArg::Given(PortSpec::new("vcan0", ProtocolKind::Pylontech))
        );
        let err = parse_port("can0:jbd", false).unwrap_err().to_string();
        assert!(err.contains("not a CAN protocol"), "{err}");
        let err = parse_port("can0:nope", false).unwrap_err().to_string();
        assert!(err.contains("unknown protocol 'nope'"), "{err}");
    }
}
