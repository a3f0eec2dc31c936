//! `packwright line status [--json]`: the line database's stations (role, line, software
//! version, operator, last contact by the server's clock and by the station's) and its packs by
//! stage.

use super::{input_error, print_json, Context, EXIT_OK};
use crate::store::{outbox_path, Backlog, Forwarder, PgStore};
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
    let backlog = station_backlog(ctx)?;
    if json {
        let mut doc = serde_json::to_value(&status)?;
        doc["backlog"] = serde_json::to_value(&backlog)?;
        print_json("line.status", &doc)?;
        return Ok(EXIT_OK);
    }
    println!("line database {}", store.url());
    println!("{}", backlog.line());
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

/// This station's store-and-forward backlog, as `line status` shows it.
#[derive(Debug, serde::Serialize)]
pub struct StationBacklog {
    pub station: String,
    #[serde(flatten)]
    pub backlog: Backlog,
    /// Seconds since the oldest queued record was written, by the station's clock.
    pub oldest_age_s: Option<i64>,
}

impl StationBacklog {
    /// `backlog of bench-1: 37 records queued, the oldest 12 min old`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "backlog of {}: {} record(s) queued",
            printable(&self.station),
            self.backlog.queued
        );
        if let Some(age) = self.oldest_age_s {
            line.push_str(&format!(", the oldest {} s old", age));
        }
        if self.backlog.refused > 0 {
            line.push_str(&format!(
                "; {} refused by the line database (kept in the outbox)",
                self.backlog.refused
            ));
        }
        line
    }
}

/// The backlog of this station's outbox for this line database (none when it has no outbox).
pub fn station_backlog(ctx: &Context) -> anyhow::Result<StationBacklog> {
    let backlog = match Forwarder::open_existing(
        &outbox_path(),
        &ctx.db.to_string_lossy(),
        &ctx.actor.station,
    )? {
        Some(f) => f.backlog()?,
        None => Backlog::default(),
    };
    let oldest_age_s = backlog.oldest_age_s(crate::clock::Clock::from_env()?.now());
    Ok(StationBacklog {
        station: ctx.actor.station.clone(),
        backlog,
        oldest_age_s,
    })
}
