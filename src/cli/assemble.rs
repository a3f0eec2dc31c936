//! `packwright assemble PACK --scan CELL... [--code CODE]`: headless guided assembly for
//! scripts and tests. Each scanned cell is placed if it is the one the next slot needs; the
//! first refused scan stops with its reason (exit 1). When the last cell is in, the pack is
//! coded and the code printed for its label.

use super::{input_error, print_json, Context, EXIT_OK, EXIT_VERIFY_FAILED};
use crate::assembly::{self, AssemblyError, Progress, Slot};
use crate::domain::PackStatus;
use crate::pack_code;
use crate::store::StoreError;
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// The pack, by code or number (`12` or `#12`)
    pub pack: String,
    /// Cell ids as scanned, in the order they are placed (`--scan a b c` or repeated)
    #[arg(long, num_args = 1..)]
    pub scan: Vec<String>,
    /// A pre-printed label to give the pack instead of the next generated code
    #[arg(long)]
    pub code: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Placed {
    slot: String,
    cell: String,
}

#[derive(Serialize)]
struct Outcome {
    pack_id: i64,
    placed: Vec<Placed>,
    refused: Option<String>,
    progress: Progress,
    code: Option<String>,
}

fn slot_text(s: &Slot) -> String {
    if s.cell_id.is_empty() {
        format!(
            "{} is open: fill it with `packs rework PACK --in CELL`",
            s.label()
        )
    } else {
        format!("{} <- {}", s.label(), s.cell_id)
    }
}

pub fn run(args: AssembleArgs, ctx: &Context) -> anyhow::Result<u8> {
    let mut store = ctx.open_store()?;
    let pack = super::packs::find(&*store, &args.pack)?;
    let profile = super::packs::profile_of(&*store, &pack)?;
    // A wrong label is caught before any cell is placed.
    if let Some(code) = &args.code {
        pack_code::validate(&profile.pack_code, profile.chemistry, code.trim())
            .map_err(input_error)?;
    }

    let mut placed = Vec::new();
    let mut refused = None;
    for cell in &args.scan {
        match assembly::scan(&*store, &ctx.actor, &pack, cell) {
            Ok((slot, progress)) => {
                if !args.json {
                    println!(
                        "{} {} placed ({} of {})",
                        slot.label(),
                        slot.cell_id,
                        progress.placed,
                        progress.total
                    );
                }
                placed.push(Placed {
                    slot: slot.label(),
                    cell: slot.cell_id,
                });
            }
            Err(AssemblyError::Refused(r)) => {
                refused = Some(r.to_string());
                break;
            }
            Err(e @ AssemblyError::NotAssembling { .. }) => return Err(input_error(e)),
            Err(e) => return Err(e.into()),
        }
    }

    let progress = assembly::progress(&*store, &pack)?;
    let code = if refused.is_none() && progress.next.is_none() && pack.status == PackStatus::Matched
    {
        let today = store.clock().today();
        match assembly::complete(
            &mut *store,
            &ctx.actor,
            &pack,
            &profile,
            args.code.as_deref(),
            today,
        ) {
            Ok(code) => Some(code),
            // A label that does not fit the scheme or is already on another pack.
            Err(e @ (AssemblyError::Code(_) | AssemblyError::Store(StoreError::Conflict(_)))) => {
                return Err(input_error(e))
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };

    if args.json {
        print_json(
            "assemble",
            &Outcome {
                pack_id: pack.id,
                placed,
                refused: refused.clone(),
                progress: progress.clone(),
                code: code.clone(),
            },
        )?;
    } else {
        if let Some(r) = &refused {
            eprintln!("REFUSED: {r}");
        }
        match (&code, &progress.next) {
            (Some(code), _) => println!(
                "pack #{} assembled: code {code} (print it on the pack label)",
                pack.id
            ),
            (None, Some(next)) => println!(
                "pack {}: {} of {} cells placed; next {}",
                pack.label(),
                progress.placed,
                progress.total,
                slot_text(next)
            ),
            (None, None) => println!(
                "pack {} is {}: every cell is placed",
                pack.label(),
                pack.status
            ),
        }
    }
    Ok(if refused.is_some() {
        EXIT_VERIFY_FAILED
    } else {
        EXIT_OK
    })
}
