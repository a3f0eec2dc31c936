//! Which board is on a serial port: `packwright bms detect`.
//!
//! Read-only, in this order (bms-protocols-2.md §3, the lessons of dbus-serialbattery):
//! 1. listen, sending nothing, at each baud rate the probes use, for boards that talk unasked
//!    (a JK PB at address 0 polls the bus as its master; some boards broadcast), and say what
//!    was heard;
//! 2. probe with reads only, starting with what the profile expects (its protocol, at that
//!    protocol's baud rate and first addresses), then every other family: JK PB at 115200
//!    (addresses 1–4), JBD at 9600, Daly at 9600 (board 1), Pace at 9600 and 115200 (ADR 0–4);
//! 3. accept a board only when its live reading decodes and is plausible: cells in a lithium
//!    window, the pack voltage within 3 % (at least 0.5 V) of the sum of the cells, and, with a
//!    profile, as many cells as the profile's series count.
//!
//! Every probe is one attempt with a short timeout ([`PROBE_TIMEOUT`]), and the whole scan
//! stops at [`SCAN_BOUND`], so an empty port says "nothing found" within a few seconds.

use std::time::Duration;

use packwright_protocol::framing::FramerEvent;
use packwright_protocol::{daly, jbd, modbus, pylon_ascii, BmsSnapshot, ProtocolKind};
use serde::Serialize;

use crate::device::serial::{self, SerialConfig};
use crate::profile::Profile;

/// How long one probe waits for a reply (beyond the bytes' wire time).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(120);
/// How long the listening step listens per baud rate.
pub const LISTEN_FOR: Duration = Duration::from_millis(250);
/// The whole scan's limit.
pub const SCAN_BOUND: Duration = Duration::from_secs(8);

/// One way to ask: a protocol at a baud rate and the addresses to try.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    protocol: ProtocolKind,
    baud: u32,
    /// `None`: the protocol's default (JBD has no addresses).
    addresses: Vec<Option<u8>>,
}

fn candidates(expected: Option<ProtocolKind>) -> Vec<Candidate> {
    let some = |r: std::ops::RangeInclusive<u8>| r.map(Some).collect::<Vec<_>>();
    let mut all = vec![
        Candidate {
            protocol: ProtocolKind::JkPb,
            baud: 115_200,
            addresses: some(1..=4),
        },
        Candidate {
            protocol: ProtocolKind::Jbd,
            baud: 9600,
            addresses: vec![None],
        },
        Candidate {
            protocol: ProtocolKind::Daly,
            baud: 9600,
            addresses: vec![Some(1)],
        },
        Candidate {
            protocol: ProtocolKind::Pace,
            baud: 9600,
            addresses: some(0..=4),
        },
        Candidate {
            protocol: ProtocolKind::Pace,
            baud: 115_200,
            addresses: some(0..=4),
        },
    ];
    if let Some(p) = expected {
        // Stable: the expected protocol's candidates first, in their own order.
        all.sort_by_key(|c| c.protocol != p);
    }
    all
}

/// A board that answered plausibly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub protocol: ProtocolKind,
    pub baud: u32,
    /// JK PB Modbus address, Pace ADR, Daly board number; none for JBD.
    pub address: Option<u8>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub cells: usize,
    pub pack_voltage_v: f64,
}

/// What a scan found, what it refused and what it heard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    pub port: String,
    pub found: Vec<Found>,
    /// Replies that decoded but were not plausible (or not the profile's pack), with why.
    pub refused: Vec<String>,
    /// What the line carried before anything was sent.
    pub heard: Vec<String>,
    /// The probes sent, in order (`jk-pb 115200 address 1`).
    pub probed: Vec<String>,
    /// Set when the scan stopped at its bound.
    pub cut_short: bool,
}

/// Whether a live reading can be a real pack (and the profile's, if given).
pub fn plausible(s: &BmsSnapshot, series: Option<u32>) -> Result<(), String> {
    if s.cell_count == 0 || s.cell_voltages_mv.len() != s.cell_count {
        return Err(format!(
            "{} cell count with {} cell voltages",
            s.cell_count,
            s.cell_voltages_mv.len()
        ));
    }
    if let Some(n) = series {
        if s.cell_count != n as usize {
            return Err(format!(
                "{} cells, the profile's pack has {n}",
                s.cell_count
            ));
        }
    }
    if let Some(v) = s
        .cell_voltages_mv
        .iter()
        .find(|v| !(500..=5000).contains(*v))
    {
        return Err(format!("a cell reads {v} mV, outside any lithium cell"));
    }
    let sum = s.cell_sum_v();
    if (s.pack_voltage_v - sum).abs() > (sum * 0.03).max(0.5) {
        return Err(format!(
            "pack {:.2} V but its cells sum to {sum:.2} V",
            s.pack_voltage_v
        ));
    }
    Ok(())
}

/// Name what `bytes` (heard unasked) contain, by the framers that find frames in them.
pub fn classify(bytes: &[u8]) -> Vec<String> {
    fn count<F: FnMut() -> Option<FramerEvent>>(mut next: F) -> usize {
        let mut n = 0;
        while let Some(e) = next() {
            if matches!(e, FramerEvent::Frame(_)) {
                n += 1;
            }
        }
        n
    }
    let mut out = Vec::new();
    let mut requests = modbus::Framer::new(modbus::Direction::Requests, None);
    requests.push(bytes);
    let n = count(|| requests.next_event());
    if n > 0 {
        out.push(format!(
            "{n} Modbus RTU request(s): a board polls the bus as its master (a JK PB set to address 0?)"
        ));
    }
    let mut replies = modbus::Framer::new(modbus::Direction::Replies, None);
    replies.push(bytes);
    let n = count(|| replies.next_event());
    if n > 0 {
        out.push(format!("{n} Modbus RTU reply frame(s)"));
    }
    let mut ascii = pylon_ascii::framer();
    ascii.push(bytes);
    let n = count(|| ascii.next_event());
    if n > 0 {
        out.push(format!("{n} Pylontech-style ASCII frame(s)"));
    }
    let mut j = jbd::framer(jbd::Direction::Replies);
    j.push(bytes);
    let n = count(|| j.next_event());
    if n > 0 {
        out.push(format!("{n} JBD frame(s)"));
    }
    let mut d = daly::framer();
    d.push(bytes);
    let n = count(|| d.next_event());
    if n > 0 {
        out.push(format!("{n} Daly frame(s)"));
    }
    if out.is_empty() && !bytes.is_empty() {
        out.push(format!("{} byte(s) no known framer takes", bytes.len()));
    }
    out
}

fn describe(c: &Candidate, address: Option<u8>) -> String {
    match address {
        Some(a) => format!("{} {} address {a}", c.protocol, c.baud),
        None => format!("{} {}", c.protocol, c.baud),
    }
}

/// Scan `port` (see the module documentation). `profile` orders the probes and gates the
/// boards on its series count.
pub async fn detect(port: &str, profile: Option<&Profile>) -> Detection {
    detect_expecting(
        port,
        profile.map(|p| p.bms.protocol),
        profile.map(|p| p.series),
    )
    .await
}

/// [`detect`] asking `expected` first (a profile's protocol, or what was found on this port
/// before), and gating on `series` cells when given.
pub async fn detect_expecting(
    port: &str,
    expected: Option<ProtocolKind>,
    series: Option<u32>,
) -> Detection {
    let mut d = Detection {
        port: port.to_string(),
        ..Default::default()
    };
    let scan = scan(port, expected, series, &mut d);
    if tokio::time::timeout(SCAN_BOUND, scan).await.is_err() {
        d.cut_short = true;
    }
    d
}

async fn scan(port: &str, expected: Option<ProtocolKind>, series: Option<u32>, d: &mut Detection) {
    let list = candidates(expected);
    let mut bauds: Vec<u32> = Vec::new();
    for c in &list {
        if !bauds.contains(&c.baud) {
            bauds.push(c.baud);
        }
    }
    for baud in bauds {
        match serial::listen(port, baud, LISTEN_FOR).await {
            Ok(bytes) => d.heard.extend(
                classify(&bytes)
                    .into_iter()
                    .map(|h| format!("at {baud}: {h}")),
            ),
            Err(e) => {
                d.refused.push(e.to_string());
                return;
            }
        }
    }
    for c in list {
        let mut cfg = SerialConfig::new(port, c.protocol);
        cfg.baud = c.baud;
        cfg.attempts = 1;
        cfg.timeout = PROBE_TIMEOUT;
        let Ok(handle) = serial::spawn(cfg) else {
            continue;
        };
        for address in &c.addresses {
            // A board found at one baud rate is not asked again at another (on a
            // pseudo-terminal, where every baud rate passes, it would answer twice).
            if d.found
                .iter()
                .any(|f| f.protocol == c.protocol && f.address == *address)
            {
                continue;
            }
            let h = match address {
                Some(a) => handle.for_board(*a),
                None => handle.clone(),
            };
            d.probed.push(describe(&c, *address));
            let Ok(snap) = h.read().await else {
                continue;
            };
            if let Err(why) = plausible(&snap, series) {
                d.refused
                    .push(format!("{}: answered, but {why}", describe(&c, *address)));
                continue;
            }
            let id = h.identity().await.ok().unwrap_or_default();
            d.found.push(Found {
                protocol: c.protocol,
                baud: c.baud,
                address: *address,
                model: id.model.or(snap.model.clone()),
                firmware: id.firmware_version.or(snap.firmware_version.clone()),
                serial: id.barcode,
                cells: snap.cell_count,
                pack_voltage_v: snap.pack_voltage_v,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profiles_protocol_is_asked_first() {
        let list = candidates(Some(ProtocolKind::Pace));
        assert_eq!(list[0].protocol, ProtocolKind::Pace);
        assert_eq!(list[1].protocol, ProtocolKind::Pace);
        assert_eq!(list[2].protocol, ProtocolKind::JkPb);
        assert_eq!(candidates(None)[0].protocol, ProtocolKind::JkPb);
        // JK PB is never asked at address 0, which would make a board the bus master.
        assert!(list
            .iter()
            .filter(|c| c.protocol == ProtocolKind::JkPb)
            .all(|c| !c.addresses.contains(&Some(0))));
    }

    #[test]
    fn plausibility_gates_on_cells_and_pack_voltage() {
        let s = BmsSnapshot {
            pack_voltage_v: 13.2,
            cell_count: 4,
            cell_voltages_mv: vec![3300; 4],
            ..Default::default()
        };
        assert!(plausible(&s, Some(4)).is_ok());
        assert!(plausible(&s, Some(16))
            .unwrap_err()
            .contains("profile's pack has 16"));
        let shifted = BmsSnapshot {
            pack_voltage_v: 52.0,
            ..s.clone()
        };
        assert!(plausible(&shifted, None).unwrap_err().contains("sum to"));
        let junk = BmsSnapshot {
            cell_voltages_mv: vec![3300, 3300, 3300, 65535],
            ..s
        };
        assert!(plausible(&junk, None).is_err());
    }

    #[test]
    fn a_master_polling_the_bus_is_named() {
        let poll = jk_poll();
        let heard = classify(&poll);
        assert!(heard[0].contains("polls the bus"), "{heard:?}");
        assert!(classify(&[]).is_empty());
    }

    fn jk_poll() -> Vec<u8> {
        let req = packwright_protocol::modbus::Request::ReadHolding {
            address: 1,
            start: 0x1200,
            count: 2,
        };
        req.encode().unwrap()
    }
}
