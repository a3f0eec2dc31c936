//! Who may do what: the one table naming the role each action needs and the actions that need
//! a signature (the PIN given again, with a reason), and the check both faces call before they
//! change a record.
//!
//! A database with no registered operator refuses every change ([`without_operators`]) until
//! `packwright operators setup` registers its first admin, unless the process opted in with
//! `PACKWRIGHT_ALLOW_NO_OPERATORS=1` (tests, benchmarks, a single-user bench machine): then
//! such a database allows every action and records carry the name given. The opt-in never
//! opens a database that has operators.

use super::{Result, ServiceError};
use crate::operators::{self, Role};
use crate::store::{Actor, LineStore, OperatorRecord};
use serde::Serialize;

/// The classes of action the line's rules know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Import graded cells, record source codes.
    Intake,
    /// Commit matched packs.
    Match,
    /// Place cells, code the pack.
    Assemble,
    /// Reject a cell found bad (scrap is [`Action::Scrap`]).
    RejectCell,
    /// Write a pack's BMS configuration (and switch a board's FETs or SOC).
    Configure,
    /// Run a pack's end-of-line test.
    RunTest,
    /// Print a pack's label.
    Label,
    /// Write a configuration to a board of no pack (past the pack binding).
    ConfigurationOverride,
    /// Adopt a changed profile for a pack.
    ProfileChange,
    /// Rework a pack (replace a cell), release a matched pack's cells.
    ReworkRelease,
    /// Return a rejected or scrapped cell to stock.
    Unreject,
    /// Scrap a pack or a cell.
    Scrap,
    /// Register operators, change roles, block, unblock, create station tokens.
    ManageOperators,
}

/// What an action needs: a role and, for a decision, the meaning of the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub action: Action,
    pub role: Role,
    /// `Some(meaning)`: the PIN must be given for this action (a station token is not enough)
    /// and the meaning is recorded with the action's audit entries.
    pub signature: Option<&'static str>,
}

/// The authority table: every action, the least role that may do it, and whether it is a
/// signed decision.
pub const RULES: &[Rule] = &[
    rule(Action::Intake, Role::Operator, None),
    rule(Action::Match, Role::Operator, None),
    rule(Action::Assemble, Role::Operator, None),
    rule(Action::RejectCell, Role::Operator, None),
    rule(Action::Configure, Role::Operator, None),
    rule(Action::RunTest, Role::Operator, None),
    rule(Action::Label, Role::Operator, None),
    rule(
        Action::ConfigurationOverride,
        Role::Engineer,
        Some("configuration override approved"),
    ),
    rule(
        Action::ProfileChange,
        Role::Engineer,
        Some("profile change approved"),
    ),
    rule(
        Action::ReworkRelease,
        Role::Engineer,
        Some("rework/release approved"),
    ),
    rule(Action::Unreject, Role::Engineer, Some("un-reject approved")),
    rule(Action::Scrap, Role::Quality, Some("scrap approved")),
    rule(Action::ManageOperators, Role::Admin, None),
];

const fn rule(action: Action, role: Role, signature: Option<&'static str>) -> Rule {
    Rule {
        action,
        role,
        signature,
    }
}

/// The rule of an action.
pub fn rule_of(action: Action) -> Rule {
    RULES
        .iter()
        .copied()
        .find(|r| r.action == action)
        .unwrap_or(Rule {
            action,
            role: Role::Admin,
            signature: None,
        })
}

/// How an operator proves who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The operator's PIN (typed at a prompt, or `PACKWRIGHT_PIN` for scripted use).
    Pin(String),
    /// A station token an admin created (`PACKWRIGHT_TOKEN`).
    Token(String),
    /// None given.
    None,
}

/// The outcome of a check that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    /// The database has no operators yet and the process opted in ([`ALLOW_ENV`]): nothing is
    /// enforced, the actor is as given.
    Open,
    /// A registered operator, identified; `actor.operator` is their id.
    Operator {
        actor: Actor,
        role: Role,
        /// The signature meaning to record with the action's entries, if it is a decision.
        signature: Option<String>,
    },
}

/// The explicit opt-in: with this set to `1`, a database WITHOUT registered operators allows
/// every change, recorded under the name given (`--operator`, the login name). It changes
/// nothing for a database that has operators.
pub const ALLOW_ENV: &str = "PACKWRIGHT_ALLOW_NO_OPERATORS";

static ALLOWED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opt this process in, as [`ALLOW_ENV`] does, for callers that run the line services
/// in-process on throw-away databases (the integration tests' headless console, benchmarks).
pub fn allow_without_operators() {
    ALLOWED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this process opted in to databases without operators ([`ALLOW_ENV`] is `1`, or
/// [`allow_without_operators`] was called; the library's own unit tests always are).
pub fn opted_in() -> bool {
    cfg!(test)
        || ALLOWED.load(std::sync::atomic::Ordering::Relaxed)
        || std::env::var(ALLOW_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The refusal of a change on a database without operators, unless `opted_in`.
pub fn without_operators_unless(opted_in: bool) -> Result<()> {
    if opted_in {
        return Ok(());
    }
    Err(ServiceError::Refused(NO_OPERATORS.to_string()))
}

/// What a change on a database without operators (and without the opt-in) is told.
pub const NO_OPERATORS: &str = "this database has no registered operators yet: register the \
     first admin with `packwright operators setup --id <id> --name <name> --badge <badge>` \
     (then log in with --operator and a PIN); nothing was changed";

/// A change on a database without operators: allowed only under the opt-in ([`opted_in`]).
pub fn without_operators() -> Result<()> {
    without_operators_unless(opted_in())
}

/// Whether this database enforces operators (has at least one).
pub fn enforced(store: &dyn LineStore) -> Result<bool> {
    Ok(store.operator_count()? > 0)
}

/// Identify the operator `actor.operator` names (an id or a badge) by `credential`, and check
/// that their role may do `action`. A wrong PIN or unknown badge is recorded as a failed login
/// (repeated failures block the badge for a while). A refused check changes nothing else.
pub fn authorize(
    store: &mut dyn LineStore,
    actor: &Actor,
    action: Action,
    credential: &Credential,
) -> Result<Granted> {
    if !enforced(store)? {
        without_operators()?;
        return Ok(Granted::Open);
    }
    let rule = rule_of(action);
    let op = identify(store, actor, credential)?;
    let role = Role::parse(&op.role).unwrap_or(Role::Operator);
    if role < rule.role {
        return Err(ServiceError::Refused(format!(
            "{} needs the {} role (or higher); operator '{}' is {role}; nothing was changed",
            first_upper(action_words(action)),
            rule.role,
            op.id
        )));
    }
    let signature = match rule.signature {
        None => None,
        Some(meaning) => {
            if !matches!(credential, Credential::Pin(_)) {
                return Err(ServiceError::Refused(format!(
                    "{} is a signed decision: give your PIN again (PACKWRIGHT_PIN or the prompt); \
                     a station token is not a signature; nothing was changed",
                    action_words(action)
                )));
            }
            Some(format!(
                "{meaning} by {} ({}), PIN re-entered",
                op.name, role
            ))
        }
    };
    Ok(Granted::Operator {
        actor: Actor {
            station: actor.station.clone(),
            operator: op.id,
        },
        role,
        signature,
    })
}

/// Who `actor.operator` is, proved by `credential`.
pub fn identify(
    store: &mut dyn LineStore,
    actor: &Actor,
    credential: &Credential,
) -> Result<OperatorRecord> {
    let key = actor.operator.trim();
    let refuse = |why: String| ServiceError::Refused(why);
    let (op, pin_hash) = match credential {
        Credential::Token(token) => {
            let Some(id) = store.token_operator(&operators::token_hash(token), &actor.station)?
            else {
                store.record_login_failure(
                    &actor.station,
                    key,
                    "unknown station token",
                    operators::MAX_FAILURES,
                    operators::FAILURE_WINDOW_MINUTES,
                )?;
                return Err(refuse(format!(
                    "the station token is not valid at station '{}'; nothing was changed",
                    actor.station
                )));
            };
            let found = store.find_operator(&id)?;
            let Some(found) = found else {
                return Err(refuse(format!(
                    "the station token's operator '{id}' is gone"
                )));
            };
            if !key.is_empty() && key != found.0.id && key != found.0.badge {
                return Err(refuse(format!(
                    "the station token is operator '{}''s, not '{key}'s; nothing was changed",
                    found.0.id
                )));
            }
            found
        }
        Credential::Pin(_) | Credential::None => match store.find_operator(key)? {
            Some(found) => found,
            None => {
                store.record_login_failure(
                    &actor.station,
                    key,
                    "unknown operator or badge",
                    operators::MAX_FAILURES,
                    operators::FAILURE_WINDOW_MINUTES,
                )?;
                return Err(refuse(format!(
                    "'{key}' is not a registered operator or badge of this database; nothing was \
                     changed (identify with --operator <id or badge> and your PIN)"
                )));
            }
        },
    };
    if !op.active {
        return Err(refuse(format!(
            "operator '{}' is blocked; an admin unblocks (packwright operators unblock {}); \
             nothing was changed",
            op.id, op.id
        )));
    }
    if let Some(until) = op.blocked_until.as_deref() {
        if until > store.now_stamp().as_str() {
            return Err(refuse(format!(
                "badge of operator '{}' is blocked after repeated failed logins until {until} UTC \
                 (or until an admin unblocks it); nothing was changed",
                op.id
            )));
        }
    }
    match credential {
        Credential::Token(_) => Ok(op),
        Credential::None => Err(refuse(format!(
            "changing records needs a credential: give operator '{}''s PIN (prompt, or \
             PACKWRIGHT_PIN) or a station token (PACKWRIGHT_TOKEN); nothing was changed",
            op.id
        ))),
        Credential::Pin(pin) => {
            if operators::verify_pin(pin, &pin_hash) {
                Ok(op)
            } else {
                let blocked = store.record_login_failure(
                    &actor.station,
                    key,
                    "wrong PIN",
                    operators::MAX_FAILURES,
                    operators::FAILURE_WINDOW_MINUTES,
                )?;
                Err(refuse(match blocked {
                    Some(until) => format!(
                        "wrong PIN for operator '{}': too many failed logins, the badge is \
                         blocked until {until} UTC; nothing was changed",
                        op.id
                    ),
                    None => format!("wrong PIN for operator '{}'; nothing was changed", op.id),
                }))
            }
        }
    }
}

/// The check inside each line service, whichever face called it: on a database that enforces
/// operators, `actor.operator` must be a registered, active operator id whose role may do
/// `action`, and a signed decision must come on a connection carrying its signature (the face
/// had the PIN given again: [`authorize`]). A database without operators refuses, unless the
/// process opted in ([`without_operators`]).
pub fn require(store: &dyn LineStore, actor: &Actor, action: Action) -> Result<()> {
    if !enforced(store)? {
        return without_operators();
    }
    let rule = rule_of(action);
    let op = match store.find_operator(&actor.operator)? {
        Some((op, _)) if op.id == actor.operator => op,
        _ => {
            return Err(ServiceError::Refused(format!(
                "'{}' is not a logged-in operator of this database: {} needs an operator with the {} role, identified by badge or id and PIN; nothing was changed",
                actor.operator,
                action_words(action),
                rule.role
            )))
        }
    };
    let role = Role::parse(&op.role).unwrap_or(Role::Operator);
    let locked = op
        .blocked_until
        .as_deref()
        .is_some_and(|until| until > store.now_stamp().as_str());
    if !op.active || locked {
        return Err(ServiceError::Refused(format!(
            "operator '{}' is blocked; nothing was changed",
            op.id
        )));
    }
    if role < rule.role {
        return Err(ServiceError::Refused(format!(
            "{} needs the {} role (or higher); operator '{}' is {role}; nothing was changed",
            first_upper(action_words(action)),
            rule.role,
            op.id
        )));
    }
    if rule.signature.is_some() && store.signature()?.is_none() {
        return Err(ServiceError::Refused(format!(
            "{} is a signed decision: it needs the operator's PIN given again and a reason (from the command line: PACKWRIGHT_PIN or the PIN prompt); nothing was changed",
            action_words(action)
        )));
    }
    Ok(())
}

/// `s` with its first letter in capitals: a refusal that starts with the action.
fn first_upper(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// An action in words, for refusals.
pub fn action_words(action: Action) -> &'static str {
    match action {
        Action::Intake => "importing cells",
        Action::Match => "committing matched packs",
        Action::Assemble => "assembling a pack",
        Action::RejectCell => "rejecting a cell",
        Action::Configure => "configuring a BMS",
        Action::RunTest => "running an end-of-line test",
        Action::Label => "printing a label",
        Action::ConfigurationOverride => "a configuration override (a board of no pack)",
        Action::ProfileChange => "changing a pack's profile",
        Action::ReworkRelease => "rework or release of a pack",
        Action::Unreject => "un-rejecting a cell",
        Action::Scrap => "scrapping",
        Action::ManageOperators => "managing operators",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::{NewOperator, Store};

    fn store_with(role: &str) -> Store {
        let mut store = Store::in_memory().unwrap();
        let h = operators::hash_pin("1234").unwrap();
        let admin = Actor {
            station: "s".into(),
            operator: "boss".into(),
        };
        store
            .add_operator(
                &admin,
                &NewOperator {
                    id: "boss",
                    name: "Boss",
                    role: "admin",
                    badge: "B-0",
                    pin_hash: &h,
                },
                true,
            )
            .unwrap();
        store
            .add_operator(
                &admin,
                &NewOperator {
                    id: "ann",
                    name: "Ann",
                    role,
                    badge: "B-1",
                    pin_hash: &h,
                },
                false,
            )
            .unwrap();
        store
    }

    fn ann(badge: &str) -> Actor {
        Actor {
            station: "s".into(),
            operator: badge.into(),
        }
    }

    #[test]
    fn every_action_has_one_rule() {
        for r in RULES {
            assert_eq!(RULES.iter().filter(|o| o.action == r.action).count(), 1);
        }
    }

    #[test]
    fn a_database_without_operators_refuses_unless_opted_in() {
        let e = without_operators_unless(false).unwrap_err().to_string();
        assert!(e.contains("no registered operators yet"), "{e}");
        assert!(e.contains("packwright operators setup --id"), "{e}");
        assert!(e.ends_with("nothing was changed"), "{e}");
        without_operators_unless(true).unwrap();
    }

    #[test]
    fn a_database_without_operators_is_open_under_the_opt_in() {
        let mut store = Store::in_memory().unwrap();
        assert_eq!(
            authorize(&mut store, &ann("x"), Action::Scrap, &Credential::None).unwrap(),
            Granted::Open
        );
    }

    #[test]
    fn roles_decisions_and_failed_logins() {
        let mut store = store_with("engineer");
        let pin = Credential::Pin("1234".into());
        let Granted::Operator {
            actor, signature, ..
        } = authorize(&mut store, &ann("B-1"), Action::Unreject, &pin).unwrap()
        else {
            panic!("not granted")
        };
        assert_eq!(actor.operator, "ann");
        assert!(signature.unwrap().contains("un-reject approved by Ann"));
        let e = authorize(&mut store, &ann("ann"), Action::Scrap, &pin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs the quality role"), "{e}");
        let e = authorize(&mut store, &ann("ann"), Action::Intake, &Credential::None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a credential"), "{e}");
        for i in 0..operators::MAX_FAILURES {
            let e = authorize(
                &mut store,
                &ann("B-1"),
                Action::Intake,
                &Credential::Pin("9999".into()),
            )
            .unwrap_err()
            .to_string();
            assert_eq!(
                e.contains("blocked until"),
                i + 1 == operators::MAX_FAILURES,
                "{e}"
            );
        }
        let e = authorize(&mut store, &ann("ann"), Action::Intake, &pin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("blocked after repeated failed logins"), "{e}");
        assert_eq!(
            store.recent_login_failures(10).unwrap().len(),
            operators::MAX_FAILURES as usize
        );
        assert_eq!(store.verify_audit().unwrap(), Ok(3));
    }

    #[test]
    fn inside_a_service_roles_and_signatures_hold_whichever_face_calls() {
        let (mut store, _) = crate::store::testing::store_with_pack();
        let h = operators::hash_pin("1234").unwrap();
        let eng = Actor {
            station: "st1".into(),
            operator: "eng".into(),
        };
        store
            .add_operator(
                &eng,
                &NewOperator {
                    id: "eng",
                    name: "Eng",
                    role: "engineer",
                    badge: "B-E",
                    pin_hash: &h,
                },
                true,
            )
            .unwrap();
        // An unregistered name (the console's Unix login, say) changes nothing.
        let e = super::super::cells::reject(&mut store, &ann("ann"), "a", false, "dent")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a logged-in operator"), "{e}");
        // The engineer rejects (operator role) without a signature ...
        super::super::cells::reject(&mut store, &eng, "a", false, "dent").unwrap();
        // ... but un-rejecting is a signed decision, and scrapping needs quality.
        let e = super::super::cells::unreject(&mut store, &eng, "a", "fine")
            .unwrap_err()
            .to_string();
        assert!(e.contains("signed decision"), "{e}");
        store
            .set_signature(Some("un-reject approved by Eng"))
            .unwrap();
        super::super::cells::unreject(&mut store, &eng, "a", "fine").unwrap();
        let e = super::super::cells::reject(&mut store, &eng, "b", true, "cracked")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs the quality role"), "{e}");
        let last = store.audit_entries(None).unwrap().pop().unwrap();
        assert_eq!(last.action, "cell unreject");
        assert_eq!(last.signature.as_deref(), Some("un-reject approved by Eng"));
    }
}
