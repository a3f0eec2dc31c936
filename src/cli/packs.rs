//! `packwright packs list|show`.

use super::{input_error, print_json, Context, EXIT_OK};
use crate::domain::{Pack, PackStatus};
use crate::profile::Profile;
use crate::store::Store;
use anyhow::Context as _;
use clap::Subcommand;

/// The pack named on the command line (code or number); bad input when there is none.
pub(super) fn find(store: &Store, key: &str) -> anyhow::Result<Pack> {
    store
        .find_pack(key)?
        .with_context(|| format!("no pack '{key}'"))
        .map_err(input_error)
}

/// The profile a pack was matched for; bad input when it cannot be loaded.
pub(super) fn profile_of(pack: &Pack) -> anyhow::Result<Profile> {
    Profile::load(&pack.profile)
        .with_context(|| format!("pack {} needs its profile", pack.label()))
        .map_err(input_error)
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
}

pub fn run(cmd: PacksCommand, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_store()?;
    match cmd {
        PacksCommand::List { status, json } => {
            let packs = store.list_packs(status)?;
            if json {
                print_json(&packs)?;
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
            let p = find(&store, &pack)?;
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
                print_json(&v)?;
            } else {
                println!(
                    "pack {} ({}, {}), created {}",
                    p.label(),
                    p.profile,
                    p.status,
                    p.created_at
                );
                for (s, group) in p.groups.iter().enumerate() {
                    println!("  S{:<3} {}", s + 1, group.join("  "));
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
    }
    Ok(EXIT_OK)
}
