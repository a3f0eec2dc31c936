//! `packwright line status [--json]`: the line database's stations (role, line, software
//! version, operator, last contact by the server's clock and by the station's) and its packs by
//! stage.

use super::{input_error, print_json, Context, EXIT_OK};
use crate::store::PgStore;
use crate::text::printable;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// The stations of the line database, their last contact, and packs by stage
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: LineCommand, ctx: &Context) -> anyhow::Result<u8> {
    let LineCommand::Status { json } = cmd;
    if !crate::store::is_url(&ctx.db) {
        return Err(input_error(anyhow::anyhow!(
            "{} is one station's SQLite file; the line's status is kept by the line database: \
             give --db postgres://… (or PACKWRIGHT_DB)",
            ctx.db.display()
        )));
    }
    let store = PgStore::connect(&ctx.db.to_string_lossy())?;
    store.station_contact(&ctx.station_info())?;
    let status = store.line_status()?;
    if json {
        print_json("line.status", &status)?;
        return Ok(EXIT_OK);
    }
    println!("line database {}", store.url());
    println!("stations: {}", status.stations.len());
    for s in &status.stations {
        println!(
            "  {:<14} {:<10} {:<8} v{:<8} last contact {} (station clock {}), {}",
            printable(&s.name),
            printable(s.role.as_deref().unwrap_or("-")),
            printable(s.line.as_deref().unwrap_or("-")),
            printable(&s.software_version),
            s.last_contact,
            s.station_clock,
            printable(&s.operator)
        );
    }
    let stages: Vec<String> = status
        .packs_by_stage
        .iter()
        .map(|(stage, n)| format!("{stage} {n}"))
        .collect();
    println!("packs: {}", stages.join(", "));
    Ok(EXIT_OK)
}
