//! `packwright bms …`: decode frames, read a board live, read or write (and prove) its
//! configuration, switch its FETs or set its SOC, and list the write log. (The timed write is
//! `packwright bench serial`.)
//!
//! Exit codes: 0 done, 1 verification failed (read-back or persistence mismatch, a switch
//! that did not take), 2 bad input, 3 device or communication error.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use packwright_protocol::daly::{self, CurrentSign};
use packwright_protocol::framing::{parse_hex, to_hex};
use packwright_protocol::jbd::{self, CapacityUnit, Pin};
use packwright_protocol::{BmsSnapshot, ProtocolKind};

use super::{
    device_error, input_error, print_json, service_error, Context, EXIT_OK, EXIT_VERIFY_FAILED,
};
use crate::bms::config::{self, ConfigPlan, SessionOptions, Wire};
use crate::bms::BmsHandle;
use crate::device::serial::{self, SerialConfig};
use crate::profile::{Profile, ProfileError};
use crate::services::bench;
use crate::store::{FieldRecord, WriteAttempt, WriteOutcome};
use crate::text::printable;

#[derive(Debug, Subcommand)]
pub enum BmsCommand {
    /// Decode frames given in hex, one frame per argument (spaces allowed inside); CAN
    /// protocols take candump notation (ID#DATA)
    Decode(DecodeArgs),
    /// Read a board live: voltages, current, cells, temperatures, protection, FETs
    Read(ReadArgs),
    /// Read or write the BMS configuration of a profile (JBD, JK PB, Pace)
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Switch the FETs or set the state of charge, and check it took
    Set(SetArgs),
    /// List the configuration-write log, newest first
    Writes(WritesArgs),
    /// Find which board is on a serial port: listen, then read-only probes (the profile's
    /// protocol first); prints protocol, baud, address, model, firmware and serial
    Detect(DetectArgs),
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Serial port (/dev/ttyUSB0, a simulator's pty or link)
    #[arg(long)]
    pub port: String,
    /// The profile of the pack on the bench: its protocol is asked first, and a board is
    /// accepted only with the profile's cell count
    #[arg(long)]
    pub profile: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn parse_protocol(s: &str) -> Result<ProtocolKind, String> {
    ProtocolKind::parse(s).ok_or_else(|| {
        let known: Vec<&str> = ProtocolKind::ALL.iter().map(|p| p.name()).collect();
        format!("unknown protocol '{s}'; known: {}", known.join(", "))
    })
}

/// Daly current sign as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignArg {
    /// raw current above 30000 means discharge (documented boards)
    AboveOffsetDischarges,
    /// raw current above 30000 means charge (firmware with the inverted sign)
    AboveOffsetCharges,
}

impl From<SignArg> for CurrentSign {
    fn from(s: SignArg) -> CurrentSign {
        match s {
            SignArg::AboveOffsetDischarges => CurrentSign::AboveOffsetDischarges,
            SignArg::AboveOffsetCharges => CurrentSign::AboveOffsetCharges,
        }
    }
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// jbd, daly, pylontech, daly-can or jbd-can
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: ProtocolKind,
    /// Daly current sign (default: raw above 30000 means discharge)
    #[arg(long, value_enum)]
    pub current_sign: Option<SignArg>,
    /// The frames
    #[arg(required = true)]
    pub frames: Vec<String>,
}

/// How to reach a board; shared by every command that talks to one.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    /// Serial port (/dev/ttyUSB0, a simulator's pty or link) or CAN interface (can0)
    #[arg(long, visible_alias = "can")]
    pub port: String,
    /// jbd, daly, jk-pb, pace-485, pylontech, daly-can or jbd-can
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: ProtocolKind,
    /// Daly: board number on the RS485 line (1 → 0x40, 2 → 0x41, …) or a host address in
    /// hex (0x40 RS485, 0x80 UART). JK PB: the Modbus address (1-15). Pace: the pack
    /// address (0-15). Daly CAN: the BMS address.
    #[arg(long)]
    pub address: Option<String>,
    /// Line speed; default: the protocol's own (9600, jk-pb 115200)
    #[arg(long)]
    pub baud: Option<u32>,
    /// Reply timeout per attempt, beyond the bytes' wire time
    #[arg(long, default_value_t = 300)]
    pub timeout_ms: u64,
    /// Attempts per request (sleeping JBD boards drop the first frame)
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Daly current sign (default: inferred from the charge state the board reports)
    #[arg(long, value_enum)]
    pub current_sign: Option<SignArg>,
    /// JBD: capacity and current in 100 mA units (0x2D bit 12), for boards that do not say so
    #[arg(long)]
    pub unit_x10: bool,
}

/// A Daly `--address`: board number (decimal) or raw host address (hex).
fn daly_address(text: &str) -> anyhow::Result<u8> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let a = u8::from_str_radix(hex, 16)
            .map_err(|_| input_error(anyhow::anyhow!("--address {t}: not a hex byte")))?;
        if !daly::is_request_address(a) {
            return Err(input_error(anyhow::anyhow!(
                "--address {t}: not a Daly host address (0x40-0x7E for RS485 boards, 0x80 UART, 0x20)"
            )));
        }
        return Ok(a);
    }
    let board: u8 = t.parse().map_err(|_| {
        input_error(anyhow::anyhow!(
            "--address {t}: expected a board number (1-63) or a hex address like 0x40"
        ))
    })?;
    daly::board_address(board).map_err(|e| input_error(anyhow::anyhow!("--address {t}: {e}")))
}

impl LinkArgs {
    /// Start the device task for this link on the current runtime.
    fn open(&self) -> anyhow::Result<BmsHandle> {
        if self.protocol.is_serial() {
            let mut cfg = SerialConfig::new(&self.port, self.protocol);
            cfg.baud = self.baud.unwrap_or(self.protocol.default_baud());
            cfg.timeout = Duration::from_millis(self.timeout_ms);
            cfg.attempts = self.attempts.max(1);
            cfg.current_sign = self.current_sign.map(Into::into);
            cfg.jbd_unit = self.unit_x10.then_some(CapacityUnit::HundredMilli);
            if let Some(a) = &self.address {
                match self.protocol {
                    ProtocolKind::Daly => cfg.daly_address = daly_address(a)?,
                    ProtocolKind::Pace => {
                        cfg.pace_address =
                            a.trim().parse().ok().filter(|n| *n <= 15).ok_or_else(|| {
                                input_error(anyhow::anyhow!("--address {a}: expected 0-15"))
                            })?;
                    }
                    ProtocolKind::JkPb => {
                        let n: u8 = a.trim().parse().map_err(|_| {
                            input_error(anyhow::anyhow!("--address {a}: expected 1-15"))
                        })?;
                        cfg.jk_address = packwright_protocol::jk_pb::check_address(n)
                            .map_err(|e| input_error(anyhow::anyhow!("--address {a}: {e}")))?;
                    }
                    _ => {
                        return Err(input_error(anyhow::anyhow!(
                            "--address: JBD has no addresses (one board per serial line)"
                        )))
                    }
                }
            }
            return serial::spawn(cfg).map_err(input_error);
        }
        let mut cfg = crate::device::can::bms::CanBmsConfig::new(&self.port, self.protocol);
        cfg.timeout = cfg.timeout.max(Duration::from_millis(self.timeout_ms));
        cfg.retries = self.attempts.saturating_sub(1);
        if let Some(sign) = self.current_sign {
            cfg.options.current_sign = sign.into();
        }
        if let Some(a) = &self.address {
            cfg.bms_address = a
                .parse()
                .map_err(|_| input_error(anyhow::anyhow!("--address {a}: expected a number")))?;
        }
        crate::device::can::bms::spawn(cfg).map_err(device_error)
    }
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read the board's configuration (factory mode, left without saving) and compare it
    /// with a profile: exit 1 if any register differs
    Read(ConfigArgs),
    /// Write a profile's configuration, read it back, save, and re-read to prove it stuck
    Write(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Profile name or path (config read without one lists every register; config write takes
    /// the pack's own profile, and this only with --no-pack)
    #[arg(long)]
    pub profile: Option<String>,
    /// The pack (code or number) whose board this is: its profile is written and its code
    /// stored in the board
    #[arg(long)]
    pub pack: Option<String>,
    /// With --pack: the same. With --no-pack: a code to store in the board's barcode register
    #[arg(long)]
    pub barcode: Option<String>,
    /// Write --profile to a board that belongs to no pack (logged as such)
    #[arg(long, conflicts_with = "pack")]
    pub no_pack: bool,
    /// Six-digit PIN for boards that have one set (firmware before 0x21)
    #[arg(long)]
    pub pin: Option<String>,
    /// Print the plan and send nothing
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// Charge FET: on (allowed) or off
    #[arg(long, value_enum)]
    pub charge_fet: Option<OnOff>,
    /// Discharge FET: on (allowed) or off
    #[arg(long, value_enum)]
    pub discharge_fet: Option<OnOff>,
    /// State of charge in percent (Daly)
    #[arg(long)]
    pub soc: Option<f64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct WritesArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: BmsCommand, ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        BmsCommand::Decode(args) => decode(args),
        BmsCommand::Read(args) => runtime()?.block_on(read(args)),
        BmsCommand::Config(ConfigCommand::Read(args)) => {
            runtime()?.block_on(config_read(args, ctx))
        }
        BmsCommand::Config(ConfigCommand::Write(args)) => config_write(args, ctx),
        BmsCommand::Set(args) => runtime()?.block_on(set(args, ctx)),
        BmsCommand::Writes(args) => writes(args, ctx),
        BmsCommand::Detect(args) => runtime()?.block_on(detect(args)),
    }
}

async fn detect(args: DetectArgs) -> anyhow::Result<u8> {
    let profile = load_profile(args.profile.as_deref()).map_err(input_error)?;
    let d = crate::bms::detect::detect(&args.port, profile.as_ref()).await;
    if d.found.is_empty() {
        let mut why = format!(
            "nothing found on {}: no board answered {} read-only probe(s) plausibly",
            args.port,
            d.probed.len()
        );
        for r in &d.refused {
            why.push_str(&format!("; {r}"));
        }
        for h in &d.heard {
            why.push_str(&format!("; heard {h}"));
        }
        if d.cut_short {
            why.push_str("; the scan stopped at its time bound");
        }
        return Err(device_error(anyhow::anyhow!(why)));
    }
    if args.json {
        print_json("bms.detect", &d)?;
        return Ok(EXIT_OK);
    }
    for h in &d.heard {
        println!("heard unasked  {h}");
    }
    for f in &d.found {
        let text = |v: &Option<String>| -> String {
            v.as_deref()
                .map_or_else(|| "-".to_string(), |t| printable(t).to_string())
        };
        println!(
            "found  {} at {} baud{}: model {}, firmware {}, serial {}, {} cells, {:.2} V",
            f.protocol,
            f.baud,
            f.address
                .map(|a| format!(", address {a}"))
                .unwrap_or_default(),
            text(&f.model),
            text(&f.firmware),
            text(&f.serial),
            f.cells,
            f.pack_voltage_v
        );
    }
    for r in &d.refused {
        println!("refused  {r}");
    }
    Ok(EXIT_OK)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the I/O runtime")
}

fn decode(args: DecodeArgs) -> anyhow::Result<u8> {
    let sign = args.current_sign.map(Into::into).unwrap_or_default();
    let mut bad = 0;
    for (i, text) in args.frames.iter().enumerate() {
        let decoded: Result<serde_json::Value, String> = decode_one(args.protocol, text, sign);
        match decoded {
            Ok(v) => println!("{}", serde_json::to_string(&v)?),
            Err(reason) => {
                bad += 1;
                eprintln!("frame {} ({}): invalid: {reason}", i + 1, text.trim());
            }
        }
    }
    if bad > 0 {
        return Err(input_error(anyhow::anyhow!(
            "{bad} of {} frame(s) invalid",
            args.frames.len()
        )));
    }
    Ok(EXIT_OK)
}

fn decode_one(
    protocol: ProtocolKind,
    text: &str,
    sign: CurrentSign,
) -> Result<serde_json::Value, String> {
    let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| e.to_string());
    match protocol {
        ProtocolKind::Jbd | ProtocolKind::Daly => {
            let bytes = parse_hex(text).map_err(|e| e.to_string())?;
            if protocol == ProtocolKind::Jbd {
                json(serde_json::to_value(
                    jbd::describe(&bytes).map_err(|e| e.to_string())?,
                ))
            } else {
                json(serde_json::to_value(
                    daly::describe(&bytes, sign).map_err(|e| e.to_string())?,
                ))
            }
        }
        ProtocolKind::JkPb => {
            let bytes = parse_hex(text).map_err(|e| e.to_string())?;
            packwright_protocol::family::describe(
                packwright_protocol::family::SerialFamily::JkPb,
                &bytes,
            )
        }
        ProtocolKind::Pace => packwright_protocol::family::describe(
            packwright_protocol::family::SerialFamily::Pace485,
            text.trim().as_bytes(),
        ),
        _ => {
            use packwright_protocol::can;
            let frame = can::notation::parse_frame(text.trim()).map_err(|e| e.to_string())?;
            let options = can::DecodeOptions {
                current_sign: sign,
                ..Default::default()
            };
            json(serde_json::to_value(
                can::decode_with(protocol, &frame, options).map_err(|e| e.to_string())?,
            ))
        }
    }
}

async fn read(args: ReadArgs) -> anyhow::Result<u8> {
    let handle = args.link.open()?;
    let snapshot = handle.read().await.map_err(device_error)?;
    if args.json {
        // When and where it was read, with what it read.
        let mut doc = serde_json::to_value(&snapshot)?;
        doc["read_at"] = crate::clock::Clock::from_env()?.stamp().into();
        doc["port"] = args.link.port.clone().into();
        doc["protocol"] = args.link.protocol.to_string().into();
        print_json("bms.read", &doc)?;
    } else {
        print_snapshot(&args.link, &snapshot);
    }
    Ok(EXIT_OK)
}

fn print_snapshot(link: &LinkArgs, s: &BmsSnapshot) {
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v} {unit}"));
    println!("{} on {}", link.protocol, link.port);
    if let Some(m) = &s.model {
        println!("model          {m}");
    }
    if let Some(f) = &s.firmware_version {
        println!("firmware       {f}");
    }
    println!(
        "pack voltage   {} V (cells sum {:.3} V)",
        s.pack_voltage_v,
        s.cell_sum_v()
    );
    println!("current        {} A (+ charging)", s.current_a);
    println!("SOC            {}", opt(s.soc_pct, "%"));
    println!(
        "capacity       {} of {}",
        opt(s.remaining_ah, "Ah"),
        opt(s.nominal_ah, "Ah")
    );
    if let Some(c) = s.cycles {
        println!("cycles         {c}");
    }
    let cells: Vec<String> = s.cell_voltages_mv.iter().map(|v| v.to_string()).collect();
    println!("cells ({})     {} mV", s.cell_count, cells.join(" "));
    if let Some(spread) = s.cell_spread_mv() {
        println!("cell spread    {spread} mV");
    }
    let temps: Vec<String> = s.temperatures_c.iter().map(|t| format!("{t}")).collect();
    println!("temperatures   {} °C", temps.join(" "));
    let fet = |f: Option<bool>| f.map_or("-", |on| if on { "on" } else { "off" });
    println!(
        "FETs           charge {}, discharge {}",
        fet(s.charge_fet),
        fet(s.discharge_fet)
    );
    println!(
        "protection     {}",
        if s.protection.is_empty() {
            "none".to_string()
        } else {
            packwright_protocol::protection_text(&s.protection)
        }
    );
    if !s.balancing_cells.is_empty() {
        println!("balancing      cells {:?}", s.balancing_cells);
    }
    if let Some(d) = &s.manufacture_date {
        println!("manufactured   {d}");
    }
}

/// Load the profile named on the command line; `None` when none was given.
fn load_profile(name: Option<&str>) -> Result<Option<Profile>, ProfileError> {
    name.map(Profile::load).transpose()
}

fn parse_pin(pin: Option<&str>) -> anyhow::Result<Option<Pin>> {
    pin.map(|p| Pin::parse(p).map_err(|e| input_error(anyhow::anyhow!("--pin: {e}"))))
        .transpose()
}

async fn config_read(args: ConfigArgs, ctx: &Context) -> anyhow::Result<u8> {
    if !config::configurable(args.link.protocol) {
        return Err(input_error(anyhow::anyhow!(
            "bms config works over jbd, jk-pb and pace-485: {} has no readable configuration registers",
            args.link.protocol
        )));
    }
    let profile = load_profile(args.profile.as_deref()).map_err(input_error)?;
    let plan = profile
        .as_ref()
        .map(|p| ConfigPlan::from_profile(p, args.barcode.as_deref()))
        .transpose()
        .map_err(input_error)?;
    let handle = args.link.open()?;
    if let Some(pin) = parse_pin(args.pin.as_deref())? {
        match handle
            .register(crate::bms::RegisterOp::UsePassword(pin))
            .await
        {
            Ok(_) | Err(crate::bms::BmsError::Rejected { status: 0x80, .. }) => {}
            Err(e) => return Err(device_error(e)),
        }
    }
    // Test settings an unfinished end-of-line test left on this board go back first.
    for line in bench::restore_board(&ctx.station(), &handle)
        .await
        .map_err(service_error)?
    {
        eprintln!("{line}");
    }
    let readings = config::read_config(&handle, plan.as_ref())
        .await
        .map_err(device_error)?;
    let mismatches = readings.iter().filter(|r| r.matches == Some(false)).count();
    if args.json {
        print_json(
            "bms.config",
            &serde_json::json!({ "registers": readings, "mismatches": mismatches }),
        )?;
    } else {
        for r in &readings {
            let mark = match r.matches {
                Some(true) => "ok  ",
                Some(false) => "DIFF",
                None => "    ",
            };
            let value = r
                .value
                .clone()
                .or_else(|| r.error.clone())
                .unwrap_or_default();
            let expected = r
                .expected
                .as_ref()
                .map(|e| format!("   (profile: {e})"))
                .unwrap_or_default();
            println!("{mark} {} {:<28} {value}{expected}", r.register, r.name);
        }
        if plan.is_some() {
            println!("{mismatches} register(s) differ from the profile");
        }
    }
    Ok(if mismatches > 0 {
        EXIT_VERIFY_FAILED
    } else {
        EXIT_OK
    })
}

fn config_write(args: ConfigArgs, ctx: &Context) -> anyhow::Result<u8> {
    let link = &args.link;
    let station = ctx.station();
    let pin = parse_pin(args.pin.as_deref())?;
    let opts = SessionOptions {
        pin,
        ..SessionOptions::default()
    };
    // Which board this is: a pack's (the usual case), or explicitly none.
    let pack = match (&args.pack, &args.barcode, args.no_pack) {
        (Some(p), _, _) => Some(p.clone()),
        (None, Some(code), false) => Some(code.clone()),
        (None, _, true) => None,
        (None, None, false) => {
            return Err(input_error(anyhow::anyhow!(
                "bms config write needs --pack CODE (the pack this board belongs to), or \
                 --no-pack --profile NAME for a board that belongs to no pack"
            )))
        }
    };
    let (profile, plan) = match &pack {
        Some(key) => {
            let store = ctx.open_store()?;
            let (pack, profile) = crate::services::pack_and_profile(
                &*store,
                &crate::services::PackKey::Text(key.clone()),
            )
            .map_err(service_error)?;
            if let Some(drift) =
                crate::services::packs::profile_drift(&*store, &pack).map_err(service_error)?
            {
                eprintln!("note: {drift}");
            }
            // A pack that may not be configured (on hold, say) is refused before the port is
            // opened; the refusal is logged like any other.
            if let Err(e) = bench::configurable(&pack) {
                if !args.dry_run {
                    bench::log_pack_refusal(
                        &station,
                        pack.code.as_deref(),
                        &link.port,
                        link.protocol,
                        &profile.name,
                        &e.to_string(),
                    )
                    .map_err(service_error)?;
                }
                return Err(service_error(e));
            }
            if let Some(named) = args.profile.as_deref() {
                if Profile::load(named).map(|p| p.name).ok().as_deref() != Some(&profile.name) {
                    return Err(input_error(anyhow::anyhow!(
                        "pack {} was matched for profile {}; --profile {named} would configure \
                         its board for another pack (leave --profile out)",
                        pack.label(),
                        profile.name
                    )));
                }
            }
            let plan = bench::plan_for(&profile, pack.code.as_deref());
            (profile, plan)
        }
        None => {
            let Some(name) = args.profile.as_deref() else {
                return Err(input_error(anyhow::anyhow!(
                    "--no-pack needs --profile NAME"
                )));
            };
            let profile = match Profile::load(name) {
                Ok(p) => p,
                Err(e @ ProfileError::Invalid { .. }) => {
                    // Refusals are attempts too: logged, then nothing is sent.
                    let detail = format!("{e}\nnothing was sent");
                    if !args.dry_run {
                        bench::log_refusal(&station, &link.port, link.protocol, name, &detail)
                            .map_err(service_error)?;
                    }
                    return Err(input_error(anyhow::anyhow!("{detail}")));
                }
                Err(e) => return Err(input_error(e)),
            };
            let plan = bench::plan_for(&profile, args.barcode.as_deref());
            (profile, plan)
        }
    };
    if args.dry_run {
        let plan = plan
            .and_then(|p| bench::check_protocol(&profile, link.protocol).map(|()| p))
            .map_err(service_error)?;
        print_plan(&plan, args.json)?;
        return Ok(EXIT_OK);
    }
    let report = runtime()?.block_on(async {
        let mut opts = opts;
        opts.cancel = Some(config::Cancel(super::stop_switch()));
        let opts = &opts;
        let handle = link.open()?;
        let done = match &pack {
            Some(key) => bench::configure_pack(
                &station,
                &crate::services::PackKey::Text(key.clone()),
                &handle,
                opts,
            )
            .await
            .map(|c| c.report),
            None => {
                bench::configure_board(&station, &profile, args.barcode.as_deref(), &handle, opts)
                    .await
            }
        };
        done.map_err(service_error)
    })?;
    for line in &report.restored {
        eprintln!("{line}");
    }
    if let Some(queued) = &report.log_queued {
        eprintln!("note: {queued}");
    }
    if let Some(why) = &report.late_stop {
        eprintln!(
            "note: {why} came after the board was told to save; the write finished its \
             persistence check instead of stopping, so its outcome below is the board's: {}",
            report.outcome.as_str()
        );
    }
    let identity = report.identity.summary();
    if args.json {
        print_json("bms.write", &report)?;
    } else {
        for f in &report.fields {
            let mark = if f.ok { "ok  " } else { "FAIL" };
            println!(
                "{mark} {} {:<26} {:<22} read back {:<22} persisted {}",
                f.register,
                f.name,
                f.written,
                f.read_back.as_deref().unwrap_or("-"),
                f.persisted.as_deref().unwrap_or("-")
            );
        }
        println!(
            "{} on {} ({}): {} in {} ms, {} requests, {} retries",
            profile.name,
            link.port,
            identity,
            report.outcome.as_str(),
            report.elapsed_ms,
            report.traffic.transactions,
            report.traffic.retries
        );
    }
    match report.outcome {
        WriteOutcome::Verified => Ok(EXIT_OK),
        _ => {
            let left = left_in(&report);
            if let Some(why) = &report.interrupted {
                return Err(super::interrupted_error(anyhow::anyhow!(
                    "configuration write {why}: {left}"
                )));
            }
            let failure = report.failure.unwrap_or_else(|| "unknown failure".into());
            let msg = anyhow::anyhow!("configuration write failed: {failure} ({left})");
            if report.communication_failure {
                Err(device_error(msg))
            } else {
                eprintln!("error: {msg:#}");
                Ok(EXIT_VERIFY_FAILED)
            }
        }
    }
}

/// What an unfinished write left on the board, saying only what the board confirmed.
fn left_in(report: &config::WriteReport) -> &'static str {
    match (
        report.entered_factory,
        report.saved,
        report.left_without_saving,
    ) {
        (false, _, _) => "factory mode was never entered, nothing was written",
        (true, true, _) => "the board was told to save; its persistence check did not pass",
        (true, false, true) => {
            "left factory mode without saving: the board keeps the settings it had saved"
        }
        (true, false, false) => {
            "nothing was saved, but leaving factory mode was not confirmed: the board may still \
             be in factory mode holding unsaved values (power-cycle it, or run bms config read, \
             which discards them)"
        }
    }
}

fn print_plan(plan: &ConfigPlan, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(
            "bms.plan",
            &serde_json::json!({ "dry_run": true, "plan": plan }),
        );
    }
    println!(
        "dry run: nothing is sent. Plan for {} ({} unit):",
        plan.profile,
        match plan.unit {
            CapacityUnit::TenMilli => "10 mA",
            CapacityUnit::HundredMilli => "100 mA",
        }
    );
    for f in &plan.fields {
        let wire = match &f.wire {
            Wire::Word { raw } => format!("0x{raw:04X}"),
            Wire::Bits { set, clear } => format!("set 0x{set:04X} clear 0x{clear:04X}"),
            Wire::Text { text } => to_hex(&jbd::eeprom::encode_string(text).unwrap_or_default()),
            Wire::Long { raw } => format!("0x{raw:08X}"),
            Wire::Group { read_cid2, .. } => format!("group 0x{read_cid2:02X}"),
        };
        println!(
            "  {} {:<26} {:<24} {:<18} from {}",
            f.register_hex(),
            f.name,
            f.display,
            wire,
            f.field
        );
    }
    for n in &plan.not_configured {
        println!(
            "  not configurable on this board: {}: {}",
            n.field, n.reason
        );
    }
    Ok(())
}

async fn set(args: SetArgs, ctx: &Context) -> anyhow::Result<u8> {
    if args.charge_fet.is_none() && args.discharge_fet.is_none() && args.soc.is_none() {
        return Err(input_error(anyhow::anyhow!(
            "nothing to set: give --charge-fet, --discharge-fet or --soc"
        )));
    }
    if let Some(soc) = args.soc {
        if !(0.0..=100.0).contains(&soc) {
            return Err(input_error(anyhow::anyhow!(
                "--soc {soc}: must be between 0 and 100"
            )));
        }
    }
    let handle = args.link.open()?;
    // A switch or SOC write is a write: logged like a configuration write, before any byte.
    let mut store = ctx.open_store()?;
    let attempt = WriteAttempt {
        port: &args.link.port,
        protocol: args.link.protocol.name(),
        profile: "bms set",
        pack_code: None,
    };
    let id = store.begin_bms_write(&ctx.actor, &attempt)?;
    let outcome = set_and_verify(&args, &handle).await;
    let (identity, fields, problems, after) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let detail = format!("{e:#}");
            store.finish_bms_write(id, WriteOutcome::Failed, None, Some(&detail), &[])?;
            return Err(device_error(e));
        }
    };
    let verdict = if problems.is_empty() {
        WriteOutcome::Verified
    } else {
        WriteOutcome::Failed
    };
    let detail = (!problems.is_empty()).then(|| problems.join("; "));
    store.finish_bms_write(id, verdict, identity.as_deref(), detail.as_deref(), &fields)?;
    if args.json {
        print_json(
            "bms.set",
            &serde_json::json!({ "verified": problems.is_empty(), "problems": problems, "snapshot": after }),
        )?;
    } else if problems.is_empty() {
        println!("done and verified by read-back");
    }
    if problems.is_empty() {
        Ok(EXIT_OK)
    } else {
        eprintln!("error: not verified: {}", problems.join("; "));
        Ok(EXIT_VERIFY_FAILED)
    }
}

type SetOutcome = (Option<String>, Vec<FieldRecord>, Vec<String>, BmsSnapshot);

/// Write what was asked, then read the board again: an acknowledgement proves nothing.
async fn set_and_verify(
    args: &SetArgs,
    handle: &BmsHandle,
) -> Result<SetOutcome, crate::bms::BmsError> {
    let before = handle.read().await?;
    let identity = before.model.as_ref().map(|m| {
        format!(
            "{} {m}{}",
            args.link.protocol,
            before
                .firmware_version
                .as_ref()
                .map(|f| format!(" fw {f}"))
                .unwrap_or_default()
        )
    });
    let on = |v: Option<OnOff>, current: Option<bool>| {
        v.map_or(current.unwrap_or(true), |v| v == OnOff::On)
    };
    if args.charge_fet.is_some() || args.discharge_fet.is_some() {
        let charge = on(args.charge_fet, before.charge_fet);
        let discharge = on(args.discharge_fet, before.discharge_fet);
        handle.set_fets(charge, discharge).await?;
    }
    if let Some(soc) = args.soc {
        handle.set_soc(soc).await?;
    }
    let after = handle.read().await?;
    let mut problems = Vec::new();
    let mut fields = Vec::new();
    let protection = if after.protection.is_empty() {
        "none".to_string()
    } else {
        packwright_protocol::protection_text(&after.protection)
    };
    let word = |b: bool| if b { "on" } else { "off" };
    for (field, name, wanted, got) in [
        (
            "charge_fet",
            "charge FET",
            args.charge_fet,
            after.charge_fet,
        ),
        (
            "discharge_fet",
            "discharge FET",
            args.discharge_fet,
            after.discharge_fet,
        ),
    ] {
        let Some(w) = wanted else { continue };
        let want_on = w == OnOff::On;
        let ok = got == Some(want_on);
        let got_text = got.map_or("nothing", word);
        let reason = (!ok).then(|| {
            format!(
                "{name}: asked {}, the board reports {got_text} (protection: {protection})",
                word(want_on)
            )
        });
        if let Some(r) = &reason {
            problems.push(r.clone());
        }
        fields.push(FieldRecord {
            field: field.into(),
            register: None,
            written: Some(word(want_on).into()),
            read_back: Some(got_text.into()),
            persisted: None,
            ok,
            reason,
        });
    }
    if let Some(soc) = args.soc {
        // The live SOC moves with the current between the write and the read: allow 1 %.
        let ok = after.soc_pct.is_some_and(|got| (got - soc).abs() <= 1.0);
        let got = after
            .soc_pct
            .map_or("no SOC".to_string(), |g| format!("{g} %"));
        let reason = (!ok).then(|| format!("SOC: asked {soc} %, the board reports {got}"));
        if let Some(r) = &reason {
            problems.push(r.clone());
        }
        fields.push(FieldRecord {
            field: "soc_pct".into(),
            register: None,
            written: Some(format!("{soc} %")),
            read_back: Some(got),
            persisted: None,
            ok,
            reason,
        });
    }
    Ok((identity, fields, problems, after))
}

fn writes(args: WritesArgs, ctx: &Context) -> anyhow::Result<u8> {
    let mut store = ctx.open_existing_store()?;
    // A write whose process was killed reads as aborted, not `started` for ever.
    store.abort_orphaned_bms_writes(&ctx.actor.station, &crate::eol::process_alive)?;
    let rows = store.recent_bms_writes(args.limit)?;
    if args.json {
        let mut out = Vec::new();
        for r in rows {
            let fields = store.bms_write_fields(r.id)?;
            out.push(serde_json::json!({ "write": r, "fields": fields }));
        }
        print_json("bms.writes", &out)?;
    } else {
        for r in rows {
            println!(
                "#{} {} {} {} on {} by {}@{}: {}{}",
                r.id,
                r.started_at,
                r.profile,
                r.bms_identity.as_deref().unwrap_or("(identity unknown)"),
                r.port,
                r.operator,
                r.station,
                r.outcome,
                r.detail.map(|d| format!(" — {d}")).unwrap_or_default()
            );
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daly_addresses_accept_boards_and_hex() {
        assert_eq!(daly_address("1").unwrap(), 0x40);
        assert_eq!(daly_address("2").unwrap(), 0x41);
        assert_eq!(daly_address("0x80").unwrap(), 0x80);
        assert!(daly_address("0x01").is_err());
        assert!(daly_address("64").is_err());
        assert!(daly_address("two").is_err());
    }

    #[test]
    fn decode_names_the_reason() {
        let sign = CurrentSign::default();
        let ok = decode_one(ProtocolKind::Jbd, "DD A5 03 00 FF FD 77", sign).unwrap();
        assert_eq!(ok["kind"], "read_request");
        let err = decode_one(ProtocolKind::Jbd, "DD A5 03 00 FF FE 77", sign).unwrap_err();
        assert_eq!(err, "checksum 0xFFFE but frame sums to 0xFFFD");
        let err = decode_one(ProtocolKind::Daly, "A5 40 90 08 00", sign).unwrap_err();
        assert!(err.contains("length byte says 8"), "{err}");
        assert!(decode_one(ProtocolKind::Daly, "A5 4Z", sign)
            .unwrap_err()
            .contains("not a hex digit"));
    }
}
