//! `packwright sim`: a simulated BMS for tests, demos and operator training.
//!
//! Serial protocols run on a pseudo-terminal: its path is the first line on stdout (and again
//! after every simulated unplug), `--link PATH` keeps a stable symlink to it. CAN protocols
//! run on a CAN interface (`--iface`). Stops on Ctrl-C or SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use packwright_protocol::jbd::Pin;
use packwright_protocol::ProtocolKind;

use super::bms::SignArg;
use super::{device_error, input_error, Context, EXIT_OK};
use crate::chemistry::Chemistry;
use crate::sim::daly::{DalyBoard, DalyConfig};
use crate::sim::jbd::{JbdBoard, JbdConfig};
use crate::sim::jk_pb::{JkPbConfig, JkPbLine};
use crate::sim::mixed::MixedLine;
use crate::sim::pace::{PaceConfig, PaceLine};
use crate::sim::pty::{self, FaultCounts, Faults, Rng, SimOptions};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// jbd, daly, jk-pb or pace-485 (pseudo-terminal); pylontech, daly-can or jbd-can (CAN interface)
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: ProtocolKind,
    /// Cells in series
    #[arg(long, default_value_t = 16)]
    pub cells: usize,
    #[arg(long, default_value = "LFP")]
    pub chemistry: Chemistry,
    /// Keep a symlink to the pseudo-terminal at this path
    #[arg(long)]
    pub link: Option<PathBuf>,
    /// Fault on request (repeatable, or comma-separated): drop=P, corrupt=P, junk=P, split,
    /// delay=MS, sleep[=IDLE_MS], nostore=REG[+REG], nopersist=REG[+REG], disconnect=N[:MS],
    /// overvoltage=CELL; CAN: missing=ID[+ID], wrong-scaling, stale=SECONDS
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Baud rate the replies are paced at (10 bits per byte); default: the protocol's own
    /// (9600, jk-pb 115200)
    #[arg(long)]
    pub baud: Option<u32>,
    /// The board's think time per request
    #[arg(long, default_value_t = 10)]
    pub turnaround_ms: u64,
    /// JBD software version byte, e.g. 0x20; 0x21 and later have no PIN command
    #[arg(long, default_value = "0x20", value_parser = parse_byte)]
    pub firmware: u8,
    /// JBD: a PIN the client must give before factory mode
    #[arg(long)]
    pub pin: Option<String>,
    /// Model string (JBD 0x05 / Daly 0x63)
    #[arg(long)]
    pub model: Option<String>,
    /// Temperature sensors
    #[arg(long)]
    pub sensors: Option<usize>,
    #[arg(long, default_value_t = 100.0)]
    pub capacity_ah: f64,
    /// Daly: boards on the RS485 line (board n answers 0x3F+n); jk-pb: boards at consecutive
    /// addresses from --address
    #[arg(long, default_value_t = 1)]
    pub boards: u8,
    /// jk-pb: the first board's Modbus address (1-15; 0 would make it the bus master);
    /// pace-485: the first pack's ADR (0-15). Further boards (--boards) follow. Default 1 for
    /// jk-pb, 0 for pace-485
    #[arg(long)]
    pub address: Option<u8>,
    /// jk-pb: also a Pace v25 pack at this ADR on the same line (a line of mixed packs)
    #[arg(long)]
    pub also_pace: Option<u8>,
    /// Daly: how this firmware signs the current
    #[arg(long, value_enum, default_value = "above-offset-discharges")]
    pub current_sign: SignArg,
    /// Seed for the faults and the live values (default: from the clock)
    #[arg(long)]
    pub seed: Option<u64>,
    /// CAN interface for the CAN protocols (e.g. vcan0)
    #[arg(long, visible_alias = "can")]
    pub iface: Option<String>,
}

fn parse_protocol(s: &str) -> Result<ProtocolKind, String> {
    ProtocolKind::parse(s).ok_or_else(|| format!("unknown protocol '{s}'"))
}

fn parse_byte(s: &str) -> Result<u8, String> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => t.parse(),
    }
    .map_err(|_| format!("'{s}' is not a byte (e.g. 0x20 or 32)"))
}

pub fn run(args: SimArgs, _ctx: &Context) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the simulator runtime")?;
    if !args.protocol.is_serial() {
        return rt.block_on(run_can(args));
    }
    let mut faults = Faults::default();
    for spec in &args.faults {
        faults
            .add(spec)
            .map_err(|e| input_error(anyhow::anyhow!("--fault: {e}")))?;
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut rng = Rng::new(seed);
    let opts = SimOptions {
        baud: args.baud.unwrap_or(args.protocol.default_baud()),
        turnaround: Duration::from_millis(args.turnaround_ms),
        link: args.link.clone(),
        faults: faults.clone(),
        seed,
    };
    let link = args.link.clone();
    let describe = format!(
        "{} {}S {} board{}{}",
        args.protocol,
        args.cells,
        args.chemistry,
        if args.faults.is_empty() {
            String::new()
        } else {
            format!(", faults {}", args.faults.join(","))
        },
        link.as_ref()
            .map(|l| format!(", linked at {}", l.display()))
            .unwrap_or_default()
    );
    let announce = move |path: &str| {
        println!("{path}");
        let _ = std::io::stdout().flush();
        eprintln!("sim: {describe} on {path}");
    };
    let counts = FaultCounts::default();
    let result = match args.protocol {
        ProtocolKind::Jbd => {
            let mut cfg = JbdConfig::new(args.cells, args.chemistry);
            cfg.firmware = args.firmware;
            cfg.capacity_ah = args.capacity_ah;
            if let Some(m) = &args.model {
                cfg.model = m.clone();
            }
            if let Some(n) = args.sensors {
                cfg.ntc = n;
            }
            cfg.pin = args
                .pin
                .as_deref()
                .map(Pin::parse)
                .transpose()
                .map_err(|e| input_error(anyhow::anyhow!("--pin: {e}")))?;
            cfg.on_save = Some(|| eprintln!("sim: saved the factory session"));
            let board = JbdBoard::new(cfg, &faults, &mut rng)
                .map_err(|e| input_error(anyhow::anyhow!(e)))?;
            rt.block_on(until_stopped(pty::serve_counting(
                board, opts, &counts, announce,
            )))
        }
        ProtocolKind::JkPb => {
            let mut cfg = JkPbConfig::new(args.cells, args.chemistry);
            cfg.capacity_ah = args.capacity_ah;
            cfg.boards = args.boards;
            cfg.first_address = args.address.unwrap_or(1);
            if let Some(m) = &args.model {
                cfg.model = m.clone();
            }
            if let Some(n) = args.sensors {
                cfg.sensors = n;
            }
            let line = JkPbLine::new(cfg, &faults, &mut rng)
                .map_err(|e| input_error(anyhow::anyhow!(e)))?;
            match args.also_pace {
                None => rt.block_on(until_stopped(pty::serve_counting(
                    line, opts, &counts, announce,
                ))),
                Some(adr) => {
                    let mut pcfg = PaceConfig::new(args.cells, args.chemistry);
                    pcfg.capacity_ah = args.capacity_ah;
                    pcfg.first_address = adr;
                    if let Some(n) = args.sensors {
                        pcfg.sensors = n;
                    }
                    let pace = PaceLine::new(pcfg, &faults, &mut rng)
                        .map_err(|e| input_error(anyhow::anyhow!(e)))?;
                    let mixed = MixedLine { jk: line, pace };
                    rt.block_on(until_stopped(pty::serve_counting(
                        mixed, opts, &counts, announce,
                    )))
                }
            }
        }
        ProtocolKind::Pace => {
            let mut cfg = PaceConfig::new(args.cells, args.chemistry);
            cfg.capacity_ah = args.capacity_ah;
            cfg.packs = args.boards;
            cfg.first_address = args.address.unwrap_or(0);
            if let Some(m) = &args.model {
                cfg.model = m.clone();
            }
            if let Some(n) = args.sensors {
                cfg.sensors = n;
            }
            let line = PaceLine::new(cfg, &faults, &mut rng)
                .map_err(|e| input_error(anyhow::anyhow!(e)))?;
            rt.block_on(until_stopped(pty::serve_counting(
                line, opts, &counts, announce,
            )))
        }
        _ => {
            let mut cfg = DalyConfig::new(args.cells, args.chemistry);
            cfg.capacity_ah = args.capacity_ah;
            cfg.boards = args.boards;
            cfg.sign = args.current_sign.into();
            if let Some(m) = &args.model {
                cfg.model = m.clone();
            }
            if let Some(n) = args.sensors {
                cfg.sensors = n;
            }
            let board = DalyBoard::new(cfg, &faults, &mut rng)
                .map_err(|e| input_error(anyhow::anyhow!(e)))?;
            rt.block_on(until_stopped(pty::serve_counting(
                board, opts, &counts, announce,
            )))
        }
    };
    if let Some(l) = &link {
        let _ = std::fs::remove_file(l);
    }
    // What the tests read to prove a fault they asked for was injected.
    eprintln!("sim: faults injected: {}", counts.summary());
    result.map_err(device_error)?;
    Ok(EXIT_OK)
}

/// Run the simulator until Ctrl-C or SIGTERM.
async fn until_stopped(
    serve: impl std::future::Future<Output = Result<(), pty::SimError>>,
) -> Result<(), pty::SimError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = serve => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminated => Ok(()),
    }
}

async fn run_can(args: SimArgs) -> anyhow::Result<u8> {
    use crate::sim::can::{self, CanSimConfig, SimPack};
    let Some(iface) = args.iface.as_deref() else {
        return Err(input_error(anyhow::anyhow!(
            "--iface is needed to simulate {} (a CAN interface such as vcan0)",
            args.protocol
        )));
    };
    let mut cfg = CanSimConfig::new(iface, args.protocol);
    cfg.pack = SimPack::lfp(args.cells);
    // CAN faults: missing=ID[+ID], wrong-scaling, stale=SECONDS.
    for spec in &args.faults {
        cfg.faults
            .add(spec)
            .map_err(|e| input_error(anyhow::anyhow!("--fault: {e}")))?;
    }
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    eprintln!("sim: {} {}S on {iface}", args.protocol, args.cells);
    let stats = can::run(cfg, stop).await.map_err(device_error)?;
    eprintln!("sim: stopped after {} frames", stats.frames_sent);
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_parse_in_hex_or_decimal() {
        assert_eq!(parse_byte("0x21"), Ok(0x21));
        assert_eq!(parse_byte("32"), Ok(32));
        assert!(parse_byte("0x123").is_err());
    }
}
