//! The automatic measurements that are computed from what the BMS reports. Pure: each takes a
//! reading and returns a value with a detail naming the cell or sensor concerned, so a failure
//! in the record says which cell was weak, not only that one was.

use super::judge::Value;
use packwright_protocol::BmsSnapshot;

/// A value and what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub value: Value,
    /// E.g. `lowest: cell 7 at 2850 mV`; added to the reason when the value does not pass.
    pub detail: Option<String>,
}

impl Measured {
    pub fn plain(value: Value) -> Measured {
        Measured {
            value,
            detail: None,
        }
    }

    pub fn with(value: Value, detail: String) -> Measured {
        Measured {
            value,
            detail: Some(detail),
        }
    }
}

/// A measurement that could not be given a value, with why. The pack did not provide it, so
/// it fails; it is not a bench error.
pub type Missing = String;

/// The 1-based position and value of the lowest and highest entries.
fn extremes<T: Copy + PartialOrd>(values: &[T]) -> Option<((usize, T), (usize, T))> {
    let mut it = values.iter().copied().enumerate();
    let first = it.next()?;
    let (mut lo, mut hi) = (first, first);
    for (i, v) in it {
        if v < lo.1 {
            lo = (i, v);
        }
        if v > hi.1 {
            hi = (i, v);
        }
    }
    Some(((lo.0 + 1, lo.1), (hi.0 + 1, hi.1)))
}

/// Whether this measurement is computed from a plain reading (see [`from_snapshot`]).
pub fn is_snapshot_measurement(name: &str) -> bool {
    SNAPSHOT_MEASUREMENTS.contains(&name)
}

const SNAPSHOT_MEASUREMENTS: &[&str] = &[
    "cell_count",
    "cell_voltage_min_mv",
    "cell_voltage_max_mv",
    "cell_voltage_spread_mv",
    "pack_voltage_error_pct",
    "temperature_sensor_count",
    "temperature_min_c",
    "temperature_max_c",
    "temperature_spread_c",
    "charge_fet_on",
    "discharge_fet_on",
];

/// Compute a snapshot measurement. `None` for a name that is not one of these.
pub fn from_snapshot(name: &str, s: &BmsSnapshot) -> Option<Result<Measured, Missing>> {
    let cells = || {
        extremes(&s.cell_voltages_mv).ok_or_else(|| "the BMS reported no cell voltages".to_string())
    };
    let temps = || {
        extremes(&s.temperatures_c)
            .ok_or_else(|| "the BMS reported no temperature sensors".to_string())
    };
    let fet = |state: Option<bool>, which: &str| {
        state
            .map(|on| {
                let why = if s.protection.is_empty() {
                    "no protection active".to_string()
                } else {
                    format!(
                        "active protection: {}",
                        packwright_protocol::protection_text(&s.protection)
                    )
                };
                Measured::with(Value::Bool(on), why)
            })
            .ok_or_else(|| format!("the BMS did not report its {which} FET state"))
    };
    Some(match name {
        "cell_count" => {
            let detail = if s.cell_voltages_mv.len() == s.cell_count {
                None
            } else {
                Some(format!(
                    "{} cell voltages reported",
                    s.cell_voltages_mv.len()
                ))
            };
            Ok(Measured {
                value: Value::Num(s.cell_count as f64),
                detail,
            })
        }
        "cell_voltage_min_mv" => cells().map(|((i, v), _)| {
            Measured::with(
                Value::Num(f64::from(v)),
                format!("lowest: cell {i} at {v} mV"),
            )
        }),
        "cell_voltage_max_mv" => cells().map(|(_, (i, v))| {
            Measured::with(
                Value::Num(f64::from(v)),
                format!("highest: cell {i} at {v} mV"),
            )
        }),
        "cell_voltage_spread_mv" => cells().map(|((li, lv), (hi, hv))| {
            Measured::with(
                Value::Num(f64::from(hv - lv)),
                format!("cell {li} at {lv} mV to cell {hi} at {hv} mV"),
            )
        }),
        "pack_voltage_error_pct" => {
            let sum = s.cell_sum_v();
            if s.cell_voltages_mv.is_empty() || sum <= 0.0 {
                Err("the BMS reported no cell voltages to sum".to_string())
            } else {
                let pct = (s.pack_voltage_v - sum).abs() / sum * 100.0;
                Ok(Measured::with(
                    // Two decimals are all a 10 mV pack reading supports.
                    Value::Num((pct * 100.0).round() / 100.0),
                    format!("pack {:.2} V, sum of cells {sum:.3} V", s.pack_voltage_v),
                ))
            }
        }
        "temperature_sensor_count" => {
            Ok(Measured::plain(Value::Num(s.temperatures_c.len() as f64)))
        }
        "temperature_min_c" => temps().map(|((i, v), _)| {
            Measured::with(Value::Num(v), format!("lowest: sensor {i} at {v:.1} °C"))
        }),
        "temperature_max_c" => temps().map(|(_, (i, v))| {
            Measured::with(Value::Num(v), format!("highest: sensor {i} at {v:.1} °C"))
        }),
        "temperature_spread_c" => temps().map(|((li, lv), (hi, hv))| {
            Measured::with(
                // Rounded to the 0.1 °C the sensors resolve, so 3.0000001 does not fail 3.0.
                Value::Num(((hv - lv) * 10.0).round() / 10.0),
                format!("sensor {li} at {lv:.1} °C to sensor {hi} at {hv:.1} °C"),
            )
        }),
        "charge_fet_on" => fet(s.charge_fet, "charge"),
        "discharge_fet_on" => fet(s.discharge_fet, "discharge"),
        _ => return None,
    })
}

/// Whether an over-voltage protection flag is active (cell or pack, any level).
pub fn overvoltage_active(s: &BmsSnapshot) -> bool {
    s.protection.iter().any(|p| p.kind.is_overvoltage())
}

/// A compact list of cell numbers: `1-4, 7, 9-10`.
pub fn cell_list(cells: &[usize]) -> String {
    let mut sorted = cells.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> BmsSnapshot {
        BmsSnapshot {
            pack_voltage_v: 13.2,
            cell_count: 4,
            cell_voltages_mv: vec![3300, 3290, 3310, 3300],
            temperatures_c: vec![24.0, 25.5, -40.0],
            charge_fet: Some(true),
            discharge_fet: None,
            protection: vec!["cell_overvoltage".into()],
            ..Default::default()
        }
    }

    fn value(name: &str, s: &BmsSnapshot) -> (Value, Option<String>) {
        let m = from_snapshot(name, s).unwrap().unwrap();
        (m.value, m.detail)
    }

    #[test]
    fn cell_extremes_name_the_cell() {
        let s = snap();
        assert_eq!(
            value("cell_voltage_min_mv", &s),
            (Value::Num(3290.0), Some("lowest: cell 2 at 3290 mV".into()))
        );
        assert_eq!(
            value("cell_voltage_max_mv", &s),
            (
                Value::Num(3310.0),
                Some("highest: cell 3 at 3310 mV".into())
            )
        );
        assert_eq!(value("cell_voltage_spread_mv", &s).0, Value::Num(20.0));
        assert_eq!(value("cell_count", &s), (Value::Num(4.0), None));
    }

    #[test]
    fn pack_voltage_error_against_the_sum_of_cells() {
        let mut s = snap();
        assert_eq!(value("pack_voltage_error_pct", &s).0, Value::Num(0.0));
        s.pack_voltage_v = 13.332; // 1 % above 13.2
        assert_eq!(value("pack_voltage_error_pct", &s).0, Value::Num(1.0));
        s.cell_voltages_mv.clear();
        assert!(from_snapshot("pack_voltage_error_pct", &s)
            .unwrap()
            .is_err());
    }

    #[test]
    fn a_dead_sensor_shows_as_the_lowest_temperature_with_its_number() {
        let s = snap();
        assert_eq!(
            value("temperature_min_c", &s),
            (
                Value::Num(-40.0),
                Some("lowest: sensor 3 at -40.0 °C".into())
            )
        );
        assert_eq!(value("temperature_spread_c", &s).0, Value::Num(65.5));
        assert_eq!(value("temperature_sensor_count", &s).0, Value::Num(3.0));
    }

    #[test]
    fn missing_readings_are_reported_not_invented() {
        let s = BmsSnapshot::default();
        for name in ["cell_voltage_min_mv", "temperature_max_c", "charge_fet_on"] {
            let err = from_snapshot(name, &s).unwrap().unwrap_err();
            assert!(
                err.contains("did not report") || err.contains("reported no"),
                "{err}"
            );
        }
        assert!(from_snapshot("discharge_fet_on", &snap()).unwrap().is_err());
        let (v, detail) = value("charge_fet_on", &snap());
        assert_eq!(v, Value::Bool(true));
        assert!(detail.unwrap().contains("cell_overvoltage"));
        assert!(from_snapshot("balancing_responds", &snap()).is_none());
        assert!(is_snapshot_measurement("cell_count") && !is_snapshot_measurement("bms_model"));
    }

    #[test]
    fn helpers() {
        assert!(overvoltage_active(&snap()));
        assert!(!overvoltage_active(&BmsSnapshot::default()));
        assert_eq!(cell_list(&[9, 1, 2, 3, 7, 10, 2]), "1-3, 7, 9-10");
        assert_eq!(cell_list(&[]), "");
    }
}
