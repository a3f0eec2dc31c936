//! `packwright can log IFACE FILE` and `packwright can replay FILE`: record a bus in candump's
//! log format, and decode such a log (ours or candump's) offline.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use packwright_protocol::can::pylontech::VoltageScale;
use packwright_protocol::can::{self, parse_log_line, CanFrame, DecodeOptions, Decoded};
use packwright_protocol::daly::CurrentSign;
use packwright_protocol::ProtocolKind;

use super::{device_error, input_error, Context, EXIT_OK};
use crate::can_dbc::DbcDecoder;
use crate::device::can::{BusConfig, BusEvent, BusStatus, CanBus};

#[derive(Debug, Subcommand)]
pub enum CanCommand {
    /// Record every frame on an interface to a file in candump log format
    Log(LogArgs),
    /// Decode a candump log file (from `can log` or `candump -l`)
    Replay(ReplayArgs),
    /// Read a pack live through a DBC file (a BMS whose CAN frames are not built in)
    Read(DbcReadArgs),
}

#[derive(Debug, Args)]
pub struct DbcReadArgs {
    /// CAN interface, e.g. can0 or vcan0
    pub iface: String,
    /// The DBC file
    #[arg(long, required_unless_present = "profile", conflicts_with = "profile")]
    pub dbc: Option<PathBuf>,
    /// Take the DBC file the profile names (`bms.dbc`)
    #[arg(long)]
    pub profile: Option<String>,
    /// How long to wait for every mapped signal
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// CAN interface, e.g. can0 or vcan0
    pub iface: String,
    /// Log file; appended to if it exists
    pub file: PathBuf,
    /// Stop after this many frames
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds
    #[arg(long)]
    pub seconds: Option<f64>,
}

/// The CAN protocols a frame can be decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CanProtocol {
    Pylontech,
    DalyCan,
    JbdCan,
}

impl From<CanProtocol> for ProtocolKind {
    fn from(p: CanProtocol) -> ProtocolKind {
        match p {
            CanProtocol::Pylontech => ProtocolKind::Pylontech,
            CanProtocol::DalyCan => ProtocolKind::DalyCan,
            CanProtocol::JbdCan => ProtocolKind::JbdCan,
        }
    }
}

/// Scaling choices for packs that depart from their protocol's documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ScaleArg {
    /// Pylontech's 0.01 V
    #[default]
    Centivolt,
    /// 0.1 V, as some "compatible" packs send (Discover AES)
    Decivolt,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SignArg {
    /// raw current above 30000 means discharge (documented boards)
    #[default]
    AboveOffsetDischarges,
    /// raw current above 30000 means charge (firmware with the inverted sign)
    AboveOffsetCharges,
}

/// The scaling options every CAN decoding command takes.
#[derive(Debug, Clone, Copy, Args)]
pub struct ScalingArgs {
    /// Step of the Pylontech 0x356 pack voltage
    #[arg(long, value_enum, default_value_t = ScaleArg::Centivolt)]
    pub voltage_scale: ScaleArg,
    /// Direction of the Daly current offset
    #[arg(long, value_enum, default_value_t = SignArg::AboveOffsetDischarges)]
    pub current_sign: SignArg,
}

impl ScalingArgs {
    pub fn options(&self) -> DecodeOptions {
        DecodeOptions {
            voltage_scale: match self.voltage_scale {
                ScaleArg::Centivolt => VoltageScale::Centivolt,
                ScaleArg::Decivolt => VoltageScale::Decivolt,
            },
            current_sign: match self.current_sign {
                SignArg::AboveOffsetDischarges => CurrentSign::AboveOffsetDischarges,
                SignArg::AboveOffsetCharges => CurrentSign::AboveOffsetCharges,
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// candump log file: lines like `(1436509052.249713) vcan0 351#0102030405060708`
    pub file: PathBuf,
    /// Decode with this protocol [default: by id: 0x305/0x35x Pylontech, 0x100-0x114 JBD
    /// CAN, 0x18xxxxxx Daly CAN]
    #[arg(long, value_enum, conflicts_with = "dbc")]
    pub protocol: Option<CanProtocol>,
    /// Decode through this DBC file instead
    #[arg(long)]
    pub dbc: Option<PathBuf>,
    /// One JSON object per frame on stdout
    #[arg(long)]
    pub json: bool,
    /// Print only the summary (frames, decoded, errors, frames/s)
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub scaling: ScalingArgs,
}

pub fn run(cmd: CanCommand, _ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        CanCommand::Log(args) => log(args),
        CanCommand::Replay(args) => replay(args),
        CanCommand::Read(args) => dbc_read(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn log(args: LogArgs) -> anyhow::Result<u8> {
    if let Some(s) = args.seconds {
        if !(s.is_finite() && s > 0.0) {
            return Err(input_error(anyhow::anyhow!(
                "--seconds must be a positive number, got {s}"
            )));
        }
    }
    // A log that failed to start leaves no file behind (an empty file would pass for a quiet
    // bus); a file that was there before is not ours to remove.
    let file = args.file.clone();
    let existed = file.exists();
    let result = log_to_file(args);
    if result.is_err() && !existed {
        let _ = std::fs::remove_file(&file);
    }
    result
}

fn log_to_file(args: LogArgs) -> anyhow::Result<u8> {
    let rt = runtime()?;
    rt.block_on(async move {
        let mut cfg = BusConfig::new(&args.iface);
        cfg.log = Some(args.file.clone());
        let (bus, mut events) = CanBus::open(cfg).map_err(input_error)?;
        // The first status says whether the interface is there at all.
        let first = bus
            .wait_for(Duration::from_secs(2), |s| *s != BusStatus::Opening)
            .await
            .unwrap_or_else(|s| s);
        if !first.is_usable() {
            bus.close().await;
            return Err(device_error(anyhow::anyhow!("{}: {first}", args.iface)));
        }
        eprintln!("logging {} to {}", args.iface, args.file.display());
        let deadline = args
            .seconds
            .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
        let mut n = 0u64;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            if args.count.is_some_and(|c| n >= c) {
                break;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(BusEvent::Frame(_)) => n += 1,
                    Some(BusEvent::Status(s)) => eprintln!("{}: {s}", args.iface),
                    None => break,
                },
                _ = sleep => break,
                _ = &mut ctrl_c => break,
            }
        }
        bus.close().await;
        eprintln!("logged {n} frames to {}", args.file.display());
        Ok(EXIT_OK)
    })
}

fn dbc_read(args: DbcReadArgs) -> anyhow::Result<u8> {
    let path = match (&args.dbc, &args.profile) {
        (Some(p), _) => p.clone(),
        (None, Some(name)) => {
            let profile = crate::profile::Profile::load(name).map_err(input_error)?;
            profile.bms.dbc.clone().ok_or_else(|| {
                input_error(anyhow::anyhow!(
                    "profile {name} names no DBC file (bms.dbc)"
                ))
            })?
        }
        (None, None) => {
            return Err(input_error(anyhow::anyhow!(
                "give --dbc FILE or --profile NAME"
            )))
        }
    };
    let decoder = DbcDecoder::load(&path).map_err(input_error)?;
    let rt = runtime()?;
    let snapshot = rt.block_on(async {
        let mut cfg = BusConfig::new(&args.iface);
        cfg.filters = decoder
            .ids()
            .into_iter()
            .map(|(id, ext)| crate::device::can::IdFilter::exact(id, ext))
            .collect();
        let (bus, mut events) = CanBus::open(cfg).map_err(input_error)?;
        let mut state = crate::can_dbc::DbcState::default();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(args.timeout_ms);
        let result = loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) | Ok(None) => {
                    let missing: Vec<String> = decoder
                        .missing(&state)
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    break Err(device_error(anyhow::anyhow!(
                        "{}: within {} ms through {}: not received: {} (bus {})",
                        args.iface,
                        args.timeout_ms,
                        decoder.origin(),
                        missing.join(", "),
                        bus.status()
                    )));
                }
                Ok(Some(BusEvent::Status(s))) if !s.is_usable() && s != BusStatus::Opening => {
                    break Err(device_error(anyhow::anyhow!("{}: {s}", args.iface)));
                }
                Ok(Some(BusEvent::Status(_))) => {}
                Ok(Some(BusEvent::Frame(r))) => {
                    decoder.apply(&mut state, &r.frame).map_err(input_error)?;
                    if let Ok(s) = decoder.snapshot(&state) {
                        break Ok(s);
                    }
                }
            }
        };
        bus.close().await;
        result
    })?;
    if args.json {
        super::print_json("can.read", &snapshot)?;
    } else {
        println!("pack voltage   {} V", snapshot.pack_voltage_v);
        println!("current        {} A (+ charging)", snapshot.current_a);
        if let Some(soc) = snapshot.soc_pct {
            println!("SOC            {soc} %");
        }
        let cells: Vec<String> = snapshot
            .cell_voltages_mv
            .iter()
            .map(u32::to_string)
            .collect();
        println!(
            "cells ({})      {} mV",
            snapshot.cell_count,
            cells.join(" ")
        );
        let temps: Vec<String> = snapshot.temperatures_c.iter().map(f64::to_string).collect();
        println!("temperatures   {} °C", temps.join(" "));
    }
    Ok(EXIT_OK)
}

/// Tries the protocols in turn; the id ranges do not overlap, so at most one decodes.
fn decode_any(frame: &CanFrame, options: DecodeOptions) -> Result<Decoded, String> {
    let mut reasons = Vec::new();
    for p in [
        ProtocolKind::Pylontech,
        ProtocolKind::JbdCan,
        ProtocolKind::DalyCan,
    ] {
        match can::decode_with(p, frame, options) {
            Ok(d) => return Ok(d),
            Err(can::DecodeError::UnknownId { .. } | can::DecodeError::WrongIdKind { .. }) => {}
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(if reasons.is_empty() {
        format!("frame {frame} belongs to none of pylontech, jbd-can, daly-can")
    } else {
        reasons.join("; ")
    })
}

fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))
        .map_err(input_error)?;
    let dbc = match &args.dbc {
        Some(path) => Some(DbcDecoder::load(path).map_err(input_error)?),
        None => None,
    };
    let options = args.scaling.options();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let started = Instant::now();
    let (mut frames, mut decoded, mut errors) = (0u64, 0u64, 0u64);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = parse_log_line(line)
            .map_err(|e| input_error(anyhow::anyhow!("{}:{}: {e}", args.file.display(), i + 1)))?;
        frames += 1;
        let result: Result<serde_json::Value, String> = match (&dbc, args.protocol) {
            (Some(dbc), _) => match dbc.decode(&entry.frame) {
                None => Err(format!("frame {} is not in {}", entry.frame, dbc.origin())),
                Some(r) => r
                    .map_err(|e| e.to_string())
                    .and_then(|m| serde_json::to_value(m).map_err(|e| e.to_string())),
            },
            (None, Some(p)) => can::decode_with(p.into(), &entry.frame, options)
                .map_err(|e| e.to_string())
                .and_then(|d| serde_json::to_value(d).map_err(|e| e.to_string())),
            (None, None) => decode_any(&entry.frame, options)
                .and_then(|d| serde_json::to_value(d).map_err(|e| e.to_string())),
        };
        match &result {
            Ok(_) => decoded += 1,
            Err(_) => errors += 1,
        }
        if args.quiet {
            continue;
        }
        let stamp = format!("{}.{:06}", entry.secs, entry.micros);
        if args.json {
            let obj = match result {
                Ok(v) => serde_json::json!({
                    "timestamp": stamp, "interface": entry.interface,
                    "frame": entry.frame.to_string(), "decoded": v,
                }),
                Err(e) => serde_json::json!({
                    "timestamp": stamp, "interface": entry.interface,
                    "frame": entry.frame.to_string(), "error": e,
                }),
            };
            // One document per line (JSON Lines), each with its schema and version.
            writeln!(out, "{}", super::json_document("can.frame", &obj)?)?;
        } else {
            let what = match result {
                Ok(v) => compact(&v),
                Err(e) => format!("error: {e}"),
            };
            writeln!(
                out,
                "({stamp}) {} {:<26} {what}",
                entry.interface,
                entry.frame.to_string()
            )?;
        }
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{frames} frames, {decoded} decoded, {errors} not decodable, in {secs:.3} s ({:.0} frames/s)",
        frames as f64 / secs.max(1e-9)
    );
    Ok(EXIT_OK)
}

/// `key=value` pairs of a decoded frame, nested objects flattened, for the text output.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_protocol_decodes_by_id_range() {
        let o = DecodeOptions::default();
        let p = decode_any(&can::parse_frame("355#58005E00").unwrap(), o).unwrap();
        assert!(matches!(p, Decoded::Pylontech(_)));
        let j = decode_any(&can::parse_frame("104#").unwrap(), o).unwrap();
        assert!(matches!(j, Decoded::JbdCan(_)));
        let d = decode_any(&can::parse_frame("18900140#0000000000000000").unwrap(), o).unwrap();
        assert!(matches!(d, Decoded::DalyCan(_)));
        let err = decode_any(&can::parse_frame("7FF#00").unwrap(), o).unwrap_err();
        assert_eq!(
            err,
            "frame 7FF#00 belongs to none of pylontech, jbd-can, daly-can"
        );
        let err = decode_any(&can::parse_frame("351#00").unwrap(), o).unwrap_err();
        assert!(err.contains("expected 8"), "{err}");
    }

    #[test]
    fn compact_lists_fields() {
        let v = serde_json::json!({"frame": "soc_soh", "soc_pct": 88});
        assert_eq!(compact(&v), "frame=soc_soh soc_pct=88");
    }
}
