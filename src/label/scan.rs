//! Scan-back: what a barcode scanner typed, reduced to the data the symbol carries, and
//! compared with the pack's code. Pure.
//!
//! A scanner may put an AIM symbology identifier in front of the data (`]C0`/`]C1` Code 128,
//! `]Q1`/`]Q3` QR, `]d1`/`]d2` Data Matrix; `]`, a letter, a digit) and, for GS1 data,
//! send FNC1 as the GS character (0x1D): a leading FNC1 marks the symbol as GS1 and a
//! trailing one ends the last element string, so both are dropped; a GS inside the data
//! separates element strings and is kept (a pack code has none, so such a scan never matches
//! and the refusal shows it as `<GS>`). The Enter (CR/LF) that ends a scan, and spaces
//! around the data, are not part of it.

use serde::Serialize;

/// The GS character, FNC1 as a scanner sends it.
pub const GS: char = '\u{1d}';

/// A scan reduced to its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// The AIM symbology identifier the scanner sent (`]Q1`), if any.
    pub symbology: Option<String>,
    /// What the symbol carries.
    pub data: String,
}

impl Scan {
    /// The symbology in words, for the record and the screen.
    pub fn symbology_name(&self) -> Option<&'static str> {
        let id = self.symbology.as_deref()?;
        Some(match id.get(1..2)? {
            "C" => "Code 128",
            "Q" => "QR code",
            "d" => "Data Matrix",
            "E" => "EAN/UPC",
            "A" => "Code 39",
            "e" => "GS1 DataBar",
            _ => "another symbology",
        })
    }
}

/// `raw` as the scanner typed it, reduced to the symbol's data.
pub fn normalise(raw: &str) -> Scan {
    let mut text = raw.trim_matches(|c: char| c == '\r' || c == '\n' || c == ' ' || c == '\t');
    let mut symbology = None;
    let b = text.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_digit() {
        symbology = text.get(..3).map(str::to_string);
        text = text.get(3..).unwrap_or("");
    }
    let text = text.strip_prefix(GS).unwrap_or(text);
    let text = text.strip_suffix(GS).unwrap_or(text);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\t');
    Scan {
        symbology,
        data: text.to_string(),
    }
}

/// `text` with every GS shown as `<GS>` (for a message; other control characters are the
/// caller's to escape).
pub fn show(text: &str) -> String {
    text.replace(GS, "<GS>")
}

/// What the label must say for `pack_code` to be proved: the code itself, or the resolver
/// URL the QR code carries.
pub fn matches(scan: &Scan, pack_code: &str, qr_url: Option<&str>) -> bool {
    let code = pack_code.trim();
    if code.is_empty() {
        return false;
    }
    scan.data == code || qr_url.is_some_and(|u| scan.data == u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aim_prefixes_and_gs1_separators_are_taken_off() {
        let plain = normalise("PWT0000001\r\n");
        assert_eq!(plain.data, "PWT0000001");
        assert_eq!(plain.symbology, None);
        assert_eq!(plain.symbology_name(), None);

        for (raw, id, name) in [
            ("]C0PWT0000001", "]C0", "Code 128"),
            ("]C1\u{1d}PWT0000001\u{1d}", "]C1", "Code 128"),
            ("]Q1PWT0000001", "]Q1", "QR code"),
            ("]Q3\u{1d}PWT0000001", "]Q3", "QR code"),
            ("]d2\u{1d}PWT0000001\n", "]d2", "Data Matrix"),
            ("]d2PWT0000001", "]d2", "Data Matrix"),
            ("]X0PWT0000001", "]X0", "another symbology"),
        ] {
            let s = normalise(raw);
            assert_eq!(s.data, "PWT0000001", "{raw:?}");
            assert_eq!(s.symbology.as_deref(), Some(id), "{raw:?}");
            assert_eq!(s.symbology_name(), Some(name), "{raw:?}");
            assert!(matches(&s, "PWT0000001", None), "{raw:?}");
        }
        // A leading FNC1 without an identifier.
        assert_eq!(normalise("\u{1d}PWT0000001").data, "PWT0000001");
    }

    #[test]
    fn anything_else_is_not_the_pack_code() {
        let code = "PWT0000001";
        for raw in [
            "PWT0000002",
            "pwt0000001",
            "PWT000000",
            "PWT00000011",
            "]C1PWT00\u{1d}00001",
            "]Q1PWT0000001 extra",
            "",
            "]Q1",
            "]C1\u{1d}",
        ] {
            assert!(!matches(&normalise(raw), code, None), "{raw:?} matched");
        }
        // An empty pack code matches nothing, not even an empty scan.
        assert!(!matches(&normalise(""), "", None));
        // A GS inside the data is kept and shown.
        let s = normalise("]C1PWT00\u{1d}00001");
        assert_eq!(show(&s.data), "PWT00<GS>00001");
        // A `]` that is not an identifier is data.
        assert_eq!(normalise("]PWT").data, "]PWT");
    }

    #[test]
    fn the_qr_resolver_url_proves_the_label_too() {
        let url = "https://id.example.com/p/PWT0000001";
        let s = normalise(&format!("]Q1{url}\r"));
        assert!(matches(&s, "PWT0000001", Some(url)));
        assert!(!matches(&s, "PWT0000001", None));
        assert!(!matches(
            &normalise("https://id.example.com/p/PWT0000002"),
            "PWT0000001",
            Some(url)
        ));
    }
}
