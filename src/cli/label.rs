//! `packwright label print PACK [--printer …] [--zpl] [--json]`, `packwright label history PACK
//! [--json]`: a pack's label, printed and logged, and the log of its prints.

use super::{input_error, print_json, service_error, Context, EXIT_OK};
use crate::label::PrinterTarget;
use crate::services::{self, PackKey};
use crate::text::printable;
use clap::Subcommand;
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Print a coded pack's label (ZPL II); every print and reprint is logged
    Print {
        /// The pack's code or number
        pack: String,
        /// tcp:HOST:PORT (raw, port 9100 when left off), file:PATH, or cmd:COMMAND (the job
        /// on the command's stdin, e.g. "cmd:lp -d zebra -o raw")
        #[arg(long, value_parser = parse_printer, required_unless_present = "zpl")]
        printer: Option<PrinterTarget>,
        /// Write the ZPL job to stdout instead; nothing is printed or logged
        #[arg(long, conflicts_with_all = ["printer", "json"])]
        zpl: bool,
        #[arg(long)]
        json: bool,
    },
    /// Every print of a pack's label: who, where, when, which printer and template, outcome
    History {
        pack: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_printer(s: &str) -> Result<PrinterTarget, String> {
    s.parse()
}

#[derive(Serialize)]
struct History<'a> {
    pack_id: i64,
    pack_code: Option<&'a str>,
    prints: &'a [crate::store::LabelPrint],
}

pub fn run(cmd: LabelCommand, ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        LabelCommand::Print {
            pack,
            printer,
            zpl,
            json,
        } => {
            let key = PackKey::Text(pack);
            if zpl {
                let store = ctx.open_existing_store()?;
                let label = services::labels::render(&*store, &key, &ctx.actor.station)
                    .map_err(service_error)?;
                print!("{}", label.zpl);
                return Ok(EXIT_OK);
            }
            let Some(target) = printer else {
                return Err(input_error(anyhow::anyhow!(
                    "name a printer (--printer tcp:HOST:PORT, file:PATH or cmd:COMMAND) or ask for --zpl"
                )));
            };
            let (label, printed) =
                services::labels::print(&ctx.station(), &key, &target).map_err(service_error)?;
            if json {
                print_json(
                    "label_print",
                    &serde_json::json!({
                        "pack_id": label.pack_id,
                        "pack_code": label.pack_code,
                        "print": printed,
                        "fields": label.fields,
                    }),
                )?;
            } else {
                println!(
                    "{} of pack {} printed on {} (template {}, logged as print {})",
                    if printed.reprint { "reprint" } else { "label" },
                    printable(&label.pack_code),
                    printable(&printed.printer),
                    printable(&printed.template_version),
                    printed.print_id
                );
            }
            Ok(EXIT_OK)
        }
        LabelCommand::History { pack, json } => {
            let store = ctx.open_existing_store()?;
            let found = super::packs::find(&*store, &pack)?;
            let prints = store.label_prints(found.id)?;
            if json {
                print_json(
                    "label_history",
                    &History {
                        pack_id: found.id,
                        pack_code: found.code.as_deref(),
                        prints: &prints,
                    },
                )?;
                return Ok(EXIT_OK);
            }
            if prints.is_empty() {
                println!("pack {}: no label printed yet", printable(&found.label()));
                return Ok(EXIT_OK);
            }
            println!(
                "pack {}: {} label print(s)",
                printable(&found.label()),
                prints.len()
            );
            for p in &prints {
                println!(
                    "  #{:<4} {}  {:<8}{}  {} / {}  {}  template {}{}",
                    p.id,
                    p.started_at,
                    p.outcome.as_str(),
                    if p.reprint { " (reprint)" } else { "" },
                    printable(&p.station),
                    printable(&p.operator),
                    printable(&p.printer),
                    printable(&p.template_version),
                    p.detail
                        .as_deref()
                        .map(|d| format!("\n        {}", printable(d)))
                        .unwrap_or_default()
                );
            }
            Ok(EXIT_OK)
        }
    }
}
