//! Cell intake: reading grading-cabinet exports (CSV or JSON) into validated cells.
//!
//! Parsing is all-or-nothing: the first fault stops it and names the file, line and column,
//! so an operator can fix the export and import again with nothing half-written.
//!
//! Exports come as they come: the delimiter (comma, semicolon, tab), a decimal comma, LF, CRLF
//! or CR line ends and a byte-order mark are detected and said ([`Format`]). Every value is
//! judged for plausibility against its chemistry (`chemistry::Plausible`): a value in another
//! unit than its column says, or from a cell that must not be repurposed, is refused with the
//! likely cause. Ids are trimmed and put in Unicode NFC; control, invisible and line-break
//! characters in them are refused.
//!
//! Everything here is pure (text or bytes in, cells out) except [`files`], which opens the
//! file: CSV is read row by row from it ([`CsvCells`]), so memory stays bounded.

mod delimited;
mod fields;
pub mod files;
mod json;
mod plausible;

pub use delimited::{parse_csv, parse_csv_with_format, CsvCells, MAX_RECORD_BYTES};
pub use fields::{normalise_code, MAX_ID_CHARS, MAX_TEXT_CHARS};
pub use files::{open_csv, read_file, read_file_with_format};
pub use json::{parse_json, parse_json_with_format};

use crate::chemistry::Chemistry;
use crate::domain::Cell;
use serde::Serialize;
use std::fmt;

/// Where a fault is and what it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {}{}: {message}", .line.map(|l| format!("{} {l}", .unit)).unwrap_or_else(|| "file".into()), .column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ImportError {
    pub file: String,
    /// 1-based line (CSV; the header is line 1) or 1-based record number (JSON).
    pub line: Option<usize>,
    /// How `line` is named: "line" (CSV) or "record" (JSON).
    pub unit: &'static str,
    pub column: Option<String>,
    pub message: String,
}

/// Values to fill in for columns a file does not carry (a batch from one cabinet run).
#[derive(Debug, Clone, Default)]
pub struct IntakeDefaults {
    pub chemistry: Option<Chemistry>,
    pub source_code: Option<String>,
    pub model: Option<String>,
    /// `chemistry` is what the operator says the whole file is (`cells import --chemistry`),
    /// not only a fallback: a row whose chemistry column names another is refused.
    pub chemistry_must_match: bool,
}

/// What a file turned out to be, said to the operator so a misread export is noticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Format {
    /// "CSV" or "JSON".
    pub kind: &'static str,
    /// The field separator found in the header (CSV).
    pub delimiter: Option<char>,
    /// Numbers were written with a decimal comma (possible with ';' or tab separators).
    pub decimal_comma: bool,
    /// "LF", "CRLF", "CR" or "mixed" (CSV with more than one line).
    pub line_ends: Option<&'static str>,
    /// The file began with a UTF-8 byte-order mark.
    pub bom: bool,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        match self.delimiter {
            Some(',') => f.write_str(", comma-separated")?,
            Some(';') => f.write_str(", semicolon-separated")?,
            Some('\t') => f.write_str(", tab-separated")?,
            Some(other) => write!(f, ", separated by '{other}'")?,
            None => {}
        }
        if self.decimal_comma {
            f.write_str(", decimal comma")?;
        }
        if let Some(ends) = self.line_ends {
            write!(f, ", {ends} line ends")?;
        }
        f.write_str(if self.bom {
            ", UTF-8 with byte-order mark"
        } else {
            ", UTF-8"
        })
    }
}

/// A parsed file: its cells and the line each came from (for later error messages).
#[derive(Debug, Clone)]
pub struct ParsedCells {
    pub cells: Vec<Cell>,
    pub lines: Vec<usize>,
    /// Header columns that were not recognised and were ignored.
    pub ignored_columns: Vec<String>,
}

impl ParsedCells {
    pub fn line_of(&self, id: &str) -> Option<usize> {
        self.cells
            .iter()
            .position(|c| c.id == id)
            .map(|i| self.lines[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lfp() -> IntakeDefaults {
        IntakeDefaults {
            chemistry: Some(Chemistry::Lfp),
            ..Default::default()
        }
    }

    #[test]
    fn reads_units_and_keeps_empty_as_unmeasured() {
        let csv = "id,capacity_ah,ir_mohm,ocv_v,extra\nA1,10.5,,3.301,x\nA2,10.4,0.7,,y\n";
        let p = parse_csv("f.csv", csv, &lfp()).unwrap();
        assert_eq!(p.cells[0].capacity_mah, Some(10500.0));
        assert_eq!(p.cells[0].ir_mohm, None);
        assert!((p.cells[0].ocv_mv.unwrap() - 3301.0).abs() < 1e-6);
        assert_eq!(p.ignored_columns, vec!["extra".to_string()]);
        assert_eq!(p.lines, vec![2, 3]);
    }

    #[test]
    fn names_line_and_column_of_the_first_fault() {
        let csv = "id,capacity_mah,ir_mohm\n1,2000,20\n2,2o00,21\n3,-5,1\n";
        let e = parse_csv("f.csv", csv, &lfp()).unwrap_err();
        assert_eq!(
            (e.line, e.column.as_deref()),
            (Some(3), Some("capacity_mah"))
        );
        assert!(e.to_string().contains("'2o00' is not a number"), "{e}");
        let e = parse_csv("f.csv", "id,capacity_mah\n1,-5\n", &lfp()).unwrap_err();
        assert!(e.message.contains("negative"), "{e}");
    }

    #[test]
    fn duplicate_id_and_unknown_chemistry_are_rejected() {
        let e = parse_csv("f.csv", "id,capacity_mah\n1,2000\n1,2001\n", &lfp()).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("first on line 2"), "{e}");
        let e = parse_csv("f.csv", "id,capacity_mah,chemistry\n1,2000,NiCd\n", &lfp()).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("chemistry"));
        let e = parse_csv(
            "f.csv",
            "id,capacity_mah\n1,2000\n",
            &IntakeDefaults::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("--chemistry"), "{e}");
    }

    #[test]
    fn short_row_and_empty_file_are_rejected() {
        let e = parse_csv("f.csv", "id,capacity_mah,ir_mohm\n1,2000\n", &lfp()).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(parse_csv("f.csv", "", &lfp()).is_err());
        assert!(parse_csv("f.csv", "id,capacity_mah\n", &lfp()).is_err());
    }

    #[test]
    fn json_records_are_located_by_number() {
        let json =
            r#"[{"id":"a","capacity_mah":2000,"chemistry":"NMC"},{"id":"b","capacity_mah":"x"}]"#;
        let e = parse_json("f.json", json, &lfp()).unwrap_err();
        assert_eq!(
            (e.line, e.column.as_deref()),
            (Some(2), Some("capacity_mah"))
        );
        let ok = parse_json(
            "f.json",
            r#"{"cells":[{"id":"a","capacity_ah":2.0}]}"#,
            &lfp(),
        )
        .unwrap();
        assert_eq!(ok.cells[0].capacity_mah, Some(2000.0));
    }
}
