//! Pure BMS and inverter protocol codecs. No I/O happens here: every function takes and
//! returns bytes or values, so the codecs can be tested exhaustively and fuzzed.
//!
//! - [`jbd`]: JBD / Xiaoxiang "DD … 77" serial protocol (UART/RS485).
//! - [`daly`]: Daly 13-byte "A5" serial protocol.
//! - [`modbus`]: Modbus RTU framing (CRC16, 0x03/0x06/0x10, exceptions), both directions.
//! - [`jk_pb`]: JK PB series over Modbus RTU: live data, device info, settings.
//! - [`jk_serial`]: JK older `4E 57` serial protocol: read-all, password, writes.
//! - [`pylon_ascii`]: Pylontech-style RS485 ASCII (`~…\r`): Pylontech, Pace v25, Seplos V2.
//! - [`can`]: CAN codecs: Pylontech-compatible inverter frames, Daly CAN, JBD CAN, candump notation.
//! - [`family`]: the serial families above, outside `ProtocolKind`, with a decode entry point.
//! - [`snapshot`]: the transport-independent reading every protocol decodes to.

pub mod can;
pub mod daly;
pub mod family;
pub mod framing;
pub mod jbd;
pub mod jk_pb;
pub mod jk_serial;
pub mod modbus;
pub mod pylon_ascii;
pub mod snapshot;

pub use snapshot::{protection_text, BmsSnapshot, Protection, ProtectionKind, ProtocolKind};
