//! Answers for a plan's manual steps, given up front in a file so a headless run needs no one
//! at the keyboard.
//!
//! TOML (or JSON, by extension or a leading `{`), keyed by measurement name, or by step id then
//! measurement name when two manual steps share a measurement name:
//!
//! ```toml
//! insulation_resistance_megaohm = 550
//! hipot_result = "PASS"
//! [pe_continuity]
//! pe_continuity_ohm = 0.03
//! ```
//!
//! A key that names no manual measurement of the plan is refused, naming it: a typo must not
//! silently leave a measurement unanswered.

use super::plan::{StepKind, TestPlan};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswersError {
    #[error("{origin}: not valid {format}: {message}")]
    Syntax {
        origin: String,
        format: &'static str,
        message: String,
    },
    #[error("{origin}: the top level must be a table of measurement names")]
    NotATable { origin: String },
    #[error("{origin}: '{key}' is not a manual measurement of plan {plan}; manual measurements: {known}")]
    UnknownKey {
        origin: String,
        key: String,
        plan: String,
        known: String,
    },
    #[error("{origin}: '{key}' must be a number, text or true/false, not {found}")]
    BadValue {
        origin: String,
        key: String,
        found: String,
    },
}

/// Answers by `(step id, measurement name)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    by_step: BTreeMap<(String, String), String>,
}

/// A scalar from either format, as the text an operator would have typed.
enum Scalar {
    Text(String),
    Table(Vec<(String, Scalar)>),
    Other(String),
}

fn from_toml(v: toml::Value) -> Scalar {
    match v {
        toml::Value::String(s) => Scalar::Text(s),
        toml::Value::Integer(i) => Scalar::Text(i.to_string()),
        toml::Value::Float(f) => Scalar::Text(f.to_string()),
        toml::Value::Boolean(b) => Scalar::Text(b.to_string()),
        toml::Value::Table(t) => {
            Scalar::Table(t.into_iter().map(|(k, v)| (k, from_toml(v))).collect())
        }
        other => Scalar::Other(other.type_str().to_string()),
    }
}

fn from_json(v: serde_json::Value) -> Scalar {
    match v {
        serde_json::Value::String(s) => Scalar::Text(s),
        serde_json::Value::Number(n) => Scalar::Text(n.to_string()),
        serde_json::Value::Bool(b) => Scalar::Text(b.to_string()),
        serde_json::Value::Object(o) => {
            Scalar::Table(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
        serde_json::Value::Null => Scalar::Other("null".into()),
        serde_json::Value::Array(_) => Scalar::Other("a list".into()),
    }
}

impl Answers {
    /// Parse answers for `plan`. `origin` names the file in messages.
    pub fn parse(origin: &str, text: &str, plan: &TestPlan) -> Result<Answers, AnswersError> {
        let json = origin.ends_with(".json") || text.trim_start().starts_with('{');
        let root = if json {
            serde_json::from_str::<serde_json::Value>(text)
                .map(from_json)
                .map_err(|e| AnswersError::Syntax {
                    origin: origin.into(),
                    format: "JSON",
                    message: e.to_string(),
                })?
        } else {
            text.parse::<toml::Table>()
                .map(|t| from_toml(toml::Value::Table(t)))
                .map_err(|e| AnswersError::Syntax {
                    origin: origin.into(),
                    format: "TOML",
                    message: e.to_string().trim_end().to_string(),
                })?
        };
        let Scalar::Table(entries) = root else {
            return Err(AnswersError::NotATable {
                origin: origin.into(),
            });
        };

        let manual: Vec<(&str, &str)> = plan
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::Manual)
            .flat_map(|s| {
                s.measurements
                    .iter()
                    .map(move |m| (s.id.as_str(), m.name.as_str()))
            })
            .collect();
        let unknown = |key: &str| AnswersError::UnknownKey {
            origin: origin.into(),
            key: key.into(),
            plan: plan.plan_version.clone(),
            known: manual
                .iter()
                .map(|(_, m)| *m)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let bad = |key: &str, found: String| AnswersError::BadValue {
            origin: origin.into(),
            key: key.into(),
            found,
        };

        let mut answers = Answers::default();
        for (key, value) in entries {
            match value {
                Scalar::Text(text) => {
                    let steps: Vec<&str> = manual
                        .iter()
                        .filter(|(_, m)| *m == key)
                        .map(|(s, _)| *s)
                        .collect();
                    if steps.is_empty() {
                        return Err(unknown(&key));
                    }
                    for step in steps {
                        answers
                            .by_step
                            .entry((step.to_string(), key.clone()))
                            .or_insert_with(|| text.clone());
                    }
                }
                Scalar::Table(inner) => {
                    for (name, value) in inner {
                        let full = format!("{key}.{name}");
                        if !manual.iter().any(|(s, m)| *s == key && *m == name) {
                            return Err(unknown(&full));
                        }
                        let Scalar::Text(text) = value else {
                            return Err(bad(&full, "a table".into()));
                        };
                        // A step-qualified answer wins over a plain one for the same name.
                        answers.by_step.insert((key.clone(), name), text);
                    }
                }
                Scalar::Other(found) => return Err(bad(&key, found)),
            }
        }
        Ok(answers)
    }

    pub fn get(&self, step: &str, measurement: &str) -> Option<&str> {
        self.by_step
            .get(&(step.to_string(), measurement.to_string()))
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_step.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eol::plan::{MeasurementSpec, OnFail, Step};

    fn manual(id: &str, names: &[&str]) -> Step {
        Step {
            id: id.into(),
            title: id.into(),
            kind: StepKind::Manual,
            on_fail: OnFail::Continue,
            prompt: Some("?".into()),
            only_above_pack_v: None,
            measurements: names
                .iter()
                .map(|n| MeasurementSpec {
                    name: (*n).into(),
                    unit: String::new(),
                    low: Some(0.0),
                    high: None,
                    equals: None,
                    pattern: None,
                })
                .collect(),
        }
    }

    fn plan() -> TestPlan {
        TestPlan {
            plan_version: "v1".into(),
            require_label_scan: false,
            steps: vec![
                manual("insulation", &["insulation_resistance_megaohm"]),
                manual("pe", &["pe_continuity_ohm", "note"]),
                manual("pe_again", &["note"]),
            ],
        }
    }

    #[test]
    fn toml_answers_by_name_and_by_step() {
        let a = Answers::parse(
            "a.toml",
            "insulation_resistance_megaohm = 550\nnote = \"fine\"\n[pe_again]\nnote = \"scratched\"\n",
            &plan(),
        )
        .unwrap();
        assert_eq!(
            a.get("insulation", "insulation_resistance_megaohm"),
            Some("550")
        );
        assert_eq!(a.get("pe", "note"), Some("fine"));
        assert_eq!(a.get("pe_again", "note"), Some("scratched"));
        assert_eq!(a.get("pe", "pe_continuity_ohm"), None);
    }

    #[test]
    fn json_answers() {
        let a = Answers::parse(
            "a.json",
            r#"{"pe_continuity_ohm": 0.03, "pe": {"note": true}}"#,
            &plan(),
        )
        .unwrap();
        assert_eq!(a.get("pe", "pe_continuity_ohm"), Some("0.03"));
        assert_eq!(a.get("pe", "note"), Some("true"));
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        let err = Answers::parse("a.toml", "insulation_resistance = 5\n", &plan())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.toml")
                && err.contains("'insulation_resistance'")
                && err.contains("pe_continuity_ohm"),
            "{err}"
        );
        let err = Answers::parse("a.toml", "[pe]\nvisual = 1\n", &plan())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'pe.visual'"), "{err}");
        let err = Answers::parse("a.toml", "note = [1, 2]\n", &plan())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'note'") && err.contains("array"), "{err}");
        let err = Answers::parse("a.toml", "note = \n", &plan())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        let err = Answers::parse("a.json", "[1]", &plan())
            .unwrap_err()
            .to_string();
        assert!(err.contains("top level"), "{err}");
    }
}
