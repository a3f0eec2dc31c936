//! Pace v25 packs over RS485: Pylontech-style ASCII frames (`~…\r`, VER 0x25) through the
//! protocol crate's codecs (`pylon_ascii`).
//!
//! - The pack address (ADR) is the command's board, else [`super::SerialConfig::pace_address`];
//!   per-pack reads carry it again as their INFO command byte.
//! - A live read is analog values (0x42) and alarm info (0x44); identity is protocol version
//!   (0x4F), manufacturer (0x51), serial number (0x93) and firmware (0x96), read once per
//!   connection and address.
//! - A reply is taken only from the addressed pack, in VER 0x25; its return code other than 00
//!   is the pack's refusal. Replies do not repeat the command, so after a retry the link waits
//!   out stragglers as long as a reply was seen to take (as for JK PB).

use packwright_protocol::pylon_ascii::values::{
    AlarmInfo, Analog, Firmware, ManufacturerInfo, SerialNumber,
};
use packwright_protocol::pylon_ascii::{self, cid2, Dialect, Frame, ReturnCode, VER_PACE_25};
use packwright_protocol::ProtocolKind;
use tokio::time::Instant;

use super::{link_result, Answer, Link, LinkError, Op, PortGone, Transacted};
use crate::device::handle::{BmsError, BmsIdentity, LinkStats, RegisterOp};

const DIALECT: Dialect = Dialect::Pace;

fn describe(cid2: u8) -> String {
    let name = match cid2 {
        cid2::ANALOG => "analog values",
        cid2::ALARM => "alarm info",
        cid2::SYSTEM_PARAMETERS => "system parameters",
        cid2::PROTOCOL_VERSION => "protocol version",
        cid2::MANUFACTURER => "manufacturer info",
        cid2::SERIAL_NUMBER => "serial number",
        cid2::FIRMWARE => "firmware",
        c => match pylon_ascii::pace::ParamKind::from_read_cid2(c) {
            Some(_) => "configuration read",
            None if pylon_ascii::pace::ParamKind::from_write_cid2(c).is_some() => {
                "configuration write"
            }
            None => "command",
        },
    };
    format!("{name} (0x{cid2:02X})")
}

/// Whether `info` can be the answer to a request with `cid2`: a reply of another command's
/// layout is a late answer to an earlier request and is dropped, never decoded as this one.
fn fits(cid2: u8, info: &[u8]) -> bool {
    match cid2 {
        cid2::ANALOG => Analog::decode(DIALECT, info).is_ok(),
        cid2::ALARM => AlarmInfo::decode(info).is_ok(),
        cid2::MANUFACTURER => ManufacturerInfo::decode(info).is_ok(),
        cid2::SERIAL_NUMBER => SerialNumber::decode(info).is_ok(),
        cid2::FIRMWARE => Firmware::decode(info).is_ok(),
        cid2::PROTOCOL_VERSION => info.is_empty(),
        c => match pylon_ascii::pace::ParamKind::from_read_cid2(c) {
            Some(kind) => pylon_ascii::pace::decode_read_info(kind, info).is_ok(),
            // A write's acknowledgement carries no INFO.
            None if pylon_ascii::pace::ParamKind::from_write_cid2(c).is_some() => info.is_empty(),
            None => true,
        },
    }
}

impl Link {
    fn pace_address(&self, board: Option<u8>) -> Result<u8, BmsError> {
        let address = board.unwrap_or(self.cfg.pace_address);
        if address > 0x0F {
            return Err(BmsError::BadRequest(format!(
                "pack address {address}: Pace packs take 0 to 15"
            )));
        }
        Ok(address)
    }

    /// One request/reply with retries; the reply's INFO when its return code is 00.
    async fn pace_transact(&mut self, request: &Frame) -> Transacted<Vec<u8>> {
        let what = describe(request.cid2);
        let bytes = match request.encode() {
            Ok(b) => b,
            Err(e) => return Ok(Err(BmsError::BadRequest(format!("{what}: {e}")))),
        };
        if let Err(e) = self.prepare().await {
            return link_result(e, &what, &self.cfg);
        }
        LinkStats::add(&self.stats.transactions, 1);
        // The longest reply here (0x42 with 16 cells and 6 sensors) is under 200 characters.
        let budget = self.cfg.attempt_budget(bytes.len(), 200);
        let attempts = self.cfg.attempts.max(1);
        let first_send = Instant::now();
        let adr = request.adr;
        let cid2 = request.cid2;
        for attempt in 1..=attempts {
            if attempt > 1 {
                LinkStats::add(&self.stats.retries, 1);
                self.unsettled = true;
                self.ascii.clear();
            }
            if let Err(e) = self.send(&bytes).await {
                return link_result(e, &what, &self.cfg);
            }
            let deadline = Instant::now() + budget;
            let got = Self::receive(
                &mut self.stream,
                &self.stats,
                &self.cfg.port,
                &mut self.ascii,
                deadline,
                None,
                |raw| {
                    let f = Frame::decode(raw).ok()?;
                    let shaped = match f.reply_info() {
                        Ok(info) => fits(cid2, info),
                        // A refusal carries no INFO to check.
                        Err(_) => f.info.is_empty(),
                    };
                    (f.ver == VER_PACE_25 && f.adr == adr && shaped).then_some(f)
                },
            )
            .await;
            if attempt > 1 && got.is_ok() {
                self.settle_for = first_send.elapsed() + self.cfg.timeout;
            }
            match got {
                Ok(reply) => {
                    return Ok(match reply.reply_info() {
                        Ok(info) => Ok(info.to_vec()),
                        Err(_) => {
                            let code = ReturnCode::from_byte(reply.cid2);
                            Err(BmsError::Rejected {
                                what,
                                status: reply.cid2,
                                meaning: code.to_string(),
                            })
                        }
                    })
                }
                Err(LinkError::Timeout) => continue,
                Err(gone) => return link_result(gone, &what, &self.cfg),
            }
        }
        link_result(LinkError::Timeout, &what, &self.cfg)
    }

    async fn pace_identity(&mut self, adr: u8) -> Transacted<BmsIdentity> {
        if let Some(id) = self.pace_ids.get(&adr) {
            return Ok(Ok(id.clone()));
        }
        macro_rules! get {
            ($req:expr, $decode:expr) => {{
                let req = $req;
                match self.pace_transact(&req).await? {
                    Ok(info) => match $decode(&info[..]) {
                        Ok(v) => v,
                        Err(e) => {
                            return Ok(Err(BmsError::BadReply {
                                what: describe(req.cid2),
                                reason: format!("{e}"),
                            }))
                        }
                    },
                    Err(e) => return Ok(Err(e)),
                }
            }};
        }
        // 0x4F: the pack must say it speaks v25, or the payloads below mean something else.
        let version_req = pylon_ascii::plain_request(DIALECT, adr, cid2::PROTOCOL_VERSION);
        match self.pace_transact(&version_req).await? {
            Ok(_) => {}
            Err(e) => return Ok(Err(e)),
        }
        let maker: ManufacturerInfo = get!(
            pylon_ascii::plain_request(DIALECT, adr, cid2::MANUFACTURER),
            ManufacturerInfo::decode
        );
        let serial: SerialNumber = get!(
            pylon_ascii::pack_request(DIALECT, adr, cid2::SERIAL_NUMBER, adr),
            SerialNumber::decode
        );
        let firmware: Firmware = get!(
            pylon_ascii::pack_request(DIALECT, adr, cid2::FIRMWARE, adr),
            Firmware::decode
        );
        let id = BmsIdentity {
            protocol: Some(ProtocolKind::Pace),
            model: Some(maker.battery_name.clone()).filter(|m| !m.is_empty()),
            firmware_version: Some(firmware.text()),
            manufacturer: Some(maker.manufacturer.clone()).filter(|m| !m.is_empty()),
            barcode: Some(serial.serial.clone()).filter(|s| !s.is_empty()),
            manufacture_date: None,
        };
        self.pace_ids.insert(adr, id.clone());
        Ok(Ok(id))
    }

    async fn pace_read(&mut self, adr: u8) -> Transacted<packwright_protocol::BmsSnapshot> {
        let req = pylon_ascii::pack_request(DIALECT, adr, cid2::ANALOG, adr);
        let analog = match self.pace_transact(&req).await? {
            Ok(info) => match Analog::decode(DIALECT, &info) {
                Ok(a) => a,
                Err(e) => {
                    return Ok(Err(BmsError::BadReply {
                        what: describe(cid2::ANALOG),
                        reason: e.to_string(),
                    }))
                }
            },
            Err(e) => return Ok(Err(e)),
        };
        let Some(pack) = analog.packs.first() else {
            return Ok(Err(BmsError::BadReply {
                what: describe(cid2::ANALOG),
                reason: "no pack in the reply".into(),
            }));
        };
        let mut snap = pack.snapshot();
        let req = pylon_ascii::pack_request(DIALECT, adr, cid2::ALARM, adr);
        match self.pace_transact(&req).await? {
            Ok(info) => match AlarmInfo::decode(&info) {
                Ok(a) => a.fill(DIALECT, &mut snap),
                Err(e) => {
                    return Ok(Err(BmsError::BadReply {
                        what: describe(cid2::ALARM),
                        reason: e.to_string(),
                    }))
                }
            },
            Err(e) => return Ok(Err(e)),
        }
        if let Ok(id) = self.pace_identity(adr).await? {
            snap.model = id.model;
            snap.firmware_version = id.firmware_version;
        }
        Ok(Ok(snap))
    }

    pub(super) async fn execute_pace(
        &mut self,
        board: Option<u8>,
        op: &Op,
    ) -> Result<Answer, PortGone> {
        let adr = match self.pace_address(board) {
            Ok(a) => a,
            Err(e) => return Ok(Answer::failed(op, e)),
        };
        Ok(match op {
            Op::Read => Answer::Snapshot(self.pace_read(adr).await?),
            Op::Identity => Answer::Identity(self.pace_identity(adr).await?),
            Op::Register(RegisterOp::Command { cid2, info }) => {
                let req = Frame::new(VER_PACE_25, adr, *cid2, info.clone());
                Answer::Data(self.pace_transact(&req).await?)
            }
            Op::Register(other) => Answer::Data(Err(BmsError::Unsupported {
                what: other.describe(),
                protocol: ProtocolKind::Pace,
            })),
            Op::SetFets { .. } => Answer::Done(Err(BmsError::Unsupported {
                what: "switching the FETs (Pace 0x9A/0x9B are not wired in)".into(),
                protocol: ProtocolKind::Pace,
            })),
            Op::SetSoc(_) => Answer::Done(Err(BmsError::Unsupported {
                what: "setting the state of charge".into(),
                protocol: ProtocolKind::Pace,
            })),
        })
    }
}
