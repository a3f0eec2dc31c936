//! Shared framing machinery for the serial BMS protocols (JBD, Daly).
//!
//! A serial port delivers a byte stream, not frames: replies arrive split across reads, boards
//! emit junk, and late replies interleave with the next one. [`StreamFramer`] turns that stream
//! into verified frames. It frames by the header's length and the checksum only, never by
//! searching for an end byte, because the end byte (JBD 0x77) and the start bytes (0xDD, 0xA5)
//! occur inside data.
//!
//! Each protocol describes its frame shape with a [`FrameFormat`]; the framer logic exists once.

use thiserror::Error;

/// Why a byte sequence is not a valid frame. Messages name the numbers involved so an operator
/// (or a log reader) can see exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("empty input: no bytes to decode")]
    Empty,
    #[error("frame starts with 0x{found:02X}, expected start byte 0x{expected:02X}")]
    BadStart { expected: u8, found: u8 },
    #[error("truncated: a frame needs at least {needed} bytes, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error("length byte says {declared} data bytes but the frame carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("length byte is {found}: Daly frames always carry 8 data bytes")]
    DalyLength { found: u8 },
    #[error("checksum 0x{stated:04X} but frame sums to 0x{computed:04X}")]
    Checksum16 { stated: u16, computed: u16 },
    #[error("checksum 0x{stated:02X} but frame sums to 0x{computed:02X}")]
    Checksum8 { stated: u8, computed: u8 },
    #[error("end byte is 0x{found:02X}, expected 0x{expected:02X}")]
    BadEnd { expected: u8, found: u8 },
    #[error("byte 1 is 0x{found:02X}: a JBD request is 0xA5 (read) or 0x5A (write)")]
    NotARequest { found: u8 },
    #[error("status byte 0x{found:02X} is not a JBD status (0x00, 0x80-0x83)")]
    NotAStatus { found: u8 },
    /// A Modbus RTU candidate that failed (length, CRC, function code), with the reason.
    #[error("Modbus RTU: {0}")]
    Modbus(String),
    /// A Pylontech-style ASCII candidate that failed, with the reason.
    #[error("Pylontech ASCII: {0}")]
    Ascii(String),
    /// A JK `4E 57` candidate that failed, with the reason.
    #[error("JK 4E 57: {0}")]
    Jk(String),
}

/// The shape of one protocol's frames, as far as framing needs it.
pub trait FrameFormat {
    /// The byte every frame starts with.
    const START: u8;
    /// Bytes needed before [`FrameFormat::frame_len`] can tell the whole frame's length.
    const HEADER_LEN: usize;
    /// Bytes of a frame that are not data (header plus checksum/end trailer).
    const OVERHEAD: usize;

    /// Total frame length announced by a header (`header.len() == HEADER_LEN`, `header[0] ==
    /// START`), or why the header cannot begin a frame.
    fn frame_len(&self, header: &[u8]) -> Result<usize, FrameError>;

    /// Check a complete candidate frame (`frame.len()` as announced): checksum, end byte.
    fn verify(&self, frame: &[u8]) -> Result<(), FrameError>;
}

/// What the framer produced from the bytes pushed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramerEvent {
    /// A complete frame whose length and checksum verify.
    Frame(Vec<u8>),
    /// Bytes thrown away while resynchronising, with the reason.
    Skipped { count: usize, reason: SkipReason },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Bytes before any start byte.
    Junk,
    /// A start byte whose candidate frame failed validation.
    Invalid(FrameError),
    /// An incomplete candidate abandoned because a complete, valid frame starts after it.
    Superseded,
}

/// Byte stream in, verified frames out. Feed it with [`StreamFramer::push`], then drain
/// [`StreamFramer::next_event`] until it returns `None` (it needs more bytes).
#[derive(Debug, Clone)]
pub struct StreamFramer<F> {
    format: F,
    buf: Vec<u8>,
}

impl<F: FrameFormat> StreamFramer<F> {
    pub fn new(format: F) -> Self {
        StreamFramer {
            format,
            buf: Vec::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held while waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The bytes held after the last event: e.g. to check what follows a frame.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Put bytes back in front of the buffer, e.g. a start byte that a refused frame had
    /// swallowed as its checksum.
    pub fn push_front(&mut self, bytes: &[u8]) {
        self.buf.splice(0..0, bytes.iter().copied());
    }

    pub fn format(&self) -> &F {
        &self.format
    }

    /// Forget buffered bytes, e.g. after a silence long enough that they cannot belong to the
    /// next reply.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Only the frames, dropping skip events (callers that do not log resyncs).
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.next_event()? {
                FramerEvent::Frame(frame) => return Some(frame),
                FramerEvent::Skipped { .. } => continue,
            }
        }
    }

    pub fn next_event(&mut self) -> Option<FramerEvent> {
        if self.buf.is_empty() {
            return None;
        }
        if self.buf[0] != F::START {
            let count = self
                .buf
                .iter()
                .position(|&b| b == F::START)
                .unwrap_or(self.buf.len());
            self.buf.drain(..count);
            return Some(FramerEvent::Skipped {
                count,
                reason: SkipReason::Junk,
            });
        }
        match self.candidate_at(0) {
            Candidate::Incomplete => {
                // A junk start byte can announce a long frame that never comes; if a complete
                // valid frame already sits behind it, the head was not a frame.
                let later = (1..self.buf.len()).find(|&p| {
                    self.buf[p] == F::START && matches!(self.candidate_at(p), Candidate::Valid(_))
                })?;
                self.buf.drain(..later);
                Some(FramerEvent::Skipped {
                    count: later,
                    reason: SkipReason::Superseded,
                })
            }
            Candidate::Invalid(reason) => {
                self.buf.drain(..1);
                Some(FramerEvent::Skipped {
                    count: 1,
                    reason: SkipReason::Invalid(reason),
                })
            }
            Candidate::Valid(len) => Some(FramerEvent::Frame(self.buf.drain(..len).collect())),
        }
    }

    fn candidate_at(&self, pos: usize) -> Candidate {
        let rest = &self.buf[pos..];
        if rest.len() < F::HEADER_LEN {
            return Candidate::Incomplete;
        }
        let len = match self.format.frame_len(&rest[..F::HEADER_LEN]) {
            Ok(len) => len,
            Err(e) => return Candidate::Invalid(e),
        };
        if rest.len() < len {
            return Candidate::Incomplete;
        }
        match self.format.verify(&rest[..len]) {
            Ok(()) => Candidate::Valid(len),
            Err(e) => Candidate::Invalid(e),
        }
    }
}

enum Candidate {
    Incomplete,
    Invalid(FrameError),
    Valid(usize),
}

/// Whether a valid frame starts at `bytes[0]`: `None` while more bytes are needed to tell.
pub fn starts_valid_frame<F: FrameFormat>(format: &F, bytes: &[u8]) -> Option<bool> {
    if bytes.first() != Some(&F::START) {
        return Some(false);
    }
    if bytes.len() < F::HEADER_LEN {
        return None;
    }
    let Ok(len) = format.frame_len(&bytes[..F::HEADER_LEN]) else {
        return Some(false);
    };
    if bytes.len() < len {
        return None;
    }
    Some(format.verify(&bytes[..len]).is_ok())
}

/// Validate one whole frame given on its own (CLI `bms decode`, tests): exactly one frame, no
/// bytes before or after it.
pub fn check_whole_frame<F: FrameFormat>(format: &F, bytes: &[u8]) -> Result<(), FrameError> {
    let first = *bytes.first().ok_or(FrameError::Empty)?;
    if first != F::START {
        return Err(FrameError::BadStart {
            expected: F::START,
            found: first,
        });
    }
    if bytes.len() < F::HEADER_LEN {
        return Err(FrameError::Truncated {
            needed: F::HEADER_LEN,
            got: bytes.len(),
        });
    }
    let len = format.frame_len(&bytes[..F::HEADER_LEN])?;
    if bytes.len() < F::OVERHEAD {
        return Err(FrameError::Truncated {
            needed: len,
            got: bytes.len(),
        });
    }
    if bytes.len() != len {
        // The length byte counts data bytes, so report data-byte counts on both sides.
        return Err(FrameError::LengthMismatch {
            declared: len.saturating_sub(F::OVERHEAD),
            actual: bytes.len().saturating_sub(F::OVERHEAD),
        });
    }
    format.verify(bytes)
}

/// Why a hex argument could not be read as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    #[error("character {found:?} at position {position} is not a hex digit")]
    BadDigit { position: usize, found: char },
    #[error("odd number of hex digits ({digits}): the last byte is incomplete")]
    OddDigits { digits: usize },
}

/// Parse hex bytes as operators paste them: `DD A5 03 00 FF FD 77`, `dda50300fffd77`,
/// `DD:A5:…` or with `0x` prefixes. Whitespace, `:`, `-` and `,` separate freely.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut digits = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '0' && matches!(chars.get(i + 1), Some('x') | Some('X')) {
            i += 2;
            continue;
        }
        if c.is_whitespace() || matches!(c, ':' | '-' | ',') {
            i += 1;
            continue;
        }
        let v = c.to_digit(16).ok_or(HexError::BadDigit {
            position: i,
            found: c,
        })?;
        digits.push(v as u8);
        i += 1;
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::OddDigits {
            digits: digits.len(),
        });
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Upper-case hex pairs separated by single spaces, the notation of the frame fixtures.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_accepts_operator_notations() {
        let want = vec![0xDD, 0xA5, 0x03];
        assert_eq!(parse_hex("DD A5 03").unwrap(), want);
        assert_eq!(parse_hex("dda503").unwrap(), want);
        assert_eq!(parse_hex("0xDD,0xa5, 0x03").unwrap(), want);
        assert_eq!(parse_hex("DD:A5-03\n").unwrap(), want);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn hex_errors_name_the_position() {
        assert_eq!(
            parse_hex("DD G5").unwrap_err(),
            HexError::BadDigit {
                position: 3,
                found: 'G'
            }
        );
        assert_eq!(
            parse_hex("DD A").unwrap_err(),
            HexError::OddDigits { digits: 3 }
        );
    }

    #[test]
    fn starts_valid_frame_waits_then_decides() {
        let frame = crate::daly::Frame::request(0x40, 0x90).encode();
        let f = crate::daly::DalyFormat;
        assert_eq!(starts_valid_frame(&f, &frame[..5]), None);
        assert_eq!(starts_valid_frame(&f, &frame), Some(true));
        assert_eq!(starts_valid_frame(&f, &frame[1..]), Some(false));
        let mut bad = frame;
        bad[12] ^= 1;
        assert_eq!(starts_valid_frame(&f, &bad), Some(false));
    }

    #[test]
    fn to_hex_round_trips() {
        let bytes = [0x00, 0x7F, 0xFF, 0xA5];
        assert_eq!(to_hex(&bytes), "00 7F FF A5");
        assert_eq!(parse_hex(&to_hex(&bytes)).unwrap(), bytes);
    }
}
