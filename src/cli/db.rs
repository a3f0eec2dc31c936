//! `packwright db copy --from FILE --to postgres://…`: a station's SQLite history into the line
//! database, in one transaction, verified table by table (row counts and a SHA-256 each).

use super::{input_error, print_json, Context, EXIT_OK};
use crate::store::PgStore;
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

pub fn run(cmd: DbCommand, _ctx: &Context) -> anyhow::Result<u8> {
    let DbCommand::Copy { from, to, json } = cmd;
    if !crate::store::is_url(std::path::Path::new(&to)) {
        return Err(input_error(anyhow::anyhow!(
            "--to must be the line database's postgres:// URL, not '{}'",
            crate::text::printable(&to)
        )));
    }
    let line = PgStore::connect(&to)?;
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
        "{} copied into {}: every table verified (rows and sha256)",
        from.display(),
        line.url()
    );
    Ok(EXIT_OK)
}
