//! The demo line: a temporary database with a realistic graded inventory, so a new user can try
//! every screen without hardware. The simulated boards standing in for packs on the bench come
//! from [`crate::sim`]; the console wires them in (`packwright demo`).
//!
//! The inventory is generated deterministically from a real fixture: second-life 35 Ah LFP
//! prismatic cells retired from hybrid vehicles (`data/cells/pulsebat_lfp_35ah.csv`,
//! PulseBat). Each demo cell resamples one real cell's state of health, DC resistance and OCV,
//! so the spread and the capacity–IR correlation are those of real retired cells, scaled to
//! the 100 Ah format of the demo profile.

use crate::chemistry::Chemistry;
use crate::device::PortSpec;
use crate::domain::{Cell, CellStatus};
use crate::intake::ParsedCells;
use crate::sim::jbd::{JbdBoard, JbdConfig};
use crate::sim::jk_pb::{JkPbConfig, JkPbLine};
use crate::sim::pace::{PaceConfig, PaceLine};
use crate::sim::pty::{self as simpty, Board, Faults, SimOptions};
use crate::store::Actor;
use packwright_matching::rng::Rng;
use packwright_protocol::ProtocolKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The profile the demo line builds.
/// A 15S LFP telecom pack: its end-of-line plan needs no inverter CAN port, so the whole
/// test runs against a simulated board on a pseudo-terminal.
pub const PROFILE: &str = "lfp-15s1p-100ah";

/// The board family on the demo bench, and the profile of the same pack on that board.
pub fn profile_for(protocol: ProtocolKind) -> Result<&'static str, DemoError> {
    match protocol {
        ProtocolKind::Jbd => Ok(PROFILE),
        ProtocolKind::JkPb => Ok("lfp-15s1p-jk-100ah"),
        ProtocolKind::Pace => Ok("lfp-15s1p-pace-100ah"),
        other => Err(DemoError::Sim(format!(
            "the demo bench simulates jbd, jk-pb or pace-485 boards, not {other}"
        ))),
    }
}
/// The nominal capacity of the demo cells, mAh.
const NOMINAL_MAH: f64 = 100_000.0;
/// Mean 1 kHz AC resistance of a healthy 100 Ah prismatic LFP cell, mΩ.
const MEAN_IR_MOHM: f64 = 0.45;
/// Mean state of health of the demo cells, and their spread relative to the fixture's.
const SOH_MEAN: f64 = 0.845;
const SOH_SPREAD: f64 = 0.6;
const FIXTURE: &str = crate::data::DEMO_INVENTORY;

/// One real cell of the fixture: state of health, DC resistance (mΩ) and OCV (mV).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    soh: f64,
    ir_mohm: f64,
    ocv_mv: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo fixture line {line}: {reason}")]
    Fixture { line: usize, reason: String },
    #[error("cannot create the demo folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot register the demo operator: {0}")]
    Operator(#[from] crate::services::ServiceError),
    #[error("cannot start the simulated boards: {0}")]
    Sim(String),
}

fn samples() -> Result<Vec<Sample>, DemoError> {
    let mut lines = FIXTURE.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').collect())
        .unwrap_or_default();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| DemoError::Fixture {
                line: 1,
                reason: format!("no column '{name}'"),
            })
    };
    let (soh, ir, ocv) = (col("soh")?, col("ir_mohm")?, col("ocv_v")?);
    let mut out = Vec::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let num = |c: usize| -> Result<f64, DemoError> {
            fields
                .get(c)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| DemoError::Fixture {
                    line: i + 1,
                    reason: format!("column {} is not a number", header[c]),
                })
        };
        out.push(Sample {
            soh: num(soh)?,
            ir_mohm: num(ir)?,
            ocv_mv: num(ocv)? * 1000.0,
        });
    }
    if out.is_empty() {
        return Err(DemoError::Fixture {
            line: 1,
            reason: "no cells".into(),
        });
    }
    Ok(out)
}

/// Why inspection at intake took some cells out of stock, as a plant would record it.
const INSPECTION_REJECTS: &[&str] = &[
    "swollen case at intake inspection",
    "corroded terminal, thread damaged",
    "vent membrane broken",
];

/// A graded inventory of `count` cells from `count / 16` source modules. Same seed, same
/// inventory.
pub fn inventory(count: usize, seed: u64) -> Result<Vec<Cell>, DemoError> {
    let real = samples()?;
    let mean_ir = real.iter().map(|s| s.ir_mohm).sum::<f64>() / real.len() as f64;
    let mean_soh = real.iter().map(|s| s.soh).sum::<f64>() / real.len() as f64;
    let mut rng = Rng::new(seed);
    let mut cells = Vec::with_capacity(count);
    for i in 0..count {
        let s = real[rng.below(real.len())];
        // Stationary-storage cells age more gently than these hybrid-vehicle ones: keep the
        // shape of the real SOH spread at 60 % of its width, around a higher mean. Small
        // measurement noise keeps resampled cells from being exact twins.
        let soh = (SOH_MEAN + (s.soh - mean_soh) * SOH_SPREAD) * (1.0 + 0.004 * rng.normal());
        let capacity = (NOMINAL_MAH * soh).round();
        let mut ir = s.ir_mohm / mean_ir * MEAN_IR_MOHM * (1.0 + 0.02 * rng.normal());
        // About one cell in thirty has a degraded joint or electrolyte: high resistance.
        if rng.below(30) == 0 {
            ir *= 2.4;
        }
        let ocv = (s.ocv_mv + 3.0 * rng.normal()).round();
        let mut self_discharge = 0.4 + 1.2 * rng.unit();
        if rng.below(25) == 0 {
            self_discharge = 3.5 + rng.unit();
        }
        let grade = if soh >= 0.85 {
            "A"
        } else if soh >= 0.8 {
            "B"
        } else {
            "C"
        };
        cells.push(Cell {
            id: format!("C100-{:04}", i + 1),
            chemistry: Chemistry::Lfp,
            model: Some("LF100 prismatic".into()),
            capacity_mah: Some(capacity),
            ir_mohm: Some((ir * 1000.0).round() / 1000.0),
            ocv_mv: Some(ocv),
            self_discharge_mv_per_day: Some((self_discharge * 100.0).round() / 100.0),
            grade: Some(grade.into()),
            source_code: Some(format!("ESS-M{:02}", i / 16 + 1)),
            status: CellStatus::Available,
            status_reason: None,
        });
    }
    // A few cells failed the visual inspection at intake.
    for (k, reason) in INSPECTION_REJECTS.iter().enumerate() {
        if let Some(c) = cells.get_mut(7 + k * 23) {
            c.status = CellStatus::Rejected;
            c.status_reason = Some((*reason).to_string());
        }
    }
    Ok(cells)
}

/// Where the demo line keeps its files.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub log: PathBuf,
}

/// The operator the demo registers on its database and logs in automatically (role
/// operator: the normal flow from match to label).
pub const OPERATOR: &str = "demo";
/// The demo operator's badge.
pub const OPERATOR_BADGE: &str = "DEMO-1";
/// The demo operator's PIN, said on screen: it unlocks the demo console after idling.
pub const OPERATOR_PIN: &str = "0000";

/// Create a fresh folder under the system temp dir with a database holding the inventory,
/// its demo operator ([`OPERATOR`]) registered and the inventory imported under that operator.
/// `actor.operator` is not used: every record of the demo names the demo operator.
pub fn create(actor: &Actor, cells: usize, seed: u64) -> Result<DemoFiles, DemoError> {
    // Short, because the operator reads the board's port path on the BMS screen.
    let base = std::env::temp_dir();
    let mut dir = base.join(format!("pw-demo-{}", std::process::id()));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("pw-demo-{}-{n}", std::process::id()));
    }
    std::fs::create_dir_all(&dir).map_err(|source| DemoError::Folder {
        path: dir.clone(),
        source,
    })?;
    let files = DemoFiles {
        db: dir.join("demo.db"),
        log: dir.join("console.log"),
        dir,
    };
    let demo = Actor {
        station: actor.station.clone(),
        operator: OPERATOR.to_string(),
    };
    let mut store = crate::store::Store::open(&files.db)?;
    crate::services::operators::register_demo(
        &mut store,
        &demo.station,
        &crate::services::operators::Registration {
            id: OPERATOR,
            name: "Demo operator",
            role: crate::operators::Role::Operator,
            badge: OPERATOR_BADGE,
            pin: OPERATOR_PIN,
        },
    )?;
    drop(store);
    fill(&files.db, &demo, cells, seed)?;
    Ok(files)
}

/// Put the demo inventory into the database at `db` (a SQLite file or a line database URL).
pub fn fill(db: &Path, actor: &Actor, cells: usize, seed: u64) -> Result<(), DemoError> {
    let cells = inventory(cells, seed)?;
    let parsed = ParsedCells {
        lines: (2..cells.len() + 2).collect(),
        cells,
        ignored_columns: Vec::new(),
    };
    let mut store = crate::store::open(db)?;
    store.import_cells(actor, "demo grading cabinet export", &parsed)?;
    store.log_event(
        actor,
        "info",
        &format!(
            "demo line: {} graded cells imported for {PROFILE}",
            parsed.cells.len()
        ),
    )?;
    Ok(())
}

/// A board shared between the simulator task and the demo, so pulling the cable (ending the
/// task) and plugging it back (a new task) keep the board's configuration, as on a real bench.
struct Shared<B>(Arc<Mutex<B>>);

impl<B> Shared<B> {
    fn board(&self) -> std::sync::MutexGuard<'_, B> {
        // A panic inside the simulator poisons the lock; the board itself is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<B: Board> Board for Shared<B> {
    type Framer = B::Framer;

    fn request_framer(&self) -> Self::Framer {
        self.board().request_framer()
    }

    fn handle(&mut self, request: &[u8], rng: &mut simpty::Rng) -> Vec<Vec<u8>> {
        self.board().handle(request, rng)
    }

    fn checksum_range(len: usize) -> std::ops::Range<usize> {
        B::checksum_range(len)
    }
}

/// The simulated board of one bench slot, of the demo's family.
#[derive(Clone)]
enum SlotBoard {
    Jbd(Arc<Mutex<JbdBoard>>),
    JkPb(Arc<Mutex<JkPbLine>>),
    Pace(Arc<Mutex<PaceLine>>),
}

struct BenchSlot {
    link: PathBuf,
    board: SlotBoard,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Simulated JBD boards standing in for the packs on the bench, each on a pseudo-terminal
/// reached through a stable symlink in the demo folder (`bench-1`, `bench-2`, …).
pub struct DemoBoards {
    runtime: tokio::runtime::Runtime,
    slots: Vec<BenchSlot>,
    protocol: ProtocolKind,
}

impl DemoBoards {
    /// Start `count` boards of `protocol` (jbd, jk-pb or pace-485) configured for the demo
    /// profile's cell count.
    pub fn start(
        dir: &Path,
        count: u8,
        seed: u64,
        protocol: ProtocolKind,
    ) -> Result<DemoBoards, DemoError> {
        let profile = crate::profile::Profile::load(profile_for(protocol)?)
            .map_err(|e| DemoError::Sim(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("demo-boards")
            .enable_all()
            .build()
            .map_err(|e| DemoError::Sim(e.to_string()))?;
        let mut rng = simpty::Rng::new(seed);
        let mut slots = Vec::new();
        let cells = profile.series as usize;
        let capacity_ah = profile.nominal_capacity_mah / 1000.0;
        let sensors = usize::from(profile.bms.ntc_count);
        for i in 1..=count {
            let faults = Faults::default();
            let board = match protocol {
                ProtocolKind::JkPb => {
                    let mut cfg = JkPbConfig::new(cells, profile.chemistry);
                    cfg.capacity_ah = capacity_ah;
                    cfg.sensors = sensors;
                    cfg.model = format!("JK_PB2A{cells}S-DEMO{i}");
                    SlotBoard::JkPb(Arc::new(Mutex::new(
                        JkPbLine::new(cfg, &faults, &mut rng).map_err(DemoError::Sim)?,
                    )))
                }
                ProtocolKind::Pace => {
                    let mut cfg = PaceConfig::new(cells, profile.chemistry);
                    cfg.capacity_ah = capacity_ah;
                    cfg.sensors = sensors;
                    cfg.model = format!("PACE-DEMO{i}");
                    SlotBoard::Pace(Arc::new(Mutex::new(
                        PaceLine::new(cfg, &faults, &mut rng).map_err(DemoError::Sim)?,
                    )))
                }
                _ => {
                    let mut cfg = JbdConfig::new(cells, profile.chemistry);
                    cfg.capacity_ah = capacity_ah;
                    cfg.ntc = sensors;
                    cfg.model = format!("JBD-SP{:02}S-DEMO{i}", profile.series);
                    SlotBoard::Jbd(Arc::new(Mutex::new(
                        JbdBoard::new(cfg, &faults, &mut rng).map_err(DemoError::Sim)?,
                    )))
                }
            };
            slots.push(BenchSlot {
                link: dir.join(format!("bench-{i}")),
                board,
                task: Mutex::new(None),
            });
        }
        let boards = DemoBoards {
            runtime,
            slots,
            protocol,
        };
        for (i, slot) in boards.slots.iter().enumerate() {
            boards.plug(slot, seed.wrapping_add(i as u64));
        }
        // The links appear as soon as each simulator has its pty.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while boards.slots.iter().any(|s| !s.link.exists()) {
            if std::time::Instant::now() > until {
                return Err(DemoError::Sim(
                    "the simulated boards did not get a pseudo-terminal within 5 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(boards)
    }

    fn plug(&self, slot: &BenchSlot, seed: u64) {
        let opts = SimOptions {
            baud: self.protocol.default_baud(),
            turnaround: Duration::from_millis(10),
            link: Some(slot.link.clone()),
            faults: Faults::default(),
            seed,
        };
        async fn serve<B: Board>(board: Shared<B>, opts: SimOptions) {
            if let Err(e) = simpty::serve(board, opts, |path| {
                tracing::info!(%path, "demo board on a new pty");
            })
            .await
            {
                tracing::error!("demo board stopped: {e}");
            }
        }
        let task = match slot.board.clone() {
            SlotBoard::Jbd(b) => self.runtime.spawn(serve(Shared(b), opts)),
            SlotBoard::JkPb(b) => self.runtime.spawn(serve(Shared(b), opts)),
            SlotBoard::Pace(b) => self.runtime.spawn(serve(Shared(b), opts)),
        };
        *slot.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// The ports to offer the console.
    pub fn ports(&self) -> Vec<PortSpec> {
        self.slots
            .iter()
            .map(|s| PortSpec::new(&s.link.display().to_string(), self.protocol))
            .collect()
    }
}

impl Drop for DemoBoards {
    fn drop(&mut self) {
        // The boards go with the demo: no dangling links to ptys that no longer exist.
        for slot in &self.slots {
            let _ = std::fs::remove_file(&slot.link);
        }
    }
}

/// What the demo line lets the operator do to its simulated boards.
pub trait DemoBench: Send + Sync {
    /// Pull the board's cable if it is plugged in, plug it back if not. Returns true when
    /// the board is now unplugged.
    fn toggle_unplug(&self, port: &str) -> Result<bool, String>;
}

impl DemoBench for DemoBoards {
    fn toggle_unplug(&self, port: &str) -> Result<bool, String> {
        let slot = self
            .slots
            .iter()
            .find(|s| s.link.display().to_string() == port)
            .ok_or_else(|| format!("{port} is not a simulated board of the demo line"))?;
        let mut task = slot.task.lock().unwrap_or_else(|e| e.into_inner());
        match task.take() {
            Some(t) if !t.is_finished() => {
                // Pulling the cable: the pty disappears with the task, and so does the link.
                t.abort();
                let _ = std::fs::remove_file(&slot.link);
                Ok(true)
            }
            _ => {
                drop(task);
                self.plug(slot, 1);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_is_deterministic_and_realistic() {
        let a = inventory(80, 7).unwrap();
        assert_eq!(a, inventory(80, 7).unwrap());
        assert_ne!(a, inventory(80, 8).unwrap());
        assert_eq!(a.len(), 80);
        let caps: Vec<f64> = a.iter().filter_map(|c| c.capacity_mah).collect();
        let mean = caps.iter().sum::<f64>() / caps.len() as f64;
        // SOH 0.845 of 100 Ah cells.
        assert!((82_000.0..87_000.0).contains(&mean), "{mean}");
        assert!(a.iter().all(|c| c.source_code.is_some()));
        assert_eq!(
            a.iter()
                .filter(|c| c.status == CellStatus::Rejected)
                .count(),
            3
        );
        // Some cells fall below the 80 Ah floor, as in a real second-life batch.
        assert!(caps.iter().any(|c| *c < 80_000.0));
    }

    #[test]
    fn the_demo_inventory_makes_several_packs() {
        let cells: Vec<Cell> = inventory(96, 7)
            .unwrap()
            .into_iter()
            .filter(|c| c.status == CellStatus::Available)
            .collect();
        let profile = crate::profile::Profile::load(PROFILE).unwrap();
        let out = crate::matching::propose(&profile, &cells).unwrap();
        assert!(out.packs.len() >= 3, "{:?}", out.summary);
    }
}
