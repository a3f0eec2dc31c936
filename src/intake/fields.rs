//! One row of an export to one cell: which column feeds which field, numbers (decimal point or
//! comma), ids and free text, the chemistry, and the plausibility of the values. Pure.

use super::plausible;
use super::IntakeDefaults;
use crate::chemistry::{Chemistry, UnknownChemistry};
use crate::domain::{Cell, CellStatus};
use crate::text::{is_invisible, printable};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use unicode_normalization::UnicodeNormalization;

/// Longest id (and source code) accepted, in characters: barcodes on cells and modules are
/// 8–30 characters (GB/T 34014 codes are 24); 64 leaves room and refuses pasted paragraphs.
pub const MAX_ID_CHARS: usize = 64;
/// Longest free text (model, grade) accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CapacityUnit {
    Mah,
    Ah,
}

impl CapacityUnit {
    pub(super) fn name(self) -> &'static str {
        match self {
            CapacityUnit::Mah => "mAh",
            CapacityUnit::Ah => "Ah",
        }
    }

    pub(super) fn to_mah(self) -> f64 {
        match self {
            CapacityUnit::Mah => 1.0,
            CapacityUnit::Ah => 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VoltageUnit {
    V,
    Mv,
}

impl VoltageUnit {
    pub(super) fn name(self) -> &'static str {
        match self {
            VoltageUnit::V => "V",
            VoltageUnit::Mv => "mV",
        }
    }

    pub(super) fn to_mv(self) -> f64 {
        match self {
            VoltageUnit::V => 1000.0,
            VoltageUnit::Mv => 1.0,
        }
    }
}

/// The field a column feeds, with the column's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Id,
    Capacity(CapacityUnit),
    /// The model's rated capacity: only used to judge the measured one.
    Nominal(CapacityUnit),
    IrMohm,
    Ocv(VoltageUnit),
    SelfDischarge,
    Chemistry,
    Model,
    Grade,
    SourceCode,
}

impl Field {
    /// Two columns of the same quantity (say `capacity_mah` and `capacity_ah`) conflict.
    pub(super) fn same_quantity(self, other: Field) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

pub(super) fn field_for(column: &str) -> Option<Field> {
    use CapacityUnit::{Ah, Mah};
    Some(match column.trim().to_ascii_lowercase().as_str() {
        "id" | "cell_id" | "barcode" | "cell_barcode" => Field::Id,
        "capacity_mah" => Field::Capacity(Mah),
        "capacity_ah" => Field::Capacity(Ah),
        "nominal_mah" | "nominal_capacity_mah" | "rated_capacity_mah" => Field::Nominal(Mah),
        "nominal_ah" | "nominal_capacity_ah" | "rated_capacity_ah" => Field::Nominal(Ah),
        "ir_mohm" | "internal_resistance_mohm" | "acir_mohm" => Field::IrMohm,
        "ocv_v" | "voltage_v" => Field::Ocv(VoltageUnit::V),
        "ocv_mv" | "voltage_mv" => Field::Ocv(VoltageUnit::Mv),
        "self_discharge_mv_per_day" | "k_mv_per_day" => Field::SelfDischarge,
        "chemistry" => Field::Chemistry,
        "model" => Field::Model,
        "grade" => Field::Grade,
        "source_code" | "source" | "module_code" => Field::SourceCode,
        _ => return None,
    })
}

/// A fault in one row: the column (by name) and what is wrong.
#[derive(Debug)]
pub(super) struct RowError {
    pub column: Option<String>,
    pub message: String,
}

pub(super) fn row_err(column: &str, message: impl Into<String>) -> RowError {
    RowError {
        column: Some(column.to_string()),
        message: message.into(),
    }
}

/// How a file writes decimals. A semicolon- or tab-separated export may use a decimal comma
/// (`3,301`); the first decimal seen decides, and a file mixing both marks is refused (in a
/// decimal-comma file `3.301` may mean 3301).
#[derive(Debug, Default)]
pub(super) struct Numbers {
    /// A comma may be a decimal mark (the delimiter is not a comma).
    pub comma_allowed: bool,
    /// The decimal mark seen first, if any number had one.
    pub mark: Option<char>,
}

impl Numbers {
    pub(super) fn decimal_comma(&self) -> bool {
        self.mark == Some(',')
    }

    /// A measured value: empty is `None` ("not measured"); otherwise finite and not negative.
    pub(super) fn parse(&mut self, column: &str, raw: &str) -> Result<Option<f64>, RowError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        // Only for the messages: made when one is.
        let shown = || printable(raw);
        let mut text = std::borrow::Cow::Borrowed(raw);
        let has_comma = raw.contains(',');
        let has_point = raw.contains('.');
        if self.comma_allowed && (has_comma || has_point) {
            if has_comma && has_point {
                return Err(row_err(
                    column,
                    format!(
                        "'{}' has both '.' and ',': write numbers without thousands separators",
                        shown()
                    ),
                ));
            }
            let mark = if has_comma { ',' } else { '.' };
            match self.mark {
                Some(first) if first != mark => {
                    return Err(row_err(
                        column,
                        format!(
                            "'{}' uses a decimal {} but earlier numbers in the file use a decimal {}: one file, one decimal mark",
                            shown(),
                            mark_name(mark),
                            mark_name(first)
                        ),
                    ))
                }
                _ => self.mark = Some(mark),
            }
            if has_comma {
                text = std::borrow::Cow::Owned(raw.replacen(',', ".", 1));
            }
        }
        let v: f64 = text.parse().map_err(|_| {
            let hint = if has_comma && !self.comma_allowed {
                " (a decimal comma in a comma-separated file: export with ';' as the separator)"
            } else {
                ""
            };
            row_err(column, format!("'{}' is not a number{hint}", shown()))
        })?;
        if !v.is_finite() {
            return Err(row_err(
                column,
                format!("'{}' is not a finite number", shown()),
            ));
        }
        if v < 0.0 {
            return Err(row_err(column, format!("{v} is negative")));
        }
        Ok(Some(v))
    }
}

fn mark_name(mark: char) -> &'static str {
    if mark == ',' {
        "comma"
    } else {
        "point"
    }
}

/// What a character that may not be in an id is, for the message.
fn forbidden_in_code(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{1b}' => "an ANSI escape (ESC)",
        '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => "a line break",
        '\t' => "a tab",
        c if c.is_control() => "a control character",
        c if is_invisible(c) => "an invisible character",
        c if c.is_whitespace() && c != ' ' => "a non-standard space",
        _ => return None,
    })
}

/// An id or source code as stored: trimmed and in Unicode NFC (so `é` typed two ways is one
/// id). Refused, naming the character and its position: control characters, line breaks, ANSI
/// escapes, invisible characters (zero-width spaces, bidi controls, BOM…), spaces other than
/// U+0020, and more than [`MAX_ID_CHARS`] characters. `what` names it in messages ("id").
pub fn normalise_code(raw: &str, what: &str) -> Result<String, String> {
    let code = nfc(raw.trim());
    // Printable ASCII (the common case, a million times in a large export) holds none of the
    // refused characters: among ASCII, exactly the control characters are refused.
    let plain = code.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !plain {
        for (i, c) in code.chars().enumerate() {
            if let Some(kind) = forbidden_in_code(c) {
                return Err(format!(
                    "{what} '{}' contains {kind} (U+{:04X}) at character {}; retype it from the label",
                    printable(&code),
                    c as u32,
                    i + 1
                ));
            }
        }
    }
    let n = if plain {
        code.len()
    } else {
        code.chars().count()
    };
    if n > MAX_ID_CHARS {
        let start: String = code.chars().take(24).collect();
        return Err(format!(
            "{what} '{}…' is {n} characters long; at most {MAX_ID_CHARS} are allowed",
            printable(&start)
        ));
    }
    Ok(code)
}

/// `text` in Unicode NFC. ASCII text is NFC already (the common case, a million times in a
/// large export), so it is only copied.
fn nfc(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        text.nfc().collect()
    }
}

/// Free text (model, grade): trimmed, NFC, no control characters, at most [`MAX_TEXT_CHARS`].
fn free_text(column: &str, raw: &str) -> Result<Option<String>, RowError> {
    let text = nfc(raw.trim());
    if text.is_empty() {
        return Ok(None);
    }
    if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
        let kind = forbidden_in_code(c).unwrap_or("a control character");
        return Err(row_err(
            column,
            format!(
                "'{}' contains {kind} (U+{:04X}) at character {}",
                printable(&text),
                c as u32,
                i + 1
            ),
        ));
    }
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err(row_err(
            column,
            format!("is {n} characters long; at most {MAX_TEXT_CHARS}"),
        ));
    }
    Ok(Some(text))
}

/// A measured number with where it came from, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading<'a, U> {
    pub column: &'a str,
    pub raw: &'a str,
    /// As written, in the column's unit.
    pub value: f64,
    pub unit: U,
}

/// Build one cell from `(column name, field, raw text)` triples, then judge its values.
pub(super) fn build_cell(
    values: &[(&str, Field, &str)],
    defaults: &IntakeDefaults,
    numbers: &mut Numbers,
) -> Result<Cell, RowError> {
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
    let mut id_column = "id";
    let mut chemistry = defaults.chemistry;
    let mut chemistry_column = "chemistry";
    let mut capacity: Option<Reading<CapacityUnit>> = None;
    let mut capacity_column = "capacity_mah";
    let mut nominal: Option<Reading<CapacityUnit>> = None;
    let mut ocv: Option<Reading<VoltageUnit>> = None;
    let mut ir: Option<Reading<()>> = None;
    let mut self_discharge: Option<Reading<()>> = None;
    for &(column, field, raw) in values {
        match field {
            Field::Id => {
                id_column = column;
                if !raw.trim().is_empty() {
                    cell.id = normalise_code(raw, "id").map_err(|m| row_err(column, m))?;
                }
            }
            Field::Capacity(unit) => {
                capacity_column = column;
                capacity = numbers.parse(column, raw)?.map(|value| Reading {
                    column,
                    raw: raw.trim(),
                    value,
                    unit,
                });
            }
            Field::Nominal(unit) => {
                nominal = numbers.parse(column, raw)?.map(|value| Reading {
                    column,
                    raw: raw.trim(),
                    value,
                    unit,
                });
            }
            Field::IrMohm => {
                ir = numbers.parse(column, raw)?.map(|value| Reading {
                    column,
                    raw: raw.trim(),
                    value,
                    unit: (),
                });
            }
            Field::Ocv(unit) => {
                ocv = numbers.parse(column, raw)?.map(|value| Reading {
                    column,
                    raw: raw.trim(),
                    value,
                    unit,
                });
            }
            Field::SelfDischarge => {
                self_discharge = numbers.parse(column, raw)?.map(|value| Reading {
                    column,
                    raw: raw.trim(),
                    value,
                    unit: (),
                });
            }
            Field::Chemistry => {
                chemistry_column = column;
                if let Some(t) = free_text(column, raw)? {
                    let stated: Chemistry = t.parse().map_err(|e: UnknownChemistry| {
                        row_err(column, printable(&e.to_string()).into_owned())
                    })?;
                    if let (true, Some(given)) = (defaults.chemistry_must_match, defaults.chemistry)
                    {
                        if stated != given {
                            return Err(row_err(
                                column,
                                format!(
                                    "'{}' ({stated}) conflicts with the chemistry given for the file ({given}, --chemistry); a file that states its chemistry needs no --chemistry",
                                    printable(&t)
                                ),
                            ));
                        }
                    }
                    chemistry = Some(stated);
                }
            }
            Field::Model => cell.model = free_text(column, raw)?.or(cell.model.take()),
            Field::Grade => cell.grade = free_text(column, raw)?,
            Field::SourceCode => {
                if !raw.trim().is_empty() {
                    cell.source_code =
                        Some(normalise_code(raw, "source code").map_err(|m| row_err(column, m))?);
                }
            }
        }
    }
    if cell.id.is_empty() {
        return Err(row_err(
            id_column,
            "empty: every cell needs its barcode or id",
        ));
    }
    let Some(capacity) = capacity else {
        return Err(row_err(
            capacity_column,
            "empty: every graded cell needs a measured capacity",
        ));
    };
    if capacity.value == 0.0 {
        return Err(row_err(
            capacity.column,
            format!("0 {} is not a graded capacity", capacity.unit.name()),
        ));
    }
    let chemistry = chemistry.ok_or_else(|| {
        row_err(
            chemistry_column,
            "not given: add a chemistry column or pass --chemistry",
        )
    })?;
    cell.chemistry = chemistry;
    let window = chemistry.plausible();
    let mah = plausible::capacity(&capacity, nominal.as_ref(), &window)
        .map_err(|m| row_err(capacity.column, m))?;
    cell.capacity_mah = Some(mah);
    if let Some(v) = &ocv {
        cell.ocv_mv = Some(plausible::ocv(v, chemistry).map_err(|m| row_err(v.column, m))?);
    }
    if let Some(v) = &ir {
        plausible::ir(v, mah, &window).map_err(|m| row_err(v.column, m))?;
        cell.ir_mohm = Some(v.value);
    }
    if let Some(v) = &self_discharge {
        plausible::self_discharge(v, &window).map_err(|m| row_err(v.column, m))?;
        cell.self_discharge_mv_per_day = Some(v.value);
    }
    Ok(cell)
}

/// Ids seen so far in a file, with where each was first. The ids are kept end to end in one
/// string, not one allocation each: a million small strings, made and then freed one by one,
/// cost more than the table itself and left the allocator fragmented for the matcher.
#[derive(Debug, Default)]
pub(super) struct SeenIds {
    /// Every id seen, one after the other.
    text: String,
    entries: Vec<SeenId>,
    /// An id's hash (of [`IdHasher`]) to the last entry with that hash; entries with the same
    /// hash are chained through [`SeenId::next`].
    by_hash: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
}

#[derive(Debug)]
struct SeenId {
    /// Where the id ends in [`SeenIds::text`] (it starts where the previous entry ends).
    end: usize,
    /// Where it was first: the line or record.
    at: usize,
    /// The previous entry with the same hash, or `usize::MAX`.
    next: usize,
}

/// A fast hash for ids (a multiply-rotate hash over 8-byte words, as rustc's FxHash, with a
/// final mix): the
/// standard SipHash, built to resist crafted keys, was the largest single cost of reading a
/// million-row export. A crafted export can only slow its own reading down.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        // A final mix (MurmurHash3's fmix64): the table takes its bucket from the low bits,
        // which the multiplications above leave depending on the low bytes of the id only.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl SeenIds {
    /// Makes room for `n` more ids (a hint: the table then grows once, not a doubling series
    /// of rehashes, each of which moved every id seen so far).
    pub(super) fn reserve(&mut self, n: usize) {
        self.by_hash.reserve(n);
        self.entries.reserve(n);
    }

    /// Refuses an id already seen, naming where (`unit` is "line" or "record").
    pub(super) fn add(&mut self, id: &str, at: usize, unit: &str) -> Result<(), String> {
        let mut hasher = IdHasher::default();
        hasher.write(id.as_bytes());
        let hash = hasher.finish();
        let new = self.entries.len();
        let head = self.by_hash.entry(hash).or_insert(usize::MAX);
        let mut k = *head;
        while let Some(e) = self.entries.get(k) {
            let start = match k.checked_sub(1) {
                Some(p) => self.entries[p].end,
                None => 0,
            };
            if &self.text[start..e.end] == id {
                return Err(duplicate_message(id, unit, e.at));
            }
            k = e.next;
        }
        self.text.push_str(id);
        self.entries.push(SeenId {
            end: self.text.len(),
            at,
            next: *head,
        });
        *head = new;
        Ok(())
    }
}

/// The message for an id seen before, at `first` (`unit` is "line" or "record").
pub(super) fn duplicate_message(id: &str, unit: &str, first: usize) -> String {
    format!("duplicate id '{}' (first on {unit} {first})", printable(id))
}

/// The first id in `ids` that an earlier one repeats, as [`SeenIds`] would find it reading
/// them in order: `(its index, the index of the id's first occurrence)`. Found by sorting
/// the ids' hashes (sequential work) rather than a table looked up id by id (two cache
/// misses each, the largest cost of reading a million-row export).
pub(super) fn first_duplicate(ids: &[&str]) -> Option<(usize, usize)> {
    let hash = |id: &str| {
        let mut h = IdHasher::default();
        h.write(id.as_bytes());
        h.finish()
    };
    let mut keyed: Vec<(u64, usize)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (hash(id), i))
        .collect();
    // By hash, and within one hash in the order read.
    keyed.sort_unstable();
    let mut best: Option<(usize, usize)> = None;
    for run in keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        for (b, &(_, later)) in run.iter().enumerate().skip(1) {
            if best.is_some_and(|(l, _)| l <= later) {
                break;
            }
            // The earliest with the same id (equal hashes may still be different ids).
            if let Some(&(_, first)) = run[..b].iter().find(|(_, a)| ids[*a] == ids[later]) {
                best = Some((later, first));
                break;
            }
        }
    }
    best
}
