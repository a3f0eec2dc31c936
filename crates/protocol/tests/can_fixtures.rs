#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Conformance against the real frames in tests/fixtures/frames/public.json: every
//! `pylontech_can` entry, written in candump notation, parses and decodes to its listed
//! values; the real Daly replies, put on the bus as Daly CAN frames, decode as their UART
//! originals do (Daly CAN carries the UART payloads unchanged, bms-protocols.md §2.5).

use packwright_protocol::can::daly_can;
use packwright_protocol::can::pylontech::{self, PylonMessage, PylonState, VoltageScale};
use packwright_protocol::can::{self, parse_frame, CanFrame, Decoded};
use packwright_protocol::daly::{self, CurrentSign};
use packwright_protocol::ProtocolKind;
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/frames/public.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file present");
    serde_json::from_str(&text).expect("fixture file is JSON")
}

fn entries(protocol: &str) -> Vec<Value> {
    fixtures()
        .into_iter()
        .filter(|e| e["protocol"] == protocol)
        .collect()
}

fn bytes(hex: &str) -> Vec<u8> {
    hex.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("fixture hex"))
        .collect()
}

/// The entry in candump notation, e.g. `35C#C000`, built from `can_id` and `hex`.
fn notation(e: &Value) -> String {
    let id = e["can_id"].as_str().expect("can_id");
    let id = u32::from_str_radix(id.trim_start_matches("0x"), 16).expect("hex id");
    assert_eq!(e["extended"], false, "all CAN fixtures are 11-bit");
    format!(
        "{id:03X}#{}",
        e["hex"].as_str().expect("hex").replace(' ', "")
    )
}

/// Compares a decoded JSON value with an expected one: numbers within half a resolution
/// step (the fixture README's rule), everything else exactly.
fn assert_close(id: &str, key: &str, got: &Value, want: &Value, step: f64) {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= step / 2.0 + 1e-9,
            "{id}: {key} = {g}, expected {w}"
        ),
        _ => assert_eq!(got, want, "{id}: {key}"),
    }
}

/// Fixture keys (`voltage_V`) to ours (`pack_voltage_v`), with the wire step of each.
fn pylon_key(key: &str) -> (&'static str, f64) {
    match key {
        "soc_pct" => ("soc_pct", 1.0),
        "soh_pct" => ("soh_pct", 1.0),
        "voltage_V" => ("pack_voltage_v", 0.01),
        "current_A" => ("current_a", 0.1),
        "temperature_C" => ("temperature_c", 0.1),
        "charge_enable" => ("charge_enable", 0.0),
        "discharge_enable" => ("discharge_enable", 0.0),
        "force_charge_1" => ("force_charge_1", 0.0),
        "force_charge_2" => ("force_charge_2", 0.0),
        "full_charge_req" => ("full_charge_req", 0.0),
        "battery_type" => ("battery_type", 0.0),
        other => panic!("fixture key `{other}` has no mapping: extend this test"),
    }
}

/// Keys the fixture README calls remarks, not values to assert.
const REMARKS: [&str; 3] = ["note", "raw", "meaning"];

#[test]
fn every_pylontech_frame_decodes_to_its_listed_values() {
    let all = entries("pylontech_can");
    assert_eq!(all.len(), 6, "public.json lists 6 pylontech_can entries");
    let mut asserted = 0;
    for e in &all {
        let id = e["id"].as_str().expect("id");
        let frame = parse_frame(&notation(e)).unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(frame.data(), bytes(e["hex"].as_str().unwrap()).as_slice());
        let decoded = can::decode(ProtocolKind::Pylontech, &frame)
            .unwrap_or_else(|err| panic!("{id}: {err}"));
        let json = serde_json::to_value(&decoded).expect("serialisable");
        assert_eq!(json["protocol"], "pylontech");
        for (key, want) in e["expected"].as_object().expect("expected object") {
            if REMARKS.contains(&key.as_str()) {
                continue;
            }
            let (ours, step) = pylon_key(key);
            assert_close(id, key, &json[ours], want, step);
            asserted += 1;
        }
    }
    // 2 (0x355) + 5 (0x35C) + 3 (0x356) + 1 (0x35F)
    assert_eq!(asserted, 11, "every listed value was compared");
}

#[test]
fn the_inverter_keep_alive_is_recognised() {
    let e = entries("pylontech_can")
        .into_iter()
        .find(|e| e["id"] == "pylon_inverter_305")
        .expect("entry");
    let frame = parse_frame(&notation(&e)).unwrap();
    let Decoded::Pylontech(PylonMessage::InverterKeepAlive(k)) =
        can::decode(ProtocolKind::Pylontech, &frame).unwrap()
    else {
        panic!("0x305 is not decoded as the inverter keep-alive")
    };
    assert_eq!(k.data_hex, "00 00 00 00 00 00 00 00");
    // And it is exactly what our inverter side sends.
    assert_eq!(pylontech::inverter_keep_alive(), frame);
}

#[test]
fn published_frames_are_reencoded_byte_for_byte() {
    for e in entries("pylontech_can") {
        let id = e["id"].as_str().unwrap();
        if id == "discover_356_variant" {
            continue; // not Pylontech's scaling: covered by the variant test below
        }
        let frame = parse_frame(&notation(&e)).unwrap();
        let msg = pylontech::decode(&frame).unwrap();
        let again = pylontech::encode(&msg);
        assert_eq!(again, frame, "{id}");
    }
}

#[test]
fn the_discover_variant_is_caught_as_a_scaling_case() {
    let e = entries("pylontech_can")
        .into_iter()
        .find(|e| e["id"] == "discover_356_variant")
        .expect("entry");
    let frame = parse_frame(&notation(&e)).unwrap();
    // Strictly, 0x020A is 5.22 V …
    let strict = pylontech::decode(&frame).unwrap();
    let PylonMessage::Measurements(m) = &strict else {
        panic!()
    };
    assert_eq!(m.pack_voltage_v, 5.22);
    // … which a pack with a 48 V class discharge limit contradicts: the state says so …
    let mut st = PylonState::default();
    st.apply(pylontech::decode(&parse_frame("351#2C01E803E803F401").unwrap()).unwrap());
    st.apply(strict);
    let why = st.scaling_suspect().expect("flagged");
    assert!(why.contains("0.1 V"), "{why}");
    // … and reading it with the variant's 0.1 V step gives the 52.2 V the note names.
    let PylonMessage::Measurements(m) =
        pylontech::decode_with(&frame, VoltageScale::Decivolt).unwrap()
    else {
        panic!()
    };
    assert_eq!(m.pack_voltage_v, 52.2);
}

#[test]
fn wrong_lengths_of_real_frames_are_rejected_with_the_reason() {
    for e in entries("pylontech_can") {
        let id = e["id"].as_str().unwrap();
        if id == "pylon_inverter_305" {
            continue; // the keep-alive carries no values, any length is accepted
        }
        let good = parse_frame(&notation(&e)).unwrap();
        let data = good.data();
        let cut = CanFrame::standard(good.id(), &data[..data.len() - 1]).unwrap();
        // 0x355 accepts 4, 6 or 8 bytes, 0x356 6 or 8: one byte less is never valid.
        let err = pylontech::decode(&cut).expect_err(id).to_string();
        assert!(
            err.contains(&format!("has {} data bytes, expected", data.len() - 1)),
            "{id}: {err}"
        );
    }
}

#[test]
fn malformed_notation_of_a_real_frame_is_rejected_with_the_reason() {
    let cases = [
        ("355 58005E00", "no `#`"),
        ("0x355#58005E00", "has 5 hex digits"),
        ("355#58005E0", "half a byte"),
        ("355#58005Z00", "`Z` at data position 5"),
        ("355#58005E00580058005E", "9 data bytes"),
    ];
    for (input, reason) in cases {
        let err = parse_frame(input).expect_err(input).to_string();
        assert!(err.contains(reason), "{input}: {err}");
    }
}

#[test]
fn real_daly_reply_payloads_decode_through_the_can_decoder() {
    // Daly CAN carries the UART payloads unchanged: each real UART reply, put on the bus
    // under its board's reply id, decodes to exactly what the UART decoder says, and the
    // values the fixture lists come out under our keys.
    let mut checked = 0;
    for e in entries("daly") {
        let id = e["id"].as_str().unwrap();
        let b = bytes(e["hex"].as_str().unwrap());
        let (address, data_id) = (b[1], b[2]);
        if daly::is_request_address(address) || !(0x90..=0x98).contains(&data_id) {
            continue; // requests, and 0x63 text, which Daly CAN does not carry
        }
        let payload: [u8; 8] = b[4..12].try_into().unwrap();
        let frame = daly_can::reply(data_id, address, &payload);
        let Decoded::DalyCan(msg) =
            can::decode(ProtocolKind::DalyCan, &frame).unwrap_or_else(|err| panic!("{id}: {err}"))
        else {
            panic!("{id}: wrong protocol")
        };
        let uart = daly::describe(&b, CurrentSign::default()).unwrap();
        assert_eq!(msg.payload, uart, "{id}");
        assert_eq!(msg.can_id, format!("18{data_id:02X}40{address:02X}"));

        let json = serde_json::to_value(&msg).unwrap();
        let exp = &e["expected"];
        let mut check = |ours: &str, want: f64, step: f64| {
            assert_close(id, ours, &json[ours], &Value::from(want), step);
            checked += 1;
        };
        if let Some(v) = exp["total_V"].as_f64() {
            check("pack_voltage_v", v, 0.1);
        }
        if let Some(v) = exp["soc_pct"].as_f64() {
            check("soc_pct", v, 0.1);
        }
        // The fixture's raw-minus-offset is a discharge under the default sign.
        if let Some(v) = exp["current_A_raw_minus_offset"]
            .as_f64()
            .or(exp["current_A"].as_f64())
        {
            check("current_a", -v, 0.1);
        }
        if let Some(v) = exp["remaining_mAh"].as_f64() {
            check("remaining_ah", v / 1000.0, 0.001);
        }
        if let Some(state) = exp["state"].as_str() {
            // fixture: "2 discharging"; ours: "discharging"
            assert_eq!(
                json["state"],
                state.split_whitespace().nth(1).unwrap(),
                "{id}"
            );
            checked += 1;
        }
        for (theirs, ours) in [
            ("charge_mos", "charge_fet"),
            ("discharge_mos", "discharge_fet"),
        ] {
            if let Some(v) = exp[theirs].as_u64() {
                assert_eq!(json[ours], v == 1, "{id}: {theirs}");
                checked += 1;
            }
        }
        for key in ["bms_life", "frame_no"] {
            if let Some(v) = exp[key].as_u64() {
                assert_eq!(json[key], v, "{id}: {key}");
                checked += 1;
            }
        }
        if let Some(cells) = exp["cells_mV"].as_array() {
            assert_eq!(
                &json["cell_voltages_mv"],
                &Value::from(cells.clone()),
                "{id}"
            );
            checked += 1;
        }
        if let Some(temps) = exp["temps_C"].as_array() {
            // only the populated sensors are listed; the rest of the frame reads -40 °C
            assert_eq!(
                &json["temperatures_c"].as_array().unwrap()[..temps.len()],
                temps.as_slice(),
                "{id}"
            );
            checked += 1;
        }
    }
    // 5 0x90 replies × 3 values, 0x93 × 5, 6 0x95 frames × 2, 2 0x96 frames (frame_no, 1 temps).
    assert_eq!(checked, 35, "every listed Daly value was compared");
}

#[test]
fn default_daly_sign_agrees_with_the_captured_state() {
    // daly_90_a and daly_93_a come from one unit: raw 30063 while "2 discharging".
    let all = entries("daly");
    let frame = |name: &str| -> CanFrame {
        let e = all.iter().find(|e| e["id"] == name).unwrap();
        let b = bytes(e["hex"].as_str().unwrap());
        daly_can::reply(b[2], b[1], &b[4..12].try_into().unwrap())
    };
    let mut st = daly_can::DalyCanState::default();
    for name in ["daly_90_a", "daly_93_a"] {
        st.apply(&daly_can::split(&frame(name)).unwrap()).unwrap();
    }
    assert_eq!(st.sign_suspect(CurrentSign::AboveOffsetDischarges), None);
    assert!(
        st.sign_suspect(CurrentSign::AboveOffsetCharges).is_some(),
        "the opposite sign contradicts 0x93"
    );
}
