//! Daly "Smart BMS" UART/RS485 protocol: fixed 13-byte frames in both directions,
//! `A5 <address> <data id> 08 <8 data bytes> <checksum>`, checksum = low byte of the sum of
//! bytes 0–11 [Daly V1.2 doc].
//!
//! Addressing: the host sends from 0x40 (RS485/USB, "board 1") or 0x80 (UART/BLE); on a
//! multi-drop RS485 bus board *n* is addressed as `0x3F + n` and answers with address *n*
//! [mr-manuel `daly.py`; capture `daly_board2_req`/`daly_board2_resp`].
//!
//! Multi-byte values are big-endian. Reserved bytes carry garbage on real boards and are never
//! required to be zero. The current's sign depends on the firmware ([`CurrentSign`]).

use crate::snapshot::Protection;
use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::framing::{check_whole_frame, FrameError, FrameFormat, StreamFramer};

pub const START: u8 = 0xA5;
pub const FRAME_LEN: usize = 13;
pub const DATA_LEN: u8 = 8;
/// Host address for RS485/USB adapters, which is also board 1 on a multi-drop bus.
pub const HOST_RS485: u8 = 0x40;
/// Host address for UART / Bluetooth.
pub const HOST_UART: u8 = 0x80;
/// Offset of the current field of 0x90 (0.1 A steps).
pub const CURRENT_OFFSET: u16 = 30000;
/// Offset of every temperature byte (°C).
pub const TEMP_OFFSET: i16 = 40;

/// Data IDs.
pub mod id {
    pub const RESTART: u8 = 0x00;
    pub const SET_SOC: u8 = 0x21;
    pub const RATED: u8 = 0x50;
    pub const BATTERY_INFO: u8 = 0x53;
    pub const BATTERY_CODE: u8 = 0x57;
    pub const VERSION_62: u8 = 0x62;
    pub const VERSION_63: u8 = 0x63;
    pub const SOC: u8 = 0x90;
    pub const CELL_RANGE: u8 = 0x91;
    pub const TEMP_RANGE: u8 = 0x92;
    pub const MOS: u8 = 0x93;
    pub const STATUS: u8 = 0x94;
    pub const CELL_VOLTAGES: u8 = 0x95;
    pub const TEMPERATURES: u8 = 0x96;
    pub const BALANCE: u8 = 0x97;
    pub const FAILURES: u8 = 0x98;
    pub const DISCHARGE_MOS: u8 = 0xD9;
    pub const CHARGE_MOS: u8 = 0xDA;
}

pub fn data_id_name(data_id: u8) -> &'static str {
    match data_id {
        id::RESTART => "restart",
        id::SET_SOC => "set_soc",
        id::RATED => "rated_parameters",
        id::BATTERY_INFO => "battery_info",
        id::BATTERY_CODE => "battery_code",
        id::VERSION_62 => "version_62",
        id::VERSION_63 => "version_63",
        id::SOC => "soc",
        id::CELL_RANGE => "cell_range",
        id::TEMP_RANGE => "temperature_range",
        id::MOS => "mos",
        id::STATUS => "status",
        id::CELL_VOLTAGES => "cell_voltages",
        id::TEMPERATURES => "temperatures",
        id::BALANCE => "balance",
        id::FAILURES => "failures",
        id::DISCHARGE_MOS => "discharge_mos",
        id::CHARGE_MOS => "charge_mos",
        _ => "unknown",
    }
}

/// Low byte of the sum of the first 12 bytes.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Errors decoding a frame or interpreting its data.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("data id 0x{found:02X} where 0x{expected:02X} ({}) was expected", data_id_name(*.expected))]
    WrongId { expected: u8, found: u8 },
    #[error("frame number {frame_no} of data id 0x{data_id:02X} is outside 1..={max}")]
    FrameNumber { data_id: u8, frame_no: u8, max: u8 },
    #[error("board address 0x{address:02X} answered, expected 0x{expected:02X}")]
    WrongAddress { expected: u8, address: u8 },
    #[error("{what}: {reason}")]
    BadValue { what: &'static str, reason: String },
}

/// Errors building a request.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EncodeError {
    #[error("board number {board} is outside 1..=63 (host addresses 0x40..=0x7E)")]
    BoardNumber { board: u8 },
    #[error("SOC {soc_pct} % is outside 0..=100")]
    Soc { soc_pct: f64 },
    #[error("date/time {0} cannot be sent (year 2000-2255, valid month/day/hour/minute/second)")]
    DateTime(String),
}

/// [`FrameFormat`] for Daly: fixed length, length byte 8, one-byte checksum.
#[derive(Debug, Clone, Copy, Default)]
pub struct DalyFormat;

impl FrameFormat for DalyFormat {
    const START: u8 = START;
    const HEADER_LEN: usize = 4;
    const OVERHEAD: usize = 5;

    fn frame_len(&self, header: &[u8]) -> Result<usize, FrameError> {
        if header[3] != DATA_LEN {
            return Err(FrameError::DalyLength { found: header[3] });
        }
        Ok(FRAME_LEN)
    }

    fn verify(&self, frame: &[u8]) -> Result<(), FrameError> {
        let computed = checksum(&frame[..12]);
        if frame[12] != computed {
            return Err(FrameError::Checksum8 {
                stated: frame[12],
                computed,
            });
        }
        Ok(())
    }
}

pub type Framer = StreamFramer<DalyFormat>;

pub fn framer() -> Framer {
    StreamFramer::new(DalyFormat)
}

/// One 13-byte frame, either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub address: u8,
    pub data_id: u8,
    pub data: [u8; 8],
}

impl Frame {
    /// A read request: zero data bytes, as the captures show.
    pub fn request(address: u8, data_id: u8) -> Frame {
        Frame {
            address,
            data_id,
            data: [0; 8],
        }
    }

    pub fn encode(&self) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[..4].copy_from_slice(&[START, self.address, self.data_id, DATA_LEN]);
        f[4..12].copy_from_slice(&self.data);
        f[12] = checksum(&f[..12]);
        f
    }

    /// Decode exactly one whole frame.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        check_whole_frame(&DalyFormat, bytes)?;
        Ok(Frame::from_verified(bytes))
    }

    /// Split a frame already verified to be 13 bytes.
    fn from_verified(bytes: &[u8]) -> Frame {
        let mut data = [0u8; 8];
        data.copy_from_slice(&bytes[4..12]);
        Frame {
            address: bytes[1],
            data_id: bytes[2],
            data,
        }
    }

    pub fn expect_id(&self, expected: u8) -> Result<&[u8; 8], DecodeError> {
        if self.data_id != expected {
            return Err(DecodeError::WrongId {
                expected,
                found: self.data_id,
            });
        }
        Ok(&self.data)
    }
}

/// Host address for board `board` (1-based) on a multi-drop RS485 bus. Board 64 would answer
/// with 0x40, the host's own address, so the bus stops at 63.
pub fn board_address(board: u8) -> Result<u8, EncodeError> {
    if !(1..=63).contains(&board) {
        return Err(EncodeError::BoardNumber { board });
    }
    Ok(HOST_RS485 + board - 1)
}

/// The address a board puts in its reply to a request sent to `request_address`.
pub fn reply_address(request_address: u8) -> u8 {
    match request_address {
        0x40..=0x7E => request_address - 0x3F,
        _ => 0x01,
    }
}

/// Whether an address byte is a host's (0x20 GPRS, 0x40–0x7E RS485 boards, 0x80 UART) rather
/// than a replying board's (0x01–0x3F).
pub fn is_request_address(address: u8) -> bool {
    matches!(address, 0x20 | 0x40..=0x7E | 0x80)
}

fn be16(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}

/// Which way the current's raw value points: firmware disagree [dbus-serialbattery #65, #1075].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrentSign {
    /// raw > 30000 means discharging (python-daly-bms, dbus-serialbattery, the mpp-solar #83
    /// captures where raw > 30000 came with state 2 "discharging").
    #[default]
    AboveOffsetDischarges,
    /// raw > 30000 means charging (firmware reported inverted by users).
    AboveOffsetCharges,
}

impl CurrentSign {
    /// Infer the convention from a 0x90 current and the 0x93 state sent at the same moment.
    pub fn infer(soc: &Soc, state: ChargeState) -> Option<CurrentSign> {
        let above = soc.current_raw > CURRENT_OFFSET;
        let below = soc.current_raw < CURRENT_OFFSET;
        match state {
            ChargeState::Discharging if above => Some(CurrentSign::AboveOffsetDischarges),
            ChargeState::Discharging if below => Some(CurrentSign::AboveOffsetCharges),
            ChargeState::Charging if above => Some(CurrentSign::AboveOffsetCharges),
            ChargeState::Charging if below => Some(CurrentSign::AboveOffsetDischarges),
            _ => None,
        }
    }
}

/// 0x90: pack voltage, current, SOC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Soc {
    pub total_dv: u16,
    pub gather_dv: u16,
    pub current_raw: u16,
    pub soc_permille: u16,
}

impl Soc {
    pub fn decode(d: &[u8; 8]) -> Soc {
        Soc {
            total_dv: be16(d, 0),
            gather_dv: be16(d, 2),
            current_raw: be16(d, 4),
            soc_permille: be16(d, 6),
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        words([
            self.total_dv,
            self.gather_dv,
            self.current_raw,
            self.soc_permille,
        ])
    }

    pub fn total_v(&self) -> f64 {
        f64::from(self.total_dv) / 10.0
    }

    pub fn gather_v(&self) -> f64 {
        f64::from(self.gather_dv) / 10.0
    }

    /// (raw − 30000) × 0.1 A with no sign convention applied.
    pub fn current_raw_minus_offset_a(&self) -> f64 {
        f64::from(i32::from(self.current_raw) - i32::from(CURRENT_OFFSET)) / 10.0
    }

    /// Current with Packwright's convention: positive while charging.
    pub fn current_a(&self, sign: CurrentSign) -> f64 {
        let a = self.current_raw_minus_offset_a();
        match sign {
            CurrentSign::AboveOffsetDischarges => -a,
            CurrentSign::AboveOffsetCharges => a,
        }
    }

    /// Raw field for a charging-positive current, as a board with `sign` would send it.
    pub fn raw_current(current_a: f64, sign: CurrentSign) -> u16 {
        let a = match sign {
            CurrentSign::AboveOffsetDischarges => -current_a,
            CurrentSign::AboveOffsetCharges => current_a,
        };
        (f64::from(CURRENT_OFFSET) + a * 10.0)
            .round()
            .clamp(0.0, 65535.0) as u16
    }

    pub fn soc_pct(&self) -> f64 {
        f64::from(self.soc_permille) / 10.0
    }
}

fn words(w: [u16; 4]) -> [u8; 8] {
    let mut d = [0u8; 8];
    for (i, v) in w.iter().enumerate() {
        d[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
    }
    d
}

/// 0x91: highest and lowest cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CellRange {
    pub max_mv: u16,
    pub max_cell: u8,
    pub min_mv: u16,
    pub min_cell: u8,
}

impl CellRange {
    pub fn decode(d: &[u8; 8]) -> CellRange {
        CellRange {
            max_mv: be16(d, 0),
            max_cell: d[2],
            min_mv: be16(d, 3),
            min_cell: d[5],
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let [a, b] = self.max_mv.to_be_bytes();
        let [c, e] = self.min_mv.to_be_bytes();
        [a, b, self.max_cell, c, e, self.min_cell, 0, 0]
    }
}

/// 0x92: highest and lowest temperature, °C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TempRange {
    pub max_c: i16,
    pub max_sensor: u8,
    pub min_c: i16,
    pub min_sensor: u8,
}

impl TempRange {
    pub fn decode(d: &[u8; 8]) -> TempRange {
        TempRange {
            max_c: temp_c(d[0]),
            max_sensor: d[1],
            min_c: temp_c(d[2]),
            min_sensor: d[3],
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        [
            temp_byte(self.max_c),
            self.max_sensor,
            temp_byte(self.min_c),
            self.min_sensor,
            0,
            0,
            0,
            0,
        ]
    }
}

pub fn temp_c(b: u8) -> i16 {
    i16::from(b) - TEMP_OFFSET
}

/// Nearest byte for a temperature, saturating at −40 °C and 215 °C.
pub fn temp_byte(c: i16) -> u8 {
    (c + TEMP_OFFSET).clamp(0, 255) as u8
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeState {
    #[default]
    Stationary,
    Charging,
    Discharging,
    Other(u8),
}

impl ChargeState {
    pub fn from_byte(b: u8) -> ChargeState {
        match b {
            0 => ChargeState::Stationary,
            1 => ChargeState::Charging,
            2 => ChargeState::Discharging,
            n => ChargeState::Other(n),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ChargeState::Stationary => 0,
            ChargeState::Charging => 1,
            ChargeState::Discharging => 2,
            ChargeState::Other(n) => n,
        }
    }
}

/// 0x93: charge state, MOSFETs, remaining capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MosStatus {
    pub state: ChargeState,
    pub charge_mos: bool,
    pub discharge_mos: bool,
    pub bms_life: u8,
    pub remaining_mah: u32,
}

impl MosStatus {
    pub fn decode(d: &[u8; 8]) -> MosStatus {
        MosStatus {
            state: ChargeState::from_byte(d[0]),
            charge_mos: d[1] != 0,
            discharge_mos: d[2] != 0,
            bms_life: d[3],
            remaining_mah: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let [a, b, c, e] = self.remaining_mah.to_be_bytes();
        [
            self.state.byte(),
            u8::from(self.charge_mos),
            u8::from(self.discharge_mos),
            self.bms_life,
            a,
            b,
            c,
            e,
        ]
    }
}

/// 0x94: cell and sensor counts, charger/load, digital I/O, cycles (b5–6 per V1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Status {
    pub cell_count: u8,
    pub temp_sensor_count: u8,
    pub charger: bool,
    pub load: bool,
    pub dio: u8,
    pub cycles: u16,
}

impl Status {
    pub fn decode(d: &[u8; 8]) -> Status {
        Status {
            cell_count: d[0],
            temp_sensor_count: d[1],
            charger: d[2] != 0,
            load: d[3] != 0,
            dio: d[4],
            cycles: be16(d, 5),
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let [c0, c1] = self.cycles.to_be_bytes();
        [
            self.cell_count,
            self.temp_sensor_count,
            u8::from(self.charger),
            u8::from(self.load),
            self.dio,
            c0,
            c1,
            0,
        ]
    }
}

/// Multi-frame replies (0x95 cells, 0x96 temperatures, 0x57/0x62/0x63 text) carry a frame
/// number (from 1 in practice, though the doc says 0) and `N` values each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiFrame<T, const N: usize> {
    pub frame_no: u8,
    pub values: [T; N],
}

/// Three cell voltages, mV.
pub type CellFrame = MultiFrame<u16, 3>;
/// Seven temperatures, raw bytes (+40 offset).
pub type TempFrame = MultiFrame<u8, 7>;
/// Seven ASCII characters.
pub type TextFrame = MultiFrame<u8, 7>;

/// Most 0x95 frames a board sends (48 cells).
pub const MAX_CELL_FRAMES: u8 = 16;
/// Most 0x96 frames (21 sensors).
pub const MAX_TEMP_FRAMES: u8 = 3;

impl CellFrame {
    pub fn decode(d: &[u8; 8]) -> CellFrame {
        MultiFrame {
            frame_no: d[0],
            values: [be16(d, 1), be16(d, 3), be16(d, 5)],
        }
    }

    /// Byte 7 is reserved; real boards send garbage there, we send 0.
    pub fn encode(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        d[0] = self.frame_no;
        for (i, v) in self.values.iter().enumerate() {
            d[1 + 2 * i..3 + 2 * i].copy_from_slice(&v.to_be_bytes());
        }
        d
    }
}

impl MultiFrame<u8, 7> {
    pub fn decode(d: &[u8; 8]) -> MultiFrame<u8, 7> {
        let mut values = [0u8; 7];
        values.copy_from_slice(&d[1..]);
        MultiFrame {
            frame_no: d[0],
            values,
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        d[0] = self.frame_no;
        d[1..].copy_from_slice(&self.values);
        d
    }
}

/// Collects numbered frames until the ones covering `count` values have arrived. Frames may
/// arrive in any order, more frames than needed may arrive (boards that always send all 16),
/// and a repeated frame number replaces the earlier copy.
#[derive(Debug, Clone)]
pub struct Assembler<T, const N: usize> {
    data_id: u8,
    max_frames: u8,
    frames: BTreeMap<u8, [T; N]>,
}

impl<T: Copy + Default, const N: usize> Assembler<T, N> {
    pub fn new(data_id: u8, max_frames: u8) -> Self {
        Assembler {
            data_id,
            max_frames,
            frames: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, frame: MultiFrame<T, N>) -> Result<(), DecodeError> {
        if !(1..=self.max_frames).contains(&frame.frame_no) {
            return Err(DecodeError::FrameNumber {
                data_id: self.data_id,
                frame_no: frame.frame_no,
                max: self.max_frames,
            });
        }
        self.frames.insert(frame.frame_no, frame.values);
        Ok(())
    }

    /// Frames needed for `count` values.
    pub fn frames_needed(count: usize) -> usize {
        count.div_ceil(N)
    }

    pub fn is_complete(&self, count: usize) -> bool {
        (1..=Self::frames_needed(count))
            .all(|n| u8::try_from(n).is_ok_and(|n| self.frames.contains_key(&n)))
    }

    /// The first `count` values in order, once complete.
    pub fn values(&self, count: usize) -> Option<Vec<T>> {
        if !self.is_complete(count) {
            return None;
        }
        Some(
            self.frames
                .values()
                .flat_map(|v| v.iter().copied())
                .take(count)
                .collect(),
        )
    }
}

/// Split values into numbered frames (1-based), padding the last with `T::default()`.
pub fn split_frames<T: Copy + Default, const N: usize>(values: &[T]) -> Vec<MultiFrame<T, N>> {
    values
        .chunks(N)
        .enumerate()
        .map(|(i, chunk)| {
            let mut v = [T::default(); N];
            v[..chunk.len()].copy_from_slice(chunk);
            MultiFrame {
                frame_no: (i + 1).min(255) as u8,
                values: v,
            }
        })
        .collect()
}

/// 0x97: balancing bits, bit0 = cell 1 … bit47 = cell 48.
pub fn decode_balance(d: &[u8; 8]) -> Vec<usize> {
    // Byte 0 holds cells 1–8 (bit0 = cell 1), following the doc's bit numbering.
    (0..48)
        .filter(|&b| d[b / 8] & (1 << (b % 8)) != 0)
        .map(|b| b + 1)
        .collect()
}

pub fn encode_balance(cells: &[usize]) -> [u8; 8] {
    let mut d = [0u8; 8];
    for &c in cells.iter().filter(|&&c| (1..=48).contains(&c)) {
        d[(c - 1) / 8] |= 1 << ((c - 1) % 8);
    }
    d
}

/// 0x98 failure flags, bytes 0–6 (bit 0 first), from the Daly V1.2 doc.
pub const FAILURE_NAMES: [[&str; 8]; 7] = [
    [
        "cell_overvoltage_l1",
        "cell_overvoltage_l2",
        "cell_undervoltage_l1",
        "cell_undervoltage_l2",
        "pack_overvoltage_l1",
        "pack_overvoltage_l2",
        "pack_undervoltage_l1",
        "pack_undervoltage_l2",
    ],
    [
        "charge_overtemperature_l1",
        "charge_overtemperature_l2",
        "charge_undertemperature_l1",
        "charge_undertemperature_l2",
        "discharge_overtemperature_l1",
        "discharge_overtemperature_l2",
        "discharge_undertemperature_l1",
        "discharge_undertemperature_l2",
    ],
    [
        "charge_overcurrent_l1",
        "charge_overcurrent_l2",
        "discharge_overcurrent_l1",
        "discharge_overcurrent_l2",
        "soc_high_l1",
        "soc_high_l2",
        "soc_low_l1",
        "soc_low_l2",
    ],
    [
        "cell_voltage_difference_l1",
        "cell_voltage_difference_l2",
        "temperature_difference_l1",
        "temperature_difference_l2",
        "reserved_3_4",
        "reserved_3_5",
        "reserved_3_6",
        "reserved_3_7",
    ],
    [
        "charge_mos_overtemperature",
        "discharge_mos_overtemperature",
        "charge_mos_sensor_error",
        "discharge_mos_sensor_error",
        "charge_mos_adhesion",
        "discharge_mos_adhesion",
        "charge_mos_open_circuit",
        "discharge_mos_open_circuit",
    ],
    [
        "afe_error",
        "cell_voltage_acquisition_dropped",
        "cell_temperature_sensor_error",
        "eeprom_error",
        "rtc_error",
        "precharge_failure",
        "communication_failure",
        "internal_communication_failure",
    ],
    [
        "current_module_fault",
        "pack_voltage_detection_fault",
        "short_circuit_protection_fault",
        "low_voltage_charge_forbidden",
        "reserved_6_4",
        "reserved_6_5",
        "reserved_6_6",
        "reserved_6_7",
    ],
];

/// 0x98: failure bits and fault code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub bits: [u8; 7],
    pub fault_code: u8,
}

impl Failures {
    pub fn decode(d: &[u8; 8]) -> Failures {
        let mut bits = [0u8; 7];
        bits.copy_from_slice(&d[..7]);
        Failures {
            bits,
            fault_code: d[7],
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        d[..7].copy_from_slice(&self.bits);
        d[7] = self.fault_code;
        d
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (byte, names) in self.bits.iter().zip(FAILURE_NAMES.iter()) {
            for (bit, name) in names.iter().enumerate() {
                if byte & (1 << bit) != 0 {
                    out.push(*name);
                }
            }
        }
        out
    }

    /// Set a flag by name; false if no flag has that name.
    pub fn set(&mut self, name: &str) -> bool {
        for (byte, names) in self.bits.iter_mut().zip(FAILURE_NAMES.iter()) {
            if let Some(bit) = names.iter().position(|n| *n == name) {
                *byte |= 1 << bit;
                return true;
            }
        }
        false
    }
}

/// 0x50: rated capacity (u32 mAh) and nominal cell voltage (u32, mV) [mr-manuel `read_capacity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Rated {
    pub capacity_mah: u32,
    pub cell_mv: u32,
}

impl Rated {
    pub fn decode(d: &[u8; 8]) -> Rated {
        Rated {
            capacity_mah: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
            cell_mv: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        d[..4].copy_from_slice(&self.capacity_mah.to_be_bytes());
        d[4..].copy_from_slice(&self.cell_mv.to_be_bytes());
        d
    }
}

/// 0x53: production date at bytes 2–4 = yy, mm, dd [mr-manuel `read_production_date`].
pub fn decode_production_date(d: &[u8; 8]) -> Option<String> {
    let (y, m, day) = (d[2], d[3], d[4]);
    ((1..=12).contains(&m) && (1..=31).contains(&day))
        .then(|| format!("{:04}-{:02}-{:02}", 2000 + u16::from(y), m, day))
}

pub fn encode_production_date(year: u16, month: u8, day: u8) -> [u8; 8] {
    let yy = year.saturating_sub(2000).min(255) as u8;
    [0, 0, yy, month, day, 0, 0, 0]
}

/// Local calendar time sent with a SOC write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// 0x21 request data: yy−2000, mm, dd, hh, mi, ss, SOC×10 (u16) [mr-manuel
/// `write_soc_and_datetime`]. python-daly-bms sends six zero bytes instead of the time.
pub fn set_soc_request(
    address: u8,
    soc_pct: f64,
    time: Option<DateTime>,
) -> Result<Frame, EncodeError> {
    if !(0.0..=100.0).contains(&soc_pct) {
        return Err(EncodeError::Soc { soc_pct });
    }
    let mut data = [0u8; 8];
    if let Some(t) = time {
        let valid = (2000..=2255).contains(&t.year)
            && (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60;
        if !valid {
            return Err(EncodeError::DateTime(format!("{t:?}")));
        }
        data[..6].copy_from_slice(&[
            (t.year - 2000) as u8,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
        ]);
    }
    let permille = (soc_pct * 10.0).round() as u16;
    data[6..].copy_from_slice(&permille.to_be_bytes());
    Ok(Frame {
        address,
        data_id: id::SET_SOC,
        data,
    })
}

/// SOC (%) carried by a 0x21 request, as the simulator reads it.
pub fn soc_of_set_request(d: &[u8; 8]) -> f64 {
    f64::from(be16(d, 6)) / 10.0
}

/// 0xD9 (discharge) / 0xDA (charge) MOS write: data byte 0 = 1 switches on, 0 off.
pub fn mos_request(address: u8, charge: bool, on: bool) -> Frame {
    let data_id = if charge {
        id::CHARGE_MOS
    } else {
        id::DISCHARGE_MOS
    };
    let mut data = [0u8; 8];
    data[0] = u8::from(on);
    Frame {
        address,
        data_id,
        data,
    }
}

/// A SOC write succeeded when the reply's byte 0 is 1; a MOS write when it echoes the state.
pub fn write_acknowledged(request: &Frame, reply: &Frame) -> bool {
    if reply.data_id != request.data_id {
        return false;
    }
    match request.data_id {
        id::SET_SOC => reply.data[0] == 1,
        _ => reply.data[0] == request.data[0],
    }
}

/// Everything a full read gathers, before conversion to [`crate::BmsSnapshot`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub soc: Soc,
    pub mos: Option<MosStatus>,
    pub status: Option<Status>,
    pub cells_mv: Vec<u16>,
    /// Raw temperature bytes (+40 offset).
    pub temps_raw: Vec<u8>,
    pub balancing_cells: Vec<usize>,
    pub failures: Option<Failures>,
    pub rated: Option<Rated>,
    pub manufacture_date: Option<String>,
    pub model: Option<String>,
}

impl Reading {
    pub fn snapshot(&self, sign: CurrentSign) -> crate::BmsSnapshot {
        crate::BmsSnapshot {
            pack_voltage_v: self.soc.total_v(),
            current_a: self.soc.current_a(sign),
            remaining_ah: self.mos.map(|m| f64::from(m.remaining_mah) / 1000.0),
            nominal_ah: self.rated.map(|r| f64::from(r.capacity_mah) / 1000.0),
            cycles: self.status.map(|s| u32::from(s.cycles)),
            soc_pct: Some(self.soc.soc_pct()),
            cell_count: self
                .status
                .map_or(self.cells_mv.len(), |s| usize::from(s.cell_count)),
            cell_voltages_mv: self.cells_mv.iter().map(|&v| u32::from(v)).collect(),
            temperatures_c: self
                .temps_raw
                .iter()
                .map(|&b| f64::from(temp_c(b)))
                .collect(),
            protection: self
                .failures
                .map(|f| f.names().into_iter().map(Protection::from).collect())
                .unwrap_or_default(),
            charge_fet: self.mos.map(|m| m.charge_mos),
            discharge_fet: self.mos.map(|m| m.discharge_mos),
            balancing_cells: self.balancing_cells.clone(),
            manufacture_date: self.manufacture_date.clone(),
            model: self.model.clone(),
            firmware_version: None,
        }
    }
}

/// ASCII of text frames, trimmed of NUL/space padding.
pub fn text_of(values: &[u8]) -> String {
    let s: String = values
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                ' '
            }
        })
        .collect();
    s.trim().to_string()
}

/// A decoded frame as printed by `packwright bms decode --protocol daly`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoded {
    /// `request` (host address) or `reply` (board address).
    pub direction: &'static str,
    pub address: String,
    pub data_id: String,
    pub name: &'static str,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Decode one whole frame for display. Requests are told from replies by the address byte
/// (host addresses 0x20, 0x40–0x80); a read request's data bytes are shown only when nonzero.
pub fn describe(bytes: &[u8], sign: CurrentSign) -> Result<Decoded, DecodeError> {
    use serde_json::{json, Value};
    let f = Frame::decode(bytes)?;
    let d = &f.data;
    let request = is_request_address(f.address);
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    match (request, f.data_id) {
        (true, id::SET_SOC) => put("soc_pct", json!(soc_of_set_request(d))),
        (true, id::CHARGE_MOS | id::DISCHARGE_MOS) => put("on", json!(d[0] == 1)),
        (true, _) if d.iter().any(|&b| b != 0) => put("data_hex", json!(crate::framing::to_hex(d))),
        (true, _) => {}
        (false, id::SOC) => {
            let s = Soc::decode(d);
            put("pack_voltage_v", json!(s.total_v()));
            put("gather_voltage_v", json!(s.gather_v()));
            put("current_raw", json!(s.current_raw));
            put("current_a", json!(s.current_a(sign)));
            put("current_sign", json!(sign));
            put("soc_pct", json!(s.soc_pct()));
        }
        (false, id::CELL_RANGE) => put("cell_range", json!(CellRange::decode(d))),
        (false, id::TEMP_RANGE) => put("temperature_range", json!(TempRange::decode(d))),
        (false, id::MOS) => {
            let s = MosStatus::decode(d);
            put("state", json!(s.state));
            put("charge_fet", json!(s.charge_mos));
            put("discharge_fet", json!(s.discharge_mos));
            put("bms_life", json!(s.bms_life));
            put("remaining_ah", json!(f64::from(s.remaining_mah) / 1000.0));
        }
        (false, id::STATUS) => {
            let s = Status::decode(d);
            put("cell_count", json!(s.cell_count));
            put("temperature_sensor_count", json!(s.temp_sensor_count));
            put("charger", json!(s.charger));
            put("load", json!(s.load));
            put("dio_bits", json!(s.dio));
            put("cycles", json!(s.cycles));
        }
        (false, id::CELL_VOLTAGES) => {
            let c = CellFrame::decode(d);
            put("frame_no", json!(c.frame_no));
            put("cell_voltages_mv", json!(c.values));
        }
        (false, id::TEMPERATURES) => {
            let t = TempFrame::decode(d);
            put("frame_no", json!(t.frame_no));
            let temps: Vec<i16> = t.values.iter().map(|&b| temp_c(b)).collect();
            put("temperatures_c", json!(temps));
        }
        (false, id::BALANCE) => put("balancing_cells", json!(decode_balance(d))),
        (false, id::FAILURES) => {
            let fl = Failures::decode(d);
            put("protection", json!(fl.names()));
            put("fault_code", json!(fl.fault_code));
        }
        (false, id::RATED) => {
            let r = Rated::decode(d);
            put("nominal_ah", json!(f64::from(r.capacity_mah) / 1000.0));
            put("nominal_cell_mv", json!(r.cell_mv));
        }
        (false, id::BATTERY_INFO) => put("manufacture_date", json!(decode_production_date(d))),
        (false, id::BATTERY_CODE | id::VERSION_62 | id::VERSION_63) => {
            let t = TextFrame::decode(d);
            put("frame_no", json!(t.frame_no));
            put("text", json!(text_of(&t.values)));
        }
        (false, id::SET_SOC | id::CHARGE_MOS | id::DISCHARGE_MOS) => put("ok", json!(d[0] == 1)),
        (false, _) => put("data_hex", json!(crate::framing::to_hex(d))),
    }
    Ok(Decoded {
        direction: if request { "request" } else { "reply" },
        address: format!("0x{:02X}", f.address),
        data_id: format!("0x{:02X}", f.data_id),
        name: data_id_name(f.data_id),
        fields: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{parse_hex, FramerEvent, SkipReason};

    fn hex(s: &str) -> Vec<u8> {
        parse_hex(s).unwrap()
    }

    #[test]
    fn requests_encode_like_the_captures() {
        assert_eq!(
            Frame::request(HOST_RS485, id::SOC).encode().to_vec(),
            hex("A5 40 90 08 00 00 00 00 00 00 00 00 7D")
        );
        assert_eq!(
            Frame::request(board_address(2).unwrap(), id::SOC)
                .encode()
                .to_vec(),
            hex("A5 41 90 08 00 00 00 00 00 00 00 00 7E")
        );
        assert_eq!(reply_address(0x41), 0x02);
        assert_eq!(reply_address(HOST_RS485), 0x01);
        assert_eq!(reply_address(HOST_UART), 0x01);
        assert_eq!(board_address(0), Err(EncodeError::BoardNumber { board: 0 }));
        assert_eq!(
            board_address(64),
            Err(EncodeError::BoardNumber { board: 64 })
        );
        assert_eq!(board_address(63), Ok(0x7E));
    }

    #[test]
    fn damaged_frames_are_rejected_with_the_reason() {
        let good = hex("A5 01 90 08 02 10 00 00 75 6F 03 BC F3");
        let mut bad = good.clone();
        bad[12] = 0xF4;
        assert_eq!(
            Frame::decode(&bad).unwrap_err().to_string(),
            "checksum 0xF4 but frame sums to 0xF3"
        );
        assert_eq!(
            Frame::decode(&good[..11]).unwrap_err().to_string(),
            "length byte says 8 data bytes but the frame carries 6"
        );
        let mut len = good.clone();
        len[3] = 7;
        assert_eq!(
            Frame::decode(&len).unwrap_err().to_string(),
            "length byte is 7: Daly frames always carry 8 data bytes"
        );
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            Frame::decode(&long),
            Err(DecodeError::Frame(FrameError::LengthMismatch {
                declared: 8,
                actual: 9
            }))
        ));
    }

    #[test]
    fn payloads_round_trip() {
        let soc = Soc {
            total_dv: 528,
            gather_dv: 0,
            current_raw: 30063,
            soc_permille: 956,
        };
        assert_eq!(Soc::decode(&soc.encode()), soc);
        let r = CellRange {
            max_mv: 3326,
            max_cell: 2,
            min_mv: 3324,
            min_cell: 16,
        };
        assert_eq!(CellRange::decode(&r.encode()), r);
        let t = TempRange {
            max_c: 25,
            max_sensor: 1,
            min_c: -5,
            min_sensor: 2,
        };
        assert_eq!(TempRange::decode(&t.encode()), t);
        let m = MosStatus {
            state: ChargeState::Charging,
            charge_mos: true,
            discharge_mos: false,
            bms_life: 7,
            remaining_mah: 248640,
        };
        assert_eq!(MosStatus::decode(&m.encode()), m);
        let s = Status {
            cell_count: 16,
            temp_sensor_count: 2,
            charger: true,
            load: false,
            dio: 0x11,
            cycles: 300,
        };
        assert_eq!(Status::decode(&s.encode()), s);
        let rated = Rated {
            capacity_mah: 280_000,
            cell_mv: 3200,
        };
        assert_eq!(Rated::decode(&rated.encode()), rated);
        let mut f = Failures::default();
        assert!(f.set("cell_overvoltage_l2") && f.set("eeprom_error"));
        assert!(!f.set("no_such_flag"));
        assert_eq!(
            Failures::decode(&f.encode()).names(),
            vec!["cell_overvoltage_l2", "eeprom_error"]
        );
        assert_eq!(decode_balance(&encode_balance(&[1, 9, 48])), vec![1, 9, 48]);
        assert_eq!(
            decode_production_date(&encode_production_date(2024, 5, 17)).as_deref(),
            Some("2024-05-17")
        );
        assert_eq!(decode_production_date(&[0; 8]), None);
    }

    #[test]
    fn current_sign_is_explicit_and_inferable() {
        let soc = Soc {
            current_raw: 30063,
            ..Soc::default()
        };
        assert!((soc.current_a(CurrentSign::AboveOffsetDischarges) - -6.3).abs() < 1e-9);
        assert!((soc.current_a(CurrentSign::AboveOffsetCharges) - 6.3).abs() < 1e-9);
        assert_eq!(
            Soc::raw_current(-6.3, CurrentSign::AboveOffsetDischarges),
            30063
        );
        assert_eq!(
            Soc::raw_current(-6.3, CurrentSign::AboveOffsetCharges),
            29937
        );
        assert_eq!(
            CurrentSign::infer(&soc, ChargeState::Discharging),
            Some(CurrentSign::AboveOffsetDischarges)
        );
        assert_eq!(
            CurrentSign::infer(&soc, ChargeState::Charging),
            Some(CurrentSign::AboveOffsetCharges)
        );
        assert_eq!(
            CurrentSign::infer(
                &Soc {
                    current_raw: 30000,
                    ..soc
                },
                ChargeState::Charging
            ),
            None
        );
        assert_eq!(CurrentSign::infer(&soc, ChargeState::Stationary), None);
    }

    #[test]
    fn assembler_handles_order_extras_and_bad_numbers() {
        let cells: Vec<u16> = (1..=8).map(|i| 3300 + i).collect();
        let frames = split_frames::<u16, 3>(&cells);
        assert_eq!(frames.len(), 3);
        let mut a = Assembler::<u16, 3>::new(id::CELL_VOLTAGES, MAX_CELL_FRAMES);
        a.insert(frames[2]).unwrap();
        assert!(!a.is_complete(8));
        a.insert(frames[0]).unwrap();
        a.insert(frames[1]).unwrap();
        // A board that always sends all 16 frames: extras do not disturb the first 8 cells.
        a.insert(MultiFrame {
            frame_no: 16,
            values: [0; 3],
        })
        .unwrap();
        assert_eq!(a.values(8), Some(cells));
        assert_eq!(
            a.insert(MultiFrame {
                frame_no: 0,
                values: [0; 3]
            })
            .unwrap_err()
            .to_string(),
            "frame number 0 of data id 0x95 is outside 1..=16"
        );
        assert_eq!(Assembler::<u8, 7>::frames_needed(0), 0);
        assert!(Assembler::<u8, 7>::new(id::TEMPERATURES, 3).is_complete(0));
    }

    #[test]
    fn set_soc_and_mos_requests() {
        let t = DateTime {
            year: 2024,
            month: 5,
            day: 17,
            hour: 13,
            minute: 4,
            second: 59,
        };
        let f = set_soc_request(HOST_RS485, 55.5, Some(t)).unwrap();
        assert_eq!(f.data, [24, 5, 17, 13, 4, 59, 0x02, 0x2B]);
        assert_eq!(soc_of_set_request(&f.data), 55.5);
        assert!(set_soc_request(HOST_RS485, 100.5, None).is_err());
        assert!(set_soc_request(HOST_RS485, 50.0, Some(DateTime { month: 13, ..t })).is_err());
        let on = mos_request(HOST_RS485, true, true);
        assert_eq!((on.data_id, on.data[0]), (id::CHARGE_MOS, 1));
        let echo = Frame { address: 1, ..on };
        assert!(write_acknowledged(&on, &echo));
        let off = mos_request(HOST_RS485, false, false);
        assert!(!write_acknowledged(
            &off,
            &Frame {
                address: 1,
                data: [1; 8],
                ..off
            }
        ));
    }

    #[test]
    fn framer_resyncs_on_a5_inside_data_and_late_replies() {
        // 0xA5 occurs inside data (current 0xA5A5); a stray late reply precedes the wanted one.
        let first = Frame {
            address: 1,
            data_id: id::STATUS,
            data: [4, 1, 0, 0, 0, 0xA5, 0xA5, 0],
        }
        .encode();
        let second = Frame {
            address: 1,
            data_id: id::CELL_RANGE,
            data: [0x0C, 0xFE, 1, 0x0C, 0xFC, 4, 0xA5, 0],
        }
        .encode();
        let mut f = framer();
        f.push(&[0xA5, 0x01]); // a cut-off frame
        f.push(&first);
        f.push(&second[..5]);
        let mut frames = Vec::new();
        while let Some(fr) = f.next_frame() {
            frames.push(fr);
        }
        f.push(&second[5..]);
        while let Some(ev) = f.next_event() {
            if let FramerEvent::Frame(fr) = ev {
                frames.push(fr);
            } else {
                assert!(!matches!(
                    ev,
                    FramerEvent::Skipped {
                        reason: SkipReason::Superseded,
                        ..
                    }
                ));
            }
        }
        assert_eq!(frames, vec![first.to_vec(), second.to_vec()]);
    }

    #[test]
    fn describe_tells_requests_from_replies() {
        let d = describe(
            &hex("A5 40 90 08 00 00 00 00 00 00 00 00 7D"),
            CurrentSign::default(),
        )
        .unwrap();
        assert_eq!((d.direction, d.name), ("request", "soc"));
        let d = describe(
            &hex("A5 02 90 08 00 82 00 00 75 30 01 F4 5B"),
            CurrentSign::default(),
        )
        .unwrap();
        assert_eq!(d.direction, "reply");
        assert_eq!(d.fields["pack_voltage_v"], 13.0);
        assert_eq!(d.fields["soc_pct"], 50.0);
    }
}
