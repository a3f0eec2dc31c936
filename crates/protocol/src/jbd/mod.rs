//! JBD / Xiaoxiang / Overkill "smart BMS" serial protocol (UART, RS485, RS232).
//!
//! Frames: request `DD <A5|5A> <reg> <N> <data…> <chk_hi> <chk_lo> 77`, reply
//! `DD <reg> <status> <N> <data…> <chk_hi> <chk_lo> 77`. The checksum is the two's complement
//! of the byte sum from index 2 through the data. One codec serves both sides: the client
//! encodes [`Request`]s and decodes [`Response`]s, the simulator does the reverse.
//!
//! - [`payload`]: the data of 0x03 basic info, 0x04 cells, 0x05 model, 0xAA counters, 0xFA blocks.
//! - [`eeprom`]: the EEPROM register map 0x10–0x47, strings 0xA0–0xA2, unit flag, PIN, MOS control.

pub mod eeprom;
pub mod payload;

use crate::snapshot::Protection;
use serde::Serialize;
use thiserror::Error;

use crate::framing::{check_whole_frame, FrameError, FrameFormat, StreamFramer};

pub use eeprom::{
    CapacityUnit, Encoding, FunctionConfig, MosControl, Pin, RegisterDef, RegisterValue, ValueError,
};
pub use payload::{BasicInfo, BlockParams, ErrorCounters, PackedDate, ProtectionFlags};

pub const START: u8 = 0xDD;
pub const END: u8 = 0x77;
/// Byte 1 of a read request.
pub const READ: u8 = 0xA5;
/// Byte 1 of a write request.
pub const WRITE: u8 = 0x5A;
/// Start, byte 1, byte 2, length, two checksum bytes, end.
pub const OVERHEAD: usize = 7;
/// Largest data field the one-byte length can announce.
pub const MAX_DATA: usize = 255;

/// Register and command codes outside the EEPROM range (which lives in [`eeprom`]).
pub mod reg {
    /// Write `56 78` to enter factory mode; read it (no data) for the AFE chip type (V11).
    pub const ENTER_FACTORY: u8 = 0x00;
    /// Write `28 28` to exit saving to EEPROM, `00 00` to exit discarding.
    pub const EXIT_FACTORY: u8 = 0x01;
    pub const BASIC_INFO: u8 = 0x03;
    pub const CELL_VOLTAGES: u8 = 0x04;
    pub const MODEL: u8 = 0x05;
    pub const USE_PASSWORD: u8 = 0x06;
    pub const SET_PASSWORD: u8 = 0x07;
    pub const CLEAR_PASSWORD: u8 = 0x09;
    pub const CONTROL: u8 = 0x0A;
    pub const MANUFACTURER: u8 = 0xA0;
    pub const DEVICE_NAME: u8 = 0xA1;
    pub const BARCODE: u8 = 0xA2;
    pub const ERROR_COUNTERS: u8 = 0xAA;
    pub const SET_REMAINING_CAPACITY: u8 = 0xE0;
    pub const MOS_CONTROL: u8 = 0xE1;
    pub const BALANCE_CONTROL: u8 = 0xE2;
    pub const RESET: u8 = 0xE3;
    pub const BLOCK_PARAMS: u8 = 0xFA;
}

/// Data of the enter-factory write.
pub const FACTORY_KEY: [u8; 2] = [0x56, 0x78];
/// Data of the exit-factory write that saves to EEPROM (and resets the 0xAA counters).
pub const EXIT_SAVE: [u8; 2] = [0x28, 0x28];
/// Data of the exit-factory write that discards the session's writes.
pub const EXIT_DISCARD: [u8; 2] = [0x00, 0x00];
/// Data jbdtool writes to 0xE3 to reset the board.
pub const RESET_KEY: u16 = 0x4321;

/// Two's complement of the byte sum, masked to 16 bits (an all-zero body gives 0x0000).
pub fn checksum(body: &[u8]) -> u16 {
    body.iter()
        .fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)))
        .wrapping_neg()
}

/// Build a frame from byte 1, byte 2 and the data. Data longer than [`MAX_DATA`] cannot be
/// announced by the length byte and is refused.
pub fn encode_frame(b1: u8, b2: u8, data: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let len = u8::try_from(data.len()).map_err(|_| EncodeError::DataTooLong { len: data.len() })?;
    let mut frame = Vec::with_capacity(OVERHEAD + data.len());
    frame.extend_from_slice(&[START, b1, b2, len]);
    frame.extend_from_slice(data);
    let sum = checksum(&frame[2..]);
    frame.extend_from_slice(&sum.to_be_bytes());
    frame.push(END);
    Ok(frame)
}

/// Which frames a stream is expected to carry; lets the framer reject false start bytes early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host to BMS: byte 1 must be 0xA5 or 0x5A.
    Requests,
    /// BMS to host: byte 2 must be a status (0x00, 0x80–0x83).
    Replies,
    /// Anything with a valid length and checksum.
    Any,
}

/// [`FrameFormat`] for JBD, restricted to one direction.
#[derive(Debug, Clone, Copy)]
pub struct JbdFormat {
    pub direction: Direction,
}

impl FrameFormat for JbdFormat {
    const START: u8 = START;
    const HEADER_LEN: usize = 4;
    const OVERHEAD: usize = OVERHEAD;

    fn frame_len(&self, header: &[u8]) -> Result<usize, FrameError> {
        match self.direction {
            Direction::Requests if header[1] != READ && header[1] != WRITE => {
                return Err(FrameError::NotARequest { found: header[1] })
            }
            Direction::Replies if Status::from_byte(header[2]).is_none() => {
                return Err(FrameError::NotAStatus { found: header[2] })
            }
            _ => {}
        }
        Ok(OVERHEAD + usize::from(header[3]))
    }

    fn verify(&self, frame: &[u8]) -> Result<(), FrameError> {
        let n = frame.len();
        let stated = u16::from_be_bytes([frame[n - 3], frame[n - 2]]);
        let computed = checksum(&frame[2..n - 3]);
        if stated != computed {
            return Err(FrameError::Checksum16 { stated, computed });
        }
        if frame[n - 1] != END {
            return Err(FrameError::BadEnd {
                expected: END,
                found: frame[n - 1],
            });
        }
        Ok(())
    }
}

/// Streaming framer for one direction of a JBD link.
pub type Framer = StreamFramer<JbdFormat>;

pub fn framer(direction: Direction) -> Framer {
    StreamFramer::new(JbdFormat { direction })
}

/// Bytes 1 and 2 and the data of one verified frame, before deciding what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub b1: u8,
    pub b2: u8,
    pub data: Vec<u8>,
}

impl RawFrame {
    /// Parse exactly one whole frame.
    pub fn parse(bytes: &[u8]) -> Result<RawFrame, FrameError> {
        check_whole_frame(
            &JbdFormat {
                direction: Direction::Any,
            },
            bytes,
        )?;
        Ok(RawFrame::from_verified(bytes))
    }

    /// Split a frame the framer (or [`RawFrame::parse`]) already verified.
    fn from_verified(bytes: &[u8]) -> RawFrame {
        RawFrame {
            b1: bytes[1],
            b2: bytes[2],
            data: bytes[4..bytes.len() - 3].to_vec(),
        }
    }
}

/// Reply status byte [JBD V4 doc; V11 doc §2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// 0x80: the command code does not exist (also the reply to unsupported registers).
    UnknownCommand,
    /// 0x81: invalid operation, e.g. a parameter write outside factory mode.
    InvalidOperation,
    /// 0x82: checksum error (V11: normally not returned).
    ChecksumError,
    /// 0x83: password pairing error.
    PasswordError,
}

impl Status {
    pub fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0x00 => Status::Ok,
            0x80 => Status::UnknownCommand,
            0x81 => Status::InvalidOperation,
            0x82 => Status::ChecksumError,
            0x83 => Status::PasswordError,
            _ => return None,
        })
    }

    pub fn byte(self) -> u8 {
        match self {
            Status::Ok => 0x00,
            Status::UnknownCommand => 0x80,
            Status::InvalidOperation => 0x81,
            Status::ChecksumError => 0x82,
            Status::PasswordError => 0x83,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownCommand => "command code does not exist",
            Status::InvalidOperation => "invalid operation (not in factory mode or PIN mismatch)",
            Status::ChecksumError => "checksum error",
            Status::PasswordError => "password pairing error",
        }
    }
}

/// Errors building a frame from values.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EncodeError {
    #[error("{len} data bytes do not fit a JBD frame (at most 255)")]
    DataTooLong { len: usize },
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// Errors decoding a frame or its data.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("register 0x{register:02X}: {what} needs {expected} data bytes, got {got}")]
    PayloadLength {
        register: u8,
        what: &'static str,
        expected: String,
        got: usize,
    },
    #[error("register 0x{register:02X}: the BMS answered status 0x{status:02X} ({})", status_meaning(*.status))]
    Status { register: u8, status: u8 },
    #[error("a reply from the BMS, not a request (byte 1 is 0x{b1:02X}, expected 0xA5 or 0x5A)")]
    NotARequest { b1: u8 },
    #[error("status byte 0x{found:02X} is not a JBD status (0x00, 0x80-0x83)")]
    UnknownStatus { found: u8 },
    #[error("reply is for register 0x{got:02X}, expected 0x{expected:02X}")]
    WrongRegister { expected: u8, got: u8 },
    #[error("register 0x{register:02X}: string length byte says {declared} but only {available} bytes follow")]
    StringLength {
        register: u8,
        declared: usize,
        available: usize,
    },
    #[error("register 0x{register:02X}: {reason}")]
    BadValue { register: u8, reason: String },
}

fn status_meaning(b: u8) -> &'static str {
    Status::from_byte(b).map_or("unknown status", Status::meaning)
}

/// Host-to-BMS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub write: bool,
    pub register: u8,
    pub data: Vec<u8>,
}

impl Request {
    pub fn read(register: u8) -> Request {
        Request {
            write: false,
            register,
            data: Vec::new(),
        }
    }

    pub fn write(register: u8, data: Vec<u8>) -> Result<Request, EncodeError> {
        if data.len() > MAX_DATA {
            return Err(EncodeError::DataTooLong { len: data.len() });
        }
        Ok(Request {
            write: true,
            register,
            data,
        })
    }

    pub fn write_u16(register: u8, value: u16) -> Request {
        Request {
            write: true,
            register,
            data: value.to_be_bytes().to_vec(),
        }
    }

    pub fn enter_factory() -> Request {
        Request {
            write: true,
            register: reg::ENTER_FACTORY,
            data: FACTORY_KEY.to_vec(),
        }
    }

    /// `save = true` writes the session's changes to EEPROM; `false` discards them.
    pub fn exit_factory(save: bool) -> Request {
        let data = if save { EXIT_SAVE } else { EXIT_DISCARD };
        Request {
            write: true,
            register: reg::EXIT_FACTORY,
            data: data.to_vec(),
        }
    }

    /// PIN command 0x06: `[0x06][six digit values]`, sent before entering factory mode.
    pub fn use_password(pin: &Pin) -> Request {
        let mut data = vec![6];
        data.extend_from_slice(pin.digits());
        Request {
            write: true,
            register: reg::USE_PASSWORD,
            data,
        }
    }

    pub fn mos_control(control: MosControl) -> Request {
        Request::write_u16(reg::MOS_CONTROL, control.value())
    }

    pub fn reset() -> Request {
        Request::write_u16(reg::RESET, RESET_KEY)
    }

    /// Write a length-prefixed string register (0xA0 manufacturer, 0xA1 model, 0xA2 barcode).
    pub fn write_string(register: u8, text: &str) -> Result<Request, EncodeError> {
        Request::write(register, eeprom::encode_string(text)?)
    }

    /// V11 block read of `count` parameters starting at parameter number `param`.
    pub fn block_read(param: u16, count: u8) -> Request {
        let [hi, lo] = param.to_be_bytes();
        Request {
            write: false,
            register: reg::BLOCK_PARAMS,
            data: vec![hi, lo, count],
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let b1 = if self.write { WRITE } else { READ };
        // Constructors bound `data` to MAX_DATA; a hand-built longer request is cut rather than
        // sent with a wrong length byte.
        let data = &self.data[..self.data.len().min(MAX_DATA)];
        encode_frame(b1, self.register, data).unwrap_or_default()
    }

    /// Decode exactly one whole request frame.
    pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
        Request::from_raw(RawFrame::parse(bytes)?)
    }

    pub fn from_raw(raw: RawFrame) -> Result<Request, DecodeError> {
        let write = match raw.b1 {
            READ => false,
            WRITE => true,
            b1 => return Err(DecodeError::NotARequest { b1 }),
        };
        Ok(Request {
            write,
            register: raw.b2,
            data: raw.data,
        })
    }

    /// The data as one big-endian u16, for the two-byte register writes.
    pub fn data_u16(&self) -> Option<u16> {
        match self.data[..] {
            [hi, lo] => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    }
}

/// BMS-to-host reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The echoed register, or 0xA5 from legacy boards that do not echo (see [`Response::answers`]).
    pub register: u8,
    pub status: Status,
    pub data: Vec<u8>,
}

/// What old "LH-SP15S001" boards put in byte 1 instead of the echoed register.
pub const LEGACY_ECHO: u8 = READ;

impl Response {
    pub fn ok(register: u8, data: Vec<u8>) -> Response {
        Response {
            register,
            status: Status::Ok,
            data,
        }
    }

    /// An error reply carries no data: `DD <reg> 80 00 FF 80 77`.
    pub fn error(register: u8, status: Status) -> Response {
        Response {
            register,
            status,
            data: Vec::new(),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        encode_frame(self.register, self.status.byte(), &self.data)
    }

    /// Decode exactly one whole reply frame.
    pub fn decode(bytes: &[u8]) -> Result<Response, DecodeError> {
        Response::from_raw(RawFrame::parse(bytes)?)
    }

    pub fn from_raw(raw: RawFrame) -> Result<Response, DecodeError> {
        let status =
            Status::from_byte(raw.b2).ok_or(DecodeError::UnknownStatus { found: raw.b2 })?;
        Ok(Response {
            register: raw.b1,
            status,
            data: raw.data,
        })
    }

    /// Whether this reply answers a request for `register`. Deliberately accepts the legacy
    /// quirk (byte 1 = 0xA5 instead of the echo): the checksum still covers everything that
    /// carries meaning, and the link is half-duplex with one request outstanding.
    pub fn answers(&self, register: u8) -> bool {
        self.register == register || self.register == LEGACY_ECHO
    }

    /// The data of an OK reply, or the error status as an error.
    pub fn ok_data(&self) -> Result<&[u8], DecodeError> {
        match self.status {
            Status::Ok => Ok(&self.data),
            s => Err(DecodeError::Status {
                register: self.register,
                status: s.byte(),
            }),
        }
    }
}

/// Decode whatever one whole frame is, for `packwright bms decode` and logs: requests, ACKs,
/// error replies and every known reply payload. The capacity unit is taken from the FET byte's
/// unit bit when a basic-info frame carries it, otherwise 10 mA/10 mAh is assumed.
pub fn describe(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let raw = RawFrame::parse(bytes)?;
    // A 0xA5 frame with data is a legacy reply, not a read: reads carry no data except the
    // 0xFA block read's three bytes.
    let legacy_reply = raw.b1 == READ && !raw.data.is_empty() && raw.b2 != reg::BLOCK_PARAMS;
    if (raw.b1 == READ || raw.b1 == WRITE) && !legacy_reply {
        let req = Request::from_raw(raw)?;
        return Ok(describe_request(&req));
    }
    let resp = Response::from_raw(raw)?;
    describe_response(&resp)
}

fn describe_request(req: &Request) -> Decoded {
    let register = hex_reg(req.register);
    let name = register_name(req.register);
    if !req.write {
        return Decoded::ReadRequest {
            register,
            name,
            data_hex: (!req.data.is_empty()).then(|| crate::framing::to_hex(&req.data)),
        };
    }
    let meaning = match (req.register, req.data.as_slice()) {
        (reg::ENTER_FACTORY, d) if d == FACTORY_KEY => Some("enter factory mode".to_string()),
        (reg::EXIT_FACTORY, d) if d == EXIT_SAVE => Some("exit factory mode, save".to_string()),
        (reg::EXIT_FACTORY, d) if d == EXIT_DISCARD => {
            Some("exit factory mode without saving".to_string())
        }
        (reg::USE_PASSWORD, [6, ..]) => Some("PIN before factory mode".to_string()),
        (reg::MOS_CONTROL, _) => req
            .data_u16()
            .and_then(|v| MosControl::from_value(v).ok())
            .map(|c| c.describe().to_string()),
        (reg::RESET, _) if req.data_u16() == Some(RESET_KEY) => Some("reset".to_string()),
        _ => None,
    };
    let value = eeprom::register(req.register).and_then(|def| {
        req.data_u16()
            .map(|raw| def.decode(raw, CapacityUnit::default()))
    });
    let text = match req.register {
        reg::MANUFACTURER | reg::DEVICE_NAME | reg::BARCODE => {
            eeprom::decode_string(req.register, &req.data).ok()
        }
        _ => None,
    };
    Decoded::WriteRequest {
        register,
        name,
        data_hex: crate::framing::to_hex(&req.data),
        meaning,
        value,
        text,
    }
}

fn describe_response(resp: &Response) -> Result<Decoded, DecodeError> {
    let register = hex_reg(resp.register);
    let name = register_name(resp.register);
    if resp.status != Status::Ok {
        return Ok(Decoded::ErrorReply {
            register,
            name,
            status: resp.status,
            meaning: resp.status.meaning(),
        });
    }
    if resp.data.is_empty() {
        return Ok(Decoded::Ack { register, name });
    }
    let d = &resp.data;
    Ok(match resp.register {
        reg::BASIC_INFO => {
            let info = BasicInfo::decode(d)?;
            let unit = info.unit_hint();
            Decoded::BasicInfo(Box::new(BasicInfoJson::new(&info, unit)))
        }
        reg::CELL_VOLTAGES => {
            let cells = payload::decode_cell_voltages(d)?;
            Decoded::CellVoltages {
                cell_count: cells.len(),
                cell_voltages_mv: cells,
            }
        }
        reg::MODEL => Decoded::Model {
            model: payload::decode_model(d),
        },
        reg::ERROR_COUNTERS => Decoded::ErrorCounters(ErrorCounters::decode(d)?),
        reg::MANUFACTURER | reg::DEVICE_NAME | reg::BARCODE => Decoded::Text {
            register,
            name,
            text: eeprom::decode_string(resp.register, d)?,
        },
        reg::BLOCK_PARAMS => Decoded::BlockParams(BlockParams::decode(d)?),
        LEGACY_ECHO => Decoded::LegacyReply {
            data_hex: crate::framing::to_hex(d),
            text: payload::printable_text(d),
        },
        r => match (eeprom::register(r), d.as_slice()) {
            (Some(def), [hi, lo]) => {
                let raw = u16::from_be_bytes([*hi, *lo]);
                Decoded::Register {
                    register,
                    name,
                    raw,
                    value: def.decode(raw, CapacityUnit::default()),
                }
            }
            _ => Decoded::Data {
                register,
                name,
                data_hex: crate::framing::to_hex(d),
            },
        },
    })
}

fn hex_reg(r: u8) -> String {
    format!("0x{r:02X}")
}

/// Human name of any register or command code (EEPROM names come from the register map).
pub fn register_name(r: u8) -> &'static str {
    if let Some(def) = eeprom::register(r) {
        return def.name;
    }
    match r {
        reg::ENTER_FACTORY => "enter_factory",
        reg::EXIT_FACTORY => "exit_factory",
        reg::BASIC_INFO => "basic_info",
        reg::CELL_VOLTAGES => "cell_voltages",
        reg::MODEL => "model",
        reg::USE_PASSWORD => "use_password",
        reg::SET_PASSWORD => "set_password",
        reg::CLEAR_PASSWORD => "clear_password",
        reg::CONTROL => "control",
        reg::MANUFACTURER => "manufacturer",
        reg::DEVICE_NAME => "device_name",
        reg::BARCODE => "barcode",
        reg::ERROR_COUNTERS => "error_counters",
        reg::SET_REMAINING_CAPACITY => "set_remaining_capacity",
        reg::MOS_CONTROL => "mos_control",
        reg::BALANCE_CONTROL => "balance_control",
        reg::RESET => "reset",
        reg::BLOCK_PARAMS => "block_params",
        LEGACY_ECHO => "legacy_reply",
        0xAD => "idle_current_calibration",
        0xAE => "charge_current_calibration",
        0xAF => "discharge_current_calibration",
        0xB0..=0xCF => "cell_voltage_calibration",
        0xD0..=0xD7 => "ntc_calibration",
        _ => "unknown",
    }
}

/// A decoded frame as printed by `packwright bms decode --protocol jbd`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decoded {
    ReadRequest {
        register: String,
        name: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data_hex: Option<String>,
    },
    WriteRequest {
        register: String,
        name: &'static str,
        data_hex: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        meaning: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<RegisterValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Ack {
        register: String,
        name: &'static str,
    },
    ErrorReply {
        register: String,
        name: &'static str,
        status: Status,
        meaning: &'static str,
    },
    BasicInfo(Box<BasicInfoJson>),
    CellVoltages {
        cell_count: usize,
        cell_voltages_mv: Vec<u16>,
    },
    Model {
        model: String,
    },
    ErrorCounters(ErrorCounters),
    Text {
        register: String,
        name: &'static str,
        text: String,
    },
    BlockParams(BlockParams),
    Register {
        register: String,
        name: &'static str,
        raw: u16,
        value: RegisterValue,
    },
    /// Reply from a legacy board that does not echo the register.
    LegacyReply {
        data_hex: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Data {
        register: String,
        name: &'static str,
        data_hex: String,
    },
}

/// Basic info with the JSON key convention (snake_case, unit suffix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicInfoJson {
    pub pack_voltage_v: f64,
    pub current_a: f64,
    pub remaining_ah: f64,
    pub nominal_ah: f64,
    pub cycles: u16,
    pub manufacture_date: Option<String>,
    pub balancing_cells: Vec<usize>,
    pub protection: Vec<&'static str>,
    pub software_version: String,
    pub soc_pct: u8,
    pub charge_fet: bool,
    pub discharge_fet: bool,
    pub cell_count: u8,
    pub temperatures_c: Vec<f64>,
    /// Which capacity/current unit the figures above assume.
    pub capacity_unit: CapacityUnit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_bits: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_charge_ah: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_current_ma: Option<u16>,
}

impl BasicInfoJson {
    pub fn new(info: &BasicInfo, unit: CapacityUnit) -> BasicInfoJson {
        BasicInfoJson {
            pack_voltage_v: info.pack_voltage_v(),
            current_a: info.current_a(unit),
            remaining_ah: info.remaining_ah(unit),
            nominal_ah: info.nominal_ah(unit),
            cycles: info.cycles,
            manufacture_date: info.date.iso(),
            balancing_cells: info.balancing_cells(),
            protection: info.protection.names(),
            software_version: info.software_version_hex(),
            soc_pct: info.rsoc_pct,
            charge_fet: info.charge_fet(),
            discharge_fet: info.discharge_fet(),
            cell_count: info.cell_count,
            temperatures_c: info.temperatures_c(),
            capacity_unit: unit,
            humidity_pct: info.humidity_pct,
            alarm_bits: info.alarm,
            full_charge_ah: info.full_charge_raw.map(|r| unit.amp_hours(r)),
            balance_current_ma: info.balance_current_ma,
        }
    }
}

/// A full reading assembled from 0x03 (+ 0x04 cells, + 0x05 model) into the shared picture.
pub fn snapshot(
    info: &BasicInfo,
    cells_mv: Option<&[u16]>,
    model: Option<&str>,
    unit: CapacityUnit,
) -> crate::BmsSnapshot {
    let cell_voltages_mv: Vec<u32> = cells_mv
        .map(|c| c.iter().map(|&v| u32::from(v)).collect())
        .unwrap_or_default();
    crate::BmsSnapshot {
        pack_voltage_v: info.pack_voltage_v(),
        current_a: info.current_a(unit),
        remaining_ah: Some(info.remaining_ah(unit)),
        nominal_ah: Some(info.nominal_ah(unit)),
        cycles: Some(u32::from(info.cycles)),
        soc_pct: Some(f64::from(info.rsoc_pct)),
        cell_count: usize::from(info.cell_count),
        cell_voltages_mv,
        temperatures_c: info.temperatures_c(),
        protection: info
            .protection
            .names()
            .into_iter()
            .map(Protection::from)
            .collect(),
        charge_fet: Some(info.charge_fet()),
        discharge_fet: Some(info.discharge_fet()),
        balancing_cells: info.balancing_cells(),
        manufacture_date: info.date.iso(),
        model: model.map(String::from),
        firmware_version: Some(info.software_version_hex()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{parse_hex, FramerEvent, SkipReason};

    fn hex(s: &str) -> Vec<u8> {
        parse_hex(s).unwrap()
    }

    #[test]
    fn checksum_masks_to_16_bits() {
        assert_eq!(checksum(&[]), 0);
        assert_eq!(checksum(&[0, 0]), 0);
        assert_eq!(checksum(&[0x03, 0x00]), 0xFFFD);
        // 255 bytes of 0xFF plus header: the sum exceeds 0xFFFF only with wrapping.
        assert_eq!(checksum(&[0xFF; 257]), 0u16.wrapping_sub(257 * 255));
    }

    #[test]
    fn requests_encode_like_the_captures() {
        assert_eq!(
            Request::read(reg::BASIC_INFO).encode(),
            hex("DD A5 03 00 FF FD 77")
        );
        assert_eq!(
            Request::exit_factory(false).encode(),
            hex("DD 5A 01 02 00 00 FF FD 77")
        );
        assert_eq!(
            Request::enter_factory().encode(),
            hex("DD 5A 00 02 56 78 FF 30 77")
        );
        assert_eq!(Request::reset().encode(), hex("DD 5A E3 02 43 21 FE B7 77"));
        assert_eq!(
            Request::use_password(&Pin::parse("765828").unwrap()).encode(),
            hex("DD 5A 06 07 06 07 06 05 08 02 08 FF C9 77")
        );
        assert_eq!(
            Request::block_read(0x38, 0x10).encode(),
            hex("DD A5 FA 03 00 38 10 FE BB 77")
        );
    }

    #[test]
    fn request_round_trips_and_rejects_replies() {
        let req = Request::write_u16(0x24, 4200);
        assert_eq!(Request::decode(&req.encode()).unwrap(), req);
        let reply = hex("DD E1 00 00 00 00 77");
        assert_eq!(
            Request::decode(&reply).unwrap_err(),
            DecodeError::NotARequest { b1: 0xE1 }
        );
    }

    #[test]
    fn error_reply_has_the_captured_shape() {
        let bytes = Response::error(0xE3, Status::UnknownCommand)
            .encode()
            .unwrap();
        assert_eq!(bytes, hex("DD E3 80 00 FF 80 77"));
        let resp = Response::decode(&bytes).unwrap();
        assert_eq!(resp.status, Status::UnknownCommand);
        let err = resp.ok_data().unwrap_err();
        assert_eq!(
            err.to_string(),
            "register 0xE3: the BMS answered status 0x80 (command code does not exist)"
        );
    }

    #[test]
    fn unknown_status_is_rejected() {
        let bytes = encode_frame(0x03, 0x42, &[]).unwrap();
        assert_eq!(
            Response::decode(&bytes).unwrap_err(),
            DecodeError::UnknownStatus { found: 0x42 }
        );
    }

    #[test]
    fn whole_frame_errors_name_the_numbers() {
        let good = hex("DD 04 00 08 0F 45 0F 3E 0F 37 0F 3D FE C5 77");
        let mut bad_sum = good.clone();
        bad_sum[13] = 0xC6;
        assert_eq!(
            RawFrame::parse(&bad_sum).unwrap_err().to_string(),
            "checksum 0xFEC6 but frame sums to 0xFEC5"
        );
        assert_eq!(
            RawFrame::parse(&good[..10]).unwrap_err().to_string(),
            "length byte says 8 data bytes but the frame carries 3"
        );
        let mut long = good.clone();
        long.insert(5, 0);
        assert_eq!(
            RawFrame::parse(&long).unwrap_err(),
            FrameError::LengthMismatch {
                declared: 8,
                actual: 9
            }
        );
        let mut bad_end = good.clone();
        bad_end[14] = 0x78;
        assert_eq!(
            RawFrame::parse(&bad_end).unwrap_err(),
            FrameError::BadEnd {
                expected: 0x77,
                found: 0x78
            }
        );
        assert_eq!(
            RawFrame::parse(&good[1..]).unwrap_err(),
            FrameError::BadStart {
                expected: 0xDD,
                found: 0x04
            }
        );
        assert_eq!(
            RawFrame::parse(&good[..3]).unwrap_err(),
            FrameError::Truncated { needed: 4, got: 3 }
        );
        assert_eq!(
            RawFrame::parse(&good[..5]).unwrap_err(),
            FrameError::Truncated { needed: 15, got: 5 }
        );
        assert_eq!(RawFrame::parse(&[]).unwrap_err(), FrameError::Empty);
    }

    #[test]
    fn framer_reassembles_the_split_reply_from_the_debug_log() {
        // jbdtool saw a 36-byte 0x03 reply as a 7-byte read then a 29-byte read.
        let frame = hex("DD 03 00 1D 06 18 00 00 01 F2 01 F4 00 00 2C 7C 00 00 00 00 00 00 80 64 03 04 03 0B 8B 0B 89 0B 84 FA 8E 77");
        let mut f = framer(Direction::Replies);
        f.push(&frame[..7]);
        assert_eq!(f.next_event(), None);
        f.push(&frame[7..]);
        assert_eq!(f.next_event(), Some(FramerEvent::Frame(frame.clone())));
        assert_eq!(f.next_event(), None);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn framer_does_not_cut_at_an_end_byte_inside_data() {
        // Cell voltages 0x0F77 and 0x77DD contain both the end and the start byte.
        let frame = Response::ok(4, vec![0x0F, 0x77, 0x77, 0xDD])
            .encode()
            .unwrap();
        let mut f = framer(Direction::Replies);
        for b in &frame {
            f.push(&[*b]);
        }
        assert_eq!(f.next_frame(), Some(frame));
    }

    #[test]
    fn framer_resyncs_after_junk_and_bad_checksums() {
        let good = Response::ok(5, b"JBD".to_vec()).encode().unwrap();
        let mut damaged = good.clone();
        damaged[5] ^= 1;
        let mut f = framer(Direction::Replies);
        f.push(&[0x00, 0x77, 0x13]);
        f.push(&damaged);
        f.push(&good);
        let mut frames = Vec::new();
        let mut invalid = 0;
        while let Some(ev) = f.next_event() {
            match ev {
                FramerEvent::Frame(fr) => frames.push(fr),
                FramerEvent::Skipped {
                    reason: SkipReason::Invalid(FrameError::Checksum16 { .. }),
                    ..
                } => invalid += 1,
                FramerEvent::Skipped { .. } => {}
            }
        }
        assert_eq!(frames, vec![good]);
        assert_eq!(invalid, 1);
    }

    #[test]
    fn framer_abandons_a_false_start_that_announces_a_long_frame() {
        // 0xDD followed by what looks like a 200-byte frame, then a real short reply. Without
        // look-ahead the framer would wait for 207 bytes that never come.
        let good = Response::ok(0xE1, vec![]).encode().unwrap();
        let mut f = framer(Direction::Replies);
        f.push(&[0xDD, 0x03, 0x00, 200]);
        f.push(&good);
        assert_eq!(f.next_frame(), Some(good));
    }

    #[test]
    fn direction_filters_reject_impossible_headers() {
        let mut f = framer(Direction::Requests);
        f.push(&hex("DD 03 00 00 00 00 77"));
        assert!(matches!(
            f.next_event(),
            Some(FramerEvent::Skipped {
                reason: SkipReason::Invalid(FrameError::NotARequest { found: 0x03 }),
                ..
            })
        ));
        let mut f = framer(Direction::Replies);
        f.push(&hex("DD A5 03 00 FF FD 77"));
        assert!(matches!(
            f.next_event(),
            Some(FramerEvent::Skipped {
                reason: SkipReason::Invalid(FrameError::NotAStatus { found: 0x03 }),
                ..
            })
        ));
    }

    #[test]
    fn legacy_echo_is_accepted_deliberately() {
        let resp = Response::decode(&hex(
            "DD A5 00 14 4C 48 2D 53 50 31 35 53 30 30 31 2D 50 31 33 53 2D 33 30 41 FB 39 77",
        ))
        .unwrap();
        assert!(resp.answers(reg::MODEL));
        assert_eq!(payload::decode_model(&resp.data), "LH-SP15S001-P13S-30A");
        match describe(&Response::ok(0x05, b"X".to_vec()).encode().unwrap()).unwrap() {
            Decoded::Model { model } => assert_eq!(model, "X"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn describe_names_requests_and_replies() {
        let d = describe(&hex("DD 5A E1 02 00 02 FF 1B 77")).unwrap();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["kind"], "write_request");
        assert_eq!(json["name"], "mos_control");
        assert_eq!(json["meaning"], "charge FET released, discharge FET off");
        let d = describe(&hex("DD A5 24 00 FF DC 77")).unwrap();
        assert_eq!(serde_json::to_value(&d).unwrap()["name"], "cell_ov_trigger");
        let reply = Response::ok(0x24, 4200u16.to_be_bytes().to_vec())
            .encode()
            .unwrap();
        let json = serde_json::to_value(describe(&reply).unwrap()).unwrap();
        assert_eq!(json["kind"], "register");
        assert_eq!(json["raw"], 4200);
        assert_eq!(json["value"]["value"], 4.2);
        assert_eq!(json["value"]["unit"], "V");
    }
}
