//! The device API: what any device task (serial: [`super::serial`], CAN: [`super::can`])
//! answers, and the [`BmsHandle`] everything else holds. Commands go over an `mpsc` channel
//! with a `oneshot` reply; the link state is a `watch` the console can render without asking.
//! Nothing here blocks: a caller awaits its reply, or drops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use packwright_protocol::{BmsSnapshot, ProtocolKind};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

/// How the link to a board is doing, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkStatus {
    /// Opening the port for the first time.
    Connecting,
    Connected,
    /// The port is gone or failed (adapter unplugged, interface down), with the reason.
    Disconnected {
        reason: String,
    },
    /// Trying to open the port again after a disconnect.
    Reconnecting {
        attempt: u32,
        reason: String,
    },
}

impl LinkStatus {
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkStatus::Connected)
    }
}

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkStatus::Connecting => f.write_str("connecting"),
            LinkStatus::Connected => f.write_str("connected"),
            LinkStatus::Disconnected { reason } => write!(f, "disconnected: {reason}"),
            LinkStatus::Reconnecting { attempt, reason } => {
                write!(f, "reconnecting (attempt {attempt}): {reason}")
            }
        }
    }
}

/// Why a command did not succeed. Every variant says what was attempted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BmsError {
    #[error("no valid reply to {what} after {attempts} attempt(s) of {timeout_ms} ms each")]
    Timeout {
        what: String,
        attempts: u32,
        timeout_ms: u64,
    },
    #[error("adapter disconnected: {reason}")]
    Disconnected { reason: String },
    #[error("{what}: the BMS refused with status 0x{status:02X} ({meaning})")]
    Rejected {
        what: String,
        status: u8,
        meaning: String,
    },
    #[error("{what}: invalid reply: {reason}")]
    BadReply { what: String, reason: String },
    #[error("{what} is not supported over {protocol}")]
    Unsupported {
        what: String,
        protocol: ProtocolKind,
    },
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("the device task for {port} has stopped")]
    Closed { port: String },
}

impl BmsError {
    /// True for failures of the link itself (as opposed to a board that answered "no").
    pub fn is_communication(&self) -> bool {
        matches!(
            self,
            BmsError::Timeout { .. }
                | BmsError::Disconnected { .. }
                | BmsError::BadReply { .. }
                | BmsError::Closed { .. }
        )
    }
}

pub type Reply<T> = oneshot::Sender<Result<T, BmsError>>;

/// Who the board says it is, recorded with every configuration write and EOL run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BmsIdentity {
    pub protocol: Option<ProtocolKind>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub manufacturer: Option<String>,
    pub barcode: Option<String>,
    pub manufacture_date: Option<String>,
}

impl BmsIdentity {
    /// One line for logs: `jbd JBD-SP04S034 fw 0x20 barcode PW00000042`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.protocol {
            parts.push(p.to_string());
        }
        for (label, v) in [
            ("", &self.model),
            ("fw ", &self.firmware_version),
            ("barcode ", &self.barcode),
        ] {
            if let Some(v) = v {
                parts.push(format!("{label}{v}"));
            }
        }
        if parts.is_empty() {
            "unknown".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// Register-level access for configuration (JBD-style EEPROM). Transports without it answer
/// [`BmsError::Unsupported`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    /// PIN before factory mode; a board without the PIN function may refuse with 0x80.
    UsePassword(packwright_protocol::jbd::Pin),
    EnterFactory,
    /// `save = true` commits the session's writes to EEPROM.
    ExitFactory {
        save: bool,
    },
    Read(u8),
    Write {
        register: u8,
        data: Vec<u8>,
    },
    /// Modbus-style boards (JK PB): `words` 16-bit registers from `register` (FC03); the reply
    /// is their bytes, big-endian.
    ReadWords {
        register: u16,
        words: u16,
    },
    /// Modbus-style boards (JK PB): write `data` (an even number of bytes) from `register`
    /// (FC16); the board's acknowledgement echoes the address and count.
    WriteWords {
        register: u16,
        data: Vec<u8>,
    },
    /// Pylontech-style ASCII boards (Pace): one command (CID2) with its INFO; the reply is the
    /// INFO of the board's normal answer (return code 00).
    Command {
        cid2: u8,
        info: Vec<u8>,
    },
}

impl RegisterOp {
    pub fn describe(&self) -> String {
        use packwright_protocol::jbd::register_name;
        match self {
            RegisterOp::UsePassword(_) => "PIN (0x06)".to_string(),
            RegisterOp::EnterFactory => "enter factory mode".to_string(),
            RegisterOp::ExitFactory { save: true } => "exit factory mode with save".to_string(),
            RegisterOp::ExitFactory { save: false } => "exit factory mode without saving".into(),
            RegisterOp::Read(r) => format!("read {} (0x{r:02X})", register_name(*r)),
            RegisterOp::Write { register, .. } => {
                format!("write {} (0x{register:02X})", register_name(*register))
            }
            RegisterOp::ReadWords { register, words } => {
                format!("read {words} register(s) at 0x{register:04X}")
            }
            RegisterOp::WriteWords { register, data } => {
                format!("write {} register(s) at 0x{register:04X}", data.len() / 2)
            }
            RegisterOp::Command { cid2, .. } => format!("command 0x{cid2:02X}"),
        }
    }
}

/// What a device task is asked to do.
#[derive(Debug)]
pub enum BmsCommand {
    /// A full live reading.
    Read { reply: Reply<BmsSnapshot> },
    /// Model, firmware and codes the board reports.
    Identity { reply: Reply<BmsIdentity> },
    /// One register operation; the reply is the data of the board's OK answer.
    Register {
        op: RegisterOp,
        reply: Reply<Vec<u8>>,
    },
    /// Switch the FETs (`true` = allowed on). JBD: 0xE1; Daly: 0xDA/0xD9.
    SetFets {
        charge: bool,
        discharge: bool,
        reply: Reply<()>,
    },
    /// Set the state of charge (Daly 0x21).
    SetSoc { soc_pct: f64, reply: Reply<()> },
}

impl BmsCommand {
    /// Answer the command with an error, whatever it is (e.g. when the port is gone).
    pub fn fail(self, error: BmsError) {
        // A dropped receiver means the caller gave up; nothing to do.
        match self {
            BmsCommand::Read { reply } => drop(reply.send(Err(error))),
            BmsCommand::Identity { reply } => drop(reply.send(Err(error))),
            BmsCommand::Register { reply, .. } => drop(reply.send(Err(error))),
            BmsCommand::SetFets { reply, .. } => drop(reply.send(Err(error))),
            BmsCommand::SetSoc { reply, .. } => drop(reply.send(Err(error))),
        }
    }
}

/// A command for one board on the link: `board` selects a board on a multi-drop bus (Daly
/// board number on RS485, CAN BMS address); `None` is the link's configured default.
#[derive(Debug)]
pub struct Envelope {
    pub board: Option<u8>,
    pub command: BmsCommand,
}

/// Traffic counters a device task keeps, for benchmarks and EOL logs.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub bytes_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub transactions: AtomicU64,
    pub retries: AtomicU64,
    pub dropped_bytes: AtomicU64,
}

/// A plain copy of [`LinkStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub transactions: u64,
    pub retries: u64,
    pub dropped_bytes: u64,
}

impl StatsSnapshot {
    /// The traffic between `before` and this snapshot.
    pub fn since(&self, before: &StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            bytes_out: self.bytes_out.saturating_sub(before.bytes_out),
            bytes_in: self.bytes_in.saturating_sub(before.bytes_in),
            transactions: self.transactions.saturating_sub(before.transactions),
            retries: self.retries.saturating_sub(before.retries),
            dropped_bytes: self.dropped_bytes.saturating_sub(before.dropped_bytes),
        }
    }
}

impl LinkStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dropped_bytes: self.dropped_bytes.load(Ordering::Relaxed),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The device task's end of a handle: commands in, status and counters out.
pub struct DeviceEnd {
    pub commands: mpsc::Receiver<Envelope>,
    pub status: watch::Sender<LinkStatus>,
    pub stats: Arc<LinkStats>,
}

/// Cheap to clone; every clone talks to the same device task.
#[derive(Debug, Clone)]
pub struct BmsHandle {
    tx: mpsc::Sender<Envelope>,
    status: watch::Receiver<LinkStatus>,
    stats: Arc<LinkStats>,
    board: Option<u8>,
    protocol: ProtocolKind,
    port: Arc<str>,
}

impl BmsHandle {
    /// A handle and the device end it talks to. Device tasks call this, keep the
    /// [`DeviceEnd`] and return the handle.
    pub fn channel(protocol: ProtocolKind, port: &str) -> (BmsHandle, DeviceEnd) {
        let (tx, commands) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(LinkStatus::Connecting);
        let stats = Arc::new(LinkStats::default());
        let handle = BmsHandle {
            tx,
            status,
            stats: stats.clone(),
            board: None,
            protocol,
            port: port.into(),
        };
        (
            handle,
            DeviceEnd {
                commands,
                status: status_tx,
                stats,
            },
        )
    }

    /// The same link, addressing board `board` (1-based) of a multi-drop bus.
    pub fn for_board(&self, board: u8) -> BmsHandle {
        BmsHandle {
            board: Some(board),
            ..self.clone()
        }
    }

    pub fn protocol(&self) -> ProtocolKind {
        self.protocol
    }

    pub fn port(&self) -> &str {
        &self.port
    }

    pub fn status(&self) -> LinkStatus {
        self.status.borrow().clone()
    }

    /// A receiver that wakes on every status change.
    pub fn watch_status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> BmsCommand) -> Result<T, BmsError> {
        let closed = || BmsError::Closed {
            port: self.port.to_string(),
        };
        let (reply, rx) = oneshot::channel();
        let envelope = Envelope {
            board: self.board,
            command: make(reply),
        };
        self.tx.send(envelope).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    pub async fn read(&self) -> Result<BmsSnapshot, BmsError> {
        self.call(|reply| BmsCommand::Read { reply }).await
    }

    pub async fn identity(&self) -> Result<BmsIdentity, BmsError> {
        self.call(|reply| BmsCommand::Identity { reply }).await
    }

    pub async fn register(&self, op: RegisterOp) -> Result<Vec<u8>, BmsError> {
        self.call(|reply| BmsCommand::Register { op, reply }).await
    }

    pub async fn set_fets(&self, charge: bool, discharge: bool) -> Result<(), BmsError> {
        self.call(|reply| BmsCommand::SetFets {
            charge,
            discharge,
            reply,
        })
        .await
    }

    pub async fn set_soc(&self, soc_pct: f64) -> Result<(), BmsError> {
        self.call(|reply| BmsCommand::SetSoc { soc_pct, reply })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_reach_the_device_end_and_replies_come_back() {
        let (handle, mut end) = BmsHandle::channel(ProtocolKind::Jbd, "/dev/null");
        let board = handle.for_board(3);
        let device = tokio::spawn(async move {
            let env = end.commands.recv().await.unwrap();
            assert_eq!(env.board, Some(3));
            match env.command {
                BmsCommand::Read { reply } => reply
                    .send(Ok(BmsSnapshot {
                        pack_voltage_v: 51.2,
                        ..Default::default()
                    }))
                    .unwrap(),
                other => panic!("{other:?}"),
            }
            end.status.send(LinkStatus::Connected).unwrap();
            let env = end.commands.recv().await.unwrap();
            env.command.fail(BmsError::Disconnected {
                reason: "unplugged".into(),
            });
        });
        assert_eq!(board.read().await.unwrap().pack_voltage_v, 51.2);
        let err = handle.identity().await.unwrap_err();
        assert_eq!(err.to_string(), "adapter disconnected: unplugged");
        assert!(err.is_communication());
        device.await.unwrap();
        assert_eq!(handle.status(), LinkStatus::Connected);
        // The task is gone: calls fail with Closed instead of hanging.
        assert!(matches!(handle.read().await, Err(BmsError::Closed { .. })));
    }

    #[test]
    fn identity_summary_names_what_is_known() {
        let id = BmsIdentity {
            protocol: Some(ProtocolKind::Jbd),
            model: Some("JBD-SP04S034".into()),
            firmware_version: Some("0x20".into()),
            ..Default::default()
        };
        assert_eq!(id.summary(), "jbd JBD-SP04S034 fw 0x20");
        assert_eq!(BmsIdentity::default().summary(), "unknown");
    }
}
