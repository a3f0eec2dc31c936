//! The battery passport of a passed pack through the real binary: graded cells, assembly, a
//! verified configuration and a passing end-of-line run on a simulated board (with a weighing
//! step), then `trace --passport --plant`. Its Battery Pass clusters validate against the data
//! model's JSON schemas (vendored in `tests/fixtures/batterypass/`), and every number in them is
//! recomputed here from the graded values the test imported, the profile and the run.

use crate::support::eol::{
    assemble, eol_run, import_cells, match_pack, pack_json, pw, pw_json, runs_json, Sim,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/batterypass")
        .join(format!("{name}-schema.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema's errors for `doc`, as text (empty: valid).
fn errors(schema: &Value, doc: &Value) -> Vec<String> {
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(schema)
        .unwrap();
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// `schema` with every `required` list emptied: the attributes present must each be what the
/// data model defines, but the ones a repurposing line does not measure (power capability,
/// cycle life, round-trip efficiency, …) may be absent (the export lists them nowhere as
/// numbers; it does not invent them).
fn present_attributes_only(mut schema: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("required");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut schema);
    schema
}

const PLANT: &str = r#"
passport_namespace = "pwplant1"
battery_category = "stationary"
warranty_period = "--12"
[manufacturer]
name = "Second Life Packs GmbH"
identifier = "DE-SLP-0001"
web = "https://slp.example/passport"
[manufacturer.address]
country = "DE"
postal_code = "10719"
street = "Hindenburgstr. 10"
[manufacturing_place]
country = "DE"
postal_code = "10719"
street = "Hindenburgstr. 10, hall 2"
"#;

/// The shipped 15S1P profile with a weighing step at the end of its plan.
fn weighed_profile(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    let path = dir.join("weighed.toml");
    std::fs::write(
        &path,
        format!(
            "{shipped}\n[[eol.steps]]\nid = \"weight\"\ntitle = \"Pack weight\"\nkind = \"manual\"\n\
             on_fail = \"continue\"\nprompt = \"Weigh the pack; enter kilograms\"\n\
             [[eol.steps.measurements]]\nname = \"pack_mass_kg\"\nunit = \"kg\"\nlow = 1.0\nhigh = 500.0\n"
        ),
    )
    .unwrap();
    path
}

/// The graded values `import_cells` wrote for cell `LFP-iii`: capacity mAh, IR mΩ, mV/day.
fn graded(id: &str) -> (f64, f64, f64) {
    let i: usize = id.trim_start_matches("LFP-").parse().unwrap();
    (
        (95_000 + i * 97 % 1000) as f64,
        format!("0.5{}", i % 5).parse().unwrap(),
        1.0,
    )
}

fn round(v: f64, d: i32) -> f64 {
    let f = 10f64.powi(d);
    (v * f).round() / f
}

#[test]
fn a_passed_packs_passport_validates_against_the_battery_pass_schemas_and_every_number_traces_back()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("line.db");
    import_cells(dir.path(), &db, 17, None);
    let profile = weighed_profile(dir.path());
    let cells = match_pack(&db, profile.to_str().unwrap());
    let code = assemble(&db, &cells);
    let sim = Sim::jbd15(dir.path(), &[]);
    pw(&db)
        .args(["bms", "config", "write", "--protocol", "jbd", "--port"])
        .args([sim.port(), "--pack", &code])
        .assert()
        .success();
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        "insulation_resistance_megaohm = 550\nhipot_result = \"PASS\"\npe_continuity_ohm = 0.03\n\
         visual_ok = \"yes\"\npack_mass_kg = 48.5\n",
    )
    .unwrap();
    let out = eol_run(&db, &sim, &answers).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let plant = dir.path().join("plant.toml");
    std::fs::write(&plant, PLANT).unwrap();

    let doc = pw_json(
        &db,
        &[
            "trace",
            &code,
            "--passport",
            "--plant",
            plant.to_str().unwrap(),
            "--in-service",
            "2027-03-01T09:00:00Z",
        ],
    );
    let bp = &doc["batteryPass"];
    assert_eq!(bp["notDetermined"], serde_json::json!([]), "{bp:#}");
    let gpi = &bp["generalProductInformation"];
    let perf = &bp["performanceAndDurability"];
    let e = errors(&schema("GeneralProductInformation"), gpi);
    assert!(e.is_empty(), "{e:#?}\n{gpi:#}");
    let e = errors(
        &present_attributes_only(schema("PerformanceAndDurability")),
        perf,
    );
    assert!(e.is_empty(), "{e:#?}\n{perf:#}");

    // Identity: the new code, repurposed, the plant, the modules the cells came from.
    assert_eq!(gpi["productIdentifier"], code.as_str());
    assert_eq!(
        gpi["batteryPassportIdentifier"],
        format!("urn:pwplant1:{}", code.to_lowercase())
    );
    assert_eq!(gpi["batteryStatus"], "Repurposed");
    assert_eq!(gpi["manufacturerInformation"]["identifier"], "DE-SLP-0001");
    assert_eq!(gpi["puttingIntoService"], "2027-03-01T09:00:00Z");
    assert_eq!(
        bp["repurposing"]["originalIdentifiers"],
        serde_json::json!(["EVMOD-0017", "EVMOD-0042"])
    );

    // Every number, from the records: the graded cells in the pack, the profile, the run.
    let pack = pack_json(&db, &code);
    let in_pack: Vec<String> = pack["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g.as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(in_pack.len(), 15);
    let grades: Vec<(f64, f64, f64)> = in_pack.iter().map(|c| graded(c)).collect();
    // 15S1P: each group is one cell; the pack delivers the smallest.
    let min_cap = grades.iter().map(|g| g.0).fold(f64::INFINITY, f64::min);
    let soh = round(min_cap / 100_000.0 * 100.0, 1);
    let r_ohm: f64 = grades.iter().map(|g| g.1).sum::<f64>() / 1000.0;
    let sd_pct_day = round(1.0 / 1.2, 3);
    let tech = &perf["batteryTechicalProperties"];
    let cond = &perf["batteryCondition"];
    let f = |v: &Value| v.as_f64().unwrap();
    assert_eq!(
        f(&cond["remainingCapacity"]["remainingCapacityValue"]),
        round(min_cap / 1000.0, 3)
    );
    assert_eq!(
        f(&cond["capacityFade"]["capacityFadeValue"]),
        round(100.0 - soh, 1)
    );
    assert_eq!(
        f(&tech["initialInternalResistance"][0]["ohmicResistance"]),
        round(r_ohm, 6)
    );
    assert_eq!(
        tech["initialInternalResistance"][0]["batteryComponent"],
        "pack"
    );
    assert_eq!(f(&tech["initialSelfDischarge"]), sd_pct_day);
    assert_eq!(
        f(&cond["currentSelfDischargingRate"]["currentSelfDischargingRateEntity"]),
        sd_pct_day
    );
    // The profile: design capacity 100 Ah written into the BMS, 15 × 3.2 V nominal, 15 × the
    // end-of-discharge and full-charge cell voltages (2800 and 3550 mV).
    assert_eq!(f(&tech["ratedCapacity"]), 100.0);
    assert_eq!(f(&tech["nominalVoltage"]), 48.0);
    assert_eq!(f(&tech["ratedEnergy"]), 4.8);
    assert_eq!(f(&tech["minimumVoltage"]), 42.0);
    assert_eq!(f(&tech["maximumVoltage"]), 53.25);
    // The run: the weight measured in it, and its end as the condition's date.
    assert_eq!(f(&gpi["batteryMass"]), 48.5);
    let run = runs_json(&db, &code)
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(run["outcome"], "pass");
    let ended = chrono::DateTime::parse_from_rfc3339(run["ended_at"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(
        cond["remainingCapacity"]["lastUpdate"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(at.timestamp(), ended.timestamp());
    assert_eq!(bp["repurposing"]["eolRun"], run["run_id"]);
    let trace = pw_json(&db, &["trace", &code, "--json"]);
    let assembled =
        chrono::DateTime::parse_from_rfc3339(trace["pack"]["assembled_at"].as_str().unwrap())
            .unwrap();
    let made =
        chrono::DateTime::parse_from_rfc3339(gpi["manufacturingDate"].as_str().unwrap()).unwrap();
    assert_eq!(made.timestamp(), assembled.timestamp());
    // The Packwright fields are still there, the same figures.
    assert_eq!(f(&doc["state_of_health_pct"]), soh);
    assert_eq!(f(&doc["pack_resistance_mohm"]), round(r_ohm * 1000.0, 3));

    // Without the plant's data the general cluster is incomplete: it says what is missing,
    // and the schema refuses it.
    let bare = pw_json(&db, &["trace", &code, "--passport"]);
    let missing = bare["batteryPass"]["notDetermined"].to_string();
    assert!(
        missing.contains("--plant plant.toml") && missing.contains("puttingIntoService"),
        "{missing}"
    );
    let e = errors(
        &schema("GeneralProductInformation"),
        &bare["batteryPass"]["generalProductInformation"],
    );
    assert!(
        e.iter().any(|e| e.contains("manufacturerInformation")),
        "{e:#?}"
    );
    // A bad plant file is bad input, named.
    std::fs::write(&plant, PLANT.replace("--12", "P1Y")).unwrap();
    let out = pw(&db)
        .args(["trace", &code, "--passport", "--plant"])
        .arg(&plant)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warranty_period"));
}
