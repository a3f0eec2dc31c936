//! `packwright cells import|list|show|reject|unreject|source`.

use super::progress::Progress;
use super::{input_error, print_json, service_error, Context, EXIT_OK};
use crate::chemistry::Chemistry;
use crate::domain::CellStatus;
use crate::intake::{self, IntakeDefaults};
use crate::services;
use crate::services::cells::ImportFailure;
use crate::store::CellFilter;
use crate::text::printable;
use anyhow::Context as _;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CellsCommand {
    /// Import a grading-cabinet export (CSV, or JSON by extension); all rows or none
    Import {
        file: PathBuf,
        /// The file's chemistry, for files without a chemistry column (a row naming another is refused)
        #[arg(long)]
        chemistry: Option<Chemistry>,
        /// Source module/pack code for rows that do not give one
        #[arg(long)]
        source: Option<String>,
        /// Model for rows that do not give one
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List cells
    List {
        #[arg(long)]
        status: Option<CellStatus>,
        #[arg(long)]
        chemistry: Option<Chemistry>,
        /// Only cells harvested from this module/pack code
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one cell
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a cell out of stock with the reason (rejected at inspection, or scrapped)
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
        /// Scrap it rather than reject it
        #[arg(long)]
        scrap: bool,
    },
    /// Return a rejected or scrapped cell to stock (available), with the reason
    Unreject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Record the source module/pack code of cells already imported
    Source {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        module: String,
    },
}

fn input_error_msg(message: String) -> anyhow::Error {
    input_error(anyhow::anyhow!(message))
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

pub fn run(cmd: CellsCommand, ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        CellsCommand::Import {
            file,
            chemistry,
            source,
            model,
            json,
        } => {
            let source = source
                .map(|s| intake::normalise_code(&s, "source code"))
                .transpose()
                .map_err(input_error_msg)?;
            let defaults = IntakeDefaults {
                chemistry_must_match: chemistry.is_some(),
                chemistry,
                source_code: source,
                model,
            };
            let name = file.display().to_string();
            let mut store = ctx.open_store()?;
            let total = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let progress = Progress::bytes("importing", total);
            let imported =
                services::cells::import_file(&mut *store, &ctx.actor, &file, &defaults, &mut |p| {
                    progress.set(p.bytes)
                });
            progress.done();
            let imported = match imported {
                Ok(imported) => imported,
                Err(ImportFailure::File(e)) => return Err(input_error(e)),
                Err(ImportFailure::Store(e)) => return Err(e.into()),
            };
            eprintln!("note: {}: read as {}", printable(&name), imported.format);
            let missing_source = imported.without_source_code;
            if json {
                print_json(
                    "cells.import",
                    &serde_json::json!({
                        "file": name, "batch": imported.batch, "imported": imported.cells,
                        "format": imported.format, "ignored_columns": imported.ignored_columns,
                        "cells_without_source_code": missing_source,
                    }),
                )?;
            } else {
                println!(
                    "imported {} cells from {} (batch {})",
                    imported.cells,
                    printable(&name),
                    imported.batch
                );
                if !imported.ignored_columns.is_empty() {
                    println!("ignored columns: {}", imported.ignored_columns.join(", "));
                }
                if missing_source > 0 {
                    println!(
                        "warning: {missing_source} cells have no source code; they cannot pass the end-of-line test until it is recorded (use --source)"
                    );
                }
            }
            Ok(EXIT_OK)
        }
        CellsCommand::List {
            status,
            chemistry,
            source,
            json,
        } => {
            let store = ctx.open_existing_store()?;
            let cells = store.list_cells(&CellFilter {
                status,
                chemistry,
                source_code: source,
            })?;
            if json {
                print_json("cells.list", &cells)?;
            } else {
                println!(
                    "{:<24} {:<4} {:>10} {:>9} {:>8} {:<10} {:<16}",
                    "id", "chem", "cap mAh", "IR mΩ", "OCV mV", "status", "source"
                );
                for c in &cells {
                    println!(
                        "{:<24} {:<4} {:>10} {:>9} {:>8} {:<10} {:<16}",
                        printable(&c.id),
                        c.chemistry.name(),
                        fmt_opt(c.capacity_mah, 0),
                        fmt_opt(c.ir_mohm, 3),
                        fmt_opt(c.ocv_mv, 0),
                        c.status.as_str(),
                        printable(c.source_code.as_deref().unwrap_or("-"))
                    );
                }
                println!("{} cells", cells.len());
            }
            Ok(EXIT_OK)
        }
        CellsCommand::Show { id, json } => {
            // Typed or scanned ids are looked up as intake stored them (trimmed, NFC).
            let id = intake::normalise_code(&id, "id").map_err(input_error_msg)?;
            let store = ctx.open_existing_store()?;
            let cell = store
                .get_cell(&id)?
                .with_context(|| format!("no cell '{}' in {}", printable(&id), store.location()))
                .map_err(input_error)?;
            let pack = store.pack_of_cell(&id)?;
            if json {
                let mut v = serde_json::to_value(&cell)?;
                v["pack_id"] = serde_json::json!(pack);
                print_json("cells.show", &v)?;
            } else {
                let text = |t: &Option<String>| printable(t.as_deref().unwrap_or("-")).into_owned();
                println!("cell       {}", printable(&cell.id));
                println!("chemistry  {}", cell.chemistry);
                println!("model      {}", text(&cell.model));
                println!("capacity   {} mAh", fmt_opt(cell.capacity_mah, 0));
                println!("IR         {} mΩ", fmt_opt(cell.ir_mohm, 3));
                println!("OCV        {} mV", fmt_opt(cell.ocv_mv, 0));
                println!(
                    "self-dis.  {} mV/day",
                    fmt_opt(cell.self_discharge_mv_per_day, 2)
                );
                println!("grade      {}", text(&cell.grade));
                println!("source     {}", text(&cell.source_code));
                println!(
                    "status     {}{}",
                    cell.status,
                    cell.status_reason
                        .map(|r| format!(" ({})", printable(&r)))
                        .unwrap_or_default()
                );
                println!(
                    "pack       {}",
                    pack.map(|p| format!("#{p}")).unwrap_or_else(|| "-".into())
                );
            }
            Ok(EXIT_OK)
        }
        CellsCommand::Reject { id, reason, scrap } => {
            let id = intake::normalise_code(&id, "id").map_err(input_error_msg)?;
            let mut store = ctx.open_store()?;
            let done = services::cells::reject(&mut *store, &ctx.actor, &id, scrap, &reason)
                .map_err(service_error)?;
            println!(
                "cell {} {}: {}",
                printable(&id),
                done.status,
                printable(&done.reason)
            );
            if let Some(effect) = &done.pack_effect {
                println!("{effect}");
            }
            Ok(EXIT_OK)
        }
        CellsCommand::Unreject { id, reason } => {
            let mut store = ctx.open_store()?;
            services::cells::unreject(&mut *store, &ctx.actor, &id, &reason)
                .map_err(service_error)?;
            println!(
                "cell {} back to available: {}",
                printable(&id),
                printable(&reason)
            );
            Ok(EXIT_OK)
        }
        CellsCommand::Source { ids, module } => {
            let mut store = ctx.open_store()?;
            services::cells::set_source(&mut *store, &ctx.actor, &ids, &module)
                .map_err(service_error)?;
            println!(
                "source module {} recorded for {} cells",
                printable(&module),
                ids.len()
            );
            Ok(EXIT_OK)
        }
    }
}
