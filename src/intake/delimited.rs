//! CSV (and semicolon- or tab-separated) exports, read row by row from any reader. Pure: the
//! bytes come from a `BufRead` the caller opened.
//!
//! The reader is written here rather than taken from the `csv` crate so that line numbers are
//! exact whatever the line ends (LF, CRLF, CR only, or a quoted line break inside a field),
//! the delimiter can be sniffed from the header, and memory stays bounded: one record at a
//! time, at most [`MAX_RECORD_BYTES`] each.

use super::fields::{
    build_cell, duplicate_message, field_for, first_duplicate, Field, Numbers, SeenIds,
};
use super::{Format, ImportError, IntakeDefaults, ParsedCells};
use crate::domain::Cell;
use crate::text::printable;
use std::io::{BufRead, Chain, Cursor, ErrorKind, Read};

/// Longest record (one row, quoted line breaks included) accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// How many line ends of each kind were seen.
#[derive(Debug, Default, Clone, Copy)]
struct LineEnds {
    lf: usize,
    crlf: usize,
    cr: usize,
}

impl LineEnds {
    fn name(&self) -> Option<&'static str> {
        match (self.lf > 0, self.crlf > 0, self.cr > 0) {
            (false, false, false) => None,
            (true, false, false) => Some("LF"),
            (false, true, false) => Some("CRLF"),
            (false, false, true) => Some("CR"),
            _ => Some("mixed"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the end of it, or the first of `""`.
    QuoteInQuoted,
}

/// One record's fields as bytes, and the line it starts on. The fields are kept end to end
/// in one buffer that the next record reuses: a million rows of eight fields were nine
/// allocations and frees each, the largest single cost of reading a large export.
#[derive(Default)]
struct RawRecord {
    line: usize,
    /// The fields' bytes, one after the other.
    bytes: Vec<u8>,
    /// Where each field ends in `bytes`.
    ends: Vec<usize>,
}

impl RawRecord {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Ends the field being read.
    fn end_field(&mut self) {
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The fields, in order.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
    }
}

enum ReadError {
    Io(std::io::Error),
    TooLong,
    Unclosed,
}

/// Line counting: the line the next byte is on, and the kinds of line end seen.
#[derive(Debug)]
struct Lines {
    /// The line the next byte is on (1-based).
    line: usize,
    /// The last byte was a CR: a LF right after it ends the same line.
    pending_cr: bool,
    ends: LineEnds,
}

impl Lines {
    /// Counts a line end (call for CR, LF, and any byte after a CR); true when `b` is the LF
    /// of a CRLF already counted.
    fn end(&mut self, b: u8) -> bool {
        if self.pending_cr {
            self.pending_cr = false;
            if b == b'\n' {
                self.ends.crlf += 1;
                return true;
            }
            self.ends.cr += 1;
        }
        match b {
            b'\r' => {
                self.pending_cr = true;
                self.line += 1;
            }
            b'\n' => {
                self.ends.lf += 1;
                self.line += 1;
            }
            _ => {}
        }
        false
    }

    /// At the end of the input: a last CR is a line end of its own.
    fn finish(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.ends.cr += 1;
        }
    }
}

/// Splits bytes into records and fields, counting lines.
struct Records<R> {
    reader: R,
    delimiter: u8,
    lines: Lines,
    /// Bytes consumed from `reader` so far (for progress).
    consumed: u64,
}

impl<R: BufRead> Records<R> {
    fn new(reader: R, delimiter: u8) -> Self {
        Records {
            reader,
            delimiter,
            lines: Lines {
                line: 1,
                pending_cr: false,
                ends: LineEnds::default(),
            },
            consumed: 0,
        }
    }

    /// Reads the next non-blank record into `record`: false at the end. `raw` keeps quotes
    /// and delimiters as they are, in one field (for sniffing the header's delimiter).
    fn next_record(
        &mut self,
        raw: bool,
        record: &mut RawRecord,
    ) -> Result<bool, (usize, ReadError)> {
        record.clear();
        let mut state = State::FieldStart;
        let mut start: Option<usize> = None;
        let mut size = 0usize;
        let delimiter = self.delimiter;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err((start.unwrap_or(self.lines.line), ReadError::Io(e))),
            };
            if buf.is_empty() {
                self.lines.finish();
                let Some(line) = start else { return Ok(false) };
                if state == State::Quoted {
                    return Err((line, ReadError::Unclosed));
                }
                record.end_field();
                record.line = line;
                return Ok(true);
            }
            let mut used = 0;
            let mut done = false;
            for &b in buf {
                used += 1;
                if b == b'\r' || b == b'\n' || self.lines.pending_cr {
                    // Counts the line (a CR, a LF, or both as one CRLF).
                    let lf_of_crlf = self.lines.end(b);
                    if b == b'\r' || b == b'\n' {
                        if state == State::Quoted {
                            // A line break inside a quoted field belongs to the field.
                            record.bytes.push(b);
                            continue;
                        }
                        if lf_of_crlf || start.is_none() {
                            continue; // the rest of a CRLF, or a blank line
                        }
                        done = true;
                        break;
                    }
                }
                if start.is_none() {
                    start = Some(self.lines.line);
                }
                size += 1;
                if size > MAX_RECORD_BYTES {
                    return Err((start.unwrap_or(self.lines.line), ReadError::TooLong));
                }
                if raw {
                    if b == b'"' {
                        state = if state == State::Quoted {
                            State::Unquoted
                        } else {
                            State::Quoted
                        };
                    }
                    record.bytes.push(b);
                    continue;
                }
                match (state, b) {
                    (State::FieldStart, b'"') => state = State::Quoted,
                    (State::Quoted, b'"') => state = State::QuoteInQuoted,
                    (State::QuoteInQuoted, b'"') => {
                        record.bytes.push(b'"');
                        state = State::Quoted;
                    }
                    (State::Quoted, _) => record.bytes.push(b),
                    (_, d) if d == delimiter => {
                        record.end_field();
                        state = State::FieldStart;
                    }
                    _ => {
                        record.bytes.push(b);
                        state = State::Unquoted;
                    }
                }
            }
            self.reader.consume(used);
            self.consumed += used as u64;
            if done {
                record.end_field();
                record.line = start.unwrap_or(self.lines.line);
                return Ok(true);
            }
        }
    }
}

/// A reader with the bytes peeked at its start put back in front.
type Peeked<R> = Chain<Cursor<Vec<u8>>, R>;

/// Takes a UTF-8 byte-order mark off the front of `reader` (true if there was one); refuses
/// UTF-16 text. The reader given back starts where the text does.
fn byte_order_mark<R: BufRead>(mut reader: R) -> Result<(bool, Peeked<R>), String> {
    let mut head = Vec::with_capacity(3);
    while head.len() < 3 {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        let Some(&b) = buf.first() else { break };
        head.push(b);
        reader.consume(1);
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err("UTF-16 text: save the export as UTF-8 (\"CSV UTF-8\")".into());
    }
    let bom = head == [0xEF, 0xBB, 0xBF];
    if bom {
        head.clear();
    }
    Ok((bom, Cursor::new(head).chain(reader)))
}

/// The delimiter a header line uses: the most frequent of comma, semicolon and tab outside
/// quotes (comma when none occurs: a one-column file).
fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == b {
                    *n += 1;
                }
            }
        }
    }
    let best = counts.iter().fold(
        (b',', 0),
        |best, &(d, n)| if n > best.1 { (d, n) } else { best },
    );
    best.0
}

/// Cells parsed from a CSV export one row at a time. Build it with [`CsvCells::new`] (which
/// reads the header), then iterate: each item is a cell with its line, or the first fault,
/// after which the iteration ends. A file with a header and no rows yields one fault.
///
/// All-or-nothing is the consumer's side: commit nothing (or roll back) when any item is an
/// error. [`CsvCells::collect_all`] does that for callers that want every cell in memory.
pub struct CsvCells<R> {
    file: String,
    records: Records<Peeked<R>>,
    columns: Vec<(String, Option<Field>)>,
    ignored_columns: Vec<String>,
    defaults: IntakeDefaults,
    numbers: Numbers,
    /// The ids seen so far; `None` when the caller checks for duplicates itself (a staged
    /// import, where the database does it and memory stays bounded).
    seen: Option<SeenIds>,
    /// The record being read (its buffers are reused row after row).
    record: RawRecord,
    /// The size of the whole input, when known (a hint for sizing the table of ids seen).
    size_hint: Option<u64>,
    /// Bytes read with the header (where the first row starts).
    header_bytes: u64,
    bom: bool,
    count: usize,
    done: bool,
}

impl<R: BufRead> CsvCells<R> {
    /// Reads the header: byte-order mark, delimiter, columns. `file` names the source in
    /// errors.
    pub fn new(file: &str, reader: R, defaults: &IntakeDefaults) -> Result<Self, ImportError> {
        let err = |line: Option<usize>, column: Option<&str>, message: String| ImportError {
            file: file.to_string(),
            line,
            unit: "line",
            column: column.map(str::to_string),
            message,
        };
        let (bom, reader) = byte_order_mark(reader).map_err(|m| err(None, None, m))?;
        let mut records = Records::new(reader, b',');
        let empty = "empty file: expected a header row such as 'id,capacity_mah,ir_mohm'";
        let mut header = RawRecord::default();
        match records.next_record(true, &mut header) {
            Ok(true) => {}
            Ok(false) => return Err(err(Some(1), None, empty.into())),
            Err((line, e)) => return Err(err(Some(line), None, read_error(e))),
        };
        let at = Some(header.line);
        let raw = std::mem::take(&mut header.bytes);
        let delimiter = sniff_delimiter(&raw);
        records.delimiter = delimiter;
        let mut split = Records::new(&raw[..], delimiter);
        match split.next_record(false, &mut header) {
            Ok(true) => {}
            Ok(false) => header.clear(),
            Err((_, e)) => return Err(err(at, None, read_error(e))),
        };
        let mut columns: Vec<(String, Option<Field>)> = Vec::new();
        let mut ignored_columns = Vec::new();
        for (i, name) in header.fields().enumerate() {
            let name = std::str::from_utf8(name)
                .map_err(|_| {
                    err(
                        at,
                        Some(&(i + 1).to_string()),
                        "column name is not UTF-8 text; export the file as UTF-8 (\"CSV UTF-8\")"
                            .into(),
                    )
                })?
                .trim()
                .to_string();
            let field = field_for(&name);
            if let Some(f) = field {
                if let Some((other, _)) = columns
                    .iter()
                    .find(|(_, g)| g.is_some_and(|g| g.same_quantity(f)))
                {
                    let message = format!("gives the same quantity as column '{other}'; keep one");
                    return Err(err(at, Some(&name), message));
                }
            } else if !name.is_empty() {
                ignored_columns.push(printable(&name).into_owned());
            }
            columns.push((name, field));
        }
        if columns.iter().all(|(n, _)| n.is_empty()) {
            return Err(err(at, None, empty.into()));
        }
        if !columns.iter().any(|(_, f)| *f == Some(Field::Id)) {
            return Err(err(
                at,
                None,
                "no 'id' column: the header must name each cell's id or barcode".into(),
            ));
        }
        if !columns
            .iter()
            .any(|(_, f)| matches!(f, Some(Field::Capacity(_))))
        {
            return Err(err(
                at,
                None,
                "no capacity column: expected 'capacity_mah' or 'capacity_ah'".into(),
            ));
        }
        let header_bytes = records.consumed;
        Ok(CsvCells {
            file: file.to_string(),
            records,
            columns,
            ignored_columns,
            defaults: defaults.clone(),
            numbers: Numbers {
                comma_allowed: delimiter != b',',
                mark: None,
            },
            seen: Some(SeenIds::default()),
            record: RawRecord::default(),
            size_hint: None,
            header_bytes,
            bom,
            count: 0,
            done: false,
        })
    }

    /// Leave duplicate ids within the file to the caller, who must refuse them (the store's
    /// staged import does, by the cells' primary key): no set of every id is kept in memory.
    pub fn duplicates_checked_by_caller(mut self) -> Self {
        self.seen = None;
        self
    }

    /// The input is about `bytes` long in all (the file's size): the table of ids seen is then
    /// sized once, after the first row, for as many rows as the input seems to hold.
    pub fn size_hint(mut self, bytes: u64) -> Self {
        self.size_hint = Some(bytes);
        self
    }

    /// Bytes of the file read so far, byte-order mark included (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.records.consumed + if self.bom { 3 } else { 0 }
    }

    /// What was detected so far (the decimal mark is known once a number with one was read).
    pub fn format(&self) -> Format {
        Format {
            kind: "CSV",
            delimiter: Some(char::from(self.records.delimiter)),
            decimal_comma: self.numbers.decimal_comma(),
            line_ends: self.records.lines.ends.name(),
            bom: self.bom,
        }
    }

    /// Header columns that were not recognised and are ignored.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored_columns
    }

    /// Up to `max` more cells with their lines; empty when the file is done.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<(usize, Cell)>, ImportError> {
        let mut batch = Vec::new();
        while batch.len() < max {
            match self.next() {
                Some(item) => batch.push(item?),
                None => break,
            }
        }
        Ok(batch)
    }

    /// Every cell, or the first fault (nothing half-read is returned), and the format.
    pub fn collect_all(mut self) -> Result<(ParsedCells, Format), ImportError> {
        let mut cells = Vec::new();
        let mut lines = Vec::new();
        for item in &mut self {
            let (line, cell) = item?;
            lines.push(line);
            cells.push(cell);
        }
        let format = self.format();
        Ok((
            ParsedCells {
                cells,
                lines,
                ignored_columns: self.ignored_columns,
            },
            format,
        ))
    }

    fn err(&self, line: usize, column: Option<String>, message: String) -> ImportError {
        ImportError {
            file: self.file.clone(),
            line: Some(line),
            unit: "line",
            column,
            message,
        }
    }

    /// A duplicate id's fault, at its line, in the id column.
    fn duplicate_error(&self, line: usize, message: String) -> ImportError {
        let id_column = self
            .columns
            .iter()
            .find(|(_, f)| *f == Some(Field::Id))
            .map(|(n, _)| n.clone());
        self.err(line, id_column, message)
    }

    /// Every cell as `f` makes it (`id_of` gives its id back), or the first fault: the same
    /// fault, at the same line, as iterating gives. Duplicate ids are looked for once the
    /// rows are read, all at once (see [`first_duplicate`]), rather than row by row: a
    /// duplicate found before a later fault is the one reported, as when reading stops at
    /// it. For a caller that keeps every cell anyway (a match of the file).
    pub fn collect_with<T>(
        mut self,
        mut f: impl FnMut(Cell) -> T,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, ImportError> {
        let check = self.seen.take().is_some();
        let mut out = Vec::new();
        let mut lines = Vec::new();
        let mut fault = None;
        for item in &mut self {
            match item {
                Ok((line, cell)) => {
                    lines.push(line);
                    out.push(f(cell));
                }
                Err(e) => {
                    fault = Some(e);
                    break;
                }
            }
        }
        if check {
            let ids: Vec<&str> = out.iter().map(&id_of).collect();
            if let Some((at, first)) = first_duplicate(&ids) {
                let message = duplicate_message(ids[at], "line", lines[first]);
                return Err(self.duplicate_error(lines[at], message));
            }
        }
        match fault {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn column_name(&self, i: usize) -> String {
        match self.columns.get(i) {
            Some((name, _)) if !name.is_empty() => printable(name).into_owned(),
            _ => (i + 1).to_string(),
        }
    }

    /// The next row as a cell; `Ok(None)` for a blank row.
    fn row(&mut self) -> Result<Option<(usize, Cell)>, ImportError> {
        let record = &self.record;
        let line = record.line;
        let mut texts: Vec<&str> = Vec::with_capacity(record.len());
        for (i, bytes) in record.fields().enumerate() {
            match std::str::from_utf8(bytes) {
                Ok(s) => texts.push(s),
                Err(e) => {
                    let at = e.valid_up_to();
                    let shown = String::from_utf8_lossy(bytes).into_owned();
                    return Err(self.err(
                        line,
                        Some(self.column_name(i)),
                        format!(
                            "'{}' is not UTF-8 text (byte 0x{:02X} at byte {} of the field); export the file as UTF-8 (\"CSV UTF-8\")",
                            printable(&shown),
                            bytes[at],
                            at + 1
                        ),
                    ));
                }
            }
        }
        if texts.iter().all(|t| t.trim().is_empty()) {
            return Ok(None);
        }
        if texts.len() != self.columns.len() {
            return Err(self.err(
                line,
                None,
                format!(
                    "has {} fields but the header has {}",
                    texts.len(),
                    self.columns.len()
                ),
            ));
        }
        let values: Vec<(&str, Field, &str)> = self
            .columns
            .iter()
            .zip(&texts)
            .filter_map(|((name, field), raw)| field.map(|f| (name.as_str(), f, *raw)))
            .collect();
        let cell = build_cell(&values, &self.defaults, &mut self.numbers)
            .map_err(|e| self.err(line, e.column, e.message))?;
        if let Some(seen) = &mut self.seen {
            if let (0, Some(total)) = (self.count, self.size_hint) {
                // The first row: as many more as the rest of the input holds rows like it (at
                // least 16 bytes each, so that a short first row does not reserve too much).
                let read = self.records.consumed;
                let per_row = (read - self.header_bytes).max(16);
                let rows = total.saturating_sub(read) / per_row;
                seen.reserve(usize::try_from(rows).unwrap_or(0));
            }
            if let Err(m) = seen.add(&cell.id, line, "line") {
                return Err(self.duplicate_error(line, m));
            }
        }
        Ok(Some((line, cell)))
    }
}

fn read_error(e: ReadError) -> String {
    match e {
        ReadError::Io(e) => format!("cannot read: {e}"),
        ReadError::TooLong => format!(
            "a row longer than {} KiB: not a cell export (or a quote that is never closed)",
            MAX_RECORD_BYTES / 1024
        ),
        ReadError::Unclosed => {
            "a quoted field starts here and is never closed (a stray '\"')".into()
        }
    }
}

impl<R: BufRead> Iterator for CsvCells<R> {
    type Item = Result<(usize, Cell), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.records.next_record(false, &mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    if self.count == 0 {
                        return Some(Err(ImportError {
                            file: self.file.clone(),
                            line: None,
                            unit: "line",
                            column: None,
                            message: "no cells: the file has a header but no rows".into(),
                        }));
                    }
                    return None;
                }
                Err((line, e)) => {
                    self.done = true;
                    return Some(Err(self.err(line, None, read_error(e))));
                }
            };
            match self.row() {
                Ok(None) => continue,
                Ok(Some(item)) => {
                    self.count += 1;
                    return Some(Ok(item));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Parse CSV text. `file` only names the source in errors.
pub fn parse_csv(
    file: &str,
    text: &str,
    defaults: &IntakeDefaults,
) -> Result<ParsedCells, ImportError> {
    parse_csv_with_format(file, text.as_bytes(), defaults).map(|(p, _)| p)
}

/// Parse CSV bytes from any reader, saying what format was detected.
pub fn parse_csv_with_format(
    file: &str,
    reader: impl BufRead,
    defaults: &IntakeDefaults,
) -> Result<(ParsedCells, Format), ImportError> {
    CsvCells::new(file, reader, defaults)?.collect_all()
}
