//! Text from outside (data files, the database, arguments) made safe to print on a terminal.
//!
//! A cell id, a model or a reject reason can hold an ANSI escape, a carriage return or an
//! invisible character; printed as-is they can move the cursor, recolour or rewrite what the
//! operator sees, or make two different ids look the same. [`printable`] escapes them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters that render as nothing (zero-width spaces and joiners, bidi controls,
/// the BOM, soft hyphen, variation selectors, Hangul fillers, tag characters…): Unicode's
/// Default_Ignorable_Code_Point set plus the line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// True for a character [`printable`] escapes: control characters (C0, DEL, C1) and
/// invisible ones.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// `s` with control and invisible characters escaped (`\n`, `\r`, `\t`, else `\u{1b}`), so it
/// prints as one visible line. Borrows when nothing needs escaping.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["C0001", "LFP 35Ah prismatic", "Zellen äöü 電池", "", "a\\b"] {
            assert!(matches!(printable(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn escapes_controls_ansi_and_invisibles() {
        assert_eq!(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(printable("\x1b[2J\x1b[31mOK"), "\\u{1b}[2J\\u{1b}[31mOK");
        assert_eq!(printable("C\u{200b}001"), "C\\u{200b}001");
        assert_eq!(printable("\u{202e}cba"), "\\u{202e}cba");
        assert_eq!(printable("x\u{7f}\u{85}"), "x\\u{7f}\\u{85}");
        assert_eq!(printable("\u{feff}id"), "\\u{feff}id");
    }

    #[test]
    fn nothing_escaped_is_left_that_a_terminal_acts_on() {
        let nasty: String = (0u32..0x300)
            .chain(0x2000..0x2070)
            .chain([0xfeff, 0xe0001])
            .filter_map(char::from_u32)
            .collect();
        let out = printable(&nasty);
        assert!(!out.chars().any(needs_escape), "{out}");
    }
}
