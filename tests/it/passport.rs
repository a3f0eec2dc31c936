//! The battery passport of a passed pack through the real binary: graded cells, assembly, a
//! verified configuration and a passing end-of-line run on a simulated board (with a weighing
//! step), then `trace --passport --plant`. Its Battery Pass clusters validate against the data
//! model's JSON schemas (vendored in `tests/fixtures/batterypass/`), and every number in them is
//! recomputed here from the graded values the test imported, the profile and the run.

use crate::support::eol::{
    assemble, eol_run, import_cells, match_pack, pack_json, pw, pw_json, runs_json, Sim,
};
use crate::support::pg::station_db;
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
[declared]
original_power_capability = [{ at_soc_pct = 80.0, power_w = 4800.0 }, { at_soc_pct = 20.0, power_w = 4300.0 }]
rated_maximum_power_w = 4800.0
expected_number_of_cycles = 3000
roundtrip_efficiency_pct = 94.0
round_trip_efficiency_at_50pct_cycle_life_pct = 92.0
expected_lifetime_years = 8
capacity_threshold_for_exhaustion_pct = 60.0
lifetime_reference_test = "https://slp.example/reports/ess-cycle-life-2026.pdf"
c_rate_life_cycle_test = 0.5
temperature_range_idle_state_c = 25.0
"#;

/// The shipped 15S1P profile with a weighing step and a power and efficiency step at the end of
/// its plan, and the scan-back of the label required before the BMS step.
fn weighed_profile(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lfp-15s1p-100ah.toml"),
    )
    .unwrap();
    let shipped = shipped.replace(
        "plan_version = \"2026.11-1\"\n",
        "plan_version = \"2026.11-1\"\nrequire_label_scan = true\n",
    );
    assert!(shipped.contains("require_label_scan"));
    let path = dir.join("weighed.toml");
    std::fs::write(
        &path,
        format!(
            "{shipped}\n[[eol.steps]]\nid = \"weight\"\ntitle = \"Pack weight\"\nkind = \"manual\"\n\
             on_fail = \"continue\"\nprompt = \"Weigh the pack; enter kilograms\"\n\
             [[eol.steps.measurements]]\nname = \"pack_mass_kg\"\nunit = \"kg\"\nlow = 1.0\nhigh = 500.0\n\
             [[eol.steps]]\nid = \"power\"\ntitle = \"Power and efficiency\"\nkind = \"manual\"\n\
             on_fail = \"continue\"\nprompt = \"Read the cycler's report\"\n\
             [[eol.steps.measurements]]\nname = \"state_of_charge_pct\"\nunit = \"%\"\nlow = 0.0\nhigh = 100.0\n\
             [[eol.steps.measurements]]\nname = \"power_capability_w\"\nunit = \"W\"\nlow = 0.0\nhigh = 100000.0\n\
             [[eol.steps.measurements]]\nname = \"round_trip_efficiency_pct\"\nunit = \"%\"\nlow = 50.0\nhigh = 100.0\n"
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
    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    import_cells(dir.path(), &db, 17, None);
    let profile = weighed_profile(dir.path());
    let cells = match_pack(&db, profile.to_str().unwrap());
    let code = assemble(&db, &cells);
    let sim = Sim::jbd15(dir.path(), &[]);
    let write = || {
        let mut cmd = pw(&db);
        cmd.args(["bms", "config", "write", "--protocol", "jbd", "--port"])
            .args([sim.port(), "--pack", &code]);
        cmd
    };
    // Its label, printed to a file printer, then scanned back off the pack: the plan requires
    // that before the BMS step.
    let job = dir.path().join("label.zpl");
    let printer = format!("file:{}", job.display());
    pw(&db)
        .args(["label", "print", &code, "--printer", &printer])
        .assert()
        .success();
    let zpl = std::fs::read_to_string(&job).unwrap();
    assert!(zpl.contains(&format!("^FDMA,{code}^FS")), "{zpl}");
    write().assert().code(2);
    pw(&db)
        .args(["label", "verify", &code, "--scan", &format!("]C1{code}")])
        .assert()
        .success();
    write().assert().success();
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        "insulation_resistance_megaohm = 550\nhipot_result = \"PASS\"\npe_continuity_ohm = 0.03\n\
         visual_ok = \"yes\"\npack_mass_kg = 48.5\nstate_of_charge_pct = 50\n\
         power_capability_w = 4560\nround_trip_efficiency_pct = 91.7\n",
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
    let run = runs_json(&db, &code)
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(run["outcome"], "pass");
    let ended = chrono::DateTime::parse_from_rfc3339(run["ended_at"].as_str().unwrap()).unwrap();
    // Put into service a month after its test: as tested, it had not been used.
    let in_service =
        (ended + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let doc = pw_json(
        &db,
        &[
            "trace",
            &code,
            "--passport",
            "--plant",
            plant.to_str().unwrap(),
            "--in-service",
            &in_service,
        ],
    );
    let bp = &doc["batteryPass"];
    assert_eq!(bp["notDetermined"], serde_json::json!([]), "{bp:#}");
    let gpi = &bp["generalProductInformation"];
    let perf = &bp["performanceAndDurability"];
    let e = errors(&schema("GeneralProductInformation"), gpi);
    assert!(e.is_empty(), "{e:#?}\n{gpi:#}");
    let e = errors(&schema("PerformanceAndDurability"), perf);
    assert!(e.is_empty(), "{e:#?}\n{perf:#}");

    // Identity: the new code, repurposed, the plant, the modules the cells came from.
    assert_eq!(gpi["productIdentifier"], code.as_str());
    assert_eq!(
        gpi["batteryPassportIdentifier"],
        format!("urn:pwplant1:{}", code.to_lowercase())
    );
    assert_eq!(gpi["batteryStatus"], "Repurposed");
    assert_eq!(gpi["manufacturerInformation"]["identifier"], "DE-SLP-0001");
    assert_eq!(gpi["puttingIntoService"], in_service.as_str());
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
    // 1.0 mV/day each: 0.025 %/day (the 8 mV/day and 0.2 %/day pass limits taken as equal).
    let sd_pct_day = round(1.0 * 0.2 / 8.0, 4);
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
    // What follows from those: energy = capacity × 48 V; certified energy over 4.8 kWh; power
    // ratio = 4800 W / 4800 Wh.
    let kwh = round(round(min_cap / 1000.0, 3) * 48.0 / 1000.0, 3);
    assert_eq!(f(&cond["remainingEnergy"]["remainingEnergyalue"]), kwh);
    assert_eq!(
        f(&cond["stateOfCertifiedEnergy"]["stateOfCertifiedEnergyValue"]),
        round(kwh / 4.8 * 100.0, 1)
    );
    assert_eq!(f(&tech["powerCapabilityRatio"]), 1.0);
    // The plant's declaration, copied as declared.
    assert_eq!(f(&tech["ratedMaximumPower"]), 4800.0);
    assert_eq!(f(&tech["expectedNumberOfCycles"]), 3000.0);
    assert_eq!(f(&tech["roundtripEfficiency"]), 94.0);
    assert_eq!(f(&tech["expectedLifetime"]), 8.0);
    assert_eq!(f(&tech["capacityThresholdForExhaustion"]), 60.0);
    assert_eq!(f(&tech["cRateLifeCycleTest"]), 0.5);
    assert_eq!(f(&tech["temperatureRangeIdleState"]), 25.0);
    assert_eq!(
        tech["originalPowerCapability"][1],
        serde_json::json!({ "atSoC": 20.0, "powerCapabilityAt": 4300.0 })
    );
    assert_eq!(f(&cond["roundTripEfficiencyat50PerCentCycleLife"]), 92.0);
    // The run's power and efficiency step, and the fades against the declaration.
    assert_eq!(f(&cond["stateOfCharge"]["stateOfChargeValue"]), 50.0);
    let rpc = &cond["remainingPowerCapability"][0]["remainingPowerCapabilityValue"];
    assert_eq!(
        (f(&rpc["atSoC"]), f(&rpc["powerCapabilityAt"])),
        (50.0, 4560.0)
    );
    assert_eq!(f(&cond["powerFade"]), 5.0);
    assert_eq!(
        f(&cond["remainingRoundTripEnergyEfficiency"]["remainingRoundTripEnergyEfficiencyValue"]),
        91.7
    );
    assert_eq!(
        f(&cond["roundTripEfficiencyFade"]),
        round(100.0 * (1.0 - 91.7 / 94.0), 1)
    );
    // Not used before its putting into service; nothing recorded against it; no later
    // resistance or self-discharge measurement than the grading.
    assert_eq!(f(&cond["energyThroughput"]), 0.0);
    assert_eq!(
        f(&cond["numberOfFullCycles"]["numberOfFullCyclesValue"]),
        0.0
    );
    assert_eq!(cond["negativeEvents"], serde_json::json!([]));
    assert_eq!(cond["internalResistanceIncrease"], serde_json::json!([]));
    assert_eq!(
        f(&cond["evolutionOfSelfDischarge"]["evolutionOfSelfDischargeEntityValue"]),
        0.0
    );
    let at = chrono::DateTime::parse_from_rfc3339(
        cond["remainingCapacity"]["lastUpdate"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(at.timestamp(), ended.timestamp());
    assert_eq!(bp["repurposing"]["eolRun"], run["run_id"]);
    // The label on the pack: printed on that printer, read back as the pack's code.
    let label = &bp["repurposing"]["label"];
    assert_eq!(label["printed"]["printer"], printer.as_str(), "{label:#}");
    assert_eq!(label["scannedBack"]["read"], code.as_str(), "{label:#}");
    assert_eq!(label["scannedBack"]["station"], "line-1", "{label:#}");
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

    // Put into service before the test's date: its use since then is not the line's to know,
    // so the condition is incomplete, says so, and the schema refuses it.
    let early =
        (ended - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let used = pw_json(
        &db,
        &[
            "trace",
            &code,
            "--passport",
            "--plant",
            plant.to_str().unwrap(),
            "--in-service",
            &early,
        ],
    );
    let missing = used["batteryPass"]["notDetermined"].to_string();
    assert!(
        missing.contains("batteryCondition.energyThroughput"),
        "{missing}"
    );
    let e = errors(
        &schema("PerformanceAndDurability"),
        &used["batteryPass"]["performanceAndDurability"],
    );
    assert!(e.iter().any(|e| e.contains("energyThroughput")), "{e:#?}");

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
    // … and so is the performance cluster: the design values are the plant's declaration.
    assert!(
        missing.contains(
            "batteryTechicalProperties.ratedMaximumPower: needs [declared] rated_maximum_power_w"
        ),
        "{missing}"
    );
    let e = errors(
        &schema("PerformanceAndDurability"),
        &bare["batteryPass"]["performanceAndDurability"],
    );
    assert!(e.iter().any(|e| e.contains("ratedMaximumPower")), "{e:#?}");
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

/// What the console's Assemble screen asks for next: the cell id on its `NEXT` line.
fn next_cell(screen: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.contains(" NEXT "))
        .and_then(|l| l.split_whitespace().nth(2))
        .map(str::to_string)
}

/// One console session, in a pseudo-terminal, from assembly to PASS: the cells scanned into
/// place, the label printed at completion (file printer), scanned back as a scanner types it,
/// the configuration written and read back on a simulated board, the end-of-line test with its
/// manual answers. Then the headless passport of that pack validates against both schemas
/// and names the label scanned back.
#[test]
fn one_console_session_from_assembly_to_pass_gives_a_schema_valid_passport_naming_the_label() {
    use crate::support::pty::Pty;
    use std::time::Duration;
    const LONG: Duration = Duration::from_secs(60);
    const SHORT: Duration = Duration::from_secs(15);

    let dir = crate::support::tempdir();
    let db = station_db(dir.path(), "line.db");
    import_cells(dir.path(), &db, 17, None);
    let profile = weighed_profile(dir.path());
    match_pack(&db, profile.to_str().unwrap());
    let sim = Sim::jbd15(dir.path(), &[]);
    let job = dir.path().join("label.zpl");
    let printer = format!("file:{}", job.display());

    let mut cmd = crate::support::eol::pw_process(&db);
    cmd.env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("PACKWRIGHT_LOG")
        .args(["console", "--log"])
        .arg(dir.path().join("console.log"))
        .arg("--port")
        .arg(format!("{}:jbd", sim.port()))
        .args(["--printer", &printer]);
    let mut pty = Pty::spawn(cmd, 80, 24);
    pty.wait_text("Cells", SHORT);
    pty.key(b"4");
    let mut screen = pty.wait_text("NEXT", SHORT);
    while let Some(cell) = next_cell(&screen) {
        pty.send(format!("{cell}\r").as_bytes());
        screen = pty.wait_for("the next cell or the label", SHORT, |s| {
            s.contains("LABEL:") || next_cell(s).is_some_and(|n| n != cell)
        });
    }
    let screen = pty.wait_text("label printed: stick it on", SHORT);
    let code = screen
        .lines()
        .find_map(|l| l.split("LABEL: ").nth(1))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .unwrap();
    assert!(code.starts_with("PWT"), "{screen}");
    let zpl = std::fs::read_to_string(&job).unwrap();
    assert!(zpl.contains(&format!("^FDMA,{code}^FS")), "{zpl}");

    // The scan-back, as a Code 128 scanner types it: AIM prefix, the code, Enter.
    pty.wait_text("Scan the label on the pack", SHORT);
    pty.send(format!("]C1{code}\r").as_bytes());
    pty.wait_text("label scanned back OK", SHORT);

    pty.key(b"\x1b");
    pty.key(b"5");
    pty.key(b"c");
    pty.wait_text("link: connected to jbd", SHORT);
    pty.wait_text("Cell voltages: min", SHORT);
    pty.key(b"w");
    pty.wait_text("y yes", SHORT);
    pty.key(b"y");
    pty.wait_text("Configuration: VERIFIED", LONG);

    pty.key(b"6");
    pty.key(b"t");
    // Insulation, PE continuity, visual (no HiPot at 48 V), then the weighing and the power
    // and efficiency steps.
    for answer in ["550", "0.03", "yes", "48.5", "50", "4560", "91.7"] {
        pty.wait_text("answer:", LONG);
        pty.send(format!("{answer}\r").as_bytes());
        std::thread::sleep(Duration::from_millis(300));
    }
    let screen = pty.wait_text("P A S S", LONG);
    assert!(screen.contains("(passed)"), "{screen}");
    pty.key(b"q");
    assert!(pty.wait_exit(SHORT).success());

    // Headless, the passport of that pack.
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
        ],
    );
    let bp = &doc["batteryPass"];
    let e = errors(
        &schema("PerformanceAndDurability"),
        &bp["performanceAndDurability"],
    );
    assert!(e.is_empty(), "{e:#?}\n{bp:#}");
    // Not in service yet: the general cluster lacks only that, and says so.
    assert_eq!(
        bp["notDetermined"].as_array().map(Vec::len),
        Some(1),
        "{bp:#}"
    );
    let e = errors(
        &schema("GeneralProductInformation"),
        &bp["generalProductInformation"],
    );
    assert!(
        e.len() == 1 && e[0].contains("puttingIntoService"),
        "{e:#?}"
    );
    let run = runs_json(&db, &code)
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let ended = chrono::DateTime::parse_from_rfc3339(run["ended_at"].as_str().unwrap()).unwrap();
    let in_service =
        (ended + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let doc = pw_json(
        &db,
        &[
            "trace",
            &code,
            "--passport",
            "--plant",
            plant.to_str().unwrap(),
            "--in-service",
            &in_service,
        ],
    );
    let bp = &doc["batteryPass"];
    assert_eq!(bp["notDetermined"], serde_json::json!([]), "{bp:#}");
    for (name, cluster) in [
        ("GeneralProductInformation", "generalProductInformation"),
        ("PerformanceAndDurability", "performanceAndDurability"),
    ] {
        let e = errors(&schema(name), &bp[cluster]);
        assert!(e.is_empty(), "{name}: {e:#?}\n{:#}", bp[cluster]);
    }
    assert_eq!(
        bp["generalProductInformation"]["productIdentifier"],
        code.as_str()
    );
    assert_eq!(bp["generalProductInformation"]["batteryMass"], 48.5);
    let label = &bp["repurposing"]["label"];
    assert_eq!(label["printed"]["printer"], printer.as_str(), "{label:#}");
    assert_eq!(label["scannedBack"]["read"], code.as_str(), "{label:#}");
    assert_eq!(bp["repurposing"]["eolRun"], run["run_id"]);
    assert_eq!(run["outcome"], "pass");
}
