//! Pack profiles: what to build (chemistry, S×P, tolerances), how to configure its BMS, how to
//! test it. Loaded from `profiles/*.toml`, validated against the chemistry's hard limits before
//! anything else may use them.

use crate::chemistry::Chemistry;
use crate::eol::TestPlan;
use packwright_protocol::ProtocolKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The profiles shipped with Packwright, compiled in so the binary works from any directory.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "lfp-16s1p-280ah",
        include_str!("../profiles/lfp-16s1p-280ah.toml"),
    ),
    (
        "lfp-16s2p-105ah",
        include_str!("../profiles/lfp-16s2p-105ah.toml"),
    ),
    (
        "nmc-14s4p-ev",
        include_str!("../profiles/nmc-14s4p-ev.toml"),
    ),
    (
        "lfp-15s1p-100ah",
        include_str!("../profiles/lfp-15s1p-100ah.toml"),
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

/// True for a positive number; false for zero, negatives and NaN.
fn is_positive(v: f64) -> bool {
    v > 0.0
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

/// Largest cell count each configurable BMS protocol supports.
fn max_cells(protocol: ProtocolKind) -> Option<u32> {
    match protocol {
        ProtocolKind::Jbd => Some(32),
        ProtocolKind::Daly => Some(48),
        // CAN-only protocols cannot be used to write a configuration.
        _ => None,
    }
}

impl Profile {
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

    /// Load a profile by name (`lfp-16s1p-280ah`) or by path to a `.toml` file.
    ///
    /// A name is looked up in `$PACKWRIGHT_PROFILES`, then `./profiles`, then the built-ins.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
        if looks_like_path {
            return Self::load_file(Path::new(name_or_path));
        }
        let mut searched = Vec::new();
        for dir in profile_dirs() {
            let path = dir.join(format!("{name_or_path}.toml"));
            searched.push(path.display().to_string());
            if path.is_file() {
                return Self::load_file(&path);
            }
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(name, &format!("built-in '{name}'"), text);
        }
        Err(ProfileError::NotFound {
            name: name_or_path.to_string(),
            searched: searched.join(", "),
            builtin: BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut profile = Self::from_toml(&name, &path.display().to_string(), &text)?;
        if let (Some(dbc), Some(dir)) = (&profile.bms.dbc, path.parent()) {
            profile.bms.dbc = Some(dir.join(dbc));
        }
        Ok(profile)
    }

    /// Every profile that can be named: files in the profile directories, then built-ins not
    /// shadowed by a file. Profiles that fail to load are listed with their error.
    pub fn list() -> Vec<(String, Result<Profile, ProfileError>)> {
        let mut out: Vec<(String, Result<Profile, ProfileError>)> = Vec::new();
        for dir in profile_dirs() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if out.iter().all(|(n, _)| *n != name) {
                    out.push((name, Self::load_file(&path)));
                }
            }
        }
        for (name, _) in BUILTIN {
            if out.iter().all(|(n, _)| n != name) {
                out.push((name.to_string(), Self::load(name)));
            }
        }
        out
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
        let mut issues = Vec::new();
        let mut bad = |field: &str, reason: String| {
            issues.push(ProfileIssue {
                field: field.to_string(),
                reason,
            })
        };
        let chem = self.chemistry;
        let lim = chem.hard_limits();
        let b = &self.bms;
        let s = self.series;

        if s == 0 {
            bad("series", "must be at least 1".into());
        }
        if self.parallel == 0 {
            bad("parallel", "must be at least 1".into());
        }
        if self.parallel > 64 {
            bad(
                "parallel",
                format!(
                    "{} parallel cells per group is more than the 64 a group may hold",
                    self.parallel
                ),
            );
        }
        if !is_positive(self.nominal_capacity_mah) {
            bad("nominal_capacity_mah", "must be a positive capacity".into());
        }

        // What the BMS can physically do.
        match max_cells(b.protocol) {
            None => bad(
                "bms.protocol",
                format!("'{}' is a CAN protocol; configuration is written over a serial protocol (jbd or daly)", b.protocol),
            ),
            Some(max) if s > max || s < 3 => bad(
                "series",
                format!("{s} cells in series, but a {} BMS handles 3 to {max}", b.protocol),
            ),
            Some(_) => {}
        }
        if let Some(can) = b.can_protocol {
            if can.is_serial() {
                bad(
                    "bms.can_protocol",
                    format!("'{can}' is a serial protocol, not a CAN one"),
                );
            }
        }
        if b.cell_count != s {
            bad(
                "bms.cell_count",
                format!("{} but the pack has {s} cells in series", b.cell_count),
            );
        }
        let capacity_limit_mah = 655_350u32 * 10; // u16 register in 100 mAh with the unit flag
        if b.design_capacity_mah == 0 || b.design_capacity_mah > capacity_limit_mah {
            bad(
                "bms.design_capacity_mah",
                format!(
                    "{} mAh is outside what the register holds (1 to {capacity_limit_mah})",
                    b.design_capacity_mah
                ),
            );
        }
        if b.cycle_capacity_mah > b.design_capacity_mah {
            bad(
                "bms.cycle_capacity_mah",
                "is above the design capacity".into(),
            );
        }

        // Cell voltage thresholds against the chemistry envelope.
        let within = |field: &str, mv: u32, bad: &mut dyn FnMut(&str, String)| {
            if mv > lim.max_cell_mv {
                bad(
                    field,
                    format!(
                        "{mv} mV exceeds the {chem} hard limit of {} mV per cell",
                        lim.max_cell_mv
                    ),
                );
            } else if mv < lim.min_cell_mv {
                bad(
                    field,
                    format!(
                        "{mv} mV is below the {chem} hard limit of {} mV per cell",
                        lim.min_cell_mv
                    ),
                );
            }
        };
        for (field, mv) in [
            ("bms.cell_ov_trigger_mv", b.cell_ov_trigger_mv),
            ("bms.cell_ov_release_mv", b.cell_ov_release_mv),
            ("bms.cell_uv_trigger_mv", b.cell_uv_trigger_mv),
            ("bms.cell_uv_release_mv", b.cell_uv_release_mv),
            ("bms.full_charge_mv", b.full_charge_mv),
            ("bms.end_of_discharge_mv", b.end_of_discharge_mv),
            ("bms.balance_start_mv", b.balance_start_mv),
        ] {
            within(field, mv, &mut bad);
        }
        if b.full_charge_mv > lim.max_charge_mv {
            bad(
                "bms.full_charge_mv",
                format!(
                    "{} mV is above the {chem} maximum charge voltage of {} mV",
                    b.full_charge_mv, lim.max_charge_mv
                ),
            );
        }
        // Pack thresholds: the per-cell envelope times S.
        for (field, mv) in [
            ("bms.pack_ov_trigger_mv", b.pack_ov_trigger_mv),
            ("bms.pack_ov_release_mv", b.pack_ov_release_mv),
            ("bms.pack_uv_trigger_mv", b.pack_uv_trigger_mv),
            ("bms.pack_uv_release_mv", b.pack_uv_release_mv),
        ] {
            if mv > lim.max_cell_mv * s {
                bad(
                    field,
                    format!(
                        "{mv} mV exceeds the {chem} hard limit of {} mV for {s} cells",
                        lim.max_cell_mv * s
                    ),
                );
            } else if mv < lim.min_cell_mv * s {
                bad(
                    field,
                    format!(
                        "{mv} mV is below the {chem} hard limit of {} mV for {s} cells",
                        lim.min_cell_mv * s
                    ),
                );
            }
        }
        // Trigger/release pairs: over-limits release below the trigger, under-limits above it.
        let order = |field: &str,
                     trigger: f64,
                     release: f64,
                     over: bool,
                     bad: &mut dyn FnMut(&str, String)| {
            if over && release >= trigger {
                bad(field, format!("release {release} must be below the trigger {trigger}, or the protection never lets go"));
            } else if !over && release <= trigger {
                bad(field, format!("release {release} must be above the trigger {trigger}, or the protection never lets go"));
            }
        };
        let f = f64::from;
        order(
            "bms.cell_ov_release_mv",
            f(b.cell_ov_trigger_mv),
            f(b.cell_ov_release_mv),
            true,
            &mut bad,
        );
        order(
            "bms.cell_uv_release_mv",
            f(b.cell_uv_trigger_mv),
            f(b.cell_uv_release_mv),
            false,
            &mut bad,
        );
        order(
            "bms.pack_ov_release_mv",
            f(b.pack_ov_trigger_mv),
            f(b.pack_ov_release_mv),
            true,
            &mut bad,
        );
        order(
            "bms.pack_uv_release_mv",
            f(b.pack_uv_trigger_mv),
            f(b.pack_uv_release_mv),
            false,
            &mut bad,
        );
        order(
            "bms.charge_ot_release_c",
            b.charge_ot_trigger_c,
            b.charge_ot_release_c,
            true,
            &mut bad,
        );
        order(
            "bms.charge_ut_release_c",
            b.charge_ut_trigger_c,
            b.charge_ut_release_c,
            false,
            &mut bad,
        );
        order(
            "bms.discharge_ot_release_c",
            b.discharge_ot_trigger_c,
            b.discharge_ot_release_c,
            true,
            &mut bad,
        );
        order(
            "bms.discharge_ut_release_c",
            b.discharge_ut_trigger_c,
            b.discharge_ut_release_c,
            false,
            &mut bad,
        );
        if b.cell_uv_release_mv >= b.cell_ov_release_mv {
            bad(
                "bms.cell_uv_release_mv",
                "the under-voltage window overlaps the over-voltage window".into(),
            );
        }
        if b.pack_ov_trigger_mv > b.cell_ov_trigger_mv * s {
            bad("bms.pack_ov_trigger_mv", format!("{} mV is above S × cell over-voltage trigger ({} mV): the pack limit would never act first", b.pack_ov_trigger_mv, b.cell_ov_trigger_mv * s));
        }

        // Temperatures inside the chemistry's windows.
        for (field, c, lo, hi) in [
            (
                "bms.charge_ot_trigger_c",
                b.charge_ot_trigger_c,
                lim.charge_min_c,
                lim.charge_max_c,
            ),
            (
                "bms.charge_ut_trigger_c",
                b.charge_ut_trigger_c,
                lim.charge_min_c,
                lim.charge_max_c,
            ),
            (
                "bms.discharge_ot_trigger_c",
                b.discharge_ot_trigger_c,
                lim.discharge_min_c,
                lim.discharge_max_c,
            ),
            (
                "bms.discharge_ut_trigger_c",
                b.discharge_ut_trigger_c,
                lim.discharge_min_c,
                lim.discharge_max_c,
            ),
        ] {
            if !(lo..=hi).contains(&c) {
                bad(
                    field,
                    format!("{c} °C is outside the {chem} window {lo} to {hi} °C"),
                );
            }
        }

        // Currents: positive and inside the signed 16-bit register (10 mA, or 100 mA with the unit flag).
        for (field, a) in [
            ("bms.charge_overcurrent_a", b.charge_overcurrent_a),
            ("bms.discharge_overcurrent_a", b.discharge_overcurrent_a),
        ] {
            if !(a > 0.0 && a <= 3276.7) {
                bad(
                    field,
                    format!("{a} A must be positive and at most 3276.7 A"),
                );
            }
        }
        if b.balance_delta_mv == 0 || b.balance_delta_mv > 500 {
            bad(
                "bms.balance_delta_mv",
                format!("{} mV must be between 1 and 500", b.balance_delta_mv),
            );
        }
        if b.ntc_count > 8 {
            bad(
                "bms.ntc_count",
                format!("{} sensors, but a board has at most 8", b.ntc_count),
            );
        }

        if let Some(inv) = &self.inverter {
            let max_pack_v = f64::from(b.pack_ov_trigger_mv) / 1000.0;
            if inv.charge_voltage_limit_v > max_pack_v {
                bad(
                    "inverter.charge_voltage_limit_v",
                    format!(
                        "{} V is above the pack over-voltage trigger ({max_pack_v} V)",
                        inv.charge_voltage_limit_v
                    ),
                );
            }
            if inv.discharge_voltage_limit_v < f64::from(b.pack_uv_trigger_mv) / 1000.0 {
                bad(
                    "inverter.discharge_voltage_limit_v",
                    "is below the pack under-voltage trigger".into(),
                );
            }
            if inv.charge_current_limit_a > b.charge_overcurrent_a {
                bad(
                    "inverter.charge_current_limit_a",
                    "is above the BMS charge over-current trigger".into(),
                );
            }
            if inv.discharge_current_limit_a > b.discharge_overcurrent_a {
                bad(
                    "inverter.discharge_current_limit_a",
                    "is above the BMS discharge over-current trigger".into(),
                );
            }
        }

        // Tolerances.
        let t = &self.tolerances;
        if !(is_positive(t.capacity_floor_mah) || t.capacity_floor_mah == 0.0)
            || t.capacity_floor_mah > self.nominal_capacity_mah * 1.2
        {
            bad(
                "tolerances.capacity_floor_mah",
                format!(
                    "{} mAh must be between 0 and 120 % of the nominal capacity",
                    t.capacity_floor_mah
                ),
            );
        }
        for (field, v) in [
            ("tolerances.ir_ceiling_mohm", t.ir_ceiling_mohm),
            (
                "tolerances.self_discharge_ceiling_mv_per_day",
                t.self_discharge_ceiling_mv_per_day,
            ),
            (
                "tolerances.max_group_ir_spread_mohm",
                t.max_group_ir_spread_mohm,
            ),
            ("tolerances.max_ocv_delta_mv", t.max_ocv_delta_mv),
            (
                "tolerances.max_group_capacity_spread_pct",
                t.max_group_capacity_spread_pct,
            ),
        ] {
            if let Some(v) = v {
                if !is_positive(v) {
                    bad(
                        field,
                        format!("{v} must be positive (leave it out for no limit)"),
                    );
                }
            }
        }
        if !(0.0..=1.0).contains(&t.ir_weight) {
            bad(
                "tolerances.ir_weight",
                format!("{} must be between 0 and 1", t.ir_weight),
            );
        }

        match &self.pack_code {
            PackCodeScheme::Gbt34014 {
                manufacturer,
                spec,
                traceability,
            } => {
                for (field, v, len) in [
                    ("pack_code.manufacturer", manufacturer, 3),
                    ("pack_code.spec", spec, 2),
                    ("pack_code.traceability", traceability, 7),
                ] {
                    if v.len() != len || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                        bad(
                            field,
                            format!("'{v}' must be {len} letters or digits (GB/T 34014)"),
                        );
                    }
                }
            }
            PackCodeScheme::Plant { regex, .. } => {
                if let Err(e) = regex::Regex::new(regex) {
                    bad("pack_code.regex", format!("does not compile: {e}"));
                }
            }
        }

        for (field, reason) in self.eol.issues() {
            bad(&field, reason);
        }
        issues
    }
}

/// Where named profiles are looked for, in order.
pub fn profile_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PACKWRIGHT_PROFILES") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("profiles"));
    dirs
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
