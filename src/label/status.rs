//! A Zebra printer's answer to `~HS` (host status): three `<STX>…<ETX><CR><LF>` strings of
//! comma-separated fields, parsed into flags and said in plain words.
//!
//! String 1: `aaa,b,c,dddd,eee,f,g,h,iii,j,k,l` — communication settings, paper out, pause,
//! label length, formats in the receive buffer, buffer full, diagnostic mode, partial format,
//! unused, corrupt RAM, under temperature, over temperature. String 2:
//! `mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www` — function settings, unused, head up, ribbon out,
//! thermal-transfer mode, print mode, print width mode, label waiting, labels remaining in the
//! batch, format while printing, graphic images stored. String 3: `xxxx,y` — password, static
//! RAM installed.

use serde::Serialize;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// What the printer said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    pub paper_out: bool,
    pub paused: bool,
    /// Label length in dots, as the printer measured it.
    pub label_length_dots: u32,
    /// Formats waiting in the receive buffer.
    pub formats_in_buffer: u32,
    pub buffer_full: bool,
    pub diagnostic_mode: bool,
    /// A format is being received (another job is half sent).
    pub partial_format: bool,
    pub corrupt_ram: bool,
    pub under_temperature: bool,
    pub over_temperature: bool,
    pub head_open: bool,
    pub ribbon_out: bool,
    pub thermal_transfer: bool,
    /// A printed label waits to be taken (peel-off mode).
    pub label_waiting: bool,
    /// Labels still to print in the current batch.
    pub labels_remaining: u32,
}

/// Why a reply could not be read as a host status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("the printer's status reply has {0} of the 3 strings ~HS returns")]
    Incomplete(usize),
    #[error("the printer's status string {string} has {found} fields, {wanted} expected")]
    Fields {
        string: usize,
        found: usize,
        wanted: usize,
    },
    #[error("the printer's status string {string}, field {field}: '{text}' is not a number")]
    Number {
        string: usize,
        field: usize,
        text: String,
    },
}

/// The `STX…ETX` strings in `reply`, in order (complete ones only).
fn strings(reply: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = reply;
    while let Some(start) = rest.iter().position(|&b| b == STX) {
        let after = &rest[start + 1..];
        let Some(end) = after.iter().position(|&b| b == ETX) else {
            break;
        };
        out.push(String::from_utf8_lossy(&after[..end]).into_owned());
        rest = &after[end + 1..];
    }
    out
}

/// Whether `reply` holds the three strings of a whole `~HS` answer (for a reader deciding
/// when to stop).
pub fn is_complete(reply: &[u8]) -> bool {
    strings(reply).len() >= 3
}

fn number(fields: &[&str], string: usize, field: usize) -> Result<u32, StatusError> {
    let text = fields.get(field).copied().unwrap_or("").trim();
    text.parse().map_err(|_| StatusError::Number {
        string,
        field: field + 1,
        text: text.to_string(),
    })
}

fn flag(fields: &[&str], string: usize, field: usize) -> Result<bool, StatusError> {
    Ok(number(fields, string, field)? != 0)
}

impl HostStatus {
    /// Parse a whole `~HS` reply (bytes before the first STX and after the third string are
    /// ignored).
    pub fn parse(reply: &[u8]) -> Result<HostStatus, StatusError> {
        let strings = strings(reply);
        if strings.len() < 3 {
            return Err(StatusError::Incomplete(strings.len()));
        }
        let one: Vec<&str> = strings[0].split(',').collect();
        let two: Vec<&str> = strings[1].split(',').collect();
        for (i, (fields, wanted)) in [(&one, 12), (&two, 11)].into_iter().enumerate() {
            // Older firmware leaves trailing fields off; fewer than 9 is not a status.
            if fields.len() < 9 {
                return Err(StatusError::Fields {
                    string: i + 1,
                    found: fields.len(),
                    wanted,
                });
            }
        }
        let optional = |fields: &[&str], string, field| -> Result<bool, StatusError> {
            if field < fields.len() {
                flag(fields, string, field)
            } else {
                Ok(false)
            }
        };
        Ok(HostStatus {
            paper_out: flag(&one, 1, 1)?,
            paused: flag(&one, 1, 2)?,
            label_length_dots: number(&one, 1, 3)?,
            formats_in_buffer: number(&one, 1, 4)?,
            buffer_full: flag(&one, 1, 5)?,
            diagnostic_mode: flag(&one, 1, 6)?,
            partial_format: flag(&one, 1, 7)?,
            corrupt_ram: optional(&one, 1, 9)?,
            under_temperature: optional(&one, 1, 10)?,
            over_temperature: optional(&one, 1, 11)?,
            head_open: flag(&two, 2, 2)?,
            ribbon_out: flag(&two, 2, 3)?,
            thermal_transfer: flag(&two, 2, 4)?,
            label_waiting: flag(&two, 2, 7)?,
            labels_remaining: number(&two, 2, 8)?,
        })
    }

    /// What keeps the printer from printing a label now, in plain words; empty when ready.
    pub fn problems(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut say = |on: bool, text| {
            if on {
                out.push(text)
            }
        };
        say(self.paper_out, "out of labels (paper out): load labels");
        say(self.head_open, "the print head is open: close it");
        say(
            self.ribbon_out && self.thermal_transfer,
            "out of ribbon: load a ribbon",
        );
        say(self.paused, "paused: press pause on the printer to resume");
        say(
            self.buffer_full,
            "its receive buffer is full: wait for it to print",
        );
        say(self.partial_format, "it is still receiving another job");
        say(
            self.corrupt_ram,
            "its memory is corrupt (configuration lost): reset it",
        );
        say(self.under_temperature, "the print head is too cold");
        say(
            self.over_temperature,
            "the print head is too hot: let it cool",
        );
        say(
            self.diagnostic_mode,
            "it is in communication diagnostics mode",
        );
        out
    }

    /// Whether nothing keeps the printer from printing.
    pub fn is_ready(&self) -> bool {
        self.problems().is_empty()
    }

    /// The problems as one sentence, or `ready`.
    pub fn describe(&self) -> String {
        let problems = self.problems();
        if problems.is_empty() {
            "ready".into()
        } else {
            problems.join("; ")
        }
    }
}

/// A `~HS` reply with these flags (for simulators and tests): the layout a Zebra printer uses.
pub fn reply(paper_out: bool, paused: bool, head_open: bool) -> Vec<u8> {
    let b = |on: bool| u8::from(on);
    format!(
        "\x02030,{},{},1218,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,{},0,0,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
        b(paper_out),
        b(paused),
        b(head_open)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_printer_has_no_problems() {
        let s = HostStatus::parse(&reply(false, false, false)).unwrap();
        assert!(s.is_ready());
        assert_eq!(s.describe(), "ready");
        assert_eq!(s.label_length_dots, 1218);
        assert_eq!(s.labels_remaining, 0);
    }

    #[test]
    fn paper_out_paused_and_head_open_are_said_in_plain_words() {
        let s = HostStatus::parse(&reply(true, true, true)).unwrap();
        assert!(s.paper_out && s.paused && s.head_open);
        let text = s.describe();
        assert!(text.contains("out of labels"), "{text}");
        assert!(text.contains("head is open"), "{text}");
        assert!(text.contains("paused"), "{text}");
    }

    #[test]
    fn every_flag_of_string_one_and_two_is_read_from_its_field() {
        let r = b"\x02030,0,0,0812,003,1,0,1,000,1,1,1\x03\r\n\x02001,0,0,1,1,2,6,1,00000042,1,000\x03\r\n\x021234,0\x03\r\n";
        let s = HostStatus::parse(r).unwrap();
        assert_eq!(s.formats_in_buffer, 3);
        assert!(s.buffer_full && s.partial_format && s.corrupt_ram);
        assert!(s.under_temperature && s.over_temperature);
        assert!(s.ribbon_out && s.thermal_transfer && s.label_waiting);
        assert_eq!(s.labels_remaining, 42);
        assert_eq!(s.problems().len(), 6);
        assert!(s.describe().contains("out of ribbon"));
    }

    #[test]
    fn ribbon_out_is_no_problem_in_direct_thermal_mode() {
        let r = b"\x02030,0,0,0812,000,0,0,0,000,0,0,0\x03\x02001,0,0,1,0,2,6,0,00000000,1,000\x03\x021234,0\x03";
        let s = HostStatus::parse(r).unwrap();
        assert!(s.ribbon_out && s.is_ready());
    }

    #[test]
    fn short_or_garbled_replies_are_errors_not_a_ready_printer() {
        assert_eq!(
            HostStatus::parse(b"\x02030,0,0\x03"),
            Err(StatusError::Incomplete(1))
        );
        assert!(!is_complete(b"\x02a\x03\x02b\x03\x02c"));
        assert!(is_complete(&reply(false, false, false)));
        let bad = b"\x02030,x,0,0812,000,0,0,0,000,0,0,0\x03\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\x021234,0\x03";
        assert!(matches!(
            HostStatus::parse(bad),
            Err(StatusError::Number {
                string: 1,
                field: 2,
                ..
            })
        ));
        let short = b"\x02030,0\x03\x02001\x03\x021234,0\x03";
        assert!(matches!(
            HostStatus::parse(short),
            Err(StatusError::Fields { string: 1, .. })
        ));
    }
}
