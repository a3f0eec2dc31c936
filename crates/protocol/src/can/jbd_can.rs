//! JBD proprietary CAN (sshoecraft/jbdtool `jbd.c` `jbd_can_get_pack`, `jbd_can_get_info`).
//!
//! The host sends a zero-length data frame with id 0x100 … 0x114; the BMS answers on the same
//! id with 8 bytes. Fields are big-endian like JBD serial. Frames 0x100 … 0x110 end in a
//! CRC16/Modbus (poly 0xA001, init 0xFFFF) over bytes 0-5, stored high byte first (jbdtool
//! reads it with its big-endian `_getshort`); 0x111 … 0x114 carry the model text, no CRC.
//! Default bit rate 250 kbit/s. Parameters cannot be read or written over this CAN.

use serde::{Deserialize, Serialize};

use super::{expect_len, i16_be, scaled, u16_be, CanFrame, DecodeError, Incomplete};
use crate::jbd::payload::{celsius_from_deci_kelvin, deci_kelvin_from_celsius, decode_model};
use crate::jbd::{PackedDate, ProtectionFlags};
use crate::snapshot::{BmsSnapshot, ProtocolKind};

pub const ID_PACK: u32 = 0x100;
pub const ID_CAPACITY: u32 = 0x101;
pub const ID_STATUS: u32 = 0x102;
pub const ID_INFO: u32 = 0x103;
pub const ID_COUNTS: u32 = 0x104;
/// 0x105-0x106: temperatures, three per frame.
pub const ID_TEMPS_FIRST: u32 = 0x105;
pub const ID_TEMPS_LAST: u32 = 0x106;
/// 0x107-0x110: cell voltages, three per frame (30 cells at most).
pub const ID_CELLS_FIRST: u32 = 0x107;
pub const ID_CELLS_LAST: u32 = 0x110;
/// 0x111-0x114: model name, 8 ASCII bytes each, no CRC.
pub const ID_MODEL_FIRST: u32 = 0x111;
pub const ID_MODEL_LAST: u32 = 0x114;

pub const MAX_TEMPS: usize = 3 * (ID_TEMPS_LAST - ID_TEMPS_FIRST + 1) as usize;
pub const MAX_CELLS: usize = 3 * (ID_CELLS_LAST - ID_CELLS_FIRST + 1) as usize;

const P: ProtocolKind = ProtocolKind::JbdCan;

/// CRC16/Modbus (reflected polynomial 0xA001, initial value 0xFFFF): the Modbus codec's.
pub use crate::modbus::crc16 as crc16_modbus;

/// The host's request for one reply: a zero-length data frame on the reply's id.
#[allow(
    clippy::expect_used,
    reason = "an 11-bit id with no data is always valid"
)]
pub fn request(id: u32) -> CanFrame {
    CanFrame::standard(id & 0x7FF, &[]).expect("an 11-bit id with no data is a valid frame")
}

/// Every id a full read asks for, given the pack's cell and sensor counts (from 0x104).
pub fn read_ids(cells: usize, ntc: usize) -> Vec<u32> {
    let mut ids = vec![ID_PACK, ID_CAPACITY, ID_STATUS, ID_INFO, ID_COUNTS];
    ids.extend((0..frames_for(ntc.min(MAX_TEMPS))).map(|i| ID_TEMPS_FIRST + i as u32));
    ids.extend((0..frames_for(cells.min(MAX_CELLS))).map(|i| ID_CELLS_FIRST + i as u32));
    ids.extend(ID_MODEL_FIRST..=ID_MODEL_LAST);
    ids
}

fn frames_for(values: usize) -> usize {
    values.div_ceil(3)
}

/// 0x100: pack voltage, current, remaining capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    pub pack_voltage_v: f64,
    /// Positive while charging, negative while discharging (10 mA, signed).
    pub current_a: f64,
    pub remaining_ah: f64,
}

/// 0x101: full capacity, cycles, relative state of charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub full_capacity_ah: f64,
    pub cycles: u16,
    pub soc_pct: u16,
}

/// 0x102: balance and protection words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// 1-based numbers of the balancing cells (bit 0 of bytes 0-1 = cell 1; bytes 2-3 = 17-32).
    pub balancing_cells: Vec<usize>,
    pub protection: Vec<String>,
}

/// 0x103: FET state, production date, software version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub charge_fet: bool,
    pub discharge_fet: bool,
    /// `YYYY-MM-DD`, bit-packed as in serial register 0x03; `None` when never programmed.
    pub manufacture_date: Option<String>,
    /// jbdtool prints the u16 divided by 10, e.g. 22 = "2.2".
    pub software_version: String,
}

/// 0x104: number of cells in series and of temperature sensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub cell_count: u8,
    pub ntc_count: u8,
}

/// 0x105-0x106 (temperatures) or 0x107-0x110 (cells): three values of a numbered group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Temperatures {
    /// Number of the first sensor in this frame, 1-based.
    pub first: usize,
    pub temps_c: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cells {
    /// Number of the first cell in this frame, 1-based.
    pub first: usize,
    pub cells_mv: Vec<u16>,
}

/// 0x111-0x114: one 8-character piece of the model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPart {
    /// 0 for 0x111 … 3 for 0x114.
    pub part: usize,
    pub text: String,
}

/// One decoded JBD CAN frame. A zero-length frame is the host's request for that id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum JbdCanMessage {
    Request { id: u32 },
    Pack(Pack),
    Capacity(Capacity),
    Status(Status),
    Info(Info),
    Counts(Counts),
    Temperatures(Temperatures),
    Cells(Cells),
    Model(ModelPart),
}

/// Decodes a request or a reply; replies 0x100-0x110 must carry a valid CRC.
pub fn decode(frame: &CanFrame) -> Result<JbdCanMessage, DecodeError> {
    let id = frame.id();
    if frame.is_extended() {
        return Err(DecodeError::WrongIdKind {
            protocol: P,
            id,
            extended: true,
        });
    }
    if !(ID_PACK..=ID_MODEL_LAST).contains(&id) {
        return Err(DecodeError::UnknownId {
            protocol: P,
            id,
            extended: false,
        });
    }
    // jbdtool sends a zero-length data frame; a remote frame asks the same thing.
    if frame.is_remote() || frame.is_empty() {
        return Ok(JbdCanMessage::Request { id });
    }
    expect_len(P, frame, "reply", &[8], "0 (request) or 8 (reply)")?;
    let d = frame.data();
    if id < ID_MODEL_FIRST {
        let got = u16_be(d, 6);
        let computed = crc16_modbus(&d[..6]);
        // jbdtool accepts a zero CRC as "not sent" (`crc == 0 || crc == mycrc`).
        if got != computed && got != 0 {
            return Err(DecodeError::Crc {
                protocol: P,
                id,
                extended: false,
                got,
                computed,
            });
        }
    }
    let msg = match id {
        ID_PACK => JbdCanMessage::Pack(Pack {
            pack_voltage_v: scaled(f64::from(u16_be(d, 0)), 0.01),
            current_a: scaled(f64::from(i16_be(d, 2)), 0.01),
            remaining_ah: scaled(f64::from(u16_be(d, 4)), 0.01),
        }),
        ID_CAPACITY => JbdCanMessage::Capacity(Capacity {
            full_capacity_ah: scaled(f64::from(u16_be(d, 0)), 0.01),
            cycles: u16_be(d, 2),
            soc_pct: u16_be(d, 4),
        }),
        ID_STATUS => {
            let bal = u32::from(u16_be(d, 0)) | u32::from(u16_be(d, 2)) << 16;
            JbdCanMessage::Status(Status {
                balancing_cells: (0..32)
                    .filter(|i| bal & (1 << i) != 0)
                    .map(|i| i + 1)
                    .collect(),
                protection: ProtectionFlags(u16_be(d, 4))
                    .names()
                    .into_iter()
                    .map(String::from)
                    .collect(),
            })
        }
        ID_INFO => {
            let fet = u16_be(d, 0);
            let date = u16_be(d, 2);
            let version = u16_be(d, 4);
            JbdCanMessage::Info(Info {
                charge_fet: fet & 1 != 0,
                discharge_fet: fet & 2 != 0,
                manufacture_date: PackedDate(date).iso(),
                software_version: format!("{}.{}", version / 10, version % 10),
            })
        }
        ID_COUNTS => JbdCanMessage::Counts(Counts {
            cell_count: d[0],
            ntc_count: d[1],
        }),
        ID_TEMPS_FIRST..=ID_TEMPS_LAST => JbdCanMessage::Temperatures(Temperatures {
            first: 3 * (id - ID_TEMPS_FIRST) as usize + 1,
            temps_c: (0..3)
                .map(|i| celsius_from_deci_kelvin(u16_be(d, 2 * i)))
                .collect(),
        }),
        ID_CELLS_FIRST..=ID_CELLS_LAST => JbdCanMessage::Cells(Cells {
            first: 3 * (id - ID_CELLS_FIRST) as usize + 1,
            cells_mv: (0..3).map(|i| u16_be(d, 2 * i)).collect(),
        }),
        _ => JbdCanMessage::Model(ModelPart {
            part: (id - ID_MODEL_FIRST) as usize,
            text: decode_model(d),
        }),
    };
    Ok(msg)
}

/// What a simulated JBD pack holds, to answer requests from.
#[derive(Debug, Clone, PartialEq)]
pub struct JbdCanPack {
    pub pack_voltage_v: f64,
    pub current_a: f64,
    pub remaining_ah: f64,
    pub full_capacity_ah: f64,
    pub cycles: u16,
    pub soc_pct: u16,
    pub balancing_cells: Vec<usize>,
    pub protection_bits: u16,
    pub charge_fet: bool,
    pub discharge_fet: bool,
    pub manufacture_date: PackedDate,
    /// Version ×10, as on the wire (22 = "2.2").
    pub software_version: u16,
    pub cells_mv: Vec<u16>,
    pub temps_c: Vec<f64>,
    pub model: String,
}

/// The reply a pack gives on `id`, CRC included; `None` for ids it has no data for
/// (sensor or cell frames beyond its counts, or ids outside the protocol).
pub fn encode_reply(pack: &JbdCanPack, id: u32) -> Option<CanFrame> {
    let mut d = [0u8; 8];
    let put = |d: &mut [u8; 8], at: usize, v: u16| d[at..at + 2].copy_from_slice(&v.to_be_bytes());
    let wire = |v: f64, step: f64, lo: i64, hi: i64| super::to_wire(v, step, lo, hi);
    match id {
        ID_PACK => {
            put(&mut d, 0, wire(pack.pack_voltage_v, 0.01, 0, 0xFFFF) as u16);
            put(
                &mut d,
                2,
                wire(pack.current_a, 0.01, -32768, 32767) as i16 as u16,
            );
            put(&mut d, 4, wire(pack.remaining_ah, 0.01, 0, 0xFFFF) as u16);
        }
        ID_CAPACITY => {
            put(
                &mut d,
                0,
                wire(pack.full_capacity_ah, 0.01, 0, 0xFFFF) as u16,
            );
            put(&mut d, 2, pack.cycles);
            put(&mut d, 4, pack.soc_pct);
        }
        ID_STATUS => {
            let bal = pack
                .balancing_cells
                .iter()
                .filter(|&&c| (1..=32).contains(&c))
                .fold(0u32, |acc, &c| acc | 1 << (c - 1));
            put(&mut d, 0, bal as u16);
            put(&mut d, 2, (bal >> 16) as u16);
            put(&mut d, 4, pack.protection_bits);
        }
        ID_INFO => {
            put(
                &mut d,
                0,
                u16::from(pack.charge_fet) | u16::from(pack.discharge_fet) << 1,
            );
            put(&mut d, 2, pack.manufacture_date.0);
            put(&mut d, 4, pack.software_version);
        }
        ID_COUNTS => {
            d[0] = pack.cells_mv.len().min(MAX_CELLS) as u8;
            d[1] = pack.temps_c.len().min(MAX_TEMPS) as u8;
        }
        ID_TEMPS_FIRST..=ID_TEMPS_LAST => {
            let first = 3 * (id - ID_TEMPS_FIRST) as usize;
            let chunk = pack.temps_c.get(first..)?.iter().take(3);
            if chunk.len() == 0 {
                return None;
            }
            for (i, t) in chunk.enumerate() {
                put(&mut d, 2 * i, deci_kelvin_from_celsius(*t));
            }
        }
        ID_CELLS_FIRST..=ID_CELLS_LAST => {
            let first = 3 * (id - ID_CELLS_FIRST) as usize;
            let chunk = pack.cells_mv.get(first..)?.iter().take(3);
            if chunk.len() == 0 {
                return None;
            }
            for (i, mv) in chunk.enumerate() {
                put(&mut d, 2 * i, *mv);
            }
        }
        ID_MODEL_FIRST..=ID_MODEL_LAST => {
            let at = 8 * (id - ID_MODEL_FIRST) as usize;
            for (slot, b) in d.iter_mut().zip(pack.model.bytes().skip(at)) {
                *slot = b;
            }
            return CanFrame::standard(id, &d).ok();
        }
        _ => return None,
    }
    let crc = crc16_modbus(&d[..6]);
    d[6..8].copy_from_slice(&crc.to_be_bytes());
    CanFrame::standard(id, &d).ok()
}

/// The replies of one full read, assembled into a pack reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JbdCanState {
    pub pack: Option<Pack>,
    pub capacity: Option<Capacity>,
    pub status: Option<Status>,
    pub info: Option<Info>,
    pub counts: Option<Counts>,
    temps: Vec<Option<f64>>,
    cells: Vec<Option<u16>>,
    model: [Option<String>; 4],
}

impl JbdCanState {
    pub fn apply(&mut self, msg: JbdCanMessage) {
        match msg {
            JbdCanMessage::Request { .. } => {}
            JbdCanMessage::Pack(v) => self.pack = Some(v),
            JbdCanMessage::Capacity(v) => self.capacity = Some(v),
            JbdCanMessage::Status(v) => self.status = Some(v),
            JbdCanMessage::Info(v) => self.info = Some(v),
            JbdCanMessage::Counts(v) => self.counts = Some(v),
            JbdCanMessage::Temperatures(t) => place(&mut self.temps, t.first, &t.temps_c),
            JbdCanMessage::Cells(c) => place(&mut self.cells, c.first, &c.cells_mv),
            JbdCanMessage::Model(m) => {
                if let Some(slot) = self.model.get_mut(m.part) {
                    *slot = Some(m.text);
                }
            }
        }
    }

    /// The ids a read still needs, given what 0x104 said (everything up to 0x104 first).
    pub fn missing(&self) -> Vec<u32> {
        let Some(counts) = &self.counts else {
            return vec![ID_PACK, ID_CAPACITY, ID_STATUS, ID_INFO, ID_COUNTS]
                .into_iter()
                .filter(|id| !self.has(*id))
                .collect();
        };
        read_ids(
            usize::from(counts.cell_count),
            usize::from(counts.ntc_count),
        )
        .into_iter()
        .filter(|id| !self.has(*id))
        .collect()
    }

    fn has(&self, id: u32) -> bool {
        match id {
            ID_PACK => self.pack.is_some(),
            ID_CAPACITY => self.capacity.is_some(),
            ID_STATUS => self.status.is_some(),
            ID_INFO => self.info.is_some(),
            ID_COUNTS => self.counts.is_some(),
            ID_TEMPS_FIRST..=ID_TEMPS_LAST => group_has(&self.temps, id - ID_TEMPS_FIRST),
            ID_CELLS_FIRST..=ID_CELLS_LAST => group_has(&self.cells, id - ID_CELLS_FIRST),
            ID_MODEL_FIRST..=ID_MODEL_LAST => self.model[(id - ID_MODEL_FIRST) as usize].is_some(),
            _ => true,
        }
    }

    /// The reading; needs 0x100 and 0x104 and every cell and sensor frame 0x104 announces.
    pub fn snapshot(&self) -> Result<BmsSnapshot, Incomplete> {
        let incomplete = |what, id: u32| Incomplete {
            protocol: P,
            what,
            frame: format!("{id:03X}"),
        };
        let pack = self
            .pack
            .as_ref()
            .ok_or(incomplete("pack voltage and current", ID_PACK))?;
        let counts = self
            .counts
            .as_ref()
            .ok_or(incomplete("cell and sensor counts", ID_COUNTS))?;
        let n_cells = usize::from(counts.cell_count).min(MAX_CELLS);
        let n_temps = usize::from(counts.ntc_count).min(MAX_TEMPS);
        let cells: Option<Vec<u32>> = (0..n_cells)
            .map(|i| self.cells.get(i).copied().flatten().map(u32::from))
            .collect();
        let cells = cells.ok_or_else(|| {
            let first_missing = (0..n_cells)
                .find(|&i| self.cells.get(i).copied().flatten().is_none())
                .unwrap_or(0);
            incomplete("cell voltages", ID_CELLS_FIRST + (first_missing / 3) as u32)
        })?;
        let temps: Option<Vec<f64>> = (0..n_temps)
            .map(|i| self.temps.get(i).copied().flatten())
            .collect();
        let temps = temps.ok_or_else(|| {
            let first_missing = (0..n_temps)
                .find(|&i| self.temps.get(i).copied().flatten().is_none())
                .unwrap_or(0);
            incomplete("temperatures", ID_TEMPS_FIRST + (first_missing / 3) as u32)
        })?;
        let model: String = self.model.iter().flatten().map(String::as_str).collect();
        Ok(BmsSnapshot {
            pack_voltage_v: pack.pack_voltage_v,
            current_a: pack.current_a,
            remaining_ah: Some(pack.remaining_ah),
            nominal_ah: self.capacity.as_ref().map(|c| c.full_capacity_ah),
            cycles: self.capacity.as_ref().map(|c| u32::from(c.cycles)),
            soc_pct: self.capacity.as_ref().map(|c| f64::from(c.soc_pct)),
            cell_count: n_cells,
            cell_voltages_mv: cells,
            temperatures_c: temps,
            protection: self
                .status
                .as_ref()
                .map(|s| s.protection.iter().map(|n| n.as_str().into()).collect())
                .unwrap_or_default(),
            charge_fet: self.info.as_ref().map(|i| i.charge_fet),
            discharge_fet: self.info.as_ref().map(|i| i.discharge_fet),
            balancing_cells: self
                .status
                .as_ref()
                .map(|s| s.balancing_cells.clone())
                .unwrap_or_default(),
            manufacture_date: self.info.as_ref().and_then(|i| i.manufacture_date.clone()),
            model: (!model.is_empty()).then_some(model),
            firmware_version: self.info.as_ref().map(|i| i.software_version.clone()),
        })
    }
}

/// Whether the `frame`-th frame (0-based) of a three-per-frame group has arrived.
fn group_has<T>(list: &[Option<T>], frame: u32) -> bool {
    list.get(3 * frame as usize).is_some_and(Option::is_some)
}

/// Stores `values` at 1-based position `first` onward, growing the list as needed.
fn place<T: Copy>(list: &mut Vec<Option<T>>, first: usize, values: &[T]) {
    let start = first.saturating_sub(1);
    if list.len() < start + values.len() {
        list.resize(start + values.len(), None);
    }
    for (slot, v) in list[start..].iter_mut().zip(values) {
        *slot = Some(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_pack() -> JbdCanPack {
        JbdCanPack {
            pack_voltage_v: 52.86,
            current_a: -12.5,
            remaining_ah: 87.3,
            full_capacity_ah: 100.0,
            cycles: 42,
            soc_pct: 87,
            balancing_cells: vec![1, 3, 17],
            protection_bits: 0b0000_0100_0000_0001,
            charge_fet: true,
            discharge_fet: false,
            manufacture_date: PackedDate::from_ymd(2016, 3, 8).unwrap(),
            software_version: 22,
            cells_mv: (0..16).map(|i| 3300 + i).collect(),
            temps_c: vec![25.0, -10.5, 31.2, 0.0],
            model: "JBD-SP04S034-L4S-200A-B-U".into(),
        }
    }

    #[test]
    fn crc16_modbus_matches_the_check_value() {
        // The catalogue check value of CRC-16/MODBUS over "123456789".
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
        assert_eq!(crc16_modbus(&[]), 0xFFFF);
    }

    #[test]
    fn crc16_matches_the_jbd_up_capture() {
        // bms-protocols.md §1.6: `01 78 10 00 10 A0 00 00 7F B2`, CRC sent LSB first.
        let frame = [0x01, 0x78, 0x10, 0x00, 0x10, 0xA0, 0x00, 0x00];
        assert_eq!(crc16_modbus(&frame).to_le_bytes(), [0x7F, 0xB2]);
    }

    #[test]
    fn decodes_a_pack_frame_and_checks_its_crc() {
        // 52.86 V = 0x14A6, -12.5 A = -1250 = 0xFB1E, 87.3 Ah = 0x221A
        let mut d = [0x14, 0xA6, 0xFB, 0x1E, 0x22, 0x1A, 0, 0];
        let crc = crc16_modbus(&d[..6]);
        d[6..].copy_from_slice(&crc.to_be_bytes());
        let f = CanFrame::standard(0x100, &d).unwrap();
        assert_eq!(
            decode(&f).unwrap(),
            JbdCanMessage::Pack(Pack {
                pack_voltage_v: 52.86,
                current_a: -12.5,
                remaining_ah: 87.3
            })
        );
        d[0] ^= 1;
        let err = decode(&CanFrame::standard(0x100, &d).unwrap()).unwrap_err();
        assert!(err.to_string().contains("CRC mismatch"), "{err}");
    }

    #[test]
    fn zero_crc_is_accepted_as_not_sent() {
        let f = CanFrame::standard(0x104, &[4, 2, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            decode(&f).unwrap(),
            JbdCanMessage::Counts(Counts {
                cell_count: 4,
                ntc_count: 2
            })
        );
    }

    #[test]
    fn empty_frame_is_a_request_and_odd_lengths_are_rejected() {
        assert_eq!(
            decode(&request(0x107)).unwrap(),
            JbdCanMessage::Request { id: 0x107 }
        );
        let err = decode(&CanFrame::standard(0x100, &[0; 5]).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jbd-can: frame 100 (reply) has 5 data bytes, expected 0 (request) or 8 (reply)"
        );
        assert!(matches!(
            decode(&CanFrame::standard(0x115, &[0; 8]).unwrap()),
            Err(DecodeError::UnknownId { .. })
        ));
        assert!(matches!(
            decode(&CanFrame::extended(0x100, &[0; 8]).unwrap()),
            Err(DecodeError::WrongIdKind { .. })
        ));
    }

    #[test]
    fn every_reply_round_trips() {
        let pack = sample_pack();
        let ids = read_ids(pack.cells_mv.len(), pack.temps_c.len());
        let mut state = JbdCanState::default();
        assert_eq!(state.missing(), vec![0x100, 0x101, 0x102, 0x103, 0x104]);
        for id in &ids {
            let f = encode_reply(&pack, *id).unwrap_or_else(|| panic!("no reply for {id:X}"));
            assert_eq!(f.id(), *id);
            state.apply(decode(&f).unwrap());
        }
        assert!(state.missing().is_empty(), "{:X?}", state.missing());
        let snap = state.snapshot().unwrap();
        assert_eq!(snap.pack_voltage_v, 52.86);
        assert_eq!(snap.current_a, -12.5);
        assert_eq!(snap.remaining_ah, Some(87.3));
        assert_eq!(snap.nominal_ah, Some(100.0));
        assert_eq!(snap.cycles, Some(42));
        assert_eq!(snap.soc_pct, Some(87.0));
        assert_eq!(snap.cell_count, 16);
        assert_eq!(
            snap.cell_voltages_mv,
            (0..16).map(|i| 3300 + i).collect::<Vec<u32>>()
        );
        assert_eq!(snap.temperatures_c, vec![25.0, -10.5, 31.2, 0.0]);
        // the same names as serial register 0x03's protection word
        assert_eq!(snap.protection, vec!["cell_overvoltage", "short_circuit"]);
        assert_eq!(snap.balancing_cells, vec![1, 3, 17]);
        assert_eq!(snap.charge_fet, Some(true));
        assert_eq!(snap.discharge_fet, Some(false));
        assert_eq!(snap.manufacture_date.as_deref(), Some("2016-03-08"));
        assert_eq!(snap.firmware_version.as_deref(), Some("2.2"));
        assert_eq!(snap.model.as_deref(), Some("JBD-SP04S034-L4S-200A-B-U"));
    }

    #[test]
    fn read_ids_follow_the_counts() {
        assert_eq!(
            read_ids(4, 2),
            vec![
                0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x107, 0x108, 0x111, 0x112, 0x113, 0x114
            ]
        );
        // Counts beyond the id range are capped at 30 cells / 6 sensors.
        let ids = read_ids(48, 9);
        assert!(ids.contains(&0x110) && ids.contains(&0x106));
        assert!(!ids.contains(&0x115));
    }

    #[test]
    fn no_reply_beyond_the_pack_counts() {
        let pack = sample_pack();
        // 4 sensors: 0x105 carries 1-3, 0x106 carries 4. 16 cells end in 0x10C.
        assert!(encode_reply(&pack, 0x106).is_some());
        assert!(encode_reply(&pack, 0x10C).is_some());
        assert!(encode_reply(&pack, 0x10D).is_none());
        let three = JbdCanPack {
            temps_c: vec![1.0, 2.0, 3.0],
            ..pack
        };
        assert!(encode_reply(&three, 0x106).is_none());
    }

    #[test]
    fn snapshot_names_the_first_missing_frame() {
        let pack = sample_pack();
        let mut state = JbdCanState::default();
        for id in [0x100, 0x104, 0x105, 0x106, 0x107] {
            state.apply(decode(&encode_reply(&pack, id).unwrap()).unwrap());
        }
        let err = state.snapshot().unwrap_err().to_string();
        assert_eq!(err, "jbd-can: no cell voltages received yet (frame 108)");
    }

    #[test]
    fn temperatures_use_the_2731_offset() {
        let mut d = [0x0B, 0xA5, 0x0A, 0xAB, 0x0A, 0xAB, 0, 0]; // 2981, 2731, 2731
        let crc = crc16_modbus(&d[..6]);
        d[6..].copy_from_slice(&crc.to_be_bytes());
        let JbdCanMessage::Temperatures(t) =
            decode(&CanFrame::standard(0x106, &d).unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(t.first, 4);
        assert_eq!(t.temps_c, vec![25.0, 0.0, 0.0]);
    }
}
