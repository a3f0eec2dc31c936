//! Two families on one RS485 line: JK PB boards (Modbus RTU) and Pace packs (ASCII) sharing a
//! pseudo-terminal, as a line with mixed packs is wired. Each family's framer sees every byte
//! and takes only its own frames (the other family's requests are junk to it); each board
//! answers only its own address.

use packwright_protocol::framing::FramerEvent;
use packwright_protocol::{modbus, pylon_ascii};

use super::jk_pb::JkPbLine;
use super::pace::PaceLine;
use super::pty::{Board, RequestFramer, Rng};

/// Both framers over the same bytes; frames from either.
pub struct BothFramer {
    modbus: modbus::Framer,
    ascii: pylon_ascii::Framer,
}

impl RequestFramer for BothFramer {
    fn push(&mut self, bytes: &[u8]) {
        self.modbus.push(bytes);
        self.ascii.push(bytes);
    }

    fn next_event(&mut self) -> Option<FramerEvent> {
        // Only frames matter here; what one framer skips is the other's business.
        loop {
            match self.modbus.next_event() {
                Some(FramerEvent::Frame(f)) => return Some(FramerEvent::Frame(f)),
                Some(FramerEvent::Skipped { .. }) => continue,
                None => break,
            }
        }
        loop {
            match self.ascii.next_event() {
                Some(FramerEvent::Frame(f)) => return Some(FramerEvent::Frame(f)),
                Some(FramerEvent::Skipped { .. }) => continue,
                None => return None,
            }
        }
    }
}

/// JK PB boards and Pace packs on one line.
pub struct MixedLine {
    pub jk: JkPbLine,
    pub pace: PaceLine,
}

impl Board for MixedLine {
    type Framer = BothFramer;

    fn request_framer(&self) -> BothFramer {
        BothFramer {
            modbus: self.jk.request_framer(),
            ascii: self.pace.request_framer(),
        }
    }

    fn handle(&mut self, request: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
        if pylon_ascii::Frame::decode(request).is_ok() {
            self.pace.handle(request, rng)
        } else {
            self.jk.handle(request, rng)
        }
    }

    fn checksum_range(len: usize) -> std::ops::Range<usize> {
        // Both families keep their checksum in the last bytes before any terminator.
        len.saturating_sub(3)..len.saturating_sub(1)
    }
}
