//! Pack profiles: what to build (chemistry, S×P, tolerances), how to configure its BMS, how to
//! test it. Loaded from `profiles/*.toml`, validated against the chemistry's hard limits before
//! anything else may use them.
//!
//! This module and `checks` are pure: parsing TOML text and validating it. Finding and
//! reading profile files (`Profile::load`, `Profile::load_file`, `Profile::list`,
//! [`profile_dirs`]) lives in `files`, the only part that touches the file system.

mod checks;
mod files;

pub use files::profile_dirs;

use crate::chemistry::Chemistry;
use crate::eol::TestPlan;
use packwright_protocol::ProtocolKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The profiles shipped with Packwright, compiled in so the binary works from any directory.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "lfp-16s1p-280ah",
        include_str!("../../profiles/lfp-16s1p-280ah.toml"),
    ),
    (
        "lfp-16s2p-105ah",
        include_str!("../../profiles/lfp-16s2p-105ah.toml"),
    ),
    (
        "nmc-14s4p-ev",
        include_str!("../../profiles/nmc-14s4p-ev.toml"),
    ),
    (
        "lfp-15s1p-100ah",
        include_str!("../../profiles/lfp-15s1p-100ah.toml"),
    ),
    (
        "lfp-15s1p-jk-100ah",
        include_str!("../../profiles/lfp-15s1p-jk-100ah.toml"),
    ),
    (
        "lfp-15s1p-pace-100ah",
        include_str!("../../profiles/lfp-15s1p-pace-100ah.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The file stem; filled in on load, never read from the file.
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub chemistry: Chemistry,
    pub series: u32,
    pub parallel: u32,
    pub nominal_capacity_mah: f64,
    /// Cells of other models are not mixed into one pack unless this is true.
    #[serde(default)]
    pub allow_mixed_models: bool,
    pub tolerances: Tolerances,
    pub bms: BmsSettings,
    #[serde(default)]
    pub inverter: Option<InverterLimits>,
    #[serde(default)]
    pub pack_code: PackCodeScheme,
    pub eol: TestPlan,
    /// The pack label's template; the default one (4 × 2 in at 203 dpi, the QR code carrying
    /// the pack code) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelSettings>,
}

/// `[label]`: the label stock and what its QR code carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSettings {
    /// Recorded with every print (with the layout's own version): change it when the label
    /// changes.
    pub version: String,
    pub width_dots: u32,
    pub height_dots: u32,
    pub dpi: u32,
    /// A resolver URL with a `{code}` placeholder for the QR code; the pack code itself when
    /// left out.
    #[serde(default)]
    pub qr_url: Option<String>,
}

impl LabelSettings {
    /// The template these settings describe.
    pub fn template(&self) -> crate::label::LabelTemplate {
        crate::label::LabelTemplate {
            version: format!("{}/{}", self.version, crate::label::zpl::LAYOUT_VERSION),
            width_dots: self.width_dots,
            height_dots: self.height_dots,
            dpi: self.dpi,
            qr: match &self.qr_url {
                Some(url) => crate::label::QrContent::Url(url.clone()),
                None => crate::label::QrContent::Code,
            },
        }
    }
}

/// Matching tolerances. Keys carry their unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerances {
    pub capacity_floor_mah: f64,
    pub ir_ceiling_mohm: Option<f64>,
    pub self_discharge_ceiling_mv_per_day: Option<f64>,
    pub max_group_ir_spread_mohm: Option<f64>,
    /// Largest open-circuit-voltage difference allowed between cells about to be paralleled.
    pub max_ocv_delta_mv: Option<f64>,
    pub max_group_capacity_spread_pct: Option<f64>,
    /// Deprecated (use `balance_slack_*`): still loads; without a balance slack the matcher
    /// reads it as a slack of `ir_weight` × the capacity-spread limit and says so.
    #[serde(default)]
    pub ir_weight: f64,
    /// A pack's group-capacity range may exceed its lower bound by the larger of this many
    /// mAh and `balance_slack_pct` % of its mean group, to make its groups IR-homogeneous.
    #[serde(default)]
    pub balance_slack_mah: Option<f64>,
    #[serde(default)]
    pub balance_slack_pct: Option<f64>,
}

/// Every value the BMS configuration write puts into the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmsSettings {
    /// The serial protocol used to configure the board (`jbd` or `daly`).
    pub protocol: ProtocolKind,
    /// The CAN protocol the pack speaks to an inverter, if any (e.g. `pylontech`).
    #[serde(default)]
    pub can_protocol: Option<ProtocolKind>,
    /// A DBC file for a BMS whose CAN frames are not built in (relative to the profile file).
    #[serde(default)]
    pub dbc: Option<PathBuf>,
    pub cell_count: u32,
    pub design_capacity_mah: u32,
    pub cycle_capacity_mah: u32,
    pub full_charge_mv: u32,
    pub end_of_discharge_mv: u32,
    pub cell_ov_trigger_mv: u32,
    pub cell_ov_release_mv: u32,
    pub cell_uv_trigger_mv: u32,
    pub cell_uv_release_mv: u32,
    pub pack_ov_trigger_mv: u32,
    pub pack_ov_release_mv: u32,
    pub pack_uv_trigger_mv: u32,
    pub pack_uv_release_mv: u32,
    pub charge_overcurrent_a: f64,
    pub discharge_overcurrent_a: f64,
    pub charge_ot_trigger_c: f64,
    pub charge_ot_release_c: f64,
    pub charge_ut_trigger_c: f64,
    pub charge_ut_release_c: f64,
    pub discharge_ot_trigger_c: f64,
    pub discharge_ot_release_c: f64,
    pub discharge_ut_trigger_c: f64,
    pub discharge_ut_release_c: f64,
    pub balance_start_mv: u32,
    pub balance_delta_mv: u32,
    #[serde(default = "yes")]
    pub balance_enabled: bool,
    #[serde(default)]
    pub balance_only_while_charging: bool,
    /// Number of temperature sensors fitted (NTC1..NTCn enabled).
    pub ntc_count: u8,
}

fn yes() -> bool {
    true
}

/// What the pack must announce to an inverter over CAN (Pylontech 0x351).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverterLimits {
    pub charge_voltage_limit_v: f64,
    pub charge_current_limit_a: f64,
    pub discharge_current_limit_a: f64,
    pub discharge_voltage_limit_v: f64,
}

/// How pack codes are built and validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum PackCodeScheme {
    /// GB/T 34014: 3 manufacturer, 1 product type, 1 battery type, 2 spec, 7 traceability,
    /// 3 date, 7 serial = 24 characters.
    Gbt34014 {
        manufacturer: String,
        spec: String,
        traceability: String,
    },
    /// A plant-defined pattern: a prefix then a zero-padded serial, validated by `regex`.
    Plant {
        prefix: String,
        digits: u8,
        regex: String,
    },
}

impl Default for PackCodeScheme {
    fn default() -> Self {
        PackCodeScheme::Plant {
            prefix: "PW".into(),
            digits: 8,
            regex: "^PW[0-9]{8}$".into(),
        }
    }
}

/// One reason a profile is not acceptable, naming the field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileIssue {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no profile named '{name}': looked for {searched}; built-in profiles: {builtin}")]
    NotFound {
        name: String,
        searched: String,
        builtin: String,
    },
    #[error("cannot read profile {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {origin} is not valid TOML for a pack profile: {message}")]
    Parse { origin: String, message: String },
    #[error("profile {origin} is unsafe or inconsistent:\n{}", format_issues(.issues))]
    Invalid {
        origin: String,
        issues: Vec<ProfileIssue>,
    },
}

fn format_issues(issues: &[ProfileIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {}: {}", i.field, i.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How a kept profile's origin names a built-in.
const BUILTIN_ORIGIN: &str = "built-in ";

/// The text a profile was read from, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSource {
    pub text: String,
    /// An absolute path, or `built-in 'name'`.
    pub origin: String,
}

impl ProfileSource {
    /// The SHA-256 of the text, lower-case hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.text)
    }
}

/// SHA-256 of a text, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Profile {
    /// A profile from text kept with a pack: `origin` as [`ProfileSource::origin`] (a DBC
    /// file named by the profile is looked for beside the original file).
    pub fn from_kept(name: &str, origin: &str, text: &str) -> Result<Profile, ProfileError> {
        let mut profile =
            Self::from_toml(name, &format!("{origin} (as kept with the pack)"), text)?;
        if !origin.starts_with(BUILTIN_ORIGIN) {
            if let (Some(dbc), Some(dir)) = (&profile.bms.dbc, Path::new(origin).parent()) {
                profile.bms.dbc = Some(dir.join(dbc));
            }
        }
        Ok(profile)
    }

    /// Parse and validate profile text. `origin` names it in messages (a path or a name).
    pub fn from_toml(name: &str, origin: &str, text: &str) -> Result<Profile, ProfileError> {
        let mut profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        profile.name = name.to_string();
        let issues = profile.issues();
        if issues.is_empty() {
            Ok(profile)
        } else {
            Err(ProfileError::Invalid {
                origin: origin.to_string(),
                issues,
            })
        }
    }

    pub fn cells_per_pack(&self) -> usize {
        (self.series * self.parallel) as usize
    }

    /// Nominal pack voltage in volts.
    pub fn nominal_voltage_v(&self) -> f64 {
        f64::from(self.series) * f64::from(self.chemistry.hard_limits().nominal_mv) / 1000.0
    }

    /// Rated pack energy from the nominal cell capacity, in kWh.
    pub fn nominal_energy_kwh(&self) -> f64 {
        self.nominal_voltage_v() * self.nominal_capacity_mah * f64::from(self.parallel) / 1e6
    }

    /// Every reason this profile is unsafe or inconsistent. Empty means it may be used.
    pub fn issues(&self) -> Vec<ProfileIssue> {
        checks::issues(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Profile {
        let text = BUILTIN.iter().find(|(n, _)| *n == name).unwrap().1;
        Profile::from_toml(name, name, text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn shipped_profiles_are_valid() {
        for (name, _) in BUILTIN {
            let p = builtin(name);
            assert_eq!(p.bms.cell_count, p.series, "{name}");
        }
    }

    #[test]
    fn cell_overvoltage_above_hard_limit_is_named() {
        let mut p = builtin("lfp-16s1p-280ah");
        p.bms.cell_ov_trigger_mv = 3900;
        let issues = p.issues();
        assert!(
            issues
                .iter()
                .any(|i| i.field == "bms.cell_ov_trigger_mv" && i.reason.contains("3750")),
            "{issues:?}"
        );
    }

    #[test]
    fn release_on_wrong_side_of_trigger_is_named() {
        let mut p = builtin("lfp-16s1p-280ah");
        p.bms.cell_uv_release_mv = p.bms.cell_uv_trigger_mv - 10;
        p.bms.charge_ot_release_c = p.bms.charge_ot_trigger_c + 1.0;
        let fields: Vec<String> = p.issues().into_iter().map(|i| i.field).collect();
        assert!(
            fields.contains(&"bms.cell_uv_release_mv".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"bms.charge_ot_release_c".to_string()),
            "{fields:?}"
        );
    }

    #[test]
    fn series_beyond_bms_capability_is_named() {
        let mut p = builtin("lfp-16s1p-280ah");
        p.series = 40;
        p.bms.cell_count = 40;
        let issues = p.issues();
        assert!(
            issues
                .iter()
                .any(|i| i.field == "series" && i.reason.contains("3 to 32")),
            "{issues:?}"
        );
    }

    #[test]
    fn unknown_field_is_a_parse_error_naming_it() {
        let text = BUILTIN[0]
            .1
            .replace("series = 16", "series = 16\nserie = 3");
        let err = Profile::from_toml("x", "x.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("serie"), "{err}");
    }

    #[test]
    fn unknown_name_lists_builtins() {
        let err = Profile::load("no-such-profile").unwrap_err().to_string();
        assert!(err.contains("lfp-16s1p-280ah"), "{err}");
    }
}
