//! BMS configuration: the plan (profile values → registers, with units and the unit flag) and
//! the verified write session, for every family that can be configured (JBD, JK PB). The
//! console, the EOL test and the CLI call the same [`ConfigPlan::from_profile`],
//! [`write_verified`] and [`read_config`] whatever the board; only this module knows how each
//! family stores its settings.
//!
//! The session, for JK PB (Modbus RTU, no factory mode and no save command): read the identity,
//! write every field (FC16, two registers each) and require the board's acknowledgement, read
//! every field back on its own, then re-read the whole settings block (0x1000, in reads of at
//! most 100 registers) and compare every field again: an acknowledgement or an echo of the last
//! write proves nothing, what the settings block holds when read as a whole is what the board
//! keeps. A failure stops the session; fields already written keep their new values (there is
//! no working copy to discard) and the report says which.
//!
//! The session, for Pace v25 (Pylontech-style ASCII, configuration groups read and written
//! with CID2 pairs, no save command): read every group the plan touches, merge the profile's
//! values into it (the group's other values are written back as read), write each group and
//! require return code 00, read the group back at once and compare, then re-read every group
//! after all the writes and compare again: an acknowledgement or an immediate echo proves
//! nothing, what the groups hold after the session is what the pack keeps.
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
use packwright_protocol::jk_pb;
use packwright_protocol::pylon_ascii::pace::{self, ParamKind};
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
    /// A 32-bit value over two registers (JK PB), signed ones as their bit pattern.
    Long { raw: u32 },
    /// One value of a Pace configuration group (read CID2), by its codec name, in the
    /// group's units (mV, A, °C).
    Group {
        read_cid2: u8,
        key: &'static str,
        value: f64,
    },
}

/// One planned register write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedField {
    /// Where the value comes from, e.g. `bms.cell_ov_trigger_mv`.
    pub field: String,
    /// JBD: an EEPROM register (0x10–0xA2); JK PB: a settings-block address (0x1000–0x1117).
    pub register: u16,
    pub name: &'static str,
    pub wire: Wire,
    /// The value in engineering units, e.g. `3.65 V`.
    pub display: String,
}

impl PlannedField {
    pub fn register_hex(&self) -> String {
        if self.register > 0xFF {
            format!("0x{:04X}", self.register)
        } else {
            format!("0x{:02X}", self.register)
        }
    }

    /// The JBD register number, for the EOL test's JBD-register steps.
    pub fn jbd_register(&self) -> Option<u8> {
        u8::try_from(self.register).ok()
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
    /// Profile values this family's board has no setting for: compared by nothing, written
    /// nowhere, and said so (`profile check`, `bms config write --dry-run`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_configured: Vec<NotConfigured>,
}

/// A profile value the board cannot be configured with, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotConfigured {
    pub field: &'static str,
    pub reason: &'static str,
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
        match b.protocol {
            ProtocolKind::Jbd => {}
            ProtocolKind::JkPb | ProtocolKind::Pace => {
                let mut plan = if b.protocol == ProtocolKind::JkPb {
                    jk_pb_plan(profile)?
                } else {
                    pace_plan(profile)?
                };
                if barcode.is_some() {
                    plan.not_configured.push(NotConfigured {
                        field: "barcode",
                        reason: "this board has no writable pack code; its own serial number identifies it",
                    });
                }
                return Ok(plan);
            }
            ProtocolKind::Daly => return Err(PlanError::Unsupported {
                protocol: b.protocol,
                reason: "the public Daly protocol has no writable protection thresholds; only the FETs and the SOC can be set (packwright bms set)".into(),
            }),
            other => {
                return Err(PlanError::Unsupported {
                    protocol: other,
                    reason: "a CAN protocol carries no configuration writes".into(),
                })
            }
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
            register: u16::from(eeprom::FUNCTION_CONFIG),
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
            register: u16::from(reg::NTC_CONFIG),
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
                register: u16::from(jbd::reg::BARCODE),
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
            not_configured: JBD_NOT_CONFIGURED.to_vec(),
        })
    }

    /// How the session reaches this plan's board.
    fn style(&self) -> Style {
        match self.protocol {
            ProtocolKind::JkPb => Style::Direct,
            ProtocolKind::Pace => Style::Groups,
            _ => Style::Factory,
        }
    }
}

/// Whether boards of `protocol` take a configuration write (and have one to read back).
pub fn configurable(protocol: ProtocolKind) -> bool {
    matches!(
        protocol,
        ProtocolKind::Jbd | ProtocolKind::JkPb | ProtocolKind::Pace
    )
}

/// What a profile's BMS section comes to on its board, said before anything is sent
/// (`profile check`): the values written and verified, and those the board cannot take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub protocol: ProtocolKind,
    /// Profile fields the configuration write sends and verifies.
    pub written: Vec<String>,
    pub not_configured: Vec<NotConfigured>,
    /// What else can be written to this board, and how.
    pub other_writes: Option<&'static str>,
}

/// What a Daly board cannot be configured with: everything in `[bms]`.
const DALY_NOT_CONFIGURED: [NotConfigured; 1] = [NotConfigured {
    field: "every [bms] threshold, capacity and cell-count value",
    reason: "the public Daly protocol has no write for protection thresholds; they are neither written nor compared",
}];

/// The coverage of `profile`'s BMS section (a profile that fails its check has none).
pub fn coverage(profile: &Profile) -> Option<Coverage> {
    let protocol = profile.bms.protocol;
    if protocol == ProtocolKind::Daly {
        return Some(Coverage {
            protocol,
            written: Vec::new(),
            not_configured: DALY_NOT_CONFIGURED.to_vec(),
            other_writes: Some("the FETs (0xD9/0xDA) and the state of charge with the clock (0x21), with `packwright bms set`, logged and verified by reading the board back (the clock is sent, not read back)"),
        });
    }
    let plan = ConfigPlan::from_profile(profile, None).ok()?;
    let mut written: Vec<String> = Vec::new();
    for f in &plan.fields {
        for part in f.field.split(", ") {
            if part.starts_with("bms.") && !written.iter().any(|w| w == part) {
                written.push(part.to_string());
            }
        }
    }
    Some(Coverage {
        protocol,
        written,
        not_configured: plan.not_configured,
        other_writes: None,
    })
}

/// What a JBD board has no setting for.
const JBD_NOT_CONFIGURED: [NotConfigured; 0] = [];

/// How a family's board takes a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// JBD: PIN, factory mode, staged writes, exit with save, re-read in factory mode.
    Factory,
    /// JK PB: every acknowledged write is the board's; persistence is the settings block read
    /// as a whole after the writes.
    Direct,
    /// Pace: whole configuration groups written, read back, and re-read after all writes.
    Groups,
}

/// A profile value into a Pace configuration group.
type PaceField = (
    &'static str,
    ParamKind,
    &'static str,
    fn(&BmsSettings) -> f64,
);

/// The profile's settings and the Pace group value each goes to (names from the protocol
/// crate's `pylon_ascii::pace` structures), in write order.
const PACE_FIELDS: [PaceField; 20] = [
    (
        "bms.cell_ov_trigger_mv",
        ParamKind::CellOverVoltage,
        "protect_mv",
        |b| f64::from(b.cell_ov_trigger_mv),
    ),
    (
        "bms.cell_ov_release_mv",
        ParamKind::CellOverVoltage,
        "release_mv",
        |b| f64::from(b.cell_ov_release_mv),
    ),
    (
        "bms.pack_ov_trigger_mv",
        ParamKind::PackOverVoltage,
        "protect_mv",
        |b| f64::from(b.pack_ov_trigger_mv),
    ),
    (
        "bms.pack_ov_release_mv",
        ParamKind::PackOverVoltage,
        "release_mv",
        |b| f64::from(b.pack_ov_release_mv),
    ),
    (
        "bms.cell_uv_trigger_mv",
        ParamKind::CellUnderVoltage,
        "protect_mv",
        |b| f64::from(b.cell_uv_trigger_mv),
    ),
    (
        "bms.cell_uv_release_mv",
        ParamKind::CellUnderVoltage,
        "release_mv",
        |b| f64::from(b.cell_uv_release_mv),
    ),
    (
        "bms.pack_uv_trigger_mv",
        ParamKind::PackUnderVoltage,
        "protect_mv",
        |b| f64::from(b.pack_uv_trigger_mv),
    ),
    (
        "bms.pack_uv_release_mv",
        ParamKind::PackUnderVoltage,
        "release_mv",
        |b| f64::from(b.pack_uv_release_mv),
    ),
    (
        "bms.charge_overcurrent_a",
        ParamKind::ChargeOverCurrent,
        "protect_a",
        |b| b.charge_overcurrent_a,
    ),
    (
        "bms.discharge_overcurrent_a",
        ParamKind::DischargeOverCurrent1,
        "protect_a",
        |b| b.discharge_overcurrent_a,
    ),
    (
        "bms.balance_start_mv",
        ParamKind::CellBalancing,
        "threshold_mv",
        |b| f64::from(b.balance_start_mv),
    ),
    (
        "bms.balance_delta_mv",
        ParamKind::CellBalancing,
        "delta_mv",
        |b| f64::from(b.balance_delta_mv),
    ),
    (
        "bms.charge_ot_trigger_c",
        ParamKind::ChargeDischargeOverTemperature,
        "charge_protect_c",
        |b| b.charge_ot_trigger_c,
    ),
    (
        "bms.charge_ot_release_c",
        ParamKind::ChargeDischargeOverTemperature,
        "charge_release_c",
        |b| b.charge_ot_release_c,
    ),
    (
        "bms.discharge_ot_trigger_c",
        ParamKind::ChargeDischargeOverTemperature,
        "discharge_protect_c",
        |b| b.discharge_ot_trigger_c,
    ),
    (
        "bms.discharge_ot_release_c",
        ParamKind::ChargeDischargeOverTemperature,
        "discharge_release_c",
        |b| b.discharge_ot_release_c,
    ),
    (
        "bms.charge_ut_trigger_c",
        ParamKind::ChargeDischargeUnderTemperature,
        "charge_protect_c",
        |b| b.charge_ut_trigger_c,
    ),
    (
        "bms.charge_ut_release_c",
        ParamKind::ChargeDischargeUnderTemperature,
        "charge_release_c",
        |b| b.charge_ut_release_c,
    ),
    (
        "bms.discharge_ut_trigger_c",
        ParamKind::ChargeDischargeUnderTemperature,
        "discharge_protect_c",
        |b| b.discharge_ut_trigger_c,
    ),
    (
        "bms.discharge_ut_release_c",
        ParamKind::ChargeDischargeUnderTemperature,
        "discharge_release_c",
        |b| b.discharge_ut_release_c,
    ),
];

/// What a Pace pack has no setting for among the documented read/write pairs.
const PACE_NOT_CONFIGURED: [NotConfigured; 5] = [
    NotConfigured { field: "bms.cell_count", reason: "a Pace pack reports its cells; it has no cell-count setting" },
    NotConfigured { field: "bms.design_capacity_mah, bms.cycle_capacity_mah", reason: "the Pace read/write pairs carry no capacities" },
    NotConfigured { field: "bms.full_charge_mv, bms.end_of_discharge_mv", reason: "Pace's full-charge group (AF/AE) is a pack voltage with a current, not the profile's per-cell values; left as the pack has it" },
    NotConfigured { field: "bms.ntc_count", reason: "the Pace read/write pairs have no sensor count" },
    NotConfigured { field: "bms.balance_enabled, bms.balance_only_while_charging", reason: "balancing is switched with Pace's 0x99 switch command, which is not written" },
];

fn pace_unit(key: &str) -> (&'static str, f64) {
    if key.ends_with("_mv") {
        ("V", 1000.0)
    } else if key.ends_with("_a") {
        ("A", 1.0)
    } else if key.ends_with("_c") {
        ("°C", 1.0)
    } else {
        ("", 1.0)
    }
}

fn pace_show(key: &str, value: f64) -> String {
    match pace_unit(key) {
        ("", _) => format!("{value}"),
        (unit, div) => format!("{} {unit}", value / div),
    }
}

fn pace_kind(read_cid2: u8) -> Option<ParamKind> {
    ParamKind::from_read_cid2(read_cid2)
}

/// The value of `key` in a group, as a number.
fn pace_value(param: &pace::Param, key: &str) -> Option<f64> {
    serde_json::to_value(param).ok()?.get(key)?.as_f64()
}

/// `param` with `key` set to `value` (an integer field takes a whole number).
fn pace_with(param: &pace::Param, key: &str, value: f64) -> Result<pace::Param, String> {
    let mut json = serde_json::to_value(param).map_err(|e| e.to_string())?;
    let slot = json
        .get_mut(key)
        .ok_or_else(|| format!("the group has no value {key}"))?;
    *slot = if slot.is_f64() {
        serde_json::Value::from(value)
    } else {
        serde_json::Value::from(value as i64)
    };
    serde_json::from_value(json).map_err(|e| format!("{key} = {value}: {e}"))
}

/// The Pace plan: every group value the profile has, exactly as a group can hold it.
fn pace_plan(profile: &Profile) -> Result<ConfigPlan, PlanError> {
    let b = &profile.bms;
    let mut fields = Vec::new();
    for (field, kind, key, value) in PACE_FIELDS {
        let v = value(b);
        // mV and A are whole numbers in the groups; temperatures go in 0.1 K steps.
        let step = if key.ends_with("_c") { 0.1 } else { 1.0 };
        let steps = v / step;
        if (steps - steps.round()).abs() > 1e-6 || !(-273.0..=65535.0).contains(&v) {
            return Err(PlanError::Value {
                field: field.to_string(),
                reason: format!(
                    "{} cannot be held exactly by a Pace pack (steps of {step})",
                    pace_show(key, v)
                ),
            });
        }
        let (read, write) = kind.cid2();
        fields.push(PlannedField {
            field: field.to_string(),
            register: u16::from(write),
            name: key,
            wire: Wire::Group {
                read_cid2: read,
                key,
                value: v,
            },
            display: pace_show(key, v),
        });
    }
    Ok(ConfigPlan {
        profile: profile.name.clone(),
        protocol: ProtocolKind::Pace,
        unit: CapacityUnit::TenMilli,
        fields,
        not_configured: PACE_NOT_CONFIGURED.to_vec(),
    })
}

/// Read one Pace group.
async fn pace_read_group(handle: &BmsHandle, kind: ParamKind) -> Result<pace::Param, BmsError> {
    let (read, _) = kind.cid2();
    let info = handle
        .register(RegisterOp::Command {
            cid2: read,
            info: Vec::new(),
        })
        .await?;
    pace::decode_read_info(kind, &info).map_err(|e| BmsError::BadReply {
        what: format!("configuration read (0x{read:02X})"),
        reason: e.to_string(),
    })
}

/// The groups a plan touches, in first-use order.
fn pace_groups(plan: &ConfigPlan) -> Vec<ParamKind> {
    let mut out: Vec<ParamKind> = Vec::new();
    for f in &plan.fields {
        if let Wire::Group { read_cid2, .. } = f.wire {
            if let Some(k) = pace_kind(read_cid2) {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

/// How a JK PB setting is counted: its display and the profile value's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JkUnit {
    Millivolt,
    Milliamp,
    DeciCelsius,
    MilliampHour,
    Count,
    Switch,
}

impl JkUnit {
    fn show(self, raw: u32) -> String {
        match self {
            JkUnit::Millivolt => format!("{} V", f64::from(raw) / 1000.0),
            JkUnit::Milliamp => format!("{} A", f64::from(raw) / 1000.0),
            JkUnit::DeciCelsius => format!("{} °C", f64::from(raw as i32) / 10.0),
            JkUnit::MilliampHour => format!("{} Ah", f64::from(raw) / 1000.0),
            JkUnit::Count => raw.to_string(),
            JkUnit::Switch => if raw == 0 { "off" } else { "on" }.to_string(),
        }
    }
}

/// A profile value into a JK PB setting (in the profile's own units: mV, A, °C, mAh, count).
type JkField = (&'static str, &'static str, JkUnit, fn(&BmsSettings) -> f64);

/// The profile's settings and the JK PB settings-block field each goes to, in register order
/// (field names from the protocol crate's `jk_pb::SETTING_FIELDS`).
const JK_PB_FIELDS: [JkField; 19] = [
    (
        "bms.cell_uv_trigger_mv",
        "cell_uvp_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.cell_uv_trigger_mv),
    ),
    (
        "bms.cell_uv_release_mv",
        "cell_uvp_release_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.cell_uv_release_mv),
    ),
    (
        "bms.cell_ov_trigger_mv",
        "cell_ovp_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.cell_ov_trigger_mv),
    ),
    (
        "bms.cell_ov_release_mv",
        "cell_ovp_release_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.cell_ov_release_mv),
    ),
    (
        "bms.balance_delta_mv",
        "balance_trigger_delta_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.balance_delta_mv),
    ),
    ("bms.full_charge_mv", "soc_100_mv", JkUnit::Millivolt, |b| {
        f64::from(b.full_charge_mv)
    }),
    (
        "bms.end_of_discharge_mv",
        "soc_0_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.end_of_discharge_mv),
    ),
    (
        "bms.charge_overcurrent_a",
        "charge_overcurrent_ma",
        JkUnit::Milliamp,
        |b| b.charge_overcurrent_a * 1000.0,
    ),
    (
        "bms.discharge_overcurrent_a",
        "discharge_overcurrent_ma",
        JkUnit::Milliamp,
        |b| b.discharge_overcurrent_a * 1000.0,
    ),
    (
        "bms.charge_ot_trigger_c",
        "charge_overtemp_dc",
        JkUnit::DeciCelsius,
        |b| b.charge_ot_trigger_c * 10.0,
    ),
    (
        "bms.charge_ot_release_c",
        "charge_overtemp_release_dc",
        JkUnit::DeciCelsius,
        |b| b.charge_ot_release_c * 10.0,
    ),
    (
        "bms.discharge_ot_trigger_c",
        "discharge_overtemp_dc",
        JkUnit::DeciCelsius,
        |b| b.discharge_ot_trigger_c * 10.0,
    ),
    (
        "bms.discharge_ot_release_c",
        "discharge_overtemp_release_dc",
        JkUnit::DeciCelsius,
        |b| b.discharge_ot_release_c * 10.0,
    ),
    (
        "bms.charge_ut_trigger_c",
        "charge_undertemp_dc",
        JkUnit::DeciCelsius,
        |b| b.charge_ut_trigger_c * 10.0,
    ),
    (
        "bms.charge_ut_release_c",
        "charge_undertemp_release_dc",
        JkUnit::DeciCelsius,
        |b| b.charge_ut_release_c * 10.0,
    ),
    ("bms.cell_count", "cell_count", JkUnit::Count, |b| {
        f64::from(b.cell_count)
    }),
    (
        "bms.balance_enabled",
        "balance_enable",
        JkUnit::Switch,
        |b| f64::from(u8::from(b.balance_enabled)),
    ),
    (
        "bms.design_capacity_mah",
        "design_capacity_mah",
        JkUnit::MilliampHour,
        |b| f64::from(b.design_capacity_mah),
    ),
    (
        "bms.balance_start_mv",
        "balance_start_mv",
        JkUnit::Millivolt,
        |b| f64::from(b.balance_start_mv),
    ),
];

/// What a JK PB board has no setting for (its settings block, `JK-BMS-RS485-Modbus-V1.1`).
const JK_PB_NOT_CONFIGURED: [NotConfigured; 8] = [
    NotConfigured {
        field: "bms.pack_ov_trigger_mv",
        reason: "JK PB protects per cell; it has no pack-voltage thresholds",
    },
    NotConfigured {
        field: "bms.pack_ov_release_mv",
        reason: "JK PB protects per cell; it has no pack-voltage thresholds",
    },
    NotConfigured {
        field: "bms.pack_uv_trigger_mv",
        reason: "JK PB protects per cell; it has no pack-voltage thresholds",
    },
    NotConfigured {
        field: "bms.pack_uv_release_mv",
        reason: "JK PB protects per cell; it has no pack-voltage thresholds",
    },
    NotConfigured {
        field: "bms.discharge_ut_trigger_c",
        reason: "the JK PB settings block has no discharge under-temperature protection",
    },
    NotConfigured {
        field: "bms.discharge_ut_release_c",
        reason: "the JK PB settings block has no discharge under-temperature protection",
    },
    NotConfigured {
        field: "bms.cycle_capacity_mah",
        reason: "the JK PB settings block has no cycle capacity",
    },
    NotConfigured {
        field: "bms.ntc_count, bms.balance_only_while_charging",
        reason: "the JK PB settings block has no sensor count and no charge-only balancing switch",
    },
];

/// A JK PB setting by the protocol crate's name.
fn jk_setting(name: &str) -> Option<&'static jk_pb::SettingField> {
    jk_pb::SETTING_FIELDS.iter().find(|f| f.name == name)
}

/// The display of a JK PB setting's raw value, by its register.
fn jk_show(register: u16, raw: u32) -> String {
    match JK_PB_FIELDS
        .iter()
        .find(|(_, name, _, _)| jk_setting(name).is_some_and(|f| f.register() == register))
    {
        Some((_, _, unit, _)) => unit.show(raw),
        None => raw.to_string(),
    }
}

/// The JK PB plan: every settings-block field the profile has a value for, exactly.
fn jk_pb_plan(profile: &Profile) -> Result<ConfigPlan, PlanError> {
    let b = &profile.bms;
    let mut fields = Vec::new();
    for (field, name, unit, value) in JK_PB_FIELDS {
        let setting = jk_setting(name).ok_or_else(|| PlanError::Value {
            field: field.to_string(),
            reason: format!("the JK PB settings block has no field {name}"),
        })?;
        let v = value(b);
        let whole = v.round();
        if (v - whole).abs() > 1e-6 || !whole.is_finite() {
            return Err(PlanError::Value {
                field: field.to_string(),
                reason: format!(
                    "{} is not a whole number of the board's steps ({})",
                    unit.show(whole as i64 as u32),
                    name
                ),
            });
        }
        let raw = if setting.signed {
            if whole < f64::from(i32::MIN) || whole > f64::from(i32::MAX) {
                return Err(PlanError::Value {
                    field: field.to_string(),
                    reason: "out of the register's range".into(),
                });
            }
            whole as i32 as u32
        } else {
            if whole < 0.0 || whole > f64::from(u32::MAX) {
                return Err(PlanError::Value {
                    field: field.to_string(),
                    reason: "out of the register's range".into(),
                });
            }
            whole as u32
        };
        fields.push(PlannedField {
            field: field.to_string(),
            register: setting.register(),
            name: setting.name,
            wire: Wire::Long { raw },
            display: unit.show(raw),
        });
    }
    Ok(ConfigPlan {
        profile: profile.name.clone(),
        protocol: ProtocolKind::JkPb,
        unit: CapacityUnit::TenMilli,
        fields,
        not_configured: JK_PB_NOT_CONFIGURED.to_vec(),
    })
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
        register: u16::from(address),
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
    /// On the line database, when it could not be reached as the write ended: the write's log
    /// waits in the station's outbox (and the pack is configured when it is forwarded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_queued: Option<String>,
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
    Long(u32),
    /// A Pace group value in its units.
    Num(f64),
    /// A value the reply did not carry.
    Missing,
}

/// The register operation that reads one planned field (`long`: a 32-bit value).
fn read_op(protocol: ProtocolKind, register: u16, long: bool) -> Result<RegisterOp, BmsError> {
    match protocol {
        ProtocolKind::JkPb => Ok(RegisterOp::ReadWords {
            register,
            words: if long { 2 } else { 1 },
        }),
        _ => u8::try_from(register).map(RegisterOp::Read).map_err(|_| {
            BmsError::BadRequest(format!("0x{register:04X} is not a {protocol} register"))
        }),
    }
}

/// The register operation that writes `data` into one planned field.
fn write_op(protocol: ProtocolKind, register: u16, data: Vec<u8>) -> Result<RegisterOp, BmsError> {
    match protocol {
        ProtocolKind::JkPb => Ok(RegisterOp::WriteWords { register, data }),
        _ => u8::try_from(register)
            .map(|register| RegisterOp::Write { register, data })
            .map_err(|_| {
                BmsError::BadRequest(format!("0x{register:04X} is not a {protocol} register"))
            }),
    }
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
        log_queued: None,
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
        match self.plan.style() {
            Style::Direct => return self.run_direct(saved).await,
            Style::Groups => return self.run_groups(saved).await,
            Style::Factory => {}
        }
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

    /// JK PB: write, read back, then the settings block as a whole. Nothing to enter or leave.
    async fn run_direct(&mut self, saved: &mut bool) -> Result<(), Failure> {
        self.resolve_targets().await?;
        self.write_and_read_back().await?;
        self.check_cancel()?;
        // No save command: every acknowledged write is the board's own from here.
        *saved = true;
        let block = self.read_settings_block().await?;
        let mut first: Option<Failure> = None;
        for i in 0..self.plan.fields.len() {
            let offset = usize::from(self.plan.fields[i].register - jk_pb::SETTINGS_BLOCK);
            let got = block
                .get(offset..offset + 4)
                .map(|b| Stored::Long(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
            let Some(got) = got else {
                let f = self.fail_field(i, "outside the settings block read".into(), false);
                first.get_or_insert(f);
                continue;
            };
            self.results[i].persisted = Some(self.show_stored(i, &got));
            if got == self.targets[i] {
                self.results[i].ok = true;
            } else {
                let reason = format!(
                    "not persisted: the settings block, read as a whole, holds {} instead of {}",
                    self.show_stored(i, &got),
                    self.results[i].written
                );
                let f = self.fail_field(i, reason, false);
                first.get_or_insert(f);
            }
        }
        match first {
            None => Ok(()),
            Some(f) => Err(f),
        }
    }

    /// Pace: merge, write and read back each group; then re-read every group.
    async fn run_groups(&mut self, saved: &mut bool) -> Result<(), Failure> {
        let kinds = pace_groups(self.plan);
        // Targets: each group as the pack holds it, with the profile's values merged in.
        let mut targets: Vec<(ParamKind, pace::Param)> = Vec::new();
        for kind in &kinds {
            let what = format!(
                "reading configuration group 0x{:02X} before merging",
                kind.cid2().0
            );
            let mut param = pace_read_group(self.handle, *kind)
                .await
                .map_err(|e| StepFailure::new(&what, e))?;
            for i in 0..self.plan.fields.len() {
                if let Wire::Group {
                    read_cid2,
                    key,
                    value,
                } = self.plan.fields[i].wire
                {
                    if read_cid2 == kind.cid2().0 {
                        param = match pace_with(&param, key, value) {
                            Ok(p) => p,
                            Err(reason) => return Err(self.fail_field(i, reason, false)),
                        };
                    }
                }
            }
            targets.push((*kind, param));
        }
        self.targets = self
            .plan
            .fields
            .iter()
            .map(|f| match f.wire {
                Wire::Group { value, .. } => Stored::Num(value),
                _ => Stored::Num(f64::NAN),
            })
            .collect();
        for (kind, param) in &targets {
            self.check_cancel()?;
            let (read, write) = kind.cid2();
            let first = self.first_field_of(read);
            let info = match pace::encode_write_info(param) {
                Ok(i) => i,
                Err(e) => return Err(self.fail_field(first, e.to_string(), false)),
            };
            if let Err(e) = self
                .handle
                .register(RegisterOp::Command { cid2: write, info })
                .await
            {
                let comm = e.is_communication();
                return Err(self.fail_field(first, format!("write not accepted: {e}"), comm));
            }
            let back = match pace_read_group(self.handle, *kind).await {
                Ok(p) => p,
                Err(e) => {
                    let comm = e.is_communication();
                    return Err(self.fail_field(first, format!("read-back failed: {e}"), comm));
                }
            };
            for i in self.fields_of(read) {
                let got = self.group_value(i, &back);
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
        }
        self.check_cancel()?;
        // No save command: every acknowledged group is the pack's own from here.
        *saved = true;
        let mut first: Option<Failure> = None;
        for (kind, _) in &targets {
            let read = kind.cid2().0;
            let now = match pace_read_group(self.handle, *kind).await {
                Ok(p) => p,
                Err(e) => {
                    let f = StepFailure::new(
                        &format!("re-reading configuration group 0x{read:02X}"),
                        e,
                    );
                    first.get_or_insert(f.into());
                    break;
                }
            };
            for i in self.fields_of(read) {
                let got = self.group_value(i, &now);
                self.results[i].persisted = Some(self.show_stored(i, &got));
                if got == self.targets[i] {
                    self.results[i].ok = true;
                } else {
                    let reason = format!(
                        "not persisted: after all the writes the pack holds {} instead of {}",
                        self.show_stored(i, &got),
                        self.results[i].written
                    );
                    let f = self.fail_field(i, reason, false);
                    first.get_or_insert(f);
                }
            }
        }
        match first {
            None => Ok(()),
            Some(f) => Err(f),
        }
    }

    fn fields_of(&self, read: u8) -> Vec<usize> {
        (0..self.plan.fields.len())
            .filter(|&i| matches!(self.plan.fields[i].wire, Wire::Group { read_cid2, .. } if read_cid2 == read))
            .collect()
    }

    fn first_field_of(&self, read: u8) -> usize {
        self.fields_of(read).first().copied().unwrap_or(0)
    }

    fn group_value(&self, i: usize, param: &pace::Param) -> Stored {
        match self.plan.fields[i].wire {
            Wire::Group { key, .. } => pace_value(param, key).map_or(Stored::Missing, Stored::Num),
            _ => Stored::Missing,
        }
    }

    /// The JK PB settings block, in reads the board accepts (at most 100 registers each).
    async fn read_settings_block(&self) -> Result<Vec<u8>, Failure> {
        read_jk_settings(self.handle)
            .await
            .map_err(|e| StepFailure::new("re-reading the settings block (0x1000)", e).into())
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
                Wire::Long { raw } => Stored::Long(*raw),
                Wire::Group { value, .. } => Stored::Num(*value),
                Wire::Text { text } => Stored::Text(text.clone()),
                Wire::Bits { set, clear } => {
                    let what = format!(
                        "{}: reading {} before merging bits",
                        f.field,
                        f.register_hex()
                    );
                    let op = read_op(self.plan.protocol, f.register, false)
                        .map_err(|e| StepFailure::new(&what, e))?;
                    let d = self.op(&what, op).await?;
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
            Stored::Long(raw) => raw.to_be_bytes().to_vec(),
            Stored::Num(_) | Stored::Missing => Vec::new(),
            // Validated when planned.
            Stored::Text(t) => eeprom::encode_string(t).unwrap_or_default(),
        }
    }

    fn decode(&self, i: usize, d: &[u8]) -> Result<Stored, String> {
        match &self.targets[i] {
            Stored::Word(_) => word(d)
                .map(Stored::Word)
                .ok_or_else(|| format!("{} data bytes, expected 2", d.len())),
            Stored::Long(_) => long(d)
                .map(Stored::Long)
                .ok_or_else(|| format!("{} data bytes, expected 4", d.len())),
            Stored::Num(_) | Stored::Missing => Err("a Pace value is read with its group".into()),
            Stored::Text(_) => {
                eeprom::decode_string(self.plan.fields[i].jbd_register().unwrap_or(0), d)
                    .map(Stored::Text)
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn show_stored(&self, i: usize, s: &Stored) -> String {
        match s {
            Stored::Text(t) => t.clone(),
            Stored::Long(raw) => jk_show(self.plan.fields[i].register, *raw),
            Stored::Num(v) => pace_show(self.plan.fields[i].name, *v),
            Stored::Missing => "nothing".to_string(),
            Stored::Word(raw) => match self.plan.fields[i]
                .jbd_register()
                .and_then(eeprom::register)
            {
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
            let op = match write_op(self.plan.protocol, register, data) {
                Ok(op) => op,
                Err(e) => return Err(self.fail_field(i, e.to_string(), false)),
            };
            if let Err(e) = self.handle.register(op).await {
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
        let long = matches!(self.targets[i], Stored::Long(_));
        let op = match read_op(self.plan.protocol, register, long) {
            Ok(op) => op,
            Err(e) => return Err(self.fail_field(i, e.to_string(), false)),
        };
        match self.handle.register(op).await {
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

fn long(d: &[u8]) -> Option<u32> {
    match d {
        [a, b, c, e] => Some(u32::from_be_bytes([*a, *b, *c, *e])),
        _ => None,
    }
}

/// The JK PB settings block as the board holds it, read in pieces of at most
/// [`jk_pb::MAX_READ_REGISTERS`] registers from even offsets.
async fn read_jk_settings(handle: &BmsHandle) -> Result<Vec<u8>, BmsError> {
    let mut block = Vec::with_capacity(jk_pb::SETTINGS_LEN);
    while block.len() < jk_pb::SETTINGS_LEN {
        let words =
            ((jk_pb::SETTINGS_LEN - block.len()).div_ceil(2) as u16).min(jk_pb::MAX_READ_REGISTERS);
        let register = jk_pb::SETTINGS_BLOCK + block.len() as u16;
        let d = handle
            .register(RegisterOp::ReadWords { register, words })
            .await?;
        if d.len() != usize::from(words) * 2 {
            return Err(BmsError::BadReply {
                what: format!("read {words} register(s) at 0x{register:04X}"),
                reason: format!("{} data bytes, expected {}", d.len(), words * 2),
            });
        }
        block.extend_from_slice(&d);
    }
    Ok(block)
}

/// Read the board's current value of every planned register (factory mode, left without
/// saving) and compare with the plan. `None` plan: every EEPROM register and string.
pub async fn read_config(
    handle: &BmsHandle,
    plan: Option<&ConfigPlan>,
) -> Result<Vec<ConfigReading>, BmsError> {
    match handle.protocol() {
        ProtocolKind::JkPb => return read_jk_config(handle, plan).await,
        ProtocolKind::Pace => return read_pace_config(handle, plan).await,
        _ => {}
    }
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
    pub raw: Option<u32>,
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
        Some(p) => p
            .fields
            .iter()
            .filter_map(|f| Some((f.jbd_register()?, Some(f))))
            .collect(),
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
                    let raw = word(&d);
                    r.raw = raw.map(u32::from);
                    r.value = raw.map(|raw| show(&def.decode(raw, unit)));
                } else {
                    r.value = eeprom::decode_string(register, &d).ok();
                }
                r.matches = planned.map(|p| match (&p.wire, r.raw) {
                    (Wire::Word { raw }, Some(got)) => got == u32::from(*raw),
                    (Wire::Bits { set, clear }, Some(got)) => {
                        got & u32::from(set | clear) == u32::from(*set)
                    }
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

/// Pace: every group the plan (or, with no plan, the profile mapping) touches, read once, each
/// value compared with the plan.
async fn read_pace_config(
    handle: &BmsHandle,
    plan: Option<&ConfigPlan>,
) -> Result<Vec<ConfigReading>, BmsError> {
    let rows: Vec<(u8, u8, &'static str, Option<&PlannedField>)> = match plan {
        Some(p) => p
            .fields
            .iter()
            .filter_map(|f| match f.wire {
                Wire::Group { read_cid2, key, .. } => {
                    Some((read_cid2, pace_kind(read_cid2)?.cid2().1, key, Some(f)))
                }
                _ => None,
            })
            .collect(),
        None => PACE_FIELDS
            .iter()
            .map(|(_, kind, key, _)| (kind.cid2().0, kind.cid2().1, *key, None))
            .collect(),
    };
    let mut groups: Vec<(u8, pace::Param)> = Vec::new();
    let mut out = Vec::new();
    for (read, write, key, planned) in rows {
        if !groups.iter().any(|(r, _)| *r == read) {
            let Some(kind) = pace_kind(read) else {
                continue;
            };
            groups.push((read, pace_read_group(handle, kind).await?));
        }
        let value = groups
            .iter()
            .find(|(r, _)| *r == read)
            .and_then(|(_, p)| pace_value(p, key));
        out.push(ConfigReading {
            register: format!("0x{read:02X}/0x{write:02X}"),
            name: key,
            field: planned.map(|p| p.field.clone()),
            value: value.map(|v| pace_show(key, v)),
            raw: None,
            expected: planned.map(|p| p.display.clone()),
            matches: planned.map(|p| match (&p.wire, value) {
                (Wire::Group { value: want, .. }, Some(got)) => (got - want).abs() < 1e-6,
                _ => false,
            }),
            error: None,
        });
    }
    Ok(out)
}

/// JK PB: the settings block read as a whole (no factory mode), each planned field (or, with
/// no plan, every field the codec knows) compared with the plan.
async fn read_jk_config(
    handle: &BmsHandle,
    plan: Option<&ConfigPlan>,
) -> Result<Vec<ConfigReading>, BmsError> {
    let block = read_jk_settings(handle).await?;
    let value_at = |register: u16| {
        let offset = usize::from(register.checked_sub(jk_pb::SETTINGS_BLOCK)?);
        long(block.get(offset..offset + 4)?)
    };
    let rows: Vec<(u16, &'static str, Option<&PlannedField>)> = match plan {
        Some(p) => p
            .fields
            .iter()
            .map(|f| (f.register, f.name, Some(f)))
            .collect(),
        None => jk_pb::SETTING_FIELDS
            .iter()
            .map(|f| (f.register(), f.name, None))
            .collect(),
    };
    Ok(rows
        .into_iter()
        .map(|(register, name, planned)| {
            let raw = value_at(register);
            ConfigReading {
                register: format!("0x{register:04X}"),
                name,
                field: planned.map(|p| p.field.clone()),
                value: raw.map(|raw| jk_show(register, raw)),
                raw,
                expected: planned.map(|p| p.display.clone()),
                matches: planned.map(|p| match (&p.wire, raw) {
                    (Wire::Long { raw: want }, Some(got)) => got == *want,
                    _ => false,
                }),
                error: None,
            }
        })
        .collect())
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
    fn jk_pb_plans_the_settings_block_exactly_and_says_what_it_cannot_take() {
        let p = profile("lfp-15s1p-jk-100ah");
        let plan = ConfigPlan::from_profile(&p, Some("PWK0000001")).unwrap();
        assert_eq!(plan.fields.len(), 19);
        let get = |name: &str| plan.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(get("cell_ovp_mv").register, 0x100C);
        assert_eq!(get("cell_ovp_mv").wire, Wire::Long { raw: 3650 });
        assert_eq!(
            get("charge_overcurrent_ma").wire,
            Wire::Long { raw: 50_000 }
        );
        assert_eq!(get("charge_overcurrent_ma").display, "50 A");
        // Signed temperatures travel as their bit pattern, in 0.1 °C.
        assert_eq!(get("charge_undertemp_dc").wire, Wire::Long { raw: 20 });
        assert_eq!(get("cell_count").wire, Wire::Long { raw: 15 });
        let missing: Vec<&str> = plan.not_configured.iter().map(|n| n.field).collect();
        assert!(missing.contains(&"bms.pack_ov_trigger_mv"), "{missing:?}");
        assert!(missing.contains(&"barcode"), "{missing:?}");
        // A current the board cannot hold in whole mA is refused before anything is sent.
        let mut odd = p.clone();
        odd.bms.charge_overcurrent_a = 50.0005;
        let err = ConfigPlan::from_profile(&odd, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bms.charge_overcurrent_a:"), "{err}");
    }

    #[test]
    fn pace_plans_groups_and_merges_a_value_into_the_read_group() {
        let p = profile("lfp-15s1p-pace-100ah");
        let plan = ConfigPlan::from_profile(&p, None).unwrap();
        assert_eq!(plan.fields.len(), 20);
        assert_eq!(pace_groups(&plan).len(), 9);
        let f = &plan.fields[0];
        assert_eq!(f.field, "bms.cell_ov_trigger_mv");
        assert_eq!(f.register_hex(), "0xD0");
        assert_eq!(f.display, "3.65 V");
        let group = pace::Param::CellOverVoltage(pace::VoltageProtection {
            lead: 1,
            alarm_mv: 3600,
            protect_mv: 3630,
            release_mv: 3480,
            delay_ms: 1000,
        });
        let merged = pace_with(&group, "protect_mv", 3650.0).unwrap();
        assert_eq!(pace_value(&merged, "protect_mv"), Some(3650.0));
        // The group's other values are kept as read.
        assert_eq!(pace_value(&merged, "alarm_mv"), Some(3600.0));
        assert!(pace_with(&group, "nonsense", 1.0).is_err());
        let mut odd = p.clone();
        odd.bms.charge_ot_trigger_c = 50.05;
        assert!(ConfigPlan::from_profile(&odd, None).is_err());
    }

    #[test]
    fn coverage_says_what_each_board_takes() {
        let jbd = coverage(&profile("lfp-15s1p-100ah")).unwrap();
        assert!(jbd.not_configured.is_empty());
        assert!(jbd.written.contains(&"bms.pack_ov_trigger_mv".to_string()));
        let mut daly = profile("lfp-15s1p-100ah");
        daly.bms.protocol = ProtocolKind::Daly;
        let d = coverage(&daly).unwrap();
        assert!(d.written.is_empty());
        assert!(d.other_writes.unwrap().contains("0xD9/0xDA"));
        assert!(configurable(ProtocolKind::Pace) && !configurable(ProtocolKind::Daly));
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
