//! Simulated JK PB boards on one RS485 line, written from `JK-BMS-RS485-Modbus-V1.1`: Modbus
//! RTU at 115200 8N1, FC03 reads and FC16 writes of the settings block (0x1000, read/write),
//! the live-data block (0x1200) and the device-info block (0x1400), read-only.
//!
//! Board behaviour modelled from the document and the quirks implementations report:
//! - every board answers only its own address (1–15); requests to other addresses, and the
//!   broadcast address 0, get no reply;
//! - reads of more than 120 registers and reads or writes at odd offsets are refused with
//!   exception 02 (illegal data address), as are addresses outside the three blocks;
//! - writes go to the settings block only, whole fields; a device address of 0 (which would
//!   make the board the bus master) is refused with exception 03 (illegal data value);
//! - live values come from [`LivePack`], judged against the stored cell thresholds.
//!
//! Board-level faults: `nostore=FIELD` acknowledges writes of that field and keeps the old
//! value; `nopersist=FIELD` keeps the written value only in an echo of the last write, which a
//! read of exactly that field (2 registers at its address) returns, while the settings block
//! itself keeps the old value (firmware that acknowledges and echoes but does not commit).
//! FIELD is a settings-field name of the protocol crate (`cell_ovp_mv`) or its address
//! (`0x100C`).

use std::collections::HashMap;

use packwright_protocol::jk_pb::{
    self, BlockImage, DeviceInfo, LiveData, Settings, INFO_BLOCK, INFO_LEN, LIVE_BLOCK, LIVE_LEN,
    SETTINGS_BLOCK, SETTINGS_LEN, SETTING_FIELDS,
};
use packwright_protocol::modbus::{self, ExceptionCode, Request, Response};

use super::pty::{Board, Faults, LivePack, Rng};
use crate::chemistry::Chemistry;

/// The largest read a board answers (implementations report "about 120").
const MAX_READ: u16 = 120;

/// What kind of boards to simulate.
#[derive(Debug, Clone)]
pub struct JkPbConfig {
    pub cells: usize,
    pub sensors: usize,
    pub chemistry: Chemistry,
    pub capacity_ah: f64,
    /// The first board's address; further boards follow (1–15).
    pub first_address: u8,
    pub boards: u8,
    pub model: String,
}

impl JkPbConfig {
    pub fn new(cells: usize, chemistry: Chemistry) -> JkPbConfig {
        JkPbConfig {
            cells,
            sensors: 2,
            chemistry,
            capacity_ah: 100.0,
            first_address: 1,
            boards: 1,
            model: "JK_PB2A16S15P".into(),
        }
    }
}

/// One board on the line.
pub struct JkPbBoard {
    address: u8,
    /// The settings block as stored.
    settings: BlockImage,
    /// `nopersist`: the last write of such a field, echoed to reads of exactly that field.
    echo: HashMap<u16, Vec<u8>>,
    info: DeviceInfo,
    pack: LivePack,
    cycles: u32,
    /// Latched protections: cell over-voltage, cell under-voltage.
    ov: bool,
    uv: bool,
}

/// Every board on one line.
pub struct JkPbLine {
    boards: Vec<JkPbBoard>,
    nostore: Vec<u16>,
    nopersist: Vec<u16>,
    overvoltage_cell: Option<usize>,
}

/// Resolve a fault's field: a settings-field name or its register address.
pub fn parse_field(name: &str) -> Result<u16, String> {
    let n = name.trim();
    if let Some(hex) = n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
        let r = u16::from_str_radix(hex, 16).map_err(|_| format!("'{n}' is not an address"))?;
        if SETTING_FIELDS.iter().any(|f| f.register() == r) {
            return Ok(r);
        }
    }
    SETTING_FIELDS
        .iter()
        .find(|f| f.name == n)
        .map(|f| f.register())
        .ok_or_else(|| {
            format!("'{n}' is not a JK PB setting (use a name like cell_ovp_mv or its address like 0x100C)")
        })
}

/// Factory defaults: plausible for the chemistry and cell count, deliberately not what any
/// shipped profile wants, so a configuration write has work to do.
fn default_settings(cfg: &JkPbConfig, address: u8) -> Settings {
    let lim = cfg.chemistry.hard_limits();
    let soc_mv = |soc: f64| LivePack::ocv_mv(cfg.chemistry, soc).round() as u32;
    Settings {
        smart_sleep_mv: lim.nominal_mv,
        cell_uvp_mv: lim.min_cell_mv + 300,
        cell_uvp_release_mv: lim.min_cell_mv + 500,
        cell_ovp_mv: lim.max_charge_mv - 20,
        cell_ovp_release_mv: lim.max_charge_mv - 170,
        balance_trigger_delta_mv: 8,
        soc_100_mv: soc_mv(0.98),
        soc_0_mv: soc_mv(0.02),
        cell_charge_mv: lim.max_charge_mv - 100,
        cell_float_mv: lim.max_charge_mv - 200,
        power_off_mv: lim.min_cell_mv + 100,
        charge_overcurrent_ma: 100_000,
        charge_overcurrent_delay_s: 30,
        charge_overcurrent_release_s: 60,
        discharge_overcurrent_ma: 120_000,
        discharge_overcurrent_delay_s: 300,
        discharge_overcurrent_release_s: 60,
        short_circuit_release_s: 60,
        max_balance_current_ma: 2000,
        charge_overtemp_dc: 600,
        charge_overtemp_release_dc: 550,
        discharge_overtemp_dc: 650,
        discharge_overtemp_release_dc: 600,
        charge_undertemp_dc: 0,
        charge_undertemp_release_dc: 30,
        mos_overtemp_dc: 1000,
        mos_overtemp_release_dc: 800,
        cell_count: cfg.cells as u32,
        charge_enable: 1,
        discharge_enable: 1,
        balance_enable: 0,
        design_capacity_mah: (cfg.capacity_ah * 1000.0).round() as u32,
        short_circuit_delay_us: 1500,
        balance_start_mv: lim.nominal_mv,
        device_address: u32::from(address),
        precharge_time_s: 5,
    }
}

impl JkPbLine {
    pub fn new(cfg: JkPbConfig, faults: &Faults, rng: &mut Rng) -> Result<JkPbLine, String> {
        if !(1..=24).contains(&cfg.cells) {
            return Err(format!(
                "{} cells: a JK PB board handles 1 to 24",
                cfg.cells
            ));
        }
        if cfg.sensors > 5 {
            return Err(format!(
                "{} sensors: a JK PB board has at most 5",
                cfg.sensors
            ));
        }
        let last = u16::from(cfg.first_address) + u16::from(cfg.boards.max(1)) - 1;
        if cfg.first_address == 0 {
            return Err("address 0 makes a JK PB board the bus master: use 1 to 15".into());
        }
        if last > u16::from(jk_pb::MAX_ADDRESS) {
            return Err(format!(
                "{} boards from address {} end at {last}: JK PB addresses are 1 to 15",
                cfg.boards, cfg.first_address
            ));
        }
        if let Some(c) = faults.overvoltage_cell {
            if c > cfg.cells {
                return Err(format!(
                    "overvoltage cell {c} does not exist on a {}-cell board",
                    cfg.cells
                ));
            }
        }
        let parse = |list: &[String]| {
            list.iter()
                .map(|n| parse_field(n))
                .collect::<Result<Vec<u16>, String>>()
        };
        let mut boards = Vec::new();
        for address in cfg.first_address..=last as u8 {
            let mut pack =
                LivePack::new(cfg.chemistry, cfg.cells, cfg.sensors, cfg.capacity_ah, rng);
            pack.apply_faults(faults)?;
            boards.push(JkPbBoard {
                address,
                settings: default_settings(&cfg, address).encode(),
                echo: HashMap::new(),
                info: DeviceInfo {
                    model: cfg.model.clone(),
                    hardware_version: "19A".into(),
                    software_version: "19.08".into(),
                    run_time_s: 86_400,
                    power_on_count: 3,
                    device_name: Some(format!("JK-SIM-{address}")),
                    manufacture_date: Some("240115".into()),
                    serial_number: Some(format!("JKSIM{address:08}")),
                    uart1_protocol: Some(0),
                    can_protocol: Some(0),
                    uart2_protocol: Some(0),
                },
                pack,
                cycles: 7,
                ov: false,
                uv: false,
            });
        }
        Ok(JkPbLine {
            boards,
            nostore: parse(&faults.nostore)?,
            nopersist: parse(&faults.nopersist)?,
            overvoltage_cell: faults.overvoltage_cell,
        })
    }

    /// Answer one request; `None` when no board on the line is addressed.
    pub fn answer(&mut self, req: &Request, rng: &mut Rng) -> Option<Response> {
        let address = req.address();
        let overvoltage_cell = self.overvoltage_cell;
        let (nostore, nopersist) = (&self.nostore, &self.nopersist);
        let board = self.boards.iter_mut().find(|b| b.address == address)?;
        let refuse = |function: u8, code: ExceptionCode| Response::Exception {
            address,
            function: function | modbus::EXCEPTION_BIT,
            code,
        };
        Some(match req {
            Request::ReadHolding { start, count, .. } => {
                if *count == 0 || *count > MAX_READ || !start.is_multiple_of(2) {
                    return Some(refuse(
                        modbus::READ_HOLDING,
                        ExceptionCode::IllegalDataAddress,
                    ));
                }
                match board.read(*start, *count, overvoltage_cell, rng) {
                    Some(data) => Response::success_for(req, data),
                    None => refuse(modbus::READ_HOLDING, ExceptionCode::IllegalDataAddress),
                }
            }
            Request::WriteMultiple { start, values, .. } => {
                match board.write(*start, values, nostore, nopersist) {
                    Ok(()) => Response::success_for(req, Vec::new()),
                    Err(code) => refuse(modbus::WRITE_MULTIPLE, code),
                }
            }
            Request::WriteSingle { .. } => {
                refuse(modbus::WRITE_SINGLE, ExceptionCode::IllegalFunction)
            }
        })
    }

    /// A board's stored settings, for tests.
    pub fn settings(&self, address: u8) -> Option<Settings> {
        let b = self.boards.iter().find(|b| b.address == address)?;
        Settings::decode(&b.settings).ok()
    }
}

impl JkPbBoard {
    fn setting(&self, name: &str) -> u32 {
        SETTING_FIELDS
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| self.settings.read(f.register(), 2).ok())
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn live(&mut self, overvoltage_cell: Option<usize>, rng: &mut Rng) -> LiveData {
        let ovp = f64::from(self.setting("cell_ovp_mv"));
        let ovp_rel = f64::from(self.setting("cell_ovp_release_mv"));
        let uvp = f64::from(self.setting("cell_uvp_mv"));
        let uvp_rel = f64::from(self.setting("cell_uvp_release_mv"));
        let charge_enabled = self.setting("charge_enable") != 0;
        let discharge_enabled = self.setting("discharge_enable") != 0;
        let forced = overvoltage_cell.map(|c| (c - 1, ovp + 50.0));
        let charge_on = charge_enabled && !self.ov;
        let discharge_on = discharge_enabled && !self.uv;
        self.pack.update(charge_on, discharge_on, forced, rng);
        let cells = &self.pack.cells_mv;
        let max = cells.iter().cloned().fold(f64::MIN, f64::max);
        let min = cells.iter().cloned().fold(f64::MAX, f64::min);
        if max >= ovp {
            self.ov = true;
        } else if max <= ovp_rel {
            self.ov = false;
        }
        if min <= uvp {
            self.uv = true;
        } else if min >= uvp_rel {
            self.uv = false;
        }
        let cells_mv: Vec<u32> = self
            .pack
            .cells_mv_u16()
            .iter()
            .map(|&v| u32::from(v))
            .collect();
        let (imax, imin) = (
            cells_mv
                .iter()
                .enumerate()
                .max_by_key(|(_, v)| **v)
                .map_or(0, |(i, _)| i),
            cells_mv
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| **v)
                .map_or(0, |(i, _)| i),
        );
        let avg = cells_mv.iter().sum::<u32>() / cells_mv.len().max(1) as u32;
        let pack_v = self.pack.pack_mv().round() / 1000.0;
        let full_ah = f64::from(self.setting("design_capacity_mah")) / 1000.0;
        let mut alarms = 0u32;
        if self.ov {
            alarms |= 1 << 4;
        }
        if self.uv {
            alarms |= 1 << 11;
        }
        LiveData {
            cell_presence_mask: if cells_mv.len() >= 32 {
                u32::MAX
            } else {
                (1u32 << cells_mv.len()) - 1
            },
            cell_average_mv: avg as u16,
            cell_delta_mv: (max - min).round().max(0.0) as u16,
            max_cell: imax as u8,
            min_cell: imin as u8,
            cell_voltages_mv: cells_mv,
            mos_temperature_c: 28.0,
            pack_voltage_v: pack_v,
            power_w: (pack_v * self.pack.current_a * 1000.0).round().abs() / 1000.0,
            current_a: (self.pack.current_a * 1000.0).round() / 1000.0,
            temperatures_c: self
                .pack
                .temps_c
                .iter()
                .map(|t| (t * 10.0).round() / 10.0)
                .collect(),
            alarm_bits: alarms,
            balance_current_a: 0.0,
            balance_state: 0,
            soc_pct: (self.pack.soc * 100.0).round() as u8,
            remaining_ah: (full_ah * self.pack.soc * 1000.0).round() / 1000.0,
            full_charge_ah: full_ah,
            cycles: self.cycles,
            cycle_capacity_ah: f64::from(self.cycles) * full_ah,
            soh_pct: 100,
            precharge: false,
            run_time_s: 86_400,
            charge_fet: charge_on && !self.ov,
            discharge_fet: discharge_on && !self.uv,
            heating: Some(false),
        }
    }

    fn read(
        &mut self,
        start: u16,
        count: u16,
        overvoltage_cell: Option<usize>,
        rng: &mut Rng,
    ) -> Option<Vec<u8>> {
        let within = |block: u16, len: usize| {
            start >= block && usize::from(start - block) + usize::from(count) * 2 <= len
        };
        if within(SETTINGS_BLOCK, SETTINGS_LEN) {
            if count == 2 {
                if let Some(echo) = self.echo.get(&start) {
                    return Some(echo.clone());
                }
            }
            return self.settings.read(start, count).ok();
        }
        if within(LIVE_BLOCK, LIVE_LEN) {
            return self
                .live(overvoltage_cell, rng)
                .encode()
                .read(start, count)
                .ok();
        }
        if within(INFO_BLOCK, INFO_LEN) {
            return self.info.encode().read(start, count).ok();
        }
        None
    }

    fn write(
        &mut self,
        start: u16,
        values: &[u16],
        nostore: &[u16],
        nopersist: &[u16],
    ) -> Result<(), ExceptionCode> {
        let len = values.len() * 2;
        if !start.is_multiple_of(2)
            || start < SETTINGS_BLOCK
            || usize::from(start - SETTINGS_BLOCK) + len > SETTINGS_LEN
        {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        // Whole fields only: a write must start at a field and cover whole fields.
        let field = SETTING_FIELDS.iter().find(|f| f.register() == start);
        let switches = start == jk_pb::SWITCHES_REGISTER && values.len() == 1;
        if field.is_none() && !switches {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        if field.is_some_and(|f| f.name == "device_address")
            && values.len() == 2
            && !(1..=u32::from(jk_pb::MAX_ADDRESS))
                .contains(&((u32::from(values[0]) << 16) | u32::from(values[1])))
        {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if nostore.contains(&start) {
            // Acknowledged, not stored.
            return Ok(());
        }
        if nopersist.contains(&start) {
            self.echo.insert(start, modbus::words_to_bytes(values));
            return Ok(());
        }
        self.echo.remove(&start);
        self.settings
            .write(start, values)
            .map_err(|_| ExceptionCode::IllegalDataAddress)
    }
}

impl Board for JkPbLine {
    type Framer = modbus::Framer;

    fn request_framer(&self) -> modbus::Framer {
        modbus::Framer::new(modbus::Direction::Requests, None)
    }

    fn handle(&mut self, request: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
        let Ok(req) = Request::decode(request) else {
            return Vec::new();
        };
        self.answer(&req, rng)
            .and_then(|r| r.encode().ok())
            .into_iter()
            .collect()
    }

    fn checksum_range(len: usize) -> std::ops::Range<usize> {
        len.saturating_sub(2)..len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(boards: u8, faults: &Faults) -> JkPbLine {
        let mut cfg = JkPbConfig::new(16, Chemistry::Lfp);
        cfg.boards = boards;
        JkPbLine::new(cfg, faults, &mut Rng::new(3)).unwrap()
    }

    #[test]
    fn each_board_answers_its_own_address_only() {
        let mut l = line(3, &Faults::default());
        let mut rng = Rng::new(1);
        for a in 1..=3 {
            let req = jk_pb::read_request(a, 0x1290, 2).unwrap();
            assert!(matches!(
                l.answer(&req, &mut rng),
                Some(Response::ReadHolding { address, .. }) if address == a
            ));
        }
        let req = jk_pb::read_request(4, 0x1290, 2).unwrap();
        assert!(l.answer(&req, &mut rng).is_none());
    }

    #[test]
    fn quirks_are_refused_as_the_boards_do() {
        let mut l = line(1, &Faults::default());
        let mut rng = Rng::new(1);
        let odd = Request::ReadHolding {
            address: 1,
            start: 0x1291,
            count: 2,
        };
        assert!(matches!(
            l.answer(&odd, &mut rng),
            Some(Response::Exception {
                code: ExceptionCode::IllegalDataAddress,
                ..
            })
        ));
        let big = Request::ReadHolding {
            address: 1,
            start: 0x1200,
            count: 125,
        };
        assert!(matches!(
            l.answer(&big, &mut rng),
            Some(Response::Exception { .. })
        ));
        let master = Request::WriteMultiple {
            address: 1,
            start: 0x1108,
            values: vec![0, 0],
        };
        assert!(matches!(
            l.answer(&master, &mut rng),
            Some(Response::Exception {
                code: ExceptionCode::IllegalDataValue,
                ..
            })
        ));
    }

    #[test]
    fn nopersist_echoes_the_field_but_the_block_keeps_the_old_value() {
        let mut faults = Faults::default();
        faults.add("nopersist=cell_ovp_mv").unwrap();
        let mut l = line(1, &faults);
        let mut rng = Rng::new(1);
        let before = l.settings(1).unwrap().cell_ovp_mv;
        let w = Request::WriteMultiple {
            address: 1,
            start: 0x100C,
            values: vec![0, 3650],
        };
        assert!(matches!(
            l.answer(&w, &mut rng),
            Some(Response::WriteMultiple { .. })
        ));
        let one = jk_pb::read_request(1, 0x100C, 2).unwrap();
        assert!(matches!(
            l.answer(&one, &mut rng),
            Some(Response::ReadHolding { data, .. }) if data == vec![0, 0, 0x0E, 0x42]
        ));
        assert_eq!(l.settings(1).unwrap().cell_ovp_mv, before);
        assert_ne!(before, 3650);
    }
}
