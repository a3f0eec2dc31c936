//! Seplos BMS protocol V2.0 (`SEPLOS-BMS-protocol-V2.0`): Pylontech framing at 9600 8N1,
//! VER 0x20, CID1 0x46. Telemetry (0x42) and telecommand/alarm (0x44) payloads decode with
//! [`Dialect::Seplos`] in [`super::values`].
//!
//! The document lists 0x47 (acquire teleregulation = parameters) and 0x49 (set
//! teleregulation) in its CID2 table but does **not** define their INFO layouts, so they are
//! offered here as typed requests carrying raw INFO bytes: a set is verified by reading the
//! parameters back and comparing the bytes ([`verify_raw`]). Seplos adds return codes E1–E4
//! (E4 = no permission), reported as [`super::ReturnCode::Other`].

use super::{AsciiError, Dialect, Frame};

pub const GET_PARAMETERS: u8 = 0x47;
pub const SET_PARAMETERS: u8 = 0x49;
pub const REMOTE_CONTROL: u8 = 0x45;
/// "No permission".
pub const RETURN_NO_PERMISSION: u8 = 0xE4;

/// Telemetry (0x42) request for battery group `group` at `adr`; over RS485 the group must
/// match the DIP address (0xFF, all groups, is RS232 only).
pub fn telemetry_request(adr: u8, group: u8) -> Frame {
    super::pack_request(Dialect::Seplos, adr, super::cid2::ANALOG, group)
}

/// Telecommand / alarm (0x44) request.
pub fn alarm_request(adr: u8, group: u8) -> Frame {
    super::pack_request(Dialect::Seplos, adr, super::cid2::ALARM, group)
}

/// Parameter read (0x47). The document gives no INFO for it; like Pylontech's 0x47 it is
/// sent empty (`~200046470000FDA9`, as in syssi/esphome-seplos-bms's README).
pub fn parameters_request(adr: u8) -> Frame {
    super::plain_request(Dialect::Seplos, adr, GET_PARAMETERS)
}

/// Parameter set (0x49) with the INFO bytes as the caller built them (layout undocumented).
pub fn set_parameters_request(adr: u8, info: Vec<u8>) -> Frame {
    Frame::new(Dialect::Seplos.version(), adr, SET_PARAMETERS, info)
}

/// The INFO of a parameter read reply, raw.
pub fn decode_parameters_reply(bytes: &[u8]) -> Result<Vec<u8>, AsciiError> {
    let f = Frame::decode(bytes)?;
    Ok(f.reply_info()?.to_vec())
}

/// Byte offsets where a read-back differs from what was set (and a length difference as the
/// offset past the shorter one).
pub fn verify_raw(written: &[u8], read_back: &[u8]) -> Vec<usize> {
    let mut out: Vec<usize> = written
        .iter()
        .zip(read_back)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    if written.len() != read_back.len() {
        out.push(written.len().min(read_back.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::parse_hex;

    /// Table 7 and Table 10 of the Seplos V2.0 document: requests for addresses 00–0F.
    const TABLE_7_ADDR_0: &str = "7E 32 30 30 30 34 36 34 32 45 30 30 32 30 30 46 44 33 37 0D";
    const TABLE_7_ADDR_F: &str = "7E 32 30 30 46 34 36 34 32 45 30 30 32 30 46 46 44 30 42 0D";
    const TABLE_10_ADDR_A: &str = "7E 32 30 30 41 34 36 34 34 45 30 30 32 30 41 46 44 31 33 0D";

    #[test]
    fn requests_match_the_documents_tables() {
        assert_eq!(
            telemetry_request(0, 0).encode().unwrap(),
            parse_hex(TABLE_7_ADDR_0).unwrap()
        );
        assert_eq!(
            telemetry_request(0x0F, 0x0F).encode().unwrap(),
            parse_hex(TABLE_7_ADDR_F).unwrap()
        );
        assert_eq!(
            alarm_request(0x0A, 0x0A).encode().unwrap(),
            parse_hex(TABLE_10_ADDR_A).unwrap()
        );
    }

    #[test]
    fn parameter_set_round_trips_and_verifies_by_bytes() {
        let req = set_parameters_request(1, vec![0x0E, 0x10, 0x0D, 0x48]);
        let back = Frame::decode(&req.encode().unwrap()).unwrap();
        assert_eq!(back, req);
        let reply = parameters_request(1)
            .reply(
                super::super::ReturnCode::Normal,
                vec![0x0E, 0x10, 0x0D, 0x47],
            )
            .encode()
            .unwrap();
        let read = decode_parameters_reply(&reply).unwrap();
        assert_eq!(verify_raw(&req.info, &read), vec![3]);
        let denied = parameters_request(1)
            .reply(
                super::super::ReturnCode::from_byte(RETURN_NO_PERMISSION),
                vec![],
            )
            .encode()
            .unwrap();
        assert!(decode_parameters_reply(&denied)
            .unwrap_err()
            .to_string()
            .contains("E4"));
    }
}
