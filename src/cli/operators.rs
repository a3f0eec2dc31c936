//! `packwright operators setup|add|list|block|unblock|set-role|token|failures`: the operator
//! registry. `setup` creates the first admin of a database (and switches enforcement on);
//! the others that change the registry need an admin (see `login`).

use super::{input_error, print_json, service_error, Context, EXIT_OK};
use crate::operators::Role;
use crate::services::operators::{self as svc, Registration};
use crate::text::printable;
use clap::Subcommand;

/// Where a new operator's PIN comes from in scripted use (the admin's own is PACKWRIGHT_PIN).
pub const NEW_PIN_ENV: &str = "PACKWRIGHT_NEW_PIN";

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// First-run setup: register the first admin (only while the database has no operator).
    /// From then on every command that changes records needs an identified operator.
    Setup {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// The admin's badge code (what the badge reader types)
        #[arg(long)]
        badge: String,
    },
    /// Register an operator (admin). The new operator's PIN: PACKWRIGHT_NEW_PIN, else asked
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// operator, engineer, quality or admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        badge: String,
    },
    /// List the registered operators (never their PINs)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Block an operator (admin): no login, no record in their name
    Block {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Unblock an operator (admin), also lifting a lockout after failed logins
    Unblock {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Change an operator's role (admin)
    SetRole {
        id: String,
        #[arg(value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        reason: String,
    },
    /// Create a station token for an operator at this station (admin), for scripted use
    /// (PACKWRIGHT_TOKEN); shown once
    Token {
        #[arg(long = "for", value_name = "OPERATOR")]
        for_operator: String,
    },
    /// Recent failed logins, newest first
    Failures {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("unknown role '{s}'; roles: operator, engineer, quality, admin"))
}

/// Whether the subcommand changes the registry with an admin's authority (`setup` checks for
/// itself that no operator exists yet).
pub fn changes_records(cmd: &OperatorsCommand) -> bool {
    matches!(
        cmd,
        OperatorsCommand::Add { .. }
            | OperatorsCommand::Block { .. }
            | OperatorsCommand::Unblock { .. }
            | OperatorsCommand::SetRole { .. }
            | OperatorsCommand::Token { .. }
    )
}

/// A new PIN: from `env`, else typed twice at the terminal.
fn new_pin(env: &str, whose: &str) -> anyhow::Result<String> {
    if let Some(pin) = std::env::var(env).ok().filter(|p| !p.is_empty()) {
        return Ok(pin);
    }
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } != 1 {
        return Err(input_error(anyhow::anyhow!(
            "no PIN for {whose}: set {env} or run on a terminal to type it"
        )));
    }
    let a = super::login::read_pin(&format!("new PIN for {whose} (4-12 digits): "))?;
    let b = super::login::read_pin("the same PIN again: ")?;
    if a != b {
        return Err(input_error(anyhow::anyhow!(
            "the two PINs differ; nothing was changed"
        )));
    }
    Ok(a)
}

fn set_active(ctx: &Context, id: &str, active: bool, reason: &str) -> anyhow::Result<()> {
    let mut store = ctx.open_existing_store()?;
    svc::set_active(&mut *store, &ctx.actor, id, active, reason).map_err(service_error)?;
    println!(
        "operator '{}' {}",
        printable(id),
        if active { "unblocked" } else { "blocked" }
    );
    Ok(())
}

pub fn run(cmd: OperatorsCommand, ctx: &Context) -> anyhow::Result<u8> {
    match cmd {
        OperatorsCommand::Setup { id, name, badge } => {
            let pin = new_pin(super::login::PIN_ENV, &id)?;
            let mut store = ctx.open_store()?;
            svc::setup(
                &mut *store,
                &ctx.actor.station,
                &Registration {
                    id: &id,
                    name: &name,
                    role: Role::Admin,
                    badge: &badge,
                    pin: &pin,
                },
            )
            .map_err(service_error)?;
            println!(
                "admin '{}' registered: this database now needs an identified operator \
                 (--operator <id or badge> and a PIN or station token) for every command that \
                 changes records",
                printable(&id)
            );
        }
        OperatorsCommand::Add {
            id,
            name,
            role,
            badge,
        } => {
            let pin = new_pin(NEW_PIN_ENV, &id)?;
            let mut store = ctx.open_existing_store()?;
            svc::add(
                &mut *store,
                &ctx.actor,
                &Registration {
                    id: &id,
                    name: &name,
                    role,
                    badge: &badge,
                    pin: &pin,
                },
            )
            .map_err(service_error)?;
            println!("operator '{}' registered as {role}", printable(&id));
        }
        OperatorsCommand::List { json } => {
            let store = ctx.open_existing_store()?;
            let ops = store.list_operators()?;
            if json {
                print_json("operators.list", &ops)?;
            } else if ops.is_empty() {
                println!(
                    "no operators registered: this database enforces nothing yet \
                     (packwright operators setup creates the first admin)"
                );
            } else {
                println!(
                    "{:<14} {:<9} {:<14} {:<8} name",
                    "id", "role", "badge", "state"
                );
                for o in ops {
                    let state = if !o.active {
                        "blocked".to_string()
                    } else if o.blocked_until.is_some_and(|u| u > store.now_stamp()) {
                        "locked".to_string()
                    } else {
                        "active".to_string()
                    };
                    println!(
                        "{:<14} {:<9} {:<14} {:<8} {}",
                        printable(&o.id),
                        o.role,
                        printable(&o.badge),
                        state,
                        printable(&o.name)
                    );
                }
            }
        }
        OperatorsCommand::Block { id, reason } => set_active(ctx, &id, false, &reason)?,
        OperatorsCommand::Unblock { id, reason } => set_active(ctx, &id, true, &reason)?,
        OperatorsCommand::SetRole { id, role, reason } => {
            let mut store = ctx.open_existing_store()?;
            svc::set_role(&mut *store, &ctx.actor, &id, role, &reason).map_err(service_error)?;
            println!("operator '{}' is now {role}", printable(&id));
        }
        OperatorsCommand::Token {
            for_operator: operator,
        } => {
            let mut store = ctx.open_existing_store()?;
            let token = svc::create_token(&mut *store, &ctx.actor, &operator, &ctx.actor.station)
                .map_err(service_error)?;
            eprintln!(
                "station token for '{}' at station '{}' (shown once; use as PACKWRIGHT_TOKEN):",
                printable(&operator),
                printable(&ctx.actor.station)
            );
            println!("{token}");
        }
        OperatorsCommand::Failures { limit, json } => {
            let store = ctx.open_existing_store()?;
            let rows = store.recent_login_failures(limit)?;
            if json {
                print_json("operators.failures", &rows)?;
            } else {
                for f in rows {
                    println!(
                        "{}  {:<12} {:<14} {}",
                        f.at,
                        printable(&f.station),
                        printable(&f.badge),
                        printable(&f.why)
                    );
                }
            }
        }
    }
    Ok(EXIT_OK)
}
