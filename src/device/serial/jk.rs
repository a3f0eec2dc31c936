//! JK PB over RS485: Modbus RTU through the protocol crate's codecs (`modbus`, `jk_pb`).
//!
//! - Addresses 1–15 (the command's board, else [`super::SerialConfig::jk_address`]); 0 would
//!   make a board the bus master and is refused before a byte is sent.
//! - Live reads fetch the live-data block (0x1200) and identity the device-info block (0x1400)
//!   in reads of at most 100 registers from even offsets, as the boards require.
//! - A reply is taken only from the addressed board and only when it answers the request
//!   (function, start, count, data length); an exception reply is the board's refusal.

use packwright_protocol::jk_pb::{self, BlockImage, DeviceInfo, LiveData};
use packwright_protocol::modbus::{self, Request, Response};
use packwright_protocol::ProtocolKind;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::{link_result, Answer, Link, LinkError, Op, PortGone, Transacted};
use crate::device::handle::{BmsError, BmsIdentity, LinkStats, RegisterOp};

fn describe(req: &Request) -> String {
    match req {
        Request::ReadHolding { start, count, .. } => {
            format!("read {count} register(s) at 0x{start:04X}")
        }
        Request::WriteSingle { register, .. } => format!("write register 0x{register:04X}"),
        Request::WriteMultiple { start, values, .. } => {
            format!("write {} register(s) at 0x{start:04X}", values.len())
        }
    }
}

/// Whether `resp` is the reply to `req` (the same board, function and registers).
fn answers(req: &Request, resp: &Response) -> bool {
    if resp.address() != req.address() {
        return false;
    }
    match (req, resp) {
        (Request::ReadHolding { count, .. }, Response::ReadHolding { data, .. }) => {
            data.len() == usize::from(*count) * 2
        }
        (
            Request::WriteMultiple { start, values, .. },
            Response::WriteMultiple {
                start: s, count: c, ..
            },
        ) => s == start && usize::from(*c) == values.len(),
        (
            Request::WriteSingle {
                register, value, ..
            },
            Response::WriteSingle {
                register: r,
                value: v,
                ..
            },
        ) => r == register && v == value,
        (_, Response::Exception { function, .. }) => {
            let base = function & !modbus::EXCEPTION_BIT;
            base == match req {
                Request::ReadHolding { .. } => modbus::READ_HOLDING,
                Request::WriteSingle { .. } => modbus::WRITE_SINGLE,
                Request::WriteMultiple { .. } => modbus::WRITE_MULTIPLE,
            }
        }
        _ => false,
    }
}

/// The device-info date (`YYMMDD`, as JK boards send it) as `YYYY-MM-DD`; anything else is
/// not taken for a date.
fn iso_date(text: Option<&str>) -> Option<String> {
    let t = text?.trim();
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (&t[0..2], &t[2..4], &t[4..6]);
    let month: u8 = m.parse().ok()?;
    let day: u8 = d.parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then(|| format!("20{y}-{m}-{d}"))
}

fn reply_len(req: &Request) -> usize {
    match req {
        Request::ReadHolding { count, .. } => 5 + 2 * usize::from(*count),
        _ => 8,
    }
}

impl Link {
    fn jk_address(&self, board: Option<u8>) -> Result<u8, BmsError> {
        let address = board.unwrap_or(self.cfg.jk_address);
        jk_pb::check_address(address).map_err(|e| BmsError::BadRequest(e.to_string()))
    }

    /// Read until a frame answering `req` arrives or `deadline` passes.
    async fn jk_receive(
        &mut self,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, LinkError> {
        let mut buf = [0u8; 256];
        loop {
            while let Some(event) = self.modbus.next_event() {
                match event {
                    packwright_protocol::framing::FramerEvent::Frame(frame) => {
                        match Response::decode(&frame) {
                            Ok(resp) if answers(req, &resp) => return Ok(resp),
                            // A valid frame for another board or request: a stray or late reply.
                            _ => LinkStats::add(&self.stats.dropped_bytes, frame.len() as u64),
                        }
                    }
                    packwright_protocol::framing::FramerEvent::Skipped { count, .. } => {
                        LinkStats::add(&self.stats.dropped_bytes, count as u64)
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return Err(LinkError::Timeout),
                Ok(Ok(0)) => {
                    return Err(LinkError::Gone(format!(
                        "{} closed (end of file)",
                        self.cfg.port
                    )))
                }
                Ok(Ok(n)) => {
                    LinkStats::add(&self.stats.bytes_in, n as u64);
                    self.modbus.push(&buf[..n]);
                }
                Ok(Err(e)) => return Err(LinkError::Gone(format!("{}: {e}", self.cfg.port))),
            }
        }
    }

    /// One request/reply with retries. An exception reply is a refusal (`Rejected`).
    async fn jk_transact(&mut self, req: &Request) -> Transacted<Response> {
        let what = describe(req);
        let bytes = match req.encode() {
            Ok(b) => b,
            Err(e) => return Ok(Err(BmsError::BadRequest(format!("{what}: {e}")))),
        };
        if let Err(e) = self.prepare().await {
            return link_result(e, &what, &self.cfg);
        }
        LinkStats::add(&self.stats.transactions, 1);
        let budget = self.cfg.attempt_budget(bytes.len(), reply_len(req));
        let attempts = self.cfg.attempts.max(1);
        let first_send = Instant::now();
        for attempt in 1..=attempts {
            if attempt > 1 {
                LinkStats::add(&self.stats.retries, 1);
                self.unsettled = true;
                self.modbus.clear();
            }
            if let Err(e) = self.send(&bytes).await {
                return link_result(e, &what, &self.cfg);
            }
            let deadline = Instant::now() + budget;
            let got = self.jk_receive(req, deadline).await;
            if attempt > 1 && got.is_ok() {
                // The reply may be a late one to an earlier attempt: the replies to the other
                // attempts may take as long again. Read replies carry no register number, so
                // the next request waits until they are surely in and dropped.
                self.settle_for = first_send.elapsed() + self.cfg.timeout;
            }
            match got {
                Ok(Response::Exception { code, .. }) => {
                    return Ok(Err(BmsError::Rejected {
                        what,
                        status: code.byte(),
                        meaning: code.to_string(),
                    }))
                }
                Ok(resp) => return Ok(Ok(resp)),
                Err(LinkError::Timeout) => continue,
                Err(gone) => return link_result(gone, &what, &self.cfg),
            }
        }
        link_result(LinkError::Timeout, &what, &self.cfg)
    }

    /// The first `len` bytes of `block`, in reads the board accepts.
    async fn jk_block(&mut self, address: u8, block: u16, len: usize) -> Transacted<BlockImage> {
        let plan = match jk_pb::read_plan(address, block, len) {
            Ok(p) => p,
            Err(e) => return Ok(Err(BmsError::BadRequest(e.to_string()))),
        };
        let mut img = BlockImage::new(block, len);
        for req in plan {
            let resp = match self.jk_transact(&req).await? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = img.apply_reply(&req, &resp) {
                return Ok(Err(BmsError::BadReply {
                    what: describe(&req),
                    reason: e.to_string(),
                }));
            }
        }
        Ok(Ok(img))
    }

    async fn jk_info(&mut self, address: u8) -> Transacted<DeviceInfo> {
        if let Some(info) = self.jk_info.get(&address) {
            return Ok(Ok(info.clone()));
        }
        let img = match self
            .jk_block(address, jk_pb::INFO_BLOCK, jk_pb::INFO_LEN)
            .await?
        {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        Ok(DeviceInfo::decode(&img)
            .map_err(|e| BmsError::BadReply {
                what: "device info (0x1400)".into(),
                reason: e.to_string(),
            })
            .inspect(|info| {
                self.jk_info.insert(address, info.clone());
            }))
    }

    async fn jk_read(&mut self, address: u8) -> Transacted<packwright_protocol::BmsSnapshot> {
        let img = match self
            .jk_block(address, jk_pb::LIVE_BLOCK, jk_pb::LIVE_LEN)
            .await?
        {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let live = match LiveData::decode(&img) {
            Ok(l) => l,
            Err(e) => {
                return Ok(Err(BmsError::BadReply {
                    what: "live data (0x1200)".into(),
                    reason: e.to_string(),
                }))
            }
        };
        let mut snap = live.snapshot();
        // Identity is optional for a reading: a board that answers live data but not its info
        // block still reads.
        if let Ok(info) = self.jk_info(address).await? {
            info.fill(&mut snap);
            snap.manufacture_date = iso_date(info.manufacture_date.as_deref());
        }
        Ok(Ok(snap))
    }

    async fn jk_identity(&mut self, address: u8) -> Transacted<BmsIdentity> {
        Ok(self.jk_info(address).await?.map(|info| BmsIdentity {
            protocol: Some(ProtocolKind::JkPb),
            model: Some(info.model.clone()).filter(|m| !m.is_empty()),
            firmware_version: Some(info.software_version.clone()).filter(|v| !v.is_empty()),
            manufacturer: None,
            barcode: info.serial_number.clone().filter(|s| !s.is_empty()),
            manufacture_date: iso_date(info.manufacture_date.as_deref()),
        }))
    }

    async fn jk_register(&mut self, address: u8, op: &RegisterOp) -> Transacted<Vec<u8>> {
        let req = match op {
            RegisterOp::ReadWords { register, words } => {
                match jk_pb::read_request(address, *register, *words) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(BmsError::BadRequest(e.to_string()))),
                }
            }
            RegisterOp::WriteWords { register, data } => {
                if data.is_empty() || !data.len().is_multiple_of(2) || !register.is_multiple_of(2) {
                    return Ok(Err(BmsError::BadRequest(format!(
                        "{}: JK PB writes whole registers from an even offset",
                        op.describe()
                    ))));
                }
                Request::WriteMultiple {
                    address,
                    start: *register,
                    values: modbus::bytes_to_words(data),
                }
            }
            other => {
                return Ok(Err(BmsError::Unsupported {
                    what: other.describe(),
                    protocol: ProtocolKind::JkPb,
                }))
            }
        };
        Ok(self.jk_transact(&req).await?.map(|resp| match resp {
            Response::ReadHolding { data, .. } => data,
            _ => Vec::new(),
        }))
    }

    pub(super) async fn execute_jk(
        &mut self,
        board: Option<u8>,
        op: &Op,
    ) -> Result<Answer, PortGone> {
        let address = match self.jk_address(board) {
            Ok(a) => a,
            Err(e) => return Ok(Answer::failed(op, e)),
        };
        Ok(match op {
            Op::Read => Answer::Snapshot(self.jk_read(address).await?),
            Op::Identity => Answer::Identity(self.jk_identity(address).await?),
            Op::Register(op) => Answer::Data(self.jk_register(address, op).await?),
            Op::SetFets { .. } => Answer::Done(Err(BmsError::Unsupported {
                what: "switching the FETs (the JK PB map has charge/discharge enables, written as settings)".into(),
                protocol: ProtocolKind::JkPb,
            })),
            Op::SetSoc(_) => Answer::Done(Err(BmsError::Unsupported {
                what: "setting the state of charge".into(),
                protocol: ProtocolKind::JkPb,
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_info_dates_become_iso_dates_or_nothing() {
        assert_eq!(iso_date(Some("240115")), Some("2024-01-15".into()));
        assert_eq!(iso_date(Some("241315")), None);
        assert_eq!(iso_date(Some("2024-01")), None);
        assert_eq!(iso_date(None), None);
    }
}
