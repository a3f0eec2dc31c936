//! `packwright db copy --from FILE --to postgres://…`: a station's SQLite history into the line
//! database, in one transaction, verified table by table (row counts and a SHA-256 each). The
//! file's audit trail is checked first (its chain, and the heads the line database anchored of
//! it: a broken or rewritten trail is not copied) and its head anchored after.

use super::{input_error, print_json, Context, EXIT_OK};
use crate::services::trail;
use crate::store::prelude::*;
use crate::store::{PgStore, Store};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a station's SQLite file into the line database (idempotent; verified per table)
    Copy {
        /// The station's SQLite file
        #[arg(long)]
        from: PathBuf,
        /// The line database's postgres:// URL
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DbCommand, ctx: &Context) -> anyhow::Result<u8> {
    let DbCommand::Copy { from, to, json } = cmd;
    if !crate::store::is_url(std::path::Path::new(&to)) {
        return Err(input_error(anyhow::anyhow!(
            "--to must be the line database's postgres:// URL, not '{}'",
            crate::text::printable(&to)
        )));
    }
    let line = PgStore::connect(&to)?;
    let file = Store::open_existing(&from)?;
    // The station that wrote the file (its newest entry's), not the machine copying it.
    let station = file
        .audit_entries(None)?
        .last()
        .map_or_else(|| ctx.actor.station.clone(), |e| e.station.clone());
    // Refused before a row is copied when the trail is broken or rewritten.
    if let trail::Anchoring::Refused(not_intact) =
        trail::anchor(&file, &line, &station).map_err(super::service_error)?
    {
        eprintln!(
            "{}; nothing copied",
            crate::text::printable(&not_intact.to_string())
        );
        return Ok(super::EXIT_VERIFY_FAILED);
    }
    drop(file);
    let report = line.copy_from_file(&from)?;
    if json {
        print_json("db.copy", &report)?;
        return Ok(EXIT_OK);
    }
    for t in &report {
        println!(
            "{:<20} {:>8} rows ({} copied now)  sha256 {}",
            t.table, t.rows, t.inserted, t.sha256
        );
    }
    println!(
        "{} copied into {}: every table verified (rows and sha256), its audit trail's head \
         anchored",
        from.display(),
        line.url()
    );
    Ok(EXIT_OK)
}
