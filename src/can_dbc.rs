//! DBC decoding for BMS boards whose CAN frames are not built in.
//!
//! A profile names a `.dbc` file (`bms.dbc`); the `can-dbc` crate parses it, and this module
//! extracts each signal's raw bits (Intel or Motorola order, signed or not, multiplexed or
//! not), scales them (`factor`, `offset`) and maps the signals a pack reading needs onto a
//! [`BmsSnapshot`]. Which signal is which is read from its name and unit:
//!
//! | role | names (case and `_`/space ignored) | units |
//! |---|---|---|
//! | pack voltage | `packvoltage`, `batteryvoltage`, `battvoltage`, `totalvoltage`, `voltage` | V, mV |
//! | current (+ = charging) | `packcurrent`, `batterycurrent`, `battcurrent`, `current` | A, mA |
//! | state of charge | `soc`, `stateofcharge` | % |
//! | cell *n* voltage | contains `cell`, a number *n* and `volt` (or a V/mV unit) | V, mV |
//! | temperature *n* | contains `temp` and a number *n* (or is `temperature`) | °C, degC, C, K |
//!
//! A signal that matches a role but has a unit we cannot convert is an error naming it, so a
//! DBC file is refused when loaded rather than read wrong.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use can_dbc::{ByteOrder, Dbc, MessageId, MultiplexIndicator, Signal, ValueType};
use packwright_protocol::can::CanFrame;
use packwright_protocol::BmsSnapshot;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum DbcError {
    #[error("cannot read DBC file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("DBC file {origin} does not parse: {reason}")]
    Parse { origin: String, reason: String },
    #[error("DBC file {origin}: message {message}, signal {signal}: {reason}")]
    Signal {
        origin: String,
        message: String,
        signal: String,
        reason: String,
    },
    #[error(
        "DBC file {origin} defines no signal for {missing}: name one after the table in can_dbc.rs"
    )]
    NoRole { origin: String, missing: String },
}

/// What a signal means for a pack reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PackVoltage,
    Current,
    Soc,
    /// 1-based cell number.
    Cell(usize),
    /// 1-based sensor number.
    Temperature(usize),
}

/// Converts a signal's physical value to the unit a snapshot uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Conversion {
    scale: f64,
    offset: f64,
}

#[derive(Debug, Clone)]
struct Mapped {
    message: usize,
    signal: usize,
    role: Role,
    conversion: Conversion,
}

/// A loaded DBC file, indexed for decoding.
#[derive(Debug)]
pub struct DbcDecoder {
    origin: String,
    dbc: Dbc,
    by_id: HashMap<(u32, bool), usize>,
    mapped: Vec<Mapped>,
}

/// One decoded signal value with its unit, as the DBC states them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalValue {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodedMessage {
    pub message: String,
    pub can_id: String,
    pub signals: Vec<SignalValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame {frame}: DBC message {message} is {expected} bytes long, the frame carries {got}")]
pub struct FrameTooShort {
    pub frame: String,
    pub message: String,
    pub expected: u64,
    pub got: usize,
}

impl DbcDecoder {
    pub fn load(path: &Path) -> Result<DbcDecoder, DbcError> {
        let text = std::fs::read_to_string(path).map_err(|source| DbcError::Read {
            path: path.display().to_string(),
            source,
        })?;
        DbcDecoder::parse(&text, &path.display().to_string())
    }

    /// Parses DBC text; `origin` names it in errors. Requires signals for at least the pack
    /// voltage, so a DBC without a usable reading is refused up front.
    pub fn parse(text: &str, origin: &str) -> Result<DbcDecoder, DbcError> {
        let dbc = Dbc::try_from(text).map_err(|e| DbcError::Parse {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
        let mut by_id = HashMap::new();
        let mut mapped = Vec::new();
        for (mi, m) in dbc.messages.iter().enumerate() {
            let key = match m.id {
                MessageId::Standard(id) => (u32::from(id), false),
                MessageId::Extended(id) => (id, true),
            };
            by_id.insert(key, mi);
            for (si, s) in m.signals.iter().enumerate() {
                let sig_err = |reason: String| DbcError::Signal {
                    origin: origin.to_string(),
                    message: m.name.clone(),
                    signal: s.name.clone(),
                    reason,
                };
                if s.size == 0 || s.size > 64 {
                    return Err(sig_err(format!("{} bits: a signal has 1 to 64", s.size)));
                }
                if !bits_fit(s, m.size) {
                    return Err(sig_err(format!(
                        "bits start {} size {} do not fit the {}-byte message",
                        s.start_bit, s.size, m.size
                    )));
                }
                if let Some(role) = role_of(&s.name, &s.unit) {
                    let conversion = conversion(role, &s.unit).map_err(sig_err)?;
                    mapped.push(Mapped {
                        message: mi,
                        signal: si,
                        role,
                        conversion,
                    });
                }
            }
        }
        if !mapped.iter().any(|m| m.role == Role::PackVoltage) {
            return Err(DbcError::NoRole {
                origin: origin.to_string(),
                missing: "the pack voltage".into(),
            });
        }
        Ok(DbcDecoder {
            origin: origin.to_string(),
            dbc,
            by_id,
            mapped,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The roles this file maps, e.g. for `profile check` output.
    pub fn roles(&self) -> Vec<(Role, String)> {
        let mut out: Vec<(Role, String)> = self
            .mapped
            .iter()
            .map(|m| {
                let msg = &self.dbc.messages[m.message];
                (
                    m.role,
                    format!("{}.{}", msg.name, msg.signals[m.signal].name),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// The (id, extended) pairs the file describes, for a socket filter.
    pub fn ids(&self) -> Vec<(u32, bool)> {
        let mut ids: Vec<_> = self.by_id.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Decodes a frame; `None` when the file has no message with its id.
    pub fn decode(&self, frame: &CanFrame) -> Option<Result<DecodedMessage, FrameTooShort>> {
        let (mi, switch) = match self.message_of(frame)? {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        let m = &self.dbc.messages[mi];
        let data = frame.data();
        let signals = m
            .signals
            .iter()
            .filter(|s| active(s, switch))
            .map(|s| SignalValue {
                name: s.name.clone(),
                value: physical(s, data),
                unit: s.unit.clone(),
            })
            .collect();
        Some(Ok(DecodedMessage {
            message: m.name.clone(),
            can_id: packwright_protocol::can::id_text(frame.id(), frame.is_extended()),
            signals,
        }))
    }

    /// The file's message for `frame` (index) and the value of its multiplexor switch, if it
    /// has one; `None` for ids the file does not describe. One place, so decoding and the
    /// snapshot state agree on which multiplexed signals a frame carries.
    fn message_of(&self, frame: &CanFrame) -> Option<Result<(usize, Option<u64>), FrameTooShort>> {
        let mi = *self.by_id.get(&(frame.id(), frame.is_extended()))?;
        let m = &self.dbc.messages[mi];
        if (frame.len() as u64) < m.size || frame.is_remote() {
            return Some(Err(FrameTooShort {
                frame: frame.to_string(),
                message: m.name.clone(),
                expected: m.size,
                got: frame.data().len(),
            }));
        }
        let switch = m
            .signals
            .iter()
            .find(|s| {
                matches!(
                    s.multiplexer_indicator,
                    MultiplexIndicator::Multiplexor
                        | MultiplexIndicator::MultiplexorAndMultiplexedSignal(_)
                )
            })
            .map(|s| raw_bits(s, frame.data()));
        Some(Ok((mi, switch)))
    }

    /// Feeds a frame into `state`; frames of other ids are ignored.
    pub fn apply(&self, state: &mut DbcState, frame: &CanFrame) -> Result<(), FrameTooShort> {
        let Some(found) = self.message_of(frame) else {
            return Ok(());
        };
        let (mi, switch) = found?;
        let m = &self.dbc.messages[mi];
        let data = frame.data();
        for map in self.mapped.iter().filter(|x| x.message == mi) {
            let s = &m.signals[map.signal];
            if active(s, switch) {
                let v = physical(s, data) * map.conversion.scale + map.conversion.offset;
                // Micro-unit rounding: 5287 × 10 mV reads 52.87 V, not 52.870000000000005.
                state.values.insert(map.role, (v * 1e6).round() / 1e6);
            }
        }
        Ok(())
    }

    /// The roles this file maps that `state` has not received yet.
    pub fn missing(&self, state: &DbcState) -> Vec<Role> {
        let mut roles: Vec<Role> = self.mapped.iter().map(|m| m.role).collect();
        roles.sort();
        roles.dedup();
        roles.retain(|r| !state.values.contains_key(r));
        roles
    }
}

/// The latest value of every mapped signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbcState {
    values: BTreeMap<Role, f64>,
}

impl DbcDecoder {
    /// A reading once every signal the file maps has arrived; otherwise an error naming
    /// what is still missing (a cell list with a hole would shift every cell after it).
    pub fn snapshot(&self, state: &DbcState) -> Result<BmsSnapshot, String> {
        let missing = self.missing(state);
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(Role::to_string).collect();
            return Err(format!("not received yet: {}", names.join(", ")));
        }
        let v = |r: Role| state.values.get(&r).copied();
        let numbered = |pick: fn(&Role) -> Option<usize>| -> Vec<f64> {
            // BTreeMap order: by role, then by number.
            state
                .values
                .iter()
                .filter(|(r, _)| pick(r).is_some())
                .map(|(_, v)| *v)
                .collect()
        };
        let cells = numbered(|r| match r {
            Role::Cell(n) => Some(*n),
            _ => None,
        });
        let temps = numbered(|r| match r {
            Role::Temperature(n) => Some(*n),
            _ => None,
        });
        Ok(BmsSnapshot {
            pack_voltage_v: v(Role::PackVoltage).unwrap_or_default(),
            current_a: v(Role::Current).unwrap_or_default(),
            soc_pct: v(Role::Soc),
            cell_count: cells.len(),
            cell_voltages_mv: cells.iter().map(|mv| mv.round().max(0.0) as u32).collect(),
            temperatures_c: temps,
            ..BmsSnapshot::default()
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::PackVoltage => f.write_str("pack voltage"),
            Role::Current => f.write_str("current"),
            Role::Soc => f.write_str("SOC"),
            Role::Cell(n) => write!(f, "cell {n}"),
            Role::Temperature(n) => write!(f, "temperature {n}"),
        }
    }
}

/// Lower-case with `_`, `-`, `.` and spaces removed.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn number_in(name: &str) -> Option<usize> {
    let digits: String = name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|&n| n >= 1)
}

fn role_of(name: &str, unit: &str) -> Option<Role> {
    let n = normalise(name);
    let u = normalise(unit);
    let volt_unit = matches!(u.as_str(), "v" | "mv");
    if n.contains("cell") && (n.contains("volt") || volt_unit) {
        return number_in(&n).map(Role::Cell);
    }
    if n.contains("temp") {
        return match number_in(&n) {
            Some(k) => Some(Role::Temperature(k)),
            None if n == "temperature" || n == "temp" => Some(Role::Temperature(1)),
            None => None,
        };
    }
    match n.as_str() {
        "packvoltage" | "batteryvoltage" | "battvoltage" | "totalvoltage" | "voltage" => {
            Some(Role::PackVoltage)
        }
        "packcurrent" | "batterycurrent" | "battcurrent" | "current" => Some(Role::Current),
        "soc" | "stateofcharge" => Some(Role::Soc),
        _ => None,
    }
}

fn conversion(role: Role, unit: &str) -> Result<Conversion, String> {
    let u = unit.trim();
    let lin = |scale| Ok(Conversion { scale, offset: 0.0 });
    let bad = |want: &str| Err(format!("unit `{u}` cannot be read as {want}"));
    match role {
        Role::PackVoltage => match u {
            "V" | "v" => lin(1.0),
            "mV" | "mv" => lin(0.001),
            _ => bad("a voltage (V or mV)"),
        },
        Role::Current => match u {
            "A" | "a" => lin(1.0),
            "mA" | "ma" => lin(0.001),
            _ => bad("a current (A or mA)"),
        },
        Role::Soc => match u {
            "%" => lin(1.0),
            _ => bad("a percentage (%)"),
        },
        Role::Cell(_) => match u {
            "mV" | "mv" => lin(1.0),
            "V" | "v" => lin(1000.0),
            _ => bad("a cell voltage (V or mV)"),
        },
        Role::Temperature(_) => match u {
            "°C" | "degC" | "C" | "deg C" => lin(1.0),
            "K" => Ok(Conversion {
                scale: 1.0,
                offset: -273.15,
            }),
            _ => bad("a temperature (°C, degC or K)"),
        },
    }
}

fn active(s: &Signal, switch: Option<u64>) -> bool {
    match s.multiplexer_indicator {
        MultiplexIndicator::MultiplexedSignal(v)
        | MultiplexIndicator::MultiplexorAndMultiplexedSignal(v) => switch == Some(v),
        _ => true,
    }
}

/// Position of a Motorola signal's bit in the big-endian 64-bit view of the data:
/// DBC numbers bits 7..0 in byte 0, 15..8 in byte 1, and so on.
fn motorola_msb_index(start_bit: u64) -> u64 {
    (start_bit / 8) * 8 + (7 - start_bit % 8)
}

/// Whether the signal lies within a message of `bytes` bytes (and within 8 bytes).
fn bits_fit(s: &Signal, bytes: u64) -> bool {
    let bits = bytes.min(8) * 8;
    match s.byte_order {
        ByteOrder::LittleEndian => s.start_bit + s.size <= bits,
        ByteOrder::BigEndian => motorola_msb_index(s.start_bit) + s.size <= bits,
    }
}

fn raw_bits(s: &Signal, data: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..data.len().min(8)].copy_from_slice(&data[..data.len().min(8)]);
    let mask = if s.size >= 64 {
        u64::MAX
    } else {
        (1u64 << s.size) - 1
    };
    match s.byte_order {
        ByteOrder::LittleEndian => (u64::from_le_bytes(buf) >> s.start_bit) & mask,
        ByteOrder::BigEndian => {
            let shift = 64 - motorola_msb_index(s.start_bit) - s.size;
            (u64::from_be_bytes(buf) >> shift) & mask
        }
    }
}

fn physical(s: &Signal, data: &[u8]) -> f64 {
    let raw = raw_bits(s, data);
    let value = match s.value_type {
        ValueType::Signed if s.size < 64 && raw & (1 << (s.size - 1)) != 0 => {
            (raw | !((1u64 << s.size) - 1)) as i64 as f64
        }
        ValueType::Signed => raw as i64 as f64,
        ValueType::Unsigned => raw as f64,
    };
    value * s.factor + s.offset
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Pylontech-compatible pack's 0x351/0x355/0x356 in DBC form (Intel byte order).
    const PYLON_DBC: &str = r#"VERSION ""

BU_: BMS INV

BO_ 849 Limits: 8 BMS
 SG_ ChargeVoltageLimit : 0|16@1+ (0.1,0) [0|6553.5] "V" INV
 SG_ ChargeCurrentLimit : 16|16@1- (0.1,0) [-3276.8|3276.7] "A" INV
 SG_ DischargeCurrentLimit : 32|16@1- (0.1,0) [-3276.8|3276.7] "A" INV
 SG_ DischargeVoltageLimit : 48|16@1+ (0.1,0) [0|6553.5] "V" INV

BO_ 853 SocSoh: 4 BMS
 SG_ SOC : 0|16@1+ (1,0) [0|100] "%" INV
 SG_ SOH : 16|16@1+ (1,0) [0|100] "%" INV

BO_ 854 Measurements: 6 BMS
 SG_ Battery_Voltage : 0|16@1- (0.01,0) [-327.68|327.67] "V" INV
 SG_ Battery_Current : 16|16@1- (0.1,0) [-3276.8|3276.7] "A" INV
 SG_ Temperature : 32|16@1- (0.1,0) [-3276.8|3276.7] "degC" INV
"#;

    /// A custom board: big-endian cells in mV, a multiplexed temperature frame, 29-bit ids.
    const CUSTOM_DBC: &str = r#"VERSION ""

BU_: BMS

BO_ 2566868992 Pack: 8 BMS
 SG_ PackVoltage : 7|16@0+ (10,0) [0|655350] "mV" Vector__XXX
 SG_ PackCurrent : 23|16@0- (0.1,0) [-3276.8|3276.7] "A" Vector__XXX
 SG_ StateOfCharge : 39|8@0+ (0.5,0) [0|100] "%" Vector__XXX

BO_ 2566868993 Cells: 8 BMS
 SG_ Cell1_Voltage : 7|16@0+ (1,0) [0|65535] "mV" Vector__XXX
 SG_ Cell2_Voltage : 23|16@0+ (1,0) [0|65535] "mV" Vector__XXX
 SG_ Cell3_Voltage : 39|16@0+ (1,0) [0|65535] "mV" Vector__XXX
 SG_ Cell4_Voltage : 55|16@0+ (1,0) [0|65535] "mV" Vector__XXX

BO_ 2566868994 Temps: 8 BMS
 SG_ Bank M : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ Temp1 m0 : 8|8@1- (1,0) [-128|127] "degC" Vector__XXX
 SG_ Temp2 m1 : 8|8@1- (1,0) [-128|127] "degC" Vector__XXX
"#;

    fn std_frame(id: u32, data: &[u8]) -> CanFrame {
        CanFrame::standard(id, data).unwrap()
    }

    #[test]
    fn pylontech_frames_decode_through_a_dbc_as_through_the_codec() {
        let dbc = DbcDecoder::parse(PYLON_DBC, "pylon.dbc").unwrap();
        // The real capture pylon_new_356.
        let f = std_frame(0x356, &[0x7B, 0x13, 0xE9, 0xFE, 0x6B, 0x01]);
        let m = dbc.decode(&f).unwrap().unwrap();
        assert_eq!(m.message, "Measurements");
        let by_name: HashMap<_, _> = m
            .signals
            .iter()
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert!((by_name["Battery_Voltage"] - 49.87).abs() < 1e-9);
        assert!((by_name["Battery_Current"] - -27.9).abs() < 1e-9);
        assert!((by_name["Temperature"] - 36.3).abs() < 1e-9);
        let mut st = DbcState::default();
        dbc.apply(&mut st, &f).unwrap();
        dbc.apply(&mut st, &std_frame(0x355, &[0x58, 0, 0x5E, 0]))
            .unwrap();
        let snap = dbc.snapshot(&st).unwrap();
        assert!((snap.pack_voltage_v - 49.87).abs() < 1e-9);
        assert!((snap.current_a + 27.9).abs() < 1e-9);
        assert_eq!(snap.soc_pct, Some(88.0));
        assert_eq!(snap.temperatures_c.len(), 1);
        assert!(dbc.missing(&st).is_empty());
    }

    #[test]
    fn motorola_signed_and_multiplexed_signals() {
        let dbc = DbcDecoder::parse(CUSTOM_DBC, "custom.dbc").unwrap();
        let mut st = DbcState::default();
        // PackVoltage 5287 × 10 mV = 52.87 V; current -125 × 0.1 = -12.5 A; SOC 174 × 0.5 = 87 %
        let pack =
            CanFrame::extended(0x18FF_5000, &[0x14, 0xA7, 0xFF, 0x83, 0xAE, 0, 0, 0]).unwrap();
        dbc.apply(&mut st, &pack).unwrap();
        let cells = CanFrame::extended(
            0x18FF_5001,
            &[0x0C, 0xE4, 0x0C, 0xE5, 0x0C, 0xE6, 0x0C, 0xE7],
        )
        .unwrap();
        dbc.apply(&mut st, &cells).unwrap();
        assert_eq!(
            dbc.missing(&st),
            vec![Role::Temperature(1), Role::Temperature(2)]
        );
        dbc.apply(
            &mut st,
            &CanFrame::extended(0x18FF_5002, &[0, 25, 0, 0, 0, 0, 0, 0]).unwrap(),
        )
        .unwrap();
        let err = dbc.snapshot(&st).unwrap_err();
        assert_eq!(err, "not received yet: temperature 2");
        // Bank 1 carries sensor 2: -5 °C as a signed byte.
        dbc.apply(
            &mut st,
            &CanFrame::extended(0x18FF_5002, &[1, 0xFB, 0, 0, 0, 0, 0, 0]).unwrap(),
        )
        .unwrap();
        let snap = dbc.snapshot(&st).unwrap();
        assert!(
            (snap.pack_voltage_v - 52.87).abs() < 1e-9,
            "{}",
            snap.pack_voltage_v
        );
        assert!((snap.current_a + 12.5).abs() < 1e-9);
        assert_eq!(snap.soc_pct, Some(87.0));
        assert_eq!(snap.cell_voltages_mv, vec![3300, 3301, 3302, 3303]);
        assert_eq!(snap.temperatures_c, vec![25.0, -5.0]);
    }

    #[test]
    fn short_frames_and_unknown_ids() {
        let dbc = DbcDecoder::parse(PYLON_DBC, "pylon.dbc").unwrap();
        let err = dbc.decode(&std_frame(0x351, &[0; 4])).unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "frame 351#00000000: DBC message Limits is 8 bytes long, the frame carries 4"
        );
        assert!(dbc.decode(&std_frame(0x35E, b"PYLON")).is_none());
        assert_eq!(
            dbc.ids(),
            vec![(0x351, false), (0x355, false), (0x356, false)]
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let err = DbcDecoder::parse("this is not a dbc", "x.dbc").unwrap_err();
        assert!(
            err.to_string().starts_with("DBC file x.dbc does not parse"),
            "{err}"
        );
        let no_voltage = PYLON_DBC.replace("Battery_Voltage", "Something");
        let err = DbcDecoder::parse(&no_voltage, "x.dbc").unwrap_err();
        assert!(
            err.to_string().contains("no signal for the pack voltage"),
            "{err}"
        );
        let bad_unit = PYLON_DBC.replace("\"degC\"", "\"F\"");
        let err = DbcDecoder::parse(&bad_unit, "x.dbc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "DBC file x.dbc: message Measurements, signal Temperature: unit `F` cannot be read as a temperature (°C, degC or K)"
        );
        let too_long = PYLON_DBC.replace(
            "32|16@1- (0.1,0) [-3276.8|3276.7] \"degC\"",
            "40|16@1- (0.1,0) [-3276.8|3276.7] \"degC\"",
        );
        let err = DbcDecoder::parse(&too_long, "x.dbc").unwrap_err();
        assert!(
            err.to_string().contains("do not fit the 6-byte message"),
            "{err}"
        );
        let err = DbcDecoder::load(Path::new("/nonexistent/x.dbc")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read DBC file /nonexistent/x.dbc"));
    }

    #[test]
    fn roles_are_found_by_name_and_unit() {
        assert_eq!(role_of("Cell_12_Voltage", "mV"), Some(Role::Cell(12)));
        assert_eq!(role_of("CellV03", "V"), Some(Role::Cell(3)));
        assert_eq!(role_of("cell_balancing_12", ""), None);
        assert_eq!(role_of("Temp_4", "degC"), Some(Role::Temperature(4)));
        assert_eq!(role_of("Pack Voltage", "V"), Some(Role::PackVoltage));
        assert_eq!(role_of("SOC", "%"), Some(Role::Soc));
        assert_eq!(role_of("SOH", "%"), None);
        assert_eq!(role_of("ChargeVoltageLimit", "V"), None);
    }

    #[test]
    fn bit_extraction_matches_hand_computed_values() {
        let sig = |start, size, order, vt| Signal {
            name: "x".into(),
            multiplexer_indicator: MultiplexIndicator::Plain,
            start_bit: start,
            size,
            byte_order: order,
            value_type: vt,
            factor: 1.0,
            offset: 0.0,
            min: can_dbc::NumericValue::Int(0),
            max: can_dbc::NumericValue::Int(0),
            unit: String::new(),
            receivers: Vec::new(),
        };
        let d = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
        assert_eq!(
            raw_bits(
                &sig(0, 16, ByteOrder::LittleEndian, ValueType::Unsigned),
                &d
            ),
            0x3412
        );
        assert_eq!(
            raw_bits(&sig(4, 8, ByteOrder::LittleEndian, ValueType::Unsigned), &d),
            0x41
        );
        assert_eq!(
            raw_bits(&sig(7, 16, ByteOrder::BigEndian, ValueType::Unsigned), &d),
            0x1234
        );
        assert_eq!(
            raw_bits(&sig(3, 8, ByteOrder::BigEndian, ValueType::Unsigned), &d),
            0x23
        );
        assert_eq!(
            raw_bits(
                &sig(0, 64, ByteOrder::LittleEndian, ValueType::Unsigned),
                &d
            ),
            0xF0DE_BC9A_7856_3412
        );
        let s = sig(56, 8, ByteOrder::LittleEndian, ValueType::Signed);
        assert_eq!(physical(&s, &d), -16.0);
    }
}
