//! The messages between the event loop and the work done for it: requests to the store thread
//! and its replies, requests to the device side and its reports, and the data they carry.
//! Plain data, so both sides and the tests can build them.

use crate::domain::{Cell, CellStatus, Pack, PackStatus};
pub use crate::trace::Lineage;
pub use packwright_matching::MatchedPack;
use packwright_protocol::BmsSnapshot;

// ---------------------------------------------------------------- The store thread

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
    /// Print (or reprint) the label of a built pack on the console's printer.
    PrintLabel(i64),
    /// Scan-back: what the scanner read from the label on the pack.
    VerifyLabel {
        pack: i64,
        scan: String,
    },
    LoadHistory(String),
    SaveState {
        key: String,
        value: String,
    },
    SetOperator(String),
    /// Check a badge's PIN (`services::authority`) and make it this console's operator.
    Login {
        badge: String,
        pin: crate::tui::login::Pin,
    },
    /// A state verb the operator confirmed (reject, rework, ...), for `services`; with the
    /// PIN given again when the verb is a signed decision on a database with operators.
    State(StateVerb, Option<crate::tui::login::Pin>),
}

/// A cell or pack state change, as the console asks for it; the store thread hands it to
/// `services::{cells, packs}`, the functions the CLI calls. Packs are named as typed or
/// scanned (a code or `#number`).
#[derive(Debug, Clone, PartialEq)]
pub enum StateVerb {
    Reject {
        cell: String,
        /// Scrapped rather than rejected.
        scrap: bool,
        reason: String,
    },
    Unreject {
        cell: String,
        reason: String,
    },
    Source {
        cells: Vec<String>,
        code: String,
    },
    Release {
        pack: String,
        reason: String,
    },
    ScrapPack {
        pack: String,
        reason: String,
        to_stock: bool,
    },
    Rework {
        pack: String,
        /// `None`: fill a matched pack's open slot.
        out: Option<String>,
        into: String,
        reason: String,
    },
}

impl StateVerb {
    /// The class of action the line's rules (`services::authority::RULES`) know it as.
    pub fn action(&self) -> crate::services::authority::Action {
        use crate::services::authority::Action;
        match self {
            StateVerb::Reject { scrap: false, .. } => Action::RejectCell,
            StateVerb::Reject { scrap: true, .. } | StateVerb::ScrapPack { .. } => Action::Scrap,
            StateVerb::Unreject { .. } => Action::Unreject,
            StateVerb::Source { .. } => Action::Intake,
            StateVerb::Release { .. } | StateVerb::Rework { .. } => Action::ReworkRelease,
        }
    }
}

/// The store thread's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The PIN was right: the console is this operator's now.
    LoggedIn {
        operator: String,
    },
    /// Wrong PIN, unknown or blocked badge: why.
    LoginRefused(String),
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
    /// A label print ended: printed, or why not (said in plain words).
    LabelPrinted {
        pack: i64,
        ok: bool,
        text: String,
    },
    /// A scan-back ended: the pack's code, or the loud refusal (recorded either way).
    LabelScanned {
        pack: i64,
        matched: bool,
        text: String,
    },
    Resolved {
        code: String,
        what: Resolved,
    },
    History(Box<Lineage>),
    /// A state verb was done: what happened, in words (a warning when a pack went on hold),
    /// and the pack it changed, as it is now.
    StateChanged {
        text: String,
        warning: bool,
        pack: Option<Pack>,
    },
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

/// What the Line screen shows, as the store thread loads it.
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
    /// On the line database: this station's outbox (records waiting to be forwarded).
    pub backlog: Option<BacklogView>,
}

/// This station's store-and-forward backlog, as the Line screen shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BacklogView {
    pub queued: i64,
    /// Seconds since the oldest queued record was written.
    pub oldest_age_s: Option<i64>,
    /// Since when the line database has not been reached (RFC 3339), if it has not.
    pub unreachable_since: Option<String>,
    /// Records the line database refused (kept in the outbox with the reason).
    pub refused: i64,
}

/// The matcher's answer, as the Match screen shows it.
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
    /// The maximum is exact (else it is an upper bound: "at most").
    pub max_exact: bool,
    pub utilisation_pct: f64,
    pub packs: Vec<MatchedPack>,
    /// Each proposed pack's health from its cells (`pack_health`), in the order of `packs`;
    /// `None` where it cannot be computed.
    pub health: Vec<Option<crate::pack_health::PackHealth>>,
}

// ---------------------------------------------------------------- The device side (BMS and test)

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
