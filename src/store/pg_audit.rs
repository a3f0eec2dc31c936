//! The audit trail and the operator registry on the line database: the same records and rules
//! as `store::audit` and `store::operators` on SQLite. The chain's rules are written once, over
//! [`AuditTx`]; here is only how PostgreSQL keeps them. Stations append concurrently, so an
//! append first takes a transaction-scoped advisory lock (the chain's head stays the head until
//! the change commits or rolls back), as SQLite's one write lock does for a file.

use super::audit::{append, append_unchecked, pack_subject, AuditRecords, AuditTx, WriteOf};
use super::operators::{
    operator_entry, LoginFailure, NewOperator, OperatorRecord, OperatorRecords,
};
use super::pg::{col, PgStore};
use super::{Actor, Result, StoreError};
use crate::audit::{self, Anchor, Break, Entry, SubjectKind};
use postgres::{GenericClient, Row};

/// The advisory lock key an append holds until its transaction ends ("PWAU").
const AUDIT_LOCK: i64 = 0x5057_4155;

const ENTRY_COLUMNS: &str = "seq, at, station, operator, action, subject_kind, subject, \
     old_value, new_value, reason, signature, prev_hash, hash";

fn entry_row(r: &Row) -> Result<Entry> {
    Ok(Entry {
        seq: col(r, 0)?,
        at: col(r, 1)?,
        station: col(r, 2)?,
        operator: col(r, 3)?,
        action: col(r, 4)?,
        subject_kind: col(r, 5)?,
        subject: col(r, 6)?,
        old_value: col(r, 7)?,
        new_value: col(r, 8)?,
        reason: col(r, 9)?,
        signature: col(r, 10)?,
        prev_hash: col(r, 11)?,
        hash: col(r, 12)?,
    })
}

fn has_signature_table(c: &mut impl GenericClient) -> Result<bool> {
    col(
        &c.query_one(
            "SELECT to_regclass('pg_temp.audit_signature') IS NOT NULL",
            &[],
        )?,
        0,
    )
}

impl<T: GenericClient> AuditTx for &mut T {
    fn enforced(&mut self) -> Result<bool> {
        col(
            &self.query_one("SELECT EXISTS (SELECT 1 FROM operators)", &[])?,
            0,
        )
    }

    fn operator_active(&mut self, id: &str) -> Result<Option<bool>> {
        self.query_opt("SELECT active FROM operators WHERE id = $1", &[&id])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn head(&mut self) -> Result<Option<(i64, String)>> {
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
        self.query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| Ok((col(&r, 0)?, col(&r, 1)?)))
        .transpose()
    }

    fn signature(&mut self) -> Result<Option<String>> {
        if !has_signature_table(*self)? {
            return Ok(None);
        }
        self.query_opt("SELECT meaning FROM pg_temp.audit_signature", &[])?
            .map(|r| col(&r, 0))
            .transpose()
    }

    fn insert(&mut self, e: &Entry) -> Result<()> {
        self.execute(
            "INSERT INTO audit_log(seq, at, station, operator, action, subject_kind, subject,
                                   old_value, new_value, reason, signature, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &e.seq,
                &e.at,
                &e.station,
                &e.operator,
                &e.action,
                &e.subject_kind,
                &e.subject,
                &e.old_value,
                &e.new_value,
                &e.reason,
                &e.signature,
                &e.prev_hash,
                &e.hash,
            ],
        )?;
        Ok(())
    }

    fn run_of(&mut self, run: i64) -> Result<(i64, String, String)> {
        let r = self.query_one(
            "SELECT pack_id, station, operator FROM eol_runs WHERE id = $1",
            &[&run],
        )?;
        Ok((col(&r, 0)?, col(&r, 1)?, col(&r, 2)?))
    }

    fn write_of(&mut self, write: i64) -> Result<WriteOf> {
        let r = self.query_one(
            "SELECT pack_id, port, profile, station, operator FROM bms_writes WHERE id = $1",
            &[&write],
        )?;
        Ok((
            col(&r, 0)?,
            col(&r, 1)?,
            col(&r, 2)?,
            col(&r, 3)?,
            col(&r, 4)?,
        ))
    }
}

impl PgStore {
    fn entries(&self, filter: &str, params: Vec<Option<String>>) -> Result<Vec<Entry>> {
        self.with(|c| {
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            c.query(
                &format!("SELECT {ENTRY_COLUMNS} FROM audit_log WHERE {filter} ORDER BY seq"),
                &refs,
            )?
            .iter()
            .map(entry_row)
            .collect()
        })
    }
}

/// The anchors of station files' trails the line database keeps (`audit_anchors`).
impl PgStore {
    /// Record a station file's trail head: `trail` is the hash of its first entry, `seq` and
    /// `hash` its last, `station_at` the station's clock.
    pub fn record_anchor(&self, station: &str, trail: &str, head: (i64, &str)) -> Result<Anchor> {
        let station_at = self.now();
        self.with(|c| {
            let r = c.query_one(
                "INSERT INTO audit_anchors(station, trail, seq, hash, station_at)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING station, trail, seq, hash, station_at, received_at",
                &[&station, &trail, &head.0, &head.1, &station_at],
            )?;
            anchor_row(&r)
        })
    }

    /// The anchors of `trail` and of `stations`' trails, oldest first.
    pub fn anchors(&self, trail: Option<&str>, stations: &[String]) -> Result<Vec<Anchor>> {
        self.with(|c| {
            c.query(
                "SELECT station, trail, seq, hash, station_at, received_at FROM audit_anchors
                 WHERE trail = $1 OR station = ANY($2) ORDER BY id",
                &[&trail, &stations],
            )?
            .iter()
            .map(anchor_row)
            .collect()
        })
    }
}

fn anchor_row(r: &Row) -> Result<Anchor> {
    Ok(Anchor {
        station: col(r, 0)?,
        trail: col(r, 1)?,
        seq: col(r, 2)?,
        hash: col(r, 3)?,
        station_at: col(r, 4)?,
        received_at: col(r, 5)?,
    })
}

impl AuditRecords for PgStore {
    fn audit_entries(&self, since: Option<&str>) -> Result<Vec<Entry>> {
        self.entries(
            "($1::text IS NULL OR at >= $1)",
            vec![since.map(str::to_string)],
        )
    }

    fn audit_entries_for(&self, kind: SubjectKind, subject: &str) -> Result<Vec<Entry>> {
        self.entries(
            "subject_kind = $1 AND subject = $2",
            vec![Some(kind.as_str().to_string()), Some(subject.to_string())],
        )
    }

    fn audit_entries_for_pack(&self, pack: i64) -> Result<Vec<Entry>> {
        // A cell's entry names its pack as one "; "-separated part of the new value.
        self.entries(
            "(subject_kind = 'pack' AND subject = $1)
             OR (subject_kind = 'cell' AND ('; ' || new_value || ';') LIKE $2)",
            vec![
                Some(pack_subject(pack)),
                Some(format!("%; pack {};%", pack_subject(pack))),
            ],
        )
    }

    fn verify_audit(&self) -> Result<std::result::Result<usize, Break>> {
        Ok(audit::verify(&self.entries("TRUE", vec![])?))
    }

    fn set_signature(&self, meaning: Option<&str>) -> Result<()> {
        self.with(|c| sign(c, meaning))?;
        *self.signature.borrow_mut() = meaning.map(str::to_string);
        Ok(())
    }

    fn signature(&self) -> Result<Option<String>> {
        self.with(|c| (&mut *c).signature())
    }
}

const OPERATOR_COLUMNS: &str = "id, name, role, badge, active, blocked_until, created_at";

fn operator_row(r: &Row) -> Result<OperatorRecord> {
    Ok(OperatorRecord {
        id: col(r, 0)?,
        name: col(r, 1)?,
        role: col(r, 2)?,
        badge: col(r, 3)?,
        active: col(r, 4)?,
        blocked_until: col(r, 5)?,
        created_at: col(r, 6)?,
    })
}

impl OperatorRecords for PgStore {
    fn operator_count(&self) -> Result<i64> {
        self.with(|c| col(&c.query_one("SELECT COUNT(*) FROM operators", &[])?, 0))
    }

    fn add_operator(&mut self, actor: &Actor, op: &NewOperator, first: bool) -> Result<()> {
        let at = self.now();
        self.tx(|tx| {
            // Two first-run setups at once: the second waits here and then sees the first.
            tx.execute("LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE", &[])?;
            let count: i64 = col(&tx.query_one("SELECT COUNT(*) FROM operators", &[])?, 0)?;
            if first && count > 0 {
                return Err(StoreError::Conflict(
                    "this database already has operators; an admin adds more with \
                     packwright operators add"
                        .into(),
                ));
            }
            let clash = tx.query_opt(
                "SELECT id FROM operators WHERE id = $1 OR badge = $2 OR id = $2 OR badge = $1",
                &[&op.id, &op.badge],
            )?;
            if let Some(other) = clash {
                let other: String = col(&other, 0)?;
                return Err(StoreError::Conflict(format!(
                    "operator id '{}' or badge '{}' is already used by operator '{other}'",
                    op.id, op.badge
                )));
            }
            tx.execute(
                "INSERT INTO operators(id, name, role, badge, pin_hash, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6)",
                &[&op.id, &op.name, &op.role, &op.badge, &op.pin_hash, &at],
            )?;
            let who = if first {
                Actor {
                    station: actor.station.clone(),
                    operator: op.id.to_string(),
                }
            } else {
                actor.clone()
            };
            append(
                &mut *tx,
                &who,
                &at,
                &operator_entry(
                    if first {
                        "operator setup"
                    } else {
                        "operator add"
                    },
                    op.id,
                    None,
                    Some(format!("{} ({}), badge {}", op.name, op.role, op.badge)),
                    None,
                ),
            )
        })
    }

    fn list_operators(&self) -> Result<Vec<OperatorRecord>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY id"),
                &[],
            )?
            .iter()
            .map(operator_row)
            .collect()
        })
    }

    fn find_operator(&self, key: &str) -> Result<Option<(OperatorRecord, String)>> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {OPERATOR_COLUMNS}, pin_hash FROM operators
                     WHERE id = $1 OR badge = $1 ORDER BY id = $1 DESC LIMIT 1"
                ),
                &[&key],
            )?
            .map(|r| Ok((operator_row(&r)?, col(&r, 7)?)))
            .transpose()
        })
    }

    fn set_operator_active(
        &mut self,
        actor: &Actor,
        id: &str,
        active: bool,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        self.tx(|tx| {
            let before: bool = tx
                .query_opt(
                    "SELECT active FROM operators WHERE id = $1 FOR UPDATE",
                    &[&id],
                )?
                .map(|r| col(&r, 0))
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("operator '{id}'")))?;
            tx.execute(
                "UPDATE operators SET active = $2,
                     blocked_until = CASE WHEN $2 THEN NULL ELSE blocked_until END
                 WHERE id = $1",
                &[&id, &active],
            )?;
            let word = |a: bool| if a { "active" } else { "blocked" }.to_string();
            append(
                &mut *tx,
                actor,
                &at,
                &operator_entry(
                    if active {
                        "operator unblock"
                    } else {
                        "operator block"
                    },
                    id,
                    Some(word(before)),
                    Some(word(active)),
                    Some(reason),
                ),
            )
        })
    }

    fn set_operator_role(
        &mut self,
        actor: &Actor,
        id: &str,
        role: &str,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        self.tx(|tx| {
            let before: String = tx
                .query_opt(
                    "SELECT role FROM operators WHERE id = $1 FOR UPDATE",
                    &[&id],
                )?
                .map(|r| col(&r, 0))
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("operator '{id}'")))?;
            tx.execute(
                "UPDATE operators SET role = $2 WHERE id = $1",
                &[&id, &role],
            )?;
            append(
                &mut *tx,
                actor,
                &at,
                &operator_entry(
                    "operator role",
                    id,
                    Some(before),
                    Some(role.into()),
                    Some(reason),
                ),
            )
        })
    }

    fn record_login_failure(
        &mut self,
        station: &str,
        badge: &str,
        why: &str,
        max: i64,
        window_minutes: i64,
    ) -> Result<Option<String>> {
        let now = super::prelude::StationRecords::clock(self).now();
        let at = crate::clock::stamp(now);
        let window = chrono::Duration::minutes(window_minutes);
        let since = crate::clock::stamp(now - window);
        let until = crate::clock::stamp(now + window);
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO login_failures(at, station, badge, why) VALUES ($1, $2, $3, $4)",
                &[&at, &station, &badge, &why],
            )?;
            let operator: Option<String> = tx
                .query_opt(
                    "SELECT id FROM operators WHERE id = $1 OR badge = $1
                     ORDER BY id = $1 DESC LIMIT 1 FOR UPDATE",
                    &[&badge],
                )?
                .map(|r| col(&r, 0))
                .transpose()?;
            // Failures count from the last block's end, so an unblocked badge starts afresh.
            let failures: i64 = col(
                &tx.query_one(
                    "SELECT COUNT(*) FROM login_failures WHERE at >= $2 AND (badge = $1
                         OR badge IN (SELECT id FROM operators WHERE id = $3 OR badge = $3)
                         OR badge IN (SELECT badge FROM operators WHERE id = $3))
                       AND at > COALESCE((SELECT blocked_until FROM operators WHERE id = $3), '')",
                    &[&badge, &since, &operator],
                )?,
                0,
            )?;
            let Some(id) = operator.filter(|_| failures >= max) else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE operators SET blocked_until = $2 WHERE id = $1",
                &[&id, &until],
            )?;
            append_unchecked(
                &mut *tx,
                &Actor {
                    station: station.to_string(),
                    operator: id.clone(),
                },
                &at,
                &operator_entry(
                    "operator locked out",
                    &id,
                    None,
                    Some(format!("blocked until {until}")),
                    Some(&format!(
                        "{failures} failed logins within {window_minutes} minutes"
                    )),
                ),
            )?;
            Ok(Some(until))
        })
    }

    fn recent_login_failures(&self, limit: usize) -> Result<Vec<LoginFailure>> {
        self.with(|c| {
            c.query(
                "SELECT at, station, badge, why FROM login_failures ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(LoginFailure {
                    at: col(r, 0)?,
                    station: col(r, 1)?,
                    badge: col(r, 2)?,
                    why: col(r, 3)?,
                })
            })
            .collect()
        })
    }

    fn add_station_token(
        &mut self,
        actor: &Actor,
        token_hash: &str,
        operator: &str,
        station: &str,
    ) -> Result<()> {
        let at = self.now();
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO station_tokens(token_hash, operator_id, station, created_at)
                 VALUES ($1, $2, $3, $4)",
                &[&token_hash, &operator, &station, &at],
            )?;
            append(
                &mut *tx,
                actor,
                &at,
                &operator_entry(
                    "operator token",
                    operator,
                    None,
                    Some(format!("station token for {station}")),
                    None,
                ),
            )
        })
    }

    fn token_operator(&self, token_hash: &str, station: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_opt(
                "SELECT operator_id FROM station_tokens
                 WHERE token_hash = $1 AND station = $2 AND revoked_at IS NULL",
                &[&token_hash, &station],
            )?
            .map(|r| col(&r, 0))
            .transpose()
        })
    }

    fn now_stamp(&self) -> String {
        self.now()
    }
}

/// Set (or clear) the signature meaning on connection `c` (a session's temporary table).
pub(super) fn sign(c: &mut postgres::Client, meaning: Option<&str>) -> Result<()> {
    c.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS audit_signature(meaning TEXT NOT NULL);
         DELETE FROM pg_temp.audit_signature;",
    )?;
    if let Some(m) = meaning {
        c.execute(
            "INSERT INTO pg_temp.audit_signature(meaning) VALUES ($1)",
            &[&m],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::testing::{actor, add_pack, each_backend, pg_cluster};

    fn admin() -> Actor {
        Actor {
            station: "st1".into(),
            operator: "boss".into(),
        }
    }

    fn register_admin(store: &mut dyn crate::store::LineStore) {
        store
            .add_operator(
                &admin(),
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
    }

    #[test]
    fn changes_chain_their_entries_and_carry_the_signature_on_both_backends() {
        each_backend(|store| {
            let pack = add_pack(store);
            store.set_signature(Some("release approved (PIN)")).unwrap();
            store
                .set_cell_source(&actor(), &["a".to_string()], "M9")
                .unwrap();
            let all = store.audit_entries(None).unwrap();
            let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(actions[..2], ["cells import", "pack match"], "{actions:?}");
            assert_eq!(all[1].subject, pack_subject(pack));
            let last = all.last().unwrap();
            assert_eq!(last.subject, "a");
            assert_eq!(last.signature.as_deref(), Some("release approved (PIN)"));
            assert_eq!(store.verify_audit().unwrap(), Ok(all.len()));
            assert!(!store.audit_entries_for_pack(pack).unwrap().is_empty());
        });
    }

    #[test]
    fn an_enforcing_database_refuses_an_unregistered_name_and_locks_out_on_both_backends() {
        each_backend(|store| {
            add_pack(store);
            register_admin(store);
            let e = store
                .set_cell_source(&actor(), &["a".to_string()], "M9")
                .unwrap_err()
                .to_string();
            assert!(e.contains("'ann' is not a registered operator"), "{e}");
            store
                .set_cell_source(&admin(), &["a".to_string()], "M9")
                .unwrap();
            assert_eq!(
                store
                    .record_login_failure("st1", "B-1", "bad PIN", 2, 15)
                    .unwrap(),
                None
            );
            let until = store
                .record_login_failure("st1", "B-1", "bad PIN", 2, 15)
                .unwrap();
            assert!(until.is_some());
            let (op, _) = store.find_operator("B-1").unwrap().unwrap();
            assert_eq!(op.blocked_until, until);
            let all = store.audit_entries(None).unwrap();
            assert_eq!(all.last().unwrap().action, "operator locked out");
            assert_eq!(store.verify_audit().unwrap(), Ok(all.len()));
        });
    }

    #[test]
    fn the_line_database_refuses_to_change_or_delete_an_entry() {
        let mut store = PgStore::connect(&pg_cluster::fresh_db()).unwrap();
        add_pack(&mut store);
        for sql in [
            "UPDATE audit_log SET reason = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
        ] {
            let e = store
                .with(|c| Ok(c.batch_execute(sql)?))
                .unwrap_err()
                .to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(store.verify_audit().unwrap(), Ok(2));
    }

    #[test]
    fn stations_appending_at_once_keep_one_unbroken_chain() {
        let url = pg_cluster::fresh_db();
        let mut first = PgStore::connect(&url).unwrap();
        add_pack(&mut first);
        let before = first.audit_entries(None).unwrap().len();
        let stations: Vec<_> = (0..4)
            .map(|i| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut store = PgStore::connect(&url).unwrap();
                    let who = Actor {
                        station: format!("st{i}"),
                        operator: "ann".into(),
                    };
                    for n in 0..25 {
                        let cell = if n % 2 == 0 { "a" } else { "b" };
                        store
                            .set_cell_source(&who, &[cell.to_string()], &format!("M{i}-{n}"))
                            .unwrap();
                    }
                })
            })
            .collect();
        for s in stations {
            s.join().unwrap();
        }
        let all = first.audit_entries(None).unwrap();
        assert_eq!(all.len(), before + 4 * 25);
        assert_eq!(first.verify_audit().unwrap(), Ok(all.len()));
    }
}
