//! Pylontech-compatible inverter CAN ("Pylon LV"): what a pack broadcasts to an inverter,
//! decoded and encoded.
//!
//! CAN 2.0A, 11-bit ids, 500 kbit/s, little-endian fields (bms-protocols.md §4). The pack
//! sends 0x351 limits, 0x355 SOC/SOH, 0x356 measurements, 0x359 alarms, 0x35C charge
//! requests and 0x35E manufacturer; the inverter sends 0x305 as keep-alive. Protocol v1.3
//! packs send 0x35F battery info and 0x35A alarms (SMA/Victron layout: one bit pair per
//! condition, alarms in bytes 0-3, warnings in bytes 4-7). Packs speaking the Victron flavour
//! (JBD "Victron" CAN, mr-manuel `lltjbd_can.py`) add 0x370/0x371 (BMS name in two halves),
//! 0x372 (module counts), 0x373 (cell voltage and temperature extremes) and 0x379
//! (installed capacity).

use serde::{Deserialize, Serialize};

use super::{expect_len, i16_le, scaled, to_wire, u16_le, CanFrame, DecodeError, Incomplete};
use crate::framing::{parse_hex, to_hex};
use crate::snapshot::{BmsSnapshot, ProtocolKind};

pub const ID_INVERTER: u32 = 0x305;
pub const ID_LIMITS: u32 = 0x351;
pub const ID_SOC_SOH: u32 = 0x355;
pub const ID_MEASUREMENTS: u32 = 0x356;
pub const ID_ALARMS: u32 = 0x359;
pub const ID_REQUESTS: u32 = 0x35C;
pub const ID_MANUFACTURER: u32 = 0x35E;
pub const ID_BATTERY_INFO: u32 = 0x35F;
pub const ID_SMA_ALARMS: u32 = 0x35A;
pub const ID_NAME_1: u32 = 0x370;
pub const ID_NAME_2: u32 = 0x371;
pub const ID_MODULES: u32 = 0x372;
pub const ID_CELL_EXTREMES: u32 = 0x373;
pub const ID_CAPACITY: u32 = 0x379;

/// The frames a v1.2 pack broadcasts in each cycle, in the order real packs send them
/// (a telegram starts at 0x359 in ul-gh/pylon_bms_diagnostics).
pub const BROADCAST_IDS: [u32; 6] = [
    ID_ALARMS,
    ID_LIMITS,
    ID_SOC_SOH,
    ID_MEASUREMENTS,
    ID_REQUESTS,
    ID_MANUFACTURER,
];

/// Every id this module decodes, for a socket filter.
pub const DECODED_IDS: [u32; 14] = [
    ID_INVERTER,
    ID_LIMITS,
    ID_SOC_SOH,
    ID_MEASUREMENTS,
    ID_ALARMS,
    ID_SMA_ALARMS,
    ID_REQUESTS,
    ID_MANUFACTURER,
    ID_BATTERY_INFO,
    ID_NAME_1,
    ID_NAME_2,
    ID_MODULES,
    ID_CELL_EXTREMES,
    ID_CAPACITY,
];

const P: ProtocolKind = ProtocolKind::Pylontech;

/// Step of the 0x356 pack voltage. Pylontech sends 0.01 V; some "compatible" packs
/// (Discover AES, `discover_356_variant`) send 0.1 V in the same field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoltageScale {
    #[default]
    Centivolt,
    Decivolt,
}

impl VoltageScale {
    pub fn step(self) -> f64 {
        match self {
            VoltageScale::Centivolt => 0.01,
            VoltageScale::Decivolt => 0.1,
        }
    }
}

/// 0x351: the charge and discharge limits the pack asks the inverter to respect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub charge_voltage_limit_v: f64,
    pub charge_current_limit_a: f64,
    /// Positive in real Pylontech frames; one emulator sends it negative, kept as sent.
    pub discharge_current_limit_a: f64,
    pub discharge_voltage_limit_v: f64,
}

/// 0x355: state of charge and health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocSoh {
    pub soc_pct: u16,
    pub soh_pct: u16,
    /// Bytes 4-5 of the 6-byte (SMA/Victron) variant, 0.01 %; absent or 0xFFFF = none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub soc_hires_pct: Option<f64>,
}

/// 0x356: pack voltage, current and temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub pack_voltage_v: f64,
    /// Positive while charging, negative while discharging.
    pub current_a: f64,
    pub temperature_c: f64,
}

/// One protection or warning condition of 0x359.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PylonAlarm {
    /// Cell or pack overvoltage.
    Overvoltage,
    Undervoltage,
    OverTemperature,
    UnderTemperature,
    DischargeOvercurrent,
    ChargeOvercurrent,
    /// Protection: BMS internal/system error. Warning: internal communication failure.
    BmsInternal,
}

impl PylonAlarm {
    pub fn name(self) -> &'static str {
        match self {
            PylonAlarm::Overvoltage => "overvoltage",
            PylonAlarm::Undervoltage => "undervoltage",
            PylonAlarm::OverTemperature => "over_temperature",
            PylonAlarm::UnderTemperature => "under_temperature",
            PylonAlarm::DischargeOvercurrent => "discharge_overcurrent",
            PylonAlarm::ChargeOvercurrent => "charge_overcurrent",
            PylonAlarm::BmsInternal => "bms_internal",
        }
    }
}

/// Bit positions within the two protection bytes (b0-b1) and, identically, the two
/// warning bytes (b2-b3) of 0x359 [OpenDTU 0x359; diyBMS `pylon_message_359`].
const ALARM_BITS: [(usize, u8, PylonAlarm); 7] = [
    (0, 1, PylonAlarm::Overvoltage),
    (0, 2, PylonAlarm::Undervoltage),
    (0, 3, PylonAlarm::OverTemperature),
    (0, 4, PylonAlarm::UnderTemperature),
    (0, 7, PylonAlarm::DischargeOvercurrent),
    (1, 0, PylonAlarm::ChargeOvercurrent),
    (1, 3, PylonAlarm::BmsInternal),
];

/// 0x359: active protections, warnings, module count and the vendor tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarms {
    pub protection: Vec<PylonAlarm>,
    pub warnings: Vec<PylonAlarm>,
    pub module_count: u8,
    /// Bytes 5-6: `PN` from Pylontech, `PY` from Pytes.
    pub vendor: String,
}

/// 0x35C: what the pack requests from the inverter (bits 7 … 3 of byte 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRequests {
    pub charge_enable: bool,
    pub discharge_enable: bool,
    pub force_charge_1: bool,
    pub force_charge_2: bool,
    pub full_charge_req: bool,
}

/// 0x35E: manufacturer name, ASCII, space-padded (`PYLON   `).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manufacturer {
    pub manufacturer: String,
}

/// 0x35F (protocol v1.3): battery type characters; the rest is kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatteryInfo {
    pub battery_type: String,
    /// Bytes 2-7, undocumented in the sources, as hex pairs (`01 03 3C 02 AA 00`).
    pub rest_hex: String,
}

/// One condition of the 0x35A (protocol v1.3, SMA/Victron) alarm and warning bit pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmaAlarm {
    General,
    HighVoltage,
    LowVoltage,
    HighTemperature,
    LowTemperature,
    HighChargeTemperature,
    LowChargeTemperature,
    HighDischargeCurrent,
    HighChargeCurrent,
    Contactor,
    ShortCircuit,
    BmsInternal,
    CellImbalance,
}

impl SmaAlarm {
    pub fn name(self) -> &'static str {
        match self {
            SmaAlarm::General => "general",
            SmaAlarm::HighVoltage => "high_voltage",
            SmaAlarm::LowVoltage => "low_voltage",
            SmaAlarm::HighTemperature => "high_temperature",
            SmaAlarm::LowTemperature => "low_temperature",
            SmaAlarm::HighChargeTemperature => "high_charge_temperature",
            SmaAlarm::LowChargeTemperature => "low_charge_temperature",
            SmaAlarm::HighDischargeCurrent => "high_discharge_current",
            SmaAlarm::HighChargeCurrent => "high_charge_current",
            SmaAlarm::Contactor => "contactor",
            SmaAlarm::ShortCircuit => "short_circuit",
            SmaAlarm::BmsInternal => "bms_internal",
            SmaAlarm::CellImbalance => "cell_imbalance",
        }
    }
}

/// (byte, low bit of the pair, condition) within bytes 0-3 (alarms) and 4-7 (warnings) of
/// 0x35A [mr-manuel `lltjbd_can.py` `to_protection_bits`, after the Victron CAN-bus BMS
/// protocol 2021-04-17]. A pair reads as active when its low bit is set (`01`).
const SMA_BITS: [(usize, u8, SmaAlarm); 13] = [
    (0, 0, SmaAlarm::General),
    (0, 2, SmaAlarm::HighVoltage),
    (0, 4, SmaAlarm::LowVoltage),
    (0, 6, SmaAlarm::HighTemperature),
    (1, 0, SmaAlarm::LowTemperature),
    (1, 2, SmaAlarm::HighChargeTemperature),
    (1, 4, SmaAlarm::LowChargeTemperature),
    (1, 6, SmaAlarm::HighDischargeCurrent),
    (2, 0, SmaAlarm::HighChargeCurrent),
    (2, 2, SmaAlarm::Contactor),
    (2, 4, SmaAlarm::ShortCircuit),
    (2, 6, SmaAlarm::BmsInternal),
    (3, 0, SmaAlarm::CellImbalance),
];

/// 0x35A: alarms (bytes 0-3) and warnings (bytes 4-7), v1.3's replacement for 0x359.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmaAlarms {
    pub alarms: Vec<SmaAlarm>,
    pub warnings: Vec<SmaAlarm>,
}

/// 0x370 / 0x371: one half of the BMS name, ASCII, NUL-padded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamePart {
    pub text: String,
}

/// 0x372: module counts (u16 each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleCounts {
    pub online: u16,
    pub blocking_charge: u16,
    pub blocking_discharge: u16,
    pub offline: u16,
}

/// 0x373: lowest and highest cell voltage (mV) and cell temperature (sent in kelvin, read
/// with an offset of 273 as the implementations do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellExtremes {
    pub min_cell_mv: u16,
    pub max_cell_mv: u16,
    pub min_temperature_c: f64,
    pub max_temperature_c: f64,
}

/// Kelvin offset of the 0x373 temperatures, as the implementations read them.
pub const KELVIN_OFFSET: i32 = 273;

/// 0x379: installed capacity, Ah (u16 in bytes 0-1; JBD fills it with the master's capacity
/// times the pack count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledCapacity {
    pub capacity_ah: u16,
}

/// 0x305 from the inverter: keep-alive / request; its bytes carry no documented values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InverterKeepAlive {
    pub data_hex: String,
}

/// One decoded Pylontech-compatible frame. JSON: `{"frame":"measurements", …values}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum PylonMessage {
    Limits(Limits),
    SocSoh(SocSoh),
    Measurements(Measurements),
    Alarms(Alarms),
    Requests(ChargeRequests),
    Manufacturer(Manufacturer),
    BatteryInfo(BatteryInfo),
    SmaAlarms(SmaAlarms),
    Name1(NamePart),
    Name2(NamePart),
    Modules(ModuleCounts),
    CellExtremes(CellExtremes),
    Capacity(InstalledCapacity),
    InverterKeepAlive(InverterKeepAlive),
}

impl PylonMessage {
    /// The CAN id this message travels on.
    pub fn id(&self) -> u32 {
        match self {
            PylonMessage::Limits(_) => ID_LIMITS,
            PylonMessage::SocSoh(_) => ID_SOC_SOH,
            PylonMessage::Measurements(_) => ID_MEASUREMENTS,
            PylonMessage::Alarms(_) => ID_ALARMS,
            PylonMessage::Requests(_) => ID_REQUESTS,
            PylonMessage::Manufacturer(_) => ID_MANUFACTURER,
            PylonMessage::BatteryInfo(_) => ID_BATTERY_INFO,
            PylonMessage::SmaAlarms(_) => ID_SMA_ALARMS,
            PylonMessage::Name1(_) => ID_NAME_1,
            PylonMessage::Name2(_) => ID_NAME_2,
            PylonMessage::Modules(_) => ID_MODULES,
            PylonMessage::CellExtremes(_) => ID_CELL_EXTREMES,
            PylonMessage::Capacity(_) => ID_CAPACITY,
            PylonMessage::InverterKeepAlive(_) => ID_INVERTER,
        }
    }
}

/// Decodes a frame with Pylontech's own scaling (0.01 V pack voltage).
pub fn decode(frame: &CanFrame) -> Result<PylonMessage, DecodeError> {
    decode_with(frame, VoltageScale::Centivolt)
}

/// Decodes a frame, reading the 0x356 voltage with the given step.
pub fn decode_with(frame: &CanFrame, scale: VoltageScale) -> Result<PylonMessage, DecodeError> {
    if frame.is_extended() {
        return Err(DecodeError::WrongIdKind {
            protocol: P,
            id: frame.id(),
            extended: true,
        });
    }
    if frame.is_remote() {
        return Err(DecodeError::Remote {
            protocol: P,
            id: frame.id(),
            extended: false,
        });
    }
    let d = frame.data();
    let msg = match frame.id() {
        ID_LIMITS => {
            expect_len(P, frame, "limits", &[8], "8")?;
            PylonMessage::Limits(Limits {
                charge_voltage_limit_v: scaled(f64::from(u16_le(d, 0)), 0.1),
                charge_current_limit_a: scaled(f64::from(i16_le(d, 2)), 0.1),
                discharge_current_limit_a: scaled(f64::from(i16_le(d, 4)), 0.1),
                discharge_voltage_limit_v: scaled(f64::from(u16_le(d, 6)), 0.1),
            })
        }
        ID_SOC_SOH => {
            expect_len(P, frame, "SOC/SOH", &[4, 6, 8], "4, 6 or 8")?;
            let hires = (d.len() >= 6)
                .then(|| u16_le(d, 4))
                .filter(|&v| v != 0xFFFF)
                .map(|v| scaled(f64::from(v), 0.01));
            PylonMessage::SocSoh(SocSoh {
                soc_pct: u16_le(d, 0),
                soh_pct: u16_le(d, 2),
                soc_hires_pct: hires,
            })
        }
        ID_MEASUREMENTS => {
            // 8 bytes from JBD's inverter CAN, whose bytes 6-7 (cycles) are not Pylontech's.
            expect_len(P, frame, "measurements", &[6, 8], "6 or 8")?;
            PylonMessage::Measurements(Measurements {
                pack_voltage_v: scaled(f64::from(i16_le(d, 0)), scale.step()),
                current_a: scaled(f64::from(i16_le(d, 2)), 0.1),
                temperature_c: scaled(f64::from(i16_le(d, 4)), 0.1),
            })
        }
        ID_ALARMS => {
            expect_len(P, frame, "alarms", &[7, 8], "7 or 8")?;
            PylonMessage::Alarms(Alarms {
                protection: alarms_from(&d[0..2]),
                warnings: alarms_from(&d[2..4]),
                module_count: d[4],
                vendor: ascii_text(&d[5..7]),
            })
        }
        ID_REQUESTS => {
            expect_len(P, frame, "charge requests", &[2], "2")?;
            let b = d[0];
            PylonMessage::Requests(ChargeRequests {
                charge_enable: b & 0x80 != 0,
                discharge_enable: b & 0x40 != 0,
                force_charge_1: b & 0x20 != 0,
                force_charge_2: b & 0x10 != 0,
                full_charge_req: b & 0x08 != 0,
            })
        }
        ID_MANUFACTURER => {
            expect_len(
                P,
                frame,
                "manufacturer",
                &[1, 2, 3, 4, 5, 6, 7, 8],
                "1 to 8",
            )?;
            PylonMessage::Manufacturer(Manufacturer {
                manufacturer: ascii_text(d),
            })
        }
        ID_BATTERY_INFO => {
            expect_len(P, frame, "battery info", &[8], "8")?;
            PylonMessage::BatteryInfo(BatteryInfo {
                battery_type: ascii_text(&d[0..2]),
                rest_hex: to_hex(&d[2..]),
            })
        }
        ID_SMA_ALARMS => {
            expect_len(P, frame, "alarms and warnings (v1.3)", &[8], "8")?;
            PylonMessage::SmaAlarms(SmaAlarms {
                alarms: sma_from(&d[0..4]),
                warnings: sma_from(&d[4..8]),
            })
        }
        ID_NAME_1 | ID_NAME_2 => {
            expect_len(P, frame, "BMS name", &[1, 2, 3, 4, 5, 6, 7, 8], "1 to 8")?;
            let part = NamePart {
                text: ascii_text(d),
            };
            if frame.id() == ID_NAME_1 {
                PylonMessage::Name1(part)
            } else {
                PylonMessage::Name2(part)
            }
        }
        ID_MODULES => {
            expect_len(P, frame, "module counts", &[8], "8")?;
            PylonMessage::Modules(ModuleCounts {
                online: u16_le(d, 0),
                blocking_charge: u16_le(d, 2),
                blocking_discharge: u16_le(d, 4),
                offline: u16_le(d, 6),
            })
        }
        ID_CELL_EXTREMES => {
            expect_len(P, frame, "cell extremes", &[8], "8")?;
            PylonMessage::CellExtremes(CellExtremes {
                min_cell_mv: u16_le(d, 0),
                max_cell_mv: u16_le(d, 2),
                min_temperature_c: f64::from(i32::from(u16_le(d, 4)) - KELVIN_OFFSET),
                max_temperature_c: f64::from(i32::from(u16_le(d, 6)) - KELVIN_OFFSET),
            })
        }
        ID_CAPACITY => {
            expect_len(P, frame, "installed capacity", &[2, 4, 8], "2, 4 or 8")?;
            PylonMessage::Capacity(InstalledCapacity {
                capacity_ah: u16_le(d, 0),
            })
        }
        ID_INVERTER => PylonMessage::InverterKeepAlive(InverterKeepAlive {
            data_hex: to_hex(d),
        }),
        id => {
            return Err(DecodeError::UnknownId {
                protocol: P,
                id,
                extended: false,
            })
        }
    };
    Ok(msg)
}

/// Encodes a message with Pylontech's own scaling.
pub fn encode(msg: &PylonMessage) -> CanFrame {
    encode_with(msg, VoltageScale::Centivolt)
}

/// Encodes a message; values beyond a field's range are sent as the field's extreme.
#[allow(
    clippy::expect_used,
    reason = "every id is a constant below 0x7FF and len <= 8"
)]
pub fn encode_with(msg: &PylonMessage, scale: VoltageScale) -> CanFrame {
    let mut d = [0u8; 8];
    let len = match msg {
        PylonMessage::Limits(l) => {
            put_u16(&mut d, 0, l.charge_voltage_limit_v, 0.1);
            put_i16(&mut d, 2, l.charge_current_limit_a, 0.1);
            put_i16(&mut d, 4, l.discharge_current_limit_a, 0.1);
            put_u16(&mut d, 6, l.discharge_voltage_limit_v, 0.1);
            8
        }
        PylonMessage::SocSoh(s) => {
            d[0..2].copy_from_slice(&s.soc_pct.to_le_bytes());
            d[2..4].copy_from_slice(&s.soh_pct.to_le_bytes());
            match s.soc_hires_pct {
                Some(v) => {
                    // 0xFFFF means "invalid", so the largest valid value is one below.
                    let raw = to_wire(v, 0.01, 0, 0xFFFE) as u16;
                    d[4..6].copy_from_slice(&raw.to_le_bytes());
                    6
                }
                None => 4,
            }
        }
        PylonMessage::Measurements(m) => {
            put_i16(&mut d, 0, m.pack_voltage_v, scale.step());
            put_i16(&mut d, 2, m.current_a, 0.1);
            put_i16(&mut d, 4, m.temperature_c, 0.1);
            6
        }
        PylonMessage::Alarms(a) => {
            alarms_into(&a.protection, &mut d[0..2]);
            alarms_into(&a.warnings, &mut d[2..4]);
            d[4] = a.module_count;
            put_ascii(&a.vendor, &mut d[5..7], 0);
            7
        }
        PylonMessage::Requests(r) => {
            d[0] = u8::from(r.charge_enable) << 7
                | u8::from(r.discharge_enable) << 6
                | u8::from(r.force_charge_1) << 5
                | u8::from(r.force_charge_2) << 4
                | u8::from(r.full_charge_req) << 3;
            2
        }
        PylonMessage::Manufacturer(m) => {
            put_ascii(&m.manufacturer, &mut d, b' ');
            8
        }
        PylonMessage::BatteryInfo(b) => {
            put_ascii(&b.battery_type, &mut d[0..2], b' ');
            let rest = unhex(&b.rest_hex);
            let n = rest.len().min(6);
            d[2..2 + n].copy_from_slice(&rest[..n]);
            8
        }
        PylonMessage::SmaAlarms(a) => {
            sma_into(&a.alarms, &mut d[0..4]);
            sma_into(&a.warnings, &mut d[4..8]);
            8
        }
        PylonMessage::Name1(n) | PylonMessage::Name2(n) => {
            put_ascii(&n.text, &mut d, 0);
            8
        }
        PylonMessage::Modules(m) => {
            d[0..2].copy_from_slice(&m.online.to_le_bytes());
            d[2..4].copy_from_slice(&m.blocking_charge.to_le_bytes());
            d[4..6].copy_from_slice(&m.blocking_discharge.to_le_bytes());
            d[6..8].copy_from_slice(&m.offline.to_le_bytes());
            8
        }
        PylonMessage::CellExtremes(c) => {
            d[0..2].copy_from_slice(&c.min_cell_mv.to_le_bytes());
            d[2..4].copy_from_slice(&c.max_cell_mv.to_le_bytes());
            put_kelvin(&mut d, 4, c.min_temperature_c);
            put_kelvin(&mut d, 6, c.max_temperature_c);
            8
        }
        PylonMessage::Capacity(c) => {
            d[0..2].copy_from_slice(&c.capacity_ah.to_le_bytes());
            8
        }
        PylonMessage::InverterKeepAlive(k) => {
            let bytes = unhex(&k.data_hex);
            let n = bytes.len().min(8);
            d[..n].copy_from_slice(&bytes[..n]);
            n
        }
    };
    // Every id here is a constant below 0x7FF and len <= 8: construction cannot fail.
    CanFrame::standard(msg.id(), &d[..len]).expect("Pylontech ids are 11-bit")
}

/// The inverter's keep-alive as pylon_bms_diagnostics `--poll` sends it: 8 zero bytes.
pub fn inverter_keep_alive() -> CanFrame {
    encode(&PylonMessage::InverterKeepAlive(InverterKeepAlive {
        data_hex: "00 00 00 00 00 00 00 00".into(),
    }))
}

fn alarms_from(bytes: &[u8]) -> Vec<PylonAlarm> {
    ALARM_BITS
        .iter()
        .filter(|(byte, bit, _)| bytes[*byte] & (1 << bit) != 0)
        .map(|&(_, _, a)| a)
        .collect()
}

fn alarms_into(alarms: &[PylonAlarm], bytes: &mut [u8]) {
    for (byte, bit, a) in ALARM_BITS {
        if alarms.contains(&a) {
            bytes[byte] |= 1 << bit;
        }
    }
}

fn sma_from(bytes: &[u8]) -> Vec<SmaAlarm> {
    SMA_BITS
        .iter()
        .filter(|(byte, bit, _)| bytes[*byte] & (1 << bit) != 0)
        .map(|&(_, _, a)| a)
        .collect()
}

/// Active conditions as `01`; inactive pairs stay `00`.
fn sma_into(alarms: &[SmaAlarm], bytes: &mut [u8]) {
    for (byte, bit, a) in SMA_BITS {
        if alarms.contains(&a) {
            bytes[byte] |= 1 << bit;
        }
    }
}

fn put_kelvin(d: &mut [u8; 8], at: usize, celsius: f64) {
    let raw = to_wire(
        celsius + f64::from(KELVIN_OFFSET),
        1.0,
        0,
        i64::from(u16::MAX),
    ) as u16;
    d[at..at + 2].copy_from_slice(&raw.to_le_bytes());
}

fn put_u16(d: &mut [u8; 8], at: usize, value: f64, step: f64) {
    let raw = to_wire(value, step, 0, i64::from(u16::MAX)) as u16;
    d[at..at + 2].copy_from_slice(&raw.to_le_bytes());
}

fn put_i16(d: &mut [u8; 8], at: usize, value: f64, step: f64) {
    let raw = to_wire(value, step, i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
    d[at..at + 2].copy_from_slice(&raw.to_le_bytes());
}

fn put_ascii(text: &str, out: &mut [u8], pad: u8) {
    out.fill(pad);
    for (slot, b) in out.iter_mut().zip(text.bytes().filter(u8::is_ascii)) {
        *slot = b;
    }
}

/// ASCII text with trailing spaces and NULs removed; other non-printable bytes become `?`
/// so a garbled name still shows where it went wrong.
fn ascii_text(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' || b == 0 {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    s.trim_end_matches([' ', '\0']).to_string()
}

/// Hex text back to bytes for the encoder. These fields are only ever filled by the decoder
/// (or by our own code), so text that is not hex is sent as no bytes rather than guessed at.
fn unhex(text: &str) -> Vec<u8> {
    parse_hex(text).unwrap_or_default()
}

/// The latest value of each frame a pack broadcast, assembled into one reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PylonState {
    pub limits: Option<Limits>,
    pub soc_soh: Option<SocSoh>,
    pub measurements: Option<Measurements>,
    pub alarms: Option<Alarms>,
    pub requests: Option<ChargeRequests>,
    pub manufacturer: Option<Manufacturer>,
    pub battery_info: Option<BatteryInfo>,
    pub sma_alarms: Option<SmaAlarms>,
    pub name_1: Option<NamePart>,
    pub name_2: Option<NamePart>,
    pub modules: Option<ModuleCounts>,
    pub cell_extremes: Option<CellExtremes>,
    pub capacity: Option<InstalledCapacity>,
}

impl PylonState {
    /// Records a decoded frame; the inverter's own 0x305 is not pack state and is ignored.
    pub fn apply(&mut self, msg: PylonMessage) {
        match msg {
            PylonMessage::Limits(v) => self.limits = Some(v),
            PylonMessage::SocSoh(v) => self.soc_soh = Some(v),
            PylonMessage::Measurements(v) => self.measurements = Some(v),
            PylonMessage::Alarms(v) => self.alarms = Some(v),
            PylonMessage::Requests(v) => self.requests = Some(v),
            PylonMessage::Manufacturer(v) => self.manufacturer = Some(v),
            PylonMessage::BatteryInfo(v) => self.battery_info = Some(v),
            PylonMessage::SmaAlarms(v) => self.sma_alarms = Some(v),
            PylonMessage::Name1(v) => self.name_1 = Some(v),
            PylonMessage::Name2(v) => self.name_2 = Some(v),
            PylonMessage::Modules(v) => self.modules = Some(v),
            PylonMessage::CellExtremes(v) => self.cell_extremes = Some(v),
            PylonMessage::Capacity(v) => self.capacity = Some(v),
            PylonMessage::InverterKeepAlive(_) => {}
        }
    }

    /// The broadcast frames not seen yet. A v1.3 pack's 0x35F stands in for 0x35C and its
    /// 0x35A for 0x359.
    pub fn missing(&self) -> Vec<u32> {
        let mut out = Vec::new();
        if self.alarms.is_none() && self.sma_alarms.is_none() {
            out.push(ID_ALARMS);
        }
        if self.limits.is_none() {
            out.push(ID_LIMITS);
        }
        if self.soc_soh.is_none() {
            out.push(ID_SOC_SOH);
        }
        if self.measurements.is_none() {
            out.push(ID_MEASUREMENTS);
        }
        if self.requests.is_none() && self.battery_info.is_none() {
            out.push(ID_REQUESTS);
        }
        if self.manufacturer.is_none() {
            out.push(ID_MANUFACTURER);
        }
        out
    }

    /// A reason to doubt the 0x356 voltage scaling, if the frames contradict each other:
    /// a pack far below its own discharge limit is more likely sending 0.1 V steps
    /// (`discover_356_variant`) than being that empty while it reports charge.
    pub fn scaling_suspect(&self) -> Option<String> {
        let m = self.measurements.as_ref()?;
        let l = self.limits.as_ref()?;
        let floor = l.discharge_voltage_limit_v;
        let ceiling = l.charge_voltage_limit_v;
        if floor > 0.0 && m.pack_voltage_v < floor * 0.5 {
            Some(format!(
                "pack voltage {:.2} V is below half the discharge voltage limit {floor:.1} V: the pack likely sends 0.1 V steps in 0x356, not Pylontech's 0.01 V",
                m.pack_voltage_v
            ))
        } else if ceiling > 0.0 && m.pack_voltage_v > ceiling * 2.0 {
            Some(format!(
                "pack voltage {:.2} V is above twice the charge voltage limit {ceiling:.1} V: the 0x356 voltage scaling is wrong",
                m.pack_voltage_v
            ))
        } else {
            None
        }
    }

    /// The pack reading; needs at least 0x356 (measurements) and 0x355 (SOC).
    pub fn snapshot(&self) -> Result<BmsSnapshot, Incomplete> {
        let m = self.measurements.as_ref().ok_or(Incomplete {
            protocol: P,
            what: "measurements",
            frame: "356".into(),
        })?;
        let s = self.soc_soh.as_ref().ok_or(Incomplete {
            protocol: P,
            what: "state of charge",
            frame: "355".into(),
        })?;
        Ok(BmsSnapshot {
            pack_voltage_v: m.pack_voltage_v,
            current_a: m.current_a,
            soc_pct: Some(s.soc_hires_pct.unwrap_or(f64::from(s.soc_pct))),
            temperatures_c: vec![m.temperature_c],
            protection: self
                .alarms
                .iter()
                .flat_map(|a| a.protection.iter().map(|p| p.name().into()))
                .chain(
                    self.sma_alarms
                        .iter()
                        .flat_map(|a| a.alarms.iter().map(|p| p.name().into())),
                )
                .collect(),
            nominal_ah: self.capacity.as_ref().map(|c| f64::from(c.capacity_ah)),
            model: self.manufacturer.as_ref().map(|m| m.manufacturer.clone()),
            ..BmsSnapshot::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u32, data: &[u8]) -> CanFrame {
        CanFrame::standard(id, data).unwrap()
    }

    #[test]
    fn decodes_limits_little_endian() {
        // 56.8 V, 100.0 A, 150.0 A, 46.0 V
        let f = frame(0x351, &[0x38, 0x02, 0xE8, 0x03, 0xDC, 0x05, 0xCC, 0x01]);
        let PylonMessage::Limits(l) = decode(&f).unwrap() else {
            panic!("not limits")
        };
        assert_eq!(l.charge_voltage_limit_v, 56.8);
        assert_eq!(l.charge_current_limit_a, 100.0);
        assert_eq!(l.discharge_current_limit_a, 150.0);
        assert_eq!(l.discharge_voltage_limit_v, 46.0);
    }

    #[test]
    fn negative_discharge_limit_is_kept_as_sent() {
        let f = frame(0x351, &[0x38, 0x02, 0xE8, 0x03, 0x24, 0xFA, 0xCC, 0x01]);
        let PylonMessage::Limits(l) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(l.discharge_current_limit_a, -150.0);
    }

    #[test]
    fn soc_hires_variant_and_invalid_marker() {
        let PylonMessage::SocSoh(s) = decode(&frame(0x355, &[88, 0, 94, 0, 0x7C, 0x22])).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.soc_hires_pct, Some(88.28));
        let PylonMessage::SocSoh(s) = decode(&frame(0x355, &[88, 0, 94, 0, 0xFF, 0xFF])).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.soc_hires_pct, None);
    }

    #[test]
    fn decodes_alarm_bits_and_vendor() {
        // b0 bit1 OV, b1 bit0 charge OC; warnings b2 bit3 high temp; 2 modules; "PN"
        let f = frame(0x359, &[0x02, 0x01, 0x08, 0x00, 0x02, b'P', b'N']);
        let PylonMessage::Alarms(a) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(
            a.protection,
            vec![PylonAlarm::Overvoltage, PylonAlarm::ChargeOvercurrent]
        );
        assert_eq!(a.warnings, vec![PylonAlarm::OverTemperature]);
        assert_eq!(a.module_count, 2);
        assert_eq!(a.vendor, "PN");
    }

    #[test]
    fn manufacturer_is_trimmed_and_short_names_accepted() {
        let PylonMessage::Manufacturer(m) = decode(&frame(0x35E, b"PYLON   ")).unwrap() else {
            panic!()
        };
        assert_eq!(m.manufacturer, "PYLON");
        let PylonMessage::Manufacturer(m) = decode(&frame(0x35E, b"PYTES")).unwrap() else {
            panic!()
        };
        assert_eq!(m.manufacturer, "PYTES");
        let PylonMessage::Manufacturer(m) = decode(&frame(0x35E, &[b'A', 0x07])).unwrap() else {
            panic!()
        };
        assert_eq!(m.manufacturer, "A?");
    }

    #[test]
    fn wrong_lengths_are_rejected_with_the_reason() {
        let err = decode(&frame(0x351, &[0; 7])).unwrap_err().to_string();
        assert_eq!(
            err,
            "pylontech: frame 351 (limits) has 7 data bytes, expected 8"
        );
        let err = decode(&frame(0x356, &[0; 5])).unwrap_err().to_string();
        assert!(err.contains("expected 6 or 8"), "{err}");
        assert!(decode(&frame(0x35E, &[])).is_err());
        assert!(decode(&frame(0x35C, &[0xC0])).is_err());
    }

    #[test]
    fn rejects_extended_remote_and_unknown_frames() {
        let ext = CanFrame::extended(0x355, &[0; 4]).unwrap();
        assert!(matches!(decode(&ext), Err(DecodeError::WrongIdKind { .. })));
        let rtr = CanFrame::remote(0x355, false, 4).unwrap();
        assert!(matches!(decode(&rtr), Err(DecodeError::Remote { .. })));
        let err = decode(&frame(0x35B, &[0; 8])).unwrap_err().to_string();
        assert_eq!(
            err,
            "pylontech: frame 35B is not one of this protocol's frames"
        );
        assert!(
            decode(&frame(0x35A, &[0; 8])).is_ok(),
            "0x35A is decoded now"
        );
    }

    fn sample_messages() -> Vec<PylonMessage> {
        vec![
            PylonMessage::Limits(Limits {
                charge_voltage_limit_v: 56.8,
                charge_current_limit_a: 100.0,
                discharge_current_limit_a: 150.0,
                discharge_voltage_limit_v: 46.0,
            }),
            PylonMessage::SocSoh(SocSoh {
                soc_pct: 88,
                soh_pct: 94,
                soc_hires_pct: None,
            }),
            PylonMessage::Measurements(Measurements {
                pack_voltage_v: 49.87,
                current_a: -27.9,
                temperature_c: 36.3,
            }),
            PylonMessage::Alarms(Alarms {
                protection: vec![PylonAlarm::Undervoltage, PylonAlarm::BmsInternal],
                warnings: vec![PylonAlarm::DischargeOvercurrent],
                module_count: 3,
                vendor: "PN".into(),
            }),
            PylonMessage::Requests(ChargeRequests {
                charge_enable: true,
                discharge_enable: true,
                force_charge_1: false,
                force_charge_2: true,
                full_charge_req: false,
            }),
            PylonMessage::Manufacturer(Manufacturer {
                manufacturer: "PYLON".into(),
            }),
            PylonMessage::BatteryInfo(BatteryInfo {
                battery_type: "LI".into(),
                rest_hex: "01 03 3C 02 AA 00".into(),
            }),
            PylonMessage::SmaAlarms(SmaAlarms {
                alarms: vec![SmaAlarm::HighVoltage, SmaAlarm::CellImbalance],
                warnings: vec![SmaAlarm::General, SmaAlarm::BmsInternal],
            }),
            PylonMessage::Name1(NamePart {
                text: "UP16S015".into(),
            }),
            PylonMessage::Name2(NamePart {
                text: "-L16S".into(),
            }),
            PylonMessage::Modules(ModuleCounts {
                online: 2,
                blocking_charge: 0,
                blocking_discharge: 1,
                offline: 0,
            }),
            PylonMessage::CellExtremes(CellExtremes {
                min_cell_mv: 3281,
                max_cell_mv: 3312,
                min_temperature_c: 18.0,
                max_temperature_c: 24.0,
            }),
            PylonMessage::Capacity(InstalledCapacity { capacity_ah: 280 }),
        ]
    }

    #[test]
    fn decodes_v13_alarm_pairs() {
        // Byte 0 = 0b0001_0100: high voltage (bit 2) and low voltage (bit 4) alarms; byte 5
        // bit 6 (high discharge current pair) a warning; 0b10 pairs ("ok") are not active.
        let f = frame(0x35A, &[0x14, 0xAA, 0, 0, 0, 0x40, 0, 0]);
        let PylonMessage::SmaAlarms(a) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(a.alarms, vec![SmaAlarm::HighVoltage, SmaAlarm::LowVoltage]);
        assert_eq!(a.warnings, vec![SmaAlarm::HighDischargeCurrent]);
    }

    #[test]
    fn decodes_cell_extremes_and_capacity() {
        // 3281 mV, 3312 mV, 291 K, 297 K.
        let f = frame(0x373, &[0xD1, 0x0C, 0xF0, 0x0C, 0x23, 0x01, 0x29, 0x01]);
        let PylonMessage::CellExtremes(c) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!((c.min_cell_mv, c.max_cell_mv), (3281, 3312));
        assert_eq!((c.min_temperature_c, c.max_temperature_c), (18.0, 24.0));
        let f = frame(0x379, &[0x18, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode(&f).unwrap(),
            PylonMessage::Capacity(InstalledCapacity { capacity_ah: 280 })
        );
    }

    #[test]
    fn encode_then_decode_gives_back_every_message() {
        for msg in sample_messages() {
            let f = encode(&msg);
            assert_eq!(decode(&f).unwrap(), msg, "{f}");
        }
    }

    #[test]
    fn encodes_the_published_frames_byte_for_byte() {
        let m = PylonMessage::Measurements(Measurements {
            pack_voltage_v: 49.87,
            current_a: -27.9,
            temperature_c: 36.3,
        });
        assert_eq!(encode(&m).data(), &[0x7B, 0x13, 0xE9, 0xFE, 0x6B, 0x01]);
        assert_eq!(
            encode(&sample_messages()[5]).data(),
            b"PYLON   ",
            "0x35E is space-padded to 8 bytes"
        );
        assert_eq!(inverter_keep_alive().to_string(), "305#0000000000000000");
    }

    #[test]
    fn encoder_clamps_out_of_range_values() {
        let m = PylonMessage::Measurements(Measurements {
            pack_voltage_v: 1000.0,
            current_a: -5000.0,
            temperature_c: 0.0,
        });
        let f = encode(&m);
        assert_eq!(i16_le(f.data(), 0), i16::MAX);
        assert_eq!(i16_le(f.data(), 2), i16::MIN);
    }

    #[test]
    fn decivolt_scale_reads_the_discover_variant() {
        let f = frame(0x356, &[0x0A, 0x02, 0x11, 0xFF, 0xBE, 0x00]);
        let PylonMessage::Measurements(strict) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(strict.pack_voltage_v, 5.22);
        let PylonMessage::Measurements(variant) = decode_with(&f, VoltageScale::Decivolt).unwrap()
        else {
            panic!()
        };
        assert_eq!(variant.pack_voltage_v, 52.2);
        assert_eq!(variant.current_a, -23.9);
        assert_eq!(variant.temperature_c, 19.0);
    }

    fn full_state() -> PylonState {
        let mut st = PylonState::default();
        for m in sample_messages() {
            st.apply(m);
        }
        st
    }

    #[test]
    fn state_assembles_a_snapshot() {
        let st = full_state();
        assert!(st.missing().is_empty());
        assert_eq!(st.snapshot().unwrap().nominal_ah, Some(280.0));
        let snap = st.snapshot().unwrap();
        assert_eq!(snap.pack_voltage_v, 49.87);
        assert_eq!(snap.current_a, -27.9);
        assert_eq!(snap.soc_pct, Some(88.0));
        assert_eq!(snap.temperatures_c, vec![36.3]);
        assert_eq!(
            snap.protection,
            vec![
                "undervoltage",
                "bms_internal",
                "high_voltage",
                "cell_imbalance"
            ]
        );
        assert_eq!(snap.model.as_deref(), Some("PYLON"));
        assert_eq!(st.scaling_suspect(), None);
    }

    #[test]
    fn state_reports_what_is_missing() {
        let mut st = PylonState::default();
        assert_eq!(st.missing(), BROADCAST_IDS.to_vec());
        let err = st.snapshot().unwrap_err().to_string();
        assert_eq!(err, "pylontech: no measurements received yet (frame 356)");
        st.apply(sample_messages().remove(2));
        assert!(st.snapshot().unwrap_err().to_string().contains("355"));
    }

    #[test]
    fn state_flags_decivolt_voltage_as_a_scaling_suspect() {
        let mut st = full_state();
        let f = frame(0x356, &[0x0A, 0x02, 0x11, 0xFF, 0xBE, 0x00]);
        st.apply(decode(&f).unwrap());
        let why = st
            .scaling_suspect()
            .expect("5.22 V under a 46 V floor is suspect");
        assert!(why.contains("0.1 V steps"), "{why}");
    }

    #[test]
    fn json_keys_carry_units() {
        let v = serde_json::to_value(&sample_messages()[2]).unwrap();
        assert_eq!(v["frame"], "measurements");
        assert_eq!(v["pack_voltage_v"], 49.87);
        assert_eq!(v["current_a"], -27.9);
        assert_eq!(v["temperature_c"], 36.3);
        let v = serde_json::to_value(&sample_messages()[3]).unwrap();
        assert_eq!(v["protection"][0], "undervoltage");
    }
}
