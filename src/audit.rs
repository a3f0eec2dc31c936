//! The audit trail's rules, pure: what an entry holds, its canonical content, its hash, and
//! the walk that proves a chain unbroken or names the first entry that breaks it.
//!
//! Each entry stores `hash = SHA-256(prev_hash ‖ canonical content)`, where `prev_hash` is the
//! hash of the entry before it (64 zeros for the first) and the canonical content is every
//! field of the entry, its sequence number included, each written as `name=<byte length>:value`
//! (or `name=-` when absent) on its own line. A changed field changes the hash; a deleted,
//! inserted or moved entry breaks the `prev_hash` link or the sequence; so anyone who edits the
//! file without recomputing every later hash is found by [`verify`]. Someone who recomputes the
//! whole chain is found only by comparing its head with a copy kept elsewhere.
//!
//! No I/O, no clock: the store stamps the time and writes; this module only computes.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Cell,
    Pack,
    Board,
    Profile,
    Operator,
    Batch,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Cell => "cell",
            SubjectKind::Pack => "pack",
            SubjectKind::Board => "board",
            SubjectKind::Profile => "profile",
            SubjectKind::Operator => "operator",
            SubjectKind::Batch => "batch",
        }
    }
}

/// One audit entry as stored (its hashes included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    pub at: String,
    pub station: String,
    pub operator: String,
    /// What was done, e.g. `pack scrap`, `bms write`, `eol run`, `operator add`.
    pub action: String,
    /// `cell`, `pack`, `board`, `profile`, `operator`, `batch`.
    pub subject_kind: String,
    pub subject: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    /// The meaning of the operator's signature when the action needed re-authentication
    /// (e.g. `scrap approved`), with how it was given; absent otherwise.
    pub signature: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The canonical content of an entry: every field but the hashes, in a fixed order, each
/// length-prefixed so no two different entries serialise alike.
pub fn canonical(e: &Entry) -> String {
    let mut out = String::from("packwright-audit-v1\n");
    let mut field = |name: &str, value: Option<&str>| {
        out.push_str(name);
        match value {
            Some(v) => {
                out.push('=');
                out.push_str(&v.len().to_string());
                out.push(':');
                out.push_str(v);
            }
            None => out.push_str("=-"),
        }
        out.push('\n');
    };
    field("seq", Some(&e.seq.to_string()));
    field("at", Some(&e.at));
    field("station", Some(&e.station));
    field("operator", Some(&e.operator));
    field("action", Some(&e.action));
    field("subject_kind", Some(&e.subject_kind));
    field("subject", Some(&e.subject));
    field("old", e.old_value.as_deref());
    field("new", e.new_value.as_deref());
    field("reason", e.reason.as_deref());
    field("signature", e.signature.as_deref());
    out
}

/// `SHA-256(prev_hash ‖ canonical content)`, lower-case hex.
pub fn hash(prev_hash: &str, e: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical(e).as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Complete a new entry: its sequence number and hashes from the entry before it.
pub fn seal(mut e: Entry, previous: Option<(i64, &str)>) -> Entry {
    let (seq, prev) = match previous {
        Some((seq, h)) => (seq + 1, h.to_string()),
        None => (1, GENESIS.to_string()),
    };
    e.seq = seq;
    e.hash = hash(&prev, &e);
    e.prev_hash = prev;
    e
}

/// Why the chain is broken at an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry's content does not give its stored hash: it was changed after it was written.
    ContentChanged,
    /// The entry's `prev_hash` is not the hash of the entry before it: an entry was deleted,
    /// inserted or moved before it.
    LinkBroken,
    /// The sequence number is not the one after the entry before it.
    SequenceGap { expected: i64 },
}

/// The first entry at which a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub subject: String,
    pub kind: BreakKind,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            BreakKind::ContentChanged => {
                "its content does not match its hash: it was changed after it was written"
                    .to_string()
            }
            BreakKind::LinkBroken => "its previous-entry hash does not match the entry before it: \
                 an entry was deleted, inserted or moved before it"
                .to_string(),
            BreakKind::SequenceGap { expected } => format!(
                "its sequence number should be {expected}: an entry was deleted, inserted or moved \
                 before it"
            ),
        };
        write!(
            f,
            "audit entry #{} ({} {} {}): {what}",
            self.seq, self.at, self.action, self.subject
        )
    }
}

/// Walk entries in stored order: `Ok(count)` when every link and hash holds, else the first
/// entry that breaks the chain.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<usize, Break> {
    let mut prev_hash = GENESIS.to_string();
    let mut count = 0;
    for (expected, e) in (1..).zip(entries) {
        let broken = |kind| Break {
            seq: e.seq,
            at: e.at.clone(),
            action: e.action.clone(),
            subject: format!("{} {}", e.subject_kind, e.subject),
            kind,
        };
        if e.prev_hash != prev_hash {
            return Err(broken(BreakKind::LinkBroken));
        }
        if hash(&e.prev_hash, e) != e.hash {
            return Err(broken(BreakKind::ContentChanged));
        }
        if e.seq != expected {
            return Err(broken(BreakKind::SequenceGap { expected }));
        }
        prev_hash = e.hash.clone();
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, subject: &str) -> Entry {
        Entry {
            seq: 0,
            at: "2027-01-01T00:00:00.000Z".into(),
            station: "s1".into(),
            operator: "ana".into(),
            action: action.into(),
            subject_kind: "pack".into(),
            subject: subject.into(),
            old_value: Some("assembled".into()),
            new_value: None,
            reason: Some("drop test".into()),
            signature: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn chain(n: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = seal(entry("pack hold", &format!("#{i}")), prev);
            out.push(e);
        }
        out
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let c = chain(4);
        assert_eq!(c[0].prev_hash, GENESIS);
        assert_eq!(c[3].seq, 4);
        assert_eq!(verify(&c), Ok(4));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn absent_and_empty_values_hash_differently() {
        let mut a = entry("x", "1");
        let mut b = a.clone();
        a.reason = None;
        b.reason = Some(String::new());
        assert_ne!(hash(GENESIS, &a), hash(GENESIS, &b));
        // A value cannot pose as the next field.
        let mut c = entry("x", "1");
        c.reason = Some("r\nsignature=-".into());
        let mut d = entry("x", "1");
        d.reason = Some("r".into());
        assert_ne!(canonical(&c), canonical(&d));
    }

    #[test]
    fn each_kind_of_tampering_names_its_entry() {
        let mut c = chain(4);
        c[1].reason = Some("nothing happened".into());
        let b = verify(&c).unwrap_err();
        assert_eq!((b.seq, b.kind), (2, BreakKind::ContentChanged));

        let mut c = chain(4);
        c.remove(1);
        assert_eq!(verify(&c).unwrap_err().seq, 3);

        let mut c = chain(4);
        c.swap(1, 2);
        assert_eq!(verify(&c).unwrap_err().seq, 3);

        let mut c = chain(4);
        let forged = c[1].clone();
        c.insert(2, forged);
        let b = verify(&c).unwrap_err();
        assert_eq!(b.kind, BreakKind::LinkBroken);

        // Renumbering after a deletion still leaves the link broken.
        let mut c = chain(4);
        c.remove(1);
        c[1].seq = 2;
        assert_eq!(verify(&c).unwrap_err().kind, BreakKind::LinkBroken);
    }
}
