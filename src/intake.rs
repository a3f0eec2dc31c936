//! Cell intake: reading grading-cabinet exports (CSV or JSON) into validated cells.
//!
//! Parsing is all-or-nothing: the first fault stops it and names the file, line and column,
//! so an operator can fix the export and import again with nothing half-written.

use crate::chemistry::Chemistry;
use crate::domain::{Cell, CellStatus};
use std::collections::HashMap;
use std::path::Path;

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

/// The field a column feeds, and the factor from the column's unit to the stored unit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Id,
    CapacityMah(f64),
    IrMohm,
    OcvMv(f64),
    SelfDischarge,
    Chemistry,
    Model,
    Grade,
    SourceCode,
}

fn field_for(column: &str) -> Option<Field> {
    Some(match column.trim().to_ascii_lowercase().as_str() {
        "id" | "cell_id" | "barcode" | "cell_barcode" => Field::Id,
        "capacity_mah" => Field::CapacityMah(1.0),
        "capacity_ah" => Field::CapacityMah(1000.0),
        "ir_mohm" | "internal_resistance_mohm" | "acir_mohm" => Field::IrMohm,
        "ocv_v" | "voltage_v" => Field::OcvMv(1000.0),
        "ocv_mv" | "voltage_mv" => Field::OcvMv(1.0),
        "self_discharge_mv_per_day" | "k_mv_per_day" => Field::SelfDischarge,
        "chemistry" => Field::Chemistry,
        "model" => Field::Model,
        "grade" => Field::Grade,
        "source_code" | "source" | "module_code" => Field::SourceCode,
        _ => return None,
    })
}

struct RowError {
    column: Option<String>,
    message: String,
}

fn row_err(column: &str, message: impl Into<String>) -> RowError {
    RowError {
        column: Some(column.to_string()),
        message: message.into(),
    }
}

/// Build one cell from `(column name, field, raw text)` triples.
fn build_cell(values: &[(&str, Field, &str)], defaults: &IntakeDefaults) -> Result<Cell, RowError> {
    let mut cell = Cell {
        id: String::new(),
        chemistry: Chemistry::Lfp,
        model: defaults.model.clone(),
        capacity_mah: None,
        ir_mohm: None,
        ocv_mv: None,
        self_discharge_mv_per_day: None,
        grade: None,
        source_code: defaults.source_code.clone(),
        status: CellStatus::Available,
        status_reason: None,
    };
    let mut chemistry = defaults.chemistry;
    let number = |column: &str, raw: &str| -> Result<Option<f64>, RowError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let v: f64 = raw
            .trim()
            .parse()
            .map_err(|_| row_err(column, format!("'{raw}' is not a number")))?;
        if !v.is_finite() {
            return Err(row_err(column, format!("'{raw}' is not a finite number")));
        }
        if v < 0.0 {
            return Err(row_err(column, format!("{v} is negative")));
        }
        Ok(Some(v))
    };
    let text = |raw: &str| Some(raw.trim().to_string()).filter(|s| !s.is_empty());
    for &(column, field, raw) in values {
        match field {
            Field::Id => cell.id = raw.trim().to_string(),
            Field::CapacityMah(k) => cell.capacity_mah = number(column, raw)?.map(|v| v * k),
            Field::IrMohm => cell.ir_mohm = number(column, raw)?,
            Field::OcvMv(k) => cell.ocv_mv = number(column, raw)?.map(|v| v * k),
            Field::SelfDischarge => cell.self_discharge_mv_per_day = number(column, raw)?,
            Field::Chemistry => {
                if let Some(t) = text(raw) {
                    chemistry =
                        Some(t.parse().map_err(|e: crate::chemistry::UnknownChemistry| {
                            row_err(column, e.to_string())
                        })?);
                }
            }
            Field::Model => cell.model = text(raw).or(cell.model.take()),
            Field::Grade => cell.grade = text(raw),
            Field::SourceCode => cell.source_code = text(raw).or(cell.source_code.take()),
        }
    }
    if cell.id.is_empty() {
        return Err(row_err("id", "empty: every cell needs its barcode or id"));
    }
    let capacity_column = values
        .iter()
        .find(|(_, f, _)| matches!(f, Field::CapacityMah(_)))
        .map(|(c, _, _)| *c)
        .unwrap_or("capacity_mah");
    match cell.capacity_mah {
        None => {
            return Err(row_err(
                capacity_column,
                "empty: every graded cell needs a measured capacity",
            ))
        }
        Some(0.0) => return Err(row_err(capacity_column, "0 mAh is not a graded capacity")),
        _ => {}
    }
    cell.chemistry = chemistry.ok_or_else(|| {
        row_err(
            "chemistry",
            "not given: add a chemistry column or pass --chemistry",
        )
    })?;
    Ok(cell)
}

/// Read a CSV or JSON export (by extension; `.json` is JSON, anything else CSV).
pub fn read_file(path: &Path, defaults: &IntakeDefaults) -> Result<ParsedCells, ImportError> {
    let file = path.display().to_string();
    let whole_file = |message: String| ImportError {
        file: file.clone(),
        line: None,
        unit: "line",
        column: None,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(format!(
            "not UTF-8 text (byte {}); export the file as UTF-8 CSV",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        parse_json(&file, &text, defaults)
    } else {
        parse_csv(&file, &text, defaults)
    }
}

/// Collects a file's rows into cells, checking ids are unique within the file.
struct Rows<'a> {
    file: &'a str,
    /// "line" for CSV, "record" for JSON: how a position is named in messages.
    unit: &'static str,
    cells: Vec<Cell>,
    lines: Vec<usize>,
    first_at: HashMap<String, usize>,
    ignored_columns: Vec<String>,
}

impl<'a> Rows<'a> {
    fn new(file: &'a str, unit: &'static str) -> Self {
        Rows {
            file,
            unit,
            cells: Vec::new(),
            lines: Vec::new(),
            first_at: HashMap::new(),
            ignored_columns: Vec::new(),
        }
    }

    fn err(&self, line: Option<usize>, column: Option<String>, message: String) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            line,
            unit: self.unit,
            column,
            message,
        }
    }

    fn push(
        &mut self,
        at: usize,
        values: &[(&str, Field, &str)],
        defaults: &IntakeDefaults,
    ) -> Result<(), ImportError> {
        let cell =
            build_cell(values, defaults).map_err(|e| self.err(Some(at), e.column, e.message))?;
        if let Some(prev) = self.first_at.insert(cell.id.clone(), at) {
            return Err(self.err(
                Some(at),
                Some("id".into()),
                format!("duplicate id '{}' (first on {} {prev})", cell.id, self.unit),
            ));
        }
        self.cells.push(cell);
        self.lines.push(at);
        Ok(())
    }

    fn finish(self, empty: &str) -> Result<ParsedCells, ImportError> {
        if self.cells.is_empty() {
            return Err(self.err(None, None, empty.to_string()));
        }
        Ok(ParsedCells {
            cells: self.cells,
            lines: self.lines,
            ignored_columns: self.ignored_columns,
        })
    }
}

/// Parse CSV text. `file` only names the source in errors.
pub fn parse_csv(
    file: &str,
    text: &str,
    defaults: &IntakeDefaults,
) -> Result<ParsedCells, ImportError> {
    let mut rows = Rows::new(file, "line");
    let header_err = |rows: &Rows, column: Option<&str>, message: &str| {
        rows.err(Some(1), column.map(str::to_string), message.to_string())
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| header_err(&rows, None, &format!("cannot read the header row: {e}")))?
        .clone();
    if headers.iter().all(str::is_empty) {
        return Err(header_err(
            &rows,
            None,
            "empty file: expected a header row such as 'id,capacity_mah,ir_mohm'",
        ));
    }
    let mut columns = Vec::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for name in headers.iter() {
        let field = field_for(name);
        if let Some(f) = field {
            let key = format!("{:?}", std::mem::discriminant(&f));
            if let Some(other) = seen.insert(key, name) {
                let message = format!("gives the same quantity as column '{other}'; keep one");
                return Err(header_err(&rows, Some(name), &message));
            }
        } else {
            rows.ignored_columns.push(name.to_string());
        }
        columns.push((name.to_string(), field));
    }
    if !columns.iter().any(|(_, f)| *f == Some(Field::Id)) {
        return Err(header_err(
            &rows,
            None,
            "no 'id' column: the header must name each cell's id or barcode",
        ));
    }
    if !columns
        .iter()
        .any(|(_, f)| matches!(f, Some(Field::CapacityMah(_))))
    {
        return Err(header_err(
            &rows,
            None,
            "no capacity column: expected 'capacity_mah' or 'capacity_ah'",
        ));
    }
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("has {len} fields but the header has {expected_len}"),
                _ => e.to_string(),
            };
            rows.err(line, None, message)
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let values: Vec<(&str, Field, &str)> = columns
            .iter()
            .zip(record.iter())
            .filter_map(|((name, field), raw)| field.map(|f| (name.as_str(), f, raw)))
            .collect();
        rows.push(line, &values, defaults)?;
    }
    rows.finish("no cells: the file has a header but no rows")
}

/// Parse JSON: an array of objects with the CSV column names as keys, or `{"cells": [...]}`.
pub fn parse_json(
    file: &str,
    text: &str,
    defaults: &IntakeDefaults,
) -> Result<ParsedCells, ImportError> {
    let mut rows = Rows::new(file, "record");
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| rows.err(Some(e.line()), None, format!("not valid JSON: {e}")))?;
    let not_cells = "expected an array of cells or an object with a 'cells' array".to_string();
    let records = match &value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("cells") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(rows.err(None, None, not_cells)),
        },
        _ => return Err(rows.err(None, None, not_cells)),
    };
    for (i, record) in records.iter().enumerate() {
        let n = i + 1;
        let obj = record
            .as_object()
            .ok_or_else(|| rows.err(Some(n), None, "record is not an object".into()))?;
        let mut owned: Vec<(String, Field, String)> = Vec::new();
        for (key, v) in obj {
            let Some(field) = field_for(key) else {
                if !rows.ignored_columns.contains(key) {
                    rows.ignored_columns.push(key.clone());
                }
                continue;
            };
            let raw = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    let message = format!("unexpected value {other}");
                    return Err(rows.err(Some(n), Some(key.clone()), message));
                }
            };
            owned.push((key.clone(), field, raw));
        }
        for (needed, column, what) in [
            (Field::Id, "id", "its id or barcode"),
            (
                Field::CapacityMah(1.0),
                "capacity_mah",
                "a measured capacity",
            ),
        ] {
            let present = owned
                .iter()
                .any(|(_, f, _)| std::mem::discriminant(f) == std::mem::discriminant(&needed));
            if !present {
                let message = format!("missing: every graded cell needs {what}");
                return Err(rows.err(Some(n), Some(column.into()), message));
            }
        }
        let values: Vec<(&str, Field, &str)> = owned
            .iter()
            .map(|(k, f, r)| (k.as_str(), *f, r.as_str()))
            .collect();
        rows.push(n, &values, defaults)?;
    }
    rows.finish("no cells in the file")
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
