//! The bench side of the console: which ports it may open, the link to the board on the bench,
//! live readings, the configuration write and the end-of-line test.
//!
//! Everything here runs in spawned tasks that talk to device tasks through [`BmsHandle`]s and
//! report back as [`Event::Device`]; [`Devices::handle`] itself returns at once, so a slow or
//! unplugged board never freezes the console.

use super::app::Event;
use super::data::*;
use crate::bms::{BmsHandle, LinkStatus};
use packwright_protocol::ProtocolKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A port or interface the console may open, and the protocol spoken on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub port: String,
    pub protocol: ProtocolKind,
}

impl PortSpec {
    pub fn label(&self) -> String {
        format!("{} ({})", self.port, self.protocol)
    }
}

/// What the demo line lets the operator do to its simulated boards.
pub trait DemoBench: Send + Sync {
    /// Pull the board's cable if it is plugged in, plug it back if not. Returns true when
    /// the board is now unplugged.
    fn toggle_unplug(&self, port: &str) -> Result<bool, String>;
}

struct Connection {
    spec: PortSpec,
    handle: BmsHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub struct Devices {
    events: mpsc::UnboundedSender<Event>,
    ports: Vec<PortSpec>,
    next: usize,
    conn: Option<Connection>,
    watching: watch::Sender<bool>,
    poll_every: Duration,
    demo: Option<Arc<dyn DemoBench>>,
}

fn send(events: &mpsc::UnboundedSender<Event>, ev: DeviceEvent) {
    // The loop has gone only when the console is quitting: nothing left to tell.
    let _ = events.send(Event::Device(ev));
}

impl Devices {
    pub fn new(
        events: mpsc::UnboundedSender<Event>,
        ports: Vec<PortSpec>,
        poll_every: Duration,
        demo: Option<Arc<dyn DemoBench>>,
    ) -> Devices {
        send(
            &events,
            DeviceEvent::Ports(ports.iter().map(PortSpec::label).collect()),
        );
        Devices {
            events,
            ports,
            next: 0,
            conn: None,
            watching: watch::channel(false).0,
            poll_every,
            demo,
        }
    }

    /// The handle to the board on the bench, if connected.
    pub fn handle_of_bench(&self) -> Option<&BmsHandle> {
        self.conn.as_ref().map(|c| &c.handle)
    }

    /// Carry out one request; never waits for a device.
    pub fn handle(&mut self, req: DeviceRequest) {
        match req {
            DeviceRequest::Watch(on) => {
                self.watching.send_replace(on);
            }
            DeviceRequest::ConnectNext => self.connect_next(),
            DeviceRequest::Disconnect => {
                if let Some(c) = self.conn.take() {
                    tracing::info!(port = %c.spec.port, "disconnected by the operator");
                }
                send(&self.events, DeviceEvent::Link(Link::Idle));
            }
            DeviceRequest::ToggleUnplug => self.toggle_unplug(),
            other => self.bench_work(other),
        }
    }

    fn connect_next(&mut self) {
        if self.ports.is_empty() {
            send(
                &self.events,
                DeviceEvent::Link(Link::Lost {
                    port: "-".into(),
                    reason: "no port configured: start the console with --port <device>".into(),
                }),
            );
            return;
        }
        // With one port, c reconnects it; with several, it steps to the next.
        let spec = self.ports[self.next % self.ports.len()].clone();
        self.next += 1;
        self.conn = None;
        send(
            &self.events,
            DeviceEvent::Link(Link::Connecting {
                port: spec.port.clone(),
            }),
        );
        let config = crate::device::serial::SerialConfig::new(&spec.port, spec.protocol);
        let handle = match crate::device::serial::spawn(config) {
            Ok(h) => h,
            Err(e) => {
                send(
                    &self.events,
                    DeviceEvent::Link(Link::Lost {
                        port: spec.port.clone(),
                        reason: e.to_string(),
                    }),
                );
                return;
            }
        };
        let tasks = vec![
            tokio::spawn(forward_status(handle.clone(), self.events.clone())),
            tokio::spawn(poll(
                handle.clone(),
                self.watching.subscribe(),
                self.poll_every,
                self.events.clone(),
            )),
        ];
        self.conn = Some(Connection {
            spec,
            handle,
            tasks,
        });
    }

    fn toggle_unplug(&mut self) {
        let (Some(demo), Some(conn)) = (&self.demo, &self.conn) else {
            send(
                &self.events,
                DeviceEvent::Link(Link::Lost {
                    port: "-".into(),
                    reason: "connect to a simulated board first (c)".into(),
                }),
            );
            return;
        };
        match demo.toggle_unplug(&conn.spec.port) {
            Ok(unplugged) => {
                tracing::info!(port = %conn.spec.port, unplugged, "demo cable toggled")
            }
            Err(e) => send(
                &self.events,
                DeviceEvent::Link(Link::Lost {
                    port: conn.spec.port.clone(),
                    reason: e,
                }),
            ),
        }
    }

    fn bench_work(&mut self, req: DeviceRequest) {
        tracing::warn!(?req, "bench work not available in this build");
    }
}

/// Mirror the device task's link status into the console, with the board's identity once
/// it answers.
async fn forward_status(handle: BmsHandle, events: mpsc::UnboundedSender<Event>) {
    let mut rx = handle.watch_status();
    let port = handle.port().to_string();
    loop {
        let status = rx.borrow_and_update().clone();
        let link = match &status {
            LinkStatus::Connecting => Link::Connecting { port: port.clone() },
            LinkStatus::Connected => {
                let identity =
                    match tokio::time::timeout(Duration::from_secs(3), handle.identity()).await {
                        Ok(Ok(id)) => id.summary(),
                        Ok(Err(e)) => format!("a board that does not say who it is ({e})"),
                        Err(_) => "a board that does not say who it is".to_string(),
                    };
                Link::Connected {
                    port: port.clone(),
                    identity,
                }
            }
            LinkStatus::Disconnected { reason } | LinkStatus::Reconnecting { reason, .. } => {
                Link::Lost {
                    port: port.clone(),
                    reason: reason.clone(),
                }
            }
        };
        send(&events, DeviceEvent::Link(link));
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Read the board at most every `every` while the BMS screen is shown and the link is up.
async fn poll(
    handle: BmsHandle,
    mut watching: watch::Receiver<bool>,
    every: Duration,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut status = handle.watch_status();
    loop {
        if !*watching.borrow_and_update() {
            if watching.changed().await.is_err() {
                return;
            }
            continue;
        }
        if !status.borrow_and_update().is_connected() {
            tokio::select! {
                r = status.changed() => if r.is_err() { return },
                r = watching.changed() => if r.is_err() { return },
            }
            continue;
        }
        let started = tokio::time::Instant::now();
        // The device task has its own timeouts; this one only guards against a stuck task.
        match tokio::time::timeout(Duration::from_secs(5), handle.read()).await {
            Ok(Ok(snap)) => send(&events, DeviceEvent::Snapshot(Box::new(snap))),
            Ok(Err(e)) => tracing::debug!("read failed: {e}"),
            Err(_) => tracing::warn!("read took more than 5 s"),
        }
        tokio::time::sleep_until(started + every).await;
    }
}
