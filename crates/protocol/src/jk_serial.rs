//! JK BMS older serial protocol (`4E 57`), 115200 8N1, as in `JKSerial-TTL-20201217`
//! (vendor document, "Communication protocol between monitoring platform and BMS" V2.5).
//!
//! Frame: `4E 57`, LENGTH (2, big-endian: every byte after the two start bytes, checksum
//! included), terminal number (4), command (1), source (1: 0 BMS, 1 Bluetooth, 2 GPS, 3 PC),
//! transport type (1: 0 request, 1 response, 2 active upload), data, record number (4),
//! end `0x68`, checksum (4: high two bytes 0, low two the 16-bit sum of every byte from `4E`
//! through `68`). Commands: 01 activate, 02 write, 03 read one, 05 password ("pair code",
//! before any write), 06 read all.
//!
//! Data is a sequence of identifier + value; value lengths are fixed per identifier
//! ([`value_len`]) except 0x79 (cell voltages), which carries its own length byte.

use crate::snapshot::Protection;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::framing::{check_whole_frame, FrameError, FrameFormat, StreamFramer};
use crate::snapshot::BmsSnapshot;

pub const STX: [u8; 2] = [0x4E, 0x57];
pub const END: u8 = 0x68;
/// STX + LENGTH + terminal + command + source + transport + record + end + checksum.
pub const OVERHEAD: usize = 2 + 2 + 4 + 3 + 4 + 1 + 4;

pub mod command {
    pub const ACTIVATE: u8 = 0x01;
    pub const WRITE: u8 = 0x02;
    pub const READ: u8 = 0x03;
    pub const PASSWORD: u8 = 0x05;
    pub const READ_ALL: u8 = 0x06;
}

pub mod source {
    pub const BMS: u8 = 0x00;
    pub const BLUETOOTH: u8 = 0x01;
    pub const GPS: u8 = 0x02;
    pub const PC: u8 = 0x03;
}

pub mod transport {
    pub const REQUEST: u8 = 0x00;
    pub const RESPONSE: u8 = 0x01;
    pub const UPLOAD: u8 = 0x02;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JkError {
    #[error("empty input: no bytes to decode")]
    Empty,
    #[error("frame starts with {found:02X?}, expected 4E 57")]
    BadStart { found: Vec<u8> },
    #[error("truncated: a frame needs at least {needed} bytes, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error("LENGTH {declared} announces a {} byte frame but there are {actual}", declared + 2)]
    LengthMismatch { declared: usize, actual: usize },
    #[error("LENGTH {declared} is shorter than a frame's fixed part ({min})")]
    LengthTooSmall { declared: usize, min: usize },
    #[error("end byte is 0x{found:02X}, expected 0x68")]
    BadEnd { found: u8 },
    #[error("checksum 0x{stated:08X} but the frame sums to 0x{computed:08X}")]
    Checksum { stated: u32, computed: u32 },
    #[error("data identifier 0x{id:02X} at data byte {at} is not in the document's table")]
    UnknownId { id: u8, at: usize },
    #[error("data identifier 0x{id:02X} needs {needed} bytes, {left} left")]
    ShortValue { id: u8, needed: usize, left: usize },
    #[error("0x{register:02X} is not a writable register (0x8E-0xBF except 0xB7)")]
    NotWritable { register: u8 },
    #[error("0x{register:02X}: {reason}")]
    BadValue { register: u8, reason: String },
    #[error("password is {len} characters: at most 10")]
    Password { len: usize },
    #[error("frame is too long for its 16-bit LENGTH")]
    TooLong,
}

/// 16-bit byte sum, as the checksum's low two bytes carry it.
pub fn checksum(bytes: &[u8]) -> u32 {
    u32::from(
        bytes
            .iter()
            .fold(0u16, |s, &b| s.wrapping_add(u16::from(b))),
    )
}

/// One frame, either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub terminal: u32,
    pub command: u8,
    pub source: u8,
    pub transport: u8,
    pub data: Vec<u8>,
    pub record: u32,
}

impl Frame {
    /// A request from `source` (PC or GPS) with this command and data.
    pub fn request(command: u8, source: u8, data: Vec<u8>) -> Frame {
        Frame {
            terminal: 0,
            command,
            source,
            transport: transport::REQUEST,
            data,
            record: 0,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, JkError> {
        let total = OVERHEAD + self.data.len();
        let length = u16::try_from(total - 2).map_err(|_| JkError::TooLong)?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&STX);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.terminal.to_be_bytes());
        out.extend_from_slice(&[self.command, self.source, self.transport]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.record.to_be_bytes());
        out.push(END);
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_be_bytes());
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, JkError> {
        if bytes.is_empty() {
            return Err(JkError::Empty);
        }
        if bytes.len() < 2 || bytes[..2] != STX {
            return Err(JkError::BadStart {
                found: bytes[..bytes.len().min(2)].to_vec(),
            });
        }
        if bytes.len() < OVERHEAD {
            return Err(JkError::Truncated {
                needed: OVERHEAD,
                got: bytes.len(),
            });
        }
        let declared = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if declared + 2 < OVERHEAD {
            return Err(JkError::LengthTooSmall {
                declared,
                min: OVERHEAD - 2,
            });
        }
        if declared + 2 != bytes.len() {
            return Err(JkError::LengthMismatch {
                declared,
                actual: bytes.len(),
            });
        }
        let n = bytes.len();
        if bytes[n - 5] != END {
            return Err(JkError::BadEnd {
                found: bytes[n - 5],
            });
        }
        let stated = u32::from_be_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
        let computed = checksum(&bytes[..n - 4]);
        if stated != computed {
            return Err(JkError::Checksum { stated, computed });
        }
        Ok(Frame {
            terminal: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            command: bytes[8],
            source: bytes[9],
            transport: bytes[10],
            data: bytes[11..n - 9].to_vec(),
            record: u32::from_be_bytes([bytes[n - 9], bytes[n - 8], bytes[n - 7], bytes[n - 6]]),
        })
    }
}

/// [`FrameFormat`] for the streaming framer (start byte 0x4E, then 0x57 checked in the
/// header).
#[derive(Debug, Clone, Copy, Default)]
pub struct JkFormat;

impl FrameFormat for JkFormat {
    const START: u8 = STX[0];
    const HEADER_LEN: usize = 4;
    const OVERHEAD: usize = OVERHEAD;

    fn frame_len(&self, header: &[u8]) -> Result<usize, FrameError> {
        if header[1] != STX[1] {
            return Err(FrameError::Jk(format!(
                "second start byte is 0x{:02X}, expected 0x57",
                header[1]
            )));
        }
        let declared = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if declared + 2 < OVERHEAD {
            return Err(FrameError::Jk(
                JkError::LengthTooSmall {
                    declared,
                    min: OVERHEAD - 2,
                }
                .to_string(),
            ));
        }
        Ok(declared + 2)
    }

    fn verify(&self, frame: &[u8]) -> Result<(), FrameError> {
        Frame::decode(frame)
            .map(|_| ())
            .map_err(|e| FrameError::Jk(e.to_string()))
    }
}

pub type Framer = StreamFramer<JkFormat>;

pub fn framer() -> Framer {
    StreamFramer::new(JkFormat)
}

pub fn check_frame(bytes: &[u8]) -> Result<(), FrameError> {
    check_whole_frame(&JkFormat, bytes)
}

/// Value length of a data identifier (table 5.1); `None` for 0x79 (own length byte) and
/// identifiers the table does not have.
pub fn value_len(id: u8) -> Option<usize> {
    Some(match id {
        0x80..=0x84 | 0x87 | 0x8A..=0x8C => 2,
        0x85 | 0x86 => 1,
        0x89 => 4,
        0x8E..=0x9C => 2,
        0x9D => 1,
        0x9E..=0xA8 => 2,
        0xA9 => 1,
        0xAA => 4,
        0xAB | 0xAC => 1,
        0xAD => 2,
        0xAE | 0xAF => 1,
        0xB0 => 2,
        0xB1 => 1,
        0xB2 => 10,
        0xB3 => 1,
        0xB4 => 8,
        0xB5 | 0xB6 => 4,
        0xB7 => 15,
        0xB8 => 1,
        0xB9 => 4,
        0xBA => 24,
        0xBB..=0xBD => 1,
        0xBE | 0xBF => 2,
        0xC0 => 1,
        _ => return None,
    })
}

/// Identifier → value bytes of a read-all (0x06) or read (0x03) reply's data, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fields {
    pub values: BTreeMap<u8, Vec<u8>>,
}

impl Fields {
    pub fn decode(data: &[u8]) -> Result<Fields, JkError> {
        let mut values = BTreeMap::new();
        let mut i = 0;
        while i < data.len() {
            let id = data[i];
            let (start, len) = if id == 0x79 {
                let n = usize::from(*data.get(i + 1).ok_or(JkError::ShortValue {
                    id,
                    needed: 1,
                    left: 0,
                })?);
                (i + 2, n)
            } else {
                let len = value_len(id).ok_or(JkError::UnknownId { id, at: i })?;
                (i + 1, len)
            };
            let left = data.len() - start.min(data.len());
            if left < len {
                return Err(JkError::ShortValue {
                    id,
                    needed: len,
                    left,
                });
            }
            values.insert(id, data[start..start + len].to_vec());
            i = start + len;
        }
        Ok(Fields { values })
    }

    /// Data bytes in identifier order (simulators).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (&id, v) in &self.values {
            out.push(id);
            if id == 0x79 {
                out.push(v.len().min(255) as u8);
                out.extend_from_slice(&v[..v.len().min(255)]);
            } else {
                out.extend_from_slice(v);
            }
        }
        out
    }

    fn u(&self, id: u8) -> Option<u64> {
        let v = self.values.get(&id)?;
        Some(v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    fn text(&self, id: u8) -> Option<String> {
        let v = self.values.get(&id)?;
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        Some(
            v[..end]
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
                .to_string(),
        )
    }

    /// Cell voltages of 0x79 (cell number, mV), in the order sent.
    pub fn cells(&self) -> Vec<(u8, u16)> {
        self.values
            .get(&0x79)
            .map(|v| {
                v.chunks_exact(3)
                    .map(|c| (c[0], u16::from_be_bytes([c[1], c[2]])))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Current, A, positive while charging: 10 mA with a charge sign bit when 0xC0 = 1,
    /// otherwise the older (10000 − raw) × 10 mA.
    pub fn current_a(&self) -> Option<f64> {
        let raw = self.u(0x84)? as u16;
        let ca = if self.u(0xC0) == Some(1) {
            let mag = f64::from(raw & 0x7FFF) / 100.0;
            if raw & 0x8000 != 0 || mag == 0.0 {
                mag
            } else {
                -mag
            }
        } else {
            (10000.0 - f64::from(raw)) / 100.0
        };
        Some((ca * 100.0).round() / 100.0)
    }

    pub fn snapshot(&self) -> BmsSnapshot {
        let cells: Vec<u32> = self.cells().iter().map(|&(_, mv)| u32::from(mv)).collect();
        let temps = [0x81u8, 0x82]
            .iter()
            .filter_map(|&id| self.u(id).map(|t| temperature_c(t as u16)))
            .collect();
        let status = self.u(0x8C).unwrap_or(0);
        let warnings = self.u(0x8B).unwrap_or(0);
        BmsSnapshot {
            pack_voltage_v: self.u(0x83).map(|v| v as f64 / 100.0).unwrap_or(0.0),
            current_a: self.current_a().unwrap_or(0.0),
            nominal_ah: self.u(0xAA).map(|v| v as f64),
            cycles: self.u(0x87).map(|v| v as u32),
            soc_pct: self.u(0x85).map(|v| v as f64),
            cell_count: cells.len(),
            cell_voltages_mv: cells,
            temperatures_c: temps,
            protection: WARNING_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| warnings & (1 << i) != 0)
                .map(|(_, n)| Protection::from(*n))
                .collect(),
            charge_fet: self.values.contains_key(&0x8C).then_some(status & 1 != 0),
            discharge_fet: self.values.contains_key(&0x8C).then_some(status & 2 != 0),
            manufacture_date: self.text(0xB5),
            model: self.text(0xB4),
            firmware_version: self.text(0xB7),
            ..BmsSnapshot::default()
        }
    }
}

/// 0x8B warning bits 0–13.
pub const WARNING_NAMES: [&str; 14] = [
    "low_capacity",
    "mos_overtemperature",
    "charge_overvoltage",
    "discharge_undervoltage",
    "battery_overtemperature",
    "charge_overcurrent",
    "discharge_overcurrent",
    "cell_delta",
    "box_overtemperature",
    "battery_undertemperature",
    "cell_overvoltage",
    "cell_undervoltage",
    "protection_309_a",
    "protection_309_b",
];

/// 0x80–0x82: 0–100 is °C, above 100 is −(raw − 100) °C.
pub fn temperature_c(raw: u16) -> f64 {
    if raw > 100 {
        -f64::from(raw - 100)
    } else {
        f64::from(raw)
    }
}

/// The read-all request (0x06) from the PC source, identifier 0x00, as the document shows.
pub fn read_all_request(source: u8) -> Frame {
    Frame::request(command::READ_ALL, source, vec![0x00])
}

/// Reads one identifier (0x03).
pub fn read_request(source: u8, id: u8) -> Frame {
    Frame::request(command::READ, source, vec![id])
}

/// The password ("pair code") frame that must precede a write. Its data is identifier 0xB2
/// and the 10-byte password field, NUL-padded: the field 0xB2 is documented, its use as the
/// 0x05 payload is inferred (the document gives no example).
pub fn password_request(source: u8, password: &str) -> Result<Frame, JkError> {
    if password.len() > 10 || !password.is_ascii() {
        return Err(JkError::Password {
            len: password.len(),
        });
    }
    let mut data = vec![0xB2];
    let mut field = [0u8; 10];
    field[..password.len()].copy_from_slice(password.as_bytes());
    data.extend_from_slice(&field);
    Ok(Frame::request(command::PASSWORD, source, data))
}

/// The frames of a configuration change in the order the document requires: the password
/// frame first, then one write per setting. Refuses the whole sequence if any setting is
/// invalid, so a half-applied configuration is never sent.
pub fn write_sequence(
    source: u8,
    password: &str,
    settings: &[Setting],
) -> Result<Vec<Frame>, JkError> {
    let mut frames = vec![password_request(source, password)?];
    for s in settings {
        frames.push(s.request(source)?);
    }
    Ok(frames)
}

/// The BMS's (simulator's) answer to `request` carrying `data` (read-all: the encoded
/// [`Fields`]; write/password: the identifier written): same terminal, command and source,
/// transport 1 (response).
pub fn reply(request: &Frame, data: Vec<u8>) -> Frame {
    Frame {
        terminal: request.terminal,
        command: request.command,
        source: source::BMS,
        transport: transport::RESPONSE,
        data,
        record: request.record,
    }
}

/// A value for a writable register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Unsigned (or, for 0xA5–0xA8, signed) number in the register's unit.
    Number(i64),
    Text(String),
}

/// One write of a documented R/W register (0x8E–0xBF, 0xB7 is read-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub register: u8,
    pub value: Value,
}

/// Registers holding text (ASCII, NUL-padded to the field length).
fn is_text(register: u8) -> bool {
    matches!(register, 0xB2 | 0xB4 | 0xB5 | 0xBA)
}

/// Signed temperature registers (charge/discharge low-temperature thresholds).
fn is_signed(register: u8) -> bool {
    matches!(register, 0xA5..=0xA8)
}

fn writable(register: u8) -> bool {
    matches!(register, 0x8E..=0xBF) && register != 0xB7
}

/// Documented ranges of the common thresholds, refused outside them.
fn range(register: u8) -> Option<(i64, i64, &'static str)> {
    Some(match register {
        0x8E | 0x8F => (1000, 15000, "10 mV units, 1000-15000"),
        0x90 | 0x91 | 0x93 | 0x94 => (1000, 4500, "mV, 1000-4500"),
        0x92 | 0x95 | 0x98 | 0x9A => (1, 60, "seconds, 1-60"),
        0x96 => (0, 1000, "mV, 0-1000"),
        0x97 | 0x99 => (1, 1000, "A, 1-1000"),
        0x9B => (2000, 4500, "mV, 2000-4500"),
        0x9C => (10, 1000, "mV, 10-1000"),
        0x9D | 0xAB | 0xAC | 0xB3 => (0, 1, "0 off, 1 on"),
        0xA5..=0xA8 => (-45, 25, "°C, -45 to 25"),
        0xA9 => (3, 32, "cells, 3-32"),
        0xAF => (0, 2, "0 LFP, 1 ternary, 2 LTO"),
        0xB1 => (0, 80, "%, 0-80"),
        _ => return None,
    })
}

impl Setting {
    pub fn number(register: u8, value: i64) -> Setting {
        Setting {
            register,
            value: Value::Number(value),
        }
    }

    pub fn text(register: u8, value: &str) -> Setting {
        Setting {
            register,
            value: Value::Text(value.to_string()),
        }
    }

    /// The value bytes, checked against the register's length, type and documented range.
    pub fn value_bytes(&self) -> Result<Vec<u8>, JkError> {
        let r = self.register;
        if !writable(r) {
            return Err(JkError::NotWritable { register: r });
        }
        let len = value_len(r).ok_or(JkError::NotWritable { register: r })?;
        let bad = |reason: String| JkError::BadValue {
            register: r,
            reason,
        };
        match (&self.value, is_text(r)) {
            (Value::Text(t), true) => {
                if !t.is_ascii() || t.len() > len {
                    return Err(bad(format!("text of up to {len} ASCII characters")));
                }
                let mut v = vec![0u8; len];
                v[..t.len()].copy_from_slice(t.as_bytes());
                Ok(v)
            }
            (Value::Number(n), false) => {
                if let Some((lo, hi, unit)) = range(r) {
                    if *n < lo || *n > hi {
                        return Err(bad(format!("{n} is outside {unit}")));
                    }
                }
                let (lo, hi) = if is_signed(r) {
                    (-(1i64 << (len * 8 - 1)), (1i64 << (len * 8 - 1)) - 1)
                } else {
                    (0, (1i64 << (len * 8)) - 1)
                };
                if *n < lo || *n > hi {
                    return Err(bad(format!("{n} does not fit {len} bytes")));
                }
                let be = n.to_be_bytes();
                Ok(be[8 - len..].to_vec())
            }
            (Value::Text(_), false) => Err(bad("takes a number".into())),
            (Value::Number(_), true) => Err(bad("takes text".into())),
        }
    }

    /// The write frame (command 0x02): identifier + value.
    pub fn request(&self, source: u8) -> Result<Frame, JkError> {
        let mut data = vec![self.register];
        data.extend(self.value_bytes()?);
        Ok(Frame::request(command::WRITE, source, data))
    }

    /// A write as the BMS (simulator) receives it.
    pub fn from_request(frame: &Frame) -> Result<Setting, JkError> {
        let (&register, value) = frame.data.split_first().ok_or(JkError::ShortValue {
            id: 0,
            needed: 1,
            left: 0,
        })?;
        if !writable(register) {
            return Err(JkError::NotWritable { register });
        }
        let len = value_len(register).ok_or(JkError::NotWritable { register })?;
        if value.len() != len {
            return Err(JkError::ShortValue {
                id: register,
                needed: len,
                left: value.len(),
            });
        }
        Ok(Setting {
            register,
            value: decode_value(register, value),
        })
    }

    /// Whether a read-back holds this value.
    pub fn verify(&self, read_back: &Fields) -> Result<bool, JkError> {
        let want = self.value_bytes()?;
        Ok(read_back.values.get(&self.register) == Some(&want))
    }
}

fn decode_value(register: u8, bytes: &[u8]) -> Value {
    if is_text(register) {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Value::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
    } else {
        let u = bytes.iter().fold(0i64, |a, &b| (a << 8) | i64::from(b));
        let bits = bytes.len() * 8;
        let n = if is_signed(register) && bits > 0 && u & (1 << (bits - 1)) != 0 {
            u - (1 << bits)
        } else {
            u
        };
        Value::Number(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::parse_hex;

    /// syssi/esphome-jk-bms `docs/protocol-design-uart-ttl-gps-port.md`: request and the
    /// 14-cell reply captured on a real board.
    pub(crate) const SYSSI_REQUEST: &str =
        "4E 57 00 13 00 00 00 00 06 03 00 00 00 00 00 00 68 00 00 01 29";
    pub(crate) const SYSSI_REPLY: &str = "4E 57 01 1B 00 00 00 00 06 00 01 79 2A 01 0E ED 02 0E FA 03 0E F7 04 0E EC 05 0E F8 06 0E FA 07 0E F1 08 0E F8 09 0E E3 0A 0E FA 0B 0E F1 0C 0E FB 0D 0E FB 0E 0E F2 80 00 1D 81 00 1E 82 00 1C 83 14 EF 84 80 D0 85 0F 86 02 87 00 04 89 00 00 00 00 8A 00 0E 8B 00 00 8C 00 07 8E 16 26 8F 10 AE 90 0F D2 91 0F A0 92 00 05 93 0B EA 94 0C 1C 95 00 05 96 01 2C 97 00 07 98 00 03 99 00 05 9A 00 05 9B 0C E4 9C 00 08 9D 01 9E 00 5A 9F 00 46 A0 00 64 A1 00 64 A2 00 14 A3 00 46 A4 00 46 A5 FF EC A6 FF F6 A7 FF EC A8 FF F6 A9 0E AA 00 00 00 0E AB 01 AC 01 AD 04 11 AE 01 AF 01 B0 00 0A B1 14 B2 31 32 33 34 35 36 00 00 00 00 B3 00 B4 49 6E 70 75 74 20 55 73 B5 32 31 30 31 B6 00 00 E2 00 B7 48 36 2E 58 5F 5F 53 36 2E 31 2E 33 53 5F 5F B8 00 B9 00 00 00 00 BA 42 54 33 30 37 32 30 32 30 31 32 30 30 30 30 32 30 30 35 32 31 30 30 31 C0 01 00 00 00 00 68 00 00 54 D1";

    #[test]
    fn read_all_request_is_the_captured_one() {
        assert_eq!(
            read_all_request(source::PC).encode().unwrap(),
            parse_hex(SYSSI_REQUEST).unwrap()
        );
    }

    #[test]
    fn decodes_the_captured_read_all_reply() {
        let bytes = parse_hex(SYSSI_REPLY).unwrap();
        let f = Frame::decode(&bytes).unwrap();
        assert_eq!((f.command, f.source, f.transport), (0x06, 0x00, 0x01));
        let fields = Fields::decode(&f.data).unwrap();
        let snap = fields.snapshot();
        assert_eq!(snap.cell_count, 14);
        assert_eq!(snap.cell_voltages_mv[0], 3821);
        assert_eq!(snap.pack_voltage_v, 53.59);
        assert_eq!(snap.current_a, 2.08);
        assert_eq!(snap.soc_pct, Some(15.0));
        assert_eq!(snap.temperatures_c, vec![30.0, 28.0]);
        assert_eq!(snap.charge_fet, Some(true));
        assert_eq!(snap.discharge_fet, Some(true));
        assert_eq!(snap.cycles, Some(4));
        assert_eq!(snap.firmware_version.as_deref(), Some("H6.X__S6.1.3S__"));
        assert_eq!(snap.manufacture_date.as_deref(), Some("2101"));
        // Signed low-temperature thresholds.
        let s = Setting::from_request(&Setting::number(0xA5, -20).request(source::PC).unwrap())
            .unwrap();
        assert!(s.verify(&fields).unwrap());
        // Re-encoding the fields gives the captured data back.
        assert_eq!(fields.encode(), f.data);
        assert_eq!(f.encode().unwrap(), bytes);
    }

    #[test]
    fn simulator_reply_has_the_captured_header() {
        let captured = Frame::decode(&parse_hex(SYSSI_REPLY).unwrap()).unwrap();
        let fields = Fields::decode(&captured.data).unwrap();
        let mut sim = reply(&read_all_request(source::PC), fields.encode());
        sim.record = captured.record;
        assert_eq!(sim, captured);
    }

    #[test]
    fn writes_are_checked_and_round_trip() {
        let s = Setting::number(0x90, 3650);
        let f = s.request(source::PC).unwrap();
        assert_eq!(f.data, vec![0x90, 0x0E, 0x42]);
        let back = Setting::from_request(&Frame::decode(&f.encode().unwrap()).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(matches!(
            Setting::number(0x90, 5000).request(source::PC),
            Err(JkError::BadValue { .. })
        ));
        assert!(matches!(
            Setting::number(0xB7, 1).request(source::PC),
            Err(JkError::NotWritable { register: 0xB7 })
        ));
        assert!(matches!(
            Setting::number(0x83, 1).request(source::PC),
            Err(JkError::NotWritable { .. })
        ));
        let t = Setting::text(0xBA, "BT3072020120000200521001");
        assert_eq!(t.value_bytes().unwrap().len(), 24);
        assert!(Setting::text(0xB4, "TOO-LONG-ID").value_bytes().is_err());
        let p = password_request(source::PC, "123456").unwrap();
        assert_eq!(p.command, command::PASSWORD);
        assert_eq!(&p.data[..7], b"\xB2123456");
        assert!(password_request(source::PC, "12345678901").is_err());
        let seq = write_sequence(
            source::PC,
            "123456",
            &[Setting::number(0xA9, 16), Setting::number(0xAA, 280)],
        )
        .unwrap();
        assert_eq!(seq.len(), 3);
        assert_eq!(seq[0].command, command::PASSWORD);
        assert_eq!(seq[2].data, vec![0xAA, 0, 0, 0x01, 0x18]);
        assert!(write_sequence(source::PC, "123456", &[Setting::number(0xA9, 40)]).is_err());
    }

    #[test]
    fn framer_finds_the_reply_after_junk() {
        let reply = parse_hex(SYSSI_REPLY).unwrap();
        let mut stream = vec![0x4E, 0x00, 0x4E, 0x57, 0x00];
        stream.extend_from_slice(&reply);
        let mut fr = framer();
        let mut frames = Vec::new();
        for c in stream.chunks(7) {
            fr.push(c);
            while let Some(f) = fr.next_frame() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![reply]);
    }
}
