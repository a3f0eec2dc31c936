//! The logged configuration write: the one path the CLI, the console and the end-of-line
//! runner take to change a board's settings.
//!
//! The attempt is recorded (and committed) before a byte is sent; the verified write session
//! runs; the outcome, the board's identity and every field are recorded; and a verified write
//! of the profile's whole configuration marks its pack (the one the pack code names, when it
//! was waiting for its configuration) `configured`, in the same transaction. A refusal is an
//! attempt too: recorded, and nothing is sent.

use packwright_protocol::ProtocolKind;

use super::config::{self, ConfigPlan, SessionOptions, WriteReport};
use super::BmsHandle;
use crate::store::{self, Actor, WriteAttempt, WriteOutcome};

/// Where writes are logged: a connection to the line's database, who is working, and the
/// pack the board belongs to.
pub struct WriteLog {
    pub store: store::DynStore,
    pub actor: Actor,
    /// The pack code linking the logged writes to a pack (the barcode written to the board).
    pub pack_code: Option<String>,
    /// On the line database: the station's outbox, through which a configuration write's end
    /// is recorded (queued durably, then forwarded), so a write carries on when the line
    /// database goes away. `None`: straight to the store.
    pub forwarder: Option<store::Forwarder>,
}

/// What a write is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose<'a> {
    /// The profile's whole configuration: once verified, the pack is configured.
    Configure,
    /// A temporary change for a test (the end-of-line balancing and over-voltage checks),
    /// named in the log's detail; it changes no pack's status.
    Test(&'a str),
}

/// A write as it was logged.
#[derive(Debug, Clone)]
pub struct LoggedWrite {
    /// The attempt's row in the write log.
    pub id: i64,
    pub report: WriteReport,
    /// Whether this write moved its pack from assembled to configured.
    pub pack_configured: bool,
}

impl WriteLog {
    fn attempt<'a>(
        &'a self,
        port: &'a str,
        protocol: &'a str,
        profile: &'a str,
    ) -> WriteAttempt<'a> {
        WriteAttempt {
            port,
            protocol,
            profile,
            pack_code: self.pack_code.as_deref(),
        }
    }

    /// Record an attempt refused before a byte was sent (a profile outside its chemistry's
    /// limits, a protocol without writable settings), with why.
    pub fn refuse(
        &mut self,
        port: &str,
        protocol: ProtocolKind,
        profile: &str,
        detail: &str,
    ) -> store::Result<()> {
        let id = self
            .store
            .begin_bms_write(&self.actor, &self.attempt(port, protocol.name(), profile))?;
        self.store
            .finish_bms_write(id, WriteOutcome::Refused, None, Some(detail), &[])
    }

    /// Write `plan` to the board behind `handle` with the verified session, logged before and
    /// after. A store error before the write means nothing was sent.
    pub async fn write(
        &mut self,
        handle: &BmsHandle,
        plan: &ConfigPlan,
        opts: &SessionOptions,
        purpose: Purpose<'_>,
    ) -> store::Result<LoggedWrite> {
        let protocol = handle.protocol().name();
        let attempt = self.attempt(handle.port(), protocol, &plan.profile);
        let id = self.store.begin_bms_write(&self.actor, &attempt)?;
        // Through the outbox, whether this write moves its pack on is read before and after.
        let pack_status = |store: &dyn store::LineStore, code: Option<&str>| {
            code.and_then(|c| store.find_pack(c).ok().flatten())
                .map(|p| p.status)
        };
        let was_assembled = self.forwarder.is_some()
            && purpose == Purpose::Configure
            && pack_status(&*self.store, self.pack_code.as_deref())
                == Some(crate::domain::PackStatus::Assembled);
        let mut report = config::write_verified(handle, plan, opts).await;
        let records: Vec<_> = report.fields.iter().map(|f| f.record()).collect();
        // The identity as far as it was read; none (not "unknown") when the board never said.
        let identity =
            (report.identity != super::BmsIdentity::default()).then(|| report.identity.summary());
        // A stop request that came after the save is part of the record: the write was not
        // stopped, it finished its persistence check.
        let late = report.late_stop.as_ref().map(|why| {
            format!("{why} after the save: the persistence check was finished, not stopped")
        });
        let detail_text = match (report.failure.as_deref(), late.as_deref()) {
            (Some(f), Some(l)) => Some(format!("{f}; {l}")),
            (f, l) => f.or(l).map(str::to_string),
        };
        let failure = detail_text.as_deref();
        let pack_configured = match (purpose, self.forwarder.as_mut()) {
            (Purpose::Configure, Some(f)) => {
                f.queue_write_end(
                    id,
                    report.outcome,
                    identity.as_deref(),
                    failure,
                    &records,
                    true,
                )?;
                match f.forward_now()?.unreachable {
                    Some(why) => {
                        report.log_queued = Some(format!(
                            "{why}; this write's log waits in the station's outbox and is forwarded (the pack marked configured) when the line database is back"
                        ));
                        false
                    }
                    None => {
                        was_assembled
                            && report.outcome == WriteOutcome::Verified
                            && pack_status(&*self.store, self.pack_code.as_deref())
                                == Some(crate::domain::PackStatus::Configured)
                    }
                }
            }
            (Purpose::Configure, None) => self.store.finish_configuration_write(
                id,
                report.outcome,
                identity.as_deref(),
                failure,
                &records,
            )?,
            (Purpose::Test(why), _) => {
                let detail = match failure {
                    Some(f) => format!("{why}: {f}"),
                    None => why.to_string(),
                };
                self.store.finish_bms_write(
                    id,
                    report.outcome,
                    identity.as_deref(),
                    Some(&detail),
                    &records,
                )?;
                false
            }
        };
        Ok(LoggedWrite {
            id,
            report,
            pack_configured,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bms::{BmsCommand, BmsError, BmsIdentity, DeviceEnd, RegisterOp};
    use crate::domain::PackStatus;
    use crate::profile::Profile;
    use crate::store::testing::{actor, assemble, store_with_pack};
    use crate::store::Store;
    use std::collections::HashMap;

    /// A JBD-like EEPROM behind a handle: writes are staged in factory mode and kept by an
    /// exit with save, unless `forgets` (firmware that acknowledges writes it does not store).
    fn board(forgets: bool) -> BmsHandle {
        board_with(forgets, None).0
    }

    /// [`board`], whose stop switch (if `stop_after` writes) is thrown by the board itself
    /// after that many register writes; also returns its saved EEPROM at the end.
    fn board_with(
        forgets: bool,
        stop_after: Option<(usize, tokio::sync::watch::Sender<Option<String>>)>,
    ) -> (
        BmsHandle,
        tokio::sync::watch::Receiver<HashMap<u8, Vec<u8>>>,
    ) {
        let (saved_tx, saved_rx) = tokio::sync::watch::channel(HashMap::new());
        let (handle, mut end): (BmsHandle, DeviceEnd) =
            BmsHandle::channel(ProtocolKind::Jbd, "/dev/fake");
        tokio::spawn(async move {
            let mut kept: HashMap<u8, Vec<u8>> = HashMap::new();
            let mut staged = kept.clone();
            let mut writes = 0usize;
            while let Some(env) = end.commands.recv().await {
                let (op, reply) = match env.command {
                    BmsCommand::Identity { reply } => {
                        let id = BmsIdentity {
                            protocol: Some(ProtocolKind::Jbd),
                            model: Some("FAKE".into()),
                            ..Default::default()
                        };
                        let _ = reply.send(Ok(id));
                        continue;
                    }
                    BmsCommand::Register { op, reply } => (op, reply),
                    other => {
                        other.fail(BmsError::BadRequest("not in this fake".into()));
                        continue;
                    }
                };
                let data = match op {
                    RegisterOp::EnterFactory => {
                        staged = kept.clone();
                        Vec::new()
                    }
                    RegisterOp::ExitFactory { save } => {
                        if save && !forgets {
                            kept = staged.clone();
                            let _ = saved_tx.send(kept.clone());
                        }
                        Vec::new()
                    }
                    RegisterOp::Read(r) => staged.get(&r).cloned().unwrap_or(vec![0, 0]),
                    RegisterOp::Write { register, data } => {
                        staged.insert(register, data);
                        writes += 1;
                        if let Some((n, tx)) = &stop_after {
                            if writes == *n {
                                let _ = tx.send(Some("interrupted (SIGINT, Ctrl-C)".into()));
                            }
                        }
                        Vec::new()
                    }
                    RegisterOp::UsePassword(_)
                    | RegisterOp::ReadWords { .. }
                    | RegisterOp::WriteWords { .. }
                    | RegisterOp::Command { .. } => Vec::new(),
                };
                let _ = reply.send(Ok(data));
            }
        });
        (handle, saved_rx)
    }

    /// A write log for an assembled pack coded `PW1`, and the plan of a real profile.
    fn setup() -> (WriteLog, i64, ConfigPlan) {
        let (mut store, pack) = store_with_pack();
        assemble(&mut store, pack, "PW1");
        let profile = Profile::load("lfp-16s1p-280ah").unwrap();
        let plan = ConfigPlan::from_profile(&profile, Some("PW1")).unwrap();
        let log = WriteLog {
            store: Box::new(store),
            actor: actor(),
            pack_code: Some("PW1".into()),
            forwarder: None,
        };
        (log, pack, plan)
    }

    #[tokio::test]
    async fn a_verified_configuration_is_logged_and_configures_its_pack() {
        let (mut log, pack, plan) = setup();
        let opts = SessionOptions::default();
        let done = log
            .write(&board(false), &plan, &opts, Purpose::Configure)
            .await
            .unwrap();
        assert_eq!(
            done.report.outcome,
            WriteOutcome::Verified,
            "{:?}",
            done.report.failure
        );
        assert!(done.pack_configured);
        let status = log.store.get_pack(pack).unwrap().unwrap().status;
        assert_eq!(status, PackStatus::Configured);
        let row = &log.store.recent_bms_writes(1).unwrap()[0];
        assert_eq!((row.id, row.outcome.as_str()), (done.id, "verified"));
        assert_eq!(
            (row.port.as_str(), row.protocol.as_str()),
            ("/dev/fake", "jbd")
        );
        assert_eq!(row.bms_identity.as_deref(), Some("jbd FAKE"));
        let fields = log.store.bms_write_fields(done.id).unwrap();
        assert_eq!(fields.len(), plan.fields.len());
        assert!(fields.iter().all(|f| f.ok));
    }

    #[tokio::test]
    async fn a_test_write_names_its_purpose_and_configures_nothing() {
        let (mut log, pack, plan) = setup();
        let opts = SessionOptions::default();
        let done = log
            .write(
                &board(true),
                &plan,
                &opts,
                Purpose::Test("EOL balancing test"),
            )
            .await
            .unwrap();
        assert_eq!(done.report.outcome, WriteOutcome::Failed);
        let row = &log.store.recent_bms_writes(1).unwrap()[0];
        let detail = row.detail.as_deref().unwrap();
        assert!(detail.starts_with("EOL balancing test: "), "{detail}");
        assert!(detail.contains("not persisted"), "{detail}");
        let done = log
            .write(&board(false), &plan, &opts, Purpose::Test("restored"))
            .await
            .unwrap();
        assert!(!done.pack_configured);
        let row = &log.store.recent_bms_writes(1).unwrap()[0];
        assert_eq!(row.detail.as_deref(), Some("restored"));
        let status = log.store.get_pack(pack).unwrap().unwrap().status;
        assert_eq!(status, PackStatus::Assembled);
    }

    #[tokio::test]
    async fn a_stopped_write_leaves_factory_mode_unsaved_and_is_logged_aborted() {
        let (mut log, pack, plan) = setup();
        let (tx, cancel) = config::Cancel::new();
        let (handle, saved) = board_with(false, Some((3, tx)));
        let opts = SessionOptions {
            cancel: Some(cancel),
            ..SessionOptions::default()
        };
        let done = log
            .write(&handle, &plan, &opts, Purpose::Configure)
            .await
            .unwrap();
        let r = &done.report;
        assert_eq!(r.outcome, WriteOutcome::Aborted, "{:?}", r.failure);
        assert!(r.entered_factory && r.left_without_saving && !r.saved);
        assert!(r.interrupted.as_deref().unwrap().contains("SIGINT"));
        // Stopped inside the writes: nothing was read back, nothing saved.
        assert!(r.fields.iter().all(|f| f.read_back.is_none()));
        assert!(saved.borrow().is_empty());
        let row = &log.store.recent_bms_writes(1).unwrap()[0];
        assert_eq!(row.outcome, "aborted");
        assert_eq!(row.bms_identity.as_deref(), Some("jbd FAKE"));
        let status = log.store.get_pack(pack).unwrap().unwrap().status;
        assert_eq!(status, PackStatus::Assembled);
    }

    #[test]
    fn a_refusal_is_logged_with_why_and_nothing_else() {
        let mut log = WriteLog {
            store: Box::new(Store::in_memory().unwrap()),
            actor: Actor {
                station: "bench-2".into(),
                operator: "ana".into(),
            },
            pack_code: Some("PW00000042".into()),
            forwarder: None,
        };
        log.refuse(
            "/dev/ttyUSB0",
            ProtocolKind::Daly,
            "lfp-16s1p-280ah",
            "not supported",
        )
        .unwrap();
        let rows = log.store.recent_bms_writes(5).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome, "refused");
        assert_eq!(rows[0].protocol, "daly");
        assert_eq!(rows[0].operator, "ana");
        assert_eq!(rows[0].detail.as_deref(), Some("not supported"));
        assert!(log.store.bms_write_fields(rows[0].id).unwrap().is_empty());
    }
}
