//! CAN codecs: the frame type, candump notation and log lines, and the three CAN BMS
//! protocols Packwright speaks.
//!
//! - [`notation`]: `ID#DATA` (cansend/candump `-L` notation) and candump log-file lines.
//! - [`pylontech`]: Pylontech-compatible inverter frames (0x351 … 0x35F, 0x370 … 0x379, 0x305), both ways.
//! - [`daly_can`]: Daly CAN, 29-bit ids `0x18 <data id> <dst> <src>`, UART payloads.
//! - [`jbd_can`]: JBD proprietary CAN, ids 0x100 … 0x114, CRC16/Modbus in bytes 6–7.
//!
//! Every decoder takes a [`CanFrame`] and returns typed values whose JSON keys carry their
//! unit (`pack_voltage_v`, `current_a`, `soc_pct`), the same convention as the serial codecs.

use serde::Serialize;
use thiserror::Error;

pub mod daly_can;
pub mod jbd_can;
pub mod notation;
pub mod pylontech;

pub use notation::{
    format_frame, format_log_line, parse_frame, parse_log, parse_log_line, LogEntry,
};

use crate::snapshot::ProtocolKind;

/// Largest 11-bit (CAN 2.0A) identifier.
pub const MAX_STANDARD_ID: u32 = 0x7FF;
/// Largest 29-bit (CAN 2.0B) identifier.
pub const MAX_EXTENDED_ID: u32 = 0x1FFF_FFFF;

/// One classic CAN frame (at most 8 data bytes), independent of any socket library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanFrame {
    id: u32,
    extended: bool,
    remote: bool,
    len: u8,
    data: [u8; 8],
}

impl CanFrame {
    /// A data frame with an 11-bit identifier.
    pub fn standard(id: u32, data: &[u8]) -> Result<CanFrame, FrameError> {
        Self::build(id, false, false, data.len(), data)
    }

    /// A data frame with a 29-bit identifier.
    pub fn extended(id: u32, data: &[u8]) -> Result<CanFrame, FrameError> {
        Self::build(id, true, false, data.len(), data)
    }

    /// A data frame, 11- or 29-bit as `extended` says.
    pub fn new(id: u32, extended: bool, data: &[u8]) -> Result<CanFrame, FrameError> {
        Self::build(id, extended, false, data.len(), data)
    }

    /// A remote-transmission-request frame: no data, but a length code (0–8).
    pub fn remote(id: u32, extended: bool, len: usize) -> Result<CanFrame, FrameError> {
        Self::build(id, extended, true, len, &[])
    }

    fn build(
        id: u32,
        extended: bool,
        remote: bool,
        len: usize,
        data: &[u8],
    ) -> Result<CanFrame, FrameError> {
        let max = if extended {
            MAX_EXTENDED_ID
        } else {
            MAX_STANDARD_ID
        };
        if id > max {
            return Err(FrameError::IdRange { id, extended });
        }
        if len > 8 {
            return Err(FrameError::TooLong { len });
        }
        let mut buf = [0u8; 8];
        buf[..data.len()].copy_from_slice(data);
        Ok(CanFrame {
            id,
            extended,
            remote,
            len: len as u8,
            data: buf,
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn is_extended(&self) -> bool {
        self.extended
    }

    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The data length code: the number of data bytes, or the requested length of a
    /// remote frame.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The data bytes; empty for a remote frame.
    pub fn data(&self) -> &[u8] {
        if self.remote {
            &[]
        } else {
            &self.data[..self.len()]
        }
    }
}

impl std::fmt::Display for CanFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_frame(self))
    }
}

/// A frame that cannot exist on a classic CAN bus.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("identifier 0x{id:X} does not fit in {} bits", if *extended { 29 } else { 11 })]
    IdRange { id: u32, extended: bool },
    #[error("{len} data bytes: a classic CAN frame carries at most 8")]
    TooLong { len: usize },
}

/// Why a frame could not be decoded by a protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("{protocol}: frame {} is not one of this protocol's frames", id_text(*id, *extended))]
    UnknownId {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
    },
    #[error("{protocol}: frame {} ({what}) has {got} data bytes, expected {expected}", id_text(*id, *extended))]
    WrongLength {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
        what: &'static str,
        expected: &'static str,
        got: usize,
    },
    #[error("{protocol}: frame {} uses {}-bit identifiers, this protocol uses {}-bit ones", id_text(*id, *extended), if *extended { 29 } else { 11 }, if *extended { 11 } else { 29 })]
    WrongIdKind {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
    },
    #[error("{protocol}: frame {} is a remote request, which carries no values", id_text(*id, *extended))]
    Remote {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
    },
    #[error("{protocol}: frame {} CRC mismatch: bytes 6-7 say 0x{got:04X}, bytes 0-5 give 0x{computed:04X}", id_text(*id, *extended))]
    Crc {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
        got: u16,
        computed: u16,
    },
    #[error("{protocol}: frame {} {field}: {reason}", id_text(*id, *extended))]
    BadField {
        protocol: ProtocolKind,
        id: u32,
        extended: bool,
        field: &'static str,
        reason: String,
    },
}

/// A CAN id as candump writes it: 3 hex digits for 11-bit ids, 8 for 29-bit ones.
pub fn id_text(id: u32, extended: bool) -> String {
    if extended {
        format!("{id:08X}")
    } else {
        format!("{id:03X}")
    }
}

/// Checks a frame's data length against what a decoder accepts.
pub(crate) fn expect_len(
    protocol: ProtocolKind,
    frame: &CanFrame,
    what: &'static str,
    accepted: &[usize],
    expected: &'static str,
) -> Result<(), DecodeError> {
    if accepted.contains(&frame.len()) {
        Ok(())
    } else {
        Err(DecodeError::WrongLength {
            protocol,
            id: frame.id(),
            extended: frame.is_extended(),
            what,
            expected,
            got: frame.len(),
        })
    }
}

pub(crate) fn u16_le(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

pub(crate) fn i16_le(data: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([data[at], data[at + 1]])
}

pub(crate) fn u16_be(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

pub(crate) fn i16_be(data: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([data[at], data[at + 1]])
}

/// Rounds a scaled value to the wire resolution, so 49.87 prints as 49.87 and not
/// 49.870000000000005.
pub(crate) fn scaled(raw: f64, step: f64) -> f64 {
    let decimals = (-step.log10()).ceil().max(0.0) as i32;
    let factor = 10f64.powi(decimals);
    (raw * step * factor).round() / factor
}

/// Inverse of [`scaled`]: a value in units to the nearest wire count, clamped to `[min, max]`
/// so a simulator asked for an out-of-range value sends the extreme instead of wrapping.
pub(crate) fn to_wire(value: f64, step: f64, min: i64, max: i64) -> i64 {
    let counts = (value / step).round();
    if counts.is_nan() {
        0
    } else {
        (counts as i64).clamp(min, max)
    }
}

/// Which frame of a protocol a snapshot still lacks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{protocol}: no {what} received yet (frame {frame})")]
pub struct Incomplete {
    pub protocol: ProtocolKind,
    pub what: &'static str,
    pub frame: String,
}

/// A decoded frame of any CAN protocol, as `packwright bms decode` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "protocol", rename_all = "kebab-case")]
pub enum Decoded {
    Pylontech(pylontech::PylonMessage),
    DalyCan(daly_can::DalyCanMessage),
    JbdCan(jbd_can::JbdCanMessage),
}

/// Scaling choices for packs whose firmware departs from the protocol's documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecodeOptions {
    /// Step of the Pylontech 0x356 pack voltage.
    pub voltage_scale: pylontech::VoltageScale,
    /// Direction of the Daly current offset.
    pub current_sign: crate::daly::CurrentSign,
}

/// Decodes one frame with the named CAN protocol and the documented scaling.
pub fn decode(protocol: ProtocolKind, frame: &CanFrame) -> Result<Decoded, DecodeError> {
    decode_with(protocol, frame, DecodeOptions::default())
}

/// Decodes one frame with the named CAN protocol.
pub fn decode_with(
    protocol: ProtocolKind,
    frame: &CanFrame,
    options: DecodeOptions,
) -> Result<Decoded, DecodeError> {
    match protocol {
        ProtocolKind::Pylontech => {
            pylontech::decode_with(frame, options.voltage_scale).map(Decoded::Pylontech)
        }
        ProtocolKind::DalyCan => {
            daly_can::decode(frame, options.current_sign).map(Decoded::DalyCan)
        }
        ProtocolKind::JbdCan => jbd_can::decode(frame).map(Decoded::JbdCan),
        ProtocolKind::Jbd | ProtocolKind::Daly | ProtocolKind::JkPb | ProtocolKind::Pace => {
            Err(DecodeError::UnknownId {
                protocol,
                id: frame.id(),
                extended: frame.is_extended(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rejects_ids_beyond_their_width() {
        assert_eq!(
            CanFrame::standard(0x800, &[]),
            Err(FrameError::IdRange {
                id: 0x800,
                extended: false
            })
        );
        assert!(CanFrame::standard(0x7FF, &[]).is_ok());
        assert!(CanFrame::extended(0x1FFF_FFFF, &[]).is_ok());
        assert!(CanFrame::extended(0x2000_0000, &[]).is_err());
    }

    #[test]
    fn frame_rejects_more_than_eight_bytes() {
        assert_eq!(
            CanFrame::standard(0x100, &[0; 9]),
            Err(FrameError::TooLong { len: 9 })
        );
        assert_eq!(
            CanFrame::remote(0x100, false, 9),
            Err(FrameError::TooLong { len: 9 })
        );
    }

    #[test]
    fn remote_frame_has_a_length_but_no_data() {
        let f = CanFrame::remote(0x123, false, 4).unwrap();
        assert_eq!(f.len(), 4);
        assert!(f.data().is_empty());
    }

    #[test]
    fn scaled_rounds_to_wire_resolution() {
        assert_eq!(scaled(4987.0, 0.01), 49.87);
        assert_eq!(scaled(-279.0, 0.1), -27.9);
        assert_eq!(scaled(88.0, 1.0), 88.0);
    }

    #[test]
    fn to_wire_rounds_and_clamps() {
        assert_eq!(to_wire(49.87, 0.01, 0, 65535), 4987);
        assert_eq!(to_wire(-27.9, 0.1, -32768, 32767), -279);
        assert_eq!(to_wire(1e9, 0.1, -32768, 32767), 32767);
        assert_eq!(to_wire(f64::NAN, 0.1, -32768, 32767), 0);
    }

    #[test]
    fn pylontech_35a_decodes_through_the_crate_entry_point() {
        // What `bms decode --protocol pylontech 35A#…` calls.
        let f = parse_frame("35A#0400000000000000").unwrap();
        let d = decode(ProtocolKind::Pylontech, &f).unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["frame"], "sma_alarms");
        assert_eq!(v["alarms"][0], "high_voltage");
        for text in [
            "370#5550313653303135",
            "373#D10CF00C23012901",
            "379#1801000000000000",
        ] {
            assert!(
                decode(ProtocolKind::Pylontech, &parse_frame(text).unwrap()).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn serial_protocols_have_no_can_decoder() {
        let f = CanFrame::standard(0x355, &[0; 4]).unwrap();
        assert!(matches!(
            decode(ProtocolKind::Jbd, &f),
            Err(DecodeError::UnknownId { .. })
        ));
    }
}
