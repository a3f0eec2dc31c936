//! The operator registry as a line service: first-run setup, and what an admin does (add,
//! block, unblock, change a role, create a station token). Each change is an audit entry.

use super::authority::{require, Action};
use super::{Result, ServiceError};
use crate::operators::{self, Role};
use crate::store::{Actor, LineStore, NewOperator, StoreError};

/// A conflict in the registry (a used badge, setup done already) is the line's refusal.
fn refused(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(m) => ServiceError::Refused(m),
        StoreError::NotFound(m) => ServiceError::NotFound(m),
        e => ServiceError::Store(e),
    }
}

/// Who to register.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub badge: &'a str,
    pub pin: &'a str,
}

fn checked(r: &Registration) -> Result<String> {
    operators::check_code("the operator id", r.id).map_err(ServiceError::Refused)?;
    operators::check_code("the badge code", r.badge).map_err(ServiceError::Refused)?;
    if r.name.trim().is_empty() {
        return Err(ServiceError::Refused("the operator's name is empty".into()));
    }
    operators::hash_pin(r.pin).map_err(|e| ServiceError::Refused(e.to_string()))
}

/// First-run setup: the first admin of a database that has no operator yet. From then on the
/// database enforces operators and roles.
pub fn setup(store: &mut dyn LineStore, station: &str, r: &Registration) -> Result<()> {
    if r.role != Role::Admin {
        return Err(ServiceError::Refused(
            "the first operator is an admin".into(),
        ));
    }
    let pin_hash = checked(r)?;
    let actor = Actor {
        station: station.to_string(),
        operator: r.id.to_string(),
    };
    store
        .add_operator(&actor, &new(r, &pin_hash), true)
        .map_err(refused)?;
    Ok(())
}

/// The demo line's operator, registered on the demo's own fresh database in place of
/// first-run setup (the demo is the one database that is not set up by an admin): any role,
/// normally [`Role::Operator`], which the demo's normal flow (match, assemble, configure,
/// test, label) needs. Refused on a database that has operators already.
pub fn register_demo(store: &mut dyn LineStore, station: &str, r: &Registration) -> Result<()> {
    let pin_hash = checked(r)?;
    let actor = Actor {
        station: station.to_string(),
        operator: r.id.to_string(),
    };
    store
        .add_operator(&actor, &new(r, &pin_hash), true)
        .map_err(refused)?;
    Ok(())
}

fn new<'a>(r: &'a Registration, pin_hash: &'a str) -> NewOperator<'a> {
    NewOperator {
        id: r.id,
        name: r.name.trim(),
        role: r.role.as_str(),
        badge: r.badge,
        pin_hash,
    }
}

/// Register another operator (admin).
pub fn add(store: &mut dyn LineStore, actor: &Actor, r: &Registration) -> Result<()> {
    require(store, actor, Action::ManageOperators)?;
    let pin_hash = checked(r)?;
    store
        .add_operator(actor, &new(r, &pin_hash), false)
        .map_err(refused)?;
    Ok(())
}

/// Block or unblock an operator (admin); unblocking also lifts a lockout after failed logins.
pub fn set_active(
    store: &mut dyn LineStore,
    actor: &Actor,
    id: &str,
    active: bool,
    reason: &str,
) -> Result<()> {
    require(store, actor, Action::ManageOperators)?;
    if reason.trim().is_empty() {
        return Err(ServiceError::Refused("give a reason (--reason)".into()));
    }
    if !active && id == actor.operator {
        return Err(ServiceError::Refused(
            "an admin cannot block themselves".into(),
        ));
    }
    store
        .set_operator_active(actor, id, active, reason.trim())
        .map_err(refused)?;
    Ok(())
}

/// Change an operator's role (admin). The last active admin keeps the admin role.
pub fn set_role(
    store: &mut dyn LineStore,
    actor: &Actor,
    id: &str,
    role: Role,
    reason: &str,
) -> Result<()> {
    require(store, actor, Action::ManageOperators)?;
    if reason.trim().is_empty() {
        return Err(ServiceError::Refused("give a reason (--reason)".into()));
    }
    let admins = store
        .list_operators()?
        .into_iter()
        .filter(|o| o.active && o.role == Role::Admin.as_str())
        .collect::<Vec<_>>();
    if role != Role::Admin && admins.len() == 1 && admins[0].id == id {
        return Err(ServiceError::Refused(format!(
            "'{id}' is the last admin: make another operator admin first"
        )));
    }
    store
        .set_operator_role(actor, id, role.as_str(), reason.trim())
        .map_err(refused)?;
    Ok(())
}

/// Create a station token for `operator` at `station` (admin). Returns the token, shown once.
pub fn create_token(
    store: &mut dyn LineStore,
    actor: &Actor,
    operator: &str,
    station: &str,
) -> Result<String> {
    require(store, actor, Action::ManageOperators)?;
    if store
        .find_operator(operator)?
        .is_none_or(|(o, _)| o.id != operator)
    {
        return Err(ServiceError::NotFound(format!("no operator '{operator}'")));
    }
    let token = operators::new_token();
    store.add_station_token(actor, &operators::token_hash(&token), operator, station)?;
    Ok(token)
}
