//! A pack label as ZPL II: the pack code as Code 128 (`^BC`) and as a QR code (`^BQ`), and its
//! ratings as text. Pure: the fields come in, the job comes out.
//!
//! Text goes through `^FH` (hex escapes with `_`): `^`, `~`, `_`, control characters and every
//! byte of a non-ASCII character (UTF-8, `^CI28`) are written as `_XX`, so no field can end the
//! format or start a command. Text is cut to the room it has, with `...`, rather than running
//! off the label; a code whose barcode or QR symbol does not fit is an error, not a label.

use serde::Serialize;

/// The dots per inch the layout is drawn for; other densities scale it.
const BASE_DPI: u32 = 203;
/// Version of the layout below: recorded with every print.
pub const LAYOUT_VERSION: &str = "1";
/// What a cut text ends with.
pub const CUT_MARKER: &str = "...";

/// What the QR code carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "template")]
pub enum QrContent {
    /// The pack code itself.
    Code,
    /// A resolver URL: `{code}` is replaced by the pack code.
    Url(String),
}

/// The label stock and what goes on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelTemplate {
    /// Recorded with every print, so a reprint can tell what the first label looked like.
    pub version: String,
    pub width_dots: u32,
    pub height_dots: u32,
    pub dpi: u32,
    pub qr: QrContent,
}

impl Default for LabelTemplate {
    /// 4 × 2 inch at 203 dpi, the QR code carrying the pack code.
    fn default() -> Self {
        LabelTemplate {
            version: format!("default-4x2in-203dpi/{LAYOUT_VERSION}"),
            width_dots: 812,
            height_dots: 406,
            dpi: BASE_DPI,
            qr: QrContent::Code,
        }
    }
}

/// What a pack's label says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelFields {
    pub pack_code: String,
    pub chemistry: Option<String>,
    /// `15S1P`.
    pub configuration: Option<String>,
    pub nominal_voltage_v: Option<f64>,
    pub rated_capacity_ah: Option<f64>,
    pub measured_capacity_ah: Option<f64>,
    /// The pack's state of health from its cells, % (`pack_health`).
    pub state_of_health_pct: Option<f64>,
    /// The pack's cell resistance, mΩ (`pack_health`).
    pub pack_resistance_mohm: Option<f64>,
    pub energy_kwh: Option<f64>,
    /// `2026-12-05`.
    pub production_date: Option<String>,
    pub station: String,
    pub source_modules: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("the pack code '{code}' as Code 128 needs {needed} dots; the label has {room}")]
    BarcodeTooWide {
        code: String,
        needed: u32,
        room: u32,
    },
    #[error("the QR code of {bytes} bytes does not fit the {room}-dot space the label has")]
    QrTooLarge { bytes: usize, room: u32 },
    #[error("the label ({width}×{height} dots) is too small for the layout: {why}")]
    TooSmall {
        width: u32,
        height: u32,
        why: &'static str,
    },
    #[error("the QR URL template '{0}' has no {{code}} placeholder")]
    NoPlaceholder(String),
    #[error("the pack code is empty")]
    NoCode,
}

/// `text` for a `^FH` field: `^`, `~`, `_`, control characters and non-ASCII bytes as `_XX`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() && !matches!(c, '^' | '~' | '_') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("_{b:02X}"));
            }
        }
    }
    out
}

/// `text` cut to `max` characters, ending with [`CUT_MARKER`] when cut.
pub fn fit(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(CUT_MARKER.len());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(CUT_MARKER.get(..max.min(CUT_MARKER.len())).unwrap_or(""));
    out
}

/// Modules of a Code 128 symbol of `chars` data characters in subset B: start, data,
/// check (11 each), stop (13), and quiet zones of 10 on both sides.
fn code128_modules(chars: usize) -> u32 {
    11 * (chars as u32 + 2) + 13 + 20
}

/// The smallest QR version (1–10) that holds `bytes` in byte mode at error correction M, and
/// its size in modules.
fn qr_modules(bytes: usize) -> Option<u32> {
    const CAPACITY_M: [usize; 10] = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213];
    let version = CAPACITY_M.iter().position(|&cap| bytes <= cap)? as u32 + 1;
    Some(17 + 4 * version)
}

fn fmt_num(v: Option<f64>, decimals: usize) -> Option<String> {
    v.map(|v| format!("{v:.decimals$}"))
}

/// The text lines of a label, before fitting.
fn lines(f: &LabelFields) -> Vec<String> {
    let mut out = Vec::new();
    let mut head: Vec<String> = Vec::new();
    head.extend(f.chemistry.clone());
    head.extend(f.configuration.clone());
    head.extend(fmt_num(f.nominal_voltage_v, 1).map(|v| format!("{v} V")));
    out.push(if head.is_empty() {
        "chemistry and ratings unknown".into()
    } else {
        head.join("  ")
    });
    let mut rated = vec![format!(
        "Rated {}",
        fmt_num(f.rated_capacity_ah, 1).map_or_else(|| "- Ah".into(), |v| format!("{v} Ah"))
    )];
    rated.extend(fmt_num(f.energy_kwh, 2).map(|v| format!("{v} kWh")));
    out.push(rated.join("  "));
    if let Some(m) = fmt_num(f.measured_capacity_ah, 1) {
        out.push(format!("Measured {m} Ah"));
    }
    if let Some(soh) = fmt_num(f.state_of_health_pct, 1) {
        let mut line = format!("SOH {soh}%");
        if let Some(r) = fmt_num(f.pack_resistance_mohm, 2) {
            line.push_str(&format!("  R {r} mOhm"));
        }
        out.push(line);
    }
    out.push(format!(
        "Produced {}",
        f.production_date.as_deref().unwrap_or("-")
    ));
    out.push(format!("Station {}", f.station));
    out.push(format!(
        "From {} source module{}",
        f.source_modules,
        if f.source_modules == 1 { "" } else { "s" }
    ));
    out.push("Second-life cells (repurposed)".into());
    out
}

/// The QR code's data for `code` under `template`.
pub fn qr_data(template: &LabelTemplate, code: &str) -> Result<String, LabelError> {
    match &template.qr {
        QrContent::Code => Ok(code.to_string()),
        QrContent::Url(url) if url.contains("{code}") => Ok(url.replace("{code}", code)),
        QrContent::Url(url) => Err(LabelError::NoPlaceholder(url.clone())),
    }
}

/// The label of `fields` on `template`, as one ZPL II format (`^XA … ^XZ`).
pub fn render(template: &LabelTemplate, fields: &LabelFields) -> Result<String, LabelError> {
    let code = fields.pack_code.trim();
    if code.is_empty() {
        return Err(LabelError::NoCode);
    }
    let dpi = template.dpi.max(1);
    // A length of the 203-dpi layout at this label's density.
    let d = |dots: u32| (dots * dpi + BASE_DPI / 2) / BASE_DPI;
    let (width, height) = (template.width_dots, template.height_dots);
    let margin = d(20);
    let too_small = |why| LabelError::TooSmall { width, height, why };
    let room = width
        .checked_sub(2 * margin)
        .ok_or_else(|| too_small("no room inside the margins"))?;

    // Code 128 across the top: the widest module (3 to 1 dots) that fits.
    let modules = code128_modules(code.chars().count());
    let module = (1..=d(3).max(1))
        .rev()
        .find(|m| modules * m <= room)
        .ok_or(LabelError::BarcodeTooWide {
            code: code.to_string(),
            needed: modules,
            room,
        })?;
    let bar_height = d(60);
    let bar_top = margin;
    // The printed interpretation line under the bars.
    let text_top = bar_top + bar_height + d(40);

    // QR code at the right, under the barcode.
    let qr = qr_data(template, code)?;
    let qr_room = d(150).min(height.saturating_sub(text_top + margin));
    let qr_modules = qr_modules(qr.len()).ok_or(LabelError::QrTooLarge {
        bytes: qr.len(),
        room: qr_room,
    })?;
    let magnification = (qr_room / qr_modules).min(10);
    if magnification == 0 {
        return Err(LabelError::QrTooLarge {
            bytes: qr.len(),
            room: qr_room,
        });
    }
    let qr_size = qr_modules * magnification;
    let qr_left = width - margin - qr_size;

    // Text to the left of the QR code, one line per field; every character counted as wide
    // as the font (font 0 is narrower), so a fitted line never reaches the QR code.
    let (font_h, font_w, pitch) = (d(26), d(22), d(32));
    let text_room = qr_left.saturating_sub(margin + d(10));
    let max_chars = (text_room / font_w.max(1)) as usize;
    if max_chars < 12 {
        return Err(too_small("no room for text beside the QR code"));
    }
    let lines = lines(fields);
    let last_bottom = text_top + pitch * lines.len() as u32;
    if last_bottom > height.saturating_sub(margin / 2) {
        return Err(too_small("not tall enough for the text lines"));
    }

    let mut z = String::new();
    z.push_str("^XA\n^CI28\n");
    z.push_str(&format!("^PW{width}\n^LL{height}\n^LH0,0\n"));
    z.push_str(&format!(
        "^FO{margin},{bar_top}^BY{module}^BCN,{bar_height},Y,N,N^FH^FD{}^FS\n",
        escape(code)
    ));
    z.push_str(&format!(
        "^FO{qr_left},{text_top}^BQN,2,{magnification}^FH^FDMA,{}^FS\n",
        escape(&qr)
    ));
    for (i, line) in lines.iter().enumerate() {
        z.push_str(&format!(
            "^FO{margin},{}^A0N,{font_h},{font_w}^FH^FD{}^FS\n",
            text_top + pitch * i as u32,
            escape(&fit(line, max_chars))
        ));
    }
    z.push_str("^PQ1\n^XZ\n");
    Ok(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> LabelFields {
        LabelFields {
            pack_code: "PWA1B0123456789ABCDEFGH1".into(),
            chemistry: Some("LFP".into()),
            configuration: Some("15S1P".into()),
            nominal_voltage_v: Some(48.0),
            rated_capacity_ah: Some(100.0),
            measured_capacity_ah: Some(97.26),
            state_of_health_pct: Some(97.26),
            pack_resistance_mohm: Some(7.534),
            energy_kwh: Some(4.8),
            production_date: Some("2026-12-05".into()),
            station: "line-1".into(),
            source_modules: 2,
        }
    }

    /// The `^FD` data after `^FO x,y`'s field, for the field starting with `prefix`.
    fn field_lines(z: &str) -> Vec<&str> {
        z.lines().filter(|l| l.starts_with("^FO")).collect()
    }

    #[test]
    fn a_label_is_one_format_with_both_symbols_carrying_the_code() {
        let z = render(&LabelTemplate::default(), &fields()).unwrap();
        assert!(z.starts_with("^XA\n^CI28\n^PW812\n^LL406\n"), "{z}");
        assert!(z.ends_with("^XZ\n"));
        assert_eq!(z.matches("^XA").count(), 1);
        assert!(
            z.contains("^BCN,60,Y,N,N^FH^FDPWA1B0123456789ABCDEFGH1^FS"),
            "{z}"
        );
        assert!(z.contains("^BQN,2,"), "{z}");
        assert!(z.contains("^FDMA,PWA1B0123456789ABCDEFGH1^FS"), "{z}");
        for want in [
            "LFP  15S1P  48.0 V",
            "Rated 100.0 Ah  4.80 kWh",
            "Measured 97.3 Ah",
            "SOH 97.3%  R 7.53 mOhm",
            "Produced 2026-12-05",
            "Station line-1",
            "From 2 source modules",
        ] {
            assert!(z.contains(&format!("^FD{want}^FS")), "{want}: {z}");
        }
    }

    #[test]
    fn measured_capacity_is_left_off_when_unknown() {
        let mut f = fields();
        f.measured_capacity_ah = None;
        let z = render(&LabelTemplate::default(), &f).unwrap();
        assert!(!z.contains("Measured"));
    }

    #[test]
    fn the_qr_code_carries_a_resolver_url_when_the_template_says_so() {
        let t = LabelTemplate {
            qr: QrContent::Url("https://id.example.com/p/{code}?v=1".into()),
            ..LabelTemplate::default()
        };
        let z = render(&t, &fields()).unwrap();
        assert!(z.contains("^FDMA,https://id.example.com/p/PWA1B0123456789ABCDEFGH1?v=1^FS"));
        let bad = LabelTemplate {
            qr: QrContent::Url("https://id.example.com/".into()),
            ..LabelTemplate::default()
        };
        assert!(matches!(
            render(&bad, &fields()),
            Err(LabelError::NoPlaceholder(_))
        ));
    }

    #[test]
    fn carets_tildes_underscores_and_non_ascii_are_hex_escaped() {
        assert_eq!(escape("a^XZ~JR_b"), "a_5EXZ_7EJR_5Fb");
        assert_eq!(escape("Süd"), "S_C3_BCd");
        assert_eq!(escape("a\nb"), "a_0Ab");
        let mut f = fields();
        f.station = "^XZ~HS Süd_1".into();
        let z = render(&LabelTemplate::default(), &f).unwrap();
        assert!(z.contains("^FDStation _5EXZ_7EHS S_C3_BCd_5F1^FS"), "{z}");
        // Nothing a field says can end the format early or send a command.
        assert_eq!(z.matches("^XZ").count(), 1);
        assert!(!z.contains('~'));
    }

    #[test]
    fn long_text_is_cut_with_a_marker_to_the_room_beside_the_qr_code() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abc...");
        assert_eq!(fit("abcdefg", 2), "..");
        let mut f = fields();
        f.station = "a-very-long-station-name-that-runs-on-and-on-forever".into();
        let t = LabelTemplate::default();
        let z = render(&t, &f).unwrap();
        let line = field_lines(&z)
            .into_iter()
            .find(|l| l.contains("Station"))
            .unwrap();
        assert!(line.ends_with("...^FS"), "{line}");
        // The line's characters, each as wide as the font, end left of the QR code.
        let data = line.split("^FD").nth(1).unwrap().trim_end_matches("^FS");
        let qr_left: u32 = z
            .lines()
            .find(|l| l.contains("^BQ"))
            .and_then(|l| l.strip_prefix("^FO"))
            .and_then(|l| l.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(20 + 22 * data.chars().count() as u32 <= qr_left, "{line}");
    }

    #[test]
    fn the_barcode_narrows_to_fit_and_a_code_that_cannot_fit_is_refused() {
        let z = render(&LabelTemplate::default(), &fields()).unwrap();
        // 24 characters: 317 modules; 2 dots each fit in 772.
        assert!(z.contains("^BY2^BC"), "{z}");
        let mut f = fields();
        f.pack_code = "X".repeat(80);
        assert!(matches!(
            render(&LabelTemplate::default(), &f),
            Err(LabelError::BarcodeTooWide { .. })
        ));
    }

    #[test]
    fn other_densities_scale_the_layout_and_tiny_labels_are_refused() {
        let t = LabelTemplate {
            width_dots: 1218,
            height_dots: 609,
            dpi: 300,
            ..LabelTemplate::default()
        };
        let z = render(&t, &fields()).unwrap();
        assert!(z.contains("^PW1218\n^LL609"), "{z}");
        assert!(z.contains("^BCN,89,Y,N,N"), "{z}");
        let tiny = LabelTemplate {
            width_dots: 400,
            height_dots: 200,
            ..LabelTemplate::default()
        };
        assert!(render(&tiny, &fields()).is_err());
        let mut f = fields();
        f.pack_code = "  ".into();
        assert_eq!(
            render(&LabelTemplate::default(), &f),
            Err(LabelError::NoCode)
        );
    }
}
