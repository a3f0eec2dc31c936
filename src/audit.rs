//! The audit trail's rules, pure: what an entry holds, its canonical content, its hash, and
//! the walk that proves a chain unbroken or names the first entry that breaks it.
//!
//! Each entry stores `hash = SHA-256(prev_hash ‖ canonical content)`, where `prev_hash` is the
//! hash of the entry before it (64 zeros for the first) and the canonical content is every
//! field of the entry, its sequence number included, each written as `name=<byte length>:value`
//! (or `name=-` when absent) on its own line. A changed field changes the hash; a deleted,
//! inserted or moved entry breaks the `prev_hash` link or the sequence; so anyone who edits the
//! file without recomputing every later hash is found by [`verify`]. Someone who recomputes the
//! whole chain is found only by comparing its head with a copy kept elsewhere: [`check_anchors`]
//! compares a trail with the heads the line database anchored of it.
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

/// A station file's chain head as the line database recorded it (`packwright audit anchor`):
/// what the file's trail must still hold, whoever rewrote the file since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The station whose file was anchored.
    pub station: String,
    /// Which trail: the hash of its first entry ([`trail_id`]).
    pub trail: String,
    /// The head anchored: its sequence number and hash.
    pub seq: i64,
    pub hash: String,
    /// The station's clock when it anchored, and the line database's on receipt.
    pub station_at: String,
    pub received_at: String,
}

/// A trail's identity: the hash of its first entry (`None` for an empty trail).
pub fn trail_id(entries: &[Entry]) -> Option<&str> {
    entries.first().map(|e| e.hash.as_str())
}

/// How a station file's trail disagrees with what the line database anchored of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AnchorBreak {
    /// The entry at an anchored sequence number has another hash: the trail was rewritten (its
    /// hashes recomputed) at or before it.
    Rewritten { anchor: Box<Anchor>, found: String },
    /// The trail ends before an anchored entry: it was cut back.
    CutBack { anchor: Box<Anchor>, last: i64 },
    /// The file's trail is not one the line database anchored for its stations: rewritten
    /// from its first entry, or another file.
    OtherTrail {
        anchor: Box<Anchor>,
        trail: Option<String>,
    },
}

impl std::fmt::Display for AnchorBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |a: &Anchor| {
            format!(
                "entry #{} as anchored by station {} at {} (line database time {})",
                a.seq, a.station, a.station_at, a.received_at
            )
        };
        match self {
            AnchorBreak::Rewritten { anchor, found } => write!(
                f,
                "{} had hash {}, the file's has {}: the trail was rewritten at or before \
                 entry #{}",
                at(anchor),
                short(&anchor.hash),
                short(found),
                anchor.seq
            ),
            AnchorBreak::CutBack { anchor, last } => write!(
                f,
                "{} is missing: the file's trail ends at #{last}, it was cut back",
                at(anchor)
            ),
            AnchorBreak::OtherTrail { anchor, trail } => write!(
                f,
                "the line database holds station {}'s trail starting {} (latest {}), this file's \
                 trail {}: rewritten from its first entry, or not that station's file",
                anchor.station,
                short(&anchor.trail),
                at(anchor),
                trail
                    .as_deref()
                    .map_or("is empty".to_string(), |t| format!("starts {}", short(t)))
            ),
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Check a trail (already [`verify`]d) against the anchors the line database holds for it and
/// for the stations that wrote it: every anchor of this trail must be an entry of it, hash for
/// hash, and a station with anchors (one named in the trail, or `station`, the one checking)
/// must have one of this trail. `Ok` gives how many anchors of this trail held; other stations'
/// anchors are not looked at.
pub fn check_anchors(
    entries: &[Entry],
    anchors: &[Anchor],
    station: &str,
) -> Result<usize, AnchorBreak> {
    let trail = trail_id(entries);
    let mine: Vec<&Anchor> = anchors
        .iter()
        .filter(|a| Some(a.trail.as_str()) == trail)
        .collect();
    for a in &mine {
        // Sequence numbers run 1, 2, 3 … in a verified trail.
        match usize::try_from(a.seq - 1).ok().and_then(|i| entries.get(i)) {
            Some(e) if e.hash == a.hash => {}
            Some(e) => {
                return Err(AnchorBreak::Rewritten {
                    anchor: Box::new((*a).clone()),
                    found: e.hash.clone(),
                })
            }
            None => {
                return Err(AnchorBreak::CutBack {
                    anchor: Box::new((*a).clone()),
                    last: entries.last().map_or(0, |e| e.seq),
                })
            }
        }
    }
    if mine.is_empty() {
        let stations: std::collections::BTreeSet<&str> = entries
            .iter()
            .map(|e| e.station.as_str())
            .chain([station])
            .collect();
        if let Some(other) = anchors
            .iter()
            .filter(|a| stations.contains(a.station.as_str()))
            .max_by_key(|a| a.seq)
        {
            return Err(AnchorBreak::OtherTrail {
                anchor: Box::new(other.clone()),
                trail: trail.map(str::to_string),
            });
        }
    }
    Ok(mine.len())
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

    fn anchor_of(c: &[Entry], seq: usize) -> Anchor {
        Anchor {
            station: "s1".into(),
            trail: c[0].hash.clone(),
            seq: c[seq - 1].seq,
            hash: c[seq - 1].hash.clone(),
            station_at: "2027-01-01T00:00:00.000Z".into(),
            received_at: "2027-01-01T00:00:01.000Z".into(),
        }
    }

    /// The attacker of the module's doc: change an entry and recompute every hash after it.
    fn rewritten(c: &[Entry], from: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = c[..from - 1].to_vec();
        for e in &c[from - 1..] {
            let mut e = e.clone();
            if e.seq == from as i64 {
                e.reason = Some("routine check".into());
            }
            let prev = out.last().map(|p| (p.seq, p.hash.as_str()));
            out.push(seal(e, prev));
        }
        out
    }

    #[test]
    fn anchors_find_a_recomputed_chain_that_verify_alone_passes() {
        let c = chain(6);
        let anchors = [anchor_of(&c, 2), anchor_of(&c, 4)];
        assert_eq!(check_anchors(&c, &anchors, "s1"), Ok(2));
        // Grown since the anchors: still fine.
        let mut longer = c.clone();
        let prev = longer.last().map(|e| (e.seq, e.hash.clone())).unwrap();
        longer.push(seal(entry("pack hold", "#9"), Some((prev.0, &prev.1))));
        assert_eq!(check_anchors(&longer, &anchors, "s1"), Ok(2));

        // Rewritten at 3, every later hash recomputed: the chain verifies, the anchor at 4 does not.
        let r = rewritten(&c, 3);
        assert_eq!(verify(&r), Ok(6));
        match check_anchors(&r, &anchors, "s1") {
            Err(AnchorBreak::Rewritten { anchor, .. }) => assert_eq!(anchor.seq, 4),
            other => panic!("{other:?}"),
        }
        // Rewritten after the last anchor: not findable by anchors yet (the next anchor will).
        assert_eq!(check_anchors(&rewritten(&c, 5), &anchors, "s1"), Ok(2));

        // Cut back to 3 entries.
        match check_anchors(&c[..3], &anchors, "s1") {
            Err(AnchorBreak::CutBack { anchor, last }) => assert_eq!((anchor.seq, last), (4, 3)),
            other => panic!("{other:?}"),
        }

        // Rewritten from the first entry: another trail for the same station.
        let r = rewritten(&c, 1);
        assert_eq!(verify(&r), Ok(6));
        let b = check_anchors(&r, &anchors, "s1").unwrap_err();
        assert!(matches!(b, AnchorBreak::OtherTrail { .. }), "{b:?}");
        assert!(b.to_string().contains("station s1"), "{b}");
        // Emptied: checked from the station that anchored it.
        let b = check_anchors(&[], &anchors, "s1").unwrap_err();
        assert!(b.to_string().contains("trail is empty"), "{b}");
        // Another station's anchors say nothing of this file.
        let mut elsewhere = anchor_of(&c, 2);
        elsewhere.station = "s2".into();
        elsewhere.trail = "x".repeat(64);
        assert_eq!(check_anchors(&c, &[elsewhere], "s1"), Ok(0));
    }
}
