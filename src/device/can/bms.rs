//! The BMS client over CAN: reads a pack over a [`CanBus`] in Pylontech (listen to the
//! pack's broadcast, acting as the inverter), Daly CAN or JBD CAN (request, then collect the
//! replies), and serves [`BmsCommand`]s through a [`BmsHandle`].
//!
//! Configuration writes are not possible over these CAN protocols (JBD: "CAN bus cannot
//! read/write parameters"; Daly's CAN document covers reads only; Pylontech is a broadcast);
//! such commands are answered with [`BmsError::Unsupported`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use packwright_protocol::can::daly_can::{self, DalyCanState};
use packwright_protocol::can::jbd_can::{self, JbdCanMessage, JbdCanState};
use packwright_protocol::can::pylontech::{self, PylonState};
use packwright_protocol::can::{CanFrame, DecodeOptions};
use packwright_protocol::{BmsSnapshot, ProtocolKind};
use tokio::sync::mpsc;

use super::{BusConfig, BusError, BusEvent, BusStatus, CanBus, IdFilter, Received};
use crate::device::handle::{BmsCommand, BmsError, BmsHandle, BmsIdentity, DeviceEnd, LinkStatus};

/// How to reach and read one pack.
#[derive(Debug, Clone)]
pub struct CanBmsConfig {
    pub iface: String,
    /// `pylontech`, `daly-can` or `jbd-can`.
    pub protocol: ProtocolKind,
    pub options: DecodeOptions,
    /// Daly CAN board address (1 for a single BMS).
    pub bms_address: u8,
    /// Pylontech: how long one read may wait for the full broadcast. Daly/JBD: per request.
    pub timeout: Duration,
    /// Extra attempts per Daly/JBD request after a timeout or a damaged reply.
    pub retries: u32,
    /// Pylontech: a frame older than this is stale (the pack's heartbeat stopped).
    pub stale_after: Duration,
    /// Pylontech: send the inverter's 0x305 keep-alive every second, as an inverter does.
    pub keep_alive: bool,
    pub log: Option<PathBuf>,
}

impl CanBmsConfig {
    pub fn new(iface: &str, protocol: ProtocolKind) -> CanBmsConfig {
        let pylon = protocol == ProtocolKind::Pylontech;
        CanBmsConfig {
            iface: iface.to_string(),
            protocol,
            options: DecodeOptions::default(),
            bms_address: daly_can::DEFAULT_BMS_ADDRESS,
            // Pylontech packs broadcast about once a second: allow two rounds and a margin.
            timeout: if pylon {
                Duration::from_millis(3000)
            } else {
                Duration::from_millis(300)
            },
            retries: 2,
            stale_after: Duration::from_millis(3000),
            keep_alive: true,
            log: None,
        }
    }

    fn filters(&self) -> Vec<IdFilter> {
        match self.protocol {
            // 0x350-0x35F: everything a pack broadcasts.
            ProtocolKind::Pylontech => vec![IdFilter::masked(0x350, 0x7F0, false)],
            // Replies to the PC from our board: 0x18 <any id> 40 <bms>.
            ProtocolKind::DalyCan => vec![IdFilter::masked(
                daly_can::reply_id(0, self.bms_address),
                0x1F00_FFFF,
                true,
            )],
            // 0x100-0x11F
            _ => vec![IdFilter::masked(0x100, 0x7E0, false)],
        }
    }
}

/// One complete reading, with the frames it was built from (for traceability).
#[derive(Debug, Clone)]
pub struct CanReading {
    pub snapshot: BmsSnapshot,
    pub frames: Vec<CanFrame>,
    /// The pack's whole broadcast, for checking its inverter limits (Pylontech only).
    pub pylon: Option<PylonState>,
}

/// Reads one pack over one interface. Not shared: [`spawn`] puts one in a device task.
pub struct CanReader {
    cfg: CanBmsConfig,
    bus: CanBus,
    events: mpsc::Receiver<BusEvent>,
    pylon: PylonState,
    /// When each broadcast id was last received (the bus task's receive time, so frames
    /// that waited in the queue are not taken for fresh ones).
    last_seen: HashMap<u32, (SystemTime, CanFrame)>,
    last_keep_alive: Option<Instant>,
}

impl CanReader {
    pub fn open(cfg: CanBmsConfig) -> Result<CanReader, BusError> {
        if cfg.protocol.is_serial() {
            return Err(BusError::BadName {
                iface: cfg.iface.clone(),
                reason: "a serial protocol cannot be read over CAN",
            });
        }
        let bus_cfg = BusConfig {
            iface: cfg.iface.clone(),
            filters: cfg.filters(),
            log: cfg.log.clone(),
        };
        let (bus, events) = CanBus::open(bus_cfg)?;
        Ok(CanReader {
            cfg,
            bus,
            events,
            pylon: PylonState::default(),
            last_seen: HashMap::new(),
            last_keep_alive: None,
        })
    }

    pub fn bus(&self) -> &CanBus {
        &self.bus
    }

    pub fn protocol(&self) -> ProtocolKind {
        self.cfg.protocol
    }

    /// Pylontech: the latest value of each broadcast frame seen so far, also after a read that
    /// failed for want of other frames (the EOL inverter step needs 0x351 on its own).
    pub fn pylon(&self) -> &PylonState {
        &self.pylon
    }

    fn what(&self) -> String {
        format!("{} on {}", self.cfg.protocol, self.cfg.iface)
    }

    /// The next event, or `None` at the deadline. Broadcast frames are tracked on the way.
    async fn next_event(&mut self, deadline: Instant) -> Result<Option<Received>, BmsError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let ev = match tokio::time::timeout(deadline - now, self.events.recv()).await {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(BmsError::Closed {
                        port: self.cfg.iface.clone(),
                    })
                }
                Ok(Some(ev)) => ev,
            };
            match ev {
                BusEvent::Frame(r) => {
                    self.track(&r);
                    return Ok(Some(r));
                }
                BusEvent::Status(s) if !s.is_usable() && s != BusStatus::Opening => {
                    return Err(BmsError::Disconnected {
                        reason: format!("{}: {s}", self.cfg.iface),
                    })
                }
                BusEvent::Status(_) => {}
            }
        }
    }

    fn track(&mut self, r: &Received) {
        if self.cfg.protocol != ProtocolKind::Pylontech {
            return;
        }
        if let Ok(msg) = pylontech::decode_with(&r.frame, self.cfg.options.voltage_scale) {
            self.last_seen.insert(r.frame.id(), (r.at, r.frame));
            self.pylon.apply(msg);
        }
    }

    /// Drains whatever is queued without waiting (keeps the broadcast state current).
    pub fn poll(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            if let BusEvent::Frame(r) = ev {
                self.track(&r);
            }
        }
    }

    fn ensure_usable(&self) -> Result<(), BmsError> {
        match self.bus.status() {
            s if s.is_usable() || s == BusStatus::Opening => Ok(()),
            s => Err(BmsError::Disconnected {
                reason: format!("{}: {s}", self.cfg.iface),
            }),
        }
    }

    async fn send(&self, frame: CanFrame) -> Result<(), BmsError> {
        self.bus.send(frame).await.map_err(|e| match e {
            BusError::Closed { iface } => BmsError::Closed { port: iface },
            other => BmsError::Disconnected {
                reason: other.to_string(),
            },
        })
    }

    /// One full reading of the pack.
    pub async fn read(&mut self) -> Result<CanReading, BmsError> {
        // Give a freshly opened socket a moment to come up before judging it.
        if self.bus.status() == BusStatus::Opening {
            let _ = self
                .bus
                .wait_for(Duration::from_millis(500), |s| *s != BusStatus::Opening)
                .await;
        }
        self.ensure_usable()?;
        let reading = match self.cfg.protocol {
            ProtocolKind::Pylontech => self.read_pylontech().await?,
            ProtocolKind::DalyCan => self.read_daly().await?,
            _ => self.read_jbd().await?,
        };
        check_cell_sum(&reading.snapshot).map_err(|reason| BmsError::BadReply {
            what: self.what(),
            reason,
        })?;
        Ok(reading)
    }

    async fn read_pylontech(&mut self) -> Result<CanReading, BmsError> {
        let start = Instant::now();
        let deadline = start + self.cfg.timeout;
        loop {
            if self.cfg.keep_alive
                && self
                    .last_keep_alive
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                self.send(pylontech::inverter_keep_alive()).await?;
                self.last_keep_alive = Some(Instant::now());
            }
            if self.pylon_fresh() {
                break;
            }
            let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
            if self.next_event(step).await?.is_none() && Instant::now() >= deadline {
                return Err(self.pylon_failure());
            }
        }
        let snapshot = self.pylon.snapshot().map_err(|e| BmsError::BadReply {
            what: self.what(),
            reason: e.to_string(),
        })?;
        if let Some(reason) = self.pylon.scaling_suspect() {
            return Err(BmsError::BadReply {
                what: self.what(),
                reason: format!("{reason} (read it with --voltage-scale decivolt if this pack is such a variant)"),
            });
        }
        let mut frames: Vec<CanFrame> = self.last_seen.values().map(|(_, f)| *f).collect();
        frames.sort_by_key(|f| f.id());
        Ok(CanReading {
            snapshot,
            frames,
            pylon: Some(self.pylon.clone()),
        })
    }

    /// Every broadcast frame seen within the stale limit.
    fn pylon_fresh(&self) -> bool {
        let fresh = |id: &u32| {
            self.last_seen
                .get(id)
                .is_some_and(|(t, _)| age(*t) <= self.cfg.stale_after)
        };
        self.pylon.missing().is_empty()
            && pylontech::BROADCAST_IDS.iter().all(|id| {
                fresh(id) || (*id == pylontech::ID_REQUESTS && fresh(&pylontech::ID_BATTERY_INFO))
            })
    }

    fn pylon_failure(&self) -> BmsError {
        let timeout_ms = self.cfg.timeout.as_millis() as u64;
        let names = |ids: &[u32]| {
            ids.iter()
                .map(|id| format!("{id:03X}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.last_seen.is_empty() {
            return BmsError::Timeout {
                what: format!("{} (no pack frame 351-35F seen)", self.what()),
                attempts: 1,
                timeout_ms,
            };
        }
        let missing = self.pylon.missing();
        if !missing.is_empty() {
            let mut seen: Vec<u32> = self.last_seen.keys().copied().collect();
            seen.sort();
            return BmsError::Timeout {
                what: format!(
                    "{}: frames {} never arrived (the pack sent {})",
                    self.what(),
                    names(&missing),
                    names(&seen)
                ),
                attempts: 1,
                timeout_ms,
            };
        }
        let stale: Vec<String> = self
            .last_seen
            .iter()
            .filter(|(_, (t, _))| age(*t) > self.cfg.stale_after)
            .map(|(id, (t, _))| format!("{id:03X} last seen {:.1} s ago", age(*t).as_secs_f64()))
            .collect();
        BmsError::BadReply {
            what: self.what(),
            reason: format!(
                "stale heartbeat: {} (limit {:.1} s): the pack stopped broadcasting",
                stale.join(", "),
                self.cfg.stale_after.as_secs_f64()
            ),
        }
    }

    /// Sends `request` and feeds replies to `accept` until it says done; retries on timeout.
    async fn transact(
        &mut self,
        what: &str,
        request: CanFrame,
        mut accept: impl FnMut(&CanFrame) -> Result<bool, String>,
    ) -> Result<Vec<CanFrame>, BmsError> {
        let attempts = self.cfg.retries + 1;
        let mut last_bad = None;
        for _ in 0..attempts {
            let mut got = Vec::new();
            self.send(request).await?;
            let deadline = Instant::now() + self.cfg.timeout;
            while let Some(r) = self.next_event(deadline).await? {
                match accept(&r.frame) {
                    Ok(true) => {
                        got.push(r.frame);
                        return Ok(got);
                    }
                    Ok(false) => got.push(r.frame),
                    Err(reason) => last_bad = Some(reason),
                }
            }
        }
        Err(match last_bad {
            Some(reason) => BmsError::BadReply {
                what: format!("{what} ({})", self.what()),
                reason,
            },
            None => BmsError::Timeout {
                what: format!("{what} ({})", self.what()),
                attempts,
                timeout_ms: self.cfg.timeout.as_millis() as u64,
            },
        })
    }

    async fn read_daly(&mut self) -> Result<CanReading, BmsError> {
        let bms = self.cfg.bms_address;
        let sign = self.cfg.options.current_sign;
        let mut state = DalyCanState::default();
        let mut frames = Vec::new();
        for data_id in daly_can::READ_ORDER {
            let what = format!(
                "Daly 0x{data_id:02X} ({})",
                packwright_protocol::daly::data_id_name(data_id)
            );
            let reply_id = daly_can::reply_id(data_id, bms);
            let state_ref = &mut state;
            let got = self
                .transact(&what, daly_can::request(data_id, bms), |f| {
                    if f.id() != reply_id || !f.is_extended() {
                        return Ok(false);
                    }
                    let split = daly_can::split(f).map_err(|e| e.to_string())?;
                    state_ref.apply(&split).map_err(|e| e.to_string())?;
                    // Multi-frame answers are done when 0x94's counts are covered.
                    Ok(!state_ref.missing().contains(&data_id))
                })
                .await?;
            frames.extend(got.into_iter().filter(|f| f.id() == reply_id));
        }
        if let Some(reason) = state.sign_suspect(sign) {
            return Err(BmsError::BadReply {
                what: self.what(),
                reason: format!("{reason} (read it with --current-sign to match the board)"),
            });
        }
        let snapshot = state.snapshot(sign).map_err(|e| BmsError::BadReply {
            what: self.what(),
            reason: e.to_string(),
        })?;
        Ok(CanReading {
            snapshot,
            frames,
            pylon: None,
        })
    }

    async fn read_jbd(&mut self) -> Result<CanReading, BmsError> {
        let mut state = JbdCanState::default();
        let mut frames = Vec::new();
        let mut ids: Vec<u32> = vec![
            jbd_can::ID_PACK,
            jbd_can::ID_CAPACITY,
            jbd_can::ID_STATUS,
            jbd_can::ID_INFO,
            jbd_can::ID_COUNTS,
        ];
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            i += 1;
            let mut reply = None;
            let got = self
                .transact(&format!("JBD CAN {id:03X}"), jbd_can::request(id), |f| {
                    if f.id() != id || f.is_extended() || f.is_empty() {
                        return Ok(false);
                    }
                    let msg = jbd_can::decode(f).map_err(|e| e.to_string())?;
                    reply = Some(msg);
                    Ok(true)
                })
                .await?;
            frames.extend(got.into_iter().filter(|f| f.id() == id));
            if let Some(msg) = reply {
                if let JbdCanMessage::Counts(c) = &msg {
                    // The counts decide which sensor and cell frames exist.
                    ids.extend(
                        jbd_can::read_ids(usize::from(c.cell_count), usize::from(c.ntc_count))
                            .into_iter()
                            .filter(|x| *x > jbd_can::ID_COUNTS),
                    );
                }
                state.apply(msg);
            }
        }
        let snapshot = state.snapshot().map_err(|e| BmsError::BadReply {
            what: self.what(),
            reason: e.to_string(),
        })?;
        Ok(CanReading {
            snapshot,
            frames,
            pylon: None,
        })
    }

    /// Who the pack says it is; each protocol carries a different part of it.
    pub async fn identity(&mut self) -> Result<BmsIdentity, BmsError> {
        let reading = self.read().await?;
        let s = &reading.snapshot;
        Ok(BmsIdentity {
            protocol: Some(self.cfg.protocol),
            model: s.model.clone(),
            firmware_version: s.firmware_version.clone(),
            manufacturer: reading
                .pylon
                .as_ref()
                .and_then(|p| p.manufacturer.as_ref().map(|m| m.manufacturer.clone())),
            barcode: None,
            manufacture_date: s.manufacture_date.clone(),
        })
    }
}

/// How long ago a frame was received (0 if the clock stepped back).
fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// A reading whose pack voltage disagrees with its own cells is mis-scaled: refuse it.
pub fn check_cell_sum(s: &BmsSnapshot) -> Result<(), String> {
    if s.cell_voltages_mv.is_empty() || s.cell_voltages_mv.contains(&0) {
        return Ok(());
    }
    let sum = s.cell_sum_v();
    let tolerance = (sum * 0.1).max(1.0);
    if (s.pack_voltage_v - sum).abs() > tolerance {
        return Err(format!(
            "pack voltage {:.2} V disagrees with the sum of its {} cells, {sum:.2} V: the voltage scaling is wrong",
            s.pack_voltage_v,
            s.cell_voltages_mv.len()
        ));
    }
    Ok(())
}

fn link_status(s: &BusStatus, attempt: u32) -> LinkStatus {
    match s {
        BusStatus::Opening => LinkStatus::Connecting,
        BusStatus::Up | BusStatus::ErrorPassive => LinkStatus::Connected,
        BusStatus::Closed => LinkStatus::Disconnected {
            reason: "closed".into(),
        },
        other if attempt == 0 => LinkStatus::Disconnected {
            reason: other.to_string(),
        },
        other => LinkStatus::Reconnecting {
            attempt,
            reason: other.to_string(),
        },
    }
}

/// Starts the device task for one pack on one interface and returns its handle.
pub fn spawn(cfg: CanBmsConfig) -> Result<BmsHandle, BusError> {
    let port = cfg.iface.clone();
    let protocol = cfg.protocol;
    let reader = CanReader::open(cfg)?;
    let (handle, end) = BmsHandle::channel(protocol, &port);
    tokio::spawn(serve(reader, end));
    Ok(handle)
}

async fn serve(mut reader: CanReader, mut end: DeviceEnd) {
    let mut bus_status = reader.bus.watch();
    let mut attempt = 0u32;
    let mut idle = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            env = end.commands.recv() => {
                let Some(env) = env else { break };
                let protocol = reader.protocol();
                match env.command {
                    BmsCommand::Read { reply } => {
                        let r = reader.read().await.map(|r| r.snapshot);
                        crate::device::handle::LinkStats::add(&end.stats.transactions, 1);
                        let _ = reply.send(r);
                    }
                    BmsCommand::Identity { reply } => {
                        let _ = reply.send(reader.identity().await);
                    }
                    BmsCommand::Register { op, reply } => {
                        let _ = reply.send(Err(BmsError::Unsupported {
                            what: format!("{} (configuration is written over the serial protocol)", op.describe()),
                            protocol,
                        }));
                    }
                    BmsCommand::SetFets { reply, .. } => {
                        let _ = reply.send(Err(BmsError::Unsupported { what: "switching the FETs".into(), protocol }));
                    }
                    BmsCommand::SetSoc { reply, .. } => {
                        let _ = reply.send(Err(BmsError::Unsupported { what: "setting the SOC".into(), protocol }));
                    }
                }
            }
            changed = bus_status.changed() => {
                if changed.is_err() { break; }
                let s = bus_status.borrow_and_update().clone();
                attempt = if s.is_usable() { 0 } else { attempt + 1 };
                end.status.send_replace(link_status(&s, attempt.saturating_sub(1)));
            }
            _ = idle.tick() => reader.poll(),
        }
    }
    reader.bus.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_sum_check_catches_mis_scaled_voltage() {
        let mut s = BmsSnapshot {
            pack_voltage_v: 52.8,
            cell_voltages_mv: vec![3300; 16],
            ..Default::default()
        };
        assert!(check_cell_sum(&s).is_ok());
        s.pack_voltage_v = 5.28;
        let err = check_cell_sum(&s).unwrap_err();
        assert!(err.contains("sum of its 16 cells, 52.80 V"), "{err}");
        // A zero cell is a reading (an open tap), not a scaling question.
        s.cell_voltages_mv[3] = 0;
        assert!(check_cell_sum(&s).is_ok());
    }

    #[test]
    fn bus_states_map_to_link_states() {
        assert_eq!(link_status(&BusStatus::Up, 0), LinkStatus::Connected);
        assert!(matches!(
            link_status(&BusStatus::BusOff, 0),
            LinkStatus::Disconnected { .. }
        ));
        assert!(matches!(
            link_status(&BusStatus::Down { reason: "x".into() }, 2),
            LinkStatus::Reconnecting { attempt: 2, .. }
        ));
    }

    #[tokio::test]
    async fn config_writes_are_refused_over_can_and_say_so() {
        let handle = spawn(CanBmsConfig::new("pwnosuch1", ProtocolKind::JbdCan)).unwrap();
        let err = handle
            .register(crate::device::handle::RegisterOp::EnterFactory)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "enter factory mode (configuration is written over the serial protocol) is not supported over jbd-can"
        );
        let err = handle.set_fets(true, false).await.unwrap_err();
        assert!(matches!(err, BmsError::Unsupported { .. }));
        // And a read on a missing interface says why instead of hanging.
        let err = handle.read().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "adapter disconnected: pwnosuch1: down: interface pwnosuch1 does not exist"
        );
    }
}
