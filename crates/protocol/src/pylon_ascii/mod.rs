//! Pylontech-style RS485/RS232 ASCII protocol (YD/T 1363.3 framing), as Pylontech (VER 0x20 /
//! 0x21), Pace (VER 0x25, PbmsTools) and Seplos V2 (VER 0x20) pack BMS speak it.
//!
//! Frame: `~` VER ADR CID1 CID2 LENGTH INFO CHKSUM `\r`; everything between `~` and `\r` is
//! hex-ASCII, two characters per byte (PYLON-RS485-protocol-V3.3 §2.2–2.3):
//! - LENGTH = 4-bit LCHKSUM + 12-bit LENID; LENID counts the **ASCII characters** of INFO;
//!   LCHKSUM = (−(sum of the three LENID nibbles)) mod 16.
//! - CHKSUM = (−(sum of the ASCII bytes between `~` and CHKSUM)) mod 65536, 4 characters.
//! - In a reply, the CID2 position carries the return code ([`ReturnCode`]).
//!
//! The payload layouts differ per maker even for the same CID2 (analog values are 0.1 A
//! steps at Pylontech, 10 mA at Pace, 10 mA at Seplos, …), so decoders take a [`Dialect`].
//! [`values`] holds the Pylontech V3.3 / Pace / Seplos payloads, [`pace`] the Pace v25
//! configuration read/write pairs, [`seplos`] Seplos's additions.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::framing::{check_whole_frame, FrameError, FrameFormat, StreamFramer};

pub mod pace;
pub mod seplos;
pub mod values;

pub const SOI: u8 = b'~';
pub const EOI: u8 = b'\r';
/// `~` + VER ADR CID1 CID2 (8 characters) + LENGTH (4 characters).
pub const HEADER_LEN: usize = 13;
/// Header + CHKSUM (4) + EOI.
pub const OVERHEAD: usize = 18;
/// CID1 of lithium iron phosphate packs.
pub const CID1_LFP: u8 = 0x46;

/// VER values seen in the field.
pub const VER_PYLON_20: u8 = 0x20;
pub const VER_PYLON_21: u8 = 0x21;
pub const VER_PACE_25: u8 = 0x25;

/// CID2 command codes of Pylontech V3.3.
pub mod cid2 {
    pub const ANALOG: u8 = 0x42;
    pub const ALARM: u8 = 0x44;
    pub const SYSTEM_PARAMETERS: u8 = 0x47;
    pub const PROTOCOL_VERSION: u8 = 0x4F;
    pub const MANUFACTURER: u8 = 0x51;
    pub const CHARGE_MANAGEMENT: u8 = 0x92;
    pub const SERIAL_NUMBER: u8 = 0x93;
    pub const SET_CHARGE_MANAGEMENT: u8 = 0x94;
    pub const TURN_OFF: u8 = 0x95;
    pub const FIRMWARE: u8 = 0x96;
}

/// Whose payload layout a frame follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// Pylontech V3.3 (VER 0x20/0x21): currents in 0.1 A, capacities in mAh, 2731 K offset.
    Pylontech,
    /// Pace v25 (PbmsTools): currents in 10 mA, capacities in 10 mAh, 2730 K offset.
    Pace,
    /// Seplos V2.0: currents in 10 mA, pack voltage in 10 mV, capacities in 10 mAh.
    Seplos,
}

impl Dialect {
    /// The VER a client sends (Seplos documents 0x20).
    pub fn version(self) -> u8 {
        match self {
            Dialect::Pylontech | Dialect::Seplos => VER_PYLON_20,
            Dialect::Pace => VER_PACE_25,
        }
    }

    /// Offset of the tenth-kelvin temperatures.
    pub fn kelvin_offset(self) -> i32 {
        match self {
            Dialect::Pace => 2730,
            Dialect::Pylontech | Dialect::Seplos => 2731,
        }
    }
}

/// Return codes (the CID2 position of a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCode {
    Normal,
    VersionError,
    ChecksumError,
    LengthChecksumError,
    InvalidCid2,
    CommandFormatError,
    InvalidData,
    AddressError,
    InternalCommunicationError,
    /// Seplos E1–E4 (E4 = no permission) and anything else, by number.
    Other(u8),
}

impl ReturnCode {
    pub fn from_byte(b: u8) -> ReturnCode {
        match b {
            0x00 => ReturnCode::Normal,
            0x01 => ReturnCode::VersionError,
            0x02 => ReturnCode::ChecksumError,
            0x03 => ReturnCode::LengthChecksumError,
            0x04 => ReturnCode::InvalidCid2,
            0x05 => ReturnCode::CommandFormatError,
            0x06 => ReturnCode::InvalidData,
            0x90 => ReturnCode::AddressError,
            0x91 => ReturnCode::InternalCommunicationError,
            n => ReturnCode::Other(n),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ReturnCode::Normal => 0x00,
            ReturnCode::VersionError => 0x01,
            ReturnCode::ChecksumError => 0x02,
            ReturnCode::LengthChecksumError => 0x03,
            ReturnCode::InvalidCid2 => 0x04,
            ReturnCode::CommandFormatError => 0x05,
            ReturnCode::InvalidData => 0x06,
            ReturnCode::AddressError => 0x90,
            ReturnCode::InternalCommunicationError => 0x91,
            ReturnCode::Other(n) => n,
        }
    }
}

impl std::fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ReturnCode::Normal => "normal",
            ReturnCode::VersionError => "VER error",
            ReturnCode::ChecksumError => "CHKSUM error",
            ReturnCode::LengthChecksumError => "LCHKSUM error",
            ReturnCode::InvalidCid2 => "CID2 invalid",
            ReturnCode::CommandFormatError => "command format error",
            ReturnCode::InvalidData => "invalid data",
            ReturnCode::AddressError => "ADR error",
            ReturnCode::InternalCommunicationError => "internal communication error",
            ReturnCode::Other(n) => return write!(f, "return code {n:02X}"),
        };
        write!(f, "{text} ({:02X})", self.byte())
    }
}

/// Why bytes are not a valid frame, or a payload not what its command carries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsciiError {
    #[error("empty input: no bytes to decode")]
    Empty,
    #[error("frame starts with 0x{found:02X}, expected '~' (0x7E)")]
    BadStart { found: u8 },
    #[error("frame ends with 0x{found:02X}, expected CR (0x0D)")]
    BadEnd { found: u8 },
    #[error("truncated: a frame needs at least {needed} bytes, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error(
        "character 0x{found:02X} at position {position} is not an upper- or lower-case hex digit"
    )]
    NotHex { position: usize, found: u8 },
    #[error("LENID {lenid} is odd: INFO is hex pairs")]
    OddLength { lenid: usize },
    #[error("LCHKSUM {stated:X} but LENID {lenid} gives {computed:X}")]
    LengthChecksum {
        stated: u8,
        computed: u8,
        lenid: usize,
    },
    #[error("LENID says {declared} INFO characters but the frame carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("CHKSUM {stated:04X} but the frame sums to {computed:04X}")]
    Checksum { stated: u16, computed: u16 },
    #[error("INFO of {bytes} bytes is too long: LENID has 12 bits (at most 2047 bytes)")]
    TooLong { bytes: usize },
    #[error("the pack answered {0}")]
    Return(ReturnCode),
    #[error("CID2 0x{found:02X} where 0x{expected:02X} was expected")]
    WrongCid2 { expected: u8, found: u8 },
    #[error("{what}: INFO ends at byte {len}, needs {needed}")]
    Short {
        what: &'static str,
        needed: usize,
        len: usize,
    },
    #[error("{what}: {reason}")]
    BadValue { what: &'static str, reason: String },
}

/// Two's-complement checksum of the 16-bit sum of `chars`.
pub fn chksum(chars: &[u8]) -> u16 {
    let sum = chars
        .iter()
        .fold(0u16, |s, &c| s.wrapping_add(u16::from(c)));
    (!sum).wrapping_add(1)
}

/// LENGTH for a LENID (number of INFO characters, at most 4095).
pub fn length_field(lenid: usize) -> u16 {
    let l = (lenid & 0x0FFF) as u16;
    let sum = (l & 0xF) + ((l >> 4) & 0xF) + ((l >> 8) & 0xF);
    let lchk = (!sum).wrapping_add(1) & 0xF;
    (lchk << 12) | l
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Hex-ASCII characters to bytes; `offset` is where `chars` start in the frame (for messages).
fn unhex(chars: &[u8], offset: usize) -> Result<Vec<u8>, AsciiError> {
    if !chars.len().is_multiple_of(2) {
        return Err(AsciiError::OddLength { lenid: chars.len() });
    }
    chars
        .chunks(2)
        .enumerate()
        .map(|(i, p)| {
            let hi = hex_val(p[0]).ok_or(AsciiError::NotHex {
                position: offset + 2 * i,
                found: p[0],
            })?;
            let lo = hex_val(p[1]).ok_or(AsciiError::NotHex {
                position: offset + 2 * i + 1,
                found: p[1],
            })?;
            Ok((hi << 4) | lo)
        })
        .collect()
}

fn push_hex(out: &mut Vec<u8>, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push(DIGITS[usize::from(b >> 4)]);
    out.push(DIGITS[usize::from(b & 0xF)]);
}

/// One frame, either direction. In a reply `cid2` is the return code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub ver: u8,
    pub adr: u8,
    pub cid1: u8,
    pub cid2: u8,
    pub info: Vec<u8>,
}

impl Frame {
    pub fn new(ver: u8, adr: u8, cid2: u8, info: Vec<u8>) -> Frame {
        Frame {
            ver,
            adr,
            cid1: CID1_LFP,
            cid2,
            info,
        }
    }

    /// The ASCII frame, `~` to CR. Refuses INFO longer than LENID can announce.
    pub fn encode(&self) -> Result<Vec<u8>, AsciiError> {
        let lenid = self.info.len() * 2;
        if lenid > 0x0FFF {
            return Err(AsciiError::TooLong {
                bytes: self.info.len(),
            });
        }
        let mut out = Vec::with_capacity(OVERHEAD + lenid);
        out.push(SOI);
        for b in [self.ver, self.adr, self.cid1, self.cid2] {
            push_hex(&mut out, b);
        }
        for b in length_field(lenid).to_be_bytes() {
            push_hex(&mut out, b);
        }
        for &b in &self.info {
            push_hex(&mut out, b);
        }
        let sum = chksum(&out[1..]);
        for b in sum.to_be_bytes() {
            push_hex(&mut out, b);
        }
        out.push(EOI);
        Ok(out)
    }

    /// Decode exactly one whole frame.
    pub fn decode(bytes: &[u8]) -> Result<Frame, AsciiError> {
        let first = *bytes.first().ok_or(AsciiError::Empty)?;
        if first != SOI {
            return Err(AsciiError::BadStart { found: first });
        }
        if bytes.len() < OVERHEAD {
            return Err(AsciiError::Truncated {
                needed: OVERHEAD,
                got: bytes.len(),
            });
        }
        let lenid = header_lenid(&bytes[..HEADER_LEN])?;
        let total = OVERHEAD + lenid;
        if bytes.len() != total {
            return Err(AsciiError::LengthMismatch {
                declared: lenid,
                actual: bytes.len().saturating_sub(OVERHEAD),
            });
        }
        let last = bytes[total - 1];
        if last != EOI {
            return Err(AsciiError::BadEnd { found: last });
        }
        let stated_bytes = unhex(&bytes[total - 5..total - 1], total - 5)?;
        let stated = u16::from_be_bytes([stated_bytes[0], stated_bytes[1]]);
        let computed = chksum(&bytes[1..total - 5]);
        if stated != computed {
            return Err(AsciiError::Checksum { stated, computed });
        }
        let head = unhex(&bytes[1..9], 1)?;
        let info = unhex(&bytes[HEADER_LEN..HEADER_LEN + lenid], HEADER_LEN)?;
        Ok(Frame {
            ver: head[0],
            adr: head[1],
            cid1: head[2],
            cid2: head[3],
            info,
        })
    }

    /// For a reply: its INFO when the return code is normal, the code as an error otherwise.
    pub fn reply_info(&self) -> Result<&[u8], AsciiError> {
        match ReturnCode::from_byte(self.cid2) {
            ReturnCode::Normal => Ok(&self.info),
            code => Err(AsciiError::Return(code)),
        }
    }

    /// A reply to this request with the given return code and INFO (simulators).
    pub fn reply(&self, code: ReturnCode, info: Vec<u8>) -> Frame {
        Frame {
            ver: self.ver,
            adr: self.adr,
            cid1: self.cid1,
            cid2: code.byte(),
            info,
        }
    }
}

/// LENID of a 13-byte header, checked: hex, even, LCHKSUM.
fn header_lenid(header: &[u8]) -> Result<usize, AsciiError> {
    let len = unhex(&header[9..13], 9)?;
    let field = u16::from_be_bytes([len[0], len[1]]);
    let lenid = usize::from(field & 0x0FFF);
    let stated = (field >> 12) as u8;
    let computed = (length_field(lenid) >> 12) as u8;
    if stated != computed {
        return Err(AsciiError::LengthChecksum {
            stated,
            computed,
            lenid,
        });
    }
    if !lenid.is_multiple_of(2) {
        return Err(AsciiError::OddLength { lenid });
    }
    Ok(lenid)
}

/// [`FrameFormat`] for the streaming framer: start `~`, length from LENGTH, checked by
/// LCHKSUM, CHKSUM and the CR.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsciiFormat;

impl FrameFormat for AsciiFormat {
    const START: u8 = SOI;
    const HEADER_LEN: usize = HEADER_LEN;
    const OVERHEAD: usize = OVERHEAD;

    fn frame_len(&self, header: &[u8]) -> Result<usize, FrameError> {
        // VER..CID2 must be hex too, so a stray '~' in junk is refused early.
        unhex(&header[1..9], 1).map_err(|e| FrameError::Ascii(e.to_string()))?;
        header_lenid(header)
            .map(|lenid| OVERHEAD + lenid)
            .map_err(|e| FrameError::Ascii(e.to_string()))
    }

    fn verify(&self, frame: &[u8]) -> Result<(), FrameError> {
        Frame::decode(frame)
            .map(|_| ())
            .map_err(|e| FrameError::Ascii(e.to_string()))
    }
}

pub type Framer = StreamFramer<AsciiFormat>;

pub fn framer() -> Framer {
    StreamFramer::new(AsciiFormat)
}

/// Whole-frame check with the shared machinery's messages (CLI decode).
pub fn check_frame(bytes: &[u8]) -> Result<(), FrameError> {
    check_whole_frame(&AsciiFormat, bytes)
}

/// Pylontech multi-pack addressing (V3.3 §2.5.3): battery `n` (2 = master, 3.. = slaves) in
/// group `m` (0–7) has ADR n + 0x10·m, and a per-battery command repeats that ADR in INFO.
pub fn pylon_address(battery: u8, group: u8) -> Result<u8, AsciiError> {
    if !(2..=15).contains(&battery) {
        return Err(AsciiError::BadValue {
            what: "battery address",
            reason: format!("{battery} is outside 2..=15 (2 is the master)"),
        });
    }
    if group > 7 {
        return Err(AsciiError::BadValue {
            what: "group address",
            reason: format!("{group} is outside 0..=7"),
        });
    }
    Ok(battery + 0x10 * group)
}

/// Command INFO value asking for the whole system (analog and alarm commands only), sent to
/// ADR 0x02 + 0x10·group.
pub const ALL_PACKS: u8 = 0xFF;

/// A per-pack read request (0x42, 0x44, 0x92, 0x93, 0x96): INFO is the command byte, which
/// Pylontech wants equal to ADR and Pace/Seplos read as the pack number (or 0xFF = all).
pub fn pack_request(dialect: Dialect, adr: u8, cid2: u8, command: u8) -> Frame {
    Frame::new(dialect.version(), adr, cid2, vec![command])
}

/// A request with empty INFO (0x47, 0x4F, 0x51 and the Pace configuration reads).
pub fn plain_request(dialect: Dialect, adr: u8, cid2: u8) -> Frame {
    Frame::new(dialect.version(), adr, cid2, Vec::new())
}

/// A client's request as a pack (simulator) reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// 0x42, 0x44, 0x92, 0x93, 0x96 with their command byte (pack number, 0xFF = all).
    Analog {
        pack: u8,
    },
    Alarm {
        pack: u8,
    },
    ChargeManagement {
        pack: u8,
    },
    SerialNumber {
        pack: u8,
    },
    Firmware {
        pack: u8,
    },
    SystemParameters,
    ProtocolVersion,
    Manufacturer,
    /// Pace v25 configuration read / write.
    PaceRead {
        kind: pace::ParamKind,
    },
    PaceWrite {
        param: pace::Param,
    },
    /// Anything else, kept for the simulator to refuse (return code 04, CID2 invalid).
    Other {
        cid2: u8,
        info: Vec<u8>,
    },
}

impl Command {
    /// Classifies a request frame. Pace configuration codes are only read as such in the Pace
    /// dialect; a malformed Pace write is an error naming why.
    pub fn decode(dialect: Dialect, frame: &Frame) -> Result<Command, AsciiError> {
        let pack = || frame.info.first().copied().unwrap_or(0);
        Ok(match frame.cid2 {
            cid2::ANALOG => Command::Analog { pack: pack() },
            cid2::ALARM => Command::Alarm { pack: pack() },
            cid2::CHARGE_MANAGEMENT => Command::ChargeManagement { pack: pack() },
            cid2::SERIAL_NUMBER => Command::SerialNumber { pack: pack() },
            cid2::FIRMWARE => Command::Firmware { pack: pack() },
            cid2::SYSTEM_PARAMETERS => Command::SystemParameters,
            cid2::PROTOCOL_VERSION => Command::ProtocolVersion,
            cid2::MANUFACTURER => Command::Manufacturer,
            c => match (dialect == Dialect::Pace, pace::ParamKind::from_read_cid2(c)) {
                (true, Some(kind)) => Command::PaceRead { kind },
                _ if dialect == Dialect::Pace && pace::ParamKind::from_write_cid2(c).is_some() => {
                    Command::PaceWrite {
                        param: pace::decode_write_request(frame)?,
                    }
                }
                _ => Command::Other {
                    cid2: c,
                    info: frame.info.clone(),
                },
            },
        })
    }
}

/// Decode a whole frame and check it is a normal reply; its INFO.
pub fn reply_payload(bytes: &[u8]) -> Result<Frame, AsciiError> {
    let f = Frame::decode(bytes)?;
    f.reply_info()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lchksum_matches_the_documents_example() {
        // V3.3 §2.3.2: LENID 18 -> LENGTH D012.
        assert_eq!(length_field(18), 0xD012);
        assert_eq!(length_field(2), 0xE002);
        assert_eq!(length_field(0), 0x0000);
    }

    #[test]
    fn chksum_matches_the_documents_example() {
        // V3.3 §2.3.3 sums "1203400456ABCEFE" to 038E and gives FC72. Those characters
        // actually sum to 038F (the document's arithmetic is off by one); the rule itself,
        // two's complement of the 16-bit sum, is what the captured frames verify.
        assert_eq!((!0x038Eu16).wrapping_add(1), 0xFC72);
        assert_eq!(chksum(b"1203400456ABCEFE"), 0xFC71);
        assert_eq!(chksum(b"20004642E00200"), 0xFD37);
    }

    #[test]
    fn encodes_the_documented_request() {
        // bms-protocols-2.md §1 and V3.3 §4: ~20024642E00202FD33\r
        let f = pack_request(Dialect::Pylontech, 0x02, cid2::ANALOG, 0x02);
        assert_eq!(f.encode().unwrap(), b"~20024642E00202FD33\r");
        let f = pack_request(Dialect::Pylontech, 0x00, cid2::ANALOG, 0x00);
        assert_eq!(f.encode().unwrap(), b"~20004642E00200FD37\r");
    }

    #[test]
    fn decode_names_what_is_wrong() {
        let good = b"~20024642E00202FD33\r".to_vec();
        assert!(Frame::decode(&good).is_ok());
        let mut bad = good.clone();
        bad[16] = b'4';
        assert!(matches!(
            Frame::decode(&bad),
            Err(AsciiError::Checksum { .. })
        ));
        let mut bad = good.clone();
        bad[9] = b'F';
        assert!(matches!(
            Frame::decode(&bad),
            Err(AsciiError::LengthChecksum { .. })
        ));
        let mut bad = good.clone();
        bad[13] = b'G';
        let e = Frame::decode(&bad).unwrap_err();
        assert!(matches!(
            e,
            AsciiError::Checksum { .. } | AsciiError::NotHex { .. }
        ));
        assert!(matches!(
            Frame::decode(&good[..good.len() - 1]),
            Err(AsciiError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn reply_with_error_code_is_typed() {
        let req = plain_request(Dialect::Pylontech, 2, cid2::SYSTEM_PARAMETERS);
        let reply = req
            .reply(ReturnCode::InvalidCid2, Vec::new())
            .encode()
            .unwrap();
        let e = reply_payload(&reply).unwrap_err();
        assert_eq!(e, AsciiError::Return(ReturnCode::InvalidCid2));
        assert_eq!(e.to_string(), "the pack answered CID2 invalid (04)");
    }

    #[test]
    fn simulator_classifies_requests() {
        let f = Frame::decode(b"~20024642E00202FD33\r").unwrap();
        assert_eq!(
            Command::decode(Dialect::Pylontech, &f).unwrap(),
            Command::Analog { pack: 2 }
        );
        let f = pace::read_request(0, pace::ParamKind::Protocols);
        assert_eq!(
            Command::decode(Dialect::Pace, &f).unwrap(),
            Command::PaceRead {
                kind: pace::ParamKind::Protocols
            }
        );
        assert!(matches!(
            Command::decode(Dialect::Pylontech, &f).unwrap(),
            Command::Other { cid2: 0xEB, .. }
        ));
        let bad = Frame::new(VER_PACE_25, 0, 0xD0, vec![1, 2]);
        assert!(Command::decode(Dialect::Pace, &bad).is_err());
    }

    #[test]
    fn addressing_follows_the_group_rule() {
        assert_eq!(pylon_address(5, 0).unwrap(), 0x05);
        assert_eq!(pylon_address(7, 3).unwrap(), 0x37);
        assert!(pylon_address(1, 0).is_err());
        assert!(pylon_address(2, 8).is_err());
    }

    #[test]
    fn framer_finds_frames_in_junk_and_pieces() {
        let a = pack_request(Dialect::Pace, 1, cid2::ANALOG, 1)
            .encode()
            .unwrap();
        let b = plain_request(Dialect::Pace, 0, 0xD1).encode().unwrap();
        let mut stream = b"~zz\r\n~".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(b"garbage");
        stream.extend_from_slice(&b);
        let mut fr = framer();
        let mut frames = Vec::new();
        for chunk in stream.chunks(3) {
            fr.push(chunk);
            while let Some(f) = fr.next_frame() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![a, b]);
    }
}
