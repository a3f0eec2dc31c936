#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Property tests for the parsers and decoders that face the wire: they never panic on any
//! input, what they accept formats back to itself, and encoders and decoders agree.

use packwright_protocol::can::daly_can;
use packwright_protocol::can::jbd_can;
use packwright_protocol::can::pylontech::{self, Limits, Measurements, PylonMessage, SocSoh};
use packwright_protocol::can::{
    self, format_frame, format_log_line, parse_frame, parse_log, parse_log_line, CanFrame,
    DecodeError, LogEntry,
};
use packwright_protocol::daly::{self, CurrentSign};
use packwright_protocol::ProtocolKind;
use proptest::prelude::*;

fn any_frame() -> impl Strategy<Value = CanFrame> {
    prop_oneof![
        (0u32..=0x7FF, proptest::collection::vec(any::<u8>(), 0..=8))
            .prop_map(|(id, d)| CanFrame::standard(id, &d).unwrap()),
        (
            0u32..=0x1FFF_FFFF,
            proptest::collection::vec(any::<u8>(), 0..=8)
        )
            .prop_map(|(id, d)| CanFrame::extended(id, &d).unwrap()),
        (0u32..=0x7FF, 0usize..=8).prop_map(|(id, n)| CanFrame::remote(id, false, n).unwrap()),
    ]
}

/// Frames near the protocols' own ids, where decoders do real work.
fn protocol_frame() -> impl Strategy<Value = CanFrame> {
    prop_oneof![
        (
            0x300u32..=0x3FF,
            proptest::collection::vec(any::<u8>(), 0..=8)
        )
            .prop_map(|(id, d)| CanFrame::standard(id, &d).unwrap()),
        (
            0x0FFu32..=0x116,
            proptest::collection::vec(any::<u8>(), 0..=8)
        )
            .prop_map(|(id, d)| CanFrame::standard(id, &d).unwrap()),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=8)
        )
            .prop_map(|(id, dst, src, d)| {
                let raw = 0x1800_0000 | u32::from(id) << 16 | u32::from(dst) << 8 | u32::from(src);
                CanFrame::extended(raw, &d).unwrap()
            }),
    ]
}

proptest! {
    #[test]
    fn parse_frame_never_panics(s in "\\PC{0,40}") {
        let _ = parse_frame(&s);
    }

    #[test]
    fn parse_frame_never_panics_on_near_notation(s in "[0-9A-Fa-fRr#.xZ_ ]{0,30}") {
        let _ = parse_frame(&s);
    }

    #[test]
    fn formatted_frames_parse_back(f in any_frame()) {
        let text = format_frame(&f);
        prop_assert_eq!(parse_frame(&text).unwrap(), f, "{}", text);
    }

    #[test]
    fn accepted_notation_is_canonical_after_one_round(s in "[0-9A-F]{3}#[0-9A-F.]{0,20}") {
        if let Ok(f) = parse_frame(&s) {
            let again = parse_frame(&format_frame(&f)).unwrap();
            prop_assert_eq!(again, f);
        }
    }

    #[test]
    fn parse_log_line_never_panics(s in "\\PC{0,60}") {
        let _ = parse_log_line(&s);
        let _ = parse_log(&s);
    }

    #[test]
    fn log_lines_round_trip(
        secs in 0u64..=4_000_000_000,
        micros in 0u32..1_000_000,
        iface in "[a-z][a-z0-9]{0,14}",
        frame in any_frame(),
    ) {
        let e = LogEntry { secs, micros, interface: iface, frame };
        let line = format_log_line(&e);
        prop_assert_eq!(parse_log_line(&line).unwrap(), e, "{}", line);
    }

    #[test]
    fn decoders_never_panic_and_results_serialise(f in prop_oneof![any_frame(), protocol_frame()]) {
        for p in [ProtocolKind::Pylontech, ProtocolKind::DalyCan, ProtocolKind::JbdCan] {
            match can::decode(p, &f) {
                Ok(d) => { serde_json::to_string(&d).unwrap(); }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn pylontech_values_survive_encoding(
        cvl in 0u16..=u16::MAX, ccl in any::<i16>(), dcl in any::<i16>(), dvl in 0u16..=u16::MAX,
        v in any::<i16>(), i in any::<i16>(), t in any::<i16>(),
        soc in any::<u16>(), soh in any::<u16>(),
    ) {
        let msgs = [
            PylonMessage::Limits(Limits {
                charge_voltage_limit_v: f64::from(cvl) / 10.0,
                charge_current_limit_a: f64::from(ccl) / 10.0,
                discharge_current_limit_a: f64::from(dcl) / 10.0,
                discharge_voltage_limit_v: f64::from(dvl) / 10.0,
            }),
            PylonMessage::Measurements(Measurements {
                pack_voltage_v: f64::from(v) / 100.0,
                current_a: f64::from(i) / 10.0,
                temperature_c: f64::from(t) / 10.0,
            }),
            PylonMessage::SocSoh(SocSoh { soc_pct: soc, soh_pct: soh, soc_hires_pct: None }),
        ];
        for m in msgs {
            prop_assert_eq!(pylontech::decode(&pylontech::encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn pylontech_decode_encode_is_stable(id in prop::sample::select(pylontech::DECODED_IDS.to_vec()),
                                          d in proptest::collection::vec(any::<u8>(), 0..=8)) {
        // Whatever decodes, re-encoded and decoded again, gives the same values.
        let f = CanFrame::standard(id, &d).unwrap();
        if let Ok(m) = pylontech::decode(&f) {
            prop_assert_eq!(pylontech::decode(&pylontech::encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn daly_can_decodes_as_the_uart_frame_with_its_payload(data_id in any::<u8>(), bms in 1u8..=0x3F,
                                                           d in any::<[u8; 8]>()) {
        let f = daly_can::reply(data_id, bms, &d);
        let uart = daly::Frame { address: bms, data_id, data: d }.encode();
        let want = daly::describe(&uart, CurrentSign::default()).unwrap();
        prop_assert_eq!(daly_can::decode(&f, CurrentSign::default()).unwrap().payload, want);
    }

    #[test]
    fn jbd_crc_catches_any_single_bit_error(id in 0x100u32..=0x110, d in any::<[u8; 6]>(), bit in 0usize..48) {
        let mut full = [0u8; 8];
        full[..6].copy_from_slice(&d);
        let crc = jbd_can::crc16_modbus(&d);
        prop_assume!(crc != 0); // a zero CRC means "not sent" to jbdtool
        full[6..].copy_from_slice(&crc.to_be_bytes());
        prop_assert!(jbd_can::decode(&CanFrame::standard(id, &full).unwrap()).is_ok());
        full[bit / 8] ^= 1 << (bit % 8);
        let err = jbd_can::decode(&CanFrame::standard(id, &full).unwrap());
        let is_crc_error = matches!(err, Err(DecodeError::Crc { .. }));
        prop_assert!(is_crc_error);
    }
}
