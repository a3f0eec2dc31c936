//! BMS configuration: the plan (profile values → registers, with units and the unit flag) and
//! the verified write session.
//!
//! The session, for JBD: read the identity; send the PIN when one is given or the firmware
//! has the PIN function (a board without it answers 0x80, which is fine); enter factory mode
//! (with retries); read 0x2D and merge the planned function bits into it; write every register
//! and require an OK status; read every register back; exit with save; then enter factory mode
//! again and re-read everything to prove it persisted (an OK status alone proves nothing: some
//! firmware acknowledges writes it does not store). If anything fails before the save, factory
//! mode is left *without* saving and the report names the field and the reason.

use std::time::{Duration, Instant};

use packwright_protocol::jbd::eeprom::reg;
use packwright_protocol::jbd::{
    self, eeprom, CapacityUnit, FunctionConfig, Pin, RegisterDef, RegisterValue,
};
use packwright_protocol::ProtocolKind;
use serde::Serialize;
use tokio::sync::watch;

use super::{BmsError, BmsHandle, BmsIdentity, RegisterOp, StatsSnapshot};
use crate::profile::{BmsSettings, Profile, ProfileIssue};
use crate::store::{FieldRecord, WriteOutcome};

/// What goes into one register.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wire {
    /// A 16-bit register value.
    Word { raw: u16 },
    /// Bits merged into the board's current value: `(current & !clear) | set`.
    Bits { set: u16, clear: u16 },
    /// A length-prefixed string register.
    Text { text: String },
}

/// One planned register write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedField {
    /// Where the value comes from, e.g. `bms.cell_ov_trigger_mv`.
    pub field: String,
    pub register: u8,
    pub name: &'static str,
    pub wire: Wire,
    /// The value in engineering units, e.g. `3.65 V`.
    pub display: String,
}

impl PlannedField {
    pub fn register_hex(&self) -> String {
        format!("0x{:02X}", self.register)
    }
}

/// Every register write a profile asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigPlan {
    pub profile: String,
    pub protocol: ProtocolKind,
    /// Capacity/current unit the plan uses (0x2D bit 12 is set for the 100 mA unit).
    pub unit: CapacityUnit,
    pub fields: Vec<PlannedField>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("profile {profile} is refused, nothing was sent:\n{}", issues.iter().map(|i| format!("  - {}: {}", i.field, i.reason)).collect::<Vec<_>>().join("\n"))]
    Refused {
        profile: String,
        issues: Vec<ProfileIssue>,
    },
    #[error("{field}: {reason}")]
    Value { field: String, reason: String },
    #[error("configuration writes over {protocol} are not supported: {reason}")]
    Unsupported {
        protocol: ProtocolKind,
        reason: String,
    },
}

/// Largest value a 10 mA / 10 mAh register holds (u16 capacity, s16 current).
const MAX_CAPACITY_10MAH: f64 = 655.35;
const MAX_CURRENT_10MA: f64 = 327.67;

fn mv(v: u32) -> f64 {
    f64::from(v) / 1000.0
}

/// The profile's numeric settings and the JBD register each goes to, in the order they are
/// written (register numbers from the protocol crate's table only). Values in the register's
/// display unit: V, Ah, A, °C.
type NumericField = (&'static str, u8, fn(&BmsSettings) -> f64);
const NUMERIC_FIELDS: [NumericField; 25] = [
    ("bms.design_capacity_mah", reg::DESIGN_CAPACITY, |b| {
        f64::from(b.design_capacity_mah) / 1000.0
    }),
    ("bms.cycle_capacity_mah", reg::CYCLE_CAPACITY, |b| {
        f64::from(b.cycle_capacity_mah) / 1000.0
    }),
    ("bms.full_charge_mv", reg::FULL_CHARGE_VOLTAGE, |b| {
        mv(b.full_charge_mv)
    }),
    (
        "bms.end_of_discharge_mv",
        reg::END_OF_DISCHARGE_VOLTAGE,
        |b| mv(b.end_of_discharge_mv),
    ),
    (
        "bms.charge_ot_trigger_c",
        reg::CHARGE_OVERTEMP_TRIGGER,
        |b| b.charge_ot_trigger_c,
    ),
    (
        "bms.charge_ot_release_c",
        reg::CHARGE_OVERTEMP_RELEASE,
        |b| b.charge_ot_release_c,
    ),
    (
        "bms.charge_ut_trigger_c",
        reg::CHARGE_UNDERTEMP_TRIGGER,
        |b| b.charge_ut_trigger_c,
    ),
    (
        "bms.charge_ut_release_c",
        reg::CHARGE_UNDERTEMP_RELEASE,
        |b| b.charge_ut_release_c,
    ),
    (
        "bms.discharge_ot_trigger_c",
        reg::DISCHARGE_OVERTEMP_TRIGGER,
        |b| b.discharge_ot_trigger_c,
    ),
    (
        "bms.discharge_ot_release_c",
        reg::DISCHARGE_OVERTEMP_RELEASE,
        |b| b.discharge_ot_release_c,
    ),
    (
        "bms.discharge_ut_trigger_c",
        reg::DISCHARGE_UNDERTEMP_TRIGGER,
        |b| b.discharge_ut_trigger_c,
    ),
    (
        "bms.discharge_ut_release_c",
        reg::DISCHARGE_UNDERTEMP_RELEASE,
        |b| b.discharge_ut_release_c,
    ),
    ("bms.pack_ov_trigger_mv", reg::PACK_OV_TRIGGER, |b| {
        mv(b.pack_ov_trigger_mv)
    }),
    ("bms.pack_ov_release_mv", reg::PACK_OV_RELEASE, |b| {
        mv(b.pack_ov_release_mv)
    }),
    ("bms.pack_uv_trigger_mv", reg::PACK_UV_TRIGGER, |b| {
        mv(b.pack_uv_trigger_mv)
    }),
    ("bms.pack_uv_release_mv", reg::PACK_UV_RELEASE, |b| {
        mv(b.pack_uv_release_mv)
    }),
    ("bms.cell_ov_trigger_mv", reg::CELL_OV_TRIGGER, |b| {
        mv(b.cell_ov_trigger_mv)
    }),
    ("bms.cell_ov_release_mv", reg::CELL_OV_RELEASE, |b| {
        mv(b.cell_ov_release_mv)
    }),
    ("bms.cell_uv_trigger_mv", reg::CELL_UV_TRIGGER, |b| {
        mv(b.cell_uv_trigger_mv)
    }),
    ("bms.cell_uv_release_mv", reg::CELL_UV_RELEASE, |b| {
        mv(b.cell_uv_release_mv)
    }),
    ("bms.charge_overcurrent_a", reg::CHARGE_OVERCURRENT, |b| {
        b.charge_overcurrent_a
    }),
    (
        "bms.discharge_overcurrent_a",
        reg::DISCHARGE_OVERCURRENT,
        |b| b.discharge_overcurrent_a,
    ),
    ("bms.balance_start_mv", reg::BALANCE_START_VOLTAGE, |b| {
        mv(b.balance_start_mv)
    }),
    ("bms.balance_delta_mv", reg::BALANCE_WINDOW, |b| {
        mv(b.balance_delta_mv)
    }),
    ("bms.cell_count", reg::CELL_COUNT, |b| {
        f64::from(b.cell_count)
    }),
];

impl ConfigPlan {
    /// Plan the write of `profile`'s BMS section (and `barcode`, if given, into 0xA2).
    /// Refuses a profile that leaves its chemistry's hard limits and any value a register
    /// cannot hold exactly, before anything is sent.
    pub fn from_profile(profile: &Profile, barcode: Option<&str>) -> Result<ConfigPlan, PlanError> {
        let issues = profile.issues();
        if !issues.is_empty() {
            return Err(PlanError::Refused {
                profile: profile.name.clone(),
                issues,
            });
        }
        let b = &profile.bms;
        if b.protocol != ProtocolKind::Jbd {
            return Err(PlanError::Unsupported {
                protocol: b.protocol,
                reason: "the public Daly protocol has no writable protection thresholds; only the FETs and the SOC can be set (packwright bms set)".into(),
            });
        }
        // Big packs need the ×10 unit or their capacity and currents do not fit.
        let design_ah = f64::from(b.design_capacity_mah) / 1000.0;
        let unit = if design_ah > MAX_CAPACITY_10MAH
            || b.charge_overcurrent_a > MAX_CURRENT_10MA
            || b.discharge_overcurrent_a > MAX_CURRENT_10MA
        {
            CapacityUnit::HundredMilli
        } else {
            CapacityUnit::TenMilli
        };
        let mut fields = Vec::new();
        // 0x2D first: its unit bit decides how the board reads the capacity registers.
        let mut set = 0u16;
        if b.balance_enabled {
            set |= FunctionConfig::BALANCE_ENABLE;
        }
        if b.balance_only_while_charging {
            set |= FunctionConfig::BALANCE_WHILE_CHARGING;
        }
        if unit == CapacityUnit::HundredMilli {
            set |= FunctionConfig::UNIT_X10;
        }
        let managed = FunctionConfig::BALANCE_ENABLE
            | FunctionConfig::BALANCE_WHILE_CHARGING
            | FunctionConfig::UNIT_X10;
        fields.push(PlannedField {
            field: "bms.balance_enabled, bms.balance_only_while_charging, unit flag".into(),
            register: eeprom::FUNCTION_CONFIG,
            name: "function_config",
            wire: Wire::Bits {
                set,
                clear: managed & !set,
            },
            display: format!(
                "balance {}, {}, unit {}",
                if b.balance_enabled { "on" } else { "off" },
                if b.balance_only_while_charging {
                    "only while charging"
                } else {
                    "any time"
                },
                if unit == CapacityUnit::HundredMilli {
                    "x10 (100 mA)"
                } else {
                    "10 mA"
                }
            ),
        });
        for (field, address, value) in NUMERIC_FIELDS {
            fields.push(plan_number(field, address, value(b), unit)?);
        }
        let ntc_mask = (1u16 << b.ntc_count.min(8)) - 1;
        fields.push(PlannedField {
            field: "bms.ntc_count".into(),
            register: reg::NTC_CONFIG,
            name: "ntc_config",
            wire: Wire::Word { raw: ntc_mask },
            display: format!("{} sensors (mask 0x{ntc_mask:02X})", b.ntc_count),
        });
        if let Some(code) = barcode {
            eeprom::encode_string(code).map_err(|e| PlanError::Value {
                field: "barcode".into(),
                reason: e.to_string(),
            })?;
            fields.push(PlannedField {
                field: "barcode".into(),
                register: jbd::reg::BARCODE,
                name: "barcode",
                wire: Wire::Text {
                    text: code.to_string(),
                },
                display: code.to_string(),
            });
        }
        Ok(ConfigPlan {
            profile: profile.name.clone(),
            protocol: b.protocol,
            unit,
            fields,
        })
    }
}

fn register_def(address: u8) -> Result<&'static RegisterDef, PlanError> {
    eeprom::register(address).ok_or_else(|| PlanError::Value {
        field: format!("0x{address:02X}"),
        reason: "not an EEPROM register".into(),
    })
}

/// Encode one value, refusing one the register would store differently (e.g. 58 405 mV in a
/// 10 mV register): the board must hold exactly what the profile says.
fn plan_number(
    field: &str,
    address: u8,
    value: f64,
    unit: CapacityUnit,
) -> Result<PlannedField, PlanError> {
    let def = register_def(address)?;
    let wanted = RegisterValue::Quantity {
        value,
        unit: def.unit(),
    };
    let raw = def.encode(&wanted, unit).map_err(|e| PlanError::Value {
        field: field.to_string(),
        reason: e.to_string(),
    })?;
    let stored = def.decode(raw, unit);
    let back = stored.as_f64().unwrap_or(f64::NAN);
    let res = def.resolution(unit).unwrap_or(1.0);
    if (back - value).abs() > res * 1e-6 {
        return Err(PlanError::Value {
            field: field.to_string(),
            reason: format!("{value} {} is not a multiple of the register's {res} {} step (it would store {back})", def.unit(), def.unit()),
        });
    }
    Ok(PlannedField {
        field: field.to_string(),
        register: address,
        name: def.name,
        wire: Wire::Word { raw },
        display: show(&stored),
    })
}

/// `3.65 V`, `2024-03-08`, `0x1004`, `2/3`.
pub fn show(v: &RegisterValue) -> String {
    match v {
        RegisterValue::Quantity { value, unit: "" } => format!("{value}"),
        RegisterValue::Quantity { value, unit } => format!("{value} {unit}"),
        RegisterValue::Date { date } => date.iso().unwrap_or_else(|| format!("0x{:04X}", date.0)),
        RegisterValue::Bits { bits } => format!("0x{bits:04X}"),
        RegisterValue::Pair { first, second } => format!("{first}/{second}"),
    }
}

/// How the session talks to the board.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// PIN to send before factory mode. Without one, the default PIN is sent to firmware
    /// 0x16–0x20 (which has the PIN function); 0x21 and later have none.
    pub pin: Option<Pin>,
    /// Attempts at entering factory mode (each already retried by the device task).
    pub enter_attempts: u32,
    pub enter_backoff: Duration,
    /// The stop switch (a signal, the console quitting): once it holds a reason, the session
    /// sends no further write, leaves factory mode without saving and reports `aborted`.
    /// Checked between register exchanges, so the exchange on the wire always completes.
    /// Once the board has been told to save it is no longer checked: the persistence re-read
    /// (reads only) runs to its end, so the outcome is the board's truth, and the report
    /// names the late request ([`WriteReport::late_stop`]).
    pub cancel: Option<Cancel>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            pin: None,
            enter_attempts: 3,
            enter_backoff: Duration::from_millis(300),
            cancel: None,
        }
    }
}

/// A stop request shared by whoever may interrupt a write: `None` until someone asks, then
/// why (e.g. `interrupted (SIGINT)`).
#[derive(Debug, Clone)]
pub struct Cancel(pub watch::Receiver<Option<String>>);

impl Cancel {
    /// A switch and its sender.
    pub fn new() -> (watch::Sender<Option<String>>, Cancel) {
        let (tx, rx) = watch::channel(None);
        (tx, Cancel(rx))
    }

    /// Why the write was asked to stop, if it was.
    pub fn requested(&self) -> Option<String> {
        self.0.borrow().clone()
    }
}

/// One field's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldResult {
    pub field: String,
    pub register: String,
    pub name: &'static str,
    /// What was (or would have been) written.
    pub written: String,
    pub read_back: Option<String>,
    pub persisted: Option<String>,
    pub ok: bool,
    pub reason: Option<String>,
}

impl FieldResult {
    pub fn record(&self) -> FieldRecord {
        FieldRecord {
            field: self.field.clone(),
            register: Some(self.register.clone()),
            written: Some(self.written.clone()),
            read_back: self.read_back.clone(),
            persisted: self.persisted.clone(),
            ok: self.ok,
            reason: self.reason.clone(),
        }
    }
}

/// Everything a write attempt did, for the operator, the log and the exit code.
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    pub outcome: WriteOutcome,
    pub identity: BmsIdentity,
    /// Whether the board was told to save (exit factory mode with 0x2828).
    pub saved: bool,
    /// Whether the board confirmed leaving factory mode without saving after a failure or an
    /// interruption (false when that exchange failed or was never needed).
    pub left_without_saving: bool,
    /// Why the write was stopped before it finished (a signal, the console quitting).
    pub interrupted: Option<String>,
    /// A stop request that came once the board had been told to save: too late to stop
    /// without leaving the outcome unknown, so the write finished its persistence check and
    /// `outcome` is what that check found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_stop: Option<String>,
    /// Whether the board entered factory mode at all (if not, nothing was written).
    pub entered_factory: bool,
    /// The first failure, naming the field (or the step) and why.
    pub failure: Option<String>,
    /// True when the failure was the link rather than the board's answers.
    pub communication_failure: bool,
    pub fields: Vec<FieldResult>,
    pub elapsed_ms: u64,
    pub traffic: StatsSnapshot,
    /// Test settings an unfinished end-of-line test had left on the board, put back (from the
    /// board journal) before this write began.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<String>,
}

/// A failure of a step that is not one field.
struct StepFailure {
    what: String,
    error: BmsError,
}

impl StepFailure {
    fn new(what: &str, error: BmsError) -> StepFailure {
        StepFailure {
            what: what.to_string(),
            error,
        }
    }
}

/// What a field's raw value reads as, for comparisons and reports.
#[derive(Debug, Clone, PartialEq)]
enum Stored {
    Word(u16),
    Text(String),
}

struct Session<'a> {
    handle: &'a BmsHandle,
    plan: &'a ConfigPlan,
    opts: &'a SessionOptions,
    results: Vec<FieldResult>,
    /// Resolved wire value per field (bits merged with the board's 0x2D).
    targets: Vec<Stored>,
    /// Set once the board confirmed an exit without saving.
    left_without_saving: bool,
    /// Set once the board accepted factory mode.
    entered: bool,
    /// Set when the stop switch ended the session.
    interrupted: Option<String>,
}

/// Run the verified write of `plan` on the board behind `handle`.
pub async fn write_verified(
    handle: &BmsHandle,
    plan: &ConfigPlan,
    opts: &SessionOptions,
) -> WriteReport {
    let started = Instant::now();
    let before = handle.stats();
    let mut session = Session {
        handle,
        plan,
        opts,
        results: plan
            .fields
            .iter()
            .map(|f| FieldResult {
                field: f.field.clone(),
                register: f.register_hex(),
                name: f.name,
                written: f.display.clone(),
                read_back: None,
                persisted: None,
                ok: false,
                reason: None,
            })
            .collect(),
        targets: Vec::new(),
        left_without_saving: false,
        entered: false,
        interrupted: None,
    };
    let mut identity = BmsIdentity::default();
    let mut saved = false;
    let outcome = session.run(&mut identity, &mut saved).await;
    // Any stop request still pending came after the last check, i.e. after the save.
    let late_stop = match (&session.interrupted, saved) {
        (None, true) => opts.cancel.as_ref().and_then(Cancel::requested),
        _ => None,
    };
    let (outcome, failure, communication_failure) = match outcome {
        Ok(()) => (WriteOutcome::Verified, None, false),
        Err(f) if session.interrupted.is_some() => (WriteOutcome::Aborted, Some(f.0), f.1),
        Err(f) => (WriteOutcome::Failed, Some(f.0), f.1),
    };
    let after = handle.stats();
    WriteReport {
        outcome,
        identity,
        saved,
        left_without_saving: session.left_without_saving,
        interrupted: session.interrupted,
        late_stop,
        entered_factory: session.entered,
        failure,
        communication_failure,
        fields: session.results,
        elapsed_ms: started.elapsed().as_millis() as u64,
        traffic: after.since(&before),
        restored: Vec::new(),
    }
}

/// (message, was it the link)
struct Failure(String, bool);

impl From<StepFailure> for Failure {
    fn from(s: StepFailure) -> Failure {
        let comm = s.error.is_communication();
        Failure(format!("{}: {}", s.what, s.error), comm)
    }
}

impl Session<'_> {
    async fn op(&self, what: &str, op: RegisterOp) -> Result<Vec<u8>, StepFailure> {
        self.handle
            .register(op)
            .await
            .map_err(|e| StepFailure::new(what, e))
    }

    async fn run(&mut self, identity: &mut BmsIdentity, saved: &mut bool) -> Result<(), Failure> {
        *identity = self
            .handle
            .identity()
            .await
            .map_err(|e| StepFailure::new("reading the BMS identity", e))?;
        self.check_cancel()?;
        self.send_pin(identity).await?;
        self.enter_factory().await?;
        self.entered = true;
        // Inside factory mode: learn the barcode (identity) and resolve the 0x2D bits.
        if let Ok(d) = self
            .handle
            .register(RegisterOp::Read(jbd::reg::BARCODE))
            .await
        {
            identity.barcode = eeprom::decode_string(jbd::reg::BARCODE, &d)
                .ok()
                .filter(|s| !s.is_empty());
        }
        if let Err(f) = self.resolve_targets().await {
            self.leave_without_saving().await;
            return Err(f);
        }
        if let Err(f) = self.write_and_read_back().await {
            self.leave_without_saving().await;
            return Err(f);
        }
        // The last moment to stop: past here the board saves, and the persistence re-read
        // (reads only) runs to its end so the report says what the board holds.
        if let Err(f) = self.check_cancel() {
            self.leave_without_saving().await;
            return Err(f);
        }
        match self
            .handle
            .register(RegisterOp::ExitFactory { save: true })
            .await
        {
            Ok(_) => {}
            // The board left factory mode already: our first exit was taken and its ACK lost,
            // so this was a retry. Whether it saved is exactly what the re-read below proves.
            Err(BmsError::Rejected { status: 0x81, .. }) => {
                tracing::info!("exit with save answered 0x81 (already out of factory mode); checking persistence");
            }
            Err(e) => return Err(StepFailure::new("exit factory mode with save", e).into()),
        }
        *saved = true;
        self.prove_persistence(identity).await
    }

    async fn send_pin(&self, identity: &BmsIdentity) -> Result<(), Failure> {
        let firmware = identity
            .firmware_version
            .as_deref()
            .and_then(|v| u8::from_str_radix(v.trim_start_matches("0x"), 16).ok());
        let pin = match (self.opts.pin, firmware) {
            (Some(pin), _) => pin,
            (None, Some(fw)) if (0x16..0x21).contains(&fw) => Pin::DEFAULT,
            _ => return Ok(()),
        };
        match self.handle.register(RegisterOp::UsePassword(pin)).await {
            Ok(_) => Ok(()),
            // Firmware without the PIN function (0x21+) answers 0x80: nothing to unlock.
            Err(BmsError::Rejected { status: 0x80, .. }) => Ok(()),
            Err(BmsError::Rejected {
                status, meaning, ..
            }) if self.opts.pin.is_some() => Err(Failure(
                format!(
                    "PIN (0x06): the BMS refused the PIN with status 0x{status:02X} ({meaning})"
                ),
                false,
            )),
            // The default PIN was only a guess; factory mode will say if a PIN is needed.
            Err(BmsError::Rejected { .. }) => Ok(()),
            Err(e) => Err(StepFailure::new("PIN (0x06)", e).into()),
        }
    }

    async fn enter_factory(&self) -> Result<(), Failure> {
        let attempts = self.opts.enter_attempts.max(1);
        for attempt in 1..=attempts {
            match self.handle.register(RegisterOp::EnterFactory).await {
                Ok(_) => return Ok(()),
                Err(e @ BmsError::Timeout { .. }) if attempt < attempts => {
                    tracing::info!("enter factory mode, attempt {attempt}: {e}; retrying");
                    tokio::time::sleep(self.opts.enter_backoff).await;
                }
                Err(BmsError::Rejected { status: 0x81, .. }) => {
                    return Err(Failure(
                        "enter factory mode: refused with status 0x81 (invalid operation): the board probably has a PIN set; give it with --pin".into(),
                        false,
                    ))
                }
                Err(e) => return Err(StepFailure::new("enter factory mode", e).into()),
            }
        }
        Err(Failure(
            "enter factory mode: no attempt succeeded".into(),
            true,
        ))
    }

    async fn leave_without_saving(&mut self) {
        match self
            .handle
            .register(RegisterOp::ExitFactory { save: false })
            .await
        {
            Ok(_) => self.left_without_saving = true,
            Err(e) => tracing::warn!("exit factory mode without saving failed: {e}"),
        }
    }

    /// Stop here if the stop switch was thrown: nothing more is written.
    fn check_cancel(&mut self) -> Result<(), Failure> {
        let Some(why) = self.opts.cancel.as_ref().and_then(Cancel::requested) else {
            return Ok(());
        };
        self.interrupted = Some(why.clone());
        Err(Failure(format!("{why}: stopped before the save"), false))
    }

    async fn resolve_targets(&mut self) -> Result<(), Failure> {
        let mut targets = Vec::with_capacity(self.plan.fields.len());
        for f in &self.plan.fields {
            targets.push(match &f.wire {
                Wire::Word { raw } => Stored::Word(*raw),
                Wire::Text { text } => Stored::Text(text.clone()),
                Wire::Bits { set, clear } => {
                    let what = format!(
                        "{}: reading {} before merging bits",
                        f.field,
                        f.register_hex()
                    );
                    let d = self.op(&what, RegisterOp::Read(f.register)).await?;
                    let current = word(&d).ok_or_else(|| {
                        Failure(format!("{what}: {} data bytes, expected 2", d.len()), false)
                    })?;
                    Stored::Word((current & !clear) | set)
                }
            });
        }
        self.targets = targets;
        Ok(())
    }

    fn encode(&self, i: usize) -> Vec<u8> {
        match &self.targets[i] {
            Stored::Word(raw) => raw.to_be_bytes().to_vec(),
            // Validated when planned.
            Stored::Text(t) => eeprom::encode_string(t).unwrap_or_default(),
        }
    }

    fn decode(&self, i: usize, d: &[u8]) -> Result<Stored, String> {
        match &self.targets[i] {
            Stored::Word(_) => word(d)
                .map(Stored::Word)
                .ok_or_else(|| format!("{} data bytes, expected 2", d.len())),
            Stored::Text(_) => eeprom::decode_string(self.plan.fields[i].register, d)
                .map(Stored::Text)
                .map_err(|e| e.to_string()),
        }
    }

    fn show_stored(&self, i: usize, s: &Stored) -> String {
        match s {
            Stored::Text(t) => t.clone(),
            Stored::Word(raw) => match eeprom::register(self.plan.fields[i].register) {
                Some(def) => format!("{} (0x{raw:04X})", show(&def.decode(*raw, self.plan.unit))),
                None => format!("0x{raw:04X}"),
            },
        }
    }

    fn fail_field(&mut self, i: usize, reason: String, comm: bool) -> Failure {
        self.results[i].ok = false;
        self.results[i].reason = Some(reason.clone());
        Failure(
            format!(
                "{} (register {}): {reason}",
                self.plan.fields[i].field,
                self.plan.fields[i].register_hex()
            ),
            comm,
        )
    }

    async fn write_and_read_back(&mut self) -> Result<(), Failure> {
        for i in 0..self.plan.fields.len() {
            self.check_cancel()?;
            let register = self.plan.fields[i].register;
            self.results[i].written = self.show_stored(i, &self.targets[i].clone());
            let data = self.encode(i);
            if let Err(e) = self
                .handle
                .register(RegisterOp::Write { register, data })
                .await
            {
                let comm = e.is_communication();
                return Err(self.fail_field(i, format!("write not accepted: {e}"), comm));
            }
        }
        for i in 0..self.plan.fields.len() {
            self.check_cancel()?;
            let got = self.read_field(i).await?;
            self.results[i].read_back = Some(self.show_stored(i, &got));
            if got != self.targets[i] {
                let reason = format!(
                    "read back {} after writing {}: the board did not store it",
                    self.show_stored(i, &got),
                    self.results[i].written
                );
                return Err(self.fail_field(i, reason, false));
            }
        }
        Ok(())
    }

    async fn read_field(&mut self, i: usize) -> Result<Stored, Failure> {
        let register = self.plan.fields[i].register;
        match self.handle.register(RegisterOp::Read(register)).await {
            Ok(d) => self
                .decode(i, &d)
                .map_err(|reason| self.fail_field(i, format!("unreadable reply: {reason}"), false)),
            Err(e) => {
                let comm = e.is_communication();
                Err(self.fail_field(i, format!("read-back failed: {e}"), comm))
            }
        }
    }

    async fn prove_persistence(&mut self, identity: &BmsIdentity) -> Result<(), Failure> {
        // Leaving factory mode ends the PIN session too.
        self.send_pin(identity).await.map_err(|f| {
            Failure(
                format!("saved, but the persistence check could not start: {}", f.0),
                f.1,
            )
        })?;
        self.enter_factory().await.map_err(|f| {
            Failure(
                format!("saved, but the persistence check could not start: {}", f.0),
                f.1,
            )
        })?;
        let mut first: Option<Failure> = None;
        for i in 0..self.plan.fields.len() {
            match self.read_field(i).await {
                Ok(got) => {
                    self.results[i].persisted = Some(self.show_stored(i, &got));
                    if got == self.targets[i] {
                        self.results[i].ok = true;
                    } else {
                        let reason = format!(
                            "not persisted: after the save the board holds {} instead of {}",
                            self.show_stored(i, &got),
                            self.results[i].written
                        );
                        let f = self.fail_field(i, reason, false);
                        first.get_or_insert(f);
                    }
                }
                Err(f) => {
                    first.get_or_insert(f);
                    break;
                }
            }
        }
        self.leave_without_saving().await;
        match first {
            None => Ok(()),
            Some(f) => Err(f),
        }
    }
}

fn word(d: &[u8]) -> Option<u16> {
    match d {
        [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Read the board's current value of every planned register (factory mode, left without
/// saving) and compare with the plan. `None` plan: every EEPROM register and string.
pub async fn read_config(
    handle: &BmsHandle,
    plan: Option<&ConfigPlan>,
) -> Result<Vec<ConfigReading>, BmsError> {
    // A board left in factory mode (a writer killed mid-session) would show its unsaved working
    // copy: discard it first, so what is read is what the board has saved. Out of factory mode
    // the board answers 0x81, which is the usual case.
    match handle
        .register(RegisterOp::ExitFactory { save: false })
        .await
    {
        Ok(_) => {
            tracing::info!("the board was in factory mode: left without saving before reading")
        }
        Err(BmsError::Rejected { .. }) => {}
        Err(e) => return Err(e),
    }
    handle.register(RegisterOp::EnterFactory).await?;
    let result = read_all(handle, plan).await;
    let exit = handle
        .register(RegisterOp::ExitFactory { save: false })
        .await;
    let readings = result?;
    match exit {
        // Out of factory mode already: the first exit was taken and its ACK lost, so the
        // device task's retry was refused. Nothing was to be saved either way.
        Ok(_) | Err(BmsError::Rejected { status: 0x81, .. }) => Ok(readings),
        Err(e) => Err(e),
    }
}

/// One register as read, with what the plan expects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigReading {
    pub register: String,
    pub name: &'static str,
    pub field: Option<String>,
    pub value: Option<String>,
    pub raw: Option<u16>,
    pub expected: Option<String>,
    /// `None` when nothing is expected; otherwise whether the board matches the plan.
    pub matches: Option<bool>,
    /// Why the register could not be read (e.g. 0x80 on firmware without it).
    pub error: Option<String>,
}

async fn read_all(
    handle: &BmsHandle,
    plan: Option<&ConfigPlan>,
) -> Result<Vec<ConfigReading>, BmsError> {
    let unit_raw = word(
        &handle
            .register(RegisterOp::Read(eeprom::FUNCTION_CONFIG))
            .await?,
    );
    let unit = unit_raw.map_or(CapacityUnit::TenMilli, |v| FunctionConfig(v).unit());
    let mut out = Vec::new();
    let registers: Vec<(u8, Option<&PlannedField>)> = match plan {
        Some(p) => p.fields.iter().map(|f| (f.register, Some(f))).collect(),
        None => eeprom::EEPROM
            .iter()
            .map(|d| (d.address, None))
            .chain(
                [
                    jbd::reg::MANUFACTURER,
                    jbd::reg::DEVICE_NAME,
                    jbd::reg::BARCODE,
                ]
                .map(|r| (r, None)),
            )
            .collect(),
    };
    for (register, planned) in registers {
        let mut r = ConfigReading {
            register: format!("0x{register:02X}"),
            name: jbd::register_name(register),
            field: planned.map(|p| p.field.clone()),
            value: None,
            raw: None,
            expected: planned.map(|p| p.display.clone()),
            matches: None,
            error: None,
        };
        match handle.register(RegisterOp::Read(register)).await {
            Ok(d) => {
                if let Some(def) = eeprom::register(register) {
                    r.raw = word(&d);
                    r.value = r.raw.map(|raw| show(&def.decode(raw, unit)));
                } else {
                    r.value = eeprom::decode_string(register, &d).ok();
                }
                r.matches = planned.map(|p| match (&p.wire, r.raw) {
                    (Wire::Word { raw }, Some(got)) => got == *raw,
                    (Wire::Bits { set, clear }, Some(got)) => got & (set | clear) == *set,
                    (Wire::Text { text }, _) => r.value.as_deref() == Some(text.as_str()),
                    _ => false,
                });
            }
            Err(e @ BmsError::Rejected { .. }) => {
                r.error = Some(e.to_string());
                r.matches = planned.map(|_| false);
            }
            Err(e) => return Err(e),
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Profile {
        Profile::load(name).unwrap()
    }

    #[test]
    fn plan_covers_every_bms_value_with_units() {
        let p = profile("lfp-16s1p-280ah");
        let plan = ConfigPlan::from_profile(&p, Some("PW00000042")).unwrap();
        assert_eq!(plan.unit, CapacityUnit::TenMilli);
        let get = |name: &str| plan.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(get("design_capacity").wire, Wire::Word { raw: 28000 });
        assert_eq!(get("cell_ov_trigger").wire, Wire::Word { raw: 3650 });
        assert_eq!(get("cell_ov_trigger").display, "3.65 V");
        assert_eq!(get("pack_ov_trigger").wire, Wire::Word { raw: 5840 });
        assert_eq!(
            get("discharge_overcurrent").wire,
            Wire::Word {
                raw: 0u16.wrapping_sub(20000)
            }
        );
        assert_eq!(
            get("charge_overtemp_trigger").wire,
            Wire::Word { raw: 2731 + 500 }
        );
        assert_eq!(
            get("discharge_undertemp_trigger").wire,
            Wire::Word { raw: 2731 - 150 }
        );
        assert_eq!(get("ntc_config").wire, Wire::Word { raw: 0x0F });
        assert_eq!(
            get("barcode").wire,
            Wire::Text {
                text: "PW00000042".into()
            }
        );
        assert_eq!(
            plan.fields[0].name, "function_config",
            "the unit flag goes first"
        );
        assert_eq!(
            plan.fields[0].wire,
            Wire::Bits {
                set: FunctionConfig::BALANCE_ENABLE,
                clear: FunctionConfig::BALANCE_WHILE_CHARGING | FunctionConfig::UNIT_X10
            }
        );
        // Every [bms] value of the profile lands in a register.
        assert_eq!(plan.fields.len(), 1 + 25 + 1 + 1);
    }

    #[test]
    fn big_packs_switch_to_the_x10_unit() {
        let mut p = profile("lfp-16s1p-280ah");
        p.bms.design_capacity_mah = 840_000;
        p.bms.cycle_capacity_mah = 700_000;
        let plan = ConfigPlan::from_profile(&p, None).unwrap();
        assert_eq!(plan.unit, CapacityUnit::HundredMilli);
        let cap = plan
            .fields
            .iter()
            .find(|f| f.name == "design_capacity")
            .unwrap();
        assert_eq!(cap.wire, Wire::Word { raw: 8400 });
        let oc = plan
            .fields
            .iter()
            .find(|f| f.name == "charge_overcurrent")
            .unwrap();
        assert_eq!(oc.wire, Wire::Word { raw: 1500 });
        assert!(
            matches!(plan.fields[0].wire, Wire::Bits { set, .. } if set & FunctionConfig::UNIT_X10 != 0)
        );
    }

    #[test]
    fn values_outside_hard_limits_are_refused_naming_the_field() {
        let mut p = profile("lfp-16s1p-280ah");
        p.bms.cell_ov_trigger_mv = 3900;
        let err = ConfigPlan::from_profile(&p, None).unwrap_err();
        assert!(
            matches!(&err, PlanError::Refused { issues, .. } if issues.iter().any(|i| i.field == "bms.cell_ov_trigger_mv"))
        );
        assert!(err.to_string().contains("nothing was sent"));
    }

    #[test]
    fn values_a_register_cannot_hold_exactly_are_refused() {
        let mut p = profile("lfp-16s1p-280ah");
        p.bms.pack_ov_trigger_mv = 58_394;
        let err = ConfigPlan::from_profile(&p, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bms.pack_ov_trigger_mv: 58.394 V is not a multiple of the register's 0.01 V step (it would store 58.39)"
        );
        let err = ConfigPlan::from_profile(&profile("lfp-16s1p-280ah"), Some("café")).unwrap_err();
        assert!(err.to_string().starts_with("barcode:"), "{err}");
    }

    #[test]
    fn daly_profiles_are_not_planned() {
        let mut p = profile("lfp-16s1p-280ah");
        p.bms.protocol = ProtocolKind::Daly;
        assert!(matches!(
            ConfigPlan::from_profile(&p, None),
            Err(PlanError::Unsupported { .. })
        ));
    }
}
