//! The store thread: owns the SQLite connection and answers the console's [`Request`]s, one at
//! a time, so the event loop never waits for the database. Every answer goes back as a
//! [`Reply`] on the loop's channel.

use super::msg::*;
use crate::domain::{Cell, CellStatus, Pack, PackStatus};
use crate::intake::{self, IntakeDefaults};
use crate::label::PrinterTarget;
use crate::profile::Profile;
use crate::store::prelude::*;
use crate::store::{Actor, CellFilter};
use std::path::Path;

/// Answers requests against one store. Separate from the thread so tests call it directly.
pub struct Services {
    pub store: crate::store::DynStore,
    /// Where the records are (`--db`: a file or the line database's URL), for work that
    /// opens its own connection.
    pub db: std::path::PathBuf,
    pub actor: Actor,
    /// Where the console prints labels (`console --printer`), if anywhere.
    pub printer: Option<PrinterTarget>,
}

/// What the store thread does with a request: answer it now, or hand work that needs no
/// database (the matcher) to a thread of its own so scans are not queued behind it.
pub enum Answer {
    Now(Box<Reply>),
    Later(Box<dyn FnOnce() -> Reply + Send>),
}

/// Run the store thread until the request channel closes.
pub fn spawn(
    services: Services,
    requests: std::sync::mpsc::Receiver<Request>,
    replies: impl Fn(Reply) + Send + Sync + 'static,
) -> std::thread::JoinHandle<()> {
    let replies = std::sync::Arc::new(replies);
    std::thread::spawn(move || {
        let mut services = services;
        for req in requests {
            let started = std::time::Instant::now();
            let what = format!("{req:?}");
            match services.answer(req) {
                Answer::Now(reply) => replies(*reply),
                Answer::Later(work) => {
                    let replies = replies.clone();
                    std::thread::spawn(move || replies(work()));
                }
            }
            tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, request = %what.chars().take(80).collect::<String>(), "store request");
        }
    })
}

fn failed(what: &str, e: impl std::fmt::Display) -> Reply {
    Reply::Failed(format!("{what}: {e}"))
}

impl Services {
    /// Answer `req` here and now (the tests' way; the store thread uses [`Services::answer`]).
    pub fn handle(&mut self, req: Request) -> Reply {
        match self.answer(req) {
            Answer::Now(reply) => *reply,
            Answer::Later(work) => work(),
        }
    }

    pub fn answer(&mut self, req: Request) -> Answer {
        match req {
            Request::RunMatch { profile } => self.run_match(&profile),
            // A printer may take seconds to answer: the print runs on a thread of its own,
            // with its own connection, so scans are not queued behind it.
            Request::PrintLabel(pack) => self.print_label(pack),
            other => Answer::Now(Box::new(self.answer_now(other))),
        }
    }

    fn answer_now(&mut self, req: Request) -> Reply {
        match req {
            Request::LoadLine => self
                .line()
                .unwrap_or_else(|e| failed("loading the line", e)),
            Request::LoadCells => match self.store.list_cells(&CellFilter::default()) {
                Ok(cells) => Reply::Cells(cells),
                Err(e) => failed("loading cells", e),
            },
            Request::Import { path, profile } => self.import(&path, &profile),
            Request::Resolve(code) => self.resolve(&code),
            Request::RunMatch { profile } => match self.run_match(&profile) {
                Answer::Now(reply) => *reply,
                Answer::Later(work) => work(),
            },
            Request::CommitPacks { profile, packs } => self.commit(&profile, &packs),
            Request::LoadPack(id) => match self.store.get_pack(id) {
                Ok(p) => Reply::Pack(p),
                Err(e) => failed("loading the pack", e),
            },
            Request::NextPack(status) => self.next_pack(status, None),
            Request::NextPackAfter { status, after } => self.next_pack(status, after),
            Request::LoadPlacement(id) => match self.store.placed_cells(id) {
                Ok(placed) => Reply::Placement { pack: id, placed },
                Err(e) => failed("loading placements", e),
            },
            Request::Place { pack, cell } => self.place(pack, &cell),
            Request::CompleteAssembly(id) => self.complete(id),
            Request::PrintLabel(pack) => match self.print_label(pack) {
                Answer::Now(reply) => *reply,
                Answer::Later(work) => work(),
            },
            Request::VerifyLabel { pack, scan } => self.verify_label(pack, &scan),
            Request::LoadHistory(code) => self.history(&code),
            Request::SaveState { key, value } => match self.store.set_state(&key, &value) {
                Ok(()) => Reply::Saved,
                Err(e) => failed("saving where the console is", e),
            },
            Request::Login { badge, pin } => self.login(badge, pin),
            Request::State(verb, pin) => self.state(verb, pin),
            Request::SetOperator(name) => {
                let old = std::mem::replace(&mut self.actor.operator, name.clone());
                match self.store.log_event(
                    &self.actor,
                    "info",
                    &format!("operator badge scanned: {old} -> {name}"),
                ) {
                    Ok(()) => Reply::Saved,
                    Err(e) => failed("recording the operator", e),
                }
            }
        }
    }

    /// A badge and its PIN, checked by the line services; on success this console's records
    /// are that operator's.
    fn login(&mut self, badge: String, pin: crate::tui::login::Pin) -> Reply {
        use crate::services::authority::{authorize, Action, Credential, Granted};
        let who = crate::store::Actor {
            station: self.actor.station.clone(),
            operator: badge,
        };
        match authorize(
            &mut *self.store,
            &who,
            Action::Assemble,
            &Credential::Pin(pin.0),
        ) {
            Ok(Granted::Operator { actor, .. }) => {
                let old = std::mem::replace(&mut self.actor.operator, actor.operator.clone());
                let said = format!(
                    "operator logged in at the console: {old} -> {}",
                    actor.operator
                );
                if let Err(e) = self.store.log_event(&self.actor, "info", &said) {
                    tracing::warn!("cannot record the login: {e}");
                }
                Reply::LoggedIn {
                    operator: actor.operator,
                }
            }
            Ok(Granted::Open) => Reply::LoginRefused(
                "this database has no registered operators: scan OP:<name> to switch".into(),
            ),
            Err(e) => Reply::LoginRefused(e.to_string()),
        }
    }

    /// Whether this console's operator may do `action` (the line services' authority check,
    /// for the changes the console makes through the store's own modules: intake, match
    /// commit, assembly).
    fn may(
        &self,
        action: crate::services::authority::Action,
    ) -> Result<(), crate::services::ServiceError> {
        crate::services::authority::require(&*self.store, &self.actor, action)
    }

    fn line(&self) -> crate::store::Result<Reply> {
        let in_progress: Vec<Pack> = self
            .store
            .list_packs(None)?
            .into_iter()
            .filter(|p| {
                matches!(
                    p.status,
                    PackStatus::Matched | PackStatus::Assembled | PackStatus::Configured
                )
            })
            .collect();
        let day = self.store.day_counts(self.store.clock().today())?;
        let counts = vec![
            (PackStatus::Matched, day.matched),
            (PackStatus::Assembled, day.assembled),
            (PackStatus::Configured, day.configured),
            (PackStatus::Passed, day.passed),
            (PackStatus::Failed, day.failed),
        ];
        let problems = self
            .store
            .recent_events(50)?
            .into_iter()
            .filter(|(_, level, _)| level != "info")
            .take(5)
            .collect();
        Ok(Reply::Line(LineData {
            in_progress,
            today: counts,
            cells: self.store.cell_counts()?,
            problems,
            backlog: self.backlog()?,
        }))
    }

    /// On the line database, this station's outbox backlog (none without an outbox file).
    fn backlog(&self) -> crate::store::Result<Option<BacklogView>> {
        if !crate::store::is_url(&self.db) {
            return Ok(None);
        }
        let backlog = match crate::store::Forwarder::open_existing(
            &crate::store::outbox_path(),
            &self.db.to_string_lossy(),
            &self.actor.station,
        )? {
            Some(f) => f.backlog()?,
            None => crate::store::Backlog::default(),
        };
        Ok(Some(BacklogView {
            queued: backlog.queued,
            oldest_age_s: backlog.oldest_age_s(self.store.clock().now()),
            unreachable_since: backlog.unreachable_since,
            refused: backlog.refused,
        }))
    }

    fn import(&mut self, path: &str, profile: &str) -> Reply {
        let chemistry = Profile::load(profile).ok().map(|p| p.chemistry);
        let defaults = IntakeDefaults {
            chemistry,
            ..Default::default()
        };
        if let Err(e) = self.may(crate::services::authority::Action::Intake) {
            return Reply::Failed(format!("nothing imported: {e}"));
        }
        let parsed = match intake::read_file(Path::new(path), &defaults) {
            Ok(p) => p,
            Err(e) => return Reply::Failed(format!("nothing imported: {e}")),
        };
        if let Err(e) = self.store.import_cells(&self.actor, path, &parsed) {
            return Reply::Failed(format!("nothing imported: {e}"));
        }
        let missing = parsed
            .cells
            .iter()
            .filter(|c| c.source_code.is_none())
            .count();
        let mut note = String::new();
        if missing > 0 {
            note = format!(
                "; {missing} without a source module code cannot pass the end-of-line test"
            );
            let _ = self.store.log_event(
                &self.actor,
                "warning",
                &format!("{path}: {missing} cells imported without a source module code"),
            );
        }
        Reply::Imported {
            file: path.to_string(),
            count: parsed.cells.len(),
            note,
        }
    }

    fn resolve(&self, code: &str) -> Reply {
        let what = (|| -> crate::store::Result<Resolved> {
            if let Some(cell) = self.store.get_cell(code)? {
                let pack = self.store.pack_of_cell(code)?;
                return Ok(Resolved::Cell { cell, pack });
            }
            if let Some(p) = self.store.find_pack(code)? {
                return Ok(Resolved::Pack(p));
            }
            Ok(if self.store.cells_from_source(code)?.is_empty() {
                Resolved::Unknown
            } else {
                Resolved::Source
            })
        })();
        match what {
            Ok(what) => Reply::Resolved {
                code: code.to_string(),
                what,
            },
            Err(e) => failed(&format!("looking up '{code}'"), e),
        }
    }

    /// Load the inputs here; match on another thread.
    fn run_match(&self, profile_name: &str) -> Answer {
        let profile = match Profile::load(profile_name) {
            Ok(p) => p,
            Err(e) => return Answer::Now(Box::new(failed("loading the profile", e))),
        };
        let cells = match self.store.list_cells(&CellFilter {
            status: Some(CellStatus::Available),
            chemistry: Some(profile.chemistry),
            source_code: None,
        }) {
            Ok(c) => c,
            Err(e) => return Answer::Now(Box::new(failed("loading available cells", e))),
        };
        let name = profile_name.to_string();
        Answer::Later(Box::new(move || match propose(&profile, &cells) {
            Ok(p) => Reply::Matched(p),
            Err(e) => Reply::Failed(format!("matching for {name}: {e}")),
        }))
    }

    fn commit(&mut self, profile: &str, packs: &[MatchedPack]) -> Reply {
        if let Err(e) = self.may(crate::services::authority::Action::Match) {
            return Reply::Failed(format!("nothing committed: {e}"));
        }
        let (profile, source) = match Profile::load_with_source(profile) {
            Ok(p) => p,
            Err(e) => return failed("loading the profile", e),
        };
        let refs: Vec<&MatchedPack> = packs.iter().collect();
        match crate::matching::commit(
            &mut *self.store,
            &self.actor,
            &profile,
            Some(&source),
            &refs,
        ) {
            Ok(ids) => Reply::Committed(ids),
            Err(e) => Reply::Failed(format!("nothing committed: {e}")),
        }
    }

    fn next_pack(&self, status: PackStatus, after: Option<i64>) -> Reply {
        match self.store.list_packs(Some(status)) {
            Ok(packs) => {
                let next = after
                    .and_then(|a| packs.iter().find(|p| p.id > a))
                    .or_else(|| packs.first())
                    .cloned();
                Reply::Pack(next)
            }
            Err(e) => failed("finding the next pack", e),
        }
    }

    fn place(&mut self, pack_id: i64, cell: &str) -> Reply {
        use crate::assembly::{self, AssemblyError};
        if let Err(e) = self.may(crate::services::authority::Action::Assemble) {
            return failed(&format!("placing {cell}"), e);
        }
        let pack = match self.store.get_pack(pack_id) {
            Ok(Some(p)) => p,
            Ok(None) => return Reply::Failed(format!("pack #{pack_id} is gone")),
            Err(e) => return failed("loading the pack", e),
        };
        match assembly::scan(&*self.store, &self.actor, &pack, cell) {
            Ok((slot, progress)) => Reply::Placed {
                pack: pack_id,
                cell: slot.cell_id.clone(),
                slot: slot.label(),
                done: progress.next.is_none(),
            },
            Err(AssemblyError::Refused(r)) => Reply::Refused {
                cell: cell.to_string(),
                why: r.to_string(),
            },
            Err(e) => failed(&format!("placing {cell}"), e),
        }
    }

    fn complete(&mut self, pack_id: i64) -> Reply {
        let result = (|| -> anyhow::Result<Pack> {
            self.may(crate::services::authority::Action::Assemble)?;
            let pack = self
                .store
                .get_pack(pack_id)?
                .ok_or_else(|| anyhow::anyhow!("pack #{pack_id} is gone"))?;
            let profile = crate::services::packs::profile_of(&*self.store, &pack)?;
            let today = self.store.clock().today();
            crate::assembly::complete(&mut *self.store, &self.actor, &pack, &profile, None, today)?;
            self.store
                .get_pack(pack_id)?
                .ok_or_else(|| anyhow::anyhow!("pack #{pack_id} is gone"))
        })();
        match result {
            Ok(p) => Reply::Assembled(p),
            Err(e) => Reply::Failed(format!("completing assembly of pack #{pack_id}: {e:#}")),
        }
    }

    /// A state verb, through the same line services as the CLI's `cells` and `packs` verbs.
    /// A state verb through `services::{cells, packs}`. With a PIN (a signed decision), the
    /// operator is identified by it first (`authority::authorize`: a wrong PIN is a failed
    /// login) and the verb's changes carry the signature; it is taken off the connection after.
    fn state(&mut self, verb: StateVerb, pin: Option<crate::tui::login::Pin>) -> Reply {
        use crate::services::authority::{authorize, Credential, Granted};
        use crate::services::{self, ServiceError};
        let signed = pin.is_some();
        let result = (|| -> Result<(String, bool, Option<Pack>), ServiceError> {
            let store = &mut *self.store;
            let actor = &self.actor;
            if let Some(pin) = pin {
                if let Granted::Operator {
                    signature: Some(meaning),
                    ..
                } = authorize(store, actor, verb.action(), &Credential::Pin(pin.0))?
                {
                    store.set_signature(Some(&meaning))?;
                }
            }
            let pack_named = |store: &dyn LineStore, key: &str| -> Result<Pack, ServiceError> {
                store
                    .find_pack(key)?
                    .ok_or_else(|| ServiceError::NotFound(format!("no pack '{key}'")))
            };
            Ok(match verb {
                StateVerb::Reject {
                    cell,
                    scrap,
                    reason,
                } => {
                    // The pack it was in (a matched pack's plan lets the cell go).
                    let was_in = store.pack_of_cell(&cell)?;
                    let done = services::cells::reject(store, actor, &cell, scrap, &reason)?;
                    let pack = match was_in {
                        Some(id) => store.get_pack(id)?,
                        None => None,
                    };
                    let held = pack
                        .as_ref()
                        .is_some_and(|p| p.status == PackStatus::OnHold);
                    let mut text = format!("cell {cell} {}: {}", done.status, done.reason);
                    if let Some(p) = pack.as_ref().filter(|_| done.pack_effect.is_some()) {
                        text.push_str(&if held {
                            format!(
                                "; pack {} is ON HOLD: rework (w) or scrap (d) it on History",
                                p.label()
                            )
                        } else {
                            format!(
                                "; out of pack {}'s plan, slot {} open: rework (w) or release (l)",
                                p.label(),
                                p.open_slots().join(" ")
                            )
                        });
                    }
                    (text, held, pack)
                }
                StateVerb::Unreject { cell, reason } => {
                    services::cells::unreject(store, actor, &cell, &reason)?;
                    (
                        format!("cell {cell} back to available: {reason}"),
                        false,
                        None,
                    )
                }
                StateVerb::Source { cells, code } => {
                    services::cells::set_source(store, actor, &cells, &code)?;
                    (
                        format!("source module {code} recorded for {} cells", cells.len()),
                        false,
                        None,
                    )
                }
                StateVerb::Release { pack, reason } => {
                    let p = pack_named(store, &pack)?;
                    let cells = services::packs::release(store, actor, &p, &reason)?;
                    (
                        format!(
                            "pack {} released: {} cells back to available",
                            p.label(),
                            cells.len()
                        ),
                        false,
                        store.get_pack(p.id)?,
                    )
                }
                StateVerb::ScrapPack {
                    pack,
                    reason,
                    to_stock,
                } => {
                    let p = pack_named(store, &pack)?;
                    let fates = services::packs::scrap(store, actor, &p, &reason, to_stock)?;
                    let back = fates.iter().filter(|f| f.status == "available").count();
                    (
                        format!(
                            "pack {} scrapped: {back} cells back to stock, {} scrapped",
                            p.label(),
                            fates.len() - back
                        ),
                        true,
                        store.get_pack(p.id)?,
                    )
                }
                StateVerb::Rework {
                    pack,
                    out,
                    into,
                    reason,
                } => {
                    let p = pack_named(store, &pack)?;
                    let profile = services::packs::profile_of(store, &p)?;
                    let done = services::packs::rework(
                        store,
                        actor,
                        &p,
                        &profile,
                        out.as_deref(),
                        &into,
                        &reason,
                    )?;
                    let mut text = format!(
                        "pack {} reworked: {} {} out, {} in",
                        p.label(),
                        done.slot,
                        done.out.as_deref().unwrap_or("(open slot)"),
                        done.into
                    );
                    if let (Some(out), Some(status)) = (&done.out, done.out_status) {
                        text.push_str(&format!(" ({out} {status})"));
                    }
                    if done.status == PackStatus::Assembled {
                        text.push_str("; next: 5 BMS config, then a new test");
                    }
                    (text, false, store.get_pack(p.id)?)
                }
            })
        })();
        if signed {
            if let Err(e) = self.store.set_signature(None) {
                // The connection must not sign what comes next: a new one carries none.
                tracing::warn!("cannot take the signature off the connection: {e}");
                match self.station().open() {
                    Ok(fresh) => self.store = fresh,
                    Err(e) => tracing::error!("cannot reopen the records: {e}"),
                }
            }
        }
        match result {
            Ok((text, warning, pack)) => Reply::StateChanged {
                text,
                warning,
                pack,
            },
            // A refusal says itself that nothing was changed; the 80-column row keeps its start.
            Err(e) if e.to_string().ends_with("nothing was changed") => {
                Reply::Failed(e.to_string())
            }
            Err(e) => Reply::Failed(format!("nothing changed: {e}")),
        }
    }

    /// This console's station: its records and who works at it now.
    fn station(&self) -> crate::services::Station {
        crate::services::Station {
            db: self.db.clone(),
            actor: self.actor.clone(),
            signature: None,
        }
    }

    fn print_label(&self, pack: i64) -> Answer {
        let Some(target) = self.printer.clone() else {
            let code = match self.store.get_pack(pack) {
                Ok(Some(p)) => p.label(),
                _ => format!("#{pack}"),
            };
            return Answer::Now(Box::new(Reply::LabelPrinted {
                pack,
                ok: false,
                text: format!(
                    "no printer (console --printer): print {code} elsewhere, v to scan it"
                ),
            }));
        };
        let station = self.station();
        Answer::Later(Box::new(move || {
            let key = crate::services::PackKey::Id(pack);
            match crate::services::labels::print(&station, &key, &target) {
                Ok((label, printed)) => Reply::LabelPrinted {
                    pack,
                    ok: true,
                    text: format!(
                        "{} of {} printed on {}: stick it on the pack, then v to scan it back",
                        if printed.reprint { "reprint" } else { "label" },
                        label.pack_code,
                        printed.printer
                    ),
                },
                Err(e) => Reply::LabelPrinted {
                    pack,
                    ok: false,
                    text: format!("{e}; p to print again"),
                },
            }
        }))
    }

    fn verify_label(&mut self, pack: i64, scan: &str) -> Reply {
        let key = crate::services::PackKey::Id(pack);
        match crate::services::labels::verify_in(&mut *self.store, &self.actor, &key, scan) {
            Ok(v) => match v.refusal() {
                None => Reply::LabelScanned {
                    pack,
                    matched: true,
                    text: format!(
                        "label {} scanned back: it is this pack's. Next: 5 BMS",
                        v.pack_code
                    ),
                },
                Some(refusal) => Reply::LabelScanned {
                    pack,
                    matched: false,
                    text: refusal,
                },
            },
            Err(e) => failed("scanning the label back", e),
        }
    }

    fn history(&self, code: &str) -> Reply {
        match crate::trace::lineage(&*self.store, code) {
            Ok(Some(l)) => Reply::History(Box::new(l)),
            Ok(None) => Reply::Failed(format!(
                "'{code}' is not a pack, a source module or a cell in this database"
            )),
            Err(e) => failed(&format!("loading the history of '{code}'"), e),
        }
    }
}

/// Run the matcher for a profile over these cells, and shape its answer for the screen.
pub fn propose(profile: &Profile, cells: &[Cell]) -> Result<Proposal, String> {
    let out = crate::matching::propose(profile, cells).map_err(|e| e.to_string())?;
    let mut rejected: Vec<(String, usize)> = out
        .summary
        .rejected_by_reason
        .iter()
        .map(|(code, n)| (code.phrase().to_string(), *n))
        .collect();
    rejected.sort_by_key(|r| std::cmp::Reverse(r.1));
    Ok(Proposal {
        profile: profile.name.clone(),
        shape: out.summary.shape.clone(),
        cells_in: out.summary.cells_in,
        eligible: out.summary.eligible_cells,
        leftover: out.summary.leftover_cells,
        rejected,
        max_possible: out.summary.max_possible_packs,
        max_exact: out.summary.max_packs_exact,
        utilisation_pct: out.summary.utilisation * 100.0,
        health: out
            .packs
            .iter()
            .map(|p| health_of(profile, cells, p))
            .collect(),
        packs: out.packs,
    })
}

/// A proposed pack's health from its cells' grading records.
fn health_of(
    profile: &Profile,
    cells: &[Cell],
    pack: &MatchedPack,
) -> Option<crate::pack_health::PackHealth> {
    let by_id: std::collections::HashMap<&str, &Cell> =
        cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let groups: Option<Vec<Vec<&Cell>>> = pack
        .groups
        .iter()
        .map(|g| g.iter().map(|id| by_id.get(id.as_str()).copied()).collect())
        .collect();
    crate::pack_health::pack_health(&groups?, profile.nominal_capacity_mah).ok()
}
