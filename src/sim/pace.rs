//! Simulated Pace v25 packs on one RS485 line, written from `PACE-RS232-protocol-TY16S-V2.5`
//! (frame, reads) and the configuration read/write pairs of bms-protocols-2.md §1: ASCII
//! frames `~…\r` (VER 0x25), reads 0x42 analog values, 0x44 alarm info, 0x47 system
//! parameters, 0x4F protocol version, 0x51 manufacturer, 0x93 serial number, 0x96 firmware,
//! and the configuration groups (read CID2 answers the group, write CID2 stores it, answered
//! with return code 00 and empty INFO).
//!
//! - Each pack answers only its own ADR (`--address`, then consecutive); a frame of another
//!   VER gets return code 01, an unknown CID2 04, a write whose payload does not decode 05.
//! - Live values come from [`LivePack`], judged against the stored cell over- and
//!   under-voltage groups; temperatures are the cell sensors, then MOS and environment.
//!
//! Board-level faults: `nostore=GROUP` acknowledges writes of that group and keeps the old
//! values; `nopersist=GROUP` answers the read that immediately follows the write with the
//! written values, but keeps the old ones (firmware that echoes and does not commit). GROUP
//! is a group's codec name (`cell_over_voltage`) or its write CID2 (`0xD0`).

use std::collections::HashMap;

use packwright_protocol::pylon_ascii::pace::{self, Param, ParamKind};
use packwright_protocol::pylon_ascii::values::{
    AlarmInfo, Analog, AnalogPack, Firmware, ManufacturerInfo, SerialNumber, SystemParameters,
};
use packwright_protocol::pylon_ascii::{self, Command, Dialect, Frame, ReturnCode, VER_PACE_25};

use super::pty::{Board, Faults, LivePack, Rng};
use crate::chemistry::Chemistry;

const DIALECT: Dialect = Dialect::Pace;

/// What kind of packs to simulate.
#[derive(Debug, Clone)]
pub struct PaceConfig {
    pub cells: usize,
    pub sensors: usize,
    pub chemistry: Chemistry,
    pub capacity_ah: f64,
    pub first_address: u8,
    pub packs: u8,
    pub model: String,
}

impl PaceConfig {
    pub fn new(cells: usize, chemistry: Chemistry) -> PaceConfig {
        PaceConfig {
            cells,
            sensors: 4,
            chemistry,
            capacity_ah: 100.0,
            first_address: 0,
            packs: 1,
            model: "PACE-SIM".into(),
        }
    }
}

struct PacePack {
    adr: u8,
    groups: HashMap<ParamKind, Param>,
    /// `nopersist`: the group just written, answered once to the read that follows.
    echo: Option<Param>,
    pack: LivePack,
    serial: String,
    ov: bool,
    uv: bool,
}

/// Every pack on one line.
pub struct PaceLine {
    packs: Vec<PacePack>,
    model: String,
    capacity_ah: f64,
    nostore: Vec<ParamKind>,
    nopersist: Vec<ParamKind>,
    overvoltage_cell: Option<usize>,
}

/// Resolve a fault's group: its codec name or write CID2.
pub fn parse_group(name: &str) -> Result<ParamKind, String> {
    let n = name.trim();
    if let Some(hex) = n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
        if let Some(k) = u8::from_str_radix(hex, 16)
            .ok()
            .and_then(ParamKind::from_write_cid2)
        {
            return Ok(k);
        }
    }
    ParamKind::ALL
        .into_iter()
        .find(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(|s| s == n)) == Some(true))
        .ok_or_else(|| format!("'{n}' is not a Pace configuration group (use a name like cell_over_voltage or a write CID2 like 0xD0)"))
}

/// Factory defaults, plausible for the chemistry, deliberately not what the shipped profiles
/// want, so a configuration write has work to do.
fn defaults(cfg: &PaceConfig) -> HashMap<ParamKind, Param> {
    let lim = cfg.chemistry.hard_limits();
    let s = cfg.cells as u32;
    let mv = |v: u32| v.min(65_535) as u16;
    let v = |alarm: u32, protect: u32, release: u32| pace::VoltageProtection {
        lead: 1,
        alarm_mv: mv(alarm),
        protect_mv: mv(protect),
        release_mv: mv(release),
        delay_ms: 1000,
    };
    let cell_ov = lim.max_charge_mv - 20;
    let cell_uv = lim.min_cell_mv + 300;
    let t =
        |ca: f64, cp: f64, cr: f64, da: f64, dp: f64, dr: f64| pace::ChargeDischargeTemperatures {
            lead: 1,
            charge_alarm_c: ca,
            charge_protect_c: cp,
            charge_release_c: cr,
            discharge_alarm_c: da,
            discharge_protect_c: dp,
            discharge_release_c: dr,
        };
    [
        Param::CellOverVoltage(v(cell_ov - 50, cell_ov, cell_ov - 150)),
        Param::PackOverVoltage(v((cell_ov - 50) * s, cell_ov * s, (cell_ov - 150) * s)),
        Param::CellUnderVoltage(v(cell_uv + 100, cell_uv, cell_uv + 200)),
        Param::PackUnderVoltage(v((cell_uv + 100) * s, cell_uv * s, (cell_uv + 200) * s)),
        Param::ChargeOverCurrent(pace::CurrentProtection {
            lead: 1,
            alarm_a: 90,
            protect_a: 100,
            delay_ms: 1000,
        }),
        Param::DischargeOverCurrent1(pace::CurrentProtection {
            lead: 1,
            alarm_a: 110,
            protect_a: 120,
            delay_ms: 1000,
        }),
        Param::CellBalancing(pace::Balancing {
            threshold_mv: mv(lim.nominal_mv),
            delta_mv: 30,
        }),
        Param::ChargeDischargeOverTemperature(t(55.0, 60.0, 55.0, 60.0, 65.0, 60.0)),
        Param::ChargeDischargeUnderTemperature(t(2.0, 0.0, 3.0, -10.0, -20.0, -15.0)),
    ]
    .into_iter()
    .map(|p| (p.kind(), p))
    .collect()
}

impl PaceLine {
    pub fn new(cfg: PaceConfig, faults: &Faults, rng: &mut Rng) -> Result<PaceLine, String> {
        if !(1..=16).contains(&cfg.cells) {
            return Err(format!("{} cells: a Pace pack reports 1 to 16", cfg.cells));
        }
        let last = u16::from(cfg.first_address) + u16::from(cfg.packs.max(1)) - 1;
        if last > 15 {
            return Err(format!(
                "{} packs from address {} end at {last}: Pace addresses are 0 to 15",
                cfg.packs, cfg.first_address
            ));
        }
        if let Some(c) = faults.overvoltage_cell {
            if c > cfg.cells {
                return Err(format!(
                    "overvoltage cell {c} does not exist on a {}-cell pack",
                    cfg.cells
                ));
            }
        }
        let parse = |list: &[String]| {
            list.iter()
                .map(|n| parse_group(n))
                .collect::<Result<Vec<_>, String>>()
        };
        let mut packs = Vec::new();
        for adr in cfg.first_address..=last as u8 {
            let mut pack =
                LivePack::new(cfg.chemistry, cfg.cells, cfg.sensors, cfg.capacity_ah, rng);
            pack.apply_faults(faults)?;
            packs.push(PacePack {
                adr,
                groups: defaults(&cfg),
                echo: None,
                pack,
                serial: format!("PACESIM{adr:09}"),
                ov: false,
                uv: false,
            });
        }
        Ok(PaceLine {
            packs,
            model: cfg.model.clone(),
            capacity_ah: cfg.capacity_ah,
            nostore: parse(&faults.nostore)?,
            nopersist: parse(&faults.nopersist)?,
            overvoltage_cell: faults.overvoltage_cell,
        })
    }

    /// The reply to one request; `None` when no pack on the line has its ADR.
    pub fn answer(&mut self, request: &Frame, rng: &mut Rng) -> Option<Frame> {
        let model = self.model.clone();
        let capacity_ah = self.capacity_ah;
        let overvoltage_cell = self.overvoltage_cell;
        let (nostore, nopersist) = (&self.nostore, &self.nopersist);
        let p = self.packs.iter_mut().find(|p| p.adr == request.adr)?;
        if request.ver != VER_PACE_25 {
            return Some(request.reply(ReturnCode::VersionError, Vec::new()));
        }
        let echo = p.echo.take();
        let ok = |info: Vec<u8>| request.reply(ReturnCode::Normal, info);
        let command = match Command::decode(DIALECT, request) {
            Ok(c) => c,
            Err(_) => return Some(request.reply(ReturnCode::CommandFormatError, Vec::new())),
        };
        Some(match command {
            Command::Analog { .. } => {
                p.refresh(overvoltage_cell, rng);
                ok(p.analog(capacity_ah).encode(DIALECT))
            }
            Command::Alarm { .. } => {
                p.refresh(overvoltage_cell, rng);
                ok(p.alarms().encode())
            }
            Command::ProtocolVersion => ok(Vec::new()),
            Command::Manufacturer => ok(ManufacturerInfo {
                battery_name: model,
                software_version: [2, 5],
                manufacturer: "PACE-SIM".into(),
            }
            .encode()),
            Command::SerialNumber { .. } => ok(SerialNumber {
                command: p.adr,
                serial: p.serial.clone(),
            }
            .encode()),
            Command::Firmware { .. } => ok(Firmware {
                command: p.adr,
                manufacture_version: [1, 0],
                mainline_version: [2, 5, 3],
            }
            .encode()),
            Command::SystemParameters => ok(p.system_parameters().encode()),
            Command::PaceRead { kind } => {
                let param = match echo {
                    Some(e) if e.kind() == kind => Some(e),
                    _ => p.groups.get(&kind).cloned(),
                };
                match param.map(|g| pace::encode_read_info(&g)) {
                    Some(Ok(info)) => ok(info),
                    _ => request.reply(ReturnCode::InvalidCid2, Vec::new()),
                }
            }
            Command::PaceWrite { param } => {
                let kind = param.kind();
                if !p.groups.contains_key(&kind) {
                    return Some(request.reply(ReturnCode::InvalidCid2, Vec::new()));
                }
                if nostore.contains(&kind) {
                    // Acknowledged, not stored.
                } else if nopersist.contains(&kind) {
                    p.echo = Some(param);
                } else {
                    p.groups.insert(kind, param);
                }
                pace::write_ack(request)
            }
            Command::ChargeManagement { .. } | Command::Other { .. } => {
                request.reply(ReturnCode::InvalidCid2, Vec::new())
            }
        })
    }
}

impl PacePack {
    fn group_mv(&self, kind: ParamKind) -> Option<(f64, f64)> {
        match self.groups.get(&kind)? {
            Param::CellOverVoltage(v) | Param::CellUnderVoltage(v) => {
                Some((f64::from(v.protect_mv), f64::from(v.release_mv)))
            }
            _ => None,
        }
    }

    fn refresh(&mut self, overvoltage_cell: Option<usize>, rng: &mut Rng) {
        let (ovp, ovr) = self
            .group_mv(ParamKind::CellOverVoltage)
            .unwrap_or((3650.0, 3450.0));
        let (uvp, uvr) = self
            .group_mv(ParamKind::CellUnderVoltage)
            .unwrap_or((2500.0, 2800.0));
        let forced = overvoltage_cell.map(|c| (c - 1, ovp + 50.0));
        self.pack.update(!self.ov, !self.uv, forced, rng);
        let cells = &self.pack.cells_mv;
        let max = cells.iter().cloned().fold(f64::MIN, f64::max);
        let min = cells.iter().cloned().fold(f64::MAX, f64::min);
        if max >= ovp {
            self.ov = true;
        } else if max <= ovr {
            self.ov = false;
        }
        if min <= uvp {
            self.uv = true;
        } else if min >= uvr {
            self.uv = false;
        }
    }

    fn analog(&self, capacity_ah: f64) -> Analog {
        let mut temps: Vec<f64> = self
            .pack
            .temps_c
            .iter()
            .map(|t| (t * 10.0).round() / 10.0)
            .collect();
        // MOS, then environment: near the cells, within their spread.
        let max = temps.iter().cloned().fold(f64::MIN, f64::max);
        let min = temps.iter().cloned().fold(f64::MAX, f64::min);
        temps.push(if temps.is_empty() { 25.0 } else { max });
        temps.push(if temps.len() == 1 { 25.0 } else { min });
        let cells = self.pack.cells_mv_u16();
        Analog {
            info_flag: 0,
            command: self.adr,
            packs: vec![AnalogPack {
                pack_voltage_v: f64::from(cells.iter().map(|&c| u32::from(c)).sum::<u32>())
                    / 1000.0,
                cell_voltages_mv: cells,
                temperatures_c: temps,
                current_a: (self.pack.current_a * 100.0).round() / 100.0,
                remaining_ah: Some((capacity_ah * self.pack.soc * 100.0).round() / 100.0),
                full_capacity_ah: Some(capacity_ah),
                cycles: Some(9),
                design_capacity_ah: Some(capacity_ah),
                soc_pct: None,
                soh_pct: None,
                port_voltage_v: None,
            }],
        }
    }

    fn alarms(&self) -> AlarmInfo {
        let cells = self.pack.cells_mv.len();
        let mut status = vec![0u8; 12];
        if self.ov {
            status[3] |= 1;
        }
        if self.uv {
            status[3] |= 1 << 1;
        }
        // Instruction state: bit 1 CFET, bit 2 DFET.
        if !self.ov {
            status[5] |= 1 << 1;
        }
        if !self.uv {
            status[5] |= 1 << 2;
        }
        AlarmInfo {
            info_flag: 0,
            command: self.adr,
            cell_states: vec![0; cells],
            temperature_states: vec![0; self.pack.temps_c.len() + 2],
            status,
        }
    }

    fn system_parameters(&self) -> SystemParameters {
        let (ovp, _) = self
            .group_mv(ParamKind::CellOverVoltage)
            .unwrap_or((3650.0, 3450.0));
        let (uvp, _) = self
            .group_mv(ParamKind::CellUnderVoltage)
            .unwrap_or((2500.0, 2800.0));
        let cells = self.pack.cells_mv.len() as u16;
        SystemParameters {
            info_flag: 0,
            cell_high_voltage_mv: ovp as u16,
            cell_low_voltage_mv: (uvp as u16).saturating_add(100),
            cell_under_voltage_mv: uvp as u16,
            charge_high_temperature_c: 55.0,
            charge_low_temperature_c: 0.0,
            charge_current_limit_a: 100.0,
            module_high_voltage_mv: (ovp as u16).saturating_mul(cells),
            module_low_voltage_mv: (uvp as u16).saturating_add(100).saturating_mul(cells),
            module_under_voltage_mv: (uvp as u16).saturating_mul(cells),
            discharge_high_temperature_c: 60.0,
            discharge_low_temperature_c: -20.0,
            discharge_current_limit_a: 120.0,
        }
    }
}

impl Board for PaceLine {
    type Framer = pylon_ascii::Framer;

    fn request_framer(&self) -> pylon_ascii::Framer {
        pylon_ascii::framer()
    }

    fn handle(&mut self, request: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
        let Ok(frame) = Frame::decode(request) else {
            return Vec::new();
        };
        self.answer(&frame, rng)
            .and_then(|f| f.encode().ok())
            .into_iter()
            .collect()
    }

    fn checksum_range(len: usize) -> std::ops::Range<usize> {
        // The four CHKSUM characters before the CR; damage keeps them hex so the frame is
        // still framed and refused by its checksum.
        len.saturating_sub(5)..len.saturating_sub(1)
    }
}
