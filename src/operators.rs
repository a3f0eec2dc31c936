//! Operators: roles, PIN hashing (Argon2id), station tokens and the failed-login policy. No
//! store and no clock: the store keeps the registry, `services::authority` decides.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHasher};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Roles, each including what the ones before it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Intake, matching, assembly, configuration, tests, labels.
    Operator,
    /// Adds: configuration overrides, profile management, rework release, un-reject.
    Engineer,
    /// Adds: disposition of packs on hold, scrap, release of a failed pack for retest.
    Quality,
    /// Adds: operators and roles.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Engineer, Role::Quality, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Engineer => "engineer",
            Role::Quality => "quality",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failed logins within [`FAILURE_WINDOW_MINUTES`] that block a badge.
pub const MAX_FAILURES: i64 = 5;
/// The window in which failures count, and how long a badge then stays blocked.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is 4 to 12 digits")]
    Shape,
    #[error("cannot hash the PIN: {0}")]
    Hash(String),
}

/// Whether a PIN has an acceptable shape: 4 to 12 digits.
pub fn check_pin_shape(pin: &str) -> Result<(), PinError> {
    if (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PinError::Shape)
    }
}

/// An Argon2id PHC string for a PIN, with a fresh random salt.
pub fn hash_pin(pin: &str) -> Result<String, PinError> {
    check_pin_shape(pin)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinError::Hash(e.to_string()))
}

/// Whether `pin` matches a stored PHC string (a damaged string never matches).
pub fn verify_pin(pin: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new station token: 32 random bytes, hex (shown once; only its hash is kept).
pub fn new_token() -> String {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("pwt_{}", hex(&bytes))
}

/// What the store keeps of a token: its SHA-256 (a token is long and random, so a fast hash
/// is enough).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an operator id or badge code is acceptable: 1 to 64 printable characters, no
/// spaces or control characters.
pub fn check_code(what: &str, code: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > 64 {
        return Err(format!("{what} must be 1 to 64 characters"));
    }
    if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} '{code}' may not contain spaces or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Operator < Role::Engineer && Role::Engineer < Role::Quality);
        assert!(Role::Quality < Role::Admin);
        assert_eq!(Role::parse("quality"), Some(Role::Quality));
        assert_eq!(Role::parse("boss"), None);
    }

    #[test]
    fn a_pin_hashes_with_argon2id_and_verifies() {
        let h = hash_pin("4711").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_pin("4711", &h));
        assert!(!verify_pin("4712", &h));
        assert!(!verify_pin("4711", "garbage"));
        assert_ne!(hash_pin("4711").unwrap(), h, "salted");
        assert!(hash_pin("12").is_err());
        assert!(hash_pin("12ab").is_err());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a), token_hash(&format!("{a}\n")));
        assert_eq!(token_hash(&a).len(), 64);
    }
}
