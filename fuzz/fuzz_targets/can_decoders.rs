//! `cargo +nightly fuzz run can_decoders`: the CAN side on arbitrary input. As text, the
//! candump notation (`123#DEADBEEF`) and log-line parsers; what they accept must format back
//! to text that parses to the same frame or entry. As bytes, 13-byte records (flags, a 32-bit
//! identifier, up to 8 data bytes) become frames that every CAN protocol decodes with every
//! scaling choice (the full Pylontech set from 0x305 to 0x379, Daly CAN, JBD CAN), and the
//! Pylontech frames are assembled into one pack state as the console does. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use packwright_protocol::can::{self, pylontech, CanFrame, DecodeOptions, Decoded};
use packwright_protocol::daly::CurrentSign;
use packwright_protocol::ProtocolKind;

fn frame_of(record: &[u8]) -> Option<CanFrame> {
    let flags = *record.first()?;
    let mut id = [0u8; 4];
    for (to, from) in id.iter_mut().zip(record.iter().skip(1)) {
        *to = *from;
    }
    let id = u32::from_le_bytes(id);
    let data = record.get(5..).unwrap_or(&[]);
    let extended = flags & 1 != 0;
    let id = if extended {
        id & 0x1FFF_FFFF
    } else {
        id & 0x7FF
    };
    if flags & 2 != 0 {
        CanFrame::remote(id, extended, data.len()).ok()
    } else {
        CanFrame::new(id, extended, data).ok()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(frame) = can::parse_frame(text) {
            let again = can::format_frame(&frame);
            assert_eq!(can::parse_frame(&again).ok(), Some(frame), "{again}");
        }
        if let Ok(entry) = can::parse_log_line(text) {
            let again = can::format_log_line(&entry);
            assert_eq!(can::parse_log_line(&again).ok(), Some(entry), "{again}");
        }
        let _ = can::parse_log(text);
    }
    let mut state = pylontech::PylonState::default();
    for record in data.chunks(13) {
        let Some(frame) = frame_of(record) else {
            continue;
        };
        for protocol in ProtocolKind::ALL {
            for voltage_scale in [
                pylontech::VoltageScale::Centivolt,
                pylontech::VoltageScale::Decivolt,
            ] {
                for current_sign in [
                    CurrentSign::AboveOffsetDischarges,
                    CurrentSign::AboveOffsetCharges,
                ] {
                    let options = DecodeOptions {
                        voltage_scale,
                        current_sign,
                    };
                    if let Ok(Decoded::Pylontech(msg)) = can::decode_with(protocol, &frame, options)
                    {
                        let _ = pylontech::encode_with(&msg, voltage_scale);
                        state.apply(msg);
                    }
                }
            }
        }
    }
    let _ = state.missing();
    let _ = state.scaling_suspect();
});
