//! Pack traceability codes: building and validating the code a pack gets at assembly.
//!
//! Two schemes, chosen per profile (`[pack_code]`):
//! - GB/T 34014: 24 characters, `[3 manufacturer][1 product type][1 battery type][2 spec]
//!   [7 traceability][3 production date][7 serial]`. Cascade-use packs are re-coded under the
//!   same rules; the source codes are kept on the cells.
//! - A plant pattern: a prefix, then a zero-padded serial, checked against the profile's regex.
//!
//! Pure: the next serial number is computed by the caller from the codes already in the store.

use crate::chemistry::Chemistry;
use crate::profile::PackCodeScheme;
use chrono::{Datelike, NaiveDate};

/// Product-type letter for a pack (C cell, M module, P pack).
pub const GBT_PRODUCT_PACK: char = 'P';
pub const GBT_LENGTH: usize = 24;
const GBT_SERIAL_DIGITS: usize = 7;

/// Digits and capitals without I, O, Q, U and Z: the date alphabet as the reference summary
/// gives it (year from 2011 = `1`, so 2017 = `7`, 2020 = `A`; months `1`–`C`; days `1`–`Y`).
/// The summary flags these tables as unverified against the standard's text.
const DATE_SYMBOLS: &[u8] = b"123456789ABCDEFGHJKLMNPRSTVWXY";
const FIRST_YEAR: i32 = 2011;
/// The 30-symbol alphabet has no place for the 31st; `0` (unused elsewhere) stands for it.
/// An assumption to check against the filed coding rules.
const DAY_31: u8 = b'0';

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodeError {
    #[error("pack code '{code}' has {found} characters; GB/T 34014 codes have {expected}")]
    Length {
        code: String,
        expected: usize,
        found: usize,
    },
    #[error("pack code '{code}': character {position} '{ch}' is not a digit or capital letter")]
    Charset {
        code: String,
        position: usize,
        ch: char,
    },
    #[error(
        "pack code '{code}': {field} (characters {from}–{to}) is '{found}', expected {expected}"
    )]
    Field {
        code: String,
        field: &'static str,
        from: usize,
        to: usize,
        found: String,
        expected: String,
    },
    #[error("pack code '{code}' does not match the plant pattern {regex}")]
    Pattern { code: String, regex: String },
    #[error("the profile's plant pattern {regex} does not compile: {message}")]
    BadPattern { regex: String, message: String },
    #[error("production date {date} cannot be coded: GB/T 34014 years run from {FIRST_YEAR} to {}", FIRST_YEAR + DATE_SYMBOLS.len() as i32 - 1)]
    DateRange { date: NaiveDate },
    #[error("serial {serial} does not fit in {digits} digits for codes starting {prefix}")]
    SerialOverflow {
        prefix: String,
        serial: u64,
        digits: usize,
    },
    #[error("the generated code '{code}' does not match the profile's own pattern {regex}; fix [pack_code] in the profile")]
    Inconsistent { code: String, regex: String },
}

/// A GB/T 34014 code taken apart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GbtCode {
    pub manufacturer: String,
    pub product_type: char,
    pub battery_type: char,
    pub spec: String,
    pub traceability: String,
    pub production_date: NaiveDate,
    pub serial: u32,
}

fn date_symbol(index: usize) -> Option<char> {
    DATE_SYMBOLS.get(index).map(|&b| b as char)
}

fn symbol_index(ch: char) -> Option<usize> {
    DATE_SYMBOLS.iter().position(|&b| b as char == ch)
}

/// The three date characters for a production date.
pub fn gbt_date(date: NaiveDate) -> Result<String, CodeError> {
    let year = usize::try_from(date.year() - FIRST_YEAR)
        .ok()
        .and_then(date_symbol)
        .ok_or(CodeError::DateRange { date })?;
    // Months 1..=12 and days 1..=30 always index inside the 30 symbols.
    let month = date_symbol(date.month0() as usize).ok_or(CodeError::DateRange { date })?;
    let day = if date.day() == 31 {
        DAY_31 as char
    } else {
        date_symbol(date.day0() as usize).ok_or(CodeError::DateRange { date })?
    };
    Ok([year, month, day].iter().collect())
}

fn decode_gbt_date(code: &str, text: &str) -> Result<NaiveDate, CodeError> {
    let bad = |expected: &str| CodeError::Field {
        code: code.to_string(),
        field: "production date",
        from: 15,
        to: 17,
        found: text.to_string(),
        expected: expected.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    let [y, m, d] = chars[..] else {
        return Err(bad("3 characters"));
    };
    let year = symbol_index(y).ok_or_else(|| bad("a year symbol (1–9, A–Y without I, O, Q, U)"))?;
    let month = symbol_index(m)
        .filter(|&i| i < 12)
        .ok_or_else(|| bad("a month symbol 1–9, A–C"))?;
    let day = if d == DAY_31 as char {
        31
    } else {
        symbol_index(d).ok_or_else(|| bad("a day symbol"))? as u32 + 1
    };
    NaiveDate::from_ymd_opt(FIRST_YEAR + year as i32, month as u32 + 1, day)
        .ok_or_else(|| bad("a date that exists"))
}

/// Take a 24-character GB/T 34014 code apart, checking its structure (not a profile's values).
pub fn parse_gbt(code: &str) -> Result<GbtCode, CodeError> {
    let len = code.chars().count();
    if len != GBT_LENGTH {
        return Err(CodeError::Length {
            code: code.to_string(),
            expected: GBT_LENGTH,
            found: len,
        });
    }
    if let Some((i, ch)) = code
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase()))
    {
        return Err(CodeError::Charset {
            code: code.to_string(),
            position: i + 1,
            ch,
        });
    }
    // ASCII only from here, so byte slicing is character slicing.
    let serial_text = &code[17..24];
    let serial: u32 = serial_text
        .parse()
        .ok()
        .filter(|&s| s >= 1)
        .ok_or_else(|| CodeError::Field {
            code: code.to_string(),
            field: "serial number",
            from: 18,
            to: 24,
            found: serial_text.to_string(),
            expected: "7 digits, 0000001 to 9999999".into(),
        })?;
    Ok(GbtCode {
        manufacturer: code[0..3].to_string(),
        product_type: code.as_bytes()[3] as char,
        battery_type: code.as_bytes()[4] as char,
        spec: code[5..7].to_string(),
        traceability: code[7..14].to_string(),
        production_date: decode_gbt_date(code, &code[14..17])?,
        serial,
    })
}

/// Everything of a code before its serial number, for a production date.
pub fn prefix(
    scheme: &PackCodeScheme,
    chemistry: Chemistry,
    date: NaiveDate,
) -> Result<String, CodeError> {
    match scheme {
        PackCodeScheme::Gbt34014 {
            manufacturer,
            spec,
            traceability,
        } => Ok(format!(
            "{manufacturer}{GBT_PRODUCT_PACK}{}{spec}{traceability}{}",
            chemistry.gbt34014_letter(),
            gbt_date(date)?
        )),
        PackCodeScheme::Plant { prefix, .. } => Ok(prefix.clone()),
    }
}

fn serial_digits(scheme: &PackCodeScheme) -> usize {
    match scheme {
        PackCodeScheme::Gbt34014 { .. } => GBT_SERIAL_DIGITS,
        PackCodeScheme::Plant { digits, .. } => usize::from(*digits),
    }
}

/// The serial number at the end of a code of this scheme, if it has that shape.
pub fn serial_of(scheme: &PackCodeScheme, prefix: &str, code: &str) -> Option<u64> {
    let tail = code.strip_prefix(prefix)?;
    if tail.len() != serial_digits(scheme) || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tail.parse().ok()
}

/// The code with this serial number. For GB/T the serial counts per production day.
pub fn format(
    scheme: &PackCodeScheme,
    chemistry: Chemistry,
    date: NaiveDate,
    serial: u64,
) -> Result<String, CodeError> {
    let prefix = prefix(scheme, chemistry, date)?;
    let digits = serial_digits(scheme);
    let max = 10u64.saturating_pow(digits as u32) - 1;
    if serial == 0 || serial > max {
        return Err(CodeError::SerialOverflow {
            prefix,
            serial,
            digits,
        });
    }
    let code = format!("{prefix}{serial:0digits$}");
    // A profile whose own pattern rejects what it generates would label packs that later fail
    // validation at every scan: refuse it here, loudly.
    if let PackCodeScheme::Plant { regex, .. } = scheme {
        if !plant_regex(regex)?.is_match(&code) {
            return Err(CodeError::Inconsistent {
                code,
                regex: regex.clone(),
            });
        }
    }
    Ok(code)
}

/// The next code after the highest serial among `existing` codes of the same prefix.
pub fn next(
    scheme: &PackCodeScheme,
    chemistry: Chemistry,
    date: NaiveDate,
    existing: &[String],
) -> Result<String, CodeError> {
    let prefix = prefix(scheme, chemistry, date)?;
    let last = existing
        .iter()
        .filter_map(|c| serial_of(scheme, &prefix, c))
        .max()
        .unwrap_or(0);
    format(scheme, chemistry, date, last + 1)
}

fn plant_regex(regex: &str) -> Result<regex::Regex, CodeError> {
    regex::Regex::new(regex).map_err(|e| CodeError::BadPattern {
        regex: regex.to_string(),
        message: e.to_string(),
    })
}

/// Check a scanned or typed code against the profile's scheme: structure and, for GB/T, the
/// profile's manufacturer, spec and traceability fields and the pack's battery type.
pub fn validate(
    scheme: &PackCodeScheme,
    chemistry: Chemistry,
    code: &str,
) -> Result<(), CodeError> {
    match scheme {
        PackCodeScheme::Plant { regex, .. } => {
            if plant_regex(regex)?.is_match(code) {
                Ok(())
            } else {
                Err(CodeError::Pattern {
                    code: code.to_string(),
                    regex: regex.clone(),
                })
            }
        }
        PackCodeScheme::Gbt34014 {
            manufacturer,
            spec,
            traceability,
        } => {
            let parsed = parse_gbt(code)?;
            let expect =
                |field: &'static str, from: usize, to: usize, found: String, expected: String| {
                    if found == expected {
                        Ok(())
                    } else {
                        Err(CodeError::Field {
                            code: code.to_string(),
                            field,
                            from,
                            to,
                            found,
                            expected: format!("'{expected}'"),
                        })
                    }
                };
            expect(
                "manufacturer",
                1,
                3,
                parsed.manufacturer,
                manufacturer.clone(),
            )?;
            expect(
                "product type",
                4,
                4,
                parsed.product_type.to_string(),
                GBT_PRODUCT_PACK.to_string(),
            )?;
            expect(
                "battery type",
                5,
                5,
                parsed.battery_type.to_string(),
                chemistry.gbt34014_letter().to_string(),
            )?;
            expect("specification", 6, 7, parsed.spec, spec.clone())?;
            expect(
                "traceability",
                8,
                14,
                parsed.traceability,
                traceability.clone(),
            )?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gbt() -> PackCodeScheme {
        PackCodeScheme::Gbt34014 {
            manufacturer: "09K".into(),
            spec: "51".into(),
            traceability: "ESS0280".into(),
        }
    }

    fn plant() -> PackCodeScheme {
        PackCodeScheme::Plant {
            prefix: "PWT".into(),
            digits: 7,
            regex: "^PWT[0-9]{7}$".into(),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn gbt_code_has_the_24_character_layout() {
        let code = format(&gbt(), Chemistry::Lfp, day(2026, 11, 23), 42).unwrap();
        assert_eq!(code.len(), 24);
        assert_eq!(&code[0..3], "09K");
        assert_eq!(&code[3..4], "P");
        assert_eq!(&code[4..5], "B");
        assert_eq!(&code[5..7], "51");
        assert_eq!(&code[7..14], "ESS0280");
        // 2026 = 2011 + 15 -> 'G'; November -> 'B'; 23rd -> 'P'.
        assert_eq!(&code[14..17], "GBP");
        assert_eq!(&code[17..], "0000042");
        validate(&gbt(), Chemistry::Lfp, &code).unwrap();
    }

    #[test]
    fn reference_examples_of_the_date_alphabet() {
        // The summary's anchors: 2017 = '7', 2020 = 'A'; months end at 'C'.
        assert_eq!(gbt_date(day(2017, 1, 1)).unwrap(), "711");
        assert_eq!(gbt_date(day(2020, 12, 9)).unwrap(), "AC9");
        assert_eq!(gbt_date(day(2021, 10, 18)).unwrap(), "BAJ");
        assert_eq!(gbt_date(day(2024, 1, 31)).unwrap(), "E10");
        assert!(gbt_date(day(2010, 6, 1)).is_err());
        assert!(gbt_date(day(2041, 1, 1)).is_err());
    }

    #[test]
    fn every_day_of_the_coded_years_round_trips() {
        let mut d = day(2011, 1, 1);
        while d <= day(2040, 12, 31) {
            let code = format(&gbt(), Chemistry::Nmc, d, 9_999_999).unwrap();
            let parsed = parse_gbt(&code).unwrap();
            assert_eq!(parsed.production_date, d, "{code}");
            assert_eq!(parsed.serial, 9_999_999);
            assert_eq!(parsed.battery_type, 'E');
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn wrong_fields_are_named_with_their_positions() {
        let good = format(&gbt(), Chemistry::Lfp, day(2026, 3, 4), 7).unwrap();
        let other_maker = format!("ABC{}", &good[3..]);
        let err = validate(&gbt(), Chemistry::Lfp, &other_maker)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("manufacturer") && err.contains("'09K'"),
            "{err}"
        );
        let err = validate(&gbt(), Chemistry::Nmc, &good)
            .unwrap_err()
            .to_string();
        assert!(err.contains("battery type") && err.contains("'E'"), "{err}");
        let module = format!("{}M{}", &good[..3], &good[4..]);
        let err = validate(&gbt(), Chemistry::Lfp, &module)
            .unwrap_err()
            .to_string();
        assert!(err.contains("product type"), "{err}");
        let err = validate(&gbt(), Chemistry::Lfp, &good[..23])
            .unwrap_err()
            .to_string();
        assert!(err.contains("23 characters"), "{err}");
        let lower = good.to_lowercase();
        let err = validate(&gbt(), Chemistry::Lfp, &lower)
            .unwrap_err()
            .to_string();
        assert!(err.contains("character 3 'k'"), "{err}");
        let zero = format!("{}0000000", &good[..17]);
        let err = parse_gbt(&zero).unwrap_err().to_string();
        assert!(err.contains("serial number"), "{err}");
        let bad_month = format!("{}GD1{}", &good[..14], &good[17..]);
        let err = parse_gbt(&bad_month).unwrap_err().to_string();
        assert!(err.contains("month"), "{err}");
        let feb_30 = format!("{}G2Y{}", &good[..14], &good[17..]);
        let err = parse_gbt(&feb_30).unwrap_err().to_string();
        assert!(err.contains("a date that exists"), "{err}");
    }

    #[test]
    fn plant_codes_count_up_from_the_highest_existing_serial() {
        let date = day(2026, 1, 1);
        let existing = vec![
            "PWT0000007".to_string(),
            "PWT0000003".to_string(),
            "XX0000099".to_string(),
            "PWT12".to_string(),
        ];
        assert_eq!(
            next(&plant(), Chemistry::Lfp, date, &existing).unwrap(),
            "PWT0000008"
        );
        assert_eq!(
            next(&plant(), Chemistry::Lfp, date, &[]).unwrap(),
            "PWT0000001"
        );
        let err = validate(&plant(), Chemistry::Lfp, "PWT123")
            .unwrap_err()
            .to_string();
        assert!(err.contains("^PWT[0-9]{7}$"), "{err}");
    }

    #[test]
    fn gbt_serial_counts_per_production_day() {
        let monday = format(&gbt(), Chemistry::Lfp, day(2026, 5, 4), 12).unwrap();
        let tuesday = day(2026, 5, 5);
        assert!(next(
            &gbt(),
            Chemistry::Lfp,
            tuesday,
            std::slice::from_ref(&monday)
        )
        .unwrap()
        .ends_with("0000001"));
        assert!(next(&gbt(), Chemistry::Lfp, day(2026, 5, 4), &[monday])
            .unwrap()
            .ends_with("0000013"));
    }

    #[test]
    fn serial_overflow_and_inconsistent_profiles_are_refused() {
        let narrow = PackCodeScheme::Plant {
            prefix: "P".into(),
            digits: 2,
            regex: "^P[0-9]{2}$".into(),
        };
        let err = format(&narrow, Chemistry::Lfp, day(2026, 1, 1), 100).unwrap_err();
        assert!(matches!(err, CodeError::SerialOverflow { .. }), "{err}");
        let inconsistent = PackCodeScheme::Plant {
            prefix: "PW".into(),
            digits: 3,
            regex: "^QQ[0-9]{3}$".into(),
        };
        let err = format(&inconsistent, Chemistry::Lfp, day(2026, 1, 1), 1).unwrap_err();
        assert!(err.to_string().contains("fix [pack_code]"), "{err}");
    }

    proptest! {
        #[test]
        fn parse_gbt_never_panics(code in "\\PC{0,30}") {
            let _ = parse_gbt(&code);
        }

        #[test]
        fn validate_never_panics_on_24_ascii_characters(code in "[0-9A-Z]{24}") {
            let _ = validate(&gbt(), Chemistry::Lfp, &code);
        }
    }
}
