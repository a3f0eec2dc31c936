//! The bench: configure a pack's BMS and run its end-of-line test. Both faces call these two
//! functions; every check (pack status, profile against protocol, the board's cell count,
//! hard limits through the configuration plan) and every log row is here once.

use super::{pack_and_profile, PackKey, Result, ServiceError, Station};
use crate::bms::config::{ConfigPlan, SessionOptions, WriteReport};
use crate::bms::service::{LoggedWrite, Purpose, WriteLog};
use crate::bms::BmsHandle;
use crate::device::can::bms::{CanBmsConfig, CanReader};
use crate::domain::Cell;
use crate::domain::{Pack, PackStatus};
use crate::eol::bench::{self as eol_bench, HandleBench};
use crate::eol::judge::RunOutcome;
use crate::eol::process_alive;
use crate::eol::record::Measurement;
use crate::eol::runner::Timing;
use crate::eol::runner::{
    self, Operator, Progress, RunError, RunJournal, RunSpec, RunSummary, StoreJournal,
};
use crate::profile::Profile;
use crate::store::{Forwarder, NewRun, Result as StoreResult};
use packwright_protocol::ProtocolKind;
use std::fmt;
use tokio::sync::watch;

/// How the bench reaches a pack, as recorded with every test run:
/// `serial /dev/ttyUSB0 jbd + can can1 pylontech`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub port: String,
    pub protocol: ProtocolKind,
    /// The CAN interface wired to the pack's inverter port, for the inverter step.
    pub inverter_can: Option<String>,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.protocol.is_serial() {
            "serial"
        } else {
            "can"
        };
        write!(f, "{kind} {} {}", self.port, self.protocol)?;
        if let Some(iface) = &self.inverter_can {
            write!(f, " + can {iface} {}", ProtocolKind::Pylontech)?;
        }
        Ok(())
    }
}

/// The board on the bench: a handle to the device task that owns its port, and the CAN
/// interface on the pack's inverter port if one is wired.
#[derive(Clone)]
pub struct BenchLink {
    pub bms: BmsHandle,
    pub inverter_can: Option<String>,
}

impl BenchLink {
    pub fn transport(&self) -> Transport {
        Transport {
            port: self.bms.port().to_string(),
            protocol: self.bms.protocol(),
            inverter_can: self.inverter_can.clone(),
        }
    }
}

/// Whether `protocol` is how a board built to `profile` is reached: its serial protocol, or
/// its CAN protocol.
pub fn check_protocol(profile: &Profile, protocol: ProtocolKind) -> Result<()> {
    let expected = if protocol.is_serial() {
        Some(profile.bms.protocol)
    } else {
        profile.bms.can_protocol
    };
    match expected {
        Some(p) if p == protocol => Ok(()),
        Some(p) => Err(ServiceError::Refused(format!(
            "profile {} configures a {p} board, but the bench link is {protocol}",
            profile.name
        ))),
        None => Err(ServiceError::Refused(format!(
            "profile {} names no CAN protocol; its board is reached over {}",
            profile.name, profile.bms.protocol
        ))),
    }
}

/// A configuration write as the faces report it.
#[derive(Debug, Clone)]
pub struct Configured {
    pub pack: Pack,
    pub profile: String,
    pub report: WriteReport,
    /// Whether this write moved the pack from assembled to configured.
    pub pack_configured: bool,
}

/// Which pack states may have their board (re)configured, and why not otherwise.
pub fn configurable(pack: &Pack) -> Result<()> {
    let why = match pack.status {
        PackStatus::Assembled | PackStatus::Configured | PackStatus::Failed => return Ok(()),
        PackStatus::Matched => "it is not assembled yet: finish its assembly first",
        PackStatus::Passed => {
            "it has passed its end-of-line test; a new configuration would void that result"
        }
        PackStatus::Scrapped => "it is scrapped",
        PackStatus::Released => "it was released; its cells are back in stock",
        PackStatus::OnHold => {
            return Err(ServiceError::Refused(format!(
                "pack {} cannot be configured: it is ON HOLD ({}); rework it (packs rework) or \
                 scrap it (packs scrap)",
                pack.label(),
                pack.status_note.as_deref().unwrap_or("no reason recorded")
            )))
        }
    };
    Err(ServiceError::Refused(format!(
        "pack {} cannot be configured: {why}",
        pack.label()
    )))
}

/// Write the configuration of `pack`'s own profile to the board behind `bms`, read every
/// field back, prove it persisted, and log the attempt with the pack; a verified write marks
/// the pack configured and stores the pack's code in the board. Refusals are logged too, and
/// nothing is sent.
pub async fn configure_pack(
    station: &Station,
    pack: &PackKey,
    bms: &BmsHandle,
    opts: &SessionOptions,
) -> Result<Configured> {
    let store = station.open()?;
    super::authority::require(&*store, &station.actor, super::authority::Action::Configure)?;
    let (pack, profile) = pack_and_profile(&*store, pack)?;
    let mut log = WriteLog {
        store,
        actor: station.actor.clone(),
        pack_code: pack.code.clone(),
        forwarder: forwarder_drained(station)?,
    };
    let plan = configurable(&pack)
        .and_then(|()| {
            super::labels::scan_back_required(&*log.store, &pack, &profile, "configured")
        })
        .and_then(|()| {
            let code = pack.code.as_deref().ok_or_else(|| {
                ServiceError::Refused(format!(
                    "pack {} has no code yet: finish its assembly",
                    pack.label()
                ))
            })?;
            plan_for(&profile, Some(code))
        });
    let restored = restore_with(&mut log, bms).await?;
    let mut logged = write_checked(&mut log, &profile, plan, bms, opts, &pack.label()).await?;
    logged.report.restored = restored;
    Ok(Configured {
        pack,
        profile: profile.name,
        report: logged.report,
        pack_configured: logged.pack_configured,
    })
}

/// Write `profile` to a board that belongs to no pack (a spare or a bench board): the
/// operator's explicit choice, logged with no pack. `barcode`, if given, is stored in the
/// board. The same checks as for a pack, but the pack's.
pub async fn configure_board(
    station: &Station,
    profile: &Profile,
    barcode: Option<&str>,
    bms: &BmsHandle,
    opts: &SessionOptions,
) -> Result<WriteReport> {
    let store = station.open()?;
    super::authority::require(
        &*store,
        &station.actor,
        super::authority::Action::ConfigurationOverride,
    )?;
    let mut log = WriteLog {
        store,
        actor: station.actor.clone(),
        pack_code: None,
        forwarder: forwarder_drained(station)?,
    };
    let restored = restore_with(&mut log, bms).await?;
    let plan = plan_for(profile, barcode);
    let mut logged = write_checked(&mut log, profile, plan, bms, opts, "the profile").await?;
    logged.report.restored = restored;
    Ok(logged.report)
}

/// This station's outbox on the line database, what it queued earlier sent first (in order);
/// `None` on a SQLite file.
fn forwarder_drained(station: &Station) -> Result<Option<Forwarder>> {
    let mut forwarder = station.forwarder()?;
    if let Some(f) = forwarder.as_mut() {
        f.forward_now()?;
    }
    Ok(forwarder)
}

/// Before anything else is done with the board behind `bms`: put back every temporary test
/// setting the board journal holds open for its port (an end-of-line test killed, crashed or
/// cut off mid-step), proved by read-back. Returns what was restored (empty: nothing was open);
/// a device error when it could not be, and then nothing else may be done with the board.
pub async fn restore_board(station: &Station, bms: &BmsHandle) -> Result<Vec<String>> {
    let mut log = WriteLog {
        store: station.open()?,
        actor: station.actor.clone(),
        pack_code: None,
        forwarder: None,
    };
    restore_with(&mut log, bms).await
}

async fn restore_with(log: &mut WriteLog, bms: &BmsHandle) -> Result<Vec<String>> {
    // Writes this station's dead processes left `started` are closed first, saying so.
    log.store
        .abort_orphaned_bms_writes(&log.actor.station, &process_alive)?;
    if log.store.open_board_journal(Some(bms.port()))?.is_empty() {
        return Ok(Vec::new());
    }
    eol_bench::restore_journal(log, bms)
        .await
        .map_err(ServiceError::Device)
}

/// Log a write refused before anything could be planned (a profile that cannot be loaded).
pub fn log_refusal(
    station: &Station,
    port: &str,
    protocol: ProtocolKind,
    profile: &str,
    detail: &str,
) -> Result<()> {
    log_pack_refusal(station, None, port, protocol, profile, detail)
}

/// [`log_refusal`] of a write for `pack_code`'s board (a pack that may not be configured).
pub fn log_pack_refusal(
    station: &Station,
    pack_code: Option<&str>,
    port: &str,
    protocol: ProtocolKind,
    profile: &str,
    detail: &str,
) -> Result<()> {
    let mut log = WriteLog {
        store: station.open()?,
        actor: station.actor.clone(),
        pack_code: pack_code.map(str::to_string),
        forwarder: None,
    };
    Ok(log.refuse(port, protocol, profile, detail)?)
}

/// The profile's configuration plan, or why it may not be sent.
pub fn plan_for(profile: &Profile, barcode: Option<&str>) -> Result<ConfigPlan> {
    ConfigPlan::from_profile(profile, barcode)
        .map_err(|e| ServiceError::Refused(format!("refused, nothing was sent: {e}")))
}

/// The checks every configuration write makes before a byte is sent (the plan, the protocol,
/// the board's cell count), then the logged, verified write. A refusal is logged.
async fn write_checked(
    log: &mut WriteLog,
    profile: &Profile,
    plan: Result<ConfigPlan>,
    bms: &BmsHandle,
    opts: &SessionOptions,
    target: &str,
) -> Result<LoggedWrite> {
    let plan = match plan.and_then(|p| check_protocol(profile, bms.protocol()).map(|()| p)) {
        Ok(plan) => plan,
        Err(e) => {
            log.refuse(bms.port(), bms.protocol(), &profile.name, &e.to_string())?;
            return Err(e);
        }
    };
    // The board check is part of the write: its traffic (a sleeping board's wake-up retry
    // included) is counted with it.
    let before = bms.stats();
    let series = profile.series as usize;
    match bms.read().await {
        Ok(s) if s.cell_count != series => {
            let why = format!(
                "the board on {} reports {} cells, but {target} is {series}S ({}): wrong board \
                 or wrong pack; nothing was sent",
                bms.port(),
                s.cell_count,
                profile.name
            );
            log.refuse(bms.port(), bms.protocol(), &profile.name, &why)?;
            return Err(ServiceError::Refused(why));
        }
        Ok(_) => {}
        Err(e) => {
            return Err(ServiceError::Device(format!(
                "cannot read the board on {} before writing: {e}",
                bms.port()
            )))
        }
    }
    let mut logged = log.write(bms, &plan, opts, Purpose::Configure).await?;
    logged.report.traffic = bms.stats().since(&before);
    Ok(logged)
}

/// What a face gives a test run besides the board: the person at the bench, the abort
/// switch, and where progress goes.
pub struct TestRequest<'a, O> {
    pub pack: PackKey,
    pub link: BenchLink,
    pub operator: &'a mut O,
    pub abort: watch::Receiver<Option<String>>,
    pub timing: Timing,
}

/// Run the end-of-line plan of `pack`'s profile against the board on the bench, recording
/// every measurement as it is taken. `on_start` sees the pack and profile before the run
/// begins (a face shows the plan).
pub async fn test_pack<O: Operator>(
    station: &Station,
    req: TestRequest<'_, O>,
    on_start: impl FnOnce(&Pack, &Profile),
    on_event: &mut Progress<'_>,
) -> std::result::Result<RunSummary, TestError> {
    // On the line database, what this station queued earlier goes first, in order.
    let forwarder = forwarder_drained(station)?;
    let mut store = station.open().map_err(ServiceError::from)?;
    super::authority::require(&*store, &station.actor, super::authority::Action::RunTest)?;
    // A run whose process died reads as aborted before this station starts another.
    store
        .abort_orphaned_eol_runs(&station.actor.station, &process_alive)
        .map_err(ServiceError::from)?;
    let (pack, profile) = pack_and_profile(&*store, &req.pack)?;
    super::packs::testable(&pack)?;
    super::labels::scan_back_required(&*store, &pack, &profile, "tested")?;
    check_protocol(&profile, req.link.bms.protocol())?;
    // A board an earlier run left holding test settings is put back before this run starts.
    let restored_before = restore_board(station, &req.link.bms).await?;
    on_start(&pack, &profile);
    let inverter = match &req.link.inverter_can {
        Some(iface) => Some(
            CanReader::open(CanBmsConfig::new(iface, ProtocolKind::Pylontech))
                .map_err(|e| ServiceError::Device(format!("inverter CAN port {iface}: {e}")))?,
        ),
        None => None,
    };
    // The bench's own temporary writes are logged through a second connection.
    let log = WriteLog {
        store: station.open().map_err(ServiceError::from)?,
        actor: station.actor.clone(),
        pack_code: pack.code.clone(),
        forwarder: None,
    };
    let transport = req.link.transport().to_string();
    let mut bench = HandleBench::new(
        req.link.bms.clone(),
        inverter,
        transport,
        profile.clone(),
        Some(log),
    );
    bench.pack_id = Some(pack.id);
    let mut journal = LineJournal {
        inner: StoreJournal {
            store: &mut *store,
            actor: station.actor.clone(),
        },
        forwarder,
    };
    let spec = RunSpec {
        pack: &pack,
        profile: &profile,
        abort: req.abort,
        timing: req.timing,
    };
    let mut summary = runner::run(spec, &mut journal, &mut bench, req.operator, on_event)
        .await
        .map_err(TestError::from)?;
    summary.restored = restored_before;
    // Whatever way the run ended (an abort or a signal skips the step's own restore, a lost
    // link fails it), the test settings still journalled are put back now: after a pulled
    // cable, once the link is back (the device task re-opens the port), for a bounded while.
    // If the board cannot be reached they stay journalled for whatever opens it next.
    let bms = &req.link.bms;
    let pending = match store.open_board_journal(Some(bms.port())) {
        Ok(open) => !open.is_empty(),
        // The line database went away during the run: its records are queued in the outbox;
        // whatever test setting is still journalled waits for the next command on this board.
        Err(e @ crate::store::StoreError::Unreachable { .. }) => {
            summary.restored.push(format!(
                "{e}; a test setting still journalled for this board is restored by the next command that opens it"
            ));
            return Ok(summary);
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    if pending && !bms.status().is_connected() {
        let mut status = bms.watch_status();
        let _ = tokio::time::timeout(RECONNECT_WAIT, status.wait_for(|s| s.is_connected())).await;
    }
    match restore_board(station, bms).await {
        Ok(done) => summary.restored.extend(done),
        Err(e) => summary.restored.push(format!(
            "{e}; it stays in the board journal and is restored by the next command that opens this board"
        )),
    }
    Ok(summary)
}

/// The run's journal: on the line database each measurement and the run's end go through
/// the station's outbox (queued durably, then forwarded; an unreachable line database leaves
/// them queued and the run carries on); the rest, and everything on a SQLite file, straight
/// to the store.
struct LineJournal<'s> {
    inner: StoreJournal<'s>,
    forwarder: Option<Forwarder>,
}

impl RunJournal for LineJournal<'_> {
    fn cells(&mut self, ids: &[String]) -> StoreResult<Vec<(String, Option<Cell>)>> {
        self.inner.cells(ids)
    }
    fn note(&mut self, level: &str, message: &str) -> StoreResult<()> {
        self.inner.note(level, message)
    }
    fn start(&mut self, run: &NewRun) -> StoreResult<i64> {
        self.inner.start(run)
    }
    fn measured(&mut self, run_id: i64, m: &Measurement) -> StoreResult<()> {
        match self.forwarder.as_mut() {
            None => self.inner.measured(run_id, m),
            Some(f) => {
                f.queue_measurement(run_id, m)?;
                f.forward().map(drop)
            }
        }
    }
    fn finish(
        &mut self,
        run_id: i64,
        outcome: RunOutcome,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        let ended_at = self.inner.stamp();
        match self.forwarder.as_mut() {
            None => self.inner.finish(run_id, outcome, reason),
            Some(f) => {
                f.queue_run_end(run_id, outcome, reason, &ended_at)?;
                f.forward_now().map(drop)
            }
        }
    }
    fn stamp(&self) -> String {
        self.inner.stamp()
    }
}

/// How long a run whose link dropped waits for it to come back to put the board's test
/// settings back before leaving them to the next command.
const RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Why a test run did not end with a verdict.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The pack may not be tested (cells without traceability data); nothing was recorded
    /// but the refusal.
    #[error(transparent)]
    Refused(RunError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<RunError> for TestError {
    fn from(e: RunError) -> TestError {
        match e {
            RunError::Store(s) => TestError::Service(ServiceError::Store(s)),
            refused @ RunError::Refused(_) => TestError::Refused(refused),
        }
    }
}

/// The board on a serial port named without a protocol, as [`board_on_port`] settled it.
#[derive(Debug, Clone, PartialEq)]
pub enum BoardOnPort {
    /// Found now (and remembered for this station and port).
    Detected {
        spec: crate::device::PortSpec,
        board: crate::bms::detect::Found,
    },
    /// Nothing answers now: the board found on this port before.
    Remembered(crate::device::PortSpec),
    /// Nothing answers and nothing was found here before.
    Nothing {
        probes: usize,
        /// The first reply that decoded but was refused, if any.
        refused: Option<String>,
    },
}

/// What a station remembers of the board found on a port (`console_state`).
#[derive(serde::Serialize, serde::Deserialize)]
struct RememberedBoard {
    protocol: ProtocolKind,
    baud: Option<u32>,
    address: Option<u8>,
    at: String,
}

/// Which board is on `port`: `bms detect`'s read-only scan, asking first for what this station
/// found there before; a board found is remembered (protocol, baud rate, address), so a port
/// where nothing answers at the next start (no pack on the bench yet) still has its board.
pub async fn board_on_port(station: &Station, port: &str) -> Result<BoardOnPort> {
    let key = format!("detected-board:{}:{port}", station.actor.station);
    let remembered = station
        .open()?
        .get_state(&key)?
        .and_then(|v| serde_json::from_str::<RememberedBoard>(&v).ok())
        .map(|r| crate::device::PortSpec {
            port: port.to_string(),
            protocol: r.protocol,
            baud: r.baud,
            address: r.address,
        });
    let found =
        crate::bms::detect::detect_expecting(port, remembered.as_ref().map(|r| r.protocol), None)
            .await;
    if let Some(board) = found.found.first() {
        let spec = crate::device::PortSpec {
            port: port.to_string(),
            protocol: board.protocol,
            baud: Some(board.baud),
            address: board.address,
        };
        let store = station.open()?;
        let value = serde_json::to_string(&RememberedBoard {
            protocol: spec.protocol,
            baud: spec.baud,
            address: spec.address,
            at: store.now_stamp(),
        })
        .map_err(|e| ServiceError::Device(e.to_string()))?;
        store.set_state(&key, &value)?;
        return Ok(BoardOnPort::Detected {
            spec,
            board: board.clone(),
        });
    }
    Ok(match remembered {
        Some(spec) => BoardOnPort::Remembered(spec),
        None => BoardOnPort::Nothing {
            probes: found.probed.len(),
            refused: found.refused.first().cloned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_reads_as_recorded() {
        let t = Transport {
            port: "/dev/ttyUSB0".into(),
            protocol: ProtocolKind::Jbd,
            inverter_can: Some("can1".into()),
        };
        assert_eq!(
            t.to_string(),
            "serial /dev/ttyUSB0 jbd + can can1 pylontech"
        );
        let t = Transport {
            port: "can0".into(),
            protocol: ProtocolKind::Pylontech,
            inverter_can: None,
        };
        assert_eq!(t.to_string(), "can can0 pylontech");
    }

    #[test]
    fn a_board_of_another_protocol_is_refused() {
        let profile = Profile::load("lfp-15s1p-100ah").unwrap();
        assert!(check_protocol(&profile, profile.bms.protocol).is_ok());
        let other = if profile.bms.protocol == ProtocolKind::Jbd {
            ProtocolKind::Daly
        } else {
            ProtocolKind::Jbd
        };
        let e = check_protocol(&profile, other).unwrap_err().to_string();
        assert!(e.contains("configures a"), "{e}");
    }
}
