//! JBD configuration: the EEPROM register map 0x10–0x47 with units, the 0x2D unit flag,
//! length-prefixed strings 0xA0–0xA2, the PIN (0x06) and MOS control (0xE1).
//!
//! Values cross this module in engineering units (V, A, Ah, °C, s, %, mΩ); the register
//! definition converts to and from the u16 on the wire. Capacity, current and shunt
//! registers depend on the unit flag (0x2D bit 12), so every conversion takes a
//! [`CapacityUnit`] and the caller must know it (read 0x2D first).

use serde::{Serialize, Serializer};
use thiserror::Error;

use super::payload::PackedDate;
use super::DecodeError;

/// LSB of capacity and current values: 10 mA / 10 mAh by default, 100 with 0x2D bit 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityUnit {
    #[default]
    TenMilli,
    HundredMilli,
}

impl CapacityUnit {
    /// Amperes (or ampere-hours) per LSB.
    pub fn lsb(self) -> f64 {
        match self {
            CapacityUnit::TenMilli => 0.01,
            CapacityUnit::HundredMilli => 0.1,
        }
    }

    pub fn amps(self, raw: i16) -> f64 {
        scale(f64::from(raw), self.lsb())
    }

    pub fn amp_hours(self, raw: u16) -> f64 {
        scale(f64::from(raw), self.lsb())
    }
}

// Multiplying by 0.01 gives 20.119999…; dividing by the LSB count keeps decimal values exact.
fn scale(raw: f64, lsb: f64) -> f64 {
    raw / (1.0 / lsb).round()
}

/// Register 0x2D function-configuration bits [bms-tools; jbdtool; JBD V11 doc §5 note 2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct FunctionConfig(pub u16);

impl FunctionConfig {
    pub const SWITCH: u16 = 1 << 0;
    pub const SHORT_CIRCUIT_LOAD_DETECT: u16 = 1 << 1;
    pub const BALANCE_ENABLE: u16 = 1 << 2;
    pub const BALANCE_WHILE_CHARGING: u16 = 1 << 3;
    pub const LED_ENABLE: u16 = 1 << 4;
    pub const LED_COUNT: u16 = 1 << 5;
    pub const FCC_LIMIT: u16 = 1 << 6;
    pub const RTC: u16 = 1 << 7;
    pub const CHARGE_HANDSHAKE: u16 = 1 << 8;
    pub const GPS: u16 = 1 << 9;
    pub const BUZZER: u16 = 1 << 10;
    pub const START_BATTERY: u16 = 1 << 11;
    /// Capacity, current, OC thresholds ×10 and shunt in 0.01 mΩ.
    pub const UNIT_X10: u16 = 1 << 12;

    pub fn unit(self) -> CapacityUnit {
        if self.0 & Self::UNIT_X10 != 0 {
            CapacityUnit::HundredMilli
        } else {
            CapacityUnit::TenMilli
        }
    }
}

/// How a register's u16 maps to an engineering value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Ah; 10 mAh, or 100 mAh with the unit flag.
    Capacity,
    /// V per cell; 1 mV.
    Millivolts,
    /// V for the pack; 10 mV.
    Centivolts,
    /// °C; 0.1 K absolute (2731 = 0 °C).
    DeciKelvin,
    /// A, positive; s16 in 10 mA (100 mA with the unit flag).
    ChargeCurrent,
    /// A, given positive; sent negative in two's complement (V11: 1 A → 65436).
    DischargeCurrent,
    /// %; 0.1 %.
    DeciPercent,
    /// mΩ; 0.1 mΩ, or 0.01 mΩ with the unit flag or the value's MSB set.
    ShuntResistor,
    /// Plain count or seconds, LSB 1.
    Plain { unit: &'static str },
    /// Packed production date.
    Date,
    /// Bit field, kept raw.
    Bits,
    /// Two one-byte values (high byte first on the wire), e.g. two delays in seconds.
    Pair {
        first: &'static str,
        second: &'static str,
    },
}

/// One EEPROM register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegisterDef {
    pub address: u8,
    /// snake_case name used in profiles, logs and JSON.
    pub name: &'static str,
    pub encoding: Encoding,
}

/// A register's value in engineering terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RegisterValue {
    Quantity {
        value: f64,
        unit: &'static str,
    },
    Date {
        #[serde(serialize_with = "iso_date")]
        date: PackedDate,
    },
    Bits {
        bits: u16,
    },
    Pair {
        first: u8,
        second: u8,
    },
}

fn iso_date<S: Serializer>(d: &PackedDate, s: S) -> Result<S::Ok, S::Error> {
    match d.iso() {
        Some(iso) => s.serialize_str(&iso),
        None => s.serialize_none(),
    }
}

/// Why a value cannot be written to a register.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValueError {
    #[error(
        "{register}: {value} {unit} is outside what the register holds ({min} to {max} {unit})"
    )]
    OutOfRange {
        register: &'static str,
        value: f64,
        unit: &'static str,
        min: f64,
        max: f64,
    },
    #[error("{register}: value is not a finite number")]
    NotFinite { register: &'static str },
    #[error("{register}: expects {expected}, got {got}")]
    WrongKind {
        register: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("{register}: {value} is not a whole number of {unit}")]
    NotWhole {
        register: &'static str,
        value: f64,
        unit: &'static str,
    },
    #[error("string is {len} bytes, a JBD string register holds at most {max}")]
    StringTooLong { len: usize, max: usize },
    #[error("string contains {found:?} at position {position}: only printable ASCII is stored")]
    StringNotAscii { position: usize, found: char },
    #[error("PIN must be exactly 6 digits, got {got:?}")]
    BadPin { got: String },
    #[error(
        "MOS control value {value} is outside 0..=3 (the doc: \"do not over the defined value\")"
    )]
    MosOutOfRange { value: u16 },
}

impl RegisterValue {
    fn kind(&self) -> &'static str {
        match self {
            RegisterValue::Quantity { .. } => "a number",
            RegisterValue::Date { .. } => "a date",
            RegisterValue::Bits { .. } => "a bit field",
            RegisterValue::Pair { .. } => "a pair of bytes",
        }
    }

    /// The numeric value of a quantity.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            RegisterValue::Quantity { value, .. } => Some(*value),
            _ => None,
        }
    }
}

impl RegisterDef {
    /// Unit string of the engineering value.
    pub fn unit(&self) -> &'static str {
        match self.encoding {
            Encoding::Capacity => "Ah",
            Encoding::Millivolts | Encoding::Centivolts => "V",
            Encoding::DeciKelvin => "C",
            Encoding::ChargeCurrent | Encoding::DischargeCurrent => "A",
            Encoding::DeciPercent => "%",
            Encoding::ShuntResistor => "mOhm",
            Encoding::Plain { unit } => unit,
            Encoding::Date | Encoding::Bits | Encoding::Pair { .. } => "",
        }
    }

    /// Size of one step in the engineering unit, for numeric encodings.
    pub fn resolution(&self, unit: CapacityUnit) -> Option<f64> {
        Some(match self.encoding {
            Encoding::Capacity | Encoding::ChargeCurrent | Encoding::DischargeCurrent => unit.lsb(),
            Encoding::Millivolts => 0.001,
            Encoding::Centivolts => 0.01,
            Encoding::DeciKelvin | Encoding::DeciPercent => 0.1,
            Encoding::ShuntResistor => match unit {
                CapacityUnit::TenMilli => 0.1,
                CapacityUnit::HundredMilli => 0.01,
            },
            Encoding::Plain { .. } => 1.0,
            Encoding::Date | Encoding::Bits | Encoding::Pair { .. } => return None,
        })
    }

    pub fn decode(&self, raw: u16, unit: CapacityUnit) -> RegisterValue {
        let q = |value: f64| RegisterValue::Quantity {
            value,
            unit: self.unit(),
        };
        let steps = |raw: f64| scale(raw, self.resolution(unit).unwrap_or(1.0));
        match self.encoding {
            Encoding::Capacity
            | Encoding::Millivolts
            | Encoding::Centivolts
            | Encoding::DeciPercent
            | Encoding::Plain { .. } => q(steps(f64::from(raw))),
            Encoding::DeciKelvin => q(super::payload::celsius_from_deci_kelvin(raw)),
            Encoding::ChargeCurrent => q(steps(f64::from(raw as i16))),
            // Boards store it negative; report the magnitude either way.
            Encoding::DischargeCurrent => q(steps(f64::from(raw as i16).abs())),
            Encoding::ShuntResistor if raw & 0x8000 != 0 => q(scale(f64::from(raw & 0x7FFF), 0.01)),
            Encoding::ShuntResistor => q(steps(f64::from(raw))),
            Encoding::Date => RegisterValue::Date {
                date: PackedDate(raw),
            },
            Encoding::Bits => RegisterValue::Bits { bits: raw },
            Encoding::Pair { .. } => {
                let [first, second] = raw.to_be_bytes();
                RegisterValue::Pair { first, second }
            }
        }
    }

    /// The wire value for `value`, rounded to the register's resolution. Refuses values the
    /// register cannot hold rather than wrapping them.
    pub fn encode(&self, value: &RegisterValue, unit: CapacityUnit) -> Result<u16, ValueError> {
        let wrong = |expected| ValueError::WrongKind {
            register: self.name,
            expected,
            got: value.kind(),
        };
        match (self.encoding, value) {
            (Encoding::Date, RegisterValue::Date { date }) => Ok(date.0),
            (Encoding::Date, _) => Err(wrong("a date")),
            (Encoding::Bits, RegisterValue::Bits { bits }) => Ok(*bits),
            (Encoding::Bits, _) => Err(wrong("a bit field")),
            (Encoding::Pair { .. }, RegisterValue::Pair { first, second }) => {
                Ok(u16::from_be_bytes([*first, *second]))
            }
            (Encoding::Pair { .. }, _) => Err(wrong("a pair of bytes")),
            (_, RegisterValue::Quantity { value, .. }) => self.encode_number(*value, unit),
            (_, _) => Err(wrong("a number")),
        }
    }

    fn encode_number(&self, value: f64, unit: CapacityUnit) -> Result<u16, ValueError> {
        if !value.is_finite() {
            return Err(ValueError::NotFinite {
                register: self.name,
            });
        }
        let per_unit = (1.0 / self.resolution(unit).unwrap_or(1.0)).round();
        if self.encoding == Encoding::ShuntResistor && unit == CapacityUnit::TenMilli {
            // A value finer than 0.1 mΩ uses the V11 form: MSB set, 0.01 mΩ in the low 15 bits.
            let hundredths = (value * 100.0).round();
            if hundredths % 10.0 != 0.0 && (0.0..=32767.0).contains(&hundredths) {
                return Ok(0x8000 | hundredths as u16);
            }
        }
        // Wire value = value × steps-per-unit + offset, within the field's range.
        let (offset, max_raw) = match self.encoding {
            Encoding::DeciKelvin => (2731.0, 65535.0),
            Encoding::ChargeCurrent => (0.0, 32767.0),
            // Sent as the negative of the magnitude, so the magnitude may reach 32768.
            Encoding::DischargeCurrent => (0.0, 32768.0),
            _ => (0.0, 65535.0),
        };
        let raw = (value * per_unit + offset).round();
        if !(0.0..=max_raw).contains(&raw) {
            return Err(ValueError::OutOfRange {
                register: self.name,
                value,
                unit: self.unit(),
                min: -offset / per_unit,
                max: (max_raw - offset) / per_unit,
            });
        }
        if matches!(self.encoding, Encoding::Plain { .. }) && value.fract() != 0.0 {
            return Err(ValueError::NotWhole {
                register: self.name,
                value,
                unit: self.unit(),
            });
        }
        let raw = raw as u32;
        Ok(match self.encoding {
            Encoding::DischargeCurrent => (raw as u16).wrapping_neg(),
            _ => raw as u16,
        })
    }
}

const fn def(address: u8, name: &'static str, encoding: Encoding) -> RegisterDef {
    RegisterDef {
        address,
        name,
        encoding,
    }
}

const SECONDS: Encoding = Encoding::Plain { unit: "s" };
const COUNT: Encoding = Encoding::Plain { unit: "" };

/// The registers Packwright writes, by name: the one place their numbers are spelled (the
/// configuration plan and the end-of-line bench name them from here).
pub mod reg {
    pub const DESIGN_CAPACITY: u8 = 0x10;
    pub const CYCLE_CAPACITY: u8 = 0x11;
    pub const FULL_CHARGE_VOLTAGE: u8 = 0x12;
    pub const END_OF_DISCHARGE_VOLTAGE: u8 = 0x13;
    pub const CHARGE_OVERTEMP_TRIGGER: u8 = 0x18;
    pub const CHARGE_OVERTEMP_RELEASE: u8 = 0x19;
    pub const CHARGE_UNDERTEMP_TRIGGER: u8 = 0x1A;
    pub const CHARGE_UNDERTEMP_RELEASE: u8 = 0x1B;
    pub const DISCHARGE_OVERTEMP_TRIGGER: u8 = 0x1C;
    pub const DISCHARGE_OVERTEMP_RELEASE: u8 = 0x1D;
    pub const DISCHARGE_UNDERTEMP_TRIGGER: u8 = 0x1E;
    pub const DISCHARGE_UNDERTEMP_RELEASE: u8 = 0x1F;
    pub const PACK_OV_TRIGGER: u8 = 0x20;
    pub const PACK_OV_RELEASE: u8 = 0x21;
    pub const PACK_UV_TRIGGER: u8 = 0x22;
    pub const PACK_UV_RELEASE: u8 = 0x23;
    pub const CELL_OV_TRIGGER: u8 = 0x24;
    pub const CELL_OV_RELEASE: u8 = 0x25;
    pub const CELL_UV_TRIGGER: u8 = 0x26;
    pub const CELL_UV_RELEASE: u8 = 0x27;
    pub const CHARGE_OVERCURRENT: u8 = 0x28;
    pub const DISCHARGE_OVERCURRENT: u8 = 0x29;
    pub const BALANCE_START_VOLTAGE: u8 = 0x2A;
    pub const BALANCE_WINDOW: u8 = 0x2B;
    pub const NTC_CONFIG: u8 = 0x2E;
    pub const CELL_COUNT: u8 = 0x2F;
}

/// The classic EEPROM map 0x10–0x47 [bms-tools `JBD_REGISTER_MAP.md`, `jbd.py`; jbdtool
/// `jbd_info.h`; JBD V11 doc §5], in address order with no gaps.
pub const EEPROM: [RegisterDef; 56] = [
    def(reg::DESIGN_CAPACITY, "design_capacity", Encoding::Capacity),
    def(reg::CYCLE_CAPACITY, "cycle_capacity", Encoding::Capacity),
    def(
        reg::FULL_CHARGE_VOLTAGE,
        "full_charge_voltage",
        Encoding::Millivolts,
    ),
    def(
        reg::END_OF_DISCHARGE_VOLTAGE,
        "end_of_discharge_voltage",
        Encoding::Millivolts,
    ),
    def(0x14, "self_discharge_rate", Encoding::DeciPercent),
    def(0x15, "manufacture_date", Encoding::Date),
    def(0x16, "serial_number", COUNT),
    def(0x17, "cycle_count", COUNT),
    def(
        reg::CHARGE_OVERTEMP_TRIGGER,
        "charge_overtemp_trigger",
        Encoding::DeciKelvin,
    ),
    def(
        reg::CHARGE_OVERTEMP_RELEASE,
        "charge_overtemp_release",
        Encoding::DeciKelvin,
    ),
    def(
        reg::CHARGE_UNDERTEMP_TRIGGER,
        "charge_undertemp_trigger",
        Encoding::DeciKelvin,
    ),
    def(
        reg::CHARGE_UNDERTEMP_RELEASE,
        "charge_undertemp_release",
        Encoding::DeciKelvin,
    ),
    def(
        reg::DISCHARGE_OVERTEMP_TRIGGER,
        "discharge_overtemp_trigger",
        Encoding::DeciKelvin,
    ),
    def(
        reg::DISCHARGE_OVERTEMP_RELEASE,
        "discharge_overtemp_release",
        Encoding::DeciKelvin,
    ),
    def(
        reg::DISCHARGE_UNDERTEMP_TRIGGER,
        "discharge_undertemp_trigger",
        Encoding::DeciKelvin,
    ),
    def(
        reg::DISCHARGE_UNDERTEMP_RELEASE,
        "discharge_undertemp_release",
        Encoding::DeciKelvin,
    ),
    def(
        reg::PACK_OV_TRIGGER,
        "pack_ov_trigger",
        Encoding::Centivolts,
    ),
    def(
        reg::PACK_OV_RELEASE,
        "pack_ov_release",
        Encoding::Centivolts,
    ),
    def(
        reg::PACK_UV_TRIGGER,
        "pack_uv_trigger",
        Encoding::Centivolts,
    ),
    def(
        reg::PACK_UV_RELEASE,
        "pack_uv_release",
        Encoding::Centivolts,
    ),
    def(
        reg::CELL_OV_TRIGGER,
        "cell_ov_trigger",
        Encoding::Millivolts,
    ),
    def(
        reg::CELL_OV_RELEASE,
        "cell_ov_release",
        Encoding::Millivolts,
    ),
    def(
        reg::CELL_UV_TRIGGER,
        "cell_uv_trigger",
        Encoding::Millivolts,
    ),
    def(
        reg::CELL_UV_RELEASE,
        "cell_uv_release",
        Encoding::Millivolts,
    ),
    def(
        reg::CHARGE_OVERCURRENT,
        "charge_overcurrent",
        Encoding::ChargeCurrent,
    ),
    def(
        reg::DISCHARGE_OVERCURRENT,
        "discharge_overcurrent",
        Encoding::DischargeCurrent,
    ),
    def(
        reg::BALANCE_START_VOLTAGE,
        "balance_start_voltage",
        Encoding::Millivolts,
    ),
    def(reg::BALANCE_WINDOW, "balance_window", Encoding::Millivolts),
    def(0x2C, "shunt_resistor", Encoding::ShuntResistor),
    def(0x2D, "function_config", Encoding::Bits),
    def(reg::NTC_CONFIG, "ntc_config", Encoding::Bits),
    def(reg::CELL_COUNT, "cell_count", COUNT),
    def(0x30, "fet_control_time", SECONDS),
    def(0x31, "led_timer", SECONDS),
    def(0x32, "soc_80_voltage", Encoding::Millivolts),
    def(0x33, "soc_60_voltage", Encoding::Millivolts),
    def(0x34, "soc_40_voltage", Encoding::Millivolts),
    def(0x35, "soc_20_voltage", Encoding::Millivolts),
    def(0x36, "hw_cell_ov", Encoding::Millivolts),
    def(0x37, "hw_cell_uv", Encoding::Millivolts),
    def(0x38, "hw_short_circuit_config", Encoding::Bits),
    def(0x39, "hw_delays", Encoding::Bits),
    def(
        0x3A,
        "charge_temp_delays",
        Encoding::Pair {
            first: "undertemp_s",
            second: "overtemp_s",
        },
    ),
    def(
        0x3B,
        "discharge_temp_delays",
        Encoding::Pair {
            first: "undertemp_s",
            second: "overtemp_s",
        },
    ),
    def(
        0x3C,
        "pack_voltage_delays",
        Encoding::Pair {
            first: "uv_s",
            second: "ov_s",
        },
    ),
    def(
        0x3D,
        "cell_voltage_delays",
        Encoding::Pair {
            first: "uv_s",
            second: "ov_s",
        },
    ),
    def(
        0x3E,
        "charge_oc_delays",
        Encoding::Pair {
            first: "delay_s",
            second: "release_s",
        },
    ),
    def(
        0x3F,
        "discharge_oc_delays",
        Encoding::Pair {
            first: "delay_s",
            second: "release_s",
        },
    ),
    def(0x40, "gps_off_voltage", Encoding::Millivolts),
    def(0x41, "gps_off_time", SECONDS),
    def(0x42, "soc_90_voltage", Encoding::Millivolts),
    def(0x43, "soc_70_voltage", Encoding::Millivolts),
    def(0x44, "soc_50_voltage", Encoding::Millivolts),
    def(0x45, "soc_30_voltage", Encoding::Millivolts),
    def(0x46, "soc_10_voltage", Encoding::Millivolts),
    def(0x47, "soc_100_voltage", Encoding::Millivolts),
];

pub const FUNCTION_CONFIG: u8 = 0x2D;
pub const FIRST: u8 = 0x10;
pub const LAST: u8 = 0x47;

pub fn register(address: u8) -> Option<&'static RegisterDef> {
    if (FIRST..=LAST).contains(&address) {
        EEPROM.get(usize::from(address - FIRST))
    } else {
        None
    }
}

pub fn register_by_name(name: &str) -> Option<&'static RegisterDef> {
    EEPROM.iter().find(|d| d.name == name)
}

/// Most characters a string register (0xA0–0xA2) holds [bms-tools `StringReg(maxLen=31)`].
pub const MAX_STRING: usize = 31;

/// `[len][ASCII bytes]`, refusing what the board could not store faithfully.
pub fn encode_string(text: &str) -> Result<Vec<u8>, ValueError> {
    if let Some((position, found)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !(' '..='~').contains(c))
    {
        return Err(ValueError::StringNotAscii { position, found });
    }
    if text.len() > MAX_STRING {
        return Err(ValueError::StringTooLong {
            len: text.len(),
            max: MAX_STRING,
        });
    }
    let mut d = Vec::with_capacity(text.len() + 1);
    d.push(text.len() as u8);
    d.extend_from_slice(text.as_bytes());
    Ok(d)
}

/// Read `[len][bytes]`; bytes after the announced length (padding) are ignored.
pub fn decode_string(register: u8, d: &[u8]) -> Result<String, DecodeError> {
    let Some((&len, rest)) = d.split_first() else {
        return Err(DecodeError::PayloadLength {
            register,
            what: "string",
            expected: "at least 1".to_string(),
            got: 0,
        });
    };
    let len = usize::from(len);
    if len > rest.len() {
        return Err(DecodeError::StringLength {
            register,
            declared: len,
            available: rest.len(),
        });
    }
    Ok(String::from_utf8_lossy(&rest[..len]).into_owned())
}

/// Six-digit PIN for command 0x06, held as digit values (765828 → 07 06 05 08 02 08).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Pin([u8; 6]);

impl std::fmt::Debug for Pin {
    // Keep PINs out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(******)")
    }
}

impl Pin {
    /// The factory default, all zeros.
    pub const DEFAULT: Pin = Pin([0; 6]);

    pub fn parse(text: &str) -> Result<Pin, ValueError> {
        let bad = || ValueError::BadPin {
            got: text.to_string(),
        };
        let digits: Vec<u8> = text
            .chars()
            .map(|c| c.to_digit(10).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let digits: [u8; 6] = digits.try_into().map_err(|_| bad())?;
        Ok(Pin(digits))
    }

    /// From the data of a 0x06 write (`[6][digits]`), as the simulator receives it.
    pub fn from_request_data(d: &[u8]) -> Option<Pin> {
        match d {
            [6, rest @ ..] => rest.try_into().ok().map(Pin),
            _ => None,
        }
    }

    pub fn digits(&self) -> &[u8; 6] {
        &self.0
    }
}

/// Register 0xE1 software MOS control. Only 0..=3 are defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MosControl {
    /// Release any software switch-off.
    Release,
    ChargeOff,
    DischargeOff,
    BothOff,
}

impl MosControl {
    pub fn value(self) -> u16 {
        match self {
            MosControl::Release => 0,
            MosControl::ChargeOff => 1,
            MosControl::DischargeOff => 2,
            MosControl::BothOff => 3,
        }
    }

    pub fn from_value(v: u16) -> Result<MosControl, ValueError> {
        Ok(match v {
            0 => MosControl::Release,
            1 => MosControl::ChargeOff,
            2 => MosControl::DischargeOff,
            3 => MosControl::BothOff,
            value => return Err(ValueError::MosOutOfRange { value }),
        })
    }

    pub fn charge_off(self) -> bool {
        matches!(self, MosControl::ChargeOff | MosControl::BothOff)
    }

    pub fn discharge_off(self) -> bool {
        matches!(self, MosControl::DischargeOff | MosControl::BothOff)
    }

    pub fn describe(self) -> &'static str {
        match self {
            MosControl::Release => "software switch-off released",
            MosControl::ChargeOff => "charge FET off, discharge FET released",
            MosControl::DischargeOff => "charge FET released, discharge FET off",
            MosControl::BothOff => "charge and discharge FETs off",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(value: f64) -> RegisterValue {
        RegisterValue::Quantity { value, unit: "" }
    }

    #[test]
    fn map_is_dense_and_names_are_unique() {
        for (i, d) in EEPROM.iter().enumerate() {
            assert_eq!(usize::from(d.address), usize::from(FIRST) + i, "{}", d.name);
            assert_eq!(register(d.address), Some(d));
            assert_eq!(register_by_name(d.name), Some(d));
        }
        assert_eq!(register(0x0F), None);
        assert_eq!(register(0x48), None);
    }

    #[test]
    fn units_convert_both_ways() {
        let cell_ov = register(0x24).unwrap();
        assert_eq!(cell_ov.encode(&q(4.2), CapacityUnit::TenMilli), Ok(4200));
        assert_eq!(
            cell_ov.decode(4200, CapacityUnit::TenMilli),
            RegisterValue::Quantity {
                value: 4.2,
                unit: "V"
            }
        );
        let pack_ov = register(0x20).unwrap();
        assert_eq!(pack_ov.encode(&q(58.4), CapacityUnit::TenMilli), Ok(5840));
        let temp = register(0x18).unwrap();
        assert_eq!(temp.encode(&q(55.0), CapacityUnit::TenMilli), Ok(3281));
        assert_eq!(temp.encode(&q(-10.0), CapacityUnit::TenMilli), Ok(2631));
        assert_eq!(
            temp.decode(2631, CapacityUnit::TenMilli).as_f64(),
            Some(-10.0)
        );
    }

    #[test]
    fn unit_flag_scales_capacity_current_and_shunt() {
        let cap = register(0x10).unwrap();
        assert_eq!(cap.encode(&q(280.0), CapacityUnit::TenMilli), Ok(28000));
        assert_eq!(cap.encode(&q(280.0), CapacityUnit::HundredMilli), Ok(2800));
        // 1000 Ah does not fit 10 mAh steps: the reason big packs need bit 12.
        assert!(matches!(
            cap.encode(&q(1000.0), CapacityUnit::TenMilli),
            Err(ValueError::OutOfRange { max, .. }) if max == 655.35
        ));
        assert_eq!(
            cap.encode(&q(1000.0), CapacityUnit::HundredMilli),
            Ok(10000)
        );
        assert_eq!(
            cap.decode(2800, CapacityUnit::HundredMilli).as_f64(),
            Some(280.0)
        );
        let shunt = register(0x2C).unwrap();
        assert_eq!(shunt.decode(10, CapacityUnit::TenMilli).as_f64(), Some(1.0));
        assert_eq!(
            shunt.decode(10, CapacityUnit::HundredMilli).as_f64(),
            Some(0.1)
        );
        assert_eq!(
            shunt.decode(0x800A, CapacityUnit::TenMilli).as_f64(),
            Some(0.1)
        );
        assert_eq!(FunctionConfig(0x1004).unit(), CapacityUnit::HundredMilli);
        assert_eq!(FunctionConfig(0x0004).unit(), CapacityUnit::TenMilli);
    }

    #[test]
    fn discharge_overcurrent_is_sent_negative() {
        let dsg = register(0x29).unwrap();
        // V11: "assuming the setting value is 1A … the transmitted value is 65436".
        assert_eq!(dsg.encode(&q(1.0), CapacityUnit::TenMilli), Ok(65436));
        assert_eq!(
            dsg.decode(65436, CapacityUnit::TenMilli).as_f64(),
            Some(1.0)
        );
        assert_eq!(
            dsg.encode(&q(150.0), CapacityUnit::HundredMilli),
            Ok(0u16.wrapping_sub(1500))
        );
        assert!(dsg.encode(&q(-1.0), CapacityUnit::TenMilli).is_err());
        assert!(dsg.encode(&q(400.0), CapacityUnit::TenMilli).is_err());
        let chg = register(0x28).unwrap();
        assert_eq!(chg.encode(&q(100.0), CapacityUnit::TenMilli), Ok(10000));
        assert!(chg.encode(&q(400.0), CapacityUnit::TenMilli).is_err());
    }

    #[test]
    fn wrong_kinds_and_non_numbers_are_refused() {
        let date = register(0x15).unwrap();
        assert!(matches!(
            date.encode(&q(1.0), CapacityUnit::TenMilli),
            Err(ValueError::WrongKind { .. })
        ));
        let d = PackedDate::from_ymd(2024, 5, 17).unwrap();
        assert_eq!(
            date.encode(&RegisterValue::Date { date: d }, CapacityUnit::TenMilli),
            Ok(d.0)
        );
        let cell_ov = register(0x24).unwrap();
        assert_eq!(
            cell_ov.encode(&q(f64::NAN), CapacityUnit::TenMilli),
            Err(ValueError::NotFinite {
                register: "cell_ov_trigger"
            })
        );
        assert!(cell_ov.encode(&q(-0.1), CapacityUnit::TenMilli).is_err());
        let count = register(0x2F).unwrap();
        assert!(matches!(
            count.encode(&q(4.5), CapacityUnit::TenMilli),
            Err(ValueError::NotWhole { .. })
        ));
        let pair = register(0x3D).unwrap();
        assert_eq!(
            pair.encode(
                &RegisterValue::Pair {
                    first: 2,
                    second: 3
                },
                CapacityUnit::TenMilli
            ),
            Ok(0x0203)
        );
        assert_eq!(
            pair.decode(0x0203, CapacityUnit::TenMilli),
            RegisterValue::Pair {
                first: 2,
                second: 3
            }
        );
    }

    #[test]
    fn strings_are_length_prefixed_ascii() {
        assert_eq!(encode_string("PW-0042").unwrap(), b"\x07PW-0042".to_vec());
        assert_eq!(decode_string(0xA2, b"\x07PW-0042\0\0").unwrap(), "PW-0042");
        assert_eq!(
            encode_string(&"x".repeat(32)),
            Err(ValueError::StringTooLong { len: 32, max: 31 })
        );
        assert_eq!(
            encode_string("né"),
            Err(ValueError::StringNotAscii {
                position: 1,
                found: 'é'
            })
        );
        assert_eq!(
            decode_string(0xA0, b"\x05DG").unwrap_err().to_string(),
            "register 0xA0: string length byte says 5 but only 2 bytes follow"
        );
    }

    #[test]
    fn pin_and_mos_control() {
        assert_eq!(Pin::parse("765828").unwrap().digits(), &[7, 6, 5, 8, 2, 8]);
        assert!(Pin::parse("76582").is_err());
        assert!(Pin::parse("76582a").is_err());
        assert_eq!(
            format!("{:?}", Pin::parse("123456").unwrap()),
            "Pin(******)"
        );
        assert_eq!(
            Pin::from_request_data(&[6, 0, 0, 0, 0, 0, 0]),
            Some(Pin::DEFAULT)
        );
        assert_eq!(Pin::from_request_data(&[5, 0, 0, 0, 0, 0]), None);
        assert_eq!(MosControl::from_value(2), Ok(MosControl::DischargeOff));
        assert!(MosControl::DischargeOff.discharge_off() && !MosControl::DischargeOff.charge_off());
        assert_eq!(
            MosControl::from_value(4),
            Err(ValueError::MosOutOfRange { value: 4 })
        );
    }
}
