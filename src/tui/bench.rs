//! The bench side of the console: which ports it may open, the link to the board on the bench,
//! live readings, the configuration write and the end-of-line test.
//!
//! Everything here runs in spawned tasks that talk to device tasks through [`BmsHandle`]s and
//! report back as [`Event::Device`]; [`Devices::handle`] itself returns at once, so a slow or
//! unplugged board never freezes the console.

use super::app::Event;
use super::msg::*;
use crate::bms::config::{Cancel, SessionOptions};
use crate::bms::{BmsHandle, LinkStatus};
use crate::domain::Pack;
use crate::eol::judge::{Outcome, RunOutcome};
use crate::eol::plan::{MeasurementSpec, Step};
use crate::eol::runner::{self, Operator, RunEvent, Timing};
use crate::profile::Profile;
use crate::services::bench::{self, BenchLink};
use crate::services::{PackKey, ServiceError, Station};
use crate::store::WriteOutcome;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use crate::demo::DemoBench;
pub use crate::device::PortSpec;

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

/// A test in progress: where the operator's answers go, and the abort switch.
struct TestRun {
    answers: mpsc::UnboundedSender<String>,
    abort: watch::Sender<Option<String>>,
}

/// Where the bench records what it does (the line's database, as this operator), and the
/// CAN interface wired to the pack's inverter port, for the inverter step of the test.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub station: Station,
    pub inverter_can: Option<String>,
}

pub struct Devices {
    events: mpsc::UnboundedSender<Event>,
    ports: Vec<PortSpec>,
    next: usize,
    conn: Option<Connection>,
    watching: watch::Sender<bool>,
    poll_every: Duration,
    demo: Option<Arc<dyn DemoBench>>,
    recorder: Recorder,
    test: Option<TestRun>,
    writing: Option<JoinHandle<()>>,
    /// The stop switch of the configuration write in progress (the console quitting).
    write_cancel: Option<watch::Sender<Option<String>>>,
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
        recorder: Recorder,
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
            recorder,
            test: None,
            writing: None,
            write_cancel: None,
        }
    }

    /// The console is quitting: a configuration write in progress stops at its next exchange,
    /// leaves factory mode without saving and logs itself `aborted`; wait (a bounded while)
    /// until it has.
    pub async fn stop_writing(&mut self, why: &str) {
        if let Some(tx) = self.write_cancel.take() {
            let _ = tx.send(Some(why.to_string()));
        }
        if let Some(task) = self.writing.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// The operator changed (badge scan): later records carry the new name.
    pub fn set_operator(&mut self, name: &str) {
        self.recorder.station.actor.operator = name.to_string();
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
                    reason: "no port configured: start the console with --port <device> or --can <interface>".into(),
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
        let handle = if spec.protocol.is_serial() {
            let mut config = crate::device::serial::SerialConfig::new(&spec.port, spec.protocol);
            if let Some(baud) = spec.baud {
                config.baud = baud;
            }
            crate::device::serial::spawn(config)
                .map(|h| match spec.address {
                    Some(board) => h.for_board(board),
                    None => h,
                })
                .map_err(|e| e.to_string())
        } else {
            let config = crate::device::can::bms::CanBmsConfig::new(&spec.port, spec.protocol);
            crate::device::can::bms::spawn(config).map_err(|e| e.to_string())
        };
        let handle = match handle {
            Ok(h) => h,
            Err(e) => {
                send(
                    &self.events,
                    DeviceEvent::Link(Link::Lost {
                        port: spec.port.clone(),
                        reason: e,
                    }),
                );
                return;
            }
        };
        // Before anything else is done with this board: test settings an unfinished
        // end-of-line test left on it go back (from the board journal), and the console says
        // so. Held as the running write, so no configuration write interleaves with it.
        if self.demo.is_none() && self.writing.as_ref().is_none_or(|t| t.is_finished()) {
            let handle = handle.clone();
            let station = self.recorder.station.clone();
            let events = self.events.clone();
            self.writing = Some(tokio::spawn(async move {
                let mut status = handle.watch_status();
                if status.wait_for(|s| s.is_connected()).await.is_err() {
                    return;
                }
                let result = match bench::restore_board(&station, &handle).await {
                    Ok(done) if done.is_empty() => return,
                    Ok(done) => WriteResult {
                        ok: true,
                        summary: done.join("; "),
                        fields: Vec::new(),
                    },
                    Err(e) => WriteResult {
                        ok: false,
                        summary: e.to_string(),
                        fields: Vec::new(),
                    },
                };
                send(&events, DeviceEvent::WriteDone(result));
            }));
        }
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
        match req {
            DeviceRequest::WriteConfig { pack } => self.write_config(pack),
            DeviceRequest::StartTest { pack } => self.start_test(pack),
            DeviceRequest::Answer(text) => match &self.test {
                Some(t) => {
                    let _ = t.answers.send(text);
                }
                None => tracing::warn!("an answer with no test running"),
            },
            DeviceRequest::AbortTest => {
                if let Some(t) = &self.test {
                    let _ = t.abort.send(Some("aborted by the operator".into()));
                }
            }
            DeviceRequest::Watch(_)
            | DeviceRequest::ConnectNext
            | DeviceRequest::Disconnect
            | DeviceRequest::ToggleUnplug => {}
        }
    }

    fn refuse_write(&self, why: String) {
        send(
            &self.events,
            DeviceEvent::WriteDone(WriteResult {
                ok: false,
                summary: why,
                fields: Vec::new(),
            }),
        );
    }

    fn write_config(&mut self, pack_id: i64) {
        let Some(conn) = &self.conn else {
            return self.refuse_write("not connected to a BMS: press c first".into());
        };
        if self.writing.as_ref().is_some_and(|t| !t.is_finished()) {
            return self.refuse_write("a configuration write is already running".into());
        }
        if self.test.is_some() {
            return self
                .refuse_write("a test is running on this board; wait for it or abort it".into());
        }
        let handle = conn.handle.clone();
        let station = self.recorder.station.clone();
        let events = self.events.clone();
        let (cancel_tx, cancel) = Cancel::new();
        self.write_cancel = Some(cancel_tx);
        self.writing = Some(tokio::spawn(async move {
            let result = write_config(&handle, &station, pack_id, cancel).await;
            send(&events, DeviceEvent::WriteDone(result));
        }));
    }

    fn start_test(&mut self, pack_id: i64) {
        let finish = |events: &mpsc::UnboundedSender<Event>, reason: String| {
            send(
                events,
                DeviceEvent::Test(TestEvent::Finished {
                    pass: false,
                    reason,
                }),
            );
        };
        let Some(conn) = &self.conn else {
            return finish(&self.events, "not connected to the pack's BMS".into());
        };
        if self.writing.as_ref().is_some_and(|t| !t.is_finished()) {
            return finish(
                &self.events,
                "a configuration write is still running".into(),
            );
        }
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let (abort_tx, abort_rx) = watch::channel(None);
        self.test = Some(TestRun {
            answers: answers_tx,
            abort: abort_tx,
        });
        let link = BenchLink {
            bms: conn.handle.clone(),
            inverter_can: self.recorder.inverter_can.clone(),
        };
        let station = self.recorder.station.clone();
        let events = self.events.clone();
        // An ordinary task on the console's runtime: the run records through its own
        // connection and reaches the board through the same handle.
        tokio::spawn(async move {
            run_test(station, link, pack_id, answers_rx, abort_rx, &events).await;
        });
    }

    /// The test task reported its verdict: answers and aborts have nowhere to go now.
    pub fn test_finished(&mut self) {
        self.test = None;
    }

    pub fn test_running(&self) -> bool {
        self.test.is_some()
    }
}

/// Write the pack's configuration through the line service and say how it went.
async fn write_config(
    handle: &BmsHandle,
    station: &Station,
    pack_id: i64,
    cancel: Cancel,
) -> WriteResult {
    let opts = SessionOptions {
        cancel: Some(cancel),
        ..SessionOptions::default()
    };
    let done = bench::configure_pack(station, &PackKey::Id(pack_id), handle, &opts).await;
    let configured = match done {
        Ok(c) => c,
        Err(e @ ServiceError::Refused(_)) => {
            return WriteResult {
                ok: false,
                summary: e.to_string(),
                fields: Vec::new(),
            }
        }
        Err(e) => {
            return WriteResult {
                ok: false,
                summary: format!("configuration not written: {e}"),
                fields: Vec::new(),
            }
        }
    };
    let report = &configured.report;
    let ok = report.outcome == WriteOutcome::Verified;
    let verified = report.fields.iter().filter(|f| f.ok).count();
    let summary = if ok {
        format!(
            "configuration verified: {verified} of {} fields read back and persisted; next: 6 Test",
            report.fields.len()
        )
    } else {
        format!(
            "configuration NOT verified: {}",
            report
                .failure
                .as_deref()
                .unwrap_or("see the fields marked FAIL")
        )
    };
    let summary = match &report.late_stop {
        Some(why) => format!("{summary} ({why} after the save: its check was finished)"),
        None => summary,
    };
    // The station's event log says it too (the Line screen's problems list reads it).
    if let Ok(store) = station.open() {
        let level = if ok { "info" } else { "problem" };
        let _ = store.log_event(
            &station.actor,
            level,
            &format!("pack {}: {summary}", configured.pack.label()),
        );
    }
    WriteResult {
        ok,
        summary,
        fields: report
            .fields
            .iter()
            .map(|f| FieldResult {
                field: f.field.clone(),
                written: f.written.clone(),
                read_back: f.read_back.clone().unwrap_or_else(|| "-".into()),
                ok: f.ok,
                reason: f.reason.clone(),
            })
            .collect(),
    }
}

/// The person at the bench, through the console: each question becomes a prompt on the Test
/// screen, each answer comes back over a channel.
struct ConsoleOperator<'a> {
    events: &'a mpsc::UnboundedSender<Event>,
    answers: mpsc::UnboundedReceiver<String>,
    /// The plan's step ids, known once the service has loaded the pack's profile.
    plan: &'a Mutex<Vec<String>>,
}

impl ConsoleOperator<'_> {
    fn plan(&self) -> Vec<String> {
        self.plan.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl ConsoleOperator<'_> {
    async fn prompt(&mut self, index: usize, prompt: String) -> runner::Reply {
        send(
            self.events,
            DeviceEvent::Test(TestEvent::Prompt { index, prompt }),
        );
        match self.answers.recv().await {
            Some(a) if a.trim().eq_ignore_ascii_case("quit") => runner::Reply::Quit,
            Some(a) => runner::Reply::Text(a.trim().to_string()),
            None => runner::Reply::NoAnswer("the console closed".into()),
        }
    }
}

impl Operator for ConsoleOperator<'_> {
    async fn ask(
        &mut self,
        step: &Step,
        spec: &MeasurementSpec,
        refused: Option<&str>,
    ) -> runner::Reply {
        let index = self
            .plan()
            .iter()
            .position(|id| *id == step.id)
            .unwrap_or(0);
        let mut prompt = String::new();
        if let Some(r) = refused {
            prompt.push_str(&format!("not accepted ({r}). "));
        }
        prompt.push_str(step.prompt.as_deref().unwrap_or(&step.title));
        // The limit, so the operator knows what passes before typing.
        if let Ok(limit) = spec.limit() {
            prompt.push_str(&format!(" (pass: {})", limit.describe(&spec.unit)));
        }
        self.prompt(index, prompt).await
    }

    async fn confirm(&mut self, instruction: &str) -> runner::Reply {
        let index = self.plan().len().saturating_sub(1);
        self.prompt(index, format!("{instruction}; Enter when done"))
            .await
    }
}

/// One measurement as the Test screen shows it: `name value unit`, and why when not a pass.
fn measured_text(m: &crate::eol::record::Measurement) -> String {
    let value = m.value_text();
    match &m.reason {
        Some(r) if m.outcome != Outcome::Pass => format!("{} {value}: {r}", m.name),
        _ => format!("{} {value}", m.name),
    }
}

/// Where a step is in the plan shown on the Test screen.
fn step_index(plan: &Mutex<Vec<String>>, id: &str) -> usize {
    plan.lock()
        .ok()
        .and_then(|p| p.iter().position(|s| s == id))
        .unwrap_or(0)
}

async fn run_test(
    station: Station,
    link: BenchLink,
    pack_id: i64,
    answers: mpsc::UnboundedReceiver<String>,
    abort: watch::Receiver<Option<String>>,
    events: &mpsc::UnboundedSender<Event>,
) {
    let plan_ids = Mutex::new(Vec::new());
    let mut operator = ConsoleOperator {
        events,
        answers,
        plan: &plan_ids,
    };
    // Per step: the worst outcome so far and what the screen says about it.
    let mut current: Option<(usize, Outcome, Vec<String>)> = None;
    let flush = |cur: &Option<(usize, Outcome, Vec<String>)>| {
        if let Some((index, outcome, texts)) = cur {
            let text = texts.join("; ");
            let state = match outcome {
                Outcome::Pass => StepState::Pass(text),
                Outcome::Skipped => StepState::Skipped(text),
                Outcome::Fail | Outcome::Error => StepState::Fail(text),
            };
            send(
                events,
                DeviceEvent::Test(TestEvent::Step {
                    index: *index,
                    state,
                }),
            );
        }
    };
    let show_plan = |_: &Pack, profile: &Profile| {
        if let Ok(mut ids) = plan_ids.lock() {
            *ids = profile.eol.steps.iter().map(|s| s.id.clone()).collect();
        }
        send(
            events,
            DeviceEvent::Test(TestEvent::Plan(
                profile
                    .eol
                    .steps
                    .iter()
                    .map(|s| TestStep {
                        title: s.title.clone(),
                        manual: s.kind == crate::eol::StepKind::Manual,
                        state: StepState::Pending,
                    })
                    .collect(),
            )),
        );
    };
    let mut on_event = |e: RunEvent| match e {
        RunEvent::Started { .. } => {}
        RunEvent::Step(step) => {
            flush(&current);
            let index = step_index(&plan_ids, &step.id);
            current = Some((index, Outcome::Skipped, Vec::new()));
            send(
                events,
                DeviceEvent::Test(TestEvent::Step {
                    index,
                    state: StepState::Running,
                }),
            );
        }
        RunEvent::Measured(m) => {
            let index = step_index(&plan_ids, &m.step_id);
            let cur = current.get_or_insert((index, Outcome::Skipped, Vec::new()));
            if cur.0 != index {
                // A measurement of a step the runner did not announce (skipped steps).
                let done = std::mem::replace(cur, (index, Outcome::Skipped, Vec::new()));
                flush(&Some(done));
            }
            let cur = current.get_or_insert((index, Outcome::Skipped, Vec::new()));
            cur.1 = cur.1.max(m.outcome);
            cur.2.push(measured_text(m));
        }
        RunEvent::Finished(_) => flush(&current),
    };
    let request = bench::TestRequest {
        pack: PackKey::Id(pack_id),
        link,
        operator: &mut operator,
        abort,
        timing: Timing::default(),
    };
    let summary = bench::test_pack(&station, request, show_plan, &mut on_event).await;
    let (pass, reason) = match summary {
        Ok(s) => (
            s.outcome == RunOutcome::Pass,
            match s.outcome {
                RunOutcome::Pass => "every step passed".to_string(),
                other => format!(
                    "{}: {}",
                    other.as_str(),
                    s.reason.unwrap_or_else(|| "see the failed steps".into())
                ),
            },
        ),
        Err(e) => (false, format!("the test could not run: {e}")),
    };
    send(
        events,
        DeviceEvent::Test(TestEvent::Finished { pass, reason }),
    );
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
