//! `cargo +nightly fuzz run serial_framers`: the JBD and Daly stream framers and decoders on
//! arbitrary bytes split at arbitrary points. They must never panic, and every frame a framer
//! emits must decode as a whole frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use packwright_protocol::framing::{FrameFormat, StreamFramer};
use packwright_protocol::{daly, jbd};

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
    let _ = jbd::describe(data);
    let _ = jbd::BasicInfo::decode(data);
    let _ = daly::describe(data, daly::CurrentSign::default());
});
