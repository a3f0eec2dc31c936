//! The serial BMS families added beside [`crate::ProtocolKind`]: JK PB (Modbus RTU), JK
//! `4E 57`, and the Pylontech-style RS485 ASCII dialects.
//!
//! They are a separate enum because the root crate matches on `ProtocolKind` in places whose
//! `_` arms would send a new serial family down a CAN or JBD path (`bms decode`, the
//! simulator, profiles); wiring them in is a root-crate change. [`describe`] is the
//! crate-level decode entry point a `bms decode` arm can call for them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::pylon_ascii::{self, values, Dialect, ReturnCode};
use crate::{jk_serial, modbus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SerialFamily {
    JkPb,
    JkSerial,
    Pylontech485,
    Pace485,
    Seplos485,
}

impl SerialFamily {
    pub const ALL: [SerialFamily; 5] = [
        SerialFamily::JkPb,
        SerialFamily::JkSerial,
        SerialFamily::Pylontech485,
        SerialFamily::Pace485,
        SerialFamily::Seplos485,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SerialFamily::JkPb => "jk-pb",
            SerialFamily::JkSerial => "jk-serial",
            SerialFamily::Pylontech485 => "pylontech-485",
            SerialFamily::Pace485 => "pace-485",
            SerialFamily::Seplos485 => "seplos-485",
        }
    }

    pub fn parse(name: &str) -> Option<SerialFamily> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The documented default line speed (8N1 for all).
    pub fn default_baud(self) -> u32 {
        match self {
            SerialFamily::JkPb | SerialFamily::JkSerial => 115_200,
            // Pylontech: DIP switch 1 selects 9600 or 115200; 9600 is the common setting.
            SerialFamily::Pylontech485 | SerialFamily::Pace485 | SerialFamily::Seplos485 => 9600,
        }
    }

    fn dialect(self) -> Option<Dialect> {
        match self {
            SerialFamily::Pylontech485 => Some(Dialect::Pylontech),
            SerialFamily::Pace485 => Some(Dialect::Pace),
            SerialFamily::Seplos485 => Some(Dialect::Seplos),
            _ => None,
        }
    }
}

impl std::fmt::Display for SerialFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One whole frame of `family`, decoded as far as the frame alone allows, as JSON; the error
/// names what is wrong. Replies whose layout depends on the request (Modbus reads, ASCII
/// replies) show their bytes, and for ASCII replies the analog values when they decode.
pub fn describe(family: SerialFamily, bytes: &[u8]) -> Result<Value, String> {
    match family {
        SerialFamily::JkPb => {
            let reply = modbus::Response::decode(bytes);
            let request = modbus::Request::decode(bytes);
            match (reply, request) {
                (Ok(r), _) => Ok(json!({ "direction": "reply", "frame": r })),
                (_, Ok(r)) => Ok(json!({ "direction": "request", "frame": r })),
                (Err(e), Err(_)) => Err(e.to_string()),
            }
        }
        SerialFamily::JkSerial => {
            let f = jk_serial::Frame::decode(bytes).map_err(|e| e.to_string())?;
            let mut v = json!({ "frame": f });
            if f.transport != jk_serial::transport::REQUEST {
                if let Ok(fields) = jk_serial::Fields::decode(&f.data) {
                    v["snapshot"] = json!(fields.snapshot());
                }
            }
            Ok(v)
        }
        _ => {
            let d = family.dialect().unwrap_or(Dialect::Pylontech);
            let f = pylon_ascii::Frame::decode(bytes).map_err(|e| e.to_string())?;
            let mut v = json!({
                "ver": format!("0x{:02X}", f.ver),
                "adr": f.adr,
                "cid1": format!("0x{:02X}", f.cid1),
                "cid2": format!("0x{:02X}", f.cid2),
                "info_hex": crate::framing::to_hex(&f.info),
            });
            // Return codes 00-06 cannot be commands; 90/91 and Seplos's E1-E4 collide with
            // command codes (Pace 0x90, 0xE1, 0xE3), so only the low ones are named here.
            if f.cid2 <= 0x06 {
                v["return_code"] = json!(ReturnCode::from_byte(f.cid2).to_string());
            }
            if f.cid2 == 0 {
                if let Ok(a) = values::Analog::decode(d, &f.info) {
                    v["analog"] = json!(a);
                }
            }
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for f in SerialFamily::ALL {
            assert_eq!(SerialFamily::parse(f.name()), Some(f));
        }
        assert_eq!(SerialFamily::parse("jbd"), None);
    }

    #[test]
    fn describes_a_frame_of_each_family() {
        let v = describe(
            SerialFamily::JkPb,
            &[0x01, 0x03, 0x12, 0x90, 0x00, 0x02, 0xC1, 0x5E],
        )
        .unwrap();
        assert_eq!(v["direction"], "request");
        let req = jk_serial::read_all_request(jk_serial::source::PC)
            .encode()
            .unwrap();
        assert!(describe(SerialFamily::JkSerial, &req).is_ok());
        let v = describe(SerialFamily::Pace485, b"~250046000000FDAF\r").unwrap();
        assert_eq!(v["return_code"], "normal (00)");
        let e = describe(SerialFamily::Pylontech485, b"~20004642E00200FD38\r").unwrap_err();
        assert!(e.contains("CHKSUM"), "{e}");
    }
}
