//! Serial-port device task: one tokio task owns each port (USB-UART or USB-RS485 adapter) and
//! answers [`BmsCommand`]s for the JBD, Daly and JK PB (Modbus RTU, [`jk`]) protocols.
//!
//! - Every request has a timeout (a base plus the wire time of the bytes at the port's baud
//!   rate) and a bounded number of attempts: JBD boards in sleep mode drop the first frame.
//! - Replies are framed by length and checksum from whatever the reads deliver (split frames,
//!   junk, late replies to an earlier request) and matched to the request by register / data
//!   ID / board address; anything else is discarded and counted.
//! - Before each new request stale input is discarded; after a transaction that needed a retry
//!   the link also waits out stragglers, so a late reply to an old request can never be taken
//!   as the answer to a new one (a persistence re-read must not see a stale read-back).
//! - An unplugged adapter (EOF or an I/O error) is reported on the status watch and the port is
//!   re-opened, by path, when it comes back; commands arriving meanwhile wait up to their
//!   timeout budget for it and otherwise fail with [`BmsError::Disconnected`].

mod jk;
mod pace;

use std::time::Duration;

use packwright_protocol::daly::{self, CurrentSign};
use packwright_protocol::framing::{starts_valid_frame, FrameFormat, FramerEvent, StreamFramer};
use packwright_protocol::jbd::{self, eeprom, CapacityUnit, FunctionConfig, MosControl};
use packwright_protocol::{modbus, BmsSnapshot, ProtocolKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::{SerialPort, SerialPortBuilderExt, SerialStream};

use crate::device::handle::{
    BmsCommand, BmsError, BmsHandle, BmsIdentity, DeviceEnd, Envelope, LinkStats, LinkStatus,
    RegisterOp, Reply,
};

/// How to reach one board (or one RS485 bus) on a serial port.
#[derive(Debug, Clone)]
pub struct SerialConfig {
    pub port: String,
    pub protocol: ProtocolKind,
    pub baud: u32,
    /// Daly: the request address used when a command names no board (0x40 RS485 board 1,
    /// 0x80 UART). Ignored by JBD, which has no addresses.
    pub daly_address: u8,
    /// JK PB: the Modbus slave address used when a command names no board (1–15).
    pub jk_address: u8,
    /// Pace: the pack address (ADR) used when a command names no board (0–15).
    pub pace_address: u8,
    /// Daly current sign; `None` infers it from the charge state (0x93) when the pack is
    /// charging or discharging, else assumes the common convention.
    pub current_sign: Option<CurrentSign>,
    /// JBD capacity/current unit for live reads; `None` uses what the reply announces (the
    /// default 10 mA unless FET bit 7 is set). Only 0x2D (factory mode) tells for sure.
    pub jbd_unit: Option<CapacityUnit>,
    /// Wait for a reply beyond the wire time of the request and the longest reply.
    pub timeout: Duration,
    pub attempts: u32,
    /// How often to try re-opening a vanished port.
    pub reconnect_every: Duration,
}

impl SerialConfig {
    pub fn new(port: &str, protocol: ProtocolKind) -> SerialConfig {
        SerialConfig {
            port: port.to_string(),
            protocol,
            baud: protocol.default_baud(),
            daly_address: daly::HOST_RS485,
            jk_address: 1,
            pace_address: 0,
            current_sign: None,
            jbd_unit: None,
            timeout: Duration::from_millis(300),
            attempts: 3,
            reconnect_every: Duration::from_millis(200),
        }
    }

    /// Time the given number of bytes take on the wire: 10 bits per byte (8N1).
    pub fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(self.baud.max(1)))
    }

    fn attempt_budget(&self, request_len: usize, reply_len: usize) -> Duration {
        self.timeout + self.wire_time(request_len + reply_len)
    }
}

/// Start the device task for `config` on the current tokio runtime. Fails only for a
/// protocol that is not spoken over a serial port; a port that cannot be opened yet is
/// reported on the status watch and retried.
pub fn spawn(config: SerialConfig) -> Result<BmsHandle, BmsError> {
    if !config.protocol.is_serial() {
        return Err(BmsError::BadRequest(format!(
            "{} is not a serial protocol (jbd, daly, jk-pb or pace-485)",
            config.protocol
        )));
    }
    let (handle, end) = BmsHandle::channel(config.protocol, &config.port);
    tokio::spawn(run(config, end));
    Ok(handle)
}

/// Listen on `port` at `baud` for `duration` without sending a byte, for boards that talk
/// unasked (a JK PB set to address 0 polls the bus as its master; some boards broadcast).
/// Returns what arrived; the port is closed again.
pub async fn listen(port: &str, baud: u32, duration: Duration) -> Result<Vec<u8>, BmsError> {
    let mut stream = tokio_serial::new(port, baud)
        .timeout(Duration::from_millis(10))
        .open_native_async()
        .map_err(|e| BmsError::Disconnected {
            reason: format!("cannot open {port}: {e}"),
        })?;
    let _ = stream.clear(tokio_serial::ClearBuffer::All);
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    let until = Instant::now() + duration;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => return Ok(heard),
            Ok(Ok(0)) => return Ok(heard),
            Ok(Ok(n)) => heard.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => {
                return Err(BmsError::Disconnected {
                    reason: format!("{port}: {e}"),
                })
            }
        }
        if heard.len() > 4096 {
            return Ok(heard);
        }
    }
}

/// Why a transaction stopped: the port went away, or no valid reply came in time.
#[derive(Debug)]
enum LinkError {
    Gone(String),
    Timeout,
}

async fn run(cfg: SerialConfig, mut end: DeviceEnd) {
    let mut link: Option<Link> = None;
    let mut reason = String::new();
    let mut attempt = 0u32;
    loop {
        if link.is_none() {
            match Link::open(&cfg, end.stats.clone()) {
                Ok(l) => {
                    link = Some(l);
                    attempt = 0;
                    let _ = end.status.send(LinkStatus::Connected);
                }
                Err(e) => {
                    let first = matches!(*end.status.borrow(), LinkStatus::Connecting);
                    attempt += 1;
                    reason = e.0;
                    let status = if first {
                        LinkStatus::Disconnected {
                            reason: reason.clone(),
                        }
                    } else {
                        LinkStatus::Reconnecting {
                            attempt,
                            reason: reason.clone(),
                        }
                    };
                    let _ = end.status.send(status);
                }
            }
        }
        let envelope = if link.is_some() {
            end.commands.recv().await
        } else {
            tokio::select! {
                env = end.commands.recv() => env,
                _ = tokio::time::sleep(cfg.reconnect_every) => continue,
            }
        };
        let Some(Envelope { board, command }) = envelope else {
            // Every handle is gone: close the port.
            return;
        };
        let (op, slot) = split(command);
        // A command interrupted by an unplug runs again if the port is back within its
        // budget: every operation here is idempotent (reads, and writes of the same value).
        let deadline = Instant::now() + cfg.timeout * cfg.attempts.max(1);
        loop {
            if link.is_none() {
                link = wait_for_port(&cfg, &end, &mut reason, deadline).await;
                if link.is_none() {
                    slot.fail(BmsError::Disconnected {
                        reason: reason.clone(),
                    });
                    break;
                }
                let _ = end.status.send(LinkStatus::Connected);
            }
            let Some(l) = link.as_mut() else {
                slot.fail(BmsError::Disconnected {
                    reason: reason.clone(),
                });
                break;
            };
            match l.execute(board, &op).await {
                Ok(answer) => {
                    slot.send(answer);
                    break;
                }
                Err(gone) => {
                    reason = gone.0;
                    link = None;
                    let _ = end.status.send(LinkStatus::Disconnected {
                        reason: reason.clone(),
                    });
                    if Instant::now() >= deadline {
                        slot.fail(BmsError::Disconnected {
                            reason: reason.clone(),
                        });
                        break;
                    }
                }
            }
        }
    }
}

/// A command arrived while the port is away: give it one attempt budget to come back.
async fn wait_for_port(
    cfg: &SerialConfig,
    end: &DeviceEnd,
    reason: &mut String,
    deadline: Instant,
) -> Option<Link> {
    loop {
        match Link::open(cfg, end.stats.clone()) {
            Ok(l) => return Some(l),
            Err(e) => *reason = e.0,
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(cfg.reconnect_every.min(Duration::from_millis(50))).await;
    }
}

struct Link {
    cfg: SerialConfig,
    stream: SerialStream,
    stats: std::sync::Arc<LinkStats>,
    jbd: jbd::Framer,
    daly: daly::Framer,
    modbus: modbus::Framer,
    ascii: packwright_protocol::pylon_ascii::Framer,
    /// A previous transaction retried: replies to it may still be in flight.
    unsettled: bool,
    /// How long the line must stay quiet before it counts as settled after a retry: the
    /// timeout, or longer when a reply was seen to take longer (JK PB: Modbus read replies do
    /// not name their registers, so a straggler must never meet the next request).
    settle_for: Duration,
    /// Per connection: the JBD model string, read once.
    jbd_model: Option<String>,
    /// Per connection: Daly reads some boards do not answer, tried once.
    daly_extras: Option<DalyExtras>,
    /// Per connection and JK PB address: the device-info block, read once.
    jk_info: std::collections::HashMap<u8, packwright_protocol::jk_pb::DeviceInfo>,
    /// Per connection and Pace address: the identity, read once.
    pace_ids: std::collections::HashMap<u8, BmsIdentity>,
}

#[derive(Debug, Clone, Default)]
struct DalyExtras {
    rated: Option<daly::Rated>,
    manufacture_date: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    barcode: Option<String>,
}

impl Link {
    fn open(cfg: &SerialConfig, stats: std::sync::Arc<LinkStats>) -> Result<Link, PortGone> {
        let stream = tokio_serial::new(&cfg.port, cfg.baud)
            .timeout(Duration::from_millis(10))
            .open_native_async()
            .map_err(|e| PortGone(format!("cannot open {}: {e}", cfg.port)))?;
        // Whatever the adapter buffered before we were here belongs to nobody.
        let _ = stream.clear(tokio_serial::ClearBuffer::All);
        Ok(Link {
            cfg: cfg.clone(),
            stream,
            stats,
            jbd: jbd::framer(jbd::Direction::Replies),
            daly: daly::framer(),
            modbus: modbus::Framer::new(modbus::Direction::Replies, None),
            ascii: packwright_protocol::pylon_ascii::framer(),
            // Replies that do not name their request (Modbus reads, Pylontech-style ASCII): a
            // late reply to whoever had the port before must be drained, not taken.
            unsettled: matches!(cfg.protocol, ProtocolKind::JkPb | ProtocolKind::Pace),
            settle_for: Duration::ZERO,
            jbd_model: None,
            daly_extras: None,
            jk_info: std::collections::HashMap::new(),
            pace_ids: std::collections::HashMap::new(),
        })
    }

    /// Run one command. `Err` means the port went away before it could be answered.
    async fn execute(&mut self, board: Option<u8>, op: &Op) -> Result<Answer, PortGone> {
        match self.cfg.protocol {
            ProtocolKind::Daly => self.execute_daly(board, op).await,
            ProtocolKind::JkPb => self.execute_jk(board, op).await,
            ProtocolKind::Pace => self.execute_pace(board, op).await,
            _ => self.execute_jbd(op).await,
        }
    }

    /// Discard stale input before a new request.
    async fn prepare(&mut self) -> Result<(), LinkError> {
        if self.unsettled {
            // Replies to retried requests may still arrive: wait them out.
            let quiet = self.cfg.timeout.max(self.settle_for);
            self.drain_until_quiet(quiet).await?;
            self.unsettled = false;
            self.settle_for = Duration::ZERO;
        }
        let _ = self.stream.clear(tokio_serial::ClearBuffer::Input);
        self.jbd.clear();
        self.daly.clear();
        self.modbus.clear();
        self.ascii.clear();
        Ok(())
    }

    async fn drain_until_quiet(&mut self, quiet: Duration) -> Result<(), LinkError> {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(quiet, self.stream.read(&mut buf)).await {
                Err(_) => return Ok(()),
                Ok(Ok(0)) => {
                    return Err(LinkError::Gone(format!(
                        "{} closed (end of file)",
                        self.cfg.port
                    )))
                }
                Ok(Ok(n)) => LinkStats::add(&self.stats.dropped_bytes, n as u64),
                Ok(Err(e)) => return Err(LinkError::Gone(format!("{}: {e}", self.cfg.port))),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| LinkError::Gone(format!("writing to {}: {e}", self.cfg.port)))?;
        LinkStats::add(&self.stats.bytes_out, bytes.len() as u64);
        Ok(())
    }

    /// Read until `accept` takes a frame or `deadline` passes.
    ///
    /// With `confirm_gap` (Daly, whose checksum is one byte): a frame that lost a byte can
    /// borrow the next frame's start byte as its checksum and pass 1 time in 256. Such a frame
    /// ends in a start byte from which a valid frame follows; when an accepted frame ends in a
    /// start byte, the bytes after it are examined (waiting up to the gap for them) and the
    /// frame is refused if they complete a valid frame. Junk between frames is unaffected.
    #[allow(clippy::too_many_arguments)]
    async fn receive<F: FrameFormat, T>(
        stream: &mut SerialStream,
        stats: &LinkStats,
        port: &str,
        framer: &mut StreamFramer<F>,
        deadline: Instant,
        confirm_gap: Option<Duration>,
        mut accept: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T, LinkError> {
        let mut buf = [0u8; 256];
        let mut pending: Option<(T, Vec<u8>)> = None;
        loop {
            if let Some((t, frame)) = pending.take() {
                let mut follow = frame[frame.len() - 1..].to_vec();
                follow.extend_from_slice(framer.buffered());
                match starts_valid_frame(framer.format(), &follow) {
                    Some(false) => return Ok(t),
                    Some(true) => {
                        // The frame's "checksum" was the next frame's start byte: give it back.
                        LinkStats::add(&stats.dropped_bytes, frame.len() as u64 - 1);
                        framer.push_front(&frame[frame.len() - 1..]);
                    }
                    None => {
                        let gap = confirm_gap.unwrap_or_default();
                        let until = deadline.min(Instant::now() + gap);
                        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                            // Nothing followed: the frame stands on its own.
                            Err(_) => return Ok(t),
                            Ok(Ok(0)) => {
                                return Err(LinkError::Gone(format!("{port} closed (end of file)")))
                            }
                            Ok(Ok(n)) => {
                                LinkStats::add(&stats.bytes_in, n as u64);
                                framer.push(&buf[..n]);
                                pending = Some((t, frame));
                                continue;
                            }
                            Ok(Err(e)) => return Err(LinkError::Gone(format!("{port}: {e}"))),
                        }
                    }
                }
            }
            while let Some(event) = framer.next_event() {
                match event {
                    FramerEvent::Frame(frame) => match accept(&frame) {
                        Some(t) if confirm_gap.is_some() && frame.last() == Some(&F::START) => {
                            pending = Some((t, frame));
                            break;
                        }
                        Some(t) => return Ok(t),
                        // A valid frame that answers something else: a stray or late reply.
                        None => LinkStats::add(&stats.dropped_bytes, frame.len() as u64),
                    },
                    FramerEvent::Skipped { count, .. } => {
                        LinkStats::add(&stats.dropped_bytes, count as u64)
                    }
                }
            }
            if pending.is_some() {
                continue;
            }
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => return Err(LinkError::Timeout),
                Ok(Ok(0)) => return Err(LinkError::Gone(format!("{port} closed (end of file)"))),
                Ok(Ok(n)) => {
                    LinkStats::add(&stats.bytes_in, n as u64);
                    framer.push(&buf[..n]);
                }
                Ok(Err(e)) => return Err(LinkError::Gone(format!("{port}: {e}"))),
            }
        }
    }

    // ---- JBD ---------------------------------------------------------------------------

    /// One request/reply with retries. `Ok(Err(..))` is a failed command on a live link.
    async fn jbd_transact(&mut self, req: &jbd::Request) -> Transacted<jbd::Response> {
        let bytes = req.encode();
        let what = describe_jbd(req);
        if let Err(e) = self.prepare().await {
            return link_result(e, &what, &self.cfg);
        }
        LinkStats::add(&self.stats.transactions, 1);
        // The longest JBD reply (0x03 with 8 NTCs and the extension) is under 64 bytes.
        let budget = self.cfg.attempt_budget(bytes.len(), 64);
        let attempts = self.cfg.attempts.max(1);
        for attempt in 1..=attempts {
            if attempt > 1 {
                LinkStats::add(&self.stats.retries, 1);
                self.unsettled = true;
            }
            if let Err(e) = self.send(&bytes).await {
                return link_result(e, &what, &self.cfg);
            }
            let deadline = Instant::now() + budget;
            let register = req.register;
            let got = Self::receive(
                &mut self.stream,
                &self.stats,
                &self.cfg.port,
                &mut self.jbd,
                deadline,
                None,
                |frame| {
                    let resp = jbd::Response::decode(frame).ok()?;
                    resp.answers(register).then_some(resp)
                },
            )
            .await;
            match got {
                Ok(resp) => return Ok(Ok(resp)),
                Err(LinkError::Timeout) => continue,
                Err(gone) => return link_result(gone, &what, &self.cfg),
            }
        }
        link_result(LinkError::Timeout, &what, &self.cfg)
    }

    /// A transaction whose reply must be OK; returns its data.
    async fn jbd_ok(&mut self, req: &jbd::Request) -> Transacted<Vec<u8>> {
        Ok(self
            .jbd_transact(req)
            .await?
            .and_then(|resp| match resp.status {
                jbd::Status::Ok => Ok(resp.data),
                s => Err(BmsError::Rejected {
                    what: describe_jbd(req),
                    status: s.byte(),
                    meaning: s.meaning().to_string(),
                }),
            }))
    }

    async fn execute_jbd(&mut self, op: &Op) -> Result<Answer, PortGone> {
        Ok(match op {
            Op::Read => Answer::Snapshot(self.jbd_read().await?),
            Op::Identity => Answer::Identity(self.jbd_identity().await?),
            Op::Register(op) => {
                let req = match op {
                    RegisterOp::UsePassword(pin) => jbd::Request::use_password(pin),
                    RegisterOp::EnterFactory => jbd::Request::enter_factory(),
                    RegisterOp::ExitFactory { save } => jbd::Request::exit_factory(*save),
                    RegisterOp::Read(r) => jbd::Request::read(*r),
                    RegisterOp::Write { register, data } => {
                        match jbd::Request::write(*register, data.clone()) {
                            Ok(req) => req,
                            Err(e) => {
                                return Ok(Answer::Data(Err(BmsError::BadRequest(e.to_string()))))
                            }
                        }
                    }
                    RegisterOp::ReadWords { .. }
                    | RegisterOp::WriteWords { .. }
                    | RegisterOp::Command { .. } => {
                        return Ok(Answer::Data(Err(BmsError::Unsupported {
                            what: op.describe(),
                            protocol: ProtocolKind::Jbd,
                        })))
                    }
                };
                let answer = self.jbd_ok(&req).await?;
                // The board just told us its unit flag (0x2D bit 12): live reads on this link
                // use it from now on, whatever was assumed before.
                if let (RegisterOp::Read(eeprom::FUNCTION_CONFIG), Ok([hi, lo])) =
                    (op, answer.as_deref())
                {
                    self.cfg.jbd_unit = Some(FunctionConfig(u16::from_be_bytes([*hi, *lo])).unit());
                }
                Answer::Data(answer)
            }
            Op::SetFets { charge, discharge } => {
                let control = match (charge, discharge) {
                    (true, true) => MosControl::Release,
                    (false, true) => MosControl::ChargeOff,
                    (true, false) => MosControl::DischargeOff,
                    (false, false) => MosControl::BothOff,
                };
                Answer::Done(
                    self.jbd_ok(&jbd::Request::mos_control(control))
                        .await?
                        .map(|_| ()),
                )
            }
            Op::SetSoc(_) => Answer::Done(Err(BmsError::Unsupported {
                what: "setting the state of charge".into(),
                protocol: ProtocolKind::Jbd,
            })),
        })
    }

    async fn jbd_basic(&mut self) -> Transacted<jbd::BasicInfo> {
        let req = jbd::Request::read(jbd::reg::BASIC_INFO);
        Ok(self
            .jbd_ok(&req)
            .await?
            .and_then(|d| jbd::BasicInfo::decode(&d).map_err(|e| bad_reply(&req, e))))
    }

    async fn jbd_model(&mut self) -> Transacted<String> {
        if let Some(m) = &self.jbd_model {
            return Ok(Ok(m.clone()));
        }
        let r = self.jbd_ok(&jbd::Request::read(jbd::reg::MODEL)).await?;
        Ok(r.map(|d| {
            let model = jbd::payload::decode_model(&d);
            self.jbd_model = Some(model.clone());
            model
        }))
    }

    async fn jbd_read(&mut self) -> Transacted<BmsSnapshot> {
        let info = match self.jbd_basic().await? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let req = jbd::Request::read(jbd::reg::CELL_VOLTAGES);
        let cells = match self.jbd_ok(&req).await? {
            Ok(d) => match jbd::payload::decode_cell_voltages(&d) {
                Ok(c) => c,
                Err(e) => return Ok(Err(bad_reply(&req, e))),
            },
            Err(e) => return Ok(Err(e)),
        };
        if cells.len() != usize::from(info.cell_count) {
            return Ok(Err(BmsError::BadReply {
                what: "read cell voltages (0x04)".into(),
                reason: format!(
                    "{} cell voltages but basic info reports {} cells",
                    cells.len(),
                    info.cell_count
                ),
            }));
        }
        let model = self.jbd_model().await?.ok();
        let unit = self.cfg.jbd_unit.unwrap_or_else(|| info.unit_hint());
        Ok(Ok(jbd::snapshot(
            &info,
            Some(&cells),
            model.as_deref(),
            unit,
        )))
    }

    async fn jbd_identity(&mut self) -> Transacted<BmsIdentity> {
        let model = match self.jbd_model().await? {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let info = match self.jbd_basic().await? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(BmsIdentity {
            protocol: Some(ProtocolKind::Jbd),
            model: Some(model),
            firmware_version: Some(info.software_version_hex()),
            manufacture_date: info.date.iso(),
            ..Default::default()
        }))
    }

    // ---- Daly --------------------------------------------------------------------------

    fn daly_address(&self, board: Option<u8>) -> Result<u8, BmsError> {
        match board {
            None => Ok(self.cfg.daly_address),
            Some(b) => daly::board_address(b).map_err(|e| BmsError::BadRequest(e.to_string())),
        }
    }

    /// Send one request and collect the reply frames `want` accepts until `done` says the
    /// set is complete. Multi-frame replies are followed by a short quiet wait so the board
    /// has finished talking before the next request (RS485 is half-duplex).
    async fn daly_transact(
        &mut self,
        request: daly::Frame,
        max_frames: usize,
        mut done: impl FnMut(&[daly::Frame]) -> bool,
    ) -> Transacted<Vec<daly::Frame>> {
        let bytes = request.encode();
        let what = format!(
            "{} (0x{:02X})",
            daly::data_id_name(request.data_id),
            request.data_id
        );
        if let Err(e) = self.prepare().await {
            return link_result(e, &what, &self.cfg);
        }
        LinkStats::add(&self.stats.transactions, 1);
        let reply_address = daly::reply_address(request.address);
        // A frame's time plus scheduling slack: enough for the next frame of a burst.
        let confirm_gap = self.cfg.wire_time(daly::FRAME_LEN) + Duration::from_millis(5);
        let budget = self
            .cfg
            .attempt_budget(bytes.len(), daly::FRAME_LEN * max_frames);
        let attempts = self.cfg.attempts.max(1);
        for attempt in 1..=attempts {
            if attempt > 1 {
                LinkStats::add(&self.stats.retries, 1);
                self.unsettled = true;
                self.daly.clear();
            }
            if let Err(e) = self.send(&bytes).await {
                return link_result(e, &what, &self.cfg);
            }
            let deadline = Instant::now() + budget;
            let mut frames: Vec<daly::Frame> = Vec::new();
            let outcome = loop {
                let got = Self::receive(
                    &mut self.stream,
                    &self.stats,
                    &self.cfg.port,
                    &mut self.daly,
                    deadline,
                    Some(confirm_gap),
                    |raw| {
                        let f = daly::Frame::decode(raw).ok()?;
                        (f.address == reply_address && f.data_id == request.data_id).then_some(f)
                    },
                )
                .await;
                match got {
                    Ok(f) => {
                        frames.push(f);
                        if done(&frames) {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            match outcome {
                Ok(()) => {
                    if max_frames > 1 {
                        let gap =
                            self.cfg.wire_time(2 * daly::FRAME_LEN) + Duration::from_millis(20);
                        if let Err(e) = self.drain_until_quiet(gap).await {
                            return link_result(e, &what, &self.cfg);
                        }
                    }
                    return Ok(Ok(frames));
                }
                Err(LinkError::Timeout) => continue,
                Err(gone) => return link_result(gone, &what, &self.cfg),
            }
        }
        link_result(LinkError::Timeout, &what, &self.cfg)
    }

    async fn daly_one(&mut self, address: u8, data_id: u8) -> Transacted<[u8; 8]> {
        let r = self
            .daly_transact(daly::Frame::request(address, data_id), 1, |f| !f.is_empty())
            .await?;
        Ok(r.map(|frames| frames[0].data))
    }

    /// Collect numbered frames (cells, temperatures) until `count` values are covered.
    async fn daly_multi<T: Copy + Default, const N: usize>(
        &mut self,
        address: u8,
        data_id: u8,
        max_frames: u8,
        count: usize,
        decode: fn(&[u8; 8]) -> daly::MultiFrame<T, N>,
    ) -> Transacted<Vec<T>> {
        if count == 0 {
            return Ok(Ok(Vec::new()));
        }
        let what = format!("{} (0x{data_id:02X})", daly::data_id_name(data_id));
        let r = self
            .daly_transact(
                daly::Frame::request(address, data_id),
                usize::from(max_frames),
                |frames| {
                    let mut a = daly::Assembler::<T, N>::new(data_id, max_frames);
                    frames.iter().all(|f| a.insert(decode(&f.data)).is_ok()) && a.is_complete(count)
                },
            )
            .await?;
        Ok(r.and_then(|frames| {
            let mut a = daly::Assembler::<T, N>::new(data_id, max_frames);
            for f in &frames {
                a.insert(decode(&f.data)).map_err(|e| BmsError::BadReply {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
            }
            a.values(count).ok_or_else(|| BmsError::BadReply {
                what: what.clone(),
                reason: format!("frames do not cover {count} values"),
            })
        }))
    }

    /// Text spread over numbered frames (0x57, 0x62, 0x63): collect until the board is quiet.
    async fn daly_text(
        &mut self,
        address: u8,
        data_id: u8,
        frames: usize,
    ) -> Result<Option<String>, PortGone> {
        let r = self
            .daly_transact(daly::Frame::request(address, data_id), frames, |got| {
                got.len() >= frames
            })
            .await?;
        Ok(r.ok()
            .map(|mut got| {
                got.sort_by_key(|f| f.data[0]);
                let bytes: Vec<u8> = got
                    .iter()
                    .flat_map(|f| daly::TextFrame::decode(&f.data).values)
                    .collect();
                daly::text_of(&bytes)
            })
            .filter(|t| !t.is_empty()))
    }

    /// Reads not every board answers; tried once per connection with a single attempt.
    async fn daly_extras(&mut self, address: u8) -> Result<DalyExtras, PortGone> {
        if let Some(x) = &self.daly_extras {
            return Ok(x.clone());
        }
        let attempts = std::mem::replace(&mut self.cfg.attempts, 1);
        let mut x = DalyExtras::default();
        let result: Result<(), PortGone> = async {
            x.rated = self
                .daly_one(address, daly::id::RATED)
                .await?
                .ok()
                .map(|d| daly::Rated::decode(&d));
            x.manufacture_date = self
                .daly_one(address, daly::id::BATTERY_INFO)
                .await?
                .ok()
                .and_then(|d| daly::decode_production_date(&d));
            x.firmware = self.daly_text(address, daly::id::VERSION_62, 2).await?;
            x.model = self.daly_text(address, daly::id::VERSION_63, 2).await?;
            x.barcode = self.daly_text(address, daly::id::BATTERY_CODE, 5).await?;
            Ok(())
        }
        .await;
        self.cfg.attempts = attempts;
        result?;
        self.daly_extras = Some(x.clone());
        Ok(x)
    }

    async fn daly_read(&mut self, address: u8) -> Transacted<BmsSnapshot> {
        macro_rules! get {
            ($e:expr) => {
                match $e.await? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                }
            };
        }
        let soc = daly::Soc::decode(&get!(self.daly_one(address, daly::id::SOC)));
        let mos = daly::MosStatus::decode(&get!(self.daly_one(address, daly::id::MOS)));
        let status = daly::Status::decode(&get!(self.daly_one(address, daly::id::STATUS)));
        let cells_mv = get!(self.daly_multi(
            address,
            daly::id::CELL_VOLTAGES,
            daly::MAX_CELL_FRAMES,
            usize::from(status.cell_count),
            daly::CellFrame::decode
        ));
        let temps_raw = get!(self.daly_multi(
            address,
            daly::id::TEMPERATURES,
            daly::MAX_TEMP_FRAMES,
            usize::from(status.temp_sensor_count),
            daly::TempFrame::decode
        ));
        let balancing_cells =
            daly::decode_balance(&get!(self.daly_one(address, daly::id::BALANCE)));
        let failures = daly::Failures::decode(&get!(self.daly_one(address, daly::id::FAILURES)));
        let extras = self.daly_extras(address).await?;
        let inferred = daly::CurrentSign::infer(&soc, mos.state);
        let sign = match (self.cfg.current_sign, inferred) {
            (Some(configured), Some(seen)) if configured != seen => {
                tracing::warn!(
                    "Daly current sign configured as {configured:?} but the board reports {:?} with raw current {}",
                    mos.state,
                    soc.current_raw
                );
                configured
            }
            (Some(configured), _) => configured,
            (None, Some(seen)) => seen,
            (None, None) => CurrentSign::default(),
        };
        let reading = daly::Reading {
            soc,
            mos: Some(mos),
            status: Some(status),
            cells_mv,
            temps_raw,
            balancing_cells,
            failures: Some(failures),
            rated: extras.rated,
            manufacture_date: extras.manufacture_date,
            model: extras.model,
        };
        let mut snapshot = reading.snapshot(sign);
        snapshot.firmware_version = extras.firmware;
        Ok(Ok(snapshot))
    }

    async fn daly_write(&mut self, request: daly::Frame) -> Transacted<()> {
        let what = format!(
            "{} (0x{:02X})",
            daly::data_id_name(request.data_id),
            request.data_id
        );
        let r = self.daly_transact(request, 1, |f| !f.is_empty()).await?;
        Ok(r.and_then(|frames| {
            if daly::write_acknowledged(&request, &frames[0]) {
                Ok(())
            } else {
                Err(BmsError::Rejected {
                    what,
                    status: frames[0].data[0],
                    meaning: "the board did not acknowledge the write".into(),
                })
            }
        }))
    }

    async fn execute_daly(&mut self, board: Option<u8>, op: &Op) -> Result<Answer, PortGone> {
        let address = match self.daly_address(board) {
            Ok(a) => a,
            Err(e) => return Ok(Answer::failed(op, e)),
        };
        Ok(match op {
            Op::Read => Answer::Snapshot(self.daly_read(address).await?),
            Op::Identity => Answer::Identity(self.daly_identity(address).await?),
            Op::Register(op) => Answer::Data(Err(BmsError::Unsupported {
                what: op.describe(),
                protocol: ProtocolKind::Daly,
            })),
            Op::SetFets { charge, discharge } => {
                Answer::Done(self.daly_set_fets(address, *charge, *discharge).await?)
            }
            Op::SetSoc(soc_pct) => {
                let now = chrono::Local::now().naive_local();
                use chrono::{Datelike, Timelike};
                let time = daly::DateTime {
                    year: u16::try_from(now.year()).unwrap_or(2000),
                    month: now.month() as u8,
                    day: now.day() as u8,
                    hour: now.hour() as u8,
                    minute: now.minute() as u8,
                    second: now.second().min(59) as u8,
                };
                match daly::set_soc_request(address, *soc_pct, Some(time)) {
                    Ok(req) => Answer::Done(self.daly_write(req).await?),
                    Err(e) => Answer::Done(Err(BmsError::BadRequest(e.to_string()))),
                }
            }
        })
    }

    async fn daly_identity(&mut self, address: u8) -> Transacted<BmsIdentity> {
        // The status read proves the board answers before the optional reads are trusted.
        if let Err(e) = self.daly_one(address, daly::id::STATUS).await? {
            return Ok(Err(e));
        }
        let x = self.daly_extras(address).await?;
        Ok(Ok(BmsIdentity {
            protocol: Some(ProtocolKind::Daly),
            model: x.model,
            firmware_version: x.firmware,
            barcode: x.barcode,
            manufacture_date: x.manufacture_date,
            manufacturer: None,
        }))
    }

    async fn daly_set_fets(
        &mut self,
        address: u8,
        charge: bool,
        discharge: bool,
    ) -> Transacted<()> {
        if let Err(e) = self
            .daly_write(daly::mos_request(address, true, charge))
            .await?
        {
            return Ok(Err(e));
        }
        self.daly_write(daly::mos_request(address, false, discharge))
            .await
    }
}

/// A command without its reply channel, so it can be run again after a re-open.
#[derive(Debug, Clone)]
enum Op {
    Read,
    Identity,
    Register(RegisterOp),
    SetFets { charge: bool, discharge: bool },
    SetSoc(f64),
}

/// Where a command's answer goes.
enum Slot {
    Snapshot(Reply<BmsSnapshot>),
    Identity(Reply<BmsIdentity>),
    Data(Reply<Vec<u8>>),
    Done(Reply<()>),
}

/// A command's outcome on a live link.
enum Answer {
    Snapshot(Result<BmsSnapshot, BmsError>),
    Identity(Result<BmsIdentity, BmsError>),
    Data(Result<Vec<u8>, BmsError>),
    Done(Result<(), BmsError>),
}

impl Answer {
    fn failed(op: &Op, e: BmsError) -> Answer {
        match op {
            Op::Read => Answer::Snapshot(Err(e)),
            Op::Identity => Answer::Identity(Err(e)),
            Op::Register(_) => Answer::Data(Err(e)),
            Op::SetFets { .. } | Op::SetSoc(_) => Answer::Done(Err(e)),
        }
    }
}

fn split(command: BmsCommand) -> (Op, Slot) {
    match command {
        BmsCommand::Read { reply } => (Op::Read, Slot::Snapshot(reply)),
        BmsCommand::Identity { reply } => (Op::Identity, Slot::Identity(reply)),
        BmsCommand::Register { op, reply } => (Op::Register(op), Slot::Data(reply)),
        BmsCommand::SetFets {
            charge,
            discharge,
            reply,
        } => (Op::SetFets { charge, discharge }, Slot::Done(reply)),
        BmsCommand::SetSoc { soc_pct, reply } => (Op::SetSoc(soc_pct), Slot::Done(reply)),
    }
}

impl Slot {
    /// Deliver; a dropped receiver means the caller gave up, which is fine.
    fn send(self, answer: Answer) {
        match (self, answer) {
            (Slot::Snapshot(r), Answer::Snapshot(a)) => drop(r.send(a)),
            (Slot::Identity(r), Answer::Identity(a)) => drop(r.send(a)),
            (Slot::Data(r), Answer::Data(a)) => drop(r.send(a)),
            (Slot::Done(r), Answer::Done(a)) => drop(r.send(a)),
            (slot, _) => slot.fail(BmsError::BadRequest(
                "internal: answer of the wrong kind".into(),
            )),
        }
    }

    fn fail(self, e: BmsError) {
        match self {
            Slot::Snapshot(r) => drop(r.send(Err(e))),
            Slot::Identity(r) => drop(r.send(Err(e))),
            Slot::Data(r) => drop(r.send(Err(e))),
            Slot::Done(r) => drop(r.send(Err(e))),
        }
    }
}

fn describe_jbd(req: &jbd::Request) -> String {
    let op = if req.write { "write" } else { "read" };
    format!(
        "{op} {} (0x{:02X})",
        jbd::register_name(req.register),
        req.register
    )
}

fn bad_reply(req: &jbd::Request, e: impl std::fmt::Display) -> BmsError {
    BmsError::BadReply {
        what: describe_jbd(req),
        reason: e.to_string(),
    }
}

/// The port went away (adapter unplugged, device closed): the task reopens it. Distinct from
/// a [`BmsError`], which is a command that failed on a live link.
#[derive(Debug, Clone, PartialEq)]
struct PortGone(String);

impl std::fmt::Display for PortGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transaction's result: the board's answer or a failed command (`Ok`), or a lost port.
type Transacted<T> = Result<Result<T, BmsError>, PortGone>;

/// Turn a link failure into the command's answer (timeout) or the task's (port gone).
fn link_result<T>(e: LinkError, what: &str, cfg: &SerialConfig) -> Transacted<T> {
    match e {
        LinkError::Timeout => Ok(Err(BmsError::Timeout {
            what: what.to_string(),
            attempts: cfg.attempts.max(1),
            timeout_ms: cfg.timeout.as_millis() as u64,
        })),
        LinkError::Gone(reason) => Err(PortGone(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Daly reply that lost a byte and borrowed the next frame's start byte as a checksum
    /// that happens to match (1 in 256): it must be refused, and the real frame behind it used.
    #[tokio::test]
    async fn a_frame_completed_by_the_next_start_byte_is_refused() {
        let (mut master, slave) = SerialStream::pair().unwrap();
        let path = slave.name().unwrap();
        let mut cfg = SerialConfig::new(&path, ProtocolKind::Daly);
        cfg.attempts = 1;
        let handle = spawn(cfg).unwrap();
        let board = tokio::spawn(async move {
            for echo in [0u8, 1] {
                let mut req = [0u8; daly::FRAME_LEN];
                master.read_exact(&mut req).await.unwrap();
                let id = req[2];
                // Header and data bytes whose sum with the following start byte's value passes.
                let mut damaged = vec![daly::START, 0x01, id, 0x08, 0, 0, 0, 0, 0, 0, 0];
                let sum = daly::checksum(&damaged);
                damaged.push(daly::START.wrapping_sub(sum));
                assert_eq!(daly::checksum(&damaged), daly::START, "the trap is set");
                let good = daly::Frame {
                    address: 0x01,
                    data_id: id,
                    data: [echo, 0, 0, 0, 0, 0, 0, 0],
                };
                damaged.extend_from_slice(&good.encode());
                master.write_all(&damaged).await.unwrap();
            }
            master
        });
        // Charge off (echo 0), discharge on (echo 1): the damaged frames would echo 0 both times.
        handle.set_fets(false, true).await.unwrap();
        let stats = handle.stats();
        assert_eq!(
            stats.retries, 0,
            "the real frame was found behind the false one"
        );
        assert!(stats.dropped_bytes >= 24, "{stats:?}");
        drop(board.await.unwrap());
    }

    /// Once the link has read 0x2D, live reads use the board's unit without being told.
    #[tokio::test]
    async fn the_unit_flag_read_from_the_board_scales_live_reads() {
        use crate::sim::jbd::{JbdBoard, JbdConfig};
        use crate::sim::pty::{self, Faults, Rng, SimOptions};
        let faults = Faults::default();
        let board = JbdBoard::new(
            JbdConfig::new(4, crate::chemistry::Chemistry::Lfp),
            &faults,
            &mut Rng::new(1),
        )
        .unwrap();
        let opts = SimOptions {
            baud: 115_200,
            turnaround: Duration::ZERO,
            link: None,
            faults,
            seed: 1,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let sim = tokio::spawn(pty::serve(board, opts, move |p| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(p.to_string());
            }
        }));
        let path = rx.await.unwrap();
        let handle = spawn(SerialConfig::new(&path, ProtocolKind::Jbd)).unwrap();
        // Default board: 100 Ah in 10 mAh steps.
        assert_eq!(handle.read().await.unwrap().nominal_ah, Some(100.0));
        handle.register(RegisterOp::EnterFactory).await.unwrap();
        let func = handle
            .register(RegisterOp::Read(eeprom::FUNCTION_CONFIG))
            .await
            .unwrap();
        let x10 = u16::from_be_bytes([func[0], func[1]]) | FunctionConfig::UNIT_X10;
        handle
            .register(RegisterOp::Write {
                register: eeprom::FUNCTION_CONFIG,
                data: x10.to_be_bytes().to_vec(),
            })
            .await
            .unwrap();
        handle
            .register(RegisterOp::Write {
                register: 0x10,
                data: 8400u16.to_be_bytes().to_vec(),
            })
            .await
            .unwrap();
        handle
            .register(RegisterOp::ExitFactory { save: true })
            .await
            .unwrap();
        handle.register(RegisterOp::EnterFactory).await.unwrap();
        handle
            .register(RegisterOp::Read(eeprom::FUNCTION_CONFIG))
            .await
            .unwrap();
        handle
            .register(RegisterOp::ExitFactory { save: false })
            .await
            .unwrap();
        assert_eq!(handle.read().await.unwrap().nominal_ah, Some(840.0));
        sim.abort();
    }

    #[tokio::test]
    async fn a_missing_port_is_reported_on_the_status_watch() {
        let mut cfg = SerialConfig::new("/nonexistent/ttyUSB7", ProtocolKind::Jbd);
        cfg.timeout = Duration::from_millis(50);
        cfg.attempts = 1;
        let handle = spawn(cfg).unwrap();
        let err = handle.read().await.unwrap_err();
        assert!(
            matches!(&err, BmsError::Disconnected { reason } if reason.contains("/nonexistent/ttyUSB7")),
            "{err}"
        );
        assert!(matches!(
            handle.status(),
            LinkStatus::Disconnected { .. } | LinkStatus::Reconnecting { .. }
        ));
        assert!(spawn(SerialConfig::new("can0", ProtocolKind::Pylontech)).is_err());
    }
}
