//! The operator registry, station tokens and failed logins. Every change of an operator is an
//! audit entry in its own transaction. Who may change what is decided by
//! `services::authority`; this module only carries it out.

use super::audit::{append, append_unchecked, NewEntry};
use super::{Actor, Result, Store, StoreError};
use crate::audit::SubjectKind;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// An operator as the registry lists it (never the PIN hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub badge: String,
    pub active: bool,
    /// Blocked after repeated failed logins until this time (UTC stamp), if any.
    pub blocked_until: Option<String>,
    pub created_at: String,
}

/// An operator to register, the PIN already hashed.
#[derive(Debug, Clone)]
pub struct NewOperator<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub badge: &'a str,
    pub pin_hash: &'a str,
}

/// A failed login, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginFailure {
    pub at: String,
    pub station: String,
    pub badge: String,
    pub why: String,
}

pub trait OperatorRecords {
    /// How many operators are registered (none: the database enforces nothing yet).
    fn operator_count(&self) -> Result<i64>;

    /// Register an operator. With `first`, only while none is registered (first-run setup),
    /// and the new operator is the actor of its own entry.
    fn add_operator(&mut self, actor: &Actor, op: &NewOperator, first: bool) -> Result<()>;

    fn list_operators(&self) -> Result<Vec<OperatorRecord>>;

    /// The operator whose id or badge is `key`, with the PIN hash.
    fn find_operator(&self, key: &str) -> Result<Option<(OperatorRecord, String)>>;

    /// Block (`active = false`) or unblock an operator; unblocking also lifts a lockout.
    fn set_operator_active(
        &mut self,
        actor: &Actor,
        id: &str,
        active: bool,
        reason: &str,
    ) -> Result<()>;

    fn set_operator_role(
        &mut self,
        actor: &Actor,
        id: &str,
        role: &str,
        reason: &str,
    ) -> Result<()>;

    /// Record a failed login for `badge` (an id or badge code as typed); when it is the
    /// `max`-th failure within the last `window_minutes`, a registered badge is blocked for
    /// that long and the time it is blocked until is returned.
    fn record_login_failure(
        &mut self,
        station: &str,
        badge: &str,
        why: &str,
        max: i64,
        window_minutes: i64,
    ) -> Result<Option<String>>;

    fn recent_login_failures(&self, limit: usize) -> Result<Vec<LoginFailure>>;

    /// Keep a station token (its hash) for an operator at a station.
    fn add_station_token(
        &mut self,
        actor: &Actor,
        token_hash: &str,
        operator: &str,
        station: &str,
    ) -> Result<()>;

    /// The operator a token (its hash) stands for at `station`, if it is valid there.
    fn token_operator(&self, token_hash: &str, station: &str) -> Result<Option<String>>;

    /// Now, as the store stamps records (for comparing with `blocked_until`).
    fn now_stamp(&self) -> String;
}

const OPERATOR_COLUMNS: &str = "id, name, role, badge, active, blocked_until, created_at";

fn operator_row(r: &rusqlite::Row) -> rusqlite::Result<OperatorRecord> {
    Ok(OperatorRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        badge: r.get(3)?,
        active: r.get(4)?,
        blocked_until: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub(crate) fn operator_entry<'a>(
    action: &'a str,
    id: &str,
    old: Option<String>,
    new: Option<String>,
    reason: Option<&'a str>,
) -> NewEntry<'a> {
    NewEntry {
        action,
        kind: Some(SubjectKind::Operator),
        subject: id.to_string(),
        old,
        new,
        reason,
    }
}

impl OperatorRecords for Store {
    fn operator_count(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM operators", [], |r| r.get(0))?)
    }

    fn add_operator(&mut self, actor: &Actor, op: &NewOperator, first: bool) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM operators", [], |r| r.get(0))?;
        if first && count > 0 {
            return Err(StoreError::Conflict(
                "this database already has operators; an admin adds more with \
                 packwright operators add"
                    .into(),
            ));
        }
        let clash: Option<String> = tx
            .query_row(
                "SELECT id FROM operators WHERE id = ?1 OR badge = ?2 OR id = ?2 OR badge = ?1",
                [op.id, op.badge],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = clash {
            return Err(StoreError::Conflict(format!(
                "operator id '{}' or badge '{}' is already used by operator '{other}'",
                op.id, op.badge
            )));
        }
        tx.execute(
            "INSERT INTO operators(id, name, role, badge, pin_hash, active, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
            params![op.id, op.name, op.role, op.badge, op.pin_hash, at],
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
            &tx,
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
        )?;
        tx.commit()?;
        Ok(())
    }

    fn list_operators(&self) -> Result<Vec<OperatorRecord>> {
        Ok(self
            .conn()
            .prepare(&format!(
                "SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY id"
            ))?
            .query_map([], operator_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn find_operator(&self, key: &str) -> Result<Option<(OperatorRecord, String)>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {OPERATOR_COLUMNS}, pin_hash FROM operators
                     WHERE id = ?1 OR badge = ?1 ORDER BY id = ?1 DESC LIMIT 1"
                ),
                [key],
                |r| Ok((operator_row(r)?, r.get(7)?)),
            )
            .optional()?)
    }

    fn set_operator_active(
        &mut self,
        actor: &Actor,
        id: &str,
        active: bool,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let before: bool = tx
            .query_row("SELECT active FROM operators WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("operator '{id}'")))?;
        tx.execute(
            "UPDATE operators SET active = ?2, blocked_until = CASE WHEN ?2 THEN NULL ELSE blocked_until END
             WHERE id = ?1",
            params![id, active],
        )?;
        let word = |a: bool| if a { "active" } else { "blocked" }.to_string();
        append(
            &tx,
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
        )?;
        tx.commit()?;
        Ok(())
    }

    fn set_operator_role(
        &mut self,
        actor: &Actor,
        id: &str,
        role: &str,
        reason: &str,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        let before: String = tx
            .query_row("SELECT role FROM operators WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("operator '{id}'")))?;
        tx.execute(
            "UPDATE operators SET role = ?2 WHERE id = ?1",
            params![id, role],
        )?;
        append(
            &tx,
            actor,
            &at,
            &operator_entry(
                "operator role",
                id,
                Some(before),
                Some(role.into()),
                Some(reason),
            ),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn record_login_failure(
        &mut self,
        station: &str,
        badge: &str,
        why: &str,
        max: i64,
        window_minutes: i64,
    ) -> Result<Option<String>> {
        let now = self.clock().now();
        let at = crate::clock::stamp(now);
        let window = chrono::Duration::minutes(window_minutes);
        let since = crate::clock::stamp(now - window);
        let until = crate::clock::stamp(now + window);
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "INSERT INTO login_failures(at, station, badge, why) VALUES (?1, ?2, ?3, ?4)",
            params![at, station, badge, why],
        )?;
        let operator: Option<String> = tx
            .query_row(
                "SELECT id FROM operators WHERE id = ?1 OR badge = ?1 ORDER BY id = ?1 DESC LIMIT 1",
                [badge],
                |r| r.get(0),
            )
            .optional()?;
        // Failures count from the last block's end, so an unblocked badge starts afresh.
        let failures: i64 = tx.query_row(
            "SELECT COUNT(*) FROM login_failures WHERE at >= ?2 AND (badge = ?1
                 OR badge IN (SELECT id FROM operators WHERE id = ?3 OR badge = ?3)
                 OR badge IN (SELECT badge FROM operators WHERE id = ?3))
               AND at > COALESCE((SELECT blocked_until FROM operators WHERE id = ?3), '')",
            params![badge, since, operator],
            |r| r.get(0),
        )?;
        let mut blocked = None;
        if let Some(id) = operator.filter(|_| failures >= max) {
            tx.execute(
                "UPDATE operators SET blocked_until = ?2 WHERE id = ?1",
                params![id, until],
            )?;
            append_unchecked(
                &tx,
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
            blocked = Some(until);
        }
        tx.commit()?;
        Ok(blocked)
    }

    fn recent_login_failures(&self, limit: usize) -> Result<Vec<LoginFailure>> {
        Ok(self
            .conn()
            .prepare(
                "SELECT at, station, badge, why FROM login_failures ORDER BY id DESC LIMIT ?1",
            )?
            .query_map([limit as i64], |r| {
                Ok(LoginFailure {
                    at: r.get(0)?,
                    station: r.get(1)?,
                    badge: r.get(2)?,
                    why: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn add_station_token(
        &mut self,
        actor: &Actor,
        token_hash: &str,
        operator: &str,
        station: &str,
    ) -> Result<()> {
        let at = self.now();
        let tx = super::write_tx(self.conn_mut())?;
        tx.execute(
            "INSERT INTO station_tokens(token_hash, operator_id, station, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, operator, station, at],
        )?;
        append(
            &tx,
            actor,
            &at,
            &operator_entry(
                "operator token",
                operator,
                None,
                Some(format!("station token for {station}")),
                None,
            ),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn token_operator(&self, token_hash: &str, station: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT operator_id FROM station_tokens
                 WHERE token_hash = ?1 AND station = ?2 AND revoked_at IS NULL",
                [token_hash, station],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn now_stamp(&self) -> String {
        self.now()
    }
}
