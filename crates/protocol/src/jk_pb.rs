//! JK PB series over RS485: Modbus RTU at 115200 8N1 ([`crate::modbus`]), register map from
//! `JK-BMS-RS485-Modbus-V1.1` (vendor document, "Register Map").
//!
//! The map is laid out in **byte offsets** inside four blocks: settings at 0x1000 (R/W),
//! live data at 0x1200, device info at 0x1400 and commands at 0x1600. A register address is
//! block + byte offset, a read of `n` registers at address `a` returns the `2n` bytes that sit
//! at offsets `a - block ..`, packed without gaps, and a UINT32 therefore takes a read of 2
//! registers at its own address (e.g. pack voltage: 0x1290, count 2). Multi-byte values are
//! big-endian as Modbus sends them.
//!
//! Quirks handled here (bms-protocols-2.md §2 and the issues it cites):
//! - slave address 0 makes a board the bus master, which then broadcasts: addresses 1–15 only,
//!   0 is a typed error ([`JkPbError::MasterAddress`]), for requests and for the
//!   device-address setting alike;
//! - reads of more than about 120 registers are refused: [`read_plan`] splits a block into
//!   reads of at most [`MAX_READ_REGISTERS`];
//! - odd offsets are refused: requests must start at an even offset of their block.
//!
//! Decoders work on a [`BlockImage`], the bytes of one block as far as reads have filled
//! them, so a block read in several pieces decodes the same as one read.
//!
//! Cross-checks (no public capture of a whole PB reply exists that we know of): the read of
//! 0x1290 with 2 registers as `01 03 12 90 00 02 C1 5E` is in syssi/esphome-jk-bms issue 390;
//! big-endian word order (`U_DWORD`, fixed from `U_DWORD_R` in its PR 699), SOC as the second
//! byte of 0x12A6 and SOH as the first of 0x12B8 agree with syssi's Modbus example. That
//! example reads the charge MOS state from byte 0xC1 and discharge from 0xC0, the reverse of
//! the document's order, which this codec follows: unverified on hardware.

use crate::snapshot::Protection;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::modbus::{ModbusError, Request, Response};
use crate::snapshot::BmsSnapshot;

pub const SETTINGS_BLOCK: u16 = 0x1000;
pub const LIVE_BLOCK: u16 = 0x1200;
pub const INFO_BLOCK: u16 = 0x1400;
pub const COMMAND_BLOCK: u16 = 0x1600;
/// Registers per read we send: below the "about 120" that boards were reported to refuse.
pub const MAX_READ_REGISTERS: u16 = 100;
/// Bytes of the settings block this codec reads (offsets 0x000–0x117).
pub const SETTINGS_LEN: usize = 0x118;
/// Bytes of the live-data block this codec reads (offsets 0x000–0x0FD).
pub const LIVE_LEN: usize = 0xFE;
/// Bytes of the device-info block this codec reads (offsets 0x000–0x0D5).
pub const INFO_LEN: usize = 0xD6;
/// Highest address a JK PB board may have on a shared bus (DIP switches 1–15).
pub const MAX_ADDRESS: u8 = 15;

/// Why a JK PB request cannot be built or a reply not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JkPbError {
    #[error("address 0 makes a JK PB board the bus master, which then broadcasts: use 1-15")]
    MasterAddress,
    #[error("address {address} is outside the JK PB range 1-15")]
    AddressRange { address: u8 },
    #[error(
        "register 0x{register:04X} is at an odd offset of its block: JK PB boards refuse those"
    )]
    OddOffset { register: u16 },
    #[error("register 0x{register:04X} is outside block 0x{block:04X} (+{len} bytes)")]
    OutsideBlock {
        register: u16,
        block: u16,
        len: usize,
    },
    #[error("a read of {count} registers: JK PB boards refuse more than {max} at once")]
    TooManyRegisters { count: u16, max: u16 },
    #[error("setting {name} = {value} does not fit its register ({reason})")]
    SettingRange {
        name: &'static str,
        value: i64,
        reason: &'static str,
    },
    #[error("the board answered with exception {0}")]
    Exception(crate::modbus::ExceptionCode),
    #[error("reply from address {got}, expected {expected}")]
    WrongAddress { expected: u8, got: u8 },
    #[error("reply carries {got} bytes, the read asked for {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("reply is not an answer to a register read")]
    NotARead,
    #[error("{what} not read yet (block 0x{block:04X}, offsets 0x{offset:03X}+{len})")]
    Missing {
        what: &'static str,
        block: u16,
        offset: usize,
        len: usize,
    },
    #[error(transparent)]
    Modbus(#[from] ModbusError),
}

/// The 300-byte `55 AA EB 90` frames a board sends after a one-register FC16 write at these
/// addresses (bms-protocols-2.md §2, as dbus-serialbattery reads PB boards): device info
/// (type 03), settings (01) and live data (02), followed by the write's acknowledgement.
/// Only the triggering requests are built here; the `55 AA` frames are JK's BLE layout and
/// are not decoded by this codec (a Modbus reply framer skips them as junk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameTrigger {
    DeviceInfo,
    Settings,
    LiveData,
}

impl FrameTrigger {
    pub fn register(self) -> u16 {
        match self {
            FrameTrigger::DeviceInfo => 0x161C,
            FrameTrigger::Settings => 0x161E,
            FrameTrigger::LiveData => 0x1620,
        }
    }

    /// FC16, one register, value 0.
    pub fn request(self, address: u8) -> Result<Request, JkPbError> {
        check_address(address)?;
        Ok(Request::WriteMultiple {
            address,
            start: self.register(),
            values: vec![0],
        })
    }
}

/// A JK PB slave address: 1–15; 0 is refused with the reason.
pub fn check_address(address: u8) -> Result<u8, JkPbError> {
    match address {
        0 => Err(JkPbError::MasterAddress),
        1..=MAX_ADDRESS => Ok(address),
        _ => Err(JkPbError::AddressRange { address }),
    }
}

/// A read of `count` registers at `register`, checked against the board's quirks.
pub fn read_request(address: u8, register: u16, count: u16) -> Result<Request, JkPbError> {
    check_address(address)?;
    if !register.is_multiple_of(2) {
        return Err(JkPbError::OddOffset { register });
    }
    if count == 0 || count > MAX_READ_REGISTERS {
        return Err(JkPbError::TooManyRegisters {
            count,
            max: MAX_READ_REGISTERS,
        });
    }
    Ok(Request::ReadHolding {
        address,
        start: register,
        count,
    })
}

/// The reads that fetch the first `len` bytes of `block`, each within the board's limit.
pub fn read_plan(address: u8, block: u16, len: usize) -> Result<Vec<Request>, JkPbError> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while offset < len {
        let bytes = (len - offset).min(usize::from(MAX_READ_REGISTERS) * 2);
        let count = bytes.div_ceil(2) as u16;
        let register =
            u16::try_from(usize::from(block) + offset).map_err(|_| JkPbError::OutsideBlock {
                register: u16::MAX,
                block,
                len,
            })?;
        out.push(read_request(address, register, count)?);
        offset += usize::from(count) * 2;
    }
    Ok(out)
}

/// One block's bytes as far as reads have filled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockImage {
    pub block: u16,
    bytes: Vec<u8>,
    filled: Vec<bool>,
}

impl BlockImage {
    pub fn new(block: u16, len: usize) -> BlockImage {
        BlockImage {
            block,
            bytes: vec![0; len],
            filled: vec![false; len],
        }
    }

    /// A block whose bytes are all known (a simulator's registers, a test's fixture).
    pub fn from_bytes(block: u16, bytes: Vec<u8>) -> BlockImage {
        let filled = vec![true; bytes.len()];
        BlockImage {
            block,
            bytes,
            filled,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whole bytes, unread ones as 0.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn range(&self, register: u16, len: usize) -> Result<usize, JkPbError> {
        let offset = usize::from(register.wrapping_sub(self.block));
        if register < self.block || offset + len > self.bytes.len() {
            return Err(JkPbError::OutsideBlock {
                register,
                block: self.block,
                len: self.bytes.len(),
            });
        }
        Ok(offset)
    }

    /// Stores the data of a read reply to a read that started at `register`.
    pub fn apply_read(&mut self, register: u16, data: &[u8]) -> Result<(), JkPbError> {
        let offset = usize::from(register.wrapping_sub(self.block));
        if register < self.block || offset >= self.bytes.len() {
            return Err(JkPbError::OutsideBlock {
                register,
                block: self.block,
                len: self.bytes.len(),
            });
        }
        // A read may run past the bytes this codec decodes; keep what fits.
        let n = data.len().min(self.bytes.len() - offset);
        self.bytes[offset..offset + n].copy_from_slice(&data[..n]);
        self.filled[offset..offset + n].fill(true);
        Ok(())
    }

    /// Checks `reply` answers `request` and stores its data.
    pub fn apply_reply(&mut self, request: &Request, reply: &Response) -> Result<(), JkPbError> {
        let Request::ReadHolding {
            address,
            start,
            count,
        } = request
        else {
            return Err(JkPbError::NotARead);
        };
        match reply {
            Response::Exception { code, .. } => Err(JkPbError::Exception(*code)),
            Response::ReadHolding { address: got, data } => {
                if got != address {
                    return Err(JkPbError::WrongAddress {
                        expected: *address,
                        got: *got,
                    });
                }
                if data.len() != usize::from(*count) * 2 {
                    return Err(JkPbError::WrongLength {
                        expected: usize::from(*count) * 2,
                        got: data.len(),
                    });
                }
                self.apply_read(*start, data)
            }
            _ => Err(JkPbError::NotARead),
        }
    }

    /// What a board answers to a read of `count` registers at `register` (simulators).
    pub fn read(&self, register: u16, count: u16) -> Result<Vec<u8>, JkPbError> {
        let len = usize::from(count) * 2;
        let offset = self.range(register, len)?;
        Ok(self.bytes[offset..offset + len].to_vec())
    }

    /// Applies register writes (FC16 values) to the image (simulators, expected state).
    pub fn write(&mut self, register: u16, values: &[u16]) -> Result<(), JkPbError> {
        let bytes = crate::modbus::words_to_bytes(values);
        let offset = self.range(register, bytes.len())?;
        self.bytes[offset..offset + bytes.len()].copy_from_slice(&bytes);
        self.filled[offset..offset + bytes.len()].fill(true);
        Ok(())
    }

    fn get(&self, what: &'static str, offset: usize, len: usize) -> Result<&[u8], JkPbError> {
        if offset + len > self.bytes.len() || !self.filled[offset..offset + len].iter().all(|&f| f)
        {
            return Err(JkPbError::Missing {
                what,
                block: self.block,
                offset,
                len,
            });
        }
        Ok(&self.bytes[offset..offset + len])
    }

    fn opt(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.get("", offset, len).ok()
    }

    fn u8_at(&self, what: &'static str, offset: usize) -> Result<u8, JkPbError> {
        Ok(self.get(what, offset, 1)?[0])
    }

    fn u16_at(&self, what: &'static str, offset: usize) -> Result<u16, JkPbError> {
        let b = self.get(what, offset, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i16_at(&self, what: &'static str, offset: usize) -> Result<i16, JkPbError> {
        Ok(self.u16_at(what, offset)? as i16)
    }

    fn u32_at(&self, what: &'static str, offset: usize) -> Result<u32, JkPbError> {
        let b = self.get(what, offset, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32_at(&self, what: &'static str, offset: usize) -> Result<i32, JkPbError> {
        Ok(self.u32_at(what, offset)? as i32)
    }
}

/// Alarm bits of live-data offset 0xA0, bit 0 first. Bits 22 and 23 follow the document's
/// list order (their bit column is cut off in the extraction).
pub const ALARM_NAMES: [&str; 24] = [
    "balance_wire_resistance",
    "mos_overtemperature",
    "cell_count_mismatch",
    "current_sensor_fault",
    "cell_overvoltage",
    "pack_overvoltage",
    "charge_overcurrent",
    "charge_short_circuit",
    "charge_overtemperature",
    "charge_undertemperature",
    "internal_communication",
    "cell_undervoltage",
    "pack_undervoltage",
    "discharge_overcurrent",
    "discharge_short_circuit",
    "discharge_overtemperature",
    "charge_mos_fault",
    "discharge_mos_fault",
    "gps_disconnected",
    "change_password",
    "discharge_on_failed",
    "battery_overtemperature_alarm",
    "temperature_sensor_fault",
    "parallel_module_fault",
];

/// The live-data block (0x1200) decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveData {
    /// Voltages of the cells the presence mask (offset 0x40) marks, in cell order.
    pub cell_voltages_mv: Vec<u32>,
    pub cell_presence_mask: u32,
    pub cell_average_mv: u16,
    pub cell_delta_mv: u16,
    /// 0-based numbers as the board sends them.
    pub max_cell: u8,
    pub min_cell: u8,
    pub mos_temperature_c: f64,
    pub pack_voltage_v: f64,
    pub power_w: f64,
    /// Positive while charging.
    pub current_a: f64,
    /// Battery sensors 1–2, then 3–5 when the block was read that far; only the sensors the
    /// presence byte (0xD0) marks present when it was read.
    pub temperatures_c: Vec<f64>,
    pub alarm_bits: u32,
    pub balance_current_a: f64,
    /// 0 off, 1 charging, 2 discharging.
    pub balance_state: u8,
    pub soc_pct: u8,
    pub remaining_ah: f64,
    pub full_charge_ah: f64,
    pub cycles: u32,
    pub cycle_capacity_ah: f64,
    pub soh_pct: u8,
    pub precharge: bool,
    pub run_time_s: u32,
    pub charge_fet: bool,
    pub discharge_fet: bool,
    pub heating: Option<bool>,
}

impl LiveData {
    pub fn decode(img: &BlockImage) -> Result<LiveData, JkPbError> {
        let mask = img.u32_at("cell presence", 0x40)?;
        let mut cells = Vec::new();
        for i in 0..32 {
            if mask & (1 << i) != 0 {
                cells.push(u32::from(img.u16_at("cell voltages", 2 * i)?));
            }
        }
        let presence = img.opt(0xD0, 1).map(|b| b[0]);
        let sensor = |i: u32| presence.is_none_or(|p| p & (1 << i) != 0);
        let mut temps = Vec::new();
        for (i, off) in [(1u32, 0x9C), (2, 0x9E)] {
            if sensor(i) {
                temps.push(tenths(i32::from(img.i16_at("battery temperature", off)?)));
            }
        }
        for (i, off) in [(3u32, 0xF8), (4, 0xFA), (5, 0xFC)] {
            if let (Some(b), Some(p)) = (img.opt(off, 2), presence) {
                if p & (1 << i) != 0 {
                    temps.push(tenths(i32::from(i16::from_be_bytes([b[0], b[1]]))));
                }
            }
        }
        Ok(LiveData {
            cell_voltages_mv: cells,
            cell_presence_mask: mask,
            cell_average_mv: img.u16_at("cell average", 0x44)?,
            cell_delta_mv: img.u16_at("cell delta", 0x46)?,
            max_cell: img.u8_at("max cell", 0x48)?,
            min_cell: img.u8_at("min cell", 0x49)?,
            mos_temperature_c: tenths(i32::from(img.i16_at("MOS temperature", 0x8A)?)),
            pack_voltage_v: milli(i64::from(img.u32_at("pack voltage", 0x90)?)),
            power_w: milli(i64::from(img.u32_at("power", 0x94)?)),
            current_a: milli(i64::from(img.i32_at("current", 0x98)?)),
            temperatures_c: temps,
            alarm_bits: img.u32_at("alarms", 0xA0)?,
            balance_current_a: milli(i64::from(img.i16_at("balance current", 0xA4)?)),
            balance_state: img.u8_at("balance state", 0xA6)?,
            soc_pct: img.u8_at("SOC", 0xA7)?,
            remaining_ah: milli(i64::from(img.i32_at("remaining capacity", 0xA8)?)),
            full_charge_ah: milli(i64::from(img.u32_at("full charge capacity", 0xAC)?)),
            cycles: img.u32_at("cycles", 0xB0)?,
            cycle_capacity_ah: milli(i64::from(img.u32_at("cycle capacity", 0xB4)?)),
            soh_pct: img.u8_at("SOH", 0xB8)?,
            precharge: img.u8_at("precharge", 0xB9)? != 0,
            run_time_s: img.u32_at("run time", 0xBC)?,
            charge_fet: img.u8_at("charge MOS", 0xC0)? != 0,
            discharge_fet: img.u8_at("discharge MOS", 0xC1)? != 0,
            heating: img.opt(0xD1, 1).map(|b| b[0] != 0),
        })
    }

    /// Names of the alarm bits that are set.
    pub fn alarms(&self) -> Vec<String> {
        ALARM_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.alarm_bits & (1 << i) != 0)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    pub fn snapshot(&self) -> BmsSnapshot {
        BmsSnapshot {
            pack_voltage_v: self.pack_voltage_v,
            current_a: self.current_a,
            remaining_ah: Some(self.remaining_ah),
            nominal_ah: Some(self.full_charge_ah),
            cycles: Some(self.cycles),
            soc_pct: Some(f64::from(self.soc_pct)),
            cell_count: self.cell_voltages_mv.len(),
            cell_voltages_mv: self.cell_voltages_mv.clone(),
            temperatures_c: self.temperatures_c.clone(),
            protection: self.alarms().into_iter().map(Protection::from).collect(),
            charge_fet: Some(self.charge_fet),
            discharge_fet: Some(self.discharge_fet),
            ..BmsSnapshot::default()
        }
    }

    /// The block a board with these values answers from (simulators, round-trip tests).
    pub fn encode(&self) -> BlockImage {
        let mut b = vec![0u8; LIVE_LEN];
        let mut cells = self.cell_voltages_mv.iter();
        for i in 0..32 {
            if self.cell_presence_mask & (1 << i) != 0 {
                let mv = cells.next().copied().unwrap_or(0).min(0xFFFF) as u16;
                put(&mut b, 2 * i, &mv.to_be_bytes());
            }
        }
        put(&mut b, 0x40, &self.cell_presence_mask.to_be_bytes());
        put(&mut b, 0x44, &self.cell_average_mv.to_be_bytes());
        put(&mut b, 0x46, &self.cell_delta_mv.to_be_bytes());
        b[0x48] = self.max_cell;
        b[0x49] = self.min_cell;
        put(
            &mut b,
            0x8A,
            &(wire(self.mos_temperature_c, 10.0) as i16).to_be_bytes(),
        );
        put(
            &mut b,
            0x90,
            &(wire(self.pack_voltage_v, 1000.0) as u32).to_be_bytes(),
        );
        put(
            &mut b,
            0x94,
            &(wire(self.power_w, 1000.0) as u32).to_be_bytes(),
        );
        put(
            &mut b,
            0x98,
            &(wire(self.current_a, 1000.0) as i32).to_be_bytes(),
        );
        // Sensors 1-5 in order; all reported present.
        let offs = [0x9C, 0x9E, 0xF8, 0xFA, 0xFC];
        let mut presence = 1u8; // MOS sensor
        for (i, t) in self.temperatures_c.iter().take(5).enumerate() {
            put(&mut b, offs[i], &(wire(*t, 10.0) as i16).to_be_bytes());
            presence |= 1 << (i + 1);
        }
        put(&mut b, 0xA0, &self.alarm_bits.to_be_bytes());
        put(
            &mut b,
            0xA4,
            &(wire(self.balance_current_a, 1000.0) as i16).to_be_bytes(),
        );
        b[0xA6] = self.balance_state;
        b[0xA7] = self.soc_pct;
        put(
            &mut b,
            0xA8,
            &(wire(self.remaining_ah, 1000.0) as i32).to_be_bytes(),
        );
        put(
            &mut b,
            0xAC,
            &(wire(self.full_charge_ah, 1000.0) as u32).to_be_bytes(),
        );
        put(&mut b, 0xB0, &self.cycles.to_be_bytes());
        put(
            &mut b,
            0xB4,
            &(wire(self.cycle_capacity_ah, 1000.0) as u32).to_be_bytes(),
        );
        b[0xB8] = self.soh_pct;
        b[0xB9] = u8::from(self.precharge);
        put(&mut b, 0xBC, &self.run_time_s.to_be_bytes());
        b[0xC0] = u8::from(self.charge_fet);
        b[0xC1] = u8::from(self.discharge_fet);
        b[0xD0] = presence;
        b[0xD1] = u8::from(self.heating.unwrap_or(false));
        put(
            &mut b,
            0xE4,
            &(wire(self.pack_voltage_v, 100.0) as u16).to_be_bytes(),
        );
        BlockImage::from_bytes(LIVE_BLOCK, b)
    }
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

fn tenths(raw: i32) -> f64 {
    f64::from(raw) / 10.0
}

fn milli(raw: i64) -> f64 {
    raw as f64 / 1000.0
}

fn wire(value: f64, per_unit: f64) -> i64 {
    let v = (value * per_unit).round();
    if v.is_nan() {
        0
    } else {
        v as i64
    }
}

/// Device info (0x1400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// "ManufacturerDeviceID", e.g. `BK-BLE-1.0`.
    pub model: String,
    pub hardware_version: String,
    pub software_version: String,
    pub run_time_s: u32,
    pub power_on_count: u32,
    /// Offsets 0x28 (16 bytes), 0x48 (8) and 0x50 (16): not in the Modbus document's
    /// extraction; they follow the JK BLE "type 03" device-info layout, of which the
    /// documented fields above are the start at the same relative offsets. `None` when the
    /// block was not read that far.
    pub device_name: Option<String>,
    pub manufacture_date: Option<String>,
    pub serial_number: Option<String>,
    /// Protocol numbers of UART1 (0xB2), CAN (0xB3) and UART2 (0xD4).
    pub uart1_protocol: Option<u8>,
    pub can_protocol: Option<u8>,
    pub uart2_protocol: Option<u8>,
}

fn ascii(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes[..end]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

impl DeviceInfo {
    pub fn decode(img: &BlockImage) -> Result<DeviceInfo, JkPbError> {
        Ok(DeviceInfo {
            model: ascii(img.get("model", 0x00, 16)?),
            hardware_version: ascii(img.get("hardware version", 0x10, 8)?),
            software_version: ascii(img.get("software version", 0x18, 8)?),
            run_time_s: img.u32_at("run time", 0x20)?,
            power_on_count: img.u32_at("power-on count", 0x24)?,
            device_name: img.opt(0x28, 16).map(ascii),
            manufacture_date: img.opt(0x48, 8).map(ascii),
            serial_number: img.opt(0x50, 16).map(ascii),
            uart1_protocol: img.opt(0xB2, 1).map(|b| b[0]),
            can_protocol: img.opt(0xB3, 1).map(|b| b[0]),
            uart2_protocol: img.opt(0xD4, 1).map(|b| b[0]),
        })
    }

    pub fn encode(&self) -> BlockImage {
        let mut b = vec![0u8; INFO_LEN];
        let text = |b: &mut [u8], at: usize, len: usize, s: &str| {
            for (i, c) in s.bytes().filter(u8::is_ascii).take(len).enumerate() {
                b[at + i] = c;
            }
        };
        text(&mut b, 0x00, 16, &self.model);
        text(&mut b, 0x10, 8, &self.hardware_version);
        text(&mut b, 0x18, 8, &self.software_version);
        put(&mut b, 0x20, &self.run_time_s.to_be_bytes());
        put(&mut b, 0x24, &self.power_on_count.to_be_bytes());
        text(&mut b, 0x28, 16, self.device_name.as_deref().unwrap_or(""));
        text(
            &mut b,
            0x48,
            8,
            self.manufacture_date.as_deref().unwrap_or(""),
        );
        text(
            &mut b,
            0x50,
            16,
            self.serial_number.as_deref().unwrap_or(""),
        );
        b[0xB2] = self.uart1_protocol.unwrap_or(0);
        b[0xB3] = self.can_protocol.unwrap_or(0);
        b[0xD4] = self.uart2_protocol.unwrap_or(0);
        BlockImage::from_bytes(INFO_BLOCK, b)
    }

    /// Into a snapshot's identity fields.
    pub fn fill(&self, snap: &mut BmsSnapshot) {
        snap.model = Some(self.model.clone());
        snap.firmware_version = Some(self.software_version.clone());
    }
}

macro_rules! settings {
    ($( $(#[$doc:meta])* $name:ident : $ty:ident @ $off:literal ),* $(,)?) => {
        /// The settings block (0x1000) fields this codec writes and verifies, in the
        /// document's units. Every field is a UINT32 or INT32 (two registers).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Settings {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        /// Name, byte offset and signedness of each [`Settings`] field, in register order.
        pub const SETTING_FIELDS: &[SettingField] = &[
            $( SettingField { name: stringify!($name), offset: $off, signed: settings!(@signed $ty) }, )*
        ];

        impl Settings {
            fn values(&self) -> Vec<i64> {
                vec![$( i64::from(self.$name), )*]
            }

            pub fn decode(img: &BlockImage) -> Result<Settings, JkPbError> {
                Ok(Settings {
                    $( $name: settings!(@read img, $ty, stringify!($name), $off), )*
                })
            }
        }
    };
    (@signed u32) => { false };
    (@signed i32) => { true };
    (@read $img:ident, u32, $n:expr, $off:literal) => { $img.u32_at($n, $off)? };
    (@read $img:ident, i32, $n:expr, $off:literal) => { $img.i32_at($n, $off)? };
}

/// Where a setting lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingField {
    pub name: &'static str,
    /// Byte offset in the settings block.
    pub offset: usize,
    pub signed: bool,
}

impl SettingField {
    pub fn register(&self) -> u16 {
        SETTINGS_BLOCK + self.offset as u16
    }
}

settings! {
    smart_sleep_mv: u32 @ 0x00,
    cell_uvp_mv: u32 @ 0x04,
    cell_uvp_release_mv: u32 @ 0x08,
    cell_ovp_mv: u32 @ 0x0C,
    cell_ovp_release_mv: u32 @ 0x10,
    balance_trigger_delta_mv: u32 @ 0x14,
    soc_100_mv: u32 @ 0x18,
    soc_0_mv: u32 @ 0x1C,
    /// Recommended charge voltage per cell.
    cell_charge_mv: u32 @ 0x20,
    /// Float voltage per cell.
    cell_float_mv: u32 @ 0x24,
    power_off_mv: u32 @ 0x28,
    /// Continuous charge current (charge over-current threshold).
    charge_overcurrent_ma: u32 @ 0x2C,
    charge_overcurrent_delay_s: u32 @ 0x30,
    charge_overcurrent_release_s: u32 @ 0x34,
    /// Continuous discharge current (discharge over-current threshold).
    discharge_overcurrent_ma: u32 @ 0x38,
    discharge_overcurrent_delay_s: u32 @ 0x3C,
    discharge_overcurrent_release_s: u32 @ 0x40,
    short_circuit_release_s: u32 @ 0x44,
    max_balance_current_ma: u32 @ 0x48,
    /// Temperatures in 0.1 °C.
    charge_overtemp_dc: i32 @ 0x4C,
    charge_overtemp_release_dc: i32 @ 0x50,
    discharge_overtemp_dc: i32 @ 0x54,
    discharge_overtemp_release_dc: i32 @ 0x58,
    charge_undertemp_dc: i32 @ 0x5C,
    charge_undertemp_release_dc: i32 @ 0x60,
    mos_overtemp_dc: i32 @ 0x64,
    mos_overtemp_release_dc: i32 @ 0x68,
    cell_count: u32 @ 0x6C,
    /// 1 on, 0 off.
    charge_enable: u32 @ 0x70,
    discharge_enable: u32 @ 0x74,
    balance_enable: u32 @ 0x78,
    design_capacity_mah: u32 @ 0x7C,
    short_circuit_delay_us: u32 @ 0x80,
    balance_start_mv: u32 @ 0x84,
    /// The board's own RS485 address (1-15; 0 is refused on write).
    device_address: u32 @ 0x108,
    precharge_time_s: u32 @ 0x10C,
}

/// One setting the read-back does not show as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub name: &'static str,
    pub register: u16,
    pub wanted: i64,
    pub read: i64,
}

impl Settings {
    fn check(&self) -> Result<(), JkPbError> {
        let address = u8::try_from(self.device_address).unwrap_or(u8::MAX);
        match check_address(address) {
            Err(JkPbError::MasterAddress) => Err(JkPbError::MasterAddress),
            Err(_) => Err(JkPbError::SettingRange {
                name: "device_address",
                value: i64::from(self.device_address),
                reason: "JK PB addresses are 1-15",
            }),
            Ok(_) => {
                for (name, v) in [
                    ("charge_enable", self.charge_enable),
                    ("discharge_enable", self.discharge_enable),
                    ("balance_enable", self.balance_enable),
                ] {
                    if v > 1 {
                        return Err(JkPbError::SettingRange {
                            name,
                            value: i64::from(v),
                            reason: "a switch is 0 or 1",
                        });
                    }
                }
                if !(1..=32).contains(&self.cell_count) {
                    return Err(JkPbError::SettingRange {
                        name: "cell_count",
                        value: i64::from(self.cell_count),
                        reason: "1-32 cells",
                    });
                }
                Ok(())
            }
        }
    }

    /// FC16 writes that turn `current` (what the board holds) into `self`: one write of two
    /// registers per changed field, in register order. Refuses values the board must never
    /// get (device address 0, switches other than 0/1, cell counts outside 1–32).
    pub fn writes(&self, address: u8, current: &Settings) -> Result<Vec<Request>, JkPbError> {
        check_address(address)?;
        self.check()?;
        let want = self.values();
        let have = current.values();
        Ok(SETTING_FIELDS
            .iter()
            .zip(want.iter().zip(have.iter()))
            .filter(|(_, (w, h))| w != h)
            .map(|(f, (w, _))| Request::WriteMultiple {
                address,
                start: f.register(),
                values: u32_words(*w as u32).to_vec(),
            })
            .collect())
    }

    /// FC16 writes of every field (no known current state), in register order.
    pub fn all_writes(&self, address: u8) -> Result<Vec<Request>, JkPbError> {
        check_address(address)?;
        self.check()?;
        Ok(SETTING_FIELDS
            .iter()
            .zip(self.values())
            .map(|(f, v)| Request::WriteMultiple {
                address,
                start: f.register(),
                values: u32_words(v as u32).to_vec(),
            })
            .collect())
    }

    /// The fields of a read-back that differ from what was written.
    pub fn verify(&self, read_back: &Settings) -> Vec<Mismatch> {
        SETTING_FIELDS
            .iter()
            .zip(self.values().into_iter().zip(read_back.values()))
            .filter(|(_, (w, r))| w != r)
            .map(|(f, (wanted, read))| Mismatch {
                name: f.name,
                register: f.register(),
                wanted,
                read,
            })
            .collect()
    }

    /// The settings block with these values (simulators, tests).
    pub fn encode(&self) -> BlockImage {
        let mut img = BlockImage::from_bytes(SETTINGS_BLOCK, vec![0; SETTINGS_LEN]);
        for (f, v) in SETTING_FIELDS.iter().zip(self.values()) {
            // In range by construction: every offset + 4 <= SETTINGS_LEN.
            let _ = img.write(f.register(), &u32_words(v as u32));
        }
        img
    }
}

/// The switch word at settings offset 0x114 (UINT16, one register), bit by bit as the
/// document lists it; bit 9 (charging float mode) is what syssi's Modbus example reads too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Switches {
    pub bits: u16,
}

/// (bit, name) of the documented switches.
pub const SWITCH_NAMES: [(u8, &str); 10] = [
    (0, "heating"),
    (1, "disable_temperature_sensor"),
    (2, "gps_heartbeat"),
    (3, "port_rs485"),
    (4, "lcd_always_on"),
    (5, "special_charger"),
    (6, "smart_sleep"),
    (7, "disable_pcl_module"),
    (8, "timed_stored_data"),
    (9, "charging_float_mode"),
];

/// Register of the switch word.
pub const SWITCHES_REGISTER: u16 = SETTINGS_BLOCK + 0x114;

impl Switches {
    pub fn decode(img: &BlockImage) -> Result<Switches, JkPbError> {
        Ok(Switches {
            bits: img.u16_at("switches", 0x114)?,
        })
    }

    pub fn get(self, name: &str) -> Option<bool> {
        let (bit, _) = SWITCH_NAMES.iter().find(|(_, n)| *n == name)?;
        Some(self.bits & (1 << bit) != 0)
    }

    /// With switch `name` set to `on`; `None` for a name the document does not list.
    pub fn with(self, name: &str, on: bool) -> Option<Switches> {
        let (bit, _) = SWITCH_NAMES.iter().find(|(_, n)| *n == name)?;
        let bits = if on {
            self.bits | (1 << bit)
        } else {
            self.bits & !(1 << bit)
        };
        Some(Switches { bits })
    }

    /// Names of the switches that are on.
    pub fn on(self) -> Vec<&'static str> {
        SWITCH_NAMES
            .iter()
            .filter(|(b, _)| self.bits & (1 << b) != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// FC16 write of the word (one register).
    pub fn request(self, address: u8) -> Result<Request, JkPbError> {
        check_address(address)?;
        Ok(Request::WriteMultiple {
            address,
            start: SWITCHES_REGISTER,
            values: vec![self.bits],
        })
    }
}

fn u32_words(v: u32) -> [u16; 2] {
    [(v >> 16) as u16, v as u16]
}

/// A whole reply frame, checked against the request it answers, stored into `img`.
pub fn apply_reply_frame(
    img: &mut BlockImage,
    request: &Request,
    frame: &[u8],
) -> Result<(), JkPbError> {
    let reply = Response::decode(frame)?;
    img.apply_reply(request, &reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_live() -> LiveData {
        LiveData {
            cell_voltages_mv: vec![3300, 3301, 3299, 3302],
            cell_presence_mask: 0x0F,
            cell_average_mv: 3300,
            cell_delta_mv: 3,
            max_cell: 3,
            min_cell: 2,
            mos_temperature_c: 25.3,
            pack_voltage_v: 13.202,
            power_w: 66.01,
            current_a: -5.0,
            temperatures_c: vec![21.5, -3.2],
            alarm_bits: (1 << 4) | (1 << 13),
            balance_current_a: 0.0,
            balance_state: 0,
            soc_pct: 87,
            remaining_ah: 87.0,
            full_charge_ah: 100.0,
            cycles: 12,
            cycle_capacity_ah: 1200.5,
            soh_pct: 100,
            precharge: false,
            run_time_s: 3600,
            charge_fet: true,
            discharge_fet: true,
            heating: Some(false),
        }
    }

    pub(crate) fn sample_settings() -> Settings {
        Settings {
            smart_sleep_mv: 3300,
            cell_uvp_mv: 2600,
            cell_uvp_release_mv: 2800,
            cell_ovp_mv: 3650,
            cell_ovp_release_mv: 3500,
            balance_trigger_delta_mv: 10,
            soc_100_mv: 3450,
            soc_0_mv: 3000,
            cell_charge_mv: 3450,
            cell_float_mv: 3375,
            power_off_mv: 2500,
            charge_overcurrent_ma: 100_000,
            charge_overcurrent_delay_s: 30,
            charge_overcurrent_release_s: 60,
            discharge_overcurrent_ma: 150_000,
            discharge_overcurrent_delay_s: 300,
            discharge_overcurrent_release_s: 60,
            short_circuit_release_s: 5,
            max_balance_current_ma: 2000,
            charge_overtemp_dc: 700,
            charge_overtemp_release_dc: 600,
            discharge_overtemp_dc: 700,
            discharge_overtemp_release_dc: 600,
            charge_undertemp_dc: 0,
            charge_undertemp_release_dc: 50,
            mos_overtemp_dc: 1000,
            mos_overtemp_release_dc: 800,
            cell_count: 16,
            charge_enable: 1,
            discharge_enable: 1,
            balance_enable: 1,
            design_capacity_mah: 280_000,
            short_circuit_delay_us: 1500,
            balance_start_mv: 3400,
            device_address: 1,
            precharge_time_s: 5,
        }
    }

    #[test]
    fn address_zero_is_refused_as_bus_master() {
        assert_eq!(read_request(0, 0x1200, 2), Err(JkPbError::MasterAddress));
        assert!(read_request(0, 0x1200, 2)
            .unwrap_err()
            .to_string()
            .contains("bus master"));
        assert_eq!(
            read_request(16, 0x1200, 2),
            Err(JkPbError::AddressRange { address: 16 })
        );
        let mut s = sample_settings();
        s.device_address = 0;
        assert_eq!(
            s.writes(1, &sample_settings()),
            Err(JkPbError::MasterAddress)
        );
    }

    #[test]
    fn frame_triggers_are_one_register_writes() {
        let f = FrameTrigger::LiveData.request(1).unwrap().encode().unwrap();
        assert_eq!(
            &f[..9],
            &[0x01, 0x10, 0x16, 0x20, 0x00, 0x01, 0x02, 0x00, 0x00]
        );
        assert_eq!(
            FrameTrigger::Settings.request(0),
            Err(JkPbError::MasterAddress)
        );
    }

    #[test]
    fn odd_offsets_and_big_reads_are_refused() {
        assert_eq!(
            read_request(1, 0x1201, 2),
            Err(JkPbError::OddOffset { register: 0x1201 })
        );
        assert!(matches!(
            read_request(1, 0x1200, 121),
            Err(JkPbError::TooManyRegisters { .. })
        ));
    }

    #[test]
    fn read_plan_splits_a_block_into_allowed_reads() {
        let plan = read_plan(1, LIVE_BLOCK, LIVE_LEN).unwrap();
        assert_eq!(
            plan,
            vec![
                Request::ReadHolding {
                    address: 1,
                    start: 0x1200,
                    count: 100
                },
                Request::ReadHolding {
                    address: 1,
                    start: 0x12C8,
                    count: 27
                },
            ]
        );
    }

    #[test]
    fn read_plan_refuses_to_run_past_the_address_space() {
        assert!(read_plan(1, 0xFF00, 0x1000).is_err());
    }

    #[test]
    fn pack_voltage_read_is_the_published_frame() {
        // 0x1290, 2 registers, slave 1, as logged in syssi/esphome-jk-bms issue 390.
        let f = read_request(1, 0x1290, 2).unwrap().encode().unwrap();
        assert_eq!(f, [0x01, 0x03, 0x12, 0x90, 0x00, 0x02, 0xC1, 0x5E]);
    }

    #[test]
    fn live_data_round_trips_through_split_reads() {
        let live = sample_live();
        let board = live.encode();
        let mut img = BlockImage::new(LIVE_BLOCK, LIVE_LEN);
        for req in read_plan(1, LIVE_BLOCK, LIVE_LEN).unwrap() {
            let Request::ReadHolding { start, count, .. } = req else {
                panic!()
            };
            let reply = Response::ReadHolding {
                address: 1,
                data: board.read(start, count).unwrap(),
            }
            .encode()
            .unwrap();
            apply_reply_frame(&mut img, &req, &reply).unwrap();
        }
        let back = LiveData::decode(&img).unwrap();
        assert_eq!(back, live);
        let snap = back.snapshot();
        assert_eq!(snap.cell_count, 4);
        assert_eq!(snap.current_a, -5.0);
        assert_eq!(
            snap.protection,
            vec!["cell_overvoltage", "discharge_overcurrent"]
        );
    }

    #[test]
    fn partial_image_names_what_is_missing() {
        let mut img = BlockImage::new(LIVE_BLOCK, LIVE_LEN);
        img.apply_read(0x1200, &[0; 100]).unwrap();
        let err = LiveData::decode(&img).unwrap_err().to_string();
        assert!(err.contains("not read yet"), "{err}");
    }

    #[test]
    fn exception_reply_is_a_typed_error() {
        let req = read_request(1, 0x1200, 2).unwrap();
        let reply = crate::modbus::with_crc(vec![0x01, 0x83, 0x02]);
        let mut img = BlockImage::new(LIVE_BLOCK, LIVE_LEN);
        assert_eq!(
            apply_reply_frame(&mut img, &req, &reply),
            Err(JkPbError::Exception(
                crate::modbus::ExceptionCode::IllegalDataAddress
            ))
        );
    }

    #[test]
    fn settings_write_then_read_back_verifies() {
        let old = sample_settings();
        let mut new = old.clone();
        new.cell_ovp_mv = 3600;
        new.charge_undertemp_dc = -50;
        let writes = new.writes(1, &old).unwrap();
        assert_eq!(writes.len(), 2);
        assert_eq!(
            writes[0].encode().unwrap()[..11],
            [0x01, 0x10, 0x10, 0x0C, 0x00, 0x02, 0x04, 0x00, 0x00, 0x0E, 0x10]
        );
        // A board applying the writes, then read back.
        let mut board = old.encode();
        for w in &writes {
            let Request::WriteMultiple { start, values, .. } = w else {
                panic!()
            };
            board.write(*start, values).unwrap();
        }
        let back = Settings::decode(&board).unwrap();
        assert_eq!(back.charge_undertemp_dc, -50);
        assert!(new.verify(&back).is_empty());
        let diff = old.verify(&back);
        assert_eq!(diff.len(), 2);
        assert_eq!(diff[0].name, "cell_ovp_mv");
        assert_eq!(diff[0].register, 0x100C);
    }

    #[test]
    fn switches_write_and_read_back() {
        let s = Switches::default()
            .with("charging_float_mode", true)
            .unwrap()
            .with("heating", true)
            .unwrap();
        assert_eq!(s.bits, 0x0201);
        let Request::WriteMultiple { start, values, .. } = s.request(1).unwrap() else {
            panic!()
        };
        assert_eq!(start, 0x1114);
        let mut board = sample_settings().encode();
        board.write(start, &values).unwrap();
        let back = Switches::decode(&board).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.on(), vec!["heating", "charging_float_mode"]);
        assert_eq!(back.get("gps_heartbeat"), Some(false));
        assert!(s.with("no_such_switch", true).is_none());
        // The typed settings do not touch the switch word.
        assert_eq!(Settings::decode(&board).unwrap(), sample_settings());
    }

    #[test]
    fn documented_settings_addresses() {
        let at = |n: &str| {
            SETTING_FIELDS
                .iter()
                .find(|f| f.name == n)
                .unwrap()
                .register()
        };
        assert_eq!(at("cell_uvp_mv"), 0x1004);
        assert_eq!(at("cell_ovp_release_mv"), 0x1010);
        assert_eq!(at("cell_count"), 0x106C);
        assert_eq!(at("charge_enable"), 0x1070);
        assert_eq!(at("discharge_enable"), 0x1074);
        assert_eq!(at("balance_enable"), 0x1078);
        assert_eq!(at("design_capacity_mah"), 0x107C);
    }

    #[test]
    fn device_info_round_trips() {
        let info = DeviceInfo {
            model: "BK-BLE-1.0".into(),
            hardware_version: "15A".into(),
            software_version: "15.38".into(),
            run_time_s: 100,
            power_on_count: 7,
            device_name: Some("JK_PB2A16S20P".into()),
            manufacture_date: Some("240318".into()),
            serial_number: Some("4060751185".into()),
            uart1_protocol: Some(1),
            can_protocol: Some(2),
            uart2_protocol: Some(0),
        };
        let img = info.encode();
        assert_eq!(DeviceInfo::decode(&img).unwrap(), info);
        let mut short = BlockImage::new(INFO_BLOCK, INFO_LEN);
        short.apply_read(0x1400, &img.bytes()[..40]).unwrap();
        let d = DeviceInfo::decode(&short).unwrap();
        assert_eq!(d.software_version, "15.38");
        assert_eq!(d.serial_number, None);
    }
}
