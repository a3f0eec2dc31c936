//! Test-run records as the store keeps them, and their exports: one self-describing JSON
//! document per run, and CSV with one row per measurement.

use super::judge::{step_outcome, Outcome, RunOutcome, Value};
use super::plan::Limit;
use serde::Serialize;

/// Identifies the JSON document layout, so a reader years later knows what it holds.
pub const RUN_FORMAT: &str = "packwright.eol-run/1";

/// A run's header row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunHeader {
    pub id: i64,
    pub pack_id: i64,
    pub pack_code: Option<String>,
    pub profile: String,
    pub plan_version: String,
    pub station: String,
    pub operator: String,
    pub software_version: String,
    /// How the bench reached the BMS, e.g. `serial /dev/ttyUSB0 jbd`.
    pub transport: String,
    pub pid: Option<i64>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: RunOutcome,
    pub reason: Option<String>,
}

/// One measurement as taken (or skipped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Order within the run, from 1.
    pub seq: i64,
    pub step_id: String,
    pub step_title: String,
    pub name: String,
    pub value: Option<Value>,
    pub unit: String,
    pub limit: Limit,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub taken_at: String,
}

impl Measurement {
    /// The value with its unit, `3301 mV`, `yes`, or `-` when none was taken.
    pub fn value_text(&self) -> String {
        match &self.value {
            None => "-".into(),
            Some(v) if self.unit.is_empty() => v.to_string(),
            Some(v) => format!("{v} {}", self.unit),
        }
    }
}

/// A step of a run document: its measurements in order and the worst of their outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub id: String,
    pub title: String,
    pub outcome: Outcome,
    pub measurements: Vec<Measurement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackRef {
    pub id: i64,
    pub code: Option<String>,
    pub profile: String,
}

/// The JSON document for one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDocument {
    pub format: &'static str,
    pub run_id: i64,
    pub pack: PackRef,
    pub profile: String,
    pub plan_version: String,
    pub station: String,
    pub operator: String,
    pub software_version: String,
    pub transport: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: RunOutcome,
    pub reason: Option<String>,
    pub steps: Vec<StepRecord>,
}

/// Group measurements (in `seq` order) into steps, keeping the order steps were first seen.
pub fn steps_of(measurements: &[Measurement]) -> Vec<StepRecord> {
    let mut steps: Vec<StepRecord> = Vec::new();
    for m in measurements {
        match steps.iter_mut().find(|s| s.id == m.step_id) {
            Some(step) => step.measurements.push(m.clone()),
            None => steps.push(StepRecord {
                id: m.step_id.clone(),
                title: m.step_title.clone(),
                outcome: Outcome::Skipped,
                measurements: vec![m.clone()],
            }),
        }
    }
    for step in &mut steps {
        step.outcome = step_outcome(step.measurements.iter().map(|m| m.outcome));
    }
    steps
}

impl RunDocument {
    pub fn new(run: &RunHeader, measurements: &[Measurement]) -> RunDocument {
        RunDocument {
            format: RUN_FORMAT,
            run_id: run.id,
            pack: PackRef {
                id: run.pack_id,
                code: run.pack_code.clone(),
                profile: run.profile.clone(),
            },
            profile: run.profile.clone(),
            plan_version: run.plan_version.clone(),
            station: run.station.clone(),
            operator: run.operator.clone(),
            software_version: run.software_version.clone(),
            transport: run.transport.clone(),
            started_at: run.started_at.clone(),
            ended_at: run.ended_at.clone(),
            outcome: run.outcome,
            reason: run.reason.clone(),
            steps: steps_of(measurements),
        }
    }
}

const CSV_HEADER: &[&str] = &[
    "run_id",
    "pack_code",
    "profile",
    "plan_version",
    "station",
    "operator",
    "software_version",
    "run_outcome",
    "run_started_at",
    "seq",
    "step_id",
    "step_title",
    "measurement",
    "value",
    "unit",
    "low",
    "high",
    "equals",
    "pattern",
    "outcome",
    "reason",
    "taken_at",
];

fn value_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Num(n) => n.to_string(),
        Value::Text(t) => t.clone(),
    }
}

fn limit_columns(limit: &Limit) -> [String; 4] {
    let num = |v: &Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    match limit {
        Limit::Range { low, high } => [num(low), num(high), String::new(), String::new()],
        Limit::Equals(v) => {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            [String::new(), String::new(), text, String::new()]
        }
        Limit::Pattern(p) => [String::new(), String::new(), String::new(), p.clone()],
    }
}

/// CSV of several runs, one row per measurement, run columns repeated on each row so any row
/// stands alone in a spreadsheet or an SPC tool.
pub fn to_csv(runs: &[(RunHeader, Vec<Measurement>)]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for (run, measurements) in runs {
        for m in measurements {
            let [low, high, equals, pattern] = limit_columns(&m.limit);
            w.write_record([
                run.id.to_string(),
                run.pack_code.clone().unwrap_or_default(),
                run.profile.clone(),
                run.plan_version.clone(),
                run.station.clone(),
                run.operator.clone(),
                run.software_version.clone(),
                run.outcome.to_string(),
                run.started_at.clone(),
                m.seq.to_string(),
                m.step_id.clone(),
                m.step_title.clone(),
                m.name.clone(),
                m.value.as_ref().map(value_text).unwrap_or_default(),
                m.unit.clone(),
                low,
                high,
                equals,
                pattern,
                m.outcome.to_string(),
                m.reason.clone().unwrap_or_default(),
                m.taken_at.clone(),
            ])?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    // Every field written above is a Rust String, so the buffer is UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RunHeader {
        RunHeader {
            id: 4,
            pack_id: 2,
            pack_code: Some("PWT0000001".into()),
            profile: "lfp-15s1p-100ah".into(),
            plan_version: "2026.11-1".into(),
            station: "st".into(),
            operator: "ann".into(),
            software_version: "0.1.0".into(),
            transport: "serial /dev/pts/3 jbd".into(),
            pid: Some(1),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: Some("2026-01-01T00:01:00.000Z".into()),
            outcome: RunOutcome::Fail,
            reason: None,
        }
    }

    fn m(
        seq: i64,
        step: &str,
        name: &str,
        value: Value,
        limit: Limit,
        outcome: Outcome,
    ) -> Measurement {
        Measurement {
            seq,
            step_id: step.into(),
            step_title: format!("{step} title"),
            name: name.into(),
            value: Some(value),
            unit: "mV".into(),
            limit,
            outcome,
            reason: (outcome == Outcome::Fail).then(|| "2850 mV is below, \"low\"".to_string()),
            taken_at: "2026-01-01T00:00:01.000Z".into(),
        }
    }

    fn sample() -> Vec<Measurement> {
        vec![
            m(
                1,
                "cells",
                "cell_voltage_min_mv",
                Value::Num(2850.0),
                Limit::Range {
                    low: Some(2900.0),
                    high: None,
                },
                Outcome::Fail,
            ),
            m(
                2,
                "cells",
                "cell_voltage_max_mv",
                Value::Num(3300.0),
                Limit::Range {
                    low: None,
                    high: Some(3500.0),
                },
                Outcome::Pass,
            ),
            m(
                3,
                "fets",
                "charge_fet_on",
                Value::Bool(true),
                Limit::Equals(toml::Value::Boolean(true)),
                Outcome::Pass,
            ),
            m(
                4,
                "hipot",
                "hipot_result",
                Value::Text("PASS".into()),
                Limit::Pattern("^(?i)pass$".into()),
                Outcome::Skipped,
            ),
        ]
    }

    #[test]
    fn values_read_with_their_unit() {
        let ms = sample();
        assert_eq!(ms[0].value_text(), "2850 mV");
        let mut flag = ms[2].clone();
        flag.unit.clear();
        assert_eq!(flag.value_text(), "yes");
        flag.value = None;
        assert_eq!(flag.value_text(), "-");
    }

    #[test]
    fn document_groups_steps_in_order_with_worst_outcome() {
        let doc = RunDocument::new(&header(), &sample());
        assert_eq!(doc.format, RUN_FORMAT);
        let ids: Vec<&str> = doc.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["cells", "fets", "hipot"]);
        assert_eq!(doc.steps[0].outcome, Outcome::Fail);
        assert_eq!(doc.steps[1].outcome, Outcome::Pass);
        assert_eq!(doc.steps[2].outcome, Outcome::Skipped);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["pack"]["code"], "PWT0000001");
        assert_eq!(json["operator"], "ann");
        assert_eq!(json["outcome"], "fail");
        let first = &json["steps"][0]["measurements"][0];
        assert_eq!(first["value"], 2850.0);
        assert_eq!(first["limit"]["range"]["low"], 2900.0);
        assert_eq!(json["steps"][1]["measurements"][0]["limit"]["equals"], true);
        assert_eq!(
            json["steps"][2]["measurements"][0]["limit"]["pattern"],
            "^(?i)pass$"
        );
    }

    #[test]
    fn csv_has_one_row_per_measurement_and_quotes_what_needs_it() {
        let text = to_csv(&[(header(), sample())]).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers().unwrap().clone();
        assert_eq!(headers.len(), CSV_HEADER.len());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        assert_eq!(&rows[0][col("low")], "2900");
        assert_eq!(&rows[0][col("reason")], "2850 mV is below, \"low\"");
        assert_eq!(&rows[2][col("equals")], "true");
        assert_eq!(&rows[2][col("value")], "true");
        assert_eq!(&rows[3][col("pattern")], "^(?i)pass$");
        assert_eq!(&rows[3][col("pack_code")], "PWT0000001");
    }
}
