#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Property tests for the Modbus / JK PB, JK 4E 57 and Pylontech-style ASCII codecs: decoders
//! and framers never panic on arbitrary bytes, encode → decode gives back what was encoded,
//! and the framers find every frame in a stream however it is split.

use packwright_protocol::jk_pb::{self, BlockImage, DeviceInfo, LiveData, Settings};
use packwright_protocol::jk_serial;
use packwright_protocol::modbus::{self, Direction, ExceptionCode, Request, Response};
use packwright_protocol::pylon_ascii::{self, pace, values, Dialect, Frame};
use proptest::prelude::*;

/// Every frame `fr` emits from `stream`, fed in pieces of `step` bytes.
fn modbus_frames(mut fr: modbus::Framer, stream: &[u8], step: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for piece in stream.chunks(step) {
        fr.push(piece);
        while let Some(f) = fr.next_frame() {
            out.push(f);
        }
    }
    out
}

/// Whether `frame` decodes as what a framer for `direction` must emit.
fn decodes(direction: Direction, frame: &[u8]) -> bool {
    match direction {
        Direction::Replies => Response::decode(frame).is_ok(),
        Direction::Requests => Request::decode(frame).is_ok(),
    }
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (1u8..=247, any::<u16>(), 1u16..=125).prop_map(|(address, start, count)| {
            Request::ReadHolding {
                address,
                start,
                count,
            }
        }),
        (1u8..=247, any::<u16>(), any::<u16>()).prop_map(|(address, register, value)| {
            Request::WriteSingle {
                address,
                register,
                value,
            }
        }),
        (
            1u8..=247,
            any::<u16>(),
            prop::collection::vec(any::<u16>(), 1..=123)
        )
            .prop_map(|(address, start, values)| Request::WriteMultiple {
                address,
                start,
                values
            }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (1u8..=247, prop::collection::vec(any::<[u8; 2]>(), 1..=125)).prop_map(|(address, w)| {
            Response::ReadHolding {
                address,
                data: w.concat(),
            }
        }),
        (1u8..=247, any::<u16>(), any::<u16>()).prop_map(|(address, start, count)| {
            Response::WriteMultiple {
                address,
                start,
                count,
            }
        }),
        (
            1u8..=247,
            prop::sample::select(vec![0x03u8, 0x06, 0x10]),
            any::<u8>()
        )
            .prop_map(|(address, function, code)| Response::Exception {
                address,
                function,
                code: ExceptionCode::from_byte(code),
            }),
    ]
}

fn ascii_frame() -> impl Strategy<Value = Frame> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(ver, adr, cid1, cid2, info)| Frame {
            ver,
            adr,
            cid1,
            cid2,
            info,
        })
}

fn jk_frame() -> impl Strategy<Value = jk_serial::Frame> {
    (
        any::<u32>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..120),
        any::<u32>(),
    )
        .prop_map(
            |(terminal, command, source, transport, data, record)| jk_serial::Frame {
                terminal,
                command,
                source,
                transport,
                data,
                record,
            },
        )
}

fn analog_pack(d: Dialect) -> impl Strategy<Value = values::AnalogPack> {
    (
        prop::collection::vec(any::<u16>(), 0..24),
        prop::collection::vec(-400i32..=1200, 0..8),
        -30000i32..=30000,
        0u32..=65000,
        0u32..=60000,
        0u32..=60000,
        any::<u16>(),
        0u32..=60000,
        0u32..=1000,
    )
        .prop_map(
            move |(cells, temps, current, volt, rem, full, cycles, design, soc)| {
                let seplos = d == Dialect::Seplos;
                let (cur_step, volt_step, cap_step) = match d {
                    Dialect::Pylontech => (0.1, 0.001, 0.001),
                    Dialect::Pace => (0.01, 0.001, 0.01),
                    Dialect::Seplos => (0.01, 0.01, 0.01),
                };
                let r = |v: f64, dec: i32| (v * 10f64.powi(dec)).round() / 10f64.powi(dec);
                let cap_dec = if cap_step == 0.001 { 3 } else { 2 };
                values::AnalogPack {
                    cell_voltages_mv: cells,
                    temperatures_c: temps.iter().map(|&t| r(f64::from(t) / 10.0, 1)).collect(),
                    current_a: r(
                        f64::from(current) * cur_step,
                        if cur_step == 0.1 { 1 } else { 2 },
                    ),
                    pack_voltage_v: r(
                        f64::from(volt) * volt_step,
                        if volt_step == 0.01 { 2 } else { 3 },
                    ),
                    remaining_ah: Some(r(f64::from(rem) * cap_step, cap_dec)),
                    full_capacity_ah: Some(r(f64::from(full) * cap_step, cap_dec)),
                    cycles: Some(cycles),
                    design_capacity_ah: (d != Dialect::Pylontech)
                        .then(|| r(f64::from(design) * cap_step, cap_dec)),
                    soc_pct: seplos.then(|| r(f64::from(soc) / 10.0, 1)),
                    soh_pct: seplos.then(|| r(f64::from(soc) / 10.0, 1)),
                    port_voltage_v: seplos.then(|| r(f64::from(volt) * 0.01, 2)),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn modbus_decoders_and_framers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300),
                                               step in 1usize..16) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        for (direction, address) in [(Direction::Replies, None), (Direction::Replies, Some(1)),
                                     (Direction::Requests, None)] {
            let out = modbus_frames(modbus::Framer::new(direction, address), &bytes, step);
            for f in out {
                prop_assert!(decodes(direction, &f), "{:02X?}", f);
            }
        }
    }

    /// Frames whose CRC verifies and whose length is the one their header announces, but
    /// whose counts are anything (0, 126, a byte count that is not twice the register count,
    /// an odd read reply): the framer emits only those the decoder takes. Random bytes almost
    /// never carry a valid CRC; the fuzz target found such a frame, this makes them common.
    #[test]
    fn modbus_framers_emit_only_frames_that_decode_even_when_the_crc_verifies(
        heads in prop::collection::vec(
            (1u8..=3,
             prop::sample::select(vec![0x03u8, 0x06, 0x10, 0x83, 0x90, 0x07]),
             prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 3, 4, 0x7B, 0x7C, 0x7D, 0x7E, 0xFF]), 0..10)),
            1..5),
        step in 1usize..12,
    ) {
        for direction in [Direction::Requests, Direction::Replies] {
            let mut stream = Vec::new();
            for (address, function, rest) in &heads {
                let mut body = vec![*address, *function];
                body.extend_from_slice(rest);
                let mut padded = body.clone();
                padded.resize(padded.len().max(7), 0);
                let Ok(len) = modbus::frame_len(&padded, direction) else { continue };
                body.resize(len - 2, 0);
                stream.extend_from_slice(&modbus::with_crc(body));
            }
            let out = modbus_frames(modbus::Framer::new(direction, None), &stream, step);
            for f in out {
                prop_assert!(decodes(direction, &f), "{:02X?}", f);
            }
        }
    }

    #[test]
    fn modbus_requests_and_responses_round_trip(req in request(), resp in response()) {
        prop_assert_eq!(Request::decode(&req.encode().unwrap()).unwrap(), req);
        prop_assert_eq!(Response::decode(&resp.encode().unwrap()).unwrap(), resp);
    }

    #[test]
    fn modbus_framer_finds_replies_between_junk(resps in prop::collection::vec(response(), 1..5),
                                                junk in prop::collection::vec(2u8..=255, 0..6),
                                                step in 1usize..12) {
        // Only slave 1's replies, junk never starts with 1: every reply must come out.
        let resps: Vec<Response> = resps.into_iter().map(|r| match r {
            Response::ReadHolding { data, .. } => Response::ReadHolding { address: 1, data },
            Response::WriteMultiple { start, count, .. } => Response::WriteMultiple { address: 1, start, count },
            Response::Exception { function, code, .. } => Response::Exception { address: 1, function, code },
            other => other,
        }).collect();
        let frames: Vec<Vec<u8>> = resps.iter().map(|r| r.encode().unwrap()).collect();
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(&junk);
            stream.extend_from_slice(f);
        }
        let out = modbus_frames(modbus::Framer::new(Direction::Replies, Some(1)), &stream, step);
        // A frame can end in bytes that, with the next, form a valid frame of their own only
        // by CRC coincidence; demand every sent frame, in order, among what came out.
        let mut it = out.iter();
        for f in &frames {
            prop_assert!(it.any(|o| o == f), "missing {:02X?}", f);
        }
    }

    #[test]
    fn jk_pb_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300),
                                  at in 0u16..0x140) {
        let mut img = BlockImage::new(jk_pb::LIVE_BLOCK, jk_pb::LIVE_LEN);
        let _ = img.apply_read(jk_pb::LIVE_BLOCK + at, &bytes);
        let _ = LiveData::decode(&img);
        let _ = DeviceInfo::decode(&BlockImage::from_bytes(jk_pb::INFO_BLOCK, bytes.clone()));
        let _ = Settings::decode(&BlockImage::from_bytes(jk_pb::SETTINGS_BLOCK, bytes));
    }

    #[test]
    fn jk_pb_live_data_survives_encode_and_decode(bytes in prop::collection::vec(any::<u8>(), jk_pb::LIVE_LEN)) {
        // Whatever a board sends, what we decode, a simulator sends back and we decode again.
        let live = LiveData::decode(&BlockImage::from_bytes(jk_pb::LIVE_BLOCK, bytes)).unwrap();
        prop_assert_eq!(LiveData::decode(&live.encode()).unwrap(), live.clone());
        let snap = live.snapshot();
        prop_assert_eq!(snap.cell_count, live.cell_presence_mask.count_ones() as usize);
    }

    #[test]
    fn jk_pb_requests_never_panic_on_any_arguments(address in any::<u8>(), block in any::<u16>(),
                                                   len in 0usize..70000, reg in any::<u16>(),
                                                   count in any::<u16>(), words in prop::collection::vec(any::<u16>(), 0..200)) {
        if let Ok(plan) = jk_pb::read_plan(address, block, len) {
            for r in plan {
                prop_assert!(r.encode().is_ok());
            }
        }
        let _ = jk_pb::read_request(address, reg, count).map(|r| r.encode());
        let mut img = BlockImage::new(block, len.min(4096));
        let _ = img.read(reg, count);
        let _ = img.write(reg, &words);
        let _ = img.apply_read(reg, &modbus::words_to_bytes(&words));
    }

    #[test]
    fn jk_pb_settings_round_trip(words in prop::collection::vec(any::<u32>(), 36)) {
        // Any register contents decode, encode and decode to the same settings.
        let mut img = BlockImage::from_bytes(jk_pb::SETTINGS_BLOCK, vec![0; jk_pb::SETTINGS_LEN]);
        for (f, w) in jk_pb::SETTING_FIELDS.iter().zip(&words) {
            img.write(f.register(), &[(w >> 16) as u16, *w as u16]).unwrap();
        }
        let s = Settings::decode(&img).unwrap();
        prop_assert_eq!(Settings::decode(&s.encode()).unwrap(), s.clone());
        prop_assert!(s.verify(&s).is_empty());
    }

    #[test]
    fn jk_serial_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), step in 1usize..20) {
        let _ = jk_serial::Frame::decode(&bytes);
        let _ = jk_serial::Fields::decode(&bytes).map(|f| f.snapshot());
        let mut fr = jk_serial::framer();
        for piece in bytes.chunks(step) {
            fr.push(piece);
            while let Some(f) = fr.next_frame() {
                prop_assert!(jk_serial::Frame::decode(&f).is_ok());
            }
        }
    }

    #[test]
    fn jk_serial_frames_round_trip(f in jk_frame(), reg in 0x8Eu8..=0xBF, n in any::<i64>()) {
        prop_assert_eq!(jk_serial::Frame::decode(&f.encode().unwrap()).unwrap(), f);
        let s = jk_serial::Setting::number(reg, n.rem_euclid(1 << 16));
        if let Ok(req) = s.request(jk_serial::source::PC) {
            let back = jk_serial::Setting::from_request(&jk_serial::Frame::decode(&req.encode().unwrap()).unwrap()).unwrap();
            prop_assert_eq!(back.value_bytes().unwrap(), s.value_bytes().unwrap());
        }
    }

    #[test]
    fn ascii_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200),
                                  info in prop::collection::vec(any::<u8>(), 0..120),
                                  step in 1usize..20) {
        let _ = Frame::decode(&bytes);
        let _ = pylon_ascii::check_frame(&bytes);
        let mut fr = pylon_ascii::framer();
        for piece in bytes.chunks(step) {
            fr.push(piece);
            while let Some(f) = fr.next_frame() {
                prop_assert!(Frame::decode(&f).is_ok());
            }
        }
        for d in [Dialect::Pylontech, Dialect::Pace, Dialect::Seplos] {
            if let Ok(a) = values::Analog::decode(d, &info) {
                for p in &a.packs {
                    let _ = p.snapshot();
                }
            }
            if let Ok(a) = values::AlarmInfo::decode(&info) {
                let mut snap = Default::default();
                a.fill(d, &mut snap);
            }
        }
        let _ = values::SystemParameters::decode(&info);
        let _ = values::ManufacturerInfo::decode(&info);
        let _ = values::SerialNumber::decode(&info);
        let _ = values::Firmware::decode(&info);
        let _ = values::ChargeManagement::decode(&info);
        let _ = values::SetChargeManagement::decode(&info);
        for cid2 in [0x42u8, 0x44, 0x47, 0x93, 0xD0, 0xD1, 0xE2, 0xEC, 0x00] {
            for d in [Dialect::Pylontech, Dialect::Pace] {
                let _ = pylon_ascii::Command::decode(d, &Frame::new(0x25, 0, cid2, info.clone()));
            }
        }
        for kind in pace::ParamKind::ALL {
            let reply = Frame::new(0x25, 0, 0, info.clone()).encode().unwrap();
            if let Ok(p) = pace::decode_read_reply(kind, &reply) {
                // Whatever a pack sends decodes to values that a write can carry back (or
                // refuses with a reason), and that write decodes to the same values.
                if let Ok(w) = pace::write_request(0, &p) {
                    prop_assert!(pace::verify(&pace::decode_write_request(&w).unwrap(), &p).is_empty());
                }
            }
        }
    }

    #[test]
    fn ascii_frames_round_trip_and_frame_out_of_junk(frames in prop::collection::vec(ascii_frame(), 1..4),
                                                     junk in "[G-Z\r\n ]{0,6}", step in 1usize..25) {
        let mut stream = Vec::new();
        let mut encoded = Vec::new();
        for f in &frames {
            let e = f.encode().unwrap();
            prop_assert_eq!(&Frame::decode(&e).unwrap(), f);
            stream.extend_from_slice(junk.as_bytes());
            stream.extend_from_slice(&e);
            encoded.push(e);
        }
        let mut fr = pylon_ascii::framer();
        let mut out = Vec::new();
        for piece in stream.chunks(step) {
            fr.push(piece);
            while let Some(f) = fr.next_frame() {
                out.push(f);
            }
        }
        prop_assert_eq!(out, encoded);
    }

    #[test]
    fn analog_values_round_trip((d, packs) in prop::sample::select(vec![Dialect::Pylontech, Dialect::Pace, Dialect::Seplos])
                                    .prop_flat_map(|d| (Just(d), prop::collection::vec(analog_pack(d), 1..3)))) {
        let a = values::Analog { info_flag: 0, command: 1, packs };
        prop_assert_eq!(values::Analog::decode(d, &a.encode(d)).unwrap(), a);
    }
}
