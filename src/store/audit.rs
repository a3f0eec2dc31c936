//! The audit trail in SQLite: `audit_log`, append-only (triggers refuse UPDATE and DELETE) and
//! hash-chained by [`crate::audit`]. Entries are appended by [`append`], inside the very
//! transaction of the change they record, by the store module that makes the change; nothing
//! else writes the table.
//!
//! Once the database has operators (see `store::operators`), [`append`] also refuses a change
//! by a name that is not a registered, active operator: the Unix login does not stand in for
//! one, whichever face made the change.

use super::{Actor, Result, Store, StoreError};
use crate::audit::{self, Break, Entry, SubjectKind};
use rusqlite::{params, OptionalExtension, Transaction};

/// A change to record, before the store stamps it and the chain seals it.
#[derive(Debug, Clone, Default)]
pub struct NewEntry<'a> {
    pub action: &'a str,
    pub kind: Option<SubjectKind>,
    pub subject: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub reason: Option<&'a str>,
}

/// Whether this database enforces registered operators (it has at least one).
pub(crate) fn enforced(conn: &rusqlite::Connection) -> Result<bool> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM operators)", [], |r| r.get(0))?)
}

/// What appending to the chain needs of a write transaction, on either backend: the SQLite
/// [`Transaction`] here, the line database's in `store::pg_audit`. The chain's rules
/// ([`append`], [`append_unchecked`] and the entries below) are written once over it.
pub(crate) trait AuditTx {
    /// Whether the database enforces registered operators (it has at least one).
    fn enforced(&mut self) -> Result<bool>;
    /// Whether operator `id` is active, or `None` when no such operator is registered.
    fn operator_active(&mut self, id: &str) -> Result<Option<bool>>;
    /// The chain's head (its last sequence number and hash), held so that no other writer can
    /// append before this transaction ends.
    fn head(&mut self) -> Result<Option<(i64, String)>>;
    /// The signature this connection's changes record, if one is set.
    fn signature(&mut self) -> Result<Option<String>>;
    fn insert(&mut self, e: &Entry) -> Result<()>;
    /// A test run's pack, station and operator.
    fn run_of(&mut self, run: i64) -> Result<(i64, String, String)>;
    /// A configuration write's pack, port, profile, station and operator.
    fn write_of(&mut self, write: i64) -> Result<WriteOf>;
}

/// A configuration write's pack, port, profile, station and operator.
pub(crate) type WriteOf = (Option<i64>, String, String, String, String);

/// Append one entry to the chain inside `tx` (the change's own transaction, which holds the
/// chain's head, so no other writer can append between the read of the head and the insert).
pub(crate) fn append(mut tx: impl AuditTx, actor: &Actor, at: &str, e: &NewEntry) -> Result<()> {
    if tx.enforced()? {
        match tx.operator_active(&actor.operator)? {
            Some(true) => {}
            Some(false) => {
                return Err(StoreError::Conflict(format!(
                    "operator '{}' is blocked in this database; nothing was changed (an admin \
                     unblocks: packwright operators unblock)",
                    actor.operator
                )))
            }
            None => {
                return Err(StoreError::Conflict(format!(
                    "'{}' is not a registered operator of this database; nothing was changed \
                     (identify with --operator <id or badge> and a PIN or station token)",
                    actor.operator
                )))
            }
        }
    }
    append_unchecked(tx, actor, at, e)
}

/// [`append`] without the operator check: for entries that close what an operator started
/// (a test run's end, a write's outcome, a lockout), which must be recorded even if that
/// operator was blocked meanwhile.
pub(crate) fn append_unchecked(
    mut tx: impl AuditTx,
    actor: &Actor,
    at: &str,
    e: &NewEntry,
) -> Result<()> {
    let head = tx.head()?;
    let signature = tx.signature()?;
    let entry = audit::seal(
        Entry {
            seq: 0,
            at: at.to_string(),
            station: actor.station.clone(),
            operator: actor.operator.clone(),
            action: e.action.to_string(),
            subject_kind: e.kind.unwrap_or(SubjectKind::Pack).as_str().to_string(),
            subject: e.subject.clone(),
            old_value: e.old.clone(),
            new_value: e.new.clone(),
            reason: e.reason.map(str::to_string),
            signature,
            prev_hash: String::new(),
            hash: String::new(),
        },
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
    );
    tx.insert(&entry)
}

impl AuditTx for &Transaction<'_> {
    fn enforced(&mut self) -> Result<bool> {
        enforced(self)
    }

    fn operator_active(&mut self, id: &str) -> Result<Option<bool>> {
        Ok(self
            .query_row("SELECT active FROM operators WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn head(&mut self) -> Result<Option<(i64, String)>> {
        // The SQLite transaction already holds the one write lock.
        Ok(self
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn signature(&mut self) -> Result<Option<String>> {
        if !has_signature_table(self)? {
            return Ok(None);
        }
        Ok(self
            .query_row("SELECT meaning FROM temp.audit_signature", [], |r| r.get(0))
            .optional()?)
    }

    fn insert(&mut self, entry: &Entry) -> Result<()> {
        self.execute(
            "INSERT INTO audit_log(seq, at, station, operator, action, subject_kind, subject,
                                   old_value, new_value, reason, signature, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                entry.seq,
                entry.at,
                entry.station,
                entry.operator,
                entry.action,
                entry.subject_kind,
                entry.subject,
                entry.old_value,
                entry.new_value,
                entry.reason,
                entry.signature,
                entry.prev_hash,
                entry.hash
            ],
        )?;
        Ok(())
    }

    fn run_of(&mut self, run: i64) -> Result<(i64, String, String)> {
        Ok(self.query_row(
            "SELECT pack_id, station, operator FROM eol_runs WHERE id = ?1",
            [run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    fn write_of(&mut self, write: i64) -> Result<WriteOf> {
        Ok(self.query_row(
            "SELECT pack_id, port, profile, station, operator FROM bms_writes WHERE id = ?1",
            [write],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?)
    }
}

/// The entry for a `state_changes` row: about its cell when it names one, else its pack.
pub(crate) fn state_entry<'a>(c: &'a super::states::Change<'a>) -> NewEntry<'a> {
    let (kind, subject) = match (c.cell_id, c.pack_id) {
        (Some(cell), _) => (SubjectKind::Cell, cell.to_string()),
        (None, Some(pack)) => (SubjectKind::Pack, pack_subject(pack)),
        (None, None) => (SubjectKind::Pack, String::new()),
    };
    // A cell's entry names the pack it was in, so the pack's history finds it too.
    let parts: Vec<String> = [
        c.to.map(str::to_string),
        c.detail.clone(),
        c.cell_id
            .and(c.pack_id)
            .map(|p| format!("pack {}", pack_subject(p))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let new = (!parts.is_empty()).then(|| parts.join("; "));
    NewEntry {
        action: c.verb,
        kind: Some(kind),
        subject,
        old: c.from.map(str::to_string),
        new,
        reason: c.reason,
    }
}

/// The entry for a pack's assembly completing with its code.
pub(crate) fn assembled_entry(pack: i64, code: &str) -> NewEntry<'static> {
    NewEntry {
        action: "pack assembled",
        subject: pack_subject(pack),
        old: Some("matched".into()),
        new: Some(format!("assembled, code {code}")),
        ..Default::default()
    }
}

/// The entry for an import batch published: `rows` cells from `file`.
pub(crate) fn import_entry(batch: i64, rows: i64, file: &str) -> NewEntry<'static> {
    NewEntry {
        action: "cells import",
        kind: Some(SubjectKind::Batch),
        subject: batch.to_string(),
        new: Some(format!("{rows} cells from {file}")),
        ..Default::default()
    }
}

/// The entry for a pack reserved by a match, with its profile (and the text's hash, if kept).
pub(crate) fn match_entry(pack: i64, profile: &str, sha256: Option<&str>) -> NewEntry<'static> {
    NewEntry {
        action: "pack match",
        subject: pack_subject(pack),
        new: Some(format!(
            "matched, profile {profile}{}",
            sha256.map(|h| format!(" sha256 {h}")).unwrap_or_default()
        )),
        ..Default::default()
    }
}

/// The entry for a test run's start.
pub(crate) fn run_start_entry(run: i64, pack: i64, plan_version: &str) -> NewEntry<'static> {
    NewEntry {
        action: "eol run start",
        subject: pack_subject(pack),
        new: Some(format!("run {run} running, plan {plan_version}")),
        ..Default::default()
    }
}

/// The entry for a test run's end, by the run's own station and operator.
pub(crate) fn append_run_end(
    mut tx: impl AuditTx,
    run: i64,
    at: &str,
    outcome: &str,
    reason: Option<&str>,
) -> Result<()> {
    let (pack, station, operator) = tx.run_of(run)?;
    append_unchecked(
        tx,
        &Actor { station, operator },
        at,
        &NewEntry {
            action: "eol run end",
            subject: pack_subject(pack),
            old: Some(format!("run {run} running")),
            new: Some(format!("run {run} {outcome}")),
            reason,
            ..Default::default()
        },
    )
}

/// The entry for a configuration write's outcome, by the write's own station and operator:
/// about its pack, or its board (the port) when it configured no pack; `configured`: the write
/// moved the pack from assembled to configured.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_write_end(
    mut tx: impl AuditTx,
    write: i64,
    at: &str,
    outcome: &str,
    identity: Option<&str>,
    detail: Option<&str>,
    configured: bool,
) -> Result<()> {
    let (pack, port, profile, station, operator) = tx.write_of(write)?;
    let (kind, subject) = match pack {
        Some(p) => (SubjectKind::Pack, pack_subject(p)),
        None => (SubjectKind::Board, port),
    };
    append_unchecked(
        tx,
        &Actor { station, operator },
        at,
        &NewEntry {
            action: "bms write",
            kind: Some(kind),
            subject,
            old: configured.then(|| "assembled".to_string()),
            new: Some(format!(
                "{}write {write} {outcome}, profile {profile}{}",
                if configured { "configured; " } else { "" },
                identity.map(|i| format!(", board {i}")).unwrap_or_default()
            )),
            reason: detail,
        },
    )
}

fn has_signature_table(conn: &rusqlite::Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_temp_master WHERE name = 'audit_signature')",
        [],
        |r| r.get(0),
    )?)
}

/// How a pack is named as an audit subject.
pub(crate) fn pack_subject(id: i64) -> String {
    format!("#{id}")
}

/// The audit trail: reading, exporting and verifying it; the signature carried by a
/// connection's next changes.
pub trait AuditRecords {
    /// Every entry in chain order; with `since`, only those stamped at or after it (an RFC 3339
    /// time or a date, compared as text with the stored UTC stamps).
    fn audit_entries(&self, since: Option<&str>) -> Result<Vec<Entry>>;

    /// The entries about one subject (`pack`, `#12`), in chain order.
    fn audit_entries_for(&self, kind: SubjectKind, subject: &str) -> Result<Vec<Entry>>;

    /// The entries of a pack: about the pack itself, or about a cell while it was in it.
    fn audit_entries_for_pack(&self, pack: i64) -> Result<Vec<Entry>>;

    /// Walk the whole chain: the number of entries, or the first entry that breaks it.
    fn verify_audit(&self) -> Result<std::result::Result<usize, Break>>;

    /// The meaning of the re-authenticated signature every later change on this connection
    /// records (`None` clears it).
    fn set_signature(&self, meaning: Option<&str>) -> Result<()>;

    /// The signature this connection's changes record, if one is set.
    fn signature(&self) -> Result<Option<String>>;
}

const ENTRY_COLUMNS: &str = "seq, at, station, operator, action, subject_kind, subject, \
     old_value, new_value, reason, signature, prev_hash, hash";

fn entry_row(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: r.get(0)?,
        at: r.get(1)?,
        station: r.get(2)?,
        operator: r.get(3)?,
        action: r.get(4)?,
        subject_kind: r.get(5)?,
        subject: r.get(6)?,
        old_value: r.get(7)?,
        new_value: r.get(8)?,
        reason: r.get(9)?,
        signature: r.get(10)?,
        prev_hash: r.get(11)?,
        hash: r.get(12)?,
    })
}

impl AuditRecords for Store {
    fn audit_entries(&self, since: Option<&str>) -> Result<Vec<Entry>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE (?1 IS NULL OR at >= ?1) ORDER BY seq"
            ))?
            .query_map([since], entry_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn audit_entries_for(&self, kind: SubjectKind, subject: &str) -> Result<Vec<Entry>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE subject_kind = ?1 AND subject = ?2
                 ORDER BY seq"
            ))?
            .query_map([kind.as_str(), subject], entry_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn audit_entries_for_pack(&self, pack: i64) -> Result<Vec<Entry>> {
        // A cell's entry names its pack as one "; "-separated part of the new value.
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log
                 WHERE (subject_kind = 'pack' AND subject = ?1)
                    OR (subject_kind = 'cell' AND ('; ' || new_value || ';') LIKE ?2)
                 ORDER BY seq"
            ))?
            .query_map(
                [
                    pack_subject(pack),
                    format!("%; pack {};%", pack_subject(pack)),
                ],
                entry_row,
            )?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn verify_audit(&self) -> Result<std::result::Result<usize, Break>> {
        // Stored order is the chain's order; a row moved to another place shows as a broken link.
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY seq"
        ))?;
        let entries = stmt
            .query_map([], entry_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(audit::verify(&entries))
    }

    fn set_signature(&self, meaning: Option<&str>) -> Result<()> {
        self.conn().execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS audit_signature(meaning TEXT NOT NULL);
             DELETE FROM temp.audit_signature;",
        )?;
        if let Some(m) = meaning {
            self.conn()
                .execute("INSERT INTO temp.audit_signature(meaning) VALUES (?1)", [m])?;
        }
        Ok(())
    }

    fn signature(&self) -> Result<Option<String>> {
        if !has_signature_table(self.conn())? {
            return Ok(None);
        }
        Ok(self
            .conn()
            .query_row("SELECT meaning FROM temp.audit_signature", [], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::actor;

    fn store_with_entries(n: usize) -> Store {
        let mut store = Store::in_memory().unwrap();
        for i in 0..n {
            let tx = crate::store::write_tx(store.conn_mut()).unwrap();
            append(
                &tx,
                &actor(),
                "2027-01-01T00:00:00.000Z",
                &NewEntry {
                    action: "pack hold",
                    kind: Some(SubjectKind::Pack),
                    subject: pack_subject(i as i64),
                    reason: Some("why"),
                    ..Default::default()
                },
            )
            .unwrap();
            tx.commit().unwrap();
        }
        store
    }

    #[test]
    fn entries_chain_and_refuse_update_and_delete() {
        let store = store_with_entries(3);
        assert_eq!(store.verify_audit().unwrap(), Ok(3));
        let up = store
            .conn()
            .execute("UPDATE audit_log SET reason = 'x' WHERE seq = 2", [])
            .unwrap_err()
            .to_string();
        assert!(up.contains("append-only"), "{up}");
        let del = store
            .conn()
            .execute("DELETE FROM audit_log WHERE seq = 3", [])
            .unwrap_err()
            .to_string();
        assert!(del.contains("append-only"), "{del}");
        assert_eq!(
            store
                .audit_entries_for(SubjectKind::Pack, "#1")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_signature_is_recorded_with_the_next_entries_of_its_connection() {
        let mut store = store_with_entries(1);
        store.set_signature(Some("scrap approved (PIN)")).unwrap();
        let tx = crate::store::write_tx(store.conn_mut()).unwrap();
        append(
            &tx,
            &actor(),
            "t",
            &NewEntry {
                action: "pack scrap",
                subject: pack_subject(1),
                ..Default::default()
            },
        )
        .unwrap();
        tx.commit().unwrap();
        let all = store.audit_entries(None).unwrap();
        assert_eq!(all[0].signature, None);
        assert_eq!(all[1].signature.as_deref(), Some("scrap approved (PIN)"));
        assert_eq!(store.verify_audit().unwrap(), Ok(2));
    }

    #[test]
    fn an_enforcing_database_refuses_changes_in_an_unregistered_name_but_closes_what_was_begun() {
        use crate::store::{NewOperator, OperatorRecords};
        let mut store = store_with_entries(1);
        let boss = Actor {
            station: "st1".into(),
            operator: "boss".into(),
        };
        store
            .add_operator(
                &boss,
                &NewOperator {
                    id: "boss",
                    name: "Boss",
                    role: "admin",
                    badge: "B-1",
                    pin_hash: "x",
                },
                true,
            )
            .unwrap();
        let entry = NewEntry {
            action: "pack hold",
            subject: pack_subject(1),
            ..Default::default()
        };
        let tx = crate::store::write_tx(store.conn_mut()).unwrap();
        let e = append(&tx, &actor(), "t", &entry).unwrap_err().to_string();
        assert!(e.contains("'ann' is not a registered operator"), "{e}");
        append(&tx, &boss, "t", &entry).unwrap();
        append_unchecked(&tx, &actor(), "t", &entry).unwrap();
        tx.commit().unwrap();
        assert_eq!(store.verify_audit().unwrap(), Ok(4));
    }
}
