//! SocketCAN device task: one tokio task per interface owns the socket.
//!
//! [`CanBus::open`] spawns the task and returns a handle (send frames, watch the status) and
//! the receiving end of its events (frames that pass the id filters, status changes). The task
//! reports an interface that is down or gone and a controller in bus-off, keeps trying to
//! reopen the interface, and comes back by itself when it is usable again. Every frame it sees
//! or sends can be logged in candump's log format (`(secs.micros) iface ID#DATA`).
//!
//! [`bms`] builds the BMS client on top: a [`crate::device::handle::BmsHandle`] whose device task
//! speaks Pylontech, Daly CAN or JBD CAN over a [`CanBus`].

pub mod bms;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::can_kernel::{from_socketcan, to_socketcan};
use packwright_protocol::can::{format_log_line, CanFrame, LogEntry};
use socketcan::{EmbeddedFrame, SocketOptions};
use tokio::sync::{mpsc, oneshot, watch};

/// How often the task checks that the interface is still up while the bus is quiet, and
/// retries opening it while it is down.
const IFACE_POLL: Duration = Duration::from_millis(250);
/// Frames queued towards the consumer before the task waits for it (the kernel's socket
/// buffer absorbs bursts meanwhile).
const EVENT_QUEUE: usize = 8192;
/// Kernel receive buffer asked for: a CAN frame takes about 1 KiB of socket memory, so the
/// default (~200 KiB) holds only ~200 frames, 25 ms of a full 1 Mbit/s bus. 4 MiB holds
/// about half a second of it, enough to ride out a scheduling hiccup without losing frames.
const RCVBUF_BYTES: libc::c_int = 4 << 20;
/// Frames read in one go once the socket is readable, before requests get a turn again.
const READ_BATCH: usize = 256;

// linux/can/error.h: error classes in the id of an error frame, and byte 1 controller bits.
const CAN_ERR_CRTL: u32 = 0x0000_0004;
const CAN_ERR_BUSOFF: u32 = 0x0000_0040;
const CAN_ERR_RESTARTED: u32 = 0x0000_0100;
const CAN_ERR_CRTL_RX_PASSIVE: u8 = 0x10;
const CAN_ERR_CRTL_TX_PASSIVE: u8 = 0x20;
const CAN_ERR_MASK_USED: u32 = CAN_ERR_CRTL | CAN_ERR_BUSOFF | CAN_ERR_RESTARTED;
const CAN_EFF_FLAG: u32 = 0x8000_0000;

/// Which frames reach the consumer: `frame id & mask == id & mask`, for one id kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdFilter {
    pub id: u32,
    pub mask: u32,
    pub extended: bool,
}

impl IdFilter {
    /// Exactly one id.
    pub fn exact(id: u32, extended: bool) -> IdFilter {
        let mask = if extended { 0x1FFF_FFFF } else { 0x7FF };
        IdFilter { id, mask, extended }
    }

    /// Every id whose bits under `mask` equal `id`'s.
    pub fn masked(id: u32, mask: u32, extended: bool) -> IdFilter {
        IdFilter { id, mask, extended }
    }

    /// The kernel filter: the EFF flag is part of both id and mask, so 11-bit filters never
    /// match 29-bit frames with the same low bits and vice versa. The mask must stay within
    /// the id bits: with CAN_ERR_FLAG in it the kernel files the filter under error frames
    /// and no data frame ever matches.
    fn kernel(self) -> socketcan::CanFilter {
        let (width, eff) = if self.extended {
            (0x1FFF_FFFF, CAN_EFF_FLAG)
        } else {
            (0x7FF, 0)
        };
        socketcan::CanFilter::new((self.id & width) | eff, (self.mask & width) | CAN_EFF_FLAG)
    }

    fn matches(&self, frame: &CanFrame) -> bool {
        frame.is_extended() == self.extended && frame.id() & self.mask == self.id & self.mask
    }
}

/// What the task was asked to open, and where it logs.
#[derive(Debug, Clone)]
pub struct BusConfig {
    pub iface: String,
    /// Empty: every frame passes.
    pub filters: Vec<IdFilter>,
    /// Append every frame seen or sent to this file in candump log format.
    pub log: Option<PathBuf>,
}

impl BusConfig {
    pub fn new(iface: &str) -> BusConfig {
        BusConfig {
            iface: iface.to_string(),
            filters: Vec::new(),
            log: None,
        }
    }
}

/// The link as the task sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusStatus {
    Opening,
    Up,
    /// The controller reported error-passive: it still works but sees many errors.
    ErrorPassive,
    /// The controller left the bus after too many errors; it takes no part until restarted.
    BusOff,
    /// The interface is down or does not exist, or its socket failed, with the reason.
    Down {
        reason: String,
    },
    /// The task ended (the handle asked it to, or every handle is gone).
    Closed,
}

impl BusStatus {
    pub fn is_usable(&self) -> bool {
        matches!(self, BusStatus::Up | BusStatus::ErrorPassive)
    }
}

impl std::fmt::Display for BusStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusStatus::Opening => f.write_str("opening"),
            BusStatus::Up => f.write_str("up"),
            BusStatus::ErrorPassive => f.write_str("error-passive (many bus errors)"),
            BusStatus::BusOff => f.write_str(
                "bus-off: the controller left the bus after too many errors; it rejoins when the interface restarts (e.g. `ip link set <iface> type can restart-ms 100`)",
            ),
            BusStatus::Down { reason } => write!(f, "down: {reason}"),
            BusStatus::Closed => f.write_str("closed"),
        }
    }
}

/// A frame as received, with the time the task read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub frame: CanFrame,
    pub at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    Frame(Received),
    Status(BusStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("`{iface}` is not a usable interface name: {reason}")]
    BadName { iface: String, reason: &'static str },
    #[error("cannot open log file {path}: {reason}")]
    Log { path: String, reason: String },
    #[error("{iface}: cannot send {frame}: the bus is {status}")]
    NotUp {
        iface: String,
        frame: String,
        status: String,
    },
    #[error("{iface}: sending {frame} failed: {reason}")]
    Write {
        iface: String,
        frame: String,
        reason: String,
        /// The OS error number, when the kernel refused the write.
        errno: Option<i32>,
    },
    #[error("{iface}: the device task has stopped")]
    Closed { iface: String },
}

/// Frame counts the task keeps; read them with [`CanBus::counters`].
#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
    error_frames: AtomicU64,
    filtered_out: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BusCounters {
    pub received: u64,
    pub sent: u64,
    pub error_frames: u64,
    /// Frames the user-space filter dropped (the kernel filter drops most before us).
    pub filtered_out: u64,
}

enum Request {
    Send(CanFrame, oneshot::Sender<Result<(), BusError>>),
    Close,
}

/// Handle to one interface's device task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CanBus {
    iface: Arc<str>,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<BusStatus>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Send(frame, _) => write!(f, "Send({frame})"),
            Request::Close => f.write_str("Close"),
        }
    }
}

impl CanBus {
    /// Spawns the device task for `config.iface` (needs a tokio runtime). Opening errors that
    /// can be known at once (a bad name, an unwritable log file) are returned; an interface
    /// that is down or missing is reported through the status and retried.
    pub fn open(config: BusConfig) -> Result<(CanBus, mpsc::Receiver<BusEvent>), BusError> {
        check_iface_name(&config.iface)?;
        let log = match &config.log {
            Some(path) => Some(open_log(path)?),
            None => None,
        };
        let (req_tx, req_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let (status_tx, status_rx) = watch::channel(BusStatus::Opening);
        let counters = Arc::new(Counters::default());
        let bus = CanBus {
            iface: config.iface.as_str().into(),
            requests: req_tx,
            status: status_rx,
            counters: counters.clone(),
        };
        let task = Task {
            config,
            requests: req_rx,
            events: ev_tx,
            status: status_tx,
            counters,
            log,
        };
        tokio::spawn(task.run());
        Ok((bus, ev_rx))
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn status(&self) -> BusStatus {
        self.status.borrow().clone()
    }

    /// A receiver that wakes on every status change.
    pub fn watch(&self) -> watch::Receiver<BusStatus> {
        self.status.clone()
    }

    pub fn counters(&self) -> BusCounters {
        let c = &self.counters;
        BusCounters {
            received: c.received.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            error_frames: c.error_frames.load(Ordering::Relaxed),
            filtered_out: c.filtered_out.load(Ordering::Relaxed),
        }
    }

    /// Sends one frame; fails at once, naming the state, when the bus is not usable.
    pub async fn send(&self, frame: CanFrame) -> Result<(), BusError> {
        let closed = || BusError::Closed {
            iface: self.iface.to_string(),
        };
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Send(frame, tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Waits until the status satisfies `pred`, at most `timeout`; returns the last status.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&BusStatus) -> bool,
    ) -> Result<BusStatus, BusStatus> {
        let mut rx = self.status.clone();
        let outcome = tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await;
        match outcome {
            Ok(Ok(s)) => Ok(s.clone()),
            _ => Err(self.status()),
        }
    }

    /// Asks the task to stop, flushing its log.
    pub async fn close(&self) {
        let _ = self.requests.send(Request::Close).await;
        let mut rx = self.status.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            rx.wait_for(|s| *s == BusStatus::Closed),
        )
        .await;
    }
}

fn check_iface_name(iface: &str) -> Result<(), BusError> {
    let bad = |reason| {
        Err(BusError::BadName {
            iface: iface.to_string(),
            reason,
        })
    };
    if iface.is_empty() {
        return bad("empty");
    }
    if iface.len() > 15 {
        return bad("longer than 15 characters");
    }
    if iface
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return bad("contains `/`, a space or a control character");
    }
    if iface == "." || iface == ".." {
        return bad("not a name");
    }
    Ok(())
}

fn open_log(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, BusError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| BusError::Log {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Whether the interface exists and is administratively up, from sysfs.
pub fn iface_state(iface: &str) -> Result<(), String> {
    let path = format!("/sys/class/net/{iface}/flags");
    let text =
        std::fs::read_to_string(&path).map_err(|_| format!("interface {iface} does not exist"))?;
    let flags = u32::from_str_radix(text.trim().trim_start_matches("0x"), 16)
        .map_err(|_| format!("unreadable flags `{}` in {path}", text.trim()))?;
    // IFF_UP
    if flags & 0x1 == 0 {
        return Err(format!("interface {iface} is down"));
    }
    Ok(())
}

fn now_entry(iface: &str, frame: CanFrame, at: SystemTime) -> LogEntry {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    LogEntry {
        secs: since.as_secs(),
        micros: since.subsec_micros(),
        interface: iface.to_string(),
        frame,
    }
}

struct Task {
    config: BusConfig,
    requests: mpsc::Receiver<Request>,
    events: mpsc::Sender<BusEvent>,
    status: watch::Sender<BusStatus>,
    counters: Arc<Counters>,
    log: Option<std::io::BufWriter<std::fs::File>>,
}

/// Why the inner loop over one open socket ended.
enum Ended {
    Close,
    Reopen(String),
}

impl Task {
    async fn run(mut self) {
        loop {
            if let Err(reason) = iface_state(&self.config.iface) {
                self.set_status(BusStatus::Down { reason }).await;
                if self.idle(IFACE_POLL).await {
                    break;
                }
                continue;
            }
            let socket = match self.open_socket() {
                Ok(s) => s,
                Err(reason) => {
                    self.set_status(BusStatus::Down { reason }).await;
                    if self.idle(IFACE_POLL).await {
                        break;
                    }
                    continue;
                }
            };
            self.set_status(BusStatus::Up).await;
            match self.serve(&socket).await {
                Ended::Close => break,
                Ended::Reopen(reason) => {
                    self.set_status(BusStatus::Down { reason }).await;
                    if self.idle(IFACE_POLL).await {
                        break;
                    }
                }
            }
        }
        self.flush_log();
        self.set_status(BusStatus::Closed).await;
    }

    fn open_socket(&self) -> Result<socketcan::tokio::CanSocket, String> {
        let iface = &self.config.iface;
        let socket = socketcan::tokio::CanSocket::open(iface)
            .map_err(|e| format!("cannot open a CAN socket on {iface}: {e}"))?;
        if !self.config.filters.is_empty() {
            let filters: Vec<socketcan::CanFilter> =
                self.config.filters.iter().map(|f| f.kernel()).collect();
            socket
                .set_filters(&filters)
                .map_err(|e| format!("cannot set id filters on {iface}: {e}"))?;
        }
        socket
            .set_error_filter(CAN_ERR_MASK_USED)
            .map_err(|e| format!("cannot enable error frames on {iface}: {e}"))?;
        enlarge_receive_buffer(&socket);
        Ok(socket)
    }

    /// Waits `period` while answering requests (sends fail: the bus is not up). Returns true
    /// when asked to close.
    async fn idle(&mut self, period: Duration) -> bool {
        let deadline = tokio::time::sleep(period);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return false,
                req = self.requests.recv() => match req {
                    None | Some(Request::Close) => return true,
                    Some(Request::Send(frame, reply)) => {
                        let _ = reply.send(Err(BusError::NotUp {
                            iface: self.config.iface.clone(),
                            frame: frame.to_string(),
                            status: self.status.borrow().to_string(),
                        }));
                    }
                },
            }
        }
    }

    async fn serve(&mut self, socket: &socketcan::tokio::CanSocket) -> Ended {
        let mut tick = tokio::time::interval(IFACE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                req = self.requests.recv() => match req {
                    None | Some(Request::Close) => return Ended::Close,
                    Some(Request::Send(frame, reply)) => {
                        let result = self.write(socket, frame).await;
                        let reopen = match &result {
                            Err(BusError::Write { reason, errno: Some(errno), .. }) if is_link_gone(*errno) => Some(reason.clone()),
                            _ => None,
                        };
                        let _ = reply.send(result);
                        if let Some(reason) = reopen {
                            return Ended::Reopen(reason);
                        }
                    }
                },
                read = socket.read_frame() => match read {
                    Ok(frame) => {
                        self.on_frame(frame).await;
                        // Drain what else is queued in one go: one wake-up per batch, not
                        // per frame, is what keeps up with a loaded bus.
                        for _ in 1..READ_BATCH {
                            match socket.try_read_frame() {
                                Ok(frame) => self.on_frame(frame).await,
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => {
                        return Ended::Reopen(format!("{}: reading failed: {e}", self.config.iface));
                    }
                },
                _ = tick.tick() => {
                    self.flush_log();
                    if let Err(reason) = iface_state(&self.config.iface) {
                        return Ended::Reopen(reason);
                    }
                }
            }
        }
    }

    async fn write(
        &mut self,
        socket: &socketcan::tokio::CanSocket,
        frame: CanFrame,
    ) -> Result<(), BusError> {
        let iface = self.config.iface.clone();
        let status = self.status.borrow().clone();
        if status == BusStatus::BusOff {
            return Err(BusError::NotUp {
                iface,
                frame: frame.to_string(),
                status: status.to_string(),
            });
        }
        let kernel = to_socketcan(&frame).ok_or_else(|| BusError::Write {
            iface: iface.clone(),
            frame: frame.to_string(),
            reason: "the frame cannot be represented".into(),
            errno: None,
        })?;
        socket
            .write_frame(kernel)
            .await
            .map_err(|e| BusError::Write {
                iface: iface.clone(),
                frame: frame.to_string(),
                reason: e.to_string(),
                errno: e.raw_os_error(),
            })?;
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        self.log_frame(frame, SystemTime::now());
        Ok(())
    }

    async fn on_frame(&mut self, frame: socketcan::CanFrame) {
        let at = SystemTime::now();
        if let socketcan::CanFrame::Error(e) = &frame {
            self.counters.error_frames.fetch_add(1, Ordering::Relaxed);
            let bits = e.error_bits();
            let passive = e.data().get(1).copied().unwrap_or(0)
                & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE);
            if bits & CAN_ERR_BUSOFF != 0 {
                self.set_status(BusStatus::BusOff).await;
            } else if bits & CAN_ERR_RESTARTED != 0 {
                self.set_status(BusStatus::Up).await;
            } else if bits & CAN_ERR_CRTL != 0 && passive != 0 {
                self.set_status(BusStatus::ErrorPassive).await;
            }
            return;
        }
        let Some(frame) = from_socketcan(&frame) else {
            return;
        };
        // A frame from another node proves the controller is back on the bus.
        if *self.status.borrow() == BusStatus::BusOff {
            self.set_status(BusStatus::Up).await;
        }
        // The kernel filter cannot express "RTR only for these ids"; re-check so consumers
        // see exactly the configured ids.
        if !self.config.filters.is_empty() && !self.config.filters.iter().any(|f| f.matches(&frame))
        {
            self.counters.filtered_out.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        self.log_frame(frame, at);
        // A consumer that went away does not stop the task: sends and logging go on.
        let _ = self
            .events
            .send(BusEvent::Frame(Received { frame, at }))
            .await;
    }

    async fn set_status(&mut self, status: BusStatus) {
        if *self.status.borrow() == status {
            return;
        }
        match &status {
            BusStatus::Down { reason } => {
                tracing::warn!(iface = %self.config.iface, "CAN down: {reason}")
            }
            BusStatus::BusOff => tracing::warn!(iface = %self.config.iface, "CAN bus-off"),
            other => tracing::info!(iface = %self.config.iface, "CAN {other}"),
        }
        self.status.send_replace(status.clone());
        let _ = self.events.try_send(BusEvent::Status(status));
    }

    fn log_frame(&mut self, frame: CanFrame, at: SystemTime) {
        if let Some(log) = &mut self.log {
            let line = format_log_line(&now_entry(&self.config.iface, frame, at));
            if let Err(e) = writeln!(log, "{line}") {
                tracing::error!("CAN log write failed, logging stops: {e}");
                self.log = None;
            }
        }
    }

    fn flush_log(&mut self) {
        if let Some(log) = &mut self.log {
            let _ = log.flush();
        }
    }
}

/// Asks for a [`RCVBUF_BYTES`] receive buffer: SO_RCVBUFFORCE (root may exceed
/// `net.core.rmem_max`), else SO_RCVBUF (capped by the kernel). Best effort: a smaller
/// buffer still works, it only absorbs shorter stalls.
fn enlarge_receive_buffer(socket: &socketcan::tokio::CanSocket) {
    use std::os::fd::AsRawFd;
    let size = RCVBUF_BYTES;
    let fd = socket.as_raw_fd();
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: fd is an open socket owned by `socket`; the option value is a c_int that
        // outlives the call, and its size is passed alongside.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
    tracing::debug!("could not enlarge the CAN receive buffer; keeping the default");
}

/// Write errors after which the socket must be reopened: the interface went down (ENETDOWN)
/// or away (ENODEV, ENXIO).
fn is_link_gone(errno: i32) -> bool {
    matches!(errno, libc::ENETDOWN | libc::ENODEV | libc::ENXIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_separate_id_kinds() {
        let std = IdFilter::exact(0x351, false);
        assert!(std.matches(&CanFrame::standard(0x351, &[]).unwrap()));
        assert!(!std.matches(&CanFrame::extended(0x351, &[]).unwrap()));
        assert!(!std.matches(&CanFrame::standard(0x352, &[]).unwrap()));
        let daly = IdFilter::masked(0x1800_4001, 0x1F00_FFFF, true);
        assert!(daly.matches(&CanFrame::extended(0x1890_4001, &[]).unwrap()));
        assert!(!daly.matches(&CanFrame::extended(0x1890_0140, &[]).unwrap()));
        let k = std.kernel();
        let raw: &libc::can_filter = k.as_ref();
        assert_eq!(raw.can_id, 0x351);
        assert_eq!(raw.can_mask, 0x7FF | CAN_EFF_FLAG);
        // Even a sloppy mask never carries the RTR or error flag into the kernel.
        let wide = IdFilter::masked(0x1800_4001, 0xFF00_FFFF, true).kernel();
        let raw: &libc::can_filter = wide.as_ref();
        assert_eq!(raw.can_mask, 0x1F00_FFFF | CAN_EFF_FLAG);
        assert_eq!(raw.can_id, 0x1800_4001 | CAN_EFF_FLAG);
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_iface_name("vcan0").is_ok());
        for bad in ["", "a/b", "has space", "sixteen_chars_xx", ".."] {
            assert!(check_iface_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_convert_both_ways() {
        for f in [
            CanFrame::standard(0x351, &[1, 2, 3]).unwrap(),
            CanFrame::extended(0x1890_4001, &[0; 8]).unwrap(),
            CanFrame::standard(0x100, &[]).unwrap(),
            CanFrame::remote(0x123, false, 4).unwrap(),
        ] {
            let k = to_socketcan(&f).unwrap();
            assert_eq!(from_socketcan(&k), Some(f), "{f}");
        }
    }

    #[test]
    fn a_missing_interface_is_named() {
        let err = iface_state("pwnosuch0").unwrap_err();
        assert_eq!(err, "interface pwnosuch0 does not exist");
    }

    #[tokio::test]
    async fn a_missing_interface_is_reported_and_sends_fail_with_the_reason() {
        let (bus, mut events) = CanBus::open(BusConfig::new("pwnosuch0")).unwrap();
        let ev = events.recv().await.unwrap();
        assert_eq!(
            ev,
            BusEvent::Status(BusStatus::Down {
                reason: "interface pwnosuch0 does not exist".into()
            })
        );
        let err = bus
            .send(CanFrame::standard(0x305, &[0; 8]).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwnosuch0: cannot send 305#0000000000000000: the bus is down: interface pwnosuch0 does not exist"
        );
        bus.close().await;
        assert_eq!(bus.status(), BusStatus::Closed);
    }

    #[test]
    fn unwritable_log_is_refused_up_front() {
        let mut cfg = BusConfig::new("vcan0");
        cfg.log = Some("/nonexistent-dir/x.log".into());
        let err = CanBus::open(cfg).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot open log file /nonexistent-dir/x.log"));
    }
}
