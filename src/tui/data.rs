//! What the screens show, and the messages between the console and the work done for it (the
//! store thread and the device side). Plain data: the screens read it, `update` writes it.

use crate::domain::{Cell, CellStatus, Pack, PackStatus};
pub use crate::trace::Lineage;
pub use packwright_matching::MatchedPack;
use packwright_protocol::BmsSnapshot;

/// Work for the store thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    LoadLine,
    LoadCells,
    Import {
        path: String,
        /// Cells of files without a chemistry column take this profile's chemistry.
        profile: String,
    },
    /// What a scanned or typed code is.
    Resolve(String),
    RunMatch {
        profile: String,
    },
    CommitPacks {
        profile: String,
        packs: Vec<MatchedPack>,
    },
    LoadPack(i64),
    /// The oldest pack in this state.
    NextPack(PackStatus),
    /// The next pack in this state after `after` (wrapping round).
    NextPackAfter {
        status: PackStatus,
        after: Option<i64>,
    },
    LoadPlacement(i64),
    Place {
        pack: i64,
        cell: String,
    },
    CompleteAssembly(i64),
    LoadHistory(String),
    SaveState {
        key: String,
        value: String,
    },
    SetOperator(String),
}

/// The store thread's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Line(LineData),
    Cells(Vec<Cell>),
    Imported {
        file: String,
        count: usize,
        /// Anything the operator should know, starting with "; " (or empty).
        note: String,
    },
    Matched(Proposal),
    Committed(Vec<i64>),
    Pack(Option<Pack>),
    Placement {
        pack: i64,
        placed: Vec<String>,
    },
    Placed {
        pack: i64,
        cell: String,
        /// The slot it went into, as printed on the fixture (`S3P1`).
        slot: String,
        /// Every slot is filled now.
        done: bool,
    },
    /// The scanned cell must not go in: the text says why, loudly.
    Refused {
        cell: String,
        why: String,
    },
    Assembled(Pack),
    Resolved {
        code: String,
        what: Resolved,
    },
    History(Box<Lineage>),
    /// An operation failed; the text says what and where.
    Failed(String),
    Saved,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Cell {
        cell: Cell,
        pack: Option<i64>,
    },
    Pack(Pack),
    /// The code of a module or pack the cells were harvested from.
    Source,
    Unknown,
}

// ---------------------------------------------------------------- Line

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineData {
    /// Packs not yet through the test, oldest first.
    pub in_progress: Vec<Pack>,
    /// Today's (local date) counts per stage: packs matched, assembled, configured, and
    /// passed or failed (their last verdict of the day), from [`crate::store::DayCounts`].
    pub today: Vec<(PackStatus, i64)>,
    pub cells: Vec<(CellStatus, i64)>,
    /// Latest warnings and problems, newest first: (time, level, message).
    pub problems: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct LineView {
    pub data: LineData,
    pub selected: usize,
}

// ---------------------------------------------------------------- Inventory

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Capacity,
    Ir,
    Ocv,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Id => SortKey::Capacity,
            SortKey::Capacity => SortKey::Ir,
            SortKey::Ir => SortKey::Ocv,
            SortKey::Ocv => SortKey::Id,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Capacity => "capacity (high first)",
            SortKey::Ir => "IR (low first)",
            SortKey::Ocv => "OCV",
        }
    }
}

#[derive(Debug, Clone)]
pub struct InventoryView {
    pub cells: Vec<Cell>,
    pub loaded: bool,
    pub filter: String,
    /// `None` shows every status.
    pub status: Option<CellStatus>,
    pub sort: SortKey,
    pub selected: usize,
}

impl Default for InventoryView {
    fn default() -> Self {
        InventoryView {
            cells: Vec::new(),
            loaded: false,
            filter: String::new(),
            status: Some(CellStatus::Available),
            sort: SortKey::Id,
            selected: 0,
        }
    }
}

impl InventoryView {
    /// The cells the table shows, filtered and sorted. Missing values sort last.
    pub fn visible(&self) -> Vec<&Cell> {
        let needle = self.filter.to_lowercase();
        let mut v: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| self.status.is_none_or(|s| c.status == s))
            .filter(|c| {
                needle.is_empty()
                    || [
                        Some(c.id.as_str()),
                        c.model.as_deref(),
                        c.source_code.as_deref(),
                    ]
                    .iter()
                    .flatten()
                    .any(|t| t.to_lowercase().contains(&needle))
            })
            .collect();
        let key = |c: &Cell| -> Option<f64> {
            match self.sort {
                SortKey::Id => None,
                SortKey::Capacity => c.capacity_mah.map(|x| -x),
                SortKey::Ir => c.ir_mohm,
                SortKey::Ocv => c.ocv_mv,
            }
        };
        if self.sort != SortKey::Id {
            v.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.id.cmp(&b.id)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.id.cmp(&b.id),
            });
        }
        v
    }
}

/// Equal-width bins over the values' range: `(low edge, high edge, count)`.
/// Fewer than two distinct values give one bin.
pub fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(lo), Some(hi)) = (
        vals.iter().copied().reduce(f64::min),
        vals.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    if bins == 0 {
        return Vec::new();
    }
    if hi <= lo {
        return vec![(lo, hi, vals.len())];
    }
    let width = (hi - lo) / bins as f64;
    let mut out: Vec<(f64, f64, usize)> = (0..bins)
        .map(|i| (lo + width * i as f64, lo + width * (i + 1) as f64, 0))
        .collect();
    for v in vals {
        // The top edge belongs to the last bin.
        let i = (((v - lo) / width) as usize).min(bins - 1);
        out[i].2 += 1;
    }
    out
}

// ---------------------------------------------------------------- Match

#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub profile: String,
    pub shape: String,
    pub cells_in: usize,
    pub eligible: usize,
    pub leftover: usize,
    /// `(reason, count)`, most frequent first.
    pub rejected: Vec<(String, usize)>,
    pub max_possible: usize,
    pub utilisation_pct: f64,
    pub packs: Vec<MatchedPack>,
}

#[derive(Debug, Clone, Default)]
pub struct MatchView {
    pub running: bool,
    pub proposal: Option<Proposal>,
    pub marked: Vec<bool>,
    pub selected: usize,
}

// ---------------------------------------------------------------- Assemble

/// A place in the pack: series group `s`, parallel slot `p` (0-based), and its cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub s: usize,
    pub p: usize,
    pub cell: String,
}

impl Slot {
    /// How the operator reads it: "S3 P1" (1-based, as printed on the fixture).
    pub fn name(&self) -> String {
        format!("S{} P{}", self.s + 1, self.p + 1)
    }
}

/// Slots in placement order: series group by group, parallel slots within a group.
pub fn slots(pack: &Pack) -> impl Iterator<Item = Slot> + '_ {
    pack.groups.iter().enumerate().flat_map(|(s, g)| {
        g.iter().enumerate().map(move |(p, cell)| Slot {
            s,
            p,
            cell: cell.clone(),
        })
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssembleOutcome {
    Placed { cell: String, slot: String },
    Refused { cell: String, why: String },
}

impl AssembleOutcome {
    pub fn text(&self) -> String {
        match self {
            AssembleOutcome::Placed { cell, slot } => format!("{cell} placed in {slot}"),
            AssembleOutcome::Refused { why, .. } => format!("DO NOT FIT IT. {why}"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AssembleView {
    /// Cells already placed, in placement order.
    pub placed: Vec<String>,
    pub last: Option<AssembleOutcome>,
    /// The code assigned when the last cell went in.
    pub code: Option<String>,
}

impl AssembleView {
    /// The slot to fill next; `None` once every slot is filled.
    pub fn next_slot(&self, pack: &Pack) -> Option<Slot> {
        slots(pack).find(|s| !self.placed.contains(&s.cell))
    }
}

// ---------------------------------------------------------------- BMS and test (device side)

/// Work for the device side.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceRequest {
    /// Poll the connected BMS for live readings while the BMS screen is shown.
    Watch(bool),
    ConnectNext,
    Disconnect,
    ToggleUnplug,
    WriteConfig {
        pack: i64,
    },
    StartTest {
        pack: i64,
    },
    /// The operator's answer to a manual test step.
    Answer(String),
    AbortTest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent {
    /// The ports and interfaces the console can connect to.
    Ports(Vec<String>),
    Link(Link),
    Snapshot(Box<BmsSnapshot>),
    WriteDone(WriteResult),
    Test(TestEvent),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Link {
    #[default]
    Idle,
    Connecting {
        port: String,
    },
    Connected {
        port: String,
        identity: String,
    },
    /// The link dropped; the device side keeps trying.
    Lost {
        port: String,
        reason: String,
    },
}

impl Link {
    pub fn describe(&self) -> String {
        match self {
            Link::Idle => "not connected".into(),
            Link::Connecting { port } => format!("connecting to {port}…"),
            Link::Connected { port, identity } => format!("connected to {identity} on {port}"),
            Link::Lost { port, reason } => {
                format!("link to {port} lost: {reason}; retrying, the console stays usable")
            }
        }
    }
}

/// One field of a configuration write.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldResult {
    pub field: String,
    pub written: String,
    pub read_back: String,
    pub ok: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WriteResult {
    pub ok: bool,
    pub summary: String,
    pub fields: Vec<FieldResult>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteView {
    pub running: bool,
    pub result: Option<WriteResult>,
}

#[derive(Debug, Clone, Default)]
pub struct BmsView {
    pub ports: Vec<String>,
    pub link: Link,
    pub snapshot: Option<Box<BmsSnapshot>>,
    pub write: Option<WriteView>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    Pending,
    Running,
    Waiting,
    Pass(String),
    Fail(String),
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestStep {
    pub title: String,
    pub manual: bool,
    pub state: StepState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestEvent {
    Plan(Vec<TestStep>),
    Step { index: usize, state: StepState },
    Prompt { index: usize, prompt: String },
    Finished { pass: bool, reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub pass: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct TestView {
    pub running: bool,
    /// The question the runner is waiting on: (step index, prompt).
    pub prompt: Option<(usize, String)>,
    pub steps: Vec<TestStep>,
    pub verdict: Option<Verdict>,
    pub scroll: usize,
}

// ---------------------------------------------------------------- History

#[derive(Debug, Clone, Default)]
pub struct HistoryView {
    /// What was looked up last: a pack, a source module or a cell, with its lineage.
    pub found: Option<Lineage>,
    pub scroll: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_value_once() {
        let v = [1.0, 2.0, 2.5, 3.0, 4.0, f64::NAN];
        let h = histogram(&v, 3);
        assert_eq!(h.len(), 3);
        assert_eq!(h.iter().map(|b| b.2).sum::<usize>(), 5);
        assert_eq!(h[0].0, 1.0);
        assert_eq!(h[2].1, 4.0);
        assert_eq!(h[2].2, 1 + 1); // 3.0 and the top edge 4.0
        assert_eq!(histogram(&[5.0, 5.0], 4), vec![(5.0, 5.0, 2)]);
        assert!(histogram(&[], 4).is_empty());
    }

    fn pack(groups: &[&[&str]]) -> Pack {
        Pack {
            id: 1,
            code: None,
            profile: "p".into(),
            status: PackStatus::Matched,
            groups: groups
                .iter()
                .map(|g| g.iter().map(|c| c.to_string()).collect())
                .collect(),
            created_at: String::new(),
        }
    }

    #[test]
    fn placement_order_is_group_by_group() {
        let p = pack(&[&["a", "b"], &["c", "d"]]);
        let mut v = AssembleView::default();
        assert_eq!(v.next_slot(&p).unwrap().name(), "S1 P1");
        v.placed = vec!["a".into(), "b".into()];
        let next = v.next_slot(&p).unwrap();
        assert_eq!((next.cell.as_str(), next.name()), ("c", "S2 P1".into()));
        v.placed.extend(["c".into(), "d".into()]);
        assert_eq!(v.next_slot(&p), None);
    }
}
