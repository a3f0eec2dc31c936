//! A headless console for tests: the real `update`, the real store services on an in-memory
//! database with the demo inventory, keys fed with explicit times, and rendering into
//! ratatui's `TestBackend`.

#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use packwright::intake::ParsedCells;
use packwright::store::prelude::*;
use packwright::store::{Actor, Store};
use packwright::tui::app::{update, App, Effect, Event, Resume, Session};
use packwright::tui::msg::{DeviceRequest, Reply};
use packwright::tui::records::Services;
use packwright::tui::theme::Theme;
use packwright::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::{Duration, Instant};

pub struct Harness {
    pub app: App,
    pub services: Services,
    /// Device requests the console made, in order (no bench in these tests).
    pub device: Vec<DeviceRequest>,
    pub now: Instant,
}

pub fn actor() -> Actor {
    Actor {
        station: "bench-1".into(),
        operator: "ann".into(),
    }
}

pub fn session() -> Session {
    Session {
        station: "bench-1".into(),
        operator: "ann".into(),
        profile: packwright::demo::PROFILE.into(),
        profiles: vec![
            "lfp-15s1p-100ah".into(),
            "lfp-16s1p-280ah".into(),
            "lfp-16s2p-105ah".into(),
        ],
        demo: false,
        scan_gap: Duration::from_millis(50),
    }
}

/// The test clock: every record of these tests is stamped from it, so no wall-clock date
/// reaches a snapshot (the Line screen shows the month a pack was matched).
pub fn test_clock() -> packwright::clock::Clock {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z").unwrap();
    packwright::clock::Clock::fixed(at.with_timezone(&chrono::Utc))
}

/// A store with the demo inventory (96 cells, seed 7).
pub fn demo_store() -> Store {
    let mut store = Store::in_memory().unwrap().with_clock(test_clock());
    let cells = packwright::demo::inventory(96, 7).unwrap();
    let parsed = ParsedCells {
        lines: (2..cells.len() + 2).collect(),
        cells,
        ignored_columns: Vec::new(),
    };
    store.import_cells(&actor(), "demo.csv", &parsed).unwrap();
    store
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(demo_store(), Resume::default())
    }

    pub fn with(store: Store, resume: Resume) -> Harness {
        // Its store has no registered operators: the services run under the opt-in.
        super::allow_in_process();
        let services = Services {
            db: store.path().to_path_buf(),
            store: Box::new(store),
            actor: actor(),
            printer: None,
        };
        let pack = resume.pack;
        let mut app = App::new(session(), resume, (80, 24));
        let fx = app.start(pack);
        let mut h = Harness {
            app,
            services,
            device: Vec::new(),
            now: Instant::now(),
        };
        h.run(fx);
        h
    }

    /// Carry out effects until none are left: store requests are answered at once.
    /// In order, as the event loop does.
    pub fn run(&mut self, fx: Vec<Effect>) {
        let mut fx: std::collections::VecDeque<Effect> = fx.into();
        while let Some(e) = fx.pop_front() {
            match e {
                Effect::Request(r) => {
                    let reply = self.services.handle(r);
                    fx.extend(update(&mut self.app, Event::Reply(Box::new(reply))));
                }
                Effect::Device(d) => self.device.push(d),
                Effect::Quit | Effect::ClearScreen => {}
            }
        }
    }

    pub fn event(&mut self, ev: Event) {
        let fx = update(&mut self.app, ev);
        self.run(fx);
    }

    pub fn reply(&mut self, r: Reply) {
        self.event(Event::Reply(Box::new(r)));
    }

    fn key_at(&mut self, key: KeyEvent, at: Instant) {
        self.event(Event::Key(key, at));
    }

    /// One key pressed by a person: then a pause long enough to release it.
    pub fn press(&mut self, code: KeyCode) {
        self.press_mod(code, KeyModifiers::NONE);
    }

    pub fn press_mod(&mut self, code: KeyCode, mods: KeyModifiers) {
        self.now += Duration::from_millis(300);
        self.key_at(KeyEvent::new(code, mods), self.now);
        self.now += Duration::from_millis(300);
        self.event(Event::ScanTimeout(self.now));
    }

    pub fn chars(&mut self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// A barcode scanner: the code 5 ms per character, then Enter.
    pub fn scan(&mut self, code: &str) {
        self.now += Duration::from_millis(500);
        for c in code.chars() {
            self.now += Duration::from_millis(5);
            self.key_at(
                KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                self.now,
            );
        }
        self.now += Duration::from_millis(5);
        self.key_at(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), self.now);
    }

    pub fn render(&self, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &self.app, theme)).unwrap();
        t
    }

    /// The screen as text, rows joined by newlines.
    pub fn screen(&self, w: u16, h: u16) -> String {
        let t = self.render(w, h, &Theme::plain());
        let buf = t.backend().buffer();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Commit `n` packs of the demo profile straight into the store, cells taken in id order:
    /// for screens whose snapshots must not change when the matcher improves.
    pub fn commit_fixed_packs(&mut self, n: usize) {
        let profile = packwright::profile::Profile::load(packwright::demo::PROFILE).unwrap();
        let ids: Vec<String> = self
            .services
            .store
            .list_cells(&packwright::store::CellFilter {
                status: Some(packwright::domain::CellStatus::Available),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        let per = profile.cells_per_pack();
        let packs: Vec<packwright::store::NewPack> = ids
            .chunks(per)
            .take(n)
            .map(|chunk| packwright::store::NewPack {
                groups: chunk.iter().map(|id| vec![id.clone()]).collect(),
                metrics_json: "{}".into(),
            })
            .collect();
        self.services
            .store
            .commit_packs(&actor(), &profile.name, &packs)
            .unwrap();
    }

    /// Match with the current profile, mark every proposed pack and commit them.
    pub fn match_and_commit_all(&mut self) {
        self.press(KeyCode::Char('3'));
        self.press(KeyCode::Char('r'));
        assert!(
            self.app
                .matching
                .proposal
                .as_ref()
                .is_some_and(|p| !p.packs.is_empty()),
            "no proposal: {:?}",
            self.app.message
        );
        self.press(KeyCode::Char('a'));
        self.press(KeyCode::Char('c'));
        self.press(KeyCode::Char('y'));
    }
}
