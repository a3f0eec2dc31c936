//! End-of-line test plans as a profile declares them: ordered steps, each with measurements and
//! their limits. Pure data plus validation; the runner lives beside it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPlan {
    /// Bumped whenever steps or limits change; stored with every run.
    pub plan_version: String,
    /// The pack's label must have been scanned back (the latest scan of it read as the pack's
    /// code) before its BMS is configured or its test run (`require_label_scan = true`,
    /// checked by `services::labels::scan_back_required`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_label_scan: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Read from the BMS or computed from what it reports.
    #[default]
    Auto,
    /// Typed or scanned by the operator from an instrument or an inspection.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    /// Later steps are skipped (e.g. no point testing cells when the BMS does not answer).
    Stop,
    #[default]
    Continue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable identifier, e.g. `cell_voltages`.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub kind: StepKind,
    #[serde(default)]
    pub on_fail: OnFail,
    /// Shown to the operator for manual steps.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Only run when the pack voltage is above this (HiPot applies above 60 V DC).
    #[serde(default)]
    pub only_above_pack_v: Option<f64>,
    pub measurements: Vec<MeasurementSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSpec {
    /// For automatic steps one of [`AUTO_MEASUREMENTS`]; for manual ones free, snake_case.
    pub name: String,
    #[serde(default)]
    pub unit: String,
    /// Give `low` and/or `high`, or `equals`, or `pattern`: see [`MeasurementSpec::limit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// How a measured value is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Range { low: Option<f64>, high: Option<f64> },
    Equals(toml::Value),
    Pattern(String),
}

impl Limit {
    /// What passes, in plain words (the unit is the only thing not ASCII): `at least 1 MΩ`,
    /// `at most 30 mV`, `3000 to 3500 mV`, `= 16`, `yes`, `text matching ^(?i)pass$`.
    pub fn describe(&self, unit: &str) -> String {
        let u = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        match self {
            Limit::Range {
                low: Some(lo),
                high: Some(hi),
            } => format!("{lo} to {hi}{u}"),
            Limit::Range { low: Some(lo), .. } => format!("at least {lo}{u}"),
            Limit::Range { high: Some(hi), .. } => format!("at most {hi}{u}"),
            Limit::Range { .. } => "any value".into(),
            Limit::Equals(toml::Value::Boolean(b)) => if *b { "yes" } else { "no" }.into(),
            Limit::Equals(toml::Value::String(text)) => format!("= {text}"),
            Limit::Equals(v) => format!("= {v}{u}"),
            Limit::Pattern(p) => format!("text matching {p}"),
        }
    }
}

impl MeasurementSpec {
    /// The limit this measurement declares, or why it declares none or several.
    pub fn limit(&self) -> Result<Limit, String> {
        let range = self.low.is_some() || self.high.is_some();
        match (range, &self.equals, &self.pattern) {
            (true, None, None) => Ok(Limit::Range {
                low: self.low,
                high: self.high,
            }),
            (false, Some(v), None) => Ok(Limit::Equals(v.clone())),
            (false, None, Some(p)) => Ok(Limit::Pattern(p.clone())),
            (false, None, None) => Err("give low and/or high, equals, or pattern".into()),
            _ => Err("give only one kind of limit: low/high, equals, or pattern".into()),
        }
    }
}

/// The automatic measurements the runner knows how to take, with their units.
pub const AUTO_MEASUREMENTS: &[(&str, &str)] = &[
    ("bms_responds", ""),
    ("bms_model", ""),
    ("firmware_version", ""),
    ("cell_count", ""),
    ("cell_voltage_min_mv", "mV"),
    ("cell_voltage_max_mv", "mV"),
    ("cell_voltage_spread_mv", "mV"),
    ("pack_voltage_error_pct", "%"),
    ("temperature_sensor_count", ""),
    ("temperature_min_c", "°C"),
    ("temperature_max_c", "°C"),
    ("temperature_spread_c", "°C"),
    ("config_mismatch_count", ""),
    ("charge_fet_on", ""),
    ("discharge_fet_on", ""),
    ("balancing_responds", ""),
    ("overvoltage_trips", ""),
    ("overvoltage_releases", ""),
    ("can_charge_voltage_limit_v", "V"),
    ("can_charge_current_limit_a", "A"),
    ("can_discharge_current_limit_a", "A"),
    ("barcode_matches_label", ""),
];

impl TestPlan {
    /// Problems a plan can have on its own: `(field path, reason)` pairs.
    pub fn issues(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.steps.is_empty() {
            out.push((
                "eol.steps".into(),
                "a test plan needs at least one step".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("eol.steps[{i}] ({})", step.id);
            if !seen.insert(step.id.as_str()) {
                out.push((at.clone(), format!("step id '{}' is used twice", step.id)));
            }
            if step.measurements.is_empty() {
                out.push((at.clone(), "a step needs at least one measurement".into()));
            }
            if step.kind == StepKind::Manual && step.prompt.is_none() {
                out.push((
                    at.clone(),
                    "a manual step needs a prompt for the operator".into(),
                ));
            }
            for m in &step.measurements {
                let at = format!("{at}.{}", m.name);
                if step.kind == StepKind::Auto
                    && !AUTO_MEASUREMENTS.iter().any(|(name, _)| *name == m.name)
                {
                    out.push((
                        at.clone(),
                        format!(
                            "unknown automatic measurement; known: {}",
                            AUTO_MEASUREMENTS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                match m.limit() {
                    Err(reason) => out.push((at, reason)),
                    Ok(Limit::Range {
                        low: Some(lo),
                        high: Some(hi),
                    }) if lo > hi => {
                        out.push((at, format!("low {lo} is above high {hi}")));
                    }
                    Ok(Limit::Pattern(pattern)) => {
                        if let Err(e) = regex::Regex::new(&pattern) {
                            out.push((at, format!("pattern does not compile: {e}")));
                        }
                    }
                    Ok(Limit::Equals(
                        v @ (toml::Value::Array(_)
                        | toml::Value::Table(_)
                        | toml::Value::Datetime(_)),
                    )) => {
                        out.push((
                            at,
                            format!(
                                "equals must be true/false, a number or text, not {}",
                                v.type_str()
                            ),
                        ));
                    }
                    Ok(_) => {}
                }
            }
        }
        out
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(measurement: MeasurementSpec, kind: StepKind) -> TestPlan {
        TestPlan {
            plan_version: "v".into(),
            require_label_scan: false,
            steps: vec![Step {
                id: "s".into(),
                title: "S".into(),
                kind,
                on_fail: OnFail::Continue,
                prompt: Some("?".into()),
                only_above_pack_v: None,
                measurements: vec![measurement],
            }],
        }
    }

    fn spec(name: &str) -> MeasurementSpec {
        MeasurementSpec {
            name: name.into(),
            unit: String::new(),
            low: None,
            high: None,
            equals: None,
            pattern: None,
        }
    }

    #[test]
    fn limits_read_as_what_passes() {
        let r = |low, high| Limit::Range { low, high };
        assert_eq!(r(Some(1.0), None).describe("MΩ"), "at least 1 MΩ");
        assert_eq!(r(None, Some(0.1)).describe("Ω"), "at most 0.1 Ω");
        assert_eq!(
            r(Some(3000.0), Some(3500.0)).describe("mV"),
            "3000 to 3500 mV"
        );
        assert_eq!(r(Some(2.9), Some(3.5)).describe("V"), "2.9 to 3.5 V");
        assert_eq!(r(None, None).describe("V"), "any value");
        assert_eq!(Limit::Equals(toml::Value::Integer(16)).describe(""), "= 16");
        assert_eq!(
            Limit::Equals(toml::Value::Integer(2)).describe("A"),
            "= 2 A"
        );
        assert_eq!(
            Limit::Equals(toml::Value::Boolean(true)).describe(""),
            "yes"
        );
        assert_eq!(
            Limit::Equals(toml::Value::Boolean(false)).describe(""),
            "no"
        );
        assert_eq!(
            Limit::Equals(toml::Value::String("PASS".into())).describe(""),
            "= PASS"
        );
        assert_eq!(
            Limit::Pattern("^(?i)pass$".into()).describe(""),
            "text matching ^(?i)pass$"
        );
    }

    #[test]
    fn limits_that_cannot_judge_a_value_are_named() {
        let mut m = spec("cell_count");
        m.equals = Some(toml::Value::Array(vec![]));
        let issues = plan(m, StepKind::Auto).issues();
        assert!(
            issues.iter().any(|(_, r)| r.contains("not array")),
            "{issues:?}"
        );

        let mut m = spec("torque_ok");
        m.low = Some(2.0);
        m.high = Some(1.0);
        let issues = plan(m, StepKind::Manual).issues();
        assert!(
            issues
                .iter()
                .any(|(_, r)| r.contains("low 2 is above high 1")),
            "{issues:?}"
        );

        let mut m = spec("cell_count");
        m.low = Some(1.0);
        m.pattern = Some("x".into());
        let issues = plan(m, StepKind::Auto).issues();
        assert!(
            issues.iter().any(|(_, r)| r.contains("only one kind")),
            "{issues:?}"
        );

        let issues = plan(spec("voltage_of_the_moon"), StepKind::Auto).issues();
        assert!(
            issues.iter().any(
                |(at, r)| at.contains("voltage_of_the_moon") && r.contains("unknown automatic")
            ),
            "{issues:?}"
        );
    }
}
