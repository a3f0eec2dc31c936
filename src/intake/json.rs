//! JSON exports: an array of objects with the CSV column names as keys, or `{"cells": [...]}`.
//! Pure. A byte-order mark is accepted; a key given twice in one record is refused (JSON
//! readers disagree on which one counts, so the file does not say what it means).

use super::fields::{build_cell, field_for, Field, Numbers, SeenIds};
use super::{Format, ImportError, IntakeDefaults, ParsedCells};
use crate::text::printable;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::{Cell as Shared, RefCell};
use std::fmt;

/// One record's keys and values, in file order.
type Entries = Vec<(String, serde_json::Value)>;

/// Where the deserializer was when it failed, for a message naming the record.
#[derive(Default)]
struct Progress {
    /// The 1-based record being read; 0 outside the records.
    record: Shared<usize>,
    duplicate: RefCell<Option<String>>,
}

struct Top<'a>(&'a Progress);
struct RecordsSeed<'a>(&'a Progress);
struct RecordSeed<'a>(&'a Progress);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Option<Vec<Entries>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Option<Vec<Entries>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of cells or an object with a 'cells' array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        RecordsSeed(self.0).visit_seq(seq).map(Some)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cells = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "cells" {
                if cells.is_some() {
                    return Err(de::Error::custom("key 'cells' appears twice"));
                }
                cells = Some(map.next_value_seed(RecordsSeed(self.0))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(cells)
    }
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<Entries>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Vec<Entries>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of cells")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.record.set(out.len() + 1);
            match seq.next_element_seed(RecordSeed(self.0))? {
                Some(entries) => out.push(entries),
                None => break,
            }
        }
        self.0.record.set(0);
        Ok(out)
    }
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Entries;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record: an object of column names and values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                let message = format!("duplicate key '{}'", printable(&key));
                *self.0.duplicate.borrow_mut() = Some(key);
                return Err(de::Error::custom(message));
            }
            let value: serde_json::Value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(entries)
    }
}

/// Parse JSON text. `file` only names the source in errors.
pub fn parse_json(
    file: &str,
    text: &str,
    defaults: &IntakeDefaults,
) -> Result<ParsedCells, ImportError> {
    parse_json_with_format(file, text.as_bytes(), defaults).map(|(p, _)| p)
}

/// Parse JSON bytes (UTF-8, with or without a byte-order mark), saying what was detected.
pub fn parse_json_with_format(
    file: &str,
    bytes: &[u8],
    defaults: &IntakeDefaults,
) -> Result<(ParsedCells, Format), ImportError> {
    let err = |line: Option<usize>, unit: &'static str, column: Option<String>, message: String| {
        ImportError {
            file: file.to_string(),
            line,
            unit,
            column,
            message,
        }
    };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let message = "UTF-16 text: save the export as UTF-8".to_string();
        return Err(err(None, "record", None, message));
    }
    let (bom, bytes) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let message = format!(
            "not UTF-8 text (byte {}); export the file as UTF-8",
            e.valid_up_to() + 1
        );
        err(None, "record", None, message)
    })?;
    let progress = Progress::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Top(&progress)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    let records = match parsed {
        Ok(Some(records)) => records,
        Ok(None) => {
            let message = "expected an array of cells or an object with a 'cells' array";
            return Err(err(None, "record", None, message.into()));
        }
        Err(e) => {
            let n = progress.record.get();
            if let Some(key) = progress.duplicate.take() {
                let message = format!(
                    "key '{}' appears twice in record {n} (JSON line {}); keep one",
                    printable(&key),
                    e.line()
                );
                return Err(err(
                    Some(n),
                    "record",
                    Some(printable(&key).into()),
                    message,
                ));
            }
            // Valid JSON of the wrong shape is not a syntax fault: say which.
            let what = if e.classify() == serde_json::error::Category::Data {
                "not a cell export"
            } else {
                "not valid JSON"
            };
            if n > 0 {
                let message = format!("{what}: {e}");
                return Err(err(Some(n), "record", None, message));
            }
            let message = format!("{what}: {e}");
            return Err(err(
                Some(e.line()),
                "line",
                Some(e.column().to_string()),
                message,
            ));
        }
    };
    let mut numbers = Numbers::default();
    let mut seen = SeenIds::default();
    let mut cells = Vec::new();
    let mut lines = Vec::new();
    let mut ignored_columns: Vec<String> = Vec::new();
    for (i, entries) in records.iter().enumerate() {
        let n = i + 1;
        let at = |column: Option<String>, message: String| err(Some(n), "record", column, message);
        let mut owned: Vec<(String, Field, String)> = Vec::new();
        for (key, v) in entries {
            let shown_key = printable(key).into_owned();
            let Some(field) = field_for(key) else {
                if !ignored_columns.contains(&shown_key) {
                    ignored_columns.push(shown_key);
                }
                continue;
            };
            if let Some((other, _, _)) = owned.iter().find(|(_, f, _)| f.same_quantity(field)) {
                let message = format!(
                    "gives the same quantity as key '{}'; keep one",
                    printable(other)
                );
                return Err(at(Some(shown_key), message));
            }
            let raw = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    let message = format!("unexpected value {}", printable(&other.to_string()));
                    return Err(at(Some(shown_key), message));
                }
            };
            owned.push((key.clone(), field, raw));
        }
        for (needed, column, what) in [
            (Field::Id, "id", "its id or barcode"),
            (
                Field::Capacity(super::fields::CapacityUnit::Mah),
                "capacity_mah",
                "a measured capacity",
            ),
        ] {
            if !owned.iter().any(|(_, f, _)| f.same_quantity(needed)) {
                let message = format!("missing: every graded cell needs {what}");
                return Err(at(Some(column.into()), message));
            }
        }
        let values: Vec<(&str, Field, &str)> = owned
            .iter()
            .map(|(k, f, r)| (k.as_str(), *f, r.as_str()))
            .collect();
        let cell = build_cell(&values, defaults, &mut numbers)
            .map_err(|e| at(e.column.map(|c| printable(&c).into_owned()), e.message))?;
        let id_key = owned
            .iter()
            .find(|(_, f, _)| *f == Field::Id)
            .map(|(k, _, _)| printable(k).into_owned());
        seen.add(&cell.id, n, "record").map_err(|m| at(id_key, m))?;
        cells.push(cell);
        lines.push(n);
    }
    if cells.is_empty() {
        return Err(err(None, "record", None, "no cells in the file".into()));
    }
    let format = Format {
        kind: "JSON",
        delimiter: None,
        decimal_comma: false,
        line_ends: None,
        bom,
    };
    Ok((
        ParsedCells {
            cells,
            lines,
            ignored_columns,
        },
        format,
    ))
}
