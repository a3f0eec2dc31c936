#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Conformance of the JK (PB Modbus and 4E 57), Pylontech-style RS485 (Pylontech, Pace,
//! Seplos) codecs against the frames in tests/fixtures/families.json, each named with its
//! source in tests/fixtures/README.md: every frame decodes to its listed values, and every
//! frame our encoders can produce is produced byte for byte.

use packwright_protocol::framing::parse_hex;
use packwright_protocol::jk_serial;
use packwright_protocol::modbus::{self, Request};
use packwright_protocol::pylon_ascii::{self, pace, values, Dialect, Frame};
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/families.json");
    let text = std::fs::read_to_string(path).expect("fixture file present");
    serde_json::from_str(&text).expect("fixture file is JSON")
}

fn entries(family: &str) -> Vec<Value> {
    let all: Vec<Value> = fixtures()
        .into_iter()
        .filter(|e| e["family"] == family)
        .collect();
    assert!(!all.is_empty(), "no {family} fixtures");
    all
}

fn frame_bytes(e: &Value) -> Vec<u8> {
    match (e["hex"].as_str(), e["ascii"].as_str()) {
        (Some(h), _) => parse_hex(h).unwrap(),
        (_, Some(a)) => a.as_bytes().to_vec(),
        _ => panic!("{} has no frame", e["id"]),
    }
}

fn close(got: f64, want: &Value, id: &Value, key: &str) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() < 1e-6,
        "{id} {key}: got {got}, want {want}"
    );
}

fn hex_num(v: &Value) -> u64 {
    let s = v.as_str().unwrap();
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn jk_serial_captures_decode() {
    for e in entries("jk_serial") {
        let bytes = frame_bytes(&e);
        let f = jk_serial::Frame::decode(&bytes).unwrap_or_else(|err| panic!("{}: {err}", e["id"]));
        assert_eq!(f.encode().unwrap(), bytes, "{} re-encodes", e["id"]);
        let x = &e["expected"];
        if x.as_object().unwrap().is_empty() {
            assert_eq!(f, jk_serial::read_all_request(jk_serial::source::PC));
            continue;
        }
        let fields = jk_serial::Fields::decode(&f.data).unwrap();
        assert_eq!(fields.encode(), f.data);
        let s = fields.snapshot();
        let id = &e["id"];
        assert_eq!(
            s.cell_count as u64,
            x["cell_count"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(s.cell_voltages_mv[0]),
            x["cell1_mv"].as_u64().unwrap()
        );
        close(s.pack_voltage_v, &x["pack_voltage_v"], id, "pack_voltage_v");
        close(s.current_a, &x["current_a"], id, "current_a");
        close(s.soc_pct.unwrap(), &x["soc_pct"], id, "soc_pct");
        let temps: Vec<f64> = x["temps_c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(s.temperatures_c, temps, "{id}");
        assert_eq!(s.charge_fet, x["charge_fet"].as_bool());
        assert_eq!(s.discharge_fet, x["discharge_fet"].as_bool());
    }
}

#[test]
fn jk_pb_request_is_encoded_byte_for_byte() {
    for e in entries("jk_pb") {
        let bytes = frame_bytes(&e);
        let x = &e["expected"];
        let req = Request::decode(&bytes).unwrap();
        let want = packwright_protocol::jk_pb::read_request(
            x["address"].as_u64().unwrap() as u8,
            hex_num(&x["start"]) as u16,
            x["count"].as_u64().unwrap() as u16,
        )
        .unwrap();
        assert_eq!(req, want);
        assert_eq!(want.encode().unwrap(), bytes);
        let mut fr = modbus::Framer::new(modbus::Direction::Requests, None);
        fr.push(&bytes);
        assert_eq!(fr.next_frame(), Some(bytes));
    }
}

fn dialect(e: &Value) -> Dialect {
    match e["dialect"].as_str().unwrap() {
        "pylontech" => Dialect::Pylontech,
        "pace" => Dialect::Pace,
        "seplos" => Dialect::Seplos,
        d => panic!("unknown dialect {d}"),
    }
}

#[test]
fn pylon_ascii_frames_decode() {
    for e in entries("pylon_ascii") {
        let id = &e["id"];
        let bytes = frame_bytes(&e);
        let f = Frame::decode(&bytes).unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(f.encode().unwrap(), bytes, "{id} re-encodes");
        pylon_ascii::check_frame(&bytes).unwrap();
        let x = &e["expected"];
        let d = dialect(&e);
        if x.get("cid2").is_some() {
            // A request: our request builder makes the same frame.
            assert_eq!(u64::from(f.ver), hex_num(&x["ver"]), "{id}");
            let adr = x["adr"].as_u64().unwrap() as u8;
            let cid2 = hex_num(&x["cid2"]) as u8;
            let built = match x["command"].as_u64() {
                Some(c) => pylon_ascii::pack_request(d, adr, cid2, c as u8),
                None => pylon_ascii::plain_request(d, adr, cid2),
            };
            assert_eq!(built.encode().unwrap(), bytes, "{id}");
        } else if x.get("cell1_mv").is_some() {
            let a = values::Analog::decode(d, f.reply_info().unwrap()).unwrap();
            let p = &a.packs[0];
            assert_eq!(
                p.cell_voltages_mv.len() as u64,
                x["cell_count"].as_u64().unwrap()
            );
            assert_eq!(
                u64::from(p.cell_voltages_mv[0]),
                x["cell1_mv"].as_u64().unwrap()
            );
            close(p.pack_voltage_v, &x["pack_voltage_v"], id, "pack_voltage_v");
            close(p.current_a, &x["current_a"], id, "current_a");
            close(
                p.remaining_ah.unwrap(),
                &x["remaining_ah"],
                id,
                "remaining_ah",
            );
            close(
                p.full_capacity_ah.unwrap(),
                &x["full_capacity_ah"],
                id,
                "full",
            );
            close(p.temperatures_c[0], &x["temp1_c"], id, "temp1_c");
            assert_eq!(u64::from(p.cycles.unwrap()), x["cycles"].as_u64().unwrap());
            for (key, got) in [
                ("design_capacity_ah", p.design_capacity_ah),
                ("soc_pct", p.soc_pct),
                ("soh_pct", p.soh_pct),
                ("port_voltage_v", p.port_voltage_v),
            ] {
                match x.get(key) {
                    Some(want) => close(got.unwrap(), want, id, key),
                    None => assert_eq!(got, None, "{id} {key}"),
                }
            }
            assert_eq!(a.encode(d), f.info, "{id} INFO re-encodes");
        } else if x.get("cells").is_some() {
            let s = values::AlarmInfo::decode(f.reply_info().unwrap()).unwrap();
            assert_eq!(s.cell_states.len() as u64, x["cells"].as_u64().unwrap());
            assert_eq!(
                s.temperature_states.len() as u64,
                x["temperatures"].as_u64().unwrap()
            );
            assert!(s.protection(d).is_empty());
            let fets = s.fets(d).unwrap();
            assert_eq!(Some(fets.0), x["charge_fet"].as_bool());
            assert_eq!(Some(fets.1), x["discharge_fet"].as_bool());
            assert_eq!(s.encode(), f.info);
        } else if let Some(serial) = x.get("serial") {
            let sn = values::SerialNumber::decode(f.reply_info().unwrap()).unwrap();
            assert_eq!(sn.serial, serial.as_str().unwrap(), "{id}");
            assert_eq!(sn.encode(), f.info, "{id} INFO re-encodes");
        } else if let Some(name) = x.get("battery_name") {
            let m = values::ManufacturerInfo::decode(f.reply_info().unwrap()).unwrap();
            assert_eq!(m.battery_name, name.as_str().unwrap(), "{id}");
            assert_eq!(m.manufacturer, x["manufacturer"].as_str().unwrap(), "{id}");
            let v: Vec<u8> = serde_json::from_value(x["software_version"].clone()).unwrap();
            assert_eq!(m.software_version.to_vec(), v);
        } else {
            assert_eq!(x["return_code"], "normal");
            pace::check_write_reply(&bytes).unwrap();
        }
    }
}

fn kind_of(name: &str) -> pace::ParamKind {
    serde_json::from_value(Value::String(name.to_string())).unwrap()
}

#[test]
fn pace_parameter_captures_round_trip() {
    for e in entries("pace_param") {
        let id = &e["id"];
        let kind = kind_of(e["param"].as_str().unwrap());
        let req = e["read_request"].as_str().unwrap().as_bytes();
        let reply = e["read_reply"].as_str().unwrap().as_bytes();
        let write = e["write_request"].as_str().unwrap().as_bytes();
        assert_eq!(pace::read_request(0, kind).encode().unwrap(), req, "{id}");
        let read = pace::decode_read_reply(kind, reply).unwrap_or_else(|err| panic!("{id}: {err}"));
        let written = pace::decode_write_request(&Frame::decode(write).unwrap()).unwrap();
        assert_eq!(written.kind(), kind);
        // Both directions re-encode to the captured bytes.
        assert_eq!(
            pace::write_request(0, &written).unwrap().encode().unwrap(),
            write,
            "{id}"
        );
        let sim = pace::read_reply(&pace::read_request(0, kind), &read).unwrap();
        assert_eq!(sim.encode().unwrap(), reply, "{id}");
        // PbmsTools wrote back what it read, except the pack OV alarm (57.60 -> 57.61 V).
        let diff = pace::verify(&written, &read);
        if kind == pace::ParamKind::PackOverVoltage {
            assert_eq!(diff.len(), 1, "{id}");
        } else {
            assert!(diff.is_empty(), "{id}: {diff:?}");
        }
    }
}

/// Pushes bytes into a framer and drains the frames it completes.
type Pusher = Box<dyn FnMut(&[u8]) -> Vec<Vec<u8>>>;

#[test]
fn every_fixture_frame_survives_the_stream_framers() {
    let mut ascii = Vec::new();
    let mut jk = Vec::new();
    for e in fixtures() {
        match e["family"].as_str().unwrap() {
            "jk_serial" => jk.push(frame_bytes(&e)),
            "pylon_ascii" => ascii.push(frame_bytes(&e)),
            "pace_param" => {
                for k in ["read_request", "read_reply", "write_request"] {
                    ascii.push(e[k].as_str().unwrap().as_bytes().to_vec());
                }
            }
            _ => {}
        }
    }
    let run = |frames: &[Vec<u8>], mut push: Pusher| {
        let mut stream = vec![0x00, 0x7E, 0x4E, 0x0D];
        for f in frames {
            stream.extend_from_slice(f);
            stream.extend_from_slice(b"\xFFjunk");
        }
        let mut got = Vec::new();
        for piece in stream.chunks(5) {
            got.extend(push(piece));
        }
        assert_eq!(got, frames.to_vec());
    };
    let mut fa = pylon_ascii::framer();
    run(
        &ascii,
        Box::new(move |p| {
            fa.push(p);
            std::iter::from_fn(|| fa.next_frame()).collect()
        }),
    );
    let mut fj = jk_serial::framer();
    run(
        &jk,
        Box::new(move |p| {
            fj.push(p);
            std::iter::from_fn(|| fj.next_frame()).collect()
        }),
    );
}
