//! Daly CAN (Daly CAN doc V1.0; bms-protocols.md §2.5): 250 kbit/s, 29-bit ids
//! `0x18 <data id> <destination> <source>`, and the same 8-byte payloads as Daly's UART
//! protocol without its A5 header and checksum, so the payloads are decoded by
//! [`crate::daly`]; this module only adds the CAN addressing and the multi-frame assembly.
//!
//! The host (PC address 0x40) asks with `0x18 <id> <bms> 40` and 8 zero bytes; the BMS
//! (address 0x01, or 0x01 + n for board n+1) answers with `0x18 <id> 40 <bms>`. 0x95 (cells)
//! and 0x96 (temperatures) answer with several frames on the same id, numbered from 1.

use serde::Serialize;

use super::{expect_len, CanFrame, DecodeError, Incomplete};
use crate::daly::{
    self, id, Assembler, CellFrame, CurrentSign, Failures, MosStatus, Reading, Soc, Status,
    TempFrame,
};
use crate::snapshot::{BmsSnapshot, ProtocolKind};

const P: ProtocolKind = ProtocolKind::DalyCan;

/// Priority byte of every Daly CAN id.
pub const PRIORITY: u8 = 0x18;
/// The upper computer's (PC's) address, the source of requests.
pub const PC_ADDRESS: u8 = daly::HOST_RS485;
/// A single BMS's address.
pub const DEFAULT_BMS_ADDRESS: u8 = 0x01;

/// What one full read asks for, in order; 0x94 first, since its counts size 0x95/0x96.
pub const READ_ORDER: [u8; 7] = [
    id::STATUS,
    id::SOC,
    id::MOS,
    id::CELL_VOLTAGES,
    id::TEMPERATURES,
    id::BALANCE,
    id::FAILURES,
];

/// The parts of a Daly CAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DalyCanId {
    pub data_id: u8,
    pub destination: u8,
    pub source: u8,
}

impl DalyCanId {
    /// `None` unless the id carries Daly's priority byte 0x18.
    pub fn parse(id: u32) -> Option<DalyCanId> {
        ((id >> 24) as u8 == PRIORITY && id <= super::MAX_EXTENDED_ID).then_some(DalyCanId {
            data_id: (id >> 16) as u8,
            destination: (id >> 8) as u8,
            source: id as u8,
        })
    }

    pub fn raw(self) -> u32 {
        u32::from(PRIORITY) << 24
            | u32::from(self.data_id) << 16
            | u32::from(self.destination) << 8
            | u32::from(self.source)
    }
}

/// The id a BMS at `bms` answers `data_id` on.
pub fn reply_id(data_id: u8, bms: u8) -> u32 {
    DalyCanId {
        data_id,
        destination: PC_ADDRESS,
        source: bms,
    }
    .raw()
}

/// The id the host asks the BMS at `bms` for `data_id` on.
pub fn request_id(data_id: u8, bms: u8) -> u32 {
    DalyCanId {
        data_id,
        destination: bms,
        source: PC_ADDRESS,
    }
    .raw()
}

/// The host's request: 8 zero bytes, as dbus-serialbattery sends.
#[allow(
    clippy::expect_used,
    reason = "a 0x18xxxxxx id with 8 bytes is always valid"
)]
pub fn request(data_id: u8, bms: u8) -> CanFrame {
    CanFrame::extended(request_id(data_id, bms), &[0; 8]).expect("0x18xxxxxx fits in 29 bits")
}

/// A BMS's reply frame carrying `payload` (built with the `encode` of a [`crate::daly`] type).
#[allow(
    clippy::expect_used,
    reason = "a 0x18xxxxxx id with 8 bytes is always valid"
)]
pub fn reply(data_id: u8, bms: u8, payload: &[u8; 8]) -> CanFrame {
    CanFrame::extended(reply_id(data_id, bms), payload).expect("0x18xxxxxx fits in 29 bits")
}

/// A Daly CAN frame split into its address parts and its 8 data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DalyCanFrame {
    pub id: DalyCanId,
    /// True when the source is a host address (0x20, 0x40-0x7E, 0x80).
    pub is_request: bool,
    pub data: [u8; 8],
}

/// Checks a frame's id kind, priority byte and length, and splits it. Requests may carry
/// fewer than 8 bytes (their data is reserved); replies must carry 8.
pub fn split(frame: &CanFrame) -> Result<DalyCanFrame, DecodeError> {
    if !frame.is_extended() {
        return Err(DecodeError::WrongIdKind {
            protocol: P,
            id: frame.id(),
            extended: false,
        });
    }
    let id = DalyCanId::parse(frame.id()).ok_or(DecodeError::UnknownId {
        protocol: P,
        id: frame.id(),
        extended: true,
    })?;
    let is_request = daly::is_request_address(id.source);
    if frame.is_remote() && !is_request {
        return Err(DecodeError::Remote {
            protocol: P,
            id: frame.id(),
            extended: true,
        });
    }
    if !is_request {
        expect_len(P, frame, "reply", &[8], "8")?;
    }
    let mut data = [0u8; 8];
    data[..frame.data().len()].copy_from_slice(frame.data());
    Ok(DalyCanFrame {
        id,
        is_request,
        data,
    })
}

/// One decoded Daly CAN frame: its id, then the same fields `bms decode --protocol daly`
/// prints for the UART frame with this payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DalyCanMessage {
    pub can_id: String,
    #[serde(flatten)]
    pub payload: daly::Decoded,
}

/// Decodes a Daly CAN frame; the current sign applies to 0x90 replies.
pub fn decode(frame: &CanFrame, sign: CurrentSign) -> Result<DalyCanMessage, DecodeError> {
    let f = split(frame)?;
    // The UART frame with the same address byte and payload: the requester's address for a
    // request, the board's for a reply, exactly as on RS485.
    let uart = daly::Frame {
        address: f.id.source,
        data_id: f.id.data_id,
        data: f.data,
    };
    let payload = daly::describe(&uart.encode(), sign).map_err(|e| DecodeError::BadField {
        protocol: P,
        id: frame.id(),
        extended: true,
        field: "payload",
        reason: e.to_string(),
    })?;
    Ok(DalyCanMessage {
        can_id: super::id_text(frame.id(), true),
        payload,
    })
}

/// The replies of one full read, assembled into a pack reading.
#[derive(Debug, Clone)]
pub struct DalyCanState {
    pub soc: Option<Soc>,
    pub mos: Option<MosStatus>,
    pub status: Option<Status>,
    pub balancing_cells: Option<Vec<usize>>,
    pub failures: Option<Failures>,
    cells: Assembler<u16, 3>,
    temps: Assembler<u8, 7>,
}

impl Default for DalyCanState {
    fn default() -> Self {
        DalyCanState {
            soc: None,
            mos: None,
            status: None,
            balancing_cells: None,
            failures: None,
            cells: Assembler::new(id::CELL_VOLTAGES, daly::MAX_CELL_FRAMES),
            temps: Assembler::new(id::TEMPERATURES, daly::MAX_TEMP_FRAMES),
        }
    }
}

impl DalyCanState {
    /// Records a reply; requests and ids a reading does not use are ignored. A cell or
    /// temperature frame numbered outside its range is an error naming the number.
    pub fn apply(&mut self, f: &DalyCanFrame) -> Result<(), daly::DecodeError> {
        if f.is_request {
            return Ok(());
        }
        let d = &f.data;
        match f.id.data_id {
            id::SOC => self.soc = Some(Soc::decode(d)),
            id::MOS => self.mos = Some(MosStatus::decode(d)),
            id::STATUS => self.status = Some(Status::decode(d)),
            id::BALANCE => self.balancing_cells = Some(daly::decode_balance(d)),
            id::FAILURES => self.failures = Some(Failures::decode(d)),
            id::CELL_VOLTAGES => self.cells.insert(CellFrame::decode(d))?,
            id::TEMPERATURES => self.temps.insert(TempFrame::decode(d))?,
            _ => {}
        }
        Ok(())
    }

    /// The data ids a read still lacks, in [`READ_ORDER`]; 0x95/0x96 count as lacking until
    /// every frame 0x94 announces has arrived.
    pub fn missing(&self) -> Vec<u8> {
        READ_ORDER
            .into_iter()
            .filter(|&data_id| match data_id {
                id::STATUS => self.status.is_none(),
                id::SOC => self.soc.is_none(),
                id::MOS => self.mos.is_none(),
                id::BALANCE => self.balancing_cells.is_none(),
                id::FAILURES => self.failures.is_none(),
                id::CELL_VOLTAGES => self
                    .status
                    .is_none_or(|s| !self.cells.is_complete(usize::from(s.cell_count))),
                id::TEMPERATURES => self
                    .status
                    .is_none_or(|s| !self.temps.is_complete(usize::from(s.temp_sensor_count))),
                _ => false,
            })
            .collect()
    }

    /// A reason to doubt the configured current sign: the 0x93 state and the 0x90 current,
    /// read together, imply the other convention.
    pub fn sign_suspect(&self, sign: CurrentSign) -> Option<String> {
        let soc = self.soc.as_ref()?;
        let mos = self.mos.as_ref()?;
        let implied = CurrentSign::infer(soc, mos.state)?;
        (implied != sign).then(|| {
            format!(
                "0x93 says {:?} while 0x90 current is raw {} ({:+.1} A as configured): this board uses {implied:?}",
                mos.state,
                soc.current_raw,
                soc.current_a(sign)
            )
        })
    }

    /// The reading; needs 0x90, 0x94 and every cell and sensor 0x94 announces.
    pub fn reading(&self) -> Result<Reading, Incomplete> {
        let incomplete = |what, data_id: u8| Incomplete {
            protocol: P,
            what,
            frame: format!("{:08X}", reply_id(data_id, DEFAULT_BMS_ADDRESS)),
        };
        let soc = self
            .soc
            .ok_or(incomplete("voltage, current and SOC", id::SOC))?;
        let status = self
            .status
            .ok_or(incomplete("cell and sensor counts", id::STATUS))?;
        let cells_mv = self
            .cells
            .values(usize::from(status.cell_count))
            .ok_or(incomplete("cell voltages", id::CELL_VOLTAGES))?;
        let temps_raw = self
            .temps
            .values(usize::from(status.temp_sensor_count))
            .ok_or(incomplete("temperatures", id::TEMPERATURES))?;
        Ok(Reading {
            soc,
            mos: self.mos,
            status: Some(status),
            cells_mv,
            temps_raw,
            balancing_cells: self.balancing_cells.clone().unwrap_or_default(),
            failures: self.failures,
            ..Reading::default()
        })
    }

    pub fn snapshot(&self, sign: CurrentSign) -> Result<BmsSnapshot, Incomplete> {
        Ok(self.reading()?.snapshot(sign))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daly::{split_frames, ChargeState};

    #[test]
    fn ids_follow_the_documented_layout() {
        assert_eq!(request(id::SOC, 1).id(), 0x1890_0140);
        assert_eq!(reply_id(id::SOC, 1), 0x1890_4001);
        assert_eq!(request(id::FAILURES, 2).id(), 0x1898_0240);
        let parsed = DalyCanId::parse(0x1890_4001).unwrap();
        assert_eq!(
            (parsed.data_id, parsed.destination, parsed.source),
            (0x90, 0x40, 0x01)
        );
        assert_eq!(parsed.raw(), 0x1890_4001);
        assert!(DalyCanId::parse(0x1090_4001).is_none());
    }

    #[test]
    fn requests_and_replies_are_told_apart_by_the_source() {
        let req = decode(&request(id::CELL_VOLTAGES, 1), CurrentSign::default()).unwrap();
        assert_eq!(req.can_id, "18950140");
        assert_eq!(req.payload.direction, "request");
        let bt = CanFrame::extended(0x1893_0180, &[]).unwrap();
        assert_eq!(
            decode(&bt, CurrentSign::default())
                .unwrap()
                .payload
                .direction,
            "request"
        );
        let soc = Soc {
            total_dv: 528,
            gather_dv: 0,
            current_raw: 30063,
            soc_permille: 956,
        };
        let rep = decode(&reply(id::SOC, 1, &soc.encode()), CurrentSign::default()).unwrap();
        assert_eq!(rep.payload.direction, "reply");
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["can_id"], "18904001");
        assert_eq!(json["pack_voltage_v"], 52.8);
        assert_eq!(json["current_a"], -6.3);
        assert_eq!(json["soc_pct"], 95.6);
    }

    #[test]
    fn rejects_wrong_kinds_lengths_and_ids() {
        let std = CanFrame::standard(0x190, &[0; 8]).unwrap();
        assert!(matches!(split(&std), Err(DecodeError::WrongIdKind { .. })));
        let short = CanFrame::extended(reply_id(id::SOC, 1), &[0; 7]).unwrap();
        assert_eq!(
            split(&short).unwrap_err().to_string(),
            "daly-can: frame 18904001 (reply) has 7 data bytes, expected 8"
        );
        let other = CanFrame::extended(0x1090_4001, &[0; 8]).unwrap();
        assert!(matches!(split(&other), Err(DecodeError::UnknownId { .. })));
        let rtr = CanFrame::remote(reply_id(id::SOC, 1), true, 8).unwrap();
        assert!(matches!(split(&rtr), Err(DecodeError::Remote { .. })));
    }

    /// The replies of a 4-cell, 2-sensor board, as CAN frames.
    fn board_replies(sign: CurrentSign, current_a: f64, state: ChargeState) -> Vec<CanFrame> {
        let mut out = vec![
            reply(
                id::STATUS,
                1,
                &Status {
                    cell_count: 4,
                    temp_sensor_count: 2,
                    ..Status::default()
                }
                .encode(),
            ),
            reply(
                id::SOC,
                1,
                &Soc {
                    total_dv: 132,
                    gather_dv: 0,
                    current_raw: Soc::raw_current(current_a, sign),
                    soc_permille: 643,
                }
                .encode(),
            ),
            reply(
                id::MOS,
                1,
                &MosStatus {
                    state,
                    charge_mos: true,
                    discharge_mos: true,
                    bms_life: 7,
                    remaining_mah: 64_300,
                }
                .encode(),
            ),
            reply(id::BALANCE, 1, &daly::encode_balance(&[2])),
        ];
        for f in split_frames::<u16, 3>(&[3301, 3312, 3305, 3290]) {
            out.push(reply(id::CELL_VOLTAGES, 1, &f.encode()));
        }
        for f in split_frames::<u8, 7>(&[67, 35]) {
            out.push(reply(id::TEMPERATURES, 1, &f.encode()));
        }
        let mut failures = Failures::default();
        assert!(failures.set("soc_low_l1"));
        out.push(reply(id::FAILURES, 1, &failures.encode()));
        out
    }

    #[test]
    fn replies_assemble_a_snapshot() {
        let sign = CurrentSign::default();
        let mut state = DalyCanState::default();
        assert_eq!(state.missing(), READ_ORDER.to_vec());
        for f in board_replies(sign, 4.5, ChargeState::Charging) {
            state.apply(&split(&f).unwrap()).unwrap();
        }
        assert!(state.missing().is_empty(), "{:X?}", state.missing());
        let snap = state.snapshot(sign).unwrap();
        assert_eq!(snap.pack_voltage_v, 13.2);
        assert_eq!(snap.current_a, 4.5);
        assert_eq!(snap.soc_pct, Some(64.3));
        assert_eq!(snap.remaining_ah, Some(64.3));
        assert_eq!(snap.cell_voltages_mv, vec![3301, 3312, 3305, 3290]);
        assert_eq!(snap.temperatures_c, vec![27.0, -5.0]);
        assert_eq!(snap.protection, vec!["soc_low_l1"]);
        assert_eq!(snap.balancing_cells, vec![2]);
        assert_eq!(state.sign_suspect(sign), None);
    }

    #[test]
    fn snapshot_names_what_is_missing() {
        let sign = CurrentSign::default();
        let mut state = DalyCanState::default();
        for f in board_replies(sign, 4.5, ChargeState::Charging) {
            let s = split(&f).unwrap();
            // drop the second cell frame
            if s.id.data_id == id::CELL_VOLTAGES && s.data[0] == 2 {
                continue;
            }
            state.apply(&s).unwrap();
        }
        assert_eq!(state.missing(), vec![id::CELL_VOLTAGES]);
        assert_eq!(
            state.snapshot(sign).unwrap_err().to_string(),
            "daly-can: no cell voltages received yet (frame 18954001)"
        );
    }

    #[test]
    fn bad_frame_numbers_are_errors_naming_the_number() {
        let mut state = DalyCanState::default();
        let f = reply(id::CELL_VOLTAGES, 1, &[17, 0, 1, 0, 2, 0, 3, 0]);
        let err = state.apply(&split(&f).unwrap()).unwrap_err();
        assert!(err.to_string().contains("frame number 17"), "{err}");
    }

    #[test]
    fn a_board_with_the_other_sign_is_flagged() {
        // The board sends with the opposite convention from the one configured.
        let mut state = DalyCanState::default();
        for f in board_replies(CurrentSign::AboveOffsetCharges, 4.5, ChargeState::Charging) {
            state.apply(&split(&f).unwrap()).unwrap();
        }
        let why = state
            .sign_suspect(CurrentSign::AboveOffsetDischarges)
            .expect("contradiction");
        assert!(why.contains("AboveOffsetCharges"), "{why}");
        assert_eq!(state.sign_suspect(CurrentSign::AboveOffsetCharges), None);
    }
}
