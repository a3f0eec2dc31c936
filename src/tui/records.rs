//! The store thread: owns the SQLite connection and answers the console's [`Request`]s, one at
//! a time, so the event loop never waits for the database. Every answer goes back as a
//! [`Reply`] on the loop's channel.

use super::msg::*;
use crate::domain::{Cell, CellStatus, Pack, PackStatus};
use crate::intake::{self, IntakeDefaults};
use crate::profile::Profile;
use crate::store::{Actor, CellFilter};
use std::path::Path;

/// Answers requests against one store. Separate from the thread so tests call it directly.
pub struct Services {
    pub store: crate::store::DynStore,
    pub actor: Actor,
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
            Request::LoadHistory(code) => self.history(&code),
            Request::SaveState { key, value } => match self.store.set_state(&key, &value) {
                Ok(()) => Reply::Saved,
                Err(e) => failed("saving where the console is", e),
            },
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
        }))
    }

    fn import(&mut self, path: &str, profile: &str) -> Reply {
        let chemistry = Profile::load(profile).ok().map(|p| p.chemistry);
        let defaults = IntakeDefaults {
            chemistry,
            ..Default::default()
        };
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
        packs: out.packs,
    })
}
