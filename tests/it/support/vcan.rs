//! Shared by the `vcan_*` SocketCAN test modules: interface names, the can-utils peer,
//! and the product's binary. These tests need a real vcan interface and root (`ip link`);
//! `tests/vcan/run` provides both, in a VM where the kernel has no CAN.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The interface the simulators and clients share.
pub fn iface() -> String {
    std::env::var("PACKWRIGHT_VCAN").unwrap_or_else(|_| "vcan0".into())
}

/// A second interface, taken down and up by the link tests.
pub fn spare_iface() -> String {
    std::env::var("PACKWRIGHT_VCAN_SPARE").unwrap_or_else(|_| "vcan1".into())
}

pub fn packwright() -> Command {
    super::bin()
}

/// `candump -L` on `iface` (optionally with a filter such as `355:7FF`), collecting lines
/// in the background; stop it with [`Candump::stop`].
pub struct Candump {
    child: Child,
    lines: mpsc::Receiver<String>,
}

/// The frame [`Candump::start`] sends until candump shows it: proof that it is listening.
const MARKER: &str = "7FF#5057";

impl Candump {
    /// Starts candump and returns once it demonstrably receives: start-up takes from a few
    /// milliseconds to seconds (under emulation), and a frame sent before it binds is lost.
    pub fn start(iface: &str, filters: &[&str]) -> Candump {
        let mut all: Vec<&str> = filters.to_vec();
        if !all.is_empty() {
            all.push("7FF:7FF");
        }
        let arg = if all.is_empty() {
            iface.to_string()
        } else {
            format!("{iface},{}", all.join(","))
        };
        let mut child = Command::new("candump")
            .args(["-L", &arg])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("candump (can-utils) is installed");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let dump = Candump { child, lines };
        for _ in 0..100 {
            cansend(iface, MARKER);
            if let Ok(line) = dump.lines.recv_timeout(Duration::from_millis(100)) {
                if line.contains(MARKER) {
                    // Markers still in flight are skipped by the readers below.
                    return dump;
                }
            }
        }
        panic!("candump on {iface} showed nothing within 10 s");
    }

    fn frame_of(line: &str) -> Option<String> {
        line.split_whitespace()
            .nth(2)
            .filter(|f| *f != MARKER)
            .map(str::to_string)
    }

    /// Lines seen so far plus those arriving within `wait`, as `ID#DATA` (the frame field of
    /// `candump -L`'s `(ts) iface ID#DATA`).
    pub fn frames(&self, wait: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.extend(Self::frame_of(&line)),
                Err(_) => return out,
            }
        }
    }

    /// Waits until a frame satisfying `pred` appears, at most `wait`.
    pub fn wait_for(&self, wait: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(frame) = Self::frame_of(&line).filter(|f| pred(f)) {
                        return Some(frame);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Candump {
    /// candump never ends by itself: a test that panics must not leave it running.
    fn drop(&mut self) {
        super::sim::reap(&mut self.child);
    }
}

/// `cansend IFACE FRAME`, the independent peer's way of putting a frame on the bus.
pub fn cansend(iface: &str, frame: &str) {
    let status = Command::new("cansend")
        .args([iface, frame])
        .status()
        .expect("cansend (can-utils) is installed");
    assert!(status.success(), "cansend {iface} {frame} failed");
}

pub fn ip_link(args: &[&str]) {
    let status = Command::new("ip")
        .arg("link")
        .args(args)
        .status()
        .expect("ip (iproute2) is installed");
    assert!(status.success(), "ip link {args:?} failed");
}
