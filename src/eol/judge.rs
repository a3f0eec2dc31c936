//! Judging measured values against a plan's limits, and the outcome rules for steps and runs.
//! Pure: no I/O, so every rule is unit-tested here.

use super::plan::Limit;
use crate::domain::text_enum;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A measured or typed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Num(f64),
    Text(String),
}

impl Value {
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as the store keeps it: a number column and a text column.
    pub fn columns(&self) -> (Option<f64>, Option<String>) {
        match self {
            Value::Num(v) => (Some(*v), None),
            Value::Bool(b) => (None, Some(b.to_string())),
            Value::Text(t) => (None, Some(t.clone())),
        }
    }

    /// Back from the store's two columns; `true`/`false` text reads as a boolean.
    pub fn from_columns(num: Option<f64>, text: Option<String>) -> Option<Value> {
        match (num, text) {
            (Some(v), _) => Some(Value::Num(v)),
            (None, Some(t)) if t == "true" => Some(Value::Bool(true)),
            (None, Some(t)) if t == "false" => Some(Value::Bool(false)),
            (None, Some(t)) => Some(Value::Text(t)),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(true) => f.write_str("yes"),
            Value::Bool(false) => f.write_str("no"),
            // Shortest text that reads back to the same number; no trailing ".0" noise.
            Value::Num(v) => write!(f, "{v}"),
            Value::Text(t) => write!(f, "'{t}'"),
        }
    }
}

/// The outcome of one measurement, ordered from best to worst for "worst wins".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Skipped,
    Pass,
    Error,
    Fail,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Running,
    Pass,
    Fail,
    Error,
    Aborted,
}

text_enum!(Outcome { Skipped => "skipped", Pass => "pass", Error => "error", Fail => "fail" });
text_enum!(RunOutcome {
    Running => "running",
    Pass => "pass",
    Fail => "fail",
    Error => "error",
    Aborted => "aborted",
});

/// A verdict and, unless it passed, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl Judgement {
    fn pass() -> Judgement {
        Judgement {
            outcome: Outcome::Pass,
            reason: None,
        }
    }
    fn fail(reason: String) -> Judgement {
        Judgement {
            outcome: Outcome::Fail,
            reason: Some(reason),
        }
    }
    fn error(reason: String) -> Judgement {
        Judgement {
            outcome: Outcome::Error,
            reason: Some(reason),
        }
    }
}

fn with_unit(v: f64, unit: &str) -> String {
    if unit.is_empty() {
        format!("{v}")
    } else {
        format!("{v} {unit}")
    }
}

/// Numbers from a plan compare equal within this relative tolerance (TOML integers vs floats).
fn nearly_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Judge a value against a limit. Bounds are inclusive. A value of the wrong kind for the
/// limit (text where a number is needed) is an error, not a fail: the measurement is broken.
pub fn judge(limit: &Limit, value: &Value, unit: &str) -> Judgement {
    match limit {
        Limit::Range { low, high } => {
            let Value::Num(v) = value else {
                return Judgement::error(format!("{value} is not a number"));
            };
            if !v.is_finite() {
                return Judgement::error(format!("{v} is not a finite number"));
            }
            if let Some(lo) = low.filter(|lo| v < lo) {
                return Judgement::fail(format!(
                    "{} is below the low limit {}",
                    with_unit(*v, unit),
                    with_unit(lo, unit)
                ));
            }
            if let Some(hi) = high.filter(|hi| v > hi) {
                return Judgement::fail(format!(
                    "{} is above the high limit {}",
                    with_unit(*v, unit),
                    with_unit(hi, unit)
                ));
            }
            Judgement::pass()
        }
        Limit::Equals(expected) => {
            let equal = match (expected, value) {
                (toml::Value::Boolean(e), Value::Bool(v)) => e == v,
                (toml::Value::Integer(e), Value::Num(v)) => nearly_equal(*e as f64, *v),
                (toml::Value::Float(e), Value::Num(v)) => nearly_equal(*e, *v),
                (toml::Value::String(e), Value::Text(v)) => e == v,
                (e, v) => {
                    return Judgement::error(format!(
                        "{v} cannot be compared with the expected {}",
                        describe_toml(e)
                    ))
                }
            };
            if equal {
                Judgement::pass()
            } else {
                Judgement::fail(format!("{value}, expected {}", describe_toml(expected)))
            }
        }
        Limit::Pattern(pattern) => {
            let re = match regex::Regex::new(pattern) {
                Ok(re) => re,
                Err(e) => {
                    return Judgement::error(format!("pattern {pattern} does not compile: {e}"))
                }
            };
            let text = match value {
                Value::Text(t) => t.clone(),
                other => other.to_string(),
            };
            if re.is_match(&text) {
                Judgement::pass()
            } else {
                Judgement::fail(format!("'{text}' does not match {pattern}"))
            }
        }
    }
}

fn describe_toml(v: &toml::Value) -> String {
    match v {
        toml::Value::Boolean(true) => "yes".into(),
        toml::Value::Boolean(false) => "no".into(),
        toml::Value::String(s) => format!("'{s}'"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

/// The words an operator may type for yes and no.
const YES: &[&str] = &["y", "yes", "true", "ok", "pass", "1"];
const NO: &[&str] = &["n", "no", "false", "nok", "fail", "0"];

/// Read what an operator typed (or an answers file gave) as the kind of value the limit needs:
/// a number for a range or numeric equality, yes/no for a boolean equality, else text.
pub fn parse_manual(limit: &Limit, text: &str) -> Result<Value, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("nothing was entered".into());
    }
    let number = || -> Result<Value, String> {
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Value::Num)
            .ok_or_else(|| format!("'{t}' is not a number"))
    };
    match limit {
        Limit::Range { .. } => number(),
        Limit::Equals(toml::Value::Integer(_) | toml::Value::Float(_)) => number(),
        Limit::Equals(toml::Value::Boolean(_)) => {
            let lower = t.to_ascii_lowercase();
            if YES.contains(&lower.as_str()) {
                Ok(Value::Bool(true))
            } else if NO.contains(&lower.as_str()) {
                Ok(Value::Bool(false))
            } else {
                Err(format!("'{t}' is not yes or no"))
            }
        }
        _ => Ok(Value::Text(t.to_string())),
    }
}

/// A step's outcome from its measurements: the worst of them; all skipped is skipped.
pub fn step_outcome(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    outcomes.into_iter().max().unwrap_or(Outcome::Skipped)
}

/// A finished run's outcome. A definite failure decides the pack's verdict even when another
/// measurement could not be taken; with no failure, any error makes the run an error; a run
/// that measured nothing (everything skipped) is an error too, never a pass.
pub fn run_outcome(outcomes: impl IntoIterator<Item = Outcome>) -> RunOutcome {
    match step_outcome(outcomes) {
        Outcome::Fail => RunOutcome::Fail,
        Outcome::Error | Outcome::Skipped => RunOutcome::Error,
        Outcome::Pass => RunOutcome::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(low: Option<f64>, high: Option<f64>) -> Limit {
        Limit::Range { low, high }
    }

    #[test]
    fn range_bounds_are_inclusive_and_failures_name_value_and_limit() {
        let l = range(Some(2900.0), Some(3500.0));
        assert_eq!(judge(&l, &Value::Num(2900.0), "mV").outcome, Outcome::Pass);
        assert_eq!(judge(&l, &Value::Num(3500.0), "mV").outcome, Outcome::Pass);
        let j = judge(&l, &Value::Num(2850.0), "mV");
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(j.reason.unwrap(), "2850 mV is below the low limit 2900 mV");
        let j = judge(&l, &Value::Num(3501.5), "mV");
        assert_eq!(
            j.reason.unwrap(),
            "3501.5 mV is above the high limit 3500 mV"
        );
        assert_eq!(
            judge(&range(None, Some(0.1)), &Value::Num(0.05), "Ω").outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn nan_and_wrong_kinds_are_errors_not_passes() {
        let l = range(Some(1.0), None);
        assert_eq!(judge(&l, &Value::Num(f64::NAN), "").outcome, Outcome::Error);
        assert_eq!(
            judge(&l, &Value::Num(f64::INFINITY), "").outcome,
            Outcome::Error
        );
        assert_eq!(
            judge(&l, &Value::Text("x".into()), "").outcome,
            Outcome::Error
        );
        let eq = Limit::Equals(toml::Value::Boolean(true));
        assert_eq!(judge(&eq, &Value::Num(1.0), "").outcome, Outcome::Error);
    }

    #[test]
    fn equality_of_booleans_integers_floats_and_text() {
        let yes = Limit::Equals(toml::Value::Boolean(true));
        assert_eq!(judge(&yes, &Value::Bool(true), "").outcome, Outcome::Pass);
        let j = judge(&yes, &Value::Bool(false), "");
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(j.reason.unwrap(), "no, expected yes");
        let sixteen = Limit::Equals(toml::Value::Integer(16));
        assert_eq!(
            judge(&sixteen, &Value::Num(16.0), "").outcome,
            Outcome::Pass
        );
        assert_eq!(
            judge(&sixteen, &Value::Num(15.0), "").outcome,
            Outcome::Fail
        );
        let f = Limit::Equals(toml::Value::Float(0.1));
        assert_eq!(
            judge(&f, &Value::Num(0.1 + 1e-12), "").outcome,
            Outcome::Pass
        );
        let s = Limit::Equals(toml::Value::String("OK".into()));
        assert_eq!(
            judge(&s, &Value::Text("OK".into()), "").outcome,
            Outcome::Pass
        );
        assert_eq!(
            judge(&s, &Value::Text("ok".into()), "").outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn patterns_match_text_and_report_what_was_seen() {
        let p = Limit::Pattern("^(?i)pass$".into());
        assert_eq!(
            judge(&p, &Value::Text("PASS".into()), "").outcome,
            Outcome::Pass
        );
        let j = judge(&p, &Value::Text("breakdown".into()), "");
        assert_eq!(j.outcome, Outcome::Fail);
        assert!(j.reason.unwrap().contains("'breakdown'"));
        let any = Limit::Pattern(".+".into());
        assert_eq!(
            judge(&any, &Value::Text(String::new()), "").outcome,
            Outcome::Fail
        );
        let broken = Limit::Pattern("(".into());
        assert_eq!(
            judge(&broken, &Value::Text("x".into()), "").outcome,
            Outcome::Error
        );
    }

    #[test]
    fn manual_text_is_read_as_the_limit_needs() {
        let r = range(Some(1.0), None);
        assert_eq!(parse_manual(&r, " 550 ").unwrap(), Value::Num(550.0));
        assert!(parse_manual(&r, "lots").unwrap_err().contains("'lots'"));
        assert!(parse_manual(&r, "NaN").is_err());
        assert!(parse_manual(&r, "").is_err());
        let b = Limit::Equals(toml::Value::Boolean(true));
        assert_eq!(parse_manual(&b, "Yes").unwrap(), Value::Bool(true));
        assert_eq!(parse_manual(&b, "n").unwrap(), Value::Bool(false));
        assert!(parse_manual(&b, "maybe").is_err());
        let p = Limit::Pattern("^(?i)pass$".into());
        assert_eq!(
            parse_manual(&p, "PASS").unwrap(),
            Value::Text("PASS".into())
        );
    }

    #[test]
    fn outcome_rules() {
        use Outcome::*;
        assert_eq!(step_outcome([Pass, Skipped]), Pass);
        assert_eq!(step_outcome([Pass, Error]), Error);
        assert_eq!(step_outcome([Error, Fail, Pass]), Fail);
        assert_eq!(step_outcome([]), Skipped);
        assert_eq!(run_outcome([Pass, Pass, Skipped]), RunOutcome::Pass);
        assert_eq!(run_outcome([Pass, Error]), RunOutcome::Error);
        assert_eq!(run_outcome([Error, Fail]), RunOutcome::Fail);
        assert_eq!(run_outcome([Skipped, Skipped]), RunOutcome::Error);
        assert_eq!(run_outcome([]), RunOutcome::Error);
    }

    #[test]
    fn values_round_trip_through_the_store_columns() {
        for v in [
            Value::Num(3.25),
            Value::Bool(true),
            Value::Bool(false),
            Value::Text("JBD-SP04S034".into()),
        ] {
            let (n, t) = v.columns();
            assert_eq!(Value::from_columns(n, t), Some(v));
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
        }
        for o in RunOutcome::ALL {
            assert_eq!(o.as_str().parse::<RunOutcome>().unwrap(), *o);
        }
    }
}
