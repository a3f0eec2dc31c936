//! The harness itself: a real vcan interface exists, and can-utils (the independent peer)
//! sees what a raw SocketCAN socket sends, and the other way round.

use std::time::Duration;

use crate::support::vcan::*;
use packwright::device::can::{BusConfig, BusEvent, CanBus};
use packwright_protocol::can::parse_frame;
use socketcan::{CanFrame, CanSocket, EmbeddedFrame, Socket, StandardId};

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn candump_sees_a_frame_sent_on_a_raw_socket() {
    let dump = Candump::start(&iface(), &["123:7FF"]);
    let sock = CanSocket::open(&iface()).expect("open vcan0");
    let id = StandardId::new(0x123).expect("11-bit id");
    let frame = CanFrame::new(id, &[0xDE, 0xAD, 0xBE, 0xEF]).expect("4-byte frame");
    sock.write_frame(&frame).expect("write");
    let seen = dump.wait_for(Duration::from_secs(2), |f| f.starts_with("123#"));
    dump.stop();
    assert_eq!(seen.as_deref(), Some("123#DEADBEEF"));
}

#[tokio::test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
async fn the_device_task_receives_what_cansend_sends() {
    let (bus, mut events) = CanBus::open(BusConfig::new(&iface())).unwrap();
    bus.wait_for(Duration::from_secs(2), |s| s.is_usable())
        .await
        .expect("vcan0 is up");
    cansend(
        &iface(),
        "18904001#0210000075 6F03BC".replace(' ', "").as_str(),
    );
    let got = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(BusEvent::Frame(r)) = events.recv().await {
                return r.frame;
            }
        }
    })
    .await
    .expect("a frame within 2 s");
    assert_eq!(got, parse_frame("18904001#02100000756F03BC").unwrap());
    bus.close().await;
}
