//! The production bench: the runner's [`Bench`] over a `BmsHandle` (serial or CAN) and, for
//! the inverter step, a Pylontech listener on a CAN interface.
//!
//! Balancing and over-voltage protection are exercised with the board's own settings, so the
//! same test works on a real board and on the simulator: for the test the balance start
//! voltage (or the cell over-voltage trigger) is lowered just below what the cells read, the
//! reaction is watched, and the profile's values are written back. Every such write goes
//! through the verified write session (read back, re-read after the save) and is logged with
//! the configuration writes. Only ever in the safe direction: a trigger is only lowered.
//! Every lowered value is journalled in the store (board, port, register, the profile's value
//! to put back, pack) before it is sent, and the entry is closed only once the profile's value
//! is proved back by read-back; [`restore_journal`] puts back whatever a dead run left open,
//! and whatever opens the board next calls it first.

use super::runner::{Bench, BenchError, ConfigMismatch};
use crate::bms::config::{self, ConfigPlan, PlanError, SessionOptions, Wire, WriteReport};
use crate::bms::service::{Purpose, WriteLog};
use crate::bms::{BmsError, BmsHandle, BmsIdentity};
use crate::device::can::bms::CanReader;
use crate::profile::Profile;
use crate::store::JournalChange;
use packwright_protocol::can::pylontech::{Limits, PylonState};
use packwright_protocol::jbd::eeprom::{self, RegisterValue};
use packwright_protocol::BmsSnapshot;

use packwright_protocol::jbd::eeprom::reg::{
    BALANCE_START_VOLTAGE as BALANCE_START, BALANCE_WINDOW, CELL_OV_RELEASE, CELL_OV_TRIGGER,
};

/// How far below the highest cell the test trigger goes: enough to trip through read noise.
const TRIP_MARGIN_MV: u32 = 20;
/// Test release below the test trigger.
const TEST_HYSTERESIS_MV: u32 = 100;
/// Balance window for the test: small, so even a well-matched pack shows balancing bits.
const TEST_BALANCE_WINDOW_MV: u32 = 3;

/// `profile`'s configuration plan (no barcode), or why this board's settings cannot be written.
fn plan_without_barcode(profile: &Profile) -> Result<ConfigPlan, BenchError> {
    ConfigPlan::from_profile(profile, None).map_err(|e| match e {
        PlanError::Unsupported { .. } => BenchError::Unsupported(e.to_string()),
        other => BenchError::Failed(other.to_string()),
    })
}

pub struct HandleBench {
    bms: BmsHandle,
    inverter: Option<CanReader>,
    transport: String,
    profile: Profile,
    log: Option<WriteLog>,
    last_cells_mv: Vec<u32>,
    /// The pack on the bench, for the board journal.
    pub pack_id: Option<i64>,
    /// The board's identity (barcode) once read, for the board journal.
    board: Option<String>,
}

impl HandleBench {
    pub fn new(
        bms: BmsHandle,
        inverter: Option<CanReader>,
        transport: String,
        profile: Profile,
        log: Option<WriteLog>,
    ) -> HandleBench {
        HandleBench {
            bms,
            inverter,
            transport,
            profile,
            log,
            last_cells_mv: Vec::new(),
            pack_id: None,
            board: None,
        }
    }

    fn error(&self, e: BmsError) -> BenchError {
        match e {
            BmsError::Disconnected { .. } | BmsError::Closed { .. } => {
                BenchError::Lost(e.to_string())
            }
            BmsError::Timeout { .. } if !self.bms.status().is_connected() => {
                BenchError::Lost(format!("{e} ({})", self.bms.status()))
            }
            BmsError::Unsupported { .. } => BenchError::Unsupported(e.to_string()),
            other => BenchError::Failed(other.to_string()),
        }
    }

    async fn cells_now(&mut self) -> Result<Vec<u32>, BenchError> {
        if self.last_cells_mv.is_empty() {
            self.read().await?;
        }
        if self.last_cells_mv.is_empty() {
            return Err(BenchError::Failed(
                "the BMS reported no cell voltages".into(),
            ));
        }
        Ok(self.last_cells_mv.clone())
    }

    /// The profile's plan, or why this board's settings cannot be written.
    fn profile_plan(&self) -> Result<ConfigPlan, BenchError> {
        plan_without_barcode(&self.profile)
    }

    /// Write `registers` (cell-voltage registers, in mV; `None` = the profile's value) with
    /// the verified session, and log the attempt.
    async fn write_cell_mv(
        &mut self,
        registers: &[(u8, Option<u32>)],
        purpose: &str,
    ) -> Result<(), BenchError> {
        let full = self.profile_plan()?;
        if full.protocol != packwright_protocol::ProtocolKind::Jbd {
            return Err(BenchError::Unsupported(format!(
                "{purpose}: the forced balancing and over-voltage steps lower JBD EEPROM registers through the board journal; a {} board has no such step here",
                full.protocol
            )));
        }
        let mut fields = Vec::new();
        for (register, mv) in registers {
            let mut f = full
                .fields
                .iter()
                .find(|f| f.register == u16::from(*register))
                .cloned()
                .ok_or_else(|| {
                    BenchError::Failed(format!("the profile plans no register 0x{register:02X}"))
                })?;
            if let Some(mv) = mv {
                let def = eeprom::register(*register).ok_or_else(|| {
                    BenchError::Failed(format!("0x{register:02X} is not an EEPROM register"))
                })?;
                let value = RegisterValue::Quantity {
                    value: f64::from(*mv) / 1000.0,
                    unit: def.unit(),
                };
                let raw = def
                    .encode(&value, full.unit)
                    .map_err(|e| BenchError::Failed(e.to_string()))?;
                f.wire = Wire::Word { raw };
                f.display = config::show(&def.decode(raw, full.unit));
                f.field = format!("{} (EOL test)", f.field);
            }
            fields.push(f);
        }
        // Test values are journalled (and committed) before a byte is sent.
        let port = self.bms.port().to_string();
        let board = self
            .board
            .clone()
            .or_else(|| self.log.as_ref().and_then(|l| l.pack_code.clone()));
        let changes: Vec<JournalChange> = registers
            .iter()
            .filter(|(_, mv)| mv.is_some())
            .filter_map(|(register, _)| {
                let original = full
                    .fields
                    .iter()
                    .find(|f| f.register == u16::from(*register))?;
                let test = fields.iter().find(|f| f.register == u16::from(*register))?;
                match (&original.wire, &test.wire) {
                    (Wire::Word { raw: o }, Wire::Word { raw: t }) => Some(JournalChange {
                        pack_id: self.pack_id,
                        port: &port,
                        board: board.as_deref(),
                        profile: &self.profile.name,
                        register: *register,
                        original_raw: *o,
                        test_raw: *t,
                        purpose,
                    }),
                    _ => None,
                }
            })
            .collect();
        if let Some(log) = self.log.as_mut() {
            if !changes.is_empty() {
                log.store
                    .journal_board_changes(&log.actor, &changes)
                    .map_err(|e| {
                        BenchError::Failed(format!(
                            "{purpose}: cannot journal the test settings, nothing was sent: {e}"
                        ))
                    })?;
            }
        }
        let restoring: Vec<u8> = registers
            .iter()
            .filter(|(_, mv)| mv.is_none())
            .map(|(r, _)| *r)
            .collect();
        let plan = ConfigPlan { fields, ..full };
        let opts = SessionOptions::default();
        let report = match self.log.as_mut() {
            Some(log) => {
                log.write(&self.bms, &plan, &opts, Purpose::Test(purpose))
                    .await
                    .map_err(|e| BenchError::Failed(format!("cannot log the write: {e}")))?
                    .report
            }
            None => config::write_verified(&self.bms, &plan, &opts).await,
        };
        if report.failure.is_none() && !restoring.is_empty() {
            if let Some(log) = self.log.as_mut() {
                close_restored(
                    log,
                    &port,
                    &restoring,
                    "restored by read-back after the test",
                )
                .map_err(|e| BenchError::Failed(format!("{purpose}: {e}")))?;
            }
        }
        self.outcome_of(report, purpose)
    }

    /// The barcode register, where the identity read does not carry it: JBD keeps it in the
    /// EEPROM, readable only in factory mode (left without saving). `None` where the board has
    /// no barcode register this way.
    async fn stored_barcode(&mut self) -> Result<Option<String>, BenchError> {
        let Ok(full) = ConfigPlan::from_profile(&self.profile, Some("-")) else {
            return Ok(None);
        };
        let fields = full
            .fields
            .iter()
            .filter(|f| matches!(f.wire, Wire::Text { .. }))
            .cloned()
            .collect();
        let plan = ConfigPlan { fields, ..full };
        let readings = config::read_config(&self.bms, Some(&plan))
            .await
            .map_err(|e| self.error(e))?;
        Ok(readings
            .into_iter()
            .find_map(|r| r.value)
            .filter(|b| !b.trim().is_empty()))
    }

    fn outcome_of(&self, report: WriteReport, purpose: &str) -> Result<(), BenchError> {
        match report.failure {
            None => Ok(()),
            Some(f) if report.communication_failure && !self.bms.status().is_connected() => {
                Err(BenchError::Lost(format!("{purpose}: {f}")))
            }
            Some(f) => Err(BenchError::Failed(format!("{purpose}: {f}"))),
        }
    }
}

/// The barcode stored in the board (factory mode, left without saving), if it has one.
async fn barcode_of(bms: &BmsHandle, profile: &Profile) -> Result<Option<String>, String> {
    let Ok(full) = ConfigPlan::from_profile(profile, Some("-")) else {
        return Ok(None);
    };
    let fields = full
        .fields
        .iter()
        .filter(|f| matches!(f.wire, Wire::Text { .. }))
        .cloned()
        .collect();
    let plan = ConfigPlan { fields, ..full };
    let readings = config::read_config(bms, Some(&plan))
        .await
        .map_err(|e| format!("cannot read which board is on {}: {e}", bms.port()))?;
    Ok(readings
        .into_iter()
        .find_map(|r| r.value)
        .filter(|b| !b.trim().is_empty()))
}

/// Close the open journal entries of `registers` on `port`: their values were proved back.
fn close_restored(
    log: &mut WriteLog,
    port: &str,
    registers: &[u8],
    how: &str,
) -> Result<(), String> {
    let open = log
        .store
        .open_board_journal(Some(port))
        .map_err(|e| format!("cannot read the board journal: {e}"))?;
    let ids: Vec<i64> = open
        .iter()
        .filter(|e| registers.contains(&e.register))
        .map(|e| e.id)
        .collect();
    log.store
        .close_board_journal(&ids, how)
        .map_err(|e| format!("cannot close the board journal: {e}"))
}

/// Put back every temporary test setting the board journal holds open for the board on
/// `bms`'s port (a run killed, crashed or cut off mid-test): the profile's values are written
/// with the verified session (logged) and the entries closed once read back. Returns one line
/// per restored setting; an error when they could not be proved back (the entries stay open).
pub async fn restore_journal(log: &mut WriteLog, bms: &BmsHandle) -> Result<Vec<String>, String> {
    let port = bms.port().to_string();
    let mut open = log
        .store
        .open_board_journal(Some(&port))
        .map_err(|e| format!("cannot read the board journal: {e}"))?;
    let mut said = Vec::new();
    // Only the board the settings were written to: another board on this port is left alone
    // (its entries stay open for when that board is back).
    if let Some(profile) = open.first().and_then(|e| Profile::load(&e.profile).ok()) {
        if open.iter().any(|e| e.board.is_some()) {
            let here = barcode_of(bms, &profile).await?;
            let (mine, others): (Vec<_>, Vec<_>) = open
                .into_iter()
                .partition(|e| e.board.is_none() || e.board == here);
            for e in others.iter().take(1) {
                said.push(format!(
                    "the board journal holds test settings for board {} on {port}, but this board is {}: left for when that board is connected",
                    e.board.as_deref().unwrap_or("-"),
                    here.as_deref().unwrap_or("unnamed")
                ));
            }
            open = mine;
        }
    }
    let mut profiles: Vec<String> = open.iter().map(|e| e.profile.clone()).collect();
    profiles.dedup();
    for name in profiles {
        let entries: Vec<_> = open.iter().filter(|e| e.profile == name).collect();
        let profile = Profile::load(&name)
            .map_err(|e| format!("the board journal names profile {name}: {e}"))?;
        let full = plan_without_barcode(&profile).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        for e in &entries {
            if fields
                .iter()
                .any(|f: &config::PlannedField| f.register == u16::from(e.register))
            {
                continue;
            }
            let mut f = full
                .fields
                .iter()
                .find(|f| f.register == u16::from(e.register))
                .cloned()
                .ok_or_else(|| format!("profile {name} plans no register 0x{:02X}", e.register))?;
            f.wire = Wire::Word {
                raw: e.original_raw,
            };
            if let Some(def) = eeprom::register(e.register) {
                f.display = config::show(&def.decode(e.original_raw, full.unit));
            }
            fields.push(f);
        }
        let plan = ConfigPlan { fields, ..full };
        let purpose = "restoring test settings left on the board (board journal)";
        let report = log
            .write(
                bms,
                &plan,
                &SessionOptions::default(),
                Purpose::Test(purpose),
            )
            .await
            .map_err(|e| format!("cannot log the restore: {e}"))?
            .report;
        if let Some(f) = report.failure {
            return Err(format!(
                "the board on {port} may still hold end-of-line test settings and restoring them failed: {f}"
            ));
        }
        let registers: Vec<u8> = plan
            .fields
            .iter()
            .filter_map(|f| f.jbd_register())
            .collect();
        close_restored(log, &port, &registers, "restored from the board journal")?;
        for f in &plan.fields {
            said.push(format!(
                "restored {} ({} {}) to the profile's {} on {port}, proved by read-back (left by an unfinished end-of-line test)",
                f.field,
                f.register_hex(),
                f.name,
                f.display
            ));
        }
    }
    Ok(said)
}

impl Bench for HandleBench {
    fn transport(&self) -> String {
        self.transport.clone()
    }

    async fn read(&mut self) -> Result<BmsSnapshot, BenchError> {
        let s = self.bms.read().await.map_err(|e| self.error(e))?;
        self.last_cells_mv = s.cell_voltages_mv.clone();
        Ok(s)
    }

    async fn identity(&mut self) -> Result<BmsIdentity, BenchError> {
        let mut id = self.bms.identity().await.map_err(|e| self.error(e))?;
        if id.barcode.is_none() {
            id.barcode = self.stored_barcode().await?;
        }
        if id.barcode.is_some() {
            self.board.clone_from(&id.barcode);
        }
        Ok(id)
    }

    async fn config_mismatches(
        &mut self,
        profile: &Profile,
    ) -> Result<Vec<ConfigMismatch>, BenchError> {
        // The barcode is the barcode step's business, not a configuration value.
        let plan = plan_without_barcode(profile)?;
        let readings = config::read_config(&self.bms, Some(&plan))
            .await
            .map_err(|e| self.error(e))?;
        Ok(readings
            .into_iter()
            .filter(|r| r.matches == Some(false))
            .map(|r| ConfigMismatch {
                field: r.field.unwrap_or_else(|| r.name.to_string()),
                expected: r.expected.unwrap_or_default(),
                found: r.value.or(r.error).unwrap_or_else(|| "nothing".to_string()),
            })
            .collect())
    }

    async fn force_balancing(&mut self, on: bool) -> Result<(), BenchError> {
        if !on {
            return self
                .write_cell_mv(
                    &[(BALANCE_START, None), (BALANCE_WINDOW, None)],
                    "EOL balancing test: profile balance settings restored",
                )
                .await;
        }
        if !self.profile.bms.balance_enabled {
            return Err(BenchError::Failed(
                "the profile disables balancing (bms.balance_enabled = false)".into(),
            ));
        }
        self.profile_plan()?;
        let cells = self.cells_now().await?;
        let min = cells.iter().copied().min().unwrap_or(0);
        let floor = self.profile.chemistry.hard_limits().min_cell_mv;
        // Lowered only: never above the profile's own start voltage.
        let start = min
            .saturating_sub(50)
            .max(floor)
            .min(self.profile.bms.balance_start_mv);
        let window = TEST_BALANCE_WINDOW_MV.min(self.profile.bms.balance_delta_mv);
        self.write_cell_mv(
            &[(BALANCE_START, Some(start)), (BALANCE_WINDOW, Some(window))],
            &format!("EOL balancing test: balance start {start} mV, window {window} mV"),
        )
        .await
    }

    async fn force_overvoltage(&mut self, on: bool) -> Result<(), BenchError> {
        if !on {
            return self
                .write_cell_mv(
                    &[(CELL_OV_TRIGGER, None), (CELL_OV_RELEASE, None)],
                    "EOL over-voltage test: profile thresholds restored",
                )
                .await;
        }
        self.profile_plan()?;
        let cells = self.cells_now().await?;
        let max = cells.iter().copied().max().unwrap_or(0);
        let b = &self.profile.bms;
        let trigger = max.saturating_sub(TRIP_MARGIN_MV);
        let release = trigger.saturating_sub(TEST_HYSTERESIS_MV);
        // Checked before a byte is sent: the test thresholds must be more conservative than the
        // profile and must not overlap the under-voltage window.
        if trigger >= b.cell_ov_trigger_mv || release <= b.cell_uv_release_mv {
            return Err(BenchError::Unsupported(format!(
                "the highest cell reads {max} mV: a test trigger of {trigger} mV would not be below the profile's {} mV or its release would overlap the under-voltage release {} mV",
                b.cell_ov_trigger_mv, b.cell_uv_release_mv
            )));
        }
        self.write_cell_mv(
            &[(CELL_OV_TRIGGER, Some(trigger)), (CELL_OV_RELEASE, Some(release))],
            &format!(
                "EOL over-voltage test: cell trigger {trigger} mV, release {release} mV (highest cell {max} mV)"
            ),
        )
        .await
    }

    async fn inverter_limits(&mut self) -> Result<Option<Limits>, BenchError> {
        let Some(reader) = self.inverter.as_mut() else {
            return Err(BenchError::Unsupported(
                "no CAN interface on this bench: connect the pack's inverter port and give --can IFACE".into(),
            ));
        };
        let result = reader.read().await;
        // 0x351 counts on its own, even when another frame kept the reading incomplete.
        if let Some(limits) = reader.pylon().limits.clone() {
            return Ok(Some(limits));
        }
        match result {
            Ok(_) => Ok(None),
            // Frames came, but not the limits: the pack does not announce them.
            Err(BmsError::Timeout { .. }) if *reader.pylon() != PylonState::default() => Ok(None),
            Err(e) => Err(BenchError::Failed(format!("inverter CAN: {e}"))),
        }
    }
}
