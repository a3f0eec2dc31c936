//! Does the CAN decoder keep up with a fully loaded 1 Mbit/s bus? An 8-byte classic frame is
//! about 125 bits with stuffing, so 1 Mbit/s carries about 8,000 frames/s. Benchmark-shaped,
//! but no timing is asserted: every assertion is a count (no frame lost or reordered, every
//! log line decoded to its sequence number); the rates are only printed, for a person to read.
//!
//! 1. Socket: a raw SocketCAN sender paces 8,000 frames/s for 3 s onto vcan0; the product's
//!    device task receives them and the Pylontech decoder decodes each. Every frame carries a
//!    sequence number, so a single lost or reordered frame fails the test.
//! 2. Socket, unpaced: as fast as the sender can go, to show the headroom.
//! 3. Replay: parsing and decoding a candump log (what `packwright can replay` does).
//!
//! Figures go straight to stderr (not captured by the test harness) so CI logs show them.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::vcan::*;
use packwright::device::can::{BusConfig, BusEvent, CanBus, IdFilter};
use packwright_protocol::can::pylontech::{self, PylonMessage};
use packwright_protocol::can::{format_log_line, parse_log_line, CanFrame, LogEntry};
use socketcan::{CanSocket, EmbeddedFrame, Socket, StandardId};

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "bench: {line}");
}

/// 0x351 with the sequence number in the charge-voltage (low 16 bits) and the
/// discharge-voltage (high 16 bits) fields, so the decoded values give it back.
fn numbered(seq: u32) -> [u8; 8] {
    let lo = (seq & 0xFFFF) as u16;
    let hi = (seq >> 16) as u16;
    let mut d = [0u8; 8];
    d[0..2].copy_from_slice(&lo.to_le_bytes());
    d[6..8].copy_from_slice(&hi.to_le_bytes());
    d
}

fn seq_of(frame: &CanFrame) -> u32 {
    match pylontech::decode(frame) {
        Ok(PylonMessage::Limits(l)) => {
            let lo = (l.charge_voltage_limit_v * 10.0).round() as u32;
            let hi = (l.discharge_voltage_limit_v * 10.0).round() as u32;
            hi << 16 | lo
        }
        other => panic!("{frame} did not decode as 0x351: {other:?}"),
    }
}

/// Sends `count` numbered frames from a plain thread, `rate` per second (0 = unpaced).
fn sender(count: u32, rate: u32) -> std::thread::JoinHandle<Duration> {
    let iface = iface();
    std::thread::spawn(move || {
        let sock = CanSocket::open(&iface).expect("raw socket on vcan0");
        let id = StandardId::new(0x351).expect("11-bit");
        let start = Instant::now();
        for seq in 0..count {
            if rate > 0 {
                let due = start + Duration::from_secs_f64(f64::from(seq) / f64::from(rate));
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
            }
            let frame = socketcan::CanFrame::new(id, &numbered(seq)).expect("frame");
            // vcan has no bus to wait for; a full queue (ENOBUFS) clears within microseconds.
            while let Err(e) = sock.write_frame(&frame) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS), "send failed: {e}");
                std::thread::yield_now();
            }
        }
        start.elapsed()
    })
}

/// Receives what `sender(count, rate)` sends through the device task, decoding each frame.
/// `strict`: every frame must arrive, in order (the 8,000 frames/s case). Otherwise frames
/// lost to a sender that outruns the receiver are counted and reported, not failed.
async fn receive(count: u32, rate: u32, strict: bool) {
    let mut cfg = BusConfig::new(&iface());
    cfg.filters = vec![IdFilter::exact(0x351, false)];
    let (bus, mut events) = CanBus::open(cfg).unwrap();
    bus.wait_for(Duration::from_secs(5), |s| s.is_usable())
        .await
        .expect("vcan0 up");
    let send = sender(count, rate);
    let (mut received, mut next, mut lost) = (0u32, 0u32, 0u32);
    let mut first = None;
    let mut last = Instant::now();
    // Strict runs wait long for a stalled frame; lenient ones stop once the bus is quiet.
    let quiet = if strict {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(1500)
    };
    while next < count {
        let Ok(ev) = tokio::time::timeout(quiet, events.recv()).await else {
            assert!(!strict, "stalled after {received} of {count} frames");
            lost += count - next;
            break;
        };
        if let Some(BusEvent::Frame(r)) = ev {
            first.get_or_insert_with(Instant::now);
            last = Instant::now();
            let seq = seq_of(&r.frame);
            if strict {
                assert_eq!(seq, next, "frame lost or reordered");
            }
            assert!(seq >= next, "frame {seq} arrived after {next}: reordered");
            lost += seq - next;
            next = seq + 1;
            received += 1;
        }
    }
    let took = first.map_or(Duration::ZERO, |t| last.duration_since(t));
    let sent_in = send.join().expect("sender");
    bus.close().await;
    report(&format!(
        "{count} frames sent in {:.2} s ({:.0}/s); {received} received and decoded in order, {lost} lost; receive side {:.0} frames/s",
        sent_in.as_secs_f64(),
        f64::from(count) / sent_in.as_secs_f64(),
        f64::from(received) / took.as_secs_f64().max(1e-9)
    ));
    if strict {
        assert_eq!(bus.counters().received, u64::from(count));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn decoder_keeps_up_with_a_fully_loaded_1_mbit_bus() {
    report("paced at 8000 frames/s (a full 1 Mbit/s bus) for 3 s:");
    receive(24_000, 8_000, true).await;
    report("unpaced, as fast as the sender goes (headroom; losses reported, not failed):");
    receive(50_000, 0, false).await;
}

#[test]
#[ignore = "benchmark: run with the SocketCAN suite by tests/vcan/run"]
fn replaying_a_log_decodes_every_frame_in_order() {
    let n = 200_000u32;
    let text: String = (0..n)
        .map(|seq| {
            let e = LogEntry {
                secs: 1_700_000_000 + u64::from(seq / 8000),
                micros: (seq % 8000) * 125,
                interface: iface(),
                frame: CanFrame::standard(0x351, &numbered(seq)).unwrap(),
            };
            format_log_line(&e) + "\n"
        })
        .collect();
    let start = Instant::now();
    for (i, line) in text.lines().enumerate() {
        let e = parse_log_line(line).expect("our own log line parses");
        assert_eq!(seq_of(&e.frame), i as u32);
    }
    let secs = start.elapsed().as_secs_f64();
    report(&format!(
        "replay: {n} log lines parsed and decoded in {secs:.3} s ({:.0} frames/s)",
        f64::from(n) / secs
    ));
}
