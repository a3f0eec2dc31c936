//! What each screen draws, as insta snapshots: at 80×24 and at 160×48 as text, and at 80×24
//! with styles (16 colours and NO_COLOR), plus ASCII, the help overlay and a too-small terminal.
//! Times, dates and date-bearing pack codes are redacted.

use crate::support::tui::Harness;
use crossterm::event::KeyCode;
use packwright::tui::app::Event;
use packwright::tui::msg::*;
use packwright::tui::theme::{ColorMode, Theme};
use packwright_protocol::BmsSnapshot;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Times and dates change run to run; pack codes carry the production date. Replacements
/// keep the width so the layout in the snapshot stays what the operator sees.
fn redact(text: impl std::fmt::Display) -> String {
    let text = text.to_string();
    let rules = [
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z",
            "YYYY-MM-DDThh:mm:ss.mmmZ",
        ),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}",
            "YYYY-MM-DDThh:mm:ss",
        ),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", "YYYY-MM-DDThh:mm"),
        (r"\b\d{4}-\d{2}-\d{2}\b", "YYYY-MM-DD"),
        (r"\b\d{2}:\d{2}:\d{2}\b", "hh:mm:ss"),
    ];
    rules.iter().fold(text, |t, (re, with)| {
        regex::Regex::new(re)
            .unwrap()
            .replace_all(&t, *with)
            .into_owned()
    })
}

const COLOR: Theme = Theme {
    color: ColorMode::Ansi16,
    ascii: false,
};

/// Text at both sizes and styles at 80×24, for one screen state.
fn check(name: &str, h: &Harness) {
    settings().bind(|| {
        insta::assert_snapshot!(format!("{name}_80x24"), redact(h.screen(80, 24)));
        insta::assert_snapshot!(format!("{name}_160x48"), redact(h.screen(160, 48)));
        let colour = h.render(80, 24, &COLOR);
        let colour = format!("{:?}", colour.backend().buffer());
        insta::assert_snapshot!(format!("{name}_80x24_colour"), redact(colour));
        let mono = h.render(80, 24, &Theme::plain());
        let mono = format!("{:?}", mono.backend().buffer());
        insta::assert_snapshot!(format!("{name}_80x24_no_color"), redact(mono));
    });
}

fn snapshot_16s() -> BmsSnapshot {
    let cells = [
        3302, 3305, 3298, 3301, 3310, 3304, 3299, 3303, 3287, 3306, 3302, 3300, 3305, 3301, 3298,
        3304,
    ];
    BmsSnapshot {
        pack_voltage_v: cells.iter().map(|&c| f64::from(c)).sum::<f64>() / 1000.0,
        current_a: -2.4,
        remaining_ah: Some(120.0),
        nominal_ah: Some(280.0),
        cycles: Some(3),
        soc_pct: Some(43.0),
        cell_count: 16,
        cell_voltages_mv: cells.to_vec(),
        temperatures_c: vec![24.1, 24.3, 23.9, 24.2],
        protection: vec![],
        charge_fet: Some(true),
        discharge_fet: Some(true),
        balancing_cells: vec![5],
        manufacture_date: Some("2026-11-01".into()),
        model: Some("SP04S034".into()),
        firmware_version: Some("0x20".into()),
    }
}

/// A harness with one pack matched, assembled and on the bench.
fn assembled() -> Harness {
    let mut h = Harness::new();
    h.commit_fixed_packs(4);
    h.press(KeyCode::Char('4'));
    let pack = h.app.pack.clone().unwrap();
    for id in pack.groups.iter().flatten() {
        h.scan(id);
    }
    h
}

#[test]
fn line_screen() {
    let mut h = Harness::new();
    h.commit_fixed_packs(4);
    h.press(KeyCode::Char('1'));
    check("line", &h);
}

#[test]
fn inventory_screen() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('2'));
    h.press(KeyCode::Char('o'));
    check("inventory", &h);
}

#[test]
fn match_screen() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('3'));
    // A fixed proposal: the matcher's own results are tested in its crate.
    h.reply(Reply::Matched(fixed_proposal()));
    h.press(KeyCode::Char(' '));
    h.press(KeyCode::Down);
    check("match", &h);
}

fn fixed_proposal() -> Proposal {
    let pack = |index: usize, first: usize, range: f64, bound: f64| {
        let groups: Vec<Vec<String>> = (0..15)
            .map(|s| vec![format!("C100-{:04}", first + s)])
            .collect();
        let caps: Vec<f64> = (0..15)
            .map(|s| 84_000.0 + range * s as f64 / 14.0)
            .collect();
        let mean = caps.iter().sum::<f64>() / 15.0;
        MatchedPack {
            index,
            models: vec!["LF100 prismatic".into()],
            groups,
            metrics: packwright_matching::PackMetrics {
                group_capacities_mah: caps.clone(),
                usable_capacity_mah: caps[0],
                mean_group_capacity_mah: mean,
                range_mah: range,
                range_pct: range / mean * 100.0,
                lower_bound_range_mah: bound,
                lower_bound_kind: packwright_matching::BoundKind::SingleCell,
                gap_to_bound_mah: range - bound,
                at_lower_bound: range == bound,
                balance_slack_mah: 84.0,
                at_bound_within_slack: range <= bound + 84.0,
                bound_note: None,
                optimal: range == bound,
                group_ir_spread_mohm: vec![None; 15],
                group_ir_cv_pct: vec![None; 15],
                group_parallel_ir_mohm: vec![Some(0.45); 15],
                pack_ir_cv_pct: Some(6.5),
                group_ocv_spread_mv: vec![None; 15],
                ocv_spread_mv: Some(9.0),
                max_inrush_a: None,
                self_discharge_spread_mv_per_day: Some(1.1),
            },
        }
    };
    Proposal {
        profile: "lfp-15s1p-100ah".into(),
        shape: "15S1P".into(),
        cells_in: 93,
        eligible: 77,
        leftover: 17,
        rejected: vec![
            ("below the capacity floor".into(), 8),
            ("above the IR ceiling".into(), 5),
            ("above the self-discharge ceiling".into(), 3),
        ],
        max_possible: 5,
        max_exact: false,
        utilisation_pct: 99.1,
        // The selected pack's health as the store thread computes it from its cells.
        health: vec![
            None,
            Some(packwright::pack_health::PackHealth {
                group_capacity_mah: vec![84_000.0; 15],
                capacity_mah: 84_000.0,
                soh_pct: 84.0,
                resistance_mohm: Some(6.75),
                drift: Some(packwright::pack_health::Drift {
                    self_discharge_spread_ma: 40.0,
                    balance_effective_ma: 2.5,
                    tolerated_imbalance_pct: 5.0,
                    days_to_imbalance: Some(4.67),
                }),
            }),
            None,
            None,
        ],
        packs: vec![
            pack(1, 1, 1520.0, 1520.0),
            pack(2, 16, 1870.0, 1810.0),
            pack(3, 31, 2210.0, 2210.0),
            pack(4, 46, 2480.0, 2295.0),
        ],
    }
}

#[test]
fn assemble_screen_with_a_refused_cell() {
    let mut h = Harness::new();
    h.commit_fixed_packs(4);
    h.press(KeyCode::Char('4'));
    let pack = h.app.pack.clone().unwrap();
    let order: Vec<String> = pack.groups.iter().flatten().cloned().collect();
    for id in &order[..5] {
        h.scan(id);
    }
    h.scan(&order[9]);
    check("assemble", &h);
}

#[test]
fn assemble_screen_finished_with_its_label() {
    let h = assembled();
    settings().bind(|| insta::assert_snapshot!("assemble_done_80x24", redact(h.screen(80, 24))));
}

#[test]
fn bms_screen_live_with_a_verified_write() {
    let mut h = assembled();
    h.press(KeyCode::Char('5'));
    h.event(Event::Device(DeviceEvent::Ports(vec![
        "/dev/pts/4 (jbd)".into(),
        "/dev/pts/6 (jbd)".into(),
    ])));
    h.event(Event::Device(DeviceEvent::Link(Link::Connected {
        port: "/dev/pts/4".into(),
        identity: "jbd SP04S034 fw 0x20".into(),
    })));
    h.event(Event::Device(DeviceEvent::Snapshot(Box::new(
        snapshot_16s(),
    ))));
    let fields = [
        ("cell_ov_trigger_mv", "3650", "3650", true),
        ("cell_ov_release_mv", "3450", "3450", true),
        ("cell_uv_trigger_mv", "2700", "2700", true),
        ("balance_start_mv", "3400", "3400", true),
        ("design_capacity_mah", "280000", "280000", true),
    ];
    h.event(Event::Device(DeviceEvent::WriteDone(WriteResult {
        ok: true,
        summary: "configuration verified: 5 of 5 fields read back equal".into(),
        fields: fields
            .iter()
            .map(|(f, w, r, ok)| FieldResult {
                field: f.to_string(),
                written: w.to_string(),
                read_back: r.to_string(),
                ok: *ok,
                reason: None,
            })
            .collect(),
    })));
    check("bms", &h);
}

#[test]
fn bms_screen_unplugged() {
    let mut h = assembled();
    h.press(KeyCode::Char('5'));
    h.event(Event::Device(DeviceEvent::Snapshot(Box::new(
        snapshot_16s(),
    ))));
    h.event(Event::Device(DeviceEvent::Link(Link::Lost {
        port: "/dev/pts/4".into(),
        reason: "adapter disconnected: Input/output error (os error 5)".into(),
    })));
    settings().bind(|| insta::assert_snapshot!("bms_unplugged_80x24", redact(h.screen(80, 24))));
}

#[test]
fn test_screen_with_a_failed_verdict() {
    let mut h = assembled();
    h.press(KeyCode::Char('6'));
    let step = |title: &str, manual: bool| TestStep {
        title: title.into(),
        manual,
        state: StepState::Pending,
    };
    h.event(Event::Device(DeviceEvent::Test(TestEvent::Plan(vec![
        step("BMS communication and identity", false),
        step("Cell count equals the series count", false),
        step("Cell voltage spread under the limit", false),
        step("Insulation resistance, HV+ and HV- to chassis", true),
        step("Visual and torque inspection", true),
    ]))));
    let states = [
        StepState::Pass("bms_responds true".into()),
        StepState::Pass("cell_count 16".into()),
        StepState::Fail("cell_voltage_spread_mv 41 above 30 (cell 9 low)".into()),
        StepState::Pass("insulation_resistance_megaohm 550".into()),
        StepState::Pass("visual_ok yes".into()),
    ];
    for (index, state) in states.into_iter().enumerate() {
        h.event(Event::Device(DeviceEvent::Test(TestEvent::Step {
            index,
            state,
        })));
    }
    h.event(Event::Device(DeviceEvent::Test(TestEvent::Finished {
        pass: false,
        reason: "cell_spread: cell_voltage_spread_mv 41 mV above 30 mV".into(),
    })));
    check("test_fail", &h);
}

#[test]
fn test_screen_waiting_for_a_manual_measurement() {
    let mut h = assembled();
    h.press(KeyCode::Char('6'));
    h.event(Event::Device(DeviceEvent::Test(TestEvent::Plan(vec![
        TestStep {
            title: "Insulation resistance, HV+ and HV- to chassis".into(),
            manual: true,
            state: StepState::Waiting,
        },
    ]))));
    h.event(Event::Device(DeviceEvent::Test(TestEvent::Prompt {
        index: 0,
        prompt: "Insulation resistance at 500 V DC, megaohms".into(),
    })));
    h.chars("55");
    settings().bind(|| insta::assert_snapshot!("test_prompt_80x24", redact(h.screen(80, 24))));
}

#[test]
fn history_screen_of_a_pack() {
    let mut h = assembled();
    let code = h.app.pack.as_ref().unwrap().code.clone().unwrap();
    h.press(KeyCode::Esc);
    h.press(KeyCode::Char('7'));
    h.scan(&code);
    // An assembled pack's scan goes to the BMS screen; History shows it on f.
    h.press(KeyCode::Char('7'));
    h.press(KeyCode::Char('f'));
    for c in code.chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    check("history_pack", &h);
}

#[test]
fn history_screen_of_a_source_module() {
    let mut h = Harness::new();
    h.commit_fixed_packs(2);
    h.scan("ESS-M01");
    settings().bind(|| insta::assert_snapshot!("history_source_80x24", redact(h.screen(80, 24))));
}

#[test]
fn history_screen_of_a_cell() {
    let mut h = Harness::new();
    h.scan("C100-0031");
    settings().bind(|| insta::assert_snapshot!("history_cell_80x24", redact(h.screen(80, 24))));
}

#[test]
fn help_overlay_ascii_and_too_small() {
    let mut h = Harness::new();
    h.press(KeyCode::Char('?'));
    settings().bind(|| {
        insta::assert_snapshot!("help_line_80x24", redact(h.screen(80, 24)));
        let ascii = Theme {
            color: ColorMode::None,
            ascii: true,
        };
        h.press(KeyCode::Esc);
        let t = h.render(80, 24, &ascii);
        let text = format!("{}", t.backend());
        assert!(text.is_ascii(), "--ascii drew non-ASCII:\n{text}");
        insta::assert_snapshot!("line_ascii_80x24", redact(text));
        insta::assert_snapshot!("too_small_79x24", redact(h.screen(79, 24)));
        insta::assert_snapshot!("too_small_40x10", redact(h.screen(40, 10)));
    });
    // Degenerate sizes must not panic.
    for (w, hh) in [(0, 0), (1, 1), (80, 1), (1, 24)] {
        h.render(w, hh, &Theme::plain());
    }
}

#[test]
fn no_color_draws_no_colour_and_ascii_no_unicode_anywhere() {
    let mut h = assembled();
    h.press(KeyCode::Char('5'));
    h.event(Event::Device(DeviceEvent::Snapshot(Box::new(
        snapshot_16s(),
    ))));
    for screen in ['1', '2', '3', '4', '5', '6', '7'] {
        h.press(KeyCode::Esc);
        h.press(KeyCode::Char(screen));
        let t = h.render(80, 24, &Theme::plain());
        for cell in t.backend().buffer().content() {
            assert_eq!(cell.fg, ratatui::style::Color::Reset, "screen {screen}");
            assert_eq!(cell.bg, ratatui::style::Color::Reset, "screen {screen}");
        }
        // And --ascii draws nothing but ASCII, units included.
        let ascii = Theme {
            color: ColorMode::Ansi16,
            ascii: true,
        };
        let t = h.render(80, 24, &ascii);
        let text = format!("{}", t.backend());
        assert!(text.is_ascii(), "screen {screen} in --ascii:\n{text}");
    }
}
