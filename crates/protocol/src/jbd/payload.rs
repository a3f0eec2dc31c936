//! Data fields of the JBD read replies: 0x03 basic info (every firmware length), 0x04 cell
//! voltages, 0x05 model, 0xAA protection counters, V11 0xFA parameter blocks. Each type decodes
//! from and encodes to the data field, so the simulator answers with the client's own codec.

use serde::Serialize;

use super::eeprom::CapacityUnit;
use super::{reg, DecodeError};

/// Offset of the absolute-temperature encoding: value = 2731 + 10 × °C.
pub const KELVIN_OFFSET_DK: i32 = 2731;

pub fn celsius_from_deci_kelvin(raw: u16) -> f64 {
    f64::from(i32::from(raw) - KELVIN_OFFSET_DK) / 10.0
}

/// Nearest wire value for a temperature, saturating at the u16 range.
pub fn deci_kelvin_from_celsius(c: f64) -> u16 {
    (c * 10.0 + f64::from(KELVIN_OFFSET_DK))
        .round()
        .clamp(0.0, f64::from(u16::MAX)) as u16
}

/// Production date packed as day = v & 0x1F, month = (v >> 5) & 0x0F, year = 2000 + (v >> 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct PackedDate(pub u16);

impl PackedDate {
    /// Refuses dates the packing cannot hold (year 2000–2127) and impossible months/days.
    pub fn from_ymd(year: u16, month: u8, day: u8) -> Option<PackedDate> {
        if !(2000..=2127).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day)
        {
            return None;
        }
        Some(PackedDate(
            ((year - 2000) << 9) | (u16::from(month) << 5) | u16::from(day),
        ))
    }

    pub fn year(self) -> u16 {
        2000 + (self.0 >> 9)
    }

    pub fn month(self) -> u8 {
        ((self.0 >> 5) & 0x0F) as u8
    }

    pub fn day(self) -> u8 {
        (self.0 & 0x1F) as u8
    }

    /// `YYYY-MM-DD`, or `None` for an unset/impossible date (month or day 0, month > 12):
    /// boards that were never programmed send 0.
    pub fn iso(self) -> Option<String> {
        let (m, d) = (self.month(), self.day());
        ((1..=12).contains(&m) && d >= 1).then(|| format!("{:04}-{:02}-{:02}", self.year(), m, d))
    }

    /// Parse `YYYY-MM-DD`.
    pub fn parse_iso(text: &str) -> Option<PackedDate> {
        let mut parts = text.trim().splitn(3, '-');
        let y = parts.next()?.parse().ok()?;
        let m = parts.next()?.parse().ok()?;
        let d = parts.next()?.parse().ok()?;
        PackedDate::from_ymd(y, m, d)
    }
}

/// Protection status word of 0x03 (offset 16) [JBD V4 doc note 1; V11 doc note 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ProtectionFlags(pub u16);

impl ProtectionFlags {
    pub const CELL_OVERVOLTAGE: u16 = 1 << 0;
    pub const CELL_UNDERVOLTAGE: u16 = 1 << 1;
    pub const PACK_OVERVOLTAGE: u16 = 1 << 2;
    pub const PACK_UNDERVOLTAGE: u16 = 1 << 3;
    pub const CHARGE_OVERTEMPERATURE: u16 = 1 << 4;
    pub const CHARGE_UNDERTEMPERATURE: u16 = 1 << 5;
    pub const DISCHARGE_OVERTEMPERATURE: u16 = 1 << 6;
    pub const DISCHARGE_UNDERTEMPERATURE: u16 = 1 << 7;
    pub const CHARGE_OVERCURRENT: u16 = 1 << 8;
    pub const DISCHARGE_OVERCURRENT: u16 = 1 << 9;
    pub const SHORT_CIRCUIT: u16 = 1 << 10;
    pub const AFE_ERROR: u16 = 1 << 11;
    pub const MOS_SOFTWARE_LOCK: u16 = 1 << 12;

    /// Names by bit. Bits 13/14 follow V11 (MOS breakdown); V4 calls them reserved.
    pub const NAMES: [&'static str; 16] = [
        "cell_overvoltage",
        "cell_undervoltage",
        "pack_overvoltage",
        "pack_undervoltage",
        "charge_overtemperature",
        "charge_undertemperature",
        "discharge_overtemperature",
        "discharge_undertemperature",
        "charge_overcurrent",
        "discharge_overcurrent",
        "short_circuit",
        "afe_error",
        "mos_software_lock",
        "charge_mos_breakdown",
        "discharge_mos_breakdown",
        "reserved_bit15",
    ];

    pub fn names(self) -> Vec<&'static str> {
        (0..16)
            .filter(|b| self.0 & (1 << b) != 0)
            .map(|b| Self::NAMES[b])
            .collect()
    }

    pub fn contains(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
}

/// FET byte (0x03 offset 20) bits.
pub mod fet {
    pub const CHARGE_ON: u8 = 1 << 0;
    pub const DISCHARGE_ON: u8 = 1 << 1;
    pub const CURRENT_LIMIT_ON: u8 = 1 << 2;
    pub const HEATING_ON: u8 = 1 << 3;
    /// V11: capacity/current in 100 mA / 100 mAh ("V9 added, not used yet").
    pub const UNIT_X10: u8 = 1 << 7;
}

/// Register 0x03. Fields hold wire values so decode → encode is lossless; accessors scale.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicInfo {
    pub voltage_10mv: u16,
    /// Signed, positive while charging. Unit 10 mA, or 100 mA with the unit flag.
    pub current_raw: i16,
    pub remaining_raw: u16,
    pub nominal_raw: u16,
    pub cycles: u16,
    pub date: PackedDate,
    /// bit0 = cell 1 … bit31 = cell 32 (manufacturer order: low word = cells 1–16).
    pub balance: u32,
    pub protection: ProtectionFlags,
    pub software_version: u8,
    pub rsoc_pct: u8,
    pub fet: u8,
    pub cell_count: u8,
    /// One per NTC, 0.1 K.
    pub temperatures_dk: Vec<u16>,
    // Newer firmware appends these, in this order; a field is present only if all earlier ones are.
    pub humidity_pct: Option<u8>,
    pub alarm: Option<u16>,
    pub full_charge_raw: Option<u16>,
    pub remaining2_raw: Option<u16>,
    pub balance_current_ma: Option<u16>,
}

/// Data bytes of 0x03 before the temperatures.
const BASIC_FIXED: usize = 23;

impl BasicInfo {
    pub fn decode(d: &[u8]) -> Result<BasicInfo, DecodeError> {
        let too_short = |expected: String| DecodeError::PayloadLength {
            register: reg::BASIC_INFO,
            what: "basic info",
            expected,
            got: d.len(),
        };
        if d.len() < BASIC_FIXED {
            return Err(too_short(format!("at least {BASIC_FIXED}")));
        }
        let ntc = usize::from(d[22]);
        let base = BASIC_FIXED + 2 * ntc;
        if d.len() < base {
            return Err(too_short(format!("{base} (with {ntc} NTCs)")));
        }
        let ext = &d[base..];
        // Extended fields: humidity u8, alarm u16, full charge u16, remaining u16, balance
        // current u16. A length that cuts one in half is not a firmware variant, it is damage.
        if matches!(ext.len(), 2 | 4 | 6 | 8) {
            return Err(too_short(format!(
                "{base} plus 0, 1, 3, 5, 7 or 9 extension bytes ({} extension bytes cut a field)",
                ext.len()
            )));
        }
        let u16_at = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
        let ext_u16 =
            |i: usize| (ext.len() >= i + 2).then(|| u16::from_be_bytes([ext[i], ext[i + 1]]));
        Ok(BasicInfo {
            voltage_10mv: u16_at(0),
            current_raw: u16_at(2) as i16,
            remaining_raw: u16_at(4),
            nominal_raw: u16_at(6),
            cycles: u16_at(8),
            date: PackedDate(u16_at(10)),
            balance: u32::from(u16_at(12)) | (u32::from(u16_at(14)) << 16),
            protection: ProtectionFlags(u16_at(16)),
            software_version: d[18],
            rsoc_pct: d[19],
            fet: d[20],
            cell_count: d[21],
            temperatures_dk: (0..ntc).map(|i| u16_at(BASIC_FIXED + 2 * i)).collect(),
            humidity_pct: ext.first().copied(),
            alarm: ext_u16(1),
            full_charge_raw: ext_u16(3),
            remaining2_raw: ext_u16(5),
            balance_current_ma: ext_u16(7),
        })
    }

    /// Data field of a 0x03 reply. At most 255 NTCs fit the count byte; extra are dropped.
    pub fn encode(&self) -> Vec<u8> {
        let temps = &self.temperatures_dk[..self.temperatures_dk.len().min(usize::from(u8::MAX))];
        let mut d = Vec::with_capacity(BASIC_FIXED + 2 * temps.len() + 9);
        for w in [
            self.voltage_10mv,
            self.current_raw as u16,
            self.remaining_raw,
            self.nominal_raw,
            self.cycles,
            self.date.0,
            self.balance as u16,
            (self.balance >> 16) as u16,
            self.protection.0,
        ] {
            d.extend_from_slice(&w.to_be_bytes());
        }
        d.extend_from_slice(&[
            self.software_version,
            self.rsoc_pct,
            self.fet,
            self.cell_count,
            temps.len() as u8,
        ]);
        for t in temps {
            d.extend_from_slice(&t.to_be_bytes());
        }
        if let Some(h) = self.humidity_pct {
            d.push(h);
            for w in [
                self.alarm,
                self.full_charge_raw,
                self.remaining2_raw,
                self.balance_current_ma,
            ] {
                match w {
                    Some(w) => d.extend_from_slice(&w.to_be_bytes()),
                    None => break,
                }
            }
        }
        d
    }

    pub fn pack_voltage_v(&self) -> f64 {
        f64::from(self.voltage_10mv) / 100.0
    }

    pub fn current_a(&self, unit: CapacityUnit) -> f64 {
        unit.amps(self.current_raw)
    }

    pub fn remaining_ah(&self, unit: CapacityUnit) -> f64 {
        unit.amp_hours(self.remaining_raw)
    }

    pub fn nominal_ah(&self, unit: CapacityUnit) -> f64 {
        unit.amp_hours(self.nominal_raw)
    }

    pub fn temperatures_c(&self) -> Vec<f64> {
        self.temperatures_dk
            .iter()
            .map(|&t| celsius_from_deci_kelvin(t))
            .collect()
    }

    pub fn charge_fet(&self) -> bool {
        self.fet & fet::CHARGE_ON != 0
    }

    pub fn discharge_fet(&self) -> bool {
        self.fet & fet::DISCHARGE_ON != 0
    }

    /// 1-based numbers of balancing cells (manufacturer bit order, see the module docs).
    pub fn balancing_cells(&self) -> Vec<usize> {
        (0..32)
            .filter(|b| self.balance & (1 << b) != 0)
            .map(|b| b + 1)
            .collect()
    }

    /// `0x12`-style: the byte as firmware discussions quote it (e.g. "firmware 0x21").
    pub fn software_version_hex(&self) -> String {
        format!("0x{:02X}", self.software_version)
    }

    /// The unit the reply itself announces (V11 FET bit 7). Without it the default applies
    /// unless register 0x2D bit 12 says otherwise, which only a factory-mode read can tell.
    pub fn unit_hint(&self) -> CapacityUnit {
        if self.fet & fet::UNIT_X10 != 0 {
            CapacityUnit::HundredMilli
        } else {
            CapacityUnit::TenMilli
        }
    }
}

/// Register 0x04: u16 mV per cell, in series order. A 0 is kept: it is a reading.
pub fn decode_cell_voltages(d: &[u8]) -> Result<Vec<u16>, DecodeError> {
    if !d.len().is_multiple_of(2) {
        return Err(DecodeError::PayloadLength {
            register: reg::CELL_VOLTAGES,
            what: "cell voltages (2 bytes per cell)",
            expected: "an even number of".to_string(),
            got: d.len(),
        });
    }
    Ok(d.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

pub fn encode_cell_voltages(cells_mv: &[u16]) -> Vec<u8> {
    cells_mv.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Register 0x05: the model string is the whole data field; cut at the first NUL as boards pad.
pub fn decode_model(d: &[u8]) -> String {
    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    String::from_utf8_lossy(&d[..end]).into_owned()
}

/// The bytes as text if they are all printable ASCII (NUL padding allowed at the end).
pub fn printable_text(d: &[u8]) -> Option<String> {
    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    let text = &d[..end];
    (!text.is_empty() && text.iter().all(|b| (0x20..0x7F).contains(b)))
        .then(|| String::from_utf8_lossy(text).into_owned())
}

/// Register 0xAA protection counters, in wire order [V11 doc §3.4].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ErrorCounters {
    pub short_circuit: u16,
    pub charge_overcurrent: u16,
    pub discharge_overcurrent: u16,
    pub cell_overvoltage: u16,
    pub cell_undervoltage: u16,
    pub charge_overtemperature: u16,
    pub charge_undertemperature: u16,
    pub discharge_overtemperature: u16,
    pub discharge_undertemperature: u16,
    pub pack_overvoltage: u16,
    pub pack_undervoltage: u16,
    /// Present when the reply is 24 bytes long (V11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_restarts: Option<u16>,
}

impl ErrorCounters {
    pub fn decode(d: &[u8]) -> Result<ErrorCounters, DecodeError> {
        if d.len() != 22 && d.len() != 24 {
            return Err(DecodeError::PayloadLength {
                register: reg::ERROR_COUNTERS,
                what: "error counters",
                expected: "22 or 24".to_string(),
                got: d.len(),
            });
        }
        let w: Vec<u16> = d
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        Ok(ErrorCounters {
            short_circuit: w[0],
            charge_overcurrent: w[1],
            discharge_overcurrent: w[2],
            cell_overvoltage: w[3],
            cell_undervoltage: w[4],
            charge_overtemperature: w[5],
            charge_undertemperature: w[6],
            discharge_overtemperature: w[7],
            discharge_undertemperature: w[8],
            pack_overvoltage: w[9],
            pack_undervoltage: w[10],
            system_restarts: w.get(11).copied(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut words = vec![
            self.short_circuit,
            self.charge_overcurrent,
            self.discharge_overcurrent,
            self.cell_overvoltage,
            self.cell_undervoltage,
            self.charge_overtemperature,
            self.charge_undertemperature,
            self.discharge_overtemperature,
            self.discharge_undertemperature,
            self.pack_overvoltage,
            self.pack_undervoltage,
        ];
        words.extend(self.system_restarts);
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }
}

/// V11 0xFA reply: `[param_hi][param_lo][count]` then `count` u16 values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockParams {
    pub start_param: u16,
    pub values: Vec<u16>,
}

impl BlockParams {
    pub fn decode(d: &[u8]) -> Result<BlockParams, DecodeError> {
        let err = |expected: String| DecodeError::PayloadLength {
            register: reg::BLOCK_PARAMS,
            what: "parameter block",
            expected,
            got: d.len(),
        };
        if d.len() < 3 {
            return Err(err("at least 3".to_string()));
        }
        let count = usize::from(d[2]);
        if d.len() != 3 + 2 * count {
            return Err(err(format!(
                "{} (count byte says {count} values)",
                3 + 2 * count
            )));
        }
        Ok(BlockParams {
            start_param: u16::from_be_bytes([d[0], d[1]]),
            values: d[3..]
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        })
    }

    /// The block's values as bytes, for the length-prefixed string parameters (56–103).
    pub fn bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_date_matches_the_doc_example() {
        let d = PackedDate(0x2068);
        assert_eq!((d.year(), d.month(), d.day()), (2016, 3, 8));
        assert_eq!(d.iso().as_deref(), Some("2016-03-08"));
        assert_eq!(PackedDate::from_ymd(2016, 3, 8), Some(d));
        assert_eq!(PackedDate::parse_iso("2016-03-08"), Some(d));
        assert_eq!(PackedDate(0).iso(), None);
        assert_eq!(PackedDate::from_ymd(2016, 13, 1), None);
        assert_eq!(PackedDate::from_ymd(1999, 1, 1), None);
        assert_eq!(PackedDate::parse_iso("2016-3"), None);
    }

    #[test]
    fn temperature_conversion_is_symmetric() {
        assert_eq!(deci_kelvin_from_celsius(25.0), 2981);
        assert_eq!(celsius_from_deci_kelvin(2981), 25.0);
        assert_eq!(deci_kelvin_from_celsius(-10.0), 2631);
        assert_eq!(celsius_from_deci_kelvin(2631), -10.0);
    }

    fn sample() -> BasicInfo {
        BasicInfo {
            voltage_10mv: 5320,
            current_raw: -2012,
            remaining_raw: 3493,
            nominal_raw: 4000,
            cycles: 2,
            date: PackedDate(0x2491),
            balance: 0x0001_0005,
            protection: ProtectionFlags(
                ProtectionFlags::CELL_OVERVOLTAGE | ProtectionFlags::SHORT_CIRCUIT,
            ),
            software_version: 0x21,
            rsoc_pct: 87,
            fet: 0x01,
            cell_count: 17,
            temperatures_dk: vec![2968, 2985],
            ..BasicInfo::default()
        }
    }

    #[test]
    fn basic_info_round_trips_every_extension_length() {
        let mut info = sample();
        assert_eq!(BasicInfo::decode(&info.encode()).unwrap(), info);
        assert_eq!(info.encode().len(), 27);
        info.humidity_pct = Some(40);
        assert_eq!(info.encode().len(), 28);
        assert_eq!(BasicInfo::decode(&info.encode()).unwrap(), info);
        info.alarm = Some(0x0400);
        info.full_charge_raw = Some(3900);
        assert_eq!(info.encode().len(), 32);
        assert_eq!(BasicInfo::decode(&info.encode()).unwrap(), info);
        info.remaining2_raw = Some(3000);
        info.balance_current_ma = Some(45);
        assert_eq!(info.encode().len(), 36);
        assert_eq!(BasicInfo::decode(&info.encode()).unwrap(), info);
    }

    #[test]
    fn basic_info_accessors_scale_and_name() {
        let info = sample();
        assert_eq!(info.pack_voltage_v(), 53.2);
        assert_eq!(info.current_a(CapacityUnit::TenMilli), -20.12);
        assert!((info.current_a(CapacityUnit::HundredMilli) - -201.2).abs() < 1e-9);
        assert!((info.remaining_ah(CapacityUnit::HundredMilli) - 349.3).abs() < 1e-9);
        assert_eq!(info.balancing_cells(), vec![1, 3, 17]);
        assert_eq!(
            info.protection.names(),
            vec!["cell_overvoltage", "short_circuit"]
        );
        assert!(info.charge_fet() && !info.discharge_fet());
        assert_eq!(info.software_version_hex(), "0x21");
        assert_eq!(info.temperatures_c(), vec![23.7, 25.4]);
        assert_eq!(info.unit_hint(), CapacityUnit::TenMilli);
        let x10 = BasicInfo {
            fet: 0x83,
            ..sample()
        };
        assert_eq!(x10.unit_hint(), CapacityUnit::HundredMilli);
    }

    #[test]
    fn basic_info_rejects_short_and_cut_lengths() {
        let data = sample().encode();
        let err = BasicInfo::decode(&data[..20]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "register 0x03: basic info needs at least 23 data bytes, got 20"
        );
        let err = BasicInfo::decode(&data[..25]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "register 0x03: basic info needs 27 (with 2 NTCs) data bytes, got 25"
        );
        let mut cut = data.clone();
        cut.extend_from_slice(&[40, 0x04]);
        assert!(matches!(
            BasicInfo::decode(&cut),
            Err(DecodeError::PayloadLength { got: 29, .. })
        ));
        // Unknown bytes beyond the nine known extension bytes are a newer firmware, not damage.
        let mut longer = data.clone();
        longer.extend_from_slice(&[0; 11]);
        assert_eq!(
            BasicInfo::decode(&longer).unwrap().balance_current_ma,
            Some(0)
        );
    }

    #[test]
    fn cells_keep_zero_readings_and_reject_odd_lengths() {
        assert_eq!(
            decode_cell_voltages(&[0x0E, 0x10, 0, 0]).unwrap(),
            vec![3600, 0]
        );
        assert_eq!(encode_cell_voltages(&[3600, 0]), vec![0x0E, 0x10, 0, 0]);
        assert!(decode_cell_voltages(&[0x0E, 0x10, 0]).is_err());
    }

    #[test]
    fn error_counters_with_and_without_restart_word() {
        let mut c = ErrorCounters {
            cell_overvoltage: 122,
            cell_undervoltage: 2,
            ..Default::default()
        };
        assert_eq!(c.encode().len(), 22);
        assert_eq!(ErrorCounters::decode(&c.encode()).unwrap(), c);
        c.system_restarts = Some(1);
        assert_eq!(c.encode().len(), 24);
        assert_eq!(ErrorCounters::decode(&c.encode()).unwrap(), c);
        assert!(ErrorCounters::decode(&[0; 23]).is_err());
    }

    #[test]
    fn block_params_check_the_count_byte() {
        let b = BlockParams::decode(&[0x00, 0x01, 0x02, 0x0F, 0xA0, 0x10, 0x36]).unwrap();
        assert_eq!(
            b,
            BlockParams {
                start_param: 1,
                values: vec![0x0FA0, 0x1036]
            }
        );
        assert_eq!(b.bytes(), vec![0x0F, 0xA0, 0x10, 0x36]);
        assert!(BlockParams::decode(&[0x00, 0x01, 0x02, 0x0F]).is_err());
    }

    #[test]
    fn model_is_cut_at_nul_and_text_must_be_printable() {
        assert_eq!(decode_model(b"JBD-SP04S034\0\0"), "JBD-SP04S034");
        assert_eq!(printable_text(b"DL-BMS"), Some("DL-BMS".to_string()));
        assert_eq!(printable_text(&[0x01, 0x41]), None);
        assert_eq!(printable_text(&[]), None);
    }
}
