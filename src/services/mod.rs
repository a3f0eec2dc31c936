//! The line services: every workflow with side effects, written once, for both faces.
//!
//! The CLI and the console parse, display and ask; the rules of the line (which pack may be
//! configured, which protocol a profile's board speaks, what is logged and when) live here.
//! A service opens its own records through a [`Station`], so it runs as an ordinary task on
//! whatever runtime the face has.

pub mod authority;
pub mod bench;
pub mod cells;
pub mod labels;
pub mod operators;
pub mod packs;
pub mod trail;

use crate::domain::Pack;
use crate::profile::{Profile, ProfileError};
use crate::store::prelude::*;
use crate::store::{Actor, DynStore, Forwarder, StoreError};
use std::path::PathBuf;

/// This station: where its records are and who is working at it.
#[derive(Debug, Clone)]
pub struct Station {
    pub db: PathBuf,
    pub actor: Actor,
    /// The meaning of the operator's signature when the work is a signed decision
    /// (`authority::authorize`): recorded with every audit entry its connections append.
    pub signature: Option<String>,
}

impl Station {
    /// A connection to the station's records (each task has its own).
    pub fn open(&self) -> std::result::Result<DynStore, StoreError> {
        let store = crate::store::open_station(
            &self.db,
            &crate::store::StationInfo {
                actor: &self.actor,
                role: None,
                line: None,
            },
        )?;
        if self.signature.is_some() {
            store.set_signature(self.signature.as_deref())?;
        }
        Ok(store)
    }

    /// This station's outbox for the line database (store-and-forward of its run records);
    /// `None` on a SQLite file, which is the station's own and needs none.
    pub fn forwarder(&self) -> std::result::Result<Option<Forwarder>, StoreError> {
        if !crate::store::is_url(&self.db) {
            return Ok(None);
        }
        let forwarder = Forwarder::open(
            &crate::store::outbox_path(),
            &self.db.to_string_lossy(),
            &self.actor.station,
        )?;
        Ok(Some(forwarder))
    }
}

/// Why a service did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The line's rules say no; nothing was sent and nothing changed but the log of the
    /// refusal.
    #[error("{0}")]
    Refused(String),
    /// The pack, cell or module named does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The board or interface could not be reached.
    #[error("{0}")]
    Device(String),
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// The pack named by `key` (its code or `#number`/number) and the profile it was matched for.
pub fn pack_and_profile(store: &dyn LineStore, key: &PackKey) -> Result<(Pack, Profile)> {
    let pack = match key {
        PackKey::Id(id) => store.get_pack(*id)?,
        PackKey::Text(text) => store.find_pack(text)?,
    }
    .ok_or_else(|| ServiceError::NotFound(format!("no pack '{key}'")))?;
    // The profile text kept with the pack, not whatever the file says now.
    let profile = packs::profile_of(store, &pack)?;
    Ok((pack, profile))
}

/// How a face names a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackKey {
    /// The pack's number (the console knows it).
    Id(i64),
    /// What an operator typed or scanned: a code or a number.
    Text(String),
}

impl std::fmt::Display for PackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackKey::Id(id) => write!(f, "#{id}"),
            PackKey::Text(t) => f.write_str(t),
        }
    }
}
