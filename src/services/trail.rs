//! A station file's audit trail against the line database: `audit anchor` records the file's
//! chain head there; `audit verify --line` (and the next anchor) checks that the file still
//! holds every head anchored. A hash chain alone is found out by anyone who edits an entry
//! without recomputing the hashes after it; an attacker with the file who recomputes them all
//! is found only by a head kept elsewhere, which is what the line database keeps.

use super::Result;
use crate::audit::{self, Anchor, AnchorBreak, Break, Entry};
use crate::store::prelude::*;
use crate::store::PgStore;

/// What a station file's trail is, checked against the line database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Checked {
    /// Every link and hash holds and every anchor of it is in it.
    Intact {
        entries: usize,
        anchors_checked: usize,
        /// The newest anchor of this trail, if any.
        latest: Option<Anchor>,
    },
    /// The chain itself is broken (found without the line database).
    Broken { broken: Break },
    /// The chain holds, but not what the line database anchored of it.
    Unanchored { anchor_break: AnchorBreak },
}

/// Walk `file`'s trail and compare it with the anchors `line` holds for it and for
/// `station` (the station checking; the trail's own stations too).
pub fn check(file: &dyn LineStore, line: &PgStore, station: &str) -> Result<(Checked, Vec<Entry>)> {
    let entries = file.audit_entries(None)?;
    let checked = match audit::verify(&entries) {
        Err(broken) => Checked::Broken { broken },
        Ok(count) => {
            let mut stations: Vec<String> = entries.iter().map(|e| e.station.clone()).collect();
            stations.push(station.to_string());
            stations.sort();
            stations.dedup();
            let anchors = line.anchors(audit::trail_id(&entries), &stations)?;
            match audit::check_anchors(&entries, &anchors, station) {
                Ok(n) => Checked::Intact {
                    entries: count,
                    anchors_checked: n,
                    latest: anchors
                        .iter()
                        .filter(|a| Some(a.trail.as_str()) == audit::trail_id(&entries))
                        .max_by_key(|a| a.seq)
                        .cloned(),
                },
                Err(anchor_break) => Checked::Unanchored { anchor_break },
            }
        }
    };
    Ok((checked, entries))
}

/// What `anchor` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anchored {
    pub entries: usize,
    pub anchors_checked: usize,
    /// The head recorded now; `None` when the trail is empty or its head already anchored.
    pub anchor: Option<Anchor>,
}

/// What [`anchor`] came to.
#[derive(Debug)]
pub enum Anchoring {
    Done(Anchored),
    /// Not anchored: the trail is broken or not what was anchored of it before.
    Refused(Checked),
}

/// Record `file`'s chain head on `line` under `station`, after checking the chain and every
/// earlier anchor of it: a broken or rewritten trail is never anchored (`Ok(Err(verdict))`),
/// so an anchor vouches for everything up to it.
pub fn anchor(file: &dyn LineStore, line: &PgStore, station: &str) -> Result<Anchoring> {
    let (checked, entries) = check(file, line, station)?;
    let Checked::Intact {
        entries: count,
        anchors_checked,
        latest,
    } = checked
    else {
        return Ok(Anchoring::Refused(checked));
    };
    let (Some(trail), Some(head)) = (audit::trail_id(&entries), entries.last()) else {
        return Ok(Anchoring::Done(Anchored {
            entries: 0,
            anchors_checked,
            anchor: None,
        }));
    };
    let anchor = if latest.is_some_and(|a| a.seq == head.seq) {
        None
    } else {
        Some(line.record_anchor(station, trail, (head.seq, &head.hash))?)
    };
    Ok(Anchoring::Done(Anchored {
        entries: count,
        anchors_checked,
        anchor,
    }))
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Checked::Intact { entries, .. } => write!(f, "audit trail intact: {entries} entries"),
            Checked::Broken { broken } => write!(f, "AUDIT TRAIL BROKEN: {broken}"),
            Checked::Unanchored { anchor_break } => {
                write!(f, "AUDIT TRAIL REWRITTEN: {anchor_break}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{actor, add_pack, pg_cluster::fresh_db};
    use crate::store::Store;

    fn station_file(dir: &std::path::Path) -> Store {
        let mut file = Store::open(&dir.join("station.db")).unwrap();
        add_pack(&mut file);
        file
    }

    #[test]
    fn anchoring_records_the_head_once_and_refuses_a_rewritten_trail() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = station_file(dir.path());
        let line = PgStore::connect(&fresh_db()).unwrap();
        let station = &actor().station;

        let anchor = |file: &Store| match anchor(file, &line, station).unwrap() {
            Anchoring::Done(done) => Ok(done),
            Anchoring::Refused(checked) => Err(checked.to_string()),
        };
        let first = anchor(&file).unwrap();
        let a = first.anchor.clone().unwrap();
        assert_eq!((first.entries, a.seq), (2, 2));
        assert_eq!(anchor(&file).unwrap().anchor, None, "already anchored");

        file.set_cell_source(&actor(), &["a".to_string()], "M9")
            .unwrap();
        let next = anchor(&file).unwrap();
        assert_eq!((next.anchors_checked, next.anchor.unwrap().seq), (1, 3));

        // The file rewritten with every hash recomputed: its own chain holds, the anchors do not.
        drop(file);
        let conn = rusqlite::Connection::open(dir.path().join("station.db")).unwrap();
        conn.execute_batch("DROP TRIGGER audit_log_no_update")
            .unwrap();
        let mut entries = Store::open(&dir.path().join("station.db"))
            .unwrap()
            .audit_entries(None)
            .unwrap();
        entries[1].reason = Some("rewritten".into());
        let mut prev: Option<(i64, String)> = Some((1, entries[0].hash.clone()));
        for e in entries.iter_mut().skip(1) {
            let sealed = audit::seal(e.clone(), prev.as_ref().map(|(s, h)| (*s, h.as_str())));
            conn.execute(
                "UPDATE audit_log SET reason = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                rusqlite::params![sealed.reason, sealed.prev_hash, sealed.hash, sealed.seq],
            )
            .unwrap();
            prev = Some((sealed.seq, sealed.hash));
        }
        drop(conn);
        let file = Store::open(&dir.path().join("station.db")).unwrap();
        assert_eq!(file.verify_audit().unwrap(), Ok(3), "the chain alone holds");
        match check(&file, &line, station).unwrap().0 {
            Checked::Unanchored {
                anchor_break: AnchorBreak::Rewritten { anchor, .. },
            } => assert_eq!(anchor.seq, 2),
            other => panic!("{other:?}"),
        }
        let refused = anchor(&file).unwrap_err();
        assert!(refused.to_string().contains("REWRITTEN"), "{refused}");
        assert_eq!(
            line.anchors(None, std::slice::from_ref(station))
                .unwrap()
                .len(),
            2,
            "nothing anchored over the rewrite"
        );
    }
}
