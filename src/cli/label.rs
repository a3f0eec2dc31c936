//! `packwright label print PACK [--printer …] [--zpl] [--json]`, `packwright label verify PACK
//! --scan TEXT [--json]`, `packwright label history PACK [--json]`: a pack's label, printed and
//! logged, scanned back and recorded, and the log of its prints and scans.

use super::{input_error, print_json, service_error, Context, EXIT_OK, EXIT_VERIFY_FAILED};
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
    /// Scan-back: check that the label on the pack is the pack's code (what the scanner sent;
    /// an AIM prefix such as ]C1/]Q1/]d2 and GS1 separators are taken off); recorded either
    /// way, exit 1 when it is not the pack's code
    Verify {
        /// The pack's code or number
        pack: String,
        /// What the scanner read from the label on the pack
        #[arg(long)]
        scan: String,
        #[arg(long)]
        json: bool,
    },
    /// Every print of a pack's label (who, where, when, which printer and template, outcome)
    /// and every scan-back of it
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
    scans: &'a [crate::store::LabelScan],
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
        LabelCommand::Verify { pack, scan, json } => {
            let verified = services::labels::verify(&ctx.station(), &PackKey::Text(pack), &scan)
                .map_err(service_error)?;
            if json {
                print_json(
                    "label_verify",
                    &serde_json::json!({
                        "pack_id": verified.pack_id,
                        "pack_code": verified.pack_code,
                        "matched": verified.matched(),
                        "symbology": verified.symbology_name,
                        "scan": verified.scan,
                        "refusal": verified.refusal(),
                    }),
                )?;
            } else if let Some(refusal) = verified.refusal() {
                eprintln!("{}", printable(&refusal));
            } else {
                println!(
                    "label of pack {} scanned back{} and recorded (scan {})",
                    printable(&verified.pack_code),
                    verified
                        .symbology_name
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default(),
                    verified.scan.id
                );
            }
            Ok(if verified.matched() {
                EXIT_OK
            } else {
                EXIT_VERIFY_FAILED
            })
        }
        LabelCommand::History { pack, json } => {
            let store = ctx.open_existing_store()?;
            let found = super::packs::find(&*store, &pack)?;
            let prints = store.label_prints(found.id)?;
            let scans = store.label_scans(found.id)?;
            if json {
                print_json(
                    "label_history",
                    &History {
                        pack_id: found.id,
                        pack_code: found.code.as_deref(),
                        prints: &prints,
                        scans: &scans,
                    },
                )?;
                return Ok(EXIT_OK);
            }
            print_scans(&found.label(), &scans);
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

/// The scan-backs of a pack's label, oldest first.
fn print_scans(pack: &str, scans: &[crate::store::LabelScan]) {
    if scans.is_empty() {
        println!("pack {}: label not scanned back yet", printable(pack));
        return;
    }
    println!("pack {}: {} label scan(s)", printable(pack), scans.len());
    for s in scans {
        println!(
            "  scan {:<4} {}  {:<7}  {} / {}  read {}",
            s.id,
            s.scanned_at,
            if s.matched { "matched" } else { "WRONG" },
            printable(&s.station),
            printable(&s.operator),
            printable(&crate::label::scan::show(&s.data)),
        );
    }
}
