//! candump notation, as `cansend` reads and `candump -L` writes it, and candump log lines.
//!
//! Frame: `<id>#<data>` where `<id>` is exactly 3 hex digits (11-bit) or 8 (29-bit) and
//! `<data>` is 0–8 bytes as hex pairs, optionally separated by `.` (`351#01.02`). A remote
//! request is `<id>#R` with an optional length digit (`<id>#R4`).
//! Log line: `(<seconds>.<microseconds>) <interface> <frame>`, e.g.
//! `(1436509052.249713) vcan0 044#2A366C2BBA` (can-utils `lib.c`, `candump -l`).

use thiserror::Error;

use super::{CanFrame, FrameError, MAX_EXTENDED_ID, MAX_STANDARD_ID};

/// Longest interface name Linux allows (IFNAMSIZ minus the NUL).
const MAX_IFACE_LEN: usize = 15;

/// Why a text is not a frame in candump notation or not a candump log line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotationError {
    #[error("`{input}`: no `#` between identifier and data (expected ID#DATA, e.g. 351#0102)")]
    NoSeparator { input: String },
    #[error("`{input}`: identifier `{id}` has {len} hex digits; use 3 for an 11-bit id or 8 for a 29-bit id")]
    IdLength {
        input: String,
        id: String,
        len: usize,
    },
    #[error("`{input}`: identifier `{id}` is not hexadecimal")]
    IdNotHex { input: String, id: String },
    #[error("`{input}`: identifier 0x{id:X} is above 0x{max:X}, the largest {bits}-bit id")]
    IdRange {
        input: String,
        id: u32,
        max: u32,
        bits: u8,
    },
    #[error(
        "`{input}`: CAN FD frames (`##`) are not supported; Packwright's protocols use classic CAN"
    )]
    CanFd { input: String },
    #[error("`{input}`: `{ch}` at data position {pos} is not a hex digit")]
    DataNotHex { input: String, ch: char, pos: usize },
    #[error("`{input}`: the data ends in half a byte (odd number of hex digits)")]
    OddDigits { input: String },
    #[error("`{input}`: {len} data bytes; a classic CAN frame carries at most 8")]
    TooLong { input: String, len: usize },
    #[error("`{input}`: remote-request length `{len}` must be one digit 0-8")]
    RemoteLength { input: String, len: String },
    #[error("log line `{line}`: {reason}")]
    LogLine { line: String, reason: String },
    #[error("log line `{line}`: {source}")]
    LogFrame {
        line: String,
        #[source]
        source: Box<NotationError>,
    },
    #[error("log line {line_no}: {source}")]
    AtLine {
        line_no: usize,
        #[source]
        source: Box<NotationError>,
    },
}

/// Parses one frame in candump notation (`351#0102030405060708`).
pub fn parse_frame(input: &str) -> Result<CanFrame, NotationError> {
    let text = input.trim();
    let owned = || text.to_string();
    let (id_text, rest) = text
        .split_once('#')
        .ok_or_else(|| NotationError::NoSeparator { input: owned() })?;
    if rest.starts_with('#') {
        return Err(NotationError::CanFd { input: owned() });
    }
    let extended = match id_text.len() {
        3 => false,
        8 => true,
        len => {
            return Err(NotationError::IdLength {
                input: owned(),
                id: id_text.to_string(),
                len,
            })
        }
    };
    if !id_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NotationError::IdNotHex {
            input: owned(),
            id: id_text.to_string(),
        });
    }
    let id = u32::from_str_radix(id_text, 16).map_err(|_| NotationError::IdNotHex {
        input: owned(),
        id: id_text.to_string(),
    })?;
    let (max, bits) = if extended {
        (MAX_EXTENDED_ID, 29)
    } else {
        (MAX_STANDARD_ID, 11)
    };
    if id > max {
        return Err(NotationError::IdRange {
            input: owned(),
            id,
            max,
            bits,
        });
    }

    if let Some(len_text) = rest.strip_prefix(['R', 'r']) {
        let len = match len_text {
            "" => 0,
            t if t.len() == 1 && matches!(t.as_bytes()[0], b'0'..=b'8') => {
                usize::from(t.as_bytes()[0] - b'0')
            }
            t => {
                return Err(NotationError::RemoteLength {
                    input: owned(),
                    len: t.to_string(),
                })
            }
        };
        return CanFrame::remote(id, extended, len).map_err(|e| frame_error(text, e));
    }

    let data = parse_data(text, rest)?;
    CanFrame::new(id, extended, &data).map_err(|e| frame_error(text, e))
}

/// Hex pairs, with an optional `.` before any byte (can-utils accepts `11.22.33`).
fn parse_data(input: &str, data: &str) -> Result<Vec<u8>, NotationError> {
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            i += 1;
            continue;
        }
        let hi = nibble(input, data, i)?;
        if i + 1 >= bytes.len() || bytes[i + 1] == b'.' {
            return Err(NotationError::OddDigits {
                input: input.to_string(),
            });
        }
        let lo = nibble(input, data, i + 1)?;
        out.push(hi << 4 | lo);
        i += 2;
    }
    if out.len() > 8 {
        return Err(NotationError::TooLong {
            input: input.to_string(),
            len: out.len(),
        });
    }
    Ok(out)
}

fn nibble(input: &str, data: &str, pos: usize) -> Result<u8, NotationError> {
    let b = data.as_bytes()[pos];
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(NotationError::DataNotHex {
            input: input.to_string(),
            // `pos` may sit inside a multi-byte character; report the character there.
            ch: data[..]
                .get(pos..)
                .and_then(|s| s.chars().next())
                .unwrap_or('?'),
            pos,
        }),
    }
}

fn frame_error(input: &str, e: FrameError) -> NotationError {
    match e {
        FrameError::TooLong { len } => NotationError::TooLong {
            input: input.to_string(),
            len,
        },
        FrameError::IdRange { id, extended } => NotationError::IdRange {
            input: input.to_string(),
            id,
            max: if extended {
                MAX_EXTENDED_ID
            } else {
                MAX_STANDARD_ID
            },
            bits: if extended { 29 } else { 11 },
        },
    }
}

/// Writes a frame in candump notation, upper-case, no separators (what `candump -L` prints).
pub fn format_frame(frame: &CanFrame) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(26);
    s.push_str(&super::id_text(frame.id(), frame.is_extended()));
    s.push('#');
    if frame.is_remote() {
        s.push('R');
        if !frame.is_empty() {
            let _ = write!(s, "{}", frame.len());
        }
    } else {
        for b in frame.data() {
            let _ = write!(s, "{b:02X}");
        }
    }
    s
}

/// One line of a candump log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Seconds since the Unix epoch.
    pub secs: u64,
    /// Microseconds within the second, 0–999999.
    pub micros: u32,
    pub interface: String,
    pub frame: CanFrame,
}

impl LogEntry {
    /// The timestamp in microseconds since the epoch.
    pub fn timestamp_us(&self) -> u64 {
        self.secs * 1_000_000 + u64::from(self.micros)
    }
}

/// Parses `(1436509052.249713) vcan0 044#2A366C2BBA`.
pub fn parse_log_line(line: &str) -> Result<LogEntry, NotationError> {
    let text = line.trim();
    let bad = |reason: &str| NotationError::LogLine {
        line: text.to_string(),
        reason: reason.to_string(),
    };
    let rest = text
        .strip_prefix('(')
        .ok_or_else(|| bad("must start with `(seconds.microseconds)`"))?;
    let (stamp, rest) = rest
        .split_once(')')
        .ok_or_else(|| bad("timestamp has no closing `)`"))?;
    let (secs_text, frac_text) = stamp
        .split_once('.')
        .ok_or_else(|| bad("timestamp must be seconds.microseconds"))?;
    if secs_text.is_empty() || !secs_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("timestamp seconds are not a decimal number"));
    }
    if frac_text.is_empty() || frac_text.len() > 6 || !frac_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("timestamp fraction must be 1 to 6 decimal digits"));
    }
    let secs: u64 = secs_text
        .parse()
        .map_err(|_| bad("timestamp seconds out of range"))?;
    if secs > u64::MAX / 1_000_000 - 1 {
        return Err(bad("timestamp seconds out of range"));
    }
    let micros: u32 = format!("{frac_text:0<6}")
        .parse()
        .map_err(|_| bad("timestamp fraction is not a number"))?;

    let mut fields = rest.split_whitespace();
    let interface = fields
        .next()
        .ok_or_else(|| bad("no interface name after the timestamp"))?;
    if interface.len() > MAX_IFACE_LEN || interface.contains('/') {
        return Err(bad("interface name must be 1-15 characters without `/`"));
    }
    let frame_text = fields
        .next()
        .ok_or_else(|| bad("no frame after the interface name"))?;
    if let Some(extra) = fields.next() {
        return Err(NotationError::LogLine {
            line: text.to_string(),
            reason: format!("unexpected `{extra}` after the frame"),
        });
    }
    let frame = parse_frame(frame_text).map_err(|e| NotationError::LogFrame {
        line: text.to_string(),
        source: Box::new(e),
    })?;
    Ok(LogEntry {
        secs,
        micros,
        interface: interface.to_string(),
        frame,
    })
}

/// Formats a log line as `candump -l` writes it.
pub fn format_log_line(entry: &LogEntry) -> String {
    format!(
        "({}.{:06}) {} {}",
        entry.secs,
        entry.micros,
        entry.interface,
        format_frame(&entry.frame)
    )
}

/// Parses a whole candump log, skipping blank lines; an error names its 1-based line.
pub fn parse_log(text: &str) -> Result<Vec<LogEntry>, NotationError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_log_line(l).map_err(|e| NotationError::AtLine {
                line_no: i + 1,
                source: Box::new(e),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_frame(id: u32, data: &[u8]) -> CanFrame {
        CanFrame::standard(id, data).unwrap()
    }

    #[test]
    fn parses_standard_frame() {
        let f = parse_frame("351#0102030405060708").unwrap();
        assert_eq!(f, std_frame(0x351, &[1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(!f.is_extended());
    }

    #[test]
    fn parses_extended_frame_and_lower_case() {
        let f = parse_frame("18904001#75300000ab").unwrap();
        assert_eq!(f.id(), 0x1890_4001);
        assert!(f.is_extended());
        assert_eq!(f.data(), &[0x75, 0x30, 0x00, 0x00, 0xAB]);
    }

    #[test]
    fn parses_empty_data_and_dot_separators() {
        assert_eq!(parse_frame("100#").unwrap(), std_frame(0x100, &[]));
        assert_eq!(
            parse_frame("123#DE.AD.BE.EF").unwrap(),
            std_frame(0x123, &[0xDE, 0xAD, 0xBE, 0xEF])
        );
    }

    #[test]
    fn parses_remote_frames() {
        let f = parse_frame("123#R").unwrap();
        assert!(f.is_remote());
        assert_eq!(f.len(), 0);
        let f = parse_frame("123#R8").unwrap();
        assert_eq!(f.len(), 8);
        assert_eq!(format_frame(&f), "123#R8");
        assert!(matches!(
            parse_frame("123#R9"),
            Err(NotationError::RemoteLength { .. })
        ));
    }

    #[test]
    fn rejects_malformed_notation_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("3510102", "no `#`"),
            ("35#01", "has 2 hex digits"),
            ("3510#01", "has 4 hex digits"),
            ("35G#01", "not hexadecimal"),
            ("800#01", "above 0x7FF"),
            ("20000000#01", "above 0x1FFFFFFF"),
            ("351#010", "half a byte"),
            ("351#0X", "`X` at data position 1"),
            ("351#010203040506070809", "9 data bytes"),
            ("351##10102", "CAN FD"),
            ("351#0.10", "half a byte"),
        ];
        for (input, reason) in cases {
            let err = parse_frame(input).expect_err(input).to_string();
            assert!(err.contains(reason), "{input}: `{err}` lacks `{reason}`");
        }
    }

    #[test]
    fn format_matches_candump() {
        assert_eq!(format_frame(&std_frame(0x35C, &[0xC0, 0])), "35C#C000");
        assert_eq!(
            format_frame(&CanFrame::extended(0x1890_0140, &[0; 8]).unwrap()),
            "18900140#0000000000000000"
        );
        assert_eq!(format_frame(&std_frame(0x7, &[])), "007#");
    }

    #[test]
    fn parses_and_formats_log_lines() {
        let line = "(1436509052.249713) vcan0 044#2A366C2BBA";
        let e = parse_log_line(line).unwrap();
        assert_eq!(e.secs, 1_436_509_052);
        assert_eq!(e.micros, 249_713);
        assert_eq!(e.interface, "vcan0");
        assert_eq!(e.frame, std_frame(0x44, &[0x2A, 0x36, 0x6C, 0x2B, 0xBA]));
        assert_eq!(format_log_line(&e), line);
        assert_eq!(e.timestamp_us(), 1_436_509_052_249_713);
    }

    #[test]
    fn short_fraction_is_scaled_to_microseconds() {
        let e = parse_log_line("(12.5) can0 100#").unwrap();
        assert_eq!(e.micros, 500_000);
    }

    #[test]
    fn rejects_bad_log_lines_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("1436509052.249713 vcan0 044#2A", "must start with"),
            ("(1436509052.249713 vcan0 044#2A", "no closing"),
            ("(1436509052) vcan0 044#2A", "seconds.microseconds"),
            ("(14x.1) vcan0 044#2A", "not a decimal"),
            ("(1.1234567) vcan0 044#2A", "1 to 6"),
            ("(1.1)", "no interface"),
            ("(1.1) vcan0", "no frame"),
            ("(1.1) vcan0 044#2A extra", "unexpected `extra`"),
            ("(1.1) vcan0 04#2A", "has 2 hex digits"),
            ("(1.1) averyveryverylongname 044#2A", "1-15 characters"),
            ("(99999999999999999999.1) vcan0 044#2A", "out of range"),
        ];
        for (line, reason) in cases {
            let err = parse_log_line(line).expect_err(line).to_string();
            assert!(err.contains(reason), "{line}: `{err}` lacks `{reason}`");
        }
    }

    #[test]
    fn parse_log_names_the_failing_line() {
        let text = "(1.000001) vcan0 351#00\n\n(1.000002) vcan0 35#00\n";
        let err = parse_log(text).unwrap_err().to_string();
        assert!(err.starts_with("log line 3:"), "{err}");
        let ok = parse_log("(1.000001) vcan0 351#00\n\n(1.000002) vcan0 355#01\n").unwrap();
        assert_eq!(ok.len(), 2);
    }
}
