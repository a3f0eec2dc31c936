//! `Profile::issues`, one function per section of a profile. Pure.
//!
//! Every check names the field it refuses. The order of the sections (and so of the issues a
//! user sees) is: pack shape, BMS (abilities, cell and pack voltages, trigger/release pairs,
//! temperatures, currents and balancing), inverter, tolerances, pack code, end-of-line plan.

use super::{BmsSettings, PackCodeScheme, Profile, ProfileIssue};
use crate::chemistry::{Chemistry, HardLimits};
use crate::eol::Limit;
use crate::text::printable;
use packwright_protocol::ProtocolKind;

/// The issues found so far.
#[derive(Default)]
struct Issues(Vec<ProfileIssue>);

impl Issues {
    fn bad(&mut self, field: &str, reason: impl Into<String>) {
        self.0.push(ProfileIssue {
            field: field.to_string(),
            reason: reason.into(),
        });
    }
}

/// True for a positive number; false for zero, negatives and NaN.
fn is_positive(v: f64) -> bool {
    v > 0.0
}

/// Largest cell count each configurable BMS protocol supports.
fn max_cells(protocol: ProtocolKind) -> Option<u32> {
    match protocol {
        ProtocolKind::Jbd => Some(32),
        ProtocolKind::Daly => Some(48),
        // JK PB boards are built for 8 to 24 cells (the settings block takes up to 32).
        ProtocolKind::JkPb => Some(24),
        // Pace packs are 15S/16S telecom and storage packs; the 0x42 reply carries up to 16.
        ProtocolKind::Pace => Some(16),
        // CAN-only protocols cannot be used to write a configuration.
        _ => None,
    }
}

pub(super) fn issues(p: &Profile) -> Vec<ProfileIssue> {
    let mut out = Issues::default();
    shape(p, &mut out);
    bms_abilities(p, &mut out);
    cell_voltages(p, &mut out);
    pack_voltages(p, &mut out);
    protection_pairs(&p.bms, &mut out);
    window_overlaps(p, &mut out);
    temperatures(p, &mut out);
    currents_and_balancing(&p.bms, &mut out);
    inverter(p, &mut out);
    tolerances(p, &mut out);
    pack_code(&p.pack_code, &mut out);
    eol_plan(p, &mut out);
    label(p, &mut out);
    out.0
}

/// Series, parallel and the nominal cell capacity.
fn shape(p: &Profile, out: &mut Issues) {
    if p.series == 0 {
        out.bad("series", "must be at least 1");
    }
    if p.parallel == 0 {
        out.bad("parallel", "must be at least 1");
    }
    if p.parallel > 64 {
        out.bad(
            "parallel",
            format!(
                "{} parallel cells per group is more than the 64 a group may hold",
                p.parallel
            ),
        );
    }
    let plausible = p.chemistry.plausible();
    let cap = p.nominal_capacity_mah;
    if !is_positive(cap) {
        out.bad("nominal_capacity_mah", "must be a positive capacity");
    } else if !(plausible.capacity_min_mah..=plausible.capacity_max_mah).contains(&cap) {
        out.bad(
            "nominal_capacity_mah",
            format!(
                "{cap} mAh is not a cell's capacity: cells are {} mAh to {} Ah (is it the pack's, or in another unit?)",
                plausible.capacity_min_mah,
                plausible.capacity_max_mah / 1000.0
            ),
        );
    }
}

/// What the BMS can physically do: protocol, cell count, capacity registers.
fn bms_abilities(p: &Profile, out: &mut Issues) {
    let b = &p.bms;
    let s = p.series;
    match max_cells(b.protocol) {
        None => out.bad(
            "bms.protocol",
            format!("'{}' is a CAN protocol; configuration is written over a serial protocol (jbd, daly, jk-pb or pace-485)", b.protocol),
        ),
        Some(max) if s > max || s < 3 => out.bad(
            "series",
            format!("{s} cells in series, but a {} BMS handles 3 to {max}", b.protocol),
        ),
        Some(_) => {}
    }
    if let Some(can) = b.can_protocol {
        if can.is_serial() {
            out.bad(
                "bms.can_protocol",
                format!("'{can}' is a serial protocol, not a CAN one"),
            );
        }
    }
    if b.cell_count != s {
        out.bad(
            "bms.cell_count",
            format!("{} but the pack has {s} cells in series", b.cell_count),
        );
    }
    let capacity_limit_mah = 655_350u32 * 10; // u16 register in 100 mAh with the unit flag
    if b.design_capacity_mah == 0 || b.design_capacity_mah > capacity_limit_mah {
        out.bad(
            "bms.design_capacity_mah",
            format!(
                "{} mAh is outside what the register holds (1 to {capacity_limit_mah})",
                b.design_capacity_mah
            ),
        );
    }
    if b.cycle_capacity_mah > b.design_capacity_mah {
        out.bad("bms.cycle_capacity_mah", "is above the design capacity");
    }
}

/// Cell voltage thresholds against the chemistry envelope.
fn cell_voltages(p: &Profile, out: &mut Issues) {
    let (chem, lim, b) = (p.chemistry, p.chemistry.hard_limits(), &p.bms);
    for (field, mv) in [
        ("bms.cell_ov_trigger_mv", b.cell_ov_trigger_mv),
        ("bms.cell_ov_release_mv", b.cell_ov_release_mv),
        ("bms.cell_uv_trigger_mv", b.cell_uv_trigger_mv),
        ("bms.cell_uv_release_mv", b.cell_uv_release_mv),
        ("bms.full_charge_mv", b.full_charge_mv),
        ("bms.end_of_discharge_mv", b.end_of_discharge_mv),
        ("bms.balance_start_mv", b.balance_start_mv),
    ] {
        envelope(out, field, mv, chem, &lim, 1, "per cell");
    }
    if b.full_charge_mv > lim.max_charge_mv {
        out.bad(
            "bms.full_charge_mv",
            format!(
                "{} mV is above the {chem} maximum charge voltage of {} mV",
                b.full_charge_mv, lim.max_charge_mv
            ),
        );
    }
}

/// `mv` against the chemistry's per-cell envelope times `cells`.
fn envelope(
    out: &mut Issues,
    field: &str,
    mv: u32,
    chem: Chemistry,
    lim: &HardLimits,
    cells: u32,
    per: &str,
) {
    let (max, min) = (lim.max_cell_mv * cells, lim.min_cell_mv * cells);
    if mv > max {
        out.bad(
            field,
            format!("{mv} mV exceeds the {chem} hard limit of {max} mV {per}"),
        );
    } else if mv < min {
        out.bad(
            field,
            format!("{mv} mV is below the {chem} hard limit of {min} mV {per}"),
        );
    }
}

/// Pack thresholds: the per-cell envelope times S.
fn pack_voltages(p: &Profile, out: &mut Issues) {
    let (chem, lim, b, s) = (p.chemistry, p.chemistry.hard_limits(), &p.bms, p.series);
    let per = format!("for {s} cells");
    for (field, mv) in [
        ("bms.pack_ov_trigger_mv", b.pack_ov_trigger_mv),
        ("bms.pack_ov_release_mv", b.pack_ov_release_mv),
        ("bms.pack_uv_trigger_mv", b.pack_uv_trigger_mv),
        ("bms.pack_uv_release_mv", b.pack_uv_release_mv),
    ] {
        envelope(out, field, mv, chem, &lim, s, &per);
    }
}

/// Which way a protection acts, so which side of its trigger the release must sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Over-voltage or over-temperature: trips going up, releases below the trigger.
    Over,
    /// Under-voltage or under-temperature: trips going down, releases above the trigger.
    Under,
}

/// A protection's trigger/release pair; `field` (the release) is what an issue names.
struct Pair {
    field: &'static str,
    trigger: fn(&BmsSettings) -> f64,
    release: fn(&BmsSettings) -> f64,
    side: Side,
}

const PAIRS: [Pair; 8] = [
    Pair {
        field: "bms.cell_ov_release_mv",
        trigger: |b| f64::from(b.cell_ov_trigger_mv),
        release: |b| f64::from(b.cell_ov_release_mv),
        side: Side::Over,
    },
    Pair {
        field: "bms.cell_uv_release_mv",
        trigger: |b| f64::from(b.cell_uv_trigger_mv),
        release: |b| f64::from(b.cell_uv_release_mv),
        side: Side::Under,
    },
    Pair {
        field: "bms.pack_ov_release_mv",
        trigger: |b| f64::from(b.pack_ov_trigger_mv),
        release: |b| f64::from(b.pack_ov_release_mv),
        side: Side::Over,
    },
    Pair {
        field: "bms.pack_uv_release_mv",
        trigger: |b| f64::from(b.pack_uv_trigger_mv),
        release: |b| f64::from(b.pack_uv_release_mv),
        side: Side::Under,
    },
    Pair {
        field: "bms.charge_ot_release_c",
        trigger: |b| b.charge_ot_trigger_c,
        release: |b| b.charge_ot_release_c,
        side: Side::Over,
    },
    Pair {
        field: "bms.charge_ut_release_c",
        trigger: |b| b.charge_ut_trigger_c,
        release: |b| b.charge_ut_release_c,
        side: Side::Under,
    },
    Pair {
        field: "bms.discharge_ot_release_c",
        trigger: |b| b.discharge_ot_trigger_c,
        release: |b| b.discharge_ot_release_c,
        side: Side::Over,
    },
    Pair {
        field: "bms.discharge_ut_release_c",
        trigger: |b| b.discharge_ut_trigger_c,
        release: |b| b.discharge_ut_release_c,
        side: Side::Under,
    },
];

/// Trigger/release pairs: over-limits release below the trigger, under-limits above it.
fn protection_pairs(b: &BmsSettings, out: &mut Issues) {
    for pair in &PAIRS {
        let (trigger, release) = ((pair.trigger)(b), (pair.release)(b));
        if !release.is_finite() {
            out.bad(pair.field, format!("{release} is not a finite number"));
            continue;
        }
        match pair.side {
            Side::Over if release >= trigger => out.bad(
                pair.field,
                format!("release {release} must be below the trigger {trigger}, or the protection never lets go"),
            ),
            Side::Under if release <= trigger => out.bad(
                pair.field,
                format!("release {release} must be above the trigger {trigger}, or the protection never lets go"),
            ),
            _ => {}
        }
    }
}

/// The under-voltage window below the over-voltage one, the pack limit acting first.
fn window_overlaps(p: &Profile, out: &mut Issues) {
    let (b, s) = (&p.bms, p.series);
    if b.cell_uv_release_mv >= b.cell_ov_release_mv {
        out.bad(
            "bms.cell_uv_release_mv",
            "the under-voltage window overlaps the over-voltage window",
        );
    }
    if b.pack_ov_trigger_mv > b.cell_ov_trigger_mv * s {
        out.bad("bms.pack_ov_trigger_mv", format!("{} mV is above S × cell over-voltage trigger ({} mV): the pack limit would never act first", b.pack_ov_trigger_mv, b.cell_ov_trigger_mv * s));
    }
}

/// Temperature triggers inside the chemistry's windows (NaN and infinities are outside).
fn temperatures(p: &Profile, out: &mut Issues) {
    let (chem, lim, b) = (p.chemistry, p.chemistry.hard_limits(), &p.bms);
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
            out.bad(
                field,
                format!("{c} °C is outside the {chem} window {lo} to {hi} °C"),
            );
        }
    }
}

/// Currents positive and inside the signed 16-bit register (10 mA, or 100 mA with the unit
/// flag); balancing and sensor counts a board can do.
fn currents_and_balancing(b: &BmsSettings, out: &mut Issues) {
    for (field, a) in [
        ("bms.charge_overcurrent_a", b.charge_overcurrent_a),
        ("bms.discharge_overcurrent_a", b.discharge_overcurrent_a),
    ] {
        if !(a > 0.0 && a <= 3276.7) {
            out.bad(
                field,
                format!("{a} A must be positive and at most 3276.7 A"),
            );
        }
    }
    if b.balance_delta_mv == 0 || b.balance_delta_mv > 500 {
        out.bad(
            "bms.balance_delta_mv",
            format!("{} mV must be between 1 and 500", b.balance_delta_mv),
        );
    }
    if b.ntc_count > 8 {
        out.bad(
            "bms.ntc_count",
            format!("{} sensors, but a board has at most 8", b.ntc_count),
        );
    }
}

/// What the pack announces to an inverter stays inside what its BMS enforces.
fn inverter(p: &Profile, out: &mut Issues) {
    let (Some(inv), b) = (&p.inverter, &p.bms) else {
        return;
    };
    for (field, v) in [
        (
            "inverter.charge_voltage_limit_v",
            inv.charge_voltage_limit_v,
        ),
        (
            "inverter.charge_current_limit_a",
            inv.charge_current_limit_a,
        ),
        (
            "inverter.discharge_current_limit_a",
            inv.discharge_current_limit_a,
        ),
        (
            "inverter.discharge_voltage_limit_v",
            inv.discharge_voltage_limit_v,
        ),
    ] {
        if !(v.is_finite() && v > 0.0) {
            out.bad(field, format!("{v} must be a positive finite number"));
        }
    }
    let max_pack_v = f64::from(b.pack_ov_trigger_mv) / 1000.0;
    if inv.charge_voltage_limit_v > max_pack_v {
        out.bad(
            "inverter.charge_voltage_limit_v",
            format!(
                "{} V is above the pack over-voltage trigger ({max_pack_v} V)",
                inv.charge_voltage_limit_v
            ),
        );
    }
    if inv.discharge_voltage_limit_v < f64::from(b.pack_uv_trigger_mv) / 1000.0 {
        out.bad(
            "inverter.discharge_voltage_limit_v",
            "is below the pack under-voltage trigger",
        );
    }
    if inv.charge_current_limit_a > b.charge_overcurrent_a {
        out.bad(
            "inverter.charge_current_limit_a",
            "is above the BMS charge over-current trigger",
        );
    }
    if inv.discharge_current_limit_a > b.discharge_overcurrent_a {
        out.bad(
            "inverter.discharge_current_limit_a",
            "is above the BMS discharge over-current trigger",
        );
    }
}

/// Matching tolerances: a floor under the nominal capacity, ceilings that are positive, finite
/// and not beyond anything a cell could measure (a limit no cell can reach is no limit, and
/// is likely a unit mix-up; leaving the key out is how to say "no limit").
fn tolerances(p: &Profile, out: &mut Issues) {
    let t = &p.tolerances;
    if !(is_positive(t.capacity_floor_mah) || t.capacity_floor_mah == 0.0)
        || t.capacity_floor_mah > p.nominal_capacity_mah * 1.2
        || !t.capacity_floor_mah.is_finite()
    {
        out.bad(
            "tolerances.capacity_floor_mah",
            format!(
                "{} mAh must be between 0 and 120 % of the nominal capacity",
                t.capacity_floor_mah
            ),
        );
    }
    let plausible = p.chemistry.plausible();
    let ocv_span_mv = plausible.ocv_max_mv - plausible.ocv_min_mv;
    for (field, v, most, unit) in [
        (
            "tolerances.ir_ceiling_mohm",
            t.ir_ceiling_mohm,
            plausible.ir_max_mohm,
            "mΩ",
        ),
        (
            "tolerances.self_discharge_ceiling_mv_per_day",
            t.self_discharge_ceiling_mv_per_day,
            plausible.self_discharge_max_mv_per_day,
            "mV/day",
        ),
        (
            "tolerances.max_group_ir_spread_mohm",
            t.max_group_ir_spread_mohm,
            plausible.ir_max_mohm,
            "mΩ",
        ),
        (
            "tolerances.max_ocv_delta_mv",
            t.max_ocv_delta_mv,
            ocv_span_mv,
            "mV",
        ),
        (
            "tolerances.max_group_capacity_spread_pct",
            t.max_group_capacity_spread_pct,
            100.0,
            "%",
        ),
    ] {
        let Some(v) = v else { continue };
        if !is_positive(v) {
            out.bad(
                field,
                format!("{v} must be positive (leave it out for no limit)"),
            );
        } else if !v.is_finite() || v > most {
            out.bad(
                field,
                format!(
                    "{v} {unit} is beyond anything a {} cell measures (at most {most} {unit}); leave it out for no limit",
                    p.chemistry
                ),
            );
        }
    }
    if !(0.0..=1.0).contains(&t.ir_weight) {
        out.bad(
            "tolerances.ir_weight",
            format!("{} must be between 0 and 1", t.ir_weight),
        );
    }
    for (field, value, most) in [
        (
            "tolerances.balance_slack_mah",
            t.balance_slack_mah,
            100_000.0,
        ),
        ("tolerances.balance_slack_pct", t.balance_slack_pct, 100.0),
    ] {
        if let Some(v) = value.filter(|v| !(v.is_finite() && (0.0..=most).contains(v))) {
            out.bad(field, format!("{v} must be between 0 and {most}"));
        }
    }
}

/// The pack-code scheme's parts are well-formed.
fn pack_code(scheme: &PackCodeScheme, out: &mut Issues) {
    match scheme {
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
                    out.bad(
                        field,
                        format!(
                            "'{}' must be {len} letters or digits (GB/T 34014)",
                            printable(v)
                        ),
                    );
                }
            }
        }
        PackCodeScheme::Plant { regex, .. } => {
            if let Err(e) = regex::Regex::new(regex) {
                out.bad("pack_code.regex", format!("does not compile: {e}"));
            }
        }
    }
}

/// The end-of-line plan's own consistency (`TestPlan::issues`), and limits that are numbers:
/// a NaN bound compares false both ways, so it would pass every measurement.
fn eol_plan(p: &Profile, out: &mut Issues) {
    for (field, reason) in p.eol.issues() {
        out.bad(&field, reason);
    }
    for (i, step) in p.eol.steps.iter().enumerate() {
        for m in &step.measurements {
            let Ok(Limit::Range { low, high }) = m.limit() else {
                continue;
            };
            for (bound, v) in [("low", low), ("high", high)] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    out.bad(
                        &format!("eol.steps[{i}] ({}).{}", step.id, m.name),
                        format!("{bound} {v} is not a finite number (leave it out for no bound)"),
                    );
                }
            }
        }
    }
}

/// The label template is sane and a label of the longest code the scheme makes fits on it.
fn label(p: &Profile, out: &mut Issues) {
    let Some(l) = &p.label else {
        return;
    };
    if l.version.trim().is_empty() || l.version.chars().any(char::is_control) {
        out.bad("label.version", "must name the template (printable text)");
    }
    if !(100..=600).contains(&l.dpi) {
        out.bad(
            "label.dpi",
            format!("{} must be between 100 and 600", l.dpi),
        );
        return;
    }
    // 0.5 to 8 inches each way.
    let (least, most) = (l.dpi / 2, l.dpi * 8);
    for (field, v) in [
        ("label.width_dots", l.width_dots),
        ("label.height_dots", l.height_dots),
    ] {
        if !(least..=most).contains(&v) {
            out.bad(
                field,
                format!(
                    "{v} must be between {least} and {most} dots (0.5 to 8 in at {} dpi)",
                    l.dpi
                ),
            );
            return;
        }
    }
    if let Some(url) = &l.qr_url {
        if !url.contains("{code}") {
            out.bad(
                "label.qr_url",
                format!("'{}' has no {{code}} placeholder", printable(url)),
            );
            return;
        }
    }
    // A sample label: the scheme's code length, every text field present.
    let code_len = match &p.pack_code {
        PackCodeScheme::Gbt34014 { .. } => 24,
        PackCodeScheme::Plant { prefix, digits, .. } => {
            prefix.chars().count() + usize::from(*digits)
        }
    };
    let sample = crate::label::LabelFields {
        pack_code: "W".repeat(code_len.max(1)),
        chemistry: Some(p.chemistry.to_string()),
        configuration: Some(format!("{}S{}P", p.series, p.parallel)),
        nominal_voltage_v: Some(p.nominal_voltage_v()),
        rated_capacity_ah: Some(p.nominal_capacity_mah / 1000.0),
        measured_capacity_ah: Some(p.nominal_capacity_mah / 1000.0),
        state_of_health_pct: Some(100.0),
        pack_resistance_mohm: Some(99.99),
        energy_kwh: Some(p.nominal_energy_kwh()),
        production_date: Some("2000-01-01".into()),
        station: "station".into(),
        source_modules: 10,
    };
    if let Err(e) = crate::label::render(&l.template(), &sample) {
        out.bad(
            "label",
            format!("a label of a {code_len}-character code does not fit: {e}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::BUILTIN;

    fn builtin(name: &str) -> Profile {
        let text = BUILTIN.iter().find(|(n, _)| *n == name).unwrap().1;
        Profile::from_toml(name, name, text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fields(p: &Profile) -> Vec<String> {
        p.issues().into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn every_pair_refuses_a_release_on_the_wrong_side() {
        for pair in &PAIRS {
            let mut p = builtin("lfp-16s1p-280ah");
            let b = &mut p.bms;
            let t = (pair.trigger)(b);
            // Put the release on the trigger: both sides refuse equality.
            match pair.field {
                "bms.cell_ov_release_mv" => b.cell_ov_release_mv = t as u32,
                "bms.cell_uv_release_mv" => b.cell_uv_release_mv = t as u32,
                "bms.pack_ov_release_mv" => b.pack_ov_release_mv = t as u32,
                "bms.pack_uv_release_mv" => b.pack_uv_release_mv = t as u32,
                "bms.charge_ot_release_c" => b.charge_ot_release_c = t,
                "bms.charge_ut_release_c" => b.charge_ut_release_c = t,
                "bms.discharge_ot_release_c" => b.discharge_ot_release_c = t,
                "bms.discharge_ut_release_c" => b.discharge_ut_release_c = t,
                other => panic!("test does not know {other}"),
            }
            let issues = p.issues();
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == pair.field && i.reason.contains("never lets go")),
                "{}: {issues:?}",
                pair.field
            );
        }
    }

    #[test]
    fn non_finite_and_absurd_values_are_named() {
        let mut p = builtin("lfp-16s1p-280ah");
        p.tolerances.ir_ceiling_mohm = Some(f64::INFINITY);
        p.tolerances.max_ocv_delta_mv = Some(f64::NAN);
        p.tolerances.self_discharge_ceiling_mv_per_day = Some(5000.0);
        p.bms.charge_ot_release_c = f64::NAN;
        p.nominal_capacity_mah = 1e12;
        let f = fields(&p);
        for field in [
            "tolerances.ir_ceiling_mohm",
            "tolerances.max_ocv_delta_mv",
            "tolerances.self_discharge_ceiling_mv_per_day",
            "bms.charge_ot_release_c",
            "nominal_capacity_mah",
        ] {
            assert!(f.iter().any(|x| x == field), "{field} in {f:?}");
        }
        let nan_limit = BUILTIN[0].1.replace("high = 30\n", "high = nan\n");
        assert_ne!(nan_limit, BUILTIN[0].1);
        let err = Profile::from_toml("x", "x.toml", &nan_limit)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a finite number"), "{err}");
        let mut p = builtin("lfp-16s1p-280ah");
        p.nominal_capacity_mah = f64::INFINITY;
        assert!(fields(&p).contains(&"nominal_capacity_mah".to_string()));
        let mut p = builtin("nmc-14s4p-ev");
        if let Some(inv) = p.inverter.as_mut() {
            inv.charge_current_limit_a = f64::NAN;
            assert!(fields(&p).contains(&"inverter.charge_current_limit_a".to_string()));
        }
    }

    #[test]
    fn shipped_profiles_have_no_issues_in_any_section() {
        for (name, _) in BUILTIN {
            assert!(builtin(name).issues().is_empty(), "{name}");
        }
    }

    #[test]
    fn a_label_table_is_checked_and_becomes_the_template() {
        use crate::profile::LabelSettings;
        let mut p = builtin("lfp-15s1p-100ah");
        assert!(p.label.is_none());
        p.label = Some(LabelSettings {
            version: "plant-a/3".into(),
            width_dots: 1218,
            height_dots: 609,
            dpi: 300,
            qr_url: Some("https://id.example.com/{code}".into()),
        });
        assert!(fields(&p).is_empty(), "{:?}", p.issues());
        let t = p.label.as_ref().unwrap().template();
        assert_eq!(t.version, "plant-a/3/1");
        assert_eq!(
            t.qr,
            crate::label::QrContent::Url("https://id.example.com/{code}".into())
        );
        let good = p.label.clone().unwrap();
        for (bad, field) in [
            (
                LabelSettings {
                    version: " ".into(),
                    ..good.clone()
                },
                "label.version",
            ),
            (
                LabelSettings {
                    dpi: 50,
                    ..good.clone()
                },
                "label.dpi",
            ),
            (
                LabelSettings {
                    width_dots: 10_000,
                    ..good.clone()
                },
                "label.width_dots",
            ),
            (
                LabelSettings {
                    qr_url: Some("https://x/".into()),
                    ..good.clone()
                },
                "label.qr_url",
            ),
            // 1 × 0.5 in: no room for the layout.
            (
                LabelSettings {
                    width_dots: 300,
                    height_dots: 150,
                    ..good.clone()
                },
                "label",
            ),
        ] {
            p.label = Some(bad);
            assert_eq!(fields(&p), [field]);
        }
    }

    #[test]
    fn a_label_table_parses_from_the_profile_text() {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == "lfp-15s1p-100ah")
            .unwrap()
            .1;
        let with = format!(
            "{text}\n[label]\nversion = \"v2\"\nwidth_dots = 812\nheight_dots = 406\ndpi = 203\n"
        );
        let p = Profile::from_toml("x", "x", &with).unwrap_or_else(|e| panic!("{e}"));
        let l = p.label.unwrap();
        assert_eq!((l.width_dots, l.dpi, l.qr_url), (812, 203, None));
        let typo = format!("{with}colour = 1\n");
        assert!(Profile::from_toml("x", "x", &typo).is_err());
    }
}
