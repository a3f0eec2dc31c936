//! Simulated packs on a CAN interface: a Pylontech-compatible pack that broadcasts to an
//! inverter, and Daly CAN and JBD CAN boards that answer requests, as real ones do.
//!
//! The simulators encode with the protocol codecs but own their socket (no code shared with
//! the client's device task), so a bug in the client's transport cannot hide itself here.
//!
//! Faults, as with the serial simulators where they apply:
//! - `missing`: ids never sent (Pylontech CAN ids, Daly data ids, JBD CAN ids);
//! - `wrong_scaling`: Pylontech sends 0x356 voltage in 0.1 V steps (the Discover variant),
//!   Daly sends the current with the opposite sign, JBD sends the pack voltage in 0.1 V steps;
//! - `stale_after`: after this long the pack falls silent (its heartbeat stops).

use std::time::{Duration, Instant};

use packwright_protocol::can::daly_can;
use packwright_protocol::can::jbd_can::{self, JbdCanPack};
use packwright_protocol::can::pylontech::{
    self, Alarms, ChargeRequests, Limits, Manufacturer, Measurements, PylonMessage, SocSoh,
    VoltageScale,
};
use packwright_protocol::can::CanFrame;
use packwright_protocol::daly::{
    self, id, split_frames, ChargeState, CurrentSign, Failures, MosStatus, Soc, Status,
};
use packwright_protocol::jbd::PackedDate;
use packwright_protocol::ProtocolKind;
use socketcan::tokio::CanSocket;

use crate::can_kernel::{from_socketcan, to_socketcan};

/// The pack a simulator reports: deterministic, so tests can assert exact values.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPack {
    pub cells_mv: Vec<u16>,
    pub temps_c: Vec<f64>,
    /// Positive while charging.
    pub current_a: f64,
    pub soc_pct: f64,
    pub soh_pct: u16,
    pub full_capacity_ah: f64,
    pub cycles: u16,
    pub model: String,
    pub manufacturer: String,
}

impl SimPack {
    /// A pack of `cells` LFP cells near 3.3 V with a small, fixed spread, discharging at 12.5 A.
    pub fn lfp(cells: usize) -> SimPack {
        SimPack {
            cells_mv: (0..cells).map(|i| 3300 + ((i * 7) % 23) as u16).collect(),
            temps_c: vec![25.0, 26.5],
            current_a: -12.5,
            soc_pct: 87.0,
            soh_pct: 96,
            full_capacity_ah: 100.0,
            cycles: 42,
            model: "PW-SIM-CAN".into(),
            manufacturer: "PYLON".into(),
        }
    }

    pub fn pack_voltage_v(&self) -> f64 {
        self.cells_mv.iter().map(|&mv| f64::from(mv)).sum::<f64>() / 1000.0
    }

    pub fn remaining_ah(&self) -> f64 {
        (self.full_capacity_ah * self.soc_pct / 100.0 * 1000.0).round() / 1000.0
    }

    /// The inverter limits an LFP pack announces: 3.55 V and 2.8 V per cell, 0.5C / 1C.
    pub fn limits(&self) -> Limits {
        let n = self.cells_mv.len() as f64;
        Limits {
            charge_voltage_limit_v: (n * 3.55 * 10.0).round() / 10.0,
            charge_current_limit_a: self.full_capacity_ah * 0.5,
            discharge_current_limit_a: self.full_capacity_ah,
            discharge_voltage_limit_v: (n * 2.8 * 10.0).round() / 10.0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CanFaults {
    pub missing: Vec<u32>,
    pub wrong_scaling: bool,
    pub stale_after: Option<Duration>,
}

impl CanFaults {
    /// Adds one `--fault` spec: `missing=ID[+ID…]` (hex, `0x` optional), `wrong-scaling`,
    /// `stale=SECONDS`. Comma-separated specs are split by the caller or here.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part, None),
            };
            match (name, value) {
                ("missing", Some(ids)) => {
                    for id in ids.split('+') {
                        let hex = id.trim().trim_start_matches("0x").trim_start_matches("0X");
                        let n = u32::from_str_radix(hex, 16).map_err(|_| {
                            format!("missing={ids}: `{id}` is not a hex id (e.g. 0x359)")
                        })?;
                        self.missing.push(n);
                    }
                }
                ("wrong-scaling", None) => self.wrong_scaling = true,
                ("stale", Some(secs)) => {
                    let s: f64 = secs
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| format!("stale={secs}: not a number of seconds"))?;
                    self.stale_after = Some(Duration::from_secs_f64(s));
                }
                _ => {
                    return Err(format!(
                        "`{part}` is not a CAN fault; use missing=ID[+ID], wrong-scaling or stale=SECONDS"
                    ))
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct CanSimConfig {
    pub iface: String,
    pub protocol: ProtocolKind,
    pub pack: SimPack,
    pub faults: CanFaults,
    /// Pylontech broadcast period.
    pub period: Duration,
    /// Daly board address.
    pub bms_address: u8,
}

impl CanSimConfig {
    pub fn new(iface: &str, protocol: ProtocolKind) -> CanSimConfig {
        CanSimConfig {
            iface: iface.to_string(),
            protocol,
            pack: SimPack::lfp(16),
            faults: CanFaults::default(),
            period: Duration::from_millis(1000),
            bms_address: daly_can::DEFAULT_BMS_ADDRESS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0} is not a CAN protocol: simulate it on a pseudo-terminal instead")]
    NotCan(ProtocolKind),
    #[error("{iface}: cannot open a CAN socket: {source}")]
    Open {
        iface: String,
        source: std::io::Error,
    },
    #[error("{iface}: {what} failed: {source}")]
    Io {
        iface: String,
        what: &'static str,
        source: std::io::Error,
    },
}

/// What a simulator did, for its exit summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    pub frames_sent: u64,
    pub requests_answered: u64,
    pub keep_alives_seen: u64,
}

/// Runs the simulator until `stop` completes.
pub async fn run(
    cfg: CanSimConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<SimStats, SimError> {
    if cfg.protocol.is_serial() {
        return Err(SimError::NotCan(cfg.protocol));
    }
    let socket = CanSocket::open(&cfg.iface).map_err(|source| SimError::Open {
        iface: cfg.iface.clone(),
        source,
    })?;
    let mut sim = Sim {
        cfg,
        socket,
        started: Instant::now(),
        stats: SimStats::default(),
    };
    tokio::select! {
        r = sim.serve() => r.map(|()| sim.stats),
        () = stop => Ok(sim.stats),
    }
}

struct Sim {
    cfg: CanSimConfig,
    socket: CanSocket,
    started: Instant,
    stats: SimStats,
}

impl Sim {
    fn silent(&self) -> bool {
        self.cfg
            .faults
            .stale_after
            .is_some_and(|d| self.started.elapsed() >= d)
    }

    fn omitted(&self, id: u32) -> bool {
        self.cfg.faults.missing.contains(&id)
    }

    async fn send(&mut self, frame: CanFrame) -> Result<(), SimError> {
        let Some(kernel) = to_socketcan(&frame) else {
            return Ok(());
        };
        self.socket
            .write_frame(kernel)
            .await
            .map_err(|source| SimError::Io {
                iface: self.cfg.iface.clone(),
                what: "sending",
                source,
            })?;
        self.stats.frames_sent += 1;
        Ok(())
    }

    async fn serve(&mut self) -> Result<(), SimError> {
        let mut tick = tokio::time::interval(self.cfg.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick(), if self.cfg.protocol == ProtocolKind::Pylontech => {
                    if !self.silent() {
                        for frame in pylon_broadcast(&self.cfg.pack, self.cfg.faults.wrong_scaling) {
                            if !self.omitted(frame.id()) {
                                self.send(frame).await?;
                            }
                        }
                    }
                }
                read = self.socket.read_frame() => {
                    let frame = read.map_err(|source| SimError::Io {
                        iface: self.cfg.iface.clone(),
                        what: "reading",
                        source,
                    })?;
                    let Some(frame) = from_socketcan(&frame) else { continue };
                    self.answer(frame).await?;
                }
            }
        }
    }

    async fn answer(&mut self, frame: CanFrame) -> Result<(), SimError> {
        let replies = match self.cfg.protocol {
            ProtocolKind::Pylontech => {
                if frame.id() == pylontech::ID_INVERTER && !frame.is_extended() {
                    self.stats.keep_alives_seen += 1;
                }
                return Ok(());
            }
            ProtocolKind::DalyCan => self.daly_replies(&frame),
            _ => self.jbd_reply(&frame).into_iter().collect(),
        };
        if replies.is_empty() || self.silent() {
            return Ok(());
        }
        self.stats.requests_answered += 1;
        for reply in replies {
            self.send(reply).await?;
        }
        Ok(())
    }

    fn daly_replies(&self, frame: &CanFrame) -> Vec<CanFrame> {
        let Ok(req) = daly_can::split(frame) else {
            return Vec::new();
        };
        let bms = self.cfg.bms_address;
        if !req.is_request || req.id.destination != bms || self.omitted(u32::from(req.id.data_id)) {
            return Vec::new();
        }
        daly_payloads(
            &self.cfg.pack,
            req.id.data_id,
            self.cfg.faults.wrong_scaling,
        )
        .iter()
        .map(|p| daly_can::reply(req.id.data_id, bms, p))
        .collect()
    }

    fn jbd_reply(&self, frame: &CanFrame) -> Option<CanFrame> {
        if frame.is_extended() || !frame.is_empty() || self.omitted(frame.id()) {
            return None;
        }
        jbd_can::encode_reply(
            &jbd_pack(&self.cfg.pack, self.cfg.faults.wrong_scaling),
            frame.id(),
        )
    }
}

/// One broadcast round, in the order real packs send it.
pub fn pylon_broadcast(pack: &SimPack, wrong_scaling: bool) -> Vec<CanFrame> {
    let scale = if wrong_scaling {
        VoltageScale::Decivolt
    } else {
        VoltageScale::Centivolt
    };
    let messages = [
        PylonMessage::Alarms(Alarms {
            protection: Vec::new(),
            warnings: Vec::new(),
            module_count: 1,
            vendor: "PN".into(),
        }),
        PylonMessage::Limits(pack.limits()),
        PylonMessage::SocSoh(SocSoh {
            soc_pct: pack.soc_pct.round().clamp(0.0, 100.0) as u16,
            soh_pct: pack.soh_pct,
            soc_hires_pct: None,
        }),
        PylonMessage::Measurements(Measurements {
            pack_voltage_v: pack.pack_voltage_v(),
            current_a: pack.current_a,
            temperature_c: pack
                .temps_c
                .iter()
                .copied()
                .fold(f64::MIN, f64::max)
                .max(-273.0),
        }),
        PylonMessage::Requests(ChargeRequests {
            charge_enable: true,
            discharge_enable: true,
            force_charge_1: false,
            force_charge_2: false,
            full_charge_req: false,
        }),
        PylonMessage::Manufacturer(Manufacturer {
            manufacturer: pack.manufacturer.clone(),
        }),
    ];
    messages
        .iter()
        .map(|m| pylontech::encode_with(m, scale))
        .collect()
}

/// The reply payloads to one Daly data id (several for 0x95/0x96); none for ids a board of
/// this kind does not answer.
pub fn daly_payloads(pack: &SimPack, data_id: u8, wrong_scaling: bool) -> Vec<[u8; 8]> {
    // A board on the documented convention; the fault flips it.
    let sign = if wrong_scaling {
        CurrentSign::AboveOffsetCharges
    } else {
        CurrentSign::AboveOffsetDischarges
    };
    let state = match pack.current_a {
        a if a > 0.5 => ChargeState::Charging,
        a if a < -0.5 => ChargeState::Discharging,
        _ => ChargeState::Stationary,
    };
    let temps: Vec<u8> = pack
        .temps_c
        .iter()
        .map(|&c| daly::temp_byte(c.round() as i16))
        .collect();
    match data_id {
        id::SOC => vec![Soc {
            total_dv: (pack.pack_voltage_v() * 10.0).round() as u16,
            gather_dv: 0,
            current_raw: Soc::raw_current(pack.current_a, sign),
            soc_permille: (pack.soc_pct * 10.0).round() as u16,
        }
        .encode()],
        id::MOS => vec![MosStatus {
            state,
            charge_mos: true,
            discharge_mos: true,
            bms_life: 0,
            remaining_mah: (pack.remaining_ah() * 1000.0).round() as u32,
        }
        .encode()],
        id::STATUS => vec![Status {
            cell_count: pack.cells_mv.len().min(48) as u8,
            temp_sensor_count: temps.len().min(21) as u8,
            charger: pack.current_a > 0.0,
            load: pack.current_a < 0.0,
            dio: 0,
            cycles: pack.cycles,
        }
        .encode()],
        id::CELL_VOLTAGES => split_frames::<u16, 3>(&pack.cells_mv)
            .iter()
            .map(|f| f.encode())
            .collect(),
        id::TEMPERATURES => split_frames::<u8, 7>(&temps)
            .iter()
            .map(|f| f.encode())
            .collect(),
        id::BALANCE => vec![daly::encode_balance(&[])],
        id::FAILURES => vec![Failures::default().encode()],
        _ => Vec::new(),
    }
}

/// The JBD view of the pack; the fault sends the pack voltage in 0.1 V steps.
pub fn jbd_pack(pack: &SimPack, wrong_scaling: bool) -> JbdCanPack {
    let v = pack.pack_voltage_v();
    JbdCanPack {
        pack_voltage_v: if wrong_scaling { v / 10.0 } else { v },
        current_a: pack.current_a,
        remaining_ah: pack.remaining_ah(),
        full_capacity_ah: pack.full_capacity_ah,
        cycles: pack.cycles,
        soc_pct: pack.soc_pct.round().clamp(0.0, 100.0) as u16,
        balancing_cells: Vec::new(),
        protection_bits: 0,
        charge_fet: true,
        discharge_fet: true,
        manufacture_date: PackedDate::from_ymd(2024, 5, 17).unwrap_or_default(),
        software_version: 22,
        cells_mv: pack.cells_mv.clone(),
        temps_c: pack.temps_c.clone(),
        model: pack.model.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packwright_protocol::can::daly_can::DalyCanState;
    use packwright_protocol::can::jbd_can::JbdCanState;
    use packwright_protocol::can::pylontech::PylonState;

    #[test]
    fn pylon_broadcast_decodes_to_the_pack() {
        let pack = SimPack::lfp(16);
        let mut st = PylonState::default();
        for f in pylon_broadcast(&pack, false) {
            st.apply(pylontech::decode(&f).unwrap());
        }
        assert!(st.missing().is_empty());
        let snap = st.snapshot().unwrap();
        assert!((snap.pack_voltage_v - pack.pack_voltage_v()).abs() <= 0.005);
        assert_eq!(snap.current_a, -12.5);
        assert_eq!(snap.soc_pct, Some(87.0));
        assert_eq!(st.limits.as_ref().unwrap().charge_voltage_limit_v, 56.8);
        assert_eq!(st.scaling_suspect(), None);
    }

    #[test]
    fn wrong_scaling_is_what_the_reader_flags() {
        let pack = SimPack::lfp(16);
        let mut st = PylonState::default();
        for f in pylon_broadcast(&pack, true) {
            st.apply(pylontech::decode(&f).unwrap());
        }
        assert!(st.scaling_suspect().is_some());
    }

    #[test]
    fn daly_replies_assemble_into_the_pack() {
        let pack = SimPack::lfp(16);
        let mut st = DalyCanState::default();
        for data_id in daly_can::READ_ORDER {
            for p in daly_payloads(&pack, data_id, false) {
                let f = daly_can::reply(data_id, 1, &p);
                st.apply(&daly_can::split(&f).unwrap()).unwrap();
            }
        }
        let snap = st.snapshot(CurrentSign::default()).unwrap();
        assert_eq!(snap.cell_voltages_mv.len(), 16);
        assert_eq!(snap.current_a, -12.5);
        assert_eq!(snap.temperatures_c, vec![25.0, 27.0]);
        assert_eq!(st.sign_suspect(CurrentSign::default()), None);
        // The fault flips the sign, which the state byte then contradicts.
        let mut bad = DalyCanState::default();
        for data_id in daly_can::READ_ORDER {
            for p in daly_payloads(&pack, data_id, true) {
                let f = daly_can::reply(data_id, 1, &p);
                bad.apply(&daly_can::split(&f).unwrap()).unwrap();
            }
        }
        assert!(bad.sign_suspect(CurrentSign::default()).is_some());
    }

    #[test]
    fn jbd_replies_assemble_into_the_pack() {
        let pack = SimPack::lfp(15);
        let jp = jbd_pack(&pack, false);
        let mut st = JbdCanState::default();
        for id in jbd_can::read_ids(15, 2) {
            st.apply(jbd_can::decode(&jbd_can::encode_reply(&jp, id).unwrap()).unwrap());
        }
        let snap = st.snapshot().unwrap();
        assert_eq!(snap.cell_count, 15);
        assert_eq!(snap.model.as_deref(), Some("PW-SIM-CAN"));
        assert!((snap.pack_voltage_v - pack.pack_voltage_v()).abs() < 0.01);
    }

    #[test]
    fn fault_specs_parse_and_bad_ones_say_why() {
        let mut f = CanFaults::default();
        f.add("missing=0x359+35C, wrong-scaling").unwrap();
        f.add("stale=2.5").unwrap();
        assert_eq!(f.missing, vec![0x359, 0x35C]);
        assert!(f.wrong_scaling);
        assert_eq!(f.stale_after, Some(Duration::from_millis(2500)));
        assert!(f
            .add("missing=xyz")
            .unwrap_err()
            .contains("`xyz` is not a hex id"));
        assert!(f
            .add("stale=-1")
            .unwrap_err()
            .contains("not a number of seconds"));
        assert!(f
            .add("drop=0.5")
            .unwrap_err()
            .contains("is not a CAN fault"));
    }

    #[test]
    fn serial_protocols_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(run(
                CanSimConfig::new("vcan0", ProtocolKind::Jbd),
                std::future::pending(),
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "jbd is not a CAN protocol: simulate it on a pseudo-terminal instead"
        );
    }
}
