//! `cargo +nightly fuzz run serial_framers`: the JBD, Daly, JK 4E 57, Pylontech-style ASCII
//! and Modbus RTU stream framers and decoders on arbitrary bytes split at arbitrary points,
//! with the decoders the JK PB and Pace clients use (settings block, device info, Pace groups
//! in their read layout and back to the write layout).
//! They must never panic, and every frame a framer emits must decode as a whole frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use packwright_protocol::framing::{FrameFormat, StreamFramer};
use packwright_protocol::jk_pb::{self, BlockImage};
use packwright_protocol::modbus::{self, Direction};
use packwright_protocol::pylon_ascii::{self, pace, values, Dialect};
use packwright_protocol::{daly, jbd, jk_serial};

fn feed<F: FrameFormat>(mut framer: StreamFramer<F>, data: &[u8], check: impl Fn(&[u8])) {
    // The first byte chooses the read size, as a serial port's reads come in pieces.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for piece in data.chunks(step) {
        framer.push(piece);
        while let Some(frame) = framer.next_frame() {
            check(&frame);
        }
    }
}

fn feed_modbus(direction: Direction, address: Option<u8>, data: &[u8]) {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = modbus::Framer::new(direction, address);
    for piece in data.chunks(step) {
        framer.push(piece);
        while let Some(frame) = framer.next_frame() {
            match direction {
                Direction::Replies => assert!(modbus::Response::decode(&frame).is_ok()),
                Direction::Requests => assert!(modbus::Request::decode(&frame).is_ok()),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for direction in [
        jbd::Direction::Requests,
        jbd::Direction::Replies,
        jbd::Direction::Any,
    ] {
        feed(jbd::framer(direction), data, |f| {
            assert!(jbd::RawFrame::parse(f).is_ok());
            let _ = jbd::describe(f);
        });
    }
    feed(daly::framer(), data, |f| {
        assert!(daly::Frame::decode(f).is_ok());
        let _ = daly::describe(f, daly::CurrentSign::default());
    });
    feed(jk_serial::framer(), data, |f| {
        let frame = jk_serial::Frame::decode(f).expect("framed JK frames decode");
        let _ = jk_serial::Fields::decode(&frame.data).map(|fields| fields.snapshot());
    });
    feed(pylon_ascii::framer(), data, |f| {
        let frame = pylon_ascii::Frame::decode(f).expect("framed ASCII frames decode");
        for d in [Dialect::Pylontech, Dialect::Pace, Dialect::Seplos] {
            let _ = values::Analog::decode(d, &frame.info);
        }
        let _ = values::AlarmInfo::decode(&frame.info);
        let _ = values::SystemParameters::decode(&frame.info);
        if let Some(kind) = pace::ParamKind::from_write_cid2(frame.cid2) {
            let _ = (kind, pace::decode_write_request(&frame));
        }
        // The client's group decode (read layout) and its write encoding round-trip.
        for kind in pace::ParamKind::ALL {
            if let Ok(param) = pace::decode_read_info(kind, &frame.info) {
                let _ = pace::encode_write_info(&param);
                let _ = pace::encode_read_info(&param);
            }
        }
    });
    feed_modbus(Direction::Replies, None, data);
    feed_modbus(Direction::Replies, Some(1), data);
    feed_modbus(Direction::Requests, None, data);
    let mut img = BlockImage::new(jk_pb::LIVE_BLOCK, jk_pb::LIVE_LEN);
    let _ = img.apply_read(jk_pb::LIVE_BLOCK, data);
    let _ = jk_pb::LiveData::decode(&img);
    // The client's settings-block and device-info decodes, from whatever a read returned.
    let mut settings = BlockImage::new(jk_pb::SETTINGS_BLOCK, jk_pb::SETTINGS_LEN);
    let _ = settings.apply_read(jk_pb::SETTINGS_BLOCK, data);
    let _ = jk_pb::Settings::decode(&settings);
    let mut info = BlockImage::new(jk_pb::INFO_BLOCK, jk_pb::INFO_LEN);
    let _ = info.apply_read(jk_pb::INFO_BLOCK, data);
    let _ = jk_pb::DeviceInfo::decode(&info);
    let _ = jbd::describe(data);
    let _ = jbd::BasicInfo::decode(data);
    let _ = daly::describe(data, daly::CurrentSign::default());
    let _ = jk_serial::Frame::decode(data);
    let _ = pylon_ascii::Frame::decode(data);
    let _ = modbus::Response::decode(data);
});
