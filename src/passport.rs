//! The battery passport of a repurposed pack, shaped as the Battery Pass data model v1.2.0
//! (DIN DKE SPEC 99100) has it: the `GeneralProductInformation` cluster and the attributes of
//! the `PerformanceAndDurability` cluster that a repurposing line measures, plus the link to
//! the original modules the cells came from. Pure: the pack's records, its profile and the
//! plant's own data (`plant.toml`) in, a JSON document out.
//!
//! Every figure comes from a stored record: capacities, resistance and self-discharge from the
//! cells' grading records (through `pack_health`), ratings and voltages from the profile kept
//! with the pack, the mass from the end-of-line run's `pack_mass_kg` measurement, dates from
//! the pack's assembly and its test. What the line cannot know is not guessed: it is listed in
//! `notDetermined`, and a cluster missing a required attribute does not validate.

use crate::domain::PackStatus;
use crate::trace::PackLineage;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The data model the clusters follow.
pub const DATA_MODEL: &str = "BatteryPass 1.2.0 (DIN DKE SPEC 99100:2025-02)";

/// The EOL measurement that is the pack's weight.
pub const MASS_MEASUREMENT: &str = "pack_mass_kg";

/// A postal address, as the passport has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub country: String,
    pub postal_code: String,
    pub street: String,
}

/// The repurposing plant, or the operator placing the battery on the market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    /// A unique operator identifier.
    pub identifier: String,
    pub address: Address,
    /// The web address (a URI).
    #[serde(default)]
    pub web: Option<String>,
}

/// `plant.toml`: what the plant declares about itself for every passport it issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// Lower-case letters and digits: passports are `urn:<namespace>:<pack code>`.
    pub passport_namespace: String,
    /// `lmt`, `ev`, `industrial` or `stationary`.
    pub battery_category: String,
    /// The commercial warranty, as the data model writes it: `--MM` (months).
    pub warranty_period: String,
    /// The repurposer: the manufacturer of the repurposed battery.
    pub manufacturer: Party,
    /// Where the packs are built.
    pub manufacturing_place: Address,
    /// Who places it on the market; the manufacturer when left out.
    #[serde(default)]
    pub operator: Option<Party>,
}

impl Plant {
    /// `text` as a plant file, or what is wrong with it.
    pub fn parse(text: &str) -> Result<Plant, String> {
        let plant: Plant = toml::from_str(text).map_err(|e| e.to_string())?;
        let ns = &plant.passport_namespace;
        if ns.is_empty()
            || !ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(format!(
                "passport_namespace '{ns}' must be lower-case letters and digits"
            ));
        }
        if !["lmt", "ev", "industrial", "stationary"].contains(&plant.battery_category.as_str()) {
            return Err(format!(
                "battery_category '{}' must be lmt, ev, industrial or stationary",
                plant.battery_category
            ));
        }
        let w = plant.warranty_period.as_bytes();
        let months_ok = w.len() == 4
            && w.starts_with(b"--")
            && matches!(plant.warranty_period.get(2..), Some(m) if ("01"..="12").contains(&m));
        if !months_ok {
            return Err(format!(
                "warranty_period '{}' must be --MM (01 to 12), as the data model writes it",
                plant.warranty_period
            ));
        }
        Ok(plant)
    }
}

/// What goes into a passport besides the pack's lineage.
pub struct PassportInput<'a> {
    pub lineage: &'a PackLineage,
    pub profile: Option<&'a crate::profile::Profile>,
    pub plant: Option<&'a Plant>,
    /// The `pack_mass_kg` measurement of the pack's verdict run.
    pub mass_kg: Option<f64>,
    /// When the battery was put into service, if it has been (RFC 3339).
    pub in_service: Option<&'a str>,
}

fn party(p: &Party) -> Value {
    let mut m = Map::new();
    m.insert("contactName".into(), json!(p.name));
    m.insert("identifier".into(), json!(p.identifier));
    m.insert("postalAddress".into(), address(&p.address));
    // No e-mail address: the data model's v1.2.0 pattern for it (`^[w.-]+@…`, a backslash
    // lost) refuses every real address.
    if let Some(w) = &p.web {
        m.insert("webAddress".into(), json!(w));
    }
    Value::Object(m)
}

fn address(a: &Address) -> Value {
    json!({
        "addressCountry": a.country,
        "postalCode": a.postal_code,
        "streetAddress": a.street,
    })
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// A stored time as the data model's date-time (RFC 3339 with an offset), if it is one.
fn date_time(stamp: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The passport document of a pack.
pub fn battery_passport(input: &PassportInput) -> Value {
    let l = input.lineage;
    let p = &l.passport;
    let mut missing: Vec<String> = Vec::new();
    let mut miss = |field: &str, why: &str| missing.push(format!("{field}: {why}"));
    let passed = l.pack.status == PackStatus::Passed.as_str();
    if !passed {
        miss(
            "pack",
            &format!(
                "it is {}, not passed: this is no passport of a good pack until it passes its \
                 end-of-line test",
                l.pack.status
            ),
        );
    }

    // ---- GeneralProductInformation
    let mut gpi = Map::new();
    let code = p.pack_code.clone();
    match &code {
        Some(c) => {
            gpi.insert("productIdentifier".into(), json!(c));
        }
        None => miss("productIdentifier", "the pack has no code yet"),
    }
    match (input.plant, &code) {
        (Some(plant), Some(c)) => {
            let id: String = c
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            gpi.insert(
                "batteryPassportIdentifier".into(),
                json!(format!("urn:{}:{id}", plant.passport_namespace)),
            );
            gpi.insert("batteryCategory".into(), json!(plant.battery_category));
            gpi.insert("manufacturerInformation".into(), party(&plant.manufacturer));
            gpi.insert(
                "operatorInformation".into(),
                party(plant.operator.as_ref().unwrap_or(&plant.manufacturer)),
            );
            gpi.insert(
                "manufacturingPlace".into(),
                address(&plant.manufacturing_place),
            );
            gpi.insert("warrentyPeriod".into(), json!(plant.warranty_period));
        }
        (None, _) => miss(
            "batteryPassportIdentifier, batteryCategory, manufacturerInformation, \
             operatorInformation, manufacturingPlace, warrentyPeriod",
            "the plant's data: give --plant plant.toml",
        ),
        (Some(_), None) => {}
    }
    match p.assembled_at.as_deref().and_then(date_time) {
        Some(t) => {
            gpi.insert("manufacturingDate".into(), json!(t));
        }
        None => miss("manufacturingDate", "the pack is not assembled"),
    }
    gpi.insert("batteryStatus".into(), json!("Repurposed"));
    match input.mass_kg {
        Some(m) => {
            gpi.insert("batteryMass".into(), json!(m));
        }
        None => miss(
            "batteryMass",
            "no pack_mass_kg measurement in the pack's end-of-line run (add a weighing step)",
        ),
    }
    match input.in_service.and_then(date_time) {
        Some(t) => {
            gpi.insert("puttingIntoService".into(), json!(t));
        }
        None => miss(
            "puttingIntoService",
            "not put into service yet (give --in-service when it is)",
        ),
    }

    // ---- PerformanceAndDurability: what the line measured
    let mut tech = Map::new();
    let mut cond = Map::new();
    let updated = p.eol_tested_at.as_deref().and_then(date_time);
    if let Some(v) = p.rated_capacity_ah {
        tech.insert("ratedCapacity".into(), json!(v));
    }
    if let Some(v) = p.rated_energy_kwh {
        tech.insert("ratedEnergy".into(), json!(v));
    }
    if let Some(v) = p.nominal_voltage_v {
        tech.insert("nominalVoltage".into(), json!(round(v, 2)));
    }
    if let Some(profile) = input.profile {
        let s = f64::from(profile.series);
        tech.insert(
            "minimumVoltage".into(),
            json!(round(
                s * f64::from(profile.bms.end_of_discharge_mv) / 1000.0,
                3
            )),
        );
        tech.insert(
            "maximumVoltage".into(),
            json!(round(s * f64::from(profile.bms.full_charge_mv) / 1000.0, 3)),
        );
    }
    if let Some(r) = p.pack_resistance_mohm {
        // The pack's resistance at the start of its second life, from its cells, in ohms.
        tech.insert(
            "initialInternalResistance".into(),
            json!([{ "ohmicResistance": round(r / 1000.0, 6), "batteryComponent": "pack" }]),
        );
    }
    let sd_pct_per_day = self_discharge_pct_per_day(l, input.profile);
    if let Some(sd) = sd_pct_per_day {
        tech.insert("initialSelfDischarge".into(), json!(sd));
    }
    match &updated {
        Some(at) => {
            if let Some(c) = p.measured_capacity_ah {
                cond.insert(
                    "remainingCapacity".into(),
                    json!({ "remainingCapacityValue": c, "lastUpdate": at }),
                );
            }
            if let Some(soh) = p.state_of_health_pct {
                cond.insert(
                    "capacityFade".into(),
                    json!({ "capacityFadeValue": round(100.0 - soh, 1), "lastUpdate": at }),
                );
            }
            if let Some(sd) = sd_pct_per_day {
                cond.insert(
                    "currentSelfDischargingRate".into(),
                    json!({ "currentSelfDischargingRateEntity": sd, "lastUpdate": at }),
                );
            }
        }
        None => miss(
            "batteryCondition",
            "no end-of-line verdict yet: the condition is dated by the test",
        ),
    }

    // ---- The link to what it was made from
    let repurposing = json!({
        "originalIdentifiers": p.source_codes,
        "cells": p.cell_count,
        "stateOfHealthPct": p.state_of_health_pct,
        "eolRun": p.eol_run_id,
        "eolOutcome": p.eol_outcome,
        "eolTestedAt": updated,
        "eolPlanVersion": p.eol_plan_version,
    });
    json!({
        "dataModel": DATA_MODEL,
        "generalProductInformation": Value::Object(gpi),
        "performanceAndDurability": {
            "batteryTechicalProperties": Value::Object(tech),
            "batteryCondition": Value::Object(cond),
        },
        "repurposing": repurposing,
        "notDetermined": missing,
    })
}

/// The pack's self-discharge from its cells, % of capacity per day: the leakage the cells'
/// grading implies (mean cell mV/day over the chemistry's OCV slope, as `pack_health` assumes).
fn self_discharge_pct_per_day(
    l: &PackLineage,
    profile: Option<&crate::profile::Profile>,
) -> Option<f64> {
    let profile = profile?;
    let sds: Option<Vec<f64>> = l
        .cells
        .iter()
        .map(|c| c.grading.as_ref()?.self_discharge_mv_per_day)
        .collect();
    let sds = sds.filter(|v| !v.is_empty())?;
    let mean = sds.iter().sum::<f64>() / sds.len() as f64;
    Some(round(
        mean / crate::pack_health::ocv_slope_mv_per_pct(profile.chemistry),
        3,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANT: &str = r#"
passport_namespace = "pwplant1"
battery_category = "stationary"
warranty_period = "--12"
[manufacturer]
name = "Second Life Packs GmbH"
identifier = "DE-SLP-0001"
[manufacturer.address]
country = "DE"
postal_code = "10719"
street = "Hindenburgstr. 10"
[manufacturing_place]
country = "DE"
postal_code = "10719"
street = "Hindenburgstr. 10, hall 2"
"#;

    #[test]
    fn a_plant_file_parses_and_its_mistakes_are_named() {
        let p = Plant::parse(PLANT).unwrap();
        assert_eq!(p.manufacturer.identifier, "DE-SLP-0001");
        assert!(p.operator.is_none());
        for (from, to, needle) in [
            ("\"pwplant1\"", "\"PW-1\"", "passport_namespace"),
            ("\"stationary\"", "\"grid\"", "battery_category"),
            ("\"--12\"", "\"P2Y\"", "warranty_period"),
            ("\"--12\"", "\"--13\"", "warranty_period"),
        ] {
            let e = Plant::parse(&PLANT.replace(from, to)).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(Plant::parse("x = 1").is_err());
    }

    #[test]
    fn dates_are_rfc3339_with_an_offset_or_nothing() {
        assert_eq!(
            date_time("2026-12-05T08:00:00.123Z").as_deref(),
            Some("2026-12-05T08:00:00Z")
        );
        assert_eq!(date_time("yesterday"), None);
    }
}
