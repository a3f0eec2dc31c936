//! `packwright audit verify [--line URL] [--json]`: walk the audit trail's hash chain and name
//! the first broken entry (exit 1); with `--line`, also check the station file against the heads
//! the line database anchored of it. `packwright audit anchor --line URL`: record the file's
//! head there (`services::trail`). `packwright audit export [--since …] [--pack …]
//! [--csv|--json]`: the trail for auditors. Only `anchor` writes, and only to the line database.

use super::{input_error, print_json, Context, EXIT_OK, EXIT_VERIFY_FAILED};
use crate::audit::Entry;
use crate::services::trail::{self, Checked};
use crate::services::PackKey;
use crate::store::PgStore;
use crate::text::printable;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain: exit 0 when every entry holds, 1 naming the first broken entry
    Verify {
        /// Also check this station file against the heads the line database (postgres://…)
        /// anchored of it: finds a trail rewritten with every hash recomputed
        #[arg(long, value_name = "URL")]
        line: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Record this station file's chain head on the line database, after checking the chain
    /// and every earlier anchor (run it each shift, e.g. from cron; `db copy` does it too)
    Anchor {
        /// The line database's postgres:// URL
        #[arg(long, value_name = "URL")]
        line: String,
        #[arg(long)]
        json: bool,
    },
    /// Every audit entry in chain order (text, CSV or JSON)
    Export {
        /// Only entries from this time on: a date (2027-03-01) or an RFC 3339 time, UTC
        #[arg(long, value_parser = parse_since)]
        since: Option<String>,
        /// Only the entries of this pack (code or number), its cells' included
        #[arg(long)]
        pack: Option<String>,
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A `--since` as the stored stamps compare: `YYYY-MM-DD` or RFC 3339, in UTC.
fn parse_since(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(format!("{d}T00:00:00.000Z"));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| crate::clock::stamp(t.with_timezone(&chrono::Utc)))
        .map_err(|_| format!("'{s}' is not a date (2027-03-01) or an RFC 3339 time"))
}

pub fn run(cmd: AuditCommand, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    match cmd {
        AuditCommand::Verify { line: None, json } => {
            let verdict = store.verify_audit()?;
            let head = store.audit_entries(None)?.last().map(|e| e.hash.clone());
            match verdict {
                Ok(n) => {
                    if json {
                        print_json(
                            "audit.verify",
                            &serde_json::json!({"intact": true, "entries": n, "head": head}),
                        )?;
                    } else {
                        println!(
                            "audit trail intact: {n} entries, chain head {}",
                            head.as_deref().unwrap_or("(empty)")
                        );
                    }
                    Ok(EXIT_OK)
                }
                Err(broken) => say_broken(json, &broken),
            }
        }
        AuditCommand::Verify {
            line: Some(url),
            json,
        } => {
            let line = line_database(ctx, &url)?;
            let (checked, entries) =
                trail::check(&*store, &line, &ctx.actor.station).map_err(super::service_error)?;
            match checked {
                Checked::Broken { broken } => say_broken(json, &broken),
                Checked::Unanchored { anchor_break } => {
                    if json {
                        print_json(
                            "audit.verify",
                            &serde_json::json!({
                                "intact": false, "anchor_break": anchor_break,
                                "message": anchor_break.to_string(),
                            }),
                        )?;
                    }
                    let said = Checked::Unanchored { anchor_break }.to_string();
                    eprintln!("{}", printable(&said));
                    Ok(EXIT_VERIFY_FAILED)
                }
                Checked::Intact {
                    entries: n,
                    anchors_checked,
                    latest,
                } => {
                    let head = entries.last().map(|e| e.hash.clone());
                    if json {
                        print_json(
                            "audit.verify",
                            &serde_json::json!({
                                "intact": true, "entries": n, "head": head,
                                "anchors_checked": anchors_checked, "latest_anchor": latest,
                            }),
                        )?;
                    } else {
                        println!(
                            "audit trail intact: {n} entries, chain head {}",
                            head.as_deref().unwrap_or("(empty)")
                        );
                        match latest {
                            Some(a) => println!(
                                "anchored on {}: {anchors_checked} heads held, the latest #{} \
                                 at {}",
                                line.url(),
                                a.seq,
                                a.station_at
                            ),
                            None => println!(
                                "not anchored on {} yet (packwright audit anchor --line …)",
                                line.url()
                            ),
                        }
                    }
                    Ok(EXIT_OK)
                }
            }
        }
        AuditCommand::Anchor { line: url, json } => {
            let line = line_database(ctx, &url)?;
            let done = match trail::anchor(&*store, &line, &ctx.actor.station)
                .map_err(super::service_error)?
            {
                trail::Anchoring::Done(done) => done,
                trail::Anchoring::Refused(not_intact) => {
                    if json {
                        print_json(
                            "audit.anchor",
                            &serde_json::json!({
                                "anchored": false, "check": not_intact,
                                "message": not_intact.to_string(),
                            }),
                        )?;
                    }
                    eprintln!("{}; nothing anchored", printable(&not_intact.to_string()));
                    return Ok(EXIT_VERIFY_FAILED);
                }
            };
            if json {
                print_json("audit.anchor", &done)?;
                return Ok(EXIT_OK);
            }
            match &done.anchor {
                Some(a) => println!(
                    "anchored on {}: station {}, entry #{} ({}), {} earlier heads held",
                    line.url(),
                    a.station,
                    a.seq,
                    a.hash,
                    done.anchors_checked
                ),
                None if done.entries == 0 => {
                    println!("the audit trail is empty: nothing to anchor")
                }
                None => println!(
                    "already anchored on {}: the head is entry #{}",
                    line.url(),
                    done.entries
                ),
            }
            Ok(EXIT_OK)
        }
        AuditCommand::Export {
            since,
            pack,
            csv,
            json,
        } => {
            let mut entries = match pack {
                None => store.audit_entries(since.as_deref())?,
                Some(key) => {
                    let found = match key.trim_start_matches('#').parse::<i64>() {
                        Ok(id) => store.get_pack(id)?,
                        Err(_) => store.find_pack(&key)?,
                    }
                    .ok_or_else(|| {
                        input_error(anyhow::anyhow!("no pack '{}'", PackKey::Text(key)))
                    })?;
                    store.audit_entries_for_pack(found.id)?
                }
            };
            if let Some(since) = &since {
                entries.retain(|e| e.at.as_str() >= since.as_str());
            }
            if json {
                print_json("audit.export", &serde_json::json!({ "entries": entries }))?;
            } else if csv {
                let mut w = csv::Writer::from_writer(std::io::stdout().lock());
                w.write_record([
                    "seq",
                    "at",
                    "station",
                    "operator",
                    "action",
                    "subject_kind",
                    "subject",
                    "old_value",
                    "new_value",
                    "reason",
                    "signature",
                    "prev_hash",
                    "hash",
                ])?;
                for e in &entries {
                    let seq = e.seq.to_string();
                    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                    w.write_record([
                        seq.as_str(),
                        &e.at,
                        &e.station,
                        &e.operator,
                        &e.action,
                        &e.subject_kind,
                        &e.subject,
                        &opt(&e.old_value),
                        &opt(&e.new_value),
                        &opt(&e.reason),
                        &opt(&e.signature),
                        &e.prev_hash,
                        &e.hash,
                    ])?;
                }
                w.flush()?;
            } else {
                for e in &entries {
                    println!("{}", printable(&line(e)));
                }
            }
            Ok(EXIT_OK)
        }
    }
}

/// A broken chain: said on stderr (and as JSON), exit 1.
fn say_broken(json: bool, broken: &crate::audit::Break) -> anyhow::Result<u8> {
    if json {
        print_json(
            "audit.verify",
            &serde_json::json!({
                "intact": false, "broken": broken,
                "message": broken.to_string(),
            }),
        )?;
    }
    eprintln!("AUDIT TRAIL BROKEN: {}", printable(&broken.to_string()));
    Ok(EXIT_VERIFY_FAILED)
}

/// The line database a station file is checked against: a `postgres://` URL, and not the
/// database `--db` already names.
fn line_database(ctx: &Context, url: &str) -> anyhow::Result<PgStore> {
    if !crate::store::is_url(std::path::Path::new(url)) {
        return Err(input_error(anyhow::anyhow!(
            "--line must be the line database's postgres:// URL, not '{}'",
            printable(url)
        )));
    }
    if crate::store::is_url(&ctx.db) {
        return Err(input_error(anyhow::anyhow!(
            "--db is already a line database: anchors are for a station's SQLite file (give it \
             with --db FILE)"
        )));
    }
    Ok(PgStore::connect(url)?)
}

/// One entry on one line.
pub fn line(e: &Entry) -> String {
    let mut s = format!(
        "#{} {} {}@{} {} {} {}",
        e.seq, e.at, e.operator, e.station, e.action, e.subject_kind, e.subject
    );
    match (&e.old_value, &e.new_value) {
        (Some(o), Some(n)) => s.push_str(&format!(": {o} -> {n}")),
        (None, Some(n)) => s.push_str(&format!(": {n}")),
        (Some(o), None) => s.push_str(&format!(": was {o}")),
        (None, None) => {}
    }
    if let Some(r) = &e.reason {
        s.push_str(&format!(" (reason: {r})"));
    }
    if let Some(sig) = &e.signature {
        s.push_str(&format!(" [signed: {sig}]"));
    }
    s
}
