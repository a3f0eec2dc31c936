//! `packwright packs list|show|release|scrap|rework|profile`.

use super::{input_error, print_json, service_error, Context, EXIT_OK};
use crate::domain::{Pack, PackStatus};
use crate::profile::Profile;
use crate::services;
use crate::store::prelude::*;
use anyhow::Context as _;
use clap::Subcommand;

/// The pack named on the command line (code or number); bad input when there is none.
pub(super) fn find(store: &dyn LineStore, key: &str) -> anyhow::Result<Pack> {
    store
        .find_pack(key)?
        .with_context(|| format!("no pack '{key}'"))
        .map_err(input_error)
}

/// The profile a pack was matched with (the text kept with it); bad input when it cannot be
/// loaded. A newer file on disk is said, not used.
pub(super) fn profile_of(store: &dyn LineStore, pack: &Pack) -> anyhow::Result<Profile> {
    if let Some(drift) = services::packs::profile_drift(store, pack)? {
        eprintln!("note: {drift}");
    }
    services::packs::profile_of(store, pack).map_err(input_error)
}

#[derive(Debug, Subcommand)]
pub enum PacksCommand {
    /// List packs
    List {
        #[arg(long)]
        status: Option<PackStatus>,
        #[arg(long)]
        json: bool,
    },
    /// Show a pack's cells in series order (by code or number)
    Show {
        pack: String,
        #[arg(long)]
        json: bool,
    },
    /// Release a matched pack: its cells back to available
    Release {
        pack: String,
        #[arg(long, default_value = "released by the operator")]
        reason: String,
    },
    /// Scrap a pack with the reason: each cell scrapped, or back to stock with --cells-to-stock
    Scrap {
        pack: String,
        #[arg(long)]
        reason: String,
        /// Return the pack's good cells to stock (rejected cells are scrapped)
        #[arg(long)]
        cells_to_stock: bool,
        #[arg(long)]
        json: bool,
    },
    /// Replace a cell of an assembled or held pack (the pack then needs configuration and a
    /// new test), or fill the open slot of a matched pack (without --out)
    Rework {
        pack: String,
        /// The cell taken out (leave out to fill a matched pack's open slot)
        #[arg(long)]
        out: Option<String>,
        /// The replacement cell: available and within the pack's limits
        #[arg(long = "in")]
        into: String,
        #[arg(long, default_value = "cell replaced")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the profile kept with a pack; --adopt-disk uses the file's new version instead
    Profile {
        pack: String,
        /// Replace the kept profile by the file's current text (logged; needs --reason)
        #[arg(long, requires = "reason")]
        adopt_disk: bool,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn run(cmd: PacksCommand, ctx: &Context) -> anyhow::Result<u8> {
    let mut store = ctx.open_existing_store()?;
    match cmd {
        PacksCommand::List { status, json } => {
            let packs = store.list_packs(status)?;
            if json {
                print_json("packs.list", &packs)?;
            } else {
                println!(
                    "{:<26} {:<18} {:<11} {:>5}  created",
                    "pack", "profile", "status", "cells"
                );
                for p in &packs {
                    let cells: usize = p.groups.iter().map(Vec::len).sum();
                    println!(
                        "{:<26} {:<18} {:<11} {:>5}  {}",
                        p.label(),
                        p.profile,
                        p.status,
                        cells,
                        p.created_at
                    );
                }
                println!("{} packs", packs.len());
            }
        }
        PacksCommand::Show { pack, json } => {
            let p = find(&*store, &pack)?;
            let history = store.pack_status_history(p.id)?;
            let open: Vec<_> = store
                .open_board_journal(None)?
                .into_iter()
                .filter(|e| e.pack_id == Some(p.id))
                .collect();
            if json {
                let mut v = serde_json::to_value(&p)?;
                v["status_history"] = serde_json::to_value(&history)?;
                v["open_test_settings"] = serde_json::to_value(&open)?;
                print_json("packs.show", &v)?;
            } else {
                println!(
                    "pack {} ({}, {}), created {}",
                    p.label(),
                    p.profile,
                    p.status,
                    p.created_at
                );
                if let Some(note) = &p.status_note {
                    println!("  {}: {note}", p.status);
                }
                for (s, group) in p.groups.iter().enumerate() {
                    let cells: Vec<&str> = group
                        .iter()
                        .map(|c| if c.is_empty() { "(open)" } else { c.as_str() })
                        .collect();
                    println!("  S{:<3} {}", s + 1, cells.join("  "));
                }
                if !history.is_empty() {
                    println!("status history:");
                    for h in &history {
                        println!("  {}  {}", h.at, h.status);
                    }
                }
                for e in &open {
                    println!(
                        "  its board on {} may still hold a test setting (register 0x{:02X}, since \
                         {}): the next command that opens it restores the profile's value",
                        e.port, e.register, e.opened_at
                    );
                }
            }
        }
        PacksCommand::Release { pack, reason } => {
            let p = find(&*store, &pack)?;
            let cells = services::packs::release(&mut *store, &ctx.actor, &p, &reason)
                .map_err(service_error)?;
            println!(
                "pack {} released: {} cells back to available",
                p.label(),
                cells.len()
            );
        }
        PacksCommand::Scrap {
            pack,
            reason,
            cells_to_stock,
            json,
        } => {
            let p = find(&*store, &pack)?;
            let fates =
                services::packs::scrap(&mut *store, &ctx.actor, &p, &reason, cells_to_stock)
                    .map_err(service_error)?;
            if json {
                print_json("packs.scrap", &fates)?;
            } else {
                println!("pack {} scrapped: {reason}", p.label());
                for f in &fates {
                    println!("  cell {} {}", f.cell, f.status);
                }
            }
        }
        PacksCommand::Rework {
            pack,
            out,
            into,
            reason,
            json,
        } => {
            let p = find(&*store, &pack)?;
            let profile = profile_of(&*store, &p)?;
            let done = services::packs::rework(
                &mut *store,
                &ctx.actor,
                &p,
                &profile,
                out.as_deref(),
                &into,
                &reason,
            )
            .map_err(service_error)?;
            if json {
                print_json("packs.rework", &done)?;
            } else {
                println!(
                    "pack {} reworked: {} {} out, {} in; pack is {}",
                    p.label(),
                    done.slot,
                    done.out.as_deref().unwrap_or("(open slot)"),
                    done.into,
                    done.status
                );
                if let (Some(out), Some(status)) = (&done.out, done.out_status) {
                    println!("cell {out} is {status}");
                }
                if done.status == PackStatus::Assembled {
                    println!("it needs its BMS configured and a new end-of-line test");
                }
            }
        }
        PacksCommand::Profile {
            pack,
            adopt_disk,
            reason,
        } => {
            let p = find(&*store, &pack)?;
            if adopt_disk {
                let reason = reason.unwrap_or_default();
                let r = services::packs::adopt_disk_profile(&mut *store, &ctx.actor, &p, &reason)
                    .map_err(service_error)?;
                println!(
                    "pack {} now uses profile '{}' as in {} (sha256 {})",
                    p.label(),
                    p.profile,
                    r.origin,
                    r.sha256
                );
            } else {
                let kept = store.pack_profile(p.id)?;
                match &kept.record {
                    Some(r) => println!(
                        "pack {} keeps profile '{}' from {} (sha256 {})",
                        p.label(),
                        kept.name,
                        r.origin,
                        r.sha256
                    ),
                    None => println!(
                        "pack {} keeps no profile text (committed before profiles were kept); \
                         '{}' is loaded by name",
                        p.label(),
                        kept.name
                    ),
                }
                if let Some(d) = services::packs::profile_drift(&*store, &p)? {
                    println!("{d}");
                }
            }
        }
    }
    Ok(EXIT_OK)
}
