//! Modbus RTU framing, as JK PB boards speak it on RS485 (115200 8N1): function 0x03 (read
//! holding registers), 0x10 (write multiple registers), 0x06 (write single register) and the
//! exception replies (function | 0x80). CRC16/Modbus (reflected polynomial 0xA001, initial
//! 0xFFFF), sent low byte first. Register values are big-endian.
//!
//! Both directions exist as pure functions: a client encodes [`Request`]s and decodes
//! [`Response`]s, a simulator decodes requests and encodes responses. RTU frames have no start
//! byte and no length field of their own, so the [`Framer`] derives each frame's length from
//! its function code (and byte count) and accepts it only when the CRC verifies.

use serde::Serialize;
use thiserror::Error;

use crate::framing::{FramerEvent, SkipReason};

pub const READ_HOLDING: u8 = 0x03;
pub const WRITE_SINGLE: u8 = 0x06;
pub const WRITE_MULTIPLE: u8 = 0x10;
/// Set in the function code of an exception reply.
pub const EXCEPTION_BIT: u8 = 0x80;
/// The Modbus specification's limits: 125 registers per read, 123 per write.
pub const MAX_READ_REGISTERS: u16 = 125;
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Largest unicast slave address (0 is broadcast).
pub const MAX_ADDRESS: u8 = 247;

/// CRC16/Modbus of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` followed by its CRC, low byte first.
pub fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Why bytes are not a valid Modbus RTU frame, or a request cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModbusError {
    #[error("empty input: no bytes to decode")]
    Empty,
    #[error("truncated: this frame needs {needed} bytes, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error("{got} bytes where the function code and byte count announce {expected}")]
    Length { expected: usize, got: usize },
    #[error("CRC 0x{stated:04X} but the frame gives 0x{computed:04X}")]
    Crc { stated: u16, computed: u16 },
    #[error("function code 0x{found:02X} is not one this codec speaks (0x03, 0x06, 0x10)")]
    Function { found: u8 },
    #[error("slave address {address} is outside 1..=247")]
    Address { address: u8 },
    #[error("register count {count} is outside 1..={max}")]
    Count { count: u16, max: u16 },
    #[error("byte count {byte_count} does not match {count} registers")]
    ByteCount { byte_count: u8, count: u16 },
    #[error("a read reply carries {bytes} data bytes: registers are 2 bytes each")]
    OddData { bytes: usize },
}

/// The exception codes of the Modbus specification; others are kept as their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionCode {
    IllegalFunction,
    IllegalDataAddress,
    IllegalDataValue,
    ServerDeviceFailure,
    Acknowledge,
    ServerDeviceBusy,
    Other(u8),
}

impl ExceptionCode {
    pub fn from_byte(b: u8) -> ExceptionCode {
        match b {
            1 => ExceptionCode::IllegalFunction,
            2 => ExceptionCode::IllegalDataAddress,
            3 => ExceptionCode::IllegalDataValue,
            4 => ExceptionCode::ServerDeviceFailure,
            5 => ExceptionCode::Acknowledge,
            6 => ExceptionCode::ServerDeviceBusy,
            n => ExceptionCode::Other(n),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ExceptionCode::IllegalFunction => 1,
            ExceptionCode::IllegalDataAddress => 2,
            ExceptionCode::IllegalDataValue => 3,
            ExceptionCode::ServerDeviceFailure => 4,
            ExceptionCode::Acknowledge => 5,
            ExceptionCode::ServerDeviceBusy => 6,
            ExceptionCode::Other(n) => n,
        }
    }
}

impl std::fmt::Display for ExceptionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExceptionCode::IllegalFunction => f.write_str("illegal function (01)"),
            ExceptionCode::IllegalDataAddress => f.write_str("illegal data address (02)"),
            ExceptionCode::IllegalDataValue => f.write_str("illegal data value (03)"),
            ExceptionCode::ServerDeviceFailure => f.write_str("server device failure (04)"),
            ExceptionCode::Acknowledge => f.write_str("acknowledge (05)"),
            ExceptionCode::ServerDeviceBusy => f.write_str("server device busy (06)"),
            ExceptionCode::Other(n) => write!(f, "exception code {n:02X}"),
        }
    }
}

/// A request, from the client to a slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    ReadHolding {
        address: u8,
        start: u16,
        count: u16,
    },
    WriteSingle {
        address: u8,
        register: u16,
        value: u16,
    },
    WriteMultiple {
        address: u8,
        start: u16,
        values: Vec<u16>,
    },
}

/// A reply, from a slave to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// The register bytes as sent (big-endian words), `2 × count` of them.
    ReadHolding {
        address: u8,
        data: Vec<u8>,
    },
    WriteSingle {
        address: u8,
        register: u16,
        value: u16,
    },
    WriteMultiple {
        address: u8,
        start: u16,
        count: u16,
    },
    Exception {
        address: u8,
        function: u8,
        code: ExceptionCode,
    },
}

fn check_address(address: u8) -> Result<(), ModbusError> {
    if address == 0 || address > MAX_ADDRESS {
        return Err(ModbusError::Address { address });
    }
    Ok(())
}

fn check_count(count: u16, max: u16) -> Result<(), ModbusError> {
    if count == 0 || count > max {
        return Err(ModbusError::Count { count, max });
    }
    Ok(())
}

impl Request {
    pub fn address(&self) -> u8 {
        match self {
            Request::ReadHolding { address, .. }
            | Request::WriteSingle { address, .. }
            | Request::WriteMultiple { address, .. } => *address,
        }
    }

    /// The frame, CRC included. Refuses what no slave may be sent: address 0 (broadcast) or
    /// above 247, and register counts beyond the specification's limits.
    pub fn encode(&self) -> Result<Vec<u8>, ModbusError> {
        check_address(self.address())?;
        let body = match self {
            Request::ReadHolding {
                address,
                start,
                count,
            } => {
                check_count(*count, MAX_READ_REGISTERS)?;
                let mut b = vec![*address, READ_HOLDING];
                b.extend_from_slice(&start.to_be_bytes());
                b.extend_from_slice(&count.to_be_bytes());
                b
            }
            Request::WriteSingle {
                address,
                register,
                value,
            } => {
                let mut b = vec![*address, WRITE_SINGLE];
                b.extend_from_slice(&register.to_be_bytes());
                b.extend_from_slice(&value.to_be_bytes());
                b
            }
            Request::WriteMultiple {
                address,
                start,
                values,
            } => {
                let count = u16::try_from(values.len()).unwrap_or(u16::MAX);
                check_count(count, MAX_WRITE_REGISTERS)?;
                let mut b = vec![*address, WRITE_MULTIPLE];
                b.extend_from_slice(&start.to_be_bytes());
                b.extend_from_slice(&count.to_be_bytes());
                b.push((count * 2) as u8);
                for v in values {
                    b.extend_from_slice(&v.to_be_bytes());
                }
                b
            }
        };
        Ok(with_crc(body))
    }

    /// One whole request frame (the slave's, or a simulator's, side).
    pub fn decode(bytes: &[u8]) -> Result<Request, ModbusError> {
        let len = frame_len(bytes, Direction::Requests)?;
        check_frame(bytes, len)?;
        let address = bytes[0];
        check_address(address)?;
        let word = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        match bytes[1] {
            READ_HOLDING => {
                let count = word(4);
                check_count(count, MAX_READ_REGISTERS)?;
                Ok(Request::ReadHolding {
                    address,
                    start: word(2),
                    count,
                })
            }
            WRITE_SINGLE => Ok(Request::WriteSingle {
                address,
                register: word(2),
                value: word(4),
            }),
            _ => {
                let count = word(4);
                check_count(count, MAX_WRITE_REGISTERS)?;
                if usize::from(bytes[6]) != usize::from(count) * 2 {
                    return Err(ModbusError::ByteCount {
                        byte_count: bytes[6],
                        count,
                    });
                }
                let values = bytes[7..len - 2]
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Ok(Request::WriteMultiple {
                    address,
                    start: word(2),
                    values,
                })
            }
        }
    }
}

impl Response {
    pub fn address(&self) -> u8 {
        match self {
            Response::ReadHolding { address, .. }
            | Response::WriteSingle { address, .. }
            | Response::WriteMultiple { address, .. }
            | Response::Exception { address, .. } => *address,
        }
    }

    /// The frame, CRC included (a simulator's side).
    pub fn encode(&self) -> Result<Vec<u8>, ModbusError> {
        check_address(self.address())?;
        let body = match self {
            Response::ReadHolding { address, data } => {
                if !data.len().is_multiple_of(2) {
                    return Err(ModbusError::OddData { bytes: data.len() });
                }
                let count = u16::try_from(data.len() / 2).unwrap_or(u16::MAX);
                check_count(count, MAX_READ_REGISTERS)?;
                let mut b = vec![*address, READ_HOLDING, data.len() as u8];
                b.extend_from_slice(data);
                b
            }
            Response::WriteSingle {
                address,
                register,
                value,
            } => {
                let mut b = vec![*address, WRITE_SINGLE];
                b.extend_from_slice(&register.to_be_bytes());
                b.extend_from_slice(&value.to_be_bytes());
                b
            }
            Response::WriteMultiple {
                address,
                start,
                count,
            } => {
                let mut b = vec![*address, WRITE_MULTIPLE];
                b.extend_from_slice(&start.to_be_bytes());
                b.extend_from_slice(&count.to_be_bytes());
                b
            }
            Response::Exception {
                address,
                function,
                code,
            } => vec![*address, function | EXCEPTION_BIT, code.byte()],
        };
        Ok(with_crc(body))
    }

    /// One whole reply frame (the client's side).
    pub fn decode(bytes: &[u8]) -> Result<Response, ModbusError> {
        let len = frame_len(bytes, Direction::Replies)?;
        check_frame(bytes, len)?;
        let address = bytes[0];
        check_address(address)?;
        let word = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let function = bytes[1];
        Ok(match function {
            f if f & EXCEPTION_BIT != 0 => Response::Exception {
                address,
                function: f & !EXCEPTION_BIT,
                code: ExceptionCode::from_byte(bytes[2]),
            },
            READ_HOLDING => {
                if !bytes[2].is_multiple_of(2) {
                    return Err(ModbusError::OddData {
                        bytes: usize::from(bytes[2]),
                    });
                }
                Response::ReadHolding {
                    address,
                    data: bytes[3..len - 2].to_vec(),
                }
            }
            WRITE_SINGLE => Response::WriteSingle {
                address,
                register: word(2),
                value: word(4),
            },
            _ => Response::WriteMultiple {
                address,
                start: word(2),
                count: word(4),
            },
        })
    }

    /// The reply a slave owes to `request` when it succeeds; `data` is what a read returns.
    pub fn success_for(request: &Request, data: Vec<u8>) -> Response {
        match request {
            Request::ReadHolding { address, .. } => Response::ReadHolding {
                address: *address,
                data,
            },
            Request::WriteSingle {
                address,
                register,
                value,
            } => Response::WriteSingle {
                address: *address,
                register: *register,
                value: *value,
            },
            Request::WriteMultiple {
                address,
                start,
                values,
            } => Response::WriteMultiple {
                address: *address,
                start: *start,
                count: values.len() as u16,
            },
        }
    }
}

/// Which side of the bus a framer listens for: the shapes differ per function code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to slave (what a simulator reads).
    Requests,
    /// Slave to client.
    Replies,
}

/// The whole frame's length announced by its first bytes, or `Truncated` with the bytes needed
/// to tell.
pub fn frame_len(bytes: &[u8], direction: Direction) -> Result<usize, ModbusError> {
    if bytes.is_empty() {
        return Err(ModbusError::Empty);
    }
    let need = |n: usize| {
        if bytes.len() < n {
            Err(ModbusError::Truncated {
                needed: n,
                got: bytes.len(),
            })
        } else {
            Ok(())
        }
    };
    need(2)?;
    let function = bytes[1];
    match (direction, function) {
        (Direction::Replies, f) if f & EXCEPTION_BIT != 0 => {
            let base = f & !EXCEPTION_BIT;
            if matches!(base, READ_HOLDING | WRITE_SINGLE | WRITE_MULTIPLE) {
                Ok(5)
            } else {
                Err(ModbusError::Function { found: f })
            }
        }
        (Direction::Replies, READ_HOLDING) => {
            need(3)?;
            Ok(5 + usize::from(bytes[2]))
        }
        (_, WRITE_SINGLE)
        | (Direction::Requests, READ_HOLDING)
        | (Direction::Replies, WRITE_MULTIPLE) => Ok(8),
        (Direction::Requests, WRITE_MULTIPLE) => {
            need(7)?;
            Ok(9 + usize::from(bytes[6]))
        }
        (_, f) => Err(ModbusError::Function { found: f }),
    }
}

/// Exact length and CRC of a frame whose length is `len`.
fn check_frame(bytes: &[u8], len: usize) -> Result<(), ModbusError> {
    if bytes.len() < len {
        return Err(ModbusError::Truncated {
            needed: len,
            got: bytes.len(),
        });
    }
    if bytes.len() != len {
        return Err(ModbusError::Length {
            expected: len,
            got: bytes.len(),
        });
    }
    let computed = crc16(&bytes[..len - 2]);
    let stated = u16::from_le_bytes([bytes[len - 2], bytes[len - 1]]);
    if stated != computed {
        return Err(ModbusError::Crc { stated, computed });
    }
    Ok(())
}

/// Byte stream in, CRC-verified RTU frames out, for one direction and optionally one slave.
///
/// A frame is accepted only when its length (from function code and byte count) is complete
/// and its CRC verifies; otherwise one byte is dropped and the search goes on, so junk, echoes
/// of our own request on a half-duplex adapter and truncated replies are skipped. Inter-frame
/// silence is not visible here; callers clear the framer after a timeout.
#[derive(Debug, Clone)]
pub struct Framer {
    direction: Direction,
    /// Only frames from (replies) or to (requests) this address; `None` = any of 1..=247.
    address: Option<u8>,
    buf: Vec<u8>,
}

enum Candidate {
    Incomplete,
    Invalid(ModbusError),
    Valid(usize),
}

impl Framer {
    pub fn new(direction: Direction, address: Option<u8>) -> Framer {
        Framer {
            direction,
            address,
            buf: Vec::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.next_event()? {
                FramerEvent::Frame(f) => return Some(f),
                FramerEvent::Skipped { .. } => continue,
            }
        }
    }

    fn address_ok(&self, b: u8) -> bool {
        match self.address {
            Some(a) => a == b,
            None => (1..=MAX_ADDRESS).contains(&b),
        }
    }

    fn decode(&self, frame: &[u8]) -> Result<(), ModbusError> {
        match self.direction {
            Direction::Requests => Request::decode(frame).map(|_| ()),
            Direction::Replies => Response::decode(frame).map(|_| ()),
        }
    }

    fn candidate_at(&self, pos: usize) -> Candidate {
        let rest = &self.buf[pos..];
        match frame_len(rest, self.direction) {
            Err(ModbusError::Truncated { .. }) | Err(ModbusError::Empty) => Candidate::Incomplete,
            Err(e) => Candidate::Invalid(e),
            Ok(len) if rest.len() < len => Candidate::Incomplete,
            // The whole decode, not just length and CRC: a frame with a valid CRC can still
            // announce what no frame may (a write of 0 registers, a byte count that is not
            // twice the register count, an odd read reply), and nothing the framer emits may
            // then fail to decode.
            Ok(len) => match self.decode(&rest[..len]) {
                Ok(()) => Candidate::Valid(len),
                Err(e) => Candidate::Invalid(e),
            },
        }
    }

    pub fn next_event(&mut self) -> Option<FramerEvent> {
        if self.buf.is_empty() {
            return None;
        }
        if !self.address_ok(self.buf[0]) {
            let count = self
                .buf
                .iter()
                .position(|&b| self.address_ok(b))
                .unwrap_or(self.buf.len());
            self.buf.drain(..count);
            return Some(FramerEvent::Skipped {
                count,
                reason: SkipReason::Junk,
            });
        }
        match self.candidate_at(0) {
            Candidate::Incomplete => {
                let later = (1..self.buf.len()).find(|&p| {
                    self.address_ok(self.buf[p])
                        && matches!(self.candidate_at(p), Candidate::Valid(_))
                })?;
                self.buf.drain(..later);
                Some(FramerEvent::Skipped {
                    count: later,
                    reason: SkipReason::Superseded,
                })
            }
            Candidate::Invalid(e) => {
                self.buf.drain(..1);
                Some(FramerEvent::Skipped {
                    count: 1,
                    reason: SkipReason::Invalid(crate::framing::FrameError::Modbus(e.to_string())),
                })
            }
            Candidate::Valid(len) => Some(FramerEvent::Frame(self.buf.drain(..len).collect())),
        }
    }
}

/// Big-endian register values to bytes, as a read reply carries them.
pub fn words_to_bytes(words: &[u16]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// Bytes to big-endian register values; a trailing odd byte is ignored.
pub fn bytes_to_words(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_specifications_example() {
        // Modbus over serial line V1.02, §6.2.2 example: 02 07 → CRC 0x1241 (sent 41 12).
        assert_eq!(crc16(&[0x02, 0x07]), 0x1241);
        // The classic read of 1 register at 0 from slave 1: 01 03 00 00 00 01 84 0A.
        let f = Request::ReadHolding {
            address: 1,
            start: 0,
            count: 1,
        }
        .encode()
        .unwrap();
        assert_eq!(f, [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A]);
    }

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::ReadHolding {
                address: 1,
                start: 0x1200,
                count: 0x3E,
            },
            Request::WriteSingle {
                address: 3,
                register: 0x161E,
                value: 0,
            },
            Request::WriteMultiple {
                address: 15,
                start: 0x1004,
                values: vec![0x0000, 0x0A8C],
            },
        ];
        for r in reqs {
            let bytes = r.encode().unwrap();
            assert_eq!(Request::decode(&bytes).unwrap(), r);
        }
    }

    #[test]
    fn responses_round_trip() {
        let resps = [
            Response::ReadHolding {
                address: 1,
                data: vec![0x0C, 0xE4, 0x0C, 0xE5],
            },
            Response::WriteMultiple {
                address: 1,
                start: 0x1004,
                count: 2,
            },
            Response::Exception {
                address: 2,
                function: READ_HOLDING,
                code: ExceptionCode::IllegalDataAddress,
            },
        ];
        for r in resps {
            let bytes = r.encode().unwrap();
            assert_eq!(Response::decode(&bytes).unwrap(), r);
        }
    }

    #[test]
    fn exception_reply_decodes_with_its_reason() {
        let bytes = with_crc(vec![0x01, 0x83, 0x02]);
        let r = Response::decode(&bytes).unwrap();
        let Response::Exception { code, function, .. } = r else {
            panic!()
        };
        assert_eq!(function, READ_HOLDING);
        assert_eq!(code.to_string(), "illegal data address (02)");
    }

    #[test]
    fn refuses_broadcast_and_oversized_reads() {
        let e = Request::ReadHolding {
            address: 0,
            start: 0,
            count: 1,
        }
        .encode()
        .unwrap_err();
        assert_eq!(e, ModbusError::Address { address: 0 });
        let e = Request::ReadHolding {
            address: 1,
            start: 0,
            count: 126,
        }
        .encode()
        .unwrap_err();
        assert_eq!(
            e,
            ModbusError::Count {
                count: 126,
                max: 125
            }
        );
    }

    #[test]
    fn bad_crc_is_named() {
        let mut bytes = Request::ReadHolding {
            address: 1,
            start: 0,
            count: 1,
        }
        .encode()
        .unwrap();
        bytes[7] ^= 0xFF;
        assert!(matches!(
            Request::decode(&bytes),
            Err(ModbusError::Crc { .. })
        ));
    }

    /// Every frame `framer` emits from `stream`, fed a byte at a time.
    fn frames(mut framer: Framer, stream: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for b in stream {
            framer.push(&[*b]);
            while let Some(f) = framer.next_frame() {
                frames.push(f);
            }
        }
        frames
    }

    /// Found by the `serial_framers` fuzz target: frames whose CRC verifies but which announce
    /// what no frame may were emitted by the framer and then refused by the decoder. The
    /// framer now skips them and still finds the valid frame behind.
    #[test]
    fn framer_emits_only_frames_that_decode() {
        let good_request = Request::ReadHolding {
            address: 1,
            start: 0x1000,
            count: 2,
        }
        .encode()
        .unwrap();
        let bad_requests = [
            // A write of 0 registers.
            with_crc(vec![0x01, WRITE_MULTIPLE, 0x10, 0x00, 0x00, 0x00, 0x00]),
            // A write of 1 register whose byte count says 4.
            with_crc(vec![
                0x01,
                WRITE_MULTIPLE,
                0x10,
                0x00,
                0x00,
                0x01,
                0x04,
                0,
                0,
                0,
                0,
            ]),
            // A read of 0 and of 126 registers.
            with_crc(vec![0x01, READ_HOLDING, 0x10, 0x00, 0x00, 0x00]),
            with_crc(vec![0x01, READ_HOLDING, 0x10, 0x00, 0x00, 126]),
        ];
        for bad in &bad_requests {
            assert!(Request::decode(bad).is_err(), "{bad:02X?}");
            let mut stream = bad.clone();
            stream.extend_from_slice(&good_request);
            let got = frames(Framer::new(Direction::Requests, None), &stream);
            assert_eq!(got, vec![good_request.clone()], "{bad:02X?}");
        }
        // A read reply with an odd byte count.
        let good_reply = Response::ReadHolding {
            address: 1,
            data: vec![0x0C, 0xE4],
        }
        .encode()
        .unwrap();
        let bad = with_crc(vec![0x01, READ_HOLDING, 0x01, 0xAA]);
        assert!(Response::decode(&bad).is_err());
        let mut stream = bad;
        stream.extend_from_slice(&good_reply);
        let got = frames(Framer::new(Direction::Replies, Some(1)), &stream);
        assert_eq!(got, vec![good_reply]);
    }

    /// The fuzz target's own crashing input (`crash-db293272…`), fed as it fed it: read in
    /// pieces of the first byte's size, through the request framer.
    #[test]
    fn the_fuzzers_crashing_input_yields_only_decodable_requests() {
        const CRASH: &str = "AQEBAwKwpDt+ht2l3CClICClfjEgpX6GpX6GewAAABsgIAEApX5hYaQ7fobdpdwgpSAgoX6GIKV+hnd3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3pX6GewAAABsgIKV+YWFhYWFhYX5hYWFhYWFhYWFhMmHdpdxhYWFhYX5hYWFhYWFhYWFhMmEPgf///3lagXmE/wAAGyAgpX5hYaQ7fg==";
        let data = base64(CRASH);
        let step = usize::from(data[0]).max(1);
        let mut framer = Framer::new(Direction::Requests, None);
        for piece in data.chunks(step) {
            framer.push(piece);
            while let Some(f) = framer.next_frame() {
                assert!(Request::decode(&f).is_ok(), "{f:02X?}");
            }
        }
    }

    /// Standard base64, for the fuzzer's inputs as it prints them.
    fn base64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in text.bytes().filter(|&c| c != b'=') {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }

    #[test]
    fn framer_skips_junk_and_our_echo_and_finds_the_reply() {
        let req = Request::ReadHolding {
            address: 1,
            start: 0x1290,
            count: 2,
        }
        .encode()
        .unwrap();
        let reply = Response::ReadHolding {
            address: 1,
            data: vec![0x00, 0x00, 0xCF, 0x08],
        }
        .encode()
        .unwrap();
        let mut stream = vec![0x00, 0xFF];
        stream.extend_from_slice(&req); // half-duplex echo
        stream.extend_from_slice(&reply);
        let mut framer = Framer::new(Direction::Replies, Some(1));
        let mut frames = Vec::new();
        for b in &stream {
            framer.push(&[*b]);
            while let Some(f) = framer.next_frame() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![reply]);
    }
}
