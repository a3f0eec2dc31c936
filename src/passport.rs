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
use std::collections::BTreeMap;

/// The data model the clusters follow.
pub const DATA_MODEL: &str = "BatteryPass 1.2.0 (DIN DKE SPEC 99100:2025-02)";

/// The EOL measurement that is the pack's weight, kg.
pub const MASS_MEASUREMENT: &str = "pack_mass_kg";
/// The EOL measurement of the pack's state of charge as tested, %.
pub const SOC_MEASUREMENT: &str = "state_of_charge_pct";
/// The EOL measurement of the power the pack delivers at the tested state of charge, W.
pub const POWER_MEASUREMENT: &str = "power_capability_w";
/// The EOL measurement of the pack's round-trip energy efficiency, %.
pub const RTE_MEASUREMENT: &str = "round_trip_efficiency_pct";

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The design values the repurposer declares for its product (Annex IV of the Battery
    /// Regulation): no line measures them, the data model requires them.
    #[serde(default)]
    pub declared: Declared,
}

/// A declared power capability: `power_w` at `at_soc_pct` state of charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerAt {
    pub at_soc_pct: f64,
    pub power_w: f64,
}

/// `[declared]` in `plant.toml`: each value is the plant's declaration, copied into the
/// passport as it stands; a value left out is listed in `notDetermined`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub original_power_capability: Option<Vec<PowerAt>>,
    pub rated_maximum_power_w: Option<f64>,
    pub expected_number_of_cycles: Option<u32>,
    pub roundtrip_efficiency_pct: Option<f64>,
    pub round_trip_efficiency_at_50pct_cycle_life_pct: Option<f64>,
    pub expected_lifetime_years: Option<u16>,
    pub capacity_threshold_for_exhaustion_pct: Option<f64>,
    /// Where the lifetime reference test is published (a URI).
    pub lifetime_reference_test: Option<String>,
    pub c_rate_life_cycle_test: Option<f64>,
    /// The data model's one idle-state temperature, -20 to 60 °C.
    pub temperature_range_idle_state_c: Option<f64>,
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
        let d = &plant.declared;
        if let Some(t) = d.temperature_range_idle_state_c {
            if !(-20.0..=60.0).contains(&t) {
                return Err(format!(
                    "[declared] temperature_range_idle_state_c {t} must be -20 to 60 (°C)"
                ));
            }
        }
        if let Some(u) = &d.lifetime_reference_test {
            if !u.contains(':') || u.contains(char::is_whitespace) {
                return Err(format!(
                    "[declared] lifetime_reference_test '{u}' must be a URI (e.g. https://…)"
                ));
            }
        }
        if d.rated_maximum_power_w.is_some_and(|w| w <= 0.0) {
            return Err("[declared] rated_maximum_power_w must be above 0".into());
        }
        if d.roundtrip_efficiency_pct
            .is_some_and(|v| v <= 0.0 || v > 100.0)
        {
            return Err(
                "[declared] roundtrip_efficiency_pct must be above 0 and at most 100".into(),
            );
        }
        Ok(plant)
    }
}

/// The label on the pack: its last good print and the last scan that read it back as the
/// pack's code, as the label logs hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelProof {
    /// When, on which printer, which template version.
    pub printed: Option<(String, String, String)>,
    /// When, what the scanner read, at which station.
    pub scanned_back: Option<(String, String, String)>,
}

/// What goes into a passport besides the pack's lineage.
pub struct PassportInput<'a> {
    pub lineage: &'a PackLineage,
    pub profile: Option<&'a crate::profile::Profile>,
    pub plant: Option<&'a Plant>,
    /// The numeric measurements of the pack's verdict run, by name (`pack_mass_kg`,
    /// `state_of_charge_pct`, …).
    pub measured: &'a BTreeMap<String, f64>,
    /// When the battery was put into service, if it has been (RFC 3339).
    pub in_service: Option<&'a str>,
    pub label: &'a LabelProof,
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
    match input.measured.get(MASS_MEASUREMENT) {
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

    // ---- PerformanceAndDurability: what the line measured, what follows from it, what the
    // plant declares
    let (tech, cond) = performance(input, &mut miss);
    let updated = p.eol_tested_at.as_deref().and_then(date_time);

    // ---- The link to what it was made from
    let repurposing = json!({
        "originalIdentifiers": p.source_codes,
        "cells": p.cell_count,
        "stateOfHealthPct": p.state_of_health_pct,
        "eolRun": p.eol_run_id,
        "eolOutcome": p.eol_outcome,
        "eolTestedAt": updated,
        "eolPlanVersion": p.eol_plan_version,
        "label": {
            "printed": input.label.printed.as_ref().map(|(at, printer, template)| json!({
                "at": date_time(at), "printer": printer, "templateVersion": template,
            })),
            "scannedBack": input.label.scanned_back.as_ref().map(|(at, data, station)| json!({
                "at": date_time(at), "read": data, "station": station,
            })),
        },
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

/// The attributes of `BatteryTechnicalProperties` the data model requires, each with where it
/// comes from when it is absent.
const TECH_REQUIRED: [(&str, &str); 17] = [
    (
        "originalPowerCapability",
        "[declared] original_power_capability in the plant file",
    ),
    (
        "ratedMaximumPower",
        "[declared] rated_maximum_power_w in the plant file",
    ),
    (
        "powerCapabilityRatio",
        "[declared] rated_maximum_power_w in the plant file, and the profile's rated energy",
    ),
    ("ratedEnergy", "the profile's nominal voltage and capacity"),
    (
        "expectedNumberOfCycles",
        "[declared] expected_number_of_cycles in the plant file",
    ),
    ("initialSelfDischarge", "every cell's graded self-discharge"),
    (
        "roundtripEfficiency",
        "[declared] roundtrip_efficiency_pct in the plant file",
    ),
    ("ratedCapacity", "the profile's capacity"),
    (
        "initialInternalResistance",
        "every cell's graded resistance",
    ),
    (
        "expectedLifetime",
        "[declared] expected_lifetime_years in the plant file",
    ),
    ("nominalVoltage", "the profile"),
    ("minimumVoltage", "the pack's profile"),
    ("maximumVoltage", "the pack's profile"),
    (
        "capacityThresholdForExhaustion",
        "[declared] capacity_threshold_for_exhaustion_pct in the plant file",
    ),
    (
        "lifetimeReferenceTest",
        "[declared] lifetime_reference_test in the plant file",
    ),
    (
        "cRateLifeCycleTest",
        "[declared] c_rate_life_cycle_test in the plant file",
    ),
    (
        "temperatureRangeIdleState",
        "[declared] temperature_range_idle_state_c in the plant file",
    ),
];

/// The attributes of `BatteryCondition` the data model requires, each with where it comes
/// from when it is absent.
const COND_REQUIRED: [(&str, &str); 18] = [
    ("energyThroughput", USAGE),
    ("capacityThroughput", USAGE),
    ("numberOfFullCycles", USAGE),
    (
        "stateOfCertifiedEnergy",
        "the remaining energy and the rated energy",
    ),
    (
        "capacityFade",
        "every cell's graded capacity and an end-of-line verdict",
    ),
    (
        "remainingEnergy",
        "the remaining capacity and the profile's nominal voltage",
    ),
    (
        "remainingCapacity",
        "every cell's graded capacity and an end-of-line verdict",
    ),
    ("negativeEvents", "an end-of-line verdict"),
    ("temperatureInformation", USAGE),
    ("remainingPowerCapability", "an end-of-line verdict"),
    (
        "powerFade",
        "a power_capability_w measurement in the end-of-line run and [declared] \
         rated_maximum_power_w",
    ),
    (
        "roundTripEfficiencyFade",
        "a round_trip_efficiency_pct measurement in the end-of-line run and [declared] \
         roundtrip_efficiency_pct",
    ),
    (
        "evolutionOfSelfDischarge",
        "every cell's graded self-discharge and an end-of-line verdict",
    ),
    (
        "currentSelfDischargingRate",
        "every cell's graded self-discharge and an end-of-line verdict",
    ),
    ("internalResistanceIncrease", "an end-of-line verdict"),
    (
        "roundTripEfficiencyat50PerCentCycleLife",
        "[declared] round_trip_efficiency_at_50pct_cycle_life_pct in the plant file",
    ),
    (
        "remainingRoundTripEnergyEfficiency",
        "a round_trip_efficiency_pct measurement in the end-of-line run",
    ),
    (
        "stateOfCharge",
        "a state_of_charge_pct measurement in the end-of-line run",
    ),
];

const USAGE: &str = "the battery's use since it was put into service: the line knows it is \
                     none only while the end-of-line verdict precedes --in-service";

/// The two objects of the `PerformanceAndDurability` cluster. Each required attribute either
/// has a value from the records (or the plant's declaration) or is named in `miss`.
fn performance(
    input: &PassportInput,
    miss: &mut impl FnMut(&str, &str),
) -> (Map<String, Value>, Map<String, Value>) {
    let l = input.lineage;
    let p = &l.passport;
    let declared = input.plant.map(|pl| &pl.declared);
    let d = |f: fn(&Declared) -> Option<f64>| declared.and_then(f);
    let m = |name: &str| input.measured.get(name).copied();
    let mut tech = Map::new();
    let mut cond = Map::new();

    // Technical properties: the profile, the cells' grading, the declaration.
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
    let sd_pct_per_day = self_discharge_pct_per_day(l);
    if let Some(sd) = sd_pct_per_day {
        tech.insert("initialSelfDischarge".into(), json!(sd));
    }
    if let Some(list) = declared.and_then(|d| d.original_power_capability.as_ref()) {
        let list: Vec<Value> = list
            .iter()
            .map(|e| json!({ "atSoC": e.at_soc_pct, "powerCapabilityAt": e.power_w }))
            .collect();
        tech.insert("originalPowerCapability".into(), json!(list));
    }
    let rated_power = d(|d| d.rated_maximum_power_w);
    if let Some(w) = rated_power {
        tech.insert("ratedMaximumPower".into(), json!(w));
        if let Some(kwh) = p.rated_energy_kwh.filter(|e| *e > 0.0) {
            // W per Wh, as the data model defines the ratio.
            tech.insert(
                "powerCapabilityRatio".into(),
                json!(round(w / (kwh * 1000.0), 3)),
            );
        }
    }
    if let Some(n) = declared.and_then(|d| d.expected_number_of_cycles) {
        tech.insert("expectedNumberOfCycles".into(), json!(n));
    }
    let rte = d(|d| d.roundtrip_efficiency_pct);
    if let Some(v) = rte {
        tech.insert("roundtripEfficiency".into(), json!(v));
    }
    if let Some(v) = declared.and_then(|d| d.expected_lifetime_years) {
        tech.insert("expectedLifetime".into(), json!(v));
    }
    if let Some(v) = d(|d| d.capacity_threshold_for_exhaustion_pct) {
        tech.insert("capacityThresholdForExhaustion".into(), json!(v));
    }
    if let Some(v) = declared.and_then(|d| d.lifetime_reference_test.as_ref()) {
        tech.insert("lifetimeReferenceTest".into(), json!(v));
    }
    if let Some(v) = d(|d| d.c_rate_life_cycle_test) {
        tech.insert("cRateLifeCycleTest".into(), json!(v));
    }
    if let Some(v) = d(|d| d.temperature_range_idle_state_c) {
        tech.insert("temperatureRangeIdleState".into(), json!(v));
    }

    // Condition: as the end-of-line verdict found the pack, dated by it.
    let updated = p.eol_tested_at.as_deref().and_then(date_time);
    if let Some(at) = &updated {
        if let Some(c) = p.measured_capacity_ah {
            cond.insert(
                "remainingCapacity".into(),
                json!({ "remainingCapacityValue": c, "lastUpdate": at }),
            );
            if let Some(v) = p.nominal_voltage_v {
                let kwh = round(c * v / 1000.0, 3);
                // `remainingEnergyalue`: the data model's spelling.
                cond.insert(
                    "remainingEnergy".into(),
                    json!({ "remainingEnergyalue": kwh, "lastUpdate": at }),
                );
                if let Some(rated) = p.rated_energy_kwh.filter(|e| *e > 0.0) {
                    cond.insert(
                        "stateOfCertifiedEnergy".into(),
                        json!({
                            "stateOfCertifiedEnergyValue": round(kwh / rated * 100.0, 1),
                            "lastUpdate": at,
                        }),
                    );
                }
            }
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
            // The current rate is the initial one (both from the grading): no change yet.
            cond.insert(
                "evolutionOfSelfDischarge".into(),
                json!({ "evolutionOfSelfDischargeEntityValue": 0.0 }),
            );
        }
        // The line records no negative event (accident, abuse) and measures no resistance
        // after the grading: empty lists, not made-up entries.
        cond.insert("negativeEvents".into(), json!([]));
        cond.insert("internalResistanceIncrease".into(), json!([]));
        // Use since putting into service: none while the test precedes it.
        let unused = match input
            .in_service
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            None => true,
            Some(service) => chrono::DateTime::parse_from_rfc3339(at)
                .map(|tested| tested < service)
                .unwrap_or(false),
        };
        if unused {
            cond.insert("energyThroughput".into(), json!(0.0));
            cond.insert(
                "capacityThroughput".into(),
                json!({ "capacityThroughputValue": 0.0, "lastUpdate": at }),
            );
            cond.insert(
                "numberOfFullCycles".into(),
                json!({ "numberOfFullCyclesValue": 0.0, "lastUpdate": at }),
            );
            cond.insert(
                "temperatureInformation".into(),
                json!({
                    "timeExtremeHighTemp": 0.0,
                    "timeExtremeLowTemp": 0.0,
                    "timeExtremeHighTempCharging": 0.0,
                    "timeExtremeLowTempCharging": 0.0,
                    "lastUpdate": at,
                }),
            );
        }
        if let Some(soc) = m(SOC_MEASUREMENT) {
            cond.insert(
                "stateOfCharge".into(),
                json!({ "stateOfChargeValue": soc, "lastUpdate": at }),
            );
        }
        let mut remaining_power = Vec::new();
        if let (Some(w), Some(soc)) = (m(POWER_MEASUREMENT), m(SOC_MEASUREMENT)) {
            remaining_power.push(json!({
                "remainingPowerCapabilityValue": {
                    "atSoC": soc, "powerCapabilityAt": w, "rPCLastUpdated": at,
                },
                "lastUpdate": at,
            }));
            if let Some(rated) = rated_power {
                cond.insert(
                    "powerFade".into(),
                    json!(round(100.0 * (1.0 - w / rated), 1)),
                );
            }
        }
        cond.insert("remainingPowerCapability".into(), json!(remaining_power));
        if let Some(e) = m(RTE_MEASUREMENT) {
            cond.insert(
                "remainingRoundTripEnergyEfficiency".into(),
                json!({ "remainingRoundTripEnergyEfficiencyValue": e, "lastUpdate": at }),
            );
            if let Some(initial) = rte {
                cond.insert(
                    "roundTripEfficiencyFade".into(),
                    json!(round(100.0 * (1.0 - e / initial), 1)),
                );
            }
        }
        if let Some(v) = d(|d| d.round_trip_efficiency_at_50pct_cycle_life_pct) {
            cond.insert("roundTripEfficiencyat50PerCentCycleLife".into(), json!(v));
        }
    }
    for (key, from) in TECH_REQUIRED {
        if !tech.contains_key(key) {
            miss(
                &format!("batteryTechicalProperties.{key}"),
                &format!("needs {from}"),
            );
        }
    }
    if updated.is_none() {
        miss(
            "batteryCondition",
            "no end-of-line verdict yet: the condition is dated by the test",
        );
    } else {
        for (key, from) in COND_REQUIRED {
            if !cond.contains_key(key) {
                miss(&format!("batteryCondition.{key}"), &format!("needs {from}"));
            }
        }
    }
    (tech, cond)
}

/// The pack's self-discharge from its cells, % of capacity per day: the charge loss the cells'
/// mean graded mV/day stands for, converted as `pack_health` converts it.
fn self_discharge_pct_per_day(l: &PackLineage) -> Option<f64> {
    let sds: Option<Vec<f64>> = l
        .cells
        .iter()
        .map(|c| c.grading.as_ref()?.self_discharge_mv_per_day)
        .collect();
    let sds = sds.filter(|v| !v.is_empty())?;
    let mean = sds.iter().sum::<f64>() / sds.len() as f64;
    Some(round(
        crate::pack_health::self_discharge_pct_per_day(mean),
        4,
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
        // The declaration: optional, checked where the data model bounds it.
        assert_eq!(p.declared, Declared::default());
        let declared = format!("{PLANT}[declared]\nrated_maximum_power_w = 4800.0\n");
        assert_eq!(
            Plant::parse(&declared)
                .unwrap()
                .declared
                .rated_maximum_power_w,
            Some(4800.0)
        );
        for (extra, needle) in [
            (
                "temperature_range_idle_state_c = 70.0",
                "temperature_range_idle_state_c",
            ),
            (
                "lifetime_reference_test = \"report 7\"",
                "lifetime_reference_test",
            ),
            ("rated_maximum_power_w = 0.0", "rated_maximum_power_w"),
            (
                "roundtrip_efficiency_pct = 140.0",
                "roundtrip_efficiency_pct",
            ),
            ("expected_cycles = 3", "expected_cycles"),
        ] {
            let e = Plant::parse(&format!("{PLANT}[declared]\n{extra}\n")).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
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
