//! Daly CAN (Daly CAN doc V1.0; bms-protocols.md §2.5): 250 kbit/s, 29-bit ids
//! `0x18 <data id> <destination> <source>`, and the same 8-byte payloads as Daly's UART
//! protocol without its A5 header and checksum.
//!
//! The host (PC address 0x40) asks with `0x18 <id> <bms> 40` and 8 zero bytes; the BMS
//! (address 0x01, or 0x01 + n for board n+1) answers with `0x18 <id> 40 <bms>`. 0x95 (cells)
//! and 0x96 (temperatures) answer with several frames on the same id, numbered from 1.

use serde::{Deserialize, Serialize};

use super::{expect_len, scaled, u16_be, CanFrame, DecodeError, Incomplete};
use crate::snapshot::{BmsSnapshot, ProtocolKind};

const P: ProtocolKind = ProtocolKind::DalyCan;

/// Priority byte of every Daly CAN id.
pub const PRIORITY: u8 = 0x18;
/// The upper computer's (PC's) address, the source of requests.
pub const PC_ADDRESS: u8 = 0x40;
/// A single BMS's address.
pub const DEFAULT_BMS_ADDRESS: u8 = 0x01;
/// Host addresses of the Daly address table: GPRS, upper computer, Bluetooth app.
const HOST_ADDRESSES: [u8; 3] = [0x20, 0x40, 0x80];

pub const ID_SOC: u8 = 0x90;
pub const ID_CELL_RANGE: u8 = 0x91;
pub const ID_TEMP_RANGE: u8 = 0x92;
pub const ID_MOS: u8 = 0x93;
pub const ID_STATUS: u8 = 0x94;
pub const ID_CELLS: u8 = 0x95;
pub const ID_TEMPS: u8 = 0x96;
pub const ID_BALANCE: u8 = 0x97;
pub const ID_FAILURES: u8 = 0x98;

/// What one full read asks for, in order; 0x94 first, since its counts size 0x95/0x96.
pub const READ_ORDER: [u8; 9] = [
    ID_STATUS,
    ID_SOC,
    ID_CELL_RANGE,
    ID_TEMP_RANGE,
    ID_MOS,
    ID_CELLS,
    ID_TEMPS,
    ID_BALANCE,
    ID_FAILURES,
];

/// 0x95 carries 3 cells per frame in up to 16 frames; 0x96 carries 7 sensors in up to 3.
pub const CELLS_PER_FRAME: usize = 3;
pub const MAX_CELLS: usize = 48;
pub const TEMPS_PER_FRAME: usize = 7;
pub const MAX_TEMPS: usize = 21;

/// Current is sent as `30000 + 10 × A` with no agreed sign; firmware differs
/// (bms-protocols.md §2.2). The captures (`daly_90_a` with `daly_93_a` "discharging"),
/// python-daly-bms and dbus-serialbattery agree that above 30000 means discharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CurrentSign {
    #[default]
    AboveOffsetIsDischarge,
    AboveOffsetIsCharge,
}

impl CurrentSign {
    /// The raw field to amperes, positive while charging.
    pub fn to_amps(self, raw: u16) -> f64 {
        let above = scaled(f64::from(i32::from(raw) - CURRENT_OFFSET), 0.1);
        match self {
            CurrentSign::AboveOffsetIsDischarge => -above + 0.0,
            CurrentSign::AboveOffsetIsCharge => above,
        }
    }

    /// Amperes (positive while charging) to the raw field, clamped to its range.
    pub fn to_raw(self, amps: f64) -> u16 {
        let above = match self {
            CurrentSign::AboveOffsetIsDischarge => -amps,
            CurrentSign::AboveOffsetIsCharge => amps,
        };
        let counts = super::to_wire(
            above,
            0.1,
            -i64::from(CURRENT_OFFSET),
            65535 - i64::from(CURRENT_OFFSET),
        );
        (counts + i64::from(CURRENT_OFFSET)) as u16
    }
}

const CURRENT_OFFSET: i32 = 30000;
const TEMP_OFFSET: i16 = 40;

/// The parts of a Daly CAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DalyCanId {
    pub data_id: u8,
    pub destination: u8,
    pub source: u8,
}

impl DalyCanId {
    pub fn parse(id: u32) -> Option<DalyCanId> {
        ((id >> 24) as u8 == PRIORITY && id <= super::MAX_EXTENDED_ID).then_some(DalyCanId {
            data_id: (id >> 16) as u8,
            destination: (id >> 8) as u8,
            source: id as u8,
        })
    }

    pub fn raw(self) -> u32 {
        u32::from(PRIORITY) << 24
            | u32::from(self.data_id) << 16
            | u32::from(self.destination) << 8
            | u32::from(self.source)
    }
}

/// The id a BMS at `bms` answers `data_id` on.
pub fn reply_id(data_id: u8, bms: u8) -> u32 {
    DalyCanId {
        data_id,
        destination: PC_ADDRESS,
        source: bms,
    }
    .raw()
}

/// The host's request for `data_id` to the BMS at `bms`: 8 zero bytes, as dbus-serialbattery sends.
pub fn request(data_id: u8, bms: u8) -> CanFrame {
    let id = DalyCanId {
        data_id,
        destination: bms,
        source: PC_ADDRESS,
    };
    CanFrame::extended(id.raw(), &[0; 8]).expect("0x18xxxxxx fits in 29 bits")
}

/// 0x90: pack voltage, current, SOC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocTotal {
    pub total_voltage_v: f64,
    /// "Gathered" total voltage; usually 0.
    pub gather_voltage_v: f64,
    /// Positive while charging, under the configured [`CurrentSign`].
    pub current_a: f64,
    /// The raw current field (30000 = 0 A), for traceability of the sign choice.
    pub current_raw: u16,
    pub soc_pct: f64,
}

/// 0x91: highest and lowest cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRange {
    pub max_cell_mv: u16,
    pub max_cell_no: u8,
    pub min_cell_mv: u16,
    pub min_cell_no: u8,
}

/// 0x92: highest and lowest temperature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempRange {
    pub max_temp_c: i16,
    pub max_temp_sensor: u8,
    pub min_temp_c: i16,
    pub min_temp_sensor: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeState {
    Stationary,
    Charging,
    Discharging,
    /// A state byte outside 0-2, kept as sent.
    Other(u8),
}

/// 0x93: charge state, MOSFETs, remaining capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MosStatus {
    pub state: ChargeState,
    pub charge_mos: bool,
    pub discharge_mos: bool,
    /// "BMS life", 0-255.
    pub bms_life: u8,
    pub remaining_ah: f64,
}

/// 0x94: counts and I/O states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub cell_count: u8,
    pub temp_sensor_count: u8,
    pub charger_connected: bool,
    pub load_connected: bool,
    /// Bits 0-3 = DI1-DI4, bits 4-7 = DO1-DO4.
    pub io_bits: u8,
}

/// 0x95: three cells of a multi-frame answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellFrame {
    /// As sent; 1 is the first frame (cells 1-3).
    pub frame_no: u8,
    pub cells_mv: [u16; 3],
}

/// 0x96: seven sensors of a multi-frame answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempFrame {
    pub frame_no: u8,
    pub temps_c: [i16; 7],
}

/// 0x97: balancing cells, 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub balancing_cells: Vec<usize>,
}

/// 0x98: active failure flags by name, and the fault code byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub failures: Vec<String>,
    pub fault_code: u8,
}

/// 0x98 flag names, byte 0 bit 0 first (Daly CAN doc V1.0; "" = reserved).
const FAILURE_NAMES: [[&str; 8]; 7] = [
    [
        "cell_voltage_high_l1",
        "cell_voltage_high_l2",
        "cell_voltage_low_l1",
        "cell_voltage_low_l2",
        "pack_voltage_high_l1",
        "pack_voltage_high_l2",
        "pack_voltage_low_l1",
        "pack_voltage_low_l2",
    ],
    [
        "charge_temp_high_l1",
        "charge_temp_high_l2",
        "charge_temp_low_l1",
        "charge_temp_low_l2",
        "discharge_temp_high_l1",
        "discharge_temp_high_l2",
        "discharge_temp_low_l1",
        "discharge_temp_low_l2",
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
        "",
        "",
        "",
        "",
    ],
    [
        "charge_mos_over_temperature",
        "discharge_mos_over_temperature",
        "charge_mos_temp_sensor_error",
        "discharge_mos_temp_sensor_error",
        "charge_mos_adhesion",
        "discharge_mos_adhesion",
        "charge_mos_open_circuit",
        "discharge_mos_open_circuit",
    ],
    [
        "afe_chip_error",
        "cell_voltage_acquisition_dropped",
        "cell_temp_sensor_error",
        "eeprom_error",
        "rtc_error",
        "precharge_failure",
        "communication_failure",
        "internal_communication_failure",
    ],
    [
        "current_module_fault",
        "sum_voltage_detection_fault",
        "short_circuit_protection_fault",
        "low_voltage_charge_forbidden",
        "",
        "",
        "",
        "",
    ],
];

/// A decoded Daly payload (the 8 data bytes of a reply, CAN or UART alike).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "data", rename_all = "snake_case")]
pub enum DalyData {
    Soc(SocTotal),
    CellRange(CellRange),
    TempRange(TempRange),
    Mos(MosStatus),
    Status(Status),
    Cells(CellFrame),
    Temperatures(TempFrame),
    Balance(Balance),
    Failures(Failures),
}

impl DalyData {
    pub fn data_id(&self) -> u8 {
        match self {
            DalyData::Soc(_) => ID_SOC,
            DalyData::CellRange(_) => ID_CELL_RANGE,
            DalyData::TempRange(_) => ID_TEMP_RANGE,
            DalyData::Mos(_) => ID_MOS,
            DalyData::Status(_) => ID_STATUS,
            DalyData::Cells(_) => ID_CELLS,
            DalyData::Temperatures(_) => ID_TEMPS,
            DalyData::Balance(_) => ID_BALANCE,
            DalyData::Failures(_) => ID_FAILURES,
        }
    }
}

/// Decodes the 8 data bytes of a reply to `data_id`; `None` for ids outside 0x90-0x98.
/// Reserved bytes are never required to be zero: real boards send garbage there.
pub fn decode_payload(data_id: u8, d: &[u8; 8], sign: CurrentSign) -> Option<DalyData> {
    let temp = |b: u8| i16::from(b) - TEMP_OFFSET;
    let data = match data_id {
        ID_SOC => {
            let raw = u16_be(d, 4);
            DalyData::Soc(SocTotal {
                total_voltage_v: scaled(f64::from(u16_be(d, 0)), 0.1),
                gather_voltage_v: scaled(f64::from(u16_be(d, 2)), 0.1),
                current_a: sign.to_amps(raw),
                current_raw: raw,
                soc_pct: scaled(f64::from(u16_be(d, 6)), 0.1),
            })
        }
        ID_CELL_RANGE => DalyData::CellRange(CellRange {
            max_cell_mv: u16_be(d, 0),
            max_cell_no: d[2],
            min_cell_mv: u16_be(d, 3),
            min_cell_no: d[5],
        }),
        ID_TEMP_RANGE => DalyData::TempRange(TempRange {
            max_temp_c: temp(d[0]),
            max_temp_sensor: d[1],
            min_temp_c: temp(d[2]),
            min_temp_sensor: d[3],
        }),
        ID_MOS => DalyData::Mos(MosStatus {
            state: match d[0] {
                0 => ChargeState::Stationary,
                1 => ChargeState::Charging,
                2 => ChargeState::Discharging,
                n => ChargeState::Other(n),
            },
            charge_mos: d[1] != 0,
            discharge_mos: d[2] != 0,
            bms_life: d[3],
            remaining_ah: scaled(
                f64::from(u32::from_be_bytes([d[4], d[5], d[6], d[7]])),
                0.001,
            ),
        }),
        ID_STATUS => DalyData::Status(Status {
            cell_count: d[0],
            temp_sensor_count: d[1],
            charger_connected: d[2] != 0,
            load_connected: d[3] != 0,
            io_bits: d[4],
        }),
        ID_CELLS => DalyData::Cells(CellFrame {
            frame_no: d[0],
            cells_mv: [u16_be(d, 1), u16_be(d, 3), u16_be(d, 5)],
        }),
        ID_TEMPS => DalyData::Temperatures(TempFrame {
            frame_no: d[0],
            temps_c: std::array::from_fn(|i| temp(d[1 + i])),
        }),
        ID_BALANCE => {
            let bits = u64::from_le_bytes(*d);
            DalyData::Balance(Balance {
                balancing_cells: (0..MAX_CELLS)
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| i + 1)
                    .collect(),
            })
        }
        ID_FAILURES => DalyData::Failures(Failures {
            failures: FAILURE_NAMES
                .iter()
                .enumerate()
                .flat_map(|(byte, names)| {
                    names
                        .iter()
                        .enumerate()
                        .filter(move |(bit, name)| !name.is_empty() && d[byte] & (1 << bit) != 0)
                        .map(|(_, name)| name.to_string())
                })
                .collect(),
            fault_code: d[7],
        }),
        _ => return None,
    };
    Some(data)
}

/// The 8 data bytes that carry `data` (the inverse of [`decode_payload`]).
pub fn encode_payload(data: &DalyData, sign: CurrentSign) -> [u8; 8] {
    let mut d = [0u8; 8];
    let put = |d: &mut [u8; 8], at: usize, v: u16| d[at..at + 2].copy_from_slice(&v.to_be_bytes());
    let wire = |v: f64, step: f64| super::to_wire(v, step, 0, 0xFFFF) as u16;
    let temp = |c: i16| c.saturating_add(TEMP_OFFSET).clamp(0, 255) as u8;
    match data {
        DalyData::Soc(s) => {
            put(&mut d, 0, wire(s.total_voltage_v, 0.1));
            put(&mut d, 2, wire(s.gather_voltage_v, 0.1));
            put(&mut d, 4, sign.to_raw(s.current_a));
            put(&mut d, 6, wire(s.soc_pct, 0.1));
        }
        DalyData::CellRange(c) => {
            put(&mut d, 0, c.max_cell_mv);
            d[2] = c.max_cell_no;
            put(&mut d, 3, c.min_cell_mv);
            d[5] = c.min_cell_no;
        }
        DalyData::TempRange(t) => {
            d[0] = temp(t.max_temp_c);
            d[1] = t.max_temp_sensor;
            d[2] = temp(t.min_temp_c);
            d[3] = t.min_temp_sensor;
        }
        DalyData::Mos(m) => {
            d[0] = match m.state {
                ChargeState::Stationary => 0,
                ChargeState::Charging => 1,
                ChargeState::Discharging => 2,
                ChargeState::Other(n) => n,
            };
            d[1] = u8::from(m.charge_mos);
            d[2] = u8::from(m.discharge_mos);
            d[3] = m.bms_life;
            let mah = super::to_wire(m.remaining_ah, 0.001, 0, i64::from(u32::MAX)) as u32;
            d[4..8].copy_from_slice(&mah.to_be_bytes());
        }
        DalyData::Status(s) => {
            d[0] = s.cell_count;
            d[1] = s.temp_sensor_count;
            d[2] = u8::from(s.charger_connected);
            d[3] = u8::from(s.load_connected);
            d[4] = s.io_bits;
        }
        DalyData::Cells(c) => {
            d[0] = c.frame_no;
            for (i, mv) in c.cells_mv.iter().enumerate() {
                put(&mut d, 1 + 2 * i, *mv);
            }
        }
        DalyData::Temperatures(t) => {
            d[0] = t.frame_no;
            for (i, c) in t.temps_c.iter().enumerate() {
                d[1 + i] = temp(*c);
            }
        }
        DalyData::Balance(b) => {
            let bits = b
                .balancing_cells
                .iter()
                .filter(|&&c| (1..=MAX_CELLS).contains(&c))
                .fold(0u64, |acc, &c| acc | 1 << (c - 1));
            d = bits.to_le_bytes();
        }
        DalyData::Failures(f) => {
            for (byte, names) in FAILURE_NAMES.iter().enumerate() {
                for (bit, name) in names.iter().enumerate() {
                    if !name.is_empty() && f.failures.iter().any(|n| n == name) {
                        d[byte] |= 1 << bit;
                    }
                }
            }
            d[7] = f.fault_code;
        }
    }
    d
}

/// A BMS's reply frame carrying `data`.
pub fn encode_reply(data: &DalyData, bms: u8, sign: CurrentSign) -> CanFrame {
    CanFrame::extended(reply_id(data.data_id(), bms), &encode_payload(data, sign))
        .expect("0x18xxxxxx fits in 29 bits")
}

/// One decoded Daly CAN frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum DalyCanMessage {
    /// A host asking a BMS for `data_id`.
    Request {
        data_id: u8,
        bms_address: u8,
        host_address: u8,
    },
    /// A BMS answering.
    Reply {
        bms_address: u8,
        host_address: u8,
        #[serde(flatten)]
        data: DalyData,
    },
}

/// Decodes a Daly CAN frame with the default current sign.
pub fn decode(frame: &CanFrame) -> Result<DalyCanMessage, DecodeError> {
    decode_with(frame, CurrentSign::default())
}

pub fn decode_with(frame: &CanFrame, sign: CurrentSign) -> Result<DalyCanMessage, DecodeError> {
    let unknown = || DecodeError::UnknownId {
        protocol: P,
        id: frame.id(),
        extended: frame.is_extended(),
    };
    if !frame.is_extended() {
        return Err(DecodeError::WrongIdKind {
            protocol: P,
            id: frame.id(),
            extended: false,
        });
    }
    let id = DalyCanId::parse(frame.id()).ok_or_else(unknown)?;
    if !(ID_SOC..=ID_FAILURES).contains(&id.data_id) {
        return Err(unknown());
    }
    if HOST_ADDRESSES.contains(&id.source) {
        return Ok(DalyCanMessage::Request {
            data_id: id.data_id,
            bms_address: id.destination,
            host_address: id.source,
        });
    }
    if frame.is_remote() {
        return Err(DecodeError::Remote {
            protocol: P,
            id: frame.id(),
            extended: true,
        });
    }
    expect_len(P, frame, "reply", &[8], "8")?;
    let mut d = [0u8; 8];
    d.copy_from_slice(frame.data());
    let data = decode_payload(id.data_id, &d, sign).ok_or_else(unknown)?;
    Ok(DalyCanMessage::Reply {
        bms_address: id.source,
        host_address: id.destination,
        data,
    })
}

/// The replies of one full read, assembled into a pack reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DalyCanState {
    pub soc: Option<SocTotal>,
    pub cell_range: Option<CellRange>,
    pub temp_range: Option<TempRange>,
    pub mos: Option<MosStatus>,
    pub status: Option<Status>,
    pub balance: Option<Balance>,
    pub failures: Option<Failures>,
    cells: Vec<Option<u16>>,
    temps: Vec<Option<i16>>,
}

impl DalyCanState {
    /// Records a reply's payload. Frame numbers outside 1-16 (cells) or 1-3 (temperatures)
    /// are dropped: they cannot be placed.
    pub fn apply(&mut self, data: DalyData) {
        match data {
            DalyData::Soc(v) => self.soc = Some(v),
            DalyData::CellRange(v) => self.cell_range = Some(v),
            DalyData::TempRange(v) => self.temp_range = Some(v),
            DalyData::Mos(v) => self.mos = Some(v),
            DalyData::Status(v) => self.status = Some(v),
            DalyData::Balance(v) => self.balance = Some(v),
            DalyData::Failures(v) => self.failures = Some(v),
            DalyData::Cells(c) => place(
                &mut self.cells,
                c.frame_no,
                CELLS_PER_FRAME,
                MAX_CELLS,
                &c.cells_mv,
            ),
            DalyData::Temperatures(t) => place(
                &mut self.temps,
                t.frame_no,
                TEMPS_PER_FRAME,
                MAX_TEMPS,
                &t.temps_c,
            ),
        }
    }

    /// Number of 0x95 / 0x96 frames the pack's counts call for.
    pub fn expected_frames(&self) -> Option<(usize, usize)> {
        let s = self.status.as_ref()?;
        Some((
            usize::from(s.cell_count)
                .min(MAX_CELLS)
                .div_ceil(CELLS_PER_FRAME),
            usize::from(s.temp_sensor_count)
                .min(MAX_TEMPS)
                .div_ceil(TEMPS_PER_FRAME),
        ))
    }

    /// A reason to doubt the current sign: the pack says it is charging (0x93) while the
    /// current reads as a discharge above 1 A, or the reverse.
    pub fn sign_suspect(&self) -> Option<String> {
        let soc = self.soc.as_ref()?;
        let mos = self.mos.as_ref()?;
        let contradicts = match mos.state {
            ChargeState::Charging => soc.current_a < -1.0,
            ChargeState::Discharging => soc.current_a > 1.0,
            _ => false,
        };
        contradicts.then(|| {
            format!(
                "0x93 says {:?} but 0x90 current reads {:+.1} A (raw {}): this firmware likely uses the opposite current sign",
                mos.state, soc.current_a, soc.current_raw
            )
        })
    }

    /// The reading; needs 0x90, 0x94 and every cell and sensor 0x94 announces.
    pub fn snapshot(&self) -> Result<BmsSnapshot, Incomplete> {
        let incomplete = |what, data_id: u8| Incomplete {
            protocol: P,
            what,
            frame: format!("{:08X}", reply_id(data_id, DEFAULT_BMS_ADDRESS)),
        };
        let soc = self
            .soc
            .as_ref()
            .ok_or(incomplete("voltage, current and SOC", ID_SOC))?;
        let status = self
            .status
            .as_ref()
            .ok_or(incomplete("cell and sensor counts", ID_STATUS))?;
        let n_cells = usize::from(status.cell_count).min(MAX_CELLS);
        let n_temps = usize::from(status.temp_sensor_count).min(MAX_TEMPS);
        let cells: Option<Vec<u32>> = (0..n_cells)
            .map(|i| self.cells.get(i).copied().flatten().map(u32::from))
            .collect();
        let cells = cells.ok_or(incomplete("cell voltages", ID_CELLS))?;
        let temps: Option<Vec<f64>> = (0..n_temps)
            .map(|i| self.temps.get(i).copied().flatten().map(f64::from))
            .collect();
        let temps = temps.ok_or(incomplete("temperatures", ID_TEMPS))?;
        Ok(BmsSnapshot {
            pack_voltage_v: soc.total_voltage_v,
            current_a: soc.current_a,
            remaining_ah: self.mos.as_ref().map(|m| m.remaining_ah),
            soc_pct: Some(soc.soc_pct),
            cell_count: n_cells,
            cell_voltages_mv: cells,
            temperatures_c: temps,
            protection: self
                .failures
                .as_ref()
                .map(|f| f.failures.clone())
                .unwrap_or_default(),
            charge_fet: self.mos.as_ref().map(|m| m.charge_mos),
            discharge_fet: self.mos.as_ref().map(|m| m.discharge_mos),
            balancing_cells: self
                .balance
                .as_ref()
                .map(|b| b.balancing_cells.clone())
                .unwrap_or_default(),
            ..BmsSnapshot::default()
        })
    }
}

/// Puts a numbered frame's values in place; frame 1 holds items 1..=per.
fn place<T: Copy>(list: &mut Vec<Option<T>>, frame_no: u8, per: usize, max: usize, values: &[T]) {
    let Some(start) = usize::from(frame_no).checked_sub(1).map(|f| f * per) else {
        return;
    };
    if start >= max {
        return;
    }
    let end = (start + values.len()).min(max);
    if list.len() < end {
        list.resize(end, None);
    }
    for (slot, v) in list[start..end].iter_mut().zip(values) {
        *slot = Some(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(data_id: u8, d: [u8; 8]) -> CanFrame {
        CanFrame::extended(reply_id(data_id, 1), &d).unwrap()
    }

    #[test]
    fn ids_follow_the_documented_layout() {
        assert_eq!(request(ID_SOC, 1).id(), 0x1890_0140);
        assert_eq!(reply_id(ID_SOC, 1), 0x1890_4001);
        assert_eq!(request(ID_FAILURES, 2).id(), 0x1898_0240);
        let id = DalyCanId::parse(0x1890_4001).unwrap();
        assert_eq!((id.data_id, id.destination, id.source), (0x90, 0x40, 0x01));
        assert_eq!(id.raw(), 0x1890_4001);
        assert!(DalyCanId::parse(0x1090_4001).is_none());
    }

    #[test]
    fn decodes_requests_from_any_host_address() {
        assert_eq!(
            decode(&request(ID_CELLS, 1)).unwrap(),
            DalyCanMessage::Request {
                data_id: 0x95,
                bms_address: 1,
                host_address: 0x40
            }
        );
        let bt = CanFrame::extended(0x1893_0180, &[]).unwrap();
        assert!(matches!(
            decode(&bt).unwrap(),
            DalyCanMessage::Request {
                host_address: 0x80,
                ..
            }
        ));
    }

    #[test]
    fn current_sign_is_configurable() {
        let f = reply(ID_SOC, [0x02, 0x10, 0x00, 0x00, 0x75, 0x6F, 0x03, 0xBC]);
        let DalyCanMessage::Reply {
            data: DalyData::Soc(s),
            ..
        } = decode(&f).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.current_a, -6.3, "above 30000 = discharge by default");
        assert_eq!(s.current_raw, 30063);
        let DalyCanMessage::Reply {
            data: DalyData::Soc(s),
            ..
        } = decode_with(&f, CurrentSign::AboveOffsetIsCharge).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.current_a, 6.3);
        assert_eq!(CurrentSign::default().to_amps(30000), 0.0);
        assert!(CurrentSign::default().to_amps(30000).is_sign_positive());
    }

    #[test]
    fn rejects_wrong_kinds_lengths_and_ids() {
        let std = CanFrame::standard(0x190, &[0; 8]).unwrap();
        assert!(matches!(decode(&std), Err(DecodeError::WrongIdKind { .. })));
        let short = CanFrame::extended(reply_id(ID_SOC, 1), &[0; 7]).unwrap();
        assert_eq!(
            decode(&short).unwrap_err().to_string(),
            "daly-can: frame 18904001 (reply) has 7 data bytes, expected 8"
        );
        let other = CanFrame::extended(reply_id(0x50, 1), &[0; 8]).unwrap();
        assert!(matches!(decode(&other), Err(DecodeError::UnknownId { .. })));
    }

    #[test]
    fn failure_flags_are_named() {
        let f = reply(ID_FAILURES, [0x01, 0, 0x04, 0, 0, 0x80, 0x04, 0x2A]);
        let DalyCanMessage::Reply {
            data: DalyData::Failures(x),
            ..
        } = decode(&f).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            x.failures,
            vec![
                "cell_voltage_high_l1",
                "discharge_overcurrent_l1",
                "internal_communication_failure",
                "short_circuit_protection_fault"
            ]
        );
        assert_eq!(x.fault_code, 0x2A);
    }

    #[test]
    fn balance_bits_map_to_cells() {
        let f = reply(ID_BALANCE, [0x05, 0, 0x01, 0, 0, 0x80, 0, 0]);
        let DalyCanMessage::Reply {
            data: DalyData::Balance(b),
            ..
        } = decode(&f).unwrap()
        else {
            panic!()
        };
        assert_eq!(b.balancing_cells, vec![1, 3, 17, 48]);
    }

    fn sample_replies() -> Vec<DalyData> {
        vec![
            DalyData::Status(Status {
                cell_count: 4,
                temp_sensor_count: 2,
                charger_connected: true,
                load_connected: false,
                io_bits: 0x21,
            }),
            DalyData::Soc(SocTotal {
                total_voltage_v: 13.2,
                gather_voltage_v: 0.0,
                current_a: 4.5,
                current_raw: 29955,
                soc_pct: 64.3,
            }),
            DalyData::CellRange(CellRange {
                max_cell_mv: 3312,
                max_cell_no: 2,
                min_cell_mv: 3290,
                min_cell_no: 4,
            }),
            DalyData::TempRange(TempRange {
                max_temp_c: 27,
                max_temp_sensor: 1,
                min_temp_c: -5,
                min_temp_sensor: 2,
            }),
            DalyData::Mos(MosStatus {
                state: ChargeState::Charging,
                charge_mos: true,
                discharge_mos: true,
                bms_life: 7,
                remaining_ah: 64.3,
            }),
            DalyData::Cells(CellFrame {
                frame_no: 1,
                cells_mv: [3301, 3312, 3305],
            }),
            DalyData::Cells(CellFrame {
                frame_no: 2,
                cells_mv: [3290, 0, 0],
            }),
            DalyData::Temperatures(TempFrame {
                frame_no: 1,
                temps_c: [27, -5, -40, -40, -40, -40, -40],
            }),
            DalyData::Balance(Balance {
                balancing_cells: vec![2],
            }),
            DalyData::Failures(Failures {
                failures: vec!["soc_low_l1".into()],
                fault_code: 0,
            }),
        ]
    }

    #[test]
    fn replies_round_trip_and_assemble_a_snapshot() {
        let mut state = DalyCanState::default();
        for data in sample_replies() {
            let f = encode_reply(&data, 1, CurrentSign::default());
            let DalyCanMessage::Reply {
                bms_address,
                data: back,
                ..
            } = decode(&f).unwrap()
            else {
                panic!("{f} is not a reply")
            };
            assert_eq!(bms_address, 1);
            assert_eq!(back, data, "{f}");
            state.apply(back);
        }
        assert_eq!(state.expected_frames(), Some((2, 1)));
        let snap = state.snapshot().unwrap();
        assert_eq!(snap.pack_voltage_v, 13.2);
        assert_eq!(snap.current_a, 4.5);
        assert_eq!(snap.soc_pct, Some(64.3));
        assert_eq!(snap.remaining_ah, Some(64.3));
        assert_eq!(snap.cell_voltages_mv, vec![3301, 3312, 3305, 3290]);
        assert_eq!(snap.temperatures_c, vec![27.0, -5.0]);
        assert_eq!(snap.protection, vec!["soc_low_l1"]);
        assert_eq!(snap.balancing_cells, vec![2]);
        assert_eq!(snap.charge_fet, Some(true));
        assert_eq!(state.sign_suspect(), None);
    }

    #[test]
    fn snapshot_needs_every_announced_cell() {
        let mut state = DalyCanState::default();
        for data in sample_replies()
            .into_iter()
            .filter(|d| !matches!(d, DalyData::Cells(CellFrame { frame_no: 2, .. })))
        {
            state.apply(data);
        }
        assert_eq!(
            state.snapshot().unwrap_err().to_string(),
            "daly-can: no cell voltages received yet (frame 18954001)"
        );
    }

    #[test]
    fn out_of_range_frame_numbers_are_dropped() {
        let mut state = DalyCanState::default();
        state.apply(DalyData::Cells(CellFrame {
            frame_no: 0,
            cells_mv: [1, 2, 3],
        }));
        state.apply(DalyData::Cells(CellFrame {
            frame_no: 17,
            cells_mv: [1, 2, 3],
        }));
        state.apply(DalyData::Cells(CellFrame {
            frame_no: 255,
            cells_mv: [1, 2, 3],
        }));
        assert!(state.cells.is_empty());
    }

    #[test]
    fn contradicting_state_and_current_flag_the_sign() {
        let mut state = DalyCanState::default();
        for data in sample_replies() {
            state.apply(data);
        }
        let f = reply(ID_SOC, [0, 0x84, 0, 0, 0x75, 0x5D, 0x02, 0x83]);
        let DalyCanMessage::Reply { data, .. } = decode(&f).unwrap() else {
            panic!()
        };
        state.apply(data); // raw 30045 = -4.5 A while 0x93 says charging
        let why = state.sign_suspect().expect("contradiction");
        assert!(why.contains("opposite current sign"), "{why}");
    }

    #[test]
    fn json_keys_carry_units() {
        let msg = decode(&encode_reply(
            &sample_replies()[1],
            1,
            CurrentSign::default(),
        ))
        .unwrap();
        let v = serde_json::to_value(&msg).unwrap();
        assert_eq!(v["frame"], "reply");
        assert_eq!(v["data"], "soc");
        assert_eq!(v["total_voltage_v"], 13.2);
        assert_eq!(v["current_a"], 4.5);
        assert_eq!(v["soc_pct"], 64.3);
    }
}
