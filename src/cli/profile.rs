//! `packwright profile list|show|check`.

use super::{print_json, Context, EXIT_BAD_INPUT, EXIT_OK};
use crate::profile::Profile;
use crate::text::printable;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the profiles that can be named with --profile
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one profile (a name or a path to a .toml file)
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Check profile files against the chemistry's hard limits and the BMS's abilities
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// An error's text with control characters from the profile file escaped, line by line (the
/// list of issues keeps its layout).
fn printable_lines(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(|l| printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(cmd: ProfileCommand, _ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        ProfileCommand::List { json } => {
            let profiles = Profile::list();
            if json {
                let rows: Vec<serde_json::Value> = profiles
                    .iter()
                    .map(|(name, p)| match p {
                        Ok(p) => serde_json::json!({
                            "name": name, "chemistry": p.chemistry, "series": p.series,
                            "parallel": p.parallel, "nominal_capacity_mah": p.nominal_capacity_mah,
                            "nominal_voltage_v": p.nominal_voltage_v(), "description": p.description,
                        }),
                        Err(e) => serde_json::json!({ "name": name, "error": e.to_string() }),
                    })
                    .collect();
                print_json("profile.list", &rows)?;
            } else {
                for (name, p) in &profiles {
                    match p {
                        Ok(p) => println!(
                            "{name:<20} {:<4} {:>2}S{}P {:>7.1} V {:>8.1} Ah  {}",
                            p.chemistry,
                            p.series,
                            p.parallel,
                            p.nominal_voltage_v(),
                            p.nominal_capacity_mah * f64::from(p.parallel) / 1000.0,
                            printable(&p.description)
                        ),
                        Err(e) => println!("{name:<20} INVALID: {}", printable_lines(&e)),
                    }
                }
            }
            Ok(EXIT_OK)
        }
        ProfileCommand::Show { name, json } => {
            let p = Profile::load(&name).map_err(super::input_error)?;
            if json {
                print_json("profile.show", &p)?;
            } else {
                print!("{}", toml::to_string_pretty(&p)?);
            }
            Ok(EXIT_OK)
        }
        ProfileCommand::Check { files } => {
            let mut failed = false;
            for file in files {
                match Profile::load_file(&file) {
                    Ok(p) => {
                        println!(
                            "{}: ok ({} {}S{}P, {} steps in the test plan)",
                            file.display(),
                            p.chemistry,
                            p.series,
                            p.parallel,
                            p.eol.steps.len()
                        );
                        // Up front: what the board will and will not be configured with.
                        if let Some(c) = crate::bms::config::coverage(&p) {
                            println!(
                                "  bms {}: {} value(s) written and verified by read-back",
                                c.protocol,
                                c.written.len()
                            );
                            for n in &c.not_configured {
                                println!(
                                    "  not configurable on this board: {}: {}",
                                    n.field, n.reason
                                );
                            }
                            if let Some(w) = c.other_writes {
                                println!("  what is written instead: {w}");
                            }
                        }
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("{}", printable_lines(&e));
                    }
                }
            }
            Ok(if failed { EXIT_BAD_INPUT } else { EXIT_OK })
        }
    }
}
