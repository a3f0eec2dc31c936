//! Opening an export: the only part of `intake` that touches the file system. Parsing stays
//! pure in the sibling modules; CSV is handed to them as a buffered reader, row by row.

use super::{CsvCells, Format, ImportError, IntakeDefaults, ParsedCells};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

fn whole_file(path: &Path, message: String) -> ImportError {
    ImportError {
        file: path.display().to_string(),
        line: None,
        unit: "line",
        column: None,
        message,
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Read a CSV or JSON export (by extension; `.json` is JSON, anything else CSV).
pub fn read_file(path: &Path, defaults: &IntakeDefaults) -> Result<ParsedCells, ImportError> {
    read_file_with_format(path, defaults).map(|(parsed, _)| parsed)
}

/// [`read_file`], also saying what format was detected.
pub fn read_file_with_format(
    path: &Path,
    defaults: &IntakeDefaults,
) -> Result<(ParsedCells, Format), ImportError> {
    if is_json(path) {
        let bytes =
            std::fs::read(path).map_err(|e| whole_file(path, format!("cannot read: {e}")))?;
        super::parse_json_with_format(&path.display().to_string(), &bytes, defaults)
    } else {
        open_csv(path, defaults)?.collect_all()
    }
}

/// A CSV export opened for reading row by row (bounded memory): its header is read, the cells
/// come from iterating (see [`CsvCells`]).
pub fn open_csv(
    path: &Path,
    defaults: &IntakeDefaults,
) -> Result<CsvCells<BufReader<File>>, ImportError> {
    let file = File::open(path).map_err(|e| whole_file(path, format!("cannot read: {e}")))?;
    let size = file.metadata().map(|m| m.len()).ok();
    let cells = CsvCells::new(
        &path.display().to_string(),
        BufReader::with_capacity(64 * 1024, file),
        defaults,
    )?;
    Ok(match size {
        Some(size) => cells.size_hint(size),
        None => cells,
    })
}
