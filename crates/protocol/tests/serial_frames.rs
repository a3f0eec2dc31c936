#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Conformance: every JBD and Daly frame in `tests/fixtures/frames/public.json` (real captures
//! and manufacturer examples) decodes to its listed values, every request encodes byte for
//! byte, and damaged copies are rejected with the reason.
//!
//! Every key of `expected` is asserted: an unknown key fails the test, so a fixture cannot
//! silently go unchecked. Tolerance is half the protocol's resolution for the quantity.

use packwright_protocol::daly::{self, CurrentSign};
use packwright_protocol::framing::{parse_hex, FrameError};
use packwright_protocol::jbd::{self, payload, CapacityUnit, MosControl, Pin, Request, Response};
use serde_json::Value;

struct Entry {
    id: String,
    protocol: String,
    bytes: Vec<u8>,
    kind: String,
    expected: serde_json::Map<String, Value>,
}

fn entries(protocol: &str) -> Vec<Entry> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/frames/public.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file readable");
    let all: Vec<Value> = serde_json::from_str(&text).expect("fixture is JSON");
    let out: Vec<Entry> = all
        .into_iter()
        .filter(|e| e["protocol"] == protocol)
        .map(|e| Entry {
            id: e["id"].as_str().unwrap().to_string(),
            protocol: protocol.to_string(),
            bytes: parse_hex(e["hex"].as_str().unwrap()).unwrap(),
            kind: e["kind"].as_str().unwrap().to_string(),
            expected: e["expected"].as_object().unwrap().clone(),
        })
        .collect();
    assert!(!out.is_empty(), "no {protocol} fixtures");
    out
}

fn close(id: &str, key: &str, got: f64, want: &Value, tol: f64) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{id}.{key}: not a number"));
    assert!(
        (got - want).abs() <= tol,
        "{id}.{key}: got {got}, want {want} (±{tol})"
    );
}

fn close_list(id: &str, key: &str, got: &[f64], want: &Value, tol: f64) {
    let want = want
        .as_array()
        .unwrap_or_else(|| panic!("{id}.{key}: not a list"));
    assert_eq!(got.len(), want.len(), "{id}.{key}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(id, &format!("{key}[{i}]"), *g, w, tol);
    }
}

fn int(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

/// Keys that are remarks, not values (SOURCES.md: `note`, `raw`, `meaning`).
fn is_remark(key: &str) -> bool {
    matches!(key, "note" | "raw" | "meaning")
}

#[test]
fn jbd_fixtures_decode_to_their_values() {
    let mut checked = 0;
    for e in entries("jbd") {
        let id = e.id.as_str();
        let raw = jbd::RawFrame::parse(&e.bytes).unwrap_or_else(|err| panic!("{id}: {err}"));
        if e.kind.contains("(request)") {
            check_jbd_request(&e, jbd::Request::from_raw(raw).unwrap());
            checked += 1;
            continue;
        }
        let resp = Response::from_raw(raw).unwrap_or_else(|err| panic!("{id}: {err}"));
        // The describe path (what `bms decode` prints) must accept every real frame too.
        jbd::describe(&e.bytes).unwrap_or_else(|err| panic!("{id}: describe: {err}"));
        let data = resp.ok_data().unwrap();
        let basic = (resp.register == jbd::reg::BASIC_INFO)
            .then(|| jbd::BasicInfo::decode(data).unwrap_or_else(|err| panic!("{id}: {err}")));
        let unit = basic
            .as_ref()
            .map_or(CapacityUnit::TenMilli, |b| b.unit_hint());
        let counters = (resp.register == jbd::reg::ERROR_COUNTERS)
            .then(|| jbd::ErrorCounters::decode(data).unwrap());
        for (key, want) in &e.expected {
            if is_remark(key) {
                continue;
            }
            let b = || {
                basic
                    .as_ref()
                    .unwrap_or_else(|| panic!("{id}.{key}: not a basic-info frame"))
            };
            let c = || counters.unwrap_or_else(|| panic!("{id}.{key}: not a counters frame"));
            match key.as_str() {
                "total_voltage_V" => close(id, key, b().pack_voltage_v(), want, 0.005),
                "current_A" => close(id, key, b().current_a(unit), want, 0.005),
                "remaining_Ah" => close(id, key, b().remaining_ah(unit), want, 0.005),
                "nominal_Ah" => close(id, key, b().nominal_ah(unit), want, 0.005),
                "cycles" => assert_eq!(u64::from(b().cycles), int(want), "{id}.{key}"),
                "mfg_date" => assert_eq!(b().date.iso().as_deref(), want.as_str(), "{id}.{key}"),
                "sw_version" => {
                    assert_eq!(Some(b().software_version_hex().as_str()), want.as_str())
                }
                "rsoc_pct" => assert_eq!(u64::from(b().rsoc_pct), int(want), "{id}.{key}"),
                "fet" => assert_eq!(u64::from(b().fet), int(want), "{id}.{key}"),
                "cells" => assert_eq!(u64::from(b().cell_count), int(want), "{id}.{key}"),
                "ntc" => assert_eq!(b().temperatures_dk.len() as u64, int(want), "{id}.{key}"),
                "temps_C" => close_list(id, key, &b().temperatures_c(), want, 0.05),
                "cells_V" => {
                    let cells = payload::decode_cell_voltages(data).unwrap();
                    let volts: Vec<f64> = cells.iter().map(|&mv| f64::from(mv) / 1000.0).collect();
                    close_list(id, key, &volts, want, 0.0005);
                }
                "short_circuit" => assert_eq!(u64::from(c().short_circuit), int(want)),
                "chg_oc" => assert_eq!(u64::from(c().charge_overcurrent), int(want)),
                "dsg_oc" => assert_eq!(u64::from(c().discharge_overcurrent), int(want)),
                "cell_ov" => assert_eq!(u64::from(c().cell_overvoltage), int(want)),
                "cell_uv" => assert_eq!(u64::from(c().cell_undervoltage), int(want)),
                "chg_ot" => assert_eq!(u64::from(c().charge_overtemperature), int(want)),
                "chg_ut" => assert_eq!(u64::from(c().charge_undertemperature), int(want)),
                "dsg_ot" => assert_eq!(u64::from(c().discharge_overtemperature), int(want)),
                "dsg_ut" => assert_eq!(u64::from(c().discharge_undertemperature), int(want)),
                "pack_ov" => assert_eq!(u64::from(c().pack_overvoltage), int(want)),
                "pack_uv" => assert_eq!(u64::from(c().pack_undervoltage), int(want)),
                "system_restarts_word12" => {
                    assert_eq!(c().system_restarts.map(u64::from), Some(int(want)))
                }
                "status" => assert_eq!(u64::from(resp.status.byte()), int(want), "{id}.{key}"),
                "len" => assert_eq!(data.len() as u64, int(want), "{id}.{key}"),
                "model" => {
                    assert!(
                        resp.answers(jbd::reg::MODEL),
                        "{id}: reply must be accepted for 0x05"
                    );
                    assert_eq!(
                        payload::decode_model(data),
                        want.as_str().unwrap(),
                        "{id}.{key}"
                    );
                }
                "manufacturer" => {
                    // "DGJBD (len byte 5)": the string, then its length byte in words.
                    let block = jbd::BlockParams::decode(data).unwrap();
                    assert_eq!(
                        block.start_param, 56,
                        "{id}: manufacturer block starts at param 56"
                    );
                    let text = jbd::eeprom::decode_string(resp.register, &block.bytes()).unwrap();
                    let want = want.as_str().unwrap();
                    assert_eq!(
                        want,
                        format!("{text} (len byte {})", text.len()),
                        "{id}.{key}"
                    );
                }
                other => panic!("{id}: expected key {other:?} is not asserted by this test"),
            }
        }
        // Replies re-encode byte for byte from the decoded values.
        assert_eq!(resp.encode().unwrap(), e.bytes, "{id}: re-encode");
        if let Some(b) = &basic {
            assert_eq!(b.encode(), data, "{id}: basic info re-encode");
        }
        checked += 1;
    }
    assert_eq!(checked, 17, "every JBD fixture checked");
}

fn check_jbd_request(e: &Entry, req: Request) {
    let id = e.id.as_str();
    assert_eq!(req.encode(), e.bytes, "{id}: re-encode");
    // The typed constructor for what the capture does must produce the same bytes.
    let typed = match (req.write, req.register) {
        (false, r) => Request::read(r),
        (true, jbd::reg::EXIT_FACTORY) => Request::exit_factory(req.data == jbd::EXIT_SAVE),
        (true, jbd::reg::USE_PASSWORD) => {
            let pin = Pin::from_request_data(&req.data).unwrap_or_else(|| panic!("{id}: PIN"));
            assert_eq!(pin, Pin::DEFAULT, "{id}: the default all-zero PIN");
            Request::use_password(&pin)
        }
        (true, jbd::reg::MOS_CONTROL) => {
            Request::mos_control(MosControl::from_value(req.data_u16().unwrap()).unwrap())
        }
        (true, jbd::reg::RESET) => Request::reset(),
        (true, r) => panic!("{id}: no typed constructor for write 0x{r:02X}"),
    };
    assert_eq!(typed.encode(), e.bytes, "{id}: typed constructor");
    for (key, want) in &e.expected {
        let want = want.as_str().unwrap_or_default();
        match key.as_str() {
            "reg" => assert_eq!(format!("0x{:02X}", req.register), want, "{id}.reg"),
            "value" => {
                let hex = want.split_whitespace().next().unwrap();
                let v = u16::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap();
                assert_eq!(req.data_u16(), Some(v), "{id}.value");
            }
            "payload" => assert!(
                want.starts_with("len=6"),
                "{id}.payload checked via Pin above"
            ),
            other => panic!("{id}: expected key {other:?} is not asserted by this test"),
        }
    }
}

#[test]
fn daly_fixtures_decode_to_their_values() {
    let mut checked = 0;
    for e in entries("daly") {
        let id = e.id.as_str();
        let f = daly::Frame::decode(&e.bytes).unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(f.encode().to_vec(), e.bytes, "{id}: re-encode");
        daly::describe(&e.bytes, CurrentSign::default()).unwrap();
        if e.kind.contains("request") {
            assert!(e.expected.is_empty(), "{id}: requests carry no values");
            assert!(daly::is_request_address(f.address), "{id}: host address");
            assert_eq!(
                daly::Frame::request(f.address, f.data_id).encode().to_vec(),
                e.bytes,
                "{id}"
            );
            checked += 1;
            continue;
        }
        assert!(!daly::is_request_address(f.address), "{id}: board address");
        let d = &f.data;
        for (key, want) in &e.expected {
            if is_remark(key) {
                continue;
            }
            let soc = || daly::Soc::decode(f.expect_id(daly::id::SOC).unwrap());
            let mos = || daly::MosStatus::decode(f.expect_id(daly::id::MOS).unwrap());
            match key.as_str() {
                "total_V" => close(id, key, soc().total_v(), want, 0.05),
                "gather_V" => close(id, key, soc().gather_v(), want, 0.05),
                "current_raw" => assert_eq!(u64::from(soc().current_raw), int(want), "{id}"),
                "current_A_raw_minus_offset" => {
                    close(id, key, soc().current_raw_minus_offset_a(), want, 0.05)
                }
                // Only used where raw == 30000, so either convention gives 0.
                "current_A" => {
                    close(
                        id,
                        key,
                        soc().current_a(CurrentSign::AboveOffsetDischarges),
                        want,
                        0.05,
                    );
                    close(
                        id,
                        key,
                        soc().current_a(CurrentSign::AboveOffsetCharges),
                        want,
                        0.05,
                    );
                }
                "soc_pct" => close(id, key, soc().soc_pct(), want, 0.05),
                "state" => {
                    let n: u8 = want
                        .as_str()
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(mos().state, daly::ChargeState::from_byte(n), "{id}.state");
                    assert_eq!(mos().state.byte(), n);
                }
                "charge_mos" => assert_eq!(u64::from(mos().charge_mos), int(want), "{id}"),
                "discharge_mos" => assert_eq!(u64::from(mos().discharge_mos), int(want), "{id}"),
                "bms_life" => assert_eq!(u64::from(mos().bms_life), int(want), "{id}"),
                "remaining_mAh" => assert_eq!(u64::from(mos().remaining_mah), int(want), "{id}"),
                "frame_no" => assert_eq!(u64::from(d[0]), int(want), "{id}.frame_no"),
                "cells_mV" => {
                    let c = daly::CellFrame::decode(f.expect_id(daly::id::CELL_VOLTAGES).unwrap());
                    let got: Vec<u64> = c.values.iter().map(|&v| u64::from(v)).collect();
                    let want: Vec<u64> = want.as_array().unwrap().iter().map(int).collect();
                    assert_eq!(got, want, "{id}.cells_mV");
                }
                "temps_C" => {
                    // Listed for the sensors the board has; the rest of the frame is padding.
                    let t = daly::TempFrame::decode(f.expect_id(daly::id::TEMPERATURES).unwrap());
                    let got: Vec<f64> = t
                        .values
                        .iter()
                        .map(|&b| f64::from(daly::temp_c(b)))
                        .collect();
                    let n = want.as_array().unwrap().len();
                    close_list(id, key, &got[..n], want, 0.5);
                }
                "text" => {
                    let t = daly::TextFrame::decode(f.expect_id(daly::id::VERSION_63).unwrap());
                    assert_eq!(
                        daly::text_of(&t.values),
                        want.as_str().unwrap(),
                        "{id}.text"
                    );
                }
                other => panic!("{id}: expected key {other:?} is not asserted by this test"),
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 20, "every Daly fixture checked");
}

#[test]
fn board2_reply_matches_its_request() {
    let all = entries("daly");
    let find = |id: &str| all.iter().find(|e| e.id == id).unwrap();
    let req = daly::Frame::decode(&find("daly_board2_req").bytes).unwrap();
    let resp = daly::Frame::decode(&find("daly_board2_resp").bytes).unwrap();
    assert_eq!(req.address, daly::board_address(2).unwrap());
    assert_eq!(resp.address, daly::reply_address(req.address));
}

#[test]
fn real_16s_cell_frames_assemble_with_the_zero_cell_kept() {
    // Frames 1–4, 6, 7 are in the file; frame 5 is not, so assembly of 16 cells must wait.
    let mut a = daly::Assembler::<u16, 3>::new(daly::id::CELL_VOLTAGES, daly::MAX_CELL_FRAMES);
    for e in entries("daly")
        .iter()
        .filter(|e| e.id.starts_with("daly_95_frame"))
    {
        let f = daly::Frame::decode(&e.bytes).unwrap();
        a.insert(daly::CellFrame::decode(&f.data)).unwrap();
    }
    assert!(a.is_complete(12));
    assert!(!a.is_complete(16));
    assert_eq!(a.values(12).unwrap()[..3], [3325, 3326, 3326]);
}

#[test]
fn the_16s_jbd_snapshot_keeps_the_zero_cell() {
    let e = entries("jbd")
        .into_iter()
        .find(|e| e.id == "jbd_sp25_cells_16s")
        .unwrap();
    let cells =
        payload::decode_cell_voltages(Response::decode(&e.bytes).unwrap().ok_data().unwrap())
            .unwrap();
    let info = jbd::BasicInfo {
        cell_count: 16,
        ..Default::default()
    };
    let snap = jbd::snapshot(&info, Some(&cells), None, CapacityUnit::TenMilli);
    assert_eq!(snap.cell_voltages_mv.len(), 16);
    assert_eq!(snap.cell_voltages_mv[15], 0);
}

/// Damage every frame three ways; each must be refused, naming the reason.
#[test]
fn damaged_copies_are_rejected_with_the_reason() {
    for e in entries("jbd").into_iter().chain(entries("daly")) {
        let id = e.id.as_str();
        let parse = |bytes: &[u8]| -> Result<(), String> {
            if e.protocol == "jbd" {
                jbd::RawFrame::parse(bytes)
                    .map(|_| ())
                    .map_err(|err| match err {
                        FrameError::Checksum16 { .. } => "checksum".to_string(),
                        FrameError::LengthMismatch { .. } | FrameError::Truncated { .. } => {
                            "length".to_string()
                        }
                        other => other.to_string(),
                    })
            } else {
                daly::Frame::decode(bytes)
                    .map(|_| ())
                    .map_err(|err| match err {
                        daly::DecodeError::Frame(FrameError::Checksum8 { .. }) => {
                            "checksum".to_string()
                        }
                        daly::DecodeError::Frame(
                            FrameError::LengthMismatch { .. }
                            | FrameError::Truncated { .. }
                            | FrameError::DalyLength { .. },
                        ) => "length".to_string(),
                        other => other.to_string(),
                    })
            }
        };
        assert_eq!(parse(&e.bytes), Ok(()), "{id}");
        let n = e.bytes.len();
        // Wrong checksum: bump the (last) checksum byte.
        let mut bad = e.bytes.clone();
        let at = if e.protocol == "jbd" { n - 2 } else { n - 1 };
        bad[at] = bad[at].wrapping_add(1);
        assert_eq!(
            parse(&bad),
            Err("checksum".to_string()),
            "{id}: wrong checksum"
        );
        // Truncated: the last byte lost.
        assert_eq!(
            parse(&e.bytes[..n - 1]),
            Err("length".to_string()),
            "{id}: truncated"
        );
        // Wrong length byte.
        let mut len = e.bytes.clone();
        len[3] = len[3].wrapping_add(1);
        assert_eq!(
            parse(&len),
            Err("length".to_string()),
            "{id}: wrong length byte"
        );
    }
}

#[test]
fn decode_error_messages_are_precise() {
    let frame = parse_hex("DD 04 00 08 0F 45 0F 3E 0F 37 0F 3D FE C5 77").unwrap();
    let mut short = frame.clone();
    short.truncate(13);
    assert_eq!(
        jbd::describe(&short).unwrap_err().to_string(),
        "length byte says 8 data bytes but the frame carries 6"
    );
    let odd = jbd::encode_frame(0x04, 0x00, &[0x0F, 0x45, 0x0F]).unwrap();
    assert_eq!(
        jbd::describe(&odd).unwrap_err().to_string(),
        "register 0x04: cell voltages (2 bytes per cell) needs an even number of data bytes, got 3"
    );
    let mut daly_bad = parse_hex("A5 01 90 08 02 10 00 00 75 6F 03 BC F3").unwrap();
    daly_bad[12] = 0;
    assert_eq!(
        daly::describe(&daly_bad, CurrentSign::default())
            .unwrap_err()
            .to_string(),
        "checksum 0x00 but frame sums to 0xF3"
    );
}
